/*
 * test_json.c - unit tests for lib/json: parsing outside input, typed getters,
 * base64 fields and dumping.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"
#include "lib/json.h"
#include "tests/unit/testutil.h"

/* Parse the NUL-terminated TEXT and expect failure; return the message. */
static const char *parse_fails(const char *text)
{
	json_t *v = (json_t *)1;

	assert_int_equal(hl_json_parse(text, strlen(text), 0, &v), -1);
	assert_null(v);
	return hl_error_last();
}

/* A valid document parses; scalars are accepted as top-level values. */
static void test_parse_ok(void **state)
{
	const char *doc = "{\"nonce\": \"abc\", \"n\": 3, \"ok\": true, \"list\": [1, 2]}";
	json_t *v = NULL;

	(void)state;
	assert_int_equal(hl_json_parse(doc, strlen(doc), 0, &v), 0);
	assert_true(json_is_object(v));
	assert_string_equal(json_string_value(json_object_get(v, "nonce")), "abc");
	json_decref(v);
	assert_int_equal(hl_json_parse("42", 2, 0, &v), 0);
	assert_int_equal(json_integer_value(v), 42);
	json_decref(v);
}

/* Truncated, trailing-garbage, empty and malformed input name line and column. */
static void test_parse_bad(void **state)
{
	const char *msg;

	(void)state;
	msg = parse_fails("{\"a\": 1} x");
	assert_non_null(strstr(msg, "bad JSON at line 1, column "));
	assert_non_null(strstr(msg, "end of file expected"));
	msg = parse_fails("{\"a\": 1}{}");
	assert_non_null(strstr(msg, "bad JSON at line 1, column "));
	msg = parse_fails("{\n  \"a\": 1,\n  \"b\": tru\n}");
	assert_non_null(strstr(msg, "bad JSON at line 3, column "));
	msg = parse_fails("");
	assert_non_null(strstr(msg, "bad JSON at line "));
	msg = parse_fails("{\"a\": 1, \"a\": 2}");
	assert_non_null(strstr(msg, "duplicate"));
	msg = parse_fails("{\"a\": \"\xff\xfe\"}");
	assert_non_null(strstr(msg, "bad JSON at line 1"));
	/* jansson quotes the offending bytes; they must come out as printable ASCII */
	for (const char *p = msg; *p; p++)
		assert_true((unsigned char)*p >= 0x20 && (unsigned char)*p < 0x7f);
}

/* Every proper prefix of a document is refused with a line:column message. */
static void test_parse_truncated(void **state)
{
	const char *doc = "{\"nonce\":\"q83v\",\"pcrs\":[0,1,7],\"debug\":false,\"x\":{\"y\":null}}";
	size_t len = strlen(doc), i;
	json_t *v;

	(void)state;
	for (i = 0; i < len; i++) {
		assert_int_equal(hl_json_parse(doc, i, 0, &v), -1);
		assert_null(v);
		assert_error_has("bad JSON at line 1, column ");
	}
	assert_int_equal(hl_json_parse(doc, len, 0, &v), 0);
	json_decref(v);
}

/* NUL bytes, random bytes and deep nesting are errors, never crashes. */
static void test_parse_hostile(void **state)
{
	unsigned char buf[512];
	uint32_t x = 2463534242u;
	size_t depth = 100000, i, n;
	char *deep;
	json_t *v;

	(void)state;
	assert_int_equal(hl_json_parse("{\"a\":\"\0\"}", 8, 0, &v), -1);
	assert_error_has("bad JSON at line 1");
	for (n = 0; n < 2000; n++) {
		size_t len = n % sizeof(buf);

		for (i = 0; i < len; i++) {
			x ^= x << 13;
			x ^= x >> 17;
			x ^= x << 5;
			buf[i] = (unsigned char)x;
		}
		if (hl_json_parse(buf, len, 0, &v) == 0)
			json_decref(v);
		else
			assert_error_has("bad JSON");
	}
	deep = malloc(depth);
	assert_non_null(deep);
	memset(deep, '[', depth);
	assert_int_equal(hl_json_parse(deep, depth, depth, &v), -1);
	assert_error_has("bad JSON at line 1");
	free(deep);
}

/* Input over the size limit is refused before parsing. */
static void test_parse_limit(void **state)
{
	const char *doc = "{\"a\": \"0123456789\"}";
	json_t *v;

	(void)state;
	assert_int_equal(hl_json_parse(doc, strlen(doc), 10, &v), -1);
	assert_null(v);
	assert_error_has("over the limit of 10 bytes");
	assert_int_equal(hl_json_parse(doc, strlen(doc), strlen(doc), &v), 0);
	json_decref(v);
}

/* Required getters: values, "is missing", "must be a string", non-object. */
static void test_getters(void **state)
{
	const char *doc = "{\"nonce\": 5, \"name\": \"FabricHost1\", \"n\": 7, \"ok\": false,"
			  " \"obj\": {}, \"arr\": [], \"nul\": null}";
	const char *s = "x";
	json_int_t i = 9;
	json_t *v, *o = (json_t *)1;
	int b = 9;

	(void)state;
	assert_int_equal(hl_json_parse(doc, strlen(doc), 0, &v), 0);
	assert_int_equal(hl_json_get_string(v, "name", &s), 0);
	assert_string_equal(s, "FabricHost1");
	assert_int_equal(hl_json_get_int(v, "n", &i), 0);
	assert_int_equal(i, 7);
	assert_int_equal(hl_json_get_bool(v, "ok", &b), 0);
	assert_int_equal(b, 0);
	assert_int_equal(hl_json_get_object(v, "obj", &o), 0);
	assert_true(json_is_object(o));
	assert_int_equal(hl_json_get_array(v, "arr", &o), 0);
	assert_true(json_is_array(o));

	assert_int_equal(hl_json_get_string(v, "nonce", &s), -1);
	assert_null(s);
	assert_string_equal(hl_error_last(), "field 'nonce' must be a string, got an integer");
	assert_int_equal(hl_json_get_string(v, "missing", &s), -1);
	assert_string_equal(hl_error_last(), "field 'missing' is missing");
	assert_int_equal(hl_json_get_string(v, "nul", &s), -1);
	assert_string_equal(hl_error_last(), "field 'nul' must be a string, got null");
	assert_int_equal(hl_json_get_int(v, "name", &i), -1);
	assert_string_equal(hl_error_last(), "field 'name' must be an integer, got a string");
	assert_int_equal(hl_json_get_bool(v, "n", &b), -1);
	assert_string_equal(hl_error_last(), "field 'n' must be a boolean, got an integer");
	assert_int_equal(hl_json_get_object(v, "arr", &o), -1);
	assert_null(o);
	assert_string_equal(hl_error_last(), "field 'arr' must be an object, got an array");
	assert_int_equal(hl_json_get_array(v, "obj", &o), -1);
	assert_string_equal(hl_error_last(), "field 'obj' must be an array, got an object");
	assert_int_equal(hl_json_get_string(json_object_get(v, "arr"), "x", &s), -1);
	assert_string_equal(hl_error_last(), "expected a JSON object with field 'x', got an array");
	assert_int_equal(hl_json_get_string(NULL, "x", &s), -1);
	json_decref(v);
}

/* Optional getters: defaults for missing and null, errors for wrong types. */
static void test_getters_opt(void **state)
{
	const char *doc = "{\"name\": \"h\", \"nul\": null, \"n\": \"7\"}";
	const char *s;
	json_int_t i;
	json_t *v, *o;
	int b;

	(void)state;
	assert_int_equal(hl_json_parse(doc, strlen(doc), 0, &v), 0);
	assert_int_equal(hl_json_get_string_opt(v, "name", "d", &s), 0);
	assert_string_equal(s, "h");
	assert_int_equal(hl_json_get_string_opt(v, "other", "d", &s), 0);
	assert_string_equal(s, "d");
	assert_int_equal(hl_json_get_string_opt(v, "nul", NULL, &s), 0);
	assert_null(s);
	assert_int_equal(hl_json_get_int_opt(v, "other", 12, &i), 0);
	assert_int_equal(i, 12);
	assert_int_equal(hl_json_get_int_opt(v, "n", 12, &i), -1);
	assert_string_equal(hl_error_last(), "field 'n' must be an integer, got a string");
	assert_int_equal(hl_json_get_bool_opt(v, "other", 1, &b), 0);
	assert_int_equal(b, 1);
	assert_int_equal(hl_json_get_object_opt(v, "other", &o), 0);
	assert_null(o);
	assert_int_equal(hl_json_get_array_opt(v, "nul", &o), 0);
	assert_null(o);
	assert_int_equal(hl_json_get_array_opt(v, "name", &o), -1);
	json_decref(v);
}

/* Known vectors (RFC 4648) and every length 0..300 of binary data round-trip. */
static void test_base64_roundtrip(void **state)
{
	static const char *const plain[] = { "", "f", "fo", "foo", "foob", "fooba", "foobar" };
	static const char *const coded[] = { "", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=",
					     "Zm9vYmFy" };
	unsigned char data[300], *dec;
	size_t i, n, dec_len;
	char *enc;

	(void)state;
	for (i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
		assert_int_equal(hl_json_base64_encode(plain[i], strlen(plain[i]), &enc), 0);
		assert_string_equal(enc, coded[i]);
		free(enc);
		assert_int_equal(hl_json_base64_decode(coded[i], strlen(coded[i]), &dec, &dec_len), 0);
		assert_int_equal(dec_len, strlen(plain[i]));
		assert_memory_equal(dec, plain[i], dec_len + 1);
		free(dec);
	}
	for (i = 0; i < sizeof(data); i++)
		data[i] = (unsigned char)(i * 7 + 3);
	for (n = 0; n <= sizeof(data); n++) {
		assert_int_equal(hl_json_base64_encode(data, n, &enc), 0);
		assert_int_equal(strlen(enc), (n + 2) / 3 * 4);
		assert_int_equal(hl_json_base64_decode(enc, strlen(enc), &dec, &dec_len), 0);
		assert_int_equal(dec_len, n);
		if (n)
			assert_memory_equal(dec, data, n);
		free(enc);
		free(dec);
	}
}

/* Bad base64 is rejected with a reason: length, alphabet, padding, whitespace. */
static void test_base64_bad(void **state)
{
	static const char *const bad[] = { "Zg=", "Zm9", "Z", "Zm9v!A==", "Zm 9v", "Zm9v\n",
					   "Z===", "Zg=a", "=Zg=", "Zh==", "Zm9=", "Zm-_",
					   "Zm9vYg==Zm9v" };
	unsigned char *dec = (unsigned char *)1;
	size_t i, dec_len = 9;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(hl_json_base64_decode(bad[i], strlen(bad[i]), &dec, &dec_len), -1);
		assert_null(dec);
		assert_int_equal(dec_len, 0);
		assert_error_has("invalid base64");
	}
	hl_json_base64_decode("Zm9v!A==", 8, &dec, &dec_len);
	assert_string_equal(hl_error_last(),
			    "invalid base64: character '!' at offset 4 is not in the base64 alphabet");
	hl_json_base64_decode("Zm9\x01", 4, &dec, &dec_len);
	assert_error_has("byte 0x01 at offset 3");
}

/* Base64 fields: set, get, field-named errors, optional absence. */
static void test_base64_fields(void **state)
{
	const unsigned char key[] = { 0x00, 0xff, 0x10, 0x80, 0x7f };
	unsigned char *dec;
	size_t dec_len;
	json_t *v;

	(void)state;
	v = json_object();
	assert_non_null(v);
	assert_int_equal(hl_json_set_base64(v, "tk", key, sizeof(key)), 0);
	assert_string_equal(json_string_value(json_object_get(v, "tk")), "AP8QgH8=");
	assert_int_equal(hl_json_get_base64(v, "tk", &dec, &dec_len), 0);
	assert_int_equal(dec_len, sizeof(key));
	assert_memory_equal(dec, key, sizeof(key));
	free(dec);
	json_object_set_new(v, "bad", json_string("AP8Q!H8="));
	assert_int_equal(hl_json_get_base64(v, "bad", &dec, &dec_len), -1);
	assert_null(dec);
	assert_error_has("field 'bad': invalid base64: character '!'");
	json_object_set_new(v, "num", json_integer(3));
	assert_int_equal(hl_json_get_base64(v, "num", &dec, &dec_len), -1);
	assert_string_equal(hl_error_last(), "field 'num' must be a base64 string, got an integer");
	assert_int_equal(hl_json_get_base64(v, "quote", &dec, &dec_len), -1);
	assert_string_equal(hl_error_last(), "field 'quote' is missing");
	assert_int_equal(hl_json_get_base64_opt(v, "quote", &dec, &dec_len), 0);
	assert_null(dec);
	assert_int_equal(dec_len, 0);
	assert_int_equal(hl_json_set_base64(json_object_get(v, "num"), "x", key, 1), -1);
	json_decref(v);
}

/* Compact and pretty dumps; a dump parses back to an equal value. */
static void test_dump(void **state)
{
	json_t *v, *back;
	char *s;

	(void)state;
	v = json_pack("{s:s, s:i, s:[b]}", "error", "no route", "n", 2, "l", 1);
	assert_non_null(v);
	assert_int_equal(hl_json_dump(v, &s), 0);
	assert_string_equal(s, "{\"error\":\"no route\",\"n\":2,\"l\":[true]}");
	free(s);
	assert_int_equal(hl_json_dump_pretty(v, &s), 0);
	assert_string_equal(s, "{\n  \"error\": \"no route\",\n  \"n\": 2,\n"
			       "  \"l\": [\n    true\n  ]\n}\n");
	assert_int_equal(hl_json_parse(s, strlen(s), 0, &back), 0);
	assert_true(json_equal(v, back));
	json_decref(back);
	free(s);
	json_decref(v);
	v = json_string("x");
	assert_int_equal(hl_json_dump(v, &s), 0);
	assert_string_equal(s, "\"x\"");
	free(s);
	json_decref(v);
	assert_int_equal(hl_json_dump(NULL, &s), -1);
	assert_null(s);
}

/* hl_json_dump(V) is jansson's compact text, byte for byte. */
static void dump_is_janssons(json_t *v)
{
	char *mine = NULL, *theirs = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);

	assert_non_null(theirs);
	assert_int_equal(hl_json_dump(v, &mine), 0);
	assert_string_equal(mine, theirs);
	free(mine);
	free(theirs);
	json_decref(v);
}

/*
 * The compact dump is jansson's own text for every kind of value: every
 * ASCII byte in a string and a key (the escapes), UTF-8, a NUL inside a
 * string, integers at both ends, reals, nesting, empty containers, the
 * members' order; a string that is not UTF-8 is refused as jansson does.
 */
static void test_dump_as_jansson(void **state)
{
	char all[128];
	json_t *o, *bad;
	char *s = NULL;

	(void)state;
	for (int i = 0; i < 127; i++)
		all[i] = (char)(i + 1);
	all[127] = '\0';
	dump_is_janssons(json_string(all));
	o = json_object();
	assert_int_equal(json_object_set_new(o, all, json_string("key with every ASCII byte")), 0);
	dump_is_janssons(o);
	dump_is_janssons(json_string("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x92 \"quoted\" \\ /"));
	dump_is_janssons(json_stringn("a\0b", 3));
	dump_is_janssons(json_string(""));
	dump_is_janssons(json_pack("{s:I, s:I, s:I, s:f, s:f, s:f, s:n, s:b, s:b}", "max",
				   (json_int_t)LLONG_MAX, "min", (json_int_t)LLONG_MIN, "zero",
				   (json_int_t)0, "pi", 3.14159265358979, "big", 1e300, "whole", 2.0,
				   "none", "t", 1, "f", 0));
	dump_is_janssons(json_pack("{s:[], s:{}, s:[[[{s:[i,i,{}]}]]], s:[s,i,f]}", "empty", "obj",
				   "deep", "x", 1, 2, "mixed", "z", -7, -0.5));
	o = json_object();
	for (int i = 0; i < 50; i++) {
		char k[16];

		snprintf(k, sizeof(k), "k%d", (i * 37) % 50);
		assert_int_equal(json_object_set_new(o, k, json_integer(i)), 0);
	}
	dump_is_janssons(o);
	dump_is_janssons(json_integer(-1));
	dump_is_janssons(json_real(-1.5e-7));
	dump_is_janssons(json_null());

	bad = json_stringn_nocheck("\xff\xfe", 2);
	o = json_pack("{s:o}", "bad", bad);
	assert_null(json_dumps(o, JSON_COMPACT));
	assert_int_equal(hl_json_dump(o, &s), -1);
	assert_null(s);
	json_decref(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_ok),
		cmocka_unit_test(test_parse_bad),
		cmocka_unit_test(test_parse_truncated),
		cmocka_unit_test(test_parse_hostile),
		cmocka_unit_test(test_parse_limit),
		cmocka_unit_test(test_getters),
		cmocka_unit_test(test_getters_opt),
		cmocka_unit_test(test_base64_roundtrip),
		cmocka_unit_test(test_base64_bad),
		cmocka_unit_test(test_base64_fields),
		cmocka_unit_test(test_dump),
		cmocka_unit_test(test_dump_as_jansson),
	};
	return cmocka_run_group_tests_name("json", tests, NULL, NULL);
}
