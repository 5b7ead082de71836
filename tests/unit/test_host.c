/*
 * test_host.c - unit tests for hosts/host (the host directory, its client
 * configuration and attestation state) and the parts of hosts/agent that
 * need no HGS: the host's swtpm under its lock, the boot replay, the AK and
 * TK kept across runs, attempts without an HGS, and the wait for an agent.
 *
 * A host is manufactured once for the group (swtpm_setup, ~0.8 s) and each
 * test works on its own copy of it in its own mkdtemp directory; the swtpm
 * tests run the real swtpm and stop it again.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hosts/agent.h"
#include "hosts/host.h"
#include "hosts/measured_boot.h"
#include "lib/child.h"
#include "lib/crypto.h"
#include "lib/fileio.h"
#include "lib/json.h"
#include "proto/tcglog.h"
#include "lib/tpm.h"
#include "tests/unit/testutil.h"

/* The group's template host, made once. */
static char group_dir[64];
static char template_dir[128];

/* One test's sandbox: a copy of the template host in DIR/host. */
struct sandbox {
	char dir[TU_SANDBOX_DIR];   /* first: the scratch folder (tu_sandbox_new) */
	char host[128];
	struct host *h;
};

/* Make the template host FabricHost1 once. */
static int group_setup(void **state)
{
	struct host_new_params p = { 0 };

	(void)state;
	if (tu_mkdtemp(group_dir, sizeof(group_dir), "host") < 0)
		return -1;
	snprintf(template_dir, sizeof(template_dir), "%s/template", group_dir);
	p.dir = template_dir;
	p.name = "FabricHost1";
	p.domain = "fabrikam.com";
	p.listen = "127.0.0.1";
	if (host_create(&p) < 0) {
		fprintf(stderr, "host_create: %s\n", hl_error_last());
		return -1;
	}
	return 0;
}

/* Remove the template host. */
static int group_teardown(void **state)
{
	(void)state;
	return tu_rmtree(group_dir);
}

/* A test's own copy of the template host, open. */
static int sandbox_setup(void **state)
{
	struct sandbox *s = tu_sandbox_new(sizeof(*s), "host1");

	if (!s)
		return -1;
	snprintf(s->host, sizeof(s->host), "%s/host", s->dir);
	if (tu_sh("cp -a '%s' '%s'", template_dir, s->host) < 0 || host_open(s->host, &s->h) < 0) {
		tu_sandbox_free(s);
		return -1;
	}
	*state = s;
	return 0;
}

/* Close the test's host and remove its sandbox. */
static int sandbox_teardown(void **state)
{
	struct sandbox *s = *state;

	host_close(s->h);
	return tu_sandbox_free(s);
}

/* ---- names and addresses ---- */

static void test_check_name_listen(void **state)
{
	(void)state;
	assert_int_equal(hl_name_computer("host name", "FabricHost1"), 0);
	assert_int_equal(hl_name_computer("host name", "A"), 0);
	assert_int_equal(hl_name_computer("host name", "host-2"), 0);
	assert_int_equal(hl_name_computer("host name", "FabricHost12345"), 0);
	assert_int_equal(hl_name_computer("host name", "FabricHost123456"), -1);
	assert_error_has("1 to 15");
	assert_int_equal(hl_name_computer("host name", ""), -1);
	assert_int_equal(hl_name_computer("host name", NULL), -1);
	assert_int_equal(hl_name_computer("host name", "-host"), -1);
	assert_int_equal(hl_name_computer("host name", "fabric_host"), -1);
	assert_int_equal(hl_name_computer("host name", "a.b"), -1);
	assert_int_equal(host_check_listen("127.0.0.5"), 0);
	assert_int_equal(host_check_listen("127.200.3.9"), 0);
	assert_int_equal(host_check_listen("10.0.0.1"), -1);
	assert_error_has("loopback");
	assert_int_equal(host_check_listen("localhost"), -1);
	assert_int_equal(host_check_listen("127.0.0.1:80"), -1);
}

/* ---- create and open ---- */

static void test_create_layout(void **state)
{
	struct sandbox *s = *state;
	char path[PATH_MAX], *doc = NULL, *file = NULL;
	size_t len, flen;
	EVP_PKEY *key = NULL, *pub = NULL;
	struct hl_buf pem = { 0 };
	struct hl_profile base;

	assert_string_equal(s->h->name, "FabricHost1");
	assert_string_equal(s->h->domain, "fabrikam.com");
	assert_string_equal(s->h->listen, "127.0.0.1");
	assert_true(s->h->dir[0] == '/');
	snprintf(path, sizeof(path), "%s/tpm-vendor", group_dir);
	assert_string_equal(s->h->vendor_dir, path);
	assert_int_equal(hl_profile_init(&base, "baseline"), 0);
	assert_true(hl_profile_equal(&s->h->profile, &base));

	/* the template as host_create left it (cp -a keeps modes) */
	assert_int_equal(tu_mode_of(template_dir), 0700);
	snprintf(path, sizeof(path), "%s/%s", template_dir, HOST_KEYS_DIR);
	assert_int_equal(tu_mode_of(path), 0700);
	snprintf(path, sizeof(path), "%s/%s", template_dir, HOST_KEY_FILE);
	assert_int_equal(tu_mode_of(path), 0600);
	snprintf(path, sizeof(path), "%s/%s", template_dir, HOST_KEY_PUB_FILE);
	assert_int_equal(tu_mode_of(path), 0644);
	snprintf(path, sizeof(path), "%s/%s/tpm2-00.permall", template_dir, HOST_TPM_DIR);
	assert_int_equal(hl_file_exists(path), 1);
	snprintf(path, sizeof(path), "%s/%s", template_dir, HOST_CLIENT_FILE);
	assert_int_equal(hl_file_exists(path), 0);
	assert_int_equal(tu_sh("ls -A '%s' | grep -q '^\\.' && exit 1 || exit 0", group_dir), 0);

	/* the recorded CI policy is the profile's document */
	assert_int_equal(host_ci_policy(s->h, &doc, &len), 0);
	file = tu_slurp(tu_path("%s/%s", s->host, HOST_CI_POLICY_FILE), &flen);
	assert_int_equal(flen, len);
	assert_memory_equal(file, doc, len);

	/* the machine key: private loads, the public export matches it */
	assert_int_equal(host_key_load(s->h, &key), 0);
	assert_int_equal(host_key_pub_pem(s->h, &pem), 0);
	assert_non_null(strstr((char *)pem.data, "BEGIN PUBLIC KEY"));
	assert_int_equal(hl_key_pub_from_pem(pem.data, pem.len, &pub), 0);
	assert_true(hl_key_pub_equal(key, pub));
	hl_key_free(key);
	hl_key_free(pub);
	hl_buf_free(&pem);
	free(doc);
	free(file);
}

/* Test hook: fail the write of host.json. */
static int fail_host_json(enum hl_file_stage stage, const char *tmp, void *arg)
{
	(void)arg;
	if (stage == HL_FILE_STAGE_BEFORE_RENAME && strstr(tmp, "." HOST_CONFIG_FILE ".tmp."))
		return hl_error("injected failure writing '%s'", tmp);
	return 0;
}

static void test_create_refuses(void **state)
{
	struct sandbox *s = *state;
	struct host_new_params p = { .name = "FabricHost2", .domain = "fabrikam.com" };
	struct host *h = NULL;
	char dir[PATH_MAX], vendor[PATH_MAX];

	/* an existing host directory */
	p.dir = s->host;
	assert_int_equal(host_create(&p), -1);
	assert_error_has("not empty");

	/* a vendor CA that cannot be made: nothing is left behind */
	snprintf(dir, sizeof(dir), "%s/h2", s->dir);
	snprintf(vendor, sizeof(vendor), "%s/host/host.json/vendor", s->dir);
	p.dir = dir;
	p.vendor_dir = vendor;
	assert_int_equal(host_create(&p), -1);
	assert_int_equal(hl_file_exists(dir), 0);
	assert_int_equal(tu_sh("ls -A '%s' | grep -q '^\\.' && exit 1 || exit 0", s->dir), 0);

	/* a failure after the TPM was manufactured: the temporary directory goes */
	p.vendor_dir = NULL;
	hl_file_set_test_hook(fail_host_json, NULL);
	assert_int_equal(host_create(&p), -1);
	hl_file_set_test_hook(NULL, NULL);
	assert_error_has("injected");
	assert_int_equal(hl_file_exists(dir), 0);
	assert_int_equal(tu_sh("ls -A '%s' | grep -q '^\\.' && exit 1 || exit 0", s->dir), 0);

	/* bad parameters are refused before anything is made */
	p.vendor_dir = NULL;
	p.profile = "baseline,debug=maybe";
	assert_int_equal(host_create(&p), -1);
	assert_error_has("debug");
	p.profile = NULL;
	p.domain = "fabrikam..com";
	assert_int_equal(host_create(&p), -1);
	p.domain = "fabrikam.com";
	p.listen = "192.168.1.1";
	assert_int_equal(host_create(&p), -1);
	assert_int_equal(hl_file_exists(dir), 0);

	/* opening something that is not a host says how to make one */
	assert_int_equal(host_open(s->dir, &h), -1);
	assert_null(h);
	assert_error_has("host new");
}

static void test_set_profile(void **state)
{
	struct sandbox *s = *state;
	struct hl_profile p;
	struct host *h = NULL;
	char *file = NULL, *doc = NULL;
	size_t len, flen;

	assert_int_equal(hl_profile_parse("baseline,debug=on,ci_policy=Other", &p), 0);
	assert_int_equal(host_set_profile(s->h, &p), 0);
	assert_true(hl_profile_equal(&s->h->profile, &p));
	assert_int_equal(host_open(s->host, &h), 0);
	assert_true(hl_profile_equal(&h->profile, &p));
	assert_string_equal(h->profile.ci_policy, "Other");
	assert_int_equal(hl_profile_ci_policy_document("Other", &doc, &len), 0);
	file = tu_slurp(tu_path("%s/%s", s->host, HOST_CI_POLICY_FILE), &flen);
	assert_int_equal(flen, len);
	assert_memory_equal(file, doc, len);
	free(file);
	free(doc);
	host_close(h);
}

/* ---- client configuration ---- */

static void test_client_config(void **state)
{
	struct sandbox *s = *state;
	char *resolve[] = { "hgs.relecloud.com:8080:127.0.0.2", "dc01.fabrikam.com:8088:127.0.0.3",
			    NULL };
	struct host_client_config c = { 0 }, got = { 0 };
	char path[PATH_MAX];

	/* none set: Local mode */
	assert_int_equal(host_client_config_load(s->h, &got), 0);
	assert_null(got.attestation_url);
	assert_int_equal(host_client_config_check(&got), 0);

	c.attestation_url = "http://hgs.relecloud.com:8080/Attestation";
	assert_int_equal(host_client_config_check(&c), -1);
	assert_error_has("set together");
	c.key_protection_url = "http://hgs.relecloud.com:8080/KeyProtection";
	assert_int_equal(host_client_config_check(&c), 0);
	c.fallback_attestation_url = "http://hgs2.relecloud.com:8080/Attestation";
	assert_int_equal(host_client_config_check(&c), -1);
	assert_error_has("fallback");
	c.fallback_key_protection_url = "http://hgs2.relecloud.com:8080/KeyProtection";
	assert_int_equal(host_client_config_check(&c), 0);
	c.dc_url = "ftp://dc01.fabrikam.com";
	assert_int_equal(host_client_config_check(&c), -1);
	assert_error_has("http://");
	c.dc_url = "http://dc01 .fabrikam.com";
	assert_int_equal(host_client_config_check(&c), -1);
	c.dc_url = "http://dc01.fabrikam.com:8088";
	c.resolve = resolve;
	c.n_resolve = 2;
	assert_int_equal(host_client_config_check(&c), 0);
	resolve[1] = "dc01.fabrikam.com:8088";
	assert_int_equal(host_client_config_check(&c), -1);
	assert_error_has("NAME:PORT:ADDR");
	resolve[1] = "dc01.fabrikam.com:0:127.0.0.3";
	assert_int_equal(host_client_config_check(&c), -1);
	resolve[1] = "dc01.fabrikam.com:8088:nowhere";
	assert_int_equal(host_client_config_check(&c), -1);
	/* a cluster: the name resolves to every node, tried in turn */
	resolve[1] = "hgs.relecloud.com:8080:127.0.0.1,127.0.0.2,127.0.0.3";
	assert_int_equal(host_client_config_check(&c), 0);
	resolve[1] = "hgs.relecloud.com:8080:127.0.0.1,,127.0.0.3";
	assert_int_equal(host_client_config_check(&c), -1);
	assert_error_has("several addresses");
	resolve[1] = "hgs.relecloud.com:8080:127.0.0.1,";
	assert_int_equal(host_client_config_check(&c), -1);
	resolve[1] = "hgs.relecloud.com:8080:127.0.0.1,nowhere";
	assert_int_equal(host_client_config_check(&c), -1);
	resolve[1] = "dc01.fabrikam.com:8088:127.0.0.3";

	/* round trip */
	assert_int_equal(host_client_config_save(s->h, &c), 0);
	assert_int_equal(host_client_config_load(s->h, &got), 0);
	assert_string_equal(got.attestation_url, c.attestation_url);
	assert_string_equal(got.key_protection_url, c.key_protection_url);
	assert_string_equal(got.fallback_attestation_url, c.fallback_attestation_url);
	assert_string_equal(got.fallback_key_protection_url, c.fallback_key_protection_url);
	assert_string_equal(got.dc_url, c.dc_url);
	assert_int_equal(got.n_resolve, 2);
	assert_string_equal(got.resolve[0], resolve[0]);
	assert_string_equal(got.resolve[1], resolve[1]);
	assert_null(got.resolve[2]);
	host_client_config_release(&got);
	host_client_config_release(NULL);

	/* an invalid configuration is not saved; a damaged file says how to fix it */
	c.key_protection_url = NULL;
	assert_int_equal(host_client_config_save(s->h, &c), -1);
	snprintf(path, sizeof(path), "%s/%s", s->host, HOST_CLIENT_FILE);
	assert_int_equal(hl_file_write(path, "{\"attestation_url\": 7}", 22, 0644), 0);
	assert_int_equal(host_client_config_load(s->h, &got), -1);
	assert_error_has("set-client-configuration");
	assert_null(got.attestation_url);
	assert_int_equal(hl_file_write(path, "{", 1, 0644), 0);
	assert_int_equal(host_client_config_load(s->h, &got), -1);
	assert_error_has(HOST_CLIENT_FILE);
}

/* ---- the HGS log entries of the answers ---- */

/* Entries are appended one a line, read back in order, entry 0 ignored, trimmed past the cap. */
static void test_log_ids(void **state)
{
	struct sandbox *s = *state;
	json_t *v = NULL, *e;
	char path[PATH_MAX];

	assert_int_equal(host_log_ids_load(s->host, &v), 0);
	assert_int_equal(json_array_size(v), 0);
	json_decref(v);
	assert_int_equal(host_log_id_add(s->h, "attestation", 7, "HGS02", "127.0.0.2"), 0);
	assert_int_equal(host_log_id_add(s->h, "key-release", 3, "HGS03", "127.0.0.3"), 0);
	assert_int_equal(host_log_id_add(s->h, "attestation", 0, "HGS01", "127.0.0.1"), 0);
	assert_int_equal(host_log_ids_load(s->host, &v), 0);
	assert_int_equal(json_array_size(v), 2);
	e = json_array_get(v, 0);
	assert_string_equal(json_string_value(json_object_get(e, "Kind")), "attestation");
	assert_int_equal(json_integer_value(json_object_get(e, "LogId")), 7);
	assert_string_equal(json_string_value(json_object_get(e, "Node")), "HGS02");
	assert_string_equal(json_string_value(json_object_get(e, "Address")), "127.0.0.2");
	e = json_array_get(v, 1);
	assert_string_equal(json_string_value(json_object_get(e, "Kind")), "key-release");
	json_decref(v);
	/* capped: past twice the cap, the last HOST_LOG_IDS_MAX lines are kept */
	for (long long i = 1; i <= 2 * HOST_LOG_IDS_MAX; i++)
		assert_int_equal(host_log_id_add(s->h, "attestation", 100 + i, "HGS01", ""), 0);
	assert_int_equal(host_log_ids_load(s->host, &v), 0);
	assert_int_equal(json_array_size(v), HOST_LOG_IDS_MAX + 1);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(v, 0), "LogId")),
			 100 + HOST_LOG_IDS_MAX);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(v, HOST_LOG_IDS_MAX),
							    "LogId")), 100 + 2 * HOST_LOG_IDS_MAX);
	json_decref(v);
	/* a damaged line is an error naming the file */
	snprintf(path, sizeof(path), "%s/%s", s->host, HOST_LOG_IDS_FILE);
	assert_int_equal(hl_file_write(path, "{\"LogId\": 1}\n{", 15, 0644), 0);
	assert_int_equal(host_log_ids_load(s->host, &v), -1);
	assert_error_has(HOST_LOG_IDS_FILE);
	assert_null(v);
}

/* ---- state ---- */

static void test_state(void **state)
{
	struct sandbox *s = *state;
	struct host_state st = { 0 }, got = { 0 };
	struct host_client_config c = { 0 };
	unsigned char cert[] = { 0x30, 0x03, 0x02, 0x01, 0x07 };
	json_t *j = NULL;
	time_t now = time(NULL);

	/* none yet */
	assert_int_equal(host_state_load(s->h, &got), 0);
	assert_string_equal(got.status, HOST_STATUS_UNKNOWN);
	assert_int_equal(got.attempts, 0);
	host_state_release(&got);

	snprintf(st.status, sizeof(st.status), "%s", "InsecureHostConfiguration");
	snprintf(st.substatus, sizeof(st.substatus), "%s", "DebugMode, Iommu");
	snprintf(st.reason, sizeof(st.reason), "%s", "boot debugging is enabled \"quoted\"");
	snprintf(st.mode, sizeof(st.mode), "tpm");
	snprintf(st.operation_mode, sizeof(st.operation_mode), "TrustTpm");
	snprintf(st.node, sizeof(st.node), "MyHgsService");
	snprintf(st.trigger, sizeof(st.trigger), "signal");
	snprintf(st.ak_node, sizeof(st.ak_node), "MyHgsService");
	snprintf(st.ak_signer, sizeof(st.ak_signer), "%064d", 7);
	st.fallback_in_use = 1;
	st.attempt_ms = (long long)now * 1000 + 123;
	st.attempts = 42;
	st.renew_at = now + 60;
	assert_int_equal(host_state_save(s->h, &st), 0);
	assert_int_equal(host_state_load(s->h, &got), 0);
	assert_string_equal(got.status, st.status);
	assert_string_equal(got.substatus, "DebugMode, Iommu");
	assert_string_equal(got.reason, st.reason);
	assert_string_equal(got.operation_mode, "TrustTpm");
	assert_string_equal(got.ak_signer, st.ak_signer);
	assert_int_equal(got.fallback_in_use, 1);
	assert_int_equal(got.attempt_ms, st.attempt_ms);
	assert_int_equal(got.attempts, 42);
	assert_int_equal(got.renew_at, st.renew_at);
	assert_int_equal(got.health_cert.len, 0);
	host_state_release(&got);

	/* Passed with a certificate, then Expired once it ran out */
	snprintf(st.status, sizeof(st.status), "%s", HOST_STATUS_PASSED);
	st.substatus[0] = st.reason[0] = '\0';
	st.health_cert.data = cert;
	st.health_cert.len = sizeof(cert);
	st.not_after = now + 3600;
	st.expires = now + 3600;
	assert_int_equal(host_state_save(s->h, &st), 0);
	st.health_cert.data = NULL;
	st.health_cert.len = 0;
	assert_int_equal(host_state_load(s->h, &got), 0);
	assert_int_equal(got.health_cert.len, sizeof(cert));
	assert_memory_equal(got.health_cert.data, cert, sizeof(cert));
	assert_string_equal(host_state_status(&got, now), HOST_STATUS_PASSED);
	assert_string_equal(host_state_status(&got, now + 3600), HOST_STATUS_EXPIRED);

	/* Get-HgsClientConfiguration: Local mode without a configuration */
	assert_int_equal(host_client_status_json(s->h, &c, &got, 0, now, &j), 0);
	assert_false(json_is_true(json_object_get(j, "IsHostGuarded")));
	assert_string_equal(json_string_value(json_object_get(j, "Mode")), "Local");
	assert_string_equal(json_string_value(json_object_get(j, "AttestationStatus")),
			    HOST_STATUS_NOT_CONFIGURED);
	json_decref(j);
	c.attestation_url = "http://hgs.relecloud.com/Attestation";
	c.key_protection_url = "http://hgs.relecloud.com/KeyProtection";
	assert_int_equal(host_client_status_json(s->h, &c, &got, 1234, now, &j), 0);
	assert_true(json_is_true(json_object_get(j, "IsHostGuarded")));
	assert_string_equal(json_string_value(json_object_get(j, "Mode")), "HostGuardianService");
	assert_string_equal(json_string_value(json_object_get(j, "AttestationOperationMode")),
			    "TrustTpm");
	assert_string_equal(json_string_value(json_object_get(j, "AttestationSubstatus")),
			    "NoInformation");
	assert_true(json_is_true(json_object_get(j, "IsFallbackInUse")));
	assert_int_equal(json_integer_value(json_object_get(j, "AgentPid")), 1234);
	/* the cmdlet's properties come first, in its order */
	assert_string_equal(json_object_iter_key(json_object_iter(j)), "IsHostGuarded");
	json_decref(j);
	assert_int_equal(host_client_status_json(s->h, &c, &got, 0, now + 7200, &j), 0);
	assert_false(json_is_true(json_object_get(j, "IsHostGuarded")));
	assert_string_equal(json_string_value(json_object_get(j, "AttestationStatus")),
			    HOST_STATUS_EXPIRED);
	json_decref(j);
	host_state_release(&got);
	host_state_release(NULL);
}

/* ---- the agent's schedule ---- */

static void test_schedule(void **state)
{
	struct host_state st = { 0 };
	time_t now = 1000000;
	int retry = HOST_RETRY_MIN_S;
	long want = HOST_RETRY_MIN_S;

	(void)state;
	snprintf(st.status, sizeof(st.status), "%s", HOST_STATUS_PASSED);
	st.expires = now + 8 * 3600;
	assert_int_equal(host_schedule(&st, now, &retry), 6 * 3600);
	assert_int_equal(host_schedule(&st, now + 8 * 3600 - 1, &retry), 1);
	/* a certificate already out: retried like a refusal */
	assert_int_equal(host_schedule(&st, now + 8 * 3600, &retry), HOST_RETRY_REFUSED_S);

	snprintf(st.status, sizeof(st.status), "%s", HOST_STATUS_TRANSIENT);
	for (int i = 0; i < 10; i++) {
		assert_int_equal(host_schedule(&st, now, &retry), want);
		want = want * 2 > HOST_RETRY_MAX_S ? HOST_RETRY_MAX_S : want * 2;
	}
	assert_int_equal(host_schedule(&st, now, &retry), HOST_RETRY_MAX_S);

	snprintf(st.status, sizeof(st.status), "%s", "InsecureHostConfiguration");
	assert_int_equal(host_schedule(&st, now, &retry), HOST_RETRY_REFUSED_S);
	assert_int_equal(retry, HOST_RETRY_MIN_S);
	snprintf(st.status, sizeof(st.status), "%s", HOST_STATUS_NOT_CONFIGURED);
	assert_int_equal(host_schedule(&st, now, &retry), -1);
}

/* ---- the TPM: lock, replay, borrowing ---- */

/* Write DIR/agent.json naming PID and the swtpm at ADDRESS ("ADDR:PORT"). */
static struct hl_pidfile fake_agent_pid = { "", -1 };

/*
 * Publish an agent for S as `host run` does: agent.pid claimed by this
 * process (once), agent.json naming PID and the swtpm at ADDRESS.
 */
static void fake_agent(struct sandbox *s, long pid, const char *address)
{
	char path[PATH_MAX], text[256], addr[40], *colon;
	int n;

	snprintf(path, sizeof(path), "%s/%s", s->host, HOST_PID_FILE);
	if (!fake_agent_pid.path[0])
		assert_int_equal(hl_pidfile_claim(&fake_agent_pid, path, NULL), 0);

	snprintf(addr, sizeof(addr), "%s", address);
	colon = strchr(addr, ':');
	assert_non_null(colon);
	*colon = '\0';
	n = snprintf(text, sizeof(text), "{\"pid\": %ld, \"swtpm_host\": \"%s\", \"swtpm_port\": %s}",
		     pid, addr, colon + 1);
	snprintf(path, sizeof(path), "%s/%s", s->host, HOST_AGENT_FILE);
	assert_int_equal(hl_file_write(path, text, (size_t)n, 0644), 0);
}

static void test_tpm_replay_lock(void **state)
{
	struct sandbox *s = *state;
	struct host_tpm *t = NULL, *t2 = NULL;
	struct hl_measured_boot *mb = NULL;
	struct host_agent_info ai;
	uint8_t pcrs[HL_TPM_PCR_COUNT][HL_TPM_SHA256_LEN], want[32];
	char *log = NULL, a1[40], a2[40];
	size_t len;
	struct hl_tpm *tpm;

	assert_int_equal(host_tpm_open(s->h, 1, 0, &t), 0);

	/* the PCRs hold the measured boot of the profile, the log file is its log */
	assert_int_equal(hl_measured_boot_build(&s->h->profile, &mb), 0);
	assert_non_null(tpm = host_tpm_connect(t));
	memset(pcrs, 0, sizeof(pcrs));
	assert_int_equal(hl_tpm_pcr_read(tpm, 0x70ff, pcrs), 0);
	for (unsigned i = 0; i < 16; i++) {
		if (!(0x70ffu & (1u << i)))
			continue;
		assert_int_equal(hl_measured_boot_pcr(mb, HL_TCGLOG_ALG_SHA256, i, want), 32);
		assert_memory_equal(pcrs[i], want, 32);
	}
	host_tpm_disconnect(t);
	log = tu_slurp(tu_path("%s/%s", s->host, HOST_TCGLOG_FILE), &len);
	assert_int_equal(len, mb->log_len);
	assert_memory_equal(log, mb->log, len);

	/* one swtpm per host: a second start is refused, naming the holder */
	assert_int_equal(host_tpm_open(s->h, 1, 0, &t2), -1);
	assert_null(t2);
	assert_error_has("in use by pid");
	/* without an agent.json, borrowing starts nothing either */
	assert_int_equal(host_agent_find(s->h, &ai), 0);
	assert_int_equal(host_tpm_open(s->h, 0, 1, &t2), -1);

	/* an agent (us, holding the lock) publishes its swtpm: borrowers use it */
	host_tpm_address(t, a1, sizeof(a1));
	fake_agent(s, (long)getpid(), a1);
	assert_int_equal(host_agent_find(s->h, &ai), 1);
	assert_int_equal(ai.pid, (long)getpid());
	assert_int_equal(host_tpm_open(s->h, 0, 1, &t2), 0);
	host_tpm_address(t2, a2, sizeof(a2));
	assert_string_equal(a1, a2);
	assert_non_null(host_tpm_connect(t2));
	assert_int_equal(hl_tpm_pcr_read(host_tpm_connect(t2), 0x1, pcrs), 0);
	host_tpm_close(t2);

	/* a dead agent's file is stale */
	fake_agent(s, 999999, a1);
	assert_int_equal(host_agent_find(s->h, &ai), 0);

	/* closing stops swtpm and frees the lock: a live pid alone is no agent */
	host_tpm_close(t);
	t = NULL;
	fake_agent(s, (long)getpid(), a1);
	assert_int_equal(host_agent_find(s->h, &ai), 0);
	assert_int_equal(host_tpm_open(s->h, 0, 0, &t), 0);
	host_tpm_close(t);
	host_tpm_close(NULL);
	/* an agent.json whose pid does not hold agent.pid is no agent */
	hl_pidfile_release(&fake_agent_pid);
	assert_int_equal(host_tpm_open(s->h, 1, 0, &t), 0);
	host_tpm_address(t, a1, sizeof(a1));
	fake_agent(s, (long)getpid(), a1);
	assert_int_equal(host_agent_find(s->h, &ai), 1);
	hl_pidfile_release(&fake_agent_pid);
	assert_int_equal(host_agent_find(s->h, &ai), 0);
	host_tpm_close(t);
	hl_measured_boot_free(mb);
	free(log);
}

/* ---- attester and attempts without an HGS ---- */

static void test_attester_attempts(void **state)
{
	struct sandbox *s = *state;
	struct host_client_config c = { 0 };
	struct host_attester *a = NULL;
	struct host_tpm *t = NULL;
	struct host_state st = { 0 };
	char path[PATH_MAX], *ak1 = NULL, *ak2 = NULL;
	size_t l1, l2;
	time_t before;

	assert_int_equal(host_tpm_open(s->h, 1, 0, &t), 0);
	assert_int_equal(host_attester_new(s->h, t, &a), 0);
	snprintf(path, sizeof(path), "%s/%s", s->host, HOST_AK_FILE);
	assert_int_equal(tu_mode_of(path), 0600);
	snprintf(path, sizeof(path), "%s/%s", s->host, HOST_TK_FILE);
	assert_int_equal(tu_mode_of(path), 0600);
	ak1 = tu_slurp(tu_path("%s/%s", s->host, HOST_AK_FILE), &l1);
	host_attester_free(a);
	a = NULL;
	/* the AK is kept: HGS pins it to the EK */
	assert_int_equal(host_attester_new(s->h, t, &a), 0);
	ak2 = tu_slurp(tu_path("%s/%s", s->host, HOST_AK_FILE), &l2);
	assert_int_equal(l1, l2);
	assert_memory_equal(ak1, ak2, l1);

	/* not configured: recorded, and no retry is planned */
	assert_int_equal(host_state_load(s->h, &st), 0);
	assert_int_equal(host_attempt(a, "start", &st), 0);
	assert_string_equal(st.status, HOST_STATUS_NOT_CONFIGURED);
	assert_int_equal(st.renew_at, 0);
	assert_int_equal(st.attempts, 1);

	/* an HGS nobody answers for: TransientError, retried with backoff */
	c.attestation_url = "http://hgs.relecloud.com:1/Attestation";
	c.key_protection_url = "http://hgs.relecloud.com:1/KeyProtection";
	c.resolve = (char *[]){ "hgs.relecloud.com:1:127.0.0.1", NULL };
	c.n_resolve = 1;
	assert_int_equal(host_client_config_save(s->h, &c), 0);
	before = time(NULL);
	assert_int_equal(host_attempt(a, "start", &st), 0);
	assert_string_equal(st.status, HOST_STATUS_TRANSIENT);
	assert_non_null(strstr(st.reason, "cannot reach"));
	assert_true(st.renew_at >= before + HOST_RETRY_MIN_S &&
		    st.renew_at <= time(NULL) + HOST_RETRY_MIN_S);
	assert_int_equal(host_attempt(a, "retry", &st), 0);
	assert_true(st.renew_at >= before + 2 * HOST_RETRY_MIN_S);
	assert_int_equal(st.attempts, 3);
	host_state_release(&st);
	assert_int_equal(host_state_load(s->h, &st), 0);
	assert_string_equal(st.status, HOST_STATUS_TRANSIENT);
	assert_string_equal(st.trigger, "retry");
	assert_int_equal(st.attempts, 3);

	/*
	 * A TransientError decides nothing: a health certificate still valid is
	 * kept until it runs out (the host still gets keys while HGS is down);
	 * one that ran out goes.
	 */
	{
		EVP_PKEY *key = NULL;
		X509 *cert = NULL;
		struct hl_buf der = { 0 };

		assert_int_equal(hl_key_generate(HL_KEY_EC_P256, &key), 0);
		assert_int_equal(tu_self_signed(key, "FabricHost1", &cert), 0);
		assert_int_equal(hl_cert_to_der(cert, &der), 0);
		st.health_cert = der;
		st.expires = time(NULL) + 3600;
		st.not_after = st.expires;
		assert_int_equal(host_attempt(a, "retry", &st), 0);
		assert_string_equal(st.status, HOST_STATUS_TRANSIENT);
		assert_int_equal(st.health_cert.len, der.len);
		host_state_release(&st);
		assert_int_equal(host_state_load(s->h, &st), 0);
		assert_true(st.health_cert.len > 0);
		assert_true(st.expires > time(NULL));
		st.expires = time(NULL) - 1;
		assert_int_equal(host_attempt(a, "retry", &st), 0);
		assert_int_equal(st.health_cert.len, 0);
		assert_int_equal(st.expires, 0);
		hl_cert_free(cert);
		hl_key_free(key);
	}
	host_state_release(&st);

	host_attester_free(a);
	host_attester_free(NULL);
	host_tpm_close(t);
	free(ak1);
	free(ak2);
}

/* ---- waiting for an agent ---- */

static void test_agent_request(void **state)
{
	struct sandbox *s = *state;
	const char *dies[] = { "sleep", "30", NULL };
	const char *deaf[] = { "sh", "-c", "trap '' USR1; echo ready; exec sleep 30", NULL };
	struct hl_child_opts o = { .flags = HL_CHILD_NO_DEATHSIG };
	char log[PATH_MAX];
	struct hl_child *c = NULL;
	struct host_state st = { 0 };

	/* an "agent" that dies of the request */
	assert_int_equal(hl_child_spawn(dies, &o, &c), 0);
	assert_int_equal(host_agent_request(s->h, (long)hl_child_pid(c), 5000, &st), -1);
	assert_error_has("stopped before it attested");
	hl_child_free(c);
	c = NULL;

	/* one that never answers (it ignores SIGUSR1 once it said so) */
	snprintf(log, sizeof(log), "%s/deaf.log", s->dir);
	o.log_path = log;
	assert_int_equal(hl_child_spawn(deaf, &o, &c), 0);
	assert_int_equal(hl_child_wait_log(c, "ready", 5000), 0);
	assert_int_equal(host_agent_request(s->h, (long)hl_child_pid(c), 300, &st), -1);
	assert_error_has("recorded no attestation within 300 ms");
	hl_child_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_check_name_listen),
		cmocka_unit_test_setup_teardown(test_create_layout, sandbox_setup, sandbox_teardown),
		cmocka_unit_test_setup_teardown(test_create_refuses, sandbox_setup, sandbox_teardown),
		cmocka_unit_test_setup_teardown(test_set_profile, sandbox_setup, sandbox_teardown),
		cmocka_unit_test_setup_teardown(test_client_config, sandbox_setup, sandbox_teardown),
		cmocka_unit_test_setup_teardown(test_log_ids, sandbox_setup, sandbox_teardown),
		cmocka_unit_test_setup_teardown(test_state, sandbox_setup, sandbox_teardown),
		cmocka_unit_test(test_schedule),
		cmocka_unit_test_setup_teardown(test_tpm_replay_lock, sandbox_setup,
						sandbox_teardown),
		cmocka_unit_test_setup_teardown(test_attester_attempts, sandbox_setup,
						sandbox_teardown),
		cmocka_unit_test_setup_teardown(test_agent_request, sandbox_setup, sandbox_teardown),
	};

	return cmocka_run_group_tests_name("host", tests, group_setup, group_teardown);
}
