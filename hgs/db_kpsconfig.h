/*
 * db_kpsconfig.h - the key protection configuration of an HGS
 * (Get-/Set-HgsKeyProtectionConfiguration) in the node's shared store, and
 * the policy generation hosts compare their key material caches against.
 *
 * AllowKeyMaterialCaching.  One row of table key_protection_config
 * (migration 9 of hgs/db.c): whether a guarded host may keep the key
 * material of a released key sealed to its TPM and use it to start the VM
 * again while HGS cannot be reached (docs/key-caching.md).  Off by default.
 * Every node of a cluster reads the same row, so a change made at one node
 * holds for the whole HGS at its next answer.  Each set also bumps the
 * row's epoch, so turning caching off and on again is a change too.
 *
 * The policy generation.  A digest of everything a cached key's validity
 * rests on: the row above (the setting and its epoch), the trust mode and
 * TPM vendor CAs, the Hgs_* policy states, every registration (TPM hosts
 * and their EK fingerprints, TPM baselines and CI policies by digest, AD
 * host groups, host keys), and what KPS decides with (the health
 * certificate cut-off, which KPS encryption certificates are enabled).  It is the first HGS_POLICY_GENERATION_LEN hex digits of the
 * SHA-256 over those rows, each as "TABLE\0COLUMN1\0COLUMN2\0", read in one
 * snapshot in primary-key order.  It changes whenever any of them changes
 * (a policy enabled or disabled, a host registered or removed, a baseline
 * added, an encryption certificate disabled, caching switched), and every node of one store computes the same
 * value.  It is computed from the rows at each answer (no counter to keep
 * in step: the store needs no trigger), and only when caching is allowed.
 *
 * Contract (lib/err.h): 0 on success, -1 after hl_error(); each function
 * takes the node lock itself.
 */
#ifndef HGSLAB_HGS_DB_KPSCONFIG_H
#define HGSLAB_HGS_DB_KPSCONFIG_H

#include "hgs/node.h"

/* Hex digits of a policy generation, and the size of a buffer holding one. */
#define HGS_POLICY_GENERATION_LEN 16
#define HGS_POLICY_GENERATION_SIZE (HGS_POLICY_GENERATION_LEN + 1)

/* The key protection configuration as stored. */
struct hgs_kps_config {
	int allow_caching;                      /* AllowKeyMaterialCaching */
	long long epoch;                        /* bumped by every set */
};

/* Read NODE's key protection configuration into *OUT. */
int hgs_db_kps_config_get(struct hgs_node *node, struct hgs_kps_config *out);

/* Set AllowKeyMaterialCaching of NODE's HGS to ALLOW (0 or 1), bumping the epoch. */
int hgs_db_kps_config_set(struct hgs_node *node, int allow);

/*
 * The policy generation of NODE's HGS now (above) into OUT, and the
 * configuration it covers into *CFG (may be NULL), read in one snapshot.
 */
int hgs_db_policy_generation(struct hgs_node *node, struct hgs_kps_config *cfg,
			     char out[HGS_POLICY_GENERATION_SIZE]);

#endif
