/*
 * cmd_host_pcr.c - `hgslab host get-pcr-values`: the PCR values a TCG log
 * replays to, bank by bank, so a user can put hgslab's reading of a log
 * beside `tpm2_eventlog` and beside a quote.  The log is parsed and replayed
 * by proto/tcglog (the replay HGS itself uses); nothing here reads the
 * format.  One row per PCR and bank (Bank, Pcr, Digest), a table for people
 * and the same rows with --json.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "hosts/host.h"
#include "lib/crypto.h"
#include "lib/served.h"
#include "cmd/cmdutil.h"
#include "cmd/commands.h"
#include "cmd/output.h"
#include "proto/tcglog.h"

const struct hl_opt cmd_host_pcr_values_opts[] = {
	{ "tcglog", 0, HL_OPT_STRING, "FILE", "the TCG log (e.g. from `host get-baseline-policy`)", 0 },
	{ "dir", 'd', HL_OPT_STRING, "DIR", "a host directory: its last boot's tcglog.bin", 0 },
	{ "bank", 'b', HL_OPT_STRING, "BANK", "sha256, sha1 or all (default all)", 0 },
	{ "all-pcrs", 0, HL_OPT_FLAG, NULL, "also the PCRs the log never extends (0-23)", 0 },
	HL_CMD_OPT_JSON,
	HL_CMD_OPT_END,
};

/* Append BANK's PCRs (every one when ALL, else those the log extended) to ROWS. */
static int bank_rows(const struct hl_tcglog_bank *bank, int all, json_t *rows)
{
	char hex[2 * HL_TCGLOG_MAX_DIGEST + 1];
	json_t *o;

	for (unsigned pcr = 0; pcr < HL_TCGLOG_PCRS; pcr++) {
		if (!all && !(bank->extended & (1u << pcr)))
			continue;
		if (hl_crypto_hex_encode(bank->pcr[pcr], bank->size, hex, sizeof(hex)) < 0)
			return -1;
		for (char *c = hex; *c; c++)  /* lowercase, as tpm2_eventlog prints them */
			*c = (char)tolower((unsigned char)*c);
		o = json_pack("{s:s, s:i, s:s}", "Bank", hl_tcglog_alg_name(bank->alg), "Pcr",
			      (int)pcr, "Digest", hex);
		if (!o || json_array_append_new(rows, o) < 0)
			return hl_error("out of memory");
	}
	return 0;
}

/* The names of LOG's replayed banks, ", "-joined, into BUF. */
static void bank_names(const struct hl_tcglog_pcrs *pcrs, char *buf, size_t size)
{
	size_t n = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < pcrs->nbanks && n < size; i++)
		n += (size_t)snprintf(buf + n, size - n, "%s%s", i ? ", " : "",
				      hl_tcglog_alg_name(pcrs->banks[i].alg));
}

/* `host get-pcr-values`: replay a TCG log and print its PCRs per bank. */
int cmd_host_get_pcr_values(struct hl_cmd_ctx *ctx)
{
	static const char *const cols[] = { "Bank", "Pcr", "Digest", NULL };
	const char *file = hl_opts_str(&ctx->opts, "tcglog", NULL);
	const char *dir = hl_opts_str(&ctx->opts, "dir", NULL);
	const char *bank = hl_opts_str(&ctx->opts, "bank", "all");
	int all = hl_opts_flag(&ctx->opts, "all-pcrs");
	struct hl_tcglog_pcrs *pcrs = NULL;
	struct hl_tcglog *log = NULL;
	char path[PATH_MAX], names[128], *buf = NULL;
	json_t *rows = NULL;
	uint16_t alg = 0;
	size_t len = 0;
	int code;

	if (!file == !dir)
		return hl_cmd_fail(HL_EXIT_USAGE, "give the log: --tcglog FILE or --dir HOSTDIR (one "
				   "of them)");
	if (strcmp(bank, "all") != 0 && hl_tcglog_alg_from_name(bank, &alg) < 0)
		return hl_cmd_fail(HL_EXIT_USAGE, "invalid --bank '%s': give sha256, sha1 or all",
				   bank);
	if (dir) {
		if (hl_served_path(dir, HOST_TCGLOG_FILE, path, sizeof(path)) < 0)
			return hl_cmd_fail(HL_EXIT_USAGE, "%s", hl_error_last());
		file = path;
	}
	if ((code = hl_cmd_read_file(file, "TCG log", HL_TCGLOG_MAX_SIZE, &buf, &len)) != HL_EXIT_OK)
		return code;
	if (hl_tcglog_parse((const uint8_t *)buf, len, &log) < 0 ||
	    hl_tcglog_replay(log, &pcrs) < 0) {
		code = hl_cmd_fail(HL_EXIT_USAGE, "'%s' is not a TCG log that can be replayed: %s",
				   file, hl_error_last());
		goto out;
	}
	if (alg && !hl_tcglog_pcrs_bank(pcrs, alg)) {
		bank_names(pcrs, names, sizeof(names));
		code = hl_cmd_fail(HL_EXIT_USAGE, "the TCG log '%s' has no %s bank; its banks: %s",
				   file, bank, names[0] ? names : "none");
		goto out;
	}
	if (!(rows = json_array())) {
		code = hl_cmd_fail(HL_EXIT_FAILURE, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < pcrs->nbanks; i++) {
		if (alg && pcrs->banks[i].alg != alg)
			continue;
		if (bank_rows(&pcrs->banks[i], all, rows) < 0) {
			code = hl_cmd_fail(HL_EXIT_FAILURE, "%s", hl_error_last());
			goto out;
		}
	}
	code = hl_cmd_out_rows(ctx, 0, rows, cols, "the TCG log extends no PCR");
out:
	json_decref(rows);
	hl_tcglog_pcrs_free(pcrs);
	hl_tcglog_free(log);
	free(buf);
	return code;
}
