/*
 * tcglog.h - TCG PC Client event logs: parse, replay, check, write.
 *
 * A guarded host's measured boot is described by its TCG event log; HGS trusts
 * that log only through its replay to the PCR values the host's TPM quoted.
 * This module reads both log formats of the TCG PC Client Platform Firmware
 * Profile (PFP):
 *   - the SHA-1 legacy format: a sequence of TCG_PCClientPCREvent
 *     {pcr, type, sha1[20], size, data};
 *   - the crypto-agile format: a first legacy-shaped EV_NO_ACTION event whose
 *     data is the "Spec ID Event03" TCG_EfiSpecIDEvent (algorithm ids and
 *     digest sizes), then TCG_PCR_EVENT2 {pcr, type, count, {alg, digest}*,
 *     size, data}.  All integers are little-endian.
 * Events are numbered from 0 in file order, the Spec ID event included, which
 * is the numbering tpm2_eventlog prints.
 *
 * Contract (see lib/err.h): functions return 0 (or a documented non-negative
 * value) on success and -1 after hl_error(); an out pointer is set to NULL on
 * entry and assigned only on success; *_free() accepts NULL.  The parser never
 * reads outside the buffer it is given; every malformed log gets an error that
 * names the event index and its byte offset.
 *
 * Trust: the event type and data are not covered by the digests a PCR is
 * extended with.  Replay uses digests only, so decisions must rest on digests.
 * hl_tcglog_check_data() verifies the events whose data must hash to their
 * digest (see hl_tcglog_event_is_checked() for the list and its reasons).
 */
#ifndef HGSLAB_PROTO_TCGLOG_H
#define HGSLAB_PROTO_TCGLOG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define HL_TCGLOG_PCRS       24           /* PC Client PCRs 0-23 */
#define HL_TCGLOG_MAX_ALGS   8            /* banks a Spec ID event may declare */
#define HL_TCGLOG_MAX_DIGEST 64           /* largest digest accepted, bytes */
#define HL_TCGLOG_MAX_SIZE   (64u << 20)  /* largest log accepted, bytes */

/* TPM_ALG_ID values of the hash algorithms. */
#define HL_TCGLOG_ALG_SHA1     0x0004
#define HL_TCGLOG_ALG_SHA256   0x000b
#define HL_TCGLOG_ALG_SHA384   0x000c
#define HL_TCGLOG_ALG_SHA512   0x000d
#define HL_TCGLOG_ALG_SM3_256  0x0012
#define HL_TCGLOG_ALG_SHA3_256 0x0027
#define HL_TCGLOG_ALG_SHA3_384 0x0028
#define HL_TCGLOG_ALG_SHA3_512 0x0029

/* Event types, PFP "Events" table. */
#define HL_EV_PREBOOT_CERT                  0x00000000u
#define HL_EV_POST_CODE                     0x00000001u
#define HL_EV_UNUSED                        0x00000002u
#define HL_EV_NO_ACTION                     0x00000003u
#define HL_EV_SEPARATOR                     0x00000004u
#define HL_EV_ACTION                        0x00000005u
#define HL_EV_EVENT_TAG                     0x00000006u
#define HL_EV_S_CRTM_CONTENTS               0x00000007u
#define HL_EV_S_CRTM_VERSION                0x00000008u
#define HL_EV_CPU_MICROCODE                 0x00000009u
#define HL_EV_PLATFORM_CONFIG_FLAGS         0x0000000au
#define HL_EV_TABLE_OF_DEVICES              0x0000000bu
#define HL_EV_COMPACT_HASH                  0x0000000cu
#define HL_EV_IPL                           0x0000000du
#define HL_EV_IPL_PARTITION_DATA            0x0000000eu
#define HL_EV_NONHOST_CODE                  0x0000000fu
#define HL_EV_NONHOST_CONFIG                0x00000010u
#define HL_EV_NONHOST_INFO                  0x00000011u
#define HL_EV_OMIT_BOOT_DEVICE_EVENTS       0x00000012u
#define HL_EV_EFI_VARIABLE_DRIVER_CONFIG    0x80000001u
#define HL_EV_EFI_VARIABLE_BOOT             0x80000002u
#define HL_EV_EFI_BOOT_SERVICES_APPLICATION 0x80000003u
#define HL_EV_EFI_BOOT_SERVICES_DRIVER      0x80000004u
#define HL_EV_EFI_RUNTIME_SERVICES_DRIVER   0x80000005u
#define HL_EV_EFI_GPT_EVENT                 0x80000006u
#define HL_EV_EFI_ACTION                    0x80000007u
#define HL_EV_EFI_PLATFORM_FIRMWARE_BLOB    0x80000008u
#define HL_EV_EFI_HANDOFF_TABLES            0x80000009u
#define HL_EV_EFI_PLATFORM_FIRMWARE_BLOB2   0x8000000au
#define HL_EV_EFI_HANDOFF_TABLES2           0x8000000bu
#define HL_EV_EFI_VARIABLE_BOOT2            0x8000000cu
#define HL_EV_EFI_GPT_EVENT2                0x8000000du
#define HL_EV_EFI_HCRTM_EVENT               0x80000010u
#define HL_EV_EFI_VARIABLE_AUTHORITY        0x800000e0u
#define HL_EV_EFI_SPDM_FIRMWARE_BLOB        0x800000e1u
#define HL_EV_EFI_SPDM_FIRMWARE_CONFIG      0x800000e2u

enum hl_tcglog_format {
	HL_TCGLOG_FORMAT_SHA1 = 1,          /* legacy TCG_PCClientPCREvent log */
	HL_TCGLOG_FORMAT_CRYPTO_AGILE = 2,  /* Spec ID Event03 + TCG_PCR_EVENT2 */
};

/* An algorithm a log declares: its TPM_ALG_ID and digest size in bytes. */
struct hl_tcglog_alg {
	uint16_t id;
	uint16_t size;
};

/* One digest of an event; value points into storage owned by the log/writer. */
struct hl_tcglog_digest {
	uint16_t alg;
	uint16_t size;
	const uint8_t *value;
};

/*
 * One event.  Invariants: pcr < HL_TCGLOG_PCRS; in a crypto-agile log every
 * event after the Spec ID event carries exactly one digest per declared
 * algorithm; data/data_len and the digest values stay valid as long as the
 * log (or writer) that owns them.
 */
struct hl_tcglog_event {
	size_t index;       /* 0-based position in the log, Spec ID event = 0 */
	size_t offset;      /* byte offset of the event's first byte */
	uint32_t pcr;
	uint32_t type;      /* HL_EV_*; not covered by the digests */
	size_t ndigests;
	struct hl_tcglog_digest digests[HL_TCGLOG_MAX_ALGS];
	const uint8_t *data;
	uint32_t data_len;
};

/* A parsed log; owns its bytes and events. */
struct hl_tcglog {
	enum hl_tcglog_format format;
	size_t nalgs;                       /* SHA-1 format: one, sha1 */
	struct hl_tcglog_alg algs[HL_TCGLOG_MAX_ALGS];
	size_t nevents;
	struct hl_tcglog_event *events;
	uint8_t *raw;                       /* private copy of the log's bytes */
	size_t raw_len;
};

/* PCR values of one bank after replay. */
struct hl_tcglog_bank {
	uint16_t alg;
	uint16_t size;
	uint32_t extended;   /* bit n set: some event extended PCR n */
	uint8_t pcr[HL_TCGLOG_PCRS][HL_TCGLOG_MAX_DIGEST];
};

/* Result of a replay: one bank per declared algorithm hgslab can compute. */
struct hl_tcglog_pcrs {
	size_t nbanks;
	struct hl_tcglog_bank banks[HL_TCGLOG_MAX_ALGS];
	int startup_locality;   /* from the StartupLocality event, or -1 */
	int hcrtm;              /* 1 when PCR 0 started as an H-CRTM (0...04) */
};

/* An event whose data does not hash to its digest. */
struct hl_tcglog_mismatch {
	size_t index;
	size_t offset;
	uint32_t pcr;
	uint32_t type;
	uint16_t alg;       /* first algorithm whose digest differs; 0: none computable */
};

/* --- names ------------------------------------------------------------ */

/* "EV_SEPARATOR" etc.; NULL for a type the PFP does not define. */
const char *hl_tcglog_event_type_name(uint32_t type);

/* "sha1", "sha256", ... as tpm2-tools spells them; NULL when unknown. */
const char *hl_tcglog_alg_name(uint16_t alg);

/* Parse an algorithm name ("sha256"); -1 with an error when unknown. */
int hl_tcglog_alg_from_name(const char *name, uint16_t *alg);

/* Digest size of a known algorithm, 0 when unknown. */
size_t hl_tcglog_alg_size(uint16_t alg);

/* --- parse ------------------------------------------------------------ */

/* Parse LEN bytes of BUF (copied) into a new log. */
int hl_tcglog_parse(const uint8_t *buf, size_t len, struct hl_tcglog **out);

/* Free a log (NULL-safe). */
void hl_tcglog_free(struct hl_tcglog *log);

/* The event's digest for ALG, or NULL when it has none. */
const struct hl_tcglog_digest *hl_tcglog_event_digest(const struct hl_tcglog_event *ev,
						      uint16_t alg);

/* 1 when the log declares ALG (a PCR bank), 0 otherwise. */
int hl_tcglog_has_bank(const struct hl_tcglog *log, uint16_t alg);

/*
 * 0 when the log has a SHA-256 bank; otherwise -1 with the reason HGS gives
 * ("the TCG log has no SHA-256 bank; HGS requires ...").
 */
int hl_tcglog_require_sha256(const struct hl_tcglog *log);

/* --- replay ----------------------------------------------------------- */

/*
 * Replay the log: every bank starts at zero and is extended with each event's
 * digest for that bank, EV_NO_ACTION events excepted.  PCR 0 starts at
 * 0...0L after an EV_NO_ACTION "StartupLocality" event with locality L, as
 * a TPM started at locality L does and current tpm2-tools replays it
 * (tpm2-tools 5.4 instead extends the event's zero digest into PCR 0,
 * unlike a TPM), or at 0...04 before an
 * EV_EFI_HCRTM_EVENT; a StartupLocality after an H-CRTM event is ignored.
 * Either one after PCR 0 was extended is an error, as is a second
 * StartupLocality or a locality above 4.
 * Banks whose algorithm OpenSSL cannot compute are left out.
 */
int hl_tcglog_replay(const struct hl_tcglog *log, struct hl_tcglog_pcrs **out);

/* Free a replay result (NULL-safe). */
void hl_tcglog_pcrs_free(struct hl_tcglog_pcrs *pcrs);

/* The replayed bank for ALG, or NULL when the replay has none. */
const struct hl_tcglog_bank *hl_tcglog_pcrs_bank(const struct hl_tcglog_pcrs *pcrs,
						 uint16_t alg);

/* --- event data checks ------------------------------------------------ */

/*
 * 1 when an event of TYPE in PCR must carry data that hashes to its digests:
 *   EV_SEPARATOR, EV_ACTION, EV_EFI_ACTION, EV_S_CRTM_VERSION,
 *   EV_OMIT_BOOT_DEVICE_EVENTS, EV_EFI_GPT_EVENT, EV_EFI_VARIABLE_DRIVER_CONFIG
 *     digest = H(data) (PFP; tpm2-tools checks EV_S_CRTM_VERSION,
 *     EV_SEPARATOR, EV_EFI_VARIABLE_DRIVER_CONFIG and EV_EFI_GPT_EVENT);
 *   EV_EFI_VARIABLE_BOOT, EV_EFI_VARIABLE_BOOT2
 *     digest = H(data) per PFP, or H(VariableData) as EDK2 firmware measures
 *     Boot#### and BootOrder; either is accepted (in the EDK2 form the
 *     variable's GUID and name are not covered, only its value);
 *   EV_IPL in PCR 8 or 12 (boot loader strings: grub, systemd-boot)
 *     digest = H(data), H(data without its trailing NUL), or the same for
 *     the part after a "word: " prefix (grub's "grub_cmd: ...").
 * Every other type is not checked, notably these, whose digest is of
 * something other than the data: EV_POST_CODE, EV_S_CRTM_CONTENTS, EV_EFI_*_BLOB*, EV_EFI_BOOT_SERVICES_*,
 * EV_EFI_RUNTIME_SERVICES_DRIVER, EV_EFI_HANDOFF_TABLES*, EV_EVENT_TAG,
 * EV_EFI_HCRTM_EVENT, EV_IPL outside PCR 8/12 (kernel, initrd, MokList), and
 * EV_EFI_VARIABLE_AUTHORITY (shim logs an EventSize other than the length it
 * hashed, e.g. event-postcode.bin events 40 and 54).
 */
int hl_tcglog_event_is_checked(uint32_t type, uint32_t pcr);

/*
 * Check one event: 0 when its data matches its digests or its type is not
 * checked, 1 when it does not match (*bad_alg, if not NULL, gets the first
 * differing algorithm, 0 when no digest uses a computable algorithm), -1 on
 * an internal error.
 */
int hl_tcglog_event_check(const struct hl_tcglog_event *ev, uint16_t *bad_alg);

/* Check every event; *out gets the mismatches (NULL when none), *count their number. */
int hl_tcglog_check_data(const struct hl_tcglog *log, struct hl_tcglog_mismatch **out,
			 size_t *count);

/* 0 when no checked event mismatches; otherwise -1 naming the first one. */
int hl_tcglog_require_data_ok(const struct hl_tcglog *log);

/* Write a readable listing of the log (events, digests, mismatches) to F. */
int hl_tcglog_dump(const struct hl_tcglog *log, FILE *f);

/* --- writer ----------------------------------------------------------- */

/*
 * A crypto-agile log built in memory.  Event 0 is the Spec ID event.  The
 * host side replays the same events into its TPM: for each event that is not
 * EV_NO_ACTION, TPM2_PCR_Extend(pcr, digests) with hl_tcglog_writer_event()'s
 * digests, in index order.
 */
struct hl_tcglog_writer;

/* New writer whose banks are ALGS (each computable, no duplicates), e.g. {sha1, sha256}. */
int hl_tcglog_writer_new(const uint16_t *algs, size_t nalgs, struct hl_tcglog_writer **out);

/* Free a writer (NULL-safe). */
void hl_tcglog_writer_free(struct hl_tcglog_writer *w);

/* Append an event whose digests are H(data); EV_NO_ACTION gets zero digests. */
int hl_tcglog_writer_add(struct hl_tcglog_writer *w, uint32_t pcr, uint32_t type,
			 const void *data, size_t len);

/* Append an event whose digests are H(object) and whose data is a description. */
int hl_tcglog_writer_add_measured(struct hl_tcglog_writer *w, uint32_t pcr, uint32_t type,
				  const void *object, size_t object_len,
				  const void *desc, size_t desc_len);

/* Append an event with given digests, exactly one per bank of the writer. */
int hl_tcglog_writer_add_digests(struct hl_tcglog_writer *w, uint32_t pcr, uint32_t type,
				 const struct hl_tcglog_digest *digests, size_t ndigests,
				 const void *data, size_t len);

/* Append the EV_NO_ACTION StartupLocality event (before any PCR 0 event). */
int hl_tcglog_writer_add_startup_locality(struct hl_tcglog_writer *w, uint8_t locality);

/* Number of events, the Spec ID event included. */
size_t hl_tcglog_writer_count(const struct hl_tcglog_writer *w);

/* Event INDEX (stable until the writer is freed), or NULL when out of range. */
const struct hl_tcglog_event *hl_tcglog_writer_event(const struct hl_tcglog_writer *w,
						     size_t index);

/* Serialize the log; *out (malloc'd, caller frees) and *len on success. */
int hl_tcglog_writer_serialize(const struct hl_tcglog_writer *w, uint8_t **out, size_t *len);

#endif
