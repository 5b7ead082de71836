/*
 * agent.c - the hgslab guest agent: PID 1 of a shielded VM's initramfs.
 *
 * The kernel starts it as /init.  It mounts /proc, /sys, /dev and /run, loads
 * the virtio, dm-crypt and ACPI button modules (busybox modprobe over the
 * modules.dep the builder made), opens the virtio-serial channel to the host
 * and runs the mode the kernel command line names:
 *
 *   hgslab.mode=provision  draw a disk key from the vTPM, LUKS2-format the
 *                          VM's disk with it, copy the tenant's plain disk in,
 *                          seal the key into the vTPM, report "provisioned",
 *                          power off (provision.c);
 *   hgslab.mode=specialize the same from a signed template disk checked
 *                          against the host's shielding data, then
 *                          specialized with its secrets (provision.c);
 *                          with hgslab.then=run (new-shielded-vm --start)
 *                          the volume, reopened read-only with the key in
 *                          hand, is mounted and the VM goes on as in run
 *                          mode instead of powering off;
 *   hgslab.mode=run        unseal the key, open and mount the volume, run the
 *                          workload, report "running" (with the computer
 *                          name from the volume's /etc/hostname), then stay
 *                          up until the ACPI power button (QMP
 *                          system_powerdown) or, with hgslab.oneshot=1, power
 *                          off at once;
 *   hgslab.mode=plain      the same on the tenant's plain disk, without vTPM
 *                          or LUKS: the unshielded baseline for benchmarks.
 *
 * Any failure is reported as {"event":"error","stage":...,"reason":...} and
 * the VM powers off.  guest/README.md has the protocol and the reasons.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/input.h>
#include <linux/reboot.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "guest/agent.h"

#define TPM_DEV "/dev/tpm0"
#define DEFAULT_PORT "org.hgslab.agent"
#define DEVICE_WAIT_MS 5000

/* What the kernel command line asks for. */
struct agent_opts {
	enum { MODE_NONE, MODE_PROVISION, MODE_SPECIALIZE, MODE_RUN, MODE_PLAIN } mode;
	char mode_arg[32];   /* the raw hgslab.mode= value, for the error */
	bool oneshot;        /* run mode: power off after the report */
	bool then_run;       /* hgslab.then=run: specialize goes on into run mode */
	bool debug;          /* hgslab.debug: libcryptsetup's debug log on the console */
	char hash[1024];     /* hgslab.hash=: files to hash, comma-separated */
	char port[128];      /* hgslab.port=: virtio-serial port name */
};

static char errbuf[512];
static int sigfd = -1;

/* Set the one error message (see agent.h). */
int agent_err(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(errbuf, sizeof(errbuf), fmt, ap);
	va_end(ap);
	return -1;
}

/* The message agent_err() set last. */
const char *agent_errmsg(void)
{
	return errbuf[0] ? errbuf : "unknown error";
}

/* A console line with the uptime; never a key or tenant data. */
void agent_log(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, AGENT_NAME " [%ld ms]: ", agent_uptime_ms());
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* Milliseconds since boot. */
long agent_uptime_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Sleep MS milliseconds (device polling during boot only). */
static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Poll for PATH every 10 ms, at most TIMEOUT_MS (devices during boot). */
int agent_wait_path(const char *path, int timeout_ms)
{
	long end = agent_uptime_ms() + timeout_ms;

	while (access(path, F_OK) < 0) {
		if (agent_uptime_ms() >= end)
			return -1;
		sleep_ms(10);
	}
	return 0;
}

/* Keep the last non-empty line of S (in place) for an error message. */
static const char *last_line(char *s)
{
	size_t n = strlen(s);
	char *p;

	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == ' '))
		s[--n] = '\0';
	p = strrchr(s, '\n');
	return p ? p + 1 : s;
}

/* Start ARGV (absolute path) with stdout+stderr on a pipe into *P; see agent.h. */
int agent_spawn(char *const argv[], struct agent_proc *p)
{
	static char *const env[] = { "PATH=/sbin:/bin", "LC_ALL=C", NULL };
	int res[2] = { -1, -1 }, null;
	pid_t pid;

	p->pid = -1;
	p->fd = -1;
	p->name = argv[0];
	if (pipe2(res, O_CLOEXEC) < 0)
		return agent_err("cannot run %s: pipe: %s", argv[0], strerror(errno));
	pid = fork();
	if (pid < 0) {
		close(res[0]);
		close(res[1]);
		return agent_err("cannot run %s: fork: %s", argv[0], strerror(errno));
	}
	if (pid == 0) {
		sigset_t none;

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		null = open("/dev/null", O_RDONLY);
		if (null >= 0)
			dup2(null, 0);
		dup2(res[1], 1);
		dup2(res[1], 2);
		execve(argv[0], argv, env);
		_exit(127);
	}
	close(res[1]);
	p->pid = pid;
	p->fd = res[0];
	return 0;
}

/* Collect P's output (the tail) into OUT (may be NULL) and its exit; 0 when it exited 0. */
int agent_finish(struct agent_proc *p, char *out, size_t outlen)
{
	char local[1024];
	int status;
	size_t used = 0;
	ssize_t n;

	if (!out) {
		out = local;
		outlen = sizeof(local);
	}
	out[0] = '\0';
	while ((n = read(p->fd, out + used, outlen - 1 - used)) > 0 || (n < 0 && errno == EINTR)) {
		if (n > 0)
			used += (size_t)n;
		if (used >= outlen - 1) {
			/* Keep the tail: a program's reason is its last line. */
			memmove(out, out + outlen / 2, used - outlen / 2);
			used -= outlen / 2;
		}
	}
	out[used] = '\0';
	close(p->fd);
	p->fd = -1;
	while (waitpid(p->pid, &status, 0) < 0)
		if (errno != EINTR)
			return agent_err("cannot run %s: waitpid: %s", p->name, strerror(errno));
	p->pid = -1;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
		return agent_err("cannot run %s: not in the initramfs (rebuild with make guest)", p->name);
	if (WIFEXITED(status))
		return agent_err("%s failed (exit %d): %s", p->name, WEXITSTATUS(status), last_line(out));
	return agent_err("%s was killed by signal %d", p->name, WTERMSIG(status));
}

/* Run ARGV to its end; its output (tail) into OUT (may be NULL). */
int agent_run(char *const argv[], char *out, size_t outlen)
{
	struct agent_proc p;

	if (agent_spawn(argv, &p) < 0)
		return -1;
	return agent_finish(&p, out, outlen);
}

/*
 * jansson's allocator: the host's lines and the decrypted secrets pass
 * through its strings, so what it frees is zeroed first.
 */
static void *json_alloc(size_t size)
{
	return malloc(size);
}

/* Free P after zeroing it (jansson's free). */
static void json_release(void *p)
{
	if (p)
		explicit_bzero(p, malloc_usable_size(p));
	free(p);
}

/* Mount the pseudo filesystems, make fds 0-2 the console, take over signals. */
static void init_system(void)
{
	sigset_t set;
	int fd;

	mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	mount("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	mount("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755");
	mount("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755");
	mkdir("/run/cryptsetup", 0700);
	fd = open("/dev/console", O_RDWR | O_NOCTTY);
	if (fd >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		if (fd > 2)
			close(fd);
	}
	setvbuf(stderr, NULL, _IOLBF, 0);
	json_set_alloc_funcs(json_alloc, json_release);
	setenv("PATH", "/sbin:/bin", 1);
	/* tpm2-tss logs expected misses (an empty handle) as errors: the agent says what matters. */
	setenv("TSS2_LOG", "all+NONE", 1);
	/* no udev in an initramfs: libdevmapper (under libcryptsetup) makes the /dev/mapper nodes */
	setenv("DM_DISABLE_UDEV", "1", 1);
	/* No swap here, but keep the key pages out of any swap anyway. */
	mlockall(MCL_CURRENT | MCL_FUTURE);
	/* Ctrl-Alt-Del becomes SIGINT to us; busybox init's poweroff signals too. */
	reboot(LINUX_REBOOT_CMD_CAD_OFF);
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGUSR2);
	sigaddset(&set, SIGPWR);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, NULL);
	sigfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

/* Read hgslab.* options from /proc/cmdline into O. */
static void parse_cmdline(struct agent_opts *o)
{
	char buf[4096], *tok, *save = NULL;
	ssize_t n;
	int fd;

	memset(o, 0, sizeof(*o));
	snprintf(o->port, sizeof(o->port), "%s", DEFAULT_PORT);
	fd = open("/proc/cmdline", O_RDONLY);
	if (fd < 0)
		return;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = '\0';
	for (tok = strtok_r(buf, " \t\n", &save); tok; tok = strtok_r(NULL, " \t\n", &save)) {
		if (strncmp(tok, "hgslab.mode=", 12) == 0) {
			snprintf(o->mode_arg, sizeof(o->mode_arg), "%s", tok + 12);
			o->mode = !strcmp(tok + 12, "provision") ? MODE_PROVISION
				: !strcmp(tok + 12, "specialize") ? MODE_SPECIALIZE
				: !strcmp(tok + 12, "run") ? MODE_RUN
				: !strcmp(tok + 12, "plain") ? MODE_PLAIN : MODE_NONE;
		} else if (strcmp(tok, "hgslab.then=run") == 0) {
			o->then_run = true;
		} else if (strcmp(tok, "hgslab.oneshot") == 0 || strcmp(tok, "hgslab.oneshot=1") == 0) {
			o->oneshot = true;
		} else if (strncmp(tok, "hgslab.hash=", 12) == 0) {
			snprintf(o->hash, sizeof(o->hash), "%s", tok + 12);
		} else if (strcmp(tok, "hgslab.debug") == 0 || strcmp(tok, "hgslab.debug=1") == 0) {
			o->debug = true;
		} else if (strncmp(tok, "hgslab.port=", 12) == 0) {
			snprintf(o->port, sizeof(o->port), "%s", tok + 12);
		}
	}
}

/*
 * Start loading the kernel modules the guest needs (their dependencies come
 * from modules.dep; guest/mkguest.sh puts the same list in the initramfs).
 * busybox modprobe runs as a child while the agent goes on: a shielded start
 * unseals its disk key meanwhile (the vTPM is built into the kernel), so the
 * TPM round trips to swtpm overlap the module loading.
 */
static int modules_start(struct agent_proc *p)
{
	char *const need[] = { "/sbin/modprobe", "-a", "virtio_pci", "virtio_blk", "virtio_console",
			       "dm_crypt", "xts", "ecb", "button", "evdev", NULL };

	return agent_spawn(need, p);
}

/*
 * Wait for the modules started by modules_start().  AES-NI only pays when a
 * whole disk is encrypted (PROVISIONING): loading it and its self-tests cost
 * ~0.3 s under TCG, the 8 MiB copy gains ~0.2 s.  It is optional: a
 * (virtual) CPU without AES-NI refuses it and dm-crypt uses the generic AES.
 */
static int modules_finish(struct agent_proc *p, int provisioning)
{
	char *const fast[] = { "/sbin/modprobe", "-q", "aesni_intel", NULL };
	int fd;

	if (agent_finish(p, NULL, 0) < 0)
		return -1;
	if (provisioning)
		agent_run(fast, NULL, 0);
	/*
	 * Everything the guest needs is loaded now: stop the kernel from running
	 * modprobe for every crypto algorithm name dm-crypt looks up
	 * ("crypto-xts(aes)", "crypto-xts(aes)-all", ...), which this initramfs
	 * has no module for anyway: each try is a fork+exec of busybox, and
	 * together they made the dm-crypt table load take ~0.2 s under TCG.
	 */
	fd = open("/proc/sys/kernel/modprobe", O_WRONLY | O_CLOEXEC);
	if (fd >= 0) {
		if (write(fd, "\n", 1) != 1)
			agent_log("cannot turn off module autoloading: %s", strerror(errno));
		close(fd);
	}
	return 0;
}

/* Wait for DEV to appear; a clear error naming WHAT when it does not. */
int agent_need_device(const char *dev, const char *what)
{
	if (agent_wait_path(dev, DEVICE_WAIT_MS) < 0)
		return agent_err("%s %s did not appear within %d s", what, dev, DEVICE_WAIT_MS / 1000);
	return 0;
}

/* Open the vTPM, with the reason a launcher needs when there is none. */
int agent_open_vtpm(struct seal **s)
{
	if (agent_wait_path(TPM_DEV, DEVICE_WAIT_MS) < 0)
		return agent_err("no vTPM: %s did not appear within %d s (start the VM with a TPM 2.0 device)",
				 TPM_DEV, DEVICE_WAIT_MS / 1000);
	return seal_open(s, TPM_DEV);
}

/* The disk key, unsealed at boot while the modules load (run mode). */
struct early_key {
	int rc;                 /* 0: KEY holds LEN bytes; -1: STAGE and REASON say why not */
	const char *stage;
	char reason[512];
	uint8_t key[SEAL_MAX_LEN];
	size_t len;
};

/* Open the vTPM and unseal the disk key into K (never fails: K says how it went). */
static void unseal_early(struct early_key *k)
{
	struct seal *s = NULL;

	k->rc = -1;
	k->stage = "tpm";
	if (agent_open_vtpm(&s) == 0) {
		agent_log("vTPM session open; unsealing the disk key");
		k->stage = "unseal";
		if (seal_load(s, k->key, sizeof(k->key), &k->len) == 0)
			k->rc = 0;
	}
	seal_close(s);
	if (k->rc < 0)
		snprintf(k->reason, sizeof(k->reason), "%s", agent_errmsg());
	else
		agent_log("disk key unsealed (%zu bytes)", k->len);
}

/*
 * The VM's volume DISK, open (read-only) at AGENT_DM_PATH: mount it, run the
 * workload; *FIELDS is the "running" report (run mode, and specialize with
 * hgslab.then=run).
 */
static int run_volume(const struct agent_opts *o, const char *disk, const char **stage,
		      json_t **fields)
{
	json_t *work = NULL;
	char name[FILL_NAME_MAX + 1];

	agent_log("volume open; mounting it");
	*stage = "mount";
	if (disk_mount(AGENT_DM_PATH, 0) < 0)
		return -1;
	*stage = "workload";
	if (workload_run(AGENT_MNT, o->hash[0] ? o->hash : NULL, &work) < 0)
		return -1;
	*fields = json_pack("{s:s, s:b, s:o}", "disk", disk, "shielded", 1, "workload", work);
	if (*fields && fill_computer_name(AGENT_MNT, name, sizeof(name)))
		json_object_set_new(*fields, "computer_name", json_string(name));
	return 0;
}

/*
 * Normal start: the key unsealed early (K), open, mount, run the workload;
 * *FIELDS is the report.  A disk that is missing or not LUKS2 is reported
 * before a vTPM error: it says more about what went wrong.
 */
static int run(const struct agent_opts *o, struct early_key *k, const char **stage, json_t **fields)
{
	char disk[64];
	int rc;

	*stage = "devices";
	if (disk_find(AGENT_SERIAL_DISK, "vda", disk, sizeof(disk)) < 0 || agent_need_device(disk, "the VM's disk") < 0)
		return -1;
	if (!disk_is_luks(disk))
		return agent_err("the VM's disk %s is not a LUKS2 volume (was this VM provisioned?)", disk);
	if (k->rc < 0) {
		*stage = k->stage;
		return agent_err("%s", k->reason);
	}
	agent_log("opening %s", disk);
	*stage = "open";
	rc = disk_open(disk, k->key, k->len, 1);
	explicit_bzero(k->key, sizeof(k->key));
	if (rc < 0)
		return -1;
	return run_volume(o, disk, stage, fields);
}

/*
 * The same guest without shielding (hgslab.mode=plain): the tenant's plain
 * disk mounted as it is, no vTPM, no LUKS.  It exists to measure what
 * shielding costs (make bench); a shielded VM never boots this way.
 */
static int run_plain(const struct agent_opts *o, const char **stage, json_t **fields)
{
	json_t *work = NULL;
	char disk[64];

	*stage = "devices";
	if (disk_find(AGENT_SERIAL_PLAIN, "vda", disk, sizeof(disk)) < 0 || agent_need_device(disk, "the plain disk") < 0)
		return -1;
	*stage = "mount";
	if (disk_mount(disk, 0) < 0)
		return -1;
	*stage = "workload";
	if (workload_run(AGENT_MNT, o->hash[0] ? o->hash : NULL, &work) < 0)
		return -1;
	*fields = json_pack("{s:s, s:b, s:o}", "disk", disk, "shielded", 0, "workload", work);
	return 0;
}

/* Open every input device that is an ACPI power button; returns how many went into FDS. */
static int open_power_buttons(int *fds, int max)
{
	char path[300], name[128];
	struct dirent *e;
	int n = 0, fd;
	DIR *d;

	d = opendir("/sys/class/input");
	if (!d)
		return 0;
	while ((e = readdir(d)) && n < max) {
		FILE *f;

		if (strncmp(e->d_name, "event", 5) != 0)
			continue;
		snprintf(path, sizeof(path), "/sys/class/input/%s/device/name", e->d_name);
		f = fopen(path, "re");
		if (!f)
			continue;
		if (!fgets(name, sizeof(name), f))
			name[0] = '\0';
		fclose(f);
		if (!strstr(name, "Power Button"))
			continue;
		snprintf(path, sizeof(path), "/dev/input/%s", e->d_name);
		if (agent_wait_path(path, 1000) == 0 && (fd = open(path, O_RDONLY | O_CLOEXEC)) >= 0)
			fds[n++] = fd;
	}
	closedir(d);
	return n;
}

/* Stay up until the power button is pressed or a shutdown signal comes; returns why. */
static const char *wait_for_shutdown(void)
{
	struct pollfd p[9];
	int btn[8], nbtn, i;

	nbtn = open_power_buttons(btn, 8);
	if (nbtn == 0)
		agent_log("no ACPI power button: stop this VM with a signal to PID 1 or by killing it");
	for (i = 0; i < nbtn; i++)
		p[i] = (struct pollfd){ .fd = btn[i], .events = POLLIN };
	p[nbtn] = (struct pollfd){ .fd = sigfd, .events = POLLIN };
	for (;;) {
		if (poll(p, (nfds_t)nbtn + 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			return "poll failed";
		}
		for (i = 0; i < nbtn; i++) {
			struct input_event ev;

			if (!(p[i].revents & POLLIN))
				continue;
			while (read(btn[i], &ev, sizeof(ev)) == (ssize_t)sizeof(ev))
				if (ev.type == EV_KEY && ev.code == KEY_POWER && ev.value == 1)
					return "power button";
		}
		if (p[nbtn].revents & POLLIN) {
			struct signalfd_siginfo si;

			while (read(sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
				if (si.ssi_signo == SIGCHLD) {
					while (waitpid(-1, NULL, WNOHANG) > 0)
						;
					continue;
				}
				return strsignal((int)si.ssi_signo);
			}
		}
	}
}

/* Unmount, close the volume, flush and power the VM off; never returns. */
static void __attribute__((noreturn)) power_off(void)
{
	disk_umount();
	disk_close();
	sync();
	report_close();
	reboot(RB_POWER_OFF);
	agent_log("power off failed: %s", strerror(errno));
	for (;;)
		pause();
}

/* PID 1: init, modules, channel, the mode, then power off. */
int main(void)
{
	const char *stage = "boot", *why, *vdisk;
	char disk[64];
	static struct early_key key;   /* static: not on a stack a later call could leave it on */
	struct agent_proc mods;
	struct agent_opts o;
	json_t *fields = NULL;
	int rc;

	if (getpid() != 1) {
		fprintf(stderr, AGENT_NAME ": runs only as /init of the hgslab guest initramfs "
				"(boot build/guest/vmlinuz with build/guest/initramfs.cpio)\n");
		return 2;
	}
	init_system();
	parse_cmdline(&o);
	agent_log("init");
	if (o.debug)
		disk_debug();
	rc = modules_start(&mods);
	if (rc == 0 && o.mode == MODE_RUN)
		unseal_early(&key);
	if (rc == 0)
		rc = modules_finish(&mods, o.mode == MODE_PROVISION || o.mode == MODE_SPECIALIZE);
	agent_log("modules loaded");
	if (report_open(o.port, DEVICE_WAIT_MS) < 0)
		agent_log("%s: events go to the console only", agent_errmsg());
	if (rc < 0) {
		report_error("boot", agent_errmsg());
		power_off();
	}
	report_event("started", json_pack("{s:s}", "mode", o.mode_arg[0] ? o.mode_arg : "none"));
	switch (o.mode) {
	case MODE_PROVISION:
	case MODE_SPECIALIZE:
		rc = o.mode == MODE_PROVISION ? provision(&stage, &fields)
			: specialize(&stage, &fields, o.then_run);
		if (rc < 0)
			break;
		vdisk = json_string_value(json_object_get(fields, "disk"));
		snprintf(disk, sizeof(disk), "%s", vdisk ? vdisk : "?");
		report_event("provisioned", fields);
		if (o.mode == MODE_PROVISION || !o.then_run)
			power_off();
		/* new-shielded-vm --start: the volume is open read-only, the VM goes on running */
		fields = NULL;
		if ((rc = run_volume(&o, disk, &stage, &fields)) < 0)
			break;
		goto running;
	case MODE_RUN:
	case MODE_PLAIN:
		rc = o.mode == MODE_RUN ? run(&o, &key, &stage, &fields) : run_plain(&o, &stage, &fields);
		explicit_bzero(key.key, sizeof(key.key));
		if (rc < 0)
			break;
	running:
		report_event("running", fields);
		if (o.oneshot)
			power_off();
		why = wait_for_shutdown();
		report_event("stopping", json_pack("{s:s}", "why", why));
		power_off();
	case MODE_NONE:
		agent_err("no mode: the kernel command line needs hgslab.mode=provision, specialize, run or plain%s%s",
			  o.mode_arg[0] ? ", not " : "", o.mode_arg);
		break;
	}
	report_error(stage, agent_errmsg());
	power_off();
}
