/*
 * staging.h - a staging folder: where a result is built beside its final
 * place, then renamed into it in one step, so that a failure, a signal or a
 * crash never leaves half of it in place (a host's import of a VM bundle,
 * the tenant's export of one).
 *
 *   struct hl_staging st = HL_STAGING_INIT;
 *   if (hl_staging_begin(&st, "HOST/vms", ".import-") < 0) ...   // HOST/vms/.import-XXXXXX
 *   ... fill st.path ...
 *   if (hl_staging_commit(&st, "HOST/vms/vm1", "VM") < 0) ...
 *   hl_staging_end(&st);                                          // removes it unless committed
 *
 * Who owns one.  The maker holds an exclusive flock(2) on the folder for as
 * long as it lives (the lock dies with its process), so:
 *   - hl_staging_begin() first removes the folders PARENT/PREFIX* that no
 *     process holds (runs killed outright), and keeps those that a run in
 *     progress holds;
 *   - while the folder exists, SIGINT, SIGTERM and SIGHUP (those the process
 *     does not ignore) remove it, then the signal takes its former course
 *     (the former handler, or the process dies of it);
 *   - hl_staging_end() removes it after a failure.
 * One staging folder per process at a time is guarded against signals.
 *
 * Contract (lib/err.h): 0 on success, -1 after hl_error().
 */
#ifndef HGSLAB_LIB_STAGING_H
#define HGSLAB_LIB_STAGING_H

#include <limits.h>

/* A staging folder; path is "" and lock -1 while there is none. */
struct hl_staging {
	char path[PATH_MAX];
	int lock;
};

#define HL_STAGING_INIT { "", -1 }

/*
 * Remove the unheld PARENT/PREFIX* folders, then make PARENT/PREFIXXXXXXX
 * (0700), lock it and guard it against signals.  Message: "cannot create a
 * staging folder in 'PARENT': ...".
 */
int hl_staging_begin(struct hl_staging *s, const char *parent, const char *prefix);

/*
 * Rename the staging folder onto DST (which must not exist): "cannot install
 * WHAT 'DST': ...".  On success the folder is DST, no longer S's.
 */
int hl_staging_commit(struct hl_staging *s, const char *dst, const char *what);

/* Remove the staging folder if it is still S's, keeping the current message; release S. */
void hl_staging_end(struct hl_staging *s);

/*
 * Remove the folders PARENT/PREFIX* that no process holds; how many.  A
 * name that is not a folder is left alone.
 */
int hl_staging_clean_stale(const char *parent, const char *prefix);

/*
 * rm -rf PATH with async-signal-safe calls only (openat, getdents64,
 * unlinkat; never through a link, a few levels deep): for signal handlers.
 */
void hl_staging_remove_sigsafe(const char *path);

#endif
