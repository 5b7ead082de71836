/*
 * vm.h - the tenant's VMs: the plain template disk (new-vm), the shielding
 * boot on the tenant's own machine (shield-vm) and the bundle (export-vm).
 *
 * A tenant directory holds one folder per VM (docs/shielded-vm.md); VM
 * names are checked by hl_name_vm() (vm/bundle.h):
 *
 *   DIR/vms/VM/vm.json       {"version":1,"name":..,"disk_size":N,"created":..}
 *   DIR/vms/VM/plain.img     the ext4 template (tenant plaintext), until shielded
 *   DIR/vms/VM/shielded/     present once shielded, made whole then renamed in:
 *       disk.img             the LUKS2 disk (written by the guest)
 *       vtpm/                the swtpm state, encrypted with the VM's TK
 *       key-protector.kp     the KP whose TK encrypts vtpm/
 *       config.json          {"version":1,"name":..,"policy":..,"kp_id":..,...}
 *       policy.sig           the owner's signed statement of the VM's policy
 *                            (proto/vmpolicy.h), which a guarded host checks
 * shielded/ holds the parts of a bundle (vm/bundle.h) and export-vm copies it.
 *
 * The shielded/ folder is the only sign that a VM is shielded: shielding
 * works in DIR/vms/VM/.shield-XXXXXX and renames it to shielded/ in one step,
 * so a provisioning cut short (QEMU killed, hgslab killed) leaves the VM
 * unprovisioned and shield-vm can simply be run again (it removes stale
 * .shield-* folders first).
 *
 * The TK is unwrapped with the owner guardian's key, held in an hl_buf and
 * handed to swtpm by the VM launcher (vm/launch.h) through a pipe (--key
 * fd=3): never a file, a command line or the environment.
 *
 * Contract (lib/err.h): 0 on success, -1 after hl_error().
 */
#ifndef HGSLAB_TENANT_VM_H
#define HGSLAB_TENANT_VM_H

#include <stddef.h>

/* Default plain disk size (bytes) and the LUKS2 header room added for the shielded disk. */
#define HL_VM_DISK_DEFAULT ((size_t)16 << 20)
#define HL_VM_LUKS_ROOM ((size_t)16 << 20)
/* Default bound on the provisioning boot, in seconds. */
#define HL_VM_PROVISION_TIMEOUT 180

/* One NAME=CONTENT file for the template disk. */
struct hl_vm_file {
	const char *name;    /* relative path, no "..", no leading '/' */
	const char *content;
};

/*
 * new-vm: make DIR/vms/NAME with an ext4 template disk of SIZE bytes holding
 * FILES (N of them) and, when SRCDIR is not NULL, a copy of SRCDIR's tree.
 * Refuses an existing VM.  Built in a temporary folder and renamed in.
 */
int hl_vm_new(const char *dir, const char *name, size_t size, const struct hl_vm_file *files,
	      size_t n, const char *srcdir);

/*
 * The steps of an ext4 disk made from files, shared by new-vm and
 * new-template-disk (tenant/template.h): the size check (1M to 16G), the
 * staging of SRCDIR's tree (cp -R, when not NULL) and the N FILES into the
 * existing folder STAGE, and `mke2fs -t ext4 -d STAGE` into IMG of SIZE
 * bytes (WHAT names the disk in messages).  Tool output goes to LOG.
 */
int hl_vm_disk_size_check(size_t size);
/* 0 when F's name is relative, not empty and without ".." (the staging refuses others). */
int hl_vm_file_check(const struct hl_vm_file *f);
int hl_vm_disk_stage(const char *stage, const struct hl_vm_file *files, size_t n,
		     const char *srcdir, const char *log);
int hl_vm_disk_mkfs(const char *stage, const char *img, size_t size, const char *what,
		    const char *log);

/* Where the guest (vmlinuz, initramfs.cpio) is, and how long to wait. */
struct hl_vm_shield_opts {
	const char *guest_dir;   /* folder with vmlinuz and initramfs.cpio */
	int timeout_s;           /* provisioning bound; <=0: HL_VM_PROVISION_TIMEOUT */
	int verbose;             /* progress lines on stderr */
};

/*
 * shield-vm: verify KP_PATH is owned by a guardian of DIR, unwrap its TK with
 * that guardian's key, sign the statement of the VM's POLICY with its
 * signing key, create the VM's vTPM state encrypted with the TK, run the
 * provisioning boot and, on "provisioned", install shielded/ and remove the
 * plain disk.  POLICY is "shielded" or "encryption-supported".  Returns 0;
 * -1 (error set) when nothing was started; -2 when the owner check refused
 * the KP; -3 when the provisioning run failed or was cut short (the VM is
 * left unprovisioned and nothing of the run remains: run it again).
 */
int hl_vm_shield(const char *dir, const char *name, const char *kp_path, const char *policy,
		 const struct hl_vm_shield_opts *opts);

/*
 * export-vm: copy DIR/vms/NAME/shielded to OUT (must not exist) as a bundle:
 * disk.img, vtpm/, key-protector.kp, config.json, policy.sig.  Built in a staging
 * folder OUT.tmp-XXXXXX beside OUT (vm_bundle_install) and renamed into place.  A VM shielded by an hgslab older than the
 * signed policy has no policy.sig: it is signed first (config.json's name
 * and policy, by the KP's owner, a guardian of DIR with private keys) and
 * kept in shielded/.  Returns 0; -2 when the KP's owner is not such a
 * guardian or the KP does not verify; -3 when the shielded folder breaks the
 * bundle rules (vm/bundle.h); -1 on other failures.
 */
int hl_vm_export(const char *dir, const char *name, const char *out);

#endif
