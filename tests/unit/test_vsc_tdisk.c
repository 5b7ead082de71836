/*
 * test_vsc_tdisk.c - unit tests for proto/vsc_tdisk: a protected template
 * built in memory (image + trailer) read back the way the host and the guest
 * read one (footer, trailer, VSC, signature, image hash); the footer's layout
 * byte for byte; every footer field malformed; non-zero padding; a file cut
 * or grown; every prefix of a protected template refused; and one flipped
 * byte anywhere in the file (image or trailer) failing the whole check.
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
#include "lib/endian.h"
#include "proto/vsc.h"
#include "proto/vsc_tdisk.h"
#include "tests/unit/testutil.h"

#define IMAGE 4096

static EVP_PKEY *key;
static X509 *cert;
static unsigned char *file;   /* image + trailer */
static size_t file_len;

/* A signer and one protected template file for the group. */
static int group_setup(void **state)
{
	struct hl_cert_spec spec = { 0 };
	struct hl_vsc_spec vs = { 0 };
	struct hl_buf der = { NULL, 0 }, trailer = { NULL, 0 };
	time_t now = time(NULL);
	size_t i;

	(void)state;
	spec.cn = "Template Signer";
	spec.not_before = now - 60;
	spec.not_after = now + 86400;
	spec.path_len = -1;
	if (hl_key_generate(HL_KEY_EC_P256, &key) < 0 ||
	    hl_cert_issue_self_signed(&spec, key, &cert) < 0)
		return -1;
	file = malloc(IMAGE + HL_TDISK_TRAILER_MAX);
	if (!file)
		return -1;
	for (i = 0; i < IMAGE; i++)
		file[i] = (unsigned char)(i * 13 + 5);
	vs.name = "WindowsServer2016";
	vs.disk_bytes = IMAGE;
	vs.signed_at = now;
	if (hl_vsc_version_parse("1.0.0.0", &vs.version) < 0 ||
	    hl_crypto_sha256(file, IMAGE, vs.disk_sha256) < 0 ||
	    hl_vsc_sign(&vs, cert, key, &der) < 0 ||
	    hl_tdisk_trailer_build(IMAGE, der.data, der.len, &trailer) < 0) {
		fprintf(stderr, "setup: %s\n", hl_error_last());
		return -1;
	}
	memcpy(file + IMAGE, trailer.data, trailer.len);
	file_len = IMAGE + trailer.len;
	hl_buf_free(&der);
	hl_buf_free(&trailer);
	return 0;
}

/* Free them. */
static int group_teardown(void **state)
{
	(void)state;
	hl_key_free(key);
	hl_cert_free(cert);
	free(file);
	return 0;
}

/*
 * Read F (LEN bytes) as a protected template the way readers do: footer,
 * trailer, VSC parse and signature, image hash.  0 when all hold.
 */
static int full_check(const unsigned char *f, size_t len)
{
	struct hl_tdisk_layout l;
	const unsigned char *vsc_bytes;
	unsigned char md[HL_SHA256_LEN];
	struct hl_vsc *vsc = NULL;
	size_t tail = len < 512 ? len : 512;
	int rc = -1;

	if (hl_tdisk_footer_parse(f + len - tail, tail, len, &l) < 0 ||
	    hl_tdisk_trailer_check(f + l.image_bytes, len - (size_t)l.image_bytes, &l,
				   &vsc_bytes) < 0 ||
	    hl_vsc_parse(vsc_bytes, (size_t)l.vsc_length, &vsc) < 0 || hl_vsc_verify(vsc) < 0 ||
	    hl_crypto_sha256(f, (size_t)l.image_bytes, md) < 0 ||
	    hl_vsc_check_image(vsc, md, l.image_bytes) < 0)
		goto out;
	rc = 0;
out:
	hl_vsc_free(vsc);
	return rc;
}

/* The file reads back; the footer is laid out as documented. */
static void test_roundtrip(void **state)
{
	const unsigned char *foot = file + file_len - 512, *vsc_bytes;
	struct hl_tdisk_layout l;
	size_t i;

	(void)state;
	assert_ok(full_check(file, file_len));
	assert_int_equal(file_len % 512, 0);
	assert_true(hl_tdisk_has_footer(file, file_len));
	assert_false(hl_tdisk_has_footer(file, IMAGE));
	assert_false(hl_tdisk_has_footer(file, 100));
	assert_memory_equal(foot, "HGSLAB-TDISK-V1\0", 16);
	assert_int_equal(hl_get_le64(foot + 16), IMAGE);
	assert_int_equal(hl_get_le64(foot + 24), IMAGE);
	for (i = 40; i < 512; i++)
		assert_int_equal(foot[i], 0);
	assert_ok(hl_tdisk_footer_parse(foot, 512, file_len, &l));
	assert_int_equal(l.image_bytes, IMAGE);
	assert_int_equal(l.vsc_offset, IMAGE);
	assert_int_equal(l.vsc_length, hl_get_le64(foot + 32));
	assert_int_equal(l.trailer_bytes, file_len - IMAGE);
	assert_ok(hl_tdisk_trailer_check(file + IMAGE, file_len - IMAGE, &l, &vsc_bytes));
	assert_ptr_equal(vsc_bytes, file + IMAGE);
	assert_int_equal(vsc_bytes[0], 0x30);
	/* the whole file may be handed in as the tail, too */
	assert_ok(hl_tdisk_footer_parse(file, file_len, file_len, &l));
}

/* Parse FOOT (a modified copy of the footer) for a file of LEN bytes: must fail with ERR. */
static void expect_footer_refused(const unsigned char *foot, uint64_t len, const char *err)
{
	struct hl_tdisk_layout l;

	assert_int_equal(hl_tdisk_footer_parse(foot, 512, len, &l), -1);
	assert_error_has(err);
	assert_int_equal(l.image_bytes, 0);
}

/* Every footer field malformed in turn. */
static void test_footer_refused(void **state)
{
	unsigned char foot[512];
	uint64_t vlen;

	(void)state;
	memcpy(foot, file + file_len - 512, 512);
	vlen = hl_get_le64(foot + 32);
	foot[3] ^= 1;
	expect_footer_refused(foot, file_len, "not a protected template disk");
	foot[3] ^= 1;
	foot[15] = 'x';
	expect_footer_refused(foot, file_len, "not a protected template disk");
	foot[15] = 0;
	hl_put_le64(foot + 16, 0);
	expect_footer_refused(foot, file_len, "image_bytes 0");
	hl_put_le64(foot + 16, IMAGE + 512);
	expect_footer_refused(foot, file_len, "image_bytes 4608");
	hl_put_le64(foot + 16, (uint64_t)1 << 41);
	expect_footer_refused(foot, file_len, "at most");
	hl_put_le64(foot + 16, IMAGE);
	hl_put_le64(foot + 24, IMAGE + 4096);
	expect_footer_refused(foot, file_len, "vsc_offset 8192 is not image_bytes 4096");
	hl_put_le64(foot + 24, IMAGE);
	hl_put_le64(foot + 32, 0);
	expect_footer_refused(foot, file_len, "vsc_length 0");
	hl_put_le64(foot + 32, HL_VSC_MAX_SIZE + 1);
	expect_footer_refused(foot, file_len, "vsc_length 65537");
	hl_put_le64(foot + 32, UINT64_MAX);
	expect_footer_refused(foot, file_len, "vsc_length");
	hl_put_le64(foot + 32, vlen);
	expect_footer_refused(foot, file_len + 512, "cut or grown");
	expect_footer_refused(foot, file_len - 512, "cut or grown");
	expect_footer_refused(foot, file_len + 1, "cut or grown");
	foot[40] = 1;
	expect_footer_refused(foot, file_len, "byte 40 is not zero");
	foot[40] = 0;
	foot[511] = 0xff;
	expect_footer_refused(foot, file_len, "byte 511 is not zero");
	foot[511] = 0;
	expect_footer_refused(foot, 100, "too small");
}

/* Trailer checks: padding, a length that does not fit, and the writer's refusals. */
static void test_trailer_refused(void **state)
{
	struct hl_tdisk_layout l;
	struct hl_buf t = { NULL, 0 };
	const unsigned char *v;
	unsigned char *copy;

	(void)state;
	assert_ok(hl_tdisk_footer_parse(file + file_len - 512, 512, file_len, &l));
	copy = malloc(l.trailer_bytes);
	assert_non_null(copy);
	memcpy(copy, file + IMAGE, l.trailer_bytes);
	if (l.vsc_length % 512 != 0) {
		copy[l.vsc_length] = 7;
		assert_int_equal(hl_tdisk_trailer_check(copy, l.trailer_bytes, &l, &v), -1);
		assert_error_has("padding byte 0 after the signature catalog is not zero");
		assert_null(v);
		copy[l.vsc_length] = 0;
	}
	assert_int_equal(hl_tdisk_trailer_check(copy, l.trailer_bytes - 1, &l, &v), -1);
	assert_error_has("where the footer says");
	copy[l.trailer_bytes - 1] = 1;
	assert_int_equal(hl_tdisk_trailer_check(copy, l.trailer_bytes, &l, &v), -1);
	free(copy);
	assert_int_equal(hl_tdisk_trailer_build(IMAGE + 1, "x", 1, &t), -1);
	assert_error_has("multiple of 4096");
	assert_int_equal(hl_tdisk_trailer_build(0, "x", 1, &t), -1);
	assert_int_equal(hl_tdisk_trailer_build(IMAGE, "x", 0, &t), -1);
	assert_int_equal(hl_tdisk_trailer_build(IMAGE, "x", HL_VSC_MAX_SIZE + 1, &t), -1);
	assert_null(t.data);
	assert_ok(hl_tdisk_trailer_build(IMAGE, "x", 1, &t));
	assert_int_equal(t.len, 1024);
	hl_buf_free(&t);
	assert_ok(hl_tdisk_trailer_build(IMAGE, file, 512, &t));
	assert_int_equal(t.len, 1024);
	hl_buf_free(&t);
}

/* Every prefix of the file is refused (never a crash). */
static void test_truncations(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < file_len; i++) {
		unsigned char *copy = malloc(i + 1);

		assert_non_null(copy);
		memcpy(copy, file, i);
		if (full_check(copy, i) == 0)
			fail_msg("a template cut to %zu bytes passes", i);
		free(copy);
	}
}

/* One flipped byte anywhere in the file fails the whole check. */
static void test_flips(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < file_len; i++) {
		file[i] ^= 0x04;
		if (full_check(file, file_len) == 0)
			fail_msg("a template with byte %zu flipped passes", i);
		file[i] ^= 0x04;
	}
	assert_ok(full_check(file, file_len));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_footer_refused),
		cmocka_unit_test(test_trailer_refused),
		cmocka_unit_test(test_truncations),
		cmocka_unit_test(test_flips),
	};
	return cmocka_run_group_tests_name("vsc_tdisk", tests, group_setup, group_teardown);
}
