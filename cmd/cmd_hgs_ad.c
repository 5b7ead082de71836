/*
 * cmd_hgs_ad.c - the `hgslab hgs` verbs for AD mode's trust: which fabric
 * domains the HGS domain (relecloud.com) trusts, modelling the one-way forest
 * trust an HGS administrator sets up to the fabric domain before
 * Add-HgsAttestationHostGroup can name its groups.  add-trusted-domain takes
 * the document `hgslab fabric export-trust` writes; the trusts live in
 * NODE/trusted-domains/ (hgs/attest_ad.h) and take effect on a running
 * `hgs serve` at once.  Human output is a table; --json prints the objects.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "hgs/attest_ad.h"
#include "hgs/node.h"
#include "lib/fileio.h"
#include "lib/json.h"
#include "cmd/cmdutil.h"
#include "cmd/commands.h"
#include "cmd/output.h"

#define OPT_DIR { "dir", 'd', HL_OPT_STRING, "DIR", "the HGS node directory", HL_OPT_REQUIRED }

const struct hl_opt cmd_hgs_add_trusted_domain_opts[] = {
	OPT_DIR,
	{ "file", 0, HL_OPT_STRING, "FILE",
	  "the fabric domain's trust document (`hgslab fabric export-trust`)", HL_OPT_REQUIRED },
	{ "force", 'f', HL_OPT_FLAG, NULL, "replace the trust of a domain already trusted", 0 },
	HL_CMD_OPT_JSON,
	HL_CMD_OPT_END,
};

const struct hl_opt cmd_hgs_get_trusted_domain_opts[] = {
	OPT_DIR,
	{ "domain", 0, HL_OPT_STRING, "DOMAIN", "show only this domain", 0 },
	HL_CMD_OPT_JSON,
	HL_CMD_OPT_END,
};

const struct hl_opt cmd_hgs_remove_trusted_domain_opts[] = {
	OPT_DIR,
	{ "domain", 0, HL_OPT_STRING, "DOMAIN", "the domain to stop trusting, e.g. fabrikam.com",
	  HL_OPT_REQUIRED },
	HL_CMD_OPT_JSON,
	HL_CMD_OPT_END,
};

/* The string member KEY of O, or "". */
static const char *str_of(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "";
}

/* Print trust rows as a table (as Get-ADTrust lists them). */
static void print_trusts(const json_t *rows)
{
	size_t i, wn = 4, ws = 9, wd = 16;
	json_t *r;

	json_array_foreach(rows, i, r) {
		if (strlen(str_of(r, "Name")) > wn)
			wn = strlen(str_of(r, "Name"));
		if (strlen(str_of(r, "DomainSid")) > ws)
			ws = strlen(str_of(r, "DomainSid"));
		if (strlen(str_of(r, "DomainController")) > wd)
			wd = strlen(str_of(r, "DomainController"));
	}
	printf("%-*s %-*s %-9s %-*s %-16s %s\n", (int)wn, "Name", (int)ws, "DomainSid", "Direction",
	       (int)wd, "DomainController", "DcThumbprint", "Added");
	printf("%-*s %-*s %-9s %-*s %-16s %s\n", (int)wn, "----", (int)ws, "---------", "---------",
	       (int)wd, "----------------", "------------", "-----");
	json_array_foreach(rows, i, r)
		printf("%-*s %-*s %-9s %-*s %.16s %s\n", (int)wn, str_of(r, "Name"), (int)ws,
		       str_of(r, "DomainSid"), str_of(r, "Direction"), (int)wd,
		       str_of(r, "DomainController"), str_of(r, "DcThumbprint"), str_of(r, "Added"));
}

/* Print the trust of DOMAIN (JSON object or a one-row table); an exit code. */
static int print_one(const struct hl_cmd_ctx *ctx, struct hgs_node *node, const char *domain)
{
	json_t *rows = NULL;
	int code = HL_EXIT_OK;

	if (hgs_ad_trust_list(node, domain, &rows) < 0)
		return hl_cmd_fail(HL_EXIT_FAILURE, "%s", hl_error_last());
	if (hl_opts_flag(&ctx->opts, "json"))
		code = hl_out_json(json_array_get(rows, 0));
	else
		print_trusts(rows);
	json_decref(rows);
	return code;
}

/* `hgs add-trusted-domain`: trust a fabric domain (its export-trust document). */
int cmd_hgs_add_trusted_domain(struct hl_cmd_ctx *ctx)
{
	const char *file = hl_opts_str(&ctx->opts, "file", NULL);
	struct ad_trust *trust = NULL;
	struct hgs_node *node = NULL;
	char domain[HGS_DOMAIN_MAX], *buf = NULL;
	size_t len = 0;
	int code;

	if ((code = hl_cmd_read_file(file, "trust document", HL_FILE_READ_MAX, &buf, &len)) !=
	    HL_EXIT_OK)
		return code;
	if (ad_trust_parse(buf, len, &trust) < 0) {
		code = hl_cmd_fail(HL_EXIT_USAGE, "invalid trust document '%s': %s", file,
				   hl_error_last());
		goto out;
	}
	if ((code = hl_cmd_hgs_open(ctx, &node)) != HL_EXIT_OK)
		goto out;
	if (hgs_ad_trust_add(node, buf, len, hl_opts_flag(&ctx->opts, "force"), domain,
			     sizeof(domain)) < 0) {
		code = hl_cmd_fail(HL_EXIT_FAILURE, "cannot add the trusted domain from '%s': %s",
				   file, hl_error_last());
		goto out;
	}
	code = print_one(ctx, node, domain);
out:
	ad_trust_free(trust);
	hgs_node_close(node);
	free(buf);
	return code;
}

/* `hgs get-trusted-domain`: the domains this HGS's domain trusts. */
int cmd_hgs_get_trusted_domain(struct hl_cmd_ctx *ctx)
{
	struct hgs_node *node = NULL;
	json_t *rows = NULL;
	int code;

	if ((code = hl_cmd_hgs_open(ctx, &node)) != HL_EXIT_OK)
		return code;
	if (hgs_ad_trust_list(node, hl_opts_str(&ctx->opts, "domain", NULL), &rows) < 0)
		code = hl_cmd_fail(HL_EXIT_FAILURE, "%s", hl_error_last());
	else if (hl_opts_flag(&ctx->opts, "json"))
		code = hl_out_json(rows);
	else if (json_array_size(rows) == 0)
		printf("no domain is trusted by %s\n", node->config.domain);
	else
		print_trusts(rows);
	json_decref(rows);
	hgs_node_close(node);
	return code;
}

/* `hgs remove-trusted-domain`: stop trusting a fabric domain. */
int cmd_hgs_remove_trusted_domain(struct hl_cmd_ctx *ctx)
{
	const char *domain = hl_opts_str(&ctx->opts, "domain", NULL);
	struct hgs_node *node = NULL;
	json_t *o;
	int code;

	if ((code = hl_cmd_hgs_open(ctx, &node)) != HL_EXIT_OK)
		return code;
	if (hgs_ad_trust_remove(node, domain) < 0) {
		code = hl_cmd_fail(HL_EXIT_FAILURE, "%s", hl_error_last());
	} else if (hl_opts_flag(&ctx->opts, "json")) {
		o = json_pack("{s:s, s:s, s:b}", "Name", domain, "TrustingDomain", node->config.domain,
			      "Removed", 1);
		code = o ? hl_out_json(o) : hl_cmd_fail(HL_EXIT_FAILURE, "out of memory");
		json_decref(o);
	} else {
		printf("%s no longer trusts '%s'\n", node->config.domain, domain);
	}
	hgs_node_close(node);
	return code;
}
