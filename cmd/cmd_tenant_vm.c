/*
 * cmd_vm.c - the `hgslab tenant` verbs for VMs: new-vm (the plain template
 * disk), shield-vm (the tenant's own shielding machine), export-vm (the
 * bundle a hosting fabric imports) and inspect-vm (the offline view of a
 * bundle).  The work is in tenant/vm.c and the launcher in hosts/vm.c.
 *
 * Exit codes (sim/cmd.h): 2 for a bad command line or a bundle that breaks
 * the bundle rules (vm/bundle.h: a link, a FIFO, a device, a part larger
 * than declared), 4 when the key protector's owner check says no, 1 for
 * other failures (inspect-vm: 1 when it finds plaintext or a readable vTPM
 * state).  inspect-vm reads the bundle's parts as vm/bundle.h opens them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "lib/crypto.h"
#include "lib/fileio.h"
#include "lib/swtpm.h"
#include "cmd/cmdutil.h"
#include "cmd/commands.h"
#include "cmd/output.h"
#include "proto/keyprotector.h"
#include "proto/names.h"
#include "tenant/vm.h"
#include "vm/bundle.h"
#include "vm/launch.h"

#define OPT_DIR { "dir", 'd', HL_OPT_STRING, "DIR", "the tenant directory", HL_OPT_REQUIRED }
#define OPT_JSON { "json", 0, HL_OPT_FLAG, NULL, "print JSON", 0 }
#define OPT_END { NULL, 0, 0, NULL, NULL, 0 }

const struct hl_opt cmd_tenant_new_vm_opts[] = {
	OPT_DIR,
	{ "name", 'n', HL_OPT_STRING, "VM", "the VM's name", HL_OPT_REQUIRED },
	{ "disk-size", 0, HL_OPT_STRING, "SIZE", "plain disk size, e.g. 16M (default), 1G", 0 },
	{ "file", 0, HL_OPT_LIST, "NAME=CONTENT",
	  "a file on the disk; NAME=@PATH takes the content from file PATH, so it "
	  "is in no command line (@@ for a literal '@')", 0 },
	{ "files", 0, HL_OPT_STRING, "SRCDIR", "copy SRCDIR's tree onto the disk", 0 },
	OPT_JSON,
	OPT_END,
};

const struct hl_opt cmd_tenant_shield_vm_opts[] = {
	OPT_DIR,
	{ "vm", 0, HL_OPT_STRING, "VM", "the VM to shield", HL_OPT_REQUIRED },
	{ "key-protector", 'k', HL_OPT_STRING, "FILE", "the VM's key protector (owned here)",
	  HL_OPT_REQUIRED },
	{ "policy", 0, HL_OPT_STRING, "POLICY", "shielded or encryption-supported",
	  HL_OPT_REQUIRED },
	{ "guest", 0, HL_OPT_STRING, "DIR",
	  HL_GUEST_HELP, 0 },
	{ "timeout", 0, HL_OPT_INT, "SECONDS", "bound on the provisioning boot (default 180)", 0 },
	{ "quiet", 'q', HL_OPT_FLAG, NULL, "no progress lines", 0 },
	OPT_END,
};

const struct hl_opt cmd_tenant_export_vm_opts[] = {
	OPT_DIR,
	{ "vm", 0, HL_OPT_STRING, "VM", "the shielded VM", HL_OPT_REQUIRED },
	{ "out", 'o', HL_OPT_STRING, "BUNDLEDIR", "the bundle folder to write (must not exist)",
	  HL_OPT_REQUIRED },
	OPT_END,
};

const struct hl_opt cmd_tenant_inspect_vm_opts[] = {
	{ "bundle", 'b', HL_OPT_STRING, "BUNDLEDIR", "the bundle to inspect", HL_OPT_REQUIRED },
	{ "search", 's', HL_OPT_LIST, "TEXT", "plaintext to look for in the disk and the vTPM state",
	  0 },
	OPT_JSON,
	OPT_END,
};

/*
 * Pair P's content given as "@PATH": the file PATH's text takes its place
 * ("@@..." is the literal "@..."); an exit code.  The content then never
 * appears in a command line.
 */
static int file_content(struct hl_cmd_pair *p)
{
	char *text = NULL;
	size_t len = 0;

	if (p->value[0] != '@')
		return HL_EXIT_OK;
	if (p->value[1] == '@') {
		memmove(p->value, p->value + 1, strlen(p->value));
		return HL_EXIT_OK;
	}
	if (hl_file_read(p->value + 1, HL_FILE_READ_MAX, &text, &len) < 0)
		return hl_cmd_fail(HL_EXIT_USAGE, "bad --file '%s=%s': %s", p->name, p->value,
				   hl_error_last());
	if (memchr(text, '\0', len)) {
		free(text);
		return hl_cmd_fail(HL_EXIT_USAGE, "bad --file '%s=%s': the file holds a NUL byte; "
				   "--file takes text (copy other files with --files SRCDIR)",
				   p->name, p->value);
	}
	free(p->value);
	p->value = text;
	return HL_EXIT_OK;
}

/* The --file NAME=CONTENT (or NAME=@PATH) items of FV as disk files borrowing from *PAIRS; --files SRC checked. */
int cmd_tenant_disk_files(const struct hl_optval *fv, const char *src, struct hl_cmd_pair **pairs,
			  struct hl_vm_file **files)
{
	size_t i;
	int code;

	*files = NULL;
	*pairs = NULL;
	if (src && (code = hl_cmd_input_dir("--files", src)) != HL_EXIT_OK)
		return code;
	if ((code = hl_cmd_split_pairs(fv, "--file", "NAME=CONTENT or NAME=@PATH", pairs)) !=
	    HL_EXIT_OK)
		return code;
	for (i = 0; i < fv->n; i++)
		if ((code = file_content(&(*pairs)[i])) != HL_EXIT_OK) {
			hl_cmd_pairs_free(*pairs, fv->n);
			*pairs = NULL;
			return code;
		}
	*files = calloc(fv->n + 1, sizeof(**files));
	if (!*files) {
		hl_cmd_pairs_free(*pairs, fv->n);
		*pairs = NULL;
		return hl_cmd_fail(HL_EXIT_FAILURE, "out of memory");
	}
	for (i = 0; i < fv->n; i++) {
		(*files)[i].name = (*pairs)[i].name;
		(*files)[i].content = (*pairs)[i].value;
	}
	return HL_EXIT_OK;
}

/* new-vm. */
int cmd_tenant_new_vm(struct hl_cmd_ctx *ctx)
{
	const char *dir = hl_opts_str(&ctx->opts, "dir", NULL);
	const char *name = hl_opts_str(&ctx->opts, "name", NULL);
	const char *sz = hl_opts_str(&ctx->opts, "disk-size", NULL);
	const char *src = hl_opts_str(&ctx->opts, "files", NULL);
	const struct hl_optval *fv = hl_opts_get(&ctx->opts, "file");
	struct hl_cmd_pair *pairs = NULL;
	struct hl_vm_file *files = NULL;
	size_t size = HL_VM_DISK_DEFAULT;
	json_t *o = NULL;
	int code;

	if (hl_name_vm(name) < 0)
		return hl_cmd_fail(HL_EXIT_USAGE, "cannot make VM '%s': %s", name, hl_error_last());
	if (sz && hl_cmd_parse_size(sz, &size) < 0)
		return hl_cmd_fail(HL_EXIT_USAGE, "bad --disk-size '%s': give e.g. 16M or 1G", sz);
	if ((code = cmd_tenant_disk_files(fv, src, &pairs, &files)) != HL_EXIT_OK)
		return code;
	if (hl_vm_new(dir, name, size, files, fv->n, src) < 0) {
		code = hl_cmd_fail(HL_EXIT_FAILURE, "cannot make VM '%s': %s", name,
				   hl_error_last());
		goto out;
	}
	o = json_pack("{s:s, s:I, s:i, s:s}", "Name", name, "DiskSize", (json_int_t)size,
		      "Files", (int)fv->n + (src ? 1 : 0), "State", "template");
	code = o ? hl_out_object(ctx, o) : hl_cmd_fail(HL_EXIT_FAILURE, "out of memory");
out:
	json_decref(o);
	hl_cmd_pairs_free(pairs, fv->n);
	free(files);
	return code;
}

/* shield-vm. */
int cmd_tenant_shield_vm(struct hl_cmd_ctx *ctx)
{
	struct hl_vm_shield_opts so = { 0 };
	const char *vm = hl_opts_str(&ctx->opts, "vm", NULL);
	const char *policy = hl_opts_str(&ctx->opts, "policy", NULL);
	char *g = vm_launch_guest_dir(hl_opts_str(&ctx->opts, "guest", NULL));
	int r;

	if (!vm_bundle_policy_known(policy)) {
		free(g);
		return hl_cmd_fail(HL_EXIT_USAGE, "bad --policy '%s': give shielded or "
				   "encryption-supported", policy);
	}
	if (!g)
		return hl_cmd_fail(HL_EXIT_FAILURE, "out of memory");
	if ((r = hl_cmd_read_input("--key-protector", hl_opts_str(&ctx->opts, "key-protector", NULL),
				   "key protector", HL_KP_MAX_SIZE, hl_cmd_kind_kp, NULL, NULL)) !=
	    HL_EXIT_OK) {
		free(g);
		return r;
	}
	so.guest_dir = g;
	so.timeout_s = (int)hl_opts_int(&ctx->opts, "timeout", HL_VM_PROVISION_TIMEOUT);
	so.verbose = !hl_opts_flag(&ctx->opts, "quiet");
	r = hl_vm_shield(hl_opts_str(&ctx->opts, "dir", NULL), vm,
			 hl_opts_str(&ctx->opts, "key-protector", NULL),
			 hl_opts_str(&ctx->opts, "policy", NULL), &so);
	free(g);
	if (r == -2)
		return hl_cmd_fail(HL_EXIT_REFUSED, "cannot shield VM '%s': %s", vm,
				   hl_error_last());
	if (r == -3)
		return hl_cmd_fail(HL_EXIT_FAILURE, "cannot shield VM '%s': %s (the VM is left "
				   "unprovisioned; run shield-vm again)", vm, hl_error_last());
	if (r < 0)
		return hl_cmd_fail(HL_EXIT_FAILURE, "cannot shield VM '%s': %s", vm,
				   hl_error_last());
	printf("VM '%s' is shielded (policy %s); its plain disk is removed\n", vm,
	       hl_opts_str(&ctx->opts, "policy", NULL));
	return HL_EXIT_OK;
}

/* export-vm. */
int cmd_tenant_export_vm(struct hl_cmd_ctx *ctx)
{
	const char *vm = hl_opts_str(&ctx->opts, "vm", NULL);
	const char *out = hl_opts_str(&ctx->opts, "out", NULL);
	int r = hl_vm_export(hl_opts_str(&ctx->opts, "dir", NULL), vm, out);

	if (r < 0)
		return hl_cmd_fail(r == -2 ? HL_EXIT_REFUSED : r == -3 ? HL_EXIT_USAGE : HL_EXIT_FAILURE,
				   "cannot export VM '%s': %s", vm, hl_error_last());
	printf("VM '%s' exported to '%s' (disk.img, vtpm/, key-protector.kp, config.json, "
	       "policy.sig)\n", vm, out);
	return HL_EXIT_OK;
}

/*
 * 1 when PART of BUNDLE holds TEXT (streamed in chunks with overlap), 0 not,
 * -1 error, -2 when the part breaks the bundle rules (vm/bundle.h).
 */
static int part_holds(const char *bundle, const char *part, const char *text)
{
	size_t tl = strlen(text), have = 0;
	uint64_t size;
	char *buf;
	FILE *f;
	int fd, found = 0;

	if (!tl || tl > 4096)
		return hl_error("search text must be 1 to 4096 bytes");
	if ((fd = vm_bundle_open_part(bundle, part, &size)) < 0)
		return fd;
	if (!(f = fdopen(fd, "rb"))) {
		close(fd);
		return hl_error_errno("cannot read '%s/%s'", bundle, part);
	}
	if (!(buf = malloc(65536 + tl))) {
		fclose(f);
		return hl_error("out of memory");
	}
	for (;;) {
		size_t n = fread(buf + have, 1, 65536, f);
		if (!n)
			break;
		have += n;
		if (memmem(buf, have, text, tl)) {
			found = 1;
			break;
		}
		if (have >= tl - 1) {
			memmove(buf, buf + have - (tl - 1), tl - 1);
			have = tl - 1;
		}
	}
	free(buf);
	fclose(f);
	return found;
}

/*
 * Try swtpm on a copy of BUNDLE's vTPM state with KEY (NULL: none); 1 when
 * refused, 0 when it started, -1 on error, -2 when the state breaks the
 * bundle rules.
 */
static int vtpm_refused(const char *bundle, const unsigned char *key, char *why, size_t size)
{
	struct hl_swtpm_opts so = { 0 };
	struct hl_swtpm *t = NULL;
	char tmpl[] = "/tmp/hgslab-inspect.XXXXXX", *dst = NULL;
	int rc = -1;

	if (!mkdtemp(tmpl))
		return hl_error_errno("cannot create a scratch folder");
	if (asprintf(&dst, "%s/tpm2-00.permall", tmpl) < 0) {
		dst = NULL;
		hl_error("out of memory");
		goto out;
	}
	if ((rc = vm_bundle_copy_part(bundle, "vtpm/tpm2-00.permall", dst, 0600)) < 0)
		goto out;
	rc = -1;
	so.state_dir = tmpl;
	so.key = key;
	so.key_len = key ? HL_SWTPM_KEY_LEN : 0;
	so.timeout_ms = 15000;
	if (hl_swtpm_start(&so, &t) == 0) {
		snprintf(why, size, "swtpm started: the state is readable");
		rc = 0;
	} else {
		const char *e = hl_error_last(), *m = strstr(e, "Could not initialize libtpms");
		snprintf(why, size, "refused: %s", m ? "Could not initialize libtpms" : e);
		rc = 1;
	}
out:
	hl_swtpm_free(t);
	hl_file_rmtree(tmpl);
	free(dst);
	return rc;
}

/* The exit code for a failed read of a bundle part: R -2 (refused, exit 2) or else 1. */
static int part_fail(int r)
{
	return hl_cmd_fail(r == -2 ? HL_EXIT_USAGE : HL_EXIT_FAILURE, "%s", hl_error_last());
}

/* inspect-vm: what someone without the TK sees in a bundle. */
int cmd_tenant_inspect_vm(struct hl_cmd_ctx *ctx)
{
	const char *bundle = hl_opts_str(&ctx->opts, "bundle", NULL);
	const struct hl_optval *sv = hl_opts_get(&ctx->opts, "search");
	unsigned char magic[8], wrong[HL_SWTPM_KEY_LEN];
	char why[512];
	json_t *o = NULL, *cfg = NULL, *found = NULL;
	int code = HL_EXIT_FAILURE, bad = 0, r, fd;
	uint64_t size;
	size_t i;

	if (vm_bundle_config_read(bundle, &cfg) < 0) {
		code = hl_cmd_fail(HL_EXIT_USAGE, "%s", hl_error_last());
		goto out;
	}
	if (!(o = json_object()) || !(found = json_object())) {
		code = hl_cmd_fail(HL_EXIT_FAILURE, "out of memory");
		goto out;
	}
	json_object_set(o, "Name", json_object_get(cfg, "name"));
	json_object_set(o, "Policy", json_object_get(cfg, "policy"));
	json_object_set(o, "KeyProtector", json_object_get(cfg, "kp_id"));
	memset(magic, 0, sizeof(magic));
	if ((fd = vm_bundle_open_part(bundle, "disk.img", &size)) < 0) {
		code = part_fail(fd);
		goto out;
	}
	r = read(fd, magic, sizeof(magic)) == (ssize_t)sizeof(magic);
	close(fd);
	if (!r) {
		code = hl_cmd_fail(HL_EXIT_FAILURE, "cannot read '%s/disk.img'", bundle);
		goto out;
	}
	if (!memcmp(magic, "LUKS\xba\xbe", 6) && magic[6] == 0 && magic[7] == 2) {
		json_object_set_new(o, "Disk", json_string("LUKS2 (magic LUKS\\xba\\xbe, version 2)"));
	} else {
		json_object_set_new(o, "Disk", json_string("not LUKS2"));
		bad = 1;
	}
	if ((r = vtpm_refused(bundle, NULL, why, sizeof(why))) < 0) {
		code = part_fail(r);
		goto out;
	}
	bad |= !r;
	json_object_set_new(o, "VtpmWithoutKey", json_string(why));
	if (hl_crypto_random(wrong, sizeof(wrong)) < 0 ||
	    (r = vtpm_refused(bundle, wrong, why, sizeof(why))) < 0) {
		code = part_fail(r);
		goto out;
	}
	OPENSSL_cleanse(wrong, sizeof(wrong));
	bad |= !r;
	json_object_set_new(o, "VtpmWrongKey", json_string(why));
	for (i = 0; i < sv->n; i++) {
		int a, b;

		if ((a = part_holds(bundle, "disk.img", sv->list[i])) < 0 ||
		    (b = part_holds(bundle, "vtpm/tpm2-00.permall", sv->list[i])) < 0) {
			code = part_fail(a < 0 ? a : b);
			goto out;
		}
		json_object_set_new(found, sv->list[i], json_string(a || b ? (a ? "FOUND in disk.img"
			: "FOUND in vtpm") : "not found"));
		bad |= a || b;
	}
	if (sv->n) {
		const char *k;
		json_t *v;
		char buf[2048] = "";
		size_t len = 0;

		json_object_foreach(found, k, v) {
			int n = snprintf(buf + len, sizeof(buf) - len, "%s'%s': %s", len ? ", " : "",
					 k, json_string_value(v));
			if (n < 0 || (size_t)n >= sizeof(buf) - len)
				break;
			len += (size_t)n;
		}
		json_object_set_new(o, "Search", json_string(buf));
	}
	code = hl_out_object(ctx, o);
	if (code == HL_EXIT_OK && bad)
		code = hl_cmd_fail(HL_EXIT_FAILURE, "bundle '%s' is not ciphertext only", bundle);
out:
	json_decref(o);
	json_decref(cfg);
	json_decref(found);
	return code;
}
