/*
 * cmd_fabric.c - the `hgslab fabric` verbs: the fabric's Active Directory
 * (fabric/directory.h, its DC fabric/dc.h), administered the way the AD cmdlets do it, in
 * kebab-case: new (a domain and its DC key), get-domain (Get-ADDomain),
 * add-group / get-group (New-/Get-ADGroup, global security groups),
 * add-computer / get-computer (the computer account with its machine key),
 * add-group-member / remove-group-member (Add-/Remove-ADGroupMember),
 * export-trust (what the HGS domain imports to trust this one), serve (the
 * DC), and get-ticket (a host asking the DC for a ticket, like kinit).
 * The admin verbs work on the store directly, also while `fabric serve`
 * runs.  Human output is a table; --json prints the same objects.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "hosts/ad_client.h"
#include "fabric/dc.h"
#include "fabric/directory.h"
#include "lib/crypto.h"
#include "lib/dnsname.h"
#include "lib/fileio.h"
#include "lib/json.h"
#include "lib/labclock.h"
#include "lib/log.h"
#include "lib/served.h"
#include "cmd/cmdutil.h"
#include "cmd/commands.h"
#include "cmd/output.h"
#include "proto/names.h"

#define OPT_DIR { "dir", 'd', HL_OPT_STRING, "DIR", "the fabric directory", HL_OPT_REQUIRED }

const struct hl_opt cmd_fabric_new_opts[] = {
	OPT_DIR,
	{ "domain", 0, HL_OPT_STRING, "DOMAIN", "the fabric domain, e.g. fabrikam.com",
	  HL_OPT_REQUIRED },
	{ "listen", 0, HL_OPT_STRING, "ADDR:PORT",
	  "where the DC (`fabric serve`) listens, e.g. 127.0.0.3:8088 (port 0: any free port)",
	  HL_OPT_REQUIRED },
	{ "dc-name", 0, HL_OPT_STRING, "NAME", "the DC's computer name (default DC01)", 0 },
	{ "ticket-lifetime", 0, HL_OPT_INT, "MINUTES",
	  "lifetime of membership tickets (default 10, at most 600)", 0 },
	HL_CMD_OPT_JSON,
	HL_CMD_OPT_END,
};

const struct hl_opt cmd_fabric_show_opts[] = {
	OPT_DIR,
	HL_CMD_OPT_JSON,
	HL_CMD_OPT_END,
};

const struct hl_opt cmd_fabric_add_group_opts[] = {
	OPT_DIR,
	{ "name", 'n', HL_OPT_STRING, "NAME", "the group's name, e.g. GuardedHosts", HL_OPT_REQUIRED },
	{ "description", 0, HL_OPT_STRING, "TEXT", "what the group is for", 0 },
	HL_CMD_OPT_JSON,
	HL_CMD_OPT_END,
};

const struct hl_opt cmd_fabric_get_opts[] = {
	OPT_DIR,
	{ "name", 'n', HL_OPT_STRING, "NAME", "show only this one", 0 },
	HL_CMD_OPT_JSON,
	HL_CMD_OPT_END,
};

const struct hl_opt cmd_fabric_add_computer_opts[] = {
	OPT_DIR,
	{ "name", 'n', HL_OPT_STRING, "NAME", "the computer's name, e.g. FabricHost1",
	  HL_OPT_REQUIRED },
	{ "key", 'k', HL_OPT_STRING, "FILE",
	  "the host's machine public key (PEM public key or certificate)", HL_OPT_REQUIRED },
	HL_CMD_OPT_JSON,
	HL_CMD_OPT_END,
};

const struct hl_opt cmd_fabric_member_opts[] = {
	OPT_DIR,
	{ "group", 'g', HL_OPT_STRING, "GROUP", "the group, e.g. GuardedHosts", HL_OPT_REQUIRED },
	{ "computer", 'c', HL_OPT_STRING, "NAME", "the computer, e.g. FabricHost1",
	  HL_OPT_REQUIRED },
	HL_CMD_OPT_JSON,
	HL_CMD_OPT_END,
};

const struct hl_opt cmd_fabric_export_trust_opts[] = {
	OPT_DIR,
	{ "out", 'o', HL_OPT_STRING, "FILE", "where to write the trust document", HL_OPT_REQUIRED },
	HL_CMD_OPT_JSON,
	HL_CMD_OPT_END,
};

const struct hl_opt cmd_fabric_serve_opts[] = {
	OPT_DIR,
	{ "listen", 0, HL_OPT_STRING, "ADDR:PORT", "listen here instead of the DC's address", 0 },
	{ "log-level", 0, HL_OPT_STRING, "LEVEL", "dc.log level: error, warn, info (default), debug",
	  0 },
	HL_CMD_OPT_END,
};

const struct hl_opt cmd_fabric_get_ticket_opts[] = {
	{ "dc-url", 0, HL_OPT_STRING, "URL", "the DC, e.g. http://dc01.fabrikam.com:8088",
	  HL_OPT_REQUIRED },
	{ "computer", 'c', HL_OPT_STRING, "NAME", "the computer account, e.g. FabricHost1",
	  HL_OPT_REQUIRED },
	{ "key", 'k', HL_OPT_STRING, "FILE", "the computer's machine private key (PEM)",
	  HL_OPT_REQUIRED },
	{ "out", 'o', HL_OPT_STRING, "FILE", "where to write the ticket", HL_OPT_REQUIRED },
	{ "resolve", 0, HL_OPT_LIST, "HOST:PORT:ADDR",
	  "map a name to a lab address, e.g. dc01.fabrikam.com:8088:127.0.0.3", 0 },
	HL_CMD_OPT_JSON,
	HL_CMD_OPT_END,
};

/* ---- output ---- */

/* How the store lists groups or computers: NAME only, or all when NULL. */
typedef int fabric_list_fn(struct fabric *f, const char *name, json_t **out);

static const char *const group_cols[] = { "Name", "Sid", "GroupScope", "Members", NULL };
static const char *const computer_cols[] = { "Name", "Sid", "KeyType", "MemberOf", NULL };

/* ---- shared steps ---- */

/* Open the fabric directory named by --dir; an exit code (0 when open). */
static int open_fabric(const struct hl_cmd_ctx *ctx, struct fabric **f)
{
	return hl_cmd_check(fabric_open(hl_opts_str(&ctx->opts, "dir", NULL), 0, f),
			    HL_EXIT_FAILURE);
}

/* Print F's domain (Get-ADDomain), human or JSON; an exit code. */
static int print_domain(const struct hl_cmd_ctx *ctx, struct fabric *f)
{
	json_t *o = NULL;
	int code;

	if (fabric_domain_json(f, &o) < 0)
		return hl_cmd_fail(HL_EXIT_FAILURE, "%s", hl_error_last());
	code = hl_out_object(ctx, o);
	json_decref(o);
	return code;
}

/* After adding NOUN NAME (RC: how that went), print it as LIST finds it; an exit code. */
static int print_added(const struct hl_cmd_ctx *ctx, struct fabric *f, int rc,
		       fabric_list_fn *list, const char *const *cols, const char *noun,
		       const char *name)
{
	json_t *rows = NULL;
	int code;

	if (rc < 0 || list(f, name, &rows) < 0)
		code = hl_cmd_fail(HL_EXIT_FAILURE, "cannot add %s '%s': %s", noun, name,
				   hl_error_last());
	else
		code = hl_cmd_out_one(ctx, rows, cols);
	json_decref(rows);
	return code;
}

/* `fabric get-group` / `get-computer`: --name's rows of LIST (all without it); an exit code. */
static int print_list(const struct hl_cmd_ctx *ctx, fabric_list_fn *list,
		      const char *const *cols, const char *none)
{
	const char *name = hl_opts_str(&ctx->opts, "name", NULL);
	struct fabric *f = NULL;
	json_t *rows = NULL;
	int code;

	if ((code = open_fabric(ctx, &f)) != HL_EXIT_OK)
		return code;
	if (list(f, name, &rows) < 0)
		code = hl_cmd_fail(HL_EXIT_FAILURE, "%s", hl_error_last());
	else if (name && hl_opts_flag(&ctx->opts, "json"))
		code = hl_out_json(json_array_get(rows, 0));
	else
		code = hl_out_rows(ctx, rows, cols, none);
	json_decref(rows);
	fabric_close(f);
	return code;
}

/* ---- the verbs ---- */

/* `fabric new`: a fabric domain with its DC signing key. */
int cmd_fabric_new(struct hl_cmd_ctx *ctx)
{
	struct fabric_new_params p = { 0 };
	struct fabric *f = NULL;
	long minutes = hl_opts_int(&ctx->opts, "ticket-lifetime", FABRIC_TICKET_LIFETIME_S_DEFAULT / 60);
	char addr[16];
	unsigned short port;
	int code;

	p.dir = hl_opts_str(&ctx->opts, "dir", NULL);
	p.domain = hl_opts_str(&ctx->opts, "domain", NULL);
	p.listen = hl_opts_str(&ctx->opts, "listen", NULL);
	p.dc_name = hl_opts_str(&ctx->opts, "dc-name", NULL);
	if (minutes < FABRIC_TICKET_LIFETIME_S_MIN / 60 || minutes > FABRIC_TICKET_LIFETIME_S_MAX / 60)
		return hl_cmd_fail(HL_EXIT_USAGE, "invalid --ticket-lifetime %ld: use %d to %d "
				   "minutes", minutes, FABRIC_TICKET_LIFETIME_S_MIN / 60,
				   FABRIC_TICKET_LIFETIME_S_MAX / 60);
	p.ticket_lifetime_s = (int)minutes * 60;
	if (hl_dnsname_check(p.domain) < 0 || hl_served_parse_listen(p.listen, addr, &port) < 0 ||
	    (p.dc_name && hl_name_computer("computer name", p.dc_name) < 0))
		return hl_cmd_fail(HL_EXIT_USAGE, "%s", hl_error_last());
	if ((code = fabric_create(&p)) < 0)
		return hl_cmd_fail(code == -2 ? HL_EXIT_USAGE : HL_EXIT_FAILURE, "cannot create fabric domain '%s' in '%s': %s",
				   p.domain, p.dir, hl_error_last());
	if ((code = open_fabric(ctx, &f)) != HL_EXIT_OK)
		return code;
	if (!hl_opts_flag(&ctx->opts, "json"))
		printf("created fabric domain '%s' (%s) in '%s'\n\n", f->domain, f->domain_sid, f->dir);
	code = print_domain(ctx, f);
	fabric_close(f);
	return code;
}

/* `fabric get-domain` (Get-ADDomain). */
int cmd_fabric_get_domain(struct hl_cmd_ctx *ctx)
{
	struct fabric *f = NULL;
	int code = open_fabric(ctx, &f);

	if (code == HL_EXIT_OK)
		code = print_domain(ctx, f);
	fabric_close(f);
	return code;
}

/* `fabric add-group` (New-ADGroup -GroupScope Global -GroupCategory Security). */
int cmd_fabric_add_group(struct hl_cmd_ctx *ctx)
{
	const char *name = hl_opts_str(&ctx->opts, "name", NULL);
	struct fabric *f = NULL;
	int code, rc;

	if (hl_name_group(name) < 0)
		return hl_cmd_fail(HL_EXIT_USAGE, "%s", hl_error_last());
	if ((code = open_fabric(ctx, &f)) != HL_EXIT_OK)
		return code;
	rc = fabric_group_add(f, name, hl_opts_str(&ctx->opts, "description", NULL));
	code = print_added(ctx, f, rc, fabric_group_list, group_cols, "group", name);
	fabric_close(f);
	return code;
}

/* `fabric get-group` (Get-ADGroup with its members). */
int cmd_fabric_get_group(struct hl_cmd_ctx *ctx)
{
	return print_list(ctx, fabric_group_list, group_cols, "no group");
}

/* `fabric add-computer`: a computer account with the host's machine public key. */
int cmd_fabric_add_computer(struct hl_cmd_ctx *ctx)
{
	const char *name = hl_opts_str(&ctx->opts, "name", NULL);
	struct fabric *f = NULL;
	EVP_PKEY *key = NULL;
	int code;

	if (hl_name_computer("computer name", name) < 0)
		return hl_cmd_fail(HL_EXIT_USAGE, "%s", hl_error_last());
	code = hl_cmd_read_public_key(hl_opts_str(&ctx->opts, "key", NULL), "machine key",
				      "the machine key stays on the host", &key);
	if (code == HL_EXIT_OK && (code = open_fabric(ctx, &f)) == HL_EXIT_OK)
		code = print_added(ctx, f, fabric_computer_add(f, name, key), fabric_computer_list,
				   computer_cols, "computer", name);
	hl_key_free(key);
	fabric_close(f);
	return code;
}

/* `fabric get-computer` (Get-ADComputer with its groups). */
int cmd_fabric_get_computer(struct hl_cmd_ctx *ctx)
{
	return print_list(ctx, fabric_computer_list, computer_cols, "no computer account");
}

/* `fabric add-group-member` / `remove-group-member` (Add-/Remove-ADGroupMember). */
int cmd_fabric_group_member(struct hl_cmd_ctx *ctx)
{
	const char *group = hl_opts_str(&ctx->opts, "group", NULL);
	const char *computer = hl_opts_str(&ctx->opts, "computer", NULL);
	int add = strncmp(ctx->cmd->name, "add", 3) == 0, changed;
	struct fabric *f = NULL;
	json_t *rows = NULL;
	int code;

	if ((code = open_fabric(ctx, &f)) != HL_EXIT_OK)
		return code;
	changed = add ? fabric_member_add(f, group, computer)
		      : fabric_member_remove(f, group, computer);
	if (changed < 0 || fabric_group_list(f, group, &rows) < 0) {
		code = hl_cmd_fail(HL_EXIT_FAILURE, "cannot %s '%s' %s group '%s': %s",
				   add ? "add" : "remove", computer, add ? "to" : "from", group,
				   hl_error_last());
		goto out;
	}
	if (!hl_opts_flag(&ctx->opts, "json"))
		printf("%s %s group '%s'%s; a ticket it already holds keeps its old groups until "
		       "it expires\n\n", computer, add ? "added to" : "removed from", group,
		       changed ? "" : (add ? " (it already was a member)" : " (it was not a member)"));
	code = hl_cmd_out_one(ctx, rows, group_cols);
out:
	json_decref(rows);
	fabric_close(f);
	return code;
}

/* `fabric export-trust`: what the HGS domain needs to trust this domain. */
int cmd_fabric_export_trust(struct hl_cmd_ctx *ctx)
{
	const char *out = hl_opts_str(&ctx->opts, "out", NULL);
	struct fabric *f = NULL;
	json_t *doc = NULL;
	char *text = NULL;
	int code;

	if ((code = open_fabric(ctx, &f)) != HL_EXIT_OK)
		return code;
	if (fabric_trust_export(f, &doc) < 0 || hl_json_dump_pretty(doc, &text) < 0 ||
	    hl_file_write(out, text, strlen(text), HL_FILE_MODE_PUBLIC) < 0) {
		code = hl_cmd_fail(HL_EXIT_FAILURE, "cannot export the trust of '%s': %s", f->domain,
				   hl_error_last());
		goto out;
	}
	if (hl_opts_flag(&ctx->opts, "json")) {
		json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "Domain", f->domain, "DomainSid",
				      f->domain_sid, "DcThumbprint", f->dc_thumbprint, "File", out);

		code = o ? hl_out_json(o) : hl_cmd_fail(HL_EXIT_FAILURE, "out of memory");
		json_decref(o);
	} else {
		printf("wrote the trust of %s (%s) to '%s'; on HGS: hgslab hgs add-trusted-domain "
		       "--file %s\n", f->domain, f->domain_sid, out, out);
	}
out:
	free(text);
	json_decref(doc);
	fabric_close(f);
	return code;
}

/* `fabric serve`: the domain controller until SIGTERM / SIGINT. */
int cmd_fabric_serve(struct hl_cmd_ctx *ctx)
{
	enum hl_log_level level = HL_LOG_INFO;
	const char *lv = hl_opts_str(&ctx->opts, "log-level", NULL);

	if (lv && hl_log_level_parse(lv, &level) < 0)
		return hl_cmd_fail(HL_EXIT_USAGE, "%s", hl_error_last());
	if (fabric_serve(hl_opts_str(&ctx->opts, "dir", NULL), hl_opts_str(&ctx->opts, "listen", NULL),
			 level) < 0)
		return hl_cmd_fail(HL_EXIT_FAILURE, "fabric serve: %s", hl_error_last());
	return HL_EXIT_OK;
}

/* What ticket T says, as JSON (klist). */
static json_t *ticket_json(const struct ad_ticket *t, const char *file)
{
	char issued[32], expires[32];
	json_t *o, *groups;

	hl_labclock_format(t->issued, issued, sizeof(issued));
	hl_labclock_format(t->expires, expires, sizeof(expires));
	o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "Computer", t->computer,
		      "ComputerSid", t->computer_sid, "Domain", t->domain, "DomainController", t->dc,
		      "MachineKeyFingerprint", t->machine_key_fp, "Issued", issued, "Expires",
		      expires, "TicketId", t->id, "File", file);
	if (!o || !(groups = json_array()) || json_object_set_new(o, "Groups", groups) < 0) {
		json_decref(o);
		return NULL;
	}
	for (size_t i = 0; i < t->n_groups; i++)
		json_array_append_new(groups, json_pack("{s:s, s:s}", "Name", t->groups[i].name,
							"Sid", t->groups[i].sid));
	return o;
}

/* `fabric get-ticket`: ask the DC for a membership ticket with the machine key (kinit). */
int cmd_fabric_get_ticket(struct hl_cmd_ctx *ctx)
{
	const struct hl_optval *resolve = hl_opts_get(&ctx->opts, "resolve");
	const char *url = hl_opts_str(&ctx->opts, "dc-url", NULL);
	const char *computer = hl_opts_str(&ctx->opts, "computer", NULL);
	const char *keyfile = hl_opts_str(&ctx->opts, "key", NULL);
	const char *out = hl_opts_str(&ctx->opts, "out", NULL);
	struct hl_http_opts http = { 0 };
	struct ad_ticket *t = NULL;
	const char **list = NULL;
	EVP_PKEY *key = NULL;
	char *ticket = NULL;
	json_t *o = NULL;
	int code;

	if (hl_name_computer("computer name", computer) < 0)
		return hl_cmd_fail(HL_EXIT_USAGE, "%s", hl_error_last());
	if (hl_key_priv_load_file(keyfile, &key) < 0)
		return hl_cmd_fail(HL_EXIT_USAGE, "cannot read the machine key: %s", hl_error_last());
	if (resolve->n) {
		if (!(list = calloc(resolve->n + 1, sizeof(*list)))) {
			code = hl_cmd_fail(HL_EXIT_FAILURE, "out of memory");
			goto out;
		}
		memcpy(list, resolve->list, resolve->n * sizeof(*list));
		http.resolve = list;
	}
	if (ad_client_get_ticket(url, &http, computer, key, &ticket, &t) < 0) {
		/* the DC's refusals carry their Kerberos error name; anything else is a failure */
		int refused = strstr(hl_error_last(), "KDC_ERR_") || strstr(hl_error_last(), "KRB_");

		code = hl_cmd_fail(refused ? HL_EXIT_REFUSED : HL_EXIT_FAILURE, "no ticket for '%s': %s",
				   computer, hl_error_last());
		goto out;
	}
	if (hl_file_write_private(out, ticket, strlen(ticket)) < 0) {
		code = hl_cmd_fail(HL_EXIT_FAILURE, "%s", hl_error_last());
		goto out;
	}
	if (!(o = ticket_json(t, out))) {
		code = hl_cmd_fail(HL_EXIT_FAILURE, "out of memory");
		goto out;
	}
	if (hl_opts_flag(&ctx->opts, "json")) {
		code = hl_out_json(o);
	} else {
		json_t *groups = json_object_get(o, "Groups"), *g;
		size_t i;

		printf("ticket for %s (%s) from %s, valid until %s, written to '%s'\n", t->computer,
		       t->computer_sid, t->dc, json_string_value(json_object_get(o, "Expires")), out);
		json_array_foreach(groups, i, g)
			printf("  group %-30s %s\n", json_string_value(json_object_get(g, "Name")),
			       json_string_value(json_object_get(g, "Sid")));
		code = HL_EXIT_OK;
	}
out:
	json_decref(o);
	free(list);
	free(ticket);
	ad_ticket_free(t);
	hl_key_free(key);
	return code;
}
