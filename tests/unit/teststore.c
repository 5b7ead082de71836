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

#include "lib/err.h"
#include "lib/fileio.h"
#include "lib/pgserver.h"

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
