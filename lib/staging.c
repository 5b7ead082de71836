/*
 * staging.c - staging folders (staging.h): made with mkdtemp beside the
 * result, owned through an flock(2) on the folder itself, removed after a
 * failure, by the signal handlers while one exists, and, when their run was
 * killed outright, by the next run in the same place.
 */
#include "lib/staging.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/err.h"
#include "lib/fileio.h"

/* Folder levels hl_staging_remove_sigsafe() goes down. */
#define SIGSAFE_DEPTH 6

/* The signals that remove the guarded folder. */
static const int guard_signals[] = { SIGINT, SIGTERM, SIGHUP };
#define N_GUARD (sizeof(guard_signals) / sizeof(guard_signals[0]))

/* The guarded folder: set while armed; the handlers it replaced. */
static char guard_path[PATH_MAX];
static volatile sig_atomic_t guard_armed;
static struct sigaction guard_old[N_GUARD];
static int guard_set[N_GUARD];

/* Remove NAME under DIRFD and what it holds, DEPTH levels down at most; async-signal-safe. */
static void remove_at(int dirfd, const char *name, int depth)
{
	char buf[4096];
	long n;
	int fd;

	if (unlinkat(dirfd, name, 0) == 0 || (errno != EISDIR && errno != EPERM) ||
	    depth > SIGSAFE_DEPTH)
		return;
	if ((fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		return;
	while ((n = getdents64(fd, buf, sizeof(buf))) > 0) {
		for (long off = 0; off < n;) {
			struct dirent64 *d = (struct dirent64 *)(void *)(buf + off);

			if (strcmp(d->d_name, ".") != 0 && strcmp(d->d_name, "..") != 0)
				remove_at(fd, d->d_name, depth + 1);
			off += d->d_reclen;
		}
	}
	close(fd);
	unlinkat(dirfd, name, AT_REMOVEDIR);
}

/* rm -rf PATH, async-signal-safe. */
void hl_staging_remove_sigsafe(const char *path)
{
	if (path && path[0])
		remove_at(AT_FDCWD, path, 0);
}

/* Put back the handlers the guard replaced; async-signal-safe. */
static void guard_restore(void)
{
	for (size_t i = 0; i < N_GUARD; i++)
		if (guard_set[i]) {
			sigaction(guard_signals[i], &guard_old[i], NULL);
			guard_set[i] = 0;
		}
}

/* SIGINT/SIGTERM/SIGHUP while a staging folder exists: remove it, then the signal's former course. */
static void on_guard_signal(int sig)
{
	int saved = errno;

	if (guard_armed) {
		guard_armed = 0;
		hl_staging_remove_sigsafe(guard_path);
	}
	guard_restore();
	/* blocked in this handler: delivered to the former disposition when it returns */
	raise(sig);
	errno = saved;
}

/* Guard PATH: the handlers for the signals the process does not ignore. */
static void guard_install(const char *path)
{
	struct sigaction sa;

	snprintf(guard_path, sizeof(guard_path), "%s", path);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_guard_signal;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < N_GUARD; i++)
		sigaddset(&sa.sa_mask, guard_signals[i]);
	for (size_t i = 0; i < N_GUARD; i++) {
		struct sigaction cur;

		if (sigaction(guard_signals[i], NULL, &cur) < 0 || cur.sa_handler == SIG_IGN)
			continue;
		if (sigaction(guard_signals[i], &sa, &guard_old[i]) == 0)
			guard_set[i] = 1;
	}
	guard_armed = 1;
}

/* Stop guarding: a signal now takes its former course. */
static void guard_remove(void)
{
	guard_armed = 0;
	guard_restore();
	guard_path[0] = '\0';
}

/* Remove the unheld PARENT/PREFIX* folders. */
int hl_staging_clean_stale(const char *parent, const char *prefix)
{
	struct dirent *e;
	DIR *d;
	int n = 0;

	if (!(d = opendir(parent)))
		return 0;
	while ((e = readdir(d))) {
		char path[PATH_MAX];
		int fd;

		if (strncmp(e->d_name, prefix, strlen(prefix)) || !strcmp(e->d_name, ".") ||
		    !strcmp(e->d_name, ".."))
			continue;
		fd = openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			continue;
		/* held: a run in progress; free: its run is gone */
		if (flock(fd, LOCK_EX | LOCK_NB) == 0 &&
		    snprintf(path, sizeof(path), "%s/%s", parent, e->d_name) < (int)sizeof(path) &&
		    hl_file_rmtree(path) == 0)
			n++;
		close(fd);
	}
	closedir(d);
	hl_error_clear();
	return n;
}

/* Make, lock and guard PARENT/PREFIXXXXXXX. */
int hl_staging_begin(struct hl_staging *s, const char *parent, const char *prefix)
{
	sigset_t block, old;
	int tries, rc = -1;

	s->path[0] = '\0';
	s->lock = -1;
	hl_staging_clean_stale(parent, prefix);
	/* a signal between mkdtemp and the guard waits for the guard, which then removes it */
	sigemptyset(&block);
	for (size_t i = 0; i < N_GUARD; i++)
		sigaddset(&block, guard_signals[i]);
	sigprocmask(SIG_BLOCK, &block, &old);
	for (tries = 0; tries < 10; tries++) {
		struct stat a, b;

		if (snprintf(s->path, sizeof(s->path), "%s/%sXXXXXX", parent, prefix) >=
		    (int)sizeof(s->path)) {
			s->path[0] = '\0';
			hl_error("cannot create a staging folder in '%s': the path is too long", parent);
			goto out;
		}
		if (!mkdtemp(s->path)) {
			s->path[0] = '\0';
			hl_error_errno("cannot create a staging folder in '%s'", parent);
			goto out;
		}
		if ((s->lock = open(s->path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0 ||
		    flock(s->lock, LOCK_EX) < 0) {
			hl_error_errno("cannot lock the staging folder '%s'", s->path);
			hl_staging_end(s);
			goto out;
		}
		/* a cleaner may have taken it between mkdtemp and the lock: then make another */
		if (fstat(s->lock, &a) == 0 && lstat(s->path, &b) == 0 && a.st_ino == b.st_ino &&
		    a.st_dev == b.st_dev)
			break;
		close(s->lock);
		s->lock = -1;
	}
	if (s->lock < 0) {
		s->path[0] = '\0';
		hl_error("cannot create a staging folder in '%s': it keeps disappearing", parent);
		goto out;
	}
	guard_install(s->path);
	rc = 0;
out:
	sigprocmask(SIG_SETMASK, &old, NULL);
	return rc;
}

/* Rename the staging folder onto DST. */
int hl_staging_commit(struct hl_staging *s, const char *dst, const char *what)
{
	if (rename(s->path, dst) < 0)
		return hl_error_errno("cannot install %s '%s'", what, dst);
	/* the folder is DST now: nothing of S's to remove, even on a signal */
	guard_remove();
	s->path[0] = '\0';
	if (s->lock >= 0)
		close(s->lock);
	s->lock = -1;
	return 0;
}

/* Remove what is left of S. */
void hl_staging_end(struct hl_staging *s)
{
	if (s->path[0]) {
		char saved[HL_ERROR_MAX];

		snprintf(saved, sizeof(saved), "%s", hl_error_last());
		hl_file_rmtree(s->path);
		hl_error("%s", saved);
		guard_remove();
		s->path[0] = '\0';
	}
	if (s->lock >= 0)
		close(s->lock);
	s->lock = -1;
}
