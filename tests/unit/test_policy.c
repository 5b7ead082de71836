/*
 * test_policy.c - unit tests for hgs/policy (the Hgs_* policies and their
 * evaluation from a TCG log) and lib/wbcl (the boot-configuration events the
 * evaluation reads).
 *
 * Hosts are built with hosts/measured_boot from profile SPECs; the fabric has
 * one registered TPM baseline, "Baseline1", the log of the plain `baseline`
 * profile, and one registered CI policy, "HgsLabDefault".  Attacks on the log
 * (changed data, relabelled events, forged events) are made by patching the
 * serialized log or by rebuilding it with the lib/tcglog writer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/attest.h"
#include "hgs/policy.h"
#include "hosts/measured_boot.h"
#include "hosts/profile.h"
#include "lib/crypto.h"
#include "lib/err.h"
#include "proto/tcglog.h"
#include "proto/wbcl.h"
#include "tests/unit/testutil.h"

/* The registered state every test starts from. */
static uint8_t *baseline_log;
static size_t baseline_len;
static char *ci_doc;
static size_t ci_len;
static const char *default_enabled[32];
static size_t n_default_enabled;

/* Build the fabric's registrations once. */
static int setup(void **state)
{
	struct hl_measured_boot *mb = NULL;
	struct hl_profile p;
	size_t i;

	(void)state;
	if (hl_profile_parse("baseline", &p) < 0 || hl_measured_boot_build(&p, &mb) < 0 ||
	    hl_profile_ci_policy_document("HgsLabDefault", &ci_doc, &ci_len) < 0)
		return -1;
	baseline_log = mb->log;
	baseline_len = mb->log_len;
	mb->log = NULL;
	hl_measured_boot_free(mb);
	for (i = 0; hgs_policy_defs[i].name; i++)
		if (hgs_policy_defs[i].default_enabled)
			default_enabled[n_default_enabled++] = hgs_policy_defs[i].name;
	return 0;
}

/* Free the registrations. */
static int teardown(void **state)
{
	(void)state;
	free(baseline_log);
	free(ci_doc);
	return 0;
}

/* The serialized log of profile SPEC (caller frees). */
static uint8_t *host_log(const char *spec, size_t *len)
{
	struct hl_measured_boot *mb = NULL;
	struct hl_profile p;
	uint8_t *log;

	if (hl_profile_parse(spec, &p) < 0 || hl_measured_boot_build(&p, &mb) < 0)
		fail_msg("cannot build host '%s': %s", spec, hl_error_last());
	log = mb->log;
	*len = mb->log_len;
	mb->log = NULL;
	hl_measured_boot_free(mb);
	return log;
}

/* What to evaluate against; NULL members mean the defaults above. */
struct fabric {
	const struct hgs_baseline *baselines;
	size_t n_baselines;
	int no_baselines;
	const struct hgs_ci_policy *ci;
	size_t n_ci;
	int no_ci;
	const char *const *enabled;
	size_t n_enabled;
	int use_enabled;
};

/* Evaluate LOG (LEN bytes) against fabric F (NULL: defaults); returns hgs_policy_evaluate's rc. */
static int evaluate_in(const uint8_t *log_bytes, size_t len, const struct fabric *f,
		       struct hgs_result *r)
{
	struct hgs_baseline bl = { .name = "Baseline1", .tcglog = baseline_log, .len = baseline_len };
	struct hgs_ci_policy ci = { .name = "HgsLabDefault", .data = (const unsigned char *)ci_doc,
				    .len = ci_len };
	struct hgs_policy_input in;
	struct hl_tcglog *log = NULL;
	int rc;

	if (hl_tcglog_parse(log_bytes, len, &log) < 0)
		fail_msg("the host log does not parse: %s", hl_error_last());
	memset(&in, 0, sizeof(in));
	in.log = log;
	in.baselines = &bl;
	in.n_baselines = 1;
	in.ci_policies = &ci;
	in.n_ci_policies = 1;
	in.enabled = default_enabled;
	in.n_enabled = n_default_enabled;
	if (f && (f->baselines || f->no_baselines)) {
		in.baselines = f->baselines;
		in.n_baselines = f->n_baselines;
	}
	if (f && (f->ci || f->no_ci)) {
		in.ci_policies = f->ci;
		in.n_ci_policies = f->n_ci;
	}
	if (f && f->use_enabled) {
		in.enabled = f->enabled;
		in.n_enabled = f->n_enabled;
	}
	memset(r, 0x77, sizeof(*r));
	rc = hgs_policy_evaluate(&in, r);
	hl_tcglog_free(log);
	return rc;
}

/* Evaluate with the defaults; the evaluation itself must not fail. */
static void evaluate(const uint8_t *log, size_t len, struct hgs_result *r)
{
	if (evaluate_in(log, len, NULL, r) < 0)
		fail_msg("evaluation failed: %s", hl_error_last());
}

/* Require status InsecureHostConfiguration with exactly BITS, and each NULL-ended phrase. */
static void expect_insecure(const char *what, const struct hgs_result *r, uint32_t bits, ...)
{
	char got[256], want[256];
	const char *phrase;
	va_list ap;

	hgs_substatus_format(r->substatus, got, sizeof(got));
	hgs_substatus_format(bits, want, sizeof(want));
	if (r->status != HGS_STATUS_INSECURE_HOST_CONFIGURATION || r->substatus != bits)
		fail_msg("%s: got %s (%s), expected InsecureHostConfiguration (%s); reason: %s", what,
			 hgs_status_name(r->status), got, want, r->reason);
	va_start(ap, bits);
	while ((phrase = va_arg(ap, const char *)) != NULL)
		if (!strstr(r->reason, phrase))
			fail_msg("%s: reason lacks \"%s\": %s", what, phrase, r->reason);
	va_end(ap);
}

/* Require Passed with no sub-status and an empty reason. */
static void expect_passed(const char *what, const struct hgs_result *r)
{
	char got[256];

	hgs_substatus_format(r->substatus, got, sizeof(got));
	if (r->status != HGS_STATUS_PASSED || r->substatus != 0 || r->reason[0])
		fail_msg("%s: got %s (%s), expected Passed; reason: %s", what,
			 hgs_status_name(r->status), got, r->reason);
}

/* ---- the table ---- */

/* 14 policies, HGS's names, sub-statuses, defaults and locks. */
static void test_policy_table(void **state)
{
	static const struct {
		const char *name;
		uint32_t sub;
		int enabled, locked;
	} want[] = {
		{ "Hgs_SecureBootEnabled", HGS_SUB_SECURE_BOOT, 1, 1 },
		{ "Hgs_UefiDebugDisabled", HGS_SUB_DEBUG_MODE, 1, 1 },
		{ "Hgs_SecureBootSettings", HGS_SUB_SECURE_BOOT_SETTINGS, 1, 1 },
		{ "Hgs_CiPolicy", HGS_SUB_CODE_INTEGRITY_POLICY, 1, 1 },
		{ "Hgs_HypervisorEnforcedCiPolicy", HGS_SUB_HVCI_POLICY, 1, 0 },
		{ "Hgs_FullBoot", HGS_SUB_FULL_BOOT, 1, 1 },
		{ "Hgs_VsmIdkPresent", HGS_SUB_VIRTUAL_SECURE_MODE, 1, 1 },
		{ "Hgs_PageFileEncryptionEnabled", HGS_SUB_PAGEFILE_ENCRYPTION, 1, 0 },
		{ "Hgs_BitLockerEnabled", HGS_SUB_BITLOCKER, 0, 0 },
		{ "Hgs_IommuEnabled", HGS_SUB_IOMMU, 1, 0 },
		{ "Hgs_NoHibernation", HGS_SUB_HIBERNATION_ENABLED, 1, 0 },
		{ "Hgs_NoDumps", HGS_SUB_DUMPS_ENABLED, 1, 0 },
		{ "Hgs_DumpEncryption", HGS_SUB_DUMP_ENCRYPTION, 1, 0 },
		{ "Hgs_DumpEncryptionKey", HGS_SUB_DUMP_ENCRYPTION_KEY, 1, 0 },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		const struct hgs_policy_def *d = &hgs_policy_defs[i];

		assert_non_null(d->name);
		assert_string_equal(d->name, want[i].name);
		assert_int_equal(d->substatus, want[i].sub);
		assert_int_equal(d->default_enabled, want[i].enabled);
		assert_int_equal(d->locked, want[i].locked);
		assert_non_null(d->description);
		assert_ptr_equal(hgs_policy_find(want[i].name), d);
	}
	assert_null(hgs_policy_defs[i].name);
	assert_null(hgs_policy_find("Hgs_Nonsense"));
	assert_null(hgs_policy_find("hgs_securebootenabled"));
	assert_null(hgs_policy_find(NULL));
	assert_int_equal(n_default_enabled, 13);
}

/* The tag vocabulary: unique ids in the hgslab range, PCRs 12-14, lookups agree. */
static void test_wbcl_table(void **state)
{
	size_t i, j;

	(void)state;
	for (i = 0; hl_wbcl_tags[i].name; i++) {
		const struct hl_wbcl_tag_def *d = &hl_wbcl_tags[i];

		assert_int_equal(d->id & 0xffff0000u, 0x484c0000u);
		assert_true(d->pcr >= 12 && d->pcr <= 14);
		assert_non_null(d->meaning);
		assert_ptr_equal(hl_wbcl_tag_find(d->id), d);
		assert_int_equal(hl_wbcl_tag_index(d->id), (int)i);
		for (j = 0; j < i; j++)
			assert_int_not_equal(hl_wbcl_tags[j].id, d->id);
	}
	assert_int_equal(i, HL_WBCL_NTAGS);
	assert_null(hl_wbcl_tag_find(0x484c00ffu));
	assert_int_equal(hl_wbcl_tag_index(0), -1);
}

/* ---- healthy and unhealthy hosts ---- */

/* The baseline host passes, also with every policy enabled. */
static void test_baseline_passes(void **state)
{
	const char *all[16];
	struct fabric f = { 0 };
	struct hgs_result r;
	size_t i;

	(void)state;
	evaluate(baseline_log, baseline_len, &r);
	expect_passed("baseline", &r);
	for (i = 0; hgs_policy_defs[i].name; i++)
		all[i] = hgs_policy_defs[i].name;
	f.enabled = all;
	f.n_enabled = i;
	f.use_enabled = 1;
	assert_int_equal(evaluate_in(baseline_log, baseline_len, &f, &r), 0);
	expect_passed("baseline, every policy enabled", &r);
}

/* One override, the sub-status bits it must give, and phrases its reason must contain. */
static const struct {
	const char *spec;
	uint32_t bits;
	const char *phrase1, *phrase2;
} override_cases[] = {
	{ "baseline,debug=on", HGS_SUB_DEBUG_MODE, "boot debugging is enabled (PCR 12)",
	  "kernel debugging is enabled (PCR 12)" },
	{ "baseline,secure_boot=off", HGS_SUB_SECURE_BOOT | HGS_SUB_SECURE_BOOT_SETTINGS,
	  "Secure Boot is disabled (PCR 7)",
	  "the host's Secure Boot settings (PCRs 0-7) match no registered TPM baseline; "
	  "registered: Baseline1 (nearest 'Baseline1' differs in PCR 7)" },
	{ "baseline,iommu=off", HGS_SUB_IOMMU, "the IOMMU is off (PCR 12)", NULL },
	{ "baseline,hvci=off", HGS_SUB_HVCI_POLICY,
	  "hypervisor-enforced code integrity is off (PCR 12)", NULL },
	{ "baseline,vsm=off", HGS_SUB_VIRTUAL_SECURE_MODE, "virtual secure mode is off (PCR 12)",
	  "no VSM identity key (IDK) is measured (PCR 14)" },
	{ "baseline,ci_policy=Other", HGS_SUB_CODE_INTEGRITY_POLICY,
	  "the host's code integrity policy 'Other'", "matches no registered CI policy (PCR 13); "
	  "registered: HgsLabDefault" },
	{ "baseline,firmware=HGSLAB-UEFI-2.0.1", HGS_SUB_SECURE_BOOT_SETTINGS,
	  "match no registered TPM baseline; registered: Baseline1", "differs in PCR 0)" },
	{ "baseline,resumed=yes", HGS_SUB_FULL_BOOT,
	  "the host resumed from hibernation instead of doing a full boot (PCR 12)", NULL },
	{ "baseline,pagefile_encryption=off", HGS_SUB_PAGEFILE_ENCRYPTION,
	  "pagefile encryption is off (PCR 12)", NULL },
	{ "baseline,hibernation=on", HGS_SUB_HIBERNATION_ENABLED,
	  "hibernation is enabled (PCR 12)", NULL },
	{ "baseline,dumps=on", HGS_SUB_DUMPS_ENABLED, "crash dumps are enabled (PCR 12)", NULL },
	/* no encryption, so no key is measured either */
	{ "baseline,dump_encryption=off", HGS_SUB_DUMP_ENCRYPTION | HGS_SUB_DUMP_ENCRYPTION_KEY,
	  "dump encryption is off (PCR 12)", "no dump encryption key is measured (PCR 12)" },
	{ "baseline,dump_key=OtherKey", HGS_SUB_DUMP_ENCRYPTION_KEY,
	  "the dump encryption key (SHA-256 ", "is not one a registered TPM baseline measures" },
};

#define N_OVERRIDE_CASES (sizeof(override_cases) / sizeof(override_cases[0]))

/* Every override fails with exactly its sub-status bits. */
static void test_each_override(void **state)
{
	struct hgs_result r;
	uint8_t *log;
	size_t i, len;

	(void)state;
	for (i = 0; i < N_OVERRIDE_CASES; i++) {
		log = host_log(override_cases[i].spec, &len);
		evaluate(log, len, &r);
		expect_insecure(override_cases[i].spec, &r, override_cases[i].bits,
				override_cases[i].phrase1, override_cases[i].phrase2, NULL);
		free(log);
	}
	/* bitlocker=off passes while Hgs_BitLockerEnabled is disabled (the default) */
	log = host_log("baseline,bitlocker=off", &len);
	evaluate(log, len, &r);
	expect_passed("bitlocker=off, default policies", &r);
	free(log);
}

/* Hgs_BitLockerEnabled: disabled by default, fails bitlocker=off once enabled. */
static void test_bitlocker(void **state)
{
	const char *enabled[16];
	struct fabric f = { 0 };
	struct hgs_result r;
	uint8_t *log;
	size_t len;

	(void)state;
	assert_false(hgs_policy_find("Hgs_BitLockerEnabled")->default_enabled);
	memcpy(enabled, default_enabled, n_default_enabled * sizeof(*enabled));
	enabled[n_default_enabled] = "Hgs_BitLockerEnabled";
	f.enabled = enabled;
	f.n_enabled = n_default_enabled + 1;
	f.use_enabled = 1;
	log = host_log("baseline,bitlocker=off", &len);
	assert_int_equal(evaluate_in(log, len, &f, &r), 0);
	expect_insecure("bitlocker=off, BitLocker enabled", &r, HGS_SUB_BITLOCKER,
			"BitLocker is off on the OS volume (PCR 12)", NULL);
	free(log);
	assert_int_equal(evaluate_in(baseline_log, baseline_len, &f, &r), 0);
	expect_passed("baseline, BitLocker enabled", &r);
}

/* Every override at once: every bit but TcgLogVerification, one reason each. */
static void test_all_overrides(void **state)
{
	const char *all[16];
	struct fabric f = { 0 };
	struct hgs_result r;
	uint32_t bits = 0;
	uint8_t *log;
	size_t i, len;

	(void)state;
	for (i = 0; hgs_policy_defs[i].name; i++) {
		all[i] = hgs_policy_defs[i].name;
		bits |= hgs_policy_defs[i].substatus;
	}
	f.enabled = all;
	f.n_enabled = i;
	f.use_enabled = 1;
	log = host_log("baseline,debug=on,secure_boot=off,iommu=off,hvci=off,vsm=off,ci_policy=X,"
		       "firmware=F2,resumed=yes,pagefile_encryption=off,hibernation=on,dumps=on,"
		       "dump_encryption=off,dump_key=K,bitlocker=off", &len);
	assert_int_equal(evaluate_in(log, len, &f, &r), 0);
	expect_insecure("every override", &r, bits, "boot debugging is enabled (PCR 12)", NULL);
	assert_int_equal(bits & HGS_SUB_TCG_LOG_VERIFICATION, 0);
	assert_true(strlen(r.reason) < HGS_REASON_MAX);
	free(log);
}

/* Disabling a policy removes its sub-status; locked policies cannot be disabled. */
static void test_disable_policy(void **state)
{
	static const struct {
		const char *spec, *policy;
	} cases[] = {
		{ "baseline,iommu=off", "Hgs_IommuEnabled" },
		{ "baseline,hvci=off", "Hgs_HypervisorEnforcedCiPolicy" },
		{ "baseline,pagefile_encryption=off", "Hgs_PageFileEncryptionEnabled" },
		{ "baseline,hibernation=on", "Hgs_NoHibernation" },
		{ "baseline,dumps=on", "Hgs_NoDumps" },
		{ "baseline,dump_key=OtherKey", "Hgs_DumpEncryptionKey" },
	};
	const char *enabled[16];
	struct fabric f = { 0 };
	struct hgs_result r;
	size_t i, j, n, len;
	uint8_t *log;

	(void)state;
	f.enabled = enabled;
	f.use_enabled = 1;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		for (j = 0, n = 0; j < n_default_enabled; j++)
			if (strcmp(default_enabled[j], cases[i].policy) != 0)
				enabled[n++] = default_enabled[j];
		assert_int_equal(n, n_default_enabled - 1);
		f.n_enabled = n;
		log = host_log(cases[i].spec, &len);
		assert_int_equal(evaluate_in(log, len, &f, &r), 0);
		expect_passed(cases[i].spec, &r);
		free(log);
	}
	/* dump_encryption=off with both dump-encryption policies disabled passes */
	for (j = 0, n = 0; j < n_default_enabled; j++)
		if (strncmp(default_enabled[j], "Hgs_DumpEncryption", 18) != 0)
			enabled[n++] = default_enabled[j];
	f.n_enabled = n;
	log = host_log("baseline,dump_encryption=off", &len);
	assert_int_equal(evaluate_in(log, len, &f, &r), 0);
	expect_passed("dump_encryption=off, its policies disabled", &r);
	free(log);

	/* nothing enabled: the locked policies still run */
	f.n_enabled = 0;
	log = host_log("baseline,debug=on,iommu=off,resumed=yes,vsm=off", &len);
	assert_int_equal(evaluate_in(log, len, &f, &r), 0);
	expect_insecure("locked policies", &r,
			HGS_SUB_DEBUG_MODE | HGS_SUB_FULL_BOOT | HGS_SUB_VIRTUAL_SECURE_MODE, NULL);
	free(log);
}

/* What is registered decides SecureBootSettings, CiPolicy and DumpEncryptionKey. */
static void test_registrations(void **state)
{
	struct hgs_baseline bls[2] = { { .name = "Baseline1" }, { .name = "Firmware2" } };
	struct hgs_ci_policy cis[2] = { { .name = "HgsLabDefault" }, { .name = "Other" } };
	struct fabric f = { 0 };
	struct hgs_result r;
	uint8_t *fw2, *log;
	char *other_doc;
	size_t fw2_len, len, other_len;

	(void)state;
	/* no baseline registered */
	f.no_baselines = 1;
	assert_int_equal(evaluate_in(baseline_log, baseline_len, &f, &r), 0);
	expect_insecure("no baselines", &r,
			HGS_SUB_SECURE_BOOT_SETTINGS | HGS_SUB_DUMP_ENCRYPTION_KEY,
			"no TPM baseline is registered", "add-tpm-policy", NULL);

	/* a second baseline with the new firmware admits the new firmware */
	fw2 = host_log("baseline,firmware=HGSLAB-UEFI-2.0.1", &fw2_len);
	bls[0].tcglog = baseline_log;
	bls[0].len = baseline_len;
	bls[1].tcglog = fw2;
	bls[1].len = fw2_len;
	memset(&f, 0, sizeof(f));
	f.baselines = bls;
	f.n_baselines = 2;
	assert_int_equal(evaluate_in(fw2, fw2_len, &f, &r), 0);
	expect_passed("firmware 2 with its baseline", &r);
	log = host_log("baseline,firmware=HGSLAB-UEFI-3.0", &len);
	assert_int_equal(evaluate_in(log, len, &f, &r), 0);
	expect_insecure("firmware 3", &r, HGS_SUB_SECURE_BOOT_SETTINGS,
			"registered: Baseline1, Firmware2 (nearest 'Baseline1' differs in PCR 0)",
			NULL);
	free(log);

	/* a baseline measuring another dump key authorizes that key */
	log = host_log("baseline,dump_key=OtherKey", &len);
	bls[1].tcglog = log;
	bls[1].len = len;
	assert_int_equal(evaluate_in(log, len, &f, &r), 0);
	expect_passed("dump key of a registered baseline", &r);
	free(log);
	free(fw2);

	/* no CI policy registered */
	memset(&f, 0, sizeof(f));
	f.no_ci = 1;
	assert_int_equal(evaluate_in(baseline_log, baseline_len, &f, &r), 0);
	expect_insecure("no CI policies", &r, HGS_SUB_CODE_INTEGRITY_POLICY,
			"no CI policy is registered", "'HgsLabDefault'", "add-ci-policy", NULL);

	/* registering the Other policy admits a host running it */
	assert_int_equal(hl_profile_ci_policy_document("Other", &other_doc, &other_len), 0);
	cis[0].data = (const unsigned char *)ci_doc;
	cis[0].len = ci_len;
	cis[1].data = (const unsigned char *)other_doc;
	cis[1].len = other_len;
	f.no_ci = 0;
	f.ci = cis;
	f.n_ci = 2;
	log = host_log("baseline,ci_policy=Other", &len);
	assert_int_equal(evaluate_in(log, len, &f, &r), 0);
	expect_passed("CI policy Other registered", &r);
	free(log);
	/* a policy file differing by one byte is another policy */
	other_doc[10] ^= 1;
	f.n_ci = 2;
	log = host_log("baseline,ci_policy=Other", &len);
	assert_int_equal(evaluate_in(log, len, &f, &r), 0);
	expect_insecure("Other altered", &r, HGS_SUB_CODE_INTEGRITY_POLICY,
			"registered: HgsLabDefault, Other", NULL);
	free(log);
	free(other_doc);
}

/* Internal errors: -1 with a message, and the result is never Passed. */
static void test_internal_errors(void **state)
{
	static const uint8_t garbage[] = "this is not a TCG log at all";
	struct hgs_baseline bad = { .name = "Broken", .tcglog = garbage, .len = sizeof(garbage) };
	const char *unknown[] = { "Hgs_SecureBootEnabled", "Hgs_Teleportation" };
	struct hgs_policy_input in;
	struct fabric f = { 0 };
	struct hgs_result r;

	(void)state;
	f.baselines = &bad;
	f.n_baselines = 1;
	assert_int_equal(evaluate_in(baseline_log, baseline_len, &f, &r), -1);
	assert_int_equal(r.status, HGS_STATUS_TRANSIENT_ERROR);
	assert_non_null(strstr(hl_error_last(), "registered TPM baseline 'Broken' cannot be used"));

	memset(&f, 0, sizeof(f));
	f.enabled = unknown;
	f.n_enabled = 2;
	f.use_enabled = 1;
	assert_int_equal(evaluate_in(baseline_log, baseline_len, &f, &r), -1);
	assert_int_equal(r.status, HGS_STATUS_TRANSIENT_ERROR);
	assert_non_null(strstr(hl_error_last(), "unknown policy 'Hgs_Teleportation'"));

	memset(&in, 0, sizeof(in));
	assert_int_equal(hgs_policy_evaluate(&in, &r), -1);
	assert_int_not_equal(r.status, HGS_STATUS_PASSED);

	assert_int_equal(hgs_policy_check_baseline("Baseline1", baseline_log, baseline_len), 0);
	/* the reason is what is wrong with the log (add-tpm-policy names the file and the name) */
	assert_int_equal(hgs_policy_check_baseline("Broken", garbage, sizeof(garbage)), -1);
	assert_non_null(strstr(hl_error_last(), "TCG log"));
	assert_int_equal(hgs_policy_check_baseline("Empty", NULL, 0), -1);
}

/* ---- logs HGS cannot rely on ---- */

/* Serialize W into *LEN bytes and free it. */
static uint8_t *finish(struct hl_tcglog_writer *w, size_t *len)
{
	uint8_t *buf = NULL;

	assert_int_equal(hl_tcglog_writer_serialize(w, &buf, len), 0);
	hl_tcglog_writer_free(w);
	return buf;
}

/*
 * Rebuild log SRC into a new sha1+sha256 log: EDIT is called for every event
 * after the Spec ID event and returns 1 to copy it unchanged, 0 when it added
 * (or dropped) the event itself.
 */
static uint8_t *rebuild(const uint8_t *src, size_t src_len,
			int (*edit)(struct hl_tcglog_writer *w, const struct hl_tcglog_event *ev,
				    void *ctx),
			void *ctx, size_t *len)
{
	static const uint16_t algs[] = { HL_TCGLOG_ALG_SHA1, HL_TCGLOG_ALG_SHA256 };
	struct hl_tcglog_writer *w = NULL;
	struct hl_tcglog *log = NULL;
	size_t i;

	assert_int_equal(hl_tcglog_parse(src, src_len, &log), 0);
	assert_int_equal(hl_tcglog_writer_new(algs, 2, &w), 0);
	for (i = 1; i < log->nevents; i++) {
		const struct hl_tcglog_event *ev = &log->events[i];

		if (edit && edit(w, ev, ctx) == 0)
			continue;
		assert_int_equal(hl_tcglog_writer_add_digests(w, ev->pcr, ev->type, ev->digests,
							      ev->ndigests, ev->data, ev->data_len),
				 0);
	}
	hl_tcglog_free(log);
	return finish(w, len);
}

/* The tag of tagged event EV, or 0 when its data is not a tagged event. */
static uint32_t tag_of(const struct hl_tcglog_event *ev)
{
	const uint8_t *v;
	uint32_t tag, vlen;

	if (ev->data_len < 8 || hl_wbcl_decode(ev->data, ev->data_len, &tag, &v, &vlen) < 0)
		return 0;
	return tag;
}

/* Index of the event of LOG carrying tagged event TAG; fails the test when absent. */
static size_t find_tag(const struct hl_tcglog *log, uint32_t tag)
{
	size_t i;

	for (i = 0; i < log->nevents; i++)
		if (log->events[i].pcr >= 12 && tag_of(&log->events[i]) == tag)
			return i;
	fail_msg("no tagged event 0x%08x in the log", (unsigned)tag);
	return 0;
}

/* Put V little-endian at P. */
static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

/* A log without a SHA-256 bank is TcgLogVerification. */
static void test_sha1_only(void **state)
{
	static const uint16_t sha1[] = { HL_TCGLOG_ALG_SHA1 };
	static const uint8_t sep[4] = { 0 };
	struct hl_tcglog_writer *w = NULL;
	struct hgs_result r;
	uint8_t *log;
	size_t len;
	unsigned pcr;

	(void)state;
	assert_int_equal(hl_tcglog_writer_new(sha1, 1, &w), 0);
	for (pcr = 0; pcr < 8; pcr++)
		assert_int_equal(hl_tcglog_writer_add(w, pcr, HL_EV_SEPARATOR, sep, 4), 0);
	log = finish(w, &len);
	evaluate(log, len, &r);
	expect_insecure("sha1-only log", &r, HGS_SUB_TCG_LOG_VERIFICATION, "no SHA-256 bank", NULL);
	assert_int_equal(hgs_policy_check_baseline("Sha1", log, len), -1);
	assert_non_null(strstr(hl_error_last(), "SHA-256"));
	free(log);
}

/* A checked event (SecureBoot variable) whose data no longer matches is TcgLogVerification. */
static void test_checked_event_tampered(void **state)
{
	struct hl_tcglog *log = NULL;
	struct hgs_result r;
	uint8_t *bytes;
	size_t len, i, off;

	(void)state;
	bytes = host_log("baseline,secure_boot=off", &len);
	assert_int_equal(hl_tcglog_parse(bytes, len, &log), 0);
	for (i = 0; i < log->nevents; i++)
		if (log->events[i].type == HL_EV_EFI_VARIABLE_DRIVER_CONFIG &&
		    log->events[i].data_len == 53)
			break;
	assert_true(i < log->nevents);
	/* SecureBoot 0 -> 1 without touching the digests */
	off = (size_t)(log->events[i].data + 52 - log->raw);
	assert_int_equal(bytes[off], 0);
	bytes[off] = 1;
	hl_tcglog_free(log);
	evaluate(bytes, len, &r);
	expect_insecure("SecureBoot flipped", &r, HGS_SUB_TCG_LOG_VERIFICATION,
			"EV_EFI_VARIABLE_DRIVER_CONFIG, PCR 7", "does not match its data", NULL);
	free(bytes);
}

/* A tagged event whose value byte was changed is TcgLogVerification. */
static void test_tag_data_tampered(void **state)
{
	struct hl_tcglog *log = NULL;
	struct hgs_result r;
	uint8_t *bytes;
	size_t len, i, off;

	(void)state;
	bytes = host_log("baseline,debug=on", &len);
	assert_int_equal(hl_tcglog_parse(bytes, len, &log), 0);
	i = find_tag(log, HL_WBCL_TAG_BOOTDEBUGGING);
	off = (size_t)(log->events[i].data + 8 - log->raw);
	hl_tcglog_free(log);
	assert_int_equal(bytes[off], 1);
	bytes[off] = 0;   /* "boot debugging off" */
	evaluate(bytes, len, &r);
	expect_insecure("BOOTDEBUGGING 1 -> 0", &r, HGS_SUB_TCG_LOG_VERIFICATION,
			"EV_EVENT_TAG, PCR 12", "does not match its data", NULL);
	free(bytes);
}

/* A relabelled tagged event (type changed, digest unchanged) does not fool the evaluator. */
static void test_relabelled_tag(void **state)
{
	static const uint32_t types[] = {
		HL_EV_POST_CODE, HL_EV_ACTION, HL_EV_IPL, HL_EV_EFI_ACTION, HL_EV_S_CRTM_CONTENTS,
		HL_EV_EFI_BOOT_SERVICES_APPLICATION, HL_EV_SEPARATOR, 0xdeadbeefu,
	};
	struct hl_tcglog *log = NULL;
	struct hgs_result r;
	uint8_t *bytes;
	size_t len, i, t, type_off, data_off;
	char what[96];

	(void)state;
	for (t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
		/* the debug=on event relabelled: still seen, still DebugMode */
		bytes = host_log("baseline,debug=on", &len);
		assert_int_equal(hl_tcglog_parse(bytes, len, &log), 0);
		i = find_tag(log, HL_WBCL_TAG_BOOTDEBUGGING);
		type_off = log->events[i].offset + 4;
		data_off = (size_t)(log->events[i].data + 8 - log->raw);
		hl_tcglog_free(log);
		put32(bytes + type_off, types[t]);
		snprintf(what, sizeof(what), "debug=on, relabelled 0x%08x", (unsigned)types[t]);
		evaluate(bytes, len, &r);
		expect_insecure(what, &r, HGS_SUB_DEBUG_MODE, "boot debugging is enabled (PCR 12)",
				NULL);
		/* relabelled and its value forged: no longer proven, so it counts as missing */
		bytes[data_off] = 0;
		snprintf(what, sizeof(what), "debug=on, relabelled 0x%08x and forged",
			 (unsigned)types[t]);
		evaluate(bytes, len, &r);
		if (hl_tcglog_event_is_checked(types[t], 12))
			expect_insecure(what, &r, HGS_SUB_TCG_LOG_VERIFICATION, NULL);
		else
			expect_insecure(what, &r, HGS_SUB_DEBUG_MODE,
					"the host does not measure its boot debugging setting "
					"(PCR 12)", NULL);
		free(bytes);

		/* the baseline's IOMMU event relabelled: the type is ignored, still Passed */
		bytes = host_log("baseline", &len);
		assert_int_equal(hl_tcglog_parse(bytes, len, &log), 0);
		i = find_tag(log, HL_WBCL_TAG_HYPERVISOR_IOMMU_POLICY);
		type_off = log->events[i].offset + 4;
		hl_tcglog_free(log);
		put32(bytes + type_off, types[t]);
		evaluate(bytes, len, &r);
		expect_passed("baseline, IOMMU event relabelled", &r);
		free(bytes);
	}
}

/* Context of the rebuild edits below. */
struct edit_ctx {
	uint32_t tag;            /* the tagged event to act on */
	int mode;
	const uint8_t *data;     /* replacement data */
	size_t len;
};

enum {
	EDIT_FORGE_MEASURED,   /* replace TAG's event with DATA typed EV_EVENT_TAG, digest of other bytes */
	EDIT_NO_ACTION,        /* replace TAG's event with an EV_NO_ACTION carrying DATA, H(DATA) digests */
	EDIT_DUPLICATE,        /* add DATA (digest H(DATA)) as EV_EVENT_TAG after TAG's event */
	EDIT_MOVE_PCR13,       /* measure TAG's event into PCR 13 instead */
	EDIT_APPEND_PCR7,      /* add DATA as EV_EFI_ACTION in PCR 7 after TAG's event */
	EDIT_APPEND_POST,      /* add DATA typed EV_POST_CODE (digest H(DATA)) after TAG's event */
};

/* H(DATA) in both banks, for add_digests. */
static void digests_of(const uint8_t *data, size_t len, uint8_t s1[20], uint8_t s256[32],
		       struct hl_tcglog_digest d[2])
{
	assert_int_equal(hl_crypto_digest(HL_DIGEST_SHA1, data, len, s1), 20);
	assert_int_equal(hl_crypto_digest(HL_DIGEST_SHA256, data, len, s256), 32);
	d[0] = (struct hl_tcglog_digest){ HL_TCGLOG_ALG_SHA1, 20, s1 };
	d[1] = (struct hl_tcglog_digest){ HL_TCGLOG_ALG_SHA256, 32, s256 };
}

/* The rebuild edit for struct edit_ctx. */
static int edit_event(struct hl_tcglog_writer *w, const struct hl_tcglog_event *ev, void *arg)
{
	struct edit_ctx *c = arg;
	struct hl_tcglog_digest d[2];
	uint8_t s1[20], s256[32];

	if (ev->pcr < 12 || tag_of(ev) != c->tag)
		return 1;
	switch (c->mode) {
	case EDIT_FORGE_MEASURED:
		assert_int_equal(hl_tcglog_writer_add_measured(w, ev->pcr, HL_EV_EVENT_TAG, "other", 5,
							       c->data, c->len), 0);
		return 0;
	case EDIT_NO_ACTION:
		digests_of(c->data, c->len, s1, s256, d);
		assert_int_equal(hl_tcglog_writer_add_digests(w, ev->pcr, HL_EV_NO_ACTION, d, 2,
							      c->data, c->len), 0);
		return 0;
	case EDIT_MOVE_PCR13:
		assert_int_equal(hl_tcglog_writer_add(w, 13, ev->type, ev->data, ev->data_len), 0);
		return 0;
	default:
		break;
	}
	assert_int_equal(hl_tcglog_writer_add_digests(w, ev->pcr, ev->type, ev->digests,
						      ev->ndigests, ev->data, ev->data_len), 0);
	if (c->mode == EDIT_DUPLICATE)
		assert_int_equal(hl_tcglog_writer_add(w, ev->pcr, HL_EV_EVENT_TAG, c->data, c->len),
				 0);
	else if (c->mode == EDIT_APPEND_PCR7)
		assert_int_equal(hl_tcglog_writer_add(w, 7, HL_EV_EFI_ACTION, c->data, c->len), 0);
	else if (c->mode == EDIT_APPEND_POST)
		assert_int_equal(hl_tcglog_writer_add(w, ev->pcr, HL_EV_POST_CODE, c->data, c->len),
				 0);
	return 0;
}

/* Rebuild the log of SPEC with edit MODE on TAG and DATA; evaluate it into R. */
static void evaluate_edited(const char *spec, uint32_t tag, int mode, const uint8_t *data,
			    size_t data_len, struct hgs_result *r)
{
	struct edit_ctx c = { tag, mode, data, data_len };
	uint8_t *src, *log;
	size_t src_len, len;

	src = host_log(spec, &src_len);
	log = rebuild(src, src_len, edit_event, &c, &len);
	evaluate(log, len, r);
	free(log);
	free(src);
}

/* Forged events: wrong digest, not extended, duplicated, misplaced. */
static void test_forged_events(void **state)
{
	static const uint8_t dbg_off[] = { 0x01, 0x00, 0x4c, 0x48, 1, 0, 0, 0, 0 };
	static const uint8_t dbg_on[] = { 0x01, 0x00, 0x4c, 0x48, 1, 0, 0, 0, 1 };
	struct hgs_result r;
	uint8_t *log;
	size_t len;

	(void)state;
	/* an unmodified rebuild passes: the rebuild itself changes nothing */
	log = rebuild(baseline_log, baseline_len, NULL, NULL, &len);
	assert_int_equal(len, baseline_len);
	assert_memory_equal(log, baseline_log, len);
	free(log);

	/* "debug off" as EV_EVENT_TAG whose digest is of something else */
	evaluate_edited("baseline,debug=on", HL_WBCL_TAG_BOOTDEBUGGING, EDIT_FORGE_MEASURED,
			dbg_off, sizeof(dbg_off), &r);
	expect_insecure("forged EV_EVENT_TAG", &r, HGS_SUB_TCG_LOG_VERIFICATION,
			"EV_EVENT_TAG, PCR 12", NULL);
	/* "debug off" in an EV_NO_ACTION event with matching digests: never extended */
	evaluate_edited("baseline,debug=on", HL_WBCL_TAG_BOOTDEBUGGING, EDIT_NO_ACTION, dbg_off,
			sizeof(dbg_off), &r);
	expect_insecure("EV_NO_ACTION forgery", &r, HGS_SUB_DEBUG_MODE,
			"the host does not measure its boot debugging setting (PCR 12)", NULL);
	/* two values for one setting: insecure */
	evaluate_edited("baseline", HL_WBCL_TAG_BOOTDEBUGGING, EDIT_DUPLICATE, dbg_on,
			sizeof(dbg_on), &r);
	expect_insecure("conflicting BOOTDEBUGGING", &r, HGS_SUB_DEBUG_MODE,
			"boot debugging setting is measured more than once", NULL);
	/* the same value twice is consistent */
	evaluate_edited("baseline", HL_WBCL_TAG_BOOTDEBUGGING, EDIT_DUPLICATE, dbg_off,
			sizeof(dbg_off), &r);
	expect_passed("BOOTDEBUGGING 0 twice", &r);
	/* a setting measured into the wrong PCR proves nothing */
	evaluate_edited("baseline", HL_WBCL_TAG_HYPERVISOR_IOMMU_POLICY, EDIT_MOVE_PCR13, NULL, 0,
			&r);
	expect_insecure("IOMMU in PCR 13", &r, HGS_SUB_IOMMU,
			"the host does not measure its IOMMU policy setting (PCR 12)", NULL);
	/* firmware in UEFI debug mode (PCR 7 changes too) */
	evaluate_edited("baseline", HL_WBCL_TAG_BITLOCKER, EDIT_APPEND_PCR7,
			(const uint8_t *)"UEFI Debug Mode", 15, &r);
	expect_insecure("UEFI debug mode", &r, HGS_SUB_DEBUG_MODE | HGS_SUB_SECURE_BOOT_SETTINGS,
			"the firmware runs in UEFI debug mode (PCR 7)", NULL);
}

/* Malformed tagged data: clear errors from the decoder, TcgLogVerification from HGS. */
static void test_garbage_tags(void **state)
{
	static const uint8_t bad_size[] = { 0x01, 0x00, 0x4c, 0x48, 0xff, 0xff, 0xff, 0xff, 0 };
	static const uint8_t bad_bool[] = { 0x01, 0x00, 0x4c, 0x48, 1, 0, 0, 0, 7 };
	static const uint8_t long_bool[] = { 0x01, 0x00, 0x4c, 0x48, 2, 0, 0, 0, 0, 0 };
	static const uint8_t short_u32[] = { 0x05, 0x00, 0x4c, 0x48, 2, 0, 0, 0, 1, 0 };
	static const uint8_t trailing[] = { 0x01, 0x00, 0x4c, 0x48, 1, 0, 0, 0, 0, 0xaa };
	static const uint8_t three[] = { 0x01, 0x00, 0x4c };
	uint8_t si[128], h[32], *enc = NULL, rnd[64];
	const struct {
		const uint8_t *p;
		size_t len;
		const char *phrase;
	} cases[] = {
		{ three, sizeof(three), "shorter than the 8-byte" },
		{ bad_size, sizeof(bad_size), "taggedEventDataSize is 4294967295" },
		{ bad_bool, sizeof(bad_bool), "must be 0 or 1" },
		{ long_bool, sizeof(long_bool), "must be one byte" },
		{ short_u32, sizeof(short_u32), "4-byte integer" },
		{ trailing, sizeof(trailing), "taggedEventDataSize is 1 but 2 bytes" },
		{ (const uint8_t *)"", 0, "shorter than the 8-byte" },
	};
	const uint8_t *v;
	uint32_t tag, vlen;
	struct hgs_result r;
	size_t i, n, enc_len;
	char what[64];

	(void)state;
	/* the decoder: each case refused with its reason */
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(hl_wbcl_decode(cases[i].p, cases[i].len, &tag, &v, &vlen), -1);
		assert_null(v);
		if (!strstr(hl_error_last(), cases[i].phrase))
			fail_msg("case %zu: '%s' lacks '%s'", i, hl_error_last(), cases[i].phrase);
	}
	assert_int_equal(hl_wbcl_decode(NULL, 10, &tag, &v, &vlen), -1);
	/* every truncation of a valid SI_POLICY event is refused, the whole accepted */
	assert_int_equal(hl_profile_ci_policy_sha256("HgsLabDefault", h), 0);
	assert_int_equal(hl_wbcl_encode_si_policy("HgsLabDefault", h, &enc, &enc_len), 0);
	assert_true(enc_len <= sizeof(si));
	memcpy(si, enc, enc_len);
	free(enc);
	for (n = 0; n < enc_len; n++)
		assert_int_equal(hl_wbcl_decode(si, n, &tag, &v, &vlen), -1);
	assert_int_equal(hl_wbcl_decode(si, enc_len, &tag, &v, &vlen), 0);
	assert_int_equal(tag, HL_WBCL_TAG_SI_POLICY);
	/* and with its inner lengths lying */
	si[8 + 4] = 200;   /* name length */
	assert_int_equal(hl_wbcl_decode(si, enc_len, &tag, &v, &vlen), -1);
	si[8 + 4] = 13;
	si[8] = 0x04;   /* hash algorithm sha1 */
	assert_int_equal(hl_wbcl_decode(si, enc_len, &tag, &v, &vlen), -1);
	assert_non_null(strstr(hl_error_last(), "SHA-256"));
	/* random bytes: an error or a clean decode, never a crash */
	srand(7);
	for (i = 0; i < 20000; i++) {
		n = (size_t)rand() % sizeof(rnd);
		for (size_t k = 0; k < n; k++)
			rnd[k] = (uint8_t)rand();
		if (i % 2) {   /* a known tag with a plausible size */
			put32(rnd, 0x484c0000u | (uint32_t)(rand() % 0x22));
			if (n >= 8)
				put32(rnd + 4, (uint32_t)(n - 8));
		}
		if (hl_wbcl_decode(rnd, n, &tag, &v, &vlen) == 0)
			assert_true(v == rnd + 8 && vlen == n - 8);
	}
	/* encoders refuse ill-formed values of known tags */
	assert_int_equal(hl_wbcl_encode(HL_WBCL_TAG_BOOTDEBUGGING, "\x02", 1, &enc, &enc_len), -1);
	assert_null(enc);
	assert_int_equal(hl_wbcl_encode(HL_WBCL_TAG_DUMP_ENCRYPTION_KEY, h, 31, &enc, &enc_len),
			 -1);
	assert_int_equal(hl_wbcl_encode_si_policy("", h, &enc, &enc_len), -1);
	assert_int_equal(hl_wbcl_encode(0x12345678u, "xyz", 3, &enc, &enc_len), 0);   /* unknown tag */
	assert_int_equal(hl_wbcl_decode(enc, enc_len, &tag, &v, &vlen), 0);
	assert_int_equal(tag, 0x12345678u);
	assert_int_equal(vlen, 3);
	free(enc);

	/* HGS: the same garbage as an EV_EVENT_TAG in PCR 12 (digest matching) */
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(what, sizeof(what), "garbage tag %zu", i);
		evaluate_edited("baseline", HL_WBCL_TAG_BITLOCKER, EDIT_DUPLICATE, cases[i].p,
				cases[i].len, &r);
		expect_insecure(what, &r, HGS_SUB_TCG_LOG_VERIFICATION, "EV_EVENT_TAG, PCR 12",
				cases[i].phrase, NULL);
		/* typed as something else it is simply not a setting */
		evaluate_edited("baseline", HL_WBCL_TAG_BITLOCKER, EDIT_APPEND_POST, cases[i].p,
				cases[i].len, &r);
		expect_passed(what, &r);
	}
}

/* UEFI_VARIABLE_DATA: round trip, every truncation refused, lying lengths refused. */
static void test_uefi_variable(void **state)
{
	struct hl_wbcl_uefi_variable var;
	uint8_t *enc = NULL, buf[128];
	size_t len, n;

	(void)state;
	assert_int_equal(hl_wbcl_uefi_variable_encode(hl_efi_global_variable_guid, "SecureBoot",
						      "\x01", 1, &enc, &len), 0);
	assert_int_equal(len, 53);
	assert_int_equal(hl_wbcl_uefi_variable_decode(enc, len, &var), 0);
	assert_string_equal(var.name, "SecureBoot");
	assert_memory_equal(var.guid, hl_efi_global_variable_guid, 16);
	assert_int_equal(var.data_len, 1);
	assert_int_equal(var.data[0], 1);
	memcpy(buf, enc, len);
	free(enc);
	for (n = 0; n < len; n++)
		assert_int_equal(hl_wbcl_uefi_variable_decode(buf, n, &var), -1);
	buf[16] = 0xff;   /* name length */
	assert_int_equal(hl_wbcl_uefi_variable_decode(buf, len, &var), -1);
	buf[16] = 10;
	buf[31] = 0x80;   /* data length */
	assert_int_equal(hl_wbcl_uefi_variable_decode(buf, len, &var), -1);
	assert_non_null(strstr(hl_error_last(), "do not add up"));
	assert_int_equal(hl_wbcl_uefi_variable_encode(hl_efi_global_variable_guid, "", "", 0, &enc,
						      &len), -1);
	assert_null(enc);
}

/* Real firmware logs (no hgslab events) evaluate without crashing, each against itself. */
static void test_real_firmware_logs(void **state)
{
	static const char *const names[] = {
		"event-arch-linux.bin", "event-bootorder.bin", "event-gce-ubuntu-2104-log.bin",
		"event-moklisttrusted.bin", "event-postcode.bin", "event-sd-boot-fedora37.bin",
		"event-uefi-sha1-log.bin",
	};
	struct hgs_baseline bl;
	struct fabric f = { 0 };
	struct hgs_result r;
	uint8_t *buf;
	size_t i, n;

	(void)state;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		/* the repository's tests/data/tcglogs, found from the repository root */
		buf = tu_data_load(tu_path("tcglogs/%s", names[i]), &n);
		bl = (struct hgs_baseline){ .name = names[i], .tcglog = buf, .len = (size_t)n };
		memset(&f, 0, sizeof(f));
		if (hgs_policy_check_baseline(names[i], buf, (size_t)n) == 0) {
			f.baselines = &bl;
			f.n_baselines = 1;
		} else {
			f.no_baselines = 1;
		}
		assert_int_equal(evaluate_in(buf, (size_t)n, &f, &r), 0);
		assert_int_equal(r.status, HGS_STATUS_INSECURE_HOST_CONFIGURATION);
		if (strcmp(names[i], "event-arch-linux.bin") == 0 ||
		    strcmp(names[i], "event-uefi-sha1-log.bin") == 0) {
			/* a mismatching event / no SHA-256 bank */
			assert_int_equal(r.substatus, HGS_SUB_TCG_LOG_VERIFICATION);
		} else {
			/* matches itself; no hgslab settings, so the rest fails as missing */
			assert_int_equal(r.substatus & (HGS_SUB_SECURE_BOOT_SETTINGS |
							HGS_SUB_TCG_LOG_VERIFICATION), 0);
			assert_true(r.substatus & HGS_SUB_FULL_BOOT);
			assert_true(r.substatus & HGS_SUB_CODE_INTEGRITY_POLICY);
		}
		free(buf);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_policy_table),
		cmocka_unit_test(test_wbcl_table),
		cmocka_unit_test(test_baseline_passes),
		cmocka_unit_test(test_each_override),
		cmocka_unit_test(test_bitlocker),
		cmocka_unit_test(test_all_overrides),
		cmocka_unit_test(test_disable_policy),
		cmocka_unit_test(test_registrations),
		cmocka_unit_test(test_internal_errors),
		cmocka_unit_test(test_sha1_only),
		cmocka_unit_test(test_checked_event_tampered),
		cmocka_unit_test(test_tag_data_tampered),
		cmocka_unit_test(test_relabelled_tag),
		cmocka_unit_test(test_forged_events),
		cmocka_unit_test(test_garbage_tags),
		cmocka_unit_test(test_uefi_variable),
		cmocka_unit_test(test_real_firmware_logs),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
