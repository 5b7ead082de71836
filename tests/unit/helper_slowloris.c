/*
 * helper_slowloris.c - slow HTTP clients, for the availability tests of an
 * HGS node (tests/cli/availability.sh): each client opens a connection,
 * sends a request line and then one more header line every INTERVAL_MS,
 * never ending its headers.  When the server closes a connection the client
 * notes how long it lived and connects again at once, so the pressure stays
 * for the whole run.
 *
 *   helper_slowloris ADDR PORT SRC_ADDR CLIENTS INTERVAL_MS SECONDS
 *
 * connects from SRC_ADDR (a loopback address of its own, so that a per
 * client limit of the server sees one client) to ADDR:PORT.  It prints
 * "ready" once every client has connected and sent its first line (or
 * after 10 s), then at the end one line:
 *
 *   connections N cut M longest_ms L refused R
 *
 * N connections made, M of them closed by the server, L the longest life
 * of a connection the server closed (0 when none was), R connects the
 * server refused or reset at once.  Exit 0, or 2 on bad arguments.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define MAX_CLIENTS 4096

/* One slow client.  fd -1 while not connected. */
struct client {
	int fd;
	long long since;     /* when its connection was made (ms) */
	long long next;      /* when to send its next line */
	int lines;
};

static struct sockaddr_in to, from;
static long connections, cut, refused;
static long long longest;

/* Milliseconds on the monotonic clock. */
static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Connect C (blocking: loopback) and send its request line; 0, or -1 when refused. */
static int client_open(struct client *c)
{
	static const char first[] = "POST /Attestation/v1/nonce HTTP/1.1\r\nHost: hgs\r\n";
	struct timeval tv = { 1, 0 };
	int one = 1;

	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return -1;
	setsockopt(c->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* a connect to a full backlog gives up after a second instead of stalling every client */
	setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (bind(c->fd, (struct sockaddr *)&from, sizeof(from)) < 0 ||
	    connect(c->fd, (struct sockaddr *)&to, sizeof(to)) < 0 ||
	    send(c->fd, first, strlen(first), MSG_NOSIGNAL) < 0) {
		close(c->fd);
		c->fd = -1;
		refused++;
		return -1;
	}
	fcntl(c->fd, F_SETFL, O_NONBLOCK);
	connections++;
	c->since = now_ms();
	c->lines = 0;
	return 0;
}

/* The server closed C: note its life, connect again. */
static void client_closed(struct client *c)
{
	long long life = now_ms() - c->since;

	close(c->fd);
	c->fd = -1;
	cut++;
	if (life > longest)
		longest = life;
	client_open(c);
}

int main(int argc, char **argv)
{
	static struct client cl[MAX_CLIENTS];
	static struct pollfd pf[MAX_CLIENTS];
	long n, interval, seconds, i;
	long long end, ready_by;
	int announced = 0;

	if (argc != 7 || (n = atol(argv[4])) <= 0 || n > MAX_CLIENTS ||
	    (interval = atol(argv[5])) <= 0 || (seconds = atol(argv[6])) <= 0) {
		fprintf(stderr, "usage: helper_slowloris ADDR PORT SRC_ADDR CLIENTS INTERVAL_MS SECONDS\n");
		return 2;
	}
	to.sin_family = from.sin_family = AF_INET;
	to.sin_port = htons((unsigned short)atoi(argv[2]));
	if (inet_pton(AF_INET, argv[1], &to.sin_addr) != 1 ||
	    inet_pton(AF_INET, argv[3], &from.sin_addr) != 1) {
		fprintf(stderr, "helper_slowloris: bad address\n");
		return 2;
	}
	end = now_ms() + seconds * 1000;
	ready_by = now_ms() + 10000;
	for (i = 0; i < n; i++) {
		cl[i].fd = -1;
		client_open(&cl[i]);
		cl[i].next = now_ms() + interval;
	}
	while (now_ms() < end) {
		long long t = now_ms();

		if (!announced && (t >= ready_by || connections >= n)) {
			printf("ready\n");
			fflush(stdout);
			announced = 1;
		}
		for (i = 0; i < n; i++) {
			pf[i].fd = cl[i].fd;
			pf[i].events = POLLIN;
			pf[i].revents = 0;
		}
		if (poll(pf, (nfds_t)n, 100) < 0 && errno != EINTR)
			break;
		t = now_ms();
		for (i = 0; i < n; i++) {
			struct client *c = &cl[i];

			if (c->fd < 0) {
				if (t >= c->next) {
					client_open(c);
					c->next = t + interval;
				}
				continue;
			}
			if (pf[i].revents) {
				char buf[4096];
				ssize_t r = recv(c->fd, buf, sizeof(buf), 0);

				/* an answer (a 408 or 413) or the end: either way the server let go */
				if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR) ||
				    pf[i].revents & (POLLHUP | POLLERR)) {
					client_closed(c);
					continue;
				}
			}
			if (t >= c->next) {
				char line[64];
				int len = snprintf(line, sizeof(line), "X-Slow-%d: %d\r\n", c->lines,
						   c->lines);

				c->lines++;
				c->next = t + interval;
				if (send(c->fd, line, (size_t)len, MSG_NOSIGNAL) < 0 && errno != EAGAIN)
					client_closed(c);
			}
		}
	}
	for (i = 0; i < n; i++)
		if (cl[i].fd >= 0)
			close(cl[i].fd);
	printf("connections %ld cut %ld longest_ms %lld refused %ld\n", connections, cut, longest,
	       refused);
	return 0;
}
