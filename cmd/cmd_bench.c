/*
 * cmd_bench.c - `hgslab bench attest` and `hgslab bench all` (attest, release, boot,
 * provision).
 *
 * bench attest builds a throw-away lab in a temporary directory: the lab's
 * TPM vendor CA, N host TPMs manufactured with swtpm_setup
 * (hosts/manufacture) and run as swtpm processes (lib/swtpm) with the
 * baseline measured boot (hosts/measured_boot) replayed into their PCRs, and
 * an HGS node in TPM mode (hgs/node) with the vendor CA configured and the
 * hosts, the baseline TCG log and the CI policy registered (hgs/db).  The
 * node is served by a separate `hgslab hgs serve` child (this very binary,
 * /proc/self/exe, through lib/child), so that its CPU time can be read on its
 * own from /proc/PID/stat before and after the measured window.
 *
 * Warm-up (not counted): each host activates its AK with HGS and attests
 * once.  Load: N client threads, one per host with its own TPM connection,
 * attest in a loop for S seconds (hosts_hgs_attest_tpm: nonce, quote,
 * certify, POST).  Then the crypto floor is measured in the same run: the
 * OpenSSL CPU cost, one thread, of the signature operations HGS must do per
 * attestation, on real material (a quote and a TPM2_Certify of host 1's AK,
 * a health certificate's bytes signed with the node's attestation signer).
 * The report gives attestations/s, latency p50 and p99, HGS CPU per
 * attestation, the floor and the ratio HGS CPU / floor against the goal.
 *
 * Everything started is stopped and the directory removed (unless --keep),
 * also on Ctrl-C: the first SIGINT/SIGTERM/SIGHUP only sets a flag that every
 * step and every load thread checks, so the normal teardown runs; a second
 * one stops the children at once (lib/child) and leaves the directory.
 */
#include <limits.h>
#include <stddef.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <tss2/tss2_mu.h>

#include "hgs/db.h"
#include "hgs/node.h"
#include "hosts/hgs_client.h"
#include "hosts/manufacture.h"
#include "hosts/measured_boot.h"
#include "hosts/profile.h"
#include "hosts/tpm_host.h"
#include "lib/child.h"
#include "lib/clock.h"
#include "lib/crypto.h"
#include "lib/fileio.h"
#include "lib/swtpm.h"
#include "lib/tpm.h"
#include "sim/bench.h"
#include "cmd/commands.h"

#define BENCH_HOSTS_DEFAULT 4
#define BENCH_HOSTS_MAX 32
#define BENCH_SECONDS_DEFAULT 10
#define BENCH_SECONDS_MAX 3600
/* The goal (issue #16; issue #3 had 3x): HGS CPU per attestation within 2x of the crypto floor. */
#define BENCH_GOAL_RATIO 2.0
#define BENCH_HGS_NAME "MyHgsService"
#define BENCH_HGS_DOMAIN "relecloud.com"
#define BENCH_HGS_LISTEN "127.0.0.2:0"
#define BENCH_HGS_READY_MS 30000
#define BENCH_HGS_STOP_MS 5000
#define BENCH_HTTP_TIMEOUT_MS 30000
#define BENCH_TPM_ADDR "127.0.0.1"
#define BENCH_BASELINE_NAME "Baseline"
#define BENCH_PATH_MAX 512
/* The lab directory's path leaves room for what goes inside it. */
#define BENCH_DIR_MAX 300

#define OPT_JSON { "json", 0, HL_OPT_FLAG, NULL, \
	"print the results as JSON (progress stays on stderr)", 0 }
#define OPT_WORKDIR { "workdir", 0, HL_OPT_STRING, "DIR", \
	"make the lab's temporary directory inside DIR (default $TMPDIR or /tmp)", 0 }
#define OPT_KEEP { "keep", 0, HL_OPT_FLAG, NULL, \
	"keep the lab directory (TPM states, HGS node, logs) and print where it is", 0 }
#define OPT_END { NULL, 0, 0, NULL, NULL, 0 }

const struct hl_opt cmd_bench_attest_opts[] = {
	{ "hosts", 'n', HL_OPT_INT, "N", "guarded hosts attesting at once, 1-32 (default 4)", 0 },
	{ "seconds", 's', HL_OPT_INT, "S", "length of the measured window, 1-3600 (default 10)", 0 },
	{ "nodes", 0, HL_OPT_INT, "N", "also run against an HGS cluster of N nodes (2-5; host i "
	  "attests to node i mod N) and compare with 1 node measured in the same run", 0 },
	OPT_WORKDIR,
	OPT_KEEP,
	OPT_JSON,
	OPT_END,
};

const struct hl_opt cmd_bench_all_opts[] = {
	OPT_WORKDIR,
	OPT_KEEP,
	OPT_JSON,
	OPT_END,
};

/* The floor operations: the signatures HGS checks or makes per attestation. */
enum { FLOOR_QUOTE, FLOOR_CERTIFY, FLOOR_HEALTHCERT, FLOOR_N };
_Static_assert(FLOOR_N <= BENCH_FLOOR_OPS_MAX, "too many floor operations");

/*
 * One floor operation's material (its name and timing are in the result's
 * bench_floor); msg and sig are owned, key borrowed.
 */
struct floor_op {
	int sign;                     /* 1: sign msg; 0: verify sig over msg */
	EVP_PKEY *key;
	enum hl_sig_scheme scheme;
	struct hl_buf msg, sig;
};

/* What one run of bench attest measured: b.workers is the number of hosts. */
struct attest_result {
	struct bench_result b;        /* first: bench_lab_run() reads it */
	struct floor_op floor[FLOOR_N];
};
_Static_assert(offsetof(struct attest_result, b) == 0, "bench_result first");

/* bench attest in the report; a passed attestation is the load's "ok". */
static const struct bench_kind attest_kind = {
	.benchmark = "attest",
	.workers_key = "Hosts",
	.done_label = "attestations passed",
	.rate_label = "attestations/s",
	.lat_digits = 1,
	.cpu_label = "HGS CPU per attestation",
	.floor_label = "crypto floor per attestation",
	.ratio_label = "HGS CPU / crypto floor",
	.tally_key = "Attestations",
	.ok_key = "Passed",
	.rate_key = "AttestationsPerSecond",
	.cpu_key = "HgsCpuMillisecondsPerAttestation",
	.floor_key = "MillisecondsPerAttestation",
	.how_key = "Scheme",
	.goal_ratio = BENCH_GOAL_RATIO,
};

struct bench_lab;

/* A guarded host of the lab: its swtpm and TPM keys. */
struct bench_host {
	char name[16];                        /* "BenchHost1" */
	struct bench_lab *lab;
	struct hl_swtpm *swtpm;
	struct hl_tpm *tpm;                   /* owned by the load thread while it runs */
	struct hosts_ek *ek;
	struct hosts_tpm_key ak, tk;
	struct hosts_hgs_tpm client;          /* what hosts_hgs_attest_tpm takes */
	const struct hosts_hgs_conn *conn;    /* the node it attests to */
	int ak_bound;
};

/* A node of the lab's HGS: its directory and its `hgs serve` child. */
struct bench_node {
	char dir[BENCH_PATH_MAX];
	char out[BENCH_PATH_MAX];             /* stdout/stderr of `hgs serve` */
	char url[128];
	struct hosts_hgs_conn conn;
	struct hl_child *hgs;
};

/* The throw-away lab; dir is "" until it exists. */
struct bench_lab {
	char dir[BENCH_PATH_MAX];
	char vendor[BENCH_PATH_MAX];
	struct bench_node node[BENCH_NODES_MAX];  /* [0] made by init, the others joined to it */
	size_t n_nodes;
	struct hl_profile profile;
	struct hl_measured_boot *mb;
	struct bench_host *hosts;
	struct bench_worker *workers;         /* a load thread per host */
	size_t n_hosts;
	struct hl_buf health_cert;            /* a warm-up health certificate, DER */
	EVP_PKEY *ak_pub;                     /* host 1's AK, for the floor */
	EVP_PKEY *signer;                     /* the node's attestation signer, for the floor */
};

/* ---- the lab ---- */

/* Make the lab's temporary directory inside WORKDIR (or $TMPDIR, /tmp). */
static int lab_mkdir(struct bench_lab *lab, const char *workdir)
{
	if (bench_lab_mkdtemp(lab->dir, sizeof(lab->dir), workdir, "hgslab-bench", BENCH_DIR_MAX,
			      "the lab") < 0 ||
	    bench_path_fmt(lab->vendor, sizeof(lab->vendor), "%s/tpm-vendor", lab->dir) < 0)
		return -1;
	for (size_t i = 0; i < lab->n_nodes; i++) {
		struct bench_node *n = &lab->node[i];
		char suffix[16] = "";

		/* node 1 keeps the one-node names: hgs/, hgs-serve.out */
		if (i)
			snprintf(suffix, sizeof(suffix), "-HGS0%zu", i + 1);
		if (bench_path_fmt(n->dir, sizeof(n->dir), "%s/hgs%s", lab->dir, suffix) < 0 ||
		    bench_path_fmt(n->out, sizeof(n->out), "%s/hgs-serve%s.out", lab->dir, suffix) < 0)
			return -1;
	}
	return 0;
}

/* Manufacture host I's TPM, start it, create its AK and TK, replay the baseline boot. */
static int host_setup(struct bench_lab *lab, struct bench_host *h, size_t i)
{
	struct hl_swtpm_opts so = { 0 };
	struct hosts_pcr_extend *ext = NULL;
	char state[BENCH_PATH_MAX];
	int rc = -1;

	h->lab = lab;
	snprintf(h->name, sizeof(h->name), "BenchHost%zu", i + 1);
	if (bench_path_fmt(state, sizeof(state), "%s/%s/tpm", lab->dir, h->name) < 0)
		goto out;
	hl_bench_progress("host %zu of %zu: manufacturing the TPM of %s (about 1 s), starting it, "
			  "creating its AK and transport key", i + 1, lab->n_hosts, h->name);
	if (hosts_tpm_manufacture(lab->vendor, state, h->name) < 0 || bench_check_interrupted() < 0)
		goto out;
	so.state_dir = state;
	so.host = BENCH_TPM_ADDR;
	if (hl_swtpm_start(&so, &h->swtpm) < 0 ||
	    hl_tpm_connect(hl_swtpm_tcti(h->swtpm), &h->tpm) < 0 ||
	    hosts_tpm_read_ek(h->tpm, &h->ek) < 0 ||
	    hosts_tpm_create_ak(h->tpm, &h->ak) < 0 ||
	    hosts_tpm_create_transport_key(h->tpm, &h->tk) < 0)
		goto out;
	if (!(ext = calloc(lab->mb->n_extends ? lab->mb->n_extends : 1, sizeof(*ext)))) {
		hl_error("out of memory");
		goto out;
	}
	for (size_t k = 0; k < lab->mb->n_extends; k++) {
		ext[k].pcr = lab->mb->extends[k].pcr;
		memcpy(ext[k].sha1, lab->mb->extends[k].sha1, sizeof(ext[k].sha1));
		memcpy(ext[k].sha256, lab->mb->extends[k].sha256, sizeof(ext[k].sha256));
	}
	if (hosts_tpm_extend(h->tpm, ext, lab->mb->n_extends) < 0)
		goto out;
	h->client.host = h->name;
	h->client.tpm = h->tpm;
	h->client.ek = h->ek;
	h->client.ak = &h->ak;
	h->client.tk = &h->tk;
	h->client.tcglog = lab->mb->log;
	h->client.tcglog_len = lab->mb->log_len;
	rc = 0;
out:
	if (rc < 0)
		hl_error_wrap("cannot set up host '%s'", h->name);
	free(ext);
	return rc;
}

/* Register host H with NODE from its platform identifier (EKpub + EKcert). */
static int host_register(struct hgs_node *node, const struct bench_host *h)
{
	if (bench_hgs_add_tpm_host(node, h->name, h->ek) < 0)
		return hl_error_wrap("cannot register host '%s' with HGS", h->name);
	return 0;
}

/* Create the HGS node (TPM mode, vendor CA) and register hosts, baseline and CI policy. */
static int hgs_setup(struct bench_lab *lab)
{
	struct hgs_node *node = NULL;
	char *ci = NULL;
	size_t ci_len = 0;
	int rc = -1;

	hl_bench_progress("creating HGS %s (TPM mode) and registering %zu host%s, the baseline "
			  "and the CI policy", BENCH_HGS_NAME, lab->n_hosts,
			  lab->n_hosts == 1 ? "" : "s");
	if (bench_hgs_node_create(lab->node[0].dir, BENCH_HGS_NAME, BENCH_HGS_DOMAIN, BENCH_HGS_LISTEN,
				  lab->vendor, &node) < 0)
		goto out;
	for (size_t i = 0; i < lab->n_hosts; i++)
		if (host_register(node, &lab->hosts[i]) < 0)
			goto out;
	if (hgs_db_tpm_policy_add(node, BENCH_BASELINE_NAME, lab->mb->log, lab->mb->log_len) < 0 ||
	    hl_profile_ci_policy_document(lab->profile.ci_policy, &ci, &ci_len) < 0 ||
	    hgs_db_ci_policy_add(node, lab->profile.ci_policy, ci, ci_len) < 0)
		goto out;
	for (size_t i = 1; i < lab->n_nodes; i++) {
		struct hgs_join_params jp = { 0 };
		char name[16];

		snprintf(name, sizeof(name), "HGS0%zu", i + 1);
		hl_bench_progress("adding node %s to HGS %s (same store, a copy of the keys)", name,
				  BENCH_HGS_NAME);
		jp.dir = lab->node[i].dir;
		jp.node_name = name;
		jp.from = lab->node[0].dir;
		if (hgs_node_join(&jp) < 0)
			goto out;
	}
	rc = 0;
out:
	if (rc < 0)
		hl_error_wrap("cannot set up the HGS nodes in '%s'", lab->dir);
	hgs_node_close(node);
	free(ci);
	return rc;
}

/* Start `hgslab hgs serve` on every node as a child and learn their URLs. */
static int hgs_start(struct bench_lab *lab)
{
	for (size_t i = 0; i < lab->n_nodes; i++) {
		struct bench_node *n = &lab->node[i];

		if (bench_hgs_serve_start(n->dir, n->out, BENCH_HGS_READY_MS, &n->hgs, n->url,
					  sizeof(n->url)) < 0)
			return -1;
		n->conn.url = n->url;
		n->conn.timeout_ms = BENCH_HTTP_TIMEOUT_MS;
		hl_bench_progress("HGS node %zu of %zu serving on %s (hgs serve, pid %ld)", i + 1,
				  lab->n_nodes, n->url, (long)hl_child_pid(n->hgs));
	}
	return 0;
}

/* "STATUS (SUBSTATUS): REASON" of decision D into BUF. */
static void decision_text(const struct hosts_hgs_decision *d, char *buf, size_t size)
{
	snprintf(buf, size, "%s%s%s%s%s%s", d->status, d->substatus_text[0] ? " (" : "",
		 d->substatus_text, d->substatus_text[0] ? ")" : "", d->reason[0] ? ": " : "",
		 d->reason);
}

/* Activate every host's AK and attest once (not counted); keep a health certificate. */
static int warm_up(struct bench_lab *lab)
{
	struct hosts_hgs_decision d;
	char text[HL_ERROR_MAX];

	hl_bench_progress("warm-up: each host activates its AK with HGS and attests once "
			  "(not counted)");
	for (size_t i = 0; i < lab->n_hosts; i++) {
		struct bench_host *h = &lab->hosts[i];

		if (bench_check_interrupted() < 0)
			return -1;
		if (hosts_hgs_attest_tpm(h->conn, &h->client, &h->ak_bound, &d) < 0)
			return hl_error_wrap("the warm-up attestation of '%s' failed", h->name);
		if (!d.passed) {
			decision_text(&d, text, sizeof(text));
			hosts_hgs_decision_release(&d);
			return hl_error("the warm-up attestation of '%s' was refused: %s", h->name,
					text);
		}
		if (i == 0) {
			lab->health_cert = d.health_cert_der;
			d.health_cert_der.data = NULL;
			d.health_cert_der.len = 0;
		}
		hosts_hgs_decision_release(&d);
	}
	return 0;
}

/*
 * Build lab ARG for HOSTS hosts and NODES nodes: directory, vendor CA, hosts,
 * HGS nodes and their servers (their pids into HGS_PIDS); host i attests to
 * node i mod NODES; warm it up.
 */
static int lab_setup(void *arg, long hosts, long nodes, const char *workdir, pid_t *hgs_pids)
{
	struct bench_lab *lab = arg;

	lab->n_hosts = (size_t)hosts;
	lab->n_nodes = (size_t)nodes;
	if (!(lab->hosts = calloc(lab->n_hosts, sizeof(*lab->hosts))) ||
	    !(lab->workers = calloc(lab->n_hosts, sizeof(*lab->workers))))
		return hl_error("out of memory");
	if (lab_mkdir(lab, workdir) < 0)
		return -1;
	hl_bench_progress("lab in '%s'; creating its TPM vendor CA", lab->dir);
	if (hosts_vendor_ca_init(lab->vendor) < 0 ||
	    hl_profile_init(&lab->profile, "baseline") < 0 ||
	    hl_measured_boot_build(&lab->profile, &lab->mb) < 0)
		return -1;
	for (size_t i = 0; i < lab->n_hosts; i++)
		if (bench_check_interrupted() < 0 || host_setup(lab, &lab->hosts[i], i) < 0)
			return -1;
	if (bench_check_interrupted() < 0 || hgs_setup(lab) < 0 || bench_check_interrupted() < 0 ||
	    hgs_start(lab) < 0)
		return -1;
	for (size_t i = 0; i < lab->n_nodes; i++)
		hgs_pids[i] = hl_child_pid(lab->node[i].hgs);
	for (size_t i = 0; i < lab->n_hosts; i++)
		lab->hosts[i].conn = &lab->node[i % lab->n_nodes].conn;
	return warm_up(lab);
}

/* Stop everything lab ARG started and remove its directory unless KEEP (bench_run_end). */
static int lab_teardown(void *arg, int keep)
{
	struct bench_lab *lab = arg;
	int rc = 0;

	for (size_t i = 0; i < lab->n_nodes; i++)
		if (bench_hgs_serve_stop(&lab->node[i].hgs, BENCH_HGS_STOP_MS, lab->node[i].out,
					 lab->node[i].dir) < 0)
			rc = -1;

	for (size_t i = 0; lab->hosts && i < lab->n_hosts; i++) {
		struct bench_host *h = &lab->hosts[i];

		hl_tpm_disconnect(h->tpm);
		if (h->swtpm)
			hl_swtpm_stop(h->swtpm, 0, NULL);
		hl_swtpm_free(h->swtpm);
		hosts_ek_free(h->ek);
		hosts_tpm_key_release(&h->ak);
		hosts_tpm_key_release(&h->tk);
	}
	free(lab->hosts);
	lab->hosts = NULL;
	bench_workers_free(lab->workers, lab->n_hosts);
	lab->workers = NULL;
	hl_measured_boot_free(lab->mb);
	lab->mb = NULL;
	hl_buf_free(&lab->health_cert);
	hl_key_free(lab->ak_pub);
	hl_key_free(lab->signer);
	lab->ak_pub = lab->signer = NULL;
	if (bench_lab_remove(lab->dir, keep, "HGS node in hgs/, TPM states in BenchHost*/tpm/") < 0)
		rc = -1;
	return rc;
}

/* ---- the load ---- */

/* One attestation of host ARG (bench_request_fn): 1 passed, 0 refused, -1 no decision. */
static int attest_request(void *arg, char *why, size_t size)
{
	struct bench_host *h = arg;
	struct hosts_hgs_decision d;
	int passed;

	if (hosts_hgs_attest_tpm(h->conn, &h->client, &h->ak_bound, &d) < 0)
		return hl_error_wrap("%s", h->name);   /* HGS or the TPM is broken */
	passed = d.passed;
	if (!passed && why) {
		char text[HL_ERROR_MAX - 64];

		decision_text(&d, text, sizeof(text));
		snprintf(why, size, "%s was refused: %s", h->name, text);
	}
	hosts_hgs_decision_release(&d);
	return passed ? 1 : 0;
}

/* The measured window of lab ARG: a thread per host for SECONDS; tallies and HGS CPU into OUT. */
static int run_load(void *arg, long seconds, struct bench_load *out)
{
	struct bench_lab *lab = arg;

	hl_bench_progress("measuring: %zu host%s attesting for %ld s", lab->n_hosts,
			  lab->n_hosts == 1 ? "" : "s", seconds);
	for (size_t i = 0; i < lab->n_hosts; i++) {
		struct bench_worker *w = &lab->workers[i];

		snprintf(w->label, sizeof(w->label), "the load thread of '%s'", lab->hosts[i].name);
		w->fn = attest_request;
		w->arg = &lab->hosts[i];
	}
	pid_t pids[BENCH_NODES_MAX];

	for (size_t i = 0; i < lab->n_nodes; i++)
		pids[i] = hl_child_pid(lab->node[i].hgs);
	return bench_load_run(lab->workers, lab->n_hosts, pids, lab->n_nodes, seconds, out);
}

/* ---- the crypto floor ---- */

/* "RSASSA-PKCS1-v1_5" and the like. */
static const char *scheme_name(enum hl_sig_scheme s)
{
	switch (s) {
	case HL_SIG_RSA_PKCS1:
		return "RSASSA-PKCS1-v1_5";
	case HL_SIG_RSA_PSS:
		return "RSASSA-PSS";
	case HL_SIG_ECDSA:
		return "ECDSA";
	default:
		return "default";
	}
}

/* Split a marshalled TPMT_SIGNATURE into the scheme and the signature OpenSSL takes. */
static int tpm_signature(const struct hl_buf *b, enum hl_sig_scheme *scheme, struct hl_buf *out)
{
	TPMT_SIGNATURE s;
	const TPM2B_PUBLIC_KEY_RSA *rsa;
	size_t off = 0;

	memset(&s, 0, sizeof(s));
	if (Tss2_MU_TPMT_SIGNATURE_Unmarshal(b->data, b->len, &off, &s) != TSS2_RC_SUCCESS ||
	    off != b->len)
		return hl_error("the TPM's signature is not a TPMT_SIGNATURE");
	switch (s.sigAlg) {
	case TPM2_ALG_RSASSA:
	case TPM2_ALG_RSAPSS:
		*scheme = s.sigAlg == TPM2_ALG_RSASSA ? HL_SIG_RSA_PKCS1 : HL_SIG_RSA_PSS;
		rsa = s.sigAlg == TPM2_ALG_RSASSA ? &s.signature.rsassa.sig : &s.signature.rsapss.sig;
		if (!(out->data = malloc(rsa->size ? rsa->size : 1)))
			return hl_error("out of memory");
		memcpy(out->data, rsa->buffer, rsa->size);
		out->len = rsa->size;
		return 0;
	case TPM2_ALG_ECDSA:
		*scheme = HL_SIG_ECDSA;
		return hl_crypto_ecdsa_sig_from_rs(s.signature.ecdsa.signatureR.buffer,
						   s.signature.ecdsa.signatureR.size,
						   s.signature.ecdsa.signatureS.buffer,
						   s.signature.ecdsa.signatureS.size, out);
	default:
		return hl_error("the TPM signed with algorithm 0x%04x, which the bench does not "
				"know", s.sigAlg);
	}
}

/* One floor operation: sign or verify with OpenSSL through lib/crypto. */
static int floor_call(void *arg)
{
	struct floor_op *op = arg;
	struct hl_buf sig = { 0 };

	if (!op->sign)
		return hl_crypto_verify(op->key, op->scheme, op->msg.data, op->msg.len,
					op->sig.data, op->sig.len);
	if (hl_crypto_sign(op->key, op->scheme, op->msg.data, op->msg.len, &sig) < 0)
		return -1;
	hl_buf_free(&sig);
	return 0;
}

/* KEY's type name into BUF. */
static int key_type_text(const EVP_PKEY *key, char *buf, size_t size)
{
	enum hl_key_type kt;

	if (hl_key_type_of(key, &kt) < 0)
		return -1;
	snprintf(buf, size, "%s", hl_key_type_name(kt));
	return 0;
}

/*
 * The floor's material: a fresh quote and TPM2_Certify from host 1's TPM
 * (verified with its AK), and the warm-up health certificate's bytes to be
 * signed with the node's attestation signer.
 */
static int floor_prepare(void *arg, void *result)
{
	struct bench_lab *lab = arg;
	struct attest_result *r = result;
	struct bench_host *h = &lab->hosts[0];
	struct floor_op *q = &r->floor[FLOOR_QUOTE], *c = &r->floor[FLOOR_CERTIFY],
			*s = &r->floor[FLOOR_HEALTHCERT];
	struct bench_floor_op *fq = &r->b.floor.op[FLOOR_QUOTE],
			      *fc = &r->b.floor.op[FLOOR_CERTIFY],
			      *fs = &r->b.floor.op[FLOOR_HEALTHCERT];
	struct hosts_tpm_quote quote;
	struct hl_buf pem = { 0 }, csig = { 0 };
	struct hgs_node *node = NULL;
	unsigned char nonce[32];
	enum hl_key_type kt;
	int rc = -1;

	memset(&quote, 0, sizeof(quote));
	fq->name = "verify_quote";
	fq->what = "verify quote signature";
	fc->name = "verify_certify";
	fc->what = "verify certify signature";
	fs->name = "sign_health_certificate";
	fs->what = "sign health certificate";
	s->sign = 1;
	r->b.floor.n = FLOOR_N;
	for (int i = 0; i < FLOOR_N; i++) {
		r->b.floor.op[i].fn = floor_call;
		r->b.floor.op[i].arg = &r->floor[i];
	}
	if (hl_crypto_random(nonce, sizeof(nonce)) < 0 ||
	    hosts_tpm_quote(h->tpm, &h->ak, HOSTS_QUOTE_PCRS, nonce, sizeof(nonce), &quote) < 0 ||
	    hosts_tpm_certify(h->tpm, &h->ak, &h->tk, nonce, sizeof(nonce), &c->msg, &csig) < 0 ||
	    hosts_tpm_key_pem(&h->ak, &pem) < 0 ||
	    hl_key_pub_from_pem(pem.data, pem.len, &lab->ak_pub) < 0 ||
	    tpm_signature(&quote.sig, &q->scheme, &q->sig) < 0 ||
	    tpm_signature(&csig, &c->scheme, &c->sig) < 0)
		goto out;
	q->msg = quote.attest;
	quote.attest.data = NULL;
	quote.attest.len = 0;
	q->key = c->key = lab->ak_pub;
	if (key_type_text(lab->ak_pub, fq->key, sizeof(fq->key)) < 0)
		goto out;
	snprintf(fc->key, sizeof(fc->key), "%s", fq->key);
	/* the attestation signer as hgs serve loads it; X509_sign uses PKCS#1 v1.5 with RSA */
	if (hgs_node_open(lab->node[0].dir, HGS_NODE_OPEN_KEYS, &node) < 0)
		goto out;
	if (!node->signer_key || EVP_PKEY_up_ref(node->signer_key) != 1) {
		hl_error("the node's attestation signer key is not loaded");
		goto out;
	}
	lab->signer = node->signer_key;
	s->key = lab->signer;
	if (hl_key_type_of(lab->signer, &kt) < 0)
		goto out;
	snprintf(fs->key, sizeof(fs->key), "%s", hl_key_type_name(kt));
	s->scheme = kt == HL_KEY_EC_P256 ? HL_SIG_ECDSA : HL_SIG_RSA_PKCS1;
	for (int i = 0; i < FLOOR_N; i++)
		r->b.floor.op[i].how = scheme_name(r->floor[i].scheme);
	if (!lab->health_cert.len) {
		hl_error("the warm-up gave no health certificate to measure signing with");
		goto out;
	}
	if (!(s->msg.data = malloc(lab->health_cert.len))) {
		hl_error("out of memory");
		goto out;
	}
	memcpy(s->msg.data, lab->health_cert.data, lab->health_cert.len);
	s->msg.len = lab->health_cert.len;
	rc = 0;
out:
	if (rc < 0)
		hl_error_wrap("cannot prepare the crypto floor's material");
	hgs_node_close(node);
	hosts_tpm_quote_release(&quote);
	hl_buf_free(&pem);
	hl_buf_free(&csig);
	return rc;
}

/* ---- one run ---- */

/* Free what result ARG owns besides its bench_result. */
static void result_release(void *arg)
{
	struct attest_result *r = arg;

	for (int i = 0; i < FLOOR_N; i++) {
		hl_buf_free(&r->floor[i].msg);
		hl_buf_free(&r->floor[i].sig);
	}
}

/* bench attest's lab and steps; a run's workers are its hosts. */
static const struct bench_lab_def attest_bench = {
	.kind = &attest_kind,
	.worker = "host",
	.doing = "attesting with real swtpm quotes",
	.hgs_name = BENCH_HGS_NAME,
	.none = "no attestation passed",
	.bad = "attestations did not pass",
	.lab_size = sizeof(struct bench_lab),
	.result_size = sizeof(struct attest_result),
	.setup = lab_setup,
	.load = run_load,
	.floor_prepare = floor_prepare,
	.teardown = lab_teardown,
	.release = result_release,
};

/* `hgslab bench attest`. */
int cmd_bench_attest(struct hl_cmd_ctx *ctx)
{
	long hosts = hl_opts_int(&ctx->opts, "hosts", BENCH_HOSTS_DEFAULT);
	long seconds = hl_opts_int(&ctx->opts, "seconds", BENCH_SECONDS_DEFAULT);
	long nodes = hl_opts_int(&ctx->opts, "nodes", 1);
	int json = hl_opts_flag(&ctx->opts, "json");
	int rc;

	if (hosts < 1 || hosts > BENCH_HOSTS_MAX)
		return hl_cmd_fail(HL_EXIT_USAGE, "--hosts must be 1 to %d, not %ld",
				   BENCH_HOSTS_MAX, hosts);
	if (seconds < 1 || seconds > BENCH_SECONDS_MAX)
		return hl_cmd_fail(HL_EXIT_USAGE, "--seconds must be 1 to %d, not %ld",
				   BENCH_SECONDS_MAX, seconds);
	if (nodes < 1 || nodes > BENCH_NODES_MAX)
		return hl_cmd_fail(HL_EXIT_USAGE, "--nodes must be 1 to %d, not %ld",
				   BENCH_NODES_MAX, nodes);
	if (bench_signals_install() < 0)
		return hl_cmd_fail(HL_EXIT_FAILURE, "%s", hl_error_last());
	if (nodes > 1)
		rc = bench_lab_run_cluster(&attest_bench, hosts, nodes, seconds,
					   hl_opts_str(&ctx->opts, "workdir", NULL),
					   hl_opts_flag(&ctx->opts, "keep"), json);
	else
		rc = bench_lab_run(&attest_bench, hosts, 1, seconds,
				   hl_opts_str(&ctx->opts, "workdir", NULL),
				   hl_opts_flag(&ctx->opts, "keep"), json, NULL);
	bench_signals_restore();
	if (rc < 0)
		return hl_cmd_fail(hl_cmd_exit_code(bench_interrupt_signal()), "bench attest: %s", hl_error_last());
	return HL_EXIT_OK;
}

/* `hgslab bench all`: every built benchmark with the defaults `make bench` uses. */
int cmd_bench_all(struct hl_cmd_ctx *ctx)
{
	static const struct {
		const char *name;
		int (*run)(const char *workdir, int keep, int json, struct json_t *collect);
	} vm_benches[] = {
		{ "boot", cmd_bench_boot_default },
		{ "provision", cmd_bench_provision_default },
	};
	int json = hl_opts_flag(&ctx->opts, "json"), failed = 0, code = HL_EXIT_OK;
	json_t *all = json ? json_array() : NULL, *o;
	char first[HL_ERROR_MAX] = "";

	if (json && !all)
		return hl_cmd_fail(HL_EXIT_FAILURE, "out of memory");
	if (bench_signals_install() < 0) {
		json_decref(all);
		return hl_cmd_fail(HL_EXIT_FAILURE, "%s", hl_error_last());
	}
	if (bench_lab_run(&attest_bench, BENCH_HOSTS_DEFAULT, 1, BENCH_SECONDS_DEFAULT,
			  hl_opts_str(&ctx->opts, "workdir", NULL), hl_opts_flag(&ctx->opts, "keep"),
			  json, all) < 0) {
		failed++;
		snprintf(first, sizeof(first), "attest: %s", hl_error_last());
	}
	bench_signals_restore();
	if (!bench_interrupt_signal()) {
		int signo = 0;

		if (!json)
			printf("\n");
		if (cmd_bench_release_default(hl_opts_str(&ctx->opts, "workdir", NULL),
					      hl_opts_flag(&ctx->opts, "keep"), json, all,
					      &signo) < 0) {
			failed++;
			if (!first[0])
				snprintf(first, sizeof(first), "release: %s", hl_error_last());
		}
	}
	/* the VM boot benchmarks: the boot of a shielded VM, then provisioning from a template */
	for (size_t i = 0; i < sizeof(vm_benches) / sizeof(vm_benches[0]); i++) {
		if (bench_interrupt_signal())
			break;
		if (!json)
			printf("\n");
		if (vm_benches[i].run(hl_opts_str(&ctx->opts, "workdir", NULL),
				      hl_opts_flag(&ctx->opts, "keep"), json, all) < 0) {
			failed++;
			if (!first[0])
				snprintf(first, sizeof(first), "%s: %s", vm_benches[i].name,
					 hl_error_last());
		}
	}
	if (json) {
		o = json_pack("{s:o, s:i}", "Benchmarks", all, "Failed", failed);
		if (o)
			hl_bench_print_json(o);
		json_decref(o);
	} else {
		printf("\nhgslab bench all: 4 benchmarks run, %d failed to run "
		       "(a missed goal is reported above, not a failure)\n", failed);
	}
	if (failed) {
		code = hl_cmd_exit_code(bench_interrupt_signal());
		hl_cmd_fail(code, "bench all: %d benchmark%s failed to run; %s", failed,
			    failed == 1 ? "" : "s", first);
	}
	return code;
}
