/*
 * child.h - supervised child processes (swtpm, QEMU, HGS nodes, host agents).
 *
 * A child is spawned from an argv (never a shell string), waited on until it
 * signals that it is ready, and stopped within a bounded time.  Every live
 * child is kept in a process-wide registry so that nothing the lab starts
 * outlives it.
 *
 * Spawning.  hl_child_spawn() forks and execs argv.  In the child:
 *   - stdin is /dev/null; stdout and stderr go to opts->log_path (opened
 *     O_APPEND, created 0600) or are inherited when no log path is given;
 *   - each opts->fds[i].parent_fd becomes child_fd (dup2; a child_fd of
 *     0..2 overrides the above), every other fd above stderr is closed on
 *     exec;
 *   - every signal handler is reset to SIG_DFL (even SIG_IGN) and the signal
 *     mask is cleared;
 *   - the child leads its own process group, so Ctrl-C at the terminal reaches
 *     only the supervisor, which then stops its children in order (see
 *     hl_child_cleanup_install); stops signal the whole group;
 *   - PR_SET_PDEATHSIG(SIGKILL) kills the child if the thread that spawned
 *     it dies (spawn from a long-lived thread, or pass HL_CHILD_NO_DEATHSIG).
 * Exec failure is reported at once through a close-on-exec pipe:
 *   cannot run 'swtpm': No such file or directory
 * A bare program name is looked up in the PATH the child will get; a relative
 * one is taken from the parent's working directory, not opts->cwd.
 * Children must stay in the foreground (no daemonising): the supervisor
 * watches the process it started.
 *
 * Readiness.  hl_child_wait_*() block until a readiness signal, a timeout, or
 * the child's death, whichever comes first; a child that dies while being
 * waited for fails the wait at once with its status and the last line of its
 * log:
 *   'swtpm' exited with status 1 before it was ready: <last log line>; see 'LOG'
 * Child death is seen through a pidfd (poll), so no wait is a guessed sleep;
 * sockets have no change notification and are retried every few ms.
 *
 * Exit status.  An exit code 0..255, or 128+N when killed by signal N, the
 * shell's convention; -1 while running or when unknown.
 *
 * Cleanup.  hl_child_cleanup_install() makes sure children die with the
 * supervisor: at exit() and on SIGINT, SIGTERM or SIGHUP every registered
 * child's process group gets SIGTERM, then SIGKILL after a grace period, and
 * is reaped; a signalled supervisor then dies by that same signal (its parent
 * sees 128+N).  Signals the process ignored when it was installed stay
 * ignored.  A program that needs its own SIGTERM handler calls
 * hl_child_cleanup_all() from it instead.
 *
 * Caveats.  Reap children only through this module: SIGCHLD set to SIG_IGN or
 * a waitpid(-1) elsewhere steals exit statuses (the status is then reported
 * as -1).  At most HL_CHILD_MAX children are live at once.  A struct hl_child
 * belongs to one thread at a time.  Children are not in the terminal's
 * foreground group: one without a log file that reads the terminal (or writes
 * to it under "stty tostop") is stopped by SIGTTIN/SIGTTOU; stdin is
 * /dev/null, so give interactive-looking programs a log file.
 */
#ifndef HGSLAB_LIB_CHILD_H
#define HGSLAB_LIB_CHILD_H

#include <limits.h>
#include <stddef.h>
#include <sys/types.h>

#include "lib/err.h"

/* Maximum number of live supervised children per process. */
#define HL_CHILD_MAX 4096

/* Default time between SIGTERM and SIGKILL in the cleanup handlers. */
#define HL_CHILD_GRACE_MS 2000

/* How long a stop waits for a child to die after SIGKILL before giving up. */
#define HL_CHILD_KILL_WAIT_MS 5000

struct hl_child;

/* Pass the parent's PARENT_FD to the child as CHILD_FD. */
struct hl_child_fd {
	int parent_fd;
	int child_fd;
};

enum hl_child_flags {
	HL_CHILD_CLEAN_ENV = 1u << 0,    /* start from an empty environment */
	HL_CHILD_NO_DEATHSIG = 1u << 1,  /* no PR_SET_PDEATHSIG in the child */
};

/* Options for hl_child_spawn(); a zeroed struct (or NULL) means defaults. */
struct hl_child_opts {
	const char *name;               /* for messages; default basename(argv[0]) */
	const char *const *env;         /* NULL-terminated: "K=V" sets, "K" unsets */
	const char *cwd;                /* NULL: inherit */
	const char *log_path;           /* NULL: inherit stdout/stderr */
	const struct hl_child_fd *fds;  /* fds to pass, nfds entries */
	size_t nfds;
	unsigned flags;                 /* enum hl_child_flags */
};

/*
 * Start ARGV[0] with ARGV.  On success *out owns the running child (free it
 * with hl_child_free); the caller keeps its own copies of opts->fds and
 * should close the ones it no longer needs (e.g. a pipe's write end).
 */
int hl_child_spawn(const char *const argv[], const struct hl_child_opts *opts,
		   struct hl_child **out);

/* The child's pid (also its process group id). */
pid_t hl_child_pid(const struct hl_child *c);

/* The name used in messages. */
const char *hl_child_name(const struct hl_child *c);

/* The log path given at spawn, or NULL. */
const char *hl_child_log_path(const struct hl_child *c);

/* Wait until PATH holds the pid of a live process; that pid in *pid_out. */
int hl_child_wait_pidfile(struct hl_child *c, const char *path, int timeout_ms,
			  pid_t *pid_out);

/* Wait until a TCP connect to HOST:PORT succeeds. */
int hl_child_wait_tcp(struct hl_child *c, const char *host, int port, int timeout_ms);

/* Wait until a connect to the unix socket PATH succeeds. */
int hl_child_wait_unix(struct hl_child *c, const char *path, int timeout_ms);

/* Wait until TEXT appears in the child's log (only output since the spawn). */
int hl_child_wait_log(struct hl_child *c, const char *text, int timeout_ms);

/*
 * Wait until one byte can be read from FD, the parent's end of a pipe or
 * socket whose other end the child inherited; the byte is consumed.  The
 * parent must have closed its copy of the child's end.
 */
int hl_child_wait_byte(struct hl_child *c, int fd, int timeout_ms);

/*
 * Poll FD for EVENTS while watching the child: 1 when FD is ready (even if the
 * child died meanwhile), 0 on timeout (no error set), -1 when the child died
 * first (error set as for readiness) or poll failed.
 */
int hl_child_poll(struct hl_child *c, int fd, short events, int timeout_ms);

/*
 * Set the "exited before it was ready" error for a child that has exited
 * (or is exiting: waits up to HL_CHILD_KILL_WAIT_MS for it); returns -1.
 * For callers whose own readiness exchange saw the child go away.
 */
int hl_child_error_died(struct hl_child *c);

/* 1 if the child is still running, 0 once it has exited (and been reaped). */
int hl_child_running(struct hl_child *c);

/* The exit status (0..255 or 128+signal), -1 while running or unknown. */
int hl_child_status(const struct hl_child *c);

/* Send SIG to the child's process group (no-op once it has exited). */
int hl_child_signal(struct hl_child *c, int sig);

/* Wait up to TIMEOUT_MS (<0: forever) for the child to exit; status in *status. */
int hl_child_wait(struct hl_child *c, int timeout_ms, int *status);

/* A polite stop request, e.g. a shutdown command; returns 0 or -1. */
typedef int (*hl_child_stop_fn)(struct hl_child *c, void *arg);

/*
 * Bounded stop: SIGTERM to the group, wait up to TIMEOUT_MS (<0 means 0),
 * then SIGKILL and reap.  *status (may be NULL) gets the exit status, 128+9 when SIGKILL
 * was needed.  Fails only if the child cannot be reaped.
 */
int hl_child_stop(struct hl_child *c, int timeout_ms, int *status);

/* Like hl_child_stop() but POLITE(c, arg) replaces SIGTERM (SIGTERM if it fails). */
int hl_child_stop_with(struct hl_child *c, hl_child_stop_fn polite, void *arg,
		       int timeout_ms, int *status);

/* Free C; a child still running is killed (SIGKILL) and reaped.  NULL-safe. */
void hl_child_free(struct hl_child *c);

/*
 * Install the atexit hook and the SIGINT/SIGTERM/SIGHUP handlers that stop
 * every child (GRACE_MS between SIGTERM and SIGKILL; <0 means
 * HL_CHILD_GRACE_MS).  Idempotent; a second call only updates the grace.
 */
int hl_child_cleanup_install(int grace_ms);

/*
 * Stop and reap every child this process registered: SIGTERM, up to
 * GRACE_MS (<0: HL_CHILD_GRACE_MS), then SIGKILL.  Async-signal-safe.
 */
void hl_child_cleanup_all(int grace_ms);

/*
 * Processes that are not hl_child children: pids read from pid files or
 * state files (VM keepers, host agents, HGS nodes and DCs of a lab that
 * another hgslab started).  They are watched by polling, every few ms.  An
 * ended process that is this process's own child but not an hl_child (a
 * forked VM keeper) is reaped by hl_proc_wait() and hl_proc_stop(); an
 * hl_child's pid is never reaped here (hl_child_wait() still gets its
 * status), and a pid that is no child of ours cannot be.  Only the pids
 * given are signalled, never a process group: a pid read from a file must
 * first be proved to be the process meant (hl_pidfile_owner), since pids
 * are recycled.
 */

/* 1 when process PID runs; 0 when it is gone, is a zombie, or PID <= 0. */
int hl_proc_alive(pid_t pid);

/*
 * Wait up to TIMEOUT_MS (<0 means 0) until none of the N processes in PIDS
 * runs (entries <= 0 are skipped); returns how many still run.
 */
size_t hl_proc_wait(const pid_t *pids, size_t n, int timeout_ms);

/*
 * Bounded stop of the N processes in PIDS (entries <= 0 are skipped): SIGTERM
 * to each that runs, wait up to TERM_MS (<0 means 0) for all of them, SIGKILL
 * what remains, then wait up to HL_CHILD_KILL_WAIT_MS.  Returns how many ran
 * at the start.
 */
size_t hl_proc_stop(const pid_t *pids, size_t n, int term_ms);

/*
 * Pid files.  A long-running process (hgs serve, the fabric DC, host run, a
 * VM keeper) claims its pid file for its whole life: the file is opened,
 * locked with flock(2) (LOCK_EX, released by the kernel when the process
 * ends, so a lock is never stale) and given the pid.  The lock, not the
 * pid, says who owns it: a pid file its owner left behind (killed) names
 * nobody, whichever process has that pid now.  The descriptor is
 * close-on-exec, so the children spawned through hl_child never hold it;
 * a process that forks without exec must not keep it in the child.
 */

/* A claimed pid file: held while path is not "" (a zeroed struct holds none). */
struct hl_pidfile {
	char path[PATH_MAX];
	int fd;
};

/*
 * Claim pid file PATH for this process into P (the file is created 0644 if
 * needed and holds "PID\n").  -1 when another live process holds it: "'PATH'
 * is held by pid N", with N in *OWNER (may be NULL; 0 when it cannot be read).
 */
int hl_pidfile_claim(struct hl_pidfile *p, const char *path, pid_t *owner);

/*
 * Give P up: remove the file (ours, or one put there since that nobody
 * holds), then the lock.  Safe on a zeroed P.
 */
void hl_pidfile_release(struct hl_pidfile *p);

/* The pid of the live process that holds PATH's lock; 0 when none does, or no file. */
pid_t hl_pidfile_owner(const char *path);

#endif
