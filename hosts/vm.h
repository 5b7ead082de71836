/*
 * vm.h - shielded VMs on a guarded host: import of a bundle (vm/bundle.h),
 * start on the VM launcher (vm/launch.h) under a VM keeper, stop, and the
 * state the keeper records.
 *
 * A host directory holds imported VMs (docs/shielded-vm.md):
 *
 *   HOSTDIR/vms/VM/disk.img, vtpm/, key-protector.kp, config.json,
 *                 policy.sig   (the bundle; for a VM provisioned from
 *                               shielding data, policy.sig is its .pdk)
 *   HOSTDIR/vms/VM/state.json   written by the VM keeper: state, since, policy,
 *                               keeper pid, the workload result, last error
 *   HOSTDIR/vms/VM/keeper.pid   the keeper's pid, locked by it while it lives
 *   HOSTDIR/vms/VM/run/         the launcher's run folder: sockets and logs of
 *                               the current run (agent.sock, swtpm.sock,
 *                               console.sock for encryption-supported VMs)
 *
 * start-vm gets the TK from KPS (hosts_kps_unwrap), then forks the VM keeper,
 * a small daemon (its own session) that owns swtpm and QEMU, writes
 * state.json, reports "running" (or the failure) to start-vm through a pipe,
 * and stays until QEMU ends.  The keeper alone holds QEMU's QMP, a socket
 * pair with no path (vm/launch.h), and sends it only what the lab needs; its
 * one request from others is SIGUSR1, "power the guest off", on which it
 * sends system_powerdown.  stop-vm sends that request to the process that
 * holds the VM's keeper lock, waits a bounded time for the keeper to end,
 * then stops it (hl_proc_stop: on SIGTERM it kills QEMU and swtpm).
 *
 * Policy "shielded": no serial console, no monitor, no gdbstub, and no QMP
 * any other process can reach.  "encryption-supported": the serial console
 * on run/console.sock (host connect-vm).  The policy that counts is the one
 * the tenant signed (hosts_vm_policy): policy.sig, a VM policy statement
 * (proto/vmpolicy.h) or the shielding data the VM was provisioned from (the
 * .pdk's signed body), signed by the owner of the VM's key protector;
 * config.json's field must agree with it.
 *
 * Contract (lib/err.h): 0 on success, -1 after hl_error(); *out = NULL on
 * entry; destructors are NULL-safe.
 */
#ifndef HGSLAB_HOSTS_VM_H
#define HGSLAB_HOSTS_VM_H

#include <sys/types.h>

#include <jansson.h>

#include "hosts/host.h"
#include "lib/crypto.h"
#include "proto/vmpolicy.h"

/*
 * import-vm: copy BUNDLE into HOSTDIR/vms/NAME (NAME from its config.json,
 * into NAME_OUT), read as outside input (vm/bundle.h: no link followed,
 * regular files only, each part bounded by what the bundle declares) through
 * a staging folder vms/.import-XXXXXX.  -2 when the bundle is refused.
 * A bundle without policy.sig (exported by an hgslab older than the signed
 * policy) is refused (-2) with how to export it again.
 */
int hosts_vm_import(const struct host *h, const char *bundle, char *name_out, size_t size);

/*
 * The policy the tenant signed for VM NAME, whose config.json is CONFIG,
 * into POLICY: the VM's policy.sig, checked against its key protector by
 * hl_vmpolicy_check (a statement signed by the key protector's owner for
 * that key protector and NAME, or the .pdk of a provisioned VM, signed by
 * that owner and holding that key protector); CONFIG's "policy" and
 * "kp_id" equal the signed ones.
 * -1 with the reason otherwise, naming the policy statement ("... has no
 * signed policy statement (policy.sig): ... export it again ...", "...
 * config.json says policy 'encryption-supported', but the tenant's signed
 * policy statement says 'shielded' ...").  start-vm and connect-vm refuse
 * a VM this refuses (exit 4).
 */
int hosts_vm_policy(const struct host *h, const char *name, const json_t *config,
		    char policy[HL_VMPOLICY_SIZE]);

/* Start options. */
struct hosts_vm_start {
	const char *guest_dir;
	const char *accel;       /* "auto", "tcg", "kvm" */
	int wait_s;              /* bound on the boot to "running" */
	const char *const *keeper; /* the program that runs hosts_vm_keep, and its first
				      arguments (cmd: this binary, "host", "keep-vm"); NULL-ended */
	/* hosts_vm_provision_start only: the files the keeper provisions the VM from
	   (the keeper's --template, --pdk, --fsk); NULL for a start */
	const char *template_path, *pdk_path, *fsk_path;
};

/*
 * Start VM NAME with TK: check its signed policy (hosts_vm_policy), run the
 * keeper (which checks it again and runs the VM with the console that
 * policy gives) and wait for its report.  The keeper
 * is a program of its own (KEEPER + "--dir HOSTDIR --name NAME --accel A
 * --wait-seconds N [--guest G]"), exec'd in its own session, not a copy of
 * this process: nothing of the caller's memory (where the TK was released
 * and opened) lives on in it.  It gets the TK through a pipe on its fd 3
 * and reports on fd 4.  0 with *REPORT (the "running" event) when the guest
 * runs; -1 otherwise (nothing started when the policy check refuses).
 */
int hosts_vm_start(const struct host *h, const char *name, const struct hl_buf *tk,
		   const struct hosts_vm_start *o, json_t **report);

/*
 * new-shielded-vm --start (hosts/provision.h): after the host's check and
 * the key release of the run this process began (hosts_provision_begin),
 * run the keeper of VM NAME with O's template, .pdk and .fsk: it takes the
 * run over, boots the guest once - specialize, then on into run mode -,
 * installs the VM at the guest's `provisioned` (into *PROVISIONED, after
 * *PROVISIONED_S seconds) and stays as the VM's keeper, exactly as after
 * hosts_vm_start.  0 with *RUNNING when the guest runs.  -1 otherwise: with
 * *PROVISIONED NULL nothing of the run is left (the run's status says
 * Failed), else the VM is installed but did not start.  SIGINT, SIGTERM or
 * SIGHUP meanwhile stop the keeper (which removes what it made) and then
 * end this process by that signal.
 */
int hosts_vm_provision_start(const struct host *h, const char *name, const struct hl_buf *tk,
			     const struct hosts_vm_start *o, double *provisioned_s,
			     json_t **provisioned, json_t **running);

/*
 * The keeper's own side (`hgslab host keep-vm`, exec'd by hosts_vm_start or
 * hosts_vm_provision_start, which then provisions the VM first):
 * read the TK from fd 3 into the one buffer swtpm's pipe is fed from,
 * claim vms/NAME/keeper.pid, run the VM (vm/launch.h), cleanse the TK as
 * soon as swtpm has it, report on fd 4, then stay until QEMU ends, sending
 * QMP system_powerdown when asked (SIGUSR1); when the vTPM's swtpm ends
 * first, QEMU is stopped at once (a VM without its TPM does not run on)
 * and state.json says why.  Does not return once the VM
 * is launched; -1 when it is not run by start-vm (no fd 3 or 4) or cannot
 * start.
 */
int hosts_vm_keep(const struct host *h, const char *name, const struct hosts_vm_start *o);

/*
 * stop-vm: ask the keeper to power the guest off (SIGUSR1: it sends QMP
 * system_powerdown), wait up to WAIT_S for the keeper to end, then stop it.
 */
int hosts_vm_stop(const struct host *h, const char *name, int wait_s);

/* The VM's folder and its config.json / state.json as JSON (state may be absent: NULL). */
int hosts_vm_dir(const struct host *h, const char *name, char **out);
int hosts_vm_load(const struct host *h, const char *name, json_t **config, json_t **state);

/*
 * 1 while PID runs and its command line holds VERB (a provisioning run's
 * "new-shielded-vm"): a recycled pid is not taken for it, a zombie counts
 * as ended.
 */
int hosts_proc_runs(pid_t pid, const char *verb);

/*
 * The pid of VM NAME's live keeper on H, 0 when none runs: the process that
 * holds the lock of HOSTDIR/vms/NAME/keeper.pid (lib/child.h "Pid files"),
 * whatever state.json's keeper_pid says - a pid recycled by another process
 * is never taken for the keeper.
 */
pid_t hosts_vm_keeper(const struct host *h, const char *name);

/* The names of HOSTDIR's imported VMs (sorted) as a JSON array. */
int hosts_vm_list(const struct host *h, json_t **out);

#endif
