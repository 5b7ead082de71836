/*
 * labclock.h - the lab clock of a served directory (an HGS node, a fabric
 * directory): the system time plus a whole number of seconds written in
 * DIR/clock-offset.
 *
 * Absent means 0; the value may be negative and is at most a hundred years
 * either way.  The file is read at every call, so a test can move a running
 * service's clock forward with `echo 32400 > DIR/clock-offset` and take it
 * back by removing the file.  Every component that keeps time for the lab
 * (nonce expiry, certificate and ticket validity, log stamps) reads it here,
 * so all of them agree.
 *
 * Contract (lib/err.h): 0 on success, -1 after hl_error(); *out is set
 * (to 0 for the offset) even on failure.
 */
#ifndef HGSLAB_LIB_LABCLOCK_H
#define HGSLAB_LIB_LABCLOCK_H

#include <stddef.h>
#include <time.h>

/* The file, inside a served directory, that holds the lab clock offset. */
#define HL_LABCLOCK_OFFSET_FILE "clock-offset"

/* The offset of DIR's lab clock in seconds into *OUT (0 when DIR/clock-offset is absent). */
int hl_labclock_offset(const char *dir, long long *out);

/* DIR's lab clock now: the system time plus the offset, into *OUT. */
int hl_labclock_now(const char *dir, time_t *out);

/* Format T as UTC "2026-11-28T17:21:05Z" into BUF (at least 21 bytes; the number when T does not fit). */
void hl_labclock_format(time_t t, char *buf, size_t size);

#endif
