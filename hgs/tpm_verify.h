/*
 * tpm_verify.h - the HGS half of TPM attestation, in software (HGS has no
 * TPM of its own): TPM public areas, credential activation's MakeCredential,
 * and the checks of quotes and TPM2_Certify results a guarded host sends.
 *
 * Wire formats (all TPM structures marshalled by libtss2-mu, big-endian,
 * exactly as tpm2-tools writes them):
 *   public      TPM2B_PUBLIC (size-prefixed), as tpm2_create -u writes it
 *   attest      the TPMS_ATTEST bytes the TPM signed, i.e. the contents of
 *               the TPM2B_ATTEST a quote or certify returns, without its
 *               2-byte size (tpm2_quote -m / tpm2_checkquote -m)
 *   signature   TPMT_SIGNATURE (tpm2_quote -s in its default tss format)
 *   credential  TPM2B_ID_OBJECT and TPM2B_ENCRYPTED_SECRET, two blobs (the
 *               two halves of a tpm2_makecredential -o file, after its
 *               8-byte header), the inputs of TPM2_ActivateCredential
 * Every parser refuses trailing bytes and anything that does not marshal
 * back to the very bytes given; garbage and truncated input give -1 with a
 * message, never a crash.
 *
 * What HGS accepts:
 *   attestation key (AK)  restricted signing key, fixedTPM, TPM-generated
 *                         (sensitiveDataOrigin), not a decryption key;
 *                         RSA-2048/3072 (RSASSA or RSA-PSS) or ECC P-256
 *                         (ECDSA), signatures with SHA-256
 *   transport key (TK)    fixedTPM, fixedParent, TPM-generated, decrypt,
 *                         neither sign nor restricted; RSA, so KPS can wrap
 *                         to it with RSA-OAEP (label HGS_TPM_TK_OAEP_LABEL)
 *   EK                    RSA-2048 from the TCG default EK template (nameAlg
 *                         SHA-256, AES-128-CFB inner wrapper)
 *   quotes                of the SHA-256 PCR bank only
 *
 * It also checks EK certificates against the TPM vendor CA (below).
 *
 * Contract (lib/err.h): 0 on success, -1 after hl_error(); *out = NULL (or
 * an hl_buf {NULL, 0}) on entry, assigned only on success; destructors
 * accept NULL; inputs are never modified.
 */
#ifndef HGSLAB_HGS_TPM_VERIFY_H
#define HGSLAB_HGS_TPM_VERIFY_H

#include <stddef.h>
#include <stdint.h>

#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <tss2/tss2_tpm2_types.h>

#include "lib/crypto.h"

/*
 * The RSA-OAEP label KPS wraps a transport key's payload with, NUL included
 * (pass sizeof(HGS_TPM_TK_OAEP_LABEL) bytes): TPM2_RSA_Decrypt uses labels
 * with their terminating zero only, so the sender must include it.  Must
 * equal hosts/tpm_host.h's HOSTS_TK_OAEP_LABEL (test_tpm_attest checks).
 */
#define HGS_TPM_TK_OAEP_LABEL "HGSLAB-TK"

/* The OAEP label of credential activation's seed, NUL included (TPM spec). */
#define HGS_TPM_IDENTITY_LABEL "IDENTITY"

/* The largest credential (secret) MakeCredential protects: one SHA-256 digest. */
#define HGS_TPM_CREDENTIAL_MAX 32

/* The largest nonce (qualifying data) a TPM accepts: sizeof(TPMU_HA). */
#define HGS_TPM_NONCE_MAX 64

/* Size of a TPM name with a SHA-256 name algorithm: 2-byte alg id + digest. */
#define HGS_TPM_NAME_SHA256_LEN 34

/* A TPM object's public area, parsed. */
struct hgs_tpm_key {
	TPM2B_PUBLIC pub;          /* as unmarshalled */
	EVP_PKEY *pkey;            /* its public key */
	TPM2B_NAME name;           /* nameAlg || H(nameAlg, TPMT_PUBLIC marshalled) */
	struct hl_verifier *vr;    /* a signing key's prepared check under its scheme, or NULL */
};

/*
 * Parse a marshalled TPM2B_PUBLIC (RSA 2048/3072 or ECC P-256 keys, nameAlg
 * SHA-1/SHA-256/SHA-384) into *out with its public key and name.  Parses
 * that succeed are remembered by their exact bytes (a host sends the same
 * keys every time), so K->pkey may be shared with other parses: treat it as
 * read-only.
 */
int hgs_tpm_key_parse(const void *buf, size_t len, struct hgs_tpm_key **out);

/* Free K; NULL-safe. */
void hgs_tpm_key_free(struct hgs_tpm_key *k);

/* K's public key as SubjectPublicKeyInfo PEM (a C string) in OUT. */
int hgs_tpm_key_pem(const struct hgs_tpm_key *k, struct hl_buf *out);

/* Check K's attributes for an attestation key (see above); WHAT names it in messages. */
int hgs_tpm_key_check_ak(const struct hgs_tpm_key *k, const char *what);

/* Check K's attributes for a transport key (see above); WHAT names it in messages. */
int hgs_tpm_key_check_transport(const struct hgs_tpm_key *k, const char *what);

/*
 * TCG KDFa (TPM 2.0 Part 1, 11.4.10.2): SP800-108 counter-mode KDF with
 * HMAC-SHA-256 over [i]32 || LABEL || 0x00 || CONTEXT || [8 * OUT_LEN]32,
 * through OpenSSL's KBKDF.  LABEL is given without its NUL.  CONTEXT may be
 * NULL when CONTEXT_LEN is 0.
 */
int hgs_tpm_kdfa_sha256(const void *key, size_t key_len, const char *label,
			const void *context, size_t context_len, void *out, size_t out_len);

/*
 * TPM2_MakeCredential in software: protect SECRET (1..HGS_TPM_CREDENTIAL_MAX
 * bytes) for the object named NAME (a TPM2B_NAME's bytes: alg id || digest)
 * so that only the TPM holding the RSA-2048 EK (public key EK, default
 * template) can recover it, and only while that object is loaded beside it.
 * A fresh 32-byte seed is wrapped with RSA-OAEP(SHA-256, "IDENTITY\0"); the
 * symmetric key is KDFa(seed, "STORAGE", NAME) (AES-128-CFB, zero IV), the
 * HMAC key KDFa(seed, "INTEGRITY").  Outputs: ID_OBJECT = TPM2B_ID_OBJECT,
 * ENC_SECRET = TPM2B_ENCRYPTED_SECRET, both marshalled.
 */
int hgs_tpm_make_credential_name(EVP_PKEY *ek, const void *name, size_t name_len,
				 const void *secret, size_t secret_len, struct hl_buf *id_object,
				 struct hl_buf *enc_secret);

/*
 * MakeCredential for an attestation key: check AK (hgs_tpm_key_check_ak)
 * and protect SECRET for its name, as above.
 */
int hgs_tpm_make_credential(EVP_PKEY *ek, const struct hgs_tpm_key *ak, const void *secret,
			    size_t secret_len, struct hl_buf *id_object, struct hl_buf *enc_secret);

/* What a verified quote says. */
struct hgs_tpm_quote {
	uint32_t pcr_mask;                 /* quoted PCRs of the SHA-256 bank (bit n = PCR n) */
	uint8_t pcr_digest[HL_SHA256_LEN]; /* SHA-256 of those PCR values, in PCR order */
	uint64_t clock;                    /* TPMS_CLOCK_INFO, as quoted */
	uint32_t reset_count;
	uint32_t restart_count;
	int safe;
	uint64_t firmware_version;
};

/*
 * Verify a quote: ATTEST (TPMS_ATTEST bytes) has magic TPM_GENERATED_VALUE,
 * type TPM_ST_ATTEST_QUOTE and extraData equal to NONCE; SIG
 * (TPMT_SIGNATURE) is AK's signature over ATTEST with SHA-256 (AK must pass
 * hgs_tpm_key_check_ak); the selection is of the SHA-256 bank only.  *OUT
 * gets the selection and pcrDigest, which the caller compares with its
 * own expectation (hgs_tpm_pcr_digest of the TCG log replay).
 */
int hgs_tpm_verify_quote(const struct hgs_tpm_key *ak, const void *attest, size_t attest_len,
			 const void *sig, size_t sig_len, const void *nonce, size_t nonce_len,
			 struct hgs_tpm_quote *out);

/*
 * The pcrDigest a quote of the SHA-256 PCRs in MASK would carry: SHA-256 of
 * VALUES[n] for each n in MASK in increasing order, into OUT.
 */
int hgs_tpm_pcr_digest(uint32_t mask, const uint8_t values[24][HL_SHA256_LEN],
		       uint8_t out[HL_SHA256_LEN]);

/*
 * Verify a TPM2_Certify of KEY by AK: ATTEST has the magic, type
 * TPM_ST_ATTEST_CERTIFY, extraData equal to NONCE and the certified name
 * equal to KEY's name; SIG is AK's signature over ATTEST; AK passes
 * hgs_tpm_key_check_ak and KEY hgs_tpm_key_check_transport.
 */
int hgs_tpm_verify_certify(const struct hgs_tpm_key *ak, const struct hgs_tpm_key *key,
			   const void *attest, size_t attest_len, const void *sig, size_t sig_len,
			   const void *nonce, size_t nonce_len);

/*
 * The TPM vendor CA: a PEM bundle (hgs init / set-server --tpm-vendor-ca)
 * that EK certificates must chain to.  Its self-signed certificates are the
 * trust anchors, the others intermediates (lib/crypto's
 * hl_cert_verify_bundle).
 */

/* Check that PEM is a readable bundle of one or more certificates. */
int hgs_vendor_ca_check(const char *pem);

/* Verify that CERT (an EK certificate) chains to the vendor CA bundle BUNDLE at time AT. */
int hgs_vendor_ca_verify(const char *bundle, X509 *cert, time_t at);

#endif
