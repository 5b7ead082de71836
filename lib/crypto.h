/*
 * crypto.h - hgslab's cryptography, all of it done by OpenSSL 3 (EVP, X509).
 *
 * Contract, for every function here unless its comment says otherwise:
 *   - returns 0 on success and -1 on failure after setting one message with
 *     hl_error() (lowercase, what failed and why, with OpenSSL's reason when
 *     OpenSSL gave one);
 *   - output parameters are cleared on entry (*out = NULL, or an hl_buf set
 *     to {NULL, 0}) and assigned only on success, so a failed call leaves
 *     nothing to free;
 *   - destructors (hl_buf_free, hl_key_free, hl_cert_free) accept NULL;
 *   - inputs are never modified and the caller keeps ownership of them;
 *   - outside input (PEM, DER, base64, hex, ciphertext, signatures) is
 *     parsed defensively: garbage gives -1 with a message, never a crash.
 *
 * Keys are plain EVP_PKEY and certificates plain X509 so that callers may
 * pass them to OpenSSL directly; free them with hl_key_free / hl_cert_free
 * (or EVP_PKEY_free / X509_free).  Supported key types: RSA 2048, RSA 3072
 * and ECC NIST P-256.  Every digest inside signatures, certificates and
 * OAEP is SHA-256.
 *
 * Hex produced here is uppercase without separators (the form Windows and
 * HGS show thumbprints in); hex input is accepted in either case.
 */
#ifndef HGSLAB_LIB_CRYPTO_H
#define HGSLAB_LIB_CRYPTO_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

/* ---- owned byte buffers ---- */

/*
 * An owned byte buffer.  data is malloc()ed (with one spare NUL byte after
 * len, so text may be used as a C string) or NULL when len is 0 after a
 * failure.  Release with hl_buf_free(), which cleanses the bytes first.
 */
struct hl_buf {
	unsigned char *data;
	size_t len;
};

/* Cleanse and free B's bytes and reset it to {NULL, 0}; NULL-safe. */
void hl_buf_free(struct hl_buf *b);

/* Set B (not freed first) to a malloc'd copy of the LEN bytes at P, with a NUL after them. */
int hl_buf_set(struct hl_buf *b, const void *p, size_t len);

/* ---- randomness, digests, comparison, encodings ---- */

#define HL_SHA1_LEN 20
#define HL_SHA256_LEN 32
#define HL_SHA384_LEN 48
#define HL_DIGEST_MAX 64
/* A SHA-256 value as hex plus its NUL: fingerprints and thumbprints. */
#define HL_SHA256_HEX_SIZE (2 * HL_SHA256_LEN + 1)

enum hl_digest {
	HL_DIGEST_SHA1,
	HL_DIGEST_SHA256,
	HL_DIGEST_SHA384,
};

/*
 * Fill BUF with LEN bytes from OpenSSL's CSPRNG: one CTR-DRBG child of
 * OpenSSL's primary DRBG shared by the process's threads (a thread's first
 * RAND_bytes() would instantiate a DRBG of its own, and `hgs serve` makes a
 * thread per connection); RAND_bytes() when that DRBG cannot be made.
 * Thread-safe.  For secrets (keys, secret seeds).
 */
int hl_crypto_random(void *buf, size_t len);

/*
 * The same for bytes that go out in the clear (nonces; certificate serials
 * are drawn so too), LEN at most 64 from a pool refilled 4 KiB at a time
 * from that DRBG (bytes given out are wiped from it; a child after fork()
 * starts with an empty pool), larger draws directly.  Thread-safe.
 */
int hl_crypto_random_public(void *buf, size_t len);

/* Size in bytes of ALG's output (20, 32 or 48); 0 for an unknown ALG. */
size_t hl_crypto_digest_len(enum hl_digest alg);

/*
 * Hash DATA with ALG into OUT (at least HL_DIGEST_MAX bytes or
 * hl_crypto_digest_len(alg)); returns the digest length, or -1.
 */
int hl_crypto_digest(enum hl_digest alg, const void *data, size_t len, unsigned char *out);

/* SHA-256 of DATA into OUT; 0 or -1. */
int hl_crypto_sha256(const void *data, size_t len, unsigned char out[HL_SHA256_LEN]);

/*
 * Incremental SHA-256, for data read in pieces (a disk image).  begin,
 * then update any number of times, then end (which writes the digest and
 * releases the state) or abort (which only releases it; NULL-safe and safe
 * after end).
 */
struct hl_sha256 {
	EVP_MD_CTX *ctx;
};
int hl_crypto_sha256_begin(struct hl_sha256 *h);
int hl_crypto_sha256_update(struct hl_sha256 *h, const void *data, size_t len);
int hl_crypto_sha256_end(struct hl_sha256 *h, unsigned char out[HL_SHA256_LEN]);
void hl_crypto_sha256_abort(struct hl_sha256 *h);

/*
 * HMAC-SHA256 under one key, the key set up once (the MAC and digest
 * fetched, the padded key hashed) and every MAC computed from a copy of
 * that state, so several threads may use one hl_hmac at once.
 */
struct hl_hmac;
int hl_hmac_sha256_new(const void *key, size_t len, struct hl_hmac **out);
int hl_hmac_sha256(const struct hl_hmac *h, const void *data, size_t len,
		   unsigned char out[HL_SHA256_LEN]);
void hl_hmac_free(struct hl_hmac *h);   /* NULL-safe */

/* 1 when the LEN bytes at A and B are equal, 0 otherwise, in constant time. */
int hl_crypto_ct_equal(const void *a, const void *b, size_t len);

/* Overwrite LEN bytes at P with zeros in a way the compiler keeps; NULL-safe. */
void hl_crypto_cleanse(void *p, size_t len);

/*
 * Write DATA as uppercase hex, NUL-terminated, into OUT of OUT_SIZE bytes
 * (needs 2 * LEN + 1).
 */
int hl_crypto_hex_encode(const void *data, size_t len, char *out, size_t out_size);

/* Decode hex TEXT (either case, no separators, even length) into OUT. */
int hl_crypto_hex_decode(const char *text, struct hl_buf *out);

/*
 * 1 when TEXT is exactly DIGITS hex digits, all of one case: uppercase A-F
 * when UPPER, lowercase a-f otherwise (the forms hgslab's formats write);
 * else 0.  For strict readers of thumbprints, ids and digests.
 */
int hl_crypto_hex_is(const char *text, size_t digits, int upper);

/* Encode DATA as standard padded base64 (no line breaks) into OUT (a C string). */
int hl_crypto_base64_encode(const void *data, size_t len, struct hl_buf *out);

/*
 * Decode standard padded base64 TEXT of LEN bytes (no whitespace, length a
 * multiple of 4) into OUT; anything else is refused.
 */
int hl_crypto_base64_decode(const char *text, size_t len, struct hl_buf *out);

/* ---- keys ---- */

enum hl_key_type {
	HL_KEY_RSA2048,
	HL_KEY_RSA3072,
	HL_KEY_EC_P256,
};

/* Generate a fresh key pair of TYPE. */
int hl_key_generate(enum hl_key_type type, EVP_PKEY **out);

/* Free KEY; NULL-safe (EVP_PKEY_free). */
void hl_key_free(EVP_PKEY *key);

/* The type of KEY; -1 with a message for any other algorithm or size. */
int hl_key_type_of(const EVP_PKEY *key, enum hl_key_type *out);

/* "rsa-2048", "rsa-3072" or "ec-p256"; "unknown" otherwise. */
const char *hl_key_type_name(enum hl_key_type type);

/*
 * Write KEY's private key as unencrypted PKCS#8 PEM ("BEGIN PRIVATE KEY")
 * into OUT.  OUT holds a secret: write it with the atomic-file module
 * (mode 0600) and release it with hl_buf_free(), which cleanses it.
 */
int hl_key_priv_to_pem(const EVP_PKEY *key, struct hl_buf *out);

/*
 * Read a private key from PEM (PKCS#8 or the traditional RSA / EC forms).
 * An encrypted PEM is refused, never prompted for.
 */
int hl_key_priv_from_pem(const void *pem, size_t len, EVP_PKEY **out);

/* Read a private key PEM file at PATH (as hl_key_priv_from_pem). */
int hl_key_priv_load_file(const char *path, EVP_PKEY **out);

/* Write KEY's public key as SubjectPublicKeyInfo PEM ("BEGIN PUBLIC KEY"). */
int hl_key_pub_to_pem(const EVP_PKEY *key, struct hl_buf *out);

/* Write KEY's public key as DER SubjectPublicKeyInfo. */
int hl_key_pub_to_der(const EVP_PKEY *key, struct hl_buf *out);

/* Read a public key from SubjectPublicKeyInfo PEM. */
int hl_key_pub_from_pem(const void *pem, size_t len, EVP_PKEY **out);

/* Read a public key from DER SubjectPublicKeyInfo; trailing bytes are refused. */
int hl_key_pub_from_der(const void *der, size_t len, EVP_PKEY **out);

/*
 * Build an RSA public key from its big-endian modulus N (NLEN bytes) and
 * public exponent E (as in a TPMT_PUBLIC, where 0 means 65537).
 */
int hl_key_rsa_from_n_e(const unsigned char *n, size_t nlen, uint32_t e, EVP_PKEY **out);

/*
 * Build a P-256 public key from its big-endian affine coordinates (each at
 * most 32 bytes, as in a TPMS_ECC_POINT); a point off the curve is refused.
 */
int hl_key_ec_p256_from_xy(const unsigned char *x, size_t xlen, const unsigned char *y,
			   size_t ylen, EVP_PKEY **out);

/*
 * Fingerprint of KEY: SHA-256 of its DER SubjectPublicKeyInfo as uppercase
 * hex into OUT.  Equal for a private key and its public half.
 */
int hl_key_fingerprint(const EVP_PKEY *key, char out[HL_SHA256_HEX_SIZE]);

/* 1 when A and B have the same public key, 0 otherwise (never an error). */
int hl_key_pub_equal(const EVP_PKEY *a, const EVP_PKEY *b);

/* ---- signatures (SHA-256) ---- */

enum hl_sig_scheme {
	HL_SIG_DEFAULT = 0, /* RSA-PSS for RSA keys, ECDSA for EC keys */
	HL_SIG_RSA_PSS,     /* RSASSA-PSS, MGF1-SHA-256, salt length 32 */
	HL_SIG_RSA_PKCS1,   /* RSASSA-PKCS1-v1_5 */
	HL_SIG_ECDSA,       /* ECDSA, signature DER-encoded (SEQUENCE { r, s }) */
};

/*
 * Sign the SHA-256 digest of MSG with private KEY under SCHEME into SIG.
 * A scheme that does not fit the key (RSA-PSS with an EC key...) is an error.
 */
int hl_crypto_sign(EVP_PKEY *key, enum hl_sig_scheme scheme, const void *msg, size_t len,
		   struct hl_buf *sig);

/*
 * Verify SIG over MSG with KEY (public half is enough) under SCHEME: 0 when
 * valid, -1 with "signature does not verify ..." when not (or on an error).
 * RSA-PSS verification accepts any salt length (TPMs use the maximum).
 */
int hl_crypto_verify(EVP_PKEY *key, enum hl_sig_scheme scheme, const void *msg, size_t len,
		     const void *sig, size_t sig_len);

/*
 * A key's signature check made once and used many times (a TPM host's
 * AK verifies a quote and a certify at every attestation): the
 * digest-verify context for KEY under SCHEME is set up at
 * hl_verifier_new (OpenSSL's algorithm lookups included) and copied for
 * each check.  hl_verifier_check answers as hl_crypto_verify does; it is
 * thread-safe.  Reference-counted: hl_verifier_up_ref, hl_verifier_free
 * (NULL-safe) drops one reference.
 */
struct hl_verifier;
int hl_verifier_new(EVP_PKEY *key, enum hl_sig_scheme scheme, struct hl_verifier **out);
int hl_verifier_check(struct hl_verifier *v, const void *msg, size_t len, const void *sig,
		      size_t sig_len);
struct hl_verifier *hl_verifier_up_ref(struct hl_verifier *v);
void hl_verifier_free(struct hl_verifier *v);

/*
 * DER-encode an ECDSA signature from its big-endian R and S (as a
 * TPMT_SIGNATURE carries them) into OUT, ready for hl_crypto_verify.
 */
int hl_crypto_ecdsa_sig_from_rs(const unsigned char *r, size_t rlen, const unsigned char *s,
				size_t slen, struct hl_buf *out);

/* ---- RSA-OAEP key wrapping (SHA-256, MGF1-SHA-256) ---- */

/*
 * Encrypt IN to RSA public KEY with OAEP into OUT (KEY's modulus size).
 * LABEL is used byte for byte, LABEL_LEN bytes, none when LABEL_LEN is 0.
 * Nothing is appended: to match TPM2_RSA_Decrypt (which adds a terminating
 * zero to a label that lacks one) pass the NUL yourself, e.g.
 * ("IDENTITY", 9).  IN may be at most modulus size - 66 bytes.
 */
int hl_crypto_oaep_wrap(EVP_PKEY *key, const void *label, size_t label_len, const void *in,
			size_t len, struct hl_buf *out);

/*
 * Decrypt IN with RSA private KEY and the exact LABEL into OUT (a secret:
 * release with hl_buf_free).  A wrong key, a wrong label or altered data
 * all give -1 with "rsa-oaep unwrap failed ...".
 */
int hl_crypto_oaep_unwrap(EVP_PKEY *key, const void *label, size_t label_len, const void *in,
			  size_t len, struct hl_buf *out);

/* ---- AES-256-GCM ---- */

#define HL_GCM_KEY_LEN 32
#define HL_GCM_IV_LEN 12
#define HL_GCM_TAG_LEN 16
#define HL_GCM_OVERHEAD (HL_GCM_IV_LEN + HL_GCM_TAG_LEN)

/*
 * Encrypt PT with KEY under a fresh random 12-byte IV, authenticating AAD
 * too (AAD may be NULL when AAD_LEN is 0).  OUT is
 *   IV (12 bytes) || ciphertext (PT_LEN bytes) || tag (16 bytes).
 */
int hl_crypto_gcm_encrypt(const unsigned char key[HL_GCM_KEY_LEN], const void *aad,
			  size_t aad_len, const void *pt, size_t pt_len, struct hl_buf *out);

/*
 * Decrypt IN (laid out as hl_crypto_gcm_encrypt writes it) with KEY and the
 * same AAD into OUT (a secret: release with hl_buf_free).  Any change to
 * IV, ciphertext, tag, AAD or key gives -1 with "... authentication failed"
 * and no plaintext.
 */
int hl_crypto_gcm_decrypt(const unsigned char key[HL_GCM_KEY_LEN], const void *aad,
			  size_t aad_len, const void *in, size_t in_len, struct hl_buf *out);

/* ---- HKDF (RFC 5869) ---- */

/* Longest output hl_crypto_hkdf_sha256 derives (255 SHA-256 blocks). */
#define HL_HKDF_SHA256_MAX (255 * HL_SHA256_LEN)

/*
 * HKDF-SHA256 (extract, then expand) of the input keying material IKM
 * (IKM_LEN bytes, at least 1) with SALT and INFO (either may be NULL when
 * its length is 0) into OUT_LEN bytes at OUT (1 to HL_HKDF_SHA256_MAX).
 * OUT is a secret: cleanse it when done.  OpenSSL's EVP_KDF "HKDF".
 */
int hl_crypto_hkdf_sha256(const void *ikm, size_t ikm_len, const void *salt, size_t salt_len,
			  const void *info, size_t info_len, void *out, size_t out_len);

/* ---- scrypt (RFC 7914): a key from a password ---- */

/*
 * Derive OUT_LEN bytes at OUT (1 to 64) from PASSWORD (PW_LEN bytes, at
 * least 1) and SALT (at least 1 byte) with scrypt, cost N = 2^LOG2_N
 * (10 to 20), block size R (1 to 32) and parallelism P (1 to 16); memory
 * 128 * R * 2^LOG2_N bytes.  OUT is a secret: cleanse it when done.
 * OpenSSL's EVP_KDF "SCRYPT".
 */
int hl_crypto_scrypt(const void *password, size_t pw_len, const void *salt, size_t salt_len,
		     unsigned log2_n, unsigned r, unsigned p, void *out, size_t out_len);

/* ---- CMS SignedData (RFC 5652) ---- */

/*
 * Sign CONTENT (LEN bytes, binary: no MIME canonicalisation) with KEY and
 * its certificate CERT into a CMS ContentInfo of type SignedData, DER, in
 * OUT: the content is included (eContentType id-data), one SignerInfo
 * with SHA-256 and the signed attributes OpenSSL adds (content type,
 * signing time, message digest, and the ESS signing-certificate-v2 of
 * RFC 5035 that binds CERT), CERT as the only certificate, no S/MIME
 * capabilities.  RSA keys sign with PKCS#1 v1.5, P-256 keys with ECDSA.
 * KEY must match CERT.  `openssl cms -verify -inform DER` reads it.
 */
int hl_cms_sign(X509 *cert, EVP_PKEY *key, const void *content, size_t len, struct hl_buf *out);

/*
 * Read DER (LEN bytes) as a CMS SignedData exactly as hl_cms_sign writes
 * it: one signer whose certificate is the one included, the content
 * attached (of type id-data, at most MAX_CONTENT bytes), and every part the
 * signature does not cover as hl_cms_sign writes it (DER, versions,
 * algorithms, no CRLs or unsigned attributes, the signing-certificate-v2
 * attribute present), so that no byte of a message can change and it still
 * verify.  The content goes into CONTENT and a new reference to the
 * signer's certificate into *SIGNER (hl_cert_free).  The signature is NOT
 * checked: call hl_cms_verify() before trusting either.  Anything else is
 * refused with a message starting "not a CMS signed message".
 */
int hl_cms_parse(const void *der, size_t len, size_t max_content, struct hl_buf *content,
		 X509 **signer);

/*
 * Check the signature of the CMS SignedData DER (as hl_cms_parse reads
 * it) with the signer certificate it includes: the message digest of the
 * content, the signature over the signed attributes and the certificate's
 * hash in its signing-certificate-v2 attribute.  No certificate
 * chain, validity or purpose check: who may sign is the caller's decision
 * (compare the signer's thumbprint).  -1 with "the CMS signature does not
 * verify ..." when it does not.
 */
int hl_cms_verify(const void *der, size_t len);

/* ---- X.509 certificates ---- */

/* keyUsage bits for struct hl_cert_spec.key_usage. */
enum {
	HL_KU_DIGITAL_SIGNATURE = 1 << 0,
	HL_KU_NON_REPUDIATION = 1 << 1,
	HL_KU_KEY_ENCIPHERMENT = 1 << 2,
	HL_KU_DATA_ENCIPHERMENT = 1 << 3,
	HL_KU_KEY_AGREEMENT = 1 << 4,
	HL_KU_KEY_CERT_SIGN = 1 << 5,
	HL_KU_CRL_SIGN = 1 << 6,
};

/* extendedKeyUsage bits for struct hl_cert_spec.ext_key_usage. */
enum {
	HL_EKU_SERVER_AUTH = 1 << 0,
	HL_EKU_CLIENT_AUTH = 1 << 1,
	HL_EKU_CODE_SIGNING = 1 << 2,
};

/* How struct hl_cert_ext.value is put into the extension. */
enum hl_cert_ext_kind {
	HL_EXT_UTF8,   /* value is text; stored as a DER UTF8String */
	HL_EXT_OCTETS, /* value is any bytes; stored as a DER OCTET STRING */
	HL_EXT_DER,    /* value is already one complete DER element; stored as is */
};

/*
 * One extra extension.  OID is dotted text (e.g. "1.3.6.1.4.1.311.21.99"); it must
 * not be one the issuing code sets itself.  Keep custom extensions
 * non-critical: OpenSSL's verification refuses unknown critical ones.
 */
struct hl_cert_ext {
	const char *oid;
	enum hl_cert_ext_kind kind;
	const void *value;
	size_t len;
	int critical;
};

/*
 * What to put in a certificate.  The serial is always 20 random bytes
 * (positive), the signature SHA-256 with the issuer's key, and
 * subjectKeyIdentifier / authorityKeyIdentifier are always added.
 */
struct hl_cert_spec {
	const char *cn;           /* subject CN, required, non-empty */
	const char *org;          /* subject O, or NULL */
	time_t not_before;        /* validity, inclusive; must be < not_after */
	time_t not_after;
	int is_ca;                /* basicConstraints CA:TRUE (critical); else CA:FALSE */
	int path_len;             /* pathlen for a CA; -1 for none */
	unsigned int key_usage;   /* HL_KU_* (critical); 0 means no keyUsage, or
				     keyCertSign|cRLSign|digitalSignature for a CA */
	unsigned int ext_key_usage; /* HL_EKU_*; 0 means none */
	const char *const *san;   /* subjectAltName entries: IP literals become
				     iPAddress, anything else dNSName */
	size_t n_san;
	const struct hl_cert_ext *exts; /* extra extensions */
	size_t n_exts;
};

/* Free CERT; NULL-safe (X509_free). */
void hl_cert_free(X509 *cert);

/*
 * Issue a self-signed CA certificate for KEY (a private key) from SPEC;
 * CA:TRUE is set whatever spec->is_ca says.
 */
int hl_cert_issue_self_signed(const struct hl_cert_spec *spec, EVP_PKEY *key, X509 **out);

/*
 * Issue a certificate for SUBJECT_KEY (its public half is used) from SPEC,
 * signed by CA_KEY, with CA_CERT's subject as issuer.  CA_KEY must match
 * CA_CERT.  spec->is_ca makes an intermediate CA.
 */
int hl_cert_issue(const struct hl_cert_spec *spec, EVP_PKEY *subject_key, X509 *ca_cert,
		  EVP_PKEY *ca_key, X509 **out);

/*
 * A certificate template: what every certificate one issuer makes from one
 * kind of spec has in common, prepared once: the check that the CA key
 * matches its certificate, the issuer name, basicConstraints, keyUsage,
 * extendedKeyUsage, authorityKeyIdentifier and the extra extensions' OIDs
 * as objects, and certificates kept built with all of that in place.
 * Issuing from it overwrites only what differs between two such
 * certificates: the serial, the validity, the subject CN (O is the
 * template's), the subject key and its subjectKeyIdentifier,
 * subjectAltName, the extra extensions' values, and the signature.
 * Several threads may issue from one template at once (each on a kept
 * certificate of its own).  hl_cert_issue() and hl_cert_issue_self_signed()
 * issue through a template made for that one certificate, so both give the
 * same certificates.
 */
struct hl_cert_template;

/*
 * Make a template from SPEC for certificates signed by CA_KEY with
 * CA_CERT's subject as issuer (CA_KEY must match CA_CERT), or, both NULL,
 * for self-signed CA certificates.  SPEC's cn, validity, san entries and
 * extension values are not kept (whether it has subjectAltName is); an
 * extension OID that is invalid, given twice or one the issuing code sets
 * itself is refused here.  *OUT NULL on entry.
 */
int hl_cert_template_new(const struct hl_cert_spec *spec, X509 *ca_cert, EVP_PKEY *ca_key,
			 struct hl_cert_template **out);

/*
 * Issue a certificate for SUBJECT_KEY from T with SPEC's cn, validity, san
 * and extension values, as DER into DER.  SPEC's org, is_ca, path_len,
 * key_usage, ext_key_usage, whether it has san entries, and its extensions'
 * oid, kind and critical must be the template's (refused otherwise).  For
 * a self-signed template SUBJECT_KEY is the private key that signs.
 */
int hl_cert_template_issue(struct hl_cert_template *t, const struct hl_cert_spec *spec,
			   EVP_PKEY *subject_key, struct hl_buf *der);

/* Free a template; NULL-safe. */
void hl_cert_template_free(struct hl_cert_template *t);

/*
 * Verify CERT up to the trusted CA (taken as the trust anchor, self-signed
 * or not), through the optional untrusted INTERMEDIATES, at time AT (0 means
 * now): signatures, validity periods of the whole chain, CA flags and
 * keyCertSign.  Messages name the certificates by CN, e.g.
 *   certificate 'FabricHost1' was not issued by 'MyHgsService Attestation Signer'
 *   certificate 'FabricHost1' expired on 2026-01-01T00:00:00Z
 *   certificate 'FabricHost1' is not yet valid: valid from ...
 * No extendedKeyUsage / purpose check is made.
 */
int hl_cert_verify(X509 *cert, X509 *ca, X509 *const *intermediates, size_t n_intermediates,
		   time_t at);

/*
 * Verify CERT against a CA bundle of N certificates (hl_cert_bundle_from_pem)
 * at time AT (0 means now), as hl_cert_verify() does: the bundle's
 * self-signed certificates are the trust anchors and the others
 * intermediates; when none is self-signed, each in turn is the anchor.  0
 * when CERT chains to an anchor, else -1 with hl_cert_verify()'s message
 * for the last anchor tried.
 */
int hl_cert_verify_bundle(X509 *cert, X509 *const *bundle, size_t n, time_t at);

/* Write CERT as PEM ("BEGIN CERTIFICATE") into OUT (a C string). */
int hl_cert_to_pem(const X509 *cert, struct hl_buf *out);

/* Write CERT as DER into OUT. */
int hl_cert_to_der(const X509 *cert, struct hl_buf *out);

/* Read the first certificate of a PEM buffer. */
int hl_cert_from_pem(const void *pem, size_t len, X509 **out);

/* Read a DER certificate; trailing bytes are refused. */
int hl_cert_from_der(const void *der, size_t len, X509 **out);

/* SHA-256 of CERT's DER as uppercase hex into OUT. */
int hl_cert_thumbprint(const X509 *cert, char out[HL_SHA256_HEX_SIZE]);

/* The same thumbprint from the certificate's DER bytes (when the caller has them already). */
int hl_cert_thumbprint_der(const void *der, size_t len, char out[HL_SHA256_HEX_SIZE]);

/* Copy the subject's CN into BUF of SIZE bytes; -1 when absent or too long. */
int hl_cert_subject_cn(const X509 *cert, char *buf, size_t size);

/* Copy the issuer's CN into BUF of SIZE bytes; -1 when absent or too long. */
int hl_cert_issuer_cn(const X509 *cert, char *buf, size_t size);

/* CERT's validity period as time_t (either pointer may be NULL). */
int hl_cert_validity(const X509 *cert, time_t *not_before, time_t *not_after);

/*
 * The certificates of the PEM text PEM (LEN bytes), in order, read the way a
 * PEM_read_bio_X509() loop reads a bundle (other PEM blocks are skipped,
 * reading stops at the first block that is not a readable certificate), into
 * a new array *OUT of *N certificates; free it with hl_cert_array_free().
 * Text with no readable certificate is an error.
 */
int hl_cert_bundle_from_pem(const void *pem, size_t len, X509 ***out, size_t *n);

/* Free N certificates and their array (hl_cert_bundle_from_pem); NULL-safe. */
void hl_cert_array_free(X509 **certs, size_t n);

/*
 * The range [*FROM, *UNTIL] of times around AT (AT included) in which each
 * of the N certificates CERTS is within its validity period exactly when it
 * is at AT: valid ones stay valid, expired and not yet valid ones stay so.
 * A check whose only dependence on time is these validity periods, such as
 * hl_cert_verify() of one of them against others, gives at any time of the
 * range the result it gives at AT.  The range keeps a second of margin at
 * each end; an unreadable validity period is an error.
 */
int hl_cert_validity_stable(X509 *const *certs, size_t n, time_t at, time_t *from,
			    time_t *until);

/* CERT's public key, a new reference the caller frees with hl_key_free. */
int hl_cert_pubkey(const X509 *cert, EVP_PKEY **out);

/*
 * The value of CERT's extension OID (dotted text) exactly as stored: the
 * DER element (for HL_EXT_UTF8 / HL_EXT_OCTETS the UTF8String / OCTET STRING
 * with its header).  An absent extension is -1 with a message naming it.
 */
int hl_cert_ext_get(const X509 *cert, const char *oid, struct hl_buf *out);

/* The text of a UTF8String extension OID as a C string in OUT. */
int hl_cert_ext_get_utf8(const X509 *cert, const char *oid, struct hl_buf *out);

/* The bytes of an OCTET STRING extension OID in OUT. */
int hl_cert_ext_get_octets(const X509 *cert, const char *oid, struct hl_buf *out);

#endif
