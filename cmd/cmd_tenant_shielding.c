/*
 * cmd_tenant_shielding.c - the `hgslab tenant` verbs for shielding data and
 * specialization data: new-shielding-data-file (New-ShieldingDataFile),
 * new-specialization-data-file (New-ShieldedVMSpecializationDataFile),
 * test-shielding-data-applicability (Test-ShieldingDataApplicability) and
 * show-shielding-data-file.  The work is in tenant/shielding.c; the formats
 * are proto/pdk.h, proto/fsk.h and proto/vsc*.h (docs/templates.md).
 *
 * Secrets come from files named on the command line, never from argv
 * itself, and are never printed: show-shielding-data-file gives the names
 * and sizes of the files in a .pdk, not their contents.
 *
 * Exit codes (cmd/cmd.h): 2 for a bad command line or a malformed, foreign
 * or missing input file; 4 when a signature does not verify or the
 * shielding data does not apply to the template; 1 for other failures.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "lib/crypto.h"
#include "cmd/cmdutil.h"
#include "cmd/commands.h"
#include "cmd/output.h"
#include "proto/pdk.h"
#include "proto/vsc_viq.h"
#include "tenant/shielding.h"
#include "vm/template.h"

const struct hl_opt cmd_tenant_new_pdk_opts[] = {
	{ "dir", 'd', HL_OPT_STRING, "DIR", "the tenant directory", HL_OPT_REQUIRED },
	{ "owner", 0, HL_OPT_STRING, "NAME", "the owner guardian (needs its private keys)",
	  HL_OPT_REQUIRED },
	{ "guardian", 'g', HL_OPT_LIST, "NAME",
	  "a guardian whose fabric may provision the VMs, e.g. an imported HGS", 0 },
	{ "volume-id-qualifier", 'q', HL_OPT_LIST, "FILE",
	  "a .viq: which template disks are trusted (repeatable, at least one)", 0 },
	{ "answer-file", 0, HL_OPT_STRING, "FILE", "the answer file (secret; kept under its name)",
	  0 },
	{ "other-file", 0, HL_OPT_LIST, "NAME=FILE", "another secret file", 0 },
	{ "policy", 0, HL_OPT_STRING, "POLICY", "shielded or encryption-supported",
	  HL_OPT_REQUIRED },
	{ "out", 'o', HL_OPT_STRING, "FILE", "where to write the .pdk", HL_OPT_REQUIRED },
	{ "allow-expired", 0, HL_OPT_FLAG, NULL, "accept certificates outside their validity", 0 },
	{ "force", 'f', HL_OPT_FLAG, NULL, "replace an existing FILE", 0 },
	HL_CMD_OPT_JSON,
	HL_CMD_OPT_END,
};

const struct hl_opt cmd_tenant_new_fsk_opts[] = {
	{ "value", 'v', HL_OPT_LIST, "@KEY@=VALUE", "a specialization value", 0 },
	{ "from", 0, HL_OPT_STRING, "FILE", "more values, one @KEY@=VALUE per line", 0 },
	{ "out", 'o', HL_OPT_STRING, "FILE", "where to write the .fsk", HL_OPT_REQUIRED },
	{ "force", 'f', HL_OPT_FLAG, NULL, "replace an existing FILE", 0 },
	HL_CMD_OPT_JSON,
	HL_CMD_OPT_END,
};

const struct hl_opt cmd_tenant_test_pdk_opts[] = {
	{ "pdk", 0, HL_OPT_STRING, "FILE", "the shielding data file", HL_OPT_REQUIRED },
	{ "disk", 0, HL_OPT_STRING, "FILE", "a protected template disk", 0 },
	{ "vsc", 0, HL_OPT_STRING, "FILE", "or a volume signature catalog (.vsc)", 0 },
	HL_CMD_OPT_JSON,
	HL_CMD_OPT_END,
};

const struct hl_opt cmd_tenant_show_pdk_opts[] = {
	{ "pdk", 0, HL_OPT_STRING, "FILE", "the shielding data file", HL_OPT_REQUIRED },
	{ "dir", 'd', HL_OPT_STRING, "DIR",
	  "the owner's tenant directory: list the secret files (names and sizes)", 0 },
	HL_CMD_OPT_JSON,
	HL_CMD_OPT_END,
};

/* The qualifiers of PDK as an array of one-line descriptions. */
static json_t *qualifier_lines(const struct hl_pdk *pdk)
{
	json_t *a = json_array();
	char line[256];
	size_t i;

	for (i = 0; a && i < pdk->n_qualifiers; i++) {
		hl_viq_describe(&pdk->qualifiers[i], line, sizeof(line));
		json_array_append_new(a, json_string(line));
	}
	return a;
}

/* The guardians of PDK's key protector as an array of names. */
static json_t *guardian_names(const struct hl_pdk *pdk)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; a && i < pdk->kp->n_entries; i++)
		json_array_append_new(a, json_string(pdk->kp->entries[i].name));
	return a;
}

/* New-ShieldingDataFile. */
int cmd_tenant_new_pdk(struct hl_cmd_ctx *ctx)
{
	const struct hl_optval *gv = hl_opts_get(&ctx->opts, "guardian");
	const struct hl_optval *qv = hl_opts_get(&ctx->opts, "volume-id-qualifier");
	const struct hl_optval *ov = hl_opts_get(&ctx->opts, "other-file");
	struct hl_shielding_args a = { 0 };
	struct hl_cmd_pair *pairs = NULL;
	const char **names = NULL, **paths = NULL;
	struct hl_pdk *pdk = NULL;
	json_t *o = NULL, *files;
	size_t i;
	int code;

	if ((code = hl_cmd_split_pairs(ov, "--other-file", "NAME=FILE", &pairs)) != HL_EXIT_OK)
		return code;
	names = calloc(ov->n + 1, sizeof(*names));
	paths = calloc(ov->n + 1, sizeof(*paths));
	if (!names || !paths) {
		code = hl_cmd_fail(HL_EXIT_FAILURE, "out of memory");
		goto out;
	}
	for (i = 0; i < ov->n; i++) {
		names[i] = pairs[i].name;
		paths[i] = pairs[i].value;
	}
	a.dir = hl_opts_str(&ctx->opts, "dir", NULL);
	a.owner = hl_opts_str(&ctx->opts, "owner", NULL);
	a.guardians = gv->list;
	a.n_guardians = gv->n;
	a.qualifier_files = qv->list;
	a.n_qualifiers = qv->n;
	a.answer_file = hl_opts_str(&ctx->opts, "answer-file", NULL);
	a.other_names = names;
	a.other_paths = paths;
	a.n_other = ov->n;
	a.policy = hl_opts_str(&ctx->opts, "policy", NULL);
	a.kp_flags = hl_opts_flag(&ctx->opts, "allow-expired") ? HL_KP_ALLOW_EXPIRED : 0;
	a.out = hl_opts_str(&ctx->opts, "out", NULL);
	a.force = hl_opts_flag(&ctx->opts, "force");
	a.created = time(NULL);
	if ((code = hl_cmd_code_of(hl_shielding_new(&a, &pdk))) != HL_EXIT_OK)
		goto out;
	o = json_object();
	files = json_array();
	if (!o || !files) {
		json_decref(files);
		code = hl_cmd_fail(HL_EXIT_FAILURE, "out of memory");
		goto out;
	}
	for (i = 0; i < ov->n; i++)
		json_array_append_new(files, json_string(names[i]));
	hl_cmd_set_str(o, "Id", pdk->id);
	hl_cmd_set_str(o, "File", a.out);
	hl_cmd_set_str(o, "Owner", pdk->owner);
	json_object_set_new(o, "Guardians", guardian_names(pdk));
	hl_cmd_set_str(o, "Policy", pdk->policy);
	json_object_set_new(o, "VolumeIdQualifiers", qualifier_lines(pdk));
	hl_cmd_set_str(o, "AnswerFile", a.answer_file ? (strrchr(a.answer_file, '/') ?
				strrchr(a.answer_file, '/') + 1 : a.answer_file) : NULL);
	json_object_set_new(o, "OtherFiles", files);
	code = hl_out_object(ctx, o);
out:
	json_decref(o);
	hl_pdk_free(pdk);
	hl_cmd_pairs_free(pairs, ov->n);
	free(names);
	free(paths);
	return code;
}

/* New-ShieldedVMSpecializationDataFile. */
int cmd_tenant_new_fsk(struct hl_cmd_ctx *ctx)
{
	const struct hl_optval *vv = hl_opts_get(&ctx->opts, "value");
	const char *out = hl_opts_str(&ctx->opts, "out", NULL);
	struct hl_cmd_pair *pairs = NULL;
	const char **keys = NULL, **values = NULL;
	size_t i, n = 0;
	json_t *o = NULL;
	int code;

	if ((code = hl_cmd_split_pairs(vv, "--value", "@KEY@=VALUE", &pairs)) != HL_EXIT_OK)
		return code;
	keys = calloc(vv->n + 1, sizeof(*keys));
	values = calloc(vv->n + 1, sizeof(*values));
	if (!keys || !values) {
		code = hl_cmd_fail(HL_EXIT_FAILURE, "out of memory");
		goto out;
	}
	for (i = 0; i < vv->n; i++) {
		keys[i] = pairs[i].name;
		values[i] = pairs[i].value;
	}
	code = hl_cmd_code_of(hl_shielding_new_fsk(keys, values, vv->n,
					    hl_opts_str(&ctx->opts, "from", NULL), out,
					    hl_opts_flag(&ctx->opts, "force"), &n));
	if (code != HL_EXIT_OK)
		goto out;
	o = json_pack("{s:s, s:I}", "File", out, "Values", (json_int_t)n);
	code = o ? hl_out_object(ctx, o) : hl_cmd_fail(HL_EXIT_FAILURE, "out of memory");
out:
	json_decref(o);
	hl_cmd_pairs_free(pairs, vv->n);
	free(keys);
	free(values);
	return code;
}

/*
 * The VSC to test: --disk (opened and verified, signature and image) or
 * --vsc (parsed and verified).  *VSC points into *T or is *OWN.  An exit
 * code: 2 when the file does not read, and HL_EXIT_OK with *WHY set to the
 * reason when it does not verify (the applicability answer is then no).
 */
static int template_vsc(const char *disk, const char *vsc_path, struct vm_template **t,
			struct hl_vsc **own, const struct hl_vsc **vsc, char *why, size_t size)
{
	why[0] = '\0';
	if (disk) {
		if (vm_template_open(disk, t) < 0)
			return hl_cmd_fail(HL_EXIT_USAGE, "%s", hl_error_last());
		*vsc = (*t)->vsc;
		if (vm_template_verify(*t) < 0)
			snprintf(why, size, "%s", hl_error_last());
	} else {
		if (hl_shielding_read_vsc(vsc_path, own) < 0)
			return hl_cmd_fail(HL_EXIT_USAGE, "%s", hl_error_last());
		*vsc = *own;
		if (hl_vsc_verify(*own) < 0)
			snprintf(why, size, "'%s': %s", vsc_path, hl_error_last());
	}
	return HL_EXIT_OK;
}

/* Test-ShieldingDataApplicability. */
int cmd_tenant_test_pdk(struct hl_cmd_ctx *ctx)
{
	static const char *const cols[] = { "Index", "Qualifier", "Result", NULL };
	const char *pdk_path = hl_opts_str(&ctx->opts, "pdk", NULL);
	const char *disk = hl_opts_str(&ctx->opts, "disk", NULL);
	const char *vsc_path = hl_opts_str(&ctx->opts, "vsc", NULL);
	char why[HL_ERROR_MAX], pdk_why[HL_ERROR_MAX] = "", line[256];
	struct vm_template *t = NULL;
	struct hl_vsc *own = NULL;
	const struct hl_vsc *vsc = NULL;
	struct hl_pdk *pdk = NULL;
	json_t *o = NULL, *rows = NULL, *r;
	size_t i;
	int code, applicable = 0;

	if (!disk == !vsc_path)
		return hl_cmd_fail(HL_EXIT_USAGE, "give exactly one of --disk FILE and --vsc FILE");
	if (hl_shielding_read_pdk(pdk_path, &pdk) < 0)
		return hl_cmd_fail(HL_EXIT_USAGE, "%s", hl_error_last());
	if (hl_pdk_verify(pdk, NULL) < 0)
		snprintf(pdk_why, sizeof(pdk_why), "'%s': %s", pdk_path, hl_error_last());
	if ((code = template_vsc(disk, vsc_path, &t, &own, &vsc, why, sizeof(why))) != HL_EXIT_OK)
		goto out;
	o = json_object();
	rows = json_array();
	if (!o || !rows) {
		code = hl_cmd_fail(HL_EXIT_FAILURE, "out of memory");
		goto out;
	}
	for (i = 0; i < pdk->n_qualifiers; i++) {
		const char *result = "Applicable";

		if (pdk_why[0])
			result = pdk_why;
		else if (why[0])
			result = why;
		else if (hl_viq_match(&pdk->qualifiers[i], vsc) < 0)
			result = hl_error_last();
		else
			applicable = 1;
		hl_viq_describe(&pdk->qualifiers[i], line, sizeof(line));
		r = json_pack("{s:I, s:s, s:s}", "Index", (json_int_t)(i + 1), "Qualifier", line,
			      "Result", result);
		if (!r || json_array_append_new(rows, r) < 0) {
			code = hl_cmd_fail(HL_EXIT_FAILURE, "out of memory");
			goto out;
		}
	}
	hl_cmd_set_str(o, "ShieldingData", pdk->id);
	hl_cmd_set_str(o, "TemplateName", vsc->name);
	hl_cmd_set_str(o, "Version", vsc->disk_version_text);
	hl_cmd_set_str(o, "SignerThumbprint", vsc->signer_thumbprint);
	json_object_set_new(o, "Applicable", json_boolean(applicable));
	json_object_set(o, "Qualifiers", rows);
	if (hl_opts_flag(&ctx->opts, "json")) {
		code = hl_out_json(o);
	} else {
		json_object_del(o, "Qualifiers");
		hl_out_list(o);
		hl_out_table(rows, cols);
	}
	if (code == HL_EXIT_OK && !applicable) {
		if (pdk_why[0] || why[0])
			code = hl_cmd_fail(HL_EXIT_REFUSED, "%s", pdk_why[0] ? pdk_why : why);
		else if (hl_pdk_match_template(pdk, vsc, NULL) < 0)
			code = hl_cmd_fail(HL_EXIT_REFUSED, "%s", hl_error_last());
	}
out:
	json_decref(rows);
	json_decref(o);
	hl_pdk_free(pdk);
	hl_vsc_free(own);
	vm_template_free(t);
	return code;
}

/* The names and sizes of S's files, as JSON (never their contents). */
static void secrets_props(json_t *o, const struct hl_pdk_secrets *s)
{
	json_t *files = json_array(), *af = json_null();
	size_t i;

	if (s->has_answer_file)
		af = json_pack("{s:s, s:I}", "Name", s->answer_file.name, "Bytes",
			       (json_int_t)s->answer_file.content.len);
	for (i = 0; files && i < s->n_other_files; i++)
		json_array_append_new(files, json_pack("{s:s, s:I}", "Name", s->other_files[i].name,
						       "Bytes",
						       (json_int_t)s->other_files[i].content.len));
	json_object_set_new(o, "AnswerFile", af);
	json_object_set_new(o, "OtherFiles", files);
}

/* One line for a file object F of secrets_props ("unattend.txt (212 bytes)"). */
static json_t *file_line(const json_t *f)
{
	char line[128];

	if (!json_is_object(f))
		return json_string("(none)");
	snprintf(line, sizeof(line), "%s (%lld bytes)",
		 json_string_value(json_object_get(f, "Name")),
		 (long long)json_integer_value(json_object_get(f, "Bytes")));
	return json_string(line);
}

/* show-shielding-data-file. */
int cmd_tenant_show_pdk(struct hl_cmd_ctx *ctx)
{
	const char *path = hl_opts_str(&ctx->opts, "pdk", NULL);
	const char *dir = hl_opts_str(&ctx->opts, "dir", NULL);
	char sig_err[HL_ERROR_MAX] = "";
	struct hl_pdk_secrets *s = NULL;
	struct hl_pdk *pdk = NULL;
	json_t *o = NULL, *lines, *f;
	size_t i;
	int code = HL_EXIT_OK, sig_ok;

	if (hl_shielding_read_pdk(path, &pdk) < 0)
		return hl_cmd_fail(HL_EXIT_USAGE, "%s", hl_error_last());
	sig_ok = hl_pdk_verify(pdk, NULL) == 0;
	if (!sig_ok)
		snprintf(sig_err, sizeof(sig_err), "%s", hl_error_last());
	if (dir && sig_ok && hl_shielding_open_secrets(dir, pdk, &s) < 0) {
		code = hl_cmd_fail(HL_EXIT_FAILURE, "cannot open the secrets: %s", hl_error_last());
		goto out;
	}
	o = json_object();
	if (!o) {
		code = hl_cmd_fail(HL_EXIT_FAILURE, "out of memory");
		goto out;
	}
	hl_cmd_set_str(o, "Id", pdk->id);
	json_object_set_new(o, "Version", json_integer(pdk->version));
	hl_cmd_set_str(o, "Created", pdk->created);
	hl_cmd_set_str(o, "Owner", pdk->owner);
	hl_cmd_set_str(o, "OwnerSigningThumbprint", pdk->kp->owner_signing_thumbprint);
	hl_cmd_set_str(o, "Policy", pdk->policy);
	json_object_set_new(o, "SignatureValid", json_boolean(sig_ok));
	json_object_set_new(o, "Guardians", guardian_names(pdk));
	json_object_set_new(o, "VolumeIdQualifiers", qualifier_lines(pdk));
	if (s)
		secrets_props(o, s);
	if (hl_opts_flag(&ctx->opts, "json")) {
		if (!sig_ok)
			hl_cmd_set_str(o, "SignatureError", sig_err);
		hl_out_json(o);
	} else {
		if (s) {
			f = json_object_get(o, "AnswerFile");
			json_object_set_new(o, "AnswerFile", file_line(f));
			lines = json_array();
			json_array_foreach(json_object_get(o, "OtherFiles"), i, f)
				json_array_append_new(lines, file_line(f));
			json_object_set_new(o, "OtherFiles", lines);
		} else {
			hl_cmd_set_str(o, "Secrets", sig_ok ? "encrypted (give --dir with the owner's "
					"keys to list the files)" : "(not shown)");
		}
		hl_out_list(o);
	}
	if (!sig_ok)
		code = hl_cmd_fail(HL_EXIT_REFUSED, "%s", sig_err);
out:
	json_decref(o);
	hl_pdk_secrets_free(s);
	hl_pdk_free(pdk);
	return code;
}
