/*
 * wbcl.h - hgslab's boot-configuration event vocabulary, modelled on the
 * Windows Boot Configuration Log (WBCL) and its SIPA tagged events.
 *
 * A guarded host's security properties (debugging, IOMMU, VSM, code
 * integrity policy, dumps...) are measured by its OS loader as EV_EVENT_TAG
 * events in PCRs 12-14.  Their data is a TCG_PCClientTaggedEvent
 *   taggedEventID       UINT32 LE   one of HL_WBCL_TAG_* below
 *   taggedEventDataSize UINT32 LE   size of the value that follows
 *   taggedEventData     BYTE[size]  the value, encoded by the tag's kind
 * and the event's digests are the hash of that whole data, so the value is
 * exactly what was extended into the PCR.  The tag ids are hgslab's own (the
 * "HL" range 0x484c00xx); their names mirror Windows' SIPAEVENT_* names but
 * neither their numbers nor their encodings claim to be Windows'.
 *
 *   tag id      name                     PCR  kind     value
 *   0x484c0001  BOOTDEBUGGING            12   bool     1 = boot debugging enabled
 *   0x484c0002  OSKERNELDEBUG            12   bool     1 = kernel debugger enabled
 *   0x484c0003  BOOT_TYPE                12   u32      1 = full boot, 2 = resumed from hibernation
 *   0x484c0004  HYPERVISOR_LAUNCH_TYPE   12   u32      0 = off, 1 = auto (launched)
 *   0x484c0005  HYPERVISOR_IOMMU_POLICY  12   u32      0 = off, 1 = IOMMU required (DMA protection)
 *   0x484c0006  VSM_LAUNCH_TYPE          12   u32      0 = off, 1 = virtual secure mode launched
 *   0x484c0007  HVCI_POLICY              12   u32      0 = off, 1 = hypervisor-enforced code integrity
 *   0x484c0008  PAGEFILE_ENCRYPTION      12   bool     1 = pagefile encrypted
 *   0x484c0009  HIBERNATION_DISABLED     12   bool     1 = hibernation disabled
 *   0x484c000a  DUMPS_DISABLED           12   bool     1 = crash dumps disabled
 *   0x484c000b  DUMP_ENCRYPTION          12   bool     1 = crash dumps encrypted
 *   0x484c000c  DUMP_ENCRYPTION_KEY      12   sha256   SHA-256 of the dump encryption public key
 *   0x484c000d  BITLOCKER                12   bool     1 = OS volume BitLocker-protected
 *   0x484c0010  SI_POLICY                13   policy   the code integrity (CI) policy in force
 *   0x484c0020  VSM_IDK_INFO             14   idk      the VSM identity key (IDK)
 *
 * Encodings (all integers little-endian):
 *   bool    1 byte, 0 or 1
 *   u32     4 bytes
 *   sha256  32 bytes
 *   policy  UINT16 hashAlg (TPM_ALG_SHA256), UINT16 digestSize (32),
 *           UINT16 nameSize (1-HL_WBCL_NAME_MAX), name (UTF-8, no NUL),
 *           digest (SHA-256 of the CI policy file's bytes)
 *   idk     UINT16 keyAlg (TPM_ALG_RSA), UINT16 digestSize (32),
 *           digest (SHA-256 of the IDK public key)
 *
 * Secure Boot (PCR 7) uses the PFP's own events: EV_EFI_VARIABLE_DRIVER_CONFIG
 * with a UEFI_VARIABLE_DATA {VariableName GUID, UINT64 UnicodeNameLength,
 * UINT64 VariableDataLength, CHAR16 UnicodeName[], VariableData[]} for the
 * variables SecureBoot (EFI_GLOBAL_VARIABLE, 1 byte: 1 = enabled), PK, KEK
 * (EFI_GLOBAL_VARIABLE) and db, dbx (EFI_IMAGE_SECURITY_DATABASE), then
 * EV_SEPARATOR; firmware in debug mode measures the EV_EFI_ACTION string
 * "UEFI Debug Mode" into PCR 7.
 *
 * Trust (DESIGN.md): the event type is not covered by the digests, so
 * hl_wbcl_read() ignores it wherever it can: a boot-configuration value is
 * taken from any extended event (not EV_NO_ACTION) in the tag's PCR whose
 * data hashes to every digest hgslab can compute (SHA-256 required) and
 * decodes as a well-formed known tagged event, whatever its type says.  An
 * event typed EV_EVENT_TAG in PCRs 12-14 whose data does not hash to its
 * digests, or does not decode, is an error (lib/tcglog does not check
 * EV_EVENT_TAG: firmware uses it in other PCRs with other digests).
 *
 * Contract (lib/err.h): 0 on success, -1 after hl_error(); out pointers are
 * cleared on entry and set only on success.  Decoders never read outside the
 * bytes they are given.
 */
#ifndef HGSLAB_PROTO_WBCL_H
#define HGSLAB_PROTO_WBCL_H

#include <stddef.h>
#include <stdint.h>

#include "proto/tcglog.h"

#define HL_WBCL_TAG_BOOTDEBUGGING           0x484c0001u
#define HL_WBCL_TAG_OSKERNELDEBUG           0x484c0002u
#define HL_WBCL_TAG_BOOT_TYPE               0x484c0003u
#define HL_WBCL_TAG_HYPERVISOR_LAUNCH_TYPE  0x484c0004u
#define HL_WBCL_TAG_HYPERVISOR_IOMMU_POLICY 0x484c0005u
#define HL_WBCL_TAG_VSM_LAUNCH_TYPE         0x484c0006u
#define HL_WBCL_TAG_HVCI_POLICY             0x484c0007u
#define HL_WBCL_TAG_PAGEFILE_ENCRYPTION     0x484c0008u
#define HL_WBCL_TAG_HIBERNATION_DISABLED    0x484c0009u
#define HL_WBCL_TAG_DUMPS_DISABLED          0x484c000au
#define HL_WBCL_TAG_DUMP_ENCRYPTION         0x484c000bu
#define HL_WBCL_TAG_DUMP_ENCRYPTION_KEY     0x484c000cu
#define HL_WBCL_TAG_BITLOCKER               0x484c000du
#define HL_WBCL_TAG_SI_POLICY               0x484c0010u
#define HL_WBCL_TAG_VSM_IDK_INFO            0x484c0020u

/* BOOT_TYPE values. */
#define HL_WBCL_BOOT_FULL   1u
#define HL_WBCL_BOOT_RESUME 2u

#define HL_WBCL_HEADER_LEN 8     /* taggedEventID + taggedEventDataSize */
#define HL_WBCL_NAME_MAX 64      /* longest CI policy name in SI_POLICY, bytes */
#define HL_WBCL_VALUE_MAX (6 + HL_WBCL_NAME_MAX + 32)   /* largest known value */

/* How a tag's value is encoded (see the table above). */
enum hl_wbcl_kind {
	HL_WBCL_BOOL = 1,
	HL_WBCL_U32,
	HL_WBCL_SHA256,
	HL_WBCL_POLICY,
	HL_WBCL_IDK,
};

/* One known tag. */
struct hl_wbcl_tag_def {
	uint32_t id;
	const char *name;          /* "BOOTDEBUGGING" */
	uint32_t pcr;              /* the PCR it must be measured into */
	enum hl_wbcl_kind kind;
	const char *meaning;       /* "boot debugging" */
};

/* The known tags, NULL-name terminated, in the table's order. */
extern const struct hl_wbcl_tag_def hl_wbcl_tags[];

/* Number of known tags (entries of hl_wbcl_tags before the terminator). */
#define HL_WBCL_NTAGS 15

/* The definition of tag ID, or NULL when hgslab does not know it. */
const struct hl_wbcl_tag_def *hl_wbcl_tag_find(uint32_t id);

/* The tag's position in hl_wbcl_tags, or -1 when unknown. */
int hl_wbcl_tag_index(uint32_t id);

/* --- tagged events ---------------------------------------------------- */

/*
 * Encode a TCG_PCClientTaggedEvent for TAG with VALUE (LEN bytes) into a new
 * buffer *OUT of *OUT_LEN bytes (caller frees).  A known tag's value must be
 * well-formed for its kind (hl_wbcl_value_check).
 */
int hl_wbcl_encode(uint32_t tag, const void *value, size_t len, uint8_t **out, size_t *out_len);

/* Encode a bool-kind tag (VALUE non-zero = 1). */
int hl_wbcl_encode_bool(uint32_t tag, int value, uint8_t **out, size_t *out_len);

/* Encode a u32-kind tag. */
int hl_wbcl_encode_u32(uint32_t tag, uint32_t value, uint8_t **out, size_t *out_len);

/* Encode SI_POLICY for the CI policy NAME whose file hashes to SHA256. */
int hl_wbcl_encode_si_policy(const char *name, const uint8_t sha256[32], uint8_t **out,
			     size_t *out_len);

/* Encode VSM_IDK_INFO for an RSA IDK whose public key hashes to SHA256. */
int hl_wbcl_encode_idk(const uint8_t sha256[32], uint8_t **out, size_t *out_len);

/*
 * Decode the tagged event in DATA (LEN bytes): *TAG, and *VALUE / *VALUE_LEN
 * pointing into DATA.  The data must be exactly header + value; a truncated
 * header, a size running past the end or trailing bytes are errors, as is a
 * malformed value of a known tag.  An unknown tag decodes (its value is not
 * interpreted).
 */
int hl_wbcl_decode(const uint8_t *data, size_t len, uint32_t *tag, const uint8_t **value,
		   uint32_t *value_len);

/* 0 when VALUE is a well-formed value for known TAG (unknown tags pass); else -1. */
int hl_wbcl_value_check(uint32_t tag, const uint8_t *value, size_t len);

/* An SI_POLICY value taken apart; pointers into the value. */
struct hl_wbcl_si_policy {
	const uint8_t *name;       /* UTF-8, not NUL-terminated */
	size_t name_len;
	const uint8_t *sha256;     /* 32 bytes */
};

/* Take a checked SI_POLICY value apart. */
int hl_wbcl_si_policy_parse(const uint8_t *value, size_t len, struct hl_wbcl_si_policy *out);

/* --- UEFI variables (PCR 7 and 1) ------------------------------------- */

/* EFI_GUIDs in their in-memory (mixed-endian) byte order. */
extern const uint8_t hl_efi_global_variable_guid[16];          /* 8BE4DF61-93CA-11D2-AA0D-00E098032B8C */
extern const uint8_t hl_efi_image_security_database_guid[16];  /* D719B2CB-3D3A-4596-A3BC-DAD00E67656F */
extern const uint8_t hl_efi_cert_sha256_guid[16];              /* C1C41626-504C-4092-ACA9-41F936934328 */

/*
 * Encode a UEFI_VARIABLE_DATA for variable NAME (ASCII, 1-63 characters,
 * stored as UTF-16LE without terminator) of vendor GUID with DATA (LEN bytes)
 * into a new buffer *OUT (caller frees).
 */
int hl_wbcl_uefi_variable_encode(const uint8_t guid[16], const char *name, const void *data,
				 size_t len, uint8_t **out, size_t *out_len);

/* A UEFI_VARIABLE_DATA taken apart; data points into the decoded buffer. */
struct hl_wbcl_uefi_variable {
	uint8_t guid[16];
	char name[64];             /* ASCII; a non-ASCII character becomes '?' */
	const uint8_t *data;
	size_t data_len;
};

/* Decode a UEFI_VARIABLE_DATA (exact size, name at most 63 characters). */
int hl_wbcl_uefi_variable_decode(const uint8_t *buf, size_t len,
				 struct hl_wbcl_uefi_variable *out);

/* --- reading a log ---------------------------------------------------- */

/*
 * 1 when EV's data hashes to each of its digests that hgslab can compute and
 * one of them is SHA-256; 0 when not; -1 on an internal error.
 */
int hl_wbcl_event_verified(const struct hl_tcglog_event *ev);

/* What a log says about one tag. */
struct hl_wbcl_item {
	int seen;                  /* number of verified events carrying the tag */
	int conflict;              /* 1 when they carry different values */
	size_t index;              /* event index of the first one */
	uint32_t value_len;
	uint8_t value[HL_WBCL_VALUE_MAX];   /* the first one's value */
};

/* The boot configuration read from a log (see hl_wbcl_read). */
struct hl_wbcl_config {
	struct hl_wbcl_item tags[HL_WBCL_NTAGS];   /* indexed like hl_wbcl_tags */
	int secure_boot_seen;      /* verified SecureBoot variable events in PCR 7 */
	int secure_boot_conflict;
	int secure_boot;           /* the first one's value: 1 enabled, 0 not */
	size_t secure_boot_index;
	int uefi_debug_mode;       /* "UEFI Debug Mode" measured in PCR 7 */
};

/*
 * Read the boot configuration of LOG into OUT (zeroed first): every
 * verified tagged event of a known tag in that tag's PCR, the SecureBoot
 * variable and the UEFI debug mode action in PCR 7.  Errors (-1): an event
 * typed EV_EVENT_TAG in PCRs 12-14 whose data does not match its digests or
 * is malformed; the message names the event, PCR and offset.
 */
int hl_wbcl_read(const struct hl_tcglog *log, struct hl_wbcl_config *out);

/* The item for TAG in C, or NULL when TAG is unknown. */
const struct hl_wbcl_item *hl_wbcl_item(const struct hl_wbcl_config *c, uint32_t tag);

/*
 * The value of a bool- or u32-kind TAG: 1 with *VALUE set when it was seen
 * exactly consistently (seen, no conflict); 0 when missing or conflicting.
 */
int hl_wbcl_number(const struct hl_wbcl_config *c, uint32_t tag, uint32_t *value);

#endif
