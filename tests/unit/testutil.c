/*
 * testutil.c - the helpers every unit test may use (testutil.h): the last
 * error checked, the repository's test data found from the test program's
 * own path, scratch directories, sandboxes and files, a closed loopback
 * port, the lab's HGS node, a TPM key template, and tpm2_eventlog run as
 * the independent reference for TCG logs.  The Makefile links this file
 * into every test program; it is not a test itself (it has no main).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hgs/node.h"
#include "lib/child.h"
#include "lib/crypto.h"
#include "lib/fileio.h"
#include "lib/labclock.h"
#include "tests/unit/testutil.h"
#include "tests/unit/teststore.h"

/* Folders between the repository root and a test program: build/<flavour>/tests/. */
#define TU_EXE_DEPTH 3

/* Whether the current error message contains TEXT (printed when not). */
int tu_error_has(const char *text)
{
	if (strstr(hl_error_last(), text))
		return 1;
	print_error("message '%s' lacks '%s'\n", hl_error_last(), text);
	return 0;
}

/* The next of 16 rotating path buffers. */
static char *next_buf(void)
{
	static char bufs[16][PATH_MAX];
	static int i;

	i = (i + 1) % 16;
	return bufs[i];
}

/* The repository root, derived once from /proc/self/exe. */
const char *tu_repo_root(void)
{
	static char root[PATH_MAX];
	char exe[PATH_MAX], data[PATH_MAX + 16];
	struct stat st;
	ssize_t n;
	char *slash;
	int up;

	if (root[0])
		return root;
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n < 0) {
		hl_error_errno("cannot read '/proc/self/exe'");
		return NULL;
	}
	exe[n] = '\0';
	/* drop the program's name, then build/<flavour>/tests */
	for (up = 0; up <= TU_EXE_DEPTH; up++) {
		slash = strrchr(exe, '/');
		if (!slash || slash == exe) {
			hl_error("test program '%s' is not %d folders below the repository root", exe,
				 TU_EXE_DEPTH);
			return NULL;
		}
		*slash = '\0';
	}
	snprintf(data, sizeof(data), "%s/tests/data", exe);
	if (stat(data, &st) < 0 || !S_ISDIR(st.st_mode)) {
		hl_error("no test data folder '%s' (test programs live in build/<flavour>/tests/ "
			 "of the repository)", data);
		return NULL;
	}
	snprintf(root, sizeof(root), "%s", exe);
	return root;
}

/* $HGSLAB_FIXTURES/REL or ROOT/tests/data/REL. */
const char *tu_data_path(const char *rel)
{
	const char *dir = getenv("HGSLAB_FIXTURES"), *root;
	char *buf = next_buf();

	if (dir && *dir) {
		snprintf(buf, PATH_MAX, "%s/%s", dir, rel);
		return buf;
	}
	root = tu_repo_root();
	if (!root)
		fail_msg("cannot find the test data: %s", hl_error_last());
	snprintf(buf, PATH_MAX, "%s/tests/data/%s", root, rel);
	return buf;
}

/* The whole of test data file REL, in an allocation of exactly its size (so ASan sees over-reads). */
uint8_t *tu_data_load(const char *rel, size_t *len)
{
	const char *path = tu_data_path(rel);
	char *text = NULL;
	uint8_t *buf;

	if (hl_file_read(path, HL_FILE_READ_MAX, &text, len) < 0)
		fail_msg("cannot read test data '%s' (HGSLAB_FIXTURES replaces tests/data): %s", path,
			 hl_error_last());
	if (*len == 0)
		fail_msg("test data '%s' is empty", path);
	buf = malloc(*len);
	assert_non_null(buf);
	memcpy(buf, text, *len);
	free(text);
	return buf;
}

/* mkdtemp /tmp/hgslab-test-TAG-XXXXXX. */
int tu_mkdtemp(char *buf, size_t size, const char *tag)
{
	if ((size_t)snprintf(buf, size, "/tmp/hgslab-test-%s-XXXXXX", tag) >= size)
		return -1;
	return mkdtemp(buf) ? 0 : -1;
}

/* rm -rf DIR. */
int tu_rmtree(const char *dir)
{
	if (hl_file_rmtree(dir) < 0) {
		fprintf(stderr, "cannot remove '%s': %s\n", dir, hl_error_last());
		return -1;
	}
	return 0;
}

/* Run a shell command. */
int tu_sh(const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return system(cmd) == 0 ? 0 : -1;
}

/* A formatted path in a rotating buffer. */
const char *tu_path(const char *fmt, ...)
{
	char *buf = next_buf();
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, PATH_MAX, fmt, ap);
	va_end(ap);
	return buf;
}

/* The mode bits of PATH. */
unsigned tu_mode_of(const char *path)
{
	struct stat st;

	if (stat(path, &st) < 0)
		fail_msg("'%s' does not exist", path);
	return st.st_mode & 07777;
}

/* 1 when PATH exists. */
int tu_exists(const char *path)
{
	return access(path, F_OK) == 0;
}

/* Entries of DIR starting with PREFIX. */
int tu_count_prefix(const char *dir, const char *prefix)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	if (!d)
		return 0;
	while ((e = readdir(d)))
		if (!strncmp(e->d_name, prefix, strlen(prefix)))
			n++;
	closedir(d);
	return n;
}

/* Whether file PATH contains TEXT. */
int tu_file_has(const char *path, const char *text)
{
	char *buf = NULL;
	int found;

	if (hl_file_read(path, HL_FILE_READ_MAX, &buf, NULL) < 0)
		return 0;
	found = strstr(buf, text) != NULL;
	free(buf);
	return found;
}

/* The whole of file PATH. */
char *tu_slurp(const char *path, size_t *len)
{
	char *buf = NULL;

	if (hl_file_read(path, HL_FILE_READ_MAX, &buf, len) < 0)
		fail_msg("%s", hl_error_last());
	return buf;
}

/* TEXT into PATH. */
void tu_put(const char *path, const char *text)
{
	if (hl_file_write(path, text, strlen(text), 0644) < 0)
		fail_msg("%s", hl_error_last());
}

/* TEXT into DIR/clock-offset, or no such file. */
void tu_set_clock_offset(const char *dir, const char *text)
{
	const char *path = tu_path("%s/%s", dir, HL_LABCLOCK_OFFSET_FILE);

	if (!text)
		unlink(path);
	else
		tu_put(path, text);
}

/* DATA into a fresh temporary file. */
void tu_write_temp(const void *data, size_t len, const char *tag, char *path, size_t size)
{
	int fd;

	snprintf(path, size, "/tmp/hgslab-test-%s-XXXXXX", tag);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(close(fd), 0);
}

/* A zeroed sandbox of SIZE bytes with its folder made. */
void *tu_sandbox_new(size_t size, const char *tag)
{
	char *s;

	if (size < TU_SANDBOX_DIR || !(s = calloc(1, size)))
		return NULL;
	if (tu_mkdtemp(s, TU_SANDBOX_DIR, tag) < 0) {
		free(s);
		return NULL;
	}
	return s;
}

/* rm -rf sandbox S's folder, free S. */
int tu_sandbox_free(void *s)
{
	int rc;

	if (!s)
		return 0;
	rc = tu_rmtree(s);
	free(s);
	return rc;
}

/* A self-signed CA certificate for KEY named CN. */
int tu_self_signed(EVP_PKEY *key, const char *cn, X509 **out)
{
	struct hl_cert_spec spec = { 0 };
	time_t now = time(NULL);

	spec.cn = cn;
	spec.not_before = now - 60;
	spec.not_after = now + 86400;
	spec.is_ca = 1;
	spec.path_len = -1;
	return hl_cert_issue_self_signed(&spec, key, out);
}

/* The fake QEMU (testutil.h). */
static const char fake_qemu[] =
	"#!/bin/sh\n"
	"printf '%s\\n' \"$@\" > \"$FAKE_QEMU_ARGS\"\n"
	/* the run folder QEMU names its sockets through (fd 5, vm/launch.c) */
	"[ -e /proc/$$/fd/5 ] && printf 'run-fd=%s\\n' \"$(readlink /proc/$$/fd/5)\" >> \"$FAKE_QEMU_ARGS\"\n"
	"for a; do case $a in socket,id=agent,path=*) sock=${a#socket,id=agent,path=} ;;\n"
	"\tsocket,id=qmp,fd=*) qmp=${a#socket,id=qmp,fd=} ;; esac; done\n"
	"if [ -n \"$qmp\" ]; then\n"
	"\tmain=$$\n"
	"\t(printf '{\"QMP\":{\"version\":{}}}\\n'\n"
	"\twhile read -r line; do\n"
	"\t\tprintf '%s\\n' \"$line\" >> \"${FAKE_QEMU_QMP:-/dev/null}\"\n"
	"\t\tprintf '{\"return\":{}}\\n'\n"
	"\t\tcase $line in *system_powerdown*) kill \"$main\"; exit 0 ;; esac\n"
	"\tdone) <&\"$qmp\" >&\"$qmp\" &\n"
	"fi\n"
	"if [ -n \"$FAKE_QEMU_GUEST\" ]; then\n"
	"\tsocat \"UNIX-CONNECT:$sock\" \"EXEC:$FAKE_QEMU_GUEST\" || exit 3\n"
	"elif [ -n \"$FAKE_QEMU_EVENTS\" ]; then\n"
	"\tsocat -u -t 0 \"FILE:$FAKE_QEMU_EVENTS\" \"UNIX-CONNECT:$sock\" || exit 3\n"
	"fi\n"
	"exec sleep \"${FAKE_QEMU_SLEEP:-0}\"\n";

/* Install the fake QEMU and the stand-in guest under DIR. */
int tu_fake_qemu_install(const char *dir, char **old_path)
{
	const char *path = getenv("PATH");
	char bin[PATH_MAX], guest[PATH_MAX], *newpath = NULL;

	*old_path = NULL;
	snprintf(bin, sizeof(bin), "%s/bin", dir);
	snprintf(guest, sizeof(guest), "%s/guest", dir);
	if (hl_file_mkdirs(bin, 0700) < 0 || hl_file_mkdirs(guest, 0700) < 0 ||
	    hl_file_write(tu_path("%s/vmlinuz", guest), "k\n", 2, 0644) < 0 ||
	    hl_file_write(tu_path("%s/initramfs.cpio", guest), "i\n", 2, 0644) < 0 ||
	    hl_file_write(tu_path("%s/qemu-system-x86_64", bin), fake_qemu, strlen(fake_qemu),
			  0755) < 0)
		return -1;
	if (!(*old_path = strdup(path ? path : "/usr/bin:/bin")) ||
	    asprintf(&newpath, "%s:%s", bin, *old_path) < 0)
		return -1;
	setenv("PATH", newpath, 1);
	free(newpath);
	unsetenv("FAKE_QEMU_GUEST");
	unsetenv("FAKE_QEMU_EVENTS");
	unsetenv("FAKE_QEMU_SLEEP");
	unsetenv("FAKE_QEMU_QMP");
	return 0;
}

/* Put PATH back. */
void tu_fake_qemu_remove(char *old_path)
{
	if (!old_path)
		return;
	setenv("PATH", old_path, 1);
	free(old_path);
}

/* A free port of 127.0.0.1. */
unsigned short tu_closed_port(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	close(fd);
	return ntohs(sa.sin_port);
}

/* FN(ARG) in a child killed after TIMEOUT_S: its value and message, or TU_HUNG. */
int tu_bounded(int (*fn)(void *), void *arg, int timeout_s, char *msg, size_t size)
{
	struct { int rc; char msg[HL_ERROR_MAX]; } r;
	int pfd[2], status = 0;
	size_t got = 0;
	pid_t pid;

	msg[0] = '\0';
	fflush(NULL);
	assert_int_equal(pipe(pfd), 0);
	if ((pid = fork()) == 0) {
		close(pfd[0]);
		alarm((unsigned)timeout_s);
		memset(&r, 0, sizeof(r));
		r.rc = fn(arg);
		snprintf(r.msg, sizeof(r.msg), "%s", hl_error_last());
		if (write(pfd[1], &r, sizeof(r)) != (ssize_t)sizeof(r))
			_exit(1);
		_exit(0);
	}
	assert_true(pid > 0);
	close(pfd[1]);
	while (got < sizeof(r)) {
		struct pollfd p = { pfd[0], POLLIN, 0 };
		ssize_t n;

		if (poll(&p, 1, (timeout_s + 5) * 1000) <= 0)
			break;
		if ((n = read(pfd[0], (char *)&r + got, sizeof(r) - got)) <= 0)
			break;
		got += (size_t)n;
	}
	close(pfd[0]);
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	if (got < sizeof(r))
		return TU_HUNG;
	snprintf(msg, size, "%s", r.msg);
	return r.rc;
}

/* A child holding pid file PATH until killed. */
pid_t tu_pidfile_holder(const char *path)
{
	int fds[2];
	char c;
	pid_t pid;

	assert_int_equal(pipe(fds), 0);
	fflush(NULL);
	if ((pid = fork()) == 0) {
		struct hl_pidfile pf = { "", -1 };

		setpgid(0, 0);
		close(fds[0]);
		if (hl_pidfile_claim(&pf, path, NULL) < 0 || write(fds[1], "k", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	assert_true(pid > 0);
	close(fds[1]);
	assert_int_equal(read(fds[0], &c, 1), 1);
	close(fds[0]);
	return pid;
}

/* MyHgsService in TRUST mode, created at DIR and opened with its keys. */
int tu_hgs_node(const char *dir, enum hgs_mode trust, struct hgs_node **out)
{
	struct hgs_init_params p = {
		.dir = dir, .name = "MyHgsService", .domain = "relecloud.com",
		.trust = trust, .listen = "127.0.0.1:0",
	};

	if (hgs_node_create(&p) < 0 || tus_hgs_node_store(dir) < 0 ||
	    hgs_node_open(dir, HGS_NODE_OPEN_KEYS, out) < 0)
		return -1;
	if (tus_hgs_node_check(*out) < 0) {
		hgs_node_close(*out);
		*out = NULL;
		return -1;
	}
	return 0;
}

/* An ECC P-256 ECDSA key template. */
void tu_tpm_ecc_template(TPM2B_PUBLIC *tmpl, TPMA_OBJECT attrs)
{
	memset(tmpl, 0, sizeof(*tmpl));
	tmpl->publicArea.type = TPM2_ALG_ECC;
	tmpl->publicArea.nameAlg = TPM2_ALG_SHA256;
	tmpl->publicArea.objectAttributes = attrs;
	tmpl->publicArea.parameters.eccDetail.symmetric.algorithm = TPM2_ALG_NULL;
	tmpl->publicArea.parameters.eccDetail.scheme.scheme = TPM2_ALG_ECDSA;
	tmpl->publicArea.parameters.eccDetail.scheme.details.ecdsa.hashAlg = TPM2_ALG_SHA256;
	tmpl->publicArea.parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
	tmpl->publicArea.parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
}

/* Hex digits of S into OUT; the byte count. */
static size_t unhex(const char *s, uint8_t *out, size_t max)
{
	size_t n = 0;
	unsigned v;

	while (n < max && isxdigit((unsigned char)s[0]) && isxdigit((unsigned char)s[1]) &&
	       sscanf(s, "%2x", &v) == 1) {
		out[n++] = (uint8_t)v;
		s += 2;
	}
	return n;
}

/* Read tpm2_eventlog's stdout (F) into OUT: events, then the "pcrs:" banks. */
static void read_stdout(FILE *f, struct tu_eventlog *out)
{
	struct tu_eventlog_bank *bank = NULL;
	char line[8192];
	int in_pcrs = 0;

	while (fgets(line, sizeof(line), f)) {
		char name[32], hex[256];
		unsigned idx;

		if (strncmp(line, "- EventNum:", 11) == 0)
			out->nevents++;
		if (strncmp(line, "pcrs:", 5) == 0) {
			in_pcrs = 1;
			continue;
		}
		if (!in_pcrs)
			continue;
		if (sscanf(line, "  %31[a-z0-9_]:", name) == 1 && line[2] != ' ') {
			if (out->nbanks >= HL_TCGLOG_MAX_ALGS)
				fail_msg("tpm2_eventlog printed more than %d banks", HL_TCGLOG_MAX_ALGS);
			bank = &out->banks[out->nbanks++];
			snprintf(bank->name, sizeof(bank->name), "%s", name);
			if (hl_tcglog_alg_from_name(name, &bank->alg) < 0)
				bank->alg = 0;
		} else if (bank && sscanf(line, " %u : 0x%255s", &idx, hex) == 2) {
			if (idx >= HL_TCGLOG_PCRS)
				fail_msg("tpm2_eventlog printed PCR %u", idx);
			bank->size[idx] = unhex(hex, bank->pcr[idx], HL_TCGLOG_MAX_DIGEST);
			bank->present |= 1u << idx;
			out->npcrs++;
		}
	}
}

/* Read tpm2_eventlog's stderr (F) into OUT: the first line and the warnings. */
static void read_stderr(FILE *f, struct tu_eventlog *out)
{
	char line[8192];

	while (fgets(line, sizeof(line), f)) {
		const char *w = strstr(line, "WARN");
		size_t ev;

		if (!out->first_err[0])
			snprintf(out->first_err, sizeof(out->first_err), "%s", line);
		if (!w)
			continue;
		out->nwarnings++;
		if (sscanf(w, "WARN: Event %zu's digest does not match its payload", &ev) == 1 &&
		    out->nmismatch < sizeof(out->mismatch) / sizeof(out->mismatch[0]))
			out->mismatch[out->nmismatch++] = ev;
	}
}

/* tpm2_eventlog PATH into OUT. */
void tu_tpm2_eventlog(const char *path, struct tu_eventlog *out)
{
	char cmd[8192], errpath[64], *q = cmd;
	const char *p;
	FILE *f;
	int fd;

	memset(out, 0, sizeof(*out));
	snprintf(errpath, sizeof(errpath), "/tmp/hgslab-test-eventlog-XXXXXX");
	fd = mkstemp(errpath);
	assert_true(fd >= 0);
	close(fd);
	q += sprintf(q, "tpm2_eventlog '");
	for (p = path; *p && q < cmd + sizeof(cmd) - 80; p++) {
		if (*p == '\'')
			q += sprintf(q, "'\\''");
		else
			*q++ = *p;
	}
	sprintf(q, "' 2>%s", errpath);
	f = popen(cmd, "r");
	assert_non_null(f);
	read_stdout(f, out);
	out->status = pclose(f);
	f = fopen(errpath, "r");
	assert_non_null(f);
	read_stderr(f, out);
	fclose(f);
	unlink(errpath);
}

/* helper_keeper next to this program, as a NULL-ended command. */
const char *const *tu_keeper(void)
{
	static char path[PATH_MAX];
	static const char *argv[2] = { path, NULL };
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	char *slash;

	if (n < 0)
		fail_msg("cannot read '/proc/self/exe': %s", strerror(errno));
	exe[n] = '\0';
	if ((slash = strrchr(exe, '/')))
		*slash = '\0';
	snprintf(path, sizeof(path), "%s/helper_keeper", exe);
	return argv;
}
