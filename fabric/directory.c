/*
 * directory.c - the simulated fabric Active Directory (directory.h): the
 * fabric directory's domain, computer accounts, global groups and
 * memberships in a lib/store SQLite database, its creation with the DC
 * signing key, the Get-AD* listings, what a computer's ticket says (the
 * PAC the DC signs, fabric/dc.c) and the trust document the HGS domain
 * imports (written by proto/ad_trust.c).
 *
 * `hgslab fabric` verbs (cmd/cmd_fabric.c) administer it.  A fabric
 * directory is a served directory like an HGS node: its creation, pid file,
 * listen address, lab clock and domain names are lib/'s (lib/served.h,
 * lib/labclock.h, lib/dnsname.h), so both sides read them the same way.
 */
#include "fabric/directory.h"

#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "lib/fileio.h"
#include "lib/json.h"
#include "lib/labclock.h"
#include "lib/served.h"
#include "proto/names.h"

/* The DC certificate: backdated a day (lab clocks may run behind), valid ten years. */
#define DC_CERT_BACKDATE_S (24L * 3600)
#define DC_CERT_LIFETIME_S (10L * 365 * 24 * 3600)

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

/* The SID of RID in F's domain into BUF (AD_SID_MAX bytes). */
static void rid_sid(const struct fabric *f, long long rid, char *buf, size_t size)
{
	snprintf(buf, size, "%s-%lld", f->domain_sid, rid);
}

/* ---- names ---- */

/* Check a DC name (NetBIOS rules, like a computer name). */
static int check_dc_name(const char *name)
{
	if (hl_name_computer("computer name", name) < 0)
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
	char fqdn[AD_FQDN_MAX], path[PATH_MAX];
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
	if (hl_store_begin(st) < 0)
		return -1;
	if (hl_store_run(st, "INSERT INTO domain(id, name, sid, dc_name, listen, ticket_lifetime_s, "
			 "next_rid, created) VALUES(1, ?, ?, ?, ?, ?, ?, ?)",
			 HL_VALS(HL_IN_TEXT(p->domain), HL_IN_TEXT(sid), HL_IN_TEXT(dc_name),
				 HL_IN_TEXT(p->listen), HL_IN_INT(lifetime),
				 HL_IN_INT(FABRIC_RID_FIRST), HL_IN_INT(now))) < 0 ||
	    hl_store_run(st, "INSERT INTO principals(rid, kind, name, description, added) "
			 "VALUES(?, 'group', ?, ?, ?)",
			 HL_VALS(HL_IN_INT(FABRIC_RID_DOMAIN_COMPUTERS),
				 HL_IN_TEXT(FABRIC_DOMAIN_COMPUTERS),
				 HL_IN_TEXT("All workstations and servers joined to the domain"),
				 HL_IN_INT(now))) < 0 ||
	    hl_store_commit(st) < 0) {
		hl_store_rollback(st);
		return -1;
	}
	return 0;
}

/* Create a fabric directory (`fabric new`), built beside DIR and renamed into place. */
int fabric_create(const struct fabric_new_params *p)
{
	struct hl_served_new s;
	char path[PATH_MAX], addr[16], sid[AD_SID_MAX];
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
	if ((rc = hl_served_new_begin(&s, p->dir, "a fabric directory")) < 0)
		goto out;
	rc = -1;
	if ((has = hl_served_new_target(&s, "a fabric directory")) < 0)
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
	char *listen = NULL;
	int r;

	r = hl_store_get(f->store, "SELECT name, sid, dc_name, listen, ticket_lifetime_s, created "
			 "FROM domain WHERE id = 1",
			 HL_VALS(HL_OUT_TEXT(f->domain, sizeof(f->domain)),
				 HL_OUT_TEXT(f->domain_sid, sizeof(f->domain_sid)),
				 HL_OUT_TEXT(f->dc_name, sizeof(f->dc_name)), HL_OUT_STR(&listen),
				 HL_OUT_INT(&f->ticket_lifetime_s), HL_OUT_TIME(&f->created)));
	if (r == 0)
		hl_error("fabric directory '%s' has no domain row: it is damaged", f->dir);
	else if (r == 1 && hl_served_parse_listen(listen, f->listen_addr, &f->listen_port) < 0)
		r = -1;
	free(listen);
	return r == 1 ? 0 : -1;
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
	struct fabric *f = NULL;
	char path[PATH_MAX];
	int rc = -1, has;

	*out = NULL;
	if (!dir || !*dir)
		return hl_error("no fabric directory given");
	if (!(f = calloc(1, sizeof(*f))))
		return hl_error("out of memory");
	hl_served_lock_init(&f->lock);
	has = hl_served_open(dir, FABRIC_DB_FILE, &f->dir, path, sizeof(path));
	if (has < 0)
		goto out;
	if (!has) {
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
 * 1 with its RID and canonical name (into CANON of CANON_SIZE), 0 when absent.
 */
static int principal_find(struct fabric *f, const char *kind, const char *name, long long *rid,
			  char *canon, size_t canon_size)
{
	return hl_store_get(f->store, "SELECT rid, name FROM principals WHERE kind = ? AND name = ?",
			    HL_VALS(HL_IN_TEXT(kind), HL_IN_TEXT(name), HL_OUT_INT64(rid),
				    HL_OUT_TEXT(canon, canon_size)));
}

/* Take the next RID of F's domain (inside a transaction). */
static int next_rid(struct fabric *f, long long *rid)
{
	if (hl_store_get(f->store, "SELECT next_rid FROM domain WHERE id = 1",
			 HL_VALS(HL_OUT_INT64(rid))) != 1)
		return -1;
	return hl_store_run(f->store, "UPDATE domain SET next_rid = next_rid + 1 WHERE id = 1",
			    NULL, 0);
}

/*
 * Insert a principal of KIND named NAME (DESCRIPTION, and for a computer the
 * machine key DER KEY / fingerprint FP) with a fresh RID, refusing duplicates.
 */
static int principal_add(struct fabric *f, const char *kind, const char *name,
			 const char *description, const struct hl_buf *key, const char *fp)
{
	char other[HL_NAME_GROUP_SIZE];
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
		r = hl_store_get(f->store, "SELECT name FROM principals WHERE key_fingerprint = ?",
				 HL_VALS(HL_IN_TEXT(fp), HL_OUT_TEXT(other, sizeof(other))));
		if (r < 0)
			goto out;
		if (r) {
			hl_error("this machine key (SHA-256 %.16s...) already belongs to computer '%s'; "
				 "each computer account has its own key", fp, other);
			goto out;
		}
	}
	if (next_rid(f, &rid) < 0 ||
	    hl_store_run(f->store, "INSERT INTO principals(rid, kind, name, description, "
			 "machine_key, key_fingerprint, added) VALUES(?, ?, ?, ?, ?, ?, ?)",
			 HL_VALS(HL_IN_INT(rid), HL_IN_TEXT(kind), HL_IN_TEXT(name),
				 HL_IN_TEXT(description), HL_IN_BLOB(key ? key->data : NULL,
								     key ? key->len : 0),
				 HL_IN_TEXT(fp), HL_IN_INT(now))) < 0 ||
	    hl_store_commit(f->store) < 0)
		goto out;
	rc = 0;
out:
	if (rc < 0)
		hl_store_rollback(f->store);
	unlock_fabric(f);
	return rc;
}

/* New-ADGroup: a global security group. */
int fabric_group_add(struct fabric *f, const char *name, const char *description)
{
	if (hl_name_group(name) < 0)
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

	if (hl_name_computer("computer name", name) < 0)
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

	if ((r = principal_find(f, "group", group, grid, gname, HL_NAME_GROUP_SIZE)) < 0)
		return -1;
	if (!r)
		return hl_error("there is no group '%s' in %s; create it with `hgslab fabric "
				"add-group`", group, f->domain);
	if ((r = principal_find(f, "computer", computer, crid, cname, HL_NAME_COMPUTER_SIZE)) < 0)
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
	char gname[HL_NAME_GROUP_SIZE], cname[HL_NAME_COMPUTER_SIZE];
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
	if ((add ? hl_store_run(f->store, "INSERT OR IGNORE INTO members(group_rid, member_rid, "
				"added) VALUES(?, ?, ?)",
				HL_VALS(HL_IN_INT(grid), HL_IN_INT(crid), HL_IN_INT(now)))
		 : hl_store_run(f->store, "DELETE FROM members WHERE group_rid = ? AND "
				"member_rid = ?", HL_VALS(HL_IN_INT(grid), HL_IN_INT(crid)))) < 0)
		goto out;
	rc = hl_store_changes(f->store) > 0;
	if (hl_store_commit(f->store) < 0)
		rc = -1;
out:
	if (rc < 0)
		hl_store_rollback(f->store);
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
	char name[HL_NAME_GROUP_SIZE];
	struct hl_store_stmt *stmt = NULL;
	int r;

	if (hl_store_query(f->store, sql, HL_VALS(HL_IN_INT(rid)), &stmt) < 0)
		return -1;
	while ((r = hl_store_next(f->store, stmt, HL_VALS(HL_OUT_TEXT(name, sizeof(name))))) == 1)
		json_array_append_new(arr, json_string(name));
	hl_store_stmt_done(f->store, stmt);
	return r;
}

/* SQL: the computers of group ?1 (all of them for Domain Computers). */
#define SQL_GROUP_MEMBERS                                                                       \
	"SELECT name FROM principals WHERE kind = 'computer' AND (?1 = 515 OR rid IN "          \
	"(SELECT member_rid FROM members WHERE group_rid = ?1)) ORDER BY name"
/* SQL: the groups of computer ?1 (Domain Computers first). */
#define SQL_COMPUTER_GROUPS                                                                     \
	"SELECT name, rid FROM principals WHERE kind = 'group' AND (rid = 515 OR rid IN "       \
	"(SELECT group_rid FROM members WHERE member_rid = ?1)) ORDER BY rid = 515 DESC, rid"

/* One row of the principals table, as principal_list() reads it. */
struct principal_row {
	long long rid;
	char name[HL_NAME_GROUP_SIZE];
	char *description;               /* NULL for none */
	struct hl_buf key;               /* a computer's machine key (DER), else empty */
	char fingerprint[HL_SHA256_HEX_SIZE];
	time_t added;
};

/* Append ROW as Get-ADComputer (IS_COMPUTER) or Get-ADGroup shows it to array ARR. */
static int principal_json(struct fabric *f, int is_computer, const struct principal_row *row,
			  json_t *arr)
{
	char sid[AD_SID_MAX], when[32], sam[HL_NAME_GROUP_SIZE + 1], dns[AD_FQDN_MAX];
	json_t *o, *names;

	rid_sid(f, row->rid, sid, sizeof(sid));
	hl_labclock_format(row->added, when, sizeof(when));
	if (!(o = json_object()) || json_array_append_new(arr, o) < 0 || !(names = json_array()))
		return hl_error("out of memory");
	json_object_set_new(o, "Name", json_string(row->name));
	if (is_computer) {
		EVP_PKEY *key = NULL;
		enum hl_key_type kt;

		snprintf(sam, sizeof(sam), "%s$", row->name);
		for (char *p = sam; *p; p++)
			*p = (char)toupper((unsigned char)*p);
		snprintf(dns, sizeof(dns), "%s.%s", row->name, f->domain);
		json_object_set_new(o, "SamAccountName", json_string(sam));
		json_object_set_new(o, "DNSHostName", json_string(dns));
		json_object_set_new(o, "Sid", json_string(sid));
		if (hl_key_pub_from_der(row->key.data, row->key.len, &key) == 0 &&
		    hl_key_type_of(key, &kt) == 0)
			json_object_set_new(o, "KeyType", json_string(hl_key_type_name(kt)));
		else
			json_object_set_new(o, "KeyType", json_string("unreadable"));
		hl_key_free(key);
		json_object_set_new(o, "KeyFingerprint", json_string(row->fingerprint));
		json_object_set_new(o, "MemberOf", names);
		if (append_names(f, SQL_COMPUTER_GROUPS, row->rid, names) < 0)
			return -1;
	} else {
		json_object_set_new(o, "SamAccountName", json_string(row->name));
		json_object_set_new(o, "Sid", json_string(sid));
		json_object_set_new(o, "GroupScope", json_string("Global"));
		json_object_set_new(o, "GroupCategory", json_string("Security"));
		json_object_set_new(o, "Description",
				    row->description ? json_string(row->description) : json_null());
		json_object_set_new(o, "Members", names);
		if (append_names(f, SQL_GROUP_MEMBERS, row->rid, names) < 0)
			return -1;
	}
	json_object_set_new(o, "Added", json_string(when));
	return 0;
}

/* The principals of KIND (only NAME's when not NULL) as a JSON array of objects. */
static int principal_list(struct fabric *f, const char *kind, const char *name, json_t **out)
{
	int is_computer = strcmp(kind, "computer") == 0, r, rc = -1;
	struct principal_row row = { 0 };
	struct hl_store_stmt *stmt = NULL;
	json_t *arr = NULL;

	*out = NULL;
	lock_fabric(f);
	if (!(arr = json_array())) {
		hl_error("out of memory");
		goto out;
	}
	if (hl_store_query(f->store, "SELECT rid, name, description, machine_key, key_fingerprint, "
			   "added FROM principals WHERE kind = ?1 AND (?2 IS NULL OR name = ?2) "
			   "ORDER BY rid", HL_VALS(HL_IN_TEXT(kind), HL_IN_TEXT(name)), &stmt) < 0)
		goto out;
	while ((r = hl_store_next(f->store, stmt,
				  HL_VALS(HL_OUT_INT64(&row.rid), HL_OUT_TEXT(row.name, sizeof(row.name)),
					  HL_OUT_STR(&row.description), HL_OUT_BUF(&row.key),
					  HL_OUT_TEXT(row.fingerprint, sizeof(row.fingerprint)),
					  HL_OUT_TIME(&row.added)))) == 1) {
		r = principal_json(f, is_computer, &row, arr);
		free(row.description);
		row.description = NULL;
		hl_buf_free(&row.key);
		if (r < 0)
			goto out;
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
	hl_store_stmt_done(f->store, stmt);
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
	char when[32], listen[32], fqdn[AD_FQDN_MAX];
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
	pid = hl_served_pid(f->dir, FABRIC_PID_FILE);
	json_object_set_new(o, "ServingPid", pid ? json_integer(pid) : json_null());
	json_object_set_new(o, "ClockOffsetSeconds", json_integer(offset));
	*out = o;
	return 0;
}

/* ---- what others read: tickets' contents, the trust ---- */

/* The trust document of F's domain. */
int fabric_trust_export(struct fabric *f, json_t **out)
{
	char fqdn[AD_FQDN_MAX];

	snprintf(fqdn, sizeof(fqdn), "%s.%s", f->dc_name, f->domain);
	return ad_trust_write(f->domain, f->domain_sid, fqdn, f->dc_cert, out);
}

/* Append group NAME whose RID is RID to T's groups (CAP slots so far). */
static int ticket_group_append(const struct fabric *f, struct ad_ticket *t, size_t *cap,
			       const char *name, long long rid)
{
	struct ad_ticket_group *g;

	if (t->n_groups == *cap) {
		size_t n = *cap ? *cap * 2 : 4;

		if (!(g = realloc(t->groups, n * sizeof(*g))))
			return hl_error("out of memory");
		t->groups = g;
		*cap = n;
	}
	g = &t->groups[t->n_groups++];
	snprintf(g->name, sizeof(g->name), "%s", name);
	rid_sid(f, rid, g->sid, sizeof(g->sid));
	return 0;
}

/* What a ticket for computer NAME says now: the account and its groups, under one lock. */
int fabric_computer_ticket(struct fabric *f, const char *name, struct ad_ticket **out)
{
	char group[HL_NAME_GROUP_SIZE];
	struct hl_buf der = { 0 };
	struct ad_ticket *t;
	struct hl_store_stmt *stmt = NULL;
	long long rid, grid;
	size_t cap = 0;
	int r;

	*out = NULL;
	if (!(t = calloc(1, sizeof(*t))))
		return hl_error("out of memory");
	lock_fabric(f);
	r = hl_store_get(f->store, "SELECT rid, name, machine_key FROM principals WHERE "
			 "kind = 'computer' AND name = ?",
			 HL_VALS(HL_IN_TEXT(name), HL_OUT_INT64(&rid),
				 HL_OUT_TEXT(t->computer, sizeof(t->computer)), HL_OUT_BUF(&der)));
	if (r != 1)
		goto out;
	if (hl_key_pub_from_der(der.data, der.len, &t->machine_key) < 0 ||
	    hl_key_fingerprint(t->machine_key, t->machine_key_fp) < 0) {
		r = hl_error_wrap("the machine key of computer '%s' is damaged", t->computer);
		goto out;
	}
	snprintf(t->domain, sizeof(t->domain), "%s", f->domain);
	snprintf(t->domain_sid, sizeof(t->domain_sid), "%s", f->domain_sid);
	snprintf(t->dc, sizeof(t->dc), "%s.%s", f->dc_name, f->domain);
	rid_sid(f, rid, t->computer_sid, sizeof(t->computer_sid));
	if (hl_store_query(f->store, SQL_COMPUTER_GROUPS, HL_VALS(HL_IN_INT(rid)), &stmt) < 0) {
		r = -1;
		goto out;
	}
	while ((r = hl_store_next(f->store, stmt, HL_VALS(HL_OUT_TEXT(group, sizeof(group)),
							   HL_OUT_INT64(&grid)))) == 1)
		if (ticket_group_append(f, t, &cap, group, grid) < 0) {
			r = -1;
			goto out;
		}
	if (r < 0)
		goto out;
	*out = t;
	t = NULL;
	r = 1;
out:
	hl_store_stmt_done(f->store, stmt);
	unlock_fabric(f);
	hl_buf_free(&der);
	ad_ticket_free(t);
	return r;
}
