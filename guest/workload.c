/*
 * workload.c - the tenant's workload, for now: SHA-256 of tenant files.
 *
 * It proves the VM reached the tenant's data without ever showing it: the
 * host gets a digest per file, never the content.  The files are the ones
 * named by hgslab.hash= (comma-separated, relative to the tenant disk) or,
 * by default, every regular file on the disk in sorted order.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "guest/agent.h"

/* SHA-256 of the file at PATH as lowercase hex into HEX (65 bytes). */
static int hash_file(const char *path, const char *shown, char hex[65])
{
	unsigned char buf[65536], md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0, i;
	EVP_MD_CTX *ctx;
	ssize_t n;
	int fd, ret = -1;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return agent_err("workload: cannot open '%s' on the tenant disk: %s", shown, strerror(errno));
	ctx = EVP_MD_CTX_new();
	if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
		agent_err("workload: SHA-256 is not available");
		goto cleanup;
	}
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		EVP_DigestUpdate(ctx, buf, (size_t)n);
	if (n < 0) {
		agent_err("workload: cannot read '%s': %s", shown, strerror(errno));
		goto cleanup;
	}
	EVP_DigestFinal_ex(ctx, md, &mdlen);
	for (i = 0; i < mdlen && i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	ret = 0;
cleanup:
	explicit_bzero(buf, sizeof(buf));
	EVP_MD_CTX_free(ctx);
	close(fd);
	return ret;
}

/* Add REL (relative to ROOT) with its digest to SUMS. */
static int add_file(const char *root, const char *rel, json_t *sums)
{
	char path[4200], hex[65];

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	if (hash_file(path, rel, hex) < 0)
		return -1;
	json_object_set_new(sums, rel, json_string(hex));
	return 0;
}

/* Hash every regular file under ROOT/REL, in sorted order, into SUMS. */
static int walk(const char *root, const char *rel, json_t *sums)
{
	char dir[4200], sub[4200];
	struct dirent **ents = NULL;
	int n, i, ret = 0;

	snprintf(dir, sizeof(dir), "%s%s%s", root, rel[0] ? "/" : "", rel);
	n = scandir(dir, &ents, NULL, alphasort);
	if (n < 0)
		return agent_err("workload: cannot list '%s': %s", rel[0] ? rel : "/", strerror(errno));
	for (i = 0; i < n; i++) {
		const char *name = ents[i]->d_name;
		struct stat st;

		if (ret < 0 || !strcmp(name, ".") || !strcmp(name, "..") ||
		    (!rel[0] && !strcmp(name, "lost+found")))
			continue;
		snprintf(sub, sizeof(sub), "%s%s%s", rel, rel[0] ? "/" : "", name);
		snprintf(dir, sizeof(dir), "%s/%s", root, sub);
		if (lstat(dir, &st) < 0)
			continue;
		if (S_ISDIR(st.st_mode))
			ret = walk(root, sub, sums);
		else if (S_ISREG(st.st_mode)) {
			if (json_object_size(sums) >= WORKLOAD_MAX_FILES)
				ret = agent_err("workload: more than %d files on the tenant disk: name the ones "
						"to hash with hgslab.hash=", WORKLOAD_MAX_FILES);
			else
				ret = add_file(root, sub, sums);
		}
	}
	for (i = 0; i < n; i++)
		free(ents[i]);
	free(ents);
	return ret;
}

/* Run the workload over the volume mounted at ROOT (see agent.h). */
int workload_run(const char *root, const char *names, json_t **out)
{
	json_t *sums = json_object();
	int ret = 0;

	*out = NULL;
	if (names) {
		char list[1024], *tok, *save = NULL;

		snprintf(list, sizeof(list), "%s", names);
		for (tok = strtok_r(list, ",", &save); tok && ret == 0; tok = strtok_r(NULL, ",", &save)) {
			while (*tok == '/')
				tok++;
			if (!*tok || strstr(tok, ".."))
				ret = agent_err("workload: '%s' is not a path on the tenant disk", tok);
			else
				ret = add_file(root, tok, sums);
		}
	} else {
		ret = walk(root, "", sums);
	}
	if (ret < 0) {
		json_decref(sums);
		return -1;
	}
	*out = json_pack("{s:s, s:I, s:o}", "kind", "sha256", "files", (json_int_t)json_object_size(sums),
			 "sha256", sums);
	return 0;
}
