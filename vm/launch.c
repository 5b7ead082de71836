/*
 * launch.c - the VM launcher (launch.h): swtpm with the TK through a pipe,
 * QEMU with the vTPM and the guest agent's virtio-serial channel, the agent's
 * events and the host's lines to it, the end of a run, the QMP power-off request and the KVM probe.
 * Every process goes through lib/child, so nothing of a run outlives its
 * owner.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "lib/child.h"
#include "lib/clock.h"
#include "lib/err.h"
#include "lib/fileio.h"
#include "lib/json.h"
#include "proto/keyprotector.h"
#include "vm/launch.h"

/* One VM run.  Invariant: qemu is set only when swtpm is; agent_fd >= 0 once QEMU connected. */
struct vm_launch_proc {
	struct hl_child *swtpm;
	struct hl_child *qemu;
	int lfd;
	int afd;
	char buf[8192];
	size_t have;
	long long t0;
};

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

/* A unix socket on PATH into *FD: listening (the old PATH replaced) with LISTENING, else connected. */
static int unix_socket(const char *path, int listening, int *fd)
{
	struct sockaddr_un sa;
	int s;

	*fd = -1;
	if (sock_path_ok(path) < 0)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if (listening)
		unlink(path);
	if ((s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return hl_error_errno("cannot create a unix socket");
	if (listening && (bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(s, 1) < 0)) {
		close(s);
		return hl_error_errno("cannot listen on '%s'", path);
	}
	if (!listening && connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(s);
		return hl_error_errno("cannot connect to '%s'", path);
	}
	*fd = s;
	return 0;
}

/* The guest folder: --guest, $HGSLAB_GUEST_DIR, or build/guest beside the binary or here. */
char *vm_launch_guest_dir(const char *given)
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
void vm_launch_proc_free(struct vm_launch_proc *p)
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
static int launch_swtpm(const struct vm_launch *l, struct vm_launch_proc *p,
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
int vm_launch(const struct vm_launch *l, struct vm_launch_proc **out)
{
	struct vm_launch_proc *p = NULL;
	char *swsock = NULL, *agsock = NULL, *swlog = NULL, *qlog = NULL, *kernel = NULL;
	char *initrd = NULL, *a_serial = NULL;
	char *a_tpm = NULL, *a_agent = NULL, *a_plain = NULL, *a_disk = NULL, *a_qmp = NULL;
	char *a_template = NULL;
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
	p->t0 = hl_clock_ms();
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
	    hl_file_exists(VM_LAUNCH_QBOOT) != 1) {
		hl_error("no guest in '%s' (vmlinuz, initramfs.cpio) or no %s: run `make guest` "
			 "and `make deps`, or give --guest DIR", l->guest_dir, VM_LAUNCH_QBOOT);
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
	if (unix_socket(agsock, 1, &p->lfd) < 0)
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
	if (l->template_disk &&
	    asprintf(&a_template, "file=%s,if=none,id=template,format=raw,readonly=on",
		     l->template_disk) < 0) {
		a_template = NULL;
		hl_error("out of memory");
		goto out;
	}
	argv[n++] = "qemu-system-x86_64";
	argv[n++] = "-machine"; argv[n++] = a_machine;
	argv[n++] = "-cpu"; argv[n++] = "max";
	argv[n++] = "-m"; argv[n++] = "256";
	argv[n++] = "-nodefaults"; argv[n++] = "-display"; argv[n++] = "none";
	argv[n++] = "-no-reboot";
	argv[n++] = "-bios"; argv[n++] = VM_LAUNCH_QBOOT;
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
	if (l->template_disk) {
		argv[n++] = "-drive"; argv[n++] = a_template;
		argv[n++] = "-device"; argv[n++] = "virtio-blk-pci,drive=template,serial=hgslab-template";
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
	vm_launch_proc_free(p);
	free(swsock); free(agsock); free(swlog); free(qlog); free(kernel); free(initrd);
	free(a_serial); free(a_tpm); free(a_agent);
	free(a_plain); free(a_template); free(a_disk); free(a_qmp); free(a_machine); free(a_append);
	free(console); free(qmp);
	return rc;
}

/* Seconds since the launch (swtpm's start, then QEMU's). */
double vm_launch_elapsed(const struct vm_launch_proc *p)
{
	return (double)(hl_clock_ms() - p->t0) / 1000;
}

/*
 * Take the complete event lines buffered in P: 1 when one is WANT (*EVENT
 * gets it, or it is freed), -1 after an "error" event (its stage and reason
 * in the message), 0 when no buffered line settles the wait.
 */
static int take_lines(struct vm_launch_proc *p, const char *want, const char *progress,
		      json_t **event)
{
	char *nl;

	while ((nl = strchr(p->buf, '\n'))) {
		json_t *ev;
		const char *name = "", *stage = "?", *reason = "?";
		int done = 0, failed = 0;

		*nl = '\0';
		if ((ev = json_loads(p->buf, 0, NULL))) {
			hl_json_get_string_opt(ev, "event", "", &name);
			if (progress && !strcmp(name, "started"))
				fprintf(stderr, "%s: guest agent started after %.1f s\n", progress,
					vm_launch_elapsed(p));
			if (!strcmp(name, want))
				done = 1;
			else if (!strcmp(name, "error")) {
				hl_json_get_string_opt(ev, "stage", "?", &stage);
				hl_json_get_string_opt(ev, "reason", "?", &reason);
				hl_error("the guest reported an error at stage %s: %s", stage, reason);
				failed = 1;
			}
		}
		p->have -= (size_t)(nl + 1 - p->buf);
		memmove(p->buf, nl + 1, p->have + 1);
		if (done) {
			if (progress)
				fprintf(stderr, "%s: %s after %.1f s\n", progress, want,
					vm_launch_elapsed(p));
			if (event)
				*event = ev;
			else
				json_decref(ev);
			return 1;
		}
		json_decref(ev);
		if (failed)
			return -1;
	}
	return 0;
}

/* Accept QEMU's connection to the agent channel (it connects at its start). */
static int accept_agent(struct vm_launch_proc *p)
{
	if ((p->afd = accept4(p->lfd, NULL, NULL, SOCK_CLOEXEC)) < 0)
		return hl_error_errno("cannot accept QEMU's agent channel");
	return 0;
}

/* Wait for the guest's event WANT (lines already buffered first). */
int vm_launch_await(struct vm_launch_proc *p, const char *want, int timeout_s,
		    const char *progress, json_t **event)
{
	long long deadline = hl_clock_ms() + (long long)timeout_s * 1000;
	long long next_note = hl_clock_ms() + 5000;

	if (event)
		*event = NULL;
	for (;;) {
		long long now = hl_clock_ms();
		int fd, r;
		ssize_t n;

		if ((r = take_lines(p, want, progress, event)) != 0)
			return r > 0 ? 0 : -1;
		if (now >= deadline)
			return hl_error("the guest did not report '%s' within %d s (give it more "
					"time on a busy machine)", want, timeout_s);
		if (progress && now >= next_note) {
			fprintf(stderr, "%s: boot running, %.0f s\n", progress, vm_launch_elapsed(p));
			next_note += 5000;
		}
		fd = p->afd >= 0 ? p->afd : p->lfd;
		r = hl_child_poll(p->qemu, fd, POLLIN, 1000);
		if (r < 0)
			return hl_error_wrap("QEMU ended before the guest reported '%s'", want);
		if (r == 0)
			continue;
		if (p->afd < 0) {
			if (accept_agent(p) < 0)
				return -1;
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
		/* a line longer than the buffer is no event: drop it */
		if (!strchr(p->buf, '\n') && p->have >= sizeof(p->buf) - 1)
			p->have = 0;
	}
}

/* Write the host's LINE to the agent channel. */
int vm_launch_send(struct vm_launch_proc *p, const void *line, size_t len, int timeout_ms)
{
	long long deadline = hl_clock_ms() + timeout_ms;
	const unsigned char *b = line;
	size_t done = 0;

	while (done < len) {
		long long left = deadline - hl_clock_ms();
		int fd = p->afd >= 0 ? p->afd : p->lfd, r;
		ssize_t n;

		if (left <= 0)
			return hl_error("cannot send to the guest agent: the channel took no data "
					"within %d s", timeout_ms / 1000);
		r = hl_child_poll(p->qemu, fd, p->afd >= 0 ? POLLOUT : POLLIN,
				  left > 1000 ? 1000 : (int)left);
		if (r < 0)
			return hl_error_wrap("cannot send to the guest agent: QEMU ended");
		if (r == 0)
			continue;
		if (p->afd < 0) {
			if (accept_agent(p) < 0)
				return -1;
			continue;
		}
		n = send(p->afd, b + done, len - done, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0)
			return hl_error_errno("cannot send to the guest agent (QEMU closed the "
					      "channel?)");
		done += (size_t)n;
	}
	return 0;
}

/* Wait for QEMU, then swtpm, to end. */
int vm_launch_end(struct vm_launch_proc *p, int ms)
{
	int status = -1;

	if (hl_child_wait(p->qemu, ms, &status) < 0 || status < 0)
		hl_child_stop(p->qemu, 2000, &status);
	if (p->swtpm && (hl_child_wait(p->swtpm, 5000, &status) < 0 || status < 0))
		hl_child_stop(p->swtpm, 3000, &status);
	return 0;
}

/* Remove the run's sockets and logs. */
void vm_launch_scratch_remove(const char *run_dir)
{
	static const char *const scratch[] = { "swtpm.sock", "agent.sock", "qmp.sock", "swtpm.log",
					       "qemu.log", "console.log" };
	size_t i;

	for (i = 0; i < sizeof(scratch) / sizeof(scratch[0]); i++) {
		char *f = join(run_dir, scratch[i]);
		if (f)
			unlink(f);
		free(f);
	}
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

/* QMP system_powerdown on RUN_DIR/qmp.sock. */
int vm_launch_powerdown(const char *run_dir)
{
	struct timeval tv = { 10, 0 };
	char *qmp = NULL, greet[4096];
	FILE *in = NULL;
	int fd = -1, rc = -1;

	if (!(qmp = join(run_dir, "qmp.sock"))) {
		hl_error("out of memory");
		goto out;
	}
	if (unix_socket(qmp, 0, &fd) < 0)
		goto out;
	if (!(in = fdopen(dup(fd), "r"))) {
		hl_error_errno("cannot read QEMU's QMP socket");
		goto out;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fileno(in), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	rc = -2;
	if (!fgets(greet, sizeof(greet), in)) {
		hl_error("QEMU closed QMP before answering");
		goto out;
	}
	if (qmp_cmd(fd, in, "{\"execute\":\"qmp_capabilities\"}\n") < 0 ||
	    qmp_cmd(fd, in, "{\"execute\":\"system_powerdown\"}\n") < 0)
		goto out;
	rc = 0;
out:
	if (in)
		fclose(in);
	if (fd >= 0)
		close(fd);
	free(qmp);
	return rc;
}

/* KVM only when proved: cpuinfo, /dev/kvm, and a QEMU that stays up with it. */
const char *vm_launch_accel_auto(void)
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
