/*
 * log.c - the log writer behind log.h: one mutex, one optional file, stderr.
 */
#include "lib/log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static char log_component[64] = "hgslab";
static enum hl_log_level log_stderr_level = HL_LOG_WARN;
static enum hl_log_level log_file_level = HL_LOG_INFO;
static FILE *log_file;

static const char *const level_names[] = { "error", "warn", "info", "debug" };

void hl_log_set_component(const char *component)
{
	pthread_mutex_lock(&log_lock);
	snprintf(log_component, sizeof(log_component), "%s", component);
	pthread_mutex_unlock(&log_lock);
}

void hl_log_set_stderr_level(enum hl_log_level level)
{
	pthread_mutex_lock(&log_lock);
	log_stderr_level = level;
	pthread_mutex_unlock(&log_lock);
}

/* Whether a line at LEVEL goes anywhere (a debug line of a busy server mostly does not). */
static int log_wanted(enum hl_log_level level)
{
	int wanted;

	pthread_mutex_lock(&log_lock);
	wanted = level <= log_stderr_level || (log_file && level <= log_file_level);
	pthread_mutex_unlock(&log_lock);
	return wanted;
}

int hl_log_open_file(const char *path, enum hl_log_level level)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	FILE *f;

	if (fd < 0)
		return hl_error_errno("cannot open log file '%s'", path);
	f = fdopen(fd, "a");
	if (!f) {
		close(fd);
		return hl_error_errno("cannot open log file '%s'", path);
	}
	setvbuf(f, NULL, _IOLBF, 0);
	pthread_mutex_lock(&log_lock);
	if (log_file)
		fclose(log_file);
	log_file = f;
	log_file_level = level;
	pthread_mutex_unlock(&log_lock);
	return 0;
}

void hl_log_close(void)
{
	pthread_mutex_lock(&log_lock);
	if (log_file)
		fclose(log_file);
	log_file = NULL;
	pthread_mutex_unlock(&log_lock);
}

int hl_log_level_parse(const char *name, enum hl_log_level *out)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcmp(name, level_names[i]) == 0) {
			*out = (enum hl_log_level)i;
			return 0;
		}
	}
	return hl_error("unknown log level '%s'; use error, warn, info or debug", name);
}

void hl_log(enum hl_log_level level, const char *fmt, ...)
{
	char stamp[40], msg[2048];
	struct timeval tv;
	struct tm tm;
	va_list ap;
	int saved = errno;

	if (!log_wanted(level))
		return;
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);

	pthread_mutex_lock(&log_lock);
	if (level <= log_stderr_level)
		fprintf(stderr, "%s.%03ldZ %s[%d] %s: %s\n", stamp, (long)(tv.tv_usec / 1000),
			log_component, (int)getpid(), level_names[level], msg);
	if (log_file && level <= log_file_level)
		fprintf(log_file, "%s.%03ldZ %s[%d] %s: %s\n", stamp, (long)(tv.tv_usec / 1000),
			log_component, (int)getpid(), level_names[level], msg);
	pthread_mutex_unlock(&log_lock);
	errno = saved;
}
