/*
 * vsc_viq.c - the volume ID qualifier (see vsc_viq.h and docs/templates.md):
 * rules, the qualifier made from a VSC, its JSON object (alone in a .viq
 * file or inside a .pdk) and the match of a template's VSC against it, with
 * the reason when it does not match.  JSON through lib/json (jansson).
 */
#include "proto/vsc_viq.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/err.h"
#include "lib/json.h"

/* The rules by their names, in enum order. */
static const char *const rule_names[] = { "equals", "greater-than", "greater-than-or-equals" };

/* A rule's name. */
int hl_viq_rule_parse(const char *text, enum hl_viq_rule *out)
{
	size_t i;

	*out = HL_VIQ_EQUALS;
	for (i = 0; text && i < sizeof(rule_names) / sizeof(rule_names[0]); i++) {
		if (strcmp(text, rule_names[i]) == 0) {
			*out = (enum hl_viq_rule)i;
			return 0;
		}
	}
	return hl_error("bad version rule '%.40s': give equals, greater-than or "
			"greater-than-or-equals", text ? text : "");
}

/* The name of RULE. */
const char *hl_viq_rule_name(enum hl_viq_rule rule)
{
	if ((size_t)rule < sizeof(rule_names) / sizeof(rule_names[0]))
		return rule_names[rule];
	return "unknown";
}

/* The qualifier of VSC's template under RULE. */
int hl_viq_from_vsc(const struct hl_vsc *vsc, enum hl_viq_rule rule, struct hl_viq *out)
{
	memset(out, 0, sizeof(*out));
	if (!vsc)
		return hl_error("no volume signature catalog given");
	if ((size_t)rule >= sizeof(rule_names) / sizeof(rule_names[0]))
		return hl_error("unknown version rule %d", (int)rule);
	memcpy(out->name, vsc->name, sizeof(out->name));
	memcpy(out->signer_thumbprint, vsc->signer_thumbprint, sizeof(out->signer_thumbprint));
	out->disk_version = vsc->disk_version;
	out->rule = rule;
	return 0;
}

/* 0 when S is 64 uppercase hex digits. */
static int thumb_check(const char *s)
{
	if (!hl_crypto_hex_is(s, HL_SHA256_HEX_SIZE - 1, 1))
		return hl_error("field 'signer_thumbprint' must be 64 uppercase hex digits");
	return 0;
}

/* Q as a JSON object. */
int hl_viq_to_json(const struct hl_viq *q, json_t **out)
{
	char ver[HL_VSC_VERSION_SIZE];
	json_t *o;

	*out = NULL;
	if (!q || hl_vsc_name_check(q->name) < 0 || thumb_check(q->signer_thumbprint) < 0)
		return hl_error_wrap("cannot write the volume ID qualifier");
	hl_vsc_version_format(&q->disk_version, ver);
	o = json_pack("{s:s, s:i, s:s, s:s, s:s, s:s}", "format", HL_VIQ_FORMAT, "version",
		      HL_VIQ_VERSION, "name", q->name, "signer_thumbprint", q->signer_thumbprint,
		      "disk_version", ver, "rule", hl_viq_rule_name(q->rule));
	if (!o)
		return hl_error("cannot write the volume ID qualifier: out of memory");
	*out = o;
	return 0;
}

/* A JSON object as a VIQ, strictly. */
int hl_viq_from_json(const json_t *o, struct hl_viq *out)
{
	static const char *const members[] = { "format", "version", "name", "signer_thumbprint",
					       "disk_version", "rule" };
	struct hl_viq q;
	json_int_t version;
	const char *s;
	json_t *v;

	memset(out, 0, sizeof(*out));
	memset(&q, 0, sizeof(q));
	if (!json_is_object(o))
		return hl_error("a volume ID qualifier must be a JSON object");
	v = json_object_get(o, "format");
	if (!json_is_string(v) || strcmp(json_string_value(v), HL_VIQ_FORMAT) != 0)
		return hl_error("field 'format' must be \"%s\": this is not an hgslab volume ID "
				"qualifier", HL_VIQ_FORMAT);
	if (hl_json_get_int(o, "version", &version) < 0)
		return -1;
	if (version != HL_VIQ_VERSION)
		return hl_error("volume ID qualifier version %lld is not supported; this hgslab reads "
				"version %d", (long long)version, HL_VIQ_VERSION);
	if (hl_json_members_exact(o, members, 6, "the volume ID qualifier") < 0)
		return -1;
	if (hl_json_get_string(o, "name", &s) < 0 || hl_vsc_name_check(s) < 0)
		return -1;
	memcpy(q.name, s, strlen(s) + 1);
	if (hl_json_get_string(o, "signer_thumbprint", &s) < 0 || thumb_check(s) < 0)
		return -1;
	memcpy(q.signer_thumbprint, s, HL_SHA256_HEX_SIZE);
	if (hl_json_get_string(o, "disk_version", &s) < 0)
		return -1;
	if (hl_vsc_version_parse(s, &q.disk_version) < 0)
		return hl_error_wrap("field 'disk_version'");
	if (hl_json_get_string(o, "rule", &s) < 0)
		return -1;
	if (hl_viq_rule_parse(s, &q.rule) < 0)
		return hl_error_wrap("field 'rule'");
	*out = q;
	return 0;
}

/* The .viq file of Q. */
int hl_viq_write(const struct hl_viq *q, struct hl_buf *out)
{
	char *text = NULL;
	json_t *o = NULL;

	out->data = NULL;
	out->len = 0;
	if (hl_viq_to_json(q, &o) < 0)
		return -1;
	if (hl_json_dump_pretty(o, &text) < 0) {
		json_decref(o);
		return -1;
	}
	json_decref(o);
	out->data = (unsigned char *)text;
	out->len = strlen(text);
	return 0;
}

/* Parse a .viq file. */
int hl_viq_parse(const void *data, size_t len, struct hl_viq *out)
{
	json_t *root = NULL;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (!data || len == 0)
		hl_error("the file is empty");
	else if (len > HL_VIQ_MAX_SIZE)
		hl_error("%zu bytes is larger than the %zu allowed", len, HL_VIQ_MAX_SIZE);
	else if (hl_json_parse(data, len, HL_VIQ_MAX_SIZE, &root) == 0)
		rc = hl_viq_from_json(root, out);
	json_decref(root);
	if (rc < 0)
		return hl_error_wrap("bad volume ID qualifier");
	return 0;
}

/* Match VSC's template against Q, with the reason when it does not. */
int hl_viq_match(const struct hl_viq *q, const struct hl_vsc *vsc)
{
	int c;

	if (!q || !vsc)
		return hl_error("no qualifier or signature catalog given");
	if (strcasecmp(q->signer_thumbprint, vsc->signer_thumbprint) != 0)
		return hl_error("template '%s' %s is signed by certificate %s; the qualifier trusts "
				"only templates signed by %s", vsc->name, vsc->disk_version_text,
				vsc->signer_thumbprint, q->signer_thumbprint);
	if (strcmp(q->name, vsc->name) != 0)
		return hl_error("template '%s' is not '%s', the template the qualifier names",
				vsc->name, q->name);
	c = hl_vsc_version_cmp(&vsc->disk_version, &q->disk_version);
	if ((q->rule == HL_VIQ_EQUALS && c != 0) || (q->rule == HL_VIQ_GREATER_THAN && c <= 0) ||
	    (q->rule == HL_VIQ_GREATER_THAN_OR_EQUALS && c < 0)) {
		char ver[HL_VSC_VERSION_SIZE];

		hl_vsc_version_format(&q->disk_version, ver);
		return hl_error("template '%s' version %s is not %s %s", vsc->name,
				vsc->disk_version_text,
				q->rule == HL_VIQ_EQUALS ? "equal to" :
				q->rule == HL_VIQ_GREATER_THAN ? "greater than" :
				"greater than or equal to", ver);
	}
	return 0;
}

/* One line for Q. */
void hl_viq_describe(const struct hl_viq *q, char *buf, size_t size)
{
	static const char *const ops[] = { "==", ">", ">=" };
	char ver[HL_VSC_VERSION_SIZE];

	hl_vsc_version_format(&q->disk_version, ver);
	snprintf(buf, size, "'%s' %s %s signed by %.16s...", q->name,
		 (size_t)q->rule < 3 ? ops[q->rule] : "?", ver, q->signer_thumbprint);
}
