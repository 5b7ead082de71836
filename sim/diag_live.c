/*
 * diag_live.c - the live self-checks of `hgslab diagnose`: round trips
 * through the real parts the lab is built on.  The crypto check issues a CA
 * and a leaf certificate, signs and verifies, wraps and unwraps with
 * RSA-OAEP and seals with AES-256-GCM; the TPM check (diag_tpm.c) starts a
 * real swtpm and drives it with tpm2-tss.
 */
#include "sim/diag.h"

#include <openssl/opensslv.h>
#include <string.h>
#include <time.h>

#include "lib/crypto.h"
#include "lib/err.h"

/* One crypto round trip of every primitive the fabric uses; -1 on the first failure. */
static int crypto_round_trip(void)
{
	static const char msg[] = "hgslab self-check";
	unsigned char key[HL_GCM_KEY_LEN];
	struct hl_buf sig = { 0 }, wrapped = { 0 }, unwrapped = { 0 }, sealed = { 0 }, opened = { 0 };
	EVP_PKEY *ca_key = NULL, *leaf_key = NULL;
	X509 *ca = NULL, *leaf = NULL;
	time_t now = time(NULL);
	struct hl_cert_spec ca_spec = { .cn = "hgslab self-check CA", .not_before = now - 60,
					.not_after = now + 3600, .is_ca = 1, .path_len = -1 };
	struct hl_cert_spec leaf_spec = { .cn = "hgslab self-check leaf", .not_before = now - 60,
					  .not_after = now + 3600, .path_len = -1,
					  .key_usage = HL_KU_DIGITAL_SIGNATURE | HL_KU_KEY_ENCIPHERMENT };
	int rc = -1;

	if (hl_key_generate(HL_KEY_EC_P256, &ca_key) < 0 ||
	    hl_key_generate(HL_KEY_RSA2048, &leaf_key) < 0 ||
	    hl_cert_issue_self_signed(&ca_spec, ca_key, &ca) < 0 ||
	    hl_cert_issue(&leaf_spec, leaf_key, ca, ca_key, &leaf) < 0 ||
	    hl_cert_verify(leaf, ca, NULL, 0, 0) < 0 ||
	    hl_crypto_sign(leaf_key, HL_SIG_DEFAULT, msg, sizeof(msg), &sig) < 0 ||
	    hl_crypto_verify(leaf_key, HL_SIG_DEFAULT, msg, sizeof(msg), sig.data, sig.len) < 0 ||
	    hl_crypto_oaep_wrap(leaf_key, "IDENTITY", 9, msg, sizeof(msg), &wrapped) < 0 ||
	    hl_crypto_oaep_unwrap(leaf_key, "IDENTITY", 9, wrapped.data, wrapped.len, &unwrapped) < 0 ||
	    hl_crypto_random(key, sizeof(key)) < 0 ||
	    hl_crypto_gcm_encrypt(key, NULL, 0, msg, sizeof(msg), &sealed) < 0 ||
	    hl_crypto_gcm_decrypt(key, NULL, 0, sealed.data, sealed.len, &opened) < 0)
		goto out;
	if (unwrapped.len != sizeof(msg) || memcmp(unwrapped.data, msg, sizeof(msg)) != 0 ||
	    opened.len != sizeof(msg) || memcmp(opened.data, msg, sizeof(msg)) != 0) {
		hl_error("a round trip returned other bytes than it was given");
		goto out;
	}
	rc = 0;
out:
	hl_crypto_cleanse(key, sizeof(key));
	hl_buf_free(&sig);
	hl_buf_free(&wrapped);
	hl_buf_free(&unwrapped);
	hl_buf_free(&sealed);
	hl_buf_free(&opened);
	hl_cert_free(ca);
	hl_cert_free(leaf);
	hl_key_free(ca_key);
	hl_key_free(leaf_key);
	return rc;
}

int hl_diag_live(json_t *results, int progress)
{
	int failed = 0;

	if (crypto_round_trip() == 0) {
		hl_diag_add(results, progress, "crypto", HL_DIAG_OK,
			    "%s: X.509 issue+verify, RSA-PSS, RSA-OAEP, AES-256-GCM round trips",
			    OPENSSL_VERSION_TEXT);
	} else {
		hl_diag_add(results, progress, "crypto", HL_DIAG_FAIL, "%s", hl_error_last());
		failed++;
	}
	failed += hl_diag_tpm(results, progress);
	return failed;
}
