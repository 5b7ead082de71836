/*
 * test_fsk.c - unit tests for proto/fsk: placeholder and value rules, a .fsk
 * written and parsed back, every malformed field refused, every truncation
 * refused (never a crash), finding and substituting placeholders (known,
 * unknown, adjacent, cut short), and generalized.json (path rules, round
 * trip, refusals, truncations).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "lib/json.h"
#include "proto/fsk.h"
#include "tests/unit/testutil.h"

/* Placeholder and value rules. */
static void test_rules(void **state)
{
	static const char *const good[] = { "@ComputerName@", "@a@", "@A_1@", "@_@" };
	static const char *const bad[] = { "", "@@", "@a", "a@", "ComputerName", "@a b@", "@a-b@",
					   "@a@b@", " @a@", "@caf\xc3\xa9@" };
	char longkey[80];
	char longval[HL_FSK_VALUE_MAX + 2];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_ok(hl_fsk_key_check(good[i]));
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (hl_fsk_key_check(bad[i]) != -1)
			fail_msg("placeholder '%s' was accepted", bad[i]);
		assert_error_has("e.g. @ComputerName@");
	}
	assert_int_equal(hl_fsk_key_check(NULL), -1);
	longkey[0] = '@';
	memset(longkey + 1, 'k', 64);
	longkey[65] = '@';
	longkey[66] = '\0';
	assert_ok(hl_fsk_key_check(longkey));
	longkey[65] = 'k';
	longkey[66] = '@';
	longkey[67] = '\0';
	assert_int_equal(hl_fsk_key_check(longkey), -1);

	assert_ok(hl_fsk_value_check("@a@", "Web01"));
	assert_ok(hl_fsk_value_check("@a@", ""));
	assert_ok(hl_fsk_value_check("@a@", "Caf\xc3\xa9 \xe2\x82\xac"));
	assert_int_equal(hl_fsk_value_check("@a@", "a\nb"), -1);
	assert_error_has("control character 0x0a");
	assert_int_equal(hl_fsk_value_check("@a@", "a\x7f"), -1);
	assert_int_equal(hl_fsk_value_check("@a@", "\xff\xfe"), -1);
	assert_error_has("not UTF-8");
	assert_int_equal(hl_fsk_value_check("@a@", NULL), -1);
	memset(longval, 'v', sizeof(longval) - 1);
	longval[sizeof(longval) - 1] = '\0';
	assert_int_equal(hl_fsk_value_check("@a@", longval), -1);
	assert_error_has("at most 1024");
	longval[HL_FSK_VALUE_MAX] = '\0';
	assert_ok(hl_fsk_value_check("@a@", longval));
}

/* Write and read back; the file as documented; duplicates refused. */
static void test_roundtrip(void **state)
{
	struct hl_fsk_value v[3] = { { "@ComputerName@", "Web01" }, { "@Domain@", "contoso.com" },
				     { "@Empty@", "" } };
	struct hl_buf text = { NULL, 0 };
	struct hl_fsk *f = NULL;
	json_t *o = NULL;

	(void)state;
	assert_ok(hl_fsk_make(v, 3, &text));
	assert_ok(hl_json_parse(text.data, text.len, 0, &o));
	assert_string_equal(json_string_value(json_object_get(o, "format")), "hgslab-fsk");
	assert_int_equal(json_integer_value(json_object_get(o, "version")), 1);
	assert_string_equal(json_string_value(json_object_get(json_object_get(o, "values"),
							      "@Domain@")), "contoso.com");
	json_decref(o);
	assert_ok(hl_fsk_parse(text.data, text.len, &f));
	assert_int_equal(f->n, 3);
	assert_string_equal(f->values[0].key, "@ComputerName@");
	assert_string_equal(hl_fsk_get(f, "@ComputerName@"), "Web01");
	assert_string_equal(hl_fsk_get(f, "@Empty@"), "");
	assert_null(hl_fsk_get(f, "@Other@"));
	assert_null(hl_fsk_get(NULL, "@Other@"));
	hl_fsk_free(f);
	hl_fsk_free(NULL);
	hl_buf_free(&text);
	assert_ok(hl_fsk_make(v, 0, &text));
	hl_buf_free(&text);
	v[1] = v[0];
	assert_int_equal(hl_fsk_make(v, 2, &text), -1);
	assert_error_has("@ComputerName@ is given twice");
	assert_null(text.data);
	strcpy(v[0].key, "ComputerName");
	assert_int_equal(hl_fsk_make(v, 1, &text), -1);
	assert_error_has("bad placeholder 'ComputerName'");
}

/* Parse TEXT as a .fsk: must fail with ERR. */
static void expect_refused(const char *text, const char *err)
{
	struct hl_fsk *f = NULL;

	if (hl_fsk_parse(text, strlen(text), &f) != -1)
		fail_msg("%s was accepted", text);
	assert_null(f);
	if (!tu_error_has(err))
		fail_msg("%s: error lacks '%s'", text, err);
}

/* Every field malformed in turn; truncations; the size cap. */
static void test_refused(void **state)
{
	const char *good = "{\"format\":\"hgslab-fsk\",\"version\":1,\"values\":{\"@A@\":\"x\","
			   "\"@B@\":\"y\"}}";
	struct hl_fsk *f = NULL;
	char *big;
	size_t i;

	(void)state;
	assert_ok(hl_fsk_parse(good, strlen(good), &f));
	hl_fsk_free(f);
	f = NULL;
	expect_refused("{\"format\":\"hgslab-pdk\",\"version\":1,\"values\":{}}",
		       "not an hgslab specialization data file");
	expect_refused("{\"format\":\"hgslab-fsk\",\"version\":3,\"values\":{}}",
		       "specialization data version 3 is not supported");
	expect_refused("{\"format\":\"hgslab-fsk\",\"version\":1}", "lacks field 'values'");
	expect_refused("{\"format\":\"hgslab-fsk\",\"version\":1,\"values\":{},\"x\":1}",
		       "unknown field 'x'");
	expect_refused("{\"format\":\"hgslab-fsk\",\"version\":1,\"values\":[]}",
		       "field 'values' must be an object");
	expect_refused("{\"format\":\"hgslab-fsk\",\"version\":1,\"values\":{\"A\":\"x\"}}",
		       "bad specialization data file: bad placeholder 'A'");
	expect_refused("{\"format\":\"hgslab-fsk\",\"version\":1,\"values\":{\"@A@\":1}}",
		       "the value of @A@ must be a string");
	expect_refused("{\"format\":\"hgslab-fsk\",\"version\":1,\"values\":{\"@A@\":\"a\\tb\"}}",
		       "control character 0x09");
	expect_refused("{\"format\":\"hgslab-fsk\",\"version\":1,\"values\":{\"@A@\":\"a\\u0000b\"}}",
		       "bad JSON");
	expect_refused("{\"format\":\"hgslab-fsk\",\"version\":1,\"values\":{\"@A@\":\"a\","
		       "\"@A@\":\"b\"}}", "bad JSON");
	expect_refused("[\"hgslab-fsk\"]", "not a JSON object");
	expect_refused("", "empty");
	for (i = 0; i < strlen(good); i++) {
		char *copy = malloc(i + 1);

		assert_non_null(copy);
		memcpy(copy, good, i);
		assert_int_equal(hl_fsk_parse(copy, i, &f), -1);
		free(copy);
	}
	big = malloc(HL_FSK_MAX_SIZE + 2);
	assert_non_null(big);
	memset(big, ' ', HL_FSK_MAX_SIZE + 1);
	assert_int_equal(hl_fsk_parse(big, HL_FSK_MAX_SIZE + 1, &f), -1);
	assert_error_has("larger than");
	free(big);
}

/* Finding and substituting placeholders. */
static void test_substitute(void **state)
{
	static const struct { const char *in, *out; size_t n; } t[] = {
		{ "@ComputerName@\n", "Web01\n", 1 },
		{ "host=@ComputerName@.@Domain@", "host=Web01.contoso.com", 2 },
		{ "@Unknown@ stays", "@Unknown@ stays", 0 },
		{ "@@ComputerName@@", "@Web01@", 1 },
		{ "mail: a@ComputerName@b", "mail: aWeb01b", 1 },
		{ "@ComputerName", "@ComputerName", 0 },
		{ "@Domain@ComputerName@", "contoso.comComputerName@", 1 },
		{ "@Unknown@ComputerName@", "@UnknownWeb01", 1 },
		{ "", "", 0 },
		{ "no placeholder", "no placeholder", 0 },
		{ "@x y@", "@x y@", 0 },
	};
	struct hl_fsk_value v[2] = { { "@ComputerName@", "Web01" }, { "@Domain@", "contoso.com" } };
	struct hl_buf text = { NULL, 0 }, out = { NULL, 0 };
	struct hl_fsk *f = NULL;
	size_t i, n;

	(void)state;
	assert_ok(hl_fsk_make(v, 2, &text));
	assert_ok(hl_fsk_parse(text.data, text.len, &f));
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		assert_ok(hl_fsk_substitute(f, t[i].in, strlen(t[i].in), &out, &n));
		assert_int_equal(out.len, strlen(t[i].out));
		assert_string_equal((char *)out.data, t[i].out);
		assert_int_equal(n, t[i].n);
		hl_buf_free(&out);
	}
	assert_true(hl_fsk_has_placeholder("a @X@ b", 7));
	assert_true(hl_fsk_has_placeholder("@@X@", 4));
	assert_false(hl_fsk_has_placeholder("a @X b", 6));
	assert_false(hl_fsk_has_placeholder("user@example.com", 16));
	assert_false(hl_fsk_has_placeholder("@X@", 2));
	assert_false(hl_fsk_has_placeholder("", 0));
	assert_false(hl_fsk_has_placeholder(NULL, 0));
	assert_false(hl_fsk_has_placeholder("@@", 2));
	hl_fsk_free(f);
	hl_buf_free(&text);
}

/* generalized.json: path rules, round trip, refusals, truncations. */
static void test_generalized(void **state)
{
	static const char *const good[] = { "etc/hostname", "a", "srv/www/index.html", ".hidden/x" };
	static const char *const bad[] = { "", "/etc/hostname", "etc//hostname", "etc/", "./a",
					   "a/../b", "..", "a/.", "a\nb" };
	const char *files[] = { "etc/hostname", "etc/motd" };
	struct hl_buf text = { NULL, 0 };
	const char *doc = "{\"format\":\"hgslab-generalized\",\"version\":1,\"files\":[\"a\"]}";
	char **list = NULL;
	size_t n = 0, i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_ok(hl_fsk_path_check(good[i]));
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (hl_fsk_path_check(bad[i]) != -1)
			fail_msg("path '%s' was accepted", bad[i]);
	assert_ok(hl_fsk_generalized_make(files, 2, &text));
	assert_ok(hl_fsk_generalized_parse(text.data, text.len, &list, &n));
	assert_int_equal(n, 2);
	assert_string_equal(list[1], "etc/motd");
	for (i = 0; i < n; i++)
		free(list[i]);
	free(list);
	hl_buf_free(&text);
	assert_ok(hl_fsk_generalized_make(files, 0, &text));
	assert_ok(hl_fsk_generalized_parse(text.data, text.len, &list, &n));
	assert_int_equal(n, 0);
	free(list);
	hl_buf_free(&text);
	files[1] = files[0];
	assert_int_equal(hl_fsk_generalized_make(files, 2, &text), -1);
	assert_error_has("listed twice");
	files[1] = "/abs";
	assert_int_equal(hl_fsk_generalized_make(files, 2, &text), -1);
	assert_error_has("relative");
#define REFUSED(s, err) do { \
	assert_int_equal(hl_fsk_generalized_parse(s, strlen(s), &list, &n), -1); \
	assert_error_has(err); \
	assert_null(list); \
} while (0)
	REFUSED("{\"format\":\"hgslab-fsk\",\"version\":1,\"files\":[]}", "must be \"hgslab-generalized\"");
	REFUSED("{\"format\":\"hgslab-generalized\",\"version\":2,\"files\":[]}", "version 2");
	REFUSED("{\"format\":\"hgslab-generalized\",\"version\":1,\"files\":[1]}", "files[0] must be");
	REFUSED("{\"format\":\"hgslab-generalized\",\"version\":1,\"files\":[\"../x\"]}", "'..'");
	REFUSED("{\"format\":\"hgslab-generalized\",\"version\":1,\"files\":[\"a\",\"a\"]}", "twice");
	REFUSED("{\"format\":\"hgslab-generalized\",\"version\":1}", "lacks field 'files'");
	REFUSED("", "empty");
	for (i = 0; i < strlen(doc); i++) {
		char *copy = malloc(i + 1);

		assert_non_null(copy);
		memcpy(copy, doc, i);
		assert_int_equal(hl_fsk_generalized_parse(copy, i, &list, &n), -1);
		free(copy);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rules),
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_substitute),
		cmocka_unit_test(test_generalized),
	};
	return cmocka_run_group_tests_name("fsk", tests, NULL, NULL);
}
