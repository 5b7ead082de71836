/*
 * test_vm_launch.c - unit tests for vm/launch (the VM launcher) without
 * QEMU: a fake qemu-system-x86_64 put first in PATH records its command
 * line (so the tests see each mode's devices, and that the TK is nowhere in
 * it) and plays the guest agent's events from a file into the agent socket,
 * so vm_launch_await() meets "running", an "error" event, QEMU ending early
 * and the deadline; or runs a guest script on the channel, which reads what
 * vm_launch_send() writes (the specialize mode's exchange).  One launch runs the real swtpm with the TK through its
 * pipe.  Also the removal of a run's scratch files, QMP on the socket pair
 * only the launcher holds (its allow-list: the commands the lab needs pass,
 * dump-guest-memory and human-monitor-command never leave the launcher),
 * the guest folder lookup and the KVM probe.
 *
 * Each launch test works in its own mkdtemp sandbox holding a stand-in
 * guest, the run folder, the fake's bin/ and its files.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "lib/clock.h"
#include "lib/crypto.h"
#include "lib/err.h"
#include "lib/fileio.h"
#include "proto/keyprotector.h"
#include "vm/launch.h"
#include "tests/unit/testutil.h"

/* One launch test's sandbox: every path it uses, made once. */
struct sandbox {
	char dir[TU_SANDBOX_DIR];   /* first: the scratch folder (tu_sandbox_new) */
	char guest[128];        /* the fake's stand-in guest (tu_fake_qemu_install) */
	char run[128];          /* the run folder */
	char args[128];         /* the fake's recorded argv */
	char events[128];       /* the events the fake plays */
	char disk[128];         /* the VM's disk (never opened by the fake) */
	char vtpm[128];         /* a vTPM state folder */
	char *old_path;
};

static int sandbox_setup(void **state)
{
	struct sandbox *s = tu_sandbox_new(sizeof(*s), "vml");

	if (!s)
		return -1;
	snprintf(s->guest, sizeof(s->guest), "%s/guest", s->dir);
	snprintf(s->run, sizeof(s->run), "%s/run", s->dir);
	snprintf(s->args, sizeof(s->args), "%s/qemu.args", s->dir);
	snprintf(s->events, sizeof(s->events), "%s/events.jsonl", s->dir);
	snprintf(s->disk, sizeof(s->disk), "%s/disk.img", s->dir);
	snprintf(s->vtpm, sizeof(s->vtpm), "%s/vtpm", s->dir);
	if (tu_fake_qemu_install(s->dir, &s->old_path) < 0 || hl_file_mkdirs(s->run, 0700) < 0)
		return -1;
	setenv("FAKE_QEMU_ARGS", s->args, 1);
	*state = s;
	return 0;
}

static int sandbox_teardown(void **state)
{
	struct sandbox *s = *state;

	tu_fake_qemu_remove(s->old_path);
	return tu_sandbox_free(s);
}

/* The fake plays EVENTS (NULL: it never connects), then sleeps SLEEP seconds. */
static void fake_plays(struct sandbox *s, const char *events, const char *sleep_s)
{
	if (events) {
		tu_put(s->events, events);
		setenv("FAKE_QEMU_EVENTS", s->events, 1);
	} else {
		unsetenv("FAKE_QEMU_EVENTS");
	}
	setenv("FAKE_QEMU_SLEEP", sleep_s, 1);
}

/* 1 when the fake's recorded argv has the line ARG followed by the line NEXT (NULL: any). */
static int has_arg(struct sandbox *s, const char *arg, const char *next)
{
	char *text = tu_slurp(s->args, NULL), *line, *save = NULL;
	int prev = 0, found = 0;

	for (line = strtok_r(text, "\n", &save); line && !found; line = strtok_r(NULL, "\n", &save)) {
		if (prev && (!next || !strcmp(line, next)))
			found = 1;
		prev = !strcmp(line, arg);
		if (prev && !next)
			found = 1;
	}
	free(text);
	return found;
}

/* The recorded -append line contains TEXT. */
static int append_has(struct sandbox *s, const char *text)
{
	char *all = tu_slurp(s->args, NULL), *a;
	int found;

	a = strstr(all, "\n-append\n");
	assert_non_null(a);
	a += strlen("\n-append\n");
	a[strcspn(a, "\n")] = '\0';
	found = strstr(a, text) != NULL;
	free(all);
	return found;
}

/* A plain-mode launch of the sandbox's guest (no vTPM). */
static struct vm_launch plain_launch(struct sandbox *s)
{
	struct vm_launch l = { 0 };

	l.guest_dir = s->guest;
	l.run_dir = s->run;
	l.disk = s->disk;
	l.mode = "plain";
	l.accel = "tcg";
	return l;
}

static void test_launch_refuses(void **state)
{
	struct sandbox *s = *state;
	struct vm_launch l = plain_launch(s);
	struct vm_launch_proc *pr = NULL;
	unsigned char short_key[16] = { 0 };
	struct hl_buf short_tk = { short_key, sizeof(short_key) };
	PATH_VAR(nowhere, "%s/nowhere", s->dir);
	char longrun[200];

	/* a vTPM without its state key, or with a key of the wrong size */
	l.vtpm_dir = s->vtpm;
	assert_int_equal(vm_launch(&l, &pr), -1);
	assert_error_has("no vTPM state key");
	l.tk = &short_tk;
	assert_int_equal(vm_launch(&l, &pr), -1);
	assert_error_has("no vTPM state key");
	assert_null(pr);
	/* no guest */
	l = plain_launch(s);
	l.guest_dir = nowhere;
	assert_int_equal(vm_launch(&l, &pr), -1);
	assert_error_has("no guest in");
	assert_error_has("make guest");
	/* a run folder that is not there (a deep one is fine: sockets go by descriptor) */
	l = plain_launch(s);
	memset(longrun, 'r', sizeof(longrun));
	snprintf(longrun, sizeof(longrun), "%s/%0150d", s->dir, 0);
	l.run_dir = longrun;
	assert_int_equal(vm_launch(&l, &pr), -1);
	assert_error_has("cannot open the VM's run folder");
	assert_null(pr);
	/* nothing was started: the fake never wrote its command line */
	assert_int_equal(access(s->args, F_OK), -1);
}

static void test_launch_await_running(void **state)
{
	struct sandbox *s = *state;
	struct vm_launch l = plain_launch(s);
	struct vm_launch_proc *pr = NULL;
	PATH_VAR(serial, "file:%s/console.log", s->run);
	json_t *ev = NULL;

	fake_plays(s, "{\"event\":\"started\",\"mode\":\"plain\",\"uptime_ms\":10}\n"
		      "not json at all\n"
		      "{\"event\":\"running\",\"shielded\":false,\"workload\":{\"files\":1},"
		      "\"uptime_ms\":20}\n", "5");
	l.append = "hgslab.debug";
	l.console = 1;
	l.qmp = 1;
	if (vm_launch(&l, &pr) != 0)
		fail_msg("launch: %s", hl_error_last());
	if (vm_launch_await(pr, "running", 20, NULL, &ev) != 0)
		fail_msg("await: %s", hl_error_last());
	assert_string_equal(json_string_value(json_object_get(ev, "event")), "running");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(ev, "workload"), "files")), 1);
	assert_true(vm_launch_elapsed(pr) >= 0);
	assert_true(vm_launch_elapsed(pr) < 20);
	json_decref(ev);
	vm_launch_proc_free(pr);
	/* the command line: the plain baseline has no TPM, a console file, QMP on an fd */
	assert_true(has_arg(s, "-nodefaults", NULL));
	assert_true(has_arg(s, "-monitor", "none"));
	assert_true(has_arg(s, "-serial", serial));
	assert_true(has_arg(s, "-chardev", "socket,id=qmp,fd=3"));
	assert_true(has_arg(s, "-mon", "chardev=qmp,mode=control"));
	assert_false(has_arg(s, "-qmp", NULL));
	assert_false(tu_exists(tu_path("%s/qmp.sock", s->run)));
	assert_false(has_arg(s, "-tpmdev", NULL));
	assert_false(has_arg(s, "-gdb", NULL));
	assert_false(has_arg(s, "-s", NULL));
	assert_true(append_has(s, "hgslab.mode=plain"));
	assert_true(append_has(s, "hgslab.debug"));
	assert_true(has_arg(s, "-device", "virtio-blk-pci,drive=disk,serial=hgslab-disk"));
	assert_false(has_arg(s, "-device", "virtio-blk-pci,drive=plain,serial=hgslab-plain"));
}

static void test_launch_await_failures(void **state)
{
	struct sandbox *s = *state;
	struct vm_launch l = plain_launch(s);
	struct vm_launch_proc *pr = NULL;
	json_t *ev = NULL;
	time_t t0;

	/* the guest reports an error: its stage and reason come through */
	fake_plays(s, "{\"event\":\"started\",\"mode\":\"run\"}\n"
		      "{\"event\":\"error\",\"stage\":\"unseal\",\"reason\":\"cannot unseal the disk "
		      "key: the vTPM does not hold it\"}\n", "5");
	assert_int_equal(vm_launch(&l, &pr), 0);
	assert_int_equal(vm_launch_await(pr, "running", 20, NULL, &ev), -1);
	assert_null(ev);
	assert_error_has("at stage unseal");
	assert_error_has("the vTPM does not hold it");
	vm_launch_proc_free(pr);
	pr = NULL;
	/* the channel closes before the event */
	fake_plays(s, "{\"event\":\"started\",\"mode\":\"run\"}\n", "5");
	assert_int_equal(vm_launch(&l, &pr), 0);
	assert_int_equal(vm_launch_await(pr, "running", 20, NULL, &ev), -1);
	assert_error_has("before the guest reported 'running'");
	vm_launch_proc_free(pr);
	pr = NULL;
	/* QEMU ends without ever connecting */
	fake_plays(s, NULL, "0");
	assert_int_equal(vm_launch(&l, &pr), 0);
	assert_int_equal(vm_launch_await(pr, "provisioned", 20, NULL, &ev), -1);
	assert_error_has("QEMU ended before the guest reported 'provisioned'");
	vm_launch_proc_free(pr);
	pr = NULL;
	/* a guest that says nothing meets the deadline */
	setenv("FAKE_QEMU_SLEEP", "10", 1);
	assert_int_equal(vm_launch(&l, &pr), 0);
	t0 = time(NULL);
	assert_int_equal(vm_launch_await(pr, "running", 1, NULL, &ev), -1);
	assert_error_has("did not report 'running' within 1 s");
	assert_true(time(NULL) - t0 < 5);
	vm_launch_proc_free(pr);
}

static void test_launch_vtpm(void **state)
{
	struct sandbox *s = *state;
	struct vm_launch l = plain_launch(s);
	struct vm_launch_proc *pr = NULL;
	unsigned char key[HL_KP_TK_LEN];
	struct hl_buf tk = { key, sizeof(key) };
	PATH_VAR(swsock, "%s/swtpm.sock", s->run);
	PATH_VAR(chardev, "socket,id=chrtpm,path=/proc/self/fd/5/swtpm.sock");
	PATH_VAR(serial, "unix:/proc/self/fd/5/console.sock,server=on,wait=off");
	PATH_VAR(runfd, "run-fd=%s\n", s->run);
	PATH_VAR(grep, "grep -rqs 'TKTKTKTK' '%s' '%s'", s->run, s->vtpm);
	char *args = NULL;
	size_t len = 0;
	json_t *ev = NULL;

	assert_int_equal(mkdir(s->vtpm, 0700), 0);
	memcpy(key, "TKTKTKTK-secret-state-key-12345!", HL_KP_TK_LEN);
	fake_plays(s, "{\"event\":\"running\",\"shielded\":true}\n", "5");
	l.mode = "run";
	l.vtpm_dir = s->vtpm;
	l.tk = &tk;
	l.console = 2;
	if (vm_launch(&l, &pr) != 0)
		fail_msg("launch: %s", hl_error_last());
	/* swtpm runs on its unix socket, and QEMU was given it as a TPM 2.0 CRB device */
	assert_int_equal(access(swsock, F_OK), 0);
	assert_int_equal(vm_launch_await(pr, "running", 20, NULL, &ev), 0);
	json_decref(ev);
	vm_launch_proc_free(pr);
	assert_true(has_arg(s, "-tpmdev", "emulator,id=tpm0,chardev=chrtpm"));
	assert_true(has_arg(s, "-device", "tpm-crb,tpmdev=tpm0"));
	assert_true(has_arg(s, "-chardev", chardev));
	assert_true(has_arg(s, "-serial", serial));
	assert_true(tu_file_has(s->args, runfd));
	assert_true(append_has(s, "hgslab.mode=run"));
	assert_false(append_has(s, "hgslab.debug"));
	/* the TK is in no command line and no file of the run */
	assert_int_equal(hl_file_read(s->args, 1 << 20, &args, &len), 0);
	assert_null(memmem(args, len, key, 8));
	free(args);
	assert_int_not_equal(system(grep), 0);
}

/*
 * Specialize mode: the template disk read-only with its serial, and the
 * host's lines reach the guest on the agent channel between its events
 * (a guest script echoes what it read into a file).
 */
static void test_launch_specialize_channel(void **state)
{
	struct sandbox *s = *state;
	struct vm_launch l = plain_launch(s);
	struct vm_launch_proc *pr = NULL;
	PATH_VAR(guest, "%s/guest.sh", s->dir);
	PATH_VAR(got, "%s/got.txt", s->dir);
	PATH_VAR(tdisk, "%s/t.tdisk", s->dir);
	PATH_VAR(drive, "file=%s,if=none,id=template,format=raw,readonly=on", tdisk);
	const char *first = "{\"pdk\":\"AAAA\",\"fsk\":null}\n", *second = "{\"secrets_key\":\"S\"}\n";
	json_t *ev = NULL;
	char *text;

	tu_put(guest, tu_path("#!/bin/sh\n"
			      "echo '{\"event\":\"started\",\"mode\":\"specialize\"}'\n"
			      "read -r a; echo \"$a\" > '%s'\n"
			      "echo '{\"event\":\"verified\"}'\n"
			      "read -r b; echo \"$b\" >> '%s'\n"
			      "echo '{\"event\":\"provisioned\",\"computer_name\":\"Web01\"}'\n",
			      got, got));
	assert_int_equal(chmod(guest, 0755), 0);
	setenv("FAKE_QEMU_GUEST", guest, 1);
	setenv("FAKE_QEMU_SLEEP", "5", 1);
	l.mode = "specialize";
	l.template_disk = tdisk;
	if (vm_launch(&l, &pr) != 0)
		fail_msg("launch: %s", hl_error_last());
	assert_ok(vm_launch_await(pr, "started", 20, NULL, NULL));
	assert_ok(vm_launch_send(pr, first, strlen(first), 5000));
	assert_ok(vm_launch_await(pr, "verified", 20, NULL, NULL));
	assert_ok(vm_launch_send(pr, second, strlen(second), 5000));
	assert_ok(vm_launch_await(pr, "provisioned", 20, NULL, &ev));
	assert_string_equal(json_string_value(json_object_get(ev, "computer_name")), "Web01");
	json_decref(ev);
	vm_launch_proc_free(pr);
	text = tu_slurp(got, NULL);
	assert_string_equal(text, tu_path("%s%s", first, second));
	free(text);
	assert_true(append_has(s, "hgslab.mode=specialize"));
	assert_true(has_arg(s, "-drive", drive));
	assert_true(has_arg(s, "-device", "virtio-blk-pci,drive=template,serial=hgslab-template"));
	assert_true(has_arg(s, "-device", "virtio-blk-pci,drive=disk,serial=hgslab-disk"));
	/* a send to a QEMU that has ended fails, and says so */
	unsetenv("FAKE_QEMU_GUEST");
	fake_plays(s, NULL, "0");
	assert_int_equal(vm_launch(&l, &pr), 0);
	assert_int_equal(vm_launch_send(pr, "x\n", 2, 3000), -1);
	assert_error_has("QEMU ended");
	vm_launch_proc_free(pr);
}

/* Events that arrive together are each seen: a second await takes the one already buffered. */
static void test_launch_await_buffered(void **state)
{
	struct sandbox *s = *state;
	struct vm_launch l = plain_launch(s);
	struct vm_launch_proc *pr = NULL;

	fake_plays(s, "{\"event\":\"started\",\"mode\":\"run\"}\n"
		      "{\"event\":\"running\",\"shielded\":true}\n", "5");
	assert_int_equal(vm_launch(&l, &pr), 0);
	assert_ok(vm_launch_await(pr, "started", 20, NULL, NULL));
	assert_ok(vm_launch_await(pr, "running", 3, NULL, NULL));
	vm_launch_proc_free(pr);
}

static void test_scratch_remove(void **state)
{
	struct sandbox *s = *state;
	static const char *const scratch[] = { "swtpm.sock", "agent.sock", "swtpm.log", "qemu.log",
					       "console.log" };
	PATH_VAR(kept, "%s/disk.img", s->run);
	size_t i;

	for (i = 0; i < sizeof(scratch) / sizeof(scratch[0]); i++) {
		PATH_VAR(f, "%s/%s", s->run, scratch[i]);
		assert_int_equal(hl_file_write(f, "x", 1, 0600), 0);
	}
	assert_int_equal(hl_file_write(kept, "d", 1, 0600), 0);
	vm_launch_scratch_remove(s->run);
	for (i = 0; i < sizeof(scratch) / sizeof(scratch[0]); i++) {
		PATH_VAR(f, "%s/%s", s->run, scratch[i]);
		if (access(f, F_OK) == 0)
			fail_msg("'%s' was left", scratch[i]);
	}
	assert_int_equal(access(kept, F_OK), 0);
	/* a run folder without them is fine */
	vm_launch_scratch_remove(s->run);
}

/*
 * QMP is the launcher's alone (a socket pair QEMU inherits): the commands
 * the lab needs go through, in order, after qmp_capabilities; any other is
 * refused before a byte is sent; system_powerdown powers the guest off.
 */
static void test_qmp(void **state)
{
	struct sandbox *s = *state;
	struct vm_launch l = plain_launch(s);
	struct vm_launch_proc *pr = NULL;
	PATH_VAR(sent, "%s/qmp.sent", s->dir);
	static const char *const refused[] = { "human-monitor-command", "dump-guest-memory",
					       "gdbserver", "migrate", "" };
	json_t *ret = NULL;
	long long t0;
	char *text;
	size_t i;

	/* a run without QMP has none */
	fake_plays(s, NULL, "20");
	assert_ok(vm_launch(&l, &pr));
	assert_int_equal(vm_launch_qmp(pr, "query-status", NULL), -1);
	assert_error_has("has no QMP");
	vm_launch_proc_free(pr);
	pr = NULL;

	setenv("FAKE_QEMU_QMP", sent, 1);
	l.qmp = 1;
	assert_ok(vm_launch(&l, &pr));
	for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		assert_int_equal(vm_launch_qmp(pr, refused[i], &ret), -1);
		assert_error_has("is not one the lab sends");
		assert_null(ret);
	}
	assert_ok(vm_launch_qmp(pr, "query-status", &ret));
	assert_true(json_is_object(ret));
	json_decref(ret);
	assert_ok(vm_launch_qmp(pr, "system_powerdown", NULL));
	/* the fake powers off on it: QEMU ends at once, not after its 20 s */
	t0 = hl_clock_ms();
	assert_int_equal(vm_launch_end(pr, 10000), 0);
	assert_true(hl_clock_ms() - t0 < 8000);
	vm_launch_proc_free(pr);
	unsetenv("FAKE_QEMU_QMP");
	text = tu_slurp(sent, NULL);
	assert_string_equal(text, "{\"execute\":\"qmp_capabilities\"}\n{\"execute\":\"query-status\"}\n"
			    "{\"execute\":\"system_powerdown\"}\n");
	free(text);
}

static void test_guest_dir(void **state)
{
	char *d;

	(void)state;
	d = vm_launch_guest_dir("/given/guest");
	assert_string_equal(d, "/given/guest");
	free(d);
	setenv("HGSLAB_GUEST_DIR", "/from/env", 1);
	d = vm_launch_guest_dir(NULL);
	assert_string_equal(d, "/from/env");
	free(d);
	d = vm_launch_guest_dir("/given/wins");
	assert_string_equal(d, "/given/wins");
	free(d);
	setenv("HGSLAB_GUEST_DIR", "", 1);
	d = vm_launch_guest_dir(NULL);
	assert_non_null(d);
	assert_string_not_equal(d, "");
	free(d);
	unsetenv("HGSLAB_GUEST_DIR");
}

static void test_accel_auto(void **state)
{
	const char *a = vm_launch_accel_auto();
	char *info = NULL;

	(void)state;
	assert_true(!strcmp(a, "tcg") || !strcmp(a, "kvm"));
	/* KVM needs VMX/SVM in /proc/cpuinfo: without them it must say tcg */
	if (hl_file_read("/proc/cpuinfo", 8u << 20, &info, NULL) == 0 && !strstr(info, " vmx") &&
	    !strstr(info, " svm"))
		assert_string_equal(a, "tcg");
	free(info);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_launch_refuses, sandbox_setup, sandbox_teardown),
		cmocka_unit_test_setup_teardown(test_launch_await_running, sandbox_setup,
						sandbox_teardown),
		cmocka_unit_test_setup_teardown(test_launch_await_failures, sandbox_setup,
						sandbox_teardown),
		cmocka_unit_test_setup_teardown(test_launch_specialize_channel, sandbox_setup,
						sandbox_teardown),
		cmocka_unit_test_setup_teardown(test_launch_await_buffered, sandbox_setup,
						sandbox_teardown),
		cmocka_unit_test_setup_teardown(test_launch_vtpm, sandbox_setup, sandbox_teardown),
		cmocka_unit_test_setup_teardown(test_scratch_remove, sandbox_setup, sandbox_teardown),
		cmocka_unit_test_setup_teardown(test_qmp, sandbox_setup, sandbox_teardown),
		cmocka_unit_test(test_guest_dir),
		cmocka_unit_test(test_accel_auto),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
