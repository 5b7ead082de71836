/*
 * main.c - the hgslab binary's entry point: logging defaults, then the
 * command table (sim/cmd.c, sim/table.c).
 */
#include <signal.h>

#include "lib/log.h"
#include "cmd/cmd.h"

int main(int argc, char **argv)
{
	/* A closed pipe to `head` must end the output, not kill us mid-cleanup. */
	signal(SIGPIPE, SIG_IGN);
	hl_log_set_component("hgslab");
	hl_log_set_stderr_level(HL_LOG_WARN);
	return hl_cmd_main(argc, argv);
}
