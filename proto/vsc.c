/*
 * vsc.c - the volume signature catalog (see vsc.h and docs/templates.md):
 * template versions and names, writing a VSC (its JSON content signed as a
 * CMS SignedData by lib/crypto), parsing one strictly, checking its
 * signature and comparing an image's hash with it.  The tenant
 * (Protect-TemplateDisk), the guarded host's pre-check and the guest agent
 * all read VSCs through this file.
 *
 * JSON is jansson (through lib/json), CMS is OpenSSL's (through lib/crypto);
 * nothing here touches the file system.
 */
#include "proto/vsc.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "lib/err.h"

/* ---- versions and names ---- */

/* Parse "a.b.c.d" strictly. */
int hl_vsc_version_parse(const char *text, struct hl_vsc_version *out)
{
	const char *p = text;
	struct hl_vsc_version v;
	int i;

	memset(out, 0, sizeof(*out));
	if (!text || !*text)
		return hl_error("bad version '': give four numbers a.b.c.d, e.g. 1.0.0.0");
	for (i = 0; i < 4; i++) {
		unsigned long n = 0;
		size_t digits = 0;

		while (isdigit((unsigned char)p[digits]) && digits < 6)
			n = n * 10 + (unsigned long)(p[digits++] - '0');
		if (digits == 0)
			return hl_error("bad version '%.40s': part %d is not a number; give four "
					"numbers a.b.c.d, e.g. 1.0.0.0", text, i + 1);
		if (digits > 1 && p[0] == '0')
			return hl_error("bad version '%.40s': part %d has a leading zero", text,
					i + 1);
		if (digits > 5 || n > 65535)
			return hl_error("bad version '%.40s': part %d is over 65535", text, i + 1);
		v.part[i] = (uint16_t)n;
		p += digits;
		if (i < 3) {
			if (*p != '.')
				return hl_error("bad version '%.40s': give four numbers a.b.c.d, e.g. "
						"1.0.0.0", text);
			p++;
		}
	}
	if (*p)
		return hl_error("bad version '%.40s': give four numbers a.b.c.d, e.g. 1.0.0.0",
				text);
	*out = v;
	return 0;
}

/* V as "a.b.c.d". */
void hl_vsc_version_format(const struct hl_vsc_version *v, char out[HL_VSC_VERSION_SIZE])
{
	snprintf(out, HL_VSC_VERSION_SIZE, "%u.%u.%u.%u", v->part[0], v->part[1], v->part[2],
		 v->part[3]);
}

/* Compare part by part. */
int hl_vsc_version_cmp(const struct hl_vsc_version *a, const struct hl_vsc_version *b)
{
	int i;

	for (i = 0; i < 4; i++)
		if (a->part[i] != b->part[i])
			return a->part[i] < b->part[i] ? -1 : 1;
	return 0;
}

/* 1 to 128 printable ASCII characters, no edge spaces. */
int hl_vsc_name_check(const char *name)
{
	size_t n = name ? strlen(name) : 0, i;

	if (n == 0)
		return hl_error("the template name is empty: give one with --name, e.g. "
				"WindowsServer2016");
	if (n >= HL_VSC_NAME_SIZE)
		return hl_error("template name '%.40s...' is too long: at most %d characters", name,
				HL_VSC_NAME_SIZE - 1);
	for (i = 0; i < n; i++)
		if (name[i] < 0x20 || name[i] > 0x7e)
			return hl_error("template name '%.40s' has a character that is not printable "
					"ASCII at %zu", name, i);
	if (name[0] == ' ' || name[n - 1] == ' ')
		return hl_error("template name '%s' has a leading or trailing space", name);
	return 0;
}

/* ---- writing ---- */

/* The lowercase hex of LEN bytes at P into OUT (2 * LEN + 1 bytes). */
static int lower_hex(const unsigned char *p, size_t len, char *out, size_t size)
{
	size_t i;

	if (hl_crypto_hex_encode(p, len, out, size) < 0)
		return -1;
	for (i = 0; out[i]; i++)
		out[i] = (char)tolower((unsigned char)out[i]);
	return 0;
}

/* Sign SPEC's content into a VSC. */
int hl_vsc_sign(const struct hl_vsc_spec *spec, X509 *cert, EVP_PKEY *key, struct hl_buf *out)
{
	char ver[HL_VSC_VERSION_SIZE], hex[HL_VSC_SHA256_HEX_SIZE], when[HL_JSON_TIME_SIZE];
	char *text = NULL;
	json_t *o = NULL;
	int rc = -1;

	out->data = NULL;
	out->len = 0;
	if (!spec || hl_vsc_name_check(spec->name) < 0)
		goto out;
	if (spec->disk_bytes == 0 || spec->disk_bytes % HL_VSC_DISK_ALIGN ||
	    spec->disk_bytes > HL_VSC_DISK_MAX) {
		hl_error("the template image is %llu bytes: it must be a non-zero multiple of %d, "
			 "at most %llu", (unsigned long long)spec->disk_bytes, HL_VSC_DISK_ALIGN,
			 (unsigned long long)HL_VSC_DISK_MAX);
		goto out;
	}
	hl_vsc_version_format(&spec->version, ver);
	if (lower_hex(spec->disk_sha256, HL_SHA256_LEN, hex, sizeof(hex)) < 0 ||
	    hl_json_time_format(spec->signed_at, when) < 0)
		goto out;
	o = json_pack("{s:s, s:i, s:s, s:s, s:s, s:I, s:s}", "format", HL_VSC_FORMAT, "version",
		      HL_VSC_VERSION, "name", spec->name, "disk_version", ver, "disk_sha256", hex,
		      "disk_bytes", (json_int_t)spec->disk_bytes, "signed_at", when);
	if (!o) {
		hl_error("cannot build the volume signature catalog: out of memory");
		goto out;
	}
	if (hl_json_dump(o, &text) < 0)
		goto out;
	if (hl_cms_sign(cert, key, text, strlen(text), out) < 0)
		goto out;
	rc = 0;
out:
	if (rc < 0)
		hl_error_wrap("cannot sign the volume signature catalog of template '%s'",
			      spec && spec->name ? spec->name : "");
	free(text);
	json_decref(o);
	return rc;
}

/* ---- parsing ---- */

/* 0 when S is 64 lowercase hex digits; their bytes into MD. */
static int sha_hex_parse(const char *s, unsigned char md[HL_SHA256_LEN])
{
	struct hl_buf b = { NULL, 0 };

	if (!hl_crypto_hex_is(s, HL_VSC_SHA256_HEX_SIZE - 1, 0))
		return hl_error("field 'disk_sha256' must be 64 lowercase hex digits");
	if (hl_crypto_hex_decode(s, &b) < 0)
		return -1;
	memcpy(md, b.data, HL_SHA256_LEN);
	hl_buf_free(&b);
	return 0;
}

/*
 * Parse the signed JSON content of VSC (in vsc->content) into its fields;
 * *VERSION_ERR set when the failure is an unsupported version.
 */
static int parse_content(struct hl_vsc *vsc, int *version_err)
{
	static const char *const members[] = { "format", "version", "name", "disk_version",
					       "disk_sha256", "disk_bytes", "signed_at" };
	json_t *root = NULL, *v;
	json_int_t version, bytes;
	const char *s;
	int rc = -1;

	if (hl_json_parse(vsc->content.data, vsc->content.len, HL_VSC_CONTENT_MAX, &root) < 0) {
		hl_error_wrap("the signed content");
		goto out;
	}
	if (!json_is_object(root)) {
		hl_error("the signed content is not a JSON object");
		goto out;
	}
	v = json_object_get(root, "format");
	if (!json_is_string(v) || strcmp(json_string_value(v), HL_VSC_FORMAT) != 0) {
		hl_error("field 'format' must be \"%s\": this is not an hgslab volume signature "
			 "catalog", HL_VSC_FORMAT);
		goto out;
	}
	if (hl_json_get_int(root, "version", &version) < 0)
		goto out;
	if (version != HL_VSC_VERSION) {
		hl_error("volume signature catalog version %lld is not supported; this hgslab reads "
			 "version %d", (long long)version, HL_VSC_VERSION);
		*version_err = 1;
		goto out;
	}
	vsc->version = HL_VSC_VERSION;
	if (hl_json_members_exact(root, members, 7, "the signed content") < 0)
		goto out;
	if (hl_json_get_string(root, "name", &s) < 0 || hl_vsc_name_check(s) < 0)
		goto out;
	memcpy(vsc->name, s, strlen(s) + 1);
	if (hl_json_get_string(root, "disk_version", &s) < 0)
		goto out;
	if (hl_vsc_version_parse(s, &vsc->disk_version) < 0) {
		hl_error_wrap("field 'disk_version'");
		goto out;
	}
	hl_vsc_version_format(&vsc->disk_version, vsc->disk_version_text);
	if (hl_json_get_string(root, "disk_sha256", &s) < 0 ||
	    sha_hex_parse(s, vsc->disk_sha256) < 0)
		goto out;
	memcpy(vsc->disk_sha256_hex, s, HL_VSC_SHA256_HEX_SIZE);
	if (hl_json_get_int(root, "disk_bytes", &bytes) < 0)
		goto out;
	if (bytes <= 0 || (uint64_t)bytes > HL_VSC_DISK_MAX || bytes % HL_VSC_DISK_ALIGN) {
		hl_error("field 'disk_bytes' is %lld: it must be a non-zero multiple of %d, at most "
			 "%llu", (long long)bytes, HL_VSC_DISK_ALIGN,
			 (unsigned long long)HL_VSC_DISK_MAX);
		goto out;
	}
	vsc->disk_bytes = (uint64_t)bytes;
	if (hl_json_get_string(root, "signed_at", &s) < 0 || hl_json_time_check(s, "signed_at") < 0)
		goto out;
	memcpy(vsc->signed_at, s, HL_JSON_TIME_SIZE);
	rc = 0;
out:
	json_decref(root);
	return rc;
}

/* Parse a VSC strictly (no signature check). */
int hl_vsc_parse(const void *der, size_t len, struct hl_vsc **out)
{
	struct hl_vsc *vsc = NULL;
	EVP_PKEY *pub = NULL;
	enum hl_key_type type;
	int rc = -1, version_err = 0;

	*out = NULL;
	if (!der || len == 0) {
		hl_error("the file is empty");
		goto out;
	}
	if (len > HL_VSC_MAX_SIZE) {
		hl_error("%zu bytes is larger than the %zu allowed", len, HL_VSC_MAX_SIZE);
		goto out;
	}
	vsc = calloc(1, sizeof(*vsc));
	if (!vsc) {
		hl_error("out of memory");
		goto out;
	}
	if (hl_cms_parse(der, len, HL_VSC_CONTENT_MAX, &vsc->content, &vsc->signer) < 0)
		goto out;
	if (hl_cert_pubkey(vsc->signer, &pub) < 0 || hl_key_type_of(pub, &type) < 0) {
		hl_error_wrap("the signer's certificate");
		goto out;
	}
	if (hl_cert_thumbprint(vsc->signer, vsc->signer_thumbprint) < 0)
		goto out;
	if (parse_content(vsc, &version_err) < 0)
		goto out;
	vsc->der.data = malloc(len + 1);
	if (!vsc->der.data) {
		hl_error("out of memory");
		goto out;
	}
	memcpy(vsc->der.data, der, len);
	vsc->der.data[len] = '\0';
	vsc->der.len = len;
	*out = vsc;
	vsc = NULL;
	rc = 0;
out:
	if (rc < 0 && !version_err)
		hl_error_wrap("bad volume signature catalog");
	hl_key_free(pub);
	hl_vsc_free(vsc);
	return rc;
}

/* ---- checks ---- */

/* Check the CMS signature. */
int hl_vsc_verify(const struct hl_vsc *vsc)
{
	if (!vsc)
		return hl_error("no volume signature catalog given");
	if (hl_cms_verify(vsc->der.data, vsc->der.len) < 0)
		return hl_error_wrap("the volume signature catalog of template '%s' does not verify",
				     vsc->name);
	return 0;
}

/* Compare an image's size and hash with VSC's. */
int hl_vsc_check_image(const struct hl_vsc *vsc, const unsigned char sha256[HL_SHA256_LEN],
		       uint64_t bytes)
{
	char hex[HL_VSC_SHA256_HEX_SIZE];

	if (!vsc)
		return hl_error("no volume signature catalog given");
	if (bytes != vsc->disk_bytes)
		return hl_error("template '%s' changed after it was signed: its image is %llu bytes, "
				"the signature catalog says %llu", vsc->name,
				(unsigned long long)bytes, (unsigned long long)vsc->disk_bytes);
	if (!hl_crypto_ct_equal(sha256, vsc->disk_sha256, HL_SHA256_LEN)) {
		if (lower_hex(sha256, HL_SHA256_LEN, hex, sizeof(hex)) < 0)
			hex[0] = '\0';
		return hl_error("template '%s' changed after it was signed: its image's SHA-256 is "
				"%s, the signature catalog says %s", vsc->name, hex,
				vsc->disk_sha256_hex);
	}
	return 0;
}

/* Free a parsed VSC. */
void hl_vsc_free(struct hl_vsc *vsc)
{
	if (!vsc)
		return;
	hl_cert_free(vsc->signer);
	hl_buf_free(&vsc->content);
	hl_buf_free(&vsc->der);
	free(vsc);
}
