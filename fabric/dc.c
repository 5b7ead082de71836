/*
 * dc.c - the fabric's domain controller (dc.h): issuing membership tickets
 * (the directory says what a computer's ticket holds, fabric/directory.c;
 * proto/ad_ticket.c writes it signed with the DC key), the DC's nonces
 * (a lib/nonce table on the DC clock), its HTTP routes and `fabric serve`
 * (the run is lib/served.h's, as for `hgs serve`).
 */
#include "fabric/dc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/crypto.h"
#include "lib/http.h"
#include "lib/json.h"
#include "lib/labclock.h"
#include "lib/nonce.h"
#include "lib/served.h"
#include "proto/names.h"

/* Largest request body the DC accepts. */
#define DC_MAX_BODY ((size_t)64 << 10)

/* ---- tickets ---- */

/* Add the ticket id and times to T (what the directory says) at the DC clock and sign it. */
static int ticket_sign(struct fabric *f, struct ad_ticket *t, char **jws, struct ad_ticket **info)
{
	unsigned char rnd[16];
	char *result = NULL;
	time_t now;

	if (fabric_now(f, &now) < 0 || hl_crypto_random(rnd, sizeof(rnd)) < 0 ||
	    hl_crypto_hex_encode(rnd, sizeof(rnd), t->id, sizeof(t->id)) < 0)
		return -1;
	t->issued = now;
	t->not_before = now;
	t->expires = now + f->ticket_lifetime_s;
	if (ad_ticket_encode(t, f->dc_key, f->dc_cert, &result) < 0)
		return -1;
	if (info && ad_ticket_decode(result, strlen(result), info) < 0) {
		free(result);
		return -1;
	}
	*jws = result;
	return 0;
}

/* Issue a signed ticket for COMPUTER at the DC clock. */
int fabric_ticket_issue(struct fabric *f, const char *computer, char **jws,
			struct ad_ticket **info)
{
	struct ad_ticket *t = NULL;
	int rc, r;

	*jws = NULL;
	if (info)
		*info = NULL;
	if (!f->dc_key)
		return hl_error("cannot issue tickets: the DC signing key is not loaded");
	if (hl_name_computer("computer name", computer) < 0)
		return -1;
	r = fabric_computer_ticket(f, computer, &t);
	if (r < 0)
		return -1;
	if (r == 0)
		return hl_error("there is no computer account '%s' in %s", computer, f->domain);
	rc = ticket_sign(f, t, jws, info);
	ad_ticket_free(t);
	return rc;
}

/* ---- the domain controller ---- */

struct fabric_dc {
	struct fabric *f;
	struct hl_http_server *http;
	struct hl_nonce_table *nonces;
};

/* Issue a fresh DC nonce into N, valid until *EXPIRES (DC clock). */
static int nonce_issue(struct fabric_dc *dc, unsigned char n[HL_NONCE_LEN], time_t *expires)
{
	time_t now;

	if (fabric_now(dc->f, &now) < 0)
		return -1;
	return hl_nonce_issue(dc->nonces, now, n, expires);
}

/* Consume nonce N (LEN bytes): 0 when it was fresh, -1 with the reason otherwise. */
static int nonce_consume(struct fabric_dc *dc, const unsigned char *n, size_t len)
{
	time_t now;

	if (len != HL_NONCE_LEN)
		return hl_error("the DC nonce must be %d bytes, got %zu", HL_NONCE_LEN, len);
	if (fabric_now(dc->f, &now) < 0)
		return -1;
	switch (hl_nonce_consume(dc->nonces, n, now, NULL)) {
	case HL_NONCE_FRESH:
		return 0;
	case HL_NONCE_USED:
		return hl_error("KRB_AP_ERR_REPEAT: the DC nonce was already used (a replay)");
	case HL_NONCE_EXPIRED:
		return hl_error("KRB_AP_ERR_SKEW: the DC nonce expired; get a fresh one");
	case HL_NONCE_UNKNOWN:
		break;
	}
	return hl_error("KDC_ERR_PREAUTH_FAILED: the DC nonce is unknown to this DC (expired, from "
			"another DC, or issued before a restart); get a fresh one from "
			"/Fabric/v1/nonce");
}

/* Reply with JSON object O (stolen) and status 200; -1 when out of memory. */
static int reply_json(struct hl_http_response *resp, json_t *o)
{
	int rc;

	if (!o)
		return hl_error("out of memory");
	rc = hl_http_response_json(resp, 200, o);
	json_decref(o);
	return rc;
}

/* GET /Fabric/v1/info: the domain and its DC certificate. */
static int route_info(const struct hl_http_request *req, struct hl_http_response *resp, void *user)
{
	struct fabric_dc *dc = user;
	struct fabric *f = dc->f;
	char fqdn[AD_FQDN_MAX], when[32];
	struct hl_buf pem = { 0 };
	time_t now;
	int rc;

	(void)req;
	if (fabric_now(f, &now) < 0 || hl_cert_to_pem(f->dc_cert, &pem) < 0)
		return -1;
	hl_labclock_format(now, when, sizeof(when));
	snprintf(fqdn, sizeof(fqdn), "%s.%s", f->dc_name, f->domain);
	rc = reply_json(resp, json_pack("{s:i, s:s, s:s, s:s, s:s, s:s, s:i, s:i, s:i, s:s}",
					"protocol", 1, "domain", f->domain, "domain_sid",
					f->domain_sid, "domain_controller", fqdn, "dc_certificate",
					(const char *)pem.data, "dc_thumbprint", f->dc_thumbprint,
					"ticket_lifetime_seconds", f->ticket_lifetime_s,
					"nonce_lifetime_seconds", FABRIC_NONCE_LIFETIME_S,
					"clock_skew_seconds", AD_CLOCK_SKEW_S, "time", when));
	hl_buf_free(&pem);
	return rc;
}

/* GET or POST /Fabric/v1/nonce: a fresh single-use DC nonce. */
static int route_nonce(const struct hl_http_request *req, struct hl_http_response *resp, void *user)
{
	struct fabric_dc *dc = user;
	unsigned char n[HL_NONCE_LEN];
	char when[32];
	time_t expires;
	json_t *o;

	(void)req;
	if (nonce_issue(dc, n, &expires) < 0)
		return -1;
	hl_labclock_format(expires, when, sizeof(when));
	o = json_pack("{s:s, s:I, s:i}", "expires", when, "expires_unix", (json_int_t)expires,
		      "lifetime_seconds", FABRIC_NONCE_LIFETIME_S);
	if (o && hl_json_set_base64(o, "nonce", n, sizeof(n)) < 0) {
		json_decref(o);
		return -1;
	}
	return reply_json(resp, o);
}

/* The ticket reply for JWS describing T. */
static json_t *ticket_reply(const char *jws, const struct ad_ticket *t)
{
	char issued[32], expires[32];
	json_t *o, *groups;

	hl_labclock_format(t->issued, issued, sizeof(issued));
	hl_labclock_format(t->expires, expires, sizeof(expires));
	o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I}", "ticket", jws, "domain", t->domain,
		      "computer", t->computer, "computer_sid", t->computer_sid, "dc", t->dc,
		      "issued", issued, "expires", expires, "expires_unix", (json_int_t)t->expires);
	if (!o || !(groups = json_array()) || json_object_set_new(o, "groups", groups) < 0) {
		json_decref(o);
		return NULL;
	}
	for (size_t i = 0; i < t->n_groups; i++)
		json_array_append_new(groups, json_pack("{s:s, s:s}", "name", t->groups[i].name,
							"sid", t->groups[i].sid));
	return o;
}

/* POST /Fabric/v1/ticket: a membership ticket for a computer proving its machine key. */
static int route_ticket(const struct hl_http_request *req, struct hl_http_response *resp,
			void *user)
{
	struct fabric_dc *dc = user;
	struct fabric *f = dc->f;
	unsigned char *nonce = NULL, *sig = NULL;
	size_t nonce_len = 0, sig_len = 0;
	struct ad_ticket *account = NULL, *t = NULL;
	struct hl_buf msg = { 0 };
	const char *computer;
	json_t *body = NULL;
	char *jws = NULL;
	int rc = -1, r;

	if (hl_json_parse(req->body, req->body_len, DC_MAX_BODY, &body) < 0 ||
	    hl_json_get_string(body, "computer", &computer) < 0 ||
	    hl_name_computer("computer name", computer) < 0 ||
	    hl_json_get_base64(body, "nonce", &nonce, &nonce_len) < 0 ||
	    hl_json_get_base64(body, "signature", &sig, &sig_len) < 0) {
		hl_log_warn("ticket request from %s refused: %s", req->remote, hl_error_last());
		rc = hl_http_response_error(resp, 400, "%s", hl_error_last());
		goto out;
	}
	if (nonce_consume(dc, nonce, nonce_len) < 0) {
		hl_log_warn("ticket request for '%s' from %s refused: %s", computer, req->remote,
			    hl_error_last());
		rc = hl_http_response_error(resp, 401, "%s", hl_error_last());
		goto out;
	}
	r = fabric_computer_ticket(f, computer, &account);
	if (r < 0)
		goto out;
	if (r == 0) {
		hl_log_warn("ticket request for unknown computer '%s' from %s refused", computer,
			    req->remote);
		rc = hl_http_response_error(resp, 403, "KDC_ERR_C_PRINCIPAL_UNKNOWN: there is no "
					    "computer account '%s' in %s", computer, f->domain);
		goto out;
	}
	if (ad_ticket_request_message(computer, nonce, nonce_len, &msg) < 0)
		goto out;
	if (hl_crypto_verify(account->machine_key, HL_SIG_DEFAULT, msg.data, msg.len, sig,
			     sig_len) < 0) {
		hl_log_warn("ticket request for '%s' from %s refused: bad signature",
			    account->computer, req->remote);
		rc = hl_http_response_error(resp, 403, "KDC_ERR_PREAUTH_FAILED: the signature does "
					    "not verify with the machine key of computer account "
					    "'%s': the requester does not hold that key",
					    account->computer);
		goto out;
	}
	if (ticket_sign(f, account, &jws, &t) < 0)
		goto out;
	hl_log_info("ticket %s issued to %s (%s) from %s, %zu groups, valid %d s", t->id,
		    t->computer, t->computer_sid, req->remote, t->n_groups, f->ticket_lifetime_s);
	rc = reply_json(resp, ticket_reply(jws, t));
out:
	if (rc < 0)
		hl_log_error("ticket request from %s failed: %s", req->remote, hl_error_last());
	json_decref(body);
	free(nonce);
	free(sig);
	free(jws);
	hl_buf_free(&msg);
	ad_ticket_free(account);
	ad_ticket_free(t);
	return rc;
}

/* Start the DC's HTTP service for F. */
int fabric_dc_start(struct fabric *f, const char *addr, unsigned short port, struct fabric_dc **out)
{
	struct hl_http_server_config cfg = { 0 };
	struct fabric_dc *dc;
	struct hl_http_route routes[4];

	*out = NULL;
	if (!f->dc_key)
		return hl_error("cannot serve the DC: its signing key is not loaded");
	if (!(dc = calloc(1, sizeof(*dc))))
		return hl_error("out of memory");
	dc->f = f;
	if (hl_nonce_table_new(FABRIC_NONCE_TABLE_SIZE, FABRIC_NONCE_LIFETIME_S, &dc->nonces) < 0) {
		free(dc);
		return -1;
	}
	routes[0] = (struct hl_http_route){ "GET", "/Fabric/v1/info", route_info, dc };
	routes[1] = (struct hl_http_route){ "GET", "/Fabric/v1/nonce", route_nonce, dc };
	routes[2] = (struct hl_http_route){ "POST", "/Fabric/v1/nonce", route_nonce, dc };
	routes[3] = (struct hl_http_route){ "POST", "/Fabric/v1/ticket", route_ticket, dc };
	cfg.address = addr;
	cfg.port = port;
	cfg.routes = routes;
	cfg.n_routes = sizeof(routes) / sizeof(routes[0]);
	cfg.max_body = DC_MAX_BODY;
	if (hl_http_server_start(&cfg, &dc->http) < 0) {
		fabric_dc_stop(dc);
		return -1;
	}
	*out = dc;
	return 0;
}

/* The port the DC listens on. */
unsigned short fabric_dc_port(const struct fabric_dc *dc)
{
	return hl_http_server_port(dc->http);
}

/* Stop the DC and free it; NULL-safe. */
void fabric_dc_stop(struct fabric_dc *dc)
{
	if (!dc)
		return;
	hl_http_server_stop(dc->http);
	hl_nonce_table_free(dc->nonces);
	free(dc);
}

/* `hgslab fabric serve`: the DC until SIGTERM or SIGINT (the run is lib/served.h's). */
int fabric_serve(const char *dir, const char *listen, enum hl_log_level level)
{
	struct hl_served_run run = { 0 };
	struct fabric *f = NULL;
	struct fabric_dc *dc = NULL;
	char addr[16];
	unsigned short port;
	int rc = -1;

	if (fabric_open(dir, FABRIC_OPEN_KEYS, &f) < 0)
		return -1;
	if (listen) {
		if (hl_served_parse_listen(listen, addr, &port) < 0)
			goto out;
	} else {
		snprintf(addr, sizeof(addr), "%s", f->listen_addr);
		port = f->listen_port;
	}
	if (hl_served_refuse_other(f->dir, FABRIC_PID_FILE, "DC of") < 0 ||
	    hl_served_log_open("dc", f->dir, FABRIC_LOG_FILE, level) < 0 ||
	    hl_served_block_signals(&run) < 0 || fabric_dc_start(f, addr, port, &dc) < 0 ||
	    hl_served_write_pid(&run, f->dir, FABRIC_PID_FILE) < 0)
		goto out;
	hl_log_info("DC %s.%s for %s (%s) serving on http://%s:%u from '%s'", f->dc_name, f->domain,
		    f->domain, f->domain_sid, addr, fabric_dc_port(dc), f->dir);
	if (hl_served_ready("fabric: DC for %s serving on http://%s:%u\n", f->domain, addr,
			    fabric_dc_port(dc)) < 0)
		goto out;
	hl_served_wait(&run);
	rc = 0;
out:
	fabric_dc_stop(dc);
	hl_served_finish(&run, rc);
	fabric_close(f);
	return rc;
}
