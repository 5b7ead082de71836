/*
 * test_tpm.c - unit tests for lib/tpm against a real swtpm (started with
 * lib/swtpm in a mkdtemp directory for the group, stopped and removed after).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/child.h"
#include "lib/swtpm.h"
#include "lib/tpm.h"
#include "tests/unit/testutil.h"

/* The group's swtpm and its directory. */
struct fixture {
	char dir[TU_SANDBOX_DIR];   /* first: the scratch folder (tu_sandbox_new) */
	struct hl_swtpm *swtpm;
};

static int group_setup(void **state)
{
	struct fixture *f = tu_sandbox_new(sizeof(*f), "tpm");
	struct hl_swtpm_opts o = { 0 };
	char tpmdir[128];

	if (!f)
		return -1;
	snprintf(tpmdir, sizeof(tpmdir), "%s/tpm", f->dir);
	o.state_dir = tpmdir;
	if (hl_swtpm_start(&o, &f->swtpm) < 0) {
		fprintf(stderr, "swtpm: %s\n", hl_error_last());
		return -1;
	}
	*state = f;
	return 0;
}

static int group_teardown(void **state)
{
	struct fixture *f = *state;
	int status = -1;

	if (hl_swtpm_stop(f->swtpm, 0, &status) < 0 || status != 0)
		fprintf(stderr, "swtpm stop: status %d: %s\n", status, hl_error_last());
	hl_swtpm_free(f->swtpm);
	return tu_sandbox_free(f);
}

/* Connect to the group's swtpm; fails the test otherwise. */
static struct hl_tpm *connect_tpm(void **state)
{
	struct fixture *f = *state;
	struct hl_tpm *t = NULL;

	if (hl_tpm_connect(hl_swtpm_tcti(f->swtpm), &t) < 0)
		fail_msg("connect failed: %s", hl_error_last());
	return t;
}

/* Random bytes come back, differ between calls, and span several TPM calls. */
static void test_random(void **state)
{
	struct hl_tpm *t = connect_tpm(state);
	unsigned char a[100], b[100], zero[100] = { 0 };

	assert_non_null(hl_tpm_esys(t));
	assert_int_equal(hl_tpm_random(t, a, sizeof(a)), 0);
	assert_int_equal(hl_tpm_random(t, b, sizeof(b)), 0);
	assert_memory_not_equal(a, b, sizeof(a));
	assert_memory_not_equal(a + 64, zero, 36);
	hl_tpm_disconnect(t);
}

/* SHA-256 of A || B. */
static void sha256_pair(const uint8_t *a, const uint8_t *b, uint8_t out[32])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned int len = 0;

	assert_non_null(ctx);
	assert_int_equal(EVP_DigestInit_ex(ctx, EVP_sha256(), NULL), 1);
	assert_int_equal(EVP_DigestUpdate(ctx, a, 32), 1);
	assert_int_equal(EVP_DigestUpdate(ctx, b, 32), 1);
	assert_int_equal(EVP_DigestFinal_ex(ctx, out, &len), 1);
	assert_int_equal(len, 32);
	EVP_MD_CTX_free(ctx);
}

/* Extend PCR 16 and compare with a software SHA-256; read all 24 PCRs. */
static void test_pcr_extend_read(void **state)
{
	struct hl_tpm *t = connect_tpm(state);
	uint8_t before[HL_TPM_PCR_COUNT][HL_TPM_SHA256_LEN];
	uint8_t after[HL_TPM_PCR_COUNT][HL_TPM_SHA256_LEN];
	uint8_t digest[32], expect[32], zeros[32] = { 0 }, ones[32];
	int i;

	memset(ones, 0xff, sizeof(ones));
	for (i = 0; i < 32; i++)
		digest[i] = (uint8_t)(i * 7 + 1);
	memset(before, 0xaa, sizeof(before));
	assert_int_equal(hl_tpm_pcr_read(t, 0xffffff, before), 0);      /* > 8 PCRs: several reads */
	assert_memory_equal(before[0], zeros, 32);                      /* after startup-clear */
	assert_memory_equal(before[17], ones, 32);                      /* locality PCRs start at -1 */

	assert_int_equal(hl_tpm_pcr_extend(t, 16, digest), 0);
	sha256_pair(before[16], digest, expect);
	memset(after, 0xaa, sizeof(after));
	assert_int_equal(hl_tpm_pcr_read(t, 1u << 16, after), 0);
	assert_memory_equal(after[16], expect, 32);
	memset(expect, 0xaa, sizeof(expect));
	assert_memory_equal(after[15], expect, 32);     /* not selected: untouched */

	assert_int_equal(hl_tpm_pcr_extend(t, 24, digest), -1);
	assert_error_has("cannot extend PCR 24");
	assert_int_equal(hl_tpm_pcr_read(t, 1u << 24, after), -1);
	hl_tpm_disconnect(t);
}

/* Create a small ECC P-256 signing primary in the owner hierarchy. */
static TSS2_RC create_primary(struct hl_tpm *t, ESYS_TR *out)
{
	TPM2B_SENSITIVE_CREATE sens;
	TPM2B_PUBLIC tmpl;
	TPM2B_DATA outside;
	TPML_PCR_SELECTION pcrs;

	memset(&sens, 0, sizeof(sens));
	memset(&outside, 0, sizeof(outside));
	memset(&pcrs, 0, sizeof(pcrs));
	tu_tpm_ecc_template(&tmpl, TPMA_OBJECT_SIGN_ENCRYPT | TPMA_OBJECT_FIXEDTPM |
			    TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN |
			    TPMA_OBJECT_USERWITHAUTH);
	return Esys_CreatePrimary(hl_tpm_esys(t), ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD,
				  ESYS_TR_NONE, ESYS_TR_NONE, &sens, &tmpl, &outside, &pcrs,
				  out, NULL, NULL, NULL, NULL);
}

/* Without a resource manager objects pile up (0x902) until flushed. */
static void test_flush_transients(void **state)
{
	struct hl_tpm *t = connect_tpm(state);
	ESYS_TR h[4];
	TSS2_RC rc;
	int i, n = 0;

	assert_true(hl_tpm_flush_transients(t) >= 0);
	for (i = 0; i < 4; i++) {
		rc = create_primary(t, &h[i]);
		if (rc != TSS2_RC_SUCCESS)
			break;
		n++;
	}
	assert_int_equal(n, 3);         /* swtpm holds 3 transient objects */
	assert_int_equal(rc, TPM2_RC_OBJECT_MEMORY);
	assert_int_equal(hl_tpm_error(rc, "Esys_CreatePrimary"), -1);
	assert_error_has("tpm: Esys_CreatePrimary failed: tpm:");
	assert_error_has("out of memory for object contexts");
	assert_error_has("no resource manager");
	assert_int_equal(hl_tpm_transient_count(t), 3);

	assert_int_equal(hl_tpm_flush_transients(t), 3);
	assert_int_equal(hl_tpm_transient_count(t), 0);
	for (i = 0; i < 3; i++)
		Esys_TR_Close(hl_tpm_esys(t), &h[i]);   /* stale after the flush */
	assert_int_equal(create_primary(t, &h[0]), TSS2_RC_SUCCESS);
	assert_int_equal(hl_tpm_transient_count(t), 1);
	hl_tpm_disconnect(t);

	/* transients outlive the connection: a new one flushes them */
	t = connect_tpm(state);
	assert_int_equal(hl_tpm_flush_transients(t), 1);
	assert_int_equal(hl_tpm_transient_count(t), 0);
	hl_tpm_disconnect(t);
}

/* Connecting where nothing listens is a clear error. */
static void test_connect_refused(void **state)
{
	struct hl_tpm *t = (struct hl_tpm *)1;
	char conf[64], want[128];

	(void)state;
	snprintf(conf, sizeof(conf), "swtpm:host=127.0.0.1,port=%u", tu_closed_port());
	assert_int_equal(hl_tpm_connect(conf, &t), -1);
	assert_null(t);
	snprintf(want, sizeof(want), "tpm: cannot connect to '%s': Tss2_TctiLdr_Initialize failed: ",
		 conf);
	assert_error_has(want);
	assert_error_has("check that swtpm is running there");
	hl_tpm_disconnect(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_random),
		cmocka_unit_test(test_pcr_extend_read),
		cmocka_unit_test(test_flush_transients),
		cmocka_unit_test(test_connect_refused),
	};

	setenv("TSS2_LOG", "all+none", 0);      /* tss2's own stderr logging */
	hl_child_cleanup_install(500);
	return cmocka_run_group_tests_name("tpm", tests, group_setup, group_teardown);
}
