/*
 * cmd_bench_fabric.c - `hgslab bench fabric`: N guarded hosts, each a real
 * swtpm, brought up from cold against one HGS node, then a re-attestation
 * storm (sim/bench_fabric does the work; this file reads the options).
 *
 * The TPM states come from a cache kept between runs (--cache, else
 * $HGSLAB_TPM_CACHE, else build/cache/tpm-states of the checkout, else
 * ~/.cache/hgslab/tpm-states), filled as needed on first use.
 */
#include <stdlib.h>

#include "sim/bench.h"
#include "sim/bench_fabric.h"
#include "cmd/commands.h"

#define FABRIC_HOSTS_DEFAULT 100
#define FABRIC_WORKERS_DEFAULT 8
#define FABRIC_WORKERS_MAX 256

const struct hl_opt cmd_bench_fabric_opts[] = {
	{ "hosts", 'n', HL_OPT_INT, "N", "guarded hosts, each a swtpm, 1-2000 (default 100)", 0 },
	{ "workers", 'w', HL_OPT_INT, "W", "threads of the shared agent driving the hosts, 1-256 "
	  "(default 8)", 0 },
	{ "cache", 0, HL_OPT_STRING, "DIR", "the TPM state cache (default $HGSLAB_TPM_CACHE, else "
	  "build/cache/tpm-states of the checkout, else ~/.cache/hgslab/tpm-states)", 0 },
	{ "workdir", 0, HL_OPT_STRING, "DIR",
	  "make the lab's temporary directory inside DIR (default $TMPDIR or /tmp)", 0 },
	{ "keep", 0, HL_OPT_FLAG, NULL,
	  "keep the lab directory (TPM states, HGS node, logs) and print where it is", 0 },
	{ "json", 0, HL_OPT_FLAG, NULL, "print the results as JSON (progress stays on stderr)", 0 },
	{ NULL, 0, 0, NULL, NULL, 0 },
};

/* `hgslab bench fabric`. */
int cmd_bench_fabric(struct hl_cmd_ctx *ctx)
{
	struct bench_fabric_opts o = { 0 };
	char *cache = NULL;
	int rc;

	o.hosts = hl_opts_int(&ctx->opts, "hosts", FABRIC_HOSTS_DEFAULT);
	o.workers = hl_opts_int(&ctx->opts, "workers", FABRIC_WORKERS_DEFAULT);
	o.workdir = hl_opts_str(&ctx->opts, "workdir", NULL);
	o.keep = hl_opts_flag(&ctx->opts, "keep");
	o.json = hl_opts_flag(&ctx->opts, "json");
	if (o.hosts < 1 || o.hosts > BENCH_FABRIC_HOSTS_MAX)
		return hl_cmd_fail(HL_EXIT_USAGE, "--hosts must be 1 to %d, not %ld",
				   BENCH_FABRIC_HOSTS_MAX, o.hosts);
	if (o.workers < 1 || o.workers > FABRIC_WORKERS_MAX)
		return hl_cmd_fail(HL_EXIT_USAGE, "--workers must be 1 to %d, not %ld",
				   FABRIC_WORKERS_MAX, o.workers);
	if (tpm_cache_dir(hl_opts_str(&ctx->opts, "cache", NULL), &cache) < 0)
		return hl_cmd_fail(HL_EXIT_FAILURE, "bench fabric: %s", hl_error_last());
	o.cache = cache;
	if (bench_signals_install() < 0) {
		free(cache);
		return hl_cmd_fail(HL_EXIT_FAILURE, "%s", hl_error_last());
	}
	rc = bench_fabric_run(&o);
	bench_signals_restore();
	free(cache);
	if (rc < 0)
		return hl_cmd_fail(hl_cmd_exit_code(bench_interrupt_signal()), "bench fabric: %s",
				   hl_error_last());
	return HL_EXIT_OK;
}
