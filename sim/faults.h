/*
 * faults.h - the fault matrix (`hgslab faults`, docs/faults.md): for a step
 * of a scenario and a component of the lab, kill -9 that component while the
 * step's verb runs, then check that the lab recovers or refuses cleanly.
 *
 * One cell (scenario, step N, component) is played on a fabric of its own
 * (sim/lab.h), through the runner's own step player (sim/steps.h):
 *   1. bring the fabric up and play steps 1..N-1 (each must pass);
 *   2. snapshot HGS's registrations and logs (and the DC's groups);
 *   3. play step N with the trigger armed (the lab's verb watcher): the
 *      component is killed (SIGKILL) the first time it is seen while one of
 *      the step's verbs runs - a service (HGS, DC, host agent, host swtpm)
 *      as soon as the step's first verb has started, a VM's keeper, QEMU or
 *      vTPM swtpm as soon as it exists (checked every 100 ms); a step that
 *      runs no verb gets the kill just before it.  Never seen: the cell is
 *      "n/a" (the component does not exist at that step);
 *   4. checks: no orphan (every process carrying the cell's tag, the
 *      environment variable FAULTS_TAG_ENV = the lab directory, is a live
 *      service, a live VM keeper, or a child of one; waited for up to
 *      FAULTS_SETTLE_MS), every JSON file of the lab parses;
 *   5. recovery: the component is started again (hgs-node and hgs-two-nodes
 *      excepted: those nodes stay down, the others answer; a service: restarted as
 *      the `kill` step does; the host swtpm: its agent restarts it or ends,
 *      and then the agent is restarted; a VM's part: its keeper must end,
 *      then every VM the lab expects to run, as the step left it, whose
 *      keeper is gone is started again where it ran);
 *   6. no lost registration or log entry: every entry of the snapshot is
 *      still there (an unregister step's registrations excepted);
 *   7. step N is played again (unless it met its expectation all the same:
 *      a step such as shield is not repeatable), then the rest of the
 *      scenario, each must pass;
 *   7b. an HGS cluster (nodes > 1): every attestation and key release the
 *      hosts got an answer for is in HGS's shared logs exactly once (the
 *      LogIds the hosts recorded, hosts/host.h hgs-log-ids.jsonl, against
 *      `get-attestation-log` / `get-key-protection-log`), and the logs hold
 *      no entry of the run's hosts that no host saw answered - except, when
 *      something was killed, entries from the faulted step on: a node (or a
 *      host agent) killed after it logged and before its reply arrived
 *      leaves one, and the host asked again; those are named in the cell's
 *      note, not hidden;
 *   8. the lab is stopped: no process of the cell is left, no temporary or
 *      staging file (.*.tmp.*, *.tmp-*, .import-*, .provision-*, ...) and
 *      every JSON file parses.
 *
 * Contract (lib/err.h): 0 on success, -1 after hl_error().
 */
#ifndef HGSLAB_SIM_FAULTS_H
#define HGSLAB_SIM_FAULTS_H

#include <stdio.h>
#include <sys/types.h>

#include "sim/scenario.h"

/* The environment variable every process of a cell inherits: the lab directory. */
#define FAULTS_TAG_ENV "HGSLAB_FAULTS_LAB"

/* How long the lab may take to settle after a kill (orphans gone, keepers ended). */
#define FAULTS_SETTLE_MS 10000

/* The components the matrix kills. */
enum fault_comp {
	FAULT_HGS,          /* hgs serve (the scenario's first HGS) */
	FAULT_DC,           /* fabric serve */
	FAULT_AGENT,        /* host run of the step's host */
	FAULT_HOST_SWTPM,   /* that agent's swtpm (the host's TPM) */
	FAULT_KEEPER,       /* a VM keeper (host keep-vm) */
	FAULT_QEMU,         /* a VM's QEMU (a keeper's, or the tenant's while it shields) */
	FAULT_VTPM,         /* a VM's vTPM swtpm */
	FAULT_HGS_NODE,     /* node HGS01 of the first HGS, not restarted (a cluster of >= 3) */
	FAULT_HGS_TWO_NODES, /* nodes HGS01 and HGS02, not restarted (a cluster of >= 3) */
	FAULT_N_COMP
};

/* Nodes an HGS needs for the hgs-node and hgs-two-nodes components (else the cell is n/a). */
#define FAULTS_CLUSTER_NODES 3

/*
 * "hgs", "dc", "agent", "host-swtpm", "keeper", "qemu", "vtpm", "hgs-node",
 * "hgs-two-nodes".
 */
const char *fault_comp_name(enum fault_comp c);

/* The index of component NAME; -1 (error with the names, and the nearest one) when unknown. */
int fault_comp_parse(const char *name);

/* A fault the checks must catch, planted right after the kill (to prove them). */
enum fault_plant {
	FAULT_PLANT_NONE,
	FAULT_PLANT_LEFTOVER,  /* a temporary file in WORK/kp */
	FAULT_PLANT_ORPHAN,    /* a process of the cell, reparented to init */
	FAULT_PLANT_LOST,      /* a registration removed from HGS */
	FAULT_PLANT_LOG,       /* a host records an answer (LogId) HGS's logs do not hold */
};

/* The plant named NAME ("leftover", "orphan", "lost", "log"); -1 with an error when unknown. */
int fault_plant_parse(const char *name, enum fault_plant *out);

enum fault_status { FAULT_PASS, FAULT_FAIL, FAULT_NA };

/* One cell: the input (s, step, comp), then what playing it gave. */
struct fault_cell {
	const struct scenario *s;
	int step;                   /* 1-based */
	enum fault_comp comp;
	enum fault_status status;
	char *title;                /* the step's title ("start ShieldedVM1 on FabricHost1") */
	char *killed;               /* "qemu-system-x86 (pid N) 0.4 s into `hgslab host start-vm`" */
	char *got;                  /* what step N gave with the kill */
	char *message;              /* FAULT_FAIL: every problem, "; "-joined */
	char *note;                 /* what passed with a remark (log entries whose reply was
				     * lost to the kill), or NULL */
	char *kept;                 /* the lab directory when kept, else NULL */
	double secs;
};

/* Options of a cell. */
struct fault_opts {
	const char *guest;          /* the guest folder, or NULL */
	int keep;                   /* keep every lab directory (else only failed ones) */
	enum fault_plant plant;
};

/*
 * Play cell C in the lab directory WORK (made; must not exist or be empty):
 * C's results set.  0 when played (whatever its status), -1 when interrupted.
 */
int fault_cell_play(struct fault_cell *c, const struct fault_opts *o, const char *work);

/* Free C's results. */
void fault_cell_clear(struct fault_cell *c);

/*
 * A deterministic spread subset: N of the indices 0..TOTAL-1 (all when
 * N >= TOTAL), ascending, into IDX (room for min(N, TOTAL)); the count.
 * Index i of the subset is floor((2i+1) * TOTAL / (2N)): the middle of each
 * of N equal slices.
 */
size_t fault_sample(size_t total, size_t n, size_t *idx);

/*
 * The files of the lab directory DIR that a clean lab never leaves: names
 * of interrupted writes and staging folders (.*.tmp.*, *.tmp-*, .*.new.*,
 * .*.old.*, .import-*, .provision-*, .setup-*) and *.json files that do not
 * parse; no link is followed.  *PROBLEMS gets them ("; "-joined, paths
 * relative to DIR, the first few) or NULL when there is none.
 */
int fault_files_check(const char *dir, char **problems);

/* A process carrying the tag TAG (FAULTS_TAG_ENV=TAG in its environment). */
struct fault_proc {
	pid_t pid;
	pid_t ppid;
	char comm[32];
};

/* The live (not zombie) processes carrying TAG into *OUT (malloc'd), their count in *N. */
int fault_procs(const char *tag, struct fault_proc **out, size_t *n);

#endif
