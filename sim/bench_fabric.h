/*
 * bench_fabric.h - `hgslab bench fabric`: many guarded hosts, each a real
 * swtpm, brought up from cold against one HGS node, then a re-attestation
 * storm; and the cache of manufactured TPM states it draws them from.
 *
 * The TPM state cache.  Manufacturing a TPM (swtpm_setup: an RSA EK, its
 * certificate from the lab's TPM vendor CA, an SRK) and creating its AK and
 * TK costs about a second of CPU; a thousand of them cost a quarter of an
 * hour on two cores.  A real fabric's hosts come from the factory with their
 * TPMs made, so "from cold" means the lab, not the factory: the states are
 * made once and kept between runs in a cache directory:
 *   FORMAT             "hgslab-tpm-state-cache 1" and "vendor-ca SHA256" (the
 *                      fingerprint of the vendor CA's key): a cache whose
 *                      format or vendor CA does not match is rebuilt
 *   .lock              flock(2)ed by the run that uses the cache (others wait)
 *   vendor/            the TPM vendor CA (hosts/manufacture)
 *   states/NNNNN/      state N (0-based), complete: tpm2-00.permall (the
 *                      swtpm state), ek.pub + ek-cert.der (its endorsement
 *                      identity, hosts_ek_save), ak.key + tk.key (its own AK
 *                      and TK, created in it and wrapped by its SRK)
 *   tmp/               states being made; one is renamed into states/ only
 *                      when complete, so an interrupted fill leaves no
 *                      half-made state (the next open removes tmp/)
 * State N's EK certificate names host "FabricHost%04d" (N + 1), the name the
 * benchmark registers it under.  A run copies the swtpm state of each state
 * it uses into its lab (a TPM state changes when used) and reads the key
 * files; it never runs a TPM on the cache's files.
 *
 * Contract (lib/err.h): 0 on success, -1 after hl_error().
 */
#ifndef HGSLAB_SIM_BENCH_FABRIC_H
#define HGSLAB_SIM_BENCH_FABRIC_H

#include <limits.h>
#include <stddef.h>

#include "lib/err.h"

/* Hosts a fabric bench may have. */
#define BENCH_FABRIC_HOSTS_MAX 2000

/* The first line of a cache's FORMAT file; change it when the layout changes. */
#define BENCH_TPM_CACHE_FORMAT "hgslab-tpm-state-cache 1"

/* The files of a complete cached state (states/NNNNN/). */
#define BENCH_TPM_STATE_PERMALL "tpm2-00.permall"
#define BENCH_TPM_STATE_EK_PUB "ek.pub"
#define BENCH_TPM_STATE_EK_CERT "ek-cert.der"
#define BENCH_TPM_STATE_AK "ak.key"
#define BENCH_TPM_STATE_TK "tk.key"

/* The name of host I (0-based), whose EK certificate state I's is: "FabricHost0001". */
#define BENCH_FABRIC_HOST_FMT "FabricHost%04zu"

/* An open (locked) TPM state cache; zero-initialise, then bench_tpm_cache_open. */
struct bench_tpm_cache {
	char dir[PATH_MAX];
	char vendor[PATH_MAX];        /* DIR/vendor */
	int lock_fd;                  /* the flock(2)ed DIR/.lock; -1 (or 0 zeroed) when closed */
	int locked;
	size_t ready;                 /* states 0 .. ready-1 are complete */
	int rebuilt;                  /* the open found a mismatched cache and began it anew */
};

/*
 * The cache directory into *OUT (malloc'd): GIVEN when not NULL, else
 * $HGSLAB_TPM_CACHE, else build/cache/tpm-states of the checkout the binary
 * was built in (bin/ or build/asan/bin/ beside a Makefile), else
 * $XDG_CACHE_HOME/hgslab/tpm-states or ~/.cache/hgslab/tpm-states.
 */
int bench_tpm_cache_dir(const char *given, char **out);

/*
 * Open the cache DIR (created when missing) into C: lock it (waiting, with
 * a message, while another run holds it; a Ctrl-C stops the wait), rebuild
 * it with a message when its format or vendor CA does not match, remove the
 * leftovers of an interrupted fill and count its complete states.
 */
int bench_tpm_cache_open(struct bench_tpm_cache *c, const char *dir);

/*
 * Make states C->ready .. WANT-1 with JOBS threads at once (swtpm_setup,
 * then the AK and TK in a swtpm of the state), progress on stderr; each
 * state is renamed into the cache when complete, so a stop (Ctrl-C, an
 * error) keeps those made.  Nothing to do when WANT <= C->ready.
 */
int bench_tpm_cache_fill(struct bench_tpm_cache *c, size_t want, int jobs);

/* State I's directory, DIR/states/NNNNN, into BUF of SIZE. */
int bench_tpm_cache_state(const struct bench_tpm_cache *c, size_t i, char *buf, size_t size);

/* Unlock C; NULL-safe, idempotent. */
void bench_tpm_cache_close(struct bench_tpm_cache *c);

/* What a fabric run is asked to do. */
struct bench_fabric_opts {
	long hosts;                   /* 1 .. BENCH_FABRIC_HOSTS_MAX */
	long workers;                 /* threads of the shared agent */
	const char *cache;            /* the cache directory (bench_tpm_cache_dir) */
	const char *workdir;          /* the lab's parent directory, NULL for $TMPDIR or /tmp */
	int keep;                     /* keep the lab directory */
	int json;                     /* the report as JSON on stdout */
};

/*
 * Run the fabric benchmark: fill the cache as needed, build the lab from it,
 * bring the hosts up (state copy, swtpm, registration, first attestation,
 * all Passed), hold the storm, measure memory, tear everything down and
 * report.  0 when every host passed both times.  Install the bench signal
 * handlers (sim/bench.h) first.
 */
int bench_fabric_run(const struct bench_fabric_opts *o);

#endif
