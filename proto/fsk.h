/*
 * fsk.h - specialization: the values a new VM's generalized template is
 * filled in with (the `.fsk` file, New-ShieldedVMSpecializationDataFile) and
 * the template's list of files that hold placeholders
 * (/.hgslab/generalized.json inside the image).  The tenant writes both
 * (tenant/template.c, tenant/shielding.c); the guest agent reads them and
 * substitutes.  docs/templates.md is the reference:
 *
 *   .fsk:  {"format":"hgslab-fsk","version":1,
 *           "values":{"@ComputerName@":"Web01","@Domain@":"contoso.com",...}}
 *   generalized.json:
 *          {"format":"hgslab-generalized","version":1,"files":["etc/hostname",...]}
 *
 * Keys are placeholders: '@', 1 to 64 of A-Z a-z 0-9 _, '@'.  Values are
 * UTF-8 text of at most HL_FSK_VALUE_MAX bytes without control characters.
 * A .fsk is not secret (it travels in clear to the host and the guest):
 * secrets belong in the shielding data's answer file (proto/pdk.h).
 * generalized.json lists relative paths inside the image (no leading '/',
 * no '.' or '..' component, no empty component).
 *
 * Depends only on lib/err, lib/crypto and lib/json (the guest agent
 * compiles it); no file I/O.  Contract (lib/err.h): 0 on success, -1 after
 * hl_error(); outputs cleared on entry and set only on success; destructors
 * NULL-safe; malformed input refused with a message, never a crash.
 */
#ifndef HGSLAB_PROTO_FSK_H
#define HGSLAB_PROTO_FSK_H

#include <stddef.h>

#include "lib/crypto.h"

#define HL_FSK_FORMAT "hgslab-fsk"
#define HL_FSK_VERSION 1
/* Largest .fsk accepted (256 KiB). */
#define HL_FSK_MAX_SIZE ((size_t)256 << 10)
/* Most values one .fsk holds. */
#define HL_FSK_MAX_VALUES 128
/* A placeholder "@Name@": '@', 1 to 64 characters, '@', NUL. */
#define HL_FSK_KEY_SIZE 67
/* Longest value in bytes. */
#define HL_FSK_VALUE_MAX 1024

#define HL_FSK_GENERALIZED_FORMAT "hgslab-generalized"
#define HL_FSK_GENERALIZED_VERSION 1
/* Where the list lives inside a template's image. */
#define HL_FSK_GENERALIZED_PATH ".hgslab/generalized.json"
/* Largest generalized.json accepted, most files it lists, longest path. */
#define HL_FSK_GENERALIZED_MAX_SIZE ((size_t)256 << 10)
#define HL_FSK_GENERALIZED_MAX_FILES 1024
#define HL_FSK_PATH_MAX 255

/* One value: placeholder and text (borrowed when handed to hl_fsk_make). */
struct hl_fsk_value {
	char key[HL_FSK_KEY_SIZE];
	char *value;
};

/* A parsed .fsk.  Invariants: n <= HL_FSK_MAX_VALUES, keys unique and valid, values valid. */
struct hl_fsk {
	struct hl_fsk_value *values;
	size_t n;
};

/* 0 when KEY is a placeholder "@Name@" as documented; else -1 saying the rule. */
int hl_fsk_key_check(const char *key);

/* 0 when VALUE is a valid value for KEY (UTF-8, no control characters, capped). */
int hl_fsk_value_check(const char *key, const char *value);

/* The bytes of a .fsk of the N VALUES (indented JSON, keys in order) into OUT; duplicates refused. */
int hl_fsk_make(const struct hl_fsk_value *values, size_t n, struct hl_buf *out);

/*
 * Parse LEN bytes of a .fsk strictly into *OUT (hl_fsk_free).  Another
 * version gives "specialization data version N is not supported ...";
 * other errors start with "bad specialization data file: ".
 */
int hl_fsk_parse(const void *data, size_t len, struct hl_fsk **out);

/* Free F; NULL-safe. */
void hl_fsk_free(struct hl_fsk *f);

/* The value of KEY in F, or NULL. */
const char *hl_fsk_get(const struct hl_fsk *f, const char *key);

/*
 * 1 when the LEN bytes at DATA hold a placeholder (an '@', 1 to 64 of
 * A-Z a-z 0-9 _, an '@'), else 0.
 */
int hl_fsk_has_placeholder(const void *data, size_t len);

/*
 * Copy the LEN bytes at IN into OUT with every placeholder that F has a
 * value for replaced by that value (left to right, no re-scan of inserted
 * text); other placeholders stay as they are.  *REPLACED (may be NULL) gets
 * how many were replaced.  OUT may hold secrets when IN does (an answer
 * file): release it with hl_buf_free, which cleanses.
 */
int hl_fsk_substitute(const struct hl_fsk *f, const void *in, size_t len, struct hl_buf *out,
		      size_t *replaced);

/* 0 when PATH is a valid relative path inside an image (see above). */
int hl_fsk_path_check(const char *path);

/* The bytes of a generalized.json listing the N FILES (valid paths, no duplicates) into OUT. */
int hl_fsk_generalized_make(const char *const *files, size_t n, struct hl_buf *out);

/*
 * Parse LEN bytes of a generalized.json strictly into *FILES (*N paths;
 * free each and the array with free()).  Errors start with "bad
 * generalized.json: ".
 */
int hl_fsk_generalized_parse(const void *data, size_t len, char ***files, size_t *n);

#endif
