/*
 * labclock.c - the lab clock (labclock.h): DIR/clock-offset read at every
 * call and added to the system time, and the one time format the lab prints.
 */
#include "lib/labclock.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "lib/err.h"
#include "lib/fileio.h"

/* Largest clock offset accepted: a hundred years either way. */
#define LABCLOCK_OFFSET_MAX (100LL * 366 * 24 * 3600)

/* Read DIR/clock-offset (0 when absent). */
int hl_labclock_offset(const char *dir, long long *out)
{
	char path[PATH_MAX], *text = NULL, *p, *end;
	long long v;
	int rc = -1;

	*out = 0;
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, HL_LABCLOCK_OFFSET_FILE) >=
	    sizeof(path))
		return hl_error("path '%s/%s' is too long", dir, HL_LABCLOCK_OFFSET_FILE);
	if (access(path, F_OK) != 0 && errno == ENOENT)
		return 0;
	if (hl_file_read(path, 64, &text, NULL) < 0)
		return hl_error_wrap("cannot read the lab clock offset");
	for (p = text; isspace((unsigned char)*p); p++)
		;
	errno = 0;
	v = strtoll(p, &end, 10);
	while (isspace((unsigned char)*end))
		end++;
	if (errno || end == p || *end || v > LABCLOCK_OFFSET_MAX || v < -LABCLOCK_OFFSET_MAX) {
		hl_error("lab clock offset file '%s' must hold a whole number of seconds "
			 "(e.g. 32400 for nine hours ahead); fix it or remove it", path);
		goto out;
	}
	*out = v;
	rc = 0;
out:
	free(text);
	return rc;
}

/* The lab clock: system time plus DIR's offset. */
int hl_labclock_now(const char *dir, time_t *out)
{
	long long off;

	*out = 0;
	if (hl_labclock_offset(dir, &off) < 0)
		return -1;
	*out = time(NULL) + (time_t)off;
	return 0;
}

/* Format a time as UTC ISO 8601. */
void hl_labclock_format(time_t t, char *buf, size_t size)
{
	struct tm tm;

	if (!gmtime_r(&t, &tm) || strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, size, "%lld", (long long)t);
}
