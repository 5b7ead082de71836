/*
 * cmd_tenant_template.c - the `hgslab tenant` verbs for template disks:
 * new-template-signer (a tenant's signing certificate and key),
 * new-template-disk (a generalized ext4 template from files),
 * protect-template-disk (Protect-TemplateDisk), save-volume-signature-catalog
 * (Save-VolumeSignatureCatalog) and new-volume-id-qualifier
 * (New-VolumeIDQualifier).  The work is in tenant/template.c and
 * vm/template.c; the formats are proto/vsc*.h (docs/templates.md).
 *
 * Exit codes (cmd/cmd.h): 2 for a bad command line or a malformed, foreign
 * or missing input file; 4 when a template's signature or image does not
 * verify; 1 for other failures.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "lib/crypto.h"
#include "lib/fileio.h"
#include "cmd/cmdutil.h"
#include "cmd/commands.h"
#include "cmd/output.h"
#include "proto/vsc.h"
#include "proto/vsc_viq.h"
#include "tenant/shielding.h"
#include "tenant/template.h"
#include "vm/template.h"

/* Largest signer certificate or key PEM file read. */
#define SIGNER_PEM_MAX 65536

const struct hl_opt cmd_tenant_new_template_signer_opts[] = {
	{ "dir", 'd', HL_OPT_STRING, "DIR", "the tenant directory", HL_OPT_REQUIRED },
	{ "name", 'n', HL_OPT_STRING, "NAME", "the signer's name, e.g. Contoso", HL_OPT_REQUIRED },
	{ "key-type", 0, HL_OPT_STRING, "TYPE", "rsa-2048 (default), rsa-3072 or ec-p256", 0 },
	HL_CMD_OPT_JSON,
	HL_CMD_OPT_END,
};

const struct hl_opt cmd_tenant_new_template_disk_opts[] = {
	{ "out", 'o', HL_OPT_STRING, "FILE", "the template disk to write, e.g. ws2016.tdisk",
	  HL_OPT_REQUIRED },
	{ "files", 0, HL_OPT_STRING, "SRCDIR", "copy SRCDIR's tree onto the disk", 0 },
	{ "file", 0, HL_OPT_LIST, "NAME=CONTENT",
	  "a file on the disk; NAME=@PATH takes the content from file PATH", 0 },
	{ "disk-size", 0, HL_OPT_STRING, "SIZE", "image size, e.g. 16M (default), 1G", 0 },
	{ "force", 'f', HL_OPT_FLAG, NULL, "replace an existing FILE", 0 },
	HL_CMD_OPT_JSON,
	HL_CMD_OPT_END,
};

const struct hl_opt cmd_tenant_protect_template_disk_opts[] = {
	{ "disk", 0, HL_OPT_STRING, "FILE", "the template disk (its signature is added or replaced)",
	  HL_OPT_REQUIRED },
	{ "name", 'n', HL_OPT_STRING, "NAME", "the template's name, e.g. WindowsServer2016", 0 },
	{ "version", 0, HL_OPT_STRING, "A.B.C.D", "the template's version, e.g. 1.0.0.0",
	  HL_OPT_REQUIRED },
	{ "signer", 0, HL_OPT_STRING, "NAME", "a signer of --dir (tenant new-template-signer)", 0 },
	{ "dir", 'd', HL_OPT_STRING, "DIR", "the tenant directory holding the signers", 0 },
	{ "signer-cert", 0, HL_OPT_STRING, "FILE", "the signer's PEM certificate (with --signer-key)",
	  0 },
	{ "signer-key", 0, HL_OPT_STRING, "FILE", "the signer's PEM private key", 0 },
	{ "populate-from", 0, HL_OPT_STRING, "FILE",
	  "an earlier protected template: its name and signer unless given", 0 },
	HL_CMD_OPT_JSON,
	HL_CMD_OPT_END,
};

const struct hl_opt cmd_tenant_save_vsc_opts[] = {
	{ "disk", 0, HL_OPT_STRING, "FILE", "the protected template disk", HL_OPT_REQUIRED },
	{ "out", 'o', HL_OPT_STRING, "FILE", "where to write the .vsc", HL_OPT_REQUIRED },
	HL_CMD_OPT_JSON,
	HL_CMD_OPT_END,
};

const struct hl_opt cmd_tenant_new_viq_opts[] = {
	{ "vsc", 0, HL_OPT_STRING, "FILE", "a volume signature catalog (.vsc)", 0 },
	{ "disk", 0, HL_OPT_STRING, "FILE", "or a protected template disk", 0 },
	{ "version-rule", 0, HL_OPT_STRING, "RULE",
	  "equals, greater-than or greater-than-or-equals", HL_OPT_REQUIRED },
	{ "out", 'o', HL_OPT_STRING, "FILE", "where to write the .viq", HL_OPT_REQUIRED },
	HL_CMD_OPT_JSON,
	HL_CMD_OPT_END,
};

/* Add the properties of VSC (and the template file PATH, when not NULL) to O. */
static void vsc_props(json_t *o, const struct hl_vsc *vsc, const char *path)
{
	char cn[256] = "";

	if (hl_cert_subject_cn(vsc->signer, cn, sizeof(cn)) < 0)
		cn[0] = '\0';
	if (path)
		hl_cmd_set_str(o, "Disk", path);
	hl_cmd_set_str(o, "TemplateName", vsc->name);
	hl_cmd_set_str(o, "Version", vsc->disk_version_text);
	json_object_set_new(o, "DiskBytes", json_integer((json_int_t)vsc->disk_bytes));
	hl_cmd_set_str(o, "DiskSha256", vsc->disk_sha256_hex);
	hl_cmd_set_str(o, "Signer", cn);
	hl_cmd_set_str(o, "SignerThumbprint", vsc->signer_thumbprint);
	hl_cmd_set_str(o, "SignedAt", vsc->signed_at);
}

/* new-template-signer. */
int cmd_tenant_new_template_signer(struct hl_cmd_ctx *ctx)
{
	const char *dir = hl_opts_str(&ctx->opts, "dir", NULL);
	const char *name = hl_opts_str(&ctx->opts, "name", NULL);
	const char *kt = hl_opts_str(&ctx->opts, "key-type", "rsa-2048");
	enum hl_key_type type;
	char thumb[HL_SHA256_HEX_SIZE], path[4096];
	X509 *cert = NULL;
	json_t *o;
	int code;

	if (!strcmp(kt, "rsa-2048"))
		type = HL_KEY_RSA2048;
	else if (!strcmp(kt, "rsa-3072"))
		type = HL_KEY_RSA3072;
	else if (!strcmp(kt, "ec-p256"))
		type = HL_KEY_EC_P256;
	else
		return hl_cmd_fail(HL_EXIT_USAGE, "bad --key-type '%s': give rsa-2048, rsa-3072 or "
				   "ec-p256", kt);
	if ((code = hl_cmd_code_of(hl_template_signer_new(dir, name, type))) != HL_EXIT_OK)
		return code;
	if (hl_template_signer_load(dir, name, &cert, NULL) < 0 ||
	    hl_cert_thumbprint(cert, thumb) < 0) {
		hl_cert_free(cert);
		return hl_cmd_fail(HL_EXIT_FAILURE, "%s", hl_error_last());
	}
	hl_cert_free(cert);
	snprintf(path, sizeof(path), "%s/signers/%s/signer.crt", dir, name);
	o = json_object();
	if (!o)
		return hl_cmd_fail(HL_EXIT_FAILURE, "out of memory");
	hl_cmd_set_str(o, "Name", name);
	hl_cmd_set_str(o, "KeyType", kt);
	hl_cmd_set_str(o, "Thumbprint", thumb);
	hl_cmd_set_str(o, "Certificate", path);
	code = hl_out_object(ctx, o);
	json_decref(o);
	return code;
}

/* new-template-disk. */
int cmd_tenant_new_template_disk(struct hl_cmd_ctx *ctx)
{
	const char *out = hl_opts_str(&ctx->opts, "out", NULL);
	const char *sz = hl_opts_str(&ctx->opts, "disk-size", NULL);
	const char *src = hl_opts_str(&ctx->opts, "files", NULL);
	const struct hl_optval *fv = hl_opts_get(&ctx->opts, "file");
	struct hl_cmd_pair *pairs = NULL;
	struct hl_vm_file *files = NULL;
	size_t size = HL_VM_DISK_DEFAULT, n_gen = 0;
	json_t *o = NULL;
	int code;

	if (sz && hl_cmd_parse_size(sz, &size) < 0)
		return hl_cmd_fail(HL_EXIT_USAGE, "bad --disk-size '%s': give e.g. 16M or 1G", sz);
	if ((code = cmd_tenant_disk_files(fv, src, &pairs, &files)) != HL_EXIT_OK)
		return code;
	code = hl_cmd_code_of(hl_template_new(out, size, files, fv->n, src,
				       hl_opts_flag(&ctx->opts, "force"), &n_gen));
	if (code != HL_EXIT_OK)
		goto out;
	o = json_pack("{s:s, s:I, s:I}", "File", out, "DiskBytes",
		      (json_int_t)((size + HL_VSC_DISK_ALIGN - 1) / HL_VSC_DISK_ALIGN *
				   HL_VSC_DISK_ALIGN),
		      "GeneralizedFiles", (json_int_t)n_gen);
	code = o ? hl_out_object(ctx, o) : hl_cmd_fail(HL_EXIT_FAILURE, "out of memory");
out:
	json_decref(o);
	hl_cmd_pairs_free(pairs, fv->n);
	free(files);
	return code;
}

/* The signer of --signer-cert / --signer-key (both PEM files) into *CERT / *KEY; an exit code. */
static int signer_from_files(const char *cert_path, const char *key_path, X509 **cert,
			     EVP_PKEY **key)
{
	char *buf = NULL;
	size_t len = 0;
	int code;

	if ((code = hl_cmd_read_file(cert_path, "signer certificate", SIGNER_PEM_MAX, &buf, &len)) !=
	    HL_EXIT_OK)
		return code;
	if (hl_cert_from_pem(buf, len, cert) < 0) {
		free(buf);
		return hl_cmd_fail(HL_EXIT_USAGE, "bad signer certificate '%s': %s", cert_path,
				   hl_error_last());
	}
	free(buf);
	if (hl_key_priv_load_file(key_path, key) < 0)
		return hl_cmd_fail(HL_EXIT_USAGE, "bad signer key '%s': %s", key_path,
				   hl_error_last());
	return HL_EXIT_OK;
}

/* Protect-TemplateDisk. */
int cmd_tenant_protect_template_disk(struct hl_cmd_ctx *ctx)
{
	struct hl_template_protect p = { 0 };
	const char *signer = hl_opts_str(&ctx->opts, "signer", NULL);
	const char *cert_path = hl_opts_str(&ctx->opts, "signer-cert", NULL);
	const char *key_path = hl_opts_str(&ctx->opts, "signer-key", NULL);
	struct hl_vsc *vsc = NULL;
	EVP_PKEY *key = NULL, *pub = NULL;
	X509 *cert = NULL;
	json_t *o = NULL;
	int code = HL_EXIT_OK;

	p.disk = hl_opts_str(&ctx->opts, "disk", NULL);
	p.name = hl_opts_str(&ctx->opts, "name", NULL);
	p.version = hl_opts_str(&ctx->opts, "version", NULL);
	p.dir = hl_opts_str(&ctx->opts, "dir", NULL);
	p.populate_from = hl_opts_str(&ctx->opts, "populate-from", NULL);
	p.signed_at = time(NULL);
	if (signer && (cert_path || key_path))
		return hl_cmd_fail(HL_EXIT_USAGE, "give --signer or --signer-cert with --signer-key, "
				   "not both");
	if (!cert_path != !key_path)
		return hl_cmd_fail(HL_EXIT_USAGE, "give --signer-cert and --signer-key together");
	if (signer && !p.dir)
		return hl_cmd_fail(HL_EXIT_USAGE, "--signer needs --dir, the tenant directory that "
				   "holds it");
	if (signer && hl_template_signer_load(p.dir, signer, &cert, &key) < 0)
		return hl_cmd_fail(HL_EXIT_USAGE, "%s", hl_error_last());
	if (cert_path && (code = signer_from_files(cert_path, key_path, &cert, &key)) != HL_EXIT_OK)
		goto out;
	if (cert) {
		if (hl_cert_pubkey(cert, &pub) < 0 || !hl_key_pub_equal(key, pub)) {
			code = hl_cmd_fail(HL_EXIT_USAGE, "the signer's key does not match its "
					   "certificate");
			goto out;
		}
	}
	p.cert = cert;
	p.key = key;
	if ((code = hl_cmd_code_of(hl_template_protect(&p, &vsc))) != HL_EXIT_OK)
		goto out;
	o = json_object();
	if (!o) {
		code = hl_cmd_fail(HL_EXIT_FAILURE, "out of memory");
		goto out;
	}
	vsc_props(o, vsc, p.disk);
	code = hl_out_object(ctx, o);
out:
	json_decref(o);
	hl_vsc_free(vsc);
	hl_key_free(pub);
	hl_key_free(key);
	hl_cert_free(cert);
	return code;
}

/*
 * Open the protected template PATH and verify it (signature and image):
 * an exit code, 2 when it does not open, 4 when it does not verify.
 */
static int open_verified(const char *path, struct vm_template **t)
{
	if (vm_template_open(path, t) < 0)
		return hl_cmd_fail(HL_EXIT_USAGE, "%s", hl_error_last());
	if (vm_template_verify(*t) < 0) {
		vm_template_free(*t);
		*t = NULL;
		return hl_cmd_fail(HL_EXIT_REFUSED, "%s", hl_error_last());
	}
	return HL_EXIT_OK;
}

/* Save-VolumeSignatureCatalog. */
int cmd_tenant_save_vsc(struct hl_cmd_ctx *ctx)
{
	const char *disk = hl_opts_str(&ctx->opts, "disk", NULL);
	const char *out = hl_opts_str(&ctx->opts, "out", NULL);
	struct vm_template *t = NULL;
	json_t *o = NULL;
	int code;

	if ((code = open_verified(disk, &t)) != HL_EXIT_OK)
		return code;
	if (hl_file_write(out, t->vsc->der.data, t->vsc->der.len, HL_FILE_MODE_PUBLIC) < 0) {
		code = hl_cmd_fail(HL_EXIT_FAILURE, "cannot save the signature catalog: %s",
				   hl_error_last());
		goto out;
	}
	o = json_object();
	if (!o) {
		code = hl_cmd_fail(HL_EXIT_FAILURE, "out of memory");
		goto out;
	}
	hl_cmd_set_str(o, "File", out);
	vsc_props(o, t->vsc, disk);
	code = hl_out_object(ctx, o);
out:
	json_decref(o);
	vm_template_free(t);
	return code;
}

/* New-VolumeIDQualifier. */
int cmd_tenant_new_viq(struct hl_cmd_ctx *ctx)
{
	const char *vsc_path = hl_opts_str(&ctx->opts, "vsc", NULL);
	const char *disk = hl_opts_str(&ctx->opts, "disk", NULL);
	const char *rule_text = hl_opts_str(&ctx->opts, "version-rule", NULL);
	const char *out = hl_opts_str(&ctx->opts, "out", NULL);
	struct hl_buf text = { NULL, 0 };
	struct vm_template *t = NULL;
	struct hl_vsc *own = NULL;
	const struct hl_vsc *vsc;
	enum hl_viq_rule rule;
	struct hl_viq q;
	char line[256];
	json_t *o = NULL;
	int code;

	if (!vsc_path == !disk)
		return hl_cmd_fail(HL_EXIT_USAGE, "give exactly one of --vsc FILE and --disk FILE");
	if (hl_viq_rule_parse(rule_text, &rule) < 0)
		return hl_cmd_fail(HL_EXIT_USAGE, "--version-rule: %s", hl_error_last());
	if (disk) {
		if ((code = open_verified(disk, &t)) != HL_EXIT_OK)
			return code;
		vsc = t->vsc;
	} else {
		if (hl_shielding_read_vsc(vsc_path, &own) < 0)
			return hl_cmd_fail(HL_EXIT_USAGE, "%s", hl_error_last());
		if (hl_vsc_verify(own) < 0) {
			code = hl_cmd_fail(HL_EXIT_REFUSED, "'%s': %s", vsc_path, hl_error_last());
			goto out;
		}
		vsc = own;
	}
	if (hl_viq_from_vsc(vsc, rule, &q) < 0 || hl_viq_write(&q, &text) < 0 ||
	    hl_file_write(out, text.data, text.len, HL_FILE_MODE_PUBLIC) < 0) {
		code = hl_cmd_fail(HL_EXIT_FAILURE, "cannot write the volume ID qualifier: %s",
				   hl_error_last());
		goto out;
	}
	hl_viq_describe(&q, line, sizeof(line));
	o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "File", out, "TemplateName", q.name,
		      "Version", vsc->disk_version_text, "VersionRule", hl_viq_rule_name(rule),
		      "SignerThumbprint", q.signer_thumbprint, "Qualifier", line);
	code = o ? hl_out_object(ctx, o) : hl_cmd_fail(HL_EXIT_FAILURE, "out of memory");
out:
	json_decref(o);
	hl_buf_free(&text);
	hl_vsc_free(own);
	vm_template_free(t);
	return code;
}
