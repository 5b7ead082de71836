/*
 * template.c - the tenant's template disks (see template.h): a generalized
 * ext4 image made from files with its /.hgslab/generalized.json (the
 * staging and mke2fs steps are tenant/vm.c's, the list's format
 * proto/fsk.h's), the template signers of a tenant directory, and
 * Protect-TemplateDisk: the image copied and hashed in one pass
 * (vm/template.h), its VSC signed (proto/vsc.h) and appended with its
 * footer (proto/vsc_tdisk.h), the new file renamed over the old.
 *
 * Crash safety: every file and folder is made beside its place and renamed
 * in; a failure removes what it made.
 */
#include "tenant/template.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/err.h"
#include "lib/fileio.h"
#include "proto/fsk.h"
#include "proto/names.h"
#include "proto/vsc_tdisk.h"
#include "vm/template.h"

/* Largest signer certificate file read. */
#define SIGNER_CERT_MAX 65536
/* Certificates are valid from a minute before they are made (clock skew). */
#define SIGNER_BACKDATE_S 60

/* ---- new-template-disk ---- */

/* The files found so far that hold placeholders. */
struct found {
	char **paths;
	size_t n, cap;
};

/* Add a copy of PATH to F. */
static int found_add(struct found *f, const char *path)
{
	if (f->n == f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 16;
		char **p = realloc(f->paths, cap * sizeof(*p));

		if (!p)
			return hl_error("out of memory");
		f->paths = p;
		f->cap = cap;
	}
	if (!(f->paths[f->n] = strdup(path)))
		return hl_error("out of memory");
	f->n++;
	return 0;
}

/* Free F's paths. */
static void found_free(struct found *f)
{
	size_t i;

	for (i = 0; i < f->n; i++)
		free(f->paths[i]);
	free(f->paths);
}

/* 1 when the regular file PATH (SIZE bytes) holds a placeholder, 0 when not, -1 on error. */
static int file_has_placeholder(const char *path, off_t size)
{
	void *map;
	int fd, rc;

	if (size == 0)
		return 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return hl_error_errno("cannot read '%s'", path);
	map = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (map == MAP_FAILED)
		return hl_error_errno("cannot read '%s'", path);
	rc = hl_fsk_has_placeholder(map, (size_t)size);
	munmap(map, (size_t)size);
	return rc;
}

/* Walk ROOT/REL (REL "" for ROOT) and add every regular file with a placeholder to F. */
static int walk(const char *root, const char *rel, struct found *f)
{
	char dirpath[PATH_MAX], path[PATH_MAX], sub[PATH_MAX];
	struct dirent *e;
	struct stat st;
	DIR *d;
	int rc = 0, has;

	snprintf(dirpath, sizeof(dirpath), "%s%s%s", root, *rel ? "/" : "", rel);
	d = opendir(dirpath);
	if (!d)
		return hl_error_errno("cannot read folder '%s'", dirpath);
	while (rc == 0 && (e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if ((size_t)snprintf(sub, sizeof(sub), "%s%s%s", rel, *rel ? "/" : "", e->d_name) >=
			    sizeof(sub) ||
		    (size_t)snprintf(path, sizeof(path), "%s/%s", root, sub) >= sizeof(path)) {
			rc = hl_error("path '%.80s...' is too long", sub);
			break;
		}
		if (lstat(path, &st) < 0) {
			rc = hl_error_errno("cannot read '%s'", path);
		} else if (S_ISDIR(st.st_mode)) {
			rc = walk(root, sub, f);
		} else if (S_ISREG(st.st_mode)) {
			has = file_has_placeholder(path, st.st_size);
			if (has < 0)
				rc = -1;
			else if (has && (hl_fsk_path_check(sub) < 0 || found_add(f, sub) < 0))
				rc = -1;
		}
	}
	closedir(d);
	return rc;
}

/* qsort comparison of two paths. */
static int path_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Write STAGE/.hgslab/generalized.json for the placeholders in STAGE; their count into *N. */
static int write_generalized(const char *stage, size_t *n)
{
	char dir[PATH_MAX], path[PATH_MAX];
	struct found f = { NULL, 0, 0 };
	struct hl_buf doc = { NULL, 0 };
	int rc = -1;

	snprintf(dir, sizeof(dir), "%s/.hgslab", stage);
	snprintf(path, sizeof(path), "%s/%s", stage, HL_FSK_GENERALIZED_PATH);
	if (hl_file_exists(path) != 0) {
		hl_error("the files bring their own '%s': new-template-disk writes it; remove it "
			 "from the files", HL_FSK_GENERALIZED_PATH);
		return -2;
	}
	if (walk(stage, "", &f) < 0)
		goto out;
	if (f.n)
		qsort(f.paths, f.n, sizeof(*f.paths), path_cmp);
	if (hl_fsk_generalized_make((const char *const *)f.paths, f.n, &doc) < 0 ||
	    hl_file_mkdirs(dir, 0755) < 0 ||
	    hl_file_write(path, doc.data, doc.len, HL_FILE_MODE_PUBLIC) < 0)
		goto out;
	*n = f.n;
	rc = 0;
out:
	hl_buf_free(&doc);
	found_free(&f);
	return rc;
}

/* The folder part of PATH into DIR ("." when none). */
static void dir_of(const char *path, char *dir, size_t size)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		snprintf(dir, size, ".");
	else if (slash == path)
		snprintf(dir, size, "/");
	else
		snprintf(dir, size, "%.*s", (int)(slash - path), path);
}

/* new-template-disk. */
int hl_template_new(const char *out, size_t size, const struct hl_vm_file *files, size_t n,
		    const char *srcdir, int force, size_t *n_generalized)
{
	char dir[PATH_MAX], tmp[PATH_MAX] = "", stage[PATH_MAX], img[PATH_MAX], log[PATH_MAX];
	size_t i;
	int rc = -2, ex;

	*n_generalized = 0;
	if (hl_vm_disk_size_check(size) < 0)
		return -2;
	size = (size + HL_VSC_DISK_ALIGN - 1) / HL_VSC_DISK_ALIGN * HL_VSC_DISK_ALIGN;
	for (i = 0; i < n; i++)
		if (hl_vm_file_check(&files[i]) < 0)
			return -2;
	ex = hl_file_exists(out);
	if (ex < 0)
		return -1;
	if (ex && !force) {
		hl_error("'%s' exists: give --force to replace it", out);
		return -2;
	}
	dir_of(out, dir, sizeof(dir));
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s/.new-template.XXXXXX", dir) >= sizeof(tmp)) {
		hl_error("path '%s' is too long", out);
		return -2;
	}
	if (!mkdtemp(tmp)) {
		hl_error_errno("cannot create a folder in '%s'", dir);
		tmp[0] = '\0';
		return -1;
	}
	snprintf(stage, sizeof(stage), "%s/files", tmp);
	snprintf(img, sizeof(img), "%s/template.img", tmp);
	snprintf(log, sizeof(log), "%s/mke2fs.log", tmp);
	rc = -1;
	if (mkdir(stage, 0755) < 0) {
		hl_error_errno("cannot create '%s'", stage);
		goto out;
	}
	if (hl_vm_disk_stage(stage, files, n, srcdir, log) < 0)
		goto out;
	if ((rc = write_generalized(stage, n_generalized)) < 0)
		goto out;
	rc = -1;
	if (hl_vm_disk_mkfs(stage, img, size, "the template disk", log) < 0)
		goto out;
	if (chmod(img, HL_FILE_MODE_PUBLIC) < 0) {
		hl_error_errno("cannot set the mode of '%s'", img);
		goto out;
	}
	if (rename(img, out) < 0) {
		hl_error_errno("cannot install the template disk as '%s'", out);
		goto out;
	}
	rc = 0;
out:
	if (tmp[0])
		hl_file_rmtree(tmp);
	return rc;
}

/* ---- signers ---- */

/* DIR/signers/NAME[/FILE] into BUF. */
static int signer_path(char *buf, size_t size, const char *dir, const char *name,
		       const char *file)
{
	if ((size_t)snprintf(buf, size, "%s/signers%s%s%s%s", dir, name ? "/" : "",
			     name ? name : "", file ? "/" : "", file ? file : "") >= size)
		return hl_error("path of signer '%s' in '%s' is too long", name ? name : "", dir);
	return 0;
}

/* new-template-signer. */
int hl_template_signer_new(const char *dir, const char *name, enum hl_key_type type)
{
	char base[PATH_MAX], final[PATH_MAX], tmp[PATH_MAX] = "", path[PATH_MAX], cn[128];
	struct hl_cert_spec spec = { 0 };
	struct hl_buf pem = { NULL, 0 };
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	time_t now = time(NULL);
	int rc = -1, ex;

	if (hl_name_signer(name) < 0)
		return -2;
	if (signer_path(base, sizeof(base), dir, NULL, NULL) < 0 ||
	    signer_path(final, sizeof(final), dir, name, NULL) < 0)
		return -2;
	ex = hl_file_exists(final);
	if (ex < 0)
		return -1;
	if (ex) {
		hl_error("signer '%s' already exists in '%s'", name, dir);
		return -2;
	}
	if (hl_file_mkdirs(dir, 0700) < 0 || hl_file_mkdirs(base, 0700) < 0)
		return -1;
	snprintf(tmp, sizeof(tmp), "%s/.new-%s.XXXXXX", base, name);
	if (!mkdtemp(tmp)) {
		hl_error_errno("cannot create a folder in '%s'", base);
		return -1;
	}
	snprintf(cn, sizeof(cn), "Template Disk Signing Certificate (%s)", name);
	if (strlen(cn) > 64)
		snprintf(cn, sizeof(cn), "%s", name);
	spec.cn = cn;
	spec.not_before = now - SIGNER_BACKDATE_S;
	spec.not_after = now + (time_t)HL_TEMPLATE_SIGNER_DAYS * 86400;
	spec.path_len = -1;
	spec.key_usage = HL_KU_DIGITAL_SIGNATURE | HL_KU_KEY_CERT_SIGN;
	spec.ext_key_usage = HL_EKU_CODE_SIGNING;
	if (hl_key_generate(type, &key) < 0 || hl_cert_issue_self_signed(&spec, key, &cert) < 0)
		goto out;
	snprintf(path, sizeof(path), "%s/signer.key", tmp);
	if (hl_key_priv_to_pem(key, &pem) < 0 || hl_file_write_private(path, pem.data, pem.len) < 0)
		goto out;
	hl_buf_free(&pem);
	snprintf(path, sizeof(path), "%s/signer.crt", tmp);
	if (hl_cert_to_pem(cert, &pem) < 0 ||
	    hl_file_write(path, pem.data, pem.len, HL_FILE_MODE_PUBLIC) < 0)
		goto out;
	if (rename(tmp, final) < 0) {
		hl_error_errno("cannot install signer '%s' in '%s'", name, base);
		goto out;
	}
	tmp[0] = '\0';
	rc = 0;
out:
	if (tmp[0])
		hl_file_rmtree(tmp);
	hl_buf_free(&pem);
	hl_key_free(key);
	hl_cert_free(cert);
	return rc;
}

/* Load signer NAME's certificate and key. */
int hl_template_signer_load(const char *dir, const char *name, X509 **cert, EVP_PKEY **key)
{
	char path[PATH_MAX];
	char *pem = NULL;
	size_t len = 0;
	int rc = -1;

	*cert = NULL;
	if (key)
		*key = NULL;
	if (hl_name_signer(name) < 0 || signer_path(path, sizeof(path), dir, name, "signer.crt") < 0)
		return -1;
	if (hl_file_exists(path) != 1)
		return hl_error("no signer '%s' in '%s': make one with `hgslab tenant "
				"new-template-signer`", name, dir);
	if (hl_file_read(path, SIGNER_CERT_MAX, &pem, &len) < 0 ||
	    hl_cert_from_pem(pem, len, cert) < 0) {
		hl_error_wrap("signer '%s'", name);
		goto out;
	}
	if (key) {
		signer_path(path, sizeof(path), dir, name, "signer.key");
		if (hl_key_priv_load_file(path, key) < 0) {
			hl_error_wrap("signer '%s'", name);
			hl_cert_free(*cert);
			*cert = NULL;
			goto out;
		}
	}
	rc = 0;
out:
	free(pem);
	return rc;
}

/* The signer of DIR whose certificate has THUMBPRINT. */
int hl_template_signer_find(const char *dir, const char *thumbprint,
			    char name[HL_TEMPLATE_SIGNER_NAME_SIZE])
{
	char base[PATH_MAX], thumb[HL_SHA256_HEX_SIZE];
	struct dirent *e;
	X509 *cert;
	DIR *d;
	int rc = -1;

	name[0] = '\0';
	if (signer_path(base, sizeof(base), dir, NULL, NULL) < 0)
		return -1;
	d = opendir(base);
	while (d && rc < 0 && (e = readdir(d))) {
		if (e->d_name[0] == '.' || hl_name_signer(e->d_name) < 0)
			continue;
		if (hl_template_signer_load(dir, e->d_name, &cert, NULL) < 0)
			continue;
		if (hl_cert_thumbprint(cert, thumb) == 0 && strcasecmp(thumb, thumbprint) == 0) {
			snprintf(name, HL_TEMPLATE_SIGNER_NAME_SIZE, "%s", e->d_name);
			rc = 0;
		}
		hl_cert_free(cert);
	}
	if (d)
		closedir(d);
	if (rc < 0)
		hl_error("no signer in '%s' has certificate %s", dir, thumbprint);
	return rc;
}

/* ---- protect ---- */

/* Make *CERT / *KEY P's signer, or POPULATE's (looked up in P->dir); -2 when there is none. */
static int protect_signer(const struct hl_template_protect *p, const struct vm_template *old,
			  X509 **cert, EVP_PKEY **key)
{
	char name[HL_TEMPLATE_SIGNER_NAME_SIZE];

	*cert = NULL;
	*key = NULL;
	if (p->cert && p->key) {
		if (X509_up_ref(p->cert) != 1 || EVP_PKEY_up_ref(p->key) != 1)
			return hl_error("out of memory");
		*cert = p->cert;
		*key = p->key;
		return 0;
	}
	if (!old) {
		hl_error("no signer given: give --signer NAME (with --dir), or --signer-cert and "
			 "--signer-key");
		return -2;
	}
	if (!p->dir) {
		hl_error("'%s' was signed by certificate %s: give --dir so that its signer can be "
			 "found, or give --signer-cert and --signer-key", old->path,
			 old->vsc->signer_thumbprint);
		return -2;
	}
	if (hl_template_signer_find(p->dir, old->vsc->signer_thumbprint, name) < 0) {
		hl_error("'%s' was signed by certificate %s, which is no signer in '%s': give "
			 "--signer or --signer-cert and --signer-key", old->path,
			 old->vsc->signer_thumbprint, p->dir);
		return -2;
	}
	return hl_template_signer_load(p->dir, name, cert, key);
}

/* fsync the folder of PATH. */
static int sync_dir_of(const char *path)
{
	char dir[PATH_MAX];
	int fd, rc = 0;

	dir_of(path, dir, sizeof(dir));
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) < 0)
		rc = hl_error_errno("cannot sync folder '%s'", dir);
	if (fd >= 0)
		close(fd);
	return rc;
}

/*
 * The image size of DISK: a protected template's image_bytes, or a plain
 * image's size (a non-zero multiple of 4096).  Its mode into *MODE.  -2 for
 * a file that is neither.
 */
static int disk_image_bytes(const char *disk, uint64_t *bytes, mode_t *mode)
{
	struct vm_template *t = NULL;
	struct stat st;
	uint64_t size = 0;
	int prot;

	prot = vm_template_probe(disk, &size);
	if (prot < 0)
		return -2;
	if (stat(disk, &st) < 0) {
		hl_error_errno("cannot read '%s'", disk);
		return -2;
	}
	*mode = st.st_mode & 0777;
	if (prot) {
		if (vm_template_open(disk, &t) < 0) {
			hl_error_wrap("its trailer is damaged: cannot protect it again");
			return -2;
		}
		*bytes = t->layout.image_bytes;
		vm_template_free(t);
		return 0;
	}
	if (size == 0 || size % HL_VSC_DISK_ALIGN || size > HL_VSC_DISK_MAX) {
		hl_error("'%s' is not a template image: %llu bytes is not a non-zero multiple "
			 "of %d (make one with `hgslab tenant new-template-disk`)", disk,
			 (unsigned long long)size, HL_VSC_DISK_ALIGN);
		return -2;
	}
	*bytes = size;
	return 0;
}

/* Protect-TemplateDisk. */
int hl_template_protect(const struct hl_template_protect *p, struct hl_vsc **out)
{
	char tmp[PATH_MAX] = "", dir[PATH_MAX];
	const char *base, *name = p->name;
	struct hl_buf der = { NULL, 0 }, trailer = { NULL, 0 };
	struct vm_template *old = NULL;
	struct hl_vsc_spec spec = { 0 };
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	FILE *f = NULL;
	uint64_t image_bytes = 0;
	mode_t mode = 0644;
	int fd = -1, rc = -2;

	if (out)
		*out = NULL;
	if (hl_vsc_version_parse(p->version, &spec.version) < 0)
		goto out;
	if (name && hl_vsc_name_check(name) < 0)
		goto out;
	if (p->populate_from) {
		if (vm_template_open(p->populate_from, &old) < 0 || hl_vsc_verify(old->vsc) < 0) {
			hl_error_wrap("--populate-from");
			goto out;
		}
		if (hl_vsc_version_cmp(&spec.version, &old->vsc->disk_version) < 0) {
			hl_error("version %s is lower than %s, the version of '%s': give --version %s "
				 "or higher", p->version, old->vsc->disk_version_text,
				 p->populate_from, old->vsc->disk_version_text);
			goto out;
		}
		if (!name)
			name = old->vsc->name;
	}
	if (!name) {
		hl_error("no template name given: give --name (or --populate-from)");
		goto out;
	}
	if ((rc = protect_signer(p, old, &cert, &key)) < 0)
		goto out;
	rc = -2;
	if (disk_image_bytes(p->disk, &image_bytes, &mode) < 0)
		goto out;
	rc = -1;
	dir_of(p->disk, dir, sizeof(dir));
	base = strrchr(p->disk, '/') ? strrchr(p->disk, '/') + 1 : p->disk;
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s/.%s.tmp.XXXXXX", dir, base) >= sizeof(tmp)) {
		hl_error("path '%s' is too long", p->disk);
		tmp[0] = '\0';
		goto out;
	}
	fd = mkstemp(tmp);
	if (fd < 0) {
		hl_error_errno("cannot create a file in '%s'", dir);
		tmp[0] = '\0';
		goto out;
	}
	if (fchmod(fd, mode) < 0) {
		hl_error_errno("cannot set the mode of '%s'", tmp);
		goto out;
	}
	spec.name = name;
	spec.disk_bytes = image_bytes;
	spec.signed_at = p->signed_at;
	if (vm_template_hash_image(p->disk, image_bytes, fd, spec.disk_sha256) < 0 ||
	    hl_vsc_sign(&spec, cert, key, &der) < 0 ||
	    hl_tdisk_trailer_build(image_bytes, der.data, der.len, &trailer) < 0)
		goto out;
	f = fdopen(fd, "w");
	if (!f) {
		hl_error_errno("cannot write '%s'", tmp);
		goto out;
	}
	fd = -1;
	if (fwrite(trailer.data, 1, trailer.len, f) != trailer.len || fflush(f) != 0 ||
	    fsync(fileno(f)) < 0) {
		hl_error_errno("cannot write '%s'", tmp);
		goto out;
	}
	if (fclose(f) != 0) {
		f = NULL;
		hl_error_errno("cannot write '%s'", tmp);
		goto out;
	}
	f = NULL;
	if (rename(tmp, p->disk) < 0) {
		hl_error_errno("cannot replace '%s'", p->disk);
		goto out;
	}
	tmp[0] = '\0';
	if (sync_dir_of(p->disk) < 0)
		goto out;
	if (out && hl_vsc_parse(der.data, der.len, out) < 0)
		goto out;
	rc = 0;
out:
	if (f)
		fclose(f);
	if (fd >= 0)
		close(fd);
	if (tmp[0])
		unlink(tmp);
	hl_buf_free(&der);
	hl_buf_free(&trailer);
	hl_key_free(key);
	hl_cert_free(cert);
	vm_template_free(old);
	return rc;
}
