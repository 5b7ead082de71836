/*
 * kps.h - the Key Protection Service (KPS) of an HGS node: the guardian
 * metadata tenants import, the key release guarded hosts ask for, and the
 * rotation of the KPS signing and encryption certificates.
 * docs/attestation-protocol.md "Key Protection Service" is the wire
 * specification; docs/key-protector.md the formats (lib/keyprotector.h).
 *
 *   GET  /KeyProtection/service/metadata/2014-07/metadata.xml
 *        the HGS guardian: name + PRIMARY signing and encryption certificates
 *   POST /KeyProtection/v1/release
 *        {key_protector, health_certificate} -> the TK wrapped to the host,
 *        with "KeyMaterialCaching" and "PolicyGeneration" (below)
 *
 * Key release.  The host posts a key protector (KP) and its health
 * certificate.  KPS checks, in this order, stopping at the first failure:
 *   1. the body (400 MalformedRequest): a JSON object with a KP;
 *   2. the health certificate: present (else 403 NoHealthCertificate), a
 *      certificate (else 400), an hgslab health certificate signed by this
 *      node's attestation signer for this HGS, status Passed (a host that
 *      failed attestation never gets one), within its validity at the node
 *      clock, and not issued before the configured cut-off
 *      (Set-HgsKeyProtectionAttestationSignerCertificatePolicy
 *      -DenyHealthCertificatesIssuedBefore) (403).  It comes first: a host
 *      that is not healthy learns that whatever its KP, and its KP is never
 *      opened;
 *   3. the KP parses (400 MalformedKeyProtector) and its owner signature
 *      verifies (403);
 *   4. the KP lists a guardian whose encryption certificate is one of this
 *      node's ENABLED KPS encryption certificates, primary or not (403: not
 *      listed, e.g. revoked from the KP, or listed only under a disabled
 *      certificate);
 *   5. the TK unwraps with that certificate's private key (403 when the
 *      owner-signed entry does not open);
 * then the TK is wrapped with RSA-OAEP (SHA-256, label "HGSLAB-TK" + NUL,
 * HGS_KPS_TK_LABEL) to the public key the health certificate binds, the
 * host's TPM-resident transport key, and nothing else.  The TK lives only
 * in memory and is cleansed before the function returns.  A host that
 * replays another host's certificate gets a TK wrapped to the other host's
 * TPM: useless to it.  Every outcome (release, refusal, malformed request,
 * internal failure) is recorded in the key protection log (hgs/db.h).
 *
 * Contract (lib/err.h): 0 on success, -1 after hl_error(); outputs cleared
 * on entry and set only on success; destructors NULL-safe.
 */
#ifndef HGSLAB_HGS_KPS_H
#define HGSLAB_HGS_KPS_H

#include <stddef.h>
#include <time.h>

#include <jansson.h>

#include "hgs/node.h"
#include "hgs/serve.h"
#include "lib/crypto.h"
#include "proto/keyprotector.h"

#define HGS_KPS_METADATA_PATH "/KeyProtection/service/metadata/2014-07/metadata.xml"
#define HGS_KPS_RELEASE_PATH "/KeyProtection/v1/release"

/*
 * The RSA-OAEP label of a released TK: "HGSLAB-TK" and its NUL, 10 bytes
 * (HGS_KPS_TK_LABEL_LEN); the same bytes as hosts/tpm_host.h
 * HOSTS_TK_OAEP_LABEL, which the host's TPM2_RSA_Decrypt uses.
 */
#define HGS_KPS_TK_LABEL "HGSLAB-TK"
#define HGS_KPS_TK_LABEL_LEN 10

/* GET metadata.xml, POST /KeyProtection/v1/release. */
extern const struct hgs_route hgs_kps_routes[];

/* Why a release ended as it did; the names are the "reason" of replies and log. */
enum hgs_kps_reason {
	HGS_KPS_RELEASED = 0,                   /* 200 */
	HGS_KPS_MALFORMED_REQUEST,              /* 400: body not a JSON object, field missing / mistyped */
	HGS_KPS_MALFORMED_KEY_PROTECTOR,        /* 400: hl_kp_parse refused it */
	HGS_KPS_MALFORMED_HEALTH_CERTIFICATE,   /* 400: not a certificate at all */
	HGS_KPS_NO_HEALTH_CERTIFICATE,          /* 403 from here on */
	HGS_KPS_NOT_A_HEALTH_CERTIFICATE,       /* a certificate without hgslab's extensions */
	HGS_KPS_UNTRUSTED_HEALTH_CERTIFICATE,   /* not signed by this HGS's attestation signer */
	HGS_KPS_HOST_FAILED_ATTESTATION,        /* its status is not Passed */
	HGS_KPS_HEALTH_CERTIFICATE_EXPIRED,
	HGS_KPS_HEALTH_CERTIFICATE_NOT_YET_VALID,
	HGS_KPS_ISSUED_BEFORE_CUTOFF,
	HGS_KPS_OWNER_SIGNATURE_INVALID,
	HGS_KPS_GUARDIAN_NOT_LISTED,
	HGS_KPS_ENCRYPTION_CERTIFICATE_DISABLED,
	HGS_KPS_UNWRAP_FAILED,
	HGS_KPS_INTERNAL_ERROR,                 /* 500 */
	HGS_KPS_REASON_COUNT
};

/* "Released", "NoHealthCertificate", ...; NULL when out of range. */
const char *hgs_kps_reason_name(enum hgs_kps_reason r);

/* The HTTP status of reason R (200, 400, 403 or 500). */
int hgs_kps_reason_http_status(enum hgs_kps_reason r);

/* What a host asks for. */
struct hgs_kps_request {
	const void *key_protector;            /* the KP file's bytes */
	size_t key_protector_len;
	const void *health_certificate;       /* PEM text or DER; NULL = none presented */
	size_t health_certificate_len;
	const char *remote;                   /* the peer, for the log; may be NULL */
};

/* The decision on one request. */
struct hgs_kps_outcome {
	enum hgs_kps_reason reason;
	int http_status;
	char message[HGS_REASON_MAX];         /* "" when released */
	char host[HL_NAME_REG_SIZE];              /* the health certificate's CN ("" if unreadable) */
	char kp_id[HL_KP_ID_SIZE];            /* "" when the KP did not parse */
	char owner[HL_KP_NAME_MAX + 1];
	char healthcert_thumbprint[HL_SHA256_HEX_SIZE];
	char encryption_thumbprint[HL_SHA256_HEX_SIZE];   /* the KPS certificate that unwrapped */
	char transport_key_fingerprint[HL_SHA256_HEX_SIZE];
	time_t healthcert_not_after;
	struct hl_buf wrapped_tk;             /* released: the TK, RSA-OAEP to the transport key */
	long long log_id;                     /* its key protection log entry (0: not recorded) */
};

/*
 * Decide REQ on NODE (open with HGS_NODE_OPEN_KEYS) into *OUT and record the
 * decision in the key protection log.  Returns 0 when a decision was made
 * (OUT->reason says which; refusals are decisions), -1 when the node itself
 * failed (then OUT is HGS_KPS_INTERNAL_ERROR, recorded when possible).
 * Release OUT with hgs_kps_outcome_release() either way.
 */
int hgs_kps_release(struct hgs_node *node, const struct hgs_kps_request *req,
		    struct hgs_kps_outcome *out);

/* Free what OUT holds; NULL-safe. */
void hgs_kps_outcome_release(struct hgs_kps_outcome *out);

/*
 * Add the key material caching fields of NODE's HGS to answer O (a release
 * here, an attestation decision in hgs/serve.c), so that a host learns of
 * changes whenever it reaches HGS: "KeyMaterialCaching" (true when
 * Set-HgsKeyProtectionConfiguration -AllowKeyMaterialCaching is on) and,
 * only then, "PolicyGeneration" (hgs/db_kpsconfig.h).  When the store
 * cannot be read both are left out (a host then keeps its cache as it is)
 * and a warning is logged: the answer itself does not fail.
 */
void hgs_kps_caching_fields(struct hgs_node *node, json_t *o);

/*
 * The guardian metadata document (docs/key-protector.md "Guardian
 * metadata") of NODE: its name and its primary signing and encryption
 * certificates, UTF-8 XML written with libxml2, into *OUT.
 */
int hgs_kps_metadata(struct hgs_node *node, struct hl_buf *out);

/* ---- certificate rotation (Add-/Set-/Remove-HgsKeyProtectionCertificate) ---- */

/* "Signing" / "Encryption" for HGS_KEY_KPS_SIGNING / _ENCRYPTION; NULL otherwise. */
const char *hgs_kps_cert_type_name(enum hgs_key_role role);

/* Parse "signing" / "encryption" (any case) into *ROLE. */
int hgs_kps_cert_type_parse(const char *text, enum hgs_key_role *role);

/*
 * Generate a KPS key pair of ROLE (RSA 2048) with a self-signed certificate
 * like init's, store the key 0600 and the certificate 0644 in DIR/keys/,
 * and add it enabled (primary when PRIMARY).  THUMB gets its thumbprint.
 */
int hgs_kps_cert_generate(struct hgs_node *node, enum hgs_key_role role, int primary,
			  char thumb[HL_SHA256_HEX_SIZE]);

/*
 * Add the key pair KEY_PEM / CERT_PEM (PEM texts) as a KPS certificate of
 * ROLE: an RSA 2048 or 3072 key matching the certificate, which must be
 * valid at the node clock.  Stored and added as hgs_kps_cert_generate does.
 */
int hgs_kps_cert_import(struct hgs_node *node, enum hgs_key_role role, const char *key_pem,
			size_t key_len, const char *cert_pem, size_t cert_len, int primary,
			char thumb[HL_SHA256_HEX_SIZE]);

/*
 * Remove the KPS certificate THUMBPRINT (full) and delete its key and
 * certificate files; the primary one is refused.
 */
int hgs_kps_cert_remove(struct hgs_node *node, const char *thumbprint);

/*
 * The KPS certificates as a JSON array of {"CertificateType": "Signing" |
 * "Encryption", "Thumbprint", "Subject", "IsPrimary", "IsEnabled",
 * "NotBefore", "NotAfter", "Added"} (Get-HgsKeyProtectionCertificate);
 * ROLE < 0 lists both types.
 */
int hgs_kps_cert_list(struct hgs_node *node, int role, json_t **out);

#endif
