/*
 * test_vsc_viq.c - unit tests for proto/vsc_viq: rule names, a qualifier made
 * from a VSC and written / parsed back, the version rules table (equals,
 * greater-than, greater-than-or-equals against older, equal and newer
 * templates), the signer and name checks with their reasons, every field of
 * a .viq malformed in turn, and every truncation refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/crypto.h"
#include "lib/json.h"
#include "proto/vsc.h"
#include "proto/vsc_viq.h"
#include "tests/unit/testutil.h"

static EVP_PKEY *key, *key2;
static X509 *cert, *cert2;

/* A self-signed certificate for K named CN into *C. */
static int self_signed(EVP_PKEY *k, const char *cn, X509 **c)
{
	struct hl_cert_spec spec = { 0 };
	time_t now = time(NULL);

	spec.cn = cn;
	spec.not_before = now - 60;
	spec.not_after = now + 86400;
	spec.path_len = -1;
	return hl_cert_issue_self_signed(&spec, k, c);
}

/* Two signers for the group. */
static int group_setup(void **state)
{
	(void)state;
	if (hl_key_generate(HL_KEY_EC_P256, &key) < 0 || self_signed(key, "Signer", &cert) < 0 ||
	    hl_key_generate(HL_KEY_EC_P256, &key2) < 0 || self_signed(key2, "Other", &cert2) < 0)
		return -1;
	return 0;
}

/* Free them. */
static int group_teardown(void **state)
{
	(void)state;
	hl_key_free(key);
	hl_key_free(key2);
	hl_cert_free(cert);
	hl_cert_free(cert2);
	return 0;
}

/* A verified VSC of template NAME VERSION signed with K / C. */
static struct hl_vsc *make_vsc(const char *name, const char *version, EVP_PKEY *k, X509 *c)
{
	struct hl_vsc_spec spec = { 0 };
	struct hl_buf der = { NULL, 0 };
	struct hl_vsc *vsc = NULL;

	spec.name = name;
	spec.disk_bytes = 4096;
	spec.signed_at = time(NULL);
	assert_ok(hl_vsc_version_parse(version, &spec.version));
	assert_ok(hl_vsc_sign(&spec, c, k, &der));
	assert_ok(hl_vsc_parse(der.data, der.len, &vsc));
	assert_ok(hl_vsc_verify(vsc));
	hl_buf_free(&der);
	return vsc;
}

/* Rule names both ways. */
static void test_rules(void **state)
{
	enum hl_viq_rule r;

	(void)state;
	assert_ok(hl_viq_rule_parse("equals", &r));
	assert_int_equal(r, HL_VIQ_EQUALS);
	assert_ok(hl_viq_rule_parse("greater-than", &r));
	assert_int_equal(r, HL_VIQ_GREATER_THAN);
	assert_ok(hl_viq_rule_parse("greater-than-or-equals", &r));
	assert_int_equal(r, HL_VIQ_GREATER_THAN_OR_EQUALS);
	assert_int_equal(hl_viq_rule_parse("GreaterThan", &r), -1);
	assert_error_has("give equals, greater-than or greater-than-or-equals");
	assert_int_equal(hl_viq_rule_parse(NULL, &r), -1);
	assert_string_equal(hl_viq_rule_name(HL_VIQ_GREATER_THAN_OR_EQUALS),
			    "greater-than-or-equals");
	assert_string_equal(hl_viq_rule_name((enum hl_viq_rule)7), "unknown");
}

/* From a VSC, written and parsed back; the file as documented. */
static void test_roundtrip(void **state)
{
	struct hl_vsc *vsc = make_vsc("WindowsServer2016", "1.2.0.0", key, cert);
	struct hl_buf text = { NULL, 0 };
	struct hl_viq q, back;
	json_t *o = NULL;
	char line[256];

	(void)state;
	assert_ok(hl_viq_from_vsc(vsc, HL_VIQ_GREATER_THAN_OR_EQUALS, &q));
	assert_string_equal(q.name, "WindowsServer2016");
	assert_string_equal(q.signer_thumbprint, vsc->signer_thumbprint);
	assert_ok(hl_viq_write(&q, &text));
	assert_ok(hl_json_parse(text.data, text.len, 0, &o));
	assert_string_equal(json_string_value(json_object_get(o, "format")), "hgslab-viq");
	assert_string_equal(json_string_value(json_object_get(o, "rule")),
			    "greater-than-or-equals");
	assert_string_equal(json_string_value(json_object_get(o, "disk_version")), "1.2.0.0");
	assert_int_equal(json_object_size(o), 6);
	json_decref(o);
	assert_ok(hl_viq_parse(text.data, text.len, &back));
	assert_memory_equal(&back, &q, sizeof(q));
	hl_viq_describe(&q, line, sizeof(line));
	assert_non_null(strstr(line, "'WindowsServer2016' >= 1.2.0.0 signed by "));
	assert_ok(hl_viq_match(&q, vsc));
	assert_int_equal(hl_viq_from_vsc(vsc, (enum hl_viq_rule)9, &q), -1);
	hl_buf_free(&text);
	hl_vsc_free(vsc);
}

/* The rules table: each rule against older, equal and newer templates. */
static void test_rule_table(void **state)
{
	static const struct { enum hl_viq_rule rule; const char *tver; int ok; const char *why; } t[] = {
		{ HL_VIQ_EQUALS, "1.9.9.9", 0, "version 1.9.9.9 is not equal to 2.0.0.0" },
		{ HL_VIQ_EQUALS, "2.0.0.0", 1, NULL },
		{ HL_VIQ_EQUALS, "2.0.0.1", 0, "is not equal to 2.0.0.0" },
		{ HL_VIQ_GREATER_THAN, "1.9.9.9", 0, "is not greater than 2.0.0.0" },
		{ HL_VIQ_GREATER_THAN, "2.0.0.0", 0, "version 2.0.0.0 is not greater than 2.0.0.0" },
		{ HL_VIQ_GREATER_THAN, "2.0.0.1", 1, NULL },
		{ HL_VIQ_GREATER_THAN, "10.0.0.0", 1, NULL },
		{ HL_VIQ_GREATER_THAN_OR_EQUALS, "1.65535.0.0", 0,
		  "is not greater than or equal to 2.0.0.0" },
		{ HL_VIQ_GREATER_THAN_OR_EQUALS, "2.0.0.0", 1, NULL },
		{ HL_VIQ_GREATER_THAN_OR_EQUALS, "3.0.0.0", 1, NULL },
	};
	struct hl_vsc *base = make_vsc("T", "2.0.0.0", key, cert), *vsc;
	struct hl_viq q;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		assert_ok(hl_viq_from_vsc(base, t[i].rule, &q));
		vsc = make_vsc("T", t[i].tver, key, cert);
		if (t[i].ok) {
			if (hl_viq_match(&q, vsc) != 0)
				fail_msg("row %zu: %s", i, hl_error_last());
		} else {
			assert_int_equal(hl_viq_match(&q, vsc), -1);
			assert_error_has(t[i].why);
		}
		hl_vsc_free(vsc);
	}
	hl_vsc_free(base);
}

/* Another signer, another name. */
static void test_signer_and_name(void **state)
{
	struct hl_vsc *base = make_vsc("T", "1.0.0.0", key, cert);
	struct hl_vsc *other = make_vsc("T", "1.0.0.0", key2, cert2);
	struct hl_vsc *renamed = make_vsc("T2", "1.0.0.0", key, cert);
	struct hl_viq q;

	(void)state;
	assert_ok(hl_viq_from_vsc(base, HL_VIQ_EQUALS, &q));
	assert_int_equal(hl_viq_match(&q, other), -1);
	assert_error_has("is signed by certificate");
	assert_error_has("the qualifier trusts only templates signed by");
	assert_int_equal(hl_viq_match(&q, renamed), -1);
	assert_error_has("template 'T2' is not 'T'");
	assert_int_equal(hl_viq_match(NULL, base), -1);
	hl_vsc_free(base);
	hl_vsc_free(other);
	hl_vsc_free(renamed);
}

#define THUMB "0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF"

/* Parse TEXT as a .viq: must fail with ERR. */
static void expect_refused(const char *text, const char *err)
{
	struct hl_viq q;

	if (hl_viq_parse(text, strlen(text), &q) != -1)
		fail_msg("%s was accepted", text);
	if (!tu_error_has(err))
		fail_msg("%s: error lacks '%s'", text, err);
	if (!tu_error_has("bad volume ID qualifier: "))
		fail_msg("%s: error lacks the prefix", text);
}

/* Every field malformed in turn; truncations. */
static void test_refused(void **state)
{
	const char *good = "{\"format\":\"hgslab-viq\",\"version\":1,\"name\":\"T\","
			   "\"signer_thumbprint\":\"" THUMB "\",\"disk_version\":\"1.0.0.0\","
			   "\"rule\":\"equals\"}";
	struct hl_viq q;
	size_t i;

	(void)state;
	assert_ok(hl_viq_parse(good, strlen(good), &q));
	expect_refused("{\"format\":\"hgslab-vsc\",\"version\":1}", "not an hgslab volume ID");
	expect_refused("{\"format\":\"hgslab-viq\",\"version\":2}",
		       "volume ID qualifier version 2 is not supported");
	expect_refused("{\"format\":\"hgslab-viq\"}", "field 'version' is missing");
	expect_refused("{\"format\":\"hgslab-viq\",\"version\":1,\"name\":\"T\"}",
		       "lacks field 'signer_thumbprint'");
	expect_refused("{\"format\":\"hgslab-viq\",\"version\":1,\"name\":\"T\",\"signer_thumbprint\":"
		       "\"" THUMB "\",\"disk_version\":\"1.0.0.0\",\"rule\":\"equals\",\"x\":0}",
		       "unknown field 'x'");
	expect_refused("{\"format\":\"hgslab-viq\",\"version\":1,\"name\":\" T\",\"signer_thumbprint\":"
		       "\"" THUMB "\",\"disk_version\":\"1.0.0.0\",\"rule\":\"equals\"}",
		       "leading or trailing space");
	expect_refused("{\"format\":\"hgslab-viq\",\"version\":1,\"name\":\"T\",\"signer_thumbprint\":"
		       "\"0123456789abcdef0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF\","
		       "\"disk_version\":\"1.0.0.0\",\"rule\":\"equals\"}", "64 uppercase hex");
	expect_refused("{\"format\":\"hgslab-viq\",\"version\":1,\"name\":\"T\",\"signer_thumbprint\":"
		       "\"ABC\",\"disk_version\":\"1.0.0.0\",\"rule\":\"equals\"}",
		       "64 uppercase hex");
	expect_refused("{\"format\":\"hgslab-viq\",\"version\":1,\"name\":\"T\",\"signer_thumbprint\":"
		       "\"" THUMB "\",\"disk_version\":\"1.0\",\"rule\":\"equals\"}",
		       "field 'disk_version': bad version '1.0'");
	expect_refused("{\"format\":\"hgslab-viq\",\"version\":1,\"name\":\"T\",\"signer_thumbprint\":"
		       "\"" THUMB "\",\"disk_version\":\"1.0.0.0\",\"rule\":\"less-than\"}",
		       "field 'rule': bad version rule 'less-than'");
	expect_refused("{\"format\":\"hgslab-viq\",\"version\":1,\"name\":\"T\",\"signer_thumbprint\":"
		       "\"" THUMB "\",\"disk_version\":\"1.0.0.0\",\"rule\":1}",
		       "field 'rule' must be a string");
	expect_refused("[]", "must be a JSON object");
	expect_refused("", "empty");
	for (i = 0; i < strlen(good); i++) {
		char *copy = malloc(i + 1);

		assert_non_null(copy);
		memcpy(copy, good, i);
		assert_int_equal(hl_viq_parse(copy, i, &q), -1);
		free(copy);
	}
	{
		char *big = calloc(1, HL_VIQ_MAX_SIZE + 2);

		assert_non_null(big);
		memset(big, ' ', HL_VIQ_MAX_SIZE + 1);
		assert_int_equal(hl_viq_parse(big, HL_VIQ_MAX_SIZE + 1, &q), -1);
		assert_error_has("larger than");
		free(big);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rules),
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_rule_table),
		cmocka_unit_test(test_signer_and_name),
		cmocka_unit_test(test_refused),
	};
	return cmocka_run_group_tests_name("vsc_viq", tests, group_setup, group_teardown);
}
