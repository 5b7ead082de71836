/*
 * launch.c - the VM launcher (launch.h): swtpm with the TK through a pipe,
 * QEMU with the vTPM and the guest agent's virtio-serial channel, the agent's
 * events and the host's lines to it, the end of a run, QMP over a socket
 * pair only the launcher holds (an allow-list of commands) and the KVM probe.
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
#include <sys/un.h>
#include <unistd.h>

#include "lib/child.h"
#include "lib/clock.h"
#include "lib/err.h"
#include "lib/fileio.h"
#include "lib/json.h"
#include "lib/selfpath.h"
#include "proto/keyprotector.h"
#include "vm/launch.h"

/* The QMP commands the launcher sends (launch.h): nothing else ever reaches QEMU's monitor. */
static const char *const qmp_allowed[] = { "qmp_capabilities", "query-status", "system_powerdown" };

/* Bound on one QMP answer. */
#define QMP_REPLY_MS 10000

/*
 * One VM run.  Invariants: qemu is set only when swtpm is (or no vTPM);
 * afd >= 0 once QEMU connected the agent channel; qfd >= 0 while QMP is
 * open (its other end is QEMU's), qmp_ready once capabilities were sent.
 */
struct vm_launch_proc {
	struct hl_child *swtpm;
	struct hl_child *qemu;
	int lfd;
	int afd;
	int qfd;
	int qmp_ready;
	char buf[8192];
	size_t have;
	char qbuf[8192];
	size_t qhave;
	long long t0;
};

/*
 * The run folder's sockets.  A socket's path holds at most 107 bytes, and a
 * run folder may lie deep (a lab's host under a test's temporary folder, a
 * provisioning staging folder).  So every process names them through a
 * descriptor of the run folder: /proc/self/fd/N/NAME, short whatever the
 * folder's path.  The launcher holds the folder as RFD; swtpm and QEMU
 * inherit it as their fd RUN_FD.
 */
#define RUN_FD 5
#define SOCK_SWTPM "swtpm.sock"
#define SOCK_AGENT "agent.sock"
#define SOCK_CONSOLE "console.sock"

/* "/proc/self/fd/FD/NAME" into BUF (at most 40 bytes). */
static const char *via_fd(char *buf, size_t size, int fd, const char *name)
{
	snprintf(buf, size, "/proc/self/fd/%d/%s", fd, name);
	return buf;
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

/*
 * The guest folder: --guest, $HGSLAB_GUEST_DIR, the source tree's build/guest
 * beside the binary (bin/, build/X/bin/), the installed PREFIX/share/hgslab/guest
 * beside PREFIX/bin, else build/guest here.
 */
char *vm_launch_guest_dir(const char *given)
{
	static const char *const rel[] = { "../build/guest", "../../guest", "../../build/guest",
					   "../share/hgslab/guest" };
	const char *env = getenv("HGSLAB_GUEST_DIR");
	char *found;

	if (given)
		return strdup(given);
	if (env && *env)
		return strdup(env);
	if (hl_self_find(rel, sizeof(rel) / sizeof(rel[0]), "vmlinuz", &found) < 0)
		return NULL;
	return found ? found : strdup("build/guest");
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
	if (p->qfd >= 0)
		close(p->qfd);
	free(p);
}

/* swtpm on L's vTPM state into P, the state key through a pipe read as fd 3. */
static int launch_swtpm(const struct vm_launch *l, struct vm_launch_proc *p, int rfd,
			const char *swlog)
{
	char child_sock[48], own_sock[48];
	char *a_state = NULL, *a_ctrl = NULL, *a_log = NULL;
	int pfd[2] = { -1, -1 }, dfd = -1, rc = -1;

	/*
	 * The state folder as a descriptor swtpm inherits (its fd 4): swtpm writes its
	 * state through /proc/self/fd/4, so the folder may be renamed while it runs (a
	 * provisioned VM's staging folder becomes vms/VM under a running guest).
	 */
	if ((dfd = open(l->vtpm_dir, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0) {
		hl_error_errno("cannot open the vTPM state folder '%s'", l->vtpm_dir);
		goto out;
	}
	if (pipe2(pfd, O_CLOEXEC) < 0 ||
	    write(pfd[1], l->tk->data, l->tk->len) != (ssize_t)l->tk->len) {
		hl_error_errno("cannot pass the state key to swtpm");
		goto out;
	}
	close(pfd[1]);
	pfd[1] = -1;
	if (asprintf(&a_state, "dir=/proc/self/fd/%d", VM_LAUNCH_VTPM_FD) < 0 ||
	    asprintf(&a_ctrl, "type=unixio,path=%s",
		     via_fd(child_sock, sizeof(child_sock), RUN_FD, SOCK_SWTPM)) < 0 ||
	    asprintf(&a_log, "file=%s", swlog) < 0) {
		a_state = a_ctrl = a_log = NULL;
		hl_error("out of memory");
		goto out;
	}
	{
		const char *sargv[] = { "swtpm", "socket", "--tpm2", "--tpmstate", a_state, "--ctrl",
					a_ctrl, "--log", a_log, "--key",
					"fd=3,format=binary,mode=aes-256-cbc", NULL };
		struct hl_child_fd cfd[3] = { { pfd[0], 3 }, { dfd, VM_LAUNCH_VTPM_FD },
					      { rfd, RUN_FD } };
		struct hl_child_opts co = { 0 };

		co.name = "swtpm";
		co.log_path = swlog;
		co.fds = cfd;
		co.nfds = 3;
		if (hl_child_spawn(sargv, &co, &p->swtpm) < 0)
			goto out;
		close(pfd[0]);
		pfd[0] = -1;
		if (hl_child_wait_unix(p->swtpm, via_fd(own_sock, sizeof(own_sock), rfd, SOCK_SWTPM),
				       10000) < 0)
			goto out;
	}
	rc = 0;
out:
	if (pfd[0] >= 0)
		close(pfd[0]);
	if (pfd[1] >= 0)
		close(pfd[1]);
	if (dfd >= 0)
		close(dfd);
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
	char *a_machine = NULL, *a_append = NULL, *console = NULL;
	char c_sw[48], c_ag[48], c_con[48], own[48];
	const char *argv[64];
	const char *extra = l->append && *l->append ? l->append : NULL;
	int rc = -1, n = 0, qsp[2] = { -1, -1 }, rfd = -1;

	*out = NULL;
	if (l->vtpm_dir && (!l->tk || l->tk->len != HL_KP_TK_LEN))
		return hl_error("no vTPM state key for the VM (need %d bytes)", HL_KP_TK_LEN);
	if (!(p = calloc(1, sizeof(*p))))
		return hl_error("out of memory");
	p->lfd = p->afd = p->qfd = -1;
	/* a run's time counts from here: swtpm's start is part of a shielded boot */
	p->t0 = hl_clock_ms();
	if (!(swsock = join(l->run_dir, "swtpm.sock")) || !(agsock = join(l->run_dir, "agent.sock")) ||
	    !(swlog = join(l->run_dir, "swtpm.log")) || !(qlog = join(l->run_dir, "qemu.log")) ||
	    !(kernel = join(l->guest_dir, "vmlinuz")) ||
	    !(initrd = join(l->guest_dir, "initramfs.cpio")) ||
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
	if ((rfd = open(l->run_dir, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0) {
		hl_error_errno("cannot open the VM's run folder '%s'", l->run_dir);
		goto out;
	}
	unlink(swsock);
	if (l->console == 2)
		unlink(console);
	if (l->vtpm_dir && launch_swtpm(l, p, rfd, swlog) < 0)
		goto out;

	/* QEMU. */
	if (unix_socket(via_fd(own, sizeof(own), rfd, SOCK_AGENT), 1, &p->lfd) < 0)
		goto out;
	via_fd(c_sw, sizeof(c_sw), RUN_FD, SOCK_SWTPM);
	via_fd(c_ag, sizeof(c_ag), RUN_FD, SOCK_AGENT);
	via_fd(c_con, sizeof(c_con), RUN_FD, SOCK_CONSOLE);
	if (asprintf(&a_machine, "pc,accel=%s", l->accel ? l->accel : "tcg") < 0 ||
	    /*
	     * cryptomgr.notests: the kernel's crypto self-tests (known-answer tests
	     * of every algorithm it registers, run at boot: ~0.3 s of guest CPU
	     * under TCG) guard against a broken implementation, not an attacker;
	     * the algorithms are still the stock kernel's (guest/README.md).
	     */
	    asprintf(&a_append, "console=ttyS0 quiet mitigations=off panic=-1 "
		     "initcall_blacklist=init_ima cryptomgr.notests hgslab.mode=%s%s%s%s", l->mode,
		     l->then_run ? " hgslab.then=run" : "", extra ? " " : "", extra ? extra : "") < 0 ||
	    asprintf(&a_tpm, "socket,id=chrtpm,path=%s", c_sw) < 0 ||
	    asprintf(&a_agent, "socket,id=agent,path=%s", c_ag) < 0 ||
	    asprintf(&a_disk, "file=%s,if=none,id=disk,format=raw", l->disk) < 0 ||
	    asprintf(&a_qmp, "socket,id=qmp,fd=%d", VM_LAUNCH_QMP_FD) < 0 ||
	    asprintf(&a_serial, l->console == 2 ? "unix:%s,server=on,wait=off" : "file:%s",
		     l->console == 2 ? c_con : console) < 0) {
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
		/* QMP on a socketpair: QEMU's end is its fd VM_LAUNCH_QMP_FD, no path anyone could open */
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, qsp) < 0) {
			hl_error_errno("cannot create QMP's socket pair");
			goto out;
		}
		argv[n++] = "-chardev"; argv[n++] = a_qmp;
		argv[n++] = "-mon"; argv[n++] = "chardev=qmp,mode=control";
	}
	argv[n] = NULL;
	{
		struct hl_child_opts co = { 0 };
		struct hl_child_fd cfd[2] = { { rfd, RUN_FD }, { qsp[1], VM_LAUNCH_QMP_FD } };

		co.name = "qemu";
		co.log_path = qlog;
		co.fds = cfd;
		co.nfds = l->qmp ? 2 : 1;
		if (hl_child_spawn(argv, &co, &p->qemu) < 0)
			goto out;
	}
	if (l->qmp) {
		p->qfd = qsp[0];
		qsp[0] = -1;
	}
	*out = p;
	p = NULL;
	rc = 0;
out:
	vm_launch_proc_free(p);
	free(swsock); free(agsock); free(swlog); free(qlog); free(kernel); free(initrd);
	free(a_serial); free(a_tpm); free(a_agent);
	free(a_plain); free(a_template); free(a_disk); free(a_qmp); free(a_machine); free(a_append);
	free(console);
	if (rfd >= 0)
		close(rfd);
	if (qsp[0] >= 0)
		close(qsp[0]);
	if (qsp[1] >= 0)
		close(qsp[1]);
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
	static const char *const scratch[] = { "swtpm.sock", "agent.sock", "swtpm.log", "qemu.log",
					       "console.log" };
	size_t i;

	for (i = 0; i < sizeof(scratch) / sizeof(scratch[0]); i++) {
		char *f = join(run_dir, scratch[i]);
		if (f)
			unlink(f);
		free(f);
	}
}

/* Poll FD while QEMU and the vTPM's swtpm run (swtpm checked every VM_LAUNCH_SWTPM_CHECK_MS). */
int vm_launch_poll(struct vm_launch_proc *p, int fd, int timeout_ms)
{
	long long deadline = timeout_ms < 0 ? -1 : hl_clock_ms() + timeout_ms;

	for (;;) {
		long long left = deadline < 0 ? VM_LAUNCH_SWTPM_CHECK_MS : deadline - hl_clock_ms();
		int r = hl_child_poll(p->qemu, fd, POLLIN, (int)(left < VM_LAUNCH_SWTPM_CHECK_MS ?
								  (left > 0 ? left : 0) :
								  VM_LAUNCH_SWTPM_CHECK_MS));

		if (r != 0)
			return r < 0 ? hl_error_wrap("QEMU ended") : r;
		if (p->swtpm && !hl_child_running(p->swtpm)) {
			hl_error("the vTPM's swtpm ended (status %d): the VM has no TPM",
				 hl_child_status(p->swtpm));
			return -2;
		}
		if (deadline >= 0 && hl_clock_ms() >= deadline)
			return 0;
	}
}

/*
 * The next line QEMU writes on QMP into *LINE (parsed), within the deadline
 * DEADLINE (hl_clock_ms); -1 when QEMU closed QMP, ended or took too long.
 */
static int qmp_line(struct vm_launch_proc *p, long long deadline, json_t **line)
{
	char *nl;

	*line = NULL;
	while (!(nl = memchr(p->qbuf, '\n', p->qhave))) {
		long long left = deadline - hl_clock_ms();
		ssize_t n;
		int r;

		if (p->qhave >= sizeof(p->qbuf))
			return hl_error("QEMU sent a QMP line longer than %zu bytes", sizeof(p->qbuf));
		if (left <= 0)
			return hl_error("QEMU did not answer on QMP within %d s", QMP_REPLY_MS / 1000);
		if ((r = hl_child_poll(p->qemu, p->qfd, POLLIN, (int)left)) < 0)
			return hl_error_wrap("QEMU ended before it answered on QMP");
		if (r == 0)
			continue;
		n = read(p->qfd, p->qbuf + p->qhave, sizeof(p->qbuf) - p->qhave);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return hl_error("QEMU closed QMP");
		p->qhave += (size_t)n;
	}
	*nl = '\0';
	if (hl_json_parse(p->qbuf, (size_t)(nl - p->qbuf), 0, line) < 0)
		hl_error_wrap("QEMU sent a QMP line that is not JSON");
	p->qhave -= (size_t)(nl + 1 - p->qbuf);
	memmove(p->qbuf, nl + 1, p->qhave);
	return *line ? 0 : -1;
}

/* Send COMMAND (an allowed one) and wait for its reply, events skipped; "return" into *RET. */
static int qmp_exchange(struct vm_launch_proc *p, const char *command, json_t **ret)
{
	long long deadline = hl_clock_ms() + QMP_REPLY_MS;
	json_t *cmd = json_pack("{s:s}", "execute", command), *line = NULL;
	char *text = NULL;
	size_t len;
	int rc = -1;

	if (!cmd || hl_json_dump(cmd, &text) < 0) {
		hl_error("out of memory");
		goto out;
	}
	len = strlen(text);
	text[len] = '\n';
	if (send(p->qfd, text, len + 1, MSG_NOSIGNAL) != (ssize_t)(len + 1)) {
		hl_error_errno("cannot send '%s' on QMP", command);
		goto out;
	}
	for (;;) {
		json_t *r, *e;

		json_decref(line);
		if (qmp_line(p, deadline, &line) < 0)
			goto out;
		if ((r = json_object_get(line, "return"))) {
			if (ret)
				*ret = json_incref(r);
			rc = 0;
			goto out;
		}
		if ((e = json_object_get(line, "error"))) {
			hl_error("QEMU refused '%s': %s", command,
				 json_string_value(json_object_get(e, "desc")) ?
				 json_string_value(json_object_get(e, "desc")) : "no reason given");
			goto out;
		}
		/* an event ({"event":...}) is no answer: read on */
	}
out:
	json_decref(line);
	json_decref(cmd);
	free(text);
	return rc;
}

/* One allowed QMP command, after the greeting and qmp_capabilities the first time. */
int vm_launch_qmp(struct vm_launch_proc *p, const char *command, json_t **ret)
{
	size_t i;

	if (ret)
		*ret = NULL;
	for (i = 0; i < sizeof(qmp_allowed) / sizeof(qmp_allowed[0]); i++)
		if (!strcmp(command, qmp_allowed[i]))
			break;
	if (i == sizeof(qmp_allowed) / sizeof(qmp_allowed[0]))
		return hl_error("QMP command '%s' is not one the lab sends (only qmp_capabilities, "
				"query-status and system_powerdown)", command);
	if (p->qfd < 0)
		return hl_error("this VM run has no QMP");
	if (!p->qmp_ready) {
		json_t *greet = NULL;

		if (qmp_line(p, hl_clock_ms() + QMP_REPLY_MS, &greet) < 0)
			return -1;
		if (!json_object_get(greet, "QMP")) {
			json_decref(greet);
			return hl_error("QEMU's QMP did not greet");
		}
		json_decref(greet);
		if (qmp_exchange(p, "qmp_capabilities", NULL) < 0)
			return -1;
		p->qmp_ready = 1;
	}
	if (!strcmp(command, "qmp_capabilities"))
		return 0;
	return qmp_exchange(p, command, ret);
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
