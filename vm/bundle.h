/*
 * bundle.h - the VM bundle: the folder the tenant's export-vm writes and a
 * guarded host's import-vm reads (docs/shielded-vm.md), its one copy
 * routine, its config.json, and the VM names both ends accept.
 *
 *   BUNDLE/disk.img           the LUKS2 disk (0600)
 *   BUNDLE/key-protector.kp   the KP whose TK encrypts vtpm/ (0644)
 *   BUNDLE/config.json        {"version":1,"name":..,"policy":..,"kp_id":..,
 *                              "disk_size":N,"shielded_at":..,"disk":..} (0644)
 *   BUNDLE/policy.sig         the KP owner's signed statement of the VM's
 *                              policy (proto/vmpolicy.h) (0644)
 *   BUNDLE/vtpm/              the swtpm state, encrypted with the TK (0700);
 *       tpm2-00.permall       the state swtpm needs (0600)
 *
 * The tenant's DIR/vms/VM/shielded/ and the host's HOSTDIR/vms/VM/ hold the
 * same parts (the host adds state.json and run/).  Policies: "shielded" (no
 * console) and "encryption-supported" (a serial console).
 *
 * Contract (lib/err.h): 0 on success, -1 after hl_error(); *out = NULL on
 * entry.
 */
#ifndef HGSLAB_VM_BUNDLE_H
#define HGSLAB_VM_BUNDLE_H

#include <jansson.h>

#include "proto/names.h"

/* The bundle part holding the tenant's signed policy statement (proto/vmpolicy.h). */
#define VM_BUNDLE_POLICY "policy.sig"

/* 1 when POLICY is a known VM policy ("shielded", "encryption-supported"), else 0. */
int vm_bundle_policy_known(const char *policy);

/* Which part of vtpm/ a copy takes. */
enum vm_bundle_vtpm {
	VM_BUNDLE_VTPM_STATE,   /* vtpm/tpm2-00.permall only (a host's import) */
	VM_BUNDLE_VTPM_ALL,     /* every regular file of vtpm/ (the tenant's export) */
};

/*
 * Copy the bundle parts of folder SRC into folder DST (which exists): disk.img
 * (0600), key-protector.kp, config.json and policy.sig (0644), then vtpm/ (created 0700)
 * with the files VTPM says (0600).  Stops at the first part that fails, named
 * in the message; the caller removes DST.
 */
int vm_bundle_copy(const char *src, const char *dst, enum vm_bundle_vtpm vtpm);

/*
 * Install a copy of the bundle parts of SRC as the new folder DST, whole or
 * not at all (a host's import, the tenant's export): copied (vm_bundle_copy)
 * into a staging folder made from mkdtemp template TMP (beside DST, changed
 * in place), then renamed onto DST; a failure removes the staging folder.
 * Messages: "cannot create a folder WHERE 'PLACE'", "cannot install WHAT 'DST'".
 */
int vm_bundle_install(const char *src, enum vm_bundle_vtpm vtpm, char *tmp, const char *dst,
		      const char *where, const char *place, const char *what);

/* Copy file SRC to DST (created with MODE, replaced if present), synced. */
int vm_bundle_copy_file(const char *src, const char *dst, unsigned mode);

/*
 * Write DIR/config.json for a VM just shielded: NAME, POLICY, the KP's id,
 * the disk's size in bytes and the time now (pretty JSON, 0644).
 */
int vm_bundle_config_write(const char *dir, const char *name, const char *policy,
			   const char *kp_id, long long disk_size);

/*
 * Read BUNDLE/config.json into *OUT, checked: a "name" that is a valid VM name
 * and a known "policy".
 */
int vm_bundle_config_read(const char *bundle, json_t **out);

/* Read the JSON file PATH into *OUT; with OPTIONAL a missing file is 0 and *OUT NULL. */
int vm_bundle_read_json(const char *path, int optional, json_t **out);

#endif
