/*
 * attest_ad.h - Active Directory attestation (TrustActiveDirectory mode,
 * "admin-trusted"): HGS passes a host whose fabric-domain membership ticket
 * is valid, comes from a domain HGS's domain trusts, and lists the SID of a
 * group registered with `hgslab hgs add-host-group` (Add-HgsAttestationHostGroup).
 * The TPM is not looked at in this mode.
 *
 *   POST /Attestation/v1/ad/attest
 *   {"host": "FabricHost1", "nonce": "<base64, from /Attestation/v1/nonce>",
 *    "ticket": "<JWS from the fabric DC>", "transport_key": "<PEM RSA public key>",
 *    "signature": "<base64>"}
 *
 * signature = Sign(machine private key, SHA-256, nonce || DER(transport_key))
 * (hostkey_message; RSA-PSS or ECDSA as the machine key's type wants).
 * Checks, in order: the request's form and the ticket's form (malformed:
 * HTTP 400, recorded); the nonce (single use, hgs_nonce_check); the
 * ticket's domain is trusted; the ticket's DC signature verifies with that
 * trust's DC certificate; the ticket is valid at the node clock (5 minutes'
 * skew, as Kerberos); the ticket names HOST; the signature verifies with the
 * machine key the ticket names (proof that the presenter is the computer);
 * one of the ticket's group SIDs (after SID filtering) is registered.  Every
 * refusal is UnauthorizedHost with the reason; Passed gives a health
 * certificate for the transport key (hgs_attest_finish).
 *
 * Trusts.  The domains HGS's domain trusts are rows of the store
 * (hgs/db_trust.h: every node of a cluster reads the same), each the trust
 * document `hgslab fabric export-trust` wrote (proto/ad_trust.h) plus
 * "added", read at every attestation, so `hgs add-trusted-domain` takes
 * effect on a running `hgs serve` and on every node.
 */
#ifndef HGSLAB_HGS_ATTEST_AD_H
#define HGSLAB_HGS_ATTEST_AD_H

#include <stddef.h>

#include <jansson.h>

#include "hgs/node.h"
#include "hgs/serve.h"
#include "proto/ad_trust.h"


extern const struct hgs_route hgs_ad_routes[];

/*
 * Trust the domain of trust document DOC (LEN bytes): refused when it is the
 * node's own domain, when the domain is already trusted (unless FORCE: then
 * its trust is replaced, e.g. after the DC key changed), or when another
 * trusted domain has the same domain SID.  DOMAIN (SIZE bytes, may be NULL)
 * gets the domain's name.
 */
int hgs_ad_trust_add(struct hgs_node *node, const void *doc, size_t len, int force, char *domain,
		     size_t size);

/*
 * The trusted domains (only DOMAIN's when not NULL; an untrusted DOMAIN is an
 * error) as a JSON array of {"Name", "DomainSid", "Direction": "Outbound",
 * "TrustType": "Forest", "DomainController", "DcThumbprint", "DcNotAfter",
 * "SidFilteringQuarantined": true, "Added"}, sorted by name.
 */
int hgs_ad_trust_list(struct hgs_node *node, const char *domain, json_t **out);

/* Stop trusting DOMAIN; an untrusted DOMAIN is an error. */
int hgs_ad_trust_remove(struct hgs_node *node, const char *domain);

/* The trust of DOMAIN: 1 with *OUT set, 0 when DOMAIN is not trusted, -1 on error. */
int hgs_ad_trust_find(struct hgs_node *node, const char *domain, struct ad_trust **out);

#endif
