/*
 * fuzz_viq.c - libFuzzer target: the volume ID qualifier (.viq,
 * proto/vsc_viq.h) a tenant gives new-shielding-data-file.  The input is
 * the file; one that parses must be written (hl_viq_write) and read back
 * the same (abort otherwise).
 */
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"
#include "proto/vsc_viq.h"
#include "tests/fuzz/fuzzutil.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hl_viq q, back;
	struct hl_buf buf = { 0 };
	char line[512];

	if (hl_viq_parse(data, size, &q) == 0) {
		hl_viq_describe(&q, line, sizeof(line));
		if (hl_viq_write(&q, &buf) < 0 || hl_viq_parse(buf.data, buf.len, &back) < 0 ||
		    strcmp(q.name, back.name) != 0 ||
		    strcmp(q.signer_thumbprint, back.signer_thumbprint) != 0 ||
		    memcmp(q.disk_version.part, back.disk_version.part, sizeof(q.disk_version.part)) ||
		    q.rule != back.rule)
			fz_fail("a .viq read does not write and read back the same");
		hl_buf_free(&buf);
	}
	hl_error_clear();
	return 0;
}
