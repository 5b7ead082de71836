/*
 * test_tenant_template.c - unit tests for tenant/template and
 * tenant/shielding on real files (mke2fs, no QEMU): a generalized template
 * disk (its generalized.json read back with debugfs; refusals leave nothing
 * behind), template signers, Protect-TemplateDisk (a plain image, protected
 * again, --populate-from's name, signer and version rule, refusals that
 * leave the disk untouched), New-ShieldingDataFile from a tenant directory
 * (the secrets back with the owner's key, in no file but their sources, the
 * refusals), and the .fsk from values and a file of lines.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/crypto.h"
#include "lib/fileio.h"
#include "proto/fsk.h"
#include "proto/pdk.h"
#include "proto/vsc.h"
#include "proto/vsc_viq.h"
#include "tenant/guardian.h"
#include "tenant/shielding.h"
#include "tenant/template.h"
#include "vm/template.h"
#include "tests/unit/testutil.h"

#define SECRET "AdminPassword=Sup3rSecret-frobozz"

struct sb {
	char dir[TU_SANDBOX_DIR];   /* first: the scratch folder */
	char ten[128];              /* the tenant directory */
	char disk[128];             /* a generalized template, made by setup */
};

/* A sandbox with a tenant directory and a fresh 2 MiB template disk. */
static int setup(void **state)
{
	struct sb *s = tu_sandbox_new(sizeof(*s), "ttpl");
	struct hl_vm_file files[2] = { { "etc/hostname", "@ComputerName@\n" },
				       { "etc/motd", "welcome\n" } };
	size_t n = 0;

	if (!s)
		return -1;
	snprintf(s->ten, sizeof(s->ten), "%s/ten", s->dir);
	snprintf(s->disk, sizeof(s->disk), "%s/t.tdisk", s->dir);
	if (hl_template_new(s->disk, (size_t)2 << 20, files, 2, NULL, 0, &n) < 0) {
		fprintf(stderr, "setup: %s\n", hl_error_last());
		tu_sandbox_free(s);
		return -1;
	}
	*state = s;
	return 0;
}

/* Remove the sandbox. */
static int teardown(void **state)
{
	return tu_sandbox_free(*state);
}

/* The size of PATH. */
static long long size_of(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return (long long)st.st_size;
}

/* new-template-disk: the image, its generalized.json, rounding, refusals leaving nothing. */
static void test_new_disk(void **state)
{
	struct sb *s = *state;
	struct hl_vm_file files[3] = { { "srv/app.conf", "host=@ComputerName@.@Domain@\n" },
				       { "plain.txt", "no placeholder, mail@example.com\n" },
				       { "etc/issue", "@Unknown@\n" } };
	const char *out = tu_path("%s/g.tdisk", s->dir);
	char path[256], src[256];
	char *json;
	size_t n = 9, len;

	snprintf(path, sizeof(path), "%s", out);
	snprintf(src, sizeof(src), "%s/src", s->dir);
	assert_ok(hl_file_mkdirs(tu_path("%s/etc", src), 0755));
	tu_put(tu_path("%s/etc/hostname", src), "@ComputerName@\n");
	tu_put(tu_path("%s/readme", src), "nothing here\n");
	assert_ok(hl_template_new(path, 5000000, files, 3, src, 0, &n));
	assert_int_equal(n, 3);
	assert_int_equal(size_of(path), 5001216);
	assert_int_equal(tu_mode_of(path), 0644);
	assert_ok(tu_sh("debugfs -R 'cat /.hgslab/generalized.json' %s > %s/gen.json 2>/dev/null",
			path, s->dir));
	json = tu_slurp(tu_path("%s/gen.json", s->dir), &len);
	{
		char **list = NULL;
		size_t count = 0, i;

		assert_ok(hl_fsk_generalized_parse(json, len, &list, &count));
		assert_int_equal(count, 3);
		assert_string_equal(list[0], "etc/hostname");
		assert_string_equal(list[1], "etc/issue");
		assert_string_equal(list[2], "srv/app.conf");
		for (i = 0; i < count; i++)
			free(list[i]);
		free(list);
	}
	free(json);
	/* refusals: -2, and nothing left behind */
	assert_int_equal(hl_template_new(path, 5000000, files, 1, NULL, 0, &n), -2);
	assert_error_has("exists: give --force");
	assert_ok(hl_template_new(path, (size_t)1 << 20, files, 1, NULL, 1, &n));
	assert_int_equal(size_of(path), 1 << 20);
	assert_int_equal(hl_template_new(tu_path("%s/x.tdisk", s->dir), (size_t)1 << 19, files, 1,
					 NULL, 0, &n), -2);
	assert_error_has("bad disk size");
	files[0].name = "../escape";
	assert_int_equal(hl_template_new(tu_path("%s/x.tdisk", s->dir), (size_t)1 << 20, files, 1,
					 NULL, 0, &n), -2);
	assert_error_has("bad file name '../escape'");
	assert_ok(hl_file_mkdirs(tu_path("%s/.hgslab", src), 0755));
	tu_put(tu_path("%s/.hgslab/generalized.json", src), "{}");
	assert_int_equal(hl_template_new(tu_path("%s/x.tdisk", s->dir), (size_t)2 << 20, NULL, 0,
					 src, 0, &n), -2);
	assert_error_has("bring their own '.hgslab/generalized.json'");
	assert_ok(tu_sh("rm -r %s/.hgslab && head -c 3000000 /dev/urandom > %s/blob", src, src));
	assert_int_equal(hl_template_new(tu_path("%s/x.tdisk", s->dir), (size_t)1 << 20, NULL, 0,
					 src, 0, &n), -1);
	assert_error_has("cannot make the template disk (files too big");
	assert_false(tu_exists(tu_path("%s/x.tdisk", s->dir)));
	assert_int_equal(tu_count_prefix(s->dir, ".new-template"), 0);
}

/* Signers: made, loaded, found; refusals. */
static void test_signers(void **state)
{
	struct sb *s = *state;
	char name[HL_TEMPLATE_SIGNER_NAME_SIZE], thumb[HL_SHA256_HEX_SIZE];
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;

	assert_ok(hl_template_signer_new(s->ten, "Contoso", HL_KEY_RSA2048));
	assert_ok(hl_template_signer_new(s->ten, "Fabrikam", HL_KEY_EC_P256));
	assert_int_equal(tu_mode_of(tu_path("%s/signers/Contoso/signer.key", s->ten)), 0600);
	assert_int_equal(tu_mode_of(tu_path("%s/signers/Contoso/signer.crt", s->ten)), 0644);
	assert_int_equal(tu_mode_of(s->ten), 0700);
	assert_int_equal(hl_template_signer_new(s->ten, "Contoso", HL_KEY_RSA2048), -2);
	assert_error_has("already exists");
	assert_int_equal(hl_template_signer_new(s->ten, "../x", HL_KEY_RSA2048), -2);
	assert_error_has("signer name '../x'");
	assert_int_equal(tu_count_prefix(tu_path("%s/signers", s->ten), ".new-"), 0);
	assert_ok(hl_template_signer_load(s->ten, "Fabrikam", &cert, &key));
	assert_ok(hl_cert_thumbprint(cert, thumb));
	assert_ok(hl_template_signer_find(s->ten, thumb, name));
	assert_string_equal(name, "Fabrikam");
	{
		char cn[128];

		assert_ok(hl_cert_subject_cn(cert, cn, sizeof(cn)));
		assert_string_equal(cn, "Template Disk Signing Certificate (Fabrikam)");
	}
	hl_key_free(key);
	hl_cert_free(cert);
	thumb[0] = thumb[0] == 'A' ? 'B' : 'A';
	assert_int_equal(hl_template_signer_find(s->ten, thumb, name), -1);
	assert_error_has("no signer in");
	assert_int_equal(hl_template_signer_load(s->ten, "Nobody", &cert, NULL), -1);
	assert_error_has("no signer 'Nobody'");
}

/* Protect S->disk as NAME VERSION by signer SIGNER of S->ten; the return code. */
static int protect(struct sb *s, const char *disk, const char *name, const char *version,
		   const char *signer, const char *from, struct hl_vsc **vsc)
{
	struct hl_template_protect p = { 0 };
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	int rc;

	if (signer)
		assert_ok(hl_template_signer_load(s->ten, signer, &cert, &key));
	p.disk = disk;
	p.name = name;
	p.version = version;
	p.cert = cert;
	p.key = key;
	p.dir = s->ten;
	p.populate_from = from;
	p.signed_at = time(NULL);
	rc = hl_template_protect(&p, vsc);
	hl_key_free(key);
	hl_cert_free(cert);
	return rc;
}

/* Protect-TemplateDisk: plain, again, populate-from, refusals. */
static void test_protect(void **state)
{
	struct sb *s = *state;
	struct vm_template *t = NULL;
	struct hl_vsc *vsc = NULL;
	char copy[256];
	long long protected_size;

	assert_ok(hl_template_signer_new(s->ten, "Contoso", HL_KEY_RSA2048));
	assert_ok(hl_template_signer_new(s->ten, "Other", HL_KEY_EC_P256));
	assert_int_equal(protect(s, s->disk, "WindowsServer2016", "1.0.0.0", NULL, NULL, &vsc), -2);
	assert_error_has("no signer given");
	assert_int_equal(protect(s, s->disk, "WindowsServer2016", "1.0", "Contoso", NULL, &vsc), -2);
	assert_error_has("bad version '1.0'");
	assert_int_equal(protect(s, s->disk, NULL, "1.0.0.0", "Contoso", NULL, &vsc), -2);
	assert_error_has("no template name given");
	assert_int_equal(size_of(s->disk), 2 << 20);
	assert_ok(protect(s, s->disk, "WindowsServer2016", "1.0.0.0", "Contoso", NULL, &vsc));
	assert_string_equal(vsc->name, "WindowsServer2016");
	assert_int_equal(vsc->disk_bytes, 2 << 20);
	hl_vsc_free(vsc);
	vsc = NULL;
	protected_size = size_of(s->disk);
	assert_true(protected_size > 2 << 20);
	assert_int_equal(protected_size % 512, 0);
	assert_int_equal(tu_mode_of(s->disk), 0644);
	assert_ok(vm_template_open(s->disk, &t));
	assert_ok(vm_template_verify(t));
	vm_template_free(t);
	t = NULL;
	/* again, in place: the image is what is signed, the trailer is replaced */
	assert_ok(protect(s, s->disk, "WindowsServer2016", "1.0.0.1", "Other", NULL, &vsc));
	assert_int_equal(vsc->disk_bytes, 2 << 20);
	hl_vsc_free(vsc);
	vsc = NULL;
	assert_ok(vm_template_open(s->disk, &t));
	assert_ok(vm_template_verify(t));
	assert_string_equal(t->vsc->disk_version_text, "1.0.0.1");
	vm_template_free(t);
	t = NULL;
	/* populate-from: name and signer (found in the tenant directory), version >= */
	snprintf(copy, sizeof(copy), "%s/v2.tdisk", s->dir);
	assert_ok(tu_sh("cp %s %s", s->disk, copy));
	assert_int_equal(protect(s, copy, NULL, "1.0.0.0", NULL, s->disk, &vsc), -2);
	assert_error_has("version 1.0.0.0 is lower than 1.0.0.1");
	assert_ok(protect(s, copy, NULL, "1.0.0.1", NULL, s->disk, &vsc));
	hl_vsc_free(vsc);
	vsc = NULL;
	assert_ok(protect(s, copy, NULL, "2.0.0.0", NULL, s->disk, &vsc));
	assert_string_equal(vsc->name, "WindowsServer2016");
	assert_string_equal(vsc->disk_version_text, "2.0.0.0");
	{
		struct vm_template *old = NULL;

		assert_ok(vm_template_open(s->disk, &old));
		assert_string_equal(vsc->signer_thumbprint, old->vsc->signer_thumbprint);
		vm_template_free(old);
	}
	hl_vsc_free(vsc);
	vsc = NULL;
	assert_ok(protect(s, copy, "Renamed", "2.0.0.0", "Contoso", s->disk, &vsc));
	assert_string_equal(vsc->name, "Renamed");
	hl_vsc_free(vsc);
	vsc = NULL;
	/* an earlier template that is not one, a disk that is not an image */
	assert_int_equal(protect(s, copy, NULL, "3.0.0.0", NULL, tu_path("%s/ten", s->dir), &vsc),
			 -2);
	tu_put(tu_path("%s/odd.img", s->dir), "not 4096 bytes");
	assert_int_equal(protect(s, tu_path("%s/odd.img", s->dir), "T", "1.0.0.0", "Contoso", NULL,
				 &vsc), -2);
	assert_error_has("is not a template image");
	assert_int_equal(protect(s, tu_path("%s/missing.img", s->dir), "T", "1.0.0.0", "Contoso",
				 NULL, &vsc), -2);
	assert_int_equal(tu_count_prefix(s->dir, ".t.tdisk.tmp"), 0);
	assert_int_equal(tu_count_prefix(s->dir, ".odd.img.tmp"), 0);
	assert_null(vsc);
}

/* The tenant directory for shielding data: Owner (keys), MyHgsService, a qualifier file. */
static void shielding_setup(struct sb *s, char *viq, size_t size)
{
	struct vm_template *t = NULL;
	struct hl_buf text = { NULL, 0 };
	struct hl_vsc *vsc = NULL;
	struct hl_viq q;

	assert_ok(hl_guardian_new(s->ten, "Owner"));
	assert_ok(hl_guardian_new(s->ten, "MyHgsService"));
	assert_ok(hl_template_signer_new(s->ten, "Contoso", HL_KEY_RSA2048));
	assert_ok(protect(s, s->disk, "WindowsServer2016", "1.0.0.0", "Contoso", NULL, &vsc));
	hl_vsc_free(vsc);
	assert_ok(vm_template_open(s->disk, &t));
	assert_ok(hl_viq_from_vsc(t->vsc, HL_VIQ_GREATER_THAN_OR_EQUALS, &q));
	vm_template_free(t);
	snprintf(viq, size, "%s/ws.viq", s->dir);
	assert_ok(hl_viq_write(&q, &text));
	assert_ok(hl_file_write(viq, text.data, text.len, 0644));
	hl_buf_free(&text);
	tu_put(tu_path("%s/unattend.txt", s->dir), SECRET "\nComputerName=@ComputerName@\n");
	tu_put(tu_path("%s/cert.pfx", s->dir), "PFX-plugh");
}

/* New-ShieldingDataFile, the secrets back, nowhere in plaintext, refusals. */
static void test_shielding(void **state)
{
	struct sb *s = *state;
	const char *other_names[1] = { "cert.pfx" }, *other_paths[1];
	const char *guardians[1] = { "MyHgsService" }, *quals[1];
	struct hl_shielding_args a = { 0 };
	struct hl_pdk_secrets *sec = NULL;
	struct hl_pdk *pdk = NULL, *back = NULL;
	char viq[256], answer[256], pfx[256], out[256];

	shielding_setup(s, viq, sizeof(viq));
	snprintf(answer, sizeof(answer), "%s/unattend.txt", s->dir);
	snprintf(pfx, sizeof(pfx), "%s/cert.pfx", s->dir);
	snprintf(out, sizeof(out), "%s/vm.pdk", s->dir);
	quals[0] = viq;
	other_paths[0] = pfx;
	a.dir = s->ten;
	a.owner = "Owner";
	a.guardians = guardians;
	a.n_guardians = 1;
	a.qualifier_files = quals;
	a.n_qualifiers = 1;
	a.answer_file = answer;
	a.other_names = other_names;
	a.other_paths = other_paths;
	a.n_other = 1;
	a.policy = "shielded";
	a.out = out;
	a.created = time(NULL);
	assert_ok(hl_shielding_new(&a, &pdk));
	assert_int_equal(pdk->kp->n_entries, 2);
	assert_ok(hl_pdk_verify(pdk, NULL));
	assert_false(tu_file_has(out, "Sup3rSecret"));
	assert_false(tu_file_has(out, "PFX-plugh"));
	assert_ok(hl_shielding_read_pdk(out, &back));
	assert_ok(hl_shielding_open_secrets(s->ten, back, &sec));
	assert_string_equal(sec->answer_file.name, "unattend.txt");
	assert_non_null(strstr((char *)sec->answer_file.content.data, SECRET));
	assert_int_equal(sec->n_other_files, 1);
	assert_memory_equal(sec->other_files[0].content.data, "PFX-plugh", 9);
	hl_pdk_secrets_free(sec);
	sec = NULL;
	assert_int_equal(hl_shielding_open_secrets(s->dir, back, &sec), -1);
	assert_error_has("is not a guardian with private keys");
	assert_ok(tu_sh("! grep -rl Sup3rSecret %s/ten", s->dir));
	hl_pdk_free(pdk);
	hl_pdk_free(back);
	pdk = NULL;
	/* refusals */
	assert_int_equal(hl_shielding_new(&a, &pdk), -2);
	assert_error_has("exists: give --force");
	a.force = 1;
	a.policy = "trusted";
	assert_int_equal(hl_shielding_new(&a, &pdk), -2);
	a.policy = "encryption-supported";
	a.n_qualifiers = 0;
	assert_int_equal(hl_shielding_new(&a, &pdk), -2);
	assert_error_has("at least one --volume-id-qualifier");
	a.n_qualifiers = 1;
	quals[0] = answer;
	assert_int_equal(hl_shielding_new(&a, &pdk), -2);
	assert_error_has("bad volume ID qualifier");
	quals[0] = viq;
	a.answer_file = tu_path("%s/missing.txt", s->dir);
	assert_int_equal(hl_shielding_new(&a, &pdk), -2);
	a.answer_file = answer;
	other_names[0] = "../x";
	assert_int_equal(hl_shielding_new(&a, &pdk), -2);
	assert_error_has("bad other file name '../x'");
	other_names[0] = "cert.pfx";
	a.owner = "Nobody";
	assert_int_equal(hl_shielding_new(&a, &pdk), -1);
	a.owner = "MyHgsService";
	a.n_guardians = 0;
	assert_ok(hl_shielding_new(&a, &pdk));   /* any guardian with keys may own one */
	hl_pdk_free(pdk);
}

/* The .fsk from values and lines. */
static void test_fsk(void **state)
{
	struct sb *s = *state;
	const char *keys[2] = { "@ComputerName@", "@Domain@" };
	const char *values[2] = { "Web01", "contoso.com" };
	struct hl_fsk *f = NULL;
	char out[256], lines[256];
	size_t n = 0;

	snprintf(out, sizeof(out), "%s/s.fsk", s->dir);
	snprintf(lines, sizeof(lines), "%s/values.txt", s->dir);
	tu_put(lines, "# specialization\n\n@TimeZone@=UTC\r\n@Motd@=a=b\n");
	assert_ok(hl_shielding_new_fsk(keys, values, 2, lines, out, 0, &n));
	assert_int_equal(n, 4);
	assert_ok(hl_shielding_read_fsk(out, &f));
	assert_string_equal(hl_fsk_get(f, "@TimeZone@"), "UTC");
	assert_string_equal(hl_fsk_get(f, "@Motd@"), "a=b");
	assert_string_equal(hl_fsk_get(f, "@ComputerName@"), "Web01");
	hl_fsk_free(f);
	assert_int_equal(hl_shielding_new_fsk(keys, values, 2, NULL, out, 0, &n), -2);
	assert_error_has("exists");
	keys[1] = "@TimeZone@";
	assert_int_equal(hl_shielding_new_fsk(keys, values, 2, lines, out, 1, &n), -2);
	assert_error_has("line 3: placeholder @TimeZone@ is given twice");
	tu_put(lines, "@A@\n");
	assert_int_equal(hl_shielding_new_fsk(keys, values, 0, lines, out, 1, &n), -2);
	assert_error_has("line 1: give @Key@=value");
	assert_int_equal(hl_shielding_new_fsk(keys, values, 0, NULL, out, 1, &n), -2);
	assert_error_has("no values given");
	keys[0] = "ComputerName";
	assert_int_equal(hl_shielding_new_fsk(keys, values, 1, NULL, out, 1, &n), -2);
	assert_error_has("bad placeholder");
	assert_int_equal(hl_shielding_new_fsk(keys, values, 0, tu_path("%s/none", s->dir), out, 1,
					      &n), -2);
	assert_int_equal(hl_shielding_read_fsk(lines, &f), -1);
	assert_error_has("bad specialization data file");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_new_disk, setup, teardown),
		cmocka_unit_test_setup_teardown(test_signers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_protect, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shielding, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fsk, setup, teardown),
	};
	return cmocka_run_group_tests_name("tenant_template", tests, NULL, NULL);
}
