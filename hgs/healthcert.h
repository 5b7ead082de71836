/*
 * healthcert.h - health certificates: what HGS gives a host that passed
 * attestation, and what the Key Protection Service checks before it releases
 * a key.
 *
 * A health certificate is an X.509 v3 certificate (lib/crypto) issued by the
 * node's attestation signer:
 *   subject            CN = the host's name
 *   subject public key the host's transport key: in TPM mode the TPM-resident
 *                      key TPM2_Certify proved, in the other modes the key the
 *                      host proved possession of; KPS wraps released keys to it
 *   validity           from the node clock at issue for the configured hours
 *                      (default 8)
 *   extensions         basicConstraints CA:FALSE, keyUsage keyEncipherment,
 *                      and non-critical UTF8String extensions under the
 *                      hgslab arc HGS_OID_ARC (a UUID OID, ITU-T X.667):
 *                        HGS_OID_HC_MODE       "tpm" | "ad" | "hostkey"
 *                        HGS_OID_HC_STATUS     "Passed" (AttestationStatus)
 *                        HGS_OID_HC_SUBSTATUS  "" or "SecureBoot, DebugMode"
 *                        HGS_OID_HC_NODE       the HGS name, "MyHgsService"
 *
 * Contract (lib/err.h): 0 / -1 after hl_error(); *out = NULL on entry.
 */
#ifndef HGSLAB_HGS_HEALTHCERT_H
#define HGSLAB_HGS_HEALTHCERT_H

#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "proto/attest.h"
#include "hgs/node.h"

/* hgslab's OID arc: 2.25 + the UUID 8c604bea-8a5b-4322-b44f-7b0f9f362866 as an integer. */
#define HGS_OID_ARC "2.25.186591919671237128515675649288269342822"
/* Health certificate extensions (arc .1). */
#define HGS_OID_HC_MODE HGS_OID_ARC ".1.1"
#define HGS_OID_HC_STATUS HGS_OID_ARC ".1.2"
#define HGS_OID_HC_SUBSTATUS HGS_OID_ARC ".1.3"
#define HGS_OID_HC_NODE HGS_OID_ARC ".1.4"

/* What a health certificate says. */
struct hgs_healthcert_info {
	char host[HGS_NAME_MAX];          /* subject CN */
	char node[HL_NAME_HGS_SIZE];     /* the issuing HGS */
	enum hgs_mode mode;
	enum hgs_status status;
	uint32_t substatus;
	time_t not_before, not_after;
	char thumbprint[HL_SHA256_HEX_SIZE];
};

/*
 * Issue a health certificate for HOST attested in MODE with result RES,
 * binding TRANSPORT_KEY (public half used; RSA 2048/3072 so KPS can wrap to
 * it), valid from the node clock for the node's configured hours.  NODE must
 * be open with HGS_NODE_OPEN_KEYS.  Callers issue one only for a Passed RES.
 */
int hgs_healthcert_issue(struct hgs_node *node, const char *host, enum hgs_mode mode,
			 const struct hgs_result *res, EVP_PKEY *transport_key, X509 **out);

/* Read what CERT says, without checking who issued it. */
int hgs_healthcert_parse(const X509 *cert, struct hgs_healthcert_info *info);

/*
 * Verify CERT against SIGNER (an attestation signer certificate) for the HGS
 * named NODE_NAME at time AT: the signature chains to SIGNER, CERT is within
 * its validity at AT, it names NODE_NAME, and its status is Passed.  INFO (may
 * be NULL) gets what it says.  Messages say which check failed.
 */
int hgs_healthcert_verify_with(X509 *cert, X509 *signer, const char *node_name, time_t at,
			       struct hgs_healthcert_info *info);

/*
 * hgs_healthcert_verify_with() against NODE's attestation signer at the
 * node clock (NODE open with HGS_NODE_OPEN_KEYS): what KPS calls.
 */
int hgs_healthcert_verify(struct hgs_node *node, X509 *cert, struct hgs_healthcert_info *info);

#endif
