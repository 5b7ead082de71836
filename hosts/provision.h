/*
 * provision.h - a new shielded VM on a guarded host from a protected
 * template disk and the tenant's shielding data (Initialize-ShieldedVM,
 * `hgslab host new-shielded-vm`), and the run's status
 * (Get-ShieldedVMProvisioningStatus).  docs/shielded-vm.md, "Provisioning
 * from a template", is the reference.
 *
 * A run, in order (the cmd verb drives it):
 *
 *   hosts_provision_begin   the VM name is free and no other run makes it;
 *                           stale runs are cleaned; the status file is made
 *   hosts_provision_check   the host's own check, no secret needed: the
 *                           .pdk verifies, the template's signature catalog
 *                           verifies, its image hashes to the signed value
 *                           and it matches one of the .pdk's qualifiers
 *   (hosts_kps_unwrap)      the .pdk's key protector to KPS -> the TK
 *   hosts_provision_run     staging folder, the guest in specialize mode
 *                           (vm/launch.h): the .pdk and .fsk sent, the
 *                           guest's `verified` awaited, the secrets key
 *                           (derived from the TK) sent, `provisioned`
 *                           awaited; config.json (the .pdk's policy),
 *                           key-protector.kp (the .pdk's KP) and
 *                           policy.sig (the .pdk itself: the signed policy
 *                           start-vm checks) written and the staging
 *                           folder renamed to vms/VM
 *
 * With --start the VM keeper (hosts/vm.h, `host keep-vm`) runs the boot
 * instead: hosts_provision_adopt takes the run over, hosts_provision_stage
 * makes the staging folder (the keeper's pid file and log go in it),
 * hosts_provision_keep boots the guest with hgslab.then=run, installs the VM
 * at `provisioned` under the running guest, and hands the launch to the
 * keeper, which waits for `running` as a start does: one boot, not two.
 * swtpm holds the vTPM folder as a descriptor (vm/launch.h), so the rename
 * of the staging folder under it is safe.
 *
 * The VM is then a shielded VM like an imported one (hosts/vm.h starts,
 * stops and refuses it).  The TK and the secrets key never reach a file, an
 * argument vector, the environment or a log: the TK goes to swtpm through a
 * pipe, the secrets key to the guest over the agent channel, and both are
 * cleansed.  The answer file crosses the channel only inside the .pdk,
 * encrypted.
 *
 * Files, under HOSTDIR/vms/:
 *
 *   .provision-XXXXXX/        the staging folder of a run (disk.img, vtpm/,
 *                             the launcher's sockets and logs); removed on
 *                             failure, on SIGINT/SIGTERM/SIGHUP, and by the
 *                             next run when its owner is gone
 *   .provision-VM.json        the status of VM's run while it runs and after
 *                             it failed
 *   VM/provisioning.json      the status once VM is provisioned (the file
 *                             above, moved in with the VM)
 *
 * Status: {"version":1,"name":VM,"phase":P,"progress":N,"status":S,
 * "pid":N,"staging":NAME|null,"started":T,"updated":T,"template":TEXT|null,
 * "computer_name":TEXT|null,"error":TEXT|null}; phases in order Checking (5),
 * ReleasingKey (15), Booting (25), VerifyingTemplate (40), Specializing
 * (70), Installing (90), Provisioned (100), or Failed at any point (the
 * progress it had); status InProgress, Completed or Failed.  A run whose
 * process is gone before it finished reads as Failed.
 *
 * Contract (lib/err.h): 0 on success, -1 after hl_error(); *out = NULL on
 * entry; release functions are NULL-safe.
 */
#ifndef HGSLAB_HOSTS_PROVISION_H
#define HGSLAB_HOSTS_PROVISION_H

#include <stdint.h>

#include <jansson.h>

#include "hosts/host.h"
#include "lib/crypto.h"
#include "proto/fsk.h"
#include "proto/pdk.h"
#include "proto/vsc.h"

struct vm_launch_proc;

/* The phases of a run (the status file's "phase"), in order. */
enum hosts_provision_phase {
	HOSTS_PROVISION_CHECKING,
	HOSTS_PROVISION_RELEASING_KEY,
	HOSTS_PROVISION_BOOTING,
	HOSTS_PROVISION_VERIFYING,
	HOSTS_PROVISION_SPECIALIZING,
	HOSTS_PROVISION_INSTALLING,
	HOSTS_PROVISION_PROVISIONED,
	HOSTS_PROVISION_FAILED,
};

/* hosts_provision_check()'s return for input that cannot be read (exit 2), as against -1: refused. */
#define HOSTS_PROVISION_BAD_INPUT (-2)

/* A run under way: its VM, status file and staging folder. */
struct hosts_provision;

/* What the run was given, read and checked (hosts_provision_check). */
struct hosts_provision_input {
	char *template_path;          /* absolute */
	uint64_t image_bytes;         /* the template's image: its first bytes */
	struct hl_vsc *vsc;           /* its signature catalog, verified, image hash checked */
	size_t qualifier;             /* the .pdk's qualifier it matched */
	struct hl_buf pdk_bytes;      /* the .pdk file, for the guest */
	struct hl_pdk *pdk;           /* verified */
	struct hl_buf fsk_bytes;      /* the .fsk file, {NULL, 0} when none */
	struct hl_fsk *fsk;           /* NULL when none */
};

/* How to run the guest. */
struct hosts_provision_opts {
	const char *guest_dir;
	const char *accel;            /* "tcg" or "kvm" */
	int wait_s;                   /* bound on the boot, launch to `provisioned` */
	const char *progress;         /* a prefix for progress lines on stderr; NULL: none */
};

/*
 * Begin provisioning VM NAME on host H into *OUT: refuses a bad name, a VM
 * the host has, and a run of another live process for NAME; cleans stale
 * runs (staging folders whose process is gone, their status made Failed);
 * writes the status file (Checking, this process's pid).
 */
int hosts_provision_begin(const struct host *h, const char *name, struct hosts_provision **out);

/*
 * Take over into *OUT the run of VM NAME on H that this process's parent
 * (new-shielded-vm, which exec'd the VM keeper) began: its status, still
 * InProgress, gets this process's pid.  -1 when there is no such run.
 */
int hosts_provision_adopt(const struct host *h, const char *name, struct hosts_provision **out);

/* Record PHASE (not FAILED) in P's status file. */
int hosts_provision_phase(struct hosts_provision *p, enum hosts_provision_phase phase);

/* Record that P failed with ERROR (its status file keeps it). */
void hosts_provision_fail(struct hosts_provision *p, const char *error);

/*
 * The host's check of TEMPLATE, PDK and FSK (may be NULL) into *IN (release
 * with hosts_provision_input_release): HOSTS_PROVISION_BAD_INPUT when a file
 * is missing or malformed; -1 when the .pdk or the template's catalog does
 * not verify, the image is not the signed one, or no qualifier matches.
 */
int hosts_provision_check(const char *template, const char *pdk, const char *fsk,
			  struct hosts_provision_input *in);

/* Release IN; NULL-safe. */
void hosts_provision_input_release(struct hosts_provision_input *in);

/*
 * The run: the staging folder, the guest in specialize mode with the TK
 * (HL_KP_TK_LEN bytes) as its vTPM state key, the exchange, and the VM
 * installed as vms/NAME.  *REPORT (may be NULL) gets the guest's
 * `provisioned` event.  On failure nothing of the run is left but the
 * status file (Failed, with the reason); the guest's reason is in the
 * message.
 */
int hosts_provision_run(struct hosts_provision *p, const struct hosts_provision_input *in,
			const struct hl_buf *tk, const struct hosts_provision_opts *o,
			json_t **report);

/*
 * Make P's staging folder for IN (as hosts_provision_run does first) and
 * give its path in *STAGING (P's, valid until the install or the end);
 * SIGINT, SIGTERM and SIGHUP remove it from here on.  On failure the run
 * is Failed.
 */
int hosts_provision_stage(struct hosts_provision *p, const struct hosts_provision_input *in,
			  const char **staging);

/*
 * The run that goes on as the VM's start (the VM keeper's, for
 * new-shielded-vm --start): as hosts_provision_run, but the guest goes on
 * into run mode (hgslab.then=run) with the console and QMP of a started VM
 * (hosts/vm.h) and its sockets and logs in run/; TK is cleansed as soon as
 * swtpm has it (the secrets key, derived before, is cleansed once sent).
 * At `provisioned` (into *REPORT) the VM is installed as vms/NAME under the
 * running guest, whose launch goes to *LP (the caller's, to await
 * `running`).  On failure nothing of the run is left, QEMU and swtpm
 * included, but the status file (Failed).
 */
int hosts_provision_keep(struct hosts_provision *p, const struct hosts_provision_input *in,
			 struct hl_buf *tk, const struct hosts_provision_opts *o,
			 struct vm_launch_proc **lp, json_t **report);

/* End P (its status stays); NULL-safe. */
void hosts_provision_end(struct hosts_provision *p);

/*
 * The status of VM NAME's last run on host H into *OUT (the status file,
 * a run whose process is gone shown as Failed); -1 when there was none.
 */
int hosts_provision_status(const struct host *h, const char *name, json_t **out);

#endif
