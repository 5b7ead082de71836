/*
 * test_backup.c - unit tests for hgs/backup (Export-/Import-HgsServerState)
 * and the helpers it added to lib/ (hl_crypto_scrypt, hl_store_snapshot: a
 * snapshot taken while another connection holds a write open is consistent):
 * the sealed file's round trip, a wrong password, every byte of a sealed
 * file flipped and every truncation refused, foreign and oversized files
 * refused; a real node exported and imported (same thumbprints, the same
 * registrations, a new listen address), a container whose paths or sizes
 * are wrong refused, an existing node refused as the target, and on every
 * refusal the target left as it was.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <sqlite3.h>

#include "hgs/backup.h"
#include "hgs/db.h"
#include "hgs/node.h"
#include "lib/crypto.h"
#include "lib/fileio.h"
#include "lib/json.h"
#include "lib/log.h"
#include "lib/store.h"
#include "tests/unit/teststore.h"
#include "tests/unit/testutil.h"

#define PW "correct horse battery staple"
#define PW_LEN (sizeof(PW) - 1)

/* The shared node of the group and its export. */
struct group {
	char sandbox[TU_SANDBOX_DIR];   /* first: the scratch folder (tu_sandbox_new) */
	char dir[128], export[128];
	struct hgs_node *node;
};

static struct group *G;

/* Group setup: a host-key node with one host key, exported once. */
static int group_setup(void **state)
{
	EVP_PKEY *k = NULL;

	G = tu_sandbox_new(sizeof(*G), "backup");
	if (!G)
		return -1;
	hl_log_set_stderr_level(HL_LOG_ERROR);
	snprintf(G->dir, sizeof(G->dir), "%s/node", G->sandbox);
	snprintf(G->export, sizeof(G->export), "%s/state.hgsbak", G->sandbox);
	if (tu_hgs_node(G->dir, HGS_MODE_HOSTKEY, &G->node) < 0 ||
	    hl_key_generate(HL_KEY_EC_P256, &k) < 0 ||
	    hgs_db_host_key_add(G->node, "KeyHost1", k) < 0 ||
	    hgs_backup_export(G->dir, G->export, PW, PW_LEN) < 0) {
		fprintf(stderr, "group setup: %s\n", hl_error_last());
		hl_key_free(k);
		return -1;
	}
	hl_key_free(k);
	*state = G;
	return 0;
}

/* Group teardown: close and remove the node. */
static int group_teardown(void **state)
{
	(void)state;
	hgs_node_close(G->node);
	tu_sandbox_free(G);
	return 0;
}

/* Read PATH whole, or fail. */
static char *slurp(const char *path, size_t *len)
{
	char *buf = NULL;

	if (hl_file_read(path, HGS_BACKUP_FILE_MAX, &buf, len) < 0)
		fail_msg("read %s: %s", path, hl_error_last());
	return buf;
}

/* ---- the sealed file ---- */

/* Seal then unseal gives the bytes back; the wrong password is refused plainly. */
static void test_seal_round_trip(void **state)
{
	static const char pt[] = "{\"Kind\":\"HgsServerState\"}";
	struct hl_buf sealed = { 0 }, out = { 0 };

	(void)state;
	assert_int_equal(hgs_backup_seal(pt, strlen(pt), PW, PW_LEN, 10, &sealed), 0);
	assert_int_equal(sealed.len, HGS_BACKUP_HEADER_LEN + HL_GCM_OVERHEAD + strlen(pt));
	assert_memory_equal(sealed.data, HGS_BACKUP_MAGIC, HGS_BACKUP_MAGIC_LEN);
	assert_null(memmem(sealed.data, sealed.len, "Kind", 4));
	assert_int_equal(hgs_backup_unseal(sealed.data, sealed.len, "f", PW, PW_LEN, &out), 0);
	assert_int_equal(out.len, strlen(pt));
	assert_memory_equal(out.data, pt, out.len);
	hl_buf_free(&out);

	assert_int_equal(hgs_backup_unseal(sealed.data, sealed.len, "f", "wrong password", 14, &out),
			 -3);
	assert_null(out.data);
	assert_non_null(strstr(hl_error_last(), "wrong password"));
	/* the same password, one byte longer */
	assert_int_equal(hgs_backup_unseal(sealed.data, sealed.len, "f", PW "x", PW_LEN + 1, &out),
			 -3);
	hl_buf_free(&sealed);
}

/* Every byte flipped (header, IV, ciphertext, tag) and every truncation: refused, -2, nothing out. */
static void test_seal_every_tamper_refused(void **state)
{
	static const char pt[] = "secret";
	struct hl_buf sealed = { 0 }, out = { 0 };
	unsigned char *copy;
	int rc;

	(void)state;
	assert_int_equal(hgs_backup_seal(pt, strlen(pt), PW, PW_LEN, 10, &sealed), 0);
	copy = malloc(sealed.len);
	assert_non_null(copy);
	for (size_t i = 0; i < sealed.len; i++) {
		memcpy(copy, sealed.data, sealed.len);
		copy[i] ^= 0x01;
		rc = hgs_backup_unseal(copy, sealed.len, "f", PW, PW_LEN, &out);
		/* header bytes checked before the tag (magic, version, cost) say so; others fail the tag */
		if (rc != (i < 16 ? -2 : -3) && !(i >= 8 && i < 16 && rc == -3))
			fail_msg("a flipped byte at offset %zu: %d (%s)", i, rc, hl_error_last());
		assert_null(out.data);
	}
	for (size_t n = 0; n < sealed.len; n++) {
		rc = hgs_backup_unseal(sealed.data, n, "f", PW, PW_LEN, &out);
		if (rc != (n < HGS_BACKUP_HEADER_LEN + HL_GCM_OVERHEAD ? -2 : -3))
			fail_msg("a file truncated to %zu bytes: %d", n, rc);
		assert_null(out.data);
	}
	/* a longer file (a byte appended) fails the tag too */
	copy = realloc(copy, sealed.len + 1);
	assert_non_null(copy);
	memcpy(copy, sealed.data, sealed.len);
	copy[sealed.len] = 0;
	assert_int_equal(hgs_backup_unseal(copy, sealed.len + 1, "f", PW, PW_LEN, &out), -3);
	/* a foreign file */
	assert_int_equal(hgs_backup_unseal("-----BEGIN CERTIFICATE-----\n", 28, "c.pem", PW, PW_LEN,
					   &out), -2);
	assert_non_null(strstr(hl_error_last(), "is not an HGS server state export"));
	/* a cost beyond the cap is refused before any work */
	memcpy(copy, sealed.data, sealed.len);
	copy[10] = HGS_BACKUP_LOG2_N_MAX + 1;
	assert_int_equal(hgs_backup_unseal(copy, sealed.len, "f", PW, PW_LEN, &out), -2);
	free(copy);
	hl_buf_free(&sealed);
}

/* scrypt gives RFC 7914's test vector (N=1024, r=8, p=16, "password" / "NaCl"); costs out of range refused. */
static void test_scrypt_vector(void **state)
{
	static const unsigned char want[64] = {
		0xfd, 0xba, 0xbe, 0x1c, 0x9d, 0x34, 0x72, 0x00, 0x78, 0x56, 0xe7, 0x19, 0x0d, 0x01,
		0xe9, 0xfe, 0x7c, 0x6a, 0xd7, 0xcb, 0xc8, 0x23, 0x78, 0x30, 0xe7, 0x73, 0x76, 0x63,
		0x4b, 0x37, 0x31, 0x62, 0x2e, 0xaf, 0x30, 0xd9, 0x2e, 0x22, 0xa3, 0x88, 0x6f, 0xf1,
		0x09, 0x27, 0x9d, 0x98, 0x30, 0xda, 0xc7, 0x27, 0xaf, 0xb9, 0x4a, 0x83, 0xee, 0x6d,
		0x83, 0x60, 0xcb, 0xdf, 0xa2, 0xcc, 0x06, 0x40,
	};
	unsigned char out[64];

	(void)state;
	assert_int_equal(hl_crypto_scrypt("password", 8, "NaCl", 4, 10, 8, 16, out, sizeof(out)), 0);
	assert_memory_equal(out, want, sizeof(want));
	assert_int_equal(hl_crypto_scrypt("password", 8, "NaCl", 4, 21, 8, 1, out, 32), -1);
	assert_int_equal(hl_crypto_scrypt("password", 8, "NaCl", 4, 9, 8, 1, out, 32), -1);
	assert_int_equal(hl_crypto_scrypt("", 0, "NaCl", 4, 10, 8, 1, out, 32), -1);
}

/* Rows of TABLE in the SQLite database image SNAP (deserialized in memory), or -1. */
static int snapshot_rows(const struct hl_buf *snap, const char *table)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	unsigned char *copy = sqlite3_malloc64(snap->len);
	char sql[128];
	int n = -1;

	if (!copy || sqlite3_open(":memory:", &db) != SQLITE_OK)
		goto out;
	memcpy(copy, snap->data, snap->len);
	/* the image says WAL (bytes 18 and 19 are 2), which a database in memory cannot be: rollback */
	if (snap->len > 19)
		copy[18] = copy[19] = 1;
	if (sqlite3_deserialize(db, "main", copy, (sqlite3_int64)snap->len, (sqlite3_int64)snap->len,
				SQLITE_DESERIALIZE_FREEONCLOSE | SQLITE_DESERIALIZE_READONLY) != SQLITE_OK) {
		copy = NULL;
		goto out;
	}
	copy = NULL;
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", table);
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int(st, 0);
out:
	sqlite3_finalize(st);
	sqlite3_close(db);
	sqlite3_free(copy);
	return n;
}

/*
 * hl_store_snapshot while another connection holds a write transaction
 * open (as `hgs serve` may): it does not wait, and it holds the committed
 * rows and none of the uncommitted ones.
 */
static void test_snapshot_consistent(void **state)
{
	struct hl_store *writer = NULL, *reader = NULL;
	struct hl_buf snap = { 0 };
	char path[300];
	int before;

	(void)state;
	assert_ok(tus_hgs_node_location(G->dir, path, sizeof(path)));
	assert_int_equal(hgs_db_open(path, &writer), 0);
	assert_int_equal(hgs_db_open(path, &reader), 0);
	assert_int_equal(hl_store_snapshot(reader, &snap), 0);
	before = snapshot_rows(&snap, "host_keys");
	assert_true(before >= 1);
	hl_buf_free(&snap);

	assert_int_equal(hl_store_begin(writer), 0);
	assert_int_equal(hl_store_exec(writer, "delete", "DELETE FROM host_keys"), 0);
	assert_int_equal(hl_store_snapshot(reader, &snap), 0);
	assert_int_equal(snapshot_rows(&snap, "host_keys"), before);
	hl_buf_free(&snap);
	hl_store_rollback(writer);
	hl_store_close(writer);
	hl_store_close(reader);
}

/* ---- export and import of a real node ---- */

/* The export holds no key in clear; import gives the same node with the new listen address. */
static void test_export_import(void **state)
{
	char dir[160], path[200], *file, *key;
	size_t len, klen;
	struct hgs_node *n = NULL;
	json_t *rows = NULL;
	X509 *c1 = NULL, *c2 = NULL;
	char t1[HL_SHA256_HEX_SIZE], t2[HL_SHA256_HEX_SIZE];
	struct stat st;

	(void)state;
	file = slurp(G->export, &len);
	assert_int_equal(stat(G->export, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_null(memmem(file, len, "PRIVATE KEY", 11));
	snprintf(path, sizeof(path), "%s/keys/kps-encryption.key", G->dir);
	key = slurp(path, &klen);
	assert_null(memmem(file, len, key + 40, 32));
	free(key);
	free(file);

	snprintf(dir, sizeof(dir), "%s/restored", G->sandbox);
	assert_int_equal(hgs_backup_import(G->export, dir, PW, PW_LEN, "127.0.0.9:8123"), 0);
	assert_int_equal(hgs_node_open(dir, HGS_NODE_OPEN_KEYS, &n), 0);
	assert_string_equal(n->signer_thumbprint, G->node->signer_thumbprint);
	assert_string_equal(n->config.listen_addr, "127.0.0.9");
	assert_int_equal(n->config.listen_port, 8123);
	for (int i = 0; i < HGS_KEY_ROLE_COUNT; i++) {
		assert_int_equal(hgs_node_keypair(G->node, (enum hgs_key_role)i, &c1, NULL), 0);
		assert_int_equal(hgs_node_keypair(n, (enum hgs_key_role)i, &c2, NULL), 0);
		assert_int_equal(hl_cert_thumbprint(c1, t1), 0);
		assert_int_equal(hl_cert_thumbprint(c2, t2), 0);
		assert_string_equal(t1, t2);
		hl_cert_free(c1);
		hl_cert_free(c2);
	}
	assert_int_equal(hgs_db_reg_list(n, HGS_REG_HOST_KEY, "KeyHost1", &rows), 0);
	assert_int_equal(json_array_size(rows), 1);
	json_decref(rows);
	hgs_node_close(n);

	/* into an existing node: refused, -2, the node as it was */
	assert_int_equal(hgs_backup_import(G->export, dir, PW, PW_LEN, NULL), -2);
	assert_non_null(strstr(hl_error_last(), "not empty"));
	assert_int_equal(hgs_node_open(dir, 0, &n), 0);
	assert_int_equal(n->config.listen_port, 8123);
	hgs_node_close(n);
	assert_int_equal(hl_file_rmtree(dir), 0);

	/* into an empty directory: accepted */
	assert_int_equal(mkdir(dir, 0700), 0);
	assert_int_equal(hgs_backup_import(G->export, dir, PW, PW_LEN, NULL), 0);
	assert_int_equal(hl_file_rmtree(dir), 0);
}

/* 0 when DIR is absent. */
static int absent(const char *dir)
{
	struct stat st;

	return lstat(dir, &st) < 0 ? 0 : -1;
}

/* No staging folder is left in the sandbox (names ".restored.import-*"). */
static void assert_no_staging(void)
{
	char cmd[300];

	snprintf(cmd, sizeof(cmd), "ls -a '%s' | grep -q '\\.import-'", G->sandbox);
	assert_int_not_equal(system(cmd), 0);
}

/* Wrong password, a flipped byte, a truncated, foreign or oversized file: -2, nothing made. */
static void test_import_refusals(void **state)
{
	char dir[160], bad[200], *file;
	size_t len;
	FILE *f;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/restored", G->sandbox);
	snprintf(bad, sizeof(bad), "%s/bad.hgsbak", G->sandbox);
	assert_int_equal(hgs_backup_import(G->export, dir, "not the password", 16, NULL), -3);
	assert_non_null(strstr(hl_error_last(), "wrong password"));
	assert_int_equal(absent(dir), 0);

	file = slurp(G->export, &len);
	{
		size_t offsets[] = { 0, 9, 20, 40, len / 2, len - 1 };

		for (size_t i = 0; i < sizeof(offsets) / sizeof(offsets[0]); i++) {
			file[offsets[i]] ^= 0x40;
			assert_int_equal(hl_file_write(bad, file, len, 0600), 0);
			file[offsets[i]] ^= 0x40;
			if (hgs_backup_import(bad, dir, PW, PW_LEN, NULL) >= 0)
				fail_msg("a byte changed at %zu was accepted", offsets[i]);
			assert_int_equal(absent(dir), 0);
		}
	}
	/* truncated: the tag is gone (-3); shorter than a header and a tag (-2) */
	assert_int_equal(hl_file_write(bad, file, len - 100, 0600), 0);
	assert_int_equal(hgs_backup_import(bad, dir, PW, PW_LEN, NULL), -3);
	assert_int_equal(absent(dir), 0);
	assert_int_equal(hl_file_write(bad, file, 40, 0600), 0);
	assert_int_equal(hgs_backup_import(bad, dir, PW, PW_LEN, NULL), -2);
	assert_non_null(strstr(hl_error_last(), "truncated"));
	assert_int_equal(absent(dir), 0);
	free(file);

	assert_int_equal(hl_file_write(bad, "hello\n", 6, 0600), 0);
	assert_int_equal(hgs_backup_import(bad, dir, PW, PW_LEN, NULL), -2);
	assert_int_equal(absent(dir), 0);

	/* oversized: refused before a byte is read */
	f = fopen(bad, "w");
	assert_non_null(f);
	fputs(HGS_BACKUP_MAGIC, f);
	fclose(f);
	assert_int_equal(truncate(bad, (off_t)HGS_BACKUP_FILE_MAX + 1), 0);
	assert_int_equal(hgs_backup_import(bad, dir, PW, PW_LEN, NULL), -2);
	assert_int_equal(absent(dir), 0);

	/* a symbolic link to the export is not followed */
	unlink(bad);
	assert_int_equal(symlink(G->export, bad), 0);
	assert_int_equal(hgs_backup_import(bad, dir, PW, PW_LEN, NULL), -2);
	assert_non_null(strstr(hl_error_last(), "symbolic link"));
	assert_int_equal(absent(dir), 0);
	unlink(bad);
	assert_no_staging();
}

/* Seal JSON TEXT (a container made by hand) into the file BAD, or fail. */
static void seal_container(const char *bad, const char *text)
{
	struct hl_buf sealed = { 0 };

	assert_int_equal(hgs_backup_seal(text, strlen(text), PW, PW_LEN, 10, &sealed), 0);
	assert_int_equal(hl_file_write(bad, sealed.data, sealed.len, 0600), 0);
	hl_buf_free(&sealed);
}

/* A container by hand into TEXT: the database DB (base64) and one file PATH of mode MODE. */
static void container(char *text, size_t size, const char *db, const char *path, int mode)
{
	snprintf(text, size, "{\"Kind\":\"HgsServerState\",\"Version\":1,\"Name\":\"X\","
		 "\"Domain\":\"a.com\",\"Exported\":\"2026-12-06T08:00:00Z\",\"Database\":\"%s\","
		 "\"Files\":[{\"Path\":\"%s\",\"Mode\":%d,\"Data\":\"\"}]}", db, path, mode);
}

/* Containers of the right password but wrong content: refused, nothing made. */
static void test_import_bad_containers(void **state)
{
	static const char *const paths[] = { "../evil", "keys/../../x", "/etc/passwd", "hgs.db",
					     "hgs.pid", ".hidden", "keys/.x", "keys", "a/b",
					     "notes.txt", "keys/" };
	char dir[160], bad[200], text[1024];
	const char *db = "U1FMaXRlIGZvcm1hdCAzAA==";  /* "SQLite format 3\0": too short */

	(void)state;
	snprintf(dir, sizeof(dir), "%s/restored", G->sandbox);
	snprintf(bad, sizeof(bad), "%s/bad.hgsbak", G->sandbox);
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		container(text, sizeof(text), db, paths[i], 0600);
		seal_container(bad, text);
		assert_int_equal(hgs_backup_import(bad, dir, PW, PW_LEN, NULL), -2);
		if (!strstr(hl_error_last(), "a node does not hold"))
			fail_msg("path '%s': %s", paths[i], hl_error_last());
		assert_int_equal(absent(dir), 0);
	}
	/* a good path with a database that is not one */
	container(text, sizeof(text), db, "keys/a.key", 0600);
	seal_container(bad, text);
	assert_int_equal(hgs_backup_import(bad, dir, PW, PW_LEN, NULL), -2);
	assert_non_null(strstr(hl_error_last(), "not a SQLite database"));
	/* a mode other than 0600 / 0644 */
	container(text, sizeof(text), db, "keys/a.key", 07777);
	seal_container(bad, text);
	assert_int_equal(hgs_backup_import(bad, dir, PW, PW_LEN, NULL), -2);
	assert_non_null(strstr(hl_error_last(), "mode"));
	seal_container(bad, "{\"Kind\":\"SomethingElse\"}");
	assert_int_equal(hgs_backup_import(bad, dir, PW, PW_LEN, NULL), -2);
	seal_container(bad, "not json");
	assert_int_equal(hgs_backup_import(bad, dir, PW, PW_LEN, NULL), -2);
	assert_int_equal(absent(dir), 0);
	assert_no_staging();
	unlink(bad);
}

/* A node holding a symbolic link is not exported, nor a stray file; a short password is refused. */
static void test_export_refusals(void **state)
{
	char link[200], out[200];

	(void)state;
	snprintf(out, sizeof(out), "%s/other.hgsbak", G->sandbox);
	assert_int_equal(hgs_backup_export(G->dir, out, "short", 5), -2);
	assert_int_equal(absent(out), 0);
	/* a file put in the node's top folder (an export written there) is not exported */
	snprintf(link, sizeof(link), "%s/old.hgsbak", G->dir);
	assert_int_equal(hgs_backup_export(G->dir, link, PW, PW_LEN), 0);
	assert_int_equal(hgs_backup_export(G->dir, out, PW, PW_LEN), 0);
	{
		struct hl_buf text = { 0 };
		size_t len;
		char *file = slurp(out, &len);

		assert_int_equal(hgs_backup_unseal(file, len, out, PW, PW_LEN, &text), 0);
		assert_null(strstr((char *)text.data, "old.hgsbak"));
		assert_non_null(strstr((char *)text.data, "keys/kps-signing.key"));
		hl_buf_free(&text);
		free(file);
	}
	unlink(link);
	unlink(out);
	snprintf(link, sizeof(link), "%s/keys/evil.key", G->dir);
	assert_int_equal(symlink("/etc/hostname", link), 0);
	assert_int_equal(hgs_backup_export(G->dir, out, PW, PW_LEN), -1);
	assert_non_null(strstr(hl_error_last(), "symbolic link"));
	assert_int_equal(absent(out), 0);
	unlink(link);
}

/* An hgs.log longer than a member may be is exported as its tail, from a line start. */
static void test_export_log_tail(void **state)
{
	char log[200], out[200], line[64], *file;
	struct hl_buf text = { 0 };
	unsigned char *data = NULL;
	size_t len, dlen, i, n = 0;
	json_t *c = NULL, *f;
	FILE *fp;

	(void)state;
	snprintf(log, sizeof(log), "%s/%s", G->dir, HGS_LOG_FILE);
	snprintf(out, sizeof(out), "%s/tail.hgsbak", G->sandbox);
	fp = fopen(log, "w");
	assert_non_null(fp);
	for (i = 0; n <= HGS_BACKUP_MEMBER_MAX + 1000; i++)
		n += (size_t)fprintf(fp, "log line %zu\n", i);
	fclose(fp);
	snprintf(line, sizeof(line), "log line %zu\n", i - 1);
	assert_int_equal(hgs_backup_export(G->dir, out, PW, PW_LEN), 0);
	file = slurp(out, &len);
	assert_int_equal(hgs_backup_unseal(file, len, out, PW, PW_LEN, &text), 0);
	assert_int_equal(hl_json_parse(text.data, text.len, HGS_BACKUP_FILE_MAX, &c), 0);
	json_array_foreach(json_object_get(c, "Files"), i, f)
		if (!strcmp(json_string_value(json_object_get(f, "Path")), HGS_LOG_FILE))
			assert_int_equal(hl_json_get_base64(f, "Data", &data, &dlen), 0);
	assert_non_null(data);
	assert_true(dlen <= HGS_BACKUP_MEMBER_MAX && dlen > HGS_BACKUP_MEMBER_MAX - 100);
	assert_memory_equal(data, "log line ", 9);
	assert_memory_equal(data + dlen - strlen(line), line, strlen(line));
	free(data);
	json_decref(c);
	hl_buf_free(&text);
	free(file);
	unlink(out);
	unlink(log);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_seal_round_trip),
		cmocka_unit_test(test_seal_every_tamper_refused),
		cmocka_unit_test(test_scrypt_vector),
		cmocka_unit_test(test_snapshot_consistent),
		cmocka_unit_test(test_export_import),
		cmocka_unit_test(test_import_refusals),
		cmocka_unit_test(test_import_bad_containers),
		cmocka_unit_test(test_export_refusals),
		cmocka_unit_test(test_export_log_tail),
	};

	hl_log_set_stderr_level(HL_LOG_ERROR);
	return cmocka_run_group_tests_name("backup", tests, group_setup, group_teardown);
}
