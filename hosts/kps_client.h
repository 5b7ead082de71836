/*
 * kps_client.h - a guarded host's side of key release (DESIGN.md flow 6):
 * post a key protector (KP) and the host's health certificate to the Key
 * Protection Service (hgs/kps.h, POST /KeyProtection/v1/release), switch
 * to the fallback URL when the primary one fails, and open the answer
 * with the host's own TPM (TPM2_RSA_Decrypt with the TPM-resident
 * transport key the health certificate binds, label HOSTS_TK_OAEP_LABEL).
 *
 * Three layers, each usable alone:
 *   hosts_kps_request   one release request over HTTP (lib/http, the lab's
 *                       resolve list): KPS's decision, the TK still wrapped;
 *   hosts_kps_open      TPM2_RSA_Decrypt of a released TK with a host TPM key;
 *   hosts_kps_unwrap    what `hgslab host unwrap-key-protector` does for a
 *                       host directory: attest first when the host holds no
 *                       valid health certificate (through the running agent,
 *                       or directly), ask KPS at the configured URLs, open
 *                       the TK with the host's TPM (the agent's swtpm when it
 *                       runs), and record which URL answered
 *                       (DIR/key-release.json, shown as IsFallbackInUse).
 *
 * Nodes.  The key protection URL's name may resolve to every node of an
 * HGS cluster (lib/http tries the addresses in turn); the reply names the
 * node that answered (X-Hgs-Node) and the log entry of the decision
 * (LogId), which hosts_kps_unwrap records (key-release.json,
 * hgs-log-ids.jsonl: hosts/host.h).
 *
 * URLs.  The key protection URL is the one Set-HgsClientConfiguration
 * takes, "http://hgs.relecloud.com:8080/KeyProtection" (a trailing '/' is
 * allowed) or the server root "http://hgs.relecloud.com:8080"; the route
 * is appended as "/KeyProtection/v1/release".
 *
 * Fallback.  A reply is a KPS decision when it is 200 with "released", or
 * 400/403 with a "reason" code (docs/attestation-protocol.md "POST
 * /KeyProtection/v1/release").  Anything else - no connection, a timeout,
 * a 5xx, a reply that is not KPS's - means the URL failed; it is asked once
 * more (a cluster node that died mid-answer: another node answers), then
 * the fallback URL (when configured) is asked instead.  A refusal is a decision and is
 * never retried elsewhere.
 *
 * The TK.  A released TK exists in clear only in this process's memory, in
 * an hl_buf that hl_buf_free() cleanses; nothing here writes it, logs it or
 * passes it in an argument vector or the environment.  It is handed on
 * through a file descriptor: hosts_kps_tk_pipe() puts it in a pipe whose
 * read end a child inherits (e.g. swtpm --key fd=N).  What may be shown is
 * its fingerprint (hl_kp_tk_fingerprint, lib/keyprotector.h).
 *
 * Contract (lib/err.h): 0 on success, -1 after hl_error(); outputs are
 * cleared on entry and hold nothing to free after -1; release functions
 * are NULL-safe and leave the struct zeroed.
 */
#ifndef HGSLAB_HOSTS_KPS_CLIENT_H
#define HGSLAB_HOSTS_KPS_CLIENT_H

#include <stddef.h>

#include "hosts/host.h"
#include "hosts/keycache.h"
#include "hosts/tpm_host.h"
#include "lib/crypto.h"
#include "proto/keyprotector.h"
#include "lib/tpm.h"

/* The KPS route under the key protection URL. */
#define HOSTS_KPS_RELEASE_ROUTE "/KeyProtection/v1/release"

/* Where KPS is and how to reach it. */
struct hosts_kps_conn {
	const char *url;                  /* key protection URL (above) */
	const char *fallback_url;         /* used when URL fails; NULL = none */
	const char *const *resolve;       /* NULL-terminated resolve list, or NULL */
	long timeout_ms;                  /* per request; 0 = lib/http's default */
};

/*
 * KPS's answer to one release request.  released is set only for a 200
 * carrying the wrapped TK; otherwise reason is KPS's code
 * ("OwnerSignatureInvalid", ...) and message its sentence.
 */
struct hosts_kps_release {
	int released;
	long http_status;
	char reason[48];                  /* "Released" or KPS's reason code */
	char message[1024];               /* KPS's sentence; "" when released */
	char key_protector[HL_KP_ID_SIZE]; /* the KP id, "" when KPS did not name it */
	char owner[HL_KP_NAME_MAX + 1];
	char host[64];                    /* the health certificate's CN, as KPS read it */
	char node[64];                    /* the HGS that released */
	char transport_key[HL_SHA256_HEX_SIZE];  /* fingerprint of the key the TK is wrapped to */
	char health_certificate[HL_SHA256_HEX_SIZE];
	char encryption_certificate[HL_SHA256_HEX_SIZE];
	struct hl_buf wrapped_tk;         /* RSA-OAEP ciphertext (not secret) */
	char url[512];                    /* the key protection URL that answered */
	int fallback_used;                /* that URL is the fallback */
	char answered_by[64];             /* the node that answered (X-Hgs-Node), "" unknown */
	char address[64];                 /* its address */
	long long log_id;                 /* "LogId": its entry in the key protection log, 0 none */
	struct hosts_keycache_policy caching; /* a release's KeyMaterialCaching, PolicyGeneration */
};

/* Free R's buffers and zero it; NULL-safe. */
void hosts_kps_release_free(struct hosts_kps_release *r);

/* The release URL under key protection URL BASE into BUF (SIZE bytes). */
int hosts_kps_release_url(const char *base, char *buf, size_t size);

/*
 * POST KP (the KP file's KP_LEN bytes) and HEALTH_CERT (DER, HC_LEN bytes;
 * NULL or 0 sends none) to C's URL, then to its fallback when the URL
 * fails, into *OUT.  0 when KPS decided (released or refused: read
 * out->released), -1 when no URL gave a decision (the message names both).
 */
int hosts_kps_request(const struct hosts_kps_conn *c, const void *kp, size_t kp_len,
		      const void *health_cert, size_t hc_len, struct hosts_kps_release *out);

/*
 * Open released TK R->wrapped_tk with transport key KEY in TPM T
 * (TPM2_RSA_Decrypt, OAEP-SHA-256, label HOSTS_TK_OAEP_LABEL) into *TK, a
 * secret (hl_buf_free).  Fails when KEY is not the key the TK was wrapped
 * to (another host's certificate was presented) or the result is not a TK.
 */
int hosts_kps_open(struct hl_tpm *t, const struct hosts_tpm_key *key,
		   const struct hosts_kps_release *r, struct hl_buf *tk);

/*
 * Hand TK on through a pipe: *READ_FD gets the read end (close-on-exec;
 * the caller clears that for the child that reads it), which yields the
 * TK's bytes, then end of file.  The write end is closed before return.
 */
int hosts_kps_tk_pipe(const struct hl_buf *tk, int *read_fd);

/* How hosts_kps_unwrap ended. */
enum hosts_kps_outcome {
	HOSTS_KPS_OPENED = 0,             /* released and opened: the TK is in memory */
	HOSTS_KPS_NOT_HEALTHY,            /* the host has no health certificate: attestation failed */
	HOSTS_KPS_REFUSED,                /* KPS refused (release.reason says why) */
	HOSTS_KPS_NOT_OPENED,             /* released, but this host's TPM cannot open it */
	HOSTS_KPS_UNREACHABLE,            /* no key protection URL answered (HGS slow or down):
					     a TransientError, reason says why */
};

/* What hosts_kps_unwrap did. */
struct hosts_kps_unwrap {
	enum hosts_kps_outcome outcome;
	int attested;                     /* an attestation was made first */
	char status[32];                  /* the host's AttestationStatus when asked */
	char substatus[512];
	char reason[1024];                /* attestation reason; or why the TPM could not open it */
	char own_transport_key[HL_SHA256_HEX_SIZE];  /* fingerprint of this host's transport key */
	char tk_fingerprint[HL_SHA256_HEX_SIZE];     /* set when OPENED */
	struct hosts_kps_release release; /* KPS's answer (REFUSED, NOT_OPENED, OPENED) */
};

/* Free U's buffers and zero it; NULL-safe. */
void hosts_kps_unwrap_free(struct hosts_kps_unwrap *u);

/* Wait of hosts_kps_unwrap for the running agent's attestation. */
#define HOSTS_KPS_AGENT_WAIT_MS 60000

/*
 * Key release for host H: the whole host side of flow 6 for the KP file
 * bytes KP (KP_LEN).  Attests first (trigger "key-release") unless
 * state.json holds a health certificate still valid on the host clock (a
 * Passed one, kept through TransientErrors since); when the host is then
 * not Passed, no request is made (outcome NOT_HEALTHY).  Asks KPS at the
 * configured key protection URL and its fallback, records the URL that
 * answered (or "Unreachable": outcome UNREACHABLE, a TransientError), and
 * opens a released TK with the host's TPM into *TK (a secret: hl_buf_free)
 * - only when the outcome is OPENED.  Returns 0 with *OUT describing the
 * outcome, -1 when it could not get that far (Local mode, a TPM failure).
 */
int hosts_kps_unwrap(struct host *h, const void *kp, size_t kp_len, struct hosts_kps_unwrap *out,
		     struct hl_buf *tk);

#endif
