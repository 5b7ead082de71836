/*
 * cmd_diagnose.c - `hgslab diagnose`.  Without a fabric named, the lab's
 * self-checks of this machine (sim/diag.c): exit 0 when none failed, 5
 * otherwise.  With --workdir (the `up` lab) or --hgs / --host directories,
 * the diagnostics of that running fabric (sim/diag_fabric.c) as a tree of
 * Pass / Warning / Fail with remedies: exit 0 when no check failed, 4 (a
 * check said no) otherwise.  --json prints either as JSON.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "cmd/commands.h"
#include "cmd/output.h"
#include "lib/err.h"
#include "proto/remedy.h"
#include "sim/diag.h"

const struct hl_opt cmd_diagnose_opts[] = {
	{ "workdir", 'w', HL_OPT_STRING, "DIR", "diagnose the fabric `hgslab up` runs in DIR", 0 },
	{ "lab", 0, HL_OPT_FLAG, NULL, "diagnose the fabric of `hgslab up`'s default lab directory", 0 },
	{ "hgs", 0, HL_OPT_LIST, "DIR", "diagnose the HGS node in DIR (repeatable)", 0 },
	{ "host", 0, HL_OPT_LIST, "DIR", "diagnose the host in DIR (repeatable; checked against the first --hgs)", 0 },
	{ "remedies", 0, HL_OPT_FLAG, NULL, "print the remedy table (status, sub-status, KPS reason)", 0 },
	{ "json", 0, HL_OPT_FLAG, NULL, "print the checks as JSON", 0 },
	{ NULL, 0, 0, NULL, NULL, 0 },
};

/* The remedy table, as rows. */
static int print_remedies(struct hl_cmd_ctx *ctx)
{
	static const char *const cols[] = { "Kind", "Name", "Remedy", NULL };
	json_t *rows = json_array();
	int code;

	if (!rows)
		return hl_cmd_fail(HL_EXIT_FAILURE, "out of memory");
	for (const struct hl_remedy *r = hl_remedies; r->name; r++)
		json_array_append_new(rows, json_pack("{s:s, s:s, s:s}", "Kind", hl_remedy_kind_name(r->kind),
						      "Name", r->name, "Remedy", r->remedy));
	code = hl_out_rows(ctx, rows, cols, "no remedies");
	json_decref(rows);
	return code;
}

/* The machine's self-checks. */
static int diagnose_machine(int json)
{
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

/* The default lab directory of `hgslab up` into BUF. */
static void default_lab(char *buf, size_t size)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(buf, size, "%s/hgslab-up-%u", tmp && *tmp ? tmp : "/tmp", (unsigned)getuid());
}

/* Run the fabric diagnostics. */
int cmd_diagnose(struct hl_cmd_ctx *ctx)
{
	const struct hl_optval *hgs = hl_opts_get(&ctx->opts, "hgs"), *hosts = hl_opts_get(&ctx->opts, "host");
	const char *work = hl_opts_str(&ctx->opts, "workdir", NULL);
	int json = hl_opts_flag(&ctx->opts, "json"), failed, code;
	struct hl_diag_fabric f = { 0 };
	json_t *lab = NULL, *tree = NULL;
	char deflab[PATH_MAX];
	size_t i;

	if (hl_opts_flag(&ctx->opts, "remedies"))
		return print_remedies(ctx);
	if (hl_opts_flag(&ctx->opts, "lab") && !work) {
		default_lab(deflab, sizeof(deflab));
		work = deflab;
	}
	if (!work && !hgs->n && !hosts->n)
		return diagnose_machine(json);
	if (work && (hgs->n || hosts->n))
		return hl_cmd_fail(HL_EXIT_USAGE, "give either the lab (--workdir) or --hgs/--host directories");
	if (work) {
		if (hl_diag_fabric_from_lab(work, &lab, &f) < 0)
			return hl_cmd_fail(HL_EXIT_USAGE, "%s", hl_error_last());
	} else {
		f.hgs = calloc(hgs->n + 1, sizeof(*f.hgs));
		f.hosts = calloc(hosts->n + 1, sizeof(*f.hosts));
		if (!f.hgs || !f.hosts) {
			hl_diag_fabric_release(&f);
			return hl_cmd_fail(HL_EXIT_FAILURE, "out of memory");
		}
		for (i = 0; i < hgs->n; i++) {
			if (hl_diag_check_dir(hgs->list[i], "hgs") < 0)
				goto bad;
			f.hgs[f.n_hgs++].dir = hgs->list[i];
		}
		for (i = 0; i < hosts->n; i++) {
			if (hl_diag_check_dir(hosts->list[i], "host") < 0)
				goto bad;
			f.hosts[f.n_hosts].dir = hosts->list[i];
			f.hosts[f.n_hosts++].hgs = hgs->n ? 0 : -1;
		}
	}
	failed = hl_diag_fabric_run(&f, &tree);
	if (failed < 0) {
		code = hl_cmd_fail(HL_EXIT_FAILURE, "%s", hl_error_last());
	} else if (json) {
		code = hl_out_json(tree);
	} else {
		hl_diag_fabric_print(stdout, tree);
		code = HL_EXIT_OK;
	}
	if (code == HL_EXIT_OK && failed > 0)
		code = HL_EXIT_REFUSED;
	json_decref(tree);
	json_decref(lab);
	hl_diag_fabric_release(&f);
	return code;
bad:
	hl_diag_fabric_release(&f);
	return hl_cmd_fail(HL_EXIT_USAGE, "%s", hl_error_last());
}
