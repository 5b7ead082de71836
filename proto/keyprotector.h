/*
 * keyprotector.h - the key protector (KP): hgslab's versioned envelope for a
 * shielded VM's transport key (TK), shared by the tenant (tenant/), which
 * creates and edits KPs, and the Key Protection Service (hgs/kps.c), which
 * unwraps the TK for healthy hosts.  docs/key-protector.md is the format's
 * reference; in short, a KP file is one JSON object
 *
 *   {"format":"hgslab-kp","version":1,"alg":"PS256",
 *    "body":"<base64 of the body's JSON bytes>",
 *    "signature":"<base64 RSASSA-PSS SHA-256 signature over those body bytes>"}
 *
 * and the body is
 *
 *   {"id":"<32 lowercase hex>","created":"2026-11-28T17:21:05Z",
 *    "owner":{"name":..,"signing_cert":B64DER,"encryption_cert":B64DER},
 *    "guardians":[{"name":..,"signing_thumbprint":HEX,"encryption_thumbprint":HEX,
 *                  "encryption_cert":B64DER,"wrapped_tk":base64}, ...]}
 *
 * (B64DER: standard base64 of a certificate's DER.)
 *
 * The TK is 32 random bytes, wrapped to each guardian's encryption key with
 * RSA-OAEP (SHA-256, MGF1-SHA-256) under the 10-byte label "HGSLAB-KP\0"
 * (HL_KP_OAEP_LABEL).  guardians[0] is always the owner.  The signature is
 * made with the owner's signing key and checked with the owner's signing
 * certificate carried in the body; callers that know who the owner must be
 * pin it by thumbprint.  Thumbprints are SHA-256 over the certificate's DER,
 * uppercase hex (equal to hl_cert_thumbprint of the certificate).
 *
 * Cost: parsing decodes one certificate (the owner's signing certificate,
 * needed to verify); the guardians' certificates stay DER bytes, bound by
 * their thumbprints and the signature, for callers that want them.
 *
 * The TK never leaves memory: functions hand it only to their caller, in an
 * hl_buf that hl_buf_free() cleanses, and nothing here writes files.
 *
 * Contract (as lib/crypto.h): functions return 0 on success and -1 after
 * hl_error(); outputs are cleared on entry and set only on success;
 * destructors are NULL-safe; inputs are never modified and stay the
 * caller's.  Every byte of a KP is outside input: hl_kp_parse() refuses
 * anything malformed with a message naming the field, never crashes.
 */
#ifndef HGSLAB_PROTO_KEYPROTECTOR_H
#define HGSLAB_PROTO_KEYPROTECTOR_H

#include <stddef.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "lib/crypto.h"

#define HL_KP_FORMAT "hgslab-kp"
#define HL_KP_VERSION 1
#define HL_KP_ALG "PS256"
/* Largest KP file hl_kp_parse() accepts (1 MiB). */
#define HL_KP_MAX_SIZE ((size_t)1 << 20)
/* Most guardians one KP may list, the owner included. */
#define HL_KP_MAX_GUARDIANS 64
/* Longest guardian name in bytes (printable ASCII or UTF-8, no control characters). */
#define HL_KP_NAME_MAX 128
/* TK length in bytes (AES-256 key). */
#define HL_KP_TK_LEN 32
/* OAEP label: "HGSLAB-KP" and its terminating NUL, 10 bytes (TPM-compatible form). */
#define HL_KP_OAEP_LABEL "HGSLAB-KP"
#define HL_KP_OAEP_LABEL_LEN 10
/* KP id: 16 random bytes as 32 lowercase hex characters, plus NUL. */
#define HL_KP_ID_SIZE 33
/* Domain separation prefix of the TK fingerprint (hashed with its NUL). */
#define HL_KP_TK_FP_DOMAIN "hgslab-kp-tk-fingerprint-v1"

/* Flags for hl_kp_create() / hl_kp_grant(). */
enum {
	/* accept guardian certificates outside their validity period (--allow-expired) */
	HL_KP_ALLOW_EXPIRED = 1 << 0,
};

/*
 * The owner guardian, with its private keys (the tenant's own guardian).
 * Keys must be RSA 2048 or 3072 and match their certificates.
 */
struct hl_kp_owner {
	const char *name;
	X509 *signing_cert;
	EVP_PKEY *signing_key;
	X509 *encryption_cert;
	EVP_PKEY *encryption_key;
};

/* A guardian as the KP creator knows it: public certificates only (e.g. an imported HGS). */
struct hl_kp_guardian {
	const char *name;
	X509 *signing_cert;
	X509 *encryption_cert;
};

/* One guardian entry of a parsed KP.  Read-only for callers. */
struct hl_kp_entry {
	char name[HL_KP_NAME_MAX + 1];
	char signing_thumbprint[HL_SHA256_HEX_SIZE];
	char encryption_thumbprint[HL_SHA256_HEX_SIZE];  /* SHA-256 of encryption_cert_der */
	struct hl_buf encryption_cert_der;               /* not decoded: hl_cert_from_der if needed */
	struct hl_buf wrapped_tk;                        /* RSA-OAEP ciphertext, 256 or 384 bytes */
};

/*
 * A parsed KP.  Read-only for callers; release with hl_kp_free().
 * Invariants after hl_kp_parse(): version == HL_KP_VERSION; 1 <= n_entries
 * <= HL_KP_MAX_GUARDIANS; entries[0] is the owner (its name and
 * thumbprints equal the owner's; the owner's encryption certificate is
 * entries[0].encryption_cert_der); no two entries share a name or an
 * encryption thumbprint; owner_signing_cert holds an RSA 2048/3072 key.
 * Parsing does NOT check the signature: call hl_kp_verify() before
 * trusting anything in it.
 */
struct hl_kp {
	int version;
	char id[HL_KP_ID_SIZE];
	char created[32];                    /* RFC 3339 UTC, e.g. "2026-11-28T17:21:05Z" */
	char owner_name[HL_KP_NAME_MAX + 1];
	X509 *owner_signing_cert;
	struct hl_buf owner_signing_cert_der; /* as carried in the body */
	char owner_signing_thumbprint[HL_SHA256_HEX_SIZE];
	char owner_encryption_thumbprint[HL_SHA256_HEX_SIZE];
	struct hl_kp_entry *entries;
	size_t n_entries;
	struct hl_buf body;                  /* the signed body bytes, as in the file */
	struct hl_buf signature;
};

/*
 * Create a KP: a fresh random TK wrapped to OWNER (entry 0) and then to each
 * of the N_GUARDIANS GUARDIANS in order, signed by OWNER's signing key.
 * Refuses a duplicate guardian (same name or encryption certificate, the
 * owner included), a non-RSA or too small key, and, unless FLAGS has
 * HL_KP_ALLOW_EXPIRED, a certificate outside its validity period now.  *KP
 * gets the file's bytes (a JSON text, not secret); *TK, when TK is not NULL,
 * gets the TK (secret: release with hl_buf_free).
 */
int hl_kp_create(const struct hl_kp_owner *owner, const struct hl_kp_guardian *guardians,
		 size_t n_guardians, unsigned flags, struct hl_buf *kp, struct hl_buf *tk);

/*
 * Parse LEN bytes of a KP file strictly: at most HL_KP_MAX_SIZE, exactly the
 * documented fields, format "hgslab-kp", version 1 (another version gives
 * "key protector version N is not supported ..."), alg PS256, certificates
 * and thumbprints consistent.  Errors start with "bad key protector: ",
 * except the version one, which names both versions.
 */
int hl_kp_parse(const void *data, size_t len, struct hl_kp **out);

/* Free KP; NULL-safe. */
void hl_kp_free(struct hl_kp *kp);

/*
 * Check the owner's signature over KP's body with the owner signing
 * certificate it carries.  When PIN_SIGNING_THUMBPRINT is not NULL, that
 * certificate's thumbprint must also equal it (hex, either case): a KP
 * re-signed by another owner is refused.  No certificate chain or validity
 * check (owner certificates are self-signed, as New-HgsGuardian makes them).
 */
int hl_kp_verify(const struct hl_kp *kp, const char *pin_signing_thumbprint);

/*
 * Find the entry whose encryption certificate has THUMBPRINT (hex, either
 * case) into *OUT (borrowed from KP).  -1 with "key protector ID does not
 * list a guardian with encryption certificate THUMBPRINT ..." when none.
 */
int hl_kp_find(const struct hl_kp *kp, const char *thumbprint, const struct hl_kp_entry **out);

/* Find the entry named NAME (exact match) into *OUT; -1 with a message when none. */
int hl_kp_find_name(const struct hl_kp *kp, const char *name, const struct hl_kp_entry **out);

/*
 * Unwrap ENTRY's TK with the guardian's private encryption KEY into *TK
 * (secret: hl_buf_free).  Another key fails with "... wrong key or label,
 * or altered data".  Does not verify the KP: the caller does that first.
 */
int hl_kp_unwrap_entry(const struct hl_kp_entry *entry, EVP_PKEY *key, struct hl_buf *tk);

/*
 * Find the entry for ENCRYPTION_CERT and unwrap its TK with KEY (the
 * owner's, or the KPS's) into *TK.  Does not verify the KP.
 */
int hl_kp_unwrap(const struct hl_kp *kp, X509 *encryption_cert, EVP_PKEY *key, struct hl_buf *tk);

/*
 * Grant GUARDIAN access: verify KP pinned to OWNER, unwrap the TK with
 * OWNER's encryption key, wrap it to GUARDIAN, re-sign; *OUT gets the new
 * file's bytes (same id, created and TK).  Refuses a guardian already listed
 * (by name or encryption certificate) and, unless HL_KP_ALLOW_EXPIRED, an
 * expired certificate.
 */
int hl_kp_grant(const struct hl_kp *kp, const struct hl_kp_owner *owner,
		const struct hl_kp_guardian *guardian, unsigned flags, struct hl_buf *out);

/*
 * Revoke the guardian whose encryption certificate has THUMBPRINT: verify KP
 * pinned to OWNER, drop the entry, re-sign into *OUT.  Refuses revoking the
 * owner and a guardian that is not listed.  Copies of the old KP still hold
 * the same TK for that guardian: revocation stops future use of this file
 * only (as Revoke-HgsKeyProtectorAccess).
 */
int hl_kp_revoke(const struct hl_kp *kp, const struct hl_kp_owner *owner, const char *thumbprint,
		 struct hl_buf *out);

/* ---- the signed envelope (shared with the shielding data, proto/pdk.h) ---- */

/*
 * Sign BODY_TEXT (a JSON text) with the owner's signing KEY (RSASSA-PSS,
 * SHA-256) and write the envelope
 *   {"format":FORMAT,"version":VERSION,"alg":"PS256","body":B64,"signature":B64}
 * (indented JSON) into OUT.  WHAT names the document in messages ("the key
 * protector").
 */
int hl_kp_envelope_write(const char *format, int version, const char *body_text, EVP_PKEY *key,
			 const char *what, struct hl_buf *out);

/*
 * Read such an envelope of LEN bytes (at most MAX) strictly: a JSON object
 * of exactly the five members, FORMAT ("this is not an hgslab NOUN"
 * otherwise), VERSION ("NOUN version N is not supported ..." otherwise,
 * with *VERSION_ERR set), alg PS256, a base64 body and a signature of 1 to
 * 1024 bytes, decoded into BODY and SIG.  No signature check.
 */
int hl_kp_envelope_read(const void *data, size_t len, size_t max, const char *format,
			int version, const char *noun, struct hl_buf *body, struct hl_buf *sig,
			int *version_err);

/*
 * The TK fingerprint: uppercase hex of SHA-256(HL_KP_TK_FP_DOMAIN "\0" || TK)
 * into OUT.  Safe to print or log; only someone who can unwrap the TK can
 * compute it, and it reveals nothing about the TK.
 */
int hl_kp_tk_fingerprint(const void *tk, size_t len, char out[HL_SHA256_HEX_SIZE]);

#endif
