/*
 * cmd_tenant.c - the `hgslab tenant` verbs for guardians and key protectors:
 * New-/Import-/Get-/Export-/Remove-HgsGuardian (new-guardian, ...),
 * New-HgsKeyProtector (new-key-protector), Grant-/Revoke-
 * HgsKeyProtectorAccess (grant-/revoke-key-protector-access) and
 * show-key-protector.  Guardians live in the tenant directory (--dir,
 * tenant/guardian.h); key protectors are files in the format of
 * lib/keyprotector.h (docs/key-protector.md).
 *
 * The transport key never leaves this process: it is printed only as its
 * fingerprint and held in hl_buf buffers that are cleansed when freed.
 * Exit codes (sim/cmd.h): 2 for a bad command line or a malformed input file,
 * 4 when a trust check says no (an untrusted root, a signature that fails, a
 * key protector signed by someone else), 1 for other failures.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "lib/crypto.h"
#include "lib/fileio.h"
#include "lib/json.h"
#include "proto/keyprotector.h"
#include "cmd/cmdutil.h"
#include "cmd/commands.h"
#include "cmd/output.h"
#include "proto/names.h"
#include "tenant/guardian.h"

#define OPT_DIR { "dir", 'd', HL_OPT_STRING, "DIR", "the tenant directory", HL_OPT_REQUIRED }

const struct hl_opt cmd_tenant_new_guardian_opts[] = {
	OPT_DIR,
	{ "name", 'n', HL_OPT_STRING, "NAME", "the guardian's name, e.g. Owner", HL_OPT_REQUIRED },
	HL_CMD_OPT_JSON,
	HL_CMD_OPT_END,
};

const struct hl_opt cmd_tenant_import_guardian_opts[] = {
	OPT_DIR,
	{ "name", 'n', HL_OPT_STRING, "NAME", "local name (default: the name in the metadata)", 0 },
	{ "url", 0, HL_OPT_STRING, "URL",
	  "HGS base URL or full .../metadata.xml URL to fetch the metadata from", 0 },
	{ "file", 0, HL_OPT_STRING, "FILE", "read the metadata from FILE instead", 0 },
	{ "allow-untrusted-root", 0, HL_OPT_FLAG, NULL,
	  "accept self-signed certificates or an unknown root (-AllowUntrustedRoot)", 0 },
	{ "trusted-root", 0, HL_OPT_STRING, "FILE",
	  "PEM certificate of a root the guardian's certificates must chain to", 0 },
	{ "trusted-thumbprint", 0, HL_OPT_LIST, "SHA256",
	  "trust a certificate by its SHA-256 thumbprint (`hgs get-server` shows an HGS's two)", 0 },
	{ "resolve", 0, HL_OPT_LIST, "NAME:PORT:ADDR",
	  "map a host name to a loopback address for --url", 0 },
	HL_CMD_OPT_JSON,
	HL_CMD_OPT_END,
};

const struct hl_opt cmd_tenant_get_guardian_opts[] = {
	OPT_DIR,
	{ "name", 'n', HL_OPT_STRING, "NAME", "show only this guardian", 0 },
	HL_CMD_OPT_JSON,
	HL_CMD_OPT_END,
};

const struct hl_opt cmd_tenant_export_guardian_opts[] = {
	OPT_DIR,
	{ "name", 'n', HL_OPT_STRING, "NAME", "the guardian to export", HL_OPT_REQUIRED },
	{ "out", 'o', HL_OPT_STRING, "FILE", "where to write the metadata ('-': stdout)",
	  HL_OPT_REQUIRED },
	HL_CMD_OPT_END,
};

const struct hl_opt cmd_tenant_remove_guardian_opts[] = {
	OPT_DIR,
	{ "name", 'n', HL_OPT_STRING, "NAME", "the guardian to remove", HL_OPT_REQUIRED },
	HL_CMD_OPT_END,
};

const struct hl_opt cmd_tenant_new_key_protector_opts[] = {
	OPT_DIR,
	{ "owner", 0, HL_OPT_STRING, "NAME", "the owner guardian (needs its private keys)",
	  HL_OPT_REQUIRED },
	{ "guardian", 'g', HL_OPT_LIST, "NAME", "a guardian to wrap the key to", 0 },
	{ "out", 'o', HL_OPT_STRING, "FILE", "where to write the key protector", HL_OPT_REQUIRED },
	{ "allow-expired", 0, HL_OPT_FLAG, NULL, "accept certificates outside their validity", 0 },
	{ "force", 'f', HL_OPT_FLAG, NULL, "replace an existing FILE (its key is lost)", 0 },
	HL_CMD_OPT_JSON,
	HL_CMD_OPT_END,
};

const struct hl_opt cmd_tenant_kp_access_opts[] = {
	OPT_DIR,
	{ "key-protector", 'k', HL_OPT_STRING, "FILE", "the key protector file (rewritten)",
	  HL_OPT_REQUIRED },
	{ "guardian", 'g', HL_OPT_STRING, "NAME", "the guardian to grant or revoke",
	  HL_OPT_REQUIRED },
	{ "allow-expired", 0, HL_OPT_FLAG, NULL,
	  "grant: accept a certificate outside its validity", 0 },
	HL_CMD_OPT_END,
};

const struct hl_opt cmd_tenant_show_key_protector_opts[] = {
	OPT_DIR,
	HL_CMD_OPT_JSON,
	HL_CMD_OPT_END,
};

/* ---- output (the same shapes as `hgslab hgs`) ---- */

/* Format time T as RFC 3339 UTC into BUF. */
static void fmt_time(time_t t, char *buf, size_t size)
{
	struct tm tm;

	if (!gmtime_r(&t, &tm) || !strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(buf, size, "@%lld", (long long)t);
}

/* Get-HgsGuardian's object for G. */
static json_t *guardian_json(const struct hl_guardian *g)
{
	char subject[256] = "", when[32] = "";
	time_t na = 0;
	json_t *o = json_object();

	if (!o)
		return NULL;
	if (hl_cert_subject_cn(g->signing_cert, subject, sizeof(subject)) < 0)
		subject[0] = '\0';
	if (hl_cert_validity(g->encryption_cert, NULL, &na) == 0)
		fmt_time(na, when, sizeof(when));
	hl_cmd_set_str(o, "Name", g->name);
	hl_cmd_set_str(o, "Kind", g->kind == HL_GUARDIAN_OWNED ? "Owned" : "Imported");
	json_object_set_new(o, "HasPrivateSigningKey", json_boolean(g->has_private_keys));
	hl_cmd_set_str(o, "SigningCertificateSubject", subject);
	hl_cmd_set_str(o, "SigningThumbprint", g->signing_thumbprint);
	hl_cmd_set_str(o, "EncryptionThumbprint", g->encryption_thumbprint);
	hl_cmd_set_str(o, "NotAfter", when);
	hl_cmd_set_str(o, "Created", g->created);
	return o;
}

/* Print guardian G (JSON or properties). */
static int print_guardian(const struct hl_cmd_ctx *ctx, const struct hl_guardian *g)
{
	json_t *o = guardian_json(g);
	int code;

	if (!o)
		return hl_cmd_fail(HL_EXIT_FAILURE, "out of memory");
	code = hl_out_object(ctx, o);
	json_decref(o);
	return code;
}

/* ---- guardians ---- */

/* New-HgsGuardian -GenerateCertificates. */
int cmd_tenant_new_guardian(struct hl_cmd_ctx *ctx)
{
	const char *dir = hl_opts_str(&ctx->opts, "dir", NULL);
	const char *name = hl_opts_str(&ctx->opts, "name", NULL);
	struct hl_guardian *g = NULL;
	int code;

	if (hl_name_guardian(name) < 0)
		return hl_cmd_fail(HL_EXIT_USAGE, "%s", hl_error_last());
	if (hl_guardian_new(dir, name) < 0 || hl_guardian_load(dir, name, 0, &g) < 0)
		return hl_cmd_fail(HL_EXIT_FAILURE, "%s", hl_error_last());
	if (!hl_opts_flag(&ctx->opts, "json"))
		printf("created guardian '%s' in '%s' (signing and encryption keys, 0600)\n\n", name,
		       dir);
	code = print_guardian(ctx, g);
	hl_guardian_free(g);
	return code;
}

/* Import-HgsGuardian. */
int cmd_tenant_import_guardian(struct hl_cmd_ctx *ctx)
{
	const char *dir = hl_opts_str(&ctx->opts, "dir", NULL);
	const char *name = hl_opts_str(&ctx->opts, "name", NULL);
	const char *url = hl_opts_str(&ctx->opts, "url", NULL);
	const char *file = hl_opts_str(&ctx->opts, "file", NULL);
	const char *root_file = hl_opts_str(&ctx->opts, "trusted-root", NULL);
	const struct hl_optval *resolve = hl_opts_get(&ctx->opts, "resolve");
	const struct hl_optval *tps = hl_opts_get(&ctx->opts, "trusted-thumbprint");
	struct hl_guardian_metadata *md = NULL;
	struct hl_guardian *g = NULL;
	const char **res = NULL;
	X509 *root = NULL;
	char *text = NULL;
	size_t len = 0, i;
	int code = HL_EXIT_FAILURE;

	if (!url == !file)
		return hl_cmd_fail(HL_EXIT_USAGE, "give exactly one of --url URL and --file FILE");
	if (tps->n && (root_file || hl_opts_flag(&ctx->opts, "allow-untrusted-root")))
		return hl_cmd_fail(HL_EXIT_USAGE, "give --trusted-thumbprint, --trusted-root or "
				   "--allow-untrusted-root, not several");
	if (name && hl_name_guardian(name) < 0)
		return hl_cmd_fail(HL_EXIT_USAGE, "%s", hl_error_last());
	if (root_file) {
		if ((code = hl_cmd_read_file(root_file, "trusted root", 65536, &text, &len)) !=
		    HL_EXIT_OK)
			goto out;
		if (hl_cert_from_pem(text, len, &root) < 0) {
			code = hl_cmd_fail(HL_EXIT_USAGE, "bad trusted root '%s': %s", root_file,
					   hl_error_last());
			goto out;
		}
		free(text);
		text = NULL;
	}
	if (file) {
		if ((code = hl_cmd_read_file(file, "guardian metadata", HL_GUARDIAN_METADATA_MAX, &text,
				       &len)) != HL_EXIT_OK)
			goto out;
		if (hl_guardian_metadata_parse(text, len, &md) < 0) {
			code = hl_cmd_fail(HL_EXIT_USAGE, "'%s': %s", file, hl_error_last());
			goto out;
		}
	} else {
		res = calloc(resolve->n + 1, sizeof(*res));
		if (!res) {
			code = hl_cmd_fail(HL_EXIT_FAILURE, "out of memory");
			goto out;
		}
		for (i = 0; i < resolve->n; i++)
			res[i] = resolve->list[i];
		if (hl_guardian_metadata_fetch(url, res, &md) < 0) {
			code = hl_cmd_fail(HL_EXIT_FAILURE, "%s", hl_error_last());
			goto out;
		}
	}
	if (!name) {
		name = md->name;
		if (hl_name_guardian(name) < 0) {
			code = hl_cmd_fail(HL_EXIT_USAGE, "%s; give a local name with --name",
					   hl_error_last());
			goto out;
		}
	}
	if (tps->n) {
		int r = hl_guardian_metadata_trust_thumbprints(md, (const char *const *)tps->list,
							       tps->n);

		if (r < 0) {
			code = hl_cmd_fail(r == -2 ? HL_EXIT_USAGE : HL_EXIT_REFUSED, "%s",
					   hl_error_last());
			goto out;
		}
	} else if (hl_guardian_metadata_trust(md, root, hl_opts_flag(&ctx->opts,
								     "allow-untrusted-root")) < 0) {
		code = hl_cmd_fail(HL_EXIT_REFUSED, "%s", hl_error_last());
		goto out;
	}
	if (hl_guardian_import(dir, name, md) < 0 || hl_guardian_load(dir, name, 0, &g) < 0) {
		code = hl_cmd_fail(HL_EXIT_FAILURE, "%s", hl_error_last());
		goto out;
	}
	if (!hl_opts_flag(&ctx->opts, "json"))
		printf("imported guardian '%s' (published as '%s') into '%s'\n\n", name, md->name,
		       dir);
	code = print_guardian(ctx, g);
out:
	free(res);
	free(text);
	hl_cert_free(root);
	hl_guardian_metadata_free(md);
	hl_guardian_free(g);
	return code;
}

/* Get-HgsGuardian. */
int cmd_tenant_get_guardian(struct hl_cmd_ctx *ctx)
{
	static const char *const cols[] = { "Name", "Kind", "HasPrivateSigningKey",
					    "SigningThumbprint", NULL };
	const char *dir = hl_opts_str(&ctx->opts, "dir", NULL);
	const char *name = hl_opts_str(&ctx->opts, "name", NULL);
	struct hl_guardian **v = NULL, *one = NULL;
	json_t *rows = json_array();
	size_t n = 0, i;
	int code = HL_EXIT_OK;

	if (!rows)
		return hl_cmd_fail(HL_EXIT_FAILURE, "out of memory");
	if (name) {
		if (hl_guardian_load(dir, name, 0, &one) < 0) {
			code = hl_cmd_fail(HL_EXIT_FAILURE, "%s", hl_error_last());
			goto out;
		}
		json_array_append_new(rows, guardian_json(one));
	} else {
		if (hl_guardian_list(dir, &v, &n) < 0) {
			code = hl_cmd_fail(HL_EXIT_FAILURE, "%s", hl_error_last());
			goto out;
		}
		for (i = 0; i < n; i++)
			json_array_append_new(rows, guardian_json(v[i]));
	}
	if (hl_opts_flag(&ctx->opts, "json"))
		code = hl_out_json(rows);
	else if (json_array_size(rows) == 0)
		printf("no guardians in '%s'\n", dir);
	else
		hl_out_table(rows, cols);
out:
	for (i = 0; i < n; i++)
		hl_guardian_free(v[i]);
	free(v);
	hl_guardian_free(one);
	json_decref(rows);
	return code;
}

/* Export-HgsGuardian: the metadata document, public parts only. */
int cmd_tenant_export_guardian(struct hl_cmd_ctx *ctx)
{
	const char *dir = hl_opts_str(&ctx->opts, "dir", NULL);
	const char *name = hl_opts_str(&ctx->opts, "name", NULL);
	const char *out = hl_opts_str(&ctx->opts, "out", NULL);
	struct hl_buf xml = { NULL, 0 };
	struct hl_guardian *g = NULL;
	int code = HL_EXIT_OK;

	if (hl_guardian_load(dir, name, 0, &g) < 0 ||
	    hl_guardian_metadata_write(g->name, g->signing_cert, g->encryption_cert, &xml) < 0) {
		code = hl_cmd_fail(HL_EXIT_FAILURE, "%s", hl_error_last());
		goto out;
	}
	if (strcmp(out, "-") == 0) {
		fwrite(xml.data, 1, xml.len, stdout);
	} else if (hl_file_write(out, xml.data, xml.len, HL_FILE_MODE_PUBLIC) < 0) {
		code = hl_cmd_fail(HL_EXIT_FAILURE, "cannot export guardian '%s': %s", name,
				   hl_error_last());
	} else {
		printf("exported guardian '%s' (certificates only) to '%s'\n", name, out);
	}
out:
	hl_buf_free(&xml);
	hl_guardian_free(g);
	return code;
}

/* Remove-HgsGuardian. */
int cmd_tenant_remove_guardian(struct hl_cmd_ctx *ctx)
{
	const char *dir = hl_opts_str(&ctx->opts, "dir", NULL);
	const char *name = hl_opts_str(&ctx->opts, "name", NULL);

	if (hl_guardian_remove(dir, name) < 0)
		return hl_cmd_fail(HL_EXIT_FAILURE, "%s", hl_error_last());
	printf("removed guardian '%s' from '%s'\n", name, dir);
	return HL_EXIT_OK;
}

/* ---- key protectors ---- */

/* Read and parse key protector FILE into *KP; an exit code (2 when malformed). */
static int load_kp(const char *file, struct hl_kp **kp)
{
	char *text = NULL;
	size_t len = 0;
	int code;

	*kp = NULL;
	if ((code = hl_cmd_read_file(file, "key protector", HL_KP_MAX_SIZE, &text, &len)) !=
	    HL_EXIT_OK)
		return code;
	if (hl_kp_parse(text, len, kp) < 0)
		code = hl_cmd_fail(HL_EXIT_USAGE, "'%s': %s", file, hl_error_last());
	free(text);
	return code;
}

/* Write KP bytes to FILE atomically; an exit code. */
static int write_kp(const char *file, const struct hl_buf *kp)
{
	if (hl_file_write(file, kp->data, kp->len, HL_FILE_MODE_PUBLIC) < 0)
		return hl_cmd_fail(HL_EXIT_FAILURE, "cannot write the key protector: %s",
				   hl_error_last());
	return HL_EXIT_OK;
}

/* New-HgsKeyProtector. */
int cmd_tenant_new_key_protector(struct hl_cmd_ctx *ctx)
{
	const char *dir = hl_opts_str(&ctx->opts, "dir", NULL);
	const char *owner_name = hl_opts_str(&ctx->opts, "owner", NULL);
	const char *out = hl_opts_str(&ctx->opts, "out", NULL);
	const struct hl_optval *gv = hl_opts_get(&ctx->opts, "guardian");
	unsigned flags = hl_opts_flag(&ctx->opts, "allow-expired") ? HL_KP_ALLOW_EXPIRED : 0;
	struct hl_buf kpbuf = { NULL, 0 }, tk = { NULL, 0 };
	struct hl_guardian *owner = NULL, **gs = NULL;
	struct hl_kp_guardian *kg = NULL;
	struct hl_kp_owner ko;
	struct hl_kp *kp = NULL;
	char fp[HL_SHA256_HEX_SIZE];
	json_t *o = NULL, *names;
	size_t i, loaded = 0;
	int code = HL_EXIT_FAILURE, ex;

	if (!hl_opts_flag(&ctx->opts, "force")) {
		ex = hl_file_exists(out);
		if (ex < 0)
			return hl_cmd_fail(HL_EXIT_FAILURE, "%s", hl_error_last());
		if (ex > 0)
			return hl_cmd_fail(HL_EXIT_USAGE, "'%s' exists: a key protector there may be "
					   "the only way to a VM's key; give --force to replace it",
					   out);
	}
	gs = calloc(gv->n + 1, sizeof(*gs));
	kg = calloc(gv->n + 1, sizeof(*kg));
	if (!gs || !kg) {
		code = hl_cmd_fail(HL_EXIT_FAILURE, "out of memory");
		goto out;
	}
	if (hl_guardian_load(dir, owner_name, HL_GUARDIAN_LOAD_KEYS, &owner) < 0) {
		code = hl_cmd_fail(HL_EXIT_FAILURE, "owner: %s", hl_error_last());
		goto out;
	}
	for (i = 0; i < gv->n; i++, loaded++) {
		if (hl_guardian_load(dir, gv->list[i], 0, &gs[i]) < 0) {
			code = hl_cmd_fail(HL_EXIT_FAILURE, "%s", hl_error_last());
			goto out;
		}
		hl_guardian_as_kp(gs[i], &kg[i]);
	}
	hl_guardian_as_owner(owner, &ko);
	if (hl_kp_create(&ko, kg, gv->n, flags, &kpbuf, &tk) < 0 ||
	    hl_kp_tk_fingerprint(tk.data, tk.len, fp) < 0 ||
	    hl_kp_parse(kpbuf.data, kpbuf.len, &kp) < 0) {
		code = hl_cmd_fail(HL_EXIT_FAILURE, "%s", hl_error_last());
		goto out;
	}
	hl_buf_free(&tk);
	if ((code = write_kp(out, &kpbuf)) != HL_EXIT_OK)
		goto out;
	if (hl_opts_flag(&ctx->opts, "json")) {
		o = json_object();
		names = json_array();
		if (!o || !names) {
			json_decref(names);
			code = hl_cmd_fail(HL_EXIT_FAILURE, "out of memory");
			goto out;
		}
		hl_cmd_set_str(o, "Id", kp->id);
		hl_cmd_set_str(o, "File", out);
		hl_cmd_set_str(o, "Owner", kp->owner_name);
		for (i = 0; i < kp->n_entries; i++)
			json_array_append_new(names, json_string(kp->entries[i].name));
		json_object_set_new(o, "Guardians", names);
		hl_cmd_set_str(o, "TransportKeyFingerprint", fp);
		code = hl_out_json(o);
	} else {
		printf("created key protector %s for owner '%s' in '%s'\n", kp->id, kp->owner_name,
		       out);
		printf("guardians:");
		for (i = 0; i < kp->n_entries; i++)
			printf("%s %s", i ? "," : "", kp->entries[i].name);
		printf("\nTK fingerprint: %s\n", fp);
	}
out:
	hl_buf_free(&tk);
	hl_buf_free(&kpbuf);
	hl_kp_free(kp);
	json_decref(o);
	for (i = 0; gs && i < loaded; i++)
		hl_guardian_free(gs[i]);
	free(gs);
	free(kg);
	hl_guardian_free(owner);
	return code;
}

/*
 * Load KP's owner from DIR with its private keys and check KP's signature
 * pinned to it; an exit code (4 when the signature or the owner is wrong).
 */
static int kp_owner(const char *dir, const struct hl_kp *kp, struct hl_guardian **owner)
{
	char name[HL_NAME_GUARDIAN_SIZE];

	*owner = NULL;
	if (hl_guardian_find(dir, kp->owner_signing_thumbprint, 1, 0, owner) < 0)
		return hl_cmd_fail(HL_EXIT_FAILURE, "key protector %s is owned by '%s' (signing "
				   "certificate %s), which is not a guardian in '%s': only the owner "
				   "can change it", kp->id, kp->owner_name,
				   kp->owner_signing_thumbprint, dir);
	snprintf(name, sizeof(name), "%s", (*owner)->name);
	hl_guardian_free(*owner);
	*owner = NULL;
	if (hl_guardian_load(dir, name, HL_GUARDIAN_LOAD_KEYS, owner) < 0)
		return hl_cmd_fail(HL_EXIT_FAILURE, "key protector %s: only the owner can change "
				   "it: %s", kp->id, hl_error_last());
	if (hl_kp_verify(kp, (*owner)->signing_thumbprint) < 0) {
		hl_guardian_free(*owner);
		*owner = NULL;
		return hl_cmd_fail(HL_EXIT_REFUSED, "%s", hl_error_last());
	}
	return HL_EXIT_OK;
}

/* Grant-/Revoke-HgsKeyProtectorAccess (the verb name says which). */
static int kp_access(struct hl_cmd_ctx *ctx, int grant)
{
	const char *dir = hl_opts_str(&ctx->opts, "dir", NULL);
	const char *file = hl_opts_str(&ctx->opts, "key-protector", NULL);
	const char *name = hl_opts_str(&ctx->opts, "guardian", NULL);
	unsigned flags = hl_opts_flag(&ctx->opts, "allow-expired") ? HL_KP_ALLOW_EXPIRED : 0;
	struct hl_guardian *owner = NULL, *g = NULL;
	const struct hl_kp_entry *e = NULL;
	struct hl_buf out = { NULL, 0 };
	struct hl_kp_guardian kg;
	struct hl_kp_owner ko;
	struct hl_kp *kp = NULL;
	int code, ex;

	if ((code = load_kp(file, &kp)) != HL_EXIT_OK)
		return code;
	if ((code = kp_owner(dir, kp, &owner)) != HL_EXIT_OK)
		goto out;
	hl_guardian_as_owner(owner, &ko);
	code = HL_EXIT_FAILURE;
	if (grant) {
		if (hl_guardian_load(dir, name, 0, &g) < 0) {
			hl_cmd_fail(HL_EXIT_FAILURE, "%s", hl_error_last());
			goto out;
		}
		hl_guardian_as_kp(g, &kg);
		if (hl_kp_grant(kp, &ko, &kg, flags, &out) < 0) {
			hl_cmd_fail(HL_EXIT_FAILURE, "%s", hl_error_last());
			goto out;
		}
	} else {
		/* the guardian as this directory knows it, else the entry of that name */
		ex = hl_name_guardian(name) == 0 ? hl_guardian_load(dir, name, 0, &g) : -1;
		if (ex == 0 && hl_kp_find(kp, g->encryption_thumbprint, &e) < 0) {
			hl_cmd_fail(HL_EXIT_FAILURE, "guardian '%s' (encryption certificate %s) has "
				    "no access to key protector %s", name, g->encryption_thumbprint,
				    kp->id);
			goto out;
		}
		if (ex < 0 && hl_kp_find_name(kp, name, &e) < 0) {
			hl_cmd_fail(HL_EXIT_FAILURE, "%s", hl_error_last());
			goto out;
		}
		if (hl_kp_revoke(kp, &ko, e->encryption_thumbprint, &out) < 0) {
			hl_cmd_fail(HL_EXIT_FAILURE, "%s", hl_error_last());
			goto out;
		}
	}
	if ((code = write_kp(file, &out)) != HL_EXIT_OK)
		goto out;
	if (grant)
		printf("granted guardian '%s' access to key protector %s ('%s')\n", name, kp->id,
		       file);
	else
		printf("revoked guardian '%s' from key protector %s ('%s')\n", e->name, kp->id, file);
out:
	hl_buf_free(&out);
	hl_guardian_free(g);
	hl_guardian_free(owner);
	hl_kp_free(kp);
	return code;
}

/* Grant-HgsKeyProtectorAccess. */
int cmd_tenant_grant_key_protector_access(struct hl_cmd_ctx *ctx)
{
	return kp_access(ctx, 1);
}

/* Revoke-HgsKeyProtectorAccess. */
int cmd_tenant_revoke_key_protector_access(struct hl_cmd_ctx *ctx)
{
	return kp_access(ctx, 0);
}

/*
 * The TK fingerprint of KP when its owner's private keys are in DIR and the
 * signature verifies pinned to that owner, into FP; 0 when computed, -1
 * (with the reason in hl_error) when not.
 */
static int owner_fingerprint(const char *dir, const struct hl_kp *kp, char fp[HL_SHA256_HEX_SIZE])
{
	struct hl_guardian *owner = NULL;
	struct hl_buf tk = { NULL, 0 };
	int rc = -1;

	if (hl_guardian_find(dir, kp->owner_signing_thumbprint, 1, HL_GUARDIAN_LOAD_KEYS,
			     &owner) < 0)
		return -1;
	if (hl_kp_verify(kp, owner->signing_thumbprint) == 0 &&
	    hl_kp_unwrap_entry(&kp->entries[0], owner->encryption_key, &tk) == 0 &&
	    hl_kp_tk_fingerprint(tk.data, tk.len, fp) == 0)
		rc = 0;
	hl_buf_free(&tk);
	hl_guardian_free(owner);
	return rc;
}

/* Show a key protector: owner, guardians, version, signature, TK fingerprint for the owner. */
int cmd_tenant_show_key_protector(struct hl_cmd_ctx *ctx)
{
	static const char *const cols[] = { "Name", "Role", "InDirectory", "EncryptionThumbprint",
					    NULL };
	const char *dir = hl_opts_str(&ctx->opts, "dir", NULL);
	struct hl_guardian **v = NULL;
	struct hl_kp *kp = NULL;
	char fp[HL_SHA256_HEX_SIZE], sig_err[HL_ERROR_MAX] = "";
	json_t *o = NULL, *rows = NULL, *r;
	size_t n = 0, i, j;
	int code, sig_ok, fp_ok;

	if (ctx->opts.argc != 1)
		return hl_cmd_fail(HL_EXIT_USAGE, "give exactly one key protector FILE");
	if ((code = load_kp(ctx->opts.argv[0], &kp)) != HL_EXIT_OK)
		return code;
	sig_ok = hl_kp_verify(kp, NULL) == 0;
	if (!sig_ok)
		snprintf(sig_err, sizeof(sig_err), "%s", hl_error_last());
	fp_ok = sig_ok && owner_fingerprint(dir, kp, fp) == 0;
	if (hl_guardian_list(dir, &v, &n) < 0)
		n = 0;
	o = json_object();
	rows = json_array();
	if (!o || !rows) {
		code = hl_cmd_fail(HL_EXIT_FAILURE, "out of memory");
		goto out;
	}
	hl_cmd_set_str(o, "Id", kp->id);
	json_object_set_new(o, "Version", json_integer(kp->version));
	hl_cmd_set_str(o, "Created", kp->created);
	hl_cmd_set_str(o, "Owner", kp->owner_name);
	hl_cmd_set_str(o, "OwnerSigningThumbprint", kp->owner_signing_thumbprint);
	json_object_set_new(o, "SignatureValid", json_boolean(sig_ok));
	hl_cmd_set_str(o, "TransportKeyFingerprint", fp_ok ? fp : NULL);
	for (i = 0; i < kp->n_entries; i++) {
		const char *local = NULL;

		for (j = 0; j < n; j++)
			if (strcmp(v[j]->encryption_thumbprint,
				   kp->entries[i].encryption_thumbprint) == 0)
				local = v[j]->name;
		r = json_object();
		if (!r || json_array_append_new(rows, r) < 0) {
			code = hl_cmd_fail(HL_EXIT_FAILURE, "out of memory");
			goto out;
		}
		hl_cmd_set_str(r, "Name", kp->entries[i].name);
		hl_cmd_set_str(r, "Role", i == 0 ? "Owner" : "Guardian");
		hl_cmd_set_str(r, "InDirectory", local ? local : "");
		hl_cmd_set_str(r, "SigningThumbprint", kp->entries[i].signing_thumbprint);
		hl_cmd_set_str(r, "EncryptionThumbprint", kp->entries[i].encryption_thumbprint);
	}
	json_object_set(o, "Guardians", rows);
	if (hl_opts_flag(&ctx->opts, "json")) {
		if (!sig_ok)
			hl_cmd_set_str(o, "SignatureError", sig_err);
		code = hl_out_json(o);
	} else {
		if (!fp_ok)
			hl_cmd_set_str(o, "TransportKeyFingerprint",
				sig_ok ? "(owner's private key not in this directory)" : "(not shown)");
		hl_out_list(o);
		hl_out_table(rows, cols);
	}
	if (code == HL_EXIT_OK && !sig_ok)
		code = hl_cmd_fail(HL_EXIT_REFUSED, "%s", sig_err);
out:
	for (i = 0; i < n; i++)
		hl_guardian_free(v[i]);
	free(v);
	json_decref(rows);
	json_decref(o);
	hl_kp_free(kp);
	return code;
}
