/*
 * swtpm.c - launch and stop swtpm TPM 2.0 emulators (see swtpm.h).
 *
 * Each guarded host's "physical" TPM, and later each VM's vTPM, is a swtpm
 * process started here through lib/child.  This file prepares what swtpm
 * needs (absolute state dir, the control socket bound in advance, the command
 * port reserved, the state key in a pipe), spawns it, and decides when it is
 * ready by a round trip on its control channel; lib/tpm then talks to it over
 * the tss2 swtpm TCTI.
 */
#include "lib/swtpm.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"

/* Where swtpm gets the control socket and the key pipe. */
#define CTRL_CHILD_FD 3
#define KEY_CHILD_FD 4

/* How many times a start is retried when swtpm loses its port. */
#define START_ATTEMPTS 5

/* How many port pairs to try before giving up. */
#define PORT_ATTEMPTS 64
/* Where swtpm ports are drawn from: [PORT_LOW, PORT_LOW + PORT_SPAN), below the ephemeral range. */
#define PORT_LOW 20000
#define PORT_SPAN 12000

/* swtpm control channel command CMD_GET_CAPABILITY (big-endian, tpm_ioctl.h). */
static const unsigned char ctrl_get_capability[4] = { 0, 0, 0, 1 };

struct hl_swtpm {
	struct hl_child *child;
	char *state_dir;    /* absolute */
	char *host;
	char *log_path;
	int port;           /* command port; control is port + 1 */
	char tcti[300];
};

/* Resolve the numeric address HOST:PORT into *SS; 0 or -1 with errno. */
static int host_addr(const char *host, int port, struct sockaddr_storage *ss, socklen_t *len)
{
	struct addrinfo hints, *res = NULL;
	char portstr[16];

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	snprintf(portstr, sizeof(portstr), "%d", port);
	if (getaddrinfo(host, portstr, &hints, &res) != 0 || !res) {
		errno = EINVAL;
		return -1;
	}
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

/*
 * A TCP socket bound to HOST:PORT (0: any free port, written to *port_out),
 * with SO_REUSEADDR when REUSE, listening when LISTEN; -1 with errno.
 */
static int bind_tcp(const char *host, int port, int reuse, int listening, int *port_out)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, one = 1, saved;

	if (host_addr(host, port, &ss, &len) < 0)
		return -1;
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if ((reuse && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0) ||
	    bind(fd, (struct sockaddr *)&ss, len) < 0 || (listening && listen(fd, 8) < 0))
		goto fail;
	if (port_out) {
		len = sizeof(ss);
		if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
			goto fail;
		*port_out = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
					: ((struct sockaddr_in6 *)&ss)->sin6_port);
	}
	return fd;

fail:
	saved = errno;
	close(fd);
	errno = saved;
	return -1;
}

/*
 * Find ports P, P+1 on HOST: P reserved (bound with SO_REUSEADDR, not
 * listening) in *reserve_fd, P+1 listening in *ctrl_fd.
 *
 * P is drawn below the kernel's ephemeral range (ip_local_port_range,
 * 32768 and up by default): ports there are never taken by outgoing
 * connections, whose TIME_WAIT remnants would refuse a bind (their sockets
 * had no SO_REUSEADDR) and, after a burst of short connections, can cover
 * most ports of the range.  The last attempts fall back to any free port.
 */
static int reserve_ports(const char *host, int *reserve_fd, int *ctrl_fd, int *port)
{
	static unsigned seed;
	int i, r, c, p;

	if (!seed)
		seed = (unsigned)getpid() ^ (unsigned)time(NULL);
	for (i = 0; i < PORT_ATTEMPTS; i++) {
		int want = i < PORT_ATTEMPTS - 8 ? PORT_LOW + (int)(rand_r(&seed) % PORT_SPAN) : 0;

		r = bind_tcp(host, want, 1, 0, &p);
		if (r < 0) {
			if (want && (errno == EADDRINUSE || errno == EACCES))
				continue;
			return hl_error_errno("cannot bind a port on '%s' for swtpm; "
					      "give a numeric loopback address", host);
		}
		if (p >= 65535) {
			close(r);
			continue;
		}
		/* SO_REUSEADDR: a port left in TIME_WAIT by a listener of ours is free
		 * to listen on (Linux still refuses a port someone listens on). */
		c = bind_tcp(host, p + 1, 1, 1, NULL);
		if (c < 0) {
			close(r);
			if (errno == EADDRINUSE || errno == EACCES)
				continue;
			return hl_error_errno("cannot bind port %d on '%s' for swtpm", p + 1, host);
		}
		*reserve_fd = r;
		*ctrl_fd = c;
		*port = p;
		return 0;
	}
	return hl_error("cannot find two adjacent free ports on '%s' for swtpm after %d tries",
			host, PORT_ATTEMPTS);
}

/*
 * Wait until swtpm answers a CMD_GET_CAPABILITY on its control channel
 * (HOST:PORT+1) while watching the process.
 */
static int wait_answer(struct hl_swtpm *t, int timeout_ms)
{
	struct sockaddr_storage ss;
	socklen_t len;
	unsigned char buf[16];
	ssize_t n;
	int fd, r;

	if (host_addr(t->host, t->port + 1, &ss, &len) < 0)
		return hl_error_errno("cannot reach swtpm's control channel on '%s'", t->host);
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return hl_error_errno("cannot reach swtpm's control channel: socket");
	if (connect(fd, (struct sockaddr *)&ss, len) < 0 ||
	    send(fd, ctrl_get_capability, sizeof(ctrl_get_capability), MSG_NOSIGNAL) !=
	    (ssize_t)sizeof(ctrl_get_capability)) {
		r = hl_error_errno("cannot reach swtpm's control channel on %s:%d",
				   t->host, t->port + 1);
		goto cleanup;
	}
	r = hl_child_poll(t->child, fd, POLLIN, timeout_ms);
	if (r == 0) {
		r = hl_error("'swtpm' did not answer on its control channel %s:%d within %d ms; "
			     "see '%s'", t->host, t->port + 1, timeout_ms, t->log_path);
		goto cleanup;
	}
	if (r < 0)
		goto cleanup;
	do
		n = read(fd, buf, sizeof(buf));
	while (n < 0 && errno == EINTR);
	r = n > 0 ? 0 : hl_child_error_died(t->child);

cleanup:
	close(fd);
	return r;
}

/*
 * One start attempt on fresh ports: 0 when ready, -1 on failure, -2 when
 * swtpm lost its command port (worth another attempt).
 */
static int start_once(struct hl_swtpm *t, const struct hl_swtpm_opts *opts, int timeout_ms)
{
	char tpmstate[PATH_MAX + 8], server[300], ctrl[32], key[64];
	const char *argv[16];
	struct hl_child_fd fds[2];
	struct hl_child_opts co;
	int reserve_fd = -1, ctrl_fd = -1, kp[2] = { -1, -1 }, argc = 0, ret = -1;

	if (reserve_ports(t->host, &reserve_fd, &ctrl_fd, &t->port) < 0)
		return -1;
	snprintf(tpmstate, sizeof(tpmstate), "dir=%s", t->state_dir);
	snprintf(server, sizeof(server), "type=tcp,port=%d,bindaddr=%s", t->port, t->host);
	snprintf(ctrl, sizeof(ctrl), "type=tcp,fd=%d", CTRL_CHILD_FD);
	argv[argc++] = opts->program ? opts->program : "swtpm";
	argv[argc++] = "socket";
	argv[argc++] = "--tpm2";
	argv[argc++] = "--tpmstate";
	argv[argc++] = tpmstate;
	argv[argc++] = "--flags";
	argv[argc++] = opts->flags ? opts->flags : "not-need-init,startup-clear";
	argv[argc++] = "--server";
	argv[argc++] = server;
	argv[argc++] = "--ctrl";
	argv[argc++] = ctrl;
	memset(&co, 0, sizeof(co));
	co.name = "swtpm";
	co.log_path = t->log_path;
	co.fds = fds;
	fds[co.nfds].parent_fd = ctrl_fd;
	fds[co.nfds++].child_fd = CTRL_CHILD_FD;
	if (opts->key) {
		if (pipe2(kp, O_CLOEXEC) < 0 ||
		    write(kp[1], opts->key, opts->key_len) != (ssize_t)opts->key_len) {
			hl_error_errno("cannot hand the state key to swtpm: pipe");
			goto cleanup;
		}
		close(kp[1]);
		kp[1] = -1;
		snprintf(key, sizeof(key), "fd=%d,format=binary,mode=aes-256-cbc", KEY_CHILD_FD);
		argv[argc++] = "--key";
		argv[argc++] = key;
		fds[co.nfds].parent_fd = kp[0];
		fds[co.nfds++].child_fd = KEY_CHILD_FD;
	}
	argv[argc] = NULL;

	if (hl_child_spawn(argv, &co, &t->child) < 0)
		goto cleanup;
	/*
	 * ctrl_fd stays open until swtpm has answered: the probe's connect then
	 * always lands in the listen queue, even if swtpm already died (which
	 * the probe sees through the child's pidfd).
	 */
	if (wait_answer(t, timeout_ms) < 0) {
		ret = strstr(hl_error_last(), "Address already in use") ? -2 : -1;
		hl_child_free(t->child);
		t->child = NULL;
		goto cleanup;
	}
	ret = 0;

cleanup:
	if (reserve_fd >= 0)
		close(reserve_fd);      /* swtpm listens on the port now */
	if (ctrl_fd >= 0)
		close(ctrl_fd);
	if (kp[0] >= 0)
		close(kp[0]);
	if (kp[1] >= 0)
		close(kp[1]);
	return ret;
}

int hl_swtpm_start(const struct hl_swtpm_opts *opts, struct hl_swtpm **out)
{
	struct hl_swtpm *t = NULL;
	char *abs = NULL;
	int timeout_ms, attempt, r = -1;

	*out = NULL;
	if (!opts || !opts->state_dir || !opts->state_dir[0])
		return hl_error("cannot start swtpm: no state directory given");
	if (opts->key && opts->key_len != HL_SWTPM_KEY_LEN)
		return hl_error("cannot start swtpm: the state key must be %d bytes "
				"(aes-256-cbc), not %zu", HL_SWTPM_KEY_LEN, opts->key_len);
	if (mkdir(opts->state_dir, 0700) < 0 && errno != EEXIST)
		return hl_error_errno("cannot create swtpm state directory '%s'", opts->state_dir);
	abs = realpath(opts->state_dir, NULL);
	if (!abs)
		return hl_error_errno("cannot resolve swtpm state directory '%s'", opts->state_dir);
	if (strchr(abs, ',')) {
		hl_error("cannot start swtpm: state directory '%s' contains ',', which swtpm's "
			 "option syntax cannot carry; use another path", abs);
		goto cleanup;
	}
	t = calloc(1, sizeof(*t));
	if (!t) {
		hl_error("cannot start swtpm: out of memory");
		goto cleanup;
	}
	t->state_dir = abs;
	abs = NULL;
	t->host = strdup(opts->host ? opts->host : "127.0.0.1");
	if (opts->log_path)
		t->log_path = strdup(opts->log_path);
	else if (asprintf(&t->log_path, "%s/swtpm.log", t->state_dir) < 0)
		t->log_path = NULL;
	if (!t->host || !t->log_path) {
		hl_error("cannot start swtpm: out of memory");
		goto cleanup;
	}
	timeout_ms = opts->timeout_ms > 0 ? opts->timeout_ms : HL_SWTPM_READY_MS;
	for (attempt = 1; attempt <= START_ATTEMPTS; attempt++) {
		r = start_once(t, opts, timeout_ms);
		if (r != -2)
			break;
		hl_log_debug("swtpm lost port %d (%s); retrying", t->port, hl_error_last());
	}
	if (r < 0) {
		if (strstr(hl_error_last(), "Could not initialize libtpms")) {
			char cause[HL_ERROR_MAX];

			snprintf(cause, sizeof(cause), "%s", hl_error_last());
			hl_error("%s; if the state is encrypted, check the state key", cause);
		}
		hl_error_wrap("cannot start swtpm for '%s'", t->state_dir);
		goto cleanup;
	}
	snprintf(t->tcti, sizeof(t->tcti), "swtpm:host=%s,port=%d", t->host, t->port);
	hl_log_debug("swtpm for '%s' ready on %s:%d (pid %d)", t->state_dir, t->host, t->port,
		     (int)hl_child_pid(t->child));
	*out = t;
	t = NULL;

cleanup:
	free(abs);
	hl_swtpm_free(t);
	return *out ? 0 : -1;
}

const char *hl_swtpm_host(const struct hl_swtpm *t)
{
	return t->host;
}

int hl_swtpm_port(const struct hl_swtpm *t)
{
	return t->port;
}

const char *hl_swtpm_tcti(const struct hl_swtpm *t)
{
	return t->tcti;
}

const char *hl_swtpm_state_dir(const struct hl_swtpm *t)
{
	return t->state_dir;
}

struct hl_child *hl_swtpm_child(struct hl_swtpm *t)
{
	return t->child;
}

int hl_swtpm_stop(struct hl_swtpm *t, int timeout_ms, int *status)
{
	if (!t->child)
		return hl_error("cannot stop swtpm for '%s': it is not running", t->state_dir);
	if (hl_child_stop(t->child, timeout_ms > 0 ? timeout_ms : HL_SWTPM_STOP_MS, status) < 0)
		return hl_error_wrap("cannot stop swtpm for '%s'", t->state_dir);
	return 0;
}

void hl_swtpm_free(struct hl_swtpm *t)
{
	if (!t)
		return;
	hl_child_free(t->child);
	free(t->state_dir);
	free(t->host);
	free(t->log_path);
	free(t);
}
