/*
 * profile.h - a guarded host's boot profile: what its measured boot says
 * about it (Secure Boot, debugging, IOMMU, VSM, code integrity policy...).
 *
 * A profile is written as a SPEC: a named profile followed by comma-separated
 * overrides, e.g.
 *   baseline
 *   baseline,debug=on,secure_boot=off,ci_policy=Other,firmware=2.0.1
 * The only named profile is "baseline", a healthy host:
 *   debug=off secure_boot=on iommu=on hvci=on vsm=on ci_policy=HgsLabDefault
 *   firmware=HGSLAB-UEFI-1.0.0 resumed=no pagefile_encryption=on hibernation=off
 *   dumps=off dump_encryption=on dump_key=HgsLabDumpKey bitlocker=on
 * Switches take on|off (resumed takes yes|no; either pair, and true|false,
 * is accepted for every switch).  Names (ci_policy, dump_key) and the
 * firmware version are 1-HL_PROFILE_NAME_MAX characters of [A-Za-z0-9._+-].
 *
 * The canonical SPEC (hl_profile_to_spec) is the profile name plus only the
 * settings that differ from it, in the table order above; parsing it gives
 * back an equal profile.  The JSON form (stored in the host's directory) is an
 * object {"base": "baseline", "debug": "off", ...} with every setting;
 * hl_profile_from_json also takes JSON booleans for switches and missing
 * members (they keep the base profile's value), so a scenario's
 * `profile: { base: baseline, debug: on }` maps onto it directly.
 *
 * The CI policy document of a policy NAME is an hgslab-defined JSON file
 * generated deterministically from the name (same name, same bytes): it is
 * what `host get-ci-policy` exports and `hgs add-ci-policy` registers, and its
 * SHA-256 is what the host measures in its SI_POLICY event (lib/wbcl.h).
 *
 * Contract (lib/err.h): 0 on success, -1 after hl_error(); out pointers are
 * cleared on entry and set only on success.
 */
#ifndef HGSLAB_HOSTS_PROFILE_H
#define HGSLAB_HOSTS_PROFILE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define HL_PROFILE_NAME_MAX 63

/* A boot profile.  Switches are 0 or 1; names are non-empty, valid characters. */
struct hl_profile {
	char base[16];                          /* "baseline" */
	int debug;                              /* boot + kernel debugging on */
	int secure_boot;
	int iommu;
	int hvci;                               /* hypervisor-enforced code integrity */
	int vsm;                                /* virtual secure mode (and its IDK) */
	char ci_policy[HL_PROFILE_NAME_MAX + 1];
	char firmware[HL_PROFILE_NAME_MAX + 1]; /* measured in PCR 0 */
	int resumed;                            /* resumed from hibernation, not a full boot */
	int pagefile_encryption;
	int hibernation;                        /* hibernation enabled */
	int dumps;                              /* crash dumps enabled */
	int dump_encryption;
	char dump_key[HL_PROFILE_NAME_MAX + 1]; /* names the dump encryption key */
	int bitlocker;
};

/* The setting names in canonical order; NULL-terminated. */
extern const char *const hl_profile_keys[];

/* Set P to the named profile NAME ("baseline"); -1 naming the valid ones. */
int hl_profile_init(struct hl_profile *p, const char *name);

/*
 * Set one setting KEY to VALUE.  Errors name the key and value and list the
 * valid keys or values, with a "did you mean" for a near miss.
 */
int hl_profile_set(struct hl_profile *p, const char *key, const char *value);

/* Parse SPEC into OUT (left untouched on failure). */
int hl_profile_parse(const char *spec, struct hl_profile *out);

/* The canonical SPEC of P into a new string *OUT (caller frees). */
int hl_profile_to_spec(const struct hl_profile *p, char **out);

/* 1 when A and B describe the same boot, 0 otherwise. */
int hl_profile_equal(const struct hl_profile *a, const struct hl_profile *b);

/* P as a new JSON object *OUT (caller json_decref()s). */
int hl_profile_to_json(const struct hl_profile *p, json_t **out);

/* Read a profile from JSON object J into OUT (left untouched on failure). */
int hl_profile_from_json(const json_t *j, struct hl_profile *out);

/*
 * The CI policy document of policy NAME into a new buffer *OUT of *LEN bytes
 * (NUL-terminated one past the end; caller frees).  Deterministic.
 */
int hl_profile_ci_policy_document(const char *name, char **out, size_t *len);

/* SHA-256 of the CI policy document of NAME (what SI_POLICY measures). */
int hl_profile_ci_policy_sha256(const char *name, uint8_t out[32]);

/* SHA-256 of the (simulated) dump encryption public key named NAME. */
int hl_profile_dump_key_sha256(const char *name, uint8_t out[32]);

#endif
