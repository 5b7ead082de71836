/*
 * err.c - per-thread error context (see err.h for the contract).
 */
#include "lib/err.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char err_msg[HL_ERROR_MAX];
static _Thread_local int err_set;

/* Format into the thread's message buffer. */
static void error_vset(const char *fmt, va_list ap)
{
	vsnprintf(err_msg, sizeof(err_msg), fmt, ap);
	err_set = 1;
}

int hl_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	error_vset(fmt, ap);
	va_end(ap);
	return -1;
}

int hl_error_errno(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;
	size_t len;

	va_start(ap, fmt);
	error_vset(fmt, ap);
	va_end(ap);
	len = strlen(err_msg);
	if (len < sizeof(err_msg))
		snprintf(err_msg + len, sizeof(err_msg) - len, ": %s", strerror(saved));
	errno = saved;
	return -1;
}

int hl_error_wrap(const char *fmt, ...)
{
	char prefix[HL_ERROR_MAX], old[HL_ERROR_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	snprintf(old, sizeof(old), "%s", err_set ? err_msg : "unknown error");
	snprintf(err_msg, sizeof(err_msg), "%s: %s", prefix, old);
	err_set = 1;
	return -1;
}

const char *hl_error_last(void)
{
	return err_set ? err_msg : "unknown error";
}

void hl_error_clear(void)
{
	err_msg[0] = '\0';
	err_set = 0;
}
