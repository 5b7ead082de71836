/*
 * test_faults.c - unit tests for the fault matrix's pure parts (sim/faults.h):
 * component and plant names, the spread sample, the file check (leftovers of
 * interrupted writes and staging, JSON that does not parse) and the process
 * list by tag, with a tagged process whose parent is gone.  Every test runs
 * in its own sandbox directory.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/err.h"
#include "lib/fileio.h"
#include "sim/faults.h"
#include "tests/unit/testutil.h"

struct fx {
	char dir[TU_SANDBOX_DIR];   /* first: the scratch folder (tu_sandbox_new) */
};

static int setup(void **state)
{
	struct fx *fx = tu_sandbox_new(sizeof(*fx), "faults");

	if (!fx)
		return -1;
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;
	int ret = tu_rmtree(fx->dir) < 0 ? -1 : 0;

	free(fx);
	return ret;
}

/* Write TEXT to DIR/NAME (folders made). */
static void put(const struct fx *fx, const char *name, const char *text)
{
	char path[512], *slash;

	snprintf(path, sizeof(path), "%s/%s", fx->dir, name);
	slash = strrchr(path, '/');
	*slash = 0;
	assert_int_equal(hl_file_mkdirs(path, 0700), 0);
	*slash = '/';
	assert_int_equal(hl_file_write(path, text, strlen(text), 0600), 0);
}

/* Every component name parses back to its index; a typo is refused with the nearest name. */
static void test_comp_names(void **state)
{
	int c;

	(void)state;
	for (c = 0; c < FAULT_N_COMP; c++)
		assert_int_equal(fault_comp_parse(fault_comp_name((enum fault_comp)c)), c);
	assert_int_equal(fault_comp_parse("qemmu"), -1);
	assert_non_null(strstr(hl_error_last(), "did you mean 'qemu'"));
	assert_int_equal(fault_comp_parse("x"), -1);
	assert_non_null(strstr(hl_error_last(), "host-swtpm"));
}

static void test_plant_names(void **state)
{
	enum fault_plant p = FAULT_PLANT_NONE;

	(void)state;
	assert_int_equal(fault_plant_parse("orphan", &p), 0);
	assert_int_equal(p, FAULT_PLANT_ORPHAN);
	assert_int_equal(fault_plant_parse("lost", &p), 0);
	assert_int_equal(p, FAULT_PLANT_LOST);
	assert_int_equal(fault_plant_parse("leftover", &p), 0);
	assert_int_equal(p, FAULT_PLANT_LEFTOVER);
	assert_int_equal(fault_plant_parse("nothing", &p), -1);
}

/* The sample is the middle of N equal slices, ascending, distinct; all when N >= TOTAL. */
static void test_sample(void **state)
{
	size_t idx[67], n, i;

	(void)state;
	n = fault_sample(67, 5, idx);
	assert_int_equal(n, 5);
	assert_int_equal(idx[0], 6);
	assert_int_equal(idx[1], 20);
	assert_int_equal(idx[2], 33);
	assert_int_equal(idx[3], 46);
	assert_int_equal(idx[4], 60);
	n = fault_sample(67, 67, idx);
	for (i = 0; i < n; i++)
		assert_int_equal(idx[i], i);
	assert_int_equal(fault_sample(3, 10, idx), 3);
	assert_int_equal(fault_sample(10, 0, idx), 0);
	n = fault_sample(67, 66, idx);
	for (i = 1; i < n; i++)
		assert_true(idx[i] > idx[i - 1]);
}

/* A clean lab directory has no problem. */
static void test_files_clean(void **state)
{
	struct fx *fx = *state;
	char *p = (char *)"unset";

	put(fx, "lab.json", "{\"a\": 1}\n");
	put(fx, "hosts/H1/state.json", "[]");
	put(fx, "hosts/H1/tcglog.bin", "binary");
	put(fx, "logs/001-host-new.out", "{ not json, not a .json file");
	assert_int_equal(fault_files_check(fx->dir, &p), 0);
	assert_null(p);
}

/* Each kind of leftover is named, with its path in the lab; a broken JSON file too. */
static void test_files_leftovers(void **state)
{
	struct fx *fx = *state;
	char *p = NULL;

	put(fx, "lab.json", "{}");
	put(fx, "hosts/H1/.state.json.tmp.Ab12Cd", "{");
	put(fx, "tenant/vm.img.tmp-123", "x");
	put(fx, "hosts/H1/vms/.import-XyZ123/config.json", "{}");
	put(fx, "hgs/N/.hgs.new.Q1w2E3/x", "");
	put(fx, "hosts/H1/vms/VM/state.json", "{\"state\": \"Runn");
	assert_int_equal(fault_files_check(fx->dir, &p), 0);
	assert_non_null(p);
	assert_non_null(strstr(p, "hosts/H1/.state.json.tmp.Ab12Cd (a temporary file left behind)"));
	assert_non_null(strstr(p, "tenant/vm.img.tmp-123"));
	assert_non_null(strstr(p, "hosts/H1/vms/.import-XyZ123 (a staging folder left behind)"));
	assert_non_null(strstr(p, "hgs/N/.hgs.new.Q1w2E3"));
	assert_non_null(strstr(p, "hosts/H1/vms/VM/state.json (not valid JSON"));
	/* a staging folder is named once, not its contents */
	assert_null(strstr(p, ".import-XyZ123/config.json"));
	free(p);
}

/* Past FAULTS_PROBLEMS_SHOWN problems, the rest are counted. */
static void test_files_many(void **state)
{
	struct fx *fx = *state;
	char *p = NULL, name[64];
	int i;

	for (i = 0; i < 9; i++) {
		snprintf(name, sizeof(name), "kp/.k%d.kp.tmp.AAAAAA", i);
		put(fx, name, "");
	}
	assert_int_equal(fault_files_check(fx->dir, &p), 0);
	assert_non_null(p);
	assert_non_null(strstr(p, "and 3 more"));
	free(p);
}

/* A process carrying the tag whose parent died is listed; an untagged one is not. */
static void test_procs_tagged(void **state)
{
	struct fx *fx = *state;
	struct fault_proc *v = NULL;
	size_t n = 0, i;
	int pfd[2], found = 0, st;
	pid_t mid, orphan = 0, plain;

	assert_int_equal(setenv(FAULTS_TAG_ENV, fx->dir, 1), 0);
	assert_int_equal(pipe(pfd), 0);
	mid = fork();
	assert_true(mid >= 0);
	if (mid == 0) {
		pid_t g = fork();

		if (g == 0) {
			close(pfd[0]);
			close(pfd[1]);
			execlp("sleep", "sleep", "30", (char *)NULL);
			_exit(127);
		}
		(void)!write(pfd[1], &g, sizeof(g));
		_exit(0);
	}
	close(pfd[1]);
	assert_int_equal(read(pfd[0], &orphan, sizeof(orphan)), (ssize_t)sizeof(orphan));
	close(pfd[0]);
	waitpid(mid, &st, 0);
	unsetenv(FAULTS_TAG_ENV);
	plain = fork();
	if (plain == 0) {
		execlp("sleep", "sleep", "30", (char *)NULL);
		_exit(127);
	}
	/* exec may not have happened yet: the environment read is the new one once it has */
	for (i = 0; i < 50 && !found; i++) {
		size_t k;

		free(v);
		assert_int_equal(fault_procs(fx->dir, &v, &n), 0);
		for (k = 0; k < n; k++) {
			assert_int_not_equal(v[k].pid, plain);
			if (v[k].pid == orphan && !strcmp(v[k].comm, "sleep") && v[k].ppid != mid)
				found = 1;
		}
		if (!found)
			usleep(20000);
	}
	free(v);
	kill(orphan, SIGKILL);
	kill(plain, SIGKILL);
	waitpid(plain, &st, 0);
	assert_true(found);
	/* gone: no longer listed */
	for (i = 0, found = 1; i < 100 && found; i++) {
		size_t k;

		assert_int_equal(fault_procs(fx->dir, &v, &n), 0);
		for (k = 0, found = 0; k < n; k++)
			found |= v[k].pid == orphan;
		free(v);
		if (found)
			usleep(20000);
	}
	assert_false(found);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_comp_names),
		cmocka_unit_test(test_plant_names),
		cmocka_unit_test(test_sample),
		cmocka_unit_test_setup_teardown(test_files_clean, setup, teardown),
		cmocka_unit_test_setup_teardown(test_files_leftovers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_files_many, setup, teardown),
		cmocka_unit_test_setup_teardown(test_procs_tagged, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
