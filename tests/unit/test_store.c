/*
 * test_store.c - unit tests for lib/store on both backends (teststore.h:
 * SQLite files, or with HGSLAB_TEST_STORE=postgresql a fresh database of a
 * throw-away PostgreSQL server per test): schema migrations (fresh, reopen,
 * upgrade, newer refused, failing rolled back), the exec/transaction
 * helpers, no lost update between two writers, the statement cache, the
 * synchronous switch, the data version, the value lists that bind
 * parameters and read columns (HL_VALS), the portable SQL subset and the
 * snapshot (a SQLite image on both).  SQLite only: setup pragmas, file
 * modes, damaged files, a missing folder, its data_version.  PostgreSQL
 * only: an unreachable server or a wrong password, a dropped connection.  Each test runs in its
 * own mkdtemp directory, removed in teardown.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "lib/crypto.h"
#include "lib/err.h"
#include "lib/fileio.h"
#include "lib/log.h"
#include "lib/store.h"
#include "tests/unit/teststore.h"
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
	char db[256];      /* the location: DIR/hgs.db or a fresh database's URI */
	mode_t umask_saved;
};

/* Make a sandbox directory; the location is DIR/hgs.db or a fresh PostgreSQL database. */
static int setup(void **state)
{
	struct fx *fx = tu_sandbox_new(sizeof(*fx), "store");

	if (!fx)
		return -1;
	if (tus_location(fx->dir, "hgs.db", fx->db, sizeof(fx->db)) < 0) {
		fprintf(stderr, "setup: %s\n", hl_error_last());
		tu_sandbox_free(fx);
		return -1;
	}
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
	int v = -1;

	if (hl_store_get(st, sql, HL_VALS(HL_OUT_INT(&v))) != 1)
		fail_msg("'%s' read no row: %s", sql, hl_error_last());
	return v;
}

/* Run a one-value query and return its text (a static buffer). */
static const char *query_text(struct hl_store *st, const char *sql)
{
	static char text[64];

	if (hl_store_get(st, sql, HL_VALS(HL_OUT_TEXT(text, sizeof(text)))) != 1)
		fail_msg("'%s' read no row: %s", sql, hl_error_last());
	return text;
}

/* Whether table NAME exists. */
static int table_exists(struct hl_store *st, const char *name)
{
	if (hl_store_kind(st) == HL_STORE_POSTGRESQL)
		return hl_store_get(st, "SELECT 1 FROM information_schema.tables "
				    "WHERE table_schema = 'public' AND table_name = ?",
				    HL_VALS(HL_IN_TEXT(name)));
	return hl_store_get(st, "SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?",
			    HL_VALS(HL_IN_TEXT(name)));
}

/* The schema version as the backend records it (PRAGMA user_version, hl_store_meta). */
static int stored_version(struct hl_store *st)
{
	if (hl_store_kind(st) == HL_STORE_POSTGRESQL)
		return query_int(st, "SELECT version FROM hl_store_meta WHERE id = 1");
	return query_int(st, "PRAGMA user_version");
}

/* The backend's words for a failed UNIQUE constraint. */
static const char *unique_failed(void)
{
	return tus_pg() ? "duplicate key value violates unique constraint"
			: "UNIQUE constraint failed";
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

/*
 * A fresh database gets every migration and enforces foreign keys with a
 * clear error; on SQLite also WAL, the busy timeout, synchronous=FULL and
 * mode 0600 files; on PostgreSQL the location shown has no password.
 */
static void test_fresh(void **state)
{
	struct fx *fx = *state;
	struct hl_store *st;
	char wal[160];

	umask(0);
	st = open_ok(fx, ARRAY_SIZE(migrations));
	assert_int_equal(hl_store_version(st), 2);
	assert_int_equal(stored_version(st), 2);
	assert_int_equal(table_exists(st, "hosts"), 1);
	assert_int_equal(table_exists(st, "results"), 1);
	assert_int_equal(query_int(st, "SELECT count(*) FROM runs"), 1);

	/* Foreign keys are enforced, with a clear error. */
	assert_int_equal(hl_store_exec(st, "record a result",
				       "INSERT INTO results(host) VALUES('FabricHost9')"), -1);
	assert_error_has("store '");
	assert_error_has("': cannot record a result: ");
	assert_error_has(tus_pg() ? "violates foreign key constraint" : "FOREIGN KEY constraint failed");
	assert_int_equal(hl_store_exec(st, "add a host",
				       "INSERT INTO hosts(name) VALUES('FabricHost1')"), 0);

	if (tus_pg()) {
		/* postgresql://hgslab:PASSWORD@... is shown as postgresql://hgslab@... */
		const char *pw = strchr(strstr(fx->db, "://") + 3, ':') + 1;
		char secret[64];

		snprintf(secret, sizeof(secret), "%.*s", (int)(strchr(pw, '@') - pw), pw);
		assert_non_null(strstr(hl_store_path(st), "postgresql://hgslab@127.0.0.1:"));
		assert_null(strstr(hl_store_path(st), secret));
		assert_error_has("postgresql://hgslab@");
		assert_int_equal(hl_store_kind(st), HL_STORE_POSTGRESQL);
		hl_store_close(st);
		return;
	}
	assert_int_equal(hl_store_kind(st), HL_STORE_SQLITE);
	assert_string_equal(hl_store_path(st), fx->db);
	assert_error_has("hgs.db': cannot record a result: ");
	assert_int_equal(query_int(st, "PRAGMA foreign_keys"), 1);
	assert_int_equal(query_int(st, "PRAGMA busy_timeout"), HL_STORE_BUSY_TIMEOUT_MS);
	assert_int_equal(query_int(st, "PRAGMA synchronous"), 2);
	assert_string_equal(query_text(st, "PRAGMA journal_mode"), "wal");

	/* The database and its WAL companions are private. */
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
	assert_int_equal(stored_version(st), 2);
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
	if (!tus_pg())
		assert_int_equal(stat(fx->db, &before), 0);
	st = (struct hl_store *)1;
	assert_int_equal(hl_store_open(fx->db, migrations, 1, &st), -1);
	assert_null(st);
	assert_error_has(tus_pg() ? "postgresql://hgslab@" : fx->db);
	assert_error_has("schema version 2 is newer than this hgslab knows (1)");
	if (!tus_pg()) {
		assert_int_equal(stat(fx->db, &after), 0);
		assert_int_equal(before.st_size, after.st_size);
		assert_int_equal(before.st_mtim.tv_sec, after.st_mtim.tv_sec);
		assert_int_equal(before.st_mtim.tv_nsec, after.st_mtim.tv_nsec);
	}
	st = open_ok(fx, 2);
	assert_int_equal(hl_store_version(st), 2);
	assert_int_equal(stored_version(st), 2);
	assert_int_equal(query_int(st, "SELECT count(*) FROM runs"), 1);
	hl_store_close(st);
}

/* A failing migration rolls back whole: version unchanged, no table from its first half. */
static void test_failing_migration(void **state)
{
	struct fx *fx = *state;
	static const char *const bad[] = {
		"CREATE TABLE hosts(name TEXT PRIMARY KEY, ek BLOB);",
		"CREATE TABLE partial(x INTEGER); INSERT INTO partial VALUES(1); "
		"INSERT INTO nosuch VALUES(1);",
	};
	static const char *const commits[] = {
		"CREATE TABLE hosts(name TEXT PRIMARY KEY, ek BLOB);",
		"CREATE TABLE sneaky(x INTEGER); COMMIT;",
	};
	struct hl_store *st = open_ok(fx, 1);

	hl_store_close(st);
	assert_int_equal(hl_store_open(fx->db, bad, ARRAY_SIZE(bad), &st), -1);
	assert_null(st);
	assert_error_has("cannot apply migration 2 of 2");
	assert_error_has(tus_pg() ? "relation \"nosuch\" does not exist" : "no such table: nosuch");
	assert_error_has("stays at schema version 1");

	st = open_ok(fx, 1);
	assert_int_equal(hl_store_version(st), 1);
	assert_int_equal(stored_version(st), 1);
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

/* begin/rollback discards, begin/commit keeps; statement errors name the statement. */
static void test_transactions(void **state)
{
	struct fx *fx = *state;
	struct hl_store *st = open_ok(fx, 2);
	struct hl_store_stmt *stmt = (struct hl_store_stmt *)1;

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

	assert_int_equal(hl_store_query(st, "SELEC name FROM hosts", NULL, 0, &stmt), -1);
	assert_null(stmt);
	assert_error_has(tus_pg() ? "cannot run 'SELEC name FROM hosts'"
				  : "cannot prepare 'SELEC name FROM hosts'");
	assert_int_equal(hl_store_run(st, "INSERT INTO hosts(name) VALUES('b')", NULL, 0), -1);
	assert_error_has("cannot run 'INSERT INTO hosts");
	assert_error_has(unique_failed());

	/* a statement that fails inside a transaction: rolled back whole */
	assert_int_equal(hl_store_begin(st), 0);
	assert_int_equal(hl_store_exec(st, "add a host", "INSERT INTO hosts(name) VALUES('c')"), 0);
	assert_int_equal(hl_store_run(st, "INSERT INTO hosts(name) VALUES('b')", NULL, 0), -1);
	hl_store_rollback(st);
	assert_int_equal(query_int(st, "SELECT count(*) FROM hosts"), 1);
	hl_store_close(st);
}

/* What a writer thread of test_no_lost_update needs. */
struct writer {
	const char *location;
	int rc;
};

/* Add one to runs.n in a write transaction of a connection of its own. */
static int bump_runs(struct hl_store *st)
{
	int n = -1;

	if (hl_store_begin(st) < 0)
		return -1;
	if (hl_store_get(st, "SELECT n FROM runs", HL_VALS(HL_OUT_INT(&n))) != 1 ||
	    hl_store_run(st, "UPDATE runs SET n = ?", HL_VALS(HL_IN_INT(n + 1))) < 0 ||
	    hl_store_commit(st) < 0) {
		hl_store_rollback(st);
		return -1;
	}
	return 0;
}

/* The second writer: open, bump, close. */
static void *writer_main(void *arg)
{
	struct writer *w = arg;
	struct hl_store *st = NULL;

	w->rc = hl_store_open(w->location, migrations, ARRAY_SIZE(migrations), &st);
	if (w->rc == 0)
		w->rc = bump_runs(st);
	hl_store_close(st);
	return NULL;
}

/*
 * Two read-modify-write transactions at once (another connection, as another
 * process would be): the second waits for the first and reads its result,
 * so both increments count (no lost update).
 */
static void test_no_lost_update(void **state)
{
	struct fx *fx = *state;
	struct hl_store *st = open_ok(fx, 2);
	struct writer w = { fx->db, -1 };
	struct timespec pause = { 0, 200 * 1000 * 1000 };
	pthread_t t;
	int n = -1;

	assert_int_equal(hl_store_begin(st), 0);
	assert_int_equal(hl_store_get(st, "SELECT n FROM runs", HL_VALS(HL_OUT_INT(&n))), 1);
	assert_int_equal(n, 2);
	assert_int_equal(pthread_create(&t, NULL, writer_main, &w), 0);
	nanosleep(&pause, NULL);   /* let the other writer reach its begin (it must wait) */
	assert_int_equal(hl_store_run(st, "UPDATE runs SET n = ?", HL_VALS(HL_IN_INT(n + 1))), 0);
	assert_int_equal(hl_store_commit(st), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(w.rc, 0);
	assert_int_equal(query_int(st, "SELECT n FROM runs"), 4);
	hl_store_close(st);
}

/*
 * The statement cache keeps a statement per SQL text: given back reset (no
 * read left open), the same one comes back, matched by text; a nested use
 * gets its own; a write between uses is seen; past the cache's size
 * statements are made per use; bad SQL is an error; transactions run
 * through it too.
 */
static void test_stmt_cache(void **state)
{
	struct fx *fx = *state;
	struct hl_store *st = open_ok(fx, 2);
	const char *sql = "SELECT name FROM hosts WHERE name = ?";
	char copy[64], name[16];
	struct hl_store_stmt *a = NULL, *b = NULL, *c = NULL;
	int n = 0;

	assert_int_equal(hl_store_exec(st, "add hosts",
				       "INSERT INTO hosts(name) VALUES('h1'), ('h2')"), 0);
	assert_int_equal(hl_store_query(st, sql, HL_VALS(HL_IN_TEXT("h1")), &a), 0);
	assert_int_equal(hl_store_next(st, a, HL_VALS(HL_OUT_TEXT(name, sizeof(name)))), 1);
	assert_string_equal(name, "h1");
	/* nested: the same text while A is out gives another statement */
	assert_int_equal(hl_store_query(st, sql, HL_VALS(HL_IN_TEXT("h2")), &b), 0);
	assert_ptr_not_equal(a, b);
	assert_int_equal(hl_store_next(st, b, HL_VALS(HL_OUT_TEXT(name, sizeof(name)))), 1);
	assert_string_equal(name, "h2");
	hl_store_stmt_done(st, b);
	hl_store_stmt_done(st, a);
	/* the same statement again, matched by text (another buffer), read from the start */
	snprintf(copy, sizeof(copy), "%s", sql);
	assert_int_equal(hl_store_query(st, copy, HL_VALS(HL_IN_TEXT(NULL)), &c), 0);
	assert_ptr_equal(c, a);
	assert_int_equal(hl_store_step(st, c), 0);   /* NULL bound: no row */
	hl_store_stmt_done(st, c);
	/* a write between uses is seen by the kept statement */
	assert_int_equal(query_int(st, "SELECT count(*) FROM hosts"), 2);
	assert_int_equal(hl_store_exec(st, "add a host",
				       "INSERT INTO hosts(name) VALUES('h3')"), 0);
	assert_int_equal(query_int(st, "SELECT count(*) FROM hosts"), 3);
	/* errors and NULL */
	a = (struct hl_store_stmt *)1;
	assert_int_equal(hl_store_query(st, "SELEC 1", NULL, 0, &a), -1);
	assert_null(a);
	assert_error_has("'SELEC 1'");
	hl_store_stmt_done(st, NULL);
	/* past the cache's size statements are made per use and freed when given back */
	for (int i = 0; i < HL_STORE_STMT_CACHE + 4; i++) {
		char q[64];

		snprintf(q, sizeof(q), "SELECT %d", i);
		assert_int_equal(hl_store_query(st, q, NULL, 0, &a), 0);
		assert_int_equal(hl_store_next(st, a, HL_VALS(HL_OUT_INT(&n))), 1);
		assert_int_equal(n, i);
		hl_store_stmt_done(st, a);
	}
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
	struct hl_store_stmt *stmt = NULL;
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
	assert_error_has(unique_failed());
	assert_int_equal(hl_store_get(st, "SELECT ?", HL_VALS(HL_IN_INT(1), HL_IN_INT(2))), -1);
	assert_error_has("cannot bind parameter 2");
	stmt = (struct hl_store_stmt *)1;
	assert_int_equal(hl_store_query(st, "SELEC ?", HL_VALS(HL_IN_INT(1)), &stmt), -1);
	assert_null(stmt);
	assert_int_equal(hl_store_run(st, "DELETE FROM hosts", NULL, 0), 0);
	assert_int_equal(hl_store_changes(st), 2);
	hl_store_close(st);
}

/* The durability setting as the backend shows it: 1 relaxed (NORMAL, off), 2 full (FULL, on). */
static int sync_level(struct hl_store *st)
{
	if (hl_store_kind(st) == HL_STORE_POSTGRESQL)
		return strcmp(query_text(st, "SHOW synchronous_commit"), "off") == 0 ? 1 : 2;
	return query_int(st, "PRAGMA synchronous");
}

/*
 * The synchronous switch takes effect each time (a PRAGMA is applied when
 * prepared): at once on PostgreSQL, at the next statement that writes on
 * SQLite, where a read between two switches switches nothing.
 */
static void test_synchronous(void **state)
{
	struct fx *fx = *state;
	struct hl_store *st = open_ok(fx, 2);
	int sqlite = hl_store_kind(st) == HL_STORE_SQLITE;
	char name[16];

	for (int i = 0; i < 3; i++) {
		snprintf(name, sizeof(name), "n%d", i);
		assert_int_equal(hl_store_set_synchronous(st, HL_STORE_SYNC_NORMAL), 0);
		if (sqlite) {
			assert_int_equal(sync_level(st), 2);
			assert_int_equal(hl_store_run(st, "INSERT INTO hosts(name) VALUES(?)",
						      HL_VALS(HL_IN_TEXT(name))), 0);
		}
		assert_int_equal(sync_level(st), 1);
		assert_int_equal(hl_store_set_synchronous(st, HL_STORE_SYNC_FULL), 0);
		if (sqlite) {
			assert_int_equal(sync_level(st), 1);
			assert_int_equal(hl_store_run(st, "DELETE FROM hosts WHERE name = ?",
						      HL_VALS(HL_IN_TEXT(name))), 0);
		}
		assert_int_equal(sync_level(st), 2);
	}
	/* a transaction starts at the mode set */
	assert_int_equal(hl_store_set_synchronous(st, HL_STORE_SYNC_NORMAL), 0);
	assert_int_equal(hl_store_set_synchronous(st, HL_STORE_SYNC_FULL), 0);
	assert_int_equal(hl_store_set_synchronous(st, HL_STORE_SYNC_NORMAL), 0);
	assert_int_equal(hl_store_begin(st), 0);
	assert_int_equal(sync_level(st), 1);
	assert_int_equal(hl_store_commit(st), 0);
	assert_int_equal(hl_store_set_synchronous(st, HL_STORE_SYNC_FULL), 0);
	assert_int_equal(hl_store_exec(st, "write", "DELETE FROM hosts"), 0);
	assert_int_equal(sync_level(st), 2);
	/* refused inside a transaction: the setting stays */
	assert_int_equal(hl_store_begin(st), 0);
	assert_int_equal(hl_store_set_synchronous(st, HL_STORE_SYNC_NORMAL), -1);
	hl_store_rollback(st);
	assert_int_equal(sync_level(st), 2);
	hl_store_close(st);
}

/*
 * SQLite: a query PRAGMA runs again from the statement cache: PRAGMA
 * data_version through hl_store_data_version() (kept prepared) stays while
 * nothing changes and its own commits do not count, and moves after
 * another connection's commit (what hgs/db.c's caches rely on).
 */
static void test_data_version_kept(void **state)
{
	struct fx *fx = *state;
	struct hl_store *st = open_ok(fx, 2), *other = open_ok(fx, 2);
	long long v0 = 0, v = 0;

	assert_int_equal(hl_store_data_version(st, &v0), 0);
	assert_int_equal(hl_store_data_version(st, &v), 0);
	assert_true(v == v0);
	assert_int_equal(hl_store_run(st, "INSERT INTO hosts(name) VALUES('Own')", NULL, 0), 0);
	assert_int_equal(hl_store_data_version(st, &v), 0);
	assert_true(v == v0);
	assert_int_equal(hl_store_run(other, "INSERT INTO hosts(name) VALUES('Other')", NULL, 0), 0);
	assert_int_equal(hl_store_data_version(st, &v), 0);
	assert_true(v != v0);
	v0 = v;
	assert_int_equal(hl_store_data_version(st, &v), 0);
	assert_true(v == v0);
	hl_store_close(other);
	hl_store_close(st);
}

/*
 * Both backends: a write transaction marked changed, committed by another
 * connection, moves the data version; reads and unmarked writes do not
 * (PostgreSQL), a rolled back mark does not; inside a read transaction the
 * version is that of its snapshot.
 */
static void test_data_version_marked(void **state)
{
	struct fx *fx = *state;
	struct hl_store *st = open_ok(fx, 2), *other = open_ok(fx, 2);
	long long v0 = 0, v = 0;

	assert_int_equal(hl_store_data_version(st, &v0), 0);
	assert_int_equal(query_int(other, "SELECT count(*) FROM hosts"), 0);
	assert_int_equal(hl_store_data_version(st, &v), 0);
	assert_true(v == v0);
	/* a mark rolled back counts for nothing */
	assert_int_equal(hl_store_begin(other), 0);
	assert_int_equal(hl_store_mark_changed(other), 0);
	hl_store_rollback(other);
	assert_int_equal(hl_store_data_version(st, &v), 0);
	assert_true(v == v0);
	/* a read snapshot keeps its version while another connection commits a change */
	assert_int_equal(hl_store_read_begin(st), 0);
	assert_int_equal(hl_store_data_version(st, &v0), 0);
	assert_int_equal(hl_store_begin(other), 0);
	assert_int_equal(hl_store_mark_changed(other), 0);
	assert_int_equal(hl_store_run(other, "INSERT INTO hosts(name) VALUES('Other')", NULL, 0), 0);
	assert_int_equal(hl_store_commit(other), 0);
	assert_int_equal(hl_store_data_version(st, &v), 0);
	assert_true(v == v0);
	assert_int_equal(query_int(st, "SELECT count(*) FROM hosts"), 0);
	assert_int_equal(hl_store_commit(st), 0);
	/* after it, the commit is seen */
	assert_int_equal(hl_store_data_version(st, &v), 0);
	assert_true(v != v0);
	hl_store_close(other);
	hl_store_close(st);
}

/*
 * The portable subset (store.h): INTEGER PRIMARY KEY gives row ids,
 * INTEGER holds 64 bits, BLOB holds any bytes, the type words inside a
 * quoted string are left alone, and so is a ? inside one; on PostgreSQL
 * the columns are BIGINT and BYTEA.
 */
static void test_subset(void **state)
{
	struct fx *fx = *state;
	static const char *const subset[] = {
		"CREATE TABLE t(id INTEGER PRIMARY KEY, b BLOB, big INTEGER NOT NULL DEFAULT 0,"
		"  note TEXT NOT NULL DEFAULT 'INTEGER PRIMARY KEY or BLOB?' CHECK (big >= 0),"
		"  UNIQUE (note, big));"
		"CREATE UNIQUE INDEX t_big ON t(big) WHERE big > 10;"
		"CREATE TABLE w(k BLOB PRIMARY KEY, v INTEGER NOT NULL) WITHOUT ROWID;",
	};
	static const unsigned char bytes[] = { 0x00, 0xff, 0x5c, 0x27, 0x00 };
	struct hl_store *st = NULL;
	struct hl_buf b = { 0 };
	long long id1 = 0, id2 = 0, id3 = 0, id4 = 0, big = 0;
	char note[64], q[4];

	if (hl_store_open(fx->db, subset, 1, &st) < 0)
		fail_msg("open failed: %s", hl_error_last());
	assert_int_equal(hl_store_get(st, "INSERT INTO t(b, big) VALUES(?, ?) RETURNING id",
				      HL_VALS(HL_IN_BLOB(bytes, sizeof(bytes)), HL_IN_INT(1LL << 40),
					      HL_OUT_INT64(&id1))), 1);
	assert_int_equal(hl_store_get(st, "INSERT INTO t(b) VALUES(NULL) RETURNING id",
				      HL_VALS(HL_OUT_INT64(&id2))), 1);
	assert_true(id1 >= 1 && id2 > id1);
	/* the id of an INSERT without RETURNING on SQLite, with it on PostgreSQL */
	assert_int_equal(hl_store_insert_id(st, "INSERT INTO t(big) VALUES(?)",
					    "INSERT INTO t(big) VALUES(?) RETURNING id",
					    HL_VALS(HL_IN_INT(7)), &id3), 1);
	assert_true(id3 > id2);
	assert_int_equal(hl_store_get(st, "SELECT big FROM t WHERE id = ?",
				      HL_VALS(HL_IN_INT(id3), HL_OUT_INT64(&big))), 1);
	assert_int_equal(big, 7);
	id4 = -1;
	assert_int_equal(hl_store_insert_id(st, "INSERT INTO t(big) VALUES(?) ON CONFLICT DO NOTHING",
					    "INSERT INTO t(big) VALUES(?) ON CONFLICT DO NOTHING "
					    "RETURNING id", HL_VALS(HL_IN_INT(1LL << 40)), &id4), 0);
	assert_int_equal(id4, -1);
	/* a table keyed by its primary key alone */
	assert_int_equal(hl_store_run(st, "INSERT INTO w(k, v) VALUES(?, ?)",
				      HL_VALS(HL_IN_BLOB(bytes, sizeof(bytes)), HL_IN_INT(5))), 0);
	assert_int_equal(hl_store_run(st, "INSERT INTO w(k, v) VALUES(?, ?)",
				      HL_VALS(HL_IN_BLOB(bytes, sizeof(bytes)), HL_IN_INT(6))), -1);
	assert_int_equal(hl_store_get(st, "SELECT b, big, note, '?' FROM t WHERE id = ?",
				      HL_VALS(HL_IN_INT(id1), HL_OUT_BUF(&b), HL_OUT_INT64(&big),
					      HL_OUT_TEXT(note, sizeof(note)),
					      HL_OUT_TEXT(q, sizeof(q)))), 1);
	assert_int_equal(b.len, sizeof(bytes));
	assert_memory_equal(b.data, bytes, sizeof(bytes));
	assert_true(big == 1LL << 40);
	assert_string_equal(note, "INTEGER PRIMARY KEY or BLOB?");
	assert_string_equal(q, "?");
	hl_buf_free(&b);
	/* a CHECK holds */
	assert_int_equal(hl_store_run(st, "INSERT INTO t(big) VALUES(-1)", NULL, 0), -1);
	if (tus_pg()) {
		assert_string_equal(query_text(st, "SELECT data_type FROM information_schema.columns "
						"WHERE table_name = 't' AND column_name = 'big'"),
				    "bigint");
		assert_string_equal(query_text(st, "SELECT data_type FROM information_schema.columns "
						"WHERE table_name = 't' AND column_name = 'b'"),
				    "bytea");
	}
	hl_store_close(st);
}

/* PostgreSQL: a server that refuses, or a wrong password, is a clear error that shows no password. */
static void test_pg_unreachable(void **state)
{
	struct fx *fx = *state;
	struct hl_store *st = (struct hl_store *)1;
	char uri[300], *at;

	(void)fx;
	assert_int_equal(hl_store_open("postgresql://hgslab:Secret1@127.0.0.1:1/hgs", migrations,
				       2, &st), -1);
	assert_null(st);
	assert_error_has("store 'postgresql://hgslab@127.0.0.1:1/hgs': cannot connect");
	assert_error_has("pgsql start");
	assert_null(strstr(hl_error_last(), "Secret1"));
	/* the right server, a wrong password */
	at = strchr(fx->db, '@');
	snprintf(uri, sizeof(uri), "postgresql://hgslab:Wrong2%s", at);
	assert_int_equal(hl_store_open(uri, migrations, 2, &st), -1);
	assert_error_has("password authentication failed");
	assert_error_has("check the user and password");
	assert_null(strstr(hl_error_last(), "Wrong2"));
}

/* Read N from "SELECT count(*) ..." SQL of the SQLite database image SNAP. */
static int snapshot_int(const struct hl_buf *snap, const char *sql)
{
	unsigned char *copy = sqlite3_malloc64(snap->len);
	sqlite3 *db = NULL;
	sqlite3_stmt *q = NULL;
	int n = -1;

	assert_non_null(copy);
	memcpy(copy, snap->data, snap->len);
	/* a SQLite image says WAL (bytes 18 and 19 are 2), which a database in memory cannot be */
	if (snap->len > 19)
		copy[18] = copy[19] = 1;
	assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
	assert_int_equal(sqlite3_deserialize(db, "main", copy, (sqlite3_int64)snap->len,
					     (sqlite3_int64)snap->len, SQLITE_DESERIALIZE_FREEONCLOSE |
					     SQLITE_DESERIALIZE_RESIZEABLE), SQLITE_OK);
	if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) == SQLITE_OK && sqlite3_step(q) == SQLITE_ROW)
		n = sqlite3_column_int(q, 0);
	sqlite3_finalize(q);
	sqlite3_close(db);
	return n;
}

/*
 * A snapshot is a SQLite database image on both backends: the schema at the
 * store's version, every row with its NULLs, integers and bytes, row ids kept.
 */
static void test_snapshot(void **state)
{
	struct fx *fx = *state;
	struct hl_store *st = open_ok(fx, 2);
	static const unsigned char ek[] = { 0x00, 0x01, 0x27, 0x5c, 0xfe };
	struct hl_buf b = { 0 };

	assert_int_equal(hl_store_run(st, "INSERT INTO hosts(name, ek) VALUES(?, ?), ('h2', NULL)",
				      HL_VALS(HL_IN_TEXT("h1"), HL_IN_BLOB(ek, sizeof(ek)))), 0);
	assert_int_equal(hl_store_run(st, "INSERT INTO results(id, host) VALUES(41, 'h1'), "
				      "(42, 'h2')", NULL, 0), 0);
	assert_ok(hl_store_snapshot(st, &b));
	assert_int_equal(snapshot_int(&b, "PRAGMA user_version"), 2);
	assert_int_equal(snapshot_int(&b, "SELECT count(*) FROM hosts"), 2);
	assert_int_equal(snapshot_int(&b, "SELECT count(*) FROM hosts WHERE name = 'h1' AND "
				      "ek = x'0001275cfe'"), 1);
	assert_int_equal(snapshot_int(&b, "SELECT count(*) FROM hosts WHERE ek IS NULL"), 1);
	assert_int_equal(snapshot_int(&b, "SELECT sum(id) FROM results"), 83);
	assert_int_equal(snapshot_int(&b, "SELECT count(*) FROM runs WHERE n = 2"), 1);
	assert_int_equal(snapshot_int(&b, "SELECT count(*) FROM runs"), 1);
	assert_int_equal(snapshot_int(&b, "SELECT count(*) FROM sqlite_schema WHERE "
				      "name = 'hl_store_meta'"), 0);
	hl_buf_free(&b);
	hl_store_close(st);
}

/*
 * PostgreSQL: a connection the server dropped (a restart) fails the
 * statement that finds out, and the next one runs on a new connection with
 * the same session settings.
 */
static void test_pg_reconnect(void **state)
{
	struct fx *fx = *state;
	struct hl_store *st = open_ok(fx, 2), *other = open_ok(fx, 2);
	int pid = 0, n = -1, gone = 0;

	hl_log_set_stderr_level(HL_LOG_ERROR);
	assert_int_equal(hl_store_get(st, "SELECT pg_backend_pid()", HL_VALS(HL_OUT_INT(&pid))), 1);
	assert_int_equal(hl_store_get(other, "SELECT pg_terminate_backend(CAST(? AS INTEGER))",
				      HL_VALS(HL_IN_INT(pid), HL_OUT_INT(&gone))), 1);
	assert_int_equal(gone, 1);
	assert_int_equal(hl_store_get(st, "SELECT count(*) FROM hosts", HL_VALS(HL_OUT_INT(&n))), -1);
	assert_int_equal(hl_store_get(st, "SELECT count(*) FROM hosts", HL_VALS(HL_OUT_INT(&n))), 1);
	assert_int_equal(n, 0);
	assert_int_equal(query_int(st, "SELECT pg_backend_pid()") != pid, 1);
	assert_string_equal(query_text(st, "SHOW lock_timeout"), "5s");
	assert_int_equal(hl_store_begin(st), 0);
	assert_int_equal(hl_store_exec(st, "add a host", "INSERT INTO hosts(name) VALUES('a')"), 0);
	assert_int_equal(hl_store_commit(st), 0);
	hl_store_close(other);
	hl_store_close(st);
}

int main(void)
{
	const struct CMUnitTest both[] = {
		cmocka_unit_test_setup_teardown(test_fresh, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_upgrade, setup, teardown),
		cmocka_unit_test_setup_teardown(test_newer_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failing_migration, setup, teardown),
		cmocka_unit_test_setup_teardown(test_transactions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_lost_update, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stmt_cache, setup, teardown),
		cmocka_unit_test_setup_teardown(test_synchronous, setup, teardown),
		cmocka_unit_test_setup_teardown(test_data_version_marked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_values, setup, teardown),
		cmocka_unit_test_setup_teardown(test_subset, setup, teardown),
		cmocka_unit_test_setup_teardown(test_snapshot, setup, teardown),
	};
	const struct CMUnitTest sqlite_only[] = {
		cmocka_unit_test_setup_teardown(test_damaged_files, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_dir, setup, teardown),
		cmocka_unit_test_setup_teardown(test_data_version_kept, setup, teardown),
	};
	const struct CMUnitTest pg_only[] = {
		cmocka_unit_test_setup_teardown(test_pg_unreachable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pg_reconnect, setup, teardown),
	};
	struct CMUnitTest tests[ARRAY_SIZE(both) + ARRAY_SIZE(sqlite_only) + ARRAY_SIZE(pg_only)];
	size_t n = 0;

	/* one plan: the tests of both backends, then this backend's own */
	for (size_t i = 0; i < ARRAY_SIZE(both); i++)
		tests[n++] = both[i];
	if (tus_pg())
		for (size_t i = 0; i < ARRAY_SIZE(pg_only); i++)
			tests[n++] = pg_only[i];
	else
		for (size_t i = 0; i < ARRAY_SIZE(sqlite_only); i++)
			tests[n++] = sqlite_only[i];
	return _cmocka_run_group_tests(tus_pg() ? "store-postgresql" : "store", tests, n, NULL,
				       NULL);
}
