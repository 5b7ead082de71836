/*
 * store.c - the SQLite store behind store.h: one connection per handle, set
 * up the same way for every component (WAL, synchronous=FULL, foreign keys,
 * busy timeout), schema migrations tracked in PRAGMA user_version, each
 * applied in its own transaction, and a cache of prepared statements.
 */
#include "lib/store.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/crypto.h"
#include "lib/log.h"

/* One cached statement: SQL's text (owned) and its statement; busy while handed out. */
struct store_stmt {
	char *sql;
	sqlite3_stmt *stmt;
	int busy;
};

/*
 * An open store.  Invariants: db is open and configured; version is the
 * schema version after open; stmts[0..n_stmts) are prepared on db, a busy
 * one is handed out and not yet given back.
 */
struct hl_store {
	sqlite3 *db;
	char *path;
	int version;
	struct store_stmt stmts[HL_STORE_STMT_CACHE];
	size_t n_stmts;
};

/* A hint on what to do for the SQLite result codes a user can act on, or "". */
static const char *store_hint(int code)
{
	switch (code & 0xff) {
	case SQLITE_NOTADB:
	case SQLITE_CORRUPT:
		return "; the file is damaged or is not an hgslab store: move it aside or restore a backup";
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return "; another process holds the database lock: stop it or try again";
	case SQLITE_READONLY:
	case SQLITE_CANTOPEN:
	case SQLITE_PERM:
		return "; check the file's and its directory's owner and permissions";
	case SQLITE_FULL:
		return "; the disk is full";
	default:
		return "";
	}
}

/* Set "store 'PATH': cannot WHAT: sqlite message[; hint]". */
int hl_store_error(struct hl_store *st, const char *what_fmt, ...)
{
	char what[512];
	va_list ap;

	va_start(ap, what_fmt);
	vsnprintf(what, sizeof(what), what_fmt, ap);
	va_end(ap);
	return hl_error("store '%s': cannot %s: %s%s", st->path, what, sqlite3_errmsg(st->db),
			store_hint(sqlite3_extended_errcode(st->db)));
}

/* Run SQL without results. */
int hl_store_exec(struct hl_store *st, const char *what, const char *sql)
{
	if (sqlite3_exec(st->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return hl_store_error(st, "%s", what);
	return 0;
}

/* Prepare one statement. */
int hl_store_prepare(struct hl_store *st, const char *sql, sqlite3_stmt **out)
{
	*out = NULL;
	if (sqlite3_prepare_v2(st->db, sql, -1, out, NULL) != SQLITE_OK) {
		sqlite3_finalize(*out);
		*out = NULL;
		return hl_store_error(st, "prepare '%.80s'", sql);
	}
	return 0;
}

/*
 * A cached statement for SQL: found idle, prepared into a free slot, or
 * prepared uncached.  (Not for PRAGMAs that set something: SQLite applies
 * those when preparing.)
 */
int hl_store_stmt(struct hl_store *st, const char *sql, sqlite3_stmt **out)
{
	struct store_stmt *e;
	char *copy;

	*out = NULL;
	for (size_t i = 0; i < st->n_stmts; i++) {
		e = &st->stmts[i];
		if (e->sql != sql && strcmp(e->sql, sql) != 0)
			continue;
		if (e->busy)
			break;   /* nested use: a private statement */
		e->busy = 1;
		*out = e->stmt;
		return 0;
	}
	if (hl_store_prepare(st, sql, out) < 0)
		return -1;
	if (st->n_stmts == HL_STORE_STMT_CACHE || !(copy = strdup(sql)))
		return 0;        /* uncached: finalized when given back */
	for (size_t i = 0; i < st->n_stmts; i++)
		if (strcmp(st->stmts[i].sql, sql) == 0) {
			free(copy);  /* the nested case: the cached one stays */
			return 0;
		}
	e = &st->stmts[st->n_stmts++];
	e->sql = copy;
	e->stmt = *out;
	e->busy = 1;
	return 0;
}

/* Give a statement back: reset and keep a cached one, finalize another. */
void hl_store_stmt_done(struct hl_store *st, sqlite3_stmt *stmt)
{
	if (!stmt)
		return;
	for (size_t i = 0; st && i < st->n_stmts; i++) {
		if (st->stmts[i].stmt == stmt) {
			sqlite3_reset(stmt);
			sqlite3_clear_bindings(stmt);
			st->stmts[i].busy = 0;
			return;
		}
	}
	sqlite3_finalize(stmt);
}

/*
 * Switch synchronous (FULL, or NORMAL for audit records; see store.h).  Not
 * through the cache: SQLite applies a PRAGMA when it prepares it, so a kept
 * PRAGMA statement would not switch anything when run again.
 */
int hl_store_set_synchronous(struct hl_store *st, enum hl_store_sync mode)
{
	if (mode == HL_STORE_SYNC_NORMAL)
		return hl_store_exec(st, "set synchronous=NORMAL", "PRAGMA synchronous=NORMAL");
	return hl_store_exec(st, "set synchronous=FULL", "PRAGMA synchronous=FULL");
}

/* Run one statement of SQL text without results, through the cache. */
static int store_run_cached(struct hl_store *st, const char *what, const char *sql)
{
	sqlite3_stmt *stmt = NULL;
	int rc;

	if (hl_store_stmt(st, sql, &stmt) < 0)
		return -1;
	rc = sqlite3_step(stmt);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		hl_store_error(st, "%s", what);
		hl_store_stmt_done(st, stmt);
		return -1;
	}
	hl_store_stmt_done(st, stmt);
	return 0;
}

/* Step a statement: 1 row, 0 done, -1 error. */
int hl_store_step(struct hl_store *st, sqlite3_stmt *stmt)
{
	int rc = sqlite3_step(stmt);

	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	return hl_store_error(st, "run '%.80s'", sqlite3_sql(stmt));
}

/* Bind the IN values of VALS to STMT's parameters, in order. */
static int store_bind(struct hl_store *st, sqlite3_stmt *stmt, const struct hl_store_val *vals,
		      size_t n)
{
	const struct hl_store_val *v;
	int i = 0, rc;

	for (size_t k = 0; k < n; k++) {
		v = &vals[k];
		switch (v->kind) {
		case HL_STORE_IN_TEXT:
			rc = v->u.text ? sqlite3_bind_text(stmt, ++i, v->u.text, -1, SQLITE_STATIC)
				       : sqlite3_bind_null(stmt, ++i);
			break;
		case HL_STORE_IN_INT:
			rc = sqlite3_bind_int64(stmt, ++i, v->u.num);
			break;
		case HL_STORE_IN_BLOB:
			rc = v->u.blob.data ? sqlite3_bind_blob64(stmt, ++i, v->u.blob.data,
								  v->u.blob.len, SQLITE_STATIC)
					    : sqlite3_bind_null(stmt, ++i);
			break;
		default:
			continue;
		}
		if (rc != SQLITE_OK)
			return hl_store_error(st, "bind parameter %d", i);
	}
	return 0;
}

/* A malloc'd copy of LEN bytes at DATA with a NUL after them, or NULL. */
static unsigned char *copy_bytes(const void *data, size_t len)
{
	unsigned char *copy = malloc(len + 1);

	if (!copy)
		return NULL;
	if (len)
		memcpy(copy, data, len);
	copy[len] = 0;
	return copy;
}

/* Free what store_read() allocated for the first N values of VALS. */
static void store_read_undo(const struct hl_store_val *vals, size_t n)
{
	for (size_t k = 0; k < n; k++) {
		if (vals[k].kind == HL_STORE_OUT_STR) {
			free(*vals[k].u.str);
			*vals[k].u.str = NULL;
		} else if (vals[k].kind == HL_STORE_OUT_BUF) {
			free(vals[k].u.buf->data);
			vals[k].u.buf->data = NULL;
			vals[k].u.buf->len = 0;
		}
	}
}

/*
 * Read STMT's row into the OUT values of VALS, column by column.  Each
 * sqlite3_column_* call takes the connection's mutex: one or two per column.
 */
static int store_read(sqlite3_stmt *stmt, const struct hl_store_val *vals, size_t n)
{
	const struct hl_store_val *v;
	const unsigned char *t;
	size_t len;
	int c = 0;

	for (size_t k = 0; k < n; k++) {
		v = &vals[k];
		switch (v->kind) {
		case HL_STORE_OUT_TEXT:
			t = sqlite3_column_text(stmt, c);
			len = t ? strlen((const char *)t) : 0;
			if (len >= v->u.chars.size)
				len = v->u.chars.size - 1;
			if (len)
				memcpy(v->u.chars.buf, t, len);
			v->u.chars.buf[len] = '\0';
			break;
		case HL_STORE_OUT_STR:
			t = sqlite3_column_text(stmt, c);
			*v->u.str = NULL;
			if (t && !(*v->u.str = strdup((const char *)t)))
				goto oom;
			break;
		case HL_STORE_OUT_INT:
			*v->u.i = sqlite3_column_int(stmt, c);
			break;
		case HL_STORE_OUT_INT64:
			*v->u.i64 = sqlite3_column_int64(stmt, c);
			break;
		case HL_STORE_OUT_TIME:
			*v->u.time = (time_t)sqlite3_column_int64(stmt, c);
			break;
		case HL_STORE_OUT_BUF:
			t = sqlite3_column_blob(stmt, c);
			len = t ? (size_t)sqlite3_column_bytes(stmt, c) : 0;
			v->u.buf->data = NULL;
			v->u.buf->len = 0;
			if (len && !(v->u.buf->data = copy_bytes(t, len)))
				goto oom;
			v->u.buf->len = len;
			break;
		default:
			continue;     /* an IN value */
		}
		c++;
	}
	return 0;
oom:
	store_read_undo(vals, (size_t)(v - vals));
	return hl_error("out of memory");
}

/* A cached statement for SQL with the IN values of VALS bound. */
int hl_store_query(struct hl_store *st, const char *sql, const struct hl_store_val *vals,
		   size_t n, sqlite3_stmt **out)
{
	if (hl_store_stmt(st, sql, out) < 0)
		return -1;
	if (store_bind(st, *out, vals, n) < 0) {
		hl_store_stmt_done(st, *out);
		*out = NULL;
		return -1;
	}
	return 0;
}

/* Step STMT and read its row into the OUT values of VALS. */
int hl_store_next(struct hl_store *st, sqlite3_stmt *stmt, const struct hl_store_val *vals,
		  size_t n)
{
	int r = hl_store_step(st, stmt);

	if (r <= 0)
		return r;
	return store_read(stmt, vals, n) < 0 ? -1 : 1;
}

/* Run SQL with VALS and read its first row. */
int hl_store_get(struct hl_store *st, const char *sql, const struct hl_store_val *vals, size_t n)
{
	sqlite3_stmt *stmt = NULL;
	int r;

	if (hl_store_query(st, sql, vals, n, &stmt) < 0)
		return -1;
	r = hl_store_next(st, stmt, vals, n);
	hl_store_stmt_done(st, stmt);
	return r;
}

/* Run SQL once with VALS, no result wanted. */
int hl_store_run(struct hl_store *st, const char *sql, const struct hl_store_val *vals, size_t n)
{
	return hl_store_get(st, sql, vals, n) < 0 ? -1 : 0;
}

/* Rows changed by the last statement. */
int hl_store_changes(struct hl_store *st)
{
	return sqlite3_changes(st->db);
}

/* BEGIN IMMEDIATE. */
int hl_store_begin(struct hl_store *st)
{
	return store_run_cached(st, "start a transaction", "BEGIN IMMEDIATE");
}

/* BEGIN (deferred): a read snapshot. */
int hl_store_read_begin(struct hl_store *st)
{
	return store_run_cached(st, "start a read transaction", "BEGIN");
}

/* COMMIT. */
int hl_store_commit(struct hl_store *st)
{
	return store_run_cached(st, "commit a transaction", "COMMIT");
}

/* ROLLBACK when a transaction is open, keeping the current error message. */
void hl_store_rollback(struct hl_store *st)
{
	if (!st || !st->db || sqlite3_get_autocommit(st->db))
		return;
	if (sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL) != SQLITE_OK)
		hl_log_warn("store '%s': rollback failed: %s", st->path, sqlite3_errmsg(st->db));
}

/* The sqlite3 connection. */
sqlite3 *hl_store_db(struct hl_store *st)
{
	return st->db;
}

/* The schema version after open. */
int hl_store_version(const struct hl_store *st)
{
	return st->version;
}

/* The path the store was opened with. */
const char *hl_store_path(const struct hl_store *st)
{
	return st->path;
}

/* Read the integer PRAGMA NAME into *OUT. */
static int pragma_int(struct hl_store *st, const char *name, const char *what, int *out)
{
	char sql[64];
	sqlite3_stmt *stmt = NULL;
	int ret = -1;

	snprintf(sql, sizeof(sql), "PRAGMA %s", name);
	if (sqlite3_prepare_v2(st->db, sql, -1, &stmt, NULL) != SQLITE_OK ||
	    sqlite3_step(stmt) != SQLITE_ROW) {
		hl_store_error(st, "%s", what);
		goto out;
	}
	*out = sqlite3_column_int(stmt, 0);
	ret = 0;
out:
	sqlite3_finalize(stmt);
	return ret;
}

/* Switch to WAL and check that SQLite agreed (it reports the mode it ended up in). */
static int set_wal(struct hl_store *st)
{
	sqlite3_stmt *stmt = NULL;
	const unsigned char *mode;
	int ret = -1;

	if (sqlite3_prepare_v2(st->db, "PRAGMA journal_mode=WAL", -1, &stmt, NULL) != SQLITE_OK ||
	    sqlite3_step(stmt) != SQLITE_ROW) {
		hl_store_error(st, "switch to WAL journal mode");
		goto out;
	}
	mode = sqlite3_column_text(stmt, 0);
	if (!mode || strcmp((const char *)mode, "wal") != 0) {
		hl_error("store '%s': cannot switch to WAL journal mode: sqlite kept mode '%s'; "
			 "the file system may not support shared memory", st->path,
			 mode ? (const char *)mode : "?");
		goto out;
	}
	ret = 0;
out:
	sqlite3_finalize(stmt);
	return ret;
}

/* Refuse a schema newer than the code knows. */
static int check_not_newer(struct hl_store *st, int version, int n)
{
	if (version <= n)
		return 0;
	return hl_error("store '%s': schema version %d is newer than this hgslab knows (%d); "
			"use the hgslab that wrote it, or restore a backup", st->path, version, n);
}

/* Apply MIGRATIONS[version..n-1], each with its user_version bump in one transaction. */
static int migrate(struct hl_store *st, const char *const *migrations, int n)
{
	char sql[64];
	char *msg = NULL;
	int v, ret = -1;

	for (;;) {
		if (hl_store_begin(st) < 0)
			return -1;
		/* Read again under the write lock: another process may have migrated meanwhile. */
		if (pragma_int(st, "user_version", "read the schema version", &v) < 0 ||
		    check_not_newer(st, v, n) < 0)
			goto out;
		if (v == n)
			break;
		if (sqlite3_exec(st->db, migrations[v], NULL, NULL, &msg) != SQLITE_OK) {
			hl_error("store '%s': cannot apply migration %d of %d: %s; "
				 "the database stays at schema version %d", st->path, v + 1, n,
				 msg ? msg : sqlite3_errmsg(st->db), v);
			goto out;
		}
		if (sqlite3_get_autocommit(st->db)) {
			hl_error("store '%s': migration %d ended its transaction; "
				 "remove BEGIN/COMMIT from it", st->path, v + 1);
			goto out;
		}
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", v + 1);
		if (hl_store_exec(st, "record the schema version", sql) < 0 ||
		    hl_store_commit(st) < 0)
			goto out;
		hl_log_debug("store '%s': migrated to schema version %d", st->path, v + 1);
	}
	if (hl_store_commit(st) < 0)
		goto out;
	st->version = v;
	ret = 0;
out:
	sqlite3_free(msg);
	if (ret < 0)
		hl_store_rollback(st);
	return ret;
}

/* Create PATH mode 0600 when it does not exist, so SQLite (and its -wal, -shm) never widen it. */
static int precreate(const char *path)
{
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

	if (fd < 0) {
		if (errno == EEXIST)
			return 0;
		if (errno == ENOENT)
			return hl_error("store '%s': cannot create the database file: its directory "
					"does not exist; create it first", path);
		return hl_error_errno("store '%s': cannot create the database file", path);
	}
	if (fchmod(fd, 0600) < 0) {
		hl_error_errno("store '%s': cannot set mode 600 on the database file", path);
		close(fd);
		unlink(path);
		return -1;
	}
	close(fd);
	return 0;
}

/* Open, configure and migrate a store. */
int hl_store_open(const char *path, const char *const *migrations, size_t n_migrations,
		  struct hl_store **out)
{
	struct hl_store *st = NULL;
	int rc, v, fk, n, ret = -1;

	*out = NULL;
	if (!path || !*path)
		return hl_error("cannot open a store: the path is empty");
	if (n_migrations > INT_MAX || (n_migrations > 0 && !migrations))
		return hl_error("store '%s': invalid migration list", path);
	for (size_t i = 0; i < n_migrations; i++)
		if (!migrations[i])
			return hl_error("store '%s': migration %zu is NULL", path, i + 1);
	n = (int)n_migrations;
	if (precreate(path) < 0)
		return -1;
	st = calloc(1, sizeof(*st));
	if (!st || !(st->path = strdup(path))) {
		hl_error("store '%s': out of memory", path);
		goto out;
	}
	rc = sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
	if (rc != SQLITE_OK) {
		if (st->db)
			hl_store_error(st, "open the database");
		else
			hl_error("store '%s': cannot open the database: %s", path, sqlite3_errstr(rc));
		goto out;
	}
	sqlite3_extended_result_codes(st->db, 1);
	sqlite3_busy_timeout(st->db, HL_STORE_BUSY_TIMEOUT_MS);
	/* Check the file before changing anything in it: a foreign or newer file stays untouched. */
	if (pragma_int(st, "user_version", "read the schema version", &v) < 0 ||
	    check_not_newer(st, v, n) < 0)
		goto out;
	if (hl_store_exec(st, "read the schema", "SELECT count(*) FROM sqlite_schema") < 0)
		goto out;
	if (set_wal(st) < 0 ||
	    hl_store_exec(st, "set synchronous=FULL", "PRAGMA synchronous=FULL") < 0 ||
	    hl_store_exec(st, "enable foreign keys", "PRAGMA foreign_keys=ON") < 0)
		goto out;
	if (pragma_int(st, "foreign_keys", "check foreign keys", &fk) < 0)
		goto out;
	if (fk != 1) {
		hl_error("store '%s': cannot enable foreign keys: this sqlite does not support them",
			 path);
		goto out;
	}
	if (migrate(st, migrations, n) < 0)
		goto out;
	*out = st;
	st = NULL;
	ret = 0;
out:
	hl_store_close(st);
	return ret;
}

/* Finalize leftovers and close; NULL-safe. */
void hl_store_close(struct hl_store *st)
{
	sqlite3_stmt *stmt;

	if (!st)
		return;
	for (size_t i = 0; i < st->n_stmts; i++) {
		sqlite3_finalize(st->stmts[i].stmt);
		free(st->stmts[i].sql);
	}
	st->n_stmts = 0;
	if (st->db) {
		while ((stmt = sqlite3_next_stmt(st->db, NULL)) != NULL) {
			hl_log_warn("store '%s': statement '%.80s' was still open at close", st->path,
				    sqlite3_sql(stmt));
			sqlite3_finalize(stmt);
		}
		if (sqlite3_close(st->db) != SQLITE_OK)
			hl_log_warn("store '%s': close failed: %s", st->path,
				    sqlite3_errmsg(st->db));
	}
	free(st->path);
	free(st);
}

/* Online backup of ST into a database in memory, serialized into OUT. */
int hl_store_snapshot(struct hl_store *st, struct hl_buf *out)
{
	sqlite3 *mem = NULL;
	sqlite3_backup *b = NULL;
	unsigned char *bytes = NULL;
	sqlite3_int64 n = 0;
	int rc = -1, r;

	out->data = NULL;
	out->len = 0;
	if (sqlite3_open_v2(":memory:", &mem, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
			    NULL) != SQLITE_OK) {
		hl_error("store '%s': cannot take a snapshot: %s", st->path,
			 mem ? sqlite3_errmsg(mem) : "out of memory");
		goto out;
	}
	b = sqlite3_backup_init(mem, "main", st->db, "main");
	if (!b) {
		hl_error("store '%s': cannot take a snapshot: %s", st->path, sqlite3_errmsg(mem));
		goto out;
	}
	r = sqlite3_backup_step(b, -1);
	if (sqlite3_backup_finish(b) != SQLITE_OK || r != SQLITE_DONE) {
		b = NULL;
		hl_error("store '%s': cannot take a snapshot: %s", st->path, sqlite3_errmsg(mem));
		goto out;
	}
	b = NULL;
	bytes = sqlite3_serialize(mem, "main", &n, 0);
	if (!bytes || n <= 0) {
		hl_error("store '%s': cannot serialize the snapshot: %s", st->path,
			 sqlite3_errmsg(mem));
		goto out;
	}
	if (hl_buf_set(out, bytes, (size_t)n) < 0)
		goto out;
	rc = 0;
out:
	if (bytes)
		hl_crypto_cleanse(bytes, (size_t)n);
	sqlite3_free(bytes);
	sqlite3_close(mem);
	return rc;
}
