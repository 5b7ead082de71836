/*
 * attack_proto.c - the attack library's protocol family (sim/attack.h):
 * what a rogue host, a thief on the wire or a hostile client does to HGS's
 * attestation and key protection services, and to the tenant's tooling,
 * and what they answer.
 *
 * Every attack is played by the runner's own code with the project's
 * libraries, as the attacker would hold them: a host's administrator has
 * the host's folder and its TPM (the agent's swtpm, borrowed between the
 * agent's attestations: hosts/agent.h), speaks the wire protocol of
 * docs/attestation-protocol.md with lib/http and lib/json, builds quotes
 * and certifies with hosts/tpm_host, key release requests with
 * hosts/kps_client, tickets with proto/ad_ticket and certificates with
 * lib/crypto.  Public things (health certificates, EK public keys, host
 * public keys, guardian metadata) are read where anyone could read them.
 * No attack uses HGS's private state; the lab's admin verbs are used only
 * to set up a situation (a cut-off) and to put it back.
 *
 * Sections: the wire (posting to HGS, reading decisions), the rogue host
 * (a host's folder, TPM and evidence), attestation attacks, key
 * protection attacks, hostile input, then the family table.
 */
#include "sim/attack.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <tss2/tss2_mu.h>

#include "hosts/ad_client.h"
#include "hosts/agent.h"
#include "hosts/hgs_client.h"
#include "hosts/host.h"
#include "hosts/kps_client.h"
#include "hosts/tpm_host.h"
#include "hgs/healthcert.h"
#include "lib/crypto.h"
#include "lib/err.h"
#include "lib/fileio.h"
#include "lib/http.h"
#include "lib/json.h"
#include "proto/ad_ticket.h"
#include "proto/hostkey.h"
#include "proto/keyprotector.h"
#include "proto/tcglog.h"
#include "tenant/guardian.h"

#define ATTACK_HTTP_TIMEOUT_MS 30000L

/* ---- the wire ---- */

/* The HTTP options of a request to HGS G. */
static void hgs_opts(const struct lab_hgs *g, const char **resolve, struct hl_http_opts *o)
{
	resolve[0] = g->resolve;
	resolve[1] = NULL;
	memset(o, 0, sizeof(*o));
	o->timeout_ms = ATTACK_HTTP_TIMEOUT_MS;
	o->resolve = resolve;
}

/* POST LEN bytes of BODY to PATH of HGS G into REPLY (0), or -1. */
static int hgs_post(const struct lab_hgs *g, const char *path, const void *body, size_t len,
		    struct hl_http_reply *reply)
{
	const char *resolve[2];
	struct hl_http_opts o;
	char url[256];

	hgs_opts(g, resolve, &o);
	snprintf(url, sizeof(url), "%s%s", g->url, path);
	return hl_http_post(url, "application/json", body, len, &o, reply);
}

/* 0 when HGS G still answers GET /Attestation/v1/info with 200, else -1 with why. */
static int hgs_alive(const struct lab_hgs *g)
{
	struct hl_http_reply r = { 0 };
	const char *resolve[2];
	struct hl_http_opts o;
	char url[256];
	int rc;

	hgs_opts(g, resolve, &o);
	snprintf(url, sizeof(url), "%s/Attestation/v1/info", g->url);
	if (hl_http_get(url, &o, &r) < 0)
		return hl_error_wrap("HGS no longer serves after the attack");
	rc = hl_http_reply_check(url, &r);
	hl_http_reply_release(&r);
	return rc;
}

/* What HGS decided, as the attacker reads the reply. */
struct verdict {
	long http;                /* the HTTP status */
	char status[32];          /* AttestationStatus, or "" when the reply is no decision */
	char text[1024];          /* "(SubStatus, ...) reason", or the error message */
};

/* Read the decision object O (or an {"error"} reply) into V. */
static void verdict_read(const json_t *o, long http, struct verdict *v)
{
	const char *s = "", *reason = "", *err = "";
	json_t *subs = json_object_get(o, "substatus");
	char list[256] = "";
	size_t i, n = 0;

	v->http = http;
	hl_json_get_string_opt(o, "status", "", &s);
	hl_json_get_string_opt(o, "reason", "", &reason);
	hl_json_get_string_opt(o, "error", "", &err);
	for (i = 0; json_is_array(subs) && i < json_array_size(subs); i++) {
		const char *w = json_string_value(json_array_get(subs, i));

		if (w)
			n += (size_t)snprintf(list + n, n < sizeof(list) ? sizeof(list) - n : 0, "%s%s",
					      n ? ", " : "", w);
	}
	hl_error_clear();
	snprintf(v->status, sizeof(v->status), "%s", s);
	if (*list)
		snprintf(v->text, sizeof(v->text), "(%s) %s", list, reason);
	else
		snprintf(v->text, sizeof(v->text), "%s", *reason ? reason : err);
}

/* POST object BODY to PATH of HGS G; the reply into V and, when OUT, the reply object. */
static int post_decision(const struct lab_hgs *g, const char *path, const json_t *body,
			 struct verdict *v, json_t **out)
{
	struct hl_http_reply r = { 0 };
	json_t *o = NULL;
	char *text = NULL;
	int rc = -1;

	if (out)
		*out = NULL;
	memset(v, 0, sizeof(*v));
	if (hl_json_dump(body, &text) < 0 || hgs_post(g, path, text, strlen(text), &r) < 0)
		goto out;
	if (hl_json_parse(r.body, r.body_len, 0, &o) < 0 || !json_is_object(o)) {
		hl_error("HGS answered %s with %ld and no JSON object", path, r.status);
		goto out;
	}
	verdict_read(o, r.status, v);
	if (out) {
		*out = o;
		o = NULL;
	}
	rc = 0;
out:
	json_decref(o);
	hl_http_reply_release(&r);
	free(text);
	return rc;
}

/* The attack's outcome from decision V: refused with its status, or succeeded when Passed. */
static int judge(struct attack_run *a, const struct verdict *v, const char *what)
{
	char status[48];

	if (!strcmp(v->status, "Passed"))
		return attack_succeeded(a, "HGS passed %s", what);
	if (*v->status)
		return attack_refused(a, v->status, v->text);
	snprintf(status, sizeof(status), "HTTP %ld", v->http);
	return attack_refused(a, status, v->text);
}

/* Set base64 member NAME of O to BUF; -1 out of memory. */
static int set_b64(json_t *o, const char *name, const struct hl_buf *b)
{
	return hl_json_set_base64(o, name, b->data, b->len);
}

/* ---- the rogue host: a host's folder and TPM in its administrator's hands ---- */

struct rogue {
	struct lab_host *lh;
	struct host *h;
	struct hosts_hgs_conn conn;
	const char *resolve[2];
	struct host_tpm *t;               /* the agent's swtpm, borrowed (ROGUE_TPM) */
	struct hl_tpm *tpm;
	struct hosts_ek *ek;
	struct hosts_tpm_key ak, tk;      /* the host's own, as its agent made them */
	char *log;                        /* the TCG log of its boot (tcglog.bin) */
	size_t log_len;
};

#define ROGUE_TPM 1   /* rogue_open: also the TPM (the agent's swtpm) and its keys */

/* Free what R holds; NULL-safe members. */
static void rogue_close(struct rogue *r)
{
	hosts_tpm_key_release(&r->ak);
	hosts_tpm_key_release(&r->tk);
	hosts_ek_free(r->ek);
	host_tpm_close(r->t);
	host_close(r->h);
	free(r->log);
	memset(r, 0, sizeof(*r));
}

/* Load the TPM key file FILE of R's host into K. */
static int rogue_key(struct rogue *r, const char *file, struct hosts_tpm_key *k)
{
	char *path = NULL;
	int rc;

	if (host_path(r->h, file, &path) < 0)
		return -1;
	rc = hosts_tpm_key_load(path, k);
	free(path);
	return rc;
}

/* Open host NAME of the lab into R; with ROGUE_TPM its TPM (the running agent's), keys and log. */
static int rogue_open(struct lab *L, const char *name, unsigned what, struct rogue *r)
{
	struct host_agent_info ai;
	char *path = NULL;
	int i = lab_host_index(L, name), rc = -1;

	memset(r, 0, sizeof(*r));
	if (i < 0)
		return hl_error("no host '%s' in this lab", name);
	r->lh = &L->hosts[i];
	r->resolve[0] = r->lh->hgs->resolve;
	r->conn.url = r->lh->hgs->url;
	r->conn.resolve = r->resolve;
	r->conn.timeout_ms = ATTACK_HTTP_TIMEOUT_MS;
	if (host_open(r->lh->dir, &r->h) < 0 || host_path(r->h, HOST_TCGLOG_FILE, &path) < 0 ||
	    hl_file_read(path, HL_TCGLOG_MAX_SIZE, &r->log, &r->log_len) < 0)
		goto out;
	if (!(what & ROGUE_TPM)) {
		rc = 0;
		goto out;
	}
	if ((rc = host_agent_find(r->h, &ai)) <= 0) {
		if (rc == 0)
			hl_error("the agent of host '%s' is not running: its TPM holds no boot", name);
		rc = -1;
		goto out;
	}
	rc = -1;
	if (host_tpm_open(r->h, 0, 1, &r->t) < 0 || !(r->tpm = host_tpm_connect(r->t)) ||
	    hosts_tpm_read_ek(r->tpm, &r->ek) < 0 || rogue_key(r, HOST_AK_FILE, &r->ak) < 0 ||
	    rogue_key(r, HOST_TK_FILE, &r->tk) < 0)
		goto out;
	rc = 0;
out:
	free(path);
	if (rc < 0) {
		hl_error_wrap("cannot take host '%s' as the attacker", name);
		rogue_close(r);
	}
	return rc;
}

/*
 * The body of POST /Attestation/v1/tpm/attest from R's TPM, as the host's
 * client makes it: a quote of the default PCRs and a certify of its
 * transport key by AK over NONCE, the TCG log LOG (LEN bytes), into *OUT.
 */
static int tpm_evidence(struct rogue *r, const struct hosts_tpm_key *ak, const struct hl_buf *nonce,
			const void *log, size_t len, json_t **out)
{
	struct hl_buf ca = { 0 }, cs = { 0 }, lb = { (unsigned char *)log, len };
	struct hosts_tpm_quote q;
	json_t *o = NULL;
	int rc = -1;

	memset(&q, 0, sizeof(q));
	*out = NULL;
	if (hosts_tpm_quote(r->tpm, ak, HOSTS_QUOTE_PCRS, nonce->data, nonce->len, &q) < 0 ||
	    hosts_tpm_certify(r->tpm, ak, &r->tk, nonce->data, nonce->len, &ca, &cs) < 0)
		goto out;
	if (!(o = json_pack("{s:s}", "host", r->h->name)) || set_b64(o, "nonce", nonce) < 0 ||
	    set_b64(o, "ak", &ak->pub) < 0 || set_b64(o, "quote", &q.attest) < 0 ||
	    set_b64(o, "quote_signature", &q.sig) < 0 || set_b64(o, "tcglog", &lb) < 0 ||
	    set_b64(o, "transport_key", &r->tk.pub) < 0 || set_b64(o, "certify", &ca) < 0 ||
	    set_b64(o, "certify_signature", &cs) < 0) {
		hl_error("out of memory");
		goto out;
	}
	*out = o;
	o = NULL;
	rc = 0;
out:
	json_decref(o);
	hl_buf_free(&ca);
	hl_buf_free(&cs);
	hosts_tpm_quote_release(&q);
	return rc;
}

/* A fresh nonce and R's evidence over it with AK and LOG (LEN bytes) into *OUT. */
static int tpm_fresh_evidence(struct rogue *r, const struct hosts_tpm_key *ak, const void *log,
			      size_t len, json_t **out)
{
	struct hl_buf nonce = { 0 };
	int rc;

	*out = NULL;
	if (hosts_hgs_get_nonce(&r->conn, r->h->name, &nonce) < 0)
		return -1;
	rc = tpm_evidence(r, ak, &nonce, log, len, out);
	hl_buf_free(&nonce);
	return rc;
}

/* HOST's attestation with its genuine AK and LOG (LEN bytes) into V. */
static int attest_log(struct attack_run *a, const char *log, size_t len, struct verdict *v)
{
	struct rogue r;
	json_t *body = NULL;
	int rc = -1;

	if (rogue_open(a->L, a->st->host, ROGUE_TPM, &r) < 0)
		return -1;
	if (tpm_fresh_evidence(&r, &r.ak, log, len, &body) == 0 &&
	    post_decision(r.lh->hgs, "/Attestation/v1/tpm/attest", body, v, NULL) == 0)
		rc = 0;
	json_decref(body);
	rogue_close(&r);
	return rc;
}

/* Attest HOST with the altered log LOG (LEN bytes); judge it. */
static int attest_with_log(struct attack_run *a, const char *log, size_t len, const char *what)
{
	struct verdict v;

	if (attest_log(a, log, len, &v) < 0)
		return -1;
	return judge(a, &v, what);
}

/* ---- attestation attacks ---- */

/* nonce-replay: the same attestation request sent twice. */
static int play_nonce_replay(struct attack_run *a)
{
	struct verdict first, again;
	struct rogue r;
	json_t *body = NULL;
	int rc = -1;

	if (rogue_open(a->L, a->st->host, ROGUE_TPM, &r) < 0)
		return -1;
	if (tpm_fresh_evidence(&r, &r.ak, r.log, r.log_len, &body) < 0 ||
	    post_decision(r.lh->hgs, "/Attestation/v1/tpm/attest", body, &first, NULL) < 0 ||
	    post_decision(r.lh->hgs, "/Attestation/v1/tpm/attest", body, &again, NULL) < 0)
		goto out;
	rc = judge(a, &again, "the request replayed word for word");
out:
	json_decref(body);
	rogue_close(&r);
	return rc;
}

/* quote-replay: a quote and certify made for an earlier nonce, sent with a fresh one. */
static int play_quote_replay(struct attack_run *a)
{
	struct hl_buf nonce = { 0 };
	struct verdict first, v;
	struct rogue r;
	json_t *body = NULL;
	int rc = -1;

	if (rogue_open(a->L, a->st->host, ROGUE_TPM, &r) < 0)
		return -1;
	if (tpm_fresh_evidence(&r, &r.ak, r.log, r.log_len, &body) < 0 ||
	    post_decision(r.lh->hgs, "/Attestation/v1/tpm/attest", body, &first, NULL) < 0 ||
	    hosts_hgs_get_nonce(&r.conn, r.h->name, &nonce) < 0)
		goto out;
	if (set_b64(body, "nonce", &nonce) < 0) {
		hl_error("out of memory");
		goto out;
	}
	if (post_decision(r.lh->hgs, "/Attestation/v1/tpm/attest", body, &v, NULL) == 0)
		rc = judge(a, &v, "an old quote under a fresh nonce");
out:
	hl_buf_free(&nonce);
	json_decref(body);
	rogue_close(&r);
	return rc;
}

/* ak-swap: a genuine quote of the host's TPM by a second AK, never bound to its EK. */
static int play_ak_swap(struct attack_run *a)
{
	struct hosts_tpm_key ak2 = { 0 };
	struct verdict v;
	struct rogue r;
	json_t *body = NULL;
	int rc = -1;

	if (rogue_open(a->L, a->st->host, ROGUE_TPM, &r) < 0)
		return -1;
	if (hosts_tpm_create_ak(r.tpm, &ak2) == 0 &&
	    tpm_fresh_evidence(&r, &ak2, r.log, r.log_len, &body) == 0 &&
	    post_decision(r.lh->hgs, "/Attestation/v1/tpm/attest", body, &v, NULL) == 0)
		rc = judge(a, &v, "a quote by an AK of its choosing");
	json_decref(body);
	hosts_tpm_key_release(&ak2);
	rogue_close(&r);
	return rc;
}

/*
 * ek-impersonation: host BY claims host HOST's EK (public: its platform
 * identifier) with an AK of its own TPM.  HGS makes the activation
 * credential with the registered EK, which only HOST's TPM opens; BY tries
 * with its TPM, then answers with a guess.
 */
static int play_ek_impersonation(struct attack_run *a)
{
	struct hl_buf pem = { 0 }, secret = { 0 };
	unsigned char guess[32], *id_obj = NULL, *enc = NULL;
	size_t id_len = 0, enc_len = 0;
	const char *state = "", *ch = NULL;
	struct rogue victim, r;
	struct verdict v;
	json_t *body = NULL, *o = NULL;
	int rc = -1;

	if (rogue_open(a->L, a->st->host, ROGUE_TPM, &victim) < 0)
		return -1;
	rc = hosts_ek_pem(victim.ek, &pem, NULL);
	rogue_close(&victim);
	if (rc < 0 || rogue_open(a->L, a->st->by, ROGUE_TPM, &r) < 0) {
		hl_buf_free(&pem);
		return -1;
	}
	rc = -1;
	if (!(body = json_pack("{s:s, s:s}", "host", a->st->host, "ek_public", (char *)pem.data)) ||
	    set_b64(body, "ak", &r.ak.pub) < 0) {
		hl_error("out of memory");
		goto out;
	}
	if (post_decision(r.lh->hgs, "/Attestation/v1/tpm/activate", body, &v, &o) < 0)
		goto out;
	hl_json_get_string_opt(o, "activation", "", &state);
	if (!strcmp(state, "bound")) {
		rc = attack_succeeded(a, "HGS bound %s's AK to %s's EK", a->st->by, a->st->host);
		goto out;
	}
	if (strcmp(state, "challenge") != 0) {
		rc = judge(a, &v, "an activation with another host's EK");
		goto out;
	}
	if (hl_json_get_string(o, "challenge", &ch) < 0 ||
	    hl_json_get_base64(o, "id_object", &id_obj, &id_len) < 0 ||
	    hl_json_get_base64(o, "encrypted_secret", &enc, &enc_len) < 0)
		goto out;
	/* the attacker's TPM cannot open a credential made for another EK: it guesses */
	if (hosts_tpm_activate_credential(r.tpm, &r.ak, id_obj, id_len, enc, enc_len, &secret) == 0) {
		rc = attack_succeeded(a, "%s's TPM opened the credential made for %s's EK",
				      a->st->by, a->st->host);
		goto out;
	}
	hl_error_clear();
	json_decref(body);
	body = json_pack("{s:s, s:s}", "host", a->st->host, "challenge", ch);
	if (hl_crypto_random(guess, sizeof(guess)) < 0)
		goto out;
	if (!body || hl_json_set_base64(body, "secret", guess, sizeof(guess)) < 0) {
		hl_error("out of memory");
		goto out;
	}
	if (post_decision(r.lh->hgs, "/Attestation/v1/tpm/activate/complete", body, &v, NULL) == 0)
		rc = judge(a, &v, "a guessed answer to the activation challenge");
out:
	free(id_obj);
	free(enc);
	json_decref(body);
	json_decref(o);
	hl_buf_free(&pem);
	hl_buf_free(&secret);
	rogue_close(&r);
	return rc;
}

/* unregistered-host: a host HGS never registered attests exactly as a registered one does. */
static int play_unregistered_host(struct attack_run *a)
{
	struct hosts_hgs_decision d;
	struct hosts_hgs_tpm t;
	struct rogue r;
	int bound = 0, rc = -1;

	memset(&d, 0, sizeof(d));
	if (rogue_open(a->L, a->st->host, ROGUE_TPM, &r) < 0)
		return -1;
	t = (struct hosts_hgs_tpm){ r.h->name, r.tpm, r.ek, &r.ak, &r.tk, r.log, r.log_len, 0 };
	if (hosts_hgs_attest_tpm(&r.conn, &t, &bound, &d) == 0) {
		struct verdict v = { 200, "", "" };

		snprintf(v.status, sizeof(v.status), "%s", d.status);
		snprintf(v.text, sizeof(v.text), "%s", d.reason);
		rc = judge(a, &v, "a host it never registered");
	}
	hosts_hgs_decision_release(&d);
	rogue_close(&r);
	return rc;
}

/* Write LE32 V at P. */
static void put_le32(char *p, uint32_t v)
{
	p[0] = (char)(v & 0xff);
	p[1] = (char)((v >> 8) & 0xff);
	p[2] = (char)((v >> 16) & 0xff);
	p[3] = (char)((v >> 24) & 0xff);
}

/*
 * tcglog-relabel: every EV_EVENT_TAG event of PCR 12 (where a debug boot
 * says so) relabelled EV_POST_CODE, its digests untouched, so the log
 * still replays to the quote.  Played on a host whose genuine log is
 * refused (a debug boot): relabelling must hide something.
 */
static int play_tcglog_relabel(struct attack_run *a)
{
	struct hl_tcglog *l = NULL;
	struct verdict v;
	struct rogue r;
	char *log = NULL;
	size_t i, n = 0;
	int rc = -1;

	if (rogue_open(a->L, a->st->host, 0, &r) < 0)
		return -1;
	if (hl_tcglog_parse((const uint8_t *)r.log, r.log_len, &l) < 0 ||
	    !(log = malloc(r.log_len)))
		goto out;
	memcpy(log, r.log, r.log_len);
	for (i = 0; i < l->nevents; i++)
		if (l->events[i].pcr == 12 && l->events[i].type == HL_EV_EVENT_TAG) {
			put_le32(log + l->events[i].offset + 4, HL_EV_POST_CODE);
			n++;
		}
	if (!n) {
		hl_error("host '%s' booted with no tagged event in PCR 12 to relabel: boot it with "
			 "debug=on", a->st->host);
		goto out;
	}
	/* relabelling must hide something: the genuine log is refused */
	if (attest_log(a, r.log, r.log_len, &v) < 0)
		goto out;
	if (!strcmp(v.status, "Passed")) {
		hl_error("host '%s' passes with its genuine log: there is nothing to hide; boot it "
			 "with debug=on", a->st->host);
		goto out;
	}
	rc = attest_with_log(a, log, l->raw_len, "a log whose debug events are relabelled");
out:
	hl_tcglog_free(l);
	free(log);
	rogue_close(&r);
	return rc;
}

/* tcglog-truncate: the log cut after half its events (the quote still covers the whole boot). */
static int play_tcglog_truncate(struct attack_run *a)
{
	struct hl_tcglog *l = NULL;
	struct rogue r;
	char *log = NULL;
	size_t len = 0;
	int rc = -1;

	if (rogue_open(a->L, a->st->host, 0, &r) < 0)
		return -1;
	if (hl_tcglog_parse((const uint8_t *)r.log, r.log_len, &l) < 0)
		goto out;
	if (l->nevents < 4) {
		hl_error("the TCG log of host '%s' has too few events to cut", a->st->host);
		goto out;
	}
	len = l->events[l->nevents / 2].offset;
	if (!(log = malloc(len)))
		goto out;
	memcpy(log, r.log, len);
	rogue_close(&r);
	rc = attest_with_log(a, log, len, "a truncated log");
out:
	hl_tcglog_free(l);
	free(log);
	rogue_close(&r);
	return rc;
}

/* Restart host LH's agent: a fresh power-on of its TPM and measured boot (as reboot_host). */
static int host_reboot(struct lab *L, struct lab_host *lh)
{
	lab_svc_stop(&lh->svc);
	if (lab_svc_start(L, &lh->svc) < 0 || lab_svc_ready(&lh->svc) < 0)
		return hl_error_wrap("cannot start the agent of host '%s' again", lh->sc->name);
	return lab_save(L);
}

/*
 * late-pcr-extend: after the boot was measured and logged, something
 * extends PCR 11 (code loaded late); the host attests with its genuine log.
 * The host is then booted again (its agent restarted), as its PCRs cannot
 * go back.
 */
static int play_late_pcr_extend(struct attack_run *a)
{
	static const char what[] = "hgslab attack: code loaded after the boot was measured";
	uint8_t digest[HL_TPM_SHA256_LEN];
	struct lab_host *lh;
	struct verdict v;
	struct rogue r;
	json_t *body = NULL;
	size_t i;
	int rc = -1, hi = lab_host_index(a->L, a->st->host);

	for (i = 0; i < a->L->n_vms; i++)
		if (a->L->vms[i].running_on == hi)
			return hl_error("host '%s' runs VM %s: stop it before extending the host's "
					"PCRs (the attack reboots the host)", a->st->host,
					a->L->vms[i].name);
	if (rogue_open(a->L, a->st->host, ROGUE_TPM, &r) < 0)
		return -1;
	lh = r.lh;
	if (hl_crypto_sha256(what, sizeof(what) - 1, digest) < 0 ||
	    hl_tpm_pcr_extend(r.tpm, 11, digest) < 0)
		goto out;
	if (tpm_fresh_evidence(&r, &r.ak, r.log, r.log_len, &body) == 0 &&
	    post_decision(r.lh->hgs, "/Attestation/v1/tpm/attest", body, &v, NULL) == 0)
		rc = judge(a, &v, "a log that misses a late PCR extend");
	rogue_close(&r);
	if (host_reboot(a->L, lh) < 0)
		rc = -1;
out:
	json_decref(body);
	rogue_close(&r);
	return rc;
}

/*
 * transport-key-substitution: the host's genuine quote and certify, but
 * the transport key it sends is a software key of the attacker's (the
 * TK's public area with the attacker's modulus): the health certificate
 * would bind a key whose private half the attacker holds outside any TPM.
 */
static int play_tk_substitution(struct attack_run *a)
{
	unsigned char n[512], tmp[sizeof(TPM2B_PUBLIC)];
	struct hl_buf swapped = { 0 };
	TPM2B_PUBLIC pub;
	EVP_PKEY *mine = NULL;
	BIGNUM *bn = NULL;
	struct verdict v;
	struct rogue r;
	json_t *body = NULL;
	size_t off = 0, len = 0;
	int rc = -1, nlen;

	if (rogue_open(a->L, a->st->host, ROGUE_TPM, &r) < 0)
		return -1;
	memset(&pub, 0, sizeof(pub));
	if (hl_key_generate(HL_KEY_RSA2048, &mine) < 0)
		goto out;
	if (Tss2_MU_TPM2B_PUBLIC_Unmarshal(r.tk.pub.data, r.tk.pub.len, &off, &pub) !=
	    TSS2_RC_SUCCESS || !EVP_PKEY_get_bn_param(mine, OSSL_PKEY_PARAM_RSA_N, &bn) ||
	    (nlen = BN_bn2binpad(bn, n, pub.publicArea.unique.rsa.size)) < 0 ||
	    nlen != pub.publicArea.unique.rsa.size) {
		hl_error("cannot put the attacker's key in the transport key's public area");
		goto out;
	}
	memcpy(pub.publicArea.unique.rsa.buffer, n, (size_t)nlen);
	if (Tss2_MU_TPM2B_PUBLIC_Marshal(&pub, tmp, sizeof(tmp), &len) != TSS2_RC_SUCCESS ||
	    hl_buf_set(&swapped, tmp, len) < 0) {
		hl_error("cannot marshal the substituted transport key");
		goto out;
	}
	if (tpm_fresh_evidence(&r, &r.ak, r.log, r.log_len, &body) < 0)
		goto out;
	if (set_b64(body, "transport_key", &swapped) < 0) {
		hl_error("out of memory");
		goto out;
	}
	if (post_decision(r.lh->hgs, "/Attestation/v1/tpm/attest", body, &v, NULL) == 0)
		rc = judge(a, &v, "a health certificate for a software transport key");
out:
	BN_free(bn);
	hl_key_free(mine);
	hl_buf_free(&swapped);
	json_decref(body);
	rogue_close(&r);
	return rc;
}

/* The POST /Attestation/v1/hostkey/attest body: HOST, HOST_KEY_PEM, a signature by SIGNER. */
static int hostkey_body(struct rogue *r, const char *host, const char *host_key_pem,
			EVP_PKEY *signer, EVP_PKEY *tk, json_t **out)
{
	struct hl_buf nonce = { 0 }, msg = { 0 }, sig = { 0 }, tk_pem = { 0 };
	json_t *o = NULL;
	int rc = -1;

	*out = NULL;
	if (hl_key_pub_to_pem(tk, &tk_pem) < 0 || hosts_hgs_get_nonce(&r->conn, host, &nonce) < 0 ||
	    hostkey_message(nonce.data, nonce.len, tk, &msg) < 0 ||
	    hl_crypto_sign(signer, HL_SIG_DEFAULT, msg.data, msg.len, &sig) < 0)
		goto out;
	if (!(o = json_pack("{s:s, s:s, s:s}", "host", host, "host_key", host_key_pem,
			    "transport_key", (char *)tk_pem.data)) ||
	    set_b64(o, "nonce", &nonce) < 0 || set_b64(o, "signature", &sig) < 0) {
		hl_error("out of memory");
		goto out;
	}
	*out = o;
	o = NULL;
	rc = 0;
out:
	json_decref(o);
	hl_buf_free(&nonce);
	hl_buf_free(&msg);
	hl_buf_free(&sig);
	hl_buf_free(&tk_pem);
	return rc;
}

/*
 * wrong-mode: an attestation in a mode the HGS does not trust: host-key
 * (the host's genuine machine key) to a TPM or AD HGS, TPM to a host-key
 * one.
 */
static int play_wrong_mode(struct attack_run *a)
{
	struct hosts_hgs_info info;
	struct hl_buf pem = { 0 };
	EVP_PKEY *key = NULL, *tk = NULL;
	struct verdict v;
	struct rogue r;
	json_t *body = NULL;
	int rc = -1;

	memset(&info, 0, sizeof(info));
	if (rogue_open(a->L, a->st->host, 0, &r) < 0)
		return -1;
	if (hosts_hgs_get_info(&r.conn, &info) < 0)
		goto out;
	if (strcmp(info.mode, "hostkey") != 0) {
		if (host_key_load(r.h, &key) < 0 || host_key_pub_pem(r.h, &pem) < 0 ||
		    hl_key_generate(HL_KEY_RSA2048, &tk) < 0 ||
		    hostkey_body(&r, r.h->name, (char *)pem.data, key, tk, &body) < 0 ||
		    post_decision(r.lh->hgs, "/Attestation/v1/hostkey/attest", body, &v, NULL) < 0)
			goto out;
	} else if (!(body = json_pack("{s:s}", "host", r.h->name)) ||
		   post_decision(r.lh->hgs, "/Attestation/v1/tpm/activate", body, &v, NULL) < 0) {
		goto out;
	}
	rc = judge(a, &v, "an attestation in another mode than its own");
out:
	hosts_hgs_info_release(&info);
	hl_buf_free(&pem);
	hl_key_free(key);
	hl_key_free(tk);
	json_decref(body);
	rogue_close(&r);
	return rc;
}

/* hostkey-forged: host BY claims HOST's registered public key, signing with its own machine key. */
static int play_hostkey_forged(struct attack_run *a)
{
	struct hl_buf pem = { 0 };
	EVP_PKEY *mine = NULL, *tk = NULL;
	struct rogue victim, r;
	struct verdict v;
	json_t *body = NULL;
	int rc = -1;

	if (rogue_open(a->L, a->st->host, 0, &victim) < 0)
		return -1;
	rc = host_key_pub_pem(victim.h, &pem);
	rogue_close(&victim);
	if (rc < 0 || rogue_open(a->L, a->st->by, 0, &r) < 0) {
		hl_buf_free(&pem);
		return -1;
	}
	rc = -1;
	if (host_key_load(r.h, &mine) == 0 && hl_key_generate(HL_KEY_RSA2048, &tk) == 0 &&
	    hostkey_body(&r, a->st->host, (char *)pem.data, mine, tk, &body) == 0 &&
	    post_decision(r.lh->hgs, "/Attestation/v1/hostkey/attest", body, &v, NULL) == 0)
		rc = judge(a, &v, "another host's key with a signature it did not make");
	hl_buf_free(&pem);
	hl_key_free(mine);
	hl_key_free(tk);
	json_decref(body);
	rogue_close(&r);
	return rc;
}

/* The SIDs of the fabric's groups (`fabric get-group`: directory information) appended to T. */
static int ticket_add_groups(struct lab *L, struct ad_ticket *t)
{
	struct lab_result res;
	json_t *list = NULL;
	size_t i;
	int rc = -1;

	if (lab_exec(L, &res, NULL, "fabric", "get-group", "--dir", L->fabric_dir, "--json",
		     NULL) < 0)
		return -1;
	if (res.rc != 0 || hl_json_parse(res.out, strlen(res.out), 0, &list) < 0 ||
	    !json_is_array(list)) {
		hl_error("fabric get-group gave no list of groups: %s", res.err);
		goto out;
	}
	for (i = 0; i < json_array_size(list); i++) {
		const char *name = NULL, *sid = NULL;
		struct ad_ticket_group *g;

		if (hl_json_get_string(json_array_get(list, i), "Name", &name) < 0 ||
		    hl_json_get_string(json_array_get(list, i), "Sid", &sid) < 0)
			goto out;
		if (!(g = realloc(t->groups, (t->n_groups + 1) * sizeof(*g)))) {
			hl_error("out of memory");
			goto out;
		}
		t->groups = g;
		snprintf(g[t->n_groups].name, sizeof(g->name), "%s", name);
		snprintf(g[t->n_groups].sid, sizeof(g->sid), "%s", sid);
		t->n_groups++;
	}
	rc = 0;
out:
	json_decref(list);
	lab_result_clear(&res);
	return rc;
}

/*
 * ad-ticket-forged: host HOST takes its genuine ticket from the fabric's
 * DC, adds every group of the fabric to it and signs it again with a key
 * of its own under a certificate named like the DC's.
 */
static int play_ad_ticket_forged(struct attack_run *a)
{
	const char *dc_resolve[2] = { a->L->dc_resolve, NULL }, *resolve[2];
	struct hl_http_opts dco = { .timeout_ms = ATTACK_HTTP_TIMEOUT_MS, .resolve = dc_resolve }, o;
	struct hl_cert_spec spec = { 0 };
	struct ad_attest_result res;
	struct ad_ticket *t = NULL;
	EVP_PKEY *key = NULL, *fake = NULL, *tk = NULL;
	char *jws = NULL, *forged = NULL, au[256], cn[96];
	X509 *cert = NULL;
	struct rogue r;
	int rc = -1;

	memset(&res, 0, sizeof(res));
	if (!a->L->has_dc)
		return hl_error("attack ad-ticket-forged needs a fabric: section (the DC)");
	if (rogue_open(a->L, a->st->host, 0, &r) < 0)
		return -1;
	snprintf(cn, sizeof(cn), "DC01.%s", a->L->s->fabric.domain);
	spec.cn = cn;
	spec.org = a->L->s->fabric.domain;
	spec.not_before = time(NULL) - 86400;
	spec.not_after = time(NULL) + 86400;
	spec.path_len = -1;
	if (host_key_load(r.h, &key) < 0 ||
	    ad_client_get_ticket(a->L->dc_url, &dco, r.h->name, key, &jws, &t) < 0 ||
	    ticket_add_groups(a->L, t) < 0 || hl_key_generate(HL_KEY_RSA2048, &fake) < 0 ||
	    hl_cert_issue_self_signed(&spec, fake, &cert) < 0 ||
	    ad_ticket_encode(t, fake, cert, &forged) < 0 || hl_key_generate(HL_KEY_RSA2048, &tk) < 0)
		goto out;
	hgs_opts(r.lh->hgs, resolve, &o);
	snprintf(au, sizeof(au), "%s/Attestation", r.lh->hgs->url);
	if (ad_client_attest(au, &o, r.h->name, forged, key, tk, &res) < 0)
		goto out;
	{
		struct verdict v = { 200, "", "" };

		snprintf(v.status, sizeof(v.status), "%s", hgs_status_name(res.result.status));
		snprintf(v.text, sizeof(v.text), "%s", res.result.reason);
		rc = judge(a, &v, "a ticket the DC never issued");
	}
out:
	ad_attest_result_release(&res);
	ad_ticket_free(t);
	hl_key_free(key);
	hl_key_free(fake);
	hl_key_free(tk);
	hl_cert_free(cert);
	free(jws);
	free(forged);
	rogue_close(&r);
	return rc;
}

/* ---- key protection attacks ---- */

/* The health certificate (DER) host NAME's agent holds into OUT; its validity into *NB, *NA. */
static int held_cert(struct lab *L, const char *name, struct hl_buf *out, time_t *nb, time_t *na)
{
	struct host_state st;
	struct rogue r;
	X509 *cert = NULL;
	int rc = -1;

	memset(&st, 0, sizeof(st));
	if (rogue_open(L, name, 0, &r) < 0)
		return -1;
	if (host_state_load(r.h, &st) < 0)
		goto out;
	if (!st.health_cert.len) {
		hl_error("host '%s' holds no health certificate (%s): attest it first", name,
			 st.status);
		goto out;
	}
	if (hl_cert_from_der(st.health_cert.data, st.health_cert.len, &cert) < 0 ||
	    hl_cert_validity(cert, nb, na) < 0 ||
	    hl_buf_set(out, st.health_cert.data, st.health_cert.len) < 0)
		goto out;
	rc = 0;
out:
	hl_cert_free(cert);
	host_state_release(&st);
	rogue_close(&r);
	return rc;
}

/* The key protector file of the step's VM into *KP (malloc'd, *LEN bytes). */
static int step_kp(struct attack_run *a, char **kp, size_t *len)
{
	int vi = lab_vm_index(a->L, a->st->vm);

	*kp = NULL;
	if (vi < 0 || !a->L->vms[vi].kp)
		return hl_error("VM '%s' has no key protector in this lab", a->st->vm);
	return hl_file_read(a->L->vms[vi].kp, HL_KP_MAX_SIZE, kp, len);
}

/*
 * Ask the KPS of HGS G to release KP (LEN bytes) for health certificate HC
 * (DER); into *REL.  A refusal is the attack's refusal with KPS's reason
 * code as its status (1); a release is returned as 0 for the caller to
 * judge (what it got is wrapped to the certificate's key).
 */
static int kps_ask(struct attack_run *a, const struct lab_hgs *g, const void *kp, size_t len,
		   const struct hl_buf *hc, struct hosts_kps_release *rel)
{
	const char *resolve[2] = { g->resolve, NULL };
	struct hosts_kps_conn c = { g->url, NULL, resolve, ATTACK_HTTP_TIMEOUT_MS };

	memset(rel, 0, sizeof(*rel));
	if (hosts_kps_request(&c, kp, len, hc->data, hc->len, rel) < 0)
		return -1;
	if (!rel->released)
		return attack_refused(a, rel->reason, rel->message);
	return 0;
}

/* KPS released to a certificate the attacker made for key MINE: it opens the TK; say so. */
static int opened_with(struct attack_run *a, EVP_PKEY *mine, const struct hosts_kps_release *rel)
{
	struct hl_buf tk = { 0 };
	int opened = hl_crypto_oaep_unwrap(mine, HOSTS_TK_OAEP_LABEL, sizeof(HOSTS_TK_OAEP_LABEL),
					   rel->wrapped_tk.data, rel->wrapped_tk.len, &tk) == 0;

	hl_buf_free(&tk);
	hl_error_clear();
	return attack_succeeded(a, "KPS released the TK of key protector %s%s", rel->key_protector,
				opened ? " and the attacker's own key opened it" : "");
}

/* A plain release of the step VM's KP with the certificate HOST holds (kp-other-hgs). */
static int play_kp_release(struct attack_run *a)
{
	struct hosts_kps_release rel;
	struct hl_buf hc = { 0 };
	char *kp = NULL;
	size_t len = 0;
	time_t nb, na;
	int rc = -1, hi = lab_host_index(a->L, a->st->host);

	memset(&rel, 0, sizeof(rel));
	if (held_cert(a->L, a->st->host, &hc, &nb, &na) == 0 && step_kp(a, &kp, &len) == 0 &&
	    (rc = kps_ask(a, a->L->hosts[hi].hgs, kp, len, &hc, &rel)) == 0)
		rc = attack_succeeded(a, "KPS released the TK of key protector %s to %s",
				      rel.key_protector, a->st->host);
	hosts_kps_release_free(&rel);
	hl_buf_free(&hc);
	free(kp);
	return rc;
}

/*
 * health-cert-stolen: host BY presents HOST's health certificate (public:
 * it travels in the clear) with the VM's KP; KPS wraps the TK to the key
 * that certificate binds, and BY's TPM tries to open it with its own
 * transport key.
 */
static int play_health_cert_stolen(struct attack_run *a)
{
	struct hosts_kps_release rel;
	struct hl_buf hc = { 0 }, tk = { 0 };
	struct rogue r;
	char *kp = NULL;
	size_t len = 0;
	time_t nb, na;
	int rc = -1;

	memset(&rel, 0, sizeof(rel));
	if (held_cert(a->L, a->st->host, &hc, &nb, &na) < 0 || step_kp(a, &kp, &len) < 0 ||
	    rogue_open(a->L, a->st->by, ROGUE_TPM, &r) < 0) {
		hl_buf_free(&hc);
		free(kp);
		return -1;
	}
	if ((rc = kps_ask(a, r.lh->hgs, kp, len, &hc, &rel)) != 0)
		goto out;
	if (hosts_kps_open(r.tpm, &r.tk, &rel, &tk) == 0) {
		rc = attack_succeeded(a, "%s's TPM opened the TK released for %s", a->st->by,
				      a->st->host);
		goto out;
	}
	rc = attack_refused(a, "TPM refused", hl_error_last());
	hl_error_clear();
out:
	hl_buf_free(&tk);
	hosts_kps_release_free(&rel);
	hl_buf_free(&hc);
	free(kp);
	rogue_close(&r);
	return rc;
}

/*
 * health-cert-forged: a health certificate for HOST, Passed, naming the
 * HGS, binding the attacker's own software key, signed by an "Attestation
 * Signer" certificate the attacker made with the HGS's name.
 */
static int play_health_cert_forged(struct attack_run *a)
{
	int hi = lab_host_index(a->L, a->st->host);
	const struct lab_hgs *g = a->L->hosts[hi].hgs;
	const char *node = g->sc->name;
	struct hl_cert_spec ca = { 0 }, spec = { 0 };
	struct hosts_kps_release rel;
	struct hl_cert_ext exts[4];
	struct hl_buf der = { 0 };
	EVP_PKEY *signer = NULL, *mine = NULL;
	X509 *ca_cert = NULL, *cert = NULL;
	char *kp = NULL, cn[160];
	size_t len = 0;
	int rc = -1;

	memset(&rel, 0, sizeof(rel));
	snprintf(cn, sizeof(cn), "%s Attestation Signer", node);
	ca.cn = cn;
	ca.org = g->sc->domain;
	ca.not_before = time(NULL) + a->L->clock_s - 86400;
	ca.not_after = ca.not_before + 10 * 86400;
	ca.path_len = -1;
	exts[0] = (struct hl_cert_ext){ HGS_OID_HC_MODE, HL_EXT_UTF8, "tpm", 3, 0 };
	exts[1] = (struct hl_cert_ext){ HGS_OID_HC_STATUS, HL_EXT_UTF8, "Passed", 6, 0 };
	exts[2] = (struct hl_cert_ext){ HGS_OID_HC_SUBSTATUS, HL_EXT_UTF8, "", 0, 0 };
	exts[3] = (struct hl_cert_ext){ HGS_OID_HC_NODE, HL_EXT_UTF8, node, strlen(node), 0 };
	spec.cn = a->st->host;
	spec.org = g->sc->domain;
	spec.not_before = time(NULL) + a->L->clock_s - 60;
	spec.not_after = spec.not_before + 8 * 3600;
	spec.path_len = -1;
	spec.key_usage = HL_KU_KEY_ENCIPHERMENT;
	spec.exts = exts;
	spec.n_exts = 4;
	if (step_kp(a, &kp, &len) < 0 || hl_key_generate(HL_KEY_RSA2048, &signer) < 0 ||
	    hl_key_generate(HL_KEY_RSA2048, &mine) < 0 ||
	    hl_cert_issue_self_signed(&ca, signer, &ca_cert) < 0 ||
	    hl_cert_issue(&spec, mine, ca_cert, signer, &cert) < 0 || hl_cert_to_der(cert, &der) < 0)
		goto out;
	if ((rc = kps_ask(a, g, kp, len, &der, &rel)) == 0)
		rc = opened_with(a, mine, &rel);
out:
	hosts_kps_release_free(&rel);
	hl_buf_free(&der);
	hl_key_free(signer);
	hl_key_free(mine);
	hl_cert_free(ca_cert);
	hl_cert_free(cert);
	free(kp);
	return rc;
}

/*
 * health-cert-expired: HOST's genuine certificate presented once the lab
 * clock (HGS's) has moved an hour past its notAfter; the clock goes back
 * afterwards.
 */
static int play_health_cert_expired(struct attack_run *a)
{
	int hi = lab_host_index(a->L, a->st->host);
	struct hosts_kps_release rel;
	struct hl_buf hc = { 0 };
	long long shift;
	char *kp = NULL;
	size_t len = 0;
	time_t nb, na;
	int rc = -1;

	memset(&rel, 0, sizeof(rel));
	if (held_cert(a->L, a->st->host, &hc, &nb, &na) < 0 || step_kp(a, &kp, &len) < 0)
		goto out;
	shift = (long long)na - ((long long)time(NULL) + a->L->clock_s) + 3600;
	a->L->clock_s += shift;
	if (lab_clock_apply(a->L) == 0 &&
	    (rc = kps_ask(a, a->L->hosts[hi].hgs, kp, len, &hc, &rel)) == 0)
		rc = attack_succeeded(a, "KPS released to a certificate past its notAfter");
	a->L->clock_s -= shift;
	if (lab_clock_apply(a->L) < 0)
		rc = -1;
out:
	hosts_kps_release_free(&rel);
	hl_buf_free(&hc);
	free(kp);
	return rc;
}

/* HGS G's health certificate cut-off as `get-key-protection-policy` says it into *OUT ("" none). */
static int cutoff_get(struct lab *L, const struct lab_hgs *g, char **out)
{
	struct lab_result res;
	const char *when = "";
	json_t *o = NULL;
	int rc = -1;

	*out = NULL;
	if (lab_exec(L, &res, NULL, "hgs", "get-key-protection-policy", "--dir", g->dir, "--json",
		     NULL) < 0)
		return -1;
	if (res.rc != 0 || hl_json_parse(res.out, strlen(res.out), 0, &o) < 0) {
		hl_error("hgs get-key-protection-policy failed: %s", res.err);
		goto out;
	}
	hl_json_get_string_opt(o, "DenyHealthCertificatesIssuedBefore", "", &when);
	hl_error_clear();
	if ((*out = strdup(when)))
		rc = 0;
out:
	json_decref(o);
	lab_result_clear(&res);
	return rc;
}

/* Set HGS G's cut-off to WHEN ("" clears it) with `set-key-protection-policy`. */
static int cutoff_set(struct lab *L, const struct lab_hgs *g, const char *when)
{
	struct lab_result res;
	int rc;

	if ((*when ? lab_exec(L, &res, NULL, "hgs", "set-key-protection-policy", "--dir", g->dir,
			      "--deny-health-certificates-issued-before", when, NULL)
		   : lab_exec(L, &res, NULL, "hgs", "set-key-protection-policy", "--dir", g->dir,
			      "--clear", NULL)) < 0)
		return -1;
	rc = res.rc == 0 ? 0 : hl_error("hgs set-key-protection-policy failed: %s", res.err);
	lab_result_clear(&res);
	return rc;
}

/*
 * health-cert-pre-cutoff: the HGS admin denies certificates issued before
 * a moment (a policy change); HOST presents the one it got before that
 * moment.  The cut-off is put back as it was.
 */
static int play_health_cert_pre_cutoff(struct attack_run *a)
{
	int hi = lab_host_index(a->L, a->st->host);
	const struct lab_hgs *g = a->L->hosts[hi].hgs;
	struct hosts_kps_release rel;
	struct hl_buf hc = { 0 };
	char *kp = NULL, *was = NULL, when[32];
	size_t len = 0;
	time_t nb, na;
	int rc = -1;

	memset(&rel, 0, sizeof(rel));
	if (held_cert(a->L, a->st->host, &hc, &nb, &na) < 0 || step_kp(a, &kp, &len) < 0 ||
	    cutoff_get(a->L, g, &was) < 0)
		goto out;
	snprintf(when, sizeof(when), "@%lld", (long long)nb + 1);
	if (cutoff_set(a->L, g, when) == 0 && (rc = kps_ask(a, g, kp, len, &hc, &rel)) == 0)
		rc = attack_succeeded(a, "KPS released to a certificate issued before the cut-off");
	if (cutoff_set(a->L, g, was) < 0)
		rc = -1;
out:
	hosts_kps_release_free(&rel);
	hl_buf_free(&hc);
	free(kp);
	free(was);
	return rc;
}

/* A KP envelope around BODY with the original signature SIG (the attacker cannot sign) into *OUT. */
static int kp_rewrap(const struct hl_buf *body, const struct hl_buf *sig, char **out)
{
	json_t *o = json_pack("{s:s, s:i, s:s}", "format", HL_KP_FORMAT, "version", HL_KP_VERSION,
			      "alg", HL_KP_ALG);
	int rc = -1;

	*out = NULL;
	if (!o || set_b64(o, "body", body) < 0 || set_b64(o, "signature", sig) < 0)
		hl_error("out of memory");
	else
		rc = hl_json_dump(o, out);
	json_decref(o);
	return rc;
}

/* The step VM's KP, its signed body and signature, and HOST's certificate. */
struct kp_parts {
	char *kp;
	size_t len;
	struct hl_buf body, sig, hc;
};

/* Release P. */
static void kp_parts_release(struct kp_parts *p)
{
	free(p->kp);
	hl_buf_free(&p->body);
	hl_buf_free(&p->sig);
	hl_buf_free(&p->hc);
	memset(p, 0, sizeof(*p));
}

/* Read the step VM's KP into P, split, and the certificate HOST holds. */
static int kp_parts_read(struct attack_run *a, struct kp_parts *p)
{
	time_t nb, na;
	int verr = 0;

	memset(p, 0, sizeof(*p));
	if (held_cert(a->L, a->st->host, &p->hc, &nb, &na) < 0 || step_kp(a, &p->kp, &p->len) < 0 ||
	    hl_kp_envelope_read(p->kp, p->len, HL_KP_MAX_SIZE, HL_KP_FORMAT, HL_KP_VERSION,
				"key protector", &p->body, &p->sig, &verr) < 0) {
		kp_parts_release(p);
		return -1;
	}
	return 0;
}

/* Release P's KP with BODY (its signature kept) for HOST; judge. */
static int kp_try_body(struct attack_run *a, struct kp_parts *p, const struct hl_buf *body,
		       const char *what)
{
	int hi = lab_host_index(a->L, a->st->host);
	struct hosts_kps_release rel;
	char *kp = NULL;
	int rc;

	memset(&rel, 0, sizeof(rel));
	if (kp_rewrap(body, &p->sig, &kp) < 0)
		return -1;
	if ((rc = kps_ask(a, a->L->hosts[hi].hgs, kp, strlen(kp), &p->hc, &rel)) == 0)
		rc = attack_succeeded(a, "KPS released the TK of %s", what);
	hosts_kps_release_free(&rel);
	free(kp);
	return rc;
}

/*
 * kp-tampered: one byte of the signed body changed (the first base64
 * character of the last guardian's wrapped TK), the owner's signature kept.
 */
static int play_kp_tampered(struct attack_run *a)
{
	struct kp_parts p;
	char *at = NULL, *q;
	int rc = -1;

	if (kp_parts_read(a, &p) < 0)
		return -1;
	for (q = (char *)p.body.data; (q = memmem(q, p.body.len - (size_t)(q - (char *)p.body.data),
					      "\"wrapped_tk\"", 12)); q++)
		at = q;
	if (!at || !(at = memchr(at + 12, '"', p.body.len - (size_t)(at + 12 - (char *)p.body.data)))) {
		hl_error("the key protector of VM '%s' has no wrapped TK to alter", a->st->vm);
		goto out;
	}
	at[1] = at[1] == 'A' ? 'B' : 'A';
	rc = kp_try_body(a, &p, &p.body, "a key protector altered after signing");
out:
	kp_parts_release(&p);
	return rc;
}

/*
 * kp-guardian-added: the host's administrator adds its HGS as a guardian
 * of a KP that does not name it (the guardian's public metadata, a TK of
 * its choosing wrapped to it), keeping the owner's signature.
 */
static int play_kp_guardian_added(struct attack_run *a)
{
	int hi = lab_host_index(a->L, a->st->host);
	const struct lab_hgs *g = a->L->hosts[hi].hgs;
	const char *resolve[2] = { g->resolve, NULL };
	struct hl_guardian_metadata *md = NULL;
	struct hl_buf tk = { 0 }, wrapped = { 0 }, der = { 0 }, body = { 0 };
	char sfp[HL_SHA256_HEX_SIZE], efp[HL_SHA256_HEX_SIZE], *text = NULL;
	EVP_PKEY *enc = NULL;
	json_t *o = NULL, *entry = NULL;
	struct kp_parts p;
	int rc = -1;

	if (kp_parts_read(a, &p) < 0)
		return -1;
	if (hl_guardian_metadata_fetch(g->url, resolve, &md) < 0 ||
	    hl_cert_thumbprint(md->signing_cert, sfp) < 0 ||
	    hl_cert_thumbprint(md->encryption_cert, efp) < 0 ||
	    hl_cert_to_der(md->encryption_cert, &der) < 0 ||
	    hl_cert_pubkey(md->encryption_cert, &enc) < 0 || !(tk.data = malloc(HL_KP_TK_LEN)) ||
	    (tk.len = HL_KP_TK_LEN, hl_crypto_random(tk.data, tk.len) < 0) ||
	    hl_crypto_oaep_wrap(enc, HL_KP_OAEP_LABEL, HL_KP_OAEP_LABEL_LEN, tk.data, tk.len,
				&wrapped) < 0 ||
	    hl_json_parse(p.body.data, p.body.len, 0, &o) < 0)
		goto out;
	if (!(entry = json_pack("{s:s, s:s, s:s}", "name", md->name, "signing_thumbprint", sfp,
				"encryption_thumbprint", efp)) ||
	    set_b64(entry, "encryption_cert", &der) < 0 || set_b64(entry, "wrapped_tk", &wrapped) < 0 ||
	    json_array_append(json_object_get(o, "guardians"), entry) < 0 ||
	    hl_json_dump(o, &text) < 0 || hl_buf_set(&body, text, strlen(text)) < 0) {
		hl_error("cannot add a guardian entry to the key protector of VM '%s'", a->st->vm);
		goto out;
	}
	rc = kp_try_body(a, &p, &body, "a key protector with a guardian the owner never signed");
out:
	hl_guardian_metadata_free(md);
	hl_key_free(enc);
	hl_buf_free(&tk);
	hl_buf_free(&wrapped);
	hl_buf_free(&der);
	hl_buf_free(&body);
	json_decref(o);
	json_decref(entry);
	free(text);
	kp_parts_release(&p);
	return rc;
}

/* ---- hostile input ---- */

/* hostile-json: a body that is JSON but not an object, and one that is not JSON. */
static int play_hostile_json(struct attack_run *a)
{
	static const char *const bodies[] = { "[1,2,3]", "{\"nonce\": \"\\ud800", "\x01\xff{" };
	struct hl_http_reply r;
	char *err = NULL;
	size_t i;
	int rc = 1;

	memset(&r, 0, sizeof(r));
	for (i = 0; rc == 1 && i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		if (hgs_post(&a->L->hgs[0], "/Attestation/v1/nonce", bodies[i], strlen(bodies[i]),
			     &r) < 0)
			return -1;
		if (r.status != 400)
			rc = attack_succeeded(a, "HGS answered %ld to body %zu", r.status, i + 1);
		else if (i == 0 && hl_http_reply_check("nonce", &r) < 0)
			err = strdup(hl_error_last());
		hl_http_reply_release(&r);
	}
	hl_error_clear();
	if (rc == 1)
		rc = attack_refused(a, "HTTP 400", err);
	free(err);
	return rc;
}

/* POST LEN bytes of BODY to HGS's nonce route; refused with "HTTP EXPECT" when so answered and HGS still serves. */
static int hostile_body(struct attack_run *a, const char *body, size_t len, long expect,
			const char *what)
{
	struct hl_http_reply r = { 0 };
	char status[32];
	int rc;

	if (hgs_post(&a->L->hgs[0], "/Attestation/v1/nonce", body, len, &r) < 0)
		return -1;
	if (r.status != expect) {
		rc = attack_succeeded(a, "HGS answered %ld to %s", r.status, what);
	} else {
		snprintf(status, sizeof(status), "HTTP %ld", expect);
		hl_http_reply_check("/Attestation/v1/nonce", &r);
		rc = attack_refused(a, status, hl_error_last());
		hl_error_clear();
	}
	hl_http_reply_release(&r);
	if (rc >= 0 && hgs_alive(&a->L->hgs[0]) < 0)
		rc = attack_succeeded(a, "HGS stopped serving after %s: %s", what, hl_error_last());
	return rc;
}

#define BIG_BODY ((size_t)100 << 20)

/* big-body: a 100 MB request body. */
static int play_big_body(struct attack_run *a)
{
	char *body = malloc(BIG_BODY);
	int rc;

	if (!body)
		return hl_error("out of memory");
	memset(body, ' ', BIG_BODY);
	body[0] = '{';
	body[BIG_BODY - 1] = '}';
	rc = hostile_body(a, body, BIG_BODY, 413, "a 100 MB body");
	free(body);
	return rc;
}

#define DEEP_JSON 200000

/* deep-json: 200000 nested arrays in an object member. */
static int play_deep_json(struct attack_run *a)
{
	size_t len = 2 * DEEP_JSON + 7, i;
	char *body = malloc(len + 1);
	int rc;

	if (!body)
		return hl_error("out of memory");
	memcpy(body, "{\"a\":", 5);
	for (i = 0; i < DEEP_JSON; i++) {
		body[5 + i] = '[';
		body[5 + DEEP_JSON + i] = ']';
	}
	memcpy(body + 5 + 2 * DEEP_JSON, "}", 2);
	rc = hostile_body(a, body, strlen(body), 400, "JSON nested 200000 deep");
	free(body);
	return rc;
}

/*
 * hostile-xml: guardian metadata files a rogue HGS would publish: an
 * entity bomb ("billion laughs") and an external entity naming HGS's KPS
 * encryption key; `tenant import-guardian` must refuse both (exit 2) and
 * import nothing.
 */
static int play_hostile_xml(struct attack_run *a)
{
	static const char bomb[] =
		"<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\n <!ENTITY lol \"lol\">\n"
		" <!ENTITY l1 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">\n"
		" <!ENTITY l2 \"&l1;&l1;&l1;&l1;&l1;&l1;&l1;&l1;&l1;&l1;\">\n"
		" <!ENTITY l3 \"&l2;&l2;&l2;&l2;&l2;&l2;&l2;&l2;&l2;&l2;\">\n"
		" <!ENTITY l4 \"&l3;&l3;&l3;&l3;&l3;&l3;&l3;&l3;&l3;&l3;\">\n"
		" <!ENTITY l5 \"&l4;&l4;&l4;&l4;&l4;&l4;&l4;&l4;&l4;&l4;\">\n"
		" <!ENTITY l6 \"&l5;&l5;&l5;&l5;&l5;&l5;&l5;&l5;&l5;&l5;\">\n"
		" <!ENTITY l7 \"&l6;&l6;&l6;&l6;&l6;&l6;&l6;&l6;&l6;&l6;\">\n"
		" <!ENTITY l8 \"&l7;&l7;&l7;&l7;&l7;&l7;&l7;&l7;&l7;&l7;\">\n"
		" <!ENTITY l9 \"&l8;&l8;&l8;&l8;&l8;&l8;&l8;&l8;&l8;&l8;\">\n]>\n"
		"<GuardianMetadata xmlns=\"urn:hgslab:guardian-metadata:2014-07\" Version=\"1\">"
		"<Guardian><Name>&l9;</Name></Guardian></GuardianMetadata>\n";
	struct hl_guardian *g = NULL;
	struct lab_result res;
	char *dir = NULL, *file = NULL, *xxe = NULL, *err = NULL;
	int k, rc = -1;

	memset(&res, 0, sizeof(res));
	if (asprintf(&dir, "%s/attack", a->L->work) < 0 ||
	    asprintf(&file, "%s/hostile-guardian.xml", dir) < 0 ||
	    asprintf(&xxe, "<?xml version=\"1.0\"?>\n<!DOCTYPE g [ <!ENTITY key SYSTEM "
		     "\"file://%s/keys/kps-encryption.key\"> ]>\n<GuardianMetadata xmlns=\"urn:"
		     "hgslab:guardian-metadata:2014-07\" Version=\"1\"><Guardian><Name>&key;</Name>"
		     "</Guardian></GuardianMetadata>\n", a->L->hgs[0].dir) < 0) {
		hl_error("out of memory");
		goto out;
	}
	if (hl_file_mkdirs(dir, 0700) < 0)
		goto out;
	rc = 1;
	for (k = 0; k < 2 && rc == 1; k++) {
		const char *doc = k ? xxe : bomb;

		if (hl_file_write(file, doc, strlen(doc), 0600) < 0 ||
		    lab_exec(a->L, &res, NULL, "tenant", "import-guardian", "--dir", a->L->tenant,
			     "--file", file, "--name", "HostileGuardian", "--allow-untrusted-root",
			     NULL) < 0) {
			rc = -1;
			break;
		}
		if (res.rc != 2)
			rc = attack_succeeded(a, "import-guardian of the %s exited %d",
					      k ? "external entity" : "entity bomb", res.rc);
		else if (!err)
			err = attack_err_line(res.err);
		lab_result_clear(&res);
	}
	/* nothing imported; if something was, it goes (the lab as found) */
	if (hl_guardian_load(a->L->tenant, "HostileGuardian", 0, &g) == 0) {
		hl_guardian_free(g);
		hl_guardian_remove(a->L->tenant, "HostileGuardian");
		if (rc == 1)
			rc = attack_succeeded(a, "a guardian was imported from hostile metadata");
	}
	hl_error_clear();
	if (rc == 1)
		rc = attack_refused(a, "exit 2", err);
	unlink(file);
	rmdir(dir);
out:
	free(dir);
	free(file);
	free(xxe);
	free(err);
	return rc;
}

/* ---- the family table ---- */

#define HOST ATTACK_NEEDS_HOST
#define VM ATTACK_NEEDS_VM
#define BY ATTACK_NEEDS_BY

const struct attack_def attack_proto_defs[] = {
	{ "hostile-json", "hgs", "sends HGS request bodies that are JSON but not an object, and bytes "
	  "that are not JSON at all", "HTTP 400",
	  "HGS parses every body with a JSON library and checks its shape before it reads a field: "
	  "anything else is a bad request, answered at once, and HGS keeps serving.", 0,
	  play_hostile_json },
	{ "deep-json", "hgs", "sends HGS a JSON body nested 200000 arrays deep, to exhaust its parser's "
	  "stack", "HTTP 400",
	  "the JSON library HGS parses with stops at a fixed nesting depth instead of recursing "
	  "without end: the body is a bad request and HGS keeps serving.", 0, play_deep_json },
	{ "big-body", "hgs", "sends HGS a 100 MB request body", "HTTP 413",
	  "HGS caps a request body at 4 MiB and refuses a larger declared length before reading it, "
	  "so a huge body costs it no memory and it keeps serving.", 0, play_big_body },
	{ "nonce-replay", "attestation", "records a host's attestation request and sends it again "
	  "word for word", "UnauthorizedHost",
	  "every attestation signs a nonce HGS issued for it, and a nonce is used up by the first "
	  "request that presents it: a recorded request cannot be played again.", HOST,
	  play_nonce_replay },
	{ "quote-replay", "attestation", "sends an earlier TPM quote of a healthy boot with a fresh "
	  "nonce", "TpmError",
	  "the TPM signs the nonce into the quote itself (its qualifying data): an old quote does "
	  "not carry the fresh nonce, so its signature does not cover this request.", HOST,
	  play_quote_replay },
	{ "ak-swap", "attestation", "quotes with a second attestation key of its TPM, one HGS never "
	  "bound to the registered EK", "UnauthorizedHost",
	  "HGS pinned the host's AK to its EK once, by credential activation; a quote by any other "
	  "key proves nothing about the registered TPM.", HOST, play_ak_swap },
	{ "ek-impersonation", "attestation", "claims another host's EK (public, in its platform "
	  "identifier) with an AK of its own TPM", "UnauthorizedHost",
	  "HGS encrypts the activation challenge to the registered EK, which never leaves that "
	  "host's TPM: another TPM cannot open it, and a guessed answer is wrong.", HOST | BY,
	  play_ek_impersonation },
	{ "unregistered-host", "attestation", "attests a host with a healthy boot and a genuine TPM "
	  "that HGS never registered", "UnauthorizedHost",
	  "TPM mode trusts a TPM, not a boot: only an EK the HGS admin registered "
	  "(Add-HgsAttestationTpmHost) can attest, however healthy the host.", HOST,
	  play_unregistered_host },
	{ "tcglog-relabel", "attestation", "relabels the debug-boot events of its TCG log as "
	  "harmless POST codes, digests untouched, so the log still replays", "InsecureHostConfiguration",
	  "no digest covers an event's type, so HGS decides on digests and on event data verified "
	  "against them, never on labels: the debug boot is still seen.", HOST,
	  play_tcglog_relabel },
	{ "tcglog-truncate", "attestation", "sends only the first half of its TCG log, hiding the "
	  "events it would rather HGS did not see", "InsecureHostConfiguration",
	  "HGS replays the log into PCR values and compares them with the TPM's signed quote: a log "
	  "with events missing does not replay to the quoted PCRs.", HOST, play_tcglog_truncate },
	{ "late-pcr-extend", "attestation", "extends a PCR after its boot was measured (code loaded "
	  "late) and attests with the boot's log", "InsecureHostConfiguration",
	  "the quote shows the PCRs as they are now; a change the log does not record makes the log "
	  "fail to replay, so nothing can run unrecorded.  (The host is rebooted afterwards.)",
	  HOST, play_late_pcr_extend },
	{ "transport-key-substitution", "attestation", "sends its genuine quote and certify but a "
	  "transport key of its own, held outside the TPM, for the health certificate to bind",
	  "TpmError",
	  "the AK certifies the transport key inside the TPM (TPM2_Certify over the nonce): a key "
	  "whose name the certify does not carry is not proven TPM-resident, so KPS would never "
	  "wrap a TK to it.", HOST, play_tk_substitution },
	{ "wrong-mode", "attestation", "attests in another mode than the HGS trusts (a host-key "
	  "attestation to a TPM-mode HGS)", "UnauthorizedHost",
	  "an HGS attests in one mode at a time; a weaker proof in another mode is not an "
	  "alternative way in.", HOST, play_wrong_mode },
	{ "hostkey-forged", "attestation", "presents a registered host's public key with a "
	  "signature made by its own key", "UnauthorizedHost",
	  "host-key mode checks a signature over the fresh nonce with the key the HGS admin "
	  "registered: only the holder of that private key can make it.", HOST | BY,
	  play_hostkey_forged },
	{ "ad-ticket-forged", "attestation", "adds the guarded hosts' group to its own DC ticket and "
	  "signs it again with a key of its own under a certificate named like the DC's",
	  "UnauthorizedHost",
	  "HGS trusts the fabric's DC key it was given with the trust, not a name: a ticket signed "
	  "by any other key is not a ticket of that domain.", HOST, play_ad_ticket_forged },
	{ "health-cert-stolen", "kps", "presents another host's health certificate (it travels in "
	  "the clear) to KPS with the VM's key protector, then tries to open the answer",
	  "TPM refused",
	  "KPS wraps the TK to the transport key the certificate binds, which lives only in the "
	  "certified host's TPM: the thief's TPM cannot open it.", HOST | VM | BY,
	  play_health_cert_stolen },
	{ "health-cert-forged", "kps", "makes its own Passed health certificate for its own key, "
	  "signed by a signer certificate it named like the HGS's", "UntrustedHealthCertificate",
	  "KPS accepts only certificates its own attestation signer issued; names, extensions and "
	  "a Passed status are worth nothing without that signature.", HOST | VM,
	  play_health_cert_forged },
	{ "health-cert-expired", "kps", "presents a genuine health certificate after its notAfter "
	  "(the lab clock moved past it)", "HealthCertificateExpired",
	  "a health certificate vouches for a boot for a few hours only (8 by default): the host "
	  "must attest again to keep getting keys.", HOST | VM, play_health_cert_expired },
	{ "health-cert-pre-cutoff", "kps", "presents a genuine certificate issued before the HGS "
	  "admin's cut-off (a policy change)", "HealthCertificateIssuedBeforeCutoff",
	  "after a policy change the admin can deny every certificate issued before it "
	  "(DenyHealthCertificatesIssuedBefore), so hosts must attest under the new policy.",
	  HOST | VM, play_health_cert_pre_cutoff },
	{ "kp-tampered", "key protector", "changes one byte of a key protector's signed body "
	  "(a wrapped TK) and keeps the owner's signature", "OwnerSignatureInvalid",
	  "the owner signs the whole key protector; KPS checks that signature before it opens "
	  "anything, so no byte can be changed.", HOST | VM, play_kp_tampered },
	{ "kp-other-hgs", "key protector", "asks this HGS's KPS to release a key protector that "
	  "names only another HGS", "GuardianNotListed",
	  "the tenant decides which fabrics may run the VM: a KPS not listed as a guardian has no "
	  "wrapped TK it can open.", HOST | VM, play_kp_release },
	{ "kp-guardian-added", "key protector", "adds its HGS as a guardian of a key protector that "
	  "does not list it, with a TK of its choosing, keeping the owner's signature",
	  "OwnerSignatureInvalid",
	  "only the owner can add a guardian (Grant-HgsKeyProtectorAccess re-signs the key "
	  "protector); an entry the owner did not sign breaks the signature.", HOST | VM,
	  play_kp_guardian_added },
	{ "hostile-xml", "tenant", "publishes guardian metadata with an XML entity bomb, and with an "
	  "external entity naming HGS's KPS key, for the tenant to import", "exit 2",
	  "the tenant's XML reader refuses any document type declaration, expands no entity and "
	  "fetches nothing: the import stops before a byte is trusted.", 0, play_hostile_xml },
	{ NULL, NULL, NULL, NULL, NULL, 0, NULL },
};
