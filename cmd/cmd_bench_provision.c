/*
 * cmd_bench_provision.c - `hgslab bench provision`: a signed template disk
 * and the tenant's .pdk to a running shielded VM (Initialize-ShieldedVM then
 * the start), against a plain boot of the same guest, in the same run.
 *
 * In a throw-away lab (a temporary directory): a tenant with an owner
 * guardian and a template signer, a generalized template disk (16 MiB, the
 * default, with @ComputerName@ in /etc/hostname) whose plain image is kept
 * for the plain boots, then signed; a volume ID qualifier for it, a .pdk for
 * the owner with an answer file, a .fsk; and a guarded host directory (its
 * TPM manufactured, as `host new` does).  Then N pairs, interleaved as
 * `bench boot` does (plain first in even pairs, provisioning first in odd
 * ones), so that the machine's load falls on both alike:
 *
 *   plain       hgslab.mode=plain on the template's plain image: the guest
 *               kernel and agent, no vTPM, no LUKS
 *   provision   what `host new-shielded-vm --start` does after the key
 *               release, through the same hosts/ calls: the host's check of
 *               the template and the .pdk (hosts_provision_check), then the
 *               VM keeper's one boot (hosts_vm_provision_start): the guest
 *               verifies the template, copies it into a fresh LUKS2 volume,
 *               specializes it and seals its key (the VM is installed at
 *               its "provisioned" report), then goes on into run mode to
 *               its "running" report
 *
 * The key release is left out: the TK is the one the owner unwraps from the
 * .pdk's key protector, as `bench boot` does (`bench release` measures KPS).
 * The figure is the median of the pairs' ratios (template + .pdk to running)
 * / (plain boot), against the goal 2.5; the report also gives the medians of
 * the host's check, the boot to "provisioned" and from there to "running".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cmd/commands.h"
#include "hosts/host.h"
#include "hosts/manufacture.h"
#include "hosts/provision.h"
#include "hosts/vm.h"
#include "lib/child.h"
#include "lib/clock.h"
#include "lib/crypto.h"
#include "lib/fileio.h"
#include "proto/keyprotector.h"
#include "proto/vsc_viq.h"
#include "sim/bench.h"
#include "tenant/guardian.h"
#include "tenant/shielding.h"
#include "tenant/template.h"
#include "vm/launch.h"

#define PROV_RUNS_DEFAULT 3
#define PROV_RUNS_MAX 20
/* The goal of issue #11: template + .pdk to a running VM at most 2.5 times a plain boot. */
#define PROV_GOAL_RATIO 2.5
/* Bound on each boot, seconds. */
#define PROV_WAIT_S 180
#define PROV_PATH_MAX 512
/* The lab directory's path leaves room for the sockets of the host's VMs inside it. */
#define PROV_DIR_MAX 60

const struct hl_opt cmd_bench_provision_opts[] = {
	{ "runs", 'n', HL_OPT_INT, "N", "pairs of boots, 1-20 (default 3)", 0 },
	{ "workdir", 0, HL_OPT_STRING, "DIR",
	  "make the lab's temporary directory inside DIR (default $TMPDIR or /tmp)", 0 },
	{ "keep", 0, HL_OPT_FLAG, NULL, "keep the lab directory and print where it is", 0 },
	{ "json", 0, HL_OPT_FLAG, NULL, "print the results as JSON (progress stays on stderr)", 0 },
	{ NULL, 0, 0, NULL, NULL, 0 },
};

/* What is timed: the plain boot, the parts of a provisioning, and its whole. */
enum { T_PLAIN, T_CHECK, T_SPECIALIZE, T_START, T_TOTAL, T_N };

/* each one's key in the JSON report */
static const char *const t_names[T_N] = { "Plain", "Check", "Specialize", "Start", "Total" };

/* What one run measured; figures are valid once done is set. */
struct prov_result {
	long runs;
	const char *accel;
	double setup_s;
	struct hl_bench_samples t[T_N];          /* seconds x 1e9 */
	struct hl_bench_samples pair;            /* each pair's total / plain, x 1e6 */
	int done;
};

/* The throw-away lab; dir is "" until it exists. */
struct prov_lab {
	char dir[PROV_PATH_MAX];
	char tenant[PROV_PATH_MAX];
	char tdisk[PROV_PATH_MAX];              /* the signed template */
	char plain[PROV_PATH_MAX];              /* its image, unsigned: the plain boots' disk */
	char viq[PROV_PATH_MAX];
	char pdk[PROV_PATH_MAX];
	char fsk[PROV_PATH_MAX];
	char answer[PROV_PATH_MAX];
	char hostdir[PROV_PATH_MAX];
	char run[PROV_PATH_MAX];                 /* the plain boots' run folder */
	char *guest;
	struct host *host;
	struct hl_buf tk;
};

/* Name the lab's parts in a new directory inside WORKDIR (or $TMPDIR, /tmp). */
static int lab_mkdir(struct prov_lab *lab, const char *workdir)
{
	if (bench_lab_mkdtemp(lab->dir, sizeof(lab->dir), workdir, "hgslab-bench-prov",
			      PROV_DIR_MAX, "the VMs' sockets") < 0 ||
	    bench_path_fmt(lab->tenant, PROV_PATH_MAX, "%s/tenant", lab->dir) < 0 ||
	    bench_path_fmt(lab->tdisk, PROV_PATH_MAX, "%s/t.tdisk", lab->dir) < 0 ||
	    bench_path_fmt(lab->plain, PROV_PATH_MAX, "%s/plain.img", lab->dir) < 0 ||
	    bench_path_fmt(lab->viq, PROV_PATH_MAX, "%s/t.viq", lab->dir) < 0 ||
	    bench_path_fmt(lab->pdk, PROV_PATH_MAX, "%s/b.pdk", lab->dir) < 0 ||
	    bench_path_fmt(lab->fsk, PROV_PATH_MAX, "%s/b.fsk", lab->dir) < 0 ||
	    bench_path_fmt(lab->answer, PROV_PATH_MAX, "%s/unattend.txt", lab->dir) < 0 ||
	    bench_path_fmt(lab->hostdir, PROV_PATH_MAX, "%s/h", lab->dir) < 0 ||
	    bench_path_fmt(lab->run, PROV_PATH_MAX, "%s/rp", lab->dir) < 0 ||
	    hl_file_mkdirs(lab->run, 0700) < 0)
		return -1;
	return 0;
}

/* The template disk, signed, its plain image, the qualifier, the .pdk, the .fsk and the TK. */
static int tenant_setup(struct prov_lab *lab)
{
	static const struct hl_vm_file files[] = {
		{ "etc/hostname", "@ComputerName@\n" },
		{ "srv/index.html", "hgslab bench provision\n" },
	};
	static const char answer[] = "AdminPassword=bench\nComputerName=@ComputerName@\n";
	static const struct hl_fsk_value values[] = { { "@ComputerName@", "Bench01" } };
	const char *viqs[] = { lab->viq };
	struct hl_template_protect tp = { 0 };
	struct hl_shielding_args sa = { 0 };
	struct hl_guardian *owner = NULL;
	struct hl_vsc *vsc = NULL;
	struct hl_pdk *pdk = NULL;
	struct hl_viq q;
	struct hl_buf b = { NULL, 0 };
	X509 *cert = NULL;
	EVP_PKEY *key = NULL;
	size_t n;
	int rc = -1;

	if (hl_guardian_new(lab->tenant, "Owner") < 0 ||
	    hl_template_signer_new(lab->tenant, "Bench", HL_KEY_RSA2048) < 0 ||
	    hl_template_signer_load(lab->tenant, "Bench", &cert, &key) < 0 ||
	    hl_template_new(lab->plain, HL_VM_DISK_DEFAULT, files, 2, NULL, 0, &n) != 0 ||
	    hl_template_new(lab->tdisk, HL_VM_DISK_DEFAULT, files, 2, NULL, 0, &n) != 0)
		goto out;
	tp.disk = lab->tdisk;
	tp.name = "BenchTemplate";
	tp.version = "1.0.0.0";
	tp.cert = cert;
	tp.key = key;
	tp.signed_at = time(NULL);
	if (hl_template_protect(&tp, &vsc) != 0 || hl_viq_from_vsc(vsc, HL_VIQ_EQUALS, &q) < 0 ||
	    hl_viq_write(&q, &b) < 0 || hl_file_write(lab->viq, b.data, b.len, 0644) < 0 ||
	    hl_file_write_private(lab->answer, answer, strlen(answer)) < 0)
		goto out;
	hl_buf_free(&b);
	sa.dir = lab->tenant;
	sa.owner = "Owner";
	sa.qualifier_files = viqs;
	sa.n_qualifiers = 1;
	sa.answer_file = lab->answer;
	sa.policy = "shielded";
	sa.out = lab->pdk;
	sa.created = time(NULL);
	if (hl_shielding_new(&sa, &pdk) != 0 || hl_fsk_make(values, 1, &b) < 0 ||
	    hl_file_write(lab->fsk, b.data, b.len, 0644) < 0)
		goto out;
	/* the TK as the owner unwraps it from the .pdk's key protector (no KPS: see above) */
	if (hl_guardian_load(lab->tenant, "Owner", HL_GUARDIAN_LOAD_KEYS, &owner) < 0 ||
	    hl_kp_unwrap_entry(&pdk->kp->entries[0], owner->encryption_key, &lab->tk) < 0)
		goto out;
	rc = 0;
out:
	if (rc < 0)
		hl_error_wrap("cannot make the benchmark's template and shielding data");
	hl_buf_free(&b);
	hl_guardian_free(owner);
	hl_pdk_free(pdk);
	hl_vsc_free(vsc);
	hl_cert_free(cert);
	hl_key_free(key);
	return rc;
}

/* The guarded host: its directory made as `host new` makes it (the lab's vendor CA, the TPM). */
static int host_setup(struct prov_lab *lab)
{
	struct host_new_params hp = { 0 };
	char vendor[PROV_PATH_MAX];

	if (bench_path_fmt(vendor, sizeof(vendor), "%s/tpm-vendor", lab->dir) < 0 ||
	    hosts_vendor_ca_init(vendor) < 0)
		return -1;
	hp.dir = lab->hostdir;
	hp.name = "BenchHost";
	hp.domain = "fabrikam.com";
	hp.vendor_dir = vendor;
	if (host_create(&hp) < 0 || host_open(lab->hostdir, &lab->host) < 0)
		return hl_error_wrap("cannot make the benchmark's guarded host");
	return 0;
}

/* Record SECONDS as a sample of T into R. */
static int sample(struct prov_result *r, int t, double seconds)
{
	return hl_bench_samples_add(&r->t[t], (uint64_t)(seconds * 1e9));
}

/* One plain boot (pair IDX) into R and *WALL. */
static int plain_once(struct prov_lab *lab, long idx, int keep, struct prov_result *r,
		      double *wall)
{
	struct vm_launch l = { 0 };

	l.guest_dir = lab->guest;
	l.run_dir = lab->run;
	l.disk = lab->plain;
	l.accel = r->accel;
	l.console = keep ? 1 : 0;
	l.mode = "plain";
	if (bench_boot_once(&l, PROV_WAIT_S, "plain", idx, keep, wall, NULL) < 0 ||
	    sample(r, T_PLAIN, *wall) < 0)
		return -1;
	hl_bench_progress("plain boot: running after %.2f s", *wall);
	return 0;
}

/*
 * One provisioning (pair IDX): VM pIDX from the template and the .pdk to its
 * "running" report, into R and *WALL; then the VM is stopped and removed.
 */
static int provision_once(struct prov_lab *lab, long idx, struct prov_result *r, double *wall)
{
	struct hosts_provision_input in;
	struct hosts_vm_start so = { 0 };
	struct hosts_provision *p = NULL;
	json_t *ev = NULL, *run = NULL, *cfg = NULL, *state = NULL;
	char name[32], *vmdir = NULL;
	double t0 = hl_clock_s(), t1, t2, t3, prov_s = 0;
	int rc = -1;

	memset(&in, 0, sizeof(in));
	snprintf(name, sizeof(name), "p%ld", idx);
	if (hosts_provision_begin(lab->host, name, &p) < 0 ||
	    hosts_provision_check(lab->tdisk, lab->pdk, lab->fsk, &in) < 0)
		goto out;
	t1 = hl_clock_s();
	so.guest_dir = lab->guest;
	so.accel = r->accel;
	so.wait_s = PROV_WAIT_S;
	so.keeper = cmd_host_keeper;
	so.template_path = in.template_path;
	so.pdk_path = lab->pdk;
	so.fsk_path = lab->fsk;
	if (hosts_provision_phase(p, HOSTS_PROVISION_RELEASING_KEY) < 0 ||
	    hosts_vm_provision_start(lab->host, name, &lab->tk, &so, &prov_s, &ev, &run) < 0)
		goto out;
	t3 = hl_clock_s();
	t2 = t1 + prov_s;
	*wall = t3 - t0;
	if (sample(r, T_CHECK, t1 - t0) < 0 || sample(r, T_SPECIALIZE, t2 - t1) < 0 ||
	    sample(r, T_START, t3 - t2) < 0 || sample(r, T_TOTAL, *wall) < 0)
		goto out;
	hl_bench_progress("template + .pdk to running: %.2f s (check %.2f s, to provisioned %.2f s, "
			  "then to running %.2f s; computer name %s)", *wall, t1 - t0, t2 - t1, t3 - t2,
			  json_string_value(json_object_get(run, "computer_name")) ?
			  json_string_value(json_object_get(run, "computer_name")) : "?");
	rc = 0;
out:
	if (rc < 0)
		hl_error_wrap("provisioning %s failed", name);
	hosts_provision_input_release(&in);
	hosts_provision_end(p);
	json_decref(ev);
	json_decref(run);
	/* the next pair starts from a clean host: the VM's keeper (our child) stops QEMU and
	   swtpm on SIGTERM; then the VM is removed */
	if (hosts_vm_load(lab->host, name, &cfg, &state) == 0 && state) {
		pid_t keeper = (pid_t)json_integer_value(json_object_get(state, "keeper_pid"));

		hl_proc_stop(&keeper, 1, 5000);
	}
	if (hosts_vm_dir(lab->host, name, &vmdir) == 0)
		hl_file_rmtree(vmdir);
	json_decref(cfg);
	json_decref(state);
	free(vmdir);
	if (rc == 0)
		hl_error_clear();
	return rc;
}

/* Build the lab, run RUNS pairs (interleaved) into R; remove the lab. */
static int prov_run(long runs, const char *workdir, int keep, struct prov_result *r)
{
	struct prov_lab lab;
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
	if (tenant_setup(&lab) < 0 || host_setup(&lab) < 0)
		goto out;
	r->setup_s = (double)(hl_clock_ns() - t0) / 1e9;
	hl_bench_progress("lab ready in %.1f s (accel %s); %ld pairs: a plain boot and template + "
			  ".pdk to a running VM, interleaved", r->setup_s, r->accel, runs);
	for (long i = 0; i < runs; i++) {
		double plain = 0, total = 0;

		if (i % 2 == 0 ? plain_once(&lab, i, keep, r, &plain) < 0 ||
				 provision_once(&lab, i, r, &total) < 0
			       : provision_once(&lab, i, r, &total) < 0 ||
				 plain_once(&lab, i, keep, r, &plain) < 0)
			goto out;
		if (plain > 0 && hl_bench_samples_add(&r->pair, (uint64_t)(total / plain * 1e6)) < 0)
			goto out;
	}
	r->done = 1;
	rc = 0;
out:
	hl_buf_free(&lab.tk);
	host_close(lab.host);
	if (lab.dir[0]) {
		if (keep)
			hl_bench_progress("the lab is kept in %s", lab.dir);
		else
			hl_file_rmtree(lab.dir);
	}
	free(lab.guest);
	return rc;
}

/* Median of T's samples in seconds. */
static double median_s(struct prov_result *r, int t)
{
	return (double)hl_bench_samples_percentile(&r->t[t], 50) / 1e9;
}

/* The median of the pairs' ratios; 0 when not measured. */
static double ratio(struct prov_result *r)
{
	return r->done ? (double)hl_bench_samples_percentile(&r->pair, 50) / 1e6 : 0;
}

/* Print R's human report on stdout. */
static void prov_print(struct prov_result *r)
{
	double rt = ratio(r);

	printf("hgslab bench provision: a signed template and a .pdk to a running shielded VM, "
	       "against a plain boot of the same guest, %ld pairs (interleaved), QEMU %s\n\n",
	       r->runs, r->accel ? r->accel : "?");
	if (!r->done) {
		printf("  no figures: the run stopped before every pair was done\n");
		return;
	}
	hl_bench_row(stdout, "plain boot (median)", "%.2f s to the guest's report (min %.2f s, max "
		     "%.2f s)", median_s(r, T_PLAIN),
		     (double)hl_bench_samples_percentile(&r->t[T_PLAIN], 0.001) / 1e9,
		     (double)hl_bench_samples_percentile(&r->t[T_PLAIN], 100) / 1e9);
	hl_bench_row(stdout, "to running (median)", "%.2f s: the host's check %.2f s, the "
		     "boot to provisioned %.2f s, then to running %.2f s", median_s(r, T_TOTAL),
		     median_s(r, T_CHECK), median_s(r, T_SPECIALIZE), median_s(r, T_START));
	hl_bench_row(stdout, "provision / plain", "%.2fx (median of the %ld pairs' ratios, "
		     "%.2fx-%.2fx)", rt, r->runs,
		     (double)hl_bench_samples_percentile(&r->pair, 0.001) / 1e6,
		     (double)hl_bench_samples_percentile(&r->pair, 100) / 1e6);
	hl_bench_row(stdout, "goal", "at most %.1fx: %s", PROV_GOAL_RATIO,
		     rt > 0 && rt <= PROV_GOAL_RATIO ? "met" : "NOT met");
}

/* R as a JSON object; ERROR (may be NULL) says why the run failed. */
static json_t *prov_json(struct prov_result *r, const char *error)
{
	json_t *o = json_object(), *pairs = json_array();
	double rt = ratio(r);

	if (!o || !pairs) {
		json_decref(o);
		json_decref(pairs);
		return NULL;
	}
	/* the samples in run order first: percentile queries sort them */
	for (size_t i = 0; i < r->pair.n; i++)
		json_array_append_new(pairs, hl_bench_json_real((double)r->pair.v[i] / 1e6, 3));
	json_object_set_new(o, "Benchmark", json_string("provision"));
	json_object_set_new(o, "Ok", json_boolean(r->done));
	json_object_set_new(o, "Error", error ? json_string(error) : json_null());
	json_object_set_new(o, "Runs", json_integer(r->runs));
	json_object_set_new(o, "Accelerator", r->accel ? json_string(r->accel) : json_null());
	if (r->done) {
		json_object_set_new(o, "SetupSeconds", hl_bench_json_real(r->setup_s, 2));
		for (int t = 0; t < T_N; t++) {
			json_t *samples = json_array();

			for (size_t i = 0; samples && i < r->t[t].n; i++)
				json_array_append_new(samples,
						      hl_bench_json_real((double)r->t[t].v[i] / 1e9, 3));
			json_object_set_new(o, t_names[t], json_pack("{s:o, s:o}", "SamplesSeconds",
				samples ? samples : json_null(), "MedianSeconds",
				hl_bench_json_real(median_s(r, t), 3)));
		}
		json_object_set_new(o, "Ratio", rt > 0 ? hl_bench_json_real(rt, 2) : json_null());
		json_object_set_new(o, "PairRatios", json_incref(pairs));
	}
	json_decref(pairs);
	json_object_set_new(o, "GoalRatio", hl_bench_json_real(PROV_GOAL_RATIO, 1));
	json_object_set_new(o, "GoalMet", json_boolean(rt > 0 && rt <= PROV_GOAL_RATIO));
	return o;
}

/* Run, print the report (human, JSON, or into COLLECT); 0 when it ran, -1 (error set) when not. */
static int prov_report(long runs, const char *workdir, int keep, int json, json_t *collect)
{
	struct prov_result r;
	int rc;

	rc = prov_run(runs, workdir, keep, &r);
	if ((json || collect) &&
	    bench_emit_json(prov_json(&r, rc < 0 ? hl_error_last() : NULL), collect) < 0) {
		rc = -1;
		goto out;
	}
	if (!json)
		prov_print(&r);
out:
	for (int t = 0; t < T_N; t++)
		hl_bench_samples_release(&r.t[t]);
	hl_bench_samples_release(&r.pair);
	return rc;
}

/* `hgslab bench provision`. */
int cmd_bench_provision(struct hl_cmd_ctx *ctx)
{
	return cmd_bench_vm(ctx, "provision", PROV_RUNS_DEFAULT, PROV_RUNS_MAX, prov_report);
}

/* `bench provision` with the default runs, for `bench all`. */
int cmd_bench_provision_default(const char *workdir, int keep, int json, struct json_t *collect)
{
	if (hl_child_cleanup_install(-1) < 0)
		return -1;
	return prov_report(PROV_RUNS_DEFAULT, workdir, keep, json, collect);
}
