/*
 * search.h - looking for a text (or any bytes) in every regular file of a
 * folder tree, as the scenario runner's secret_scan and offline_read steps
 * and the attack steps' leak check do (sim/steps.c, sim/attack.c).
 *
 * Symbolic links are never followed; files that vanish meanwhile (sockets,
 * temporary files) are skipped.  Contract (lib/err.h): 0 / -1 after
 * hl_error().
 */
#ifndef HGSLAB_SIM_SEARCH_H
#define HGSLAB_SIM_SEARCH_H

#include <stddef.h>

/* What a search of a folder tree found. */
struct sim_search {
	const void *text;
	size_t len;
	const char *skip;           /* a folder not searched (full path), or NULL */
	size_t files;               /* regular files read */
	unsigned long long bytes;   /* bytes read */
	size_t found;               /* files holding the text */
	char *first;                /* the first of them */
	char *buf;                  /* the read buffer */
};

/*
 * Search every regular file under DIR, except under SKIP (a full path, or
 * NULL), for the LEN bytes TEXT into S (release with sim_search_release,
 * also after a failure).
 */
int sim_search_run(struct sim_search *S, const char *dir, const void *text, size_t len,
		   const char *skip);

/* Free what S holds; S is zeroed. */
void sim_search_release(struct sim_search *S);

#endif
