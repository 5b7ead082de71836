/*
 * wbcl.c - hgslab's boot-configuration events: the tag table, encoders and
 * bounds-checked decoders for tagged events and UEFI variables, and the
 * reader that pulls a host's boot configuration out of a parsed TCG log (see
 * wbcl.h for the vocabulary and the trust rules).
 *
 * hosts/measured_boot writes these events; hgs/policy reads them back with
 * hl_wbcl_read() from a log already replayed to a quote.  The reader relies
 * only on digests: it hashes each candidate event's data itself and takes
 * nothing from the event type.
 */
#include "proto/wbcl.h"

#include "lib/endian.h"
#include "lib/err.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#define UEFI_VARIABLE_HEADER_LEN 32   /* GUID, UINT64 name chars, UINT64 data length */
#define UEFI_DEBUG_MODE "UEFI Debug Mode"

const struct hl_wbcl_tag_def hl_wbcl_tags[] = {
	{ HL_WBCL_TAG_BOOTDEBUGGING, "BOOTDEBUGGING", 12, HL_WBCL_BOOL, "boot debugging" },
	{ HL_WBCL_TAG_OSKERNELDEBUG, "OSKERNELDEBUG", 12, HL_WBCL_BOOL, "kernel debugging" },
	{ HL_WBCL_TAG_BOOT_TYPE, "BOOT_TYPE", 12, HL_WBCL_U32, "boot type" },
	{ HL_WBCL_TAG_HYPERVISOR_LAUNCH_TYPE, "HYPERVISOR_LAUNCH_TYPE", 12, HL_WBCL_U32,
	  "hypervisor launch type" },
	{ HL_WBCL_TAG_HYPERVISOR_IOMMU_POLICY, "HYPERVISOR_IOMMU_POLICY", 12, HL_WBCL_U32,
	  "IOMMU policy" },
	{ HL_WBCL_TAG_VSM_LAUNCH_TYPE, "VSM_LAUNCH_TYPE", 12, HL_WBCL_U32,
	  "virtual secure mode launch type" },
	{ HL_WBCL_TAG_HVCI_POLICY, "HVCI_POLICY", 12, HL_WBCL_U32,
	  "hypervisor-enforced code integrity" },
	{ HL_WBCL_TAG_PAGEFILE_ENCRYPTION, "PAGEFILE_ENCRYPTION", 12, HL_WBCL_BOOL,
	  "pagefile encryption" },
	{ HL_WBCL_TAG_HIBERNATION_DISABLED, "HIBERNATION_DISABLED", 12, HL_WBCL_BOOL,
	  "hibernation" },
	{ HL_WBCL_TAG_DUMPS_DISABLED, "DUMPS_DISABLED", 12, HL_WBCL_BOOL, "crash dumps" },
	{ HL_WBCL_TAG_DUMP_ENCRYPTION, "DUMP_ENCRYPTION", 12, HL_WBCL_BOOL, "dump encryption" },
	{ HL_WBCL_TAG_DUMP_ENCRYPTION_KEY, "DUMP_ENCRYPTION_KEY", 12, HL_WBCL_SHA256,
	  "dump encryption key" },
	{ HL_WBCL_TAG_BITLOCKER, "BITLOCKER", 12, HL_WBCL_BOOL, "BitLocker" },
	{ HL_WBCL_TAG_SI_POLICY, "SI_POLICY", 13, HL_WBCL_POLICY, "code integrity policy" },
	{ HL_WBCL_TAG_VSM_IDK_INFO, "VSM_IDK_INFO", 14, HL_WBCL_IDK, "VSM identity key" },
	{ 0, NULL, 0, 0, NULL },
};
_Static_assert(sizeof(hl_wbcl_tags) / sizeof(hl_wbcl_tags[0]) == HL_WBCL_NTAGS + 1,
	       "HL_WBCL_NTAGS must count hl_wbcl_tags");

const uint8_t hl_efi_global_variable_guid[16] = {
	0x61, 0xdf, 0xe4, 0x8b, 0xca, 0x93, 0xd2, 0x11,
	0xaa, 0x0d, 0x00, 0xe0, 0x98, 0x03, 0x2b, 0x8c,
};
const uint8_t hl_efi_image_security_database_guid[16] = {
	0xcb, 0xb2, 0x19, 0xd7, 0x3a, 0x3d, 0x96, 0x45,
	0xa3, 0xbc, 0xda, 0xd0, 0x0e, 0x67, 0x65, 0x6f,
};
const uint8_t hl_efi_cert_sha256_guid[16] = {
	0x26, 0x16, 0xc4, 0xc1, 0x4c, 0x50, 0x92, 0x40,
	0xac, 0xa9, 0x41, 0xf9, 0x36, 0x93, 0x43, 0x28,
};

const struct hl_wbcl_tag_def *hl_wbcl_tag_find(uint32_t id)
{
	int i = hl_wbcl_tag_index(id);

	return i < 0 ? NULL : &hl_wbcl_tags[i];
}

int hl_wbcl_tag_index(uint32_t id)
{
	int i;

	for (i = 0; hl_wbcl_tags[i].name; i++)
		if (hl_wbcl_tags[i].id == id)
			return i;
	return -1;
}

int hl_wbcl_value_check(uint32_t tag, const uint8_t *value, size_t len)
{
	const struct hl_wbcl_tag_def *def = hl_wbcl_tag_find(tag);
	size_t name_len;

	if (!def)
		return 0;
	if (len && !value)
		return hl_error("tagged event %s: no value buffer", def->name);
	switch (def->kind) {
	case HL_WBCL_BOOL:
		if (len != 1)
			return hl_error("tagged event %s: a boolean value must be one byte (got %zu "
					"bytes)", def->name, len);
		if (value[0] > 1)
			return hl_error("tagged event %s: a boolean value must be 0 or 1 (got %u)",
					def->name, (unsigned)value[0]);
		return 0;
	case HL_WBCL_U32:
		if (len != 4)
			return hl_error("tagged event %s: the value must be a 4-byte integer (got %zu "
					"bytes)", def->name, len);
		return 0;
	case HL_WBCL_SHA256:
		if (len != 32)
			return hl_error("tagged event %s: the value must be a 32-byte SHA-256 digest "
					"(got %zu bytes)", def->name, len);
		return 0;
	case HL_WBCL_POLICY:
		if (len < 6)
			return hl_error("tagged event %s: the value is %zu bytes, shorter than its "
					"6-byte header", def->name, len);
		name_len = hl_get_le16(value + 4);
		if (hl_get_le16(value) != HL_TCGLOG_ALG_SHA256 || hl_get_le16(value + 2) != 32)
			return hl_error("tagged event %s: the policy hash must be SHA-256 of 32 bytes "
					"(got algorithm 0x%04x, %u bytes)", def->name,
					(unsigned)hl_get_le16(value), (unsigned)hl_get_le16(value + 2));
		if (name_len == 0 || name_len > HL_WBCL_NAME_MAX)
			return hl_error("tagged event %s: the policy name is %zu bytes (1-%d allowed)",
					def->name, name_len, HL_WBCL_NAME_MAX);
		if (len != 6 + name_len + 32)
			return hl_error("tagged event %s: the value is %zu bytes, its header announces "
					"%zu", def->name, len, 6 + name_len + 32);
		return 0;
	case HL_WBCL_IDK:
		if (len != 4 + 32 || hl_get_le16(value + 2) != 32)
			return hl_error("tagged event %s: the value must be a 4-byte header and a "
					"32-byte key digest (got %zu bytes)", def->name, len);
		return 0;
	}
	return hl_error("tagged event %s: unknown value kind", def->name);
}

int hl_wbcl_encode(uint32_t tag, const void *value, size_t len, uint8_t **out, size_t *out_len)
{
	uint8_t *buf;

	*out = NULL;
	*out_len = 0;
	if (len > UINT32_MAX - HL_WBCL_HEADER_LEN)
		return hl_error("cannot encode tagged event 0x%08x: value too large", (unsigned)tag);
	if (hl_wbcl_value_check(tag, value, len) < 0)
		return hl_error_wrap("cannot encode tagged event");
	buf = malloc(HL_WBCL_HEADER_LEN + len);
	if (!buf)
		return hl_error("cannot encode tagged event 0x%08x: out of memory", (unsigned)tag);
	hl_put_le32(buf, tag);
	hl_put_le32(buf + 4, (uint32_t)len);
	if (len)
		memcpy(buf + HL_WBCL_HEADER_LEN, value, len);
	*out = buf;
	*out_len = HL_WBCL_HEADER_LEN + len;
	return 0;
}

int hl_wbcl_encode_bool(uint32_t tag, int value, uint8_t **out, size_t *out_len)
{
	uint8_t v = value ? 1 : 0;

	return hl_wbcl_encode(tag, &v, 1, out, out_len);
}

int hl_wbcl_encode_u32(uint32_t tag, uint32_t value, uint8_t **out, size_t *out_len)
{
	uint8_t v[4];

	hl_put_le32(v, value);
	return hl_wbcl_encode(tag, v, sizeof(v), out, out_len);
}

int hl_wbcl_encode_si_policy(const char *name, const uint8_t sha256[32], uint8_t **out,
			     size_t *out_len)
{
	uint8_t v[HL_WBCL_VALUE_MAX];
	size_t n = name ? strlen(name) : 0;

	*out = NULL;
	*out_len = 0;
	if (n == 0 || n > HL_WBCL_NAME_MAX)
		return hl_error("cannot encode SI_POLICY: the policy name must be 1-%d bytes",
				HL_WBCL_NAME_MAX);
	hl_put_le16(v, HL_TCGLOG_ALG_SHA256);
	hl_put_le16(v + 2, 32);
	hl_put_le16(v + 4, (uint16_t)n);
	memcpy(v + 6, name, n);
	memcpy(v + 6 + n, sha256, 32);
	return hl_wbcl_encode(HL_WBCL_TAG_SI_POLICY, v, 6 + n + 32, out, out_len);
}

int hl_wbcl_encode_idk(const uint8_t sha256[32], uint8_t **out, size_t *out_len)
{
	uint8_t v[36];

	hl_put_le16(v, 0x0001);   /* TPM_ALG_RSA */
	hl_put_le16(v + 2, 32);
	memcpy(v + 4, sha256, 32);
	return hl_wbcl_encode(HL_WBCL_TAG_VSM_IDK_INFO, v, sizeof(v), out, out_len);
}

int hl_wbcl_decode(const uint8_t *data, size_t len, uint32_t *tag, const uint8_t **value,
		   uint32_t *value_len)
{
	uint32_t size;

	*value = NULL;
	*value_len = 0;
	*tag = 0;
	if (!data || len < HL_WBCL_HEADER_LEN)
		return hl_error("malformed tagged event: %zu bytes, shorter than the 8-byte "
				"TCG_PCClientTaggedEvent header", data ? len : 0);
	size = hl_get_le32(data + 4);
	if (size != len - HL_WBCL_HEADER_LEN)
		return hl_error("malformed tagged event 0x%08x: taggedEventDataSize is %u but %zu "
				"bytes follow the header", (unsigned)hl_get_le32(data), (unsigned)size,
				len - HL_WBCL_HEADER_LEN);
	if (hl_wbcl_value_check(hl_get_le32(data), data + HL_WBCL_HEADER_LEN, size) < 0)
		return hl_error_wrap("malformed tagged event");
	*tag = hl_get_le32(data);
	*value = data + HL_WBCL_HEADER_LEN;
	*value_len = size;
	return 0;
}

int hl_wbcl_si_policy_parse(const uint8_t *value, size_t len, struct hl_wbcl_si_policy *out)
{
	memset(out, 0, sizeof(*out));
	if (hl_wbcl_value_check(HL_WBCL_TAG_SI_POLICY, value, len) < 0)
		return -1;
	out->name = value + 6;
	out->name_len = hl_get_le16(value + 4);
	out->sha256 = value + 6 + out->name_len;
	return 0;
}

int hl_wbcl_uefi_variable_encode(const uint8_t guid[16], const char *name, const void *data,
				 size_t len, uint8_t **out, size_t *out_len)
{
	size_t n = name ? strlen(name) : 0, i, total;
	uint8_t *buf;

	*out = NULL;
	*out_len = 0;
	if (n == 0 || n > 63)
		return hl_error("cannot encode UEFI variable: the name must be 1-63 characters");
	if (len && !data)
		return hl_error("cannot encode UEFI variable '%s': no data buffer", name);
	if (len > UINT32_MAX - UEFI_VARIABLE_HEADER_LEN - 2 * n)
		return hl_error("cannot encode UEFI variable '%s': data too large", name);
	total = UEFI_VARIABLE_HEADER_LEN + 2 * n + len;
	buf = malloc(total);
	if (!buf)
		return hl_error("cannot encode UEFI variable '%s': out of memory", name);
	memcpy(buf, guid, 16);
	hl_put_le64(buf + 16, n);
	hl_put_le64(buf + 24, len);
	for (i = 0; i < n; i++)
		hl_put_le16(buf + UEFI_VARIABLE_HEADER_LEN + 2 * i, (uint8_t)name[i]);
	if (len)
		memcpy(buf + UEFI_VARIABLE_HEADER_LEN + 2 * n, data, len);
	*out = buf;
	*out_len = total;
	return 0;
}

int hl_wbcl_uefi_variable_decode(const uint8_t *buf, size_t len,
				 struct hl_wbcl_uefi_variable *out)
{
	uint64_t chars, data_len;
	size_t i;

	memset(out, 0, sizeof(*out));
	if (!buf || len < UEFI_VARIABLE_HEADER_LEN)
		return hl_error("malformed UEFI_VARIABLE_DATA: %zu bytes, shorter than its 32-byte "
				"header", buf ? len : 0);
	chars = hl_get_le64(buf + 16);
	data_len = hl_get_le64(buf + 24);
	if (chars == 0 || chars > 63)
		return hl_error("malformed UEFI_VARIABLE_DATA: a name of %llu characters (1-63 "
				"allowed)", (unsigned long long)chars);
	if (len - UEFI_VARIABLE_HEADER_LEN < 2 * chars)
		return hl_error("malformed UEFI_VARIABLE_DATA: its %llu-character name runs past the "
				"end of the %zu bytes given", (unsigned long long)chars, len);
	if (data_len != len - UEFI_VARIABLE_HEADER_LEN - 2 * chars)
		return hl_error("malformed UEFI_VARIABLE_DATA: name and data lengths (%llu "
				"characters, %llu bytes) do not add up to the %zu bytes given",
				(unsigned long long)chars, (unsigned long long)data_len, len);
	memcpy(out->guid, buf, 16);
	for (i = 0; i < chars; i++) {
		uint16_t c = hl_get_le16(buf + UEFI_VARIABLE_HEADER_LEN + 2 * i);

		out->name[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	out->name[chars] = '\0';
	out->data = buf + UEFI_VARIABLE_HEADER_LEN + 2 * chars;
	out->data_len = (size_t)data_len;
	return 0;
}

/* The OpenSSL digest of a TPM_ALG_ID, or NULL when hgslab cannot compute it. */
static const EVP_MD *alg_md(uint16_t alg)
{
	switch (alg) {
	case HL_TCGLOG_ALG_SHA1:
		return EVP_sha1();
	case HL_TCGLOG_ALG_SHA256:
		return EVP_sha256();
	case HL_TCGLOG_ALG_SHA384:
		return EVP_sha384();
	case HL_TCGLOG_ALG_SHA512:
		return EVP_sha512();
	case HL_TCGLOG_ALG_SHA3_256:
		return EVP_sha3_256();
	case HL_TCGLOG_ALG_SHA3_384:
		return EVP_sha3_384();
	case HL_TCGLOG_ALG_SHA3_512:
		return EVP_sha3_512();
	default:
		return NULL;
	}
}

int hl_wbcl_event_verified(const struct hl_tcglog_event *ev)
{
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned int md_len;
	int sha256 = 0;
	size_t i;

	for (i = 0; i < ev->ndigests; i++) {
		const struct hl_tcglog_digest *d = &ev->digests[i];
		const EVP_MD *m = alg_md(d->alg);

		if (!m)
			continue;
		if (EVP_Digest(ev->data_len ? ev->data : (const uint8_t *)"", ev->data_len, md,
			       &md_len, m, NULL) != 1)
			return hl_error("cannot hash event %zu's data: OpenSSL failed", ev->index);
		if (md_len != d->size || memcmp(md, d->value, md_len) != 0)
			return 0;
		if (d->alg == HL_TCGLOG_ALG_SHA256)
			sha256 = 1;
	}
	return sha256;
}

/* Record a value seen for ITEM at event INDEX. */
static void item_add(struct hl_wbcl_item *item, size_t index, const uint8_t *value, uint32_t len)
{
	if (!item->seen) {
		item->index = index;
		item->value_len = len;
		memcpy(item->value, value, len);
	} else if (item->value_len != len || memcmp(item->value, value, len) != 0) {
		item->conflict = 1;
	}
	item->seen++;
}

/* Look at one extended event in PCRs 12-14 (see hl_wbcl_read). */
static int read_tag_event(const struct hl_tcglog_event *ev, struct hl_wbcl_config *c)
{
	const struct hl_wbcl_tag_def *def;
	const uint8_t *value;
	uint32_t tag, value_len;
	int typed = ev->type == HL_EV_EVENT_TAG, v, r;

	v = hl_wbcl_event_verified(ev);
	if (v < 0)
		return -1;
	if (!v) {
		if (!typed)
			return 0;
		return hl_error("event %zu of the TCG log (EV_EVENT_TAG, PCR %u, offset %zu) does not "
				"match its data: its SHA-256 digest is not the hash of its tagged "
				"event data, so the boot configuration it reports cannot be trusted",
				ev->index, (unsigned)ev->pcr, ev->offset);
	}
	if (typed) {
		if (hl_wbcl_decode(ev->data, ev->data_len, &tag, &value, &value_len) < 0)
			return hl_error_wrap("event %zu of the TCG log (EV_EVENT_TAG, PCR %u, offset "
					     "%zu)", ev->index, (unsigned)ev->pcr, ev->offset);
	} else {
		/* any other type: a tag only when it decodes cleanly (type is not trusted) */
		r = hl_wbcl_decode(ev->data, ev->data_len, &tag, &value, &value_len);
		if (r < 0) {
			hl_error_clear();
			return 0;
		}
	}
	def = hl_wbcl_tag_find(tag);
	if (!def || def->pcr != ev->pcr)
		return 0;   /* unknown, or not where it belongs: it proves nothing */
	item_add(&c->tags[hl_wbcl_tag_index(tag)], ev->index, value, value_len);
	return 0;
}

/* Look at one extended event in PCR 7 (SecureBoot variable, UEFI debug mode). */
static int read_pcr7_event(const struct hl_tcglog_event *ev, struct hl_wbcl_config *c)
{
	struct hl_wbcl_uefi_variable var;
	size_t dm = strlen(UEFI_DEBUG_MODE);
	int v, on;

	v = hl_wbcl_event_verified(ev);
	if (v <= 0)
		return v;
	if ((ev->data_len == dm || (ev->data_len == dm + 1 && ev->data[dm] == '\0')) &&
	    memcmp(ev->data, UEFI_DEBUG_MODE, dm) == 0) {
		c->uefi_debug_mode = 1;
		return 0;
	}
	if (hl_wbcl_uefi_variable_decode(ev->data, ev->data_len, &var) < 0) {
		hl_error_clear();
		return 0;
	}
	if (memcmp(var.guid, hl_efi_global_variable_guid, 16) != 0 ||
	    strcmp(var.name, "SecureBoot") != 0)
		return 0;
	/* an empty or odd-sized SecureBoot variable is not "enabled" */
	on = var.data_len == 1 && var.data[0] == 1;
	if (!c->secure_boot_seen) {
		c->secure_boot = on;
		c->secure_boot_index = ev->index;
	} else if (c->secure_boot != on) {
		c->secure_boot_conflict = 1;
	}
	c->secure_boot_seen++;
	return 0;
}

int hl_wbcl_read(const struct hl_tcglog *log, struct hl_wbcl_config *out)
{
	int ret = -1;
	size_t i;

	memset(out, 0, sizeof(*out));
	if (!log)
		return hl_error("cannot read the boot configuration: no TCG log");
	for (i = 0; i < log->nevents; i++) {
		const struct hl_tcglog_event *ev = &log->events[i];

		if (ev->type == HL_EV_NO_ACTION)
			continue;   /* not extended: its digests prove nothing */
		if (ev->pcr >= 12 && ev->pcr <= 14 && read_tag_event(ev, out) < 0)
			goto out;
		if (ev->pcr == 7 && read_pcr7_event(ev, out) < 0)
			goto out;
	}
	ret = 0;
out:
	if (ret < 0)
		memset(out, 0, sizeof(*out));
	return ret;
}

const struct hl_wbcl_item *hl_wbcl_item(const struct hl_wbcl_config *c, uint32_t tag)
{
	int i = hl_wbcl_tag_index(tag);

	return i < 0 ? NULL : &c->tags[i];
}

int hl_wbcl_number(const struct hl_wbcl_config *c, uint32_t tag, uint32_t *value)
{
	const struct hl_wbcl_tag_def *def = hl_wbcl_tag_find(tag);
	const struct hl_wbcl_item *item = hl_wbcl_item(c, tag);

	*value = 0;
	if (!def || !item || !item->seen || item->conflict)
		return 0;
	if (def->kind == HL_WBCL_BOOL && item->value_len == 1)
		*value = item->value[0];
	else if (def->kind == HL_WBCL_U32 && item->value_len == 4)
		*value = hl_get_le32(item->value);
	else
		return 0;
	return 1;
}
