/*
 * web.c - lookup in the web files embedded at build time (sim/web.h).
 */
#include "sim/web.h"

#include <string.h>

const struct web_asset *web_asset_find(const char *name)
{
	const struct web_asset *a;

	if (!name)
		return NULL;
	for (a = web_assets; a->name; a++)
		if (!strcmp(a->name, name))
			return a;
	return NULL;
}
