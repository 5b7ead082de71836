/*
 * test_tpm_attest.c - TPM attestation end to end, host side (hosts/tpm_host)
 * against real swtpm TPMs manufactured by hosts/manufacture, HGS side
 * (hgs/tpm_verify) in software.
 *
 * The group makes two TPM vendors (lab A and lab B), manufactures one TPM
 * with each, starts both with lib/swtpm and creates the keys the tests share;
 * everything is stopped and the mkdtemp directory removed afterwards.  Every
 * test also checks that no transient object was left in the TPMs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tss2/tss2_mu.h>
#include <unistd.h>

#include "hgs/tpm_verify.h"
#include "hosts/manufacture.h"
#include "hosts/tpm_host.h"
#include "lib/child.h"
#include "lib/clock.h"
#include "lib/crypto.h"
#include "lib/fileio.h"
#include "lib/swtpm.h"
#include "lib/tpm.h"
#include "tests/unit/testutil.h"

/* Everything the group shares. */
struct fixture {
	char dir[TU_SANDBOX_DIR];   /* first: the scratch folder (tu_sandbox_new) */
	char vendor_a[128], vendor_b[128], state_a[128], state_b[128];
	struct hl_swtpm *swtpm_a, *swtpm_b;
	struct hl_tpm *ta, *tb;
	struct hosts_tpm_key ak, ak2, tk;
	struct hosts_ek *ek_a, *ek_b;
	double manufacture_ms;
};

static struct fixture *fx;

/* Milliseconds on the monotonic clock (lib/clock), with their fraction. */
static double now_ms(void)
{
	return hl_clock_s() * 1e3;
}

/* Start a swtpm on STATE into *OUT and connect *T; -1 with a message on stderr. */
static int start_tpm(const char *state, struct hl_swtpm **out, struct hl_tpm **t)
{
	struct hl_swtpm_opts o = { 0 };

	o.state_dir = state;
	if (hl_swtpm_start(&o, out) < 0 || hl_tpm_connect(hl_swtpm_tcti(*out), t) < 0) {
		fprintf(stderr, "swtpm: %s\n", hl_error_last());
		return -1;
	}
	return 0;
}

static int group_teardown(void **state);

static int group_setup(void **state)
{
	struct fixture *f = tu_sandbox_new(sizeof(*f), "tpma");
	double t0;

	if (!f)
		return -1;
	fx = f;
	*state = f;
	snprintf(f->vendor_a, sizeof(f->vendor_a), "%s/vendor-a", f->dir);
	snprintf(f->vendor_b, sizeof(f->vendor_b), "%s/vendor-b", f->dir);
	snprintf(f->state_a, sizeof(f->state_a), "%s/host1/tpm", f->dir);
	snprintf(f->state_b, sizeof(f->state_b), "%s/host2/tpm", f->dir);
	if (hosts_vendor_ca_init(f->vendor_a) < 0 || hosts_vendor_ca_init(f->vendor_b) < 0)
		goto fail;
	t0 = now_ms();
	if (hosts_tpm_manufacture(f->vendor_a, f->state_a, "FabricHost1") < 0)
		goto fail;
	f->manufacture_ms = now_ms() - t0;
	if (hosts_tpm_manufacture(f->vendor_b, f->state_b, "FabricHost2") < 0)
		goto fail;
	if (start_tpm(f->state_a, &f->swtpm_a, &f->ta) < 0 ||
	    start_tpm(f->state_b, &f->swtpm_b, &f->tb) < 0)
		goto fail;
	if (hosts_tpm_create_ak(f->ta, &f->ak) < 0 || hosts_tpm_create_ak(f->ta, &f->ak2) < 0 ||
	    hosts_tpm_create_transport_key(f->ta, &f->tk) < 0 ||
	    hosts_tpm_read_ek(f->ta, &f->ek_a) < 0 || hosts_tpm_read_ek(f->tb, &f->ek_b) < 0)
		goto fail;
	return 0;
fail:
	fprintf(stderr, "group setup: %s\n", hl_error_last());
	group_teardown(state);
	*state = NULL;
	return -1;
}

static int group_teardown(void **state)
{
	struct fixture *f = *state;
	int status = -1, ret = 0;

	if (!f)
		return 0;
	hosts_tpm_key_release(&f->ak);
	hosts_tpm_key_release(&f->ak2);
	hosts_tpm_key_release(&f->tk);
	hosts_ek_free(f->ek_a);
	hosts_ek_free(f->ek_b);
	hl_tpm_disconnect(f->ta);
	hl_tpm_disconnect(f->tb);
	if (f->swtpm_a && (hl_swtpm_stop(f->swtpm_a, 0, &status) < 0 || status != 0)) {
		fprintf(stderr, "swtpm a stop: status %d: %s\n", status, hl_error_last());
		ret = -1;
	}
	if (f->swtpm_b && (hl_swtpm_stop(f->swtpm_b, 0, &status) < 0 || status != 0)) {
		fprintf(stderr, "swtpm b stop: status %d: %s\n", status, hl_error_last());
		ret = -1;
	}
	hl_swtpm_free(f->swtpm_a);
	hl_swtpm_free(f->swtpm_b);
	if (tu_sandbox_free(f) < 0)
		ret = -1;
	fx = NULL;
	return ret;
}

/* After each test: no transient object may be left in either TPM. */
static int no_transients(void **state)
{
	(void)state;
	if (hl_tpm_transient_count(fx->ta) != 0 || hl_tpm_transient_count(fx->tb) != 0) {
		fprintf(stderr, "transient objects left behind\n");
		hl_tpm_flush_transients(fx->ta);
		hl_tpm_flush_transients(fx->tb);
		return -1;
	}
	return 0;
}

/* Parse a host key's public blob for HGS; fails the test otherwise. */
static struct hgs_tpm_key *hgs_key(const struct hosts_tpm_key *k)
{
	struct hgs_tpm_key *out = NULL;

	if (hgs_tpm_key_parse(k->pub.data, k->pub.len, &out) < 0)
		fail_msg("parse: %s", hl_error_last());
	return out;
}

/* "DIR/NAME" into BUF. */
static const char *fpath(char *buf, size_t size, const char *name)
{
	snprintf(buf, size, "%s/%s", fx->dir, name);
	return buf;
}

/* Run ARGV (no shell), output to DIR/tool.log; its exit status. */
static int run_tool(const char *const *argv)
{
	struct hl_child_opts o = { 0 };
	struct hl_child *c = NULL;
	char log[160];
	int status = -1;

	o.log_path = fpath(log, sizeof(log), "tool.log");
	unlink(log);
	if (hl_child_spawn(argv, &o, &c) < 0)
		fail_msg("spawn %s: %s", argv[0], hl_error_last());
	if (hl_child_wait(c, 30000, &status) < 0)
		fail_msg("%s: %s", argv[0], hl_error_last());
	hl_child_free(c);
	return status;
}

/* Run ARGV; fail the test with the tool's output unless it exits with 0. */
static void assert_tool_ok(const char *const *argv)
{
	char log[160], *text = NULL;
	int status = run_tool(argv);

	if (status == 0)
		return;
	if (hl_file_read(fpath(log, sizeof(log), "tool.log"), 1 << 16, &text, NULL) < 0)
		text = NULL;
	fail_msg("%s exited with %d: %s", argv[0], status, text ? text : "(no output)");
}

/* ---- vendor CA and manufacturing ---- */

/* The EK certificate chains to this lab's vendor CA, not to another lab's. */
static void test_ek_cert_chain(void **state)
{
	struct fixture *f = *state;
	X509 *ca_a = NULL, *ca_b = NULL, *again = NULL;
	char tp1[HL_SHA256_HEX_SIZE], tp2[HL_SHA256_HEX_SIZE], cn[64];
	char *path = NULL;

	assert_ok(hosts_vendor_ca_cert(f->vendor_a, &ca_a));
	assert_ok(hosts_vendor_ca_cert(f->vendor_b, &ca_b));
	assert_non_null(f->ek_a->cert);
	assert_ok(hl_cert_subject_cn(f->ek_a->cert, cn, sizeof(cn)));
	assert_string_equal(cn, "FabricHost1");
	assert_ok(hl_cert_verify(f->ek_a->cert, ca_a, NULL, 0, 0));
	assert_int_equal(hl_cert_verify(f->ek_a->cert, ca_b, NULL, 0, 0), -1);
	assert_error_has("was not issued by");
	assert_ok(hl_cert_verify(f->ek_b->cert, ca_b, NULL, 0, 0));
	assert_int_equal(hl_cert_verify(f->ek_b->cert, ca_a, NULL, 0, 0), -1);

	/* init is idempotent: same CA afterwards */
	assert_ok(hl_cert_thumbprint(ca_a, tp1));
	assert_ok(hosts_vendor_ca_init(f->vendor_a));
	assert_ok(hosts_vendor_ca_cert(f->vendor_a, &again));
	assert_ok(hl_cert_thumbprint(again, tp2));
	assert_string_equal(tp1, tp2);
	assert_ok(hosts_vendor_ca_cert_path(f->vendor_a, &path));
	assert_non_null(strstr(path, "/vendor-a/" HOSTS_VENDOR_CA_CERT_FILE));
	free(path);
	hl_cert_free(ca_a);
	hl_cert_free(ca_b);
	hl_cert_free(again);
}

/* Manufacturing refuses bad input with clear messages. */
static void test_manufacture_refusals(void **state)
{
	struct fixture *f = *state;
	char p[160], q[160];
	char *path = (char *)1;

	assert_int_equal(hosts_tpm_manufacture(f->vendor_a, f->state_a, "FabricHost1"), -1);
	assert_error_has("already holds a manufactured tpm");
	assert_int_equal(hosts_tpm_manufacture(f->vendor_a, fpath(p, sizeof(p), "x"),
					       "bad name"), -1);
	assert_error_has("host names may hold only");
	assert_int_equal(hosts_tpm_manufacture(fpath(q, sizeof(q), "no-vendor"),
					       fpath(p, sizeof(p), "x"), "Host3"), -1);
	assert_error_has("initialise the vendor ca first");
	assert_int_equal(hosts_vendor_ca_cert_path(q, &path), -1);
	assert_null(path);
	assert_int_equal(hosts_vendor_ca_init("/tmp/has#hash"), -1);
	assert_error_has("'#'");
}

/* The EK recreated from the default template is the key in the EK certificate. */
static void test_ek_matches_cert(void **state)
{
	struct fixture *f = *state;
	struct hosts_ek *ek = NULL;
	struct hl_buf pub = { NULL, 0 }, cert = { NULL, 0 };
	EVP_PKEY *cert_key = NULL, *persisted = NULL;
	TPM2B_PUBLIC *pp = NULL;
	ESYS_TR h = ESYS_TR_NONE;
	double t0 = now_ms();

	assert_ok(hosts_tpm_read_ek(f->ta, &ek));
	fprintf(stderr, "# timing: read ek (recreate + nv read) %.1f ms\n", now_ms() - t0);
	assert_ok(hl_cert_pubkey(ek->cert, &cert_key));
	assert_true(hl_key_pub_equal(ek->pub, cert_key));
	assert_false(hl_key_pub_equal(ek->pub, f->ek_b->pub));

	/* and the EK swtpm_setup persisted at 0x81010001 */
	assert_int_equal(Esys_TR_FromTPMPublic(hl_tpm_esys(f->ta), 0x81010001, ESYS_TR_NONE,
					       ESYS_TR_NONE, ESYS_TR_NONE, &h), 0);
	assert_int_equal(Esys_ReadPublic(hl_tpm_esys(f->ta), h, ESYS_TR_NONE, ESYS_TR_NONE,
					 ESYS_TR_NONE, &pp, NULL, NULL), 0);
	assert_ok(hl_key_rsa_from_n_e(pp->publicArea.unique.rsa.buffer,
				      pp->publicArea.unique.rsa.size,
				      pp->publicArea.parameters.rsaDetail.exponent, &persisted));
	assert_true(hl_key_pub_equal(ek->pub, persisted));
	Esys_TR_Close(hl_tpm_esys(f->ta), &h);
	Esys_Free(pp);

	/* platform identifier parts */
	assert_ok(hosts_ek_pem(ek, &pub, &cert));
	assert_non_null(strstr((char *)pub.data, "BEGIN PUBLIC KEY"));
	assert_non_null(strstr((char *)cert.data, "BEGIN CERTIFICATE"));
	assert_true(ek->tpm_public.len > 256);
	hl_buf_free(&pub);
	hl_buf_free(&cert);
	hl_key_free(cert_key);
	hl_key_free(persisted);
	hosts_ek_free(ek);
}

/* ---- credential activation ---- */

/* KDFa through OpenSSL KBKDF equals the TCG encoding composed from HMAC by hand. */
static void test_kdfa_encoding(void **state)
{
	uint8_t key[32], ctx[34], out[16], want[32], msg[64];
	unsigned int n = 0;
	size_t m = 0;

	(void)state;
	memset(key, 0x11, sizeof(key));
	memset(ctx, 0x22, sizeof(ctx));
	assert_ok(hgs_tpm_kdfa_sha256(key, sizeof(key), "STORAGE", ctx, sizeof(ctx), out,
				      sizeof(out)));
	/* [1]32 || "STORAGE" || 0x00 || context || [128]32 */
	msg[m++] = 0; msg[m++] = 0; msg[m++] = 0; msg[m++] = 1;
	memcpy(msg + m, "STORAGE", 8);
	m += 8;
	memcpy(msg + m, ctx, sizeof(ctx));
	m += sizeof(ctx);
	msg[m++] = 0; msg[m++] = 0; msg[m++] = 0; msg[m++] = 128;
	assert_non_null(HMAC(EVP_sha256(), key, sizeof(key), msg, m, want, &n));
	assert_memory_equal(out, want, sizeof(out));
}

/* MakeCredential in software; ActivateCredential in the TPM recovers the secret. */
static void test_credential_activation(void **state)
{
	struct fixture *f = *state;
	struct hgs_tpm_key *ak = hgs_key(&f->ak), *ak2 = hgs_key(&f->ak2), *tk = hgs_key(&f->tk);
	struct hl_buf id = { NULL, 0 }, es = { NULL, 0 }, got = { NULL, 0 };
	uint8_t secret[32];
	double t0;

	assert_ok(hl_crypto_random(secret, sizeof(secret)));
	assert_ok(hgs_tpm_make_credential(f->ek_a->pub, ak, secret, sizeof(secret), &id, &es));
	t0 = now_ms();
	assert_ok(hosts_tpm_activate_credential(f->ta, &f->ak, id.data, id.len, es.data, es.len,
						&got));
	fprintf(stderr, "# timing: activate credential %.1f ms\n", now_ms() - t0);
	assert_int_equal(got.len, sizeof(secret));
	assert_memory_equal(got.data, secret, sizeof(secret));
	hl_buf_free(&got);

	/* the same credential is bound to AK's name: AK2 cannot activate it */
	assert_int_equal(hosts_tpm_activate_credential(f->ta, &f->ak2, id.data, id.len, es.data,
						       es.len, &got), -1);
	assert_error_has("Esys_ActivateCredential");
	assert_null(got.data);
	hl_buf_free(&id);
	hl_buf_free(&es);

	/* made for another TPM's EK: this TPM cannot activate it */
	assert_ok(hgs_tpm_make_credential(f->ek_b->pub, ak, secret, sizeof(secret), &id, &es));
	assert_int_equal(hosts_tpm_activate_credential(f->ta, &f->ak, id.data, id.len, es.data,
						       es.len, &got), -1);
	assert_error_has("not made for this tpm's ek");
	hl_buf_free(&id);
	hl_buf_free(&es);

	/* short secrets work; a transport key is not an AK; oversize secrets are refused */
	assert_ok(hgs_tpm_make_credential(f->ek_a->pub, ak2, "x", 1, &id, &es));
	assert_ok(hosts_tpm_activate_credential(f->ta, &f->ak2, id.data, id.len, es.data, es.len,
						&got));
	assert_int_equal(got.len, 1);
	assert_int_equal(got.data[0], 'x');
	hl_buf_free(&got);
	hl_buf_free(&id);
	hl_buf_free(&es);
	assert_int_equal(hgs_tpm_make_credential(f->ek_a->pub, tk, secret, 16, &id, &es), -1);
	assert_error_has("not a signing-only key");
	assert_null(id.data);
	assert_int_equal(hgs_tpm_make_credential(f->ek_a->pub, ak, secret, 33, &id, &es), -1);
	{
		EVP_PKEY *ec = NULL;

		assert_ok(hl_key_generate(HL_KEY_EC_P256, &ec));
		assert_int_equal(hgs_tpm_make_credential(ec, ak, secret, 16, &id, &es), -1);
		assert_error_has("must be rsa-2048");
		hl_key_free(ec);
	}
	hgs_tpm_key_free(ak);
	hgs_tpm_key_free(ak2);
	hgs_tpm_key_free(tk);
}

/* A credential from tpm2_makecredential -T none activates too (same format). */
static void test_credential_tpm2_tools(void **state)
{
	struct fixture *f = *state;
	struct hgs_tpm_key *ak = hgs_key(&f->ak);
	struct hl_buf pem = { NULL, 0 }, got = { NULL, 0 };
	char ekp[160], name[2 * sizeof(TPMU_NAME) + 1], secp[160], outp[160];
	char *blob = NULL;
	size_t len = 0, off = 0, id_off, es_off;
	uint32_t magic = 0, version = 0;
	TPM2B_ID_OBJECT idobj = { .size = 0 };
	TPM2B_ENCRYPTED_SECRET es = { .size = 0 };
	/* tpm2-tools 5.4 takes -n as hex, whatever its manual page says */
	const char *argv[] = { "tpm2_makecredential", "-T", "none", "-G", "rsa", "-u", ekp,
			       "-s", secp, "-n", name, "-o", outp, NULL };

	assert_ok(hosts_ek_pem(f->ek_a, &pem, NULL));
	assert_ok(hl_file_write(fpath(ekp, sizeof(ekp), "ek.pem"), pem.data, pem.len, 0600));
	assert_ok(hl_crypto_hex_encode(ak->name.name, ak->name.size, name, sizeof(name)));
	assert_ok(hl_file_write(fpath(secp, sizeof(secp), "secret"), "tools-made secret", 17,
				0600));
	fpath(outp, sizeof(outp), "cred.out");
	assert_tool_ok(argv);
	assert_ok(hl_file_read(outp, 4096, &blob, &len));
	/* tpm2-tools header: magic 0xBADCC0DE, version 1; then the two TPM2Bs */
	assert_int_equal(Tss2_MU_UINT32_Unmarshal((uint8_t *)blob, len, &off, &magic), 0);
	assert_int_equal(Tss2_MU_UINT32_Unmarshal((uint8_t *)blob, len, &off, &version), 0);
	assert_int_equal(magic, 0xBADCC0DE);
	id_off = off;
	assert_int_equal(Tss2_MU_TPM2B_ID_OBJECT_Unmarshal((uint8_t *)blob, len, &off, &idobj), 0);
	es_off = off;
	assert_int_equal(Tss2_MU_TPM2B_ENCRYPTED_SECRET_Unmarshal((uint8_t *)blob, len, &off, &es),
			 0);
	assert_int_equal(off, len);
	assert_ok(hosts_tpm_activate_credential(f->ta, &f->ak, blob + id_off, es_off - id_off,
						blob + es_off, len - es_off, &got));
	assert_int_equal(got.len, 17);
	assert_memory_equal(got.data, "tools-made secret", 17);
	hl_buf_free(&got);
	hl_buf_free(&pem);
	free(blob);
	hgs_tpm_key_free(ak);
}

/* ---- quotes ---- */

/* A quote verifies; replayed nonce, swapped AK and flipped bytes are refused. */
static void test_quote(void **state)
{
	struct fixture *f = *state;
	struct hgs_tpm_key *ak = hgs_key(&f->ak), *ak2 = hgs_key(&f->ak2);
	struct hosts_tpm_quote q;
	struct hgs_tpm_quote r;
	uint8_t nonce[32], other[32], digest[32];
	size_t i;
	double t0;

	assert_ok(hl_crypto_random(nonce, sizeof(nonce)));
	memcpy(other, nonce, sizeof(other));
	other[0] ^= 1;
	t0 = now_ms();
	assert_ok(hosts_tpm_quote(f->ta, &f->ak, HOSTS_QUOTE_PCRS, nonce, sizeof(nonce), &q));
	fprintf(stderr, "# timing: quote (load ak, quote, pcr read, flush) %.1f ms\n",
		now_ms() - t0);
	t0 = now_ms();
	assert_ok(hgs_tpm_verify_quote(ak, q.attest.data, q.attest.len, q.sig.data, q.sig.len,
				       nonce, sizeof(nonce), &r));
	fprintf(stderr, "# timing: verify quote (software) %.3f ms\n", now_ms() - t0);
	assert_int_equal(r.pcr_mask, HOSTS_QUOTE_PCRS);
	assert_ok(hgs_tpm_pcr_digest(q.pcr_mask, q.pcrs, digest));
	assert_memory_equal(digest, r.pcr_digest, 32);

	/* replay: the quote was for another nonce */
	assert_int_equal(hgs_tpm_verify_quote(ak, q.attest.data, q.attest.len, q.sig.data,
					      q.sig.len, other, sizeof(other), &r), -1);
	assert_error_has("does not carry the expected nonce");
	assert_int_equal(hgs_tpm_verify_quote(ak, q.attest.data, q.attest.len, q.sig.data,
					      q.sig.len, nonce, 16, &r), -1);
	/* swapped AK */
	assert_int_equal(hgs_tpm_verify_quote(ak2, q.attest.data, q.attest.len, q.sig.data,
					      q.sig.len, nonce, sizeof(nonce), &r), -1);
	assert_error_has("was not signed by this attestation key");
	/* every flipped byte of the attest or of the signature */
	for (i = 0; i < q.attest.len; i++) {
		q.attest.data[i] ^= 0x01;
		assert_int_equal(hgs_tpm_verify_quote(ak, q.attest.data, q.attest.len, q.sig.data,
						      q.sig.len, nonce, sizeof(nonce), &r), -1);
		q.attest.data[i] ^= 0x01;
	}
	for (i = 0; i < q.sig.len; i++) {
		q.sig.data[i] ^= 0x80;
		assert_int_equal(hgs_tpm_verify_quote(ak, q.attest.data, q.attest.len, q.sig.data,
						      q.sig.len, nonce, sizeof(nonce), &r), -1);
		q.sig.data[i] ^= 0x80;
	}
	assert_ok(hgs_tpm_verify_quote(ak, q.attest.data, q.attest.len, q.sig.data, q.sig.len,
				       nonce, sizeof(nonce), &r));
	hosts_tpm_quote_release(&q);
	hgs_tpm_key_free(ak);
	hgs_tpm_key_free(ak2);
}

/* An ECC P-256 AK (ECDSA) is verified too: a primary made and used with ESYS here. */
static void test_quote_ecc_ak(void **state)
{
	struct fixture *f = *state;
	ESYS_CONTEXT *e = hl_tpm_esys(f->ta);
	TPM2B_SENSITIVE_CREATE sens = { .size = 0 };
	TPM2B_PUBLIC tmpl, *pub = NULL;
	TPM2B_DATA outside = { .size = 0 }, qual = { .size = 8, .buffer = "ecc-qote" };
	TPML_PCR_SELECTION pcrs = { .count = 0 }, sel = { .count = 1 };
	TPMT_SIG_SCHEME scheme = { .scheme = TPM2_ALG_NULL };
	TPM2B_ATTEST *quoted = NULL;
	TPMT_SIGNATURE *sig = NULL;
	uint8_t pub_bytes[sizeof(TPM2B_PUBLIC)], sig_bytes[sizeof(TPMT_SIGNATURE)];
	size_t pub_len = 0, sig_len = 0;
	struct hgs_tpm_key *ak = NULL;
	struct hgs_tpm_quote r;
	ESYS_TR h = ESYS_TR_NONE;

	tu_tpm_ecc_template(&tmpl, TPMA_OBJECT_SIGN_ENCRYPT | TPMA_OBJECT_RESTRICTED |
			    TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
			    TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH);
	assert_int_equal(Esys_CreatePrimary(e, ESYS_TR_RH_ENDORSEMENT, ESYS_TR_PASSWORD,
					    ESYS_TR_NONE, ESYS_TR_NONE, &sens, &tmpl, &outside,
					    &pcrs, &h, &pub, NULL, NULL, NULL), 0);
	sel.pcrSelections[0].hash = TPM2_ALG_SHA256;
	sel.pcrSelections[0].sizeofSelect = 3;
	sel.pcrSelections[0].pcrSelect[0] = 0xff;
	assert_int_equal(Esys_Quote(e, h, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &qual,
				    &scheme, &sel, &quoted, &sig), 0);
	assert_int_equal(Esys_FlushContext(e, h), 0);
	assert_int_equal(sig->sigAlg, TPM2_ALG_ECDSA);
	assert_int_equal(Tss2_MU_TPM2B_PUBLIC_Marshal(pub, pub_bytes, sizeof(pub_bytes),
						      &pub_len), 0);
	assert_int_equal(Tss2_MU_TPMT_SIGNATURE_Marshal(sig, sig_bytes, sizeof(sig_bytes),
							&sig_len), 0);
	assert_ok(hgs_tpm_key_parse(pub_bytes, pub_len, &ak));
	assert_ok(hgs_tpm_verify_quote(ak, quoted->attestationData, quoted->size, sig_bytes,
				       sig_len, "ecc-qote", 8, &r));
	assert_int_equal(r.pcr_mask, 0xff);
	sig_bytes[sig_len - 3] ^= 1;
	assert_int_equal(hgs_tpm_verify_quote(ak, quoted->attestationData, quoted->size,
					      sig_bytes, sig_len, "ecc-qote", 8, &r), -1);
	assert_error_has("was not signed by this attestation key");
	hgs_tpm_key_free(ak);
	Esys_Free(pub);
	Esys_Free(quoted);
	Esys_Free(sig);
}

/* The quoted pcrDigest follows the PCRs: it changes after an extend of both banks. */
static void test_quote_after_extend(void **state)
{
	struct fixture *f = *state;
	struct hgs_tpm_key *ak = hgs_key(&f->ak);
	struct hosts_tpm_quote q1, q2;
	struct hgs_tpm_quote r1, r2;
	struct hosts_pcr_extend ext[2];
	uint8_t nonce[20], digest[32], cat[64], want256[32], want1[20], before1[20];
	TPML_PCR_SELECTION sel;
	TPML_PCR_SELECTION *got_sel = NULL;
	TPML_DIGEST *got = NULL;
	UINT32 counter;
	unsigned int n = 0;

	assert_ok(hl_crypto_random(nonce, sizeof(nonce)));
	assert_ok(hosts_tpm_quote(f->ta, &f->ak, HOSTS_QUOTE_PCRS, nonce, sizeof(nonce), &q1));
	assert_ok(hgs_tpm_verify_quote(ak, q1.attest.data, q1.attest.len, q1.sig.data,
				       q1.sig.len, nonce, sizeof(nonce), &r1));

	/* the sha1 bank of PCR 12 before */
	memset(&sel, 0, sizeof(sel));
	sel.count = 1;
	sel.pcrSelections[0].hash = TPM2_ALG_SHA1;
	sel.pcrSelections[0].sizeofSelect = 3;
	sel.pcrSelections[0].pcrSelect[1] = 1u << (12 - 8);
	assert_int_equal(Esys_PCR_Read(hl_tpm_esys(f->ta), ESYS_TR_NONE, ESYS_TR_NONE,
				       ESYS_TR_NONE, &sel, &counter, &got_sel, &got), 0);
	assert_int_equal(got->count, 1);
	assert_int_equal(got->digests[0].size, 20);
	memcpy(before1, got->digests[0].buffer, 20);
	Esys_Free(got_sel);
	Esys_Free(got);

	memset(ext, 0, sizeof(ext));
	ext[0].pcr = 12;
	memset(ext[0].sha1, 0xa1, 20);
	memset(ext[0].sha256, 0xb2, 32);
	ext[1].pcr = 16;
	memset(ext[1].sha256, 0x33, 32);
	assert_ok(hosts_tpm_extend(f->ta, ext, 2));

	assert_ok(hosts_tpm_quote(f->ta, &f->ak, HOSTS_QUOTE_PCRS, nonce, sizeof(nonce), &q2));
	assert_ok(hgs_tpm_verify_quote(ak, q2.attest.data, q2.attest.len, q2.sig.data,
				       q2.sig.len, nonce, sizeof(nonce), &r2));
	assert_memory_not_equal(r1.pcr_digest, r2.pcr_digest, 32);
	assert_ok(hgs_tpm_pcr_digest(q2.pcr_mask, q2.pcrs, digest));
	assert_memory_equal(digest, r2.pcr_digest, 32);
	/* the old values no longer give the new digest */
	assert_ok(hgs_tpm_pcr_digest(q1.pcr_mask, q1.pcrs, digest));
	assert_memory_not_equal(digest, r2.pcr_digest, 32);

	/* sha256 bank: PCR12' = SHA-256(PCR12 || d) */
	memcpy(cat, q1.pcrs[12], 32);
	memcpy(cat + 32, ext[0].sha256, 32);
	assert_ok(hl_crypto_sha256(cat, 64, want256));
	assert_memory_equal(q2.pcrs[12], want256, 32);
	/* sha1 bank: PCR12' = SHA-1(PCR12 || d) */
	memcpy(cat, before1, 20);
	memcpy(cat + 20, ext[0].sha1, 20);
	assert_non_null(EVP_Digest(cat, 40, want1, &n, EVP_sha1(), NULL));
	assert_int_equal(Esys_PCR_Read(hl_tpm_esys(f->ta), ESYS_TR_NONE, ESYS_TR_NONE,
				       ESYS_TR_NONE, &sel, &counter, &got_sel, &got), 0);
	assert_memory_equal(got->digests[0].buffer, want1, 20);
	Esys_Free(got_sel);
	Esys_Free(got);

	ext[0].pcr = 24;
	assert_int_equal(hosts_tpm_extend(f->ta, ext, 1), -1);
	assert_error_has("pcr 24 does not exist");
	hosts_tpm_quote_release(&q1);
	hosts_tpm_quote_release(&q2);
	hgs_tpm_key_free(ak);
}

/*
 * Write the PCR values of Q in tpm2-tools' own "-o" file format (what
 * tpm2_quote writes and tpm2_checkquote -f reads): the TPML_PCR_SELECTION
 * struct, a UINT32 count, then that many TPML_DIGEST structs of up to 8
 * values, all as host-order memory images (fwrite of the tss2 structs), not
 * TPM marshalling.  tpm2_checkquote 5.4 cannot read plain concatenated values
 * for more than 8 PCRs, so this form is needed for HOSTS_QUOTE_PCRS.
 */
static void write_tools_pcrs(const struct hosts_tpm_quote *q, const char *path)
{
	struct {
		TPML_PCR_SELECTION sel;
		UINT32 count;
		TPML_DIGEST d[3];
	} file;
	unsigned pcr, k = 0;

	_Static_assert(offsetof(__typeof__(file), d) == sizeof(TPML_PCR_SELECTION) + 4,
		       "no padding between the parts of tpm2-tools' pcrs file");

	memset(&file, 0, sizeof(file));
	file.sel.count = 1;
	file.sel.pcrSelections[0].hash = TPM2_ALG_SHA256;
	file.sel.pcrSelections[0].sizeofSelect = 3;
	for (pcr = 0; pcr < 24; pcr++) {
		TPML_DIGEST *d = &file.d[k / 8];

		if (!(q->pcr_mask & (1u << pcr)))
			continue;
		file.sel.pcrSelections[0].pcrSelect[pcr / 8] |= (BYTE)(1u << (pcr % 8));
		d->digests[d->count].size = 32;
		memcpy(d->digests[d->count].buffer, q->pcrs[pcr], 32);
		d->count++;
		k++;
	}
	file.count = (k + 7) / 8;
	assert_ok(hl_file_write(path, &file, sizeof(file.sel) + sizeof(file.count) +
				file.count * sizeof(TPML_DIGEST), 0600));
}

/* tpm2_checkquote (tpm2-tools) verifies a quote the host produced. */
static void test_tpm2_checkquote(void **state)
{
	struct fixture *f = *state;
	struct hgs_tpm_key *ak = hgs_key(&f->ak);
	struct hosts_tpm_quote q;
	struct hl_buf pem = { NULL, 0 };
	uint8_t nonce[32];
	char hex[65], badhex[65], akp[160], msgp[160], sigp[160], pcrp[160];
	const char *argv[] = { "tpm2_checkquote", "-u", akp, "-m", msgp, "-s", sigp, "-f", pcrp,
			       "-g", "sha256", "-q", hex, NULL };

	assert_ok(hl_crypto_random(nonce, sizeof(nonce)));
	assert_ok(hosts_tpm_quote(f->ta, &f->ak, HOSTS_QUOTE_PCRS, nonce, sizeof(nonce), &q));
	assert_ok(hgs_tpm_key_pem(ak, &pem));
	assert_ok(hl_file_write(fpath(akp, sizeof(akp), "ak.pem"), pem.data, pem.len, 0600));
	assert_ok(hl_file_write(fpath(msgp, sizeof(msgp), "quote.msg"), q.attest.data,
				q.attest.len, 0600));
	assert_ok(hl_file_write(fpath(sigp, sizeof(sigp), "quote.sig"), q.sig.data, q.sig.len,
				0600));
	write_tools_pcrs(&q, fpath(pcrp, sizeof(pcrp), "quote.pcrs"));
	assert_ok(hl_crypto_hex_encode(nonce, sizeof(nonce), hex, sizeof(hex)));
	assert_tool_ok(argv);

	/* and refuses it for another nonce, or other PCR values */
	nonce[5] ^= 0x40;
	assert_ok(hl_crypto_hex_encode(nonce, sizeof(nonce), badhex, sizeof(badhex)));
	argv[12] = badhex;
	assert_int_not_equal(run_tool(argv), 0);
	argv[12] = hex;
	q.pcrs[7][0] ^= 1;
	write_tools_pcrs(&q, pcrp);
	assert_int_not_equal(run_tool(argv), 0);
	hl_buf_free(&pem);
	hosts_tpm_quote_release(&q);
	hgs_tpm_key_free(ak);
}

/* ---- certify and the transport key ---- */

/* Certify of the TK by the AK verifies; another key's public is refused. */
static void test_certify(void **state)
{
	struct fixture *f = *state;
	struct hgs_tpm_key *ak = hgs_key(&f->ak), *ak2 = hgs_key(&f->ak2), *tk = hgs_key(&f->tk);
	struct hl_buf attest = { NULL, 0 }, sig = { NULL, 0 };
	uint8_t nonce[32];
	double t0;

	assert_ok(hl_crypto_random(nonce, sizeof(nonce)));
	t0 = now_ms();
	assert_ok(hosts_tpm_certify(f->ta, &f->ak, &f->tk, nonce, sizeof(nonce), &attest, &sig));
	fprintf(stderr, "# timing: certify (load tk + ak, certify, flush) %.1f ms\n",
		now_ms() - t0);
	assert_ok(hgs_tpm_verify_certify(ak, tk, attest.data, attest.len, sig.data, sig.len,
					 nonce, sizeof(nonce)));
	/* another key's public */
	assert_int_equal(hgs_tpm_verify_certify(ak, ak2, attest.data, attest.len, sig.data,
						sig.len, nonce, sizeof(nonce)), -1);
	assert_error_has("certified name does not match");
	/* another nonce, another signer */
	nonce[0] ^= 1;
	assert_int_equal(hgs_tpm_verify_certify(ak, tk, attest.data, attest.len, sig.data,
						sig.len, nonce, sizeof(nonce)), -1);
	assert_error_has("expected nonce");
	nonce[0] ^= 1;
	assert_int_equal(hgs_tpm_verify_certify(ak2, tk, attest.data, attest.len, sig.data,
						sig.len, nonce, sizeof(nonce)), -1);
	/* a certify is not a quote */
	{
		struct hgs_tpm_quote r;

		assert_int_equal(hgs_tpm_verify_quote(ak, attest.data, attest.len, sig.data,
						      sig.len, nonce, sizeof(nonce), &r), -1);
		assert_error_has("has type 0x8017");
	}
	hl_buf_free(&attest);
	hl_buf_free(&sig);

	/* a genuine certify of a key that is not a transport key (AK2) is refused */
	assert_ok(hosts_tpm_certify(f->ta, &f->ak, &f->ak2, nonce, sizeof(nonce), &attest, &sig));
	assert_int_equal(hgs_tpm_verify_certify(ak, ak2, attest.data, attest.len, sig.data,
						sig.len, nonce, sizeof(nonce)), -1);
	assert_error_has("certified key refused");
	hl_buf_free(&attest);
	hl_buf_free(&sig);
	hgs_tpm_key_free(ak);
	hgs_tpm_key_free(ak2);
	hgs_tpm_key_free(tk);
}

/* Attribute checks: AK and TK each pass their own check only; TK public as PEM. */
static void test_key_attributes(void **state)
{
	struct fixture *f = *state;
	struct hgs_tpm_key *ak = hgs_key(&f->ak), *tk = hgs_key(&f->tk), *ek = NULL;
	struct hl_buf pem1 = { NULL, 0 }, pem2 = { NULL, 0 };
	TPMA_OBJECT a = tk->pub.publicArea.objectAttributes;

	assert_ok(hgs_tpm_key_check_ak(ak, NULL));
	assert_ok(hgs_tpm_key_check_transport(tk, NULL));
	assert_true(a & TPMA_OBJECT_FIXEDTPM);
	assert_true(a & TPMA_OBJECT_FIXEDPARENT);
	assert_true(a & TPMA_OBJECT_DECRYPT);
	assert_false(a & TPMA_OBJECT_SIGN_ENCRYPT);
	assert_false(a & TPMA_OBJECT_RESTRICTED);
	assert_int_equal(hgs_tpm_key_check_transport(ak, NULL), -1);
	assert_error_has("transport key");
	assert_int_equal(hgs_tpm_key_check_ak(tk, "AK of 'FabricHost1'"), -1);
	assert_error_has("AK of 'FabricHost1' is not a signing-only key");
	/* the EK is restricted decrypt: neither */
	assert_ok(hgs_tpm_key_parse(f->ek_a->tpm_public.data, f->ek_a->tpm_public.len, &ek));
	assert_int_equal(hgs_tpm_key_check_ak(ek, NULL), -1);
	assert_int_equal(hgs_tpm_key_check_transport(ek, NULL), -1);
	assert_error_has("is restricted");
	/* host and HGS give the same PEM for the TK */
	assert_ok(hosts_tpm_key_pem(&f->tk, &pem1));
	assert_ok(hgs_tpm_key_pem(tk, &pem2));
	assert_int_equal(pem1.len, pem2.len);
	assert_memory_equal(pem1.data, pem2.data, pem1.len);
	/* a name is nameAlg || SHA-256(TPMT_PUBLIC) */
	assert_int_equal(ak->name.size, HGS_TPM_NAME_SHA256_LEN);
	assert_int_equal(ak->name.name[0], 0x00);
	assert_int_equal(ak->name.name[1], 0x0b);
	hl_buf_free(&pem1);
	hl_buf_free(&pem2);
	hgs_tpm_key_free(ak);
	hgs_tpm_key_free(tk);
	hgs_tpm_key_free(ek);
}

/* OAEP wrap in software to the TK; TPM2_RSA_Decrypt recovers the bytes. */
static void test_tk_decrypt(void **state)
{
	struct fixture *f = *state;
	struct hgs_tpm_key *tk = hgs_key(&f->tk);
	struct hl_buf ct = { NULL, 0 }, got = { NULL, 0 };
	uint8_t payload[48];
	double t0;

	assert_string_equal(HOSTS_TK_OAEP_LABEL, HGS_TPM_TK_OAEP_LABEL);
	assert_int_equal(sizeof(HOSTS_TK_OAEP_LABEL), 10);
	assert_ok(hl_crypto_random(payload, sizeof(payload)));
	assert_ok(hl_crypto_oaep_wrap(tk->pkey, HGS_TPM_TK_OAEP_LABEL, sizeof(HGS_TPM_TK_OAEP_LABEL),
				      payload, sizeof(payload), &ct));
	t0 = now_ms();
	assert_ok(hosts_tpm_rsa_decrypt(f->ta, &f->tk, HOSTS_TK_OAEP_LABEL,
					sizeof(HOSTS_TK_OAEP_LABEL), ct.data, ct.len, &got));
	fprintf(stderr, "# timing: tk decrypt (load tk, salted session, rsa decrypt) %.1f ms\n",
		now_ms() - t0);
	assert_int_equal(got.len, sizeof(payload));
	assert_memory_equal(got.data, payload, sizeof(payload));
	hl_buf_free(&got);
	/* the NUL is appended when missing: the label without it decrypts the same */
	assert_ok(hosts_tpm_rsa_decrypt(f->ta, &f->tk, HOSTS_TK_OAEP_LABEL,
					sizeof(HOSTS_TK_OAEP_LABEL) - 1, ct.data, ct.len, &got));
	assert_memory_equal(got.data, payload, sizeof(payload));
	hl_buf_free(&got);
	/* another label, or a changed byte: refused */
	assert_int_equal(hosts_tpm_rsa_decrypt(f->ta, &f->tk, "OTHER", 6, ct.data, ct.len, &got),
			 -1);
	assert_error_has("Esys_RSA_Decrypt");
	assert_null(got.data);
	ct.data[10] ^= 1;
	assert_int_equal(hosts_tpm_rsa_decrypt(f->ta, &f->tk, HOSTS_TK_OAEP_LABEL,
					       sizeof(HOSTS_TK_OAEP_LABEL), ct.data, ct.len, &got),
			 -1);
	hl_buf_free(&ct);
	/* a sender that leaves the NUL out does not match the TPM's label */
	assert_ok(hl_crypto_oaep_wrap(tk->pkey, HGS_TPM_TK_OAEP_LABEL,
				      sizeof(HGS_TPM_TK_OAEP_LABEL) - 1, payload, 16, &ct));
	assert_int_equal(hosts_tpm_rsa_decrypt(f->ta, &f->tk, HOSTS_TK_OAEP_LABEL,
					       sizeof(HOSTS_TK_OAEP_LABEL), ct.data, ct.len, &got),
			 -1);
	hl_buf_free(&ct);
	/* the AK cannot decrypt */
	assert_ok(hl_crypto_oaep_wrap(tk->pkey, "x", 2, payload, 16, &ct));
	assert_int_equal(hosts_tpm_rsa_decrypt(f->ta, &f->ak, "x", 2, ct.data, ct.len, &got), -1);
	hl_buf_free(&ct);
	hgs_tpm_key_free(tk);
}

/* Key blobs survive a save and load; other files are refused. */
static void test_key_save_load(void **state)
{
	struct fixture *f = *state;
	struct hosts_tpm_key k = { { NULL, 0 }, { NULL, 0 } };
	struct hosts_tpm_quote q;
	char p[160], bad[160];
	char *data = NULL;
	size_t len = 0;

	assert_ok(hosts_tpm_key_save(&f->ak, fpath(p, sizeof(p), "ak.key")));
	assert_ok(hosts_tpm_key_load(p, &k));
	assert_int_equal(k.pub.len, f->ak.pub.len);
	assert_memory_equal(k.pub.data, f->ak.pub.data, k.pub.len);
	assert_memory_equal(k.priv.data, f->ak.priv.data, k.priv.len);
	assert_ok(hosts_tpm_quote(f->ta, &k, 1, "n", 1, &q));
	hosts_tpm_quote_release(&q);
	hosts_tpm_key_release(&k);
	hosts_tpm_key_release(&k);      /* released twice: harmless */

	assert_ok(hl_file_read(p, 1 << 16, &data, &len));
	assert_ok(hl_file_write(fpath(bad, sizeof(bad), "bad.key"), data, len - 1, 0600));
	assert_int_equal(hosts_tpm_key_load(bad, &k), -1);
	assert_error_has("not a tpm key file");
	assert_null(k.pub.data);
	assert_ok(hl_file_write(bad, data, len / 3, 0600));
	assert_int_equal(hosts_tpm_key_load(bad, &k), -1);
	free(data);
	/* a blob from TPM A does not load in TPM B */
	assert_int_equal(hosts_tpm_quote(f->tb, &f->ak, 1, "n", 1, &q), -1);
	assert_error_has("cannot load attestation key");
}

/* ---- malformed input ---- */

/* Random, truncated and extended inputs to every parser give errors, never crashes. */
static void test_garbage_inputs(void **state)
{
	struct fixture *f = *state;
	struct hgs_tpm_key *ak = hgs_key(&f->ak), *tk = hgs_key(&f->tk), *k = NULL;
	struct hl_buf attest = { NULL, 0 }, sig = { NULL, 0 }, id = { NULL, 0 }, es = { NULL, 0 };
	struct hl_buf got = { NULL, 0 };
	struct hosts_tpm_quote q;
	struct hgs_tpm_quote r;
	uint8_t nonce[16] = "0123456789abcdef", rnd[1200], ext[2048];
	size_t len;
	int round;

	assert_ok(hosts_tpm_quote(f->ta, &f->ak, HOSTS_QUOTE_PCRS, nonce, sizeof(nonce), &q));
	assert_ok(hosts_tpm_certify(f->ta, &f->ak, &f->tk, nonce, sizeof(nonce), &attest, &sig));
	assert_ok(hgs_tpm_make_credential(f->ek_a->pub, ak, nonce, sizeof(nonce), &id, &es));

	/* every truncation of valid blobs */
	for (len = 0; len < f->ak.pub.len; len++) {
		assert_int_equal(hgs_tpm_key_parse(f->ak.pub.data, len, &k), -1);
		assert_null(k);
	}
	for (len = 0; len < q.attest.len; len++)
		assert_int_equal(hgs_tpm_verify_quote(ak, q.attest.data, len, q.sig.data,
						      q.sig.len, nonce, sizeof(nonce), &r), -1);
	for (len = 0; len < q.sig.len; len++)
		assert_int_equal(hgs_tpm_verify_quote(ak, q.attest.data, q.attest.len, q.sig.data,
						      len, nonce, sizeof(nonce), &r), -1);
	for (len = 0; len < attest.len; len++)
		assert_int_equal(hgs_tpm_verify_certify(ak, tk, attest.data, len, sig.data,
							sig.len, nonce, sizeof(nonce)), -1);
	for (len = 0; len < id.len; len += 7)
		assert_int_equal(hosts_tpm_activate_credential(f->ta, &f->ak, id.data, len,
							       es.data, es.len, &got), -1);
	for (len = 0; len < es.len; len += 31)
		assert_int_equal(hosts_tpm_activate_credential(f->ta, &f->ak, id.data, id.len,
							       es.data, len, &got), -1);
	assert_null(got.data);

	/* trailing bytes */
	memcpy(ext, f->ak.pub.data, f->ak.pub.len);
	ext[f->ak.pub.len] = 0;
	assert_int_equal(hgs_tpm_key_parse(ext, f->ak.pub.len + 1, &k), -1);
	assert_error_has("trailing");
	memcpy(ext, q.attest.data, q.attest.len);
	assert_int_equal(hgs_tpm_verify_quote(ak, ext, q.attest.len + 1, q.sig.data, q.sig.len,
					      nonce, sizeof(nonce), &r), -1);
	memcpy(ext, q.sig.data, q.sig.len);
	assert_int_equal(hgs_tpm_verify_quote(ak, q.attest.data, q.attest.len, ext,
					      q.sig.len + 1, nonce, sizeof(nonce), &r), -1);

	/* random bytes of random lengths, and valid headers with random bodies */
	for (round = 0; round < 3000; round++) {
		assert_ok(hl_crypto_random(rnd, sizeof(rnd)));
		len = (size_t)(rnd[0] | (rnd[1] << 8)) % sizeof(rnd);
		if (round % 3 == 1 && len > 8)
			memcpy(rnd, q.attest.data, 8);          /* magic + type of a quote */
		if (round % 3 == 2 && len > 6)
			memcpy(rnd, f->ak.pub.data, 6);         /* size + type + nameAlg */
		if (hgs_tpm_key_parse(rnd, len, &k) == 0) {
			hgs_tpm_key_check_ak(k, NULL);
			hgs_tpm_key_check_transport(k, NULL);
			hgs_tpm_key_free(k);
			k = NULL;
		}
		assert_int_equal(hgs_tpm_verify_quote(ak, rnd, len, q.sig.data, q.sig.len, nonce,
						      sizeof(nonce), &r), -1);
		assert_int_equal(hgs_tpm_verify_quote(ak, q.attest.data, q.attest.len, rnd, len,
						      nonce, sizeof(nonce), &r), -1);
		assert_int_equal(hgs_tpm_verify_certify(ak, tk, rnd, len, sig.data, sig.len, nonce,
							sizeof(nonce)), -1);
		assert_int_equal(hgs_tpm_verify_certify(ak, tk, attest.data, attest.len, rnd, len,
							nonce, sizeof(nonce)), -1);
		if (hgs_tpm_make_credential_name(f->ek_a->pub, rnd, len % 80, nonce, 16, &got,
						 &got) == 0)
			fail_msg("random name of %zu bytes accepted", len % 80);
	}
	/* random bytes to the TPM side (a few: each costs a TPM round trip) */
	for (round = 0; round < 20; round++) {
		assert_ok(hl_crypto_random(rnd, sizeof(rnd)));
		assert_int_equal(hosts_tpm_activate_credential(f->ta, &f->ak, rnd, (size_t)round * 9,
							       rnd, 258, &got), -1);
	}

	/* empty and NULL inputs */
	assert_int_equal(hgs_tpm_key_parse(NULL, 0, &k), -1);
	assert_int_equal(hgs_tpm_verify_quote(ak, NULL, 0, NULL, 0, nonce, sizeof(nonce), &r), -1);
	assert_int_equal(hgs_tpm_verify_quote(ak, q.attest.data, q.attest.len, q.sig.data,
					      q.sig.len, NULL, 0, &r), -1);
	assert_error_has("nonce must be 1 to 64 bytes");
	assert_int_equal(hgs_tpm_verify_certify(ak, NULL, attest.data, attest.len, sig.data,
						sig.len, nonce, sizeof(nonce)), -1);
	assert_int_equal(hgs_tpm_verify_certify(NULL, tk, attest.data, attest.len, sig.data,
						sig.len, nonce, sizeof(nonce)), -1);
	hosts_tpm_quote_release(&q);
	hl_buf_free(&attest);
	hl_buf_free(&sig);
	assert_int_equal(hosts_tpm_quote(f->ta, &f->ak, 0, nonce, 4, &q), -1);
	assert_int_equal(hosts_tpm_quote(f->ta, &f->ak, 1, nonce, 0, &q), -1);
	assert_int_equal(hosts_tpm_certify(f->ta, &f->ak, &f->tk, rnd, 65, &attest, &sig), -1);
	assert_null(attest.data);
	hosts_tpm_quote_release(&q);
	hosts_tpm_quote_release(NULL);
	hosts_tpm_key_release(NULL);
	hosts_ek_free(NULL);
	hgs_tpm_key_free(NULL);
	hl_buf_free(&attest);
	hl_buf_free(&sig);
	hl_buf_free(&id);
	hl_buf_free(&es);
	hgs_tpm_key_free(ak);
	hgs_tpm_key_free(tk);
}

/* Timing figures for the report (TAP comments). */
static void test_timings(void **state)
{
	struct fixture *f = *state;
	struct hosts_tpm_key k = { { NULL, 0 }, { NULL, 0 } };
	struct hosts_tpm_quote q;
	double t0;
	int i;

	fprintf(stderr, "# timing: manufacture (swtpm_setup) %.0f ms\n", f->manufacture_ms);
	t0 = now_ms();
	assert_ok(hosts_tpm_create_ak(f->ta, &k));
	fprintf(stderr, "# timing: create ak %.1f ms\n", now_ms() - t0);
	hosts_tpm_key_release(&k);
	t0 = now_ms();
	for (i = 0; i < 20; i++) {
		assert_ok(hosts_tpm_quote(f->ta, &f->ak, HOSTS_QUOTE_PCRS, "nonce", 5, &q));
		hosts_tpm_quote_release(&q);
	}
	fprintf(stderr, "# timing: quote, mean of 20: %.1f ms\n", (now_ms() - t0) / 20);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_ek_cert_chain, no_transients),
		cmocka_unit_test_teardown(test_manufacture_refusals, no_transients),
		cmocka_unit_test_teardown(test_ek_matches_cert, no_transients),
		cmocka_unit_test_teardown(test_kdfa_encoding, no_transients),
		cmocka_unit_test_teardown(test_credential_activation, no_transients),
		cmocka_unit_test_teardown(test_credential_tpm2_tools, no_transients),
		cmocka_unit_test_teardown(test_quote, no_transients),
		cmocka_unit_test_teardown(test_quote_ecc_ak, no_transients),
		cmocka_unit_test_teardown(test_quote_after_extend, no_transients),
		cmocka_unit_test_teardown(test_tpm2_checkquote, no_transients),
		cmocka_unit_test_teardown(test_certify, no_transients),
		cmocka_unit_test_teardown(test_key_attributes, no_transients),
		cmocka_unit_test_teardown(test_tk_decrypt, no_transients),
		cmocka_unit_test_teardown(test_key_save_load, no_transients),
		cmocka_unit_test_teardown(test_garbage_inputs, no_transients),
		cmocka_unit_test_teardown(test_timings, no_transients),
	};

	setenv("TSS2_LOG", "all+none", 0);      /* tss2's own stderr logging */
	hl_child_cleanup_install(500);
	return cmocka_run_group_tests_name("tpm_attest", tests, group_setup, group_teardown);
}
