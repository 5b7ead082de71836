/*
 * test_remedy.c - the remedy table (proto/remedy.h): a sentence for every
 * attestation status but Passed, every sub-status and every KPS refusal
 * reason hgs/kps.h has, and the lookup the run report uses.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "hgs/kps.h"
#include "proto/attest.h"
#include "proto/remedy.h"
#include "tests/unit/testutil.h"

/* Every name has a remedy; the table has no row that names nothing, no duplicates. */
static void test_complete(void **state)
{
	size_t rows = 0, want = 0;

	(void)state;
	assert_null(hl_remedy_status(HGS_STATUS_PASSED));
	for (int s = 1; s < HGS_STATUS_COUNT; s++, want++)
		assert_non_null(hl_remedy_status((enum hgs_status)s));
	for (int b = 0; b < HGS_SUB_COUNT; b++, want++)
		assert_non_null(hl_remedy_substatus(1u << b));
	assert_null(hl_remedy_substatus(3));
	assert_null(hl_remedy_kps(hgs_kps_reason_name(HGS_KPS_RELEASED)));
	for (int r = 1; r < HGS_KPS_REASON_COUNT; r++, want++)
		if (!hl_remedy_kps(hgs_kps_reason_name((enum hgs_kps_reason)r)))
			fail_msg("KPS reason %s has no remedy", hgs_kps_reason_name((enum hgs_kps_reason)r));
	for (const struct hl_remedy *r = hl_remedies; r->name; r++, rows++) {
		assert_true(strlen(r->remedy) > 20);
		assert_true(r->remedy[strlen(r->remedy) - 1] != '.');
		for (const struct hl_remedy *q = r + 1; q->name; q++)
			assert_false(q->kind == r->kind && !strcmp(q->name, r->name));
	}
	assert_int_equal(rows, want);
}

/* The lookup of a report's step: sub-status first, KPS reason, status; whole words only. */
static void test_find(void **state)
{
	(void)state;
	assert_null(hl_remedy_find(NULL, NULL, NULL));
	assert_null(hl_remedy_find("Passed", NULL, NULL));
	assert_null(hl_remedy_find("running", NULL, "InsecureHostConfiguration (DebugMode)"));
	assert_string_equal(hl_remedy_find("InsecureHostConfiguration (DebugMode)", "DebugMode", "x"),
			    hl_remedy_substatus(HGS_SUB_DEBUG_MODE));
	/* SecureBoot is not found inside SecureBootSettings */
	assert_string_equal(hl_remedy_find("InsecureHostConfiguration (SecureBootSettings)", NULL, NULL),
			    hl_remedy_substatus(HGS_SUB_SECURE_BOOT_SETTINGS));
	assert_string_equal(hl_remedy_find("InsecureHostConfiguration", NULL, NULL),
			    hl_remedy_status(HGS_STATUS_INSECURE_HOST_CONFIGURATION));
	assert_string_equal(hl_remedy_find("refused", "Iommu", "host 'H' failed attestation: "
					   "InsecureHostConfiguration (Iommu): ..."),
			    hl_remedy_substatus(HGS_SUB_IOMMU));
	assert_string_equal(hl_remedy_find("refused", NULL, "key release refused by 'u': "
					   "HealthCertificateExpired: ran out"),
			    hl_remedy_kps("HealthCertificateExpired"));
	assert_string_equal(hl_remedy_find("refused", NULL, "refused: UnauthorizedHost"),
			    hl_remedy_status(HGS_STATUS_UNAUTHORIZED_HOST));
	assert_null(hl_remedy_find("refused", NULL, "no such thing"));
	assert_null(hl_remedy_find("refused", NULL, "XDebugMode"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_complete),
		cmocka_unit_test(test_find),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
