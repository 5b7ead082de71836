/*
 * cmd_run.c - `hgslab run`, `demo`, `up`, `status` and `down`: scenarios
 * played against a lab brought up on this machine (sim/lab.h), steps
 * (sim/steps.h), reports (sim/report.h).
 */
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "fabric/directory.h"
#include "hgs/node.h"
#include "hosts/host.h"
#include "hosts/vm.h"
#include "lib/child.h"
#include "lib/clock.h"
#include "lib/crypto.h"
#include "lib/fileio.h"
#include "lib/json.h"
#include "lib/pgserver.h"
#include "cmd/cmdutil.h"
#include "cmd/commands.h"
#include "sim/dashboard.h"
#include "sim/lab.h"
#include "cmd/output.h"
#include "sim/report.h"
#include "sim/scenario.h"
#include "sim/steps.h"
#include "sim/vmm.h"

#define DEMO_SCENARIO HL_CMD_SCENARIO_PROBE
/* The article's second half, played after it: VMM deploys from a signed template. */
#define DEMO_SCENARIO_VMM "article-vmm.yaml"

/* ---- small helpers ---- */

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path) < 0 && errno != ENOENT ? -1 : 0;
}

/* rm -rf PATH. */
static int rm_tree(const char *path)
{
	if (nftw(path, rm_one, 32, FTW_DEPTH | FTW_PHYS) < 0 && errno != ENOENT)
		return hl_error_errno("cannot remove '%s'", path);
	return 0;
}

/* 1 when DIR does not exist or is an empty folder. */
static int dir_empty(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int empty = 1;

	if (!d)
		return errno == ENOENT;
	while (empty && (e = readdir(d)))
		empty = !strcmp(e->d_name, ".") || !strcmp(e->d_name, "..");
	closedir(d);
	return empty;
}

/* ---- playing scenarios ---- */

struct run_opts {
	enum rp_format format;
	const char *out;
	const char *workdir;
	const char *guest;
	int keep;
	FILE *human;     /* where the streamed human report goes */
	int dashboard;   /* --dashboard: serve the live dashboard while the run plays */
	const char *dashboard_listen;
	struct dashboard *dash;  /* the running dashboard (run_files), NULL when none */
};

/*
 * The scenarios of one run, and the next one's fabric brought up beside the
 * one that plays (sim/lab.h, lab_async): while a scenario's steps wait on VM
 * boots, the machine's other core brings the next fabric up.
 */
struct run_set {
	struct scenario **v;
	int n;
	const char *keyword;
	const char *base;                /* the lab directories' parent */
	const struct run_opts *o;
	struct lab_async *pre;           /* one per scenario; .started when brought up beside */
};

/* The lab directory of scenario I into WORK. */
static void run_work(const struct run_set *rs, int i, char *work, size_t size)
{
	snprintf(work, size, "%s/%s", rs->base, rs->v[i]->name);
}

/* Start bringing up the next scenario after I that will play (its lab directory free). */
static void run_prefetch(struct run_set *rs, int i)
{
	char work[PATH_MAX];
	int j;

	for (j = i + 1; j < rs->n; j++)
		if (!rs->keyword || scenario_matches(rs->v[j], rs->keyword))
			break;
	if (j >= rs->n || rs->pre[j].started || lab_interrupted())
		return;
	run_work(rs, j, work, sizeof(work));
	if (!dir_empty(work) || lab_async_start(&rs->pre[j], rs->v[j], work, rs->o->guest) < 0)
		hl_error_clear();  /* it comes up when its turn comes, or says why then */
}

/*
 * Play scenario I of RS in lab directory WORK; fill R.  Its fabric is the
 * one brought up beside the previous scenario, or brought up now; the next
 * scenario's bring-up starts once this fabric is up.  -1 when interrupted.
 */
static int play(struct run_set *rs, int i, const char *work, struct rp_scenario *r)
{
	const struct scenario *s = rs->v[i];
	const struct run_opts *o = rs->o;
	struct lab_async *pre = rs->pre[i].started ? &rs->pre[i] : NULL;
	struct lab own, *L = pre ? &pre->lab : &own;
	double t0 = hl_clock_s();
	size_t k;
	int rc = 0, up;

	memset(r, 0, sizeof(*r));
	r->name = strdup(s->name);
	r->file = strdup(s->path);
	r->description = strdup(s->description ? s->description : "");
	r->steps = calloc(s->n_steps ? s->n_steps : 1, sizeof(*r->steps));
	if (!r->name || !r->file || !r->description || !r->steps)
		return hl_error("out of memory");
	if (o->human)
		rp_human_begin(o->human, r);
	if (o->dash && dashboard_set_work(o->dash, work) < 0)
		hl_error_clear();  /* the dashboard keeps showing the previous lab */
	if (o->human)
		rp_progress("bringing up %s's fabric (HGS, hosts, tenant)...", s->name);
	if (pre) {
		up = lab_async_wait(pre);
		/* the fabric came up beside the previous scenario: its own time */
		r->setup_s = pre->secs;
		t0 -= pre->secs;
	} else if ((up = lab_init(L, s, work, o->guest)) == 0) {
		L->progress = stderr;
		up = lab_up(L);
		r->setup_s = hl_clock_s() - t0;
	}
	L->progress = stderr;
	rp_progress_done();
	if (up < 0) {
		r->error = strdup(hl_error_last());
	} else {
		if (o->human)
			rp_human_setup(o->human, r);
		run_prefetch(rs, i);
		for (k = 0; k < s->n_steps; k++) {
			int prc = step_play(L, &s->steps[k], (int)k + 1, &r->steps[k]);

			r->n_steps = (int)k + 1;
			if (o->human)
				rp_human_step(o->human, &r->steps[k]);
			if (prc < 0 || lab_interrupted()) {
				rc = -1;
				break;
			}
		}
	}
	lab_down(L);
	lab_free(L);
	if (pre)
		lab_async_end(pre);
	r->passed = !r->error && rc == 0 && r->n_steps == (int)s->n_steps;
	for (k = 0; r->passed && k < (size_t)r->n_steps; k++)
		r->passed = r->steps[k].passed;
	if (lab_interrupted() && !r->error) {
		char msg[96];

		snprintf(msg, sizeof(msg), "interrupted by signal %d; the lab was stopped",
			 lab_interrupted());
		r->error = strdup(msg);
		r->passed = 0;
		rc = -1;
	}
	r->duration_s = hl_clock_s() - t0;
	if (o->human)
		rp_human_end(o->human, r);
	if ((r->passed && !o->keep) || lab_interrupted())
		rm_tree(work);
	else if (o->human)
		fprintf(o->human, "  lab kept in %s (logs/ has every command and its output)\n", work);
	return lab_interrupted() ? -1 : rc < 0 ? -1 : 0;
}

/* Stop and remove the fabrics brought up beside that never played (an interrupted run). */
static void run_prefetch_drop(struct run_set *rs)
{
	int j;

	for (j = 0; j < rs->n; j++) {
		if (!rs->pre[j].started)
			continue;
		lab_async_wait(&rs->pre[j]);
		hl_error_clear();
		lab_down(&rs->pre[j].lab);
		lab_free(&rs->pre[j].lab);
		rm_tree(rs->pre[j].work);
		lab_async_end(&rs->pre[j]);
	}
}

/* Load every file in PATHS; all errors printed; -1 when any failed. */
static int load_all(char **paths, int n, struct scenario ***out)
{
	struct scenario **v = calloc((size_t)n + 1, sizeof(*v));
	int i, bad = 0;

	*out = NULL;
	if (!v)
		return hl_error("out of memory");
	for (i = 0; i < n; i++)
		if (scenario_load(paths[i], &v[i]) < 0) {
			fprintf(stderr, "hgslab: error: %s\n", hl_error_last());
			bad++;
		}
	if (bad) {
		for (i = 0; i < n; i++)
			scenario_free(v[i]);
		free(v);
		return -1;
	}
	*out = v;
	return 0;
}

/* Run the scenario files PATHS; an exit code. */
static int run_files(char **paths, int n, const char *keyword, struct run_opts *o)
{
	struct scenario **v = NULL;
	struct rp_scenario *res = NULL;
	struct run_set rs = { 0 };
	char base[PATH_MAX], work[PATH_MAX];
	FILE *outf = NULL;
	int i, nres = 0, failed = 0, interrupted = 0, code, made_base = 0;

	if (load_all(paths, n, &v) < 0)
		return HL_EXIT_USAGE;
	if (keyword) {
		int any = 0;

		for (i = 0; i < n; i++)
			any |= scenario_matches(v[i], keyword);
		if (!any) {
			code = hl_cmd_fail(HL_EXIT_USAGE, "no scenario matches the keyword '%s'", keyword);
			goto out;
		}
	}
	if (o->out && !(outf = fopen(o->out, "w"))) {
		code = hl_cmd_fail(HL_EXIT_FAILURE, "cannot write '%s': %s", o->out, strerror(errno));
		goto out;
	}
	if (o->format == RP_HUMAN)
		o->human = outf ? outf : stdout;
	else
		o->human = outf ? stdout : stderr;
	if (o->workdir) {
		snprintf(base, sizeof(base), "%s", o->workdir);
	} else {
		const char *tmp = getenv("TMPDIR");

		snprintf(base, sizeof(base), "%s/hgslab-run-XXXXXX", tmp && *tmp ? tmp : "/tmp");
		if (!mkdtemp(base)) {
			code = hl_cmd_fail(HL_EXIT_FAILURE, "cannot create a lab directory: %s", strerror(errno));
			goto out;
		}
		made_base = 1;
	}
	if (lab_signals_install() < 0) {
		code = hl_cmd_fail(HL_EXIT_FAILURE, "%s", hl_error_last());
		goto out;
	}
	if (!(res = calloc((size_t)n, sizeof(*res)))) {
		code = hl_cmd_fail(HL_EXIT_FAILURE, "out of memory");
		goto out;
	}
	rs.v = v;
	rs.n = n;
	rs.keyword = keyword;
	rs.base = base;
	rs.o = o;
	if (!(rs.pre = calloc((size_t)n, sizeof(*rs.pre)))) {
		code = hl_cmd_fail(HL_EXIT_FAILURE, "out of memory");
		goto out;
	}
	if (o->dashboard) {
		struct dashboard_config dc = { .listen = o->dashboard_listen };

		if (dashboard_start(&dc, &o->dash) < 0) {
			code = hl_cmd_fail(HL_EXIT_FAILURE, "%s", hl_error_last());
			goto out;
		}
		fprintf(stderr, "hgslab run: live dashboard on %s (open it in a browser; it stops "
			"at the end of the run)\n", dashboard_url(o->dash));
	}
	for (i = 0; i < n && !interrupted; i++) {
		if (keyword && !scenario_matches(v[i], keyword))
			continue;
		run_work(&rs, i, work, sizeof(work));
		if (!rs.pre[i].started && !dir_empty(work)) {
			res[nres].name = strdup(v[i]->name);
			res[nres].file = strdup(v[i]->path);
			if (asprintf(&res[nres].error, "the lab directory '%s' is not empty: remove it or "
				     "give another --workdir", work) < 0)
				res[nres].error = NULL;
			nres++;
			failed++;
			continue;
		}
		if (play(&rs, i, work, &res[nres]) < 0)
			interrupted = lab_interrupted() != 0;
		failed += !res[nres].passed;
		nres++;
	}
	if (rs.pre)
		run_prefetch_drop(&rs);
	if (o->human)
		rp_human_summary(o->human, res, nres);
	if (o->format != RP_HUMAN && rp_write(outf ? outf : stdout, o->format, res, nres) < 0) {
		code = hl_cmd_fail(HL_EXIT_FAILURE, "cannot write the report: %s", hl_error_last());
		goto out;
	}
	code = interrupted ? HL_EXIT_INTERRUPTED : failed ? HL_EXIT_EXPECTATION : HL_EXIT_OK;
	if (code == HL_EXIT_EXPECTATION)
		hl_cmd_fail(code, "%d of %d scenario%s failed (see the report above)", failed, nres,
			    nres == 1 ? "" : "s");
	else if (code == HL_EXIT_INTERRUPTED)
		fprintf(stderr, "hgslab: interrupted; every process the run started was stopped\n");
out:
	dashboard_stop(o->dash);
	o->dash = NULL;
	free(rs.pre);
	if (made_base)
		rmdir(base);  /* only when empty: kept labs stay */
	if (outf && fclose(outf) != 0 && code == HL_EXIT_OK)
		code = hl_cmd_fail(HL_EXIT_FAILURE, "cannot write '%s': %s", o->out, strerror(errno));
	for (i = 0; res && i < nres; i++)
		rp_scenario_clear(&res[i]);
	free(res);
	for (i = 0; v && i < n; i++)
		scenario_free(v[i]);
	free(v);
	return code;
}

/* Common options of run / demo into O; -1 after hl_cmd_fail. */
static int run_opts_get(struct hl_cmd_ctx *ctx, struct run_opts *o)
{
	memset(o, 0, sizeof(*o));
	if (rp_format_parse(hl_opts_str(&ctx->opts, "report", "human"), &o->format) < 0)
		return hl_cmd_fail(HL_EXIT_USAGE, "%s", hl_error_last());
	o->out = hl_opts_str(&ctx->opts, "out", NULL);
	o->workdir = hl_opts_str(&ctx->opts, "workdir", NULL);
	o->keep = hl_opts_flag(&ctx->opts, "keep");
	o->guest = hl_opts_str(&ctx->opts, "guest", NULL);
	o->dashboard_listen = hl_opts_str(&ctx->opts, "dashboard-listen", NULL);
	o->dashboard = hl_opts_flag(&ctx->opts, "dashboard") || o->dashboard_listen;
	return 0;
}

const struct hl_opt cmd_run_opts[] = {
	{ "report", 'r', HL_OPT_STRING, "FORMAT", "human (default), tap, junit, json or html", 0 },
	{ "out", 'o', HL_OPT_STRING, "FILE", "write the report to FILE (default stdout)", 0 },
	{ "workdir", 'w', HL_OPT_STRING, "DIR", "make the labs in DIR/NAME (default a new temp dir)", 0 },
	{ "keep", 0, HL_OPT_FLAG, NULL, "keep the lab directories (default: kept only on failure)", 0 },
	{ "keyword", 'k', HL_OPT_STRING, "K", "run only scenarios whose name or keywords match K", 0 },
	{ "guest", 0, HL_OPT_STRING, "DIR", HL_GUEST_HELP, 0 },
	{ "check", 0, HL_OPT_FLAG, NULL, "only validate the files (exit 0 when all are valid, 2 when not)", 0 },
	{ "dashboard", 0, HL_OPT_FLAG, NULL, "serve the live dashboard while the run plays (URL on stderr)", 0 },
	{ "dashboard-listen", 0, HL_OPT_STRING, "ADDR:PORT", "where the dashboard listens (default 127.0.0.1:0)", 0 },
	{ NULL, 0, 0, NULL, NULL, 0 },
};

int cmd_run(struct hl_cmd_ctx *ctx)
{
	struct run_opts o;

	if (ctx->opts.argc < 1)
		return hl_cmd_fail(HL_EXIT_USAGE, "give at least one scenario FILE (e.g. scenarios/*.yaml)");
	if (run_opts_get(ctx, &o) != 0)
		return HL_EXIT_USAGE;
	if (hl_opts_flag(&ctx->opts, "check")) {
		struct scenario **v = NULL;
		int i;

		if (load_all(ctx->opts.argv, ctx->opts.argc, &v) < 0)
			return HL_EXIT_USAGE;
		for (i = 0; i < ctx->opts.argc; i++) {
			printf("%s: valid (%s, %zu host%s, %zu step%s)\n", ctx->opts.argv[i], v[i]->name,
			       v[i]->n_hosts, v[i]->n_hosts == 1 ? "" : "s", v[i]->n_steps,
			       v[i]->n_steps == 1 ? "" : "s");
			scenario_free(v[i]);
		}
		free(v);
		return HL_EXIT_OK;
	}
	return run_files(ctx->opts.argv, ctx->opts.argc, hl_opts_str(&ctx->opts, "keyword", NULL), &o);
}

const struct hl_opt cmd_demo_opts[] = {
	{ "report", 'r', HL_OPT_STRING, "FORMAT", "human (default), tap, junit, json or html", 0 },
	{ "out", 'o', HL_OPT_STRING, "FILE", "write the report to FILE (default stdout)", 0 },
	{ "workdir", 'w', HL_OPT_STRING, "DIR", "make the lab in DIR/NAME (default a new temp dir)", 0 },
	{ "keep", 0, HL_OPT_FLAG, NULL, "keep the lab directory", 0 },
	{ "guest", 0, HL_OPT_STRING, "DIR", HL_GUEST_HELP, 0 },
	{ "dashboard", 0, HL_OPT_FLAG, NULL, "serve the live dashboard while the demo plays (URL on stderr)", 0 },
	{ "dashboard-listen", 0, HL_OPT_STRING, "ADDR:PORT", "where the dashboard listens (default 127.0.0.1:0)", 0 },
	{ NULL, 0, 0, NULL, NULL, 0 },
};

int cmd_demo(struct hl_cmd_ctx *ctx)
{
	static const char *const demo[] = { DEMO_SCENARIO, DEMO_SCENARIO_VMM };
	struct run_opts o;
	char dir[PATH_MAX], file[2][PATH_MAX + 64], *paths[2];
	struct stat st;
	size_t i;

	if (run_opts_get(ctx, &o) != 0)
		return HL_EXIT_USAGE;
	if (hl_cmd_scenario_dir(dir, sizeof(dir)) < 0)
		return hl_cmd_fail(HL_EXIT_FAILURE, "%s", hl_error_last());
	for (i = 0; i < 2; i++) {
		snprintf(file[i], sizeof(file[i]), "%s/%s", dir, demo[i]);
		if (stat(file[i], &st) < 0)
			return hl_cmd_fail(HL_EXIT_FAILURE, "cannot find the demo scenario '%s': run "
					   "hgslab from its source tree or installed (make install), "
					   "or set HGSLAB_SCENARIOS to the scenarios folder", file[i]);
		paths[i] = file[i];
	}
	return run_files(paths, 2, NULL, &o);
}

/* ---- up / status / down ---- */

/* The default lab directory of `up`. */
static void up_dir(const char *given, char *buf, size_t size)
{
	const char *tmp = getenv("TMPDIR");

	if (given)
		snprintf(buf, size, "%s", given);
	else
		snprintf(buf, size, "%s/hgslab-up-%u", tmp && *tmp ? tmp : "/tmp", (unsigned)getuid());
}

/* WORK/lab.json, or NULL (with an error saying no fabric is up). */
static json_t *lab_json(const char *work)
{
	json_t *j = NULL;

	return lab_json_read(work, &j) < 0 ? NULL : j;
}

/*
 * The pid lab.json's entry E records, when that process is still the lab's:
 * it holds the lock of the pid file PIDFILE in E's "dir" (lib/child.h "Pid
 * files").  0 when it is gone or the pid now belongs to another process.
 */
static pid_t lab_pid_owned(const json_t *e, const char *pidfile)
{
	pid_t pid = (pid_t)json_integer_value(json_object_get(e, "Pid"));
	const char *dir = json_string_value(json_object_get(e, "Dir"));
	char path[PATH_MAX];

	if (pid <= 0 || !dir || snprintf(path, sizeof(path), "%s/%s", dir, pidfile) >= (int)sizeof(path))
		return 0;
	return hl_pidfile_owner(path) == pid ? pid : 0;
}

/* The pids of lab.json's processes that are still the lab's, into PIDS (at most MAX); the count. */
static int lab_pids(const json_t *j, pid_t *pids, int max)
{
	static const char *const lists[] = { "Hgs", "Hosts" };
	static const char *const files[] = { HGS_PID_FILE, HOST_PID_FILE };
	json_t *e, *dc;
	size_t i, k;
	int n = 0;

	for (k = 0; k < 2; k++)
		json_array_foreach(json_object_get(j, lists[k]), i, e) {
			json_t *nodes = json_object_get(e, "Nodes"), *ne;
			size_t m;

			/* an HGS: every node (node 1 is also the entry itself) */
			if (json_array_size(nodes)) {
				json_array_foreach(nodes, m, ne)
					if (n < max && (pids[n] = lab_pid_owned(ne, files[k])) > 0)
						n++;
			} else if (n < max && (pids[n] = lab_pid_owned(e, files[k])) > 0) {
				n++;
			}
		}
	if ((dc = json_object_get(j, "Dc")) && n < max && (pids[n] = lab_pid_owned(dc, FABRIC_PID_FILE)) > 0)
		n++;
	if ((dc = json_object_get(j, "Dashboard")) && n < max &&
	    (pids[n] = lab_pid_owned(dc, DASHBOARD_PID_FILE)) > 0)
		n++;
	return n;
}

const struct hl_opt cmd_up_opts[] = {
	{ "workdir", 'w', HL_OPT_STRING, "DIR", "the lab directory (default $TMPDIR/hgslab-up-UID)", 0 },
	{ "play", 0, HL_OPT_FLAG, NULL, "also play the scenario's steps, then leave it running", 0 },
	{ "guest", 0, HL_OPT_STRING, "DIR", HL_GUEST_HELP, 0 },
	{ "json", 0, HL_OPT_FLAG, NULL, "print JSON (lab.json)", 0 },
	{ "no-dashboard", 0, HL_OPT_FLAG, NULL, "start no live dashboard (docs/dashboard.md)", 0 },
	{ NULL, 0, 0, NULL, NULL, 0 },
};

int cmd_up(struct hl_cmd_ctx *ctx)
{
	struct scenario **v = NULL;
	struct lab L;
	char work[PATH_MAX], token[DASHBOARD_TOKEN_SIZE] = "";
	json_t *old;
	size_t i;
	const char *wopt;
	int code = HL_EXIT_OK, failed = 0;

	if (ctx->opts.argc != 1)
		return hl_cmd_fail(HL_EXIT_USAGE, "give one scenario FILE");
	up_dir(hl_opts_str(&ctx->opts, "workdir", NULL), work, sizeof(work));
	/* the commands printed name the lab directory when it is not the default one */
	wopt = hl_opts_str(&ctx->opts, "workdir", NULL) ? work : "";
	if (load_all(ctx->opts.argv, 1, &v) < 0)
		return HL_EXIT_USAGE;
	if ((old = lab_json(work))) {
		pid_t pids[64];
		int live = lab_pids(old, pids, 64);

		json_decref(old);
		if (live) {
			code = hl_cmd_fail(HL_EXIT_FAILURE, "a fabric is already up in '%s': stop it with "
					   "`hgslab down%s%s` first", work,
					   hl_opts_str(&ctx->opts, "workdir", NULL) ? " --workdir " : "",
					   hl_opts_str(&ctx->opts, "workdir", "") );
			goto out;
		}
	}
	hl_error_clear();
	rm_tree(work);
	if (lab_signals_install() < 0 || lab_init(&L, v[0], work, hl_opts_str(&ctx->opts, "guest", NULL)) < 0) {
		code = hl_cmd_fail(HL_EXIT_FAILURE, "%s", hl_error_last());
		goto out;
	}
	L.detach = 1;
	L.progress = stderr;
	fprintf(stderr, "hgslab up: bringing up %s in %s ...\n", v[0]->name, work);
	if (lab_up(&L) < 0) {
		code = hl_cmd_fail(HL_EXIT_FAILURE, "%s", hl_error_last());
		lab_down(&L);
		lab_free(&L);
		rm_tree(work);
		goto out;
	}
	if (hl_opts_flag(&ctx->opts, "play")) {
		for (i = 0; i < v[0]->n_steps; i++) {
			struct rp_step r;
			struct rp_scenario one = { 0 };

			if (step_play(&L, &v[0]->steps[i], (int)i + 1, &r) < 0) {
				failed++;
				one.steps = &r;
				one.n_steps = 1;
				break;
			}
			rp_human_step(stdout, &r);
			failed += !r.passed;
			one.steps = calloc(1, sizeof(r));
			if (one.steps) {
				one.steps[0] = r;
				one.n_steps = 1;
				rp_scenario_clear(&one);
			}
		}
		lab_save(&L);
	}
	if (!lab_interrupted() && !hl_opts_flag(&ctx->opts, "no-dashboard") &&
	    (lab_dashboard_start(&L, token, sizeof(token)) < 0 || lab_save(&L) < 0)) {
		code = hl_cmd_fail(HL_EXIT_FAILURE, "cannot start the dashboard: %s", hl_error_last());
		lab_down(&L);
		lab_free(&L);
		rm_tree(work);
		goto out;
	}
	if (lab_interrupted()) {
		lab_down(&L);
		lab_free(&L);
		rm_tree(work);
		code = HL_EXIT_INTERRUPTED;
		goto out;
	}
	if (hl_opts_flag(&ctx->opts, "json")) {
		char p[PATH_MAX + 16], *text = NULL;
		size_t len;

		snprintf(p, sizeof(p), "%s/lab.json", work);
		if (hl_file_read(p, 1u << 20, &text, &len) == 0)
			fwrite(text, 1, len, stdout);
		free(text);
	} else {
		printf("The fabric of %s is up (lab directory %s).\n\n", v[0]->name, work);
		for (i = 0; i < L.n_hgs; i++)
			printf("  HGS %-16s %s  (%s; node dir %s)\n", L.hgs[i].sc->name, L.hgs[i].url,
			       L.hgs[i].resolve, L.hgs[i].dir);
		if (L.has_dc)
			printf("  DC of %-13s %s  (%s)\n", v[0]->fabric.domain, L.dc_url, L.dc_resolve);
		for (i = 0; i < v[0]->n_hosts; i++)
			printf("  host %-15s %s  (profile %s)\n", L.hosts[i].sc->name, L.hosts[i].dir,
			       L.hosts[i].profile);
		printf("  tenant               %s\n", L.tenant);
		if (L.vmm)
			printf("  fabric controller    %s\n", L.vmm);
		if (L.dashboard.pid > 0)
			printf("  dashboard            %s  (open it in a browser)\n"
			       "  teacher token        %s  (for the dashboard's actions; also in %s/%s)\n",
			       L.dashboard_url, token, L.dashboard_dir, DASHBOARD_TOKEN_FILE);
		printf("\nTry by hand:\n");
		printf("  hgslab status%s%s\n", wopt[0] ? " --workdir " : "", wopt);
		printf("  hgslab hgs get-attestation-log --dir %s\n", L.hgs[0].dir);
		if (v[0]->n_hosts)
			printf("  hgslab host test-client-configuration --dir %s\n"
			       "  hgslab host get-client-configuration --dir %s\n", L.hosts[0].dir,
			       L.hosts[0].dir);
		/* shield-vm only for a VM not shielded yet (up --play may have shielded it) */
		if (v[0]->n_vms && !L.vms[0].shielded)
			printf("  hgslab tenant shield-vm --dir %s --vm %s --key-protector %s --policy shielded\n",
			       L.tenant, v[0]->vms[0].name, L.vms[0].kp);
		if (L.vmm) {
			printf("  hgslab vmm get-cloud --dir %s\n", L.vmm);
			if (v[0]->n_templates && v[0]->n_shielding && L.shielding[0].made)
				printf("  hgslab vmm deploy --dir %s --cloud %s --name VM1 --template %s "
				       "--pdk %s\n", L.vmm, v[0]->clouds[0].name, L.templates[0].path,
				       L.shielding[0].pdk);
			printf("  hgslab vmm get-placement --dir %s\n", L.vmm);
		}
		printf("  hgslab down%s%s\n", wopt[0] ? " --workdir " : "", wopt);
	}
	hl_crypto_cleanse(token, sizeof(token));
	if (failed)
		code = hl_cmd_fail(HL_EXIT_EXPECTATION, "%d step%s did not meet the expectation; the "
				   "fabric is left up", failed, failed == 1 ? "" : "s");
	/* leave every process running: the children are not stopped at exit */
	fflush(stdout);
	_exit(code);
out:
	if (v)
		scenario_free(v[0]);
	free(v);
	return code;
}

const struct hl_opt cmd_down_opts[] = {
	{ "workdir", 'w', HL_OPT_STRING, "DIR", "the lab directory (default $TMPDIR/hgslab-up-UID)", 0 },
	{ "keep", 0, HL_OPT_FLAG, NULL, "keep the lab directory", 0 },
	{ NULL, 0, 0, NULL, NULL, 0 },
};

/* The VM keepers of every host in J (each the holder of its VM's keeper lock). */
static int keeper_pids(const json_t *j, pid_t *pids, int max)
{
	json_t *h;
	size_t i;
	int n = 0;

	json_array_foreach(json_object_get(j, "Hosts"), i, h) {
		struct host *ho = NULL;
		json_t *names = NULL, *name;
		size_t k;

		if (host_open(json_string_value(json_object_get(h, "Dir")), &ho) < 0 ||
		    hosts_vm_list(ho, &names) < 0) {
			hl_error_clear();
			host_close(ho);
			continue;
		}
		json_array_foreach(names, k, name)
			if (n < max && (pids[n] = hosts_vm_keeper(ho, json_string_value(name))) > 0)
				n++;
		json_decref(names);
		host_close(ho);
	}
	return n;
}

int cmd_down(struct hl_cmd_ctx *ctx)
{
	char work[PATH_MAX];
	pid_t pids[128];
	json_t *j;
	const char *pg;
	int n, vms, live;

	up_dir(hl_opts_str(&ctx->opts, "workdir", NULL), work, sizeof(work));
	if (!(j = lab_json(work)))
		return hl_cmd_fail(HL_EXIT_FAILURE, "%s", hl_error_last());
	/*
	 * Only the processes proved to be the lab's (each holds its pid file's
	 * lock) get a signal, and only they: never their process groups.
	 */
	vms = keeper_pids(j, pids, 64);
	hl_proc_stop(pids, (size_t)vms, 5000);
	n = lab_pids(j, pids, 64);
	live = (int)hl_proc_stop(pids, (size_t)n, 5000);
	/* the HGS store's PostgreSQL server (store: postgresql), once no node uses it */
	pg = json_string_value(json_object_get(json_object_get(j, "Pgsql"), "Dir"));
	if (pg && hl_pgserver_pid(pg) > 0) {
		if (hl_pgserver_stop(pg) < 0)
			fprintf(stderr, "hgslab: warning: %s\n", hl_error_last());
		else
			live++;
	}
	/* a server folder outside the lab (postgres could not enter it) goes with it */
	if (pg && json_is_true(json_object_get(json_object_get(j, "Pgsql"), "External")) &&
	    !hl_opts_flag(&ctx->opts, "keep") && rm_tree(pg) < 0)
		fprintf(stderr, "hgslab: warning: %s\n", hl_error_last());
	printf("stopped %d VM%s and %d process%s of the fabric in %s\n", vms, vms == 1 ? "" : "s", live,
	       live == 1 ? "" : "es", work);
	json_decref(j);
	if (!hl_opts_flag(&ctx->opts, "keep") && rm_tree(work) < 0)
		return hl_cmd_fail(HL_EXIT_FAILURE, "%s", hl_error_last());
	return HL_EXIT_OK;
}

const struct hl_opt cmd_status_opts[] = {
	{ "workdir", 'w', HL_OPT_STRING, "DIR", "the lab directory (default $TMPDIR/hgslab-up-UID)", 0 },
	{ "json", 0, HL_OPT_FLAG, NULL, "print JSON", 0 },
	{ NULL, 0, 0, NULL, NULL, 0 },
};

/* The fabric controller VMM's clouds and placements as status rows appended to ROWS. */
static int status_vmm(const char *vmm, json_t *rows)
{
	json_t *clouds = NULL, *placements = NULL, *e, *h;
	size_t i, k;

	if (!vmm || vmm_clouds(vmm, &clouds) < 0 || vmm_placements(vmm, &placements) < 0) {
		json_decref(clouds);
		return vmm ? -1 : 0;
	}
	json_array_foreach(clouds, i, e) {
		char hosts[512] = "";
		size_t used = 0;

		json_array_foreach(json_object_get(e, "hosts"), k, h)
			if (used < sizeof(hosts))
				used += (size_t)snprintf(hosts + used, sizeof(hosts) - used, "%s%s",
							 k ? ", " : "",
							 json_string_value(json_object_get(h, "name")));
		json_array_append_new(rows, json_pack("{s:s, s:O, s:s, s:s, s:s}", "Kind", "Cloud",
			"Name", json_object_get(e, "name"), "State", "", "Health", "", "Detail", hosts));
	}
	json_array_foreach(placements, i, e) {
		char detail[256];

		snprintf(detail, sizeof(detail), "%s in cloud %s (computer name %s)",
			 json_string_value(json_object_get(e, "host")),
			 json_string_value(json_object_get(e, "cloud")),
			 json_string_value(json_object_get(e, "computer_name")) ?
			 json_string_value(json_object_get(e, "computer_name")) : "-");
		json_array_append_new(rows, json_pack("{s:s, s:O, s:s, s:s, s:s}", "Kind", "Placement",
			"Name", json_object_get(e, "vm"), "State", "Placed", "Health", "",
			"Detail", detail));
	}
	json_decref(clouds);
	json_decref(placements);
	return 0;
}

int cmd_status(struct hl_cmd_ctx *ctx)
{
	static const char *const cols[] = { "Kind", "Name", "State", "Health", "Detail", NULL };
	char work[PATH_MAX];
	json_t *j, *rows = json_array(), *e;
	size_t i;
	int code;

	up_dir(hl_opts_str(&ctx->opts, "workdir", NULL), work, sizeof(work));
	if (!rows)
		return hl_cmd_fail(HL_EXIT_FAILURE, "out of memory");
	if (!(j = lab_json(work))) {
		json_decref(rows);
		return hl_cmd_fail(HL_EXIT_FAILURE, "%s", hl_error_last());
	}
	json_array_foreach(json_object_get(j, "Hgs"), i, e) {
		json_t *nodes = json_object_get(e, "Nodes"), *ne;
		size_t k, up = 0, n_nodes = json_array_size(nodes);
		char detail[400];

		if (n_nodes < 2) {
			json_array_append_new(rows, json_pack("{s:s, s:s, s:s, s:s, s:s}", "Kind", "HGS", "Name",
				json_string_value(json_object_get(e, "Name")), "State",
				hl_proc_alive((pid_t)json_integer_value(json_object_get(e, "Pid"))) ? "Running" : "Stopped",
				"Health", "", "Detail", json_string_value(json_object_get(e, "Url"))));
			continue;
		}
		/* a cluster: the HGS runs while one node does; each node Up or Down */
		json_array_foreach(nodes, k, ne)
			up += lab_pid_owned(ne, HGS_PID_FILE) > 0;
		snprintf(detail, sizeof(detail), "%s (%zu of %zu nodes up)",
			 json_string_value(json_object_get(e, "Url")), up, n_nodes);
		json_array_append_new(rows, json_pack("{s:s, s:s, s:s, s:s, s:s}", "Kind", "HGS", "Name",
			json_string_value(json_object_get(e, "Name")), "State", up ? "Running" : "Stopped",
			"Health", "", "Detail", detail));
		json_array_foreach(nodes, k, ne) {
			char name[200];

			snprintf(name, sizeof(name), "%s/%s", json_string_value(json_object_get(e, "Name")),
				 json_string_value(json_object_get(ne, "Name")));
			json_array_append_new(rows, json_pack("{s:s, s:s, s:s, s:s, s:s}", "Kind", "HGS node",
				"Name", name, "State", lab_pid_owned(ne, HGS_PID_FILE) > 0 ? "Up" : "Down",
				"Health", "", "Detail", json_string_value(json_object_get(ne, "Address"))));
		}
	}
	if ((e = json_object_get(j, "Dc")))
		json_array_append_new(rows, json_pack("{s:s, s:s, s:s, s:s, s:s}", "Kind", "DC", "Name",
			"dc01", "State",
			hl_proc_alive((pid_t)json_integer_value(json_object_get(e, "Pid"))) ? "Running" : "Stopped",
			"Health", "", "Detail", json_string_value(json_object_get(e, "Url"))));
	if ((e = json_object_get(j, "Dashboard")))
		json_array_append_new(rows, json_pack("{s:s, s:s, s:s, s:s, s:s}", "Kind", "Dashboard",
			"Name", "dashboard", "State",
			lab_pid_owned(e, DASHBOARD_PID_FILE) > 0 ? "Running" : "Stopped",
			"Health", "", "Detail", json_string_value(json_object_get(e, "Url"))));
	json_array_foreach(json_object_get(j, "Hosts"), i, e) {
		struct host *h = NULL;
		struct host_state st;
		json_t *names = NULL, *name;
		const char *hname = json_string_value(json_object_get(e, "Name"));
		char health[600] = "Unknown";
		size_t k;

		memset(&st, 0, sizeof(st));
		if (host_open(json_string_value(json_object_get(e, "Dir")), &h) == 0 &&
		    host_state_load(h, &st) == 0) {
			snprintf(health, sizeof(health), "%s%s%s%s", host_state_status(&st, time(NULL)),
				 st.substatus[0] ? " (" : "", st.substatus, st.substatus[0] ? ")" : "");
			host_state_release(&st);
		}
		hl_error_clear();
		json_array_append_new(rows, json_pack("{s:s, s:s, s:s, s:s, s:s}", "Kind", "Host", "Name",
			hname, "State",
			hl_proc_alive((pid_t)json_integer_value(json_object_get(e, "Pid"))) ? "Running" : "Stopped",
			"Health", health, "Detail", json_string_value(json_object_get(e, "Dir"))));
		if (h && hosts_vm_list(h, &names) == 0)
			json_array_foreach(names, k, name) {
				json_t *cfg = NULL, *vs = NULL;
				const char *state = "Off";

				if (hosts_vm_load(h, json_string_value(name), &cfg, &vs) == 0 && vs)
					state = hosts_vm_keeper(h, json_string_value(name)) > 0 ? "Running" : "Off";
				hl_error_clear();
				json_array_append_new(rows, json_pack("{s:s, s:s, s:s, s:s, s:s}", "Kind", "VM",
					"Name", json_string_value(name), "State", state, "Health", "",
					"Detail", hname));
				json_decref(cfg);
				json_decref(vs);
			}
		hl_error_clear();
		json_decref(names);
		host_close(h);
	}
	if ((e = json_object_get(j, "Vmm")) && status_vmm(json_string_value(e), rows) < 0) {
		json_decref(rows);
		json_decref(j);
		return hl_cmd_fail(HL_EXIT_FAILURE, "%s", hl_error_last());
	}
	code = hl_out_rows(ctx, rows, cols, "nothing is up");
	json_decref(rows);
	json_decref(j);
	return code;
}
