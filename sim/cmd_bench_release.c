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
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
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
#include "lib/crypto.h"
#include "lib/fileio.h"
#include "lib/json.h"
#include "lib/keyprotector.h"
#include "sim/bench.h"
#include "sim/commands.h"
#include "tenant/guardian.h"

#define REL_CLIENTS_DEFAULT 2
#define REL_CLIENTS_MAX 32
#define REL_SECONDS_DEFAULT 10
#define REL_SECONDS_MAX 3600
/* The goal of issue #4: KPS CPU per release within 2x of the crypto floor. */
#define REL_GOAL_RATIO 2.0
/* CPU time each floor operation is timed for. */
#define REL_FLOOR_CPU_NS 1000000000ull
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

/* One floor operation on the lab's material; the keys and bytes are borrowed from the floor. */
struct floor_op {
	const char *name;             /* JSON name: "verify_health_certificate" */
	const char *what;             /* "verify health certificate" */
	const char *how;              /* "rsa-2048 RSASSA-PKCS1-v1_5" */
	int (*fn)(struct floor_op *op);
	EVP_PKEY *key;
	enum hl_sig_scheme scheme;
	const void *msg;
	size_t msg_len;
	const void *sig;
	size_t sig_len;
	struct hl_bench_op res;
};

/* The floor's material, owned. */
struct floor_material {
	EVP_PKEY *signer_pub, *owner_pub, *kps_key, *transport_pub;
	struct hl_buf tbs, hc_sig;    /* the health certificate's signed part and signature */
	struct hl_kp *kp;
	const struct hl_kp_entry *entry;  /* the KPS entry of kp */
	struct hl_buf tk;             /* secret: cleansed by hl_buf_free */
	char key_desc[FLOOR_N][48];
};

/* What one run measured; figures are valid once window_done / floor_done are set. */
struct release_result {
	long clients, seconds;
	long hgs_pid;
	double setup_s, window_s;
	unsigned long released, refused, errors;
	struct hl_bench_samples lat;          /* latencies of releases, ns */
	uint64_t hgs_cpu_ns;                  /* `hgs serve` CPU in the window */
	struct floor_op floor[FLOOR_N];
	struct floor_material fm;
	double floor_ms;
	int window_done, floor_done;
	char failure[HL_ERROR_MAX];           /* the first refusal or error, "" when none */
};

struct release_lab;

/* A client thread and its tallies. */
struct release_client {
	struct release_lab *lab;
	pthread_t thread;
	int started;
	struct hl_bench_samples lat;
	unsigned long released, refused, errors;
	char failure[HL_ERROR_MAX];
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
	struct release_client *clients;
	size_t n_clients;
	atomic_uint_fast64_t deadline_ns;
};

/* ---- the lab ---- */

/* Make the lab's directory inside WORKDIR (or $TMPDIR, /tmp) and its addresses. */
static int lab_mkdir(struct release_lab *lab, const char *workdir)
{
	const char *base = workdir ? workdir : getenv("TMPDIR");
	char *abs = NULL, net[16];
	int rc = -1;

	if (!base || !*base)
		base = "/tmp";
	if ((workdir && hl_file_mkdirs(workdir, 0700) < 0) || hl_file_abspath(base, &abs) < 0)
		goto out;
	if (strlen(abs) > REL_DIR_MAX) {
		hl_error("the work directory '%s' has too long a path for the lab; use a shorter "
			 "--workdir", abs);
		goto out;
	}
	snprintf(lab->dir, sizeof(lab->dir), "%s/hgslab-bench-release-XXXXXX", abs);
	if (!mkdtemp(lab->dir)) {
		hl_error_errno("cannot create the lab directory in '%s'", abs);
		lab->dir[0] = '\0';
		goto out;
	}
	if (bench_path_fmt(lab->host_dir, sizeof(lab->host_dir), "%s/%s", lab->dir, REL_HOST_NAME) < 0 ||
	    bench_path_fmt(lab->node_dir, sizeof(lab->node_dir), "%s/hgs", lab->dir) < 0 ||
	    bench_path_fmt(lab->tenant_dir, sizeof(lab->tenant_dir), "%s/tenant", lab->dir) < 0 ||
	    bench_path_fmt(lab->serve_out, sizeof(lab->serve_out), "%s/hgs-serve.out", lab->dir) < 0)
		goto out;
	/*
	 * Loopback addresses of the lab's own: not 127.0.0.1, whose ports the
	 * clients' connections (TIME_WAIT) crowd.
	 */
	snprintf(net, sizeof(net), "127.%d.%d", (int)(getpid() % 200) + 30,
		 (int)(time(NULL) % 250) + 1);
	snprintf(lab->node_addr, sizeof(lab->node_addr), "%s.1", net);
	snprintf(lab->host_addr, sizeof(lab->host_addr), "%s.2", net);
	rc = 0;
out:
	free(abs);
	return rc;
}

/* Register the lab's host with NODE: its EK, baseline TCG log and CI policy. */
static int host_register(struct release_lab *lab, struct hgs_node *node)
{
	struct hosts_ek *ek = NULL;
	struct hl_buf pub = { 0 }, cert = { 0 };
	struct hgs_platform_id *id = NULL;
	struct hl_measured_boot *mb = NULL;
	struct hl_tpm *tpm;
	char *text = NULL, *ci = NULL;
	size_t ci_len = 0;
	json_t *doc = NULL;
	int rc = -1;

	if (!(tpm = host_tpm_connect(lab->t)) || hosts_tpm_read_ek(tpm, &ek) < 0 ||
	    hosts_ek_pem(ek, &pub, &cert) < 0)
		goto out;
	host_tpm_disconnect(lab->t);
	doc = json_pack("{s:s, s:i, s:s, s:s, s:o}", "format", "hgslab-platform-identifier",
			"version", 1, "host", lab->h->name, "ek_public", (const char *)pub.data,
			"ek_certificate", cert.data ? json_string((const char *)cert.data) :
			json_null());
	if (!doc) {
		hl_error("out of memory");
		goto out;
	}
	if (hl_json_dump(doc, &text) < 0 || hgs_platform_id_parse(text, strlen(text), &id) < 0 ||
	    hgs_db_tpm_host_add(node, lab->h->name, id, 0) < 0 ||
	    hl_measured_boot_build(&lab->h->profile, &mb) < 0 ||
	    hgs_db_tpm_policy_add(node, "Baseline", mb->log, mb->log_len) < 0 ||
	    host_ci_policy(lab->h, &ci, &ci_len) < 0 ||
	    hgs_db_ci_policy_add(node, lab->h->profile.ci_policy, ci, ci_len) < 0)
		goto out;
	rc = 0;
out:
	if (rc < 0)
		hl_error_wrap("cannot register host '%s' with HGS", REL_HOST_NAME);
	json_decref(doc);
	free(text);
	free(ci);
	hl_measured_boot_free(mb);
	hgs_platform_id_free(id);
	hl_buf_free(&pub);
	hl_buf_free(&cert);
	hosts_ek_free(ek);
	return rc;
}

/* The host with its TPM running and the boot replayed; the HGS node with it registered. */
static int lab_make(struct release_lab *lab)
{
	struct host_new_params hp = { 0 };
	struct hgs_init_params ip = { 0 };
	struct hgs_node *node = NULL;
	char *ca_path = NULL, *ca_pem = NULL, listen[32];
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
	if (hosts_vendor_ca_cert_path(lab->h->vendor_dir, &ca_path) < 0 ||
	    hl_file_read(ca_path, HL_FILE_READ_MAX, &ca_pem, NULL) < 0)
		goto out;
	snprintf(listen, sizeof(listen), "%s:0", lab->node_addr);
	ip.dir = lab->node_dir;
	ip.name = REL_HGS_NAME;
	ip.domain = REL_HGS_DOMAIN;
	ip.trust = HGS_MODE_TPM;
	ip.listen = listen;
	ip.vendor_ca_pem = ca_pem;
	if (hgs_node_create(&ip) < 0 || hgs_node_open(lab->node_dir, 0, &node) < 0 ||
	    host_register(lab, node) < 0)
		goto out;
	rc = 0;
out:
	hgs_node_close(node);
	free(ca_path);
	free(ca_pem);
	return rc;
}

/* Start `hgslab hgs serve` on the node as a child and learn its URL. */
static int hgs_start(struct release_lab *lab)
{
	struct hl_child_opts o = { 0 };
	char exe[PATH_MAX], *out = NULL, *p, *end, *port;
	const char *argv[] = { exe, "hgs", "serve", "--dir", lab->node_dir, NULL };
	ssize_t n;
	int rc = -1;

	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0 || (size_t)n >= sizeof(exe) - 1)
		return hl_error_errno("cannot find the hgslab binary through /proc/self/exe");
	exe[n] = '\0';
	o.name = "hgs serve";
	o.log_path = lab->serve_out;
	if (hl_child_spawn(argv, &o, &lab->hgs) < 0 ||
	    hl_child_wait_log(lab->hgs, "hgs: serving ", REL_READY_MS) < 0 ||
	    hl_file_read(lab->serve_out, HL_FILE_READ_MAX, &out, NULL) < 0)
		goto out;
	p = strstr(out, "hgs: serving ");
	p = p ? strstr(p, " on http://") : NULL;
	end = p ? strchr(p, '\n') : NULL;
	port = p && end ? memrchr(p, ':', (size_t)(end - p)) : NULL;
	if (!port || end - port < 2 || end - port > 6) {
		hl_error("'hgs serve' printed no usable readiness line; see '%s'", lab->serve_out);
		goto out;
	}
	/* the lab's names, as a host is configured: hgs.relecloud.com through the resolve list */
	snprintf(lab->url, sizeof(lab->url), "http://hgs.relecloud.com:%.*s",
		 (int)(end - port - 1), port + 1);
	snprintf(lab->kp_url, sizeof(lab->kp_url), "%s/KeyProtection", lab->url);
	snprintf(lab->resolve, sizeof(lab->resolve), "hgs.relecloud.com:%.*s:%s",
		 (int)(end - port - 1), port + 1, lab->node_addr);
	lab->resolve_list[0] = lab->resolve;
	lab->resolve_list[1] = NULL;
	lab->conn.url = lab->kp_url;
	lab->conn.resolve = lab->resolve_list;
	lab->conn.timeout_ms = REL_HTTP_TIMEOUT_MS;
	hl_bench_progress("HGS serving on %s as %s (hgs serve, pid %ld)", lab->node_addr, lab->url,
			  (long)hl_child_pid(lab->hgs));
	rc = 0;
out:
	if (rc < 0)
		hl_error_wrap("cannot start 'hgslab hgs serve'");
	free(out);
	return rc;
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

/* Build the lab and check one release end to end. */
static int lab_setup(struct release_lab *lab, const char *workdir)
{
	if (lab_mkdir(lab, workdir) < 0)
		return -1;
	hl_bench_progress("lab in '%s'", lab->dir);
	if (lab_make(lab) < 0 || bench_check_interrupted() < 0 || hgs_start(lab) < 0 ||
	    bench_check_interrupted() < 0 || host_attest(lab) < 0 || bench_check_interrupted() < 0 ||
	    tenant_make(lab) < 0 || bench_check_interrupted() < 0)
		return -1;
	return release_check(lab);
}

/* Stop everything the lab started and remove its directory unless KEEP. */
static int lab_teardown(struct release_lab *lab, int keep)
{
	int rc = 0, status = -1;

	if (lab->hgs) {
		if (hl_child_stop(lab->hgs, REL_STOP_MS, &status) < 0) {
			rc = -1;
		} else if (status != 0) {
			rc = hl_error("'hgslab hgs serve' exited with status %d when stopped; see "
				      "'%s' and '%s/%s'", status, lab->serve_out, lab->node_dir,
				      HGS_LOG_FILE);
		}
		hl_child_free(lab->hgs);
		lab->hgs = NULL;
	}
	host_tpm_close(lab->t);
	lab->t = NULL;
	host_close(lab->h);
	lab->h = NULL;
	for (size_t i = 0; lab->clients && i < lab->n_clients; i++)
		hl_bench_samples_release(&lab->clients[i].lat);
	free(lab->clients);
	lab->clients = NULL;
	hl_buf_free(&lab->kp);
	hl_buf_free(&lab->tk);
	hl_buf_free(&lab->health_cert);
	if (lab->dir[0]) {
		if (keep) {
			hl_bench_progress("lab kept in '%s' (HGS node in hgs/, host in %s/, tenant "
					  "in tenant/)", lab->dir, REL_HOST_NAME);
		} else if (hl_file_rmtree(lab->dir) < 0) {
			rc = -1;
		}
		lab->dir[0] = '\0';
	}
	return rc;
}

/* ---- the load ---- */

/* A client thread: release until the deadline or an interruption. */
static void *client_main(void *arg)
{
	struct release_client *c = arg;
	struct release_lab *lab = c->lab;
	struct hosts_kps_release r;
	uint64_t t0, t1;
	int rc;

	while (!bench_interrupt_signal()) {
		t0 = hl_bench_now_ns();
		if (t0 >= atomic_load(&lab->deadline_ns))
			break;
		rc = hosts_kps_request(&lab->conn, lab->kp.data, lab->kp.len,
				       lab->health_cert.data, lab->health_cert.len, &r);
		t1 = hl_bench_now_ns();
		if (rc < 0) {
			c->errors++;
			snprintf(c->failure, sizeof(c->failure), "%s", hl_error_last());
			break;   /* no decision: KPS is broken, stop this client */
		}
		if (r.released) {
			c->released++;
			if (hl_bench_samples_add(&c->lat, t1 - t0) < 0) {
				c->errors++;
				snprintf(c->failure, sizeof(c->failure), "%s", hl_error_last());
				hosts_kps_release_free(&r);
				break;
			}
		} else {
			c->refused++;
			if (!c->failure[0])
				snprintf(c->failure, sizeof(c->failure), "KPS refused: %s: %s",
					 r.reason, r.message);
		}
		hosts_kps_release_free(&r);
	}
	return NULL;
}

/* The measured window: N client threads for SECONDS; tallies and KPS CPU into R. */
static int run_load(struct release_lab *lab, long seconds, struct release_result *r)
{
	pid_t pid = hl_child_pid(lab->hgs);
	uint64_t cpu0, cpu1, start, end;
	sigset_t block, old;
	int rc = 0, err;

	hl_bench_progress("measuring: %zu client%s releasing for %ld s", lab->n_clients,
			  lab->n_clients == 1 ? "" : "s", seconds);
	if (hl_bench_proc_cpu_ns(pid, &cpu0) < 0)
		return -1;
	/* the client threads leave the signals to the main thread */
	sigemptyset(&block);
	bench_signals_add(&block);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	start = hl_bench_now_ns();
	atomic_store(&lab->deadline_ns, start + (uint64_t)seconds * 1000000000u);
	for (size_t i = 0; i < lab->n_clients; i++) {
		lab->clients[i].lab = lab;
		err = pthread_create(&lab->clients[i].thread, NULL, client_main, &lab->clients[i]);
		if (err) {
			atomic_store(&lab->deadline_ns, 0);
			rc = hl_error("cannot start client thread %zu: %s", i + 1, strerror(err));
			break;
		}
		lab->clients[i].started = 1;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	for (size_t i = 0; i < lab->n_clients; i++) {
		if (lab->clients[i].started)
			pthread_join(lab->clients[i].thread, NULL);
		lab->clients[i].started = 0;
	}
	end = hl_bench_now_ns();
	if (rc < 0 || bench_check_interrupted() < 0 || hl_bench_proc_cpu_ns(pid, &cpu1) < 0)
		return -1;
	r->window_s = (double)(end - start) / 1e9;
	r->hgs_cpu_ns = cpu1 - cpu0;
	for (size_t i = 0; i < lab->n_clients; i++) {
		struct release_client *c = &lab->clients[i];

		r->released += c->released;
		r->refused += c->refused;
		r->errors += c->errors;
		if (!r->failure[0] && c->failure[0])
			snprintf(r->failure, sizeof(r->failure), "%s", c->failure);
		if (hl_bench_samples_merge(&r->lat, &c->lat) < 0)
			return -1;
	}
	r->window_done = 1;
	return 0;
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
static int floor_prepare(struct release_lab *lab, struct release_result *r)
{
	struct floor_material *m = &r->fm;
	struct floor_op *hc = &r->floor[FLOOR_VERIFY_HC], *kv = &r->floor[FLOOR_VERIFY_KP],
			*uw = &r->floor[FLOOR_UNWRAP], *wr = &r->floor[FLOOR_WRAP];
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

	hc->name = "verify_health_certificate";
	hc->what = "verify health certificate";
	hc->fn = op_verify;
	hc->key = m->signer_pub;
	hc->msg = m->tbs.data;
	hc->msg_len = m->tbs.len;
	hc->sig = m->hc_sig.data;
	hc->sig_len = m->hc_sig.len;
	kv->name = "verify_key_protector";
	kv->what = "verify KP owner signature";
	kv->fn = op_verify;
	kv->key = m->owner_pub;
	kv->scheme = HL_SIG_RSA_PSS;
	kv->msg = m->kp->body.data;
	kv->msg_len = m->kp->body.len;
	kv->sig = m->kp->signature.data;
	kv->sig_len = m->kp->signature.len;
	uw->name = "unwrap_tk";
	uw->what = "unwrap TK with the KPS key";
	uw->fn = op_unwrap;
	uw->key = m->kps_key;
	uw->msg = m->entry->wrapped_tk.data;
	uw->msg_len = m->entry->wrapped_tk.len;
	wr->name = "wrap_tk";
	wr->what = "wrap TK to the transport key";
	wr->fn = op_wrap;
	wr->key = m->transport_pub;
	wr->msg = m->tk.data;
	wr->msg_len = m->tk.len;
	for (int i = 0; i < FLOOR_N; i++)
		key_text(r->floor[i].key, m->key_desc[i], sizeof(m->key_desc[i]));
	hc->how = hc->scheme == HL_SIG_RSA_PKCS1 ? "RSASSA-PKCS1-v1_5 verify" :
		  hc->scheme == HL_SIG_RSA_PSS ? "RSASSA-PSS verify" : "ECDSA verify";
	kv->how = "RSASSA-PSS verify";
	uw->how = "RSA-OAEP private decrypt";
	wr->how = "RSA-OAEP public encrypt";
	rc = 0;
out:
	if (rc < 0)
		hl_error_wrap("cannot prepare the crypto floor's material");
	hl_cert_free(enc_cert);
	hgs_node_close(node);
	return rc;
}

/* Measure the floor: each operation timed for about a second of this thread's CPU. */
static int floor_measure(struct release_lab *lab, struct release_result *r)
{
	if (floor_prepare(lab, r) < 0)
		return -1;
	hl_bench_progress("measuring the crypto floor: OpenSSL, one thread, about 1 s per "
			  "operation");
	r->floor_ms = 0;
	for (int i = 0; i < FLOOR_N; i++) {
		struct floor_op *op = &r->floor[i];

		if (bench_check_interrupted() < 0)
			return -1;
		if (hl_bench_time_op(floor_call, op, REL_FLOOR_CPU_NS, &op->res) < 0)
			return hl_error_wrap("cannot %s for the crypto floor", op->what);
		r->floor_ms += op->res.cpu_ns_per_op / 1e6;
	}
	r->floor_done = 1;
	return 0;
}

/* ---- one run and its report ---- */

/* Free what R owns and zero it. */
static void result_release(struct release_result *r)
{
	hl_bench_samples_release(&r->lat);
	floor_material_release(&r->fm);
	memset(r, 0, sizeof(*r));
}

/*
 * Run bench release with CLIENTS threads for SECONDS into R: 0 when the
 * run measured what it should (every request released), -1 otherwise.
 */
static int release_run(long clients, long seconds, const char *workdir, int keep,
		       struct release_result *r)
{
	struct release_lab lab;
	char saved[HL_ERROR_MAX] = "";
	uint64_t t0 = hl_bench_now_ns();
	int rc = -1;

	memset(&lab, 0, sizeof(lab));
	memset(r, 0, sizeof(*r));
	r->clients = clients;
	r->seconds = seconds;
	lab.n_clients = (size_t)clients;
	if (!(lab.clients = calloc(lab.n_clients, sizeof(*lab.clients)))) {
		hl_error("out of memory");
		goto out;
	}
	if (lab_setup(&lab, workdir) < 0)
		goto out;
	r->setup_s = (double)(hl_bench_now_ns() - t0) / 1e9;
	r->hgs_pid = (long)hl_child_pid(lab.hgs);
	if (run_load(&lab, seconds, r) < 0)
		goto out;
	if (r->released == 0) {
		hl_error("no release in the %ld s window%s%s", seconds, r->failure[0] ? ": " : "",
			 r->failure);
		goto out;
	}
	if (r->refused || r->errors) {
		hl_error("%lu of %lu requests were not released (%lu refused, %lu without a "
			 "decision); first: %s", r->refused + r->errors,
			 r->released + r->refused + r->errors, r->refused, r->errors, r->failure);
		goto out;
	}
	if (floor_measure(&lab, r) < 0)
		goto out;
	rc = 0;
out:
	if (rc < 0)
		snprintf(saved, sizeof(saved), "%s", hl_error_last());
	if (lab_teardown(&lab, keep) < 0 && rc == 0) {
		rc = -1;
		snprintf(saved, sizeof(saved), "%s", hl_error_last());
	}
	if (rc < 0)
		hl_error("%s", saved);
	return rc;
}

/* Requests KPS decided in the window (each cost it CPU). */
static unsigned long decided(const struct release_result *r)
{
	return r->released + r->refused;
}

/* KPS CPU ms per decided request; 0 when none. */
static double kps_ms_per(const struct release_result *r)
{
	return decided(r) ? (double)r->hgs_cpu_ns / 1e6 / (double)decided(r) : 0;
}

/* The ratio KPS CPU / floor; 0 when either is missing. */
static double ratio(const struct release_result *r)
{
	return r->floor_done && r->floor_ms > 0 && decided(r) ? kps_ms_per(r) / r->floor_ms : 0;
}

/* Percentile P of R's latencies in ms. */
static double lat_ms(struct release_result *r, double p)
{
	return (double)hl_bench_samples_percentile(&r->lat, p) / 1e6;
}

/* The human report of R on stdout; OK says whether the run measured what it should. */
static void release_print(struct release_result *r, int ok)
{
	double rt = ratio(r);

	printf("hgslab bench release: %ld client%s releasing one key protector with a real "
	       "health certificate for %ld s against HGS %s\n\n", r->clients,
	       r->clients == 1 ? "" : "s", r->seconds, REL_HGS_NAME);
	if (!r->window_done) {
		printf("  no figures: the run stopped before the measured window ended\n");
		return;
	}
	if (!ok)
		printf("  the run failed (see the error): these figures are not a measurement\n");
	hl_bench_row(stdout, "releases", "%lu in %.2f s (%lu refused, %lu without a decision)",
		     r->released, r->window_s, r->refused, r->errors);
	hl_bench_row(stdout, "releases/s", "%.1f", (double)r->released / r->window_s);
	hl_bench_row(stdout, "latency p50 / p99", "%.2f ms / %.2f ms", lat_ms(r, 50),
		     lat_ms(r, 99));
	hl_bench_row(stdout, "KPS CPU per release", "%.3f ms (hgs serve busy %.2f cores)",
		     kps_ms_per(r), (double)r->hgs_cpu_ns / 1e9 / r->window_s);
	if (!r->floor_done) {
		printf("  crypto floor not measured\n");
		return;
	}
	hl_bench_row(stdout, "crypto floor per release", "%.3f ms (OpenSSL, one thread, this "
		     "run)", r->floor_ms);
	for (int i = 0; i < FLOOR_N; i++) {
		const struct floor_op *op = &r->floor[i];
		char label[64];

		snprintf(label, sizeof(label), "  %s", op->what);
		hl_bench_row(stdout, label, "%.3f ms  %s %s (%.0f/s)", op->res.cpu_ns_per_op / 1e6,
			     r->fm.key_desc[i], op->how, 1e9 / op->res.cpu_ns_per_op);
	}
	hl_bench_row(stdout, "KPS CPU / crypto floor", "%.1fx", rt);
	hl_bench_row(stdout, "goal", "within %.0fx of the floor: %s", REL_GOAL_RATIO,
		     rt > 0 && rt <= REL_GOAL_RATIO ? "met" : "NOT met");
}

/* R as a JSON object; OK and ERROR (may be NULL) say how the run ended. */
static json_t *release_json(struct release_result *r, int ok, const char *error)
{
	json_t *o = json_object(), *ops = NULL, *v;
	double rt = ratio(r);

	if (!o)
		return NULL;
	json_object_set_new(o, "benchmark", json_string("release"));
	json_object_set_new(o, "ok", json_boolean(ok));
	json_object_set_new(o, "error", error ? json_string(error) : json_null());
	json_object_set_new(o, "clients", json_integer(r->clients));
	json_object_set_new(o, "seconds", json_integer(r->seconds));
	if (r->window_done) {
		json_object_set_new(o, "setup_s", hl_bench_json_real(r->setup_s, 2));
		json_object_set_new(o, "window_s", hl_bench_json_real(r->window_s, 3));
		json_object_set_new(o, "hgs_pid", json_integer(r->hgs_pid));
		v = json_pack("{s:I, s:I, s:I}", "released", (json_int_t)r->released, "refused",
			      (json_int_t)r->refused, "errors", (json_int_t)r->errors);
		json_object_set_new(o, "releases", v);
		json_object_set_new(o, "releases_per_s",
				    hl_bench_json_real((double)r->released / r->window_s, 2));
		v = json_object();
		if (v) {
			json_object_set_new(v, "p50", hl_bench_json_real(lat_ms(r, 50), 3));
			json_object_set_new(v, "p99", hl_bench_json_real(lat_ms(r, 99), 3));
			json_object_set_new(v, "mean", hl_bench_json_real(
				hl_bench_samples_mean(&r->lat) / 1e6, 3));
			json_object_set_new(v, "max", hl_bench_json_real(lat_ms(r, 100), 3));
		}
		json_object_set_new(o, "latency_ms", v ? v : json_null());
		json_object_set_new(o, "hgs_cpu_ms", hl_bench_json_real(r->hgs_cpu_ns / 1e6, 1));
		json_object_set_new(o, "kps_cpu_ms_per_release", hl_bench_json_real(kps_ms_per(r),
										     4));
	}
	if (r->floor_done && (ops = json_array())) {
		for (int i = 0; i < FLOOR_N; i++) {
			const struct floor_op *op = &r->floor[i];

			v = json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:I}", "name", op->name,
				      "what", op->what, "key", r->fm.key_desc[i], "operation",
				      op->how, "ms", hl_bench_json_real(op->res.cpu_ns_per_op / 1e6,
									  4),
				      "per_s", hl_bench_json_real(1e9 / op->res.cpu_ns_per_op, 0),
				      "iterations", (json_int_t)op->res.ops);
			if (v)
				json_array_append_new(ops, v);
		}
		v = json_pack("{s:o, s:o}", "ms_per_release", hl_bench_json_real(r->floor_ms, 4),
			      "operations", ops);
		json_object_set_new(o, "crypto_floor", v ? v : json_null());
		json_object_set_new(o, "ratio", rt > 0 ? hl_bench_json_real(rt, 2) : json_null());
	}
	json_object_set_new(o, "goal_ratio", hl_bench_json_real(REL_GOAL_RATIO, 1));
	json_object_set_new(o, "goal_met", json_boolean(rt > 0 && rt <= REL_GOAL_RATIO));
	return o;
}

/* Run, print the report (human, JSON, or into COLLECT); 0 when it ran, -1 (error set) when not. */
static int release_report(long clients, long seconds, const char *workdir, int keep, int json,
			  json_t *collect)
{
	struct release_result r;
	json_t *o;
	int rc;

	rc = release_run(clients, seconds, workdir, keep, &r);
	if (json || collect) {
		o = release_json(&r, rc == 0, rc < 0 ? hl_error_last() : NULL);
		if (!o) {
			result_release(&r);
			return hl_error("out of memory");
		}
		if (collect) {
			json_array_append_new(collect, o);
		} else {
			hl_bench_print_json(o);
			json_decref(o);
		}
	}
	if (!json)
		release_print(&r, rc == 0);
	result_release(&r);
	return rc;
}

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
	rc = release_report(clients, seconds, hl_opts_str(&ctx->opts, "workdir", NULL),
			    hl_opts_flag(&ctx->opts, "keep"), hl_opts_flag(&ctx->opts, "json"), NULL);
	bench_signals_restore();
	if (rc < 0)
		return hl_cmd_fail(bench_interrupt_signal() ? 128 + (int)bench_interrupt_signal() : HL_EXIT_FAILURE,
				   "bench release: %s", hl_error_last());
	return HL_EXIT_OK;
}

int cmd_bench_release_default(const char *workdir, int keep, int json, struct json_t *collect,
			      int *signo)
{
	int rc;

	*signo = 0;
	if (bench_signals_install() < 0)
		return -1;
	rc = release_report(REL_CLIENTS_DEFAULT, REL_SECONDS_DEFAULT, workdir, keep, json,
			    collect);
	bench_signals_restore();
	*signo = (int)bench_interrupt_signal();
	return rc;
}
