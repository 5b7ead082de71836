/*
 * test_kps_client.c - the host side of key release (hosts/kps_client) with
 * real parts: a guarded host made by host_create (its TPM a real swtpm
 * manufactured with the lab's vendor CA), an HGS node in TPM mode with the
 * host registered, served in-process by hgs_server_start on loopback, an
 * owner guardian made by tenant/guardian and a key protector made by
 * lib/keyprotector, whose TK the test keeps in memory to compare.
 *
 * Covers: the release URL; a host that attests first, asks KPS and opens
 * the TK with its own TPM (the TK equals the owner's, its fingerprint too),
 * then releases again with the certificate it holds; the TK handed on
 * through a pipe; the TK in no file of the lab (raw, hex, base64 at every
 * byte alignment, across line breaks) and not in this process's command
 * line or environment, with the scanner shown to find a decoy secret in
 * each form; a refusal (one byte of the signed body changed) gives no TK
 * and is not retried at the fallback; the fallback answers when the primary
 * URL is a closed port or answers something that is not KPS, and
 * IsFallbackInUse follows; another transport key of the same TPM cannot
 * open the released TK, and the TPM still opens it with the right key
 * afterwards; no KPS at all, Local mode, and a pipe without a TK are
 * errors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "hgs/db.h"
#include "hgs/node.h"
#include "hgs/serve.h"
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
#include "proto/keyprotector.h"
#include "proto/platform_id.h"
#include "tenant/guardian.h"
#include "tests/unit/teststore.h"
#include "tests/unit/testutil.h"

/* The lab shared by the group: one host, one served node, one KP. */
static struct {
	char dir[64];
	char host_dir[128];
	char node_dir[128];
	char tenant_dir[128];
	char kp_path[128];
	struct host *h;
	struct hgs_node *node;
	struct hgs_server *srv;
	unsigned short port;
	char net[16];            /* 127.A.B: the node on .1, the host's swtpm on .2 */
	char node_addr[20];
	char host_addr[20];
	char url[96];            /* http://hgs.relecloud.com:PORT */
	char resolve[96];        /* hgs.relecloud.com:PORT:127.A.B.1 */
	struct hl_buf kp;        /* the KP file's bytes */
	struct hl_buf tk;        /* the owner's TK (test memory only) */
	char fp[HL_SHA256_HEX_SIZE];
} L;

/* ---- the lab ---- */

/* Register L.h with NODE: EK (platform identifier), baseline TCG log, CI policy. */
static int register_host(struct hgs_node *node)
{
	struct host_tpm *t = NULL;
	struct hosts_ek *ek = NULL;
	struct hgs_platform_id *id = NULL;
	struct hl_measured_boot *mb = NULL;
	struct hl_tpm *tpm;
	char *text = NULL, *ci = NULL;
	size_t ci_len = 0;
	int rc = -1;

	if (host_tpm_open(L.h, 0, 0, &t) < 0 || !(tpm = host_tpm_connect(t)) ||
	    hosts_tpm_read_ek(tpm, &ek) < 0 ||
	    hgs_platform_id_write(L.h->name, ek->pub, ek->cert, ek->tpm_public.data,
				  ek->tpm_public.len, &text) < 0 ||
	    hgs_platform_id_parse(text, strlen(text), &id) < 0 ||
	    hgs_db_tpm_host_add(node, L.h->name, id, 0) < 0 ||
	    hl_measured_boot_build(&L.h->profile, &mb) < 0 ||
	    hgs_db_tpm_policy_add(node, "Baseline", mb->log, mb->log_len) < 0 ||
	    host_ci_policy(L.h, &ci, &ci_len) < 0 ||
	    hgs_db_ci_policy_add(node, L.h->profile.ci_policy, ci, ci_len) < 0)
		goto out;
	rc = 0;
out:
	free(text);
	free(ci);
	hl_measured_boot_free(mb);
	hgs_platform_id_free(id);
	hosts_ek_free(ek);
	host_tpm_close(t);
	return rc;
}

/* Make the owner guardian and the KP for Owner + the node's guardian; keep the TK. */
static int make_kp(void)
{
	struct hl_guardian *owner = NULL;
	struct hl_kp_owner o;
	struct hl_kp_guardian g = { "MyHgsService", NULL, NULL };
	int rc = -1;

	if (hl_guardian_new(L.tenant_dir, "Owner") < 0 ||
	    hl_guardian_load(L.tenant_dir, "Owner", HL_GUARDIAN_LOAD_KEYS, &owner) < 0 ||
	    hgs_node_keypair(L.node, HGS_KEY_KPS_SIGNING, &g.signing_cert, NULL) < 0 ||
	    hgs_node_keypair(L.node, HGS_KEY_KPS_ENCRYPTION, &g.encryption_cert, NULL) < 0)
		goto out;
	hl_guardian_as_owner(owner, &o);
	if (hl_kp_create(&o, &g, 1, 0, &L.kp, &L.tk) < 0 ||
	    hl_kp_tk_fingerprint(L.tk.data, L.tk.len, L.fp) < 0 ||
	    hl_file_write(L.kp_path, L.kp.data, L.kp.len, HL_FILE_MODE_PUBLIC) < 0)
		goto out;
	rc = 0;
out:
	hl_cert_free(g.signing_cert);
	hl_cert_free(g.encryption_cert);
	hl_guardian_free(owner);
	return rc;
}

/*
 * Give the host a client configuration: the attestation URL is always the
 * node; the key protection URL PRIMARY (NULL: the node), FALLBACK (NULL:
 * none, else with the node as fallback attestation URL too).
 */
static void configure(const char *primary, const char *fallback)
{
	struct host_client_config c = { 0 };
	char att[128], kp[128], fatt[128];
	char *resolve[] = { L.resolve, "hgs1.relecloud.com:1:127.0.0.1", NULL };

	snprintf(att, sizeof(att), "%s/Attestation", L.url);
	snprintf(kp, sizeof(kp), "%s/KeyProtection", L.url);
	c.attestation_url = att;
	c.key_protection_url = primary ? (char *)primary : kp;
	if (fallback) {
		snprintf(fatt, sizeof(fatt), "%s/Attestation", L.url);
		c.fallback_attestation_url = fatt;
		c.fallback_key_protection_url = (char *)fallback;
	}
	c.resolve = resolve;
	c.n_resolve = 2;
	assert_ok(host_client_config_save(L.h, &c));
}

static int group_setup(void **state)
{
	struct hgs_init_params ip = { 0 };
	struct host_new_params hp = { 0 };
	struct hgs_node *node = NULL;
	char *ca_path = NULL, *ca_pem = NULL;
	int rc = -1;

	(void)state;
	if (tu_mkdtemp(L.dir, sizeof(L.dir), "kpsc") < 0)
		return -1;
	snprintf(L.host_dir, sizeof(L.host_dir), "%s/hosts/h1", L.dir);
	snprintf(L.node_dir, sizeof(L.node_dir), "%s/hgs", L.dir);
	snprintf(L.tenant_dir, sizeof(L.tenant_dir), "%s/tenant", L.dir);
	snprintf(L.kp_path, sizeof(L.kp_path), "%s/vm1.kp", L.dir);
	/*
	 * Addresses of the group's own: not 127.0.0.1, where the source ports
	 * of every loopback client (TIME_WAIT) would crowd the swtpm's ports.
	 */
	snprintf(L.net, sizeof(L.net), "127.%d.%d", (int)(getpid() % 200) + 30,
		 (int)(time(NULL) % 250) + 1);
	snprintf(L.node_addr, sizeof(L.node_addr), "%s.1", L.net);
	snprintf(L.host_addr, sizeof(L.host_addr), "%s.2", L.net);
	hp.dir = L.host_dir;
	hp.name = "FabricHost1";
	hp.domain = "fabrikam.com";
	hp.listen = L.host_addr;
	if (hl_child_cleanup_install(-1) < 0 || host_create(&hp) < 0 ||
	    host_open(L.host_dir, &L.h) < 0 ||
	    hosts_vendor_ca_cert_path(L.h->vendor_dir, &ca_path) < 0 ||
	    hl_file_read(ca_path, HL_FILE_READ_MAX, &ca_pem, NULL) < 0)
		goto out;
	ip.dir = L.node_dir;
	ip.name = "MyHgsService";
	ip.domain = "relecloud.com";
	ip.trust = HGS_MODE_TPM;
	ip.listen = "127.0.0.1:0";   /* served on node_addr below */
	ip.vendor_ca_pem = ca_pem;
	if (hgs_node_create(&ip) < 0 || tus_hgs_node_store(L.node_dir) < 0 ||
	    hgs_node_open(L.node_dir, 0, &node) < 0 || tus_hgs_node_check(node) < 0 ||
	    register_host(node) < 0)
		goto out;
	hgs_node_close(node);
	node = NULL;
	if (hgs_node_open(L.node_dir, HGS_NODE_OPEN_KEYS, &L.node) < 0 ||
	    hgs_server_start(L.node, L.node_addr, 0, &L.srv) < 0)
		goto out;
	L.port = hgs_server_port(L.srv);
	snprintf(L.url, sizeof(L.url), "http://hgs.relecloud.com:%u", L.port);
	snprintf(L.resolve, sizeof(L.resolve), "hgs.relecloud.com:%u:%s", L.port, L.node_addr);
	if (make_kp() < 0)
		goto out;
	rc = 0;
out:
	if (rc < 0)
		fprintf(stderr, "group setup: %s\n", hl_error_last());
	hgs_node_close(node);
	free(ca_path);
	free(ca_pem);
	return rc;
}

static int group_teardown(void **state)
{
	(void)state;
	hgs_server_stop(L.srv);
	hgs_node_close(L.node);
	host_close(L.h);
	hl_buf_free(&L.kp);
	hl_buf_free(&L.tk);
	return tu_rmtree(L.dir);
}

/* ---- the scanner: a secret raw, as hex, as base64 ---- */

#define FORMS 6

/* The forms a secret may take in a file: raw, hex both cases, base64 at three alignments. */
struct forms {
	struct hl_buf f[FORMS];
};

/* Build the forms of secret S (LEN bytes) into OUT. */
static void forms_make(const unsigned char *s, size_t len, struct forms *out)
{
	unsigned char pad[64 + 2] = { 0 };
	struct hl_buf b64 = { 0 };

	memset(out, 0, sizeof(*out));
	assert_true(len <= 64);
	out->f[0].data = malloc(len);
	memcpy(out->f[0].data, s, len);
	out->f[0].len = len;
	for (int c = 1; c <= 2; c++) {
		out->f[c].data = malloc(2 * len + 1);
		assert_ok(hl_crypto_hex_encode(s, len, (char *)out->f[c].data, 2 * len + 1));
		out->f[c].len = 2 * len;
		for (size_t i = 0; c == 2 && i < 2 * len; i++)
			if (out->f[c].data[i] >= 'A' && out->f[c].data[i] <= 'F')
				out->f[c].data[i] = (unsigned char)(out->f[c].data[i] - 'A' + 'a');
	}
	for (size_t k = 0; k < 3; k++) {
		struct hl_buf *f = &out->f[3 + k];

		/* k zero bytes before it: the characters that depend on them, and the last group, go */
		memcpy(pad + k, s, len);
		assert_ok(hl_crypto_base64_encode(pad, len + k, &b64));
		f->len = b64.len - 8;
		f->data = malloc(f->len);
		memcpy(f->data, b64.data + 4, f->len);
		hl_buf_free(&b64);
		memset(pad, 0, sizeof(pad));
	}
}

/* Free the forms. */
static void forms_free(struct forms *fs)
{
	for (int i = 0; i < FORMS; i++)
		hl_buf_free(&fs->f[i]);
}

/* 1 when DATA (LEN bytes) holds a form of FS: raw as is, the text forms with line breaks removed. */
static int holds(const char *data, size_t len, const struct forms *fs)
{
	char *flat = malloc(len + 1);
	size_t n = 0;
	int found = memmem(data, len, fs->f[0].data, fs->f[0].len) != NULL;

	for (size_t i = 0; i < len; i++)
		if (data[i] != '\n' && data[i] != '\r')
			flat[n++] = data[i];
	for (int i = 1; i < FORMS && !found; i++)
		found = memmem(flat, n, fs->f[i].data, fs->f[i].len) != NULL;
	free(flat);
	return found;
}

/* 1 when file PATH holds a form of FS. */
static int file_holds(const char *path, const struct forms *fs)
{
	char *data = NULL;
	size_t len = 0;
	int found;

	if (hl_file_read(path, HL_FILE_READ_MAX, &data, &len) < 0)
		return 0;   /* gone meanwhile (a temporary) or unreadable: nothing to hold */
	found = holds(data, len, fs);
	free(data);
	return found;
}

static const struct forms *walk_forms;
static int walk_files, walk_found;

/* nftw callback: count regular files and those holding a form. */
static int walk_one(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	(void)sb;
	(void)ftw;
	if (type != FTW_F)
		return 0;
	walk_files++;
	if (file_holds(path, walk_forms)) {
		walk_found++;
		print_message("# the secret is in %s\n", path);
	}
	return 0;
}

/* How many files under DIR hold a form of FS; *FILES gets how many were read. */
static int files_holding(const char *dir, const struct forms *fs, int *files)
{
	walk_forms = fs;
	walk_files = walk_found = 0;
	assert_int_equal(nftw(dir, walk_one, 16, FTW_PHYS), 0);
	*files = walk_files;
	return walk_found;
}

/* ---- tests ---- */

static void test_release_url(void **state)
{
	char buf[256];

	(void)state;
	assert_ok(hosts_kps_release_url("http://hgs.relecloud.com:8080/KeyProtection", buf,
					sizeof(buf)));
	assert_string_equal(buf, "http://hgs.relecloud.com:8080/KeyProtection/v1/release");
	assert_ok(hosts_kps_release_url("http://hgs.relecloud.com:8080/KeyProtection/", buf,
					sizeof(buf)));
	assert_string_equal(buf, "http://hgs.relecloud.com:8080/KeyProtection/v1/release");
	assert_ok(hosts_kps_release_url("http://hgs.relecloud.com:8080", buf, sizeof(buf)));
	assert_string_equal(buf, "http://hgs.relecloud.com:8080/KeyProtection/v1/release");
	assert_int_equal(hosts_kps_release_url("", buf, sizeof(buf)), -1);
	assert_error_has("--key-protection-url");
	assert_int_equal(hosts_kps_release_url("http://hgs.relecloud.com:8080/KeyProtection", buf,
					       20), -1);
	assert_error_has("too long");
}

static void test_unwrap_opens_the_owners_tk(void **state)
{
	struct hosts_kps_unwrap u;
	struct hl_buf tk = { 0 };
	struct host_state st;
	unsigned char got[64];
	ssize_t n;
	int fd = -1;

	(void)state;
	configure(NULL, NULL);
	assert_ok(hosts_kps_unwrap(L.h, L.kp.data, L.kp.len, &u, &tk));
	assert_int_equal(u.outcome, HOSTS_KPS_OPENED);
	assert_int_equal(u.attested, 1);
	assert_string_equal(u.status, HOST_STATUS_PASSED);
	assert_true(u.release.released);
	assert_int_equal(u.release.fallback_used, 0);
	assert_string_equal(u.release.host, "FabricHost1");
	assert_string_equal(u.release.transport_key, u.own_transport_key);
	assert_int_equal(tk.len, HL_KP_TK_LEN);
	assert_memory_equal(tk.data, L.tk.data, HL_KP_TK_LEN);
	assert_string_equal(u.tk_fingerprint, L.fp);

	/* handed on through a pipe: the TK, then end of file; close-on-exec until a child takes it */
	assert_ok(hosts_kps_tk_pipe(&tk, &fd));
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	n = read(fd, got, sizeof(got));
	assert_int_equal(n, HL_KP_TK_LEN);
	assert_memory_equal(got, L.tk.data, HL_KP_TK_LEN);
	assert_int_equal(read(fd, got, sizeof(got)), 0);
	close(fd);
	hl_crypto_cleanse(got, sizeof(got));
	hl_buf_free(&tk);
	assert_null(tk.data);
	hosts_kps_unwrap_free(&u);

	/* again, with the certificate it holds now */
	assert_ok(hosts_kps_unwrap(L.h, L.kp.data, L.kp.len, &u, &tk));
	assert_int_equal(u.outcome, HOSTS_KPS_OPENED);
	assert_int_equal(u.attested, 0);
	assert_memory_equal(tk.data, L.tk.data, HL_KP_TK_LEN);
	hl_buf_free(&tk);
	hosts_kps_unwrap_free(&u);

	assert_ok(host_state_load(L.h, &st));
	assert_int_equal(st.kp_fallback_in_use, 0);
	assert_non_null(strstr(st.kp_server_url, "/KeyProtection"));
	host_state_release(&st);
}

static void test_tk_in_no_file_and_no_environment(void **state)
{
	struct hosts_kps_unwrap u;
	struct hl_buf tk = { 0 };
	struct forms fs, decoy;
	unsigned char secret[HL_KP_TK_LEN], blob[3 * HL_KP_TK_LEN];
	struct hl_buf b64 = { 0 };
	char path[256], hex[2 * HL_KP_TK_LEN + 1];
	int files = 0;

	(void)state;
	configure(NULL, NULL);
	assert_ok(hosts_kps_unwrap(L.h, L.kp.data, L.kp.len, &u, &tk));
	assert_int_equal(u.outcome, HOSTS_KPS_OPENED);
	forms_make(tk.data, tk.len, &fs);
	hl_buf_free(&tk);
	hosts_kps_unwrap_free(&u);

	/* the scanner finds a decoy secret in each form, at odd offsets and across line breaks */
	assert_ok(hl_crypto_random(secret, sizeof(secret)));
	forms_make(secret, sizeof(secret), &decoy);
	snprintf(path, sizeof(path), "%s/decoy", L.dir);
	memset(blob, 'x', sizeof(blob));
	memcpy(blob + 7, secret, sizeof(secret));
	assert_ok(hl_file_write(path, blob, sizeof(blob), HL_FILE_MODE_PRIVATE));
	assert_int_equal(file_holds(path, &decoy), 1);
	assert_int_equal(file_holds(path, &fs), 0);
	memcpy(blob + 1, secret, sizeof(secret));
	assert_ok(hl_crypto_base64_encode(blob, sizeof(blob), &b64));
	memmove(b64.data + 31, b64.data + 30, b64.len - 30);
	b64.data[30] = '\n';
	assert_ok(hl_file_write(path, b64.data, b64.len + 1, HL_FILE_MODE_PRIVATE));
	assert_int_equal(file_holds(path, &decoy), 1);
	hl_buf_free(&b64);
	assert_ok(hl_crypto_hex_encode(secret, sizeof(secret), hex, sizeof(hex)));
	assert_ok(hl_file_write(path, hex, strlen(hex), HL_FILE_MODE_PRIVATE));
	assert_int_equal(file_holds(path, &decoy), 1);
	assert_int_equal(files_holding(L.dir, &decoy, &files), 1);
	assert_int_equal(unlink(path), 0);
	forms_free(&decoy);
	hl_crypto_cleanse(secret, sizeof(secret));

	/* the TK in no file of the lab: host (TPM state, keys, state), node, tenant */
	assert_int_equal(files_holding(L.dir, &fs, &files), 0);
	assert_true(files > 20);
	assert_int_equal(file_holds("/proc/self/cmdline", &fs), 0);
	assert_int_equal(file_holds("/proc/self/environ", &fs), 0);
	forms_free(&fs);
}

/* KP bytes with one byte of the signed body changed (a digit of the id) into OUT. */
static void kp_one_byte_changed(struct hl_buf *out)
{
	json_t *j = NULL;
	struct hl_buf body = { 0 }, b64 = { 0 };
	const char *text;
	char *id, *dump = NULL;

	assert_ok(hl_json_parse(L.kp.data, L.kp.len, 0, &j));
	text = json_string_value(json_object_get(j, "body"));
	assert_non_null(text);
	assert_ok(hl_crypto_base64_decode(text, strlen(text), &body));
	id = strstr((char *)body.data, "\"id\":\"");
	assert_non_null(id);
	id[6] = id[6] == '0' ? '1' : '0';
	assert_ok(hl_crypto_base64_encode(body.data, body.len, &b64));
	json_object_set_new(j, "body", json_string((const char *)b64.data));
	assert_ok(hl_json_dump(j, &dump));
	out->data = (unsigned char *)dump;
	out->len = strlen(dump);
	hl_buf_free(&body);
	hl_buf_free(&b64);
	json_decref(j);
}

static void test_refusal_gives_nothing_and_is_not_retried(void **state)
{
	struct hosts_kps_unwrap u;
	struct hl_buf tk = { 0 }, bad = { 0 };
	char primary[128];

	(void)state;
	kp_one_byte_changed(&bad);
	/* a fallback that does not exist: a decision of the primary must not go there */
	snprintf(primary, sizeof(primary), "%s/KeyProtection", L.url);
	configure(primary, "http://hgs1.relecloud.com:1/KeyProtection");
	assert_ok(hosts_kps_unwrap(L.h, bad.data, bad.len, &u, &tk));
	assert_int_equal(u.outcome, HOSTS_KPS_REFUSED);
	assert_false(u.release.released);
	assert_int_equal(u.release.http_status, 403);
	assert_string_equal(u.release.reason, "OwnerSignatureInvalid");
	assert_non_null(strstr(u.release.message, "signature does not verify"));
	assert_int_equal(u.release.fallback_used, 0);
	assert_string_equal(u.release.url, primary);
	assert_int_equal(u.release.wrapped_tk.len, 0);
	assert_null(tk.data);
	assert_string_equal(u.tk_fingerprint, "");
	hosts_kps_unwrap_free(&u);
	hl_buf_free(&bad);
}

static void test_fallback(void **state)
{
	struct hosts_kps_unwrap u;
	struct host_client_config c = { 0 };
	struct hl_buf tk = { 0 };
	struct host_state st;
	char fb[128], notkps[128];
	json_t *j = NULL;

	(void)state;
	/* the primary is a closed port */
	snprintf(fb, sizeof(fb), "%s/KeyProtection", L.url);
	configure("http://hgs1.relecloud.com:1/KeyProtection", fb);
	assert_ok(hosts_kps_unwrap(L.h, L.kp.data, L.kp.len, &u, &tk));
	assert_int_equal(u.outcome, HOSTS_KPS_OPENED);
	assert_int_equal(u.release.fallback_used, 1);
	assert_string_equal(u.release.url, fb);
	assert_memory_equal(tk.data, L.tk.data, HL_KP_TK_LEN);
	hl_buf_free(&tk);
	hosts_kps_unwrap_free(&u);
	assert_ok(host_state_load(L.h, &st));
	assert_int_equal(st.kp_fallback_in_use, 1);
	assert_string_equal(st.kp_server_url, fb);
	assert_ok(host_client_config_load(L.h, &c));
	assert_ok(host_client_status_json(L.h, &c, &st, 0, time(NULL), &j));
	assert_true(json_is_true(json_object_get(j, "IsFallbackInUse")));
	json_decref(j);
	host_client_config_release(&c);
	host_state_release(&st);

	/* the primary answers, but not as KPS (404): that is a failure too */
	snprintf(notkps, sizeof(notkps), "%s/Elsewhere", L.url);
	configure(notkps, fb);
	assert_ok(hosts_kps_unwrap(L.h, L.kp.data, L.kp.len, &u, &tk));
	assert_int_equal(u.outcome, HOSTS_KPS_OPENED);
	assert_int_equal(u.release.fallback_used, 1);
	hl_buf_free(&tk);
	hosts_kps_unwrap_free(&u);

	/* back on the primary: IsFallbackInUse goes back to False */
	configure(NULL, NULL);
	assert_ok(hosts_kps_unwrap(L.h, L.kp.data, L.kp.len, &u, &tk));
	assert_int_equal(u.release.fallback_used, 0);
	hl_buf_free(&tk);
	hosts_kps_unwrap_free(&u);
	assert_ok(host_state_load(L.h, &st));
	assert_ok(host_client_config_load(L.h, &c));
	assert_ok(host_client_status_json(L.h, &c, &st, 0, time(NULL), &j));
	assert_true(json_is_false(json_object_get(j, "IsFallbackInUse")));
	json_decref(j);
	host_client_config_release(&c);
	host_state_release(&st);
}

static void test_other_transport_key_cannot_open(void **state)
{
	struct hosts_kps_conn conn = { 0 };
	struct hosts_kps_release r;
	struct hosts_tpm_key mine = { 0 }, other = { 0 };
	struct host_state st;
	struct host_tpm *t = NULL;
	struct hl_buf tk = { 0 };
	struct hl_tpm *tpm;
	const char *resolve[] = { L.resolve, NULL };
	char kpurl[128], path[256];

	(void)state;
	configure(NULL, NULL);
	assert_ok(host_state_load(L.h, &st));
	assert_true(st.health_cert.len > 0);
	snprintf(kpurl, sizeof(kpurl), "%s/KeyProtection", L.url);
	conn.url = kpurl;
	conn.resolve = resolve;
	assert_ok(hosts_kps_request(&conn, L.kp.data, L.kp.len, st.health_cert.data,
				    st.health_cert.len, &r));
	assert_true(r.released);
	assert_true(r.wrapped_tk.len == 256);
	host_state_release(&st);

	snprintf(path, sizeof(path), "%s/%s", L.host_dir, HOST_TK_FILE);
	assert_ok(hosts_tpm_key_load(path, &mine));
	assert_ok(host_tpm_open(L.h, 0, 0, &t));
	tpm = host_tpm_connect(t);
	assert_non_null(tpm);
	assert_ok(hosts_tpm_create_transport_key(tpm, &other));
	assert_int_equal(hosts_kps_open(tpm, &other, &r, &tk), -1);
	assert_error_has("does not open with this transport key");
	assert_null(tk.data);
	/* the same TPM still opens it with the key the certificate binds */
	assert_ok(hosts_kps_open(tpm, &mine, &r, &tk));
	assert_memory_equal(tk.data, L.tk.data, HL_KP_TK_LEN);
	hl_buf_free(&tk);
	host_tpm_close(t);
	hosts_tpm_key_release(&mine);
	hosts_tpm_key_release(&other);
	hosts_kps_release_free(&r);
}

static void test_no_kps_no_configuration(void **state)
{
	struct hosts_kps_conn conn = { 0 };
	struct hosts_kps_release r;
	struct hosts_kps_unwrap u;
	struct host_client_config c = { 0 };
	struct hl_buf tk = { 0 };
	const char *resolve[] = { "hgs1.relecloud.com:1:127.0.0.1", NULL };
	int fd = 7;

	(void)state;
	conn.url = "http://hgs1.relecloud.com:1/KeyProtection";
	conn.fallback_url = "http://hgs1.relecloud.com:1";
	conn.resolve = resolve;
	assert_int_equal(hosts_kps_request(&conn, L.kp.data, L.kp.len, NULL, 0, &r), -1);
	assert_error_has("primary 'http://hgs1.relecloud.com:1/KeyProtection'");
	assert_error_has("fallback");
	assert_false(r.released);
	assert_int_equal(hosts_kps_request(&conn, NULL, 0, NULL, 0, &r), -1);
	assert_error_has("no key protector");

	/* a KPS without a health certificate is a decision, not a failure */
	conn.url = L.url;
	conn.fallback_url = NULL;
	{
		const char *res2[] = { L.resolve, NULL };

		conn.resolve = res2;
		assert_ok(hosts_kps_request(&conn, L.kp.data, L.kp.len, NULL, 0, &r));
	}
	assert_false(r.released);
	assert_string_equal(r.reason, "NoHealthCertificate");
	hosts_kps_release_free(&r);

	/* Local mode */
	assert_ok(host_client_config_save(L.h, &c));
	assert_int_equal(hosts_kps_unwrap(L.h, L.kp.data, L.kp.len, &u, &tk), -1);
	assert_error_has("Local mode");
	assert_null(tk.data);
	configure(NULL, NULL);

	assert_int_equal(hosts_kps_tk_pipe(&tk, &fd), -1);
	assert_int_equal(fd, -1);
	hosts_kps_release_free(NULL);
	hosts_kps_unwrap_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_release_url),
		cmocka_unit_test(test_unwrap_opens_the_owners_tk),
		cmocka_unit_test(test_tk_in_no_file_and_no_environment),
		cmocka_unit_test(test_refusal_gives_nothing_and_is_not_retried),
		cmocka_unit_test(test_fallback),
		cmocka_unit_test(test_other_transport_key_cannot_open),
		cmocka_unit_test(test_no_kps_no_configuration),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
