/*
 * cmdutil.c - the steps the verb files share (cmd/cmdutil.h): reading input
 * files (the one rule: missing or of the wrong kind is bad input, exit 2)
 * and public keys for a verb, reporting a failed call with its exit
 * code, the one-object outputs, and the hgs verbs' node opening and log
 * listing (the only component it knows, through hgs/node.h), and where the
 * scenario library is.
 */
#include "cmd/cmdutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "hgs/node.h"
#include "hgs/trace.h"
#include "lib/crypto.h"
#include "lib/selfpath.h"
#include "lib/err.h"
#include "lib/fileio.h"
#include "proto/keyprotector.h"
#include "cmd/output.h"

int hl_cmd_check(int rc, int code)
{
	if (rc < 0)
		return hl_cmd_fail(code, "%s", hl_error_last());
	return HL_EXIT_OK;
}

int hl_cmd_code_of(int rc)
{
	if (rc == -2)
		return hl_cmd_fail(HL_EXIT_USAGE, "%s", hl_error_last());
	return hl_cmd_check(rc, HL_EXIT_FAILURE);
}

int hl_cmd_read_file(const char *path, const char *what, size_t max, char **buf, size_t *len)
{
	if (hl_file_read(path, max, buf, len) < 0)
		return hl_cmd_fail(HL_EXIT_USAGE, "cannot read the %s: %s", what, hl_error_last());
	return HL_EXIT_OK;
}

int hl_cmd_read_input(const char *opt, const char *path, const char *what, size_t max,
		      hl_cmd_kind_fn *kind, char **buf, size_t *len)
{
	char *data = NULL;
	size_t n = 0;

	if (hl_file_read(path, max, &data, &n) < 0)
		return hl_cmd_fail(HL_EXIT_USAGE, "cannot read the %s (%s): %s", what, opt,
				   hl_error_last());
	if (kind && kind(data, n) < 0) {
		free(data);
		return hl_cmd_fail(HL_EXIT_USAGE, "'%s' (%s) is not a %s: %s", path, opt, what,
				   hl_error_last());
	}
	if (buf) {
		*buf = data;
		if (len)
			*len = n;
	} else {
		free(data);
	}
	return HL_EXIT_OK;
}

int hl_cmd_kind_kp(const char *buf, size_t len)
{
	struct hl_kp *kp = NULL;

	if (hl_kp_parse(buf, len, &kp) < 0)
		return -1;
	hl_kp_free(kp);
	return 0;
}

int hl_cmd_input_dir(const char *opt, const char *path)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return hl_cmd_fail(HL_EXIT_USAGE, "cannot read %s '%s': %s", opt, path,
				   strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return hl_cmd_fail(HL_EXIT_USAGE, "%s '%s' is not a folder", opt, path);
	return HL_EXIT_OK;
}

/* A public key from PEM text BUF: a public key or a certificate; NOTE as in the header. */
static int public_key_from_pem(const char *buf, size_t len, const char *note, EVP_PKEY **out)
{
	EVP_PKEY *priv = NULL;
	X509 *cert = NULL;
	int rc;

	*out = NULL;
	if (hl_key_pub_from_pem(buf, len, out) == 0)
		return 0;
	if (hl_cert_from_pem(buf, len, &cert) == 0) {
		rc = hl_cert_pubkey(cert, out);
		hl_cert_free(cert);
		return rc;
	}
	if (hl_key_priv_from_pem(buf, len, &priv) == 0) {
		hl_key_free(priv);
		return hl_error("it holds a private key; give the public key only "
				"(`openssl pkey -in KEY -pubout`)%s%s", note ? ": " : "",
				note ? note : "");
	}
	return hl_error("it holds neither a PEM public key ('BEGIN PUBLIC KEY') nor a PEM "
			"certificate");
}

int hl_cmd_read_public_key(const char *path, const char *what, const char *note, EVP_PKEY **out)
{
	EVP_PKEY *key = NULL;
	enum hl_key_type kt;
	char *buf = NULL;
	size_t len = 0;
	int code;

	*out = NULL;
	if ((code = hl_cmd_read_file(path, what, HL_FILE_READ_MAX, &buf, &len)) != HL_EXIT_OK)
		return code;
	if (public_key_from_pem(buf, len, note, &key) < 0 || hl_key_type_of(key, &kt) < 0) {
		code = hl_cmd_fail(HL_EXIT_USAGE, "invalid %s '%s': %s", what, path, hl_error_last());
		hl_key_free(key);
	} else {
		*out = key;
	}
	free(buf);
	return code;
}

void hl_cmd_set_str(json_t *o, const char *key, const char *v)
{
	json_object_set_new(o, key, v ? json_string(v) : json_null());
}

int hl_cmd_out_rows(const struct hl_cmd_ctx *ctx, int rc, const json_t *rows,
		    const char *const *cols, const char *none)
{
	if (rc < 0)
		return hl_cmd_fail(HL_EXIT_FAILURE, "%s", hl_error_last());
	return hl_out_rows(ctx, rows, cols, none);
}

json_t *hl_cmd_find_row(const json_t *rows, const char *key, const char *value)
{
	const char *v;
	json_t *row;
	size_t i;

	json_array_foreach((json_t *)rows, i, row) {
		v = json_string_value(json_object_get(row, key));
		if (v && strcmp(v, value) == 0)
			return json_pack("[O]", row);
	}
	return NULL;
}

int hl_cmd_out_one(const struct hl_cmd_ctx *ctx, const json_t *row, const char *const *cols)
{
	if (hl_opts_flag(&ctx->opts, "json"))
		return hl_out_json(json_array_get(row, 0));
	return hl_out_rows(ctx, row, cols, "");
}

int hl_cmd_hgs_open(const struct hl_cmd_ctx *ctx, struct hgs_node **node)
{
	return hl_cmd_check(hgs_node_open(hl_opts_str(&ctx->opts, "dir", NULL), 0, node),
			    HL_EXIT_FAILURE);
}

/* String member NAME of O, or "". */
static const char *member(const json_t *o, const char *name)
{
	const char *v = json_string_value(json_object_get(o, name));

	return v ? v : "";
}

/* Print the entry of log ROWS whose Id is ID with its trace (--trace ID); an exit code. */
static int out_trace(const struct hl_cmd_ctx *ctx, const json_t *rows, long id)
{
	const json_t *subs;
	json_t *row, *sub;
	size_t i, j;

	json_array_foreach((json_t *)rows, i, row) {
		if (json_integer_value(json_object_get(row, "Id")) != id)
			continue;
		if (hl_opts_flag(&ctx->opts, "json"))
			return hl_out_json(row);
		if (json_object_get(row, "Status")) {
			/* an attestation: Status (SubStatus, ...) */
			printf("Attestation %ld, %s, host '%s': %s", id, member(row, "Time"),
			       member(row, "Host"), member(row, "Status"));
			subs = json_object_get(row, "SubStatus");
			json_array_foreach(subs, j, sub)
				printf("%s%s", j ? ", " : " (", json_string_value(sub));
			printf("%s\n", json_array_size(subs) ? ")" : "");
		} else {
			/* a key release: Result Reason */
			printf("Key release %ld, %s, host '%s': %s%s%s\n", id, member(row, "Time"),
			       member(row, "Host"), member(row, "Result"),
			       member(row, "Reason")[0] ? " " : "", member(row, "Reason"));
		}
		hgs_trace_print(stdout, json_object_get(row, "Trace"));
		return HL_EXIT_OK;
	}
	return hl_cmd_fail(HL_EXIT_FAILURE, "no entry with Id %ld in the log; list the Ids with "
			   "--json", id);
}

int hl_cmd_hgs_log(const struct hl_cmd_ctx *ctx, hl_cmd_hgs_log_fn *list, const char *const *cols,
		   const char *none)
{
	const char *host = hl_opts_str(&ctx->opts, "host", NULL);
	long last = hl_opts_int(&ctx->opts, "last", 0), id = hl_opts_int(&ctx->opts, "trace", 0);
	struct hgs_node *node = NULL;
	json_t *rows = NULL;
	int code, rc;

	if (last < 0)
		return hl_cmd_fail(HL_EXIT_USAGE, "invalid --last %ld: give a positive number", last);
	if (id < 0)
		return hl_cmd_fail(HL_EXIT_USAGE, "invalid --trace %ld: give an entry's Id", id);
	if ((code = hl_cmd_hgs_open(ctx, &node)) != HL_EXIT_OK)
		return code;
	rc = list(node, host, last, &rows);
	if (id && rc == 0)
		code = out_trace(ctx, rows, id);
	else
		code = hl_cmd_out_rows(ctx, rc, rows, cols, none);
	json_decref(rows);
	hgs_node_close(node);
	return code;
}

/* Split NAME=VALUE items. */
int hl_cmd_split_pairs(const struct hl_optval *v, const char *opt, const char *form,
		       struct hl_cmd_pair **pairs)
{
	struct hl_cmd_pair *p;
	const char *eq;
	size_t i;

	*pairs = NULL;
	p = calloc(v->n + 1, sizeof(*p));
	if (!p)
		return hl_cmd_fail(HL_EXIT_FAILURE, "out of memory");
	for (i = 0; i < v->n; i++) {
		eq = strchr(v->list[i], '=');
		if (!eq || eq == v->list[i]) {
			hl_cmd_pairs_free(p, i);
			return hl_cmd_fail(HL_EXIT_USAGE, "bad %s '%s': give %s", opt, v->list[i],
					   form);
		}
		p[i].name = strndup(v->list[i], (size_t)(eq - v->list[i]));
		p[i].value = strdup(eq + 1);
		if (!p[i].name || !p[i].value) {
			hl_cmd_pairs_free(p, i + 1);
			return hl_cmd_fail(HL_EXIT_FAILURE, "out of memory");
		}
	}
	*pairs = p;
	return HL_EXIT_OK;
}

/* Free pairs. */
void hl_cmd_pairs_free(struct hl_cmd_pair *pairs, size_t n)
{
	size_t i;

	for (i = 0; pairs && i < n; i++) {
		free(pairs[i].name);
		free(pairs[i].value);
	}
	free(pairs);
}

/* "16M" and the like. */
int hl_cmd_parse_size(const char *s, size_t *out)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 10);

	if (end == s)
		return -1;
	switch (*end) {
	case 'K': case 'k': v <<= 10; end++; break;
	case 'M': case 'm': v <<= 20; end++; break;
	case 'G': case 'g': v <<= 30; end++; break;
	default: break;
	}
	if (*end)
		return -1;
	*out = (size_t)v;
	return 0;
}

int hl_cmd_scenario_dir(char *buf, size_t size)
{
	static const char *const rel[] = { "scenarios", "../scenarios", "../../scenarios",
					   "../../../scenarios", "../share/hgslab/scenarios" };
	const char *env = getenv("HGSLAB_SCENARIOS");
	char *found;

	if (env && *env) {
		snprintf(buf, size, "%s", env);
		return 0;
	}
	if (hl_self_find(rel, sizeof(rel) / sizeof(rel[0]), HL_CMD_SCENARIO_PROBE, &found) < 0)
		return -1;
	snprintf(buf, size, "%s", found ? found : "scenarios");
	free(found);
	return 0;
}
