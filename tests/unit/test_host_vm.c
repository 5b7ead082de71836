/*
 * test_host_vm.c - unit tests for hosts/vm (the host's VMs) without QEMU:
 * import-vm of good, bad and hostile bundles (nothing half-made is left; a
 * disk.img that links to a host file is refused; a staging folder is removed
 * on SIGTERM and, when its import died, by the next import), the VM
 * folder's config.json and state.json, the keeper check, the VM list,
 * start-vm's and stop-vm's refusals, and the tenant's signed policy: a VM
 * whose config.json was edited to another policy, whose policy statement
 * (policy.sig) is signed by another key, names another key protector or
 * another VM, is truncated or missing is refused before anything starts;
 * the genuine shielded and encryption-supported VMs start (a fake
 * qemu-system-x86_64 records its command line and plays "running"; the
 * vTPM's swtpm is the real one, with the TK through its pipe) with the
 * serial console their SIGNED policy gives them.  The launcher they use has
 * its own tests (test_vm_launch.c).
 *
 * Each test works in its own mkdtemp sandbox holding the host folder (a
 * bare struct host: these functions use only its dir and name).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "hosts/host.h"
#include "hosts/vm.h"
#include "lib/crypto.h"
#include "lib/err.h"
#include "lib/fileio.h"
#include "lib/json.h"
#include "proto/keyprotector.h"
#include "vm/bundle.h"
#include "tests/unit/testutil.h"

/* The tenant's owner guardian (its signing and encryption keys) and another signer, made once. */
static EVP_PKEY *owner_skey, *owner_ekey, *mallory_skey;
static X509 *owner_scert, *owner_ecert;

/* One test's sandbox. */
struct sandbox {
	char dir[TU_SANDBOX_DIR];   /* first: the scratch folder (tu_sandbox_new) */
	char hostdir[128];      /* the host folder (vms/ inside) */
	char guest[128];        /* a guest folder (start-vm refuses before it is read) */
	char args[128];         /* the fake QEMU's recorded argv (sandbox_setup_qemu) */
	char events[128];       /* the events it plays */
	char *old_path;         /* PATH before the fake QEMU */
	struct host h;
};

static int group_setup(void **state)
{
	(void)state;
	if (hl_key_generate(HL_KEY_RSA2048, &owner_skey) < 0 ||
	    tu_self_signed(owner_skey, "Owner", &owner_scert) < 0 ||
	    hl_key_generate(HL_KEY_RSA2048, &owner_ekey) < 0 ||
	    tu_self_signed(owner_ekey, "Owner", &owner_ecert) < 0 ||
	    hl_key_generate(HL_KEY_RSA2048, &mallory_skey) < 0)
		return -1;
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	hl_key_free(owner_skey);
	hl_key_free(owner_ekey);
	hl_key_free(mallory_skey);
	hl_cert_free(owner_scert);
	hl_cert_free(owner_ecert);
	return 0;
}

static int sandbox_setup(void **state)
{
	struct sandbox *s = tu_sandbox_new(sizeof(*s), "hvm");

	if (!s)
		return -1;
	snprintf(s->hostdir, sizeof(s->hostdir), "%s/host", s->dir);
	snprintf(s->guest, sizeof(s->guest), "%s/guest", s->dir);
	if (tu_sh("mkdir -p '%s/vms'", s->hostdir) < 0)
		return -1;
	s->h.dir = s->hostdir;
	snprintf(s->h.name, sizeof(s->h.name), "FabricHost1");
	*state = s;
	return 0;
}

static int sandbox_teardown(void **state)
{
	return tu_sandbox_free(*state);
}

/* What the fake QEMU's guest reports. */
static const char running_event[] = "{\"event\":\"running\",\"shielded\":true}\n";

/* The sandbox and a fake QEMU (tu_fake_qemu_install) whose guest reports running, then ends. */
static int sandbox_setup_qemu(void **state)
{
	struct sandbox *s;

	if (sandbox_setup(state) < 0)
		return -1;
	s = *state;
	snprintf(s->args, sizeof(s->args), "%s/qemu.args", s->dir);
	snprintf(s->events, sizeof(s->events), "%s/events.jsonl", s->dir);
	if (tu_fake_qemu_install(s->dir, &s->old_path) < 0 ||
	    hl_file_write(s->events, running_event, strlen(running_event), 0644) < 0)
		return -1;
	setenv("FAKE_QEMU_ARGS", s->args, 1);
	setenv("FAKE_QEMU_EVENTS", s->events, 1);
	setenv("FAKE_QEMU_SLEEP", "1", 1);
	return 0;
}

static int sandbox_teardown_qemu(void **state)
{
	struct sandbox *s = *state;

	tu_fake_qemu_remove(s->old_path);
	return tu_sandbox_free(s);
}

/* A zeroed LEN-byte buffer into B (released with hl_buf_free). */
static int buf_alloc(struct hl_buf *b, size_t len)
{
	b->data = calloc(1, len + 1);
	b->len = b->data ? len : 0;
	return b->data ? 0 : -1;
}

/* A bundle as export-vm makes it, in DIR/NAME, for VM VM with POLICY. */
static void make_bundle(struct sandbox *s, const char *name, const char *vm, const char *policy)
{
	PATH_VAR(b, "%s/%s", s->dir, name);

	assert_int_equal(tu_sh("mkdir -p '%s/vtpm' && head -c 65536 /dev/urandom > '%s/disk.img' "
			       "&& head -c 4096 /dev/urandom > '%s/vtpm/tpm2-00.permall' && "
			       "echo '{}' > '%s/key-protector.kp' && echo '{}' > '%s/policy.sig'",
			       b, b, b, b, b), 0);
	tu_put(tu_path("%s/config.json", b),
	       tu_path("{\"version\":1,\"name\":\"%s\",\"policy\":\"%s\","
		       "\"kp_id\":\"0123\",\"disk_size\":65536}", vm, policy));
}

/* ---- import-vm ---- */

static void test_import(void **state)
{
	struct sandbox *s = *state;
	static const char *const parts[] = { "disk.img", "key-protector.kp", "config.json",
					     "policy.sig", "vtpm/tpm2-00.permall" };
	PATH_VAR(vmdir, "%s/vms/vm1", s->hostdir);
	char name[HL_NAME_VM_SIZE];
	size_t i;

	make_bundle(s, "bundle", "vm1", "shielded");
	if (hosts_vm_import(&s->h, tu_path("%s/bundle", s->dir), name, sizeof(name)) != 0)
		fail_msg("import: %s", hl_error_last());
	assert_string_equal(name, "vm1");
	for (i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
		if (tu_sh("cmp -s '%s/bundle/%s' '%s/%s'", s->dir, parts[i], vmdir, parts[i]) < 0)
			fail_msg("%s differs from the bundle's", parts[i]);
	assert_int_equal(tu_mode_of(tu_path("%s/disk.img", vmdir)), 0600);
	assert_int_equal(tu_mode_of(tu_path("%s/vtpm", vmdir)), 0700);
	assert_int_equal(tu_mode_of(tu_path("%s/vtpm/tpm2-00.permall", vmdir)), 0600);
	assert_int_equal(tu_mode_of(tu_path("%s/config.json", vmdir)), 0644);
	assert_int_equal(tu_count_prefix(tu_path("%s/vms", s->hostdir), ".import-"), 0);
	/* the same VM again is refused, and the first is kept */
	make_bundle(s, "bundle2", "vm1", "encryption-supported");
	assert_int_equal(hosts_vm_import(&s->h, tu_path("%s/bundle2", s->dir), name, sizeof(name)),
			 -1);
	assert_error_has("already has VM 'vm1'");
	assert_int_equal(tu_sh("cmp -s '%s/bundle/config.json' '%s/config.json'", s->dir, vmdir),
			 0);
}

/* Import DIR/NAME, expect it refused as a bundle (-2) with TEXT and nothing left in vms/. */
static void import_fails(struct sandbox *s, const char *name, const char *text)
{
	char out[HL_NAME_VM_SIZE] = "";
	DIR *d;
	struct dirent *e;

	if (hosts_vm_import(&s->h, tu_path("%s/%s", s->dir, name), out, sizeof(out)) != -2)
		fail_msg("bundle %s was imported, or not refused as a bundle (-2)", name);
	assert_error_has(text);
	d = opendir(tu_path("%s/vms", s->hostdir));
	assert_non_null(d);
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			fail_msg("import of %s left '%s' in vms/", name, e->d_name);
	closedir(d);
}

static void test_import_refuses(void **state)
{
	struct sandbox *s = *state;

	assert_int_equal(mkdir(tu_path("%s/empty", s->dir), 0700), 0);
	import_fails(s, "empty", "is not a VM bundle");
	import_fails(s, "missing", "is not a VM bundle");
	make_bundle(s, "trunc", "vm1", "shielded");
	assert_int_equal(truncate(tu_path("%s/trunc/config.json", s->dir), 20), 0);
	import_fails(s, "trunc", "is not a VM bundle");
	make_bundle(s, "noname", "vm1", "shielded");
	tu_put(tu_path("%s/noname/config.json", s->dir), "{\"version\":1,\"policy\":\"shielded\"}");
	import_fails(s, "noname", "name");
	make_bundle(s, "badname", "../evil", "shielded");
	import_fails(s, "badname", "bad VM name");
	make_bundle(s, "badpolicy", "vm1", "open");
	import_fails(s, "badpolicy", "unknown policy 'open'");
	make_bundle(s, "nodisk", "vm1", "shielded");
	assert_int_equal(unlink(tu_path("%s/nodisk/disk.img", s->dir)), 0);
	import_fails(s, "nodisk", "disk.img");
	make_bundle(s, "notpm", "vm1", "shielded");
	assert_int_equal(unlink(tu_path("%s/notpm/vtpm/tpm2-00.permall", s->dir)), 0);
	import_fails(s, "notpm", "tpm2-00.permall");
	make_bundle(s, "nokp", "vm1", "shielded");
	assert_int_equal(unlink(tu_path("%s/nokp/key-protector.kp", s->dir)), 0);
	import_fails(s, "nokp", "key-protector.kp");
	/* a bundle of an hgslab older than the signed policy: no policy.sig */
	make_bundle(s, "old", "vm1", "shielded");
	assert_int_equal(unlink(tu_path("%s/old/policy.sig", s->dir)), 0);
	import_fails(s, "old", "no signed policy statement (policy.sig)");
	assert_error_has("export it again");
}

static void test_import_hostile(void **state)
{
	struct sandbox *s = *state;
	PATH_VAR(secret, "%s/kps-private.pem", s->dir);
	PATH_VAR(tpm, "%s/host-tpm", s->dir);

	/* a disk.img that links to the KPS private key, a vtpm that links to a host TPM */
	tu_put(secret, "-----BEGIN PRIVATE KEY----- KPS");
	assert_int_equal(tu_sh("mkdir '%s' && cp '%s' '%s/tpm2-00.permall'", tpm, secret, tpm), 0);
	make_bundle(s, "linkdisk", "vm1", "shielded");
	assert_int_equal(tu_sh("ln -sf '%s' '%s/linkdisk/disk.img'", secret, s->dir), 0);
	import_fails(s, "linkdisk", "symbolic link");
	make_bundle(s, "linktpm", "vm1", "shielded");
	assert_int_equal(tu_sh("rm -r '%s/linktpm/vtpm' && ln -s '%s' '%s/linktpm/vtpm'", s->dir,
			       tpm, s->dir), 0);
	import_fails(s, "linktpm", "symbolic link");
	make_bundle(s, "zero", "vm1", "shielded");
	assert_int_equal(tu_sh("ln -sf /dev/zero '%s/zero/disk.img'", s->dir), 0);
	import_fails(s, "zero", "symbolic link");
}

static void test_import_staging(void **state)
{
	struct sandbox *s = *state;
	PATH_VAR(vms, "%s/vms", s->hostdir);
	PATH_VAR(stale, "%s/vms/.import-vm0.dead01", s->hostdir);
	PATH_VAR(live, "%s/vms/.import-vm9.live01", s->hostdir);
	PATH_VAR(big, "%s/big", s->dir);
	char name[HL_NAME_VM_SIZE];
	int fd, status = 0, i;
	pid_t pid;

	/* a staging folder whose import was killed outright goes with the next import */
	assert_int_equal(tu_sh("mkdir '%s' && head -c 4096 /dev/urandom > '%s/disk.img'", stale,
			       stale), 0);
	/* one an import in progress holds (flock on the folder) stays */
	assert_int_equal(mkdir(live, 0700), 0);
	fd = open(live, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(flock(fd, LOCK_EX | LOCK_NB), 0);
	make_bundle(s, "bundle", "vm1", "shielded");
	if (hosts_vm_import(&s->h, tu_path("%s/bundle", s->dir), name, sizeof(name)) != 0)
		fail_msg("import: %s", hl_error_last());
	assert_false(tu_exists(stale));
	assert_true(tu_exists(live));
	close(fd);
	assert_int_equal(tu_sh("rmdir '%s'", live), 0);

	/* SIGTERM while an import copies: its staging folder is removed, then it dies of it */
	make_bundle(s, "big", "vm2", "shielded");
	assert_int_equal(truncate(tu_path("%s/disk.img", big), 256 << 20), 0);
	tu_put(tu_path("%s/config.json", big), "{\"version\":1,\"name\":\"vm2\","
	       "\"policy\":\"shielded\",\"kp_id\":\"0123\",\"disk_size\":268435456}");
	fflush(NULL);
	if ((pid = fork()) == 0) {
		alarm(60);
		_exit(hosts_vm_import(&s->h, big, name, sizeof(name)) == 0 ? 0 : 1);
	}
	assert_true(pid > 0);
	for (i = 0; i < 20000 && tu_count_prefix(vms, ".import-") == 0; i++)
		usleep(500);
	kill(pid, SIGTERM);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGTERM)
		fail_msg("the import was not ended by SIGTERM (status 0x%x): it finished first?",
			 status);
	assert_int_equal(tu_count_prefix(vms, ".import-"), 0);
	assert_false(tu_exists(tu_path("%s/vm2", vms)));
}

/* ---- the VM folder: config.json, state.json, the keeper, the list ---- */

static void test_dir_and_load(void **state)
{
	struct sandbox *s = *state;
	json_t *cfg = NULL, *st = NULL;
	char *d = NULL, name[HL_NAME_VM_SIZE];

	assert_int_equal(hosts_vm_dir(&s->h, "vm1", &d), 0);
	assert_string_equal(d, tu_path("%s/vms/vm1", s->hostdir));
	free(d);
	assert_int_equal(hosts_vm_dir(&s->h, "../etc", &d), -1);
	assert_null(d);
	assert_error_has("bad VM name");
	assert_int_equal(hosts_vm_load(&s->h, "vm1", &cfg, &st), -1);
	assert_error_has("no VM 'vm1' on host 'FabricHost1'");
	assert_null(cfg);
	make_bundle(s, "bundle", "vm1", "shielded");
	assert_int_equal(hosts_vm_import(&s->h, tu_path("%s/bundle", s->dir), name, sizeof(name)),
			 0);
	/* no state.json yet: config only */
	assert_int_equal(hosts_vm_load(&s->h, "vm1", &cfg, &st), 0);
	assert_string_equal(json_string_value(json_object_get(cfg, "policy")), "shielded");
	assert_null(st);
	json_decref(cfg);
	tu_put(tu_path("%s/vms/vm1/state.json", s->hostdir),
	       "{\"state\":\"Running\",\"keeper_pid\":1}");
	assert_int_equal(hosts_vm_load(&s->h, "vm1", &cfg, &st), 0);
	assert_string_equal(json_string_value(json_object_get(st, "state")), "Running");
	json_decref(cfg);
	json_decref(st);
	/* a truncated state.json or config.json is an error naming the file */
	tu_put(tu_path("%s/vms/vm1/state.json", s->hostdir), "{\"state\":\"Runn");
	assert_int_equal(hosts_vm_load(&s->h, "vm1", &cfg, &st), -1);
	assert_error_has("state.json");
	assert_null(cfg);
	assert_null(st);
	unlink(tu_path("%s/vms/vm1/state.json", s->hostdir));
	tu_put(tu_path("%s/vms/vm1/config.json", s->hostdir), "{\"name\":");
	assert_int_equal(hosts_vm_load(&s->h, "vm1", &cfg, &st), -1);
	assert_error_has("config.json");
}

/*
 * Start a process whose command line holds "start-vm", as a VM keeper's
 * does, in its own process group (kill_keeper ends it and its sleep); it
 * holds no keeper lock: an impostor.
 */
static pid_t impostor(void)
{
	pid_t pid = fork();

	if (pid == 0) {
		setpgid(0, 0);
		execl("/bin/sh", "sh", "-c", "sleep 30; :", "start-vm", (char *)NULL);
		_exit(127);
	}
	return pid;
}

/* A keeper of VM NAME in S: a child that holds vms/NAME/keeper.pid (the keeper's claim). */
static pid_t fake_keeper(struct sandbox *s, const char *name)
{
	return tu_pidfile_holder(tu_path("%s/vms/%s/keeper.pid", s->hostdir, name));
}

/* SIGKILL the fake keeper PID and its children, without reaping it. */
static void kill_keeper(pid_t pid)
{
	setpgid(pid, pid);   /* the child may not have run setpgid yet */
	kill(-pid, SIGKILL);
}

/* The keeper is the holder of the VM's keeper lock, never a process that merely has its pid. */
static void test_keeper(void **state)
{
	struct sandbox *s = *state;
	char name[HL_NAME_VM_SIZE];
	pid_t pid, imp;
	int i;

	make_bundle(s, "bundle", "vm1", "shielded");
	assert_int_equal(hosts_vm_import(&s->h, tu_path("%s/bundle", s->dir), name, sizeof(name)),
			 0);
	assert_int_equal(hosts_vm_keeper(&s->h, "vm1"), 0);
	assert_int_equal(hosts_vm_keeper(&s->h, "none"), 0);
	assert_int_equal(hosts_vm_keeper(&s->h, "../x"), 0);
	/* an impostor named in state.json, even with start-vm in its command line, is none */
	imp = impostor();
	assert_true(imp > 0);
	tu_put(tu_path("%s/vms/vm1/state.json", s->hostdir),
	       tu_path("{\"state\":\"Running\",\"keeper_pid\":%ld}", (long)imp));
	tu_put(tu_path("%s/vms/vm1/keeper.pid", s->hostdir), tu_path("%ld\n", (long)imp));
	for (i = 0; i < 100 && hosts_vm_keeper(&s->h, "vm1") == 0; i++)
		usleep(10000);
	assert_int_equal(hosts_vm_keeper(&s->h, "vm1"), 0);
	kill_keeper(imp);
	waitpid(imp, NULL, 0);
	/* the holder of the lock is the keeper; once killed, none (its file stays) */
	pid = fake_keeper(s, "vm1");
	assert_int_equal(hosts_vm_keeper(&s->h, "vm1"), pid);
	kill_keeper(pid);
	waitpid(pid, NULL, 0);
	assert_true(tu_exists(tu_path("%s/vms/vm1/keeper.pid", s->hostdir)));
	assert_int_equal(hosts_vm_keeper(&s->h, "vm1"), 0);
}

static void test_list(void **state)
{
	struct sandbox *s = *state;
	json_t *a = NULL;
	struct host other = { 0 };

	assert_int_equal(hosts_vm_list(&s->h, &a), 0);
	assert_int_equal(json_array_size(a), 0);
	json_decref(a);
	assert_int_equal(tu_sh("mkdir '%s/vms/web' '%s/vms/Alpha' '%s/vms/db' '%s/vms/.import-x.1'",
			       s->hostdir, s->hostdir, s->hostdir, s->hostdir), 0);
	assert_int_equal(hosts_vm_list(&s->h, &a), 0);
	assert_int_equal(json_array_size(a), 3);
	assert_string_equal(json_string_value(json_array_get(a, 0)), "Alpha");
	assert_string_equal(json_string_value(json_array_get(a, 1)), "db");
	assert_string_equal(json_string_value(json_array_get(a, 2)), "web");
	json_decref(a);
	/* a host without vms/ has none */
	other.dir = s->dir;
	assert_int_equal(hosts_vm_list(&other, &a), 0);
	assert_int_equal(json_array_size(a), 0);
	json_decref(a);
}

/* ---- start-vm and stop-vm refusals (no keeper is forked) ---- */

static void test_start_stop_refuse(void **state)
{
	struct sandbox *s = *state;
	struct hosts_vm_start o = { 0 };
	struct hl_buf tk = { NULL, 0 };
	json_t *report = NULL;
	char name[HL_NAME_VM_SIZE];
	pid_t pid;

	o.guest_dir = s->guest;
	o.accel = "tcg";
	o.wait_s = 5;
	assert_int_equal(buf_alloc(&tk, HL_KP_TK_LEN), 0);
	assert_int_equal(hosts_vm_start(&s->h, "vm1", &tk, &o, &report), -1);
	assert_error_has("no VM 'vm1'");
	assert_int_equal(hosts_vm_stop(&s->h, "vm1", 1), -1);
	assert_error_has("no VM 'vm1'");
	make_bundle(s, "bundle", "vm1", "shielded");
	assert_int_equal(hosts_vm_import(&s->h, tu_path("%s/bundle", s->dir), name, sizeof(name)),
			 0);
	/* stop: not running (no state, then a state whose keeper is gone) */
	assert_int_equal(hosts_vm_stop(&s->h, "vm1", 1), -1);
	assert_error_has("is not running");
	tu_put(tu_path("%s/vms/vm1/state.json", s->hostdir),
	       "{\"state\":\"Running\",\"keeper_pid\":999999999}");
	assert_int_equal(hosts_vm_stop(&s->h, "vm1", 1), -1);
	assert_error_has("is not running");
	/* start: the keeper of an earlier start still runs */
	pid = fake_keeper(s, "vm1");
	assert_int_equal(hosts_vm_keeper(&s->h, "vm1"), pid);
	tu_put(tu_path("%s/vms/vm1/state.json", s->hostdir),
	       tu_path("{\"state\":\"Running\",\"keeper_pid\":%ld}", (long)pid));
	assert_int_equal(hosts_vm_start(&s->h, "vm1", &tk, &o, &report), -1);
	assert_error_has("already runs on host 'FabricHost1'");
	assert_null(report);
	kill_keeper(pid);
	waitpid(pid, NULL, 0);
	/* start: a config.json without a policy */
	unlink(tu_path("%s/vms/vm1/state.json", s->hostdir));
	tu_put(tu_path("%s/vms/vm1/config.json", s->hostdir), "{\"version\":1,\"name\":\"vm1\"}");
	assert_int_equal(hosts_vm_start(&s->h, "vm1", &tk, &o, &report), -1);
	assert_error_has("policy");
	assert_false(tu_exists(tu_path("%s/vms/vm1/state.json", s->hostdir)));
	assert_false(tu_exists(tu_path("%s/vms/vm1/run", s->hostdir)));
	hl_buf_free(&tk);
}

/* ---- the tenant's signed policy: start-vm checks it before anything runs ---- */

/*
 * Write the VM policy statement PATH for KP_ID, VM and POLICY signed by KEY,
 * built here from the documented format (docs/shielded-vm.md, "The signed
 * policy"), so the host is checked against the documentation.
 */
static void write_statement(const char *path, const char *kp_id, const char *vm,
			    const char *policy, EVP_PKEY *key)
{
	char created[HL_JSON_TIME_SIZE], *text = NULL;
	struct hl_buf out = { NULL, 0 };
	json_t *body;

	assert_ok(hl_json_time_format(time(NULL), created));
	body = json_pack("{s:s, s:s, s:s, s:s}", "kp_id", kp_id, "vm", vm, "policy", policy,
			 "created", created);
	assert_non_null(body);
	assert_ok(hl_json_dump(body, &text));
	assert_ok(hl_kp_envelope_write("hgslab-vm-policy", 1, text, key, "the VM policy statement",
				       &out));
	assert_ok(hl_file_write(path, out.data, out.len, 0644));
	hl_buf_free(&out);
	free(text);
	json_decref(body);
}

/* The config.json of VM with POLICY and KP_ID, as shield-vm writes it. */
static const char *config_text(const char *vm, const char *policy, const char *kp_id)
{
	return tu_path("{\"version\":1,\"name\":\"%s\",\"policy\":\"%s\",\"kp_id\":\"%s\","
		       "\"disk_size\":65536}", vm, policy, kp_id);
}

/*
 * A bundle in DIR/NAME as the tenant's export-vm makes it for VM with
 * POLICY: a key protector of the owner alone (its id into KP_ID, its TK
 * into TK), the owner's policy statement and config.json; the disk and
 * the vTPM state are stand-ins.
 */
static void make_signed_bundle(struct sandbox *s, const char *name, const char *vm,
			       const char *policy, char kp_id[HL_KP_ID_SIZE], struct hl_buf *tk)
{
	struct hl_kp_owner o = { "Owner", owner_scert, owner_skey, owner_ecert, owner_ekey };
	struct hl_buf kp = { NULL, 0 };
	struct hl_kp *p = NULL;
	PATH_VAR(b, "%s/%s", s->dir, name);

	make_bundle(s, name, vm, policy);
	assert_ok(hl_kp_create(&o, NULL, 0, 0, &kp, tk));
	assert_ok(hl_kp_parse(kp.data, kp.len, &p));
	snprintf(kp_id, HL_KP_ID_SIZE, "%s", p->id);
	hl_kp_free(p);
	assert_ok(hl_file_write(tu_path("%s/key-protector.kp", b), kp.data, kp.len, 0644));
	hl_buf_free(&kp);
	tu_put(tu_path("%s/config.json", b), config_text(vm, policy, kp_id));
	write_statement(tu_path("%s/policy.sig", b), kp_id, vm, policy, owner_skey);
}

/* Import bundle NAME of VM with a fresh vTPM state (the stand-in cannot be opened with the TK). */
static void import_fresh(struct sandbox *s, const char *name, const char *vm)
{
	char got[HL_NAME_VM_SIZE];

	if (hosts_vm_import(&s->h, tu_path("%s/%s", s->dir, name), got, sizeof(got)) != 0)
		fail_msg("import %s: %s", name, hl_error_last());
	assert_string_equal(got, vm);
	assert_int_equal(unlink(tu_path("%s/vms/%s/vtpm/tpm2-00.permall", s->hostdir, vm)), 0);
}

/* Reap every child of this test: the VM keepers, which end with the fake QEMU. */
static void keepers_wait(void)
{
	for (;;)
		if (waitpid(-1, NULL, 0) < 0 && errno != EINTR)
			break;
}

/* start-vm of VM with TK must be refused with TEXT before anything runs. */
static void start_refused(struct sandbox *s, const char *vm, const struct hl_buf *tk,
			  const char *text)
{
	struct hosts_vm_start o = { s->guest, "tcg", 10, tu_keeper(), NULL, NULL, NULL };
	json_t *report = NULL;

	unlink(s->args);
	if (hosts_vm_start(&s->h, vm, tk, &o, &report) == 0) {
		json_decref(report);
		keepers_wait();
		fail_msg("VM %s started (%s) where '%s' was expected", vm,
			 tu_file_has(s->args, "console.sock") ? "with a serial console" :
			 "without a console", text);
	}
	assert_error_has("policy statement");
	assert_error_has(text);
	assert_null(report);
	assert_false(tu_exists(s->args));
	assert_false(tu_exists(tu_path("%s/vms/%s/state.json", s->hostdir, vm)));
	assert_false(tu_exists(tu_path("%s/vms/%s/run", s->hostdir, vm)));
}

/* start-vm of VM with TK runs it, with the serial console on its socket when CONSOLE. */
static void start_runs(struct sandbox *s, const char *vm, const struct hl_buf *tk, int console)
{
	struct hosts_vm_start o = { s->guest, "tcg", 20, tu_keeper(), NULL, NULL, NULL };
	json_t *report = NULL;

	unlink(s->args);
	if (hosts_vm_start(&s->h, vm, tk, &o, &report) != 0)
		fail_msg("start %s: %s", vm, hl_error_last());
	assert_string_equal(json_string_value(json_object_get(report, "event")), "running");
	json_decref(report);
	keepers_wait();
	if (console)
		assert_true(tu_file_has(s->args, "unix:/proc/self/fd/5/console.sock,server=on") &&
			    tu_file_has(s->args, tu_path("run-fd=%s/vms/%s/run\n", s->hostdir, vm)));
	else
		assert_true(tu_file_has(s->args, "-serial\nnone\n"));
}

static void test_start_signed_policy(void **state)
{
	struct sandbox *s = *state;
	struct hl_buf tk1 = { NULL, 0 }, tk2 = { NULL, 0 };
	char id1[HL_KP_ID_SIZE], id2[HL_KP_ID_SIZE], other[HL_KP_ID_SIZE], *good = NULL;
	size_t good_len = 0;
	PATH_VAR(cfg, "%s/vms/vm1/config.json", s->hostdir);
	PATH_VAR(sig, "%s/vms/vm1/policy.sig", s->hostdir);

	make_signed_bundle(s, "b1", "vm1", "shielded", id1, &tk1);
	import_fresh(s, "b1", "vm1");
	good = tu_slurp(tu_path("%s/b1/policy.sig", s->dir), &good_len);
	/* the host's administrator edits config.json: the signed policy says shielded */
	tu_put(cfg, config_text("vm1", "encryption-supported", id1));
	start_refused(s, "vm1", &tk1, "'shielded'");
	tu_put(cfg, config_text("vm1", "shielded", id1));
	/* a statement signed by another key than the key protector's owner, either policy */
	write_statement(sig, id1, "vm1", "encryption-supported", mallory_skey);
	start_refused(s, "vm1", &tk1, "does not verify");
	write_statement(sig, id1, "vm1", "shielded", mallory_skey);
	start_refused(s, "vm1", &tk1, "does not verify");
	/* the owner's statement for another key protector */
	snprintf(other, sizeof(other), "%s", id1);
	other[0] = other[0] == '0' ? '1' : '0';
	write_statement(sig, other, "vm1", "shielded", owner_skey);
	start_refused(s, "vm1", &tk1, "is for key protector");
	/* the owner's statement for another VM (same key protector), config.json edited to match */
	write_statement(sig, id1, "vm2", "encryption-supported", owner_skey);
	tu_put(cfg, config_text("vm1", "encryption-supported", id1));
	start_refused(s, "vm1", &tk1, "is for VM 'vm2'");
	tu_put(cfg, config_text("vm1", "shielded", id1));
	/* config.json naming another key protector */
	assert_ok(hl_file_write(sig, good, good_len, 0644));
	tu_put(cfg, config_text("vm1", "shielded", other));
	start_refused(s, "vm1", &tk1, "config.json");
	tu_put(cfg, config_text("vm1", "shielded", id1));
	/* a truncated statement, then none (a VM imported from an older hgslab's bundle) */
	assert_ok(hl_file_write(sig, good, good_len / 2, 0644));
	start_refused(s, "vm1", &tk1, "bad VM policy statement");
	assert_int_equal(unlink(sig), 0);
	start_refused(s, "vm1", &tk1, "export it again");
	/* the genuine shielded VM runs, without a console */
	assert_ok(hl_file_write(sig, good, good_len, 0644));
	start_runs(s, "vm1", &tk1, 0);
	/* the genuine encryption-supported VM runs with its console */
	make_signed_bundle(s, "b2", "vm2", "encryption-supported", id2, &tk2);
	import_fresh(s, "b2", "vm2");
	start_runs(s, "vm2", &tk2, 1);
	free(good);
	hl_buf_free(&tk1);
	hl_buf_free(&tk2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_import, sandbox_setup, sandbox_teardown),
		cmocka_unit_test_setup_teardown(test_import_refuses, sandbox_setup, sandbox_teardown),
		cmocka_unit_test_setup_teardown(test_import_hostile, sandbox_setup, sandbox_teardown),
		cmocka_unit_test_setup_teardown(test_import_staging, sandbox_setup, sandbox_teardown),
		cmocka_unit_test_setup_teardown(test_dir_and_load, sandbox_setup, sandbox_teardown),
		cmocka_unit_test_setup_teardown(test_keeper, sandbox_setup, sandbox_teardown),
		cmocka_unit_test_setup_teardown(test_list, sandbox_setup, sandbox_teardown),
		cmocka_unit_test_setup_teardown(test_start_stop_refuse, sandbox_setup,
						sandbox_teardown),
		cmocka_unit_test_setup_teardown(test_start_signed_policy, sandbox_setup_qemu,
						sandbox_teardown_qemu),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
