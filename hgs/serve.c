/*
 * serve.c - the HGS node's HTTP service (serve.h): the route framework that
 * turns hgs_route arrays into a lib/http server (parsing JSON bodies,
 * enforcing the trust mode, recording every attestation attempt), the core
 * routes (info, nonce), the shared end of an attestation, and the `hgs
 * serve` program: pid file, log, readiness line, SIGTERM/SIGINT, and the
 * heartbeat that keeps the node's row of the cluster registry fresh
 * (hgs/db_cluster.h) and purges used nonces.  Every answer carries the
 * node's name in X-Hgs-Node.
 */
#include "hgs/serve.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hgs/attest_ad.h"
#include "hgs/attest_hostkey.h"
#include "hgs/attest_log.h"
#include "hgs/attest_tpm.h"
#include "hgs/db.h"
#include "hgs/db_cluster.h"
#include "hgs/healthcert.h"
#include "hgs/kps.h"
#include "hgs/nonce.h"
#include "lib/crypto.h"
#include "lib/fileio.h"
#include "lib/json.h"
#include "lib/served.h"
#include "proto/names.h"

/* Every route array the node serves; add a mode's array here. */
static const struct hgs_route *const hgs_route_sets[] = {
	hgs_core_routes,
	hgs_hostkey_routes,
	hgs_tpm_routes,
	hgs_ad_routes,
	hgs_kps_routes,
};
#define N_ROUTE_SETS (sizeof(hgs_route_sets) / sizeof(hgs_route_sets[0]))

/*
 * Worker threads of the HTTP server and the connections they share: a pool
 * rather than a thread per connection (a thread creation per connection
 * was a sixth of an attestation's CPU); handlers are short, never blocking
 * on the network.
 */
#define HGS_HTTP_THREADS 8
#define HGS_HTTP_MAX_CONNECTIONS 256

/*
 * What one client may take, so that a slow or hostile one cannot keep the
 * hosts out: a quarter of the connections per client address (the lab's
 * hosts and benchmarks use at most 32 at once), and 10 s to send a whole
 * request however it trickles (lib/http.h "Slow clients").
 */
#define HGS_HTTP_PER_CLIENT 64
#define HGS_HTTP_REQUEST_TIMEOUT_S 10

/* Largest request body the node accepts (a TCG log travels base64 inside JSON). */
#define HGS_MAX_BODY ((size_t)4 << 20)

/* One route bound to its node: what lib/http passes to the trampoline. */
struct hgs_binding {
	struct hgs_node *node;
	const struct hgs_route *route;
};

struct hgs_server {
	struct hl_http_server *http;
	struct hl_http_route *routes;
	struct hgs_binding *bindings;
};

/* HGS's name for a trust mode, as Get-HgsServer shows it. */
static const char *operation_mode(enum hgs_mode m)
{
	switch (m) {
	case HGS_MODE_TPM:
		return "TrustTpm";
	case HGS_MODE_AD:
		return "TrustActiveDirectory";
	case HGS_MODE_HOSTKEY:
		return "TrustHostKey";
	}
	return "?";
}

/* Set RESP to 500 with the current error (the route failed internally). */
static int reply_internal(struct hl_http_response *resp)
{
	return hl_http_response_error(resp, 500, "%s", hl_error_last());
}

/* Record and answer a malformed attestation request. */
int hgs_attest_reject(struct hgs_request *req, struct hl_http_response *resp, int http_status,
		      const char *fmt, ...)
{
	struct hgs_result res;
	char msg[HGS_REASON_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	hgs_result_fail(&res, HGS_STATUS_UNAUTHORIZED_HOST, 0, "malformed request: %s", msg);
	if (req->route->mode != HGS_ROUTE_ANY_MODE && !req->recorded) {
		hgs_trace_check(req->trace, "Request", HGS_TRACE_FAIL, "the request is well-formed",
				"%s", msg);
		if (hgs_attest_log_record(req->node, req->host, (enum hgs_mode)req->route->mode, &res,
					  http_status, req->http->remote, NULL, req->trace,
					  &req->nonce, NULL) < 0)
			hl_log_warn("%s", hl_error_last());
		req->recorded = 1;
	}
	return hl_http_response_error(resp, http_status, "%s", msg);
}

/* What the "HealthCertificate" step of a trace says. */
#define HEALTHCERT_LABEL "health certificate issued, signed by the attestation signer"

/* Issue the health certificate when Passed, record the attempt, reply with the decision. */
int hgs_attest_finish(struct hgs_request *req, const char *host, const struct hgs_result *res,
		      EVP_PKEY *transport_key, struct hl_http_response *resp)
{
	struct hgs_node *node = req->node;
	enum hgs_mode mode = (enum hgs_mode)req->route->mode;
	struct hgs_result final = *res;
	struct hl_buf der = { 0 };
	json_t *reply = NULL, *subs;
	char when[32], thumb[HL_SHA256_HEX_SIZE];
	time_t not_after = 0;
	long long log_id = 0;
	int r, rc = -1, issued = 0;

	if (final.status == HGS_STATUS_PASSED) {
		if (hgs_healthcert_issue(node, &req->config, host, mode, &final, transport_key,
					 &der, &not_after) < 0 ||
		    hl_cert_thumbprint_der(der.data, der.len, thumb) < 0) {
			hl_log_error("%s", hl_error_last());
			hgs_result_fail(&final, HGS_STATUS_TRANSIENT_ERROR, 0,
					"HGS could not issue the health certificate: %s; retry later",
					hl_error_last());
			hgs_trace_result(req->trace, "HealthCertificate", HEALTHCERT_LABEL, &final,
					 NULL);
			hl_buf_free(&der);
		} else {
			issued = 1;
			hl_labclock_format(not_after, when, sizeof(when));
			hgs_trace_check(req->trace, "HealthCertificate", HGS_TRACE_PASS,
					HEALTHCERT_LABEL, "thumbprint %.*s..., valid until %s, binds "
					"the host's transport key", HGS_TRACE_THUMB_SHOWN, thumb, when);
		}
	}
	/*
	 * committed before the answer, with the nonce's use: an answer's LogId is
	 * always in the log, and a health certificate goes out only once its
	 * nonce is used up; a nonce another request used first makes this a replay
	 */
	r = hgs_attest_log_record(node, host, mode, &final, 200, req->http->remote,
				  issued ? thumb : NULL, req->trace, &req->nonce, &log_id);
	if (r < 0)
		goto out;
	req->recorded = 1;
	if (r == 1) {
		issued = 0;
		hl_buf_free(&der);
	}
	if (!(reply = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I}", "host", host ? host : "",
				"mode", hgs_mode_name(mode), "status",
				hgs_status_name(final.status), "reason", final.reason, "node",
				node->config.name, "Node", node->node_name, "LogId",
				(json_int_t)log_id)) ||
	    !(subs = json_array()) || json_object_set_new(reply, "substatus", subs) < 0) {
		hl_error("out of memory");
		goto out;
	}
	for (int i = 0; i < HGS_SUB_COUNT; i++)
		if (final.substatus & (1u << i))
			json_array_append_new(subs, json_string(hgs_substatus_name(1u << i)));
	if (issued) {
		if (hl_json_set_base64(reply, "health_certificate", der.data, der.len) < 0)
			goto out;
		json_object_set_new(reply, "not_after", json_string(when));
	}
	hgs_kps_caching_fields(node, reply);
	if (hl_http_response_json(resp, 200, reply) < 0)
		goto out;
	rc = 0;
out:
	json_decref(reply);
	hl_buf_free(&der);
	return rc;
}

/* GET /Attestation/v1/info: who this HGS is and how it attests. */
static int route_info(struct hgs_request *req, struct hl_http_response *resp)
{
	struct hgs_node *node = req->node;
	struct hgs_config cfg;
	struct hl_buf pem = { 0 };
	json_t *o = NULL;
	char when[32];
	time_t now;
	int rc = -1;

	if (hgs_db_config_get(node, &cfg) < 0 || hgs_node_now(node, &now) < 0 ||
	    hl_cert_to_pem(node->signer_cert, &pem) < 0)
		return reply_internal(resp);
	hl_labclock_format(now, when, sizeof(when));
	o = json_pack("{s:i, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:i, s:s}", "protocol", 1,
		      "name", cfg.name, "Node", node->node_name, "domain", cfg.domain, "mode",
		      hgs_mode_name(cfg.trust),
		      "operation_mode", operation_mode(cfg.trust), "signer_certificate",
		      (const char *)pem.data, "signer_thumbprint", node->signer_thumbprint,
		      "health_certificate_validity_hours", cfg.healthcert_validity_h,
		      "nonce_lifetime_seconds", HGS_NONCE_LIFETIME_S, "time", when);
	if (!o) {
		hl_error("out of memory");
		goto out;
	}
	rc = hl_http_response_json(resp, 200, o);
out:
	json_decref(o);
	hl_buf_free(&pem);
	return rc < 0 ? reply_internal(resp) : 0;
}

/* POST /Attestation/v1/nonce: a fresh single-use nonce. */
static int route_nonce(struct hgs_request *req, struct hl_http_response *resp)
{
	unsigned char nonce[HGS_NONCE_LEN];
	const char *host = NULL;
	json_t *o = NULL;
	char when[32];
	time_t expires;
	int rc = -1;

	if (hl_json_get_string_opt(req->body, "host", NULL, &host) < 0 ||
	    (host && hl_name_registration("host name", host) < 0))
		return hl_http_response_error(resp, 400, "%s", hl_error_last());
	if (hgs_nonce_issue(req->node, host, nonce, &expires) < 0)
		return reply_internal(resp);
	hl_labclock_format(expires, when, sizeof(when));
	if (!(o = json_pack("{s:s, s:I, s:i}", "expires", when, "expires_unix",
			    (json_int_t)expires, "lifetime_seconds", HGS_NONCE_LIFETIME_S)) ||
	    hl_json_set_base64(o, "nonce", nonce, sizeof(nonce)) < 0) {
		hl_error("out of memory");
		goto out;
	}
	rc = hl_http_response_json(resp, 200, o);
out:
	json_decref(o);
	return rc < 0 ? reply_internal(resp) : 0;
}

const struct hgs_route hgs_core_routes[] = {
	{ "GET", "/Attestation/v1/info", HGS_ROUTE_ANY_MODE, route_info },
	{ "POST", "/Attestation/v1/nonce", HGS_ROUTE_ANY_MODE, route_nonce },
	{ NULL, NULL, 0, NULL },
};

/* Refuse an attestation in MODE while the node trusts hosts in TRUST (recorded). */
static int refuse_mode(struct hgs_request *req, enum hgs_mode trust, struct hl_http_response *resp)
{
	struct hgs_result res;
	enum hgs_mode mode = (enum hgs_mode)req->route->mode;

	hgs_result_fail(&res, HGS_STATUS_UNAUTHORIZED_HOST, 0,
			"this HGS attests hosts in %s mode (%s), so a %s attestation is refused; "
			"configure the host for %s attestation, or change the HGS with "
			"`hgslab hgs set-server --trust %s`",
			hgs_mode_name(trust), operation_mode(trust), hgs_mode_name(mode),
			hgs_mode_name(trust), hgs_mode_name(mode));
	hgs_trace_result(req->trace, "TrustMode", "the HGS attests hosts in this mode", &res, NULL);
	return hgs_attest_finish(req, req->host, &res, NULL, resp);
}

/* lib/http handler for every HGS route: parse, enforce the mode, dispatch, record. */
static int trampoline(const struct hl_http_request *http, struct hl_http_response *resp,
		      void *user)
{
	const struct hgs_binding *b = user;
	struct hgs_request req = { .node = b->node, .route = b->route, .http = http };
	struct hgs_trace trace;
	struct hgs_result res;
	json_t *host;
	int rc;

	hgs_node_request_begin(b->node);
	if (b->route->mode != HGS_ROUTE_ANY_MODE) {
		hgs_trace_init(&trace, HGS_TRACE_ATTESTATION);
		req.trace = &trace;
		hgs_trace_message(req.trace, HGS_TRACE_HOST, "%s %s", http->method, http->path);
	}
	if (strcmp(http->method, "GET") != 0) {
		if (http->body_len == 0) {
			req.body = json_object();
		} else if (hl_json_parse(http->body, http->body_len, 0, &req.body) == 0 &&
			   !json_is_object(req.body)) {
			json_decref(req.body);
			req.body = NULL;
			hl_error("the request body must be a JSON object");
		}
		if (!req.body) {
			rc = hgs_attest_reject(&req, resp, 400, "%s", hl_error_last());
			goto out;
		}
		host = json_object_get(req.body, "host");
		if (json_is_string(host))
			req.host = json_string_value(host);
	}
	if (b->route->mode != HGS_ROUTE_ANY_MODE) {
		/* read once: the trust mode now, and what the health certificate needs */
		if (hgs_db_config_get(b->node, &req.config) < 0) {
			rc = -1;
			goto failed;
		}
		if ((int)req.config.trust != b->route->mode) {
			rc = refuse_mode(&req, req.config.trust, resp);
			goto failed;
		}
	}
	rc = b->route->handler(&req, resp);
failed:
	if (rc < 0 && b->route->mode != HGS_ROUTE_ANY_MODE && !req.recorded) {
		char saved[HL_ERROR_MAX];

		snprintf(saved, sizeof(saved), "%s", hl_error_last());
		hgs_result_fail(&res, HGS_STATUS_TRANSIENT_ERROR, 0, "HGS failed: %s", saved);
		if (hgs_attest_log_record(b->node, req.host, (enum hgs_mode)b->route->mode, &res,
					  500, http->remote, NULL, req.trace, &req.nonce, NULL) < 0)
			hl_log_warn("%s", hl_error_last());
		hl_error("%s", saved);
	}
out:
	json_decref(req.body);
	hgs_node_request_end();
	return rc;
}

/* Bind every route of hgs_route_sets to NODE and start the HTTP server. */
int hgs_server_start(struct hgs_node *node, const char *addr, unsigned short port,
		     struct hgs_server **out)
{
	struct hl_http_server_config cfg = { 0 };
	struct hgs_server *srv = NULL;
	size_t n = 0, i = 0;
	int rc = -1;

	*out = NULL;
	if (!node->signer_key)
		return hl_error("cannot serve the HGS node: its attestation signer is not loaded");
	for (size_t s = 0; s < N_ROUTE_SETS; s++)
		for (const struct hgs_route *r = hgs_route_sets[s]; r->path; r++)
			n++;
	if (!(srv = calloc(1, sizeof(*srv))) || !(srv->routes = calloc(n, sizeof(*srv->routes))) ||
	    !(srv->bindings = calloc(n, sizeof(*srv->bindings)))) {
		hl_error("cannot serve the HGS node: out of memory");
		goto out;
	}
	for (size_t s = 0; s < N_ROUTE_SETS; s++) {
		for (const struct hgs_route *r = hgs_route_sets[s]; r->path; r++, i++) {
			srv->bindings[i] = (struct hgs_binding){ node, r };
			srv->routes[i] = (struct hl_http_route){ r->method, r->path, trampoline,
								 &srv->bindings[i] };
		}
	}
	cfg.address = addr;
	cfg.port = port;
	cfg.routes = srv->routes;
	cfg.n_routes = n;
	cfg.max_body = HGS_MAX_BODY;
	cfg.threads = HGS_HTTP_THREADS;
	cfg.max_connections = HGS_HTTP_MAX_CONNECTIONS;
	cfg.per_client_connections = HGS_HTTP_PER_CLIENT;
	cfg.request_timeout_s = HGS_HTTP_REQUEST_TIMEOUT_S;
	cfg.header_name = HGS_NODE_HEADER;
	cfg.header_value = node->node_name;
	if (hl_http_server_start(&cfg, &srv->http) < 0)
		goto out;
	*out = srv;
	srv = NULL;
	rc = 0;
out:
	hgs_server_stop(srv);
	return rc;
}

/* The port the server listens on. */
unsigned short hgs_server_port(const struct hgs_server *srv)
{
	return hl_http_server_port(srv->http);
}

/* Stop the server and free it. */
void hgs_server_stop(struct hgs_server *srv)
{
	if (!srv)
		return;
	hl_http_server_stop(srv->http);
	free(srv->routes);
	free(srv->bindings);
	free(srv);
}

/* Heartbeats between two purges of the used nonces. */
#define HEARTBEAT_PURGE_EVERY 15

/*
 * The heartbeat of a serving node: a thread that refreshes the node's
 * last_seen every HGS_CLUSTER_HEARTBEAT_S and now and then purges the used
 * nonces, until heartbeat_stop().  Invariant: running is guarded by lock.
 */
struct heartbeat {
	struct hgs_node *node;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;              /* CLOCK_MONOTONIC */
	int running;
	int started;                      /* the thread exists */
};

/* The heartbeat thread: beat, purge now and then, until stopped. */
static void *heartbeat_run(void *arg)
{
	struct heartbeat *hb = arg;
	struct timespec until;
	unsigned beats = 0;
	time_t now;

	pthread_mutex_lock(&hb->lock);
	while (hb->running) {
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_sec += HGS_CLUSTER_HEARTBEAT_S;
		while (hb->running &&
		       pthread_cond_timedwait(&hb->cond, &hb->lock, &until) != ETIMEDOUT)
			;
		if (!hb->running)
			break;
		pthread_mutex_unlock(&hb->lock);
		if (hgs_node_now(hb->node, &now) < 0 || hgs_db_cluster_node_seen(hb->node, now) < 0)
			hl_log_warn("cluster heartbeat: %s", hl_error_last());
		if (++beats % HEARTBEAT_PURGE_EVERY == 0 && hgs_nonce_purge(hb->node) < 0)
			hl_log_warn("cannot purge the used nonces: %s", hl_error_last());
		pthread_mutex_lock(&hb->lock);
	}
	pthread_mutex_unlock(&hb->lock);
	return NULL;
}

/* Record NODE serving on ADDR:PORT in the registry and start its heartbeat. */
static int heartbeat_start(struct heartbeat *hb, struct hgs_node *node, const char *addr,
			   unsigned short port)
{
	pthread_condattr_t ca;
	char address[32];
	time_t now;

	hb->node = node;
	snprintf(address, sizeof(address), "%s:%u", addr, port);
	if (hgs_node_now(node, &now) < 0 ||
	    hgs_db_cluster_node_start(node, address, (long)getpid(), now) < 0)
		return hl_error_wrap("cannot record node '%s' in the cluster's registry",
				     node->node_name);
	pthread_mutex_init(&hb->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&hb->cond, &ca);
	pthread_condattr_destroy(&ca);
	hb->running = 1;
	if (pthread_create(&hb->thread, NULL, heartbeat_run, hb) != 0) {
		pthread_cond_destroy(&hb->cond);
		pthread_mutex_destroy(&hb->lock);
		return hl_error("cannot start the cluster heartbeat: no thread");
	}
	hb->started = 1;
	return 0;
}

/* Stop the heartbeat (when started) and mark the node stopped in the registry. */
static void heartbeat_stop(struct heartbeat *hb)
{
	if (!hb->started)
		return;
	pthread_mutex_lock(&hb->lock);
	hb->running = 0;
	pthread_cond_signal(&hb->cond);
	pthread_mutex_unlock(&hb->lock);
	pthread_join(hb->thread, NULL);
	pthread_cond_destroy(&hb->cond);
	pthread_mutex_destroy(&hb->lock);
	hb->started = 0;
	if (hgs_db_cluster_node_stop(hb->node) < 0)
		hl_log_warn("cannot mark node '%s' stopped in the cluster's registry: %s",
			    hb->node->node_name, hl_error_last());
}

/* `hgslab hgs serve`: serve until SIGTERM or SIGINT (the run is lib/served.h's). */
int hgs_serve(const char *dir, const char *listen, enum hl_log_level level)
{
	struct hl_served_run run = { 0 };
	struct heartbeat hb = { 0 };
	struct hgs_node *node = NULL;
	struct hgs_server *srv = NULL;
	char addr[16];
	unsigned short port;
	int rc = -1;

	if (hgs_node_open(dir, HGS_NODE_OPEN_KEYS, &node) < 0)
		return -1;
	if (listen) {
		if (hl_served_parse_listen(listen, addr, &port) < 0)
			goto out;
	} else {
		snprintf(addr, sizeof(addr), "%s", node->config.listen_addr);
		port = node->config.listen_port;
	}
	if (hl_served_log_open("hgs", node->dir, HGS_LOG_FILE, level) < 0)
		goto out;

	/*
	 * A shell starts background jobs with SIGINT ignored, and an ignored
	 * signal never reaches sigwait: reset both before blocking them.
	 */
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	if (hl_served_block_signals(&run) < 0 || hgs_server_start(node, addr, port, &srv) < 0 ||
	    hl_served_refuse_other(node->dir, HGS_PID_FILE, "HGS node") < 0 ||
	    hl_served_write_pid(&run, node->dir, HGS_PID_FILE) < 0 ||
	    heartbeat_start(&hb, node, addr, hgs_server_port(srv)) < 0)
		goto out;
	hl_log_info("serving %s (node %s, %s mode) on http://%s:%u from '%s'", node->config.name,
		    node->node_name, hgs_mode_name(node->config.trust), addr, hgs_server_port(srv),
		    node->dir);
	if (hl_served_ready("hgs: serving %s on http://%s:%u\n", node->config.name, addr,
			    hgs_server_port(srv)) < 0)
		goto out;
	hl_served_wait(&run);
	rc = 0;
out:
	hgs_server_stop(srv);
	heartbeat_stop(&hb);
	hl_served_finish(&run, rc);
	hgs_node_close(node);
	return rc;
}
