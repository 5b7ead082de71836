/*
 * policy.c - the Hgs_* attestation policies: their table and their
 * evaluation from a host's TCG log (see policy.h for the contract).
 *
 * The attestation service calls hgs_policy_evaluate() after it has proven the
 * log genuine (replayed to a verified quote).  Evaluation then
 *   1. refuses a log it cannot rely on (no SHA-256 bank, an event whose data
 *      does not hash to its digest, a malformed boot-configuration event) with
 *      TcgLogVerification and nothing else;
 *   2. replays the host's log (unless the caller hands over the replay it
 *      made, policy.h "replayed") and every registered baseline (whose
 *      replay is remembered by the SHA-256 of its bytes, policy.h "Replayed
 *      baselines"), and reads their boot configuration with lib/wbcl
 *      (digest-verified data only; event types are not trusted);
 *   3. evaluates every enabled policy (locked ones always), setting one
 *      sub-status bit and one reason phrase per failure, and appends each
 *      policy's verdict to the exchange's trace when it is given.
 * A setting the host does not measure counts as its insecure value.
 */
#include "hgs/policy.h"

#include "lib/crypto.h"
#include "lib/err.h"
#include "lib/json.h"
#include "proto/wbcl.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * The policies, in HGS's order, with the states Initialize-HgsServer gives
 * them.  Locked (cannot be disabled): Hgs_SecureBootEnabled,
 * Hgs_UefiDebugDisabled, Hgs_SecureBootSettings, Hgs_CiPolicy,
 * Hgs_FullBoot and Hgs_VsmIdkPresent - the ones the guarded fabric's trust
 * rests on (a known firmware and boot path, a known code integrity policy, no
 * debugger, VSM running from a full boot), as HGS locks them.  The others are
 * hardening a fabric administrator may relax; Hgs_BitLockerEnabled starts
 * disabled, as in HGS.
 */
const struct hgs_policy_def hgs_policy_defs[] = {
	{ "Hgs_SecureBootEnabled", HGS_SUB_SECURE_BOOT, 1, 1,
	  "UEFI Secure Boot is enabled (PCR 7)" },
	{ "Hgs_UefiDebugDisabled", HGS_SUB_DEBUG_MODE, 1, 1,
	  "no firmware, boot or kernel debugging (PCRs 7, 12)" },
	{ "Hgs_SecureBootSettings", HGS_SUB_SECURE_BOOT_SETTINGS, 1, 1,
	  "PCRs 0-7 equal those of a registered TPM baseline" },
	{ "Hgs_CiPolicy", HGS_SUB_CODE_INTEGRITY_POLICY, 1, 1,
	  "the measured code integrity policy is a registered one (PCR 13)" },
	{ "Hgs_HypervisorEnforcedCiPolicy", HGS_SUB_HVCI_POLICY, 1, 0,
	  "code integrity is enforced by the hypervisor (PCR 12)" },
	{ "Hgs_FullBoot", HGS_SUB_FULL_BOOT, 1, 1,
	  "the host did a full boot, not a resume from hibernation (PCR 12)" },
	{ "Hgs_VsmIdkPresent", HGS_SUB_VIRTUAL_SECURE_MODE, 1, 1,
	  "virtual secure mode runs and its identity key is measured (PCRs 12, 14)" },
	{ "Hgs_PageFileEncryptionEnabled", HGS_SUB_PAGEFILE_ENCRYPTION, 1, 0,
	  "the pagefile is encrypted (PCR 12)" },
	{ "Hgs_BitLockerEnabled", HGS_SUB_BITLOCKER, 0, 0,
	  "the OS volume is BitLocker-protected (PCR 12)" },
	{ "Hgs_IommuEnabled", HGS_SUB_IOMMU, 1, 0,
	  "the hypervisor requires an IOMMU (DMA protection) (PCR 12)" },
	{ "Hgs_NoHibernation", HGS_SUB_HIBERNATION_ENABLED, 1, 0,
	  "hibernation is disabled (PCR 12)" },
	{ "Hgs_NoDumps", HGS_SUB_DUMPS_ENABLED, 1, 0,
	  "crash dumps are disabled (PCR 12)" },
	{ "Hgs_DumpEncryption", HGS_SUB_DUMP_ENCRYPTION, 1, 0,
	  "crash dumps are encrypted (PCR 12)" },
	{ "Hgs_DumpEncryptionKey", HGS_SUB_DUMP_ENCRYPTION_KEY, 1, 0,
	  "the dump encryption key is one a registered TPM baseline measures (PCR 12)" },
	{ NULL, 0, 0, 0, NULL },
};

#define N_POLICIES 14
_Static_assert(sizeof(hgs_policy_defs) / sizeof(hgs_policy_defs[0]) == N_POLICIES + 1,
	       "hgs_policy_defs and checks[] must list the same policies");
#define LIST_MAX 160   /* longest list of registered names quoted in a reason */

/* What a registered baseline contributes. */
struct baseline_info {
	const char *name;
	uint8_t pcr[8][32];          /* SHA-256 PCRs 0-7 after replay */
	int has_dump_key;
	uint8_t dump_key[32];
};

/* State of one evaluation. */
struct eval {
	const struct hgs_policy_input *in;
	struct hl_wbcl_config cfg;
	const struct hl_tcglog_bank *host;   /* the host's SHA-256 bank after replay */
	struct baseline_info *baselines;
	size_t n_baselines;
	uint32_t bits;
	char reason[HGS_REASON_MAX];
	size_t used;
	/* the policy being checked, for its trace step (when there is a trace) */
	char phrases[HGS_TRACE_DETAIL_MAX];  /* its failures, "; "-joined */
	size_t phrases_used;
	const char *matched;                 /* the registration it matched, or NULL */
};

const struct hgs_policy_def *hgs_policy_find(const char *name)
{
	size_t i;

	for (i = 0; name && hgs_policy_defs[i].name; i++)
		if (strcmp(hgs_policy_defs[i].name, name) == 0)
			return &hgs_policy_defs[i];
	return NULL;
}

/* Record a failed check: set BIT and append the formatted phrase to the reason. */
static void fail(struct eval *e, uint32_t bit, const char *fmt, ...) HL_PRINTF(3, 4);

static void fail(struct eval *e, uint32_t bit, const char *fmt, ...)
{
	char phrase[HGS_REASON_MAX];
	va_list ap;
	int n;

	e->bits |= bit;
	va_start(ap, fmt);
	vsnprintf(phrase, sizeof(phrase), fmt, ap);
	va_end(ap);
	if (e->in->trace && e->phrases_used < sizeof(e->phrases) - 1) {
		n = snprintf(e->phrases + e->phrases_used, sizeof(e->phrases) - e->phrases_used,
			     "%s%s", e->phrases_used ? "; " : "", phrase);
		e->phrases_used = n < 0 || (size_t)n >= sizeof(e->phrases) - e->phrases_used
				  ? sizeof(e->phrases) - 1 : e->phrases_used + (size_t)n;
	}
	if (e->used >= sizeof(e->reason) - 1)
		return;
	n = snprintf(e->reason + e->used, sizeof(e->reason) - e->used, "%s%s",
		     e->used ? "; " : "", phrase);
	if (n < 0 || (size_t)n >= sizeof(e->reason) - e->used) {
		/* truncated: end with an ellipsis so the reader knows */
		e->used = sizeof(e->reason) - 1;
		memcpy(e->reason + sizeof(e->reason) - 4, "...", 4);
		return;
	}
	e->used += (size_t)n;
}

/* Write COUNT NAMES as "A, B, C" into BUF, shortened with "..." when too long. */
static void name_list(const char *const *names, size_t count, char *buf, size_t size)
{
	size_t used = 0, i;
	int n;

	buf[0] = '\0';
	for (i = 0; i < count; i++) {
		n = snprintf(buf + used, size - used, "%s%s", i ? ", " : "", names[i]);
		if (n < 0 || (size_t)n >= size - used) {
			snprintf(buf + (size > 4 ? size - 4 : 0), size > 4 ? 4 : size, "...");
			return;
		}
		used += (size_t)n;
	}
}

/* Copy untrusted text P (LEN bytes) into BUF as printable ASCII. */
static void printable(const uint8_t *p, size_t len, char *buf, size_t size)
{
	size_t i;

	for (i = 0; i < len && i + 1 < size; i++)
		buf[i] = (p[i] >= 0x20 && p[i] < 0x7f) ? (char)p[i] : '?';
	buf[i] = '\0';
}

/*
 * Check that bool/u32 TAG has value WANT.  BAD is the phrase when it has
 * another value; a missing or conflicting value gets a generic phrase.
 */
static void check_number(struct eval *e, uint32_t bit, uint32_t tag, uint32_t want,
			const char *bad)
{
	const struct hl_wbcl_tag_def *def = hl_wbcl_tag_find(tag);
	const struct hl_wbcl_item *item = hl_wbcl_item(&e->cfg, tag);
	uint32_t v;

	if (hl_wbcl_number(&e->cfg, tag, &v)) {
		if (v == want)
			return;
		fail(e, bit, "%s (PCR %u)", bad, (unsigned)def->pcr);
	} else if (item->seen) {
		fail(e, bit, "the %s setting is measured more than once with different values "
		     "(PCR %u)", def->meaning, (unsigned)def->pcr);
	} else {
		fail(e, bit, "the host does not measure its %s setting (PCR %u), so it counts as "
		     "insecure", def->meaning, (unsigned)def->pcr);
	}
}

/* Hgs_SecureBootEnabled: the SecureBoot variable measured in PCR 7 is 1. */
static int check_secure_boot(struct eval *e, uint32_t bit)
{
	if (!e->cfg.secure_boot_seen)
		fail(e, bit, "the host does not measure its Secure Boot state (PCR 7), so it "
		     "counts as disabled");
	else if (e->cfg.secure_boot_conflict)
		fail(e, bit, "the Secure Boot state is measured more than once with different "
		     "values (PCR 7)");
	else if (!e->cfg.secure_boot)
		fail(e, bit, "Secure Boot is disabled (PCR 7)");
	return 0;
}

/* Hgs_UefiDebugDisabled: no boot, kernel or firmware debugging. */
static int check_debug(struct eval *e, uint32_t bit)
{
	check_number(e, bit, HL_WBCL_TAG_BOOTDEBUGGING, 0, "boot debugging is enabled");
	check_number(e, bit, HL_WBCL_TAG_OSKERNELDEBUG, 0, "kernel debugging is enabled");
	if (e->cfg.uefi_debug_mode)
		fail(e, bit, "the firmware runs in UEFI debug mode (PCR 7)");
	return 0;
}

/* Hgs_SecureBootSettings: PCRs 0-7 equal those of some registered baseline. */
static int check_secure_boot_settings(struct eval *e, uint32_t bit)
{
	const char *names[64];
	char list[LIST_MAX], diff[64];
	size_t i, best = 0, best_n = 9, n, used;
	unsigned pcr;

	if (e->n_baselines == 0) {
		fail(e, bit, "no TPM baseline is registered, so the host's Secure Boot settings "
		     "(PCRs 0-7) match none; register one with add-tpm-policy");
		return 0;
	}
	for (i = 0; i < e->n_baselines; i++) {
		for (n = 0, pcr = 0; pcr < 8; pcr++)
			n += memcmp(e->host->pcr[pcr], e->baselines[i].pcr[pcr], 32) != 0;
		if (n == 0) {
			e->matched = e->baselines[i].name;
			return 0;
		}
		if (n < best_n) {
			best_n = n;
			best = i;
		}
	}
	for (i = 0; i < e->n_baselines && i < 64; i++)
		names[i] = e->baselines[i].name;
	name_list(names, i, list, sizeof(list));
	for (used = 0, pcr = 0; pcr < 8; pcr++)
		if (memcmp(e->host->pcr[pcr], e->baselines[best].pcr[pcr], 32) != 0)
			used += (size_t)snprintf(diff + used, sizeof(diff) - used, "%s%u",
						 used ? ", " : "", pcr);
	fail(e, bit, "the host's Secure Boot settings (PCRs 0-7) match no registered TPM "
	     "baseline; registered: %s (nearest '%s' differs in PCR%s %s)", list,
	     e->baselines[best].name, best_n == 1 ? "" : "s", diff);
	return 0;
}

/* Hgs_CiPolicy: the SI_POLICY hash is SHA-256 of some registered CI policy. */
static int check_ci_policy(struct eval *e, uint32_t bit)
{
	const struct hl_wbcl_item *item = hl_wbcl_item(&e->cfg, HL_WBCL_TAG_SI_POLICY);
	struct hl_wbcl_si_policy si;
	const char *names[64];
	char name[HL_WBCL_NAME_MAX + 1], list[LIST_MAX], hex[HL_SHA256_HEX_SIZE];
	uint8_t h[32];
	size_t i;

	if (!item->seen) {
		fail(e, bit, "the host does not measure a code integrity policy (PCR 13)");
		return 0;
	}
	if (item->conflict) {
		fail(e, bit, "more than one code integrity policy is measured (PCR 13)");
		return 0;
	}
	if (hl_wbcl_si_policy_parse(item->value, item->value_len, &si) < 0)
		return hl_error_wrap("cannot evaluate Hgs_CiPolicy");
	for (i = 0; i < e->in->n_ci_policies; i++) {
		const struct hgs_ci_policy *ci = &e->in->ci_policies[i];

		if (!ci->has_sha256 && hl_crypto_sha256(ci->data, ci->len, h) < 0)
			return -1;
		if (memcmp(ci->has_sha256 ? ci->sha256 : h, si.sha256, 32) == 0) {
			e->matched = ci->name;
			return 0;
		}
	}
	printable(si.name, si.name_len, name, sizeof(name));
	if (hl_crypto_hex_encode(si.sha256, 8, hex, sizeof(hex)) < 0)
		return -1;
	if (e->in->n_ci_policies == 0) {
		fail(e, bit, "no CI policy is registered, so the host's code integrity policy "
		     "'%s' (PCR 13) matches none; register one with add-ci-policy", name);
		return 0;
	}
	for (i = 0; i < e->in->n_ci_policies && i < 64; i++)
		names[i] = e->in->ci_policies[i].name;
	name_list(names, i, list, sizeof(list));
	fail(e, bit, "the host's code integrity policy '%s' (SHA-256 %s...) matches no registered "
	     "CI policy (PCR 13); registered: %s", name, hex, list);
	return 0;
}

/* Hgs_FullBoot: BOOT_TYPE says full boot. */
static int check_full_boot(struct eval *e, uint32_t bit)
{
	uint32_t v;

	if (hl_wbcl_number(&e->cfg, HL_WBCL_TAG_BOOT_TYPE, &v) && v == HL_WBCL_BOOT_RESUME)
		fail(e, bit, "the host resumed from hibernation instead of doing a full boot "
		     "(PCR 12)");
	else
		check_number(e, bit, HL_WBCL_TAG_BOOT_TYPE, HL_WBCL_BOOT_FULL,
			     "the host did not do a full boot");
	return 0;
}

/* Hgs_VsmIdkPresent: VSM launched and its identity key measured. */
static int check_vsm(struct eval *e, uint32_t bit)
{
	const struct hl_wbcl_item *idk = hl_wbcl_item(&e->cfg, HL_WBCL_TAG_VSM_IDK_INFO);

	check_number(e, bit, HL_WBCL_TAG_VSM_LAUNCH_TYPE, 1, "virtual secure mode is off");
	if (!idk->seen)
		fail(e, bit, "no VSM identity key (IDK) is measured (PCR 14)");
	else if (idk->conflict)
		fail(e, bit, "more than one VSM identity key (IDK) is measured (PCR 14)");
	return 0;
}

/* Hgs_DumpEncryptionKey: the measured key is one a registered baseline measures. */
static int check_dump_key(struct eval *e, uint32_t bit)
{
	const struct hl_wbcl_item *key = hl_wbcl_item(&e->cfg, HL_WBCL_TAG_DUMP_ENCRYPTION_KEY);
	char hex[HL_SHA256_HEX_SIZE];
	size_t i;

	if (!key->seen) {
		fail(e, bit, "no dump encryption key is measured (PCR 12)");
		return 0;
	}
	if (key->conflict) {
		fail(e, bit, "more than one dump encryption key is measured (PCR 12)");
		return 0;
	}
	for (i = 0; i < e->n_baselines; i++)
		if (e->baselines[i].has_dump_key &&
		    memcmp(e->baselines[i].dump_key, key->value, 32) == 0) {
			e->matched = e->baselines[i].name;
			return 0;
		}
	if (hl_crypto_hex_encode(key->value, 8, hex, sizeof(hex)) < 0)
		return -1;
	fail(e, bit, "the dump encryption key (SHA-256 %s...) is not one a registered TPM "
	     "baseline measures (PCR 12)", hex);
	return 0;
}

/* Hgs_HypervisorEnforcedCiPolicy: HVCI enforced. */
static int check_hvci(struct eval *e, uint32_t bit)
{
	check_number(e, bit, HL_WBCL_TAG_HVCI_POLICY, 1, "hypervisor-enforced code integrity is off");
	return 0;
}

/* Hgs_PageFileEncryptionEnabled. */
static int check_pagefile(struct eval *e, uint32_t bit)
{
	check_number(e, bit, HL_WBCL_TAG_PAGEFILE_ENCRYPTION, 1, "pagefile encryption is off");
	return 0;
}

/* Hgs_BitLockerEnabled. */
static int check_bitlocker(struct eval *e, uint32_t bit)
{
	check_number(e, bit, HL_WBCL_TAG_BITLOCKER, 1, "BitLocker is off on the OS volume");
	return 0;
}

/* Hgs_IommuEnabled. */
static int check_iommu(struct eval *e, uint32_t bit)
{
	check_number(e, bit, HL_WBCL_TAG_HYPERVISOR_IOMMU_POLICY, 1, "the IOMMU is off");
	return 0;
}

/* Hgs_NoHibernation. */
static int check_hibernation(struct eval *e, uint32_t bit)
{
	check_number(e, bit, HL_WBCL_TAG_HIBERNATION_DISABLED, 1, "hibernation is enabled");
	return 0;
}

/* Hgs_NoDumps. */
static int check_dumps(struct eval *e, uint32_t bit)
{
	check_number(e, bit, HL_WBCL_TAG_DUMPS_DISABLED, 1, "crash dumps are enabled");
	return 0;
}

/* Hgs_DumpEncryption. */
static int check_dump_encryption(struct eval *e, uint32_t bit)
{
	check_number(e, bit, HL_WBCL_TAG_DUMP_ENCRYPTION, 1, "dump encryption is off");
	return 0;
}

/*
 * The check of each policy, in the order of hgs_policy_defs.  A check records
 * failures with fail() and returns 0, or -1 on an internal error.
 */
static int (*const checks[N_POLICIES])(struct eval *e, uint32_t bit) = {
	check_secure_boot,          /* Hgs_SecureBootEnabled */
	check_debug,                /* Hgs_UefiDebugDisabled */
	check_secure_boot_settings, /* Hgs_SecureBootSettings */
	check_ci_policy,            /* Hgs_CiPolicy */
	check_hvci,                 /* Hgs_HypervisorEnforcedCiPolicy */
	check_full_boot,            /* Hgs_FullBoot */
	check_vsm,                  /* Hgs_VsmIdkPresent */
	check_pagefile,             /* Hgs_PageFileEncryptionEnabled */
	check_bitlocker,            /* Hgs_BitLockerEnabled */
	check_iommu,                /* Hgs_IommuEnabled */
	check_hibernation,          /* Hgs_NoHibernation */
	check_dumps,                /* Hgs_NoDumps */
	check_dump_encryption,      /* Hgs_DumpEncryption */
	check_dump_key,             /* Hgs_DumpEncryptionKey */
};

/* Replay baseline B and read what it contributes into INFO; -1 with what is wrong with its log. */
static int replay_baseline(const struct hgs_baseline *b, struct baseline_info *info)
{
	struct hl_tcglog *log = NULL;
	struct hl_tcglog_pcrs *pcrs = NULL;
	const struct hl_tcglog_bank *bank;
	const struct hl_wbcl_item *key;
	struct hl_wbcl_config *cfg = NULL;
	const char *name = b->name ? b->name : "(unnamed)";
	int ret = -1;
	unsigned pcr;

	info->name = name;
	cfg = malloc(sizeof(*cfg));
	if (!cfg) {
		hl_error("out of memory");
		goto out;
	}
	if (hl_tcglog_parse(b->tcglog, b->len, &log) < 0 || hl_tcglog_require_sha256(log) < 0 ||
	    hl_tcglog_replay(log, &pcrs) < 0 || hl_wbcl_read(log, cfg) < 0)
		goto out;
	bank = hl_tcglog_pcrs_bank(pcrs, HL_TCGLOG_ALG_SHA256);
	if (!bank) {
		hl_error("its SHA-256 bank cannot be replayed");
		goto out;
	}
	for (pcr = 0; pcr < 8; pcr++)
		memcpy(info->pcr[pcr], bank->pcr[pcr], 32);
	key = hl_wbcl_item(cfg, HL_WBCL_TAG_DUMP_ENCRYPTION_KEY);
	if (key->seen && !key->conflict) {
		info->has_dump_key = 1;
		memcpy(info->dump_key, key->value, 32);
	}
	ret = 0;
out:
	free(cfg);
	hl_tcglog_pcrs_free(pcrs);
	hl_tcglog_free(log);
	return ret;
}

/* A replayed baseline kept by the SHA-256 of its log (policy.h, "Replayed baselines"). */
struct baseline_memo {
	int set;
	unsigned char sha256[HL_SHA256_LEN];
	uint8_t pcr[8][32];
	int has_dump_key;
	uint8_t dump_key[32];
};

static struct baseline_memo baseline_memos[HGS_POLICY_BASELINE_CACHE];
static size_t baseline_memos_next;
static pthread_mutex_t baseline_memos_lock = PTHREAD_MUTEX_INITIALIZER;

/* Fill INFO's PCRs and dump key from the memo of the log hashing to SHA256; 1 found, 0 not. */
static int baseline_memo_find(const unsigned char sha256[HL_SHA256_LEN],
			      struct baseline_info *info)
{
	int found = 0;

	pthread_mutex_lock(&baseline_memos_lock);
	for (size_t i = 0; i < HGS_POLICY_BASELINE_CACHE && !found; i++) {
		const struct baseline_memo *m = &baseline_memos[i];

		if (!m->set || memcmp(m->sha256, sha256, HL_SHA256_LEN) != 0)
			continue;
		memcpy(info->pcr, m->pcr, sizeof(info->pcr));
		info->has_dump_key = m->has_dump_key;
		memcpy(info->dump_key, m->dump_key, sizeof(info->dump_key));
		found = 1;
	}
	pthread_mutex_unlock(&baseline_memos_lock);
	return found;
}

/* Keep what INFO says of the log hashing to SHA256, replacing the oldest memo. */
static void baseline_memo_keep(const unsigned char sha256[HL_SHA256_LEN],
			       const struct baseline_info *info)
{
	struct baseline_memo *m;

	pthread_mutex_lock(&baseline_memos_lock);
	m = &baseline_memos[baseline_memos_next];
	baseline_memos_next = (baseline_memos_next + 1) % HGS_POLICY_BASELINE_CACHE;
	memcpy(m->sha256, sha256, HL_SHA256_LEN);
	memcpy(m->pcr, info->pcr, sizeof(m->pcr));
	m->has_dump_key = info->has_dump_key;
	memcpy(m->dump_key, info->dump_key, sizeof(m->dump_key));
	m->set = 1;
	pthread_mutex_unlock(&baseline_memos_lock);
}

/* Registered baseline B replayed (replay_baseline), or -1 saying it cannot be used. */
static int load_baseline(const struct hgs_baseline *b, struct baseline_info *info)
{
	if (replay_baseline(b, info) == 0)
		return 0;
	return hl_error_wrap("registered TPM baseline '%s' cannot be used; remove it and register "
			     "it again with add-tpm-policy", b->name ? b->name : "(unnamed)");
}

/* load_baseline(), answered from the replayed-baseline memos when it can be. */
static int load_baseline_memo(const struct hgs_baseline *b, struct baseline_info *info)
{
	unsigned char sha256[HL_SHA256_LEN];

	if (b->has_sha256)
		memcpy(sha256, b->sha256, sizeof(sha256));
	else if (hl_crypto_sha256(b->tcglog, b->len, sha256) < 0)
		return -1;
	if (baseline_memo_find(sha256, info)) {
		info->name = b->name ? b->name : "(unnamed)";
		return 0;
	}
	if (load_baseline(b, info) < 0)
		return -1;
	baseline_memo_keep(sha256, info);
	return 0;
}

/* Refuse the log with TcgLogVerification, the current error as the reason (a step of T). */
static int log_refused(struct hgs_result *out, struct hgs_trace *t)
{
	hgs_result_fail(out, HGS_STATUS_INSECURE_HOST_CONFIGURATION,
			HGS_SUB_TCG_LOG_VERIFICATION, "%s", hl_error_last());
	hl_error_clear();
	hgs_trace_result(t, "TcgLog", "the TCG log's boot configuration can be read", out, NULL);
	return 0;
}

/* Run policy I's check and append its verdict to the trace (when there is one). */
static int run_check(struct eval *e, size_t i)
{
	const struct hgs_policy_def *def = &hgs_policy_defs[i];

	e->phrases_used = 0;
	e->phrases[0] = '\0';
	e->matched = NULL;
	if (checks[i](e, def->substatus) < 0)
		return -1;
	if (e->phrases_used)
		hgs_trace_check(e->in->trace, def->name, HGS_TRACE_FAIL, def->description, "%s: %s",
				hgs_substatus_name(def->substatus), e->phrases);
	else if (e->matched)
		hgs_trace_check(e->in->trace, def->name, HGS_TRACE_PASS, def->description,
				"matches '%s'", e->matched);
	else
		hgs_trace_check(e->in->trace, def->name, HGS_TRACE_PASS, def->description, NULL);
	return 0;
}

int hgs_policy_check_ci(const void *data, size_t len)
{
	json_t *doc = NULL, *rules;
	const char *format = NULL, *name = NULL, *id = NULL;
	int rc = -1;

	if (hl_json_parse(data, len, 0, &doc) < 0 || !json_is_object(doc)) {
		hl_error("not a CI policy: a CI policy is a JSON document (`hgslab host get-ci-policy` "
			 "writes one)%s", json_is_array(doc) ? "; this is a JSON array" : "");
		goto out;
	}
	if (hl_json_get_string(doc, "format", &format) < 0 ||
	    strcmp(format, HGS_CI_POLICY_FORMAT) != 0) {
		hl_error("not a CI policy: its format is '%s', not '%s'", format ? format : "(none)",
			 HGS_CI_POLICY_FORMAT);
		goto out;
	}
	rules = json_object_get(doc, "rules");
	if (hl_json_get_string(doc, "name", &name) < 0 ||
	    hl_json_get_string(doc, "policy_id", &id) < 0 || !json_is_array(rules)) {
		hl_error("not a CI policy: it needs a name, a policy_id and rules");
		goto out;
	}
	rc = 0;
out:
	json_decref(doc);
	return rc;
}

int hgs_policy_check_baseline(const char *name, const unsigned char *tcglog, size_t len)
{
	struct hgs_baseline b = { .name = name, .tcglog = tcglog, .len = len };
	struct baseline_info info;

	memset(&info, 0, sizeof(info));
	return replay_baseline(&b, &info);
}

int hgs_policy_evaluate(const struct hgs_policy_input *in, struct hgs_result *out)
{
	struct hl_tcglog_pcrs *pcrs = NULL;
	struct eval *e = NULL;
	unsigned enabled = 0;
	size_t i;
	int ret = -1;

	/* until a decision is made the result is a failure, never Passed */
	hgs_result_fail(out, HGS_STATUS_TRANSIENT_ERROR, 0, "the attestation policies could not "
			"be evaluated");
	if (!in || !in->log)
		return hl_error("cannot evaluate attestation policies: no TCG log given");
	for (i = 0; i < in->n_enabled; i++) {
		const struct hgs_policy_def *def = hgs_policy_find(in->enabled[i]);

		if (!def)
			return hl_error("cannot evaluate attestation policies: unknown policy '%s' is "
					"enabled", in->enabled[i] ? in->enabled[i] : "(null)");
		enabled |= 1u << (def - hgs_policy_defs);
	}
	for (i = 0; i < N_POLICIES; i++)
		if (hgs_policy_defs[i].locked)
			enabled |= 1u << i;

	e = calloc(1, sizeof(*e));
	if (!e)
		return hl_error("cannot evaluate attestation policies: out of memory");
	e->in = in;
	/* 1. a log HGS cannot rely on is refused before any policy */
	if (in->replayed) {
		/* the caller checked and replayed the log: only its boot configuration is left */
		if (in->config) {
			e->cfg = *in->config;
		} else if (hl_wbcl_read(in->log, &e->cfg) < 0) {
			ret = log_refused(out, in->trace);
			goto out;
		}
		e->host = in->replayed;
	} else if (hl_tcglog_require_sha256(in->log) < 0 ||
		   hl_tcglog_require_data_ok(in->log) < 0 ||
		   hl_wbcl_read(in->log, &e->cfg) < 0 || hl_tcglog_replay(in->log, &pcrs) < 0) {
		ret = log_refused(out, in->trace);
		goto out;
	} else {
		e->host = hl_tcglog_pcrs_bank(pcrs, HL_TCGLOG_ALG_SHA256);
	}
	if (!e->host) {
		hl_error("the TCG log's SHA-256 bank cannot be replayed");
		ret = log_refused(out, in->trace);
		goto out;
	}
	/* 2. the registered baselines */
	if (in->n_baselines) {
		e->baselines = calloc(in->n_baselines, sizeof(*e->baselines));
		if (!e->baselines) {
			hl_error("cannot evaluate attestation policies: out of memory");
			goto out;
		}
	}
	for (i = 0; i < in->n_baselines; i++, e->n_baselines++)
		if (load_baseline_memo(&in->baselines[i], &e->baselines[i]) < 0)
			goto out;
	/* 3. every enabled policy; a disabled one is a skipped step of the trace */
	for (i = 0; i < N_POLICIES; i++) {
		if (enabled & (1u << i)) {
			if (run_check(e, i) < 0)
				goto out;
		} else {
			hgs_trace_check(in->trace, hgs_policy_defs[i].name, HGS_TRACE_SKIP,
					hgs_policy_defs[i].description, "disabled on this HGS");
		}
	}
	if (e->bits)
		hgs_result_fail(out, HGS_STATUS_INSECURE_HOST_CONFIGURATION, e->bits, "%s",
				e->reason);
	else
		hgs_result_pass(out);
	ret = 0;
out:
	hl_tcglog_pcrs_free(pcrs);
	if (e)
		free(e->baselines);
	free(e);
	return ret;
}
