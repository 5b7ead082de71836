/*
 * test_pdk.c - unit tests for proto/pdk: a .pdk round trip (create, parse,
 * verify with and without the owner pinned, the owner and the HGS guardian
 * unwrap the same TK, the secrets key derived as documented, the secrets
 * decrypted back), the secrets in no form in the file's bytes, its body or
 * its key protector, a wrong key, a body re-signed by another key, a .pdk
 * made whole by someone else (refused when the owner is pinned), a flipped
 * byte anywhere in the file, every truncation, every malformed field of the
 * envelope, the body and the decrypted secrets, the writer's refusals, and
 * matching templates against the qualifiers.
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

#include "lib/crypto.h"
#include "lib/json.h"
#include "proto/keyprotector.h"
#include "proto/pdk.h"
#include "proto/vsc.h"
#include "proto/vsc_viq.h"
#include "tests/unit/testutil.h"

#define SECRET "SECRET-Adm1nPassw0rd-xyzzy"
#define OTHER_SECRET "other-file-secret-plugh"

/* A guardian with private keys. */
struct tg {
	char name[32];
	EVP_PKEY *skey, *ekey;
	X509 *scert, *ecert;
	char sthumb[HL_SHA256_HEX_SIZE];
};

static struct tg owner, hgs, mallory;
static EVP_PKEY *tkey;          /* the template signer */
static X509 *tcert;
static struct hl_vsc *vsc1, *vsc2;  /* WindowsServer2016 1.0.0.0 and 2.0.0.0 */
static struct hl_buf pdk_bytes; /* a .pdk made in setup */

/* A self-signed certificate for K named CN. */
static int self_signed(EVP_PKEY *k, const char *cn, X509 **c)
{
	struct hl_cert_spec spec = { 0 };
	time_t now = time(NULL);

	spec.cn = cn;
	spec.not_before = now - 60;
	spec.not_after = now + 86400;
	spec.is_ca = 1;
	spec.path_len = -1;
	return hl_cert_issue_self_signed(&spec, k, c);
}

/* Make guardian G named NAME. */
static int make_tg(struct tg *g, const char *name)
{
	snprintf(g->name, sizeof(g->name), "%s", name);
	if (hl_key_generate(HL_KEY_RSA2048, &g->skey) < 0 || self_signed(g->skey, name, &g->scert) < 0 ||
	    hl_key_generate(HL_KEY_RSA2048, &g->ekey) < 0 || self_signed(g->ekey, name, &g->ecert) < 0)
		return -1;
	return hl_cert_thumbprint(g->scert, g->sthumb);
}

/* A verified VSC of WindowsServer2016 VERSION. */
static struct hl_vsc *make_vsc(const char *version)
{
	struct hl_vsc_spec spec = { 0 };
	struct hl_buf der = { NULL, 0 };
	struct hl_vsc *vsc = NULL;

	spec.name = "WindowsServer2016";
	spec.disk_bytes = 4096;
	spec.signed_at = time(NULL);
	if (hl_vsc_version_parse(version, &spec.version) < 0 ||
	    hl_vsc_sign(&spec, tcert, tkey, &der) < 0 || hl_vsc_parse(der.data, der.len, &vsc) < 0)
		vsc = NULL;
	hl_buf_free(&der);
	return vsc;
}

/* The owner of G (borrowed). */
static struct hl_kp_owner as_owner(const struct tg *g)
{
	struct hl_kp_owner o = { g->name, g->scert, g->skey, g->ecert, g->ekey };
	return o;
}

/* Secrets: an answer file and two other files (borrowed strings). */
static struct hl_pdk_file others[2];
static struct hl_pdk_secrets secrets;

/* Fill the secrets. */
static void fill_secrets(void)
{
	memset(&secrets, 0, sizeof(secrets));
	secrets.has_answer_file = 1;
	strcpy(secrets.answer_file.name, "unattend.txt");
	secrets.answer_file.content.data = (unsigned char *)"AdminPassword=" SECRET "\n"
							    "ComputerName=@ComputerName@\n";
	secrets.answer_file.content.len = strlen((char *)secrets.answer_file.content.data);
	strcpy(others[0].name, "cert.pfx");
	others[0].content.data = (unsigned char *)"\x01\x02" OTHER_SECRET "\xff";
	others[0].content.len = 3 + strlen(OTHER_SECRET);
	strcpy(others[1].name, "empty");
	others[1].content.data = (unsigned char *)"";
	others[1].content.len = 0;
	secrets.other_files = others;
	secrets.n_other_files = 2;
}

/* A spec by OWNER for HGS with the qualifier of vsc1 (>=) and SECRETS. */
static struct hl_pdk_spec spec_by(const struct hl_kp_owner *o, const struct hl_kp_guardian *g,
				  const struct hl_viq *q)
{
	struct hl_pdk_spec s;

	memset(&s, 0, sizeof(s));
	s.owner = o;
	s.guardians = g;
	s.n_guardians = 1;
	s.policy = "shielded";
	s.qualifiers = q;
	s.n_qualifiers = 1;
	s.secrets = &secrets;
	s.created = 1795000000;
	return s;
}

static struct hl_viq viq1;

/* Keys, templates and one .pdk for the group. */
static int group_setup(void **state)
{
	struct hl_kp_owner o;
	struct hl_kp_guardian g;
	struct hl_pdk_spec s;

	(void)state;
	if (make_tg(&owner, "Owner") < 0 || make_tg(&hgs, "MyHgsService") < 0 ||
	    make_tg(&mallory, "Mallory") < 0 || hl_key_generate(HL_KEY_EC_P256, &tkey) < 0 ||
	    self_signed(tkey, "Template Signer", &tcert) < 0)
		return -1;
	vsc1 = make_vsc("1.0.0.0");
	vsc2 = make_vsc("2.0.0.0");
	if (!vsc1 || !vsc2 || hl_viq_from_vsc(vsc1, HL_VIQ_GREATER_THAN_OR_EQUALS, &viq1) < 0)
		return -1;
	fill_secrets();
	o = as_owner(&owner);
	g.name = hgs.name;
	g.signing_cert = hgs.scert;
	g.encryption_cert = hgs.ecert;
	s = spec_by(&o, &g, &viq1);
	if (hl_pdk_create(&s, &pdk_bytes, NULL) < 0) {
		fprintf(stderr, "setup: %s\n", hl_error_last());
		return -1;
	}
	return 0;
}

/* Free them. */
static int group_teardown(void **state)
{
	struct tg *all[] = { &owner, &hgs, &mallory };
	size_t i;

	(void)state;
	for (i = 0; i < 3; i++) {
		hl_key_free(all[i]->skey);
		hl_key_free(all[i]->ekey);
		hl_cert_free(all[i]->scert);
		hl_cert_free(all[i]->ecert);
	}
	hl_key_free(tkey);
	hl_cert_free(tcert);
	hl_vsc_free(vsc1);
	hl_vsc_free(vsc2);
	hl_buf_free(&pdk_bytes);
	return 0;
}

/* Create, parse, verify, unwrap, derive, decrypt. */
static void test_roundtrip(void **state)
{
	struct hl_kp_owner o = as_owner(&owner);
	struct hl_kp_guardian g = { hgs.name, hgs.scert, hgs.ecert };
	struct hl_pdk_spec s = spec_by(&o, &g, &viq1);
	struct hl_buf bytes = { NULL, 0 }, tk = { NULL, 0 }, tk2 = { NULL, 0 };
	unsigned char key[HL_PDK_SECRETS_KEY_LEN], key2[HL_PDK_SECRETS_KEY_LEN];
	struct hl_pdk_secrets *got = NULL;
	struct hl_pdk *pdk = NULL;
	json_t *file = NULL;

	(void)state;
	assert_ok(hl_pdk_create(&s, &bytes, &tk));
	assert_int_equal(tk.len, HL_KP_TK_LEN);
	assert_ok(hl_json_parse(bytes.data, bytes.len, 0, &file));
	assert_string_equal(json_string_value(json_object_get(file, "format")), "hgslab-pdk");
	assert_string_equal(json_string_value(json_object_get(file, "alg")), "PS256");
	assert_int_equal(json_object_size(file), 5);
	json_decref(file);
	assert_ok(hl_pdk_parse(bytes.data, bytes.len, &pdk));
	assert_ok(hl_pdk_verify(pdk, NULL));
	assert_ok(hl_pdk_verify(pdk, owner.sthumb));
	assert_string_equal(pdk->owner, "Owner");
	assert_string_equal(pdk->policy, "shielded");
	assert_string_equal(pdk->created, "2026-11-18T11:06:40Z");
	assert_string_equal(pdk->id, pdk->kp->id);
	assert_int_equal(pdk->kp->n_entries, 2);
	assert_string_equal(pdk->kp->entries[1].name, "MyHgsService");
	assert_int_equal(pdk->n_qualifiers, 1);
	assert_memory_equal(&pdk->qualifiers[0], &viq1, sizeof(viq1));
	assert_int_equal(pdk->secrets_nonce.len, 12);
	/* the owner and the HGS open the same TK */
	assert_ok(hl_kp_unwrap_entry(&pdk->kp->entries[0], owner.ekey, &tk2));
	assert_memory_equal(tk.data, tk2.data, tk.len);
	hl_buf_free(&tk2);
	assert_ok(hl_kp_unwrap_entry(&pdk->kp->entries[1], hgs.ekey, &tk2));
	assert_memory_equal(tk.data, tk2.data, tk.len);
	hl_buf_free(&tk2);
	/* the secrets key is HKDF-SHA256(TK, salt = id, info) */
	assert_ok(hl_pdk_secrets_key(tk.data, tk.len, pdk->id, key));
	assert_ok(hl_crypto_hkdf_sha256(tk.data, tk.len, pdk->id, 32, "hgslab-pdk-secrets-v1", 21,
					key2, sizeof(key2)));
	assert_memory_equal(key, key2, sizeof(key));
	assert_ok(hl_pdk_decrypt(pdk, key, &got));
	assert_true(got->has_answer_file);
	assert_string_equal(got->answer_file.name, "unattend.txt");
	assert_int_equal(got->answer_file.content.len, secrets.answer_file.content.len);
	assert_memory_equal(got->answer_file.content.data, secrets.answer_file.content.data,
			    secrets.answer_file.content.len);
	assert_int_equal(got->n_other_files, 2);
	assert_string_equal(got->other_files[0].name, "cert.pfx");
	assert_int_equal(got->other_files[0].content.len, others[0].content.len);
	assert_memory_equal(got->other_files[0].content.data, others[0].content.data,
			    others[0].content.len);
	assert_int_equal(got->other_files[1].content.len, 0);
	hl_pdk_secrets_free(got);
	got = NULL;
	assert_ok(hl_pdk_decrypt_tk(pdk, tk.data, tk.len, &got));
	hl_pdk_secrets_free(got);
	got = NULL;
	/* a wrong key */
	key[0] ^= 1;
	assert_int_equal(hl_pdk_decrypt(pdk, key, &got), -1);
	assert_error_has("authentication failed");
	assert_null(got);
	assert_int_equal(hl_pdk_secrets_key(tk.data, 31, pdk->id, key), -1);
	assert_int_equal(hl_pdk_secrets_key(tk.data, tk.len, "XYZ", key), -1);
	hl_pdk_free(pdk);
	hl_pdk_free(NULL);
	hl_pdk_secrets_free(NULL);
	hl_buf_free(&bytes);
	hl_buf_free(&tk);
}

/* 1 when NEEDLE (LEN bytes) occurs in HAY (HLEN bytes). */
static int has(const void *hay, size_t hlen, const void *needle, size_t len)
{
	return memmem(hay, hlen, needle, len) != NULL;
}

/* The secrets appear in no form in the .pdk, its body or its key protector. */
static void test_no_plaintext(void **state)
{
	struct hl_pdk *pdk = NULL;
	char *b64 = NULL;
	size_t k;

	(void)state;
	assert_ok(hl_pdk_parse(pdk_bytes.data, pdk_bytes.len, &pdk));
	assert_false(has(pdk_bytes.data, pdk_bytes.len, SECRET, strlen(SECRET)));
	assert_false(has(pdk->body.data, pdk->body.len, SECRET, strlen(SECRET)));
	assert_false(has(pdk->kp_bytes.data, pdk->kp_bytes.len, SECRET, strlen(SECRET)));
	assert_false(has(pdk->body.data, pdk->body.len, "unattend", 8));
	assert_false(has(pdk->body.data, pdk->body.len, OTHER_SECRET, strlen(OTHER_SECRET)));
	/* nor base64 of them, at any of the three alignments */
	for (k = 0; k < 3; k++) {
		assert_ok(hl_json_base64_encode(SECRET + k, strlen(SECRET) - k, &b64));
		b64[strlen(b64) - 4] = '\0';
		assert_false(has(pdk_bytes.data, pdk_bytes.len, b64, strlen(b64)));
		assert_false(has(pdk->body.data, pdk->body.len, b64, strlen(b64)));
		free(b64);
		assert_ok(hl_json_base64_encode(OTHER_SECRET + k, strlen(OTHER_SECRET) - k, &b64));
		b64[strlen(b64) - 4] = '\0';
		assert_false(has(pdk->body.data, pdk->body.len, b64, strlen(b64)));
		free(b64);
	}
	hl_pdk_free(pdk);
}

/* Replace the envelope's signature of BYTES with KEY's over BODY (NULL: its own body). */
static void resign(const struct hl_buf *bytes, const char *body, EVP_PKEY *key, struct hl_buf *out)
{
	struct hl_buf sig = { NULL, 0 };
	json_t *file = NULL;
	char *text = NULL;
	unsigned char *old = NULL;
	size_t old_len = 0;

	assert_ok(hl_json_parse(bytes->data, bytes->len, 0, &file));
	if (!body) {
		assert_ok(hl_json_get_base64(file, "body", &old, &old_len));
		body = (const char *)old;
	}
	assert_ok(hl_crypto_sign(key, HL_SIG_RSA_PSS, body, strlen(body), &sig));
	assert_ok(hl_json_set_base64(file, "body", body, strlen(body)));
	assert_ok(hl_json_set_base64(file, "signature", sig.data, sig.len));
	assert_ok(hl_json_dump_pretty(file, &text));
	out->data = (unsigned char *)text;
	out->len = strlen(text);
	free(old);
	hl_buf_free(&sig);
	json_decref(file);
}

/* A body re-signed by another key fails; a .pdk made by someone else fails when pinned. */
static void test_resigned(void **state)
{
	struct hl_kp_owner mo = as_owner(&mallory);
	struct hl_kp_guardian g = { hgs.name, hgs.scert, hgs.ecert };
	struct hl_pdk_spec s = spec_by(&mo, &g, &viq1);
	struct hl_buf bad = { NULL, 0 };
	struct hl_pdk *pdk = NULL;

	(void)state;
	resign(&pdk_bytes, NULL, mallory.skey, &bad);
	assert_ok(hl_pdk_parse(bad.data, bad.len, &pdk));
	assert_int_equal(hl_pdk_verify(pdk, NULL), -1);
	assert_error_has("the signature does not verify with the signing certificate of its key "
			 "protector's owner 'Owner'");
	hl_pdk_free(pdk);
	pdk = NULL;
	hl_buf_free(&bad);
	resign(&pdk_bytes, NULL, owner.skey, &bad);
	assert_ok(hl_pdk_parse(bad.data, bad.len, &pdk));
	assert_ok(hl_pdk_verify(pdk, owner.sthumb));
	hl_pdk_free(pdk);
	pdk = NULL;
	hl_buf_free(&bad);
	/* Mallory's own .pdk verifies alone, not when Owner is expected */
	assert_ok(hl_pdk_create(&s, &bad, NULL));
	assert_ok(hl_pdk_parse(bad.data, bad.len, &pdk));
	assert_ok(hl_pdk_verify(pdk, NULL));
	assert_int_equal(hl_pdk_verify(pdk, owner.sthumb), -1);
	assert_error_has("not by the expected owner");
	hl_pdk_free(pdk);
	hl_buf_free(&bad);
}

/* A flipped byte anywhere never parses and verifies; every truncation never parses. */
static void test_flips_and_truncations(void **state)
{
	struct hl_pdk *pdk = NULL;
	size_t i, end = pdk_bytes.len;

	(void)state;
	while (end && (pdk_bytes.data[end - 1] == '\n' || pdk_bytes.data[end - 1] == ' '))
		end--;
	for (i = 0; i < pdk_bytes.len; i++) {
		pdk_bytes.data[i] ^= 0x02;
		if (hl_pdk_parse(pdk_bytes.data, pdk_bytes.len, &pdk) == 0) {
			if (hl_pdk_verify(pdk, NULL) == 0)
				fail_msg("a .pdk with byte %zu ('%c') flipped verifies", i,
					 pdk_bytes.data[i] ^ 0x02);
			hl_pdk_free(pdk);
			pdk = NULL;
		}
		pdk_bytes.data[i] ^= 0x02;
	}
	for (i = 0; i < end; i++) {   /* cutting only the final newline leaves the same document */
		unsigned char *copy = malloc(i + 1);

		assert_non_null(copy);
		memcpy(copy, pdk_bytes.data, i);
		assert_int_equal(hl_pdk_parse(copy, i, &pdk), -1);
		assert_null(pdk);
		free(copy);
	}
	assert_ok(hl_pdk_parse(pdk_bytes.data, pdk_bytes.len, &pdk));
	hl_pdk_free(pdk);
}

/* The setup .pdk with its body's member NAME set to V (NULL: removed), re-signed by the owner. */
static void with_body(const char *name, json_t *v, struct hl_buf *out)
{
	struct hl_pdk *pdk = NULL;
	json_t *body = NULL;
	char *text = NULL;

	assert_ok(hl_pdk_parse(pdk_bytes.data, pdk_bytes.len, &pdk));
	assert_ok(hl_json_parse(pdk->body.data, pdk->body.len, 0, &body));
	if (v)
		json_object_set_new(body, name, v);
	else
		json_object_del(body, name);
	assert_ok(hl_json_dump(body, &text));
	resign(&pdk_bytes, text, owner.skey, out);
	free(text);
	json_decref(body);
	hl_pdk_free(pdk);
}

/* Parse BYTES: must fail with ERR (and the prefix). */
static void expect_refused(const struct hl_buf *bytes, const char *err)
{
	struct hl_pdk *pdk = NULL;

	assert_int_equal(hl_pdk_parse(bytes->data, bytes->len, &pdk), -1);
	assert_null(pdk);
	assert_error_has(err);
}

/* The setup .pdk's "secrets" member with member NAME set to V. */
static json_t *secrets_with(const char *name, json_t *v)
{
	struct hl_pdk *pdk = NULL;
	json_t *body = NULL, *s;

	assert_ok(hl_pdk_parse(pdk_bytes.data, pdk_bytes.len, &pdk));
	assert_ok(hl_json_parse(pdk->body.data, pdk->body.len, 0, &body));
	s = json_deep_copy(json_object_get(body, "secrets"));
	json_object_set_new(s, name, v);
	json_decref(body);
	hl_pdk_free(pdk);
	return s;
}

/* Every body field malformed in turn (each body re-signed by the owner: parsing alone refuses). */
static void test_body_refused(void **state)
{
	const char *thumb = "0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF";
	struct hl_buf b = { NULL, 0 };
	json_t *q;

	(void)state;
#define CASE(name, v, err) do { with_body(name, v, &b); expect_refused(&b, err); hl_buf_free(&b); } while (0)
	CASE("id", json_string("0123456789abcdef0123456789abcdef"),
	     "is not the id of its key protector");
	CASE("id", json_string("XYZ"), "field 'id' must be 32 lowercase hex digits");
	CASE("id", json_integer(1), "field 'id' must be a string");
	CASE("created", json_string("now"), "field 'created' must look like");
	CASE("owner", json_string("Mallory"), "is not the owner of its key protector");
	CASE("policy", json_string("trusted"), "bad policy 'trusted'");
	CASE("key_protector", json_string("!!!!"), "field 'key_protector'");
	CASE("key_protector", json_string("e30="), "field 'key_protector': bad key protector");
	CASE("qualifiers", json_array(), "lists 0 volume ID qualifiers");
	CASE("qualifiers", json_object(), "field 'qualifiers' must be an array");
	q = json_pack("[{s:s, s:i, s:s, s:s, s:s, s:s}]", "format", "hgslab-viq", "version", 1, "name",
		      "T", "signer_thumbprint", thumb, "disk_version", "1.0.0", "rule", "equals");
	CASE("qualifiers", q, "qualifiers[0]: field 'disk_version'");
	CASE("secrets", json_string("x"), "field 'secrets' must be an object");
	CASE("secrets", secrets_with("alg", json_string("A128GCM")), "only \"A256GCM\"");
	CASE("secrets", secrets_with("nonce", json_string("AAAA")), "field 'nonce' is 3 bytes");
	CASE("secrets", secrets_with("ciphertext", json_string("AAAA")),
	     "field 'ciphertext' is 3 bytes");
	CASE("secrets", secrets_with("extra", json_true()), "unknown field 'extra'");
	CASE("extra", json_true(), "the signed body has an unknown field 'extra'");
	CASE("policy", NULL, "lacks field 'policy'");
#undef CASE
}

/* The envelope: format, version, alg, members, body and signature encodings. */
static void test_envelope_refused(void **state)
{
	static const struct { const char *text, *err; } t[] = {
		{ "{\"format\":\"hgslab-kp\",\"version\":1}", "not an hgslab shielding data file" },
		{ "{\"format\":\"hgslab-pdk\",\"version\":2}",
		  "shielding data file version 2 is not supported" },
		{ "{\"format\":\"hgslab-pdk\",\"version\":1,\"alg\":\"RS256\",\"body\":\"e30=\","
		  "\"signature\":\"AA==\"}", "field 'alg' is \"RS256\"" },
		{ "{\"format\":\"hgslab-pdk\",\"version\":1,\"alg\":\"PS256\",\"body\":\"e30=\"}",
		  "lacks field 'signature'" },
		{ "{\"format\":\"hgslab-pdk\",\"version\":1,\"alg\":\"PS256\",\"body\":\"e30=\","
		  "\"signature\":\"\"}", "field 'signature' is 0 bytes: not an RSA signature" },
		{ "{\"format\":\"hgslab-pdk\",\"version\":1,\"alg\":\"PS256\",\"body\":\"e30=\","
		  "\"signature\":\"AA==\"}", "the signed body lacks field 'id'" },
		{ "{\"format\":\"hgslab-pdk\",\"version\":1,\"alg\":\"PS256\",\"body\":\"e30\","
		  "\"signature\":\"AA==\"}", "field 'body'" },
		{ "[]", "not a JSON object" },
		{ "", "the file is empty" },
	};
	struct hl_pdk *pdk = NULL;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		if (hl_pdk_parse(t[i].text, strlen(t[i].text), &pdk) != -1)
			fail_msg("%s was accepted", t[i].text);
		if (!tu_error_has(t[i].err))
			fail_msg("%s: error lacks '%s'", t[i].text, t[i].err);
	}
	assert_int_equal(hl_pdk_parse("{}", HL_PDK_MAX_SIZE + 1, &pdk), -1);
	assert_error_has("larger than");
}

/* A .pdk whose secrets are the plaintext TEXT (sealed with the right key): decrypt refuses with ERR. */
static void expect_secrets_refused(const char *text, const char *err)
{
	struct hl_buf tk = { NULL, 0 }, sealed = { NULL, 0 }, b = { NULL, 0 };
	unsigned char key[HL_PDK_SECRETS_KEY_LEN];
	struct hl_pdk_secrets *got = NULL;
	struct hl_pdk *pdk = NULL;
	json_t *box;

	assert_ok(hl_pdk_parse(pdk_bytes.data, pdk_bytes.len, &pdk));
	assert_ok(hl_kp_unwrap_entry(&pdk->kp->entries[0], owner.ekey, &tk));
	assert_ok(hl_pdk_secrets_key(tk.data, tk.len, pdk->id, key));
	assert_ok(hl_crypto_gcm_encrypt(key, pdk->id, 32, text, strlen(text), &sealed));
	box = json_pack("{s:s}", "alg", "A256GCM");
	assert_ok(hl_json_set_base64(box, "nonce", sealed.data, 12));
	assert_ok(hl_json_set_base64(box, "ciphertext", sealed.data + 12, sealed.len - 12));
	hl_pdk_free(pdk);
	pdk = NULL;
	with_body("secrets", box, &b);
	assert_ok(hl_pdk_parse(b.data, b.len, &pdk));
	assert_ok(hl_pdk_verify(pdk, owner.sthumb));
	if (hl_pdk_decrypt(pdk, key, &got) != -1)
		fail_msg("secrets %s were accepted", text);
	assert_null(got);
	if (!tu_error_has(err))
		fail_msg("secrets %s: error lacks '%s'", text, err);
	hl_pdk_free(pdk);
	hl_buf_free(&b);
	hl_buf_free(&tk);
	hl_buf_free(&sealed);
}

/* Decrypted secrets are parsed strictly too. */
static void test_secrets_refused(void **state)
{
	(void)state;
	expect_secrets_refused("{\"answer_file\":null}", "lacks field 'other_files'");
	expect_secrets_refused("{\"answer_file\":null,\"other_files\":{},\"x\":1}",
			       "unknown field 'x'");
	expect_secrets_refused("{\"answer_file\":{\"name\":\"../x\",\"content\":\"a\"},"
			       "\"other_files\":{}}", "bad answer file name '../x'");
	expect_secrets_refused("{\"answer_file\":{\"name\":\"a\"},\"other_files\":{}}",
			       "lacks field 'content'");
	expect_secrets_refused("{\"answer_file\":1,\"other_files\":{}}", "must be a JSON object");
	expect_secrets_refused("{\"answer_file\":null,\"other_files\":{\"a b\":\"AA==\"}}",
			       "bad other file name 'a b'");
	expect_secrets_refused("{\"answer_file\":null,\"other_files\":{\"a\":\"A\"}}", "base64");
	expect_secrets_refused("{\"answer_file\":null,\"other_files\":[]}", "must be an object");
	expect_secrets_refused("not json", "bad JSON");
}

/* The writer's refusals. */
static void test_create_refused(void **state)
{
	struct hl_kp_owner o = as_owner(&owner);
	struct hl_kp_guardian g = { hgs.name, hgs.scert, hgs.ecert };
	struct hl_pdk_spec s = spec_by(&o, &g, &viq1);
	struct hl_pdk_file dup[2];
	struct hl_pdk_secrets sec;
	struct hl_buf out = { NULL, 0 };
	unsigned char *big;

	(void)state;
	s.policy = "trusted";
	assert_int_equal(hl_pdk_create(&s, &out, NULL), -1);
	assert_error_has("bad policy 'trusted'");
	s.policy = "encryption-supported";
	s.n_qualifiers = 0;
	assert_int_equal(hl_pdk_create(&s, &out, NULL), -1);
	assert_error_has("needs 1 to 32 volume ID qualifiers, not 0");
	s.n_qualifiers = 1;
	memset(&sec, 0, sizeof(sec));
	s.secrets = &sec;
	sec.has_answer_file = 1;
	strcpy(sec.answer_file.name, ".unattend");
	assert_int_equal(hl_pdk_create(&s, &out, NULL), -1);
	assert_error_has("bad answer file name '.unattend'");
	strcpy(sec.answer_file.name, "unattend.txt");
	sec.answer_file.content.data = (unsigned char *)"a\0b";
	sec.answer_file.content.len = 3;
	assert_int_equal(hl_pdk_create(&s, &out, NULL), -1);
	assert_error_has("NUL byte");
	sec.answer_file.content.data = (unsigned char *)"\xff\xfe";
	sec.answer_file.content.len = 2;
	assert_int_equal(hl_pdk_create(&s, &out, NULL), -1);
	assert_error_has("not UTF-8 text");
	sec.has_answer_file = 0;
	memset(dup, 0, sizeof(dup));
	strcpy(dup[0].name, "x");
	strcpy(dup[1].name, "x");
	sec.other_files = dup;
	sec.n_other_files = 2;
	assert_int_equal(hl_pdk_create(&s, &out, NULL), -1);
	assert_error_has("other file 'x' is given twice");
	big = calloc(1, HL_PDK_FILE_MAX + 1);
	assert_non_null(big);
	dup[1].content.data = big;
	dup[1].content.len = HL_PDK_FILE_MAX + 1;
	strcpy(dup[1].name, "y");
	assert_int_equal(hl_pdk_create(&s, &out, NULL), -1);
	assert_error_has("other file 'y' is 65537 bytes");
	free(big);
	assert_null(out.data);
	/* no secrets at all */
	s.secrets = NULL;
	assert_ok(hl_pdk_create(&s, &out, NULL));
	{
		struct hl_pdk *pdk = NULL;
		struct hl_pdk_secrets *got = NULL;
		struct hl_buf tk = { NULL, 0 };

		assert_ok(hl_pdk_parse(out.data, out.len, &pdk));
		assert_string_equal(pdk->policy, "encryption-supported");
		assert_ok(hl_kp_unwrap_entry(&pdk->kp->entries[0], owner.ekey, &tk));
		assert_ok(hl_pdk_decrypt_tk(pdk, tk.data, tk.len, &got));
		assert_false(got->has_answer_file);
		assert_int_equal(got->n_other_files, 0);
		hl_pdk_secrets_free(got);
		hl_buf_free(&tk);
		hl_pdk_free(pdk);
	}
	hl_buf_free(&out);
	o.signing_key = NULL;
	s.owner = &o;
	assert_int_equal(hl_pdk_create(&s, &out, NULL), -1);
	assert_error_has("has no private keys");
}

/* Templates against the qualifiers, with every reason. */
static void test_match(void **state)
{
	struct hl_kp_owner o = as_owner(&owner);
	struct hl_kp_guardian g = { hgs.name, hgs.scert, hgs.ecert };
	struct hl_viq q[2] = { { .rule = HL_VIQ_EQUALS }, { .rule = HL_VIQ_EQUALS } };
	struct hl_pdk_spec s = spec_by(&o, &g, q);
	struct hl_buf out = { NULL, 0 };
	struct hl_pdk *pdk = NULL;
	size_t which = 9;

	(void)state;
	assert_ok(hl_viq_from_vsc(vsc2, HL_VIQ_EQUALS, &q[0]));
	assert_ok(hl_viq_from_vsc(vsc1, HL_VIQ_GREATER_THAN, &q[1]));
	s.n_qualifiers = 2;
	assert_ok(hl_pdk_create(&s, &out, NULL));
	assert_ok(hl_pdk_parse(out.data, out.len, &pdk));
	assert_ok(hl_pdk_match_template(pdk, vsc2, &which));
	assert_int_equal(which, 0);
	assert_int_equal(hl_pdk_match_template(pdk, vsc1, &which), -1);
	assert_error_has("template 'WindowsServer2016' 1.0.0.0 fits none of the 2 volume ID "
			 "qualifiers of shielding data");
	assert_error_has("[1] template 'WindowsServer2016' version 1.0.0.0 is not equal to 2.0.0.0");
	assert_error_has("[2] template 'WindowsServer2016' version 1.0.0.0 is not greater than "
			 "1.0.0.0");
	hl_pdk_free(pdk);
	hl_buf_free(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_no_plaintext),
		cmocka_unit_test(test_resigned),
		cmocka_unit_test(test_flips_and_truncations),
		cmocka_unit_test(test_body_refused),
		cmocka_unit_test(test_envelope_refused),
		cmocka_unit_test(test_secrets_refused),
		cmocka_unit_test(test_create_refused),
		cmocka_unit_test(test_match),
	};
	return cmocka_run_group_tests_name("pdk", tests, group_setup, group_teardown);
}
