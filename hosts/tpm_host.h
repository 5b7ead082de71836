/*
 * tpm_host.h - a guarded host's side of TPM attestation, over its own TPM
 * (lib/tpm, ESYS): the endorsement key and its certificate, the attestation
 * key (AK), credential activation, quotes, the transport key (TK) certified
 * by the AK and used to unwrap what key protection sends, and the replay of
 * the measured boot into the PCRs.  HGS checks all of it in software with
 * hgs/tpm_verify.
 *
 * Keys.
 *   EK   the RSA-2048 EK of the TCG default template (EK profile, template
 *        L-1: restricted decrypt, AES-128-CFB, adminWithPolicy with
 *        PolicySecret(TPM_RH_ENDORSEMENT), unique = 256 zero bytes),
 *        used from its persistent handle 0x81010001 when a key of that
 *        template is there (swtpm_setup persists it: no key generation per
 *        use), else recreated as a primary in the endorsement hierarchy
 *        whenever it is needed; it equals the key of the EK certificate in NV
 *        0x01c00002 (hosts_tpm_read_ek checks).
 *   SRK  the storage root key persisted at 0x81000001 (hosts/manufacture
 *        makes it with swtpm_setup --create-spk; created and persisted here
 *        from the TCG SRK template if absent).  Parent of the AK and the TK.
 *   AK   RSA-2048 restricted signing key, RSASSA-SHA-256, fixedTPM,
 *        fixedParent, sensitiveDataOrigin, userWithAuth (empty auth), noDA,
 *        created under the SRK with TPM2_Create.
 *   TK   RSA-2048 decrypt-only key, scheme fixed to OAEP-SHA-256, fixedTPM,
 *        fixedParent, sensitiveDataOrigin, userWithAuth (empty auth), noDA,
 *        not restricted, created under the SRK.
 * The AK and TK are kept as struct hosts_tpm_key: their TPM2B_PUBLIC and
 * TPM2B_PRIVATE, marshalled with libtss2-mu.  The private part is wrapped by
 * the SRK and usable only inside this TPM, so the blobs may be stored on disk
 * (hosts_tpm_key_save writes them 0600 all the same).  Every call loads what
 * it needs and flushes it again: no call leaves a transient object or
 * session in the TPM, success or failure.
 *
 * Formats handed to HGS (hgs/tpm_verify.h): public areas as TPM2B_PUBLIC,
 * attestations as the signed TPMS_ATTEST bytes, signatures as TPMT_SIGNATURE,
 * credentials as TPM2B_ID_OBJECT + TPM2B_ENCRYPTED_SECRET.
 *
 * Contract (lib/err.h): 0 on success, -1 after hl_error() (TPM errors through
 * hl_tpm_error); outputs cleared on entry and set only on success;
 * destructors accept NULL.
 */
#ifndef HGSLAB_HOSTS_TPM_HOST_H
#define HGSLAB_HOSTS_TPM_HOST_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "lib/crypto.h"
#include "lib/tpm.h"

/*
 * The RSA-OAEP (SHA-256) label of what key protection wraps to the TK,
 * terminating NUL included: pass sizeof(HOSTS_TK_OAEP_LABEL) = 10 bytes to
 * hl_crypto_oaep_wrap.  TPM2_RSA_Decrypt takes only NUL-terminated labels
 * (swtpm answers TPM_RC_VALUE otherwise), so hosts_tpm_rsa_decrypt appends the
 * zero when it is missing: the label in effect is always "HGSLAB-TK\0", and a
 * sender that leaves the NUL out does not match.
 */
#define HOSTS_TK_OAEP_LABEL "HGSLAB-TK"

/* NV index of the RSA-2048 EK certificate (TCG EK credential profile). */
#define HOSTS_EK_CERT_NV_INDEX 0x01c00002u

/* Persistent handle of the RSA EK (TCG EK credential profile; swtpm_setup uses it). */
#define HOSTS_EK_HANDLE 0x81010001u

/* Persistent handle of the SRK. */
#define HOSTS_SRK_HANDLE 0x81000001u

/*
 * The PCRs a quote covers by default: 0-7 (firmware, Secure Boot) and 11-14
 * (the boot configuration of lib/wbcl), SHA-256 bank.
 */
#define HOSTS_QUOTE_PCRS 0x000078ffu

/* The endorsement identity of a TPM. */
struct hosts_ek {
	EVP_PKEY *pub;          /* EK public key (recreated from the template) */
	X509 *cert;             /* EK certificate from NV, NULL when the TPM has none */
	struct hl_buf tpm_public; /* the EK's TPM2B_PUBLIC, marshalled */
};

/*
 * Recreate the EK from the default template and read its certificate from
 * NV; fails when a certificate is present but names another key.
 */
int hosts_tpm_read_ek(struct hl_tpm *t, struct hosts_ek **out);

/* Free EK; NULL-safe. */
void hosts_ek_free(struct hosts_ek *ek);

/*
 * Write EK to PUB_PATH (its TPM2B_PUBLIC, marshalled) and CERT_PATH (its
 * certificate, DER; the EK must have one), both 0644 and atomically: a TPM's
 * endorsement identity kept beside its state, so that it can be known
 * without asking the TPM (a cache of manufactured TPMs).
 */
int hosts_ek_save(const struct hosts_ek *ek, const char *pub_path, const char *cert_path);

/*
 * Read an EK written by hosts_ek_save; refused when the certificate is for
 * another key than the public area.
 */
int hosts_ek_load(const char *pub_path, const char *cert_path, struct hosts_ek **out);

/*
 * The platform identifier's two parts: the EK public key as PEM
 * (SubjectPublicKeyInfo) in PUB_PEM, the EK certificate as PEM in CERT_PEM
 * (left {NULL, 0} when the TPM has no certificate).  CERT_PEM may be NULL.
 */
int hosts_ek_pem(const struct hosts_ek *ek, struct hl_buf *pub_pem, struct hl_buf *cert_pem);

/* A TPM-wrapped key, reloadable under the SRK. */
struct hosts_tpm_key {
	struct hl_buf pub;      /* TPM2B_PUBLIC, marshalled */
	struct hl_buf priv;     /* TPM2B_PRIVATE, marshalled (wrapped by the SRK) */
};

/* Create an attestation key under the SRK (RSA key generation: 50-500 ms on swtpm). */
int hosts_tpm_create_ak(struct hl_tpm *t, struct hosts_tpm_key *out);

/* Create a transport key under the SRK (as long). */
int hosts_tpm_create_transport_key(struct hl_tpm *t, struct hosts_tpm_key *out);

/* Release K's buffers and reset it; NULL-safe. */
void hosts_tpm_key_release(struct hosts_tpm_key *k);

/*
 * Write K to PATH (0600, atomically) as its TPM2B_PUBLIC followed by its
 * TPM2B_PRIVATE, both marshalled (the pair is self-delimiting).
 */
int hosts_tpm_key_save(const struct hosts_tpm_key *k, const char *path);

/* Read a key written by hosts_tpm_key_save; anything else is refused. */
int hosts_tpm_key_load(const char *path, struct hosts_tpm_key *out);

/* K's public key as SubjectPublicKeyInfo PEM in OUT. */
int hosts_tpm_key_pem(const struct hosts_tpm_key *k, struct hl_buf *out);

/*
 * TPM2_ActivateCredential: recover the secret HGS protected for AK's name
 * and this TPM's EK (ID_OBJECT = TPM2B_ID_OBJECT, ENC_SECRET =
 * TPM2B_ENCRYPTED_SECRET, marshalled) into SECRET.  Fails when the
 * credential was made for another EK or another key.
 */
int hosts_tpm_activate_credential(struct hl_tpm *t, const struct hosts_tpm_key *ak,
				  const void *id_object, size_t id_len, const void *enc_secret,
				  size_t enc_len, struct hl_buf *secret);

/* A quote and the PCR values it covers. */
struct hosts_tpm_quote {
	struct hl_buf attest;   /* TPMS_ATTEST bytes, as signed */
	struct hl_buf sig;      /* TPMT_SIGNATURE, marshalled */
	uint32_t pcr_mask;      /* quoted PCRs of the SHA-256 bank */
	uint8_t pcrs[HL_TPM_PCR_COUNT][HL_TPM_SHA256_LEN]; /* their values (others zero) */
};

/*
 * Quote the SHA-256 PCRs in MASK (HOSTS_QUOTE_PCRS for the default) with AK
 * over NONCE (1..64 bytes, the quote's qualifying data) and read those PCRs;
 * the values are checked against the quote's pcrDigest (the quote is retried
 * if the PCRs changed meanwhile).  Release *OUT with hosts_tpm_quote_release.
 */
int hosts_tpm_quote(struct hl_tpm *t, const struct hosts_tpm_key *ak, uint32_t mask,
		    const void *nonce, size_t nonce_len, struct hosts_tpm_quote *out);

/* Release Q's buffers; NULL-safe. */
void hosts_tpm_quote_release(struct hosts_tpm_quote *q);

/*
 * TPM2_Certify of KEY by AK over NONCE (1..64 bytes): ATTEST gets the signed
 * TPMS_ATTEST bytes, SIG the TPMT_SIGNATURE.
 */
int hosts_tpm_certify(struct hl_tpm *t, const struct hosts_tpm_key *ak,
		      const struct hosts_tpm_key *key, const void *nonce, size_t nonce_len,
		      struct hl_buf *attest, struct hl_buf *sig);

/*
 * TPM2_RSA_Decrypt with the transport key KEY: RSA-OAEP-SHA-256 of IN with
 * LABEL (LABEL_LEN bytes, at most 64, a terminating zero appended when
 * missing; normally HOSTS_TK_OAEP_LABEL) into OUT, a secret (release with
 * hl_buf_free).  The response is encrypted on its way from the TPM (an HMAC
 * session salted with the SRK), so the plaintext never crosses the swtpm
 * socket in the clear.
 */
int hosts_tpm_rsa_decrypt(struct hl_tpm *t, const struct hosts_tpm_key *key, const void *label,
			  size_t label_len, const void *in, size_t len, struct hl_buf *out);

/*
 * Sealing.  hosts_tpm_seal makes a sealed data object under the SRK
 * (TPM2_Create: keyedhash, no scheme, fixedTPM, fixedParent, noDA, no
 * userWithAuth and an empty authValue) holding DATA (1..128 bytes), whose
 * authPolicy is TPM2_PolicyPCR over the SHA-256 PCRs in MASK at their
 * values now (computed by the TPM in a trial session).  The data travels
 * to the TPM encrypted (a session salted with the SRK, decrypt attribute)
 * and rests only inside the TPM2B_PRIVATE, which the SRK wraps.
 * hosts_tpm_unseal loads it, satisfies the policy in a policy session
 * (TPM2_PolicyPCR over the PCRs of MASK as they are now) and unseals it,
 * the answer encrypted on its way back (a second, salted session): when a
 * PCR of MASK differs from its value at sealing the TPM refuses
 * (TPM_RC_POLICY_FAIL) and HOSTS_TPM_POLICY_FAIL is returned.  A blob
 * altered on disk fails TPM2_Load's integrity check (-1).
 */
#define HOSTS_TPM_POLICY_FAIL (-2)

/* The largest secret hosts_tpm_seal takes (a keyedhash sensitive buffer). */
#define HOSTS_TPM_SEAL_MAX 128

/* Seal LEN bytes of DATA to the SHA-256 PCRs of MASK into *OUT (a TPM key pair of blobs). */
int hosts_tpm_seal(struct hl_tpm *t, uint32_t mask, const void *data, size_t len,
		   struct hosts_tpm_key *out);

/*
 * Unseal SEALED (from hosts_tpm_seal with the same MASK) into OUT, a secret
 * (hl_buf_free): 0, HOSTS_TPM_POLICY_FAIL when the PCRs no longer match, or
 * -1 (error set either way).
 */
int hosts_tpm_unseal(struct hl_tpm *t, const struct hosts_tpm_key *sealed, uint32_t mask,
		     struct hl_buf *out);

/* One measured-boot event to replay: extend PCR in both banks. */
struct hosts_pcr_extend {
	uint32_t pcr;
	uint8_t sha1[HL_SHA1_LEN];
	uint8_t sha256[HL_SHA256_LEN];
};

/*
 * Extend each of the N events of EXT, in order, into the sha1 and sha256
 * banks at once (TPM2_PCR_Extend with two digests).
 */
int hosts_tpm_extend(struct hl_tpm *t, const struct hosts_pcr_extend *ext, size_t n);

#endif
