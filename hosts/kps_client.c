/*
 * kps_client.c - the guarded host's key release client (kps_client.h):
 * the release request to KPS over lib/http with the fallback URL, the
 * TPM2_RSA_Decrypt of the released TK with the host's transport key
 * (hosts/tpm_host), the pipe that hands the TK on, and hosts_kps_unwrap,
 * which strings them together for a host directory with the agent's
 * pieces (hosts/agent.h: attestation, the host's swtpm).
 */
#include "hosts/kps_client.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "hosts/agent.h"
#include "hosts/hgs_client.h"
#include "lib/http.h"
#include "lib/json.h"
#include "lib/log.h"
#include "proto/attest.h"

/* Largest KPS reply the client reads. */
#define KPS_MAX_REPLY ((size_t)1 << 20)
/* The wrapping KPS must name in a release. */
#define KPS_WRAPPING "RSA-OAEP-SHA256"

/* ---- the request ---- */

void hosts_kps_release_free(struct hosts_kps_release *r)
{
	if (!r)
		return;
	hl_buf_free(&r->wrapped_tk);
	memset(r, 0, sizeof(*r));
}

int hosts_kps_release_url(const char *base, char *buf, size_t size)
{
	static const char kp[] = "/KeyProtection";
	size_t len, kl = sizeof(kp) - 1;
	int n;

	if (!base || !*base)
		return hl_error("no key protection URL is configured; set it with `hgslab host "
				"set-client-configuration --key-protection-url URL`");
	len = strlen(base);
	while (len && base[len - 1] == '/')
		len--;
	/* the route starts with /KeyProtection: drop it from a base that ends with it */
	if (len >= kl && strncmp(base + len - kl, kp, kl) == 0)
		len -= kl;
	n = snprintf(buf, size, "%.*s%s", (int)len, base, HOSTS_KPS_RELEASE_ROUTE);
	if (n < 0 || (size_t)n >= size)
		return hl_error("the key protection URL '%s' is too long", base);
	return 0;
}

/* Copy optional string member NAME of O into BUF ("" when absent or null). */
static void copy_opt(const json_t *o, const char *name, char *buf, size_t size)
{
	const char *s = json_string_value(json_object_get(o, name));

	snprintf(buf, size, "%s", s ? s : "");
}

/*
 * Read KPS's reply REPLY from URL into OUT: 0 when it is a decision, -1
 * (error set) when it is not one (the URL failed).
 */
static int read_reply(const char *url, const struct hl_http_reply *reply,
		      struct hosts_kps_release *out)
{
	json_t *v = NULL;
	unsigned char *wrapped = NULL;
	const char *wrapping;
	size_t len = 0;
	int released = 0, rc = -1;

	if (reply->status != 200 && reply->status != 400 && reply->status != 403) {
		if (hl_http_reply_check(url, reply) == 0)
			hl_error("'%s' answered %ld, which is not a key release decision", url,
				 reply->status);
		return -1;
	}
	if (hl_json_parse(reply->body, reply->body_len, KPS_MAX_REPLY, &v) < 0 ||
	    !json_is_object(v)) {
		if (v)
			hl_error("expected a JSON object");
		hl_error_wrap("'%s' answered with something that is not the KPS protocol", url);
		goto out;
	}
	out->http_status = reply->status;
	copy_opt(v, "key_protector", out->key_protector, sizeof(out->key_protector));
	copy_opt(v, "owner", out->owner, sizeof(out->owner));
	copy_opt(v, "host", out->host, sizeof(out->host));
	if (json_is_integer(json_object_get(v, "LogId")))
		out->log_id = (long long)json_integer_value(json_object_get(v, "LogId"));
	if (reply->status != 200) {
		/* a refusal is a decision only when KPS gave its reason code */
		if (!json_is_string(json_object_get(v, "reason"))) {
			hl_http_reply_check(url, reply);
			goto out;
		}
		copy_opt(v, "reason", out->reason, sizeof(out->reason));
		copy_opt(v, "error", out->message, sizeof(out->message));
		rc = 0;
		goto out;
	}
	if (hl_json_get_bool(v, "released", &released) < 0 || !released ||
	    hl_json_get_string(v, "wrapping", &wrapping) < 0 ||
	    hl_json_get_base64(v, "wrapped_tk", &wrapped, &len) < 0 || len == 0) {
		if (!released && !json_object_get(v, "wrapped_tk"))
			hl_error("the reply does not say 'released'");
		hl_error_wrap("'%s' answered 200 with something that is not a key release", url);
		goto out;
	}
	if (strcmp(wrapping, KPS_WRAPPING) != 0) {
		hl_error("'%s' wrapped the TK with '%s'; this host opens only %s", url, wrapping,
			 KPS_WRAPPING);
		goto out;
	}
	out->released = 1;
	snprintf(out->reason, sizeof(out->reason), "Released");
	copy_opt(v, "node", out->node, sizeof(out->node));
	copy_opt(v, "transport_key", out->transport_key, sizeof(out->transport_key));
	copy_opt(v, "health_certificate", out->health_certificate,
		 sizeof(out->health_certificate));
	copy_opt(v, "encryption_certificate", out->encryption_certificate,
		 sizeof(out->encryption_certificate));
	if (hosts_keycache_policy_read(v, &out->caching) < 0) {
		hl_error_wrap("'%s' answered with a key release that cannot be read", url);
		goto out;
	}
	out->wrapped_tk.data = wrapped;
	out->wrapped_tk.len = len;
	wrapped = NULL;
	rc = 0;
out:
	free(wrapped);
	json_decref(v);
	return rc;
}

/* POST BODY to the release route under BASE: 0 with a decision in OUT, -1 when BASE failed. */
static int post_one(const struct hosts_kps_conn *c, const char *base, const char *body,
		    struct hosts_kps_release *out)
{
	struct hl_http_reply reply = { 0 };
	struct hl_http_opts o = { 0 };
	char url[1024];
	int rc = -1;

	hosts_kps_release_free(out);
	if (hosts_kps_release_url(base, url, sizeof(url)) < 0)
		return -1;
	o.timeout_ms = c->timeout_ms;
	o.max_reply = KPS_MAX_REPLY;
	o.resolve = c->resolve;
	o.header = HGS_NODE_HEADER;
	if (hl_http_post(url, "application/json", body, strlen(body), &o, &reply) < 0)
		goto out;
	if (read_reply(url, &reply, out) < 0) {
		hosts_kps_release_free(out);
		goto out;
	}
	snprintf(out->url, sizeof(out->url), "%s", base);
	snprintf(out->answered_by, sizeof(out->answered_by), "%s", reply.header);
	snprintf(out->address, sizeof(out->address), "%s", reply.address);
	rc = 0;
out:
	hl_http_reply_release(&reply);
	return rc;
}

int hosts_kps_request(const struct hosts_kps_conn *c, const void *kp, size_t kp_len,
		      const void *health_cert, size_t hc_len, struct hosts_kps_release *out)
{
	char first[HL_ERROR_MAX], *text = NULL;
	json_t *body = NULL;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (!kp || kp_len == 0)
		return hl_error("no key protector to send");
	if (!(body = json_object()) || hl_json_set_base64(body, "key_protector", kp, kp_len) < 0 ||
	    (health_cert && hc_len &&
	     hl_json_set_base64(body, "health_certificate", health_cert, hc_len) < 0) ||
	    hl_json_dump(body, &text) < 0) {
		if (!body)
			hl_error("out of memory");
		goto out;
	}
	/* a node that dies while it answers gives no decision: once more, another node answers */
	if (post_one(c, c->url, text, out) == 0) {
		rc = 0;
		goto out;
	}
	hl_log_warn("key protection server '%s' gave no decision (%s); trying again", c->url,
		    hl_error_last());
	if (post_one(c, c->url, text, out) == 0) {
		rc = 0;
		goto out;
	}
	if (!c->fallback_url || !*c->fallback_url)
		goto out;
	snprintf(first, sizeof(first), "%s", hl_error_last());
	hl_log_warn("key protection server '%s' failed (%s); trying the fallback '%s'", c->url,
		    first, c->fallback_url);
	if (post_one(c, c->fallback_url, text, out) < 0) {
		hl_error_wrap("primary '%s': %s; fallback", c->url, first);
		goto out;
	}
	out->fallback_used = 1;
	rc = 0;
out:
	json_decref(body);
	free(text);
	return rc;
}

/* ---- opening the TK, handing it on ---- */

int hosts_kps_open(struct hl_tpm *t, const struct hosts_tpm_key *key,
		   const struct hosts_kps_release *r, struct hl_buf *tk)
{
	struct hl_buf out = { 0 };

	tk->data = NULL;
	tk->len = 0;
	if (!r->released || !r->wrapped_tk.len)
		return hl_error("KPS released no TK to open");
	if (hosts_tpm_rsa_decrypt(t, key, HOSTS_TK_OAEP_LABEL, sizeof(HOSTS_TK_OAEP_LABEL),
				  r->wrapped_tk.data, r->wrapped_tk.len, &out) < 0)
		return hl_error_wrap("the released TK does not open with this transport key");
	if (out.len != HL_KP_TK_LEN) {
		hl_buf_free(&out);
		return hl_error("the released TK opened to %zu bytes, not a %d-byte TK; KPS sent "
				"something else", out.len, HL_KP_TK_LEN);
	}
	*tk = out;
	return 0;
}

int hosts_kps_tk_pipe(const struct hl_buf *tk, int *read_fd)
{
	size_t done = 0;
	int fds[2];

	*read_fd = -1;
	if (!tk || !tk->data || !tk->len)
		return hl_error("no TK to hand on");
	if (tk->len > PIPE_BUF)
		return hl_error("a %zu-byte secret does not fit a pipe in one write", tk->len);
	if (pipe2(fds, O_CLOEXEC) < 0)
		return hl_error_errno("cannot make a pipe for the TK");
	while (done < tk->len) {
		ssize_t n = write(fds[1], tk->data + done, tk->len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			hl_error_errno("cannot write the TK into its pipe");
			close(fds[0]);
			close(fds[1]);
			return -1;
		}
		done += (size_t)n;
	}
	close(fds[1]);
	*read_fd = fds[0];
	return 0;
}

/* ---- a host's key release ---- */

void hosts_kps_unwrap_free(struct hosts_kps_unwrap *u)
{
	if (!u)
		return;
	hosts_kps_release_free(&u->release);
	memset(u, 0, sizeof(*u));
}

/*
 * 1 when S holds a health certificate still valid at host time NOW: one
 * from a Passed decision, kept through TransientErrors since (HGS slow or
 * down decides nothing) until its notAfter; any refusal has dropped it.
 */
static int healthy(const struct host_state *s, time_t now)
{
	return s->health_cert.len && s->expires > now;
}

/*
 * Attest H now into *ST: through the running agent AI when there is one,
 * otherwise with our own swtpm, kept open in *T for the TK's decryption.
 */
static int attest_now(struct host *h, int running, const struct host_agent_info *ai,
		      struct host_tpm **t, struct host_state *st)
{
	struct host_attester *a = NULL;
	int rc = -1;

	host_state_release(st);
	if (running)
		return host_agent_request(h, ai->pid, HOSTS_KPS_AGENT_WAIT_MS, st);
	if (host_tpm_open(h, 1, 0, t) < 0 || host_attester_new(h, *t, &a) < 0 ||
	    host_state_load(h, st) < 0 || host_attempt(a, "key-release", st) < 0)
		goto out;
	rc = 0;
out:
	host_attester_free(a);
	return rc;
}

/* The fingerprint of H's transport key K (SubjectPublicKeyInfo SHA-256) into OUT. */
static int key_fingerprint(const struct hosts_tpm_key *k, char out[HL_SHA256_HEX_SIZE])
{
	struct hl_buf pem = { 0 };
	EVP_PKEY *pub = NULL;
	int rc = -1;

	if (hosts_tpm_key_pem(k, &pem) == 0 && hl_key_pub_from_pem(pem.data, pem.len, &pub) == 0 &&
	    hl_key_fingerprint(pub, out) == 0)
		rc = 0;
	hl_key_free(pub);
	hl_buf_free(&pem);
	return rc;
}

/* Open the released TK in OUT with H's TPM (T, or the agent's / our own swtpm). */
static int open_released(struct host *h, struct host_tpm **t, struct hosts_kps_unwrap *out,
			 struct hl_buf *tk)
{
	struct hosts_tpm_key key = { 0 };
	struct hl_tpm *tpm;
	char *path = NULL;
	int rc = -1;

	if (host_path(h, HOST_TK_FILE, &path) < 0 || hosts_tpm_key_load(path, &key) < 0 ||
	    key_fingerprint(&key, out->own_transport_key) < 0)
		goto out;
	if (!*t && host_tpm_open(h, 0, 1, t) < 0)
		goto out;
	if (!(tpm = host_tpm_connect(*t)))
		goto out;
	if (hosts_kps_open(tpm, &key, &out->release, tk) < 0) {
		/* a TPM that answers but cannot open it: the TK was wrapped to another key */
		out->outcome = HOSTS_KPS_NOT_OPENED;
		if (strcasecmp(out->release.transport_key, out->own_transport_key) != 0)
			snprintf(out->reason, sizeof(out->reason), "KPS wrapped the TK to transport "
				 "key %s, the key of the health certificate presented (issued to "
				 "'%s'); this host's transport key is %s, so its TPM cannot open it: "
				 "%s", out->release.transport_key, out->release.host,
				 out->own_transport_key, hl_error_last());
		else
			snprintf(out->reason, sizeof(out->reason), "%s", hl_error_last());
		hl_error_clear();
	} else {
		if (hl_kp_tk_fingerprint(tk->data, tk->len, out->tk_fingerprint) < 0) {
			hl_buf_free(tk);
			goto out;
		}
		out->outcome = HOSTS_KPS_OPENED;
	}
	rc = 0;
out:
	host_tpm_disconnect(*t);
	hosts_tpm_key_release(&key);
	free(path);
	return rc;
}

int hosts_kps_unwrap(struct host *h, const void *kp, size_t kp_len, struct hosts_kps_unwrap *out,
		     struct hl_buf *tk)
{
	struct host_client_config cfg = { 0 };
	struct host_state st = { 0 };
	struct hosts_kps_conn conn = { 0 };
	struct host_agent_info ai;
	struct host_tpm *t = NULL;
	time_t now = time(NULL);
	int running, rc = -1;

	memset(out, 0, sizeof(*out));
	tk->data = NULL;
	tk->len = 0;
	if (host_client_config_load(h, &cfg) < 0)
		goto out;
	if (!cfg.attestation_url || !cfg.key_protection_url) {
		hl_error("host '%s' is in Local mode (NotConfigured): give it the HGS URLs with "
			 "`hgslab host set-client-configuration`", h->name);
		goto out;
	}
	if ((running = host_agent_find(h, &ai)) < 0 || host_state_load(h, &st) < 0)
		goto out;

	/* 1. a valid health certificate, attesting first when there is none */
	if (!healthy(&st, now)) {
		out->attested = 1;
		if (attest_now(h, running, &ai, &t, &st) < 0) {
			hl_error_wrap("host '%s' has no valid health certificate and cannot attest",
				      h->name);
			goto out;
		}
		now = time(NULL);
	}
	snprintf(out->status, sizeof(out->status), "%s", host_state_status(&st, now));
	snprintf(out->substatus, sizeof(out->substatus), "%s", st.substatus);
	if (!healthy(&st, now)) {
		out->outcome = HOSTS_KPS_NOT_HEALTHY;
		snprintf(out->reason, sizeof(out->reason), "%s", st.reason);
		rc = 0;
		goto out;
	}

	/* 2. KPS, the primary URL then the fallback */
	conn.url = cfg.key_protection_url;
	conn.fallback_url = cfg.fallback_key_protection_url;
	conn.resolve = (const char *const *)cfg.resolve;
	conn.timeout_ms = HOST_HTTP_TIMEOUT_MS;
	if (hosts_kps_request(&conn, kp, kp_len, st.health_cert.data, st.health_cert.len,
			      &out->release) < 0) {
		/* no decision: a TransientError, as for an attestation without one */
		out->outcome = HOSTS_KPS_UNREACHABLE;
		snprintf(out->reason, sizeof(out->reason), "cannot reach the key protection "
			 "service: %s", hl_error_last());
		if (host_key_release_save(h, conn.fallback_url ? conn.fallback_url : conn.url, 0,
					  NULL, NULL, "Unreachable") < 0)
			hl_log_warn("%s", hl_error_last());
		hl_error_clear();
		rc = 0;
		goto out;
	}
	if (host_key_release_save(h, out->release.url, out->release.fallback_used,
				  out->release.answered_by, out->release.address,
				  out->release.reason) < 0 ||
	    host_log_id_add(h, "key-release", out->release.log_id, out->release.answered_by,
			    out->release.address) < 0)
		hl_log_warn("cannot record the key release: %s", hl_error_last());
	if (!out->release.released) {
		out->outcome = HOSTS_KPS_REFUSED;
		rc = 0;
		goto out;
	}

	/* 3. this host's TPM opens what KPS wrapped to the certificate's transport key */
	rc = open_released(h, &t, out, tk);
out:
	host_tpm_close(t);
	host_state_release(&st);
	host_client_config_release(&cfg);
	if (rc < 0) {
		hl_buf_free(tk);
		hosts_kps_unwrap_free(out);
	}
	return rc;
}
