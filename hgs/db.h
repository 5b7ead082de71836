/*
 * db.h - the HGS node's SQLite store: schema and data access.
 *
 * Schema (lib/store migrations, hgs/db.c hgs_db_migrations; append-only):
 *   node                 one row: name, domain, trust mode, listen address,
 *                        health certificate validity, TPM vendor CA bundle
 *   node_keys            the node's key pairs by role (attestation-signer,
 *                        kps-signing, kps-encryption): certificate PEM,
 *                        thumbprint, key file (relative to the node dir),
 *                        primary / enabled flags.  Issue #4's KPS certificate
 *                        rotation adds rows here.
 *   attestation_policies Hgs_* policy name -> enabled (seeded from
 *                        hgs_policy_defs; hgs/policy.h)
 *   tpm_hosts            Add-HgsAttestationTpmHost: name, EK public key, EK
 *                        certificate, the platform identifier as given
 *   tpm_policies         Add-HgsAttestationTpmPolicy: TCG log baselines
 *   ci_policies          Add-HgsAttestationCIPolicy: code integrity policies
 *   host_groups          Add-HgsAttestationHostGroup: AD group SIDs
 *   host_keys            Add-HgsAttestationHostKey: host public keys
 *   attestation_log      every attestation attempt (hgs/attest_log.h
 *                        records them); an audit record (hgs_node_log_store)
 *   (nonces              dropped by migration 6: nonces now live in the
 *                        memory of `hgs serve`, hgs/nonce.h)
 *   tpm_ak_pins          TPM mode: the AK each TPM host proved by credential
 *                        activation, pinned to its EK (hgs/attest_tpm.h)
 *   tpm_challenges       TPM mode: pending activation challenges (expiring)
 *   kps_policy           one row: the health certificate cut-off of the Key
 *                        Protection Service (hgs/kps.h)
 *   key_protection_log   every key release and refusal (hgs/kps.h);
 *                        an audit record (hgs_node_log_store)
 *   cluster_nodes, cluster_secrets, used_nonces
 *                        what the nodes of a cluster share (migration 8,
 *                        accessors in hgs/db_cluster.h; used_nonces keyed
 *                        by the nonce alone since migration 11)
 * Another module that needs a table (AK pins for TPM mode, the key
 * protection log) appends a migration to hgs_db_migrations.
 *
 * Every SQL statement of the node is here or in hgs/db_cluster.c (the
 * cluster's shared rows): no other hgs/ file runs SQL.
 * Every function takes the node's lock itself and runs its writes in one
 * transaction: a failure leaves the store as it was.  Statements come from
 * the store's cache (hl_store_query) and are bound and read with lib/store's
 * value lists (HL_VALS); the SQL is lib/store's portable subset, so the
 * node runs the same on SQLite and on PostgreSQL.  The key protection log is appended
 * as an audit record instead (hgs_node_log_store: synchronous=NORMAL for
 * that commit).  Lookups used by the attestation modes return 1 when found,
 * 0 when not, -1 on error.
 *
 * Contract (lib/err.h): 0 on success, -1 after hl_error(); out pointers are
 * NULL on entry and set only on success; *_free() functions are NULL-safe.
 */
#ifndef HGSLAB_HGS_DB_H
#define HGSLAB_HGS_DB_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "hgs/node.h"
#include "hgs/policy.h"
#include "lib/store.h"
#include "proto/platform_id.h"

/* The migrations, in order. */
extern const char *const hgs_db_migrations[];
extern const size_t hgs_db_n_migrations;

/* Open (creating) the store at PATH and bring it to the current schema. */
int hgs_db_open(const char *path, struct hl_store **out);

/* ---- the node row (hgs_node_create writes it once) ---- */

/* Insert the node row and seed the policies (used by hgs_node_create). */
int hgs_db_node_insert(struct hl_store *st, const struct hgs_config *cfg,
		       const char *vendor_ca_pem);

/* Read the node row of ST into *OUT. */
int hgs_db_config_read(struct hl_store *st, struct hgs_config *out);

/*
 * The live configuration of NODE.  Kept between calls the way the policy
 * snapshot is (hgs_db_policy_set_load below): read again once the store's
 * data version (another connection committed) or NODE's changes_gen (this
 * handle changed something) moved.
 */
int hgs_db_config_get(struct hgs_node *node, struct hgs_config *out);

/* Set-HgsServer: change the trust mode / health certificate validity / TPM vendor CA. */
int hgs_db_set_trust(struct hgs_node *node, enum hgs_mode mode);
int hgs_db_set_validity(struct hgs_node *node, int hours);
int hgs_db_set_vendor_ca(struct hgs_node *node, const char *pem);
/* Set where `hgs serve` listens, "ADDR:PORT" (checked); for a restored node (hgs/backup.h). */
int hgs_db_set_listen(struct hgs_node *node, const char *listen);

/* The TPM vendor CA bundle (PEM) into *OUT (malloc'd); 0 with *OUT NULL when none. */
int hgs_db_vendor_ca_get(struct hgs_node *node, char **out);

/* ---- keys ---- */

/* Insert a key row (used by hgs_node_create); KEY_FILE is relative to the node dir. */
int hgs_db_key_insert(struct hl_store *st, enum hgs_key_role role, const char *thumbprint,
		      const char *cert_pem, const char *key_file, int primary, time_t added);

/*
 * The primary enabled key of ROLE: certificate PEM and key file (relative),
 * both malloc'd.
 */
int hgs_db_key_primary(struct hgs_node *node, enum hgs_key_role role, char **cert_pem,
		       char **key_file);

/* ---- Hgs_* attestation policies ---- */

/* Insert the policies of hgs_policy_defs missing from ST with their default state. */
int hgs_db_policy_seed(struct hl_store *st);

/*
 * Enable or disable policy NAME.  An unknown name and disabling a locked
 * policy are refused with a message saying why and what to do.
 */
int hgs_db_policy_enable(struct hgs_node *node, const char *name, int enabled);

/*
 * The policies as a JSON array of {"Name", "PolicyState": "Enabled" |
 * "Disabled", "Locked": bool, "Description"}, in hgs_policy_defs order.
 */
int hgs_db_policy_list(struct hgs_node *node, json_t **out);

/* Names of the enabled policies (malloc'd array of malloc'd strings; free with hgs_strv_free). */
int hgs_db_policies_enabled(struct hgs_node *node, char ***names, size_t *n);

/* Free an array of N strings; NULL-safe. */
void hgs_strv_free(char **v, size_t n);

/* ---- registrations ---- */

enum hgs_reg_kind {
	HGS_REG_TPM_HOST = 0,  /* add-tpm-host */
	HGS_REG_TPM_POLICY,    /* add-tpm-policy */
	HGS_REG_CI_POLICY,     /* add-ci-policy */
	HGS_REG_HOST_GROUP,    /* add-host-group */
	HGS_REG_HOST_KEY,      /* add-host-key */
	HGS_REG_COUNT
};

/* "TPM host", "TPM policy", "CI policy", "host group", "host key". */
const char *hgs_reg_noun(enum hgs_reg_kind kind);

/*
 * The registrations of KIND (only NAME's when NAME is not NULL; an unknown
 * NAME is then an error) as a JSON array of objects whose keys are the
 * cmdlets' property names (Name, Added, ...; see docs/attestation-protocol.md).
 */
int hgs_db_reg_list(struct hgs_node *node, enum hgs_reg_kind kind, const char *name,
		    json_t **out);

/* Remove registration NAME of KIND; an unknown NAME is an error. */
int hgs_db_reg_remove(struct hgs_node *node, enum hgs_reg_kind kind, const char *name);

/*
 * Add-HgsAttestationTpmHost.  The EK certificate, when present, must certify
 * the EK and, unless FORCE, chain to the TPM vendor CA; without an EK
 * certificate FORCE is required (as HGS does).  Duplicate names and EKs are
 * refused.
 */
int hgs_db_tpm_host_add(struct hgs_node *node, const char *name, const struct hgs_platform_id *id,
			int force);

/*
 * Add-HgsAttestationTpmPolicy: LOG must be a usable baseline
 * (hgs_policy_check_baseline): -2 when it is not (bad input, nothing
 * registered), -1 on other failures (the same log twice, the store).
 */
int hgs_db_tpm_policy_add(struct hgs_node *node, const char *name, const void *log, size_t len);

/*
 * Add-HgsAttestationCIPolicy: DATA must be a CI policy document
 * (hgs_policy_check_ci): -2 when it is not; the same bytes twice are
 * refused (-1).
 */
int hgs_db_ci_policy_add(struct hgs_node *node, const char *name, const void *data, size_t len);

/* Add-HgsAttestationHostGroup: SID in the S-1-... form. */
int hgs_db_host_group_add(struct hgs_node *node, const char *name, const char *sid);


/* Add-HgsAttestationHostKey: KEY's public half; the same key twice is refused. */
int hgs_db_host_key_add(struct hgs_node *node, const char *name, EVP_PKEY *key);

/* ---- lookups for the attestation modes (1 found, 0 not found, -1 error) ---- */

/* A registered TPM host. */
struct hgs_tpm_host {
	char name[HL_NAME_REG_SIZE];
	char host[HL_NAME_REG_SIZE];          /* host named in the platform identifier */
	EVP_PKEY *ek;
	X509 *ek_cert;                    /* NULL when added without one */
	char ek_fingerprint[HL_SHA256_HEX_SIZE];
	int forced;
	char *identifier_json;            /* the platform identifier as registered */
};
void hgs_tpm_host_free(struct hgs_tpm_host *h);

/* The TPM host whose EK has FINGERPRINT (hl_key_fingerprint of the EK). */
int hgs_db_tpm_host_find_ek(struct hgs_node *node, const char *fingerprint,
			    struct hgs_tpm_host **out);

/* The TPM host registered as NAME. */
int hgs_db_tpm_host_find_name(struct hgs_node *node, const char *name, struct hgs_tpm_host **out);

/* Room for a TPM name in hex (alg id + digest up to SHA-512) and its NUL. */
#define HGS_TPM_NAME_HEX_MAX (2 * (2 + 64) + 1)

/*
 * What TPM attestation reads of one host per request, in one statement (one
 * snapshot): the registration unparsed (the columns
 * hgs_db_tpm_host_find_name parses), the node's TPM vendor CA bundle
 * (hgs_db_vendor_ca_get) and the AK pinned to the host
 * (hgs_db_tpm_ak_pin_get).  Release with hgs_tpm_reg_release().
 */
struct hgs_tpm_reg {
	int forced;
	struct hl_buf ek_public;          /* DER SubjectPublicKeyInfo */
	struct hl_buf ek_cert;            /* DER; len 0 when none */
	char host[HL_NAME_REG_SIZE];          /* host named in the platform identifier */
	char ek_fingerprint[HL_SHA256_HEX_SIZE];
	char *bundle;                     /* the node's TPM vendor CA bundle, NULL when none */
	int pinned;                       /* an AK is pinned (tpm_ak_pins) */
	char ak_name[HGS_TPM_NAME_HEX_MAX]; /* its name, as hgs_db_tpm_ak_pin_get gives it */
};

/* Read TPM host NAME into *R: 1 found (then release R), 0 not registered, -1 error. */
int hgs_db_tpm_reg_read(struct hgs_node *node, const char *name, struct hgs_tpm_reg *r);
void hgs_tpm_reg_release(struct hgs_tpm_reg *r);

/* The host key with FINGERPRINT: its registered name (malloc'd) and key. */
int hgs_db_host_key_find(struct hgs_node *node, const char *fingerprint, char **name,
			 EVP_PKEY **key);

/* The host group registered with SID: its name (malloc'd). */
int hgs_db_host_group_find_sid(struct hgs_node *node, const char *sid, char **name);

/*
 * Everything the policy evaluation needs, read in one snapshot: registered
 * baselines and CI policies and the enabled policy names, laid out as
 * struct hgs_policy_input wants them (log is left for the caller).
 *
 * The registrations are not read at every call: the node keeps the last
 * snapshot (struct hgs_policy_data, shared read-only by reference count)
 * with the store's data version (hl_store_data_version: SQLite's PRAGMA
 * data_version of its connection, which changes when any other connection
 * commits; PostgreSQL's generation, which every write transaction of this
 * file bumps, whichever process or machine runs it), and the node's own
 * change count (changes_gen, bumped by this handle's write transactions,
 * every one of which is a tx_begin: every way it changes what a snapshot
 * holds).  A call whose two counters equal the kept
 * ones takes the kept snapshot; any other reads a new one.  IN is the
 * caller's own copy, which it may complete (log, replayed, trace...).
 */
struct hgs_policy_data;
struct hgs_policy_set {
	struct hgs_policy_input in;
	struct hgs_policy_data *data;     /* storage behind in, shared */
};
int hgs_db_policy_set_load(struct hgs_node *node, struct hgs_policy_set **out);
void hgs_policy_set_free(struct hgs_policy_set *ps);

/* Drop NODE's kept policy snapshot (hgs_node_close). */
void hgs_db_policy_cache_drop(struct hgs_node *node);

/* ---- TPM mode: AK pins and activation challenges (hgs/attest_tpm.c) ---- */

/* An activation challenge id: 16 random bytes in hex, and its NUL. */
#define HGS_TPM_CHALLENGE_ID_SIZE 33

/*
 * The AK that TPM host HOST proved, by credential activation, to live in
 * the TPM of the EK registered for it.  Rows go when the host is removed.
 */
struct hgs_tpm_ak_pin {
	char host[HL_NAME_REG_SIZE];
	char ek_fingerprint[HL_SHA256_HEX_SIZE];
	char ak_name[HGS_TPM_NAME_HEX_MAX];   /* the AK's TPM name, uppercase hex */
	struct hl_buf ak_public;              /* its TPM2B_PUBLIC */
	time_t pinned;                        /* node clock when pinned */
};
void hgs_tpm_ak_pin_free(struct hgs_tpm_ak_pin *p);

/* The AK pinned for TPM host HOST (1 found, 0 none yet, -1 error). */
int hgs_db_tpm_ak_pin_get(struct hgs_node *node, const char *host, struct hgs_tpm_ak_pin **out);

/*
 * Pin PIN->ak_name to PIN->host, in one transaction: 1 when it is now
 * pinned (or already was, to the same AK), 0 when another AK is pinned to
 * that host already (nothing changes: a binding proven once stays), -1 on
 * an error (e.g. the host is no longer registered).
 */
int hgs_db_tpm_ak_pin_set(struct hgs_node *node, const struct hgs_tpm_ak_pin *pin);

/*
 * A pending credential activation: the challenge HGS made for an AK of
 * HOST's TPM; only the SHA-256 of the secret is kept.
 */
struct hgs_tpm_challenge {
	char id[HGS_TPM_CHALLENGE_ID_SIZE];
	char host[HL_NAME_REG_SIZE];
	char ek_fingerprint[HL_SHA256_HEX_SIZE];
	char ak_name[HGS_TPM_NAME_HEX_MAX];
	struct hl_buf ak_public;              /* the AK's TPM2B_PUBLIC */
	unsigned char secret_sha256[HL_SHA256_LEN];
	time_t expires;                       /* node clock */
};
void hgs_tpm_challenge_free(struct hgs_tpm_challenge *c);

/*
 * Store challenge C; challenges that expired before NOW are purged in the
 * same transaction.
 */
int hgs_db_tpm_challenge_add(struct hgs_node *node, const struct hgs_tpm_challenge *c, time_t now);

/*
 * Take (read and delete, atomically: a challenge is answered once) the
 * challenge ID: 1 found, 0 unknown (never issued, already answered, or its
 * host removed), -1 error.  Expiry is the caller's to check.
 */
int hgs_db_tpm_challenge_take(struct hgs_node *node, const char *id,
			      struct hgs_tpm_challenge **out);

/* ---- Key Protection Service (hgs/kps.h): certificates, cut-off, log ---- */

/* Fewest hex digits a thumbprint prefix given to the admin verbs may have. */
#define HGS_KPS_THUMBPRINT_PREFIX_MIN 8

/*
 * One KPS certificate: a node_keys row of role kps-signing or
 * kps-encryption (Add-/Get-/Set-/Remove-HgsKeyProtectionCertificate).
 * Invariants kept by the functions below: each role has exactly one primary
 * certificate, and it is enabled (hgs init creates the first pair).
 */
struct hgs_kps_cert {
	enum hgs_key_role role;           /* HGS_KEY_KPS_SIGNING or HGS_KEY_KPS_ENCRYPTION */
	char thumbprint[HL_SHA256_HEX_SIZE];
	char *cert_pem;
	char *key_file;                   /* relative to the node dir, e.g. keys/kps-encryption.key */
	int primary;
	int enabled;
	time_t added;                     /* node clock */
};
void hgs_kps_cert_free(struct hgs_kps_cert *c);
/* Free an array of N certificates (hgs_db_kps_cert_list); NULL-safe. */
void hgs_kps_certs_free(struct hgs_kps_cert **v, size_t n);

/*
 * The KPS certificate with the full THUMBPRINT (hex, either case): 1 found,
 * 0 none (an attestation signer thumbprint or a malformed one is "none"),
 * -1 error.
 */
int hgs_db_kps_cert_get(struct hgs_node *node, const char *thumbprint, struct hgs_kps_cert **out);

/*
 * The full thumbprint of the one KPS certificate whose thumbprint starts
 * with PREFIX (at least HGS_KPS_THUMBPRINT_PREFIX_MIN hex digits, either
 * case) into OUT; unknown and ambiguous prefixes are errors saying so.
 */
int hgs_db_kps_cert_resolve(struct hgs_node *node, const char *prefix,
			    char out[HL_SHA256_HEX_SIZE]);

/* Every KPS certificate, signing ones first, each role oldest first. */
int hgs_db_kps_cert_list(struct hgs_node *node, struct hgs_kps_cert ***out, size_t *n);

/*
 * Add a KPS certificate of ROLE (its key already written to KEY_FILE,
 * relative to the node dir), enabled; when PRIMARY it becomes its role's
 * primary in the same transaction.  A thumbprint the node already has (in
 * any role) is refused.
 */
int hgs_db_kps_cert_add(struct hgs_node *node, enum hgs_key_role role, const char *thumbprint,
			const char *cert_pem, const char *key_file, int primary, time_t added);

enum hgs_kps_cert_change {
	HGS_KPS_CERT_SET_PRIMARY,  /* refused for a disabled certificate */
	HGS_KPS_CERT_ENABLE,
	HGS_KPS_CERT_DISABLE,      /* refused for the primary certificate */
};

/* Change the KPS certificate with the full THUMBPRINT; messages say what to do. */
int hgs_db_kps_cert_change(struct hgs_node *node, const char *thumbprint,
			   enum hgs_kps_cert_change change);

/*
 * Remove the KPS certificate with the full THUMBPRINT (never the primary
 * one); *KEY_FILE gets its key file (relative, malloc'd) for the caller to
 * delete.
 */
int hgs_db_kps_cert_remove(struct hgs_node *node, const char *thumbprint, char **key_file);

/*
 * The health certificate cut-off
 * (Set-HgsKeyProtectionAttestationSignerCertificatePolicy
 * -DenyHealthCertificatesIssuedBefore): *SET is 0 when none is configured.
 */
int hgs_db_kps_cutoff_get(struct hgs_node *node, int *set, time_t *cutoff);

/* Set the cut-off to CUTOFF (node clock), or clear it when SET is 0. */
int hgs_db_kps_cutoff_set(struct hgs_node *node, int set, time_t cutoff);

/* One entry of the attestation log (hgs/attest_log.h); NULL REMOTE / HEALTHCERT are stored as null. */
struct hgs_attest_log_entry {
	time_t time;                          /* node clock */
	const char *host;                     /* "" when the request named none */
	const char *mode;                     /* "tpm", "ad", "hostkey" */
	const char *status;                   /* AttestationStatus name */
	uint32_t substatus;                   /* HGS_SUB_* bits */
	const char *reason;
	const char *remote;                   /* peer "127.0.0.5:40112" */
	const char *healthcert;               /* thumbprint of the certificate issued */
	const char *trace;                    /* the exchange's trace as JSON text (hgs/trace.h), or NULL */
};

/*
 * Append E to the attestation log (an audit record, hgs_node_log_store)
 * and, when NONCE is not NULL, use up that nonce (NONCE_LEN bytes, valid
 * until EXPIRES: hgs/nonce.h) in the same write transaction, committed
 * when this returns: 1 done, *ID the entry's Id; 0 when the nonce was
 * already used (rolled back: nothing recorded); -1 error.
 */
int hgs_db_attest_log_add(struct hgs_node *node, const struct hgs_attest_log_entry *e,
			  const unsigned char *nonce, size_t nonce_len, time_t expires,
			  long long *id);

/*
 * The attestation log as a JSON array, oldest first, of {"Id", "Time",
 * "Host", "Mode", "Status", "SubStatus": [names], "Reason", "Remote",
 * "HealthCertificate", "Trace"} (Trace: the exchange's trace, hgs/trace.h,
 * or null).  HOST (may be NULL) keeps only that host's attempts; LAST > 0
 * keeps only the LAST most recent ones.
 */
int hgs_db_attest_log_list(struct hgs_node *node, const char *host, long last, json_t **out);

/*
 * The attestation log's entries whose Id is above AFTER, oldest first, at
 * most MAX (> 0) of the most recent: how a watcher (the dashboard, the run
 * report) follows the log.  Same objects as hgs_db_attest_log_list().
 */
int hgs_db_attest_log_since(struct hgs_node *node, long long after, long max, json_t **out);

/* One entry of the key protection log; NULL strings are stored as null. */
struct hgs_kps_log_entry {
	time_t time;                          /* node clock */
	const char *host;                     /* subject CN of the health certificate presented */
	const char *key_protector;            /* KP id */
	const char *owner;                    /* KP owner's name */
	const char *result;                   /* "Released", "Refused", "BadRequest", "Error" */
	const char *reason;                   /* reason code (hgs/kps.h), "" when released */
	const char *message;                  /* the sentence the requester got */
	int http_status;
	const char *remote;                   /* peer "127.0.0.5:40112" */
	const char *health_certificate;       /* its thumbprint */
	const char *encryption_certificate;   /* thumbprint of the KPS certificate that unwrapped */
	const char *trace;                    /* the exchange's trace as JSON text (hgs/trace.h), or NULL */
};

/* Append E to the key protection log, committed when this returns; *ID gets the entry's Id. */
int hgs_db_kps_log_add(struct hgs_node *node, const struct hgs_kps_log_entry *e, long long *id);

/*
 * The key protection log as a JSON array, oldest first, of {"Id", "Time",
 * "Host", "KeyProtector", "Owner", "Result", "Reason", "Message",
 * "HttpStatus", "Remote", "HealthCertificate", "EncryptionCertificate",
 * "Trace"}; HOST (may be NULL) keeps one host's entries, LAST > 0 the LAST
 * most recent.
 */
int hgs_db_kps_log_list(struct hgs_node *node, const char *host, long last, json_t **out);

/* The key protection log's entries whose Id is above AFTER, oldest first, at most MAX (> 0). */
int hgs_db_kps_log_since(struct hgs_node *node, long long after, long max, json_t **out);

#endif
