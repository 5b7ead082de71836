/*
 * hgs_client.c - the guarded host's HGS attestation client (hgs_client.h):
 * GET info, nonces, TPM-mode credential activation and attestation with the
 * host's TPM (hosts/tpm_host), and host-key attestation.  Requests are JSON
 * built with jansson and sent with lib/http; every reply is parsed with
 * lib/json, and a decision object becomes a struct hosts_hgs_decision.
 */
#include "hosts/hgs_client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "proto/attest.h"
#include "proto/hostkey.h"
#include "lib/crypto.h"
#include "lib/http.h"
#include "lib/json.h"

/* Largest attestation reply the client reads. */
#define CLIENT_MAX_REPLY ((size_t)1 << 20)

/* Build the URL of ROUTE ("/v1/nonce") under C's attestation URL into BUF. */
static int route_url(const struct hosts_hgs_conn *c, const char *route, char *buf, size_t size)
{
	const char *base = c ? c->url : NULL;
	size_t len;
	int n;

	if (!base || !*base)
		return hl_error("no HGS attestation URL is configured; set it with `hgslab host "
				"set-client-configuration --attestation-url URL`");
	len = strlen(base);
	while (len && base[len - 1] == '/')
		len--;
	if (len >= 12 && strncmp(base + len - 12, "/Attestation", 12) == 0)
		n = snprintf(buf, size, "%.*s%s", (int)len, base, route);
	else
		n = snprintf(buf, size, "%.*s/Attestation%s", (int)len, base, route);
	if (n < 0 || (size_t)n >= size)
		return hl_error("the HGS attestation URL '%s' is too long", base);
	return 0;
}

/* Options for lib/http from C. */
static void http_opts(const struct hosts_hgs_conn *c, struct hl_http_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->timeout_ms = c->timeout_ms;
	o->max_reply = CLIENT_MAX_REPLY;
	o->resolve = c->resolve;
	o->header = HGS_NODE_HEADER;
}

/*
 * POST BODY (NULL: {}) to ROUTE, or GET it when BODY is NULL and GET is set;
 * the reply must be 200 with a JSON object, which *OUT gets.
 */
static int call(const struct hosts_hgs_conn *c, const char *route, int get, const json_t *body,
		json_t **out)
{
	struct hl_http_reply reply = { 0 };
	struct hl_http_opts o;
	char url[1024], *text = NULL;
	json_t *v = NULL;
	int rc = -1;

	*out = NULL;
	if (route_url(c, route, url, sizeof(url)) < 0)
		return -1;
	http_opts(c, &o);
	if (get) {
		if (hl_http_get(url, &o, &reply) < 0)
			goto out;
	} else {
		if (body && hl_json_dump(body, &text) < 0)
			goto out;
		if (hl_http_post(url, "application/json", text ? text : "{}",
				 text ? strlen(text) : 2, &o, &reply) < 0)
			goto out;
	}
	if (c->peer) {
		snprintf(c->peer->node, sizeof(c->peer->node), "%s", reply.header);
		snprintf(c->peer->address, sizeof(c->peer->address), "%s", reply.address);
	}
	if (hl_http_reply_check(url, &reply) < 0)
		goto out;
	if (hl_json_parse(reply.body, reply.body_len, CLIENT_MAX_REPLY, &v) < 0 ||
	    !json_is_object(v)) {
		if (v)
			hl_error("expected a JSON object");
		hl_error_wrap("'%s' answered with something that is not the HGS protocol", url);
		goto out;
	}
	*out = v;
	v = NULL;
	rc = 0;
out:
	json_decref(v);
	free(text);
	hl_http_reply_release(&reply);
	return rc;
}

/* Copy string member NAME of O (optional: "" when absent) into BUF. */
static int copy_str(const json_t *o, const char *name, int required, char *buf, size_t size)
{
	const char *s;

	if (required ? hl_json_get_string(o, name, &s) : hl_json_get_string_opt(o, name, "", &s))
		return -1;
	snprintf(buf, size, "%s", s);
	return 0;
}

/* Parse "2026-11-28T17:21:05Z" into *OUT. */
static int parse_time(const char *text, time_t *out)
{
	struct tm tm;
	char *end;

	memset(&tm, 0, sizeof(tm));
	end = strptime(text, "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (!end || *end)
		return hl_error("'%s' is not a time of the form 2026-11-28T17:21:05Z", text);
	*out = timegm(&tm);
	return 0;
}

/* Free a decision's buffers and zero it. */
void hosts_hgs_decision_release(struct hosts_hgs_decision *d)
{
	if (!d)
		return;
	hl_buf_free(&d->health_cert_der);
	free(d->health_cert_pem);
	free(d->json);
	memset(d, 0, sizeof(*d));
}

/* Read decision object O into D (cleared first). */
static int decision_read(const json_t *o, struct hosts_hgs_decision *d)
{
	struct hl_buf pem = { 0 };
	unsigned char *der = NULL;
	size_t der_len = 0, i, off = 0;
	json_int_t log_id = 0;
	json_t *subs, *s;
	X509 *cert = NULL;
	int rc = -1;

	hosts_hgs_decision_release(d);
	if (copy_str(o, "status", 1, d->status, sizeof(d->status)) < 0 ||
	    copy_str(o, "mode", 0, d->mode, sizeof(d->mode)) < 0 ||
	    copy_str(o, "node", 0, d->node, sizeof(d->node)) < 0 ||
	    copy_str(o, "reason", 0, d->reason, sizeof(d->reason)) < 0 ||
	    copy_str(o, "not_after", 0, d->not_after_text, sizeof(d->not_after_text)) < 0 ||
	    hl_json_get_array_opt(o, "substatus", &subs) < 0 ||
	    hl_json_get_int_opt(o, "LogId", 0, &log_id) < 0 ||
	    hl_json_get_base64_opt(o, "health_certificate", &der, &der_len) < 0 ||
	    hosts_keycache_policy_read(o, &d->caching) < 0)
		goto out;
	d->passed = strcmp(d->status, "Passed") == 0;
	d->log_id = (long long)log_id;
	json_array_foreach(subs, i, s) {
		if (!json_is_string(s)) {
			hl_error("field 'substatus' must be an array of strings");
			goto out;
		}
		if (d->n_substatus < HOSTS_HGS_SUBSTATUS_MAX)
			snprintf(d->substatus[d->n_substatus++], sizeof(d->substatus[0]), "%s",
				 json_string_value(s));
		if (off < sizeof(d->substatus_text))
			off += (size_t)snprintf(d->substatus_text + off,
						sizeof(d->substatus_text) - off, "%s%s",
						off ? ", " : "", json_string_value(s));
	}
	if (d->passed) {
		if (!der || !d->not_after_text[0]) {
			hl_error("a Passed decision must carry 'health_certificate' and 'not_after'");
			goto out;
		}
		if (hl_cert_from_der(der, der_len, &cert) < 0 || hl_cert_to_pem(cert, &pem) < 0 ||
		    parse_time(d->not_after_text, &d->not_after) < 0) {
			hl_error_wrap("the health certificate in the decision is unusable");
			goto out;
		}
		d->health_cert_der.data = der;
		d->health_cert_der.len = der_len;
		der = NULL;
		d->health_cert_pem = (char *)pem.data;
		pem.data = NULL;
	}
	if (hl_json_dump(o, &d->json) < 0)
		goto out;
	rc = 0;
out:
	if (rc < 0) {
		hl_error_wrap("HGS's attestation decision cannot be read");
		hosts_hgs_decision_release(d);
	}
	free(der);
	hl_buf_free(&pem);
	hl_cert_free(cert);
	return rc;
}

/* Free an info's buffers and zero it. */
void hosts_hgs_info_release(struct hosts_hgs_info *info)
{
	if (!info)
		return;
	free(info->signer_cert_pem);
	memset(info, 0, sizeof(*info));
}

/* GET /Attestation/v1/info. */
int hosts_hgs_get_info(const struct hosts_hgs_conn *c, struct hosts_hgs_info *out)
{
	const char *pem, *when;
	json_int_t proto, hours, life;
	json_t *o = NULL;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (call(c, "/v1/info", 1, NULL, &o) < 0)
		return -1;
	if (hl_json_get_int(o, "protocol", &proto) < 0 ||
	    copy_str(o, "name", 1, out->name, sizeof(out->name)) < 0 ||
	    copy_str(o, "domain", 1, out->domain, sizeof(out->domain)) < 0 ||
	    copy_str(o, "mode", 1, out->mode, sizeof(out->mode)) < 0 ||
	    copy_str(o, "operation_mode", 0, out->operation_mode,
		     sizeof(out->operation_mode)) < 0 ||
	    copy_str(o, "signer_thumbprint", 0, out->signer_thumbprint,
		     sizeof(out->signer_thumbprint)) < 0 ||
	    hl_json_get_string(o, "signer_certificate", &pem) < 0 ||
	    hl_json_get_int_opt(o, "health_certificate_validity_hours", 0, &hours) < 0 ||
	    hl_json_get_int_opt(o, "nonce_lifetime_seconds", 0, &life) < 0 ||
	    hl_json_get_string(o, "time", &when) < 0 || parse_time(when, &out->time) < 0) {
		hl_error_wrap("HGS's info cannot be read");
		goto out;
	}
	out->protocol = (int)proto;
	out->healthcert_validity_h = (int)hours;
	out->nonce_lifetime_s = (int)life;
	if (!(out->signer_cert_pem = strdup(pem))) {
		hl_error("out of memory");
		goto out;
	}
	rc = 0;
out:
	if (rc < 0)
		hosts_hgs_info_release(out);
	json_decref(o);
	return rc;
}

/* POST /Attestation/v1/nonce. */
int hosts_hgs_get_nonce(const struct hosts_hgs_conn *c, const char *host, struct hl_buf *out)
{
	unsigned char *nonce = NULL;
	size_t len = 0;
	json_t *req = NULL, *o = NULL;
	int rc = -1;

	out->data = NULL;
	out->len = 0;
	if (!(req = host ? json_pack("{s:s}", "host", host) : json_object())) {
		hl_error("out of memory");
		goto out;
	}
	if (call(c, "/v1/nonce", 0, req, &o) < 0)
		goto out;
	if (hl_json_get_base64(o, "nonce", &nonce, &len) < 0 || len == 0 || len > 64) {
		if (nonce)
			hl_error("the nonce must be 1 to 64 bytes, not %zu", len);
		hl_error_wrap("HGS's nonce cannot be read");
		goto out;
	}
	out->data = nonce;
	out->len = len;
	nonce = NULL;
	rc = 0;
out:
	free(nonce);
	json_decref(req);
	json_decref(o);
	return rc;
}

/* Set base64 member NAME of O to B; -1 on failure. */
static int set_b64(json_t *o, const char *name, const struct hl_buf *b)
{
	return hl_json_set_base64(o, name, b->data, b->len);
}

/*
 * Answer the activation challenge in reply O with T's TPM: ActivateCredential,
 * then POST /tpm/activate/complete; *RES is the reply (decision or "bound").
 */
static int answer_challenge(const struct hosts_hgs_conn *c, const struct hosts_hgs_tpm *t,
			    const json_t *o, json_t **res)
{
	unsigned char *id_obj = NULL, *enc = NULL;
	size_t id_len = 0, enc_len = 0;
	struct hl_buf secret = { 0 };
	const char *challenge;
	json_t *req = NULL;
	int rc = -1;

	*res = NULL;
	if (hl_json_get_string(o, "challenge", &challenge) < 0 ||
	    hl_json_get_base64(o, "id_object", &id_obj, &id_len) < 0 ||
	    hl_json_get_base64(o, "encrypted_secret", &enc, &enc_len) < 0) {
		hl_error_wrap("HGS's activation challenge cannot be read");
		goto out;
	}
	if (hosts_tpm_activate_credential(t->tpm, t->ak, id_obj, id_len, enc, enc_len,
					  &secret) < 0) {
		hl_error_wrap("the TPM cannot open HGS's activation credential");
		goto out;
	}
	if (!(req = json_pack("{s:s, s:s}", "host", t->host, "challenge", challenge)) ||
	    set_b64(req, "secret", &secret) < 0) {
		hl_error("out of memory");
		goto out;
	}
	rc = call(c, "/v1/tpm/activate/complete", 0, req, res);
out:
	json_decref(req);
	hl_buf_free(&secret);
	free(id_obj);
	free(enc);
	return rc;
}

/*
 * The activation exchange.  *OUT: Passed when bound, else HGS's refusal.
 * *FRESH (may be NULL) is 1 when this call pinned the AK (a challenge was
 * answered), 0 when HGS said it was bound already.
 */
static int activate(const struct hosts_hgs_conn *c, const struct hosts_hgs_tpm *t,
		    struct hosts_hgs_decision *out, int *fresh)
{
	struct hl_buf ek_pem = { 0 };
	json_t *req = NULL, *o = NULL, *done = NULL;
	const char *kind;
	int rc = -1;

	hosts_hgs_decision_release(out);
	if (fresh)
		*fresh = 0;
	if (!t || !t->host || !t->tpm || !t->ek || !t->ak)
		return hl_error("cannot activate: the host name, TPM, EK and AK are all needed");
	if (hosts_ek_pem(t->ek, &ek_pem, NULL) < 0)
		goto out;
	if (!(req = json_pack("{s:s, s:s}", "host", t->host, "ek_public", (char *)ek_pem.data)) ||
	    set_b64(req, "ak", &t->ak->pub) < 0) {
		hl_error("out of memory");
		goto out;
	}
	if (call(c, "/v1/tpm/activate", 0, req, &o) < 0)
		goto out;
	if (json_object_get(o, "status")) {
		rc = decision_read(o, out);
		goto out;
	}
	if (hl_json_get_string(o, "activation", &kind) < 0)
		goto bad;
	if (strcmp(kind, "challenge") == 0) {
		if (answer_challenge(c, t, o, &done) < 0)
			goto out;
		if (json_object_get(done, "status")) {
			rc = decision_read(done, out);
			goto out;
		}
		if (hl_json_get_string(done, "activation", &kind) < 0 ||
		    strcmp(kind, "bound") != 0)
			goto bad;
		if (fresh)
			*fresh = 1;
	} else if (strcmp(kind, "bound") != 0) {
		hl_error("unknown activation state '%s'", kind);
		goto bad;
	}
	out->passed = 1;
	snprintf(out->status, sizeof(out->status), "Passed");
	snprintf(out->mode, sizeof(out->mode), "tpm");
	rc = 0;
	goto out;
bad:
	hl_error_wrap("HGS's activation reply cannot be read");
out:
	json_decref(req);
	json_decref(o);
	json_decref(done);
	hl_buf_free(&ek_pem);
	return rc;
}

/* Credential activation only. */
int hosts_hgs_activate(const struct hosts_hgs_conn *c, const struct hosts_hgs_tpm *t,
		       struct hosts_hgs_decision *out)
{
	memset(out, 0, sizeof(*out));
	return activate(c, t, out, NULL);
}

/*
 * Nonce, quote, certify, POST /tpm/attest; the decision into OUT.  The TCG
 * log goes as its SHA-256 first ("tcglog_sha256": HGS keeps the logs it
 * read), and whole, with the same nonce, when HGS answers "tcglog_wanted".
 */
static int attest_once(const struct hosts_hgs_conn *c, const struct hosts_hgs_tpm *t,
		       struct hosts_hgs_decision *out)
{
	struct hl_buf nonce = { 0 }, cert_attest = { 0 }, cert_sig = { 0 };
	struct hosts_tpm_quote q;
	unsigned char digest[HL_SHA256_LEN];
	char hex[HL_SHA256_HEX_SIZE];
	json_t *req = NULL, *o = NULL;
	int rc = -1;

	memset(&q, 0, sizeof(q));
	if (hosts_hgs_get_nonce(c, t->host, &nonce) < 0)
		goto out;
	if (hosts_tpm_quote(t->tpm, t->ak, t->pcr_mask ? t->pcr_mask : HOSTS_QUOTE_PCRS,
			    nonce.data, nonce.len, &q) < 0 ||
	    hosts_tpm_certify(t->tpm, t->ak, t->tk, nonce.data, nonce.len, &cert_attest,
			      &cert_sig) < 0 ||
	    hl_crypto_sha256(t->tcglog, t->tcglog_len, digest) < 0 ||
	    hl_crypto_hex_encode(digest, sizeof(digest), hex, sizeof(hex)) < 0)
		goto out;
	if (!(req = json_pack("{s:s, s:s}", "host", t->host, "tcglog_sha256", hex)) ||
	    set_b64(req, "nonce", &nonce) < 0 ||
	    set_b64(req, "ak", &t->ak->pub) < 0 || set_b64(req, "quote", &q.attest) < 0 ||
	    set_b64(req, "quote_signature", &q.sig) < 0 ||
	    set_b64(req, "transport_key", &t->tk->pub) < 0 ||
	    set_b64(req, "certify", &cert_attest) < 0 ||
	    set_b64(req, "certify_signature", &cert_sig) < 0) {
		hl_error("out of memory");
		goto out;
	}
	if (call(c, "/v1/tpm/attest", 0, req, &o) < 0)
		goto out;
	if (json_is_true(json_object_get(o, "tcglog_wanted"))) {
		json_decref(o);
		o = NULL;
		if (json_object_del(req, "tcglog_sha256") < 0 ||
		    hl_json_set_base64(req, "tcglog", t->tcglog, t->tcglog_len) < 0) {
			hl_error("out of memory");
			goto out;
		}
		if (call(c, "/v1/tpm/attest", 0, req, &o) < 0)
			goto out;
	}
	if (decision_read(o, out) < 0)
		goto out;
	rc = 0;
out:
	json_decref(req);
	json_decref(o);
	hl_buf_free(&nonce);
	hl_buf_free(&cert_attest);
	hl_buf_free(&cert_sig);
	hosts_tpm_quote_release(&q);
	return rc;
}

/* Attest in TPM mode, activating the AK first unless *AK_BOUND says it is bound. */
int hosts_hgs_attest_tpm(const struct hosts_hgs_conn *c, const struct hosts_hgs_tpm *t,
			 int *ak_bound, struct hosts_hgs_decision *out)
{
	struct hosts_hgs_decision act;
	int assumed = ak_bound && *ak_bound, fresh = 0;

	memset(out, 0, sizeof(*out));
	memset(&act, 0, sizeof(act));
	if (!t || !t->host || !t->tpm || !t->ek || !t->ak || !t->tk || !t->tcglog ||
	    !t->tcglog_len)
		return hl_error("cannot attest: the host name, TPM, EK, AK, transport key and TCG "
				"log are all needed");
	if (!assumed) {
		if (activate(c, t, out, NULL) < 0)
			return -1;
		if (!out->passed)
			return 0;
		if (ak_bound)
			*ak_bound = 1;
		hosts_hgs_decision_release(out);
	}
	if (attest_once(c, t, out) < 0)
		return -1;
	if (out->passed || !assumed || strcmp(out->status, "UnauthorizedHost") != 0)
		return 0;
	/* the caller thought the AK bound; HGS may have lost the pin (host re-added) */
	if (activate(c, t, &act, &fresh) < 0 || !act.passed || !fresh) {
		hl_error_clear();
		hosts_hgs_decision_release(&act);
		return 0;
	}
	hosts_hgs_decision_release(&act);
	hosts_hgs_decision_release(out);
	return attest_once(c, t, out);
}

/* Attest in host-key mode. */
int hosts_hgs_attest_hostkey(const struct hosts_hgs_conn *c, const char *host,
			     EVP_PKEY *host_key, EVP_PKEY *transport_key,
			     struct hosts_hgs_decision *out)
{
	struct hl_buf nonce = { 0 }, msg = { 0 }, sig = { 0 }, host_pem = { 0 }, tk_pem = { 0 };
	json_t *req = NULL, *o = NULL;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (!host || !host_key || !transport_key)
		return hl_error("cannot attest: the host name, host key and transport key are all "
				"needed");
	if (hl_key_pub_to_pem(host_key, &host_pem) < 0 ||
	    hl_key_pub_to_pem(transport_key, &tk_pem) < 0 ||
	    hosts_hgs_get_nonce(c, host, &nonce) < 0 ||
	    hostkey_message(nonce.data, nonce.len, transport_key, &msg) < 0 ||
	    hl_crypto_sign(host_key, HL_SIG_DEFAULT, msg.data, msg.len, &sig) < 0)
		goto out;
	if (!(req = json_pack("{s:s, s:s, s:s}", "host", host, "host_key",
			      (char *)host_pem.data, "transport_key", (char *)tk_pem.data)) ||
	    set_b64(req, "nonce", &nonce) < 0 || set_b64(req, "signature", &sig) < 0) {
		hl_error("out of memory");
		goto out;
	}
	if (call(c, "/v1/hostkey/attest", 0, req, &o) < 0 || decision_read(o, out) < 0)
		goto out;
	rc = 0;
out:
	json_decref(req);
	json_decref(o);
	hl_buf_free(&nonce);
	hl_buf_free(&msg);
	hl_buf_free(&sig);
	hl_buf_free(&host_pem);
	hl_buf_free(&tk_pem);
	return rc;
}
