/*
 * cmd_faults.c - `hgslab faults`: the fault matrix (sim/faults.h,
 * docs/faults.md).  Builds the cells (scenario x step x component), picks the
 * ones asked for, plays each on a lab of its own, and prints the matrix as a
 * table or JSON; progress goes to stderr.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "cmd/cmdutil.h"
#include "cmd/commands.h"
#include "cmd/output.h"
#include "lib/clock.h"
#include "lib/fileio.h"
#include "lib/json.h"
#include "sim/faults.h"
#include "sim/lab.h"
#include "sim/scenario.h"

/* The default matrix: the article's walkthrough, and the DC in the AD-mode walkthrough. */
static const struct {
	const char *file;
	unsigned comps;   /* bit per enum fault_comp */
} default_plan[] = {
	{ "article-walkthrough.yaml", (1u << FAULT_HGS) | (1u << FAULT_AGENT) | (1u << FAULT_HOST_SWTPM) |
				      (1u << FAULT_KEEPER) | (1u << FAULT_QEMU) | (1u << FAULT_VTPM) },
	{ "ad-mode.yaml", 1u << FAULT_DC },
};

const struct hl_opt cmd_faults_opts[] = {
	{ "scenario", 's', HL_OPT_LIST, "FILE", "a scenario to break (repeatable; default the article's "
	  "walkthrough, and ad-mode.yaml for the DC)", 0 },
	{ "component", 'c', HL_OPT_LIST, "NAME", "hgs, dc, agent, host-swtpm, keeper, qemu, vtpm, "
	  "hgs-node or hgs-two-nodes (repeatable; default all, the last two for a cluster of 3 "
	  "nodes or more)", 0 },
	{ "step", 0, HL_OPT_LIST, "N", "only step N (1-based; repeatable)", 0 },
	{ "sample", 0, HL_OPT_INT, "N", "only N cells, spread evenly over the matrix (deterministic)", 0 },
	{ "workdir", 'w', HL_OPT_STRING, "DIR", "make each cell's lab in DIR/SCENARIO-sN-COMPONENT "
	  "(default a new temp dir)", 0 },
	{ "keep", 0, HL_OPT_FLAG, NULL, "keep every lab directory (default: only failed cells')", 0 },
	{ "guest", 0, HL_OPT_STRING, "DIR", HL_GUEST_HELP, 0 },
	{ "plant", 0, HL_OPT_STRING, "WHAT", "prove the checks: plant a leftover temporary file, an "
	  "orphan process, a lost registration or a log answer HGS never logged (leftover, orphan, "
	  "lost, log) after each kill (each cell must then fail)", 0 },
	{ "list", 0, HL_OPT_FLAG, NULL, "only list the cells that would be played", 0 },
	HL_CMD_OPT_JSON,
	HL_CMD_OPT_END,
};

/* The scenarios to play and, per scenario, the components (bits). */
struct plan {
	struct scenario *s[16];
	unsigned comps[16];
	size_t n;
};

static void plan_free(struct plan *p)
{
	while (p->n)
		scenario_free(p->s[--p->n]);
}

/* Load FILE into P with components COMPS; an exit code. */
static int plan_add(struct plan *p, const char *file, unsigned comps)
{
	if (p->n == sizeof(p->s) / sizeof(p->s[0]))
		return hl_cmd_fail(HL_EXIT_USAGE, "at most %zu scenarios", p->n);
	if (scenario_load(file, &p->s[p->n]) < 0)
		return hl_cmd_fail(HL_EXIT_USAGE, "%s", hl_error_last());
	/* every component by default, the cluster's only for a cluster */
	if (!comps) {
		comps = (1u << FAULT_N_COMP) - 1;
		if (p->s[p->n]->hgs.nodes < FAULTS_CLUSTER_NODES)
			comps &= ~((1u << FAULT_HGS_NODE) | (1u << FAULT_HGS_TWO_NODES));
	}
	p->comps[p->n++] = comps;
	return HL_EXIT_OK;
}

/* The cells of P for STEPS (NULL: all) into *CELLS; an exit code. */
static int cells_make(const struct plan *p, const struct hl_optval *steps, struct fault_cell **cells,
		      size_t *n)
{
	size_t i, k, cap = 0;
	int st, c;

	*cells = NULL;
	*n = 0;
	for (i = 0; i < p->n; i++)
		cap += p->s[i]->n_steps * FAULT_N_COMP;
	if (!(*cells = calloc(cap ? cap : 1, sizeof(**cells))))
		return hl_cmd_fail(HL_EXIT_FAILURE, "out of memory");
	for (i = 0; i < p->n; i++)
		for (st = 1; st <= (int)p->s[i]->n_steps; st++) {
			int want = !steps || !steps->n;

			for (k = 0; steps && k < steps->n; k++)
				want |= atoi(steps->list[k]) == st;
			for (c = 0; want && c < FAULT_N_COMP; c++) {
				if (!(p->comps[i] & (1u << c)))
					continue;
				(*cells)[*n].s = p->s[i];
				(*cells)[*n].step = st;
				(*cells)[*n].comp = (enum fault_comp)c;
				(*n)++;
			}
		}
	return HL_EXIT_OK;
}

static const char *status_word(enum fault_status s)
{
	return s == FAULT_PASS ? "pass" : s == FAULT_NA ? "n/a" : "FAIL";
}

/* The matrix of scenario S as a table: steps down, components across. */
static void print_table(FILE *o, const struct scenario *s, const struct fault_cell *cells,
			const char *const *titles, size_t n)
{
	int c, st;
	size_t i;
	unsigned used = 0;

	for (i = 0; i < n; i++)
		if (cells[i].s == s)
			used |= 1u << cells[i].comp;
	if (!used)
		return;
	fprintf(o, "\n%s (%s)\n  %-44s", s->name, s->path, "step");
	for (c = 0; c < FAULT_N_COMP; c++)
		if (used & (1u << c))
			fprintf(o, " %-10s", fault_comp_name((enum fault_comp)c));
	fputc('\n', o);
	for (st = 1; st <= (int)s->n_steps; st++) {
		char title[64] = "";

		for (i = 0; i < n; i++)
			if (cells[i].s == s && cells[i].step == st && titles[i])
				snprintf(title, sizeof(title), "%s", titles[i]);
		fprintf(o, "  %2d %-41.41s", st, title[0] ? title : sc_step_name(s->steps[st - 1].kind));
		for (c = 0; c < FAULT_N_COMP; c++) {
			const char *w = "-";

			if (!(used & (1u << c)))
				continue;
			for (i = 0; i < n; i++)
				if (cells[i].s == s && cells[i].step == st && (int)cells[i].comp == c)
					w = titles[i] ? status_word(cells[i].status) : "-";
			fprintf(o, " %-10s", w);
		}
		fputc('\n', o);
	}
}

/* One cell as JSON. */
static json_t *cell_json(const struct fault_cell *c)
{
	return json_pack("{s:s, s:s, s:i, s:s?, s:s, s:s, s:s?, s:s?, s:s?, s:s?, s:s?, s:f}",
			 "Scenario", c->s->name, "File", c->s->path, "Step", c->step, "Title",
			 c->title, "Component", fault_comp_name(c->comp), "Status",
			 status_word(c->status), "Killed", c->killed, "Got", c->got, "Message",
			 c->message, "Note", c->note, "Lab", c->kept, "DurationSeconds", c->secs);
}

int cmd_faults(struct hl_cmd_ctx *ctx)
{
	const struct hl_optval *scen = hl_opts_get(&ctx->opts, "scenario");
	const struct hl_optval *comp = hl_opts_get(&ctx->opts, "component");
	const struct hl_optval *steps = hl_opts_get(&ctx->opts, "step");
	const char *workdir = hl_opts_str(&ctx->opts, "workdir", NULL);
	long sample = hl_opts_int(&ctx->opts, "sample", 0);
	struct fault_opts o = { hl_opts_str(&ctx->opts, "guest", NULL), hl_opts_flag(&ctx->opts, "keep"),
				FAULT_PLANT_NONE };
	struct plan p = { .n = 0 };
	struct fault_cell *cells = NULL;
	size_t n = 0, *pick = NULL, n_pick, i, k;
	char base[PATH_MAX], dir[PATH_MAX];
	const char **titles = NULL;
	unsigned comps = 0;
	int code = HL_EXIT_OK, made_base = 0, interrupted = 0;
	size_t played = 0, passed = 0, failed = 0, na = 0;
	double t0 = hl_clock_s();

	if (ctx->opts.argc)
		return hl_cmd_fail(HL_EXIT_USAGE, "unexpected argument '%s' (a scenario is given with "
				   "--scenario FILE)", ctx->opts.argv[0]);
	for (i = 0; comp && i < comp->n; i++) {
		int c = fault_comp_parse(comp->list[i]);

		if (c < 0)
			return hl_cmd_fail(HL_EXIT_USAGE, "%s", hl_error_last());
		comps |= 1u << c;
	}
	for (i = 0; steps && i < steps->n; i++) {
		char *end;
		long v = strtol(steps->list[i], &end, 10);

		if (*end || v < 1)
			return hl_cmd_fail(HL_EXIT_USAGE, "invalid --step '%s': give a step number (1 is "
					   "the first)", steps->list[i]);
	}
	if (sample < 0)
		return hl_cmd_fail(HL_EXIT_USAGE, "invalid --sample %ld: give a positive number", sample);
	if (hl_opts_str(&ctx->opts, "plant", NULL) &&
	    fault_plant_parse(hl_opts_str(&ctx->opts, "plant", NULL), &o.plant) < 0)
		return hl_cmd_fail(HL_EXIT_USAGE, "%s", hl_error_last());
	/* the plan */
	if (scen && scen->n) {
		for (i = 0; i < scen->n && code == HL_EXIT_OK; i++)
			code = plan_add(&p, scen->list[i], comps);
	} else {
		if (hl_cmd_scenario_dir(dir, sizeof(dir)) < 0)
			return hl_cmd_fail(HL_EXIT_FAILURE, "%s", hl_error_last());
		for (i = 0; i < sizeof(default_plan) / sizeof(default_plan[0]) && code == HL_EXIT_OK; i++) {
			char file[PATH_MAX + 64];
			unsigned want = default_plan[i].comps & (comps ? comps : ~0u);

			snprintf(file, sizeof(file), "%s/%s", dir, default_plan[i].file);
			if (want)
				code = plan_add(&p, file, want);
		}
	}
	if (code != HL_EXIT_OK)
		goto out;
	if ((code = cells_make(&p, steps, &cells, &n)) != HL_EXIT_OK)
		goto out;
	if (!n) {
		code = hl_cmd_fail(HL_EXIT_USAGE, "no cell to play: no scenario has that step and component");
		goto out;
	}
	if (!(pick = calloc(n, sizeof(*pick))) || !(titles = calloc(n, sizeof(*titles)))) {
		code = hl_cmd_fail(HL_EXIT_FAILURE, "out of memory");
		goto out;
	}
	n_pick = fault_sample(n, sample ? (size_t)sample : n, pick);
	if (hl_opts_flag(&ctx->opts, "list")) {
		for (i = 0; i < n_pick; i++)
			printf("%s step %d %s\n", cells[pick[i]].s->name, cells[pick[i]].step,
			       fault_comp_name(cells[pick[i]].comp));
		goto out;
	}
	/* the labs' parent */
	if (workdir) {
		snprintf(base, sizeof(base), "%s", workdir);
		if (mkdir(base, 0700) < 0 && errno != EEXIST) {
			code = hl_cmd_fail(HL_EXIT_FAILURE, "cannot create '%s': %s", base, strerror(errno));
			goto out;
		}
	} else {
		const char *tmp = getenv("TMPDIR");

		snprintf(base, sizeof(base), "%s/hgslab-faults-XXXXXX", tmp && *tmp ? tmp : "/tmp");
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
	fprintf(stderr, "hgslab faults: %zu cell%s of %zu in %s\n", n_pick, n_pick == 1 ? "" : "s", n, base);
	for (i = 0; i < n_pick && !interrupted; i++) {
		struct fault_cell *c = &cells[pick[i]];

		/* short: a VM's sockets live deep below it, and a socket path holds 107 bytes */
		snprintf(dir, sizeof(dir), "%s/%zu-s%d-%s", base, pick[i] + 1, c->step,
			 fault_comp_name(c->comp));
		hl_file_rmtree(dir);
		fprintf(stderr, "[%zu/%zu] %s step %d, kill %s ...\n", i + 1, n_pick, c->s->name, c->step,
			fault_comp_name(c->comp));
		interrupted = fault_cell_play(c, &o, dir) < 0;
		titles[pick[i]] = c->title ? c->title : sc_step_name(c->s->steps[c->step - 1].kind);
		if (interrupted) {
			c->status = FAULT_FAIL;
			free(c->message);
			c->message = strdup("interrupted");
		}
		if (c->status == FAULT_FAIL || o.keep)
			c->kept = strdup(dir);
		else
			hl_file_rmtree(dir);
		if (c->status == FAULT_NA) {
			na++;
		} else {
			played++;
			passed += c->status == FAULT_PASS;
			failed += c->status == FAULT_FAIL;
		}
		fprintf(stderr, "[%zu/%zu] %s step %d (%s), kill %s: %s%s%s%s%s (%.1f s)%s%s\n", i + 1,
			n_pick, c->s->name, c->step, titles[pick[i]], fault_comp_name(c->comp),
			status_word(c->status), c->killed ? ", killed " : "", c->killed ? c->killed : "",
			c->killed && c->got ? "; the step gave " : "", c->killed && c->got ? c->got : "", c->secs,
			c->message ? "\n    " : "", c->message ? c->message : "");
		if (c->note)
			fprintf(stderr, "    note: %s\n", c->note);
	}
	if (hl_opts_flag(&ctx->opts, "json")) {
		json_t *j = json_object(), *a = json_array();

		for (i = 0; i < n; i++)
			if (titles[i])
				json_array_append_new(a, cell_json(&cells[i]));
		json_object_set_new(j, "Cells", a);
		json_object_set_new(j, "Matrix", json_integer((json_int_t)n));
		json_object_set_new(j, "Played", json_integer((json_int_t)played));
		json_object_set_new(j, "Passed", json_integer((json_int_t)passed));
		json_object_set_new(j, "Failed", json_integer((json_int_t)failed));
		json_object_set_new(j, "NotApplicable", json_integer((json_int_t)na));
		json_object_set_new(j, "DurationSeconds", json_real(hl_clock_s() - t0));
		code = hl_out_json(j) < 0 ? HL_EXIT_FAILURE : HL_EXIT_OK;
		json_decref(j);
	} else {
		for (k = 0; k < p.n; k++)
			print_table(stdout, p.s[k], cells, titles, n);
		if (failed) {
			printf("\nfailed:\n");
			for (i = 0; i < n; i++)
				if (titles[i] && cells[i].status == FAULT_FAIL)
					printf("  %s step %d (%s), kill %s: %s%s%s\n", cells[i].s->name,
					       cells[i].step, titles[i], fault_comp_name(cells[i].comp),
					       cells[i].message ? cells[i].message : "failed",
					       cells[i].kept ? "; lab kept in " : "",
					       cells[i].kept ? cells[i].kept : "");
		}
		printf("\n%zu cell%s played: %zu passed, %zu failed; %zu n/a (the component does not run "
		       "at that step); %zu of the matrix's %zu cells; %.1f s\n", played,
		       played == 1 ? "" : "s", passed, failed, na, n_pick, n, hl_clock_s() - t0);
	}
	if (interrupted)
		code = HL_EXIT_INTERRUPTED;
	else if (code == HL_EXIT_OK && failed)
		code = hl_cmd_fail(HL_EXIT_EXPECTATION, "%zu of %zu cell%s failed", failed, played,
				   played == 1 ? "" : "s");
out:
	if (made_base)
		rmdir(base);  /* only when empty: kept labs stay */
	for (i = 0; cells && i < n; i++)
		fault_cell_clear(&cells[i]);
	free(cells);
	free(pick);
	free(titles);
	plan_free(&p);
	return code;
}
