/*
 * suggest.c - nearest-word suggestions for error messages (see suggest.h).
 */
#include "lib/suggest.h"

#include <string.h>
#include <strings.h>

size_t hl_edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i, j;
	size_t row[HL_SUGGEST_MAXLEN + 1], prev, tmp;

	if (la > HL_SUGGEST_MAXLEN || lb > HL_SUGGEST_MAXLEN)
		return HL_SUGGEST_FAR;
	for (j = 0; j <= lb; j++)
		row[j] = j;
	for (i = 1; i <= la; i++) {
		prev = row[0];
		row[0] = i;
		for (j = 1; j <= lb; j++) {
			size_t best = prev + (a[i - 1] != b[j - 1]);

			if (row[j] + 1 < best)
				best = row[j] + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			tmp = row[j];
			row[j] = best;
			prev = tmp;
		}
	}
	return row[lb];
}

const char *hl_suggest_n(const char *word, const char *const *choices, size_t n)
{
	size_t len, limit, best = HL_SUGGEST_FAR, d, i;
	const char *pick = NULL;

	if (!word || !choices)
		return NULL;
	for (i = 0; i < n; i++)
		if (choices[i] && strcasecmp(word, choices[i]) == 0)
			return choices[i];
	len = strlen(word);
	limit = len / 3 > 2 ? len / 3 : 2;
	for (i = 0; i < n; i++) {
		if (!choices[i])
			continue;
		d = hl_edit_distance(word, choices[i]);
		if (d < best) {
			best = d;
			pick = choices[i];
		}
	}
	if (pick && best <= limit && best < len)
		return pick;
	return NULL;
}

const char *hl_suggest(const char *word, const char *const *choices)
{
	size_t n = 0;

	if (!choices)
		return NULL;
	while (choices[n])
		n++;
	return hl_suggest_n(word, choices, n);
}
