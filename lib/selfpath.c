/*
 * selfpath.c - folders found beside the running binary (selfpath.h): the
 * binary's folder from /proc/self/exe, each candidate checked for its probe
 * file, the first found made canonical with realpath(3).
 */
#include "lib/selfpath.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/err.h"
#include "lib/fileio.h"

/* The first folder of REL beside the binary that holds PROBE (selfpath.h). */
int hl_self_find(const char *const *rel, size_t n, const char *probe, char **out)
{
	char exe[PATH_MAX], *slash, *cand, *canon;
	ssize_t len;
	size_t i;

	*out = NULL;
	len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (len <= 0)
		return 0;
	exe[len] = '\0';
	if (!(slash = strrchr(exe, '/')))
		return 0;
	*slash = '\0';
	for (i = 0; i < n; i++) {
		if (asprintf(&cand, "%s/%s/%s", exe, rel[i], probe) < 0)
			return hl_error("out of memory");
		if (hl_file_exists(cand) == 1) {
			cand[strlen(cand) - strlen(probe) - 1] = '\0';
			if ((canon = realpath(cand, NULL))) {
				free(cand);
				cand = canon;
			}
			*out = cand;
			return 0;
		}
		free(cand);
	}
	return 0;
}
