/*
 * fuzz_platform_id.c - libFuzzer target: the platform identifier a host
 * exports and `hgs add-tpm-host` reads (proto/platform_id.h).  The input is
 * the document; one that parses must be written again from what was read
 * (hgs_platform_id_write) and parse back to the same host and EK
 * fingerprint (abort otherwise).
 */
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"
#include "proto/platform_id.h"
#include "tests/fuzz/fuzzutil.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hgs_platform_id *id = NULL, *back = NULL;
	char *text = NULL;

	if (hgs_platform_id_parse(data, size, &id) == 0) {
		if (hgs_platform_id_write(id->host, id->ek, id->ek_cert, NULL, 0, &text) < 0 ||
		    hgs_platform_id_parse(text, strlen(text), &back) < 0 ||
		    strcmp(id->host, back->host) != 0 ||
		    strcmp(id->ek_fingerprint, back->ek_fingerprint) != 0)
			fz_fail("a platform identifier read does not write and read back the same");
	}
	free(text);
	hgs_platform_id_free(back);
	hgs_platform_id_free(id);
	hl_error_clear();
	return 0;
}
