/*
 * vm.c - the VM launcher (swtpm + QEMU + the guest agent's channel) and the
 * host's VMs: import, the VM keeper daemon that start-vm forks, stop over
 * QMP, and the state the keeper records (hosts/vm.h).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "hosts/vm.h"
#include "lib/child.h"
#include "lib/err.h"
#include "lib/fileio.h"
#include "lib/json.h"
#include "proto/keyprotector.h"
#include "tenant/vm.h"

/* One VM run.  Invariant: qemu is set only when swtpm is; agent_fd >= 0 once QEMU connected. */
struct hosts_vm_proc {
	struct hl_child *swtpm;
	struct hl_child *qemu;
	int lfd;
	int afd;
	char buf[8192];
	size_t have;
	long long t0;
};

/* Monotonic milliseconds. */
static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* "A/B" malloc'd, NULL when out of memory. */
static char *join(const char *a, const char *b)
{
	char *p;

	return asprintf(&p, "%s/%s", a, b) < 0 ? NULL : p;
}

/* Check that PATH fits a unix socket address. */
static int sock_path_ok(const char *path)
{
	if (strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return hl_error("socket path '%s' is longer than %zu bytes: use a shorter "
				"directory", path, sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
	return 0;
}

/* A listening unix socket at PATH into *FD. */
static int listen_unix(const char *path, int *fd)
{
	struct sockaddr_un sa;
	int s;

	*fd = -1;
	if (sock_path_ok(path) < 0)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	unlink(path);
	if ((s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return hl_error_errno("cannot create a unix socket");
	if (bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(s, 1) < 0) {
		close(s);
		return hl_error_errno("cannot listen on '%s'", path);
	}
	*fd = s;
	return 0;
}

/* Connect to the unix socket PATH into *FD. */
static int connect_unix(const char *path, int *fd)
{
	struct sockaddr_un sa;
	int s;

	*fd = -1;
	if (sock_path_ok(path) < 0)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if ((s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return hl_error_errno("cannot create a unix socket");
	if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(s);
		return hl_error_errno("cannot connect to '%s'", path);
	}
	*fd = s;
	return 0;
}

/* The guest folder: --guest, $HGSLAB_GUEST_DIR, or build/guest beside the binary or here. */
char *hosts_vm_guest_dir(const char *given)
{
	static const char *const rel[] = { "/../build/guest", "/../../guest", "/../../build/guest" };
	char exe[4096], *p, *cand;
	const char *env = getenv("HGSLAB_GUEST_DIR");
	ssize_t n;
	size_t i;

	if (given)
		return strdup(given);
	if (env && *env)
		return strdup(env);
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = '\0';
		if ((p = strrchr(exe, '/')))
			*p = '\0';
		for (i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
			if (asprintf(&cand, "%s%s/vmlinuz", exe, rel[i]) < 0)
				return NULL;
			if (hl_file_exists(cand) == 1) {
				cand[strlen(cand) - strlen("/vmlinuz")] = '\0';
				return cand;
			}
			free(cand);
		}
	}
	return strdup("build/guest");
}

/* Free P, killing what still runs. */
void hosts_vm_proc_free(struct hosts_vm_proc *p)
{
	if (!p)
		return;
	if (p->qemu)
		hl_child_stop(p->qemu, 0, NULL);
	if (p->swtpm)
		hl_child_stop(p->swtpm, 2000, NULL);
	hl_child_free(p->qemu);
	hl_child_free(p->swtpm);
	if (p->lfd >= 0)
		close(p->lfd);
	if (p->afd >= 0)
		close(p->afd);
	free(p);
}

/* swtpm on L's vTPM state into P, the state key through a pipe read as fd 3. */
static int launch_swtpm(const struct hosts_vm_launch *l, struct hosts_vm_proc *p,
			const char *swsock, const char *swlog)
{
	char *a_state = NULL, *a_ctrl = NULL, *a_log = NULL;
	int pfd[2] = { -1, -1 }, rc = -1;

	if (pipe2(pfd, O_CLOEXEC) < 0 ||
	    write(pfd[1], l->tk->data, l->tk->len) != (ssize_t)l->tk->len) {
		hl_error_errno("cannot pass the state key to swtpm");
		goto out;
	}
	close(pfd[1]);
	pfd[1] = -1;
	if (asprintf(&a_state, "dir=%s", l->vtpm_dir) < 0 ||
	    asprintf(&a_ctrl, "type=unixio,path=%s", swsock) < 0 ||
	    asprintf(&a_log, "file=%s", swlog) < 0) {
		a_state = a_ctrl = a_log = NULL;
		hl_error("out of memory");
		goto out;
	}
	{
		const char *sargv[] = { "swtpm", "socket", "--tpm2", "--tpmstate", a_state, "--ctrl",
					a_ctrl, "--log", a_log, "--key",
					"fd=3,format=binary,mode=aes-256-cbc", NULL };
		struct hl_child_fd cfd = { pfd[0], 3 };
		struct hl_child_opts co = { 0 };

		co.name = "swtpm";
		co.log_path = swlog;
		co.fds = &cfd;
		co.nfds = 1;
		if (hl_child_spawn(sargv, &co, &p->swtpm) < 0)
			goto out;
		close(pfd[0]);
		pfd[0] = -1;
		if (hl_child_wait_unix(p->swtpm, swsock, 10000) < 0)
			goto out;
	}
	rc = 0;
out:
	if (pfd[0] >= 0)
		close(pfd[0]);
	if (pfd[1] >= 0)
		close(pfd[1]);
	free(a_state); free(a_ctrl); free(a_log);
	return rc;
}

/* Start swtpm then QEMU. */
int hosts_vm_launch(const struct hosts_vm_launch *l, struct hosts_vm_proc **out)
{
	struct hosts_vm_proc *p = NULL;
	char *swsock = NULL, *agsock = NULL, *swlog = NULL, *qlog = NULL, *kernel = NULL;
	char *initrd = NULL, *a_serial = NULL;
	char *a_tpm = NULL, *a_agent = NULL, *a_plain = NULL, *a_disk = NULL, *a_qmp = NULL;
	char *a_machine = NULL, *a_append = NULL, *console = NULL, *qmp = NULL;
	const char *argv[64];
	const char *extra = l->append && *l->append ? l->append : NULL;
	int rc = -1, n = 0;

	*out = NULL;
	if (l->vtpm_dir && (!l->tk || l->tk->len != HL_KP_TK_LEN))
		return hl_error("no vTPM state key for the VM (need %d bytes)", HL_KP_TK_LEN);
	if (!(p = calloc(1, sizeof(*p))))
		return hl_error("out of memory");
	p->lfd = p->afd = -1;
	/* a run's time counts from here: swtpm's start is part of a shielded boot */
	p->t0 = now_ms();
	if (!(swsock = join(l->run_dir, "swtpm.sock")) || !(agsock = join(l->run_dir, "agent.sock")) ||
	    !(swlog = join(l->run_dir, "swtpm.log")) || !(qlog = join(l->run_dir, "qemu.log")) ||
	    !(kernel = join(l->guest_dir, "vmlinuz")) ||
	    !(initrd = join(l->guest_dir, "initramfs.cpio")) ||
	    !(qmp = join(l->run_dir, "qmp.sock")) ||
	    !(console = join(l->run_dir, l->console == 2 ? "console.sock" : "console.log"))) {
		hl_error("out of memory");
		goto out;
	}
	if (hl_file_exists(kernel) != 1 || hl_file_exists(initrd) != 1 ||
	    hl_file_exists(HOSTS_VM_QBOOT) != 1) {
		hl_error("no guest in '%s' (vmlinuz, initramfs.cpio) or no %s: run `make guest` "
			 "and `make deps`, or give --guest DIR", l->guest_dir, HOSTS_VM_QBOOT);
		goto out;
	}
	if (sock_path_ok(swsock) < 0 || sock_path_ok(qmp) < 0 || sock_path_ok(console) < 0)
		goto out;
	unlink(swsock);
	unlink(qmp);
	if (l->console == 2)
		unlink(console);
	if (l->vtpm_dir && launch_swtpm(l, p, swsock, swlog) < 0)
		goto out;

	/* QEMU. */
	if (listen_unix(agsock, &p->lfd) < 0)
		goto out;
	if (asprintf(&a_machine, "pc,accel=%s", l->accel ? l->accel : "tcg") < 0 ||
	    asprintf(&a_append, "console=ttyS0 quiet mitigations=off panic=-1 "
		     "initcall_blacklist=init_ima hgslab.mode=%s%s%s", l->mode, extra ? " " : "",
		     extra ? extra : "") < 0 ||
	    asprintf(&a_tpm, "socket,id=chrtpm,path=%s", swsock) < 0 ||
	    asprintf(&a_agent, "socket,id=agent,path=%s", agsock) < 0 ||
	    asprintf(&a_disk, "file=%s,if=none,id=disk,format=raw", l->disk) < 0 ||
	    asprintf(&a_qmp, "unix:%s,server=on,wait=off", qmp) < 0 ||
	    asprintf(&a_serial, l->console == 2 ? "unix:%s,server=on,wait=off" : "file:%s",
		     console) < 0) {
		a_machine = a_append = a_tpm = a_agent = a_disk = a_qmp = a_serial = NULL;
		hl_error("out of memory");
		goto out;
	}
	if (l->plain && asprintf(&a_plain, "file=%s,if=none,id=plain,format=raw,readonly=on",
				 l->plain) < 0) {
		a_plain = NULL;
		hl_error("out of memory");
		goto out;
	}
	argv[n++] = "qemu-system-x86_64";
	argv[n++] = "-machine"; argv[n++] = a_machine;
	argv[n++] = "-cpu"; argv[n++] = "max";
	argv[n++] = "-m"; argv[n++] = "256";
	argv[n++] = "-nodefaults"; argv[n++] = "-display"; argv[n++] = "none";
	argv[n++] = "-no-reboot";
	argv[n++] = "-bios"; argv[n++] = HOSTS_VM_QBOOT;
	argv[n++] = "-kernel"; argv[n++] = kernel;
	argv[n++] = "-initrd"; argv[n++] = initrd;
	argv[n++] = "-append"; argv[n++] = a_append;
	argv[n++] = "-serial"; argv[n++] = l->console ? a_serial : "none";
	argv[n++] = "-monitor"; argv[n++] = "none";
	if (l->vtpm_dir) {
		argv[n++] = "-chardev"; argv[n++] = a_tpm;
		argv[n++] = "-tpmdev"; argv[n++] = "emulator,id=tpm0,chardev=chrtpm";
		argv[n++] = "-device"; argv[n++] = "tpm-crb,tpmdev=tpm0";
	}
	argv[n++] = "-device"; argv[n++] = "virtio-serial";
	argv[n++] = "-chardev"; argv[n++] = a_agent;
	argv[n++] = "-device"; argv[n++] = "virtserialport,chardev=agent,name=org.hgslab.agent";
	if (l->plain) {
		argv[n++] = "-drive"; argv[n++] = a_plain;
		argv[n++] = "-device"; argv[n++] = "virtio-blk-pci,drive=plain,serial=hgslab-plain";
	}
	argv[n++] = "-drive"; argv[n++] = a_disk;
	argv[n++] = "-device"; argv[n++] = "virtio-blk-pci,drive=disk,serial=hgslab-disk";
	if (l->qmp) {
		argv[n++] = "-qmp"; argv[n++] = a_qmp;
	}
	argv[n] = NULL;
	{
		struct hl_child_opts co = { 0 };

		co.name = "qemu";
		co.log_path = qlog;
		if (hl_child_spawn(argv, &co, &p->qemu) < 0)
			goto out;
	}
	*out = p;
	p = NULL;
	rc = 0;
out:
	hosts_vm_proc_free(p);
	free(swsock); free(agsock); free(swlog); free(qlog); free(kernel); free(initrd);
	free(a_serial); free(a_tpm); free(a_agent);
	free(a_plain); free(a_disk); free(a_qmp); free(a_machine); free(a_append);
	free(console); free(qmp);
	return rc;
}

/* Seconds since the launch (swtpm's start, then QEMU's). */
double hosts_vm_elapsed(const struct hosts_vm_proc *p)
{
	return (double)(now_ms() - p->t0) / 1000;
}

/* Wait for the guest's event WANT. */
int hosts_vm_await(struct hosts_vm_proc *p, const char *want, int timeout_s,
		   const char *progress, json_t **event)
{
	long long deadline = now_ms() + (long long)timeout_s * 1000, next_note = now_ms() + 5000;

	if (event)
		*event = NULL;
	for (;;) {
		long long now = now_ms();
		int fd = p->afd >= 0 ? p->afd : p->lfd, r;
		char *nl;
		ssize_t n;

		if (now >= deadline)
			return hl_error("the guest did not report '%s' within %d s (give it more "
					"time on a busy machine)", want, timeout_s);
		if (progress && now >= next_note) {
			fprintf(stderr, "%s: boot running, %.0f s\n", progress, hosts_vm_elapsed(p));
			next_note += 5000;
		}
		r = hl_child_poll(p->qemu, fd, POLLIN, 1000);
		if (r < 0)
			return hl_error_wrap("QEMU ended before the guest reported '%s'", want);
		if (r == 0)
			continue;
		if (p->afd < 0) {
			if ((p->afd = accept4(p->lfd, NULL, NULL, SOCK_CLOEXEC)) < 0)
				return hl_error_errno("cannot accept QEMU's agent channel");
			continue;
		}
		n = read(p->afd, p->buf + p->have, sizeof(p->buf) - 1 - p->have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return hl_error("QEMU closed the agent channel before the guest reported "
					"'%s' (QEMU killed?)", want);
		p->have += (size_t)n;
		p->buf[p->have] = '\0';
		while ((nl = strchr(p->buf, '\n'))) {
			json_t *ev;
			const char *name = "", *stage = "?", *reason = "?";
			int done = 0, failed = 0;

			*nl = '\0';
			if ((ev = json_loads(p->buf, 0, NULL))) {
				hl_json_get_string_opt(ev, "event", "", &name);
				if (progress && !strcmp(name, "started"))
					fprintf(stderr, "%s: guest agent started after %.1f s\n",
						progress, hosts_vm_elapsed(p));
				if (!strcmp(name, want))
					done = 1;
				else if (!strcmp(name, "error")) {
					hl_json_get_string_opt(ev, "stage", "?", &stage);
					hl_json_get_string_opt(ev, "reason", "?", &reason);
					hl_error("the guest reported an error at stage %s: %s", stage,
						 reason);
					failed = 1;
				}
			}
			p->have -= (size_t)(nl + 1 - p->buf);
			memmove(p->buf, nl + 1, p->have + 1);
			if (done) {
				if (progress)
					fprintf(stderr, "%s: %s after %.1f s\n", progress, want,
						hosts_vm_elapsed(p));
				if (event)
					*event = ev;
				else
					json_decref(ev);
				return 0;
			}
			json_decref(ev);
			if (failed)
				return -1;
		}
		if (p->have >= sizeof(p->buf) - 1)
			p->have = 0;
	}
}

/* Wait for QEMU, then swtpm, to end. */
int hosts_vm_end(struct hosts_vm_proc *p, int ms)
{
	int status = -1;

	if (hl_child_wait(p->qemu, ms, &status) < 0 || status < 0)
		hl_child_stop(p->qemu, 2000, &status);
	if (p->swtpm && (hl_child_wait(p->swtpm, 5000, &status) < 0 || status < 0))
		hl_child_stop(p->swtpm, 3000, &status);
	return 0;
}

/* KVM only when proved: cpuinfo, /dev/kvm, and a QEMU that stays up with it. */
const char *hosts_vm_accel_auto(void)
{
	char *info = NULL;
	int virt;

	if (hl_file_read("/proc/cpuinfo", 8u << 20, &info, NULL) < 0)
		return "tcg";
	virt = strstr(info, " vmx") || strstr(info, " svm");
	free(info);
	if (!virt || access("/dev/kvm", R_OK | W_OK) < 0)
		return "tcg";
	{
		const char *argv[] = { "qemu-system-x86_64", "-machine", "none,accel=kvm",
				       "-nodefaults", "-display", "none", "-S", NULL };
		struct hl_child_opts co = { 0 };
		struct hl_child *c = NULL;
		int status = -1, ok;

		co.log_path = "/dev/null";
		if (hl_child_spawn(argv, &co, &c) < 0)
			return "tcg";
		/* a KVM that cannot start makes QEMU exit at once */
		ok = hl_child_wait(c, 1500, &status) < 0 || status < 0;
		hl_child_stop(c, 0, NULL);
		hl_child_free(c);
		return ok ? "kvm" : "tcg";
	}
}

/* The VM's folder. */
int hosts_vm_dir(const struct host *h, const char *name, char **out)
{
	*out = NULL;
	if (hl_vm_name_check(name) < 0)
		return -1;
	if (asprintf(out, "%s/vms/%s", h->dir, name) < 0) {
		*out = NULL;
		return hl_error("out of memory");
	}
	return 0;
}

/* Read JSON file PATH into *OUT (NULL when missing and OPTIONAL). */
static int read_json(const char *path, int optional, json_t **out)
{
	char *text = NULL;
	size_t len = 0;
	int rc;

	*out = NULL;
	if (optional && hl_file_exists(path) != 1)
		return 0;
	if (hl_file_read(path, 1 << 20, &text, &len) < 0)
		return -1;
	rc = hl_json_parse(text, len, 0, out);
	free(text);
	if (rc < 0)
		hl_error_wrap("'%s'", path);
	return rc;
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
	if (read_json(c, 0, config) < 0 || read_json(s, 1, state) < 0) {
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

/*
 * 1 while PID runs and is a VM keeper (its command line is the `start-vm`
 * that forked it, so a recycled pid is not mistaken for it); a zombie,
 * waiting for a parent that never reaps it, counts as ended.
 */
static int pid_running(pid_t pid)
{
	char path[64], *text = NULL, *rp;
	size_t len = 0;
	int running;

	if (pid <= 0 || (kill(pid, 0) < 0 && errno != EPERM))
		return 0;
	snprintf(path, sizeof(path), "/proc/%ld/cmdline", (long)pid);
	if (hl_file_read(path, 65536, &text, &len) < 0)
		return 0;
	running = memmem(text, len, "start-vm", 9) != NULL;
	free(text);
	text = NULL;
	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	if (!running || hl_file_read(path, 4096, &text, NULL) < 0)
		return 0;
	rp = strrchr(text, ')');
	running = !(rp && rp[1] == ' ' && (rp[2] == 'Z' || rp[2] == 'X'));
	free(text);
	return running;
}

/* 1 when STATE's keeper pid is alive. */
int hosts_vm_alive(const json_t *state)
{
	json_int_t pid = 0;

	if (!state || hl_json_get_int_opt(state, "keeper_pid", 0, &pid) < 0 || pid <= 0)
		return 0;
	return pid_running((pid_t)pid);
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
	static const char *const files[] = { "disk.img", "key-protector.kp", "config.json" };
	char *cfgp = NULL, *vms = NULL, *final = NULL, *tmp = NULL, *a = NULL, *b = NULL;
	const char *name = NULL, *policy = NULL;
	json_t *cfg = NULL;
	size_t i;
	int rc = -1;

	if (!(cfgp = join(bundle, "config.json")) || !(vms = join(h->dir, "vms"))) {
		hl_error("out of memory");
		goto out;
	}
	if (read_json(cfgp, 0, &cfg) < 0) {
		hl_error_wrap("'%s' is not a VM bundle (export one with `hgslab tenant export-vm`)",
			      bundle);
		goto out;
	}
	if (hl_json_get_string(cfg, "name", &name) < 0 ||
	    hl_json_get_string(cfg, "policy", &policy) < 0 || hl_vm_name_check(name) < 0)
		goto out;
	if (strcmp(policy, "shielded") && strcmp(policy, "encryption-supported")) {
		hl_error("bundle '%s' has an unknown policy '%s'", bundle, policy);
		goto out;
	}
	if (!(final = join(vms, name)) || asprintf(&tmp, "%s/.import-%s.XXXXXX", vms, name) < 0) {
		tmp = NULL;
		hl_error("out of memory");
		goto out;
	}
	if (hl_file_exists(final) != 0) {
		hl_error("host '%s' already has VM '%s'", h->name, name);
		goto out;
	}
	if (hl_file_mkdirs(vms, 0700) < 0)
		goto out;
	if (!mkdtemp(tmp)) {
		hl_error_errno("cannot create a folder in '%s'", vms);
		free(tmp);
		tmp = NULL;
		goto out;
	}
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		free(a);
		free(b);
		if (!(a = join(bundle, files[i])) | !(b = join(tmp, files[i]))) {
			hl_error("out of memory");
			goto out;
		}
		if (hl_vm_copy_file(a, b, i == 0 ? 0600 : 0644) < 0)
			goto out;
	}
	free(a);
	free(b);
	b = NULL;
	if (!(a = join(bundle, "vtpm/tpm2-00.permall")) || !(b = join(tmp, "vtpm"))) {
		hl_error("out of memory");
		goto out;
	}
	if (mkdir(b, 0700) < 0) {
		hl_error_errno("cannot create '%s'", b);
		goto out;
	}
	free(b);
	if (!(b = join(tmp, "vtpm/tpm2-00.permall")) || hl_vm_copy_file(a, b, 0600) < 0)
		goto out;
	if (rename(tmp, final) < 0) {
		hl_error_errno("cannot install VM '%s'", final);
		goto out;
	}
	free(tmp);
	tmp = NULL;
	snprintf(name_out, size, "%s", name);
	rc = 0;
out:
	if (tmp)
		hl_file_rmtree(tmp);
	json_decref(cfg);
	free(cfgp);
	free(vms);
	free(final);
	free(tmp);
	free(a);
	free(b);
	return rc;
}

/* RFC 3339 UTC now. */
static void now_rfc3339(char *buf, size_t size)
{
	time_t t = time(NULL);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Write the keeper's state.json in VMDIR. */
static void write_state(const char *vmdir, const char *state, const char *policy, long pid,
			const json_t *workload, const char *error, const char *accel)
{
	char since[32], *path = join(vmdir, "state.json"), *text = NULL;
	json_t *o;

	now_rfc3339(since, sizeof(since));
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

/*
 * The VM keeper (a forked, detached child): run the VM, report "running" or
 * the failure on REPORT_FD, then wait for QEMU's end.  Never returns.
 */
static void keeper(const char *vmdir, const char *policy, const struct hl_buf *tk,
		   const struct hosts_vm_start *o, int report_fd)
{
	struct hosts_vm_launch l = { 0 };
	struct hosts_vm_proc *p = NULL;
	char *run = join(vmdir, "run"), *disk = join(vmdir, "disk.img"),
	     *vtpm = join(vmdir, "vtpm"), *log = join(vmdir, "keeper.log");
	json_t *ev = NULL, *wl;
	const char *accel;
	char *text = NULL;
	int fd;

	setsid();
	if ((fd = open("/dev/null", O_RDONLY)) >= 0) {
		dup2(fd, 0);
		close(fd);
	}
	if (log && (fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600)) >= 0) {
		dup2(fd, 1);
		dup2(fd, 2);
		close(fd);
	}
	hl_child_cleanup_install(-1);
	accel = !strcmp(o->accel, "auto") ? hosts_vm_accel_auto() : o->accel;
	if (!run || !disk || !vtpm || hl_file_mkdirs(run, 0700) < 0) {
		report(report_fd, "error cannot prepare the VM's run folder");
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
	if (hosts_vm_launch(&l, &p) < 0 || hosts_vm_await(p, "running", o->wait_s, NULL, &ev) < 0) {
		char line[HL_ERROR_MAX + 8];

		snprintf(line, sizeof(line), "error %s", hl_error_last());
		write_state(vmdir, "Off", policy, 0, NULL, hl_error_last(), accel);
		report(report_fd, line);
		hosts_vm_proc_free(p);
		_exit(1);
	}
	/* the TK is in swtpm now: this process (a copy of start-vm's memory) forgets it */
	hl_buf_free((struct hl_buf *)tk);
	wl = json_object_get(ev, "workload");
	write_state(vmdir, "Running", policy, (long)getpid(), wl, NULL, accel);
	if (hl_json_dump(ev, &text) == 0) {
		char *line = NULL;
		if (asprintf(&line, "running %s", text) >= 0)
			report(report_fd, line);
		free(line);
	}
	free(text);
	close(report_fd);
	fprintf(stderr, "keeper: VM running after %.1f s (accel %s)\n", hosts_vm_elapsed(p), accel);
	hosts_vm_end(p, -1);
	hosts_vm_proc_free(p);
	write_state(vmdir, "Off", policy, 0, wl, NULL, accel);
	fprintf(stderr, "keeper: VM stopped\n");
	json_decref(ev);
	_exit(0);
}

/* start-vm. */
int hosts_vm_start(const struct host *h, const char *name, const struct hl_buf *tk,
		   const struct hosts_vm_start *o, json_t **report_out)
{
	json_t *cfg = NULL, *state = NULL;
	const char *policy = NULL;
	char *vmdir = NULL, buf[HL_ERROR_MAX + 8192];
	size_t have = 0;
	int pfd[2] = { -1, -1 }, rc = -1;
	pid_t pid;
	long long deadline;

	*report_out = NULL;
	if (hosts_vm_load(h, name, &cfg, &state) < 0 || hosts_vm_dir(h, name, &vmdir) < 0)
		goto out;
	if (hosts_vm_alive(state)) {
		hl_error("VM '%s' already runs on host '%s' (stop it with `hgslab host stop-vm`)",
			 name, h->name);
		goto out;
	}
	if (hl_json_get_string(cfg, "policy", &policy) < 0)
		goto out;
	if (pipe2(pfd, O_CLOEXEC) < 0) {
		hl_error_errno("cannot create a pipe");
		goto out;
	}
	fflush(NULL);
	if ((pid = fork()) < 0) {
		hl_error_errno("cannot fork the VM keeper");
		goto out;
	}
	if (pid == 0) {
		close(pfd[0]);
		keeper(vmdir, policy, tk, o, pfd[1]);
	}
	close(pfd[1]);
	pfd[1] = -1;
	deadline = now_ms() + (long long)(o->wait_s + 20) * 1000;
	for (;;) {
		struct pollfd pf = { pfd[0], POLLIN, 0 };
		long long left = deadline - now_ms();
		ssize_t n;
		char *nl;

		if (left <= 0) {
			kill(pid, SIGTERM);
			hl_error("the VM keeper did not report within %d s", o->wait_s + 20);
			goto out;
		}
		if (poll(&pf, 1, (int)(left > 1000 ? 1000 : left)) <= 0)
			continue;
		n = read(pfd[0], buf + have, sizeof(buf) - 1 - have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			hl_error("the VM keeper ended without a report; see '%s/keeper.log'", vmdir);
			goto out;
		}
		have += (size_t)n;
		buf[have] = '\0';
		if (!(nl = strchr(buf, '\n')))
			continue;
		*nl = '\0';
		if (!strncmp(buf, "running ", 8)) {
			if (hl_json_parse(buf + 8, strlen(buf + 8), 0, report_out) < 0)
				goto out;
			rc = 0;
		} else {
			hl_error("%s", !strncmp(buf, "error ", 6) ? buf + 6 : buf);
		}
		goto out;
	}
out:
	if (pfd[0] >= 0)
		close(pfd[0]);
	if (pfd[1] >= 0)
		close(pfd[1]);
	json_decref(cfg);
	json_decref(state);
	free(vmdir);
	return rc;
}

/* Send one QMP command line and read until its reply (events skipped). */
static int qmp_cmd(int fd, FILE *in, const char *cmd)
{
	char line[4096];

	if (write(fd, cmd, strlen(cmd)) != (ssize_t)strlen(cmd))
		return hl_error_errno("cannot talk to QEMU's QMP socket");
	while (fgets(line, sizeof(line), in))
		if (strstr(line, "\"return\""))
			return 0;
		else if (strstr(line, "\"error\""))
			return hl_error("QEMU refused %s: %s", cmd, line);
	return hl_error("QEMU closed QMP before answering");
}

/* stop-vm. */
int hosts_vm_stop(const struct host *h, const char *name, int wait_s)
{
	json_t *cfg = NULL, *state = NULL;
	char *vmdir = NULL, *qmp = NULL, greet[4096];
	json_int_t pid = 0;
	long long deadline;
	FILE *in = NULL;
	int fd = -1, rc = -1;

	if (hosts_vm_load(h, name, &cfg, &state) < 0 || hosts_vm_dir(h, name, &vmdir) < 0)
		goto out;
	if (!hosts_vm_alive(state)) {
		hl_error("VM '%s' is not running on host '%s'", name, h->name);
		goto out;
	}
	hl_json_get_int_opt(state, "keeper_pid", 0, &pid);
	if (!(qmp = join(vmdir, "run/qmp.sock")))
		goto out;
	if (connect_unix(qmp, &fd) == 0 && (in = fdopen(dup(fd), "r"))) {
		struct timeval tv = { 10, 0 };
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(fileno(in), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		if (!fgets(greet, sizeof(greet), in) ||
		    qmp_cmd(fd, in, "{\"execute\":\"qmp_capabilities\"}\n") < 0 ||
		    qmp_cmd(fd, in, "{\"execute\":\"system_powerdown\"}\n") < 0)
			fprintf(stderr, "host stop-vm: QMP: %s; stopping the keeper\n",
				hl_error_last());
	}
	deadline = now_ms() + (long long)wait_s * 1000;
	while (pid_running((pid_t)pid) && now_ms() < deadline) {
		struct timespec ts = { 0, 50 * 1000000 };
		nanosleep(&ts, NULL);
	}
	if (pid_running((pid_t)pid)) {
		fprintf(stderr, "host stop-vm: the guest did not power off within %d s; stopping "
			"QEMU\n", wait_s);
		kill((pid_t)pid, SIGTERM);
		deadline = now_ms() + 10000;
		while (pid_running((pid_t)pid) && now_ms() < deadline) {
			struct timespec ts = { 0, 50 * 1000000 };
			nanosleep(&ts, NULL);
		}
		if (pid_running((pid_t)pid))
			kill((pid_t)pid, SIGKILL);
		write_state(vmdir, "Off", json_string_value(json_object_get(cfg, "policy")), 0,
			    json_object_get(state, "workload"), "stopped by force", NULL);
	}
	rc = 0;
out:
	if (in)
		fclose(in);
	if (fd >= 0)
		close(fd);
	json_decref(cfg);
	json_decref(state);
	free(vmdir);
	free(qmp);
	return rc;
}
