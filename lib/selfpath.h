/*
 * selfpath.h - folders found beside the running binary (/proc/self/exe).
 *
 * hgslab's data (the guest, the scenario library) lives in its source tree
 * (build/guest, scenarios/) or, once installed, in PREFIX/share/hgslab/ beside
 * PREFIX/bin/hgslab.  Both are found from where the binary is, never from the
 * current directory, so hgslab runs the same from anywhere.
 */
#ifndef HGSLAB_LIB_SELFPATH_H
#define HGSLAB_LIB_SELFPATH_H

#include <stddef.h>

/*
 * The first of the N folders REL (relative to the binary's folder, e.g.
 * "../share/hgslab/guest") that holds the file PROBE, as a canonical path
 * malloc'd into *OUT.  0 with *OUT NULL when none does (or the binary's path
 * cannot be read); -1 when out of memory.
 */
int hl_self_find(const char *const *rel, size_t n, const char *probe, char **out);

#endif
