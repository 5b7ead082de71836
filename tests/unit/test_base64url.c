/*
 * test_base64url.c - unit tests for lib/base64url: the RFC 4648 test vectors
 * (section 10) in the URL-safe alphabet without padding (section 5), the
 * two characters that differ from standard base64, round trips of every
 * length and byte, and the strict decoder's refusals (impossible lengths,
 * characters outside the alphabet, padding, non-zero unused bits), each
 * with a message that names the text.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "lib/base64url.h"
#include "lib/crypto.h"
#include "lib/err.h"

/* Encode LEN bytes of DATA and compare with WANT; decode WANT back to DATA. */
static void check_vector(const void *data, size_t len, const char *want)
{
	struct hl_buf b = { 0 };
	char *s = NULL;

	assert_int_equal(hl_base64url_encode(data, len, &s), 0);
	assert_string_equal(s, want);
	assert_int_equal(hl_base64url_decode(want, strlen(want), "vector", &b), 0);
	assert_int_equal(b.len, len);
	if (len)
		assert_memory_equal(b.data, data, len);
	assert_int_equal(((const char *)b.data)[b.len], '\0');
	hl_buf_free(&b);
	free(s);
}

/* RFC 4648 section 10, without the padding. */
static void test_rfc4648_vectors(void **state)
{
	static const struct { const char *in, *out; } v[] = {
		{ "", "" },         { "f", "Zg" },         { "fo", "Zm8" },
		{ "foo", "Zm9v" },  { "foob", "Zm9vYg" },  { "fooba", "Zm9vYmE" },
		{ "foobar", "Zm9vYmFy" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		check_vector(v[i].in, strlen(v[i].in), v[i].out);
}

/* The URL-safe alphabet: '-' and '_' where standard base64 has '+' and '/'. */
static void test_url_alphabet(void **state)
{
	static const unsigned char plus[] = { 0xfb, 0xef, 0xbe }, slash[] = { 0xff, 0xff, 0xff },
				   mixed[] = { 0xfb, 0xff }, zero[] = { 0, 0, 0, 0 };
	struct hl_buf b = { 0 };

	(void)state;
	check_vector(plus, sizeof(plus), "----");
	check_vector(slash, sizeof(slash), "____");
	check_vector(mixed, sizeof(mixed), "-_8");
	check_vector(zero, sizeof(zero), "AAAAAA");
	/* the standard alphabet's two characters are not base64url */
	assert_int_equal(hl_base64url_decode("++++", 4, "x", &b), -1);
	assert_int_equal(hl_base64url_decode("////", 4, "x", &b), -1);
	assert_null(b.data);
}

/* Every byte value and every length up to 100 survives a round trip. */
static void test_round_trip(void **state)
{
	unsigned char data[256];
	struct hl_buf b = { 0 };
	char *s = NULL;

	(void)state;
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (unsigned char)i;
	for (size_t len = 0; len <= 100; len++) {
		const unsigned char *p = data + (len * 37) % (sizeof(data) - 100);

		assert_int_equal(hl_base64url_encode(p, len, &s), 0);
		assert_int_equal(strlen(s), (len * 4 + 2) / 3);
		assert_null(strpbrk(s, "+/="));
		assert_int_equal(hl_base64url_decode(s, strlen(s), "x", &b), 0);
		assert_int_equal(b.len, len);
		if (len)
			assert_memory_equal(b.data, p, len);
		hl_buf_free(&b);
		free(s);
	}
	assert_int_equal(hl_base64url_encode(data, sizeof(data), &s), 0);
	assert_int_equal(hl_base64url_decode(s, strlen(s), "x", &b), 0);
	assert_int_equal(b.len, sizeof(data));
	assert_memory_equal(b.data, data, sizeof(data));
	hl_buf_free(&b);
	free(s);
}

/* Strict decoding: each refusal says why and names the text; nothing is returned. */
static void test_refusals(void **state)
{
	static const struct { const char *text; size_t len; const char *why; } bad[] = {
		{ "A", 1, "length 1 is impossible" },
		{ "Zm9vY", 5, "length 5 is impossible" },
		{ "Zg==", 4, "character 3 is not in" },          /* padding */
		{ "Zg=", 3, "character 3 is not in" },
		{ "Zm 9", 4, "character 3 is not in" },
		{ "Zm9\n", 4, "character 4 is not in" },
		{ "Zm+v", 4, "character 3 is not in" },
		{ "Zm9.", 4, "character 4 is not in" },
		{ "Z\xc3\xa9", 3, "character 2 is not in" },
		{ "Zg\0A", 4, "character 3 is not in" },        /* a NUL inside the text */
		{ "Zh", 2, "non-zero bits" },                   /* "f" is Zg: unused bits set */
		{ "Zm9", 3, "non-zero bits" },                  /* "fo" is Zm8 */
	};
	struct hl_buf b = { (unsigned char *)"stale", 5 };

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(hl_base64url_decode(bad[i].text, bad[i].len, "the ticket's header",
						     &b), -1);
		assert_null(b.data);
		assert_int_equal(b.len, 0);
		if (!strstr(hl_error_last(), bad[i].why) ||
		    strncmp(hl_error_last(), "the ticket's header", 19) != 0)
			fail_msg("'%s': message '%s' lacks '%s'", bad[i].text, hl_error_last(),
				 bad[i].why);
	}
	assert_int_equal(hl_base64url_decode("Zg", 2, "x", &b), 0);
	assert_int_equal(b.len, 1);
	hl_buf_free(&b);
	/* the length given is what is read, not the C string */
	assert_int_equal(hl_base64url_decode("Zm9vYmFy", 4, "x", &b), 0);
	assert_int_equal(b.len, 3);
	assert_memory_equal(b.data, "foo", 3);
	hl_buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc4648_vectors),
		cmocka_unit_test(test_url_alphabet),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_refusals),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
