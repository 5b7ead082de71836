/*
 * guardian.h - the tenant's guardians (New-/Import-/Get-/Export-/
 * Remove-HgsGuardian) and the guardian metadata document HGS publishes.
 *
 * A tenant directory (`hgslab tenant ... --dir DIR`) holds one subdirectory
 * per guardian (docs/key-protector.md, "Tenant directory"):
 *
 *   DIR/guardians/NAME/guardian.json   {"version":1,"name":..,"kind":"owned"|"imported","created":..}
 *   DIR/guardians/NAME/signing.crt     PEM, 0644
 *   DIR/guardians/NAME/encryption.crt  PEM, 0644
 *   DIR/guardians/NAME/signing.key     PKCS#8 PEM, 0600 (owned guardians only)
 *   DIR/guardians/NAME/encryption.key  PKCS#8 PEM, 0600 (owned guardians only)
 *
 * A guardian is created whole in a temporary directory beside its final
 * place and renamed into it, so a failure leaves nothing behind; removal
 * renames it away first, then deletes it.
 *
 * The guardian metadata is XML (docs/key-protector.md, "Guardian metadata"),
 * read and written with libxml2 (no DTD, no entities, no network).
 *
 * Contract (lib/err.h): 0 on success, -1 after hl_error(); *out = NULL on
 * entry; destructors are NULL-safe.
 */
#ifndef HGSLAB_TENANT_GUARDIAN_H
#define HGSLAB_TENANT_GUARDIAN_H

#include <stddef.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "lib/crypto.h"
#include "proto/keyprotector.h"
#include "proto/names.h"

/* Largest metadata document read (256 KiB). */
#define HL_GUARDIAN_METADATA_MAX ((size_t)256 * 1024)
/* XML namespace of the metadata document. */
#define HL_GUARDIAN_METADATA_NS "urn:hgslab:guardian-metadata:2014-07"
/* Where an HGS node serves its metadata, relative to the node's base URL. */
#define HL_GUARDIAN_METADATA_PATH "/KeyProtection/service/metadata/2014-07/metadata.xml"
/* Validity of the certificates new-guardian makes (10 years). */
#define HL_GUARDIAN_CERT_DAYS 3650

enum hl_guardian_kind {
	HL_GUARDIAN_OWNED,    /* made here with private keys (New-HgsGuardian -GenerateCertificates) */
	HL_GUARDIAN_IMPORTED, /* public certificates only (Import-HgsGuardian) */
};

/*
 * A guardian loaded from a tenant directory.  Invariants: both certificates
 * are set and their thumbprints filled in; the keys are set only when loaded
 * with HL_GUARDIAN_LOAD_KEYS from an owned guardian, and then match their
 * certificates.
 */
struct hl_guardian {
	char name[HL_NAME_GUARDIAN_SIZE];
	enum hl_guardian_kind kind;
	char created[32];
	X509 *signing_cert;
	X509 *encryption_cert;
	EVP_PKEY *signing_key;
	EVP_PKEY *encryption_key;
	int has_private_keys;        /* the key files exist (owned guardians) */
	char signing_thumbprint[HL_SHA256_HEX_SIZE];
	char encryption_thumbprint[HL_SHA256_HEX_SIZE];
};

enum {
	HL_GUARDIAN_LOAD_KEYS = 1u << 0, /* also load the private keys (an owned guardian) */
};

/*
 * New-HgsGuardian -GenerateCertificates: make guardian NAME in DIR (created
 * 0700 when missing) with fresh RSA-2048 signing and encryption key pairs
 * and self-signed certificates.  An existing guardian NAME is refused.
 */
int hl_guardian_new(const char *dir, const char *name);

/* Load guardian NAME from DIR (FLAGS: HL_GUARDIAN_LOAD_KEYS) into *OUT. */
int hl_guardian_load(const char *dir, const char *name, unsigned flags, struct hl_guardian **out);

/* Free G (its keys are cleansed by OpenSSL); NULL-safe. */
void hl_guardian_free(struct hl_guardian *g);

/*
 * Every guardian of DIR, sorted by name, without private keys, into *OUT
 * (*N of them; free each with hl_guardian_free and the array with free).
 * A directory with no guardians gives *N = 0.
 */
int hl_guardian_list(const char *dir, struct hl_guardian ***out, size_t *n);

/*
 * The guardian of DIR whose encryption (or, with SIGNING set, signing)
 * certificate has THUMBPRINT, loaded with FLAGS into *OUT; -1 with a
 * message when there is none.
 */
int hl_guardian_find(const char *dir, const char *thumbprint, int signing, unsigned flags,
		     struct hl_guardian **out);

/* Remove-HgsGuardian: delete guardian NAME from DIR (private keys included). */
int hl_guardian_remove(const char *dir, const char *name);

/* G as the KP owner (borrowed pointers; G must be loaded with keys). */
void hl_guardian_as_owner(const struct hl_guardian *g, struct hl_kp_owner *out);

/* G as a KP guardian (borrowed pointers). */
void hl_guardian_as_kp(const struct hl_guardian *g, struct hl_kp_guardian *out);

/* ---- guardian metadata ---- */

/* A parsed metadata document. */
struct hl_guardian_metadata {
	char name[HL_KP_NAME_MAX + 1];   /* the guardian's name as published (not a dir name) */
	X509 *signing_cert;
	X509 *encryption_cert;
};

/*
 * Parse LEN bytes of metadata XML strictly (docs/key-protector.md).  Errors
 * start with "bad guardian metadata: " and say what is wrong and where
 * (libxml2's message and line for malformed XML).
 */
int hl_guardian_metadata_parse(const void *xml, size_t len, struct hl_guardian_metadata **out);

/* Free MD; NULL-safe. */
void hl_guardian_metadata_free(struct hl_guardian_metadata *md);

/* Write the metadata document of NAME and its two certificates into OUT (UTF-8 XML text). */
int hl_guardian_metadata_write(const char *name, const X509 *signing_cert,
			       const X509 *encryption_cert, struct hl_buf *out);

/*
 * GET the metadata at URL (a full ".../metadata.xml" URL, or an HGS base URL
 * such as "http://hgs.relecloud.com:8080" or ".../KeyProtection", to which
 * the metadata path is added) with libcurl's resolve list RESOLVE
 * (NULL-terminated "host:port:address", or NULL) and parse it.
 */
int hl_guardian_metadata_fetch(const char *url, const char *const *resolve,
			       struct hl_guardian_metadata **out);

/*
 * Import-HgsGuardian's trust check.  With TRUSTED_ROOT, both certificates
 * must chain to it (or be it).  Without, a certificate is an "untrusted
 * root" (hgslab has no machine trust store): refused unless
 * ALLOW_UNTRUSTED_ROOT, with a message naming the certificate and the flag.
 */
int hl_guardian_metadata_trust(const struct hl_guardian_metadata *md, X509 *trusted_root,
			       int allow_untrusted_root);

/*
 * Import-HgsGuardian's check by certificate thumbprints, as people trust an
 * HGS (whose signing and encryption certificates are two separate
 * self-signed ones): each of MD's two certificates must have its SHA-256
 * thumbprint among the N THUMBPRINTS (64 hex digits, either case).  0; -1
 * naming the certificate that is not listed; -2 when a thumbprint is
 * malformed.
 */
int hl_guardian_metadata_trust_thumbprints(const struct hl_guardian_metadata *md,
					   const char *const *thumbprints, size_t n);

/*
 * Import-HgsGuardian: store MD's certificates in DIR (created 0700 when
 * missing) as imported guardian NAME.  The trust check is the caller's
 * (hl_guardian_metadata_trust).  An existing guardian NAME, or one with the
 * same encryption certificate, is refused.
 */
int hl_guardian_import(const char *dir, const char *name, const struct hl_guardian_metadata *md);

#endif
