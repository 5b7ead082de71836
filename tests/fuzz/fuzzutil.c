/*
 * fuzzutil.c - the helpers the libFuzzer targets share (fuzzutil.h): quiet
 * logging and the default LLVMFuzzerInitialize, the process's scratch
 * folder, input cutting, envelopes, invariant failures and key fixtures.
 */
#include "tests/fuzz/fuzzutil.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hgs/policy.h"
#include "lib/err.h"
#include "lib/fileio.h"
#include "lib/json.h"
#include "lib/log.h"

static char scratch[PATH_MAX];

/* Abort with MSG and the last error: a fixture that fails must stop the run. */
void fz_die(const char *msg)
{
	fprintf(stderr, "fuzz: %s: %s\n", msg, hl_error_last());
	abort();
}

/* The fixture of a target that needs none: a quiet log (a target defines its own to replace it). */
__attribute__((weak)) int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fz_quiet();
	return 0;
}

/* Every Hgs_* policy's name into NAMES (at most MAX); their number. */
size_t fz_policy_names(const char **names, size_t max)
{
	size_t n = 0;

	for (const struct hgs_policy_def *d = hgs_policy_defs; d->name && n < max; d++)
		names[n++] = d->name;
	return n;
}

/* Abort on a broken invariant, saying which. */
void fz_fail(const char *what)
{
	fprintf(stderr, "fuzz: invariant broken: %s\n", what);
	abort();
}

/* Errors only on stderr. */
void fz_quiet(void)
{
	hl_log_set_stderr_level(HL_LOG_ERROR);
}

/* Remove the scratch folder (atexit). */
static void scratch_remove(void)
{
	if (scratch[0])
		hl_file_rmtree(scratch);
}

/* The process's scratch folder, made on first use. */
const char *fz_scratch(void)
{
	const char *base = getenv("TMPDIR");

	if (scratch[0])
		return scratch;
	if (access("/dev/shm", W_OK) == 0)
		base = "/dev/shm";
	else if (!base || !*base)
		base = "/tmp";
	snprintf(scratch, sizeof(scratch), "%s/hgslab-fuzz-XXXXXX", base);
	if (!mkdtemp(scratch)) {
		hl_error_errno("cannot create '%s'", scratch);
		scratch[0] = '\0';
		fz_die("no scratch folder");
	}
	atexit(scratch_remove);
	return scratch;
}

/* Write DATA to PATH, replacing it. */
void fz_put(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	const char *p = data;

	if (fd < 0) {
		hl_error_errno("cannot create '%s'", path);
		fz_die("scratch file");
	}
	while (len > 0) {
		ssize_t w = write(fd, p, len);

		if (w <= 0) {
			hl_error_errno("cannot write '%s'", path);
			fz_die("scratch file");
		}
		p += w;
		len -= (size_t)w;
	}
	close(fd);
}

/* A NUL-terminated copy of DATA[0..LEN). */
char *fz_strndup(const void *data, size_t len)
{
	char *s = malloc(len + 1);

	if (!s)
		abort();
	if (len)
		memcpy(s, data, len);
	s[len] = '\0';
	return s;
}

/* The next byte of IN, or 0. */
uint8_t fz_byte(struct fz_in *in)
{
	uint8_t b;

	if (!in->n)
		return 0;
	b = in->p[0];
	in->p++;
	in->n--;
	return b;
}

/* The bytes of IN up to the next FZ_SEP (taken with it), or all that is left. */
void fz_part(struct fz_in *in, const uint8_t **part, size_t *len)
{
	const size_t seplen = sizeof(FZ_SEP) - 1;
	const uint8_t *end = memmem(in->p, in->n, FZ_SEP, seplen);

	*part = in->p;
	if (!end) {
		*len = in->n;
		in->p += in->n;
		in->n = 0;
		return;
	}
	*len = (size_t)(end - in->p);
	in->n -= *len + seplen;
	in->p = end + seplen;
}

/* {"format", "version", "alg": "PS256", "body": base64 BODY, "signature": base64 "sig"}. */
void fz_envelope(const char *format, int version, const void *body, size_t len,
		 struct hl_buf *out)
{
	json_t *o = json_pack("{s:s, s:i, s:s}", "format", format, "version", version, "alg",
			      "PS256");
	char *text = NULL;

	if (!o || hl_json_set_base64(o, "body", body, len) < 0 ||
	    hl_json_set_base64(o, "signature", "sig", 3) < 0 || hl_json_dump(o, &text) < 0)
		fz_die("cannot build an envelope");
	json_decref(o);
	out->data = (unsigned char *)text;
	out->len = strlen(text);
}

/* A key of TYPE and a self-signed certificate for it named CN, valid from a day ago for ten years. */
void fz_keypair_make(enum hl_key_type type, const char *cn, struct fz_keypair *out)
{
	struct hl_cert_spec spec = { 0 };
	time_t now = time(NULL);

	spec.cn = cn;
	spec.not_before = now - 86400;
	spec.not_after = now + 3650L * 86400;
	spec.path_len = -1;
	if (hl_key_generate(type, &out->key) < 0 ||
	    hl_cert_issue_self_signed(&spec, out->key, &out->cert) < 0)
		fz_die("cannot make a key fixture");
}
