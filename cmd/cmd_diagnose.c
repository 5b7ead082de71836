/*
 * cmd_diagnose.c - `hgslab diagnose`: the lab's self-checks (sim/diag.c),
 * human-readable or as JSON.  Exit 0 when no check failed, 5 otherwise.
 */
#include <stdio.h>

#include "cmd/commands.h"
#include "cmd/output.h"
#include "sim/diag.h"

const struct hl_opt cmd_diagnose_opts[] = {
	{ "json", 0, HL_OPT_FLAG, NULL, "print the checks as JSON", 0 },
	{ NULL, 0, 0, NULL, NULL, 0 },
};

/* Run the checks and report. */
int cmd_diagnose(struct hl_cmd_ctx *ctx)
{
	int json = hl_opts_flag(&ctx->opts, "json");
	json_t *results = json_array();
	int failed, code = HL_EXIT_OK;

	if (!results)
		return hl_cmd_fail(HL_EXIT_FAILURE, "out of memory");
	if (!json)
		printf("hgslab diagnose: checking this machine and the lab's parts\n");
	failed = hl_diag_run(results, !json);
	if (json) {
		json_t *o = json_pack("{s:O, s:i}", "Checks", results, "Failed", failed);

		code = o ? hl_out_json(o) : hl_cmd_fail(HL_EXIT_FAILURE, "out of memory");
		json_decref(o);
	} else {
		printf("%d check%s failed\n", failed, failed == 1 ? "" : "s");
	}
	json_decref(results);
	if (code != HL_EXIT_OK)
		return code;
	return failed ? HL_EXIT_MISSING_DEP : HL_EXIT_OK;
}
