/*
 * test_healthcert.c - unit tests for hgs/healthcert: a health certificate
 * binds the transport key, names the host, carries mode, status, sub-status
 * and HGS name in the hgslab extensions, and is valid for the configured
 * hours from the node clock; verification refuses an expired certificate
 * (the lab clock moved past it), one from another node's signer, one naming
 * another HGS, one whose status is not Passed, and a certificate that is not
 * a health certificate at all, each with the refusal KPS turns into its
 * reason (the verdict), in KPS's order.  Two nodes are created once for the
 * group.
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

#include "hgs/db.h"
#include "hgs/healthcert.h"
#include "hgs/node.h"
#include "lib/crypto.h"
#include "lib/fileio.h"
#include "lib/log.h"
#include "tests/unit/testutil.h"

struct fx {
	char sandbox[TU_SANDBOX_DIR];   /* first: the scratch folder (tu_sandbox_new) */
	char dir_a[128], dir_b[128];
	struct hgs_node *a, *b;     /* two HGS nodes, both "MyHgsService" */
	EVP_PKEY *tk;               /* a host's transport key */
};

static struct fx *F;

/* Two nodes and a transport key. */
static int group_setup(void **state)
{
	hl_log_set_stderr_level(HL_LOG_ERROR);
	F = tu_sandbox_new(sizeof(*F), "hc");
	if (!F)
		return -1;
	snprintf(F->dir_a, sizeof(F->dir_a), "%s/a", F->sandbox);
	snprintf(F->dir_b, sizeof(F->dir_b), "%s/b", F->sandbox);
	if (tu_hgs_node(F->dir_a, HGS_MODE_TPM, &F->a) < 0 ||
	    tu_hgs_node(F->dir_b, HGS_MODE_TPM, &F->b) < 0 ||
	    hl_key_generate(HL_KEY_RSA2048, &F->tk) < 0) {
		fprintf(stderr, "setup: %s\n", hl_error_last());
		return -1;
	}
	*state = F;
	return 0;
}

/* Remove everything. */
static int group_teardown(void **state)
{
	(void)state;
	hgs_node_close(F->a);
	hgs_node_close(F->b);
	hl_key_free(F->tk);
	tu_sandbox_free(F);
	return 0;
}

/*
 * hgs_healthcert_issue() into *C, read back from the DER it gives (whose
 * not-after it also gives); what hgs_healthcert_issue returns.
 */
static int issue_cert(struct hgs_node *n, const struct hgs_config *cfg, const char *host,
		      enum hgs_mode mode, const struct hgs_result *res, EVP_PKEY *tk, X509 **c)
{
	struct hl_buf der = { NULL, 0 };
	time_t not_after = 0, from_cert = 0;
	int rc = hgs_healthcert_issue(n, cfg, host, mode, res, tk, &der, &not_after);

	*c = NULL;
	if (rc < 0) {
		assert_null(der.data);
		return rc;
	}
	assert_int_equal(hl_cert_from_der(der.data, der.len, c), 0);
	assert_int_equal(hl_cert_validity(*c, NULL, &from_cert), 0);
	assert_int_equal(not_after, from_cert);
	hl_buf_free(&der);
	return rc;
}

/* Issue a Passed certificate for FabricHost1 in MODE from node N. */
static X509 *issue(struct hgs_node *n, enum hgs_mode mode)
{
	struct hgs_config cfg;
	struct hgs_result res;
	X509 *c = NULL;

	hgs_result_pass(&res);
	if (hgs_db_config_get(n, &cfg) < 0 ||
	    issue_cert(n, &cfg, "FabricHost1", mode, &res, F->tk, &c) < 0)
		fail_msg("issue: %s", hl_error_last());
	return c;
}

/* The certificate says what was decided and binds the transport key. */
static void test_issue_contents(void **state)
{
	struct hgs_healthcert_info info;
	EVP_PKEY *bound = NULL;
	struct hl_buf b = { 0 };
	char issuer[128];
	time_t now, nb, na;
	X509 *c;

	(void)state;
	assert_int_equal(hgs_node_now(F->a, &now), 0);
	c = issue(F->a, HGS_MODE_TPM);
	assert_int_equal(hgs_healthcert_verify(F->a, c, &info, NULL), 0);
	assert_string_equal(info.host, "FabricHost1");
	assert_string_equal(info.node, "MyHgsService");
	assert_int_equal(info.mode, HGS_MODE_TPM);
	assert_int_equal(info.status, HGS_STATUS_PASSED);
	assert_int_equal(info.substatus, 0);
	assert_int_equal(strlen(info.thumbprint), 64);
	assert_int_equal(hl_cert_validity(c, &nb, &na), 0);
	assert_true(nb >= now && nb <= now + 2);
	assert_int_equal(na - nb, 8 * 3600);
	assert_int_equal(hl_cert_issuer_cn(c, issuer, sizeof(issuer)), 0);
	assert_string_equal(issuer, "MyHgsService Attestation Signer");
	assert_int_equal(hl_cert_pubkey(c, &bound), 0);
	assert_true(hl_key_pub_equal(bound, F->tk));
	assert_int_equal(hl_cert_ext_get_utf8(c, HGS_OID_HC_MODE, &b), 0);
	assert_string_equal((char *)b.data, "tpm");
	hl_buf_free(&b);
	assert_int_equal(hl_cert_ext_get_utf8(c, HGS_OID_HC_STATUS, &b), 0);
	assert_string_equal((char *)b.data, "Passed");
	hl_buf_free(&b);
	hl_key_free(bound);
	hl_cert_free(c);
}

/* The validity follows the node's setting and the node clock. */
static void test_validity_and_clock(void **state)
{
	time_t nb, na, real = time(NULL);
	X509 *c;

	(void)state;
	assert_int_equal(hgs_db_set_validity(F->a, 2), 0);
	tu_set_clock_offset(F->dir_a, "86400");
	c = issue(F->a, HGS_MODE_HOSTKEY);
	tu_set_clock_offset(F->dir_a, NULL);
	assert_int_equal(hgs_db_set_validity(F->a, 8), 0);
	assert_int_equal(hl_cert_validity(c, &nb, &na), 0);
	assert_true(nb >= real + 86400 && nb <= real + 86402);
	assert_int_equal(na - nb, 2 * 3600);
	hl_cert_free(c);
}

/* Expired at the node clock: refused with "expired"; still good an hour before. */
static void test_expired(void **state)
{
	struct hgs_healthcert_verdict v;
	time_t t0;
	X509 *c;

	(void)state;
	c = issue(F->a, HGS_MODE_TPM);
	tu_set_clock_offset(F->dir_a, "25200");
	assert_int_equal(hgs_healthcert_verify(F->a, c, NULL, NULL), 0);
	tu_set_clock_offset(F->dir_a, "28801");
	t0 = time(NULL);
	assert_int_equal(hgs_healthcert_verify(F->a, c, NULL, &v), -1);
	assert_error_has("health certificate of 'FabricHost1' refused");
	assert_error_has("expired");
	assert_int_equal(v.refusal, HGS_HC_EXPIRED);
	assert_true(v.at >= t0 + 28801 && v.at <= time(NULL) + 28801);
	assert_error_has(v.detail);
	assert_non_null(strstr(v.detail, "certificate 'FabricHost1' expired on "));
	tu_set_clock_offset(F->dir_a, "-3600");
	assert_int_equal(hgs_healthcert_verify(F->a, c, NULL, &v), -1);
	assert_int_equal(v.refusal, HGS_HC_NOT_YET_VALID);
	assert_non_null(strstr(v.detail, "is not yet valid"));
	tu_set_clock_offset(F->dir_a, NULL);
	assert_int_equal(hgs_healthcert_verify(F->a, c, NULL, &v), 0);
	assert_int_equal(v.refusal, HGS_HC_ACCEPTED);
	assert_string_equal(v.detail, "");
	hl_cert_free(c);
}

/* Another node's signer, even of the same name, is refused. */
static void test_other_node(void **state)
{
	struct hgs_healthcert_verdict v;
	X509 *c;

	(void)state;
	c = issue(F->b, HGS_MODE_TPM);
	assert_int_equal(hgs_healthcert_verify(F->b, c, NULL, NULL), 0);
	assert_int_equal(hgs_healthcert_verify(F->a, c, NULL, &v), -1);
	assert_error_has("refused");
	assert_int_equal(v.refusal, HGS_HC_UNTRUSTED);
	assert_non_null(strstr(v.detail, "certificate 'FabricHost1' was not issued by "
				      "'MyHgsService Attestation Signer'"));
	assert_int_equal(hgs_healthcert_verify_with(c, F->b->signer_cert, "OtherHgs", time(NULL),
						    NULL, &v), -1);
	assert_error_has("issued for HGS 'MyHgsService', not 'OtherHgs'");
	assert_int_equal(v.refusal, HGS_HC_OTHER_HGS);
	assert_string_equal(v.detail, "it was issued for HGS 'MyHgsService', not 'OtherHgs'");
	/* who issued it is decided inside its validity: expired as well, still another HGS's */
	assert_int_equal(hgs_healthcert_verify_with(c, F->a->signer_cert, "MyHgsService",
						    time(NULL) + 86400, NULL, &v), -1);
	assert_int_equal(v.refusal, HGS_HC_UNTRUSTED);
	assert_int_equal(hgs_healthcert_verify_with(c, F->b->signer_cert, "MyHgsService",
						    time(NULL) + 86400, NULL, &v), -1);
	assert_int_equal(v.refusal, HGS_HC_EXPIRED);
	hl_cert_free(c);
}

/* A certificate recording a failure parses but does not verify; sub-status round-trips. */
static void test_not_passed(void **state)
{
	struct hgs_healthcert_verdict v;
	struct hgs_healthcert_info info;
	struct hgs_result res;
	X509 *c = NULL;

	(void)state;
	hgs_result_fail(&res, HGS_STATUS_INSECURE_HOST_CONFIGURATION,
			HGS_SUB_DEBUG_MODE | HGS_SUB_IOMMU, "debugging is on");
	assert_int_equal(issue_cert(F->a, &F->a->config, "FabricHost2", HGS_MODE_TPM, &res,
					      F->tk, &c), 0);
	assert_int_equal(hgs_healthcert_parse(c, &info), 0);
	assert_int_equal(info.status, HGS_STATUS_INSECURE_HOST_CONFIGURATION);
	assert_int_equal(info.substatus, HGS_SUB_DEBUG_MODE | HGS_SUB_IOMMU);
	assert_int_equal(hgs_healthcert_verify(F->a, c, &info, &v), -1);
	assert_error_has("records attestation status InsecureHostConfiguration");
	assert_int_equal(v.refusal, HGS_HC_NOT_PASSED);
	/* the status is checked before the validity */
	assert_int_equal(hgs_healthcert_verify_with(c, F->a->signer_cert, "MyHgsService",
						    time(NULL) + 86400, NULL, &v), -1);
	assert_int_equal(v.refusal, HGS_HC_NOT_PASSED);
	hl_cert_free(c);
}

/* Wrong inputs: an EC transport key, a bad host name, a plain certificate, no signer loaded. */
static void test_bad_inputs(void **state)
{
	struct hgs_healthcert_verdict v;
	struct hgs_healthcert_info info;
	struct hgs_result res;
	struct hgs_node *plain = NULL;
	EVP_PKEY *ec = NULL;
	X509 *c = NULL;

	(void)state;
	hgs_result_pass(&res);
	assert_int_equal(hl_key_generate(HL_KEY_EC_P256, &ec), 0);
	assert_int_equal(issue_cert(F->a, &F->a->config, "FabricHost1", HGS_MODE_TPM, &res,
					      ec, &c), -1);
	assert_null(c);
	assert_error_has("must be an RSA 2048 or 3072 key");
	assert_int_equal(issue_cert(F->a, &F->a->config, "", HGS_MODE_TPM, &res, F->tk,
					      &c), -1);
	hl_key_free(ec);

	/* the signer's own certificate is no health certificate */
	assert_int_equal(hgs_healthcert_parse(F->a->signer_cert, &info), -1);
	assert_error_has("not an hgslab health certificate");
	assert_int_equal(hgs_healthcert_verify(F->a, F->a->signer_cert, &info, &v), -1);
	assert_int_equal(v.refusal, HGS_HC_NOT_HEALTHCERT);
	assert_string_equal(v.detail, hl_error_last());
	assert_int_equal(hgs_healthcert_parse(NULL, &info), -1);

	assert_int_equal(hgs_node_open(F->dir_a, 0, &plain), 0);
	assert_int_equal(issue_cert(plain, &plain->config, "FabricHost1", HGS_MODE_TPM, &res,
					      F->tk, &c), -1);
	assert_error_has("HGS_NODE_OPEN_KEYS");
	c = issue(F->a, HGS_MODE_TPM);
	assert_int_equal(hgs_healthcert_verify(plain, c, NULL, &v), -1);
	assert_error_has("HGS_NODE_OPEN_KEYS");
	assert_int_equal(v.refusal, HGS_HC_ERROR);
	hl_cert_free(c);
	hgs_node_close(plain);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_issue_contents),
		cmocka_unit_test(test_validity_and_clock),
		cmocka_unit_test(test_expired),
		cmocka_unit_test(test_other_node),
		cmocka_unit_test(test_not_passed),
		cmocka_unit_test(test_bad_inputs),
	};

	return cmocka_run_group_tests_name("healthcert", tests, group_setup, group_teardown);
}
