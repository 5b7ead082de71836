/*
 * attest.h - the vocabulary of an attestation decision, shared by every
 * attestation mode (TPM, AD, host key), the policy evaluator, the health
 * certificate and the attestation log.
 *
 * Names follow HGS: AttestationStatus and AttestationSubStatus values are the
 * strings HGS prints (Get-HgsClientConfiguration, Get-HgsTrace), and the
 * attestation policies are the Hgs_* policies of Get-HgsAttestationPolicy.
 */
#ifndef HGSLAB_PROTO_ATTEST_H
#define HGSLAB_PROTO_ATTEST_H

#include <stddef.h>
#include <stdint.h>

/* AttestationStatus. */
enum hgs_status {
	HGS_STATUS_PASSED = 0,
	HGS_STATUS_UNAUTHORIZED_HOST,
	HGS_STATUS_TPM_ERROR,
	HGS_STATUS_INSECURE_HOST_CONFIGURATION,
	HGS_STATUS_TRANSIENT_ERROR,
	HGS_STATUS_EXPIRED,
	HGS_STATUS_COUNT
};

/* AttestationSubStatus: bit flags, several may be set at once. */
enum hgs_substatus {
	HGS_SUB_SECURE_BOOT = 1u << 0,                 /* SecureBoot */
	HGS_SUB_SECURE_BOOT_SETTINGS = 1u << 1,        /* SecureBootSettings */
	HGS_SUB_CODE_INTEGRITY_POLICY = 1u << 2,       /* CodeIntegrityPolicy */
	HGS_SUB_HVCI_POLICY = 1u << 3,                 /* HypervisorEnforcedCodeIntegrityPolicy */
	HGS_SUB_FULL_BOOT = 1u << 4,                   /* FullBoot */
	HGS_SUB_VIRTUAL_SECURE_MODE = 1u << 5,         /* VirtualSecureMode */
	HGS_SUB_PAGEFILE_ENCRYPTION = 1u << 6,         /* PagefileEncryption */
	HGS_SUB_BITLOCKER = 1u << 7,                   /* BitLocker */
	HGS_SUB_IOMMU = 1u << 8,                       /* Iommu */
	HGS_SUB_HIBERNATION_ENABLED = 1u << 9,         /* HibernationEnabled */
	HGS_SUB_DUMPS_ENABLED = 1u << 10,              /* DumpsEnabled */
	HGS_SUB_DUMP_ENCRYPTION = 1u << 11,            /* DumpEncryption */
	HGS_SUB_DUMP_ENCRYPTION_KEY = 1u << 12,        /* DumpEncryptionKey */
	HGS_SUB_TCG_LOG_VERIFICATION = 1u << 13,       /* TcgLogVerification */
	HGS_SUB_DEBUG_MODE = 1u << 14,                 /* DebugMode */
};
#define HGS_SUB_COUNT 15

/* Trust (attestation) modes. */
enum hgs_mode {
	HGS_MODE_TPM = 0,   /* "tpm": TPM-trusted attestation */
	HGS_MODE_AD,        /* "ad": Active Directory (admin-trusted) attestation */
	HGS_MODE_HOSTKEY,   /* "hostkey": host key attestation */
};

#define HGS_REASON_MAX 512

/*
 * The format of a code integrity policy document (a host's `get-ci-policy`,
 * HGS's add-ci-policy): a JSON object whose "format" is this, with its
 * "name", "policy_id" and "rules"; HGS matches it by the SHA-256 of its bytes.
 */
#define HGS_CI_POLICY_FORMAT "hgslab-ci-policy/1"

/* The header every answer of an HGS node carries: the node's name ("HGS02"), so a client of a
 * cluster can say which node answered (docs/hgs-cluster.md). */
#define HGS_NODE_HEADER "X-Hgs-Node"

/*
 * The outcome of one attestation attempt.  STATUS is Passed only when
 * SUBSTATUS is 0; REASON is one sentence a person understands, naming what
 * was checked and why it failed (empty when Passed).
 */
struct hgs_result {
	enum hgs_status status;
	uint32_t substatus;          /* enum hgs_substatus bits */
	char reason[HGS_REASON_MAX];
};

/* "Passed", "UnauthorizedHost", ...; NULL for an out-of-range value. */
const char *hgs_status_name(enum hgs_status s);
/* Parse a status name; -1 with an error when unknown. */
int hgs_status_parse(const char *name, enum hgs_status *out);

/* The name of one substatus bit ("DebugMode"); NULL when not exactly one known bit. */
const char *hgs_substatus_name(uint32_t bit);
/* Parse one substatus name into its bit; -1 with an error when unknown. */
int hgs_substatus_parse(const char *name, uint32_t *bit);
/* Write "SecureBoot, DebugMode" (or "" when none) into BUF. */
void hgs_substatus_format(uint32_t bits, char *buf, size_t size);

/* "tpm", "ad", "hostkey"; NULL when out of range. */
const char *hgs_mode_name(enum hgs_mode m);
/* Parse a mode name; -1 with an error naming the choices when unknown. */
int hgs_mode_parse(const char *name, enum hgs_mode *out);

/* Set R to a failure; the reason is formatted.  Returns 0 (it is a decision, not an error). */
int hgs_result_fail(struct hgs_result *r, enum hgs_status status, uint32_t substatus,
		    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Set R to Passed. */
void hgs_result_pass(struct hgs_result *r);

#endif
