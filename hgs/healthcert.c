/*
 * healthcert.c - health certificates (healthcert.h): issued by the node's
 * attestation signer over the host's transport key, carrying the mode and
 * result in hgslab extensions; parsed and verified for the Key Protection
 * Service, which releases keys only after hgs_healthcert_verify() accepts
 * the certificate (hgs/kps.c).
 */
#include "hgs/healthcert.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/x509v3.h>

#include "lib/err.h"
#include "proto/names.h"

/* The hgslab extensions of a health certificate, in certificate order, and their OIDs. */
enum { EXT_MODE, EXT_STATUS, EXT_SUBSTATUS, EXT_NODE, EXT_COUNT };
static const char *const ext_oids[EXT_COUNT] = {
	[EXT_MODE] = HGS_OID_HC_MODE,
	[EXT_STATUS] = HGS_OID_HC_STATUS,
	[EXT_SUBSTATUS] = HGS_OID_HC_SUBSTATUS,
	[EXT_NODE] = HGS_OID_HC_NODE,
};

/*
 * The spec of a health certificate of NODE into SPEC and EXTS, with the
 * extensions' values VALUES: what every one has in common (O, usages, the
 * extensions' OIDs and kinds), the rest (CN, validity) left to the caller.
 */
static void spec_fill(const struct hgs_node *node, const char *const values[EXT_COUNT],
		      struct hl_cert_ext exts[EXT_COUNT], struct hl_cert_spec *spec)
{
	for (int i = 0; i < EXT_COUNT; i++)
		exts[i] = (struct hl_cert_ext){ ext_oids[i], HL_EXT_UTF8, values[i], strlen(values[i]),
						0 };
	memset(spec, 0, sizeof(*spec));
	spec->org = node->config.domain;
	spec->path_len = -1;
	spec->key_usage = HL_KU_KEY_ENCIPHERMENT;
	spec->exts = exts;
	spec->n_exts = EXT_COUNT;
}

/* Make the health certificate template of NODE from its attestation signer. */
int hgs_healthcert_template(const struct hgs_node *node, struct hl_cert_template **out)
{
	static const char *const none[EXT_COUNT] = { "", "", "", "" };
	struct hl_cert_ext exts[EXT_COUNT];
	struct hl_cert_spec spec;

	*out = NULL;
	spec_fill(node, none, exts, &spec);
	if (hl_cert_template_new(&spec, node->signer_cert, node->signer_key, out) < 0)
		return hl_error_wrap("cannot prepare the health certificates of '%s'", node->dir);
	return 0;
}

/* Issue a health certificate from the attestation signer. */
int hgs_healthcert_issue(struct hgs_node *node, const struct hgs_config *cfg, const char *host,
			 enum hgs_mode mode, const struct hgs_result *res, EVP_PKEY *transport_key,
			 struct hl_buf *der, time_t *not_after)
{
	char substatus[HGS_REASON_MAX];
	const char *values[EXT_COUNT];
	struct hl_cert_ext exts[EXT_COUNT];
	struct hl_cert_spec spec;
	const char *mode_name = hgs_mode_name(mode), *status = hgs_status_name(res->status);
	enum hl_key_type kt;
	time_t now;

	der->data = NULL;
	der->len = 0;
	if (!node->healthcert_template)
		return hl_error("cannot issue a health certificate: the attestation signer is not "
				"loaded (open the node with HGS_NODE_OPEN_KEYS)");
	if (!mode_name || !status)
		return hl_error("cannot issue a health certificate: invalid mode or status");
	if (hl_name_registration("host name", host) < 0)
		return -1;
	if (hl_key_type_of(transport_key, &kt) < 0 ||
	    (kt != HL_KEY_RSA2048 && kt != HL_KEY_RSA3072))
		return hl_error("cannot issue a health certificate for '%s': the transport key must "
				"be an RSA 2048 or 3072 key (keys are wrapped to it with RSA-OAEP)",
				host);
	if (hgs_node_now(node, &now) < 0)
		return -1;
	hgs_substatus_format(res->substatus, substatus, sizeof(substatus));
	values[EXT_MODE] = mode_name;
	values[EXT_STATUS] = status;
	values[EXT_SUBSTATUS] = substatus;
	values[EXT_NODE] = node->config.name;
	spec_fill(node, values, exts, &spec);
	spec.cn = host;
	spec.not_before = now;
	spec.not_after = now + (time_t)cfg->healthcert_validity_h * 3600;
	if (hl_cert_template_issue(node->healthcert_template, &spec, transport_key, der) < 0)
		return hl_error_wrap("cannot issue a health certificate for '%s'", host);
	if (not_after)
		*not_after = spec.not_after;
	return 0;
}

/*
 * The hgslab extension OIDs as objects, made once: OBJ_txt2obj() at every
 * lookup cost a KPS release four conversions per parse.
 */
static ASN1_OBJECT *ext_objs[EXT_COUNT];
static pthread_once_t ext_once = PTHREAD_ONCE_INIT;

/* Make ext_objs (run once; an entry stays NULL when OpenSSL refuses it). */
static void ext_objs_init(void)
{
	for (int i = 0; i < EXT_COUNT; i++)
		ext_objs[i] = OBJ_txt2obj(ext_oids[i], 1);
	ERR_clear_error();
}

/*
 * Read UTF8String extension WHICH of CERT into BUF of SIZE bytes, as
 * hl_cert_ext_get_utf8() reads it: the first extension with the OID, a
 * whole UTF8String without NULs.
 */
static int ext_text(const X509 *cert, int which, const char *what, char *buf, size_t size)
{
	const ASN1_OCTET_STRING *data;
	ASN1_UTF8STRING *s = NULL;
	const unsigned char *p;
	int i, len, rc = -1;

	pthread_once(&ext_once, ext_objs_init);
	if (!ext_objs[which])
		return hl_error("invalid extension oid '%s'", ext_oids[which]);
	i = X509_get_ext_by_OBJ(cert, ext_objs[which], -1);
	data = i < 0 ? NULL : X509_EXTENSION_get_data(X509_get_ext(cert, i));
	if (!data)
		return hl_error("not an hgslab health certificate: no readable %s", what);
	p = ASN1_STRING_get0_data(data);
	s = d2i_ASN1_UTF8STRING(NULL, &p, ASN1_STRING_length(data));
	if (!s || p != ASN1_STRING_get0_data(data) + ASN1_STRING_length(data)) {
		ERR_clear_error();
		hl_error("not an hgslab health certificate: no readable %s", what);
		goto out;
	}
	len = ASN1_STRING_length(s);
	if ((size_t)len >= size || memchr(ASN1_STRING_get0_data(s), '\0', (size_t)len)) {
		hl_error("not an hgslab health certificate: its %s is malformed", what);
		goto out;
	}
	memcpy(buf, ASN1_STRING_get0_data(s), (size_t)len);
	buf[len] = '\0';
	rc = 0;
out:
	ASN1_UTF8STRING_free(s);
	return rc;
}

/* Parse "SecureBoot, DebugMode" (or "") into sub-status bits. */
static int parse_substatus(char *text, uint32_t *out)
{
	char *save = NULL, *tok;
	uint32_t bit;

	*out = 0;
	for (tok = strtok_r(text, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
		if (hgs_substatus_parse(tok, &bit) < 0)
			return hl_error_wrap("not an hgslab health certificate");
		*out |= bit;
	}
	return 0;
}

/* Read the host, validity and hgslab extensions of a certificate. */
int hgs_healthcert_parse(const X509 *cert, struct hgs_healthcert_info *info)
{
	char mode[16], status[48], sub[HGS_REASON_MAX];

	memset(info, 0, sizeof(*info));
	if (!cert)
		return hl_error("no health certificate");
	if (hl_cert_subject_cn(cert, info->host, sizeof(info->host)) < 0)
		return hl_error_wrap("not an hgslab health certificate: no host name");
	if (ext_text(cert, EXT_MODE, "attestation mode", mode, sizeof(mode)) < 0 ||
	    ext_text(cert, EXT_STATUS, "attestation status", status, sizeof(status)) < 0 ||
	    ext_text(cert, EXT_SUBSTATUS, "attestation sub-status", sub, sizeof(sub)) < 0 ||
	    ext_text(cert, EXT_NODE, "HGS name", info->node, sizeof(info->node)) < 0)
		return -1;
	if (hgs_mode_parse(mode, &info->mode) < 0 || hgs_status_parse(status, &info->status) < 0)
		return hl_error_wrap("not an hgslab health certificate");
	if (parse_substatus(sub, &info->substatus) < 0)
		return -1;
	if (hl_cert_validity(cert, &info->not_before, &info->not_after) < 0 ||
	    hl_cert_thumbprint(cert, info->thumbprint) < 0)
		return -1;
	return 0;
}

/*
 * Set VERDICT's refusal to WHY with the current message as its detail, and
 * the message to "health certificate of 'HOST' refused: DETAIL" when HOST
 * is not NULL; -1.
 */
static int refuse(struct hgs_healthcert_verdict *verdict, enum hgs_healthcert_refusal why,
		  const char *host)
{
	verdict->refusal = why;
	snprintf(verdict->detail, sizeof(verdict->detail), "%s", hl_error_last());
	if (host)
		hl_error_wrap("health certificate of '%s' refused", host);
	return -1;
}

/* Verify a health certificate against a signer, an HGS name and a time. */
int hgs_healthcert_verify_with(X509 *cert, X509 *signer, const char *node_name, time_t at,
			       struct hgs_healthcert_info *info,
			       struct hgs_healthcert_verdict *verdict)
{
	struct hgs_healthcert_info local;
	struct hgs_healthcert_verdict local_verdict;
	time_t when;

	if (!info)
		info = &local;
	if (!verdict)
		verdict = &local_verdict;
	verdict->refusal = HGS_HC_ACCEPTED;
	verdict->at = at;
	verdict->detail[0] = '\0';
	if (hgs_healthcert_parse(cert, info) < 0)
		return refuse(verdict, HGS_HC_NOT_HEALTHCERT, NULL);
	/* who issued it, for whom, its status: inside its validity (AT when it can) */
	when = at >= info->not_before && at <= info->not_after ? at : info->not_before;
	if (hl_cert_verify(cert, signer, NULL, 0, when) < 0)
		return refuse(verdict, HGS_HC_UNTRUSTED, info->host);
	if (strcmp(info->node, node_name) != 0) {
		hl_error("it was issued for HGS '%s', not '%s'", info->node, node_name);
		return refuse(verdict, HGS_HC_OTHER_HGS, info->host);
	}
	if (info->status != HGS_STATUS_PASSED) {
		hl_error("it records attestation status %s", hgs_status_name(info->status));
		return refuse(verdict, HGS_HC_NOT_PASSED, info->host);
	}
	if (when != at) {
		/* outside its validity: the chain check at AT says how */
		if (hl_cert_verify(cert, signer, NULL, 0, at) == 0)
			hl_error("it is not valid at the time checked");
		return refuse(verdict, at < info->not_before ? HGS_HC_NOT_YET_VALID : HGS_HC_EXPIRED,
			      info->host);
	}
	return 0;
}

/* Verify a health certificate against this node at the node clock. */
int hgs_healthcert_verify(struct hgs_node *node, X509 *cert, struct hgs_healthcert_info *info,
			  struct hgs_healthcert_verdict *verdict)
{
	time_t now;

	if (verdict) {
		verdict->refusal = HGS_HC_ERROR;
		verdict->at = 0;
		verdict->detail[0] = '\0';
	}
	if (!node->signer_cert)
		return hl_error("cannot verify a health certificate: the attestation signer is not "
				"loaded (open the node with HGS_NODE_OPEN_KEYS)");
	if (hgs_node_now(node, &now) < 0)
		return -1;
	return hgs_healthcert_verify_with(cert, node->signer_cert, node->config.name, now, info,
					  verdict);
}
