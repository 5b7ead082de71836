/*
 * tpm_cache.h - the cache of manufactured TPM states that `bench fabric` and
 * the scenario labs (sim/lab) take their hosts' TPMs from.
 *
 * Manufacturing a TPM and creating its AK and TK costs about a second of
 * CPU (hosts/tpm_state.h); a thousand of them cost a quarter of an hour on
 * two cores.  A real fabric's hosts come from the factory with their TPMs
 * made, so "from cold" means the lab, not the factory: the states are made
 * once and kept between runs in a cache directory:
 *   FORMAT             "hgslab-tpm-state-cache 1" and "vendor-ca SHA256" (the
 *                      fingerprint of the vendor CA's key): a cache whose
 *                      format or vendor CA does not match is rebuilt
 *   .lock              flock(2)ed: exclusively by a run that may change the
 *                      cache (make states, rebuild it), shared by runs that
 *                      only copy states out of it
 *   vendor/            the TPM vendor CA (hosts/manufacture)
 *   states/NNNNN/      state N (0-based), complete (hosts/tpm_state.h)
 *   tmp/               states being made; one is renamed into states/ only
 *                      when complete, so an interrupted fill leaves no
 *                      half-made state (the next exclusive open removes tmp/)
 * State N's EK certificate names "FabricHost%04d" (N + 1), the name `bench
 * fabric` registers it under (an EK certificate's subject is the vendor's
 * business: HGS checks its chain, not its name).  Users copy the swtpm
 * state of each state they use (a TPM state changes when used) and read
 * the key files; nobody runs a TPM on the cache's files.  A fill only adds
 * states, so the states a shared holder counted stay as they are.
 *
 * Contract (lib/err.h): 0 on success, -1 after hl_error().
 */
#ifndef HGSLAB_SIM_TPM_CACHE_H
#define HGSLAB_SIM_TPM_CACHE_H

#include <limits.h>
#include <stddef.h>
#include <stdio.h>

#include "lib/err.h"

/* The first line of a cache's FORMAT file; change it when the layout changes. */
#define TPM_CACHE_FORMAT "hgslab-tpm-state-cache 1"

/* The name state I (0-based) is made for: "FabricHost0001". */
#define TPM_CACHE_HOST_FMT "FabricHost%04zu"

/* How a cache is opened. */
enum tpm_cache_mode {
	TPM_CACHE_WAIT,      /* exclusive; wait (with a message) while another run holds it */
	TPM_CACHE_TRY,       /* exclusive; 1 at once when another run holds it */
	TPM_CACHE_SHARED,    /* shared (copy states out only); 1 at once when a run holds it
				exclusively; a cache that does not match counts no state */
};

/* Where a cache's progress lines go and how a stop (Ctrl-C) is seen. */
struct tpm_cache_io {
	FILE *out;                   /* NULL: no progress */
	const char *prefix;          /* each line's start, e.g. "hgslab bench: " */
	int (*stop_asked)(void);     /* the signal that asked for a stop, or 0 */
};

/* An open TPM state cache; zero-initialise, then tpm_cache_open. */
struct tpm_cache {
	char dir[PATH_MAX];
	char vendor[PATH_MAX];        /* DIR/vendor */
	struct tpm_cache_io io;
	int lock_fd;                  /* the flock(2)ed DIR/.lock; -1 (or 0 zeroed) when closed */
	int locked;                   /* held (exclusive or shared) */
	int exclusive;
	size_t ready;                 /* states 0 .. ready-1 are complete */
	int rebuilt;                  /* the open found a mismatched cache and began it anew */
};

/*
 * The cache directory into *OUT (malloc'd): GIVEN when not NULL, else
 * $HGSLAB_TPM_CACHE, else build/cache/tpm-states of the checkout the binary
 * was built in (bin/ or build/asan/bin/ beside a Makefile), else
 * $XDG_CACHE_HOME/hgslab/tpm-states or ~/.cache/hgslab/tpm-states.
 */
int tpm_cache_dir(const char *given, char **out);

/*
 * Open the cache DIR (created when missing) into C in MODE, its progress
 * and stops through IO (copied).  Exclusive: rebuild it with a message
 * when its format or vendor CA does not match (a new cache gets its vendor
 * CA), remove the leftovers of an interrupted fill and count its complete
 * states.  Shared: count its complete states, changing nothing.  1 (C
 * closed, no message) when MODE does not wait and another run holds it.
 */
int tpm_cache_open(struct tpm_cache *c, const char *dir, enum tpm_cache_mode mode,
		   const struct tpm_cache_io *io);

/*
 * Make states C->ready .. WANT-1 with JOBS threads at once (hosts/tpm_state),
 * progress through C's io; each state is renamed into the cache when
 * complete, so a stop (Ctrl-C, an error) keeps those made.  C must be open
 * exclusively.  Nothing to do when WANT <= C->ready.
 */
int tpm_cache_fill(struct tpm_cache *c, size_t want, int jobs);

/* State I's directory, DIR/states/NNNNN, into BUF of SIZE. */
int tpm_cache_state(const struct tpm_cache *c, size_t i, char *buf, size_t size);

/* Unlock C; NULL-safe, idempotent. */
void tpm_cache_close(struct tpm_cache *c);

#endif
