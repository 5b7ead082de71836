/*
 * cmd_version.c - `hgslab version`: the program version and the versions of
 * the libraries it was built with.
 */
#include <jansson.h>
#include <libpq-fe.h>
#include <openssl/opensslv.h>
#include <sqlite3.h>
#include <stdio.h>

#include "cmd/commands.h"
#include "cmd/output.h"
#include "cmd/version.h"

const struct hl_opt cmd_version_opts[] = {
	{ "json", 0, HL_OPT_FLAG, NULL, "print JSON", 0 },
	{ NULL, 0, 0, NULL, NULL, 0 },
};

/* Print the version, human or JSON. */
int cmd_version(struct hl_cmd_ctx *ctx)
{
	int code;

	if (hl_opts_flag(&ctx->opts, "json")) {
		char pq[16];
		json_t *o;
		int v = PQlibVersion();

		snprintf(pq, sizeof(pq), "%d.%d", v / 10000, v % 10000);
		o = json_pack("{s:s, s:s, s:s, s:s, s:s}", "Hgslab", HGSLAB_VERSION, "OpenSsl",
			      OPENSSL_VERSION_TEXT, "Sqlite", sqlite3_libversion(), "Libpq", pq,
			      "Jansson", JANSSON_VERSION);
		code = o ? hl_out_json(o) : hl_cmd_fail(HL_EXIT_FAILURE, "out of memory");
		json_decref(o);
		return code;
	}
	printf("hgslab %s\n", HGSLAB_VERSION);
	return HL_EXIT_OK;
}
