/*
 * ad_trust.h - the trust document of AD mode: what the HGS domain
 * (relecloud.com) needs to trust a fabric domain (fabrikam.com) one way,
 * as the real HGS domain holds a forest trust to the fabric's AD.
 *
 *   {"format": "hgslab-fabric-trust", "version": 1, "domain": "fabrikam.com",
 *    "domain_sid": "S-1-5-21-...", "domain_controller": "DC01.fabrikam.com",
 *    "dc_certificate": "<PEM>", "dc_thumbprint": "<SHA-256 hex>"}
 *
 * One writer, the fabric's `fabric export-trust` (fabric/directory.c), and
 * one reader, HGS's `hgs add-trusted-domain` and every AD attestation
 * (hgs/attest_ad.c).  The DC certificate is the key membership tickets are
 * verified with (proto/ad_ticket.h).  docs/attestation-protocol.md, "AD
 * mode", has the exchanges.
 *
 * Contract (lib/err.h): 0 on success, -1 after hl_error(); *out = NULL on
 * entry and set only on success; ad_trust_free() is NULL-safe.
 */
#ifndef HGSLAB_PROTO_AD_TRUST_H
#define HGSLAB_PROTO_AD_TRUST_H

#include <stddef.h>

#include <jansson.h>
#include <openssl/x509.h>

#include "lib/crypto.h"
#include "lib/dnsname.h"
#include "proto/names.h"

/* A SID in text form, NUL included. */
#define AD_SID_MAX HL_NAME_SID_SIZE
/* The DC's host name (NetBIOS, e.g. DC01), NUL included; its FQDN is DC01.fabrikam.com. */
#define AD_DC_NAME_MAX HL_NAME_COMPUTER_SIZE
#define AD_FQDN_MAX (AD_DC_NAME_MAX + HL_DNSNAME_MAX)

/* A trusted domain, as the trusting side keeps it. */
struct ad_trust {
	char domain[HL_DNSNAME_MAX];
	char domain_sid[AD_SID_MAX];
	char dc[AD_FQDN_MAX];             /* "DC01.fabrikam.com" */
	X509 *dc_cert;
	char dc_thumbprint[HL_SHA256_HEX_SIZE];
};

/*
 * Write the trust document of DOMAIN (its SID DOMAIN_SID, its DC's FQDN DC
 * and that DC's certificate DC_CERT, whose thumbprint it adds) into *OUT.
 */
int ad_trust_write(const char *domain, const char *domain_sid, const char *dc, X509 *dc_cert,
		   json_t **out);

/*
 * Parse and check a trust document of LEN bytes at BUF (members beyond the
 * ones above are ignored): the domain and SID are well formed, the
 * certificate parses, is self-signed and holds an RSA key, and its
 * thumbprint matches.
 */
int ad_trust_parse(const void *buf, size_t len, struct ad_trust **out);

/* Free T; NULL-safe. */
void ad_trust_free(struct ad_trust *t);

#endif
