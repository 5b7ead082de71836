/*
 * faults.c - the fault matrix's engine (see faults.h): one cell played on a
 * lab of its own through sim/lab.c and sim/steps.c, the component killed by
 * the lab's verb watcher, and the checks (processes from /proc, files of
 * the lab directory, HGS's and the DC's lists through their `get-*` verbs).
 */
#include "sim/faults.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "lib/child.h"
#include "lib/clock.h"
#include "lib/fileio.h"
#include "lib/json.h"
#include "lib/suggest.h"
#include "hosts/host.h"
#include "sim/lab.h"
#include "sim/report.h"
#include "sim/steps.h"

#define FAULTS_PROC_READ (256u << 10)   /* bytes of /proc/PID/environ read */
#define FAULTS_JSON_MAX (64u << 20)     /* a lab JSON file larger than this is not read */
#define FAULTS_SWTPM_WAIT_MS 20000      /* the agent's own recovery of its swtpm */
#define FAULTS_PROBLEMS_SHOWN 6         /* files named in a report; then "and N more" */

static const char *const comp_names[FAULT_N_COMP + 1] = {
	[FAULT_HGS] = "hgs", [FAULT_DC] = "dc", [FAULT_AGENT] = "agent",
	[FAULT_HOST_SWTPM] = "host-swtpm", [FAULT_KEEPER] = "keeper", [FAULT_QEMU] = "qemu",
	[FAULT_VTPM] = "vtpm", [FAULT_HGS_NODE] = "hgs-node", [FAULT_HGS_TWO_NODES] = "hgs-two-nodes",
	[FAULT_N_COMP] = NULL,
};

const char *fault_comp_name(enum fault_comp c)
{
	return c < FAULT_N_COMP ? comp_names[c] : "?";
}

int fault_comp_parse(const char *name)
{
	const char *near;
	int i;

	for (i = 0; i < FAULT_N_COMP; i++)
		if (!strcmp(name, comp_names[i]))
			return i;
	near = hl_suggest(name, comp_names);
	return hl_error("unknown component '%s'%s%s%s: give hgs, dc, agent, host-swtpm, keeper, qemu, "
			"vtpm, hgs-node or hgs-two-nodes", name, near ? " (did you mean '" : "",
			near ? near : "", near ? "'?)" : "");
}

int fault_plant_parse(const char *name, enum fault_plant *out)
{
	static const char *const names[] = { "leftover", "orphan", "lost", "log", NULL };
	int i;

	for (i = 0; names[i]; i++)
		if (!strcmp(name, names[i])) {
			*out = (enum fault_plant)(i + 1);
			return 0;
		}
	return hl_error("unknown plant '%s': give leftover, orphan, lost or log", name);
}

size_t fault_sample(size_t total, size_t n, size_t *idx)
{
	size_t i;

	if (n >= total)
		n = total;
	for (i = 0; i < n; i++)
		idx[i] = n == total ? i : (2 * i + 1) * total / (2 * n);
	return n;
}

/* ---- strings ---- */

static char *sfmt(const char *f, ...) HL_PRINTF(1, 2);
static char *sfmt(const char *f, ...)
{
	va_list ap;
	char *s = NULL;

	va_start(ap, f);
	if (vasprintf(&s, f, ap) < 0)
		s = NULL;
	va_end(ap);
	return s;
}

/* Append "; TEXT" (or TEXT) to *LIST; TEXT is consumed. */
static void add_problem(char **list, char *text)
{
	char *n;

	if (!text)
		return;
	n = *list ? sfmt("%s; %s", *list, text) : text;
	if (*list) {
		free(*list);
		free(text);
	}
	*list = n;
}

/* ---- files ---- */

/* 1 when NAME is what an interrupted write or staging leaves (see faults.h). */
static int leftover_name(const char *name)
{
	static const char *const prefixes[] = { ".import-", ".provision-", ".setup-" };
	static const char *const hidden_marks[] = { ".tmp.", ".new.", ".old." };
	size_t i;

	for (i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
		if (!strncmp(name, prefixes[i], strlen(prefixes[i])))
			return 1;
	if (strstr(name, ".tmp-"))
		return 1;
	for (i = 0; name[0] == '.' && i < sizeof(hidden_marks) / sizeof(hidden_marks[0]); i++)
		if (strstr(name + 1, hidden_marks[i]))
			return 1;
	return 0;
}

struct files_walk {
	const char *root;
	size_t found;
	char *shown;
};

static void files_note(struct files_walk *w, const char *path, const char *what)
{
	if (w->found++ < FAULTS_PROBLEMS_SHOWN)
		add_problem(&w->shown, sfmt("%s %s", path + strlen(w->root) + 1, what));
}

/* Walk DIR (no link followed) noting leftovers and unparsable JSON. */
static int files_walk(struct files_walk *w, const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int rc = 0;

	if (!d)
		return errno == ENOENT ? 0 : hl_error_errno("cannot read folder '%s'", dir);
	while (rc == 0 && (e = readdir(d))) {
		struct stat st;
		char *path;
		size_t len = strlen(e->d_name);

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (!(path = sfmt("%s/%s", dir, e->d_name))) {
			rc = hl_error("out of memory");
			break;
		}
		if (lstat(path, &st) < 0) {
			/* gone meanwhile */
		} else if (leftover_name(e->d_name)) {
			files_note(w, path, S_ISDIR(st.st_mode) ? "(a staging folder left behind)"
							   : "(a temporary file left behind)");
		} else if (S_ISDIR(st.st_mode)) {
			rc = files_walk(w, path);
		} else if (S_ISREG(st.st_mode) && len > 5 && !strcmp(e->d_name + len - 5, ".json")) {
			char *text = NULL;
			size_t n;
			json_t *j = NULL;

			if ((size_t)st.st_size > FAULTS_JSON_MAX)
				files_note(w, path, "(a JSON file too large to be the lab's)");
			else if (hl_file_read(path, FAULTS_JSON_MAX, &text, &n) < 0 ||
				 hl_json_parse(text, n, n, &j) < 0)
				files_note(w, path, "(not valid JSON: half-written?)");
			hl_error_clear();
			json_decref(j);
			free(text);
		}
		free(path);
	}
	closedir(d);
	return rc;
}

int fault_files_check(const char *dir, char **problems)
{
	struct files_walk w = { dir, 0, NULL };

	*problems = NULL;
	if (files_walk(&w, dir) < 0) {
		free(w.shown);
		return -1;
	}
	if (w.found > FAULTS_PROBLEMS_SHOWN)
		add_problem(&w.shown, sfmt("and %zu more", w.found - FAULTS_PROBLEMS_SHOWN));
	*problems = w.shown;
	return 0;
}

/* ---- processes ---- */

/* Up to SIZE-1 bytes of /proc file PATH into BUF; the length, -1 when unreadable. */
static ssize_t proc_read(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t have = 0;
	ssize_t r;

	if (fd < 0)
		return -1;
	while (have < size - 1 && (r = read(fd, buf + have, size - 1 - have)) > 0)
		have += (size_t)r;
	close(fd);
	buf[have] = 0;
	return (ssize_t)have;
}

/* 1 when the NUL-separated environment ENV (LEN bytes) holds the entry WANT. */
static int env_holds(const char *env, size_t len, const char *want)
{
	size_t i = 0, wl = strlen(want);

	while (i < len) {
		size_t el = strnlen(env + i, len - i);

		if (el == wl && !memcmp(env + i, want, wl))
			return 1;
		i += el + 1;
	}
	return 0;
}

int fault_procs(const char *tag, struct fault_proc **out, size_t *n)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	struct fault_proc *v = NULL;
	size_t cap = 0;
	char *want = sfmt("%s=%s", FAULTS_TAG_ENV, tag), *env = malloc(FAULTS_PROC_READ);
	int rc = 0;

	*out = NULL;
	*n = 0;
	if (!d || !want || !env) {
		rc = d ? hl_error("out of memory") : hl_error_errno("cannot read /proc");
		goto out;
	}
	while ((e = readdir(d))) {
		char path[64], stat[512], *open_p, *close_p, state;
		ssize_t len;
		long ppid;

		if (!isdigit((unsigned char)e->d_name[0]))
			continue;
		snprintf(path, sizeof(path), "/proc/%s/environ", e->d_name);
		if ((len = proc_read(path, env, FAULTS_PROC_READ)) <= 0 || !env_holds(env, (size_t)len, want))
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
		if (proc_read(path, stat, sizeof(stat)) <= 0 || !(open_p = strchr(stat, '(')) ||
		    !(close_p = strrchr(stat, ')')) || sscanf(close_p + 1, " %c %ld", &state, &ppid) != 2)
			continue;
		if (state == 'Z' || state == 'X')
			continue;
		if (*n == cap) {
			struct fault_proc *nv = realloc(v, (cap = cap ? 2 * cap : 32) * sizeof(*v));

			if (!nv) {
				rc = hl_error("out of memory");
				goto out;
			}
			v = nv;
		}
		v[*n].pid = (pid_t)atol(e->d_name);
		v[*n].ppid = (pid_t)ppid;
		snprintf(v[*n].comm, sizeof(v[*n].comm), "%.*s", (int)(close_p - open_p - 1), open_p + 1);
		(*n)++;
	}
out:
	if (d)
		closedir(d);
	free(want);
	free(env);
	if (rc < 0) {
		free(v);
		*n = 0;
		return -1;
	}
	*out = v;
	return 0;
}

/* The pid of service SVC while it runs, else 0. */
static pid_t svc_pid(struct lab_svc *svc)
{
	return svc->child && hl_child_running(svc->child) ? hl_child_pid(svc->child) : 0;
}

/* The live VM keepers of host HI (holders of vms/x/keeper.pid) into PIDS (at most MAX); the count. */
static size_t host_keepers(struct lab *L, size_t hi, pid_t *pids, size_t max)
{
	glob_t g;
	char *pat = sfmt("%s/vms/*/keeper.pid", L->hosts[hi].dir);
	size_t i, n = 0;

	if (pat && glob(pat, 0, NULL, &g) == 0) {
		for (i = 0; i < g.gl_pathc && n < max; i++)
			if ((pids[n] = hl_pidfile_owner(g.gl_pathv[i])) > 0)
				n++;
		globfree(&g);
	}
	free(pat);
	return n;
}

#define FAULTS_MAX_LIVE 64

/* The lab's live services and VM keepers: the processes a lab may run between steps. */
static size_t lab_live(struct lab *L, pid_t *pids, size_t max, pid_t *agents, size_t *n_agents)
{
	size_t i, n = 0;

	*n_agents = 0;
	for (i = 0; i < L->n_hgs && n < max; i++)
		for (size_t k = 0; k < L->hgs[i].n_nodes && n < max; k++)
			if ((pids[n] = svc_pid(&L->hgs[i].nodes[k].svc)) > 0)
				n++;
	if (L->has_dc && n < max && (pids[n] = svc_pid(&L->dc)) > 0)
		n++;
	for (i = 0; i < L->s->n_hosts && n < max; i++)
		if ((pids[n] = svc_pid(&L->hosts[i].svc)) > 0)
			agents[(*n_agents)++] = pids[n++];
	for (i = 0; i < L->s->n_hosts && n < max; i++)
		n += host_keepers(L, i, pids + n, max - n);
	return n;
}

static int pid_in(pid_t p, const pid_t *v, size_t n)
{
	while (n--)
		if (v[n] == p)
			return 1;
	return 0;
}

/*
 * The processes of the cell (tag TAG) that are neither a live service or
 * keeper of L (L NULL: the lab is down, none is) nor a child of one, into
 * *PROBLEMS (NULL when none); their pids into ORPHANS (at most MAX), count in *N.
 */
static int orphans_find(struct lab *L, const char *tag, char **problems, pid_t *orphans, size_t max,
			size_t *n)
{
	pid_t live[FAULTS_MAX_LIVE], agents[FAULTS_MAX_LIVE];
	size_t n_live = 0, n_agents, np, i;
	struct fault_proc *v = NULL;

	*problems = NULL;
	*n = 0;
	if (L)
		n_live = lab_live(L, live, FAULTS_MAX_LIVE, agents, &n_agents);
	if (fault_procs(tag, &v, &np) < 0)
		return -1;
	for (i = 0; i < np; i++) {
		if (pid_in(v[i].pid, live, n_live) || pid_in(v[i].ppid, live, n_live))
			continue;
		if (*n < max)
			orphans[(*n)++] = v[i].pid;
		add_problem(problems, sfmt("%s (pid %ld, parent %ld)", v[i].comm, (long)v[i].pid,
					   (long)v[i].ppid));
	}
	free(v);
	return 0;
}

/*
 * Wait up to FAULTS_SETTLE_MS for the cell's processes to be only L's live
 * ones (L NULL: none at all); what remains is reported in *PROBLEMS and killed.
 */
static int orphans_settle(struct lab *L, const char *tag, char **problems)
{
	pid_t orphans[FAULTS_MAX_LIVE];
	double t0 = hl_clock_s();
	size_t n = 0, i;

	for (;;) {
		free(*problems);
		if (orphans_find(L, tag, problems, orphans, FAULTS_MAX_LIVE, &n) < 0)
			return -1;
		if (!*problems || hl_clock_s() - t0 > FAULTS_SETTLE_MS / 1000.0)
			break;
		usleep(200 * 1000);
	}
	/* the cell's own processes: they go now, reported */
	for (i = 0; i < n; i++)
		kill(orphans[i], SIGKILL);
	return 0;
}

/* ---- the trigger ---- */

struct fctx {
	struct lab *L;
	struct fault_cell *c;
	const char *tag;
	int host;                  /* the step's host */
	int armed;
	int fired;
	pid_t victim;
	pid_t victim_parent;
	double t0;                 /* the step's start */
	time_t step_start;         /* the same, wall clock (log entries' time) */
	time_t fired_at;
	size_t nodes[2];           /* hgs-node, hgs-two-nodes: the nodes killed (indices) */
	size_t n_nodes;
};

/* The host step ST is about: its host:, where its VM runs or was placed, else the first. */
static int step_host(struct lab *L, const struct sc_step *st)
{
	int vi;

	if (st->host && lab_host_index(L, st->host) >= 0)
		return lab_host_index(L, st->host);
	if (st->vm && (vi = lab_vm_index(L, st->vm)) >= 0) {
		if (L->vms[vi].running_on >= 0)
			return L->vms[vi].running_on;
		if (L->vms[vi].placed_on >= 0)
			return L->vms[vi].placed_on;
	}
	return 0;
}

/* The process of component F->c->comp now (its name into COMM), 0 when none runs. */
static pid_t target_find(struct fctx *f, char *comm, size_t size, pid_t *parent)
{
	struct lab *L = f->L;
	struct fault_proc *v = NULL;
	pid_t pid = 0, agent = svc_pid(&L->hosts[f->host].svc), keepers[FAULTS_MAX_LIVE];
	pid_t live[FAULTS_MAX_LIVE], agents[FAULTS_MAX_LIVE];
	size_t n = 0, i, n_agents;

	*parent = 0;
	switch (f->c->comp) {
	case FAULT_HGS:
		snprintf(comm, size, "hgs serve");
		return svc_pid(&L->hgs[0].nodes[0].svc);
	case FAULT_HGS_NODE:
	case FAULT_HGS_TWO_NODES: {
		/* the first living node(s), as long as one node lives on beside them */
		size_t want = f->c->comp == FAULT_HGS_NODE ? 1 : 2, up[SC_MAX_NODES], k;

		f->n_nodes = 0;
		if (L->hgs[0].n_nodes < FAULTS_CLUSTER_NODES)
			return 0;
		for (k = 0, n = 0; k < L->hgs[0].n_nodes; k++)
			if (svc_pid(&L->hgs[0].nodes[k].svc) > 0)
				up[n++] = k;
		if (n < want + 1)
			return 0;
		f->nodes[0] = up[0];
		f->nodes[1] = up[1];
		f->n_nodes = want;
		snprintf(comm, size, "hgs serve (%s)", L->hgs[0].nodes[up[0]].name);
		return svc_pid(&L->hgs[0].nodes[up[0]].svc);
	}
	case FAULT_DC:
		snprintf(comm, size, "fabric serve");
		return L->has_dc ? svc_pid(&L->dc) : 0;
	case FAULT_AGENT:
		snprintf(comm, size, "host run (%s)", L->hosts[f->host].sc->name);
		return agent;
	case FAULT_KEEPER:
		/* the step's host first */
		n = host_keepers(L, (size_t)f->host, keepers, 1);
		for (i = 0; !n && i < L->s->n_hosts; i++)
			n = host_keepers(L, i, keepers, 1);
		snprintf(comm, size, "VM keeper");
		return n ? keepers[0] : 0;
	default:
		break;
	}
	lab_live(L, live, FAULTS_MAX_LIVE, agents, &n_agents);
	if (fault_procs(f->tag, &v, &n) < 0) {
		hl_error_clear();
		return 0;
	}
	for (i = 0; i < n && !pid; i++) {
		int swtpm = !strcmp(v[i].comm, "swtpm");

		if ((f->c->comp == FAULT_HOST_SWTPM && swtpm && agent && v[i].ppid == agent) ||
		    (f->c->comp == FAULT_VTPM && swtpm && !pid_in(v[i].ppid, agents, n_agents)) ||
		    (f->c->comp == FAULT_QEMU && !strncmp(v[i].comm, "qemu-system", 11))) {
			pid = v[i].pid;
			*parent = v[i].ppid;
			snprintf(comm, size, "%s", v[i].comm);
		}
	}
	free(v);
	return pid;
}

/* The lab's verb watcher: kill the component the first time it is seen. */
static void trigger(struct lab *L, long verb_pid, const char *verb, void *arg)
{
	struct fctx *f = arg;
	char comm[64], also[96];
	pid_t pid, parent;

	(void)L;
	(void)verb_pid;
	if (!f->armed || f->fired)
		return;
	if ((pid = target_find(f, comm, sizeof(comm), &parent)) <= 0)
		return;
	if (kill(pid, SIGKILL) < 0)
		return;
	also[0] = 0;
	if (f->n_nodes == 2) {
		struct lab_hgs_node *nd = &L->hgs[0].nodes[f->nodes[1]];
		pid_t second = svc_pid(&nd->svc);

		if (second > 0 && kill(second, SIGKILL) == 0)
			snprintf(also, sizeof(also), " and hgs serve (%s) (pid %ld)", nd->name,
				 (long)second);
	}
	f->fired = 1;
	f->fired_at = time(NULL);
	f->victim = pid;
	f->victim_parent = parent;
	free(f->c->killed);
	f->c->killed = verb ? sfmt("%s (pid %ld)%s %.2f s into `%s`", comm, (long)pid, also,
				   hl_clock_s() - f->t0, verb)
			    : sfmt("%s (pid %ld)%s just before the step", comm, (long)pid, also);
}

/* 1 when step kind K runs at least one verb (else the kill comes just before it). */
static int step_runs_verb(enum sc_step_kind k)
{
	return k != SC_STEP_CLOCK && k != SC_STEP_ALTER_TEMPLATE && k != SC_STEP_KILL;
}

/* ---- HGS's and the DC's lists ---- */

static const char *const hgs_lists[] = {
	"get-tpm-host", "get-tpm-policy", "get-ci-policy", "get-host-group", "get-host-key",
	"get-trusted-domain", "get-attestation-log", "get-key-protection-log", NULL,
};
static const char *const dc_lists[] = { "get-group", "get-computer", NULL };

/* The lists of every HGS node and the DC as {"hgs NAME VERB": [...], "dc VERB": [...]}. */
static int snapshot(struct lab *L, json_t **out)
{
	json_t *all = json_object();
	size_t i, k;
	int rc = 0;

	*out = NULL;
	if (!all)
		return hl_error("out of memory");
	for (i = 0; i <= L->n_hgs && rc == 0; i++) {
		const char *const *verbs = i < L->n_hgs ? hgs_lists : dc_lists;
		const char *area = i < L->n_hgs ? "hgs" : "fabric";
		const char *dir = i < L->n_hgs ? L->hgs[i].dir : L->fabric_dir;

		if (i == L->n_hgs && !L->has_dc)
			break;
		for (k = 0; verbs[k] && rc == 0; k++) {
			struct lab_result r;
			json_t *j = NULL;
			char key[160];

			if (lab_exec(L, &r, NULL, area, verbs[k], "--dir", dir, "--json", NULL) < 0) {
				rc = -1;
				break;
			}
			snprintf(key, sizeof(key), "%s %s %s", area, i < L->n_hgs ? L->hgs[i].sc->name : "dc",
				 verbs[k]);
			if (r.rc != 0 || hl_json_parse(r.out, strlen(r.out), strlen(r.out), &j) < 0)
				rc = hl_error("`hgslab %s %s` failed (exit %d): %s", area, verbs[k], r.rc,
					      r.err ? r.err : "");
			else
				json_object_set_new(all, key, j);
			lab_result_clear(&r);
		}
	}
	if (rc < 0) {
		json_decref(all);
		return -1;
	}
	*out = all;
	return 0;
}

/* 1 when KEY is a log (entries only ever added), 0 for a list of registrations. */
static int is_log(const char *key)
{
	size_t n = strlen(key);

	return n > 4 && !strcmp(key + n - 4, "-log");
}

/*
 * Every entry of BEFORE still in AFTER (registrations too unless REGS_EXEMPT);
 * what is missing into *PROBLEMS.
 */
static void snapshot_compare(json_t *before, json_t *after, int regs_exempt, char **problems)
{
	const char *key;
	json_t *b;

	json_object_foreach(before, key, b) {
		json_t *a = json_object_get(after, key), *e, *x;
		size_t i, k, lost = 0;

		if (regs_exempt && !is_log(key))
			continue;
		if (!json_is_array(b)) {
			if (!json_equal(a, b))
				add_problem(problems, sfmt("`%s` changed", key));
			continue;
		}
		json_array_foreach(b, i, e) {
			int found = 0;

			json_array_foreach(a, k, x)
				if ((found = json_equal(e, x)))
					break;
			lost += !found;
		}
		if (lost)
			add_problem(problems, sfmt("%zu entr%s of `%s` lost (%zu before)", lost,
						   lost == 1 ? "y" : "ies", key, json_array_size(b)));
	}
}

/* ---- planting (proving the checks) ---- */

/* Plant WHAT into F's running lab (BEFORE: the snapshot, for a registration to remove). */
static void plant(struct fctx *f, enum fault_plant what, json_t *before)
{
	struct lab *L = f->L;

	if (what == FAULT_PLANT_LEFTOVER) {
		char *p = sfmt("%s/kp/.planted.kp.tmp.XXXXXX", L->work);
		int fd = p ? mkstemp(p) : -1;

		if (fd >= 0)
			close(fd);
		free(p);
	} else if (what == FAULT_PLANT_ORPHAN) {
		pid_t pid = fork();

		if (pid == 0) {
			/* a grandchild of ours, reparented at once: what a process whose parent died is */
			setsid();
			if (fork() == 0) {
				execlp("sleep", "sleep", "600", (char *)NULL);
				_exit(127);
			}
			_exit(0);
		}
		if (pid > 0)
			hl_proc_wait(&pid, 1, 2000);
	} else if (what == FAULT_PLANT_LOST) {
		char key[160];
		const char *name = NULL, *verb = "remove-tpm-host";
		struct lab_result r;

		snprintf(key, sizeof(key), "hgs %s get-tpm-host", L->hgs[0].sc->name);
		name = json_string_value(json_object_get(json_array_get(json_object_get(before, key), 0),
							 "Name"));
		if (!name) {
			snprintf(key, sizeof(key), "hgs %s get-host-group", L->hgs[0].sc->name);
			name = json_string_value(json_object_get(json_array_get(json_object_get(before, key),
										0), "Name"));
			verb = "remove-host-group";
		}
		if (name && lab_exec(L, &r, NULL, "hgs", verb, "--dir", L->hgs[0].dir, "--name", name,
				     NULL) == 0)
			lab_result_clear(&r);
		hl_error_clear();
	} else if (what == FAULT_PLANT_LOG) {
		struct host *h = NULL;

		/* an answer no node gave: an entry far past any the logs hold */
		if (host_open(L->hosts[0].dir, &h) < 0 ||
		    host_log_id_add(h, "attestation", 1000000000LL, "HGS-planted", "") < 0)
			hl_error_clear();
		host_close(h);
	}
}

/* ---- every answer in the logs exactly once (an HGS cluster) ---- */

/* The number of entries of log ARR with "Id" ID. */
static size_t log_count(const json_t *arr, long long id)
{
	size_t i, n = 0;
	json_t *e;

	json_array_foreach(arr, i, e)
		n += json_integer_value(json_object_get(e, "Id")) == id;
	return n;
}

/* The log VERB of HGS G as a JSON array into *OUT (an error when it cannot be listed). */
static int log_get(struct lab *L, struct lab_hgs *g, const char *verb, json_t **out)
{
	struct lab_result r;
	int rc = -1;

	*out = NULL;
	lab_hgs_pick(g);
	if (lab_exec(L, &r, NULL, "hgs", verb, "--dir", g->dir, "--json", NULL) < 0)
		return -1;
	if (r.rc != 0 || hl_json_parse(r.out, strlen(r.out), strlen(r.out), out) < 0 ||
	    !json_is_array(*out))
		hl_error("`hgslab hgs %s` failed (exit %d): %s", verb, r.rc, r.err ? r.err : "");
	else
		rc = 0;
	if (rc < 0) {
		json_decref(*out);
		*out = NULL;
	}
	lab_result_clear(&r);
	return rc;
}

/*
 * Faults.h step 7b for HGS 0 of L: what the hosts recorded against the
 * shared logs; problems into *PROBLEMS, entries lost to the kill into
 * *NOTE.  SINCE: the faulted step's start (wall clock), 0 when nothing
 * was killed (then every unseen entry is a problem).
 */
static void log_ids_check(struct lab *L, time_t since, char **problems, char **note)
{
	static const struct { const char *kind, *verb, *what; } logs[] = {
		{ "attestation", "get-attestation-log", "attestation" },
		{ "key-release", "get-key-protection-log", "key release" },
	};
	struct lab_hgs *g = &L->hgs[0];
	json_t *seen = json_array();
	size_t i, k, e_i, lost = 0;
	char *lost_ids = NULL;

	for (i = 0; seen && i < L->s->n_hosts; i++) {
		json_t *v = NULL, *e;

		if (L->hosts[i].hgs != g)
			continue;
		if (host_log_ids_load(L->hosts[i].dir, &v) < 0) {
			add_problem(problems, sfmt("host %s: %s", L->hosts[i].sc->name, hl_error_last()));
			continue;
		}
		json_array_foreach(v, k, e) {
			json_object_set_new(e, "HostName", json_string(L->hosts[i].sc->name));
			json_array_append(seen, e);
		}
		json_decref(v);
	}
	for (k = 0; seen && k < sizeof(logs) / sizeof(logs[0]); k++) {
		json_t *log = NULL, *e, *x;
		size_t m;

		if (log_get(L, g, logs[k].verb, &log) < 0) {
			add_problem(problems, sfmt("cannot list the %s log: %s", logs[k].what,
						   hl_error_last()));
			continue;
		}
		/* every answer a host got: in the log exactly once, answered once */
		json_array_foreach(seen, e_i, e) {
			long long id = json_integer_value(json_object_get(e, "LogId"));
			size_t in_log, twice = 0;

			if (strcmp(json_string_value(json_object_get(e, "Kind")) ?
				   json_string_value(json_object_get(e, "Kind")) : "", logs[k].kind))
				continue;
			json_array_foreach(seen, m, x)
				twice += m < e_i && json_integer_value(json_object_get(x, "LogId")) == id &&
					 json_equal(json_object_get(x, "Kind"), json_object_get(e, "Kind"));
			if (twice)
				continue;
			in_log = log_count(log, id);
			if (in_log != 1)
				add_problem(problems, sfmt("%s %lld that host %s was answered with (by %s) "
							   "is %s the %s log", logs[k].what, id,
							   json_string_value(json_object_get(e, "HostName")),
							   json_string_value(json_object_get(e, "Node")),
							   in_log ? "more than once in" : "not in",
							   logs[k].what));
			for (m = e_i + 1; m < json_array_size(seen); m++) {
				x = json_array_get(seen, m);
				if (json_integer_value(json_object_get(x, "LogId")) == id &&
				    json_equal(json_object_get(x, "Kind"), json_object_get(e, "Kind"))) {
					add_problem(problems, sfmt("%s %lld was answered twice (hosts %s "
								   "and %s)", logs[k].what, id,
								   json_string_value(json_object_get(e, "HostName")),
								   json_string_value(json_object_get(x, "HostName"))));
					break;
				}
			}
		}
		/* every entry of the run's hosts: seen answered by one of them */
		json_array_foreach(log, m, x) {
			long long id = json_integer_value(json_object_get(x, "Id"));
			const char *host = json_string_value(json_object_get(x, "Host"));
			const char *when = json_string_value(json_object_get(x, "Time"));
			int answered = 0;
			struct tm tm;
			time_t t = 0;

			if (!host || lab_host_index(L, host) < 0 || L->hosts[lab_host_index(L, host)].hgs != g)
				continue;  /* another HGS's host, or a forged name (attacks) */
			json_array_foreach(seen, e_i, e)
				answered |= json_integer_value(json_object_get(e, "LogId")) == id &&
					    !strcmp(json_string_value(json_object_get(e, "Kind")),
						    logs[k].kind);
			if (answered)
				continue;
			memset(&tm, 0, sizeof(tm));
			if (when && strptime(when, "%Y-%m-%dT%H:%M:%SZ", &tm))
				t = timegm(&tm);
			if (since && t >= since) {
				char *n = sfmt("%s%s %s %lld (%s)", lost_ids ? lost_ids : "",
					       lost_ids ? "," : "", logs[k].what, id, host);

				free(lost_ids);
				lost_ids = n;
				lost++;
			} else {
				add_problem(problems, sfmt("%s log entry %lld (host %s, %s) was answered "
							   "to no host", logs[k].what, id, host,
							   when ? when : "?"));
			}
		}
		json_decref(log);
	}
	if (lost)
		*note = sfmt("%zu log entr%s no host saw answered, from the faulted step on: the "
			     "reply was lost to the kill and the host asked again (%s)", lost,
			     lost == 1 ? "y" : "ies", lost_ids ? lost_ids : "");
	free(lost_ids);
	json_decref(seen);
}

/* ---- recovery ---- */

/* Wait up to MS for no VM keeper to run on any host of L; 1 when none runs. */
static int keepers_gone(struct lab *L, int ms)
{
	double t0 = hl_clock_s();
	pid_t k[FAULTS_MAX_LIVE];
	size_t i, n;

	for (;;) {
		for (i = 0, n = 0; i < L->s->n_hosts; i++)
			n += host_keepers(L, i, k, FAULTS_MAX_LIVE);
		if (!n)
			return 1;
		if (hl_clock_s() - t0 > ms / 1000.0)
			return 0;
		usleep(100 * 1000);
	}
}

/* Play a synthetic step ST (number INDEX) into PROBLEMS when it does not pass; 1 when it passed. */
static int play_must(struct lab *L, const struct sc_step *st, int index, const char *what,
		     char **problems)
{
	struct rp_step r;
	struct rp_scenario one = { 0 };
	int ok;

	if (step_play(L, st, index, &r) < 0) {
		add_problem(problems, sfmt("%s: interrupted", what));
		ok = 0;
	} else {
		ok = r.passed;
		if (!ok)
			add_problem(problems, sfmt("%s: %s", what, r.message ? r.message : r.got));
	}
	one.steps = calloc(1, sizeof(r));
	if (one.steps) {
		one.steps[0] = r;
		one.n_steps = 1;
		rp_scenario_clear(&one);
	}
	return ok;
}

/* 1 when VM V's keeper runs on host HI (it holds vms/NAME/keeper.pid there). */
static int vm_keeper_runs(struct lab *L, const struct lab_vm *v, int hi)
{
	char *path = sfmt("%s/vms/%s/keeper.pid", L->hosts[hi].dir, v->name);
	int runs = path && hl_pidfile_owner(path) > 0;

	free(path);
	return runs;
}

/*
 * Start the killed component again, as a service manager (or the tenant,
 * for a VM) would: a VM the lab expects to run (as the step left it) whose
 * keeper is gone is started again where it ran.
 */
static void recover(struct fctx *f, char **problems)
{
	struct lab *L = f->L;
	struct lab_svc *svc = NULL;
	size_t i;

	switch (f->c->comp) {
	case FAULT_HGS:
		svc = &L->hgs[0].nodes[0].svc;
		break;
	case FAULT_HGS_NODE:
	case FAULT_HGS_TWO_NODES:
		/* they stay down (as a `kill` with restart: false leaves them): reaped, recorded */
		for (i = 0; i < f->n_nodes; i++) {
			struct lab_svc *n = &L->hgs[0].nodes[f->nodes[i]].svc;
			int st;

			if (n->child) {
				hl_child_wait(n->child, FAULTS_SETTLE_MS, &st);
				hl_error_clear();
				hl_child_free(n->child);
				n->child = NULL;
			}
		}
		lab_hgs_pick_all(L);
		if (lab_save(L) < 0)
			add_problem(problems, sfmt("cannot record the nodes' end: %s", hl_error_last()));
		return;
	case FAULT_DC:
		svc = &L->dc;
		break;
	case FAULT_AGENT:
		svc = &L->hosts[f->host].svc;
		break;
	case FAULT_HOST_SWTPM: {
		struct lab_svc *a = &L->hosts[f->host].svc;
		double t0 = hl_clock_s();
		int back = 0;

		/* the agent supervises its TPM: it starts a new swtpm, or ends saying why */
		while (!back && hl_clock_s() - t0 < FAULTS_SWTPM_WAIT_MS / 1000.0) {
			struct fault_proc *v = NULL;
			size_t n, k;
			pid_t ap = svc_pid(a);

			if (!ap) {
				back = 2;
				break;
			}
			if (fault_procs(f->tag, &v, &n) == 0)
				for (k = 0; k < n; k++)
					if (v[k].ppid == ap && !strcmp(v[k].comm, "swtpm") &&
					    v[k].pid != f->victim)
						back = 1;
			hl_error_clear();
			free(v);
			if (!back)
				usleep(200 * 1000);
		}
		if (back == 0) {
			add_problem(problems, sfmt("the host agent neither started a new swtpm nor "
						   "ended within %d s: it runs on without a TPM",
						   FAULTS_SWTPM_WAIT_MS / 1000));
			lab_svc_stop(a);
		}
		if (back != 1)
			svc = a;
		break;
	}
	case FAULT_KEEPER:
	case FAULT_QEMU:
	case FAULT_VTPM:
		/* a VM whose keeper, QEMU or vTPM died is over: its keeper must end */
		if (!keepers_gone(L, FAULTS_SETTLE_MS)) {
			add_problem(problems, sfmt("a VM keeper still runs %d s after its %s was killed",
						   FAULTS_SETTLE_MS / 1000, fault_comp_name(f->c->comp)));
			for (i = 0; i < L->s->n_hosts; i++)
				lab_vm_stop_all(L, (int)i);
		}
		/* then the VMs the lab expects to run, whose keeper is gone, run again where they ran */
		for (i = 0; i < L->n_vms; i++) {
			struct sc_step st;
			char what[160], vm[128], host[64], expect[] = "running";
			int hi = L->vms[i].running_on;

			if (hi < 0 || vm_keeper_runs(L, &L->vms[i], hi))
				continue;
			L->vms[i].running_on = -1;
			snprintf(vm, sizeof(vm), "%s", L->vms[i].name);
			snprintf(host, sizeof(host), "%s", L->hosts[hi].sc->name);
			memset(&st, 0, sizeof(st));
			st.kind = SC_STEP_START;
			st.vm = vm;
			st.host = host;
			st.expect = expect;
			snprintf(what, sizeof(what), "starting %s again on %s", st.vm, st.host);
			play_must(L, &st, f->c->step, what, problems);
		}
		return;
	default:
		return;
	}
	if (svc && lab_svc_restart(L, svc) < 0)
		add_problem(problems, sfmt("%s did not start again: %s", svc->label, hl_error_last()));
}

/* ---- a cell ---- */

/* Play steps FROM..TO (1-based) of L's scenario; the first failure into *PROBLEMS; 1 when all passed. */
static int play_range(struct lab *L, int from, int to, const char *what, char **problems)
{
	int k;

	for (k = from; k <= to; k++) {
		char label[200];

		snprintf(label, sizeof(label), "%s step %d", what, k);
		if (!play_must(L, &L->s->steps[k - 1], k, label, problems))
			return 0;
		if (lab_interrupted())
			return 0;
	}
	return 1;
}

int fault_cell_play(struct fault_cell *c, const struct fault_opts *o, const char *work)
{
	struct lab L;
	struct fctx f;
	struct rp_step r;
	struct rp_scenario one = { 0 };
	json_t *before = NULL, *after = NULL;
	char *problems = NULL, *p = NULL;
	int up = -1, prefix_ok = 0, step_passed = 0;
	const struct sc_step *st = &c->s->steps[c->step - 1];
	double t0 = hl_clock_s();

	memset(&L, 0, sizeof(L));
	memset(&f, 0, sizeof(f));
	c->status = FAULT_FAIL;
	f.L = &L;
	f.c = c;
	f.tag = work;
	/* every process of the cell carries its tag (they inherit this environment) */
	if (setenv(FAULTS_TAG_ENV, work, 1) < 0) {
		add_problem(&problems, sfmt("cannot set %s: %s", FAULTS_TAG_ENV, strerror(errno)));
		goto done;
	}
	if (lab_init(&L, c->s, work, o->guest) < 0 || (up = lab_up(&L)) < 0) {
		add_problem(&problems, sfmt("the lab did not come up: %s", hl_error_last()));
		goto down;
	}
	/* 1. the steps before */
	if (!play_range(&L, 1, c->step - 1, "before the kill:", &problems))
		goto down;
	prefix_ok = 1;
	/* 2. what must survive */
	if (snapshot(&L, &before) < 0) {
		add_problem(&problems, sfmt("cannot list HGS's registrations: %s", hl_error_last()));
		goto down;
	}
	/* 3. the step with the kill */
	f.host = step_host(&L, st);
	f.armed = 1;
	f.t0 = hl_clock_s();
	f.step_start = time(NULL) - 1;  /* log times are whole seconds */
	L.watch = trigger;
	L.watch_arg = &f;
	if (!step_runs_verb(st->kind))
		trigger(&L, 0, NULL, &f);
	if (step_play(&L, st, c->step, &r) < 0) {
		add_problem(&problems, sfmt("interrupted"));
		goto down;
	}
	L.watch = NULL;
	f.armed = 0;
	c->title = r.title ? strdup(r.title) : NULL;
	c->got = r.got ? strdup(r.got) : NULL;
	step_passed = r.passed;
	if ((one.steps = calloc(1, sizeof(r)))) {
		one.steps[0] = r;
		one.n_steps = 1;
		rp_scenario_clear(&one);
	}
	if (!f.fired) {
		c->status = FAULT_NA;
		goto down;
	}
	if (o->plant)
		plant(&f, o->plant, before);
	/* 4. orphans, half-written files */
	if (orphans_settle(&L, work, &p) < 0)
		add_problem(&problems, sfmt("cannot list the processes: %s", hl_error_last()));
	else if (p)
		add_problem(&problems, sfmt("orphan after the kill: %s", p));
	free(p);
	p = NULL;
	/* 5. the component again */
	recover(&f, &problems);
	/* 6. nothing lost */
	if (snapshot(&L, &after) < 0)
		add_problem(&problems, sfmt("cannot list HGS's registrations after the restart: %s",
					    hl_error_last()));
	else
		snapshot_compare(before, after, st->kind == SC_STEP_UNREGISTER, &problems);
	/* 7. the step again (unless it met its expectation all the same), and the rest */
	if (step_passed || play_range(&L, c->step, c->step, "again:", &problems))
		play_range(&L, c->step + 1, (int)c->s->n_steps, "after the kill:", &problems);
	/* 7b. a cluster: every answer in the shared logs exactly once */
	if (L.hgs[0].n_nodes > 1)
		log_ids_check(&L, f.step_start, &problems, &c->note);
down:
	L.watch = NULL;
	if (L.hosts)
		lab_down(&L);
	/* 8. nothing of the cell runs; no half-written file */
	if (up == 0 && c->status != FAULT_NA) {
		if (orphans_settle(NULL, work, &p) == 0 && p)
			add_problem(&problems, sfmt("still running after the lab stopped: %s", p));
		free(p);
		p = NULL;
		if (fault_files_check(work, &p) < 0)
			add_problem(&problems, sfmt("cannot check the files: %s", hl_error_last()));
		else if (p)
			add_problem(&problems, sfmt("left in the lab: %s", p));
		free(p);
	}
	lab_free(&L);
	unsetenv(FAULTS_TAG_ENV);
done:
	if (c->status != FAULT_NA)
		c->status = problems ? FAULT_FAIL : FAULT_PASS;
	if (!prefix_ok && c->status == FAULT_NA)
		c->status = FAULT_FAIL;
	c->message = problems;
	c->secs = hl_clock_s() - t0;
	json_decref(before);
	json_decref(after);
	return lab_interrupted() ? -1 : 0;
}

void fault_cell_clear(struct fault_cell *c)
{
	free(c->title);
	free(c->killed);
	free(c->got);
	free(c->message);
	free(c->note);
	free(c->kept);
	c->title = c->killed = c->got = c->message = c->note = c->kept = NULL;
}
