/*
 * fuzz_tcglog.c - libFuzzer target: a TCG event log as HGS reads the one a
 * host sends (/tpm/attest) and the baseline `hgs add-tpm-policy` registers.
 *
 * The input is the log file.  It goes through the parser
 * (hl_tcglog_parse, proto/tcglog.h) and, when it parses, through every
 * reader of a parsed log: the bank and data checks, the replay, the
 * listing, the boot configuration (hl_wbcl_read) and the Hgs_* policies
 * with every policy enabled (what hgs_policy_check_baseline also runs).
 * Seeds: the firmware logs of tests/data/tcglogs and the logs the lab's
 * hosts write (tests/fuzz/make-seeds.sh).
 */
#include <stdio.h>
#include <stdlib.h>

#include "hgs/policy.h"
#include "lib/err.h"
#include "proto/tcglog.h"
#include "proto/wbcl.h"
#include "tests/fuzz/fuzzutil.h"

static FILE *devnull;
static const char *enabled[32];
static size_t n_enabled;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fz_quiet();
	if (!(devnull = fopen("/dev/null", "w")))
		abort();
	n_enabled = fz_policy_names(enabled, 32);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hl_tcglog *log = NULL;
	struct hl_tcglog_pcrs *pcrs = NULL;
	struct hl_tcglog_mismatch *bad = NULL;
	struct hl_wbcl_config cfg;
	struct hgs_policy_input in = { 0 };
	struct hgs_result res;
	size_t nbad = 0;

	if (hl_tcglog_parse(data, size, &log) < 0)
		goto out;
	hl_tcglog_has_bank(log, HL_TCGLOG_ALG_SHA1);
	hl_tcglog_check_data(log, &bad, &nbad);
	if (hl_tcglog_replay(log, &pcrs) == 0 && hl_tcglog_require_sha256(log) == 0 &&
	    hl_tcglog_require_data_ok(log) == 0)
		in.replayed = hl_tcglog_pcrs_bank(pcrs, HL_TCGLOG_ALG_SHA256);
	hl_tcglog_dump(log, devnull);
	hl_wbcl_read(log, &cfg);
	in.log = log;
	in.enabled = enabled;
	in.n_enabled = n_enabled;
	hgs_policy_evaluate(&in, &res);
out:
	free(bad);
	hl_tcglog_pcrs_free(pcrs);
	hl_tcglog_free(log);
	hl_error_clear();
	return 0;
}
