/*
 * measured_boot.h - a guarded host's measured boot, built from its boot
 * profile (hosts/profile.h) as a crypto-agile TCG PC Client event log with
 * SHA-1 and SHA-256 banks, plus the PCR extends that log describes.
 *
 * What is measured (PCR: events):
 *   0  EV_S_CRTM_VERSION (the profile's firmware version, UTF-16),
 *      EV_EFI_PLATFORM_FIRMWARE_BLOB (the firmware volume, derived from the
 *      version), EV_POST_CODE (no StartupLocality event: locality 0)
 *   1  EV_EFI_HANDOFF_TABLES (SMBIOS), EV_EFI_VARIABLE_BOOT BootOrder, Boot0000
 *   2  EV_EFI_BOOT_SERVICES_DRIVER (a NIC option ROM)
 *   4  EV_EFI_ACTION "Calling EFI Application from Boot Option",
 *      EV_EFI_BOOT_SERVICES_APPLICATION \EFI\Microsoft\Boot\bootmgfw.efi
 *   5  EV_EFI_GPT_EVENT, the two ExitBootServices EV_EFI_ACTION strings
 *   7  EV_EFI_VARIABLE_DRIVER_CONFIG SecureBoot (1, or 0 when secure_boot=off),
 *      PK, KEK, db, dbx; then, with Secure Boot on, EV_EFI_VARIABLE_AUTHORITY
 *      for the db entry that verified the boot manager
 *   0-7 EV_SEPARATOR
 *   12-14 the boot-configuration tagged events of lib/wbcl.h (VSM_IDK_INFO
 *      only with vsm=on, DUMP_ENCRYPTION_KEY only with dump_encryption=on)
 * So firmware=X changes PCR 0, secure_boot=off changes PCR 7, and every other
 * setting changes only PCRs 12-14.  The same profile always gives the same
 * log, byte for byte.
 *
 * The host agent replays the boot into its TPM (started at locality 0): for
 * each entry of extends[], in order, TPM2_PCR_Extend(pcr, {sha1, sha256}).
 * The log's replay (hl_tcglog_replay, and tpm2_eventlog's) then equals the
 * TPM's PCRs.
 *
 * Contract (lib/err.h): 0 on success, -1 after hl_error(); *out = NULL on
 * entry; hl_measured_boot_free accepts NULL.
 */
#ifndef HGSLAB_HOSTS_MEASURED_BOOT_H
#define HGSLAB_HOSTS_MEASURED_BOOT_H

#include <stddef.h>
#include <stdint.h>

#include "hosts/profile.h"

/* One PCR extend, in log order. */
struct hl_mb_extend {
	uint32_t pcr;
	uint32_t type;             /* the event's type, for messages */
	uint8_t sha1[20];
	uint8_t sha256[32];
};

/* A built measured boot. */
struct hl_measured_boot {
	uint8_t *log;              /* the TCG event log (crypto-agile) */
	size_t log_len;
	struct hl_mb_extend *extends;   /* every event but EV_NO_ACTION, in order */
	size_t n_extends;
};

/* Build the measured boot of profile P. */
int hl_measured_boot_build(const struct hl_profile *p, struct hl_measured_boot **out);

/* Free a measured boot (NULL-safe). */
void hl_measured_boot_free(struct hl_measured_boot *mb);

/*
 * The value PCR would hold after the extends, for ALG (HL_TCGLOG_ALG_SHA1 or
 * HL_TCGLOG_ALG_SHA256), into OUT (20 or 32 bytes); returns the size or -1.
 * PCRs start at zero.
 */
int hl_measured_boot_pcr(const struct hl_measured_boot *mb, uint16_t alg, uint32_t pcr,
			 uint8_t *out);

#endif
