/*
 * test_host_provision.c - unit tests for hosts/provision (new-shielded-vm on
 * a guarded host) without QEMU or KPS: the host's check of a template, a
 * .pdk and a .fsk made here with proto/ (good ones; a flipped image byte, a
 * qualifier for another template, version or signer, a .pdk re-signed by
 * someone else, and unreadable files: refused or bad input), the run's
 * status file and the cleaning of stale runs, and the run itself against a
 * fake qemu-system-x86_64 whose "guest" is a script on the agent channel:
 * it records the host's lines and answers verified/provisioned, or an error
 * at stage template (the secrets key is then never sent), or QEMU ends, or
 * the run is killed by SIGTERM; each failure leaves no VM, no staging
 * folder and a Failed status.  The swtpm of each run is the real one.
 * With --start (hosts_vm_provision_start) the VM keeper runs the boot: the
 * fake QEMU gets specialize + hgslab.then=run, QMP and the console a
 * started VM gets; the VM is installed under the running guest with its
 * keeper's pid file, stop-vm powers it off over QMP; a refusal leaves no
 * VM, no keeper and a Failed status.
 * A provisioned VM keeps its .pdk as policy.sig, the tenant's signed word
 * on its policy: start-vm refuses it when config.json was edited, when the
 * .pdk is another key protector's, truncated or missing, and runs the
 * genuine one with the console the .pdk's policy gives.
 *
 * Each test works in its own mkdtemp sandbox (host folder, files, fake).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "hosts/host.h"
#include "hosts/provision.h"
#include "hosts/vm.h"
#include "lib/crypto.h"
#include "lib/err.h"
#include "lib/fileio.h"
#include "lib/json.h"
#include "proto/fsk.h"
#include "proto/keyprotector.h"
#include "proto/pdk.h"
#include "proto/vsc.h"
#include "proto/vsc_tdisk.h"
#include "proto/vsc_viq.h"
#include "tests/unit/testutil.h"

#define SECRET "answer-file-secret-Xyzzy-7781"
#define IMAGE_BYTES 65536

/* What every test shares, made once: signers, the owner, a template image. */
static EVP_PKEY *signer_key, *other_key, *owner_skey, *owner_ekey;
static X509 *signer_cert, *other_cert, *owner_scert, *owner_ecert;
static unsigned char image[IMAGE_BYTES];

/* One test's sandbox. */
struct sandbox {
	char dir[TU_SANDBOX_DIR];   /* first: the scratch folder (tu_sandbox_new) */
	char hostdir[128];
	char guest[128];            /* the fake's stand-in guest (tu_fake_qemu_install) */
	char tdisk[128], pdk[128], fsk[128];
	char args[128], got[128], script[128];
	struct hl_buf tk;           /* the TK of the sandbox's .pdk */
	char pdk_id[HL_KP_ID_SIZE];
	char *old_path;
	struct host h;
};

static int group_setup(void **state)
{
	(void)state;
	if (hl_key_generate(HL_KEY_RSA2048, &signer_key) < 0 ||
	    tu_self_signed(signer_key, "Template Signer", &signer_cert) < 0 ||
	    hl_key_generate(HL_KEY_EC_P256, &other_key) < 0 ||
	    tu_self_signed(other_key, "Another Signer", &other_cert) < 0 ||
	    hl_key_generate(HL_KEY_RSA2048, &owner_skey) < 0 ||
	    tu_self_signed(owner_skey, "Owner", &owner_scert) < 0 ||
	    hl_key_generate(HL_KEY_RSA2048, &owner_ekey) < 0 ||
	    tu_self_signed(owner_ekey, "Owner", &owner_ecert) < 0 ||
	    hl_crypto_random(image, sizeof(image)) < 0)
		return -1;
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	hl_key_free(signer_key);
	hl_key_free(other_key);
	hl_key_free(owner_skey);
	hl_key_free(owner_ekey);
	hl_cert_free(signer_cert);
	hl_cert_free(other_cert);
	hl_cert_free(owner_scert);
	hl_cert_free(owner_ecert);
	return 0;
}

/* Write the template PATH: the image signed by KEY/CERT as NAME VERSION. */
static void write_template(const char *path, const char *name, const char *version, X509 *cert,
			   EVP_PKEY *key)
{
	struct hl_vsc_spec spec = { 0 };
	struct hl_buf der = { NULL, 0 }, trailer = { NULL, 0 };
	FILE *f;

	spec.name = name;
	spec.disk_bytes = IMAGE_BYTES;
	spec.signed_at = time(NULL);
	assert_ok(hl_vsc_version_parse(version, &spec.version));
	assert_ok(hl_crypto_sha256(image, sizeof(image), spec.disk_sha256));
	assert_ok(hl_vsc_sign(&spec, cert, key, &der));
	assert_ok(hl_tdisk_trailer_build(IMAGE_BYTES, der.data, der.len, &trailer));
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(image, 1, sizeof(image), f), sizeof(image));
	assert_int_equal(fwrite(trailer.data, 1, trailer.len, f), trailer.len);
	assert_int_equal(fclose(f), 0);
	hl_buf_free(&der);
	hl_buf_free(&trailer);
}

/* A qualifier: NAME, VERSION with RULE, signed by CERT. */
static struct hl_viq viq(const char *name, const char *version, enum hl_viq_rule rule, X509 *cert)
{
	struct hl_viq q;

	memset(&q, 0, sizeof(q));
	snprintf(q.name, sizeof(q.name), "%s", name);
	assert_ok(hl_vsc_version_parse(version, &q.disk_version));
	q.rule = rule;
	assert_ok(hl_cert_thumbprint(cert, q.signer_thumbprint));
	return q;
}

/*
 * Write the .pdk PATH with qualifier Q, owned by Owner; its TK into TK (may
 * be NULL) and its id into ID (may be NULL).
 */
static void write_pdk(const char *path, const struct hl_viq *q, struct hl_buf *tk, char *id)
{
	struct hl_kp_owner o = { "Owner", owner_scert, owner_skey, owner_ecert, owner_ekey };
	struct hl_pdk_secrets sec;
	struct hl_pdk_spec spec;
	struct hl_buf out = { NULL, 0 }, t = { NULL, 0 };
	struct hl_pdk *p = NULL;

	memset(&sec, 0, sizeof(sec));
	sec.has_answer_file = 1;
	snprintf(sec.answer_file.name, sizeof(sec.answer_file.name), "unattend.txt");
	sec.answer_file.content.data = (unsigned char *)"AdminPassword=" SECRET "\n"
							"ComputerName=@ComputerName@\n";
	sec.answer_file.content.len = strlen((char *)sec.answer_file.content.data);
	memset(&spec, 0, sizeof(spec));
	spec.owner = &o;
	spec.policy = "encryption-supported";
	spec.qualifiers = q;
	spec.n_qualifiers = 1;
	spec.secrets = &sec;
	spec.created = time(NULL);
	assert_ok(hl_pdk_create(&spec, &out, &t));
	assert_ok(hl_file_write(path, out.data, out.len, 0644));
	if (id) {
		assert_ok(hl_pdk_parse(out.data, out.len, &p));
		snprintf(id, HL_KP_ID_SIZE, "%s", p->id);
		hl_pdk_free(p);
	}
	if (tk)
		*tk = t;
	else
		hl_buf_free(&t);
	hl_buf_free(&out);
}

static int sandbox_setup(void **state)
{
	struct sandbox *s = tu_sandbox_new(sizeof(*s), "hpv");
	struct hl_fsk_value v = { "@ComputerName@", (char *)"Web01" };
	struct hl_buf fsk = { NULL, 0 };
	struct hl_viq q;

	if (!s)
		return -1;
	snprintf(s->hostdir, sizeof(s->hostdir), "%s/host", s->dir);
	snprintf(s->guest, sizeof(s->guest), "%s/guest", s->dir);
	snprintf(s->tdisk, sizeof(s->tdisk), "%s/ws2016.tdisk", s->dir);
	snprintf(s->pdk, sizeof(s->pdk), "%s/web.pdk", s->dir);
	snprintf(s->fsk, sizeof(s->fsk), "%s/web01.fsk", s->dir);
	snprintf(s->args, sizeof(s->args), "%s/qemu.args", s->dir);
	snprintf(s->got, sizeof(s->got), "%s/got.txt", s->dir);
	snprintf(s->script, sizeof(s->script), "%s/guest.sh", s->dir);
	s->h.dir = s->hostdir;
	snprintf(s->h.name, sizeof(s->h.name), "FabricHost1");
	if (hl_file_mkdirs(s->hostdir, 0700) < 0 || tu_fake_qemu_install(s->dir, &s->old_path) < 0)
		return -1;
	setenv("FAKE_QEMU_ARGS", s->args, 1);
	setenv("FAKE_QEMU_SLEEP", "5", 1);
	write_template(s->tdisk, "WindowsServer2016", "1.0.0.0", signer_cert, signer_key);
	q = viq("WindowsServer2016", "1.0.0.0", HL_VIQ_GREATER_THAN_OR_EQUALS, signer_cert);
	write_pdk(s->pdk, &q, &s->tk, s->pdk_id);
	if (hl_fsk_make(&v, 1, &fsk) < 0 || hl_file_write(s->fsk, fsk.data, fsk.len, 0644) < 0)
		return -1;
	hl_buf_free(&fsk);
	*state = s;
	return 0;
}

static int sandbox_teardown(void **state)
{
	struct sandbox *s = *state;

	tu_fake_qemu_remove(s->old_path);
	hl_buf_free(&s->tk);
	return tu_sandbox_free(s);
}

/* ---- the host's check ---- */

/* hosts_provision_check of the sandbox's files with TEMPLATE, PDK, FSK in their place (NULL: the sandbox's). */
static int check(struct sandbox *s, const char *template, const char *pdk, const char *fsk)
{
	struct hosts_provision_input in;
	int r;

	r = hosts_provision_check(template ? template : s->tdisk, pdk ? pdk : s->pdk,
				  fsk ? fsk : s->fsk, &in);
	hosts_provision_input_release(&in);
	return r;
}

static void test_check(void **state)
{
	struct sandbox *s = *state;
	struct hosts_provision_input in;

	if (hosts_provision_check(s->tdisk, s->pdk, s->fsk, &in) != 0)
		fail_msg("check: %s", hl_error_last());
	assert_int_equal(in.image_bytes, IMAGE_BYTES);
	assert_string_equal(in.vsc->name, "WindowsServer2016");
	assert_int_equal(in.qualifier, 0);
	assert_string_equal(in.pdk->policy, "encryption-supported");
	assert_string_equal(hl_fsk_get(in.fsk, "@ComputerName@"), "Web01");
	assert_true(in.template_path[0] == '/');
	hosts_provision_input_release(&in);
	/* no .fsk is fine */
	assert_int_equal(hosts_provision_check(s->tdisk, s->pdk, NULL, &in), 0);
	assert_null(in.fsk);
	assert_null(in.fsk_bytes.data);
	hosts_provision_input_release(&in);
	hosts_provision_input_release(NULL);
}

/* Invert the byte at OFFSET of file PATH (a change whatever the byte was). */
static void flip_byte(const char *path, long offset)
{
	FILE *f = fopen(path, "r+b");
	int c;

	assert_non_null(f);
	assert_int_equal(fseek(f, offset, SEEK_SET), 0);
	c = fgetc(f);
	assert_int_not_equal(c, EOF);
	assert_int_equal(fseek(f, offset, SEEK_SET), 0);
	assert_int_equal(fputc(c ^ 0xff, f), c ^ 0xff);
	assert_int_equal(fclose(f), 0);
}

static void test_check_refuses(void **state)
{
	struct sandbox *s = *state;
	PATH_VAR(altered, "%s/altered.tdisk", s->dir);
	PATH_VAR(other, "%s/other.pdk", s->dir);
	PATH_VAR(plain, "%s/plain.img", s->dir);
	struct hl_viq q;

	/* a byte of the image flipped after signing */
	assert_int_equal(tu_sh("cp '%s' '%s'", s->tdisk, altered), 0);
	flip_byte(altered, 1000);
	assert_int_equal(check(s, altered, NULL, NULL), -1);
	assert_error_has("changed after it was signed");
	/* the version rule not met */
	q = viq("WindowsServer2016", "2.0.0.0", HL_VIQ_GREATER_THAN_OR_EQUALS, signer_cert);
	write_pdk(other, &q, NULL, NULL);
	assert_int_equal(check(s, NULL, other, NULL), -1);
	assert_error_has("fits none of the 1 volume ID qualifiers");
	/* another template name */
	q = viq("WindowsServer2019", "1.0.0.0", HL_VIQ_EQUALS, signer_cert);
	write_pdk(other, &q, NULL, NULL);
	assert_int_equal(check(s, NULL, other, NULL), -1);
	assert_error_has("fits none");
	/* a signer the .pdk does not trust */
	q = viq("WindowsServer2016", "1.0.0.0", HL_VIQ_EQUALS, other_cert);
	write_pdk(other, &q, NULL, NULL);
	assert_int_equal(check(s, NULL, other, NULL), -1);
	assert_error_has("fits none");
	/* a .pdk whose body was re-signed by a key that is not its KP's owner's */
	assert_int_equal(tu_sh("jq -c --arg s \"$(jq -r .signature '%s' | sed 's/^\\(.\\{20\\}\\)A/\\1B/; "
			       "t; s/^\\(.\\{20\\}\\)./\\1A/')\" '.signature = $s' '%s' > '%s'", s->pdk, s->pdk, other), 0);
	if (tu_sh("cmp -s '%s' '%s'", s->pdk, other) == 0 ||
	    tu_sh("jq -e '.signature' '%s' >/dev/null", other) != 0)
		fail_msg("the altered .pdk was not written");
	assert_int_equal(check(s, NULL, other, NULL), -1);
	assert_error_has("does not verify");
	/* bad input: truncated, missing, foreign, not protected */
	assert_int_equal(tu_sh("head -c 100 '%s' > '%s'", s->pdk, other), 0);
	assert_int_equal(check(s, NULL, other, NULL), HOSTS_PROVISION_BAD_INPUT);
	assert_int_equal(check(s, NULL, tu_path("%s/nothing.pdk", s->dir), NULL),
			 HOSTS_PROVISION_BAD_INPUT);
	assert_int_equal(check(s, NULL, s->fsk, NULL), HOSTS_PROVISION_BAD_INPUT);
	assert_int_equal(check(s, NULL, NULL, s->pdk), HOSTS_PROVISION_BAD_INPUT);
	assert_int_equal(tu_sh("head -c %d '%s' > '%s'", IMAGE_BYTES, s->tdisk, plain), 0);
	assert_int_equal(check(s, plain, NULL, NULL), HOSTS_PROVISION_BAD_INPUT);
	assert_error_has("not a protected template");
	assert_int_equal(check(s, tu_path("%s/nothing.tdisk", s->dir), NULL, NULL),
			 HOSTS_PROVISION_BAD_INPUT);
}

/* ---- the status file and stale runs ---- */

/* Start a process whose command line holds "new-shielded-vm", in its own group. */
static pid_t fake_run(void)
{
	pid_t pid = fork();

	if (pid == 0) {
		setpgid(0, 0);
		execl("/bin/sh", "sh", "-c", "sleep 30; :", "new-shielded-vm", (char *)NULL);
		_exit(127);
	}
	return pid;
}

/* The status file of VM NAME's run (the dot file) as JSON. */
static json_t *status_of(struct sandbox *s, const char *name)
{
	json_t *st = NULL;
	char *text = tu_slurp(tu_path("%s/vms/.provision-%s.json", s->hostdir, name), NULL);

	assert_int_equal(hl_json_parse(text, strlen(text), 0, &st), 0);
	free(text);
	return st;
}

static void test_begin_and_status(void **state)
{
	struct sandbox *s = *state;
	struct hosts_provision *p = NULL;
	json_t *st = NULL;
	pid_t pid;
	int i;

	assert_int_equal(hosts_provision_status(&s->h, "vm1", &st), -1);
	assert_error_has("was never provisioned");
	assert_int_equal(hosts_provision_begin(&s->h, "../x", &p), -1);
	assert_error_has("bad VM name");
	/* begin: Checking, this process */
	assert_ok(hosts_provision_begin(&s->h, "vm1", &p));
	st = status_of(s, "vm1");
	assert_string_equal(json_string_value(json_object_get(st, "phase")), "Checking");
	assert_string_equal(json_string_value(json_object_get(st, "status")), "InProgress");
	assert_int_equal(json_integer_value(json_object_get(st, "pid")), getpid());
	json_decref(st);
	assert_ok(hosts_provision_phase(p, HOSTS_PROVISION_RELEASING_KEY));
	st = status_of(s, "vm1");
	assert_string_equal(json_string_value(json_object_get(st, "phase")), "ReleasingKey");
	assert_int_equal(json_integer_value(json_object_get(st, "progress")), 15);
	json_decref(st);
	hosts_provision_fail(p, "KPS said no");
	hosts_provision_end(p);
	p = NULL;
	assert_ok(hosts_provision_status(&s->h, "vm1", &st));
	assert_string_equal(json_string_value(json_object_get(st, "status")), "Failed");
	assert_string_equal(json_string_value(json_object_get(st, "error")), "KPS said no");
	assert_int_equal(json_integer_value(json_object_get(st, "progress")), 15);
	json_decref(st);
	/* a live run of another process: refused, and its staging folder kept */
	pid = fake_run();
	for (i = 0; i < 300 && !tu_exists(tu_path("/proc/%d/cmdline", pid)); i++)
		usleep(10000);
	usleep(50000);
	assert_int_equal(mkdir(tu_path("%s/vms/.provision-AbCdEf", s->hostdir), 0700), 0);
	tu_put(tu_path("%s/vms/.provision-vm2.json", s->hostdir),
	       tu_path("{\"version\":1,\"name\":\"vm2\",\"phase\":\"Booting\",\"progress\":25,"
		       "\"status\":\"InProgress\",\"pid\":%d,\"staging\":\".provision-AbCdEf\"}", pid));
	assert_ok(hosts_provision_status(&s->h, "vm2", &st));
	assert_string_equal(json_string_value(json_object_get(st, "status")), "InProgress");
	json_decref(st);
	assert_int_equal(hosts_provision_begin(&s->h, "vm2", &p), -1);
	assert_error_has("is being provisioned on host 'FabricHost1' by process");
	/* another VM's run meanwhile cleans nothing of it, but a folder nobody owns goes */
	assert_int_equal(mkdir(tu_path("%s/vms/.provision-Orphan", s->hostdir), 0700), 0);
	assert_ok(hosts_provision_begin(&s->h, "vm3", &p));
	hosts_provision_end(p);
	p = NULL;
	assert_true(tu_exists(tu_path("%s/vms/.provision-AbCdEf", s->hostdir)));
	assert_false(tu_exists(tu_path("%s/vms/.provision-Orphan", s->hostdir)));
	/* the run's process is gone: Failed, and the next run removes its folder */
	kill(-pid, SIGKILL);
	waitpid(pid, NULL, 0);
	assert_ok(hosts_provision_status(&s->h, "vm2", &st));
	assert_string_equal(json_string_value(json_object_get(st, "status")), "Failed");
	assert_non_null(strstr(json_string_value(json_object_get(st, "error")), "ended before it finished"));
	json_decref(st);
	assert_ok(hosts_provision_begin(&s->h, "vm4", &p));
	hosts_provision_end(p);
	assert_false(tu_exists(tu_path("%s/vms/.provision-AbCdEf", s->hostdir)));
	st = status_of(s, "vm2");
	assert_string_equal(json_string_value(json_object_get(st, "status")), "Failed");
	json_decref(st);
	/* a VM the host has is refused */
	assert_int_equal(mkdir(tu_path("%s/vms/vm5", s->hostdir), 0700), 0);
	assert_int_equal(hosts_provision_begin(&s->h, "vm5", &p), -1);
	assert_error_has("already has VM 'vm5'");
}

/* ---- the run, against the fake guest ---- */

/*
 * The fake guest: "started", then the host's first line into GOT; then
 * AFTER_FIRST (shell), e.g. the "verified" event, a second read and the
 * "provisioned" event.
 */
static void fake_guest(struct sandbox *s, const char *after_first)
{
	tu_put(s->script, tu_path("#!/bin/sh\n"
				  "echo '{\"event\":\"started\",\"mode\":\"specialize\"}'\n"
				  "read -r a; printf '%%s\\n' \"$a\" > '%s'\n%s\n", s->got, after_first));
	assert_int_equal(chmod(s->script, 0755), 0);
	setenv("FAKE_QEMU_GUEST", s->script, 1);
}

/* The guest answers as a real one that accepts the template. */
static const char guest_accepts[] =
	"echo '{\"event\":\"verified\",\"template\":\"WindowsServer2016\"}'\n"
	"read -r b; printf '%s\\n' \"$b\" >> \"$(dirname \"$0\")/got.txt\"\n"
	"echo '{\"event\":\"provisioned\",\"computer_name\":\"Web01\",\"bytes\":65536}'";

/* Begin, check and run VM NAME in S; the run's return. */
static int provision(struct sandbox *s, const char *name, json_t **report)
{
	struct hosts_provision_opts o = { 0 };
	struct hosts_provision_input in;
	struct hosts_provision *p = NULL;
	int rc;

	assert_ok(hosts_provision_begin(&s->h, name, &p));
	assert_ok(hosts_provision_check(s->tdisk, s->pdk, s->fsk, &in));
	o.guest_dir = s->guest;
	o.accel = "tcg";
	o.wait_s = 20;
	rc = hosts_provision_run(p, &in, &s->tk, &o, report);
	hosts_provision_input_release(&in);
	hosts_provision_end(p);
	return rc;
}

/* The lines the fake guest got, split. */
static void got_lines(struct sandbox *s, json_t **first, json_t **second)
{
	char *text = tu_slurp(s->got, NULL), *nl = strchr(text, '\n');

	*first = *second = NULL;
	assert_non_null(nl);
	*nl = '\0';
	assert_int_equal(hl_json_parse(text, strlen(text), 0, first), 0);
	if (nl[1])
		assert_int_equal(hl_json_parse(nl + 1, strlen(nl + 1), 0, second), 0);
	free(text);
}

/* Nothing of a run is left in vms/ but status files (and VMs in KEEP). */
static void only_status_left(struct sandbox *s, const char *keep)
{
	assert_int_equal(tu_sh("cd '%s/vms' && test -z \"$(ls -A | grep -v '^\\.provision-.*\\.json$' "
			       "| grep -vx '%s')\"", s->hostdir, keep ? keep : ""), 0);
}

static void test_run(void **state)
{
	struct sandbox *s = *state;
	PATH_VAR(vmdir, "%s/vms/vm1", s->hostdir);
	unsigned char want[HL_PDK_SECRETS_KEY_LEN];
	unsigned char *got = NULL;
	char *kp = NULL, *pdk = NULL, *fsk = NULL;
	size_t got_len = 0, kp_len = 0, pdk_len = 0, fsk_len = 0;
	json_t *report = NULL, *first, *second, *cfg = NULL, *st = NULL;

	fake_guest(s, guest_accepts);
	if (provision(s, "vm1", &report) != 0)
		fail_msg("run: %s", hl_error_last());
	assert_string_equal(json_string_value(json_object_get(report, "computer_name")), "Web01");
	json_decref(report);
	/* the guest got the .pdk and .fsk first, the secrets key derived from the TK second */
	got_lines(s, &first, &second);
	assert_non_null(second);
	assert_ok(hl_file_read(s->pdk, 1 << 22, &pdk, &pdk_len));
	assert_ok(hl_json_get_base64(first, "pdk", &got, &got_len));
	assert_int_equal(got_len, pdk_len);
	assert_memory_equal(got, pdk, pdk_len);
	free(got);
	assert_ok(hl_file_read(s->fsk, 1 << 20, &fsk, &fsk_len));
	assert_ok(hl_json_get_base64(first, "fsk", &got, &got_len));
	assert_int_equal(got_len, fsk_len);
	assert_memory_equal(got, fsk, fsk_len);
	free(got);
	assert_ok(hl_pdk_secrets_key(s->tk.data, s->tk.len, s->pdk_id, want));
	assert_ok(hl_json_get_base64(second, "secrets_key", &got, &got_len));
	assert_int_equal(got_len, sizeof(want));
	assert_memory_equal(got, want, sizeof(want));
	free(got);
	json_decref(first);
	json_decref(second);
	/* the VM: config (the .pdk's policy), the .pdk's KP, disk, vTPM, status; no scratch */
	{
		char *text = tu_slurp(tu_path("%s/config.json", vmdir), NULL);

		assert_ok(hl_json_parse(text, strlen(text), 0, &cfg));
		free(text);
	}
	assert_string_equal(json_string_value(json_object_get(cfg, "policy")), "encryption-supported");
	assert_string_equal(json_string_value(json_object_get(cfg, "name")), "vm1");
	assert_string_equal(json_string_value(json_object_get(cfg, "kp_id")), s->pdk_id);
	assert_int_equal(json_integer_value(json_object_get(cfg, "disk_size")), IMAGE_BYTES + (16 << 20));
	json_decref(cfg);
	assert_ok(hl_file_read(tu_path("%s/key-protector.kp", vmdir), 1 << 20, &kp, &kp_len));
	{
		struct hl_pdk *p = NULL;

		assert_ok(hl_pdk_parse(pdk, pdk_len, &p));
		assert_int_equal(kp_len, p->kp_bytes.len);
		assert_memory_equal(kp, p->kp_bytes.data, kp_len);
		hl_pdk_free(p);
	}
	assert_int_equal(tu_mode_of(tu_path("%s/disk.img", vmdir)), 0600);
	assert_int_equal(tu_mode_of(tu_path("%s/vtpm", vmdir)), 0700);
	assert_false(tu_exists(tu_path("%s/agent.sock", vmdir)));
	assert_false(tu_exists(tu_path("%s/console.log", vmdir)));
	assert_ok(hosts_provision_status(&s->h, "vm1", &st));
	assert_string_equal(json_string_value(json_object_get(st, "status")), "Completed");
	assert_string_equal(json_string_value(json_object_get(st, "phase")), "Provisioned");
	assert_int_equal(json_integer_value(json_object_get(st, "progress")), 100);
	assert_string_equal(json_string_value(json_object_get(st, "computer_name")), "Web01");
	assert_string_equal(json_string_value(json_object_get(st, "template")),
			    "WindowsServer2016 1.0.0.0");
	json_decref(st);
	assert_true(tu_exists(tu_path("%s/provisioning.json", vmdir)));
	only_status_left(s, "vm1");
	assert_false(tu_exists(tu_path("%s/vms/.provision-vm1.json", s->hostdir)));
	/* the device the guest reads the template from, read-only, and the mode */
	assert_true(tu_file_has(s->args, tu_path("file=%s,if=none,id=template,format=raw,readonly=on",
						 s->tdisk)));
	assert_true(tu_file_has(s->args, "hgslab.mode=specialize"));
	/* neither the TK nor the secrets key in any file of the host */
	{
		char hex[2 * HL_KP_TK_LEN + 1];

		assert_ok(hl_crypto_hex_encode(s->tk.data, s->tk.len, hex, sizeof(hex)));
		assert_int_not_equal(tu_sh("grep -rqiF '%s' '%s'", hex, s->hostdir), 0);
		assert_ok(hl_crypto_hex_encode(want, sizeof(want), hex, sizeof(hex)));
		assert_int_not_equal(tu_sh("grep -rqiF '%s' '%s'", hex, s->hostdir), 0);
	}
	/* a second VM of the same name is refused */
	assert_int_equal(hosts_provision_begin(&s->h, "vm1", &(struct hosts_provision *){ NULL }), -1);
	assert_error_has("already has VM 'vm1'");
	free(kp);
	free(pdk);
	free(fsk);
}

static void test_run_guest_refuses(void **state)
{
	struct sandbox *s = *state;
	json_t *report = NULL, *first, *second, *st = NULL;

	/* the guest finds the template changed: error at stage template, no secrets key asked */
	fake_guest(s, "echo '{\"event\":\"error\",\"stage\":\"template\",\"reason\":\"the template "
		      "disk changed after its signature was checked\"}'\nsleep 2");
	assert_int_equal(provision(s, "vm1", &report), -1);
	assert_null(report);
	assert_error_has("at stage template: the template disk changed");
	got_lines(s, &first, &second);
	assert_non_null(first);
	assert_null(second);
	json_decref(first);
	only_status_left(s, NULL);
	assert_ok(hosts_provision_status(&s->h, "vm1", &st));
	assert_string_equal(json_string_value(json_object_get(st, "status")), "Failed");
	assert_string_equal(json_string_value(json_object_get(st, "phase")), "Failed");
	assert_int_equal(json_integer_value(json_object_get(st, "progress")), 40);
	assert_non_null(strstr(json_string_value(json_object_get(st, "error")), "stage template"));
	assert_true(json_is_null(json_object_get(st, "staging")));
	json_decref(st);
	/* QEMU ends at once: the same cleanup */
	unsetenv("FAKE_QEMU_GUEST");
	setenv("FAKE_QEMU_SLEEP", "0", 1);
	assert_int_equal(provision(s, "vm1", &report), -1);
	assert_error_has("QEMU ended before the guest reported 'started'");
	only_status_left(s, NULL);
	/* the guest never says "verified": the deadline, the same cleanup */
	fake_guest(s, "sleep 10");
	setenv("FAKE_QEMU_SLEEP", "10", 1);
	{
		struct hosts_provision_opts o = { 0 };
		struct hosts_provision_input in;
		struct hosts_provision *p = NULL;

		assert_ok(hosts_provision_begin(&s->h, "vm1", &p));
		assert_ok(hosts_provision_check(s->tdisk, s->pdk, NULL, &in));
		o.guest_dir = s->guest;
		o.accel = "tcg";
		o.wait_s = 2;
		assert_int_equal(hosts_provision_run(p, &in, &s->tk, &o, NULL), -1);
		assert_error_has("did not report 'verified' within");
		hosts_provision_input_release(&in);
		hosts_provision_end(p);
	}
	got_lines(s, &first, &second);
	assert_true(json_is_null(json_object_get(first, "fsk")));
	json_decref(first);
	json_decref(second);
	only_status_left(s, NULL);
}

static void test_run_killed(void **state)
{
	struct sandbox *s = *state;
	json_t *st = NULL;
	int status = 0, i;
	pid_t pid;

	/* the guest hangs after "started": the run is in VerifyingTemplate when SIGTERM comes */
	fake_guest(s, "sleep 20");
	setenv("FAKE_QEMU_SLEEP", "20", 1);
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		json_t *r = NULL;

		provision(s, "vm1", &r);
		_exit(0);
	}
	for (i = 0; i < 1000 && !tu_exists(s->got); i++)
		usleep(10000);
	assert_true(tu_exists(s->got));
	assert_int_equal(tu_count_prefix(tu_path("%s/vms", s->hostdir), ".provision-"), 2);
	kill(pid, SIGTERM);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGTERM);
	only_status_left(s, NULL);
	st = status_of(s, "vm1");
	assert_string_equal(json_string_value(json_object_get(st, "status")), "Failed");
	assert_non_null(strstr(json_string_value(json_object_get(st, "error")), "interrupted"));
	json_decref(st);
	/* no swtpm or fake QEMU of the run is left (the patterns do not match the shell's own line) */
	for (i = 0; i < 300 && tu_sh("pgrep -f '[s]wtpm socket.*%s|[s]ocat UNIX-CONNECT:%s' >/dev/null",
				    s->dir, s->dir) == 0; i++)
		usleep(10000);
	assert_int_not_equal(tu_sh("pgrep -f '[s]wtpm socket.*%s|[s]ocat UNIX-CONNECT:%s' >/dev/null",
				   s->dir, s->dir), 0);
}

/* Reap every child of this test: the VM keepers, which end with the fake QEMU. */
static void keepers_wait(void)
{
	for (;;)
		if (waitpid(-1, NULL, 0) < 0 && errno != EINTR)
			break;
}

/* hosts_vm_start of VM NAME with the sandbox's TK; 0 when it runs (the keeper is reaped). */
static int start(struct sandbox *s, const char *name)
{
	struct hosts_vm_start o = { s->guest, "tcg", 20, tu_keeper(), NULL, NULL, NULL };
	json_t *report = NULL;
	int rc;

	unlink(s->args);
	rc = hosts_vm_start(&s->h, name, &s->tk, &o, &report);
	json_decref(report);
	keepers_wait();
	return rc;
}

static void test_run_then_start(void **state)
{
	struct sandbox *s = *state;
	PATH_VAR(vmdir, "%s/vms/vm1", s->hostdir);
	PATH_VAR(cfg, "%s/vms/vm1/config.json", s->hostdir);
	PATH_VAR(kept, "%s/vms/vm1/policy.sig", s->hostdir);
	PATH_VAR(other, "%s/other.pdk", s->dir);
	PATH_VAR(events, "%s/events.jsonl", s->dir);
	struct hl_viq q = viq("WindowsServer2016", "1.0.0.0", HL_VIQ_GREATER_THAN_OR_EQUALS,
			      signer_cert);
	json_t *report = NULL;
	char *good_cfg, *pdk;
	size_t pdk_len = 0;

	fake_guest(s, guest_accepts);
	if (provision(s, "vm1", &report) != 0)
		fail_msg("run: %s", hl_error_last());
	json_decref(report);
	/* from here the fake guest only reports running */
	unsetenv("FAKE_QEMU_GUEST");
	tu_put(events, "{\"event\":\"running\",\"shielded\":false}\n");
	setenv("FAKE_QEMU_EVENTS", events, 1);
	setenv("FAKE_QEMU_SLEEP", "1", 1);
	/* the host's administrator edits config.json: the .pdk's signed policy decides */
	good_cfg = tu_slurp(cfg, NULL);
	assert_int_equal(tu_sh("sed -i 's/encryption-supported/shielded/' '%s'", cfg), 0);
	if (start(s, "vm1") == 0)
		fail_msg("VM vm1 started with a config.json that disagrees with its shielding data");
	assert_error_has("policy statement");
	assert_error_has("'encryption-supported'");
	assert_false(tu_exists(s->args));
	tu_put(cfg, good_cfg);
	/* the host keeps the tenant's signed .pdk (its secrets are ciphertext) as policy.sig */
	assert_int_equal(tu_sh("cmp -s '%s' '%s'", s->pdk, kept), 0);
	assert_int_equal(tu_mode_of(kept), 0644);
	pdk = tu_slurp(kept, &pdk_len);
	/* another .pdk of the same owner: another key protector */
	write_pdk(other, &q, NULL, NULL);
	assert_int_equal(tu_sh("cp '%s' '%s'", other, kept), 0);
	assert_int_equal(start(s, "vm1"), -1);
	assert_error_has("key protector");
	/* a truncated .pdk, then none */
	assert_ok(hl_file_write(kept, pdk, pdk_len / 2, 0644));
	assert_int_equal(start(s, "vm1"), -1);
	assert_error_has("the policy statement of VM 'vm1' is unreadable");
	assert_int_equal(unlink(kept), 0);
	assert_int_equal(start(s, "vm1"), -1);
	assert_error_has("no signed policy statement");
	assert_false(tu_exists(s->args));
	assert_false(tu_exists(tu_path("%s/state.json", vmdir)));
	/* the genuine VM runs with its serial console (the .pdk says encryption-supported) */
	assert_ok(hl_file_write(kept, pdk, pdk_len, 0644));
	if (start(s, "vm1") != 0)
		fail_msg("start: %s", hl_error_last());
	assert_true(tu_file_has(s->args, "unix:/proc/self/fd/5/console.sock,server=on"));
	assert_true(tu_file_has(s->args, tu_path("run-fd=%s/run\n", vmdir)));
	free(good_cfg);
	free(pdk);
}

/*
 * new-shielded-vm --start in S: begin, check, then the VM keeper provisions
 * VM NAME and its guest goes on running (hosts_vm_provision_start); the
 * call's return, the guest's two reports in *PROV and *RUN.
 */
static int provision_start(struct sandbox *s, const char *name, json_t **prov, json_t **run)
{
	struct hosts_vm_start o = { s->guest, "tcg", 20, tu_keeper(), NULL, NULL, NULL };
	struct hosts_provision_input in;
	struct hosts_provision *p = NULL;
	double prov_s = 0;
	int rc;

	assert_ok(hosts_provision_begin(&s->h, name, &p));
	assert_ok(hosts_provision_check(s->tdisk, s->pdk, s->fsk, &in));
	o.template_path = in.template_path;
	o.pdk_path = s->pdk;
	o.fsk_path = s->fsk;
	rc = hosts_vm_provision_start(&s->h, name, &s->tk, &o, &prov_s, prov, run);
	hosts_provision_input_release(&in);
	hosts_provision_end(p);
	return rc;
}

static void test_provision_start(void **state)
{
	struct sandbox *s = *state;
	PATH_VAR(vmdir, "%s/vms/vm1", s->hostdir);
	PATH_VAR(qmp, "%s/qmp.txt", s->dir);
	char script[sizeof(guest_accepts) + 128];
	json_t *prov = NULL, *run = NULL, *st = NULL;
	pid_t keeper;

	/* the guest accepts the template, then goes on into run mode (hgslab.then=run) */
	snprintf(script, sizeof(script), "%s\necho '{\"event\":\"running\",\"computer_name\":"
		 "\"Web01\"}'\nsleep 1", guest_accepts);
	fake_guest(s, script);
	setenv("FAKE_QEMU_SLEEP", "30", 1);
	setenv("FAKE_QEMU_QMP", qmp, 1);
	if (provision_start(s, "vm1", &prov, &run) != 0)
		fail_msg("new-shielded-vm --start: %s", hl_error_last());
	assert_string_equal(json_string_value(json_object_get(prov, "computer_name")), "Web01");
	assert_string_equal(json_string_value(json_object_get(run, "computer_name")), "Web01");
	json_decref(prov);
	json_decref(run);
	/* one boot, with a started VM's QMP (no path) and the console the .pdk's policy gives */
	assert_true(tu_file_has(s->args, "hgslab.mode=specialize hgslab.then=run"));
	assert_true(tu_file_has(s->args, "socket,id=qmp,fd=3"));
	assert_true(tu_file_has(s->args, "unix:/proc/self/fd/5/console.sock,server=on"));
	assert_true(tu_file_has(s->args, "/run\n"));
	/* installed under the running guest: its keeper holds vms/vm1/keeper.pid */
	keeper = hosts_vm_keeper(&s->h, "vm1");
	assert_true(keeper > 0);
	assert_ok(hosts_provision_status(&s->h, "vm1", &st));
	assert_string_equal(json_string_value(json_object_get(st, "status")), "Completed");
	assert_string_equal(json_string_value(json_object_get(st, "phase")), "Provisioned");
	json_decref(st);
	assert_true(tu_file_has(tu_path("%s/state.json", vmdir), "Running"));
	assert_true(tu_exists(tu_path("%s/vtpm", vmdir)));
	only_status_left(s, "vm1");
	assert_false(tu_exists(tu_path("%s/vms/.provision-vm1.json", s->hostdir)));
	/* stop-vm as for any started VM: the keeper's QMP system_powerdown */
	assert_ok(hosts_vm_stop(&s->h, "vm1", 10));
	assert_true(tu_file_has(qmp, "system_powerdown"));
	assert_int_equal(hosts_vm_keeper(&s->h, "vm1"), 0);
	assert_true(tu_file_has(tu_path("%s/state.json", vmdir), "Off"));
	/* the guest refuses the template: nothing of the run is left, no keeper, Failed */
	fake_guest(s, "echo '{\"event\":\"error\",\"stage\":\"template\",\"reason\":\"the template "
		      "disk changed after its signature was checked\"}'\nsleep 1");
	setenv("FAKE_QEMU_SLEEP", "2", 1);
	assert_int_equal(provision_start(s, "vm2", &prov, &run), -1);
	assert_null(prov);
	assert_null(run);
	assert_error_has("at stage template: the template disk changed");
	keepers_wait();
	only_status_left(s, "vm1");
	st = status_of(s, "vm2");
	assert_string_equal(json_string_value(json_object_get(st, "status")), "Failed");
	assert_int_equal(json_integer_value(json_object_get(st, "progress")), 40);
	json_decref(st);
	unsetenv("FAKE_QEMU_QMP");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_check, sandbox_setup, sandbox_teardown),
		cmocka_unit_test_setup_teardown(test_check_refuses, sandbox_setup, sandbox_teardown),
		cmocka_unit_test_setup_teardown(test_begin_and_status, sandbox_setup, sandbox_teardown),
		cmocka_unit_test_setup_teardown(test_run, sandbox_setup, sandbox_teardown),
		cmocka_unit_test_setup_teardown(test_run_guest_refuses, sandbox_setup,
						sandbox_teardown),
		cmocka_unit_test_setup_teardown(test_run_killed, sandbox_setup, sandbox_teardown),
		cmocka_unit_test_setup_teardown(test_run_then_start, sandbox_setup, sandbox_teardown),
		cmocka_unit_test_setup_teardown(test_provision_start, sandbox_setup, sandbox_teardown),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
