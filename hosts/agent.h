/*
 * agent.h - the guarded host agent (`hgslab host run`) and the pieces it is
 * made of, which the other host verbs reuse: running the host's swtpm,
 * replaying the measured boot into it, and one attestation attempt.
 *
 * The host's TPM.  One swtpm per host directory at a time: whoever runs it
 * holds an exclusive flock(2) on DIR/tpm.lock for as long as it runs (the
 * lock dies with the process, so a crash leaves nothing stale).  The agent
 * publishes its swtpm in DIR/agent.json ({"pid", "swtpm_host",
 * "swtpm_port", "tcti"}) and claims DIR/agent.pid (locked for its whole
 * life, lib/child.h "Pid files": the agent is the process holding that
 * lock, not whichever has the pid agent.json names); a verb that needs the
 * TPM while the agent runs (get-platform-identifier) connects to that swtpm
 * instead of starting a second one.  swtpm serves one connection at a time, so the
 * agent connects only while it works (boot replay, an attestation) and a
 * borrower waits at most that long.
 *
 * Boot.  Each swtpm start is a power-on (startup-clear: PCRs at zero); the
 * boot profile's measured boot (hosts/measured_boot.h) is extended into the
 * sha1 and sha256 banks, and its TCG log written to DIR/tcglog.bin (0644),
 * the log HGS replays against the quote.
 *
 * An attestation attempt (host_attempt) reads the client configuration
 * (DIR/client.json, re-read every time), asks the HGS for its mode
 * (GET /Attestation/v1/info; on failure the fallback URL, IsFallbackInUse),
 * then attests in that mode: tpm -> hosts/hgs_client TPM flow with the AK
 * and transport key (TK); hostkey -> host-key flow with the machine key;
 * ad -> a ticket from the fabric DC (the client configuration's DC URL)
 * and hosts/ad_client.  The TK (TPM-resident, certified by the AK in TPM
 * mode) is the key every health certificate binds.  The outcome goes to
 * DIR/state.json (atomic write); no decision (HGS unreachable, a TPM
 * failure) is a TransientError with the reason.  After a TPM-mode attempt
 * a quote of the same PCRs by the same AK is kept in DIR/last-quote/ for
 * diagnostics, in tpm2_checkquote's formats:
 *   tpm2_checkquote -u ak.pem -m quote.msg -s quote.sig -f pcrs.bin \
 *       -q nonce.bin -g sha256
 *
 * The agent attests at start, renews at 3/4 of the health certificate's
 * lifetime, retries a TransientError with exponential backoff (1 s to
 * 60 s) and any other refusal every 5 minutes, and attests at once on
 * SIGUSR1.  SIGTERM, SIGINT and SIGHUP stop it: swtpm is stopped (bounded,
 * lib/swtpm), agent.json and agent.pid are removed, exit 0.
 *
 * Contract (lib/err.h): 0 on success, -1 after hl_error(); *out = NULL on
 * entry; destructors are NULL-safe.
 */
#ifndef HGSLAB_HOSTS_AGENT_H
#define HGSLAB_HOSTS_AGENT_H

#include "hosts/host.h"
#include "lib/log.h"

/* Renew when this fraction (num/den) of the health certificate's lifetime has passed. */
#define HOST_RENEW_NUM 3
#define HOST_RENEW_DEN 4
/* Backoff for TransientError: from .. to, seconds. */
#define HOST_RETRY_MIN_S 1
#define HOST_RETRY_MAX_S 60
/* Retry interval after a refusal (UnauthorizedHost, InsecureHostConfiguration, ...). */
#define HOST_RETRY_REFUSED_S 300
/* Per-request HTTP timeout of the agent. */
#define HOST_HTTP_TIMEOUT_MS 10000L

/* The running agent of a host directory, as DIR/agent.json says. */
struct host_agent_info {
	long pid;
	char swtpm_host[16];
	int swtpm_port;
	char tcti[96];
};

/*
 * 1 when an agent runs for H (its details in *OUT), 0 when none does (a
 * stale agent.json is ignored), -1 on error.
 */
int host_agent_find(const struct host *h, struct host_agent_info *out);

/* The host's TPM while in use: a swtpm of our own, or the running agent's. */
struct host_tpm;

/*
 * Start H's swtpm (taking DIR/tpm.lock; refused while another process runs
 * it) and, when REPLAY is set, replay the measured boot into it and write
 * DIR/tcglog.bin.  BORROW set: when the agent runs, use its swtpm instead
 * (no replay then).  The result is not connected: see host_tpm_connect.
 */
int host_tpm_open(struct host *h, int replay, int borrow, struct host_tpm **out);

/* Connect to the TPM (lib/tpm) if not connected; returns the connection or NULL after hl_error. */
struct hl_tpm *host_tpm_connect(struct host_tpm *t);

/* Drop the connection, letting others use the swtpm. */
void host_tpm_disconnect(struct host_tpm *t);

/* "ADDR:PORT" of the swtpm into BUF. */
void host_tpm_address(const struct host_tpm *t, char *buf, size_t size);

/* Stop our own swtpm (bounded), release the lock and free T; NULL-safe. */
void host_tpm_close(struct host_tpm *t);

/* Everything an attestation attempt needs, loaded once. */
struct host_attester;

/*
 * Prepare attestation for H over T: the EK, the AK and TK (created under
 * the SRK and saved in DIR/keys on first use, reloaded afterwards, so the
 * AK HGS pinned stays the same across restarts), the machine key and the
 * measured boot of the current profile.
 */
int host_attester_new(struct host *h, struct host_tpm *t, struct host_attester **out);

/* Free A; NULL-safe. */
void host_attester_free(struct host_attester *a);

/*
 * One attestation attempt (TRIGGER "start", "renewal", "retry", "signal",
 * "test"): updates *ST (loaded by the caller, kept across attempts) and
 * saves it to DIR/state.json.  Returns 0 whenever the state was recorded,
 * whatever the decision; -1 only when even that failed.
 */
int host_attempt(struct host_attester *a, const char *trigger, struct host_state *st);

/*
 * When to attest next after the outcome in ST at host time NOW, in seconds
 * from NOW: Passed -> at 3/4 of the certificate's remaining lifetime (at
 * least 1 s); TransientError -> *RETRY_S, which then doubles up to
 * HOST_RETRY_MAX_S; another refusal -> HOST_RETRY_REFUSED_S; NotConfigured
 * -> -1 (only on request).  Any outcome but TransientError resets *RETRY_S
 * to HOST_RETRY_MIN_S.
 */
long host_schedule(const struct host_state *st, time_t now, int *retry_s);

/*
 * `hgslab host test-client-configuration` without an agent: start the
 * swtpm, replay the boot, attest once (trigger "test"), stop; the resulting
 * state in *ST (caller releases).
 */
int host_attest_direct(struct host *h, struct host_state *st);

/*
 * Ask the running agent AGENT_PID for a fresh attestation (SIGUSR1) and
 * wait up to TIMEOUT_MS for the state it records for it (an attempt started
 * after the request), into *ST.
 */
int host_agent_request(struct host *h, long agent_pid, int timeout_ms, struct host_state *st);

/*
 * `hgslab host run`: open DIR, log to DIR/host.log at LEVEL, start the
 * swtpm and replay the boot, print
 *   host: FabricHost1 agent running (swtpm on 127.0.0.5:40123)
 * on stdout, then one line per attempt
 *   host: FabricHost1 attestation: Passed
 *   host: FabricHost1 attestation: InsecureHostConfiguration (DebugMode): <reason>
 * and run until SIGTERM, SIGINT or SIGHUP (return 0).  -1 when it cannot start.
 */
int host_agent_run(const char *dir, enum hl_log_level level);

#endif
