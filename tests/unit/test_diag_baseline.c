/*
 * test_diag_baseline.c - the baseline difference of `hgslab diagnose`
 * (sim/diag_baseline.c): real TCG logs from tests/data against themselves
 * and each other, and measured boots of host profiles (hosts/measured_boot)
 * that differ by one setting, whose differences must be named PCR by PCR
 * and event by event with their cause; the nearest of several baselines.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "hosts/measured_boot.h"
#include "hosts/profile.h"
#include "sim/diag.h"
#include "tests/unit/testutil.h"

/* Parse test data file REL. */
static struct hl_tcglog *data_log(const char *rel)
{
	size_t len;
	uint8_t *buf = tu_data_load(rel, &len);
	struct hl_tcglog *log = NULL;

	assert_non_null(buf);
	assert_ok(hl_tcglog_parse(buf, len, &log));
	free(buf);
	return log;
}

/* The measured boot of profile SPEC, its log bytes into *BYTES, parsed. */
static struct hl_tcglog *profile_log(const char *spec, uint8_t **bytes, size_t *len)
{
	struct hl_profile p;
	struct hl_measured_boot *mb = NULL;
	struct hl_tcglog *log = NULL;

	assert_ok(hl_profile_parse(spec, &p));
	assert_ok(hl_measured_boot_build(&p, &mb));
	assert_ok(hl_tcglog_parse(mb->log, mb->log_len, &log));
	if (bytes) {
		*bytes = malloc(mb->log_len);
		assert_non_null(*bytes);
		memcpy(*bytes, mb->log, mb->log_len);
		*len = mb->log_len;
	}
	hl_measured_boot_free(mb);
	return log;
}

/* 1 when one line of LINES matches every word of WANT in order (a prefix of the line). */
static int has_line(const json_t *lines, const char *want)
{
	size_t i;
	json_t *l;

	json_array_foreach(lines, i, l)
		if (!strncmp(json_string_value(l), want, strlen(want)))
			return 1;
	return 0;
}

/* A log against itself: nothing differs; two different firmware logs differ, named by PCR. */
static void test_real_logs(void **state)
{
	struct hl_tcglog *a = data_log("tcglogs/event-arch-linux.bin");
	struct hl_tcglog *b = data_log("tcglogs/event-sd-boot-fedora37.bin");
	json_t *lines = json_array();
	long n;

	(void)state;
	assert_int_equal(hl_diag_tcglog_diff(a, a, 0xffffffu, lines), 0);
	assert_int_equal(json_array_size(lines), 0);
	n = hl_diag_tcglog_diff(a, b, 0xffu, lines);
	assert_true(n > 0);
	assert_int_equal(json_array_size(lines), (size_t)n);
	assert_true(has_line(lines, "PCR 0 differs: "));
	/* the count alone, without lines, is the same */
	assert_int_equal(hl_diag_tcglog_diff(a, b, 0xffu, NULL), n);
	json_decref(lines);
	hl_tcglog_free(a);
	hl_tcglog_free(b);
}

/* One setting of the host's profile changes the events its measured boot says it does. */
static void test_profiles(void **state)
{
	struct hl_tcglog *base = profile_log("baseline", NULL, NULL);
	struct hl_tcglog *fw = profile_log("baseline,firmware=HGSLAB-UEFI-2.0.0", NULL, NULL);
	struct hl_tcglog *sb = profile_log("baseline,secure_boot=off", NULL, NULL);
	struct hl_tcglog *dbg = profile_log("baseline,debug=on", NULL, NULL);
	json_t *lines = json_array();

	(void)state;
	/* a firmware update: PCR 0 only, the version, the firmware blob and the POST code */
	assert_int_equal(hl_diag_tcglog_diff(fw, base, 0xffu, lines), 3);
	assert_true(has_line(lines, "PCR 0 differs: event 1 EV_S_CRTM_VERSION changed: a firmware update; "
				    "register a new baseline"));
	assert_true(has_line(lines, "PCR 0 differs: event 2 EV_EFI_PLATFORM_FIRMWARE_BLOB changed: a "
				    "firmware update; register a new baseline"));
	json_array_clear(lines);
	/* Secure Boot off: the SecureBoot variable changed and the authority event is gone */
	assert_true(hl_diag_tcglog_diff(sb, base, 0xffu, lines) >= 2);
	assert_true(has_line(lines, "PCR 7 differs: event "));
	{
		size_t i;
		json_t *l;
		int var = 0, authority = 0;

		json_array_foreach(lines, i, l) {
			var |= strstr(json_string_value(l), "EV_EFI_VARIABLE_DRIVER_CONFIG changed: Secure Boot "
						       "was turned on or off") != NULL;
			authority |= strstr(json_string_value(l), "EV_EFI_VARIABLE_AUTHORITY removed") != NULL;
		}
		assert_true(var);
		assert_true(authority);
	}
	json_array_clear(lines);
	/* debugging is measured in PCRs 12-14 only: PCRs 0-7 match */
	assert_int_equal(hl_diag_tcglog_diff(dbg, base, 0xffu, lines), 0);
	assert_true(hl_diag_tcglog_diff(dbg, base, 0x7000u, NULL) > 0);
	json_decref(lines);
	hl_tcglog_free(base);
	hl_tcglog_free(fw);
	hl_tcglog_free(sb);
	hl_tcglog_free(dbg);
}

/* The nearest of several baselines is the one with the fewest differing events. */
static void test_nearest(void **state)
{
	uint8_t *b1, *b2;
	size_t l1, l2;
	struct hl_tcglog *t1 = profile_log("baseline,secure_boot=off", &b1, &l1);
	struct hl_tcglog *t2 = profile_log("baseline,firmware=HGSLAB-UEFI-2.0.0", &b2, &l2);
	struct hl_tcglog *host = profile_log("baseline,firmware=HGSLAB-UEFI-2.0.0,debug=on", NULL, NULL);
	struct hgs_baseline bl[2] = { { .name = "SecureBootOff", .tcglog = b1, .len = l1 },
				       { .name = "Firmware2", .tcglog = b2, .len = l2 } };
	struct hl_diag_nearest near;

	(void)state;
	assert_ok(hl_diag_baseline_nearest(host, bl, 2, 0xffu, &near));
	assert_string_equal(near.name, "Firmware2");
	assert_int_equal(near.differing, 0);
	assert_int_equal(json_array_size(near.lines), 0);
	json_decref(near.lines);
	assert_ok(hl_diag_baseline_nearest(host, bl, 1, 0xffu, &near));
	assert_string_equal(near.name, "SecureBootOff");
	assert_true(near.differing > 0);
	assert_int_equal(json_array_size(near.lines), (size_t)near.differing);
	json_decref(near.lines);
	/* none registered */
	assert_ok(hl_diag_baseline_nearest(host, bl, 0, 0xffu, &near));
	assert_null(near.name);
	assert_int_equal(near.differing, -1);
	/* a baseline that does not parse is an error naming it */
	bl[0].len = 10;
	assert_int_equal(hl_diag_baseline_nearest(host, bl, 1, 0xffu, &near), -1);
	assert_error_has("SecureBootOff");
	hl_error_clear();
	free(b1);
	free(b2);
	hl_tcglog_free(t1);
	hl_tcglog_free(t2);
	hl_tcglog_free(host);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_real_logs),
		cmocka_unit_test(test_profiles),
		cmocka_unit_test(test_nearest),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
