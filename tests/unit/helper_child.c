/*
 * helper_child.c - a small program test_child spawns to play a supervised
 * child: it becomes ready in one of the ways lib/child waits for, misbehaves
 * on request, reports what it inherited, or supervises children itself.
 *
 *   helper_child sleep                       run until killed
 *   helper_child ready-line DELAY_MS TEXT    print TEXT after DELAY_MS, then sleep
 *   helper_child pidfile DELAY_MS PATH       write its pid to PATH after DELAY_MS
 *   helper_child tcp DELAY_MS PORT           listen on 127.0.0.1:PORT after DELAY_MS
 *   helper_child unix DELAY_MS PATH          listen on unix socket PATH after DELAY_MS
 *   helper_child byte DELAY_MS FD            write one byte on FD after DELAY_MS
 *   helper_child ignore-term                 ignore SIGTERM, print "ready", sleep
 *   helper_child exit CODE                   say so on stderr and exit with CODE
 *   helper_child report [FD...]              print cwd, $HELPER_VAR, $HOME, open fds
 *                                            and what each FD holds, then exit 0
 *   helper_child supervisor DIR N GRACE_MS REPORT_FD [nocleanup]
 *       spawn N children through lib/child (the first ignores SIGTERM), install
 *       the cleanup (unless nocleanup: then they keep PR_SET_PDEATHSIG), write
 *       their pids on REPORT_FD and sleep
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "lib/child.h"

/* Sleep MS milliseconds: the delay under test, not a readiness wait. */
static void delay(const char *ms)
{
	long v = strtol(ms, NULL, 10);
	struct timespec ts = { v / 1000, (v % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Run until a signal ends the process. */
static _Noreturn void sleep_forever(void)
{
	for (;;)
		pause();
}

/* Print "what: strerror" and exit 2. */
static _Noreturn void die(const char *what)
{
	fprintf(stderr, "helper_child: %s: %s\n", what, strerror(errno));
	exit(2);
}

/* Listen on 127.0.0.1:PORT. */
static void listen_tcp(const char *port)
{
	struct sockaddr_in sin;
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	if (fd < 0)
		die("socket");
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((unsigned short)atoi(port));
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 || listen(fd, 8) < 0)
		die("tcp listen");
}

/* Listen on the unix socket PATH. */
static void listen_unix(const char *path)
{
	struct sockaddr_un sun;
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	if (fd < 0)
		die("socket");
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 || listen(fd, 8) < 0)
		die("unix listen");
}

/* Print what this process inherited, for the fd/env/cwd tests. */
static int report(int argc, char **argv)
{
	char cwd[PATH_MAX], buf[128];
	const char *v;
	struct dirent *d;
	DIR *dir;
	ssize_t n;
	int i, first = 1;

	if (!getcwd(cwd, sizeof(cwd)))
		die("getcwd");
	printf("cwd=%s\n", cwd);
	v = getenv("HELPER_VAR");
	printf("env=%s\n", v ? v : "(unset)");
	v = getenv("HOME");
	printf("home=%s\n", v ? v : "(unset)");
	dir = opendir("/proc/self/fd");
	if (!dir)
		die("opendir");
	printf("fds=");
	while ((d = readdir(dir))) {
		if (d->d_name[0] == '.' || atoi(d->d_name) == dirfd(dir))
			continue;
		printf("%s%s", first ? "" : ",", d->d_name);
		first = 0;
	}
	printf("\n");
	closedir(dir);
	for (i = 0; i < argc; i++) {
		n = read(atoi(argv[i]), buf, sizeof(buf) - 1);
		buf[n > 0 ? n : 0] = '\0';
		printf("fd%s=%s\n", argv[i], buf);
	}
	return 0;
}

/* Spawn N children through lib/child and report their pids. */
static int supervise(const char *dir, int n, int grace_ms, int report_fd, int cleanup)
{
	static struct hl_child *kids[16];
	char self[PATH_MAX], log[PATH_MAX], line[256];
	const char *argv[3];
	struct hl_child_opts o;
	ssize_t len;
	size_t off = 0;
	int i;

	len = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (len < 0)
		die("readlink");
	self[len] = '\0';
	if (n > 16)
		n = 16;
	if (cleanup && hl_child_cleanup_install(grace_ms) < 0)
		goto fail;
	for (i = 0; i < n; i++) {
		memset(&o, 0, sizeof(o));
		snprintf(log, sizeof(log), "%s/kid%d.log", dir, i);
		o.log_path = log;
		o.flags = cleanup ? HL_CHILD_NO_DEATHSIG : 0;
		argv[0] = self;
		argv[1] = i == 0 ? "ignore-term" : "sleep";
		argv[2] = NULL;
		if (hl_child_spawn(argv, &o, &kids[i]) < 0)
			goto fail;
		if (i == 0 && hl_child_wait_log(kids[i], "ready", 5000) < 0)
			goto fail;
		off += (size_t)snprintf(line + off, sizeof(line) - off, "%s%d", i ? " " : "",
					(int)hl_child_pid(kids[i]));
	}
	snprintf(line + off, sizeof(line) - off, "\n");
	if (write(report_fd, line, strlen(line)) < 0)
		die("write report");
	close(report_fd);
	sleep_forever();
fail:
	fprintf(stderr, "helper_child: %s\n", hl_error_last());
	return 2;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";
	char b = 'R';
	FILE *f;

	if (!strcmp(mode, "sleep"))
		sleep_forever();
	if (!strcmp(mode, "ready-line") && argc == 4) {
		delay(argv[2]);
		printf("%s\n", argv[3]);
		fflush(stdout);
		sleep_forever();
	}
	if (!strcmp(mode, "pidfile") && argc == 4) {
		delay(argv[2]);
		f = fopen(argv[3], "w");
		if (!f || fprintf(f, "%d\n", (int)getpid()) < 0 || fclose(f) != 0)
			die("write pid file");
		sleep_forever();
	}
	if (!strcmp(mode, "tcp") && argc == 4) {
		delay(argv[2]);
		listen_tcp(argv[3]);
		sleep_forever();
	}
	if (!strcmp(mode, "unix") && argc == 4) {
		delay(argv[2]);
		listen_unix(argv[3]);
		sleep_forever();
	}
	if (!strcmp(mode, "byte") && argc == 4) {
		delay(argv[2]);
		if (write(atoi(argv[3]), &b, 1) != 1)
			die("write byte");
		sleep_forever();
	}
	if (!strcmp(mode, "ignore-term")) {
		signal(SIGTERM, SIG_IGN);
		printf("ready\n");
		fflush(stdout);
		sleep_forever();
	}
	if (!strcmp(mode, "exit") && argc == 3) {
		fprintf(stderr, "helper_child: exiting with %s on purpose\n", argv[2]);
		return atoi(argv[2]);
	}
	if (!strcmp(mode, "report"))
		return report(argc - 2, argv + 2);
	if (!strcmp(mode, "supervisor") && (argc == 6 || argc == 7))
		return supervise(argv[2], atoi(argv[3]), atoi(argv[4]), atoi(argv[5]),
				 !(argc == 7 && !strcmp(argv[6], "nocleanup")));
	fprintf(stderr, "usage: helper_child MODE [ARGS...] (see helper_child.c)\n");
	return 64;
}
