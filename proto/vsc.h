/*
 * vsc.h - the volume signature catalog (VSC, a `.vsc` file, and the heart of
 * a protected template disk): who signed which template disk, under which
 * name and version, and the SHA-256 of its image.  Protect-TemplateDisk
 * (tenant/template.c) writes one, the tenant's shielding data, the guarded
 * host and the guest agent read it (docs/templates.md is the reference).
 *
 * A VSC is a CMS SignedData (RFC 5652, DER; lib/crypto's hl_cms_sign: the
 * signer's certificate included, SHA-256, RSA 2048/3072 or ECC P-256
 * signer) whose attached content (id-data) is the JSON text
 *
 *   {"format":"hgslab-vsc","version":1,"name":"WindowsServer2016",
 *    "disk_version":"1.0.0.0","disk_sha256":"<64 lowercase hex>",
 *    "disk_bytes":N,"signed_at":"2026-11-28T17:21:05Z"}
 *
 * disk_sha256 is the SHA-256 of the template's image, its first disk_bytes
 * bytes (a multiple of 4096).  `openssl cms -verify -inform DER -in t.vsc
 * -CAfile signer.pem -purpose any` checks the same signature.
 *
 * Versions are "a.b.c.d", four decimal parts of 0..65535 without leading
 * zeros, compared part by part numerically (hl_vsc_version_*).  Template
 * names are 1 to 128 printable ASCII characters, no leading or trailing
 * space (hl_vsc_name_check).
 *
 * Who is trusted is not decided here: hl_vsc_verify() only checks that the
 * signer certificate carried in the VSC signed it; callers compare its
 * thumbprint (a volume ID qualifier does, proto/vsc_viq.h).
 *
 * This module, like proto/vsc_viq.h and proto/vsc_tdisk.h, depends only on
 * lib/err, lib/crypto and lib/json (and libcrypto, jansson): the guest agent
 * compiles it.  No file I/O: callers hand in and take out buffers.
 *
 * Contract (lib/err.h): 0 on success, -1 after hl_error(); outputs cleared
 * on entry and set only on success; destructors NULL-safe.  Every byte of a
 * VSC is outside input: malformed ones are refused with a message, never a
 * crash.
 */
#ifndef HGSLAB_PROTO_VSC_H
#define HGSLAB_PROTO_VSC_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "lib/crypto.h"
#include "lib/json.h"

#define HL_VSC_FORMAT "hgslab-vsc"
#define HL_VSC_VERSION 1
/* Largest VSC (DER bytes) accepted (64 KiB). */
#define HL_VSC_MAX_SIZE ((size_t)64 << 10)
/* Largest signed JSON content accepted. */
#define HL_VSC_CONTENT_MAX ((size_t)4096)
/* Template name buffer: 1 to 128 characters plus NUL. */
#define HL_VSC_NAME_SIZE 129
/* Version text buffer: "65535.65535.65535.65535" plus NUL. */
#define HL_VSC_VERSION_SIZE 24
/* The image of a template is a whole number of these. */
#define HL_VSC_DISK_ALIGN 4096
/* Largest image a VSC may describe (1 TiB). */
#define HL_VSC_DISK_MAX ((uint64_t)1 << 40)
/* A SHA-256 as lowercase hex plus NUL (disk_sha256). */
#define HL_VSC_SHA256_HEX_SIZE (2 * HL_SHA256_LEN + 1)

/* A template version a.b.c.d. */
struct hl_vsc_version {
	uint16_t part[4];
};

/*
 * Parse TEXT "a.b.c.d" into *OUT; -1 with "bad version 'TEXT': ..." (four
 * parts of 0 to 65535, digits only, no leading zeros).
 */
int hl_vsc_version_parse(const char *text, struct hl_vsc_version *out);

/* V as "a.b.c.d" into OUT. */
void hl_vsc_version_format(const struct hl_vsc_version *v, char out[HL_VSC_VERSION_SIZE]);

/* <0, 0 or >0 as A is older than, equal to or newer than B. */
int hl_vsc_version_cmp(const struct hl_vsc_version *a, const struct hl_vsc_version *b);

/* 0 when NAME is a valid template name; else -1 with a message saying the rule. */
int hl_vsc_name_check(const char *name);

/* What a VSC says, for hl_vsc_sign(). */
struct hl_vsc_spec {
	const char *name;                      /* template name (hl_vsc_name_check) */
	struct hl_vsc_version version;
	unsigned char disk_sha256[HL_SHA256_LEN];
	uint64_t disk_bytes;                   /* a multiple of HL_VSC_DISK_ALIGN, > 0 */
	time_t signed_at;
};

/*
 * Write the VSC of SPEC signed with KEY and its certificate CERT into OUT
 * (DER bytes, not secret).  KEY must be RSA 2048/3072 or ECC P-256 and
 * match CERT.
 */
int hl_vsc_sign(const struct hl_vsc_spec *spec, X509 *cert, EVP_PKEY *key, struct hl_buf *out);

/*
 * A parsed VSC.  Read-only for callers; release with hl_vsc_free().
 * Invariants after hl_vsc_parse(): every field checked as documented;
 * signer is the certificate the CMS SignerInfo names and signer_thumbprint
 * its SHA-256 (uppercase hex, as hl_cert_thumbprint).  Parsing does NOT
 * check the signature: call hl_vsc_verify() before trusting any of it.
 */
struct hl_vsc {
	int version;                                  /* HL_VSC_VERSION */
	char name[HL_VSC_NAME_SIZE];
	struct hl_vsc_version disk_version;
	char disk_version_text[HL_VSC_VERSION_SIZE];
	unsigned char disk_sha256[HL_SHA256_LEN];
	char disk_sha256_hex[HL_VSC_SHA256_HEX_SIZE]; /* lowercase, as in the content */
	uint64_t disk_bytes;
	char signed_at[HL_JSON_TIME_SIZE];
	X509 *signer;
	char signer_thumbprint[HL_SHA256_HEX_SIZE];
	struct hl_buf content;                        /* the signed JSON bytes */
	struct hl_buf der;                            /* the whole VSC, as given */
};

/*
 * Parse LEN bytes of a VSC strictly: at most HL_VSC_MAX_SIZE, a CMS
 * SignedData as documented (hl_cms_parse), a supported signer key, and the
 * content with exactly the documented fields, format "hgslab-vsc",
 * version 1 (another gives "volume signature catalog version N is not
 * supported ...").  Errors start with "bad volume signature catalog: ".
 */
int hl_vsc_parse(const void *der, size_t len, struct hl_vsc **out);

/*
 * Check VSC's CMS signature with the signer certificate it carries: -1 with
 * "the volume signature catalog of template 'NAME' does not verify: ..."
 * when the content or the signature was changed.
 */
int hl_vsc_verify(const struct hl_vsc *vsc);

/*
 * 0 when an image of BYTES bytes whose SHA-256 is SHA256 is the one VSC
 * describes; else -1 with "template 'NAME' changed after it was signed:
 * ...".  (The caller hashes the image; VSC should be verified first.)
 */
int hl_vsc_check_image(const struct hl_vsc *vsc, const unsigned char sha256[HL_SHA256_LEN],
		       uint64_t bytes);

/* Free VSC; NULL-safe. */
void hl_vsc_free(struct hl_vsc *vsc);

#endif
