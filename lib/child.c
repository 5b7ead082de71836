/*
 * child.c - the child-process supervisor (see child.h for the contract).
 *
 * Every process the lab starts (swtpm, QEMU, HGS nodes, host agents) goes
 * through hl_child_spawn().  The design follows git's run-command.c: argv,
 * environment and fd plan are built before fork(); signals are blocked around
 * fork(); the child resets handlers and mask, moves the fds it must pass into
 * place, marks everything else close-on-exec and execs; a close-on-exec pipe
 * carries errno back when exec (or the set-up before it) fails.
 *
 * The parent watches each child through a pidfd, so a wait for readiness or
 * exit wakes up the moment the child dies.  Live children are recorded in a
 * fixed array of atomics (owner pid << 32 | child pid) that the signal and
 * atexit cleanup can walk without locks; a slot is cleared only after its
 * child has been reaped, with the cleanup signals blocked, so cleanup never
 * signals a recycled pid.
 *
 * Processes that are not children of this module (pids from pid files:
 * VM keepers, host agents, HGS nodes of a lab another hgslab started) have
 * their own small part at the end: liveness from kill(pid, 0) and
 * /proc/PID/stat, and a bounded stop that polls; a process of ours that is
 * not in the registry is reaped there, a registered one never is.
 */
#include "lib/child.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/clock.h"
#include "lib/log.h"

extern char **environ;

/* Longest log tail quoted in an error message. */
#define TAIL_MAX 200

/* Poll interval (ms) for waits without a notification: no pidfd, sockets. */
#define POLL_SLICE_MS 10
#define SOCKET_RETRY_MAX_MS 20

/* Safety-net re-check interval (ms) when inotify drives a wait. */
#define INOTIFY_RECHECK_MS 100

/* How long one readiness connect attempt may take (ms). */
#define CONNECT_ATTEMPT_MS 100

struct hl_child {
	pid_t pid;          /* > 0 once forked */
	int pidfd;          /* -1 when pidfd_open is unavailable */
	int slot;           /* registry slot while registered, else -1 */
	uint64_t regval;    /* the value this child's slot holds */
	int exited;         /* reaped: status is final */
	int signaled;       /* status is 128 + signal */
	int status;         /* 0..255, 128+signal, or -1 unknown/running */
	char *name;
	char *log_path;
	off_t log_start;    /* log size at spawn: readiness reads from here */
};

/* Registry of live children: 0, or owner pid << 32 | child pid (0 = reserved). */
static atomic_uint_least64_t registry[HL_CHILD_MAX];
static atomic_int cleanup_grace_ms = HL_CHILD_GRACE_MS;
static atomic_int cleanup_installed;

/* Where the child's set-up failed, sent through the exec-error pipe. */
enum exec_stage { STAGE_FDS, STAGE_CWD, STAGE_EXEC };

struct exec_failure {
	int stage;
	int err;
};

/* Everything the child needs between fork and exec, prepared before fork. */
struct spawn_plan {
	const char *path;
	char *const *argv;
	char *const *envp;
	const char *cwd;
	int null_fd, log_fd, err_fd;
	const struct hl_child_fd *fds;
	int *moved;         /* scratch: fds[i].parent_fd moved above every target */
	size_t nfds;
	int floor;          /* first fd number above every target */
	int max_fd;         /* fallback bound when close_range is unavailable */
	pid_t parent;
	int deathsig;
};

/* The deadline TIMEOUT_MS from now, -1 for none. */
static int64_t deadline_after(int timeout_ms)
{
	return timeout_ms < 0 ? -1 : hl_clock_ms() + timeout_ms;
}

/* Milliseconds left until DEADLINE: -1 for none, 0 when passed. */
static int remaining_ms(int64_t deadline)
{
	int64_t left;

	if (deadline < 0)
		return -1;
	left = deadline - hl_clock_ms();
	if (left <= 0)
		return 0;
	return left > INT_MAX ? INT_MAX : (int)left;
}

/* The registry value for child PID of process OWNER. */
static uint64_t reg_value(pid_t owner, pid_t pid)
{
	return ((uint64_t)(uint32_t)owner << 32) | (uint32_t)pid;
}

/* Claim a free registry slot for this process; -1 when full. */
static int registry_reserve(void)
{
	uint64_t want = reg_value(getpid(), 0);
	int i;

	for (i = 0; i < HL_CHILD_MAX; i++) {
		uint_least64_t expect = 0;

		if (atomic_compare_exchange_strong(&registry[i], &expect, want))
			return i;
	}
	return -1;
}

/* Free SLOT if it still holds VALUE. */
static void registry_release(int slot, uint64_t value)
{
	uint_least64_t expect = value;

	atomic_compare_exchange_strong(&registry[slot], &expect, 0);
}

/* Signal PID's process group, or PID alone when it left its group. */
static int kill_group(pid_t pid, int sig)
{
	if (kill(-pid, sig) == 0)
		return 0;
	if (errno != ESRCH)
		return -1;
	return kill(pid, sig);
}

/* Record a wait status in C. */
static void child_set_status(struct hl_child *c, int st)
{
	c->exited = 1;
	c->signaled = 0;
	if (WIFEXITED(st)) {
		c->status = WEXITSTATUS(st);
	} else if (WIFSIGNALED(st)) {
		c->status = 128 + WTERMSIG(st);
		c->signaled = 1;
	} else {
		c->status = -1;
	}
}

/* Reap C if it has exited; 1 when it has (now or before), 0 while running. */
static int child_reap(struct hl_child *c)
{
	sigset_t set, old;
	pid_t r;
	int st;

	if (c->exited || c->pid <= 0)
		return 1;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, &old);
	if (c->slot >= 0 && atomic_load(&registry[c->slot]) != c->regval) {
		/* hl_child_cleanup_all() reaped it already */
		c->exited = 1;
		c->status = -1;
		c->slot = -1;
	} else {
		do
			r = waitpid(c->pid, &st, WNOHANG);
		while (r < 0 && errno == EINTR);
		if (r == c->pid) {
			child_set_status(c, st);
		} else if (r < 0) {
			/* ECHILD: someone else reaped it; the status is lost */
			c->exited = 1;
			c->status = -1;
		}
		if (c->exited && c->slot >= 0) {
			registry_release(c->slot, c->regval);
			c->slot = -1;
		}
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return c->exited;
}

/* Sleep up to MS (<0: forever), waking early when C exits. */
static void child_nap(struct hl_child *c, int ms)
{
	struct pollfd p = { .fd = c->pidfd, .events = POLLIN };

	if (c->pidfd < 0) {
		if (ms < 0 || ms > POLL_SLICE_MS)
			ms = POLL_SLICE_MS;
		poll(NULL, 0, ms);
		return;
	}
	poll(&p, 1, ms);
}

/* Wait until C exits or DEADLINE (-1: none) passes; 1 when it has exited. */
static int child_wait_exit(struct hl_child *c, int64_t deadline)
{
	int left;

	for (;;) {
		if (child_reap(c))
			return 1;
		left = remaining_ms(deadline);
		if (left == 0)
			return 0;
		child_nap(c, left);
	}
}

/* Describe C's exit, e.g. "exited with status 1", into BUF. */
static void status_describe(const struct hl_child *c, char *buf, size_t len)
{
	const char *abbr;

	if (c->status < 0) {
		snprintf(buf, len, "exited with an unknown status");
	} else if (c->signaled) {
		abbr = sigabbrev_np(c->status - 128);
		if (abbr)
			snprintf(buf, len, "was killed by SIG%s", abbr);
		else
			snprintf(buf, len, "was killed by signal %d", c->status - 128);
	} else {
		snprintf(buf, len, "exited with status %d", c->status);
	}
}

/* The last non-empty line the child wrote to its log since spawn, or "". */
static void log_tail(const struct hl_child *c, char *buf, size_t len)
{
	char data[4096];
	off_t start;
	struct stat st;
	ssize_t n;
	size_t end, begin, i, out = 0;
	int fd;

	buf[0] = '\0';
	if (!c->log_path)
		return;
	fd = open(c->log_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	if (fstat(fd, &st) < 0 || st.st_size <= c->log_start) {
		close(fd);
		return;
	}
	start = st.st_size - (off_t)sizeof(data);
	if (start < c->log_start)
		start = c->log_start;
	n = pread(fd, data, sizeof(data), start);
	close(fd);
	if (n <= 0)
		return;
	end = (size_t)n;
	while (end > 0 && strchr("\r\n\t .", data[end - 1]))
		end--;
	begin = end;
	while (begin > 0 && data[begin - 1] != '\n')
		begin--;
	for (i = begin; i < end && out + 1 < len && out < TAIL_MAX; i++)
		buf[out++] = (data[i] >= 0x20 && data[i] < 0x7f) ? data[i] : '?';
	buf[out] = '\0';
}

/* The "; see 'LOG'" suffix for C's messages, into BUF. */
static void see_log(const struct hl_child *c, char *buf, size_t len)
{
	if (c->log_path)
		snprintf(buf, len, "; see '%s'", c->log_path);
	else
		buf[0] = '\0';
}

int hl_child_error_died(struct hl_child *c)
{
	char how[64], tail[TAIL_MAX + 1], see[PATH_MAX + 16];

	see_log(c, see, sizeof(see));
	if (!child_wait_exit(c, deadline_after(HL_CHILD_KILL_WAIT_MS)))
		return hl_error("'%s' (pid %d) stopped answering before it was ready%s",
				c->name, (int)c->pid, see);
	status_describe(c, how, sizeof(how));
	log_tail(c, tail, sizeof(tail));
	return hl_error("'%s' %s before it was ready%s%s%s", c->name, how,
			tail[0] ? ": " : "", tail, see);
}

/* Set the readiness timeout error for C, naming what was awaited; -1. */
static int error_not_ready(const struct hl_child *c, int timeout_ms, const char *what)
{
	char see[PATH_MAX + 16];

	see_log(c, see, sizeof(see));
	return hl_error("'%s' was not ready after %d ms (%s)%s", c->name, timeout_ms, what, see);
}

/*
 * Build the child's environment: a copy of environ (unless CLEAN) with MODS
 * applied ("K=V" sets, "K" unsets).  The strings are borrowed, not copied.
 */
static int env_build(const char *const *mods, int clean, const char ***out)
{
	const char **env;
	size_t n = 0, m = 0, i, j, klen;

	*out = NULL;
	if (!clean)
		while (environ && environ[n])
			n++;
	while (mods && mods[m])
		m++;
	env = calloc(n + m + 1, sizeof(*env));
	if (!env)
		return hl_error("cannot build a child's environment: out of memory");
	for (i = 0; i < n; i++)
		env[i] = environ[i];
	for (j = 0; j < m; j++) {
		klen = strcspn(mods[j], "=");
		for (i = 0; i < n;) {
			if (!strncmp(env[i], mods[j], klen) && env[i][klen] == '=') {
				memmove(&env[i], &env[i + 1], (n - i) * sizeof(*env));
				n--;
			} else {
				i++;
			}
		}
		if (mods[j][klen] == '=')
			env[n++] = mods[j];
	}
	env[n] = NULL;
	*out = env;
	return 0;
}

/* PATH made absolute against the current directory (freed), or NULL. */
static char *path_absolute(char *path)
{
	char cwd[PATH_MAX], *abs;

	if (!path || path[0] == '/')
		return path;
	if (!getcwd(cwd, sizeof(cwd)) || asprintf(&abs, "%s/%s", cwd, path) < 0)
		abs = NULL;
	free(path);
	return abs;
}

/*
 * Find PROG like execvp would, using the PATH in ENVP, as an absolute path
 * (so that opts->cwd does not change what runs); NULL with errno set.
 */
static char *path_resolve(const char *prog, const char *const *envp)
{
	const char *path = "/usr/local/bin:/usr/bin:/bin", *p, *colon;
	char *cand;
	struct stat st;
	size_t dlen, i;
	int saw_eacces = 0;

	if (strchr(prog, '/'))
		return path_absolute(strdup(prog));
	for (i = 0; envp[i]; i++)
		if (!strncmp(envp[i], "PATH=", 5))
			path = envp[i] + 5;
	for (p = path;; p = colon + 1) {
		colon = strchrnul(p, ':');
		dlen = (size_t)(colon - p);
		if (dlen ? asprintf(&cand, "%.*s/%s", (int)dlen, p, prog) < 0
			 : asprintf(&cand, "./%s", prog) < 0) {
			errno = ENOMEM;
			return NULL;
		}
		if (stat(cand, &st) == 0 && S_ISREG(st.st_mode)) {
			if (access(cand, X_OK) == 0)
				return path_absolute(cand);
			saw_eacces = 1;
		}
		free(cand);
		if (!*colon)
			break;
	}
	errno = saw_eacces ? EACCES : ENOENT;
	return NULL;
}

/* Report a set-up failure to the parent and exit (child side). */
static _Noreturn void child_fail(int err_fd, int stage)
{
	struct exec_failure f = { .stage = stage, .err = errno };
	ssize_t w;

	w = write(err_fd, &f, sizeof(f));
	(void)w;
	_exit(127);
}

/* Between fork and exec: only async-signal-safe calls from here on. */
static _Noreturn void child_exec(struct spawn_plan *p)
{
	struct sigaction sa;
	sigset_t none;
	int sig, err_fd, null_fd, log_fd = -1, fd;
	size_t i;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sigemptyset(&sa.sa_mask);
	for (sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			sigaction(sig, &sa, NULL);
	setpgid(0, 0);
	if (p->deathsig && (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != p->parent))
		_exit(127);

	/* move every source above every target, then put each in place */
	err_fd = fcntl(p->err_fd, F_DUPFD_CLOEXEC, p->floor);
	if (err_fd < 0)
		_exit(127);
	null_fd = fcntl(p->null_fd, F_DUPFD_CLOEXEC, p->floor);
	if (null_fd < 0)
		child_fail(err_fd, STAGE_FDS);
	if (p->log_fd >= 0) {
		log_fd = fcntl(p->log_fd, F_DUPFD_CLOEXEC, p->floor);
		if (log_fd < 0)
			child_fail(err_fd, STAGE_FDS);
	}
	for (i = 0; i < p->nfds; i++) {
		p->moved[i] = fcntl(p->fds[i].parent_fd, F_DUPFD_CLOEXEC, p->floor);
		if (p->moved[i] < 0)
			child_fail(err_fd, STAGE_FDS);
	}
	if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
		for (fd = 3; fd <= p->max_fd; fd++)
			fcntl(fd, F_SETFD, FD_CLOEXEC);
	if (dup2(null_fd, 0) < 0)
		child_fail(err_fd, STAGE_FDS);
	if (log_fd >= 0 && (dup2(log_fd, 1) < 0 || dup2(log_fd, 2) < 0))
		child_fail(err_fd, STAGE_FDS);
	for (i = 0; i < p->nfds; i++)
		if (dup2(p->moved[i], p->fds[i].child_fd) < 0)
			child_fail(err_fd, STAGE_FDS);

	if (p->cwd && chdir(p->cwd) < 0)
		child_fail(err_fd, STAGE_CWD);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	execve(p->path, p->argv, p->envp);
	child_fail(err_fd, STAGE_EXEC);
}

/* The last path component of PATH. */
static const char *base_name(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash && slash[1] ? slash + 1 : path;
}

int hl_child_spawn(const char *const argv[], const struct hl_child_opts *opts,
		   struct hl_child **out)
{
	static const struct hl_child_opts defaults;
	struct hl_child *c = NULL;
	struct spawn_plan plan;
	struct exec_failure fail;
	struct rlimit rl;
	struct stat st;
	sigset_t all, old;
	const char **envp = NULL;
	char *path = NULL;
	int *moved = NULL;
	int null_fd = -1, log_fd = -1, pipefd[2] = { -1, -1 };
	int slot = -1, blocked = 0, ret = -1;
	ssize_t n;
	size_t i;
	pid_t pid;

	*out = NULL;
	if (!opts)
		opts = &defaults;
	if (!argv || !argv[0] || !argv[0][0])
		return hl_error("cannot start a child: empty command");

	c = calloc(1, sizeof(*c));
	if (!c)
		return hl_error("cannot start '%s': out of memory", argv[0]);
	c->pid = -1;
	c->pidfd = -1;
	c->slot = -1;
	c->status = -1;
	c->name = strdup(opts->name ? opts->name : base_name(argv[0]));
	if (!c->name || (opts->log_path && !(c->log_path = strdup(opts->log_path)))) {
		hl_error("cannot start '%s': out of memory", argv[0]);
		goto cleanup;
	}

	plan.floor = 3;
	for (i = 0; i < opts->nfds; i++) {
		const struct hl_child_fd *f = &opts->fds[i];

		if (f->child_fd < 0 || fcntl(f->parent_fd, F_GETFD) < 0) {
			errno = f->child_fd < 0 ? EINVAL : errno;
			hl_error_errno("cannot start '%s': cannot pass fd %d as fd %d",
				       c->name, f->parent_fd, f->child_fd);
			goto cleanup;
		}
		if (f->child_fd >= plan.floor)
			plan.floor = f->child_fd + 1;
	}
	if (opts->nfds && !(moved = calloc(opts->nfds, sizeof(*moved)))) {
		hl_error("cannot start '%s': out of memory", c->name);
		goto cleanup;
	}
	if (env_build(opts->env, (opts->flags & HL_CHILD_CLEAN_ENV) != 0, &envp) < 0)
		goto cleanup;
	path = path_resolve(argv[0], envp);
	if (!path) {
		hl_error("cannot run '%s': %s; check that it is installed and on PATH",
			 argv[0], strerror(errno));
		goto cleanup;
	}
	null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (null_fd < 0) {
		hl_error_errno("cannot start '%s': cannot open '/dev/null'", c->name);
		goto cleanup;
	}
	if (opts->log_path) {
		log_fd = open(opts->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		if (log_fd < 0 || fstat(log_fd, &st) < 0) {
			hl_error_errno("cannot start '%s': cannot open its log '%s'",
				       c->name, opts->log_path);
			goto cleanup;
		}
		c->log_start = st.st_size;
	}
	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		hl_error_errno("cannot start '%s': cannot create a pipe", c->name);
		goto cleanup;
	}
	slot = registry_reserve();
	if (slot < 0) {
		hl_error("cannot start '%s': already supervising %d children; stop some first",
			 c->name, HL_CHILD_MAX);
		goto cleanup;
	}

	plan.path = path;
	plan.argv = (char *const *)argv;
	plan.envp = (char *const *)envp;
	plan.cwd = opts->cwd;
	plan.null_fd = null_fd;
	plan.log_fd = log_fd;
	plan.err_fd = pipefd[1];
	plan.fds = opts->fds;
	plan.moved = moved;
	plan.nfds = opts->nfds;
	plan.max_fd = 65535;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur < 65536)
		plan.max_fd = (int)rl.rlim_cur - 1;
	plan.parent = getpid();
	plan.deathsig = !(opts->flags & HL_CHILD_NO_DEATHSIG);

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	blocked = 1;
	pid = fork();
	if (pid == 0)
		child_exec(&plan);
	if (pid < 0) {
		hl_error_errno("cannot start '%s': fork failed", c->name);
		goto cleanup;
	}
	c->pid = pid;
	c->slot = slot;
	c->regval = reg_value(plan.parent, pid);
	atomic_store(&registry[slot], c->regval);
	slot = -1;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	blocked = 0;

	setpgid(pid, pid);      /* also done by the child; whoever runs first wins */
	c->pidfd = pidfd_open(pid, 0);
	close(pipefd[1]);
	pipefd[1] = -1;
	do
		n = read(pipefd[0], &fail, sizeof(fail));
	while (n < 0 && errno == EINTR);
	if (n == (ssize_t)sizeof(fail)) {
		child_wait_exit(c, deadline_after(HL_CHILD_KILL_WAIT_MS));
		if (fail.stage == STAGE_EXEC)
			hl_error("cannot run '%s': %s", argv[0], strerror(fail.err));
		else if (fail.stage == STAGE_CWD)
			hl_error("cannot start '%s': cannot change to directory '%s': %s",
				 c->name, opts->cwd, strerror(fail.err));
		else
			hl_error("cannot start '%s': cannot set up its file descriptors: %s",
				 c->name, strerror(fail.err));
		goto cleanup;
	}
	if (n != 0) {
		hl_error("cannot start '%s': lost track of it during exec", c->name);
		goto cleanup;
	}
	hl_log_debug("started '%s' (pid %d)", c->name, (int)pid);
	*out = c;
	c = NULL;
	ret = 0;

cleanup:
	if (blocked)
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (slot >= 0)
		registry_release(slot, reg_value(getpid(), 0));
	if (pipefd[0] >= 0)
		close(pipefd[0]);
	if (pipefd[1] >= 0)
		close(pipefd[1]);
	if (null_fd >= 0)
		close(null_fd);
	if (log_fd >= 0)
		close(log_fd);
	free(path);
	free(envp);
	free(moved);
	hl_child_free(c);
	return ret;
}

pid_t hl_child_pid(const struct hl_child *c)
{
	return c->pid;
}

const char *hl_child_name(const struct hl_child *c)
{
	return c->name;
}

const char *hl_child_log_path(const struct hl_child *c)
{
	return c->log_path;
}

int hl_child_poll(struct hl_child *c, int fd, short events, int timeout_ms)
{
	int64_t deadline = deadline_after(timeout_ms);
	struct pollfd p[2];
	int n, nfds, left, wait;

	for (;;) {
		p[0].fd = fd;
		p[0].events = events;
		p[0].revents = 0;
		nfds = 1;
		if (!c->exited && c->pidfd >= 0) {
			p[1].fd = c->pidfd;
			p[1].events = POLLIN;
			p[1].revents = 0;
			nfds = 2;
		}
		left = remaining_ms(deadline);
		wait = left;
		if (!c->exited && c->pidfd < 0 && (wait < 0 || wait > POLL_SLICE_MS))
			wait = POLL_SLICE_MS;
		n = poll(p, (nfds_t)nfds, wait);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return hl_error_errno("cannot wait for '%s'", c->name);
		}
		if (p[0].revents & POLLNVAL)
			return hl_error("cannot wait for '%s': fd %d is not open", c->name, fd);
		if (p[0].revents)
			return 1;
		if (child_reap(c))
			return hl_child_error_died(c);
		if (left == 0)
			return 0;
	}
}

/* A readiness probe: 1 ready, 0 not yet, -1 failed (error set). */
typedef int (*ready_check_fn)(struct hl_child *c, void *arg);

/*
 * Run CHECK until it reports ready, the child dies or TIMEOUT_MS passes.
 * NOTIFY_FD (an inotify fd, or -1) wakes the loop early; without it the
 * check is retried with a backoff from 1 ms up to SOCKET_RETRY_MAX_MS.
 */
static int wait_until(struct hl_child *c, ready_check_fn check, void *arg, int notify_fd,
		      int timeout_ms, const char *what)
{
	int64_t deadline = deadline_after(timeout_ms);
	struct pollfd p[2];
	char drain[4096];
	int r, left, wait, nfds, backoff = 1;

	for (;;) {
		if (child_reap(c))
			return hl_child_error_died(c);
		r = check(c, arg);
		if (r != 0)
			return r > 0 ? 0 : -1;
		left = remaining_ms(deadline);
		if (left == 0)
			return error_not_ready(c, timeout_ms, what);
		if (notify_fd >= 0) {
			wait = INOTIFY_RECHECK_MS;
		} else {
			wait = backoff;
			backoff = backoff * 2 > SOCKET_RETRY_MAX_MS ? SOCKET_RETRY_MAX_MS : backoff * 2;
		}
		if (left >= 0 && wait > left)
			wait = left;
		nfds = 0;
		if (notify_fd >= 0) {
			p[nfds].fd = notify_fd;
			p[nfds].events = POLLIN;
			p[nfds++].revents = 0;
		}
		if (c->pidfd >= 0) {
			p[nfds].fd = c->pidfd;
			p[nfds].events = POLLIN;
			p[nfds++].revents = 0;
		} else if (wait > POLL_SLICE_MS) {
			wait = POLL_SLICE_MS;
		}
		if (poll(p, (nfds_t)nfds, wait) > 0 && notify_fd >= 0 && p[0].revents)
			while (read(notify_fd, drain, sizeof(drain)) > 0)
				;
	}
}

/* An inotify fd watching PATH for MASK, or -1 (the wait then polls). */
static int watch_path(const char *path, uint32_t mask)
{
	int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);

	if (fd < 0)
		return -1;
	if (inotify_add_watch(fd, path, mask) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

struct pidfile_wait {
	const char *path;
	pid_t pid;
};

/* Ready when the pid file names a live process. */
static int check_pidfile(struct hl_child *c, void *arg)
{
	struct pidfile_wait *w = arg;
	char buf[32], *end;
	ssize_t n;
	long pid;
	int fd;

	(void)c;
	fd = open(w->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	errno = 0;
	pid = strtol(buf, &end, 10);
	if (errno || end == buf || pid <= 0 || pid > INT_MAX)
		return 0;
	while (*end == ' ' || *end == '\n' || *end == '\r' || *end == '\t')
		end++;
	if (*end)
		return 0;       /* partly written */
	if (kill((pid_t)pid, 0) < 0 && errno != EPERM)
		return 0;       /* stale */
	w->pid = (pid_t)pid;
	return 1;
}

int hl_child_wait_pidfile(struct hl_child *c, const char *path, int timeout_ms,
			  pid_t *pid_out)
{
	struct pidfile_wait w = { .path = path, .pid = 0 };
	char *dir, what[PATH_MAX + 32];
	int nfd, r;

	if (pid_out)
		*pid_out = 0;
	dir = strdup(path);
	if (!dir)
		return hl_error("cannot wait for '%s': out of memory", c->name);
	if (strrchr(dir, '/'))
		*strrchr(dir, '/') = '\0';
	else
		strcpy(dir, ".");
	nfd = watch_path(dir[0] ? dir : "/", IN_CREATE | IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_TO);
	free(dir);
	snprintf(what, sizeof(what), "no pid file '%s' naming a live process", path);
	r = wait_until(c, check_pidfile, &w, nfd, timeout_ms, what);
	if (nfd >= 0)
		close(nfd);
	if (r == 0 && pid_out)
		*pid_out = w.pid;
	return r;
}

struct connect_wait {
	struct sockaddr_storage addr;
	socklen_t len;
};

/* Ready when a stream connect to the address succeeds. */
static int check_connect(struct hl_child *c, void *arg)
{
	struct connect_wait *w = arg;
	struct pollfd p;
	socklen_t elen = sizeof(int);
	int fd, r, err = 0;

	(void)c;
	fd = socket(w->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return 0;
	r = connect(fd, (struct sockaddr *)&w->addr, w->len);
	if (r < 0 && errno == EINPROGRESS) {
		p.fd = fd;
		p.events = POLLOUT;
		r = poll(&p, 1, CONNECT_ATTEMPT_MS) == 1 &&
		    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) == 0 && err == 0 ? 0 : -1;
	}
	close(fd);
	return r == 0;
}

int hl_child_wait_tcp(struct hl_child *c, const char *host, int port, int timeout_ms)
{
	struct addrinfo hints, *res = NULL;
	struct connect_wait w;
	char portstr[16], what[300];
	int r;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	snprintf(portstr, sizeof(portstr), "%d", port);
	r = getaddrinfo(host, portstr, &hints, &res);
	if (r != 0 || !res)
		return hl_error("cannot wait for '%s': cannot resolve '%s': %s", c->name, host,
				gai_strerror(r));
	memset(&w, 0, sizeof(w));
	memcpy(&w.addr, res->ai_addr, res->ai_addrlen);
	w.len = res->ai_addrlen;
	freeaddrinfo(res);
	snprintf(what, sizeof(what), "nothing accepts connections on %s:%d", host, port);
	return wait_until(c, check_connect, &w, -1, timeout_ms, what);
}

int hl_child_wait_unix(struct hl_child *c, const char *path, int timeout_ms)
{
	struct connect_wait w;
	struct sockaddr_un *sun = (struct sockaddr_un *)&w.addr;
	char what[PATH_MAX + 64];

	memset(&w, 0, sizeof(w));
	if (strlen(path) >= sizeof(sun->sun_path))
		return hl_error("cannot wait for '%s': socket path '%s' is too long (max %zu)",
				c->name, path, sizeof(sun->sun_path) - 1);
	sun->sun_family = AF_UNIX;
	strcpy(sun->sun_path, path);
	w.len = sizeof(*sun);
	snprintf(what, sizeof(what), "nothing accepts connections on '%s'", path);
	return wait_until(c, check_connect, &w, -1, timeout_ms, what);
}

struct log_wait {
	const char *text;
	size_t tlen;
	off_t pos;          /* next byte of the log to read */
	size_t carry;       /* bytes kept from the last read (a match may straddle) */
	char *buf;          /* carry + LOG_CHUNK bytes */
};

#define LOG_CHUNK 4096

/* Ready when the text appears in the log after the spawn offset. */
static int check_log(struct hl_child *c, void *arg)
{
	struct log_wait *w = arg;
	struct stat st;
	ssize_t n;
	size_t total;
	int fd, found = 0;

	fd = open(c->log_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	if (fstat(fd, &st) == 0 && st.st_size < w->pos) {
		w->pos = 0;     /* truncated */
		w->carry = 0;
	}
	while (!found && (n = pread(fd, w->buf + w->carry, LOG_CHUNK, w->pos)) > 0) {
		w->pos += n;
		total = w->carry + (size_t)n;
		if (memmem(w->buf, total, w->text, w->tlen)) {
			found = 1;
			break;
		}
		w->carry = total < w->tlen - 1 ? total : w->tlen - 1;
		memmove(w->buf, w->buf + total - w->carry, w->carry);
	}
	close(fd);
	return found;
}

int hl_child_wait_log(struct hl_child *c, const char *text, int timeout_ms)
{
	struct log_wait w;
	char what[300];
	int nfd, r;

	if (!c->log_path)
		return hl_error("cannot wait for a log line from '%s': it has no log file", c->name);
	if (!text || !text[0])
		return hl_error("cannot wait for a log line from '%s': empty text", c->name);
	memset(&w, 0, sizeof(w));
	w.text = text;
	w.tlen = strlen(text);
	w.pos = c->log_start;
	w.buf = malloc(w.tlen + LOG_CHUNK);
	if (!w.buf)
		return hl_error("cannot wait for '%s': out of memory", c->name);
	nfd = watch_path(c->log_path, IN_MODIFY);
	snprintf(what, sizeof(what), "no log line with '%.200s'", text);
	r = wait_until(c, check_log, &w, nfd, timeout_ms, what);
	if (nfd >= 0)
		close(nfd);
	free(w.buf);
	return r;
}

int hl_child_wait_byte(struct hl_child *c, int fd, int timeout_ms)
{
	char b, see[PATH_MAX + 16];
	ssize_t n;
	int r;

	r = hl_child_poll(c, fd, POLLIN, timeout_ms);
	if (r < 0)
		return -1;
	if (r == 0)
		return error_not_ready(c, timeout_ms, "no byte on its readiness fd");
	do
		n = read(fd, &b, 1);
	while (n < 0 && errno == EINTR);
	if (n == 1)
		return 0;
	if (n < 0)
		return hl_error_errno("cannot read the readiness fd of '%s'", c->name);
	if (child_wait_exit(c, deadline_after(HL_CHILD_KILL_WAIT_MS)))
		return hl_child_error_died(c);
	see_log(c, see, sizeof(see));
	return hl_error("'%s' closed its readiness fd without signalling that it was ready%s",
			c->name, see);
}

int hl_child_running(struct hl_child *c)
{
	return !child_reap(c);
}

int hl_child_status(const struct hl_child *c)
{
	return c->exited ? c->status : -1;
}

int hl_child_signal(struct hl_child *c, int sig)
{
	if (child_reap(c))
		return 0;
	if (kill_group(c->pid, sig) < 0)
		return hl_error_errno("cannot send signal %d to '%s' (pid %d)", sig, c->name,
				      (int)c->pid);
	return 0;
}

int hl_child_wait(struct hl_child *c, int timeout_ms, int *status)
{
	if (!child_wait_exit(c, deadline_after(timeout_ms)))
		return hl_error("'%s' (pid %d) is still running after %d ms", c->name,
				(int)c->pid, timeout_ms);
	if (status)
		*status = c->status;
	return 0;
}

int hl_child_stop(struct hl_child *c, int timeout_ms, int *status)
{
	return hl_child_stop_with(c, NULL, NULL, timeout_ms, status);
}

int hl_child_stop_with(struct hl_child *c, hl_child_stop_fn polite, void *arg,
		       int timeout_ms, int *status)
{
	if (!child_reap(c)) {
		if (!polite || polite(c, arg) < 0) {
			if (polite)
				hl_log_debug("polite stop of '%s' failed (%s); sending SIGTERM",
					     c->name, hl_error_last());
			if (!child_reap(c))
				kill_group(c->pid, SIGTERM);
		}
		if (!child_wait_exit(c, deadline_after(timeout_ms < 0 ? 0 : timeout_ms))) {
			hl_log_debug("'%s' (pid %d) still running after %d ms; sending SIGKILL",
				     c->name, (int)c->pid, timeout_ms);
			kill_group(c->pid, SIGKILL);
			if (!child_wait_exit(c, deadline_after(HL_CHILD_KILL_WAIT_MS)))
				return hl_error("'%s' (pid %d) did not die %d ms after SIGKILL; "
						"it may be stuck in the kernel",
						c->name, (int)c->pid, HL_CHILD_KILL_WAIT_MS);
		}
	}
	if (status)
		*status = c->status;
	return 0;
}

void hl_child_free(struct hl_child *c)
{
	if (!c)
		return;
	if (c->pid > 0 && !child_reap(c)) {
		kill_group(c->pid, SIGKILL);
		if (!child_wait_exit(c, deadline_after(HL_CHILD_KILL_WAIT_MS)))
			hl_log_warn("'%s' (pid %d) did not die after SIGKILL; left for exit cleanup",
				    c->name, (int)c->pid);
	}
	if (c->pidfd >= 0)
		close(c->pidfd);
	free(c->name);
	free(c->log_path);
	free(c);
}

/* Reap PID without blocking; 1 when it is gone (async-signal-safe). */
static int reaped(pid_t pid)
{
	int st;
	pid_t r = waitpid(pid, &st, WNOHANG);

	return r == pid || (r < 0 && errno == ECHILD);
}

/* Wait until every pid in PIDS is reaped or DEADLINE passes; entries become 0. */
static int reap_all(pid_t *pids, const int *slots, const uint64_t *vals, int n, int64_t deadline)
{
	struct timespec nap = { 0, 5 * 1000000L };
	int i, left;

	for (;;) {
		left = 0;
		for (i = 0; i < n; i++) {
			if (!pids[i])
				continue;
			if (reaped(pids[i])) {
				registry_release(slots[i], vals[i]);
				pids[i] = 0;
			} else {
				left++;
			}
		}
		if (!left || hl_clock_ms() >= deadline)
			return left;
		nanosleep(&nap, NULL);
	}
}

void hl_child_cleanup_all(int grace_ms)
{
	pid_t me = getpid(), pids[HL_CHILD_MAX];
	uint64_t vals[HL_CHILD_MAX], v;
	int slots[HL_CHILD_MAX], n = 0, i, saved = errno;

	for (i = 0; i < HL_CHILD_MAX; i++) {
		v = atomic_load(&registry[i]);
		if ((pid_t)(v >> 32) != me || (pid_t)(uint32_t)v == 0)
			continue;
		pids[n] = (pid_t)(uint32_t)v;
		vals[n] = v;
		slots[n] = i;
		kill_group(pids[n], SIGTERM);
		n++;
	}
	if (n) {
		if (grace_ms < 0)
			grace_ms = HL_CHILD_GRACE_MS;
		if (reap_all(pids, slots, vals, n, hl_clock_ms() + grace_ms) > 0) {
			for (i = 0; i < n; i++)
				if (pids[i])
					kill_group(pids[i], SIGKILL);
			reap_all(pids, slots, vals, n, hl_clock_ms() + HL_CHILD_KILL_WAIT_MS);
		}
	}
	errno = saved;
}

/* atexit hook: stop every child of this process. */
static void cleanup_at_exit(void)
{
	hl_child_cleanup_all(atomic_load(&cleanup_grace_ms));
}

/* SIGINT/SIGTERM/SIGHUP: stop every child, then die by the same signal. */
static void cleanup_on_signal(int sig)
{
	struct sigaction sa;
	sigset_t set;

	hl_child_cleanup_all(atomic_load(&cleanup_grace_ms));
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sigemptyset(&sa.sa_mask);
	sigaction(sig, &sa, NULL);
	raise(sig);
	sigemptyset(&set);
	sigaddset(&set, sig);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	_exit(128 + sig);
}

int hl_child_cleanup_install(int grace_ms)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP };
	struct sigaction sa, old;
	size_t i;

	atomic_store(&cleanup_grace_ms, grace_ms < 0 ? HL_CHILD_GRACE_MS : grace_ms);
	if (atomic_exchange(&cleanup_installed, 1))
		return 0;
	if (atexit(cleanup_at_exit) != 0) {
		atomic_store(&cleanup_installed, 0);
		return hl_error("cannot install the child cleanup: atexit failed");
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = cleanup_on_signal;
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaddset(&sa.sa_mask, sigs[i]);
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		if (sigaction(sigs[i], NULL, &old) == 0 && old.sa_handler == SIG_IGN)
			continue;       /* e.g. nohup: keep ignoring */
		if (sigaction(sigs[i], &sa, NULL) < 0)
			return hl_error_errno("cannot install the child cleanup for signal %d",
					      sigs[i]);
	}
	return 0;
}

/* ---- processes that are not hl_child children ---- */

/* 1 when PID is one of this process's registered children (hl_child reaps those). */
static int registered(pid_t pid)
{
	pid_t me = getpid();
	uint64_t v;
	int i;

	for (i = 0; i < HL_CHILD_MAX; i++) {
		v = atomic_load(&registry[i]);
		if ((pid_t)(v >> 32) == me && (pid_t)(uint32_t)v == pid)
			return 1;
	}
	return 0;
}

/* Liveness by pid: kill(pid, 0), then the state letter of /proc/PID/stat. */
int hl_proc_alive(pid_t pid)
{
	char path[64], buf[512], *rp;
	ssize_t n;
	int fd;

	if (pid <= 0 || (kill(pid, 0) < 0 && errno != EPERM))
		return 0;
	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return errno == ENOENT ? 0 : 1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 1;
	buf[n] = '\0';
	/* "PID (COMM) STATE ...": the state follows the last ')' */
	rp = strrchr(buf, ')');
	return !(rp && rp[1] == ' ' && (rp[2] == 'Z' || rp[2] == 'X'));
}

/* 1 when PID lives; an ended child of this process that hl_child does not own is reaped first. */
static int proc_live(pid_t pid)
{
	if (pid > 0 && !registered(pid))
		waitpid(pid, NULL, WNOHANG);
	return hl_proc_alive(pid);
}

/* How many of PIDS live. */
static size_t procs_live(const pid_t *pids, size_t n)
{
	size_t i, left = 0;

	for (i = 0; i < n; i++)
		left += (size_t)proc_live(pids[i]);
	return left;
}

/* Poll PIDS every POLL_SLICE_MS until none lives or TIMEOUT_MS passes. */
size_t hl_proc_wait(const pid_t *pids, size_t n, int timeout_ms)
{
	int64_t deadline = hl_clock_ms() + (timeout_ms < 0 ? 0 : timeout_ms);
	struct timespec nap = { 0, POLL_SLICE_MS * 1000000L };
	size_t left;

	while ((left = procs_live(pids, n)) && hl_clock_ms() < deadline)
		nanosleep(&nap, NULL);
	return left;
}

/* SIGTERM, bounded wait, SIGKILL, bounded wait. */
size_t hl_proc_stop(const pid_t *pids, size_t n, int term_ms)
{
	size_t i, live = 0;

	for (i = 0; i < n; i++)
		if (proc_live(pids[i])) {
			kill(pids[i], SIGTERM);
			live++;
		}
	if (live && hl_proc_wait(pids, n, term_ms)) {
		for (i = 0; i < n; i++)
			if (hl_proc_alive(pids[i]))
				kill(pids[i], SIGKILL);
		hl_proc_wait(pids, n, HL_CHILD_KILL_WAIT_MS);
	}
	return live;
}

/* ---- pid files ---- */

/* Tries, PIDFILE_NAP_MS apart, to tell a held lock from one a reader holds for a moment. */
#define PIDFILE_TRIES 100
#define PIDFILE_NAP_MS 10

/* The pid written in FD (a pid file), 0 when none can be read. */
static pid_t pidfile_read(int fd)
{
	char buf[32], *end;
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	long pid;

	if (n <= 0)
		return 0;
	buf[n] = '\0';
	errno = 0;
	pid = strtol(buf, &end, 10);
	if (errno || end == buf || pid <= 0 || pid > INT_MAX || (*end && *end != '\n'))
		return 0;
	return (pid_t)pid;
}

/* 1 when FD is the file at PATH now (not one unlinked or replaced meanwhile). */
static int pidfile_same(int fd, const char *path)
{
	struct stat a, b;

	return fstat(fd, &a) == 0 && lstat(path, &b) == 0 && a.st_ino == b.st_ino &&
	       a.st_dev == b.st_dev;
}

/* Lock PATH for good and write our pid in it. */
int hl_pidfile_claim(struct hl_pidfile *p, const char *path, pid_t *owner)
{
	struct timespec nap = { 0, PIDFILE_NAP_MS * 1000000L };
	pid_t holder = 0;
	char text[32];
	int fd = -1, i, n, held = 0;

	p->path[0] = '\0';
	p->fd = -1;
	if (owner)
		*owner = 0;
	if (strlen(path) >= sizeof(p->path))
		return hl_error("pid file path '%s' is too long", path);
	for (i = 0; i < PIDFILE_TRIES; i++) {
		if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644)) < 0)
			return hl_error_errno("cannot open the pid file '%s'", path);
		if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
			/* the file may have been removed by its last owner meanwhile: take the new one */
			if (pidfile_same(fd, path))
				break;
		} else if (errno != EWOULDBLOCK) {
			hl_error_errno("cannot lock the pid file '%s'", path);
			close(fd);
			return -1;
		} else if ((holder = pidfile_read(fd)) > 0 && hl_proc_alive(holder)) {
			/* held by a live owner, who wrote its pid (a reader holds it only a moment) */
			held = 1;
			break;
		}
		close(fd);
		fd = -1;
		nanosleep(&nap, NULL);
	}
	if (held || fd < 0) {
		if (fd >= 0)
			close(fd);
		if (!held)
			holder = 0;
		if (owner)
			*owner = holder;
		return hl_error("'%s' is held by pid %ld", path, (long)holder);
	}
	n = snprintf(text, sizeof(text), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, text, (size_t)n, 0) != n) {
		hl_error_errno("cannot write the pid file '%s'", path);
		close(fd);
		return -1;
	}
	snprintf(p->path, sizeof(p->path), "%s", path);
	p->fd = fd;
	return 0;
}

/* Remove our pid file, then drop its lock. */
void hl_pidfile_release(struct hl_pidfile *p)
{
	if (!p->path[0])
		return;
	/* ours, or a file put there since that nobody holds: never another owner's */
	if (pidfile_same(p->fd, p->path) || hl_pidfile_owner(p->path) == 0)
		unlink(p->path);
	close(p->fd);
	p->fd = -1;
	p->path[0] = '\0';
}

/* The live holder of PATH's lock. */
pid_t hl_pidfile_owner(const char *path)
{
	pid_t pid = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0)
		return 0;
	if (flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK) {
		pid = pidfile_read(fd);
		if (pid > 0 && !hl_proc_alive(pid))
			pid = 0;
	}
	close(fd);
	return pid;
}
