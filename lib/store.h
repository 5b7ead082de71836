/*
 * store.h - the SQLite state store every hgslab component keeps in its directory.
 *
 * hl_store_open() opens (or creates, mode 0600) a database file and sets it up
 * the same way everywhere: WAL journal mode, synchronous=FULL (a committed
 * transaction survives a crash), foreign keys on, a busy timeout of
 * HL_STORE_BUSY_TIMEOUT_MS, extended result codes.
 *
 * Schema versions.  The schema version lives in PRAGMA user_version.  A
 * component owns an ordered array of migrations, SQL strings:
 *
 *   static const char *const hgs_migrations[] = {
 *           // 1: hosts
 *           "CREATE TABLE hosts(name TEXT PRIMARY KEY, ekpub BLOB NOT NULL);",
 *           // 2: attestation results
 *           "CREATE TABLE results(id INTEGER PRIMARY KEY, host TEXT REFERENCES hosts(name));",
 *   };
 *
 * Migration i (0-based) takes the database from version i to i + 1 and runs in
 * its own transaction together with the user_version update, so a migration
 * either applies whole or not at all.  Opening a database at version v applies
 * migrations v..n-1; a database whose version is above n (written by a newer
 * hgslab) is refused and left untouched.  Rules for the array: append only;
 * never edit or reorder a migration that has shipped; no BEGIN/COMMIT inside a
 * migration; a migration may hold several statements separated by ';'.
 *
 * Durability.  Every connection runs at synchronous=FULL.  A component may
 * commit append-only audit records at synchronous=NORMAL by switching the
 * connection with hl_store_set_synchronous() around that one commit and
 * back: in WAL mode such a commit survives a crash of the process but may be
 * lost on a power failure (the WAL is synced at checkpoints and at the next
 * FULL commit).  Never commit security state while switched.
 *
 * Prepared statements.  hl_store_stmt() hands out statements from a per-handle
 * cache (prepared on first use, kept until hl_store_close()); give each back
 * with hl_store_stmt_done(), never sqlite3_finalize().  Preparing a statement
 * costs more than running it for the small lookups a request makes.  Not
 * for a PRAGMA that sets something: SQLite applies it when preparing, so
 * running a kept one again does nothing; use hl_store_exec().
 *
 * Values.  A statement's parameters and result columns are described by an
 * array of struct hl_store_val, made by HL_VALS() from the HL_IN_* and
 * HL_OUT_* macros in the statement's order: each IN value binds the next
 * parameter (?1, ?2, ...), each OUT value reads the next result column.
 * One call then runs the statement:
 *
 *   char *name = NULL;
 *   r = hl_store_get(st, "SELECT name FROM host_groups WHERE sid = ?",
 *                    HL_VALS(HL_IN_TEXT(sid), HL_OUT_STR(&name)));
 *   if (hl_store_run(st, "DELETE FROM host_groups WHERE name = ?",
 *                    HL_VALS(HL_IN_TEXT(name))) < 0) ...
 *
 * and rows are walked with hl_store_query() + hl_store_next().  IN values
 * are bound without a copy (SQLITE_STATIC): they stay valid until the
 * statement is given back.  A NULL text or blob binds SQL NULL.  OUT
 * values: HL_OUT_TEXT copies into a fixed buffer ("" for NULL, truncated
 * to fit); HL_OUT_STR and HL_OUT_BUF allocate (NULL for SQL NULL, {NULL, 0}
 * for NULL or no bytes; a NUL after the bytes), the caller frees; numbers
 * read 0 for NULL.
 * A read that fails leaves nothing allocated.  The macros type-check what
 * they are given: HL_OUT_TIME wants a time_t *, HL_OUT_INT an int *.
 *
 * Errors read "store 'PATH': cannot WHAT: sqlite's message".  A handle is for
 * one thread at a time; open one handle per thread for concurrent work.
 */
#ifndef HGSLAB_LIB_STORE_H
#define HGSLAB_LIB_STORE_H

#include <stddef.h>
#include <time.h>
#include <sqlite3.h>

#include "lib/err.h"

/* How long a statement waits for another connection's lock before SQLITE_BUSY. */
#define HL_STORE_BUSY_TIMEOUT_MS 5000

struct hl_store;
struct hl_buf;

/*
 * Open or create the database at PATH (a new file is created mode 0600; the
 * directory must exist) and bring its schema up to N_MIGRATIONS with
 * MIGRATIONS.  A file that is not a SQLite database, a corrupt one, or one
 * whose schema is newer than N_MIGRATIONS is refused with a clear error.
 * *OUT is NULL on entry and set only on success.
 */
int hl_store_open(const char *path, const char *const *migrations, size_t n_migrations,
		  struct hl_store **out);

/* Close the store (NULL-safe); statements still open are finalized with a warning in the log. */
void hl_store_close(struct hl_store *st);

/* The underlying connection, for sqlite3_bind_* / sqlite3_column_* on statements. */
sqlite3 *hl_store_db(struct hl_store *st);

/* The schema version after open (= the number of migrations applied). */
int hl_store_version(const struct hl_store *st);

/* The path the store was opened with. */
const char *hl_store_path(const struct hl_store *st);

/*
 * Set the error "store 'PATH': cannot WHAT: sqlite's last message" and return
 * -1; for callers that drive statements themselves.  WHAT is a printf format.
 */
int hl_store_error(struct hl_store *st, const char *what_fmt, ...) HL_PRINTF(2, 3);

/* Run SQL (one or more statements, no results); on failure the error says "cannot WHAT". */
int hl_store_exec(struct hl_store *st, const char *what, const char *sql);

/* Prepare one SQL statement into *OUT (NULL on entry); the caller finalizes it. */
int hl_store_prepare(struct hl_store *st, const char *sql, sqlite3_stmt **out);

/* Statements hl_store_stmt() keeps prepared per handle; more are prepared per use. */
#define HL_STORE_STMT_CACHE 64

/*
 * The statement for SQL (one statement) into *OUT (NULL on entry), ready to
 * bind: taken from the handle's cache, prepared and cached on first use.  SQL
 * is matched by its text.  A statement already handed out and not yet given
 * back (a nested use of the same SQL) is not shared: a fresh one is prepared
 * for the nested use.  Give it back with hl_store_stmt_done().
 */
int hl_store_stmt(struct hl_store *st, const char *sql, sqlite3_stmt **out);

/*
 * Give back STMT from hl_store_stmt(): reset (ending any read it holds open)
 * with its bindings cleared, and kept for the next use; a statement the cache
 * does not hold is finalized.  NULL-safe.
 */
void hl_store_stmt_done(struct hl_store *st, sqlite3_stmt *stmt);

enum hl_store_sync {
	HL_STORE_SYNC_FULL,     /* every commit is fsynced (the default) */
	HL_STORE_SYNC_NORMAL,   /* WAL synced at checkpoints only (see Durability above) */
};

/* Switch this connection's synchronous setting (applies to the commits that follow). */
int hl_store_set_synchronous(struct hl_store *st, enum hl_store_sync mode);

/* Step STMT: 1 when a row is ready, 0 when done, -1 after an error naming the statement. */
int hl_store_step(struct hl_store *st, sqlite3_stmt *stmt);

/* One value of a statement (see "Values" above); make it with the macros below. */
struct hl_store_val {
	enum hl_store_val_kind {
		HL_STORE_IN_TEXT,     /* u.text: text, NULL binds NULL */
		HL_STORE_IN_INT,      /* u.num */
		HL_STORE_IN_BLOB,     /* u.blob: bytes, NULL binds NULL */
		HL_STORE_OUT_TEXT,    /* u.chars: copied into a buffer of that size */
		HL_STORE_OUT_STR,     /* u.str: a malloc'd copy, NULL for NULL */
		HL_STORE_OUT_INT,     /* u.i */
		HL_STORE_OUT_INT64,   /* u.i64 */
		HL_STORE_OUT_TIME,    /* u.time */
		HL_STORE_OUT_BUF,     /* u.buf: a malloc'd copy of the bytes, {NULL, 0} for none */
	} kind;
	union {
		const char *text;
		long long num;
		struct { const void *data; size_t len; } blob;
		struct { char *buf; size_t size; } chars;
		char **str;
		int *i;
		long long *i64;
		time_t *time;
		struct hl_buf *buf;
	} u;
};

#define HL_IN_TEXT(s) { .kind = HL_STORE_IN_TEXT, .u.text = (s) }
#define HL_IN_INT(v) { .kind = HL_STORE_IN_INT, .u.num = (long long)(v) }
#define HL_IN_BLOB(p, n) { .kind = HL_STORE_IN_BLOB, .u.blob = { (p), (n) } }
#define HL_OUT_TEXT(b, n) { .kind = HL_STORE_OUT_TEXT, .u.chars = { (b), (n) } }
#define HL_OUT_STR(p) { .kind = HL_STORE_OUT_STR, .u.str = (p) }
#define HL_OUT_INT(p) { .kind = HL_STORE_OUT_INT, .u.i = (p) }
#define HL_OUT_INT64(p) { .kind = HL_STORE_OUT_INT64, .u.i64 = (p) }
#define HL_OUT_TIME(p) { .kind = HL_STORE_OUT_TIME, .u.time = (p) }
#define HL_OUT_BUF(p) { .kind = HL_STORE_OUT_BUF, .u.buf = (p) }

/* The array of the values given and its length: the VALS, N arguments of the calls below. */
#define HL_VALS(...) (const struct hl_store_val[]){ __VA_ARGS__ }, \
	(sizeof((const struct hl_store_val[]){ __VA_ARGS__ }) / sizeof(struct hl_store_val))

/*
 * The statement for SQL from the cache (hl_store_stmt) into *OUT (NULL on
 * entry) with the IN values of VALS bound; give it back with
 * hl_store_stmt_done().
 */
int hl_store_query(struct hl_store *st, const char *sql, const struct hl_store_val *vals,
		   size_t n, sqlite3_stmt **out);

/*
 * Step STMT and read the row into the OUT values of VALS: 1 row read, 0
 * no more rows (nothing read), -1 after an error.
 */
int hl_store_next(struct hl_store *st, sqlite3_stmt *stmt, const struct hl_store_val *vals,
		  size_t n);

/* Run SQL once with VALS and read its first row: 1 row read, 0 no row, -1 error. */
int hl_store_get(struct hl_store *st, const char *sql, const struct hl_store_val *vals, size_t n);

/* Run SQL (one statement: INSERT, UPDATE, DELETE...) once with the IN values of VALS. */
int hl_store_run(struct hl_store *st, const char *sql, const struct hl_store_val *vals, size_t n);

/* The rows the last INSERT, UPDATE or DELETE of ST changed. */
int hl_store_changes(struct hl_store *st);

/* Start a write transaction (BEGIN IMMEDIATE: takes the write lock now, waiting up to the busy timeout). */
int hl_store_begin(struct hl_store *st);

/* Start a read transaction (deferred BEGIN: one snapshot for several SELECTs); end with commit. */
int hl_store_read_begin(struct hl_store *st);

/* Commit the current transaction. */
int hl_store_commit(struct hl_store *st);

/*
 * Roll back the current transaction, if any.  Leaves the current error message
 * alone, so it can be called on a failure path after the real error was set.
 */
void hl_store_rollback(struct hl_store *st);

/*
 * A consistent copy of the whole database into OUT (the bytes of a SQLite
 * database file, release with hl_buf_free): SQLite's online backup of ST
 * into a database in memory, in one step under one read snapshot, then
 * serialized.  Safe while other connections write (WAL): the copy holds
 * every transaction committed before it started and none after.  Nothing
 * is written to disk.
 */
int hl_store_snapshot(struct hl_store *st, struct hl_buf *out);

#endif
