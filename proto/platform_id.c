/*
 * platform_id.c - the platform identifier (platform_id.h): its one writer,
 * used by the guarded host's `get-platform-identifier` and by the
 * benchmark's lab, and its one reader, used by HGS's add-tpm-host.  JSON
 * through jansson (lib/json), keys and certificates through lib/crypto.
 */
#include "proto/platform_id.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "lib/err.h"
#include "lib/json.h"
#include "proto/names.h"

/* Free a parsed platform identifier. */
void hgs_platform_id_free(struct hgs_platform_id *id)
{
	if (!id)
		return;
	hl_key_free(id->ek);
	hl_cert_free(id->ek_cert);
	free(id->json);
	free(id);
}

/* Parse and check a platform identifier document. */
int hgs_platform_id_parse(const void *buf, size_t len, struct hgs_platform_id **out)
{
	struct hgs_platform_id *id = NULL;
	EVP_PKEY *cert_key = NULL;
	const char *format, *host, *ek_pem, *cert_pem;
	enum hl_key_type kt;
	json_t *doc = NULL;
	json_int_t version;
	int rc = -1;

	*out = NULL;
	if (hl_json_parse(buf, len, 0, &doc) < 0)
		goto out;
	if (!json_is_object(doc)) {
		hl_error("expected a JSON object");
		goto out;
	}
	if (hl_json_get_string(doc, "format", &format) < 0 ||
	    hl_json_get_int(doc, "version", &version) < 0)
		goto out;
	if (strcmp(format, HGS_PLATFORM_ID_FORMAT) != 0) {
		hl_error("field 'format' is '%s', expected '" HGS_PLATFORM_ID_FORMAT "'", format);
		goto out;
	}
	if (version != HGS_PLATFORM_ID_VERSION) {
		hl_error("platform identifier version %lld is not supported; this hgslab reads "
			 "version %d", (long long)version, HGS_PLATFORM_ID_VERSION);
		goto out;
	}
	if (hl_json_get_string(doc, "host", &host) < 0 || hl_name_registration("host name in field 'host'", host) < 0 ||
	    hl_json_get_string(doc, "ek_public", &ek_pem) < 0 ||
	    hl_json_get_string_opt(doc, "ek_certificate", NULL, &cert_pem) < 0)
		goto out;
	if (!(id = calloc(1, sizeof(*id)))) {
		hl_error("out of memory");
		goto out;
	}
	snprintf(id->host, sizeof(id->host), "%s", host);
	if (hl_key_pub_from_pem(ek_pem, strlen(ek_pem), &id->ek) < 0 ||
	    hl_key_type_of(id->ek, &kt) < 0) {
		hl_error_wrap("field 'ek_public'");
		goto out;
	}
	if (hl_key_fingerprint(id->ek, id->ek_fingerprint) < 0)
		goto out;
	if (cert_pem) {
		if (hl_cert_from_pem(cert_pem, strlen(cert_pem), &id->ek_cert) < 0) {
			hl_error_wrap("field 'ek_certificate'");
			goto out;
		}
		if (hl_cert_pubkey(id->ek_cert, &cert_key) < 0)
			goto out;
		if (!hl_key_pub_equal(id->ek, cert_key)) {
			hl_error("field 'ek_certificate' certifies another key than 'ek_public'; "
				 "export the platform identifier again from the host");
			goto out;
		}
	}
	if (!(id->json = malloc(len + 1))) {
		hl_error("out of memory");
		goto out;
	}
	memcpy(id->json, buf, len);
	id->json[len] = '\0';
	*out = id;
	id = NULL;
	rc = 0;
out:
	json_decref(doc);
	hl_key_free(cert_key);
	hgs_platform_id_free(id);
	return rc;
}

/* Write the platform identifier of HOST's TPM. */
int hgs_platform_id_write(const char *host, const EVP_PKEY *ek, const X509 *ek_cert,
			  const void *ek_tpm_public, size_t len, char **out)
{
	struct hl_buf pub = { 0 }, cert = { 0 };
	char fp[HL_SHA256_HEX_SIZE];
	json_t *o = NULL;
	int rc = -1;

	*out = NULL;
	if (hl_key_pub_to_pem(ek, &pub) < 0 || (ek_cert && hl_cert_to_pem(ek_cert, &cert) < 0) ||
	    hl_key_fingerprint(ek, fp) < 0)
		goto out;
	if (!(o = json_object())) {
		hl_error("out of memory");
		goto out;
	}
	if (json_object_set_new(o, "format", json_string(HGS_PLATFORM_ID_FORMAT)) < 0 ||
	    json_object_set_new(o, "version", json_integer(HGS_PLATFORM_ID_VERSION)) < 0 ||
	    json_object_set_new(o, "host", json_string(host)) < 0 ||
	    json_object_set_new(o, "ek_public", json_string((const char *)pub.data)) < 0 ||
	    json_object_set_new(o, "ek_certificate", cert.len ? json_string((const char *)cert.data)
							      : json_null()) < 0 ||
	    json_object_set_new(o, "ek_fingerprint", json_string(fp)) < 0) {
		hl_error("cannot write the platform identifier of '%s': out of memory", host);
		goto out;
	}
	if ((ek_tpm_public && hl_json_set_base64(o, "ek_tpm_public", ek_tpm_public, len) < 0) ||
	    hl_json_dump_pretty(o, out) < 0)
		goto out;
	rc = 0;
out:
	json_decref(o);
	hl_buf_free(&pub);
	hl_buf_free(&cert);
	return rc;
}
