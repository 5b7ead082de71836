/*
 * fuzz_wbcl.c - libFuzzer target: the Windows Boot Configuration Log parts
 * of a TCG log (proto/wbcl.h), the tagged events and UEFI variables HGS
 * reads a host's boot configuration from.
 *
 * Digests protect event data, so a log mutated byte by byte rarely gets
 * past the data checks.  This target writes the log itself instead, with
 * hgslab's writer (digests computed over the fuzzed data).  The first input
 * byte picks where the events come from:
 *   odd   the rest is a TCG log (a real one as seed): each of its events is
 *         written again, with its PCR, type and data and fresh digests;
 *   even  the rest is records  PCR-byte TYPE-byte DATA  separated by
 *         FZ_SEP (fuzzutil.h); TYPE picks an event type of types[] (or,
 *         past it, the type in the first four data bytes).
 * The log is serialized, parsed back and read with hl_wbcl_read and the
 * Hgs_* policies (the log also serves as its own baseline).  Each event's
 * data (the first MAX_DECODE) also goes straight through the decoders:
 * hl_wbcl_decode, hl_wbcl_value_check for every known tag,
 * hl_wbcl_si_policy_parse and hl_wbcl_uefi_variable_decode.
 */
#include <stdlib.h>
#include <string.h>

#include "hgs/policy.h"
#include "lib/endian.h"
#include "lib/err.h"
#include "proto/tcglog.h"
#include "proto/wbcl.h"
#include "tests/fuzz/fuzzutil.h"

static const uint32_t types[] = {
	HL_EV_EVENT_TAG, HL_EV_EFI_VARIABLE_DRIVER_CONFIG, HL_EV_EFI_ACTION, HL_EV_SEPARATOR,
	HL_EV_NO_ACTION, HL_EV_IPL, HL_EV_EFI_VARIABLE_AUTHORITY, HL_EV_EFI_VARIABLE_BOOT,
	HL_EV_S_CRTM_VERSION, HL_EV_POST_CODE, HL_EV_EFI_HCRTM_EVENT,
};
#define N_TYPES (sizeof(types) / sizeof(types[0]))
/* Most events one input writes, and whose data goes through the decoders. */
#define MAX_EVENTS 256
#define MAX_DECODE 8

static const char *enabled[32];
static size_t n_enabled;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fz_quiet();
	n_enabled = fz_policy_names(enabled, 32);
	return 0;
}

/* The decoders of proto/wbcl.h on DATA. */
static void decode(const uint8_t *data, size_t len)
{
	struct hl_wbcl_uefi_variable var;
	struct hl_wbcl_si_policy si;
	const uint8_t *value;
	uint32_t tag, value_len;

	if (hl_wbcl_decode(data, len, &tag, &value, &value_len) == 0)
		hl_wbcl_tag_find(tag);
	for (const struct hl_wbcl_tag_def *d = hl_wbcl_tags; d->name; d++)
		hl_wbcl_value_check(d->id, data, len);
	if (hl_wbcl_value_check(HL_WBCL_TAG_SI_POLICY, data, len) == 0)
		hl_wbcl_si_policy_parse(data, len, &si);
	hl_wbcl_uefi_variable_decode(data, len, &var);
	hl_error_clear();
}

/* Write the events of the TCG log in IN into W, with their digests made again. */
static void events_from_log(struct fz_in *in, struct hl_tcglog_writer *w)
{
	struct hl_tcglog *log = NULL;

	if (hl_tcglog_parse(in->p, in->n, &log) < 0)
		return;
	/* the Spec ID event of a crypto-agile log is the writer's own */
	for (size_t i = log->format == HL_TCGLOG_FORMAT_CRYPTO_AGILE; i < log->nevents &&
	     i <= MAX_EVENTS; i++) {
		const struct hl_tcglog_event *ev = &log->events[i];

		if (i <= MAX_DECODE)
			decode(ev->data, ev->data_len);
		if (hl_tcglog_writer_add(w, ev->pcr, ev->type, ev->data, ev->data_len) < 0)
			hl_error_clear();
	}
	hl_tcglog_free(log);
}

/* Write the events of the records in IN into W. */
static void events_from_records(struct fz_in *in, struct hl_tcglog_writer *w)
{
	for (int i = 0; i < MAX_EVENTS && in->n; i++) {
		const uint8_t *rec;
		size_t rlen;
		uint32_t pcr, type;
		uint8_t t;

		fz_part(in, &rec, &rlen);
		if (rlen < 2)
			continue;
		pcr = rec[0] % HL_TCGLOG_PCRS;
		t = rec[1];
		rec += 2;
		rlen -= 2;
		if (i < MAX_DECODE)
			decode(rec, rlen);
		if (t < N_TYPES) {
			type = types[t];
		} else {
			if (rlen < 4)
				continue;
			type = hl_get_le32(rec);
			rec += 4;
			rlen -= 4;
		}
		if (hl_tcglog_writer_add(w, pcr, type, rec, rlen) < 0)
			hl_error_clear();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint16_t banks[] = { HL_TCGLOG_ALG_SHA1, HL_TCGLOG_ALG_SHA256 };
	struct fz_in in = { data, size };
	struct hl_tcglog_writer *w = NULL;
	struct hl_tcglog *log = NULL;
	struct hl_wbcl_config cfg;
	struct hgs_policy_input pin = { 0 };
	struct hgs_baseline base = { .name = "Fuzz" };
	static const unsigned char ci_bytes[] = "a CI policy";
	struct hgs_ci_policy ci = { .name = "Fuzz", .data = ci_bytes, .len = sizeof(ci_bytes) - 1 };
	struct hgs_result res;
	uint8_t *bytes = NULL;
	size_t len = 0;

	if (hl_tcglog_writer_new(banks, 2, &w) < 0)
		fz_die("tcglog writer");
	if (fz_byte(&in) & 1)
		events_from_log(&in, w);
	else
		events_from_records(&in, w);
	if (hl_tcglog_writer_serialize(w, &bytes, &len) < 0 || hl_tcglog_parse(bytes, len, &log) < 0)
		goto out;
	hl_wbcl_read(log, &cfg);
	base.tcglog = bytes;
	base.len = len;
	pin.log = log;
	pin.baselines = &base;
	pin.n_baselines = 1;
	pin.ci_policies = &ci;
	pin.n_ci_policies = 1;
	pin.enabled = enabled;
	pin.n_enabled = n_enabled;
	hgs_policy_evaluate(&pin, &res);
out:
	hl_tcglog_free(log);
	free(bytes);
	hl_tcglog_writer_free(w);
	hl_error_clear();
	return 0;
}
