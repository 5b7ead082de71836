/*
 * test_tcglog.c - unit tests for lib/tcglog (TCG event log parse, replay,
 * event-data checks, writer).
 *
 * The reference for every replay is tpm2_eventlog (tpm2-tools), run with
 * popen (testutil's tu_tpm2_eventlog) on the real firmware logs of the
 * repository's tests/data/tcglogs (found from the repository root, whatever
 * the working directory; $HGSLAB_FIXTURES/tcglogs when that is set) and on
 * logs this module writes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/err.h"
#include "proto/tcglog.h"
#include "tests/unit/testutil.h"

static const char *const fixtures[] = {
	"event-arch-linux.bin",
	"event-bootorder.bin",
	"event-gce-ubuntu-2104-log.bin",
	"event-moklisttrusted.bin",
	"event-postcode.bin",
	"event-sd-boot-fedora37.bin",
	"event-uefi-sha1-log.bin",
};

#define N_FIXTURES (sizeof(fixtures) / sizeof(fixtures[0]))

/* Read a named fixture log (tests/data/tcglogs). */
static uint8_t *load_fixture(const char *name, size_t *len)
{
	return tu_data_load(tu_path("tcglogs/%s", name), len);
}

/* Replay LOG and require the same PCR values, bank by bank, as tpm2_eventlog on PATH. */
static void assert_replay_matches_tpm2(const struct hl_tcglog *log, const char *path)
{
	struct hl_tcglog_pcrs *pcrs = NULL;
	struct tu_eventlog *ref = calloc(1, sizeof(*ref));
	struct hl_tcglog_mismatch *list = NULL;
	size_t b, i, n;
	unsigned pcr;

	assert_non_null(ref);
	assert_int_equal(hl_tcglog_replay(log, &pcrs), 0);
	tu_tpm2_eventlog(path, ref);
	if (ref->status != 0)
		fail_msg("tpm2_eventlog '%s' failed (status %d); is tpm2-tools installed?", path,
			 ref->status);
	assert_true(ref->nbanks > 0);
	for (b = 0; b < ref->nbanks; b++) {
		const struct tu_eventlog_bank *rb = &ref->banks[b];
		const struct hl_tcglog_bank *mine;

		if (!rb->alg)
			fail_msg("%s: tpm2_eventlog prints bank '%s', unknown to hgslab", path, rb->name);
		mine = hl_tcglog_pcrs_bank(pcrs, rb->alg);
		if (!mine)
			fail_msg("%s: tpm2_eventlog has bank %s, hgslab's replay does not", path,
				 hl_tcglog_alg_name(rb->alg));
		for (pcr = 0; pcr < HL_TCGLOG_PCRS; pcr++) {
			if (!(rb->present & (1u << pcr))) {
				if (mine->extended & (1u << pcr))
					fail_msg("%s: %s PCR %u extended by hgslab only", path,
						 hl_tcglog_alg_name(rb->alg), pcr);
				continue;
			}
			assert_int_equal(rb->size[pcr], mine->size);
			if (memcmp(rb->pcr[pcr], mine->pcr[pcr], mine->size) != 0)
				fail_msg("%s: %s PCR %u differs from tpm2_eventlog", path,
					 hl_tcglog_alg_name(rb->alg), pcr);
		}
	}
	/* and every bank hgslab replayed was printed by tpm2_eventlog */
	for (i = 0; i < pcrs->nbanks; i++) {
		for (b = 0; b < ref->nbanks; b++)
			if (ref->banks[b].alg == pcrs->banks[i].alg)
				break;
		assert_true(b < ref->nbanks);
	}
	if (log->format == HL_TCGLOG_FORMAT_CRYPTO_AGILE)
		assert_int_equal(ref->nevents, log->nevents);

	/* tpm2_eventlog's data warnings are exactly hgslab's mismatches */
	assert_int_equal(hl_tcglog_check_data(log, &list, &n), 0);
	if (n != ref->nmismatch || ref->nwarnings != ref->nmismatch)
		fail_msg("%s: hgslab reports %zu mismatching events, tpm2_eventlog %zu (%zu warnings)",
			 path, n, ref->nmismatch, ref->nwarnings);
	for (i = 0; i < n; i++)
		assert_int_equal(list[i].index, ref->mismatch[i]);
	free(list);
	free(ref);
	hl_tcglog_pcrs_free(pcrs);
}

/* H(data) with the OpenSSL digest named NAME. */
static void test_hash(const char *name, const void *a, size_t alen, const void *b, size_t blen,
		      uint8_t *out)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	assert_non_null(ctx);
	assert_int_equal(EVP_DigestInit_ex(ctx, EVP_get_digestbyname(name), NULL), 1);
	assert_int_equal(EVP_DigestUpdate(ctx, a, alen), 1);
	if (blen)
		assert_int_equal(EVP_DigestUpdate(ctx, b, blen), 1);
	assert_int_equal(EVP_DigestFinal_ex(ctx, out, NULL), 1);
	EVP_MD_CTX_free(ctx);
}

/* Replay two logs and require identical banks. */
static int replays_equal(const struct hl_tcglog *a, const struct hl_tcglog *b)
{
	struct hl_tcglog_pcrs *pa, *pb;
	int eq;

	assert_int_equal(hl_tcglog_replay(a, &pa), 0);
	assert_int_equal(hl_tcglog_replay(b, &pb), 0);
	eq = pa->nbanks == pb->nbanks && memcmp(pa->banks, pb->banks, sizeof(pa->banks)) == 0;
	hl_tcglog_pcrs_free(pa);
	hl_tcglog_pcrs_free(pb);
	return eq;
}

/* Every fixture parses and replays to the PCR values tpm2_eventlog prints. */
static void test_fixtures_match_tpm2_eventlog(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < N_FIXTURES; i++) {
		char path[4096];
		struct hl_tcglog *log = NULL;
		uint8_t *buf;
		size_t len;

		snprintf(path, sizeof(path), "%s", tu_data_path(tu_path("tcglogs/%s", fixtures[i])));
		buf = tu_data_load(tu_path("tcglogs/%s", fixtures[i]), &len);
		if (hl_tcglog_parse(buf, len, &log) < 0)
			fail_msg("%s: %s", fixtures[i], hl_error_last());
		assert_true(log->nevents > 1);
		assert_replay_matches_tpm2(log, path);
		hl_tcglog_free(log);
		free(buf);
	}
}

/* The arch-linux log's event 24 (EV_IPL, PCR 8) is the one whose digest does not match. */
static void test_arch_linux_mismatch(void **state)
{
	struct hl_tcglog *log = NULL;
	struct hl_tcglog_mismatch *list = NULL;
	const struct hl_tcglog_event *ev;
	uint8_t *buf, md[64];
	size_t len, n;

	(void)state;
	buf = load_fixture("event-arch-linux.bin", &len);
	assert_int_equal(hl_tcglog_parse(buf, len, &log), 0);
	assert_int_equal(hl_tcglog_check_data(log, &list, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(list[0].index, 24);
	assert_int_equal(list[0].type, HL_EV_IPL);
	assert_int_equal(list[0].pcr, 8);
	assert_int_equal(list[0].offset, 0x3b26);
	assert_int_equal(list[0].alg, HL_TCGLOG_ALG_SHA1);
	free(list);

	/*
	 * Why: systemd-boot measured the UTF-16 kernel command line with its
	 * two-byte terminator (366 bytes) but logged 365 bytes, one NUL short.
	 */
	ev = &log->events[24];
	assert_int_equal(ev->data_len, 365);
	{
		uint8_t full[366];

		memcpy(full, ev->data, 365);
		full[365] = 0;
		test_hash("SHA256", full, sizeof(full), NULL, 0, md);
		assert_memory_equal(md, hl_tcglog_event_digest(ev, HL_TCGLOG_ALG_SHA256)->value, 32);
	}

	assert_int_equal(hl_tcglog_require_data_ok(log), -1);
	assert_non_null(strstr(hl_error_last(), "event 24 of the TCG log (EV_IPL, PCR 8"));
	assert_non_null(strstr(hl_error_last(), "sha1 digest is not the hash of its data"));
	hl_tcglog_free(log);
	free(buf);
}

/* No other fixture has a mismatching event, though each has checked events. */
static void test_fixtures_no_false_positives(void **state)
{
	size_t i, j;

	(void)state;
	for (i = 0; i < N_FIXTURES; i++) {
		struct hl_tcglog *log = NULL;
		struct hl_tcglog_mismatch *list = NULL;
		size_t len, n, checked = 0;
		uint8_t *buf;

		if (strcmp(fixtures[i], "event-arch-linux.bin") == 0)
			continue;
		buf = load_fixture(fixtures[i], &len);
		assert_int_equal(hl_tcglog_parse(buf, len, &log), 0);
		assert_int_equal(hl_tcglog_check_data(log, &list, &n), 0);
		if (n)
			fail_msg("%s: event %zu (%s, PCR %u) reported", fixtures[i], list[0].index,
				 hl_tcglog_event_type_name(list[0].type), (unsigned)list[0].pcr);
		assert_null(list);
		assert_int_equal(hl_tcglog_require_data_ok(log), 0);
		for (j = 0; j < log->nevents; j++)
			checked += hl_tcglog_event_is_checked(log->events[j].type, log->events[j].pcr);
		assert_true(checked >= 8);   /* at least the separators of PCRs 0-7 */
		hl_tcglog_free(log);
		free(buf);
	}
}

/* The SHA-1-only log parses and replays but has no SHA-256 bank; HGS refuses it. */
static void test_sha1_only_log(void **state)
{
	struct hl_tcglog *log = NULL;
	struct hl_tcglog_pcrs *pcrs = NULL;
	uint8_t *buf;
	size_t len;

	(void)state;
	buf = load_fixture("event-uefi-sha1-log.bin", &len);
	assert_int_equal(hl_tcglog_parse(buf, len, &log), 0);
	assert_int_equal(log->format, HL_TCGLOG_FORMAT_SHA1);
	assert_int_equal(log->nalgs, 1);
	assert_true(hl_tcglog_has_bank(log, HL_TCGLOG_ALG_SHA1));
	assert_false(hl_tcglog_has_bank(log, HL_TCGLOG_ALG_SHA256));
	assert_int_equal(hl_tcglog_replay(log, &pcrs), 0);
	assert_non_null(hl_tcglog_pcrs_bank(pcrs, HL_TCGLOG_ALG_SHA1));
	assert_null(hl_tcglog_pcrs_bank(pcrs, HL_TCGLOG_ALG_SHA256));
	assert_int_equal(hl_tcglog_require_sha256(log), -1);
	assert_non_null(strstr(hl_error_last(), "the TCG log has no SHA-256 bank; HGS requires"));
	assert_non_null(strstr(hl_error_last(), "banks: sha1"));
	hl_tcglog_pcrs_free(pcrs);
	hl_tcglog_free(log);
	free(buf);

	buf = load_fixture("event-arch-linux.bin", &len);
	assert_int_equal(hl_tcglog_parse(buf, len, &log), 0);
	assert_int_equal(log->format, HL_TCGLOG_FORMAT_CRYPTO_AGILE);
	assert_int_equal(hl_tcglog_require_sha256(log), 0);
	hl_tcglog_free(log);
	free(buf);
}

/* Parse the first CUT bytes of a copy of BUF (exact allocation, so ASan sees over-reads). */
static int parse_prefix(const uint8_t *buf, size_t cut, struct hl_tcglog **out)
{
	uint8_t *copy = malloc(cut ? cut : 1);
	int rc;

	assert_non_null(copy);
	memcpy(copy, buf, cut);
	rc = hl_tcglog_parse(copy, cut, out);
	free(copy);
	return rc;
}

/* Cut every fixture at many offsets: only event boundaries parse, the rest is an error. */
static void test_truncated_fixtures(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < N_FIXTURES; i++) {
		struct hl_tcglog *full = NULL;
		size_t len, cut, e, tried = 0;
		uint8_t *buf = load_fixture(fixtures[i], &len);
		uint8_t *is_boundary = calloc(len + 1, 1);
		size_t *events_before = calloc(len + 1, sizeof(size_t));

		assert_non_null(is_boundary);
		assert_non_null(events_before);
		assert_int_equal(hl_tcglog_parse(buf, len, &full), 0);
		for (e = 1; e < full->nevents; e++) {
			is_boundary[full->events[e].offset] = 1;
			events_before[full->events[e].offset] = e;
		}
		for (cut = 0; cut < len; cut++) {
			struct hl_tcglog *log = (struct hl_tcglog *)1;
			int near = 0, rc;

			for (e = 0; e < full->nevents && !near; e++)
				near = cut + 3 >= full->events[e].offset &&
				       cut <= full->events[e].offset + 3;
			if (!(cut < 600 || near || cut % 53 == 0))
				continue;
			tried++;
			rc = parse_prefix(buf, cut, &log);
			if (is_boundary[cut]) {
				if (rc != 0)
					fail_msg("%s cut at event boundary %zu: %s", fixtures[i], cut,
						 hl_error_last());
				assert_int_equal(log->nevents, events_before[cut]);
				hl_tcglog_free(log);
				continue;
			}
			if (rc != -1)
				fail_msg("%s cut at %zu parsed", fixtures[i], cut);
			assert_null(log);
			if (cut > 0 && !strstr(hl_error_last(), " at offset "))
				fail_msg("%s cut at %zu: message lacks the offset: %s", fixtures[i], cut,
					 hl_error_last());
		}
		assert_true(tried > 600);
		hl_tcglog_free(full);
		free(events_before);
		free(is_boundary);
		free(buf);
	}
}

/* Random bytes, and random bytes after a valid Spec ID event, are errors, never crashes. */
static void test_random_bytes(void **state)
{
	struct hl_tcglog_writer *w = NULL;
	uint16_t algs[] = { HL_TCGLOG_ALG_SHA1, HL_TCGLOG_ALG_SHA256 };
	uint8_t *head = NULL, buf[4096];
	size_t head_len, i, j;

	(void)state;
	srand(20240611);
	assert_int_equal(hl_tcglog_writer_new(algs, 2, &w), 0);
	assert_int_equal(hl_tcglog_writer_serialize(w, &head, &head_len), 0);
	for (i = 0; i < 4000; i++) {
		struct hl_tcglog *log = (struct hl_tcglog *)1;
		size_t len = (size_t)rand() % sizeof(buf), start = 0;

		if (i % 2 && len > head_len) {
			memcpy(buf, head, head_len);   /* valid crypto-agile start */
			start = head_len;
		}
		for (j = start; j < len; j++)
			buf[j] = (uint8_t)rand();
		assert_int_equal(parse_prefix(buf, len, &log), -1);
		assert_null(log);
		assert_true(strlen(hl_error_last()) > 10);
	}
	free(head);
	hl_tcglog_writer_free(w);
}

/* Fixtures with random bytes changed never crash parse, replay, check or dump. */
static void test_mutated_fixtures(void **state)
{
	FILE *null = fopen("/dev/null", "w");
	size_t i, k;

	(void)state;
	assert_non_null(null);
	srand(7);
	for (i = 0; i < N_FIXTURES; i++) {
		size_t len;
		uint8_t *orig = load_fixture(fixtures[i], &len);

		for (k = 0; k < 150; k++) {
			uint8_t *buf = malloc(len);
			struct hl_tcglog *log = NULL;
			int flips = 1 + rand() % 6, f;

			assert_non_null(buf);
			memcpy(buf, orig, len);
			for (f = 0; f < flips; f++) {
				/* mostly headers: flip within the first bytes of an event often */
				size_t at = (size_t)rand() % len;

				buf[at] = (uint8_t)rand();
			}
			if (hl_tcglog_parse(buf, len, &log) == 0) {
				struct hl_tcglog_pcrs *pcrs = NULL;
				struct hl_tcglog_mismatch *list = NULL;
				size_t n;

				if (hl_tcglog_replay(log, &pcrs) == 0)
					hl_tcglog_pcrs_free(pcrs);
				assert_int_equal(hl_tcglog_check_data(log, &list, &n), 0);
				free(list);
				assert_int_equal(hl_tcglog_dump(log, null), 0);
				hl_tcglog_free(log);
			} else {
				assert_null(log);
			}
			free(buf);
		}
		free(orig);
	}
	fclose(null);
}

/* Append a UEFI_VARIABLE_DATA for NAME (ASCII, stored UTF-16) and VALUE to OUT. */
static size_t uefi_variable(uint8_t *out, const char *name, const void *value, size_t vlen)
{
	static const uint8_t efi_global[16] = { 0x61, 0xdf, 0xe4, 0x8b, 0xca, 0x93, 0xd2, 0x11,
						0xaa, 0x0d, 0x00, 0xe0, 0x98, 0x03, 0x2b, 0x8c };
	size_t nl = strlen(name), i, n = 0;

	memcpy(out, efi_global, 16);
	memset(out + 16, 0, 16);
	out[16] = (uint8_t)nl;
	out[24] = (uint8_t)vlen;
	n = 32;
	for (i = 0; i < nl; i++) {
		out[n++] = (uint8_t)name[i];
		out[n++] = 0;
	}
	memcpy(out + n, value, vlen);
	return n + vlen;
}

/* Fill W with a plausible measured boot; every event kind the writer supports. */
static void build_boot(struct hl_tcglog_writer *w)
{
	static const uint8_t crtm_version[] = { '1', 0, '.', 0, '0', 0, 0, 0 };
	static const uint8_t separator[4] = { 0, 0, 0, 0 };
	static const char firmware[] = "firmware volume contents";
	static const char kernel[] = "kernel image bytes";
	static const char efi_action[] = "Calling EFI Application from Boot Option";
	static const char grub_text[] = "linux /vmlinuz root=/dev/vda1";
	static const char grub_desc[] = "grub_cmd: linux /vmlinuz root=/dev/vda1";
	uint8_t blob[16] = { 0 }, var[128], image[32] = { 0 };
	uint8_t authenticode[HL_TCGLOG_MAX_ALGS][HL_TCGLOG_MAX_DIGEST], one = 1, cmdline[64];
	struct hl_tcglog_digest given[HL_TCGLOG_MAX_ALGS];
	size_t i, n, vlen;

	assert_int_equal(hl_tcglog_writer_add(w, 0, HL_EV_S_CRTM_VERSION, crtm_version,
					      sizeof(crtm_version)), 0);
	blob[1] = 0x10;   /* UEFI_PLATFORM_FIRMWARE_BLOB {base, length} */
	blob[10] = 0x01;
	assert_int_equal(hl_tcglog_writer_add_measured(w, 0, HL_EV_EFI_PLATFORM_FIRMWARE_BLOB,
						       firmware, sizeof(firmware), blob,
						       sizeof(blob)), 0);
	vlen = uefi_variable(var, "SecureBoot", &one, 1);
	assert_int_equal(hl_tcglog_writer_add(w, 7, HL_EV_EFI_VARIABLE_DRIVER_CONFIG, var, vlen), 0);
	for (i = 0; i <= 7; i++)
		assert_int_equal(hl_tcglog_writer_add(w, (uint32_t)i, HL_EV_SEPARATOR, separator,
						      sizeof(separator)), 0);
	assert_int_equal(hl_tcglog_writer_add(w, 4, HL_EV_EFI_ACTION, efi_action,
					      strlen(efi_action)), 0);
	/* a boot application: digest given (Authenticode hash), data is the load event */
	for (i = 0; i < HL_TCGLOG_MAX_ALGS; i++)
		memset(authenticode[i], 0xa0 + (int)i, sizeof(authenticode[i]));
	n = hl_tcglog_writer_event(w, 1)->ndigests;
	for (i = 0; i < n; i++) {
		given[i].alg = hl_tcglog_writer_event(w, 1)->digests[i].alg;
		given[i].size = hl_tcglog_writer_event(w, 1)->digests[i].size;
		given[i].value = authenticode[i];
	}
	image[0] = 0x42;
	assert_int_equal(hl_tcglog_writer_add_digests(w, 4, HL_EV_EFI_BOOT_SERVICES_APPLICATION,
						      given, n, image, sizeof(image)), 0);
	assert_int_equal(hl_tcglog_writer_add_measured(w, 8, HL_EV_IPL, grub_text, strlen(grub_text),
						       grub_desc, sizeof(grub_desc)), 0);
	assert_int_equal(hl_tcglog_writer_add_measured(w, 9, HL_EV_IPL, kernel, sizeof(kernel),
						       "/boot/vmlinuz", 14), 0);
	for (i = 0; i < 20; i++) {
		cmdline[2 * i] = (uint8_t)"console=ttyS0 quiet"[i];
		cmdline[2 * i + 1] = 0;
	}
	assert_int_equal(hl_tcglog_writer_add(w, 12, HL_EV_IPL, cmdline, 40), 0);
	assert_int_equal(hl_tcglog_writer_add(w, 23, HL_EV_EVENT_TAG, "app", 3), 0);
}

/* A written log parses back identically and tpm2_eventlog agrees on its replay. */
static void check_writer_roundtrip(const uint16_t *algs, size_t nalgs)
{
	struct hl_tcglog_writer *w = NULL;
	struct hl_tcglog *log = NULL;
	struct hl_tcglog_mismatch *list = NULL;
	uint8_t *buf = NULL;
	size_t len, i, j, n;
	char path[64];

	assert_int_equal(hl_tcglog_writer_new(algs, nalgs, &w), 0);
	build_boot(w);
	assert_int_equal(hl_tcglog_writer_serialize(w, &buf, &len), 0);
	assert_int_equal(hl_tcglog_parse(buf, len, &log), 0);
	assert_int_equal(log->format, HL_TCGLOG_FORMAT_CRYPTO_AGILE);
	assert_int_equal(log->nalgs, nalgs);
	assert_int_equal(log->nevents, hl_tcglog_writer_count(w));
	for (i = 0; i < log->nevents; i++) {
		const struct hl_tcglog_event *a = hl_tcglog_writer_event(w, i), *b = &log->events[i];

		assert_int_equal(a->index, b->index);
		assert_int_equal(a->offset, b->offset);
		assert_int_equal(a->pcr, b->pcr);
		assert_int_equal(a->type, b->type);
		assert_int_equal(a->ndigests, b->ndigests);
		for (j = 0; j < a->ndigests; j++) {
			assert_int_equal(a->digests[j].alg, b->digests[j].alg);
			assert_int_equal(a->digests[j].size, b->digests[j].size);
			assert_memory_equal(a->digests[j].value, b->digests[j].value, a->digests[j].size);
		}
		assert_int_equal(a->data_len, b->data_len);
		if (a->data_len)
			assert_memory_equal(a->data, b->data, a->data_len);
	}
	assert_null(hl_tcglog_writer_event(w, log->nevents));
	assert_int_equal(hl_tcglog_check_data(log, &list, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(hl_tcglog_require_sha256(log), 0);

	tu_write_temp(buf, len, "tcglog", path, sizeof(path));
	assert_replay_matches_tpm2(log, path);
	unlink(path);
	hl_tcglog_free(log);
	free(buf);
	hl_tcglog_writer_free(w);
}

/* Writer with sha1 + sha256 banks. */
static void test_writer_sha1_sha256(void **state)
{
	uint16_t algs[] = { HL_TCGLOG_ALG_SHA1, HL_TCGLOG_ALG_SHA256 };

	(void)state;
	check_writer_roundtrip(algs, 2);
}

/* Writer with the sha256 bank only (and one with sha384 + sha512 as well). */
static void test_writer_sha256_only(void **state)
{
	uint16_t only[] = { HL_TCGLOG_ALG_SHA256 };
	uint16_t wide[] = { HL_TCGLOG_ALG_SHA256, HL_TCGLOG_ALG_SHA384, HL_TCGLOG_ALG_SHA512 };

	(void)state;
	check_writer_roundtrip(only, 1);
	check_writer_roundtrip(wide, 3);
}

/* Writer misuse is refused with a message. */
static void test_writer_errors(void **state)
{
	struct hl_tcglog_writer *w = NULL;
	uint16_t dup[] = { HL_TCGLOG_ALG_SHA256, HL_TCGLOG_ALG_SHA256 };
	uint16_t bad[] = { 0x00ff };
	uint16_t ok[] = { HL_TCGLOG_ALG_SHA256 };
	uint8_t d20[20] = { 0 };
	struct hl_tcglog_digest wrong = { HL_TCGLOG_ALG_SHA1, 20, d20 };

	(void)state;
	assert_int_equal(hl_tcglog_writer_new(dup, 2, &w), -1);
	assert_null(w);
	assert_non_null(strstr(hl_error_last(), "twice"));
	assert_int_equal(hl_tcglog_writer_new(bad, 1, &w), -1);
	assert_int_equal(hl_tcglog_writer_new(ok, 0, &w), -1);
	assert_int_equal(hl_tcglog_writer_new(ok, 1, &w), 0);
	assert_int_equal(hl_tcglog_writer_add(w, 24, HL_EV_SEPARATOR, "\0\0\0\0", 4), -1);
	assert_non_null(strstr(hl_error_last(), "PCR 24"));
	assert_int_equal(hl_tcglog_writer_add_digests(w, 4, HL_EV_IPL, &wrong, 1, NULL, 0), -1);
	assert_int_equal(hl_tcglog_writer_add_startup_locality(w, 5), -1);
	assert_int_equal(hl_tcglog_writer_add(w, 0, HL_EV_SEPARATOR, "\0\0\0\0", 4), 0);
	assert_int_equal(hl_tcglog_writer_add_startup_locality(w, 3), -1);
	assert_non_null(strstr(hl_error_last(), "before any PCR 0 event"));
	assert_int_equal(hl_tcglog_writer_count(w), 2);
	hl_tcglog_writer_free(w);
	hl_tcglog_writer_free(NULL);
}

/* StartupLocality 3 starts PCR 0 at 0...03; misplaced ones are refused. */
static void test_startup_locality(void **state)
{
	uint16_t algs[] = { HL_TCGLOG_ALG_SHA1, HL_TCGLOG_ALG_SHA256 };
	static const char crtm[] = "crtm";
	struct hl_tcglog_writer *w = NULL;
	struct hl_tcglog *log = NULL;
	struct hl_tcglog_pcrs *pcrs = NULL;
	uint8_t *buf, start[32] = { 0 }, d[32], want[32], locdata[17];
	size_t len;

	(void)state;
	assert_int_equal(hl_tcglog_writer_new(algs, 2, &w), 0);
	assert_int_equal(hl_tcglog_writer_add_startup_locality(w, 3), 0);
	assert_int_equal(hl_tcglog_writer_add_startup_locality(w, 3), -1);
	assert_int_equal(hl_tcglog_writer_add(w, 0, HL_EV_S_CRTM_VERSION, crtm, 4), 0);
	assert_int_equal(hl_tcglog_writer_serialize(w, &buf, &len), 0);
	assert_int_equal(hl_tcglog_parse(buf, len, &log), 0);
	assert_int_equal(hl_tcglog_replay(log, &pcrs), 0);
	assert_int_equal(pcrs->startup_locality, 3);
	/* independent computation: PCR0 = H(0...03 || H("crtm")) */
	start[31] = 3;
	test_hash("SHA256", crtm, 4, NULL, 0, d);
	test_hash("SHA256", start, 32, d, 32, want);
	assert_memory_equal(hl_tcglog_pcrs_bank(pcrs, HL_TCGLOG_ALG_SHA256)->pcr[0], want, 32);
	start[19] = 3;
	start[31] = 0;
	test_hash("SHA1", crtm, 4, NULL, 0, d);
	test_hash("SHA1", start, 20, d, 20, want);
	assert_memory_equal(hl_tcglog_pcrs_bank(pcrs, HL_TCGLOG_ALG_SHA1)->pcr[0], want, 20);
	hl_tcglog_pcrs_free(pcrs);
	hl_tcglog_free(log);
	free(buf);
	hl_tcglog_writer_free(w);

	/* a StartupLocality after a PCR 0 measurement cannot be replayed */
	memcpy(locdata, "StartupLocality", 16);
	locdata[16] = 3;
	assert_int_equal(hl_tcglog_writer_new(algs, 2, &w), 0);
	assert_int_equal(hl_tcglog_writer_add(w, 0, HL_EV_S_CRTM_VERSION, crtm, 4), 0);
	assert_int_equal(hl_tcglog_writer_add(w, 0, HL_EV_NO_ACTION, locdata, 17), 0);
	assert_int_equal(hl_tcglog_writer_serialize(w, &buf, &len), 0);
	assert_int_equal(hl_tcglog_parse(buf, len, &log), 0);
	assert_int_equal(hl_tcglog_replay(log, &pcrs), -1);
	assert_null(pcrs);
	assert_non_null(strstr(hl_error_last(), "event 2 at offset"));
	assert_non_null(strstr(hl_error_last(), "StartupLocality"));
	hl_tcglog_free(log);
	free(buf);
	hl_tcglog_writer_free(w);
}

/* An H-CRTM event starts PCR 0 at 0...04 before its extend. */
static void test_hcrtm(void **state)
{
	uint16_t algs[] = { HL_TCGLOG_ALG_SHA256 };
	struct hl_tcglog_writer *w = NULL;
	struct hl_tcglog *log = NULL;
	struct hl_tcglog_pcrs *pcrs = NULL;
	uint8_t *buf, start[32] = { 0 }, d[32], want[32];
	size_t len;

	(void)state;
	assert_int_equal(hl_tcglog_writer_new(algs, 1, &w), 0);
	assert_int_equal(hl_tcglog_writer_add_measured(w, 0, HL_EV_EFI_HCRTM_EVENT, "rom", 3,
						       "HCRTM", 5), 0);
	assert_int_equal(hl_tcglog_writer_serialize(w, &buf, &len), 0);
	assert_int_equal(hl_tcglog_parse(buf, len, &log), 0);
	assert_int_equal(hl_tcglog_replay(log, &pcrs), 0);
	assert_int_equal(pcrs->hcrtm, 1);
	start[31] = 4;
	test_hash("SHA256", "rom", 3, NULL, 0, d);
	test_hash("SHA256", start, 32, d, 32, want);
	assert_memory_equal(hl_tcglog_pcrs_bank(pcrs, HL_TCGLOG_ALG_SHA256)->pcr[0], want, 32);
	hl_tcglog_pcrs_free(pcrs);
	hl_tcglog_free(log);
	free(buf);
	hl_tcglog_writer_free(w);
}

/* Find the first event of TYPE in PCR. */
static const struct hl_tcglog_event *find_event(const struct hl_tcglog *log, uint32_t type,
						uint32_t pcr)
{
	size_t i;

	for (i = 0; i < log->nevents; i++)
		if (log->events[i].type == type && log->events[i].pcr == pcr)
			return &log->events[i];
	fail_msg("no %s in PCR %u", hl_tcglog_event_type_name(type), (unsigned)pcr);
	return NULL;
}

/* Parse a copy of BUF with the 32-bit value at AT replaced; VALUE little-endian. */
static struct hl_tcglog *parse_patched32(const uint8_t *buf, size_t len, size_t at, uint32_t value)
{
	uint8_t *copy = malloc(len);
	struct hl_tcglog *log = NULL;

	assert_non_null(copy);
	memcpy(copy, buf, len);
	copy[at] = (uint8_t)value;
	copy[at + 1] = (uint8_t)(value >> 8);
	copy[at + 2] = (uint8_t)(value >> 16);
	copy[at + 3] = (uint8_t)(value >> 24);
	if (hl_tcglog_parse(copy, len, &log) < 0)
		fail_msg("patched log does not parse: %s", hl_error_last());
	free(copy);
	return log;
}

/*
 * Relabelling an event (type changed, digest kept) replays identically, which
 * is why decisions rest on digests; a changed data byte of a must-hash event
 * replays identically too, and the data check reports it.
 */
static void test_relabel_and_tamper(void **state)
{
	struct hl_tcglog *orig = NULL, *log;
	struct hl_tcglog_mismatch *list = NULL;
	const struct hl_tcglog_event *sep, *cfg, *boot;
	struct hl_tcglog_pcrs *pa, *pb;
	uint8_t *buf, *copy;
	size_t len, n, at, k;
	int seen = 0;

	(void)state;
	buf = load_fixture("event-gce-ubuntu-2104-log.bin", &len);
	assert_int_equal(hl_tcglog_parse(buf, len, &orig), 0);
	sep = find_event(orig, HL_EV_SEPARATOR, 7);

	/* EV_SEPARATOR relabelled EV_POST_CODE: same PCRs, and the data check no longer applies */
	log = parse_patched32(buf, len, sep->offset + 4, HL_EV_POST_CODE);
	assert_int_equal(log->events[sep->index].type, HL_EV_POST_CODE);
	assert_true(replays_equal(orig, log));
	assert_int_equal(hl_tcglog_check_data(log, &list, &n), 0);
	assert_int_equal(n, 0);
	hl_tcglog_free(log);

	/* relabelled EV_NO_ACTION: no longer extended, so PCR 7 (only) changes */
	log = parse_patched32(buf, len, sep->offset + 4, HL_EV_NO_ACTION);
	assert_int_equal(hl_tcglog_replay(orig, &pa), 0);
	assert_int_equal(hl_tcglog_replay(log, &pb), 0);
	assert_memory_not_equal(pa->banks[1].pcr[7], pb->banks[1].pcr[7], 32);
	assert_memory_equal(pa->banks[1].pcr[4], pb->banks[1].pcr[4], 32);
	hl_tcglog_pcrs_free(pa);
	hl_tcglog_pcrs_free(pb);
	hl_tcglog_free(log);

	/* one data byte of the separator, the SecureBoot config and a BootOrder value changed */
	cfg = find_event(orig, HL_EV_EFI_VARIABLE_DRIVER_CONFIG, 7);
	boot = find_event(orig, HL_EV_EFI_VARIABLE_BOOT, 1);
	copy = malloc(len);
	assert_non_null(copy);
	memcpy(copy, buf, len);
	at = (size_t)(sep->data - orig->raw);
	copy[at] ^= 0x01;
	at = (size_t)(cfg->data - orig->raw) + cfg->data_len - 1;
	copy[at] ^= 0x01;
	at = (size_t)(boot->data - orig->raw) + boot->data_len - 1;
	copy[at] ^= 0x01;
	assert_int_equal(hl_tcglog_parse(copy, len, &log), 0);
	assert_true(replays_equal(orig, log));
	assert_int_equal(hl_tcglog_check_data(log, &list, &n), 0);
	assert_int_equal(n, 3);
	for (k = 0; k < n; k++) {
		const struct hl_tcglog_event *ev = list[k].index == sep->index ? sep :
						   list[k].index == cfg->index ? cfg : boot;

		assert_int_equal(list[k].index, ev->index);
		assert_int_equal(list[k].type, ev->type);
		assert_int_equal(list[k].pcr, ev->pcr);
		assert_int_equal(list[k].offset, ev->offset);
		seen |= ev == sep ? 1 : ev == cfg ? 2 : 4;
	}
	assert_int_equal(seen, 7);
	free(list);
	assert_int_equal(hl_tcglog_require_data_ok(log), -1);
	assert_non_null(strstr(hl_error_last(), "3 such events"));
	hl_tcglog_free(log);
	free(copy);
	hl_tcglog_free(orig);
	free(buf);
}

/* Serialize a small sha1+sha256 log for the crafted-error tests. */
static uint8_t *small_log(size_t *len)
{
	uint16_t algs[] = { HL_TCGLOG_ALG_SHA1, HL_TCGLOG_ALG_SHA256 };
	struct hl_tcglog_writer *w = NULL;
	uint8_t *buf = NULL;

	assert_int_equal(hl_tcglog_writer_new(algs, 2, &w), 0);
	assert_int_equal(hl_tcglog_writer_add(w, 0, HL_EV_SEPARATOR, "\0\0\0\0", 4), 0);
	assert_int_equal(hl_tcglog_writer_add(w, 1, HL_EV_SEPARATOR, "\0\0\0\0", 4), 0);
	assert_int_equal(hl_tcglog_writer_serialize(w, &buf, len), 0);
	hl_tcglog_writer_free(w);
	return buf;
}

/* Parse BUF with bytes [AT, AT+N) replaced by BYTES; expect failure mentioning WANT. */
static void expect_patch_error(const uint8_t *buf, size_t len, size_t at, const void *bytes,
			       size_t n, const char *want)
{
	uint8_t *copy = malloc(len);
	struct hl_tcglog *log = (struct hl_tcglog *)1;

	assert_non_null(copy);
	memcpy(copy, buf, len);
	memcpy(copy + at, bytes, n);
	if (hl_tcglog_parse(copy, len, &log) != -1)
		fail_msg("patch at %zu parsed; expected '%s'", at, want);
	assert_null(log);
	if (!strstr(hl_error_last(), want))
		fail_msg("expected '%s' in: %s", want, hl_error_last());
	free(copy);
}

/*
 * Crafted malformed logs get errors naming the event and offset.  Layout of
 * small_log(): Spec ID event at 0 (data at 32: count at 56, algs at 60..67,
 * vendor size at 68), event 1 at 69 (pcr, type, count at 77, sha1 alg at 81,
 * sha256 alg at 103, size at 137, data at 141), event 2 at 145 (76 bytes).
 */
static void test_parse_errors(void **state)
{
	static const uint8_t zero4[4] = { 0 }, all_ff[4] = { 0xff, 0xff, 0xff, 0xff };
	static const uint8_t one[4] = { 1 }, pcr24[4] = { 24 }, nine[4] = { 9 };
	static const uint8_t sha256_20[4] = { 0x0b, 0, 20, 0 }, sha1_sha1[4] = { 4, 0, 20, 0 };
	static const uint8_t unknown_0[4] = { 0xff, 0, 0, 0 }, vendor_big[1] = { 200 };
	static const uint8_t alg_ff[2] = { 0xff, 0x00 }, alg_sha1[2] = { 4, 0 };
	struct hl_tcglog *log = NULL;
	uint8_t *buf, *copy;
	size_t len;

	(void)state;
	buf = small_log(&len);
	assert_int_equal(len, 145 + 76);
	assert_int_equal(hl_tcglog_parse(buf, len, &log), 0);
	assert_int_equal(log->events[1].offset, 69);
	assert_int_equal(log->events[2].offset, 145);
	hl_tcglog_free(log);

	assert_int_equal(hl_tcglog_parse(buf, 0, &log), -1);
	assert_non_null(strstr(hl_error_last(), "empty"));
	expect_patch_error(buf, len, 56, zero4, 4, "event 0 at offset 0: the Spec ID event declares 0 algorithms");
	expect_patch_error(buf, len, 56, all_ff, 4, "declares 4294967295 algorithms");
	expect_patch_error(buf, len, 56, nine, 4, "declares 9 algorithms");
	expect_patch_error(buf, len, 60, sha256_20, 4, "sha256 with digest size 20");
	expect_patch_error(buf, len, 64, sha1_sha1, 4, "declares sha1 twice");
	expect_patch_error(buf, len, 64, unknown_0, 4, "alg 0x00ff with digest size 0");
	expect_patch_error(buf, len, 68, vendor_big, 1, "vendor info (200 bytes)");
	expect_patch_error(buf, len, 8, one, 1, "digest is not all zero");
	expect_patch_error(buf, len, 77, one, 4, "event 1 at offset 69: the event carries 1 digests");
	expect_patch_error(buf, len, 77, all_ff, 4, "carries 4294967295 digests");
	expect_patch_error(buf, len, 145, pcr24, 4, "event 2 at offset 145: PCR index 24");
	expect_patch_error(buf, len, 81, alg_ff, 2, "uses alg 0x00ff, which the Spec ID event");
	expect_patch_error(buf, len, 103, alg_sha1, 2, "carries two sha1 digests");
	expect_patch_error(buf, len, 137, all_ff, 4, "event 1 at offset 69: event data size 4294967295 runs past");
	expect_patch_error(buf, len, 28, all_ff, 4, "event 0 at offset 0: event data size 4294967295");

	/* an algorithm hgslab cannot compute: parsed with its declared size, not replayed */
	copy = malloc(len);
	assert_non_null(copy);
	memcpy(copy, buf, len);
	copy[60] = 0x99;   /* sha1 -> alg 0x0099, still 20 bytes */
	copy[81] = 0x99;
	copy[145 + 12] = 0x99;
	assert_int_equal(hl_tcglog_parse(copy, len, &log), 0);
	{
		struct hl_tcglog_pcrs *pcrs = NULL;
		uint16_t bad;

		assert_int_equal(log->algs[0].id, 0x0099);
		assert_int_equal(hl_tcglog_replay(log, &pcrs), 0);
		assert_int_equal(pcrs->nbanks, 1);
		assert_non_null(hl_tcglog_pcrs_bank(pcrs, HL_TCGLOG_ALG_SHA256));
		assert_int_equal(hl_tcglog_event_check(&log->events[1], &bad), 0);
		hl_tcglog_pcrs_free(pcrs);
	}
	hl_tcglog_free(log);
	free(copy);
	free(buf);
}

/* Names of event types and algorithms, both ways. */
static void test_names(void **state)
{
	uint16_t alg = 0;

	(void)state;
	assert_string_equal(hl_tcglog_event_type_name(HL_EV_SEPARATOR), "EV_SEPARATOR");
	assert_string_equal(hl_tcglog_event_type_name(HL_EV_POST_CODE), "EV_POST_CODE");
	assert_string_equal(hl_tcglog_event_type_name(HL_EV_EFI_VARIABLE_DRIVER_CONFIG),
			    "EV_EFI_VARIABLE_DRIVER_CONFIG");
	assert_string_equal(hl_tcglog_event_type_name(HL_EV_EFI_VARIABLE_AUTHORITY),
			    "EV_EFI_VARIABLE_AUTHORITY");
	assert_null(hl_tcglog_event_type_name(0x12345678));
	assert_string_equal(hl_tcglog_alg_name(HL_TCGLOG_ALG_SHA256), "sha256");
	assert_null(hl_tcglog_alg_name(0x00ff));
	assert_int_equal(hl_tcglog_alg_from_name("sha384", &alg), 0);
	assert_int_equal(alg, HL_TCGLOG_ALG_SHA384);
	assert_int_equal(hl_tcglog_alg_from_name("md5", &alg), -1);
	assert_non_null(strstr(hl_error_last(), "'md5'"));
	assert_int_equal(hl_tcglog_alg_size(HL_TCGLOG_ALG_SHA512), 64);
	assert_int_equal(hl_tcglog_alg_size(0x00ff), 0);
	assert_true(hl_tcglog_event_is_checked(HL_EV_SEPARATOR, 4));
	assert_true(hl_tcglog_event_is_checked(HL_EV_IPL, 8));
	assert_false(hl_tcglog_event_is_checked(HL_EV_IPL, 9));
	assert_false(hl_tcglog_event_is_checked(HL_EV_POST_CODE, 0));
	hl_tcglog_free(NULL);
	hl_tcglog_pcrs_free(NULL);
}

/* The text dump lists events with names and marks the mismatching one. */
static void test_dump(void **state)
{
	struct hl_tcglog *log = NULL;
	char *text = NULL;
	size_t len, tlen = 0;
	uint8_t *buf;
	FILE *f;

	(void)state;
	buf = load_fixture("event-arch-linux.bin", &len);
	assert_int_equal(hl_tcglog_parse(buf, len, &log), 0);
	f = open_memstream(&text, &tlen);
	assert_non_null(f);
	assert_int_equal(hl_tcglog_dump(log, f), 0);
	fclose(f);
	assert_non_null(strstr(text, "crypto-agile"));
	assert_non_null(strstr(text, "banks sha1 sha256"));
	assert_non_null(strstr(text, "EV_EFI_VARIABLE_DRIVER_CONFIG"));
	assert_non_null(strstr(text, "  24  offset 15142  pcr 8  EV_IPL"));
	assert_non_null(strstr(text, "DATA DOES NOT MATCH DIGEST (sha1)"));
	assert_non_null(strstr(text, "7fd3abec2afe8e68028be79cfc143a56c9918e69"));
	free(text);
	hl_tcglog_free(log);
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fixtures_match_tpm2_eventlog),
		cmocka_unit_test(test_arch_linux_mismatch),
		cmocka_unit_test(test_fixtures_no_false_positives),
		cmocka_unit_test(test_sha1_only_log),
		cmocka_unit_test(test_truncated_fixtures),
		cmocka_unit_test(test_random_bytes),
		cmocka_unit_test(test_mutated_fixtures),
		cmocka_unit_test(test_writer_sha1_sha256),
		cmocka_unit_test(test_writer_sha256_only),
		cmocka_unit_test(test_writer_errors),
		cmocka_unit_test(test_startup_locality),
		cmocka_unit_test(test_hcrtm),
		cmocka_unit_test(test_relabel_and_tamper),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_dump),
	};
	return cmocka_run_group_tests_name("tcglog", tests, NULL, NULL);
}
