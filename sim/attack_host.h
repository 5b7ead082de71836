/*
 * attack_host.h - what the host family of the attack library shares
 * (sim/attack_host.c: bundles and the table; attack_host_admin.c: a host
 * administrator's edits of a VM's folder; attack_host_proc.c: QMP, secrets
 * in memory and logs, process identity).  Internal to those files.
 *
 * Each helper works in the lab under WORK/attack/ (scratch folders an attack
 * removes before it returns) and runs verbs through the runner's own code
 * (lab_exec, or attack_host_exec when the verb may hang).  Contract
 * (lib/err.h): 0 on success, -1 after hl_error(); *out = NULL on entry.
 */
#ifndef HGSLAB_SIM_ATTACK_HOST_H
#define HGSLAB_SIM_ATTACK_HOST_H

#include <sys/types.h>

#include <jansson.h>

#include "sim/attack.h"

/* A fresh (emptied) scratch folder WORK/attack/TAG, into *OUT (malloc'd). */
int attack_host_scratch(struct attack_run *a, const char *tag, char **out);

/*
 * Run `hgslab ARGS...` (NULL-ended) as lab_exec does (its .cmd/.out/.err in
 * WORK/logs), but bounded: after TIMEOUT_MS it is stopped and R->rc is -1
 * (the verb hung).  0 when it ran, -1 when it could not be run.
 */
int attack_host_exec(struct attack_run *a, struct lab_result *r, int timeout_ms,
		     const char *const *args);

/* `host start-vm` of the step's VM on host HI with the lab's accelerator and guest, into R. */
int attack_host_start_vm(struct attack_run *a, int hi, struct lab_result *r);

/* `host stop-vm` of the step's VM on host HI; 0 when it stopped (or did not run). */
int attack_host_stop_vm(struct attack_run *a, int hi);

/* The status "exit N" of verb result R into BUF; "hung" when it was stopped. */
const char *attack_host_exit(const struct lab_result *r, char *buf, size_t size);

/* The pid of the first process whose command line holds every NULL-ended NEEDLES, 0 when none. */
pid_t attack_host_find_proc(const char *const *needles);

/*
 * An unrelated live process (`sleep 300` under the name NAME, in a process
 * group of its own) for the process-identity attacks; stop it with
 * attack_host_impostor_end.  Its pid into *PID.
 */
struct hl_child;
int attack_host_impostor(const char *name, struct hl_child **out, pid_t *pid);
void attack_host_impostor_end(struct hl_child *c);

/*
 * The host side of a VM folder an attack edits: the step's VM on the step's
 * host, imported there first when it was not (and removed again), stopped
 * when it ran there (and started again); the files an attack may change are
 * saved first and put back by attack_host_vm_give_back.
 */
struct attack_host_vm {
	int hi, vi;
	char *dir;       /* HOSTDIR/vms/VM */
	char *save;      /* WORK/attack/save-VM: the saved parts */
	int imported;    /* this attack imported it */
	int was_running; /* it ran on that host: started again at the end */
	int had_state;   /* state.json existed */
	int had_run;     /* run/ existed */
};

/* Take the step's VM on the step's host into S (imported, not running, its parts saved). */
int attack_host_vm_take(struct attack_run *a, struct attack_host_vm *S);

/* Put S back as it was (the saved parts, removed when imported, started when it ran); 0 or -1. */
int attack_host_vm_give_back(struct attack_run *a, struct attack_host_vm *S);

/* Set KEY of DIR/config.json to VALUE (a new reference, taken also on failure). */
int attack_host_config_set(const char *dir, const char *key, json_t *value);

/* Set "policy" (and "kp_id" when KP_ID is not NULL) in S's config.json. */
int attack_host_vm_config(struct attack_host_vm *S, const char *policy, const char *kp_id);

/* The index of another tenant VM than VI that is shielded (its bundle exported), -1 if none. */
int attack_host_other_vm(const struct lab *L, int vi);

/* The family's play functions (attack_host_admin.c, attack_host_proc.c). */
int attack_host_policy_downgrade(struct attack_run *a);
int attack_host_policy_sig_forged(struct attack_run *a);
int attack_host_policy_sig_other_vm(struct attack_run *a);
int attack_host_kp_swap(struct attack_run *a);
int attack_host_vtpm_swap(struct attack_run *a);
int attack_host_disk_swap(struct attack_run *a);
int attack_host_console(struct attack_run *a);
int attack_host_offline_disk(struct attack_run *a);
int attack_host_qmp_dump(struct attack_run *a);
int attack_host_qmp_gdbserver(struct attack_run *a);
int attack_host_tk_in_keeper(struct attack_run *a);
int attack_host_secret_in_logs(struct attack_run *a);
int attack_host_pidfile_squat(struct attack_run *a);
int attack_host_down_pid_reuse(struct attack_run *a);
int attack_host_stop_pid_reuse(struct attack_run *a);
int attack_host_start_without_hgs(struct attack_run *a);
int attack_host_swtpm_kill(struct attack_run *a);

#endif
