/*
 * tcglog.c - TCG PC Client event logs: parser for the SHA-1 and crypto-agile
 * formats, PCR replay, event-data checks, a text dump and a crypto-agile
 * writer (see tcglog.h for the contract).
 *
 * The parser copies the log, then walks it with explicit "bytes left" checks
 * before every read, so a truncated or hostile log ends in an error naming the
 * event index and offset, never in an over-read.  Events point into the copy.
 * Hashing is OpenSSL EVP; an algorithm OpenSSL cannot compute is parsed (its
 * digest size comes from the Spec ID event) but neither replayed nor checked.
 */
#include "proto/tcglog.h"

#include "lib/endian.h"
#include "lib/err.h"

#include <openssl/evp.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define SPEC_ID_SIGNATURE "Spec ID Event03"       /* 15 chars + NUL = 16 bytes */
#define LOCALITY_SIGNATURE "StartupLocality"      /* 15 chars + NUL = 16 bytes */
#define SIGNATURE_LEN 16
#define LEGACY_HEADER_LEN 32      /* pcr, type, sha1[20], eventDataSize */
#define SPEC_ID_FIXED_LEN 28      /* signature .. numberOfAlgorithms */
#define UEFI_VARIABLE_HEADER_LEN 32

/* Algorithms hgslab knows by name and size. */
static const struct {
	uint16_t id;
	uint16_t size;
	const char *name;
	const char *evp_name;
} known_algs[] = {
	{ HL_TCGLOG_ALG_SHA1, 20, "sha1", "SHA1" },
	{ HL_TCGLOG_ALG_SHA256, 32, "sha256", "SHA256" },
	{ HL_TCGLOG_ALG_SHA384, 48, "sha384", "SHA384" },
	{ HL_TCGLOG_ALG_SHA512, 64, "sha512", "SHA512" },
	{ HL_TCGLOG_ALG_SM3_256, 32, "sm3_256", "SM3" },
	{ HL_TCGLOG_ALG_SHA3_256, 32, "sha3_256", "SHA3-256" },
	{ HL_TCGLOG_ALG_SHA3_384, 48, "sha3_384", "SHA3-384" },
	{ HL_TCGLOG_ALG_SHA3_512, 64, "sha3_512", "SHA3-512" },
};

#define N_KNOWN_ALGS (sizeof(known_algs) / sizeof(known_algs[0]))

/* Event type names, PFP "Events" table. */
static const struct {
	uint32_t type;
	const char *name;
} event_types[] = {
	{ HL_EV_PREBOOT_CERT, "EV_PREBOOT_CERT" },
	{ HL_EV_POST_CODE, "EV_POST_CODE" },
	{ HL_EV_UNUSED, "EV_UNUSED" },
	{ HL_EV_NO_ACTION, "EV_NO_ACTION" },
	{ HL_EV_SEPARATOR, "EV_SEPARATOR" },
	{ HL_EV_ACTION, "EV_ACTION" },
	{ HL_EV_EVENT_TAG, "EV_EVENT_TAG" },
	{ HL_EV_S_CRTM_CONTENTS, "EV_S_CRTM_CONTENTS" },
	{ HL_EV_S_CRTM_VERSION, "EV_S_CRTM_VERSION" },
	{ HL_EV_CPU_MICROCODE, "EV_CPU_MICROCODE" },
	{ HL_EV_PLATFORM_CONFIG_FLAGS, "EV_PLATFORM_CONFIG_FLAGS" },
	{ HL_EV_TABLE_OF_DEVICES, "EV_TABLE_OF_DEVICES" },
	{ HL_EV_COMPACT_HASH, "EV_COMPACT_HASH" },
	{ HL_EV_IPL, "EV_IPL" },
	{ HL_EV_IPL_PARTITION_DATA, "EV_IPL_PARTITION_DATA" },
	{ HL_EV_NONHOST_CODE, "EV_NONHOST_CODE" },
	{ HL_EV_NONHOST_CONFIG, "EV_NONHOST_CONFIG" },
	{ HL_EV_NONHOST_INFO, "EV_NONHOST_INFO" },
	{ HL_EV_OMIT_BOOT_DEVICE_EVENTS, "EV_OMIT_BOOT_DEVICE_EVENTS" },
	{ HL_EV_EFI_VARIABLE_DRIVER_CONFIG, "EV_EFI_VARIABLE_DRIVER_CONFIG" },
	{ HL_EV_EFI_VARIABLE_BOOT, "EV_EFI_VARIABLE_BOOT" },
	{ HL_EV_EFI_BOOT_SERVICES_APPLICATION, "EV_EFI_BOOT_SERVICES_APPLICATION" },
	{ HL_EV_EFI_BOOT_SERVICES_DRIVER, "EV_EFI_BOOT_SERVICES_DRIVER" },
	{ HL_EV_EFI_RUNTIME_SERVICES_DRIVER, "EV_EFI_RUNTIME_SERVICES_DRIVER" },
	{ HL_EV_EFI_GPT_EVENT, "EV_EFI_GPT_EVENT" },
	{ HL_EV_EFI_ACTION, "EV_EFI_ACTION" },
	{ HL_EV_EFI_PLATFORM_FIRMWARE_BLOB, "EV_EFI_PLATFORM_FIRMWARE_BLOB" },
	{ HL_EV_EFI_HANDOFF_TABLES, "EV_EFI_HANDOFF_TABLES" },
	{ HL_EV_EFI_PLATFORM_FIRMWARE_BLOB2, "EV_EFI_PLATFORM_FIRMWARE_BLOB2" },
	{ HL_EV_EFI_HANDOFF_TABLES2, "EV_EFI_HANDOFF_TABLES2" },
	{ HL_EV_EFI_VARIABLE_BOOT2, "EV_EFI_VARIABLE_BOOT2" },
	{ HL_EV_EFI_GPT_EVENT2, "EV_EFI_GPT_EVENT2" },
	{ HL_EV_EFI_HCRTM_EVENT, "EV_EFI_HCRTM_EVENT" },
	{ HL_EV_EFI_VARIABLE_AUTHORITY, "EV_EFI_VARIABLE_AUTHORITY" },
	{ HL_EV_EFI_SPDM_FIRMWARE_BLOB, "EV_EFI_SPDM_FIRMWARE_BLOB" },
	{ HL_EV_EFI_SPDM_FIRMWARE_CONFIG, "EV_EFI_SPDM_FIRMWARE_CONFIG" },
};

#define N_EVENT_TYPES (sizeof(event_types) / sizeof(event_types[0]))

/* How an event's data relates to its digest. */
enum check_rule {
	RULE_NONE,      /* digest of something else: not checked */
	RULE_DATA,      /* digest = H(data) */
	RULE_VARIABLE,  /* digest = H(data) or H(UEFI_VARIABLE_DATA.VariableData) */
	RULE_STRING,    /* boot loader string, optional "word: " prefix and NUL */
};

/* A byte range one candidate of the hashed content covers. */
struct range {
	const uint8_t *p;
	size_t len;
};

/* ---------------------------------------------------------------------- */
/* names                                                                  */

const char *hl_tcglog_event_type_name(uint32_t type)
{
	size_t i;

	for (i = 0; i < N_EVENT_TYPES; i++)
		if (event_types[i].type == type)
			return event_types[i].name;
	return NULL;
}

const char *hl_tcglog_alg_name(uint16_t alg)
{
	size_t i;

	for (i = 0; i < N_KNOWN_ALGS; i++)
		if (known_algs[i].id == alg)
			return known_algs[i].name;
	return NULL;
}

int hl_tcglog_alg_from_name(const char *name, uint16_t *alg)
{
	size_t i;

	for (i = 0; name && i < N_KNOWN_ALGS; i++) {
		if (strcmp(known_algs[i].name, name) == 0) {
			*alg = known_algs[i].id;
			return 0;
		}
	}
	return hl_error("unknown hash algorithm '%s'; known: sha1, sha256, sha384, sha512, "
			"sm3_256, sha3_256, sha3_384, sha3_512", name ? name : "(null)");
}

size_t hl_tcglog_alg_size(uint16_t alg)
{
	size_t i;

	for (i = 0; i < N_KNOWN_ALGS; i++)
		if (known_algs[i].id == alg)
			return known_algs[i].size;
	return 0;
}

/* Type name for messages: the PFP name or the hex value. */
static const char *type_label(uint32_t type, char *buf, size_t size)
{
	const char *name = hl_tcglog_event_type_name(type);

	if (name)
		return name;
	snprintf(buf, size, "event type 0x%08x", (unsigned)type);
	return buf;
}

/* Algorithm name for messages: the tpm2-tools name or the hex id. */
static const char *alg_label(uint16_t alg, char *buf, size_t size)
{
	const char *name = hl_tcglog_alg_name(alg);

	if (name)
		return name;
	snprintf(buf, size, "alg 0x%04x", (unsigned)alg);
	return buf;
}

/* ---------------------------------------------------------------------- */
/* hashing                                                                */

/* The OpenSSL digest for ALG, or NULL when unknown or not available. */
static const EVP_MD *alg_md(uint16_t alg)
{
	size_t i;

	for (i = 0; i < N_KNOWN_ALGS; i++)
		if (known_algs[i].id == alg)
			return EVP_get_digestbyname(known_algs[i].evp_name);
	return NULL;
}

/* OUT = H(A || B) with MD; B may be empty. */
static int hash2(const EVP_MD *md, const void *a, size_t alen, const void *b, size_t blen,
		 uint8_t *out)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ret = -1;

	if (!ctx)
		return hl_error("cannot hash TCG log data: out of memory");
	if (EVP_DigestInit_ex(ctx, md, NULL) != 1 || EVP_DigestUpdate(ctx, a, alen) != 1 ||
	    (blen && EVP_DigestUpdate(ctx, b, blen) != 1) ||
	    EVP_DigestFinal_ex(ctx, out, NULL) != 1) {
		hl_error("cannot hash TCG log data with %s: OpenSSL digest failed", EVP_MD_get0_name(md));
		goto out;
	}
	ret = 0;
out:
	EVP_MD_CTX_free(ctx);
	return ret;
}

/* ---------------------------------------------------------------------- */
/* parse                                                                  */

/* Set the parse error for event INDEX at OFFSET; returns -1. */
static int parse_fail(size_t index, size_t offset, const char *fmt, ...) HL_PRINTF(3, 4);

static int parse_fail(size_t index, size_t offset, const char *fmt, ...)
{
	char why[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	return hl_error("malformed TCG log: event %zu at offset %zu: %s", index, offset, why);
}

/* Append a zeroed event to LOG's array; returns it or NULL (error set). */
static struct hl_tcglog_event *push_event(struct hl_tcglog *log, size_t *cap)
{
	struct hl_tcglog_event *ev;

	if (log->nevents == *cap) {
		size_t ncap = *cap ? *cap * 2 : 64;
		struct hl_tcglog_event *grown = realloc(log->events, ncap * sizeof(*grown));

		if (!grown) {
			hl_error("cannot parse TCG log: out of memory at event %zu", log->nevents);
			return NULL;
		}
		log->events = grown;
		*cap = ncap;
	}
	ev = &log->events[log->nevents];
	memset(ev, 0, sizeof(*ev));
	ev->index = log->nevents;
	return ev;
}

/* Parse one legacy TCG_PCClientPCREvent at *POS into a new event. */
static int parse_legacy_event(struct hl_tcglog *log, size_t *pos, size_t *cap,
			      struct hl_tcglog_event **evp)
{
	const uint8_t *p = log->raw + *pos;
	size_t left = log->raw_len - *pos, index = log->nevents;
	struct hl_tcglog_event *ev;
	uint32_t pcr, dlen;

	if (left < LEGACY_HEADER_LEN)
		return parse_fail(index, *pos, "the log ends inside the event header "
				  "(%zu bytes left, the header needs %d)", left, LEGACY_HEADER_LEN);
	pcr = hl_get_le32(p);
	dlen = hl_get_le32(p + 28);
	if (pcr >= HL_TCGLOG_PCRS)
		return parse_fail(index, *pos, "PCR index %u is out of range (0-%d)",
				  (unsigned)pcr, HL_TCGLOG_PCRS - 1);
	if (dlen > left - LEGACY_HEADER_LEN)
		return parse_fail(index, *pos, "event data size %u runs past the end of the log "
				  "(%zu bytes left)", (unsigned)dlen, left - LEGACY_HEADER_LEN);
	ev = push_event(log, cap);
	if (!ev)
		return -1;
	ev->offset = *pos;
	ev->pcr = pcr;
	ev->type = hl_get_le32(p + 4);
	ev->ndigests = 1;
	ev->digests[0].alg = HL_TCGLOG_ALG_SHA1;
	ev->digests[0].size = 20;
	ev->digests[0].value = p + 8;
	ev->data = p + LEGACY_HEADER_LEN;
	ev->data_len = dlen;
	log->nevents++;
	*pos += LEGACY_HEADER_LEN + (size_t)dlen;
	if (evp)
		*evp = ev;
	return 0;
}

/* Read the algorithm list of the Spec ID event EV into LOG. */
static int parse_spec_id(struct hl_tcglog *log, const struct hl_tcglog_event *ev)
{
	const uint8_t *d = ev->data;
	size_t len = ev->data_len, i, j, need;
	uint32_t n;
	char ab[32];

	if (ev->pcr != 0)
		return parse_fail(0, 0, "the Spec ID event is in PCR %u, not PCR 0", (unsigned)ev->pcr);
	for (i = 0; i < 20; i++)
		if (ev->digests[0].value[i] != 0)
			return parse_fail(0, 0, "the Spec ID event's digest is not all zero");
	if (len < SPEC_ID_FIXED_LEN + 1)
		return parse_fail(0, 0, "the Spec ID event data is %zu bytes, too short for "
				  "its header (%d)", len, SPEC_ID_FIXED_LEN + 1);
	n = hl_get_le32(d + 24);
	if (n == 0 || n > HL_TCGLOG_MAX_ALGS)
		return parse_fail(0, 0, "the Spec ID event declares %u algorithms (1-%d allowed)",
				  (unsigned)n, HL_TCGLOG_MAX_ALGS);
	need = SPEC_ID_FIXED_LEN + 4 * (size_t)n + 1;
	if (len < need)
		return parse_fail(0, 0, "the Spec ID event data is %zu bytes, too short for "
				  "%u algorithms (%zu)", len, (unsigned)n, need);
	for (i = 0; i < n; i++) {
		uint16_t id = hl_get_le16(d + SPEC_ID_FIXED_LEN + 4 * i);
		uint16_t size = hl_get_le16(d + SPEC_ID_FIXED_LEN + 4 * i + 2);
		size_t known = hl_tcglog_alg_size(id);

		if (size == 0 || size > HL_TCGLOG_MAX_DIGEST)
			return parse_fail(0, 0, "the Spec ID event declares %s with digest size %u "
					  "(1-%d allowed)", alg_label(id, ab, sizeof(ab)),
					  (unsigned)size, HL_TCGLOG_MAX_DIGEST);
		if (known && known != size)
			return parse_fail(0, 0, "the Spec ID event declares %s with digest size %u, "
					  "but %s digests are %zu bytes", alg_label(id, ab, sizeof(ab)),
					  (unsigned)size, alg_label(id, ab, sizeof(ab)), known);
		for (j = 0; j < i; j++)
			if (log->algs[j].id == id)
				return parse_fail(0, 0, "the Spec ID event declares %s twice",
						  alg_label(id, ab, sizeof(ab)));
		log->algs[i].id = id;
		log->algs[i].size = size;
	}
	log->nalgs = n;
	if (len < need + d[need - 1])
		return parse_fail(0, 0, "the Spec ID event's vendor info (%u bytes) runs past its "
				  "data (%zu bytes)", (unsigned)d[need - 1], len);
	return 0;
}

/* Parse one crypto-agile TCG_PCR_EVENT2 at *POS into a new event. */
static int parse_event2(struct hl_tcglog *log, size_t *pos, size_t *cap)
{
	const uint8_t *base = log->raw + *pos;
	size_t left = log->raw_len - *pos, index = log->nevents, off = 12, i, j;
	struct hl_tcglog_event *ev;
	uint32_t pcr, count, dlen;
	unsigned seen = 0;
	char ab[32];

	if (left < 12)
		return parse_fail(index, *pos, "the log ends inside the event header "
				  "(%zu bytes left, the header needs 12)", left);
	pcr = hl_get_le32(base);
	count = hl_get_le32(base + 8);
	if (pcr >= HL_TCGLOG_PCRS)
		return parse_fail(index, *pos, "PCR index %u is out of range (0-%d)",
				  (unsigned)pcr, HL_TCGLOG_PCRS - 1);
	if (count != log->nalgs)
		return parse_fail(index, *pos, "the event carries %u digests, but the Spec ID "
				  "event declares %zu algorithms", (unsigned)count, log->nalgs);
	ev = push_event(log, cap);
	if (!ev)
		return -1;
	ev->offset = *pos;
	ev->pcr = pcr;
	ev->type = hl_get_le32(base + 4);
	for (i = 0; i < count; i++) {
		uint16_t id;

		if (left - off < 2)
			return parse_fail(index, *pos, "the log ends inside digest %zu", i);
		id = hl_get_le16(base + off);
		for (j = 0; j < log->nalgs; j++)
			if (log->algs[j].id == id)
				break;
		if (j == log->nalgs)
			return parse_fail(index, *pos, "digest %zu uses %s, which the Spec ID event "
					  "does not declare", i, alg_label(id, ab, sizeof(ab)));
		if (seen & (1u << j))
			return parse_fail(index, *pos, "the event carries two %s digests",
					  alg_label(id, ab, sizeof(ab)));
		seen |= 1u << j;
		off += 2;
		if (left - off < log->algs[j].size)
			return parse_fail(index, *pos, "the log ends inside the %s digest",
					  alg_label(id, ab, sizeof(ab)));
		ev->digests[i].alg = id;
		ev->digests[i].size = log->algs[j].size;
		ev->digests[i].value = base + off;
		off += log->algs[j].size;
	}
	ev->ndigests = count;
	if (left - off < 4)
		return parse_fail(index, *pos, "the log ends before the event data size");
	dlen = hl_get_le32(base + off);
	off += 4;
	if (dlen > left - off)
		return parse_fail(index, *pos, "event data size %u runs past the end of the log "
				  "(%zu bytes left)", (unsigned)dlen, left - off);
	ev->data = base + off;
	ev->data_len = dlen;
	log->nevents++;
	*pos += off + dlen;
	return 0;
}

int hl_tcglog_parse(const uint8_t *buf, size_t len, struct hl_tcglog **out)
{
	struct hl_tcglog *log = NULL;
	struct hl_tcglog_event *first = NULL;
	size_t pos = 0, cap = 0;
	int ret = -1;

	*out = NULL;
	if (!buf || len == 0)
		return hl_error("malformed TCG log: the log is empty");
	if (len > HL_TCGLOG_MAX_SIZE)
		return hl_error("malformed TCG log: the log is %zu bytes, more than the %u hgslab "
				"accepts", len, HL_TCGLOG_MAX_SIZE);
	log = calloc(1, sizeof(*log));
	if (!log || !(log->raw = malloc(len))) {
		hl_error("cannot parse TCG log: out of memory");
		goto out;
	}
	memcpy(log->raw, buf, len);
	log->raw_len = len;
	log->format = HL_TCGLOG_FORMAT_SHA1;
	log->nalgs = 1;
	log->algs[0].id = HL_TCGLOG_ALG_SHA1;
	log->algs[0].size = 20;

	/* Event 0 has the legacy layout in both formats. */
	if (parse_legacy_event(log, &pos, &cap, &first) < 0)
		goto out;
	if (first->type == HL_EV_NO_ACTION && first->data_len >= SIGNATURE_LEN &&
	    memcmp(first->data, SPEC_ID_SIGNATURE, SIGNATURE_LEN) == 0) {
		log->format = HL_TCGLOG_FORMAT_CRYPTO_AGILE;
		if (parse_spec_id(log, first) < 0)
			goto out;
		while (pos < len)
			if (parse_event2(log, &pos, &cap) < 0)
				goto out;
	} else {
		while (pos < len)
			if (parse_legacy_event(log, &pos, &cap, NULL) < 0)
				goto out;
	}
	*out = log;
	log = NULL;
	ret = 0;
out:
	hl_tcglog_free(log);
	return ret;
}

void hl_tcglog_free(struct hl_tcglog *log)
{
	if (!log)
		return;
	free(log->events);
	free(log->raw);
	free(log);
}

const struct hl_tcglog_digest *hl_tcglog_event_digest(const struct hl_tcglog_event *ev,
						      uint16_t alg)
{
	size_t i;

	for (i = 0; ev && i < ev->ndigests; i++)
		if (ev->digests[i].alg == alg)
			return &ev->digests[i];
	return NULL;
}

int hl_tcglog_has_bank(const struct hl_tcglog *log, uint16_t alg)
{
	size_t i;

	for (i = 0; log && i < log->nalgs; i++)
		if (log->algs[i].id == alg)
			return 1;
	return 0;
}

int hl_tcglog_require_sha256(const struct hl_tcglog *log)
{
	char banks[128] = "", ab[32];
	size_t i, used = 0;

	if (hl_tcglog_has_bank(log, HL_TCGLOG_ALG_SHA256))
		return 0;
	for (i = 0; log && i < log->nalgs && used < sizeof(banks); i++)
		used += (size_t)snprintf(banks + used, sizeof(banks) - used, "%s%s", i ? ", " : "",
					 alg_label(log->algs[i].id, ab, sizeof(ab)));
	return hl_error("the TCG log has no SHA-256 bank; HGS requires SHA-256 measurements "
			"(the log's banks: %s); enable the TPM's SHA-256 PCR bank and a "
			"crypto-agile event log in the host firmware", used ? banks : "none");
}

/* ---------------------------------------------------------------------- */
/* replay                                                                 */

/* 1 when EV is an EV_NO_ACTION StartupLocality event. */
static int is_startup_locality(const struct hl_tcglog_event *ev)
{
	return ev->type == HL_EV_NO_ACTION && ev->pcr == 0 && ev->data_len >= SIGNATURE_LEN + 1 &&
	       memcmp(ev->data, LOCALITY_SIGNATURE, SIGNATURE_LEN) == 0;
}

/* Set the start value of PCR 0 in every bank: zeros, last byte LAST. */
static void set_pcr0_start(struct hl_tcglog_pcrs *p, uint8_t last)
{
	size_t b;

	for (b = 0; b < p->nbanks; b++) {
		memset(p->banks[b].pcr[0], 0, p->banks[b].size);
		p->banks[b].pcr[0][p->banks[b].size - 1] = last;
	}
}

/* Extend every bank's PCR ev->pcr with the event's digest for that bank. */
static int extend_event(struct hl_tcglog_pcrs *p, const struct hl_tcglog_event *ev)
{
	size_t b;
	char ab[32];

	for (b = 0; b < p->nbanks; b++) {
		struct hl_tcglog_bank *bank = &p->banks[b];
		const struct hl_tcglog_digest *d = hl_tcglog_event_digest(ev, bank->alg);
		uint8_t *v = bank->pcr[ev->pcr];

		if (!d || d->size != bank->size)
			return hl_error("cannot replay TCG log: event %zu at offset %zu has no %s digest",
					ev->index, ev->offset, alg_label(bank->alg, ab, sizeof(ab)));
		if (hash2(alg_md(bank->alg), v, bank->size, d->value, d->size, v) < 0)
			return -1;
		bank->extended |= 1u << ev->pcr;
	}
	return 0;
}

int hl_tcglog_replay(const struct hl_tcglog *log, struct hl_tcglog_pcrs **out)
{
	struct hl_tcglog_pcrs *p;
	int pcr0_extended = 0, ret = -1;
	size_t i;

	*out = NULL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return hl_error("cannot replay TCG log: out of memory");
	p->startup_locality = -1;
	for (i = 0; i < log->nalgs; i++) {
		if (!alg_md(log->algs[i].id))
			continue;
		p->banks[p->nbanks].alg = log->algs[i].id;
		p->banks[p->nbanks].size = log->algs[i].size;
		p->nbanks++;
	}
	for (i = 0; i < log->nevents; i++) {
		const struct hl_tcglog_event *ev = &log->events[i];

		if (ev->type == HL_EV_NO_ACTION) {
			uint8_t loc;

			/* After an H-CRTM start the locality no longer matters (tpm2-tools too). */
			if (!is_startup_locality(ev) || p->hcrtm)
				continue;
			loc = ev->data[SIGNATURE_LEN];
			if (pcr0_extended || p->startup_locality >= 0) {
				hl_error("cannot replay TCG log: event %zu at offset %zu: StartupLocality "
					 "comes after %s; it must precede every PCR 0 measurement",
					 ev->index, ev->offset, pcr0_extended ? "a PCR 0 measurement" :
					 "another StartupLocality event");
				goto out;
			}
			if (loc > 4) {
				hl_error("cannot replay TCG log: event %zu at offset %zu: StartupLocality "
					 "%u is not a TPM locality (0-4)", ev->index, ev->offset, loc);
				goto out;
			}
			p->startup_locality = loc;
			set_pcr0_start(p, loc);
			continue;
		}
		if (ev->type == HL_EV_EFI_HCRTM_EVENT && ev->pcr == 0) {
			if (pcr0_extended) {
				hl_error("cannot replay TCG log: event %zu at offset %zu: the H-CRTM "
					 "event comes after a PCR 0 measurement", ev->index, ev->offset);
				goto out;
			}
			p->hcrtm = 1;
			set_pcr0_start(p, 4);
		}
		if (extend_event(p, ev) < 0)
			goto out;
		if (ev->pcr == 0)
			pcr0_extended = 1;
	}
	*out = p;
	p = NULL;
	ret = 0;
out:
	hl_tcglog_pcrs_free(p);
	return ret;
}

void hl_tcglog_pcrs_free(struct hl_tcglog_pcrs *pcrs)
{
	free(pcrs);
}

const struct hl_tcglog_bank *hl_tcglog_pcrs_bank(const struct hl_tcglog_pcrs *pcrs,
						 uint16_t alg)
{
	size_t i;

	for (i = 0; pcrs && i < pcrs->nbanks; i++)
		if (pcrs->banks[i].alg == alg)
			return &pcrs->banks[i];
	return NULL;
}

/* ---------------------------------------------------------------------- */
/* event data checks                                                      */

/* The rule relating an event's data to its digest (see tcglog.h). */
static enum check_rule check_rule(uint32_t type, uint32_t pcr)
{
	switch (type) {
	case HL_EV_SEPARATOR:
	case HL_EV_ACTION:
	case HL_EV_EFI_ACTION:
	case HL_EV_S_CRTM_VERSION:
	case HL_EV_OMIT_BOOT_DEVICE_EVENTS:
	case HL_EV_EFI_GPT_EVENT:
	case HL_EV_EFI_VARIABLE_DRIVER_CONFIG:
		return RULE_DATA;
	case HL_EV_EFI_VARIABLE_BOOT:
	case HL_EV_EFI_VARIABLE_BOOT2:
		return RULE_VARIABLE;
	case HL_EV_IPL:
		return pcr == 8 || pcr == 12 ? RULE_STRING : RULE_NONE;
	default:
		return RULE_NONE;
	}
}

int hl_tcglog_event_is_checked(uint32_t type, uint32_t pcr)
{
	return check_rule(type, pcr) != RULE_NONE;
}

/* Fill CAND with the byte ranges whose hash the digest may be; returns how many. */
static size_t candidates(const struct hl_tcglog_event *ev, enum check_rule rule,
			 struct range *cand)
{
	const uint8_t *d = ev->data;
	size_t len = ev->data_len, n = 0, j = 0;

	cand[n++] = (struct range){ d, len };
	if (rule == RULE_VARIABLE && len >= UEFI_VARIABLE_HEADER_LEN) {
		/* UEFI_VARIABLE_DATA: GUID, UINT64 name length (chars), UINT64 data length */
		uint64_t name_chars = hl_get_le64(d + 16), data_len = hl_get_le64(d + 24);
		size_t room = len - UEFI_VARIABLE_HEADER_LEN;

		if (name_chars <= room / 2 && data_len <= room - 2 * name_chars)
			cand[n++] = (struct range){ d + UEFI_VARIABLE_HEADER_LEN + 2 * name_chars,
						    (size_t)data_len };
	}
	if (rule == RULE_STRING) {
		if (len > 0 && d[len - 1] == '\0')
			cand[n++] = (struct range){ d, len - 1 };
		/* grub: "grub_cmd: ...", "kernel_cmdline: ..." -> hash of the text after it */
		while (j < len && ((d[j] >= 'a' && d[j] <= 'z') || (d[j] >= 'A' && d[j] <= 'Z') ||
				   d[j] == '_'))
			j++;
		if (j > 0 && j < len && d[j] == ':')
			j++;
		if (j > 0 && j < len && d[j] == ' ') {
			j++;
			cand[n++] = (struct range){ d + j, len - j };
			if (len > j && d[len - 1] == '\0')
				cand[n++] = (struct range){ d + j, len - j - 1 };
		}
	}
	return n;
}

int hl_tcglog_event_check(const struct hl_tcglog_event *ev, uint16_t *bad_alg)
{
	enum check_rule rule = check_rule(ev->type, ev->pcr);
	struct range cand[4];
	uint8_t md_out[EVP_MAX_MD_SIZE];
	size_t ncand, c, i, computable = 0;
	uint16_t first_bad = 0;

	if (bad_alg)
		*bad_alg = 0;
	if (rule == RULE_NONE)
		return 0;
	ncand = candidates(ev, rule, cand);
	for (i = 0; i < ev->ndigests; i++)
		if (alg_md(ev->digests[i].alg))
			computable++;
	if (computable == 0)
		return 1;
	for (c = 0; c < ncand; c++) {
		int all = 1;

		for (i = 0; i < ev->ndigests && all; i++) {
			const struct hl_tcglog_digest *d = &ev->digests[i];
			const EVP_MD *md = alg_md(d->alg);

			if (!md)
				continue;
			if (hash2(md, cand[c].p, cand[c].len, NULL, 0, md_out) < 0)
				return -1;
			if ((size_t)EVP_MD_get_size(md) != d->size ||
			    memcmp(md_out, d->value, d->size) != 0) {
				all = 0;
				if (c == 0)
					first_bad = d->alg;
			}
		}
		if (all)
			return 0;
	}
	if (bad_alg)
		*bad_alg = first_bad;
	return 1;
}

int hl_tcglog_check_data(const struct hl_tcglog *log, struct hl_tcglog_mismatch **out,
			 size_t *count)
{
	struct hl_tcglog_mismatch *list = NULL, *grown;
	size_t n = 0, cap = 0, i;
	int ret = -1;

	*out = NULL;
	*count = 0;
	for (i = 0; i < log->nevents; i++) {
		const struct hl_tcglog_event *ev = &log->events[i];
		uint16_t alg;
		int r = hl_tcglog_event_check(ev, &alg);

		if (r < 0)
			goto out;
		if (r == 0)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 8;
			grown = realloc(list, cap * sizeof(*list));
			if (!grown) {
				hl_error("cannot check TCG log: out of memory");
				goto out;
			}
			list = grown;
		}
		list[n].index = ev->index;
		list[n].offset = ev->offset;
		list[n].pcr = ev->pcr;
		list[n].type = ev->type;
		list[n].alg = alg;
		n++;
	}
	*out = list;
	*count = n;
	list = NULL;
	ret = 0;
out:
	free(list);
	return ret;
}

int hl_tcglog_require_data_ok(const struct hl_tcglog *log)
{
	struct hl_tcglog_mismatch *list;
	size_t n;
	char tb[32], ab[32], digest[64];
	int ret;

	if (hl_tcglog_check_data(log, &list, &n) < 0)
		return -1;
	if (n == 0)
		return 0;
	if (list[0].alg)
		snprintf(digest, sizeof(digest), "its %s digest is not the hash of its data",
			 alg_label(list[0].alg, ab, sizeof(ab)));
	else
		snprintf(digest, sizeof(digest), "none of its digests can be computed here");
	ret = hl_error("event %zu of the TCG log (%s, PCR %u, offset %zu) does not match its data: "
		       "%s, so what the log says was measured cannot be trusted (%zu such event%s "
		       "in the log)", list[0].index, type_label(list[0].type, tb, sizeof(tb)),
		       (unsigned)list[0].pcr, list[0].offset, digest, n, n == 1 ? "" : "s");
	free(list);
	return ret;
}

/* ---------------------------------------------------------------------- */
/* dump                                                                   */

/* Print LEN bytes of P as hex. */
static void put_hex(FILE *f, const uint8_t *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		fprintf(f, "%02x", p[i]);
}

int hl_tcglog_dump(const struct hl_tcglog *log, FILE *f)
{
	char tb[32], ab[32];
	size_t i, j;

	fprintf(f, "TCG log: %s, %zu bytes, %zu events, banks",
		log->format == HL_TCGLOG_FORMAT_CRYPTO_AGILE ? "crypto-agile" : "SHA-1 legacy",
		log->raw_len, log->nevents);
	for (i = 0; i < log->nalgs; i++)
		fprintf(f, " %s", alg_label(log->algs[i].id, ab, sizeof(ab)));
	fputc('\n', f);
	for (i = 0; i < log->nevents; i++) {
		const struct hl_tcglog_event *ev = &log->events[i];
		const char *status = "";
		char sb[64];
		uint16_t bad = 0;
		int r = hl_tcglog_event_check(ev, &bad);

		if (r < 0)
			return -1;
		if (r == 1) {
			snprintf(sb, sizeof(sb), "  DATA DOES NOT MATCH DIGEST (%s)",
				 bad ? alg_label(bad, ab, sizeof(ab)) : "no computable digest");
			status = sb;
		} else if (hl_tcglog_event_is_checked(ev->type, ev->pcr)) {
			status = "  data checked";
		}
		fprintf(f, "%4zu  offset %-6zu pcr %-2u %-34s data %u bytes%s\n", ev->index,
			ev->offset, (unsigned)ev->pcr, type_label(ev->type, tb, sizeof(tb)),
			(unsigned)ev->data_len, status);
		for (j = 0; j < ev->ndigests; j++) {
			fprintf(f, "      %-8s ", alg_label(ev->digests[j].alg, ab, sizeof(ab)));
			put_hex(f, ev->digests[j].value, ev->digests[j].size);
			fputc('\n', f);
		}
	}
	if (fflush(f) != 0 || ferror(f))
		return hl_error_errno("cannot write the TCG log dump");
	return 0;
}

/* ---------------------------------------------------------------------- */
/* writer                                                                 */

/* A writer event: the public view plus the storage it points into. */
struct writer_event {
	struct hl_tcglog_event ev;
	uint8_t digest[HL_TCGLOG_MAX_ALGS][HL_TCGLOG_MAX_DIGEST];
	uint8_t *data;
};

/*
 * Invariants: events[0] is the Spec ID event; size is the serialized length
 * of events[0..nevents) and stays <= HL_TCGLOG_MAX_SIZE.
 */
struct hl_tcglog_writer {
	size_t nalgs;
	struct hl_tcglog_alg algs[HL_TCGLOG_MAX_ALGS];
	struct writer_event **events;
	size_t nevents, cap;
	size_t size;
	int pcr0_extended;
	int has_locality;
};

/* Free one writer event. */
static void writer_event_free(struct writer_event *we)
{
	if (!we)
		return;
	free(we->data);
	free(we);
}

/* Serialized size of a TCG_PCR_EVENT2 with W's banks and LEN bytes of data. */
static size_t event2_size(const struct hl_tcglog_writer *w, size_t len)
{
	size_t n = 12 + 4 + len, i;

	for (i = 0; i < w->nalgs; i++)
		n += 2 + w->algs[i].size;
	return n;
}

/* Allocate an event for W (digests zeroed, data copied); not yet appended. */
static int writer_event_new(const struct hl_tcglog_writer *w, uint32_t pcr, uint32_t type,
			    const void *data, size_t len, struct writer_event **out)
{
	struct writer_event *we;
	char tb[32];
	size_t i;

	*out = NULL;
	if (pcr >= HL_TCGLOG_PCRS)
		return hl_error("cannot add %s to the TCG log: PCR %u is out of range (0-%d)",
				type_label(type, tb, sizeof(tb)), (unsigned)pcr, HL_TCGLOG_PCRS - 1);
	if (len && !data)
		return hl_error("cannot add %s to the TCG log: %zu bytes of data but no buffer",
				type_label(type, tb, sizeof(tb)), len);
	if (len > HL_TCGLOG_MAX_SIZE || w->size + event2_size(w, len) > HL_TCGLOG_MAX_SIZE)
		return hl_error("cannot add %s to the TCG log: the log would exceed %u bytes",
				type_label(type, tb, sizeof(tb)), HL_TCGLOG_MAX_SIZE);
	we = calloc(1, sizeof(*we));
	if (!we || (len && !(we->data = malloc(len)))) {
		free(we);
		return hl_error("cannot add %s to the TCG log: out of memory",
				type_label(type, tb, sizeof(tb)));
	}
	if (len)
		memcpy(we->data, data, len);
	we->ev.pcr = pcr;
	we->ev.type = type;
	we->ev.data = we->data;
	we->ev.data_len = (uint32_t)len;
	we->ev.ndigests = w->nalgs;
	for (i = 0; i < w->nalgs; i++) {
		we->ev.digests[i].alg = w->algs[i].id;
		we->ev.digests[i].size = w->algs[i].size;
		we->ev.digests[i].value = we->digest[i];
	}
	*out = we;
	return 0;
}

/* Append WE to W (W takes it over, also on failure). */
static int writer_commit(struct hl_tcglog_writer *w, struct writer_event *we, size_t ser_size)
{
	if (w->nevents == w->cap) {
		size_t ncap = w->cap ? w->cap * 2 : 32;
		struct writer_event **grown = realloc(w->events, ncap * sizeof(*grown));

		if (!grown) {
			writer_event_free(we);
			return hl_error("cannot add an event to the TCG log: out of memory");
		}
		w->events = grown;
		w->cap = ncap;
	}
	we->ev.index = w->nevents;
	we->ev.offset = w->size;
	w->events[w->nevents++] = we;
	w->size += ser_size;
	if (we->ev.pcr == 0 && we->ev.type != HL_EV_NO_ACTION)
		w->pcr0_extended = 1;
	return 0;
}

int hl_tcglog_writer_new(const uint16_t *algs, size_t nalgs, struct hl_tcglog_writer **out)
{
	struct hl_tcglog_writer *w = NULL;
	struct writer_event *we = NULL;
	uint8_t spec[SPEC_ID_FIXED_LEN + 4 * HL_TCGLOG_MAX_ALGS + 1];
	size_t i, j, slen;
	char ab[32];
	int ret = -1;

	*out = NULL;
	if (!algs || nalgs == 0 || nalgs > HL_TCGLOG_MAX_ALGS)
		return hl_error("cannot create a TCG log: %zu banks requested (1-%d allowed)", nalgs,
				HL_TCGLOG_MAX_ALGS);
	w = calloc(1, sizeof(*w));
	if (!w)
		return hl_error("cannot create a TCG log: out of memory");
	for (i = 0; i < nalgs; i++) {
		if (!alg_md(algs[i])) {
			hl_error("cannot create a TCG log with %s: hgslab cannot compute it",
				 alg_label(algs[i], ab, sizeof(ab)));
			goto out;
		}
		for (j = 0; j < i; j++) {
			if (algs[j] == algs[i]) {
				hl_error("cannot create a TCG log: bank %s requested twice",
					 alg_label(algs[i], ab, sizeof(ab)));
				goto out;
			}
		}
		w->algs[i].id = algs[i];
		w->algs[i].size = (uint16_t)hl_tcglog_alg_size(algs[i]);
	}
	w->nalgs = nalgs;

	/* TCG_EfiSpecIDEvent: PFP 1.05, platform class client, UINTN of 8 bytes */
	memset(spec, 0, sizeof(spec));
	memcpy(spec, SPEC_ID_SIGNATURE, SIGNATURE_LEN);
	spec[20] = 0;   /* specVersionMinor */
	spec[21] = 2;   /* specVersionMajor */
	spec[22] = 2;   /* specErrata */
	spec[23] = 2;   /* uintnSize: UINT64 */
	hl_put_le32(spec + 24, (uint32_t)nalgs);
	for (i = 0; i < nalgs; i++) {
		hl_put_le16(spec + SPEC_ID_FIXED_LEN + 4 * i, w->algs[i].id);
		hl_put_le16(spec + SPEC_ID_FIXED_LEN + 4 * i + 2, w->algs[i].size);
	}
	slen = SPEC_ID_FIXED_LEN + 4 * nalgs + 1;   /* vendorInfoSize = 0 */
	if (writer_event_new(w, 0, HL_EV_NO_ACTION, spec, slen, &we) < 0)
		goto out;
	we->ev.ndigests = 1;   /* legacy layout: one all-zero SHA-1 digest */
	we->ev.digests[0].alg = HL_TCGLOG_ALG_SHA1;
	we->ev.digests[0].size = 20;
	memset(we->digest[0], 0, 20);
	if (writer_commit(w, we, LEGACY_HEADER_LEN + slen) < 0)
		goto out;
	*out = w;
	w = NULL;
	ret = 0;
out:
	hl_tcglog_writer_free(w);
	return ret;
}

void hl_tcglog_writer_free(struct hl_tcglog_writer *w)
{
	size_t i;

	if (!w)
		return;
	for (i = 0; i < w->nevents; i++)
		writer_event_free(w->events[i]);
	free(w->events);
	free(w);
}

/* Append an event whose digests are H(OBJ) (zero for EV_NO_ACTION), data DATA. */
static int writer_add_hashed(struct hl_tcglog_writer *w, uint32_t pcr, uint32_t type,
			     const void *obj, size_t obj_len, const void *data, size_t len)
{
	struct writer_event *we;
	size_t i;

	if (obj_len && !obj)
		return hl_error("cannot add an event to the TCG log: no measured object buffer");
	if (writer_event_new(w, pcr, type, data, len, &we) < 0)
		return -1;
	for (i = 0; type != HL_EV_NO_ACTION && i < w->nalgs; i++) {
		if (hash2(alg_md(w->algs[i].id), obj ? obj : "", obj_len, NULL, 0,
			  we->digest[i]) < 0) {
			writer_event_free(we);
			return -1;
		}
	}
	return writer_commit(w, we, event2_size(w, len));
}

int hl_tcglog_writer_add(struct hl_tcglog_writer *w, uint32_t pcr, uint32_t type,
			 const void *data, size_t len)
{
	return writer_add_hashed(w, pcr, type, data, len, data, len);
}

int hl_tcglog_writer_add_measured(struct hl_tcglog_writer *w, uint32_t pcr, uint32_t type,
				  const void *object, size_t object_len,
				  const void *desc, size_t desc_len)
{
	return writer_add_hashed(w, pcr, type, object, object_len, desc, desc_len);
}

int hl_tcglog_writer_add_digests(struct hl_tcglog_writer *w, uint32_t pcr, uint32_t type,
				 const struct hl_tcglog_digest *digests, size_t ndigests,
				 const void *data, size_t len)
{
	struct writer_event *we;
	unsigned seen = 0;
	size_t i, j;
	char ab[32], tb[32];

	if (ndigests != w->nalgs || (ndigests && !digests))
		return hl_error("cannot add %s to the TCG log: %zu digests given, the log has %zu "
				"banks", type_label(type, tb, sizeof(tb)), ndigests, w->nalgs);
	if (writer_event_new(w, pcr, type, data, len, &we) < 0)
		return -1;
	for (i = 0; i < ndigests; i++) {
		for (j = 0; j < w->nalgs; j++)
			if (w->algs[j].id == digests[i].alg)
				break;
		if (j == w->nalgs || (seen & (1u << j)) || !digests[i].value ||
		    digests[i].size != w->algs[j].size) {
			writer_event_free(we);
			return hl_error("cannot add %s to the TCG log: digest %zu (%s, %u bytes) is "
					"not one per bank of the log with the bank's size",
					type_label(type, tb, sizeof(tb)), i,
					alg_label(digests[i].alg, ab, sizeof(ab)),
					(unsigned)digests[i].size);
		}
		seen |= 1u << j;
		memcpy(we->digest[j], digests[i].value, w->algs[j].size);
	}
	return writer_commit(w, we, event2_size(w, len));
}

int hl_tcglog_writer_add_startup_locality(struct hl_tcglog_writer *w, uint8_t locality)
{
	uint8_t data[SIGNATURE_LEN + 1];

	if (w->pcr0_extended || w->has_locality)
		return hl_error("cannot add StartupLocality to the TCG log: it must come once, "
				"before any PCR 0 event");
	if (locality > 4)
		return hl_error("cannot add StartupLocality %u to the TCG log: not a TPM locality "
				"(0-4)", locality);
	memcpy(data, LOCALITY_SIGNATURE, SIGNATURE_LEN);
	data[SIGNATURE_LEN] = locality;
	if (hl_tcglog_writer_add(w, 0, HL_EV_NO_ACTION, data, sizeof(data)) < 0)
		return -1;
	w->has_locality = 1;
	return 0;
}

size_t hl_tcglog_writer_count(const struct hl_tcglog_writer *w)
{
	return w ? w->nevents : 0;
}

const struct hl_tcglog_event *hl_tcglog_writer_event(const struct hl_tcglog_writer *w,
						     size_t index)
{
	if (!w || index >= w->nevents)
		return NULL;
	return &w->events[index]->ev;
}

int hl_tcglog_writer_serialize(const struct hl_tcglog_writer *w, uint8_t **out, size_t *len)
{
	uint8_t *buf, *p;
	size_t i, j;

	*out = NULL;
	*len = 0;
	buf = malloc(w->size);
	if (!buf)
		return hl_error("cannot serialize the TCG log: out of memory (%zu bytes)", w->size);
	p = buf;
	for (i = 0; i < w->nevents; i++) {
		const struct hl_tcglog_event *ev = &w->events[i]->ev;

		hl_put_le32(p, ev->pcr);
		hl_put_le32(p + 4, ev->type);
		if (i == 0) {
			memcpy(p + 8, ev->digests[0].value, 20);
			p += 28;
		} else {
			hl_put_le32(p + 8, (uint32_t)ev->ndigests);
			p += 12;
			for (j = 0; j < ev->ndigests; j++) {
				hl_put_le16(p, ev->digests[j].alg);
				memcpy(p + 2, ev->digests[j].value, ev->digests[j].size);
				p += 2 + ev->digests[j].size;
			}
		}
		hl_put_le32(p, ev->data_len);
		p += 4;
		if (ev->data_len)
			memcpy(p, ev->data, ev->data_len);
		p += ev->data_len;
	}
	*out = buf;
	*len = (size_t)(p - buf);
	return 0;
}
