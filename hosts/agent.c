/*
 * agent.c - the guarded host agent (`hgslab host run`) and its parts: the
 * host's swtpm under a per-directory lock, the boot replay that fills its
 * PCRs, one attestation attempt in whatever mode the HGS asks for, and the
 * loop that attests at start, renews before the health certificate runs
 * out, retries, and answers SIGUSR1 (see agent.h).
 *
 * The attestation exchanges themselves are hosts/hgs_client (TPM and host
 * key modes) and hosts/ad_client (AD mode); the TPM operations are
 * hosts/tpm_host; the directory, configuration and state are hosts/host.
 * This file wires them together and keeps the state file current.
 */
#include "hosts/agent.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "proto/attest.h"
#include "hosts/ad_client.h"
#include "hosts/hgs_client.h"
#include "hosts/keycache.h"
#include "hosts/measured_boot.h"
#include "hosts/tpm_host.h"
#include "lib/child.h"
#include "lib/clock.h"
#include "lib/fileio.h"
#include "lib/json.h"
#include "lib/swtpm.h"
#include "lib/tpm.h"

/* ---- the running agent ---- */

/* 1 when nobody holds DIR/tpm.lock, 0 when someone does, -1 on error. */
static int lock_free(const struct host *h)
{
	char *path = NULL;
	int fd, rc;

	if (host_path(h, HOST_TPM_LOCK_FILE, &path) < 0)
		return -1;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = errno == ENOENT ? 1 : hl_error_errno("cannot open '%s'", path);
		free(path);
		return rc;
	}
	free(path);
	if (flock(fd, LOCK_SH | LOCK_NB) == 0) {
		close(fd);
		return 1;
	}
	rc = errno == EWOULDBLOCK ? 0 : hl_error_errno("cannot check the TPM lock");
	close(fd);
	return rc;
}

/* The live process that holds DIR/agent.pid's lock, 0 when none. */
static pid_t agent_owner(const struct host *h)
{
	char *path = NULL;
	pid_t pid = 0;

	if (host_path(h, HOST_PID_FILE, &path) == 0)
		pid = hl_pidfile_owner(path);
	free(path);
	hl_error_clear();
	return pid;
}

int host_agent_find(const struct host *h, struct host_agent_info *out)
{
	char *path = NULL, *buf = NULL;
	json_t *j = NULL;
	const char *s;
	json_int_t pid = 0, port = 0;
	size_t len = 0;
	int ex, rc = -1;

	memset(out, 0, sizeof(*out));
	if (host_path(h, HOST_AGENT_FILE, &path) < 0)
		return -1;
	ex = hl_file_exists(path);
	if (ex <= 0) {
		rc = ex;
		goto out;
	}
	if (hl_file_read(path, 65536, &buf, &len) < 0)
		goto out;
	/* a damaged or half-known file means no usable agent */
	if (hl_json_parse(buf, len, 0, &j) < 0 || hl_json_get_int(j, "pid", &pid) < 0 ||
	    hl_json_get_int(j, "swtpm_port", &port) < 0 ||
	    hl_json_get_string(j, "swtpm_host", &s) < 0 || strlen(s) >= sizeof(out->swtpm_host)) {
		hl_error_clear();
		rc = 0;
		goto out;
	}
	/* the agent is the process that holds agent.pid (and the TPM lock), not whoever has its pid */
	if (agent_owner(h) != (pid_t)pid || lock_free(h) != 0) {
		hl_error_clear();
		rc = 0;
		goto out;
	}
	out->pid = (long)pid;
	out->swtpm_port = (int)port;
	snprintf(out->swtpm_host, sizeof(out->swtpm_host), "%s", s);
	snprintf(out->tcti, sizeof(out->tcti), "swtpm:host=%s,port=%d", s, (int)port);
	rc = 1;
out:
	json_decref(j);
	free(buf);
	free(path);
	return rc;
}

/* ---- the host's TPM ---- */

struct host_tpm {
	struct host *h;                 /* borrowed */
	struct hl_swtpm *swtpm;         /* our own swtpm; NULL when borrowing the agent's */
	int lock_fd;                    /* DIR/tpm.lock, flocked; -1 when borrowing */
	char addr[16];
	int port;
	char tcti[96];
	struct hl_tpm *tpm;             /* connected, or NULL */
	struct hl_measured_boot *mb;    /* the boot replayed, when we replayed it */
};

/* Take DIR/tpm.lock exclusively into *FD (writing our pid in it). */
static int lock_take(const struct host *h, int *fd_out)
{
	char *path = NULL, text[32], holder[32] = "";
	ssize_t n;
	int fd;

	*fd_out = -1;
	if (host_path(h, HOST_TPM_LOCK_FILE, &path) < 0)
		return -1;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		hl_error_errno("cannot open '%s'", path);
		free(path);
		return -1;
	}
	free(path);
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int e = errno;

		n = pread(fd, holder, sizeof(holder) - 1, 0);
		holder[n > 0 ? n : 0] = '\0';
		holder[strcspn(holder, "\n")] = '\0';
		close(fd);
		if (e != EWOULDBLOCK) {
			errno = e;
			return hl_error_errno("cannot lock the TPM of host '%s'", h->name);
		}
		return hl_error("the TPM of host '%s' is in use by pid %s (a host agent or another "
				"hgslab command); stop it (`kill -TERM %s`) or wait for it", h->name,
				holder[0] ? holder : "?", holder[0] ? holder : "PID");
	}
	n = snprintf(text, sizeof(text), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, text, (size_t)n, 0) != n) {
		hl_error_errno("cannot write the TPM lock of host '%s'", h->name);
		close(fd);
		return -1;
	}
	*fd_out = fd;
	return 0;
}

struct hl_tpm *host_tpm_connect(struct host_tpm *t)
{
	if (!t->tpm && hl_tpm_connect(t->tcti, &t->tpm) < 0) {
		hl_error_wrap("cannot connect to the TPM of host '%s'", t->h->name);
		return NULL;
	}
	return t->tpm;
}

void host_tpm_disconnect(struct host_tpm *t)
{
	if (t && t->tpm) {
		hl_tpm_disconnect(t->tpm);
		t->tpm = NULL;
	}
}

void host_tpm_address(const struct host_tpm *t, char *buf, size_t size)
{
	snprintf(buf, size, "%s:%d", t->addr, t->port);
}

/* Extend the measured boot of H's profile into T and write DIR/tcglog.bin. */
static int replay_boot(struct host_tpm *t)
{
	struct hosts_pcr_extend *ext = NULL;
	struct hl_tpm *tpm;
	char *path = NULL;
	int rc = -1;

	if (hl_measured_boot_build(&t->h->profile, &t->mb) < 0)
		return hl_error_wrap("cannot build the measured boot of host '%s'", t->h->name);
	if (!(tpm = host_tpm_connect(t)))
		return -1;
	if (!(ext = calloc(t->mb->n_extends ? t->mb->n_extends : 1, sizeof(*ext))))
		return hl_error("out of memory");
	for (size_t i = 0; i < t->mb->n_extends; i++) {
		ext[i].pcr = t->mb->extends[i].pcr;
		memcpy(ext[i].sha1, t->mb->extends[i].sha1, sizeof(ext[i].sha1));
		memcpy(ext[i].sha256, t->mb->extends[i].sha256, sizeof(ext[i].sha256));
	}
	if (hosts_tpm_extend(tpm, ext, t->mb->n_extends) < 0) {
		hl_error_wrap("cannot replay the measured boot into the TPM of host '%s'", t->h->name);
		goto out;
	}
	if (host_path(t->h, HOST_TCGLOG_FILE, &path) < 0 ||
	    hl_file_write(path, t->mb->log, t->mb->log_len, HL_FILE_MODE_PUBLIC) < 0)
		goto out;
	hl_log_info("replayed the measured boot (%zu events, %zu-byte TCG log) into the TPM",
		    t->mb->n_extends, t->mb->log_len);
	rc = 0;
out:
	free(path);
	free(ext);
	return rc;
}

int host_tpm_open(struct host *h, int replay, int borrow, struct host_tpm **out)
{
	struct hl_swtpm_opts so = { 0 };
	struct host_agent_info ai;
	struct host_tpm *t;
	char *state = NULL;
	int found = 0, rc = -1;

	*out = NULL;
	if (!(t = calloc(1, sizeof(*t))))
		return hl_error("out of memory");
	t->h = h;
	t->lock_fd = -1;
	if (borrow && (found = host_agent_find(h, &ai)) < 0)
		goto out;
	if (found) {
		snprintf(t->addr, sizeof(t->addr), "%s", ai.swtpm_host);
		t->port = ai.swtpm_port;
		snprintf(t->tcti, sizeof(t->tcti), "%s", ai.tcti);
		hl_log_info("using the swtpm of the running agent (pid %ld) on %s:%d", ai.pid,
			    t->addr, t->port);
		rc = 0;
		goto out;
	}
	if (lock_take(h, &t->lock_fd) < 0 || host_path(h, HOST_TPM_DIR, &state) < 0)
		goto out;
	so.state_dir = state;
	so.host = h->listen;
	if (hl_swtpm_start(&so, &t->swtpm) < 0) {
		hl_error_wrap("cannot start the TPM of host '%s'", h->name);
		goto out;
	}
	snprintf(t->addr, sizeof(t->addr), "%s", hl_swtpm_host(t->swtpm));
	t->port = hl_swtpm_port(t->swtpm);
	snprintf(t->tcti, sizeof(t->tcti), "%s", hl_swtpm_tcti(t->swtpm));
	hl_log_info("swtpm of host '%s' running on %s:%d (pid %ld)", h->name, t->addr, t->port,
		    (long)hl_child_pid(hl_swtpm_child(t->swtpm)));
	if (replay && replay_boot(t) < 0)
		goto out;
	rc = 0;
out:
	free(state);
	if (rc < 0)
		host_tpm_close(t);
	else
		*out = t;
	return rc;
}

void host_tpm_close(struct host_tpm *t)
{
	int status = -1;

	if (!t)
		return;
	host_tpm_disconnect(t);
	if (t->swtpm) {
		if (hl_swtpm_stop(t->swtpm, 0, &status) < 0)
			hl_log_warn("cannot stop the swtpm of host '%s': %s", t->h->name,
				    hl_error_last());
		else
			hl_log_info("swtpm of host '%s' stopped (status %d)", t->h->name, status);
		hl_swtpm_free(t->swtpm);
	}
	if (t->lock_fd >= 0)
		close(t->lock_fd);
	hl_measured_boot_free(t->mb);
	free(t);
}

/* ---- attestation ---- */

struct host_attester {
	struct host *h;                 /* borrowed */
	struct host_tpm *t;             /* borrowed */
	struct hosts_ek *ek;
	struct hosts_tpm_key ak, tk;
	EVP_PKEY *tk_pub;
	EVP_PKEY *machine_key;
	struct hl_measured_boot *mb;    /* owned when we built it */
	int own_mb;
	int retry_s;                    /* next TransientError backoff */
};

/* Load the TPM key at DIR/FILE into K, or create it with MAKE and save it. */
static int key_load_or_create(struct host *h, struct hl_tpm *tpm, const char *file,
			      const char *what, int (*make)(struct hl_tpm *, struct hosts_tpm_key *),
			      struct hosts_tpm_key *k)
{
	char *path = NULL;
	int ex, rc = -1;

	if (host_path(h, file, &path) < 0)
		return -1;
	ex = hl_file_exists(path);
	if (ex < 0)
		goto out;
	if (ex) {
		rc = hosts_tpm_key_load(path, k);
		goto out;
	}
	hl_log_info("creating the %s of host '%s' in its TPM", what, h->name);
	if (make(tpm, k) < 0 || hosts_tpm_key_save(k, path) < 0) {
		hl_error_wrap("cannot create the %s of host '%s'", what, h->name);
		hosts_tpm_key_release(k);
		goto out;
	}
	rc = 0;
out:
	free(path);
	return rc;
}

int host_attester_new(struct host *h, struct host_tpm *t, struct host_attester **out)
{
	struct host_attester *a;
	struct hl_buf pem = { 0 };
	struct hl_tpm *tpm;
	int rc = -1;

	*out = NULL;
	if (!(a = calloc(1, sizeof(*a))))
		return hl_error("out of memory");
	a->h = h;
	a->t = t;
	a->retry_s = HOST_RETRY_MIN_S;
	if (t->mb) {
		a->mb = t->mb;
	} else {
		if (hl_measured_boot_build(&h->profile, &a->mb) < 0)
			goto out;
		a->own_mb = 1;
	}
	if (!(tpm = host_tpm_connect(t)))
		goto out;
	if (hosts_tpm_read_ek(tpm, &a->ek) < 0) {
		hl_error_wrap("cannot read the endorsement key of host '%s'", h->name);
		goto out;
	}
	if (key_load_or_create(h, tpm, HOST_AK_FILE, "attestation key", hosts_tpm_create_ak,
			       &a->ak) < 0 ||
	    key_load_or_create(h, tpm, HOST_TK_FILE, "transport key",
			       hosts_tpm_create_transport_key, &a->tk) < 0)
		goto out;
	if (hosts_tpm_key_pem(&a->tk, &pem) < 0 ||
	    hl_key_pub_from_pem(pem.data, pem.len, &a->tk_pub) < 0 ||
	    host_key_load(h, &a->machine_key) < 0)
		goto out;
	rc = 0;
out:
	hl_buf_free(&pem);
	host_tpm_disconnect(t);
	if (rc < 0)
		host_attester_free(a);
	else
		*out = a;
	return rc;
}

void host_attester_free(struct host_attester *a)
{
	if (!a)
		return;
	hosts_ek_free(a->ek);
	hosts_tpm_key_release(&a->ak);
	hosts_tpm_key_release(&a->tk);
	hl_key_free(a->tk_pub);
	hl_key_free(a->machine_key);
	if (a->own_mb)
		hl_measured_boot_free(a->mb);
	free(a);
}

/* Write one file of the last-quote directory QDIR. */
static int quote_file(const char *qdir, const char *name, const void *data, size_t len)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", qdir, name);
	return hl_file_write(path, data, len, HL_FILE_MODE_PUBLIC);
}

/*
 * The PCR values of Q in the file format tpm2_quote -o writes and
 * tpm2_checkquote -f reads (tpm2-tools 5.x "serialized", without -l): the
 * TPML_PCR_SELECTION and TPML_DIGEST structures as laid out in memory by the
 * tss2 headers, little-endian, after a UINT32 count of digest lists (8
 * digests per list).  Not a TPM wire format: tpm2-tools' own file format.
 * tpm2_checkquote -l with plain values is not used: 5.4 mishandles a bank
 * of more than 8 PCRs that way.
 */
static int pcrs_file(const struct hosts_tpm_quote *q, struct hl_buf *out)
{
	TPML_PCR_SELECTION sel;
	TPML_DIGEST lists[3];
	uint32_t nlists = 0, count;
	size_t len;

	memset(&sel, 0, sizeof(sel));
	memset(lists, 0, sizeof(lists));
	sel.count = htole32(1);
	sel.pcrSelections[0].hash = htole16(TPM2_ALG_SHA256);
	sel.pcrSelections[0].sizeofSelect = 3;
	for (unsigned i = 0; i < HL_TPM_PCR_COUNT; i++) {
		TPML_DIGEST *l;

		if (!(q->pcr_mask & (1u << i)))
			continue;
		sel.pcrSelections[0].pcrSelect[i / 8] |= (BYTE)(1u << (i % 8));
		if (nlists == 0 || lists[nlists - 1].count == 8)
			nlists++;
		l = &lists[nlists - 1];
		l->digests[l->count].size = HL_TPM_SHA256_LEN;
		memcpy(l->digests[l->count].buffer, q->pcrs[i], HL_TPM_SHA256_LEN);
		l->count++;
	}
	for (uint32_t i = 0; i < nlists; i++) {
		for (uint32_t k = 0; k < lists[i].count; k++)
			lists[i].digests[k].size = htole16(lists[i].digests[k].size);
		lists[i].count = htole32(lists[i].count);
	}
	count = htole32(nlists);
	len = sizeof(sel) + sizeof(count) + nlists * sizeof(TPML_DIGEST);
	if (!(out->data = calloc(1, len + 1)))
		return hl_error("out of memory");
	memcpy(out->data, &sel, sizeof(sel));
	memcpy(out->data + sizeof(sel), &count, sizeof(count));
	memcpy(out->data + sizeof(sel) + sizeof(count), lists, nlists * sizeof(TPML_DIGEST));
	out->len = len;
	return 0;
}

/*
 * Quote the attested PCRs with the AK over a fresh nonce and keep the
 * result in DIR/last-quote/ in tpm2_checkquote's formats.
 */
static int keep_quote(struct host_attester *a, struct hl_tpm *tpm)
{
	struct hosts_tpm_quote q = { 0 };
	struct hl_buf pem = { 0 }, pcrs = { 0 };
	unsigned char nonce[32];
	char *qdir = NULL;
	int rc = -1;

	if (host_path(a->h, HOST_QUOTE_DIR, &qdir) < 0 || hl_file_mkdirs(qdir, 0755) < 0 ||
	    hl_crypto_random(nonce, sizeof(nonce)) < 0 ||
	    hosts_tpm_quote(tpm, &a->ak, HOSTS_QUOTE_PCRS, nonce, sizeof(nonce), &q) < 0 ||
	    hosts_tpm_key_pem(&a->ak, &pem) < 0 || pcrs_file(&q, &pcrs) < 0)
		goto out;
	if (quote_file(qdir, "quote.msg", q.attest.data, q.attest.len) < 0 ||
	    quote_file(qdir, "quote.sig", q.sig.data, q.sig.len) < 0 ||
	    quote_file(qdir, "pcrs.bin", pcrs.data, pcrs.len) < 0 ||
	    quote_file(qdir, "nonce.bin", nonce, sizeof(nonce)) < 0 ||
	    quote_file(qdir, "ak.pem", pem.data, pem.len) < 0)
		goto out;
	rc = 0;
out:
	hosts_tpm_quote_release(&q);
	hl_buf_free(&pem);
	hl_buf_free(&pcrs);
	free(qdir);
	return rc;
}

/* Forget the health certificate in ST. */
static void clear_cert(struct host_state *st)
{
	hl_buf_free(&st->health_cert);
	st->not_after = 0;
	st->expires = 0;
}

/*
 * Record "no decision" in ST: TransientError with the current error as
 * reason.  No decision is no refusal: a health certificate still valid (on
 * the host clock) is kept until its notAfter, so the host still gets keys
 * while HGS is slow or briefly down; an expired one goes.
 */
static void set_transient(struct host_state *st, const char *fmt, ...) HL_PRINTF(2, 3);
static void set_transient(struct host_state *st, const char *fmt, ...)
{
	va_list ap;

	snprintf(st->status, sizeof(st->status), "%s", HOST_STATUS_TRANSIENT);
	st->substatus[0] = '\0';
	va_start(ap, fmt);
	vsnprintf(st->reason, sizeof(st->reason), fmt, ap);
	va_end(ap);
	if (st->expires <= time(NULL))
		clear_cert(st);
}

/*
 * Take a Passed decision's certificate DER (LEN bytes) into ST: its expiry
 * on the host clock is NOW plus its lifetime (the node clock may differ).
 */
static int take_cert(struct host_state *st, const unsigned char *der, size_t len, time_t now)
{
	X509 *cert = NULL;
	time_t nb = 0, na = 0;

	clear_cert(st);
	if (hl_cert_from_der(der, len, &cert) < 0 || hl_cert_validity(cert, &nb, &na) < 0) {
		hl_cert_free(cert);
		return hl_error_wrap("the health certificate HGS issued does not parse");
	}
	hl_cert_free(cert);
	if (!(st->health_cert.data = malloc(len + 1)))
		return hl_error("out of memory");
	memcpy(st->health_cert.data, der, len);
	st->health_cert.len = len;
	st->not_after = na;
	st->expires = now + (na > nb ? na - nb : 0);
	return 0;
}

/* Copy decision D into ST. */
static int take_decision(struct host_state *st, const struct hosts_hgs_decision *d, time_t now)
{
	snprintf(st->status, sizeof(st->status), "%s", d->status);
	snprintf(st->substatus, sizeof(st->substatus), "%s", d->substatus_text);
	snprintf(st->reason, sizeof(st->reason), "%s", d->reason);
	if (d->mode[0])
		snprintf(st->mode, sizeof(st->mode), "%s", d->mode);
	if (d->node[0])
		snprintf(st->node, sizeof(st->node), "%s", d->node);
	clear_cert(st);
	if (d->passed && d->health_cert_der.len)
		return take_cert(st, d->health_cert_der.data, d->health_cert_der.len, now);
	return 0;
}

/* AD mode: a ticket from the fabric DC, then HGS; the decision into ST. */
static int attest_ad(struct host_attester *a, const struct host_client_config *cfg,
		     const char *url, struct host_state *st, time_t now)
{
	struct hl_http_opts http = { .timeout_ms = HOST_HTTP_TIMEOUT_MS,
				     .resolve = (const char *const *)cfg->resolve };
	struct ad_attest_result res;
	struct hl_buf der = { 0 };
	char *ticket = NULL;
	int rc = -1;

	memset(&res, 0, sizeof(res));
	if (!cfg->dc_url) {
		set_transient(st, "HGS '%s' attests hosts in AD mode, but host '%s' has no domain "
			      "controller configured; set one with `hgslab host "
			      "set-client-configuration --dc-url URL`", st->node, a->h->name);
		return 0;
	}
	if (ad_client_get_ticket(cfg->dc_url, &http, a->h->name, a->machine_key, &ticket,
				 NULL) < 0) {
		char msg[HL_ERROR_MAX], info[600];
		struct hl_http_reply reply = { 0 };
		int up;

		snprintf(msg, sizeof(msg), "%s", hl_error_last());
		snprintf(info, sizeof(info), "%s/Fabric/v1/info", cfg->dc_url);
		up = hl_http_get(info, &http, &reply) == 0 && reply.status / 100 == 2;
		hl_http_reply_release(&reply);
		if (up) {
			/* the DC answers but will not vouch for this computer: a refusal */
			snprintf(st->status, sizeof(st->status), "UnauthorizedHost");
			st->substatus[0] = '\0';
			snprintf(st->reason, sizeof(st->reason), "the domain controller refused a "
				 "ticket for computer '%s': %s", a->h->name, msg);
			clear_cert(st);
		} else {
			set_transient(st, "cannot get a ticket from the domain controller: %s", msg);
		}
		return 0;
	}
	if (ad_client_attest(url, &http, a->h->name, ticket, a->machine_key, a->tk_pub, &res) < 0)
		goto out;
	snprintf(st->status, sizeof(st->status), "%s", hgs_status_name(res.result.status));
	hgs_substatus_format(res.result.substatus, st->substatus, sizeof(st->substatus));
	snprintf(st->reason, sizeof(st->reason), "%s", res.result.reason);
	if (res.node[0])
		snprintf(st->node, sizeof(st->node), "%s", res.node);
	snprintf(st->mode, sizeof(st->mode), "ad");
	clear_cert(st);
	if (res.result.status == HGS_STATUS_PASSED && res.health_cert) {
		if (hl_cert_to_der(res.health_cert, &der) < 0 ||
		    take_cert(st, der.data, der.len, now) < 0)
			goto out;
	}
	rc = 0;
out:
	hl_buf_free(&der);
	ad_attest_result_release(&res);
	free(ticket);
	return rc;
}

/* TPM mode through hosts/hgs_client; the decision into *D. */
static int attest_tpm(struct host_attester *a, const struct hosts_hgs_conn *conn,
		      const struct hosts_hgs_info *info, struct host_state *st,
		      struct hosts_hgs_decision *d)
{
	struct hosts_hgs_tpm ht = { 0 };
	struct hl_tpm *tpm;
	char saved[HL_ERROR_MAX];
	int bound, rc;

	if (!(tpm = host_tpm_connect(a->t)))
		return -1;
	bound = st->ak_node[0] && strcmp(st->ak_node, info->name) == 0 &&
		strcmp(st->ak_signer, info->signer_thumbprint) == 0;
	ht.host = a->h->name;
	ht.tpm = tpm;
	ht.ek = a->ek;
	ht.ak = &a->ak;
	ht.tk = &a->tk;
	ht.tcglog = a->mb->log;
	ht.tcglog_len = a->mb->log_len;
	ht.pcr_mask = HOSTS_QUOTE_PCRS;
	rc = hosts_hgs_attest_tpm(conn, &ht, &bound, d);
	if (rc == 0) {
		if (bound) {
			snprintf(st->ak_node, sizeof(st->ak_node), "%s", info->name);
			snprintf(st->ak_signer, sizeof(st->ak_signer), "%s", info->signer_thumbprint);
		} else {
			st->ak_node[0] = st->ak_signer[0] = '\0';
		}
	}
	/* the diagnostics must not replace the attestation's own error */
	snprintf(saved, sizeof(saved), "%s", hl_error_last());
	if (keep_quote(a, tpm) < 0)
		hl_log_warn("cannot keep the last quote for diagnostics: %s", hl_error_last());
	if (rc < 0)
		hl_error("%s", saved);
	host_tpm_disconnect(a->t);
	return rc;
}

long host_schedule(const struct host_state *st, time_t now, int *retry_s)
{
	if (strcmp(st->status, HOST_STATUS_NOT_CONFIGURED) == 0)
		return -1;
	if (strcmp(st->status, HOST_STATUS_TRANSIENT) == 0) {
		long d = *retry_s < HOST_RETRY_MIN_S ? HOST_RETRY_MIN_S : *retry_s;

		*retry_s = d * 2 > HOST_RETRY_MAX_S ? HOST_RETRY_MAX_S : (int)(d * 2);
		return d;
	}
	*retry_s = HOST_RETRY_MIN_S;
	if (strcmp(st->status, HOST_STATUS_PASSED) == 0 && st->expires > now) {
		long life = (long)(st->expires - now);
		long d = life * HOST_RENEW_NUM / HOST_RENEW_DEN;

		return d < 1 ? 1 : d;
	}
	return HOST_RETRY_REFUSED_S;
}

int host_attempt(struct host_attester *a, const char *trigger, struct host_state *st)
{
	struct host_client_config cfg = { 0 };
	struct hosts_hgs_info info = { 0 };
	struct hosts_hgs_decision d = { 0 };
	struct hosts_hgs_conn conn = { 0 };
	struct hosts_hgs_peer peer;
	char first[HL_ERROR_MAX];
	time_t now;
	long delay;
	int rc = -1, got, tries;

	st->attempt_ms = hl_clock_epoch_ms();
	now = (time_t)(st->attempt_ms / 1000);
	st->attempts++;
	snprintf(st->trigger, sizeof(st->trigger), "%s", trigger);
	if (host_client_config_load(a->h, &cfg) < 0) {
		set_transient(st, "%s", hl_error_last());
		goto record;
	}
	if (!cfg.attestation_url) {
		snprintf(st->status, sizeof(st->status), "%s", HOST_STATUS_NOT_CONFIGURED);
		st->substatus[0] = st->reason[0] = st->mode[0] = st->operation_mode[0] = '\0';
		st->server_url[0] = st->node[0] = '\0';
		st->fallback_in_use = 0;
		clear_cert(st);
		goto record;
	}

	/* who is the HGS, and in which mode does it attest? primary URL, then the fallback */
	conn.url = cfg.attestation_url;
	conn.resolve = (const char *const *)cfg.resolve;
	conn.timeout_ms = HOST_HTTP_TIMEOUT_MS;
	memset(&peer, 0, sizeof(peer));
	conn.peer = &peer;
	st->fallback_in_use = 0;
	st->node_name[0] = st->node_address[0] = '\0';
	got = hosts_hgs_get_info(&conn, &info) == 0;
	if (!got && cfg.fallback_attestation_url) {
		snprintf(first, sizeof(first), "%s", hl_error_last());
		hl_log_warn("attestation server '%s' failed (%s); trying the fallback '%s'",
			    cfg.attestation_url, first, cfg.fallback_attestation_url);
		conn.url = cfg.fallback_attestation_url;
		got = hosts_hgs_get_info(&conn, &info) == 0;
		if (got)
			st->fallback_in_use = 1;
		else
			hl_error_wrap("primary '%s': %s; fallback", cfg.attestation_url, first);
	}
	snprintf(st->server_url, sizeof(st->server_url), "%s", conn.url);
	if (!got) {
		set_transient(st, "cannot reach the attestation service: %s", hl_error_last());
		goto record;
	}
	snprintf(st->mode, sizeof(st->mode), "%s", info.mode);
	snprintf(st->operation_mode, sizeof(st->operation_mode), "%s", info.operation_mode);
	snprintf(st->node, sizeof(st->node), "%s", info.name);

	/*
	 * A node that dies while it answers leaves the exchange without a
	 * decision: it is tried once more from its start (a fresh nonce), and
	 * the cluster's other nodes answer.
	 */
	if (strcmp(info.mode, "tpm") == 0) {
		for (tries = 0; tries < 2; tries++) {
			hosts_hgs_decision_release(&d);
			if ((got = attest_tpm(a, &conn, &info, st, &d) == 0))
				break;
			if (tries == 0)
				hl_log_warn("TPM attestation with '%s' got no decision (%s); "
					    "trying again", conn.url, hl_error_last());
		}
		if (!got || take_decision(st, &d, now) < 0) {
			set_transient(st, "TPM attestation with '%s' got no decision: %s", conn.url,
				      hl_error_last());
		}
	} else if (strcmp(info.mode, "hostkey") == 0) {
		for (tries = 0; tries < 2; tries++) {
			hosts_hgs_decision_release(&d);
			if ((got = hosts_hgs_attest_hostkey(&conn, a->h->name, a->machine_key, a->tk_pub,
							    &d) == 0))
				break;
			if (tries == 0)
				hl_log_warn("host key attestation with '%s' got no decision "
					    "(%s); trying again", conn.url, hl_error_last());
		}
		if (!got || take_decision(st, &d, now) < 0) {
			set_transient(st, "host key attestation with '%s' got no decision: %s",
				      conn.url, hl_error_last());
		}
	} else if (strcmp(info.mode, "ad") == 0) {
		if (attest_ad(a, &cfg, conn.url, st, now) < 0) {
			set_transient(st, "AD attestation with '%s' got no decision: %s", conn.url,
				      hl_error_last());
		}
	} else {
		set_transient(st, "HGS '%s' asks for attestation mode '%s', which this host does not "
			      "know; update hgslab", info.name, info.mode);
	}

	/* the node of the last reply, and the log entry of the decision when one came */
	snprintf(st->node_name, sizeof(st->node_name), "%s", peer.node);
	snprintf(st->node_address, sizeof(st->node_address), "%s", peer.address);
	if (d.log_id && host_log_id_add(a->h, "attestation", d.log_id, peer.node,
					peer.address) < 0)
		hl_log_warn("%s", hl_error_last());
	/* what HGS said about key material caching drops stale cache entries (hosts/keycache.h) */
	if (hosts_keycache_learn(a->h, &d.caching, NULL) < 0) {
		hl_log_warn("%s", hl_error_last());
		hl_error_clear();
	}

record:
	delay = host_schedule(st, now, &a->retry_s);
	st->renew_at = delay < 0 ? 0 : now + delay;
	hl_log_info("attestation (%s): %s%s%s%s", trigger, st->status,
		    st->substatus[0] ? " (" : "", st->substatus, st->substatus[0] ? ")" : "");
	if (st->reason[0])
		hl_log_info("reason: %s", st->reason);
	if (host_state_save(a->h, st) < 0) {
		hl_error_wrap("cannot record the attestation state of host '%s'", a->h->name);
		goto out;
	}
	rc = 0;
out:
	hosts_hgs_decision_release(&d);
	hosts_hgs_info_release(&info);
	host_client_config_release(&cfg);
	return rc;
}

int host_attest_direct(struct host *h, struct host_state *st)
{
	struct host_tpm *t = NULL;
	struct host_attester *a = NULL;
	int rc = -1;

	memset(st, 0, sizeof(*st));
	if (host_tpm_open(h, 1, 0, &t) < 0 || host_attester_new(h, t, &a) < 0 ||
	    host_state_load(h, st) < 0)
		goto out;
	if (host_attempt(a, "test", st) < 0)
		goto out;
	rc = 0;
out:
	host_attester_free(a);
	host_tpm_close(t);
	return rc;
}

/* A pidfd for PID (readable once it exits), or -1 when the kernel has none. */
static int pidfd_of(long pid)
{
#ifdef SYS_pidfd_open
	return (int)syscall(SYS_pidfd_open, (pid_t)pid, 0);
#else
	(void)pid;
	return -1;
#endif
}

int host_agent_request(struct host *h, long agent_pid, int timeout_ms, struct host_state *st)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	long long t0, deadline;
	int fd, pfd = -1, rc = -1;

	memset(st, 0, sizeof(*st));
	fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	if (fd < 0)
		return hl_error_errno("cannot watch '%s'", h->dir);
	/* watch before asking, so the agent's answer cannot slip by */
	if (inotify_add_watch(fd, h->dir, IN_MOVED_TO | IN_CLOSE_WRITE) < 0) {
		hl_error_errno("cannot watch '%s'", h->dir);
		goto out;
	}
	pfd = pidfd_of(agent_pid);
	t0 = hl_clock_epoch_ms();
	deadline = t0 + timeout_ms;
	if (kill((pid_t)agent_pid, SIGUSR1) < 0) {
		hl_error_errno("cannot signal the agent of host '%s' (pid %ld)", h->name, agent_pid);
		goto out;
	}
	for (;;) {
		struct pollfd p[2] = { { .fd = fd, .events = POLLIN }, { .fd = pfd, .events = POLLIN } };
		long long left;
		int n;

		host_state_release(st);
		if (host_state_load(h, st) < 0)
			goto out;
		if (st->attempt_ms >= t0) {
			rc = 0;
			goto out;
		}
		if (!hl_proc_alive((pid_t)agent_pid)) {
			hl_error("the agent of host '%s' (pid %ld) stopped before it attested; see "
				 "'%s/%s'", h->name, agent_pid, h->dir, HOST_LOG_FILE);
			goto out;
		}
		left = deadline - hl_clock_epoch_ms();
		if (left <= 0) {
			hl_error("the agent of host '%s' (pid %ld) recorded no attestation within "
				 "%d ms; see '%s/%s'", h->name, agent_pid, timeout_ms, h->dir,
				 HOST_LOG_FILE);
			goto out;
		}
		/* without a pidfd, look at the agent's liveness now and then */
		n = poll(p, pfd >= 0 ? 2 : 1, pfd >= 0 || left < 250 ? (int)left : 250);
		if (n < 0 && errno != EINTR) {
			hl_error_errno("cannot wait for the agent of host '%s'", h->name);
			goto out;
		}
		while (read(fd, buf, sizeof(buf)) > 0)
			;
	}
out:
	if (rc < 0)
		host_state_release(st);
	if (pfd >= 0)
		close(pfd);
	close(fd);
	return rc;
}

/* ---- `host run` ---- */

/*
 * Claim DIR/agent.pid for this agent into *PF unless it holds it already
 * (locked for the agent's whole life, lib/child.h "Pid files"), then write
 * DIR/agent.json for its swtpm T.
 */
static int publish(struct host *h, const struct host_tpm *t, struct hl_pidfile *pf)
{
	char *path = NULL, *s = NULL;
	json_t *j = json_object();
	int rc = -1;

	if (!j)
		return hl_error("out of memory");
	if (!pf->path[0] &&
	    (host_path(h, HOST_PID_FILE, &path) < 0 || hl_pidfile_claim(pf, path, NULL) < 0))
		goto out;
	free(path);
	path = NULL;
	json_object_set_new(j, "pid", json_integer((json_int_t)getpid()));
	json_object_set_new(j, "swtpm_host", json_string(t->addr));
	json_object_set_new(j, "swtpm_port", json_integer(t->port));
	json_object_set_new(j, "tcti", json_string(t->tcti));
	json_object_set_new(j, "started_unix", json_integer((json_int_t)time(NULL)));
	if (hl_json_dump_pretty(j, &s) < 0 || host_path(h, HOST_AGENT_FILE, &path) < 0 ||
	    hl_file_write(path, s, strlen(s), HL_FILE_MODE_PUBLIC) < 0)
		goto out;
	rc = 0;
out:
	json_decref(j);
	free(s);
	free(path);
	return rc;
}

/* Remove DIR/agent.json, then give up DIR/agent.pid (PF). */
static void unpublish(struct host *h, struct hl_pidfile *pf)
{
	char *path = NULL;

	if (host_path(h, HOST_AGENT_FILE, &path) == 0 && unlink(path) < 0 && errno != ENOENT)
		hl_log_warn("cannot remove '%s': %s", path, strerror(errno));
	free(path);
	hl_pidfile_release(pf);
}

/* 1 while T's swtpm runs (one the agent started; a borrowed one is not its to watch). */
static int tpm_alive(struct host_tpm *t)
{
	return !t->swtpm || hl_child_running(hl_swtpm_child(t->swtpm));
}

/* Print and log the agent's readiness line for its swtpm T. */
static void say_running(const struct host *h, const struct host_tpm *t)
{
	char addr[40];

	host_tpm_address(t, addr, sizeof(addr));
	hl_log_info("agent running (swtpm on %s)", addr);
	printf("host: %s agent running (swtpm on %s)\n", h->name, addr);
	if (fflush(stdout) != 0)
		hl_log_warn("cannot write the readiness line: %s", strerror(errno));
}

/*
 * The agent's swtpm ended under it: the TPM lost this boot's PCRs and
 * loaded keys.  Start it again into *T and *A as at the agent's start - a
 * power-on, the measured boot replayed, the AK and TK reloaded - and
 * publish its new address (agent.json).  -1 when it cannot: the agent then
 * stops, saying why, rather than run with no TPM.
 */
static int tpm_restart(struct host *h, struct host_tpm **t, struct host_attester **a,
		       struct hl_pidfile *pf)
{
	int status = hl_child_status(hl_swtpm_child((*t)->swtpm));

	hl_log_warn("the TPM (swtpm) ended with status %d: restarting it with a fresh measured "
		    "boot", status);
	printf("host: %s TPM (swtpm) ended with status %d; restarting it with a fresh measured "
	       "boot\n", h->name, status);
	fflush(stdout);
	host_attester_free(*a);
	*a = NULL;
	host_tpm_close(*t);
	*t = NULL;
	if (host_tpm_open(h, 1, 0, t) < 0 || host_attester_new(h, *t, a) < 0 ||
	    publish(h, *t, pf) < 0)
		return hl_error_wrap("the TPM of host '%s' ended and could not be restarted",
				     h->name);
	say_running(h, *t);
	return 0;
}

/* Seconds until the next attempt ST asks for (at least 1), or -1: only on request. */
static long next_delay(const struct host_state *st)
{
	long delay = st->renew_at ? (long)(st->renew_at - time(NULL)) : -1;

	return st->renew_at && delay < 1 ? 1 : delay;
}

/* Print the agent's line for the attempt recorded in ST. */
static void print_attempt(const struct host *h, const struct host_state *st)
{
	printf("host: %s attestation: %s", h->name, st->status);
	if (st->substatus[0])
		printf(" (%s)", st->substatus);
	if (st->reason[0])
		printf(": %s", st->reason);
	printf("\n");
	fflush(stdout);
}

int host_agent_run(const char *dir, enum hl_log_level level)
{
	struct host *h = NULL;
	struct host_tpm *t = NULL;
	struct host_attester *a = NULL;
	struct host_state st = { 0 };
	struct hl_pidfile pf = { "", -1 };
	char path_buf[64], *logpath = NULL, *keys = NULL;
	const char *trigger = "start";
	sigset_t set, old;
	int rc = -1, masked = 0, published = 0, sig;

	if (host_open(dir, &h) < 0)
		return -1;
	snprintf(path_buf, sizeof(path_buf), "host:%s", h->name);
	hl_log_set_component(path_buf);
	if (host_path(h, HOST_LOG_FILE, &logpath) < 0 || hl_log_open_file(logpath, level) < 0)
		goto out;

	/*
	 * Only the main thread takes the signals, with sigtimedwait; a shell
	 * starts background jobs with SIGINT ignored, and an ignored signal
	 * never reaches sigwait: reset them first.  Children get a clean mask.
	 */
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	signal(SIGUSR1, SIG_DFL);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	/* the end of the swtpm (the agent's only child) wakes the agent too */
	sigaddset(&set, SIGCHLD);
	if (pthread_sigmask(SIG_BLOCK, &set, &old) != 0) {
		hl_error("cannot block the agent's signals");
		goto out;
	}
	masked = 1;
	if (hl_child_cleanup_install(-1) < 0)
		goto out;

	hl_log_info("starting the agent of host '%s' (profile %s)", h->name, h->profile.base);
	if (host_tpm_open(h, 1, 0, &t) < 0)
		goto out;
	/* the TPM lock makes this the directory's only agent: stale temporaries can go */
	if (host_path(h, HOST_KEYS_DIR, &keys) < 0 || hl_file_clean_temps(h->dir) < 0 ||
	    hl_file_clean_temps(keys) < 0)
		hl_log_warn("cannot remove stale temporary files: %s", hl_error_last());
	if (host_attester_new(h, t, &a) < 0 || host_state_load(h, &st) < 0)
		goto out;
	if (publish(h, t, &pf) < 0)
		goto out;
	published = 1;
	say_running(h, t);

	for (;;) {
		siginfo_t si;
		long delay;

		if (!tpm_alive(t)) {
			if (tpm_restart(h, &t, &a, &pf) < 0) {
				printf("host: %s agent stopping: %s\n", h->name, hl_error_last());
				fflush(stdout);
				goto out;
			}
			trigger = "tpm-restart";
		}
		if (host_attempt(a, trigger, &st) < 0) {
			hl_log_error("%s", hl_error_last());
			snprintf(st.status, sizeof(st.status), "%s", HOST_STATUS_TRANSIENT);
		}
		print_attempt(h, &st);
		delay = next_delay(&st);
		if (delay >= 0)
			hl_log_info("next attestation in %ld s unless asked earlier (SIGUSR1)", delay);
		for (;;) {
			if (delay < 0) {
				sig = sigwaitinfo(&set, &si);
			} else {
				struct timespec ts = { .tv_sec = delay, .tv_nsec = 0 };

				sig = sigtimedwait(&set, &si, &ts);
			}
			/* a child's news that is not the swtpm's end: wait on, until the same time */
			if (sig == SIGCHLD && tpm_alive(t)) {
				delay = next_delay(&st);
				continue;
			}
			if (sig >= 0 || errno != EINTR)
				break;
		}
		if (sig == SIGCHLD)
			continue;
		if (sig < 0 && errno == EAGAIN) {
			trigger = strcmp(st.status, HOST_STATUS_PASSED) == 0 ? "renewal" : "retry";
			continue;
		}
		if (sig == SIGUSR1) {
			hl_log_info("SIGUSR1: attesting now");
			trigger = "signal";
			continue;
		}
		if (sig < 0) {
			hl_error_errno("cannot wait for signals");
			goto out;
		}
		hl_log_info("%s received: stopping", strsignal(sig));
		break;
	}
	rc = 0;
out:
	if (rc < 0) {
		/* into the agent's log file only: the caller prints the error (once) on stderr */
		hl_log_set_stderr_level(HL_LOG_QUIET);
		hl_log_error("%s", hl_error_last());
	}
	host_attester_free(a);
	host_tpm_close(t);
	if (published)
		unpublish(h, &pf);
	hl_pidfile_release(&pf);
	if (rc == 0)
		hl_log_info("agent stopped");
	host_state_release(&st);
	hl_log_close();
	free(logpath);
	free(keys);
	host_close(h);
	/*
	 * After a clean stop the signals stay blocked: a second SIGTERM already
	 * pending must not kill the process on its way to exit 0.
	 */
	if (masked && rc < 0)
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	return rc;
}
