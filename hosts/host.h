/*
 * host.h - a guarded host's directory: its identity, boot profile, machine
 * key, TPM, HGS client configuration and attestation state.
 *
 * `hgslab host new` creates the directory (host_create), every other host
 * verb opens it (host_open), and the host agent (hosts/agent.h) runs from
 * it.  Layout (docs/host.md):
 *
 *   DIR/                      0700
 *     host.json               identity: name, domain, swtpm address, vendor CA dir
 *     profile.json            the boot profile (hosts/profile.h JSON form)
 *     ci-policy.json          the CI policy document of the profile's ci_policy
 *     client.json             HGS client configuration (absent: Local mode)
 *     state.json              attestation state, written by the agent
 *     key-release.json        the last key release (hosts/kps_client), never by the agent
 *     hgs-log-ids.jsonl       the HGS log entries of the answers this host got (host_log_id_add)
 *     tcglog.bin              the TCG log of the last replayed boot
 *     host.log                the agent's log
 *     agent.pid               pid of the running agent
 *     agent.json              the running agent: pid, swtpm address and port
 *     tpm.lock                flock(2)ed by whoever runs the host's swtpm
 *     tpm/                    swtpm state (manufactured), swtpm.log, swtpm_setup.log
 *     keys/                   0700
 *       host-key.pem          the machine key, ECC P-256, PKCS#8, 0600
 *       host-key.pub.pem      its public half, 0644
 *       ak.tpmkey, tk.tpmkey  TPM-wrapped attestation and transport keys, 0600
 *     last-quote/             the last quote, in the files tpm2_checkquote takes
 *
 * The machine key serves host-key attestation (Add-HgsAttestationHostKey)
 * and is the AD computer account's key (hosts/ad_client.h).  Files are
 * written atomically (lib/fileio); private keys are 0600.
 *
 * Contract (lib/err.h): 0 on success, -1 after hl_error(); *out = NULL on
 * entry and set only on success; destructors and release functions are
 * NULL-safe.
 */
#ifndef HGSLAB_HOSTS_HOST_H
#define HGSLAB_HOSTS_HOST_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/evp.h>

#include "hosts/measured_boot.h"
#include "hosts/profile.h"
#include "lib/crypto.h"
#include "lib/http.h"
#include "proto/names.h"

#define HOST_CONFIG_FILE "host.json"
#define HOST_PROFILE_FILE "profile.json"
#define HOST_CI_POLICY_FILE "ci-policy.json"
#define HOST_CLIENT_FILE "client.json"
#define HOST_STATE_FILE "state.json"
#define HOST_KEY_RELEASE_FILE "key-release.json"
#define HOST_LOG_IDS_FILE "hgs-log-ids.jsonl"
#define HOST_TCGLOG_FILE "tcglog.bin"
#define HOST_LOG_FILE "host.log"
#define HOST_PID_FILE "agent.pid"
#define HOST_AGENT_FILE "agent.json"
#define HOST_TPM_LOCK_FILE "tpm.lock"
#define HOST_TPM_DIR "tpm"
#define HOST_KEYS_DIR "keys"
#define HOST_KEY_FILE "keys/host-key.pem"
#define HOST_KEY_PUB_FILE "keys/host-key.pub.pem"
#define HOST_AK_FILE "keys/ak.tpmkey"
#define HOST_TK_FILE "keys/tk.tpmkey"
#define HOST_QUOTE_DIR "last-quote"

/* A DNS domain name, NUL included. */
#define HOST_DOMAIN_MAX 64
/* Default address of the host's swtpm. */
#define HOST_LISTEN_DEFAULT "127.0.0.1"
/* Default vendor CA directory, relative to the host directory's parent. */
#define HOST_VENDOR_DIR_DEFAULT "tpm-vendor"

/* An open host directory.  dir and vendor_dir are absolute; profile is the current one. */
struct host {
	char *dir;
	char name[HL_NAME_COMPUTER_SIZE];     /* "FabricHost1" */
	char domain[HOST_DOMAIN_MAX];         /* "fabrikam.com" */
	char listen[16];                      /* the swtpm's IPv4 loopback address */
	char *vendor_dir;                     /* the lab's TPM vendor CA directory */
	time_t created;
	struct hl_profile profile;
};

/* What `host new` asks for. */
struct host_new_params {
	const char *dir;
	const char *name;
	const char *domain;
	const char *profile;          /* SPEC; NULL = "baseline" */
	const char *vendor_dir;       /* NULL = DIR/../tpm-vendor */
	const char *listen;           /* NULL = HOST_LISTEN_DEFAULT */
	const char *tpm_state;        /* a manufactured state to adopt (hosts/tpm_state.h); NULL = manufacture */
};


/* Check a swtpm listen address: an IPv4 address in 127.0.0.0/8. */
int host_check_listen(const char *addr);

/*
 * Create the host directory P->dir: the vendor CA (hosts_vendor_ca_init,
 * idempotent, so hosts made side by side share it), the manufactured TPM
 * (hosts_tpm_manufacture, ~0.8 s), the machine key, the profile and its CI
 * policy document.  With P->tpm_state the TPM is that manufactured state,
 * adopted (hosts_tpm_state_adopt: copied, its EK certificate checked against
 * the vendor CA, which must exist; its AK and TK become keys/ak.tpmkey and
 * keys/tk.tpmkey).  Built in a temporary directory beside DIR and renamed
 * into place: a failure leaves nothing behind.  An existing DIR is refused.
 */
int host_create(const struct host_new_params *p);

/* 0 when DIR may become a host directory (missing, or an empty folder); -1 saying why not. */
int host_new_target_check(const char *dir);

/* Open the host directory DIR into *OUT. */
int host_open(const char *dir, struct host **out);

/* Free H; NULL-safe. */
void host_close(struct host *h);

/* "DIR/FILE" of H into a new string *OUT (caller frees). */
int host_path(const struct host *h, const char *file, char **out);

/*
 * Record profile P as H's profile (profile.json and ci-policy.json, atomic
 * writes); the agent replays it at its next start.
 */
int host_set_profile(struct host *h, const struct hl_profile *p);

/* The CI policy document of H's profile into a new buffer (caller frees). */
int host_ci_policy(const struct host *h, char **out, size_t *len);

/* Load H's machine key (private) into *OUT. */
int host_key_load(const struct host *h, EVP_PKEY **out);

/* H's machine key, public half, as PEM into OUT. */
int host_key_pub_pem(const struct host *h, struct hl_buf *out);

/* ---- client configuration (Set-HgsClientConfiguration) ---- */

/* At most this many --resolve entries. */
#define HOST_RESOLVE_MAX 16

/*
 * The HGS client configuration.  attestation_url NULL means Local mode (not
 * a guarded host).  resolve is NULL-terminated (n_resolve entries) as
 * lib/http takes it: "NAME:PORT:ADDR".
 */
struct host_client_config {
	char *attestation_url;
	char *key_protection_url;
	char *fallback_attestation_url;
	char *fallback_key_protection_url;
	char *dc_url;                         /* the fabric DC (AD mode) */
	char **resolve;
	size_t n_resolve;
};

/* Check C: URLs are http(s)://..., fallbacks come in pairs, resolve entries parse. */
int host_client_config_check(const struct host_client_config *c);

/* Load H's client configuration into *OUT (all NULL when none was set). */
int host_client_config_load(const struct host *h, struct host_client_config *out);

/* Check and save C as H's client configuration. */
int host_client_config_save(const struct host *h, const struct host_client_config *c);

/* Free what C holds and zero it; NULL-safe. */
void host_client_config_release(struct host_client_config *c);

/* ---- attestation state (what Get-HgsClientConfiguration shows) ---- */

#define HOST_STATUS_NOT_CONFIGURED "NotConfigured"
#define HOST_STATUS_UNKNOWN "Unknown"       /* configured, never attempted */
#define HOST_STATUS_PASSED "Passed"
#define HOST_STATUS_EXPIRED "Expired"
#define HOST_STATUS_TRANSIENT "TransientError"

/*
 * The agent's record of its last attestation attempt.  Times: attempt_ms and
 * expires/renew_at are the host's clock; not_after is the HGS node clock, as
 * the certificate says.  health_cert is DER, empty unless the last attempt
 * Passed.
 */
struct host_state {
	char status[32];              /* AttestationStatus, or NotConfigured / Unknown */
	char substatus[512];          /* "DebugMode, Iommu", "" when none */
	char reason[1024];
	char mode[16];                /* the HGS trust mode: "tpm", "ad", "hostkey", "" */
	char operation_mode[32];      /* "TrustTpm", ... "" before the first contact */
	char node[64];                /* the HGS that decided */
	char node_name[64];           /* the HGS node that answered the last attempt (X-Hgs-Node), "" none */
	char node_address[64];        /* ... at this address */
	char server_url[512];         /* the attestation URL that answered (or was tried) */
	int fallback_in_use;
	struct hl_buf health_cert;
	time_t not_after;             /* node clock; 0 when none */
	time_t expires;               /* host clock: when the certificate runs out; 0 none */
	time_t renew_at;              /* host clock: next planned attempt; 0 none */
	long long attempt_ms;         /* host clock, ms since the epoch; 0 never */
	unsigned long attempts;       /* attempts since the host directory was made */
	char trigger[16];             /* "start", "renewal", "retry", "signal", "test" */
	char ak_node[64];             /* the HGS the AK is known to be bound to ("" unknown) */
	char ak_signer[65];           /* ... identified by its signer thumbprint */
	/*
	 * The last key release, read from DIR/key-release.json by
	 * host_state_load (written by host_key_release_save, never by the
	 * agent, and not part of state.json): the key protection URL that
	 * answered and whether it was the fallback.
	 */
	char kp_server_url[512];
	int kp_fallback_in_use;
	char kp_node_name[64];        /* the HGS node that answered it, "" none */
	char kp_node_address[64];
};

/* Load H's state (a fresh Unknown state when there is none yet). */
int host_state_load(const struct host *h, struct host_state *out);

/* Save S as H's state (atomic). */
int host_state_save(const struct host *h, const struct host_state *s);

/* Free what S holds and zero it; NULL-safe. */
void host_state_release(struct host_state *s);

/*
 * Record H's last key release (atomic write of DIR/key-release.json): the
 * key protection URL that answered (or was tried), whether it was the
 * fallback, the node that answered and its address (NODE, ADDRESS: NULL or
 * "" when none did), and RESULT ("Released" or KPS's reason code).  No key
 * material.
 */
int host_key_release_save(const struct host *h, const char *url, int fallback, const char *node,
			  const char *address, const char *result);

/*
 * The HGS log entries of the answers H got, so a lab can check that every
 * answered attestation and key release is in HGS's shared logs exactly
 * once: DIR/hgs-log-ids.jsonl, one JSON object a line, {"Kind":
 * "attestation" | "key-release", "LogId": N, "Node": "HGS02", "Address":
 * "127.X.Y.2", "Time": "..."}.  Appended (one write(2) per line, so the
 * agent and a verb may both append); kept to the last HOST_LOG_IDS_MAX
 * lines (trimmed atomically once it holds twice that many).
 */
#define HOST_LOG_IDS_MAX 1000

/* Append entry LOG_ID (> 0; 0 is ignored: the answer named none) of KIND to H's list. */
int host_log_id_add(const struct host *h, const char *kind, long long log_id, const char *node,
		    const char *address);

/* The list of host directory DIR as a JSON array (empty when there is none) into *OUT. */
int host_log_ids_load(const char *dir, json_t **out);

/* S as a JSON object, every field (caller json_decref()s). */
int host_state_to_json(const struct host_state *s, json_t **out);

/*
 * The AttestationStatus to show at host time NOW: S's status, except
 * Passed turns into Expired once the certificate ran out.
 */
const char *host_state_status(const struct host_state *s, time_t now);

/*
 * Get-HgsClientConfiguration of H from its configuration C and state S at
 * NOW, as an ordered JSON object (IsHostGuarded, Mode,
 * AttestationOperationMode, AttestationStatus, AttestationSubstatus,
 * AttestationServerUrl, KeyProtectionServerUrl, the fallbacks,
 * IsFallbackInUse - the fallback answered the last attestation or the last
 * key release - then hgslab's own details).  AGENT_PID is the running
 * agent's pid or 0.
 */
int host_client_status_json(const struct host *h, const struct host_client_config *c,
			    const struct host_state *s, long agent_pid, time_t now, json_t **out);

#endif
