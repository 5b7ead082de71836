/*
 * json.h - thin helpers over jansson for hgslab's wire formats.
 *
 * Callers build and walk documents with jansson's json_t directly; these
 * helpers cover what every caller would otherwise repeat: parsing outside
 * input with a size limit and a message naming line and column, typed getters
 * of object members with messages naming the field, base64 fields (TPM
 * structures, keys and certificates travel as standard base64 with padding),
 * and dumping to a malloc'd string.
 *
 * Contract: functions return 0 on success and -1 after hl_error(); out
 * parameters are cleared on entry and set only on success.  Strings and
 * values handed out by the getters are borrowed from the object: they live as
 * long as the object does and must not be freed.  Buffers handed out by
 * parse, dump and base64 decode/encode belong to the caller (json_decref()
 * or free()).  A caller holding secret bytes should OPENSSL_cleanse() them
 * before free().
 */
#ifndef HGSLAB_LIB_JSON_H
#define HGSLAB_LIB_JSON_H

#include <jansson.h>
#include <stddef.h>
#include <time.h>

#include "lib/err.h"

/* Size limit hl_json_parse() applies when given max_len 0 (1 MiB). */
#define HL_JSON_MAX_DEFAULT ((size_t)1 << 20)

/*
 * Parse LEN bytes at BUF (no terminating NUL needed) as one JSON value of any
 * type.  Input over MAX_LEN bytes (0 = HL_JSON_MAX_DEFAULT), duplicate object
 * keys, NUL characters, trailing data and invalid UTF-8 are refused with
 * "bad JSON at line L, column C: <jansson's reason>" (the reason is reduced
 * to printable ASCII).  *OUT gets a new reference.
 */
int hl_json_parse(const void *buf, size_t len, size_t max_len, json_t **out);

/*
 * Typed getters of member NAME of object OBJ.  The required form fails with
 * "field 'NAME' is missing" or "field 'NAME' must be a string, got an
 * integer" (and "expected a JSON object with field 'NAME', got an array" when
 * OBJ is not an object).  The _opt form treats a missing member or JSON null
 * as absent and then stores DEF (or NULL for objects and arrays); a present
 * member of the wrong type is still an error.
 */
int hl_json_get_string(const json_t *obj, const char *name, const char **out);
int hl_json_get_string_opt(const json_t *obj, const char *name, const char *def,
			   const char **out);
int hl_json_get_int(const json_t *obj, const char *name, json_int_t *out);
int hl_json_get_int_opt(const json_t *obj, const char *name, json_int_t def, json_int_t *out);
int hl_json_get_bool(const json_t *obj, const char *name, int *out);
int hl_json_get_bool_opt(const json_t *obj, const char *name, int def, int *out);
int hl_json_get_object(const json_t *obj, const char *name, json_t **out);
int hl_json_get_object_opt(const json_t *obj, const char *name, json_t **out);
int hl_json_get_array(const json_t *obj, const char *name, json_t **out);
int hl_json_get_array_opt(const json_t *obj, const char *name, json_t **out);

/*
 * Member NAME of OBJ as a base64 string, decoded into a new buffer *OUT of
 * *OUT_LEN bytes (NUL-terminated one past the end for convenience; an empty
 * string gives a valid zero-length buffer).  Errors name the field and the
 * first bad character.  The _opt form gives *OUT = NULL, *OUT_LEN = 0 when the
 * member is missing or null.
 */
int hl_json_get_base64(const json_t *obj, const char *name, unsigned char **out, size_t *out_len);
int hl_json_get_base64_opt(const json_t *obj, const char *name, unsigned char **out,
			   size_t *out_len);

/* Set member NAME of OBJ to DATA[0..LEN) encoded as a base64 string. */
int hl_json_set_base64(json_t *obj, const char *name, const void *data, size_t len);

/* Encode DATA[0..LEN) as standard base64 with padding into a new string *OUT. */
int hl_json_base64_encode(const void *data, size_t len, char **out);

/*
 * Decode LEN characters of standard base64 at STR (alphabet A-Z a-z 0-9 + /,
 * length a multiple of 4, at most two '=' only at the end; no whitespace)
 * into a new buffer *OUT of *OUT_LEN bytes, NUL-terminated one past the end.
 */
int hl_json_base64_decode(const char *str, size_t len, unsigned char **out, size_t *out_len);

/*
 * 0 when OBJ is an object whose members are exactly the N NAMES (each
 * present, no other); else -1 with "WHAT must be a JSON object", "WHAT has
 * an unknown field 'X'" or "WHAT lacks field 'X'".  For strict formats.
 */
int hl_json_members_exact(const json_t *obj, const char *const *names, size_t n,
			  const char *what);

/* Size of an RFC 3339 UTC time "2026-11-28T17:21:05Z" with its NUL. */
#define HL_JSON_TIME_SIZE 21

/* Format T as an RFC 3339 UTC time "2026-11-28T17:21:05Z" into OUT. */
int hl_json_time_format(time_t t, char out[HL_JSON_TIME_SIZE]);

/*
 * 0 when S is an RFC 3339 UTC time exactly as hl_json_time_format writes
 * it; else -1 with "field 'FIELD' must look like 2026-11-28T17:21:05Z" or
 * "field 'FIELD' is not a valid time".
 */
int hl_json_time_check(const char *s, const char *field);

/* Dump V compactly (no spaces, no newline) into a new string *OUT. */
int hl_json_dump(const json_t *v, char **out);

/* Dump V indented by two spaces, ending in a newline, into a new string *OUT. */
int hl_json_dump_pretty(const json_t *v, char **out);

#endif
