/*
 * fuzzutil.h - what the libFuzzer targets of tests/fuzz/ share: a quiet log,
 * a private scratch folder, cutting one input into parts, the signed
 * envelope around a fuzzed body, the Hgs_* policy names, failing on a broken
 * invariant, and the fixtures several targets need (an RSA or P-256 key with
 * a self-signed certificate, made once per process).
 *
 * Every tests/fuzz/fuzz_TARGET.c defines LLVMFuzzerTestOneInput (and
 * LLVMFuzzerInitialize when it needs a fixture) and is linked with this file
 * and build/fuzz/libhgslab.a by `make fuzz-build`; tests/fuzz/README.md says
 * how to run, add and reproduce.  A helper that cannot do its job aborts the
 * process: a broken fixture must not pass for a clean run.
 */
#ifndef HGSLAB_TESTS_FUZZUTIL_H
#define HGSLAB_TESTS_FUZZUTIL_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "lib/crypto.h"

/*
 * libFuzzer's entry points.  fuzzutil.c has a weak LLVMFuzzerInitialize that
 * only calls fz_quiet(); a target with a fixture defines its own, which
 * calls fz_quiet() first.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* Print "fuzz: MSG" and the current hl_error, then abort (a fixture failed). */
void fz_die(const char *msg) __attribute__((noreturn));

/* Print "fuzz: invariant broken: WHAT", then abort (a reader and its writer disagree, ...). */
void fz_fail(const char *what) __attribute__((noreturn));

/* Every Hgs_* policy's name (hgs_policy_defs) into NAMES, at most MAX; how many. */
size_t fz_policy_names(const char **names, size_t max);

/* Log only errors to stderr (handlers warn about what a fuzzer sends on purpose). */
void fz_quiet(void);

/*
 * A private folder for this process (in /dev/shm when it can be, else
 * $TMPDIR or /tmp), made at the first call and removed at exit.
 */
const char *fz_scratch(void);

/* Write LEN bytes of DATA to PATH (plain write, no fsync: a fuzzer writes often). */
void fz_put(const char *path, const void *data, size_t len);

/* DATA[0..LEN) as a new NUL-terminated string (it may hold NULs before the end). */
char *fz_strndup(const void *data, size_t len);

/*
 * An input being cut into parts.  fz_byte() takes the first byte (0 when
 * none is left); fz_part() takes the bytes up to the next occurrence of
 * FZ_SEP (or the rest), so seeds are written as PART1 FZ_SEP PART2 ...
 */
struct fz_in {
	const uint8_t *p;
	size_t n;
};
#define FZ_SEP "\n--8<--\n"
uint8_t fz_byte(struct fz_in *in);
void fz_part(struct fz_in *in, const uint8_t **part, size_t *len);

/*
 * The signed envelope of proto/keyprotector.h (a KP, a .pdk) around BODY
 * (LEN bytes) with FORMAT and VERSION and a dummy signature, into OUT: the
 * readers check signatures only after parsing, so the body's JSON can be
 * fuzzed as JSON instead of as base64.
 */
void fz_envelope(const char *format, int version, const void *body, size_t len,
		 struct hl_buf *out);

/* A key pair made once per process: RSA-2048 or P-256, with a self-signed certificate CN. */
struct fz_keypair {
	EVP_PKEY *key;
	X509 *cert;
};
void fz_keypair_make(enum hl_key_type type, const char *cn, struct fz_keypair *out);

#endif
