/*
 * keycache.h - a guarded host's key material cache (Windows Server 2019's
 * key material caching, Set-HgsKeyProtectionConfiguration
 * -AllowKeyMaterialCaching; docs/key-caching.md): the TK of a VM that KPS
 * released, sealed to the host's TPM and measured boot, so that the VM can
 * start again while HGS cannot be reached.
 *
 * What HGS says.  Every key release and attestation answer of an HGS that
 * knows the setting carries "KeyMaterialCaching" (true / false) and, when
 * true, "PolicyGeneration" (hgs/db_kpsconfig.h: a digest that changes with
 * the setting, the Hgs_* policies and every registration).
 * hosts_keycache_policy_read is the one reader of those two fields.
 *
 * An entry.  HOSTDIR/keycache/VM (the folder 0700, the file 0600, written
 * atomically, never through a symbolic link) is a JSON object:
 *   {"Vm", "KeyProtector": SHA-256 of the VM's KP file, "PolicyGeneration",
 *    "Pcrs": [0, ..., 7, 11, ..., 14], "Bank": "sha256",
 *    "Public", "Private": the sealed data object's TPM2B_PUBLIC and
 *    TPM2B_PRIVATE (hosts/tpm_host.h hosts_tpm_seal), base64, "Created"}.
 * The TK itself is only inside the TPM2B_PRIVATE, which the SRK wraps, and
 * whose authPolicy is TPM2_PolicyPCR over HOSTS_KEYCACHE_PCRS: the PCRs of
 * the measured boot HGS attests (HOSTS_QUOTE_PCRS: firmware and Secure
 * Boot in 0-7, the boot configuration - debugging, IOMMU, HVCI, VSM, CI
 * policy - in 11-14).  Only this TPM, in a boot that measured the same, can
 * unseal it: a reboot into another configuration (debug on: PCR 12) makes
 * the TPM refuse, whatever the file says.
 *
 * Invalidation.  Entries are deleted when the host reaches HGS and learns
 * that caching is off (all of them) or that the policy generation differs
 * from theirs (those), at attestation (hosts/agent.c) and at key release;
 * when KPS refuses the VM's key (that VM's); and by `hgslab host
 * clear-key-cache`.
 *
 * Contract (lib/err.h): 0 on success, -1 after hl_error(); secrets are
 * hl_buf_free'd by the caller and cleansed here once used.
 */
#ifndef HGSLAB_HOSTS_KEYCACHE_H
#define HGSLAB_HOSTS_KEYCACHE_H

#include <stddef.h>

#include <jansson.h>

#include "hosts/tpm_host.h"
#include "lib/crypto.h"

struct host;
struct hosts_kps_unwrap;

/* The folder of the entries under the host directory. */
#define HOSTS_KEYCACHE_DIR "keycache"

/* The PCRs (SHA-256 bank) an entry is sealed to: those a quote covers. */
#define HOSTS_KEYCACHE_PCRS HOSTS_QUOTE_PCRS

/* Size of a policy generation (hgs/db_kpsconfig.h HGS_POLICY_GENERATION_SIZE, with room). */
#define HOSTS_KEYCACHE_GEN_SIZE 65

/* What an HGS answer says about caching. */
struct hosts_keycache_policy {
	int known;                              /* the answer carried the fields */
	int allowed;                            /* KeyMaterialCaching */
	char generation[HOSTS_KEYCACHE_GEN_SIZE]; /* PolicyGeneration; "" when not allowed */
};

/* Read the caching fields of HGS answer O into *OUT (known = 0 when absent). */
int hosts_keycache_policy_read(const json_t *o, struct hosts_keycache_policy *out);

/*
 * Drop the entries of H that policy P makes stale: all when caching is
 * off, those of another generation otherwise; nothing when !P->known.
 * *REMOVED (may be NULL) gets how many went.
 */
int hosts_keycache_learn(struct host *h, const struct hosts_keycache_policy *p, size_t *removed);

/* Delete VM's entry (absent is fine); *REMOVED (may be NULL) gets 0 or 1. */
int hosts_keycache_remove(struct host *h, const char *vm, size_t *removed);

/* Delete every entry of H; *REMOVED (may be NULL) gets how many. */
int hosts_keycache_clear(struct host *h, size_t *removed);

/*
 * Seal TK for VM (whose KP file is KP, KP_LEN bytes) into its entry, with
 * generation GEN, to H's TPM as it is now (the running agent's swtpm, or
 * our own with the measured boot replayed).
 */
int hosts_keycache_store(struct host *h, const char *vm, const void *kp, size_t kp_len,
			 const char *gen, const struct hl_buf *tk);

/* How hosts_keycache_open ended. */
enum hosts_keycache_result {
	HOSTS_KEYCACHE_OPENED = 0,              /* *TK holds the key */
	HOSTS_KEYCACHE_NONE,                    /* no entry for this VM and KP */
	HOSTS_KEYCACHE_MISMATCH,                /* the TPM refused: another measured boot */
};

/*
 * Unseal VM's entry for KP (KP_LEN bytes) with H's TPM into *TK: the
 * result, WHY (SIZE bytes) saying why when not OPENED; -1 on an error.
 */
int hosts_keycache_open(struct host *h, const char *vm, const void *kp, size_t kp_len,
			struct hl_buf *tk, char *why, size_t size);

/* Where a VM start got its key. */
enum hosts_key_source {
	HOSTS_KEY_NONE = 0,                     /* no key: U says why */
	HOSTS_KEY_KPS,                          /* released by KPS */
	HOSTS_KEY_CACHE,                        /* unsealed from the cache (HGS unreachable) */
	HOSTS_KEY_CACHE_MISMATCH,               /* a cache entry the TPM refused: WHY says */
};

/*
 * The key of VM's start after key release U (hosts_kps_unwrap for the
 * VM's KP file KP, KP_LEN bytes; *TK as it returned):
 *   OPENED: learn U's caching fields, seal *TK when caching is allowed (a
 *           failure to seal is logged; the start goes on): HOSTS_KEY_KPS;
 *   REFUSED: KPS decided: VM's entry is deleted: HOSTS_KEY_NONE;
 *   UNREACHABLE, or NOT_HEALTHY with a TransientError (HGS down): VM's
 *           entry is unsealed into *TK: HOSTS_KEY_CACHE, HOSTS_KEY_NONE
 *           without one, HOSTS_KEY_CACHE_MISMATCH when the TPM refused
 *           (WHY, SIZE bytes, says so);
 *   otherwise HOSTS_KEY_NONE.
 * -1 on an error.
 */
int hosts_keycache_resolve(struct host *h, const char *vm, const void *kp, size_t kp_len,
			   const struct hosts_kps_unwrap *u, struct hl_buf *tk, char *why,
			   size_t size);

#endif
