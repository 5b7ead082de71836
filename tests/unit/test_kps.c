/*
 * test_kps.c - the Key Protection Service (hgs/kps) with real parts: HGS
 * nodes made by hgs_node_create, one served in-process by
 * hgs_server_start over HTTP on loopback, key protectors made by
 * lib/keyprotector for an owner guardian and the HGS guardian, health
 * certificates issued by hgs_healthcert_issue for software RSA "transport
 * keys" whose private halves the test holds, so it can open what KPS
 * releases and compare the TK with the owner's.
 *
 * One test per invariant of DESIGN.md that KPS keeps: a release to a valid
 * health certificate of this HGS, wrapped to the key that certificate binds
 * (and to nothing the requester sends); each refusal of issue #4 with its
 * reason and its log entry (no certificate, expired, another HGS, issued
 * before the cut-off, KP not listing this HGS, owner signature broken by one
 * byte, guardian revoked, host failed attestation), the health certificate
 * refusals being exactly those of hgs_healthcert_verify (checked verdict by
 * verdict, including one signed by this HGS's signer for another HGS name);
 * certificate rotation (metadata hands out the new primary pair, an old
 * enabled certificate still releases, a disabled one is refused); malformed
 * KPs, certificates and bodies (truncated, random) answered 4xx with a
 * reason, never a crash.
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

#include "hgs/db.h"
#include "hgs/healthcert.h"
#include "hgs/kps.h"
#include "hgs/node.h"
#include "hgs/serve.h"
#include "hosts/tpm_host.h"
#include "lib/crypto.h"
#include "lib/fileio.h"
#include "lib/http.h"
#include "lib/json.h"
#include "proto/keyprotector.h"
#include "lib/log.h"
#include "tenant/guardian.h"
#include "tests/unit/testutil.h"

/* A guardian's key pairs (the owner's, made here). */
struct pair {
	EVP_PKEY *sk, *ek;
	X509 *sc, *ec;
};

struct fx {
	char sandbox[TU_SANDBOX_DIR];   /* first: the scratch folder (tu_sandbox_new) */
	char dir_a[128], dir_b[128], dir_c[128];
	struct hgs_node *a;        /* the HGS under test, served over HTTP */
	struct hgs_node *b;        /* another HGS of the same name */
	struct hgs_node *c;        /* the HGS whose certificates the rotation test changes */
	struct hgs_server *srv;
	char url[128];             /* .../KeyProtection/v1/release */
	char md_url[160];
	struct pair owner;
	X509 *a_sc, *a_ec, *b_sc, *b_ec;
	char a_enc_thumb[HL_SHA256_HEX_SIZE];
	EVP_PKEY *tk1, *tk2;       /* transport keys of FabricHost1 and FabricHost2 */
	struct hl_buf kp, tk;      /* a KP for Owner + MyHgsService (node a), and its TK */
};

static struct fx *F;

/* A self-signed RSA 2048 certificate CN for a new key. */
static int make_cert(const char *cn, EVP_PKEY **key, X509 **cert)
{
	struct hl_cert_spec spec = { 0 };
	time_t now = time(NULL);

	spec.cn = cn;
	spec.not_before = now - 3600;
	spec.not_after = now + 365L * 24 * 3600;
	spec.is_ca = 1;
	spec.path_len = 0;
	return hl_key_generate(HL_KEY_RSA2048, key) < 0 ||
	       hl_cert_issue_self_signed(&spec, *key, cert) < 0 ? -1 : 0;
}

/* OWNER as lib/keyprotector wants it. */
static struct hl_kp_owner owner_of(const struct pair *p)
{
	struct hl_kp_owner o = { "Owner", p->sc, p->sk, p->ec, p->ek };

	return o;
}

/* A KP for the owner and the N guardians named MyHgsService with certificates SC/EC. */
static int make_kp(X509 *sc, X509 *ec, struct hl_buf *kp, struct hl_buf *tk)
{
	struct hl_kp_owner o = owner_of(&F->owner);
	struct hl_kp_guardian g = { "MyHgsService", sc, ec };

	return hl_kp_create(&o, &g, sc ? 1 : 0, 0, kp, tk);
}

/* Everything the group shares. */
static int group_setup(void **state)
{
	unsigned short port;

	hl_log_set_stderr_level(HL_LOG_ERROR);
	if (!(F = tu_sandbox_new(sizeof(*F), "kps")))
		return -1;
	snprintf(F->dir_a, sizeof(F->dir_a), "%s/a", F->sandbox);
	snprintf(F->dir_b, sizeof(F->dir_b), "%s/b", F->sandbox);
	snprintf(F->dir_c, sizeof(F->dir_c), "%s/c", F->sandbox);
	if (tu_hgs_node(F->dir_a, HGS_MODE_TPM, &F->a) < 0 ||
	    tu_hgs_node(F->dir_b, HGS_MODE_TPM, &F->b) < 0 ||
	    tu_hgs_node(F->dir_c, HGS_MODE_TPM, &F->c) < 0 ||
	    hgs_node_keypair(F->a, HGS_KEY_KPS_SIGNING, &F->a_sc, NULL) < 0 ||
	    hgs_node_keypair(F->a, HGS_KEY_KPS_ENCRYPTION, &F->a_ec, NULL) < 0 ||
	    hgs_node_keypair(F->b, HGS_KEY_KPS_SIGNING, &F->b_sc, NULL) < 0 ||
	    hgs_node_keypair(F->b, HGS_KEY_KPS_ENCRYPTION, &F->b_ec, NULL) < 0 ||
	    hl_cert_thumbprint(F->a_ec, F->a_enc_thumb) < 0 ||
	    make_cert("Owner Signing", &F->owner.sk, &F->owner.sc) < 0 ||
	    make_cert("Owner Encryption", &F->owner.ek, &F->owner.ec) < 0 ||
	    hl_key_generate(HL_KEY_RSA2048, &F->tk1) < 0 ||
	    hl_key_generate(HL_KEY_RSA2048, &F->tk2) < 0 ||
	    make_kp(F->a_sc, F->a_ec, &F->kp, &F->tk) < 0 ||
	    hgs_server_start(F->a, "127.0.0.1", 0, &F->srv) < 0) {
		fprintf(stderr, "setup: %s\n", hl_error_last());
		return -1;
	}
	port = hgs_server_port(F->srv);
	snprintf(F->url, sizeof(F->url), "http://127.0.0.1:%u%s", port, HGS_KPS_RELEASE_PATH);
	snprintf(F->md_url, sizeof(F->md_url), "http://127.0.0.1:%u%s", port,
		 HGS_KPS_METADATA_PATH);
	*state = F;
	return 0;
}

/* Stop the server, remove everything. */
static int group_teardown(void **state)
{
	(void)state;
	hgs_server_stop(F->srv);
	hgs_node_close(F->a);
	hgs_node_close(F->b);
	hgs_node_close(F->c);
	hl_cert_free(F->a_sc);
	hl_cert_free(F->a_ec);
	hl_cert_free(F->b_sc);
	hl_cert_free(F->b_ec);
	hl_key_free(F->owner.sk);
	hl_key_free(F->owner.ek);
	hl_cert_free(F->owner.sc);
	hl_cert_free(F->owner.ec);
	hl_key_free(F->tk1);
	hl_key_free(F->tk2);
	hl_buf_free(&F->kp);
	hl_buf_free(&F->tk);
	tu_sandbox_free(F);
	return 0;
}

/* A health certificate from node N for HOST binding TK; Passed unless STATUS says otherwise. */
static X509 *issue(struct hgs_node *n, const char *host, EVP_PKEY *tk, enum hgs_status status)
{
	struct hgs_config cfg;
	struct hgs_result res;
	struct hl_buf der = { NULL, 0 };
	X509 *c = NULL;

	if (status == HGS_STATUS_PASSED)
		hgs_result_pass(&res);
	else
		hgs_result_fail(&res, status, 0, "debug mode is on");
	if (hgs_db_config_get(n, &cfg) < 0 ||
	    hgs_healthcert_issue(n, &cfg, host, HGS_MODE_TPM, &res, tk, &der, NULL) < 0 ||
	    hl_cert_from_der(der.data, der.len, &c) < 0)
		fail_msg("issue: %s", hl_error_last());
	hl_buf_free(&der);
	return c;
}

/* CERT as PEM (malloc'd string). */
static char *pem_of(const X509 *cert)
{
	struct hl_buf b = { 0 };
	char *s;

	assert_ok(hl_cert_to_pem(cert, &b));
	s = strdup((char *)b.data);
	hl_buf_free(&b);
	return s;
}

/* A release body: KP bytes as base64, CERT as PEM (or no member when NULL). */
static json_t *body_of(const void *kp, size_t kp_len, const X509 *cert)
{
	json_t *o = json_object();
	char *pem;

	assert_non_null(o);
	assert_ok(hl_json_set_base64(o, "key_protector", kp, kp_len));
	if (cert) {
		pem = pem_of(cert);
		json_object_set_new(o, "health_certificate", json_string(pem));
		free(pem);
	}
	return o;
}

/* POST raw BODY to the release route; the reply's JSON into *OUT; the HTTP status. */
static long post_raw(const void *body, size_t len, json_t **out)
{
	struct hl_http_reply r = { 0 };
	long status;

	*out = NULL;
	assert_ok(hl_http_post(F->url, "application/json", body, len, NULL, &r));
	status = r.status;
	if (hl_json_parse(r.body, r.body_len, 0, out) < 0)
		fail_msg("reply %ld is not JSON: %.200s", status, r.body);
	hl_http_reply_release(&r);
	return status;
}

/* POST the JSON object O (consumed) to the release route. */
static long post(json_t *o, json_t **out)
{
	char *text = NULL;
	long status;

	assert_ok(hl_json_dump(o, &text));
	json_decref(o);
	status = post_raw(text, strlen(text), out);
	free(text);
	return status;
}

/* The string member KEY of O, or "". */
static const char *str(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "";
}

/* Open REPLY's wrapped_tk with transport key TK: 0 when it opens, into OUT. */
static int open_tk(const json_t *reply, EVP_PKEY *tk, struct hl_buf *out)
{
	unsigned char *w = NULL;
	size_t wlen = 0;
	int rc;

	assert_ok(hl_json_get_base64(reply, "wrapped_tk", &w, &wlen));
	rc = hl_crypto_oaep_unwrap(tk, HOSTS_TK_OAEP_LABEL, sizeof(HOSTS_TK_OAEP_LABEL), w, wlen,
				   out);
	free(w);
	return rc;
}

/* The last entry of node N's key protection log (a new reference). */
static json_t *last_log(struct hgs_node *n)
{
	json_t *rows = NULL, *e;

	assert_ok(hgs_db_kps_log_list(n, NULL, 1, &rows));
	assert_int_equal(json_array_size(rows), 1);
	e = json_incref(json_array_get(rows, 0));
	json_decref(rows);
	return e;
}

/* Check the last log entry of N: RESULT, REASON, HOST ("" = null) and the KP id of KP (or none). */
static void check_log(struct hgs_node *n, const char *result, const char *reason,
		      const char *host, const char *kp_id)
{
	json_t *e = last_log(n);

	assert_string_equal(str(e, "Result"), result);
	assert_string_equal(str(e, "Reason"), reason);
	assert_string_equal(str(e, "Host"), host);
	assert_string_equal(str(e, "KeyProtector"), kp_id ? kp_id : "");
	if (kp_id)
		assert_string_equal(str(e, "Owner"), "Owner");
	assert_true(strlen(str(e, "Time")) == 20);
	assert_true(json_is_integer(json_object_get(e, "HttpStatus")));
	json_decref(e);
}

/* The id of KP bytes. */
static void kp_id_of(const struct hl_buf *kp, char id[HL_KP_ID_SIZE])
{
	struct hl_kp *p = NULL;

	assert_ok(hl_kp_parse(kp->data, kp->len, &p));
	snprintf(id, HL_KP_ID_SIZE, "%s", p->id);
	hl_kp_free(p);
}

/*
 * POST KP + CERT and expect a refusal: HTTP STATUS, REASON, a message
 * containing NEEDLE, and a matching log entry.
 */
static void expect_refusal(const struct hl_buf *kp, const X509 *cert, long status,
			   const char *reason, const char *needle, const char *host)
{
	char id[HL_KP_ID_SIZE];
	json_t *r = NULL;

	kp_id_of(kp, id);
	assert_int_equal(post(body_of(kp->data, kp->len, cert), &r), status);
	assert_string_equal(str(r, "reason"), reason);
	if (!strstr(str(r, "error"), needle))
		fail_msg("message '%s' lacks '%s'", str(r, "error"), needle);
	assert_null(json_object_get(r, "wrapped_tk"));
	json_decref(r);
	check_log(F->a, "Refused", reason, host, id);
}

/* ---- metadata ---- */

/* The metadata route serves the primary pair in the documented shape the tenant reads. */
static void test_metadata(void **state)
{
	struct hl_guardian_metadata *md = NULL;
	struct hl_http_reply r = { 0 };
	char t1[HL_SHA256_HEX_SIZE], t2[HL_SHA256_HEX_SIZE], t3[HL_SHA256_HEX_SIZE];

	(void)state;
	assert_ok(hl_http_get(F->md_url, NULL, &r));
	assert_int_equal(r.status, 200);
	assert_string_equal(r.content_type, "application/xml");
	assert_non_null(strstr(r.body, "<GuardianMetadata xmlns=\"urn:hgslab:guardian-metadata:2014-07\" "
				       "Version=\"1\">"));
	assert_ok(hl_guardian_metadata_parse(r.body, r.body_len, &md));
	assert_string_equal(md->name, "MyHgsService");
	assert_ok(hl_cert_thumbprint(md->signing_cert, t1));
	assert_ok(hl_cert_thumbprint(F->a_sc, t2));
	assert_string_equal(t1, t2);
	assert_ok(hl_cert_thumbprint(md->encryption_cert, t3));
	assert_string_equal(t3, F->a_enc_thumb);
	hl_guardian_metadata_free(md);
	hl_http_reply_release(&r);
}

/* ---- releases ---- */

/* A Passed host gets the owner's TK, wrapped to its transport key with "HGSLAB-TK\0". */
static void test_release(void **state)
{
	X509 *hc = issue(F->a, "FabricHost1", F->tk1, HGS_STATUS_PASSED);
	struct hl_buf tk = { 0 };
	char id[HL_KP_ID_SIZE], fp[HL_SHA256_HEX_SIZE], thumb[HL_SHA256_HEX_SIZE];
	unsigned char *w = NULL;
	size_t wlen = 0;
	json_t *r = NULL, *e;

	(void)state;
	kp_id_of(&F->kp, id);
	assert_int_equal(post(body_of(F->kp.data, F->kp.len, hc), &r), 200);
	assert_true(json_is_true(json_object_get(r, "released")));
	assert_string_equal(str(r, "key_protector"), id);
	assert_string_equal(str(r, "owner"), "Owner");
	assert_string_equal(str(r, "host"), "FabricHost1");
	assert_string_equal(str(r, "encryption_certificate"), F->a_enc_thumb);
	assert_ok(hl_key_fingerprint(F->tk1, fp));
	assert_string_equal(str(r, "transport_key"), fp);
	assert_ok(hl_cert_thumbprint(hc, thumb));
	assert_string_equal(str(r, "health_certificate"), thumb);
	assert_ok(open_tk(r, F->tk1, &tk));
	assert_int_equal(tk.len, F->tk.len);
	assert_memory_equal(tk.data, F->tk.data, tk.len);
	hl_buf_free(&tk);
	/* the NUL is part of the label: without it the TK does not open */
	assert_ok(hl_json_get_base64(r, "wrapped_tk", &w, &wlen));
	assert_int_equal(hl_crypto_oaep_unwrap(F->tk1, "HGSLAB-TK", 9, w, wlen, &tk), -1);
	free(w);
	json_decref(r);
	e = last_log(F->a);
	assert_string_equal(str(e, "Result"), "Released");
	assert_string_equal(str(e, "Reason"), "");
	assert_string_equal(str(e, "Host"), "FabricHost1");
	assert_string_equal(str(e, "KeyProtector"), id);
	assert_string_equal(str(e, "Owner"), "Owner");
	assert_string_equal(str(e, "EncryptionCertificate"), F->a_enc_thumb);
	assert_string_equal(str(e, "HealthCertificate"), thumb);
	assert_int_equal(json_integer_value(json_object_get(e, "HttpStatus")), 200);
	json_decref(e);
	hl_cert_free(hc);
}

/* The KP may come as its JSON object, the health certificate as base64 DER. */
static void test_release_forms(void **state)
{
	X509 *hc = issue(F->a, "FabricHost1", F->tk1, HGS_STATUS_PASSED);
	struct hl_buf der = { 0 }, tk = { 0 };
	json_t *o = json_object(), *kpdoc = NULL, *r = NULL;

	(void)state;
	assert_ok(hl_json_parse(F->kp.data, F->kp.len, 0, &kpdoc));
	json_object_set_new(o, "key_protector", kpdoc);
	assert_ok(hl_cert_to_der(hc, &der));
	assert_ok(hl_json_set_base64(o, "health_certificate", der.data, der.len));
	assert_int_equal(post(o, &r), 200);
	assert_ok(open_tk(r, F->tk1, &tk));
	assert_memory_equal(tk.data, F->tk.data, tk.len);
	hl_buf_free(&tk);
	hl_buf_free(&der);
	json_decref(r);
	hl_cert_free(hc);
}

/*
 * The TK is wrapped to the key the health certificate binds and to nothing
 * the requester sends: a "transport_key" of its own is ignored, and
 * FabricHost2 replaying FabricHost1's certificate gets a TK only
 * FabricHost1's key opens.
 */
static void test_wrapped_to_certificate_key(void **state)
{
	X509 *hc1 = issue(F->a, "FabricHost1", F->tk1, HGS_STATUS_PASSED);
	struct hl_buf pub = { 0 }, tk = { 0 };
	char id[HL_KP_ID_SIZE];
	json_t *o, *r = NULL;

	(void)state;
	kp_id_of(&F->kp, id);
	o = body_of(F->kp.data, F->kp.len, hc1);
	assert_ok(hl_key_pub_to_pem(F->tk2, &pub));
	json_object_set_new(o, "transport_key", json_string((char *)pub.data));
	json_object_set_new(o, "host", json_string("FabricHost2"));
	assert_int_equal(post(o, &r), 200);
	assert_string_equal(str(r, "host"), "FabricHost1");
	assert_int_equal(open_tk(r, F->tk2, &tk), -1);
	assert_ok(open_tk(r, F->tk1, &tk));
	assert_memory_equal(tk.data, F->tk.data, tk.len);
	hl_buf_free(&tk);
	hl_buf_free(&pub);
	json_decref(r);
	check_log(F->a, "Released", "", "FabricHost1", id);
	hl_cert_free(hc1);
}

/* ---- refusals ---- */

/* No health certificate (a host that never attested, or failed: it has none). */
static void test_refuse_no_certificate(void **state)
{
	json_t *o, *r = NULL;
	char id[HL_KP_ID_SIZE];

	(void)state;
	expect_refusal(&F->kp, NULL, 403, "NoHealthCertificate", "no health certificate", "");
	kp_id_of(&F->kp, id);
	o = body_of(F->kp.data, F->kp.len, NULL);
	json_object_set_new(o, "health_certificate", json_string(""));
	assert_int_equal(post(o, &r), 403);
	assert_string_equal(str(r, "reason"), "NoHealthCertificate");
	json_decref(r);
	check_log(F->a, "Refused", "NoHealthCertificate", "", id);
}

/* The health certificate is checked first: a bad one wins over a garbage KP, logged without a KP id. */
static void test_certificate_first(void **state)
{
	X509 *hc = issue(F->b, "FabricHost1", F->tk1, HGS_STATUS_PASSED);
	json_t *r = NULL;

	(void)state;
	assert_int_equal(post(body_of("garbage", 7, hc), &r), 403);
	assert_string_equal(str(r, "reason"), "UntrustedHealthCertificate");
	json_decref(r);
	check_log(F->a, "Refused", "UntrustedHealthCertificate", "FabricHost1", NULL);
	assert_int_equal(post(body_of("garbage", 7, NULL), &r), 403);
	assert_string_equal(str(r, "reason"), "NoHealthCertificate");
	assert_true(json_is_null(json_object_get(r, "key_protector")));
	json_decref(r);
	check_log(F->a, "Refused", "NoHealthCertificate", "", NULL);
	hl_cert_free(hc);
}

/* Expired at the node clock, and not yet valid. */
static void test_refuse_expired(void **state)
{
	X509 *hc = issue(F->a, "FabricHost1", F->tk1, HGS_STATUS_PASSED);

	(void)state;
	tu_set_clock_offset(F->dir_a, "32400");
	expect_refusal(&F->kp, hc, 403, "HealthCertificateExpired", "expired at", "FabricHost1");
	tu_set_clock_offset(F->dir_a, "-3600");
	expect_refusal(&F->kp, hc, 403, "HealthCertificateNotYetValid", "not valid before",
		       "FabricHost1");
	tu_set_clock_offset(F->dir_a, NULL);
	hl_cert_free(hc);
}

/* A health certificate from another HGS of the same name. */
static void test_refuse_other_hgs(void **state)
{
	X509 *hc = issue(F->b, "FabricHost1", F->tk1, HGS_STATUS_PASSED);

	(void)state;
	expect_refusal(&F->kp, hc, 403, "UntrustedHealthCertificate", "was not issued by this HGS",
		       "FabricHost1");
	hl_cert_free(hc);
}

/* Issued before the cut-off: refused; a certificate issued after it is fine. */
static void test_refuse_cutoff(void **state)
{
	X509 *old = issue(F->a, "FabricHost1", F->tk1, HGS_STATUS_PASSED), *fresh;
	json_t *r = NULL;
	time_t now;

	(void)state;
	assert_ok(hgs_node_now(F->a, &now));
	assert_ok(hgs_db_kps_cutoff_set(F->a, 1, now + 60));
	expect_refusal(&F->kp, old, 403, "HealthCertificateIssuedBeforeCutoff",
		       "denies health certificates issued before", "FabricHost1");
	tu_set_clock_offset(F->dir_a, "120");
	fresh = issue(F->a, "FabricHost1", F->tk1, HGS_STATUS_PASSED);
	assert_int_equal(post(body_of(F->kp.data, F->kp.len, fresh), &r), 200);
	json_decref(r);
	tu_set_clock_offset(F->dir_a, NULL);
	assert_ok(hgs_db_kps_cutoff_set(F->a, 0, 0));
	assert_int_equal(post(body_of(F->kp.data, F->kp.len, old), &r), 200);
	json_decref(r);
	hl_cert_free(old);
	hl_cert_free(fresh);
}

/* A KP that does not list this HGS: owner only, or made for another HGS's guardian. */
static void test_refuse_not_listed(void **state)
{
	X509 *hc = issue(F->a, "FabricHost1", F->tk1, HGS_STATUS_PASSED);
	struct hl_buf kp = { 0 }, tk = { 0 };

	(void)state;
	assert_ok(make_kp(NULL, NULL, &kp, &tk));
	expect_refusal(&kp, hc, 403, "GuardianNotListed", "does not list this HGS's guardian",
		       "FabricHost1");
	hl_buf_free(&kp);
	hl_buf_free(&tk);
	assert_ok(make_kp(F->b_sc, F->b_ec, &kp, &tk));
	expect_refusal(&kp, hc, 403, "GuardianNotListed", F->a_enc_thumb, "FabricHost1");
	hl_buf_free(&kp);
	hl_buf_free(&tk);
	hl_cert_free(hc);
}

/* Replace the base64 member NAME of KP document DOC after EDIT changes one byte of it. */
static void edit_member(const struct hl_buf *kp, const char *name, int in_id, struct hl_buf *out)
{
	json_t *doc = NULL;
	unsigned char *b = NULL;
	size_t len = 0;
	char *text = NULL, *p;

	assert_ok(hl_json_parse(kp->data, kp->len, 0, &doc));
	assert_ok(hl_json_get_base64(doc, name, &b, &len));
	if (in_id) {
		p = strstr((char *)b, "\"id\":\"");
		assert_non_null(p);
		p += 6;
		*p = *p == 'a' ? 'b' : 'a';
	} else {
		b[len - 1] ^= 0x01;
	}
	assert_ok(hl_json_set_base64(doc, name, b, len));
	assert_ok(hl_json_dump(doc, &text));
	out->data = (unsigned char *)text;
	out->len = strlen(text);
	free(b);
	json_decref(doc);
}

/* One byte changed in the signed body, or in the signature: the owner signature fails. */
static void test_refuse_owner_signature(void **state)
{
	X509 *hc = issue(F->a, "FabricHost1", F->tk1, HGS_STATUS_PASSED);
	struct hl_buf bad = { 0 };

	(void)state;
	edit_member(&F->kp, "body", 1, &bad);
	expect_refusal(&bad, hc, 403, "OwnerSignatureInvalid", "does not verify", "FabricHost1");
	free(bad.data);
	edit_member(&F->kp, "signature", 0, &bad);
	expect_refusal(&bad, hc, 403, "OwnerSignatureInvalid", "does not verify", "FabricHost1");
	free(bad.data);
	hl_cert_free(hc);
}

/* The owner revoked this HGS from the KP (Revoke-HgsKeyProtectorAccess). */
static void test_refuse_revoked(void **state)
{
	X509 *hc = issue(F->a, "FabricHost1", F->tk1, HGS_STATUS_PASSED);
	struct hl_kp_owner o = owner_of(&F->owner);
	struct hl_buf revoked = { 0 };
	struct hl_kp *kp = NULL;

	(void)state;
	assert_ok(hl_kp_parse(F->kp.data, F->kp.len, &kp));
	assert_ok(hl_kp_revoke(kp, &o, F->a_enc_thumb, &revoked));
	expect_refusal(&revoked, hc, 403, "GuardianNotListed", "revoked it", "FabricHost1");
	hl_buf_free(&revoked);
	hl_kp_free(kp);
	hl_cert_free(hc);
}

/* A certificate recording a failed attestation (HGS never issues one; this proves the check). */
static void test_refuse_failed_attestation(void **state)
{
	X509 *hc = issue(F->a, "FabricHost2", F->tk2, HGS_STATUS_INSECURE_HOST_CONFIGURATION);

	(void)state;
	expect_refusal(&F->kp, hc, 403, "HostFailedAttestation", "failed attestation",
		       "FabricHost2");
	hl_cert_free(hc);
}

/* A certificate that is not a health certificate at all. */
static void test_refuse_not_a_health_certificate(void **state)
{
	EVP_PKEY *k = NULL;
	X509 *c = NULL;

	(void)state;
	assert_ok(make_cert("FabricHost1", &k, &c));
	expect_refusal(&F->kp, c, 403, "NotAHealthCertificate", "not an HGS health certificate",
		       "FabricHost1");
	hl_key_free(k);
	hl_cert_free(c);
}

/*
 * A Passed health certificate for FabricHost1 signed by node N's attestation
 * signer but naming HGS NODE_NAME (what hgs_healthcert_issue never makes).
 */
static X509 *issue_for_hgs(struct hgs_node *n, const char *node_name)
{
	struct hl_cert_ext exts[4] = {
		{ HGS_OID_HC_MODE, HL_EXT_UTF8, "tpm", 3, 0 },
		{ HGS_OID_HC_STATUS, HL_EXT_UTF8, "Passed", 6, 0 },
		{ HGS_OID_HC_SUBSTATUS, HL_EXT_UTF8, "", 0, 0 },
		{ HGS_OID_HC_NODE, HL_EXT_UTF8, node_name, strlen(node_name), 0 },
	};
	struct hl_cert_spec spec = { 0 };
	X509 *c = NULL;

	spec.cn = "FabricHost1";
	spec.not_before = time(NULL) - 60;
	spec.not_after = time(NULL) + 3600;
	spec.path_len = -1;
	spec.key_usage = HL_KU_KEY_ENCIPHERMENT;
	spec.exts = exts;
	spec.n_exts = 4;
	assert_ok(hl_cert_issue(&spec, F->tk1, n->signer_cert, n->signer_key, &c));
	return c;
}

/*
 * KPS refuses a health certificate exactly when hgs_healthcert_verify()
 * (what test_healthcert tests) refuses it, with the reason its verdict
 * names and, for a certificate that is no health certificate or not this
 * HGS's, the verdict's own words in the message.  An expired certificate of
 * another HGS is called another HGS's.
 */
static void test_refusals_are_healthcert_verdicts(void **state)
{
	static const char *const reasons[] = {
		[HGS_HC_NOT_HEALTHCERT] = "NotAHealthCertificate",
		[HGS_HC_UNTRUSTED] = "UntrustedHealthCertificate",
		[HGS_HC_OTHER_HGS] = "UntrustedHealthCertificate",
		[HGS_HC_NOT_PASSED] = "HostFailedAttestation",
		[HGS_HC_NOT_YET_VALID] = "HealthCertificateNotYetValid",
		[HGS_HC_EXPIRED] = "HealthCertificateExpired",
	};
	struct bad_cert {
		X509 *cert;
		const char *offset;               /* node clock offset */
		enum hgs_healthcert_refusal want;
	} cases[7];
	struct hgs_healthcert_verdict v;
	EVP_PKEY *k = NULL;
	X509 *plain = NULL;
	char message[HL_ERROR_MAX];
	size_t n = 0;
	json_t *r = NULL;

	(void)state;
	assert_ok(make_cert("FabricHost1", &k, &plain));
	cases[n++] = (struct bad_cert){ plain, NULL, HGS_HC_NOT_HEALTHCERT };
	cases[n++] = (struct bad_cert){ issue(F->b, "FabricHost1", F->tk1, HGS_STATUS_PASSED),
					 NULL, HGS_HC_UNTRUSTED };
	cases[n++] = (struct bad_cert){ issue_for_hgs(F->a, "OtherHgs"), NULL, HGS_HC_OTHER_HGS };
	cases[n++] = (struct bad_cert){ issue(F->a, "FabricHost2", F->tk2,
					       HGS_STATUS_INSECURE_HOST_CONFIGURATION),
					 NULL, HGS_HC_NOT_PASSED };
	cases[n++] = (struct bad_cert){ issue(F->a, "FabricHost1", F->tk1, HGS_STATUS_PASSED),
					 "-3600", HGS_HC_NOT_YET_VALID };
	cases[n++] = (struct bad_cert){ issue(F->a, "FabricHost1", F->tk1, HGS_STATUS_PASSED),
					 "32400", HGS_HC_EXPIRED };
	cases[n++] = (struct bad_cert){ issue(F->b, "FabricHost1", F->tk1, HGS_STATUS_PASSED),
					 "32400", HGS_HC_UNTRUSTED };
	for (size_t i = 0; i < n; i++) {
		tu_set_clock_offset(F->dir_a, cases[i].offset);
		assert_int_equal(hgs_healthcert_verify(F->a, cases[i].cert, NULL, &v), -1);
		assert_int_equal(v.refusal, cases[i].want);
		snprintf(message, sizeof(message), "%s",
			 v.refusal == HGS_HC_OTHER_HGS ? hl_error_last() : v.detail);
		assert_int_equal(post(body_of(F->kp.data, F->kp.len, cases[i].cert), &r), 403);
		assert_string_equal(str(r, "reason"), reasons[v.refusal]);
		if (v.refusal <= HGS_HC_OTHER_HGS && !strstr(str(r, "error"), message))
			fail_msg("case %zu: message '%s' lacks the verdict '%s'", i, str(r, "error"),
				 message);
		json_decref(r);
		hl_cert_free(cases[i].cert);
	}
	tu_set_clock_offset(F->dir_a, NULL);
	hl_key_free(k);
}

/* ---- malformed input ---- */

/* Expect a 4xx with an error message for body BODY; REASON checked when not NULL. */
static void expect_bad(const void *body, size_t len, const char *reason)
{
	json_t *r = NULL;
	long status = post_raw(body, len, &r);

	if (status < 400 || status > 499)
		fail_msg("status %ld for a malformed request", status);
	assert_true(strlen(str(r, "error")) > 0);
	assert_null(strstr(str(r, "error"), "unknown error"));
	if (reason && strcmp(str(r, "reason"), reason) != 0)
		fail_msg("reason '%s', expected '%s' (%s)", str(r, "reason"), reason, str(r, "error"));
	json_decref(r);
}

/* Dump O (consumed) and expect_bad it. */
static void expect_bad_json(json_t *o, const char *reason)
{
	char *text = NULL;

	assert_ok(hl_json_dump(o, &text));
	json_decref(o);
	expect_bad(text, strlen(text), reason);
	free(text);
}

/* Truncated and random KPs, certificates and bodies: 4xx with a reason, never a crash. */
static void test_malformed(void **state)
{
	X509 *hc = issue(F->a, "FabricHost1", F->tk1, HGS_STATUS_PASSED);
	unsigned char rnd[1500];
	struct hl_buf der = { 0 };
	char *pem = pem_of(hc), *cut;
	size_t step = F->kp.len / 41 + 1;
	json_t *o, *r = NULL;

	(void)state;
	srand(4);
	/* truncated KPs */
	for (size_t n = 1; n < F->kp.len; n += step)
		expect_bad_json(body_of(F->kp.data, n, hc), "MalformedKeyProtector");
	expect_bad_json(body_of(F->kp.data, 0, hc), "MalformedRequest");
	/* random KPs */
	for (int i = 0; i < 40; i++) {
		size_t n = 1 + (size_t)rand() % sizeof(rnd);

		for (size_t k = 0; k < n; k++)
			rnd[k] = (unsigned char)rand();
		expect_bad_json(body_of(rnd, n, hc), "MalformedKeyProtector");
	}
	/* truncated and random certificates */
	assert_ok(hl_cert_to_der(hc, &der));
	for (size_t n = 1; n < der.len; n += der.len / 17 + 1) {
		o = body_of(F->kp.data, F->kp.len, NULL);
		assert_ok(hl_json_set_base64(o, "health_certificate", der.data, n));
		expect_bad_json(o, "MalformedHealthCertificate");
	}
	for (size_t n = 12; n < strlen(pem); n += 97) {
		cut = strndup(pem, n);
		o = body_of(F->kp.data, F->kp.len, NULL);
		json_object_set_new(o, "health_certificate", json_string(cut));
		expect_bad_json(o, "MalformedHealthCertificate");
		free(cut);
	}
	for (int i = 0; i < 20; i++) {
		size_t n = 1 + (size_t)rand() % 900;

		for (size_t k = 0; k < n; k++)
			rnd[k] = (unsigned char)rand();
		o = body_of(F->kp.data, F->kp.len, NULL);
		assert_ok(hl_json_set_base64(o, "health_certificate", rnd, n));
		expect_bad_json(o, "MalformedHealthCertificate");
	}
	o = body_of(F->kp.data, F->kp.len, NULL);
	json_object_set_new(o, "health_certificate", json_string("not base64 at all!"));
	expect_bad_json(o, "MalformedHealthCertificate");
	/* wrong types and missing members */
	o = body_of(F->kp.data, F->kp.len, hc);
	json_object_set_new(o, "key_protector", json_integer(42));
	expect_bad_json(o, "MalformedRequest");
	o = body_of(F->kp.data, F->kp.len, NULL);
	json_object_set_new(o, "health_certificate", json_array());
	expect_bad_json(o, "MalformedRequest");
	o = body_of(F->kp.data, F->kp.len, hc);
	json_object_set_new(o, "key_protector", json_string("@@@@"));
	expect_bad_json(o, "MalformedRequest");
	expect_bad_json(json_pack("{s:s}", "health_certificate", pem), "MalformedRequest");
	expect_bad_json(json_object(), "MalformedRequest");
	/* bodies that are not JSON objects (answered by the route framework) */
	expect_bad("[]", 2, NULL);
	expect_bad("{\"key_protector\":", 17, NULL);
	for (int i = 0; i < 10; i++) {
		size_t n = 1 + (size_t)rand() % 300;

		for (size_t k = 0; k < n; k++)
			rnd[k] = (unsigned char)rand();
		rnd[0] = '{';
		expect_bad(rnd, n, NULL);
	}
	/* every one of them is in the log; the service still releases */
	check_log(F->a, "BadRequest", "MalformedRequest", "", NULL);
	assert_int_equal(post(body_of(F->kp.data, F->kp.len, hc), &r), 200);
	json_decref(r);
	hl_buf_free(&der);
	free(pem);
	hl_cert_free(hc);
}

/* Direct calls: a release with no KP bytes, and an unloaded signer, are answered cleanly. */
static void test_direct_edges(void **state)
{
	struct hgs_kps_request req = { 0 };
	struct hgs_kps_outcome out;
	struct hgs_node *bare = NULL;

	(void)state;
	assert_ok(hgs_kps_release(F->a, &req, &out));
	assert_int_equal(out.reason, HGS_KPS_MALFORMED_REQUEST);
	assert_int_equal(out.http_status, 400);
	hgs_kps_outcome_release(&out);
	assert_ok(hgs_node_open(F->dir_a, 0, &bare));
	req.key_protector = F->kp.data;
	req.key_protector_len = F->kp.len;
	assert_int_equal(hgs_kps_release(bare, &req, &out), -1);
	assert_int_equal(out.reason, HGS_KPS_INTERNAL_ERROR);
	assert_int_equal(out.http_status, 500);
	assert_int_equal(out.wrapped_tk.len, 0);
	hgs_kps_outcome_release(&out);
	hgs_node_close(bare);
	assert_string_equal(hgs_kps_reason_name(HGS_KPS_GUARDIAN_NOT_LISTED), "GuardianNotListed");
	assert_null(hgs_kps_reason_name(HGS_KPS_REASON_COUNT));
}

/* ---- rotation (node c, direct calls) ---- */

/* Release KP on node c to a fresh certificate; the outcome's reason, encryption thumbprint in THUMB. */
static enum hgs_kps_reason release_c(const struct hl_buf *kp, char thumb[HL_SHA256_HEX_SIZE])
{
	X509 *hc = issue(F->c, "FabricHost1", F->tk1, HGS_STATUS_PASSED);
	struct hgs_kps_request req = { 0 };
	struct hgs_kps_outcome out;
	struct hl_buf der = { 0 };
	enum hgs_kps_reason reason;

	assert_ok(hl_cert_to_der(hc, &der));
	req.key_protector = kp->data;
	req.key_protector_len = kp->len;
	req.health_certificate = der.data;
	req.health_certificate_len = der.len;
	assert_ok(hgs_kps_release(F->c, &req, &out));
	reason = out.reason;
	if (thumb)
		snprintf(thumb, HL_SHA256_HEX_SIZE, "%s", out.encryption_thumbprint);
	if (reason == HGS_KPS_RELEASED) {
		struct hl_buf tk = { 0 };

		assert_ok(hl_crypto_oaep_unwrap(F->tk1, HGS_KPS_TK_LABEL, HGS_KPS_TK_LABEL_LEN,
						out.wrapped_tk.data, out.wrapped_tk.len, &tk));
		assert_int_equal(tk.len, HL_KP_TK_LEN);
		hl_buf_free(&tk);
	}
	hgs_kps_outcome_release(&out);
	hl_buf_free(&der);
	hl_cert_free(hc);
	return reason;
}

/* Node c's metadata, parsed as the tenant does. */
static struct hl_guardian_metadata *metadata_c(void)
{
	struct hl_guardian_metadata *md = NULL;
	struct hl_buf xml = { 0 };

	assert_ok(hgs_kps_metadata(F->c, &xml));
	assert_ok(hl_guardian_metadata_parse(xml.data, xml.len, &md));
	hl_buf_free(&xml);
	return md;
}

/* Count the certificates of node c and the primaries among them. */
static void count_certs(size_t *n, size_t *primaries)
{
	json_t *rows = NULL, *row;
	size_t i;

	*primaries = 0;
	assert_ok(hgs_kps_cert_list(F->c, -1, &rows));
	*n = json_array_size(rows);
	json_array_foreach(rows, i, row)
		if (json_is_true(json_object_get(row, "IsPrimary")))
			(*primaries)++;
	json_decref(rows);
}

/*
 * A new primary pair: the metadata hands it out; a KP wrapped to the old
 * (enabled) encryption certificate still releases, a disabled one is
 * refused, enabling it again releases; the primary can be neither disabled
 * nor removed; a removed certificate's KPs are not listed any more.
 */
static void test_rotation(void **state)
{
	struct hl_guardian_metadata *md;
	struct hl_buf kp_old = { 0 }, kp_new = { 0 }, tk = { 0 };
	char old_enc[HL_SHA256_HEX_SIZE], new_enc[HL_SHA256_HEX_SIZE], new_sig[HL_SHA256_HEX_SIZE];
	char t[HL_SHA256_HEX_SIZE], prefix[9];
	size_t n, primaries;
	X509 *sc = NULL, *ec = NULL;

	(void)state;
	count_certs(&n, &primaries);
	assert_int_equal(n, 2);
	assert_int_equal(primaries, 2);
	assert_ok(hgs_node_keypair(F->c, HGS_KEY_KPS_SIGNING, &sc, NULL));
	assert_ok(hgs_node_keypair(F->c, HGS_KEY_KPS_ENCRYPTION, &ec, NULL));
	assert_ok(hl_cert_thumbprint(ec, old_enc));
	assert_ok(make_kp(sc, ec, &kp_old, &tk));
	hl_buf_free(&tk);
	hl_cert_free(sc);
	hl_cert_free(ec);

	/* a new primary pair; the metadata follows */
	assert_ok(hgs_kps_cert_generate(F->c, HGS_KEY_KPS_ENCRYPTION, 1, new_enc));
	assert_ok(hgs_kps_cert_generate(F->c, HGS_KEY_KPS_SIGNING, 1, new_sig));
	count_certs(&n, &primaries);
	assert_int_equal(n, 4);
	assert_int_equal(primaries, 2);
	assert_int_equal(tu_mode_of(tu_path("%s/keys/kps-encryption-%.16s.key", F->dir_c, new_enc)),
			 0600);
	assert_int_equal(tu_mode_of(tu_path("%s/keys/kps-encryption-%.16s.crt", F->dir_c, new_enc)),
			 0644);
	md = metadata_c();
	assert_ok(hl_cert_thumbprint(md->encryption_cert, t));
	assert_string_equal(t, new_enc);
	assert_ok(hl_cert_thumbprint(md->signing_cert, t));
	assert_string_equal(t, new_sig);
	assert_ok(make_kp(md->signing_cert, md->encryption_cert, &kp_new, &tk));
	hl_buf_free(&tk);
	hl_guardian_metadata_free(md);

	/* both KPs release, each through its own certificate */
	assert_int_equal(release_c(&kp_old, t), HGS_KPS_RELEASED);
	assert_string_equal(t, old_enc);
	assert_int_equal(release_c(&kp_new, t), HGS_KPS_RELEASED);
	assert_string_equal(t, new_enc);

	/* disabled: refused with a clear reason; enabled again: released */
	assert_ok(hgs_db_kps_cert_change(F->c, old_enc, HGS_KPS_CERT_DISABLE));
	assert_int_equal(release_c(&kp_old, NULL), HGS_KPS_ENCRYPTION_CERTIFICATE_DISABLED);
	assert_int_equal(release_c(&kp_new, NULL), HGS_KPS_RELEASED);
	assert_int_equal(hgs_db_kps_cert_change(F->c, old_enc, HGS_KPS_CERT_SET_PRIMARY), -1);
	assert_error_has("is disabled");
	assert_ok(hgs_db_kps_cert_change(F->c, old_enc, HGS_KPS_CERT_ENABLE));
	assert_int_equal(release_c(&kp_old, NULL), HGS_KPS_RELEASED);

	/* the primary can be neither disabled nor removed */
	assert_int_equal(hgs_db_kps_cert_change(F->c, new_enc, HGS_KPS_CERT_DISABLE), -1);
	assert_error_has("primary");
	assert_int_equal(hgs_kps_cert_remove(F->c, new_enc), -1);
	assert_error_has("primary");

	/* thumbprint prefixes */
	snprintf(prefix, sizeof(prefix), "%.8s", old_enc);
	for (char *p = prefix; *p; p++)
		*p = (char)(*p >= 'A' && *p <= 'F' ? *p + 32 : *p);
	assert_ok(hgs_db_kps_cert_resolve(F->c, prefix, t));
	assert_string_equal(t, old_enc);
	assert_int_equal(hgs_db_kps_cert_resolve(F->c, "ABC", t), -1);
	assert_int_equal(hgs_db_kps_cert_resolve(F->c, "0000000000000000", t), -1);
	assert_int_equal(hgs_db_kps_cert_resolve(F->c, "zzzzzzzzz", t), -1);

	/* back to the old one as primary; the newer one removed with its files */
	assert_ok(hgs_db_kps_cert_change(F->c, old_enc, HGS_KPS_CERT_SET_PRIMARY));
	md = metadata_c();
	assert_ok(hl_cert_thumbprint(md->encryption_cert, t));
	assert_string_equal(t, old_enc);
	hl_guardian_metadata_free(md);
	assert_ok(hgs_kps_cert_remove(F->c, new_enc));
	assert_false(tu_exists(tu_path("%s/keys/kps-encryption-%.16s.key", F->dir_c, new_enc)));
	assert_int_equal(release_c(&kp_new, NULL), HGS_KPS_GUARDIAN_NOT_LISTED);
	assert_int_equal(release_c(&kp_old, NULL), HGS_KPS_RELEASED);
	count_certs(&n, &primaries);
	assert_int_equal(n, 3);
	assert_int_equal(primaries, 2);
	assert_int_equal(hgs_kps_cert_remove(F->c, new_enc), -1);
	hl_buf_free(&kp_old);
	hl_buf_free(&kp_new);
}

/* Adding an existing key pair: checked, stored 0600, duplicates refused. */
static void test_import(void **state)
{
	struct hl_buf kpem = { 0 }, cpem = { 0 }, k2pem = { 0 }, epem = { 0 };
	struct hl_cert_spec spec = { 0 };
	char thumb[HL_SHA256_HEX_SIZE];
	EVP_PKEY *k = NULL, *k2 = NULL, *ek = NULL;
	X509 *c = NULL, *old = NULL;
	json_t *rows = NULL;

	(void)state;
	assert_ok(make_cert("Imported KPS Encryption", &k, &c));
	assert_ok(hl_key_generate(HL_KEY_RSA2048, &k2));
	assert_ok(hl_key_priv_to_pem(k, &kpem));
	assert_ok(hl_key_priv_to_pem(k2, &k2pem));
	assert_ok(hl_cert_to_pem(c, &cpem));
	assert_int_equal(hgs_kps_cert_import(F->c, HGS_KEY_KPS_ENCRYPTION, (char *)k2pem.data,
					     k2pem.len, (char *)cpem.data, cpem.len, 0, thumb), -1);
	assert_error_has("does not belong");
	assert_ok(hl_key_generate(HL_KEY_EC_P256, &ek));
	assert_ok(hl_key_priv_to_pem(ek, &epem));
	assert_int_equal(hgs_kps_cert_import(F->c, HGS_KEY_KPS_ENCRYPTION, (char *)epem.data,
					     epem.len, (char *)cpem.data, cpem.len, 0, thumb), -1);
	assert_error_has("RSA");
	assert_int_equal(hgs_kps_cert_import(F->c, HGS_KEY_KPS_ENCRYPTION, "junk", 4,
					     (char *)cpem.data, cpem.len, 0, thumb), -1);
	assert_ok(hgs_kps_cert_import(F->c, HGS_KEY_KPS_ENCRYPTION, (char *)kpem.data, kpem.len,
				      (char *)cpem.data, cpem.len, 0, thumb));
	assert_int_equal(tu_mode_of(tu_path("%s/keys/kps-encryption-%.16s.key", F->dir_c, thumb)),
			 0600);
	assert_ok(hgs_kps_cert_list(F->c, HGS_KEY_KPS_ENCRYPTION, &rows));
	assert_string_equal(str(json_array_get(rows, json_array_size(rows) - 1), "Thumbprint"),
			    thumb);
	assert_true(json_is_false(json_object_get(json_array_get(rows, json_array_size(rows) - 1),
						  "IsPrimary")));
	json_decref(rows);
	assert_int_equal(hgs_kps_cert_import(F->c, HGS_KEY_KPS_SIGNING, (char *)kpem.data,
					     kpem.len, (char *)cpem.data, cpem.len, 0, thumb), -1);
	assert_error_has("already");
	/* an expired certificate */
	spec.cn = "Old";
	spec.not_before = time(NULL) - 7200;
	spec.not_after = time(NULL) - 3600;
	assert_ok(hl_cert_issue_self_signed(&spec, k2, &old));
	hl_buf_free(&cpem);
	assert_ok(hl_cert_to_pem(old, &cpem));
	assert_int_equal(hgs_kps_cert_import(F->c, HGS_KEY_KPS_SIGNING, (char *)k2pem.data,
					     k2pem.len, (char *)cpem.data, cpem.len, 0, thumb), -1);
	assert_error_has("not valid now");
	hl_buf_free(&kpem);
	hl_buf_free(&k2pem);
	hl_buf_free(&cpem);
	hl_buf_free(&epem);
	hl_key_free(k);
	hl_key_free(k2);
	hl_key_free(ek);
	hl_cert_free(c);
	hl_cert_free(old);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_metadata),
		cmocka_unit_test(test_release),
		cmocka_unit_test(test_release_forms),
		cmocka_unit_test(test_wrapped_to_certificate_key),
		cmocka_unit_test(test_refuse_no_certificate),
		cmocka_unit_test(test_certificate_first),
		cmocka_unit_test(test_refuse_expired),
		cmocka_unit_test(test_refuse_other_hgs),
		cmocka_unit_test(test_refuse_cutoff),
		cmocka_unit_test(test_refuse_not_listed),
		cmocka_unit_test(test_refuse_owner_signature),
		cmocka_unit_test(test_refuse_revoked),
		cmocka_unit_test(test_refuse_failed_attestation),
		cmocka_unit_test(test_refuse_not_a_health_certificate),
		cmocka_unit_test(test_refusals_are_healthcert_verdicts),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_direct_edges),
		cmocka_unit_test(test_rotation),
		cmocka_unit_test(test_import),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
