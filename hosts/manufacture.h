/*
 * manufacture.h - the lab's TPM vendor and the manufacturing of host TPMs.
 *
 * A real guarded host's TPM comes from a vendor who burnt an endorsement key
 * (EK) into it and issued an EK certificate from the vendor's CA; HGS trusts
 * that CA.  In hgslab the "TPM vendor" is a CA directory of the lab's own,
 * and "manufacturing" is swtpm_setup run on a fresh swtpm state directory
 * with swtpm_localca configured to sign with that CA, never with the
 * machine-wide /var/lib/swtpm-localca.
 *
 * A vendor CA directory holds (all written by hosts_vendor_ca_init):
 *   vendor-ca-key.pem       the CA's RSA-2048 private key (PKCS#8, 0600)
 *   vendor-ca-cert.pem      its self-signed certificate: what HGS trusts
 *   swtpm-localca.conf      statedir, signingkey, issuercert, certserial
 *   swtpm-localca.options   swtpm_cert options (platform manufacturer...)
 *   swtpm_setup.conf        create_certs_tool = swtpm_localca with the above
 *   certserial              the next EK certificate serial (swtpm_localca's)
 * hosts_tpm_manufacture() runs, through lib/child (an argv, no shell),
 *   swtpm_setup --tpm2 --tpmstate STATE --create-ek-cert --create-platform-cert
 *       --create-spk --lock-nvram --pcr-banks sha1,sha256 --config CONF
 * with a per-call copy of swtpm_setup.conf and the options file that adds
 * "--subject CN=HOST", so each EK certificate names its host.  The result:
 *   - an RSA-2048 EK (TCG default template, persisted at 0x81010001) whose
 *     certificate, issued by the vendor CA, is in NV index 0x01c00002 (and
 *     an ECC P-384 EK with its certificate at 0x01c00016);
 *   - a platform certificate at NV 0x01c08000;
 *   - a storage root key (SRK) persisted at 0x81000001;
 *   - the sha1 and sha256 PCR banks active (the measured boot fills both);
 *   - NV locked, as a shipped TPM is.
 * It takes about 0.8 s (RSA EK key generation).  swtpm_setup's output goes
 * to STATE/swtpm_setup.log.
 *
 * Contract (lib/err.h): 0 on success, -1 after hl_error(); *out = NULL on
 * entry.
 */
#ifndef HGSLAB_HOSTS_MANUFACTURE_H
#define HGSLAB_HOSTS_MANUFACTURE_H

#include <openssl/x509.h>

#include "lib/err.h"

/* File names inside a vendor CA directory. */
#define HOSTS_VENDOR_CA_KEY_FILE "vendor-ca-key.pem"
#define HOSTS_VENDOR_CA_CERT_FILE "vendor-ca-cert.pem"
#define HOSTS_VENDOR_LOCALCA_CONF "swtpm-localca.conf"
#define HOSTS_VENDOR_LOCALCA_OPTIONS "swtpm-localca.options"
#define HOSTS_VENDOR_SETUP_CONF "swtpm_setup.conf"

/* The log swtpm_setup writes inside a TPM state directory. */
#define HOSTS_MANUFACTURE_LOG "swtpm_setup.log"

/* How long swtpm_setup may take before it is stopped (ms). */
#define HOSTS_MANUFACTURE_TIMEOUT_MS 60000

/*
 * Create the vendor CA directory DIR (0700, parents as needed): a fresh CA
 * key and self-signed certificate (CN "hgslab TPM Vendor CA XXXXXXXX", the
 * X's from the key's fingerprint, valid 20 years) and the swtpm_localca /
 * swtpm_setup configuration pointing at them.  Idempotent: an existing CA is
 * kept (its key and certificate must match) and the configuration files are
 * rewritten.
 */
int hosts_vendor_ca_init(const char *dir);

/*
 * Make TO a vendor CA directory of the CA in FROM (initialised): its key and
 * certificate copied, the configuration written for TO (hosts_vendor_ca_init),
 * so TPMs manufactured with TO count their serials there, never in FROM.
 * TO must not hold another CA.
 */
int hosts_vendor_ca_copy(const char *from, const char *to);

/*
 * The absolute path of DIR's CA certificate (PEM), for HGS to trust, in
 * *OUT (malloc'd; free it).  Fails when DIR has no CA yet.
 */
int hosts_vendor_ca_cert_path(const char *dir, char **out);

/* Load DIR's CA certificate. */
int hosts_vendor_ca_cert(const char *dir, X509 **out);

/*
 * Manufacture a TPM for host HOST (letters, digits, '.', '_', '-'; at most
 * 63) in the swtpm state directory STATE_DIR (created 0700 if missing; it
 * must not hold TPM state yet) with the vendor CA in VENDOR_DIR (already
 * initialised).  On failure the partial TPM state is removed and the message
 * ends with swtpm_setup's last log line.
 */
int hosts_tpm_manufacture(const char *vendor_dir, const char *state_dir, const char *host);

#endif
