/*
 * vm.c - the host's VMs (hosts/vm.h): import of a bundle (vm/bundle.h), the
 * check of the tenant's signed policy (policy.sig, proto/vmpolicy.h) before
 * a start or a console, the VM keeper daemon that start-vm forks to run the
 * VM with the launcher (vm/launch.h) - or, for new-shielded-vm --start, to
 * provision it first in the same boot (hosts/provision.h) -, stop over QMP,
 * and the state the keeper records.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "hosts/provision.h"
#include "hosts/vm.h"
#include "lib/child.h"
#include "lib/clock.h"
#include "lib/err.h"
#include "lib/fileio.h"
#include "lib/json.h"
#include "lib/labclock.h"
#include "proto/keyprotector.h"
#include "proto/names.h"
#include "proto/vmpolicy.h"
#include "vm/bundle.h"
#include "vm/launch.h"

/* The VM keeper's pid file in the VM's folder, locked for the keeper's whole life. */
#define KEEPER_PID_FILE "keeper.pid"

/* The fds start-vm hands the keeper: the TK's pipe, and the pipe it reports on. */
#define KEEPER_TK_FD 3
#define KEEPER_REPORT_FD 4

/* The keeper's one request from others: power the guest off (stop-vm sends it). */
#define KEEPER_POWER_OFF SIGUSR1

/* The staging folders of imports in progress (lib/staging): vms/.import-XXXXXX. */
#define IMPORT_STAGING ".import-"

/* "A/B" malloc'd, NULL when out of memory. */
static char *join(const char *a, const char *b)
{
	char *p;

	return asprintf(&p, "%s/%s", a, b) < 0 ? NULL : p;
}

/* The VM's folder. */
int hosts_vm_dir(const struct host *h, const char *name, char **out)
{
	*out = NULL;
	if (hl_name_vm(name) < 0)
		return -1;
	if (asprintf(out, "%s/vms/%s", h->dir, name) < 0) {
		*out = NULL;
		return hl_error("out of memory");
	}
	return 0;
}

/* Load config.json and state.json. */
int hosts_vm_load(const struct host *h, const char *name, json_t **config, json_t **state)
{
	char *d = NULL, *c = NULL, *s = NULL;
	int rc = -1;

	*config = NULL;
	*state = NULL;
	if (hosts_vm_dir(h, name, &d) < 0)
		return -1;
	if (!(c = join(d, "config.json")) || !(s = join(d, "state.json"))) {
		hl_error("out of memory");
		goto out;
	}
	if (hl_file_exists(c) != 1) {
		hl_error("no VM '%s' on host '%s': import it with `hgslab host import-vm`", name,
			 h->name);
		goto out;
	}
	if (vm_bundle_read_json(c, 0, config) < 0 || vm_bundle_read_json(s, 1, state) < 0) {
		json_decref(*config);
		*config = NULL;
		goto out;
	}
	rc = 0;
out:
	free(d);
	free(c);
	free(s);
	return rc;
}

/* How a VM imported from a bundle of an older hgslab (no policy.sig) is to be fixed. */
#define OLD_BUNDLE_HINT "it was exported by an hgslab older than the signed policy; export it " \
	"again with `hgslab tenant export-vm` of this version (which signs one) and import that"

/*
 * The policy the tenant signed for VM NAME in folder DIR: DIR/policy.sig (a
 * VM policy statement, or the .pdk of a provisioned VM) checked against the
 * VM's key protector (hl_vmpolicy_check).  Into POLICY, and the key
 * protector's id into KP_ID.
 */
static int signed_policy(const char *dir, const char *name, char policy[HL_VMPOLICY_SIZE],
			 char kp_id[HL_KP_ID_SIZE])
{
	char *kpf = NULL, *sigf = NULL, *kp_text = NULL, *text = NULL;
	size_t kp_len = 0, len = 0;
	struct hl_kp *kp = NULL;
	int rc = -1;

	if (!(kpf = join(dir, "key-protector.kp")) || !(sigf = join(dir, VM_BUNDLE_POLICY))) {
		hl_error("out of memory");
		goto out;
	}
	if (hl_file_read(kpf, HL_KP_MAX_SIZE, &kp_text, &kp_len) < 0 ||
	    hl_kp_parse(kp_text, kp_len, &kp) < 0) {
		hl_error_wrap("the policy statement of VM '%s' cannot be checked without its key "
			      "protector", name);
		goto out;
	}
	if (hl_file_exists(sigf) != 1) {
		hl_error("VM '%s' has no signed policy statement (policy.sig): %s", name,
			 OLD_BUNDLE_HINT);
		goto out;
	}
	if (hl_file_read(sigf, HL_VMPOLICY_FILE_MAX, &text, &len) < 0) {
		hl_error_wrap("the policy statement of VM '%s' is unreadable", name);
		goto out;
	}
	if (hl_vmpolicy_check(text, len, kp, name, policy) < 0)
		goto out;
	memcpy(kp_id, kp->id, HL_KP_ID_SIZE);
	rc = 0;
out:
	hl_kp_free(kp);
	free(kp_text);
	free(text);
	free(kpf);
	free(sigf);
	return rc;
}

/* The tenant's signed policy of VM NAME, which its CONFIG must agree with. */
int hosts_vm_policy(const struct host *h, const char *name, const json_t *config,
		    char policy[HL_VMPOLICY_SIZE])
{
	const char *local = NULL, *local_kp = NULL;
	char *dir = NULL, got[HL_VMPOLICY_SIZE], kp_id[HL_KP_ID_SIZE];
	int rc = -1;

	policy[0] = '\0';
	if (hl_json_get_string(config, "policy", &local) < 0 ||
	    hl_json_get_string(config, "kp_id", &local_kp) < 0)
		return hl_error_wrap("VM '%s''s config.json (checked against its policy statement)",
				     name);
	if (hosts_vm_dir(h, name, &dir) < 0 || signed_policy(dir, name, got, kp_id) < 0)
		goto out;
	if (strcmp(local, got) != 0) {
		hl_error("VM '%s''s config.json says policy '%s', but the tenant's signed policy "
			 "statement says '%s': the host's copy was changed, and only the signed "
			 "policy counts", name, local, got);
		goto out;
	}
	if (strcmp(local_kp, kp_id) != 0) {
		hl_error("VM '%s''s config.json names key protector %s, but its key protector and "
			 "signed policy statement are %s: the host's copy was changed", name,
			 local_kp, kp_id);
		goto out;
	}
	snprintf(policy, HL_VMPOLICY_SIZE, "%s", got);
	rc = 0;
out:
	free(dir);
	return rc;
}

/*
 * 1 while PID runs and its command line holds VERB (a VM keeper's is the
 * `start-vm` that forked it), so a recycled pid is not mistaken for it; a
 * zombie, waiting for a parent that never reaps it, counts as ended.
 */
int hosts_proc_runs(pid_t pid, const char *verb)
{
	char path[64], *text = NULL;
	size_t len = 0;
	int running;

	if (pid <= 0 || !hl_proc_alive(pid))
		return 0;
	snprintf(path, sizeof(path), "/proc/%ld/cmdline", (long)pid);
	if (hl_file_read(path, 65536, &text, &len) < 0)
		return 0;
	running = memmem(text, len, verb, strlen(verb)) != NULL;
	free(text);
	return running;
}

/* The live VM keeper of VM NAME on H: the holder of vms/NAME/keeper.pid's lock, else 0. */
pid_t hosts_vm_keeper(const struct host *h, const char *name)
{
	char *d = NULL, *path = NULL;
	pid_t pid = 0;

	if (hosts_vm_dir(h, name, &d) == 0 && (path = join(d, KEEPER_PID_FILE)))
		pid = hl_pidfile_owner(path);
	hl_error_clear();
	free(d);
	free(path);
	return pid;
}

/* Names of the imported VMs. */
int hosts_vm_list(const struct host *h, json_t **out)
{
	char *d = NULL;
	DIR *dir;
	struct dirent *e;
	json_t *a;

	*out = NULL;
	if (!(a = json_array()) || !(d = join(h->dir, "vms"))) {
		json_decref(a);
		return hl_error("out of memory");
	}
	if ((dir = opendir(d))) {
		while ((e = readdir(dir)))
			if (e->d_name[0] != '.')
				json_array_append_new(a, json_string(e->d_name));
		closedir(dir);
	}
	free(d);
	/* sort (small lists): insertion by strcmp */
	for (size_t i = 1; i < json_array_size(a); i++)
		for (size_t j = i; j > 0 && strcmp(json_string_value(json_array_get(a, j - 1)),
						   json_string_value(json_array_get(a, j))) > 0; j--) {
			json_t *x = json_incref(json_array_get(a, j));
			json_array_set(a, j, json_array_get(a, j - 1));
			json_array_set_new(a, j - 1, x);
		}
	*out = a;
	return 0;
}

/* import-vm. */
int hosts_vm_import(const struct host *h, const char *bundle, char *name_out, size_t size)
{
	char *vms = NULL, *final = NULL, *sig = NULL;
	const char *name;
	json_t *cfg = NULL;
	int rc = -1;

	if (!(vms = join(h->dir, "vms"))) {
		hl_error("out of memory");
		goto out;
	}
	if (vm_bundle_config_read(bundle, &cfg) < 0) {
		rc = -2;
		goto out;
	}
	name = json_string_value(json_object_get(cfg, "name"));
	if (!(sig = join(bundle, VM_BUNDLE_POLICY))) {
		hl_error("out of memory");
		goto out;
	}
	if (hl_file_exists(sig) != 1) {
		hl_error("bundle '%s' has no signed policy statement (policy.sig): %s", bundle,
			 OLD_BUNDLE_HINT);
		rc = -2;
		goto out;
	}
	if (!(final = join(vms, name))) {
		hl_error("out of memory");
		goto out;
	}
	if (hl_file_exists(final) != 0) {
		hl_error("host '%s' already has VM '%s'", h->name, name);
		goto out;
	}
	if (hl_file_mkdirs(vms, 0700) < 0 ||
	    (rc = vm_bundle_install(bundle, VM_BUNDLE_VTPM_STATE, final, IMPORT_STAGING, "in", vms,
				    "VM")) < 0)
		goto out;
	snprintf(name_out, size, "%s", name);
	rc = 0;
out:
	json_decref(cfg);
	free(vms);
	free(final);
	free(sig);
	return rc;
}

/* Write the keeper's state.json in VMDIR. */
static void write_state(const char *vmdir, const char *state, const char *policy, long pid,
			const json_t *workload, const char *error, const char *accel)
{
	char since[32], *path = join(vmdir, "state.json"), *text = NULL;
	json_t *o;

	hl_labclock_format(time(NULL), since, sizeof(since));
	o = json_pack("{s:s, s:s, s:s, s:I}", "state", state, "since", since, "policy", policy,
		      "keeper_pid", (json_int_t)pid);
	if (o && workload)
		json_object_set(o, "workload", (json_t *)workload);
	if (o && error)
		json_object_set_new(o, "error", json_string(error));
	if (o && accel)
		json_object_set_new(o, "accel", json_string(accel));
	if (path && o && hl_json_dump_pretty(o, &text) == 0)
		hl_file_write(path, text, strlen(text), HL_FILE_MODE_PUBLIC);
	json_decref(o);
	free(text);
	free(path);
}

/* Write LINE and a newline to FD, ignoring failures (the parent may be gone). */
static void report(int fd, const char *line)
{
	size_t len = strlen(line);

	if (fd < 0)
		return;
	if (write(fd, line, len) != (ssize_t)len || write(fd, "\n", 1) != 1)
		return;
}

/* Report "error MSG" on FD. */
static void report_error(int fd, const char *msg)
{
	char line[HL_ERROR_MAX + 8];

	snprintf(line, sizeof(line), "error %s", msg);
	report(fd, line);
}

/* Report "WHAT JSON" (the guest's event EV) on FD. */
static void report_event(int fd, const char *what, const json_t *ev)
{
	char *text = NULL, *line = NULL;

	if (hl_json_dump(ev, &text) == 0 && asprintf(&line, "%s %s", what, text) >= 0)
		report(fd, line);
	else
		line = NULL;
	free(line);
	free(text);
}

/* The keeper's stdin from /dev/null, stdout and stderr to LOG (may be NULL: kept). */
static void keeper_stdio(const char *log)
{
	int fd;

	if ((fd = open("/dev/null", O_RDONLY)) >= 0) {
		dup2(fd, 0);
		close(fd);
	}
	if (log && (fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600)) >= 0) {
		dup2(fd, 1);
		dup2(fd, 2);
		close(fd);
	}
}

/*
 * The keeper of the VM launched as P in VMDIR (its pid file PF held): wait
 * for the guest's "running", record it in state.json, report it on
 * REPORT_FD, then stay until QEMU ends, sending QMP system_powerdown on each
 * power-off request (SIGUSR1, blocked by the caller before the launch).
 * Never returns.
 */
static void keeper_serve(const char *vmdir, const char *policy, struct vm_launch_proc *p,
			 const struct hosts_vm_start *o, int report_fd, struct hl_pidfile *pf,
			 const char *accel)
{
	json_t *ev = NULL, *wl;
	char *text = NULL;
	sigset_t req;
	int sfd, polled = 0;

	if (vm_launch_await(p, "running", o->wait_s, NULL, &ev) < 0) {
		write_state(vmdir, "Off", policy, 0, NULL, hl_error_last(), accel);
		report_error(report_fd, hl_error_last());
		vm_launch_proc_free(p);
		hl_pidfile_release(pf);
		_exit(1);
	}
	wl = json_object_get(ev, "workload");
	write_state(vmdir, "Running", policy, (long)getpid(), wl, NULL, accel);
	report_event(report_fd, "running", ev);
	close(report_fd);
	fprintf(stderr, "keeper: VM running after %.1f s (accel %s)\n", vm_launch_elapsed(p), accel);
	/* until QEMU ends: a power-off request is the one thing the keeper does for others */
	sigemptyset(&req);
	sigaddset(&req, KEEPER_POWER_OFF);
	if ((sfd = signalfd(-1, &req, SFD_CLOEXEC)) < 0)
		fprintf(stderr, "keeper: cannot take power-off requests: %s\n", strerror(errno));
	while (sfd >= 0 && (polled = vm_launch_poll(p, sfd, -1)) > 0) {
		struct signalfd_siginfo si;

		if (read(sfd, &si, sizeof(si)) != (ssize_t)sizeof(si))
			continue;
		fprintf(stderr, "keeper: power-off requested by pid %u: QMP system_powerdown\n",
			si.ssi_pid);
		if (vm_launch_qmp(p, "system_powerdown", NULL) < 0)
			fprintf(stderr, "keeper: %s\n", hl_error_last());
	}
	if (sfd >= 0)
		close(sfd);
	/* QEMU ended; or the vTPM's swtpm did, and a VM without its TPM is stopped at once */
	if (polled == -2) {
		text = strdup(hl_error_last());
		fprintf(stderr, "keeper: %s: stopping QEMU\n", hl_error_last());
	}
	vm_launch_end(p, polled == -2 ? 0 : -1);
	vm_launch_proc_free(p);
	write_state(vmdir, "Off", policy, 0, wl, text, accel);
	free(text);
	fprintf(stderr, "keeper: VM stopped\n");
	json_decref(ev);
	hl_pidfile_release(pf);
	_exit(0);
}

/* Block power-off requests: one waits, pending, until the VM runs (keeper_serve). */
static void keeper_block_requests(void)
{
	sigset_t req;

	sigemptyset(&req);
	sigaddset(&req, KEEPER_POWER_OFF);
	sigprocmask(SIG_BLOCK, &req, NULL);
}

/*
 * The VM keeper (a process of its own, exec'd by start-vm): run the VM with
 * TK, cleanse TK once swtpm has it, then keeper_serve.  Never returns.
 */
static void keeper(const char *vmdir, const char *policy, struct hl_buf *tk,
		   const struct hosts_vm_start *o, int report_fd)
{
	struct vm_launch l = { 0 };
	struct vm_launch_proc *p = NULL;
	char *run = join(vmdir, "run"), *disk = join(vmdir, "disk.img"),
	     *vtpm = join(vmdir, "vtpm"), *log = join(vmdir, "keeper.log");
	struct hl_pidfile pf = { "", -1 };
	const char *accel;
	char *pidpath = join(vmdir, KEEPER_PID_FILE);

	keeper_block_requests();
	/* the keeper is whoever holds keeper.pid: stop-vm and `down` check it before a signal */
	if (!pidpath || hl_pidfile_claim(&pf, pidpath, NULL) < 0) {
		report_error(report_fd, hl_error_last());
		hl_buf_free(tk);
		_exit(1);
	}
	keeper_stdio(log);
	hl_child_cleanup_install(-1);
	accel = !strcmp(o->accel, "auto") ? vm_launch_accel_auto() : o->accel;
	if (!run || !disk || !vtpm || hl_file_mkdirs(run, 0700) < 0) {
		report(report_fd, "error cannot prepare the VM's run folder");
		hl_buf_free(tk);
		hl_pidfile_release(&pf);
		_exit(1);
	}
	l.guest_dir = o->guest_dir;
	l.run_dir = run;
	l.vtpm_dir = vtpm;
	l.disk = disk;
	l.mode = "run";
	l.accel = accel;
	l.console = strcmp(policy, "shielded") ? 2 : 0;
	l.qmp = 1;
	l.tk = tk;
	write_state(vmdir, "Starting", policy, (long)getpid(), NULL, NULL, accel);
	if (vm_launch(&l, &p) < 0) {
		write_state(vmdir, "Off", policy, 0, NULL, hl_error_last(), accel);
		report_error(report_fd, hl_error_last());
		hl_buf_free(tk);
		hl_pidfile_release(&pf);
		_exit(1);
	}
	/* swtpm has the TK now (read from its pipe before it answered): cleanse our copy */
	hl_buf_free(tk);
	keeper_serve(vmdir, policy, p, o, report_fd, &pf, accel);
}

/*
 * The keeper that provisions VM NAME first (new-shielded-vm --start,
 * hosts/provision.h): it takes the run over from its parent, checks the
 * files again, holds its pid file and log in the staging folder, boots the
 * guest in specialize mode going on into run mode with TK (cleansed once
 * swtpm has it), reports "provisioned" once the VM is installed as
 * vms/NAME (the pid file moved with it), then keeper_serve.  Any failure
 * before the install leaves nothing but the run's Failed status.  Never
 * returns.
 */
static void keeper_provision(const struct host *h, const char *name, struct hl_buf *tk,
			     const struct hosts_vm_start *o, int report_fd)
{
	struct hosts_provision_input in;
	struct hosts_provision_opts po = { 0 };
	struct hosts_provision *p = NULL;
	struct vm_launch_proc *lp = NULL;
	struct hl_pidfile pf = { "", -1 };
	char policy[HL_VMPOLICY_SIZE], why[HL_ERROR_MAX];
	char *vmdir = NULL, *pidpath = NULL, *log = NULL;
	const char *staging, *accel;
	json_t *ev = NULL;

	memset(&in, 0, sizeof(in));
	keeper_block_requests();
	if (hosts_vm_dir(h, name, &vmdir) < 0 || hosts_provision_adopt(h, name, &p) < 0 ||
	    hosts_provision_check(o->template_path, o->pdk_path, o->fsk_path, &in) < 0 ||
	    hl_child_cleanup_install(-1) < 0 || hosts_provision_stage(p, &in, &staging) < 0)
		goto fail;
	if (!(pidpath = join(staging, KEEPER_PID_FILE)) || !(log = join(staging, "keeper.log"))) {
		hl_error("out of memory");
		goto fail;
	}
	if (hl_pidfile_claim(&pf, pidpath, NULL) < 0)
		goto fail;
	keeper_stdio(log);
	accel = !strcmp(o->accel, "auto") ? vm_launch_accel_auto() : o->accel;
	po.guest_dir = o->guest_dir;
	po.accel = accel;
	po.wait_s = o->wait_s;
	po.progress = "keeper";
	if (hosts_provision_keep(p, &in, tk, &po, &lp, &ev) < 0)
		goto fail;
	/* installed under the running guest: the pid file (still locked) moved with the folder */
	snprintf(pf.path, sizeof(pf.path), "%s/" KEEPER_PID_FILE, vmdir);
	snprintf(policy, sizeof(policy), "%s", in.pdk->policy);
	write_state(vmdir, "Starting", policy, (long)getpid(), NULL, NULL, accel);
	report_event(report_fd, "provisioned", ev);
	fprintf(stderr, "keeper: VM provisioned after %.1f s; the guest goes on into run mode\n",
		vm_launch_elapsed(lp));
	json_decref(ev);
	hosts_provision_input_release(&in);
	hosts_provision_end(p);
	free(pidpath);
	free(log);
	keeper_serve(vmdir, policy, lp, o, report_fd, &pf, accel);
fail:
	snprintf(why, sizeof(why), "%s", hl_error_last());
	if (p)
		hosts_provision_fail(p, why);
	report_error(report_fd, why);
	hl_buf_free(tk);
	hosts_provision_input_release(&in);
	/* the staging folder, if made, goes with the run */
	hosts_provision_end(p);
	hl_pidfile_release(&pf);
	_exit(1);
}

/* The argument vector and pipes of a VM keeper this process runs, and what it reported so far. */
struct keeper_run {
	pid_t pid;
	int fd;                   /* the report pipe's read end */
	char buf[HL_ERROR_MAX + 8192];
	size_t have, used;        /* bytes in buf; the length of the line last given out */
};

/*
 * Run the VM keeper of VM NAME on H into KR: KEEPER + "--dir HOSTDIR --name
 * NAME --accel A --wait-seconds N [--guest G] [--template T --pdk P [--fsk
 * F]]", exec'd in its own session with TK in a pipe on its fd 3 and the
 * write end of its report pipe on fd 4.
 */
static int keeper_spawn(const struct host *h, const char *name, const struct hl_buf *tk,
			const struct hosts_vm_start *o, struct keeper_run *kr)
{
	const char *argv[40];
	char wait[16];
	size_t i, na = 0;
	int pfd[2] = { -1, -1 }, tfd[2] = { -1, -1 }, rc = -1;
	pid_t pid;

	kr->pid = -1;
	kr->fd = -1;
	kr->have = kr->used = 0;
	if (!o->keeper || !o->keeper[0] || tk->len != HL_KP_TK_LEN)
		return hl_error("cannot start VM '%s': no VM keeper command or no TK", name);
	snprintf(wait, sizeof(wait), "%d", o->wait_s);
	for (i = 0; o->keeper[i] && na < 8; i++)
		argv[na++] = o->keeper[i];
	argv[na++] = "--dir"; argv[na++] = h->dir;
	argv[na++] = "--name"; argv[na++] = name;
	argv[na++] = "--accel"; argv[na++] = o->accel;
	argv[na++] = "--wait-seconds"; argv[na++] = wait;
	if (o->guest_dir) {
		argv[na++] = "--guest"; argv[na++] = o->guest_dir;
	}
	if (o->template_path) {
		argv[na++] = "--template"; argv[na++] = o->template_path;
		argv[na++] = "--pdk"; argv[na++] = o->pdk_path;
		if (o->fsk_path) {
			argv[na++] = "--fsk"; argv[na++] = o->fsk_path;
		}
	}
	argv[na] = NULL;
	/* the TK waits in a pipe the keeper reads as KEEPER_TK_FD: never argv, env or a file */
	if (pipe2(pfd, O_CLOEXEC) < 0 || pipe2(tfd, O_CLOEXEC) < 0 ||
	    write(tfd[1], tk->data, tk->len) != (ssize_t)tk->len) {
		hl_error_errno("cannot hand the TK and the report pipe to the VM keeper");
		goto out;
	}
	close(tfd[1]);
	tfd[1] = -1;
	fflush(NULL);
	if ((pid = fork()) < 0) {
		hl_error_errno("cannot fork the VM keeper");
		goto out;
	}
	if (pid == 0) {
		/*
		 * A fresh program, not a copy of this one: nothing of start-vm's memory
		 * (the TK's other copies, the TPM's buffers) lives on in the keeper.
		 */
		int t = fcntl(tfd[0], F_DUPFD, 10), r = fcntl(pfd[1], F_DUPFD, 10);
		sigset_t none;

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		setsid();
		if (t < 0 || r < 0 || dup2(t, KEEPER_TK_FD) < 0 || dup2(r, KEEPER_REPORT_FD) < 0)
			_exit(127);
		execv(argv[0], (char *const *)argv);
		report(KEEPER_REPORT_FD, "error cannot run the VM keeper");
		_exit(127);
	}
	kr->pid = pid;
	kr->fd = pfd[0];
	pfd[0] = -1;
	rc = 0;
out:
	for (i = 0; i < 2; i++) {
		if (pfd[i] >= 0)
			close(pfd[i]);
		if (tfd[i] >= 0)
			close(tfd[i]);
	}
	return rc;
}

/*
 * The keeper's next report line into *LINE (in KR's buffer, valid until the
 * next call), by DEADLINE (hl_clock_ms): 0.  1 when a signal is readable on
 * SIGFD (>= 0) first.  -1 when the keeper ended without a line (its log is
 * LOG) or took too long (it is then stopped).
 */
static int keeper_line(struct keeper_run *kr, long long deadline, int sigfd, const char *log,
		       char **line)
{
	*line = NULL;
	if (kr->used) {
		kr->have -= kr->used;
		memmove(kr->buf, kr->buf + kr->used, kr->have);
		kr->used = 0;
	}
	for (;;) {
		struct pollfd pf[2] = { { kr->fd, POLLIN, 0 }, { sigfd, POLLIN, 0 } };
		long long left = deadline - hl_clock_ms();
		char *nl;
		ssize_t n;

		kr->buf[kr->have] = '\0';
		if ((nl = strchr(kr->buf, '\n'))) {
			*nl = '\0';
			kr->used = (size_t)(nl + 1 - kr->buf);
			*line = kr->buf;
			return 0;
		}
		if (left <= 0) {
			hl_proc_stop(&kr->pid, 1, 10000);
			return hl_error("the VM keeper did not report in time; see '%s'", log);
		}
		if (poll(pf, sigfd >= 0 ? 2 : 1, (int)(left > 1000 ? 1000 : left)) <= 0)
			continue;
		if (sigfd >= 0 && pf[1].revents)
			return 1;
		if (!pf[0].revents)
			continue;
		n = read(kr->fd, kr->buf + kr->have, sizeof(kr->buf) - 1 - kr->have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return hl_error("the VM keeper ended without a report; see '%s'", log);
		kr->have += (size_t)n;
	}
}

/* start-vm. */
int hosts_vm_start(const struct host *h, const char *name, const struct hl_buf *tk,
		   const struct hosts_vm_start *o, json_t **report_out)
{
	struct keeper_run kr = { -1, -1, "", 0, 0 };
	json_t *cfg = NULL, *state = NULL;
	char policy[HL_VMPOLICY_SIZE], *line, *vmdir = NULL, *log = NULL;
	int rc = -1;

	*report_out = NULL;
	if (hosts_vm_load(h, name, &cfg, &state) < 0 || hosts_vm_dir(h, name, &vmdir) < 0)
		goto out;
	if (hosts_vm_keeper(h, name) > 0) {
		hl_error("VM '%s' already runs on host '%s' (stop it with `hgslab host stop-vm`)",
			 name, h->name);
		goto out;
	}
	/* the tenant's signed policy decides the console, never config.json alone */
	if (hosts_vm_policy(h, name, cfg, policy) < 0)
		goto out;
	if (o->template_path) {
		hl_error("cannot start VM '%s': a start provisions nothing", name);
		goto out;
	}
	if (!(log = join(vmdir, "keeper.log"))) {
		hl_error("out of memory");
		goto out;
	}
	if (keeper_spawn(h, name, tk, o, &kr) < 0 ||
	    keeper_line(&kr, hl_clock_ms() + (long long)(o->wait_s + 20) * 1000, -1, log,
			&line) < 0)
		goto out;
	if (!strncmp(line, "running ", 8)) {
		if (hl_json_parse(line + 8, strlen(line + 8), 0, report_out) < 0)
			goto out;
		rc = 0;
	} else {
		hl_error("%s", !strncmp(line, "error ", 6) ? line + 6 : line);
	}
out:
	if (kr.fd >= 0)
		close(kr.fd);
	json_decref(cfg);
	json_decref(state);
	free(vmdir);
	free(log);
	return rc;
}

/* new-shielded-vm --start: the keeper provisions the VM, which goes on running. */
int hosts_vm_provision_start(const struct host *h, const char *name, const struct hl_buf *tk,
			     const struct hosts_vm_start *o, double *provisioned_s,
			     json_t **provisioned, json_t **running)
{
	struct keeper_run kr = { -1, -1, "", 0, 0 };
	sigset_t stop, old;
	char *line, *log = NULL;
	long long t0 = hl_clock_ms(), deadline;
	int sfd = -1, rc = -1, r;

	*provisioned = *running = NULL;
	*provisioned_s = 0;
	if (!o->template_path || !o->pdk_path) {
		hl_error("cannot provision VM '%s': no template or shielding data", name);
		return -1;
	}
	if (asprintf(&log, "%s/vms/.provision-%s.json", h->dir, name) < 0) {
		log = NULL;
		return hl_error("out of memory");
	}
	/* a signal to this process ends the run: the keeper, told, removes what it made */
	sigemptyset(&stop);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGHUP);
	sigprocmask(SIG_BLOCK, &stop, &old);
	if ((sfd = signalfd(-1, &stop, SFD_CLOEXEC)) < 0) {
		hl_error_errno("cannot watch for signals during the provisioning");
		goto out;
	}
	if (keeper_spawn(h, name, tk, o, &kr) < 0)
		goto out;
	/* the keeper bounds the specialize boot and the start by wait_s each */
	deadline = t0 + (long long)(2 * o->wait_s + 30) * 1000;
	for (;;) {
		if ((r = keeper_line(&kr, deadline, sfd, log, &line)) < 0)
			goto out;
		if (r == 1) {
			struct signalfd_siginfo si;
			int sig = SIGTERM;

			if (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
				sig = (int)si.ssi_signo;
			fprintf(stderr, "host new-shielded-vm: %s: stopping the provisioning\n",
				strsignal(sig));
			hl_proc_stop(&kr.pid, 1, 15000);
			close(sfd);
			sfd = -1;
			sigprocmask(SIG_SETMASK, &old, NULL);
			/* die by the signal as without the run (hl_child's handlers, if installed) */
			raise(sig);
			hl_error("the provisioning was interrupted by %s", strsignal(sig));
			goto out;
		}
		if (!strncmp(line, "provisioned ", 12) && !*provisioned) {
			*provisioned_s = (double)(hl_clock_ms() - t0) / 1000;
			if (hl_json_parse(line + 12, strlen(line + 12), 0, provisioned) < 0)
				goto out;
			continue;
		}
		if (!strncmp(line, "running ", 8) && *provisioned) {
			if (hl_json_parse(line + 8, strlen(line + 8), 0, running) < 0)
				goto out;
			rc = 0;
		} else {
			hl_error("%s", !strncmp(line, "error ", 6) ? line + 6 : line);
		}
		goto out;
	}
out:
	if (kr.fd >= 0)
		close(kr.fd);
	if (sfd >= 0)
		close(sfd);
	sigprocmask(SIG_SETMASK, &old, NULL);
	free(log);
	return rc;
}

/* The keeper, run by `host keep-vm`: the TK from its pipe, then keeper() or keeper_provision(). */
int hosts_vm_keep(const struct host *h, const char *name, const struct hosts_vm_start *o)
{
	struct hl_buf tk = { NULL, 0 };
	json_t *cfg = NULL, *state = NULL;
	char policy[HL_VMPOLICY_SIZE], *vmdir = NULL;
	size_t got = 0;

	if (fcntl(KEEPER_TK_FD, F_GETFD) < 0 || fcntl(KEEPER_REPORT_FD, F_GETFD) < 0)
		return hl_error("the VM keeper is started by `hgslab host start-vm`, which hands it "
				"the TK on fd %d and reads its report on fd %d", KEEPER_TK_FD,
				KEEPER_REPORT_FD);
	fcntl(KEEPER_TK_FD, F_SETFD, FD_CLOEXEC);
	fcntl(KEEPER_REPORT_FD, F_SETFD, FD_CLOEXEC);
	/* read straight into the one buffer swtpm's pipe is fed from (no stdio copy) */
	if (!(tk.data = malloc(HL_KP_TK_LEN + 1))) {
		report(KEEPER_REPORT_FD, "error out of memory");
		return hl_error("out of memory");
	}
	tk.len = HL_KP_TK_LEN;
	while (got < tk.len) {
		ssize_t r = read(KEEPER_TK_FD, tk.data + got, tk.len - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(KEEPER_TK_FD);
	if (got == tk.len && o->template_path)
		keeper_provision(h, name, &tk, o, KEEPER_REPORT_FD);
	if (got != tk.len || hosts_vm_load(h, name, &cfg, &state) < 0 ||
	    hosts_vm_dir(h, name, &vmdir) < 0 ||
	    /* checked again here: config.json may have changed since start-vm's check */
	    hosts_vm_policy(h, name, cfg, policy) < 0) {
		char line[HL_ERROR_MAX + 8];

		snprintf(line, sizeof(line), "error %s", got != tk.len ? "the VM keeper got no TK" :
			 hl_error_last());
		report(KEEPER_REPORT_FD, line);
		hl_buf_free(&tk);
		json_decref(cfg);
		json_decref(state);
		free(vmdir);
		return hl_error("%s", line + 6);
	}
	keeper(vmdir, policy, &tk, o, KEEPER_REPORT_FD);
	return 0;
}

/* stop-vm. */
int hosts_vm_stop(const struct host *h, const char *name, int wait_s)
{
	json_t *cfg = NULL, *state = NULL;
	char *vmdir = NULL;
	pid_t pid;
	int rc = -1;

	if (hosts_vm_load(h, name, &cfg, &state) < 0 || hosts_vm_dir(h, name, &vmdir) < 0)
		goto out;
	/* only the process that holds the VM's keeper lock is its keeper: never a recycled pid */
	if ((pid = hosts_vm_keeper(h, name)) <= 0) {
		hl_error("VM '%s' is not running on host '%s'", name, h->name);
		goto out;
	}
	/* the keeper alone talks to QEMU (QMP on its private socket pair): ask it */
	if (kill(pid, KEEPER_POWER_OFF) < 0) {
		hl_error_errno("cannot ask the keeper of VM '%s' (pid %ld) to power it off", name,
			       (long)pid);
		goto out;
	}
	hl_proc_wait(&pid, 1, wait_s > INT_MAX / 1000 ? INT_MAX : wait_s * 1000);
	if (hosts_vm_keeper(h, name) == pid) {
		fprintf(stderr, "host stop-vm: the guest did not power off within %d s; stopping "
			"QEMU\n", wait_s);
		/* the keeper stops QEMU and the vTPM's swtpm on SIGTERM */
		hl_proc_stop(&pid, 1, 10000);
		write_state(vmdir, "Off", json_string_value(json_object_get(cfg, "policy")), 0,
			    json_object_get(state, "workload"), "stopped by force", NULL);
	}
	rc = 0;
out:
	json_decref(cfg);
	json_decref(state);
	free(vmdir);
	return rc;
}
