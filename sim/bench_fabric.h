/*
 * bench_fabric.h - `hgslab bench fabric`: many guarded hosts, each a real
 * swtpm, brought up from cold against one HGS node, then a re-attestation
 * storm.
 *
 * The hosts' TPM states come from the cache of manufactured states
 * (sim/tpm_cache.h): state I is host "FabricHost%04d" (I + 1).
 *
 * Contract (lib/err.h): 0 on success, -1 after hl_error().
 */
#ifndef HGSLAB_SIM_BENCH_FABRIC_H
#define HGSLAB_SIM_BENCH_FABRIC_H

#include <limits.h>
#include <stddef.h>

#include "lib/err.h"
#include "sim/tpm_cache.h"

/* Hosts a fabric bench may have. */
#define BENCH_FABRIC_HOSTS_MAX 2000

/* What a fabric run is asked to do. */
struct bench_fabric_opts {
	long hosts;                   /* 1 .. BENCH_FABRIC_HOSTS_MAX */
	long workers;                 /* threads of the shared agent */
	const char *cache;            /* the cache directory (tpm_cache_dir) */
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
