/*
 * cmd_pgsql.c - `hgslab pgsql start|stop|url`: a throw-away PostgreSQL
 * server in a folder of its own (lib/pgserver.h), for HGS nodes that share
 * their state in PostgreSQL (docs/storage.md).  start creates the server
 * the first time and prints the URI of its database, which `hgs init` /
 * `hgs add-node --store` take; stop ends it; url prints the URI again.
 */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "cmd/commands.h"
#include "cmd/output.h"
#include "lib/crypto.h"
#include "lib/pgserver.h"
#include "lib/served.h"

const struct hl_opt cmd_pgsql_start_opts[] = {
	{ "dir", 0, HL_OPT_STRING, "DIR", "the server's folder (created when missing)",
	  HL_OPT_REQUIRED },
	{ "listen", 0, HL_OPT_STRING, "ADDR:PORT",
	  "address and port for a new server (default 127.0.0.1 and a free port)", 0 },
	{ "passfile", 0, HL_OPT_FLAG, NULL, "print a URI without the password, naming DIR/pgpass "
	  "(libpq's password file) instead: one that may go on a command line", 0 },
	{ "json", 0, HL_OPT_FLAG, NULL, "print JSON (Uri, Dir, Pid)", 0 },
	{ NULL, 0, 0, NULL, NULL, 0 },
};

const struct hl_opt cmd_pgsql_url_opts[] = {
	{ "dir", 0, HL_OPT_STRING, "DIR", "the server's folder", HL_OPT_REQUIRED },
	{ "passfile", 0, HL_OPT_FLAG, NULL, "a URI without the password, naming DIR/pgpass "
	  "(libpq's password file) instead: one that may go on a command line", 0 },
	{ "json", 0, HL_OPT_FLAG, NULL, "print JSON", 0 },
	{ NULL, 0, 0, NULL, NULL, 0 },
};

const struct hl_opt cmd_pgsql_dir_opts[] = {
	{ "dir", 0, HL_OPT_STRING, "DIR", "the server's folder", HL_OPT_REQUIRED },
	{ "json", 0, HL_OPT_FLAG, NULL, "print JSON", 0 },
	{ NULL, 0, 0, NULL, NULL, 0 },
};

/* Print DIR's URI (and, with --json, its pid): the output of start and url. */
static int print_uri(struct hl_cmd_ctx *ctx, const char *dir)
{
	char uri[HL_PGSERVER_URI_SIZE];
	json_t *o;
	int code;

	if ((hl_opts_flag(&ctx->opts, "passfile") ? hl_pgserver_uri_passfile(dir, NULL, uri, sizeof(uri))
	     : hl_pgserver_uri(dir, NULL, uri, sizeof(uri))) < 0)
		return hl_cmd_fail(HL_EXIT_FAILURE, "%s", hl_error_last());
	if (!hl_opts_flag(&ctx->opts, "json")) {
		printf("%s\n", uri);
		hl_crypto_cleanse(uri, sizeof(uri));
		return HL_EXIT_OK;
	}
	o = json_pack("{s:s, s:s, s:I}", "Uri", uri, "Dir", dir, "Pid",
		      (json_int_t)hl_pgserver_pid(dir));
	code = o ? hl_out_json(o) : hl_cmd_fail(HL_EXIT_FAILURE, "out of memory");
	json_decref(o);
	hl_crypto_cleanse(uri, sizeof(uri));
	return code;
}

/* `pgsql start`: create when new, start, print the URI. */
int cmd_pgsql_start(struct hl_cmd_ctx *ctx)
{
	const char *dir = hl_opts_str(&ctx->opts, "dir", NULL);
	const char *listen = hl_opts_str(&ctx->opts, "listen", NULL);
	char addr[16] = "";
	unsigned short port = 0;

	if (listen && hl_served_parse_listen(listen, addr, &port) < 0)
		return hl_cmd_fail(HL_EXIT_USAGE, "%s", hl_error_last());
	if (hl_pgserver_start(dir, listen ? addr : NULL, port) < 0)
		return hl_cmd_fail(HL_EXIT_FAILURE, "%s", hl_error_last());
	return print_uri(ctx, dir);
}

/* `pgsql stop`: fast shutdown, waited for. */
int cmd_pgsql_stop(struct hl_cmd_ctx *ctx)
{
	const char *dir = hl_opts_str(&ctx->opts, "dir", NULL);
	long pid = (long)hl_pgserver_pid(dir);

	if (hl_pgserver_stop(dir) < 0)
		return hl_cmd_fail(HL_EXIT_FAILURE, "%s", hl_error_last());
	if (hl_opts_flag(&ctx->opts, "json")) {
		json_t *o = json_pack("{s:s, s:b, s:I}", "Dir", dir, "WasRunning", pid != 0,
				      "Pid", (json_int_t)pid);
		int code = o ? hl_out_json(o) : hl_cmd_fail(HL_EXIT_FAILURE, "out of memory");

		json_decref(o);
		return code;
	}
	if (pid)
		printf("pgsql: stopped the server in %s (pid %ld)\n", dir, pid);
	else
		printf("pgsql: no server runs in %s\n", dir);
	return HL_EXIT_OK;
}

/* `pgsql url`: the URI of the server's database. */
int cmd_pgsql_url(struct hl_cmd_ctx *ctx)
{
	return print_uri(ctx, hl_opts_str(&ctx->opts, "dir", NULL));
}
