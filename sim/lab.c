/*
 * lab.c - a scenario's fabric: directories, addresses, supervised processes
 * and the hgslab verbs that set it up (see lab.h).
 */
#include "sim/lab.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "hosts/manufacture.h"
#include "lib/clock.h"
#include "lib/crypto.h"
#include "lib/fileio.h"
#include "lib/json.h"
#include "lib/log.h"
#include "lib/pgserver.h"
#include "sim/dashboard.h"
#include "sim/report.h"
#include "sim/tpm_cache.h"
#include "sim/verb.h"

#define LAB_PARALLEL 3          /* verbs run side by side during setup (2 cores) */
#define JOB_POLL_MS 5           /* how often must_parallel looks for a verb that ended */
#define LAB_READY_MS 30000      /* a service must be ready within this */
#define LAB_STOP_MS 5000        /* bound on a service's orderly stop */
#define LAB_NODE_NAME_OPT "--node-name"  /* `hgs add-node`'s option for the node's name */

/* ---- signals ---- */

static volatile sig_atomic_t g_sig;

static void on_signal(int sig)
{
	g_sig = sig;
}

int lab_signals_install(void)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP };
	struct sigaction sa;
	size_t i;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		if (sigaction(sigs[i], &sa, NULL) < 0)
			return hl_error_errno("cannot install the signal handlers");
	return 0;
}

int lab_interrupted(void)
{
	return (int)g_sig;
}

/* ---- small helpers ---- */

/* A new string "FMT..." or NULL (after hl_error). */
static char *fmt(const char *f, ...) HL_PRINTF(1, 2);
static char *fmt(const char *f, ...)
{
	va_list ap;
	char *s = NULL;
	int n;

	va_start(ap, f);
	n = vasprintf(&s, f, ap);
	va_end(ap);
	if (n < 0) {
		hl_error("out of memory");
		return NULL;
	}
	return s;
}

static int mkdir_p(const char *path)
{
	char buf[PATH_MAX], *p;

	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
		return hl_error("path too long: '%s'", path);
	for (p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(buf, 0700) < 0 && errno != EEXIST)
			return hl_error_errno("cannot create '%s'", buf);
		*p = '/';
	}
	if (mkdir(buf, 0700) < 0 && errno != EEXIST)
		return hl_error_errno("cannot create '%s'", buf);
	return 0;
}

/* The last non-empty line of TEXT into BUF. */
static void last_line(const char *text, char *buf, size_t size)
{
	const char *end, *start;

	buf[0] = 0;
	if (!text)
		return;
	end = text + strlen(text);
	while (end > text && (end[-1] == '\n' || end[-1] == '\r' || end[-1] == ' '))
		end--;
	start = end;
	while (start > text && start[-1] != '\n')
		start--;
	snprintf(buf, size, "%.*s", (int)(end - start), start);
}

void lab_result_clear(struct lab_result *r)
{
	if (!r)
		return;
	free(r->out);
	free(r->err);
	memset(r, 0, sizeof(*r));
}

/* A free TCP port on ADDR (bound then released), or -1. */
static int free_port(const char *addr)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	int fd, port = -1;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1)
		return hl_error("bad address '%s'", addr);
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return hl_error_errno("socket");
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
		port = ntohs(sa.sin_port);
	else
		hl_error_errno("cannot bind to %s", addr);
	close(fd);
	return port;
}

/* ---- running verbs ---- */

struct lab_job {
	struct hl_child *child;
	char *out_path;
	char *err_path;
	char label[160];
	double t0;
};

static void job_free(struct lab_job *j)
{
	hl_child_free(j->child);
	free(j->out_path);
	free(j->err_path);
	memset(j, 0, sizeof(*j));
}

/* Start `self ARGS...` with stdout / stderr to numbered files under WORK/logs. */
static int job_start(struct lab *L, const char *const *args, struct lab_job *j)
{
	char name[64] = "", *cmd_path = NULL;
	FILE *cf;
	size_t i;
	int rc = -1;

	memset(j, 0, sizeof(*j));
	L->n_exec++;
	snprintf(name, sizeof(name), "%03d-%s%s%s", L->n_exec, args[0], args[1] ? "-" : "",
		 args[1] ? args[1] : "");
	snprintf(j->label, sizeof(j->label), "hgslab %s%s%s", args[0], args[1] ? " " : "",
		 args[1] ? args[1] : "");
	if (!(j->out_path = fmt("%s/logs/%s.out", L->work, name)) ||
	    !(j->err_path = fmt("%s/logs/%s.err", L->work, name)) ||
	    !(cmd_path = fmt("%s/logs/%s.cmd", L->work, name)))
		goto out;
	/* the command line, for repeating it by hand */
	if ((cf = fopen(cmd_path, "w"))) {
		fputs("hgslab", cf);
		for (i = 0; args[i]; i++)
			fprintf(cf, strpbrk(args[i], " \"'$") ? " '%s'" : " %s", args[i]);
		fputc('\n', cf);
		fclose(cf);
	}
	j->t0 = hl_clock_s();
	if (verb_spawn(L->self, args, j->label, j->out_path, j->err_path, 0, &j->child) < 0)
		goto out;
	if (L->watch)
		L->watch(L, (long)hl_child_pid(j->child), j->label, L->watch_arg);
	rc = 0;
out:
	free(cmd_path);
	if (rc < 0)
		job_free(j);
	return rc;
}

/* Wait for J to end (showing PROGRESS with its last stderr line); fill R. */
static int job_wait(struct lab *L, struct lab_job *j, const char *progress, struct lab_result *r)
{
	double last_shown = 0;
	size_t len;
	int st = -1;

	memset(r, 0, sizeof(*r));
	for (;;) {
		if (lab_interrupted()) {
			hl_child_stop(j->child, 2000, NULL);
			rp_progress_done();
			r->rc = -1;
			r->secs = hl_clock_s() - j->t0;
			return hl_error("interrupted (signal %d) during `%s`", lab_interrupted(), j->label);
		}
		if (hl_child_wait(j->child, 100, &st) == 0)
			break;
		hl_error_clear();
		if (L->watch)
			L->watch(L, (long)hl_child_pid(j->child), j->label, L->watch_arg);
		if (progress && L->progress && hl_clock_s() - last_shown > 0.5) {
			char *text = NULL, line[200];

			last_shown = hl_clock_s();
			if (hl_file_read(j->err_path, LAB_MAX_OUT, &text, &len) == 0) {
				const char *verb = strrchr(j->label, ' '), *shown = line;

				last_line(text, line, sizeof(line));
				/* "shield-vm: boot running" -> "boot running": the step names the verb */
				if (verb && !strncmp(line, verb + 1, strlen(verb + 1)) &&
				    !strncmp(line + strlen(verb + 1), ": ", 2))
					shown = line + strlen(verb + 1) + 2;
				rp_progress("%s %.1f s%s%s", progress, hl_clock_s() - j->t0, shown[0] ? ": " : "", shown);
			}
			free(text);
		}
	}
	if (progress && L->progress)
		rp_progress_done();
	r->rc = st;
	r->secs = hl_clock_s() - j->t0;
	if (hl_file_read(j->out_path, LAB_MAX_OUT, &r->out, &len) < 0 ||
	    hl_file_read(j->err_path, LAB_MAX_OUT, &r->err, &len) < 0) {
		lab_result_clear(r);
		return -1;
	}
	return 0;
}

int lab_execv(struct lab *L, struct lab_result *r, const char *progress, const char *const *args)
{
	struct lab_job j;
	int rc;

	memset(r, 0, sizeof(*r));
	if (lab_interrupted()) {
		r->rc = -1;
		return hl_error("interrupted (signal %d)", lab_interrupted());
	}
	if (job_start(L, args, &j) < 0)
		return -1;
	rc = job_wait(L, &j, progress, r);
	job_free(&j);
	return rc;
}

int lab_exec(struct lab *L, struct lab_result *r, const char *progress, ...)
{
	const char *args[48];
	size_t n = 0;
	va_list ap;

	va_start(ap, progress);
	while (n < sizeof(args) / sizeof(args[0]) - 1 && (args[n] = va_arg(ap, const char *)))
		n++;
	va_end(ap);
	args[n] = NULL;
	return lab_execv(L, r, progress, args);
}

/* A verb that must succeed during setup: its error names the command and its message. */
static int must(struct lab *L, const char *const *args)
{
	struct lab_result r;
	char line[400];

	if (lab_execv(L, &r, NULL, args) < 0)
		return -1;
	if (r.rc != 0) {
		last_line(r.err, line, sizeof(line));
		hl_error("`hgslab %s %s` failed (exit %d): %s (logs in %s/logs)", args[0],
			 args[1] ? args[1] : "", r.rc, line[0] ? line : "no message", L->work);
		lab_result_clear(&r);
		return -1;
	}
	lab_result_clear(&r);
	return 0;
}

#define MUST(L, ...) must((L), (const char *const[]){ __VA_ARGS__, NULL })

/*
 * Run the N argument lists ARGS side by side (LAB_PARALLEL at a time, the
 * next starting as soon as one ends); all must succeed.
 */
static int must_parallel(struct lab *L, const char *const *const *args, size_t n)
{
	struct lab_job jobs[LAB_PARALLEL];
	size_t next = 0, done = 0, i;
	int busy[LAB_PARALLEL] = { 0 }, failed = 0;
	char line[400];

	while (done < n) {
		for (i = 0; i < LAB_PARALLEL && next < n && !failed; i++) {
			if (busy[i])
				continue;
			if (job_start(L, args[next], &jobs[i]) < 0) {
				failed = 1;
				break;
			}
			busy[i] = 1;
			next++;
		}
		if (failed && next < n) {
			done += n - next;
			next = n;
		}
		/* the first job to end (a quick one must not wait behind a long one) */
		for (;;) {
			size_t first = LAB_PARALLEL;

			for (i = 0; i < LAB_PARALLEL; i++) {
				if (!busy[i])
					continue;
				if (first == LAB_PARALLEL)
					first = i;
				if (!hl_child_running(jobs[i].child))
					break;
			}
			if (i < LAB_PARALLEL || first == LAB_PARALLEL || lab_interrupted()) {
				i = i < LAB_PARALLEL ? i : first;
				break;
			}
			poll(NULL, 0, JOB_POLL_MS);
		}
		if (i < LAB_PARALLEL) {
			struct lab_result r;

			if (job_wait(L, &jobs[i], NULL, &r) < 0) {
				failed = 1;
			} else if (r.rc != 0 && !failed) {
				last_line(r.err, line, sizeof(line));
				hl_error("`%s` failed (exit %d): %s (logs in %s/logs)", jobs[i].label, r.rc,
					 line[0] ? line : "no message", L->work);
				failed = 1;
			}
			lab_result_clear(&r);
			job_free(&jobs[i]);
			busy[i] = 0;
			done++;
		}
	}
	return failed ? -1 : 0;
}

/* ---- services ---- */

int lab_svc_start(struct lab *L, struct lab_svc *svc)
{
	struct hl_child_opts o;
	const char *argv[16];
	size_t i, n = 0;

	if (svc->child && hl_child_running(svc->child))
		return 0;
	hl_child_free(svc->child);
	svc->child = NULL;
	argv[n++] = L->self;
	for (i = 0; svc->argv[i] && n < 15; i++)
		argv[n++] = svc->argv[i];
	argv[n] = NULL;
	memset(&o, 0, sizeof(o));
	o.name = svc->label;
	o.log_path = svc->log;
	o.flags = L->detach ? HL_CHILD_NO_DEATHSIG : 0;
	if (hl_child_spawn(argv, &o, &svc->child) < 0)
		return -1;
	svc->pid = hl_child_pid(svc->child);
	return 0;
}

/* Wait for a started service's readiness line. */
int lab_svc_ready(struct lab_svc *svc)
{
	double t0 = hl_clock_s();

	while (hl_child_wait_log(svc->child, svc->ready, 200) < 0) {
		if (!hl_child_running(svc->child) || hl_clock_s() - t0 > LAB_READY_MS / 1000.0)
			return hl_error_wrap("%s did not start", svc->label);
		if (lab_interrupted())
			return hl_error("interrupted (signal %d) while starting %s", lab_interrupted(),
					svc->label);
		hl_error_clear();
	}
	return 0;
}

void lab_svc_stop(struct lab_svc *svc)
{
	if (!svc->child)
		return;
	hl_child_stop(svc->child, LAB_STOP_MS, NULL);
	hl_child_free(svc->child);
	svc->child = NULL;
}

int lab_svc_restart(struct lab *L, struct lab_svc *svc)
{
	int st;

	if (svc->child) {
		hl_child_wait(svc->child, LAB_STOP_MS, &st);
		hl_error_clear();
		hl_child_free(svc->child);
		svc->child = NULL;
	}
	if (lab_svc_start(L, svc) < 0 || lab_svc_ready(svc) < 0)
		return -1;
	lab_hgs_pick_all(L);
	return lab_save(L);
}

/* ---- lookups ---- */

int lab_host_index(const struct lab *L, const char *name)
{
	size_t i;

	for (i = 0; name && i < L->s->n_hosts; i++)
		if (!strcmp(L->s->hosts[i].name, name))
			return (int)i;
	return -1;
}

int lab_vm_index(const struct lab *L, const char *name)
{
	size_t i;

	for (i = 0; name && i < L->n_vms; i++)
		if (!strcmp(L->vms[i].name, name))
			return (int)i;
	return -1;
}

int lab_template_index(const struct lab *L, const char *name)
{
	size_t i;

	for (i = 0; name && i < L->s->n_templates; i++)
		if (!strcmp(L->s->templates[i].name, name))
			return (int)i;
	return -1;
}

int lab_shielding_index(const struct lab *L, const char *name)
{
	size_t i;

	for (i = 0; name && i < L->s->n_shielding; i++)
		if (!strcmp(L->s->shielding[i].name, name))
			return (int)i;
	return -1;
}

int lab_specialization_index(const struct lab *L, const char *name)
{
	size_t i;

	for (i = 0; name && i < L->s->n_specializations; i++)
		if (!strcmp(L->s->specializations[i].name, name))
			return (int)i;
	return -1;
}

void lab_hgs_pick(struct lab_hgs *g)
{
	size_t i;

	g->dir = g->nodes[0].dir;
	for (i = 0; i < g->n_nodes; i++)
		if (g->nodes[i].svc.child && hl_child_running(g->nodes[i].svc.child)) {
			g->dir = g->nodes[i].dir;
			return;
		}
}

void lab_hgs_pick_all(struct lab *L)
{
	size_t i;

	for (i = 0; L->hgs && i < L->n_hgs; i++)
		lab_hgs_pick(&L->hgs[i]);
}

struct lab_hgs *lab_hgs_named(struct lab *L, const char *name)
{
	size_t i;

	for (i = 0; i < L->n_hgs; i++)
		if (!name || !strcmp(L->hgs[i].sc->name, name))
			return &L->hgs[i];
	return NULL;
}

/* ---- init ---- */

/* Pick 127.X.Y for this lab: random, with every address we use free to bind. */
static int pick_net(struct lab *L)
{
	unsigned seed = (unsigned)getpid() ^ (unsigned)time(NULL) ^ (unsigned)(hl_clock_s() * 1e6);
	int attempt;

	srand(seed);
	for (attempt = 0; attempt < 20; attempt++) {
		char a[24];

		snprintf(L->net, sizeof(L->net), "127.%d.%d", 100 + rand() % 120, 1 + rand() % 250);
		snprintf(a, sizeof(a), "%s.1", L->net);
		if (free_port(a) > 0)
			return 0;
		hl_error_clear();
	}
	return hl_error("no free loopback address found for the lab");
}

/* 1 when TCP PORT is free to bind on ADDR. */
static int port_free_on(const char *addr, int port)
{
	struct sockaddr_in sa;
	int fd, ok;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((unsigned short)port);
	if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1 ||
	    (fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return 0;
	ok = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return ok;
}

/*
 * HGS G of scenario HGS SC: its nodes at the addresses from *NEXT_ADDR on
 * (127.X.Y.N, N counted up), one port free on all of them, the resolve
 * entry naming every node, a service per node.
 */
static int hgs_init(struct lab *L, struct lab_hgs *g, const struct sc_hgs *sc, size_t *next_addr)
{
	size_t k, tries;
	char list[160] = "";

	g->sc = sc;
	g->trust = sc->trust;
	g->n_nodes = (size_t)sc->nodes;
	if (g->n_nodes < 1 || g->n_nodes > SC_MAX_NODES || *next_addr + g->n_nodes > 10)
		return hl_error("HGS '%s': %d nodes do not fit the lab's addresses", sc->name,
				sc->nodes);
	for (k = 0; k < g->n_nodes; k++) {
		struct lab_hgs_node *n = &g->nodes[k];

		snprintf(n->name, sizeof(n->name), SC_NODE_NAME_FMT, (int)k + 1);
		snprintf(n->addr, sizeof(n->addr), "%s.%zu", L->net, (*next_addr)++);
		snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s", k ? "," : "",
			 n->addr);
	}
	/* one port for every node */
	for (tries = 0;; tries++) {
		if ((g->port = free_port(g->nodes[0].addr)) < 0)
			return -1;
		for (k = 1; k < g->n_nodes && port_free_on(g->nodes[k].addr, g->port); k++)
			;
		if (k == g->n_nodes)
			break;
		if (tries == 20)
			return hl_error("HGS '%s': no port is free on every node's address", sc->name);
	}
	snprintf(g->url, sizeof(g->url), "http://hgs.%s:%d", sc->domain, g->port);
	snprintf(g->resolve, sizeof(g->resolve), "hgs.%s:%d:%s", sc->domain, g->port, list);
	for (k = 0; k < g->n_nodes; k++) {
		struct lab_hgs_node *n = &g->nodes[k];

		snprintf(n->listen, sizeof(n->listen), "%s:%d", n->addr, g->port);
		if (!(n->dir = k ? fmt("%s/hgs/%s-%s", L->work, sc->name, n->name)
				 : fmt("%s/hgs/%s", L->work, sc->name)) ||
		    !(n->svc.log = k ? fmt("%s/logs/hgs-%s-%s.log", L->work, sc->name, n->name)
				     : fmt("%s/logs/hgs-%s.log", L->work, sc->name)))
			return -1;
		if (g->n_nodes > 1)
			snprintf(n->svc.label, sizeof(n->svc.label), "HGS %s node %s", sc->name,
				 n->name);
		else
			snprintf(n->svc.label, sizeof(n->svc.label), "HGS %s", sc->name);
		n->svc.argv[0] = "hgs";
		n->svc.argv[1] = "serve";
		n->svc.argv[2] = "--dir";
		n->svc.argv[3] = n->dir;
		n->svc.argv[4] = "--listen";
		n->svc.argv[5] = n->listen;
		n->svc.ready = "serving";
	}
	g->dir = g->nodes[0].dir;
	return 0;
}

int lab_init(struct lab *L, const struct scenario *s, const char *work, const char *guest)
{
	char self[PATH_MAX];
	size_t i, next_addr = 1;

	memset(L, 0, sizeof(*L));
	L->s = s;
	verb_self(self, sizeof(self));
	if (!(L->self = strdup(self)) || !(L->work = strdup(work)) ||
	    (guest && !(L->guest = strdup(guest))))
		return hl_error("out of memory");
	if (mkdir_p(work) < 0)
		return -1;
	{
		char *logs = fmt("%s/logs", work);
		int rc = logs ? mkdir_p(logs) : -1;

		free(logs);
		if (rc < 0)
			return -1;
	}
	if (pick_net(L) < 0)
		return -1;
	L->n_hgs = 1 + s->n_other_hgs;
	L->hgs = calloc(L->n_hgs, sizeof(*L->hgs));
	L->hosts = calloc(s->n_hosts ? s->n_hosts : 1, sizeof(*L->hosts));
	L->n_vms = s->n_vms + s->n_deployed;
	L->vms = calloc(L->n_vms ? L->n_vms : 1, sizeof(*L->vms));
	L->templates = calloc(s->n_templates + 1, sizeof(*L->templates));
	L->shielding = calloc(s->n_shielding + 1, sizeof(*L->shielding));
	L->fsk = calloc(s->n_specializations + 1, sizeof(*L->fsk));
	if (!L->hgs || !L->hosts || !L->vms || !L->templates || !L->shielding || !L->fsk)
		return hl_error("out of memory");
	for (i = 0; i < L->n_hgs; i++)
		if (hgs_init(L, &L->hgs[i], i == 0 ? &s->hgs : &s->other_hgs[i - 1], &next_addr) < 0)
			return -1;
	if (s->fabric.present) {
		L->has_dc = 1;
		snprintf(L->dc_addr, sizeof(L->dc_addr), "%s.10", L->net);
		if ((L->dc_port = free_port(L->dc_addr)) < 0)
			return -1;
		snprintf(L->dc_url, sizeof(L->dc_url), "http://dc01.%s:%d", s->fabric.domain, L->dc_port);
		snprintf(L->dc_resolve, sizeof(L->dc_resolve), "dc01.%s:%d:%s", s->fabric.domain,
			 L->dc_port, L->dc_addr);
		if (!(L->fabric_dir = fmt("%s/fabric", work)) ||
		    !(L->dc.log = fmt("%s/logs/dc-%s.log", work, s->fabric.domain)))
			return -1;
		snprintf(L->dc.label, sizeof(L->dc.label), "DC of %s", s->fabric.domain);
		L->dc.argv[0] = "fabric";
		L->dc.argv[1] = "serve";
		L->dc.argv[2] = "--dir";
		L->dc.argv[3] = L->fabric_dir;
		L->dc.ready = "serving";
	}
	for (i = 0; i < s->n_hosts; i++) {
		struct lab_host *h = &L->hosts[i];

		h->sc = &s->hosts[i];
		h->hgs = lab_hgs_named(L, h->sc->hgs ? h->sc->hgs : s->hgs.name);
		if (!h->hgs)
			return hl_error("host '%s': no HGS '%s'", h->sc->name, h->sc->hgs);
		snprintf(h->addr, sizeof(h->addr), "%s.%zu", L->net, 20 + i);
		if (!(h->dir = fmt("%s/hosts/%s", work, h->sc->name)) ||
		    !(h->profile = strdup(h->sc->profile)) ||
		    !(h->svc.log = fmt("%s/logs/host-%s.log", work, h->sc->name)))
			return hl_error("out of memory");
		snprintf(h->svc.label, sizeof(h->svc.label), "host agent of %s", h->sc->name);
		h->svc.argv[0] = "host";
		h->svc.argv[1] = "run";
		h->svc.argv[2] = "--dir";
		h->svc.argv[3] = h->dir;
		h->svc.ready = "agent running";
	}
	for (i = 0; i < L->n_vms; i++) {
		struct lab_vm *v = &L->vms[i];

		v->running_on = v->placed_on = -1;
		if (i >= s->n_vms) {
			v->name = s->deployed[i - s->n_vms];
			continue;
		}
		v->sc = &s->vms[i];
		v->name = v->sc->name;
		if (!(v->kp = fmt("%s/kp/%s.kp", work, s->vms[i].name)))
			return -1;
	}
	for (i = 0; i < s->n_templates; i++) {
		L->templates[i].sc = &s->templates[i];
		if (!(L->templates[i].path = fmt("%s/templates/%s.tdisk", work, s->templates[i].name)) ||
		    !(L->templates[i].vsc = fmt("%s/templates/%s.vsc", work, s->templates[i].name)))
			return -1;
	}
	for (i = 0; i < s->n_shielding; i++) {
		L->shielding[i].sc = &s->shielding[i];
		if (!(L->shielding[i].pdk = fmt("%s/shielding/%s.pdk", work, s->shielding[i].name)))
			return -1;
	}
	for (i = 0; i < s->n_specializations; i++)
		if (!(L->fsk[i] = fmt("%s/shielding/%s.fsk", work, s->specializations[i].name)))
			return -1;
	if (s->n_clouds && !(L->vmm = fmt("%s/vmm", work)))
		return -1;
	if (!(L->tenant = fmt("%s/tenant", work)))
		return -1;
	return 0;
}

/* ---- up ---- */

/* Bring up the fabric directory: groups, computer accounts, the trust. */
static int fabric_setup(struct lab *L)
{
	const struct scenario *s = L->s;
	char *key = NULL, *trust = NULL;
	size_t i, g;
	int rc = -1;

	for (g = 0; g < s->fabric.groups.n; g++)
		if (MUST(L, "fabric", "add-group", "--dir", L->fabric_dir, "--name", s->fabric.groups.v[g]) < 0)
			return -1;
	for (i = 0; i < s->n_hosts; i++) {
		const struct lab_host *h = &L->hosts[i];

		free(key);
		if (!(key = fmt("%s/logs/%s.hostkey.pem", L->work, h->sc->name)) ||
		    MUST(L, "host", "get-host-key", "--dir", h->dir, "--out", key) < 0 ||
		    MUST(L, "fabric", "add-computer", "--dir", L->fabric_dir, "--name", h->sc->name,
			 "--key", key) < 0)
			goto out;
		for (g = 0; g < h->sc->groups.n; g++)
			if (MUST(L, "fabric", "add-group-member", "--dir", L->fabric_dir, "--group",
				 h->sc->groups.v[g], "--computer", h->sc->name) < 0)
				goto out;
	}
	if (!(trust = fmt("%s/logs/trust-%s.json", L->work, s->fabric.domain)) ||
	    MUST(L, "fabric", "export-trust", "--dir", L->fabric_dir, "--out", trust) < 0)
		goto out;
	/* the HGS domain trusts the fabric domain (one-way: HGS -> fabric) */
	for (i = 0; i < L->n_hgs; i++)
		if (MUST(L, "hgs", "add-trusted-domain", "--dir", L->hgs[i].dir, "--file", trust) < 0)
			goto out;
	rc = 0;
out:
	free(key);
	free(trust);
	return rc;
}

/* Point every host at its HGS (and the DC). */
static int hosts_configure(struct lab *L)
{
	size_t i;

	for (i = 0; i < L->s->n_hosts; i++) {
		const struct lab_host *h = &L->hosts[i];
		char au[200], ku[200];

		snprintf(au, sizeof(au), "%s/Attestation", h->hgs->url);
		snprintf(ku, sizeof(ku), "%s/KeyProtection", h->hgs->url);
		if (L->has_dc) {
			if (MUST(L, "host", "set-client-configuration", "--dir", h->dir,
				 "--attestation-url", au, "--key-protection-url", ku, "--resolve",
				 h->hgs->resolve, "--resolve", L->dc_resolve, "--dc-url", L->dc_url) < 0)
				return -1;
		} else if (MUST(L, "host", "set-client-configuration", "--dir", h->dir,
				"--attestation-url", au, "--key-protection-url", ku, "--resolve",
				h->hgs->resolve) < 0) {
			return -1;
		}
	}
	return 0;
}

/* The tenant: HGS guardians imported from their metadata, a KP and a template disk per VM. */
static int tenant_setup(struct lab *L)
{
	const struct scenario *s = L->s;
	size_t i, k;

	for (i = 0; i < L->n_hgs; i++) {
		int used = 0;

		for (k = 0; k < s->n_vms && !used; k++) {
			size_t g;

			for (g = 0; g < s->vms[k].guardians.n; g++)
				used |= !strcmp(s->vms[k].guardians.v[g], L->hgs[i].sc->name);
		}
		for (k = 0; k < s->n_shielding && !used; k++) {
			size_t g;

			for (g = 0; g < s->shielding[k].guardians.n; g++)
				used |= !strcmp(s->shielding[k].guardians.v[g], L->hgs[i].sc->name);
		}
		if (used && MUST(L, "tenant", "import-guardian", "--dir", L->tenant, "--url",
				 L->hgs[i].url, "--resolve", L->hgs[i].resolve,
				 "--allow-untrusted-root") < 0)
			return -1;
	}
	for (k = 0; k < s->n_vms; k++) {
		const struct sc_vm *v = &s->vms[k];
		const char *args[64];
		char *files[SC_MAX_LIST] = { NULL }, *stage;
		size_t n = 0, g;
		int rc;

		args[n++] = "tenant";
		args[n++] = "new-key-protector";
		args[n++] = "--dir";
		args[n++] = L->tenant;
		args[n++] = "--owner";
		args[n++] = v->owner;
		for (g = 0; g < v->guardians.n; g++) {
			args[n++] = "--guardian";
			args[n++] = v->guardians.v[g];
		}
		args[n++] = "--out";
		args[n++] = L->vms[k].kp;
		args[n] = NULL;
		if (must(L, args) < 0)
			return -1;
		n = 0;
		args[n++] = "tenant";
		args[n++] = "new-vm";
		args[n++] = "--dir";
		args[n++] = L->tenant;
		args[n++] = "--name";
		args[n++] = v->name;
		if (v->disk_size) {
			args[n++] = "--disk-size";
			args[n++] = v->disk_size;
		}
		/* contents go to new-vm as 0600 files (NAME=@PATH): never in its argv or logs/ */
		stage = fmt("%s/.files-%s", L->work, v->name);
		rc = stage && mkdir(stage, 0700) == 0 ? 0 : -1;
		for (g = 0; g < v->n_files && rc == 0; g++) {
			char *src = fmt("%s/%zu", stage, g);

			if (!src || hl_file_write_private(src, v->files[g].content,
							  strlen(v->files[g].content)) < 0 ||
			    !(files[g] = fmt("%s=@%s", v->files[g].name, src)))
				rc = -1;
			free(src);
			args[n++] = "--file";
			args[n++] = files[g];
		}
		args[n] = NULL;
		if (rc == 0)
			rc = must(L, args);
		if (stage)
			hl_file_rmtree(stage);
		free(stage);
		for (g = 0; g < v->n_files; g++)
			free(files[g]);
		if (rc < 0)
			return -1;
	}
	return 0;
}

/* ---- templates, shielding data, specialization data, clouds ---- */

int lab_template_protect(struct lab *L, size_t t, int *made)
{
	struct lab_template *lt = &L->templates[t];
	const struct sc_template *tp = lt->sc;
	const char *args[8 + 2 * SC_MAX_LIST];
	char *files[SC_MAX_LIST] = { NULL };
	size_t n = 0, i;
	int rc = 0;

	if (made)
		*made = 0;
	if (!lt->made) {
		args[n++] = "tenant";
		args[n++] = "new-template-disk";
		args[n++] = "--out";
		args[n++] = lt->path;
		if (tp->disk_size) {
			args[n++] = "--disk-size";
			args[n++] = tp->disk_size;
		}
		for (i = 0; i < tp->n_files && rc == 0; i++) {
			/* new-template-disk reads NAME=@PATH as a file: a leading '@' is "@@" */
			if (!(files[i] = fmt("%s=%s%s", tp->files[i].name,
					     tp->files[i].content[0] == '@' ? "@" : "",
					     tp->files[i].content)))
				rc = -1;
			args[n++] = "--file";
			args[n++] = files[i];
		}
		args[n] = NULL;
		if (rc == 0)
			rc = must(L, args);
		for (i = 0; i < tp->n_files; i++)
			free(files[i]);
		if (rc < 0)
			return -1;
		lt->made = 1;
	}
	if (MUST(L, "tenant", "protect-template-disk", "--disk", lt->path, "--name", tp->template_name,
		 "--version", tp->version, "--dir", L->tenant, "--signer", tp->signer) < 0 ||
	    MUST(L, "tenant", "save-volume-signature-catalog", "--disk", lt->path, "--out",
		 lt->vsc) < 0)
		return -1;
	lt->protected = 1;
	return lab_shielding_make(L, made);
}

/*
 * Write SD's secrets (answer file, other files) into a new private folder
 * outside the lab, as the tenant keeps them; its path into *DIR (remove it
 * with hl_file_rmtree, then free).
 */
static int secrets_stage(const struct sc_shielding *sd, char **dir)
{
	const char *tmp = getenv("TMPDIR");
	char *path = NULL;
	size_t i;
	int rc = -1;

	*dir = fmt("%s/hgslab-secrets-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!*dir)
		return -1;
	if (!mkdtemp(*dir)) {
		hl_error_errno("cannot create a private folder for the tenant's secrets");
		free(*dir);
		*dir = NULL;
		return -1;
	}
	if (sd->answer_name && (!(path = fmt("%s/%s", *dir, sd->answer_name)) ||
				hl_file_write_private(path, sd->answer_content,
						      strlen(sd->answer_content)) < 0))
		goto out;
	for (i = 0; i < sd->n_other; i++) {
		free(path);
		if (!(path = fmt("%s/other-%zu", *dir, i)) ||
		    hl_file_write_private(path, sd->other[i].content, strlen(sd->other[i].content)) < 0)
			goto out;
	}
	rc = 0;
out:
	free(path);
	return rc;
}

/* Make shielding data SD (index K): its qualifiers from the templates' .vsc, then the .pdk. */
static int shielding_make_one(struct lab *L, size_t k)
{
	const struct sc_shielding *sd = L->shielding[k].sc;
	const char *args[24 + 2 * (3 * SC_MAX_LIST)];
	char *viq[SC_MAX_LIST] = { NULL }, *other[SC_MAX_LIST] = { NULL }, *secrets = NULL;
	char *answer = NULL;
	size_t n = 0, i;
	int rc = -1;

	for (i = 0; i < sd->n_qualifiers; i++) {
		int t = lab_template_index(L, sd->qualifiers[i].template);

		if (!(viq[i] = fmt("%s/shielding/%s-%zu.viq", L->work, sd->name, i + 1)) ||
		    MUST(L, "tenant", "new-volume-id-qualifier", "--vsc", L->templates[t].vsc,
			 "--version-rule", sd->qualifiers[i].rule, "--out", viq[i]) < 0)
			goto out;
	}
	if ((sd->answer_name || sd->n_other) && secrets_stage(sd, &secrets) < 0)
		goto out;
	args[n++] = "tenant";
	args[n++] = "new-shielding-data-file";
	args[n++] = "--dir";
	args[n++] = L->tenant;
	args[n++] = "--owner";
	args[n++] = sd->owner;
	for (i = 0; i < sd->guardians.n; i++) {
		args[n++] = "--guardian";
		args[n++] = sd->guardians.v[i];
	}
	for (i = 0; i < sd->n_qualifiers; i++) {
		args[n++] = "--volume-id-qualifier";
		args[n++] = viq[i];
	}
	if (sd->answer_name) {
		if (!(answer = fmt("%s/%s", secrets, sd->answer_name)))
			goto out;
		args[n++] = "--answer-file";
		args[n++] = answer;
	}
	for (i = 0; i < sd->n_other; i++) {
		if (!(other[i] = fmt("%s=%s/other-%zu", sd->other[i].name, secrets, i)))
			goto out;
		args[n++] = "--other-file";
		args[n++] = other[i];
	}
	args[n++] = "--policy";
	args[n++] = sd->policy == SC_VM_SHIELDED ? "shielded" : "encryption-supported";
	args[n++] = "--out";
	args[n++] = L->shielding[k].pdk;
	args[n] = NULL;
	if (must(L, args) < 0)
		goto out;
	L->shielding[k].made = 1;
	rc = 0;
out:
	if (secrets) {
		hl_file_rmtree(secrets);
		free(secrets);
	}
	for (i = 0; i < SC_MAX_LIST; i++) {
		free(viq[i]);
		free(other[i]);
	}
	free(answer);
	return rc;
}

int lab_shielding_make(struct lab *L, int *made)
{
	size_t k, i;

	if (made)
		*made = 0;
	for (k = 0; k < L->s->n_shielding; k++) {
		const struct sc_shielding *sd = L->shielding[k].sc;
		int ready = !L->shielding[k].made;

		for (i = 0; i < sd->n_qualifiers && ready; i++)
			ready = L->templates[lab_template_index(L, sd->qualifiers[i].template)].protected;
		if (!ready)
			continue;
		if (shielding_make_one(L, k) < 0)
			return -1;
		if (made)
			(*made)++;
	}
	return 0;
}

/*
 * The tenant's template material: its template signers, the templates no
 * step protects (made and signed now), the specialization data and the .pdk
 * files whose templates are signed.
 */
static int templates_setup(struct lab *L)
{
	const struct scenario *s = L->s;
	char *dir = NULL;
	size_t i, j;
	int rc = -1;

	if (!s->n_templates && !s->n_specializations)
		return 0;
	if (!(dir = fmt("%s/templates", L->work)) || mkdir_p(dir) < 0)
		goto out;
	free(dir);
	if (!(dir = fmt("%s/shielding", L->work)) || mkdir_p(dir) < 0)
		goto out;
	for (i = 0; i < s->n_templates; i++) {
		for (j = 0; j < i; j++)
			if (!strcmp(s->templates[j].signer, s->templates[i].signer))
				break;
		if (j == i && MUST(L, "tenant", "new-template-signer", "--dir", L->tenant, "--name",
				   s->templates[i].signer) < 0)
			goto out;
	}
	for (i = 0; i < s->n_specializations; i++) {
		const struct sc_specialization *sp = &s->specializations[i];
		const char *args[8 + 2 * SC_MAX_LIST];
		char *vals[SC_MAX_LIST] = { NULL };
		size_t n = 0;
		int r = 0;

		args[n++] = "tenant";
		args[n++] = "new-specialization-data-file";
		for (j = 0; j < sp->n_values && r == 0; j++) {
			if (!(vals[j] = fmt("%s=%s", sp->values[j].name, sp->values[j].content)))
				r = -1;
			args[n++] = "--value";
			args[n++] = vals[j];
		}
		args[n++] = "--out";
		args[n++] = L->fsk[i];
		args[n] = NULL;
		if (r == 0)
			r = must(L, args);
		for (j = 0; j < sp->n_values; j++)
			free(vals[j]);
		if (r < 0)
			goto out;
	}
	for (i = 0; i < s->n_templates; i++)
		if (s->templates[i].protect_step < 0 && lab_template_protect(L, i, NULL) < 0)
			goto out;
	if (lab_shielding_make(L, NULL) < 0)
		goto out;
	rc = 0;
out:
	free(dir);
	return rc;
}

/* The fabric controller's clouds (`vmm new-cloud`: their hosts must be guarded hosts by now). */
static int clouds_setup(struct lab *L)
{
	size_t i, j;

	for (i = 0; i < L->s->n_clouds; i++) {
		const struct sc_cloud *cl = &L->s->clouds[i];
		const char *args[8 + 2 * SC_MAX_LIST];
		size_t n = 0;

		args[n++] = "vmm";
		args[n++] = "new-cloud";
		args[n++] = "--dir";
		args[n++] = L->vmm;
		args[n++] = "--name";
		args[n++] = cl->name;
		for (j = 0; j < cl->hosts.n; j++) {
			args[n++] = "--host";
			args[n++] = L->hosts[lab_host_index(L, cl->hosts.v[j])].dir;
		}
		args[n] = NULL;
		if (must(L, args) < 0)
			return -1;
	}
	return 0;
}

/* An argument list of at most 23 words, for verbs run side by side. */
struct argl {
	const char *a[24];
	char buf[2][64];
};

/* Fill A->a with the NULL-terminated words that follow; returns A->a. */
static const char *const *argl_set(struct argl *A, ...)
{
	va_list ap;
	size_t n = 0;

	va_start(ap, A);
	while (n < sizeof(A->a) / sizeof(A->a[0]) - 1 && (A->a[n] = va_arg(ap, const char *)))
		n++;
	va_end(ap);
	A->a[n] = NULL;
	return A->a;
}

/*
 * The lab's PostgreSQL server for an HGS whose store is postgresql: `hgslab
 * pgsql start --dir WORK/pgsql --passfile`, its URI (no password in it: the
 * `hgs init --store` command line shows it) into L->pg_uri.  As root the
 * server runs as 'postgres', which must pass through WORK (made 0711).
 */
static int pg_start(struct lab *L)
{
	struct lab_result r;
	char line[400];
	size_t len;

	int in_work;

	if (geteuid() == 0 && chmod(L->work, 0711) < 0)
		return hl_error_errno("cannot let the PostgreSQL server's user through '%s'", L->work);
	if ((in_work = hl_pgserver_can_enter(L->work)) < 0)
		return -1;
	if (in_work) {
		if (!(L->pg_dir = fmt("%s/pgsql", L->work)))
			return -1;
	} else {
		/* a folder above WORK is closed to 'postgres': the server gets one of its own */
		if (!(L->pg_dir = fmt("/tmp/hgslab-pgsql-XXXXXX")))
			return -1;
		if (!mkdtemp(L->pg_dir) || chmod(L->pg_dir, 0711) < 0) {
			hl_error_errno("cannot make a folder for the lab's PostgreSQL server");
			free(L->pg_dir);
	free(L->backup);
	hl_crypto_cleanse(L->backup_pw, sizeof(L->backup_pw));
			L->pg_dir = NULL;
			return -1;
		}
		L->pg_external = 1;
		if (L->progress)
			fprintf(L->progress, "  the PostgreSQL server cannot live in '%s' (the user "
				"'postgres' cannot enter it): it lives in '%s', removed at the end\n",
				L->work, L->pg_dir);
	}
	if (lab_exec(L, &r, "starting the lab's PostgreSQL server (the HGS store)", "pgsql", "start",
		     "--dir", L->pg_dir, "--passfile", NULL) < 0)
		return -1;
	if (r.rc != 0) {
		last_line(r.err, line, sizeof(line));
		hl_error("`hgslab pgsql start` failed (exit %d): %s (logs in %s/logs)", r.rc,
			 line[0] ? line : "no message", L->work);
		lab_result_clear(&r);
		return -1;
	}
	len = strcspn(r.out, "\n");
	if (strncmp(r.out, "postgresql://", 13) != 0 || len >= sizeof(L->pg_uri)) {
		lab_result_clear(&r);
		return hl_error("`hgslab pgsql start` printed no usable URI (logs in %s/logs)", L->work);
	}
	memcpy(L->pg_uri, r.out, len);
	L->pg_uri[len] = '\0';
	lab_result_clear(&r);
	return 0;
}

/* Print a progress note of L's bring-up, when it shows progress. */
static void note(struct lab *L, const char *fmt_, ...) HL_PRINTF(2, 3);
static void note(struct lab *L, const char *fmt_, ...)
{
	va_list ap;

	if (!L->progress)
		return;
	fputs("  ", L->progress);
	va_start(ap, fmt_);
	vfprintf(L->progress, fmt_, ap);
	va_end(ap);
	fputc('\n', L->progress);
	fflush(L->progress);
}

/*
 * The hosts' TPMs from the cache of manufactured TPM states (sim/tpm_cache.h):
 * 1 when C is held shared with at least N states and VENDOR (the lab's TPM
 * vendor CA) is a copy of the cache's, so the hosts adopt states 0..N-1; 0
 * when the hosts manufacture their TPMs as before (no cache, or another run
 * fills it: a lab never waits for the cache), with a note saying why; -1
 * when interrupted.  A cache with too few states is filled first (its
 * progress shown), when no other run uses it.
 */
static int tpm_states(struct lab *L, size_t n, const char *vendor, struct tpm_cache *c)
{
	const struct tpm_cache_io io = { L->progress, "  ", lab_interrupted };
	char *dir = NULL;
	int r, rc = 0;

	if (tpm_cache_dir(NULL, &dir) < 0)
		goto manufacture;
	if ((r = tpm_cache_open(c, dir, TPM_CACHE_SHARED, &io)) != 0)
		goto busy_or_failed;
	if (c->ready < n) {
		/* too few states (a first run, or a bigger lab): make the missing ones */
		tpm_cache_close(c);
		if ((r = tpm_cache_open(c, dir, TPM_CACHE_TRY, &io)) != 0)
			goto busy_or_failed;
		if (tpm_cache_fill(c, n, 2) < 0) {
			tpm_cache_close(c);
			if (lab_interrupted())
				goto out_err;
			goto manufacture;
		}
		tpm_cache_close(c);
		if ((r = tpm_cache_open(c, dir, TPM_CACHE_SHARED, &io)) != 0)
			goto busy_or_failed;
		if (c->ready < n) {
			tpm_cache_close(c);
			hl_error("it holds %zu of the %zu states needed", c->ready, n);
			goto manufacture;
		}
	}
	if (hosts_vendor_ca_copy(c->vendor, vendor) < 0) {
		tpm_cache_close(c);
		goto manufacture;
	}
	rc = 1;
	goto out;
busy_or_failed:
	if (r == 1) {
		note(L, "the TPM state cache '%s' is in use by another run: this lab's %zu TPM%s "
		     "are manufactured", dir, n, n == 1 ? "" : "s");
		goto out;
	}
manufacture:
	note(L, "no TPM state from the cache (%s): this lab's %zu TPM%s are manufactured",
	     hl_error_last(), n, n == 1 ? "" : "s");
	hl_error_clear();
	goto out;
out_err:
	rc = -1;
out:
	free(dir);
	return rc;
}

int lab_up(struct lab *L)
{
	const struct scenario *s = L->s;
	const char *const **jobs = NULL;
	struct argl *al = NULL;
	struct tpm_cache cache;
	const char *domain = s->fabric.present ? s->fabric.domain : "fabrikam.com";
	char *vendor = NULL, *vendor_ca = NULL, *kpdir = NULL;
	char (*states)[PATH_MAX] = NULL;
	size_t i, k, n = 0, made, cap = s->n_hosts + L->n_hgs * SC_MAX_NODES + s->tenant_guardians.n + 2;
	int adopt = 0, rc = -1;

	memset(&cache, 0, sizeof(cache));
	cache.lock_fd = -1;
	if (!(jobs = calloc(cap, sizeof(*jobs))) || !(al = calloc(cap, sizeof(*al))) ||
	    !(states = calloc(s->n_hosts ? s->n_hosts : 1, sizeof(*states)))) {
		hl_error("out of memory");
		goto out;
	}
	if (!(vendor = fmt("%s/hosts/tpm-vendor", L->work)) ||
	    !(vendor_ca = fmt("%s/vendor-ca-cert.pem", vendor)) || !(kpdir = fmt("%s/kp", L->work)) ||
	    mkdir_p(kpdir) < 0)
		goto out;
	free(kpdir);
	if (!(kpdir = fmt("%s/bundles", L->work)) || mkdir_p(kpdir) < 0)
		goto out;
	free(kpdir);
	/* hgs init makes no missing parent folder (nor does any verb) */
	if (!(kpdir = fmt("%s/hgs", L->work)) || mkdir_p(kpdir) < 0)
		goto out;
	if ((adopt = tpm_states(L, s->n_hosts, vendor, &cache)) < 0)
		goto out;
	for (i = 0; adopt && i < s->n_hosts; i++)
		if (tpm_cache_state(&cache, i, states[i], sizeof(states[i])) < 0)
			goto out;
	/*
	 * 1. With adopted TPMs the lab's vendor CA is there: the HGS nodes (first:
	 * the longest), the tenant's guardians, every host and the fabric at once.
	 * Else the first host (it creates the lab's TPM vendor CA), the tenant's
	 * guardians and the fabric.
	 */
	if (adopt && s->hgs.store_pg && pg_start(L) < 0)
		goto out;
	for (i = 0; adopt && i < L->n_hgs; i++, n++)
		jobs[n] = argl_set(&al[n], "hgs", "init", "--dir", L->hgs[i].nodes[0].dir, "--name",
				   L->hgs[i].sc->name, "--domain", L->hgs[i].sc->domain, "--trust",
				   sc_trust_name(L->hgs[i].trust), "--listen", L->hgs[i].nodes[0].listen,
				   "--tpm-vendor-ca", vendor_ca,
				   L->hgs[i].sc->store_pg ? "--store" : NULL, L->pg_uri, NULL);
	for (i = 0; i < s->tenant_guardians.n; i++, n++)
		jobs[n] = argl_set(&al[n], "tenant", "new-guardian", "--dir", L->tenant, "--name",
				   s->tenant_guardians.v[i], NULL);
	made = adopt ? s->n_hosts : 1;
	for (i = 0; i < made; i++, n++)
		jobs[n] = argl_set(&al[n], "host", "new", "--dir", L->hosts[i].dir, "--name",
				   L->hosts[i].sc->name, "--domain", domain, "--profile",
				   L->hosts[i].profile, "--vendor-dir", vendor, "--listen",
				   L->hosts[i].addr, adopt ? "--tpm-state" : NULL, states[i], NULL);
	if (L->has_dc) {
		snprintf(al[n].buf[0], sizeof(al[n].buf[0]), "%s:%d", L->dc_addr, L->dc_port);
		jobs[n] = argl_set(&al[n], "fabric", "new", "--dir", L->fabric_dir, "--domain",
				   s->fabric.domain, "--listen", al[n].buf[0], NULL);
		n++;
	}
	if (must_parallel(L, jobs, n) < 0)
		goto out;
	/* the hosts have their copies: the cache may change again */
	tpm_cache_close(&cache);
	/*
	 * The agents start now: creating a manufactured TPM's attestation and
	 * transport keys takes a while, done beside the rest.
	 */
	for (i = 0; i < made; i++)
		if (lab_svc_start(L, &L->hosts[i].svc) < 0)
			goto out;
	if (!adopt) {
		if (s->hgs.store_pg && pg_start(L) < 0)
			goto out;
		/* 2. the other hosts and the HGS nodes (which need the vendor CA) */
		n = 0;
		for (i = 1; i < s->n_hosts; i++, n++)
			jobs[n] = argl_set(&al[n], "host", "new", "--dir", L->hosts[i].dir, "--name",
					   L->hosts[i].sc->name, "--domain", domain, "--profile",
					   L->hosts[i].profile, "--vendor-dir", vendor, "--listen",
					   L->hosts[i].addr, NULL);
		for (i = 0; i < L->n_hgs; i++, n++)
			jobs[n] = argl_set(&al[n], "hgs", "init", "--dir", L->hgs[i].nodes[0].dir,
					   "--name", L->hgs[i].sc->name, "--domain",
					   L->hgs[i].sc->domain, "--trust",
					   sc_trust_name(L->hgs[i].trust), "--listen",
					   L->hgs[i].nodes[0].listen, "--tpm-vendor-ca", vendor_ca,
					   L->hgs[i].sc->store_pg ? "--store" : NULL, L->pg_uri, NULL);
		if (must_parallel(L, jobs, n) < 0)
			goto out;
		for (i = 1; i < s->n_hosts; i++)
			if (lab_svc_start(L, &L->hosts[i].svc) < 0)
				goto out;
	}
	/* the other nodes of each HGS join the first (Initialize-HgsServer -HgsServerIPAddress) */
	n = 0;
	for (i = 0; i < L->n_hgs; i++)
		for (k = 1; k < L->hgs[i].n_nodes && n < cap; k++, n++)
			jobs[n] = argl_set(&al[n], "hgs", "add-node", "--dir", L->hgs[i].nodes[k].dir,
					   "--from", L->hgs[i].nodes[0].dir, LAB_NODE_NAME_OPT,
					   L->hgs[i].nodes[k].name, NULL);
	if (n && must_parallel(L, jobs, n) < 0)
		goto out;
	/* 3. HGS nodes and the DC serve */
	for (i = 0; i < L->n_hgs; i++)
		for (k = 0; k < L->hgs[i].n_nodes; k++)
			if (lab_svc_start(L, &L->hgs[i].nodes[k].svc) < 0)
				goto out;
	if (L->has_dc && lab_svc_start(L, &L->dc) < 0)
		goto out;
	for (i = 0; i < L->n_hgs; i++)
		for (k = 0; k < L->hgs[i].n_nodes; k++)
			if (lab_svc_ready(&L->hgs[i].nodes[k].svc) < 0)
				goto out;
	if (L->has_dc && lab_svc_ready(&L->dc) < 0)
		goto out;
	/* 4. the fabric directory, the tenant and its template material, beside the agents' start */
	if ((L->has_dc && fabric_setup(L) < 0) || tenant_setup(L) < 0 || templates_setup(L) < 0)
		goto out;
	/*
	 * 5. the host agents are ready (measured boot done, keys made, the stale temporary
	 * files of their folders removed: only from now on may another process write there),
	 * then the hosts' client configuration and the clouds of those guarded hosts
	 */
	for (i = 0; i < s->n_hosts; i++)
		if (lab_svc_ready(&L->hosts[i].svc) < 0)
			goto out;
	if (hosts_configure(L) < 0 || clouds_setup(L) < 0)
		goto out;
	rc = lab_save(L);
out:
	tpm_cache_close(&cache);
	free(jobs);
	free(al);
	free(states);
	free(vendor);
	free(vendor_ca);
	free(kpdir);
	return rc;
}

/* ---- a lab brought up beside another ---- */

/* The bring-up thread: init and up, then hold until released (its children live as long). */
static void *async_main(void *arg)
{
	struct lab_async *a = arg;
	double t0 = hl_clock_s();
	int rc;

	rc = lab_init(&a->lab, a->s, a->work, a->guest) < 0 ? -1 : lab_up(&a->lab);
	pthread_mutex_lock(&a->mu);
	a->rc = rc;
	a->error = rc < 0 ? strdup(hl_error_last()) : NULL;
	a->secs = hl_clock_s() - t0;
	a->done = 1;
	pthread_cond_broadcast(&a->cv);
	while (!a->release)
		pthread_cond_wait(&a->cv, &a->mu);
	pthread_mutex_unlock(&a->mu);
	return NULL;
}

int lab_async_start(struct lab_async *a, const struct scenario *s, const char *work,
		    const char *guest)
{
	int e;

	memset(a, 0, sizeof(*a));
	a->s = s;
	if (!(a->work = strdup(work)) || (guest && !(a->guest = strdup(guest)))) {
		free(a->work);
		free(a->guest);
		return hl_error("out of memory");
	}
	pthread_mutex_init(&a->mu, NULL);
	pthread_cond_init(&a->cv, NULL);
	if ((e = pthread_create(&a->thread, NULL, async_main, a)) != 0) {
		pthread_mutex_destroy(&a->mu);
		pthread_cond_destroy(&a->cv);
		free(a->work);
		free(a->guest);
		errno = e;
		return hl_error_errno("cannot start a thread to bring up '%s'", s->name);
	}
	a->started = 1;
	return 0;
}

int lab_async_wait(struct lab_async *a)
{
	pthread_mutex_lock(&a->mu);
	while (!a->done)
		pthread_cond_wait(&a->cv, &a->mu);
	pthread_mutex_unlock(&a->mu);
	if (a->rc < 0)
		return hl_error("%s", a->error ? a->error : "out of memory");
	return 0;
}

void lab_async_end(struct lab_async *a)
{
	if (!a->started)
		return;
	pthread_mutex_lock(&a->mu);
	a->release = 1;
	pthread_cond_broadcast(&a->cv);
	pthread_mutex_unlock(&a->mu);
	pthread_join(a->thread, NULL);
	pthread_mutex_destroy(&a->mu);
	pthread_cond_destroy(&a->cv);
	free(a->work);
	free(a->guest);
	free(a->error);
	a->started = 0;
}

/* ---- VMs, clock ---- */

/* The keeper pid in a VM's state.json, 0 when none. */
static long keeper_pid(const char *state_path)
{
	json_t *j = NULL;
	char *text = NULL;
	size_t len;
	long pid = 0;

	if (hl_file_read(state_path, 1u << 20, &text, &len) == 0 &&
	    hl_json_parse(text, len, len, &j) == 0) {
		json_t *p = json_object_get(j, "keeper_pid");

		if (json_is_integer(p))
			pid = (long)json_integer_value(p);
	}
	hl_error_clear();
	json_decref(j);
	free(text);
	return pid;
}

int lab_vm_stop_all(struct lab *L, int host)
{
	glob_t g;
	char *pat;
	size_t i;
	int stopped = 0;

	if (host < 0 || (size_t)host >= L->s->n_hosts ||
	    !(pat = fmt("%s/vms/*/state.json", L->hosts[host].dir)))
		return 0;
	if (glob(pat, 0, NULL, &g) == 0) {
		for (i = 0; i < g.gl_pathc; i++) {
			pid_t pid = (pid_t)keeper_pid(g.gl_pathv[i]);

			/* the keeper stops QEMU and the vTPM's swtpm on SIGTERM */
			stopped += (int)hl_proc_stop(&pid, 1, 5000);
		}
		globfree(&g);
	}
	free(pat);
	for (i = 0; i < L->n_vms; i++)
		if (L->vms[i].running_on == host)
			L->vms[i].running_on = -1;
	return stopped;
}

int lab_clock_apply(struct lab *L)
{
	char text[32];
	size_t i;
	int rc = 0;

	snprintf(text, sizeof(text), "%lld\n", L->clock_s);
	for (i = 0; i < L->n_hgs && rc == 0; i++)
		for (size_t k = 0; k < L->hgs[i].n_nodes && rc == 0; k++) {
			char *p = fmt("%s/clock-offset", L->hgs[i].nodes[k].dir);

			rc = p ? hl_file_write(p, text, strlen(text), 0644) : -1;
			free(p);
		}
	if (rc == 0 && L->has_dc) {
		char *p = fmt("%s/clock-offset", L->fabric_dir);

		rc = p ? hl_file_write(p, text, strlen(text), 0644) : -1;
		free(p);
	}
	return rc;
}

/* ---- down, save, free ---- */

void lab_down(struct lab *L)
{
	size_t i;

	if (!L->hosts)
		return;
	for (i = 0; i < L->s->n_hosts; i++)
		lab_vm_stop_all(L, (int)i);
	for (i = 0; i < L->s->n_hosts; i++)
		if (L->hosts[i].svc.child)
			hl_child_signal(L->hosts[i].svc.child, SIGTERM);
	for (i = 0; i < L->s->n_hosts; i++)
		lab_svc_stop(&L->hosts[i].svc);
	lab_svc_stop(&L->dc);
	for (i = 0; i < L->n_hgs; i++)
		for (size_t k = 0; k < L->hgs[i].n_nodes; k++)
			lab_svc_stop(&L->hgs[i].nodes[k].svc);
	/* the store goes last, once no node uses it */
	if (L->pg_dir && hl_pgserver_stop(L->pg_dir) < 0)
		hl_log_warn("%s", hl_error_last());
	else if (L->pg_dir && L->pg_external && !L->detach && hl_file_rmtree(L->pg_dir) < 0)
		hl_log_warn("%s", hl_error_last());
	lab_svc_stop(&L->dashboard);
}

int lab_save(const struct lab *L)
{
	json_t *j = json_object(), *a;
	char *text = NULL, *path = NULL;
	size_t i;
	int rc = -1;

	if (!j)
		return hl_error("out of memory");
	json_object_set_new(j, "Scenario", json_string(L->s->name));
	json_object_set_new(j, "File", json_string(L->s->path));
	json_object_set_new(j, "Work", json_string(L->work));
	json_object_set_new(j, "RunnerPid", json_integer(getpid()));
	json_object_set_new(j, "Tenant", json_string(L->tenant));
	a = json_array();
	for (i = 0; i < L->n_hgs; i++) {
		const struct lab_hgs *g = &L->hgs[i];
		json_t *nodes = json_array();

		/* Address, Dir and Pid: node 1's, as before clusters; Nodes: every node */
		for (size_t k = 0; nodes && k < g->n_nodes; k++)
			json_array_append_new(nodes, json_pack("{s:s, s:s, s:s, s:I}", "Name",
							       g->nodes[k].name, "Dir", g->nodes[k].dir,
							       "Address", g->nodes[k].addr, "Pid",
							       (json_int_t)g->nodes[k].svc.pid));
		json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:o}", "Name",
						   g->sc->name, "Url", g->url, "Address",
						   g->nodes[0].addr, "Resolve", g->resolve, "Dir",
						   g->nodes[0].dir, "Pid", (json_int_t)g->nodes[0].svc.pid,
						   "Nodes", nodes ? nodes : json_array()));
	}
	json_object_set_new(j, "Hgs", a);
	if (L->has_dc)
		json_object_set_new(j, "Dc", json_pack("{s:s, s:s, s:s, s:I}", "Url", L->dc_url,
						       "Resolve", L->dc_resolve, "Dir", L->fabric_dir,
						       "Pid", (json_int_t)L->dc.pid));
	a = json_array();
	for (i = 0; i < L->s->n_hosts; i++)
		json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:I}", "Name", L->hosts[i].sc->name,
						   "Dir", L->hosts[i].dir, "Hgs", L->hosts[i].hgs->sc->name,
						   "Pid", (json_int_t)L->hosts[i].svc.pid));
	json_object_set_new(j, "Hosts", a);
	a = json_array();
	for (i = 0; i < L->n_vms; i++)
		json_array_append_new(a, json_pack("{s:s, s:s?, s:s?}", "Name", L->vms[i].name, "KeyProtector",
						   L->vms[i].kp, "Bundle", L->vms[i].bundle));
	json_object_set_new(j, "Vms", a);
	if (L->vmm)
		json_object_set_new(j, "Vmm", json_string(L->vmm));
	if (L->pg_dir)
		json_object_set_new(j, "Pgsql", json_pack("{s:s, s:s, s:b}", "Dir", L->pg_dir, "Uri",
							  L->pg_uri, "External", L->pg_external));
	if (L->dashboard.pid > 0)
		json_object_set_new(j, "Dashboard", json_pack("{s:s, s:s, s:I}", "Url",
						       L->dashboard_url, "Dir", L->dashboard_dir,
						       "Pid", (json_int_t)L->dashboard.pid));
	if (hl_json_dump_pretty(j, &text) == 0 && (path = fmt("%s/lab.json", L->work)))
		rc = hl_file_write(path, text, strlen(text), 0644);
	json_decref(j);
	free(text);
	free(path);
	return rc;
}

int lab_json_read(const char *work, json_t **out)
{
	char *path = fmt("%s/lab.json", work), *text = NULL;
	size_t len;
	int rc = -1;

	*out = NULL;
	if (!path)
		return -1;
	if (hl_file_read(path, 1u << 20, &text, &len) < 0)
		hl_error("no fabric is up in '%s' (no lab.json): start one with `hgslab up FILE`",
			 work);
	else if (hl_json_parse(text, len, len, out) < 0)
		hl_error_wrap("'%s' is damaged", path);
	else
		rc = 0;
	free(text);
	free(path);
	return rc;
}

int lab_json_set_pid(const char *work, const char *list, const char *name, long pid)
{
	char *path = NULL, *text = NULL;
	json_t *j = NULL, *e;
	size_t i;
	int rc = -1;

	if (lab_json_read(work, &j) < 0)
		return -1;
	json_array_foreach(json_object_get(j, list), i, e)
		if (!strcmp(json_string_value(json_object_get(e, "Name")) ?
			    json_string_value(json_object_get(e, "Name")) : "", name)) {
			json_t *nodes = json_object_get(e, "Nodes"), *ne;
			size_t k;

			json_object_set_new(e, "Pid", json_integer(pid));
			/* an HGS's entry is its node 1: that node's row too */
			json_array_foreach(nodes, k, ne)
				if (json_equal(json_object_get(ne, "Dir"), json_object_get(e, "Dir")))
					json_object_set_new(ne, "Pid", json_integer(pid));
		}
	if (hl_json_dump_pretty(j, &text) == 0 && (path = fmt("%s/lab.json", work)))
		rc = hl_file_write(path, text, strlen(text), 0644);
	json_decref(j);
	free(text);
	free(path);
	return rc;
}

int lab_dashboard_start(struct lab *L, char *token, size_t size)
{
	char tok[DASHBOARD_TOKEN_SIZE];
	int port;

	if (!(L->dashboard_dir = fmt("%s/%s", L->work, DASHBOARD_DIR)) ||
	    dashboard_token_new(L->dashboard_dir, tok) < 0 ||
	    (port = free_port("127.0.0.1")) < 0)
		return -1;
	snprintf(token, size, "%s", tok);
	snprintf(L->dashboard_listen, sizeof(L->dashboard_listen), "127.0.0.1:%d", port);
	snprintf(L->dashboard_url, sizeof(L->dashboard_url), "http://%s/", L->dashboard_listen);
	snprintf(L->dashboard.label, sizeof(L->dashboard.label), "dashboard");
	if (!L->dashboard.log && !(L->dashboard.log = fmt("%s/logs/dashboard.log", L->work)))
		return -1;
	L->dashboard.argv[0] = "dashboard";
	L->dashboard.argv[1] = "--workdir";
	L->dashboard.argv[2] = L->work;
	L->dashboard.argv[3] = "--listen";
	L->dashboard.argv[4] = L->dashboard_listen;
	L->dashboard.argv[5] = L->guest ? "--guest" : NULL;
	L->dashboard.argv[6] = L->guest;
	L->dashboard.ready = "serving";
	return lab_svc_start(L, &L->dashboard) < 0 || lab_svc_ready(&L->dashboard) < 0 ? -1 : 0;
}

void lab_free(struct lab *L)
{
	size_t i;

	if (L->hgs)
		for (i = 0; i < L->n_hgs; i++)
			for (size_t k = 0; k < L->hgs[i].n_nodes; k++) {
				hl_child_free(L->hgs[i].nodes[k].svc.child);
				free(L->hgs[i].nodes[k].dir);
				free(L->hgs[i].nodes[k].svc.log);
			}
	if (L->hosts && L->s)
		for (i = 0; i < L->s->n_hosts; i++) {
			hl_child_free(L->hosts[i].svc.child);
			free(L->hosts[i].dir);
			free(L->hosts[i].profile);
			free(L->hosts[i].svc.log);
		}
	for (i = 0; L->vms && i < L->n_vms; i++) {
		free(L->vms[i].kp);
		free(L->vms[i].bundle);
	}
	for (i = 0; L->templates && L->s && i < L->s->n_templates; i++) {
		free(L->templates[i].path);
		free(L->templates[i].vsc);
	}
	for (i = 0; L->shielding && L->s && i < L->s->n_shielding; i++)
		free(L->shielding[i].pdk);
	for (i = 0; L->fsk && L->s && i < L->s->n_specializations; i++)
		free(L->fsk[i]);
	free(L->templates);
	free(L->shielding);
	free(L->fsk);
	free(L->vmm);
	hl_child_free(L->dc.child);
	free(L->dc.log);
	hl_child_free(L->dashboard.child);
	free(L->dashboard.log);
	free(L->dashboard_dir);
	free(L->pg_dir);
	free(L->fabric_dir);
	free(L->hgs);
	free(L->hosts);
	free(L->vms);
	free(L->tenant);
	free(L->self);
	free(L->work);
	free(L->guest);
	memset(L, 0, sizeof(*L));
}
