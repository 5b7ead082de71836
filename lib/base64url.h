/*
 * base64url.h - base64url without padding (RFC 4648 section 5, the form JWS
 * and JWT use, RFC 7515 section 2): the alphabet A-Z a-z 0-9 '-' '_', no '='.
 *
 * Decoding is strict, so that every value has exactly one encoding (no
 * malleable tokens): only alphabet characters, no padding, no whitespace, a
 * length that some value encodes to (not 1 modulo 4), and the unused bits
 * of the last character zero.  Both directions go through lib/crypto's
 * strict standard base64, so the project has one base64.
 *
 * Contract (lib/err.h): 0 on success, -1 after hl_error(); outputs are
 * cleared on entry and set only on success.
 */
#ifndef HGSLAB_LIB_BASE64URL_H
#define HGSLAB_LIB_BASE64URL_H

#include <stddef.h>

#include "lib/crypto.h"

/* Encode LEN bytes of DATA as unpadded base64url into *OUT (malloc'd C string). */
int hl_base64url_encode(const void *data, size_t len, char **out);

/*
 * Decode LEN characters of unpadded base64url at TEXT into OUT (its data
 * NUL-terminated after the last byte).  WHAT names the text in messages
 * ("the ticket's header"): "WHAT is not base64url: character 3 is not in
 * [A-Za-z0-9_-]".
 */
int hl_base64url_decode(const char *text, size_t len, const char *what, struct hl_buf *out);

#endif
