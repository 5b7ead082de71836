/*
 * fabric_ad.c - the simulated fabric Active Directory (fabric_ad.h): the
 * fabric directory (domain, computer accounts, global groups, memberships in
 * a lib/store SQLite database), the trust document the HGS domain imports,
 * membership tickets as JWTs signed PS256 by the DC key, and the domain
 * controller's HTTP service with `fabric serve`.
 *
 * It is the fabric side of AD-mode attestation: `hgslab fabric` verbs
 * (hosts/cmd_fabric.c) administer it, guarded hosts get tickets from its DC
 * (hosts/ad_client.c), and HGS verifies those tickets against the trust
 * (hgs/attest_ad.c).  A fabric directory is a served directory like an HGS
 * node: its creation, pid file, `serve` run, listen address, lab clock and
 * domain names are lib/'s (lib/served.h, lib/labclock.h, lib/dnsname.h), so
 * both sides read them the same way; the SID syntax is the one HGS checks
 * (hgs_check_sid, hgs/db.h).
 */
#include "fabric/fabric_ad.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>

#include "hgs/db.h"
#include "lib/fileio.h"
#include "lib/http.h"
#include "lib/json.h"
#include "lib/labclock.h"
#include "lib/nonce.h"
#include "lib/served.h"

/* The DC certificate: backdated a day (lab clocks may run behind), valid ten years. */
#define DC_CERT_BACKDATE_S (24L * 3600)
#define DC_CERT_LIFETIME_S (10L * 365 * 24 * 3600)
/* Largest request body the DC accepts. */
#define DC_MAX_BODY ((size_t)64 << 10)
/* At most this many groups in one ticket. */
#define TICKET_GROUPS_MAX 1024
/* Largest time claim accepted (year 36812): keeps time_t arithmetic safe. */
#define TICKET_TIME_MAX ((json_int_t)1 << 40)
/* The label a computer's ticket request signature starts with. */
#define TICKET_REQUEST_LABEL "hgslab-fabric-ticket-request-v1"

static const char *const fabric_migrations[] = {
	/* 1: the domain, its principals and the memberships */
	"CREATE TABLE domain("
	"  id INTEGER PRIMARY KEY CHECK (id = 1),"
	"  name TEXT NOT NULL,"
	"  sid TEXT NOT NULL,"
	"  dc_name TEXT NOT NULL,"
	"  listen TEXT NOT NULL,"
	"  ticket_lifetime_s INTEGER NOT NULL CHECK (ticket_lifetime_s BETWEEN 60 AND 36000),"
	"  next_rid INTEGER NOT NULL,"
	"  created INTEGER NOT NULL);"
	"CREATE TABLE principals("
	"  rid INTEGER PRIMARY KEY,"
	"  kind TEXT NOT NULL CHECK (kind IN ('computer', 'group')),"
	"  name TEXT NOT NULL COLLATE NOCASE,"
	"  description TEXT,"
	"  machine_key BLOB,"
	"  key_fingerprint TEXT UNIQUE,"
	"  added INTEGER NOT NULL,"
	"  UNIQUE (kind, name),"
	"  CHECK ((kind = 'computer') = (machine_key IS NOT NULL)));"
	"CREATE TABLE members("
	"  group_rid INTEGER NOT NULL REFERENCES principals(rid) ON DELETE CASCADE,"
	"  member_rid INTEGER NOT NULL REFERENCES principals(rid) ON DELETE CASCADE,"
	"  added INTEGER NOT NULL,"
	"  PRIMARY KEY (group_rid, member_rid));",
};
#define N_MIGRATIONS (sizeof(fabric_migrations) / sizeof(fabric_migrations[0]))

/* ---- small helpers ---- */

/* Bind text V (NULL binds SQL NULL) to parameter I of STMT. */
static int bind_text(struct hl_store *st, sqlite3_stmt *stmt, int i, const char *v)
{
	int rc = v ? sqlite3_bind_text(stmt, i, v, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(stmt, i);

	return rc == SQLITE_OK ? 0 : hl_store_error(st, "bind parameter %d", i);
}

/* Bind integer V to parameter I of STMT. */
static int bind_int(struct hl_store *st, sqlite3_stmt *stmt, int i, long long v)
{
	return sqlite3_bind_int64(stmt, i, v) == SQLITE_OK ? 0
							   : hl_store_error(st, "bind parameter %d", i);
}

/* Bind LEN bytes of DATA to parameter I of STMT. */
static int bind_blob(struct hl_store *st, sqlite3_stmt *stmt, int i, const void *data, size_t len)
{
	return sqlite3_bind_blob64(stmt, i, data, len, SQLITE_TRANSIENT) == SQLITE_OK
		       ? 0
		       : hl_store_error(st, "bind parameter %d", i);
}

/* The SID of RID in F's domain into BUF (FABRIC_SID_MAX bytes). */
static void rid_sid(const struct fabric *f, long long rid, char *buf, size_t size)
{
	snprintf(buf, size, "%s-%lld", f->domain_sid, rid);
}

/* Encode DATA as base64url without padding (RFC 7515 section 2) into *OUT (malloc'd). */
static int b64url_encode(const void *data, size_t len, char **out)
{
	struct hl_buf b = { 0 };
	char *s;
	size_t n;

	*out = NULL;
	if (hl_crypto_base64_encode(data, len, &b) < 0)
		return -1;
	s = (char *)b.data;
	n = strlen(s);
	while (n > 0 && s[n - 1] == '=')
		s[--n] = '\0';
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '+')
			s[i] = '-';
		else if (s[i] == '/')
			s[i] = '_';
	}
	*out = s;
	return 0;
}

/* Decode LEN characters of unpadded base64url at S (WHAT names it) into OUT. */
static int b64url_decode(const char *s, size_t len, const char *what, struct hl_buf *out)
{
	char *std;
	size_t n = 0;
	int rc;

	out->data = NULL;
	out->len = 0;
	if (len % 4 == 1)
		return hl_error("the ticket's %s is not base64url: its length %zu is impossible",
				what, len);
	if (!(std = malloc(len + 4)))
		return hl_error("out of memory");
	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (c == '-') {
			c = '+';
		} else if (c == '_') {
			c = '/';
		} else if (!isalnum((unsigned char)c)) {
			free(std);
			return hl_error("the ticket's %s is not base64url: character %zu is not in "
					"[A-Za-z0-9_-]", what, i + 1);
		}
		std[n++] = c;
	}
	while (n % 4)
		std[n++] = '=';
	std[n] = '\0';
	rc = hl_crypto_base64_decode(std, n, out);
	free(std);
	if (rc < 0)
		return hl_error_wrap("the ticket's %s", what);
	/* one encoding per value: unused trailing bits must be zero (no malleable tickets) */
	if (b64url_encode(out->data, out->len, &std) < 0)
		goto bad;
	rc = strlen(std) == len && memcmp(std, s, len) == 0;
	free(std);
	if (!rc) {
		hl_error("the ticket's %s is not canonical base64url (non-zero unused bits)", what);
		goto bad;
	}
	return 0;
bad:
	hl_buf_free(out);
	return -1;
}

/* base64url of the SHA-256 of CERT's DER (the JWS x5t#S256 header) into OUT (64 bytes). */
static int cert_x5t(const X509 *cert, char out[64])
{
	unsigned char md[HL_SHA256_LEN];
	struct hl_buf der = { 0 };
	char *s = NULL;
	int rc = -1;

	if (hl_cert_to_der(cert, &der) < 0 || hl_crypto_sha256(der.data, der.len, md) < 0 ||
	    b64url_encode(md, sizeof(md), &s) < 0)
		goto out;
	snprintf(out, 64, "%s", s);
	rc = 0;
out:
	free(s);
	hl_buf_free(&der);
	return rc;
}

/* ---- names ---- */

/* Check a computer name against the NetBIOS rules. */
int fabric_check_computer_name(const char *name)
{
	size_t n = name ? strlen(name) : 0, digits = 0;

	if (n == 0 || n >= FABRIC_COMPUTER_MAX)
		return hl_error("invalid computer name '%s': a NetBIOS computer name has 1 to %d "
				"characters", name ? name : "", FABRIC_COMPUTER_MAX - 1);
	for (size_t i = 0; i < n; i++) {
		if (!isalnum((unsigned char)name[i]) && name[i] != '-')
			return hl_error("invalid computer name '%s': use letters, digits and '-' only, "
					"e.g. FabricHost1", name);
		digits += isdigit((unsigned char)name[i]) != 0;
	}
	if (name[0] == '-' || digits == n)
		return hl_error("invalid computer name '%s': it must not start with '-' or be all "
				"digits", name);
	return 0;
}

/* Check a group name against AD's forbidden characters. */
int fabric_check_group_name(const char *name)
{
	size_t n = name ? strlen(name) : 0;

	if (n == 0 || n >= FABRIC_GROUP_MAX)
		return hl_error("invalid group name '%s': it must have 1 to %d characters",
				name ? name : "", FABRIC_GROUP_MAX - 1);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c < 0x20 || c > 0x7e || strchr("/\\[]:;|=,+*?<>@\"", c))
			return hl_error("invalid group name '%s': use printable ASCII without any of "
					"/\\[]:;|=,+*?<>@\" (e.g. GuardedHosts)", name);
	}
	if (name[0] == ' ' || name[n - 1] == ' ')
		return hl_error("invalid group name '%s': it must not start or end with a space", name);
	return 0;
}

/* 1 when SID is DOMAIN_SID plus exactly one RID. */
int fabric_sid_in_domain(const char *sid, const char *domain_sid)
{
	size_t n = strlen(domain_sid);
	const char *p;

	if (!sid || strncmp(sid, domain_sid, n) != 0 || sid[n] != '-')
		return 0;
	p = sid + n + 1;
	if (!*p || strlen(p) > 10)
		return 0;
	for (; *p; p++)
		if (!isdigit((unsigned char)*p))
			return 0;
	return 1;
}

/* Check a DC name (NetBIOS rules, like a computer name). */
static int check_dc_name(const char *name)
{
	if (fabric_check_computer_name(name) < 0)
		return hl_error_wrap("invalid DC name");
	return 0;
}

/* ---- create, open, close, clock ---- */

/* A fresh domain SID, S-1-5-21 and three random 32-bit sub-authorities, into BUF. */
static int new_domain_sid(char *buf, size_t size)
{
	uint32_t v[3];

	if (hl_crypto_random(v, sizeof(v)) < 0)
		return -1;
	snprintf(buf, size, "S-1-5-21-%u-%u-%u", (unsigned)v[0], (unsigned)v[1], (unsigned)v[2]);
	return 0;
}

/* Write the DC signing key and certificate for DOMAIN / DC_NAME into directory TMP. */
static int create_dc_keys(const char *tmp, const char *domain, const char *dc_name, time_t now)
{
	char fqdn[FABRIC_FQDN_MAX], path[PATH_MAX];
	const char *san[1] = { fqdn };
	struct hl_cert_spec spec = { 0 };
	struct hl_buf key_pem = { 0 }, crt_pem = { 0 };
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	int rc = -1;

	snprintf(fqdn, sizeof(fqdn), "%s.%s", dc_name, domain);
	spec.cn = fqdn;
	spec.org = domain;
	spec.not_before = now - DC_CERT_BACKDATE_S;
	spec.not_after = now + DC_CERT_LIFETIME_S;
	spec.path_len = -1;
	spec.key_usage = HL_KU_DIGITAL_SIGNATURE | HL_KU_KEY_CERT_SIGN;
	spec.san = san;
	spec.n_san = 1;
	if (hl_key_generate(HL_KEY_RSA2048, &key) < 0 ||
	    hl_cert_issue_self_signed(&spec, key, &cert) < 0 ||
	    hl_key_priv_to_pem(key, &key_pem) < 0 || hl_cert_to_pem(cert, &crt_pem) < 0) {
		hl_error_wrap("cannot create the DC signing key");
		goto out;
	}
	if (hl_served_path(tmp, FABRIC_DC_KEY_FILE, path, sizeof(path)) < 0 ||
	    hl_file_write_private(path, key_pem.data, key_pem.len) < 0 ||
	    hl_served_path(tmp, FABRIC_DC_CERT_FILE, path, sizeof(path)) < 0 ||
	    hl_file_write(path, crt_pem.data, crt_pem.len, HL_FILE_MODE_PUBLIC) < 0)
		goto out;
	rc = 0;
out:
	hl_buf_free(&key_pem);
	hl_buf_free(&crt_pem);
	hl_key_free(key);
	hl_cert_free(cert);
	return rc;
}

/* Insert the domain row and the built-in Domain Computers group into ST. */
static int create_store_rows(struct hl_store *st, const struct fabric_new_params *p,
			     const char *sid, const char *dc_name, int lifetime, time_t now)
{
	sqlite3_stmt *stmt = NULL;
	int rc = -1;

	if (hl_store_begin(st) < 0)
		return -1;
	if (hl_store_prepare(st, "INSERT INTO domain(id, name, sid, dc_name, listen, "
			     "ticket_lifetime_s, next_rid, created) VALUES(1, ?, ?, ?, ?, ?, ?, ?)",
			     &stmt) < 0 ||
	    bind_text(st, stmt, 1, p->domain) < 0 || bind_text(st, stmt, 2, sid) < 0 ||
	    bind_text(st, stmt, 3, dc_name) < 0 || bind_text(st, stmt, 4, p->listen) < 0 ||
	    bind_int(st, stmt, 5, lifetime) < 0 || bind_int(st, stmt, 6, FABRIC_RID_FIRST) < 0 ||
	    bind_int(st, stmt, 7, now) < 0 || hl_store_step(st, stmt) < 0)
		goto out;
	sqlite3_finalize(stmt);
	stmt = NULL;
	if (hl_store_prepare(st, "INSERT INTO principals(rid, kind, name, description, added) "
			     "VALUES(?, 'group', ?, ?, ?)", &stmt) < 0 ||
	    bind_int(st, stmt, 1, FABRIC_RID_DOMAIN_COMPUTERS) < 0 ||
	    bind_text(st, stmt, 2, FABRIC_DOMAIN_COMPUTERS) < 0 ||
	    bind_text(st, stmt, 3, "All workstations and servers joined to the domain") < 0 ||
	    bind_int(st, stmt, 4, now) < 0 || hl_store_step(st, stmt) < 0)
		goto out;
	if (hl_store_commit(st) < 0)
		goto out;
	rc = 0;
out:
	if (rc < 0)
		hl_store_rollback(st);
	sqlite3_finalize(stmt);
	return rc;
}

/* Create a fabric directory (`fabric new`), built beside DIR and renamed into place. */
int fabric_create(const struct fabric_new_params *p)
{
	struct hl_served_new s;
	char path[PATH_MAX], addr[16], sid[FABRIC_SID_MAX];
	const char *dc_name = p->dc_name ? p->dc_name : "DC01";
	int lifetime = p->ticket_lifetime_s ? p->ticket_lifetime_s : FABRIC_TICKET_LIFETIME_S_DEFAULT;
	struct hl_store *st = NULL;
	unsigned short port;
	int rc = -1, has;
	time_t now;

	if (hl_dnsname_check(p->domain) < 0 || hl_served_parse_listen(p->listen, addr, &port) < 0 ||
	    check_dc_name(dc_name) < 0)
		return -1;
	if (lifetime < FABRIC_TICKET_LIFETIME_S_MIN || lifetime > FABRIC_TICKET_LIFETIME_S_MAX)
		return hl_error("invalid ticket lifetime %d s: use %d to %d seconds", lifetime,
				FABRIC_TICKET_LIFETIME_S_MIN, FABRIC_TICKET_LIFETIME_S_MAX);
	if (!p->dir || !*p->dir)
		return hl_error("cannot create a fabric directory: no directory given");
	if (hl_served_new_begin(&s, p->dir, "a fabric directory") < 0 ||
	    (has = hl_served_new_target(&s, "a fabric directory")) < 0)
		goto out;
	if (has) {
		hl_error("cannot create a fabric directory at '%s': the directory is not "
			 "empty; choose a new or empty directory", s.dir);
		goto out;
	}
	if (hl_served_new_stage(&s, "new", "keys") < 0)
		goto out;
	now = time(NULL);
	if (new_domain_sid(sid, sizeof(sid)) < 0 ||
	    create_dc_keys(s.tmp, p->domain, dc_name, now) < 0 ||
	    hl_served_path(s.tmp, FABRIC_DB_FILE, path, sizeof(path)) < 0 ||
	    hl_store_open(path, fabric_migrations, N_MIGRATIONS, &st) < 0 ||
	    create_store_rows(st, p, sid, dc_name, lifetime, now) < 0)
		goto out;
	hl_store_close(st);
	st = NULL;
	if (hl_served_new_commit(&s, "new fabric directory") < 0)
		goto out;
	rc = 0;
out:
	hl_store_close(st);
	hl_served_new_end(&s);
	return rc;
}

/* Read the domain row of F's store into F. */
static int read_domain(struct fabric *f)
{
	sqlite3_stmt *stmt = NULL;
	const char *listen;
	int rc = -1, r;

	if (hl_store_prepare(f->store, "SELECT name, sid, dc_name, listen, ticket_lifetime_s, "
			     "created FROM domain WHERE id = 1", &stmt) < 0)
		return -1;
	r = hl_store_step(f->store, stmt);
	if (r <= 0) {
		if (r == 0)
			hl_error("fabric directory '%s' has no domain row: it is damaged", f->dir);
		goto out;
	}
	snprintf(f->domain, sizeof(f->domain), "%s", (const char *)sqlite3_column_text(stmt, 0));
	snprintf(f->domain_sid, sizeof(f->domain_sid), "%s",
		 (const char *)sqlite3_column_text(stmt, 1));
	snprintf(f->dc_name, sizeof(f->dc_name), "%s", (const char *)sqlite3_column_text(stmt, 2));
	listen = (const char *)sqlite3_column_text(stmt, 3);
	f->ticket_lifetime_s = sqlite3_column_int(stmt, 4);
	f->created = (time_t)sqlite3_column_int64(stmt, 5);
	if (hl_served_parse_listen(listen, f->listen_addr, &f->listen_port) < 0)
		goto out;
	rc = 0;
out:
	sqlite3_finalize(stmt);
	return rc;
}

/* Load the DC certificate (and with KEYS the signing key) of F. */
static int load_dc_keys(struct fabric *f, int keys)
{
	char path[PATH_MAX], *pem = NULL;
	EVP_PKEY *pub = NULL;
	size_t len = 0;
	int rc = -1;

	if (hl_served_path(f->dir, FABRIC_DC_CERT_FILE, path, sizeof(path)) < 0 ||
	    hl_file_read(path, 1 << 20, &pem, &len) < 0 ||
	    hl_cert_from_pem(pem, len, &f->dc_cert) < 0 ||
	    hl_cert_thumbprint(f->dc_cert, f->dc_thumbprint) < 0)
		goto out;
	if (keys) {
		if (hl_served_path(f->dir, FABRIC_DC_KEY_FILE, path, sizeof(path)) < 0 ||
		    hl_key_priv_load_file(path, &f->dc_key) < 0 || hl_cert_pubkey(f->dc_cert, &pub) < 0)
			goto out;
		if (!hl_key_pub_equal(pub, f->dc_key)) {
			hl_error("the DC signing key '%s' does not match its certificate", path);
			goto out;
		}
	}
	rc = 0;
out:
	free(pem);
	hl_key_free(pub);
	return rc;
}

/* Open a fabric directory: store, domain row, DC certificate (and key). */
int fabric_open(const char *dir, unsigned flags, struct fabric **out)
{
	pthread_mutexattr_t attr;
	struct fabric *f = NULL;
	char path[PATH_MAX];
	int rc = -1;

	*out = NULL;
	if (!dir || !*dir)
		return hl_error("no fabric directory given");
	if (!(f = calloc(1, sizeof(*f))))
		return hl_error("out of memory");
	pthread_mutexattr_init(&attr);
	pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&f->lock, &attr);
	pthread_mutexattr_destroy(&attr);
	if (hl_file_abspath(dir, &f->dir) < 0 || hl_served_path(f->dir, FABRIC_DB_FILE, path, sizeof(path)) < 0)
		goto out;
	if (access(path, F_OK) != 0) {
		hl_error("'%s' is not a fabric directory (no %s); create one with `hgslab fabric new`",
			 f->dir, FABRIC_DB_FILE);
		goto out;
	}
	if (hl_store_open(path, fabric_migrations, N_MIGRATIONS, &f->store) < 0 || read_domain(f) < 0 ||
	    load_dc_keys(f, (flags & FABRIC_OPEN_KEYS) != 0) < 0) {
		hl_error_wrap("cannot open the fabric directory '%s'", f->dir);
		goto out;
	}
	*out = f;
	f = NULL;
	rc = 0;
out:
	fabric_close(f);
	return rc;
}

/* Close a fabric directory and free it. */
void fabric_close(struct fabric *f)
{
	if (!f)
		return;
	hl_store_close(f->store);
	hl_cert_free(f->dc_cert);
	hl_key_free(f->dc_key);
	pthread_mutex_destroy(&f->lock);
	free(f->dir);
	free(f);
}

/* The DC clock: system time plus DIR/clock-offset. */
int fabric_now(struct fabric *f, time_t *out)
{
	return hl_labclock_now(f->dir, out);
}

/* ---- the directory ---- */

/* Take F's lock. */
static void lock_fabric(struct fabric *f)
{
	pthread_mutex_lock(&f->lock);
}

/* Release F's lock. */
static void unlock_fabric(struct fabric *f)
{
	pthread_mutex_unlock(&f->lock);
}

/*
 * Find principal NAME of KIND ("computer" or "group", case-insensitive):
 * 1 with its RID (and canonical name into CANON when not NULL), 0 when absent.
 */
static int principal_find(struct fabric *f, const char *kind, const char *name, long long *rid,
			  char *canon, size_t canon_size)
{
	sqlite3_stmt *stmt = NULL;
	int r;

	if (hl_store_prepare(f->store, "SELECT rid, name FROM principals WHERE kind = ? AND "
			     "name = ?", &stmt) < 0 ||
	    bind_text(f->store, stmt, 1, kind) < 0 || bind_text(f->store, stmt, 2, name) < 0) {
		sqlite3_finalize(stmt);
		return -1;
	}
	r = hl_store_step(f->store, stmt);
	if (r == 1) {
		*rid = sqlite3_column_int64(stmt, 0);
		if (canon)
			snprintf(canon, canon_size, "%s", (const char *)sqlite3_column_text(stmt, 1));
	}
	sqlite3_finalize(stmt);
	return r;
}

/* Take the next RID of F's domain (inside a transaction). */
static int next_rid(struct fabric *f, long long *rid)
{
	sqlite3_stmt *stmt = NULL;
	int rc = -1;

	if (hl_store_prepare(f->store, "SELECT next_rid FROM domain WHERE id = 1", &stmt) < 0 ||
	    hl_store_step(f->store, stmt) != 1)
		goto out;
	*rid = sqlite3_column_int64(stmt, 0);
	sqlite3_finalize(stmt);
	stmt = NULL;
	if (hl_store_prepare(f->store, "UPDATE domain SET next_rid = next_rid + 1 WHERE id = 1",
			     &stmt) < 0 ||
	    hl_store_step(f->store, stmt) < 0)
		goto out;
	rc = 0;
out:
	sqlite3_finalize(stmt);
	return rc;
}

/*
 * Insert a principal of KIND named NAME (DESCRIPTION, and for a computer the
 * machine key DER KEY / fingerprint FP) with a fresh RID, refusing duplicates.
 */
static int principal_add(struct fabric *f, const char *kind, const char *name,
			 const char *description, const struct hl_buf *key, const char *fp)
{
	sqlite3_stmt *stmt = NULL;
	char other[FABRIC_GROUP_MAX];
	long long rid;
	time_t now;
	int rc = -1, r;

	if (fabric_now(f, &now) < 0)
		return -1;
	lock_fabric(f);
	if (hl_store_begin(f->store) < 0)
		goto out;
	r = principal_find(f, kind, name, &rid, other, sizeof(other));
	if (r < 0)
		goto out;
	if (r) {
		hl_error("%s '%s' already exists in %s", kind, other, f->domain);
		goto out;
	}
	if (fp) {
		if (hl_store_prepare(f->store, "SELECT name FROM principals WHERE key_fingerprint = ?",
				     &stmt) < 0 ||
		    bind_text(f->store, stmt, 1, fp) < 0 || (r = hl_store_step(f->store, stmt)) < 0)
			goto out;
		if (r) {
			hl_error("this machine key (SHA-256 %.16s...) already belongs to computer '%s'; "
				 "each computer account has its own key", fp,
				 (const char *)sqlite3_column_text(stmt, 0));
			goto out;
		}
		sqlite3_finalize(stmt);
		stmt = NULL;
	}
	if (next_rid(f, &rid) < 0 ||
	    hl_store_prepare(f->store, "INSERT INTO principals(rid, kind, name, description, "
			     "machine_key, key_fingerprint, added) VALUES(?, ?, ?, ?, ?, ?, ?)",
			     &stmt) < 0 ||
	    bind_int(f->store, stmt, 1, rid) < 0 || bind_text(f->store, stmt, 2, kind) < 0 ||
	    bind_text(f->store, stmt, 3, name) < 0 || bind_text(f->store, stmt, 4, description) < 0)
		goto out;
	if (key) {
		if (bind_blob(f->store, stmt, 5, key->data, key->len) < 0)
			goto out;
	} else if (sqlite3_bind_null(stmt, 5) != SQLITE_OK) {
		hl_store_error(f->store, "bind parameter 5");
		goto out;
	}
	if (bind_text(f->store, stmt, 6, fp) < 0 || bind_int(f->store, stmt, 7, now) < 0 ||
	    hl_store_step(f->store, stmt) < 0 || hl_store_commit(f->store) < 0)
		goto out;
	rc = 0;
out:
	if (rc < 0)
		hl_store_rollback(f->store);
	sqlite3_finalize(stmt);
	unlock_fabric(f);
	return rc;
}

/* New-ADGroup: a global security group. */
int fabric_group_add(struct fabric *f, const char *name, const char *description)
{
	if (fabric_check_group_name(name) < 0)
		return -1;
	return principal_add(f, "group", name, description, NULL, NULL);
}

/* A computer account with the public half of KEY as its machine key. */
int fabric_computer_add(struct fabric *f, const char *name, EVP_PKEY *key)
{
	char fp[HL_SHA256_HEX_SIZE];
	struct hl_buf der = { 0 };
	enum hl_key_type kt;
	int rc;

	if (fabric_check_computer_name(name) < 0)
		return -1;
	if (!key || hl_key_type_of(key, &kt) < 0)
		return hl_error_wrap("invalid machine key for computer '%s'", name ? name : "");
	if (hl_key_pub_to_der(key, &der) < 0 || hl_key_fingerprint(key, fp) < 0) {
		hl_buf_free(&der);
		return -1;
	}
	rc = principal_add(f, "computer", name, NULL, &der, fp);
	hl_buf_free(&der);
	return rc;
}

/* Look up GROUP and COMPUTER for a membership change; errors name what is missing. */
static int member_lookup(struct fabric *f, const char *group, const char *computer, long long *grid,
			 long long *crid, char *gname, char *cname)
{
	int r;

	if ((r = principal_find(f, "group", group, grid, gname, FABRIC_GROUP_MAX)) < 0)
		return -1;
	if (!r)
		return hl_error("there is no group '%s' in %s; create it with `hgslab fabric "
				"add-group`", group, f->domain);
	if ((r = principal_find(f, "computer", computer, crid, cname, FABRIC_COMPUTER_MAX)) < 0)
		return -1;
	if (!r)
		return hl_error("there is no computer account '%s' in %s; create it with `hgslab "
				"fabric add-computer`", computer, f->domain);
	if (*grid == FABRIC_RID_DOMAIN_COMPUTERS)
		return hl_error("every computer is a member of '%s' through its primary group; its "
				"membership cannot be changed", gname);
	return 0;
}

/* Add or remove (ADD 0) a membership; 1 when it changed, 0 when it already was so. */
static int member_change(struct fabric *f, const char *group, const char *computer, int add)
{
	char gname[FABRIC_GROUP_MAX], cname[FABRIC_COMPUTER_MAX];
	sqlite3_stmt *stmt = NULL;
	long long grid, crid;
	time_t now;
	int rc = -1;

	if (!group || !computer)
		return hl_error("a membership change needs a group and a computer");
	if (fabric_now(f, &now) < 0)
		return -1;
	lock_fabric(f);
	if (hl_store_begin(f->store) < 0)
		goto out;
	if (member_lookup(f, group, computer, &grid, &crid, gname, cname) < 0)
		goto out;
	if (hl_store_prepare(f->store, add ? "INSERT OR IGNORE INTO members(group_rid, member_rid, "
						   "added) VALUES(?, ?, ?)"
					   : "DELETE FROM members WHERE group_rid = ? AND member_rid = ?",
			     &stmt) < 0 ||
	    bind_int(f->store, stmt, 1, grid) < 0 || bind_int(f->store, stmt, 2, crid) < 0 ||
	    (add && bind_int(f->store, stmt, 3, now) < 0) || hl_store_step(f->store, stmt) < 0)
		goto out;
	rc = sqlite3_changes(hl_store_db(f->store)) > 0;
	if (hl_store_commit(f->store) < 0)
		rc = -1;
out:
	if (rc < 0)
		hl_store_rollback(f->store);
	sqlite3_finalize(stmt);
	unlock_fabric(f);
	return rc;
}

/* Add-ADGroupMember: 1 when added, 0 when already a member. */
int fabric_member_add(struct fabric *f, const char *group, const char *computer)
{
	return member_change(f, group, computer, 1);
}

/* Remove-ADGroupMember: 1 when removed, 0 when not a member. */
int fabric_member_remove(struct fabric *f, const char *group, const char *computer)
{
	return member_change(f, group, computer, 0);
}

/* Append the names of the rows SQL (one RID parameter) gives to array ARR. */
static int append_names(struct fabric *f, const char *sql, long long rid, json_t *arr)
{
	sqlite3_stmt *stmt = NULL;
	int r, rc = -1;

	if (hl_store_prepare(f->store, sql, &stmt) < 0 || bind_int(f->store, stmt, 1, rid) < 0)
		goto out;
	while ((r = hl_store_step(f->store, stmt)) == 1)
		json_array_append_new(arr, json_string((const char *)sqlite3_column_text(stmt, 0)));
	rc = r;
out:
	sqlite3_finalize(stmt);
	return rc;
}

/* SQL: the computers of group ?1 (all of them for Domain Computers). */
#define SQL_GROUP_MEMBERS                                                                       \
	"SELECT name FROM principals WHERE kind = 'computer' AND (?1 = 515 OR rid IN "          \
	"(SELECT member_rid FROM members WHERE group_rid = ?1)) ORDER BY name"
/* SQL: the groups of computer ?1 (Domain Computers first). */
#define SQL_COMPUTER_GROUPS                                                                     \
	"SELECT name, rid FROM principals WHERE kind = 'group' AND (rid = 515 OR rid IN "       \
	"(SELECT group_rid FROM members WHERE member_rid = ?1)) ORDER BY rid = 515 DESC, rid"

/* The principals of KIND (only NAME's when not NULL) as a JSON array of objects. */
static int principal_list(struct fabric *f, const char *kind, const char *name, json_t **out)
{
	char sid[FABRIC_SID_MAX], when[32], sam[FABRIC_GROUP_MAX + 1], dns[FABRIC_FQDN_MAX];
	int is_computer = strcmp(kind, "computer") == 0, r, rc = -1;
	sqlite3_stmt *stmt = NULL;
	json_t *arr = NULL, *o, *names;

	*out = NULL;
	lock_fabric(f);
	if (!(arr = json_array())) {
		hl_error("out of memory");
		goto out;
	}
	if (hl_store_prepare(f->store, "SELECT rid, name, description, machine_key, "
			     "key_fingerprint, added FROM principals WHERE kind = ?1 AND "
			     "(?2 IS NULL OR name = ?2) ORDER BY rid", &stmt) < 0 ||
	    bind_text(f->store, stmt, 1, kind) < 0 || bind_text(f->store, stmt, 2, name) < 0)
		goto out;
	while ((r = hl_store_step(f->store, stmt)) == 1) {
		long long rid = sqlite3_column_int64(stmt, 0);
		const char *n = (const char *)sqlite3_column_text(stmt, 1);

		rid_sid(f, rid, sid, sizeof(sid));
		hl_labclock_format((time_t)sqlite3_column_int64(stmt, 5), when, sizeof(when));
		if (!(o = json_object()) || json_array_append_new(arr, o) < 0 ||
		    !(names = json_array())) {
			hl_error("out of memory");
			goto out;
		}
		json_object_set_new(o, "Name", json_string(n));
		if (is_computer) {
			EVP_PKEY *key = NULL;
			enum hl_key_type kt;

			snprintf(sam, sizeof(sam), "%s$", n);
			for (char *p = sam; *p; p++)
				*p = (char)toupper((unsigned char)*p);
			snprintf(dns, sizeof(dns), "%s.%s", n, f->domain);
			json_object_set_new(o, "SamAccountName", json_string(sam));
			json_object_set_new(o, "DNSHostName", json_string(dns));
			json_object_set_new(o, "Sid", json_string(sid));
			if (hl_key_pub_from_der(sqlite3_column_blob(stmt, 3),
						(size_t)sqlite3_column_bytes(stmt, 3), &key) == 0 &&
			    hl_key_type_of(key, &kt) == 0)
				json_object_set_new(o, "KeyType", json_string(hl_key_type_name(kt)));
			else
				json_object_set_new(o, "KeyType", json_string("unreadable"));
			hl_key_free(key);
			json_object_set_new(o, "KeyFingerprint",
					    json_string((const char *)sqlite3_column_text(stmt, 4)));
			json_object_set_new(o, "MemberOf", names);
			if (append_names(f, SQL_COMPUTER_GROUPS, rid, names) < 0)
				goto out;
		} else {
			const char *d = (const char *)sqlite3_column_text(stmt, 2);

			json_object_set_new(o, "SamAccountName", json_string(n));
			json_object_set_new(o, "Sid", json_string(sid));
			json_object_set_new(o, "GroupScope", json_string("Global"));
			json_object_set_new(o, "GroupCategory", json_string("Security"));
			json_object_set_new(o, "Description", d ? json_string(d) : json_null());
			json_object_set_new(o, "Members", names);
			if (append_names(f, SQL_GROUP_MEMBERS, rid, names) < 0)
				goto out;
		}
		json_object_set_new(o, "Added", json_string(when));
	}
	if (r < 0)
		goto out;
	if (name && json_array_size(arr) == 0) {
		hl_error("there is no %s '%s' in %s", kind, name, f->domain);
		goto out;
	}
	*out = arr;
	arr = NULL;
	rc = 0;
out:
	sqlite3_finalize(stmt);
	json_decref(arr);
	unlock_fabric(f);
	return rc;
}

/* Get-ADGroup as JSON. */
int fabric_group_list(struct fabric *f, const char *name, json_t **out)
{
	return principal_list(f, "group", name, out);
}

/* Get-ADComputer as JSON. */
int fabric_computer_list(struct fabric *f, const char *name, json_t **out)
{
	return principal_list(f, "computer", name, out);
}

/* Get-ADDomain as JSON. */
int fabric_domain_json(struct fabric *f, json_t **out)
{
	char when[32], listen[32], fqdn[FABRIC_FQDN_MAX];
	long long offset = 0;
	long pid;
	json_t *o;

	*out = NULL;
	if (hl_labclock_offset(f->dir, &offset) < 0)
		return -1;
	hl_labclock_format(f->created, when, sizeof(when));
	snprintf(listen, sizeof(listen), "%s:%u", f->listen_addr, f->listen_port);
	snprintf(fqdn, sizeof(fqdn), "%s.%s", f->dc_name, f->domain);
	o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:s, s:s}", "Name", f->domain, "DomainSid",
		      f->domain_sid, "DomainController", fqdn, "Listen", listen, "DcThumbprint",
		      f->dc_thumbprint, "TicketLifetimeSeconds", f->ticket_lifetime_s, "Created",
		      when, "Directory", f->dir);
	if (!o)
		return hl_error("out of memory");
	pid = fabric_serving_pid(f->dir);
	json_object_set_new(o, "ServingPid", pid ? json_integer(pid) : json_null());
	json_object_set_new(o, "ClockOffsetSeconds", json_integer(offset));
	*out = o;
	return 0;
}

/* ---- trust ---- */

/* The trust document of F's domain. */
int fabric_trust_export(struct fabric *f, json_t **out)
{
	char fqdn[FABRIC_FQDN_MAX];
	struct hl_buf pem = { 0 };
	json_t *o;

	*out = NULL;
	if (hl_cert_to_pem(f->dc_cert, &pem) < 0)
		return -1;
	snprintf(fqdn, sizeof(fqdn), "%s.%s", f->dc_name, f->domain);
	o = json_pack("{s:s, s:i, s:s, s:s, s:s, s:s, s:s}", "format", "hgslab-fabric-trust",
		      "version", 1, "domain", f->domain, "domain_sid", f->domain_sid,
		      "domain_controller", fqdn, "dc_certificate", (const char *)pem.data,
		      "dc_thumbprint", f->dc_thumbprint);
	hl_buf_free(&pem);
	if (!o)
		return hl_error("out of memory");
	*out = o;
	return 0;
}

/* Free a trust; NULL-safe. */
void fabric_trust_free(struct fabric_trust *t)
{
	if (!t)
		return;
	hl_cert_free(t->dc_cert);
	free(t);
}

/* Check and copy the fields of trust document DOC into T. */
static int trust_fields(const json_t *doc, struct fabric_trust *t)
{
	const char *format, *domain, *sid, *dc, *pem, *thumb;
	EVP_PKEY *pub = NULL;
	enum hl_key_type kt;
	json_int_t version;
	int rc = -1;

	if (!json_is_object(doc))
		return hl_error("a trust document must be a JSON object");
	if (hl_json_get_string(doc, "format", &format) < 0)
		return -1;
	if (strcmp(format, "hgslab-fabric-trust") != 0)
		return hl_error("field 'format' is '%s', expected 'hgslab-fabric-trust' (write it "
				"with `hgslab fabric export-trust`)", format);
	if (hl_json_get_int(doc, "version", &version) < 0)
		return -1;
	if (version != 1)
		return hl_error("trust document version %lld is not supported (expected 1)",
				(long long)version);
	if (hl_json_get_string(doc, "domain", &domain) < 0 || hl_dnsname_check(domain) < 0 ||
	    hl_json_get_string(doc, "domain_sid", &sid) < 0 || hgs_check_sid(sid) < 0 ||
	    hl_json_get_string(doc, "domain_controller", &dc) < 0 ||
	    hl_json_get_string(doc, "dc_certificate", &pem) < 0 ||
	    hl_json_get_string(doc, "dc_thumbprint", &thumb) < 0)
		return -1;
	if (strlen(sid) >= sizeof(t->domain_sid) || strlen(dc) == 0 || strlen(dc) >= sizeof(t->dc))
		return hl_error("field 'domain_sid' or 'domain_controller' is too long or empty");
	snprintf(t->domain, sizeof(t->domain), "%s", domain);
	snprintf(t->domain_sid, sizeof(t->domain_sid), "%s", sid);
	snprintf(t->dc, sizeof(t->dc), "%s", dc);
	if (hl_cert_from_pem(pem, strlen(pem), &t->dc_cert) < 0)
		return hl_error_wrap("field 'dc_certificate'");
	if (hl_cert_thumbprint(t->dc_cert, t->dc_thumbprint) < 0)
		return -1;
	if (strcasecmp(thumb, t->dc_thumbprint) != 0)
		return hl_error("field 'dc_thumbprint' %s does not match the certificate (%s)", thumb,
				t->dc_thumbprint);
	if (hl_cert_pubkey(t->dc_cert, &pub) < 0)
		return -1;
	if (hl_key_type_of(pub, &kt) < 0 || (kt != HL_KEY_RSA2048 && kt != HL_KEY_RSA3072)) {
		hl_error("field 'dc_certificate' must hold an RSA key: tickets are signed PS256");
		goto out;
	}
	if (X509_verify(t->dc_cert, pub) != 1) {
		ERR_clear_error();
		hl_error("field 'dc_certificate' must be the DC's self-signed certificate: its "
			 "signature does not verify with its own key");
		goto out;
	}
	rc = 0;
out:
	hl_key_free(pub);
	return rc;
}

/* Parse and check a trust document. */
int fabric_trust_parse(const void *buf, size_t len, struct fabric_trust **out)
{
	struct fabric_trust *t = NULL;
	json_t *doc = NULL;
	int rc = -1;

	*out = NULL;
	if (hl_json_parse(buf, len, 1 << 20, &doc) < 0)
		return -1;
	if (!(t = calloc(1, sizeof(*t)))) {
		hl_error("out of memory");
		goto out;
	}
	if (trust_fields(doc, t) < 0)
		goto out;
	*out = t;
	t = NULL;
	rc = 0;
out:
	fabric_trust_free(t);
	json_decref(doc);
	return rc;
}

/* ---- tickets ---- */

/* Free a ticket; NULL-safe. */
void fabric_ticket_free(struct fabric_ticket *t)
{
	if (!t)
		return;
	free(t->groups);
	hl_key_free(t->machine_key);
	free(t);
}

/* The bytes a computer signs to ask for a ticket. */
int fabric_ticket_request_message(const char *computer, const unsigned char *nonce, size_t len,
				  struct hl_buf *out)
{
	size_t label = sizeof(TICKET_REQUEST_LABEL), name = strlen(computer) + 1;
	unsigned char *m;

	out->data = NULL;
	out->len = 0;
	if (!(m = malloc(label + name + len + 1)))
		return hl_error("out of memory");
	memcpy(m, TICKET_REQUEST_LABEL, label);
	memcpy(m + label, computer, name);
	memcpy(m + label + name, nonce, len);
	m[label + name + len] = '\0';
	out->data = m;
	out->len = label + name + len;
	return 0;
}

/* Copy string claim NAME of OBJ into BUF of SIZE bytes (non-empty, fits). */
static int claim_str(const json_t *obj, const char *name, char *buf, size_t size)
{
	const char *s;

	if (hl_json_get_string(obj, name, &s) < 0)
		return hl_error_wrap("the ticket's claims");
	if (!*s || strlen(s) >= size)
		return hl_error("the ticket's claim '%s' is empty or longer than %zu characters", name,
				size - 1);
	snprintf(buf, size, "%s", s);
	return 0;
}

/* Read NumericDate claim NAME of OBJ into *OUT. */
static int claim_time(const json_t *obj, const char *name, time_t *out)
{
	json_int_t v;

	if (hl_json_get_int(obj, name, &v) < 0)
		return hl_error_wrap("the ticket's claims");
	if (v <= 0 || v > TICKET_TIME_MAX)
		return hl_error("the ticket's claim '%s' is not a plausible NumericDate", name);
	*out = (time_t)v;
	return 0;
}

/* Read the groups claim of OBJ into T. */
static int claim_groups(const json_t *obj, struct fabric_ticket *t)
{
	json_t *arr, *g;
	size_t i;

	if (hl_json_get_array(obj, "groups", &arr) < 0)
		return hl_error_wrap("the ticket's claims");
	if (json_array_size(arr) > TICKET_GROUPS_MAX)
		return hl_error("the ticket lists more than %d groups", TICKET_GROUPS_MAX);
	if (json_array_size(arr) &&
	    !(t->groups = calloc(json_array_size(arr), sizeof(*t->groups))))
		return hl_error("out of memory");
	json_array_foreach(arr, i, g) {
		if (!json_is_object(g))
			return hl_error("the ticket's group %zu is not an object", i + 1);
		if (claim_str(g, "name", t->groups[i].name, sizeof(t->groups[i].name)) < 0 ||
		    claim_str(g, "sid", t->groups[i].sid, sizeof(t->groups[i].sid)) < 0 ||
		    hgs_check_sid(t->groups[i].sid) < 0)
			return hl_error_wrap("the ticket's group %zu", i + 1);
		t->n_groups++;
	}
	return 0;
}

/* Read the claims of PAYLOAD into T. */
static int ticket_claims(const json_t *payload, struct fabric_ticket *t)
{
	unsigned char *der = NULL;
	size_t der_len = 0;
	char fp[HL_SHA256_HEX_SIZE];
	int rc = -1;

	if (!json_is_object(payload))
		return hl_error("the ticket's claims are not a JSON object");
	if (claim_str(payload, "jti", t->id, sizeof(t->id)) < 0 ||
	    claim_str(payload, "iss", t->domain, sizeof(t->domain)) < 0 ||
	    hl_dnsname_check(t->domain) < 0 ||
	    claim_str(payload, "domain_sid", t->domain_sid, sizeof(t->domain_sid)) < 0 ||
	    hgs_check_sid(t->domain_sid) < 0 ||
	    claim_str(payload, "dc", t->dc, sizeof(t->dc)) < 0 ||
	    claim_str(payload, "computer", t->computer, sizeof(t->computer)) < 0 ||
	    fabric_check_computer_name(t->computer) < 0 ||
	    claim_str(payload, "sub", t->computer_sid, sizeof(t->computer_sid)) < 0 ||
	    hgs_check_sid(t->computer_sid) < 0 || claim_time(payload, "iat", &t->issued) < 0 ||
	    claim_time(payload, "nbf", &t->not_before) < 0 ||
	    claim_time(payload, "exp", &t->expires) < 0 || claim_groups(payload, t) < 0 ||
	    claim_str(payload, "machine_key_sha256", fp, sizeof(fp)) < 0)
		goto out;
	if (t->expires <= t->not_before) {
		hl_error("the ticket expires before it becomes valid");
		goto out;
	}
	if (hl_json_get_base64(payload, "machine_key", &der, &der_len) < 0 ||
	    hl_key_pub_from_der(der, der_len, &t->machine_key) < 0 ||
	    hl_key_fingerprint(t->machine_key, t->machine_key_fp) < 0) {
		hl_error_wrap("the ticket's claim 'machine_key'");
		goto out;
	}
	if (strcasecmp(fp, t->machine_key_fp) != 0) {
		hl_error("the ticket's claim 'machine_key_sha256' does not match its 'machine_key'");
		goto out;
	}
	rc = 0;
out:
	free(der);
	return rc;
}

/*
 * Split and decode JWS into T; *SIGNED_LEN gets the length of the signing
 * input (header.payload) and SIG the signature bytes.
 */
static int ticket_decode(const char *jws, size_t len, struct fabric_ticket *t, size_t *signed_len,
			 struct hl_buf *sig)
{
	const char *d1, *d2, *alg, *typ, *x5t;
	struct hl_buf hb = { 0 }, pb = { 0 };
	json_t *header = NULL, *payload = NULL;
	int rc = -1;

	sig->data = NULL;
	sig->len = 0;
	if (!jws || len == 0)
		return hl_error("the ticket is empty");
	if (len > FABRIC_TICKET_MAX)
		return hl_error("the ticket is %zu bytes, more than the %d a ticket may have", len,
				FABRIC_TICKET_MAX);
	if (!(d1 = memchr(jws, '.', len)) || !(d2 = memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - jws))) ||
	    memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - jws)))
		return hl_error("the ticket is not a JWS compact serialization "
				"(BASE64URL(header).BASE64URL(claims).BASE64URL(signature))");
	if (b64url_decode(jws, (size_t)(d1 - jws), "header", &hb) < 0 ||
	    b64url_decode(d1 + 1, (size_t)(d2 - d1 - 1), "claims", &pb) < 0 ||
	    b64url_decode(d2 + 1, len - (size_t)(d2 + 1 - jws), "signature", sig) < 0)
		goto out;
	if (hl_json_parse(hb.data, hb.len, 4096, &header) < 0) {
		hl_error_wrap("the ticket's header");
		goto out;
	}
	if (!json_is_object(header)) {
		hl_error("the ticket's header is not a JSON object");
		goto out;
	}
	if (hl_json_get_string(header, "alg", &alg) < 0 ||
	    hl_json_get_string_opt(header, "typ", "JWT", &typ) < 0 ||
	    hl_json_get_string(header, "x5t#S256", &x5t) < 0) {
		hl_error_wrap("the ticket's header");
		goto out;
	}
	if (strcmp(alg, "PS256") != 0) {
		hl_error("the ticket's header names algorithm '%s'; tickets are signed PS256", alg);
		goto out;
	}
	if (strcmp(typ, "JWT") != 0 || json_object_get(header, "crit") || strlen(x5t) >= sizeof(t->x5t)) {
		hl_error("the ticket's header has an unsupported 'typ', a 'crit' member or an "
			 "oversized 'x5t#S256'");
		goto out;
	}
	snprintf(t->x5t, sizeof(t->x5t), "%s", x5t);
	if (hl_json_parse(pb.data, pb.len, FABRIC_TICKET_MAX, &payload) < 0) {
		hl_error_wrap("the ticket's claims");
		goto out;
	}
	if (ticket_claims(payload, t) < 0)
		goto out;
	if (sig->len == 0) {
		hl_error("the ticket has no signature");
		goto out;
	}
	*signed_len = (size_t)(d2 - jws);
	rc = 0;
out:
	if (rc < 0)
		hl_buf_free(sig);
	hl_buf_free(&hb);
	hl_buf_free(&pb);
	json_decref(header);
	json_decref(payload);
	return rc;
}

/* Read a ticket without checking its signature. */
int fabric_ticket_decode(const char *jws, size_t len, struct fabric_ticket **out)
{
	struct fabric_ticket *t;
	struct hl_buf sig = { 0 };
	size_t signed_len;

	*out = NULL;
	if (!(t = calloc(1, sizeof(*t))))
		return hl_error("out of memory");
	if (ticket_decode(jws, len, t, &signed_len, &sig) < 0) {
		fabric_ticket_free(t);
		return -1;
	}
	hl_buf_free(&sig);
	*out = t;
	return 0;
}

/* Drop the group SIDs of T that do not belong to DOMAIN_SID (SID filtering). */
static void sid_filter(struct fabric_ticket *t, const char *domain_sid)
{
	size_t kept = 0;

	for (size_t i = 0; i < t->n_groups; i++) {
		if (fabric_sid_in_domain(t->groups[i].sid, domain_sid))
			t->groups[kept++] = t->groups[i];
		else
			t->n_filtered++;
	}
	t->n_groups = kept;
}

/* Verify a ticket against a trusted domain (times aside). */
int fabric_ticket_verify(const char *jws, size_t len, const struct fabric_trust *trust,
			 time_t now, struct fabric_ticket **out)
{
	struct fabric_ticket *t = NULL;
	struct hl_buf sig = { 0 };
	char x5t[64], when[32];
	EVP_PKEY *pub = NULL;
	time_t nb, na;
	size_t signed_len;
	int rc = -1;

	*out = NULL;
	if (!(t = calloc(1, sizeof(*t))))
		return hl_error("out of memory");
	if (ticket_decode(jws, len, t, &signed_len, &sig) < 0 || cert_x5t(trust->dc_cert, x5t) < 0)
		goto out;
	if (strcmp(x5t, t->x5t) != 0) {
		hl_error("the ticket was signed by another key than the DC key %s is trusted with "
			 "(its header names x5t#S256 %s, the trust holds %s); re-import the trust "
			 "if the DC key changed", trust->domain, t->x5t, x5t);
		goto out;
	}
	if (hl_cert_pubkey(trust->dc_cert, &pub) < 0)
		goto out;
	if (hl_crypto_verify(pub, HL_SIG_RSA_PSS, jws, signed_len, sig.data, sig.len) < 0) {
		hl_error("the ticket's signature does not verify with the DC certificate of %s: it "
			 "was altered or not issued by %s", trust->domain, trust->dc);
		goto out;
	}
	if (strcasecmp(t->domain, trust->domain) != 0 || strcmp(t->domain_sid, trust->domain_sid) != 0) {
		hl_error("the ticket names domain '%s' (%s) but is signed by the DC of '%s' (%s)",
			 t->domain, t->domain_sid, trust->domain, trust->domain_sid);
		goto out;
	}
	if (hl_cert_validity(trust->dc_cert, &nb, &na) < 0)
		goto out;
	if (now < nb || now > na) {
		hl_labclock_format(now < nb ? nb : na, when, sizeof(when));
		hl_error("the DC certificate of %s is %s %s; re-import the domain's trust",
			 trust->domain, now < nb ? "not valid before" : "expired on", when);
		goto out;
	}
	if (!fabric_sid_in_domain(t->computer_sid, trust->domain_sid)) {
		hl_error("the ticket's computer SID %s is not in domain %s (%s)", t->computer_sid,
			 trust->domain, trust->domain_sid);
		goto out;
	}
	sid_filter(t, trust->domain_sid);
	*out = t;
	t = NULL;
	rc = 0;
out:
	hl_key_free(pub);
	hl_buf_free(&sig);
	fabric_ticket_free(t);
	return rc;
}

/* Check a ticket's validity period at NOW, with the Kerberos skew. */
int fabric_ticket_check_time(const struct fabric_ticket *t, time_t now)
{
	char when[32];

	if (now > t->expires + FABRIC_CLOCK_SKEW_S) {
		hl_labclock_format(t->expires, when, sizeof(when));
		return hl_error("the ticket expired at %s (KRB_AP_ERR_TKT_EXPIRED); get a fresh one "
				"from the domain controller", when);
	}
	if (now + FABRIC_CLOCK_SKEW_S < t->not_before) {
		hl_labclock_format(t->not_before, when, sizeof(when));
		return hl_error("the ticket is not valid before %s (KRB_AP_ERR_TKT_NYV): the DC's "
				"clock and this one differ by more than %d minutes", when,
				FABRIC_CLOCK_SKEW_S / 60);
	}
	return 0;
}

/*
 * Read computer NAME's account: 1 with its canonical name, RID and machine
 * key, 0 when there is none.
 */
static int computer_account(struct fabric *f, const char *name, char canon[FABRIC_COMPUTER_MAX],
			    long long *rid, EVP_PKEY **key)
{
	sqlite3_stmt *stmt = NULL;
	int r;

	*key = NULL;
	lock_fabric(f);
	if (hl_store_prepare(f->store, "SELECT rid, name, machine_key FROM principals WHERE "
			     "kind = 'computer' AND name = ?", &stmt) < 0 ||
	    bind_text(f->store, stmt, 1, name) < 0) {
		r = -1;
		goto out;
	}
	r = hl_store_step(f->store, stmt);
	if (r == 1) {
		*rid = sqlite3_column_int64(stmt, 0);
		snprintf(canon, FABRIC_COMPUTER_MAX, "%s", (const char *)sqlite3_column_text(stmt, 1));
		if (hl_key_pub_from_der(sqlite3_column_blob(stmt, 2),
					(size_t)sqlite3_column_bytes(stmt, 2), key) < 0)
			r = hl_error_wrap("the machine key of computer '%s' is damaged", canon);
	}
out:
	sqlite3_finalize(stmt);
	unlock_fabric(f);
	return r;
}

/* The groups of computer RID as the ticket's JSON array into *OUT. */
static int ticket_groups(struct fabric *f, long long rid, json_t **out)
{
	char sid[FABRIC_SID_MAX];
	sqlite3_stmt *stmt = NULL;
	json_t *arr;
	int r, rc = -1;

	*out = NULL;
	if (!(arr = json_array()))
		return hl_error("out of memory");
	lock_fabric(f);
	if (hl_store_prepare(f->store, SQL_COMPUTER_GROUPS, &stmt) < 0 ||
	    bind_int(f->store, stmt, 1, rid) < 0)
		goto out;
	while ((r = hl_store_step(f->store, stmt)) == 1) {
		rid_sid(f, sqlite3_column_int64(stmt, 1), sid, sizeof(sid));
		json_array_append_new(arr, json_pack("{s:s, s:s}", "name",
						     (const char *)sqlite3_column_text(stmt, 0),
						     "sid", sid));
	}
	if (r < 0)
		goto out;
	*out = arr;
	arr = NULL;
	rc = 0;
out:
	sqlite3_finalize(stmt);
	unlock_fabric(f);
	json_decref(arr);
	return rc;
}

/* Issue a signed ticket for COMPUTER at the DC clock. */
int fabric_ticket_issue(struct fabric *f, const char *computer, char **jws,
			struct fabric_ticket **info)
{
	char canon[FABRIC_COMPUTER_MAX], sid[FABRIC_SID_MAX], fqdn[FABRIC_FQDN_MAX], x5t[64];
	char fp[HL_SHA256_HEX_SIZE], jti[33];
	unsigned char rnd[16];
	struct hl_buf der = { 0 }, sig = { 0 };
	char *header_txt = NULL, *payload_txt = NULL, *h64 = NULL, *p64 = NULL, *s64 = NULL;
	char *signing = NULL, *result = NULL;
	json_t *header = NULL, *payload = NULL, *groups = NULL;
	EVP_PKEY *key = NULL;
	long long rid;
	size_t n;
	time_t now;
	int rc = -1, r;

	*jws = NULL;
	if (info)
		*info = NULL;
	if (!f->dc_key)
		return hl_error("cannot issue tickets: the DC signing key is not loaded");
	if (fabric_check_computer_name(computer) < 0)
		return -1;
	r = computer_account(f, computer, canon, &rid, &key);
	if (r < 0)
		return -1;
	if (r == 0)
		return hl_error("there is no computer account '%s' in %s", computer, f->domain);
	if (fabric_now(f, &now) < 0 || ticket_groups(f, rid, &groups) < 0 ||
	    hl_key_pub_to_der(key, &der) < 0 || hl_key_fingerprint(key, fp) < 0 ||
	    hl_crypto_random(rnd, sizeof(rnd)) < 0 ||
	    hl_crypto_hex_encode(rnd, sizeof(rnd), jti, sizeof(jti)) < 0 ||
	    cert_x5t(f->dc_cert, x5t) < 0)
		goto out;
	rid_sid(f, rid, sid, sizeof(sid));
	snprintf(fqdn, sizeof(fqdn), "%s.%s", f->dc_name, f->domain);
	header = json_pack("{s:s, s:s, s:s}", "alg", "PS256", "typ", "JWT", "x5t#S256", x5t);
	payload = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:O, s:s}", "jti", jti,
			    "iss", f->domain, "domain_sid", f->domain_sid, "dc", fqdn, "sub", sid,
			    "computer", canon, "iat", (json_int_t)now, "nbf", (json_int_t)now,
			    "exp", (json_int_t)(now + f->ticket_lifetime_s), "groups", groups,
			    "machine_key_sha256", fp);
	if (!header || !payload) {
		hl_error("out of memory");
		goto out;
	}
	if (hl_json_set_base64(payload, "machine_key", der.data, der.len) < 0 ||
	    hl_json_dump(header, &header_txt) < 0 || hl_json_dump(payload, &payload_txt) < 0 ||
	    b64url_encode(header_txt, strlen(header_txt), &h64) < 0 ||
	    b64url_encode(payload_txt, strlen(payload_txt), &p64) < 0)
		goto out;
	n = strlen(h64) + 1 + strlen(p64);
	if (!(signing = malloc(n + 1))) {
		hl_error("out of memory");
		goto out;
	}
	snprintf(signing, n + 1, "%s.%s", h64, p64);
	if (hl_crypto_sign(f->dc_key, HL_SIG_RSA_PSS, signing, n, &sig) < 0 ||
	    b64url_encode(sig.data, sig.len, &s64) < 0)
		goto out;
	if (!(result = malloc(n + 1 + strlen(s64) + 1))) {
		hl_error("out of memory");
		goto out;
	}
	snprintf(result, n + 1 + strlen(s64) + 1, "%s.%s", signing, s64);
	if (info && fabric_ticket_decode(result, strlen(result), info) < 0)
		goto out;
	*jws = result;
	result = NULL;
	rc = 0;
out:
	hl_key_free(key);
	hl_buf_free(&der);
	hl_buf_free(&sig);
	json_decref(header);
	json_decref(payload);
	json_decref(groups);
	free(header_txt);
	free(payload_txt);
	free(h64);
	free(p64);
	free(s64);
	free(signing);
	free(result);
	return rc;
}

/* ---- the domain controller ---- */

struct fabric_dc {
	struct fabric *f;
	struct hl_http_server *http;
	struct hl_nonce_table *nonces;
};

/* Issue a fresh DC nonce into N, valid until *EXPIRES (DC clock). */
static int nonce_issue(struct fabric_dc *dc, unsigned char n[HL_NONCE_LEN], time_t *expires)
{
	time_t now;

	if (fabric_now(dc->f, &now) < 0)
		return -1;
	return hl_nonce_issue(dc->nonces, now, n, expires);
}

/* Consume nonce N (LEN bytes): 0 when it was fresh, -1 with the reason otherwise. */
static int nonce_consume(struct fabric_dc *dc, const unsigned char *n, size_t len)
{
	time_t now;

	if (len != HL_NONCE_LEN)
		return hl_error("the DC nonce must be %d bytes, got %zu", HL_NONCE_LEN, len);
	if (fabric_now(dc->f, &now) < 0)
		return -1;
	switch (hl_nonce_consume(dc->nonces, n, now, NULL)) {
	case HL_NONCE_FRESH:
		return 0;
	case HL_NONCE_USED:
		return hl_error("KRB_AP_ERR_REPEAT: the DC nonce was already used (a replay)");
	case HL_NONCE_EXPIRED:
		return hl_error("KRB_AP_ERR_SKEW: the DC nonce expired; get a fresh one");
	case HL_NONCE_UNKNOWN:
		break;
	}
	return hl_error("KDC_ERR_PREAUTH_FAILED: the DC nonce is unknown to this DC (expired, from "
			"another DC, or issued before a restart); get a fresh one from "
			"/Fabric/v1/nonce");
}

/* Reply with JSON object O (stolen) and status 200; -1 when out of memory. */
static int reply_json(struct hl_http_response *resp, json_t *o)
{
	int rc;

	if (!o)
		return hl_error("out of memory");
	rc = hl_http_response_json(resp, 200, o);
	json_decref(o);
	return rc;
}

/* GET /Fabric/v1/info: the domain and its DC certificate. */
static int route_info(const struct hl_http_request *req, struct hl_http_response *resp, void *user)
{
	struct fabric_dc *dc = user;
	struct fabric *f = dc->f;
	char fqdn[FABRIC_FQDN_MAX], when[32];
	struct hl_buf pem = { 0 };
	time_t now;
	int rc;

	(void)req;
	if (fabric_now(f, &now) < 0 || hl_cert_to_pem(f->dc_cert, &pem) < 0)
		return -1;
	hl_labclock_format(now, when, sizeof(when));
	snprintf(fqdn, sizeof(fqdn), "%s.%s", f->dc_name, f->domain);
	rc = reply_json(resp, json_pack("{s:i, s:s, s:s, s:s, s:s, s:s, s:i, s:i, s:i, s:s}",
					"protocol", 1, "domain", f->domain, "domain_sid",
					f->domain_sid, "domain_controller", fqdn, "dc_certificate",
					(const char *)pem.data, "dc_thumbprint", f->dc_thumbprint,
					"ticket_lifetime_seconds", f->ticket_lifetime_s,
					"nonce_lifetime_seconds", FABRIC_NONCE_LIFETIME_S,
					"clock_skew_seconds", FABRIC_CLOCK_SKEW_S, "time", when));
	hl_buf_free(&pem);
	return rc;
}

/* GET or POST /Fabric/v1/nonce: a fresh single-use DC nonce. */
static int route_nonce(const struct hl_http_request *req, struct hl_http_response *resp, void *user)
{
	struct fabric_dc *dc = user;
	unsigned char n[HL_NONCE_LEN];
	char when[32];
	time_t expires;
	json_t *o;

	(void)req;
	if (nonce_issue(dc, n, &expires) < 0)
		return -1;
	hl_labclock_format(expires, when, sizeof(when));
	o = json_pack("{s:s, s:I, s:i}", "expires", when, "expires_unix", (json_int_t)expires,
		      "lifetime_seconds", FABRIC_NONCE_LIFETIME_S);
	if (o && hl_json_set_base64(o, "nonce", n, sizeof(n)) < 0) {
		json_decref(o);
		return -1;
	}
	return reply_json(resp, o);
}

/* The ticket reply for JWS describing T. */
static json_t *ticket_reply(const char *jws, const struct fabric_ticket *t)
{
	char issued[32], expires[32];
	json_t *o, *groups;

	hl_labclock_format(t->issued, issued, sizeof(issued));
	hl_labclock_format(t->expires, expires, sizeof(expires));
	o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I}", "ticket", jws, "domain", t->domain,
		      "computer", t->computer, "computer_sid", t->computer_sid, "dc", t->dc,
		      "issued", issued, "expires", expires, "expires_unix", (json_int_t)t->expires);
	if (!o || !(groups = json_array()) || json_object_set_new(o, "groups", groups) < 0) {
		json_decref(o);
		return NULL;
	}
	for (size_t i = 0; i < t->n_groups; i++)
		json_array_append_new(groups, json_pack("{s:s, s:s}", "name", t->groups[i].name,
							"sid", t->groups[i].sid));
	return o;
}

/* POST /Fabric/v1/ticket: a membership ticket for a computer proving its machine key. */
static int route_ticket(const struct hl_http_request *req, struct hl_http_response *resp,
			void *user)
{
	struct fabric_dc *dc = user;
	struct fabric *f = dc->f;
	char canon[FABRIC_COMPUTER_MAX], *jws = NULL;
	unsigned char *nonce = NULL, *sig = NULL;
	size_t nonce_len = 0, sig_len = 0;
	struct fabric_ticket *t = NULL;
	struct hl_buf msg = { 0 };
	const char *computer;
	json_t *body = NULL;
	EVP_PKEY *key = NULL;
	long long rid;
	int rc = -1, r;

	if (hl_json_parse(req->body, req->body_len, DC_MAX_BODY, &body) < 0 ||
	    hl_json_get_string(body, "computer", &computer) < 0 ||
	    fabric_check_computer_name(computer) < 0 ||
	    hl_json_get_base64(body, "nonce", &nonce, &nonce_len) < 0 ||
	    hl_json_get_base64(body, "signature", &sig, &sig_len) < 0) {
		hl_log_warn("ticket request from %s refused: %s", req->remote, hl_error_last());
		rc = hl_http_response_error(resp, 400, "%s", hl_error_last());
		goto out;
	}
	if (nonce_consume(dc, nonce, nonce_len) < 0) {
		hl_log_warn("ticket request for '%s' from %s refused: %s", computer, req->remote,
			    hl_error_last());
		rc = hl_http_response_error(resp, 401, "%s", hl_error_last());
		goto out;
	}
	r = computer_account(f, computer, canon, &rid, &key);
	if (r < 0)
		goto out;
	if (r == 0) {
		hl_log_warn("ticket request for unknown computer '%s' from %s refused", computer,
			    req->remote);
		rc = hl_http_response_error(resp, 403, "KDC_ERR_C_PRINCIPAL_UNKNOWN: there is no "
					    "computer account '%s' in %s", computer, f->domain);
		goto out;
	}
	if (fabric_ticket_request_message(computer, nonce, nonce_len, &msg) < 0)
		goto out;
	if (hl_crypto_verify(key, HL_SIG_DEFAULT, msg.data, msg.len, sig, sig_len) < 0) {
		hl_log_warn("ticket request for '%s' from %s refused: bad signature", canon,
			    req->remote);
		rc = hl_http_response_error(resp, 403, "KDC_ERR_PREAUTH_FAILED: the signature does "
					    "not verify with the machine key of computer account "
					    "'%s': the requester does not hold that key", canon);
		goto out;
	}
	if (fabric_ticket_issue(f, canon, &jws, &t) < 0)
		goto out;
	hl_log_info("ticket %s issued to %s (%s) from %s, %zu groups, valid %d s", t->id, canon,
		    t->computer_sid, req->remote, t->n_groups, f->ticket_lifetime_s);
	rc = reply_json(resp, ticket_reply(jws, t));
out:
	if (rc < 0)
		hl_log_error("ticket request from %s failed: %s", req->remote, hl_error_last());
	json_decref(body);
	free(nonce);
	free(sig);
	free(jws);
	hl_buf_free(&msg);
	hl_key_free(key);
	fabric_ticket_free(t);
	return rc;
}

/* Start the DC's HTTP service for F. */
int fabric_dc_start(struct fabric *f, const char *addr, unsigned short port, struct fabric_dc **out)
{
	struct hl_http_server_config cfg = { 0 };
	struct fabric_dc *dc;
	struct hl_http_route routes[4];

	*out = NULL;
	if (!f->dc_key)
		return hl_error("cannot serve the DC: its signing key is not loaded");
	if (!(dc = calloc(1, sizeof(*dc))))
		return hl_error("out of memory");
	dc->f = f;
	if (hl_nonce_table_new(FABRIC_NONCE_TABLE_SIZE, FABRIC_NONCE_LIFETIME_S, &dc->nonces) < 0) {
		free(dc);
		return -1;
	}
	routes[0] = (struct hl_http_route){ "GET", "/Fabric/v1/info", route_info, dc };
	routes[1] = (struct hl_http_route){ "GET", "/Fabric/v1/nonce", route_nonce, dc };
	routes[2] = (struct hl_http_route){ "POST", "/Fabric/v1/nonce", route_nonce, dc };
	routes[3] = (struct hl_http_route){ "POST", "/Fabric/v1/ticket", route_ticket, dc };
	cfg.address = addr;
	cfg.port = port;
	cfg.routes = routes;
	cfg.n_routes = sizeof(routes) / sizeof(routes[0]);
	cfg.max_body = DC_MAX_BODY;
	if (hl_http_server_start(&cfg, &dc->http) < 0) {
		fabric_dc_stop(dc);
		return -1;
	}
	*out = dc;
	return 0;
}

/* The port the DC listens on. */
unsigned short fabric_dc_port(const struct fabric_dc *dc)
{
	return hl_http_server_port(dc->http);
}

/* Stop the DC and free it; NULL-safe. */
void fabric_dc_stop(struct fabric_dc *dc)
{
	if (!dc)
		return;
	hl_http_server_stop(dc->http);
	hl_nonce_table_free(dc->nonces);
	free(dc);
}

/* The pid of the live `fabric serve` on DIR, or 0. */
long fabric_serving_pid(const char *dir)
{
	return hl_served_pid(dir, FABRIC_PID_FILE);
}

/* `hgslab fabric serve`: the DC until SIGTERM or SIGINT (the run is lib/served.h's). */
int fabric_serve(const char *dir, const char *listen, enum hl_log_level level)
{
	struct hl_served_run run = { 0 };
	struct fabric *f = NULL;
	struct fabric_dc *dc = NULL;
	char addr[16];
	unsigned short port;
	int rc = -1;

	if (fabric_open(dir, FABRIC_OPEN_KEYS, &f) < 0)
		return -1;
	if (listen) {
		if (hl_served_parse_listen(listen, addr, &port) < 0)
			goto out;
	} else {
		snprintf(addr, sizeof(addr), "%s", f->listen_addr);
		port = f->listen_port;
	}
	if (hl_served_refuse_other(f->dir, FABRIC_PID_FILE, "DC of") < 0 ||
	    hl_served_log_open("dc", f->dir, FABRIC_LOG_FILE, level) < 0 ||
	    hl_served_block_signals(&run) < 0 || fabric_dc_start(f, addr, port, &dc) < 0 ||
	    hl_served_write_pid(&run, f->dir, FABRIC_PID_FILE) < 0)
		goto out;
	hl_log_info("DC %s.%s for %s (%s) serving on http://%s:%u from '%s'", f->dc_name, f->domain,
		    f->domain, f->domain_sid, addr, fabric_dc_port(dc), f->dir);
	if (hl_served_ready("fabric: DC for %s serving on http://%s:%u\n", f->domain, addr,
			    fabric_dc_port(dc)) < 0)
		goto out;
	hl_served_wait(&run);
	rc = 0;
out:
	fabric_dc_stop(dc);
	hl_served_finish(&run, rc);
	fabric_close(f);
	return rc;
}
