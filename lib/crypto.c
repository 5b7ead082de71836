/*
 * crypto.c - hgslab's cryptography over OpenSSL 3 (see crypto.h for the
 * contract): owned buffers, randomness, digests, hex and base64, RSA and
 * P-256 keys, SHA-256 signatures, RSA-OAEP key wrapping, AES-256-GCM, HKDF,
 * CMS SignedData, and X.509 issuance, parsing and chain verification.
 *
 * Nothing here implements a primitive: every operation is an EVP, PEM, X509
 * or RAND call.  OpenSSL's error queue is emptied at the start of each
 * operation that reports OpenSSL errors, and ossl_fail() turns the first
 * queued error into the reason part of the hl_error() message.
 */
#include "lib/crypto.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/cms.h>
#include <openssl/core_names.h>
#include <openssl/kdf.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/ess.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>

#include "lib/err.h"

/* Largest private key file hl_key_priv_load_file reads. */
#define KEY_FILE_MAX (1024 * 1024)

/* Longest CN (or subject text) used in messages. */
#define NAME_MAX_LEN 256

static int ossl_fail(const char *fmt, ...) HL_PRINTF(1, 2);

/* Describe OpenSSL error E ("lib: reason") into BUF. */
static void ossl_reason(unsigned long e, char *buf, size_t size)
{
	const char *lib, *reason;

	if (!e) {
		snprintf(buf, size, "no detail from openssl");
		return;
	}
	lib = ERR_lib_error_string(e);
	reason = ERR_reason_error_string(e);
	if (reason)
		snprintf(buf, size, "%s%s%s", lib ? lib : "", lib ? ": " : "", reason);
	else
		ERR_error_string_n(e, buf, size);
}

/* Set "<message>: <first openssl error>", empty the queue; returns -1. */
static int ossl_fail(const char *fmt, ...)
{
	char what[HL_ERROR_MAX], why[256];
	unsigned long e = ERR_get_error();
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	ossl_reason(e, why, sizeof(why));
	ERR_clear_error();
	return hl_error("%s: %s", what, why);
}

/* Set B to the empty buffer. */
static void buf_reset(struct hl_buf *b)
{
	b->data = NULL;
	b->len = 0;
}

/* Allocate LEN bytes plus a trailing NUL into B. */
static int buf_alloc(struct hl_buf *b, size_t len)
{
	if (len == SIZE_MAX)
		return hl_error("cannot allocate %zu bytes: too large", len);
	b->data = malloc(len + 1);
	if (!b->data) {
		b->len = 0;
		return hl_error("cannot allocate %zu bytes: out of memory", len);
	}
	b->data[len] = '\0';
	b->len = len;
	return 0;
}

/* Fill B with a copy of the LEN bytes at P. */
int hl_buf_set(struct hl_buf *b, const void *p, size_t len)
{
	if (buf_alloc(b, len) < 0)
		return -1;
	if (len)
		memcpy(b->data, p, len);
	return 0;
}

/* Copy the contents of memory BIO into B. */
static int bio_to_buf(BIO *bio, struct hl_buf *b)
{
	char *p = NULL;
	long n = BIO_get_mem_data(bio, &p);

	if (n < 0 || (n > 0 && !p))
		return hl_error("cannot read openssl memory buffer");
	return hl_buf_set(b, p, (size_t)n);
}

/* A read-only memory BIO over the PEM text of a WHAT (LEN bytes at P), or NULL with an error. */
static BIO *bio_from(const void *p, size_t len, const char *what)
{
	BIO *bio;

	if (len > INT_MAX) {
		hl_error("cannot read %s pem: %zu bytes is too large", what, len);
		return NULL;
	}
	if (!len || !memmem(p, len, "-----BEGIN ", 11)) {
		hl_error("cannot read %s pem: no '-----BEGIN' line in %zu bytes", what, len);
		return NULL;
	}
	bio = BIO_new_mem_buf(len ? p : "", (int)len);
	if (!bio)
		ossl_fail("cannot read %s pem", what);
	return bio;
}

/* PEM password callback that refuses: encrypted PEM is never prompted for. */
static int no_password(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

/* Format T as 2026-01-01T00:00:00Z into BUF. */
static void fmt_time(time_t t, char *buf, size_t size)
{
	struct tm tm;

	if (!gmtime_r(&t, &tm) || !strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(buf, size, "@%lld", (long long)t);
}

/* ---- PEM and DER codecs ---- */

/*
 * How one kind of object (a private key, a public key, a certificate, an
 * ECDSA signature) is written to and read from PEM and DER.  WHAT names it in
 * messages; SECRET sends its PEM through a cleansing secure-memory BIO.  Each
 * hook wraps the one OpenSSL call for the kind, so that it is called through a
 * pointer of its own type; a kind leaves NULL the hooks it does not use.
 */
struct codec {
	const char *what;
	int secret;
	int (*pem_write)(BIO *bio, const void *obj);
	void *(*pem_read)(BIO *bio);
	int (*i2d)(const void *obj, unsigned char **p);
	void *(*d2i)(const unsigned char **p, long len);
	void (*free)(void *obj);
};

/* The OpenSSL call of each kind, with the signature struct codec calls it through. */
static int priv_pem_write(BIO *bio, const void *key)
{
	return PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL);
}

static void *priv_pem_read(BIO *bio)
{
	return PEM_read_bio_PrivateKey(bio, NULL, no_password, NULL);
}

static int pub_pem_write(BIO *bio, const void *key)
{
	return PEM_write_bio_PUBKEY(bio, key);
}

static void *pub_pem_read(BIO *bio)
{
	return PEM_read_bio_PUBKEY(bio, NULL, no_password, NULL);
}

static int pub_i2d(const void *key, unsigned char **p)
{
	return i2d_PUBKEY(key, p);
}

static void *pub_d2i(const unsigned char **p, long len)
{
	return d2i_PUBKEY(NULL, p, len);
}

static void pkey_free(void *key)
{
	EVP_PKEY_free(key);
}

static int cert_pem_write(BIO *bio, const void *cert)
{
	return PEM_write_bio_X509(bio, cert);
}

static void *cert_pem_read(BIO *bio)
{
	return PEM_read_bio_X509(bio, NULL, no_password, NULL);
}

static int cert_i2d(const void *cert, unsigned char **p)
{
	return i2d_X509(cert, p);
}

static void *cert_d2i(const unsigned char **p, long len)
{
	return d2i_X509(NULL, p, len);
}

static void cert_free(void *cert)
{
	X509_free(cert);
}

static int ecdsa_sig_i2d(const void *sig, unsigned char **p)
{
	return i2d_ECDSA_SIG(sig, p);
}

static const struct codec priv_codec = {
	.what = "private key", .secret = 1,
	.pem_write = priv_pem_write, .pem_read = priv_pem_read,
};

static const struct codec pub_codec = {
	.what = "public key",
	.pem_write = pub_pem_write, .pem_read = pub_pem_read,
	.i2d = pub_i2d, .d2i = pub_d2i, .free = pkey_free,
};

static const struct codec cert_codec = {
	.what = "certificate",
	.pem_write = cert_pem_write, .pem_read = cert_pem_read,
	.i2d = cert_i2d, .d2i = cert_d2i, .free = cert_free,
};

static const struct codec ecdsa_sig_codec = {
	.what = "ecdsa signature",
	.i2d = ecdsa_sig_i2d,
};

/* OBJ as PEM into OUT (empty on failure). */
static int pem_encode(const struct codec *c, const void *obj, struct hl_buf *out)
{
	BIO *bio;
	int rc = -1;

	buf_reset(out);
	ERR_clear_error();
	bio = BIO_new(c->secret ? BIO_s_secmem() : BIO_s_mem());
	if (!bio || c->pem_write(bio, obj) != 1)
		ossl_fail("cannot write %s pem", c->what);
	else
		rc = bio_to_buf(bio, out);
	BIO_free(bio);
	return rc;
}

/* The first object of the LEN bytes of PEM at PEM, or NULL with an error. */
static void *pem_decode(const struct codec *c, const void *pem, size_t len)
{
	void *obj;
	BIO *bio;

	ERR_clear_error();
	bio = bio_from(pem, len, c->what);
	if (!bio)
		return NULL;
	obj = c->pem_read(bio);
	BIO_free(bio);
	if (!obj)
		ossl_fail("cannot read %s pem (%zu bytes)", c->what, len);
	return obj;
}

/* OBJ as DER into OUT (empty on failure). */
static int der_encode(const struct codec *c, const void *obj, struct hl_buf *out)
{
	unsigned char *p;
	int n;

	buf_reset(out);
	ERR_clear_error();
	n = c->i2d(obj, NULL);
	if (n <= 0)
		return ossl_fail("cannot encode %s", c->what);
	if (buf_alloc(out, (size_t)n) < 0)
		return -1;
	p = out->data;
	if (c->i2d(obj, &p) != n) {
		hl_buf_free(out);
		return ossl_fail("cannot encode %s", c->what);
	}
	return 0;
}

/* The object that is all of the LEN bytes of DER at DER, or NULL with an error. */
static void *der_decode(const struct codec *c, const void *der, size_t len)
{
	const unsigned char *p = der;
	void *obj;

	if (len == 0 || len > LONG_MAX) {
		hl_error("cannot read %s der: invalid length %zu", c->what, len);
		return NULL;
	}
	ERR_clear_error();
	obj = c->d2i(&p, (long)len);
	if (!obj) {
		ossl_fail("cannot read %s der (%zu bytes)", c->what, len);
		return NULL;
	}
	if (p != (const unsigned char *)der + len) {
		c->free(obj);
		hl_error("cannot read %s der: %zu trailing bytes", c->what,
			 len - (size_t)(p - (const unsigned char *)der));
		return NULL;
	}
	return obj;
}

/* Cleanse and free an owned buffer. */
void hl_buf_free(struct hl_buf *b)
{
	if (!b)
		return;
	if (b->data) {
		OPENSSL_cleanse(b->data, b->len);
		free(b->data);
	}
	buf_reset(b);
}

/* ---- randomness, digests, comparison, encodings ---- */

/*
 * The shared DRBG.  OpenSSL 3 gives every thread its own public DRBG,
 * instantiated (seeded from the primary DRBG) at the thread's first draw,
 * and `hgs serve` runs a thread per connection: every request would pay an
 * instantiation.  hl_crypto_random() and certificate serials therefore draw
 * from one CTR-DRBG (AES-256) child of the primary DRBG, made once per
 * process with locking enabled: thread-safe, reseeded from the primary as
 * OpenSSL's per-thread DRBGs are (and at once after a fork, which OpenSSL
 * detects).  When it cannot be made, RAND_bytes() is used.
 */
static EVP_RAND_CTX *shared_drbg;
static pthread_once_t shared_drbg_once = PTHREAD_ONCE_INIT;

/* Largest draw asked of the shared DRBG at once (CTR-DRBG allows 64 KiB). */
#define DRBG_CHUNK 4096

/* Make the shared DRBG (pthread_once); leaves it NULL on failure. */
static void shared_drbg_init(void)
{
	OSSL_PARAM params[2];
	EVP_RAND *rand = EVP_RAND_fetch(NULL, "CTR-DRBG", NULL);
	EVP_RAND_CTX *ctx = NULL;
	EVP_RAND_CTX *primary = RAND_get0_primary(NULL);

	if (rand && primary)
		ctx = EVP_RAND_CTX_new(rand, primary);
	EVP_RAND_free(rand);
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_DRBG_PARAM_CIPHER, (char *)"AES-256-CTR",
						     0);
	params[1] = OSSL_PARAM_construct_end();
	if (ctx && EVP_RAND_enable_locking(ctx) == 1 &&
	    EVP_RAND_instantiate(ctx, 0, 0, NULL, 0, params) == 1)
		shared_drbg = ctx;
	else
		EVP_RAND_CTX_free(ctx);
	ERR_clear_error();
}

/* Fill BUF with LEN bytes from the shared DRBG (or RAND_bytes); 1 on success. */
static int draw_random(unsigned char *buf, size_t len)
{
	pthread_once(&shared_drbg_once, shared_drbg_init);
	while (len > 0) {
		size_t chunk = len > DRBG_CHUNK ? DRBG_CHUNK : len;

		if (shared_drbg ? EVP_RAND_generate(shared_drbg, buf, chunk, 0, 0, NULL, 0) != 1
				: RAND_bytes(buf, (int)chunk) != 1)
			return 0;
		buf += chunk;
		len -= chunk;
	}
	return 1;
}

/* Draw LEN random bytes into BUF (the shared DRBG). */
int hl_crypto_random(void *buf, size_t len)
{
	ERR_clear_error();
	if (!draw_random(buf, len))
		return ossl_fail("cannot draw %zu random bytes", len);
	return 0;
}

/*
 * Random bytes that go out in the clear (nonces, serials), at most
 * PUBLIC_DRAW_MAX at once, come from a pool the shared DRBG refills
 * PUBLIC_POOL bytes at a time: one generate (each re-keys the CTR-DRBG)
 * per hundred draws instead of one per draw.  Secrets never come from it
 * (hl_crypto_random).  Bytes given out are wiped from the pool; fork()
 * empties a child's pool (and the lock is held across it), so that parent
 * and child never give out the same bytes.
 */
#define PUBLIC_POOL 4096
#define PUBLIC_DRAW_MAX 64

static struct {
	pthread_mutex_t lock;
	unsigned char bytes[PUBLIC_POOL];
	size_t left;   /* the unused bytes are bytes[0..left) */
} public_pool = { .lock = PTHREAD_MUTEX_INITIALIZER };
static pthread_once_t public_pool_once = PTHREAD_ONCE_INIT;

static void public_pool_prepare(void)
{
	pthread_mutex_lock(&public_pool.lock);
}

static void public_pool_parent(void)
{
	pthread_mutex_unlock(&public_pool.lock);
}

static void public_pool_child(void)
{
	OPENSSL_cleanse(public_pool.bytes, sizeof(public_pool.bytes));
	public_pool.left = 0;
	pthread_mutex_unlock(&public_pool.lock);
}

static void public_pool_init(void)
{
	pthread_atfork(public_pool_prepare, public_pool_parent, public_pool_child);
}

/* Draw LEN (at most PUBLIC_DRAW_MAX) public random bytes from the pool; 1 on success. */
static int draw_public(unsigned char *buf, size_t len)
{
	int ok = 1;

	if (len > PUBLIC_DRAW_MAX)
		return draw_random(buf, len);
	pthread_once(&public_pool_once, public_pool_init);
	pthread_mutex_lock(&public_pool.lock);
	if (public_pool.left < len) {
		ok = draw_random(public_pool.bytes, sizeof(public_pool.bytes));
		public_pool.left = ok ? sizeof(public_pool.bytes) : 0;
	}
	if (ok) {
		public_pool.left -= len;
		memcpy(buf, public_pool.bytes + public_pool.left, len);
		OPENSSL_cleanse(public_pool.bytes + public_pool.left, len);
	}
	pthread_mutex_unlock(&public_pool.lock);
	return ok;
}

/* Draw LEN random bytes that will be public into BUF (crypto.h). */
int hl_crypto_random_public(void *buf, size_t len)
{
	if (!draw_public(buf, len)) {
		ERR_clear_error();
		return hl_error("cannot draw %zu random bytes: OpenSSL's random generator failed", len);
	}
	return 0;
}

/*
 * The digests, fetched from the default provider once per process.  A
 * legacy EVP_sha256() makes every EVP_DigestInit_ex() fetch the
 * implementation again (a method store lookup under OpenSSL's locks); a
 * fetched EVP_MD is used as is.  Kept for the life of the process; NULL
 * entries (a failed fetch) fall back to the legacy objects.
 */
static EVP_MD *fetched_md[HL_DIGEST_SHA384 + 1];
static pthread_once_t fetched_md_once = PTHREAD_ONCE_INIT;

/* Fetch SHA-1, SHA-256 and SHA-384 (pthread_once). */
static void fetch_mds(void)
{
	fetched_md[HL_DIGEST_SHA1] = EVP_MD_fetch(NULL, "SHA1", NULL);
	fetched_md[HL_DIGEST_SHA256] = EVP_MD_fetch(NULL, "SHA256", NULL);
	fetched_md[HL_DIGEST_SHA384] = EVP_MD_fetch(NULL, "SHA384", NULL);
	ERR_clear_error();
}

/* The OpenSSL digest for ALG, or NULL. */
static const EVP_MD *digest_md(enum hl_digest alg)
{
	if ((unsigned)alg < sizeof(fetched_md) / sizeof(fetched_md[0])) {
		pthread_once(&fetched_md_once, fetch_mds);
		if (fetched_md[alg])
			return fetched_md[alg];
	}
	switch (alg) {
	case HL_DIGEST_SHA1:
		return EVP_sha1();
	case HL_DIGEST_SHA256:
		return EVP_sha256();
	case HL_DIGEST_SHA384:
		return EVP_sha384();
	}
	return NULL;
}

/* Output size of ALG. */
size_t hl_crypto_digest_len(enum hl_digest alg)
{
	switch (alg) {
	case HL_DIGEST_SHA1:
		return HL_SHA1_LEN;
	case HL_DIGEST_SHA256:
		return HL_SHA256_LEN;
	case HL_DIGEST_SHA384:
		return HL_SHA384_LEN;
	}
	return 0;
}

/* One-shot digest of DATA with ALG into OUT; returns the length. */
int hl_crypto_digest(enum hl_digest alg, const void *data, size_t len, unsigned char *out)
{
	const EVP_MD *md = digest_md(alg);
	unsigned int n = 0;

	if (!md)
		return hl_error("cannot hash: unknown digest algorithm %d", (int)alg);
	ERR_clear_error();
	if (EVP_Digest(len ? data : "", len, out, &n, md, NULL) != 1)
		return ossl_fail("cannot compute %s digest", EVP_MD_get0_name(md));
	return (int)n;
}

/* One-shot SHA-256 of DATA into OUT. */
int hl_crypto_sha256(const void *data, size_t len, unsigned char out[HL_SHA256_LEN])
{
	return hl_crypto_digest(HL_DIGEST_SHA256, data, len, out) < 0 ? -1 : 0;
}

/* Start an incremental SHA-256. */
int hl_crypto_sha256_begin(struct hl_sha256 *h)
{
	ERR_clear_error();
	h->ctx = EVP_MD_CTX_new();
	if (!h->ctx || EVP_DigestInit_ex2(h->ctx, digest_md(HL_DIGEST_SHA256), NULL) != 1) {
		hl_crypto_sha256_abort(h);
		return ossl_fail("cannot start a sha-256 digest");
	}
	return 0;
}

/* Hash LEN more bytes. */
int hl_crypto_sha256_update(struct hl_sha256 *h, const void *data, size_t len)
{
	if (!h->ctx)
		return hl_error("cannot hash: the sha-256 digest was not started");
	ERR_clear_error();
	if (len && EVP_DigestUpdate(h->ctx, data, len) != 1)
		return ossl_fail("cannot compute sha-256 digest");
	return 0;
}

/* Finish: the digest into OUT, the state released. */
int hl_crypto_sha256_end(struct hl_sha256 *h, unsigned char out[HL_SHA256_LEN])
{
	unsigned int n = 0;
	int rc = 0;

	if (!h->ctx)
		return hl_error("cannot hash: the sha-256 digest was not started");
	ERR_clear_error();
	if (EVP_DigestFinal_ex(h->ctx, out, &n) != 1 || n != HL_SHA256_LEN)
		rc = ossl_fail("cannot compute sha-256 digest");
	hl_crypto_sha256_abort(h);
	return rc;
}

/* Release the state. */
void hl_crypto_sha256_abort(struct hl_sha256 *h)
{
	if (!h)
		return;
	EVP_MD_CTX_free(h->ctx);
	h->ctx = NULL;
}

/* A keyed HMAC-SHA256 (crypto.h): ctx holds the state after the key, never updated itself. */
struct hl_hmac {
	EVP_MAC_CTX *ctx;
};

/* The HMAC implementation, fetched once per process (NULL when the fetch failed). */
static EVP_MAC *fetched_hmac;
static pthread_once_t fetched_hmac_once = PTHREAD_ONCE_INIT;

/* Fetch HMAC (pthread_once). */
static void fetch_hmac(void)
{
	fetched_hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	ERR_clear_error();
}

/* Set up HMAC-SHA256 under KEY of LEN bytes. */
int hl_hmac_sha256_new(const void *key, size_t len, struct hl_hmac **out)
{
	OSSL_PARAM params[2];
	struct hl_hmac *h;

	*out = NULL;
	pthread_once(&fetched_hmac_once, fetch_hmac);
	if (!(h = calloc(1, sizeof(*h))))
		return hl_error("out of memory");
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0);
	params[1] = OSSL_PARAM_construct_end();
	ERR_clear_error();
	if (!fetched_hmac || !(h->ctx = EVP_MAC_CTX_new(fetched_hmac)) ||
	    EVP_MAC_init(h->ctx, key, len, params) != 1) {
		hl_hmac_free(h);
		return ossl_fail("cannot set up HMAC-SHA256");
	}
	*out = h;
	return 0;
}

/* HMAC-SHA256 of DATA under H's key into OUT. */
int hl_hmac_sha256(const struct hl_hmac *h, const void *data, size_t len,
		   unsigned char out[HL_SHA256_LEN])
{
	EVP_MAC_CTX *ctx;
	size_t n = 0;
	int rc = 0;

	ERR_clear_error();
	if (!(ctx = EVP_MAC_CTX_dup(h->ctx)) || EVP_MAC_update(ctx, len ? data : "", len) != 1 ||
	    EVP_MAC_final(ctx, out, &n, HL_SHA256_LEN) != 1 || n != HL_SHA256_LEN)
		rc = ossl_fail("cannot compute HMAC-SHA256");
	EVP_MAC_CTX_free(ctx);
	return rc;
}

/* Free a keyed HMAC; NULL-safe. */
void hl_hmac_free(struct hl_hmac *h)
{
	if (!h)
		return;
	EVP_MAC_CTX_free(h->ctx);
	free(h);
}

/* Constant-time equality of two byte ranges (CRYPTO_memcmp). */
int hl_crypto_ct_equal(const void *a, const void *b, size_t len)
{
	if (len == 0)
		return 1;
	return CRYPTO_memcmp(a, b, len) == 0;
}

/* Wipe LEN bytes at P (OPENSSL_cleanse). */
void hl_crypto_cleanse(void *p, size_t len)
{
	if (p && len)
		OPENSSL_cleanse(p, len);
}

/* Uppercase hex of DATA into OUT (OPENSSL_buf2hexstr_ex). */
int hl_crypto_hex_encode(const void *data, size_t len, char *out, size_t out_size)
{
	size_t n = 0;

	if (len > (SIZE_MAX - 1) / 2 || out_size < 2 * len + 1)
		return hl_error("cannot write %zu bytes as hex: buffer of %zu bytes is too small", len,
				out_size);
	if (len == 0) {
		out[0] = '\0';
		return 0;
	}
	ERR_clear_error();
	if (OPENSSL_buf2hexstr_ex(out, out_size, &n, data, len, '\0') != 1)
		return ossl_fail("cannot write %zu bytes as hex", len);
	return 0;
}

/* 1 when TEXT is DIGITS hex digits of one case. */
int hl_crypto_hex_is(const char *text, size_t digits, int upper)
{
	size_t i;

	if (!text || strlen(text) != digits)
		return 0;
	for (i = 0; i < digits; i++) {
		char c = text[i];

		if (!(c >= '0' && c <= '9') && !(upper ? (c >= 'A' && c <= 'F') : (c >= 'a' && c <= 'f')))
			return 0;
	}
	return 1;
}

/* Bytes of hex TEXT into OUT (OPENSSL_hexstr2buf_ex). */
int hl_crypto_hex_decode(const char *text, struct hl_buf *out)
{
	struct hl_buf b = { NULL, 0 };
	size_t len = strlen(text), n = 0, i;

	buf_reset(out);
	if (len % 2)
		return hl_error("cannot decode hex: odd number of digits (%zu)", len);
	for (i = 0; i < len; i++)
		if (!strchr("0123456789abcdefABCDEF", text[i]))
			return hl_error("cannot decode hex: invalid character at offset %zu", i);
	if (buf_alloc(&b, len / 2) < 0)
		return -1;
	if (len) {
		ERR_clear_error();
		if (OPENSSL_hexstr2buf_ex(b.data, b.len, &n, text, '\0') != 1 || n != len / 2) {
			hl_buf_free(&b);
			return ossl_fail("cannot decode hex");
		}
	}
	*out = b;
	return 0;
}

/* Padded base64 of DATA into OUT (EVP_EncodeBlock). */
int hl_crypto_base64_encode(const void *data, size_t len, struct hl_buf *out)
{
	struct hl_buf b = { NULL, 0 };
	size_t enc_len;
	int n;

	buf_reset(out);
	if (len > (size_t)INT_MAX / 4 * 3)
		return hl_error("cannot base64-encode %zu bytes: too large", len);
	enc_len = (len + 2) / 3 * 4;
	if (buf_alloc(&b, enc_len) < 0)
		return -1;
	n = len ? EVP_EncodeBlock(b.data, data, (int)len) : 0;
	if (n < 0 || (size_t)n != enc_len) {
		hl_buf_free(&b);
		return hl_error("cannot base64-encode %zu bytes", len);
	}
	*out = b;
	return 0;
}

/* The 6-bit value of each byte in the base64 alphabet, -1 for the others (a table: no branches per character). */
static const signed char base64_values[256] = {
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 62, -1, -1, -1, 63,
	52, 53, 54, 55, 56, 57, 58, 59, 60, 61, -1, -1, -1, -1, -1, -1,
	-1,  0,  1,  2,  3,  4,  5,  6,  7,  8,  9, 10, 11, 12, 13, 14,
	15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, -1, -1, -1, -1, -1,
	-1, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
	41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
};

/* The 6-bit value of base64 character C, or -1 when C is not in the alphabet. */
static int base64_value(unsigned char c)
{
	return base64_values[c];
}

/* Bytes of strict padded base64 TEXT into OUT (EVP_DecodeBlock). */
int hl_crypto_base64_decode(const char *text, size_t len, struct hl_buf *out)
{
	struct hl_buf b = { NULL, 0 };
	size_t i, pad = 0;
	int n, last;

	buf_reset(out);
	if (len % 4)
		return hl_error("invalid base64: %zu characters is not a multiple of 4", len);
	if (len > (size_t)INT_MAX)
		return hl_error("invalid base64: %zu characters is too long", len);
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)text[i];

		if (!pad && base64_value(c) >= 0)
			continue;
		if (c == '=') {
			if (i + 2 < len)
				return hl_error("invalid base64: padding '=' at offset %zu is "
						"before the end", i);
			pad++;
		} else if (pad) {
			return hl_error("invalid base64: data after the padding at offset %zu", i);
		} else {
			if (c >= 0x20 && c < 0x7f)
				return hl_error("invalid base64: character '%c' at offset %zu is "
						"not in the base64 alphabet", c, i);
			return hl_error("invalid base64: byte 0x%02x at offset %zu is not in "
					"the base64 alphabet", c, i);
		}
	}
	/* The bits under the padding must be zero, so that each value has one encoding. */
	if (pad) {
		last = base64_value((unsigned char)text[len - pad - 1]);
		if (last & (pad == 2 ? 0x0f : 0x03))
			return hl_error("invalid base64: non-zero bits before the padding");
	}
	if (buf_alloc(&b, len / 4 * 3) < 0)
		return -1;
	n = len ? EVP_DecodeBlock(b.data, (const unsigned char *)text, (int)len) : 0;
	if (n < 0 || (size_t)n != b.len) {
		hl_buf_free(&b);
		return hl_error("invalid base64: OpenSSL refused the text");
	}
	b.len -= pad;
	b.data[b.len] = '\0';
	*out = b;
	return 0;
}

/* ---- keys ---- */

/* Name of a key type for messages. */
const char *hl_key_type_name(enum hl_key_type type)
{
	switch (type) {
	case HL_KEY_RSA2048:
		return "rsa-2048";
	case HL_KEY_RSA3072:
		return "rsa-3072";
	case HL_KEY_EC_P256:
		return "ec-p256";
	}
	return "unknown";
}

/* A fresh RSA or P-256 key pair (EVP_PKEY_Q_keygen). */
int hl_key_generate(enum hl_key_type type, EVP_PKEY **out)
{
	EVP_PKEY *key = NULL;

	*out = NULL;
	ERR_clear_error();
	switch (type) {
	case HL_KEY_RSA2048:
		key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
		break;
	case HL_KEY_RSA3072:
		key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)3072);
		break;
	case HL_KEY_EC_P256:
		key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
		break;
	default:
		return hl_error("cannot generate a key: unknown key type %d", (int)type);
	}
	if (!key)
		return ossl_fail("cannot generate %s key", hl_key_type_name(type));
	*out = key;
	return 0;
}

/* Release a key. */
void hl_key_free(EVP_PKEY *key)
{
	EVP_PKEY_free(key);
}

/* Short description of KEY for messages ("rsa-2048", "ec-p256", "rsa-1024"...). */
static const char *key_desc(const EVP_PKEY *key, char *buf, size_t size)
{
	enum hl_key_type t;

	if (hl_key_type_of(key, &t) == 0)
		return hl_key_type_name(t);
	snprintf(buf, size, "%s-%d", EVP_PKEY_get0_type_name(key) ? EVP_PKEY_get0_type_name(key) :
				     "unknown", EVP_PKEY_get_bits(key));
	return buf;
}

/* Classify KEY as one of the supported types. */
int hl_key_type_of(const EVP_PKEY *key, enum hl_key_type *out)
{
	char group[64];
	size_t glen = 0;
	int bits, nid;

	if (!key)
		return hl_error("no key given");
	bits = EVP_PKEY_get_bits(key);
	if (EVP_PKEY_is_a(key, "RSA")) {
		if (bits == 2048) {
			*out = HL_KEY_RSA2048;
			return 0;
		}
		if (bits == 3072) {
			*out = HL_KEY_RSA3072;
			return 0;
		}
		return hl_error("unsupported rsa key size %d bits; use 2048 or 3072", bits);
	}
	if (EVP_PKEY_is_a(key, "EC")) {
		if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group,
						   sizeof(group), &glen) != 1) {
			ERR_clear_error();
			return hl_error("unsupported ec key: unknown curve");
		}
		nid = OBJ_txt2nid(group);
		if (nid == NID_undef)
			nid = EC_curve_nist2nid(group);
		if (nid == NID_X9_62_prime256v1) {
			*out = HL_KEY_EC_P256;
			return 0;
		}
		return hl_error("unsupported ec curve '%s'; use p-256", group);
	}
	return hl_error("unsupported key algorithm '%s'",
			EVP_PKEY_get0_type_name(key) ? EVP_PKEY_get0_type_name(key) : "unknown");
}

/* Private key as unencrypted PKCS#8 PEM, through a cleansing secure-memory BIO. */
int hl_key_priv_to_pem(const EVP_PKEY *key, struct hl_buf *out)
{
	return pem_encode(&priv_codec, key, out);
}

/* Private key from PEM bytes; encrypted PEM is refused. */
int hl_key_priv_from_pem(const void *pem, size_t len, EVP_PKEY **out)
{
	*out = pem_decode(&priv_codec, pem, len);
	return *out ? 0 : -1;
}

/* Private key from a PEM file, read into a buffer that is cleansed afterwards. */
int hl_key_priv_load_file(const char *path, EVP_PKEY **out)
{
	struct hl_buf b = { NULL, 0 };
	struct stat st;
	size_t got = 0;
	ssize_t n;
	int fd, rc = -1;

	*out = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return hl_error_errno("cannot open private key '%s'", path);
	if (fstat(fd, &st) < 0) {
		hl_error_errno("cannot stat private key '%s'", path);
		goto out;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > KEY_FILE_MAX) {
		hl_error("cannot load private key '%s': not a regular file of at most %d bytes", path,
			 KEY_FILE_MAX);
		goto out;
	}
	if (buf_alloc(&b, (size_t)st.st_size) < 0)
		goto out;
	while (got < b.len) {
		n = read(fd, b.data + got, b.len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			hl_error_errno("cannot read private key '%s'", path);
			goto out;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	if (hl_key_priv_from_pem(b.data, got, out) < 0) {
		hl_error_wrap("cannot load private key '%s'", path);
		goto out;
	}
	rc = 0;
out:
	hl_buf_free(&b);
	close(fd);
	return rc;
}

/* Public key as SubjectPublicKeyInfo PEM. */
int hl_key_pub_to_pem(const EVP_PKEY *key, struct hl_buf *out)
{
	return pem_encode(&pub_codec, key, out);
}

/* Public key as DER SubjectPublicKeyInfo (i2d_PUBKEY). */
int hl_key_pub_to_der(const EVP_PKEY *key, struct hl_buf *out)
{
	return der_encode(&pub_codec, key, out);
}

/* Public key from SubjectPublicKeyInfo PEM. */
int hl_key_pub_from_pem(const void *pem, size_t len, EVP_PKEY **out)
{
	*out = pem_decode(&pub_codec, pem, len);
	return *out ? 0 : -1;
}

/* Public key from DER SubjectPublicKeyInfo, all of LEN bytes. */
int hl_key_pub_from_der(const void *der, size_t len, EVP_PKEY **out)
{
	*out = der_decode(&pub_codec, der, len);
	return *out ? 0 : -1;
}

/* Build a public key of ALG (NAME in messages) from PARAMS, then check it. */
static int key_from_params(const char *alg, const char *name, OSSL_PARAM *params, EVP_PKEY **out)
{
	EVP_PKEY_CTX *ctx = NULL, *check = NULL;
	EVP_PKEY *key = NULL;
	int rc = -1;

	ctx = EVP_PKEY_CTX_new_from_name(NULL, alg, NULL);
	if (!ctx || EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params) != 1) {
		ossl_fail("cannot build %s public key", name);
		goto out;
	}
	/*
	 * EC points are validated (on the curve, not the identity).  RSA keys get
	 * only OpenSSL's cheap sanity: its full public check (SP 800-56B: a
	 * primality test of the modulus) costs more than a whole attestation, and
	 * proves nothing a caller relies on: a bogus modulus cannot make a
	 * signature verify nor let anyone but its maker read what is wrapped to it.
	 */
	if (strcmp(alg, "EC") == 0) {
		check = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
		if (!check || EVP_PKEY_public_check(check) != 1) {
			ossl_fail("invalid %s public key", name);
			goto out;
		}
	} else if (EVP_PKEY_get_bits(key) < 1024 || EVP_PKEY_get_bits(key) > 8192) {
		hl_error("invalid %s public key: %d bits; hgslab takes 1024 to 8192", name,
			 EVP_PKEY_get_bits(key));
		goto out;
	}
	*out = key;
	key = NULL;
	rc = 0;
out:
	EVP_PKEY_free(key);
	EVP_PKEY_CTX_free(check);
	EVP_PKEY_CTX_free(ctx);
	return rc;
}

/* RSA public key from modulus and exponent (OSSL_PARAM_BLD + EVP_PKEY_fromdata). */
int hl_key_rsa_from_n_e(const unsigned char *n, size_t nlen, uint32_t e, EVP_PKEY **out)
{
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	BIGNUM *bn_n = NULL, *bn_e = NULL;
	int rc = -1;

	*out = NULL;
	if (nlen == 0 || nlen > 1024)
		return hl_error("cannot build rsa public key: modulus of %zu bytes", nlen);
	ERR_clear_error();
	bn_n = BN_bin2bn(n, (int)nlen, NULL);
	bn_e = BN_new();
	bld = OSSL_PARAM_BLD_new();
	if (!bn_n || !bn_e || !bld || BN_set_word(bn_e, e ? e : 65537) != 1 ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n) != 1 ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e) != 1 ||
	    !(params = OSSL_PARAM_BLD_to_param(bld))) {
		ossl_fail("cannot build rsa public key");
		goto out;
	}
	if (BN_num_bits(bn_n) < 1024) {
		hl_error("cannot build rsa public key: modulus of %d bits is too small",
			 BN_num_bits(bn_n));
		goto out;
	}
	if (!BN_is_odd(bn_n) || !BN_is_odd(bn_e) || BN_is_one(bn_e)) {
		hl_error("invalid rsa public key: the modulus and the exponent must be odd, "
			 "the exponent above 1");
		goto out;
	}
	rc = key_from_params("RSA", "rsa", params, out);
out:
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_free(bn_n);
	BN_free(bn_e);
	return rc;
}

/* P-256 public key from affine coordinates, as an uncompressed point. */
int hl_key_ec_p256_from_xy(const unsigned char *x, size_t xlen, const unsigned char *y,
			   size_t ylen, EVP_PKEY **out)
{
	unsigned char point[65];
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	int rc = -1;

	*out = NULL;
	if (xlen == 0 || ylen == 0 || xlen > 32 || ylen > 32)
		return hl_error("cannot build p-256 public key: coordinates of %zu and %zu bytes "
				"(1 to 32 expected)", xlen, ylen);
	memset(point, 0, sizeof(point));
	point[0] = POINT_CONVERSION_UNCOMPRESSED;
	memcpy(point + 1 + 32 - xlen, x, xlen);
	memcpy(point + 1 + 64 - ylen, y, ylen);
	ERR_clear_error();
	bld = OSSL_PARAM_BLD_new();
	if (!bld ||
	    OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) != 1 ||
	    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point,
					     sizeof(point)) != 1 ||
	    !(params = OSSL_PARAM_BLD_to_param(bld))) {
		ossl_fail("cannot build p-256 public key");
		goto out;
	}
	rc = key_from_params("EC", "p-256", params, out);
out:
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	return rc;
}

/* SHA-256 of the DER SubjectPublicKeyInfo, as hex. */
int hl_key_fingerprint(const EVP_PKEY *key, char out[HL_SHA256_HEX_SIZE])
{
	unsigned char md[HL_SHA256_LEN];
	struct hl_buf der = { NULL, 0 };
	int rc = -1;

	out[0] = '\0';
	if (hl_key_pub_to_der(key, &der) < 0)
		goto out;
	if (hl_crypto_sha256(der.data, der.len, md) < 0)
		goto out;
	rc = hl_crypto_hex_encode(md, sizeof(md), out, HL_SHA256_HEX_SIZE);
out:
	hl_buf_free(&der);
	return rc;
}

/* Whether A and B carry the same public key (EVP_PKEY_eq). */
int hl_key_pub_equal(const EVP_PKEY *a, const EVP_PKEY *b)
{
	int r;

	if (!a || !b)
		return 0;
	r = EVP_PKEY_eq(a, b);
	ERR_clear_error();
	return r == 1;
}

/* ---- signatures ---- */

/* Name of a signature scheme for messages. */
static const char *sig_name(enum hl_sig_scheme scheme)
{
	switch (scheme) {
	case HL_SIG_DEFAULT:
		return "default";
	case HL_SIG_RSA_PSS:
		return "rsa-pss";
	case HL_SIG_RSA_PKCS1:
		return "rsa-pkcs1";
	case HL_SIG_ECDSA:
		return "ecdsa";
	}
	return "unknown";
}

/* Resolve SCHEME for KEY (HL_SIG_DEFAULT by key type); -1 when they do not fit. */
static int sig_resolve(const EVP_PKEY *key, enum hl_sig_scheme scheme, enum hl_sig_scheme *res)
{
	char desc[64];
	int rsa = EVP_PKEY_is_a(key, "RSA"), ec = EVP_PKEY_is_a(key, "EC");

	if (scheme == HL_SIG_DEFAULT)
		scheme = rsa ? HL_SIG_RSA_PSS : HL_SIG_ECDSA;
	if (((scheme == HL_SIG_RSA_PSS || scheme == HL_SIG_RSA_PKCS1) && rsa) ||
	    (scheme == HL_SIG_ECDSA && ec)) {
		*res = scheme;
		return 0;
	}
	return hl_error("signature scheme %s does not fit key type %s", sig_name(scheme),
			key_desc(key, desc, sizeof(desc)));
}

/* A digest-sign or digest-verify context for KEY under resolved SCHEME, or NULL. */
static EVP_MD_CTX *sig_ctx(EVP_PKEY *key, enum hl_sig_scheme scheme, int verify)
{
	EVP_PKEY_CTX *pctx = NULL;
	EVP_MD_CTX *mctx = EVP_MD_CTX_new();
	int ok = 0;

	if (!mctx)
		goto out;
	if (verify)
		ok = EVP_DigestVerifyInit_ex(mctx, &pctx, "SHA256", NULL, NULL, key, NULL) == 1;
	else
		ok = EVP_DigestSignInit_ex(mctx, &pctx, "SHA256", NULL, NULL, key, NULL) == 1;
	if (ok && scheme == HL_SIG_RSA_PSS)
		ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1 &&
		     EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, verify ? RSA_PSS_SALTLEN_AUTO :
								     RSA_PSS_SALTLEN_DIGEST) == 1;
	else if (ok && scheme == HL_SIG_RSA_PKCS1)
		ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) == 1;
out:
	if (!ok) {
		EVP_MD_CTX_free(mctx);
		mctx = NULL;
	}
	return mctx;
}

/* Sign SHA-256(MSG) with KEY (EVP_DigestSign). */
int hl_crypto_sign(EVP_PKEY *key, enum hl_sig_scheme scheme, const void *msg, size_t len,
		   struct hl_buf *sig)
{
	struct hl_buf b = { NULL, 0 };
	EVP_MD_CTX *mctx = NULL;
	size_t n = 0;
	char desc[64];
	int rc = -1;

	buf_reset(sig);
	if (sig_resolve(key, scheme, &scheme) < 0)
		return -1;
	ERR_clear_error();
	mctx = sig_ctx(key, scheme, 0);
	if (!mctx || EVP_DigestSign(mctx, NULL, &n, len ? msg : "", len) != 1) {
		ossl_fail("cannot sign with %s key (%s)", key_desc(key, desc, sizeof(desc)),
			  sig_name(scheme));
		goto out;
	}
	if (buf_alloc(&b, n) < 0)
		goto out;
	if (EVP_DigestSign(mctx, b.data, &n, len ? msg : "", len) != 1) {
		ossl_fail("cannot sign with %s key (%s)", key_desc(key, desc, sizeof(desc)),
			  sig_name(scheme));
		goto out;
	}
	b.len = n;
	*sig = b;
	buf_reset(&b);
	rc = 0;
out:
	hl_buf_free(&b);
	EVP_MD_CTX_free(mctx);
	return rc;
}

/* Verify SIG over SHA-256(MSG) with KEY (EVP_DigestVerify). */
/* Check SIG over MSG with MCTX, set up for KEY under resolved SCHEME (hl_crypto_verify's answer). */
static int digest_verify(EVP_MD_CTX *mctx, EVP_PKEY *key, enum hl_sig_scheme scheme,
			 const void *msg, size_t len, const void *sig, size_t sig_len)
{
	char desc[64];

	if (sig_len == 0 || EVP_DigestVerify(mctx, sig, sig_len, len ? msg : "", len) != 1) {
		ERR_clear_error();
		return hl_error("signature does not verify (%s, %s key): wrong key, or altered "
				"message or signature", sig_name(scheme),
				key_desc(key, desc, sizeof(desc)));
	}
	return 0;
}

int hl_crypto_verify(EVP_PKEY *key, enum hl_sig_scheme scheme, const void *msg, size_t len,
		     const void *sig, size_t sig_len)
{
	EVP_MD_CTX *mctx = NULL;
	char desc[64];
	int rc;

	if (sig_resolve(key, scheme, &scheme) < 0)
		return -1;
	ERR_clear_error();
	mctx = sig_ctx(key, scheme, 1);
	if (!mctx)
		return ossl_fail("cannot verify with %s key (%s)", key_desc(key, desc, sizeof(desc)),
				 sig_name(scheme));
	rc = digest_verify(mctx, key, scheme, msg, len, sig, sig_len);
	EVP_MD_CTX_free(mctx);
	return rc;
}

/* A prepared signature check (crypto.h). */
struct hl_verifier {
	atomic_int refs;
	pthread_mutex_t lock;      /* around copies of ctx */
	EVP_MD_CTX *ctx;           /* digest-verify set up for the key, never used itself */
	EVP_PKEY *key;             /* up-referenced, for messages */
	enum hl_sig_scheme scheme; /* resolved */
};

int hl_verifier_new(EVP_PKEY *key, enum hl_sig_scheme scheme, struct hl_verifier **out)
{
	struct hl_verifier *v;
	char desc[64];

	*out = NULL;
	if (sig_resolve(key, scheme, &scheme) < 0)
		return -1;
	if (!(v = calloc(1, sizeof(*v))))
		return hl_error("out of memory");
	ERR_clear_error();
	if (!(v->ctx = sig_ctx(key, scheme, 1)) || EVP_PKEY_up_ref(key) != 1) {
		EVP_MD_CTX_free(v->ctx);
		free(v);
		return ossl_fail("cannot verify with %s key (%s)", key_desc(key, desc, sizeof(desc)),
				 sig_name(scheme));
	}
	atomic_init(&v->refs, 1);
	pthread_mutex_init(&v->lock, NULL);
	v->key = key;
	v->scheme = scheme;
	*out = v;
	return 0;
}

int hl_verifier_check(struct hl_verifier *v, const void *msg, size_t len, const void *sig,
		      size_t sig_len)
{
	EVP_MD_CTX *mctx = EVP_MD_CTX_new();
	char desc[64];
	int copied, rc = -1;

	ERR_clear_error();
	pthread_mutex_lock(&v->lock);
	copied = mctx && EVP_MD_CTX_copy_ex(mctx, v->ctx) == 1;
	pthread_mutex_unlock(&v->lock);
	if (copied)
		rc = digest_verify(mctx, v->key, v->scheme, msg, len, sig, sig_len);
	else
		ossl_fail("cannot verify with %s key (%s)", key_desc(v->key, desc, sizeof(desc)),
			  sig_name(v->scheme));
	EVP_MD_CTX_free(mctx);
	return rc;
}

struct hl_verifier *hl_verifier_up_ref(struct hl_verifier *v)
{
	if (v)
		atomic_fetch_add(&v->refs, 1);
	return v;
}

void hl_verifier_free(struct hl_verifier *v)
{
	if (!v || atomic_fetch_sub(&v->refs, 1) != 1)
		return;
	EVP_MD_CTX_free(v->ctx);
	EVP_PKEY_free(v->key);
	pthread_mutex_destroy(&v->lock);
	free(v);
}

/* DER ECDSA-Sig-Value from raw R and S (ECDSA_SIG + i2d). */
int hl_crypto_ecdsa_sig_from_rs(const unsigned char *r, size_t rlen, const unsigned char *s,
				size_t slen, struct hl_buf *out)
{
	ECDSA_SIG *sig = NULL;
	BIGNUM *bn_r = NULL, *bn_s = NULL;
	int rc = -1;

	buf_reset(out);
	if (rlen == 0 || slen == 0 || rlen > 128 || slen > 128)
		return hl_error("cannot encode ecdsa signature: r of %zu and s of %zu bytes", rlen,
				slen);
	ERR_clear_error();
	sig = ECDSA_SIG_new();
	bn_r = BN_bin2bn(r, (int)rlen, NULL);
	bn_s = BN_bin2bn(s, (int)slen, NULL);
	if (!sig || !bn_r || !bn_s || ECDSA_SIG_set0(sig, bn_r, bn_s) != 1) {
		ossl_fail("cannot encode ecdsa signature");
		goto out;
	}
	bn_r = bn_s = NULL;
	rc = der_encode(&ecdsa_sig_codec, sig, out);
out:
	BN_free(bn_r);
	BN_free(bn_s);
	ECDSA_SIG_free(sig);
	return rc;
}

/* ---- RSA-OAEP ---- */

/* An encrypt or decrypt context for RSA KEY with OAEP-SHA-256 and LABEL, or NULL. */
static EVP_PKEY_CTX *oaep_ctx(EVP_PKEY *key, const void *label, size_t label_len, int decrypt)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
	unsigned char *copy = NULL;
	int ok = 0;

	if (!ctx)
		goto out;
	if ((decrypt ? EVP_PKEY_decrypt_init(ctx) : EVP_PKEY_encrypt_init(ctx)) != 1 ||
	    EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) != 1 ||
	    EVP_PKEY_CTX_set_rsa_oaep_md(ctx, EVP_sha256()) != 1 ||
	    EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, EVP_sha256()) != 1)
		goto out;
	if (label_len) {
		/* On success the context owns the copy. */
		copy = OPENSSL_memdup(label, label_len);
		if (!copy || EVP_PKEY_CTX_set0_rsa_oaep_label(ctx, copy, (int)label_len) <= 0)
			goto out;
		copy = NULL;
	}
	ok = 1;
out:
	OPENSSL_free(copy);
	if (!ok) {
		EVP_PKEY_CTX_free(ctx);
		ctx = NULL;
	}
	return ctx;
}

/* Check KEY is RSA and LABEL_LEN fits OpenSSL for an OAEP operation named OP. */
static int oaep_check(const EVP_PKEY *key, size_t label_len, const char *op)
{
	char desc[64];

	if (!EVP_PKEY_is_a(key, "RSA"))
		return hl_error("cannot rsa-oaep %s: needs an rsa key, not %s", op,
				key_desc(key, desc, sizeof(desc)));
	if (label_len > INT_MAX)
		return hl_error("cannot rsa-oaep %s: label of %zu bytes is too long", op, label_len);
	return 0;
}

/* RSA-OAEP encrypt IN to KEY (EVP_PKEY_encrypt). */
int hl_crypto_oaep_wrap(EVP_PKEY *key, const void *label, size_t label_len, const void *in,
			size_t len, struct hl_buf *out)
{
	struct hl_buf b = { NULL, 0 };
	EVP_PKEY_CTX *ctx = NULL;
	size_t n = 0;
	int rc = -1;

	buf_reset(out);
	if (oaep_check(key, label_len, "wrap") < 0)
		return -1;
	ERR_clear_error();
	ctx = oaep_ctx(key, label, label_len, 0);
	if (!ctx || EVP_PKEY_encrypt(ctx, NULL, &n, len ? in : "", len) != 1) {
		ossl_fail("cannot rsa-oaep wrap %zu bytes to a %d-bit key", len,
			  EVP_PKEY_get_bits(key));
		goto out;
	}
	if (buf_alloc(&b, n) < 0)
		goto out;
	if (EVP_PKEY_encrypt(ctx, b.data, &n, len ? in : "", len) != 1) {
		ossl_fail("cannot rsa-oaep wrap %zu bytes to a %d-bit key", len,
			  EVP_PKEY_get_bits(key));
		goto out;
	}
	b.len = n;
	*out = b;
	buf_reset(&b);
	rc = 0;
out:
	hl_buf_free(&b);
	EVP_PKEY_CTX_free(ctx);
	return rc;
}

/* RSA-OAEP decrypt IN with KEY (EVP_PKEY_decrypt). */
int hl_crypto_oaep_unwrap(EVP_PKEY *key, const void *label, size_t label_len, const void *in,
			  size_t len, struct hl_buf *out)
{
	struct hl_buf b = { NULL, 0 };
	EVP_PKEY_CTX *ctx = NULL;
	size_t n = 0;
	int rc = -1;

	buf_reset(out);
	if (oaep_check(key, label_len, "unwrap") < 0)
		return -1;
	if (len == 0)
		return hl_error("rsa-oaep unwrap failed: empty input");
	ERR_clear_error();
	ctx = oaep_ctx(key, label, label_len, 1);
	if (!ctx || EVP_PKEY_decrypt(ctx, NULL, &n, in, len) != 1) {
		ossl_fail("rsa-oaep unwrap failed");
		goto out;
	}
	if (buf_alloc(&b, n) < 0)
		goto out;
	if (EVP_PKEY_decrypt(ctx, b.data, &n, in, len) != 1) {
		ERR_clear_error();
		hl_error("rsa-oaep unwrap failed: wrong key or label, or altered data");
		goto out;
	}
	b.len = n;
	b.data[n] = '\0';
	*out = b;
	buf_reset(&b);
	rc = 0;
out:
	hl_buf_free(&b);
	EVP_PKEY_CTX_free(ctx);
	return rc;
}

/* ---- AES-256-GCM ---- */

/* AES-256-GCM encrypt under a random IV; OUT = IV || ciphertext || tag. */
int hl_crypto_gcm_encrypt(const unsigned char key[HL_GCM_KEY_LEN], const void *aad,
			  size_t aad_len, const void *pt, size_t pt_len, struct hl_buf *out)
{
	struct hl_buf b = { NULL, 0 };
	EVP_CIPHER_CTX *ctx = NULL;
	unsigned char *iv, *ct;
	int n = 0, fin = 0, rc = -1;

	buf_reset(out);
	if (pt_len > INT_MAX - HL_GCM_OVERHEAD || aad_len > INT_MAX)
		return hl_error("cannot aes-256-gcm encrypt: %zu bytes is too large",
				pt_len > aad_len ? pt_len : aad_len);
	if (buf_alloc(&b, HL_GCM_IV_LEN + pt_len + HL_GCM_TAG_LEN) < 0)
		return -1;
	iv = b.data;
	ct = b.data + HL_GCM_IV_LEN;
	if (hl_crypto_random(iv, HL_GCM_IV_LEN) < 0)
		goto out;
	ERR_clear_error();
	ctx = EVP_CIPHER_CTX_new();
	if (!ctx || EVP_EncryptInit_ex2(ctx, EVP_aes_256_gcm(), key, iv, NULL) != 1 ||
	    (aad_len && EVP_EncryptUpdate(ctx, NULL, &n, aad, (int)aad_len) != 1) ||
	    (pt_len && EVP_EncryptUpdate(ctx, ct, &n, pt, (int)pt_len) != 1) ||
	    EVP_EncryptFinal_ex(ctx, ct + (pt_len ? n : 0), &fin) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, HL_GCM_TAG_LEN, ct + pt_len) != 1) {
		ossl_fail("cannot aes-256-gcm encrypt %zu bytes", pt_len);
		goto out;
	}
	*out = b;
	buf_reset(&b);
	rc = 0;
out:
	hl_buf_free(&b);
	EVP_CIPHER_CTX_free(ctx);
	return rc;
}

/* AES-256-GCM decrypt and authenticate IV || ciphertext || tag. */
int hl_crypto_gcm_decrypt(const unsigned char key[HL_GCM_KEY_LEN], const void *aad,
			  size_t aad_len, const void *in, size_t in_len, struct hl_buf *out)
{
	const unsigned char *iv = in, *ct;
	unsigned char tag[HL_GCM_TAG_LEN];
	struct hl_buf b = { NULL, 0 };
	EVP_CIPHER_CTX *ctx = NULL;
	size_t ct_len;
	int n = 0, fin = 0, rc = -1;

	buf_reset(out);
	if (in_len < HL_GCM_OVERHEAD)
		return hl_error("aes-256-gcm authentication failed: %zu bytes is shorter than iv "
				"and tag (%d)", in_len, HL_GCM_OVERHEAD);
	if (in_len > INT_MAX || aad_len > INT_MAX)
		return hl_error("cannot aes-256-gcm decrypt: input too large");
	ct = iv + HL_GCM_IV_LEN;
	ct_len = in_len - HL_GCM_OVERHEAD;
	memcpy(tag, ct + ct_len, HL_GCM_TAG_LEN);
	if (buf_alloc(&b, ct_len) < 0)
		return -1;
	ERR_clear_error();
	ctx = EVP_CIPHER_CTX_new();
	if (!ctx || EVP_DecryptInit_ex2(ctx, EVP_aes_256_gcm(), key, iv, NULL) != 1 ||
	    (aad_len && EVP_DecryptUpdate(ctx, NULL, &n, aad, (int)aad_len) != 1) ||
	    (ct_len && EVP_DecryptUpdate(ctx, b.data, &n, ct, (int)ct_len) != 1) ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, HL_GCM_TAG_LEN, tag) != 1) {
		ossl_fail("cannot aes-256-gcm decrypt %zu bytes", ct_len);
		goto out;
	}
	if (EVP_DecryptFinal_ex(ctx, b.data + (ct_len ? n : 0), &fin) != 1) {
		ERR_clear_error();
		hl_error("aes-256-gcm authentication failed: wrong key or aad, or altered data");
		goto out;
	}
	*out = b;
	buf_reset(&b);
	rc = 0;
out:
	hl_buf_free(&b);
	EVP_CIPHER_CTX_free(ctx);
	return rc;
}

/* ---- HKDF ---- */

/* Derive OUT_LEN bytes at OUT with OpenSSL's KDF NAME and PARAMS; SHOWN names it in messages. */
static int kdf_derive(const char *name, const char *shown, const OSSL_PARAM *params, void *out,
		      size_t out_len)
{
	EVP_KDF *kdf;
	EVP_KDF_CTX *ctx;
	int rc = 0;

	ERR_clear_error();
	kdf = EVP_KDF_fetch(NULL, name, NULL);
	ctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	if (!ctx || EVP_KDF_derive(ctx, out, out_len, params) != 1) {
		hl_crypto_cleanse(out, out_len);
		rc = ossl_fail("cannot derive a key with %s", shown);
	}
	EVP_KDF_CTX_free(ctx);
	EVP_KDF_free(kdf);
	return rc;
}

/* HKDF-SHA256 through EVP_KDF "HKDF" (extract and expand). */
int hl_crypto_hkdf_sha256(const void *ikm, size_t ikm_len, const void *salt, size_t salt_len,
			  const void *info, size_t info_len, void *out, size_t out_len)
{
	OSSL_PARAM params[5], *p = params;

	if (!ikm || ikm_len == 0)
		return hl_error("cannot derive a key with hkdf-sha256: no input key");
	if (!out || out_len == 0 || out_len > HL_HKDF_SHA256_MAX)
		return hl_error("cannot derive %zu bytes with hkdf-sha256: give 1 to %d", out_len,
				HL_HKDF_SHA256_MAX);
	if ((salt_len && !salt) || (info_len && !info))
		return hl_error("cannot derive a key with hkdf-sha256: salt or info missing");
	*p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0);
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)ikm, ikm_len);
	if (salt_len)
		*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt,
							 salt_len);
	if (info_len)
		*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info,
							 info_len);
	*p = OSSL_PARAM_construct_end();
	return kdf_derive("HKDF", "hkdf-sha256", params, out, out_len);
}

/* ---- scrypt ---- */

/* scrypt of PASSWORD and SALT with cost 2^LOG2_N, R, P into OUT. */
int hl_crypto_scrypt(const void *password, size_t pw_len, const void *salt, size_t salt_len,
		     unsigned log2_n, unsigned r, unsigned p, void *out, size_t out_len)
{
	OSSL_PARAM params[7], *q = params;
	uint64_t n = (uint64_t)1 << (log2_n & 31), r64 = r, p64 = p;
	uint64_t maxmem = 128 * r64 * n + ((uint64_t)1 << 20);

	if (!password || pw_len == 0 || !salt || salt_len == 0)
		return hl_error("cannot derive a key with scrypt: no password or no salt");
	if (log2_n < 10 || log2_n > 20 || r < 1 || r > 32 || p < 1 || p > 16)
		return hl_error("cannot derive a key with scrypt: cost 2^%u, r %u, p %u out of range "
				"(2^10 to 2^20, 1 to 32, 1 to 16)", log2_n, r, p);
	if (!out || out_len == 0 || out_len > 64)
		return hl_error("cannot derive %zu bytes with scrypt: give 1 to 64", out_len);
	*q++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PASSWORD, (void *)password, pw_len);
	*q++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, salt_len);
	*q++ = OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_N, &n);
	*q++ = OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_R, &r64);
	*q++ = OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_P, &p64);
	*q++ = OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_MAXMEM, &maxmem);
	*q = OSSL_PARAM_construct_end();
	return kdf_derive("SCRYPT", "scrypt", params, out, out_len);
}

/* ---- CMS SignedData ---- */

/* Largest CMS message read (1 MiB): certificates and content included. */
#define CMS_DER_MAX ((size_t)1 << 20)

/* Sign CONTENT into a DER CMS SignedData with one signer (CERT, KEY), content attached. */
int hl_cms_sign(X509 *cert, EVP_PKEY *key, const void *content, size_t len, struct hl_buf *out)
{
	const unsigned flags = CMS_BINARY | CMS_NOSMIMECAP | CMS_CADES;
	CMS_ContentInfo *cms = NULL;
	unsigned char *der = NULL;
	enum hl_key_type type;
	BIO *in = NULL;
	int n, rc = -1;

	buf_reset(out);
	if (!cert || !key)
		return hl_error("cannot sign a cms message: no signer certificate or key");
	if (len > CMS_DER_MAX || (len && !content))
		return hl_error("cannot sign a cms message of %zu bytes: at most %zu", len,
				CMS_DER_MAX);
	if (hl_key_type_of(key, &type) < 0)
		return hl_error_wrap("cannot sign a cms message");
	ERR_clear_error();
	in = BIO_new_mem_buf(len ? content : "", (int)len);
	cms = in ? CMS_sign(NULL, NULL, NULL, NULL, flags | CMS_PARTIAL) : NULL;
	if (!cms) {
		ossl_fail("cannot sign a cms message");
		goto out;
	}
	if (!CMS_add1_signer(cms, cert, key, digest_md(HL_DIGEST_SHA256), flags)) {
		ossl_fail("cannot sign a cms message (does the key match the certificate?)");
		goto out;
	}
	if (CMS_final(cms, in, NULL, flags) != 1) {
		ossl_fail("cannot sign a cms message");
		goto out;
	}
	n = i2d_CMS_ContentInfo(cms, &der);
	if (n <= 0) {
		ossl_fail("cannot encode a cms message");
		goto out;
	}
	rc = hl_buf_set(out, der, (size_t)n);
out:
	OPENSSL_free(der);
	CMS_ContentInfo_free(cms);
	BIO_free(in);
	return rc;
}

/*
 * SignedData.digestAlgorithms exactly as hl_cms_sign writes it:
 * SET { AlgorithmIdentifier { id-sha256 } } (parameters absent).
 */
static const unsigned char cms_digest_algs[] = { 0x31, 0x0d, 0x30, 0x0b, 0x06, 0x09, 0x60, 0x86,
						 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01 };

/* 1 when T is the ASN.1 INTEGER 1. */
static int asn1_is_one(const ASN1_TYPE *t)
{
	return t && t->type == V_ASN1_INTEGER && ASN1_INTEGER_get(t->value.integer) == 1;
}

/* The elements of the DER SEQUENCE (or, with SET, SET) of LEN bytes at P, or NULL. */
static STACK_OF(ASN1_TYPE) *asn1_elements(const unsigned char *p, long len, int set)
{
	const unsigned char *q = p;
	STACK_OF(ASN1_TYPE) *sk;

	sk = set ? d2i_ASN1_SET_ANY(NULL, &q, len) : d2i_ASN1_SEQUENCE_ANY(NULL, &q, len);
	if (sk && q != p + len) {
		sk_ASN1_TYPE_pop_free(sk, ASN1_TYPE_free);
		return NULL;
	}
	return sk;
}

/* The whole encoding of the constructed element T (SEQUENCE, SET or a tagged one), or NULL. */
static const ASN1_STRING *asn1_encoding(const ASN1_TYPE *t)
{
	if (!t || (t->type != V_ASN1_SEQUENCE && t->type != V_ASN1_SET && t->type != V_ASN1_OTHER))
		return NULL;
	return t->value.asn1_string;
}

/*
 * 0 when the parts of the CMS message DER that its signature does not
 * cover are exactly what hl_cms_sign writes: DER as OpenSSL re-encodes it,
 * SignedData version 1, digestAlgorithms {sha256}, no CRLs, one
 * certificate, SignerInfo version 1, digest SHA-256 and signature
 * algorithm rsaEncryption (NULL parameters) or ecdsa-with-SHA256, no
 * unsigned attributes, and the signing-certificate-v2 attribute (ESS,
 * RFC 5035) that binds the certificate into the signed attributes.  So no
 * byte of a message can change and the message still verify.
 */
static int cms_shape_check(CMS_ContentInfo *cms, CMS_SignerInfo *si, const unsigned char *der,
			   size_t len)
{
	STACK_OF(ASN1_TYPE) *ci = NULL, *sd = NULL, *sis = NULL, *sinfo = NULL;
	const ASN1_STRING *enc;
	X509_ALGOR *dig = NULL, *sig = NULL;
	const ASN1_OBJECT *obj;
	const void *pval;
	const unsigned char *p;
	unsigned char *again = NULL;
	long l;
	int n, tag, cls, ptype, signid, rc = -1;
	EVP_PKEY *pk = NULL;
	const char *why = "it is not in DER form";

	n = i2d_CMS_ContentInfo(cms, &again);
	if (n <= 0 || (size_t)n != len || memcmp(again, der, len) != 0)
		goto out;
	why = "its outer structure is not SignedData";
	ci = asn1_elements(der, (long)len, 0);
	if (!ci || sk_ASN1_TYPE_num(ci) != 2 || !(enc = asn1_encoding(sk_ASN1_TYPE_value(ci, 1))))
		goto out;
	p = ASN1_STRING_get0_data(enc);
	if (ASN1_get_object(&p, &l, &tag, &cls, ASN1_STRING_length(enc)) & 0x80 || tag != 0 ||
	    cls != V_ASN1_CONTEXT_SPECIFIC)
		goto out;
	sd = asn1_elements(p, l, 0);
	why = "its SignedData has CRLs, or lacks its certificates";
	if (!sd || sk_ASN1_TYPE_num(sd) != 5 || sk_ASN1_TYPE_value(sd, 3)->type != V_ASN1_OTHER)
		goto out;
	why = "its SignedData version is not 1";
	if (!asn1_is_one(sk_ASN1_TYPE_value(sd, 0)))
		goto out;
	why = "its digest algorithms are not exactly {sha256}";
	enc = asn1_encoding(sk_ASN1_TYPE_value(sd, 1));
	if (!enc || ASN1_STRING_length(enc) != (int)sizeof(cms_digest_algs) ||
	    memcmp(ASN1_STRING_get0_data(enc), cms_digest_algs, sizeof(cms_digest_algs)) != 0)
		goto out;
	why = "its SignerInfo version is not 1";
	enc = asn1_encoding(sk_ASN1_TYPE_value(sd, 4));
	sis = enc ? asn1_elements(ASN1_STRING_get0_data(enc), ASN1_STRING_length(enc), 1) : NULL;
	enc = sis && sk_ASN1_TYPE_num(sis) == 1 ? asn1_encoding(sk_ASN1_TYPE_value(sis, 0)) : NULL;
	sinfo = enc ? asn1_elements(ASN1_STRING_get0_data(enc), ASN1_STRING_length(enc), 0) : NULL;
	if (!sinfo || !asn1_is_one(sk_ASN1_TYPE_value(sinfo, 0)))
		goto out;
	why = "it does not carry exactly one certificate";
	{
		STACK_OF(X509) *certs = CMS_get1_certs(cms);
		STACK_OF(X509_CRL) *crls = CMS_get1_crls(cms);
		int ok = certs && sk_X509_num(certs) == 1 && !crls;

		sk_X509_pop_free(certs, X509_free);
		sk_X509_CRL_pop_free(crls, X509_CRL_free);
		if (!ok)
			goto out;
	}
	CMS_SignerInfo_get0_algs(si, &pk, NULL, &dig, &sig);
	why = "its signer's digest is not sha256";
	X509_ALGOR_get0(&obj, &ptype, &pval, dig);
	if (OBJ_obj2nid(obj) != NID_sha256 || ptype != V_ASN1_UNDEF)
		goto out;
	why = "its signature algorithm is not rsaEncryption or ecdsa-with-SHA256";
	X509_ALGOR_get0(&obj, &ptype, &pval, sig);
	signid = OBJ_obj2nid(obj);
	if (!((signid == NID_rsaEncryption && ptype == V_ASN1_NULL) ||
	      (signid == NID_ecdsa_with_SHA256 && ptype == V_ASN1_UNDEF)))
		goto out;
	why = "it has unsigned attributes";
	if (CMS_unsigned_get_attr_count(si) > 0)
		goto out;
	why = "its signed attributes lack the signing certificate (ESS signing-certificate-v2)";
	if (CMS_signed_get_attr_by_NID(si, NID_id_smime_aa_signingCertificateV2, -1) < 0)
		goto out;
	rc = 0;
out:
	if (rc < 0)
		hl_error("not a CMS signed message as hgslab writes it: %s", why);
	OPENSSL_free(again);
	sk_ASN1_TYPE_pop_free(ci, ASN1_TYPE_free);
	sk_ASN1_TYPE_pop_free(sd, ASN1_TYPE_free);
	sk_ASN1_TYPE_pop_free(sis, ASN1_TYPE_free);
	sk_ASN1_TYPE_pop_free(sinfo, ASN1_TYPE_free);
	return rc;
}

/*
 * Decode DER as a CMS SignedData of one signer with attached id-data
 * content of at most MAX_CONTENT bytes; *CMS the message, *SIGNER its
 * signer's certificate (a new reference) and, when CONTENT is not NULL, the
 * content copied into it.
 */
static int cms_open(const void *der, size_t len, size_t max_content, CMS_ContentInfo **cms_out,
		    X509 **signer, struct hl_buf *content)
{
	const unsigned char *p = der;
	STACK_OF(CMS_SignerInfo) *sis;
	STACK_OF(X509) *certs = NULL;
	CMS_ContentInfo *cms = NULL;
	ASN1_OCTET_STRING **pos;
	CMS_SignerInfo *si;
	X509 *found = NULL;
	int i, rc = -1;

	*cms_out = NULL;
	*signer = NULL;
	if (content)
		buf_reset(content);
	if (!der || len == 0)
		return hl_error("not a CMS signed message: it is empty");
	if (len > CMS_DER_MAX)
		return hl_error("not a CMS signed message: %zu bytes is more than the %zu allowed",
				len, CMS_DER_MAX);
	ERR_clear_error();
	cms = d2i_CMS_ContentInfo(NULL, &p, (long)len);
	if (!cms) {
		ossl_fail("not a CMS signed message: cannot decode its DER");
		goto out;
	}
	if (p != (const unsigned char *)der + len) {
		hl_error("not a CMS signed message: %zu bytes follow its DER",
			 len - (size_t)(p - (const unsigned char *)der));
		goto out;
	}
	if (OBJ_obj2nid(CMS_get0_type(cms)) != NID_pkcs7_signed) {
		hl_error("not a CMS signed message: its content type is not SignedData");
		goto out;
	}
	if (OBJ_obj2nid(CMS_get0_eContentType(cms)) != NID_pkcs7_data) {
		hl_error("not a CMS signed message: the signed content is not of type id-data");
		goto out;
	}
	pos = CMS_get0_content(cms);
	if (!pos || !*pos || CMS_is_detached(cms)) {
		hl_error("not a CMS signed message: it carries no content (a detached signature)");
		goto out;
	}
	if ((size_t)ASN1_STRING_length(*pos) > max_content) {
		hl_error("not a CMS signed message: its content is %d bytes, more than the %zu "
			 "allowed", ASN1_STRING_length(*pos), max_content);
		goto out;
	}
	sis = CMS_get0_SignerInfos(cms);
	if (sk_CMS_SignerInfo_num(sis) != 1) {
		hl_error("not a CMS signed message: it has %d signers, not one",
			 sk_CMS_SignerInfo_num(sis));
		goto out;
	}
	si = sk_CMS_SignerInfo_value(sis, 0);
	certs = CMS_get1_certs(cms);
	for (i = 0; certs && i < sk_X509_num(certs); i++) {
		if (CMS_SignerInfo_cert_cmp(si, sk_X509_value(certs, i)) == 0) {
			found = sk_X509_value(certs, i);
			break;
		}
	}
	if (!found || X509_up_ref(found) != 1) {
		ERR_clear_error();
		hl_error("not a CMS signed message: it does not include its signer's certificate");
		goto out;
	}
	if (cms_shape_check(cms, si, der, len) < 0) {
		X509_free(found);
		goto out;
	}
	if (content && hl_buf_set(content, ASN1_STRING_get0_data(*pos),
			       (size_t)ASN1_STRING_length(*pos)) < 0) {
		X509_free(found);
		goto out;
	}
	*signer = found;
	*cms_out = cms;
	cms = NULL;
	rc = 0;
out:
	ERR_clear_error();
	sk_X509_pop_free(certs, X509_free);
	CMS_ContentInfo_free(cms);
	return rc;
}

/* Decode a CMS SignedData: its content and signer certificate, signature unchecked. */
int hl_cms_parse(const void *der, size_t len, size_t max_content, struct hl_buf *content,
		 X509 **signer)
{
	CMS_ContentInfo *cms = NULL;

	if (cms_open(der, len, max_content, &cms, signer, content) < 0)
		return -1;
	CMS_ContentInfo_free(cms);
	return 0;
}

/*
 * 0 when the signing-certificate-v2 attribute (ESS, RFC 5035) of SI names
 * SIGNER by its hash.  (CMS_verify's CMS_CADES would also build a chain.)
 */
static int cms_ess_check(const CMS_SignerInfo *si, X509 *signer)
{
	ESS_SIGNING_CERT_V2 *ssv2 = NULL;
	STACK_OF(X509) *chain = sk_X509_new_null();
	const ASN1_STRING *attr;
	const unsigned char *p;
	int rc = -1;

	attr = CMS_signed_get0_data_by_OBJ(si, OBJ_nid2obj(NID_id_smime_aa_signingCertificateV2),
					   -3, V_ASN1_SEQUENCE);
	p = attr ? ASN1_STRING_get0_data(attr) : NULL;
	if (p)
		ssv2 = d2i_ESS_SIGNING_CERT_V2(NULL, &p, ASN1_STRING_length(attr));
	if (chain && ssv2 && sk_X509_push(chain, signer) > 0 &&
	    OSSL_ESS_check_signing_certs(NULL, ssv2, chain, 1) > 0)
		rc = 0;
	ERR_clear_error();
	sk_X509_free(chain);
	ESS_SIGNING_CERT_V2_free(ssv2);
	return rc;
}

/* Check a CMS SignedData's signature with the signer certificate it carries. */
int hl_cms_verify(const void *der, size_t len)
{
	CMS_ContentInfo *cms = NULL;
	X509 *signer = NULL;
	char why[256];
	int rc = -1;

	if (cms_open(der, len, CMS_DER_MAX, &cms, &signer, NULL) < 0)
		return -1;
	ERR_clear_error();
	if (CMS_verify(cms, NULL, NULL, NULL, NULL, CMS_BINARY | CMS_NO_SIGNER_CERT_VERIFY) != 1) {
		ossl_reason(ERR_get_error(), why, sizeof(why));
		ERR_clear_error();
		hl_error("the CMS signature does not verify (%s): the signed content or its "
			 "signature was changed", why);
		goto out;
	}
	if (cms_ess_check(sk_CMS_SignerInfo_value(CMS_get0_SignerInfos(cms), 0), signer) < 0) {
		hl_error("the CMS signature does not verify: its signed signing-certificate "
			 "attribute does not name the certificate it carries (the certificate was "
			 "changed)");
		goto out;
	}
	rc = 0;
out:
	X509_free(signer);
	CMS_ContentInfo_free(cms);
	return rc;
}

/* ---- X.509 ---- */

/* Release a certificate. */
void hl_cert_free(X509 *cert)
{
	X509_free(cert);
}

/* Copy the UTF-8 CN of NAME into BUF; -1 (no message) when absent or too long. */
static int name_cn(const X509_NAME *name, char *buf, size_t size)
{
	const X509_NAME_ENTRY *entry;
	unsigned char *utf8 = NULL;
	int i, n, rc = -1;

	if (!name || size == 0)
		return -1;
	i = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
	if (i < 0)
		return -1;
	entry = X509_NAME_get_entry(name, i);
	n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(entry));
	if (n < 0) {
		ERR_clear_error();
		return -1;
	}
	if ((size_t)n < size && strlen((char *)utf8) == (size_t)n) {
		memcpy(buf, utf8, (size_t)n + 1);
		rc = 0;
	}
	OPENSSL_free(utf8);
	return rc;
}

/* A label for CERT in messages: its CN, else its subject line. */
static const char *cert_label(const X509 *cert, char *buf, size_t size)
{
	if (!cert) {
		snprintf(buf, size, "(none)");
		return buf;
	}
	if (name_cn(X509_get_subject_name(cert), buf, size) == 0)
		return buf;
	if (!X509_NAME_oneline(X509_get_subject_name(cert), buf, (int)size))
		snprintf(buf, size, "(no subject)");
	ERR_clear_error();
	return buf;
}

/* Subject CN of CERT. */
int hl_cert_subject_cn(const X509 *cert, char *buf, size_t size)
{
	if (name_cn(X509_get_subject_name(cert), buf, size) < 0)
		return hl_error("certificate has no usable subject cn (absent, or longer than %zu "
				"bytes)", size ? size - 1 : 0);
	return 0;
}

/* Issuer CN of CERT. */
int hl_cert_issuer_cn(const X509 *cert, char *buf, size_t size)
{
	char label[NAME_MAX_LEN];

	if (name_cn(X509_get_issuer_name(cert), buf, size) < 0)
		return hl_error("certificate '%s' has no usable issuer cn (absent, or longer than "
				"%zu bytes)", cert_label(cert, label, sizeof(label)),
				size ? size - 1 : 0);
	return 0;
}

/* An ASN1_TIME as time_t (ASN1_TIME_to_tm + timegm). */
static int asn1_time_get(const ASN1_TIME *t, time_t *out)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	if (!t || ASN1_TIME_to_tm(t, &tm) != 1) {
		ERR_clear_error();
		return -1;
	}
	*out = timegm(&tm);
	return 0;
}

/* Validity period of CERT. */
int hl_cert_validity(const X509 *cert, time_t *not_before, time_t *not_after)
{
	char label[NAME_MAX_LEN];
	time_t nb, na;

	if (asn1_time_get(X509_get0_notBefore(cert), &nb) < 0 ||
	    asn1_time_get(X509_get0_notAfter(cert), &na) < 0)
		return hl_error("certificate '%s' has an unreadable validity period",
				cert_label(cert, label, sizeof(label)));
	if (not_before)
		*not_before = nb;
	if (not_after)
		*not_after = na;
	return 0;
}

/* Free an array of certificates. */
void hl_cert_array_free(X509 **certs, size_t n)
{
	if (!certs)
		return;
	for (size_t i = 0; i < n; i++)
		X509_free(certs[i]);
	free(certs);
}

/* Every certificate of a PEM bundle, as a PEM_read_bio_X509 loop reads it. */
int hl_cert_bundle_from_pem(const void *pem, size_t len, X509 ***out, size_t *n)
{
	X509 **certs = NULL, **grown, *c;
	size_t count = 0;
	BIO *bio;
	int rc = -1;

	*out = NULL;
	*n = 0;
	ERR_clear_error();
	bio = bio_from(pem, len, "certificate bundle");
	if (!bio)
		return -1;
	while ((c = cert_pem_read(bio))) {
		grown = realloc(certs, (count + 1) * sizeof(*certs));
		if (!grown) {
			X509_free(c);
			hl_error("cannot read certificate bundle pem: out of memory");
			goto out;
		}
		certs = grown;
		certs[count++] = c;
	}
	ERR_clear_error();
	if (!count) {
		hl_error("cannot read certificate bundle pem: no readable certificate in %zu bytes",
			 len);
		goto out;
	}
	*out = certs;
	*n = count;
	certs = NULL;
	count = 0;
	rc = 0;
out:
	hl_cert_array_free(certs, count);
	BIO_free(bio);
	return rc;
}

/*
 * Narrow [*FROM, *UNTIL] around AT to where CERT keeps the validity state it
 * has at AT.  OpenSSL's verification takes a certificate as valid at T when
 * notBefore <= T < notAfter (X509_cmp_time); a second of margin is kept.
 */
static int validity_narrow(const X509 *cert, time_t at, time_t *from, time_t *until)
{
	time_t nb, na;

	if (hl_cert_validity(cert, &nb, &na) < 0)
		return -1;
	if (at < nb) {                          /* not yet valid: until notBefore */
		if (nb - 2 < *until)
			*until = nb - 2;
	} else if (at >= na) {                  /* expired: from notAfter on */
		if (na + 1 > *from)
			*from = na + 1;
	} else {                                /* valid: within its period */
		if (nb + 1 > *from)
			*from = nb + 1;
		if (na - 2 < *until)
			*until = na - 2;
	}
	return 0;
}

/* The range around AT in which no certificate of CERTS changes validity state. */
int hl_cert_validity_stable(X509 *const *certs, size_t n, time_t at, time_t *from,
			    time_t *until)
{
	time_t lo = (time_t)LLONG_MIN, hi = (time_t)LLONG_MAX;

	for (size_t i = 0; i < n; i++)
		if (!certs[i] || validity_narrow(certs[i], at, &lo, &hi) < 0)
			return hl_error("cannot tell how long the validity of certificate %zu of "
					"%zu stays as it is", i + 1, n);
	if (lo > at || hi < at)
		return hl_error("a certificate changes validity state within a second of the "
				"time checked");
	*from = lo;
	*until = hi;
	return 0;
}

/* Public key of CERT, up-referenced. */
int hl_cert_pubkey(const X509 *cert, EVP_PKEY **out)
{
	char label[NAME_MAX_LEN];
	EVP_PKEY *key;

	*out = NULL;
	ERR_clear_error();
	key = X509_get0_pubkey(cert);
	if (!key || EVP_PKEY_up_ref(key) != 1)
		return ossl_fail("cannot read the public key of certificate '%s'",
				 cert_label(cert, label, sizeof(label)));
	*out = key;
	return 0;
}

/* Extension NID made from an OpenSSL config VALUE ("critical,CA:TRUE"...) in V3, or NULL. */
static X509_EXTENSION *ext_conf(X509V3_CTX *v3, int nid, const char *value)
{
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, v3, nid, value);

	if (!ext)
		ossl_fail("cannot make %s extension '%s'", OBJ_nid2sn(nid), value);
	return ext;
}

/* Add EXT (a copy) to X. */
static int add_ext(X509 *x, X509_EXTENSION *ext)
{
	if (X509_add_ext(x, ext, -1) != 1)
		return ossl_fail("cannot add %s extension",
				 OBJ_nid2sn(OBJ_obj2nid(X509_EXTENSION_get_object(ext))));
	return 0;
}

/* One bit of a usage flags word and its OpenSSL config name. */
struct usage_name {
	unsigned int bit;
	const char *name;
};

static const struct usage_name key_usage_names[] = {
	{ HL_KU_DIGITAL_SIGNATURE, "digitalSignature" },
	{ HL_KU_NON_REPUDIATION, "nonRepudiation" },
	{ HL_KU_KEY_ENCIPHERMENT, "keyEncipherment" },
	{ HL_KU_DATA_ENCIPHERMENT, "dataEncipherment" },
	{ HL_KU_KEY_AGREEMENT, "keyAgreement" },
	{ HL_KU_KEY_CERT_SIGN, "keyCertSign" },
	{ HL_KU_CRL_SIGN, "cRLSign" },
};

static const struct usage_name ext_key_usage_names[] = {
	{ HL_EKU_SERVER_AUTH, "serverAuth" },
	{ HL_EKU_CLIENT_AUTH, "clientAuth" },
	{ HL_EKU_CODE_SIGNING, "codeSigning" },
};

/* Config text for FLAGS from TABLE, after PREFIX; -1 on an unknown bit. */
static int usage_text(unsigned int flags, const struct usage_name *table, size_t n,
		      const char *prefix, char *buf, size_t size)
{
	unsigned int known = 0;
	size_t i, len;

	snprintf(buf, size, "%s", prefix);
	for (i = 0; i < n; i++) {
		known |= table[i].bit;
		if (!(flags & table[i].bit))
			continue;
		len = strlen(buf);
		snprintf(buf + len, size - len, "%s%s", buf[0] ? "," : "", table[i].name);
	}
	if (flags & ~known)
		return hl_error("unknown usage bits 0x%x", flags & ~known);
	return 0;
}

/* Whether S is a plausible DNS name for a dNSName entry (letters, digits, . - _ *). */
static int dns_name_ok(const char *s)
{
	size_t i;

	if (!s[0] || strlen(s) > 253)
		return 0;
	for (i = 0; s[i]; i++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_*",
			    s[i]))
			return 0;
	return 1;
}

/* DER of an extra extension's value per its kind, OPENSSL_malloc()ed into *DER. */
static int ext_value_der(const struct hl_cert_ext *e, unsigned char **der, int *der_len)
{
	ASN1_STRING *str = NULL;
	const unsigned char *p;
	ASN1_TYPE *any;
	int n = -1;

	*der = NULL;
	if (e->len > INT_MAX || (e->len && !e->value))
		return hl_error("invalid value for extension '%s'", e->oid);
	switch (e->kind) {
	case HL_EXT_UTF8:
		if (e->len && memchr(e->value, '\0', e->len))
			return hl_error("extension '%s' text contains a nul byte", e->oid);
		if (ASN1_mbstring_copy(&str, e->len ? e->value : (const void *)"", (int)e->len,
				       MBSTRING_UTF8, B_ASN1_UTF8STRING) < 0)
			return ossl_fail("extension '%s' is not valid utf-8", e->oid);
		n = i2d_ASN1_UTF8STRING(str, der);
		break;
	case HL_EXT_OCTETS:
		str = ASN1_OCTET_STRING_new();
		if (!str || ASN1_OCTET_STRING_set(str, e->len ? e->value : (const void *)"",
						  (int)e->len) != 1) {
			ASN1_OCTET_STRING_free(str);
			return ossl_fail("cannot encode extension '%s'", e->oid);
		}
		n = i2d_ASN1_OCTET_STRING(str, der);
		break;
	case HL_EXT_DER:
		p = e->value;
		any = e->len ? d2i_ASN1_TYPE(NULL, &p, (long)e->len) : NULL;
		if (!any || p != (const unsigned char *)e->value + e->len) {
			ASN1_TYPE_free(any);
			ERR_clear_error();
			return hl_error("extension '%s' value is not one complete der element",
					e->oid);
		}
		ASN1_TYPE_free(any);
		*der = OPENSSL_memdup(e->value, e->len);
		n = *der ? (int)e->len : -1;
		break;
	default:
		return hl_error("unknown kind %d for extension '%s'", (int)e->kind, e->oid);
	}
	ASN1_STRING_free(str);
	if (n <= 0 || !*der) {
		OPENSSL_free(*der);
		*der = NULL;
		return ossl_fail("cannot encode extension '%s'", e->oid);
	}
	*der_len = n;
	return 0;
}

/*
 * Set a random positive 159-bit serial on X: 20 bytes from the shared DRBG
 * with the top bit cleared and the next one set, as BN_rand(159,
 * BN_RAND_TOP_ONE, BN_RAND_BOTTOM_ANY) makes them.
 */
static int set_serial(X509 *x)
{
	unsigned char raw[20];
	BIGNUM *bn = NULL;
	int rc = -1;

	if (draw_public(raw, sizeof(raw))) {
		raw[0] = (unsigned char)((raw[0] & 0x7f) | 0x40);
		bn = BN_bin2bn(raw, (int)sizeof(raw), NULL);
	}
	if (!bn || !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)))
		ossl_fail("cannot set certificate serial");
	else
		rc = 0;
	BN_free(bn);
	OPENSSL_cleanse(raw, sizeof(raw));
	return rc;
}

/*
 * Set KEY as X's subject public key.  X509_set_pubkey() with a provider key
 * makes OpenSSL 3.0 encode it with an OSSL_ENCODER and decode that again with
 * an OSSL_DECODER (about half a millisecond, more than the signature); an RSA
 * key therefore goes through a legacy key sharing the RSA object OpenSSL
 * exports KEY to (EVP_PKEY_get0_RSA(), which keeps that export in KEY: a key
 * used again, as HGS keeps a host's transport key, is exported once), which
 * X509_set_pubkey() encodes directly.  The SubjectPublicKeyInfo is the same
 * bytes either way (rsaEncryption, NULL parameters, RSAPublicKey), and
 * X509_get0_pubkey() of the certificate gives a key equal to KEY
 * (EVP_PKEY_eq).  Other key types take X509_set_pubkey().
 */
static int set_subject_key(X509 *x, EVP_PKEY *key)
{
	const RSA *rsa;
	EVP_PKEY *copy = NULL;
	int rc;

	if (EVP_PKEY_is_a(key, "RSA") && (rsa = EVP_PKEY_get0_RSA(key)) &&
	    (copy = EVP_PKEY_new()) && EVP_PKEY_set1_RSA(copy, (RSA *)rsa) != 1) {
		EVP_PKEY_free(copy);
		copy = NULL;
	}
	ERR_clear_error();
	rc = X509_set_pubkey(x, copy ? copy : key);
	EVP_PKEY_free(copy);
	return rc == 1 ? 0 : -1;
}

/*
 * One extra extension of a template: its OID as an object (made once) and
 * as the spec's text, its kind and criticality.
 */
struct tmpl_ext {
	ASN1_OBJECT *obj;
	char *oid;
	enum hl_cert_ext_kind kind;
	int critical;
};

/* Extensions a template sets before subjectKeyIdentifier: basicConstraints, keyUsage, extendedKeyUsage. */
#define TMPL_STD_MAX 3

/* Certificates a template keeps built for reuse: one per thread issuing at once (more make their own). */
#define TMPL_POOL 8

/*
 * A certificate of a template kept built: every fixed part in place, the
 * parts that differ overwritten at each issue (serial, validity, subject
 * CN, key, the values of subjectKeyIdentifier, authorityKeyIdentifier when
 * self-signed, subjectAltName and the extra extensions), then signed and
 * encoded.  x is NULL until first used, and after an issue that failed
 * half-way (it is made again).  Guarded by lock.
 */
struct cert_proto {
	pthread_mutex_t lock;
	X509 *x;
	/*
	 * After x's first signature by a template's CA key (proto_sign_keep):
	 * a digest-sign context for that key, copied for each signature, and
	 * the DER of the signature algorithm X509_sign set in x.
	 */
	EVP_MD_CTX *sign;
	unsigned char *alg_der;
	int alg_len;
};

/* Forget P's certificate and its signing state (made again at its next use). */
static void proto_reset(struct cert_proto *p)
{
	X509_free(p->x);
	p->x = NULL;
	EVP_MD_CTX_free(p->sign);
	p->sign = NULL;
	OPENSSL_free(p->alg_der);
	p->alg_der = NULL;
	p->alg_len = 0;
}

/*
 * What every certificate issued from one template has in common
 * (crypto.h).  Invariants: ca_cert NULL means self-signed (the subject key
 * signs, sign_key NULL), else sign_key matches ca_cert (both
 * up-referenced); the fields of the spec a certificate's spec must repeat
 * are copied (org, is_ca, path_len, key_usage, ext_key_usage, has_san, the
 * extensions' oid/kind/critical in exts[0..n_exts)); std[0..n_std) are the
 * extensions made from them, in certificate order; aki is the
 * authorityKeyIdentifier from ca_cert (NULL when self-signed: it depends
 * on the certificate itself and is made per certificate).  A certificate's
 * extensions are std, then subjectKeyIdentifier at ski_at,
 * authorityKeyIdentifier, subjectAltName when has_san, then exts.
 */
struct hl_cert_template {
	X509 *ca_cert;
	EVP_PKEY *sign_key;
	char *org;
	int is_ca, path_len, has_san;
	unsigned int key_usage, ext_key_usage;
	X509_EXTENSION *std[TMPL_STD_MAX];
	size_t n_std;
	X509_EXTENSION *aki;
	struct tmpl_ext *exts;
	size_t n_exts;
	struct cert_proto pool[TMPL_POOL];
};

/* Free a template; NULL-safe. */
void hl_cert_template_free(struct hl_cert_template *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < TMPL_POOL; i++) {
		proto_reset(&t->pool[i]);
		pthread_mutex_destroy(&t->pool[i].lock);
	}
	for (size_t i = 0; i < t->n_std; i++)
		X509_EXTENSION_free(t->std[i]);
	X509_EXTENSION_free(t->aki);
	for (size_t i = 0; i < t->n_exts; i++) {
		ASN1_OBJECT_free(t->exts[i].obj);
		free(t->exts[i].oid);
	}
	free(t->exts);
	free(t->org);
	X509_free(t->ca_cert);
	EVP_PKEY_free(t->sign_key);
	free(t);
}

/* Make T's basicConstraints, keyUsage and extendedKeyUsage extensions (T's flags set). */
static int tmpl_std_exts(struct hl_cert_template *t)
{
	unsigned int ku = t->key_usage;
	char text[256];

	if (t->is_ca && t->path_len >= 0)
		snprintf(text, sizeof(text), "critical,CA:TRUE,pathlen:%d", t->path_len);
	else
		snprintf(text, sizeof(text), "critical,CA:%s", t->is_ca ? "TRUE" : "FALSE");
	if (!(t->std[t->n_std] = ext_conf(NULL, NID_basic_constraints, text)))
		return -1;
	t->n_std++;
	if (t->is_ca && !ku)
		ku = HL_KU_KEY_CERT_SIGN | HL_KU_CRL_SIGN | HL_KU_DIGITAL_SIGNATURE;
	if (ku) {
		if (usage_text(ku, key_usage_names,
			       sizeof(key_usage_names) / sizeof(key_usage_names[0]), "critical", text,
			       sizeof(text)) < 0 ||
		    !(t->std[t->n_std] = ext_conf(NULL, NID_key_usage, text)))
			return -1;
		t->n_std++;
	}
	if (t->ext_key_usage) {
		if (usage_text(t->ext_key_usage, ext_key_usage_names,
			       sizeof(ext_key_usage_names) / sizeof(ext_key_usage_names[0]), "", text,
			       sizeof(text)) < 0 ||
		    !(t->std[t->n_std] = ext_conf(NULL, NID_ext_key_usage, text)))
			return -1;
		t->n_std++;
	}
	return 0;
}

/* The extensions the issuing code sets itself: an extra extension may not take their OIDs. */
static const int std_ext_nids[] = {
	NID_basic_constraints, NID_key_usage, NID_ext_key_usage, NID_subject_key_identifier,
	NID_authority_key_identifier, NID_subject_alt_name,
};

/* Take the OIDs of SPEC's extra extensions into T, each once and none of std_ext_nids. */
static int tmpl_extra_exts(struct hl_cert_template *t, const struct hl_cert_spec *spec)
{
	const struct hl_cert_ext *e;
	struct tmpl_ext *te;
	int nid;

	if (!spec->n_exts)
		return 0;
	if (!(t->exts = calloc(spec->n_exts, sizeof(*t->exts))))
		return hl_error("out of memory");
	for (size_t i = 0; i < spec->n_exts; i++) {
		e = &spec->exts[i];
		te = &t->exts[t->n_exts];
		if (!e->oid)
			return hl_error("extension without an oid");
		if (!(te->obj = OBJ_txt2obj(e->oid, 1))) {
			ERR_clear_error();
			return hl_error("invalid extension oid '%s'", e->oid);
		}
		t->n_exts++;
		if (!(te->oid = strdup(e->oid)))
			return hl_error("out of memory");
		te->kind = e->kind;
		te->critical = e->critical ? 1 : 0;
		nid = OBJ_obj2nid(te->obj);
		for (size_t j = 0; j < sizeof(std_ext_nids) / sizeof(std_ext_nids[0]); j++)
			if (nid != NID_undef && nid == std_ext_nids[j])
				return hl_error("extension '%s' given twice or set by hgslab", e->oid);
		for (size_t j = 0; j + 1 < t->n_exts; j++)
			if (OBJ_cmp(t->exts[j].obj, te->obj) == 0)
				return hl_error("extension '%s' given twice or set by hgslab", e->oid);
	}
	return 0;
}

/* A template for the certificates CA_KEY / CA_CERT (NULL, NULL: self-signed) issue from SPEC. */
int hl_cert_template_new(const struct hl_cert_spec *spec, X509 *ca_cert, EVP_PKEY *ca_key,
			 struct hl_cert_template **out)
{
	char label[NAME_MAX_LEN];
	struct hl_cert_template *t = NULL;
	X509V3_CTX v3;
	int rc = -1;

	*out = NULL;
	if (!spec)
		return hl_error("no certificate spec given");
	if (spec->n_exts && !spec->exts)
		return hl_error("extension list missing");
	if (!ca_cert != !ca_key)
		return hl_error("a ca certificate and its key go together");
	ERR_clear_error();
	if (ca_cert && X509_check_private_key(ca_cert, ca_key) != 1) {
		ERR_clear_error();
		return hl_error("the ca key does not match ca certificate '%s'",
				cert_label(ca_cert, label, sizeof(label)));
	}
	if (!(t = calloc(1, sizeof(*t))))
		return hl_error("out of memory");
	for (size_t i = 0; i < TMPL_POOL; i++)
		pthread_mutex_init(&t->pool[i].lock, NULL);
	if (spec->org && !(t->org = strdup(spec->org))) {
		hl_error("out of memory");
		goto out;
	}
	if (ca_cert) {
		if (X509_up_ref(ca_cert) != 1) {
			ossl_fail("cannot keep the ca certificate");
			goto out;
		}
		t->ca_cert = ca_cert;
		if (EVP_PKEY_up_ref(ca_key) != 1) {
			ossl_fail("cannot keep the ca key");
			goto out;
		}
		t->sign_key = ca_key;
	}
	t->is_ca = ca_cert ? spec->is_ca : 1;
	t->path_len = spec->path_len;
	t->key_usage = spec->key_usage;
	t->ext_key_usage = spec->ext_key_usage;
	t->has_san = spec->n_san > 0;
	if (tmpl_std_exts(t) < 0 || tmpl_extra_exts(t, spec) < 0)
		goto out;
	if (ca_cert) {
		/* from the issuer alone: its subjectKeyIdentifier, else its name and serial */
		X509V3_set_ctx(&v3, ca_cert, NULL, NULL, NULL, 0);
		if (!(t->aki = ext_conf(&v3, NID_authority_key_identifier, "keyid,issuer")))
			goto out;
	}
	*out = t;
	t = NULL;
	rc = 0;
out:
	hl_cert_template_free(t);
	return rc;
}

/* Whether SPEC repeats what T was made from (the fields crypto.h names). */
static int tmpl_matches(const struct hl_cert_template *t, const struct hl_cert_spec *spec)
{
	if ((!t->org != !spec->org) || (t->org && strcmp(t->org, spec->org) != 0) ||
	    (t->ca_cert && t->is_ca != spec->is_ca) || t->path_len != spec->path_len ||
	    t->key_usage != spec->key_usage || t->ext_key_usage != spec->ext_key_usage ||
	    t->has_san != (spec->n_san > 0) || t->n_exts != spec->n_exts ||
	    (spec->n_exts && !spec->exts))
		return 0;
	for (size_t i = 0; i < t->n_exts; i++) {
		const struct hl_cert_ext *e = &spec->exts[i];

		if (!e->oid || strcmp(e->oid, t->exts[i].oid) != 0 || e->kind != t->exts[i].kind ||
		    (e->critical ? 1 : 0) != t->exts[i].critical)
			return 0;
	}
	return 1;
}

/* Add extension NID with the DER value "\x04\x00" (a placeholder, filled per certificate). */
static int add_placeholder(X509 *x, int nid, ASN1_OBJECT *obj, int critical)
{
	static const unsigned char empty[] = { 0x04, 0x00 };
	ASN1_OCTET_STRING *data = ASN1_OCTET_STRING_new();
	X509_EXTENSION *ext = NULL;
	int rc = -1;

	if (data && ASN1_OCTET_STRING_set(data, empty, (int)sizeof(empty)) == 1)
		ext = obj ? X509_EXTENSION_create_by_OBJ(NULL, obj, critical, data)
			  : X509_EXTENSION_create_by_NID(NULL, nid, critical, data);
	if (!ext || X509_add_ext(x, ext, -1) != 1)
		ossl_fail("cannot make a certificate template");
	else
		rc = 0;
	X509_EXTENSION_free(ext);
	ASN1_OCTET_STRING_free(data);
	return rc;
}

/*
 * Build T's certificate with its fixed parts into *OUT: version, subject
 * (a placeholder CN, then T's O), issuer (the CA's; a self-signed one is
 * set per certificate), the extensions in template order with placeholder
 * values where they differ.
 */
static int proto_build(const struct hl_cert_template *t, X509 **out)
{
	X509_NAME *name;
	X509 *x = X509_new();
	int rc = -1;

	*out = NULL;
	if (!x || X509_set_version(x, X509_VERSION_3) != 1 || !(name = X509_get_subject_name(x)) ||
	    X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_UTF8,
				       (const unsigned char *)"-", -1, -1, 0) != 1 ||
	    (t->org && X509_NAME_add_entry_by_NID(name, NID_organizationName, MBSTRING_UTF8,
						  (const unsigned char *)t->org, -1, -1, 0) != 1) ||
	    (t->ca_cert && X509_set_issuer_name(x, X509_get_subject_name(t->ca_cert)) != 1)) {
		ossl_fail("cannot make a certificate template");
		goto out;
	}
	for (size_t i = 0; i < t->n_std; i++)
		if (add_ext(x, t->std[i]) < 0)
			goto out;
	if (add_placeholder(x, NID_subject_key_identifier, NULL, 0) < 0 ||
	    (t->ca_cert ? add_ext(x, t->aki)
			: add_placeholder(x, NID_authority_key_identifier, NULL, 0)) < 0 ||
	    (t->has_san && add_placeholder(x, NID_subject_alt_name, NULL, 0) < 0))
		goto out;
	for (size_t i = 0; i < t->n_exts; i++)
		if (add_placeholder(x, NID_undef, t->exts[i].obj, t->exts[i].critical) < 0)
			goto out;
	*out = x;
	x = NULL;
	rc = 0;
out:
	X509_free(x);
	return rc;
}

/* Set X's extension at index AT to the DER value DER of LEN bytes. */
static int set_ext_value(X509 *x, int at, const unsigned char *der, int len)
{
	ASN1_OCTET_STRING *data = ASN1_OCTET_STRING_new();
	int rc = -1;

	if (data && ASN1_OCTET_STRING_set(data, der, len) == 1 &&
	    X509_EXTENSION_set_data(X509_get_ext(x, at), data) == 1)
		rc = 0;
	ASN1_OCTET_STRING_free(data);
	return rc;
}

/* Set X's extension at index AT to the value of EXT (same kind). */
static int set_ext_from(X509 *x, int at, X509_EXTENSION *ext)
{
	const ASN1_OCTET_STRING *v = X509_EXTENSION_get_data(ext);

	return set_ext_value(x, at, ASN1_STRING_get0_data(v), ASN1_STRING_length(v));
}

/* Set X's subject CN (the first entry of its subject) to CN; self-signed: the issuer too. */
static int set_cn(X509 *x, const char *cn, int self_signed)
{
	X509_NAME *name = X509_get_subject_name(x);

	X509_NAME_ENTRY_free(X509_NAME_delete_entry(name, 0));
	if (X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_UTF8,
				       (const unsigned char *)cn, -1, 0, 0) != 1 ||
	    (self_signed && X509_set_issuer_name(x, name) != 1))
		return ossl_fail("cannot set certificate names");
	return 0;
}

/* Set X's subjectKeyIdentifier (at AT): the SHA-1 of its public key bits, as OpenSSL's "hash" makes it. */
static int set_ski(X509 *x, int at)
{
	unsigned char md[EVP_MAX_MD_SIZE], *der = NULL;
	unsigned int len = 0;
	ASN1_OCTET_STRING *id = ASN1_OCTET_STRING_new();
	int n, rc = -1;

	if (id && X509_pubkey_digest(x, digest_md(HL_DIGEST_SHA1), md, &len) == 1 &&
	    ASN1_OCTET_STRING_set(id, md, (int)len) == 1 &&
	    (n = i2d_ASN1_OCTET_STRING(id, &der)) > 0 && set_ext_value(x, at, der, n) == 0)
		rc = 0;
	else
		ossl_fail("cannot set subjectKeyIdentifier extension");
	OPENSSL_free(der);
	ASN1_OCTET_STRING_free(id);
	return rc;
}

/* Self-signed X: its authorityKeyIdentifier (at AT) from itself, its key identifier set. */
static int set_self_aki(X509 *x, int at)
{
	X509V3_CTX v3;
	X509_EXTENSION *aki;
	int rc;

	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	if (!(aki = ext_conf(&v3, NID_authority_key_identifier, "keyid,issuer")))
		return -1;
	rc = set_ext_from(x, at, aki) < 0 ? ossl_fail("cannot set authorityKeyIdentifier") : 0;
	X509_EXTENSION_free(aki);
	return rc;
}

/* Set X's subjectAltName (at AT) from SAN: IP literals as iPAddress, others as dNSName. */
static int set_san(X509 *x, int at, const char *const *san, size_t n)
{
	GENERAL_NAMES *names = sk_GENERAL_NAME_new_null();
	GENERAL_NAME *gen = NULL;
	X509_EXTENSION *ext = NULL;
	ASN1_OCTET_STRING *ip;
	ASN1_IA5STRING *dns;
	int rc = -1;

	if (!names)
		return ossl_fail("cannot add subjectAltName");
	for (size_t i = 0; i < n; i++) {
		if (!(gen = GENERAL_NAME_new())) {
			ossl_fail("cannot add subjectAltName");
			goto out;
		}
		ip = a2i_IPADDRESS(san[i]);
		if (ip) {
			GENERAL_NAME_set0_value(gen, GEN_IPADD, ip);
		} else {
			ERR_clear_error();
			if (!dns_name_ok(san[i])) {
				hl_error("invalid subjectAltName '%s'", san[i]);
				goto out;
			}
			dns = ASN1_IA5STRING_new();
			if (!dns || ASN1_STRING_set(dns, san[i], -1) != 1) {
				ASN1_IA5STRING_free(dns);
				ossl_fail("cannot add subjectAltName '%s'", san[i]);
				goto out;
			}
			GENERAL_NAME_set0_value(gen, GEN_DNS, dns);
		}
		if (!sk_GENERAL_NAME_push(names, gen)) {
			ossl_fail("cannot add subjectAltName '%s'", san[i]);
			goto out;
		}
		gen = NULL;
	}
	if (!(ext = X509V3_EXT_i2d(NID_subject_alt_name, 0, names)) ||
	    set_ext_from(x, at, ext) < 0) {
		ossl_fail("cannot add subjectAltName");
		goto out;
	}
	rc = 0;
out:
	X509_EXTENSION_free(ext);
	GENERAL_NAME_free(gen);
	GENERAL_NAMES_free(names);
	return rc;
}

/*
 * After the first X509_sign of proto P by T's CA key: keep a digest-sign
 * context for the key and the signature algorithm it set, so that the next
 * certificates of P are signed by proto_sign (only for an RSA key, signed
 * PKCS#1 v1.5 as X509_sign does, or an EC key; else X509_sign signs each).
 */
static void proto_sign_keep(const struct hl_cert_template *t, struct cert_proto *p)
{
	const X509_ALGOR *alg = NULL;

	if (!t->ca_cert || p->sign ||
	    !(EVP_PKEY_is_a(t->sign_key, "RSA") || EVP_PKEY_is_a(t->sign_key, "EC")))
		return;
	X509_get0_signature(NULL, &alg, p->x);
	if (!alg || (p->alg_len = i2d_X509_ALGOR(alg, &p->alg_der)) <= 0 ||
	    !(p->sign = EVP_MD_CTX_new()) ||
	    EVP_DigestSignInit_ex(p->sign, NULL, "SHA256", NULL, NULL, t->sign_key, NULL) != 1) {
		EVP_MD_CTX_free(p->sign);
		p->sign = NULL;
		OPENSSL_free(p->alg_der);
		p->alg_der = NULL;
		ERR_clear_error();   /* X509_sign goes on signing */
	}
}

/* An element of a SEQUENCE OF ANY holding TYPE's DER CONTENT of LEN bytes (taken). */
static int seq_push(STACK_OF(ASN1_TYPE) *seq, int type, unsigned char *content, int len)
{
	ASN1_STRING *v = ASN1_STRING_type_new(type);
	ASN1_TYPE *a = ASN1_TYPE_new();

	if (!v || !a || sk_ASN1_TYPE_push(seq, a) <= 0) {
		ASN1_STRING_free(v);
		ASN1_TYPE_free(a);
		OPENSSL_free(content);
		return -1;
	}
	ASN1_STRING_set0(v, content, len);
	if (type == V_ASN1_BIT_STRING)   /* a signature: no unused bits */
		v->flags = (v->flags & ~0x07L) | ASN1_STRING_FLAG_BITS_LEFT;
	ASN1_TYPE_set(a, type, v);
	return 0;
}

/*
 * Sign X with P's context and encode it into DER: the TBSCertificate
 * encoded once, then the Certificate SEQUENCE of it, P's signature
 * algorithm and the signature, as OpenSSL encodes them (X509_sign and
 * i2d_X509 would encode the TBSCertificate twice).
 */
static int proto_sign(const struct cert_proto *p, X509 *x, EVP_PKEY *key, struct hl_buf *der)
{
	STACK_OF(ASN1_TYPE) *seq = sk_ASN1_TYPE_new_null();
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char *tbs = NULL, *sig = NULL, *alg = NULL, *out = NULL;
	size_t sig_len = (size_t)EVP_PKEY_get_size(key);
	int tbs_len, len, rc = -1;

	if (!seq || !ctx || EVP_MD_CTX_copy_ex(ctx, p->sign) != 1 ||
	    (tbs_len = i2d_re_X509_tbs(x, &tbs)) <= 0 || !(sig = OPENSSL_malloc(sig_len)) ||
	    EVP_DigestSign(ctx, sig, &sig_len, tbs, (size_t)tbs_len) != 1 ||
	    !(alg = OPENSSL_memdup(p->alg_der, (size_t)p->alg_len))) {
		ossl_fail("cannot sign");
		goto out;
	}
	if (seq_push(seq, V_ASN1_SEQUENCE, tbs, tbs_len) < 0 ||
	    seq_push(seq, V_ASN1_SEQUENCE, alg, p->alg_len) < 0 ||
	    seq_push(seq, V_ASN1_BIT_STRING, sig, (int)sig_len) < 0) {
		tbs = alg = sig = NULL;   /* taken */
		ossl_fail("cannot encode the certificate");
		goto out;
	}
	tbs = alg = sig = NULL;
	if ((len = i2d_ASN1_SEQUENCE_ANY(seq, &out)) <= 0) {
		ossl_fail("cannot encode the certificate");
		goto out;
	}
	rc = buf_alloc(der, (size_t)len);
	if (rc == 0)
		memcpy(der->data, out, (size_t)len);
out:
	OPENSSL_free(out);
	OPENSSL_free(tbs);
	OPENSSL_free(alg);
	OPENSSL_free(sig);
	sk_ASN1_TYPE_pop_free(seq, ASN1_TYPE_free);
	EVP_MD_CTX_free(ctx);
	return rc;
}

/*
 * Overwrite what differs in T's certificate X with SPEC's and SUBJECT_KEY,
 * sign it and encode it into DER: by proto_sign when PROTO (X's, NULL
 * for a certificate made for one call) was signed before.
 */
static int proto_issue(const struct hl_cert_template *t, struct cert_proto *proto, X509 *x,
		       const struct hl_cert_spec *spec, EVP_PKEY *subject_key, struct hl_buf *der)
{
	int at = (int)t->n_std, ski_at = at, aki_at = at + 1, san_at = at + 2;
	int extra_at = at + 2 + t->has_san, len = 0, rc;
	unsigned char *value = NULL, *p = NULL;

	if (set_serial(x) < 0 || set_cn(x, spec->cn, !t->ca_cert) < 0)
		return -1;
	if (!ASN1_TIME_set(X509_getm_notBefore(x), spec->not_before) ||
	    !ASN1_TIME_set(X509_getm_notAfter(x), spec->not_after))
		return ossl_fail("cannot set validity");
	if (set_subject_key(x, subject_key) < 0)
		return ossl_fail("cannot set public key");
	if (set_ski(x, ski_at) < 0 || (!t->ca_cert && set_self_aki(x, aki_at) < 0) ||
	    (t->has_san && set_san(x, san_at, spec->san, spec->n_san) < 0))
		return -1;
	for (size_t i = 0; i < t->n_exts; i++) {
		if (ext_value_der(&spec->exts[i], &value, &len) < 0)
			return -1;
		if (set_ext_value(x, extra_at + (int)i, value, len) < 0) {
			OPENSSL_free(value);
			return ossl_fail("cannot add extension '%s'", t->exts[i].oid);
		}
		OPENSSL_free(value);
	}
	if (proto && proto->sign)
		return proto_sign(proto, x, t->sign_key, der);
	if (X509_sign(x, t->ca_cert ? t->sign_key : subject_key,
		      digest_md(HL_DIGEST_SHA256)) <= 0)
		return ossl_fail("cannot sign");
	if (proto)
		proto_sign_keep(t, proto);
	/* encoded once (OpenSSL's buffer), then copied: i2d_X509 encodes again at each call */
	if ((len = i2d_X509(x, &p)) <= 0)
		return ossl_fail("cannot encode the certificate");
	rc = buf_alloc(der, (size_t)len);
	if (rc == 0)
		memcpy(der->data, p, (size_t)len);
	OPENSSL_free(p);
	return rc;
}

/*
 * Issue a certificate for SUBJECT_KEY from T with SPEC's cn, validity, san
 * and extension values, as DER (crypto.h): on a certificate of T's pool
 * that no other thread holds, else on one made for this call.
 */
int hl_cert_template_issue(struct hl_cert_template *t, const struct hl_cert_spec *spec,
			   EVP_PKEY *subject_key, struct hl_buf *der)
{
	struct cert_proto *held = NULL;
	X509 *own = NULL, **x;
	int rc = -1;

	buf_reset(der);
	if (!spec || !spec->cn || !spec->cn[0])
		return hl_error("cannot issue certificate: no subject cn given");
	if (spec->not_after <= spec->not_before)
		return hl_error("cannot issue certificate '%s': not-after is not later than "
				"not-before", spec->cn);
	if (!tmpl_matches(t, spec))
		return hl_error("cannot issue certificate '%s': its spec is not the one of the "
				"template (org, CA flags, usages, subjectAltName and extension oids "
				"must repeat it)", spec->cn);
	for (size_t i = 0; i < TMPL_POOL && !held; i++)
		if (pthread_mutex_trylock(&t->pool[i].lock) == 0)
			held = &t->pool[i];
	x = held ? &held->x : &own;
	ERR_clear_error();
	if ((*x || proto_build(t, x) == 0) && proto_issue(t, held, *x, spec, subject_key, der) == 0)
		rc = 0;
	if (rc < 0) {
		/* half overwritten: made again at its next use */
		if (held)
			proto_reset(held);
		hl_error_wrap("cannot issue certificate '%s'", spec->cn);
	}
	if (held)
		pthread_mutex_unlock(&held->lock);
	X509_free(own);
	return rc;
}

/* Issue one certificate through a template made for it alone. */
static int issue_once(const struct hl_cert_spec *spec, EVP_PKEY *subject_key, X509 *ca_cert,
		      EVP_PKEY *ca_key, X509 **out)
{
	struct hl_cert_template *t = NULL;
	struct hl_buf der = { NULL, 0 };
	int rc;

	*out = NULL;
	if (!spec || !spec->cn || !spec->cn[0])
		return hl_error("cannot issue certificate: no subject cn given");
	if (hl_cert_template_new(spec, ca_cert, ca_key, &t) < 0)
		return hl_error_wrap("cannot issue certificate '%s'", spec->cn);
	rc = hl_cert_template_issue(t, spec, subject_key, &der);
	hl_cert_template_free(t);
	if (rc == 0)
		rc = hl_cert_from_der(der.data, der.len, out);
	hl_buf_free(&der);
	return rc;
}

/* Self-signed CA certificate for KEY. */
int hl_cert_issue_self_signed(const struct hl_cert_spec *spec, EVP_PKEY *key, X509 **out)
{
	return issue_once(spec, key, NULL, NULL, out);
}

/* Certificate for SUBJECT_KEY signed by CA_KEY / CA_CERT. */
int hl_cert_issue(const struct hl_cert_spec *spec, EVP_PKEY *subject_key, X509 *ca_cert,
		  EVP_PKEY *ca_key, X509 **out)
{
	*out = NULL;
	if (!ca_cert || !ca_key)
		return hl_error("cannot issue certificate: no ca certificate or key given");
	return issue_once(spec, subject_key, ca_cert, ca_key, out);
}

/* Message for a failed chain verification of CERT against CA, from CTX's error. */
static int verify_fail(X509_STORE_CTX *ctx, X509 *cert, X509 *ca)
{
	char leaf[NAME_MAX_LEN], bad[NAME_MAX_LEN], anchor[NAME_MAX_LEN], iss[NAME_MAX_LEN];
	char when[64], prefix[NAME_MAX_LEN + 40] = "";
	int err = X509_STORE_CTX_get_error(ctx);
	X509 *errcert = X509_STORE_CTX_get_current_cert(ctx);
	time_t t;

	if (!errcert)
		errcert = cert;
	cert_label(cert, leaf, sizeof(leaf));
	cert_label(errcert, bad, sizeof(bad));
	cert_label(ca, anchor, sizeof(anchor));
	if (errcert != cert)
		snprintf(prefix, sizeof(prefix), "certificate '%s' does not verify: ", leaf);
	ERR_clear_error();
	switch (err) {
	case X509_V_ERR_CERT_HAS_EXPIRED:
		if (asn1_time_get(X509_get0_notAfter(errcert), &t) == 0)
			fmt_time(t, when, sizeof(when));
		else
			snprintf(when, sizeof(when), "(unreadable date)");
		return hl_error("%scertificate '%s' expired on %s", prefix, bad, when);
	case X509_V_ERR_CERT_NOT_YET_VALID:
		if (asn1_time_get(X509_get0_notBefore(errcert), &t) == 0)
			fmt_time(t, when, sizeof(when));
		else
			snprintf(when, sizeof(when), "(unreadable date)");
		return hl_error("%scertificate '%s' is not yet valid: valid from %s", prefix, bad,
				when);
	case X509_V_ERR_CERT_SIGNATURE_FAILURE:
	case X509_V_ERR_UNABLE_TO_DECRYPT_CERT_SIGNATURE:
		return hl_error("certificate '%s' was not issued by '%s': signature of '%s' does not "
				"verify with its issuer's key", leaf, anchor, bad);
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
	case X509_V_ERR_CERT_UNTRUSTED:
		if (name_cn(X509_get_issuer_name(errcert), iss, sizeof(iss)) < 0)
			snprintf(iss, sizeof(iss), "(no cn)");
		if (strcmp(iss, anchor) == 0)
			return hl_error("%scertificate '%s' was not issued by '%s': it names an "
					"issuer of that name, but with another key", prefix, bad,
					anchor);
		return hl_error("%scertificate '%s' was not issued by '%s' (its issuer is '%s')",
				prefix, bad, anchor, iss);
	case X509_V_ERR_INVALID_CA:
	case X509_V_ERR_KEYUSAGE_NO_CERTSIGN:
		return hl_error("certificate '%s' does not verify: '%s' may not issue certificates "
				"(%s)", leaf, bad, X509_verify_cert_error_string(err));
	default:
		return hl_error("certificate '%s' does not verify against '%s': %s (at '%s')", leaf,
				anchor, X509_verify_cert_error_string(err), bad);
	}
}

/* Verify CERT's chain to trust anchor CA at time AT (X509_verify_cert). */
int hl_cert_verify(X509 *cert, X509 *ca, X509 *const *intermediates, size_t n_intermediates,
		   time_t at)
{
	STACK_OF(X509) *untrusted = NULL;
	X509_STORE_CTX *ctx = NULL;
	X509_STORE *store = NULL;
	X509_VERIFY_PARAM *param;
	char label[NAME_MAX_LEN];
	size_t i;
	int r, rc = -1;

	if (!cert || !ca)
		return hl_error("cannot verify certificate: no certificate or ca given");
	ERR_clear_error();
	store = X509_STORE_new();
	untrusted = sk_X509_new_null();
	ctx = X509_STORE_CTX_new();
	if (!store || !untrusted || !ctx || X509_STORE_add_cert(store, ca) != 1) {
		ossl_fail("cannot verify certificate '%s'", cert_label(cert, label, sizeof(label)));
		goto out;
	}
	for (i = 0; i < n_intermediates; i++) {
		if (!sk_X509_push(untrusted, intermediates[i])) {
			ossl_fail("cannot verify certificate '%s'",
				  cert_label(cert, label, sizeof(label)));
			goto out;
		}
	}
	if (X509_STORE_CTX_init(ctx, store, cert, untrusted) != 1) {
		ossl_fail("cannot verify certificate '%s'", cert_label(cert, label, sizeof(label)));
		goto out;
	}
	param = X509_STORE_CTX_get0_param(ctx);
	X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_PARTIAL_CHAIN);
	if (at)
		X509_VERIFY_PARAM_set_time(param, at);
	r = X509_verify_cert(ctx);
	if (r == 1)
		rc = 0;
	else if (X509_STORE_CTX_get_error(ctx) != X509_V_OK)
		verify_fail(ctx, cert, ca);
	else
		ossl_fail("cannot verify certificate '%s'", cert_label(cert, label, sizeof(label)));
out:
	X509_STORE_CTX_free(ctx);
	sk_X509_free(untrusted);
	X509_STORE_free(store);
	return rc;
}

/* Verify CERT against each trust anchor of a CA bundle, the rest as intermediates. */
int hl_cert_verify_bundle(X509 *cert, X509 *const *bundle, size_t n, time_t at)
{
	X509 **inter;
	int tried = 0;

	if (!cert || !bundle || n == 0)
		return hl_error("cannot verify certificate: no certificate or ca bundle given");
	if (!(inter = calloc(n, sizeof(*inter))))
		return hl_error("cannot verify certificate: out of memory");
	/* self-signed certificates are the anchors; when none is, every one may be */
	for (int pass = 0; pass < 2 && !tried; pass++) {
		for (size_t a = 0; a < n; a++) {
			size_t ni = 0;

			if (pass == 0 && X509_check_issued(bundle[a], bundle[a]) != X509_V_OK)
				continue;
			for (size_t j = 0; j < n; j++)
				if (j != a)
					inter[ni++] = bundle[j];
			tried = 1;
			if (hl_cert_verify(cert, bundle[a], inter, ni, at) == 0) {
				free(inter);
				return 0;
			}
		}
	}
	free(inter);
	return -1;
}

/* CERT as PEM. */
int hl_cert_to_pem(const X509 *cert, struct hl_buf *out)
{
	return pem_encode(&cert_codec, cert, out);
}

/* CERT as DER (i2d_X509). */
int hl_cert_to_der(const X509 *cert, struct hl_buf *out)
{
	return der_encode(&cert_codec, cert, out);
}

/* First certificate of a PEM buffer. */
int hl_cert_from_pem(const void *pem, size_t len, X509 **out)
{
	*out = pem_decode(&cert_codec, pem, len);
	return *out ? 0 : -1;
}

/* Certificate from DER, all of LEN bytes. */
int hl_cert_from_der(const void *der, size_t len, X509 **out)
{
	*out = der_decode(&cert_codec, der, len);
	return *out ? 0 : -1;
}

/* SHA-256 of CERT's DER, as hex (X509_digest). */
int hl_cert_thumbprint(const X509 *cert, char out[HL_SHA256_HEX_SIZE])
{
	struct hl_buf der = { NULL, 0 };
	int rc;

	out[0] = '\0';
	if (hl_cert_to_der(cert, &der) < 0)
		return hl_error_wrap("cannot compute certificate thumbprint");
	rc = hl_cert_thumbprint_der(der.data, der.len, out);
	hl_buf_free(&der);
	return rc;
}

/* SHA-256 of a certificate's DER bytes as uppercase hex into OUT. */
int hl_cert_thumbprint_der(const void *der, size_t len, char out[HL_SHA256_HEX_SIZE])
{
	unsigned char md[HL_SHA256_LEN];

	out[0] = '\0';
	if (hl_crypto_sha256(der, len, md) < 0)
		return hl_error_wrap("cannot compute certificate thumbprint");
	return hl_crypto_hex_encode(md, sizeof(md), out, HL_SHA256_HEX_SIZE);
}

/* Raw value (extnValue contents) of CERT's extension OID. */
int hl_cert_ext_get(const X509 *cert, const char *oid, struct hl_buf *out)
{
	char label[NAME_MAX_LEN];
	const ASN1_OCTET_STRING *data;
	ASN1_OBJECT *obj;
	int i, rc = -1;

	buf_reset(out);
	ERR_clear_error();
	obj = OBJ_txt2obj(oid, 1);
	if (!obj) {
		ERR_clear_error();
		return hl_error("invalid extension oid '%s'", oid);
	}
	i = X509_get_ext_by_OBJ(cert, obj, -1);
	if (i < 0) {
		hl_error("certificate '%s' has no extension '%s'",
			 cert_label(cert, label, sizeof(label)), oid);
		goto out;
	}
	data = X509_EXTENSION_get_data(X509_get_ext(cert, i));
	if (!data) {
		hl_error("certificate '%s' has an empty extension '%s'",
			 cert_label(cert, label, sizeof(label)), oid);
		goto out;
	}
	rc = hl_buf_set(out, ASN1_STRING_get0_data(data), (size_t)ASN1_STRING_length(data));
out:
	ASN1_OBJECT_free(obj);
	return rc;
}

/*
 * Decoded contents of CERT's extension OID whose value is one ASN.1 string
 * that D2I reads (KIND names it in messages); TEXT refuses a nul byte.
 */
static int ext_get_string(const X509 *cert, const char *oid,
			  ASN1_STRING *(*d2i)(ASN1_STRING **, const unsigned char **, long),
			  int text, const char *kind, struct hl_buf *out)
{
	struct hl_buf raw = { NULL, 0 };
	ASN1_STRING *s = NULL;
	const unsigned char *p;
	char label[NAME_MAX_LEN];
	int rc = -1;

	buf_reset(out);
	if (hl_cert_ext_get(cert, oid, &raw) < 0)
		return -1;
	p = raw.data;
	s = d2i(NULL, &p, (long)raw.len);
	if (!s || p != raw.data + raw.len ||
	    (text && memchr(ASN1_STRING_get0_data(s), '\0', (size_t)ASN1_STRING_length(s)))) {
		ERR_clear_error();
		hl_error("extension '%s' of certificate '%s' is not %s", oid,
			 cert_label(cert, label, sizeof(label)), kind);
		goto out;
	}
	rc = hl_buf_set(out, ASN1_STRING_get0_data(s), (size_t)ASN1_STRING_length(s));
out:
	ASN1_STRING_free(s);
	hl_buf_free(&raw);
	return rc;
}

/* Decoded text of a UTF8String extension. */
int hl_cert_ext_get_utf8(const X509 *cert, const char *oid, struct hl_buf *out)
{
	return ext_get_string(cert, oid, d2i_ASN1_UTF8STRING, 1, "a utf8 string", out);
}

/* Decoded bytes of an OCTET STRING extension. */
int hl_cert_ext_get_octets(const X509 *cert, const char *oid, struct hl_buf *out)
{
	return ext_get_string(cert, oid, d2i_ASN1_OCTET_STRING, 0, "an octet string", out);
}
