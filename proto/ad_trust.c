/*
 * ad_trust.c - the AD-mode trust document (ad_trust.h): its one writer, used
 * by the fabric's export, and its one reader, used by HGS, which checks
 * every field and that the DC certificate is self-signed with an RSA key
 * (tickets are signed PS256).
 */
#include "proto/ad_trust.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/err.h>

#include "lib/json.h"
#include "proto/names.h"

/* The format name and version a trust document carries. */
#define TRUST_FORMAT "hgslab-fabric-trust"
#define TRUST_VERSION 1

/* Write the trust document of a domain. */
int ad_trust_write(const char *domain, const char *domain_sid, const char *dc, X509 *dc_cert,
		   json_t **out)
{
	char thumb[HL_SHA256_HEX_SIZE];
	struct hl_buf pem = { 0 };
	json_t *o;

	*out = NULL;
	if (hl_cert_thumbprint(dc_cert, thumb) < 0 || hl_cert_to_pem(dc_cert, &pem) < 0)
		return -1;
	o = json_pack("{s:s, s:i, s:s, s:s, s:s, s:s, s:s}", "format", TRUST_FORMAT, "version",
		      TRUST_VERSION, "domain", domain, "domain_sid", domain_sid,
		      "domain_controller", dc, "dc_certificate", (const char *)pem.data,
		      "dc_thumbprint", thumb);
	hl_buf_free(&pem);
	if (!o)
		return hl_error("out of memory");
	*out = o;
	return 0;
}

/* Free a trust; NULL-safe. */
void ad_trust_free(struct ad_trust *t)
{
	if (!t)
		return;
	hl_cert_free(t->dc_cert);
	free(t);
}

/* Check and copy the fields of trust document DOC into T. */
static int trust_fields(const json_t *doc, struct ad_trust *t)
{
	const char *format, *domain, *sid, *dc, *pem, *thumb;
	EVP_PKEY *pub = NULL;
	enum hl_key_type kt;
	json_int_t version;
	int rc = -1;

	if (!json_is_object(doc))
		return hl_error("a trust document must be a JSON object");
	if (hl_json_get_string(doc, "format", &format) < 0)
		return -1;
	if (strcmp(format, TRUST_FORMAT) != 0)
		return hl_error("field 'format' is '%s', expected '" TRUST_FORMAT "' (write it "
				"with `hgslab fabric export-trust`)", format);
	if (hl_json_get_int(doc, "version", &version) < 0)
		return -1;
	if (version != TRUST_VERSION)
		return hl_error("trust document version %lld is not supported (expected %d)",
				(long long)version, TRUST_VERSION);
	if (hl_json_get_string(doc, "domain", &domain) < 0 || hl_dnsname_check(domain) < 0 ||
	    hl_json_get_string(doc, "domain_sid", &sid) < 0 || hl_name_sid(sid) < 0 ||
	    hl_json_get_string(doc, "domain_controller", &dc) < 0 ||
	    hl_json_get_string(doc, "dc_certificate", &pem) < 0 ||
	    hl_json_get_string(doc, "dc_thumbprint", &thumb) < 0)
		return -1;
	if (strlen(sid) >= sizeof(t->domain_sid) || strlen(dc) == 0 || strlen(dc) >= sizeof(t->dc))
		return hl_error("field 'domain_sid' or 'domain_controller' is too long or empty");
	snprintf(t->domain, sizeof(t->domain), "%s", domain);
	snprintf(t->domain_sid, sizeof(t->domain_sid), "%s", sid);
	snprintf(t->dc, sizeof(t->dc), "%s", dc);
	if (hl_cert_from_pem(pem, strlen(pem), &t->dc_cert) < 0)
		return hl_error_wrap("field 'dc_certificate'");
	if (hl_cert_thumbprint(t->dc_cert, t->dc_thumbprint) < 0)
		return -1;
	if (strcasecmp(thumb, t->dc_thumbprint) != 0)
		return hl_error("field 'dc_thumbprint' %s does not match the certificate (%s)", thumb,
				t->dc_thumbprint);
	if (hl_cert_pubkey(t->dc_cert, &pub) < 0)
		return -1;
	if (hl_key_type_of(pub, &kt) < 0 || (kt != HL_KEY_RSA2048 && kt != HL_KEY_RSA3072)) {
		hl_error("field 'dc_certificate' must hold an RSA key: tickets are signed PS256");
		goto out;
	}
	if (X509_verify(t->dc_cert, pub) != 1) {
		ERR_clear_error();
		hl_error("field 'dc_certificate' must be the DC's self-signed certificate: its "
			 "signature does not verify with its own key");
		goto out;
	}
	rc = 0;
out:
	hl_key_free(pub);
	return rc;
}

/* Parse and check a trust document. */
int ad_trust_parse(const void *buf, size_t len, struct ad_trust **out)
{
	struct ad_trust *t = NULL;
	json_t *doc = NULL;
	int rc = -1;

	*out = NULL;
	if (hl_json_parse(buf, len, 1 << 20, &doc) < 0)
		return -1;
	if (!(t = calloc(1, sizeof(*t)))) {
		hl_error("out of memory");
		goto out;
	}
	if (trust_fields(doc, t) < 0)
		goto out;
	*out = t;
	t = NULL;
	rc = 0;
out:
	ad_trust_free(t);
	json_decref(doc);
	return rc;
}
