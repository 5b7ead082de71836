/*
 * test_profile.c - unit tests for hosts/profile (boot profile SPECs, their
 * canonical and JSON forms, CI policy documents) and hosts/measured_boot (the
 * TCG log a profile turns into).
 *
 * The measured boot's log is checked with lib/tcglog (parse, data checks,
 * replay) and against tpm2_eventlog (tpm2-tools), run with popen.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hosts/measured_boot.h"
#include "hosts/profile.h"
#include "lib/crypto.h"
#include "lib/err.h"
#include "lib/json.h"
#include "proto/tcglog.h"
#include "proto/wbcl.h"
#include "tests/unit/testutil.h"

/* One override of the SPEC list and the field it must change. */
struct override {
	const char *spec;
	const char *canonical;
	size_t offset;
	int is_name;
	int ival;
	const char *sval;
};

#define SW(spec, canon, f, v) { spec, canon, offsetof(struct hl_profile, f), 0, v, NULL }
#define NM(spec, canon, f, v) { spec, canon, offsetof(struct hl_profile, f), 1, 0, v }

/* Every setting away from its baseline value (and some synonyms). */
static const struct override overrides[] = {
	SW("baseline,debug=on", "baseline,debug=on", debug, 1),
	SW("baseline,secure_boot=off", "baseline,secure_boot=off", secure_boot, 0),
	SW("baseline,iommu=off", "baseline,iommu=off", iommu, 0),
	SW("baseline,hvci=off", "baseline,hvci=off", hvci, 0),
	SW("baseline,vsm=off", "baseline,vsm=off", vsm, 0),
	NM("baseline,ci_policy=Other", "baseline,ci_policy=Other", ci_policy, "Other"),
	NM("baseline,firmware=HGSLAB-UEFI-2.0.1", "baseline,firmware=HGSLAB-UEFI-2.0.1", firmware,
	   "HGSLAB-UEFI-2.0.1"),
	SW("baseline,resumed=yes", "baseline,resumed=yes", resumed, 1),
	SW("baseline,pagefile_encryption=off", "baseline,pagefile_encryption=off",
	   pagefile_encryption, 0),
	SW("baseline,hibernation=on", "baseline,hibernation=on", hibernation, 1),
	SW("baseline,dumps=on", "baseline,dumps=on", dumps, 1),
	SW("baseline,dump_encryption=off", "baseline,dump_encryption=off", dump_encryption, 0),
	NM("baseline,dump_key=OtherKey", "baseline,dump_key=OtherKey", dump_key, "OtherKey"),
	SW("baseline,bitlocker=off", "baseline,bitlocker=off", bitlocker, 0),
	/* synonyms and spacing */
	SW("debug=true", "baseline,debug=on", debug, 1),
	SW("baseline, resumed=on", "baseline,resumed=yes", resumed, 1),
	SW("baseline,iommu=no", "baseline,iommu=off", iommu, 0),
	SW("baseline,hibernation=1", "baseline,hibernation=on", hibernation, 1),
};

#define N_OVERRIDES (sizeof(overrides) / sizeof(overrides[0]))
#define N_REAL_OVERRIDES 14   /* the first 14 are one per setting */

/* Parse SPEC, failing the test with the error when it does not parse. */
static void must_parse(const char *spec, struct hl_profile *p)
{
	if (hl_profile_parse(spec, p) < 0)
		fail_msg("profile '%s' does not parse: %s", spec, hl_error_last());
}

/* Require that parsing SPEC fails with a message containing each of the NULL-ended words. */
static void must_fail(const char *spec, ...)
{
	struct hl_profile p, before;
	const char *word;
	va_list ap;

	memset(&p, 0x5a, sizeof(p));
	before = p;
	if (hl_profile_parse(spec, &p) == 0)
		fail_msg("profile '%s' parsed but must not", spec ? spec : "(null)");
	assert_memory_equal(&p, &before, sizeof(p));   /* untouched on failure */
	va_start(ap, spec);
	while ((word = va_arg(ap, const char *)) != NULL)
		if (!strstr(hl_error_last(), word))
			fail_msg("error for '%s' lacks '%s': %s", spec ? spec : "(null)", word,
				 hl_error_last());
	va_end(ap);
}

/* The baseline profile has the documented values. */
static void test_baseline(void **state)
{
	struct hl_profile p, q;

	(void)state;
	must_parse("baseline", &p);
	assert_string_equal(p.base, "baseline");
	assert_int_equal(p.debug, 0);
	assert_int_equal(p.secure_boot, 1);
	assert_int_equal(p.iommu, 1);
	assert_int_equal(p.hvci, 1);
	assert_int_equal(p.vsm, 1);
	assert_string_equal(p.ci_policy, "HgsLabDefault");
	assert_string_equal(p.firmware, "HGSLAB-UEFI-1.0.0");
	assert_int_equal(p.resumed, 0);
	assert_int_equal(p.pagefile_encryption, 1);
	assert_int_equal(p.hibernation, 0);
	assert_int_equal(p.dumps, 0);
	assert_int_equal(p.dump_encryption, 1);
	assert_string_equal(p.dump_key, "HgsLabDumpKey");
	assert_int_equal(p.bitlocker, 1);
	assert_int_equal(hl_profile_init(&q, "baseline"), 0);
	assert_true(hl_profile_equal(&p, &q));
	/* values equal to the baseline's change nothing */
	must_parse("baseline,debug=off,secure_boot=on,ci_policy=HgsLabDefault,resumed=no", &q);
	assert_true(hl_profile_equal(&p, &q));
	/* every key is in the public list, in table order, and settable */
	assert_string_equal(hl_profile_keys[0], "debug");
	assert_string_equal(hl_profile_keys[13], "bitlocker");
	assert_null(hl_profile_keys[14]);
	for (size_t i = 0; hl_profile_keys[i]; i++) {
		q = p;
		if (hl_profile_set(&q, hl_profile_keys[i], "on") < 0)
			assert_int_equal(hl_profile_set(&q, hl_profile_keys[i], "Name1"), 0);
	}
	assert_int_equal(hl_profile_set(&q, NULL, "on"), -1);
	assert_int_equal(hl_profile_set(&q, "debug", NULL), -1);
}

/* Every override sets its field, and only it, and prints canonically. */
static void test_every_override(void **state)
{
	struct hl_profile base, p, back;
	size_t i;
	char *spec;

	(void)state;
	must_parse("baseline", &base);
	for (i = 0; i < N_OVERRIDES; i++) {
		const struct override *o = &overrides[i];
		struct hl_profile expect = base;

		must_parse(o->spec, &p);
		if (o->is_name)
			snprintf((char *)&expect + o->offset, HL_PROFILE_NAME_MAX + 1, "%s", o->sval);
		else
			*(int *)((char *)&expect + o->offset) = o->ival;
		if (!hl_profile_equal(&p, &expect))
			fail_msg("'%s' did not set exactly its setting", o->spec);
		assert_false(hl_profile_equal(&p, &base));
		assert_int_equal(hl_profile_to_spec(&p, &spec), 0);
		if (strcmp(spec, o->canonical) != 0)
			fail_msg("'%s' prints as '%s', expected '%s'", o->spec, spec, o->canonical);
		must_parse(spec, &back);
		assert_true(hl_profile_equal(&p, &back));
		free(spec);
	}
	assert_int_equal(hl_profile_to_spec(&base, &spec), 0);
	assert_string_equal(spec, "baseline");
	free(spec);
}

/* Several overrides: canonical order, round trip. */
static void test_canonical_spec(void **state)
{
	struct hl_profile p, back;
	char *spec;

	(void)state;
	must_parse("bitlocker=off,debug=on, iommu = off ,firmware=9.9", &p);
	assert_int_equal(hl_profile_to_spec(&p, &spec), 0);
	assert_string_equal(spec, "baseline,debug=on,iommu=off,firmware=9.9,bitlocker=off");
	must_parse(spec, &back);
	assert_true(hl_profile_equal(&p, &back));
	free(spec);

	must_parse("baseline,debug=on,secure_boot=off,iommu=off,hvci=off,vsm=off,ci_policy=X,"
		   "firmware=F,resumed=yes,pagefile_encryption=off,hibernation=on,dumps=on,"
		   "dump_encryption=off,dump_key=K,bitlocker=off", &p);
	assert_int_equal(hl_profile_to_spec(&p, &spec), 0);
	assert_string_equal(spec, "baseline,debug=on,secure_boot=off,iommu=off,hvci=off,vsm=off,"
			    "ci_policy=X,firmware=F,resumed=yes,pagefile_encryption=off,"
			    "hibernation=on,dumps=on,dump_encryption=off,dump_key=K,bitlocker=off");
	must_parse(spec, &back);
	assert_true(hl_profile_equal(&p, &back));
	free(spec);
}

/* Bad SPECs: clear errors naming the key or value, nothing half-set. */
static void test_bad_specs(void **state)
{
	char longname[128];

	(void)state;
	must_fail("baseline,iomu=off", "unknown profile setting 'iomu'", "did you mean 'iommu'?",
		  "valid settings: debug, secure_boot", NULL);
	must_fail("baseline,secureboot=on", "'secureboot'", "did you mean 'secure_boot'?", NULL);
	must_fail("baseline,colour=blue", "unknown profile setting 'colour'", "bitlocker", NULL);
	must_fail("baseline,debug=maybe", "bad value 'maybe'", "'debug'", "on or off", NULL);
	must_fail("baseline,resumed=perhaps", "'perhaps'", "'resumed'", "yes or no", NULL);
	must_fail("baseline,debug=", "bad value ''", "'debug'", NULL);
	must_fail("basline", "unknown boot profile 'basline'", "did you mean 'baseline'?", NULL);
	must_fail("fancy,debug=on", "unknown boot profile 'fancy'", "valid profiles: baseline",
		  NULL);
	must_fail("", "empty setting", NULL);
	must_fail("baseline,", "empty setting", NULL);
	must_fail(",debug=on", "empty setting", NULL);
	must_fail("baseline,,debug=on", "empty setting", NULL);
	must_fail("baseline,debug", "setting 'debug' has no value", NULL);
	must_fail("baseline,debug=on,debug=off", "'debug' is given twice", NULL);
	must_fail("baseline,ci_policy=two words", "bad value 'two words'", "'ci_policy'", NULL);
	must_fail("baseline,ci_policy=", "bad value ''", "'ci_policy'", NULL);
	must_fail("baseline,firmware=v1/2", "'v1/2'", "'firmware'", NULL);
	must_fail("baseline,dump_key=a=b", "'a=b'", "'dump_key'", NULL);
	memset(longname, 'a', 64);
	longname[64] = '\0';
	{
		char spec[160];

		snprintf(spec, sizeof(spec), "baseline,ci_policy=%s", longname);
		must_fail(spec, "'ci_policy'", "1-63 characters", NULL);
		longname[63] = '\0';
		snprintf(spec, sizeof(spec), "baseline,ci_policy=%s", longname);
		{
			struct hl_profile p;

			must_parse(spec, &p);
			assert_string_equal(p.ci_policy, longname);
		}
	}
	must_fail(NULL, "no boot profile given", NULL);
}

/* JSON: round trip, booleans, missing members, errors. */
static void test_json(void **state)
{
	struct hl_profile p, back, base;
	json_t *j = NULL, *parsed = NULL;
	char *text = NULL;
	size_t i;

	(void)state;
	must_parse("baseline", &base);
	for (i = 0; i < N_OVERRIDES; i++) {
		must_parse(overrides[i].spec, &p);
		assert_int_equal(hl_profile_to_json(&p, &j), 0);
		assert_int_equal(hl_json_dump(j, &text), 0);
		assert_int_equal(hl_json_parse(text, strlen(text), 0, &parsed), 0);
		assert_int_equal(hl_profile_from_json(parsed, &back), 0);
		if (!hl_profile_equal(&p, &back))
			fail_msg("'%s' does not survive JSON: %s", overrides[i].spec, text);
		/* every setting is written out */
		assert_int_equal(json_object_size(j), 15);
		json_decref(j);
		json_decref(parsed);
		free(text);
	}
	must_parse("baseline", &p);
	assert_int_equal(hl_profile_to_json(&p, &j), 0);
	assert_string_equal(json_string_value(json_object_get(j, "debug")), "off");
	assert_string_equal(json_string_value(json_object_get(j, "resumed")), "no");
	assert_string_equal(json_string_value(json_object_get(j, "ci_policy")), "HgsLabDefault");
	json_decref(j);

	/* a scenario's short form: base + a few settings, booleans allowed */
	j = json_pack("{s:s, s:b, s:s, s:b}", "base", "baseline", "debug", 1, "ci_policy",
		      "Other", "resumed", 0);
	assert_int_equal(hl_profile_from_json(j, &p), 0);
	json_decref(j);
	assert_int_equal(p.debug, 1);
	assert_string_equal(p.ci_policy, "Other");
	assert_int_equal(p.resumed, 0);
	assert_int_equal(p.iommu, 1);
	j = json_object();   /* empty: the baseline */
	assert_int_equal(hl_profile_from_json(j, &p), 0);
	assert_true(hl_profile_equal(&p, &base));
	json_decref(j);

	/* errors leave the profile untouched */
	back = base;
	j = json_pack("{s:s}", "iomu", "off");
	assert_int_equal(hl_profile_from_json(j, &back), -1);
	assert_non_null(strstr(hl_error_last(), "did you mean 'iommu'?"));
	json_decref(j);
	j = json_pack("{s:i}", "debug", 1);
	assert_int_equal(hl_profile_from_json(j, &back), -1);
	assert_non_null(strstr(hl_error_last(), "'debug' must be"));
	json_decref(j);
	j = json_pack("{s:b}", "ci_policy", 1);
	assert_int_equal(hl_profile_from_json(j, &back), -1);
	assert_non_null(strstr(hl_error_last(), "'ci_policy' must be a string"));
	json_decref(j);
	j = json_pack("{s:s}", "debug", "sometimes");
	assert_int_equal(hl_profile_from_json(j, &back), -1);
	assert_non_null(strstr(hl_error_last(), "'sometimes'"));
	json_decref(j);
	j = json_pack("{s:s}", "base", "gold");
	assert_int_equal(hl_profile_from_json(j, &back), -1);
	assert_non_null(strstr(hl_error_last(), "unknown boot profile 'gold'"));
	json_decref(j);
	j = json_pack("{s:i}", "base", 3);
	assert_int_equal(hl_profile_from_json(j, &back), -1);
	assert_non_null(strstr(hl_error_last(), "'base'"));
	json_decref(j);
	j = json_array();
	assert_int_equal(hl_profile_from_json(j, &back), -1);
	assert_non_null(strstr(hl_error_last(), "expected a JSON object"));
	json_decref(j);
	assert_true(hl_profile_equal(&back, &base));
}

/* CI policy documents: deterministic, distinct per name, valid JSON, hashed as measured. */
static void test_ci_policy_document(void **state)
{
	char *a = NULL, *b = NULL, *c = NULL;
	size_t alen, blen, clen;
	uint8_t h[32], h2[32];
	json_t *doc = NULL;

	(void)state;
	assert_int_equal(hl_profile_ci_policy_document("HgsLabDefault", &a, &alen), 0);
	assert_int_equal(hl_profile_ci_policy_document("HgsLabDefault", &b, &blen), 0);
	assert_int_equal(alen, blen);
	assert_memory_equal(a, b, alen);
	assert_int_equal(strlen(a), alen);
	assert_int_equal(a[alen - 1], '\n');
	assert_int_equal(hl_profile_ci_policy_document("Other", &c, &clen), 0);
	assert_false(alen == clen && memcmp(a, c, alen) == 0);
	assert_int_equal(hl_json_parse(a, alen, 0, &doc), 0);
	assert_string_equal(json_string_value(json_object_get(doc, "name")), "HgsLabDefault");
	assert_string_equal(json_string_value(json_object_get(doc, "format")),
			    "hgslab-ci-policy/1");
	assert_true(json_array_size(json_object_get(doc, "rules")) > 0);
	json_decref(doc);
	assert_int_equal(hl_profile_ci_policy_sha256("HgsLabDefault", h), 0);
	assert_int_equal(hl_crypto_sha256(a, alen, h2), 0);
	assert_memory_equal(h, h2, 32);
	assert_int_equal(hl_profile_ci_policy_sha256("Other", h2), 0);
	assert_memory_not_equal(h, h2, 32);
	free(a);
	free(b);
	free(c);
	assert_int_equal(hl_profile_ci_policy_document("bad name", &a, &alen), -1);
	assert_null(a);
	assert_int_equal(hl_profile_ci_policy_document("", &a, &alen), -1);
	assert_int_equal(hl_profile_dump_key_sha256("HgsLabDumpKey", h), 0);
	assert_int_equal(hl_profile_dump_key_sha256("OtherKey", h2), 0);
	assert_memory_not_equal(h, h2, 32);
	assert_int_equal(hl_profile_dump_key_sha256("", h), -1);
}

/* ---- measured boot ---- */

/* Build the measured boot of SPEC. */
static struct hl_measured_boot *build(const char *spec)
{
	struct hl_measured_boot *mb = NULL;
	struct hl_profile p;

	must_parse(spec, &p);
	if (hl_measured_boot_build(&p, &mb) < 0)
		fail_msg("cannot build '%s': %s", spec, hl_error_last());
	return mb;
}

/* Parse MB's log, failing the test when it does not parse. */
static struct hl_tcglog *parse(const struct hl_measured_boot *mb)
{
	struct hl_tcglog *log = NULL;

	if (hl_tcglog_parse(mb->log, mb->log_len, &log) < 0)
		fail_msg("the measured boot's log does not parse: %s", hl_error_last());
	return log;
}

/* Replay LOG; the SHA-256 bank. */
static struct hl_tcglog_pcrs *replay(const struct hl_tcglog *log)
{
	struct hl_tcglog_pcrs *pcrs = NULL;

	if (hl_tcglog_replay(log, &pcrs) < 0)
		fail_msg("replay failed: %s", hl_error_last());
	return pcrs;
}

/* The log of every profile parses, verifies, and matches its extends list. */
static void test_log_consistent(void **state)
{
	size_t i, e, x;

	(void)state;
	for (i = 0; i <= N_REAL_OVERRIDES; i++) {
		const char *spec = i < N_REAL_OVERRIDES ? overrides[i].spec : "baseline";
		struct hl_measured_boot *mb = build(spec);
		struct hl_tcglog *log = parse(mb);
		struct hl_tcglog_pcrs *pcrs = replay(log);
		struct hl_wbcl_config cfg;
		size_t tags = 0;
		unsigned pcr;

		assert_int_equal(log->format, HL_TCGLOG_FORMAT_CRYPTO_AGILE);
		assert_true(hl_tcglog_has_bank(log, HL_TCGLOG_ALG_SHA1));
		assert_int_equal(hl_tcglog_require_sha256(log), 0);
		if (hl_tcglog_require_data_ok(log) < 0)
			fail_msg("'%s': %s", spec, hl_error_last());
		assert_int_equal(hl_wbcl_read(log, &cfg), 0);
		/* extends: every extended event, in order, with its digests */
		for (e = 0, x = 0; e < log->nevents; e++) {
			const struct hl_tcglog_event *ev = &log->events[e];

			if (ev->type == HL_EV_NO_ACTION)
				continue;
			assert_true(x < mb->n_extends);
			assert_int_equal(mb->extends[x].pcr, ev->pcr);
			assert_int_equal(mb->extends[x].type, ev->type);
			assert_memory_equal(mb->extends[x].sha1,
					    hl_tcglog_event_digest(ev, HL_TCGLOG_ALG_SHA1)->value, 20);
			assert_memory_equal(mb->extends[x].sha256,
					    hl_tcglog_event_digest(ev, HL_TCGLOG_ALG_SHA256)->value,
					    32);
			if (ev->type == HL_EV_EVENT_TAG) {
				assert_int_equal(hl_wbcl_event_verified(ev), 1);
				tags++;
			}
			x++;
		}
		assert_int_equal(x, mb->n_extends);
		assert_true(tags >= 12);
		/* hl_measured_boot_pcr agrees with the replay, both banks */
		for (pcr = 0; pcr < HL_TCGLOG_PCRS; pcr++) {
			uint8_t v[32];

			assert_int_equal(hl_measured_boot_pcr(mb, HL_TCGLOG_ALG_SHA256, pcr, v), 32);
			assert_memory_equal(v, hl_tcglog_pcrs_bank(pcrs, HL_TCGLOG_ALG_SHA256)->pcr[pcr],
					    32);
			assert_int_equal(hl_measured_boot_pcr(mb, HL_TCGLOG_ALG_SHA1, pcr, v), 20);
			assert_memory_equal(v, hl_tcglog_pcrs_bank(pcrs, HL_TCGLOG_ALG_SHA1)->pcr[pcr],
					    20);
		}
		/* PCRs 0-7, 12, 13 (and 14 with VSM) are extended, nothing else */
		assert_int_equal(hl_tcglog_pcrs_bank(pcrs, HL_TCGLOG_ALG_SHA256)->extended,
				 0xffu | (3u << 12) | (strstr(spec, "vsm=off") ? 0 : 1u << 14));
		hl_tcglog_pcrs_free(pcrs);
		hl_tcglog_free(log);
		hl_measured_boot_free(mb);
	}
	{
		struct hl_measured_boot *mb = build("baseline");
		uint8_t v[64];

		assert_int_equal(hl_measured_boot_pcr(mb, HL_TCGLOG_ALG_SHA384, 0, v), -1);
		assert_int_equal(hl_measured_boot_pcr(mb, HL_TCGLOG_ALG_SHA256, 24, v), -1);
		hl_measured_boot_free(mb);
		hl_measured_boot_free(NULL);
	}
}

/* The same profile gives the same bytes; different profiles different logs. */
static void test_deterministic(void **state)
{
	struct hl_measured_boot *a = build("baseline"), *b = build("baseline");
	struct hl_measured_boot *c = build("baseline,debug=on");

	(void)state;
	assert_int_equal(a->log_len, b->log_len);
	assert_memory_equal(a->log, b->log, a->log_len);
	assert_false(a->log_len == c->log_len && memcmp(a->log, c->log, a->log_len) == 0);
	hl_measured_boot_free(a);
	hl_measured_boot_free(b);
	hl_measured_boot_free(c);
}

/* Which PCRs each override changes: firmware PCR 0, secure_boot PCR 7, others 12-14 only. */
static void test_pcr_effects(void **state)
{
	struct hl_measured_boot *base = build("baseline");
	size_t i;

	(void)state;
	for (i = 0; i < N_REAL_OVERRIDES; i++) {
		struct hl_measured_boot *mb = build(overrides[i].spec);
		uint32_t changed = 0, want_low;
		unsigned pcr;

		for (pcr = 0; pcr < HL_TCGLOG_PCRS; pcr++) {
			uint8_t a[32], b[32];

			assert_int_equal(hl_measured_boot_pcr(base, HL_TCGLOG_ALG_SHA256, pcr, a), 32);
			assert_int_equal(hl_measured_boot_pcr(mb, HL_TCGLOG_ALG_SHA256, pcr, b), 32);
			if (memcmp(a, b, 32) != 0)
				changed |= 1u << pcr;
		}
		if (strstr(overrides[i].spec, "firmware="))
			want_low = 1u << 0;
		else if (strstr(overrides[i].spec, "secure_boot="))
			want_low = 1u << 7;
		else
			want_low = 0;
		if ((changed & 0xff) != want_low)
			fail_msg("'%s' changes PCRs 0-7 mask 0x%02x, expected 0x%02x",
				 overrides[i].spec, changed & 0xff, want_low);
		if (!want_low && !(changed & (7u << 12)))
			fail_msg("'%s' changes none of PCRs 12-14", overrides[i].spec);
		assert_int_equal(changed & ~(0xffu | (7u << 12)), 0);
		hl_measured_boot_free(mb);
	}
	hl_measured_boot_free(base);
}

/*
 * Run tpm2_eventlog on MB's log: it must exit 0 without warnings, list every
 * event, and print the same PCR values (both banks) as hgslab's replay.
 */
static void check_with_tpm2_eventlog(const char *spec, const struct hl_measured_boot *mb)
{
	char path[64], problem[512] = "";
	struct hl_tcglog *log = parse(mb);
	struct hl_tcglog_pcrs *pcrs = replay(log);
	struct tu_eventlog *ev = calloc(1, sizeof(*ev));
	size_t b;
	unsigned idx;

	assert_non_null(ev);
	tu_write_temp(mb->log, mb->log_len, "profile", path, sizeof(path));
	tu_tpm2_eventlog(path, ev);
	unlink(path);
	for (b = 0; b < ev->nbanks && !problem[0]; b++) {
		const struct tu_eventlog_bank *rb = &ev->banks[b];
		const struct hl_tcglog_bank *bank = rb->alg ? hl_tcglog_pcrs_bank(pcrs, rb->alg) : NULL;

		if (!bank) {
			snprintf(problem, sizeof(problem), "unexpected bank '%s'", rb->name);
			break;
		}
		for (idx = 0; idx < HL_TCGLOG_PCRS; idx++) {
			if (!(rb->present & (1u << idx)))
				continue;
			if (rb->size[idx] != bank->size ||
			    memcmp(rb->pcr[idx], bank->pcr[idx], bank->size) != 0) {
				snprintf(problem, sizeof(problem), "tpm2_eventlog's %s PCR %u differs "
					 "from hgslab's replay", hl_tcglog_alg_name(bank->alg), idx);
				break;
			}
		}
	}
	if (ev->first_err[0] && !problem[0])
		snprintf(problem, sizeof(problem), "tpm2_eventlog complains: %s", ev->first_err);
	if (ev->status != 0)
		fail_msg("tpm2_eventlog failed on the log of '%s' (status %d)", spec, ev->status);
	if (problem[0])
		fail_msg("'%s': %s", spec, problem);
	assert_int_equal(ev->nevents, log->nevents);
	/* PCRs 0-7, 12, 13 (14 with VSM) in both banks */
	assert_int_equal(ev->npcrs, 2 * (strstr(spec, "vsm=off") ? 10 : 11));
	free(ev);
	hl_tcglog_pcrs_free(pcrs);
	hl_tcglog_free(log);
}

/* tpm2_eventlog parses every profile's log and its replay agrees with ours. */
static void test_tpm2_eventlog(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i <= N_REAL_OVERRIDES; i++) {
		const char *spec = i < N_REAL_OVERRIDES ? overrides[i].spec : "baseline";
		struct hl_measured_boot *mb = build(spec);

		check_with_tpm2_eventlog(spec, mb);
		hl_measured_boot_free(mb);
	}
}

/* The boot configuration read back from each log is the profile's. */
static void test_config_read_back(void **state)
{
	struct hl_profile p;
	struct hl_measured_boot *mb;
	struct hl_tcglog *log;
	struct hl_wbcl_config cfg;
	struct hl_wbcl_si_policy si;
	const struct hl_wbcl_item *item;
	uint32_t v;
	uint8_t h[32];

	(void)state;
	must_parse("baseline,debug=on,resumed=yes,vsm=off,dump_encryption=off,ci_policy=Other,"
		   "secure_boot=off", &p);
	assert_int_equal(hl_measured_boot_build(&p, &mb), 0);
	log = parse(mb);
	assert_int_equal(hl_wbcl_read(log, &cfg), 0);
	assert_int_equal(hl_wbcl_number(&cfg, HL_WBCL_TAG_BOOTDEBUGGING, &v), 1);
	assert_int_equal(v, 1);
	assert_int_equal(hl_wbcl_number(&cfg, HL_WBCL_TAG_OSKERNELDEBUG, &v), 1);
	assert_int_equal(v, 1);
	assert_int_equal(hl_wbcl_number(&cfg, HL_WBCL_TAG_BOOT_TYPE, &v), 1);
	assert_int_equal(v, HL_WBCL_BOOT_RESUME);
	assert_int_equal(hl_wbcl_number(&cfg, HL_WBCL_TAG_VSM_LAUNCH_TYPE, &v), 1);
	assert_int_equal(v, 0);
	assert_int_equal(hl_wbcl_item(&cfg, HL_WBCL_TAG_VSM_IDK_INFO)->seen, 0);
	assert_int_equal(hl_wbcl_item(&cfg, HL_WBCL_TAG_DUMP_ENCRYPTION_KEY)->seen, 0);
	assert_int_equal(cfg.secure_boot_seen, 1);
	assert_int_equal(cfg.secure_boot, 0);
	assert_int_equal(cfg.uefi_debug_mode, 0);
	item = hl_wbcl_item(&cfg, HL_WBCL_TAG_SI_POLICY);
	assert_int_equal(item->seen, 1);
	assert_int_equal(hl_wbcl_si_policy_parse(item->value, item->value_len, &si), 0);
	assert_int_equal(si.name_len, 5);
	assert_memory_equal(si.name, "Other", 5);
	assert_int_equal(hl_profile_ci_policy_sha256("Other", h), 0);
	assert_memory_equal(si.sha256, h, 32);
	hl_tcglog_free(log);
	hl_measured_boot_free(mb);

	mb = build("baseline");
	log = parse(mb);
	assert_int_equal(hl_wbcl_read(log, &cfg), 0);
	assert_int_equal(cfg.secure_boot, 1);
	assert_int_equal(hl_wbcl_item(&cfg, HL_WBCL_TAG_VSM_IDK_INFO)->seen, 1);
	item = hl_wbcl_item(&cfg, HL_WBCL_TAG_DUMP_ENCRYPTION_KEY);
	assert_int_equal(item->seen, 1);
	assert_int_equal(hl_profile_dump_key_sha256("HgsLabDumpKey", h), 0);
	assert_memory_equal(item->value, h, 32);
	hl_tcglog_free(log);
	hl_measured_boot_free(mb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_baseline),
		cmocka_unit_test(test_every_override),
		cmocka_unit_test(test_canonical_spec),
		cmocka_unit_test(test_bad_specs),
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_ci_policy_document),
		cmocka_unit_test(test_log_consistent),
		cmocka_unit_test(test_deterministic),
		cmocka_unit_test(test_pcr_effects),
		cmocka_unit_test(test_tpm2_eventlog),
		cmocka_unit_test(test_config_read_back),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
