/*
 * hostkey.h - the message a host signs to prove possession of its key over
 * a fresh HGS nonce, in host-key mode and in AD mode (with the machine key):
 *
 *   signature = Sign(host private key, SHA-256, nonce || DER(transport_key))
 *
 * RSA-PSS for RSA keys, ECDSA (DER) for P-256 keys (lib/crypto's
 * HL_SIG_DEFAULT).  Binding the transport key into the signed bytes is what
 * lets HGS issue a health certificate for exactly that key.  The host builds
 * the message to sign it (hosts/hgs_client.c, hosts/ad_client.c), HGS builds
 * it to verify it (hgs/attest_hostkey.c, hgs/attest_ad.c);
 * docs/attestation-protocol.md has the exchanges.
 *
 * The request that carries it is read here too, as both HGS routes read it
 * (struct hostkey_request): the members both modes send, and the claim of
 * the mode's own (the host key, or the AD ticket).
 *
 * Contract (lib/err.h): 0 on success, -1 after hl_error(); OUT is cleared on
 * entry and set only on success.
 */
#ifndef HGSLAB_PROTO_HOSTKEY_H
#define HGSLAB_PROTO_HOSTKEY_H

#include <stddef.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "lib/crypto.h"

/* The bytes a host signs: NONCE (LEN bytes) || DER SubjectPublicKeyInfo of TRANSPORT_KEY. */
int hostkey_message(const unsigned char *nonce, size_t len, EVP_PKEY *transport_key,
		    struct hl_buf *out);

/* The mode's own member of a request, after "host" and "nonce". */
enum hostkey_claim {
	HOSTKEY_CLAIM_HOST_KEY,       /* "host_key": the host's PEM public key (host-key mode) */
	HOSTKEY_CLAIM_TICKET,         /* "ticket": the host's AD ticket, a string (AD mode) */
};

/*
 * A proof-of-possession request as HGS reads it: host and ticket are
 * borrowed from the JSON body, the rest is owned; release it with
 * hostkey_request_release().
 */
struct hostkey_request {
	const char *host;             /* "host": a registration name */
	unsigned char *nonce;         /* "nonce", base64 */
	size_t nonce_len;
	EVP_PKEY *host_key;           /* HOSTKEY_CLAIM_HOST_KEY */
	const char *ticket;           /* HOSTKEY_CLAIM_TICKET */
	EVP_PKEY *transport;          /* "transport_key", PEM */
	unsigned char *sig;           /* "signature", base64: over hostkey_message() */
	size_t sig_len;
};

/*
 * Read request BODY with the mode's CLAIM into R (zeroed first), member by
 * member in the order above: the first one missing or malformed fails with a
 * message naming it.  R is to be released whatever the outcome.
 */
int hostkey_request_read(const json_t *body, enum hostkey_claim claim, struct hostkey_request *r);

/*
 * 0 when R's transport key is an RSA 2048 or 3072 key; else -1 with "field
 * 'transport_key' must be an RSA 2048 or 3072 public key: keys are released
 * to it with RSA-OAEP".
 */
int hostkey_request_check_transport(const struct hostkey_request *r);

/* 1 when R's signature over its nonce and transport key verifies with KEY, 0 when not, -1 on error. */
int hostkey_request_verify(const struct hostkey_request *r, EVP_PKEY *key);

/* Free what R owns and zero it; NULL-safe. */
void hostkey_request_release(struct hostkey_request *r);

#endif
