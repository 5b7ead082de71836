/*
 * platform_id.h - the platform identifier: the JSON document a guarded host
 * exports for TPM-mode registration (`hgslab host get-platform-identifier`)
 * and HGS reads (`hgslab hgs add-tpm-host --platform-identifier FILE`);
 * docs/attestation-protocol.md, "Platform identifier".
 *
 *   {
 *     "format": "hgslab-platform-identifier",
 *     "version": 1,
 *     "host": "FabricHost1",
 *     "ek_public": "-----BEGIN PUBLIC KEY-----\n...",      EK SubjectPublicKeyInfo, PEM
 *     "ek_certificate": "-----BEGIN CERTIFICATE-----\n..." EK certificate, PEM, or null
 *     "ek_fingerprint": "3F0A...",                         hl_key_fingerprint of the EK
 *     "ek_tpm_public": "<base64>"                          the EK's TPM2B_PUBLIC
 *   }
 *
 * hgs_platform_id_write() is the one writer (the host, the benchmark),
 * hgs_platform_id_parse() the one reader (HGS).  The reader needs format,
 * version, host and ek_public; ek_certificate may be null or absent (a TPM
 * without one) and, when present, must certify ek_public; other members are
 * kept as given in the document's text.
 *
 * Contract (lib/err.h): 0 on success, -1 after hl_error() (the reader's
 * messages name the field); *out = NULL on entry and set only on success;
 * hgs_platform_id_free() is NULL-safe.
 */
#ifndef HGSLAB_PROTO_PLATFORM_ID_H
#define HGSLAB_PROTO_PLATFORM_ID_H

#include <stddef.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "lib/crypto.h"
#include "proto/names.h"

/* The "format" member and the version this hgslab writes and reads. */
#define HGS_PLATFORM_ID_FORMAT "hgslab-platform-identifier"
#define HGS_PLATFORM_ID_VERSION 1
/* Room for the host name: 1 to 63 printable ASCII characters, no edge spaces, and its NUL. */
#define HGS_PLATFORM_ID_HOST_SIZE HL_NAME_REG_SIZE

/* A platform identifier as read. */
struct hgs_platform_id {
	char host[HGS_PLATFORM_ID_HOST_SIZE];
	EVP_PKEY *ek;                     /* EK public key */
	X509 *ek_cert;                    /* NULL when the TPM has none */
	char ek_fingerprint[HL_SHA256_HEX_SIZE];
	char *json;                       /* the document as given */
};

/* Parse and check a platform identifier of LEN bytes; errors name the field. */
int hgs_platform_id_parse(const void *buf, size_t len, struct hgs_platform_id **out);
void hgs_platform_id_free(struct hgs_platform_id *id);

/*
 * The platform identifier of HOST's TPM into *OUT (malloc'd JSON text,
 * indented, ending in a newline): its EK public key EK, its EK certificate
 * EK_CERT (NULL writes null) and, when EK_TPM_PUBLIC is not NULL, the EK's
 * marshalled TPM2B_PUBLIC of LEN bytes.
 */
int hgs_platform_id_write(const char *host, const EVP_PKEY *ek, const X509 *ek_cert,
			  const void *ek_tpm_public, size_t len, char **out);

#endif
