/*
 * err.h - the error context shared by every hgslab module.
 *
 * Contract: a function that can fail returns 0 (or a non-negative value) on
 * success and -1 on failure, after setting one message with hl_error().
 * Callers propagate the -1; they may add context in front of the message with
 * hl_error_wrap() but never replace it.  The message is per thread.
 *
 * Messages follow one style: lowercase, no trailing full stop, the problem
 * first, the subject quoted, then why and what to do, e.g.
 *   cannot open 'hgs.db': permission denied; check the node directory's owner
 */
#ifndef HGSLAB_LIB_ERR_H
#define HGSLAB_LIB_ERR_H

#include <stddef.h>

#define HL_ERROR_MAX 1024

#if defined(__GNUC__)
#define HL_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define HL_PRINTF(f, a)
#endif

/* Set the current error message; always returns -1. */
int hl_error(const char *fmt, ...) HL_PRINTF(1, 2);

/* Like hl_error(), then append ": strerror(errno)" for the errno on entry. */
int hl_error_errno(const char *fmt, ...) HL_PRINTF(1, 2);

/* Put "context: " in front of the current message; always returns -1. */
int hl_error_wrap(const char *fmt, ...) HL_PRINTF(1, 2);

/* The current message, or "unknown error" when none was set. */
const char *hl_error_last(void);

/* Forget the current message. */
void hl_error_clear(void);

#endif
