/*
 * test_vmm.c - unit tests for sim/vmm (the fabric controller): cloud names,
 * clouds made of real host directories (a guarded host, a host in Local
 * mode, a folder that is no host), the two documents read back, damaged and
 * foreign documents refused, a host's recorded health, and the deploy's
 * refusals that need no host verb (an unknown cloud, a VM placed already, a
 * deploy of the same VM by another process).  The deploy itself runs the
 * hosts' verbs as child processes of the hgslab binary: tests/cli/vmm.sh and
 * the scenarios cover it end to end.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "hosts/host.h"
#include "lib/err.h"
#include "sim/vmm.h"
#include "tests/unit/testutil.h"

static char group_dir[128];
static char guarded[160];   /* FabricHost1, an HGS client configuration */
static char local[160];     /* FabricHost3, Local mode */

/* Make host NAME in DIR (its TPM manufactured). */
static int make_host(const char *dir, const char *name)
{
	struct host_new_params p = { 0 };

	p.dir = dir;
	p.name = name;
	p.domain = "fabrikam.com";
	p.listen = "127.0.0.1";
	if (host_create(&p) < 0) {
		fprintf(stderr, "host_create: %s\n", hl_error_last());
		return -1;
	}
	return 0;
}

/* The two hosts, once: FabricHost1 pointed at an HGS, FabricHost3 not. */
static int group_setup(void **state)
{
	struct host_client_config c = { 0 };
	struct host *h = NULL;
	int rc;

	(void)state;
	if (tu_mkdtemp(group_dir, sizeof(group_dir), "vmm") < 0)
		return -1;
	snprintf(guarded, sizeof(guarded), "%s/h1", group_dir);
	snprintf(local, sizeof(local), "%s/h3", group_dir);
	if (make_host(guarded, "FabricHost1") < 0 || make_host(local, "FabricHost3") < 0 ||
	    host_open(guarded, &h) < 0)
		return -1;
	c.attestation_url = (char *)"http://hgs.relecloud.com:8080/Attestation";
	c.key_protection_url = (char *)"http://hgs.relecloud.com:8080/KeyProtection";
	rc = host_client_config_save(h, &c);
	host_close(h);
	return rc;
}

static int group_teardown(void **state)
{
	(void)state;
	return tu_rmtree(group_dir);
}

/* A test's own fabric controller folder (not made yet). */
struct sandbox {
	char dir[TU_SANDBOX_DIR];
	char vmm[128];
};

static int sandbox_setup(void **state)
{
	struct sandbox *s = tu_sandbox_new(sizeof(*s), "vmm1");

	if (!s)
		return -1;
	snprintf(s->vmm, sizeof(s->vmm), "%s/vmm", s->dir);
	*state = s;
	return 0;
}

static int sandbox_teardown(void **state)
{
	return tu_sandbox_free(*state);
}

/* Cloud names: the VM name's rule, with their own messages. */
static void test_names(void **state)
{
	char long_name[80];

	(void)state;
	assert_int_equal(vmm_name_cloud("Cloud1"), 0);
	assert_int_equal(vmm_name_cloud("a.b_c-d"), 0);
	memset(long_name, 'c', 64);
	long_name[64] = '\0';
	assert_int_equal(vmm_name_cloud(long_name), 0);
	long_name[64] = 'c';
	long_name[65] = '\0';
	assert_int_equal(vmm_name_cloud(long_name), -1);
	assert_true(tu_error_has("it must have 1 to 64 characters"));
	assert_int_equal(vmm_name_cloud(""), -1);
	assert_string_equal(hl_error_last(),
			    "invalid cloud name '': it must have 1 to 64 characters");
	assert_int_equal(vmm_name_cloud(NULL), -1);
	assert_int_equal(vmm_name_cloud(".hidden"), -1);
	assert_string_equal(hl_error_last(),
			    "invalid cloud name '.hidden': it must not start with '.'");
	assert_int_equal(vmm_name_cloud("a/b"), -1);
	assert_string_equal(hl_error_last(), "invalid cloud name 'a/b': use letters, digits, '.', "
			    "'_' and '-' only");
}

/* new-cloud: guarded hosts only, once each, a cloud name once; read back in order. */
static void test_cloud_new(void **state)
{
	struct sandbox *s = *state;
	const char *one[] = { guarded }, *twice[] = { guarded, guarded }, *lm[] = { guarded, local };
	const char *none[] = { "/nonexistent/host" };
	json_t *cloud = NULL, *clouds = NULL, *h;

	assert_int_equal(vmm_cloud_new(s->vmm, "Cloud1", lm, 2, NULL), -1);
	assert_string_equal(hl_error_last(), "host 'FabricHost3' is not a guarded host (Local mode): "
			    "give it the HGS URLs with `hgslab host set-client-configuration` first");
	assert_int_equal(tu_exists(tu_path("%s/clouds.json", s->vmm)), 0);
	assert_int_equal(vmm_cloud_new(s->vmm, "Cloud1", twice, 2, NULL), -1);
	assert_string_equal(hl_error_last(), "host 'FabricHost1' is given twice");
	/* a folder that is not a host: bad input (exit 2) */
	assert_int_equal(vmm_cloud_new(s->vmm, "Cloud1", none, 1, NULL), VMM_BAD_INPUT);
	assert_true(strncmp(hl_error_last(), "cloud 'Cloud1': ", 16) == 0);
	assert_int_equal(vmm_cloud_new(s->vmm, "Cloud1", one, 0, NULL), -1);
	assert_string_equal(hl_error_last(), "a cloud holds 1 to 32 hosts, not 0");
	assert_int_equal(vmm_cloud_new(s->vmm, ".c", one, 1, NULL), -1);

	assert_int_equal(vmm_cloud_new(s->vmm, "Cloud1", one, 1, &cloud), 0);
	assert_string_equal(json_string_value(json_object_get(cloud, "name")), "Cloud1");
	h = json_array_get(json_object_get(cloud, "hosts"), 0);
	assert_string_equal(json_string_value(json_object_get(h, "name")), "FabricHost1");
	assert_string_equal(json_string_value(json_object_get(h, "dir")), guarded);
	json_decref(cloud);
	assert_int_equal(vmm_cloud_new(s->vmm, "Cloud1", one, 1, NULL), -1);
	assert_true(tu_error_has("cloud 'Cloud1' exists in"));
	assert_int_equal(vmm_cloud_new(s->vmm, "Cloud2", one, 1, NULL), 0);
	assert_int_equal(tu_mode_of(tu_path("%s/clouds.json", s->vmm)), 0644);
	assert_true(tu_file_has(tu_path("%s/clouds.json", s->vmm), "\"hgslab-vmm-clouds\""));

	assert_int_equal(vmm_clouds(s->vmm, &clouds), 0);
	assert_int_equal(json_array_size(clouds), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(clouds, 1), "name")),
			    "Cloud2");
	json_decref(clouds);
}

/* The documents: none yet is empty; damaged or foreign ones are refused with the file named. */
static void test_documents(void **state)
{
	static const char *const bad[] = {
		"{",
		"{\"format\":\"hgslab-vmm-placements\",\"version\":1,\"clouds\":[]}",
		"{\"format\":\"hgslab-vmm-clouds\",\"version\":2,\"clouds\":[]}",
		"{\"format\":\"hgslab-vmm-clouds\",\"version\":1}",
		"{\"format\":\"hgslab-vmm-clouds\",\"version\":1,\"clouds\":{}}",
	};
	struct sandbox *s = *state;
	json_t *list = NULL;
	size_t i;

	assert_int_equal(vmm_clouds(s->vmm, &list), 0);
	assert_int_equal(json_array_size(list), 0);
	json_decref(list);
	assert_int_equal(vmm_placements(s->vmm, &list), 0);
	assert_int_equal(json_array_size(list), 0);
	json_decref(list);
	assert_int_equal(tu_sh("mkdir -p '%s'", s->vmm), 0);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		tu_put(tu_path("%s/clouds.json", s->vmm), bad[i]);
		list = (json_t *)1;
		assert_int_equal(vmm_clouds(s->vmm, &list), -1);
		assert_null(list);
		assert_true(tu_error_has("clouds.json' is damaged"));
	}
	tu_put(tu_path("%s/clouds.json", s->vmm), bad[2]);
	assert_int_equal(vmm_clouds(s->vmm, &list), -1);
	assert_true(tu_error_has("version 2 is not supported; this hgslab reads version 1"));
}

/* A host's health is the status its agent recorded, expiry included. */
static void test_host_health(void **state)
{
	struct sandbox *s = *state;
	struct host_state st;
	struct host *h = NULL;
	char why[600];

	assert_int_equal(tu_sh("cp -a '%s' '%s/h'", guarded, s->dir), 0);
	assert_int_equal(host_open(tu_path("%s/h", s->dir), &h), 0);
	assert_int_equal(vmm_host_health(h->dir, why, sizeof(why)), 0);
	assert_string_equal(why, "Unknown");
	memset(&st, 0, sizeof(st));
	snprintf(st.status, sizeof(st.status), "InsecureHostConfiguration");
	snprintf(st.substatus, sizeof(st.substatus), "DebugMode, Iommu");
	assert_int_equal(host_state_save(h, &st), 0);
	assert_int_equal(vmm_host_health(h->dir, why, sizeof(why)), 0);
	assert_string_equal(why, "InsecureHostConfiguration (DebugMode, Iommu)");
	snprintf(st.status, sizeof(st.status), "Passed");
	st.substatus[0] = '\0';
	st.expires = time(NULL) + 3600;
	assert_int_equal(host_state_save(h, &st), 0);
	assert_int_equal(vmm_host_health(h->dir, why, sizeof(why)), 1);
	assert_string_equal(why, "Passed");
	st.expires = time(NULL) - 10;
	assert_int_equal(host_state_save(h, &st), 0);
	assert_int_equal(vmm_host_health(h->dir, why, sizeof(why)), 0);
	assert_string_equal(why, "Expired");
	host_close(h);
	assert_int_equal(vmm_host_health("/nonexistent/host", why, sizeof(why)), -1);
}

/* What a deploy refuses before it asks any host. */
static void test_deploy_refusals(void **state)
{
	struct sandbox *s = *state;
	const char *one[] = { guarded };
	struct vmm_deploy d = { 0 };
	json_t *out = (json_t *)1;
	int fd;

	d.cloud = "Nope";
	d.name = "Web01";
	d.template = "/nonexistent/t.tdisk";
	d.pdk = "/nonexistent/p.pdk";
	assert_int_equal(vmm_deploy(s->vmm, &d, &out), -1);
	assert_null(out);
	assert_true(tu_error_has("no cloud 'Nope' in"));
	assert_int_equal(vmm_cloud_new(s->vmm, "Cloud1", one, 1, NULL), 0);
	d.cloud = "Cloud1";

	/* another process deploys Web01 now */
	fd = open(tu_path("%s/.deploy-Web01.lock", s->vmm), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(flock(fd, LOCK_EX), 0);
	assert_int_equal(vmm_deploy(s->vmm, &d, &out), -1);
	assert_string_equal(hl_error_last(), "VM 'Web01' is being deployed by another process now");
	close(fd);

	/* Web01 is placed already */
	tu_put(tu_path("%s/placements.json", s->vmm),
	       "{\"format\":\"hgslab-vmm-placements\",\"version\":1,\"placements\":[{\"vm\":"
	       "\"Web01\",\"cloud\":\"Cloud1\",\"host\":\"FabricHost1\"}]}");
	assert_int_equal(vmm_deploy(s->vmm, &d, &out), -1);
	assert_string_equal(hl_error_last(),
			    "VM 'Web01' is already placed on host 'FabricHost1' (cloud 'Cloud1')");
	assert_null(out);
	assert_int_equal(vmm_placements(s->vmm, &out), 0);
	assert_int_equal(json_array_size(out), 1);
	json_decref(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test_setup_teardown(test_cloud_new, sandbox_setup, sandbox_teardown),
		cmocka_unit_test_setup_teardown(test_documents, sandbox_setup, sandbox_teardown),
		cmocka_unit_test_setup_teardown(test_host_health, sandbox_setup, sandbox_teardown),
		cmocka_unit_test_setup_teardown(test_deploy_refusals, sandbox_setup,
						sandbox_teardown),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
