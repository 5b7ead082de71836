/*
 * suggest.h - "did you mean" for a mistyped word: the nearest of a set of
 * known words by edit distance (Levenshtein), when it is close enough to be
 * a likely typo rather than a different word.
 *
 * Close enough: an exact match ignoring case, or a distance of at most
 * max(2, strlen(WORD) / 3) that is also smaller than strlen(WORD) (so a
 * one- or two-letter word is not "corrected" into an unrelated one).  Ties go
 * to the earlier choice.
 */
#ifndef HGSLAB_LIB_SUGGEST_H
#define HGSLAB_LIB_SUGGEST_H

#include <stddef.h>

/* Words longer than this never match (their distance is HL_SUGGEST_FAR). */
#define HL_SUGGEST_MAXLEN 255
#define HL_SUGGEST_FAR ((size_t)-1)

/* Levenshtein distance of A and B; HL_SUGGEST_FAR when either is too long. */
size_t hl_edit_distance(const char *a, const char *b);

/* The nearest of the NULL-terminated CHOICES to WORD when close enough, else NULL. */
const char *hl_suggest(const char *word, const char *const *choices);

/* The same over N choices (entries may be NULL: skipped). */
const char *hl_suggest_n(const char *word, const char *const *choices, size_t n);

#endif
