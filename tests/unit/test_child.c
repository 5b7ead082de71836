/*
 * test_child.c - unit tests for lib/child (the child-process supervisor, and
 * the liveness and bounded stop of processes it does not supervise).
 *
 * The children are tests/unit/helper_child, found next to this binary.  The
 * test process makes itself a child subreaper so that grandchildren orphaned
 * by a supervisor that died come back to it and can be checked and reaped.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/child.h"
#include "lib/clock.h"
#include "tests/unit/testutil.h"

static char helper[PATH_MAX];

/* A scratch directory per test. */
struct sandbox {
	char dir[TU_SANDBOX_DIR];   /* first: the scratch folder (tu_sandbox_new) */
	char log[128];
};

static int sandbox_setup(void **state)
{
	struct sandbox *s = tu_sandbox_new(sizeof(*s), "child");

	if (!s)
		return -1;
	snprintf(s->log, sizeof(s->log), "%s/child.log", s->dir);
	*state = s;
	return 0;
}

static int sandbox_teardown(void **state)
{
	return tu_sandbox_free(*state);
}

/* Spawn helper_child with ARGS (NULL-terminated) and the log in S. */
static struct hl_child *spawn_helper(struct sandbox *s, const char *a1, const char *a2,
				     const char *a3)
{
	const char *argv[] = { helper, a1, a2, a3, NULL };
	struct hl_child_opts o = { .log_path = s->log };
	struct hl_child *c = NULL;

	if (hl_child_spawn(argv, &o, &c) < 0)
		fail_msg("spawn failed: %s", hl_error_last());
	return c;
}

/* A program that does not exist fails at spawn with the exec errno. */
static void test_exec_failure(void **state)
{
	const char *abs[] = { "/nonexistent/hgslab-no-such-prog", NULL };
	const char *bare[] = { "hgslab-no-such-prog", NULL };
	struct hl_child *c = (struct hl_child *)1;

	(void)state;
	assert_int_equal(hl_child_spawn(abs, NULL, &c), -1);
	assert_null(c);
	assert_string_equal(hl_error_last(),
			    "cannot run '/nonexistent/hgslab-no-such-prog': No such file or directory");
	assert_int_equal(hl_child_spawn(bare, NULL, &c), -1);
	assert_error_has("cannot run 'hgslab-no-such-prog': No such file or directory");
}

/* Relative programs and empty PATH entries resolve in the parent's cwd, not opts->cwd. */
static void test_relative_program(void **state)
{
	struct sandbox *s = *state;
	const char *rel[] = { "./helper_child", "exit", "0", NULL };
	const char *bare[] = { "helper_child", "exit", "0", NULL };
	const char *env[] = { "PATH=/nonexistent::/also-nonexistent", NULL };
	struct hl_child_opts o = { .cwd = s->dir, .log_path = s->log };
	struct hl_child *c = NULL;
	char cwd[PATH_MAX], dir[PATH_MAX];
	int status = -1;

	assert_non_null(getcwd(cwd, sizeof(cwd)));
	snprintf(dir, sizeof(dir), "%s", helper);
	assert_int_equal(chdir(dirname(dir)), 0);
	assert_int_equal(hl_child_spawn(rel, &o, &c), 0);
	assert_int_equal(hl_child_wait(c, 10000, &status), 0);
	assert_int_equal(status, 0);
	hl_child_free(c);
	o.env = env;
	assert_int_equal(hl_child_spawn(bare, &o, &c), 0);
	assert_int_equal(hl_child_wait(c, 10000, &status), 0);
	assert_int_equal(status, 0);
	hl_child_free(c);
	assert_int_equal(chdir(cwd), 0);
}

/* A missing working directory is reported through the exec-error pipe. */
static void test_cwd_failure(void **state)
{
	const char *argv[] = { helper, "sleep", NULL };
	struct hl_child_opts o = { .cwd = "/nonexistent-hgslab-dir" };
	struct hl_child *c = NULL;

	(void)state;
	assert_int_equal(hl_child_spawn(argv, &o, &c), -1);
	assert_null(c);
	assert_error_has("cannot change to directory "
			 "'/nonexistent-hgslab-dir': No such file or directory");
}

/* A child that exits while being waited for fails the wait at once. */
static void test_dies_before_ready(void **state)
{
	struct sandbox *s = *state;
	struct hl_child *c = spawn_helper(s, "exit", "3", NULL);
	long long t0 = hl_clock_ms();
	char want[256];

	assert_int_equal(hl_child_wait_log(c, "never printed", 10000), -1);
	assert_true(hl_clock_ms() - t0 < 2000);
	snprintf(want, sizeof(want), "'helper_child' exited with status 3 before it was ready: "
		 "helper_child: exiting with 3 on purpose; see '%s'", s->log);
	assert_string_equal(hl_error_last(), want);
	assert_int_equal(hl_child_running(c), 0);
	assert_int_equal(hl_child_status(c), 3);
	hl_child_free(c);
}

/* Log readiness sees only output since the spawn, and waits for it. */
static void test_ready_log(void **state)
{
	struct sandbox *s = *state;
	struct hl_child *c;
	FILE *f = fopen(s->log, "w");
	long long t0;
	int status = -1;

	assert_non_null(f);
	fprintf(f, "READY 42 from an earlier run\n");
	fclose(f);
	t0 = hl_clock_ms();
	c = spawn_helper(s, "ready-line", "300", "READY 42");
	assert_int_equal(hl_child_wait_log(c, "READY 42", 10000), 0);
	assert_true(hl_clock_ms() - t0 >= 250);
	assert_int_equal(hl_child_running(c), 1);
	assert_int_equal(hl_child_stop(c, 2000, &status), 0);
	assert_int_equal(status, 128 + SIGTERM);
	hl_child_free(c);
}

/* Pid file readiness returns the pid written by the child. */
static void test_ready_pidfile(void **state)
{
	struct sandbox *s = *state;
	char path[128];
	struct hl_child *c;
	pid_t pid = 0;

	snprintf(path, sizeof(path), "%s/helper.pid", s->dir);
	c = spawn_helper(s, "pidfile", "200", path);
	assert_int_equal(hl_child_wait_pidfile(c, path, 10000, &pid), 0);
	assert_int_equal(pid, hl_child_pid(c));
	assert_int_equal(hl_child_stop(c, 2000, NULL), 0);
	hl_child_free(c);
}

/* TCP readiness: a connect succeeds once the child listens. */
static void test_ready_tcp(void **state)
{
	struct sandbox *s = *state;
	char port[16];
	struct hl_child *c;
	int p = tu_closed_port();

	snprintf(port, sizeof(port), "%d", p);
	c = spawn_helper(s, "tcp", "200", port);
	assert_int_equal(hl_child_wait_tcp(c, "127.0.0.1", p, 10000), 0);
	hl_child_free(c);
}

/* Unix socket readiness. */
static void test_ready_unix(void **state)
{
	struct sandbox *s = *state;
	char path[128];
	struct hl_child *c;

	snprintf(path, sizeof(path), "%s/helper.sock", s->dir);
	c = spawn_helper(s, "unix", "200", path);
	assert_int_equal(hl_child_wait_unix(c, path, 10000), 0);
	hl_child_free(c);
}

/* Readiness by a byte written on an inherited fd. */
static void test_ready_byte(void **state)
{
	struct sandbox *s = *state;
	const char *argv[] = { helper, "byte", "200", "5", NULL };
	struct hl_child_fd fd;
	struct hl_child_opts o = { .log_path = s->log, .fds = &fd, .nfds = 1 };
	struct hl_child *c = NULL;
	int p[2];

	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	fd.parent_fd = p[1];
	fd.child_fd = 5;
	assert_int_equal(hl_child_spawn(argv, &o, &c), 0);
	close(p[1]);
	assert_int_equal(hl_child_wait_byte(c, p[0], 10000), 0);
	hl_child_free(c);
	close(p[0]);
}

/* A child that is not ready in time fails the wait, and is left running. */
static void test_ready_timeout(void **state)
{
	struct sandbox *s = *state;
	struct hl_child *c = spawn_helper(s, "ready-line", "5000", "LATE");
	long long t0 = hl_clock_ms(), dt;
	char want[256];

	assert_int_equal(hl_child_wait_log(c, "LATE", 200), -1);
	dt = hl_clock_ms() - t0;
	assert_true(dt >= 200 && dt < 1500);
	snprintf(want, sizeof(want), "'helper_child' was not ready after 200 ms "
		 "(no log line with 'LATE'); see '%s'", s->log);
	assert_string_equal(hl_error_last(), want);
	assert_int_equal(hl_child_running(c), 1);
	hl_child_free(c);
}

/* A child that ignores SIGTERM is killed after the timeout (128+9). */
static void test_stop_sigkill(void **state)
{
	struct sandbox *s = *state;
	struct hl_child *c = spawn_helper(s, "ignore-term", NULL, NULL);
	long long t0, dt;
	int status = -1;

	assert_int_equal(hl_child_wait_log(c, "ready", 10000), 0);
	t0 = hl_clock_ms();
	assert_int_equal(hl_child_stop(c, 300, &status), 0);
	dt = hl_clock_ms() - t0;
	assert_int_equal(status, 128 + SIGKILL);
	assert_true(dt >= 300 && dt < 3000);
	assert_int_equal(kill(hl_child_pid(c), 0), -1);
	hl_child_free(c);
}

/* The stop callback replaces SIGTERM. */
static int stop_with_usr1(struct hl_child *c, void *arg)
{
	(*(int *)arg)++;
	return hl_child_signal(c, SIGUSR1);
}

static void test_stop_callback(void **state)
{
	struct sandbox *s = *state;
	struct hl_child *c = spawn_helper(s, "sleep", NULL, NULL);
	int calls = 0, status = -1;

	assert_int_equal(hl_child_stop_with(c, stop_with_usr1, &calls, 2000, &status), 0);
	assert_int_equal(calls, 1);
	assert_int_equal(status, 128 + SIGUSR1);
	/* stopping again is harmless and reports the same status */
	assert_int_equal(hl_child_stop(c, 2000, &status), 0);
	assert_int_equal(status, 128 + SIGUSR1);
	hl_child_free(c);
}

/* Passed fds land at their numbers (even when numbers collide), nothing else leaks. */
static void test_fd_passing(void **state)
{
	struct sandbox *s = *state;
	char r1num[16], want[128];
	const char *argv[] = { helper, "report", "7", r1num, NULL };
	const char *env[] = { "HELPER_VAR=hello", "HOME", NULL };
	struct hl_child_fd fds[2];
	struct hl_child_opts o = { .log_path = s->log, .cwd = s->dir, .env = env,
				   .fds = fds, .nfds = 2 };
	struct hl_child *c = NULL;
	int p1[2], p2[2], leak, status = -1;

	assert_int_equal(pipe(p1), 0);
	assert_int_equal(pipe(p2), 0);
	leak = dup(p1[1]);              /* not close-on-exec: must not reach the child */
	assert_true(write(p1[1], "first", 5) == 5);
	assert_true(write(p2[1], "second", 6) == 6);
	close(p1[1]);
	close(p2[1]);
	/* p1's read end goes to 7, p2's read end to the number p1's read end has */
	fds[0].parent_fd = p1[0];
	fds[0].child_fd = 7;
	fds[1].parent_fd = p2[0];
	fds[1].child_fd = p1[0];
	snprintf(r1num, sizeof(r1num), "%d", p1[0]);
	assert_int_equal(hl_child_spawn(argv, &o, &c), 0);
	assert_int_equal(hl_child_wait(c, 10000, &status), 0);
	assert_int_equal(status, 0);
	hl_child_free(c);
	close(p1[0]);
	close(p2[0]);
	close(leak);

	snprintf(want, sizeof(want), "cwd=%s\n", s->dir);
	assert_true(tu_file_has(s->log, want));
	assert_true(tu_file_has(s->log, "env=hello\n"));
	assert_true(tu_file_has(s->log, "home=(unset)\n"));
	snprintf(want, sizeof(want), "fds=0,1,2,%d,7\n", p1[0]);
	if (p1[0] > 7)
		snprintf(want, sizeof(want), "fds=0,1,2,7,%d\n", p1[0]);
	assert_true(tu_file_has(s->log, want));
	assert_true(tu_file_has(s->log, "fd7=first\n"));
	snprintf(want, sizeof(want), "fd%d=second\n", p1[0]);
	assert_true(tu_file_has(s->log, want));
}

/* The child leads its own process group (terminal Ctrl-C reaches only the parent). */
static void test_own_process_group(void **state)
{
	struct sandbox *s = *state;
	struct hl_child *c = spawn_helper(s, "ready-line", "0", "up");

	assert_int_equal(hl_child_wait_log(c, "up", 10000), 0);
	assert_int_equal(getpgid(hl_child_pid(c)), hl_child_pid(c));
	hl_child_free(c);
}

/* Read the pids a helper supervisor reports on FD; returns how many. */
static int read_pids(struct hl_child *sup, int fd, pid_t *pids, int max)
{
	char buf[256], *p, *end;
	ssize_t n;
	int count = 0;

	assert_int_equal(hl_child_poll(sup, fd, POLLIN, 10000), 1);
	n = read(fd, buf, sizeof(buf) - 1);
	assert_true(n > 0);
	buf[n] = '\0';
	for (p = buf; count < max; p = end) {
		long v = strtol(p, &end, 10);

		if (end == p)
			break;
		pids[count++] = (pid_t)v;
	}
	return count;
}

/* Kill and reap PIDS that are still around (after a failed check). */
static void reap_leftovers(const pid_t *pids, int n)
{
	int i;

	for (i = 0; i < n; i++) {
		kill(pids[i], SIGKILL);
		waitpid(pids[i], NULL, WNOHANG);
	}
}

/*
 * Acceptance: no child of a supervisor survives the supervisor receiving SIG.
 * The supervisor's children have no PR_SET_PDEATHSIG, so only the cleanup
 * handler can kill them; the first one ignores SIGTERM (SIGKILL path).
 */
static void supervisor_signal_case(struct sandbox *s, int sig)
{
	char rfd[8];
	const char *argv[] = { helper, "supervisor", s->dir, "3", "300", rfd, NULL };
	struct hl_child_fd fd;
	struct hl_child_opts o = { .log_path = s->log, .fds = &fd, .nfds = 1 };
	struct hl_child *sup = NULL;
	pid_t pids[8];
	int p[2], n, i, status = -1, gone = 0;

	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	fd.parent_fd = p[1];
	fd.child_fd = 5;
	snprintf(rfd, sizeof(rfd), "5");
	assert_int_equal(hl_child_spawn(argv, &o, &sup), 0);
	close(p[1]);
	n = read_pids(sup, p[0], pids, 8);
	close(p[0]);
	assert_int_equal(n, 3);
	for (i = 0; i < n; i++)
		assert_int_equal(kill(pids[i], 0), 0);

	assert_int_equal(kill(hl_child_pid(sup), sig), 0);
	assert_int_equal(hl_child_wait(sup, 10000, &status), 0);
	hl_child_free(sup);
	for (i = 0; i < n; i++)
		if (kill(pids[i], 0) < 0 && errno == ESRCH)
			gone++;
	if (gone != n)
		reap_leftovers(pids, n);
	assert_int_equal(gone, n);
	assert_int_equal(status, 128 + sig);
}

static void test_cleanup_on_sigterm(void **state)
{
	supervisor_signal_case(*state, SIGTERM);
}

static void test_cleanup_on_sigint(void **state)
{
	supervisor_signal_case(*state, SIGINT);
}

/* Second line of defence: a SIGKILLed supervisor's children die by PR_SET_PDEATHSIG. */
static void test_deathsig(void **state)
{
	struct sandbox *s = *state;
	char rfd[8] = "5";
	const char *argv[] = { helper, "supervisor", s->dir, "2", "300", rfd, "nocleanup", NULL };
	struct hl_child_fd fd;
	struct hl_child_opts o = { .log_path = s->log, .fds = &fd, .nfds = 1 };
	struct hl_child *sup = NULL;
	long long deadline;
	pid_t pids[8], r;
	int p[2], n, i, st, killed = 0;

	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	fd.parent_fd = p[1];
	fd.child_fd = 5;
	assert_int_equal(hl_child_spawn(argv, &o, &sup), 0);
	close(p[1]);
	n = read_pids(sup, p[0], pids, 8);
	close(p[0]);
	assert_int_equal(n, 2);
	assert_int_equal(hl_child_signal(sup, SIGKILL), 0);
	assert_int_equal(hl_child_wait(sup, 10000, &st), 0);
	assert_int_equal(st, 128 + SIGKILL);
	hl_child_free(sup);
	/* orphans are reparented to this subreaper: reap them here */
	deadline = hl_clock_ms() + 5000;
	for (i = 0; i < n; i++) {
		while ((r = waitpid(pids[i], &st, WNOHANG)) == 0 && hl_clock_ms() < deadline)
			poll(NULL, 0, 5);
		if (r == pids[i] && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL)
			killed++;
	}
	if (killed != n)
		reap_leftovers(pids, n);
	assert_int_equal(killed, n);
}

/* ---- processes that are not hl_child children ---- */

/*
 * Fork and exec ARGV (in its own process group) without lib/child; with
 * READY, wait for a "ready" line on its stdout.
 */
static pid_t fork_exec(const char *const argv[], int ready)
{
	char buf[64];
	size_t have = 0;
	int pfd[2];
	pid_t pid;

	assert_int_equal(pipe(pfd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		setpgid(0, 0);
		dup2(pfd[1], 1);
		close(pfd[0]);
		close(pfd[1]);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(pfd[1]);
	while (ready && have < sizeof(buf) - 1) {
		ssize_t n = read(pfd[0], buf + have, sizeof(buf) - 1 - have);

		if (n <= 0)
			fail_msg("'%s' ended before it was ready", argv[0]);
		have += (size_t)n;
		buf[have] = '\0';
		if (strstr(buf, "ready"))
			break;
	}
	close(pfd[0]);
	return pid;
}

/* A running process is alive; an ended one is not, zombie or reaped; a pid <= 0 is not. */
static void test_proc_alive(void **state)
{
	pid_t pid;
	int i;

	(void)state;
	assert_int_equal(hl_proc_alive(getpid()), 1);
	assert_int_equal(hl_proc_alive(0), 0);
	assert_int_equal(hl_proc_alive(-1), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(0);
	/* not reaped yet: a zombie counts as ended */
	for (i = 0; i < 500 && hl_proc_alive(pid); i++)
		poll(NULL, 0, 10);
	assert_int_equal(hl_proc_alive(pid), 0);
	assert_int_equal(kill(pid, 0), 0);
	assert_int_equal(waitpid(pid, NULL, 0), pid);
	/* reaped: the pid is gone */
	assert_int_equal(hl_proc_alive(pid), 0);
	/* nothing runs, nothing is stopped */
	assert_int_equal(hl_proc_stop(&pid, 1, 100), 0);
	assert_int_equal(hl_proc_wait(&pid, 1, 100), 0);
}

/* A process that ignores SIGTERM gets SIGKILL within the bound, and ours is reaped. */
static void test_proc_stop_sigkill(void **state)
{
	const char *argv[] = { helper, "ignore-term", NULL };
	pid_t pids[2] = { 0, 0 };
	long long t0, dt;

	(void)state;
	pids[1] = fork_exec(argv, 1);
	assert_int_equal(hl_proc_alive(pids[1]), 1);
	t0 = hl_clock_ms();
	assert_int_equal(hl_proc_stop(pids, 2, 300), 1);
	dt = hl_clock_ms() - t0;
	assert_true(dt >= 300 && dt < 3000);
	assert_int_equal(hl_proc_alive(pids[1]), 0);
	/* it was this process's child, not an hl_child: hl_proc_stop reaped it */
	errno = 0;
	assert_int_equal(waitpid(pids[1], NULL, WNOHANG), -1);
	assert_int_equal(errno, ECHILD);
}

/* A process that ends on SIGTERM ends well before the bound. */
static void test_proc_stop_term(void **state)
{
	const char *argv[] = { helper, "sleep", NULL };
	pid_t pid = fork_exec(argv, 0);
	long long t0;

	(void)state;
	assert_int_equal(hl_proc_wait(&pid, 1, 200), 1);
	t0 = hl_clock_ms();
	assert_int_equal(hl_proc_stop(&pid, 1, 5000), 1);
	assert_true(hl_clock_ms() - t0 < 2000);
	assert_int_equal(waitpid(pid, NULL, WNOHANG), -1);
}

/* Only the pid given is stopped, never its process group (another member lives on). */
static void test_proc_stop_pid_only(void **state)
{
	/* the group holds the shell and its sleep */
	const char *argv[] = { "/bin/sh", "-c", "sleep 30 & echo ready; wait", NULL };
	pid_t pid = fork_exec(argv, 1), member = 0;
	int i;

	(void)state;
	for (i = 0; i < 500 && member <= 0; i++) {
		FILE *f = popen(tu_path("pgrep -g %ld -x sleep", (long)pid), "r");
		int m;

		if (f && fscanf(f, "%d", &m) == 1)
			member = (pid_t)m;
		if (f)
			pclose(f);
		if (member <= 0)
			poll(NULL, 0, 10);
	}
	assert_true(member > 0);
	assert_int_equal(hl_proc_stop(&pid, 1, 2000), 1);
	assert_int_equal(hl_proc_alive(pid), 0);
	assert_int_equal(hl_proc_alive(member), 1);
	/* the sleep comes back to this subreaper */
	kill(member, SIGKILL);
	waitpid(member, NULL, 0);
}

/*
 * Pid files: the holder of the lock owns one.  A claim writes our pid; a
 * second claim (another open file) is refused naming us; a pid file naming
 * a live process that holds no lock (our parent) is free; a killed owner's
 * file stays but names nobody; release removes it.
 */
static void test_pidfile(void **state)
{
	struct sandbox *s = *state;
	struct hl_pidfile a = { "", -1 }, b = { "", -1 };
	PATH_VAR(path, "%s/x.pid", s->dir);
	char text[32];
	pid_t owner = 0, pid;
	int status;

	assert_int_equal(hl_pidfile_owner(path), 0);
	assert_int_equal(hl_pidfile_claim(&a, path, NULL), 0);
	assert_int_equal(hl_pidfile_owner(path), getpid());
	snprintf(text, sizeof(text), "%ld\n", (long)getpid());
	assert_true(tu_file_has(path, text));
	assert_int_equal(hl_pidfile_claim(&b, path, &owner), -1);
	assert_int_equal(owner, getpid());
	assert_error_has("is held by pid");
	hl_pidfile_release(&a);
	assert_false(tu_exists(path));
	hl_pidfile_release(&a);
	/* a live but unrelated pid in the file: nobody holds it */
	snprintf(text, sizeof(text), "%ld\n", (long)getppid());
	tu_put(path, text);
	assert_int_equal(hl_pidfile_owner(path), 0);
	/* a child claims it and is killed: its file stays, naming nobody */
	pid = tu_pidfile_holder(path);
	assert_int_equal(hl_pidfile_owner(path), pid);
	assert_int_equal(hl_pidfile_claim(&b, path, &owner), -1);
	assert_int_equal(owner, pid);
	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(tu_exists(path));
	assert_int_equal(hl_pidfile_owner(path), 0);
	assert_int_equal(hl_pidfile_claim(&b, path, NULL), 0);
	assert_int_equal(hl_pidfile_owner(path), getpid());
	hl_pidfile_release(&b);
	assert_false(tu_exists(path));
}

/* An hl_child's pid is stopped but not reaped: its supervisor still gets the status. */
static void test_proc_stop_not_reaped(void **state)
{
	struct sandbox *s = *state;
	struct hl_child *c = spawn_helper(s, "sleep", NULL, NULL);
	pid_t pid = hl_child_pid(c);
	int status = -1;

	assert_int_equal(hl_proc_alive(pid), 1);
	assert_int_equal(hl_proc_stop(&pid, 1, 2000), 1);
	assert_int_equal(hl_proc_alive(pid), 0);
	assert_int_equal(hl_child_wait(c, 2000, &status), 0);
	assert_int_equal(status, 128 + SIGTERM);
	hl_child_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exec_failure),
		cmocka_unit_test(test_cwd_failure),
		cmocka_unit_test_setup_teardown(test_relative_program, sandbox_setup, sandbox_teardown),
		cmocka_unit_test_setup_teardown(test_dies_before_ready, sandbox_setup, sandbox_teardown),
		cmocka_unit_test_setup_teardown(test_ready_log, sandbox_setup, sandbox_teardown),
		cmocka_unit_test_setup_teardown(test_ready_pidfile, sandbox_setup, sandbox_teardown),
		cmocka_unit_test_setup_teardown(test_ready_tcp, sandbox_setup, sandbox_teardown),
		cmocka_unit_test_setup_teardown(test_ready_unix, sandbox_setup, sandbox_teardown),
		cmocka_unit_test_setup_teardown(test_ready_byte, sandbox_setup, sandbox_teardown),
		cmocka_unit_test_setup_teardown(test_ready_timeout, sandbox_setup, sandbox_teardown),
		cmocka_unit_test_setup_teardown(test_stop_sigkill, sandbox_setup, sandbox_teardown),
		cmocka_unit_test_setup_teardown(test_stop_callback, sandbox_setup, sandbox_teardown),
		cmocka_unit_test_setup_teardown(test_fd_passing, sandbox_setup, sandbox_teardown),
		cmocka_unit_test_setup_teardown(test_own_process_group, sandbox_setup, sandbox_teardown),
		cmocka_unit_test_setup_teardown(test_cleanup_on_sigterm, sandbox_setup, sandbox_teardown),
		cmocka_unit_test_setup_teardown(test_cleanup_on_sigint, sandbox_setup, sandbox_teardown),
		cmocka_unit_test_setup_teardown(test_deathsig, sandbox_setup, sandbox_teardown),
		cmocka_unit_test(test_proc_alive),
		cmocka_unit_test(test_proc_stop_sigkill),
		cmocka_unit_test(test_proc_stop_term),
		cmocka_unit_test(test_proc_stop_pid_only),
		cmocka_unit_test_setup_teardown(test_pidfile, sandbox_setup, sandbox_teardown),
		cmocka_unit_test_setup_teardown(test_proc_stop_not_reaped, sandbox_setup,
						sandbox_teardown),
	};
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n < 0)
		return 1;
	self[n] = '\0';
	snprintf(helper, sizeof(helper), "%s/helper_child", dirname(self));
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	hl_child_cleanup_install(500);
	return cmocka_run_group_tests_name("child", tests, NULL, NULL);
}
