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
 * Contract (lib/err.h): 0 on success, -1 after hl_error(); OUT is cleared on
 * entry and set only on success.
 */
#ifndef HGSLAB_PROTO_HOSTKEY_H
#define HGSLAB_PROTO_HOSTKEY_H

#include <stddef.h>

#include <openssl/evp.h>

#include "lib/crypto.h"

/* The bytes a host signs: NONCE (LEN bytes) || DER SubjectPublicKeyInfo of TRANSPORT_KEY. */
int hostkey_message(const unsigned char *nonce, size_t len, EVP_PKEY *transport_key,
		    struct hl_buf *out);

#endif
