/*
 * swtpm.h - run a swtpm TPM 2.0 emulator (socket mode) for a state directory.
 *
 * hl_swtpm_start() runs
 *   swtpm socket --tpm2 --tpmstate dir=ABS --flags not-need-init,startup-clear
 *         --server type=tcp,port=P,bindaddr=H --ctrl type=tcp,fd=M [--key fd=K,...]
 * as a supervised child (lib/child) and returns once the TPM answers, so the
 * caller can connect at once with the TCTI string "swtpm:host=H,port=P" (the
 * tss2 swtpm TCTI uses P for commands and P+1 for the control channel).
 *
 * Ports.  The control socket (P+1) is bound and listening in the parent and
 * passed as fd M.  swtpm 0.7.1 treats "--server type=tcp,fd=N" as an already
 * connected client (it exits when that connection ends), so the command port
 * cannot be passed the same way: the parent reserves P by binding it with
 * SO_REUSEADDR without listening, swtpm binds and listens on it (it also sets
 * SO_REUSEADDR), and the parent drops its reservation once swtpm is ready.
 * Nobody else can take P meanwhile; a start that still loses the port is
 * retried on fresh ports.
 *
 * Readiness.  swtpm binds its sockets and writes its pid file before it
 * initialises libtpms (where a wrong state key is detected), so neither is a
 * readiness signal.  The parent instead asks the control channel for its
 * capabilities (swtpm's CMD_GET_CAPABILITY, a 4-byte command code); swtpm
 * answers only from its main loop, after libtpms is initialised and its
 * SIGTERM handler installed.
 * If swtpm dies first, the start fails at once with its exit status and last
 * log line, e.g. for a wrong key:
 *   'swtpm' exited with status 1 before it was ready: swtpm: Error: Could not
 *   initialize libtpms; see '/lab/host1/tpm/swtpm.log'
 *
 * State key.  An optional 32-byte AES-256-CBC key is written into a pipe whose
 * read end swtpm gets as "--key fd=K,format=binary,mode=aes-256-cbc": it never
 * touches the disk, the command line or the environment.
 *
 * Paths are made absolute (swtpm may chdir to /).  swtpm's stdout and stderr
 * go to the log file (appended).  Manufacturing (swtpm_setup: EK, certificates)
 * is not done here; a fresh state dir works with not-need-init.
 */
#ifndef HGSLAB_LIB_SWTPM_H
#define HGSLAB_LIB_SWTPM_H

#include <stddef.h>
#include <sys/types.h>

#include "lib/child.h"
#include "lib/err.h"

/* Default readiness timeout for hl_swtpm_start(). */
#define HL_SWTPM_READY_MS 10000

/* Default bounded-stop timeout before SIGKILL. */
#define HL_SWTPM_STOP_MS 3000

/* State key size for aes-256-cbc. */
#define HL_SWTPM_KEY_LEN 32

struct hl_swtpm;

/* Options for hl_swtpm_start(); zero fields take the defaults. */
struct hl_swtpm_opts {
	const char *state_dir;          /* required; created 0700 if missing */
	const char *host;               /* loopback address; default "127.0.0.1" */
	const unsigned char *key;       /* optional state key, HL_SWTPM_KEY_LEN bytes */
	size_t key_len;
	const char *log_path;           /* default STATE_DIR/swtpm.log */
	const char *program;            /* default "swtpm" (looked up in PATH) */
	const char *flags;              /* default "not-need-init,startup-clear" */
	int timeout_ms;                 /* readiness; 0 means HL_SWTPM_READY_MS */
};

/* Start swtpm and wait until it answers; *out owns it (hl_swtpm_free). */
int hl_swtpm_start(const struct hl_swtpm_opts *opts, struct hl_swtpm **out);

/* The address swtpm listens on. */
const char *hl_swtpm_host(const struct hl_swtpm *t);

/* The TPM command port; the control channel is port + 1. */
int hl_swtpm_port(const struct hl_swtpm *t);

/* The TCTI configuration, "swtpm:host=H,port=P", for lib/tpm or tpm2-tools. */
const char *hl_swtpm_tcti(const struct hl_swtpm *t);

/* The absolute state directory. */
const char *hl_swtpm_state_dir(const struct hl_swtpm *t);

/* The supervised swtpm process. */
struct hl_child *hl_swtpm_child(struct hl_swtpm *t);

/*
 * Bounded stop: SIGTERM (swtpm saves its state and exits), up to TIMEOUT_MS
 * (<=0: HL_SWTPM_STOP_MS), then SIGKILL.  *status (may be NULL) as in lib/child.
 */
int hl_swtpm_stop(struct hl_swtpm *t, int timeout_ms, int *status);

/* Free T, killing swtpm if it still runs.  NULL-safe. */
void hl_swtpm_free(struct hl_swtpm *t);

#endif
