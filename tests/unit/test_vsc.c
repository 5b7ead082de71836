/*
 * test_vsc.c - unit tests for proto/vsc: the version table (parse, format,
 * compare), template names, a VSC round trip with an RSA and an EC signer
 * (parse, verify, signer thumbprint, image check), every malformed content
 * field refused by name, another version, a flipped byte anywhere in a VSC
 * (never verifies), every truncation (never parses, never crashes), a flipped
 * byte anywhere in an image (the image check fails), and a VSC whose
 * signature is another signer's.
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

#include "lib/crypto.h"
#include "lib/json.h"
#include "proto/vsc.h"
#include "tests/unit/testutil.h"

/* A signer: a key and its self-signed certificate. */
struct signer {
	EVP_PKEY *key;
	X509 *cert;
	char thumb[HL_SHA256_HEX_SIZE];
};

static struct signer rsa, ec, other;

/* Make signer S of key TYPE named CN. */
static int make_signer(struct signer *s, enum hl_key_type type, const char *cn)
{
	struct hl_cert_spec spec = { 0 };
	time_t now = time(NULL);

	spec.cn = cn;
	spec.not_before = now - 60;
	spec.not_after = now + 86400;
	spec.path_len = -1;
	spec.key_usage = HL_KU_DIGITAL_SIGNATURE;
	if (hl_key_generate(type, &s->key) < 0 || hl_cert_issue_self_signed(&spec, s->key,
									   &s->cert) < 0)
		return -1;
	return hl_cert_thumbprint(s->cert, s->thumb);
}

/* Keys for the group. */
static int group_setup(void **state)
{
	(void)state;
	if (make_signer(&rsa, HL_KEY_RSA2048, "Template Signer") < 0 ||
	    make_signer(&ec, HL_KEY_EC_P256, "EC Template Signer") < 0 ||
	    make_signer(&other, HL_KEY_RSA2048, "Mallory") < 0) {
		fprintf(stderr, "setup: %s\n", hl_error_last());
		return -1;
	}
	return 0;
}

/* Free them. */
static int group_teardown(void **state)
{
	struct signer *all[] = { &rsa, &ec, &other };
	size_t i;

	(void)state;
	for (i = 0; i < 3; i++) {
		hl_key_free(all[i]->key);
		hl_cert_free(all[i]->cert);
	}
	return 0;
}

/* A spec for template NAME VERSION over IMAGE (LEN bytes). */
static struct hl_vsc_spec spec_of(const char *name, const char *version, const void *image,
				  size_t len)
{
	struct hl_vsc_spec s;

	memset(&s, 0, sizeof(s));
	s.name = name;
	assert_int_equal(hl_vsc_version_parse(version, &s.version), 0);
	assert_int_equal(hl_crypto_sha256(image, len, s.disk_sha256), 0);
	s.disk_bytes = len;
	s.signed_at = 1795000000;
	return s;
}

/* Versions: valid forms, refusals with their reasons, formatting, order. */
static void test_versions(void **state)
{
	static const struct { const char *text; const char *err; } bad[] = {
		{ "", "give four numbers" }, { "1.0.0", "give four numbers" },
		{ "1.0.0.0.0", "give four numbers" }, { "1.0.0.", "part 4 is not a number" },
		{ ".1.0.0", "part 1 is not a number" }, { "1..0.0", "part 2 is not a number" },
		{ "01.0.0.0", "part 1 has a leading zero" }, { "1.0.0.65536", "part 4 is over 65535" },
		{ "1.0.0.999999", "part 4 is over 65535" }, { "1.0.0.0 ", "give four numbers" },
		{ "-1.0.0.0", "part 1 is not a number" }, { "1.0.0.a", "part 4 is not a number" },
		{ "1,0,0,0", "give four numbers" }, { "+1.0.0.0", "part 1 is not a number" },
	};
	static const struct { const char *a, *b; int cmp; } order[] = {
		{ "1.0.0.0", "1.0.0.0", 0 }, { "1.0.0.0", "1.0.0.1", -1 },
		{ "2.0.0.0", "1.65535.65535.65535", 1 }, { "1.10.0.0", "1.9.0.0", 1 },
		{ "0.0.0.0", "0.0.0.1", -1 }, { "65535.65535.65535.65535", "65535.65535.65535.65534", 1 },
	};
	struct hl_vsc_version a, b;
	char text[HL_VSC_VERSION_SIZE];
	size_t i;

	(void)state;
	assert_int_equal(hl_vsc_version_parse("65535.0.10.7", &a), 0);
	assert_int_equal(a.part[0], 65535);
	assert_int_equal(a.part[3], 7);
	hl_vsc_version_format(&a, text);
	assert_string_equal(text, "65535.0.10.7");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (hl_vsc_version_parse(bad[i].text, &a) != -1)
			fail_msg("version '%s' was accepted", bad[i].text);
		assert_error_has(bad[i].err);
	}
	assert_int_equal(hl_vsc_version_parse(NULL, &a), -1);
	for (i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		int c;

		assert_int_equal(hl_vsc_version_parse(order[i].a, &a), 0);
		assert_int_equal(hl_vsc_version_parse(order[i].b, &b), 0);
		c = hl_vsc_version_cmp(&a, &b);
		assert_int_equal(c < 0 ? -1 : c > 0, order[i].cmp);
		c = hl_vsc_version_cmp(&b, &a);
		assert_int_equal(c < 0 ? -1 : c > 0, -order[i].cmp);
	}
}

/* Template names. */
static void test_names(void **state)
{
	char longname[HL_VSC_NAME_SIZE + 1];

	(void)state;
	assert_int_equal(hl_vsc_name_check("WindowsServer2016"), 0);
	assert_int_equal(hl_vsc_name_check("Windows Server 2016 (Datacenter)"), 0);
	assert_int_equal(hl_vsc_name_check(""), -1);
	assert_error_has("empty");
	assert_int_equal(hl_vsc_name_check(NULL), -1);
	assert_int_equal(hl_vsc_name_check(" x"), -1);
	assert_error_has("leading or trailing space");
	assert_int_equal(hl_vsc_name_check("a\tb"), -1);
	assert_error_has("not printable");
	assert_int_equal(hl_vsc_name_check("caf\xc3\xa9"), -1);
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	assert_int_equal(hl_vsc_name_check(longname), -1);
	assert_error_has("too long");
	longname[HL_VSC_NAME_SIZE - 1] = '\0';
	assert_int_equal(hl_vsc_name_check(longname), 0);
}

/* Sign, parse, verify with RSA and EC; the content as documented; the image check. */
static void test_roundtrip(void **state)
{
	struct signer *signers[] = { &rsa, &ec };
	unsigned char image[8192];
	struct hl_buf der = { NULL, 0 };
	struct hl_vsc_spec spec;
	struct hl_vsc *vsc = NULL;
	json_t *content = NULL;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(image); i++)
		image[i] = (unsigned char)(i * 7);
	for (i = 0; i < 2; i++) {
		spec = spec_of("WindowsServer2016", "1.2.3.4", image, sizeof(image));
		assert_ok(hl_vsc_sign(&spec, signers[i]->cert, signers[i]->key, &der));
		assert_ok(hl_vsc_parse(der.data, der.len, &vsc));
		assert_ok(hl_vsc_verify(vsc));
		assert_string_equal(vsc->name, "WindowsServer2016");
		assert_string_equal(vsc->disk_version_text, "1.2.3.4");
		assert_int_equal(vsc->disk_bytes, sizeof(image));
		assert_memory_equal(vsc->disk_sha256, spec.disk_sha256, HL_SHA256_LEN);
		assert_string_equal(vsc->signed_at, "2026-11-18T11:06:40Z");
		assert_string_equal(vsc->signer_thumbprint, signers[i]->thumb);
		assert_int_equal(X509_cmp(vsc->signer, signers[i]->cert), 0);
		assert_int_equal(vsc->der.len, der.len);
		assert_ok(hl_json_parse(vsc->content.data, vsc->content.len, 0, &content));
		assert_string_equal(json_string_value(json_object_get(content, "format")),
				    "hgslab-vsc");
		assert_int_equal(json_integer_value(json_object_get(content, "version")), 1);
		assert_int_equal(json_object_size(content), 7);
		assert_int_equal(strlen(json_string_value(json_object_get(content, "disk_sha256"))),
				 64);
		json_decref(content);
		assert_ok(hl_vsc_check_image(vsc, spec.disk_sha256, sizeof(image)));
		assert_int_equal(hl_vsc_check_image(vsc, spec.disk_sha256, sizeof(image) + 4096), -1);
		assert_error_has("changed after it was signed: its image is 12288 bytes");
		hl_vsc_free(vsc);
		vsc = NULL;
		hl_buf_free(&der);
	}
	/* writer refusals */
	spec = spec_of("WindowsServer2016", "1.0.0.0", image, sizeof(image));
	spec.disk_bytes = 4095;
	assert_int_equal(hl_vsc_sign(&spec, rsa.cert, rsa.key, &der), -1);
	assert_error_has("multiple of 4096");
	spec.disk_bytes = 0;
	assert_int_equal(hl_vsc_sign(&spec, rsa.cert, rsa.key, &der), -1);
	spec.disk_bytes = 4096;
	spec.name = "";
	assert_int_equal(hl_vsc_sign(&spec, rsa.cert, rsa.key, &der), -1);
	assert_error_has("template name is empty");
	spec.name = "T";
	assert_int_equal(hl_vsc_sign(&spec, rsa.cert, other.key, &der), -1);
	assert_error_has("does the key match");
	assert_null(der.data);
	hl_vsc_free(NULL);
}

/* A VSC whose content is TEXT, signed by the RSA signer; parse must fail with ERR. */
static void expect_content_refused(const char *text, const char *err)
{
	struct hl_buf der = { NULL, 0 };
	struct hl_vsc *vsc = NULL;

	assert_ok(hl_cms_sign(rsa.cert, rsa.key, text, strlen(text), &der));
	if (hl_vsc_parse(der.data, der.len, &vsc) != -1)
		fail_msg("content %s was accepted", text);
	assert_null(vsc);
	if (!tu_error_has(err))
		fail_msg("content %s: error lacks '%s'", text, err);
	hl_buf_free(&der);
}

#define SHA "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define HEAD "{\"format\":\"hgslab-vsc\",\"version\":1,"

/* Every content field malformed in turn, and other versions and formats. */
static void test_content_refused(void **state)
{
	(void)state;
	expect_content_refused(HEAD "\"name\":\"T\",\"disk_version\":\"1.0.0.0\",\"disk_sha256\":\""
			       SHA "\",\"disk_bytes\":4096}", "lacks field 'signed_at'");
	expect_content_refused(HEAD "\"name\":\"T\",\"disk_version\":\"1.0.0.0\",\"disk_sha256\":\""
			       SHA "\",\"disk_bytes\":4096,\"signed_at\":\"2026-01-01T00:00:00Z\","
			       "\"x\":1}", "unknown field 'x'");
	expect_content_refused("{\"format\":\"hgslab-kp\",\"version\":1}", "not an hgslab volume");
	expect_content_refused("{\"version\":1}", "field 'format'");
	expect_content_refused("{\"format\":\"hgslab-vsc\",\"version\":2}",
			       "volume signature catalog version 2 is not supported");
	expect_content_refused("{\"format\":\"hgslab-vsc\",\"version\":\"1\"}", "must be an integer");
	expect_content_refused("[1,2]", "not a JSON object");
	expect_content_refused("{\"format\":", "bad JSON");
	expect_content_refused(HEAD "\"name\":\"\",\"disk_version\":\"1.0.0.0\",\"disk_sha256\":\""
			       SHA "\",\"disk_bytes\":4096,\"signed_at\":\"2026-01-01T00:00:00Z\"}",
			       "template name is empty");
	expect_content_refused(HEAD "\"name\":7,\"disk_version\":\"1.0.0.0\",\"disk_sha256\":\""
			       SHA "\",\"disk_bytes\":4096,\"signed_at\":\"2026-01-01T00:00:00Z\"}",
			       "field 'name' must be a string");
	expect_content_refused(HEAD "\"name\":\"T\",\"disk_version\":\"1.0.0\",\"disk_sha256\":\""
			       SHA "\",\"disk_bytes\":4096,\"signed_at\":\"2026-01-01T00:00:00Z\"}",
			       "field 'disk_version': bad version");
	expect_content_refused(HEAD "\"name\":\"T\",\"disk_version\":\"1.0.0.0\",\"disk_sha256\":\""
			       "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef\","
			       "\"disk_bytes\":4096,\"signed_at\":\"2026-01-01T00:00:00Z\"}",
			       "64 lowercase hex");
	expect_content_refused(HEAD "\"name\":\"T\",\"disk_version\":\"1.0.0.0\",\"disk_sha256\":\""
			       "abc\",\"disk_bytes\":4096,\"signed_at\":\"2026-01-01T00:00:00Z\"}",
			       "64 lowercase hex");
	expect_content_refused(HEAD "\"name\":\"T\",\"disk_version\":\"1.0.0.0\",\"disk_sha256\":\""
			       SHA "\",\"disk_bytes\":4097,\"signed_at\":\"2026-01-01T00:00:00Z\"}",
			       "field 'disk_bytes' is 4097");
	expect_content_refused(HEAD "\"name\":\"T\",\"disk_version\":\"1.0.0.0\",\"disk_sha256\":\""
			       SHA "\",\"disk_bytes\":-4096,\"signed_at\":\"2026-01-01T00:00:00Z\"}",
			       "field 'disk_bytes' is -4096");
	expect_content_refused(HEAD "\"name\":\"T\",\"disk_version\":\"1.0.0.0\",\"disk_sha256\":\""
			       SHA "\",\"disk_bytes\":0,\"signed_at\":\"2026-01-01T00:00:00Z\"}",
			       "field 'disk_bytes' is 0");
	expect_content_refused(HEAD "\"name\":\"T\",\"disk_version\":\"1.0.0.0\",\"disk_sha256\":\""
			       SHA "\",\"disk_bytes\":2199023259648,\"signed_at\":"
			       "\"2026-01-01T00:00:00Z\"}", "at most");
	expect_content_refused(HEAD "\"name\":\"T\",\"disk_version\":\"1.0.0.0\",\"disk_sha256\":\""
			       SHA "\",\"disk_bytes\":4096,\"signed_at\":\"yesterday\"}",
			       "field 'signed_at' must look like");
	expect_content_refused(HEAD "\"name\":\"T\",\"disk_version\":\"1.0.0.0\",\"disk_sha256\":\""
			       SHA "\",\"disk_bytes\":4096,\"signed_at\":\"2026-13-45T00:00:00Z\"}",
			       "not a valid time");
}

/* A flipped byte anywhere never verifies; every truncation never parses. */
static void test_tampering(void **state)
{
	unsigned char image[4096] = { 1, 2, 3 };
	struct hl_buf der = { NULL, 0 };
	struct hl_vsc_spec spec = spec_of("T", "1.0.0.0", image, sizeof(image));
	struct hl_vsc *vsc = NULL;
	size_t i;
	int bit;

	(void)state;
	assert_ok(hl_vsc_sign(&spec, ec.cert, ec.key, &der));
	for (i = 0; i < der.len; i++) {
		for (bit = 0; bit < 8; bit += 7) {
			der.data[i] ^= (unsigned char)(1u << bit);
			if (hl_vsc_parse(der.data, der.len, &vsc) == 0) {
				if (hl_vsc_verify(vsc) == 0)
					fail_msg("a VSC with byte %zu bit %d flipped verifies", i,
						 bit);
				assert_error_has("does not verify");
				hl_vsc_free(vsc);
				vsc = NULL;
			}
			der.data[i] ^= (unsigned char)(1u << bit);
		}
	}
	for (i = 0; i < der.len; i++) {
		unsigned char *copy = malloc(i + 1);

		assert_non_null(copy);
		memcpy(copy, der.data, i);
		assert_int_equal(hl_vsc_parse(copy, i, &vsc), -1);
		assert_null(vsc);
		free(copy);
	}
	assert_int_equal(hl_vsc_parse(der.data, 0, &vsc), -1);
	assert_error_has("empty");
	assert_int_equal(hl_vsc_parse(der.data, HL_VSC_MAX_SIZE + 1, &vsc), -1);
	assert_error_has("larger than");
	assert_int_equal(hl_vsc_parse("{\"format\":\"hgslab-vsc\"}", 23, &vsc), -1);
	assert_error_has("bad volume signature catalog: not a CMS signed message");
	hl_buf_free(&der);
}

/* A flipped byte anywhere in an image fails the image check. */
static void test_image_flips(void **state)
{
	unsigned char image[3 * 4096], md[HL_SHA256_LEN];
	struct hl_buf der = { NULL, 0 };
	struct hl_vsc_spec spec;
	struct hl_vsc *vsc = NULL;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(image); i++)
		image[i] = (unsigned char)(i ^ (i >> 8));
	spec = spec_of("T", "1.0.0.0", image, sizeof(image));
	assert_ok(hl_vsc_sign(&spec, rsa.cert, rsa.key, &der));
	assert_ok(hl_vsc_parse(der.data, der.len, &vsc));
	for (i = 0; i < sizeof(image); i++) {
		image[i] ^= 0x80;
		assert_ok(hl_crypto_sha256(image, sizeof(image), md));
		if (hl_vsc_check_image(vsc, md, sizeof(image)) != -1)
			fail_msg("image with byte %zu flipped passes the check", i);
		image[i] ^= 0x80;
	}
	assert_error_has("template 'T' changed after it was signed: its image's SHA-256 is ");
	assert_ok(hl_crypto_sha256(image, sizeof(image), md));
	assert_ok(hl_vsc_check_image(vsc, md, sizeof(image)));
	hl_vsc_free(vsc);
	hl_buf_free(&der);
}

/* Another signer's VSC parses and verifies, with its own thumbprint (trust is the caller's). */
static void test_other_signer(void **state)
{
	unsigned char image[4096] = { 0 };
	struct hl_buf der = { NULL, 0 };
	struct hl_vsc_spec spec = spec_of("T", "1.0.0.0", image, sizeof(image));
	struct hl_vsc *vsc = NULL;

	(void)state;
	assert_ok(hl_vsc_sign(&spec, other.cert, other.key, &der));
	assert_ok(hl_vsc_parse(der.data, der.len, &vsc));
	assert_ok(hl_vsc_verify(vsc));
	assert_string_equal(vsc->signer_thumbprint, other.thumb);
	assert_string_not_equal(vsc->signer_thumbprint, rsa.thumb);
	hl_vsc_free(vsc);
	hl_buf_free(&der);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_versions),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_content_refused),
		cmocka_unit_test(test_tampering),
		cmocka_unit_test(test_image_flips),
		cmocka_unit_test(test_other_signer),
	};
	return cmocka_run_group_tests_name("vsc", tests, group_setup, group_teardown);
}
