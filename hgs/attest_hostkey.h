/*
 * attest_hostkey.h - host key attestation (Add-HgsAttestationHostKey mode).
 *
 * A host registered with `hgslab hgs add-host-key --name N --key FILE`
 * proves possession of that key over a fresh nonce:
 *
 *   POST /Attestation/v1/hostkey/attest
 *   {"host": "FabricHost1", "nonce": "<base64>", "host_key": "<PEM public key>",
 *    "transport_key": "<PEM RSA public key>", "signature": "<base64>"}
 *
 * signature = Sign(host private key, SHA-256, nonce || DER(transport_key)),
 * RSA-PSS for RSA host keys (any salt length), ECDSA (DER) for P-256 keys
 * (the message is proto/hostkey.h's).
 * The nonce is checked first (single use, expiry), then the host key must
 * be registered under the name HOST, then the signature must verify; Passed
 * gives a health certificate binding the transport key.  Refusals are
 * UnauthorizedHost with the reason; every attempt is in the attestation log.
 * docs/attestation-protocol.md has the whole exchange.
 */
#ifndef HGSLAB_HGS_ATTEST_HOSTKEY_H
#define HGSLAB_HGS_ATTEST_HOSTKEY_H

#include "hgs/serve.h"

extern const struct hgs_route hgs_hostkey_routes[];

#endif
