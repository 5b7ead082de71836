/*
 * test_trace.c - unit tests for hgs/trace, the trace of one exchange: the
 * JSON shape of the contract (Kind, Participants, Steps with From/To/Kind/
 * Label, Check and Verdict on checks only, Detail only when there is one),
 * the answer of an attestation result, amending the request's label, the
 * caps (64 steps: further steps replace the last one and are counted in
 * StepsDropped; labels and details cut with "..." and never overflowing),
 * text outside printable ASCII replaced so any input makes valid JSON, a
 * NULL trace accepted everywhere, and the text hgs_trace_print() gives
 * people (marks, arrows, details, an entry without a trace).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "hgs/trace.h"
#include "lib/err.h"
#include "tests/unit/testutil.h"

/* T as parsed JSON, or fail. */
static json_t *written(const struct hgs_trace *t)
{
	char *text = NULL;
	json_t *o;

	assert_ok(hgs_trace_json(t, &text));
	o = json_loads(text, 0, NULL);
	if (!o)
		fail_msg("not JSON: %s", text);
	free(text);
	return o;
}

/* T made an empty trace of KIND, its storage filled with garbage first. */
static struct hgs_trace *fresh(struct hgs_trace *t, enum hgs_trace_kind kind)
{
	memset(t, 0xa5, sizeof(*t));
	hgs_trace_init(t, kind);
	return t;
}

/* 1 when array member NAME of O is [A, B]. */
static int pair_is(const json_t *o, const char *name, const char *a, const char *b)
{
	json_t *want = json_pack("[s, s]", a, b);
	int eq = json_equal(json_object_get(o, name), want);

	json_decref(want);
	return eq;
}

/* String member NAME of step I of trace O. */
static const char *step_str(const json_t *o, size_t i, const char *name)
{
	return json_string_value(json_object_get(json_array_get(json_object_get(o, "Steps"), i),
						 name));
}

/* An attestation: request, checks of each verdict, answer; the contract's shape. */
static void test_attestation_shape(void **state)
{
	struct hgs_trace trace, *t = fresh(&trace, HGS_TRACE_ATTESTATION);
	struct hgs_result res;
	json_t *o, *s;

	(void)state;
	assert_non_null(t);
	hgs_trace_message(t, HGS_TRACE_HOST, "POST %s", "/Attestation/v1/tpm/attest");
	hgs_trace_amend(t, 0, ": host '%s': AK, quote", "FabricHost2");
	hgs_trace_check(t, "Nonce", HGS_TRACE_PASS, "the nonce is fresh", "nonce %s...", "0A1B2C3D");
	hgs_trace_check(t, "Hgs_BitLockerEnabled", HGS_TRACE_SKIP, "BitLocker", NULL);
	hgs_trace_check(t, "Registration", HGS_TRACE_INFO, "registered", NULL);
	hgs_result_fail(&res, HGS_STATUS_INSECURE_HOST_CONFIGURATION, HGS_SUB_DEBUG_MODE,
			"boot debugging is enabled (PCR 12)");
	hgs_trace_result(t, "Hgs_UefiDebugDisabled", "no debugging", &res, "never shown %d", 1);
	hgs_trace_answer(t, 200, &res);
	assert_int_equal(hgs_trace_steps(t), 6);
	o = written(t);

	assert_string_equal(json_string_value(json_object_get(o, "Kind")), "Attestation");
	assert_true(pair_is(o, "Participants", "Host", "HGS"));
	assert_null(json_object_get(o, "StepsDropped"));
	assert_int_equal(json_array_size(json_object_get(o, "Steps")), 6);
	/* the request: a message, no Check, Verdict or Detail */
	s = json_array_get(json_object_get(o, "Steps"), 0);
	assert_string_equal(step_str(o, 0, "From"), "Host");
	assert_string_equal(step_str(o, 0, "To"), "HGS");
	assert_string_equal(step_str(o, 0, "Kind"), "Message");
	assert_string_equal(step_str(o, 0, "Label"),
			    "POST /Attestation/v1/tpm/attest: host 'FabricHost2': AK, quote");
	assert_null(json_object_get(s, "Check"));
	assert_null(json_object_get(s, "Verdict"));
	assert_null(json_object_get(s, "Detail"));
	/* checks: HGS to HGS, each verdict's name */
	assert_string_equal(step_str(o, 1, "From"), "HGS");
	assert_string_equal(step_str(o, 1, "To"), "HGS");
	assert_string_equal(step_str(o, 1, "Kind"), "Check");
	assert_string_equal(step_str(o, 1, "Check"), "Nonce");
	assert_string_equal(step_str(o, 1, "Verdict"), "Pass");
	assert_string_equal(step_str(o, 1, "Detail"), "nonce 0A1B2C3D...");
	assert_string_equal(step_str(o, 2, "Verdict"), "Skip");
	assert_null(json_object_get(json_array_get(json_object_get(o, "Steps"), 2), "Detail"));
	assert_string_equal(step_str(o, 3, "Verdict"), "Info");
	/* a failed result: Fail, its reason as the detail, not the pass format */
	assert_string_equal(step_str(o, 4, "Check"), "Hgs_UefiDebugDisabled");
	assert_string_equal(step_str(o, 4, "Verdict"), "Fail");
	assert_string_equal(step_str(o, 4, "Detail"), "boot debugging is enabled (PCR 12)");
	/* the answer: HGS to Host, status (sub-status), the reason */
	assert_string_equal(step_str(o, 5, "From"), "HGS");
	assert_string_equal(step_str(o, 5, "To"), "Host");
	assert_string_equal(step_str(o, 5, "Kind"), "Message");
	assert_string_equal(step_str(o, 5, "Label"), "InsecureHostConfiguration (DebugMode)");
	assert_string_equal(step_str(o, 5, "Detail"), "boot debugging is enabled (PCR 12)");
	json_decref(o);
}

/* A key release names KPS; a passed result uses the pass format; a non-200 answer shows it. */
static void test_key_release_and_answers(void **state)
{
	struct hgs_trace trace, *t = fresh(&trace, HGS_TRACE_KEY_RELEASE);
	struct hgs_result res;
	json_t *o;

	(void)state;
	hgs_trace_message(t, HGS_TRACE_HOST, "POST /KeyProtection/v1/release");
	hgs_result_pass(&res);
	hgs_trace_result(t, "GuardianListed", "listed", &res, "guardian %d of %d", 2, 2);
	hgs_trace_result(t, "TkUnwrap", "unwraps", &res, NULL);
	hgs_trace_message(t, HGS_TRACE_NODE, "200 Released");
	o = written(t);
	assert_string_equal(json_string_value(json_object_get(o, "Kind")), "KeyRelease");
	assert_true(pair_is(o, "Participants", "Host", "KPS"));
	assert_string_equal(step_str(o, 0, "To"), "KPS");
	assert_string_equal(step_str(o, 1, "From"), "KPS");
	assert_string_equal(step_str(o, 1, "Verdict"), "Pass");
	assert_string_equal(step_str(o, 1, "Detail"), "guardian 2 of 2");
	assert_null(step_str(o, 2, "Detail"));
	assert_string_equal(step_str(o, 3, "From"), "KPS");
	assert_string_equal(step_str(o, 3, "To"), "Host");
	json_decref(o);

	t = fresh(&trace, HGS_TRACE_ATTESTATION);
	hgs_result_fail(&res, HGS_STATUS_UNAUTHORIZED_HOST, 0, "malformed request: no nonce");
	hgs_trace_answer(t, 400, &res);
	hgs_result_pass(&res);
	hgs_trace_answer(t, 200, &res);
	o = written(t);
	assert_string_equal(step_str(o, 0, "Label"), "400 UnauthorizedHost");
	assert_string_equal(step_str(o, 1, "Label"), "Passed");
	assert_null(step_str(o, 1, "Detail"));
	json_decref(o);
}

/* 64 steps at most: later steps replace the last one and are counted; the answer stays last. */
static void test_step_cap(void **state)
{
	struct hgs_trace trace, *t = fresh(&trace, HGS_TRACE_ATTESTATION);
	struct hgs_result res;
	json_t *o;

	(void)state;
	for (int i = 0; i < 100; i++)
		hgs_trace_check(t, "Step", HGS_TRACE_PASS, "a step", "step %d", i);
	assert_int_equal(hgs_trace_steps(t), HGS_TRACE_MAX_STEPS);
	hgs_result_pass(&res);
	hgs_trace_answer(t, 200, &res);
	assert_int_equal(hgs_trace_steps(t), HGS_TRACE_MAX_STEPS);
	o = written(t);
	assert_int_equal(json_array_size(json_object_get(o, "Steps")), HGS_TRACE_MAX_STEPS);
	assert_int_equal(json_integer_value(json_object_get(o, "StepsDropped")), 100 + 1 - 64);
	assert_string_equal(step_str(o, 62, "Detail"), "step 62");
	assert_string_equal(step_str(o, 63, "Label"), "Passed");
	assert_string_equal(step_str(o, 63, "Kind"), "Message");
	json_decref(o);
}

/* Labels and details are cut to their caps with "..."; amending never overflows. */
static void test_length_caps(void **state)
{
	struct hgs_trace trace, *t = fresh(&trace, HGS_TRACE_ATTESTATION);
	char big[2000];
	json_t *o;

	(void)state;
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	hgs_trace_message(t, HGS_TRACE_HOST, "%s", big);
	hgs_trace_amend(t, 0, "%s", big);            /* already full: unchanged */
	hgs_trace_check(t, "Long", HGS_TRACE_FAIL, big, "%s", big);
	hgs_trace_message(t, HGS_TRACE_HOST, "short");
	for (int i = 0; i < 40; i++)
		hgs_trace_amend(t, 2, " and %s", "more");
	hgs_trace_amend(t, 9, "no such step");       /* ignored */
	o = written(t);
	assert_int_equal(strlen(step_str(o, 0, "Label")), HGS_TRACE_LABEL_MAX - 1);
	assert_memory_equal(step_str(o, 0, "Label") + HGS_TRACE_LABEL_MAX - 4, "...", 3);
	assert_int_equal(strlen(step_str(o, 1, "Label")), HGS_TRACE_LABEL_MAX - 1);
	assert_int_equal(strlen(step_str(o, 1, "Detail")), HGS_TRACE_DETAIL_MAX - 1);
	assert_true(HGS_TRACE_DETAIL_MAX - 1 < 300);
	assert_memory_equal(step_str(o, 1, "Detail") + HGS_TRACE_DETAIL_MAX - 4, "...", 3);
	assert_int_equal(strlen(step_str(o, 2, "Label")), HGS_TRACE_LABEL_MAX - 1);
	assert_true(strncmp(step_str(o, 2, "Label"), "short and more and more", 23) == 0);
	assert_int_equal(json_array_size(json_object_get(o, "Steps")), 3);
	json_decref(o);
}

/* Bytes outside printable ASCII become '?': any text (an untrusted name, invalid UTF-8) is valid JSON. */
static void test_unprintable(void **state)
{
	struct hgs_trace trace, *t = fresh(&trace, HGS_TRACE_ATTESTATION);
	json_t *o;

	(void)state;
	hgs_trace_message(t, HGS_TRACE_HOST, "CN 'a\xff\xfe" "b\n\tc\x01' \"quoted\" \\");
	hgs_trace_check(t, "X", HGS_TRACE_FAIL, "caf\xc3\xa9", "%s", "\xe2\x9c\x93 done");
	o = written(t);
	assert_string_equal(step_str(o, 0, "Label"), "CN 'a??b??c?' \"quoted\" \\");
	assert_string_equal(step_str(o, 1, "Label"), "caf??");
	assert_string_equal(step_str(o, 1, "Detail"), "??? done");
	json_decref(o);
}

/* A NULL trace (a route without one): every call does nothing, writing it is an error. */
static void test_null_trace(void **state)
{
	struct hgs_result res;
	char *text = (char *)"x";

	(void)state;
	hgs_result_pass(&res);
	hgs_trace_message(NULL, HGS_TRACE_HOST, "x");
	hgs_trace_amend(NULL, 0, "x");
	hgs_trace_check(NULL, "X", HGS_TRACE_PASS, "x", NULL);
	hgs_trace_result(NULL, "X", "x", &res, NULL);
	hgs_trace_answer(NULL, 200, &res);
	assert_int_equal(hgs_trace_steps(NULL), 0);
	assert_int_equal(hgs_trace_json(NULL, &text), -1);
	assert_null(text);
	hl_error_clear();
}

/* hgs_trace_print() on TRACE into a string (freed by the caller). */
static char *printed(const json_t *trace)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	hgs_trace_print(f, trace);
	fclose(f);
	return buf;
}

/* The text for people: arrows for messages, a mark and the check's name, details indented. */
static void test_print(void **state)
{
	struct hgs_trace trace, *t = fresh(&trace, HGS_TRACE_ATTESTATION);
	struct hgs_result res;
	json_t *o;
	char *text;

	(void)state;
	hgs_trace_message(t, HGS_TRACE_HOST, "POST /Attestation/v1/tpm/attest");
	hgs_trace_check(t, "Nonce", HGS_TRACE_PASS, "fresh nonce", NULL);
	hgs_trace_check(t, "Hgs_UefiDebugDisabled", HGS_TRACE_FAIL, "no debugging", "DebugMode: on");
	hgs_trace_check(t, "Off", HGS_TRACE_SKIP, "disabled", NULL);
	hgs_trace_check(t, "Fact", HGS_TRACE_INFO, "a fact", NULL);
	hgs_result_fail(&res, HGS_STATUS_INSECURE_HOST_CONFIGURATION, HGS_SUB_DEBUG_MODE, "on");
	hgs_trace_answer(t, 200, &res);
	o = written(t);
	text = printed(o);
	assert_string_equal(text,
			    "Host \u2192 HGS: POST /Attestation/v1/tpm/attest\n"
			    "  \u2713 Nonce                  fresh nonce\n"
			    "  \u2717 Hgs_UefiDebugDisabled  no debugging\n"
			    "      DebugMode: on\n"
			    "  \u2013 Off                    disabled\n"
			    "  \u00b7 Fact                   a fact\n"
			    "HGS \u2192 Host: InsecureHostConfiguration (DebugMode)\n"
			    "      on\n");
	free(text);
	json_decref(o);

	text = printed(json_null());
	assert_non_null(strstr(text, "no trace"));
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_attestation_shape),
		cmocka_unit_test(test_key_release_and_answers),
		cmocka_unit_test(test_step_cap),
		cmocka_unit_test(test_length_caps),
		cmocka_unit_test(test_unprintable),
		cmocka_unit_test(test_null_trace),
		cmocka_unit_test(test_print),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
