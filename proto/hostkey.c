/*
 * hostkey.c - the host-key proof-of-possession message (hostkey.h), built
 * the same way by the host that signs it and by HGS that verifies it; and
 * the request carrying it, as HGS's host-key and AD routes read it.
 */
#include "proto/hostkey.h"

#include <stdlib.h>
#include <string.h>

#include "lib/err.h"
#include "lib/json.h"
#include "proto/names.h"

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

/* Read PEM public key field NAME of OBJ into *OUT; -1 with a message naming the field. */
static int get_pubkey(const json_t *obj, const char *name, EVP_PKEY **out)
{
	const char *pem;

	*out = NULL;
	if (hl_json_get_string(obj, name, &pem) < 0)
		return -1;
	if (hl_key_pub_from_pem(pem, strlen(pem), out) < 0)
		return hl_error_wrap("field '%s'", name);
	return 0;
}

/* The request's members, in order. */
int hostkey_request_read(const json_t *body, enum hostkey_claim claim, struct hostkey_request *r)
{
	memset(r, 0, sizeof(*r));
	if (hl_json_get_string(body, "host", &r->host) < 0 ||
	    hl_name_registration("host name", r->host) < 0 ||
	    hl_json_get_base64(body, "nonce", &r->nonce, &r->nonce_len) < 0 ||
	    (claim == HOSTKEY_CLAIM_HOST_KEY ? get_pubkey(body, "host_key", &r->host_key)
					     : hl_json_get_string(body, "ticket", &r->ticket)) < 0 ||
	    get_pubkey(body, "transport_key", &r->transport) < 0 ||
	    hl_json_get_base64(body, "signature", &r->sig, &r->sig_len) < 0)
		return -1;
	return 0;
}

/* Keys are released to the transport key with RSA-OAEP: RSA only. */
int hostkey_request_check_transport(const struct hostkey_request *r)
{
	enum hl_key_type kt;

	if (hl_key_type_of(r->transport, &kt) < 0 || (kt != HL_KEY_RSA2048 && kt != HL_KEY_RSA3072))
		return hl_error("field 'transport_key' must be an RSA 2048 or 3072 public key: keys "
				"are released to it with RSA-OAEP");
	return 0;
}

/* Verify R's signature over nonce || transport key with KEY. */
int hostkey_request_verify(const struct hostkey_request *r, EVP_PKEY *key)
{
	struct hl_buf msg = { 0 };
	int ok;

	if (hostkey_message(r->nonce, r->nonce_len, r->transport, &msg) < 0)
		return -1;
	ok = hl_crypto_verify(key, HL_SIG_DEFAULT, msg.data, msg.len, r->sig, r->sig_len) == 0;
	hl_buf_free(&msg);
	return ok;
}

/* Free R's nonce, signature and keys. */
void hostkey_request_release(struct hostkey_request *r)
{
	if (!r)
		return;
	free(r->nonce);
	free(r->sig);
	hl_key_free(r->host_key);
	hl_key_free(r->transport);
	memset(r, 0, sizeof(*r));
}
