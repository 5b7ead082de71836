/*
 * cmd_bench_release.c - `hgslab bench release`: key releases per second
 * and the Key Protection Service's CPU per release against the crypto floor.
 *
 * The lab, in a temporary directory: a guarded host made by host_create
 * (its TPM a swtpm manufactured with the lab's vendor CA, on a loopback
 * address of its own), an HGS node in TPM mode with that host, its
 * baseline TCG log and CI policy registered, served by a separate `hgslab
 * hgs serve` child (this binary, /proc/self/exe, through lib/child) so its
 * CPU time can be read alone from /proc/PID/stat; an owner guardian
 * (tenant/guardian) and a key protector for Owner + the node's guardian
 * (lib/keyprotector).  The host attests once (hosts/agent: real quote, real
 * health certificate) and one release is opened with the host's TPM and
 * compared with the owner's TK, so the window measures releases that work.
 *
 * Load: N client threads post the same KP with the host's health
 * certificate in a loop for S seconds (hosts_kps_request: one HTTP
 * connection per release, as a host makes it); only the round trip is
 * timed, not the host's TPM decryption.  Then the crypto floor is measured
 * in the same run, one thread, on the same material: the OpenSSL work KPS
 * cannot avoid per release - verify the health certificate's signature
 * (the attestation signer's key), verify the owner's RSA-PSS signature over
 * the KP body, RSA-OAEP unwrap of the TK with the KPS encryption key, and
 * RSA-OAEP wrap of it to the transport key the certificate binds.  The
 * report gives releases/s, latency p50/p99, KPS CPU per release, the floor
 * and their ratio against the goal (2x, issue #4).
 *
 * Everything started is stopped and the directory removed (unless --keep),
 * also on Ctrl-C: the first SIGINT/SIGTERM/SIGHUP sets a flag each step and
 * each client thread checks; a second one stops the children at once.
 */
#include <signal.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

#include "hgs/db.h"
#include "hgs/kps.h"
#include "hgs/node.h"
#include "hosts/agent.h"
#include "hosts/host.h"
#include "hosts/kps_client.h"
#include "hosts/manufacture.h"
#include "hosts/measured_boot.h"
#include "hosts/tpm_host.h"
#include "lib/child.h"
#include "lib/clock.h"
#include "lib/crypto.h"
#include "lib/fileio.h"
#include "proto/keyprotector.h"
#include "sim/bench.h"
#include "cmd/commands.h"
#include "tenant/guardian.h"

#define REL_CLIENTS_DEFAULT 2
#define REL_CLIENTS_MAX 32
#define REL_SECONDS_DEFAULT 10
#define REL_SECONDS_MAX 3600
/* The goal of issue #4: KPS CPU per release within 2x of the crypto floor. */
#define REL_GOAL_RATIO 2.0
#define REL_HGS_NAME "MyHgsService"
#define REL_HGS_DOMAIN "relecloud.com"
#define REL_HOST_NAME "BenchHost1"
#define REL_READY_MS 30000
#define REL_STOP_MS 5000
#define REL_HTTP_TIMEOUT_MS 30000
#define REL_PATH_MAX 512
/* The lab directory's path leaves room for what goes inside it. */
#define REL_DIR_MAX 300

#define OPT_END { NULL, 0, 0, NULL, NULL, 0 }

const struct hl_opt cmd_bench_release_opts[] = {
	{ "clients", 'n', HL_OPT_INT, "N", "client threads releasing at once, 1-32 (default 2)", 0 },
	{ "seconds", 's', HL_OPT_INT, "S", "length of the measured window, 1-3600 (default 10)", 0 },
	{ "workdir", 0, HL_OPT_STRING, "DIR",
	  "make the lab's temporary directory inside DIR (default $TMPDIR or /tmp)", 0 },
	{ "keep", 0, HL_OPT_FLAG, NULL,
	  "keep the lab directory (host, HGS node, tenant, logs) and print where it is", 0 },
	{ "json", 0, HL_OPT_FLAG, NULL, "print the results as JSON (progress stays on stderr)", 0 },
	OPT_END,
};

/* The floor operations: the RSA work KPS must do per release. */
enum { FLOOR_VERIFY_HC, FLOOR_VERIFY_KP, FLOOR_UNWRAP, FLOOR_WRAP, FLOOR_N };
_Static_assert(FLOOR_N <= BENCH_FLOOR_OPS_MAX, "too many floor operations");

/*
 * One floor operation on the lab's material (the timing is in the result's
 * bench_floor); the keys and bytes are borrowed from the floor's material.
 */
struct floor_op {
	int (*fn)(struct floor_op *op);
	EVP_PKEY *key;
	enum hl_sig_scheme scheme;
	const void *msg;
	size_t msg_len;
	const void *sig;
	size_t sig_len;
};

/* The floor's material, owned. */
struct floor_material {
	EVP_PKEY *signer_pub, *owner_pub, *kps_key, *transport_pub;
	struct hl_buf tbs, hc_sig;    /* the health certificate's signed part and signature */
	struct hl_kp *kp;
	const struct hl_kp_entry *entry;  /* the KPS entry of kp */
	struct hl_buf tk;             /* secret: cleansed by hl_buf_free */
};

/* What one run measured: b.workers is the number of client threads. */
struct release_result {
	struct bench_result b;        /* first: bench_lab_run() reads it */
	struct floor_op floor[FLOOR_N];
	struct floor_material fm;
};
_Static_assert(offsetof(struct release_result, b) == 0, "bench_result first");

/* bench release in the report; a release is the load's "ok". */
static const struct bench_kind release_kind = {
	.benchmark = "release",
	.workers_key = "Clients",
	.done_label = "releases",
	.rate_label = "releases/s",
	.lat_digits = 2,
	.cpu_label = "KPS CPU per release",
	.floor_label = "crypto floor per release",
	.ratio_label = "KPS CPU / crypto floor",
	.tally_key = "Releases",
	.ok_key = "Released",
	.rate_key = "ReleasesPerSecond",
	.cpu_key = "KpsCpuMillisecondsPerRelease",
	.floor_key = "MillisecondsPerRelease",
	.how_key = "Operation",
	.goal_ratio = REL_GOAL_RATIO,
};

/* The throw-away lab; dir is "" until it exists. */
struct release_lab {
	char dir[REL_PATH_MAX];
	char host_dir[REL_PATH_MAX];
	char node_dir[REL_PATH_MAX];
	char tenant_dir[REL_PATH_MAX];
	char serve_out[REL_PATH_MAX];         /* stdout/stderr of `hgs serve` */
	char node_addr[20], host_addr[20];
	char url[128], kp_url[160], resolve[160];
	const char *resolve_list[2];
	struct hosts_kps_conn conn;
	struct host *h;
	struct host_tpm *t;
	struct hl_child *hgs;
	struct hl_buf kp;                     /* the KP file's bytes */
	struct hl_buf tk;                     /* the owner's TK: secret, for the check */
	struct hl_buf health_cert;            /* the host's health certificate, DER */
	struct bench_worker *clients;         /* the client threads */
	size_t n_clients;
};

/* ---- the lab ---- */

/* Make the lab's directory inside WORKDIR (or $TMPDIR, /tmp) and its addresses. */
static int lab_mkdir(struct release_lab *lab, const char *workdir)
{
	char net[16];

	if (bench_lab_mkdtemp(lab->dir, sizeof(lab->dir), workdir, "hgslab-bench-release",
			      REL_DIR_MAX, "the lab") < 0 ||
	    bench_path_fmt(lab->host_dir, sizeof(lab->host_dir), "%s/%s", lab->dir, REL_HOST_NAME) < 0 ||
	    bench_path_fmt(lab->node_dir, sizeof(lab->node_dir), "%s/hgs", lab->dir) < 0 ||
	    bench_path_fmt(lab->tenant_dir, sizeof(lab->tenant_dir), "%s/tenant", lab->dir) < 0 ||
	    bench_path_fmt(lab->serve_out, sizeof(lab->serve_out), "%s/hgs-serve.out", lab->dir) < 0)
		return -1;
	/*
	 * Loopback addresses of the lab's own: not 127.0.0.1, whose ports the
	 * clients' connections (TIME_WAIT) crowd.
	 */
	snprintf(net, sizeof(net), "127.%d.%d", (int)(getpid() % 200) + 30,
		 (int)(time(NULL) % 250) + 1);
	snprintf(lab->node_addr, sizeof(lab->node_addr), "%s.1", net);
	snprintf(lab->host_addr, sizeof(lab->host_addr), "%s.2", net);
	return 0;
}

/* Register the lab's host with NODE: its EK, baseline TCG log and CI policy. */
static int host_register(struct release_lab *lab, struct hgs_node *node)
{
	struct hosts_ek *ek = NULL;
	struct hl_measured_boot *mb = NULL;
	struct hl_tpm *tpm;
	char *ci = NULL;
	size_t ci_len = 0;
	int rc = -1;

	if (!(tpm = host_tpm_connect(lab->t)) || hosts_tpm_read_ek(tpm, &ek) < 0)
		goto out;
	host_tpm_disconnect(lab->t);
	if (bench_hgs_add_tpm_host(node, lab->h->name, ek) < 0 ||
	    hl_measured_boot_build(&lab->h->profile, &mb) < 0 ||
	    hgs_db_tpm_policy_add(node, "Baseline", mb->log, mb->log_len) < 0 ||
	    host_ci_policy(lab->h, &ci, &ci_len) < 0 ||
	    hgs_db_ci_policy_add(node, lab->h->profile.ci_policy, ci, ci_len) < 0)
		goto out;
	rc = 0;
out:
	if (rc < 0)
		hl_error_wrap("cannot register host '%s' with HGS", REL_HOST_NAME);
	free(ci);
	hl_measured_boot_free(mb);
	hosts_ek_free(ek);
	return rc;
}

/* The host with its TPM running and the boot replayed; the HGS node with it registered. */
static int lab_make(struct release_lab *lab)
{
	struct host_new_params hp = { 0 };
	struct hgs_node *node = NULL;
	char listen[32];
	int rc = -1;

	hl_bench_progress("manufacturing the TPM of %s (about 1 s), booting it on %s",
			  REL_HOST_NAME, lab->host_addr);
	hp.dir = lab->host_dir;
	hp.name = REL_HOST_NAME;
	hp.domain = "fabrikam.com";
	hp.listen = lab->host_addr;
	if (host_create(&hp) < 0 || host_open(lab->host_dir, &lab->h) < 0 ||
	    bench_check_interrupted() < 0 || host_tpm_open(lab->h, 1, 0, &lab->t) < 0)
		goto out;
	hl_bench_progress("creating HGS %s (TPM mode) and registering %s", REL_HGS_NAME,
			  REL_HOST_NAME);
	snprintf(listen, sizeof(listen), "%s:0", lab->node_addr);
	if (bench_hgs_node_create(lab->node_dir, REL_HGS_NAME, REL_HGS_DOMAIN, listen,
				  lab->h->vendor_dir, &node) < 0 ||
	    host_register(lab, node) < 0)
		goto out;
	rc = 0;
out:
	hgs_node_close(node);
	return rc;
}

/* Start `hgslab hgs serve` on the node as a child and learn its URL. */
static int hgs_start(struct release_lab *lab)
{
	char served[128];
	const char *port;

	if (bench_hgs_serve_start(lab->node_dir, lab->serve_out, REL_READY_MS, &lab->hgs, served,
				  sizeof(served)) < 0)
		return -1;
	port = strrchr(served, ':');
	if (!port || strlen(port) < 2 || strlen(port) > 6) {
		hl_error("'hgs serve' printed no usable readiness line; see '%s'", lab->serve_out);
		return hl_error_wrap("cannot start 'hgslab hgs serve'");
	}
	/* the lab's names, as a host is configured: hgs.relecloud.com through the resolve list */
	snprintf(lab->url, sizeof(lab->url), "http://hgs.relecloud.com:%s", port + 1);
	snprintf(lab->kp_url, sizeof(lab->kp_url), "%s/KeyProtection", lab->url);
	snprintf(lab->resolve, sizeof(lab->resolve), "hgs.relecloud.com:%s:%s", port + 1,
		 lab->node_addr);
	lab->resolve_list[0] = lab->resolve;
	lab->resolve_list[1] = NULL;
	lab->conn.url = lab->kp_url;
	lab->conn.resolve = lab->resolve_list;
	lab->conn.timeout_ms = REL_HTTP_TIMEOUT_MS;
	hl_bench_progress("HGS serving on %s as %s (hgs serve, pid %ld)", lab->node_addr, lab->url,
			  (long)hl_child_pid(lab->hgs));
	return 0;
}

/* Configure the host for the node and attest once: its health certificate into LAB. */
static int host_attest(struct release_lab *lab)
{
	struct host_client_config c = { 0 };
	struct host_attester *a = NULL;
	struct host_state st = { 0 };
	char att[200];
	char *resolve[] = { lab->resolve, NULL };
	int rc = -1;

	hl_bench_progress("%s attests once (real quote, credential activation)", REL_HOST_NAME);
	snprintf(att, sizeof(att), "%s/Attestation", lab->url);
	c.attestation_url = att;
	c.key_protection_url = lab->kp_url;
	c.resolve = resolve;
	c.n_resolve = 1;
	if (host_client_config_save(lab->h, &c) < 0 || host_attester_new(lab->h, lab->t, &a) < 0 ||
	    host_state_load(lab->h, &st) < 0 || host_attempt(a, "bench", &st) < 0)
		goto out;
	if (strcmp(st.status, HOST_STATUS_PASSED) != 0 || !st.health_cert.len) {
		hl_error("the attestation of '%s' was not Passed: %s%s%s", REL_HOST_NAME,
			 st.status, st.reason[0] ? ": " : "", st.reason);
		goto out;
	}
	lab->health_cert = st.health_cert;
	st.health_cert.data = NULL;
	st.health_cert.len = 0;
	rc = 0;
out:
	host_attester_free(a);
	host_state_release(&st);
	return rc;
}

/* The owner guardian and the KP for Owner + the node's guardian; the TK kept for the check. */
static int tenant_make(struct release_lab *lab)
{
	struct hl_guardian *owner = NULL;
	struct hgs_node *node = NULL;
	struct hl_kp_owner o;
	struct hl_kp_guardian g = { REL_HGS_NAME, NULL, NULL };
	int rc = -1;

	hl_bench_progress("tenant: guardian Owner and a key protector for Owner + %s",
			  REL_HGS_NAME);
	if (hl_guardian_new(lab->tenant_dir, "Owner") < 0 ||
	    hl_guardian_load(lab->tenant_dir, "Owner", HL_GUARDIAN_LOAD_KEYS, &owner) < 0 ||
	    hgs_node_open(lab->node_dir, 0, &node) < 0 ||
	    hgs_node_keypair(node, HGS_KEY_KPS_SIGNING, &g.signing_cert, NULL) < 0 ||
	    hgs_node_keypair(node, HGS_KEY_KPS_ENCRYPTION, &g.encryption_cert, NULL) < 0)
		goto out;
	hl_guardian_as_owner(owner, &o);
	if (hl_kp_create(&o, &g, 1, 0, &lab->kp, &lab->tk) < 0)
		goto out;
	rc = 0;
out:
	hl_cert_free(g.signing_cert);
	hl_cert_free(g.encryption_cert);
	hgs_node_close(node);
	hl_guardian_free(owner);
	return rc;
}

/* One release, opened with the host's TPM: it must be the owner's TK. */
static int release_check(struct release_lab *lab)
{
	struct hosts_kps_release r;
	struct hosts_tpm_key key = { 0 };
	struct hl_buf tk = { 0 };
	struct hl_tpm *tpm;
	char *path = NULL;
	int rc = -1;

	hl_bench_progress("one release opened with %s's TPM and compared with the owner's TK "
			  "(not counted)", REL_HOST_NAME);
	if (hosts_kps_request(&lab->conn, lab->kp.data, lab->kp.len, lab->health_cert.data,
			      lab->health_cert.len, &r) < 0)
		return -1;
	if (!r.released) {
		hl_error("KPS refused the release: %s: %s", r.reason, r.message);
		goto out;
	}
	if (host_path(lab->h, HOST_TK_FILE, &path) < 0 || hosts_tpm_key_load(path, &key) < 0 ||
	    !(tpm = host_tpm_connect(lab->t)) || hosts_kps_open(tpm, &key, &r, &tk) < 0)
		goto out;
	if (tk.len != lab->tk.len || !hl_crypto_ct_equal(tk.data, lab->tk.data, tk.len)) {
		hl_error("the TK KPS released is not the owner's");
		goto out;
	}
	rc = 0;
out:
	host_tpm_disconnect(lab->t);
	hl_buf_free(&tk);
	hosts_tpm_key_release(&key);
	hosts_kps_release_free(&r);
	free(path);
	return rc;
}

/*
 * Build lab ARG for CLIENTS client threads against one node (the `hgs
 * serve` pid into *HGS_PID) and check one release end to end.
 */
static int lab_setup(void *arg, long clients, long nodes, const char *workdir, pid_t *hgs_pid)
{
	struct release_lab *lab = arg;

	if (nodes != 1)
		return hl_error("bench release runs against one HGS node, not %ld", nodes);
	lab->n_clients = (size_t)clients;
	if (!(lab->clients = calloc(lab->n_clients, sizeof(*lab->clients))))
		return hl_error("out of memory");
	if (lab_mkdir(lab, workdir) < 0)
		return -1;
	hl_bench_progress("lab in '%s'", lab->dir);
	if (lab_make(lab) < 0 || bench_check_interrupted() < 0 || hgs_start(lab) < 0)
		return -1;
	*hgs_pid = hl_child_pid(lab->hgs);
	if (bench_check_interrupted() < 0 || host_attest(lab) < 0 || bench_check_interrupted() < 0 ||
	    tenant_make(lab) < 0 || bench_check_interrupted() < 0)
		return -1;
	return release_check(lab);
}

/* Stop everything lab ARG started and remove its directory unless KEEP (bench_run_end). */
static int lab_teardown(void *arg, int keep)
{
	struct release_lab *lab = arg;
	int rc = bench_hgs_serve_stop(&lab->hgs, REL_STOP_MS, lab->serve_out, lab->node_dir);

	host_tpm_close(lab->t);
	lab->t = NULL;
	host_close(lab->h);
	lab->h = NULL;
	bench_workers_free(lab->clients, lab->n_clients);
	lab->clients = NULL;
	hl_buf_free(&lab->kp);
	hl_buf_free(&lab->tk);
	hl_buf_free(&lab->health_cert);
	if (bench_lab_remove(lab->dir, keep,
			     "HGS node in hgs/, host in " REL_HOST_NAME "/, tenant in tenant/") < 0)
		rc = -1;
	return rc;
}

/* ---- the load ---- */

/* One release of the lab's KP (bench_request_fn): 1 released, 0 refused, -1 no decision. */
static int release_request(void *arg, char *why, size_t size)
{
	struct release_lab *lab = arg;
	struct hosts_kps_release r;
	int released;

	if (hosts_kps_request(&lab->conn, lab->kp.data, lab->kp.len, lab->health_cert.data,
			      lab->health_cert.len, &r) < 0)
		return -1;   /* no decision: KPS is broken */
	released = r.released;
	if (!released && why)
		snprintf(why, size, "KPS refused: %s: %s", r.reason, r.message);
	hosts_kps_release_free(&r);
	return released ? 1 : 0;
}

/* The measured window of lab ARG: N client threads for SECONDS; tallies and KPS CPU into OUT. */
static int run_load(void *arg, long seconds, struct bench_load *out)
{
	struct release_lab *lab = arg;
	pid_t pid = hl_child_pid(lab->hgs);

	hl_bench_progress("measuring: %zu client%s releasing for %ld s", lab->n_clients,
			  lab->n_clients == 1 ? "" : "s", seconds);
	for (size_t i = 0; i < lab->n_clients; i++) {
		struct bench_worker *w = &lab->clients[i];

		snprintf(w->label, sizeof(w->label), "client thread %zu", i + 1);
		w->fn = release_request;
		w->arg = lab;
	}
	return bench_load_run(lab->clients, lab->n_clients, &pid, 1, seconds, out);
}

/* ---- the crypto floor ---- */

/* Verify op's signature over its message. */
static int op_verify(struct floor_op *op)
{
	return hl_crypto_verify(op->key, op->scheme, op->msg, op->msg_len, op->sig, op->sig_len);
}

/* RSA-OAEP unwrap of the KP entry's TK with the KPS encryption key. */
static int op_unwrap(struct floor_op *op)
{
	struct hl_buf tk = { 0 };

	if (hl_crypto_oaep_unwrap(op->key, HL_KP_OAEP_LABEL, HL_KP_OAEP_LABEL_LEN, op->msg,
				  op->msg_len, &tk) < 0)
		return -1;
	hl_buf_free(&tk);
	return 0;
}

/* RSA-OAEP wrap of the TK to the transport key. */
static int op_wrap(struct floor_op *op)
{
	struct hl_buf out = { 0 };

	if (hl_crypto_oaep_wrap(op->key, HGS_KPS_TK_LABEL, HGS_KPS_TK_LABEL_LEN, op->msg,
				op->msg_len, &out) < 0)
		return -1;
	hl_buf_free(&out);
	return 0;
}

/* hl_bench_time_op's calling convention. */
static int floor_call(void *arg)
{
	struct floor_op *op = arg;

	return op->fn(op);
}

/* "rsa-2048" and the like of KEY into BUF. */
static void key_text(const EVP_PKEY *key, char *buf, size_t size)
{
	enum hl_key_type kt;

	if (hl_key_type_of(key, &kt) < 0) {
		hl_error_clear();
		snprintf(buf, size, "?");
		return;
	}
	snprintf(buf, size, "%s", hl_key_type_name(kt));
}

/* The health certificate's signed part, signature and scheme, for the first floor op. */
static int hc_signature(const struct release_lab *lab, struct floor_material *m,
			enum hl_sig_scheme *scheme)
{
	const ASN1_BIT_STRING *sig = NULL;
	unsigned char *tbs = NULL;
	X509 *cert = NULL;
	int len, nid, rc = -1;

	if (hl_cert_from_der(lab->health_cert.data, lab->health_cert.len, &cert) < 0 ||
	    hl_cert_pubkey(cert, &m->transport_pub) < 0)
		goto out;
	X509_get0_signature(&sig, NULL, cert);
	nid = X509_get_signature_nid(cert);
	len = i2d_re_X509_tbs(cert, &tbs);
	if (!sig || len <= 0) {
		hl_error("cannot read the health certificate's signature");
		goto out;
	}
	*scheme = nid == NID_sha256WithRSAEncryption ? HL_SIG_RSA_PKCS1 :
		  nid == NID_rsassaPss ? HL_SIG_RSA_PSS : HL_SIG_ECDSA;
	if (!(m->tbs.data = malloc((size_t)len)) || !(m->hc_sig.data = malloc((size_t)sig->length))) {
		hl_error("out of memory");
		goto out;
	}
	memcpy(m->tbs.data, tbs, (size_t)len);
	m->tbs.len = (size_t)len;
	memcpy(m->hc_sig.data, sig->data, (size_t)sig->length);
	m->hc_sig.len = (size_t)sig->length;
	rc = 0;
out:
	OPENSSL_free(tbs);
	hl_cert_free(cert);
	return rc;
}

/* Free the floor's material. */
static void floor_material_release(struct floor_material *m)
{
	hl_key_free(m->signer_pub);
	hl_key_free(m->owner_pub);
	hl_key_free(m->kps_key);
	hl_key_free(m->transport_pub);
	hl_buf_free(&m->tbs);
	hl_buf_free(&m->hc_sig);
	hl_kp_free(m->kp);
	hl_buf_free(&m->tk);
	memset(m, 0, sizeof(*m));
}

/*
 * The floor's material, the very bytes KPS handles: the host's health
 * certificate (signed part, signature, the transport key it binds), the KP
 * (its body, the owner's signature, the entry wrapped to the KPS key), the
 * node's attestation signer and KPS encryption key, and the TK.
 */
static int floor_prepare(void *arg, void *result)
{
	struct release_lab *lab = arg;
	struct release_result *r = result;
	struct floor_material *m = &r->fm;
	struct floor_op *hc = &r->floor[FLOOR_VERIFY_HC], *kv = &r->floor[FLOOR_VERIFY_KP],
			*uw = &r->floor[FLOOR_UNWRAP], *wr = &r->floor[FLOOR_WRAP];
	struct bench_floor_op *fhc = &r->b.floor.op[FLOOR_VERIFY_HC],
			      *fkv = &r->b.floor.op[FLOOR_VERIFY_KP],
			      *fuw = &r->b.floor.op[FLOOR_UNWRAP], *fwr = &r->b.floor.op[FLOOR_WRAP];
	struct hgs_node *node = NULL;
	X509 *enc_cert = NULL;
	char thumb[HL_SHA256_HEX_SIZE];
	int rc = -1;

	if (hc_signature(lab, m, &hc->scheme) < 0 ||
	    hgs_node_open(lab->node_dir, HGS_NODE_OPEN_KEYS, &node) < 0 ||
	    hl_cert_pubkey(node->signer_cert, &m->signer_pub) < 0 ||
	    hgs_node_keypair(node, HGS_KEY_KPS_ENCRYPTION, &enc_cert, &m->kps_key) < 0 ||
	    hl_cert_thumbprint(enc_cert, thumb) < 0 ||
	    hl_kp_parse(lab->kp.data, lab->kp.len, &m->kp) < 0 ||
	    hl_kp_find(m->kp, thumb, &m->entry) < 0 ||
	    hl_cert_pubkey(m->kp->owner_signing_cert, &m->owner_pub) < 0)
		goto out;
	if (!(m->tk.data = malloc(lab->tk.len))) {
		hl_error("out of memory");
		goto out;
	}
	memcpy(m->tk.data, lab->tk.data, lab->tk.len);
	m->tk.len = lab->tk.len;

	fhc->name = "verify_health_certificate";
	fhc->what = "verify health certificate";
	hc->fn = op_verify;
	hc->key = m->signer_pub;
	hc->msg = m->tbs.data;
	hc->msg_len = m->tbs.len;
	hc->sig = m->hc_sig.data;
	hc->sig_len = m->hc_sig.len;
	fkv->name = "verify_key_protector";
	fkv->what = "verify KP owner signature";
	kv->fn = op_verify;
	kv->key = m->owner_pub;
	kv->scheme = HL_SIG_RSA_PSS;
	kv->msg = m->kp->body.data;
	kv->msg_len = m->kp->body.len;
	kv->sig = m->kp->signature.data;
	kv->sig_len = m->kp->signature.len;
	fuw->name = "unwrap_tk";
	fuw->what = "unwrap TK with the KPS key";
	uw->fn = op_unwrap;
	uw->key = m->kps_key;
	uw->msg = m->entry->wrapped_tk.data;
	uw->msg_len = m->entry->wrapped_tk.len;
	fwr->name = "wrap_tk";
	fwr->what = "wrap TK to the transport key";
	wr->fn = op_wrap;
	wr->key = m->transport_pub;
	wr->msg = m->tk.data;
	wr->msg_len = m->tk.len;
	r->b.floor.n = FLOOR_N;
	for (int i = 0; i < FLOOR_N; i++) {
		key_text(r->floor[i].key, r->b.floor.op[i].key, sizeof(r->b.floor.op[i].key));
		r->b.floor.op[i].fn = floor_call;
		r->b.floor.op[i].arg = &r->floor[i];
	}
	fhc->how = hc->scheme == HL_SIG_RSA_PKCS1 ? "RSASSA-PKCS1-v1_5 verify" :
		  hc->scheme == HL_SIG_RSA_PSS ? "RSASSA-PSS verify" : "ECDSA verify";
	fkv->how = "RSASSA-PSS verify";
	fuw->how = "RSA-OAEP private decrypt";
	fwr->how = "RSA-OAEP public encrypt";
	rc = 0;
out:
	if (rc < 0)
		hl_error_wrap("cannot prepare the crypto floor's material");
	hl_cert_free(enc_cert);
	hgs_node_close(node);
	return rc;
}

/* ---- one run ---- */

/* Free what result ARG owns besides its bench_result. */
static void result_release(void *arg)
{
	struct release_result *r = arg;

	floor_material_release(&r->fm);
}

/* bench release's lab and steps; a run's workers are its client threads. */
static const struct bench_lab_def release_bench = {
	.kind = &release_kind,
	.worker = "client",
	.doing = "releasing one key protector with a real health certificate",
	.hgs_name = REL_HGS_NAME,
	.none = "no release",
	.bad = "requests were not released",
	.lab_size = sizeof(struct release_lab),
	.result_size = sizeof(struct release_result),
	.setup = lab_setup,
	.load = run_load,
	.floor_prepare = floor_prepare,
	.teardown = lab_teardown,
	.release = result_release,
};

/* `hgslab bench release`. */
int cmd_bench_release(struct hl_cmd_ctx *ctx)
{
	long clients = hl_opts_int(&ctx->opts, "clients", REL_CLIENTS_DEFAULT);
	long seconds = hl_opts_int(&ctx->opts, "seconds", REL_SECONDS_DEFAULT);
	int rc;

	if (clients < 1 || clients > REL_CLIENTS_MAX)
		return hl_cmd_fail(HL_EXIT_USAGE, "--clients must be 1 to %d, not %ld",
				   REL_CLIENTS_MAX, clients);
	if (seconds < 1 || seconds > REL_SECONDS_MAX)
		return hl_cmd_fail(HL_EXIT_USAGE, "--seconds must be 1 to %d, not %ld",
				   REL_SECONDS_MAX, seconds);
	if (bench_signals_install() < 0)
		return hl_cmd_fail(HL_EXIT_FAILURE, "%s", hl_error_last());
	rc = bench_lab_run(&release_bench, clients, 1, seconds, hl_opts_str(&ctx->opts, "workdir", NULL),
			   hl_opts_flag(&ctx->opts, "keep"), hl_opts_flag(&ctx->opts, "json"), NULL);
	bench_signals_restore();
	if (rc < 0)
		return hl_cmd_fail(hl_cmd_exit_code(bench_interrupt_signal()), "bench release: %s", hl_error_last());
	return HL_EXIT_OK;
}

int cmd_bench_release_default(const char *workdir, int keep, int json, struct json_t *collect,
			      int *signo)
{
	int rc;

	*signo = 0;
	if (bench_signals_install() < 0)
		return -1;
	rc = bench_lab_run(&release_bench, REL_CLIENTS_DEFAULT, 1, REL_SECONDS_DEFAULT, workdir, keep,
			   json, collect);
	bench_signals_restore();
	*signo = (int)bench_interrupt_signal();
	return rc;
}
