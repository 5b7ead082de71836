/*
 * test_crypto.c - unit tests for lib/crypto: buffers, digests, encodings,
 * keys, signatures, RSA-OAEP, AES-256-GCM, HKDF (RFC 5869 vectors), keyed HMAC-SHA256, CMS
 * SignedData (sign, parse, verify, tampering, truncation, refused shapes) and X.509 issue / verify (also
 * against a CA bundle, and from a certificate template), with the refusals (wrong CA, expiry, tampering,
 * garbage input) each checked by the message they give.  Keys are generated once for the group.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/cms.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>

#include "lib/crypto.h"
#include "lib/err.h"
#include "tests/unit/testutil.h"

#define DAY (24 * 60 * 60)
#define OID_MODE "1.3.6.1.4.1.311.21.99.1"
#define OID_RESULT "1.3.6.1.4.1.311.21.99.2"
#define OID_BLOB "1.3.6.1.4.1.311.21.99.3"

static EVP_PKEY *rsa_a, *rsa_b, *ec_a, *ec_b;

/* Generate the keys the tests share. */
static int group_setup(void **state)
{
	(void)state;
	if (hl_key_generate(HL_KEY_RSA2048, &rsa_a) || hl_key_generate(HL_KEY_RSA2048, &rsa_b) ||
	    hl_key_generate(HL_KEY_EC_P256, &ec_a) || hl_key_generate(HL_KEY_EC_P256, &ec_b))
		return -1;
	return 0;
}

/* Free the shared keys. */
static int group_teardown(void **state)
{
	(void)state;
	hl_key_free(rsa_a);
	hl_key_free(rsa_b);
	hl_key_free(ec_a);
	hl_key_free(ec_b);
	return 0;
}

/* A spec with CN and the validity [now + FROM, now + TO). */
static struct hl_cert_spec spec_for(const char *cn, time_t now, time_t from, time_t to)
{
	struct hl_cert_spec s;

	memset(&s, 0, sizeof(s));
	s.cn = cn;
	s.not_before = now + from;
	s.not_after = now + to;
	s.path_len = -1;
	return s;
}

/* A self-signed CA named CN for KEY, valid from 30 days ago for ten years. */
static X509 *make_ca(const char *cn, EVP_PKEY *key)
{
	struct hl_cert_spec s = spec_for(cn, time(NULL), -30L * DAY, 3650L * DAY);
	X509 *ca = NULL;

	s.org = "Relecloud";
	assert_int_equal(hl_cert_issue_self_signed(&s, key, &ca), 0);
	assert_non_null(ca);
	return ca;
}

/* A leaf CN for SUBJECT signed by CA / CA_KEY with validity [now + FROM, now + TO). */
static X509 *make_leaf(const char *cn, EVP_PKEY *subject, X509 *ca, EVP_PKEY *ca_key, time_t from,
		       time_t to)
{
	struct hl_cert_spec s = spec_for(cn, time(NULL), from, to);
	X509 *leaf = NULL;

	s.key_usage = HL_KU_DIGITAL_SIGNATURE | HL_KU_KEY_ENCIPHERMENT;
	assert_int_equal(hl_cert_issue(&s, subject, ca, ca_key, &leaf), 0);
	assert_non_null(leaf);
	return leaf;
}

/* hl_buf_free cleanses and resets, and accepts NULL and an empty buffer. */
static void test_buf_and_helpers(void **state)
{
	struct hl_buf b = { NULL, 0 };
	unsigned char r1[32], r2[32], zero[32];

	(void)state;
	hl_buf_free(NULL);
	hl_buf_free(&b);
	assert_int_equal(hl_crypto_hex_decode("00ff", &b), 0);
	assert_int_equal(b.len, 2);
	hl_buf_free(&b);
	assert_null(b.data);
	assert_int_equal(b.len, 0);

	memset(zero, 0, sizeof(zero));
	assert_int_equal(hl_crypto_random(r1, sizeof(r1)), 0);
	assert_int_equal(hl_crypto_random(r2, sizeof(r2)), 0);
	assert_memory_not_equal(r1, zero, sizeof(r1));
	assert_memory_not_equal(r1, r2, sizeof(r1));

	assert_true(hl_crypto_ct_equal(r1, r1, sizeof(r1)));
	memcpy(r2, r1, sizeof(r1));
	r2[31] ^= 1;
	assert_false(hl_crypto_ct_equal(r1, r2, sizeof(r1)));
	assert_true(hl_crypto_ct_equal(r1, r2, 31));

	hl_crypto_cleanse(r1, sizeof(r1));
	assert_memory_equal(r1, zero, sizeof(r1));
	hl_crypto_cleanse(NULL, 10);
}

/*
 * Public random bytes (the pool): draws differ, whether small (from the
 * pool, across its refills) or large (directly); after fork() the child
 * and the parent draw different bytes although the parent's pool was full.
 */
static void test_random_public(void **state)
{
	unsigned char a[32], b[32], big[200], zero[200], child[32];
	int fds[2], status = 0;
	pid_t pid;

	(void)state;
	memset(zero, 0, sizeof(zero));
	assert_int_equal(hl_crypto_random_public(a, sizeof(a)), 0);
	for (int i = 0; i < 300; i++) {   /* more than a pool of 4 KiB */
		assert_int_equal(hl_crypto_random_public(b, sizeof(b)), 0);
		assert_memory_not_equal(a, b, sizeof(a));
	}
	assert_int_equal(hl_crypto_random_public(big, sizeof(big)), 0);
	assert_memory_not_equal(big, zero, sizeof(big));
	assert_int_equal(hl_crypto_random_public(a, 1), 0);   /* the pool is not empty now */
	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		_exit(hl_crypto_random_public(child, sizeof(child)) == 0 &&
		      write(fds[1], child, sizeof(child)) == (ssize_t)sizeof(child) ? 0 : 1);
	}
	close(fds[1]);
	assert_int_equal(hl_crypto_random_public(a, sizeof(a)), 0);
	assert_int_equal(read(fds[0], child, sizeof(child)), (ssize_t)sizeof(child));
	close(fds[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_memory_not_equal(a, child, sizeof(a));
}

/* Digests match the FIPS 180 "abc" test vectors. */
static void test_digests(void **state)
{
	unsigned char md[HL_DIGEST_MAX];
	char hex[2 * HL_DIGEST_MAX + 1];

	(void)state;
	assert_int_equal(hl_crypto_digest(HL_DIGEST_SHA1, "abc", 3, md), HL_SHA1_LEN);
	assert_int_equal(hl_crypto_hex_encode(md, HL_SHA1_LEN, hex, sizeof(hex)), 0);
	assert_string_equal(hex, "A9993E364706816ABA3E25717850C26C9CD0D89D");

	assert_int_equal(hl_crypto_digest(HL_DIGEST_SHA256, "abc", 3, md), HL_SHA256_LEN);
	assert_int_equal(hl_crypto_hex_encode(md, HL_SHA256_LEN, hex, sizeof(hex)), 0);
	assert_string_equal(hex,
			    "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD");

	assert_int_equal(hl_crypto_sha256("", 0, md), 0);
	assert_int_equal(hl_crypto_hex_encode(md, HL_SHA256_LEN, hex, sizeof(hex)), 0);
	assert_string_equal(hex,
			    "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855");

	assert_int_equal(hl_crypto_digest(HL_DIGEST_SHA384, "abc", 3, md), HL_SHA384_LEN);
	assert_int_equal(hl_crypto_hex_encode(md, HL_SHA384_LEN, hex, sizeof(hex)), 0);
	assert_string_equal(hex, "CB00753F45A35E8BB5A03D699AC65007272C32AB0EDED1631A8B605A43FF5BED"
				 "8086072BA1E7CC2358BAECA134C825A7");

	assert_int_equal(hl_crypto_digest_len(HL_DIGEST_SHA384), 48);
	assert_int_equal(hl_crypto_digest((enum hl_digest)99, "abc", 3, md), -1);
	assert_error_has("unknown digest");
}

/* Hex and base64 round-trip, match known encodings and refuse garbage. */
static void test_encodings(void **state)
{
	struct hl_buf b = { NULL, 0 }, t = { NULL, 0 };
	unsigned char bytes[256];
	char hex[8];
	size_t i, n;

	(void)state;
	assert_int_equal(hl_crypto_hex_encode("\x01\xab", 2, hex, sizeof(hex)), 0);
	assert_string_equal(hex, "01AB");
	assert_int_equal(hl_crypto_hex_encode("\x01\xab", 2, hex, 4), -1);
	assert_error_has("too small");
	assert_int_equal(hl_crypto_hex_decode("01aB", &b), 0);
	assert_int_equal(b.len, 2);
	assert_memory_equal(b.data, "\x01\xab", 2);
	hl_buf_free(&b);
	assert_int_equal(hl_crypto_hex_decode("abc", &b), -1);
	assert_error_has("odd number");
	assert_null(b.data);
	assert_int_equal(hl_crypto_hex_decode("zz", &b), -1);
	assert_error_has("invalid character");

	assert_int_equal(hl_crypto_base64_encode("foobar", 6, &b), 0);
	assert_string_equal((char *)b.data, "Zm9vYmFy");
	hl_buf_free(&b);
	assert_int_equal(hl_crypto_base64_encode("fo", 2, &b), 0);
	assert_string_equal((char *)b.data, "Zm8=");
	assert_int_equal(hl_crypto_base64_decode((char *)b.data, b.len, &t), 0);
	assert_int_equal(t.len, 2);
	assert_memory_equal(t.data, "fo", 2);
	hl_buf_free(&b);
	hl_buf_free(&t);

	for (i = 0; i < sizeof(bytes); i++)
		bytes[i] = (unsigned char)(i * 7);
	for (n = 0; n < 8; n++) {
		assert_int_equal(hl_crypto_base64_encode(bytes, sizeof(bytes) - n, &b), 0);
		assert_int_equal(hl_crypto_base64_decode((char *)b.data, b.len, &t), 0);
		assert_int_equal(t.len, sizeof(bytes) - n);
		assert_memory_equal(t.data, bytes, t.len);
		hl_buf_free(&b);
		hl_buf_free(&t);
	}

	assert_int_equal(hl_crypto_base64_decode("Zm9", 3, &t), -1);
	assert_error_has("multiple of 4");
	assert_int_equal(hl_crypto_base64_decode("Zm9v YmFy", 9, &t), -1);
	assert_int_equal(hl_crypto_base64_decode("Zm=v", 4, &t), -1);
	assert_error_has("data after the padding");
	assert_int_equal(hl_crypto_base64_decode("Zm9!", 4, &t), -1);
	assert_null(t.data);
}

/* Generated keys have the asked type; private and public PEM / DER round-trip. */
static void test_key_roundtrip(void **state)
{
	char fp1[HL_SHA256_HEX_SIZE], fp2[HL_SHA256_HEX_SIZE], fp3[HL_SHA256_HEX_SIZE];
	EVP_PKEY *keys[2] = { rsa_a, ec_a }, *k2 = NULL, *pub = NULL;
	struct hl_buf pem = { NULL, 0 }, der = { NULL, 0 };
	unsigned char md[HL_SHA256_LEN];
	enum hl_key_type t;
	char hex[HL_SHA256_HEX_SIZE];
	size_t i;

	(void)state;
	assert_int_equal(hl_key_type_of(rsa_a, &t), 0);
	assert_int_equal(t, HL_KEY_RSA2048);
	assert_string_equal(hl_key_type_name(t), "rsa-2048");
	assert_int_equal(hl_key_type_of(ec_a, &t), 0);
	assert_int_equal(t, HL_KEY_EC_P256);

	for (i = 0; i < 2; i++) {
		assert_int_equal(hl_key_fingerprint(keys[i], fp1), 0);
		assert_int_equal(strlen(fp1), 64);

		assert_int_equal(hl_key_priv_to_pem(keys[i], &pem), 0);
		assert_non_null(strstr((char *)pem.data, "-----BEGIN PRIVATE KEY-----"));
		assert_int_equal(hl_key_priv_from_pem(pem.data, pem.len, &k2), 0);
		assert_true(hl_key_pub_equal(keys[i], k2));
		assert_int_equal(hl_key_fingerprint(k2, fp2), 0);
		assert_string_equal(fp1, fp2);
		hl_key_free(k2);
		k2 = NULL;
		hl_buf_free(&pem);

		assert_int_equal(hl_key_pub_to_pem(keys[i], &pem), 0);
		assert_non_null(strstr((char *)pem.data, "-----BEGIN PUBLIC KEY-----"));
		assert_null(strstr((char *)pem.data, "PRIVATE"));
		assert_int_equal(hl_key_pub_from_pem(pem.data, pem.len, &pub), 0);
		assert_true(hl_key_pub_equal(keys[i], pub));
		hl_key_free(pub);
		pub = NULL;
		hl_buf_free(&pem);

		/* The fingerprint is SHA-256 of the DER SubjectPublicKeyInfo. */
		assert_int_equal(hl_key_pub_to_der(keys[i], &der), 0);
		assert_int_equal(hl_crypto_sha256(der.data, der.len, md), 0);
		assert_int_equal(hl_crypto_hex_encode(md, sizeof(md), hex, sizeof(hex)), 0);
		assert_string_equal(hex, fp1);
		assert_int_equal(hl_key_pub_from_der(der.data, der.len, &pub), 0);
		assert_int_equal(hl_key_fingerprint(pub, fp3), 0);
		assert_string_equal(fp1, fp3);
		hl_key_free(pub);
		pub = NULL;
		hl_buf_free(&der);
	}
	assert_false(hl_key_pub_equal(rsa_a, rsa_b));
	assert_false(hl_key_pub_equal(rsa_a, ec_a));
	assert_int_equal(hl_key_fingerprint(rsa_b, fp2), 0);
	assert_int_equal(hl_key_fingerprint(rsa_a, fp1), 0);
	assert_string_not_equal(fp1, fp2);
}

/* RSA-3072 generation gives a 3072-bit key. */
static void test_key_rsa3072(void **state)
{
	EVP_PKEY *k = NULL;
	enum hl_key_type t;

	(void)state;
	assert_int_equal(hl_key_generate(HL_KEY_RSA3072, &k), 0);
	assert_int_equal(hl_key_type_of(k, &t), 0);
	assert_int_equal(t, HL_KEY_RSA3072);
	assert_int_equal(EVP_PKEY_get_bits(k), 3072);
	hl_key_free(k);
	assert_int_equal(hl_key_generate((enum hl_key_type)42, &k), -1);
	assert_null(k);
}

/* Garbage, truncated, trailing-byte and encrypted key input is refused with a message. */
static void test_key_garbage(void **state)
{
	static const char junk[] = "-----BEGIN PRIVATE KEY-----\nnot base64 at all\n"
				   "-----END PRIVATE KEY-----\n";
	struct hl_buf der = { NULL, 0 }, pem = { NULL, 0 };
	unsigned char *longer;
	EVP_PKEY *k = (EVP_PKEY *)1;
	BIO *bio;
	char *p = NULL;
	long n;

	(void)state;
	assert_int_equal(hl_key_priv_from_pem("hello", 5, &k), -1);
	assert_null(k);
	assert_error_has("cannot read private key pem");
	assert_int_equal(hl_key_priv_from_pem(junk, sizeof(junk) - 1, &k), -1);
	assert_int_equal(hl_key_priv_from_pem("", 0, &k), -1);
	assert_int_equal(hl_key_pub_from_pem("garbage", 7, &k), -1);
	assert_error_has("cannot read public key pem");
	assert_int_equal(hl_key_pub_from_der("\x30\x03\x02\x01", 4, &k), -1);
	assert_error_has("cannot read public key der");
	assert_int_equal(hl_key_pub_from_der("", 0, &k), -1);

	assert_int_equal(hl_key_pub_to_der(ec_a, &der), 0);
	assert_int_equal(hl_key_pub_from_der(der.data, der.len - 1, &k), -1);
	assert_null(k);
	longer = malloc(der.len + 1);
	assert_non_null(longer);
	memcpy(longer, der.data, der.len);
	longer[der.len] = 0;
	assert_int_equal(hl_key_pub_from_der(longer, der.len + 1, &k), -1);
	assert_error_has("trailing");
	free(longer);
	hl_buf_free(&der);

	/* A password-protected PEM is refused without prompting. */
	bio = BIO_new(BIO_s_mem());
	assert_non_null(bio);
	assert_int_equal(PEM_write_bio_PrivateKey(bio, ec_a, EVP_aes_256_cbc(),
						  (unsigned char *)"pw", 2, NULL, NULL), 1);
	n = BIO_get_mem_data(bio, &p);
	assert_true(n > 0);
	assert_non_null(strstr(p, "ENCRYPTED"));
	assert_int_equal(hl_key_priv_from_pem(p, (size_t)n, &k), -1);
	assert_null(k);
	BIO_free(bio);

	/* A public key PEM is not a private key. */
	assert_int_equal(hl_key_pub_to_pem(ec_a, &pem), 0);
	assert_int_equal(hl_key_priv_from_pem(pem.data, pem.len, &k), -1);
	assert_null(k);
	hl_buf_free(&pem);
}

/* A private key saved to a file loads back; a missing path names the file. */
static void test_key_load_file(void **state)
{
	char dir[64], path[256];
	struct hl_buf pem = { NULL, 0 };
	EVP_PKEY *k = NULL;

	(void)state;
	assert_int_equal(tu_mkdtemp(dir, sizeof(dir), "crypto"), 0);
	snprintf(path, sizeof(path), "%s/key.pem", dir);
	assert_int_equal(hl_key_priv_to_pem(rsa_a, &pem), 0);
	tu_put(path, (char *)pem.data);
	hl_buf_free(&pem);
	assert_int_equal(hl_key_priv_load_file(path, &k), 0);
	assert_true(hl_key_pub_equal(k, rsa_a));
	hl_key_free(k);
	k = NULL;

	tu_put(path, "not a key\n");
	assert_int_equal(hl_key_priv_load_file(path, &k), -1);
	assert_null(k);
	assert_error_has(path);
	assert_error_has("cannot read private key pem");
	unlink(path);

	assert_int_equal(hl_key_priv_load_file(path, &k), -1);
	assert_error_has(path);
	assert_error_has("No such file");
	tu_rmtree(dir);
}

/* Public keys rebuilt from raw RSA n/e and P-256 x/y equal the originals; bad points fail. */
static void test_key_from_raw(void **state)
{
	unsigned char n[512], pt[65];
	BIGNUM *bn_n = NULL;
	EVP_PKEY *k = NULL;
	size_t ptlen = 0;
	int nlen;

	(void)state;
	assert_int_equal(EVP_PKEY_get_bn_param(rsa_a, OSSL_PKEY_PARAM_RSA_N, &bn_n), 1);
	nlen = BN_bn2bin(bn_n, n);
	BN_free(bn_n);
	assert_int_equal(nlen, 256);
	assert_int_equal(hl_key_rsa_from_n_e(n, (size_t)nlen, 0, &k), 0);
	assert_true(hl_key_pub_equal(k, rsa_a));
	hl_key_free(k);
	k = NULL;
	assert_int_equal(hl_key_rsa_from_n_e(n, (size_t)nlen, 3, &k), 0);
	assert_false(hl_key_pub_equal(k, rsa_a));
	hl_key_free(k);
	k = NULL;
	assert_int_equal(hl_key_rsa_from_n_e(n, 16, 0, &k), -1);
	assert_error_has("too small");
	assert_null(k);

	assert_int_equal(EVP_PKEY_get_octet_string_param(ec_a, OSSL_PKEY_PARAM_PUB_KEY, pt,
							 sizeof(pt), &ptlen), 1);
	assert_int_equal(ptlen, 65);
	assert_int_equal(pt[0], 4);
	assert_int_equal(hl_key_ec_p256_from_xy(pt + 1, 32, pt + 33, 32, &k), 0);
	assert_true(hl_key_pub_equal(k, ec_a));
	hl_key_free(k);
	k = NULL;
	pt[64] ^= 1;
	assert_int_equal(hl_key_ec_p256_from_xy(pt + 1, 32, pt + 33, 32, &k), -1);
	assert_error_has("p-256");
	assert_null(k);
	assert_int_equal(hl_key_ec_p256_from_xy(pt + 1, 33, pt + 33, 32, &k), -1);
}

/*
 * A prepared check answers as hl_crypto_verify for every scheme, check
 * after check (its context is copied, never used up): a good signature
 * passes every time, a changed message or signature and another key's
 * signature are refused; a scheme that does not fit the key is refused at
 * creation; references are counted.
 */
static void test_verifier(void **state)
{
	static const char msg[] = "TPMS_ATTEST of a quote";
	struct {
		EVP_PKEY *key, *other;
		enum hl_sig_scheme scheme;
	} cases[] = {
		{ rsa_a, rsa_b, HL_SIG_RSA_PSS },
		{ rsa_a, rsa_b, HL_SIG_RSA_PKCS1 },
		{ ec_a, ec_b, HL_SIG_ECDSA },
	};
	struct hl_buf sig = { NULL, 0 }, other = { NULL, 0 };
	struct hl_verifier *v = NULL;
	unsigned char bad[1024];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(hl_crypto_sign(cases[i].key, cases[i].scheme, msg, sizeof(msg),
						&sig), 0);
		assert_int_equal(hl_crypto_sign(cases[i].other, cases[i].scheme, msg, sizeof(msg),
						&other), 0);
		assert_int_equal(hl_verifier_new(cases[i].key, cases[i].scheme, &v), 0);
		for (int round = 0; round < 3; round++) {
			assert_int_equal(hl_verifier_check(v, msg, sizeof(msg), sig.data, sig.len), 0);
			assert_int_equal(hl_verifier_check(v, msg, sizeof(msg) - 1, sig.data, sig.len),
					 -1);
			assert_error_has("signature does not verify");
			memcpy(bad, sig.data, sig.len);
			bad[sig.len / 2] ^= 0x01;
			assert_int_equal(hl_verifier_check(v, msg, sizeof(msg), bad, sig.len), -1);
			assert_int_equal(hl_verifier_check(v, msg, sizeof(msg), other.data, other.len),
					 -1);
			assert_int_equal(hl_verifier_check(v, msg, sizeof(msg), sig.data, 0), -1);
		}
		assert_ptr_equal(hl_verifier_up_ref(v), v);
		hl_verifier_free(v);   /* one reference left: still usable */
		assert_int_equal(hl_verifier_check(v, msg, sizeof(msg), sig.data, sig.len), 0);
		hl_verifier_free(v);
		v = NULL;
		hl_buf_free(&sig);
		hl_buf_free(&other);
	}
	assert_int_equal(hl_verifier_new(ec_a, HL_SIG_RSA_PSS, &v), -1);
	assert_null(v);
	assert_null(hl_verifier_up_ref(NULL));
	hl_verifier_free(NULL);
}

/* Each scheme signs and verifies; a changed message, signature or key is refused. */
static void test_sign_verify(void **state)
{
	static const char msg[] = "attestation quote";
	struct {
		EVP_PKEY *key, *other;
		enum hl_sig_scheme scheme;
	} cases[] = {
		{ rsa_a, rsa_b, HL_SIG_DEFAULT },
		{ rsa_a, rsa_b, HL_SIG_RSA_PSS },
		{ rsa_a, rsa_b, HL_SIG_RSA_PKCS1 },
		{ ec_a, ec_b, HL_SIG_DEFAULT },
		{ ec_a, ec_b, HL_SIG_ECDSA },
	};
	struct hl_buf sig = { NULL, 0 };
	unsigned char bad[1024];
	EVP_PKEY *pub = NULL;
	struct hl_buf der = { NULL, 0 };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(hl_crypto_sign(cases[i].key, cases[i].scheme, msg, sizeof(msg),
						&sig), 0);
		assert_true(sig.len > 0 && sig.len <= sizeof(bad));
		assert_int_equal(hl_crypto_verify(cases[i].key, cases[i].scheme, msg, sizeof(msg),
						  sig.data, sig.len), 0);
		/* The public half alone verifies. */
		assert_int_equal(hl_key_pub_to_der(cases[i].key, &der), 0);
		assert_int_equal(hl_key_pub_from_der(der.data, der.len, &pub), 0);
		assert_int_equal(hl_crypto_verify(pub, cases[i].scheme, msg, sizeof(msg), sig.data,
						  sig.len), 0);
		hl_key_free(pub);
		pub = NULL;
		hl_buf_free(&der);

		assert_int_equal(hl_crypto_verify(cases[i].key, cases[i].scheme, msg,
						  sizeof(msg) - 1, sig.data, sig.len), -1);
		assert_error_has("signature does not verify");
		memcpy(bad, sig.data, sig.len);
		bad[sig.len / 2] ^= 0x01;
		assert_int_equal(hl_crypto_verify(cases[i].key, cases[i].scheme, msg, sizeof(msg),
						  bad, sig.len), -1);
		assert_error_has("signature does not verify");
		assert_int_equal(hl_crypto_verify(cases[i].key, cases[i].scheme, msg, sizeof(msg),
						  sig.data, sig.len - 1), -1);
		assert_int_equal(hl_crypto_verify(cases[i].other, cases[i].scheme, msg, sizeof(msg),
						  sig.data, sig.len), -1);
		assert_error_has("signature does not verify");
		hl_buf_free(&sig);
	}

	/* PSS and PKCS#1 signatures are not interchangeable. */
	assert_int_equal(hl_crypto_sign(rsa_a, HL_SIG_RSA_PSS, msg, sizeof(msg), &sig), 0);
	assert_int_equal(hl_crypto_verify(rsa_a, HL_SIG_RSA_PKCS1, msg, sizeof(msg), sig.data,
					  sig.len), -1);
	hl_buf_free(&sig);

	/* A scheme that does not fit the key is an error, not a signature. */
	assert_int_equal(hl_crypto_sign(ec_a, HL_SIG_RSA_PSS, msg, sizeof(msg), &sig), -1);
	assert_error_has("does not fit");
	assert_null(sig.data);
	assert_int_equal(hl_crypto_sign(rsa_a, HL_SIG_ECDSA, msg, sizeof(msg), &sig), -1);
	assert_int_equal(hl_crypto_verify(ec_a, HL_SIG_RSA_PKCS1, msg, sizeof(msg), "x", 1), -1);

	/* Signing needs the private half. */
	assert_int_equal(hl_key_pub_to_der(ec_a, &der), 0);
	assert_int_equal(hl_key_pub_from_der(der.data, der.len, &pub), 0);
	assert_int_equal(hl_crypto_sign(pub, HL_SIG_ECDSA, msg, sizeof(msg), &sig), -1);
	assert_null(sig.data);
	hl_key_free(pub);
	hl_buf_free(&der);
}

/* A signature verified against OpenSSL directly: PSS with salt 32 over SHA-256. */
static void test_sign_interop(void **state)
{
	static const char msg[] = "key protector";
	struct hl_buf sig = { NULL, 0 };
	EVP_PKEY_CTX *pctx = NULL;
	EVP_MD_CTX *m = EVP_MD_CTX_new();

	(void)state;
	assert_non_null(m);
	assert_int_equal(hl_crypto_sign(rsa_a, HL_SIG_RSA_PSS, msg, sizeof(msg), &sig), 0);
	assert_int_equal(EVP_DigestVerifyInit_ex(m, &pctx, "SHA256", NULL, NULL, rsa_a, NULL), 1);
	assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING), 1);
	assert_int_equal(EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, 32), 1);
	assert_int_equal(EVP_DigestVerify(m, sig.data, sig.len, (const unsigned char *)msg,
					  sizeof(msg)), 1);
	EVP_MD_CTX_free(m);
	hl_buf_free(&sig);
}

/* An ECDSA signature split into r/s and re-encoded verifies and is byte-identical. */
static void test_ecdsa_rs(void **state)
{
	static const char msg[] = "quote";
	struct hl_buf sig = { NULL, 0 }, re = { NULL, 0 };
	const BIGNUM *r, *s;
	unsigned char rb[32], sb[32];
	const unsigned char *p;
	ECDSA_SIG *es;

	(void)state;
	assert_int_equal(hl_crypto_sign(ec_a, HL_SIG_ECDSA, msg, sizeof(msg), &sig), 0);
	p = sig.data;
	es = d2i_ECDSA_SIG(NULL, &p, (long)sig.len);
	assert_non_null(es);
	ECDSA_SIG_get0(es, &r, &s);
	assert_int_equal(BN_bn2binpad(r, rb, 32), 32);
	assert_int_equal(BN_bn2binpad(s, sb, 32), 32);
	ECDSA_SIG_free(es);
	assert_int_equal(hl_crypto_ecdsa_sig_from_rs(rb, 32, sb, 32, &re), 0);
	assert_int_equal(re.len, sig.len);
	assert_memory_equal(re.data, sig.data, sig.len);
	assert_int_equal(hl_crypto_verify(ec_a, HL_SIG_ECDSA, msg, sizeof(msg), re.data, re.len),
			 0);
	hl_buf_free(&re);
	sb[5] ^= 0x80;
	assert_int_equal(hl_crypto_ecdsa_sig_from_rs(rb, 32, sb, 32, &re), 0);
	assert_int_equal(hl_crypto_verify(ec_a, HL_SIG_ECDSA, msg, sizeof(msg), re.data, re.len),
			 -1);
	hl_buf_free(&re);
	hl_buf_free(&sig);
	assert_int_equal(hl_crypto_ecdsa_sig_from_rs(rb, 0, sb, 32, &re), -1);
	assert_null(re.data);
}

/* OAEP wraps and unwraps with the exact label; wrong key, label or data are refused. */
static void test_oaep(void **state)
{
	static const unsigned char tk[32] = "transport key 0123456789abcdef!";
	struct hl_buf ct = { NULL, 0 }, pt = { NULL, 0 };
	EVP_PKEY_CTX *ctx;
	unsigned char out[512], *lab;
	size_t outlen = sizeof(out);

	(void)state;
	/* "IDENTITY" with its NUL, as TPM2_RSA_Decrypt uses it. */
	assert_int_equal(hl_crypto_oaep_wrap(rsa_a, "IDENTITY", 9, tk, sizeof(tk), &ct), 0);
	assert_int_equal(ct.len, 256);
	assert_int_equal(hl_crypto_oaep_unwrap(rsa_a, "IDENTITY", 9, ct.data, ct.len, &pt), 0);
	assert_int_equal(pt.len, sizeof(tk));
	assert_memory_equal(pt.data, tk, sizeof(tk));
	hl_buf_free(&pt);

	/* The label is used byte for byte: without the NUL it is another label. */
	assert_int_equal(hl_crypto_oaep_unwrap(rsa_a, "IDENTITY", 8, ct.data, ct.len, &pt), -1);
	assert_error_has("rsa-oaep unwrap failed");
	assert_null(pt.data);
	assert_int_equal(hl_crypto_oaep_unwrap(rsa_a, NULL, 0, ct.data, ct.len, &pt), -1);
	assert_int_equal(hl_crypto_oaep_unwrap(rsa_b, "IDENTITY", 9, ct.data, ct.len, &pt), -1);
	assert_error_has("wrong key or label");
	ct.data[10] ^= 0x40;
	assert_int_equal(hl_crypto_oaep_unwrap(rsa_a, "IDENTITY", 9, ct.data, ct.len, &pt), -1);
	ct.data[10] ^= 0x40;
	assert_int_equal(hl_crypto_oaep_unwrap(rsa_a, "IDENTITY", 9, ct.data, ct.len - 1, &pt),
			 -1);
	assert_null(pt.data);

	/* Plain OpenSSL with the same 9-byte label and SHA-256 decrypts it. */
	ctx = EVP_PKEY_CTX_new_from_pkey(NULL, rsa_a, NULL);
	assert_non_null(ctx);
	assert_int_equal(EVP_PKEY_decrypt_init(ctx), 1);
	assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING), 1);
	assert_int_equal(EVP_PKEY_CTX_set_rsa_oaep_md(ctx, EVP_sha256()), 1);
	lab = OPENSSL_memdup("IDENTITY", 9);
	assert_int_equal(EVP_PKEY_CTX_set0_rsa_oaep_label(ctx, lab, 9), 1);
	assert_int_equal(EVP_PKEY_decrypt(ctx, out, &outlen, ct.data, ct.len), 1);
	assert_int_equal(outlen, sizeof(tk));
	assert_memory_equal(out, tk, sizeof(tk));
	EVP_PKEY_CTX_free(ctx);
	hl_buf_free(&ct);

	/* No label round-trips; too much data and non-RSA keys are refused. */
	assert_int_equal(hl_crypto_oaep_wrap(rsa_b, NULL, 0, tk, sizeof(tk), &ct), 0);
	assert_int_equal(hl_crypto_oaep_unwrap(rsa_b, NULL, 0, ct.data, ct.len, &pt), 0);
	assert_memory_equal(pt.data, tk, sizeof(tk));
	hl_buf_free(&pt);
	hl_buf_free(&ct);
	assert_int_equal(hl_crypto_oaep_wrap(rsa_a, NULL, 0, out, 200, &ct), -1);
	assert_error_has("cannot rsa-oaep wrap 200 bytes");
	assert_null(ct.data);
	assert_int_equal(hl_crypto_oaep_wrap(ec_a, NULL, 0, tk, sizeof(tk), &ct), -1);
	assert_error_has("needs an rsa key");
}

/* GCM round-trips; any tampering or wrong key/AAD fails with "authentication failed". */
static void test_gcm(void **state)
{
	static const char pt[] = "vTPM state: tenant secret 42";
	static const char aad[] = "ShieldedVM1";
	struct hl_buf c1 = { NULL, 0 }, c2 = { NULL, 0 }, p = { NULL, 0 };
	unsigned char key[HL_GCM_KEY_LEN], key2[HL_GCM_KEY_LEN], out[64];
	EVP_CIPHER_CTX *ctx;
	size_t positions[3], i;
	int n = 0, fin = 0;

	(void)state;
	assert_int_equal(hl_crypto_random(key, sizeof(key)), 0);
	memcpy(key2, key, sizeof(key));
	key2[0] ^= 1;
	assert_int_equal(hl_crypto_gcm_encrypt(key, aad, sizeof(aad), pt, sizeof(pt), &c1), 0);
	assert_int_equal(c1.len, HL_GCM_OVERHEAD + sizeof(pt));
	assert_null(memmem(c1.data, c1.len, "tenant secret", 13));
	assert_int_equal(hl_crypto_gcm_encrypt(key, aad, sizeof(aad), pt, sizeof(pt), &c2), 0);
	assert_memory_not_equal(c1.data, c2.data, HL_GCM_IV_LEN);
	hl_buf_free(&c2);
	assert_int_equal(hl_crypto_gcm_decrypt(key, aad, sizeof(aad), c1.data, c1.len, &p), 0);
	assert_int_equal(p.len, sizeof(pt));
	assert_memory_equal(p.data, pt, sizeof(pt));
	hl_buf_free(&p);

	/* The layout is IV || ciphertext || tag: plain OpenSSL decrypts it. */
	ctx = EVP_CIPHER_CTX_new();
	assert_non_null(ctx);
	assert_int_equal(EVP_DecryptInit_ex2(ctx, EVP_aes_256_gcm(), key, c1.data, NULL), 1);
	assert_int_equal(EVP_DecryptUpdate(ctx, NULL, &n, (const unsigned char *)aad, sizeof(aad)),
			 1);
	assert_int_equal(EVP_DecryptUpdate(ctx, out, &n, c1.data + HL_GCM_IV_LEN, sizeof(pt)), 1);
	assert_int_equal(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, HL_GCM_TAG_LEN,
					     c1.data + c1.len - HL_GCM_TAG_LEN), 1);
	assert_int_equal(EVP_DecryptFinal_ex(ctx, out + n, &fin), 1);
	assert_memory_equal(out, pt, sizeof(pt));
	EVP_CIPHER_CTX_free(ctx);

	/* A flipped bit in the IV, the ciphertext or the tag. */
	positions[0] = 3;
	positions[1] = HL_GCM_IV_LEN + 5;
	positions[2] = c1.len - 1;
	for (i = 0; i < 3; i++) {
		c1.data[positions[i]] ^= 0x01;
		assert_int_equal(hl_crypto_gcm_decrypt(key, aad, sizeof(aad), c1.data, c1.len, &p),
				 -1);
		assert_error_has("authentication failed");
		assert_null(p.data);
		c1.data[positions[i]] ^= 0x01;
	}
	assert_int_equal(hl_crypto_gcm_decrypt(key, "ShieldedVM2", sizeof(aad), c1.data, c1.len,
					       &p), -1);
	assert_error_has("authentication failed");
	assert_int_equal(hl_crypto_gcm_decrypt(key, NULL, 0, c1.data, c1.len, &p), -1);
	assert_int_equal(hl_crypto_gcm_decrypt(key2, aad, sizeof(aad), c1.data, c1.len, &p), -1);
	assert_error_has("authentication failed");
	assert_int_equal(hl_crypto_gcm_decrypt(key, aad, sizeof(aad), c1.data, c1.len - 1, &p),
			 -1);
	assert_int_equal(hl_crypto_gcm_decrypt(key, aad, sizeof(aad), c1.data, 27, &p), -1);
	assert_error_has("authentication failed");
	assert_null(p.data);
	hl_buf_free(&c1);

	/* Empty plaintext and no AAD still authenticate. */
	assert_int_equal(hl_crypto_gcm_encrypt(key, NULL, 0, NULL, 0, &c1), 0);
	assert_int_equal(c1.len, HL_GCM_OVERHEAD);
	assert_int_equal(hl_crypto_gcm_decrypt(key, NULL, 0, c1.data, c1.len, &p), 0);
	assert_int_equal(p.len, 0);
	hl_buf_free(&p);
	c1.data[c1.len - 1] ^= 0x80;
	assert_int_equal(hl_crypto_gcm_decrypt(key, NULL, 0, c1.data, c1.len, &p), -1);
	hl_buf_free(&c1);
}

/* A CA and a leaf carry what the spec says and verify; getters and encodings round-trip. */
static void test_cert_issue_verify(void **state)
{
	static const char *const san[] = { "hgs.relecloud.com", "127.0.0.2" };
	char cn[64], tp1[HL_SHA256_HEX_SIZE], tp2[HL_SHA256_HEX_SIZE], hex[HL_SHA256_HEX_SIZE];
	struct hl_buf pem = { NULL, 0 }, der = { NULL, 0 };
	time_t now = time(NULL), nb, na;
	unsigned char md[HL_SHA256_LEN];
	struct hl_cert_spec s;
	X509 *ca, *leaf = NULL, *back = NULL;
	EVP_PKEY *pub = NULL;
	GENERAL_NAMES *names;
	uint32_t ku;

	(void)state;
	ca = make_ca("Relecloud Lab Root", ec_a);
	assert_true(X509_get_extension_flags(ca) & EXFLAG_CA);
	assert_true(X509_get_key_usage(ca) & KU_KEY_CERT_SIGN);
	assert_int_equal(X509_check_issued(ca, ca), X509_V_OK);
	assert_int_equal(hl_cert_verify(ca, ca, NULL, 0, 0), 0);

	s = spec_for("MyHgsService Encryption", now, -60, 365L * DAY);
	s.org = "Relecloud";
	s.key_usage = HL_KU_KEY_ENCIPHERMENT | HL_KU_DATA_ENCIPHERMENT;
	s.ext_key_usage = HL_EKU_SERVER_AUTH;
	s.san = san;
	s.n_san = 2;
	assert_int_equal(hl_cert_issue(&s, rsa_a, ca, ec_a, &leaf), 0);
	assert_int_equal(hl_cert_verify(leaf, ca, NULL, 0, 0), 0);
	assert_int_equal(hl_cert_verify(leaf, ca, NULL, 0, now + 100 * DAY), 0);

	assert_false(X509_get_extension_flags(leaf) & EXFLAG_CA);
	ku = X509_get_key_usage(leaf);
	assert_true(ku & KU_KEY_ENCIPHERMENT);
	assert_true(ku & KU_DATA_ENCIPHERMENT);
	assert_false(ku & KU_DIGITAL_SIGNATURE);
	assert_false(ku & KU_KEY_CERT_SIGN);
	assert_true(X509_get_extended_key_usage(leaf) & XKU_SSL_SERVER);
	assert_int_equal(X509_check_host(leaf, "hgs.relecloud.com", 0, 0, NULL), 1);
	assert_int_equal(X509_check_ip_asc(leaf, "127.0.0.2", 0), 1);
	names = X509_get_ext_d2i(leaf, NID_subject_alt_name, NULL, NULL);
	assert_non_null(names);
	assert_int_equal(sk_GENERAL_NAME_num(names), 2);
	GENERAL_NAMES_free(names);

	assert_int_equal(hl_cert_subject_cn(leaf, cn, sizeof(cn)), 0);
	assert_string_equal(cn, "MyHgsService Encryption");
	assert_int_equal(hl_cert_issuer_cn(leaf, cn, sizeof(cn)), 0);
	assert_string_equal(cn, "Relecloud Lab Root");
	assert_int_equal(hl_cert_subject_cn(leaf, cn, 5), -1);
	assert_error_has("subject cn");
	assert_int_equal(hl_cert_validity(leaf, &nb, &na), 0);
	assert_int_equal(nb, now - 60);
	assert_int_equal(na, now + 365L * DAY);

	assert_int_equal(hl_cert_pubkey(leaf, &pub), 0);
	assert_true(hl_key_pub_equal(pub, rsa_a));
	hl_key_free(pub);

	/* Thumbprint = SHA-256 of the DER; PEM and DER round-trip to the same cert. */
	assert_int_equal(hl_cert_thumbprint(leaf, tp1), 0);
	assert_int_equal(hl_cert_to_der(leaf, &der), 0);
	assert_int_equal(hl_crypto_sha256(der.data, der.len, md), 0);
	assert_int_equal(hl_crypto_hex_encode(md, sizeof(md), hex, sizeof(hex)), 0);
	assert_string_equal(hex, tp1);
	assert_int_equal(hl_cert_from_der(der.data, der.len, &back), 0);
	assert_int_equal(hl_cert_thumbprint(back, tp2), 0);
	assert_string_equal(tp1, tp2);
	hl_cert_free(back);
	back = NULL;
	hl_buf_free(&der);
	assert_int_equal(hl_cert_to_pem(leaf, &pem), 0);
	assert_non_null(strstr((char *)pem.data, "-----BEGIN CERTIFICATE-----"));
	assert_int_equal(hl_cert_from_pem(pem.data, pem.len, &back), 0);
	assert_int_equal(hl_cert_thumbprint(back, tp2), 0);
	assert_string_equal(tp1, tp2);
	assert_int_equal(hl_cert_verify(back, ca, NULL, 0, 0), 0);
	hl_cert_free(back);
	hl_buf_free(&pem);

	/* Serials are random: two issues of the same spec differ. */
	assert_int_equal(hl_cert_issue(&s, rsa_a, ca, ec_a, &back), 0);
	assert_int_not_equal(ASN1_INTEGER_cmp(X509_get0_serialNumber(leaf),
					      X509_get0_serialNumber(back)), 0);
	assert_true(ASN1_STRING_length(X509_get0_serialNumber(back)) == 20);
	hl_cert_free(back);

	hl_cert_free(leaf);
	hl_cert_free(ca);
	hl_cert_free(NULL);
}

/* A certificate from another CA (or a rogue CA of the same name) is refused by name. */
static void test_cert_wrong_ca(void **state)
{
	X509 *ca = make_ca("Relecloud Lab Root", ec_a);
	X509 *other = make_ca("Other CA", ec_b);
	X509 *rogue = make_ca("Relecloud Lab Root", ec_b);
	X509 *leaf = make_leaf("FabricHost1", rsa_a, other, ec_b, -60, DAY);
	X509 *forged = make_leaf("FabricHost1", rsa_a, rogue, ec_b, -60, DAY);

	(void)state;
	assert_int_equal(hl_cert_verify(leaf, other, NULL, 0, 0), 0);
	assert_int_equal(hl_cert_verify(leaf, ca, NULL, 0, 0), -1);
	assert_error_has("certificate 'FabricHost1' was not issued by 'Relecloud Lab Root'");
	assert_error_has("its issuer is 'Other CA'");

	assert_int_equal(hl_cert_verify(forged, rogue, NULL, 0, 0), 0);
	assert_int_equal(hl_cert_verify(forged, ca, NULL, 0, 0), -1);
	assert_error_has("certificate 'FabricHost1' was not issued by 'Relecloud Lab Root'");

	/* A self-signed certificate is not issued by the CA either. */
	assert_int_equal(hl_cert_verify(other, ca, NULL, 0, 0), -1);
	assert_error_has("certificate 'Other CA' was not issued by 'Relecloud Lab Root'");

	/* The CA key must match the CA certificate when issuing. */
	{
		struct hl_cert_spec s = spec_for("x", time(NULL), 0, DAY);
		X509 *bad = NULL;

		assert_int_equal(hl_cert_issue(&s, rsa_a, ca, ec_b, &bad), -1);
		assert_error_has("does not match");
		assert_null(bad);
	}

	hl_cert_free(forged);
	hl_cert_free(leaf);
	hl_cert_free(rogue);
	hl_cert_free(other);
	hl_cert_free(ca);
}

/* Expired and not-yet-valid certificates are refused at the given time, accepted inside. */
static void test_cert_validity(void **state)
{
	X509 *ca = make_ca("Relecloud Lab Root", ec_a);
	X509 *old = make_leaf("FabricHost1", ec_b, ca, ec_a, -10L * DAY, -DAY);
	X509 *early = make_leaf("FabricHost2", ec_b, ca, ec_a, DAY, 10L * DAY);
	time_t now = time(NULL), na;
	char when[64];
	struct tm tm;

	(void)state;
	assert_int_equal(hl_cert_verify(old, ca, NULL, 0, 0), -1);
	assert_error_has("certificate 'FabricHost1' expired on ");
	assert_int_equal(hl_cert_validity(old, NULL, &na), 0);
	gmtime_r(&na, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	assert_error_has(when);
	assert_int_equal(hl_cert_verify(old, ca, NULL, 0, now - 5L * DAY), 0);
	assert_int_equal(hl_cert_verify(old, ca, NULL, 0, na + 1), -1);
	assert_error_has("expired");

	assert_int_equal(hl_cert_verify(early, ca, NULL, 0, 0), -1);
	assert_error_has("certificate 'FabricHost2' is not yet valid");
	assert_int_equal(hl_cert_verify(early, ca, NULL, 0, now + 2L * DAY), 0);

	/* The CA's own validity counts too. */
	assert_int_equal(hl_cert_verify(early, ca, NULL, 0, now + 4000L * DAY), -1);
	assert_error_has("expired");

	hl_cert_free(early);
	hl_cert_free(old);
	hl_cert_free(ca);
}

/* Root -> intermediate -> leaf verifies with the intermediate and is refused without it. */
static void test_cert_chain(void **state)
{
	X509 *root = make_ca("Relecloud Lab Root", ec_a);
	struct hl_cert_spec s = spec_for("MyHgsService Attestation Signer", time(NULL), -60,
					 365L * DAY);
	X509 *inter = NULL, *leaf, *notca, *leaf2;

	(void)state;
	s.is_ca = 1;
	s.path_len = 0;
	s.key_usage = HL_KU_KEY_CERT_SIGN | HL_KU_DIGITAL_SIGNATURE;
	assert_int_equal(hl_cert_issue(&s, rsa_b, root, ec_a, &inter), 0);
	assert_true(X509_get_extension_flags(inter) & EXFLAG_CA);
	leaf = make_leaf("FabricHost1", ec_b, inter, rsa_b, -60, DAY);

	assert_int_equal(hl_cert_verify(leaf, root, &inter, 1, 0), 0);
	assert_int_equal(hl_cert_verify(leaf, inter, NULL, 0, 0), 0);
	assert_int_equal(hl_cert_verify(leaf, root, NULL, 0, 0), -1);
	assert_error_has("certificate 'FabricHost1' was not issued by 'Relecloud Lab Root'");
	assert_error_has("its issuer is 'MyHgsService Attestation Signer'");

	/* A leaf (CA:FALSE) cannot act as an issuer. */
	notca = make_leaf("NotACa", rsa_a, root, ec_a, -60, DAY);
	leaf2 = make_leaf("FabricHost2", ec_b, notca, rsa_a, -60, DAY);
	assert_int_equal(hl_cert_verify(leaf2, root, &notca, 1, 0), -1);
	assert_error_has("'NotACa' may not issue certificates");

	hl_cert_free(leaf2);
	hl_cert_free(notca);
	hl_cert_free(leaf);
	hl_cert_free(inter);
	hl_cert_free(root);
}

/*
 * A CA bundle: self-signed certificates are the anchors, the others
 * intermediates, in any order; without a self-signed one each is tried as
 * the anchor; a leaf of another CA gets hl_cert_verify's message.
 */
static void test_cert_verify_bundle(void **state)
{
	X509 *root = make_ca("Lab TPM Vendor Root", ec_a);
	X509 *rogue = make_ca("Rogue TPM Vendor", ec_b);
	struct hl_cert_spec s = spec_for("Lab TPM Vendor Issuing", time(NULL), -30L * DAY,
					 365L * DAY);
	X509 *inter = NULL, *leaf, *stray, *old;
	X509 *bundle[3];

	(void)state;
	s.is_ca = 1;
	s.path_len = 0;
	s.key_usage = HL_KU_KEY_CERT_SIGN | HL_KU_DIGITAL_SIGNATURE;
	assert_int_equal(hl_cert_issue(&s, rsa_b, root, ec_a, &inter), 0);
	leaf = make_leaf("EK FabricHost1", rsa_a, inter, rsa_b, -60, DAY);
	stray = make_leaf("EK RogueHost", rsa_a, rogue, ec_b, -60, DAY);
	old = make_leaf("EK OldHost", rsa_a, inter, rsa_b, -10L * DAY, -DAY);

	bundle[0] = inter;
	bundle[1] = root;
	assert_int_equal(hl_cert_verify_bundle(leaf, bundle, 2, 0), 0);
	bundle[0] = root;
	bundle[1] = inter;
	assert_int_equal(hl_cert_verify_bundle(leaf, bundle, 2, 0), 0);
	/* the intermediate alone is taken as the anchor */
	assert_int_equal(hl_cert_verify_bundle(leaf, &inter, 1, 0), 0);
	/* the root alone lacks the intermediate */
	assert_int_equal(hl_cert_verify_bundle(leaf, &root, 1, 0), -1);
	assert_error_has("certificate 'EK FabricHost1' was not issued by 'Lab TPM Vendor Root'");
	/* two anchors: the rogue's leaf chains to the rogue root only */
	bundle[2] = rogue;
	assert_int_equal(hl_cert_verify_bundle(stray, bundle, 3, 0), 0);
	assert_int_equal(hl_cert_verify_bundle(stray, bundle, 2, 0), -1);
	assert_error_has("certificate 'EK RogueHost' was not issued by");
	/* time counts, as in hl_cert_verify */
	assert_int_equal(hl_cert_verify_bundle(old, bundle, 2, 0), -1);
	assert_error_has("certificate 'EK OldHost' expired on ");
	assert_int_equal(hl_cert_verify_bundle(old, bundle, 2, time(NULL) - 5L * DAY), 0);
	assert_int_equal(hl_cert_verify_bundle(leaf, bundle, 0, 0), -1);
	assert_error_has("no certificate or ca bundle given");

	hl_cert_free(old);
	hl_cert_free(stray);
	hl_cert_free(leaf);
	hl_cert_free(inter);
	hl_cert_free(rogue);
	hl_cert_free(root);
}

/* Custom extensions (UTF8, octets, DER) round-trip by OID, also through PEM. */
static void test_cert_custom_ext(void **state)
{
	static const unsigned char blob[] = { 0x00, 0x01, 0xfe, 0xff, 0x00 };
	static const unsigned char der_int[] = { 0x02, 0x01, 0x05 };
	struct hl_cert_ext exts[] = {
		{ OID_MODE, HL_EXT_UTF8, "tpm", 3, 0 },
		{ OID_BLOB, HL_EXT_OCTETS, blob, sizeof(blob), 0 },
		{ OID_RESULT, HL_EXT_DER, der_int, sizeof(der_int), 0 },
	};
	X509 *ca = make_ca("Relecloud Lab Root", ec_a);
	struct hl_cert_spec s = spec_for("FabricHost1 Health", time(NULL), -60, DAY);
	struct hl_buf v = { NULL, 0 }, pem = { NULL, 0 };
	X509 *hc = NULL, *back = NULL;

	(void)state;
	s.key_usage = HL_KU_KEY_ENCIPHERMENT;
	s.exts = exts;
	s.n_exts = 3;
	assert_int_equal(hl_cert_issue(&s, rsa_a, ca, ec_a, &hc), 0);
	assert_int_equal(hl_cert_verify(hc, ca, NULL, 0, 0), 0);

	assert_int_equal(hl_cert_to_pem(hc, &pem), 0);
	assert_int_equal(hl_cert_from_pem(pem.data, pem.len, &back), 0);
	hl_buf_free(&pem);

	assert_int_equal(hl_cert_ext_get_utf8(back, OID_MODE, &v), 0);
	assert_string_equal((char *)v.data, "tpm");
	assert_int_equal(v.len, 3);
	hl_buf_free(&v);
	assert_int_equal(hl_cert_ext_get(back, OID_MODE, &v), 0);
	assert_int_equal(v.len, 5);
	assert_memory_equal(v.data, "\x0c\x03tpm", 5);
	hl_buf_free(&v);
	assert_int_equal(hl_cert_ext_get_octets(back, OID_BLOB, &v), 0);
	assert_int_equal(v.len, sizeof(blob));
	assert_memory_equal(v.data, blob, sizeof(blob));
	hl_buf_free(&v);
	assert_int_equal(hl_cert_ext_get(back, OID_RESULT, &v), 0);
	assert_int_equal(v.len, sizeof(der_int));
	assert_memory_equal(v.data, der_int, sizeof(der_int));
	hl_buf_free(&v);

	/* Wrong type, absent OID and bad OID text are errors naming the OID. */
	assert_int_equal(hl_cert_ext_get_utf8(back, OID_BLOB, &v), -1);
	assert_error_has("is not a utf8 string");
	assert_int_equal(hl_cert_ext_get_octets(back, OID_MODE, &v), -1);
	assert_error_has("is not an octet string");
	assert_int_equal(hl_cert_ext_get(back, "1.3.6.1.4.1.311.21.99.77", &v), -1);
	assert_error_has("certificate 'FabricHost1 Health' has no extension "
			 "'1.3.6.1.4.1.311.21.99.77'");
	assert_null(v.data);
	assert_int_equal(hl_cert_ext_get(back, "not an oid", &v), -1);
	assert_error_has("invalid extension oid 'not an oid'");
	hl_cert_free(back);
	hl_cert_free(hc);
	hc = NULL;

	/* Bad extension input is refused at issue time. */
	exts[2].value = "\x02\x05\x01";
	exts[2].len = 3;
	assert_int_equal(hl_cert_issue(&s, rsa_a, ca, ec_a, &hc), -1);
	assert_error_has("not one complete der element");
	assert_null(hc);
	exts[2].value = der_int;
	exts[2].len = sizeof(der_int);
	exts[0].oid = "2.5.29.19"; /* basicConstraints, set by the issuer */
	assert_int_equal(hl_cert_issue(&s, rsa_a, ca, ec_a, &hc), -1);
	assert_error_has("given twice");
	exts[0].oid = "x.y";
	assert_int_equal(hl_cert_issue(&s, rsa_a, ca, ec_a, &hc), -1);
	assert_error_has("invalid extension oid 'x.y'");
	exts[0].oid = OID_MODE;
	exts[0].value = "\xff\xfe";
	exts[0].len = 2;
	assert_int_equal(hl_cert_issue(&s, rsa_a, ca, ec_a, &hc), -1);
	assert_error_has("not valid utf-8");
	assert_null(hc);

	hl_cert_free(ca);
}

/* Keyed HMAC-SHA256: RFC 4231 test case 2, the same MAC each time from one key set-up. */
static void test_hmac(void **state)
{
	static const unsigned char want[HL_SHA256_LEN] = {
		0x5b, 0xdc, 0xc1, 0x46, 0xbf, 0x60, 0x75, 0x4e, 0x6a, 0x04, 0x24, 0x26, 0x08, 0x95,
		0x75, 0xc7, 0x5a, 0x00, 0x3f, 0x08, 0x9d, 0x27, 0x39, 0x83, 0x9d, 0xec, 0x58, 0xb9,
		0x64, 0xec, 0x38, 0x43,
	};
	const char *msg = "what do ya want for nothing?";
	unsigned char mac[HL_SHA256_LEN], other[HL_SHA256_LEN];
	struct hl_hmac *h = NULL;

	(void)state;
	assert_int_equal(hl_hmac_sha256_new("Jefe", 4, &h), 0);
	for (int i = 0; i < 3; i++) {
		memset(mac, 0, sizeof(mac));
		assert_int_equal(hl_hmac_sha256(h, msg, strlen(msg), mac), 0);
		assert_memory_equal(mac, want, sizeof(want));
	}
	assert_int_equal(hl_hmac_sha256(h, "", 0, other), 0);
	assert_memory_not_equal(other, want, sizeof(want));
	hl_hmac_free(h);
	hl_hmac_free(NULL);
}

/* Whether extension I of A and B has the same DER. */
static int ext_same(X509 *a, X509 *b, int i)
{
	unsigned char *da = NULL, *db = NULL;
	int la = i2d_X509_EXTENSION(X509_get_ext(a, i), &da);
	int lb = i2d_X509_EXTENSION(X509_get_ext(b, i), &db);
	int same = la > 0 && la == lb && memcmp(da, db, (size_t)la) == 0;

	OPENSSL_free(da);
	OPENSSL_free(db);
	return same;
}

/* Issue from T into *OUT, read back from the DER it gives; what hl_cert_template_issue returns. */
static int tmpl_issue(struct hl_cert_template *t, const struct hl_cert_spec *s, EVP_PKEY *key,
		      X509 **out)
{
	struct hl_buf der = { NULL, 0 };
	int rc = hl_cert_template_issue(t, s, key, &der);

	*out = NULL;
	if (rc == 0)
		assert_int_equal(hl_cert_from_der(der.data, der.len, out), 0);
	else
		assert_null(der.data);
	hl_buf_free(&der);
	return rc;
}

/*
 * A template issues certificates that differ only where they must (serial,
 * subject CN, key and its identifier, the extensions' values), each
 * verifying; hl_cert_issue() gives the same extensions; a spec that is not
 * the template's, a CA key that is not the CA's and an OID given twice are
 * refused.
 */
static void test_cert_template(void **state)
{
	struct hl_cert_ext exts[] = {
		{ OID_MODE, HL_EXT_UTF8, "tpm", 3, 0 },
		{ OID_BLOB, HL_EXT_OCTETS, "\x01\x02", 2, 0 },
	};
	X509 *ca = make_ca("Relecloud Lab Root", ec_a);
	struct hl_cert_spec s = spec_for("FabricHost1", time(NULL), -60, DAY);
	struct hl_cert_template *t = NULL;
	struct hl_buf v = { NULL, 0 };
	X509 *one = NULL, *two = NULL, *direct = NULL;
	char cn[64];

	(void)state;
	s.org = "fabrikam.com";
	s.key_usage = HL_KU_KEY_ENCIPHERMENT;
	s.ext_key_usage = HL_EKU_CLIENT_AUTH;
	s.exts = exts;
	s.n_exts = 2;
	assert_int_equal(hl_cert_template_new(&s, ca, ec_a, &t), 0);
	assert_int_equal(tmpl_issue(t, &s, rsa_a, &one), 0);
	s.cn = "FabricHost2";
	exts[0].value = "ad";
	exts[0].len = 2;
	assert_int_equal(tmpl_issue(t, &s, rsa_b, &two), 0);
	assert_int_equal(hl_cert_verify(one, ca, NULL, 0, 0), 0);
	assert_int_equal(hl_cert_verify(two, ca, NULL, 0, 0), 0);

	/* BC, KU, EKU, SKI, AKI, then the two extra ones, in that order */
	assert_int_equal(X509_get_ext_count(one), 7);
	assert_int_equal(X509_get_ext_count(two), 7);
	assert_true(ext_same(one, two, 0) && ext_same(one, two, 1) && ext_same(one, two, 2));
	assert_false(ext_same(one, two, 3));        /* the subject keys differ */
	assert_true(ext_same(one, two, 4));
	assert_false(ext_same(one, two, 5));        /* "tpm" / "ad" */
	assert_true(ext_same(one, two, 6));
	assert_int_equal(X509_NAME_cmp(X509_get_issuer_name(one), X509_get_subject_name(ca)), 0);
	assert_int_equal(X509_NAME_cmp(X509_get_issuer_name(two), X509_get_subject_name(ca)), 0);
	assert_int_not_equal(ASN1_INTEGER_cmp(X509_get_serialNumber(one),
					      X509_get_serialNumber(two)), 0);
	assert_int_equal(hl_cert_subject_cn(two, cn, sizeof(cn)), 0);
	assert_string_equal(cn, "FabricHost2");
	assert_int_equal(hl_cert_ext_get_utf8(two, OID_MODE, &v), 0);
	assert_string_equal((char *)v.data, "ad");
	hl_buf_free(&v);

	/* the thumbprint, from the certificate or its DER: OpenSSL's SHA-256 digest of it */
	{
		unsigned char md[EVP_MAX_MD_SIZE];
		unsigned int n = 0;
		char from_cert[HL_SHA256_HEX_SIZE], from_der[HL_SHA256_HEX_SIZE];
		char want[HL_SHA256_HEX_SIZE];

		assert_int_equal(X509_digest(two, EVP_sha256(), md, &n), 1);
		assert_int_equal(hl_crypto_hex_encode(md, n, want, sizeof(want)), 0);
		assert_int_equal(hl_cert_thumbprint(two, from_cert), 0);
		assert_int_equal(hl_cert_to_der(two, &v), 0);
		assert_int_equal(hl_cert_thumbprint_der(v.data, v.len, from_der), 0);
		hl_buf_free(&v);
		assert_string_equal(from_cert, want);
		assert_string_equal(from_der, want);
	}

	/* one certificate through hl_cert_issue: the same extensions as the template's */
	s.cn = "FabricHost1";
	exts[0].value = "tpm";
	exts[0].len = 3;
	assert_int_equal(hl_cert_issue(&s, rsa_a, ca, ec_a, &direct), 0);
	assert_int_equal(X509_get_ext_count(direct), 7);
	for (int i = 0; i < 7; i++)
		assert_true(ext_same(one, direct, i));
	assert_int_equal(X509_NAME_cmp(X509_get_subject_name(one), X509_get_subject_name(direct)),
			 0);
	hl_cert_free(direct);
	direct = NULL;

	/* a spec that is not the template's */
	s.org = "contoso.com";
	assert_int_equal(tmpl_issue(t, &s, rsa_a, &direct), -1);
	assert_error_has("not the one of the template");
	assert_null(direct);
	s.org = "fabrikam.com";
	exts[1].oid = OID_RESULT;
	assert_int_equal(tmpl_issue(t, &s, rsa_a, &direct), -1);
	assert_error_has("not the one of the template");
	exts[1].oid = OID_BLOB;
	s.n_exts = 1;
	assert_int_equal(tmpl_issue(t, &s, rsa_a, &direct), -1);
	s.n_exts = 2;
	/* a value refused half-way through an issue; the next issue is whole again */
	exts[0].value = "\xff\xfe";
	exts[0].len = 2;
	assert_int_equal(tmpl_issue(t, &s, rsa_a, &direct), -1);
	assert_error_has("not valid utf-8");
	exts[0].value = "tpm";
	exts[0].len = 3;
	assert_int_equal(tmpl_issue(t, &s, rsa_a, &direct), 0);
	assert_int_equal(hl_cert_verify(direct, ca, NULL, 0, 0), 0);
	for (int i = 0; i < 7; i++)
		assert_true(ext_same(one, direct, i));
	hl_cert_free(direct);
	direct = NULL;
	hl_cert_template_free(t);
	t = NULL;

	/* refused when the template is made */
	assert_int_equal(hl_cert_template_new(&s, ca, ec_b, &t), -1);
	assert_error_has("the ca key does not match ca certificate 'Relecloud Lab Root'");
	assert_null(t);
	exts[1].oid = OID_MODE;
	assert_int_equal(hl_cert_template_new(&s, ca, ec_a, &t), -1);
	assert_error_has("extension '" OID_MODE "' given twice");
	assert_null(t);
	hl_cert_template_free(NULL);

	hl_cert_free(one);
	hl_cert_free(two);
	hl_cert_free(ca);
}

/*
 * An RSA CA's template: after its first certificate each is signed from a
 * kept context and encoded once (the TBSCertificate, then the Certificate
 * around it); every one of many verifies and is the DER OpenSSL itself
 * encodes for it (a signature ending in zero bits included: about half of
 * them), with the CA's signature algorithm inside and outside.
 */
static void test_cert_template_rsa_ca(void **state)
{
	X509 *ca = make_ca("Relecloud Lab Root", rsa_a), *x = NULL;
	struct hl_cert_spec s = spec_for("FabricHost1", time(NULL), -60, DAY);
	struct hl_cert_template *t = NULL;
	struct hl_buf der = { NULL, 0 };
	const ASN1_BIT_STRING *sig;
	const X509_ALGOR *alg;
	unsigned char *again = NULL;
	int even = 0;

	(void)state;
	assert_int_equal(hl_cert_template_new(&s, ca, rsa_a, &t), 0);
	for (int i = 0; i < 40; i++) {
		assert_int_equal(hl_cert_template_issue(t, &s, i % 2 ? ec_a : rsa_b, &der), 0);
		assert_int_equal(hl_cert_from_der(der.data, der.len, &x), 0);
		assert_int_equal(hl_cert_verify(x, ca, NULL, 0, 0), 0);
		assert_int_equal(i2d_X509(x, &again), (int)der.len);
		assert_memory_equal(again, der.data, der.len);
		X509_get0_signature(&sig, &alg, x);
		assert_int_equal(OBJ_obj2nid(alg->algorithm), NID_sha256WithRSAEncryption);
		assert_int_equal(X509_get_signature_nid(x), NID_sha256WithRSAEncryption);
		assert_int_equal(ASN1_STRING_length(sig), EVP_PKEY_get_size(rsa_a));
		even += !(ASN1_STRING_get0_data(sig)[ASN1_STRING_length(sig) - 1] & 1);
		OPENSSL_free(again);
		again = NULL;
		hl_cert_free(x);
		x = NULL;
		hl_buf_free(&der);
	}
	assert_true(even > 0);
	hl_cert_template_free(t);
	hl_cert_free(ca);
}

/* Garbage certificate input and bad specs give -1 with a message, never a crash. */
static void test_cert_garbage(void **state)
{
	static const char fake_pem[] = "-----BEGIN CERTIFICATE-----\nMIIBxjCCAW2gAwIBAgIU\n"
				       "-----END CERTIFICATE-----\n";
	X509 *ca = make_ca("Relecloud Lab Root", ec_a);
	struct hl_buf der = { NULL, 0 };
	struct hl_cert_spec s = spec_for("x", time(NULL), 0, DAY);
	unsigned char *buf;
	X509 *c = NULL, *leaf;
	size_t cut;
	char cn[8];

	(void)state;
	assert_int_equal(hl_cert_from_pem("hello", 5, &c), -1);
	assert_error_has("cannot read certificate pem");
	assert_null(c);
	assert_int_equal(hl_cert_from_pem(fake_pem, sizeof(fake_pem) - 1, &c), -1);
	assert_int_equal(hl_cert_from_pem("", 0, &c), -1);
	assert_int_equal(hl_cert_from_der("\x30\x82\xff\xff", 4, &c), -1);
	assert_error_has("cannot read certificate der");
	assert_int_equal(hl_cert_from_der("", 0, &c), -1);

	assert_int_equal(hl_cert_to_der(ca, &der), 0);
	for (cut = 1; cut < der.len; cut += 37) {
		assert_int_equal(hl_cert_from_der(der.data, der.len - cut, &c), -1);
		assert_null(c);
	}
	buf = malloc(der.len + 2);
	assert_non_null(buf);
	memcpy(buf, der.data, der.len);
	buf[der.len] = 0x05;
	buf[der.len + 1] = 0x00;
	assert_int_equal(hl_cert_from_der(buf, der.len + 2, &c), -1);
	assert_error_has("trailing");
	free(buf);
	hl_buf_free(&der);

	/* A leaf with a flipped signature byte parses but does not verify. */
	leaf = make_leaf("FabricHost1", rsa_a, ca, ec_a, -60, DAY);
	assert_int_equal(hl_cert_to_der(leaf, &der), 0);
	der.data[der.len - 1] ^= 0x01;
	assert_int_equal(hl_cert_from_der(der.data, der.len, &c), 0);
	assert_int_equal(hl_cert_verify(c, ca, NULL, 0, 0), -1);
	assert_error_has("certificate 'FabricHost1' was not issued by 'Relecloud Lab Root'");
	assert_error_has("does not verify");
	hl_cert_free(c);
	c = NULL;
	hl_cert_free(leaf);
	hl_buf_free(&der);

	s.cn = "";
	assert_int_equal(hl_cert_issue_self_signed(&s, ec_a, &c), -1);
	assert_error_has("no subject cn");
	s.cn = "x";
	s.not_after = s.not_before;
	assert_int_equal(hl_cert_issue_self_signed(&s, ec_a, &c), -1);
	assert_error_has("not-after");
	s.not_after = s.not_before + DAY;
	s.key_usage = 1u << 20;
	assert_int_equal(hl_cert_issue(&s, rsa_a, ca, ec_a, &c), -1);
	assert_error_has("unknown usage bits");
	s.key_usage = 0;
	{
		static const char *const bad_san[] = { "bad name,DNS:evil" };

		s.san = bad_san;
		s.n_san = 1;
		assert_int_equal(hl_cert_issue(&s, rsa_a, ca, ec_a, &c), -1);
		assert_error_has("invalid subjectAltName");
	}
	assert_null(c);
	assert_int_equal(hl_cert_issuer_cn(ca, cn, sizeof(cn)), -1);
	assert_error_has("Relecloud Lab Root");
	hl_cert_free(ca);
}

/* Assert the last error message starts with PREFIX. */
static void assert_error_starts(const char *prefix)
{
	if (strncmp(hl_error_last(), prefix, strlen(prefix)) != 0)
		fail_msg("error '%s' does not start with '%s'", hl_error_last(), prefix);
}

/* Assert the last error message is exactly WANT. */
static void assert_error_is(const char *want)
{
	assert_error_starts(want);
	if (strlen(hl_error_last()) != strlen(want))
		fail_msg("error '%s' is not '%s'", hl_error_last(), want);
}

/* A zero-padded copy of B with EXTRA bytes more, to be freed. */
static unsigned char *padded_copy(const struct hl_buf *b, size_t extra)
{
	unsigned char *p = calloc(1, b->len + extra);

	assert_non_null(p);
	memcpy(p, b->data, b->len);
	return p;
}

/*
 * Every PEM and DER reader and writer, and the bundle reader, gives its own
 * message word for word, resets its output on failure and round-trips.
 */
static void test_codec_messages(void **state)
{
	static const char no_cert[] = "-----BEGIN NOTHING-----\n-----END NOTHING-----\n";
	X509 *ca = make_ca("Relecloud Codec Root", ec_a), *ca2 = make_ca("Codec Root 2", rsa_a);
	struct hl_buf pem = { NULL, 0 }, pem2 = { NULL, 0 }, der = { NULL, 0 }, sig = { NULL, 0 };
	unsigned char rs[32], *longer, *both;
	X509 **certs = (X509 **)1, *c = (X509 *)1;
	EVP_PKEY *k = (EVP_PKEY *)1;
	char cn[64];
	size_t n = 7;

	(void)state;
	assert_non_null(ca);
	assert_non_null(ca2);

	/* PEM: no BEGIN line, then an unreadable body. */
	assert_int_equal(hl_key_priv_from_pem("hello", 5, &k), -1);
	assert_null(k);
	assert_error_is("cannot read private key pem: no '-----BEGIN' line in 5 bytes");
	assert_int_equal(hl_key_pub_from_pem("", 0, &k), -1);
	assert_error_is("cannot read public key pem: no '-----BEGIN' line in 0 bytes");
	assert_int_equal(hl_cert_from_pem("x", 1, &c), -1);
	assert_null(c);
	assert_error_is("cannot read certificate pem: no '-----BEGIN' line in 1 bytes");
	assert_int_equal(hl_key_priv_from_pem(no_cert, sizeof(no_cert) - 1, &k), -1);
	assert_error_starts("cannot read private key pem (46 bytes): ");
	assert_int_equal(hl_key_pub_from_pem(no_cert, sizeof(no_cert) - 1, &k), -1);
	assert_error_starts("cannot read public key pem (46 bytes): ");
	assert_int_equal(hl_cert_from_pem(no_cert, sizeof(no_cert) - 1, &c), -1);
	assert_error_starts("cannot read certificate pem (46 bytes): ");

	/* DER: invalid length, undecodable, trailing bytes. */
	assert_int_equal(hl_key_pub_from_der("", 0, &k), -1);
	assert_error_is("cannot read public key der: invalid length 0");
	assert_int_equal(hl_cert_from_der("", 0, &c), -1);
	assert_error_is("cannot read certificate der: invalid length 0");
	assert_int_equal(hl_key_pub_from_der("\x30\x03\x02\x01", 4, &k), -1);
	assert_error_starts("cannot read public key der (4 bytes): ");
	assert_int_equal(hl_cert_from_der("\x30\x03\x02\x01", 4, &c), -1);
	assert_error_starts("cannot read certificate der (4 bytes): ");
	assert_int_equal(hl_key_pub_to_der(ec_a, &der), 0);
	longer = padded_copy(&der, 3);
	assert_int_equal(hl_key_pub_from_der(longer, der.len + 3, &k), -1);
	assert_null(k);
	assert_error_is("cannot read public key der: 3 trailing bytes");
	assert_int_equal(hl_key_pub_from_der(longer, der.len, &k), 0);
	assert_true(hl_key_pub_equal(k, ec_a));
	hl_key_free(k);
	free(longer);
	hl_buf_free(&der);
	assert_int_equal(hl_cert_to_der(ca, &der), 0);
	longer = padded_copy(&der, 1);
	assert_int_equal(hl_cert_from_der(longer, der.len + 1, &c), -1);
	assert_null(c);
	assert_error_is("cannot read certificate der: 1 trailing bytes");
	free(longer);
	hl_buf_free(&der);

	/* Writers fill their output; the private key PEM reads back as the key. */
	assert_int_equal(hl_key_priv_to_pem(ec_a, &pem), 0);
	assert_int_equal(pem.data[pem.len], '\0');
	assert_int_equal(hl_key_priv_from_pem(pem.data, pem.len, &k), 0);
	assert_true(hl_key_pub_equal(k, ec_a));
	hl_key_free(k);
	hl_buf_free(&pem);

	/* ECDSA r and s encode to DER; an empty r is refused by name. */
	memset(rs, 0x11, sizeof(rs));
	assert_int_equal(hl_crypto_ecdsa_sig_from_rs(rs, sizeof(rs), rs, sizeof(rs), &sig), 0);
	assert_true(sig.len > 64 && sig.data[0] == 0x30);
	hl_buf_free(&sig);
	assert_int_equal(hl_crypto_ecdsa_sig_from_rs(rs, 0, rs, sizeof(rs), &sig), -1);
	assert_null(sig.data);
	assert_error_is("cannot encode ecdsa signature: r of 0 and s of 32 bytes");

	/* Bundles: every certificate in order; none, or no PEM at all, is refused. */
	assert_int_equal(hl_cert_to_pem(ca, &pem), 0);
	assert_int_equal(hl_cert_to_pem(ca2, &pem2), 0);
	both = malloc(pem.len + pem2.len);
	assert_non_null(both);
	memcpy(both, pem.data, pem.len);
	memcpy(both + pem.len, pem2.data, pem2.len);
	assert_int_equal(hl_cert_bundle_from_pem(both, pem.len + pem2.len, &certs, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(hl_cert_subject_cn(certs[0], cn, sizeof(cn)), 0);
	assert_string_equal(cn, "Relecloud Codec Root");
	assert_int_equal(hl_cert_subject_cn(certs[1], cn, sizeof(cn)), 0);
	assert_string_equal(cn, "Codec Root 2");
	hl_cert_array_free(certs, n);
	free(both);
	hl_buf_free(&pem);
	hl_buf_free(&pem2);
	assert_int_equal(hl_cert_bundle_from_pem("hello", 5, &certs, &n), -1);
	assert_null(certs);
	assert_int_equal(n, 0);
	assert_error_is("cannot read certificate bundle pem: no '-----BEGIN' line in 5 bytes");
	assert_int_equal(hl_cert_bundle_from_pem(no_cert, sizeof(no_cert) - 1, &certs, &n), -1);
	assert_error_is("cannot read certificate bundle pem: no readable certificate in 46 bytes");

	hl_cert_free(ca);
	hl_cert_free(ca2);
}

/* Incremental SHA-256 equals the one-shot digest, in any split. */
static void test_sha256_incremental(void **state)
{
	unsigned char data[1000], one[HL_SHA256_LEN], inc[HL_SHA256_LEN];
	struct hl_sha256 h = { NULL };
	size_t i, split;

	(void)state;
	for (i = 0; i < sizeof(data); i++)
		data[i] = (unsigned char)(i * 31);
	assert_int_equal(hl_crypto_sha256(data, sizeof(data), one), 0);
	for (split = 0; split <= sizeof(data); split += 111) {
		assert_int_equal(hl_crypto_sha256_begin(&h), 0);
		assert_int_equal(hl_crypto_sha256_update(&h, data, split), 0);
		assert_int_equal(hl_crypto_sha256_update(&h, data + split, sizeof(data) - split), 0);
		assert_int_equal(hl_crypto_sha256_end(&h, inc), 0);
		assert_memory_equal(one, inc, sizeof(one));
		assert_null(h.ctx);
	}
	assert_int_equal(hl_crypto_sha256_update(&h, data, 1), -1);
	assert_int_equal(hl_crypto_sha256_end(&h, inc), -1);
	assert_int_equal(hl_crypto_sha256_begin(&h), 0);
	hl_crypto_sha256_abort(&h);
	hl_crypto_sha256_abort(&h);
	hl_crypto_sha256_abort(NULL);
}

/* hl_crypto_hex_is: length and case. */
static void test_hex_is(void **state)
{
	(void)state;
	assert_true(hl_crypto_hex_is("0A1F", 4, 1));
	assert_false(hl_crypto_hex_is("0a1F", 4, 1));
	assert_true(hl_crypto_hex_is("0a1f", 4, 0));
	assert_false(hl_crypto_hex_is("0a1F", 4, 0));
	assert_false(hl_crypto_hex_is("0a1", 4, 0));
	assert_false(hl_crypto_hex_is("0a1fe", 4, 0));
	assert_false(hl_crypto_hex_is("0g1f", 4, 0));
	assert_false(hl_crypto_hex_is(NULL, 0, 0));
	assert_true(hl_crypto_hex_is("", 0, 0));
}

/* HKDF-SHA256: RFC 5869 test cases 1 and 3, and the refusals. */
static void test_hkdf(void **state)
{
	static const char okm1[] = "3CB25F25FAACD57A90434F64D0362F2A2D2D0A90CF1A5A4C5DB02D56ECC4C5BF"
				   "34007208D5B887185865";
	static const char okm3[] = "8DA4E775A563C18F715F802A063C5A31B8A11F5C5EE1879EC3454E5F3C738D2D"
				   "9D201395FAA4B61A96C8";
	unsigned char ikm[22], salt[13], info[10], out[42];
	char hex[2 * sizeof(out) + 1];
	size_t i;

	(void)state;
	memset(ikm, 0x0b, sizeof(ikm));
	for (i = 0; i < sizeof(salt); i++)
		salt[i] = (unsigned char)i;
	for (i = 0; i < sizeof(info); i++)
		info[i] = (unsigned char)(0xf0 + i);
	assert_int_equal(hl_crypto_hkdf_sha256(ikm, sizeof(ikm), salt, sizeof(salt), info,
					       sizeof(info), out, sizeof(out)), 0);
	assert_int_equal(hl_crypto_hex_encode(out, sizeof(out), hex, sizeof(hex)), 0);
	assert_string_equal(hex, okm1);
	assert_int_equal(hl_crypto_hkdf_sha256(ikm, sizeof(ikm), NULL, 0, NULL, 0, out,
					       sizeof(out)), 0);
	assert_int_equal(hl_crypto_hex_encode(out, sizeof(out), hex, sizeof(hex)), 0);
	assert_string_equal(hex, okm3);
	assert_int_equal(hl_crypto_hkdf_sha256(NULL, 0, NULL, 0, NULL, 0, out, 32), -1);
	assert_error_has("no input key");
	assert_int_equal(hl_crypto_hkdf_sha256(ikm, sizeof(ikm), NULL, 0, NULL, 0, out, 0), -1);
	assert_int_equal(hl_crypto_hkdf_sha256(ikm, sizeof(ikm), NULL, 0, NULL, 0, out,
					       HL_HKDF_SHA256_MAX + 1), -1);
	assert_error_has("give 1 to");
}

/* A CMS SignedData built with OpenSSL directly with FLAGS, for refusals. */
static int raw_cms(X509 *cert, EVP_PKEY *key, X509 *cert2, EVP_PKEY *key2, unsigned flags,
		   struct hl_buf *out)
{
	BIO *in = BIO_new_mem_buf("content", 7);
	CMS_ContentInfo *cms = CMS_sign(NULL, NULL, NULL, NULL, flags | CMS_PARTIAL | CMS_BINARY);
	unsigned char *der = NULL;
	int n = 0;

	if (!in || !cms || !CMS_add1_signer(cms, cert, key, EVP_sha256(), flags | CMS_BINARY) ||
	    (cert2 && !CMS_add1_signer(cms, cert2, key2, EVP_sha256(), flags | CMS_BINARY)) ||
	    CMS_final(cms, in, NULL, flags | CMS_BINARY) != 1 ||
	    (n = i2d_CMS_ContentInfo(cms, &der)) <= 0)
		fail_msg("cannot build the test cms message");
	out->data = malloc((size_t)n + 1);
	assert_non_null(out->data);
	memcpy(out->data, der, (size_t)n);
	out->len = (size_t)n;
	OPENSSL_free(der);
	CMS_ContentInfo_free(cms);
	BIO_free(in);
	return 0;
}

/*
 * CMS SignedData: sign with RSA and EC, parse (content, signer), verify; a
 * flipped byte anywhere fails parse or verify; every truncation fails;
 * detached, certificate-less, two-signer messages, one without the
 * signing-certificate attribute and trailing bytes are refused; a key that does not match the certificate is refused.
 */
static void test_cms(void **state)
{
	time_t now = time(NULL);
	struct hl_cert_spec spec = spec_for("Template Signer", now, -60, DAY);
	struct hl_buf der = { NULL, 0 }, content = { NULL, 0 }, raw = { NULL, 0 };
	X509 *rcert = NULL, *ecert = NULL, *signer = NULL;
	EVP_PKEY *keys[2] = { rsa_a, ec_a };
	X509 **certs[2] = { &rcert, &ecert };
	size_t i, k;

	(void)state;
	assert_int_equal(hl_cert_issue_self_signed(&spec, rsa_a, &rcert), 0);
	assert_int_equal(hl_cert_issue_self_signed(&spec, ec_a, &ecert), 0);
	for (k = 0; k < 2; k++) {
		assert_int_equal(hl_cms_sign(*certs[k], keys[k], "{\"a\":1}", 7, &der), 0);
		assert_int_equal(hl_cms_parse(der.data, der.len, 64, &content, &signer), 0);
		assert_int_equal(content.len, 7);
		assert_memory_equal(content.data, "{\"a\":1}", 7);
		assert_int_equal(X509_cmp(signer, *certs[k]), 0);
		hl_cert_free(signer);
		hl_buf_free(&content);
		assert_int_equal(hl_cms_verify(der.data, der.len), 0);
		assert_int_equal(hl_cms_parse(der.data, der.len, 6, &content, &signer), -1);
		assert_error_has("more than the 6 allowed");
		assert_null(signer);
		for (i = 0; i < der.len; i++) {
			der.data[i] ^= 0x01;
			if (hl_cms_parse(der.data, der.len, 64, &content, &signer) == 0) {
				hl_buf_free(&content);
				hl_cert_free(signer);
				if (hl_cms_verify(der.data, der.len) == 0)
					fail_msg("cms with byte %zu flipped verifies", i);
			}
			der.data[i] ^= 0x01;
		}
		for (i = 0; i < der.len; i++) {
			assert_int_equal(hl_cms_parse(der.data, i, 64, &content, &signer), -1);
			assert_int_equal(hl_cms_verify(der.data, i), -1);
		}
		hl_buf_free(&der);
	}
	assert_int_equal(hl_cms_sign(rcert, rsa_b, "x", 1, &der), -1);
	assert_error_has("does the key match");
	assert_null(der.data);

	raw_cms(rcert, rsa_a, NULL, NULL, CMS_DETACHED, &raw);
	assert_int_equal(hl_cms_parse(raw.data, raw.len, 64, &content, &signer), -1);
	assert_error_has("detached");
	hl_buf_free(&raw);
	raw_cms(rcert, rsa_a, NULL, NULL, CMS_NOCERTS, &raw);
	assert_int_equal(hl_cms_parse(raw.data, raw.len, 64, &content, &signer), -1);
	assert_error_has("does not include its signer's certificate");
	hl_buf_free(&raw);
	raw_cms(rcert, rsa_a, ecert, ec_a, 0, &raw);
	assert_int_equal(hl_cms_parse(raw.data, raw.len, 64, &content, &signer), -1);
	assert_error_has("2 signers");
	hl_buf_free(&raw);
	raw_cms(rcert, rsa_a, NULL, NULL, 0, &raw);
	assert_int_equal(hl_cms_parse(raw.data, raw.len, 64, &content, &signer), -1);
	assert_error_has("lack the signing certificate");
	hl_buf_free(&raw);
	raw_cms(rcert, rsa_a, NULL, NULL, CMS_CADES | CMS_NOSMIMECAP, &raw);
	assert_int_equal(hl_cms_verify(raw.data, raw.len), 0);
	raw.data = realloc(raw.data, raw.len + 2);
	raw.data[raw.len++] = 0;
	assert_int_equal(hl_cms_parse(raw.data, raw.len, 64, &content, &signer), -1);
	assert_error_has("1 bytes follow");
	hl_buf_free(&raw);
	assert_int_equal(hl_cms_parse("garbage", 7, 64, &content, &signer), -1);
	assert_error_has("not a CMS signed message");
	hl_cert_free(rcert);
	hl_cert_free(ecert);
}

/* Run the crypto tests with the shared keys. */
int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buf_and_helpers),
		cmocka_unit_test(test_random_public),
		cmocka_unit_test(test_digests),
		cmocka_unit_test(test_encodings),
		cmocka_unit_test(test_key_roundtrip),
		cmocka_unit_test(test_key_rsa3072),
		cmocka_unit_test(test_key_garbage),
		cmocka_unit_test(test_key_load_file),
		cmocka_unit_test(test_key_from_raw),
		cmocka_unit_test(test_sign_verify),
		cmocka_unit_test(test_verifier),
		cmocka_unit_test(test_sign_interop),
		cmocka_unit_test(test_ecdsa_rs),
		cmocka_unit_test(test_oaep),
		cmocka_unit_test(test_gcm),
		cmocka_unit_test(test_cert_issue_verify),
		cmocka_unit_test(test_cert_wrong_ca),
		cmocka_unit_test(test_cert_validity),
		cmocka_unit_test(test_cert_chain),
		cmocka_unit_test(test_cert_verify_bundle),
		cmocka_unit_test(test_cert_custom_ext),
		cmocka_unit_test(test_cert_template),
		cmocka_unit_test(test_cert_template_rsa_ca),
		cmocka_unit_test(test_cert_garbage),
		cmocka_unit_test(test_codec_messages),
		cmocka_unit_test(test_sha256_incremental),
		cmocka_unit_test(test_hex_is),
		cmocka_unit_test(test_hkdf),
		cmocka_unit_test(test_hmac),
		cmocka_unit_test(test_cms),
	};
	return cmocka_run_group_tests_name("crypto", tests, group_setup, group_teardown);
}
