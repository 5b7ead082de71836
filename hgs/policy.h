/*
 * policy.h - the Hgs_* attestation policies and their evaluation from a
 * host's TCG log.
 *
 * The table (hgs_policy_defs) is the set HGS ships, with the state
 * Initialize-HgsServer gives each one and whether it is locked (a locked
 * policy cannot be disabled).  The node stores only which are enabled.
 *
 * Evaluation (hgs_policy_evaluate) reads a TCG log that the caller has
 * already proven genuine (parsed, data-checked and replayed to the PCR digest
 * of a verified quote: the log is trusted only through that replay).  It
 * matches the host's SecureBootSettings measurements (PCRs 0-7) against the
 * registered TPM baselines and its measured code integrity policy against the
 * registered CI policies, then evaluates every enabled policy from the
 * hgslab boot-configuration events (lib/wbcl.h), and sets one sub-status bit
 * per failed policy.
 *
 * Rules of the evaluation:
 *   - a log without a SHA-256 bank, with an event whose data does not hash to
 *     its digest (lib/tcglog's checked types, and EV_EVENT_TAG in PCRs 12-14),
 *     or with a malformed boot-configuration event fails with
 *     TcgLogVerification alone: no policy is evaluated on it;
 *   - locked policies are evaluated whether or not ENABLED lists them;
 *   - decisions use digests and data verified against digests only, never
 *     event types; a setting the host does not measure counts as insecure;
 *   - Hgs_DumpEncryptionKey accepts the dump encryption keys that registered
 *     baselines measure (hgslab's stand-in for Add-HgsAttestationDumpPolicy).
 */
#ifndef HGSLAB_HGS_POLICY_H
#define HGSLAB_HGS_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include "hgs/trace.h"
#include "proto/attest.h"
#include "proto/tcglog.h"

struct hl_wbcl_config;

struct hgs_policy_def {
	const char *name;          /* "Hgs_SecureBootEnabled" */
	uint32_t substatus;        /* the HGS_SUB_* bit set when it fails */
	int default_enabled;       /* state after `hgs init` */
	int locked;                /* cannot be disabled */
	const char *description;   /* one line for get-attestation-policy */
};

/* The policy table, NULL-name terminated, in HGS's order. */
extern const struct hgs_policy_def hgs_policy_defs[];

/* Find a policy by name (exact); NULL when unknown. */
const struct hgs_policy_def *hgs_policy_find(const char *name);

/* A registered TPM baseline (add-tpm-policy): a TCG log from a known-good host. */
struct hgs_baseline {
	const char *name;
	const unsigned char *tcglog;
	size_t len;
	int has_sha256;                  /* sha256 is the SHA-256 of tcglog (else computed) */
	unsigned char sha256[32];
};

/* A registered code integrity policy (add-ci-policy): the policy file's bytes. */
struct hgs_ci_policy {
	const char *name;
	const unsigned char *data;
	size_t len;
	int has_sha256;                  /* sha256 is the SHA-256 of data (else computed) */
	unsigned char sha256[32];
};

/* What the evaluation is given. */
struct hgs_policy_input {
	const struct hl_tcglog *log;               /* the host's genuine, replayed log */
	const struct hgs_baseline *baselines;      /* registered baselines */
	size_t n_baselines;
	const struct hgs_ci_policy *ci_policies;   /* registered CI policies */
	size_t n_ci_policies;
	const char *const *enabled;                /* names of the enabled policies */
	size_t n_enabled;
	/*
	 * Optional: the SHA-256 bank of LOG as the caller replayed it after
	 * hl_tcglog_require_sha256() and hl_tcglog_require_data_ok() passed on
	 * LOG (what /tpm/attest does to match the quote).  The evaluation then
	 * uses it instead of checking and replaying LOG again; NULL (what a
	 * zeroed struct holds) makes it do both itself.
	 */
	const struct hl_tcglog_bank *replayed;
	/*
	 * Optional, only with REPLAYED: LOG's boot configuration as
	 * hl_wbcl_read() read it without an error (the caller may keep it with
	 * the log it remembers).  The evaluation then does not read it again;
	 * NULL makes it read LOG itself.
	 */
	const struct hl_wbcl_config *config;
	/*
	 * Optional: the exchange's trace (hgs/trace.h).  The evaluation appends
	 * one step per policy, in the table's order, named by the policy: Pass
	 * or Fail (the failure's phrases as its detail) for an evaluated one,
	 * Skip for a disabled one; or one failed "TcgLog" step when the log is
	 * refused before any policy.  NULL: no steps.
	 */
	struct hgs_trace *trace;
};

/*
 * Evaluate.  Fills OUT: Passed, or InsecureHostConfiguration with one
 * sub-status bit per failed policy and a reason sentence naming each failure
 * (e.g. "boot debugging is enabled (PCR 12)"), phrases joined by "; ".
 * Returns -1 only on an internal error (a registered baseline that does not
 * parse, an unknown policy name in ENABLED, out of memory), with hl_error
 * set; OUT is then TransientError, never Passed.
 */
int hgs_policy_evaluate(const struct hgs_policy_input *in, struct hgs_result *out);

/*
 * Replayed baselines.  What a registered baseline contributes to an
 * evaluation (its SHA-256 PCRs 0-7 and dump encryption key) is a function of
 * its bytes alone, so hgs_policy_evaluate() keeps it, keyed by the SHA-256 of
 * the TCG log, in a process-wide table of HGS_POLICY_BASELINE_CACHE entries
 * (the oldest is replaced), guarded by its own mutex: thread-safe, shared by
 * every node of the process.  Nothing invalidates an entry, since no change
 * of registration changes what a given log replays to: a baseline removed
 * or added is simply absent from or present in the next evaluation's input,
 * and new bytes have another key.  A baseline that fails to load is never
 * kept.  hgs_policy_check_baseline() does not use the table.
 */
#define HGS_POLICY_BASELINE_CACHE 64

/*
 * 0 when the TCG log TCGLOG (LEN bytes) can serve as a TPM baseline named
 * NAME: it parses, has a SHA-256 bank, replays and its boot-configuration
 * events are well-formed; otherwise -1 with the reason.  add-tpm-policy calls
 * it so that evaluation never meets an unusable baseline.
 */
int hgs_policy_check_baseline(const char *name, const unsigned char *tcglog, size_t len);

/*
 * 0 when DATA (LEN bytes) is a code integrity policy document
 * (HGS_CI_POLICY_FORMAT, proto/attest.h); otherwise -1 saying what is wrong.
 */
int hgs_policy_check_ci(const void *data, size_t len);

#endif
