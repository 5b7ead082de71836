/*
 * verb.c - this binary's verbs as child processes (sim/verb.h): argv built
 * from this binary's path and the verb's words, stdout and stderr opened on
 * the caller's files and handed to lib/child.
 */
#include "sim/verb.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "lib/err.h"

void verb_self(char *buf, size_t size)
{
	ssize_t n = readlink("/proc/self/exe", buf, size - 1);

	if (n <= 0 || (n > 10 && !strncmp(buf + n - 10, " (deleted)", 10)))
		snprintf(buf, size, "/proc/self/exe");
	else
		buf[n] = '\0';
}

int verb_spawn(const char *self, const char *const *args, const char *name,
	       const char *out_path, const char *err_path, unsigned flags,
	       struct hl_child **out)
{
	const char *argv[48];
	struct hl_child_fd fds[2];
	struct hl_child_opts o;
	size_t n = 0, i;
	int fo, fe, rc = -1;

	*out = NULL;
	argv[n++] = self;
	for (i = 0; args[i] && n < sizeof(argv) / sizeof(argv[0]) - 1; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	fo = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	fe = open(err_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fo < 0 || fe < 0) {
		hl_error_errno("cannot create the output files '%s' and '%s'", out_path, err_path);
		goto out;
	}
	fds[0].parent_fd = fo;
	fds[0].child_fd = 1;
	fds[1].parent_fd = fe;
	fds[1].child_fd = 2;
	memset(&o, 0, sizeof(o));
	o.name = name;
	o.fds = fds;
	o.nfds = 2;
	o.flags = flags;
	rc = hl_child_spawn(argv, &o, out);
out:
	if (fo >= 0)
		close(fo);
	if (fe >= 0)
		close(fe);
	return rc;
}
