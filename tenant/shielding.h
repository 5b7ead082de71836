/*
 * shielding.h - the tenant's shielding data and specialization data files:
 * New-ShieldingDataFile (new-shielding-data-file) from a tenant directory's
 * guardians, volume ID qualifier files and secret files; opening a .pdk's
 * secrets with the owner's key (show-shielding-data-file --dir); reading
 * .pdk, .vsc, .viq and .fsk files for the verbs; and
 * New-ShieldedVMSpecializationDataFile (new-specialization-data-file).
 * The formats are proto/pdk.h, proto/vsc.h, proto/vsc_viq.h and
 * proto/fsk.h (docs/templates.md).
 *
 * Secrets (the answer file, other files) are read from files into buffers
 * that are cleansed when freed, go only into the encrypted .pdk, and are
 * never printed or logged: show-shielding-data-file names them and gives
 * their sizes.
 *
 * Contract (lib/err.h): 0 on success, -1 after hl_error(); where a function
 * says so, -2 (after hl_error()) when the input is refused (a missing,
 * malformed or foreign file, a bad name): the command exits 2 then.
 * *out = NULL on entry, set only on success.
 */
#ifndef HGSLAB_TENANT_SHIELDING_H
#define HGSLAB_TENANT_SHIELDING_H

#include <stddef.h>
#include <time.h>

#include "proto/fsk.h"
#include "proto/pdk.h"
#include "proto/vsc.h"
#include "proto/vsc_viq.h"

/* What new-shielding-data-file is asked (New-ShieldingDataFile). */
struct hl_shielding_args {
	const char *dir;                    /* tenant directory: the owner (with keys), guardians */
	const char *owner;                  /* owner guardian name */
	const char *const *guardians;       /* more guardians of DIR (e.g. imported HGSes) */
	size_t n_guardians;
	const char *const *qualifier_files; /* .viq files, at least one */
	size_t n_qualifiers;
	const char *answer_file;            /* a file, or NULL; its base name is kept */
	const char *const *other_names;     /* other files: names in the .pdk ... */
	const char *const *other_paths;     /* ... and the files to read */
	size_t n_other;
	const char *policy;                 /* "shielded" or "encryption-supported" */
	unsigned kp_flags;                  /* HL_KP_ALLOW_EXPIRED */
	const char *out;                    /* the .pdk to write (0644) */
	int force;                          /* replace an existing OUT */
	time_t created;
};

/*
 * New-ShieldingDataFile: load the owner (with keys) and guardians from
 * a->dir, read the qualifier files and the secret files, create the .pdk
 * (hl_pdk_create) and write it atomically to a->out.  *OUT (may be NULL)
 * gets it parsed.  -2 for refused input (a bad policy, file name or
 * qualifier file, a missing file, an existing OUT without force).
 */
int hl_shielding_new(const struct hl_shielding_args *a, struct hl_pdk **out);

/*
 * The secrets of PDK opened with its owner's key from DIR: the owner found
 * by its signing certificate's thumbprint (with private keys), PDK verified
 * pinned to it, the TK unwrapped, the secrets decrypted.  -1 with the
 * reason when DIR does not hold the owner or anything fails.
 */
int hl_shielding_open_secrets(const char *dir, const struct hl_pdk *pdk,
			      struct hl_pdk_secrets **out);

/* Read and parse the .pdk at PATH (no signature check); -1 naming PATH. */
int hl_shielding_read_pdk(const char *path, struct hl_pdk **out);

/* Read and parse the .vsc at PATH (no signature check); -1 naming PATH. */
int hl_shielding_read_vsc(const char *path, struct hl_vsc **out);

/* Read and parse the .viq at PATH into *OUT; -1 naming PATH. */
int hl_shielding_read_viq(const char *path, struct hl_viq *out);

/* Read and parse the .fsk at PATH; -1 naming PATH. */
int hl_shielding_read_fsk(const char *path, struct hl_fsk **out);

/*
 * New-ShieldedVMSpecializationDataFile: the N "@Key@" KEYS with their
 * VALUES, then (when FROM is not NULL) the "@Key@=value" lines of file FROM
 * (blank lines and lines starting with '#' skipped), written as a .fsk to
 * OUT (0644; an existing OUT refused unless FORCE).  *N_VALUES gets the
 * count.  -2 for refused input (a bad placeholder or value, a key given
 * twice, a bad line, a missing FROM).
 */
int hl_shielding_new_fsk(const char *const *keys, const char *const *values, size_t n,
			 const char *from, const char *out, int force, size_t *n_values);

#endif
