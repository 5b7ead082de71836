/*
 * test_vm_template.c - unit tests for vm/template (reading template disk
 * files): a protected template written to a file opens, verifies and its
 * image hashes (also while copying); a plain image probes as unprotected and
 * does not open; a file cut at every length and a byte flipped anywhere in
 * the file (image or trailer) never verify; missing and odd files are clear
 * errors, and a FIFO or a device is refused at once, never waited on.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/crypto.h"
#include "lib/fileio.h"
#include "proto/vsc.h"
#include "proto/vsc_tdisk.h"
#include "vm/template.h"
#include "tests/unit/testutil.h"

#define IMAGE 8192

struct fx {
	char dir[TU_SANDBOX_DIR];     /* first: the scratch folder */
	unsigned char *file;          /* image + trailer */
	size_t len;
	char path[256];               /* the template written */
	char plain[256];              /* the image alone */
};

/* A protected template of an 8 KiB image, in memory and written to a file. */
static int setup(void **state)
{
	struct fx *f = tu_sandbox_new(sizeof(*f), "vmt");
	struct hl_cert_spec spec = { 0 };
	struct hl_vsc_spec vs = { 0 };
	struct hl_buf der = { NULL, 0 }, trailer = { NULL, 0 };
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	time_t now = time(NULL);
	size_t i;
	int rc = -1;

	if (!f)
		return -1;
	spec.cn = "Signer";
	spec.not_before = now - 60;
	spec.not_after = now + 86400;
	spec.path_len = -1;
	f->file = malloc(IMAGE + HL_TDISK_TRAILER_MAX);
	if (!f->file || hl_key_generate(HL_KEY_EC_P256, &key) < 0 ||
	    hl_cert_issue_self_signed(&spec, key, &cert) < 0)
		goto out;
	for (i = 0; i < IMAGE; i++)
		f->file[i] = (unsigned char)(i * 3 + 1);
	vs.name = "T";
	vs.disk_bytes = IMAGE;
	vs.signed_at = now;
	if (hl_vsc_version_parse("1.0.0.0", &vs.version) < 0 ||
	    hl_crypto_sha256(f->file, IMAGE, vs.disk_sha256) < 0 ||
	    hl_vsc_sign(&vs, cert, key, &der) < 0 ||
	    hl_tdisk_trailer_build(IMAGE, der.data, der.len, &trailer) < 0)
		goto out;
	memcpy(f->file + IMAGE, trailer.data, trailer.len);
	f->len = IMAGE + trailer.len;
	snprintf(f->path, sizeof(f->path), "%s/t.tdisk", f->dir);
	snprintf(f->plain, sizeof(f->plain), "%s/plain.img", f->dir);
	if (hl_file_write(f->path, f->file, f->len, 0644) < 0 ||
	    hl_file_write(f->plain, f->file, IMAGE, 0644) < 0)
		goto out;
	*state = f;
	rc = 0;
out:
	if (rc < 0)
		fprintf(stderr, "setup: %s\n", hl_error_last());
	hl_buf_free(&der);
	hl_buf_free(&trailer);
	hl_key_free(key);
	hl_cert_free(cert);
	return rc;
}

/* Free the fixture. */
static int teardown(void **state)
{
	struct fx *f = *state;

	free(f->file);
	return tu_sandbox_free(f);
}

/* Open, verify, hash, copy. */
static void test_open_verify(void **state)
{
	struct fx *f = *state;
	struct vm_template *t = NULL;
	unsigned char md[HL_SHA256_LEN], want[HL_SHA256_LEN];
	uint64_t size = 0;
	char copy[300];
	int fd;

	assert_int_equal(vm_template_probe(f->path, &size), 1);
	assert_int_equal(size, f->len);
	assert_int_equal(vm_template_probe(f->plain, &size), 0);
	assert_int_equal(size, IMAGE);
	assert_ok(vm_template_open(f->path, &t));
	assert_int_equal(t->layout.image_bytes, IMAGE);
	assert_string_equal(t->vsc->name, "T");
	assert_string_equal(t->path, f->path);
	assert_ok(vm_template_verify(t));
	vm_template_free(t);
	vm_template_free(NULL);
	/* hashing while copying */
	snprintf(copy, sizeof(copy), "%s/copy.img", f->dir);
	fd = open(copy, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_ok(vm_template_hash_image(f->path, IMAGE, fd, md));
	close(fd);
	assert_ok(hl_crypto_sha256(f->file, IMAGE, want));
	assert_memory_equal(md, want, sizeof(md));
	assert_true(tu_exists(copy));
	{
		size_t len = 0;
		char *data = tu_slurp(copy, &len);

		assert_int_equal(len, IMAGE);
		assert_memory_equal(data, f->file, IMAGE);
		free(data);
	}
	assert_int_equal(vm_template_hash_image(f->plain, IMAGE + 1, -1, md), -1);
	assert_error_has("fewer than the image's");
}

/* Plain images, missing files, folders. */
static void test_refused(void **state)
{
	struct fx *f = *state;
	struct vm_template *t = NULL;
	uint64_t size;

	assert_int_equal(vm_template_open(f->plain, &t), -1);
	assert_error_has("not a protected template disk");
	assert_error_has("plain.img");
	assert_null(t);
	assert_int_equal(vm_template_open(tu_path("%s/missing", f->dir), &t), -1);
	assert_error_has("cannot open");
	assert_int_equal(vm_template_open(f->dir, &t), -1);
	assert_error_has("not a regular file");
	assert_int_equal(vm_template_probe(tu_path("%s/missing", f->dir), &size), -1);
}

static int open_fn(void *path)
{
	struct vm_template *t = NULL;
	int rc = vm_template_open(path, &t);

	vm_template_free(t);
	return rc;
}

static int probe_fn(void *path)
{
	uint64_t size;

	return vm_template_probe(path, &size) < 0 ? -1 : 0;
}

/* A FIFO (no writer) or a device as the template: refused at once. */
static void test_not_regular(void **state)
{
	struct fx *f = *state;
	PATH_VAR(fifo, "%s/fifo.tdisk", f->dir);
	char msg[HL_ERROR_MAX];
	const char *const paths[] = { fifo, "/dev/zero" };
	size_t i;

	assert_int_equal(mkfifo(fifo, 0600), 0);
	for (i = 0; i < 2; i++) {
		if (tu_bounded(open_fn, (void *)paths[i], 5, msg, sizeof(msg)) != -1)
			fail_msg("opening '%s' as a template did not fail within 5 s", paths[i]);
		if (!strstr(msg, "not a regular file"))
			fail_msg("'%s': '%s' lacks 'not a regular file'", paths[i], msg);
		if (tu_bounded(probe_fn, (void *)paths[i], 5, msg, sizeof(msg)) != -1)
			fail_msg("probing '%s' did not fail within 5 s", paths[i]);
	}
}

/* Every prefix of the file, and one flipped byte anywhere, never verify. */
static void test_cut_and_flipped(void **state)
{
	struct fx *f = *state;
	struct vm_template *t = NULL;
	const char *p = tu_path("%s/bad.tdisk", f->dir);
	char path[256];
	size_t i;

	snprintf(path, sizeof(path), "%s", p);
	for (i = 0; i < f->len; i += (i < IMAGE - 64 ? 61 : 1)) {
		assert_ok(hl_file_write(path, f->file, i, 0644));
		if (vm_template_open(path, &t) == 0) {
			if (vm_template_verify(t) == 0)
				fail_msg("a template cut to %zu bytes verifies", i);
			vm_template_free(t);
			t = NULL;
		}
	}
	for (i = 0; i < f->len; i += (i < IMAGE ? 97 : 1)) {
		f->file[i] ^= 0x10;
		assert_ok(hl_file_write(path, f->file, f->len, 0644));
		f->file[i] ^= 0x10;
		if (vm_template_open(path, &t) == 0) {
			if (vm_template_verify(t) == 0)
				fail_msg("a template with byte %zu flipped verifies", i);
			vm_template_free(t);
			t = NULL;
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_open_verify, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_regular, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cut_and_flipped, setup, teardown),
	};
	return cmocka_run_group_tests_name("vm_template", tests, NULL, NULL);
}
