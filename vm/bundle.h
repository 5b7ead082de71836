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

#include <stdint.h>

#include <jansson.h>

#include "proto/names.h"

/* The bundle part holding the tenant's signed policy statement (proto/vmpolicy.h). */
#define VM_BUNDLE_POLICY "policy.sig"

/* 1 when POLICY is a known VM policy ("shielded", "encryption-supported"), else 0. */
int vm_bundle_policy_known(const char *policy);

/*
 * Reading a bundle.  A bundle is outside input (a tenant made it), so its
 * parts are opened by lib/fileio's outside-input rules: no symbolic link is
 * followed inside it (disk.img, vtpm/, its files), only regular files with
 * one link are read, a FIFO or a device is refused without waiting on it.
 * Each part is bounded by what the bundle itself declares, before a byte of
 * it is read: disk.img by config.json's disk_size (at most
 * VM_BUNDLE_DISK_MAX), each vTPM file by VM_BUNDLE_VTPM_MAX, the key
 * protector by HL_KP_MAX_SIZE, config.json by VM_BUNDLE_CONFIG_MAX.  The
 * bundle folder itself is the path the user gave (followed).  A refusal
 * names the part: "'B/disk.img' is a symbolic link: only a regular file is
 * read here".  What reads a bundle returns -2 when the bundle is refused
 * (it cannot be read or accepted), -1 for any other failure.
 */
#define VM_BUNDLE_DISK_MAX ((uint64_t)1 << 40)
#define VM_BUNDLE_VTPM_MAX ((uint64_t)1 << 20)
#define VM_BUNDLE_CONFIG_MAX ((size_t)1 << 20)

/* Which part of vtpm/ a copy takes. */
enum vm_bundle_vtpm {
	VM_BUNDLE_VTPM_STATE,   /* vtpm/tpm2-00.permall only (a host's import) */
	VM_BUNDLE_VTPM_ALL,     /* every regular file of vtpm/ (the tenant's export) */
};

/*
 * Copy the bundle parts of folder SRC into folder DST (which exists): disk.img
 * (0600), key-protector.kp, config.json and policy.sig (0644), then vtpm/ (created 0700)
 * with the files VTPM says (0600; folders and dot files in vtpm/ are
 * skipped).  Stops at the first part that fails, named in the message; -2
 * when SRC is refused (above); the caller removes DST.
 */
int vm_bundle_copy(const char *src, const char *dst, enum vm_bundle_vtpm vtpm);

/*
 * Install a copy of the bundle parts of SRC as the new folder DST, whole or
 * not at all (a host's import, the tenant's export): copied (vm_bundle_copy)
 * into a staging folder PREFIXXXXXXX beside DST (lib/staging: removed on
 * failure and on SIGINT/SIGTERM/SIGHUP; those of runs killed outright are
 * removed first), then renamed onto DST.  -2 when SRC is refused.
 * Messages: "cannot create a folder WHERE 'PLACE': ...", "cannot install
 * WHAT 'DST'".
 */
int vm_bundle_install(const char *src, enum vm_bundle_vtpm vtpm, const char *dst,
		      const char *prefix, const char *where, const char *place, const char *what);

/*
 * Open PART of BUNDLE ("disk.img", "key-protector.kp", "config.json" or
 * "vtpm/tpm2-00.permall") for reading, by the rules above: the descriptor
 * (close-on-exec) with its size in *SIZE, -2 when refused, -1 on failure.
 */
int vm_bundle_open_part(const char *bundle, const char *part, uint64_t *size);

/* Copy PART of BUNDLE (as vm_bundle_open_part opens it) to new file DST with MODE (synced). */
int vm_bundle_copy_part(const char *bundle, const char *part, const char *dst, unsigned mode);

/*
 * Write DIR/config.json for a VM just shielded: NAME, POLICY, the KP's id,
 * the disk's size in bytes and the time now (pretty JSON, 0644).
 */
int vm_bundle_config_write(const char *dir, const char *name, const char *policy,
			   const char *kp_id, long long disk_size);

/*
 * Read BUNDLE/config.json into *OUT (as outside input, above), checked: a
 * "name" that is a valid VM name and a known "policy".
 */
int vm_bundle_config_read(const char *bundle, json_t **out);

/* Read the JSON file PATH into *OUT; with OPTIONAL a missing file is 0 and *OUT NULL. */
int vm_bundle_read_json(const char *path, int optional, json_t **out);

#endif
