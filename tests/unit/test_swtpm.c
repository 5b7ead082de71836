/*
 * test_swtpm.c - unit tests for lib/swtpm against the real swtpm binary.
 *
 * Every test runs in its own mkdtemp directory, stops each swtpm it starts
 * and removes the directory.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/child.h"
#include "lib/swtpm.h"
#include "tests/unit/testutil.h"

/* One test's scratch folder and the swtpm state folder in it. */
struct sandbox {
	char dir[TU_SANDBOX_DIR];   /* first: the scratch folder (tu_sandbox_new) */
	char state[128];
};

/* A fresh sandbox for each test. */
static int sandbox_setup(void **state)
{
	struct sandbox *s = tu_sandbox_new(sizeof(*s), "swtpm");

	if (!s)
		return -1;
	snprintf(s->state, sizeof(s->state), "%s/tpm", s->dir);
	*state = s;
	return 0;
}

/* Remove the test's sandbox. */
static int sandbox_teardown(void **state)
{
	return tu_sandbox_free(*state);
}

/* Whether something accepts TCP connections on HOST:PORT. */
static int accepts(const char *host, int port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0), ok;

	inet_pton(AF_INET, host, &sin.sin_addr);
	ok = connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0;
	close(fd);
	return ok;
}

/* Start a swtpm on S's state dir with KEY (may be NULL); asserts success. */
static struct hl_swtpm *start(struct sandbox *s, const unsigned char *key)
{
	struct hl_swtpm_opts o = { .state_dir = s->state, .key = key,
				   .key_len = key ? HL_SWTPM_KEY_LEN : 0 };
	struct hl_swtpm *t = NULL;

	if (hl_swtpm_start(&o, &t) < 0)
		fail_msg("swtpm start failed: %s", hl_error_last());
	return t;
}

/* A relative state dir becomes absolute; swtpm listens on P and P+1; stop is clean. */
static void test_start_stop(void **state)
{
	struct sandbox *s = *state;
	struct hl_swtpm_opts o = { .state_dir = "tpm" };
	struct hl_swtpm *t = NULL;
	char cwd[PATH_MAX], want[160], permall[160];
	int port, status = -1;

	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(s->dir), 0);
	assert_int_equal(hl_swtpm_start(&o, &t), 0);
	assert_int_equal(chdir(cwd), 0);
	assert_string_equal(hl_swtpm_state_dir(t), s->state);
	port = hl_swtpm_port(t);
	snprintf(want, sizeof(want), "swtpm:host=127.0.0.1,port=%d", port);
	assert_string_equal(hl_swtpm_tcti(t), want);
	assert_true(accepts("127.0.0.1", port));
	assert_true(accepts("127.0.0.1", port + 1));
	assert_int_equal(hl_child_running(hl_swtpm_child(t)), 1);
	assert_int_equal(hl_swtpm_stop(t, 0, &status), 0);
	assert_int_equal(status, 0);
	assert_false(accepts("127.0.0.1", port));
	snprintf(permall, sizeof(permall), "%s/tpm2-00.permall", s->state);
	assert_int_equal(access(permall, F_OK), 0);
	hl_swtpm_free(t);
}

/* Another loopback address can be used, and two swtpms run side by side. */
static void test_host_and_two_instances(void **state)
{
	struct sandbox *s = *state;
	char dir2[160];
	struct hl_swtpm_opts o1 = { .state_dir = s->state, .host = "127.0.0.2" };
	struct hl_swtpm_opts o2 = { .state_dir = dir2, .host = "127.0.0.2" };
	struct hl_swtpm *t1 = NULL, *t2 = NULL;

	snprintf(dir2, sizeof(dir2), "%s/tpm2", s->dir);
	assert_int_equal(hl_swtpm_start(&o1, &t1), 0);
	assert_int_equal(hl_swtpm_start(&o2, &t2), 0);
	assert_string_equal(hl_swtpm_host(t1), "127.0.0.2");
	assert_non_null(strstr(hl_swtpm_tcti(t2), "swtpm:host=127.0.0.2,port="));
	assert_int_not_equal(hl_swtpm_port(t1), hl_swtpm_port(t2));
	assert_true(accepts("127.0.0.2", hl_swtpm_port(t1)));
	assert_true(accepts("127.0.0.2", hl_swtpm_port(t2)));
	assert_int_equal(hl_swtpm_stop(t1, 0, NULL), 0);
	assert_int_equal(hl_swtpm_stop(t2, 0, NULL), 0);
	hl_swtpm_free(t1);
	hl_swtpm_free(t2);
}

/* Encrypted state: the key travels by fd; a wrong or missing key is refused. */
static void test_state_key(void **state)
{
	struct sandbox *s = *state;
	unsigned char key_a[HL_SWTPM_KEY_LEN], key_b[HL_SWTPM_KEY_LEN];
	struct hl_swtpm_opts o = { .state_dir = s->state, .key = key_b,
				   .key_len = sizeof(key_b) };
	struct hl_swtpm *t = NULL;
	char path[64], cmdline[4096];
	ssize_t n, i;
	int fd;

	memset(key_a, 'A', sizeof(key_a));
	memset(key_b, 'B', sizeof(key_b));
	t = start(s, key_a);
	/* the key is not on the command line */
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)hl_child_pid(hl_swtpm_child(t)));
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	n = read(fd, cmdline, sizeof(cmdline) - 1);
	close(fd);
	assert_true(n > 0);
	for (i = 0; i < n; i++)
		if (!cmdline[i])
			cmdline[i] = ' ';
	cmdline[n] = '\0';
	assert_non_null(strstr(cmdline, "--key fd=4,format=binary,mode=aes-256-cbc"));
	assert_null(strstr(cmdline, "AAAA"));
	assert_int_equal(hl_swtpm_stop(t, 0, NULL), 0);
	hl_swtpm_free(t);

	t = (struct hl_swtpm *)1;
	assert_int_equal(hl_swtpm_start(&o, &t), -1);
	assert_null(t);
	assert_error_has("cannot start swtpm for '");
	assert_error_has("'swtpm' exited with status 1 before it was ready");
	assert_error_has("Could not initialize libtpms");

	o.key = NULL;
	o.key_len = 0;
	assert_int_equal(hl_swtpm_start(&o, &t), -1);
	assert_error_has("Could not initialize libtpms");

	t = start(s, key_a);
	assert_int_equal(hl_swtpm_stop(t, 0, NULL), 0);
	hl_swtpm_free(t);
}

/* Bad options fail before anything runs. */
static void test_bad_options(void **state)
{
	struct sandbox *s = *state;
	unsigned char short_key[16] = { 0 };
	char comma[160];
	struct hl_swtpm_opts o = { .state_dir = s->state, .key = short_key,
				   .key_len = sizeof(short_key) };
	struct hl_swtpm *t = NULL;

	assert_int_equal(hl_swtpm_start(&o, &t), -1);
	assert_error_has("the state key must be 32 bytes");

	memset(&o, 0, sizeof(o));
	o.state_dir = s->state;
	o.program = "/nonexistent/swtpm";
	assert_int_equal(hl_swtpm_start(&o, &t), -1);
	assert_error_has("cannot run '/nonexistent/swtpm': No such file or directory");

	snprintf(comma, sizeof(comma), "%s/a,b", s->dir);
	o.program = NULL;
	o.state_dir = comma;
	assert_int_equal(hl_swtpm_start(&o, &t), -1);
	assert_error_has("contains ','");

	o.state_dir = NULL;
	assert_int_equal(hl_swtpm_start(&o, &t), -1);
	assert_null(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_start_stop, sandbox_setup, sandbox_teardown),
		cmocka_unit_test_setup_teardown(test_host_and_two_instances, sandbox_setup,
						sandbox_teardown),
		cmocka_unit_test_setup_teardown(test_state_key, sandbox_setup, sandbox_teardown),
		cmocka_unit_test_setup_teardown(test_bad_options, sandbox_setup, sandbox_teardown),
	};

	hl_child_cleanup_install(500);
	return cmocka_run_group_tests_name("swtpm", tests, NULL, NULL);
}
