/*
 * test_attest_tpm.c - TPM-mode attestation end to end with real parts: swtpm
 * TPMs manufactured by hosts/manufacture with the lab's own vendor CAs, the
 * host side through hosts/hgs_client (and hand-built requests where a test
 * tampers with the evidence), an in-process HGS node served by
 * hgs_server_start over HTTP on loopback.
 *
 * The group manufactures two TPMs once (vendor A, which the HGS trusts, and
 * vendor B, which it does not), creates their AKs and transport keys, and
 * builds one HGS node with the `baseline` profile's TCG log as TPM baseline
 * and its CI policy registered.  Each test boots a copy of a manufactured
 * TPM state (a fresh swtpm: PCRs reset) with a profile, registers what it
 * needs, and its teardown stops that swtpm and resets the node (trust mode,
 * vendor CA, registrations, and with them the AK pins).  One test per
 * attestation invariant of DESIGN.md, plus debug mode, garbage bodies, the
 * TCG log sent by its digest and the host-key client.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "hgs/attest_log.h"
#include "hgs/attest_tpm.h"
#include "hgs/db.h"
#include "hgs/healthcert.h"
#include "hgs/node.h"
#include "hgs/serve.h"
#include "hosts/hgs_client.h"
#include "hosts/manufacture.h"
#include "hosts/measured_boot.h"
#include "hosts/profile.h"
#include "hosts/tpm_host.h"
#include "lib/clock.h"
#include "lib/crypto.h"
#include "lib/fileio.h"
#include "lib/http.h"
#include "lib/json.h"
#include "lib/swtpm.h"
#include "proto/platform_id.h"
#include "proto/tcglog.h"
#include "lib/tpm.h"
#include "tests/unit/teststore.h"
#include "tests/unit/testutil.h"

/* A manufactured TPM and the keys made in it once. */
struct master {
	char state[160];
	const char *host;               /* the name its EK certificate carries */
	struct hosts_ek *ek;
	struct hosts_tpm_key ak, ak2, tk;
};

/* Everything the group shares. */
struct fixture {
	char dir[TU_SANDBOX_DIR];   /* first: the scratch folder (tu_sandbox_new) */
	char vendor_a[128], vendor_b[128], node_dir[128];
	char *vendor_a_pem, *vendor_b_pem;
	struct master a, b;
	struct hgs_node *node;
	struct hgs_server *srv;
	char url[128], resolve_entry[128];
	const char *resolve[2];
	struct hosts_hgs_conn conn;
	unsigned serial;
};

static struct fixture *fx;

/* One booted host of a test: a swtpm on a copy of a master's state. */
struct host {
	char name[64];
	char state[192];
	const struct master *m;
	struct hl_swtpm *swtpm;
	struct hl_tpm *tpm;
	struct hl_measured_boot *mb;
	struct hosts_hgs_tpm t;
};

/* The host of the running test, stopped by the teardown. */
static struct host *cur;

/* Start a swtpm on STATE and connect to it. */
static int tpm_start(const char *state, struct hl_swtpm **sw, struct hl_tpm **t)
{
	struct hl_swtpm_opts o = { 0 };

	o.state_dir = state;
	if (hl_swtpm_start(&o, sw) < 0 || hl_tpm_connect(hl_swtpm_tcti(*sw), t) < 0)
		return -1;
	return 0;
}

/* Disconnect and stop a swtpm; -1 when it did not exit cleanly. */
static int tpm_stop(struct hl_swtpm **sw, struct hl_tpm **t)
{
	int status = 0, rc = 0;

	hl_tpm_disconnect(*t);
	*t = NULL;
	if (*sw && (hl_swtpm_stop(*sw, 0, &status) < 0 || status != 0))
		rc = -1;
	hl_swtpm_free(*sw);
	*sw = NULL;
	return rc;
}

/* Manufacture M with VENDOR, read its EK, create its keys (AK2 when WANT_AK2). */
static int master_make(struct master *m, const char *vendor, const char *host, int want_ak2)
{
	struct hl_swtpm *sw = NULL;
	struct hl_tpm *t = NULL;
	int rc = -1;

	m->host = host;
	if (hosts_tpm_manufacture(vendor, m->state, host) < 0 || tpm_start(m->state, &sw, &t) < 0 ||
	    hosts_tpm_read_ek(t, &m->ek) < 0 || hosts_tpm_create_ak(t, &m->ak) < 0 ||
	    (want_ak2 && hosts_tpm_create_ak(t, &m->ak2) < 0) ||
	    hosts_tpm_create_transport_key(t, &m->tk) < 0)
		goto out;
	rc = 0;
out:
	if (tpm_stop(&sw, &t) < 0 && rc == 0)
		rc = hl_error("swtpm of '%s' did not stop cleanly", host);
	return rc;
}

/* Free M's keys. */
static void master_release(struct master *m)
{
	hosts_ek_free(m->ek);
	m->ek = NULL;
	hosts_tpm_key_release(&m->ak);
	hosts_tpm_key_release(&m->ak2);
	hosts_tpm_key_release(&m->tk);
}

/* Register the baseline profile's log and CI policy. */
static int register_policies(void)
{
	struct hl_profile p;
	struct hl_measured_boot *mb = NULL;
	char *doc = NULL;
	size_t len = 0;
	int rc = -1;

	if (hl_profile_init(&p, "baseline") < 0 || hl_measured_boot_build(&p, &mb) < 0 ||
	    hgs_db_tpm_policy_add(fx->node, "Baseline", mb->log, mb->log_len) < 0 ||
	    hl_profile_ci_policy_document(p.ci_policy, &doc, &len) < 0 ||
	    hgs_db_ci_policy_add(fx->node, p.ci_policy, doc, len) < 0)
		goto out;
	rc = 0;
out:
	free(doc);
	hl_measured_boot_free(mb);
	return rc;
}

static int group_teardown(void **state);

/* Make the vendors, the two TPMs and their keys, the HGS node and its server. */
static int group_setup(void **state)
{
	struct fixture *f = tu_sandbox_new(sizeof(*f), "atpm");
	struct hgs_init_params ip = { 0 };
	char *path = NULL;
	size_t len;
	int64_t t0 = hl_clock_ms();

	if (!f)
		return -1;
	fx = f;
	*state = f;
	snprintf(f->vendor_a, sizeof(f->vendor_a), "%s/vendor-a", f->dir);
	snprintf(f->vendor_b, sizeof(f->vendor_b), "%s/vendor-b", f->dir);
	snprintf(f->a.state, sizeof(f->a.state), "%s/master-a", f->dir);
	snprintf(f->b.state, sizeof(f->b.state), "%s/master-b", f->dir);
	snprintf(f->node_dir, sizeof(f->node_dir), "%s/hgs", f->dir);
	if (hosts_vendor_ca_init(f->vendor_a) < 0 || hosts_vendor_ca_init(f->vendor_b) < 0 ||
	    hosts_vendor_ca_cert_path(f->vendor_a, &path) < 0 ||
	    hl_file_read(path, 1 << 20, &f->vendor_a_pem, &len) < 0)
		goto fail;
	free(path);
	path = NULL;
	if (hosts_vendor_ca_cert_path(f->vendor_b, &path) < 0 ||
	    hl_file_read(path, 1 << 20, &f->vendor_b_pem, &len) < 0)
		goto fail;
	free(path);
	path = NULL;
	if (master_make(&f->a, f->vendor_a, "FabricHost1", 1) < 0 ||
	    master_make(&f->b, f->vendor_b, "RogueHost", 0) < 0)
		goto fail;
	ip.dir = f->node_dir;
	ip.name = "MyHgsService";
	ip.domain = "relecloud.com";
	ip.trust = HGS_MODE_TPM;
	ip.listen = "127.0.0.1:0";
	ip.vendor_ca_pem = f->vendor_a_pem;
	if (hgs_node_create(&ip) < 0 || tus_hgs_node_store(f->node_dir) < 0 ||
	    hgs_node_open(f->node_dir, HGS_NODE_OPEN_KEYS, &f->node) < 0 ||
	    tus_hgs_node_check(f->node) < 0 ||
	    register_policies() < 0 || hgs_server_start(f->node, "127.0.0.1", 0, &f->srv) < 0)
		goto fail;
	snprintf(f->url, sizeof(f->url), "http://hgs.relecloud.com:%u/Attestation",
		 hgs_server_port(f->srv));
	snprintf(f->resolve_entry, sizeof(f->resolve_entry), "hgs.relecloud.com:%u:127.0.0.1",
		 hgs_server_port(f->srv));
	f->resolve[0] = f->resolve_entry;
	f->conn.url = f->url;
	f->conn.resolve = f->resolve;
	f->conn.timeout_ms = 30000;
	fprintf(stderr, "# group setup (2 TPMs manufactured, keys, HGS node): %lld ms\n",
		(long long)(hl_clock_ms() - t0));
	return 0;
fail:
	fprintf(stderr, "group setup: %s\n", hl_error_last());
	free(path);
	group_teardown(state);
	*state = NULL;
	return -1;
}

/* Stop the server, close the node, remove everything. */
static int group_teardown(void **state)
{
	struct fixture *f = *state;
	int ret;

	if (!f)
		return 0;
	hgs_server_stop(f->srv);
	hgs_node_close(f->node);
	master_release(&f->a);
	master_release(&f->b);
	free(f->vendor_a_pem);
	free(f->vendor_b_pem);
	ret = tu_sandbox_free(f);
	fx = NULL;
	return ret;
}

/* Stop H's swtpm and remove its state copy. */
static int host_stop(struct host *h)
{
	int rc = 0;

	if (!h)
		return 0;
	if (tpm_stop(&h->swtpm, &h->tpm) < 0) {
		fprintf(stderr, "swtpm of '%s' did not stop cleanly: %s\n", h->name, hl_error_last());
		rc = -1;
	}
	hl_measured_boot_free(h->mb);
	if (h->state[0] && tu_rmtree(h->state) < 0)
		rc = -1;
	free(h);
	return rc;
}

/* After each test: stop its host and put the node back as the group left it. */
static int test_teardown(void **state)
{
	static const char *const names[] = { "FabricHost1", "RogueHost", "OtherName" };
	int rc;

	(void)state;
	rc = host_stop(cur);
	cur = NULL;
	if (hgs_db_set_trust(fx->node, HGS_MODE_TPM) < 0 ||
	    hgs_db_set_vendor_ca(fx->node, fx->vendor_a_pem) < 0)
		rc = -1;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (hgs_db_reg_remove(fx->node, HGS_REG_TPM_HOST, names[i]) < 0)
			hl_error_clear();
		if (hgs_db_reg_remove(fx->node, HGS_REG_HOST_KEY, names[i]) < 0)
			hl_error_clear();
	}
	return rc;
}

/* Copy M's TPM state into a fresh directory, boot PROFILE into it (the host agent's job). */
static struct host *host_boot(const struct master *m, const char *profile)
{
	struct host *h = calloc(1, sizeof(*h));
	struct hosts_pcr_extend *ext = NULL;
	struct hl_profile p;
	char *bytes = NULL;
	size_t len = 0;

	assert_non_null(h);
	cur = h;
	h->m = m;
	snprintf(h->name, sizeof(h->name), "%s", m->host);
	snprintf(h->state, sizeof(h->state), "%s/tpm-%u", fx->dir, fx->serial++);
	assert_ok(hl_file_mkdirs(h->state, 0700));
	assert_ok(hl_file_read(tu_path("%s/tpm2-00.permall", m->state), HL_FILE_READ_MAX, &bytes,
			       &len));
	assert_ok(hl_file_write_private(tu_path("%s/tpm2-00.permall", h->state), bytes, len));
	free(bytes);
	assert_ok(tpm_start(h->state, &h->swtpm, &h->tpm));
	assert_ok(hl_profile_parse(profile, &p));
	assert_ok(hl_measured_boot_build(&p, &h->mb));
	ext = calloc(h->mb->n_extends, sizeof(*ext));
	assert_non_null(ext);
	for (size_t i = 0; i < h->mb->n_extends; i++) {
		ext[i].pcr = h->mb->extends[i].pcr;
		memcpy(ext[i].sha1, h->mb->extends[i].sha1, sizeof(ext[i].sha1));
		memcpy(ext[i].sha256, h->mb->extends[i].sha256, sizeof(ext[i].sha256));
	}
	assert_ok(hosts_tpm_extend(h->tpm, ext, h->mb->n_extends));
	free(ext);
	h->t.host = h->name;
	h->t.tpm = h->tpm;
	h->t.ek = m->ek;
	h->t.ak = &m->ak;
	h->t.tk = &m->tk;
	h->t.tcglog = h->mb->log;
	h->t.tcglog_len = h->mb->log_len;
	return h;
}

/* Register H's TPM as NAME (add-tpm-host); FORCE as --force.  Returns the call's result. */
static int host_register(const struct host *h, const char *name, int force)
{
	const struct hosts_ek *ek = h->m->ek;
	struct hgs_platform_id *id = NULL;
	char *text = NULL;
	int rc = -1;

	if (hgs_platform_id_write(h->name, ek->pub, ek->cert, ek->tpm_public.data,
				  ek->tpm_public.len, &text) == 0 &&
	    hgs_platform_id_parse(text, strlen(text), &id) == 0)
		rc = hgs_db_tpm_host_add(fx->node, name, id, force);
	hgs_platform_id_free(id);
	free(text);
	return rc;
}

/* Fail unless D has STATUS, exactly the one sub-status SUB (NULL: none), a reason with TEXT. */
static void expect(const struct hosts_hgs_decision *d, const char *status, const char *sub,
		   const char *text)
{
	if (strcmp(d->status, status) != 0)
		fail_msg("expected %s, got %s (%s): %s", status, d->status, d->substatus_text,
			 d->reason);
	if (sub && (d->n_substatus != 1 || strcmp(d->substatus[0], sub) != 0))
		fail_msg("expected sub-status %s, got '%s': %s", sub, d->substatus_text, d->reason);
	if (!sub && d->n_substatus)
		fail_msg("expected no sub-status, got '%s'", d->substatus_text);
	if (text && !strstr(d->reason, text))
		fail_msg("reason '%s' lacks '%s'", d->reason, text);
}

/* Attest H through the client; *OUT the decision. */
static void attest(struct host *h, int *bound, struct hosts_hgs_decision *out)
{
	if (hosts_hgs_attest_tpm(&fx->conn, &h->t, bound, out) < 0)
		fail_msg("hosts_hgs_attest_tpm: %s", hl_error_last());
}

/* POST BODY (LEN bytes) to PATH; the HTTP status, and the JSON reply into *OUT (may be NULL). */
static long post_raw(const char *path, const void *body, size_t len, json_t **out)
{
	struct hl_http_reply reply = { 0 };
	struct hl_http_opts o = { 0 };
	char url[256];
	long status;

	snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", hgs_server_port(fx->srv), path);
	o.timeout_ms = 30000;
	if (hl_http_post(url, "application/json", body, len, &o, &reply) < 0)
		fail_msg("post %s: %s", path, hl_error_last());
	status = reply.status;
	if (out && hl_json_parse(reply.body, reply.body_len, 0, out) < 0)
		fail_msg("reply of %s is not JSON: %s", path, hl_error_last());
	hl_http_reply_release(&reply);
	return status;
}

/* POST object BODY to PATH; expect 200 and return the reply object. */
static json_t *post_json(const char *path, const json_t *body)
{
	char *text = NULL;
	json_t *reply = NULL;
	long status;

	assert_ok(hl_json_dump(body, &text));
	status = post_raw(path, text, strlen(text), &reply);
	free(text);
	if (status != 200)
		fail_msg("%s answered %ld", path, status);
	return reply;
}

/* The decision object O's status, and fail unless it is STATUS with TEXT in its reason. */
static void expect_json(const json_t *o, const char *status, const char *sub, const char *text)
{
	const char *s = "", *reason = "";
	json_t *subs = json_object_get(o, "substatus");

	hl_json_get_string_opt(o, "status", "", &s);
	hl_json_get_string_opt(o, "reason", "", &reason);
	if (strcmp(s, status) != 0)
		fail_msg("expected %s, got '%s': %s", status, s, reason);
	if (sub && (json_array_size(subs) != 1 ||
		    strcmp(json_string_value(json_array_get(subs, 0)), sub) != 0))
		fail_msg("expected sub-status %s: %s", sub, reason);
	if (text && !strstr(reason, text))
		fail_msg("reason '%s' lacks '%s'", reason, text);
}

/* Set base64 member NAME of O. */
static void set_b64(json_t *o, const char *name, const void *data, size_t len)
{
	assert_ok(hl_json_set_base64(o, name, data, len));
}

/*
 * A hand-built attestation request of H, as the client makes it, with AK,
 * the TCG log LOG and the PCRs of MASK; for tests that tamper with it.
 */
static json_t *attest_body(struct host *h, const struct hosts_tpm_key *ak, const void *log,
			   size_t len, uint32_t mask)
{
	struct hl_buf nonce = { 0 }, ca = { 0 }, cs = { 0 };
	struct hosts_tpm_quote q;
	json_t *o;

	memset(&q, 0, sizeof(q));
	assert_ok(hosts_hgs_get_nonce(&fx->conn, h->name, &nonce));
	assert_ok(hosts_tpm_quote(h->tpm, ak, mask, nonce.data, nonce.len, &q));
	assert_ok(hosts_tpm_certify(h->tpm, ak, &h->m->tk, nonce.data, nonce.len, &ca, &cs));
	o = json_pack("{s:s}", "host", h->name);
	assert_non_null(o);
	set_b64(o, "nonce", nonce.data, nonce.len);
	set_b64(o, "ak", ak->pub.data, ak->pub.len);
	set_b64(o, "quote", q.attest.data, q.attest.len);
	set_b64(o, "quote_signature", q.sig.data, q.sig.len);
	set_b64(o, "tcglog", log, len);
	set_b64(o, "transport_key", h->m->tk.pub.data, h->m->tk.pub.len);
	set_b64(o, "certify", ca.data, ca.len);
	set_b64(o, "certify_signature", cs.data, cs.len);
	hl_buf_free(&nonce);
	hl_buf_free(&ca);
	hl_buf_free(&cs);
	hosts_tpm_quote_release(&q);
	return o;
}

/*
 * POST a hand-built attestation of H (attest_body with AK, the TCG log LOG of
 * LEN bytes, every quoted PCR); fail unless the decision is STATUS with SUB
 * and TEXT as expect_json takes them.
 */
static void attest_by_hand(struct host *h, const struct hosts_tpm_key *ak, const void *log,
			   size_t len, const char *status, const char *sub, const char *text)
{
	json_t *body = attest_body(h, ak, log, len, HOSTS_QUOTE_PCRS);
	json_t *r = post_json("/Attestation/v1/tpm/attest", body);

	expect_json(r, status, sub, text);
	json_decref(r);
	json_decref(body);
}

/* Register and activate H (the AK of its master) so that hand-built attestations may follow. */
static void host_activate(struct host *h)
{
	struct hosts_hgs_decision d;

	assert_ok(host_register(h, h->name, 0));
	assert_ok(hosts_hgs_activate(&fx->conn, &h->t, &d));
	expect(&d, "Passed", NULL, NULL);
	hosts_hgs_decision_release(&d);
}

/* The first event of LOG in PCR of TYPE: *TYPE_OFF and *DATA_OFF its byte offsets in LOG. */
static void find_event(const uint8_t *log, size_t len, uint32_t pcr, uint32_t type,
		       size_t *type_off, size_t *data_off, size_t *data_len)
{
	struct hl_tcglog *l = NULL;

	assert_ok(hl_tcglog_parse(log, len, &l));
	for (size_t i = 0; i < l->nevents; i++) {
		const struct hl_tcglog_event *ev = &l->events[i];

		if (ev->pcr != pcr || ev->type != type)
			continue;
		*type_off = ev->offset + 4;    /* pcrIndex, then eventType, in both formats */
		*data_off = (size_t)(ev->data - l->raw);
		*data_len = ev->data_len;
		hl_tcglog_free(l);
		return;
	}
	hl_tcglog_free(l);
	fail_msg("no event of type 0x%08x in PCR %u", type, pcr);
}

/* Write LE32 V at P. */
static void put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

/* Relabel the first event of LOG in PCR of TYPE as NEW_TYPE (its digests untouched). */
static void relabel(uint8_t *log, size_t len, uint32_t pcr, uint32_t type, uint32_t new_type)
{
	size_t toff, doff, dlen;

	find_event(log, len, pcr, type, &toff, &doff, &dlen);
	put_le32(log + toff, new_type);
}

/* ---- tests ---- */

/* A baseline host passes, and its health certificate binds its TPM transport key. */
static void test_baseline_passed(void **state)
{
	struct host *h = host_boot(&fx->a, "baseline");
	struct hosts_hgs_decision d;
	struct hgs_healthcert_info info;
	struct hgs_tpm_ak_pin *pin = NULL;
	struct hl_buf tk_pem = { 0 };
	EVP_PKEY *tk = NULL, *bound = NULL;
	char fp[HL_SHA256_HEX_SIZE];
	X509 *cert = NULL;
	int ak_bound = 0;
	int64_t t0;

	(void)state;
	assert_ok(host_register(h, h->name, 0));
	t0 = hl_clock_ms();
	attest(h, &ak_bound, &d);
	fprintf(stderr, "# first attestation (activation + attest): %lld ms\n",
		(long long)(hl_clock_ms() - t0));
	expect(&d, "Passed", NULL, NULL);
	assert_int_equal(ak_bound, 1);
	assert_string_equal(d.mode, "tpm");
	assert_string_equal(d.node, "MyHgsService");
	assert_non_null(d.health_cert_pem);
	assert_true(d.not_after > time(NULL));
	/* the certificate is this HGS's, Passed, TPM mode, and binds the TK */
	assert_ok(hl_cert_from_der(d.health_cert_der.data, d.health_cert_der.len, &cert));
	assert_ok(hgs_healthcert_verify(fx->node, cert, &info, NULL));
	assert_int_equal(info.mode, HGS_MODE_TPM);
	assert_string_equal(info.host, "FabricHost1");
	assert_ok(hl_cert_pubkey(cert, &bound));
	assert_ok(hosts_tpm_key_pem(&fx->a.tk, &tk_pem));
	assert_ok(hl_key_pub_from_pem(tk_pem.data, tk_pem.len, &tk));
	assert_int_equal(hl_key_pub_equal(tk, bound), 1);
	/* the AK is pinned */
	assert_int_equal(hgs_db_tpm_ak_pin_get(fx->node, "FabricHost1", &pin), 1);
	assert_ok(hl_key_fingerprint(fx->a.ek->pub, fp));
	assert_string_equal(pin->ek_fingerprint, fp);
	hgs_tpm_ak_pin_free(pin);
	hosts_hgs_decision_release(&d);
	/* a second attestation skips activation */
	t0 = hl_clock_ms();
	attest(h, &ak_bound, &d);
	fprintf(stderr, "# attestation with a bound AK: %lld ms\n", (long long)(hl_clock_ms() - t0));
	expect(&d, "Passed", NULL, NULL);
	hosts_hgs_decision_release(&d);
	hl_cert_free(cert);
	hl_key_free(bound);
	hl_key_free(tk);
	hl_buf_free(&tk_pem);
}

/* Invariant: nonces are single-use; an old quote replayed is refused. */
static void test_replayed_nonce(void **state)
{
	struct host *h = host_boot(&fx->a, "baseline");
	json_t *body, *r;

	(void)state;
	host_activate(h);
	body = attest_body(h, &fx->a.ak, h->mb->log, h->mb->log_len, HOSTS_QUOTE_PCRS);
	r = post_json("/Attestation/v1/tpm/attest", body);
	expect_json(r, "Passed", NULL, NULL);
	json_decref(r);
	r = post_json("/Attestation/v1/tpm/attest", body);
	expect_json(r, "UnauthorizedHost", NULL, "replay");
	json_decref(r);
	/* a nonce HGS never issued */
	json_object_set_new(body, "nonce", json_string("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="));
	r = post_json("/Attestation/v1/tpm/attest", body);
	expect_json(r, "UnauthorizedHost", NULL, "not issued");
	json_decref(r);
	json_decref(body);
}

/* The number of attestation log entries of HOST. */
static size_t log_entries(const char *host)
{
	json_t *log = NULL;
	size_t n;

	assert_ok(hgs_db_attest_log_list(fx->node, host, 0, &log));
	n = json_array_size(log);
	json_decref(log);
	return n;
}

/*
 * The TCG log by its digest: a digest HGS keeps no log for is answered
 * "tcglog_wanted" (no decision, nothing recorded, the nonce still unused,
 * so the same request with the log passes); a digest of a log HGS read
 * passes without the log, with the log's size in the trace; a request with
 * both or a digest that is not one is malformed.
 */
static void test_log_by_digest(void **state)
{
	struct host *h = host_boot(&fx->a, "baseline");
	unsigned char digest[HL_SHA256_LEN];
	char hex[HL_SHA256_HEX_SIZE], size[64];
	json_t *body, *r, *log = NULL;
	const char *trace_text;
	size_t before;
	char *trace = NULL;

	(void)state;
	host_activate(h);
	before = log_entries(h->name);
	/* a log this node does not keep: its digest with one bit flipped */
	assert_ok(hl_crypto_sha256(h->mb->log, h->mb->log_len, digest));
	digest[0] ^= 1;
	assert_ok(hl_crypto_hex_encode(digest, sizeof(digest), hex, sizeof(hex)));
	body = attest_body(h, &fx->a.ak, h->mb->log, h->mb->log_len, HOSTS_QUOTE_PCRS);
	assert_int_equal(json_object_del(body, "tcglog"), 0);
	json_object_set_new(body, "tcglog_sha256", json_string(hex));
	r = post_json("/Attestation/v1/tpm/attest", body);
	assert_true(json_is_true(json_object_get(r, "tcglog_wanted")));
	assert_null(json_object_get(r, "status"));
	json_decref(r);
	assert_int_equal(log_entries(h->name), before);
	/* the same nonce with the log itself */
	assert_int_equal(json_object_del(body, "tcglog_sha256"), 0);
	set_b64(body, "tcglog", h->mb->log, h->mb->log_len);
	r = post_json("/Attestation/v1/tpm/attest", body);
	expect_json(r, "Passed", NULL, NULL);
	json_decref(r);
	json_decref(body);
	assert_int_equal(log_entries(h->name), before + 1);

	/* the log's own digest (lowercase) with a fresh nonce: no log sent */
	digest[0] ^= 1;
	assert_ok(hl_crypto_hex_encode(digest, sizeof(digest), hex, sizeof(hex)));
	for (char *p = hex; *p; p++)
		if (*p >= 'A' && *p <= 'F')
			*p = (char)(*p - 'A' + 'a');
	body = attest_body(h, &fx->a.ak, h->mb->log, h->mb->log_len, HOSTS_QUOTE_PCRS);
	assert_int_equal(json_object_del(body, "tcglog"), 0);
	json_object_set_new(body, "tcglog_sha256", json_string(hex));
	r = post_json("/Attestation/v1/tpm/attest", body);
	expect_json(r, "Passed", NULL, NULL);
	json_decref(r);
	assert_int_equal(log_entries(h->name), before + 2);
	assert_ok(hgs_db_attest_log_list(fx->node, h->name, 1, &log));
	assert_ok(hl_json_dump(json_object_get(json_array_get(log, 0), "Trace"), &trace));
	snprintf(size, sizeof(size), "TCG log (%zu bytes)", h->mb->log_len);
	trace_text = trace;
	if (!strstr(trace_text, size))
		fail_msg("trace lacks '%s': %s", size, trace_text);
	free(trace);
	json_decref(log);

	/* both, or a digest that is not one: malformed (400), recorded */
	set_b64(body, "tcglog", h->mb->log, h->mb->log_len);
	{
		char *text = NULL;

		assert_ok(hl_json_dump(body, &text));
		assert_int_equal(post_raw("/Attestation/v1/tpm/attest", text, strlen(text), &r), 400);
		assert_non_null(strstr(json_string_value(json_object_get(r, "error")), "not both"));
		json_decref(r);
		free(text);
		assert_int_equal(json_object_del(body, "tcglog"), 0);
		json_object_set_new(body, "tcglog_sha256", json_string("00ff"));
		assert_ok(hl_json_dump(body, &text));
		assert_int_equal(post_raw("/Attestation/v1/tpm/attest", text, strlen(text), &r), 400);
		assert_non_null(strstr(json_string_value(json_object_get(r, "error")),
				       "64 hex digits"));
		json_decref(r);
		free(text);
	}
	json_decref(body);
	assert_int_equal(log_entries(h->name), before + 4);
}

/* Invariant: the AK-to-EK binding proven once is pinned; no other AK is accepted later. */
static void test_swapped_ak(void **state)
{
	struct host *h = host_boot(&fx->a, "baseline");
	struct hosts_hgs_decision d;
	int bound = 1;

	(void)state;
	host_activate(h);
	/* activation of a second AK of the same TPM */
	h->t.ak = &fx->a.ak2;
	assert_ok(hosts_hgs_activate(&fx->conn, &h->t, &d));
	expect(&d, "UnauthorizedHost", NULL, "is pinned");
	hosts_hgs_decision_release(&d);
	/* attestation with it, through the client (which retries activation once) */
	attest(h, &bound, &d);
	expect(&d, "UnauthorizedHost", NULL, "is pinned");
	hosts_hgs_decision_release(&d);
	/* and by hand: a genuine quote by the other AK */
	attest_by_hand(h, &fx->a.ak2, h->mb->log, h->mb->log_len, "UnauthorizedHost", NULL,
		       "is pinned");
	/* the pinned AK still passes */
	h->t.ak = &fx->a.ak;
	attest(h, &bound, &d);
	expect(&d, "Passed", NULL, NULL);
	hosts_hgs_decision_release(&d);
}

/* Invariant: the log is trusted only through its replay: another boot's log is refused. */
static void test_log_does_not_replay(void **state)
{
	struct host *h = host_boot(&fx->a, "baseline");
	struct hl_measured_boot *other = NULL;
	struct hosts_hgs_decision d;
	struct hl_profile p;
	int bound = 0;

	(void)state;
	assert_ok(host_register(h, h->name, 0));
	/* the log of a debug boot, while the TPM measured the baseline one: it claims less */
	assert_ok(hl_profile_parse("baseline,iommu=off", &p));
	assert_ok(hl_measured_boot_build(&p, &other));
	h->t.tcglog = other->log;
	h->t.tcglog_len = other->log_len;
	attest(h, &bound, &d);
	expect(&d, "InsecureHostConfiguration", "TcgLogVerification",
	       "does not replay to the quoted PCRs");
	hosts_hgs_decision_release(&d);
	/*
	 * HGS remembers a log that parses and replays by its bytes (hgs/attest_tpm.c):
	 * the same log again is still checked against the quote, and refused
	 */
	attest(h, &bound, &d);
	expect(&d, "InsecureHostConfiguration", "TcgLogVerification",
	       "does not replay to the quoted PCRs");
	hosts_hgs_decision_release(&d);
	/* and the genuine log, remembered or not, passes */
	h->t.tcglog = h->mb->log;
	h->t.tcglog_len = h->mb->log_len;
	for (int i = 0; i < 2; i++) {
		attest(h, &bound, &d);
		expect(&d, "Passed", NULL, NULL);
		hosts_hgs_decision_release(&d);
	}
	hl_measured_boot_free(other);
}

/*
 * Invariant: event types are not covered by the digests, so decisions rest
 * on digests: a relabelled event changes nothing; event data that must hash
 * to its digest is checked.
 */
static void test_relabelled_event(void **state)
{
	struct host *h = host_boot(&fx->a, "baseline,debug=on");
	size_t toff, doff, dlen;
	uint8_t *log;

	(void)state;
	host_activate(h);
	log = malloc(h->mb->log_len);
	assert_non_null(log);
	/* the debug boot as it is: DebugMode */
	attest_by_hand(h, &fx->a.ak, h->mb->log, h->mb->log_len, "InsecureHostConfiguration",
		       "DebugMode", NULL);
	/* its boot-debugging tagged event relabelled EV_POST_CODE: still DebugMode */
	memcpy(log, h->mb->log, h->mb->log_len);
	relabel(log, h->mb->log_len, 12, HL_EV_EVENT_TAG, HL_EV_POST_CODE);
	attest_by_hand(h, &fx->a.ak, log, h->mb->log_len, "InsecureHostConfiguration", "DebugMode",
		       NULL);
	/* every tagged event of PCR 12 relabelled: the same */
	for (;;) {
		struct hl_tcglog *l = NULL;
		int left = 0;

		assert_ok(hl_tcglog_parse(log, h->mb->log_len, &l));
		for (size_t i = 0; i < l->nevents; i++)
			left += l->events[i].pcr == 12 && l->events[i].type == HL_EV_EVENT_TAG;
		hl_tcglog_free(l);
		if (!left)
			break;
		relabel(log, h->mb->log_len, 12, HL_EV_EVENT_TAG, HL_EV_IPL);
	}
	attest_by_hand(h, &fx->a.ak, log, h->mb->log_len, "InsecureHostConfiguration", "DebugMode",
		       NULL);
	/* must-hash data changed, digest kept (so it still replays): TcgLogVerification */
	memcpy(log, h->mb->log, h->mb->log_len);
	find_event(log, h->mb->log_len, 4, HL_EV_EFI_ACTION, &toff, &doff, &dlen);
	assert_true(dlen > 0);
	log[doff] ^= 0x20;
	attest_by_hand(h, &fx->a.ak, log, h->mb->log_len, "InsecureHostConfiguration",
		       "TcgLogVerification", NULL);
	free(log);
}

/* A relabelled event in a healthy boot: still Passed. */
static void test_relabelled_event_baseline(void **state)
{
	struct host *h = host_boot(&fx->a, "baseline");
	uint8_t *log;

	(void)state;
	host_activate(h);
	log = malloc(h->mb->log_len);
	assert_non_null(log);
	memcpy(log, h->mb->log, h->mb->log_len);
	relabel(log, h->mb->log_len, 4, HL_EV_EFI_BOOT_SERVICES_APPLICATION, HL_EV_POST_CODE);
	attest_by_hand(h, &fx->a.ak, log, h->mb->log_len, "Passed", NULL, NULL);
	free(log);
}

/* Invariant: an unregistered EK is refused, at activation and at attestation. */
static void test_unregistered_ek(void **state)
{
	struct host *h = host_boot(&fx->a, "baseline");
	struct hosts_hgs_decision d;
	json_t *log = NULL;
	int bound = 0;

	(void)state;
	attest(h, &bound, &d);
	expect(&d, "UnauthorizedHost", NULL, "is not registered");
	assert_non_null(strstr(d.reason, "add-tpm-host"));
	assert_int_equal(bound, 0);
	hosts_hgs_decision_release(&d);
	/* a client that believes itself bound gets the same answer from /attest */
	bound = 1;
	attest(h, &bound, &d);
	expect(&d, "UnauthorizedHost", NULL, "add-tpm-host");
	hosts_hgs_decision_release(&d);
	/* both refusals are in the attestation log */
	assert_ok(hgs_db_attest_log_list(fx->node, "FabricHost1", 2, &log));
	assert_int_equal(json_array_size(log), 2);
	for (size_t i = 0; i < 2; i++) {
		const char *st = NULL, *mode = NULL;

		assert_ok(hl_json_get_string(json_array_get(log, i), "Status", &st));
		assert_ok(hl_json_get_string(json_array_get(log, i), "Mode", &mode));
		assert_string_equal(st, "UnauthorizedHost");
		assert_string_equal(mode, "tpm");
	}
	json_decref(log);
}

/* Invariant: an EK certificate from another CA is refused. */
static void test_ek_cert_other_ca(void **state)
{
	struct host *h = host_boot(&fx->b, "baseline");
	struct hosts_hgs_decision d;
	int bound = 0;

	(void)state;
	/* add-tpm-host refuses it without --force */
	assert_int_equal(host_register(h, h->name, 0), -1);
	assert_error_has("does not chain");
	/* a host registered while its vendor was trusted, whose CA is then withdrawn */
	assert_ok(hgs_db_set_vendor_ca(fx->node, fx->vendor_b_pem));
	assert_ok(host_register(h, h->name, 0));
	attest(h, &bound, &d);
	expect(&d, "Passed", NULL, NULL);
	hosts_hgs_decision_release(&d);
	assert_ok(hgs_db_set_vendor_ca(fx->node, fx->vendor_a_pem));
	attest(h, &bound, &d);
	expect(&d, "UnauthorizedHost", NULL, "does not chain to this HGS's TPM vendor CA");
	hosts_hgs_decision_release(&d);
	assert_ok(hosts_hgs_activate(&fx->conn, &h->t, &d));
	expect(&d, "UnauthorizedHost", NULL, "does not chain");
	hosts_hgs_decision_release(&d);
	/* added with --force, as HGS allows, its EK is trusted as given */
	assert_ok(hgs_db_reg_remove(fx->node, HGS_REG_TPM_HOST, h->name));
	assert_ok(host_register(h, h->name, 1));
	bound = 0;
	attest(h, &bound, &d);
	expect(&d, "Passed", NULL, NULL);
	hosts_hgs_decision_release(&d);
}

/* A debug=on host fails with DebugMode through the whole TPM path. */
static void test_debug_mode(void **state)
{
	struct host *h = host_boot(&fx->a, "baseline,debug=on");
	struct hosts_hgs_decision d;
	int bound = 0;

	(void)state;
	assert_ok(host_register(h, h->name, 0));
	attest(h, &bound, &d);
	expect(&d, "InsecureHostConfiguration", "DebugMode", "debug");
	assert_null(d.health_cert_pem);
	hosts_hgs_decision_release(&d);
}

/* The credential activation exchange itself: a wrong answer, a reused challenge, the name. */
static void test_activation_challenge(void **state)
{
	struct host *h = host_boot(&fx->a, "baseline");
	struct hl_buf pem = { 0 };
	json_t *req, *r, *ans;
	const char *kind, *id;
	char idcopy[64];

	(void)state;
	assert_ok(host_register(h, h->name, 0));
	assert_ok(hosts_ek_pem(fx->a.ek, &pem, NULL));
	req = json_pack("{s:s, s:s}", "host", h->name, "ek_public", (char *)pem.data);
	set_b64(req, "ak", fx->a.ak.pub.data, fx->a.ak.pub.len);
	r = post_json("/Attestation/v1/tpm/activate", req);
	assert_ok(hl_json_get_string(r, "activation", &kind));
	assert_string_equal(kind, "challenge");
	assert_ok(hl_json_get_string(r, "challenge", &id));
	snprintf(idcopy, sizeof(idcopy), "%s", id);
	json_decref(r);
	/* a host that cannot open the credential guesses: refused, and the challenge is gone */
	ans = json_pack("{s:s, s:s, s:s}", "host", h->name, "challenge", idcopy, "secret",
			"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");
	r = post_json("/Attestation/v1/tpm/activate/complete", ans);
	expect_json(r, "UnauthorizedHost", NULL, "is wrong");
	json_decref(r);
	r = post_json("/Attestation/v1/tpm/activate/complete", ans);
	expect_json(r, "UnauthorizedHost", NULL, "unknown or was already answered");
	json_decref(r);
	json_decref(ans);
	/* the name in the request must be the one the EK is registered for */
	json_object_set_new(req, "host", json_string("OtherName"));
	r = post_json("/Attestation/v1/tpm/activate", req);
	expect_json(r, "UnauthorizedHost", NULL, "is registered for host 'FabricHost1'");
	json_decref(r);
	/* an AK that is not a restricted signing key: the transport key */
	json_object_set_new(req, "host", json_string(h->name));
	set_b64(req, "ak", fx->a.tk.pub.data, fx->a.tk.pub.len);
	r = post_json("/Attestation/v1/tpm/activate", req);
	expect_json(r, "TpmError", NULL, "cannot be used");
	json_decref(r);
	json_decref(req);
	hl_buf_free(&pem);
}

/* Outside input: malformed bodies get 400, malformed TPM evidence a TpmError decision. */
static void test_garbage(void **state)
{
	static const char *const paths[] = {
		"/Attestation/v1/tpm/attest", "/Attestation/v1/tpm/activate",
		"/Attestation/v1/tpm/activate/complete",
	};
	static const char *const bodies[] = {
		"", "{", "[]", "null", "\"x\"", "{\"host\": 5}", "{\"host\": \"FabricHost1\"}",
		"{\"host\": \"FabricHost1\", \"nonce\": \"!!!\", \"ak\": \"AA==\"}",
		"{\"host\": \"\", \"ek_public\": \"x\", \"ak\": \"AA==\"}",
		"{\"host\": \"FabricHost1\", \"ek_public\": \"not pem\", \"ak\": \"AA==\"}",
		"{\"host\": \"FabricHost1\", \"challenge\": \"abc\", \"secret\": \"AA==\"}",
	};
	struct host *h = host_boot(&fx->a, "baseline");
	const char *fields[] = { "ak", "quote", "quote_signature", "transport_key", "certify",
				 "certify_signature" };
	struct hosts_hgs_decision d;
	json_t *body, *r;
	char *text = NULL;
	int bound = 1;

	(void)state;
	for (size_t p = 0; p < sizeof(paths) / sizeof(paths[0]); p++)
		for (size_t b = 0; b < sizeof(bodies) / sizeof(bodies[0]); b++) {
			long st = post_raw(paths[p], bodies[b], strlen(bodies[b]), NULL);

			if (st != 400)
				fail_msg("%s with body '%s' answered %ld, not 400", paths[p],
					 bodies[b], st);
		}
	host_activate(h);
	/* a genuine request cut short */
	body = attest_body(h, &fx->a.ak, h->mb->log, h->mb->log_len, HOSTS_QUOTE_PCRS);
	assert_ok(hl_json_dump(body, &text));
	for (size_t cut = 1; cut < strlen(text); cut += strlen(text) / 7)
		assert_int_equal(post_raw("/Attestation/v1/tpm/attest", text, cut, NULL), 400);
	free(text);
	json_decref(body);
	/* each TPM structure truncated or garbage, with a fresh nonce: TpmError */
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		unsigned char *raw = NULL;
		size_t len = 0;

		body = attest_body(h, &fx->a.ak, h->mb->log, h->mb->log_len, HOSTS_QUOTE_PCRS);
		assert_ok(hl_json_get_base64(body, fields[i], &raw, &len));
		set_b64(body, fields[i], raw, len - 3);
		r = post_json("/Attestation/v1/tpm/attest", body);
		expect_json(r, "TpmError", NULL, NULL);
		json_decref(r);
		free(raw);
		json_decref(body);
		body = attest_body(h, &fx->a.ak, h->mb->log, h->mb->log_len, HOSTS_QUOTE_PCRS);
		set_b64(body, fields[i], "\x00\x01garbage", 9);
		r = post_json("/Attestation/v1/tpm/attest", body);
		expect_json(r, "TpmError", NULL, NULL);
		json_decref(r);
		json_decref(body);
	}
	/* a truncated or garbage TCG log: TcgLogVerification */
	attest_by_hand(h, &fx->a.ak, h->mb->log, h->mb->log_len - 5, "InsecureHostConfiguration",
		       "TcgLogVerification", NULL);
	attest_by_hand(h, &fx->a.ak, "garbage", 7, "InsecureHostConfiguration",
		       "TcgLogVerification", NULL);
	/* a quote of too few PCRs */
	h->t.pcr_mask = 0xff;
	attest(h, &bound, &d);
	expect(&d, "TpmError", NULL, "needs at least PCRs 0-7 and 11-14");
	hosts_hgs_decision_release(&d);
	/* the server is still well */
	h->t.pcr_mask = 0;
	attest(h, &bound, &d);
	expect(&d, "Passed", NULL, NULL);
	hosts_hgs_decision_release(&d);
}

/* GET info, and the host-key client against a node in host-key mode. */
static void test_info_and_hostkey(void **state)
{
	struct host *h = host_boot(&fx->a, "baseline");
	struct hosts_hgs_info info;
	struct hosts_hgs_decision d;
	struct hl_buf tk_pem = { 0 };
	EVP_PKEY *key = NULL, *other = NULL, *tk = NULL;
	int bound = 0;

	(void)state;
	assert_ok(hosts_hgs_get_info(&fx->conn, &info));
	assert_int_equal(info.protocol, 1);
	assert_string_equal(info.name, "MyHgsService");
	assert_string_equal(info.mode, "tpm");
	assert_string_equal(info.operation_mode, "TrustTpm");
	assert_non_null(info.signer_cert_pem);
	hosts_hgs_info_release(&info);

	assert_ok(hgs_db_set_trust(fx->node, HGS_MODE_HOSTKEY));
	assert_ok(hosts_hgs_get_info(&fx->conn, &info));
	assert_string_equal(info.mode, "hostkey");
	hosts_hgs_info_release(&info);
	assert_ok(hl_key_generate(HL_KEY_EC_P256, &key));
	assert_ok(hl_key_generate(HL_KEY_EC_P256, &other));
	assert_ok(hgs_db_host_key_add(fx->node, "FabricHost1", key));
	assert_ok(hosts_tpm_key_pem(&fx->a.tk, &tk_pem));
	assert_ok(hl_key_pub_from_pem(tk_pem.data, tk_pem.len, &tk));
	assert_ok(hosts_hgs_attest_hostkey(&fx->conn, "FabricHost1", key, tk, &d));
	expect(&d, "Passed", NULL, NULL);
	assert_string_equal(d.mode, "hostkey");
	hosts_hgs_decision_release(&d);
	assert_ok(hosts_hgs_attest_hostkey(&fx->conn, "FabricHost1", other, tk, &d));
	expect(&d, "UnauthorizedHost", NULL, "is not registered");
	hosts_hgs_decision_release(&d);
	/* TPM attestation while the node trusts host keys: refused, recorded */
	assert_ok(host_register(h, h->name, 0));
	attest(h, &bound, &d);
	expect(&d, "UnauthorizedHost", NULL, "hostkey mode");
	hosts_hgs_decision_release(&d);
	/* an unreachable HGS is an error, not a decision */
	{
		struct hosts_hgs_conn bad = { .url = "http://127.0.0.1:1", .timeout_ms = 2000 };

		assert_int_equal(hosts_hgs_get_info(&bad, &info), -1);
		assert_error_has("127.0.0.1:1");
	}
	hl_key_free(key);
	hl_key_free(other);
	hl_key_free(tk);
	hl_buf_free(&tk_pem);
}

/* The tests, in one group sharing the TPMs and the HGS node. */
int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_baseline_passed, test_teardown),
		cmocka_unit_test_teardown(test_replayed_nonce, test_teardown),
		cmocka_unit_test_teardown(test_log_by_digest, test_teardown),
		cmocka_unit_test_teardown(test_swapped_ak, test_teardown),
		cmocka_unit_test_teardown(test_log_does_not_replay, test_teardown),
		cmocka_unit_test_teardown(test_relabelled_event, test_teardown),
		cmocka_unit_test_teardown(test_relabelled_event_baseline, test_teardown),
		cmocka_unit_test_teardown(test_unregistered_ek, test_teardown),
		cmocka_unit_test_teardown(test_ek_cert_other_ca, test_teardown),
		cmocka_unit_test_teardown(test_debug_mode, test_teardown),
		cmocka_unit_test_teardown(test_activation_challenge, test_teardown),
		cmocka_unit_test_teardown(test_garbage, test_teardown),
		cmocka_unit_test_teardown(test_info_and_hostkey, test_teardown),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
