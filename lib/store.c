/*
 * store.c - the store behind store.h on its two backends.  SQLite: one
 * connection per handle, set up the same way for every component (WAL,
 * synchronous=FULL, foreign keys, busy timeout), the schema version in
 * PRAGMA user_version, a cache of prepared statements.  PostgreSQL (libpq):
 * one connection per handle, the schema version and the change generation
 * in the table hl_store_meta, SQL translated on the way (?N -> $N for every
 * statement; the type words of the portable subset for migrations), write
 * transactions serialized by an advisory lock, rows read in text format.
 * The functions below dispatch on the handle's kind; the statement cache,
 * the value lists and the migration loop are shared.
 */
#include "lib/store.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <sqlite3.h>

#include "lib/crypto.h"
#include "lib/log.h"

/* Parameters one PostgreSQL statement may take. */
#define PG_PARAMS_MAX 64

/* PostgreSQL type oids the reader tells apart (pg_type.h). */
#define PG_OID_BOOL 16
#define PG_OID_BYTEA 17

/*
 * A statement handed out by hl_store_query().  Invariants: sql is the
 * caller's text (the cache key); on SQLite s is prepared on the handle's
 * connection; on PostgreSQL pg_sql is sql with $N parameters, n_params
 * their count, and res (NULL when given back) holds the rows of the last
 * run with row the current one (-1 before the first).  busy while handed
 * out; cached when the handle's cache holds it.
 */
struct hl_store_stmt {
	char *sql;
	const char *lit;   /* the caller's SQL at the first use: compared first, then checked */
	int busy, cached;
	sqlite3_stmt *s;
	char *pg_sql;
	int n_params;
	PGresult *res;
	int row;
};

/*
 * An open store.  Invariants: exactly one of db (SQLite) and pg
 * (PostgreSQL) is open and configured, as kind says; path is the location
 * for messages (no password); version is the schema version after open;
 * stmts[0..n_stmts) belong to this handle; changes and pg_err are
 * PostgreSQL's rows of the last write and last error message.
 */
struct hl_store {
	enum hl_store_kind kind;
	sqlite3 *db;
	PGconn *pg;
	char *path;
	int version;
	int changes;
	char pg_err[512];
	struct hl_store_stmt *stmts[HL_STORE_STMT_CACHE];
	size_t n_stmts;
	const char *const *migrations;   /* the component's, for a PostgreSQL snapshot */
	int n_migrations;
	enum hl_store_sync sync_want;    /* SQLite: the mode the next commit must run at */
	enum hl_store_sync sync_set;     /* SQLite: the mode the connection runs at */
};

/* 1 for a postgresql:// or postgres:// location. */
int hl_store_location_is_pg(const char *location)
{
	return location && (strncmp(location, "postgresql://", 13) == 0 ||
			    strncmp(location, "postgres://", 11) == 0);
}

/* A hint on what to do for the SQLite result codes a user can act on, or "". */
static const char *sqlite_hint(int code)
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

/* A hint for a PostgreSQL SQLSTATE a user can act on, or "". */
static const char *pg_hint(const char *state)
{
	if (!state)
		return "";
	if (strcmp(state, "55P03") == 0 || strcmp(state, "40001") == 0 ||
	    strcmp(state, "40P01") == 0)
		return "; another process holds the database lock: stop it or try again";
	if (strcmp(state, "28P01") == 0 || strcmp(state, "28000") == 0)
		return "; check the user and password of the connection URI";
	if (strcmp(state, "3D000") == 0)
		return "; the database does not exist: create it (createdb) or fix the URI";
	if (strncmp(state, "53", 2) == 0)
		return "; the server is out of disk, memory or connections";
	return "";
}

/* Keep RES's error message (or the connection's) and its hint as ST's last PostgreSQL error. */
static void pg_keep_error(struct hl_store *st, const PGresult *res)
{
	const char *msg = res ? PQresultErrorMessage(res) : "";
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	size_t n;

	if (!msg || !*msg)
		msg = PQerrorMessage(st->pg);
	snprintf(st->pg_err, sizeof(st->pg_err), "%s", msg && *msg ? msg : "unknown error");
	n = strlen(st->pg_err);
	while (n && (st->pg_err[n - 1] == '\n' || st->pg_err[n - 1] == ' '))
		st->pg_err[--n] = '\0';
	/* libpq's multi-line messages ("...\n\tIs the server running...") on one line */
	for (char *p = st->pg_err; *p; p++)
		if (*p == '\n' || *p == '\t')
			*p = ' ';
	if (!state && strstr(st->pg_err, "password authentication failed"))
		state = "28P01";   /* a connection failure carries no SQLSTATE */
	if (n < sizeof(st->pg_err))
		snprintf(st->pg_err + n, sizeof(st->pg_err) - n, "%s", pg_hint(state));
}

/* Set "store 'PATH': cannot WHAT: backend message[; hint]". */
int hl_store_error(struct hl_store *st, const char *what_fmt, ...)
{
	char what[512];
	va_list ap;

	va_start(ap, what_fmt);
	vsnprintf(what, sizeof(what), what_fmt, ap);
	va_end(ap);
	if (st->kind == HL_STORE_POSTGRESQL)
		return hl_error("store '%s': cannot %s: %s", st->path, what,
				st->pg_err[0] ? st->pg_err : "unknown error");
	return hl_error("store '%s': cannot %s: %s%s", st->path, what, sqlite3_errmsg(st->db),
			sqlite_hint(sqlite3_extended_errcode(st->db)));
}

/* The session settings every PostgreSQL connection of a store gets (store.h). */
static void pg_session_sql(char *buf, size_t size)
{
	snprintf(buf, size, "SET lock_timeout = %d; SET synchronous_commit = on; "
		 "SET client_encoding = 'UTF8'; SET TimeZone = 'UTC'", HL_STORE_BUSY_TIMEOUT_MS);
}

/*
 * A connection the server dropped (a restart, an idle timeout) is made
 * again before the next statement, with its session settings; the
 * statement that saw it drop has failed already.  Nothing to do while OK.
 */
static void pg_ensure(struct hl_store *st)
{
	char sql[256];
	PGresult *res;

	if (PQstatus(st->pg) == CONNECTION_OK)
		return;
	PQreset(st->pg);
	if (PQstatus(st->pg) != CONNECTION_OK)
		return;   /* the statement fails with libpq's reason */
	pg_session_sql(sql, sizeof(sql));
	res = PQexec(st->pg, sql);
	if (PQresultStatus(res) == PGRES_COMMAND_OK)
		hl_log_warn("store '%s': the connection was lost and is made again", st->path);
	PQclear(res);
}

/* Run SQL on PostgreSQL without parameters; 0 when it succeeded (rows or none), else -1 with pg_err. */
static int pg_exec(struct hl_store *st, const char *sql, PGresult **keep)
{
	PGresult *res;
	ExecStatusType s;

	pg_ensure(st);
	res = PQexec(st->pg, sql);
	s = PQresultStatus(res);
	if (keep)
		*keep = NULL;
	if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) {
		pg_keep_error(st, res);
		PQclear(res);
		return -1;
	}
	if (keep)
		*keep = res;
	else
		PQclear(res);
	return 0;
}

/*
 * SQLite: switch the connection to the synchronous mode wanted
 * (hl_store_set_synchronous) when it runs at the other one.  Called before
 * whatever may write or start a transaction, never inside one (a switch is
 * refused there), so every commit runs at the mode wanted when it is made,
 * and a run of commits at one mode (audit records between reads) costs no
 * PRAGMA at all.
 */
static int sync_apply(struct hl_store *st)
{
	int normal = st->sync_want == HL_STORE_SYNC_NORMAL;

	if (st->kind != HL_STORE_SQLITE || st->sync_set == st->sync_want)
		return 0;
	if (sqlite3_exec(st->db, normal ? "PRAGMA synchronous=NORMAL" : "PRAGMA synchronous=FULL",
			 NULL, NULL, NULL) != SQLITE_OK)
		return hl_store_error(st, "set synchronous=%s", normal ? "NORMAL" : "FULL");
	st->sync_set = st->sync_want;
	return 0;
}

/* Run SQL without results. */
int hl_store_exec(struct hl_store *st, const char *what, const char *sql)
{
	if (st->kind == HL_STORE_POSTGRESQL)
		return pg_exec(st, sql, NULL) < 0 ? hl_store_error(st, "%s", what) : 0;
	if (sync_apply(st) < 0)
		return -1;
	if (sqlite3_exec(st->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return hl_store_error(st, "%s", what);
	return 0;
}

/* ---- SQL translation for PostgreSQL ---- */

/* Length of the quoted part ('...' or "...") starting at P (its quote char), quotes included. */
static size_t quoted_len(const char *p)
{
	char q = *p;
	size_t i = 1;

	for (; p[i]; i++) {
		if (p[i] == q) {
			if (p[i + 1] != q)
				return i + 1;
			i++;   /* a doubled quote inside */
		}
	}
	return i;
}

/* A growing string; on allocation failure ok becomes 0. */
struct sbuf {
	char *s;
	size_t len, cap;
	int ok;
};

/* Append N bytes of P to B. */
static void sb_add(struct sbuf *b, const char *p, size_t n)
{
	if (!b->ok)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = (b->len + n + 1) * 2;
		char *g = realloc(b->s, cap);

		if (!g) {
			b->ok = 0;
			return;
		}
		b->s = g;
		b->cap = cap;
	}
	memcpy(b->s + b->len, p, n);
	b->len += n;
	b->s[b->len] = '\0';
}

/* 1 when the word WORD stands at SQL + I (not inside a longer identifier). */
static int word_at(const char *sql, size_t i, const char *word)
{
	size_t n = strlen(word);

	if (strncmp(sql + i, word, n) != 0)
		return 0;
	if (i > 0 && (isalnum((unsigned char)sql[i - 1]) || sql[i - 1] == '_'))
		return 0;
	return !(isalnum((unsigned char)sql[i + n]) || sql[i + n] == '_');
}

/*
 * SQL with SQLite's parameters (?N, and ? numbered after the largest so
 * far) written as $N and, when TYPES, the portable subset's type words as
 * PostgreSQL's (store.h), outside quotes, into *OUT (malloc'd); the largest
 * parameter number into *N_PARAMS.
 */
static int pg_translate(const char *sql, int types, char **out, int *n_params)
{
	static const struct { const char *from, *to; } words[] = {
		{ "INTEGER PRIMARY KEY", "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY" },
		{ "INTEGER", "BIGINT" },
		{ "BLOB", "BYTEA" },
		{ "WITHOUT ROWID", "" },   /* SQLite's table kind; PostgreSQL's tables are all so */
	};
	struct sbuf b = { NULL, 0, 0, 1 };
	char num[16];
	int max = 0, k;
	size_t i = 0, n;

	*out = NULL;
	*n_params = 0;
	sb_add(&b, "", 0);
	while (sql[i]) {
		if (sql[i] == '\'' || sql[i] == '"') {
			n = quoted_len(sql + i);
			sb_add(&b, sql + i, n);
			i += n;
			continue;
		}
		if (sql[i] == '?') {
			i++;
			if (isdigit((unsigned char)sql[i])) {
				k = 0;
				while (isdigit((unsigned char)sql[i]) && k < 10000)
					k = k * 10 + (sql[i++] - '0');
			} else {
				k = max + 1;
			}
			if (k < 1 || k > PG_PARAMS_MAX) {
				free(b.s);
				return hl_error("parameter ?%d out of range (1 to %d)", k, PG_PARAMS_MAX);
			}
			if (k > max)
				max = k;
			snprintf(num, sizeof(num), "$%d", k);
			sb_add(&b, num, strlen(num));
			continue;
		}
		if (types) {
			size_t w;

			for (w = 0; w < sizeof(words) / sizeof(words[0]); w++)
				if (word_at(sql, i, words[w].from))
					break;
			if (w < sizeof(words) / sizeof(words[0])) {
				sb_add(&b, words[w].to, strlen(words[w].to));
				i += strlen(words[w].from);
				continue;
			}
		}
		sb_add(&b, sql + i, 1);
		i++;
	}
	if (!b.ok) {
		free(b.s);
		return hl_error("out of memory");
	}
	*out = b.s;
	*n_params = max;
	return 0;
}

/* ---- statements ---- */

/* Free a statement (finalize, clear its rows).  NULL-safe. */
static void stmt_free(struct hl_store_stmt *s)
{
	if (!s)
		return;
	sqlite3_finalize(s->s);
	PQclear(s->res);
	free(s->pg_sql);
	free(s->sql);
	free(s);
}

/* A new statement for SQL on ST: prepared (SQLite) or translated (PostgreSQL). */
static int stmt_new(struct hl_store *st, const char *sql, struct hl_store_stmt **out)
{
	struct hl_store_stmt *s = calloc(1, sizeof(*s));

	*out = NULL;
	if (!s || !(s->sql = strdup(sql))) {
		free(s);
		return hl_error("out of memory");
	}
	s->row = -1;
	if (st->kind == HL_STORE_POSTGRESQL) {
		if (pg_translate(sql, 0, &s->pg_sql, &s->n_params) < 0) {
			stmt_free(s);
			return hl_error_wrap("store '%s': cannot prepare '%.80s'", st->path, sql);
		}
	} else if (sqlite3_prepare_v2(st->db, sql, -1, &s->s, NULL) != SQLITE_OK) {
		hl_store_error(st, "prepare '%.80s'", sql);
		stmt_free(s);
		return -1;
	}
	*out = s;
	return 0;
}

/*
 * The cached statement for SQL (one per text at most), NULL when none: by
 * the caller's pointer first, since SQL is most often the literal of its
 * first use (a buffer may have held another text then: the text decides).
 */
static struct hl_store_stmt *stmt_cached(const struct hl_store *st, const char *sql)
{
	for (size_t i = 0; i < st->n_stmts; i++)
		if (st->stmts[i]->lit == sql && strcmp(st->stmts[i]->sql, sql) == 0)
			return st->stmts[i];
	for (size_t i = 0; i < st->n_stmts; i++)
		if (strcmp(st->stmts[i]->sql, sql) == 0)
			return st->stmts[i];
	return NULL;
}

/*
 * A statement for SQL: a cached idle one, else a new one kept in a free
 * slot of the cache, else a new one given to this use only (a nested use of
 * the same SQL, or a full cache).
 */
static int stmt_get(struct hl_store *st, const char *sql, struct hl_store_stmt **out)
{
	struct hl_store_stmt *e = stmt_cached(st, sql);
	int nested = e != NULL;   /* busy: a private statement */

	*out = NULL;
	if (e && !e->busy) {
		e->busy = 1;
		*out = e;
		return 0;
	}
	if (stmt_new(st, sql, &e) < 0)
		return -1;
	e->busy = 1;
	if (!nested && st->n_stmts < HL_STORE_STMT_CACHE) {
		e->cached = 1;
		e->lit = sql;
		st->stmts[st->n_stmts++] = e;
	}
	*out = e;
	return 0;
}

/* Give a statement back: reset and keep a cached one, free another. */
void hl_store_stmt_done(struct hl_store *st, struct hl_store_stmt *stmt)
{
	(void)st;
	if (!stmt)
		return;
	if (!stmt->cached) {
		stmt_free(stmt);
		return;
	}
	if (stmt->s) {
		sqlite3_reset(stmt->s);
		sqlite3_clear_bindings(stmt->s);
	}
	PQclear(stmt->res);
	stmt->res = NULL;
	stmt->row = -1;
	stmt->busy = 0;
}

/*
 * Switch durability (FULL, or NORMAL for audit records; see store.h).  On
 * SQLite the mode is only noted here and switched by sync_apply() before
 * the next statement that may write: SQLite applies a PRAGMA when it
 * prepares it (a kept PRAGMA statement would not switch anything when run
 * again), so each switch is a parse, and audit records that follow each
 * other need none.
 */
int hl_store_set_synchronous(struct hl_store *st, enum hl_store_sync mode)
{
	int normal = mode == HL_STORE_SYNC_NORMAL;

	if (st->kind == HL_STORE_POSTGRESQL) {
		if (PQtransactionStatus(st->pg) != PQTRANS_IDLE)
			return hl_error("store '%s': cannot switch synchronous_commit inside a "
					"transaction", st->path);
		return hl_store_exec(st, normal ? "set synchronous_commit=off"
					      : "set synchronous_commit=on",
				     normal ? "SET synchronous_commit = off"
					    : "SET synchronous_commit = on");
	}
	if (!sqlite3_get_autocommit(st->db))
		return hl_error("store '%s': cannot switch synchronous inside a transaction",
				st->path);
	st->sync_want = normal ? HL_STORE_SYNC_NORMAL : HL_STORE_SYNC_FULL;
	return 0;
}

/* Step a statement: 1 row, 0 done, -1 error. */
int hl_store_step(struct hl_store *st, struct hl_store_stmt *stmt)
{
	int rc;

	if (st->kind == HL_STORE_POSTGRESQL) {
		if (!stmt->res)
			return 0;
		stmt->row++;
		return stmt->row < PQntuples(stmt->res) ? 1 : 0;
	}
	rc = sqlite3_step(stmt->s);
	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	return hl_store_error(st, "run '%.80s'", sqlite3_sql(stmt->s));
}

/* Bind the IN values of VALS to a SQLite statement's parameters, in order. */
static int sqlite_bind(struct hl_store *st, sqlite3_stmt *stmt, const struct hl_store_val *vals,
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

/* 1 when a PostgreSQL command status is a write whose rows hl_store_changes() counts. */
static int pg_is_write(const char *status)
{
	return strncmp(status, "INSERT", 6) == 0 || strncmp(status, "UPDATE", 6) == 0 ||
	       strncmp(status, "DELETE", 6) == 0;
}

/* Run a PostgreSQL statement with the IN values of VALS; its rows stay in STMT->res. */
static int pg_run(struct hl_store *st, struct hl_store_stmt *stmt, const struct hl_store_val *vals,
		  size_t n)
{
	const char *values[PG_PARAMS_MAX] = { 0 };
	int lengths[PG_PARAMS_MAX] = { 0 }, formats[PG_PARAMS_MAX] = { 0 };
	Oid types[PG_PARAMS_MAX] = { 0 };
	char ints[PG_PARAMS_MAX][24];
	const struct hl_store_val *v;
	PGresult *res;
	ExecStatusType s;
	int i = 0;

	for (size_t k = 0; k < n; k++) {
		v = &vals[k];
		if (v->kind != HL_STORE_IN_TEXT && v->kind != HL_STORE_IN_INT &&
		    v->kind != HL_STORE_IN_BLOB)
			continue;
		if (i >= stmt->n_params) {
			snprintf(st->pg_err, sizeof(st->pg_err), "the statement has %d parameters",
				 stmt->n_params);
			return hl_store_error(st, "bind parameter %d", i + 1);
		}
		switch (v->kind) {
		case HL_STORE_IN_TEXT:
			values[i] = v->u.text;
			break;
		case HL_STORE_IN_INT:
			snprintf(ints[i], sizeof(ints[i]), "%lld", v->u.num);
			values[i] = ints[i];
			types[i] = 20;   /* int8 */
			break;
		default:
			if (v->u.blob.data) {
				if (v->u.blob.len > INT_MAX)
					return hl_error("store '%s': a blob of %zu bytes is too large",
							st->path, v->u.blob.len);
				values[i] = v->u.blob.data;
				lengths[i] = (int)v->u.blob.len;
				formats[i] = 1;
				types[i] = PG_OID_BYTEA;
			}
			break;
		}
		i++;
	}
	pg_ensure(st);
	res = PQexecParams(st->pg, stmt->pg_sql, stmt->n_params, types, values, lengths, formats, 0);
	s = PQresultStatus(res);
	if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) {
		pg_keep_error(st, res);
		PQclear(res);
		return hl_store_error(st, "run '%.80s'", stmt->sql);
	}
	if (pg_is_write(PQcmdStatus(res)))
		st->changes = atoi(PQcmdTuples(res));
	stmt->res = res;
	stmt->row = -1;
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
 * One column of the current row, the same on both backends: NULL, a
 * number, text or bytes.  On PostgreSQL a bytea column is unescaped into
 * owned (freed by col_release); booleans read 1 or 0.
 */
struct col {
	int null;
	long long num;
	const unsigned char *bytes;   /* text or blob, NUL-terminated for text */
	size_t len;
	unsigned char *owned;
};

/* Column C of STMT's current row into *COL. */
static int col_get(struct hl_store *st, struct hl_store_stmt *stmt, int c, int want_bytes,
		   struct col *col)
{
	memset(col, 0, sizeof(*col));
	if (st->kind == HL_STORE_POSTGRESQL) {
		PGresult *r = stmt->res;
		const char *t;

		if (c >= PQnfields(r) || PQgetisnull(r, stmt->row, c)) {
			col->null = 1;
			return 0;
		}
		t = PQgetvalue(r, stmt->row, c);
		if (PQftype(r, c) == PG_OID_BOOL) {
			col->num = t[0] == 't';
			col->bytes = (const unsigned char *)(col->num ? "1" : "0");
			col->len = 1;
			return 0;
		}
		if (want_bytes && PQftype(r, c) == PG_OID_BYTEA) {
			col->owned = PQunescapeBytea((const unsigned char *)t, &col->len);
			if (!col->owned)
				return hl_error("out of memory");
			col->bytes = col->owned;
			return 0;
		}
		col->bytes = (const unsigned char *)t;
		col->len = (size_t)PQgetlength(r, stmt->row, c);
		col->num = strtoll(t, NULL, 10);
		return 0;
	}
	if (sqlite3_column_type(stmt->s, c) == SQLITE_NULL) {
		col->null = 1;
		return 0;
	}
	if (!want_bytes) {
		col->num = sqlite3_column_int64(stmt->s, c);
		return 0;
	}
	col->bytes = want_bytes == 2 ? sqlite3_column_blob(stmt->s, c) : sqlite3_column_text(stmt->s, c);
	col->len = col->bytes ? (size_t)sqlite3_column_bytes(stmt->s, c) : 0;
	return 0;
}

/* Release what col_get() allocated. */
static void col_release(struct col *col)
{
	if (col->owned)
		PQfreemem(col->owned);
	col->owned = NULL;
}

/* Read STMT's current row into the OUT values of VALS, column by column. */
static int store_read(struct hl_store *st, struct hl_store_stmt *stmt,
		      const struct hl_store_val *vals, size_t n)
{
	const struct hl_store_val *v;
	struct col col = { 0 };
	size_t len;
	int c = 0, bytes;

	for (size_t k = 0; k < n; k++) {
		v = &vals[k];
		switch (v->kind) {
		case HL_STORE_OUT_TEXT:
		case HL_STORE_OUT_STR:
			bytes = 1;
			break;
		case HL_STORE_OUT_BUF:
			bytes = 2;
			break;
		case HL_STORE_OUT_INT:
		case HL_STORE_OUT_INT64:
		case HL_STORE_OUT_TIME:
		case HL_STORE_OUT_INT64_OPT:
			bytes = 0;
			break;
		default:
			continue;     /* an IN value */
		}
		if (col_get(st, stmt, c, bytes, &col) < 0)
			goto fail;
		switch (v->kind) {
		case HL_STORE_OUT_TEXT:
			len = col.bytes ? strlen((const char *)col.bytes) : 0;
			if (len >= v->u.chars.size)
				len = v->u.chars.size - 1;
			if (len)
				memcpy(v->u.chars.buf, col.bytes, len);
			v->u.chars.buf[len] = '\0';
			break;
		case HL_STORE_OUT_STR:
			*v->u.str = NULL;
			if (!col.null && !(*v->u.str = strdup(col.bytes ? (const char *)col.bytes : "")))
				goto oom;
			break;
		case HL_STORE_OUT_INT:
			*v->u.i = (int)col.num;
			break;
		case HL_STORE_OUT_INT64:
			*v->u.i64 = col.num;
			break;
		case HL_STORE_OUT_TIME:
			*v->u.time = (time_t)col.num;
			break;
		case HL_STORE_OUT_INT64_OPT:
			*v->u.opt.v = col.num;
			*v->u.opt.present = !col.null;
			break;
		default:   /* HL_STORE_OUT_BUF */
			v->u.buf->data = NULL;
			v->u.buf->len = 0;
			if (col.len && !(v->u.buf->data = copy_bytes(col.bytes, col.len)))
				goto oom;
			v->u.buf->len = col.len;
			break;
		}
		col_release(&col);
		c++;
	}
	return 0;
oom:
	hl_error("out of memory");
fail:
	col_release(&col);
	store_read_undo(vals, (size_t)(v - vals));
	return -1;
}

/* A statement for SQL with the IN values of VALS bound (run on PostgreSQL). */
int hl_store_query(struct hl_store *st, const char *sql, const struct hl_store_val *vals,
		   size_t n, struct hl_store_stmt **out)
{
	int rc;

	if (stmt_get(st, sql, out) < 0)
		return -1;
	if (st->kind == HL_STORE_POSTGRESQL)
		rc = pg_run(st, *out, vals, n);
	else if (!sqlite3_stmt_readonly((*out)->s) && sync_apply(st) < 0)
		rc = -1;   /* a statement that writes runs at the mode wanted */
	else
		rc = sqlite_bind(st, (*out)->s, vals, n);
	if (rc < 0) {
		hl_store_stmt_done(st, *out);
		*out = NULL;
		return -1;
	}
	return 0;
}

/* Step STMT and read its row into the OUT values of VALS. */
int hl_store_next(struct hl_store *st, struct hl_store_stmt *stmt, const struct hl_store_val *vals,
		  size_t n)
{
	int r = hl_store_step(st, stmt);

	if (r <= 0)
		return r;
	return store_read(st, stmt, vals, n) < 0 ? -1 : 1;
}

/* Run SQL with VALS and read its first row. */
int hl_store_get(struct hl_store *st, const char *sql, const struct hl_store_val *vals, size_t n)
{
	struct hl_store_stmt *stmt = NULL;
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

/* Rows changed by the last write. */
int hl_store_changes(struct hl_store *st)
{
	return st->kind == HL_STORE_POSTGRESQL ? st->changes : sqlite3_changes(st->db);
}

/* The most values hl_store_insert_id passes on to PostgreSQL with the id. */
#define INSERT_VALS_MAX 32

int hl_store_insert_id(struct hl_store *st, const char *insert, const char *insert_returning,
		       const struct hl_store_val *vals, size_t n, long long *id)
{
	struct hl_store_val out[INSERT_VALS_MAX + 1];

	if (st->kind == HL_STORE_POSTGRESQL) {
		if (n > INSERT_VALS_MAX)
			return hl_error("store '%s': too many values for one statement", st->path);
		memcpy(out, vals, n * sizeof(*vals));
		out[n] = (struct hl_store_val)HL_OUT_INT64(id);
		return hl_store_get(st, insert_returning, out, n + 1);
	}
	if (hl_store_run(st, insert, vals, n) < 0)
		return -1;
	if (sqlite3_changes(st->db) == 0)
		return 0;
	*id = (long long)sqlite3_last_insert_rowid(st->db);
	return 1;
}

/* Run one statement of SQL text without results, through the cache. */
static int store_run_cached(struct hl_store *st, const char *what, const char *sql)
{
	struct hl_store_stmt *stmt = NULL;
	int rc;

	if (stmt_get(st, sql, &stmt) < 0)
		return -1;
	rc = sqlite3_step(stmt->s);
	hl_store_stmt_done(st, stmt);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		return hl_store_error(st, "%s", what);
	return 0;
}

/* SQLite: BEGIN IMMEDIATE.  PostgreSQL: READ COMMITTED behind the write lock (store.h). */
int hl_store_begin(struct hl_store *st)
{
	char sql[128];

	if (st->kind == HL_STORE_SQLITE)
		return sync_apply(st) < 0 ? -1
					  : store_run_cached(st, "start a transaction",
							     "BEGIN IMMEDIATE");
	snprintf(sql, sizeof(sql), "BEGIN ISOLATION LEVEL READ COMMITTED; "
		 "SELECT pg_advisory_xact_lock(%lld)", HL_STORE_PG_WRITE_LOCK);
	if (pg_exec(st, sql, NULL) < 0) {
		hl_store_error(st, "start a transaction");
		hl_store_rollback(st);
		return -1;
	}
	return 0;
}

/* A read snapshot: SQLite deferred BEGIN, PostgreSQL REPEATABLE READ READ ONLY. */
int hl_store_read_begin(struct hl_store *st)
{
	if (st->kind == HL_STORE_SQLITE)
		return sync_apply(st) < 0 ? -1
					  : store_run_cached(st, "start a read transaction", "BEGIN");
	return hl_store_exec(st, "start a read transaction",
			     "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
}

/* COMMIT; on PostgreSQL a transaction an error aborted is refused (its COMMIT rolls back). */
int hl_store_commit(struct hl_store *st)
{
	PGresult *res = NULL;
	int rc = 0;

	if (st->kind == HL_STORE_SQLITE)
		return store_run_cached(st, "commit a transaction", "COMMIT");
	if (pg_exec(st, "COMMIT", &res) < 0)
		return hl_store_error(st, "commit a transaction");
	if (strcmp(PQcmdStatus(res), "COMMIT") != 0)
		rc = hl_error("store '%s': cannot commit a transaction: an earlier statement failed, "
			      "so the server rolled it back", st->path);
	PQclear(res);
	return rc;
}

/* ROLLBACK when a transaction is open, keeping the current error message. */
void hl_store_rollback(struct hl_store *st)
{
	if (!st)
		return;
	if (st->kind == HL_STORE_POSTGRESQL) {
		if (!st->pg || PQtransactionStatus(st->pg) == PQTRANS_IDLE)
			return;
		if (pg_exec(st, "ROLLBACK", NULL) < 0)
			hl_log_warn("store '%s': rollback failed: %s", st->path, st->pg_err);
		return;
	}
	if (!st->db || sqlite3_get_autocommit(st->db))
		return;
	if (sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL) != SQLITE_OK)
		hl_log_warn("store '%s': rollback failed: %s", st->path, sqlite3_errmsg(st->db));
}

/* SQLite's PRAGMA data_version, or PostgreSQL's generation. */
int hl_store_data_version(struct hl_store *st, long long *out)
{
	int r;

	if (st->kind == HL_STORE_SQLITE)
		r = hl_store_get(st, "PRAGMA data_version", HL_VALS(HL_OUT_INT64(out)));
	else
		r = hl_store_get(st, "SELECT generation FROM hl_store_meta WHERE id = 1",
				 HL_VALS(HL_OUT_INT64(out)));
	if (r == 0)
		return hl_error("store '%s' gives no data version", st->path);
	return r < 0 ? -1 : 0;
}

/* Bump PostgreSQL's generation in the current transaction. */
int hl_store_mark_changed(struct hl_store *st)
{
	if (st->kind == HL_STORE_SQLITE)
		return 0;
	return hl_store_run(st, "UPDATE hl_store_meta SET generation = generation + 1 WHERE id = 1",
			    NULL, 0);
}

/* The backend. */
enum hl_store_kind hl_store_kind(const struct hl_store *st)
{
	return st->kind;
}

/* The schema version after open. */
int hl_store_version(const struct hl_store *st)
{
	return st->version;
}

/* The location for messages. */
const char *hl_store_path(const struct hl_store *st)
{
	return st->path;
}

/* ---- schema versions ---- */

/* Read the integer PRAGMA NAME into *OUT (SQLite). */
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

/*
 * The schema version into *OUT, inside the migration's write transaction;
 * on PostgreSQL hl_store_meta is created (version 0) when missing.
 */
static int schema_version(struct hl_store *st, int *out)
{
	long long v = 0;

	if (st->kind == HL_STORE_SQLITE)
		return pragma_int(st, "user_version", "read the schema version", out);
	if (hl_store_exec(st, "create the schema version table",
			  "CREATE TABLE IF NOT EXISTS hl_store_meta("
			  "  id BIGINT PRIMARY KEY CHECK (id = 1),"
			  "  version BIGINT NOT NULL,"
			  "  generation BIGINT NOT NULL);"
			  "INSERT INTO hl_store_meta(id, version, generation) VALUES(1, 0, 0) "
			  "ON CONFLICT(id) DO NOTHING") < 0 ||
	    hl_store_get(st, "SELECT version FROM hl_store_meta WHERE id = 1",
			 HL_VALS(HL_OUT_INT64(&v))) != 1)
		return hl_error_wrap("store '%s': cannot read the schema version", st->path);
	*out = v > INT_MAX ? INT_MAX : (int)v;
	return 0;
}

/* Record schema version V inside the migration's transaction. */
static int schema_version_set(struct hl_store *st, int v)
{
	char sql[64];

	if (st->kind == HL_STORE_POSTGRESQL)
		return hl_store_run(st, "UPDATE hl_store_meta SET version = ? WHERE id = 1",
				    HL_VALS(HL_IN_INT(v)));
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", v);
	return hl_store_exec(st, "record the schema version", sql);
}

/* Refuse a schema newer than the code knows. */
static int check_not_newer(struct hl_store *st, int version, int n)
{
	if (version <= n)
		return 0;
	return hl_error("store '%s': schema version %d is newer than this hgslab knows (%d); "
			"use the hgslab that wrote it, or restore a backup", st->path, version, n);
}

/* Run migration SQL on ST (PostgreSQL: the subset's type words translated); the backend's message into MSG. */
static int migration_run(struct hl_store *st, const char *sql, char *msg, size_t size)
{
	char *errmsg = NULL, *pg_sql = NULL;
	int n, rc = 0;

	if (st->kind == HL_STORE_POSTGRESQL) {
		if (pg_translate(sql, 1, &pg_sql, &n) < 0) {
			snprintf(msg, size, "%s", hl_error_last());
			return -1;
		}
		rc = pg_exec(st, pg_sql, NULL);
		free(pg_sql);
		if (rc < 0)
			snprintf(msg, size, "%s", st->pg_err);
		return rc;
	}
	if (sqlite3_exec(st->db, sql, NULL, NULL, &errmsg) != SQLITE_OK) {
		snprintf(msg, size, "%s", errmsg ? errmsg : sqlite3_errmsg(st->db));
		rc = -1;
	}
	sqlite3_free(errmsg);
	return rc;
}

/* 1 when ST has a transaction open. */
static int in_transaction(struct hl_store *st)
{
	if (st->kind == HL_STORE_POSTGRESQL)
		return PQtransactionStatus(st->pg) != PQTRANS_IDLE;
	return !sqlite3_get_autocommit(st->db);
}

/* Apply MIGRATIONS[version..n-1], each with its version update in one write transaction. */
static int migrate(struct hl_store *st, const char *const *migrations, int n)
{
	char msg[512];
	int v, ret = -1;

	for (;;) {
		if (hl_store_begin(st) < 0)
			return -1;
		/* Read again under the write lock: another process may have migrated meanwhile. */
		if (schema_version(st, &v) < 0 || check_not_newer(st, v, n) < 0)
			goto out;
		if (v == n)
			break;
		if (migration_run(st, migrations[v], msg, sizeof(msg)) < 0) {
			hl_error("store '%s': cannot apply migration %d of %d: %s; "
				 "the database stays at schema version %d", st->path, v + 1, n,
				 msg, v);
			goto out;
		}
		if (!in_transaction(st)) {
			hl_error("store '%s': migration %d ended its transaction; "
				 "remove BEGIN/COMMIT from it", st->path, v + 1);
			goto out;
		}
		if (schema_version_set(st, v + 1) < 0 || hl_store_commit(st) < 0)
			goto out;
		hl_log_debug("store '%s': migrated to schema version %d", st->path, v + 1);
	}
	if (hl_store_commit(st) < 0)
		goto out;
	st->version = v;
	ret = 0;
out:
	if (ret < 0)
		hl_store_rollback(st);
	return ret;
}

/* ---- opening ---- */

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

/* Open and configure the SQLite file at ST->path. */
static int sqlite_open(struct hl_store *st, int n)
{
	int rc, v, fk;

	if (precreate(st->path) < 0)
		return -1;
	rc = sqlite3_open_v2(st->path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
	if (rc != SQLITE_OK) {
		if (st->db)
			return hl_store_error(st, "open the database");
		return hl_error("store '%s': cannot open the database: %s", st->path,
				sqlite3_errstr(rc));
	}
	sqlite3_extended_result_codes(st->db, 1);
	sqlite3_busy_timeout(st->db, HL_STORE_BUSY_TIMEOUT_MS);
	/* Check the file before changing anything in it: a foreign or newer file stays untouched. */
	if (pragma_int(st, "user_version", "read the schema version", &v) < 0 ||
	    check_not_newer(st, v, n) < 0)
		return -1;
	if (hl_store_exec(st, "read the schema", "SELECT count(*) FROM sqlite_schema") < 0)
		return -1;
	if (set_wal(st) < 0 ||
	    hl_store_exec(st, "set synchronous=FULL", "PRAGMA synchronous=FULL") < 0 ||
	    hl_store_exec(st, "enable foreign keys", "PRAGMA foreign_keys=ON") < 0)
		return -1;
	if (pragma_int(st, "foreign_keys", "check foreign keys", &fk) < 0)
		return -1;
	if (fk != 1)
		return hl_error("store '%s': cannot enable foreign keys: this sqlite does not "
				"support them", st->path);
	return 0;
}

/* Server notices (NOTICE: relation exists, skipping) are not errors: drop them. */
static void pg_notice_quiet(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

/* Connect to the PostgreSQL URI LOCATION and configure the session. */
static int pg_open(struct hl_store *st, const char *location)
{
	char sql[256];

	st->pg = PQconnectdb(location);
	if (!st->pg)
		return hl_error("store '%s': cannot connect: out of memory", st->path);
	if (PQstatus(st->pg) != CONNECTION_OK) {
		pg_keep_error(st, NULL);
		if (strstr(st->pg_err, "; check the"))
			return hl_error("store '%s': cannot connect: %s", st->path, st->pg_err);
		return hl_error("store '%s': cannot connect: %s; check that the PostgreSQL server "
				"runs and accepts this URI (`hgslab pgsql start` makes one)",
				st->path, st->pg_err);
	}
	PQsetNoticeProcessor(st->pg, pg_notice_quiet, NULL);
	pg_session_sql(sql, sizeof(sql));
	return hl_store_exec(st, "configure the session", sql);
}

/* LOCATION for messages: a PostgreSQL URI loses its password (user:PASSWORD@ and password=...). */
static char *location_display(const char *location)
{
	char *d = strdup(location), *p, *at, *colon, *q;

	if (!d || !hl_store_location_is_pg(d))
		return d;
	p = strstr(d, "://") + 3;
	at = strchr(p, '@');
	q = strchr(p, '/');
	if (at && (!q || at < q)) {
		colon = memchr(p, ':', (size_t)(at - p));
		if (colon)
			memmove(colon, at, strlen(at) + 1);
	}
	q = strchr(d, '?');
	if (q && strstr(q, "password"))
		*q = '\0';
	return d;
}

/*
 * Set SQLite up for the process before its first use: no memory statistics
 * (nothing reads them, and keeping them takes a global mutex at every
 * allocation SQLite makes).  Refused, harmlessly, once SQLite is in use.
 */
static void sqlite_configure(void)
{
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

static pthread_once_t sqlite_configured = PTHREAD_ONCE_INIT;

/* Open, configure and migrate a store. */
int hl_store_open(const char *location, const char *const *migrations, size_t n_migrations,
		  struct hl_store **out)
{
	struct hl_store *st = NULL;
	int n, ret = -1;

	*out = NULL;
	if (!location || !*location)
		return hl_error("cannot open a store: the path is empty");
	if (n_migrations > INT_MAX || (n_migrations > 0 && !migrations))
		return hl_error("store '%s': invalid migration list", location);
	for (size_t i = 0; i < n_migrations; i++)
		if (!migrations[i])
			return hl_error("store '%s': migration %zu is NULL", location, i + 1);
	n = (int)n_migrations;
	pthread_once(&sqlite_configured, sqlite_configure);
	st = calloc(1, sizeof(*st));
	if (!st || !(st->path = location_display(location))) {
		hl_error("cannot open a store: out of memory");
		goto out;
	}
	if (hl_store_location_is_pg(location)) {
		st->kind = HL_STORE_POSTGRESQL;
		if (pg_open(st, location) < 0)
			goto out;
	} else if (sqlite_open(st, n) < 0) {
		goto out;
	}
	if (migrate(st, migrations, n) < 0)
		goto out;
	st->migrations = migrations;
	st->n_migrations = n;
	*out = st;
	st = NULL;
	ret = 0;
out:
	hl_store_close(st);
	return ret;
}

/* Free the statements and close; NULL-safe. */
void hl_store_close(struct hl_store *st)
{
	sqlite3_stmt *stmt;

	if (!st)
		return;
	for (size_t i = 0; i < st->n_stmts; i++) {
		if (st->stmts[i]->busy)
			hl_log_warn("store '%s': statement '%.80s' was still open at close", st->path,
				    st->stmts[i]->sql);
		stmt_free(st->stmts[i]);
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
	if (st->pg)
		PQfinish(st->pg);
	free(st->path);
	free(st);
}

/* Bind column C of RES's row ROW to parameter C + 1 of INS as the SQLite column type TYPE says. */
static int pg_copy_value(sqlite3_stmt *ins, const PGresult *res, int row, int c, const char *type)
{
	const char *v;
	unsigned char *bytes;
	size_t len;
	int rc;

	if (PQgetisnull(res, row, c))
		return sqlite3_bind_null(ins, c + 1);
	v = PQgetvalue(res, row, c);
	if (strcmp(type, "INTEGER") == 0)
		return sqlite3_bind_int64(ins, c + 1, strtoll(v, NULL, 10));
	if (strcmp(type, "BLOB") != 0 || PQftype(res, c) != PG_OID_BYTEA)
		return sqlite3_bind_text(ins, c + 1, v, -1, SQLITE_TRANSIENT);
	bytes = PQunescapeBytea((const unsigned char *)v, &len);
	if (!bytes)
		return SQLITE_NOMEM;
	rc = sqlite3_bind_blob64(ins, c + 1, bytes, len, SQLITE_TRANSIENT);
	PQfreemem(bytes);
	return rc;
}

/*
 * Copy PostgreSQL table TABLE of ST into the same table of MEM (its columns
 * from PRAGMA table_info), replacing what MEM's migrations put there.
 */
static int pg_copy_table(struct hl_store *st, sqlite3 *mem, const char *table)
{
	char sql[512], cols[384] = "", marks[192] = "", types[32][16];
	sqlite3_stmt *info = NULL, *ins = NULL;
	PGresult *res = NULL;
	int n = 0, rc = -1;
	size_t cl = 0, ml = 0;

	snprintf(sql, sizeof(sql), "PRAGMA table_info(\"%s\")", table);
	if (sqlite3_prepare_v2(mem, sql, -1, &info, NULL) != SQLITE_OK)
		goto fail_mem;
	while (sqlite3_step(info) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(info, 1);
		const char *type = (const char *)sqlite3_column_text(info, 2);

		if (n == 32 || cl + strlen(name) + 4 > sizeof(cols) || ml + 3 > sizeof(marks)) {
			hl_error("store '%s': cannot take a snapshot: table '%s' has too many columns",
				 st->path, table);
			goto out;
		}
		cl += (size_t)snprintf(cols + cl, sizeof(cols) - cl, "%s\"%s\"", n ? ", " : "", name);
		ml += (size_t)snprintf(marks + ml, sizeof(marks) - ml, "%s?", n ? ", " : "");
		snprintf(types[n++], sizeof(types[0]), "%s", type ? type : "");
	}
	snprintf(sql, sizeof(sql), "SELECT %s FROM \"%s\"", cols, table);
	if (pg_exec(st, sql, &res) < 0) {
		hl_store_error(st, "read table '%s' for a snapshot", table);
		goto out;
	}
	/* the rows the migrations inserted are among the copied ones */
	snprintf(sql, sizeof(sql), "DELETE FROM \"%s\"", table);
	if (sqlite3_exec(mem, sql, NULL, NULL, NULL) != SQLITE_OK)
		goto fail_mem;
	snprintf(sql, sizeof(sql), "INSERT INTO \"%s\"(%s) VALUES(%s)", table, cols, marks);
	if (sqlite3_prepare_v2(mem, sql, -1, &ins, NULL) != SQLITE_OK)
		goto fail_mem;
	for (int row = 0; row < PQntuples(res); row++) {
		for (int c = 0; c < n; c++)
			if (pg_copy_value(ins, res, row, c, types[c]) != SQLITE_OK)
				goto fail_mem;
		if (sqlite3_step(ins) != SQLITE_DONE || sqlite3_reset(ins) != SQLITE_OK)
			goto fail_mem;
	}
	rc = 0;
	goto out;
fail_mem:
	hl_error("store '%s': cannot copy table '%s' into the snapshot: %s", st->path, table,
		 sqlite3_errmsg(mem));
out:
	PQclear(res);
	sqlite3_finalize(info);
	sqlite3_finalize(ins);
	return rc;
}

/*
 * A PostgreSQL store as a SQLite database in MEM: the component's
 * migrations applied (the same schema), then every table's rows copied
 * under one read snapshot.
 */
static int pg_snapshot_into(struct hl_store *st, sqlite3 *mem)
{
	char sql[64], *msg = NULL;
	sqlite3_stmt *tables = NULL;
	int rc = -1;

	for (int i = 0; i < st->n_migrations; i++) {
		if (sqlite3_exec(mem, st->migrations[i], NULL, NULL, &msg) != SQLITE_OK) {
			hl_error("store '%s': cannot take a snapshot: migration %d: %s", st->path,
				 i + 1, msg ? msg : sqlite3_errmsg(mem));
			sqlite3_free(msg);
			return -1;
		}
	}
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", st->n_migrations);
	if (sqlite3_exec(mem, sql, NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_exec(mem, "BEGIN", NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(mem, "SELECT name FROM sqlite_schema WHERE type = 'table' AND "
			       "name NOT LIKE 'sqlite_%' ORDER BY rowid", -1, &tables,
			       NULL) != SQLITE_OK) {
		hl_error("store '%s': cannot take a snapshot: %s", st->path, sqlite3_errmsg(mem));
		goto out;
	}
	if (hl_store_read_begin(st) < 0)
		goto out;
	/* rows first, references checked by the import's own open (foreign keys are off here) */
	while (sqlite3_step(tables) == SQLITE_ROW)
		if (pg_copy_table(st, mem, (const char *)sqlite3_column_text(tables, 0)) < 0)
			goto out;
	if (hl_store_commit(st) < 0)
		goto out;
	if (sqlite3_exec(mem, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		hl_error("store '%s': cannot take a snapshot: %s", st->path, sqlite3_errmsg(mem));
		goto out;
	}
	rc = 0;
out:
	sqlite3_finalize(tables);
	hl_store_rollback(st);
	return rc;
}

/*
 * Online backup of ST into a database in memory, serialized into OUT: on
 * SQLite its backup API, on PostgreSQL its tables copied (pg_snapshot_into).
 */
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
	if (st->kind == HL_STORE_POSTGRESQL) {
		if (pg_snapshot_into(st, mem) < 0)
			goto out;
		goto serialize;
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
serialize:
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
