/*
 * test_keyprotector.c - unit tests for lib/keyprotector: a KP round trip
 * (create, parse, verify, the owner and every guardian unwrap the same TK,
 * equal fingerprints); the documented wire details checked with OpenSSL
 * directly (OAEP label "HGSLAB-KP\0", PS256 over the body bytes, the
 * fingerprint's domain string); refusals: one flipped byte anywhere, a KP
 * made or re-signed by another owner when the owner is pinned, other
 * versions, malformed bodies, truncations and 2000 random buffers (never a
 * crash), a guardian that is not listed, a wrong key; grant and revoke; and
 * no file written from a KP holds the TK in any encoding.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "lib/crypto.h"
#include "lib/fileio.h"
#include "lib/json.h"
#include "proto/keyprotector.h"
#include "tests/unit/testutil.h"

/* A guardian with private keys, for the tests. */
struct tg {
	char name[32];
	EVP_PKEY *skey, *ekey;
	X509 *scert, *ecert;
	char sthumb[HL_SHA256_HEX_SIZE], ethumb[HL_SHA256_HEX_SIZE];
};

struct fx {
	char sandbox[TU_SANDBOX_DIR];   /* first: the scratch folder (tu_sandbox_new) */
	struct tg owner, mallory, hgs, b, c;
};

static struct fx *F;

/* Make test guardian G named NAME with RSA-2048 keys and self-signed certs valid [NB, NA]. */
static int make_tg(struct tg *g, const char *name, time_t nb, time_t na)
{
	struct hl_cert_spec spec = { 0 };
	char cn[64];

	snprintf(g->name, sizeof(g->name), "%s", name);
	spec.not_before = nb;
	spec.not_after = na;
	spec.is_ca = 1;
	spec.path_len = -1;
	spec.cn = cn;
	snprintf(cn, sizeof(cn), "%s Signing", name);
	if (hl_key_generate(HL_KEY_RSA2048, &g->skey) < 0 ||
	    hl_cert_issue_self_signed(&spec, g->skey, &g->scert) < 0)
		return -1;
	snprintf(cn, sizeof(cn), "%s Encryption", name);
	if (hl_key_generate(HL_KEY_RSA2048, &g->ekey) < 0 ||
	    hl_cert_issue_self_signed(&spec, g->ekey, &g->ecert) < 0)
		return -1;
	if (hl_cert_thumbprint(g->scert, g->sthumb) < 0 ||
	    hl_cert_thumbprint(g->ecert, g->ethumb) < 0)
		return -1;
	return 0;
}

/* Free test guardian G's keys and certificates. */
static void free_tg(struct tg *g)
{
	hl_key_free(g->skey);
	hl_key_free(g->ekey);
	hl_cert_free(g->scert);
	hl_cert_free(g->ecert);
}

/* G as a KP owner (borrowed). */
static struct hl_kp_owner as_owner(const struct tg *g)
{
	struct hl_kp_owner o = { g->name, g->scert, g->skey, g->ecert, g->ekey };
	return o;
}

/* G as a KP guardian (borrowed). */
static struct hl_kp_guardian as_guardian(const struct tg *g)
{
	struct hl_kp_guardian k = { g->name, g->scert, g->ecert };
	return k;
}

/* Five guardians with keys: the owner, Mallory, two HGSes, one never listed. */
static int group_setup(void **state)
{
	time_t now = time(NULL);

	F = tu_sandbox_new(sizeof(*F), "kp");
	if (!F)
		return -1;
	if (make_tg(&F->owner, "Owner", now - 60, now + 86400) < 0 ||
	    make_tg(&F->mallory, "Mallory", now - 60, now + 86400) < 0 ||
	    make_tg(&F->hgs, "MyHgsService", now - 60, now + 86400) < 0 ||
	    make_tg(&F->b, "OtherHgs", now - 60, now + 86400) < 0 ||
	    make_tg(&F->c, "NotListed", now - 60, now + 86400) < 0) {
		fprintf(stderr, "setup: %s\n", hl_error_last());
		return -1;
	}
	*state = F;
	return 0;
}

/* Free them and remove the sandbox. */
static int group_teardown(void **state)
{
	(void)state;
	free_tg(&F->owner);
	free_tg(&F->mallory);
	free_tg(&F->hgs);
	free_tg(&F->b);
	free_tg(&F->c);
	tu_sandbox_free(F);
	return 0;
}

/* A KP by the owner for MyHgsService and OtherHgs into KP (and its TK into TK). */
static void make_kp(struct hl_buf *kp, struct hl_buf *tk)
{
	struct hl_kp_owner o = as_owner(&F->owner);
	struct hl_kp_guardian g[2] = { as_guardian(&F->hgs), as_guardian(&F->b) };

	if (hl_kp_create(&o, g, 2, 0, kp, tk) < 0)
		fail_msg("create: %s", hl_error_last());
}

/* Parse BUF, expecting success. */
static struct hl_kp *parse_ok(const struct hl_buf *buf)
{
	struct hl_kp *kp = NULL;

	if (hl_kp_parse(buf->data, buf->len, &kp) < 0)
		fail_msg("parse: %s", hl_error_last());
	return kp;
}

/* Unwrap the TK of the entry of guardian G and compare it with TK. */
static void assert_unwraps(const struct hl_kp *kp, const struct tg *g, const struct hl_buf *tk)
{
	struct hl_buf got = { NULL, 0 };

	if (hl_kp_unwrap(kp, g->ecert, g->ekey, &got) < 0)
		fail_msg("unwrap for %s: %s", g->name, hl_error_last());
	assert_int_equal(got.len, HL_KP_TK_LEN);
	assert_memory_equal(got.data, tk->data, HL_KP_TK_LEN);
	hl_buf_free(&got);
}

/* Create, parse, verify; the owner and each guardian unwrap the same TK; fingerprints agree. */
static void test_round_trip(void **state)
{
	struct hl_buf kpb = { NULL, 0 }, tk = { NULL, 0 };
	char fp1[HL_SHA256_HEX_SIZE], fp2[HL_SHA256_HEX_SIZE];
	const struct hl_kp_entry *e = NULL;
	struct hl_buf got = { NULL, 0 };
	struct hl_kp *kp;

	(void)state;
	make_kp(&kpb, &tk);
	assert_int_equal(tk.len, HL_KP_TK_LEN);
	kp = parse_ok(&kpb);
	assert_int_equal(kp->version, 1);
	assert_int_equal(kp->n_entries, 3);
	assert_string_equal(kp->owner_name, "Owner");
	assert_string_equal(kp->entries[0].name, "Owner");
	assert_string_equal(kp->entries[1].name, "MyHgsService");
	assert_string_equal(kp->entries[2].name, "OtherHgs");
	assert_string_equal(kp->owner_signing_thumbprint, F->owner.sthumb);
	assert_string_equal(kp->entries[1].signing_thumbprint, F->hgs.sthumb);
	assert_string_equal(kp->entries[1].encryption_thumbprint, F->hgs.ethumb);
	assert_string_equal(kp->owner_encryption_thumbprint, F->owner.ethumb);
	assert_string_equal(kp->entries[0].encryption_thumbprint, F->owner.ethumb);
	{
		X509 *x = NULL;

		assert_int_equal(hl_cert_from_der(kp->entries[1].encryption_cert_der.data,
						  kp->entries[1].encryption_cert_der.len, &x), 0);
		assert_int_equal(X509_cmp(x, F->hgs.ecert), 0);
		hl_cert_free(x);
	}
	assert_int_equal(strlen(kp->id), 32);
	assert_int_equal(hl_kp_verify(kp, NULL), 0);
	assert_int_equal(hl_kp_verify(kp, F->owner.sthumb), 0);
	assert_unwraps(kp, &F->owner, &tk);
	assert_unwraps(kp, &F->hgs, &tk);
	assert_unwraps(kp, &F->b, &tk);
	/* the same through find + unwrap_entry, as the KPS does */
	assert_int_equal(hl_kp_find(kp, F->hgs.ethumb, &e), 0);
	assert_ptr_equal(e, &kp->entries[1]);
	assert_int_equal(hl_kp_unwrap_entry(e, F->hgs.ekey, &got), 0);
	assert_int_equal(hl_kp_tk_fingerprint(got.data, got.len, fp1), 0);
	assert_int_equal(hl_kp_tk_fingerprint(tk.data, tk.len, fp2), 0);
	assert_string_equal(fp1, fp2);
	assert_int_equal(hl_kp_find_name(kp, "OtherHgs", &e), 0);
	assert_ptr_equal(e, &kp->entries[2]);
	hl_buf_free(&got);
	hl_kp_free(kp);
	hl_buf_free(&kpb);
	hl_buf_free(&tk);
}

/* Two KPs have different TKs, fingerprints and ids. */
static void test_two_kps_differ(void **state)
{
	struct hl_buf a = { NULL, 0 }, ta = { NULL, 0 }, b = { NULL, 0 }, tb = { NULL, 0 };
	char fa[HL_SHA256_HEX_SIZE], fb[HL_SHA256_HEX_SIZE];
	struct hl_kp *ka, *kb;

	(void)state;
	make_kp(&a, &ta);
	make_kp(&b, &tb);
	assert_memory_not_equal(ta.data, tb.data, HL_KP_TK_LEN);
	assert_int_equal(hl_kp_tk_fingerprint(ta.data, ta.len, fa), 0);
	assert_int_equal(hl_kp_tk_fingerprint(tb.data, tb.len, fb), 0);
	assert_string_not_equal(fa, fb);
	ka = parse_ok(&a);
	kb = parse_ok(&b);
	assert_string_not_equal(ka->id, kb->id);
	hl_kp_free(ka);
	hl_kp_free(kb);
	hl_buf_free(&a);
	hl_buf_free(&b);
	hl_buf_free(&ta);
	hl_buf_free(&tb);
}

/* The documented wire details, checked with OpenSSL directly, not through lib/keyprotector. */
static void test_wire_format_with_openssl(void **state)
{
	static const unsigned char label[10] = "HGSLAB-KP";
	struct hl_buf kpb = { NULL, 0 }, tk = { NULL, 0 }, body = { NULL, 0 }, sig = { NULL, 0 };
	unsigned char md[32], out[512], *lab;
	char hex[65], fp[HL_SHA256_HEX_SIZE];
	EVP_PKEY_CTX *ctx;
	struct hl_kp *kp;
	json_t *root;
	size_t outlen = sizeof(out);
	EVP_PKEY *pub = NULL;
	unsigned int mdlen = 0;
	EVP_MD_CTX *mctx;
	const char *s;

	(void)state;
	make_kp(&kpb, &tk);
	kp = parse_ok(&kpb);
	/* outer object */
	assert_int_equal(hl_json_parse(kpb.data, kpb.len, 0, &root), 0);
	assert_string_equal(json_string_value(json_object_get(root, "format")), "hgslab-kp");
	assert_int_equal(json_integer_value(json_object_get(root, "version")), 1);
	assert_string_equal(json_string_value(json_object_get(root, "alg")), "PS256");
	s = json_string_value(json_object_get(root, "body"));
	assert_int_equal(hl_crypto_base64_decode(s, strlen(s), &body), 0);
	s = json_string_value(json_object_get(root, "signature"));
	assert_int_equal(hl_crypto_base64_decode(s, strlen(s), &sig), 0);
	/* PS256 over the body bytes with the owner's signing key */
	assert_int_equal(hl_cert_pubkey(F->owner.scert, &pub), 0);
	mctx = EVP_MD_CTX_new();
	assert_int_equal(EVP_DigestVerifyInit(mctx, &ctx, EVP_sha256(), NULL, pub), 1);
	assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PSS_PADDING), 1);
	assert_int_equal(EVP_DigestVerify(mctx, sig.data, sig.len, body.data, body.len), 1);
	EVP_MD_CTX_free(mctx);
	hl_key_free(pub);
	/* RSA-OAEP SHA-256 with the 10-byte label to the HGS guardian's encryption key */
	ctx = EVP_PKEY_CTX_new(F->hgs.ekey, NULL);
	assert_non_null(ctx);
	lab = OPENSSL_memdup(label, sizeof(label));
	assert_int_equal(EVP_PKEY_decrypt_init(ctx), 1);
	assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING), 1);
	assert_int_equal(EVP_PKEY_CTX_set_rsa_oaep_md(ctx, EVP_sha256()), 1);
	assert_int_equal(EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, EVP_sha256()), 1);
	assert_int_equal(EVP_PKEY_CTX_set0_rsa_oaep_label(ctx, lab, sizeof(label)), 1);
	assert_int_equal(EVP_PKEY_decrypt(ctx, out, &outlen, kp->entries[1].wrapped_tk.data,
					  kp->entries[1].wrapped_tk.len), 1);
	assert_int_equal(outlen, 32);
	assert_memory_equal(out, tk.data, 32);
	EVP_PKEY_CTX_free(ctx);
	/* the label without its NUL does not open it */
	ctx = EVP_PKEY_CTX_new(F->hgs.ekey, NULL);
	lab = OPENSSL_memdup(label, 9);
	outlen = sizeof(out);
	assert_int_equal(EVP_PKEY_decrypt_init(ctx), 1);
	assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING), 1);
	assert_int_equal(EVP_PKEY_CTX_set_rsa_oaep_md(ctx, EVP_sha256()), 1);
	assert_int_equal(EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, EVP_sha256()), 1);
	assert_int_equal(EVP_PKEY_CTX_set0_rsa_oaep_label(ctx, lab, 9), 1);
	assert_int_not_equal(EVP_PKEY_decrypt(ctx, out, &outlen, kp->entries[1].wrapped_tk.data,
					      kp->entries[1].wrapped_tk.len), 1);
	EVP_PKEY_CTX_free(ctx);
	/* fingerprint = SHA-256("hgslab-kp-tk-fingerprint-v1" NUL TK) */
	mctx = EVP_MD_CTX_new();
	assert_int_equal(EVP_DigestInit_ex(mctx, EVP_sha256(), NULL), 1);
	assert_int_equal(EVP_DigestUpdate(mctx, "hgslab-kp-tk-fingerprint-v1", 28), 1);
	assert_int_equal(EVP_DigestUpdate(mctx, tk.data, tk.len), 1);
	assert_int_equal(EVP_DigestFinal_ex(mctx, md, &mdlen), 1);
	EVP_MD_CTX_free(mctx);
	assert_int_equal(hl_crypto_hex_encode(md, 32, hex, sizeof(hex)), 0);
	assert_int_equal(hl_kp_tk_fingerprint(tk.data, tk.len, fp), 0);
	assert_string_equal(fp, hex);
	json_decref(root);
	hl_kp_free(kp);
	hl_buf_free(&kpb);
	hl_buf_free(&tk);
	hl_buf_free(&body);
	hl_buf_free(&sig);
}

/* 0 when BUF parses and verifies (pinned to the owner), -1 otherwise. */
static int parse_verify(const void *buf, size_t len)
{
	struct hl_kp *kp = NULL;
	int rc;

	if (hl_kp_parse(buf, len, &kp) < 0) {
		assert_null(kp);
		assert_true(strlen(hl_error_last()) > 0);
		return -1;
	}
	rc = hl_kp_verify(kp, F->owner.sthumb);
	hl_kp_free(kp);
	return rc;
}

/* One changed byte anywhere in the file: refused by the parser or the signature. */
static void test_every_flipped_byte_refused(void **state)
{
	static const unsigned char masks[] = { 0x01, 0x80, 0x20 };
	struct hl_buf kpb = { NULL, 0 };
	unsigned char *copy;
	size_t i, m, refused = 0;

	(void)state;
	make_kp(&kpb, NULL);
	assert_int_equal(parse_verify(kpb.data, kpb.len), 0);
	copy = malloc(kpb.len);
	assert_non_null(copy);
	/* every byte with mask 0x01; every 5th byte with the other masks */
	for (m = 0; m < sizeof(masks); m++) {
		for (i = 0; i < kpb.len; i += m ? 5 : 1) {
			memcpy(copy, kpb.data, kpb.len);
			copy[i] ^= masks[m];
			if (parse_verify(copy, kpb.len) == 0)
				fail_msg("flipping byte %zu (mask 0x%02x, '%c') was accepted", i,
					 masks[m], kpb.data[i]);
			refused++;
		}
	}
	assert_int_equal(refused, kpb.len + 2 * ((kpb.len + 4) / 5));
	free(copy);
	hl_buf_free(&kpb);
}

/* Build a KP file around BODY_JSON signed with G's signing key into OUT. */
static void wrap_body(const char *body_json, const struct tg *g, struct hl_buf *out)
{
	struct hl_buf sig = { NULL, 0 };
	json_t *o = json_object();
	char *text = NULL;

	assert_int_equal(hl_crypto_sign(g->skey, HL_SIG_RSA_PSS, body_json, strlen(body_json), &sig),
			 0);
	json_object_set_new(o, "format", json_string("hgslab-kp"));
	json_object_set_new(o, "version", json_integer(1));
	json_object_set_new(o, "alg", json_string("PS256"));
	assert_int_equal(hl_json_set_base64(o, "body", body_json, strlen(body_json)), 0);
	assert_int_equal(hl_json_set_base64(o, "signature", sig.data, sig.len), 0);
	assert_int_equal(hl_json_dump(o, &text), 0);
	out->data = (unsigned char *)text;
	out->len = strlen(text);
	json_decref(o);
	hl_buf_free(&sig);
}

/* The decoded body of KP file BUF as a new JSON object. */
static json_t *body_of(const struct hl_buf *buf)
{
	json_t *root = NULL, *body = NULL;
	struct hl_buf b = { NULL, 0 };
	const char *s;

	assert_int_equal(hl_json_parse(buf->data, buf->len, 0, &root), 0);
	s = json_string_value(json_object_get(root, "body"));
	assert_int_equal(hl_crypto_base64_decode(s, strlen(s), &b), 0);
	assert_int_equal(hl_json_parse(b.data, b.len, 0, &body), 0);
	hl_buf_free(&b);
	json_decref(root);
	return body;
}

/* Another owner's KP fails when the owner is pinned; a body re-signed by another key fails. */
static void test_other_owner_refused_when_pinned(void **state)
{
	struct hl_kp_owner m = as_owner(&F->mallory);
	struct hl_kp_guardian g = as_guardian(&F->hgs);
	struct hl_buf kpb = { NULL, 0 }, forged = { NULL, 0 };
	struct hl_kp *kp;
	json_t *body;
	char *text;

	(void)state;
	/* a KP made by someone else: valid on its own, refused when the owner is pinned */
	assert_int_equal(hl_kp_create(&m, &g, 1, 0, &kpb, NULL), 0);
	kp = parse_ok(&kpb);
	assert_int_equal(hl_kp_verify(kp, NULL), 0);
	assert_int_equal(hl_kp_verify(kp, F->owner.sthumb), -1);
	assert_true(tu_error_has("not by the expected owner"));
	hl_kp_free(kp);
	hl_buf_free(&kpb);

	/* the owner's body re-signed by Mallory: the owner cert inside does not verify it */
	make_kp(&kpb, NULL);
	body = body_of(&kpb);
	assert_int_equal(hl_json_dump(body, &text), 0);
	wrap_body(text, &F->mallory, &forged);
	kp = parse_ok(&forged);
	assert_int_equal(hl_kp_verify(kp, NULL), -1);
	assert_true(tu_error_has("signature does not verify"));
	hl_kp_free(kp);
	free(text);
	json_decref(body);
	hl_buf_free(&forged);
	hl_buf_free(&kpb);
}

/* Replace the first occurrence of FROM in BUF by TO into a new buffer OUT. */
static void replace(const struct hl_buf *buf, const char *from, const char *to, struct hl_buf *out)
{
	const char *p = strstr((const char *)buf->data, from);
	size_t pre, len;

	assert_non_null(p);
	pre = (size_t)(p - (const char *)buf->data);
	len = buf->len - strlen(from) + strlen(to);
	out->data = malloc(len + 1);
	memcpy(out->data, buf->data, pre);
	memcpy(out->data + pre, to, strlen(to));
	memcpy(out->data + pre + strlen(to), p + strlen(from), buf->len - pre - strlen(from));
	out->data[len] = '\0';
	out->len = len;
}

/* Expect BUF to be refused by the parser with a message containing NEEDLE. */
static void expect_refused(const struct hl_buf *buf, const char *needle)
{
	struct hl_kp *kp = (struct hl_kp *)1;

	assert_int_equal(hl_kp_parse(buf->data, buf->len, &kp), -1);
	assert_null(kp);
	assert_true(tu_error_has(needle));
}

/* Other versions, formats, algorithms and outer fields are refused by name. */
static void test_version_and_outer_fields(void **state)
{
	struct hl_buf kpb = { NULL, 0 }, bad = { NULL, 0 };

	(void)state;
	make_kp(&kpb, NULL);
	replace(&kpb, "\"version\": 1", "\"version\": 2", &bad);
	expect_refused(&bad, "key protector version 2 is not supported; this hgslab reads version 1");
	hl_buf_free(&bad);
	replace(&kpb, "\"version\": 1", "\"version\": \"1\"", &bad);
	expect_refused(&bad, "version");
	hl_buf_free(&bad);
	replace(&kpb, "\"hgslab-kp\"", "\"hgs-kp\"", &bad);
	expect_refused(&bad, "not an hgslab key protector");
	hl_buf_free(&bad);
	replace(&kpb, "\"PS256\"", "\"RS256\"", &bad);
	expect_refused(&bad, "only \"PS256\"");
	hl_buf_free(&bad);
	replace(&kpb, "\"alg\"", "\"extra\": 1, \"alg\"", &bad);
	expect_refused(&bad, "unknown field 'extra'");
	hl_buf_free(&bad);
	replace(&kpb, "\"signature\"", "\"sig\"", &bad);
	expect_refused(&bad, "");
	hl_buf_free(&bad);
	expect_refused(&(struct hl_buf){ (unsigned char *)"[1,2]", 5 }, "bad key protector");
	expect_refused(&(struct hl_buf){ (unsigned char *)"", 0 }, "empty");
	hl_buf_free(&kpb);
}

/* Mutate the body of a valid KP with FN, re-sign it as the owner, expect NEEDLE. */
static void body_case(void (*fn)(json_t *body), const char *needle)
{
	struct hl_buf kpb = { NULL, 0 }, out = { NULL, 0 };
	json_t *body;
	char *text;

	make_kp(&kpb, NULL);
	body = body_of(&kpb);
	fn(body);
	assert_int_equal(hl_json_dump(body, &text), 0);
	wrap_body(text, &F->owner, &out);
	expect_refused(&out, needle);
	free(text);
	json_decref(body);
	hl_buf_free(&out);
	hl_buf_free(&kpb);
}

/* Guardian entry I of BODY (borrowed). */
static json_t *entry(json_t *body, size_t i)
{
	return json_array_get(json_object_get(body, "guardians"), i);
}

/* Body mutators for test_malformed_bodies: each breaks one rule. */
static void m_extra(json_t *b) { json_object_set_new(b, "note", json_string("x")); }
static void m_no_id(json_t *b) { json_object_del(b, "id"); }
static void m_bad_id(json_t *b) { json_object_set_new(b, "id", json_string("XYZ")); }
static void m_bad_time(json_t *b) { json_object_set_new(b, "created", json_string("yesterday")); }
static void m_empty(json_t *b) { json_array_clear(json_object_get(b, "guardians")); }
static void m_not_array(json_t *b) { json_object_set_new(b, "guardians", json_integer(3)); }
static void m_owner_second(json_t *b)
{
	json_t *g = json_object_get(b, "guardians"), *first = json_incref(json_array_get(g, 0));

	json_array_remove(g, 0);
	json_array_append_new(g, first);
}
static void m_dup(json_t *b)
{
	json_array_append(json_object_get(b, "guardians"), entry(b, 1));
}
static void m_thumb(json_t *b)
{
	json_object_set(entry(b, 1), "encryption_thumbprint",
			json_object_get(entry(b, 2), "encryption_thumbprint"));
}
static void m_thumb_lower(json_t *b)
{
	char t[HL_SHA256_HEX_SIZE];
	size_t i;

	snprintf(t, sizeof(t), "%s",
		 json_string_value(json_object_get(entry(b, 1), "signing_thumbprint")));
	for (i = 0; t[i]; i++)
		t[i] = (char)(t[i] >= 'A' && t[i] <= 'F' ? t[i] + 32 : t[i]);
	json_object_set_new(entry(b, 1), "signing_thumbprint", json_string(t));
}
static void m_short_wrap(json_t *b)
{
	json_object_set_new(entry(b, 1), "wrapped_tk", json_string("AAAA"));
}
static void m_bad_pem(json_t *b)
{
	json_object_set_new(entry(b, 2), "encryption_cert", json_string("AAAA"));
}
static void m_owner_enc(json_t *b)
{
	json_object_set(json_object_get(b, "owner"), "encryption_cert",
			json_object_get(entry(b, 0), "encryption_cert"));
}
static void m_owner_sig_garbage(json_t *b)
{
	/* a DER SEQUENCE that is no certificate */
	json_object_set_new(json_object_get(b, "owner"), "signing_cert",
			    json_string("MBQCAQECAQICAQMCAQQCAQUCAQYCAQc="));
}
static void m_entry_extra(json_t *b) { json_object_set_new(entry(b, 1), "x", json_true()); }
static void m_name_ctrl(json_t *b) { json_object_set_new(entry(b, 2), "name", json_string("a\nb")); }
static void m_owner_extra(json_t *b)
{
	json_object_set_new(json_object_get(b, "owner"), "key", json_string("secret"));
}
static void m_body_array(json_t *b)
{
	json_object_clear(b);
}

/* Each malformed body, correctly signed, is refused with a message naming the problem. */
static void test_malformed_bodies(void **state)
{
	(void)state;
	body_case(m_extra, "unknown field 'note'");
	body_case(m_no_id, "lacks field 'id'");
	body_case(m_bad_id, "field 'id' must be 32 lowercase hex");
	body_case(m_bad_time, "field 'created'");
	body_case(m_empty, "1 to 64 are allowed");
	body_case(m_not_array, "guardians");
	body_case(m_owner_second, "is not the owner");
	body_case(m_dup, "listed twice");
	body_case(m_thumb, "does not match its encryption certificate");
	body_case(m_thumb_lower, "uppercase hex");
	body_case(m_short_wrap, "field 'wrapped_tk' is 3 bytes");
	body_case(m_bad_pem, "field 'encryption_cert' is not a DER certificate");
	body_case(m_owner_enc, "unknown field 'encryption_cert'");
	body_case(m_owner_sig_garbage, "field 'signing_cert'");
	body_case(m_entry_extra, "unknown field 'x'");
	body_case(m_name_ctrl, "control character");
	body_case(m_owner_extra, "unknown field 'key'");
	body_case(m_body_array, "lacks field");
}

/* Every truncation and 2000 random buffers: refused, no crash, nothing handed out. */
static void test_truncated_and_random_never_crash(void **state)
{
	struct hl_buf kpb = { NULL, 0 };
	unsigned char *buf;
	size_t i, len;
	struct hl_kp *kp;

	(void)state;
	make_kp(&kpb, NULL);
	/* every prefix shorter than the JSON text (the trailing newline is optional) */
	for (len = 0; len + 1 < kpb.len; len++) {
		kp = NULL;
		if (hl_kp_parse(kpb.data, len, &kp) == 0)
			fail_msg("a KP truncated to %zu of %zu bytes was accepted", len, kpb.len);
		assert_null(kp);
	}
	buf = malloc(8192);
	assert_non_null(buf);
	srand(12345);
	for (i = 0; i < 2000; i++) {
		len = (size_t)rand() % 8192;
		assert_int_equal(hl_crypto_random(buf, len ? len : 1), 0);
		if (i % 4 == 1 && len > 20)    /* looks like JSON at the start */
			memcpy(buf, "{\"format\":\"hgslab-kp\",", 22);
		if (i % 4 == 2 && len > 1) {   /* a valid prefix, then garbage */
			size_t keep = len < kpb.len ? len / 2 : kpb.len / 2;

			memcpy(buf, kpb.data, keep);
		}
		kp = NULL;
		assert_int_equal(hl_kp_parse(buf, len, &kp), -1);
		assert_null(kp);
	}
	/* larger than the cap */
	assert_int_equal(hl_kp_parse(kpb.data, HL_KP_MAX_SIZE + 1, &kp), -1);
	assert_true(tu_error_has("larger than"));
	free(buf);
	hl_buf_free(&kpb);
}

/* A guardian that is not listed finds no entry; a wrong key unwraps nothing. */
static void test_not_listed_and_wrong_key(void **state)
{
	struct hl_buf kpb = { NULL, 0 }, tk = { NULL, 0 };
	const struct hl_kp_entry *e = (const struct hl_kp_entry *)1;
	struct hl_kp *kp;

	(void)state;
	make_kp(&kpb, NULL);
	kp = parse_ok(&kpb);
	assert_int_equal(hl_kp_find(kp, F->c.ethumb, &e), -1);
	assert_null(e);
	assert_true(tu_error_has("does not list a guardian"));
	assert_int_equal(hl_kp_unwrap(kp, F->c.ecert, F->c.ekey, &tk), -1);
	assert_null(tk.data);
	assert_int_equal(hl_kp_find_name(kp, "NotListed", &e), -1);
	/* the HGS entry with another guardian's key */
	assert_int_equal(hl_kp_unwrap_entry(&kp->entries[1], F->b.ekey, &tk), -1);
	assert_true(tu_error_has("wrong key"));
	assert_null(tk.data);
	hl_kp_free(kp);
	hl_buf_free(&kpb);
}

/* Duplicates, an owner without (matching) keys and expired certificates are refused. */
static void test_create_refusals(void **state)
{
	struct hl_kp_owner o = as_owner(&F->owner), nokey = as_owner(&F->owner);
	struct hl_kp_guardian g[2] = { as_guardian(&F->hgs), as_guardian(&F->hgs) };
	struct hl_kp_guardian self = as_guardian(&F->owner);
	struct hl_buf kpb = { NULL, 0 }, tk = { NULL, 0 };
	struct tg old = { 0 };
	struct hl_kp_guardian og;
	time_t now = time(NULL);

	(void)state;
	assert_int_equal(hl_kp_create(&o, g, 2, 0, &kpb, &tk), -1);
	assert_true(tu_error_has("given twice"));
	assert_null(kpb.data);
	assert_null(tk.data);
	assert_int_equal(hl_kp_create(&o, &self, 1, 0, &kpb, &tk), -1);
	nokey.signing_key = NULL;
	assert_int_equal(hl_kp_create(&nokey, NULL, 0, 0, &kpb, &tk), -1);
	assert_true(tu_error_has("no private keys"));
	nokey = as_owner(&F->owner);
	nokey.encryption_key = F->hgs.ekey; /* a key that is not the certificate's */
	assert_int_equal(hl_kp_create(&nokey, NULL, 0, 0, &kpb, &tk), -1);
	assert_true(tu_error_has("does not match"));
	/* an expired guardian: refused unless HL_KP_ALLOW_EXPIRED */
	assert_int_equal(make_tg(&old, "Expired", now - 2 * 86400, now - 86400), 0);
	og = as_guardian(&old);
	assert_int_equal(hl_kp_create(&o, &og, 1, 0, &kpb, &tk), -1);
	assert_true(tu_error_has("expired on"));
	assert_true(tu_error_has("--allow-expired"));
	assert_int_equal(hl_kp_create(&o, &og, 1, HL_KP_ALLOW_EXPIRED, &kpb, &tk), 0);
	hl_buf_free(&kpb);
	hl_buf_free(&tk);
	free_tg(&old);
	/* an owner-only KP is fine */
	assert_int_equal(hl_kp_create(&o, NULL, 0, 0, &kpb, NULL), 0);
	hl_buf_free(&kpb);
}

/* Grant adds a guardian who opens the same TK; revoke removes it; only the owner may. */
static void test_grant_and_revoke(void **state)
{
	struct hl_kp_owner o = as_owner(&F->owner), m = as_owner(&F->mallory);
	struct hl_kp_guardian g = as_guardian(&F->hgs), c = as_guardian(&F->c);
	struct hl_buf kpb = { NULL, 0 }, tk = { NULL, 0 }, granted = { NULL, 0 };
	struct hl_buf revoked = { NULL, 0 }, x = { NULL, 0 };
	const struct hl_kp_entry *e;
	struct hl_kp *kp, *kp2, *kp3;

	(void)state;
	assert_int_equal(hl_kp_create(&o, &g, 1, 0, &kpb, &tk), 0);
	kp = parse_ok(&kpb);
	assert_int_equal(hl_kp_find(kp, F->c.ethumb, &e), -1);
	/* grant: C can unwrap the same TK; id and created stay */
	assert_int_equal(hl_kp_grant(kp, &o, &c, 0, &granted), 0);
	kp2 = parse_ok(&granted);
	assert_int_equal(hl_kp_verify(kp2, F->owner.sthumb), 0);
	assert_int_equal(kp2->n_entries, 3);
	assert_string_equal(kp2->id, kp->id);
	assert_string_equal(kp2->created, kp->created);
	assert_unwraps(kp2, &F->c, &tk);
	assert_unwraps(kp2, &F->hgs, &tk);
	assert_unwraps(kp2, &F->owner, &tk);
	/* granting twice, or by someone who is not the owner, is refused */
	assert_int_equal(hl_kp_grant(kp2, &o, &c, 0, &x), -1);
	assert_true(tu_error_has("already has access"));
	assert_int_equal(hl_kp_grant(kp, &m, &c, 0, &x), -1);
	assert_true(tu_error_has("not by the expected owner"));
	assert_null(x.data);
	/* revoke: C has no entry any more; the others still unwrap */
	assert_int_equal(hl_kp_revoke(kp2, &o, F->c.ethumb, &revoked), 0);
	kp3 = parse_ok(&revoked);
	assert_int_equal(hl_kp_verify(kp3, F->owner.sthumb), 0);
	assert_int_equal(kp3->n_entries, 2);
	assert_int_equal(hl_kp_find(kp3, F->c.ethumb, &e), -1);
	assert_true(tu_error_has("does not list"));
	assert_int_equal(hl_kp_unwrap(kp3, F->c.ecert, F->c.ekey, &x), -1);
	assert_unwraps(kp3, &F->hgs, &tk);
	/* the owner cannot be revoked, nor someone not listed, nor by another owner */
	assert_int_equal(hl_kp_revoke(kp3, &o, F->owner.ethumb, &x), -1);
	assert_true(tu_error_has("the owner cannot be revoked"));
	assert_int_equal(hl_kp_revoke(kp3, &o, F->c.ethumb, &x), -1);
	assert_int_equal(hl_kp_revoke(kp2, &m, F->c.ethumb, &x), -1);
	assert_null(x.data);
	hl_kp_free(kp);
	hl_kp_free(kp2);
	hl_kp_free(kp3);
	hl_buf_free(&kpb);
	hl_buf_free(&granted);
	hl_buf_free(&revoked);
	hl_buf_free(&tk);
}

/* 1 when the LEN bytes NEEDLE occur in the LEN_H bytes HAY. */
static int contains(const void *hay, size_t len_h, const void *needle, size_t len)
{
	return memmem(hay, len_h, needle, len) != NULL;
}

/* Files written from KPs (created and granted) hold the TK in no encoding. */
static void test_tk_in_no_file(void **state)
{
	struct hl_buf kpb = { NULL, 0 }, tk = { NULL, 0 }, b64 = { NULL, 0 }, granted = { NULL, 0 };
	struct hl_kp_owner o = as_owner(&F->owner);
	struct hl_kp_guardian c = as_guardian(&F->c);
	char path[128], hex[2 * HL_KP_TK_LEN + 1], lower[sizeof(hex)], *text;
	struct dirent *de;
	struct hl_kp *kp;
	size_t len, i, files = 0;
	DIR *d;

	(void)state;
	make_kp(&kpb, &tk);
	kp = parse_ok(&kpb);
	assert_int_equal(hl_kp_grant(kp, &o, &c, 0, &granted), 0);
	snprintf(path, sizeof(path), "%s/vm.kp", F->sandbox);
	assert_int_equal(hl_file_write(path, kpb.data, kpb.len, 0644), 0);
	snprintf(path, sizeof(path), "%s/granted.kp", F->sandbox);
	assert_int_equal(hl_file_write(path, granted.data, granted.len, 0644), 0);
	assert_int_equal(hl_crypto_hex_encode(tk.data, tk.len, hex, sizeof(hex)), 0);
	for (i = 0; hex[i]; i++)
		lower[i] = (char)(hex[i] >= 'A' && hex[i] <= 'F' ? hex[i] + 32 : hex[i]);
	lower[i] = '\0';
	assert_int_equal(hl_crypto_base64_encode(tk.data, tk.len, &b64), 0);
	d = opendir(F->sandbox);
	assert_non_null(d);
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", F->sandbox, de->d_name);
		text = NULL;
		assert_int_equal(hl_file_read(path, HL_FILE_READ_MAX, &text, &len), 0);
		assert_false(contains(text, len, tk.data, tk.len));
		assert_false(contains(text, len, hex, strlen(hex)));
		assert_false(contains(text, len, lower, strlen(lower)));
		/* base64 without its padding, at the start of a base64 group */
		assert_false(contains(text, len, b64.data, b64.len - 1));
		free(text);
		files++;
	}
	closedir(d);
	assert_true(files >= 2);
	hl_kp_free(kp);
	hl_buf_free(&kpb);
	hl_buf_free(&granted);
	hl_buf_free(&tk);
	hl_buf_free(&b64);
}

/* Bad arguments to the fingerprint, and NULL to the destructor. */
static void test_fingerprint_args(void **state)
{
	char fp[HL_SHA256_HEX_SIZE];

	(void)state;
	assert_int_equal(hl_kp_tk_fingerprint(NULL, 32, fp), -1);
	assert_int_equal(hl_kp_tk_fingerprint("x", 0, fp), -1);
	hl_kp_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_two_kps_differ),
		cmocka_unit_test(test_wire_format_with_openssl),
		cmocka_unit_test(test_every_flipped_byte_refused),
		cmocka_unit_test(test_other_owner_refused_when_pinned),
		cmocka_unit_test(test_version_and_outer_fields),
		cmocka_unit_test(test_malformed_bodies),
		cmocka_unit_test(test_truncated_and_random_never_crash),
		cmocka_unit_test(test_not_listed_and_wrong_key),
		cmocka_unit_test(test_create_refusals),
		cmocka_unit_test(test_grant_and_revoke),
		cmocka_unit_test(test_tk_in_no_file),
		cmocka_unit_test(test_fingerprint_args),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
