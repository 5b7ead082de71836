/*
 * fuzz_pdk.c - libFuzzer target: shielding data (.pdk, proto/pdk.h) as the
 * guarded host and the guest agent read it, and its secrets as the guest
 * decrypts them.
 *
 * The first input byte (mod 3) picks how the rest is used:
 *   0  the rest is a .pdk file;
 *   1  the rest is the .pdk's body JSON, put into an envelope here
 *      (fz_envelope), so the body's fields are fuzzed as JSON;
 *   2  the rest is the secrets' plaintext JSON, encrypted here with a known
 *      key under a fixed id, then decrypted and parsed by hl_pdk_decrypt.
 * A .pdk that parses is verified, decrypted with a wrong key and matched
 * against a template (a VSC signed by a P-256 fixture).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/err.h"
#include "proto/pdk.h"
#include "proto/vsc.h"
#include "tests/fuzz/fuzzutil.h"

#define FUZZ_PDK_ID "0123456789abcdef0123456789abcdef"

static struct hl_vsc *vsc;
static const unsigned char key[HL_PDK_SECRETS_KEY_LEN] = { 1, 2, 3 };

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct hl_vsc_spec spec = { 0 };
	struct fz_keypair signer;
	struct hl_buf der = { 0 };

	(void)argc;
	(void)argv;
	fz_quiet();
	fz_keypair_make(HL_KEY_EC_P256, "Contoso", &signer);
	spec.name = "WindowsServer2016";
	spec.version.part[0] = 1;
	spec.disk_bytes = 4096;
	spec.signed_at = time(NULL);
	if (hl_vsc_sign(&spec, signer.cert, signer.key, &der) < 0 ||
	    hl_vsc_parse(der.data, der.len, &vsc) < 0)
		fz_die("cannot make the template fixture");
	hl_buf_free(&der);
	hl_key_free(signer.key);
	hl_cert_free(signer.cert);
	return 0;
}

/* Encrypt the plaintext PT as a .pdk's secrets under FUZZ_PDK_ID, then decrypt and parse it. */
static void secrets(const uint8_t *pt, size_t len)
{
	struct hl_pdk pdk;
	struct hl_buf box = { 0 };
	struct hl_pdk_secrets *s = NULL;

	memset(&pdk, 0, sizeof(pdk));
	snprintf(pdk.id, sizeof(pdk.id), "%s", FUZZ_PDK_ID);
	if (hl_crypto_gcm_encrypt(key, pdk.id, strlen(pdk.id), pt, len, &box) < 0)
		fz_die("cannot encrypt");
	pdk.secrets_nonce.data = box.data;
	pdk.secrets_nonce.len = HL_GCM_IV_LEN;
	pdk.secrets_ciphertext.data = box.data + HL_GCM_IV_LEN;
	pdk.secrets_ciphertext.len = box.len - HL_GCM_IV_LEN;
	if (hl_pdk_decrypt(&pdk, key, &s) == 0)
		hl_pdk_secrets_free(s);
	hl_buf_free(&box);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_in in = { data, size };
	struct hl_buf file = { 0 };
	struct hl_pdk *pdk = NULL;
	struct hl_pdk_secrets *s = NULL;
	size_t which;

	switch (fz_byte(&in) % 3) {
	case 0:
		if (hl_buf_set(&file, in.p, in.n) < 0)
			fz_die("out of memory");
		break;
	case 1:
		fz_envelope(HL_PDK_FORMAT, HL_PDK_VERSION, in.p, in.n, &file);
		break;
	default:
		secrets(in.p, in.n);
		goto out;
	}
	if (hl_pdk_parse(file.data, file.len, &pdk) < 0)
		goto out;
	hl_pdk_verify(pdk, NULL);
	if (hl_pdk_decrypt(pdk, key, &s) == 0)
		hl_pdk_secrets_free(s);
	hl_pdk_match_template(pdk, vsc, &which);
out:
	hl_pdk_free(pdk);
	hl_buf_free(&file);
	hl_error_clear();
	return 0;
}
