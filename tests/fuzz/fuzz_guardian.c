/*
 * fuzz_guardian.c - libFuzzer target: the guardian metadata XML
 * (tenant/guardian.h) that `tenant import-guardian` reads from a file or
 * from an HGS's metadata URL.  The input is the document; one that parses
 * goes through Import-HgsGuardian's trust check (with and without a
 * trusted root) and must be written again (hl_guardian_metadata_write) and
 * parse back to the same name and certificates (abort otherwise).
 */
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"
#include "tenant/guardian.h"
#include "tests/fuzz/fuzzutil.h"

static struct fz_keypair root;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fz_quiet();
	fz_keypair_make(HL_KEY_EC_P256, "Fuzz Root", &root);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hl_guardian_metadata *md = NULL, *back = NULL;
	struct hl_buf xml = { 0 };
	char t1[HL_SHA256_HEX_SIZE], t2[HL_SHA256_HEX_SIZE];

	if (hl_guardian_metadata_parse(data, size, &md) < 0)
		goto out;
	hl_guardian_metadata_trust(md, NULL, 0);
	hl_guardian_metadata_trust(md, NULL, 1);
	hl_guardian_metadata_trust(md, root.cert, 0);
	if (hl_guardian_metadata_write(md->name, md->signing_cert, md->encryption_cert, &xml) < 0 ||
	    hl_guardian_metadata_parse(xml.data, xml.len, &back) < 0 ||
	    strcmp(md->name, back->name) != 0)
		fz_fail("guardian metadata read does not write and read back the same");
	if (hl_cert_thumbprint(md->signing_cert, t1) < 0 ||
	    hl_cert_thumbprint(back->signing_cert, t2) < 0 || strcmp(t1, t2) != 0 ||
	    hl_cert_thumbprint(md->encryption_cert, t1) < 0 ||
	    hl_cert_thumbprint(back->encryption_cert, t2) < 0 || strcmp(t1, t2) != 0)
		fz_fail("guardian metadata certificates changed in a write and read back");
out:
	hl_buf_free(&xml);
	hl_guardian_metadata_free(back);
	hl_guardian_metadata_free(md);
	hl_error_clear();
	return 0;
}
