/*
 * backup.c - Export-HgsServerState and Import-HgsServerState (backup.h):
 * the node's store snapshot (lib/store's online backup) and files gathered
 * into one JSON container (jansson, base64 members), sealed with AES-256-GCM
 * under a key scrypt derives from a password (lib/crypto), the header as
 * additional data; and the reverse, every check made before the node is
 * built in a staging directory (lib/staging) and renamed into place.
 */
#include "hgs/backup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "hgs/db.h"
#include "hgs/db_cluster.h"
#include "hgs/node.h"
#include "lib/fileio.h"
#include "lib/json.h"
#include "lib/labclock.h"
#include "lib/served.h"
#include "lib/staging.h"
#include "lib/store.h"

#define CONTAINER_KIND "HgsServerState"
#define SQLITE_MAGIC "SQLite format 3"   /* with its NUL: the first 16 bytes of a database */

/* ---- the sealed file ---- */

/* Write the header for LOG2_N and SALT into H. */
static void header_make(unsigned char h[HGS_BACKUP_HEADER_LEN], unsigned log2_n,
			const unsigned char salt[HGS_BACKUP_SALT_LEN])
{
	memset(h, 0, HGS_BACKUP_HEADER_LEN);
	memcpy(h, HGS_BACKUP_MAGIC, HGS_BACKUP_MAGIC_LEN);
	h[8] = HGS_BACKUP_VERSION;
	h[9] = HGS_BACKUP_KDF_SCRYPT;
	h[10] = (unsigned char)log2_n;
	h[11] = HGS_BACKUP_R;
	h[12] = HGS_BACKUP_P;
	memcpy(h + 16, salt, HGS_BACKUP_SALT_LEN);
}

/* The GCM key of PASSWORD for header H (its salt and cost) into KEY. */
static int header_key(const unsigned char *h, const char *password, size_t pw_len,
		      unsigned char key[HL_GCM_KEY_LEN])
{
	return hl_crypto_scrypt(password, pw_len, h + 16, HGS_BACKUP_SALT_LEN, h[10], h[11], h[12],
				key, HL_GCM_KEY_LEN);
}

/* Seal PT under PASSWORD into OUT: header, then GCM with the header as AAD. */
int hgs_backup_seal(const void *pt, size_t pt_len, const char *password, size_t pw_len,
		    unsigned log2_n, struct hl_buf *out)
{
	unsigned char h[HGS_BACKUP_HEADER_LEN], salt[HGS_BACKUP_SALT_LEN], key[HL_GCM_KEY_LEN];
	struct hl_buf ct = { 0 };
	int rc = -1;

	out->data = NULL;
	out->len = 0;
	if (hl_crypto_random(salt, sizeof(salt)) < 0)
		return -1;
	header_make(h, log2_n ? log2_n : HGS_BACKUP_LOG2_N, salt);
	if (header_key(h, password, pw_len, key) < 0 ||
	    hl_crypto_gcm_encrypt(key, h, sizeof(h), pt, pt_len, &ct) < 0)
		goto out;
	out->data = malloc(sizeof(h) + ct.len + 1);
	if (!out->data) {
		hl_error("cannot seal the HGS server state: out of memory");
		goto out;
	}
	memcpy(out->data, h, sizeof(h));
	memcpy(out->data + sizeof(h), ct.data, ct.len);
	out->len = sizeof(h) + ct.len;
	out->data[out->len] = '\0';
	rc = 0;
out:
	hl_crypto_cleanse(key, sizeof(key));
	hl_buf_free(&ct);
	return rc;
}

/* Check IN's header, derive the key and open the GCM part into OUT. */
int hgs_backup_unseal(const void *in, size_t in_len, const char *shown, const char *password,
		      size_t pw_len, struct hl_buf *out)
{
	const unsigned char *h = in;
	unsigned char key[HL_GCM_KEY_LEN];
	int rc;

	out->data = NULL;
	out->len = 0;
	if (in_len < HGS_BACKUP_MAGIC_LEN || memcmp(h, HGS_BACKUP_MAGIC, HGS_BACKUP_MAGIC_LEN) != 0) {
		hl_error("'%s' is not an HGS server state export (made by `hgslab hgs "
			 "export-server-state`)", shown);
		return -2;
	}
	if (in_len < HGS_BACKUP_HEADER_LEN + HL_GCM_OVERHEAD) {
		hl_error("'%s' is truncated: %zu bytes, an HGS server state export has at least %d",
			 shown, in_len, HGS_BACKUP_HEADER_LEN + HL_GCM_OVERHEAD);
		return -2;
	}
	if (in_len > HGS_BACKUP_FILE_MAX) {
		hl_error("'%s' has %zu bytes, more than the %zu an export may have", shown, in_len,
			 HGS_BACKUP_FILE_MAX);
		return -2;
	}
	if (h[8] != HGS_BACKUP_VERSION) {
		hl_error("'%s' is an HGS server state export of version %u; this hgslab reads "
			 "version %d", shown, h[8], HGS_BACKUP_VERSION);
		return -2;
	}
	if (h[9] != HGS_BACKUP_KDF_SCRYPT || h[10] < 10 || h[10] > HGS_BACKUP_LOG2_N_MAX ||
	    h[11] < 1 || h[11] > 32 || h[12] < 1 || h[12] > 16 || h[13] || h[14] || h[15]) {
		hl_error("'%s' is damaged: its header names an unknown key derivation or a cost out "
			 "of range", shown);
		return -2;
	}
	if (header_key(h, password, pw_len, key) < 0)
		return -1;
	rc = hl_crypto_gcm_decrypt(key, h, HGS_BACKUP_HEADER_LEN, h + HGS_BACKUP_HEADER_LEN,
				   in_len - HGS_BACKUP_HEADER_LEN, out);
	hl_crypto_cleanse(key, sizeof(key));
	if (rc < 0) {
		hl_error("cannot decrypt '%s': wrong password, or the file was changed or damaged "
			 "(authentication failed); nothing was written", shown);
		return -3;
	}
	return 0;
}

/* ---- export ---- */

/*
 * 1 when NAME, in the node's top folder, is a file of the export: hgs.log
 * and clock-offset.  Nothing else there is the node's state (hgs.db is
 * snapshotted, keys/ is read whole, hgs.pid is the running serve's), and
 * a file someone put there (an export written into the node) is left out.
 */
static int top_exported(const char *name)
{
	return strcmp(name, HGS_LOG_FILE) == 0 || strcmp(name, HL_LABCLOCK_OFFSET_FILE) == 0;
}

/*
 * Read REL under DIRFD (not through a link) into *OUT / *LEN: whole, or for
 * hgs.log, which grows without bound, its last HGS_BACKUP_MEMBER_MAX bytes
 * from the start of a line (the attestation and key protection logs are in
 * the store, whole).
 */
static int export_read(int dirfd, const char *rel, const char *shown, char **out, size_t *len)
{
	uint64_t size;
	size_t want, got = 0;
	ssize_t r;
	char *buf, *nl;
	int fd;

	if (strcmp(rel, HGS_LOG_FILE) != 0)
		return hl_file_read_input(dirfd, rel, shown, HGS_BACKUP_MEMBER_MAX, 0, out, len);
	fd = hl_file_open_input(dirfd, rel, shown, UINT64_MAX, 0, &size);
	if (fd < 0)
		return -1;
	want = size > HGS_BACKUP_MEMBER_MAX ? HGS_BACKUP_MEMBER_MAX : (size_t)size;
	buf = malloc(want + 1);
	if (!buf) {
		close(fd);
		return hl_error("cannot read '%s': out of memory", shown);
	}
	while (got < want) {
		r = pread(fd, buf + got, want - got, (off_t)(size - want + got));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	buf[got] = '\0';
	if (want < size && (nl = memchr(buf, '\n', got))) {
		got -= (size_t)(nl + 1 - buf);
		memmove(buf, nl + 1, got + 1);
	}
	*out = buf;
	*len = got;
	return 0;
}

/* Add the regular files of folder SUB ("" = the top) of the node DIRFD to FILES. */
static int export_folder(int dirfd, const char *dir, const char *sub, json_t *files)
{
	DIR *d = NULL;
	struct dirent *e;
	struct stat st;
	char rel[NAME_MAX + 16], shown[PATH_MAX + NAME_MAX + 16];
	char *data = NULL;
	size_t len;
	json_t *f;
	int fd, rc = -1;

	fd = *sub ? hl_file_open_input_dir(dirfd, sub, sub) : dup(dirfd);
	if (fd < 0 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return hl_error_errno("cannot read the folder '%s/%s'", dir, sub);
	}
	while ((errno = 0, e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (!*sub && !top_exported(e->d_name))
			continue;
		if (*sub && e->d_name[0] == '.')
			continue;
		snprintf(rel, sizeof(rel), "%s%s%s", sub, *sub ? "/" : "", e->d_name);
		snprintf(shown, sizeof(shown), "%s/%s", dir, rel);
		if (fstatat(dirfd, rel, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			hl_error_errno("cannot read '%s'", shown);
			goto out;
		}
		if (!S_ISREG(st.st_mode)) {
			hl_error("'%s' is %s: an HGS node holds regular files only; move it away "
				 "and export again", shown, S_ISLNK(st.st_mode) ? "a symbolic link"
							   : "not a regular file");
			goto out;
		}
		if (json_array_size(files) >= HGS_BACKUP_FILES_MAX) {
			hl_error("the node '%s' holds more than %d files", dir, HGS_BACKUP_FILES_MAX);
			goto out;
		}
		if (export_read(dirfd, rel, shown, &data, &len) < 0)
			goto out;
		f = json_pack("{s:s, s:i}", "Path", rel, "Mode", (int)(st.st_mode & 0777) == 0644 ?
			      HL_FILE_MODE_PUBLIC : HL_FILE_MODE_PRIVATE);
		if (!f || json_array_append_new(files, f) < 0 ||
		    hl_json_set_base64(f, "Data", data, len) < 0) {
			hl_error("cannot export '%s': out of memory", shown);
			goto out;
		}
		hl_crypto_cleanse(data, len);
		free(data);
		data = NULL;
	}
	if (errno) {
		hl_error_errno("cannot read the folder '%s/%s'", dir, sub);
		goto out;
	}
	rc = 0;
out:
	if (data) {
		hl_crypto_cleanse(data, len);
		free(data);
	}
	closedir(d);
	return rc;
}

/* The container of the node (open) as JSON text in *TEXT (a secret). */
static int export_container(struct hgs_node *node, struct hl_buf *text)
{
	struct hl_buf db = { 0 };
	char when[HL_JSON_TIME_SIZE], *dump = NULL;
	json_t *c = NULL, *files;
	int dirfd = -1, rc = -1;

	if (hl_store_snapshot(node->store, &db) < 0)
		goto out;
	if (db.len > HGS_BACKUP_DB_MAX) {
		hl_error("the store of '%s' has %zu bytes, more than the %zu an export may hold",
			 node->dir, db.len, HGS_BACKUP_DB_MAX);
		goto out;
	}
	hl_json_time_format(time(NULL), when);
	c = json_pack("{s:s, s:i, s:s, s:s, s:s, s:[]}", "Kind", CONTAINER_KIND, "Version",
		      HGS_BACKUP_VERSION, "Name", node->config.name, "Domain", node->config.domain,
		      "Exported", when, "Files");
	if (!c || hl_json_set_base64(c, "Database", db.data, db.len) < 0) {
		hl_error("cannot export the node '%s': out of memory", node->dir);
		goto out;
	}
	dirfd = open(node->dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dirfd < 0) {
		hl_error_errno("cannot open the node '%s'", node->dir);
		goto out;
	}
	files = json_object_get(c, "Files");
	if (export_folder(dirfd, node->dir, "", files) < 0 ||
	    export_folder(dirfd, node->dir, HGS_KEYS_DIR, files) < 0 ||
	    hl_json_dump(c, &dump) < 0)
		goto out;
	text->data = (unsigned char *)dump;
	text->len = strlen(dump);
	rc = 0;
out:
	if (dirfd >= 0)
		close(dirfd);
	json_decref(c);
	hl_buf_free(&db);
	return rc;
}

/* Export-HgsServerState: snapshot, container, seal, write OUT. */
int hgs_backup_export(const char *dir, const char *out, const char *password, size_t pw_len)
{
	struct hgs_node *node = NULL;
	struct hl_buf text = { 0 }, sealed = { 0 };
	int rc = -1;

	if (pw_len < HGS_BACKUP_PASSWORD_MIN || pw_len > HGS_BACKUP_PASSWORD_MAX) {
		hl_error("the password must have %d to %d characters", HGS_BACKUP_PASSWORD_MIN,
			 HGS_BACKUP_PASSWORD_MAX);
		return -2;
	}
	if (hgs_node_open(dir, 0, &node) < 0) {
		rc = -2;
		goto out;
	}
	if (export_container(node, &text) < 0 ||
	    hgs_backup_seal(text.data, text.len, password, pw_len, 0, &sealed) < 0 ||
	    hl_file_write_private(out, sealed.data, sealed.len) < 0)
		goto out;
	rc = 0;
out:
	hgs_node_close(node);
	hl_buf_free(&text);
	hl_buf_free(&sealed);
	return rc;
}

/* ---- import ---- */

/* 0 when REL is a path an export may hold: keys/NAME (NAME of [A-Za-z0-9._-], no leading dot), hgs.log, clock-offset. */
static int path_check(const char *rel)
{
	const char *name = rel;
	size_t n;

	if (strncmp(rel, HGS_KEYS_DIR "/", strlen(HGS_KEYS_DIR) + 1) == 0)
		name = rel + strlen(HGS_KEYS_DIR) + 1;
	n = strlen(name);
	if (n == 0 || n > 64 || name[0] == '.' || strspn(name, "abcdefghijklmnopqrstuvwxyz"
		"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != n || (name == rel && !top_exported(name)))
		return hl_error("the export names a file '%.80s' a node does not hold", rel);
	return 0;
}

/* One member of the container, decoded. */
struct member {
	char path[80];                   /* "keys/NAME" or "NAME" (path_check) */
	int mode;
	unsigned char *data;
	size_t len;
};

/* What import writes, checked: the database and the files. */
struct payload {
	unsigned char *db;
	size_t db_len;
	struct member files[HGS_BACKUP_FILES_MAX];
	size_t n;
};

/* Cleanse and free P's bytes. */
static void payload_free(struct payload *p)
{
	if (p->db)
		hl_crypto_cleanse(p->db, p->db_len);
	free(p->db);
	for (size_t i = 0; i < p->n; i++) {
		hl_crypto_cleanse(p->files[i].data, p->files[i].len);
		free(p->files[i].data);
	}
	memset(p, 0, sizeof(*p));
}

/* Check the container C and decode its members into P; -2 for anything wrong. */
static int payload_read(const json_t *c, const char *shown, struct payload *p)
{
	static const char *const top[] = { "Kind", "Version", "Name", "Domain", "Exported",
					   "Database", "Files" };
	static const char *const fields[] = { "Path", "Mode", "Data" };
	const char *kind, *s;
	json_int_t v;
	json_t *files, *f;
	size_t i, j;

	if (hl_json_members_exact(c, top, sizeof(top) / sizeof(top[0]), "the container") < 0 ||
	    hl_json_get_string(c, "Kind", &kind) < 0 || hl_json_get_int(c, "Version", &v) < 0 ||
	    hl_json_get_string(c, "Name", &s) < 0 || hl_json_get_string(c, "Domain", &s) < 0 ||
	    hl_json_get_string(c, "Exported", &s) < 0 ||
	    hl_json_time_check(s, "Exported") < 0 || hl_json_get_array(c, "Files", &files) < 0)
		goto bad;
	if (strcmp(kind, CONTAINER_KIND) != 0 || v != HGS_BACKUP_VERSION) {
		hl_error("the container is not an HGS server state of version %d", HGS_BACKUP_VERSION);
		goto bad;
	}
	if (json_array_size(files) > HGS_BACKUP_FILES_MAX) {
		hl_error("the container holds more than %d files", HGS_BACKUP_FILES_MAX);
		goto bad;
	}
	json_array_foreach(files, i, f) {
		struct member *m = &p->files[p->n];

		if (hl_json_members_exact(f, fields, 3, "a file of the container") < 0 ||
		    hl_json_get_string(f, "Path", &s) < 0 || hl_json_get_int(f, "Mode", &v) < 0 ||
		    path_check(s) < 0)
			goto bad;
		snprintf(m->path, sizeof(m->path), "%s", s);
		for (j = 0; j < p->n; j++)
			if (!strcmp(p->files[j].path, m->path)) {
				hl_error("the container names '%.80s' twice", m->path);
				goto bad;
			}
		if (v != HL_FILE_MODE_PRIVATE && v != HL_FILE_MODE_PUBLIC) {
			hl_error("the container gives '%.80s' mode %lld: 0600 or 0644 only", m->path,
				 (long long)v);
			goto bad;
		}
		m->mode = (int)v;
		if (hl_json_get_base64(f, "Data", &m->data, &m->len) < 0)
			goto bad;
		p->n++;
		if (m->len > HGS_BACKUP_MEMBER_MAX) {
			hl_error("the container's '%.80s' has %zu bytes, more than %zu", m->path,
				 m->len, HGS_BACKUP_MEMBER_MAX);
			goto bad;
		}
	}
	if (hl_json_get_base64(c, "Database", &p->db, &p->db_len) < 0)
		goto bad;
	if (p->db_len > HGS_BACKUP_DB_MAX || p->db_len < 100 ||
	    memcmp(p->db, SQLITE_MAGIC, sizeof(SQLITE_MAGIC)) != 0) {
		hl_error("the container's database is not a SQLite database of at most %zu bytes",
			 HGS_BACKUP_DB_MAX);
		goto bad;
	}
	return 0;
bad:
	hl_error_wrap("'%s' is not a valid HGS server state export", shown);
	return -2;
}

/* Read FILE (no link followed), unseal and decode it into P. */
static int import_read(const char *file, const char *password, size_t pw_len, struct payload *p)
{
	struct hl_buf text = { 0 };
	char *raw = NULL;
	size_t len = 0;
	json_t *c = NULL;
	int rc;

	if (hl_file_read_input(AT_FDCWD, file, file, HGS_BACKUP_FILE_MAX, 0, &raw, &len) < 0)
		return -2;
	rc = hgs_backup_unseal(raw, len, file, password, pw_len, &text);
	if (rc < 0)
		goto out;
	rc = -2;
	if (hl_json_parse(text.data, text.len, HGS_BACKUP_FILE_MAX, &c) < 0) {
		hl_error_wrap("'%s' is not a valid HGS server state export", file);
		goto out;
	}
	rc = payload_read(c, file, p);
out:
	json_decref(c);
	hl_buf_free(&text);
	free(raw);
	return rc;
}

/* Open the node built in TMP, check its key pairs and set LISTEN when given. */
static int import_check(const char *tmp, const char *listen)
{
	struct hgs_node *node = NULL;
	int rc = -1;

	time_t now;

	if (hgs_node_open(tmp, 0, &node) < 0 || hgs_node_keys_check(node) < 0)
		goto out;
	if (listen && hgs_db_set_listen(node, listen) < 0)
		goto out;
	/* the nodes the backup came from are gone: this one starts the cluster again */
	if (hgs_node_now(node, &now) < 0 || hgs_db_cluster_reset(node, now) < 0)
		goto out;
	rc = 0;
out:
	hgs_node_close(node);
	return rc;
}

/* 0 when NEWDIR may receive a node: its parent exists, it is absent or empty; else -2. */
int hgs_backup_import_target(const char *newdir)
{
	struct hl_served_new s = { 0 };
	int rc;

	if ((rc = hl_served_new_begin(&s, newdir, "an HGS node")) == 0) {
		rc = hl_served_new_target(&s, "an HGS node");
		if (rc > 0)
			hl_error("cannot import into '%s': it is not empty; import into a new or empty "
				 "directory (to replace a node, remove it first with `hgslab hgs "
				 "clear-server --dir %s`)", newdir, newdir);
	}
	hl_served_new_end(&s);
	return rc == 0 ? 0 : -2;
}

/* Import-HgsServerState: read and check everything, build beside NEWDIR, rename in. */
int hgs_backup_import(const char *file, const char *newdir, const char *password, size_t pw_len,
		      const char *listen)
{
	struct hl_served_new s = { 0 };
	struct hl_staging st = HL_STAGING_INIT;
	struct payload p = { 0 };
	char path[PATH_MAX], prefix[NAME_MAX + 16], addr[16];
	unsigned short port;
	int rc;

	if (listen && hl_served_parse_listen(listen, addr, &port) < 0)
		return -2;
	if ((rc = hgs_backup_import_target(newdir)) < 0 ||
	    (rc = hl_served_new_begin(&s, newdir, "an HGS node")) < 0 ||
	    (rc = import_read(file, password, pw_len, &p)) < 0)
		goto out;
	rc = -1;
	/* PARENT/.BASE.import-XXXXXX: locked, removed on a failure or a signal (lib/staging.h) */
	snprintf(prefix, sizeof(prefix), ".%.*s.import-", NAME_MAX, s.base);
	if (hl_staging_begin(&st, s.parent, prefix) < 0)
		goto out;
	snprintf(path, sizeof(path), "%s/%s", st.path, HGS_KEYS_DIR);
	if (mkdir(path, 0700) < 0) {
		hl_error_errno("cannot create '%s'", path);
		goto out;
	}
	snprintf(path, sizeof(path), "%s/%s", st.path, HGS_DB_FILE);
	if (hl_file_write_private(path, p.db, p.db_len) < 0)
		goto out;
	for (size_t i = 0; i < p.n; i++) {
		snprintf(path, sizeof(path), "%s/%s", st.path, p.files[i].path);
		if (hl_file_write(path, p.files[i].data, p.files[i].len, (mode_t)p.files[i].mode) < 0)
			goto out;
	}
	if (import_check(st.path, listen) < 0) {
		hl_error_wrap("'%s' does not hold a working HGS node; nothing was imported", file);
		rc = -2;
		goto out;
	}
	if (hl_staging_commit(&st, s.dir, "the restored HGS node") < 0)
		goto out;
	rc = 0;
out:
	payload_free(&p);
	hl_staging_end(&st);
	hl_served_new_end(&s);
	return rc;
}
