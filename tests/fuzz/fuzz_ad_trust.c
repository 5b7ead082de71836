/*
 * fuzz_ad_trust.c - libFuzzer target: the trust document of AD mode
 * (proto/ad_trust.h) that `hgs add-trusted-domain` and every AD
 * attestation read.  The input is the document; one that parses must be
 * written again (ad_trust_write) and parse back to the same domain, SID,
 * DC and thumbprint (abort otherwise).
 */
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"
#include "lib/json.h"
#include "proto/ad_trust.h"
#include "tests/fuzz/fuzzutil.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ad_trust *t = NULL, *back = NULL;
	json_t *doc = NULL;
	char *text = NULL;

	if (ad_trust_parse(data, size, &t) == 0) {
		if (ad_trust_write(t->domain, t->domain_sid, t->dc, t->dc_cert, &doc) < 0 ||
		    hl_json_dump(doc, &text) < 0 || ad_trust_parse(text, strlen(text), &back) < 0 ||
		    strcmp(t->domain, back->domain) != 0 ||
		    strcmp(t->domain_sid, back->domain_sid) != 0 || strcmp(t->dc, back->dc) != 0 ||
		    strcmp(t->dc_thumbprint, back->dc_thumbprint) != 0)
			fz_fail("a trust document read does not write and read back the same");
	}
	free(text);
	json_decref(doc);
	ad_trust_free(back);
	ad_trust_free(t);
	hl_error_clear();
	return 0;
}
