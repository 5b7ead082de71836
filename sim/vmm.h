/*
 * vmm.h - the fabric controller (Virtual Machine Manager's role in the
 * article's second half): clouds of guarded hosts that support shielded
 * VMs, and deploying a new shielded VM from a signed template disk and the
 * tenant's shielding data (.pdk) onto a host of a cloud.
 *
 * The controller never opens a template, a .pdk or a key: it asks the hosts,
 * through the same hgslab verbs a person would type (this binary runs
 * `hgslab host test-client-configuration` and `hgslab host new-shielded-vm
 * --start` as child processes, as VMM drives its hosts remotely), and it
 * reads the hosts' recorded attestation status (hosts/host.h).  A deploy
 * tries the cloud's hosts in their order:
 *
 *   1. the host's attestation status: the status its agent recorded; when it
 *      is not Passed (or has expired) the controller asks for a fresh one
 *      (test-client-configuration).  Still not Passed: the host is skipped
 *      with its reason, "FabricHost2: InsecureHostConfiguration (DebugMode)";
 *      A host that has a VM of that name already is skipped too;
 *   2. `host new-shielded-vm --start` on the host (Initialize-ShieldedVM: the
 *      host's check of the template against the .pdk, KPS, the guest's own
 *      check, specialization, then the start).  A refusal (exit 4: the
 *      template, KPS, the guest) skips the host with its reason; a failure
 *      (exit 1) too, unless the VM was made on that host anyway (then the
 *      deploy fails: the VM is there, not running); unreadable input (exit 2)
 *      ends the deploy at once;
 *   3. the first host that provisions and starts the VM gets it: the
 *      placement is recorded.
 * No host took it: VMM_REFUSED, with every host's reason.
 *
 * Directory VMM (created by vmm_cloud_new):
 *   VMM/clouds.json      {"format":"hgslab-vmm-clouds","version":1,"clouds":[
 *                         {"name":C,"hosts":[{"name":H,"dir":ABS}],"created":T}]}
 *   VMM/placements.json  {"format":"hgslab-vmm-placements","version":1,"placements":[
 *                         {"vm","cloud","host","host_dir","template","policy",
 *                          "computer_name","placed_at","skipped":["H: reason"]}]}
 *   VMM/logs/VM.HOST.out, .err   what the host's verbs printed in the last deploy
 *   VMM/vmm.lock         flock(2)ed while clouds.json or placements.json change
 *   VMM/.deploy-VM.lock  flock(2)ed by the deploy of VM while it runs
 * Both JSON files are written atomically (lib/fileio).  No secret is ever in
 * any of them: the .pdk stays where the tenant put it.
 *
 * Contract (lib/err.h): 0 on success, -1 after hl_error(); *out = NULL on
 * entry and set only on success.
 */
#ifndef HGSLAB_SIM_VMM_H
#define HGSLAB_SIM_VMM_H

#include <stdio.h>

#include <jansson.h>

#define VMM_CLOUDS_FILE "clouds.json"
#define VMM_PLACEMENTS_FILE "placements.json"
#define VMM_MAX_HOSTS 32          /* hosts in one cloud */

/* vmm_deploy()'s return when no host of the cloud took the VM, every host refusing. */
#define VMM_REFUSED 1
/* ... when a host's verb said its input cannot be read (the .pdk, the template): exit 2. */
#define VMM_BAD_INPUT (-2)

/* A cloud name: 1 to 64 letters, digits, '.', '_' and '-', not starting with '.'. */
int vmm_name_cloud(const char *name);

/*
 * Create cloud NAME in VMM (the folder is made when missing) of the N guarded
 * hosts HOST_DIRS, in that order: each must open as a host directory, be a
 * guarded host (an HGS client configuration, not Local mode) and be in the
 * cloud once.  An existing cloud NAME is refused.  *OUT (may be NULL) gets
 * the cloud's object.  VMM_BAD_INPUT when a HOST_DIRS is not a host
 * directory (missing or of another kind), -1 on other failures.
 */
int vmm_cloud_new(const char *vmm, const char *name, const char *const *host_dirs, size_t n,
		  json_t **out);

/*
 * The attestation status host DIR's agent recorded, "STATUS (SUB)", into WHY
 * of SIZE: 1 when it is Passed (and not expired), 0 when not, -1 when the
 * host cannot be read (error set).
 */
int vmm_host_health(const char *dir, char *why, size_t size);

/* The clouds of VMM into *OUT (an array; empty when VMM has none). */
int vmm_clouds(const char *vmm, json_t **out);

/* The placements of VMM into *OUT (an array; empty when none). */
int vmm_placements(const char *vmm, json_t **out);

/* What to deploy, where, and how to run the host's guest. */
struct vmm_deploy {
	const char *cloud;
	const char *name;             /* the new VM */
	const char *template;         /* the protected template disk */
	const char *pdk;              /* the shielding data */
	const char *fsk;              /* the specialization data, or NULL */
	const char *accel;            /* NULL: the hosts' default */
	const char *guest;            /* NULL: the hosts' default */
	int wait_s;                   /* 0: the hosts' default */
	FILE *progress;               /* one line per host tried, the hosts' progress; or NULL */
};

/*
 * Deploy D in VMM.  0: placed; *OUT is the result object {"Name", "Cloud",
 * "Host", "State": "Running", "ComputerName", "Template", "Policy",
 * "Workload", "Skipped": ["HOST: reason"...], "Seconds"} and the placement is
 * recorded.  VMM_REFUSED: no host took it, *OUT the same object with "Host"
 * null and "State" "Refused", the error message naming every host's reason.
 * VMM_BAD_INPUT: a host said a file cannot be read (error set).  -1: any
 * other failure (a VM of that name already placed, one deployed by another
 * process now, a host that failed; error set).
 */
int vmm_deploy(const char *vmm, const struct vmm_deploy *d, json_t **out);

#endif
