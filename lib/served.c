/*
 * served.c - a served directory (served.h): building one beside its place
 * and renaming it in, opening one, its pid file, and the life of the `serve`
 * process that works from it (signals, readiness line, log, clean stop).
 */
#include "lib/served.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/child.h"
#include "lib/err.h"
#include "lib/fileio.h"

/* Join DIR and FILE. */
int hl_served_path(const char *dir, const char *file, char *buf, size_t size)
{
	if ((size_t)snprintf(buf, size, "%s/%s", dir, file) >= size)
		return hl_error("path '%s/%s' is too long", dir, file);
	return 0;
}

/* Parse "IPV4:PORT". */
int hl_served_parse_listen(const char *text, char addr[16], unsigned short *port)
{
	const char *colon = text ? strrchr(text, ':') : NULL;
	struct in_addr probe;
	char *end;
	long p;

	if (!colon || colon == text || (size_t)(colon - text) >= 16)
		goto bad;
	memcpy(addr, text, (size_t)(colon - text));
	addr[colon - text] = '\0';
	if (inet_pton(AF_INET, addr, &probe) != 1)
		goto bad;
	errno = 0;
	p = strtol(colon + 1, &end, 10);
	if (errno || end == colon + 1 || *end || p < 0 || p > 65535)
		goto bad;
	*port = (unsigned short)p;
	return 0;
bad:
	return hl_error("invalid listen address '%s': expected IPV4:PORT such as 127.0.0.2:8080 "
			"(port 0 picks a free port when serving)", text ? text : "");
}

/* Count the entries of directory PATH. */
int hl_served_dir_entries(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	int n = 0;

	if (!d)
		return hl_error_errno("cannot read directory '%s'", path);
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

/* fsync directory PATH so a rename in it is durable. */
static int sync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return hl_error_errno("cannot open directory '%s'", path);
	if (fsync(fd) < 0) {
		close(fd);
		return hl_error_errno("cannot sync directory '%s'", path);
	}
	close(fd);
	return 0;
}

/* Resolve DIR, split it into parent and base, create the parent. */
int hl_served_new_begin(struct hl_served_new *s, const char *dir, const char *what)
{
	const char *base;
	struct stat st;

	memset(s, 0, sizeof(*s));
	errno = 0;
	if (hl_file_abspath(dir, &s->dir) < 0)
		return -1;
	base = strrchr(s->dir, '/');
	if (!base || !base[1] || strcmp(base + 1, "..") == 0 || strcmp(base + 1, ".") == 0)
		return hl_error("cannot create %s at '%s': name a directory", what, dir);
	s->base = base + 1;
	snprintf(s->parent, sizeof(s->parent), "%.*s", (int)(base - s->dir), s->dir);
	if (!s->parent[0])
		snprintf(s->parent, sizeof(s->parent), "/");
	/* as every verb: the folder is made, never its missing parents */
	if (stat(s->parent, &st) < 0 || !S_ISDIR(st.st_mode)) {
		hl_error("cannot create %s at '%s': its parent folder '%s' %s; create it first, or "
			 "give a folder in an existing one", what, dir, s->parent,
			 errno == ENOENT ? "does not exist" : "is not a folder");
		return -2;
	}
	return 0;
}

/* What stands at DIR: nothing or an empty directory (0), a directory with entries (1). */
int hl_served_new_target(const struct hl_served_new *s, const char *what)
{
	struct stat sb;
	int n;

	if (lstat(s->dir, &sb) < 0) {
		if (errno == ENOENT)
			return 0;
		return hl_error_errno("cannot inspect '%s'", s->dir);
	}
	if (!S_ISDIR(sb.st_mode))
		return hl_error("cannot create %s at '%s': it exists and is not a directory", what,
				s->dir);
	n = hl_served_dir_entries(s->dir);
	return n < 0 ? -1 : n > 0;
}

/* Make the private staging directory beside DIR. */
int hl_served_new_stage(struct hl_served_new *s, const char *tag, const char *subdir)
{
	char path[PATH_MAX];

	if ((size_t)snprintf(s->tmp, sizeof(s->tmp), "%s/.%s.%s.XXXXXX", s->parent, s->base,
			     tag) >= sizeof(s->tmp)) {
		s->tmp[0] = '\0';
		return hl_error("path '%s' is too long", s->dir);
	}
	if (!mkdtemp(s->tmp)) {
		s->tmp[0] = '\0';
		return hl_error_errno("cannot create a temporary directory beside '%s'", s->dir);
	}
	snprintf(path, sizeof(path), "%s/%s", s->tmp, subdir);
	if (chmod(s->tmp, 0700) < 0 || mkdir(path, 0700) < 0)
		return hl_error_errno("cannot create '%s'", path);
	return 0;
}

/* Rename the staging directory into place. */
int hl_served_new_commit(struct hl_served_new *s, const char *what)
{
	if (rename(s->tmp, s->dir) < 0)
		return hl_error_errno("cannot move the %s into '%s'", what, s->dir);
	s->tmp[0] = '\0';
	if (sync_dir(s->parent) < 0)
		hl_log_warn("%s", hl_error_last());
	return 0;
}

/* Drop a staging directory left by a failure and free S. */
void hl_served_new_end(struct hl_served_new *s)
{
	if (s->tmp[0]) {
		char saved[HL_ERROR_MAX];

		/* keep the real error: the cleanup must not replace it */
		snprintf(saved, sizeof(saved), "%s", hl_error_last());
		if (hl_file_rmtree(s->tmp) < 0)
			hl_log_warn("cannot remove '%s': %s", s->tmp, hl_error_last());
		hl_error("%s", saved);
		s->tmp[0] = '\0';
	}
	free(s->dir);
	s->dir = NULL;
}

/* Resolve DIR; is its database file there? */
int hl_served_open(const char *dir, const char *dbfile, char **abs, char *path, size_t size)
{
	if (hl_file_abspath(dir, abs) < 0 || hl_served_path(*abs, dbfile, path, size) < 0)
		return -1;
	return access(path, F_OK) == 0;
}

/* A recursive mutex. */
void hl_served_lock_init(pthread_mutex_t *lock)
{
	pthread_mutexattr_t attr;

	pthread_mutexattr_init(&attr);
	pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(lock, &attr);
	pthread_mutexattr_destroy(&attr);
}

/* The live process that holds DIR/PIDFILE's lock, else 0. */
long hl_served_pid(const char *dir, const char *pidfile)
{
	char path[PATH_MAX];

	if (hl_served_path(dir, pidfile, path, sizeof(path)) < 0) {
		hl_error_clear();
		return 0;
	}
	return (long)hl_pidfile_owner(path);
}

/* Refuse when another live process serves DIR. */
int hl_served_refuse_other(const char *dir, const char *pidfile, const char *what)
{
	long other = hl_served_pid(dir, pidfile);

	if (other && other != (long)getpid())
		return hl_error("the %s '%s' is already served by pid %ld; stop it first", what, dir,
				other);
	return 0;
}

/* Open the process log in DIR. */
int hl_served_log_open(const char *component, const char *dir, const char *logfile,
		       enum hl_log_level level)
{
	char path[PATH_MAX];

	hl_log_set_component(component);
	if (hl_served_path(dir, logfile, path, sizeof(path)) < 0)
		return -1;
	return hl_log_open_file(path, level);
}

/* Block the stop signals; only the main thread takes them, with sigwait. */
int hl_served_block_signals(struct hl_served_run *r)
{
	sigemptyset(&r->set);
	sigaddset(&r->set, SIGTERM);
	sigaddset(&r->set, SIGINT);
	if (pthread_sigmask(SIG_BLOCK, &r->set, &r->old) != 0)
		return hl_error("cannot block SIGTERM and SIGINT");
	r->masked = 1;
	return 0;
}

/* Claim the pid file for the run. */
int hl_served_write_pid(struct hl_served_run *r, const char *dir, const char *pidfile)
{
	char path[PATH_MAX];

	if (hl_served_path(dir, pidfile, path, sizeof(path)) < 0)
		return -1;
	return hl_pidfile_claim(&r->pidfile, path, NULL);
}

/* Print and flush the readiness line. */
int hl_served_ready(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	if (fflush(stdout) != 0)
		return hl_error_errno("cannot write the readiness line");
	return 0;
}

/* Wait for a stop signal. */
void hl_served_wait(struct hl_served_run *r)
{
	int sig = 0;

	while (sigwait(&r->set, &sig) != 0)
		;
	hl_log_info("%s received: stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
}

/* Clean up after a run. */
void hl_served_finish(struct hl_served_run *r, int rc)
{
	hl_pidfile_release(&r->pidfile);
	if (rc == 0)
		hl_log_info("stopped");
	hl_log_close();
	if (r->masked && rc < 0)
		pthread_sigmask(SIG_SETMASK, &r->old, NULL);
	r->masked = 0;
}
