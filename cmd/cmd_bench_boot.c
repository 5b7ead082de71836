/*
 * cmd_bench_boot.c - `hgslab bench boot`: the boot time of a shielded VM
 * against the same guest started without shielding, in the same run.
 *
 * In a throw-away lab (a temporary directory): a tenant with an owner
 * guardian and a key protector for it alone, a VM made with new-vm and
 * shielded once with shield-vm (tenant/vm.h: vTPM state encrypted with the
 * TK, the provisioning boot, a LUKS2 disk), and a second VM with the same
 * files left plain.  Then N pairs of boots with the VM launcher
 * (vm/launch.h), interleaved so that the machine's load falls on both alike:
 *
 *   plain      hgslab.mode=plain, the plain ext4 disk, no vTPM, no swtpm
 *   shielded   hgslab.mode=run, swtpm on the encrypted vTPM state with the
 *              TK through a pipe (fd 3), the LUKS2 disk: unseal, cryptsetup
 *              open, mount, workload
 *
 * Each boot is timed from the launch (vm_launch_elapsed: swtpm's start, for a
 * shielded boot, then QEMU's) to the guest's "running" report; QEMU is then
 * stopped.  The figure is the median of the pairs' ratios: the two boots of a
 * pair run back to back, so a load that other jobs put on the machine falls
 * on both, and the order inside a pair alternates (plain first, then
 * shielded first) so that a load that grows or fades does not favour one
 * kind.  The medians of each kind are reported beside it.  The
 * shielded starts skip KPS: the TK is the one the lab's owner made with the
 * KP (what the owner unwraps), since the benchmark measures boot cost, not
 * key release (`bench release` measures that).  The report gives the medians
 * and the ratio shielded / plain against the goal (1.2).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "lib/child.h"
#include "lib/clock.h"
#include "lib/crypto.h"
#include "lib/fileio.h"
#include "proto/keyprotector.h"
#include "sim/bench.h"
#include "cmd/commands.h"
#include "tenant/guardian.h"
#include "tenant/vm.h"
#include "vm/launch.h"

#define BOOT_RUNS_DEFAULT 5
#define BOOT_RUNS_MAX 50
/* The goal of issue #5: a shielded boot at most 1.2 times the plain one. */
#define BOOT_GOAL_RATIO 1.2
/* Bound on one boot to the guest's "running" report, seconds. */
#define BOOT_WAIT_S 180
#define BOOT_PATH_MAX 512
/* The lab directory's path leaves room for the sockets inside it (108 bytes). */
#define BOOT_DIR_MAX 60
#define BOOT_VM "bench"
#define BOOT_VM_PLAIN "bench-plain"

#define OPT_END { NULL, 0, 0, NULL, NULL, 0 }

const struct hl_opt cmd_bench_boot_opts[] = {
	{ "runs", 'n', HL_OPT_INT, "N", "boots of each kind, 1-50 (default 5)", 0 },
	{ "workdir", 0, HL_OPT_STRING, "DIR",
	  "make the lab's temporary directory inside DIR (default $TMPDIR or /tmp)", 0 },
	{ "keep", 0, HL_OPT_FLAG, NULL, "keep the lab directory (tenant, VMs, logs, every boot's "
	  "console-N.log in rp/ and rs/) and print where it is", 0 },
	{ "json", 0, HL_OPT_FLAG, NULL, "print the results as JSON (progress stays on stderr)", 0 },
	OPT_END,
};

/* The two kinds of boot. */
enum { BOOT_PLAIN, BOOT_SHIELDED, BOOT_N };

/* What one run measured; figures are valid once done is set. */
struct boot_result {
	long runs;
	const char *accel;
	double setup_s;
	struct hl_bench_samples wall[BOOT_N];    /* QEMU start to "running", ns */
	struct hl_bench_samples guest[BOOT_N];   /* the guest's uptime_ms at "running", ns */
	struct hl_bench_samples pair;            /* each pair's shielded / plain wall ratio, x 1e6 */
	int done;
};

/* The throw-away lab; dir is "" until it exists. */
struct boot_lab {
	char dir[BOOT_PATH_MAX];
	char tenant[BOOT_PATH_MAX];
	char kp[BOOT_PATH_MAX];
	char run[BOOT_N][BOOT_PATH_MAX];
	char disk[BOOT_N][BOOT_PATH_MAX];
	char vtpm[BOOT_PATH_MAX];
	char *guest;
	struct hl_buf tk;
};

/* each kind's name in the progress and the human report, and its key in the JSON report */
static const char *const boot_names[BOOT_N] = { "plain", "shielded" };
static const char *const boot_keys[BOOT_N] = { "Plain", "Shielded" };

/* Make the lab's directory inside WORKDIR (or $TMPDIR, /tmp) and name its parts. */
static int lab_mkdir(struct boot_lab *lab, const char *workdir)
{
	if (bench_lab_mkdtemp(lab->dir, sizeof(lab->dir), workdir, "hgslab-bench-boot",
			      BOOT_DIR_MAX, "the VMs' sockets") < 0 ||
	    bench_path_fmt(lab->tenant, sizeof(lab->tenant), "%s/tenant", lab->dir) < 0 ||
	    bench_path_fmt(lab->kp, sizeof(lab->kp), "%s/vm.kp", lab->dir) < 0 ||
	    bench_path_fmt(lab->run[BOOT_PLAIN], BOOT_PATH_MAX, "%s/rp", lab->dir) < 0 ||
	    bench_path_fmt(lab->run[BOOT_SHIELDED], BOOT_PATH_MAX, "%s/rs", lab->dir) < 0 ||
	    bench_path_fmt(lab->disk[BOOT_PLAIN], BOOT_PATH_MAX, "%s/vms/%s/plain.img", lab->tenant,
		     BOOT_VM_PLAIN) < 0 ||
	    bench_path_fmt(lab->disk[BOOT_SHIELDED], BOOT_PATH_MAX, "%s/vms/%s/shielded/disk.img",
		     lab->tenant, BOOT_VM) < 0 ||
	    bench_path_fmt(lab->vtpm, sizeof(lab->vtpm), "%s/vms/%s/shielded/vtpm", lab->tenant,
		     BOOT_VM) < 0 ||
	    hl_file_mkdirs(lab->run[BOOT_PLAIN], 0700) < 0 ||
	    hl_file_mkdirs(lab->run[BOOT_SHIELDED], 0700) < 0)
		return -1;
	return 0;
}

/* The tenant: guardian Owner, a KP for it alone (its TK kept in LAB), the two VMs, one shielded. */
static int lab_setup(struct boot_lab *lab)
{
	static const struct hl_vm_file files[] = { { "secret.txt", "hgslab bench boot" } };
	struct hl_vm_shield_opts so = { 0 };
	struct hl_guardian *owner = NULL;
	struct hl_kp_owner ko;
	struct hl_buf kp = { NULL, 0 };
	int rc = -1;

	if (hl_guardian_new(lab->tenant, "Owner") < 0 ||
	    hl_guardian_load(lab->tenant, "Owner", HL_GUARDIAN_LOAD_KEYS, &owner) < 0)
		goto out;
	hl_guardian_as_owner(owner, &ko);
	if (hl_kp_create(&ko, NULL, 0, 0, &kp, &lab->tk) < 0 ||
	    hl_file_write(lab->kp, kp.data, kp.len, 0600) < 0)
		goto out;
	if (hl_vm_new(lab->tenant, BOOT_VM, HL_VM_DISK_DEFAULT, files, 1, NULL) < 0 ||
	    hl_vm_new(lab->tenant, BOOT_VM_PLAIN, HL_VM_DISK_DEFAULT, files, 1, NULL) < 0)
		goto out;
	hl_bench_progress("shielding the VM (the provisioning boot, QEMU TCG)...");
	so.guest_dir = lab->guest;
	if (hl_vm_shield(lab->tenant, BOOT_VM, lab->kp, "shielded", &so) != 0) {
		hl_error("cannot shield the benchmark's VM: %s", hl_error_last());
		goto out;
	}
	rc = 0;
out:
	hl_buf_free(&kp);
	hl_guardian_free(owner);
	return rc;
}

/*
 * Boot KIND once (pair IDX): launch, wait for "running", record the times
 * into R and *WALL_OUT, stop QEMU.  KEEP: the guest's console is kept as the
 * run dir's console-IDX.log (the agent's lines carry the guest's uptime).
 */
static int boot_once(struct boot_lab *lab, int kind, long idx, int keep, struct boot_result *r,
		     double *wall_out)
{
	struct vm_launch l = { 0 };
	json_t *ev = NULL;
	double wall;
	int rc = -1;

	l.guest_dir = lab->guest;
	l.run_dir = lab->run[kind];
	l.disk = lab->disk[kind];
	l.accel = r->accel;
	l.console = keep ? 1 : 0;
	/* diagnostics: e.g. HGSLAB_GUEST_APPEND=hgslab.debug with --keep (guest/README.md) */
	l.append = getenv("HGSLAB_GUEST_APPEND");
	if (kind == BOOT_SHIELDED) {
		l.mode = "run";
		l.vtpm_dir = lab->vtpm;
		l.tk = &lab->tk;
	} else {
		l.mode = "plain";
	}
	if (bench_boot_once(&l, BOOT_WAIT_S, boot_names[kind], idx, keep, &wall, &ev) < 0)
		return -1;
	*wall_out = wall;
	if (hl_bench_samples_add(&r->wall[kind], (uint64_t)(wall * 1e9)) < 0 ||
	    hl_bench_samples_add(&r->guest[kind], (uint64_t)json_integer_value(
		    json_object_get(ev, "uptime_ms")) * 1000000u) < 0)
		goto out;
	hl_bench_progress("%s boot: running after %.2f s (guest uptime %.2f s)", boot_names[kind],
			  wall, (double)json_integer_value(json_object_get(ev, "uptime_ms")) / 1e3);
	rc = 0;
out:
	json_decref(ev);
	return rc;
}

/* Build the lab, boot plain and shielded RUNS times each (interleaved) into R; remove the lab. */
static int boot_run(long runs, const char *workdir, int keep, struct boot_result *r)
{
	struct boot_lab lab;
	uint64_t t0 = hl_clock_ns();
	int rc = -1;

	memset(&lab, 0, sizeof(lab));
	memset(r, 0, sizeof(*r));
	r->runs = runs;
	if (!(lab.guest = vm_launch_guest_dir(NULL))) {
		hl_error("out of memory");
		goto out;
	}
	if (lab_mkdir(&lab, workdir) < 0)
		goto out;
	hl_bench_progress("lab in %s; guest from %s", lab.dir, lab.guest);
	r->accel = vm_launch_accel_auto();
	if (lab_setup(&lab) < 0)
		goto out;
	r->setup_s = (double)(hl_clock_ns() - t0) / 1e9;
	hl_bench_progress("lab ready in %.1f s (accel %s); %ld boots of each kind, interleaved",
			  r->setup_s, r->accel, runs);
	for (long i = 0; i < runs; i++) {
		double wall[BOOT_N] = { 0, 0 };
		int first = i % 2 ? BOOT_SHIELDED : BOOT_PLAIN;

		if (boot_once(&lab, first, i, keep, r, &wall[first]) < 0 ||
		    boot_once(&lab, !first, i, keep, r, &wall[!first]) < 0)
			goto out;
		if (wall[BOOT_PLAIN] > 0 &&
		    hl_bench_samples_add(&r->pair, (uint64_t)(wall[BOOT_SHIELDED] /
							      wall[BOOT_PLAIN] * 1e6)) < 0)
			goto out;
	}
	r->done = 1;
	rc = 0;
out:
	hl_buf_free(&lab.tk);
	if (lab.dir[0]) {
		if (keep)
			hl_bench_progress("the lab is kept in %s", lab.dir);
		else
			hl_file_rmtree(lab.dir);
	}
	free(lab.guest);
	return rc;
}

/* Median of KIND's SAMPLES in seconds. */
static double median_s(struct hl_bench_samples *samples, int kind)
{
	return (double)hl_bench_samples_percentile(&samples[kind], 50) / 1e9;
}

/* The median of the pairs' shielded / plain ratios; 0 when not measured. */
static double ratio(struct boot_result *r)
{
	return r->done ? (double)hl_bench_samples_percentile(&r->pair, 50) / 1e6 : 0;
}

/* The ratio of the shielded median to the plain one; 0 when not measured. */
static double ratio_of_medians(struct boot_result *r)
{
	double plain = median_s(r->wall, BOOT_PLAIN);

	return r->done && plain > 0 ? median_s(r->wall, BOOT_SHIELDED) / plain : 0;
}

/* Print R's human report on stdout. */
static void boot_print(struct boot_result *r)
{
	double rt = ratio(r);

	printf("hgslab bench boot: the same guest booted %ld times unshielded and %ld times "
	       "shielded (interleaved), QEMU %s\n\n", r->runs, r->runs, r->accel ? r->accel : "?");
	if (!r->done) {
		printf("  no figures: the run stopped before every boot was done\n");
		return;
	}
	for (int k = 0; k < BOOT_N; k++) {
		char label[64];

		snprintf(label, sizeof(label), "%s boot (median)", boot_names[k]);
		hl_bench_row(stdout, label, "%.2f s to the guest's report (guest uptime %.2f s; "
			     "min %.2f s, max %.2f s)", median_s(r->wall, k), median_s(r->guest, k),
			     (double)hl_bench_samples_percentile(&r->wall[k], 0.001) / 1e9,
			     (double)hl_bench_samples_percentile(&r->wall[k], 100) / 1e9);
	}
	hl_bench_row(stdout, "shielded / plain", "%.2fx (median of the %ld pairs' ratios, %.2fx-%.2fx; "
		     "ratio of the medians %.2fx)", rt, r->runs,
		     (double)hl_bench_samples_percentile(&r->pair, 0.001) / 1e6,
		     (double)hl_bench_samples_percentile(&r->pair, 100) / 1e6, ratio_of_medians(r));
	hl_bench_row(stdout, "goal", "at most %.1fx: %s", BOOT_GOAL_RATIO,
		     rt > 0 && rt <= BOOT_GOAL_RATIO ? "met" : "NOT met");
}

/* Samples of S in seconds as a JSON array (NULL when out of memory). */
static json_t *samples_json(const struct hl_bench_samples *s)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < s->n; i++)
		json_array_append_new(a, hl_bench_json_real((double)s->v[i] / 1e9, 3));
	return a;
}

/* R as a JSON object; ERROR (may be NULL) says why the run failed. */
static json_t *boot_json(struct boot_result *r, const char *error)
{
	json_t *o = json_object(), *v, *samples[BOOT_N], *pairs = json_array();
	double rt;

	/* the samples in boot order first: percentile queries sort them */
	for (int k = 0; k < BOOT_N; k++)
		samples[k] = samples_json(&r->wall[k]);
	for (size_t i = 0; pairs && i < r->pair.n; i++)
		json_array_append_new(pairs, hl_bench_json_real((double)r->pair.v[i] / 1e6, 3));
	rt = ratio(r);
	if (!o || !samples[BOOT_PLAIN] || !samples[BOOT_SHIELDED] || !pairs) {
		json_decref(o);
		json_decref(samples[BOOT_PLAIN]);
		json_decref(samples[BOOT_SHIELDED]);
		json_decref(pairs);
		return NULL;
	}
	json_object_set_new(o, "Benchmark", json_string("boot"));
	json_object_set_new(o, "Ok", json_boolean(r->done));
	json_object_set_new(o, "Error", error ? json_string(error) : json_null());
	json_object_set_new(o, "Runs", json_integer(r->runs));
	json_object_set_new(o, "Accelerator", r->accel ? json_string(r->accel) : json_null());
	if (r->done) {
		json_object_set_new(o, "SetupSeconds", hl_bench_json_real(r->setup_s, 2));
		for (int k = 0; k < BOOT_N; k++) {
			v = json_pack("{s:o, s:o, s:O}", "MedianSeconds", hl_bench_json_real(
					      median_s(r->wall, k), 3), "GuestUptimeMedianSeconds",
				      hl_bench_json_real(median_s(r->guest, k), 3), "SamplesSeconds",
				      samples[k]);
			json_object_set_new(o, boot_keys[k], v ? v : json_null());
		}
		json_object_set_new(o, "Ratio", rt > 0 ? hl_bench_json_real(rt, 2) : json_null());
		json_object_set_new(o, "PairRatios", json_incref(pairs));
		json_object_set_new(o, "RatioOfMedians",
				    hl_bench_json_real(ratio_of_medians(r), 2));
	}
	json_decref(pairs);
	json_decref(samples[BOOT_PLAIN]);
	json_decref(samples[BOOT_SHIELDED]);
	json_object_set_new(o, "GoalRatio", hl_bench_json_real(BOOT_GOAL_RATIO, 1));
	json_object_set_new(o, "GoalMet", json_boolean(rt > 0 && rt <= BOOT_GOAL_RATIO));
	return o;
}

/* Run, print the report (human, JSON, or into COLLECT); 0 when it ran, -1 (error set) when not. */
static int boot_report(long runs, const char *workdir, int keep, int json, json_t *collect)
{
	struct boot_result r;
	int rc;

	rc = boot_run(runs, workdir, keep, &r);
	if ((json || collect) &&
	    bench_emit_json(boot_json(&r, rc < 0 ? hl_error_last() : NULL), collect) < 0) {
		rc = -1;
		goto out;
	}
	if (!json)
		boot_print(&r);
out:
	for (int k = 0; k < BOOT_N; k++) {
		hl_bench_samples_release(&r.wall[k]);
		hl_bench_samples_release(&r.guest[k]);
	}
	hl_bench_samples_release(&r.pair);
	return rc;
}

int cmd_bench_vm(struct hl_cmd_ctx *ctx, const char *name, long runs_default, long runs_max,
		 cmd_bench_vm_report_fn report)
{
	long runs = hl_opts_int(&ctx->opts, "runs", runs_default);

	if (runs < 1 || runs > runs_max)
		return hl_cmd_fail(HL_EXIT_USAGE, "--runs must be 1 to %ld, not %ld", runs_max, runs);
	if (hl_child_cleanup_install(-1) < 0)
		return hl_cmd_fail(HL_EXIT_FAILURE, "%s", hl_error_last());
	if (report(runs, hl_opts_str(&ctx->opts, "workdir", NULL), hl_opts_flag(&ctx->opts, "keep"),
		   hl_opts_flag(&ctx->opts, "json"), NULL) < 0)
		return hl_cmd_fail(HL_EXIT_FAILURE, "bench %s: %s", name, hl_error_last());
	return HL_EXIT_OK;
}

/* `hgslab bench boot`. */
int cmd_bench_boot(struct hl_cmd_ctx *ctx)
{
	return cmd_bench_vm(ctx, "boot", BOOT_RUNS_DEFAULT, BOOT_RUNS_MAX, boot_report);
}

/* `bench boot` with the default runs, for `bench all`. */
int cmd_bench_boot_default(const char *workdir, int keep, int json, struct json_t *collect)
{
	if (hl_child_cleanup_install(-1) < 0)
		return -1;
	return boot_report(BOOT_RUNS_DEFAULT, workdir, keep, json, collect);
}
