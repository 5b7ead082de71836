/*
 * cmd_hgs_kps.c - the `hgslab hgs` verbs of the Key Protection Service:
 * certificate rotation (Add-/Get-/Set-/Remove-HgsKeyProtectionCertificate as
 * add-/get-/set-/remove-key-protection-certificate), the health certificate
 * cut-off (Set-HgsKeyProtectionAttestationSignerCertificatePolicy
 * -DenyHealthCertificatesIssuedBefore as
 * set-key-protection-attestation-signer-certificate-policy, alias
 * set-key-protection-policy; get-key-protection-policy shows it) and the key
 * protection log (get-key-protection-log), and key material caching
 * (Get-/Set-HgsKeyProtectionConfiguration -AllowKeyMaterialCaching as
 * get-/set-key-protection-configuration, hgs/db_kpsconfig.h).  Like the other admin verbs they
 * work on the node's store directly, also while `hgs serve` runs: a change
 * takes effect at the next request.  The logic is in hgs/kps.c and
 * hgs/db.c; this file parses options and prints tables or --json.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "hgs/db.h"
#include "hgs/db_kpsconfig.h"
#include "hgs/kps.h"
#include "hgs/node.h"
#include "lib/fileio.h"
#include "lib/json.h"
#include "cmd/cmdutil.h"
#include "cmd/commands.h"
#include "cmd/output.h"

#define OPT_DIR { "dir", 'd', HL_OPT_STRING, "DIR", "the HGS node directory", HL_OPT_REQUIRED }

const struct hl_opt cmd_hgs_add_kps_cert_opts[] = {
	OPT_DIR,
	{ "certificate-type", 't', HL_OPT_STRING, "TYPE", "signing or encryption",
	  HL_OPT_REQUIRED },
	{ "generate", 0, HL_OPT_FLAG, NULL, "generate a new RSA 2048 key pair and certificate", 0 },
	{ "key", 'k', HL_OPT_STRING, "FILE", "the private key (PEM; stored 0600 in DIR/keys)", 0 },
	{ "certificate", 'c', HL_OPT_STRING, "FILE", "its certificate (PEM)", 0 },
	{ "primary", 0, HL_OPT_FLAG, NULL,
	  "make it the primary certificate of its type (-SetAsPrimary)", 0 },
	HL_CMD_OPT_JSON,
	HL_CMD_OPT_END,
};

const struct hl_opt cmd_hgs_get_kps_cert_opts[] = {
	OPT_DIR,
	{ "certificate-type", 't', HL_OPT_STRING, "TYPE", "only signing or encryption ones", 0 },
	HL_CMD_OPT_JSON,
	HL_CMD_OPT_END,
};

const struct hl_opt cmd_hgs_set_kps_cert_opts[] = {
	OPT_DIR,
	{ "thumbprint", 0, HL_OPT_STRING, "HEX",
	  "the certificate (its thumbprint, or the first 8 or more digits of it)", HL_OPT_REQUIRED },
	{ "primary", 0, HL_OPT_FLAG, NULL,
	  "make it the primary one: guardian metadata hands it out", 0 },
	{ "enable", 0, HL_OPT_FLAG, NULL, "release KPs wrapped to it again", 0 },
	{ "disable", 0, HL_OPT_FLAG, NULL, "refuse KPs wrapped to it (not the primary one)", 0 },
	HL_CMD_OPT_JSON,
	HL_CMD_OPT_END,
};

const struct hl_opt cmd_hgs_remove_kps_cert_opts[] = {
	OPT_DIR,
	{ "thumbprint", 0, HL_OPT_STRING, "HEX",
	  "the certificate (its thumbprint, or the first 8 or more digits of it)", HL_OPT_REQUIRED },
	HL_CMD_OPT_JSON,
	HL_CMD_OPT_END,
};

const struct hl_opt cmd_hgs_set_kps_policy_opts[] = {
	OPT_DIR,
	{ "deny-health-certificates-issued-before", 0, HL_OPT_STRING, "TIME",
	  "refuse health certificates issued before TIME: now, 2026-11-28T17:21:05Z or @UNIXTIME "
	  "(HGS clock)", 0 },
	{ "clear", 0, HL_OPT_FLAG, NULL, "remove the cut-off", 0 },
	HL_CMD_OPT_JSON,
	HL_CMD_OPT_END,
};

const struct hl_opt cmd_hgs_get_kps_policy_opts[] = {
	OPT_DIR,
	HL_CMD_OPT_JSON,
	HL_CMD_OPT_END,
};

const struct hl_opt cmd_hgs_get_kps_config_opts[] = {
	OPT_DIR,
	HL_CMD_OPT_JSON,
	HL_CMD_OPT_END,
};

const struct hl_opt cmd_hgs_set_kps_config_opts[] = {
	OPT_DIR,
	{ "allow-key-material-caching", 0, HL_OPT_STRING, "STATE",
	  "on or off: let hosts keep released key material sealed to their TPM for HGS outages",
	  HL_OPT_REQUIRED },
	HL_CMD_OPT_JSON,
	HL_CMD_OPT_END,
};

const struct hl_opt cmd_hgs_kps_log_opts[] = {
	OPT_DIR,
	{ "host", 0, HL_OPT_STRING, "NAME", "only this host's requests", 0 },
	{ "last", 0, HL_OPT_INT, "N", "only the N most recent entries", 0 },
	{ "trace", 0, HL_OPT_INT, "ID", "show the trace of entry ID: what was sent and checked", 0 },
	HL_CMD_OPT_JSON,
	HL_CMD_OPT_END,
};

static const char *const cert_cols[] = { "CertificateType", "Thumbprint", "Subject", "IsPrimary",
					 "IsEnabled", "NotAfter", NULL };

/* ---- shared steps ---- */

/* Print the KPS certificate THUMB (one row: a table, or the object with --json). */
static int print_cert(const struct hl_cmd_ctx *ctx, struct hgs_node *node, const char *thumb)
{
	json_t *rows = NULL, *one;
	int code;

	if (hgs_kps_cert_list(node, -1, &rows) < 0)
		return hl_cmd_fail(HL_EXIT_FAILURE, "%s", hl_error_last());
	if (!(one = hl_cmd_find_row(rows, "Thumbprint", thumb)))
		code = hl_cmd_fail(HL_EXIT_FAILURE, "certificate %s is missing from the list", thumb);
	else
		code = hl_cmd_out_one(ctx, one, cert_cols);
	json_decref(one);
	json_decref(rows);
	return code;
}

/* Resolve --thumbprint of NODE into THUMB; an exit code. */
static int resolve_thumbprint(const struct hl_cmd_ctx *ctx, struct hgs_node *node,
			      char thumb[HL_SHA256_HEX_SIZE])
{
	return hl_cmd_check(hgs_db_kps_cert_resolve(node, hl_opts_str(&ctx->opts, "thumbprint", NULL),
						    thumb), HL_EXIT_FAILURE);
}

/* ---- certificates ---- */

/* `hgs add-key-protection-certificate` (Add-HgsKeyProtectionCertificate). */
int cmd_hgs_add_kps_cert(struct hl_cmd_ctx *ctx)
{
	const char *key_file = hl_opts_str(&ctx->opts, "key", NULL);
	const char *crt_file = hl_opts_str(&ctx->opts, "certificate", NULL);
	int generate = hl_opts_flag(&ctx->opts, "generate");
	int primary = hl_opts_flag(&ctx->opts, "primary");
	char thumb[HL_SHA256_HEX_SIZE], *key = NULL, *crt = NULL;
	struct hgs_node *node = NULL;
	size_t key_len = 0, crt_len = 0;
	enum hgs_key_role role;
	int code, rc;

	if (hgs_kps_cert_type_parse(hl_opts_str(&ctx->opts, "certificate-type", NULL), &role) < 0)
		return hl_cmd_fail(HL_EXIT_USAGE, "%s", hl_error_last());
	if (generate == (key_file || crt_file) || (!generate && !(key_file && crt_file)))
		return hl_cmd_fail(HL_EXIT_USAGE, "give either --generate, or both --key FILE and "
				   "--certificate FILE");
	if (!generate) {
		if ((code = hl_cmd_read_file(key_file, "key pair", HL_FILE_READ_MAX, &key,
					     &key_len)) != HL_EXIT_OK ||
		    (code = hl_cmd_read_file(crt_file, "key pair", HL_FILE_READ_MAX, &crt,
					     &crt_len)) != HL_EXIT_OK)
			goto out;
	}
	if ((code = hl_cmd_hgs_open(ctx, &node)) != HL_EXIT_OK)
		goto out;
	rc = generate ? hgs_kps_cert_generate(node, role, primary, thumb)
		      : hgs_kps_cert_import(node, role, key, key_len, crt, crt_len, primary, thumb);
	if (rc < 0) {
		code = hl_cmd_fail(generate ? HL_EXIT_FAILURE : HL_EXIT_USAGE,
				   "cannot add the %s certificate%s%s%s%s%s: %s",
				   role == HGS_KEY_KPS_SIGNING ? "signing" : "encryption",
				   generate ? "" : " (--key '", generate ? "" : key_file,
				   generate ? "" : "', --certificate '", generate ? "" : crt_file,
				   generate ? "" : "')", hl_error_last());
		goto out;
	}
	code = print_cert(ctx, node, thumb);
out:
	hgs_node_close(node);
	if (key) {
		hl_crypto_cleanse(key, key_len);
		free(key);
	}
	free(crt);
	return code;
}

/* `hgs get-key-protection-certificate` (Get-HgsKeyProtectionCertificate). */
int cmd_hgs_get_kps_cert(struct hl_cmd_ctx *ctx)
{
	const char *type = hl_opts_str(&ctx->opts, "certificate-type", NULL);
	struct hgs_node *node = NULL;
	enum hgs_key_role role = HGS_KEY_KPS_SIGNING;
	json_t *rows = NULL;
	int code, rc;

	if (type && hgs_kps_cert_type_parse(type, &role) < 0)
		return hl_cmd_fail(HL_EXIT_USAGE, "%s", hl_error_last());
	if ((code = hl_cmd_hgs_open(ctx, &node)) != HL_EXIT_OK)
		return code;
	rc = hgs_kps_cert_list(node, type ? (int)role : -1, &rows);
	code = hl_cmd_out_rows(ctx, rc, rows, cert_cols, "no key protection certificate");
	json_decref(rows);
	hgs_node_close(node);
	return code;
}

/* `hgs set-key-protection-certificate` (Set-HgsKeyProtectionCertificate). */
int cmd_hgs_set_kps_cert(struct hl_cmd_ctx *ctx)
{
	int primary = hl_opts_flag(&ctx->opts, "primary");
	int enable = hl_opts_flag(&ctx->opts, "enable");
	int disable = hl_opts_flag(&ctx->opts, "disable");
	char thumb[HL_SHA256_HEX_SIZE];
	struct hgs_node *node = NULL;
	enum hgs_kps_cert_change change;
	int code;

	if (primary + enable + disable != 1)
		return hl_cmd_fail(HL_EXIT_USAGE, "give exactly one of --primary, --enable and "
				   "--disable");
	change = primary ? HGS_KPS_CERT_SET_PRIMARY
			 : enable ? HGS_KPS_CERT_ENABLE : HGS_KPS_CERT_DISABLE;
	if ((code = hl_cmd_hgs_open(ctx, &node)) != HL_EXIT_OK)
		return code;
	if ((code = resolve_thumbprint(ctx, node, thumb)) != HL_EXIT_OK)
		goto out;
	if (hgs_db_kps_cert_change(node, thumb, change) < 0) {
		code = hl_cmd_fail(HL_EXIT_FAILURE, "%s", hl_error_last());
		goto out;
	}
	code = print_cert(ctx, node, thumb);
out:
	hgs_node_close(node);
	return code;
}

/* `hgs remove-key-protection-certificate` (Remove-HgsKeyProtectionCertificate). */
int cmd_hgs_remove_kps_cert(struct hl_cmd_ctx *ctx)
{
	char thumb[HL_SHA256_HEX_SIZE];
	struct hgs_node *node = NULL;
	json_t *o;
	int code;

	if ((code = hl_cmd_hgs_open(ctx, &node)) != HL_EXIT_OK)
		return code;
	if ((code = resolve_thumbprint(ctx, node, thumb)) != HL_EXIT_OK)
		goto out;
	if (hgs_kps_cert_remove(node, thumb) < 0) {
		code = hl_cmd_fail(HL_EXIT_FAILURE, "%s", hl_error_last());
		goto out;
	}
	if (hl_opts_flag(&ctx->opts, "json")) {
		o = json_pack("{s:s, s:b}", "Thumbprint", thumb, "Removed", 1);
		code = hl_out_json(o);
		json_decref(o);
	} else {
		printf("removed key protection certificate %s\n", thumb);
	}
out:
	hgs_node_close(node);
	return code;
}

/* ---- the health certificate cut-off ---- */

/* Parse TIME ("now", "2026-11-28T17:21:05Z", "@UNIXTIME") on NODE's clock into *OUT. */
static int parse_time(struct hgs_node *node, const char *text, time_t *out)
{
	struct tm tm;
	const char *end;
	char *e;
	long long v;

	if (strcmp(text, "now") == 0)
		return hgs_node_now(node, out);
	if (text[0] == '@') {
		v = strtoll(text + 1, &e, 10);
		if (e != text + 1 && !*e && v >= 0) {
			*out = (time_t)v;
			return 0;
		}
	} else {
		memset(&tm, 0, sizeof(tm));
		end = strptime(text, "%Y-%m-%dT%H:%M:%SZ", &tm);
		if (end && !*end) {
			*out = timegm(&tm);
			return 0;
		}
	}
	return hl_error("invalid time '%s': use now, a UTC time such as 2026-11-28T17:21:05Z, or "
			"@UNIXTIME", text);
}

/* Print the cut-off of NODE; an exit code. */
static int print_policy(const struct hl_cmd_ctx *ctx, struct hgs_node *node)
{
	char buf[32];
	json_t *o;
	time_t cutoff;
	int set, code;

	if (hgs_db_kps_cutoff_get(node, &set, &cutoff) < 0)
		return hl_cmd_fail(HL_EXIT_FAILURE, "%s", hl_error_last());
	if (set)
		hl_labclock_format(cutoff, buf, sizeof(buf));
	o = json_pack("{s:s?}", "DenyHealthCertificatesIssuedBefore", set ? buf : NULL);
	if (!o)
		return hl_cmd_fail(HL_EXIT_FAILURE, "out of memory");
	if (hl_opts_flag(&ctx->opts, "json")) {
		code = hl_out_json(o);
	} else {
		printf("DenyHealthCertificatesIssuedBefore %s\n", set ? buf : "(none)");
		code = HL_EXIT_OK;
	}
	json_decref(o);
	return code;
}

/* `hgs set-key-protection-attestation-signer-certificate-policy` / `set-key-protection-policy`. */
int cmd_hgs_set_kps_policy(struct hl_cmd_ctx *ctx)
{
	const char *text = hl_opts_str(&ctx->opts, "deny-health-certificates-issued-before", NULL);
	int clear = hl_opts_flag(&ctx->opts, "clear");
	struct hgs_node *node = NULL;
	time_t cutoff = 0;
	int code;

	if (!text == !clear)
		return hl_cmd_fail(HL_EXIT_USAGE, "give either --deny-health-certificates-issued-before "
				   "TIME or --clear");
	if ((code = hl_cmd_hgs_open(ctx, &node)) != HL_EXIT_OK)
		return code;
	if (text && parse_time(node, text, &cutoff) < 0) {
		code = hl_cmd_fail(HL_EXIT_USAGE, "%s", hl_error_last());
		goto out;
	}
	if (hgs_db_kps_cutoff_set(node, !clear, cutoff) < 0) {
		code = hl_cmd_fail(HL_EXIT_FAILURE, "%s", hl_error_last());
		goto out;
	}
	code = print_policy(ctx, node);
out:
	hgs_node_close(node);
	return code;
}

/* `hgs get-key-protection-policy`: the cut-off. */
int cmd_hgs_get_kps_policy(struct hl_cmd_ctx *ctx)
{
	struct hgs_node *node = NULL;
	int code = hl_cmd_hgs_open(ctx, &node);

	if (code == HL_EXIT_OK)
		code = print_policy(ctx, node);
	hgs_node_close(node);
	return code;
}

/* ---- key material caching ---- */

/* Print NODE's key protection configuration and policy generation; an exit code. */
static int print_config(const struct hl_cmd_ctx *ctx, struct hgs_node *node)
{
	char gen[HGS_POLICY_GENERATION_SIZE];
	struct hgs_kps_config cfg;
	json_t *o;
	int code;

	if (hgs_db_policy_generation(node, &cfg, gen) < 0)
		return hl_cmd_fail(HL_EXIT_FAILURE, "%s", hl_error_last());
	o = json_pack("{s:b, s:s}", "AllowKeyMaterialCaching", cfg.allow_caching,
		      "PolicyGeneration", gen);
	if (!o)
		return hl_cmd_fail(HL_EXIT_FAILURE, "out of memory");
	if (hl_opts_flag(&ctx->opts, "json")) {
		code = hl_out_json(o);
	} else {
		printf("AllowKeyMaterialCaching %s\nPolicyGeneration        %s\n",
		       cfg.allow_caching ? "True" : "False", gen);
		code = HL_EXIT_OK;
	}
	json_decref(o);
	return code;
}

/* `hgs get-key-protection-configuration` (Get-HgsKeyProtectionConfiguration). */
int cmd_hgs_get_kps_config(struct hl_cmd_ctx *ctx)
{
	struct hgs_node *node = NULL;
	int code = hl_cmd_hgs_open(ctx, &node);

	if (code == HL_EXIT_OK)
		code = print_config(ctx, node);
	hgs_node_close(node);
	return code;
}

/* `hgs set-key-protection-configuration` (Set-HgsKeyProtectionConfiguration). */
int cmd_hgs_set_kps_config(struct hl_cmd_ctx *ctx)
{
	const char *v = hl_opts_str(&ctx->opts, "allow-key-material-caching", NULL);
	struct hgs_node *node = NULL;
	int code, allow;

	if (!strcmp(v, "on") || !strcmp(v, "true"))
		allow = 1;
	else if (!strcmp(v, "off") || !strcmp(v, "false"))
		allow = 0;
	else
		return hl_cmd_fail(HL_EXIT_USAGE, "bad --allow-key-material-caching '%s': give on "
				   "or off", v);
	if ((code = hl_cmd_hgs_open(ctx, &node)) != HL_EXIT_OK)
		return code;
	if (hgs_db_kps_config_set(node, allow) < 0)
		code = hl_cmd_fail(HL_EXIT_FAILURE, "%s", hl_error_last());
	else
		code = print_config(ctx, node);
	hgs_node_close(node);
	return code;
}

/* ---- the log ---- */

/* `hgs get-key-protection-log`: every key release and refusal. */
int cmd_hgs_get_kps_log(struct hl_cmd_ctx *ctx)
{
	static const char *const cols[] = { "Time", "Host", "KeyProtector", "Owner", "Result",
					     "Reason", NULL };

	return hl_cmd_hgs_log(ctx, hgs_db_kps_log_list, cols,
			      "no key release or refusal is recorded");
}
