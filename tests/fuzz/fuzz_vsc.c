/*
 * fuzz_vsc.c - libFuzzer target: the volume signature catalog (.vsc,
 * proto/vsc.h) the tenant, the host and the guest agent read, with the
 * CMS reader under it (lib/crypto hl_cms_parse, hl_cms_verify) and the
 * volume ID qualifiers made from and matched against it (proto/vsc_viq.h).
 *
 * The first input byte picks how the rest is used:
 *   even  the rest is a .vsc file (DER): parsed, verified, checked
 *         against an image, turned into a qualifier of each rule and matched;
 *   odd   the rest is the signed JSON content: signed here with a P-256
 *         fixture (hl_cms_sign), so the content checks behind the CMS
 *         layer are fuzzed; a content that parses must then verify (abort
 *         otherwise: the reader and the signer disagree).
 */
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"
#include "proto/vsc.h"
#include "proto/vsc_viq.h"
#include "tests/fuzz/fuzzutil.h"

static struct fz_keypair signer;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fz_quiet();
	fz_keypair_make(HL_KEY_EC_P256, "Fuzz Template Signer", &signer);
	return 0;
}

/* What a reader does with a parsed VSC; SIGNED: it came from our signer, so it must verify. */
static void use(const struct hl_vsc *vsc, int signed_here)
{
	static const enum hl_viq_rule rules[] = { HL_VIQ_EQUALS, HL_VIQ_GREATER_THAN,
						  HL_VIQ_GREATER_THAN_OR_EQUALS };
	unsigned char zero[HL_SHA256_LEN] = { 0 };
	struct hl_viq q;
	json_t *o = NULL;
	char line[512];

	if (hl_vsc_verify(vsc) < 0 && signed_here)
		fz_fail("a VSC signed here does not verify");
	hl_vsc_check_image(vsc, vsc->disk_sha256, vsc->disk_bytes);
	hl_vsc_check_image(vsc, zero, 4096);
	for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
		if (hl_viq_from_vsc(vsc, rules[i], &q) < 0)
			continue;
		hl_viq_match(&q, vsc);
		hl_viq_describe(&q, line, sizeof(line));
		if (hl_viq_to_json(&q, &o) == 0) {
			struct hl_viq back;

			if (hl_viq_from_json(o, &back) < 0)
				fz_fail("a qualifier does not read back from its own JSON");
			json_decref(o);
			o = NULL;
		}
	}
	hl_error_clear();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_in in = { data, size };
	struct hl_buf der = { 0 };
	struct hl_vsc *vsc = NULL;
	int signed_here = fz_byte(&in) & 1;

	if (signed_here) {
		if (hl_cms_sign(signer.cert, signer.key, in.p, in.n, &der) < 0)
			goto out;
	} else {
		if (hl_buf_set(&der, in.p, in.n) < 0)
			fz_die("out of memory");
		hl_cms_verify(der.data, der.len);
	}
	if (hl_vsc_parse(der.data, der.len, &vsc) == 0)
		use(vsc, signed_here);
out:
	hl_vsc_free(vsc);
	hl_buf_free(&der);
	hl_error_clear();
	return 0;
}
