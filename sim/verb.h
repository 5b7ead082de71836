/*
 * verb.h - this binary's own verbs run as child processes, as the lab
 * runner (sim/lab.h) and the fabric controller (sim/vmm.h) run them: the
 * same `hgslab VERB ...` a person would type, argv[0] this very binary, its
 * stdout and stderr into two files the caller reads afterwards (lib/child
 * supervises the process).
 *
 * Contract (lib/err.h): 0 on success, -1 after hl_error(); *out = NULL on
 * entry and set only on success.
 */
#ifndef HGSLAB_SIM_VERB_H
#define HGSLAB_SIM_VERB_H

#include <stddef.h>

#include "lib/child.h"

/*
 * This binary's path into BUF of SIZE (/proc/self/exe when it was rebuilt
 * while running: the kernel still has the old image, and exec of that link
 * runs it).
 */
void verb_self(char *buf, size_t size);

/*
 * Start SELF with the NULL-terminated ARGS (at most 46) as arguments, named
 * NAME in messages, with stdout into OUT_PATH and stderr into ERR_PATH
 * (created 0600, truncated); OPTS_FLAGS are lib/child's flags.  *OUT owns
 * the running child.
 */
int verb_spawn(const char *self, const char *const *args, const char *name,
	       const char *out_path, const char *err_path, unsigned flags,
	       struct hl_child **out);

#endif
