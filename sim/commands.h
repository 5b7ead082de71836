/*
 * commands.h - every command function and option table the command table
 * (sim/table.c) refers to.  One block per file that implements commands.
 */
#ifndef HGSLAB_SIM_COMMANDS_H
#define HGSLAB_SIM_COMMANDS_H

#include "sim/cmd.h"

/* sim/cmd_version.c */
extern const struct hl_opt cmd_version_opts[];
int cmd_version(struct hl_cmd_ctx *ctx);

/* sim/cmd_diagnose.c */
extern const struct hl_opt cmd_diagnose_opts[];
int cmd_diagnose(struct hl_cmd_ctx *ctx);

/* sim/cmd_demo.c */
extern const struct hl_opt cmd_demo_opts[];
int cmd_demo(struct hl_cmd_ctx *ctx);

#endif
