/*
 * report.c - the guest's channel to the host: a virtio-serial port.
 *
 * The launcher gives the VM `-device virtio-serial -device
 * virtserialport,name=org.hgslab.agent,chardev=...`; without udev the port is
 * found by its name in /sys/class/virtio-ports/vportNpM/name and opened as
 * /dev/vportNpM.  Each event is one JSON line, {"event":"...", ...,
 * "uptime_ms":N}, also echoed to the console.  A write to a port whose host
 * side nobody reads blocks in the kernel, so the port is opened non-blocking
 * and each write waits at most REPORT_WAIT_MS; after a timeout the channel is
 * given up (the console still gets the events).
 *
 * The other direction: the specialize mode reads the host's lines on the
 * same port (report_read_line), each bounded in size and time.  They may
 * carry a secret (the secrets key), so they are never echoed and the caller
 * cleanses them.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "guest/agent.h"

#define REPORT_WAIT_MS 15000

static int port_fd = -1;

/* Look for the port named NAME once; its /dev path into DEV. */
static int find_port(const char *name, char *dev, size_t devlen)
{
	char path[300], buf[160];
	struct dirent *e;
	int found = -1;
	DIR *d;

	d = opendir("/sys/class/virtio-ports");
	if (!d)
		return -1;
	while (found < 0 && (e = readdir(d))) {
		FILE *f;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/sys/class/virtio-ports/%s/name", e->d_name);
		f = fopen(path, "re");
		if (!f)
			continue;
		if (fgets(buf, sizeof(buf), f)) {
			buf[strcspn(buf, "\n")] = '\0';
			if (strcmp(buf, name) == 0) {
				snprintf(dev, devlen, "/dev/%s", e->d_name);
				found = 0;
			}
		}
		fclose(f);
	}
	closedir(d);
	return found;
}

/* Find and open the port named NAME, waiting at most WAIT_MS. */
int report_open(const char *name, int wait_ms)
{
	long end = agent_uptime_ms() + wait_ms;
	char dev[300];

	while (find_port(name, dev, sizeof(dev)) < 0) {
		if (agent_uptime_ms() >= end)
			return agent_err("no virtio-serial port named '%s' (give the VM -device virtserialport,name=%s)",
					 name, name);
		usleep(10000);
	}
	if (agent_wait_path(dev, wait_ms) < 0)
		return agent_err("virtio-serial port '%s' has no device node %s", name, dev);
	port_fd = open(dev, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (port_fd < 0)
		return agent_err("cannot open virtio-serial port %s: %s", dev, strerror(errno));
	return 0;
}

/* Write LINE to the port, waiting for the host at most REPORT_WAIT_MS. */
static void port_write(const char *line, size_t len)
{
	long end = agent_uptime_ms() + REPORT_WAIT_MS;
	size_t done = 0;

	while (port_fd >= 0 && done < len) {
		ssize_t n = write(port_fd, line + done, len - done);

		if (n > 0) {
			done += (size_t)n;
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			agent_log("virtio-serial write failed: %s; events go to the console only", strerror(errno));
			report_close();
			return;
		}
		long left = end - agent_uptime_ms();
		if (left <= 0) {
			agent_log("the host has not read the channel for %d s; events go to the console only",
				  REPORT_WAIT_MS / 1000);
			report_close();
			return;
		}
		struct pollfd p = { .fd = port_fd, .events = POLLOUT };
		poll(&p, 1, (int)(left < 100 ? left : 100));
	}
}

/* Send one event line (see agent.h). */
void report_event(const char *event, json_t *fields)
{
	json_t *obj = json_object();
	char *line;

	json_object_set_new(obj, "event", json_string(event));
	if (fields) {
		json_object_update(obj, fields);
		json_decref(fields);
	}
	json_object_set_new(obj, "uptime_ms", json_integer(agent_uptime_ms()));
	line = json_dumps(obj, JSON_COMPACT);
	json_decref(obj);
	if (!line) {
		agent_log("cannot encode the '%s' event", event);
		return;
	}
	agent_log("%s", line);
	size_t len = strlen(line);
	line[len] = '\n';   /* json_dumps' terminator becomes the line end */
	port_write(line, len + 1);
	free(line);
}

/* Send an error event for STAGE with REASON. */
void report_error(const char *stage, const char *reason)
{
	report_event("error", json_pack("{s:s, s:s}", "stage", stage, "reason", reason));
}

/* Read one line from the host (see agent.h); its bytes stay out of every log. */
int report_read_line(char **line, size_t *len, size_t max, int timeout_ms)
{
	long end = agent_uptime_ms() + timeout_ms;
	size_t have = 0;
	char *buf, *nl;

	*line = NULL;
	*len = 0;
	if (port_fd < 0)
		return agent_err("no channel to the host: the virtio-serial port is not open");
	if (!(buf = malloc(max + 1)))
		return agent_err("out of memory for the host's message");
	for (;;) {
		ssize_t n = read(port_fd, buf + have, max + 1 - have);

		if (n > 0) {
			have += (size_t)n;
			if ((nl = memchr(buf, '\n', have))) {
				/* the host sends one line and waits for the answer: nothing follows it */
				*nl = '\0';
				*len = (size_t)(nl - buf);
				*line = buf;
				return 0;
			}
			if (have > max) {
				explicit_bzero(buf, have);
				free(buf);
				return agent_err("the host's message is longer than %zu bytes", max);
			}
			continue;
		}
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
			explicit_bzero(buf, have);
			free(buf);
			return agent_err("the host closed the channel before its message ended%s%s",
					 n < 0 ? ": " : "", n < 0 ? strerror(errno) : "");
		}
		long left = end - agent_uptime_ms();
		if (left <= 0) {
			explicit_bzero(buf, have);
			free(buf);
			return agent_err("the host sent no complete message within %d s", timeout_ms / 1000);
		}
		struct pollfd p = { .fd = port_fd, .events = POLLIN };
		poll(&p, 1, (int)(left < 1000 ? left : 1000));
	}
}

/* Close the port; later events go to the console only. */
void report_close(void)
{
	if (port_fd >= 0) {
		close(port_fd);
		port_fd = -1;
	}
}
