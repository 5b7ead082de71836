/*
 * vm.h - shielded VMs on a guarded host, and the VM launcher they share with
 * the tenant's shielding machine (tenant/vm.c).
 *
 * The launcher (hosts_vm_launch) starts one VM run: a swtpm on the VM's vTPM
 * state with the state key (the TK) written into a pipe that swtpm reads as
 * fd 3 (`--key fd=3,format=binary,mode=aes-256-cbc`: never a file, a command
 * line or the environment), then QEMU (-nodefaults, qboot, the guest kernel
 * and initramfs, the vTPM as tpm-crb, the guest agent's virtio-serial port
 * org.hgslab.agent on a unix socket the launcher listens on, so QEMU connects
 * at start and no event is lost).  hosts_vm_await() reads the agent's JSON
 * events (guest/README.md) until the one asked for, an "error" event, QEMU's
 * end or a deadline.  swtpm exits by itself when QEMU ends.
 *
 * A host directory holds imported VMs (docs/shielded-vm.md):
 *
 *   HOSTDIR/vms/VM/disk.img, vtpm/, key-protector.kp, config.json   (the bundle)
 *   HOSTDIR/vms/VM/state.json   written by the VM keeper: state, since, policy,
 *                               keeper pid, the workload result, last error
 *   HOSTDIR/vms/VM/run/         sockets and logs of the current run
 *                               (qmp.sock, agent.sock, swtpm.sock,
 *                               console.sock for encryption-supported VMs)
 *
 * start-vm gets the TK from KPS (hosts_kps_unwrap), then forks the VM keeper,
 * a small daemon (its own session) that owns swtpm and QEMU, writes
 * state.json, reports "running" (or the failure) to start-vm through a pipe,
 * and stays until QEMU ends.  stop-vm asks QEMU over QMP (system_powerdown),
 * waits a bounded time for the keeper to end, then stops it (SIGTERM: it
 * kills QEMU and swtpm).
 *
 * Policy "shielded": no serial console, no monitor, no gdbstub (QMP is the
 * host's control socket, 0600 in a 0700 folder).  "encryption-supported":
 * the serial console on run/console.sock (host connect-vm).
 *
 * Contract (lib/err.h): 0 on success, -1 after hl_error(); *out = NULL on
 * entry; destructors are NULL-safe.
 */
#ifndef HGSLAB_HOSTS_VM_H
#define HGSLAB_HOSTS_VM_H

#include <jansson.h>

#include "hosts/host.h"
#include "lib/crypto.h"

#define HOSTS_VM_QBOOT "/usr/share/qemu/qboot.rom"

/* What one VM run needs. */
struct hosts_vm_launch {
	const char *guest_dir;   /* vmlinuz, initramfs.cpio */
	const char *run_dir;     /* sockets and logs (must exist; short path) */
	const char *vtpm_dir;    /* the swtpm state; NULL: no vTPM, no swtpm (the plain baseline) */
	const char *disk;        /* the VM's (LUKS2) disk */
	const char *plain;       /* provisioning only: the plain disk, read-only */
	const char *mode;        /* "provision", "run" or "plain" */
	const char *accel;       /* "tcg" or "kvm" */
	int console;             /* 0: none; 1: console.log file; 2: console.sock socket */
	int qmp;                 /* QMP on run_dir/qmp.sock */
	const struct hl_buf *tk; /* the vTPM state key (HL_KP_TK_LEN bytes); unused without vtpm_dir */
	const char *append;      /* more kernel arguments, for diagnostics (bench boot); NULL: none.
				    Never set for a host's start-vm: the host does not choose a
				    shielded VM's boot. */
};

struct hosts_vm_proc;

/*
 * The guest folder, malloc'd (NULL when out of memory): GIVEN (--guest), else
 * $HGSLAB_GUEST_DIR, else build/guest beside the binary (bin/, build/X/bin/),
 * else "build/guest".
 */
char *hosts_vm_guest_dir(const char *given);

/* Start swtpm then QEMU for L into *OUT. */
int hosts_vm_launch(const struct hosts_vm_launch *l, struct hosts_vm_proc **out);

/*
 * Wait for the guest's event WANT ("provisioned", "running") for at most
 * TIMEOUT_S seconds; *EVENT (may be NULL) gets it.  PROGRESS (may be NULL)
 * prefixes a progress line on stderr every 5 s.  -1 on an "error" event
 * (stage and reason in the message), QEMU's end or the deadline.
 */
int hosts_vm_await(struct hosts_vm_proc *p, const char *want, int timeout_s,
		   const char *progress, json_t **event);

/* Seconds since hosts_vm_launch() began (swtpm's start included). */
double hosts_vm_elapsed(const struct hosts_vm_proc *p);

/* Wait up to MS for QEMU to end (<0: forever), then for swtpm (bounded), stopping what remains. */
int hosts_vm_end(struct hosts_vm_proc *p, int ms);

/* Free P, killing QEMU and swtpm if they still run.  NULL-safe. */
void hosts_vm_proc_free(struct hosts_vm_proc *p);

/* "kvm" when KVM is proved usable (cpuinfo vmx/svm, /dev/kvm, a bounded QEMU probe), else "tcg". */
const char *hosts_vm_accel_auto(void);

/* import-vm: copy BUNDLE into HOSTDIR/vms/NAME (NAME from its config.json) into NAME_OUT. */
int hosts_vm_import(const struct host *h, const char *bundle, char *name_out, size_t size);

/* Start options. */
struct hosts_vm_start {
	const char *guest_dir;
	const char *accel;       /* "auto", "tcg", "kvm" */
	int wait_s;              /* bound on the boot to "running" */
};

/*
 * Start VM NAME with TK: fork the keeper and wait for its report.  0 with
 * *REPORT (the "running" event) when the guest runs; -1 otherwise.
 */
int hosts_vm_start(const struct host *h, const char *name, const struct hl_buf *tk,
		   const struct hosts_vm_start *o, json_t **report);

/* stop-vm: QMP system_powerdown, wait up to WAIT_S for the keeper, then stop it. */
int hosts_vm_stop(const struct host *h, const char *name, int wait_s);

/* The VM's folder and its config.json / state.json as JSON (state may be absent: NULL). */
int hosts_vm_dir(const struct host *h, const char *name, char **out);
int hosts_vm_load(const struct host *h, const char *name, json_t **config, json_t **state);

/* 1 when the VM's keeper runs (state.json's pid is alive). */
int hosts_vm_alive(const json_t *state);

/* The names of HOSTDIR's imported VMs (sorted) as a JSON array. */
int hosts_vm_list(const struct host *h, json_t **out);

#endif
