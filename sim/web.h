/*
 * web.h - the web files hgslab serves and writes (the dashboard of `up` and
 * `run --dashboard`, the HTML report of `run --report html`): the pages,
 * scripts and styles of web/, embedded in the binary at build time
 * (scripts/embed.sh generates web_assets[]), so nothing is fetched at run
 * time and an installed binary needs no extra file.
 */
#ifndef HGSLAB_SIM_WEB_H
#define HGSLAB_SIM_WEB_H

#include <stddef.h>

struct web_asset {
	const char *name;          /* base name in web/: "dashboard.html" */
	const char *type;          /* HTTP content type: "text/html; charset=utf-8" */
	const unsigned char *data; /* the bytes, followed by a NUL (not counted in len) */
	size_t len;
};

/* Every embedded file, ended by an entry whose name is NULL. */
extern const struct web_asset web_assets[];

/* The embedded file NAME ("seq.js"), or NULL (no error set) when there is none. */
const struct web_asset *web_asset_find(const char *name);

#endif
