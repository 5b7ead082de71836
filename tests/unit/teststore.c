/*
 * teststore.c - the store a unit test runs on (teststore.h): SQLite files, or
 * fresh databases on one throw-away PostgreSQL server per test program,
 * stopped and removed at exit.
 */
#include "tests/unit/teststore.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hgs/db.h"
#include "hgs/node.h"
#include "lib/err.h"
#include "lib/fileio.h"
#include "lib/pgserver.h"
#include "lib/store.h"

/* The server's folder ("" until started) and the process that started it. */
static char pg_root[64];
static char pg_dir[96];
static pid_t pg_owner;
static unsigned pg_count;

/* 1 for the PostgreSQL variant. */
int tus_pg(void)
{
	const char *v = getenv("HGSLAB_TEST_STORE");

	return v && (strcmp(v, "postgresql") == 0 || strcmp(v, "pg") == 0);
}

/* At exit of the process that started it: stop the server, remove its folder. */
static void pg_atexit(void)
{
	if (!pg_dir[0] || getpid() != pg_owner)
		return;
	if (hl_pgserver_stop(pg_dir) < 0)
		fprintf(stderr, "# teststore: %s\n", hl_error_last());
	if (hl_file_rmtree(pg_root) < 0)
		fprintf(stderr, "# teststore: %s\n", hl_error_last());
	pg_dir[0] = '\0';
}

/* The server's folder, started on first use. */
const char *tus_pg_dir(void)
{
	if (pg_dir[0])
		return pg_dir;
	snprintf(pg_root, sizeof(pg_root), "/tmp/hgslab-test-pg-XXXXXX");
	if (!mkdtemp(pg_root)) {
		hl_error_errno("cannot create a folder for the test's PostgreSQL server");
		return NULL;
	}
	/* as root the server runs as 'postgres', which must pass through */
	if (chmod(pg_root, 0711) < 0) {
		hl_error_errno("cannot chmod '%s'", pg_root);
		return NULL;
	}
	snprintf(pg_dir, sizeof(pg_dir), "%s/pg", pg_root);
	pg_owner = getpid();
	atexit(pg_atexit);
	if (hl_pgserver_start(pg_dir, NULL, 0) < 0) {
		char why[1024];

		snprintf(why, sizeof(why), "%s", hl_error_last());
		pg_atexit();
		hl_error("%s", why);
		return NULL;
	}
	return pg_dir;
}

/* A fresh location: a new database, or DIR/NAME. */
int tus_location(const char *dir, const char *name, char *buf, size_t size)
{
	char db[32];
	const char *pd;

	if (!tus_pg()) {
		snprintf(buf, size, "%s/%s", dir, name);
		return 0;
	}
	if (!(pd = tus_pg_dir()))
		return -1;
	snprintf(db, sizeof(db), "t%ld_%u", (long)getpid(), ++pg_count);
	if (hl_pgserver_createdb(pd, db, 1) < 0)
		return -1;
	return hl_pgserver_uri(pd, db, buf, size);
}

/* Copy the node row, its policies and key rows of the store SRC into DST (a fresh one). */
static int copy_node(struct hl_store *src, struct hl_store *dst)
{
	struct hl_store_stmt *stmt = NULL;
	struct hgs_config cfg;
	char role[32], thumb[80], *vendor = NULL, *cert = NULL, *key = NULL;
	int primary, enabled, r;
	long long added;

	if (hgs_db_config_read(src, &cfg) < 0 ||
	    hl_store_get(src, "SELECT vendor_ca_pem FROM node WHERE id = 1",
			 HL_VALS(HL_OUT_STR(&vendor))) < 0)
		return -1;
	r = hgs_db_node_insert(dst, &cfg, vendor);
	free(vendor);
	if (r < 0 || hl_store_query(src, "SELECT role, thumbprint, cert_pem, key_file, is_primary, "
				    "enabled, added FROM node_keys ORDER BY id", NULL, 0, &stmt) < 0)
		return -1;
	while ((r = hl_store_next(src, stmt, HL_VALS(HL_OUT_TEXT(role, sizeof(role)),
						     HL_OUT_TEXT(thumb, sizeof(thumb)),
						     HL_OUT_STR(&cert), HL_OUT_STR(&key),
						     HL_OUT_INT(&primary), HL_OUT_INT(&enabled),
						     HL_OUT_INT64(&added)))) == 1) {
		r = hl_store_run(dst, "INSERT INTO node_keys(role, thumbprint, cert_pem, key_file, "
				 "is_primary, enabled, added) VALUES(?, ?, ?, ?, ?, ?, ?)",
				 HL_VALS(HL_IN_TEXT(role), HL_IN_TEXT(thumb), HL_IN_TEXT(cert),
					 HL_IN_TEXT(key), HL_IN_INT(primary), HL_IN_INT(enabled),
					 HL_IN_INT(added)));
		free(cert);
		free(key);
		cert = key = NULL;
		if (r < 0)
			break;
	}
	hl_store_stmt_done(src, stmt);
	return r < 0 ? -1 : 0;
}

/* Move DIR's new node onto a fresh PostgreSQL database and name it in DIR/store. */
int tus_hgs_node_store(const char *dir)
{
	struct hl_store *src = NULL, *dst = NULL;
	char uri[HL_PGSERVER_URI_SIZE], path[512], line[HL_PGSERVER_URI_SIZE + 1];
	int rc = -1;

	if (!tus_pg())
		return 0;
	snprintf(path, sizeof(path), "%s/%s", dir, HGS_DB_FILE);
	if (tus_location(dir, NULL, uri, sizeof(uri)) < 0 || hgs_db_open(path, &src) < 0 ||
	    hgs_db_open(uri, &dst) < 0 || copy_node(src, dst) < 0)
		goto out;
	snprintf(line, sizeof(line), "%s\n", uri);
	snprintf(path, sizeof(path), "%s/store", dir);
	rc = hl_file_write_private(path, line, strlen(line));
out:
	hl_store_close(src);
	hl_store_close(dst);
	return rc;
}

/* DIR/store's location, or DIR/hgs.db. */
int tus_hgs_node_location(const char *dir, char *buf, size_t size)
{
	char path[512], *text = NULL;
	size_t len;

	snprintf(path, sizeof(path), "%s/store", dir);
	if (!hl_file_exists(path)) {
		snprintf(buf, size, "%s/%s", dir, HGS_DB_FILE);
		return 0;
	}
	if (hl_file_read(path, 4096, &text, &len) < 0)
		return -1;
	text[strcspn(text, "\r\n")] = '\0';
	snprintf(buf, size, "%s", text);
	free(text);
	return 0;
}

/* The node opened on PostgreSQL when the tests run there. */
int tus_hgs_node_check(const struct hgs_node *node)
{
	if (!tus_pg() || hl_store_kind(node->store) == HL_STORE_POSTGRESQL)
		return 0;
	return hl_error("the HGS node '%s' opened %s, not the PostgreSQL store its 'store' file "
			"names; hgs_node_open() must open DIR/store when present", node->dir,
			hl_store_path(node->store));
}
