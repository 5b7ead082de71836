/*
 * tpm_state.h - a manufactured TPM state: the factory's product, kept in a
 * directory until a guarded host adopts it.
 *
 * Manufacturing a host TPM (hosts/manufacture: swtpm_setup, an RSA EK and
 * its certificate from the vendor CA) and creating its attestation and
 * transport keys costs about a second of CPU.  A real host's TPM comes from
 * the factory made, so hgslab can make states ahead of time (the cache of
 * sim/tpm_cache.h) and a host adopts one: `hgslab host new --tpm-state DIR`.
 *
 * A state directory holds (all five, or it is incomplete):
 *   tpm2-00.permall   the swtpm state (EK and SRK persisted, EK certificate in NV)
 *   ek.pub, ek-cert.der   its endorsement identity (hosts_ek_save)
 *   ak.key, tk.key    its attestation and transport keys, created in it and
 *                     wrapped by its SRK (hosts_tpm_key_save)
 *
 * Contract (lib/err.h): 0 on success, -1 after hl_error().
 */
#ifndef HGSLAB_HOSTS_TPM_STATE_H
#define HGSLAB_HOSTS_TPM_STATE_H

#include "lib/err.h"

/* The files of a complete state. */
#define HOSTS_TPM_STATE_PERMALL "tpm2-00.permall"
#define HOSTS_TPM_STATE_EK_PUB "ek.pub"
#define HOSTS_TPM_STATE_EK_CERT "ek-cert.der"
#define HOSTS_TPM_STATE_AK "ak.key"
#define HOSTS_TPM_STATE_TK "tk.key"

/* 1 when DIR holds every file of a complete state, else 0. */
int hosts_tpm_state_complete(const char *dir);

/*
 * Make a complete state in DIR (created; it must not hold a TPM yet) with
 * the vendor CA in VENDOR_DIR, its EK certificate naming HOST: manufacture
 * it, run a swtpm on it (loopback) to read its EK and create its AK and TK,
 * save those beside it and stop the swtpm (which saves the state).  The
 * logs of swtpm and swtpm_setup are removed.
 */
int hosts_tpm_state_make(const char *vendor_dir, const char *dir, const char *host);

/*
 * Copy the swtpm state of the state STATE_DIR into TPM_DIR (created 0700; it
 * must hold no TPM yet), to run a swtpm on: a TPM state changes when used.
 */
int hosts_tpm_state_copy_tpm(const char *state_dir, const char *tpm_dir);

/*
 * Adopt the complete state STATE_DIR for a new host: copy its swtpm state
 * into TPM_DIR (created 0700; it must hold no TPM yet) and its AK and TK
 * into AK_PATH and TK_PATH (0600), after checking, with a swtpm run on the
 * copy, that its EK is the one STATE_DIR names and that its EK certificate
 * chains to the vendor CA in VENDOR_DIR.  STATE_DIR is only read.  On
 * failure nothing is left in TPM_DIR, AK_PATH or TK_PATH and the message
 * says what does not match.
 */
int hosts_tpm_state_adopt(const char *state_dir, const char *vendor_dir, const char *tpm_dir,
			  const char *ak_path, const char *tk_path);

#endif
