/*
 * node.c - the HGS node directory (node.h): creating one the way
 * Initialize-HgsServer does (keys, certificates, store, default policies,
 * built in a temporary directory and renamed into place), opening one for
 * the admin verbs and `hgs serve`, the lab clock, and the name checks every
 * HGS module shares.
 */
#include "hgs/node.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hgs/db.h"
#include "hgs/nonce.h"
#include "lib/fileio.h"
#include "lib/log.h"

/* Validity of the node's own certificates: backdated a day, valid ten years. */
#define NODE_CERT_BACKDATE_S (24L * 3600)
#define NODE_CERT_LIFETIME_S (10L * 365 * 24 * 3600)
/* Largest clock offset accepted: a hundred years either way. */
#define CLOCK_OFFSET_MAX (100LL * 366 * 24 * 3600)

static const char *const key_role_names[HGS_KEY_ROLE_COUNT] = {
	"attestation-signer", "kps-signing", "kps-encryption",
};

/* The name of a key role. */
const char *hgs_key_role_name(enum hgs_key_role role)
{
	return (unsigned)role < HGS_KEY_ROLE_COUNT ? key_role_names[role] : NULL;
}

/* Format a time as UTC ISO 8601. */
void hgs_time_format(time_t t, char *buf, size_t size)
{
	struct tm tm;

	if (!gmtime_r(&t, &tm) || strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, size, "%lld", (long long)t);
}

/* Check an HGS service name. */
int hgs_check_node_name(const char *name)
{
	size_t n = name ? strlen(name) : 0;

	if (n == 0 || n >= HGS_NODE_NAME_MAX)
		return hl_error("invalid HGS name '%s': it must have 1 to %d characters",
				name ? name : "", HGS_NODE_NAME_MAX - 1);
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)name[i]) && !strchr("._-", name[i]))
			return hl_error("invalid HGS name '%s': use letters, digits, '.', '_' and "
					"'-' only, e.g. MyHgsService", name);
	return 0;
}

/* Check a DNS domain name, label by label. */
int hgs_check_domain(const char *domain)
{
	size_t n = domain ? strlen(domain) : 0, label = 0;

	if (n == 0 || n >= HGS_DOMAIN_MAX)
		return hl_error("invalid domain '%s': it must have 1 to %d characters",
				domain ? domain : "", HGS_DOMAIN_MAX - 1);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)domain[i];

		if (c == '.') {
			if (label == 0 || domain[i - 1] == '-')
				goto bad;
			label = 0;
			continue;
		}
		if (!isalnum(c) && c != '-')
			goto bad;
		if (c == '-' && label == 0)
			goto bad;
		if (++label > 63)
			goto bad;
	}
	if (label == 0 || domain[n - 1] == '-')
		goto bad;
	return 0;
bad:
	return hl_error("invalid domain '%s': expected a DNS name such as relecloud.com", domain);
}

/* Check a host or registration name. */
int hgs_check_name(const char *what, const char *name)
{
	size_t n = name ? strlen(name) : 0;

	if (n == 0 || n >= HGS_NAME_MAX)
		return hl_error("invalid %s '%s': it must have 1 to %d characters", what,
				name ? name : "", HGS_NAME_MAX - 1);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)name[i] < 0x20 || (unsigned char)name[i] > 0x7e)
			return hl_error("invalid %s: it may hold printable ASCII characters only",
					what);
	if (name[0] == ' ' || name[n - 1] == ' ')
		return hl_error("invalid %s '%s': it must not start or end with a space", what,
				name);
	return 0;
}

/* Parse "IPV4:PORT". */
int hgs_parse_listen(const char *text, char addr[16], unsigned short *port)
{
	const char *colon = text ? strrchr(text, ':') : NULL;
	struct in_addr probe;
	char *end;
	long p;

	if (!colon || colon == text || (size_t)(colon - text) >= 16)
		goto bad;
	memcpy(addr, text, (size_t)(colon - text));
	addr[colon - text] = '\0';
	if (inet_pton(AF_INET, addr, &probe) != 1)
		goto bad;
	errno = 0;
	p = strtol(colon + 1, &end, 10);
	if (errno || end == colon + 1 || *end || p < 0 || p > 65535)
		goto bad;
	*port = (unsigned short)p;
	return 0;
bad:
	return hl_error("invalid listen address '%s': expected IPV4:PORT such as 127.0.0.2:8080 "
			"(port 0 picks a free port when serving)", text ? text : "");
}

/* Join the node directory and FILE. */
int hgs_node_path(const struct hgs_node *node, const char *file, char *buf, size_t size)
{
	if ((size_t)snprintf(buf, size, "%s/%s", node->dir, file) >= size)
		return hl_error("path '%s/%s' is too long", node->dir, file);
	return 0;
}

/* Read DIR/clock-offset (0 when absent). */
int hgs_node_clock_offset(const char *dir, long long *out)
{
	char path[PATH_MAX], *text = NULL, *p, *end;
	long long v;
	int rc = -1;

	*out = 0;
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, HGS_CLOCK_OFFSET_FILE) >=
	    sizeof(path))
		return hl_error("path '%s/%s' is too long", dir, HGS_CLOCK_OFFSET_FILE);
	if (access(path, F_OK) != 0 && errno == ENOENT)
		return 0;
	if (hl_file_read(path, 64, &text, NULL) < 0)
		return hl_error_wrap("cannot read the lab clock offset");
	for (p = text; isspace((unsigned char)*p); p++)
		;
	errno = 0;
	v = strtoll(p, &end, 10);
	while (isspace((unsigned char)*end))
		end++;
	if (errno || end == p || *end || v > CLOCK_OFFSET_MAX || v < -CLOCK_OFFSET_MAX) {
		hl_error("lab clock offset file '%s' must hold a whole number of seconds "
			 "(e.g. 32400 for nine hours ahead); fix it or remove it", path);
		goto out;
	}
	*out = v;
	rc = 0;
out:
	free(text);
	return rc;
}

/* The node clock: system time plus the lab offset. */
int hgs_node_now(struct hgs_node *node, time_t *out)
{
	long long off;

	if (hgs_node_clock_offset(node->dir, &off) < 0)
		return -1;
	*out = time(NULL) + (time_t)off;
	return 0;
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

/* The pid in DIR/hgs.pid when that process lives, else 0. */
long hgs_node_serving_pid(const char *dir)
{
	char path[PATH_MAX], *text = NULL, *end;
	long pid;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, HGS_PID_FILE) >= sizeof(path))
		return 0;
	if (access(path, F_OK) != 0 || hl_file_read(path, 64, &text, NULL) < 0) {
		hl_error_clear();
		return 0;
	}
	errno = 0;
	pid = strtol(text, &end, 10);
	free(text);
	if (errno || pid <= 0 || pid > INT_MAX)
		return 0;
	if (kill((pid_t)pid, 0) == 0 || errno == EPERM)
		return pid;
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
		if (hgs_node_path(node, file, path, sizeof(path)) < 0)
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

/* Open a node directory: store, configuration and, on request, the signer. */
int hgs_node_open(const char *dir, unsigned flags, struct hgs_node **out)
{
	struct hgs_node *node = NULL;
	pthread_mutexattr_t attr;
	char path[PATH_MAX];
	int rc = -1;

	*out = NULL;
	node = calloc(1, sizeof(*node));
	if (!node)
		return hl_error("cannot open the HGS node: out of memory");
	pthread_mutexattr_init(&attr);
	pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&node->lock, &attr);
	pthread_mutexattr_destroy(&attr);
	pthread_mutex_init(&node->nonce_lock, NULL);
	if (hl_file_abspath(dir, &node->dir) < 0)
		goto out;
	if (hgs_node_path(node, HGS_DB_FILE, path, sizeof(path)) < 0)
		goto out;
	if (access(path, F_OK) != 0) {
		hl_error("'%s' is not an HGS node: it has no %s; create one with "
			 "`hgslab hgs init --dir %s --name NAME --domain DOMAIN --listen ADDR:PORT`",
			 dir, HGS_DB_FILE, dir);
		goto out;
	}
	if (hgs_db_open(path, &node->store) < 0 ||
	    hgs_db_config_read(node->store, &node->config) < 0)
		goto out;
	if (flags & HGS_NODE_OPEN_KEYS) {
		if (hgs_node_keypair(node, HGS_KEY_ATTESTATION_SIGNER, &node->signer_cert,
				     &node->signer_key) < 0 ||
		    hl_cert_thumbprint(node->signer_cert, node->signer_thumbprint) < 0)
			goto out;
	}
	*out = node;
	node = NULL;
	rc = 0;
out:
	hgs_node_close(node);
	return rc;
}

/* Close a node. */
void hgs_node_close(struct hgs_node *node)
{
	if (!node)
		return;
	hgs_nonce_table_free(node->nonces);
	hl_store_close(node->store);
	hl_key_free(node->signer_key);
	hl_cert_free(node->signer_cert);
	pthread_mutex_destroy(&node->lock);
	pthread_mutex_destroy(&node->nonce_lock);
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
	char cn[HGS_NODE_NAME_MAX + 32], rel_key[64], rel_crt[64], path[PATH_MAX];
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

/* 1 when directory PATH has entries, 0 when empty, -1 on error. */
static int dir_has_entries(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	int found = 0;

	if (!d)
		return hl_error_errno("cannot read directory '%s'", path);
	while ((e = readdir(d))) {
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
			found = 1;
			break;
		}
	}
	closedir(d);
	return found;
}

/* fsync directory PATH so a rename in it is durable. */
static int sync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return hl_error_errno("cannot open directory '%s'", path);
	if (fsync(fd) < 0) {
		close(fd);
		return hl_error_errno("cannot sync directory '%s'", path);
	}
	close(fd);
	return 0;
}

/* Check P and fill CFG from it. */
static int init_params_check(const struct hgs_init_params *p, struct hgs_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	if (hgs_check_node_name(p->name) < 0 || hgs_check_domain(p->domain) < 0 ||
	    hgs_parse_listen(p->listen, cfg->listen_addr, &cfg->listen_port) < 0)
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
	snprintf(cfg->name, sizeof(cfg->name), "%s", p->name);
	snprintf(cfg->domain, sizeof(cfg->domain), "%s", p->domain);
	cfg->trust = p->trust;
	cfg->has_vendor_ca = p->vendor_ca_pem != NULL;
	return 0;
}

/*
 * Decide what to do with an existing DIR: 0 = absent or empty (rename over
 * it), 1 = a node to replace (FORCE given), -1 = refused.
 */
static int init_target_check(const char *dir, int force)
{
	char db[PATH_MAX];
	struct stat sb;
	long pid;
	int has;

	if (lstat(dir, &sb) < 0) {
		if (errno == ENOENT)
			return 0;
		return hl_error_errno("cannot inspect '%s'", dir);
	}
	if (!S_ISDIR(sb.st_mode))
		return hl_error("cannot create an HGS node at '%s': it exists and is not a directory",
				dir);
	has = dir_has_entries(dir);
	if (has <= 0)
		return has;
	snprintf(db, sizeof(db), "%s/%s", dir, HGS_DB_FILE);
	if (access(db, F_OK) != 0)
		return hl_error("cannot create an HGS node at '%s': the directory is not empty and "
				"is not an HGS node; choose a new or empty directory", dir);
	if (!force)
		return hl_error("'%s' is already an HGS node; use --force to replace it "
				"(its keys, registrations and log are discarded)", dir);
	pid = hgs_node_serving_pid(dir);
	if (pid)
		return hl_error("cannot replace the HGS node at '%s': `hgs serve` runs on it "
				"(pid %ld); stop it first", dir, pid);
	return 1;
}

/* Initialize-HgsServer: build the node in a temporary directory, then rename it into place. */
int hgs_node_create(const struct hgs_init_params *p)
{
	struct hgs_config cfg;
	struct hl_store *st = NULL;
	char *dir = NULL, parent[PATH_MAX], tmp[PATH_MAX], old[PATH_MAX], path[PATH_MAX];
	const char *base;
	int replace, rc = -1, have_tmp = 0, moved_old = 0;
	time_t now;

	if (init_params_check(p, &cfg) < 0)
		return -1;
	if (hl_file_abspath(p->dir, &dir) < 0)
		return -1;
	base = strrchr(dir, '/');
	if (!base || !base[1] || strcmp(base + 1, "..") == 0 || strcmp(base + 1, ".") == 0) {
		hl_error("cannot create an HGS node at '%s': name a directory", p->dir);
		goto out;
	}
	base++;
	snprintf(parent, sizeof(parent), "%.*s", (int)(base - 1 - dir), dir);
	if (!parent[0])
		snprintf(parent, sizeof(parent), "/");
	if (hl_file_mkdirs(parent, 0755) < 0)
		goto out;
	replace = init_target_check(dir, p->force);
	if (replace < 0)
		goto out;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s/.%s.init.XXXXXX", parent, base) >= sizeof(tmp)) {
		hl_error("path '%s' is too long", dir);
		goto out;
	}
	if (!mkdtemp(tmp)) {
		hl_error_errno("cannot create a temporary directory beside '%s'", dir);
		goto out;
	}
	have_tmp = 1;
	snprintf(path, sizeof(path), "%s/%s", tmp, HGS_KEYS_DIR);
	if (chmod(tmp, 0700) < 0 || mkdir(path, 0700) < 0) {
		hl_error_errno("cannot create '%s'", path);
		goto out;
	}
	now = time(NULL);
	cfg.created = now;
	snprintf(path, sizeof(path), "%s/%s", tmp, HGS_DB_FILE);
	if (hgs_db_open(path, &st) < 0 || hgs_db_node_insert(st, &cfg, p->vendor_ca_pem) < 0)
		goto out;
	for (int i = 0; i < HGS_KEY_ROLE_COUNT; i++)
		if (create_keypair(tmp, st, &cfg, &key_plans[i], now) < 0)
			goto out;
	hl_store_close(st);
	st = NULL;

	if (replace) {
		snprintf(old, sizeof(old), "%s/.%s.old.XXXXXX", parent, base);
		if (!mkdtemp(old)) {
			hl_error_errno("cannot create a temporary directory beside '%s'", dir);
			goto out;
		}
		if (rename(dir, old) < 0) {
			hl_error_errno("cannot move the old node '%s' aside", dir);
			rmdir(old);
			goto out;
		}
		moved_old = 1;
	}
	if (rename(tmp, dir) < 0) {
		hl_error_errno("cannot move the new node into '%s'", dir);
		if (moved_old && rename(old, dir) == 0)
			moved_old = 0;
		goto out;
	}
	have_tmp = 0;
	if (sync_dir(parent) < 0)
		hl_log_warn("%s", hl_error_last());
	if (moved_old && hl_file_rmtree(old) < 0)
		hl_log_warn("cannot remove the old node directory '%s': %s", old, hl_error_last());
	moved_old = 0;
	rc = 0;
out:
	hl_store_close(st);
	if (have_tmp) {
		char saved[HL_ERROR_MAX];

		/* keep the real error: the cleanup must not replace it */
		snprintf(saved, sizeof(saved), "%s", hl_error_last());
		if (hl_file_rmtree(tmp) < 0)
			hl_log_warn("cannot remove '%s': %s", tmp, hl_error_last());
		hl_error("%s", saved);
	}
	free(dir);
	return rc;
}
