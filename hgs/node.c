/*
 * node.c - the HGS node directory (node.h): creating one the way
 * Initialize-HgsServer does (keys, certificates, store, default policies,
 * built in a temporary directory and renamed into place), opening one for
 * the admin verbs and `hgs serve`, and the name checks every HGS module
 * shares.  What an HGS node has in common with other served directories
 * (staging and renaming, the pid file, the lab clock, listen addresses and
 * domain names) is lib/'s (lib/served.h, lib/labclock.h, lib/dnsname.h),
 * and HGS code calls those directly.  A node that joins an existing HGS
 * (hgs_node_join, `hgs add-node`) is made here too: a `store` file naming
 * the cluster's store, a copy of the cluster's keys, its own name.
 */
#include "hgs/node.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/x509.h>

#include "hgs/backup.h"
#include "hgs/db.h"
#include "hgs/db_cluster.h"
#include "hgs/db_trust.h"
#include "hgs/healthcert.h"
#include "hgs/tpm_verify.h"
#include "lib/dnsname.h"
#include "lib/fileio.h"
#include "lib/child.h"
#include "lib/labclock.h"
#include "lib/log.h"
#include "lib/served.h"
#include "proto/names.h"

/* Validity of the node's own certificates: backdated a day, valid ten years. */
#define NODE_CERT_BACKDATE_S (24L * 3600)
#define NODE_CERT_LIFETIME_S (10L * 365 * 24 * 3600)

static const char *const key_role_names[HGS_KEY_ROLE_COUNT] = {
	"attestation-signer", "kps-signing", "kps-encryption",
};

/* The name of a key role. */
const char *hgs_key_role_name(enum hgs_key_role role)
{
	return (unsigned)role < HGS_KEY_ROLE_COUNT ? key_role_names[role] : NULL;
}

/* The lab clock offset of the request this thread answers (hgs_node_request_begin). */
static _Thread_local struct {
	const struct hgs_node *node;   /* NULL: none */
	long long offset;
	long long version;             /* the store's data version, when has_version */
	int has_version;
} request_clock;

/* The node clock: system time plus the lab offset. */
int hgs_node_now(struct hgs_node *node, time_t *out)
{
	if (request_clock.node == node) {
		*out = time(NULL) + (time_t)request_clock.offset;
		return 0;
	}
	return hl_labclock_now(node->dir, out);
}

/* Read the clock offset once for the request this thread begins. */
void hgs_node_request_begin(struct hgs_node *node)
{
	long long offset;

	request_clock.node = NULL;
	if (hl_labclock_offset(node->dir, &offset) < 0) {
		hl_error_clear();   /* hgs_node_now() reads it again and says why */
		return;
	}
	request_clock.offset = offset;
	request_clock.has_version = 0;
	request_clock.node = node;
}

/* The data version, read once per request. */
int hgs_node_data_version(struct hgs_node *node, long long *out)
{
	if (request_clock.node == node && request_clock.has_version) {
		*out = request_clock.version;
		return 0;
	}
	if (hl_store_data_version(node->store, out) < 0)
		return -1;
	if (request_clock.node == node) {
		request_clock.version = *out;
		request_clock.has_version = 1;
	}
	return 0;
}

/* The data version and changes_gen, under the lock. */
int hgs_node_stamp(struct hgs_node *node, long long *version, unsigned *gen)
{
	int rc;

	hgs_node_lock(node);
	rc = hgs_node_data_version(node, version);
	*gen = node->changes_gen;
	hgs_node_unlock(node);
	return rc;
}

/* The request is answered: the clock is read at each call again. */
void hgs_node_request_end(void)
{
	request_clock.node = NULL;
}

/* Take the node's store lock. */
void hgs_node_lock(struct hgs_node *node)
{
	pthread_mutex_lock(&node->lock);
}

/* Release the node's store lock. */
void hgs_node_unlock(struct hgs_node *node)
{
	pthread_mutex_unlock(&node->lock);
}

/*
 * The store for an audit record, node lock held, switched to
 * synchronous=NORMAL until hgs_node_log_release() switches it back.  The
 * records go through the main connection rather than a second one: a commit
 * by another connection would make this one drop its page cache before its
 * next read, at every attestation.
 */
int hgs_node_log_store(struct hgs_node *node, struct hl_store **out)
{
	*out = NULL;
	hgs_node_lock(node);
	if (hl_store_set_synchronous(node->store, HL_STORE_SYNC_NORMAL) < 0) {
		hgs_node_unlock(node);
		return hl_error_wrap("cannot record an audit entry in the store of '%s'",
				     node->dir);
	}
	*out = node->store;
	return 0;
}

/*
 * Back to synchronous=FULL and release the node lock.  A connection that
 * cannot go back would commit security state without fsync: that never
 * goes on (it cannot happen short of memory corruption).
 */
void hgs_node_log_release(struct hgs_node *node)
{
	if (hl_store_set_synchronous(node->store, HL_STORE_SYNC_FULL) < 0) {
		hl_log_error("store of '%s' cannot return to synchronous=FULL: %s; stopping",
			     node->dir, hl_error_last());
		abort();
	}
	hgs_node_unlock(node);
}

/* The trust mode stored now. */
int hgs_node_trust_mode(struct hgs_node *node, enum hgs_mode *out)
{
	struct hgs_config cfg;

	if (hgs_db_config_get(node, &cfg) < 0)
		return -1;
	*out = cfg.trust;
	return 0;
}

/* Load the primary key pair of ROLE and check that key and certificate match. */
int hgs_node_keypair(struct hgs_node *node, enum hgs_key_role role, X509 **cert, EVP_PKEY **key)
{
	char *pem = NULL, *file = NULL, path[PATH_MAX];
	X509 *c = NULL;
	EVP_PKEY *k = NULL, *pub = NULL;
	int rc = -1;

	*cert = NULL;
	if (key)
		*key = NULL;
	if (hgs_db_key_primary(node, role, &pem, &file) < 0)
		goto out;
	if (hl_cert_from_pem(pem, strlen(pem), &c) < 0) {
		hl_error_wrap("the %s certificate in the store of '%s' is damaged",
			      hgs_key_role_name(role), node->dir);
		goto out;
	}
	if (key) {
		if (hl_served_path(node->dir, file, path, sizeof(path)) < 0)
			goto out;
		if (hl_key_priv_load_file(path, &k) < 0) {
			hl_error_wrap("cannot load the %s key", hgs_key_role_name(role));
			goto out;
		}
		if (hl_cert_pubkey(c, &pub) < 0)
			goto out;
		if (!hl_key_pub_equal(k, pub)) {
			hl_error("the %s key '%s' does not match its certificate in the store; "
				 "the node directory is damaged: re-create it with `hgs init --force`",
				 hgs_key_role_name(role), path);
			goto out;
		}
	}
	*cert = c;
	c = NULL;
	if (key) {
		*key = k;
		k = NULL;
	}
	rc = 0;
out:
	hl_cert_free(c);
	hl_key_free(k);
	hl_key_free(pub);
	free(pem);
	free(file);
	return rc;
}

/* Is LOC a PostgreSQL connection URI (lib/store.h)? */
static int location_is_uri(const char *loc)
{
	return strncmp(loc, "postgresql://", 13) == 0 || strncmp(loc, "postgres://", 11) == 0;
}

/*
 * Read the one line of DIR/FILE (at most MAX bytes, printable ASCII) into
 * BUF of SIZE bytes: 1 read, 0 no such file, -1 refused.  WHAT names it.
 */
static int line_file_read(const char *dir, const char *file, const char *what, size_t max,
			  char *buf, size_t size)
{
	char path[PATH_MAX], *text = NULL;
	size_t len = 0, n;
	int rc = -1;

	if (hl_served_path(dir, file, path, sizeof(path)) < 0)
		return -1;
	if (access(path, F_OK) < 0 && (errno == ENOENT || errno == ENOTDIR))
		return 0;
	if (hl_file_read(path, max + 2, &text, &len) < 0)
		return hl_error_wrap("cannot read the %s of the HGS node '%s'", what, dir);
	n = strcspn(text, "\n");
	if (n == 0 || n > max || n >= size || (n < len && n + 1 != len)) {
		hl_error("the %s file '%s' is malformed: it must hold one line of 1 to %zu characters",
			 what, path, max);
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		if (text[i] < 0x20 || text[i] > 0x7e) {
			hl_error("the %s file '%s' is malformed: character %zu is not printable ASCII",
				 what, path, i + 1);
			goto out;
		}
	}
	memcpy(buf, text, n);
	buf[n] = '\0';
	rc = 1;
out:
	if (text)
		hl_crypto_cleanse(text, len);
	free(text);
	return rc;
}

/* DIR/store's LOCATION into LOC: 1 read, 0 no store file, -1 refused. */
static int store_file_read(const char *dir, char *loc, size_t size)
{
	char path[PATH_MAX];
	struct stat st;
	int r;

	if (hl_served_path(dir, HGS_STORE_FILE, path, sizeof(path)) < 0)
		return -1;
	if (lstat(path, &st) < 0)
		return errno == ENOENT || errno == ENOTDIR ? 0
							   : hl_error_errno("cannot inspect '%s'", path);
	if (S_ISLNK(st.st_mode))
		return hl_error("'%s' is a symbolic link: the store file must be a regular file of "
				"the node itself (mode 0600)", path);
	if (!S_ISREG(st.st_mode) || (st.st_mode & 07777) != 0600)
		return hl_error("'%s' must be a regular file of mode 0600 (it may hold a password); "
				"it is mode %04o: run `chmod 600 %s`", path,
				(unsigned)(st.st_mode & 07777), path);
	if ((r = line_file_read(dir, HGS_STORE_FILE, "store", HGS_STORE_LOCATION_MAX, loc,
				size)) <= 0)
		return r < 0 ? -1 : 0;
	if (loc[0] != '/' && !location_is_uri(loc))
		return hl_error("the store file '%s' is malformed: it must name an absolute path of an "
				"hgs.db or a postgresql:// URI", path);
	return 1;
}

/* DIR's store location: its store file, else DIR/hgs.db; -2 when DIR is no node. */
int hgs_node_store_location(const char *dir, char *loc, size_t size)
{
	char *abs = NULL, path[PATH_MAX];
	int has, r, rc = -1;

	if ((has = hl_served_open(dir, HGS_DB_FILE, &abs, path, sizeof(path))) < 0)
		goto out;
	if ((r = store_file_read(abs, loc, size)) < 0)
		goto out;
	if (!r) {
		if (!has) {
			hl_error("'%s' is not an HGS node: it has neither %s nor %s; create one "
				 "with `hgslab hgs init --dir %s --name NAME --domain DOMAIN --listen "
				 "ADDR:PORT`", dir, HGS_DB_FILE, HGS_STORE_FILE, dir);
			rc = -2;
			goto out;
		}
		if ((size_t)snprintf(loc, size, "%s", path) >= size) {
			hl_error("the path of '%s' is too long", path);
			goto out;
		}
	}
	rc = 0;
out:
	free(abs);
	return rc;
}

/* The node name of DIR (its node-name file, or HGS_NODE_NAME_DEFAULT) into NAME. */
static int node_name_read(const char *dir, char name[HL_NAME_COMPUTER_SIZE])
{
	int r = line_file_read(dir, HGS_NODE_NAME_FILE, "node name", HL_NAME_COMPUTER_SIZE - 1,
			       name, HL_NAME_COMPUTER_SIZE);

	if (r < 0)
		return -1;
	if (r == 0)
		snprintf(name, HL_NAME_COMPUTER_SIZE, "%s", HGS_NODE_NAME_DEFAULT);
	else if (hl_name_computer("node name", name) < 0)
		return hl_error_wrap("the node name file of '%s' is damaged", dir);
	return 0;
}

/* Open a node directory: store, configuration, names, nonce key and, on request, the signer. */
/* The serials given so far. */
static atomic_ullong node_serials;

int hgs_node_open(const char *dir, unsigned flags, struct hgs_node **out)
{
	struct hgs_node *node = NULL;
	unsigned char nonce_key[HGS_NONCE_KEY_LEN];
	char loc[HGS_STORE_LOCATION_MAX + 1];
	int rc = -1;

	*out = NULL;
	node = calloc(1, sizeof(*node));
	if (!node)
		return hl_error("cannot open the HGS node: out of memory");
	node->serial = atomic_fetch_add(&node_serials, 1) + 1;
	hl_served_lock_init(&node->lock);
	if (hl_file_abspath(dir, &node->dir) < 0 ||
	    hgs_node_store_location(node->dir, loc, sizeof(loc)) < 0)
		goto out;
	if (node_name_read(node->dir, node->node_name) < 0 ||
	    hgs_db_open(loc, &node->store) < 0 ||
	    hgs_db_config_read(node->store, &node->config) < 0 ||
	    hgs_db_nonce_key(node->store, nonce_key) < 0 ||
	    hl_hmac_sha256_new(nonce_key, sizeof(nonce_key), &node->nonce_mac) < 0 ||
	    hgs_db_trust_upgrade(node) < 0)
		goto out;
	if (flags & HGS_NODE_OPEN_KEYS) {
		if (hgs_node_keypair(node, HGS_KEY_ATTESTATION_SIGNER, &node->signer_cert,
				     &node->signer_key) < 0 ||
		    hl_cert_thumbprint(node->signer_cert, node->signer_thumbprint) < 0 ||
		    hgs_healthcert_template(node, &node->healthcert_template) < 0)
			goto out;
	}
	*out = node;
	node = NULL;
	rc = 0;
out:
	hl_crypto_cleanse(nonce_key, sizeof(nonce_key));
	hgs_node_close(node);
	return rc;
}

/* Close a node. */
void hgs_node_close(struct hgs_node *node)
{
	if (!node)
		return;
	hl_hmac_free(node->nonce_mac);
	hgs_db_policy_cache_drop(node);
	hl_store_close(node->store);
	hl_cert_template_free(node->healthcert_template);
	hl_key_free(node->signer_key);
	hl_cert_free(node->signer_cert);
	pthread_mutex_destroy(&node->lock);
	free(node->dir);
	free(node);
}

/* ---- creation ---- */

/* What init makes for each key role. */
struct key_plan {
	enum hgs_key_role role;
	const char *cn_suffix;          /* appended to the node name */
	unsigned int key_usage;
};

static const struct key_plan key_plans[HGS_KEY_ROLE_COUNT] = {
	{ HGS_KEY_ATTESTATION_SIGNER, "Attestation Signer", 0 },
	{ HGS_KEY_KPS_SIGNING, "KPS Signing", HL_KU_DIGITAL_SIGNATURE | HL_KU_KEY_CERT_SIGN },
	{ HGS_KEY_KPS_ENCRYPTION, "KPS Encryption",
	  HL_KU_KEY_ENCIPHERMENT | HL_KU_DATA_ENCIPHERMENT | HL_KU_KEY_CERT_SIGN },
};

/* Generate one key pair with its self-signed certificate in TMPDIR/keys and record it in ST. */
static int create_keypair(const char *tmpdir, struct hl_store *st, const struct hgs_config *cfg,
			  const struct key_plan *plan, time_t now)
{
	char cn[HL_NAME_HGS_SIZE + 32], rel_key[64], rel_crt[64], path[PATH_MAX];
	char thumb[HL_SHA256_HEX_SIZE];
	struct hl_buf key_pem = { 0 }, crt_pem = { 0 };
	struct hl_cert_spec spec = { 0 };
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	int rc = -1;

	snprintf(cn, sizeof(cn), "%s %s", cfg->name, plan->cn_suffix);
	snprintf(rel_key, sizeof(rel_key), "%s/%s.key", HGS_KEYS_DIR, hgs_key_role_name(plan->role));
	snprintf(rel_crt, sizeof(rel_crt), "%s/%s.crt", HGS_KEYS_DIR, hgs_key_role_name(plan->role));
	spec.cn = cn;
	spec.org = cfg->domain;
	spec.not_before = now - NODE_CERT_BACKDATE_S;
	spec.not_after = now + NODE_CERT_LIFETIME_S;
	spec.is_ca = 1;
	spec.path_len = 0;
	spec.key_usage = plan->key_usage;
	if (hl_key_generate(HL_KEY_RSA2048, &key) < 0 ||
	    hl_cert_issue_self_signed(&spec, key, &cert) < 0 ||
	    hl_key_priv_to_pem(key, &key_pem) < 0 || hl_cert_to_pem(cert, &crt_pem) < 0 ||
	    hl_cert_thumbprint(cert, thumb) < 0) {
		hl_error_wrap("cannot create the %s key pair", hgs_key_role_name(plan->role));
		goto out;
	}
	snprintf(path, sizeof(path), "%s/%s", tmpdir, rel_key);
	if (hl_file_write_private(path, key_pem.data, key_pem.len) < 0)
		goto out;
	snprintf(path, sizeof(path), "%s/%s", tmpdir, rel_crt);
	if (hl_file_write(path, crt_pem.data, crt_pem.len, HL_FILE_MODE_PUBLIC) < 0)
		goto out;
	if (hgs_db_key_insert(st, plan->role, thumb, (const char *)crt_pem.data, rel_key, 1, now) < 0)
		goto out;
	rc = 0;
out:
	hl_buf_free(&key_pem);
	hl_buf_free(&crt_pem);
	hl_key_free(key);
	hl_cert_free(cert);
	return rc;
}

/* Check P and fill CFG from it. */
static int init_params_check(const struct hgs_init_params *p, struct hgs_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	if (hl_name_hgs(p->name) < 0 || hl_dnsname_check(p->domain) < 0 ||
	    hl_served_parse_listen(p->listen, cfg->listen_addr, &cfg->listen_port) < 0)
		return -1;
	if (!hgs_mode_name(p->trust))
		return hl_error("invalid trust mode %d", (int)p->trust);
	cfg->healthcert_validity_h = p->healthcert_validity_h ? p->healthcert_validity_h
							       : HGS_HEALTHCERT_VALIDITY_H_DEFAULT;
	if (cfg->healthcert_validity_h < 1 || cfg->healthcert_validity_h > HGS_HEALTHCERT_VALIDITY_H_MAX)
		return hl_error("invalid health certificate validity %d hours: use 1 to %d",
				cfg->healthcert_validity_h, HGS_HEALTHCERT_VALIDITY_H_MAX);
	if (p->vendor_ca_pem && hgs_vendor_ca_check(p->vendor_ca_pem) < 0)
		return hl_error_wrap("invalid TPM vendor CA");
	if (p->node_name && hl_name_computer("node name", p->node_name) < 0)
		return -1;
	if (p->store && (!location_is_uri(p->store) || strlen(p->store) > HGS_STORE_LOCATION_MAX ||
			 strpbrk(p->store, "\n\r")))
		return hl_error("invalid --store '%s': give a postgresql:// URI (of at most %d "
				"characters); without --store the store is DIR/%s", p->store,
				HGS_STORE_LOCATION_MAX, HGS_DB_FILE);
	snprintf(cfg->name, sizeof(cfg->name), "%s", p->name);
	snprintf(cfg->domain, sizeof(cfg->domain), "%s", p->domain);
	cfg->trust = p->trust;
	cfg->has_vendor_ca = p->vendor_ca_pem != NULL;
	return 0;
}

/*
 * Decide what to do with what stands at S's DIR: 0 = absent or empty
 * (rename over it), 1 = a node to replace (FORCE given), -1 = refused.
 */
static int init_target_check(const struct hl_served_new *s, int force)
{
	const char *dir = s->dir;
	char db[PATH_MAX];
	long pid;
	int has;

	has = hl_served_new_target(s, "an HGS node");
	if (has <= 0)
		return has;
	snprintf(db, sizeof(db), "%s/%s", dir, HGS_DB_FILE);
	if (access(db, F_OK) != 0)
		return hl_error("cannot create an HGS node at '%s': the directory is not empty and "
				"is not an HGS node; choose a new or empty directory", dir);
	if (!force)
		return hl_error("'%s' is already an HGS node; use --force to replace it "
				"(its keys, registrations and log are discarded)", dir);
	pid = hl_served_pid(dir, HGS_PID_FILE);
	if (pid)
		return hl_error("cannot replace the HGS node at '%s': `hgs serve` runs on it "
				"(pid %ld); stop it first", dir, pid);
	return 1;
}

static int node_files_write(const char *tmp, const char *location, const char *node_name);

/* Initialize-HgsServer: build the node in a temporary directory, then rename it into place. */
int hgs_node_create(const struct hgs_init_params *p)
{
	struct hl_served_new s;
	struct hgs_config cfg;
	struct hl_store *st = NULL;
	char old[PATH_MAX], path[PATH_MAX];
	const char *node_name = p->node_name ? p->node_name : HGS_NODE_NAME_DEFAULT;
	unsigned char key[HGS_NONCE_KEY_LEN];
	int replace, rc = -1, moved_old = 0;
	time_t now;

	if (init_params_check(p, &cfg) < 0)
		return -1;
	if ((rc = hl_served_new_begin(&s, p->dir, "an HGS node")) < 0)
		goto out;
	rc = -1;
	replace = init_target_check(&s, p->force);
	if (replace < 0 || hl_served_new_stage(&s, "init", HGS_KEYS_DIR) < 0)
		goto out;
	now = time(NULL);
	cfg.created = now;
	if (node_files_write(s.tmp, p->store, node_name) < 0)
		goto out;
	snprintf(path, sizeof(path), "%s/%s", s.tmp, HGS_DB_FILE);
	if (hgs_db_open(p->store ? p->store : path, &st) < 0 ||
	    hgs_db_node_insert(st, &cfg, p->vendor_ca_pem) < 0)
		goto out;
	for (int i = 0; i < HGS_KEY_ROLE_COUNT; i++)
		if (create_keypair(s.tmp, st, &cfg, &key_plans[i], now) < 0)
			goto out;
	/* the cluster's nonce key and the first node's name, made at init */
	if (hgs_db_nonce_key(st, key) < 0 || hgs_db_cluster_node_add(st, node_name, now) < 0)
		goto out;
	hl_store_close(st);
	st = NULL;

	if (replace) {
		snprintf(old, sizeof(old), "%s/.%s.old.XXXXXX", s.parent, s.base);
		if (!mkdtemp(old)) {
			hl_error_errno("cannot create a temporary directory beside '%s'", s.dir);
			goto out;
		}
		if (rename(s.dir, old) < 0) {
			hl_error_errno("cannot move the old node '%s' aside", s.dir);
			rmdir(old);
			goto out;
		}
		moved_old = 1;
	}
	if (hl_served_new_commit(&s, "new node") < 0) {
		if (moved_old && rename(old, s.dir) == 0)
			moved_old = 0;
		goto out;
	}
	if (moved_old && hl_file_rmtree(old) < 0)
		hl_log_warn("cannot remove the old node directory '%s': %s", old, hl_error_last());
	moved_old = 0;
	rc = 0;
out:
	hl_crypto_cleanse(key, sizeof(key));
	hl_store_close(st);
	hl_served_new_end(&s);
	return rc;
}

/* ---- joining (add-node) ---- */

/* Copy the regular files of FROM/keys into TMP/keys with their modes. */
static int keys_copy(const char *from, const char *tmp)
{
	char src[PATH_MAX], dst[PATH_MAX], *data = NULL;
	struct dirent *e;
	struct stat st;
	size_t len = 0;
	DIR *d;
	int rc = -1;

	snprintf(src, sizeof(src), "%s/%s", from, HGS_KEYS_DIR);
	if (!(d = opendir(src)))
		return hl_error_errno("cannot read the keys of the HGS node '%s'", from);
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(src, sizeof(src), "%s/%s/%s", from, HGS_KEYS_DIR, e->d_name);
		snprintf(dst, sizeof(dst), "%s/%s/%s", tmp, HGS_KEYS_DIR, e->d_name);
		if (lstat(src, &st) < 0) {
			hl_error_errno("cannot inspect '%s'", src);
			goto out;
		}
		if (!S_ISREG(st.st_mode))
			continue;
		if (hl_file_read(src, HL_FILE_READ_MAX, &data, &len) < 0 ||
		    hl_file_write(dst, data, len, st.st_mode & 0644) < 0)
			goto out;
		hl_crypto_cleanse(data, len);
		free(data);
		data = NULL;
	}
	rc = 0;
out:
	if (data)
		hl_crypto_cleanse(data, len);
	free(data);
	closedir(d);
	return rc;
}

/*
 * The keys of the export P->from_state into TMP/keys: the export is
 * imported whole into TMP/state (hgs/backup.h checks it), its keys/ moved
 * out, the rest removed.  -2 / -3 as hgs_backup_import().
 */
static int keys_from_state(const struct hgs_join_params *p, const char *tmp)
{
	char state[PATH_MAX], src[PATH_MAX], dst[PATH_MAX];
	int rc;

	snprintf(state, sizeof(state), "%s/state", tmp);
	snprintf(src, sizeof(src), "%s/%s", state, HGS_KEYS_DIR);
	snprintf(dst, sizeof(dst), "%s/%s", tmp, HGS_KEYS_DIR);
	if ((rc = hgs_backup_import(p->from_state, state, p->password, p->pw_len, NULL)) < 0)
		return rc;
	if (rmdir(dst) < 0 || rename(src, dst) < 0)
		return hl_error_errno("cannot take the keys out of the imported state");
	return hl_file_rmtree(state);
}

/* Write TMP/store (when LOCATION) and TMP/node-name. */
static int node_files_write(const char *tmp, const char *location, const char *node_name)
{
	char path[PATH_MAX], line[HGS_STORE_LOCATION_MAX + 2];
	int n;

	if (location) {
		n = snprintf(line, sizeof(line), "%s\n", location);
		snprintf(path, sizeof(path), "%s/%s", tmp, HGS_STORE_FILE);
		if (hl_file_write_private(path, line, (size_t)n) < 0)
			return -1;
		hl_crypto_cleanse(line, sizeof(line));
	}
	n = snprintf(line, sizeof(line), "%s\n", node_name);
	snprintf(path, sizeof(path), "%s/%s", tmp, HGS_NODE_NAME_FILE);
	return hl_file_write(path, line, (size_t)n, HL_FILE_MODE_PUBLIC);
}

/* Every primary key pair of NODE loads and matches its certificate in the store. */
int hgs_node_keys_check(struct hgs_node *node)
{
	X509 *cert = NULL;
	EVP_PKEY *key = NULL;

	for (int i = 0; i < HGS_KEY_ROLE_COUNT; i++) {
		if (hgs_node_keypair(node, (enum hgs_key_role)i, &cert, &key) < 0)
			return -1;
		hl_cert_free(cert);
		hl_key_free(key);
	}
	return 0;
}

/* Open the node staged in TMP and check its key pairs against the store. */
static int join_check(const char *tmp)
{
	struct hgs_node *node = NULL;
	int rc = -1;

	if (hgs_node_open(tmp, 0, &node) == 0)
		rc = hgs_node_keys_check(node);
	hgs_node_close(node);
	return rc;
}

/* Check what add-node was given; -2 with what to do when it cannot go on. */
static int join_params_check(const struct hgs_join_params *p)
{
	struct stat sb;

	if (hl_name_computer("node name", p->node_name) < 0)
		return -2;
	if (!p->from == !p->from_state) {
		hl_error("give --from NODEDIR (a node of the HGS on this machine), or --from-state "
			 "FILE --store URI (an export of it and its PostgreSQL store)");
		return -2;
	}
	if (p->from && p->store) {
		hl_error("--store goes with --from-state: a node added --from NODEDIR shares that "
			 "node's store");
		return -2;
	}
	if (p->from_state && (!p->store || !location_is_uri(p->store) ||
			      strlen(p->store) > HGS_STORE_LOCATION_MAX || strpbrk(p->store, "\n\r"))) {
		hl_error("--from-state needs --store URI: the postgresql:// URI of the HGS's store "
			 "(a node on another machine shares a PostgreSQL store)");
		return -2;
	}
	if (lstat(p->dir, &sb) == 0 && S_ISLNK(sb.st_mode)) {
		hl_error("'%s' is a symbolic link: give the new node's directory itself", p->dir);
		return -2;
	}
	return 0;
}

/* Initialize-HgsServer joining an HGS: stage the node, register its name, rename it in. */
int hgs_node_join(const struct hgs_join_params *p)
{
	struct hl_served_new s;
	struct hl_store *st = NULL;
	char loc[HGS_STORE_LOCATION_MAX + 1], from_name[HL_NAME_COMPUTER_SIZE];
	int rc, r, registered = 0;
	time_t now = time(NULL);

	memset(&s, 0, sizeof(s));
	if ((rc = join_params_check(p)) < 0 ||
	    (rc = hl_served_new_begin(&s, p->dir, "an HGS node")) < 0)
		goto out;
	if ((rc = hl_served_new_target(&s, "an HGS node")) != 0) {
		if (rc > 0)
			hl_error("cannot add a node at '%s': it is not empty; give a new or empty "
				 "directory", p->dir);
		rc = -2;
		goto out;
	}
	if ((rc = hl_served_new_stage(&s, "join", HGS_KEYS_DIR)) < 0)
		goto out;
	if (p->from) {
		if ((rc = hgs_node_store_location(p->from, loc, sizeof(loc))) < 0 ||
		    (rc = node_name_read(p->from, from_name)) < 0 || (rc = keys_copy(p->from, s.tmp)) < 0)
			goto out;
	} else {
		snprintf(loc, sizeof(loc), "%s", p->store);
		if ((rc = keys_from_state(p, s.tmp)) < 0)
			goto out;
	}
	rc = -1;
	if (node_files_write(s.tmp, loc, p->node_name) < 0 || hgs_db_open(loc, &st) < 0)
		goto out;
	/* a node made before clusters never registered its name: it keeps it */
	if (p->from && hgs_db_cluster_node_add(st, from_name, now) < 0)
		goto out;
	if ((r = hgs_db_cluster_node_add(st, p->node_name, now)) <= 0) {
		if (r == 0) {
			hl_error("the HGS already has a node named '%s'; choose another --node-name "
				 "(`hgslab hgs get-cluster` lists them)", p->node_name);
			rc = -2;
		}
		goto out;
	}
	registered = 1;
	if (join_check(s.tmp) < 0 || hl_served_new_commit(&s, "new node") < 0)
		goto out;
	registered = 0;
	rc = 0;
out:
	if (registered && hgs_db_cluster_node_remove(st, p->node_name) < 0)
		hl_log_warn("cannot take the node name '%s' out of the cluster's registry: %s",
			    p->node_name, hl_error_last());
	hl_crypto_cleanse(loc, sizeof(loc));
	hl_store_close(st);
	hl_served_new_end(&s);
	return rc;
}

/* CERT's subject as "CN=..., O=..." into BUF. */
int hgs_cert_subject(X509 *cert, char *buf, size_t size)
{
	BIO *b = BIO_new(BIO_s_mem());
	int n;

	buf[0] = '\0';
	if (!b)
		return hl_error("out of memory");
	if (X509_NAME_print_ex(b, X509_get_subject_name(cert), 0,
			       XN_FLAG_SEP_CPLUS_SPC | ASN1_STRFLGS_RFC2253) < 0) {
		BIO_free(b);
		return hl_error("cannot format a certificate subject");
	}
	n = BIO_read(b, buf, (int)size - 1);
	buf[n > 0 ? n : 0] = '\0';
	BIO_free(b);
	return 0;
}

/*
 * Split DIR into its resolved parent folder PARENT and its last component
 * *BASE (pointing into ABS, which gets DIR made absolute); -2 when DIR names
 * no directory entry of its own ("/", ".", "..").
 */
static int remove_split(const char *dir, char **abs, char parent[PATH_MAX], const char **base)
{
	char *slash, *p;
	size_t n;

	if (hl_file_abspath(dir, abs) < 0)
		return -1;
	p = *abs;
	for (n = strlen(p); n > 1 && p[n - 1] == '/'; n--)
		p[n - 1] = '\0';
	slash = strrchr(p, '/');
	*base = slash + 1;
	if (!**base || strcmp(*base, ".") == 0 || strcmp(*base, "..") == 0) {
		hl_error("cannot remove '%s': name the node directory itself", dir);
		return -2;
	}
	*slash = '\0';
	if (!realpath(slash == p ? "/" : p, parent)) {
		hl_error_errno("cannot remove '%s': its parent folder", dir);
		*slash = '/';
		return -2;
	}
	*slash = '/';
	return 0;
}

/* Is DIR/FILE a regular file (not a link)? */
static int node_file_is_regular(const char *dir, const char *file)
{
	char path[PATH_MAX];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	return lstat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Clear-HgsServer: check, claim the pid file, confirm, rename the node aside, remove it. */
/*
 * Before clearing the node ABS (DIR as given): its open handle into *OUT
 * when it is a node that joined a cluster (its registry row goes once the
 * folder is gone), NULL otherwise.  -4 when ABS holds the cluster's SQLite
 * store and other nodes are registered: clearing it would take the state
 * of the whole cluster with it.  A store that cannot be opened does not
 * stop the clearing (there is nothing to keep consistent then).
 */
static int cluster_leave_prepare(const char *abs, const char *dir, struct hgs_node **out)
{
	struct hgs_node *node = NULL;
	long long n = 0;
	int holds_store = node_file_is_regular(abs, HGS_DB_FILE);

	*out = NULL;
	if (hgs_node_open(abs, 0, &node) < 0 || hgs_db_cluster_count(node, &n) < 0) {
		hl_error_clear();
		hgs_node_close(node);
		return 0;
	}
	if (holds_store && n > 1) {
		hl_error("'%s' holds the store of HGS '%s', which %lld other node%s of the cluster "
			 "use%s: clearing it would take the whole cluster's state with it; clear the "
			 "other nodes first (hgs get-cluster --dir %s lists them), and keep a "
			 "backup (hgs export-server-state); nothing was removed", dir,
			 node->config.name, n - 1, n - 1 == 1 ? "" : "s", n - 1 == 1 ? "s" : "",
			 dir);
		hgs_node_close(node);
		return -4;
	}
	if (holds_store)
		hgs_node_close(node);
	else
		*out = node;
	return 0;
}

int hgs_node_remove(const char *dir, hgs_node_confirm_fn *confirm, void *arg)
{
	struct hgs_node *joined = NULL;
	struct hl_pidfile pf = { 0 };
	struct stat st;
	char *abs = NULL, parent[PATH_MAX], path[PATH_MAX], aside[PATH_MAX];
	const char *base;
	pid_t owner = 0;
	int rc;

	if ((rc = remove_split(dir, &abs, parent, &base)) < 0)
		goto out;
	rc = -2;
	if (lstat(abs, &st) < 0) {
		hl_error_errno("cannot remove the HGS node '%s'", dir);
		goto out;
	}
	if (S_ISLNK(st.st_mode)) {
		hl_error("'%s' is a symbolic link: give the node directory itself", dir);
		goto out;
	}
	if (!S_ISDIR(st.st_mode) || (!node_file_is_regular(abs, HGS_DB_FILE) &&
				     !node_file_is_regular(abs, HGS_STORE_FILE))) {
		hl_error("'%s' is not an HGS node: it has no %s; nothing was removed", dir,
			 HGS_DB_FILE);
		goto out;
	}
	rc = -1;
	/* a pid file that is a link was never claimed by a `hgs serve`: removed as it is */
	snprintf(path, sizeof(path), "%s/%s", abs, HGS_PID_FILE);
	if ((lstat(path, &st) < 0 || !S_ISLNK(st.st_mode)) &&
	    hl_pidfile_claim(&pf, path, &owner) < 0) {
		if (owner)
			hl_error("`hgs serve` runs on the HGS node '%s' (pid %ld); stop it first",
				 dir, (long)owner);
		goto out;
	}
	if ((rc = cluster_leave_prepare(abs, dir, &joined)) < 0)
		goto out;
	if (confirm && (rc = confirm(arg)) < 0)
		goto out;
	rc = -1;
	if ((size_t)snprintf(aside, sizeof(aside), "%s/.%s.clear.XXXXXX", parent, base) >=
	    sizeof(aside)) {
		hl_error("cannot remove '%s': its path is too long", dir);
		goto out;
	}
	if (!mkdtemp(aside)) {
		hl_error_errno("cannot create a temporary directory beside '%s'", dir);
		goto out;
	}
	if (rename(abs, aside) < 0) {
		hl_error_errno("cannot move the HGS node '%s' aside; nothing was removed", dir);
		rmdir(aside);
		goto out;
	}
	/* the node has left: its row goes from the registry the other nodes share */
	if (joined) {
		hgs_node_lock(joined);
		if (hgs_db_cluster_node_remove(joined->store, joined->node_name) < 0)
			hl_log_warn("the node '%s' is gone from '%s' but stays in the cluster's "
				    "registry: %s", joined->node_name, dir, hl_error_last());
		hgs_node_unlock(joined);
	}
	if (hl_file_rmtree(aside) < 0) {
		hl_error_wrap("the HGS node is gone from '%s' but its files remain in '%s': remove "
			      "that folder", dir, aside);
		goto out;
	}
	rc = 0;
out:
	hgs_node_close(joined);
	hl_pidfile_release(&pf);
	free(abs);
	return rc;
}
