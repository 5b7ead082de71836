/*
 * test_store.c - unit tests for lib/store: setup pragmas, file mode, schema
 * migrations (fresh, reopen, upgrade, newer refused, failing rolled back),
 * damaged files, the exec/transaction helpers, the prepared-statement cache,
 * the synchronous switch, a kept PRAGMA data_version and the value lists that bind parameters and read
 * columns (HL_VALS).  Each test runs in its own mkdtemp directory, removed
 * in teardown.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/crypto.h"
#include "lib/err.h"
#include "lib/fileio.h"
#include "lib/store.h"
#include "tests/unit/testutil.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Version 1: hosts.  Version 2: results referencing hosts, and a table that counts runs of migration 2. */
static const char *const migrations[] = {
	"CREATE TABLE hosts(name TEXT PRIMARY KEY, ek BLOB);",
	"CREATE TABLE results(id INTEGER PRIMARY KEY,"
	"                     host TEXT NOT NULL REFERENCES hosts(name));"
	"CREATE TABLE runs(n INTEGER);"
	"INSERT INTO runs VALUES(2);",
};

struct fx {
	char dir[TU_SANDBOX_DIR];   /* first: the scratch folder (tu_sandbox_new) */
	char db[128];
	mode_t umask_saved;
};

/* Make a sandbox directory; the database path is DIR/hgs.db. */
static int setup(void **state)
{
	struct fx *fx = tu_sandbox_new(sizeof(*fx), "store");

	if (!fx)
		return -1;
	snprintf(fx->db, sizeof(fx->db), "%s/hgs.db", fx->dir);
	fx->umask_saved = umask(022);
	*state = fx;
	return 0;
}

/* Remove the sandbox and restore the umask. */
static int teardown(void **state)
{
	struct fx *fx = *state;
	int ret = 0;

	umask(fx->umask_saved);
	if (tu_rmtree(fx->dir) < 0 || tu_exists(fx->dir))
		ret = -1;
	free(fx);
	return ret;
}

/* Run a one-value query and return its integer. */
static int query_int(struct hl_store *st, const char *sql)
{
	sqlite3_stmt *stmt = NULL;
	int v;

	assert_int_equal(hl_store_prepare(st, sql, &stmt), 0);
	assert_int_equal(hl_store_step(st, stmt), 1);
	v = sqlite3_column_int(stmt, 0);
	sqlite3_finalize(stmt);
	return v;
}

/* Whether table NAME exists. */
static int table_exists(struct hl_store *st, const char *name)
{
	char sql[128];

	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = '%s'", name);
	return query_int(st, sql);
}

/* Open FX's database with the first N migrations, which must succeed. */
static struct hl_store *open_ok(const struct fx *fx, size_t n)
{
	struct hl_store *st = NULL;

	if (hl_store_open(fx->db, migrations, n, &st) < 0)
		fail_msg("open failed: %s", hl_error_last());
	assert_non_null(st);
	return st;
}

/* A fresh database gets every migration, WAL, foreign keys, the busy timeout, and mode 0600 files. */
static void test_fresh(void **state)
{
	struct fx *fx = *state;
	struct hl_store *st;
	sqlite3_stmt *stmt = NULL;
	char wal[160];

	umask(0);
	st = open_ok(fx, ARRAY_SIZE(migrations));
	assert_int_equal(hl_store_version(st), 2);
	assert_string_equal(hl_store_path(st), fx->db);
	assert_int_equal(query_int(st, "PRAGMA user_version"), 2);
	assert_int_equal(query_int(st, "PRAGMA foreign_keys"), 1);
	assert_int_equal(query_int(st, "PRAGMA busy_timeout"), HL_STORE_BUSY_TIMEOUT_MS);
	assert_int_equal(query_int(st, "PRAGMA synchronous"), 2);
	assert_int_equal(hl_store_prepare(st, "PRAGMA journal_mode", &stmt), 0);
	assert_int_equal(hl_store_step(st, stmt), 1);
	assert_string_equal((const char *)sqlite3_column_text(stmt, 0), "wal");
	sqlite3_finalize(stmt);
	assert_int_equal(table_exists(st, "hosts"), 1);
	assert_int_equal(table_exists(st, "results"), 1);
	assert_int_equal(query_int(st, "SELECT count(*) FROM runs"), 1);

	/* Foreign keys are enforced, with a clear error. */
	assert_int_equal(hl_store_exec(st, "record a result",
				       "INSERT INTO results(host) VALUES('FabricHost9')"), -1);
	assert_error_has("store '");
	assert_error_has("hgs.db': cannot record a result: ");
	assert_error_has("FOREIGN KEY constraint failed");

	/* The database and its WAL companions are private. */
	assert_int_equal(hl_store_exec(st, "add a host",
				       "INSERT INTO hosts(name) VALUES('FabricHost1')"), 0);
	assert_int_equal(tu_mode_of(fx->db), 0600);
	snprintf(wal, sizeof(wal), "%s-wal", fx->db);
	assert_int_equal(tu_mode_of(wal), 0600);
	snprintf(wal, sizeof(wal), "%s-shm", fx->db);
	assert_int_equal(tu_mode_of(wal), 0600);
	hl_store_close(st);
	hl_store_close(NULL);
}

/* Reopening keeps the data and does not run any migration again. */
static void test_reopen(void **state)
{
	struct fx *fx = *state;
	struct hl_store *st = open_ok(fx, ARRAY_SIZE(migrations));

	assert_int_equal(hl_store_exec(st, "add a host",
				       "INSERT INTO hosts(name) VALUES('FabricHost1')"), 0);
	hl_store_close(st);
	st = open_ok(fx, ARRAY_SIZE(migrations));
	assert_int_equal(hl_store_version(st), 2);
	assert_int_equal(query_int(st, "SELECT count(*) FROM hosts WHERE name = 'FabricHost1'"), 1);
	assert_int_equal(query_int(st, "SELECT count(*) FROM runs"), 1);
	hl_store_close(st);
}

/* A database at version 1 is upgraded to 2 when the code has a second migration; data stays. */
static void test_upgrade(void **state)
{
	struct fx *fx = *state;
	struct hl_store *st = open_ok(fx, 1);

	assert_int_equal(hl_store_version(st), 1);
	assert_int_equal(table_exists(st, "results"), 0);
	assert_int_equal(hl_store_exec(st, "add a host",
				       "INSERT INTO hosts(name) VALUES('FabricHost2')"), 0);
	hl_store_close(st);
	st = open_ok(fx, 2);
	assert_int_equal(hl_store_version(st), 2);
	assert_int_equal(query_int(st, "PRAGMA user_version"), 2);
	assert_int_equal(table_exists(st, "results"), 1);
	assert_int_equal(query_int(st, "SELECT count(*) FROM runs"), 1);
	assert_int_equal(query_int(st, "SELECT count(*) FROM hosts"), 1);
	hl_store_close(st);
}

/* A database newer than the code is refused and left as it was. */
static void test_newer_refused(void **state)
{
	struct fx *fx = *state;
	struct hl_store *st = open_ok(fx, 2);
	struct stat before, after;

	hl_store_close(st);
	assert_int_equal(stat(fx->db, &before), 0);
	st = (struct hl_store *)1;
	assert_int_equal(hl_store_open(fx->db, migrations, 1, &st), -1);
	assert_null(st);
	assert_error_has(fx->db);
	assert_error_has("schema version 2 is newer than this hgslab knows (1)");
	assert_int_equal(stat(fx->db, &after), 0);
	assert_int_equal(before.st_size, after.st_size);
	assert_int_equal(before.st_mtim.tv_sec, after.st_mtim.tv_sec);
	assert_int_equal(before.st_mtim.tv_nsec, after.st_mtim.tv_nsec);
	st = open_ok(fx, 2);
	assert_int_equal(hl_store_version(st), 2);
	hl_store_close(st);
}

/* A failing migration rolls back whole: version unchanged, no table from its first half. */
static void test_failing_migration(void **state)
{
	struct fx *fx = *state;
	static const char *const bad[] = {
		"CREATE TABLE hosts(name TEXT PRIMARY KEY, ek BLOB);",
		"CREATE TABLE partial(x); INSERT INTO partial VALUES(1); INSERT INTO nosuch VALUES(1);",
	};
	static const char *const commits[] = {
		"CREATE TABLE hosts(name TEXT PRIMARY KEY, ek BLOB);",
		"CREATE TABLE sneaky(x); COMMIT;",
	};
	struct hl_store *st = open_ok(fx, 1);

	hl_store_close(st);
	assert_int_equal(hl_store_open(fx->db, bad, ARRAY_SIZE(bad), &st), -1);
	assert_null(st);
	assert_error_has("cannot apply migration 2 of 2");
	assert_error_has("no such table: nosuch");
	assert_error_has("stays at schema version 1");

	st = open_ok(fx, 1);
	assert_int_equal(hl_store_version(st), 1);
	assert_int_equal(query_int(st, "PRAGMA user_version"), 1);
	assert_int_equal(table_exists(st, "partial"), 0);
	hl_store_close(st);

	/* A migration that commits on its own is refused (it would break the all-or-nothing rule). */
	assert_int_equal(hl_store_open(fx->db, commits, ARRAY_SIZE(commits), &st), -1);
	assert_null(st);
	assert_error_has("migration 2 ended its transaction");
}

/* Write LEN bytes of BYTE at OFFSET into PATH. */
static void scribble(const char *path, off_t offset, int byte, size_t len)
{
	char buf[4096];
	int fd = open(path, O_WRONLY);

	assert_true(fd >= 0);
	assert_true(len <= sizeof(buf));
	memset(buf, byte, len);
	assert_int_equal(pwrite(fd, buf, len, offset), (ssize_t)len);
	close(fd);
}

/* Text files, a broken header and a broken schema page give clear errors, never a crash. */
static void test_damaged_files(void **state)
{
	struct fx *fx = *state;
	static const char text[] = "this is not a database, it is a shopping list\n";
	struct hl_store *st = NULL;
	char buf[8192];

	memset(buf, '\n', sizeof(buf));
	for (size_t i = 0; i + sizeof(text) < sizeof(buf); i += sizeof(text) - 1)
		memcpy(buf + i, text, sizeof(text) - 1);
	assert_int_equal(hl_file_write_private(fx->db, buf, sizeof(buf)), 0);
	assert_int_equal(hl_store_open(fx->db, migrations, 2, &st), -1);
	assert_null(st);
	assert_error_has(fx->db);
	assert_error_has("file is not a database");
	assert_error_has("move it aside");

	/* A real store whose header magic is gone. */
	assert_int_equal(unlink(fx->db), 0);
	st = open_ok(fx, 2);
	hl_store_close(st);
	st = NULL;
	scribble(fx->db, 0, 'X', 16);
	assert_int_equal(hl_store_open(fx->db, migrations, 2, &st), -1);
	assert_null(st);
	assert_error_has("file is not a database");

	/* A real store whose first page (the schema) is garbage after the header. */
	assert_int_equal(unlink(fx->db), 0);
	st = open_ok(fx, 2);
	hl_store_close(st);
	st = NULL;
	scribble(fx->db, 100, 0x5a, 3996);
	assert_int_equal(hl_store_open(fx->db, migrations, 2, &st), -1);
	assert_null(st);
	assert_error_has(fx->db);
	assert_error_has("cannot read the schema");
	assert_error_has("malformed");

	/* A directory where the file should be. */
	assert_int_equal(unlink(fx->db), 0);
	assert_int_equal(mkdir(fx->db, 0700), 0);
	assert_int_equal(hl_store_open(fx->db, migrations, 2, &st), -1);
	assert_null(st);
	assert_error_has(fx->db);
}

/* A database in a missing directory is a clear error and creates nothing. */
static void test_missing_dir(void **state)
{
	struct fx *fx = *state;
	struct hl_store *st = NULL;
	char p[160];

	snprintf(p, sizeof(p), "%s/nodir/hgs.db", fx->dir);
	assert_int_equal(hl_store_open(p, migrations, 2, &st), -1);
	assert_null(st);
	assert_error_has(p);
	assert_error_has("does not exist");
	assert_int_equal(hl_store_open("", migrations, 2, &st), -1);
}

/* begin/rollback discards, begin/commit keeps; prepare and step errors name the statement. */
static void test_transactions(void **state)
{
	struct fx *fx = *state;
	struct hl_store *st = open_ok(fx, 2);
	sqlite3_stmt *stmt = (sqlite3_stmt *)1;

	assert_int_equal(hl_store_begin(st), 0);
	assert_int_equal(hl_store_exec(st, "add a host", "INSERT INTO hosts(name) VALUES('a')"), 0);
	hl_error("earlier failure");
	hl_store_rollback(st);
	assert_string_equal(hl_error_last(), "earlier failure");
	assert_int_equal(query_int(st, "SELECT count(*) FROM hosts"), 0);
	hl_store_rollback(st);

	assert_int_equal(hl_store_begin(st), 0);
	assert_int_equal(hl_store_exec(st, "add a host", "INSERT INTO hosts(name) VALUES('b')"), 0);
	assert_int_equal(hl_store_commit(st), 0);
	assert_int_equal(query_int(st, "SELECT count(*) FROM hosts"), 1);

	assert_int_equal(hl_store_prepare(st, "SELEC name FROM hosts", &stmt), -1);
	assert_null(stmt);
	assert_error_has("cannot prepare 'SELEC name FROM hosts'");
	assert_int_equal(hl_store_prepare(st, "INSERT INTO hosts(name) VALUES('b')", &stmt), 0);
	assert_int_equal(hl_store_step(st, stmt), -1);
	assert_error_has("cannot run 'INSERT INTO hosts");
	assert_error_has("UNIQUE constraint failed");
	sqlite3_finalize(stmt);
	hl_store_close(st);
}

/* Count of statements SQLite holds prepared on ST's connection. */
static int open_statements(struct hl_store *st)
{
	int n = 0;

	for (sqlite3_stmt *s = sqlite3_next_stmt(hl_store_db(st), NULL); s;
	     s = sqlite3_next_stmt(hl_store_db(st), s))
		n++;
	return n;
}

/*
 * hl_store_stmt keeps a statement per SQL text: given back reset with
 * cleared bindings (no read left open), the same one comes back; a nested
 * use gets its own, finalized when given back; a bad SQL is an error; close
 * finalizes the kept ones.
 */
static void test_stmt_cache(void **state)
{
	struct fx *fx = *state;
	struct hl_store *st = open_ok(fx, 2);
	const char *sql = "SELECT name FROM hosts WHERE name = ?";
	char copy[64];
	sqlite3_stmt *a = NULL, *b = NULL, *c = NULL;
	int base = open_statements(st);   /* kept by open (its transactions) */

	assert_int_equal(hl_store_exec(st, "add hosts",
				       "INSERT INTO hosts(name) VALUES('h1'), ('h2')"), 0);
	assert_int_equal(hl_store_stmt(st, sql, &a), 0);
	assert_int_equal(sqlite3_bind_text(a, 1, "h1", -1, SQLITE_STATIC), SQLITE_OK);
	assert_int_equal(hl_store_step(st, a), 1);
	/* nested: the same text while A is out gives another statement */
	assert_int_equal(hl_store_stmt(st, sql, &b), 0);
	assert_ptr_not_equal(a, b);
	assert_int_equal(open_statements(st), base + 2);
	hl_store_stmt_done(st, b);
	assert_int_equal(open_statements(st), base + 1);
	hl_store_stmt_done(st, a);
	/* given back: reset (not busy), bindings cleared */
	assert_int_equal(sqlite3_stmt_busy(a), 0);
	/* the same statement again, matched by text (another buffer) */
	snprintf(copy, sizeof(copy), "%s", sql);
	assert_int_equal(hl_store_stmt(st, copy, &c), 0);
	assert_ptr_equal(c, a);
	assert_int_equal(hl_store_step(st, c), 0);   /* NULL bound: no row */
	hl_store_stmt_done(st, c);
	/* a write between uses is seen by the kept statement */
	assert_int_equal(hl_store_stmt(st, "SELECT count(*) FROM hosts", &a), 0);
	assert_int_equal(hl_store_step(st, a), 1);
	assert_int_equal(sqlite3_column_int(a, 0), 2);
	hl_store_stmt_done(st, a);
	assert_int_equal(hl_store_exec(st, "add a host",
				       "INSERT INTO hosts(name) VALUES('h3')"), 0);
	assert_int_equal(hl_store_stmt(st, "SELECT count(*) FROM hosts", &a), 0);
	assert_int_equal(hl_store_step(st, a), 1);
	assert_int_equal(sqlite3_column_int(a, 0), 3);
	hl_store_stmt_done(st, a);
	/* errors and NULL */
	a = (sqlite3_stmt *)1;
	assert_int_equal(hl_store_stmt(st, "SELEC 1", &a), -1);
	assert_null(a);
	assert_error_has("cannot prepare 'SELEC 1'");
	hl_store_stmt_done(st, NULL);
	/* past the cache's size statements are prepared per use and finalized when given back */
	for (int i = 0; i < HL_STORE_STMT_CACHE + 4; i++) {
		char q[64];

		snprintf(q, sizeof(q), "SELECT %d", i);
		assert_int_equal(hl_store_stmt(st, q, &a), 0);
		assert_int_equal(hl_store_step(st, a), 1);
		assert_int_equal(sqlite3_column_int(a, 0), i);
		hl_store_stmt_done(st, a);
	}
	assert_int_equal(open_statements(st), HL_STORE_STMT_CACHE);
	/* transactions run through kept statements too */
	assert_int_equal(hl_store_begin(st), 0);
	assert_int_equal(hl_store_exec(st, "add a host",
				       "INSERT INTO hosts(name) VALUES('h4')"), 0);
	assert_int_equal(hl_store_commit(st), 0);
	assert_int_equal(hl_store_read_begin(st), 0);
	assert_int_equal(query_int(st, "SELECT count(*) FROM hosts"), 4);
	assert_int_equal(hl_store_commit(st), 0);
	hl_store_close(st);
}

/*
 * Value lists: IN values bind the parameters in order (NULL text and blob
 * bind NULL), OUT values read the columns in order, with NULL read as "",
 * NULL, {NULL, 0} or 0; hl_store_get reads the first row or says there is
 * none, hl_store_run runs once, hl_store_query + hl_store_next walk the
 * rows, hl_store_changes counts what a write changed; errors name the
 * parameter or the statement.
 */
static void test_values(void **state)
{
	struct fx *fx = *state;
	struct hl_store *st = open_ok(fx, 2);
	static const unsigned char ek[] = { 0x00, 0x01, 0xfe };
	struct hl_buf b = { 0 };
	sqlite3_stmt *stmt = NULL;
	char name[8] = "x", *s = NULL;
	long long big = 0;
	time_t t = 5;
	int n = -1;

	assert_int_equal(hl_store_run(st, "INSERT INTO hosts(name, ek) VALUES(?, ?)",
				      HL_VALS(HL_IN_TEXT("h1"), HL_IN_BLOB(ek, sizeof(ek)))), 0);
	assert_int_equal(hl_store_changes(st), 1);
	assert_int_equal(hl_store_run(st, "INSERT INTO hosts(name, ek) VALUES(?, ?)",
				      HL_VALS(HL_IN_TEXT("h2"), HL_IN_BLOB(NULL, 0))), 0);
	/* one row; parameters may be numbered */
	assert_int_equal(hl_store_get(st, "SELECT name, ek, length(ek), ?2 FROM hosts "
				      "WHERE name = ?1",
				      HL_VALS(HL_IN_TEXT("h1"), HL_IN_INT(1LL << 40), HL_OUT_STR(&s),
					      HL_OUT_BUF(&b), HL_OUT_INT(&n), HL_OUT_INT64(&big))), 1);
	assert_string_equal(s, "h1");
	assert_int_equal(b.len, sizeof(ek));
	assert_memory_equal(b.data, ek, sizeof(ek));
	assert_int_equal(b.data[b.len], 0);
	assert_int_equal(n, 3);
	assert_true(big == 1LL << 40);
	free(s);
	hl_buf_free(&b);
	/* NULL columns */
	assert_int_equal(hl_store_get(st, "SELECT NULL, NULL, ek, length(ek), NULL FROM hosts "
				      "WHERE name = ?",
				      HL_VALS(HL_IN_TEXT("h2"), HL_OUT_TEXT(name, sizeof(name)),
					      HL_OUT_STR(&s), HL_OUT_BUF(&b), HL_OUT_INT(&n),
					      HL_OUT_TIME(&t))), 1);
	assert_string_equal(name, "");
	assert_null(s);
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	assert_int_equal(n, 0);
	assert_int_equal(t, 0);
	/* text is cut to its buffer; times read whole */
	assert_int_equal(hl_store_get(st, "SELECT 'a long name', 1700000000",
				      HL_VALS(HL_OUT_TEXT(name, 4), HL_OUT_TIME(&t))), 1);
	assert_string_equal(name, "a l");
	assert_int_equal(t, 1700000000);
	/* no row: nothing read */
	assert_int_equal(hl_store_get(st, "SELECT name FROM hosts WHERE name = ?",
				      HL_VALS(HL_IN_TEXT("none"), HL_OUT_TEXT(name, sizeof(name)))),
			 0);
	assert_string_equal(name, "a l");
	/* rows */
	assert_int_equal(hl_store_query(st, "SELECT name FROM hosts WHERE name > ? ORDER BY name",
					HL_VALS(HL_IN_TEXT("")), &stmt), 0);
	assert_int_equal(hl_store_next(st, stmt, HL_VALS(HL_OUT_TEXT(name, sizeof(name)))), 1);
	assert_string_equal(name, "h1");
	assert_int_equal(hl_store_next(st, stmt, HL_VALS(HL_OUT_TEXT(name, sizeof(name)))), 1);
	assert_string_equal(name, "h2");
	assert_int_equal(hl_store_next(st, stmt, HL_VALS(HL_OUT_TEXT(name, sizeof(name)))), 0);
	hl_store_stmt_done(st, stmt);
	/* errors */
	assert_int_equal(hl_store_run(st, "INSERT INTO hosts(name) VALUES(?)",
				      HL_VALS(HL_IN_TEXT("h1"))), -1);
	assert_error_has("cannot run 'INSERT INTO hosts(name)");
	assert_error_has("UNIQUE constraint failed");
	assert_int_equal(hl_store_get(st, "SELECT ?", HL_VALS(HL_IN_INT(1), HL_IN_INT(2))), -1);
	assert_error_has("cannot bind parameter 2");
	stmt = (sqlite3_stmt *)1;
	assert_int_equal(hl_store_query(st, "SELEC ?", HL_VALS(HL_IN_INT(1)), &stmt), -1);
	assert_null(stmt);
	assert_int_equal(hl_store_run(st, "DELETE FROM hosts", NULL, 0), 0);
	assert_int_equal(hl_store_changes(st), 2);
	hl_store_close(st);
}

/* The synchronous switch takes effect each time (a PRAGMA is applied when prepared). */
static void test_synchronous(void **state)
{
	struct fx *fx = *state;
	struct hl_store *st = open_ok(fx, 2);

	for (int i = 0; i < 3; i++) {
		assert_int_equal(hl_store_set_synchronous(st, HL_STORE_SYNC_NORMAL), 0);
		assert_int_equal(query_int(st, "PRAGMA synchronous"), 1);
		assert_int_equal(hl_store_set_synchronous(st, HL_STORE_SYNC_FULL), 0);
		assert_int_equal(query_int(st, "PRAGMA synchronous"), 2);
	}
	/* refused inside a transaction: the setting stays */
	assert_int_equal(hl_store_begin(st), 0);
	assert_int_equal(hl_store_set_synchronous(st, HL_STORE_SYNC_NORMAL), -1);
	hl_store_rollback(st);
	assert_int_equal(query_int(st, "PRAGMA synchronous"), 2);
	hl_store_close(st);
}

/*
 * A query PRAGMA runs again from the statement cache: PRAGMA data_version
 * through hl_store_get() (kept prepared) stays while nothing changes and
 * its own commits do not count, and moves after another connection's
 * commit (what hgs/db.c's policy snapshot relies on).
 */
static void test_data_version_kept(void **state)
{
	struct fx *fx = *state;
	struct hl_store *st = open_ok(fx, 2), *other = open_ok(fx, 2);
	long long v0 = 0, v = 0;

	assert_int_equal(hl_store_get(st, "PRAGMA data_version", HL_VALS(HL_OUT_INT64(&v0))), 1);
	assert_int_equal(hl_store_get(st, "PRAGMA data_version", HL_VALS(HL_OUT_INT64(&v))), 1);
	assert_true(v == v0);
	assert_int_equal(hl_store_run(st, "INSERT INTO hosts(name) VALUES('Own')", NULL, 0), 0);
	assert_int_equal(hl_store_get(st, "PRAGMA data_version", HL_VALS(HL_OUT_INT64(&v))), 1);
	assert_true(v == v0);
	assert_int_equal(hl_store_run(other, "INSERT INTO hosts(name) VALUES('Other')", NULL, 0), 0);
	assert_int_equal(hl_store_get(st, "PRAGMA data_version", HL_VALS(HL_OUT_INT64(&v))), 1);
	assert_true(v != v0);
	v0 = v;
	assert_int_equal(hl_store_get(st, "PRAGMA data_version", HL_VALS(HL_OUT_INT64(&v))), 1);
	assert_true(v == v0);
	hl_store_close(other);
	hl_store_close(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_fresh, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_upgrade, setup, teardown),
		cmocka_unit_test_setup_teardown(test_newer_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failing_migration, setup, teardown),
		cmocka_unit_test_setup_teardown(test_damaged_files, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_dir, setup, teardown),
		cmocka_unit_test_setup_teardown(test_transactions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stmt_cache, setup, teardown),
		cmocka_unit_test_setup_teardown(test_synchronous, setup, teardown),
		cmocka_unit_test_setup_teardown(test_data_version_kept, setup, teardown),
		cmocka_unit_test_setup_teardown(test_values, setup, teardown),
	};
	return cmocka_run_group_tests_name("store", tests, NULL, NULL);
}
