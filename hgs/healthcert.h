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
#include "lib/err.h"

/* hgslab's OID arc: 2.25 + the UUID 8c604bea-8a5b-4322-b44f-7b0f9f362866 as an integer. */
#define HGS_OID_ARC "2.25.186591919671237128515675649288269342822"
/* Health certificate extensions (arc .1). */
#define HGS_OID_HC_MODE HGS_OID_ARC ".1.1"
#define HGS_OID_HC_STATUS HGS_OID_ARC ".1.2"
#define HGS_OID_HC_SUBSTATUS HGS_OID_ARC ".1.3"
#define HGS_OID_HC_NODE HGS_OID_ARC ".1.4"

/* What a health certificate says. */
struct hgs_healthcert_info {
	char host[HL_NAME_REG_SIZE];          /* subject CN */
	char node[HL_NAME_HGS_SIZE];     /* the issuing HGS */
	enum hgs_mode mode;
	enum hgs_status status;
	uint32_t substatus;
	time_t not_before, not_after;
	char thumbprint[HL_SHA256_HEX_SIZE];
};

/*
 * The template every health certificate of NODE is issued from (lib/crypto
 * hl_cert_template: issuer, O, usages, the extensions' OIDs), made once by
 * hgs_node_open() with HGS_NODE_OPEN_KEYS from the attestation signer.
 */
int hgs_healthcert_template(const struct hgs_node *node, struct hl_cert_template **out);

/*
 * Issue a health certificate for HOST attested in MODE with result RES,
 * binding TRANSPORT_KEY (public half used; RSA 2048/3072 so KPS can wrap to
 * it), valid from the node clock for CFG's hours (CFG: the node row as the
 * caller read it for this decision, hgs_db_config_get).  NODE must be open
 * with HGS_NODE_OPEN_KEYS.  Callers issue one only for a Passed RES.  The
 * certificate comes as DER into DER (hl_cert_from_der reads it back), its
 * not-after into *NOT_AFTER when not NULL.
 */
int hgs_healthcert_issue(struct hgs_node *node, const struct hgs_config *cfg, const char *host,
			 enum hgs_mode mode, const struct hgs_result *res, EVP_PKEY *transport_key,
			 struct hl_buf *der, time_t *not_after);

/* Read what CERT says, without checking who issued it. */
int hgs_healthcert_parse(const X509 *cert, struct hgs_healthcert_info *info);

/* Why a health certificate is refused, in the order the checks are made. */
enum hgs_healthcert_refusal {
	HGS_HC_ACCEPTED = 0,
	HGS_HC_ERROR,               /* it could not be checked (no signer, no node clock) */
	HGS_HC_NOT_HEALTHCERT,      /* not an hgslab health certificate */
	HGS_HC_UNTRUSTED,           /* its signature does not chain to the signer */
	HGS_HC_OTHER_HGS,           /* the signer's, but issued for another HGS name */
	HGS_HC_NOT_PASSED,          /* it records a failed attestation */
	HGS_HC_NOT_YET_VALID,       /* the time checked is before its notBefore */
	HGS_HC_EXPIRED,             /* the time checked is after its notAfter */
};

/* What a verification decided, for a caller that tells the refusals apart (KPS). */
struct hgs_healthcert_verdict {
	enum hgs_healthcert_refusal refusal;
	time_t at;                        /* the time checked (the node clock for _verify) */
	char detail[HL_ERROR_MAX];        /* the failed check's own message, "" when accepted */
};

/*
 * Verify CERT against SIGNER (an attestation signer certificate) for the HGS
 * named NODE_NAME at time AT, in this order: CERT is an hgslab health
 * certificate, its signature chains to SIGNER, it names NODE_NAME, its
 * status is Passed, and AT is within its validity.  The first three are
 * checked at AT when AT is within the validity, otherwise at its notBefore,
 * so that a certificate of another HGS is called that even when it has also
 * expired.  INFO (may be NULL) gets what it says, VERDICT (may be NULL) why
 * it was refused.  Messages: "health certificate of 'HOST' refused: DETAIL"
 * (DETAIL as in the verdict; a certificate that does not parse gives the
 * parser's message alone).
 */
int hgs_healthcert_verify_with(X509 *cert, X509 *signer, const char *node_name, time_t at,
			       struct hgs_healthcert_info *info,
			       struct hgs_healthcert_verdict *verdict);

/*
 * hgs_healthcert_verify_with() against NODE's attestation signer at the
 * node clock (NODE open with HGS_NODE_OPEN_KEYS): what KPS calls before a
 * key release, turning each refusal into its reason.
 */
int hgs_healthcert_verify(struct hgs_node *node, X509 *cert, struct hgs_healthcert_info *info,
			  struct hgs_healthcert_verdict *verdict);

#endif
