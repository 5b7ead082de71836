/*
 * node.h - an HGS node: its directory, configuration, keys and clock.
 *
 * `hgslab hgs init` (Initialize-HgsServer) creates a node directory; every
 * other part of HGS (the admin verbs, `hgs serve`, the attestation modes and
 * later the Key Protection Service) opens it with hgs_node_open() and works
 * through the struct hgs_node it gets.  Layout of a node directory (0700):
 *
 *   hgs.db                        SQLite store (lib/store, WAL): configuration,
 *                                 keys' certificates, registrations, policy
 *                                 states, attestation log (hgs/db.h), the
 *                                 cluster's nodes and used nonces
 *                                 (hgs/db_cluster.h)
 *   store                         instead of hgs.db: the LOCATION of the
 *                                 store the node shares (one line, mode
 *                                 0600: an absolute path of another node's
 *                                 hgs.db, or a postgresql:// URI, lib/store.h)
 *   node-name                     the node's name in the cluster (one line;
 *                                 absent: HGS01), unique in the cluster
 *   keys/attestation-signer.key   private keys, PKCS#8 PEM, mode 0600
 *   keys/kps-signing.key
 *   keys/kps-encryption.key
 *   keys/ROLE.crt                 their certificates, PEM, mode 0644 (the
 *                                 same certificates are in hgs.db)
 *   hgs.log                       log of `hgs serve` (lib/log)
 *   hgs.pid                       pid of the running `hgs serve`, if any
 *   clock-offset                  optional lab clock offset (below)
 *
 * The lab clock.  Every time decision of the node (nonce expiry, health
 * certificate validity, log time stamps) uses hgs_node_now(): the system
 * time plus the whole number of seconds written in DIR/clock-offset (absent
 * means 0; may be negative), read at every call (lib/labclock.h), or once
 * per request while `hgs serve` answers one (hgs_node_request_begin).  A
 * test can move a running node's clock forward with `echo 32400 >
 * DIR/clock-offset` and take it back by removing the file: the next request
 * sees it.
 *
 * A node is a served directory (lib/served.h): it is built beside its place
 * and renamed in, and `hgs serve` owns it through hgs.pid.
 *
 * Clusters (docs/hgs-cluster.md).  One HGS may run as several nodes: `hgs
 * init` makes the first (its store is DIR/hgs.db, or a PostgreSQL database
 * given with --store), `hgs add-node` (hgs_node_join) makes another whose
 * `store` file names the same store and whose keys/ is a copy of the first
 * node's (so every node signs and unwraps with the same keys).  What is
 * per node: the directory, its name, its log, pid file and clock offset;
 * everything else (configuration, registrations, policies, logs, nonces) is
 * in the shared store.
 *
 * Threads.  One node may be used by several threads (the HTTP server's
 * workers): the store is guarded by the node's recursive lock, which every
 * hgs_db_* function takes itself; code that needs several statements in one
 * transaction takes it around them with hgs_node_lock().  Nonces are
 * checked with the cluster's nonce key, read at open, and used up in the
 * store (hgs/nonce.h).  Keys, the node name, the nonce key and the
 * configuration snapshot are read-only after open.
 *
 * Durability.  The store commits security state (registrations, AK pins,
 * policies, KPS certificates) with synchronous=FULL: nothing of it comes
 * back or goes away after a crash or a power failure.  The attestation log
 * and the key protection log are audit records, each committed alone at
 * synchronous=NORMAL (hgs_node_log_store), as is each used nonce: they
 * survive a crash of the process but the last entries may be lost on a
 * power failure (docs/attestation-protocol.md, "Durability").
 *
 * Contract (lib/err.h): 0 on success, -1 after hl_error(); *out = NULL on
 * entry; hgs_node_close() is NULL-safe.
 */
#ifndef HGSLAB_HGS_NODE_H
#define HGSLAB_HGS_NODE_H

#include <pthread.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "proto/attest.h"
#include "lib/crypto.h"
#include "lib/dnsname.h"
#include "proto/names.h"
#include "lib/labclock.h"
#include "lib/store.h"

/* Domain names: a DNS name of at most HGS_DOMAIN_MAX-1 characters (the O of certificates). */
#define HGS_DOMAIN_MAX HL_DNSNAME_MAX
/* Default validity of a health certificate, hours (HGS gives 8). */
#define HGS_HEALTHCERT_VALIDITY_H_DEFAULT 8
/* Largest accepted validity: a year. */
#define HGS_HEALTHCERT_VALIDITY_H_MAX 8760

#define HGS_DB_FILE "hgs.db"
#define HGS_LOG_FILE "hgs.log"
#define HGS_PID_FILE "hgs.pid"
#define HGS_KEYS_DIR "keys"
#define HGS_STORE_FILE "store"
#define HGS_NODE_NAME_FILE "node-name"
/* The name of a node made by `hgs init` without --node-name (and of one with no node-name file). */
#define HGS_NODE_NAME_DEFAULT "HGS01"
/* Longest store LOCATION a `store` file may hold. */
#define HGS_STORE_LOCATION_MAX 1024
/* Bytes of the cluster's nonce key (hgs/db_cluster.h, hgs/nonce.h). */
#define HGS_NONCE_KEY_LEN 32

/* Roles of the node's key pairs (rows of the node_keys table, hgs/db.h). */
enum hgs_key_role {
	HGS_KEY_ATTESTATION_SIGNER = 0, /* signs health certificates */
	HGS_KEY_KPS_SIGNING,            /* the HGS guardian's signing key */
	HGS_KEY_KPS_ENCRYPTION,         /* the HGS guardian's encryption key (RSA, OAEP) */
	HGS_KEY_ROLE_COUNT
};

/* "attestation-signer", "kps-signing", "kps-encryption"; NULL when out of range. */
const char *hgs_key_role_name(enum hgs_key_role role);

/* The node's configuration, as stored in the node row of hgs.db. */
struct hgs_config {
	char name[HL_NAME_HGS_SIZE];     /* "MyHgsService" */
	char domain[HGS_DOMAIN_MAX];      /* "relecloud.com" */
	enum hgs_mode trust;              /* the attestation mode hosts must use */
	char listen_addr[16];             /* IPv4 address, e.g. "127.0.0.2" */
	unsigned short listen_port;       /* 0 = an ephemeral port chosen at serve */
	int healthcert_validity_h;        /* hours */
	int has_vendor_ca;                /* a TPM vendor CA bundle is configured */
	time_t created;                   /* node clock at init */
};

/*
 * An open node.  Invariants: dir is absolute; store is open at the current
 * schema; config is the configuration at open time (name and domain never
 * change; read the live trust mode with hgs_node_trust_mode()); signer_key,
 * signer_cert and healthcert_template are set when opened with
 * HGS_NODE_OPEN_KEYS.
 */
struct hgs_node {
	unsigned long long serial;        /* unique in this process, from 1: names the node in kept copies */
	char *dir;
	struct hl_store *store;           /* guarded by lock */
	pthread_mutex_t lock;             /* recursive */
	struct hgs_config config;
	EVP_PKEY *signer_key;             /* attestation signer (private) */
	X509 *signer_cert;
	struct hl_cert_template *healthcert_template; /* with the signer (hgs/healthcert.h) */
	char signer_thumbprint[HL_SHA256_HEX_SIZE];
	char node_name[HL_NAME_COMPUTER_SIZE]; /* this node's name in the cluster, "HGS01" */
	struct hl_hmac *nonce_mac;        /* HMAC-SHA256 under the cluster's nonce key (hgs/nonce.h) */
	/* the policy snapshot hgs_db_policy_set_load() keeps (hgs/db.h); guarded by lock */
	struct hgs_policy_data *policies; /* NULL: none kept */
	long long policies_version;       /* PRAGMA data_version it was read at */
	unsigned policies_gen;            /* changes_gen it was read at */
	unsigned changes_gen;             /* bumped by this handle's changes (hgs/db.h) */
	/* the node row hgs_db_config_get() keeps, the same way; guarded by lock */
	struct hgs_config config_now;     /* valid when config_kept */
	int config_kept;
	long long config_version;
	unsigned config_gen;
	/* the key protection configuration hgs_db_kps_config_get() keeps, the same way */
	int kps_config_kept, kps_allow_caching;
	long long kps_epoch, kps_config_version;
	unsigned kps_config_gen;
};

/* What `hgs init` asks for. */
struct hgs_init_params {
	const char *dir;
	const char *name;
	const char *domain;
	enum hgs_mode trust;
	const char *listen;               /* "ADDR:PORT" */
	int healthcert_validity_h;        /* 0 = HGS_HEALTHCERT_VALIDITY_H_DEFAULT */
	const char *vendor_ca_pem;        /* TPM vendor CA bundle (PEM text) or NULL */
	int force;                        /* replace an existing node directory */
	const char *node_name;            /* NULL: HGS_NODE_NAME_DEFAULT */
	const char *store;                /* a postgresql:// URI, or NULL: DIR/hgs.db */
};

/*
 * Create a node directory (Initialize-HgsServer): the store, the attestation
 * signer and KPS signing / encryption key pairs with self-signed
 * certificates, the configuration and the default Hgs_* policy states.  The
 * node is built in a temporary directory beside DIR and renamed into place,
 * so a failure leaves nothing behind.  An existing non-empty DIR is refused
 * unless it is a node directory and FORCE is set (and no `hgs serve` runs on
 * it), in which case it is replaced whole.  DIR's parent folder must exist
 * (-2 when it does not; nothing is made).
 */
int hgs_node_create(const struct hgs_init_params *p);

enum {
	HGS_NODE_OPEN_KEYS = 1u << 0,     /* load the attestation signer key pair */
};

/* What `hgs add-node` asks for: FROM, or FROM_STATE with its PASSWORD and STORE. */
struct hgs_join_params {
	const char *dir;                  /* the new node's directory: absent or empty */
	const char *node_name;            /* its name: unique in the cluster */
	const char *from;                 /* a node directory of the cluster, or NULL */
	const char *from_state;           /* an export-server-state file (hgs/backup.h), or NULL */
	const char *password;             /* FROM_STATE's password, PW_LEN bytes */
	size_t pw_len;
	const char *store;                /* with FROM_STATE: the cluster's postgresql:// URI */
};

/*
 * Make DIR a new node of an existing HGS (Initialize-HgsServer joining one):
 * its `store` file names the cluster's store (FROM's, or STORE), its keys/
 * is a copy of FROM's (or of the keys in FROM_STATE), its name is
 * registered in the store's node registry.  Built beside DIR and renamed in:
 * nothing is left on a failure (the name is taken out of the registry
 * again).  -2 for bad input (a taken name, an invalid one, DIR not new or
 * empty or a symbolic link, FROM not a node, a STORE that is no URI, a
 * FROM_STATE that is no export), -3 when FROM_STATE does not authenticate
 * under PASSWORD (hgs/backup.h), -1 for other failures.
 */
int hgs_node_join(const struct hgs_join_params *p);

/*
 * The store LOCATION of the node directory DIR into LOC (SIZE bytes): the
 * one line of DIR/store, or the absolute path of DIR/hgs.db.  A `store`
 * file that is a symbolic link, not a regular file of mode 0600, empty,
 * longer than HGS_STORE_LOCATION_MAX or not one line of an absolute path or
 * a postgresql:// URI is refused with what to do.  -2 when DIR is no node.
 */
int hgs_node_store_location(const char *dir, char *loc, size_t size);

/* Open the node directory DIR (made absolute) with FLAGS into *OUT. */
int hgs_node_open(const char *dir, unsigned flags, struct hgs_node **out);

/* Close NODE and free it; NULL-safe. */
void hgs_node_close(struct hgs_node *node);

/* Take / release the node's store lock (recursive; for multi-statement work). */
void hgs_node_lock(struct hgs_node *node);
void hgs_node_unlock(struct hgs_node *node);

/*
 * The store to append one audit record to (the attestation or key
 * protection log, a used nonce: hgs/nonce.h) in *OUT: the node lock is
 * taken and the connection runs at synchronous=NORMAL until
 * hgs_node_log_release(), which puts it back to FULL and releases the
 * lock.  Commit only such records in between.  On an
 * error the lock is not held.
 */
int hgs_node_log_store(struct hgs_node *node, struct hl_store **out);
void hgs_node_log_release(struct hgs_node *node);

/* The node clock: system time + DIR/clock-offset seconds. */
int hgs_node_now(struct hgs_node *node, time_t *out);

/*
 * Around one request served by this thread: the clock offset read once at
 * begin serves every hgs_node_now(NODE) of the thread until end (an offset
 * that cannot be read is read, and refused, at each call instead).
 */
void hgs_node_request_begin(struct hgs_node *node);
void hgs_node_request_end(void);

/*
 * The store's data version (lib/store.h) for NODE's kept copies (hgs/db.h),
 * node lock held: read once per request between hgs_node_request_begin and
 * end (a commit by another connection meanwhile is seen by the next
 * request), else at each call.
 */
int hgs_node_data_version(struct hgs_node *node, long long *out);

/*
 * The stamp of NODE's store for a copy kept outside the node (as hgs/db.h
 * keeps its own): the data version and changes_gen, read under the lock.  A
 * copy read after taking the stamp is current while the stamp is the same.
 */
int hgs_node_stamp(struct hgs_node *node, long long *version, unsigned *gen);

/* The trust mode as stored now (set-server may change it while serve runs). */
int hgs_node_trust_mode(struct hgs_node *node, enum hgs_mode *out);

/*
 * The primary enabled key pair of ROLE: its certificate into *CERT and, when
 * KEY is not NULL, its private key (loaded from the key file) into *KEY.
 */
int hgs_node_keypair(struct hgs_node *node, enum hgs_key_role role, X509 **cert, EVP_PKEY **key);

/*
 * Check that every primary key pair of NODE (the attestation signer, the
 * KPS signing and encryption keys) loads from its key file and matches its
 * certificate in the store.
 */
int hgs_node_keys_check(struct hgs_node *node);

/* CERT's subject as one line, "CN=..., O=..." (RFC 2253 order), into BUF of SIZE bytes. */
int hgs_cert_subject(X509 *cert, char *buf, size_t size);

/*
 * Asked by hgs_node_remove() once DIR is known to be a node nobody serves:
 * 0 to go on, or a negative code (after hl_error()) that hgs_node_remove()
 * returns with nothing removed.
 */
typedef int hgs_node_confirm_fn(void *arg);

/*
 * Remove the node directory DIR whole (Clear-HgsServer): its store, keys,
 * certificates, logs (a node that joined another removes its directory
 * only: the shared store stays).  DIR must be a node directory itself (a
 * directory holding hgs.db or store; not a symbolic link: -2 when it is
 * not, nothing is touched).  The node's pid file is claimed for the whole removal, so no
 * `hgs serve` runs on it meanwhile: "`hgs serve` runs on the HGS node 'DIR'
 * (pid N); stop it first" (-1) when one does.  A node whose folder holds
 * the cluster's SQLite store is refused (-4, nothing touched) while other
 * nodes are registered; a node that joined leaves the registry once its
 * folder is gone.  Then CONFIRM(ARG) is asked
 * when not NULL.  DIR is renamed aside to PARENT/.BASE.clear.XXXXXX (one
 * rename: the node is there whole or gone), then that tree is removed
 * without following any symbolic link in it (a link to a file outside is
 * removed, its target kept).  When that last step fails the node is already
 * gone from DIR, and the message names the folder left to remove by hand.
 */
int hgs_node_remove(const char *dir, hgs_node_confirm_fn *confirm, void *arg);

#endif
