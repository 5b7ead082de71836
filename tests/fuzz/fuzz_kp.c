/*
 * fuzz_kp.c - libFuzzer target: the key protector (proto/keyprotector.h)
 * that KPS, the host and the tenant's verbs read.
 *
 * The first input byte picks how the rest is used:
 *   even  the rest is a KP file, as KPS receives it;
 *   odd   the rest is the KP's body JSON, put into an envelope here
 *         (fz_envelope), so the body's fields are fuzzed as JSON.
 * A KP that parses is verified (with and without a pinned owner), each
 * entry must be found again by its thumbprint and its name (abort
 * otherwise), its certificate decoded, and the owner's TK unwrapped with
 * an RSA fixture key (the RSA-OAEP of KPS, which must refuse it).
 */
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"
#include "proto/keyprotector.h"
#include "tests/fuzz/fuzzutil.h"

static struct fz_keypair kps;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fz_quiet();
	fz_keypair_make(HL_KEY_RSA2048, "Fuzz KPS Encryption", &kps);
	return 0;
}

/* What readers do with a parsed KP. */
static void use(const struct hl_kp *kp)
{
	const struct hl_kp_entry *e;
	struct hl_buf tk = { 0 };
	char fp[HL_SHA256_HEX_SIZE];

	hl_kp_verify(kp, NULL);
	hl_kp_verify(kp, kp->owner_signing_thumbprint);
	for (size_t i = 0; i < kp->n_entries; i++) {
		X509 *cert = NULL;

		if (hl_kp_find(kp, kp->entries[i].encryption_thumbprint, &e) < 0 ||
		    e != &kp->entries[i] || hl_kp_find_name(kp, kp->entries[i].name, &e) < 0 ||
		    e != &kp->entries[i])
			fz_fail("a KP entry is not found by its own thumbprint or name");
		if (hl_cert_from_der(kp->entries[i].encryption_cert_der.data,
				     kp->entries[i].encryption_cert_der.len, &cert) == 0)
			hl_cert_free(cert);
	}
	if (hl_kp_unwrap_entry(&kp->entries[0], kps.key, &tk) == 0) {
		hl_kp_tk_fingerprint(tk.data, tk.len, fp);
		hl_buf_free(&tk);
	}
	hl_kp_unwrap(kp, kps.cert, kps.key, &tk);
	hl_buf_free(&tk);
	hl_error_clear();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_in in = { data, size };
	struct hl_buf file = { 0 };
	struct hl_kp *kp = NULL;

	if (fz_byte(&in) & 1)
		fz_envelope(HL_KP_FORMAT, HL_KP_VERSION, in.p, in.n, &file);
	else if (hl_buf_set(&file, in.p, in.n) < 0)
		fz_die("out of memory");
	if (hl_kp_parse(file.data, file.len, &kp) == 0)
		use(kp);
	hl_kp_free(kp);
	hl_buf_free(&file);
	hl_error_clear();
	return 0;
}
