/*
 * fsk.c - specialization data (see fsk.h and docs/templates.md): the .fsk
 * writer and strict reader, placeholders (finding and substituting them),
 * and the template's generalized.json listing the files that hold them.
 * JSON through lib/json (jansson); nothing here touches the file system.
 */
#include "proto/fsk.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "lib/err.h"
#include "lib/json.h"

/* 1 when C may stand between the '@'s of a placeholder. */
static int key_char(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '_';
}

/*
 * The length of the placeholder starting at P[0] == '@' within LEN bytes
 * (its two '@'s included), or 0 when none starts there.
 */
static size_t placeholder_at(const unsigned char *p, size_t len)
{
	size_t i;

	if (len < 3 || p[0] != '@')
		return 0;
	for (i = 1; i < len && i <= HL_FSK_KEY_SIZE - 3 && key_char(p[i]); i++)
		;
	if (i >= 2 && i < len && p[i] == '@')
		return i + 1;
	return 0;
}

/* "@Name@". */
int hl_fsk_key_check(const char *key)
{
	size_t n = key ? strlen(key) : 0;

	if (n < 3 || n > HL_FSK_KEY_SIZE - 1 || placeholder_at((const unsigned char *)key, n) != n)
		return hl_error("bad placeholder '%.80s': write '@', 1 to %d of A-Z a-z 0-9 _, and "
				"'@', e.g. @ComputerName@", key ? key : "", HL_FSK_KEY_SIZE - 3);
	return 0;
}

/* UTF-8 text without control characters, at most HL_FSK_VALUE_MAX bytes. */
int hl_fsk_value_check(const char *key, const char *value)
{
	size_t n = value ? strlen(value) : 0, i;
	json_t *s;

	if (!value)
		return hl_error("placeholder %s has no value", key);
	if (n > HL_FSK_VALUE_MAX)
		return hl_error("the value of %s is %zu bytes: at most %d", key, n, HL_FSK_VALUE_MAX);
	for (i = 0; i < n; i++)
		if ((unsigned char)value[i] < 0x20 || value[i] == 0x7f)
			return hl_error("the value of %s holds control character 0x%02x", key,
					(unsigned char)value[i]);
	s = json_string(value);
	if (!s)
		return hl_error("the value of %s is not UTF-8 text", key);
	json_decref(s);
	return 0;
}

/* A .fsk of N values. */
int hl_fsk_make(const struct hl_fsk_value *values, size_t n, struct hl_buf *out)
{
	json_t *root = NULL, *vals = NULL;
	char *text = NULL;
	size_t i;
	int rc = -1;

	out->data = NULL;
	out->len = 0;
	if (n > HL_FSK_MAX_VALUES) {
		hl_error("%zu values: at most %d", n, HL_FSK_MAX_VALUES);
		goto out;
	}
	vals = json_object();
	if (!vals) {
		hl_error("out of memory");
		goto out;
	}
	for (i = 0; i < n; i++) {
		if (hl_fsk_key_check(values[i].key) < 0 ||
		    hl_fsk_value_check(values[i].key, values[i].value) < 0)
			goto out;
		if (json_object_get(vals, values[i].key)) {
			hl_error("placeholder %s is given twice", values[i].key);
			goto out;
		}
		if (json_object_set_new(vals, values[i].key, json_string(values[i].value)) < 0) {
			hl_error("out of memory");
			goto out;
		}
	}
	root = json_pack("{s:s, s:i, s:O}", "format", HL_FSK_FORMAT, "version", HL_FSK_VERSION,
			 "values", vals);
	if (!root) {
		hl_error("out of memory");
		goto out;
	}
	if (hl_json_dump_pretty(root, &text) < 0)
		goto out;
	out->data = (unsigned char *)text;
	out->len = strlen(text);
	rc = 0;
out:
	if (rc < 0)
		hl_error_wrap("cannot make the specialization data file");
	json_decref(vals);
	json_decref(root);
	return rc;
}

/* Parse a .fsk strictly. */
int hl_fsk_parse(const void *data, size_t len, struct hl_fsk **out)
{
	static const char *const members[] = { "format", "version", "values" };
	struct hl_fsk *f = NULL;
	json_t *root = NULL, *vals, *v;
	json_int_t version;
	const char *key;
	int rc = -1, wrap = 1;

	*out = NULL;
	if (!data || len == 0) {
		hl_error("the file is empty");
		goto out;
	}
	if (len > HL_FSK_MAX_SIZE) {
		hl_error("%zu bytes is larger than the %zu allowed", len, HL_FSK_MAX_SIZE);
		goto out;
	}
	if (hl_json_parse(data, len, HL_FSK_MAX_SIZE, &root) < 0)
		goto out;
	if (!json_is_object(root)) {
		hl_error("not a JSON object");
		goto out;
	}
	v = json_object_get(root, "format");
	if (!json_is_string(v) || strcmp(json_string_value(v), HL_FSK_FORMAT) != 0) {
		hl_error("field 'format' must be \"%s\": this is not an hgslab specialization data "
			 "file", HL_FSK_FORMAT);
		goto out;
	}
	if (hl_json_get_int(root, "version", &version) < 0)
		goto out;
	if (version != HL_FSK_VERSION) {
		hl_error("specialization data version %lld is not supported; this hgslab reads "
			 "version %d", (long long)version, HL_FSK_VERSION);
		wrap = 0;
		goto out;
	}
	if (hl_json_members_exact(root, members, 3, "the specialization data file") < 0 ||
	    hl_json_get_object(root, "values", &vals) < 0)
		goto out;
	if (json_object_size(vals) > HL_FSK_MAX_VALUES) {
		hl_error("field 'values' holds %zu values: at most %d", json_object_size(vals),
			 HL_FSK_MAX_VALUES);
		goto out;
	}
	f = calloc(1, sizeof(*f));
	if (!f || !(f->values = calloc(json_object_size(vals) + 1, sizeof(*f->values)))) {
		hl_error("out of memory");
		goto out;
	}
	json_object_foreach(vals, key, v) {
		struct hl_fsk_value *e = &f->values[f->n];

		if (hl_fsk_key_check(key) < 0)
			goto out;
		if (!json_is_string(v)) {
			hl_error("the value of %s must be a string", key);
			goto out;
		}
		if (hl_fsk_value_check(key, json_string_value(v)) < 0)
			goto out;
		memcpy(e->key, key, strlen(key) + 1);
		e->value = strdup(json_string_value(v));
		if (!e->value) {
			hl_error("out of memory");
			goto out;
		}
		f->n++;
	}
	*out = f;
	f = NULL;
	rc = 0;
out:
	if (rc < 0 && wrap)
		hl_error_wrap("bad specialization data file");
	hl_fsk_free(f);
	json_decref(root);
	return rc;
}

/* Free a parsed .fsk. */
void hl_fsk_free(struct hl_fsk *f)
{
	size_t i;

	if (!f)
		return;
	for (i = 0; i < f->n; i++)
		free(f->values[i].value);
	free(f->values);
	free(f);
}

/* The value of KEY. */
const char *hl_fsk_get(const struct hl_fsk *f, const char *key)
{
	size_t i;

	for (i = 0; f && key && i < f->n; i++)
		if (strcmp(f->values[i].key, key) == 0)
			return f->values[i].value;
	return NULL;
}

/* 1 when DATA holds a placeholder. */
int hl_fsk_has_placeholder(const void *data, size_t len)
{
	const unsigned char *p = data, *at;

	while (p && len && (at = memchr(p, '@', len))) {
		len -= (size_t)(at - p);
		if (placeholder_at(at, len))
			return 1;
		p = at + 1;
		len--;
	}
	return 0;
}

/* Append LEN bytes at P to B (capacity *CAP), growing it. */
static int buf_append(struct hl_buf *b, size_t *cap, const void *p, size_t len)
{
	if (b->len + len + 1 > *cap) {
		size_t ncap = (b->len + len + 1) * 2;
		unsigned char *n = malloc(ncap);

		if (!n)
			return hl_error("out of memory");
		if (b->len)
			memcpy(n, b->data, b->len);
		hl_crypto_cleanse(b->data, b->len);
		free(b->data);
		b->data = n;
		*cap = ncap;
	}
	memcpy(b->data + b->len, p, len);
	b->len += len;
	b->data[b->len] = '\0';
	return 0;
}

/* Substitute the known placeholders of IN into OUT. */
int hl_fsk_substitute(const struct hl_fsk *f, const void *in, size_t len, struct hl_buf *out,
		      size_t *replaced)
{
	const unsigned char *p = in;
	struct hl_buf b = { NULL, 0 };
	char key[HL_FSK_KEY_SIZE];
	size_t i = 0, cap = 0, n = 0, k;
	const char *v;

	out->data = NULL;
	out->len = 0;
	if (replaced)
		*replaced = 0;
	if (buf_append(&b, &cap, "", 0) < 0)
		return -1;
	while (i < len) {
		k = p[i] == '@' ? placeholder_at(p + i, len - i) : 0;
		if (k) {
			memcpy(key, p + i, k);
			key[k] = '\0';
		}
		if (k && (v = hl_fsk_get(f, key))) {
			if (buf_append(&b, &cap, v, strlen(v)) < 0)
				goto fail;
			i += k;
			n++;
		} else {
			const unsigned char *at = memchr(p + i + 1, '@', len - i - 1);
			size_t run = at ? (size_t)(at - (p + i)) : len - i;

			if (buf_append(&b, &cap, p + i, run) < 0)
				goto fail;
			i += run;
		}
	}
	*out = b;
	if (replaced)
		*replaced = n;
	return 0;
fail:
	hl_buf_free(&b);
	return -1;
}

/* A relative path inside an image. */
int hl_fsk_path_check(const char *path)
{
	size_t n = path ? strlen(path) : 0, i, start = 0;

	if (n == 0 || n > HL_FSK_PATH_MAX)
		return hl_error("bad path '%.80s': give 1 to %d characters", path ? path : "",
				HL_FSK_PATH_MAX);
	for (i = 0; i < n; i++)
		if ((unsigned char)path[i] < 0x20 || path[i] == 0x7f)
			return hl_error("bad path '%.80s': it holds a control character", path);
	if (path[0] == '/')
		return hl_error("bad path '%.80s': give it relative to the image's root", path);
	for (i = 0; i <= n; i++) {
		if (i == n || path[i] == '/') {
			size_t c = i - start;

			if (c == 0 || (c == 1 && path[start] == '.') ||
			    (c == 2 && path[start] == '.' && path[start + 1] == '.'))
				return hl_error("bad path '%.80s': no empty, '.' or '..' component",
						path);
			start = i + 1;
		}
	}
	return 0;
}

/* generalized.json of N files. */
int hl_fsk_generalized_make(const char *const *files, size_t n, struct hl_buf *out)
{
	json_t *root = NULL, *arr = json_array();
	char *text = NULL;
	size_t i, j;
	int rc = -1;

	out->data = NULL;
	out->len = 0;
	if (!arr) {
		hl_error("out of memory");
		goto out;
	}
	if (n > HL_FSK_GENERALIZED_MAX_FILES) {
		hl_error("%zu files hold placeholders: at most %d", n, HL_FSK_GENERALIZED_MAX_FILES);
		goto out;
	}
	for (i = 0; i < n; i++) {
		if (hl_fsk_path_check(files[i]) < 0)
			goto out;
		for (j = 0; j < i; j++)
			if (strcmp(files[i], files[j]) == 0) {
				hl_error("path '%s' is listed twice", files[i]);
				goto out;
			}
		if (json_array_append_new(arr, json_string(files[i])) < 0) {
			hl_error("path '%.80s' is not UTF-8", files[i]);
			goto out;
		}
	}
	root = json_pack("{s:s, s:i, s:O}", "format", HL_FSK_GENERALIZED_FORMAT, "version",
			 HL_FSK_GENERALIZED_VERSION, "files", arr);
	if (!root || hl_json_dump_pretty(root, &text) < 0) {
		if (!root)
			hl_error("out of memory");
		goto out;
	}
	out->data = (unsigned char *)text;
	out->len = strlen(text);
	rc = 0;
out:
	json_decref(arr);
	json_decref(root);
	return rc;
}

/* Parse generalized.json strictly. */
int hl_fsk_generalized_parse(const void *data, size_t len, char ***files, size_t *n)
{
	static const char *const members[] = { "format", "version", "files" };
	json_t *root = NULL, *arr, *v;
	json_int_t version;
	const char *s;
	char **list = NULL;
	size_t i, j, count = 0;
	int rc = -1;

	*files = NULL;
	*n = 0;
	if (!data || len == 0) {
		hl_error("the file is empty");
		goto out;
	}
	if (hl_json_parse(data, len, HL_FSK_GENERALIZED_MAX_SIZE, &root) < 0)
		goto out;
	if (hl_json_members_exact(root, members, 3, "the document") < 0 ||
	    hl_json_get_string(root, "format", &s) < 0)
		goto out;
	if (strcmp(s, HL_FSK_GENERALIZED_FORMAT) != 0) {
		hl_error("field 'format' must be \"%s\"", HL_FSK_GENERALIZED_FORMAT);
		goto out;
	}
	if (hl_json_get_int(root, "version", &version) < 0)
		goto out;
	if (version != HL_FSK_GENERALIZED_VERSION) {
		hl_error("version %lld is not supported; this hgslab reads version %d",
			 (long long)version, HL_FSK_GENERALIZED_VERSION);
		goto out;
	}
	if (hl_json_get_array(root, "files", &arr) < 0)
		goto out;
	if (json_array_size(arr) > HL_FSK_GENERALIZED_MAX_FILES) {
		hl_error("field 'files' lists %zu files: at most %d", json_array_size(arr),
			 HL_FSK_GENERALIZED_MAX_FILES);
		goto out;
	}
	list = calloc(json_array_size(arr) + 1, sizeof(*list));
	if (!list) {
		hl_error("out of memory");
		goto out;
	}
	json_array_foreach(arr, i, v) {
		if (!json_is_string(v)) {
			hl_error("files[%zu] must be a string", i);
			goto out;
		}
		if (hl_fsk_path_check(json_string_value(v)) < 0)
			goto out;
		for (j = 0; j < count; j++)
			if (strcmp(list[j], json_string_value(v)) == 0) {
				hl_error("path '%s' is listed twice", list[j]);
				goto out;
			}
		if (!(list[count] = strdup(json_string_value(v)))) {
			hl_error("out of memory");
			goto out;
		}
		count++;
	}
	*files = list;
	*n = count;
	list = NULL;
	rc = 0;
out:
	if (rc < 0)
		hl_error_wrap("bad generalized.json");
	for (i = 0; list && i < count; i++)
		free(list[i]);
	free(list);
	json_decref(root);
	return rc;
}
