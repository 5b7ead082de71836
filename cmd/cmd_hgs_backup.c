/*
 * cmd_hgs_backup.c - `hgslab hgs export-server-state` (Export-HgsServerState)
 * and `hgslab hgs import-server-state` (Import-HgsServerState): the verbs
 * over hgs/backup.h, and where their password comes from.  The password is
 * never an argument: it is read from the terminal with echo off (asked
 * twice at export), or from --password-file FILE (its first line; a file
 * descriptor works too: --password-file /dev/fd/3), or from standard input
 * with --password-stdin.  It is held in one buffer, cleansed before exit.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "hgs/backup.h"
#include "hgs/node.h"
#include "lib/crypto.h"
#include "cmd/cmdutil.h"
#include "cmd/commands.h"

#define OPT_PASSWORD_FILE { "password-file", 0, HL_OPT_STRING, "FILE", \
	"read the password from the first line of FILE (or /dev/fd/N)", 0 }
#define OPT_PASSWORD_STDIN { "password-stdin", 0, HL_OPT_FLAG, NULL, \
	"read the password from the first line of standard input", 0 }

const struct hl_opt cmd_hgs_export_state_opts[] = {
	{ "dir", 'd', HL_OPT_STRING, "DIR", "the HGS node directory", HL_OPT_REQUIRED },
	{ "out", 'o', HL_OPT_STRING, "FILE", "the export to write (mode 0600)", HL_OPT_REQUIRED },
	OPT_PASSWORD_FILE,
	OPT_PASSWORD_STDIN,
	HL_CMD_OPT_END,
};

const struct hl_opt cmd_hgs_import_state_opts[] = {
	{ "dir", 'd', HL_OPT_STRING, "NEWDIR", "where the node is restored: new or empty",
	  HL_OPT_REQUIRED },
	{ "file", 'f', HL_OPT_STRING, "FILE", "the export (`hgs export-server-state`)",
	  HL_OPT_REQUIRED },
	{ "listen", 0, HL_OPT_STRING, "ADDR:PORT", "where the restored node listens "
	  "(default: the exported node's address)", 0 },
	OPT_PASSWORD_FILE,
	OPT_PASSWORD_STDIN,
	HL_CMD_OPT_END,
};

/* A password read, with its length and where it came from; cleansed by password_clear(). */
struct password {
	char text[HGS_BACKUP_PASSWORD_MAX + 2];
	size_t len;
	char from[PATH_MAX + 32];         /* "the password file 'F'", "standard input", ... */
};

/* Cleanse PW's password (where it came from stays). */
static void password_clear(struct password *pw)
{
	hl_crypto_cleanse(pw->text, sizeof(pw->text));
	pw->len = 0;
}

/* Read the first line of FD into PW (at most HGS_BACKUP_PASSWORD_MAX bytes); FROM names it. */
static int password_from_fd(int fd, const char *from, struct password *pw)
{
	size_t n = 0;
	ssize_t r;

	while (n < sizeof(pw->text) - 1) {
		r = read(fd, pw->text + n, sizeof(pw->text) - 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return hl_error_errno("cannot read the password from %s", from);
		if (r == 0 || memchr(pw->text + n, '\n', (size_t)r)) {
			n += (size_t)r;
			break;
		}
		n += (size_t)r;
	}
	pw->text[n] = '\0';
	pw->len = strcspn(pw->text, "\r\n");
	if (pw->len > HGS_BACKUP_PASSWORD_MAX)
		return hl_error("the password from %s is longer than %d bytes", from,
				HGS_BACKUP_PASSWORD_MAX);
	hl_crypto_cleanse(pw->text + pw->len, sizeof(pw->text) - pw->len);
	if (pw->len == 0)
		return hl_error("the password from %s is empty", from);
	return 0;
}

/* Prompt with PROMPT on the terminal TTY (echo off) and read one line into PW. */
static int password_prompt(int tty, const char *prompt, struct password *pw)
{
	struct termios old, quiet;
	int rc;

	if (tcgetattr(tty, &old) < 0)
		return hl_error_errno("cannot read the password from the terminal");
	quiet = old;
	quiet.c_lflag &= ~(tcflag_t)ECHO;
	quiet.c_lflag |= ECHONL;
	/* echo off first, then the prompt: nothing typed after the prompt is echoed */
	if (tcsetattr(tty, TCSAFLUSH, &quiet) < 0)
		return hl_error_errno("cannot read the password from the terminal");
	if (write(tty, prompt, strlen(prompt)) < 0) {
		tcsetattr(tty, TCSAFLUSH, &old);
		return hl_error_errno("cannot read the password from the terminal");
	}
	rc = password_from_fd(tty, "the terminal", pw);
	tcsetattr(tty, TCSAFLUSH, &old);
	return rc;
}

/*
 * The password of CTX into PW: --password-file, --password-stdin or the
 * terminal (asked twice when CONFIRM).  An exit code.
 */
static int password_get(const struct hl_cmd_ctx *ctx, int confirm, struct password *pw)
{
	const char *file = hl_opts_str(&ctx->opts, "password-file", NULL);
	struct password again;
	int fd, rc = HL_EXIT_USAGE;

	memset(pw, 0, sizeof(*pw));
	if (file && hl_opts_flag(&ctx->opts, "password-stdin"))
		return hl_cmd_fail(HL_EXIT_USAGE, "give --password-file or --password-stdin, not both");
	if (file) {
		fd = open(file, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return hl_cmd_fail(HL_EXIT_USAGE, "cannot read the password file '%s': %s",
					   file, strerror(errno));
		snprintf(pw->from, sizeof(pw->from), "the password file '%s'", file);
		if (password_from_fd(fd, pw->from, pw) < 0) {
			close(fd);
			goto out;
		}
		close(fd);
		return HL_EXIT_OK;
	}
	if (hl_opts_flag(&ctx->opts, "password-stdin")) {
		snprintf(pw->from, sizeof(pw->from), "standard input");
		if (password_from_fd(STDIN_FILENO, pw->from, pw) < 0)
			goto out;
		return HL_EXIT_OK;
	}
	fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (fd < 0 || !isatty(fd)) {
		if (fd >= 0)
			close(fd);
		return hl_cmd_fail(HL_EXIT_USAGE, "no terminal to ask the password on: give "
				   "--password-file FILE or --password-stdin");
	}
	memset(&again, 0, sizeof(again));
	snprintf(pw->from, sizeof(pw->from), "the terminal");
	if (password_prompt(fd, "Password: ", pw) < 0 ||
	    (confirm && password_prompt(fd, "Password again: ", &again) < 0)) {
		close(fd);
		goto out;
	}
	close(fd);
	if (confirm && (again.len != pw->len || !hl_crypto_ct_equal(again.text, pw->text, pw->len))) {
		password_clear(&again);
		hl_error("the two passwords differ; nothing was written");
		goto out;
	}
	password_clear(&again);
	return HL_EXIT_OK;
out:
	password_clear(pw);
	return hl_cmd_fail(rc, "%s", hl_error_last());
}

/* `hgs export-server-state` (Export-HgsServerState). */
int cmd_hgs_export_state(struct hl_cmd_ctx *ctx)
{
	const char *dir = hl_opts_str(&ctx->opts, "dir", NULL);
	const char *out = hl_opts_str(&ctx->opts, "out", NULL);
	struct password pw;
	int rc;

	if ((rc = password_get(ctx, 1, &pw)) != HL_EXIT_OK)
		return rc;
	rc = hgs_backup_export(dir, out, pw.text, pw.len);
	password_clear(&pw);
	if (rc < 0)
		return hl_cmd_fail(rc == -2 ? HL_EXIT_USAGE : HL_EXIT_FAILURE, "%s", hl_error_last());
	printf("exported the HGS node in '%s' to '%s' (encrypted with the password)\n", dir, out);
	return HL_EXIT_OK;
}

/* `hgs add-node --from-state`: the export's keys for a node joining a PostgreSQL store. */
int cmd_hgs_join_from_state(const struct hl_cmd_ctx *ctx, struct hgs_join_params *p)
{
	struct password pw;
	int rc;

	if ((rc = password_get(ctx, 0, &pw)) != HL_EXIT_OK)
		return rc;
	p->password = pw.text;
	p->pw_len = pw.len;
	rc = hgs_node_join(p);
	password_clear(&pw);
	p->password = NULL;
	if (rc == -3)
		return hl_cmd_fail(HL_EXIT_USAGE, "%s (the password was read from %s)",
				   hl_error_last(), pw.from);
	if (rc < 0)
		return hl_cmd_fail(rc == -2 ? HL_EXIT_USAGE : HL_EXIT_FAILURE, "cannot add the node "
				   "'%s' in '%s': %s", p->node_name, p->dir, hl_error_last());
	return HL_EXIT_OK;
}

/* `hgs import-server-state` (Import-HgsServerState). */
int cmd_hgs_import_state(struct hl_cmd_ctx *ctx)
{
	const char *dir = hl_opts_str(&ctx->opts, "dir", NULL);
	const char *file = hl_opts_str(&ctx->opts, "file", NULL);
	struct hgs_node *node = NULL;
	struct password pw;
	int rc;

	/* a target that cannot receive the node is said before the password is asked */
	if (hgs_backup_import_target(dir) < 0)
		return hl_cmd_fail(HL_EXIT_USAGE, "%s", hl_error_last());
	if ((rc = password_get(ctx, 0, &pw)) != HL_EXIT_OK)
		return rc;
	rc = hgs_backup_import(file, dir, pw.text, pw.len,
			       hl_opts_str(&ctx->opts, "listen", NULL));
	password_clear(&pw);
	if (rc == -3)
		return hl_cmd_fail(HL_EXIT_USAGE, "%s (the password was read from %s)",
				   hl_error_last(), pw.from);
	if (rc < 0)
		return hl_cmd_fail(rc == -2 ? HL_EXIT_USAGE : HL_EXIT_FAILURE, "%s", hl_error_last());
	if (hgs_node_open(dir, 0, &node) < 0)
		return hl_cmd_fail(HL_EXIT_FAILURE, "%s", hl_error_last());
	printf("imported the HGS node '%s' into '%s'; start it with `hgslab hgs serve --dir %s`\n",
	       node->config.name, dir, dir);
	hgs_node_close(node);
	return HL_EXIT_OK;
}
