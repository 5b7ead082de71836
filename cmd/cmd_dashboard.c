/*
 * cmd_dashboard.c - `hgslab dashboard`: serve the live dashboard of a lab
 * (sim/dashboard.h) until SIGTERM or SIGINT.  `hgslab up` starts it
 * detached; by hand it shows any lab directory that has a lab.json.  The
 * run is a served one (lib/served.h): it claims WORK/dashboard/dashboard.pid
 * for its whole life, prints one readiness line with its URL, and logs to
 * WORK/dashboard/dashboard.log.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd/cmdutil.h"
#include "cmd/commands.h"
#include "lib/crypto.h"
#include "lib/log.h"
#include "lib/served.h"
#include "sim/dashboard.h"

const struct hl_opt cmd_dashboard_opts[] = {
	{ "workdir", 'w', HL_OPT_STRING, "DIR", "the lab directory (its lab.json; default $TMPDIR/hgslab-up-UID)", 0 },
	{ "listen", 'l', HL_OPT_STRING, "ADDR:PORT", "loopback address and port (default 127.0.0.1:0, a free port)", 0 },
	{ "guest", 0, HL_OPT_STRING, "DIR", "the guest the start-vm action gives (default start-vm's own)", 0 },
	{ NULL, 0, 0, NULL, NULL, 0 },
};

/* `hgslab dashboard`: serve until a signal. */
int cmd_dashboard(struct hl_cmd_ctx *ctx)
{
	struct hl_served_run run = { 0 };
	struct dashboard_config cfg = { 0 };
	struct dashboard *d = NULL;
	const char *tmp = getenv("TMPDIR");
	char work[PATH_MAX], dir[PATH_MAX + 16], token[DASHBOARD_TOKEN_SIZE];
	int has, rc = -1;

	if (hl_opts_str(&ctx->opts, "workdir", NULL))
		snprintf(work, sizeof(work), "%s", hl_opts_str(&ctx->opts, "workdir", NULL));
	else
		snprintf(work, sizeof(work), "%s/hgslab-up-%u", tmp && *tmp ? tmp : "/tmp",
			 (unsigned)getuid());
	snprintf(dir, sizeof(dir), "%s/%s", work, DASHBOARD_DIR);
	if (access(work, F_OK) < 0)
		return hl_cmd_fail(HL_EXIT_FAILURE, "no lab directory '%s': bring a fabric up there with "
				   "`hgslab up --workdir %s FILE`", work, work);
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return hl_cmd_fail(HL_EXIT_FAILURE, "cannot create '%s': %s", dir, strerror(errno));
	if ((has = dashboard_token_read(dir, token)) < 0)
		return hl_cmd_fail(HL_EXIT_FAILURE, "%s", hl_error_last());
	cfg.work = work;
	cfg.listen = hl_opts_str(&ctx->opts, "listen", NULL);
	cfg.token = has ? token : NULL;
	cfg.guest = hl_opts_str(&ctx->opts, "guest", NULL);
	if (hl_served_log_open("dashboard", dir, DASHBOARD_LOG_FILE, HL_LOG_INFO) < 0)
		return hl_cmd_fail(HL_EXIT_FAILURE, "%s", hl_error_last());
	/* a shell starts background jobs with SIGINT ignored: reset before blocking (hgs serve) */
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	if (hl_served_block_signals(&run) < 0 ||
	    hl_served_refuse_other(dir, DASHBOARD_PID_FILE, "lab's dashboard") < 0 ||
	    dashboard_start(&cfg, &d) < 0 || hl_served_write_pid(&run, dir, DASHBOARD_PID_FILE) < 0)
		goto out;
	hl_log_info("dashboard of '%s' on %s (teacher actions %s)", work, dashboard_url(d),
		    has ? "on, with the token" : "off: no token");
	if (hl_served_ready("hgslab dashboard: serving %s on %s\n", work, dashboard_url(d)) < 0)
		goto out;
	hl_served_wait(&run);
	rc = 0;
out:
	if (rc < 0)
		hl_cmd_fail(HL_EXIT_FAILURE, "dashboard: %s", hl_error_last());
	dashboard_stop(d);
	hl_served_finish(&run, rc);
	hl_crypto_cleanse(token, sizeof(token));
	return rc < 0 ? HL_EXIT_FAILURE : HL_EXIT_OK;
}
