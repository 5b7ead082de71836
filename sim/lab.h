/*
 * lab.h - a scenario's fabric on this machine: the directories, the
 * loopback addresses, the supervised processes (HGS nodes, the fabric's DC,
 * the host agents), and the hgslab verbs the runner calls to set it up and
 * to play steps.
 *
 * Everything the lab does goes through the same `hgslab` verbs a person
 * would type (the runner re-executes its own binary), so a scenario proves
 * the commands, and the step logs under WORK/logs/ show the exact command
 * lines to repeat by hand.
 *
 * Layout of the lab directory WORK:
 *   WORK/lab.json                 what runs where (pids, URLs, dirs): `status`, `down`
 *   WORK/hgs/NAME/                HGS node directories: node 1 (HGS01); NAME-HGS02/ ... the
 *                                 other nodes of a cluster (`hgs add-node`)
 *   WORK/fabric/                  the fabric AD directory (when the scenario has fabric:)
 *   WORK/hosts/NAME/              host directories; WORK/hosts/tpm-vendor the lab TPM vendor CA
 *                                 (a copy of the TPM state cache's when the hosts adopt
 *                                 their TPMs from it: sim/tpm_cache.h, lab_up)
 *   WORK/tenant/                  the tenant's guardians and VMs
 *   WORK/kp/VM.kp, WORK/bundles/VM/   key protectors, exported bundles
 *   WORK/templates/T.tdisk, T.vsc     template disks and their signature catalogs
 *   WORK/shielding/SD.pdk, SD-N.viq, S.fsk   shielding data, its qualifiers,
 *                                 specialization data (no secret in clear:
 *                                 the answer file is written for the verb
 *                                 in a private folder outside the lab, then
 *                                 removed)
 *   WORK/vmm/                     the fabric controller: clouds, placements
 *   WORK/logs/                    process logs and one .cmd/.out/.err per verb called
 *   WORK/dashboard/               `up`'s live dashboard: its pid file, log and the
 *                                 teacher token (0600; sim/dashboard.h)
 *
 * Addresses: one random 127.X.Y.0/24 per lab (probed free): HGS nodes .1-.9
 * (the first HGS's nodes .1-.N, then the other HGS's), the DC .10, hosts .20
 * and up.  Names resolve through libcurl resolve lists (hgs.relecloud.com ->
 * 127.X.Y.1,127.X.Y.2,127.X.Y.3: every node, tried in turn), never /etc/hosts.
 *
 * Interruption: lab_interrupted() is set by SIGINT/SIGTERM/SIGHUP (handlers
 * installed by lab_signals_install); every wait checks it, so a Ctrl-C ends
 * the current verb, and lab_down() then stops VMs, agents, DC and HGS.
 *
 * Contract (lib/err.h): 0 on success, -1 after hl_error().
 */
#ifndef HGSLAB_SIM_LAB_H
#define HGSLAB_SIM_LAB_H

#include <pthread.h>
#include <stdio.h>

#include <jansson.h>

#include "lib/child.h"
#include "sim/scenario.h"

#define LAB_MAX_OUT (4u << 20)   /* bytes of a verb's stdout / stderr kept */

/* A supervised, long-running process of the lab. */
struct lab_svc {
	char label[96];          /* "hgs MyHgsService", "host FabricHost1", "dc fabrikam.com" */
	const char *argv[12];
	char *log;               /* WORK/logs/LABEL.log */
	const char *ready;       /* text in the log that says it is ready */
	struct hl_child *child;  /* NULL when not running */
	long pid;                /* last pid (for lab.json) */
};

/* One node of an HGS: its own directory, address and `hgs serve` process. */
struct lab_hgs_node {
	char name[16];           /* HGS01, HGS02... (SC_NODE_NAME_FMT) */
	char *dir;               /* WORK/hgs/NAME (node 1), WORK/hgs/NAME-HGS0i */
	char addr[24];           /* 127.X.Y.N */
	char listen[40];         /* 127.X.Y.N:PORT */
	struct lab_svc svc;      /* svc.child NULL: killed and not restarted (Down) */
};

/*
 * An HGS: node 1 made by `hgs init`, nodes 2..N by `hgs add-node` (same
 * store, same keys), all on one port; the HGS name resolves to every
 * node's address, so clients pass over a dead node.  dir is where the
 * lab's admin verbs go (the nodes share one store): node 1's while it
 * runs, else a living node's (lab_hgs_pick).
 */
struct lab_hgs {
	const struct sc_hgs *sc;
	const char *dir;         /* one of nodes[].dir (lab_hgs_pick) */
	int port;
	char url[160];           /* http://hgs.relecloud.com:PORT */
	char resolve[256];       /* hgs.relecloud.com:PORT:127.X.Y.1,127.X.Y.2,... */
	enum sc_trust trust;     /* the current mode */
	size_t n_nodes;
	struct lab_hgs_node nodes[SC_MAX_NODES];
};

struct lab_host {
	const struct sc_host *sc;
	char *dir;
	char addr[24];
	struct lab_hgs *hgs;     /* the HGS it attests to */
	char *profile;           /* the current SPEC */
	struct lab_svc svc;
};

/*
 * A VM steps name: a tenant VM (sc set), or one a deploy step makes (sc
 * NULL): then bundle is its folder on the host it was placed on.
 */
struct lab_vm {
	const struct sc_vm *sc;  /* NULL for a deployed VM */
	const char *name;
	char *kp;                /* WORK/kp/VM.kp (tenant VMs) */
	char *bundle;            /* WORK/bundles/VM once shielded and exported; HOSTDIR/vms/VM once placed */
	int shielded;            /* shielded, or placed */
	unsigned imported;       /* bit i: imported on host i (placed: there) */
	int running_on;          /* host index, -1 */
	int placed_on;           /* deployed: host index, -1 */
	const struct sc_step *deploy;  /* deployed: the deploy step that placed it */
};

/* A template disk of templates:. */
struct lab_template {
	const struct sc_template *sc;
	char *path;              /* WORK/templates/T.tdisk */
	char *vsc;               /* WORK/templates/T.vsc */
	int made;                /* new-template-disk done */
	int protected;           /* signed (its .vsc saved) */
};

/* Shielding data of shielding_data:. */
struct lab_shielding {
	const struct sc_shielding *sc;
	char *pdk;               /* WORK/shielding/SD.pdk */
	int made;
};

struct lab {
	const struct scenario *s;
	char *self;              /* this binary */
	char *work;              /* the lab directory */
	char *guest;             /* the guest folder, or NULL for the default */
	char net[16];            /* "127.X.Y" */
	int detach;              /* `up`: processes outlive this one */
	int n_exec;              /* verbs called so far (log numbering) */
	FILE *progress;          /* where progress goes (stderr) or NULL */
	struct lab_hgs *hgs;     /* [0] = scenario hgs:, then other_hgs: */
	size_t n_hgs;
	int has_dc;
	char *fabric_dir;
	char dc_addr[24];
	int dc_port;
	char dc_url[160];        /* http://dc01.fabrikam.com:PORT */
	char dc_resolve[200];
	struct lab_svc dc;
	struct lab_svc dashboard;  /* `up`'s dashboard (running when .child is set) */
	char *dashboard_dir;       /* WORK/dashboard */
	char *pg_dir;              /* WORK/pgsql: the lab's PostgreSQL server (hgs store: postgresql), or NULL */
	char pg_uri[1024];         /* its URI (the ?passfile= form: no password), "" until started */
	int pg_external;           /* pg_dir is a /tmp folder of its own (postgres cannot enter WORK) */
	char *backup;              /* backup_hgs: WORK/backup/NAME.hgsbak, NULL before one */
	char backup_pw[33];        /* its password (random, in this process only), "" before one */
	char dashboard_listen[32]; /* 127.0.0.1:PORT */
	char dashboard_url[64];    /* http://127.0.0.1:PORT/ */
	struct lab_host *hosts;
	struct lab_vm *vms;      /* tenant.vms, then the deployed VMs */
	size_t n_vms;
	struct lab_template *templates;
	struct lab_shielding *shielding;
	char **fsk;              /* WORK/shielding/S.fsk per specialization */
	char *vmm;               /* WORK/vmm */
	char *tenant;
	long long clock_s;       /* lab clock offset */
	/*
	 * Watcher of the verbs (the fault matrix's trigger, sim/faults.h): called
	 * with a verb's pid and label right after it starts and about every 100 ms
	 * while it runs; NULL: none.
	 */
	void (*watch)(struct lab *L, long pid, const char *verb, void *arg);
	void *watch_arg;
};

/* What one verb call gave. */
struct lab_result {
	int rc;                  /* exit status (128+N signal; -1 interrupted) */
	char *out;               /* stdout, NUL-terminated */
	char *err;               /* stderr, NUL-terminated */
	double secs;
};

void lab_result_clear(struct lab_result *r);

/* Install the SIGINT/SIGTERM/SIGHUP handlers; idempotent. */
int lab_signals_install(void);

/* The signal that interrupted the run, 0 if none. */
int lab_interrupted(void);

/*
 * Prepare L for S in WORK (created; must not exist or be empty).  Nothing
 * runs yet.  GUEST may be NULL.
 */
int lab_init(struct lab *L, const struct scenario *s, const char *work, const char *guest);

/*
 * Bring the fabric up: directories, keys, processes, tenant material.  The
 * hosts adopt TPM states of the cache (filled first when it has too few),
 * or manufacture their TPMs when another run fills the cache or it cannot
 * be used (a note on L->progress says which).
 */
int lab_up(struct lab *L);

/*
 * A lab brought up in a thread of its own while another scenario plays (the
 * runner prepares the next scenario's fabric meanwhile, so the two machine
 * cores do not wait on one VM boot): lab_init and lab_up of S in WORK into
 * A->lab.  The thread stays until lab_async_end, because the services it
 * starts die with the thread that spawned them (lib/child: PR_SET_PDEATHSIG);
 * lab_down and lab_free are the caller's, between lab_async_wait and
 * lab_async_end.  A started bring-up is stopped like any verb on SIGINT
 * (lab_interrupted).
 */
struct lab_async {
	struct lab lab;
	const struct scenario *s;
	char *work;
	char *guest;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int started, done, release;
	int rc;                  /* lab_up's: 0 up, -1 failed (error) */
	char *error;
	double secs;             /* how long the bring-up took */
};

/* Start bringing up S in WORK (GUEST may be NULL) in a new thread. */
int lab_async_start(struct lab_async *a, const struct scenario *s, const char *work,
		    const char *guest);

/* Wait until A's bring-up ended: 0 when the lab is up, -1 (its error set) when not. */
int lab_async_wait(struct lab_async *a);

/* Let A's thread end and join it (after lab_down and lab_free of A->lab); idempotent. */
void lab_async_end(struct lab_async *a);

/* Stop everything that runs (VMs, agents, DC, HGS), bounded; idempotent. */
void lab_down(struct lab *L);

/* Free L's memory (after lab_down). */
void lab_free(struct lab *L);

/* Write WORK/lab.json. */
int lab_save(const struct lab *L);

/*
 * Read WORK/lab.json into *OUT; "no fabric is up in 'WORK' (no lab.json)..."
 * when there is none.
 */
int lab_json_read(const char *work, json_t **out);

/*
 * Record in WORK/lab.json that the process of entry NAME of LIST ("Hgs",
 * "Hosts") is now PID: a service another process started again (the
 * dashboard's teacher actions), so `down` still finds it.  An HGS entry is
 * its node 1 (its row of Nodes is updated too).
 */
int lab_json_set_pid(const char *work, const char *list, const char *name, long pid);

/*
 * `up`: start the dashboard (`hgslab dashboard --workdir WORK`) detached on
 * a free loopback port, with a new teacher token (sim/dashboard.h) into
 * TOKEN; its URL in L->dashboard_url.  lab_save records it as "Dashboard".
 */
int lab_dashboard_start(struct lab *L, char *token, size_t size);

/*
 * Run `hgslab ARGS...` (NULL-terminated) and wait for it; R filled.  A
 * returned 0 means it ran (whatever its exit status), -1 that it could not
 * be run or the run was interrupted.  PROGRESS set: its last stderr line is
 * shown as progress while it runs.
 */
int lab_exec(struct lab *L, struct lab_result *r, const char *progress, ...)
	__attribute__((sentinel));
int lab_execv(struct lab *L, struct lab_result *r, const char *progress, const char *const *args);

/* The index of host / vm / HGS NAME, or -1. */
int lab_host_index(const struct lab *L, const char *name);
int lab_vm_index(const struct lab *L, const char *name);
struct lab_hgs *lab_hgs_named(struct lab *L, const char *name);

/*
 * Point G->dir at node 1's directory while it runs, else at a living node's
 * (node 1's when none lives: the verbs read the shared store all the same).
 */
void lab_hgs_pick(struct lab_hgs *g);

/* lab_hgs_pick for every HGS of L. */
void lab_hgs_pick_all(struct lab *L);

/* Start / stop one service (readiness bounded). */
int lab_svc_start(struct lab *L, struct lab_svc *svc);
int lab_svc_ready(struct lab_svc *svc);
void lab_svc_stop(struct lab_svc *svc);

/*
 * Start SVC again after it died or was killed, as a service manager would
 * (reap it, start, wait for readiness, save lab.json).
 */
int lab_svc_restart(struct lab *L, struct lab_svc *svc);

/* Write the lab clock (L->clock_s) to every HGS node and the DC. */
int lab_clock_apply(struct lab *L);

/*
 * Make template disk T (index) and sign it if not done (new-template-disk,
 * protect-template-disk, save-volume-signature-catalog), then every .pdk
 * whose templates are all signed by now (lab_shielding_make); *MADE (may be
 * NULL) gets how many .pdk files were made.
 */
int lab_template_protect(struct lab *L, size_t t, int *made);

/* Make each .pdk not made yet whose qualifiers' templates are all signed; how many into *MADE. */
int lab_shielding_make(struct lab *L, int *made);

/* The index of template / shielding data / specialization NAME, or -1. */
int lab_template_index(const struct lab *L, const char *name);
int lab_shielding_index(const struct lab *L, const char *name);
int lab_specialization_index(const struct lab *L, const char *name);

/* Stop the VM running on host H (stop-vm, then the keeper by force); 0 if none ran. */
int lab_vm_stop_all(struct lab *L, int host);

#endif
