/*
 * diag_baseline.c - the baseline difference of `hgslab diagnose`: a host's
 * current TCG log against the registered TPM baselines (the logs HGS
 * matches a host's PCRs 0-7 with, hgs/policy.h), PCR by PCR and event by
 * event.  Per PCR the two logs' events (by SHA-256 digest) are aligned on
 * their longest common subsequence; what is left over is a changed, added or
 * removed event, said in plain words with the likely cause (a firmware
 * update, Secure Boot turned off, another boot loader...).  The nearest
 * baseline is the one with the fewest differing events.
 */
#include "sim/diag.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"

/* One event of one PCR: what is compared and what is named. */
struct pev {
	const uint8_t *digest;      /* SHA-256 */
	uint32_t type;
	size_t index;               /* in its log */
	const struct hl_tcglog_event *ev;
};

/* The events of PCR in LOG that extend it (EV_NO_ACTION excepted) into *OUT; their count. */
static size_t pcr_events(const struct hl_tcglog *log, uint32_t pcr, struct pev *out, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < log->nevents && n < max; i++) {
		const struct hl_tcglog_event *ev = &log->events[i];
		const struct hl_tcglog_digest *d;

		if (ev->pcr != pcr || ev->type == HL_EV_NO_ACTION ||
		    !(d = hl_tcglog_event_digest(ev, HL_TCGLOG_ALG_SHA256)))
			continue;
		out[n++] = (struct pev){ d->value, ev->type, ev->index, ev };
	}
	return n;
}

/* The UEFI variable name of an EV_EFI_VARIABLE_* event into BUF ("" when unreadable). */
static void variable_name(const struct hl_tcglog_event *ev, char *buf, size_t size)
{
	uint64_t nlen = 0;
	size_t k;

	buf[0] = 0;
	if (ev->data_len < 32)
		return;
	for (k = 0; k < 8; k++)
		nlen |= (uint64_t)ev->data[16 + k] << (8 * k);
	if (nlen > 64 || 32 + 2 * nlen > ev->data_len)
		return;
	for (k = 0; k < nlen && k + 1 < size; k++) {
		uint8_t c = ev->data[32 + 2 * k];

		buf[k] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	buf[k] = 0;
}

/* The likely cause of a difference in event EV and what to do, as "CAUSE; ADVICE". */
static void cause_of(const struct hl_tcglog_event *ev, char *buf, size_t size)
{
	char var[80];

	switch (ev->type) {
	case HL_EV_S_CRTM_VERSION:
	case HL_EV_S_CRTM_CONTENTS:
	case HL_EV_EFI_PLATFORM_FIRMWARE_BLOB:
	case HL_EV_EFI_PLATFORM_FIRMWARE_BLOB2:
	case HL_EV_POST_CODE:
	case HL_EV_CPU_MICROCODE:
	case HL_EV_EFI_HCRTM_EVENT:
		snprintf(buf, size, "a firmware update; register a new baseline");
		return;
	case HL_EV_EFI_HANDOFF_TABLES:
	case HL_EV_EFI_HANDOFF_TABLES2:
		snprintf(buf, size, "the hardware description (SMBIOS tables) changed; register a new "
			 "baseline if the hardware change is trusted");
		return;
	case HL_EV_EFI_BOOT_SERVICES_DRIVER:
	case HL_EV_EFI_RUNTIME_SERVICES_DRIVER:
		snprintf(buf, size, "a firmware driver or option ROM changed (new device or firmware); "
			 "register a new baseline if it is trusted");
		return;
	case HL_EV_EFI_VARIABLE_BOOT:
	case HL_EV_EFI_VARIABLE_BOOT2:
		variable_name(ev, var, sizeof(var));
		snprintf(buf, size, "the boot order or a boot option (%s) changed; restore it or register "
			 "a new baseline", *var ? var : "?");
		return;
	case HL_EV_EFI_BOOT_SERVICES_APPLICATION:
		snprintf(buf, size, "another boot loader ran; boot the registered boot manager");
		return;
	case HL_EV_EFI_VARIABLE_DRIVER_CONFIG:
		variable_name(ev, var, sizeof(var));
		if (!strcmp(var, "SecureBoot"))
			snprintf(buf, size, "Secure Boot was turned on or off; turn Secure Boot on");
		else
			snprintf(buf, size, "the Secure Boot configuration (%s) changed; register a new "
				 "baseline if the new keys are trusted", *var ? var : "?");
		return;
	case HL_EV_EFI_VARIABLE_AUTHORITY:
		snprintf(buf, size, "the certificate that verified the boot manager changed (or Secure "
			 "Boot verified nothing); turn Secure Boot on and boot the registered boot manager");
		return;
	case HL_EV_EFI_GPT_EVENT:
	case HL_EV_EFI_GPT_EVENT2:
		snprintf(buf, size, "the boot disk's partition table changed; register a new baseline "
			 "if it is trusted");
		return;
	default:
		snprintf(buf, size, "a boot component changed; register a new baseline if the change is "
			 "trusted");
		return;
	}
}

/* The type name of an event, or its number. */
static const char *type_name(uint32_t type, char *buf, size_t size)
{
	const char *n = hl_tcglog_event_type_name(type);

	if (n)
		return n;
	snprintf(buf, size, "0x%08x", type);
	return buf;
}

/* Append one line "PCR n differs: ..." to LINES (when not NULL). */
static void say(json_t *lines, uint32_t pcr, const char *what, const struct pev *e)
{
	char cause[256], tn[16], line[512];

	if (!lines)
		return;
	cause_of(e->ev, cause, sizeof(cause));
	snprintf(line, sizeof(line), "PCR %u differs: %s %zu %s %s: %s", pcr,
		 strcmp(what, "removed") ? "event" : "baseline event", e->index,
		 type_name(e->type, tn, sizeof(tn)), what, cause);
	json_array_append_new(lines, json_string(line));
}

/* Align the events of one PCR; the number that differ, lines appended to LINES. */
static size_t diff_pcr(uint32_t pcr, const struct pev *h, size_t nh, const struct pev *b, size_t nb,
		       json_t *lines)
{
	size_t *L = calloc((nh + 1) * (nb + 1), sizeof(*L)), i, j, n = 0;

#define AT(x, y) L[(x) * (nb + 1) + (y)]
	if (!L)
		return nh + nb;
	/* AT(i, j): longest common subsequence of h[i..] and b[j..] */
	for (i = nh; i-- > 0;)
		for (j = nb; j-- > 0;)
			AT(i, j) = !memcmp(h[i].digest, b[j].digest, 32) ? AT(i + 1, j + 1) + 1 :
				   AT(i + 1, j) > AT(i, j + 1) ? AT(i + 1, j) : AT(i, j + 1);
	i = j = 0;
	while (i < nh || j < nb) {
		if (i < nh && j < nb && !memcmp(h[i].digest, b[j].digest, 32)) {
			i++, j++;
		} else if (i < nh && j < nb && AT(i + 1, j + 1) == AT(i, j)) {
			say(lines, pcr, "changed", &h[i]);   /* one replaced the other */
			i++, j++, n++;
		} else if (i < nh && (j == nb || AT(i + 1, j) >= AT(i, j + 1))) {
			say(lines, pcr, "added", &h[i]);
			i++, n++;
		} else {
			say(lines, pcr, "removed", &b[j]);
			j++, n++;
		}
	}
#undef AT
	free(L);
	return n;
}

long hl_diag_tcglog_diff(const struct hl_tcglog *host, const struct hl_tcglog *base, uint32_t pcrs,
			 json_t *lines)
{
	struct pev *h = calloc(host->nevents + 1, sizeof(*h)), *b = calloc(base->nevents + 1, sizeof(*b));
	long n = 0;

	if (!h || !b) {
		free(h);
		free(b);
		return hl_error("out of memory");
	}
	for (uint32_t pcr = 0; pcr < HL_TCGLOG_PCRS; pcr++) {
		size_t nh, nb;

		if (!(pcrs & (1u << pcr)))
			continue;
		nh = pcr_events(host, pcr, h, host->nevents);
		nb = pcr_events(base, pcr, b, base->nevents);
		n += (long)diff_pcr(pcr, h, nh, b, nb, lines);
	}
	free(h);
	free(b);
	return n;
}

int hl_diag_baseline_nearest(const struct hl_tcglog *host, const struct hgs_baseline *baselines,
			     size_t n, uint32_t pcrs, struct hl_diag_nearest *out)
{
	long best_n = -1;
	size_t best = 0;

	memset(out, 0, sizeof(*out));
	out->differing = -1;
	for (size_t i = 0; i < n; i++) {
		struct hl_tcglog *base = NULL;
		long d;

		if (hl_tcglog_parse(baselines[i].tcglog, baselines[i].len, &base) < 0)
			return hl_error_wrap("registered baseline '%s'", baselines[i].name);
		d = hl_diag_tcglog_diff(host, base, pcrs, NULL);
		hl_tcglog_free(base);
		if (d < 0)
			return -1;
		if (best_n < 0 || d < best_n) {
			best_n = d;
			best = i;
		}
	}
	if (best_n < 0)
		return 0;
	{
		struct hl_tcglog *base = NULL;

		if (hl_tcglog_parse(baselines[best].tcglog, baselines[best].len, &base) < 0)
			return -1;
		out->lines = json_array();
		if (!out->lines || hl_diag_tcglog_diff(host, base, pcrs, out->lines) < 0) {
			hl_tcglog_free(base);
			json_decref(out->lines);
			out->lines = NULL;
			return hl_error("out of memory");
		}
		hl_tcglog_free(base);
	}
	out->name = baselines[best].name;
	out->differing = best_n;
	return 0;
}
