/*
 * hostkey.c - the host-key proof-of-possession message (hostkey.h), built
 * the same way by the host that signs it and by HGS that verifies it.
 */
#include "proto/hostkey.h"

#include <stdlib.h>
#include <string.h>

#include "lib/err.h"

/* The signed message: nonce || DER of the transport key. */
int hostkey_message(const unsigned char *nonce, size_t len, EVP_PKEY *transport_key,
		    struct hl_buf *out)
{
	struct hl_buf der = { 0 };
	unsigned char *msg;

	out->data = NULL;
	out->len = 0;
	if (hl_key_pub_to_der(transport_key, &der) < 0)
		return -1;
	msg = malloc(len + der.len + 1);
	if (!msg) {
		hl_buf_free(&der);
		return hl_error("out of memory");
	}
	memcpy(msg, nonce, len);
	memcpy(msg + len, der.data, der.len);
	msg[len + der.len] = '\0';
	out->data = msg;
	out->len = len + der.len;
	hl_buf_free(&der);
	return 0;
}
