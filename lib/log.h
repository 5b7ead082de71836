/*
 * log.h - levelled, timestamped logging with a component tag.
 *
 * Every line looks like
 *   2026-11-28T17:21:05.123Z hgs[1234] info: node MyHgsService listening on 127.0.0.2:8080
 * and goes to stderr (when the level passes the stderr threshold) and to the
 * log file (when one is open, at the file threshold).  Safe to call from
 * several threads.
 */
#ifndef HGSLAB_LIB_LOG_H
#define HGSLAB_LIB_LOG_H

#include "lib/err.h"

enum hl_log_level {
	HL_LOG_QUIET = -1,   /* as a threshold only: no line passes */
	HL_LOG_ERROR = 0,
	HL_LOG_WARN = 1,
	HL_LOG_INFO = 2,
	HL_LOG_DEBUG = 3,
};

/* Set the component tag (e.g. "hgs", "host:FabricHost1"); copied. */
void hl_log_set_component(const char *component);

/* Set the stderr threshold (default HL_LOG_WARN). */
void hl_log_set_stderr_level(enum hl_log_level level);

/* Open (append) PATH, created 0600, as the log file with its own threshold. */
int hl_log_open_file(const char *path, enum hl_log_level level);

/* Close the log file, if any. */
void hl_log_close(void);

/* Parse "error", "warn", "info" or "debug"; -1 with an error otherwise. */
int hl_log_level_parse(const char *name, enum hl_log_level *out);

/* Write one log line. */
void hl_log(enum hl_log_level level, const char *fmt, ...) HL_PRINTF(2, 3);

#define hl_log_error(...) hl_log(HL_LOG_ERROR, __VA_ARGS__)
#define hl_log_warn(...)  hl_log(HL_LOG_WARN, __VA_ARGS__)
#define hl_log_info(...)  hl_log(HL_LOG_INFO, __VA_ARGS__)
#define hl_log_debug(...) hl_log(HL_LOG_DEBUG, __VA_ARGS__)

#endif
