/*
 * vsc_viq.h - the volume ID qualifier (VIQ, New-VolumeIDQualifier): which
 * template disks a tenant's shielding data trusts.  A VIQ names a template,
 * the thumbprint of the certificate that must have signed its volume
 * signature catalog (proto/vsc.h), a version and a rule; it is a `.viq`
 * file of its own and the entries of a .pdk's "qualifiers" (proto/pdk.h).
 * docs/templates.md is the reference:
 *
 *   {"format":"hgslab-viq","version":1,"name":"WindowsServer2016",
 *    "signer_thumbprint":"<64 uppercase hex: SHA-256 of the signer
 *                          certificate's DER, as hl_cert_thumbprint>",
 *    "disk_version":"1.0.0.0",
 *    "rule":"equals" | "greater-than" | "greater-than-or-equals"}
 *
 * A template matches a VIQ when its VSC verifies (the caller's
 * hl_vsc_verify), its signer's thumbprint and its name equal the VIQ's, and
 * its version satisfies the rule against the VIQ's version: equals V == Q,
 * greater-than V > Q, greater-than-or-equals V >= Q.
 *
 * Depends only on lib/ and proto/vsc (the guest agent compiles it); no
 * file I/O.  Contract (lib/err.h): 0 on success, -1 after hl_error();
 * outputs cleared on entry and set only on success.
 */
#ifndef HGSLAB_PROTO_VSC_VIQ_H
#define HGSLAB_PROTO_VSC_VIQ_H

#include <stddef.h>

#include <jansson.h>

#include "lib/crypto.h"
#include "proto/vsc.h"

#define HL_VIQ_FORMAT "hgslab-viq"
#define HL_VIQ_VERSION 1
/* Largest .viq file accepted. */
#define HL_VIQ_MAX_SIZE ((size_t)4096)

/* How a template's version must relate to the qualifier's. */
enum hl_viq_rule {
	HL_VIQ_EQUALS,                 /* "equals": V == Q */
	HL_VIQ_GREATER_THAN,           /* "greater-than": V > Q */
	HL_VIQ_GREATER_THAN_OR_EQUALS, /* "greater-than-or-equals": V >= Q */
};

/* A volume ID qualifier.  Invariants: name valid (hl_vsc_name_check), thumbprint 64 uppercase hex. */
struct hl_viq {
	char name[HL_VSC_NAME_SIZE];
	char signer_thumbprint[HL_SHA256_HEX_SIZE];
	struct hl_vsc_version disk_version;
	enum hl_viq_rule rule;
};

/* TEXT ("equals", "greater-than", "greater-than-or-equals") into *OUT; -1 naming the three. */
int hl_viq_rule_parse(const char *text, enum hl_viq_rule *out);

/* The rule's name as in the format ("greater-than-or-equals"). */
const char *hl_viq_rule_name(enum hl_viq_rule rule);

/* The qualifier for templates like VSC's (its name, signer and version) under RULE. */
int hl_viq_from_vsc(const struct hl_vsc *vsc, enum hl_viq_rule rule, struct hl_viq *out);

/* Q as a new JSON object *OUT (the documented members, format and version included). */
int hl_viq_to_json(const struct hl_viq *q, json_t **out);

/*
 * JSON object O as a VIQ into *OUT, strictly: exactly the documented
 * members, format "hgslab-viq", version 1, valid name, thumbprint, version
 * and rule.
 */
int hl_viq_from_json(const json_t *o, struct hl_viq *out);

/* The bytes of a .viq file for Q (indented JSON) into OUT. */
int hl_viq_write(const struct hl_viq *q, struct hl_buf *out);

/*
 * Parse LEN bytes of a .viq file (at most HL_VIQ_MAX_SIZE) into *OUT.
 * Errors start with "bad volume ID qualifier: ".
 */
int hl_viq_parse(const void *data, size_t len, struct hl_viq *out);

/*
 * 0 when the template of VSC (verified by the caller) matches Q; -1 with the
 * reason otherwise, e.g. "template 'WindowsServer2016' 1.0.0.0 is not
 * greater than 2.0.0.0" or "... is signed by certificate X, the qualifier
 * trusts Y".
 */
int hl_viq_match(const struct hl_viq *q, const struct hl_vsc *vsc);

/* Q in a short line into BUF: "'WindowsServer2016' >= 1.0.0.0 signed by 1A2B3C4D5E6F...". */
void hl_viq_describe(const struct hl_viq *q, char *buf, size_t size);

#endif
