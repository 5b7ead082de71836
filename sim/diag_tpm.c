/*
 * diag_tpm.c - the TPM self-check of `hgslab diagnose`: starts a real swtpm
 * in a throw-away state directory, drives it with tpm2-tss (random bytes, a
 * PCR extend checked against OpenSSL's SHA-256, transient objects flushed),
 * then stops it and removes the directory.
 */
#include "sim/diag.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/clock.h"
#include "lib/crypto.h"
#include "lib/err.h"
#include "lib/fileio.h"
#include "lib/swtpm.h"
#include "lib/tpm.h"

/* Extend PCR 16 with a known digest and compare with SHA-256(old || digest). */
static int pcr_round_trip(struct hl_tpm *tpm)
{
	uint8_t before[HL_TPM_PCR_COUNT][HL_TPM_SHA256_LEN], after[HL_TPM_PCR_COUNT][HL_TPM_SHA256_LEN];
	uint8_t digest[HL_TPM_SHA256_LEN], concat[2 * HL_TPM_SHA256_LEN], expect[HL_TPM_SHA256_LEN];

	if (hl_tpm_random(tpm, digest, sizeof(digest)) < 0 ||
	    hl_tpm_pcr_read(tpm, 1u << 16, before) < 0 ||
	    hl_tpm_pcr_extend(tpm, 16, digest) < 0 ||
	    hl_tpm_pcr_read(tpm, 1u << 16, after) < 0)
		return -1;
	memcpy(concat, before[16], HL_TPM_SHA256_LEN);
	memcpy(concat + HL_TPM_SHA256_LEN, digest, HL_TPM_SHA256_LEN);
	if (hl_crypto_sha256(concat, sizeof(concat), expect) < 0)
		return -1;
	if (memcmp(expect, after[16], HL_TPM_SHA256_LEN) != 0)
		return hl_error("PCR 16 after an extend differs from SHA-256(old || digest)");
	return 0;
}

int hl_diag_tpm(json_t *results, int progress)
{
	char dir[] = "/tmp/hgslab-diag-XXXXXX", state[64];
	struct hl_swtpm_opts opts = { 0 };
	struct hl_swtpm *swtpm = NULL;
	struct hl_tpm *tpm = NULL;
	int64_t t0 = hl_clock_ms();
	int rc = -1, made = 0;

	if (!mkdtemp(dir)) {
		hl_error_errno("cannot create a temporary directory");
		goto out;
	}
	made = 1;
	snprintf(state, sizeof(state), "%s/tpm", dir);
	opts.state_dir = state;
	if (hl_swtpm_start(&opts, &swtpm) < 0 || hl_tpm_connect(hl_swtpm_tcti(swtpm), &tpm) < 0 ||
	    pcr_round_trip(tpm) < 0 || hl_tpm_flush_transients(tpm) < 0)
		goto out;
	rc = 0;
out:
	hl_tpm_disconnect(tpm);
	if (swtpm && hl_swtpm_stop(swtpm, 0, NULL) < 0 && rc == 0)
		rc = -1;
	hl_swtpm_free(swtpm);
	if (made)
		hl_file_rmtree(dir);
	if (rc == 0) {
		hl_diag_add(results, progress, "tpm", HL_DIAG_OK,
			    "swtpm started, driven with tpm2-tss (random, PCR extend verified), "
			    "stopped in %lld ms", (long long)(hl_clock_ms() - t0));
		return 0;
	}
	hl_diag_add(results, progress, "tpm", HL_DIAG_FAIL, "%s", hl_error_last());
	return 1;
}
