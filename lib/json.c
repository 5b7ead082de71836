/*
 * json.c - parsing, typed member getters, base64 fields and dumping over
 * jansson (see json.h for the contract).  Base64 goes through
 * the strict decoder of lib/crypto (one base64 for the whole project).
 */
#include "lib/json.h"

#include "lib/crypto.h"

#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


/* Copy SRC into DST (size N) with every byte outside printable ASCII as '?'. */
static void json_printable(char *dst, size_t n, const char *src)
{
	size_t i;

	for (i = 0; i + 1 < n && src[i]; i++) {
		unsigned char c = (unsigned char)src[i];

		dst[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	if (n)
		dst[i] = '\0';
}

int hl_json_parse(const void *buf, size_t len, size_t max_len, json_t **out)
{
	char reason[JSON_ERROR_TEXT_LENGTH];
	json_error_t jerr;
	json_t *v;

	*out = NULL;
	if (!max_len)
		max_len = HL_JSON_MAX_DEFAULT;
	if (len > max_len)
		return hl_error("bad JSON: the document is %zu bytes, over the limit of %zu bytes",
				len, max_len);
	if (!buf)
		buf = "";
	v = json_loadb(buf, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
	if (!v) {
		json_printable(reason, sizeof(reason), jerr.text);
		return hl_error("bad JSON at line %d, column %d: %s", jerr.line, jerr.column, reason);
	}
	*out = v;
	return 0;
}

/* "a string", "an integer"... for messages about a value of the wrong type. */
static const char *json_type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
		return "an integer";
	case JSON_REAL:
		return "a real number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	case JSON_NULL:
		return "null";
	}
	return "an unknown type";
}

/*
 * Find member NAME of OBJ: 1 with *OUT set when present (and not null when
 * OPTIONAL), 0 when absent and OPTIONAL, -1 with an error otherwise.
 */
static int json_member(const json_t *obj, const char *name, int optional, json_t **out)
{
	json_t *v;

	*out = NULL;
	if (!obj || !json_is_object(obj))
		return hl_error("expected a JSON object with field '%s', got %s", name,
				obj ? json_type_name(obj) : "nothing");
	v = json_object_get(obj, name);
	if (!v || (optional && json_is_null(v))) {
		if (optional)
			return 0;
		return hl_error("field '%s' is missing", name);
	}
	*out = v;
	return 1;
}

/* The error for member NAME holding V where WANT ("a string"...) is needed. */
static int json_wrong_type(const char *name, const char *want, const json_t *v)
{
	return hl_error("field '%s' must be %s, got %s", name, want, json_type_name(v));
}

/* Shared body of the string getters. */
static int json_get_string(const json_t *obj, const char *name, int optional, const char *def,
			   const char **out)
{
	json_t *v;
	int rc;

	*out = NULL;
	rc = json_member(obj, name, optional, &v);
	if (rc < 0)
		return -1;
	if (rc == 0) {
		*out = def;
		return 0;
	}
	if (!json_is_string(v))
		return json_wrong_type(name, "a string", v);
	*out = json_string_value(v);
	return 0;
}

int hl_json_get_string(const json_t *obj, const char *name, const char **out)
{
	return json_get_string(obj, name, 0, NULL, out);
}

int hl_json_get_string_opt(const json_t *obj, const char *name, const char *def,
			   const char **out)
{
	return json_get_string(obj, name, 1, def, out);
}

/* Shared body of the integer getters. */
static int json_get_int(const json_t *obj, const char *name, int optional, json_int_t def,
			json_int_t *out)
{
	json_t *v;
	int rc;

	*out = 0;
	rc = json_member(obj, name, optional, &v);
	if (rc < 0)
		return -1;
	if (rc == 0) {
		*out = def;
		return 0;
	}
	if (!json_is_integer(v))
		return json_wrong_type(name, "an integer", v);
	*out = json_integer_value(v);
	return 0;
}

int hl_json_get_int(const json_t *obj, const char *name, json_int_t *out)
{
	return json_get_int(obj, name, 0, 0, out);
}

int hl_json_get_int_opt(const json_t *obj, const char *name, json_int_t def, json_int_t *out)
{
	return json_get_int(obj, name, 1, def, out);
}

/* Shared body of the boolean getters. */
static int json_get_bool(const json_t *obj, const char *name, int optional, int def, int *out)
{
	json_t *v;
	int rc;

	*out = 0;
	rc = json_member(obj, name, optional, &v);
	if (rc < 0)
		return -1;
	if (rc == 0) {
		*out = def;
		return 0;
	}
	if (!json_is_boolean(v))
		return json_wrong_type(name, "a boolean", v);
	*out = json_is_true(v);
	return 0;
}

int hl_json_get_bool(const json_t *obj, const char *name, int *out)
{
	return json_get_bool(obj, name, 0, 0, out);
}

int hl_json_get_bool_opt(const json_t *obj, const char *name, int def, int *out)
{
	return json_get_bool(obj, name, 1, def, out);
}

/* Shared body of the object and array getters; TYPE is JSON_OBJECT or JSON_ARRAY. */
static int json_get_container(const json_t *obj, const char *name, int optional, json_type type,
			      json_t **out)
{
	json_t *v;
	int rc;

	*out = NULL;
	rc = json_member(obj, name, optional, &v);
	if (rc <= 0)
		return rc;
	if (json_typeof(v) != type)
		return json_wrong_type(name, type == JSON_OBJECT ? "an object" : "an array", v);
	*out = v;
	return 0;
}

int hl_json_get_object(const json_t *obj, const char *name, json_t **out)
{
	return json_get_container(obj, name, 0, JSON_OBJECT, out);
}

int hl_json_get_object_opt(const json_t *obj, const char *name, json_t **out)
{
	return json_get_container(obj, name, 1, JSON_OBJECT, out);
}

int hl_json_get_array(const json_t *obj, const char *name, json_t **out)
{
	return json_get_container(obj, name, 0, JSON_ARRAY, out);
}

int hl_json_get_array_opt(const json_t *obj, const char *name, json_t **out)
{
	return json_get_container(obj, name, 1, JSON_ARRAY, out);
}

int hl_json_base64_decode(const char *str, size_t len, unsigned char **out, size_t *out_len)
{
	struct hl_buf b = { NULL, 0 };

	*out = NULL;
	*out_len = 0;
	if (hl_crypto_base64_decode(str, len, &b) < 0)
		return -1;
	*out = b.data;
	*out_len = b.len;
	return 0;
}

int hl_json_base64_encode(const void *data, size_t len, char **out)
{
	struct hl_buf b = { NULL, 0 };

	*out = NULL;
	if (hl_crypto_base64_encode(data, len, &b) < 0)
		return -1;
	*out = (char *)b.data;
	return 0;
}

/* Shared body of the base64 getters. */
static int json_get_base64(const json_t *obj, const char *name, int optional, unsigned char **out,
			   size_t *out_len)
{
	json_t *v;
	int rc;

	*out = NULL;
	*out_len = 0;
	rc = json_member(obj, name, optional, &v);
	if (rc <= 0)
		return rc;
	if (!json_is_string(v))
		return json_wrong_type(name, "a base64 string", v);
	if (hl_json_base64_decode(json_string_value(v), json_string_length(v), out, out_len) < 0)
		return hl_error_wrap("field '%s'", name);
	return 0;
}

int hl_json_get_base64(const json_t *obj, const char *name, unsigned char **out, size_t *out_len)
{
	return json_get_base64(obj, name, 0, out, out_len);
}

int hl_json_get_base64_opt(const json_t *obj, const char *name, unsigned char **out,
			   size_t *out_len)
{
	return json_get_base64(obj, name, 1, out, out_len);
}

int hl_json_set_base64(json_t *obj, const char *name, const void *data, size_t len)
{
	char *text = NULL;
	int rc = -1;

	if (!json_is_object(obj)) {
		hl_error("cannot set field '%s': the target is not a JSON object", name);
		goto out;
	}
	if (hl_json_base64_encode(data, len, &text) < 0)
		goto out;
	/* base64 is ASCII by construction: no UTF-8 check of a certificate's worth of text */
	if (json_object_set_new(obj, name, json_stringn_nocheck(text, strlen(text))) < 0) {
		hl_error("cannot set field '%s': out of memory", name);
		goto out;
	}
	rc = 0;
out:
	if (text) {
		OPENSSL_cleanse(text, strlen(text));
		free(text);
	}
	return rc;
}

/* Shared body of the dump functions: FLAGS are jansson's, NEWLINE appends "\n". */
static int json_dump_flags(const json_t *v, size_t flags, int newline, char **out)
{
	char *s, *grown;
	size_t n;

	*out = NULL;
	if (!v)
		return hl_error("cannot dump JSON: no value");
	s = json_dumps(v, flags | JSON_ENCODE_ANY);
	if (!s)
		return hl_error("cannot dump JSON: out of memory or a value jansson cannot encode");
	if (newline) {
		n = strlen(s);
		grown = realloc(s, n + 2);
		if (!grown) {
			free(s);
			return hl_error("cannot dump JSON: out of memory");
		}
		s = grown;
		s[n] = '\n';
		s[n + 1] = '\0';
	}
	*out = s;
	return 0;
}

/*
 * The compact text hl_json_dump() writes, byte for byte what jansson's
 * json_dumps(JSON_COMPACT | JSON_ENCODE_ANY) gives, made faster: ASCII
 * strings (base64 fields, names) are copied by runs instead of one
 * character at a time; a string with other bytes and a real number are
 * written by jansson itself.
 */
struct dump {
	char *text;
	size_t len, size;
	int failed;
};

/* Nesting deeper than this is refused (a value built by this program never is). */
#define DUMP_DEPTH_MAX 2048

static void dump_put(struct dump *d, const char *p, size_t n)
{
	size_t want;
	char *grown;

	if (d->failed || n == 0)
		return;
	if (d->len + n + 1 > d->size) {
		want = d->size ? d->size : 256;
		while (want < d->len + n + 1)
			want *= 2;
		if (!(grown = realloc(d->text, want))) {
			d->failed = 1;
			return;
		}
		d->text = grown;
		d->size = want;
	}
	memcpy(d->text + d->len, p, n);
	d->len += n;
	d->text[d->len] = '\0';
}

/* A value written by jansson (compact), appended. */
static void dump_by_jansson(struct dump *d, const json_t *v)
{
	char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);

	if (!s) {
		d->failed = 1;
		return;
	}
	dump_put(d, s, strlen(s));
	free(s);
}

/* String S of N bytes, quoted and escaped as jansson does. */
static void dump_string(struct dump *d, const char *s, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t run = 0;
	char esc[7] = "\\u00";
	json_t *other;

	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] > 0x7f) {
			if (!(other = json_stringn(s, n))) {
				d->failed = 1;   /* not UTF-8: jansson would not write it either */
				return;
			}
			dump_by_jansson(d, other);
			json_decref(other);
			return;
		}
	dump_put(d, "\"", 1);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		const char *rep;

		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		dump_put(d, s + run, i - run);
		run = i + 1;
		switch (c) {
		case '"': rep = "\\\""; break;
		case '\\': rep = "\\\\"; break;
		case '\b': rep = "\\b"; break;
		case '\f': rep = "\\f"; break;
		case '\n': rep = "\\n"; break;
		case '\r': rep = "\\r"; break;
		case '\t': rep = "\\t"; break;
		default:
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			esc[6] = '\0';
			rep = esc;
		}
		dump_put(d, rep, strlen(rep));
	}
	dump_put(d, s + run, n - run);
	dump_put(d, "\"", 1);
}

static void dump_value(struct dump *d, const json_t *v, int depth)
{
	char num[32];
	size_t i = 0;
	void *it;

	if (depth > DUMP_DEPTH_MAX) {
		d->failed = 1;
		return;
	}
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		dump_put(d, "{", 1);
		for (it = json_object_iter((json_t *)v); it;
		     it = json_object_iter_next((json_t *)v, it)) {
			if (i++)
				dump_put(d, ",", 1);
			dump_string(d, json_object_iter_key(it), json_object_iter_key_len(it));
			dump_put(d, ":", 1);
			dump_value(d, json_object_iter_value(it), depth + 1);
		}
		dump_put(d, "}", 1);
		break;
	case JSON_ARRAY:
		dump_put(d, "[", 1);
		for (i = 0; i < json_array_size(v); i++) {
			if (i)
				dump_put(d, ",", 1);
			dump_value(d, json_array_get(v, i), depth + 1);
		}
		dump_put(d, "]", 1);
		break;
	case JSON_STRING:
		dump_string(d, json_string_value(v), json_string_length(v));
		break;
	case JSON_INTEGER:
		snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		dump_put(d, num, strlen(num));
		break;
	case JSON_TRUE:
		dump_put(d, "true", 4);
		break;
	case JSON_FALSE:
		dump_put(d, "false", 5);
		break;
	case JSON_NULL:
		dump_put(d, "null", 4);
		break;
	default:
		dump_by_jansson(d, v);   /* a real number */
	}
}

int hl_json_dump(const json_t *v, char **out)
{
	struct dump d = { NULL, 0, 0, 0 };

	*out = NULL;
	if (!v)
		return hl_error("cannot dump JSON: no value");
	dump_value(&d, v, 0);
	if (d.failed || !d.text) {
		free(d.text);
		return hl_error("cannot dump JSON: out of memory or a value jansson cannot encode");
	}
	*out = d.text;
	return 0;
}

int hl_json_dump_pretty(const json_t *v, char **out)
{
	return json_dump_flags(v, JSON_INDENT(2), 1, out);
}

/* 0 when OBJ has exactly the N members NAMES (WHAT names OBJ in messages). */
int hl_json_members_exact(const json_t *obj, const char *const *names, size_t n,
			  const char *what)
{
	const char *key;
	json_t *v;
	size_t i;

	if (!json_is_object(obj))
		return hl_error("%s must be a JSON object", what);
	json_object_foreach((json_t *)obj, key, v) {
		for (i = 0; i < n; i++)
			if (strcmp(key, names[i]) == 0)
				break;
		if (i == n)
			return hl_error("%s has an unknown field '%.64s'", what, key);
	}
	for (i = 0; i < n; i++)
		if (!json_object_get(obj, names[i]))
			return hl_error("%s lacks field '%s'", what, names[i]);
	return 0;
}

/* T as "YYYY-MM-DDTHH:MM:SSZ". */
int hl_json_time_format(time_t t, char out[HL_JSON_TIME_SIZE])
{
	struct tm tm;

	if (!gmtime_r(&t, &tm) || strftime(out, HL_JSON_TIME_SIZE, "%Y-%m-%dT%H:%M:%SZ", &tm) !=
	    HL_JSON_TIME_SIZE - 1) {
		out[0] = '\0';
		return hl_error("cannot format time %lld", (long long)t);
	}
	return 0;
}

/* 0 when S is "YYYY-MM-DDTHH:MM:SSZ" and a valid time. */
int hl_json_time_check(const char *s, const char *field)
{
	static const char shape[] = "dddd-dd-ddTdd:dd:ddZ";
	struct tm tm;
	const char *end;
	size_t i;

	if (strlen(s) != sizeof(shape) - 1)
		return hl_error("field '%s' must look like 2026-11-28T17:21:05Z", field);
	for (i = 0; shape[i]; i++) {
		if (shape[i] == 'd' ? !isdigit((unsigned char)s[i]) : s[i] != shape[i])
			return hl_error("field '%s' must look like 2026-11-28T17:21:05Z", field);
	}
	memset(&tm, 0, sizeof(tm));
	end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (!end || *end)
		return hl_error("field '%s' is not a valid time", field);
	return 0;
}
