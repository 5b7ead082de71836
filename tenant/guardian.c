/*
 * guardian.c - the tenant's guardians on disk and the guardian metadata
 * document (see guardian.h and docs/key-protector.md).
 *
 * An owned guardian (New-HgsGuardian -GenerateCertificates) is two RSA-2048
 * key pairs with self-signed certificates, made here; an imported one
 * (Import-HgsGuardian) is the two certificates of someone else's guardian,
 * usually the HGS's, taken from its metadata document.  The key protector
 * code (lib/keyprotector) sees guardians only through hl_guardian_as_owner /
 * hl_guardian_as_kp, so it never depends on this directory layout.
 *
 * Keys, certificates and digests are OpenSSL through lib/crypto; the XML is
 * libxml2; every file is written with lib/fileio's atomic write, and a
 * guardian's directory appears whole (built beside it, then renamed).
 */
#include "tenant/guardian.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlwriter.h>

#include "lib/err.h"
#include "lib/fileio.h"
#include "lib/http.h"
#include "lib/json.h"
#include "proto/names.h"

#define GUARDIANS_DIR "guardians"
#define META_FILE "guardian.json"
#define SIGNING_CRT "signing.crt"
#define ENCRYPTION_CRT "encryption.crt"
#define SIGNING_KEY "signing.key"
#define ENCRYPTION_KEY "encryption.key"
#define META_VERSION 1
/* Certificates are back-dated this much against clock skew. */
#define CERT_BACKDATE_S 3600

/* ---- names and paths ---- */

/* PATH = DIR/guardians[/NAME[/FILE]]; -1 when it does not fit. */
static int gpath(char *path, size_t size, const char *dir, const char *name, const char *file)
{
	int n;

	if (name && file)
		n = snprintf(path, size, "%s/%s/%s/%s", dir, GUARDIANS_DIR, name, file);
	else if (name)
		n = snprintf(path, size, "%s/%s/%s", dir, GUARDIANS_DIR, name);
	else
		n = snprintf(path, size, "%s/%s", dir, GUARDIANS_DIR);
	if (n < 0 || (size_t)n >= size)
		return hl_error("path under '%.200s' is too long", dir);
	return 0;
}

/* fsync directory PATH so a rename in it is durable. */
static int fsync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return hl_error_errno("cannot open directory '%s'", path);
	if (fsync(fd) < 0 && errno != EINVAL) {
		hl_error_errno("cannot fsync directory '%s'", path);
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

/* Make DIR and DIR/guardians (0700) when missing. */
static int prepare_dir(const char *dir)
{
	char path[PATH_MAX];

	if (!dir || !*dir)
		return hl_error("no tenant directory given; pass --dir DIR");
	if (gpath(path, sizeof(path), dir, NULL, NULL) < 0 || hl_file_mkdirs(path, 0700) < 0)
		return hl_error_wrap("cannot prepare tenant directory '%s'", dir);
	return 0;
}

/*
 * 1 when guardian NAME exists in DIR, 0 when not; -1 when no DIR is given,
 * NAME is no valid guardian name, or on error.
 */
static int guardian_exists(const char *dir, const char *name)
{
	char path[PATH_MAX];

	if (!dir || !*dir)
		return hl_error("no tenant directory given; pass --dir DIR");
	if (hl_name_guardian(name) < 0 || gpath(path, sizeof(path), dir, name, NULL) < 0)
		return -1;
	return hl_file_exists(path);
}

/*
 * 0 when a new guardian NAME may be made in DIR (prepared): a valid name
 * not yet there; else -1, for an existing one "guardian 'NAME' already
 * exists in 'DIR'; HINT".
 */
static int new_check(const char *dir, const char *name, const char *hint)
{
	int ex;

	if (hl_name_guardian(name) < 0 || prepare_dir(dir) < 0 ||
	    (ex = guardian_exists(dir, name)) < 0)
		return -1;
	if (ex)
		return hl_error("guardian '%s' already exists in '%s'; %s", name, dir, hint);
	return 0;
}

/* Create a fresh temporary directory DIR/guardians/.new-NAME.XXXXXX into TMP. */
static int make_tmpdir(const char *dir, const char *name, char *tmp, size_t size)
{
	int n = snprintf(tmp, size, "%s/%s/.new-%s.XXXXXX", dir, GUARDIANS_DIR, name);

	if (n < 0 || (size_t)n >= size)
		return hl_error("path under '%.200s' is too long", dir);
	if (!mkdtemp(tmp))
		return hl_error_errno("cannot create a temporary directory in '%s/%s'", dir,
				      GUARDIANS_DIR);
	return 0;
}

/* Write FILE in directory TMP with MODE. */
static int write_in(const char *tmp, const char *file, const void *data, size_t len, mode_t mode)
{
	char path[PATH_MAX];
	int n = snprintf(path, sizeof(path), "%s/%s", tmp, file);

	if (n < 0 || (size_t)n >= sizeof(path))
		return hl_error("path '%.200s/%s' is too long", tmp, file);
	return hl_file_write(path, data, len, mode);
}

/* Write CERT as PEM (mode 0644), or without one private KEY as PKCS#8 PEM (0600), into TMP/FILE. */
static int write_pem(const char *tmp, const char *file, const X509 *cert, const EVP_PKEY *key)
{
	struct hl_buf pem = { NULL, 0 };
	int rc;

	rc = cert ? hl_cert_to_pem(cert, &pem) : hl_key_priv_to_pem(key, &pem);
	if (rc == 0)
		rc = write_in(tmp, file, pem.data, pem.len,
			      cert ? HL_FILE_MODE_PUBLIC : HL_FILE_MODE_PRIVATE);
	hl_buf_free(&pem);
	return rc;
}

/* Write TMP/guardian.json for NAME of KIND. */
static int write_meta(const char *tmp, const char *name, enum hl_guardian_kind kind)
{
	char created[32], *text = NULL;
	time_t now = time(NULL);
	struct tm tm;
	json_t *o;
	int rc = -1;

	if (!gmtime_r(&now, &tm) || !strftime(created, sizeof(created), "%Y-%m-%dT%H:%M:%SZ", &tm))
		return hl_error("cannot format the time");
	o = json_pack("{s:i, s:s, s:s, s:s}", "version", META_VERSION, "name", name, "kind",
		      kind == HL_GUARDIAN_OWNED ? "owned" : "imported", "created", created);
	if (!o)
		return hl_error("cannot build '%s': out of memory", META_FILE);
	if (hl_json_dump_pretty(o, &text) == 0)
		rc = write_in(tmp, META_FILE, text, strlen(text), HL_FILE_MODE_PUBLIC);
	free(text);
	json_decref(o);
	return rc;
}

/* Rename the finished TMP into place as guardian NAME of DIR; TMP is removed on failure. */
static int commit_tmpdir(const char *dir, const char *name, const char *tmp)
{
	char final[PATH_MAX], parent[PATH_MAX];
	int rc = -1;

	if (gpath(final, sizeof(final), dir, name, NULL) < 0 ||
	    gpath(parent, sizeof(parent), dir, NULL, NULL) < 0)
		goto out;
	if (rename(tmp, final) < 0) {
		if (errno == EEXIST || errno == ENOTEMPTY)
			hl_error("guardian '%s' already exists in '%s'", name, dir);
		else
			hl_error_errno("cannot rename '%s' to '%s'", tmp, final);
		goto out;
	}
	return fsync_dir(parent);
out:
	if (rc < 0)
		hl_file_rmtree(tmp);
	return rc;
}

/*
 * Finish the new guardian NAME of KIND staged in TMP: its guardian.json,
 * then TMP renamed into place in DIR.  TMP is "" once renamed or removed;
 * when still set after a failure, the caller removes it.
 */
static int new_commit(const char *dir, const char *name, enum hl_guardian_kind kind, char *tmp)
{
	int rc;

	if (write_meta(tmp, name, kind) < 0)
		return -1;
	rc = commit_tmpdir(dir, name, tmp);
	tmp[0] = '\0';     /* renamed into place, or removed by commit_tmpdir */
	return rc;
}

/* After new guardian NAME failed to VERB: remove its staging folder TMP, if any; say so. */
static void new_abort(const char *tmp, const char *verb, const char *name)
{
	if (tmp[0])
		hl_file_rmtree(tmp);
	hl_error_wrap("cannot %s guardian '%s'", verb, name ? name : "");
}

/* ---- new ---- */

/* Issue a self-signed certificate for KEY named after guardian NAME's ROLE. */
static int guardian_cert(const char *name, const char *role, unsigned ku, EVP_PKEY *key,
			 X509 **out)
{
	struct hl_cert_spec spec = { 0 };
	char cn[128];
	time_t now = time(NULL);

	snprintf(cn, sizeof(cn), "Shielded VM %s Certificate (%s)", role, name);
	if (strlen(cn) > 64)
		snprintf(cn, sizeof(cn), "%s %s", name, role);
	spec.cn = cn;
	spec.not_before = now - CERT_BACKDATE_S;
	spec.not_after = now + (time_t)HL_GUARDIAN_CERT_DAYS * 86400;
	spec.is_ca = 1;
	spec.path_len = 0;
	spec.key_usage = ku | HL_KU_KEY_CERT_SIGN;
	return hl_cert_issue_self_signed(&spec, key, out);
}

/* New-HgsGuardian -GenerateCertificates. */
int hl_guardian_new(const char *dir, const char *name)
{
	EVP_PKEY *skey = NULL, *ekey = NULL;
	X509 *scert = NULL, *ecert = NULL;
	char tmp[PATH_MAX] = "";
	int rc = -1;

	if (new_check(dir, name, "remove it first with `hgslab tenant remove-guardian` (its "
		      "private keys go with it)") < 0)
		goto out;
	if (hl_key_generate(HL_KEY_RSA2048, &skey) < 0 ||
	    hl_key_generate(HL_KEY_RSA2048, &ekey) < 0 ||
	    guardian_cert(name, "Signing", HL_KU_DIGITAL_SIGNATURE, skey, &scert) < 0 ||
	    guardian_cert(name, "Encryption", HL_KU_KEY_ENCIPHERMENT | HL_KU_DATA_ENCIPHERMENT, ekey,
			  &ecert) < 0)
		goto out;
	if (make_tmpdir(dir, name, tmp, sizeof(tmp)) < 0) {
		tmp[0] = '\0';
		goto out;
	}
	if (write_pem(tmp, SIGNING_KEY, NULL, skey) < 0 ||
	    write_pem(tmp, ENCRYPTION_KEY, NULL, ekey) < 0 ||
	    write_pem(tmp, SIGNING_CRT, scert, NULL) < 0 ||
	    write_pem(tmp, ENCRYPTION_CRT, ecert, NULL) < 0 ||
	    new_commit(dir, name, HL_GUARDIAN_OWNED, tmp) < 0)
		goto out;
	rc = 0;
out:
	if (rc < 0)
		new_abort(tmp, "create", name);
	hl_key_free(skey);
	hl_key_free(ekey);
	hl_cert_free(scert);
	hl_cert_free(ecert);
	return rc;
}

/* ---- load, list, find, remove ---- */

/* Read certificate FILE of guardian NAME into *OUT. */
static int read_cert(const char *dir, const char *name, const char *file, X509 **out)
{
	char path[PATH_MAX], *text = NULL;
	size_t len = 0;
	int rc;

	*out = NULL;
	if (gpath(path, sizeof(path), dir, name, file) < 0 ||
	    hl_file_read(path, 65536, &text, &len) < 0)
		return -1;
	rc = hl_cert_from_pem(text, len, out);
	free(text);
	if (rc < 0)
		return hl_error_wrap("'%s'", path);
	return 0;
}

/* Load private key FILE of guardian NAME, refusing a file others may read. */
static int read_key(const char *dir, const char *name, const char *file, EVP_PKEY **out)
{
	char path[PATH_MAX];
	struct stat st;

	*out = NULL;
	if (gpath(path, sizeof(path), dir, name, file) < 0)
		return -1;
	if (stat(path, &st) < 0)
		return hl_error_errno("cannot read private key '%s'", path);
	if (st.st_mode & 077)
		return hl_error("private key '%s' has mode %04o: others may read it; run `chmod 600 "
				"%s` if it was not exposed, else make a new guardian", path,
				(unsigned)(st.st_mode & 07777), path);
	if (hl_key_priv_load_file(path, out) < 0)
		return hl_error_wrap("'%s'", path);
	return 0;
}

/* Parse guardian.json of NAME into G's name, kind and created. */
static int read_meta(const char *dir, const char *name, struct hl_guardian *g)
{
	static const char *const members[] = { "version", "name", "kind", "created" };
	char path[PATH_MAX], *text = NULL;
	const char *s, *kind, *created;
	json_t *o = NULL;
	json_int_t v;
	size_t len = 0, i;
	int rc = -1;

	if (gpath(path, sizeof(path), dir, name, META_FILE) < 0 ||
	    hl_file_read(path, 65536, &text, &len) < 0)
		return -1;
	if (hl_json_parse(text, len, 65536, &o) < 0)
		goto out;
	if (!json_is_object(o) || json_object_size(o) != 4) {
		hl_error("expected an object with exactly version, name, kind and created");
		goto out;
	}
	for (i = 0; i < 4; i++)
		if (!json_object_get(o, members[i])) {
			hl_error("field '%s' is missing", members[i]);
			goto out;
		}
	if (hl_json_get_int(o, "version", &v) < 0 || hl_json_get_string(o, "name", &s) < 0 ||
	    hl_json_get_string(o, "kind", &kind) < 0 ||
	    hl_json_get_string(o, "created", &created) < 0)
		goto out;
	if (v != META_VERSION) {
		hl_error("version %lld is not supported (this hgslab reads %d)", (long long)v,
			 META_VERSION);
		goto out;
	}
	if (strcmp(s, name) != 0) {
		hl_error("it names guardian '%.80s', not '%s'", s, name);
		goto out;
	}
	if (strcmp(kind, "owned") == 0)
		g->kind = HL_GUARDIAN_OWNED;
	else if (strcmp(kind, "imported") == 0)
		g->kind = HL_GUARDIAN_IMPORTED;
	else {
		hl_error("field 'kind' must be \"owned\" or \"imported\"");
		goto out;
	}
	snprintf(g->name, sizeof(g->name), "%s", name);
	snprintf(g->created, sizeof(g->created), "%.31s", created);
	rc = 0;
out:
	if (rc < 0)
		hl_error_wrap("bad guardian file '%s'", path);
	json_decref(o);
	free(text);
	return rc;
}

/* Load guardian NAME of DIR. */
int hl_guardian_load(const char *dir, const char *name, unsigned flags, struct hl_guardian **out)
{
	struct hl_guardian *g = NULL;
	char path[PATH_MAX];
	int ex, rc = -1;

	*out = NULL;
	ex = guardian_exists(dir, name);
	if (ex < 0)
		return -1;
	if (!ex)
		return hl_error("no guardian '%s' in tenant directory '%s'; see `hgslab tenant "
				"get-guardian --dir %s`", name, dir, dir);
	g = calloc(1, sizeof(*g));
	if (!g)
		return hl_error("out of memory");
	if (read_meta(dir, name, g) < 0 ||
	    read_cert(dir, name, SIGNING_CRT, &g->signing_cert) < 0 ||
	    read_cert(dir, name, ENCRYPTION_CRT, &g->encryption_cert) < 0 ||
	    hl_cert_thumbprint(g->signing_cert, g->signing_thumbprint) < 0 ||
	    hl_cert_thumbprint(g->encryption_cert, g->encryption_thumbprint) < 0)
		goto out;
	if (g->kind == HL_GUARDIAN_OWNED) {
		int a, b;

		if (gpath(path, sizeof(path), dir, name, SIGNING_KEY) < 0 ||
		    (a = hl_file_exists(path)) < 0 ||
		    gpath(path, sizeof(path), dir, name, ENCRYPTION_KEY) < 0 ||
		    (b = hl_file_exists(path)) < 0)
			goto out;
		g->has_private_keys = a && b;
	}
	if (flags & HL_GUARDIAN_LOAD_KEYS) {
		EVP_PKEY *pub = NULL;
		int eq = 0;

		if (!g->has_private_keys) {
			hl_error("guardian '%s' has no private keys in '%s' (it was %s); only a "
				 "guardian made with `hgslab tenant new-guardian` can own key "
				 "protectors", name, dir,
				 g->kind == HL_GUARDIAN_IMPORTED ? "imported" : "stripped of them");
			goto out;
		}
		if (read_key(dir, name, SIGNING_KEY, &g->signing_key) < 0 ||
		    read_key(dir, name, ENCRYPTION_KEY, &g->encryption_key) < 0)
			goto out;
		if (hl_cert_pubkey(g->signing_cert, &pub) == 0)
			eq = hl_key_pub_equal(pub, g->signing_key);
		hl_key_free(pub);
		pub = NULL;
		if (eq && hl_cert_pubkey(g->encryption_cert, &pub) == 0)
			eq = hl_key_pub_equal(pub, g->encryption_key);
		hl_key_free(pub);
		if (!eq) {
			hl_error("guardian '%s' in '%s': a private key does not match its "
				 "certificate", name, dir);
			goto out;
		}
	}
	*out = g;
	g = NULL;
	rc = 0;
out:
	hl_guardian_free(g);
	return rc;
}

/* Free a guardian. */
void hl_guardian_free(struct hl_guardian *g)
{
	if (!g)
		return;
	hl_cert_free(g->signing_cert);
	hl_cert_free(g->encryption_cert);
	hl_key_free(g->signing_key);
	hl_key_free(g->encryption_key);
	free(g);
}

/* qsort order of guardians by name. */
static int cmp_guardian(const void *a, const void *b)
{
	const struct hl_guardian *ga = *(struct hl_guardian *const *)a;
	const struct hl_guardian *gb = *(struct hl_guardian *const *)b;

	return strcmp(ga->name, gb->name);
}

/* Free N guardians of array V and V. */
static void free_list(struct hl_guardian **v, size_t n)
{
	size_t i;

	for (i = 0; v && i < n; i++)
		hl_guardian_free(v[i]);
	free(v);
}

/* Every guardian of DIR. */
int hl_guardian_list(const char *dir, struct hl_guardian ***out, size_t *n)
{
	struct hl_guardian **v = NULL, **nv;
	size_t cnt = 0, cap = 0;
	char path[PATH_MAX];
	struct dirent *e;
	DIR *d = NULL;
	int ex, rc = -1;

	*out = NULL;
	*n = 0;
	if (!dir || !*dir)
		return hl_error("no tenant directory given; pass --dir DIR");
	ex = hl_file_exists(dir);
	if (ex < 0)
		return -1;
	if (!ex)
		return hl_error("tenant directory '%s' does not exist; make a guardian with "
				"`hgslab tenant new-guardian --dir %s --name NAME`", dir, dir);
	if (gpath(path, sizeof(path), dir, NULL, NULL) < 0)
		return -1;
	d = opendir(path);
	if (!d) {
		if (errno == ENOENT)
			return 0;
		return hl_error_errno("cannot read directory '%s'", path);
	}
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.' || strlen(e->d_name) >= HL_NAME_GUARDIAN_SIZE)
			continue;
		if (hl_name_guardian(e->d_name) < 0)
			continue;
		if (cnt == cap) {
			cap = cap ? cap * 2 : 8;
			nv = realloc(v, cap * sizeof(*v));
			if (!nv) {
				hl_error("out of memory");
				goto out;
			}
			v = nv;
		}
		if (hl_guardian_load(dir, e->d_name, 0, &v[cnt]) < 0)
			goto out;
		cnt++;
	}
	if (cnt)
		qsort(v, cnt, sizeof(*v), cmp_guardian);
	*out = v;
	*n = cnt;
	v = NULL;
	cnt = 0;
	rc = 0;
out:
	free_list(v, cnt);
	closedir(d);
	return rc;
}

/* The guardian of DIR with a certificate of THUMBPRINT. */
int hl_guardian_find(const char *dir, const char *thumbprint, int signing, unsigned flags,
		     struct hl_guardian **out)
{
	struct hl_guardian **v = NULL;
	size_t n = 0, i;
	int rc = -1;

	*out = NULL;
	if (hl_guardian_list(dir, &v, &n) < 0)
		return -1;
	for (i = 0; i < n; i++) {
		const char *t = signing ? v[i]->signing_thumbprint : v[i]->encryption_thumbprint;

		if (strcasecmp(t, thumbprint) == 0) {
			rc = hl_guardian_load(dir, v[i]->name, flags, out);
			goto out;
		}
	}
	hl_error("no guardian in '%s' has the %s certificate %s", dir,
		 signing ? "signing" : "encryption", thumbprint);
out:
	free_list(v, n);
	return rc;
}

/* Remove-HgsGuardian. */
int hl_guardian_remove(const char *dir, const char *name)
{
	char path[PATH_MAX], gone[PATH_MAX], parent[PATH_MAX];
	int ex, n;

	ex = guardian_exists(dir, name);
	if (ex < 0)
		return -1;
	if (!ex)
		return hl_error("no guardian '%s' in tenant directory '%s'", name, dir);
	if (gpath(path, sizeof(path), dir, name, NULL) < 0 ||
	    gpath(parent, sizeof(parent), dir, NULL, NULL) < 0)
		return -1;
	n = snprintf(gone, sizeof(gone), "%s/.removed-%s.XXXXXX", parent, name);
	if (n < 0 || (size_t)n >= sizeof(gone))
		return hl_error("path under '%.200s' is too long", dir);
	/* rename the guardian away whole first, so it is either there or gone */
	if (!mkdtemp(gone))
		return hl_error_errno("cannot remove guardian '%s'", name);
	if (rename(path, gone) < 0) {
		hl_error_errno("cannot remove guardian '%s': rename of '%s'", name, path);
		rmdir(gone);
		return -1;
	}
	if (fsync_dir(parent) < 0)
		return -1;
	if (hl_file_rmtree(gone) < 0)
		return hl_error_wrap("guardian '%s' is removed but its old files remain", name);
	return 0;
}

/* Borrowed view of G as the KP owner. */
void hl_guardian_as_owner(const struct hl_guardian *g, struct hl_kp_owner *out)
{
	out->name = g->name;
	out->signing_cert = g->signing_cert;
	out->signing_key = g->signing_key;
	out->encryption_cert = g->encryption_cert;
	out->encryption_key = g->encryption_key;
}

/* Borrowed view of G as a KP guardian. */
void hl_guardian_as_kp(const struct hl_guardian *g, struct hl_kp_guardian *out)
{
	out->name = g->name;
	out->signing_cert = g->signing_cert;
	out->encryption_cert = g->encryption_cert;
}

/* ---- metadata ---- */

/* 0 when CERT has an RSA 2048/3072 public key (WHAT names it). */
static int md_cert_rsa(const X509 *cert, const char *what)
{
	EVP_PKEY *pub = NULL;
	enum hl_key_type t;
	int rc = 0;

	if (hl_cert_pubkey(cert, &pub) < 0 || hl_key_type_of(pub, &t) < 0)
		rc = hl_error_wrap("%s", what);
	else if (t != HL_KEY_RSA2048 && t != HL_KEY_RSA3072)
		rc = hl_error("%s has a %s key: guardians need RSA 2048 or 3072", what,
			      hl_key_type_name(t));
	hl_key_free(pub);
	return rc;
}

/* Decode base64 DER certificate TEXT (ASCII whitespace ignored) into *OUT. */
static int md_cert(const char *text, const char *what, X509 **out)
{
	struct hl_buf der = { NULL, 0 };
	size_t i, n = 0, len = strlen(text);
	char *clean;
	int rc;

	*out = NULL;
	clean = malloc(len + 1);
	if (!clean)
		return hl_error("out of memory");
	for (i = 0; i < len; i++)
		if (!strchr(" \t\r\n", text[i]))
			clean[n++] = text[i];
	clean[n] = '\0';
	if (n == 0) {
		free(clean);
		return hl_error("element '%s' is empty", what);
	}
	rc = hl_crypto_base64_decode(clean, n, &der);
	free(clean);
	if (rc < 0)
		return hl_error_wrap("element '%s' is not base64", what);
	rc = hl_cert_from_der(der.data, der.len, out);
	hl_buf_free(&der);
	if (rc < 0)
		return hl_error_wrap("element '%s'", what);
	if (md_cert_rsa(*out, what) < 0) {
		hl_cert_free(*out);
		*out = NULL;
		return -1;
	}
	return 0;
}

/* 1 when NODE is an element in the metadata namespace. */
static int md_is_ours(const xmlNode *node)
{
	return node->ns && node->ns->href &&
	       strcmp((const char *)node->ns->href, HL_GUARDIAN_METADATA_NS) == 0;
}

/* 0 when every child of NODE is text or CDATA (no elements), for a leaf element. */
static int md_leaf(const xmlNode *node)
{
	const xmlNode *c;

	for (c = node->children; c; c = c->next)
		if (c->type == XML_ELEMENT_NODE)
			return hl_error("element '%s' must hold text only, found element '%.64s'",
					(const char *)node->name, (const char *)c->name);
	return 0;
}

/* 0 when NODE, a child between elements, may be ignored (blank text, comment, PI). */
static int md_ignorable(xmlNode *node, const char *parent)
{
	if (node->type == XML_COMMENT_NODE || node->type == XML_PI_NODE)
		return 0;
	if (node->type == XML_TEXT_NODE && xmlIsBlankNode(node))
		return 0;
	if (node->type == XML_ELEMENT_NODE)
		return hl_error("unexpected element '%.64s' in '%s' (line %ld)",
				(const char *)node->name, parent, xmlGetLineNo(node));
	return hl_error("unexpected text in '%s' (line %ld)", parent, xmlGetLineNo(node));
}

/* Check the text of element Name and copy it into MD. */
static int md_name(const char *text, struct hl_guardian_metadata *md)
{
	size_t i, n = strlen(text);

	if (n == 0)
		return hl_error("element 'Name' is empty");
	if (n > HL_KP_NAME_MAX)
		return hl_error("element 'Name' is longer than %d bytes", HL_KP_NAME_MAX);
	for (i = 0; i < n; i++)
		if ((unsigned char)text[i] < 0x20 || (unsigned char)text[i] == 0x7f)
			return hl_error("element 'Name' contains a control character");
	if (text[0] == ' ' || text[n - 1] == ' ')
		return hl_error("element 'Name' has a leading or trailing space");
	memcpy(md->name, text, n + 1);
	return 0;
}

/* Walk the Guardian element G into MD. */
static int md_guardian(xmlNode *g, struct hl_guardian_metadata *md)
{
	xmlNode *c;
	xmlChar *text;
	int have_name = 0, rc = 0;

	for (c = g->children; c && rc == 0; c = c->next) {
		const char *el = (const char *)c->name;

		if (c->type != XML_ELEMENT_NODE || !md_is_ours(c)) {
			if (c->type == XML_ELEMENT_NODE)
				return hl_error("element '%.64s' (line %ld) is not in namespace "
						"'%s'", el, xmlGetLineNo(c), HL_GUARDIAN_METADATA_NS);
			if (md_ignorable(c, "Guardian") < 0)
				return -1;
			continue;
		}
		if (md_leaf(c) < 0)
			return -1;
		if (strcmp(el, "Name") == 0 ? have_name :
		    strcmp(el, "SigningCertificate") == 0 ? md->signing_cert != NULL :
		    strcmp(el, "EncryptionCertificate") == 0 ? md->encryption_cert != NULL : 0)
			return hl_error("element '%s' appears twice (line %ld)", el,
					xmlGetLineNo(c));
		text = xmlNodeGetContent(c);
		if (!text)
			return hl_error("out of memory");
		if (strcmp(el, "Name") == 0) {
			rc = md_name((const char *)text, md);
			have_name = 1;
		} else if (strcmp(el, "SigningCertificate") == 0) {
			rc = md_cert((const char *)text, el, &md->signing_cert);
		} else if (strcmp(el, "EncryptionCertificate") == 0) {
			rc = md_cert((const char *)text, el, &md->encryption_cert);
		} else {
			rc = hl_error("unknown element '%.64s' in 'Guardian' (line %ld): expected "
				      "Name, SigningCertificate and EncryptionCertificate", el,
				      xmlGetLineNo(c));
		}
		xmlFree(text);
	}
	if (rc < 0)
		return -1;
	if (!have_name)
		return hl_error("element 'Name' is missing from 'Guardian'");
	if (!md->signing_cert)
		return hl_error("element 'SigningCertificate' is missing from 'Guardian'");
	if (!md->encryption_cert)
		return hl_error("element 'EncryptionCertificate' is missing from 'Guardian'");
	if (X509_cmp(md->signing_cert, md->encryption_cert) == 0)
		return hl_error("the signing and encryption certificates are the same certificate");
	return 0;
}

/* Message of the parse error CTXT holds, one line, into BUF. */
static const char *md_xml_error(xmlParserCtxtPtr ctxt, char *buf, size_t size)
{
	const xmlError *e = ctxt ? xmlCtxtGetLastError(ctxt) : NULL;
	size_t i;

	if (!e || !e->message) {
		snprintf(buf, size, "malformed XML");
		return buf;
	}
	snprintf(buf, size, "malformed XML at line %d: %s", e->line, e->message);
	for (i = 0; buf[i]; i++)
		if ((unsigned char)buf[i] < 0x20 || (unsigned char)buf[i] == 0x7f)
			buf[i] = ' ';
	for (i = strlen(buf); i > 0 && buf[i - 1] == ' '; i--)
		buf[i - 1] = '\0';
	return buf;
}

/* Parse a metadata document. */
int hl_guardian_metadata_parse(const void *xml, size_t len, struct hl_guardian_metadata **out)
{
	struct hl_guardian_metadata *md = NULL;
	xmlParserCtxtPtr ctxt = NULL;
	xmlDocPtr doc = NULL;
	xmlNode *root, *c, *guardian = NULL;
	xmlChar *version = NULL;
	char msg[512];
	int rc = -1;

	*out = NULL;
	if (!xml || len == 0) {
		hl_error("the document is empty");
		goto out;
	}
	if (len > HL_GUARDIAN_METADATA_MAX) {
		hl_error("%zu bytes is larger than the %zu allowed", len, HL_GUARDIAN_METADATA_MAX);
		goto out;
	}
	if (memmem(xml, len, "<!DOCTYPE", 9)) {
		hl_error("a document type declaration (<!DOCTYPE>) is not allowed");
		goto out;
	}
	xmlInitParser();
	ctxt = xmlNewParserCtxt();
	if (!ctxt) {
		hl_error("out of memory");
		goto out;
	}
	/* no XML_PARSE_NOENT / DTDLOAD / DTDATTR: entities stay unexpanded, nothing is fetched */
	doc = xmlCtxtReadMemory(ctxt, xml, (int)len, "metadata.xml", NULL,
				XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (!doc) {
		hl_error("%s", md_xml_error(ctxt, msg, sizeof(msg)));
		goto out;
	}
	if (doc->intSubset || doc->extSubset) {
		hl_error("a document type declaration (<!DOCTYPE>) is not allowed");
		goto out;
	}
	root = xmlDocGetRootElement(doc);
	if (!root || strcmp((const char *)root->name, "GuardianMetadata") != 0) {
		hl_error("the root element is '%.64s', expected 'GuardianMetadata'",
			 root ? (const char *)root->name : "(none)");
		goto out;
	}
	if (!md_is_ours(root)) {
		hl_error("'GuardianMetadata' is not in namespace '%s'", HL_GUARDIAN_METADATA_NS);
		goto out;
	}
	version = xmlGetNoNsProp(root, BAD_CAST "Version");
	if (!version) {
		hl_error("'GuardianMetadata' lacks attribute Version=\"1\"");
		goto out;
	}
	if (strcmp((const char *)version, "1") != 0) {
		hl_error("guardian metadata version '%.16s' is not supported; this hgslab reads "
			 "version 1", (const char *)version);
		goto out;
	}
	for (c = root->children; c; c = c->next) {
		if (c->type == XML_ELEMENT_NODE && md_is_ours(c) &&
		    strcmp((const char *)c->name, "Guardian") == 0) {
			if (guardian) {
				hl_error("more than one 'Guardian' element (line %ld)",
					 xmlGetLineNo(c));
				goto out;
			}
			guardian = c;
		} else if (md_ignorable(c, "GuardianMetadata") < 0) {
			goto out;
		}
	}
	if (!guardian) {
		hl_error("element 'Guardian' is missing");
		goto out;
	}
	md = calloc(1, sizeof(*md));
	if (!md) {
		hl_error("out of memory");
		goto out;
	}
	if (md_guardian(guardian, md) < 0)
		goto out;
	*out = md;
	md = NULL;
	rc = 0;
out:
	if (rc < 0)
		hl_error_wrap("bad guardian metadata");
	hl_guardian_metadata_free(md);
	xmlFree(version);
	xmlFreeDoc(doc);
	xmlFreeParserCtxt(ctxt);
	return rc;
}

/* Free parsed metadata. */
void hl_guardian_metadata_free(struct hl_guardian_metadata *md)
{
	if (!md)
		return;
	hl_cert_free(md->signing_cert);
	hl_cert_free(md->encryption_cert);
	free(md);
}

/* Write certificate CERT as base64 DER element EL with writer W. */
static int md_write_cert(xmlTextWriterPtr w, const char *el, const X509 *cert)
{
	struct hl_buf der = { NULL, 0 }, b64 = { NULL, 0 };
	int rc = -1;

	if (hl_cert_to_der(cert, &der) < 0 || hl_crypto_base64_encode(der.data, der.len, &b64) < 0)
		goto out;
	if (xmlTextWriterWriteElement(w, BAD_CAST el, b64.data) < 0) {
		hl_error("cannot write element '%s'", el);
		goto out;
	}
	rc = 0;
out:
	hl_buf_free(&der);
	hl_buf_free(&b64);
	return rc;
}

/* Write a metadata document. */
int hl_guardian_metadata_write(const char *name, const X509 *signing_cert,
			       const X509 *encryption_cert, struct hl_buf *out)
{
	xmlTextWriterPtr w = NULL;
	xmlBufferPtr xb = NULL;
	json_t *utf8;
	int rc = -1, len;

	out->data = NULL;
	out->len = 0;
	if (!name || !*name || strlen(name) > HL_KP_NAME_MAX || !signing_cert || !encryption_cert)
		return hl_error("cannot write guardian metadata: a name (1 to %d bytes) and two "
				"certificates are needed", HL_KP_NAME_MAX);
	utf8 = json_string(name);
	if (!utf8)
		return hl_error("cannot write guardian metadata: the name is not valid UTF-8");
	json_decref(utf8);
	xmlInitParser();
	xb = xmlBufferCreate();
	if (!xb || !(w = xmlNewTextWriterMemory(xb, 0))) {
		hl_error("cannot write guardian metadata: out of memory");
		goto out;
	}
	if (xmlTextWriterSetIndent(w, 1) < 0 || xmlTextWriterSetIndentString(w, BAD_CAST "  ") < 0 ||
	    xmlTextWriterStartDocument(w, NULL, "UTF-8", NULL) < 0 ||
	    xmlTextWriterStartElementNS(w, NULL, BAD_CAST "GuardianMetadata",
					BAD_CAST HL_GUARDIAN_METADATA_NS) < 0 ||
	    xmlTextWriterWriteAttribute(w, BAD_CAST "Version", BAD_CAST "1") < 0 ||
	    xmlTextWriterStartElement(w, BAD_CAST "Guardian") < 0 ||
	    xmlTextWriterWriteElement(w, BAD_CAST "Name", BAD_CAST name) < 0) {
		hl_error("cannot write guardian metadata for '%s'", name);
		goto out;
	}
	if (md_write_cert(w, "SigningCertificate", signing_cert) < 0 ||
	    md_write_cert(w, "EncryptionCertificate", encryption_cert) < 0)
		goto out;
	if (xmlTextWriterEndDocument(w) < 0) {
		hl_error("cannot write guardian metadata for '%s'", name);
		goto out;
	}
	xmlFreeTextWriter(w);
	w = NULL;
	len = xmlBufferLength(xb);
	out->data = malloc((size_t)len + 1);
	if (!out->data) {
		hl_error("out of memory");
		goto out;
	}
	memcpy(out->data, xmlBufferContent(xb), (size_t)len);
	out->data[len] = '\0';
	out->len = (size_t)len;
	rc = 0;
out:
	xmlFreeTextWriter(w);
	xmlBufferFree(xb);
	return rc;
}

/* GET and parse metadata from URL. */
int hl_guardian_metadata_fetch(const char *url, const char *const *resolve,
			       struct hl_guardian_metadata **out)
{
	struct hl_http_reply reply = { 0 };
	struct hl_http_opts opts = { 0 };
	char full[2048];
	size_t len;
	int rc = -1;

	*out = NULL;
	if (!url || !*url)
		return hl_error("no metadata URL given");
	len = strlen(url);
	if (len >= sizeof(full) - sizeof(HL_GUARDIAN_METADATA_PATH))
		return hl_error("metadata URL is too long");
	memcpy(full, url, len + 1);
	if (len < 4 || strcmp(full + len - 4, ".xml") != 0) {
		while (len > 0 && full[len - 1] == '/')
			full[--len] = '\0';
		if (len >= 14 && strcmp(full + len - 14, "/KeyProtection") == 0)
			full[len - 14] = '\0';
		strcat(full, HL_GUARDIAN_METADATA_PATH);
	}
	opts.resolve = resolve;
	opts.max_reply = HL_GUARDIAN_METADATA_MAX;
	if (hl_http_get(full, &opts, &reply) < 0 || hl_http_reply_check(full, &reply) < 0)
		goto out;
	if (hl_guardian_metadata_parse(reply.body, reply.body_len, out) < 0) {
		hl_error_wrap("from '%s'", full);
		goto out;
	}
	rc = 0;
out:
	hl_http_reply_release(&reply);
	return rc;
}

/* Trust check of one certificate (WHAT names it). */
static int md_trust_one(const struct hl_guardian_metadata *md, X509 *cert, const char *what,
			X509 *root, int allow)
{
	char cn[256] = "", iss[256] = "";

	if (hl_cert_subject_cn(cert, cn, sizeof(cn)) < 0)
		snprintf(cn, sizeof(cn), "(no cn)");
	if (root) {
		if (X509_cmp(cert, root) == 0 || hl_cert_verify(cert, root, NULL, 0, 0) == 0)
			return 0;
		if (allow)
			return 0;
		return hl_error_wrap("guardian '%s': %s certificate '%s' does not chain to the "
				     "trusted root given", md->name, what, cn);
	}
	if (allow)
		return 0;
	if (X509_self_signed(cert, 1) == 1)
		return hl_error("guardian '%s': %s certificate '%s' is self-signed, an untrusted "
				"root; import it only from a source you trust, with "
				"--allow-untrusted-root (Import-HgsGuardian -AllowUntrustedRoot), "
				"or name its root with --trusted-root FILE", md->name, what, cn);
	if (hl_cert_issuer_cn(cert, iss, sizeof(iss)) < 0)
		snprintf(iss, sizeof(iss), "(no cn)");
	return hl_error("guardian '%s': %s certificate '%s' is issued by '%s', which is not a "
			"trusted root; give --trusted-root FILE with that root, or "
			"--allow-untrusted-root", md->name, what, cn, iss);
}

/* Import-HgsGuardian's trust check. */
int hl_guardian_metadata_trust(const struct hl_guardian_metadata *md, X509 *trusted_root,
			       int allow_untrusted_root)
{
	if (!md)
		return hl_error("no guardian metadata given");
	if (md_trust_one(md, md->signing_cert, "signing", trusted_root, allow_untrusted_root) < 0 ||
	    md_trust_one(md, md->encryption_cert, "encryption", trusted_root,
			 allow_untrusted_root) < 0)
		return -1;
	return 0;
}

/* Import-HgsGuardian's check by thumbprints (hl_guardian_metadata_trust_thumbprints). */
int hl_guardian_metadata_trust_thumbprints(const struct hl_guardian_metadata *md,
					   const char *const *thumbprints, size_t n)
{
	X509 *certs[2];
	static const char *const what[2] = { "signing", "encryption" };
	char tp[HL_SHA256_HEX_SIZE], cn[256];
	size_t i, k;

	if (!md)
		return hl_error("no guardian metadata given");
	for (i = 0; i < n; i++)
		if (!hl_crypto_hex_is(thumbprints[i], HL_SHA256_HEX_SIZE - 1, 0) &&
		    !hl_crypto_hex_is(thumbprints[i], HL_SHA256_HEX_SIZE - 1, 1)) {
			hl_error("'%s' is not a certificate thumbprint: give the 64 hex digits of its "
				 "SHA-256, as `hgslab hgs get-server` shows them", thumbprints[i]);
			return -2;
		}
	certs[0] = md->signing_cert;
	certs[1] = md->encryption_cert;
	for (k = 0; k < 2; k++) {
		if (hl_cert_thumbprint(certs[k], tp) < 0)
			return -1;
		for (i = 0; i < n && strcasecmp(thumbprints[i], tp) != 0; i++)
			;
		if (i == n) {
			if (hl_cert_subject_cn(certs[k], cn, sizeof(cn)) < 0)
				snprintf(cn, sizeof(cn), "(no cn)");
			return hl_error("guardian '%s': %s certificate '%s' has thumbprint %s, which is "
					"not one of those given: it is not the certificate you trust "
					"(check the HGS's `hgs get-server`), or give its thumbprint too",
					md->name, what[k], cn, tp);
		}
	}
	return 0;
}

/* Import-HgsGuardian: store MD as imported guardian NAME. */
int hl_guardian_import(const char *dir, const char *name, const struct hl_guardian_metadata *md)
{
	struct hl_guardian **v = NULL;
	char tmp[PATH_MAX] = "", thumb[HL_SHA256_HEX_SIZE];
	size_t n = 0, i;
	int rc = -1;

	if (!md) {
		hl_error("no guardian metadata given");
		goto out;
	}
	if (new_check(dir, name, "remove it first or import under another --name") < 0)
		goto out;
	if (hl_cert_thumbprint(md->encryption_cert, thumb) < 0 || hl_guardian_list(dir, &v, &n) < 0)
		goto out;
	for (i = 0; i < n; i++) {
		if (strcmp(v[i]->encryption_thumbprint, thumb) == 0) {
			hl_error("guardian '%s' in '%s' already has encryption certificate %s",
				 v[i]->name, dir, thumb);
			goto out;
		}
	}
	if (make_tmpdir(dir, name, tmp, sizeof(tmp)) < 0) {
		tmp[0] = '\0';
		goto out;
	}
	if (write_pem(tmp, SIGNING_CRT, md->signing_cert, NULL) < 0 ||
	    write_pem(tmp, ENCRYPTION_CRT, md->encryption_cert, NULL) < 0 ||
	    new_commit(dir, name, HL_GUARDIAN_IMPORTED, tmp) < 0)
		goto out;
	rc = 0;
out:
	if (rc < 0)
		new_abort(tmp, "import", name);
	free_list(v, n);
	return rc;
}
