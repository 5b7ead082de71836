/*
 * served.h - a served directory: the directory of a component that one
 * long-running `serve` process works from (an HGS node, hgs/node.h; a
 * fabric directory, fabric/directory.h).  Both are built the same way and
 * served the same way; this module holds that common part, so neither
 * component depends on the other.
 *
 * Creating one.  hl_served_new_begin() resolves DIR, whose parent must exist;
 * hl_served_new_target() says whether something already stands at DIR;
 * hl_served_new_stage() makes a private staging directory PARENT/.BASE.TAG.XXXXXX
 * (0700) beside it, which the caller fills; hl_served_new_commit() renames it
 * into place and syncs the parent; hl_served_new_end() removes a staging
 * directory left behind by a failure (keeping the failure's message) and
 * frees what begin took.  A failure therefore leaves nothing behind.
 *
 * Opening one.  hl_served_open() resolves DIR and says whether its database
 * file is there (the caller says what DIR should have been when not);
 * hl_served_lock_init() makes the handle's lock, recursive because the
 * component's calls nest under it.
 *
 * Serving one.  The process blocks SIGTERM and SIGINT before it starts any
 * thread (hl_served_block_signals), refuses to start when another live
 * process owns the pid file (hl_served_refuse_other), claims the pid file
 * (hl_served_write_pid: locked for the whole run, lib/child.h "Pid files")
 * once it listens, prints one readiness line (hl_served_ready), waits for a
 * signal (hl_served_wait) and on the way out removes the pid file and closes
 * its log (hl_served_finish).  The pid file's owner is the process that
 * holds its lock: one left by a killed server names nobody, even when its
 * pid now belongs to another process.  After a clean stop the signals stay
 * blocked, so a second SIGTERM already pending cannot kill the process on
 * its way to exit 0.
 *
 * Contract (lib/err.h): 0 on success, -1 after hl_error(); a struct is
 * zeroed by the caller before its first use and hl_served_new_end() /
 * hl_served_finish() may be called after any failure.
 */
#ifndef HGSLAB_LIB_SERVED_H
#define HGSLAB_LIB_SERVED_H

#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>

#include "lib/child.h"
#include "lib/log.h"

/* Path of FILE inside DIR into BUF of SIZE bytes. */
int hl_served_path(const char *dir, const char *file, char *buf, size_t size);

/* Parse "ADDR:PORT" (IPv4 address, port 0-65535) into ADDR (16 bytes) and *PORT. */
int hl_served_parse_listen(const char *text, char addr[16], unsigned short *port);

/* Number of entries of directory PATH besides . and .., or -1. */
int hl_served_dir_entries(const char *path);

/*
 * A served directory being created.  Invariants after begin: dir is
 * absolute, base points into it at its last component, parent exists; tmp
 * is the staging directory while one exists, else "".
 */
struct hl_served_new {
	char *dir;
	char parent[PATH_MAX];
	const char *base;
	char tmp[PATH_MAX];
};

/*
 * Resolve DIR into S.  Its parent folder must exist (-2 when it does not, or
 * is not a folder: nothing is created).  WHAT names the directory in
 * messages ("an HGS node": "cannot create an HGS node at 'DIR': ...").
 */
int hl_served_new_begin(struct hl_served_new *s, const char *dir, const char *what);

/* 0 when nothing or an empty directory is at S's DIR, 1 for a directory with entries. */
int hl_served_new_target(const struct hl_served_new *s, const char *what);

/* Make the staging directory PARENT/.BASE.TAG.XXXXXX and its subdirectory SUBDIR, both 0700. */
int hl_served_new_stage(struct hl_served_new *s, const char *tag, const char *subdir);

/*
 * Rename the staging directory onto DIR and sync the parent (a failing sync
 * is only logged).  WHAT names it in the message ("new node": "cannot move
 * the new node into 'DIR'"); on failure the staging directory stays.
 */
int hl_served_new_commit(struct hl_served_new *s, const char *what);

/* Remove a staging directory left behind, keeping the current message; free S's memory. */
void hl_served_new_end(struct hl_served_new *s);

/*
 * Resolve served directory DIR into *ABS (malloc'd, the caller frees it) and
 * the path of its database DBFILE into PATH of SIZE bytes: 1 when that file
 * exists, 0 when not, -1 on error.
 */
int hl_served_open(const char *dir, const char *dbfile, char **abs, char *path, size_t size);

/* Initialise LOCK as a recursive mutex (destroy it with pthread_mutex_destroy). */
void hl_served_lock_init(pthread_mutex_t *lock);

/* A `serve` run: its signal mask and its pid file (none until claimed). */
struct hl_served_run {
	sigset_t set, old;
	int masked;
	struct hl_pidfile pidfile;
};

/* The live process that holds DIR/PIDFILE's lock, else 0 (never an error). */
long hl_served_pid(const char *dir, const char *pidfile);

/*
 * -1 when another live process than ours owns DIR/PIDFILE: "the WHAT 'DIR'
 * is already served by pid N; stop it first" (WHAT e.g. "HGS node").
 */
int hl_served_refuse_other(const char *dir, const char *pidfile, const char *what);

/* Name the log's COMPONENT and open DIR/LOGFILE at LEVEL as the process log. */
int hl_served_log_open(const char *component, const char *dir, const char *logfile,
		       enum hl_log_level level);

/* Block SIGTERM and SIGINT in the calling thread; threads started later inherit it. */
int hl_served_block_signals(struct hl_served_run *r);

/*
 * Claim DIR/PIDFILE for this run (lock it for good, write our pid), for
 * hl_served_finish() to release: "'PATH' is held by pid N" when another
 * live process holds it.
 */
int hl_served_write_pid(struct hl_served_run *r, const char *dir, const char *pidfile);

/* Print the readiness line (printf FMT) on stdout and flush it. */
int hl_served_ready(const char *fmt, ...) HL_PRINTF(1, 2);

/* Wait for SIGTERM or SIGINT and log which came. */
void hl_served_wait(struct hl_served_run *r);

/*
 * The end of a run that ended with RC: remove the pid file, log "stopped"
 * when RC is 0, close the log, and give the signal mask back when RC < 0.
 */
void hl_served_finish(struct hl_served_run *r, int rc);

#endif
