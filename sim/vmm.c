/*
 * vmm.c - the fabric controller (sim/vmm.h): clouds, placements and deploys.
 *
 * The two documents of a VMM folder (clouds.json, placements.json) have one
 * reader (doc_load) and one writer (doc_save, an atomic write under
 * VMM/vmm.lock).  A deploy runs the hosts' own verbs as child processes of
 * this binary (lib/child), their output into VMM/logs/ and their progress
 * lines echoed on the deploy's progress stream as they come, and reads each
 * host's recorded attestation status from its directory (hosts/host.h).
 */
#include "sim/vmm.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "hosts/host.h"
#include "lib/child.h"
#include "lib/clock.h"
#include "lib/err.h"
#include "lib/fileio.h"
#include "lib/json.h"
#include "sim/verb.h"

#define VMM_DOC_MAX ((size_t)4 << 20)
#define VMM_NAME_MAX 64
#define VMM_REASON_MAX 1024
#define VMM_ATTEST_TIMEOUT "30"
#define VMM_VERB_OUT_MAX ((size_t)1 << 20)

/* The two documents: file, format name and the member that holds the list. */
struct vmm_doc {
	const char *file;
	const char *format;
	const char *list;
};

static const struct vmm_doc doc_clouds = { VMM_CLOUDS_FILE, "hgslab-vmm-clouds", "clouds" };
static const struct vmm_doc doc_placements = { VMM_PLACEMENTS_FILE, "hgslab-vmm-placements",
					       "placements" };

/* A new string "FMT..." into *OUT; -1 (out of memory) when it cannot be made. */
static int vfmt(char **out, const char *f, ...) HL_PRINTF(2, 3);
static int vfmt(char **out, const char *f, ...)
{
	va_list ap;
	int n;

	va_start(ap, f);
	n = vasprintf(out, f, ap);
	va_end(ap);
	if (n < 0) {
		*out = NULL;
		return hl_error("out of memory");
	}
	return 0;
}

int vmm_name_cloud(const char *name)
{
	size_t n = name ? strlen(name) : 0;

	if (n == 0 || n > VMM_NAME_MAX)
		return hl_error("invalid cloud name '%s': it must have 1 to %d characters",
				name ? name : "", VMM_NAME_MAX);
	if (name[0] == '.')
		return hl_error("invalid cloud name '%s': it must not start with '.'", name);
	for (size_t i = 0; i < n; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return hl_error("invalid cloud name '%s': use letters, digits, '.', '_' and '-' "
					"only", name);
	}
	return 0;
}

/* ---- the documents ---- */

/* Take the exclusive lock file VMM/FILE (created when missing); its fd into *FD. */
static int lock_take(const char *vmm, const char *file, int nonblock, int *fd)
{
	char *path = NULL;
	int rc = -1;

	*fd = -1;
	if (vfmt(&path, "%s/%s", vmm, file) < 0)
		return -1;
	if ((*fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0) {
		hl_error_errno("cannot open '%s'", path);
		goto out;
	}
	while (flock(*fd, LOCK_EX | (nonblock ? LOCK_NB : 0)) < 0) {
		if (errno == EINTR)
			continue;
		hl_error_errno("cannot lock '%s'", path);
		close(*fd);
		*fd = -1;
		goto out;
	}
	rc = 0;
out:
	free(path);
	return rc;
}

/* Release a lock of lock_take. */
static void lock_drop(int fd)
{
	if (fd >= 0)
		close(fd);
}

/* Document D of VMM: its list (a new reference) into *OUT; empty when the file is missing. */
static int doc_load(const char *vmm, const struct vmm_doc *d, json_t **out)
{
	char *path = NULL, *text = NULL;
	json_t *j = NULL, *list;
	const char *format;
	json_int_t version;
	size_t len;
	int rc = -1, e;

	*out = NULL;
	if (vfmt(&path, "%s/%s", vmm, d->file) < 0)
		return -1;
	if ((e = hl_file_exists(path)) <= 0) {
		if (e == 0 && (*out = json_array()) != NULL)
			rc = 0;
		else if (e == 0)
			hl_error("out of memory");
		goto out;
	}
	if (hl_file_read(path, VMM_DOC_MAX, &text, &len) < 0 ||
	    hl_json_parse(text, len, VMM_DOC_MAX, &j) < 0)
		goto bad;
	if (hl_json_get_string(j, "format", &format) < 0)
		goto bad;
	if (strcmp(format, d->format) != 0) {
		hl_error("field 'format' is \"%s\", not \"%s\"", format, d->format);
		goto bad;
	}
	if (hl_json_get_int(j, "version", &version) < 0)
		goto bad;
	if (version != 1) {
		hl_error("version %lld is not supported; this hgslab reads version 1",
			 (long long)version);
		goto bad;
	}
	if (hl_json_get_array(j, d->list, &list) < 0)
		goto bad;
	*out = json_incref(list);
	rc = 0;
	goto out;
bad:
	hl_error_wrap("'%s' is damaged", path);
out:
	json_decref(j);
	free(text);
	free(path);
	return rc;
}

/* Write LIST as document D of VMM (atomic). */
static int doc_save(const char *vmm, const struct vmm_doc *d, json_t *list)
{
	json_t *j = json_pack("{s:s, s:i, s:O}", "format", d->format, "version", 1, d->list, list);
	char *path = NULL, *text = NULL;
	int rc = -1;

	if (!j)
		return hl_error("out of memory");
	if (hl_json_dump_pretty(j, &text) == 0 && vfmt(&path, "%s/%s", vmm, d->file) == 0)
		rc = hl_file_write(path, text, strlen(text), HL_FILE_MODE_PUBLIC);
	json_decref(j);
	free(text);
	free(path);
	return rc;
}

/* The member NAME of the object of array LIST whose KEY is VALUE, or NULL. */
static json_t *list_find(const json_t *list, const char *key, const char *value)
{
	json_t *e;
	size_t i;

	json_array_foreach(list, i, e) {
		const char *v = json_string_value(json_object_get(e, key));

		if (v && strcmp(v, value) == 0)
			return e;
	}
	return NULL;
}

int vmm_clouds(const char *vmm, json_t **out)
{
	return doc_load(vmm, &doc_clouds, out);
}

int vmm_placements(const char *vmm, json_t **out)
{
	return doc_load(vmm, &doc_placements, out);
}

/* ---- clouds ---- */

int vmm_cloud_new(const char *vmm, const char *name, const char *const *host_dirs, size_t n,
		  json_t **out)
{
	struct host_client_config cfg;
	json_t *clouds = NULL, *hosts = json_array(), *cloud = NULL;
	char when[HL_JSON_TIME_SIZE];
	int lock = -1, rc = -1;

	if (out)
		*out = NULL;
	memset(&cfg, 0, sizeof(cfg));
	if (!hosts)
		return hl_error("out of memory");
	if (vmm_name_cloud(name) < 0)
		goto out;
	if (n == 0 || n > VMM_MAX_HOSTS) {
		hl_error("a cloud holds 1 to %d hosts, not %zu", VMM_MAX_HOSTS, n);
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		struct host *h = NULL;

		if (host_open(host_dirs[i], &h) < 0) {
			hl_error_wrap("cloud '%s'", name);
			rc = VMM_BAD_INPUT;
			goto out;
		}
		if (host_client_config_load(h, &cfg) < 0 || !cfg.attestation_url) {
			if (!cfg.attestation_url)
				hl_error("host '%s' is not a guarded host (Local mode): give it the HGS "
					 "URLs with `hgslab host set-client-configuration` first",
					 h->name);
			host_client_config_release(&cfg);
			host_close(h);
			goto out;
		}
		host_client_config_release(&cfg);
		if (list_find(hosts, "name", h->name)) {
			hl_error("host '%s' is given twice", h->name);
			host_close(h);
			goto out;
		}
		if (json_array_append_new(hosts, json_pack("{s:s, s:s}", "name", h->name, "dir",
							   h->dir)) < 0) {
			host_close(h);
			hl_error("out of memory");
			goto out;
		}
		host_close(h);
	}
	if (hl_file_mkdirs(vmm, 0700) < 0 || lock_take(vmm, "vmm.lock", 0, &lock) < 0 ||
	    doc_load(vmm, &doc_clouds, &clouds) < 0)
		goto out;
	if (list_find(clouds, "name", name)) {
		hl_error("cloud '%s' exists in '%s'", name, vmm);
		goto out;
	}
	if (hl_json_time_format(time(NULL), when) < 0)
		goto out;
	if (!(cloud = json_pack("{s:s, s:O, s:s}", "name", name, "hosts", hosts, "created", when)) ||
	    json_array_append(clouds, cloud) < 0) {
		hl_error("out of memory");
		goto out;
	}
	if (doc_save(vmm, &doc_clouds, clouds) < 0)
		goto out;
	if (out)
		*out = json_incref(cloud);
	rc = 0;
out:
	lock_drop(lock);
	json_decref(cloud);
	json_decref(clouds);
	json_decref(hosts);
	return rc;
}

/* ---- running a host's verb ---- */

/* Echo the complete lines of ERR_PATH after *OFFSET to PROGRESS, each after PREFIX. */
static void echo_lines(const char *err_path, size_t *offset, FILE *progress, const char *prefix)
{
	char *text = NULL, *p, *nl;
	size_t len;

	if (!progress || hl_file_read(err_path, VMM_VERB_OUT_MAX, &text, &len) < 0) {
		hl_error_clear();
		return;
	}
	for (p = text + (*offset <= len ? *offset : len); (nl = strchr(p, '\n')); p = nl + 1)
		fprintf(progress, "%s%.*s\n", prefix, (int)(nl - p), p);
	*offset = (size_t)(p - text);
	fflush(progress);
	free(text);
}

/*
 * Run `hgslab ARGS...` with stdout into VMM/logs/LOG.out and stderr into
 * LOG.err (echoed line by line to PROGRESS after PREFIX); its exit status
 * into *STATUS, stdout into *OUT_TEXT, the last error line into WHY.
 */
static int run_verb(const char *vmm, const char *log, const char *const *args, FILE *progress,
		    const char *prefix, int *status, char **out_text, char *why, size_t why_size)
{
	char self[PATH_MAX], *out_path = NULL, *err_path = NULL, *text = NULL, *logs = NULL;
	struct hl_child *c = NULL;
	size_t len, offset = 0;
	int rc = -1;

	*status = -1;
	*out_text = NULL;
	why[0] = '\0';
	verb_self(self, sizeof(self));
	if (vfmt(&logs, "%s/logs", vmm) < 0 || hl_file_mkdirs(logs, 0700) < 0 ||
	    vfmt(&out_path, "%s/%s.out", logs, log) < 0 || vfmt(&err_path, "%s/%s.err", logs, log) < 0 ||
	    verb_spawn(self, args, args[1], out_path, err_path, 0, &c) < 0)
		goto out;
	while (hl_child_wait(c, 200, status) < 0) {
		hl_error_clear();
		echo_lines(err_path, &offset, progress, prefix);
	}
	echo_lines(err_path, &offset, progress, prefix);
	if (hl_file_read(out_path, VMM_VERB_OUT_MAX, out_text, &len) < 0)
		goto out;
	if (hl_file_read(err_path, VMM_VERB_OUT_MAX, &text, &len) == 0) {
		/* the verb's error: its last "hgslab: error: " line */
		char *e = NULL, *p;

		for (p = text; (p = strstr(p, "hgslab: error: ")); p++)
			e = p + strlen("hgslab: error: ");
		if (e)
			snprintf(why, why_size, "%.*s", (int)strcspn(e, "\n"), e);
	}
	hl_error_clear();
	rc = 0;
out:
	hl_child_free(c);
	free(text);
	free(logs);
	free(out_path);
	free(err_path);
	return rc;
}

/* ---- deploy ---- */

int vmm_host_health(const char *dir, char *why, size_t size)
{
	struct host_state st;
	struct host *h = NULL;
	const char *status;
	int rc = -1;

	memset(&st, 0, sizeof(st));
	if (host_open(dir, &h) < 0 || host_state_load(h, &st) < 0)
		goto out;
	status = host_state_status(&st, time(NULL));
	rc = strcmp(status, HOST_STATUS_PASSED) == 0;
	snprintf(why, size, "%s%s%s%s", status, st.substatus[0] ? " (" : "", st.substatus,
		 st.substatus[0] ? ")" : "");
out:
	host_state_release(&st);
	host_close(h);
	return rc;
}

/* The text after "cannot provision VM 'NAME': " in the verb's error WHY (WHY itself when absent). */
static const char *provision_reason(const char *why)
{
	const char *p = strstr(why, "cannot provision VM '");

	if (p && (p = strstr(p, "': ")))
		return p + 3;
	return why;
}

/* One host's turn: what happened to it. */
enum host_turn { TURN_PLACED, TURN_SKIPPED, TURN_FAILED, TURN_BAD_INPUT, TURN_ERROR };

/* Try host HOST (name NAME, folder DIR): attestation, then provisioning and the start. */
static enum host_turn try_host(const char *vmm, const struct vmm_deploy *d, const char *name,
			       const char *dir, json_t **result, char *why, size_t size)
{
	const char *args[32];
	char log[160], prefix[96], wait[16], *out = NULL, *vmdir = NULL;
	enum host_turn turn = TURN_ERROR;
	size_t n = 0;
	int health, status;

	*result = NULL;
	snprintf(prefix, sizeof(prefix), "vmm deploy: %s: ", name);
	health = vmm_host_health(dir, why, size);
	if (health == 0) {
		/* not Passed as recorded: ask the host for a fresh attestation */
		snprintf(log, sizeof(log), "%s.%s.attest", d->name, name);
		if (d->progress)
			fprintf(d->progress, "%sattestation status %s: asking for a fresh one\n",
				prefix, why);
		if (run_verb(vmm, log, (const char *const[]){ "host", "test-client-configuration",
			     "--dir", dir, "--timeout", VMM_ATTEST_TIMEOUT, "--json", NULL }, NULL,
			     prefix, &status, &out, why, size) < 0)
			return TURN_ERROR;
		free(out);
		out = NULL;
		health = vmm_host_health(dir, why, size);
	}
	if (health < 0) {
		snprintf(why, size, "%s", hl_error_last());
		return TURN_FAILED;
	}
	if (health == 0)
		return TURN_SKIPPED;
	/* a VM of that name there already is not ours to replace */
	if (vfmt(&vmdir, "%s/vms/%s", dir, d->name) < 0)
		return TURN_ERROR;
	if (hl_file_exists(vmdir) == 1) {
		snprintf(why, size, "it has a VM named '%s' already", d->name);
		free(vmdir);
		return TURN_SKIPPED;
	}
	if (d->progress)
		fprintf(d->progress, "%sattestation Passed: provisioning '%s' (Initialize-ShieldedVM)\n",
			prefix, d->name);
	args[n++] = "host";
	args[n++] = "new-shielded-vm";
	args[n++] = "--dir";
	args[n++] = dir;
	args[n++] = "--name";
	args[n++] = d->name;
	args[n++] = "--template";
	args[n++] = d->template;
	args[n++] = "--pdk";
	args[n++] = d->pdk;
	if (d->fsk) {
		args[n++] = "--fsk";
		args[n++] = d->fsk;
	}
	if (d->accel) {
		args[n++] = "--accel";
		args[n++] = d->accel;
	}
	if (d->guest) {
		args[n++] = "--guest";
		args[n++] = d->guest;
	}
	if (d->wait_s > 0) {
		snprintf(wait, sizeof(wait), "%d", d->wait_s);
		args[n++] = "--wait-seconds";
		args[n++] = wait;
	}
	args[n++] = "--start";
	args[n++] = "--json";
	args[n] = NULL;
	snprintf(log, sizeof(log), "%s.%s", d->name, name);
	if (run_verb(vmm, log, args, d->progress, prefix, &status, &out, why, size) < 0)
		goto out;
	if (status == 0) {
		if (hl_json_parse(out, strlen(out), VMM_VERB_OUT_MAX, result) < 0) {
			hl_error_wrap("VM '%s' was made and started on host '%s', but the host's "
				      "answer cannot be read", d->name, name);
			snprintf(why, size, "%s", hl_error_last());
			goto out;
		}
		turn = TURN_PLACED;
		goto out;
	}
	if (!why[0])
		snprintf(why, size, "`hgslab host new-shielded-vm` exited with status %d", status);
	memmove(why, provision_reason(why), strlen(provision_reason(why)) + 1);
	if (status == 2) {
		turn = TURN_BAD_INPUT;
		goto out;
	}
	turn = status == 4 ? TURN_SKIPPED : TURN_FAILED;
	/* a VM made on that host but not started stays there: do not make a second one */
	if (turn == TURN_FAILED && hl_file_exists(vmdir) == 1) {
		char again[VMM_REASON_MAX];

		snprintf(again, sizeof(again), "%s", why);
		snprintf(why, size, "VM '%s' was made on host '%s' but did not start: %s", d->name,
			 name, again);
		turn = TURN_ERROR;
		hl_error("%s", why);
	}
out:
	free(out);
	free(vmdir);
	return turn;
}

/* Record the placement of RESULT (host DIR) in VMM. */
static int placement_save(const char *vmm, const struct vmm_deploy *d, const char *dir,
			  const json_t *result)
{
	json_t *list = NULL, *p = NULL;
	char when[HL_JSON_TIME_SIZE];
	int lock = -1, rc = -1;

	if (hl_json_time_format(time(NULL), when) < 0 || lock_take(vmm, "vmm.lock", 0, &lock) < 0 ||
	    doc_load(vmm, &doc_placements, &list) < 0)
		goto out;
	p = json_pack("{s:s, s:s, s:O, s:s, s:O?, s:O?, s:O?, s:s, s:O}", "vm", d->name, "cloud",
		      d->cloud, "host", json_object_get(result, "Host"), "host_dir", dir, "template",
		      json_object_get(result, "Template"), "policy",
		      json_object_get(result, "Policy"), "computer_name",
		      json_object_get(result, "ComputerName"), "placed_at", when, "skipped",
		      json_object_get(result, "Skipped"));
	if (!p || json_array_append(list, p) < 0) {
		hl_error("out of memory");
		goto out;
	}
	rc = doc_save(vmm, &doc_placements, list);
out:
	lock_drop(lock);
	json_decref(p);
	json_decref(list);
	return rc;
}

int vmm_deploy(const char *vmm, const struct vmm_deploy *d, json_t **out)
{
	json_t *clouds = NULL, *placements = NULL, *cloud, *hosts, *e, *skipped = json_array();
	json_t *result = NULL, *placed = NULL;
	const char *placed_dir = NULL;
	char why[VMM_REASON_MAX], *lockname = NULL, *all = NULL;
	double t0 = hl_clock_s();
	int lock = -1, rc = -1, failed = 0;
	size_t i;

	*out = NULL;
	if (!skipped)
		return hl_error("out of memory");
	if (vmm_name_cloud(d->cloud) < 0 || vmm_clouds(vmm, &clouds) < 0)
		goto out;
	if (!(cloud = list_find(clouds, "name", d->cloud))) {
		hl_error("no cloud '%s' in '%s' (make it with `hgslab vmm new-cloud`)", d->cloud, vmm);
		goto out;
	}
	/* one deploy of a VM name at a time, and never a second placement of it */
	if (vfmt(&lockname, ".deploy-%s.lock", d->name) < 0)
		goto out;
	if (lock_take(vmm, lockname, 1, &lock) < 0) {
		hl_error("VM '%s' is being deployed by another process now", d->name);
		goto out;
	}
	if (vmm_placements(vmm, &placements) < 0)
		goto out;
	if ((e = list_find(placements, "vm", d->name))) {
		hl_error("VM '%s' is already placed on host '%s' (cloud '%s')", d->name,
			 json_string_value(json_object_get(e, "host")),
			 json_string_value(json_object_get(e, "cloud")));
		goto out;
	}
	hosts = json_object_get(cloud, "hosts");
	json_array_foreach(hosts, i, e) {
		const char *name = json_string_value(json_object_get(e, "name"));
		const char *dir = json_string_value(json_object_get(e, "dir"));
		enum host_turn turn;
		char *line = NULL;

		if (!name || !dir) {
			hl_error("cloud '%s' in '%s' is damaged: host %zu has no name or folder",
				 d->cloud, vmm, i + 1);
			goto out;
		}
		why[0] = '\0';
		turn = try_host(vmm, d, name, dir, &result, why, sizeof(why));
		if (turn == TURN_PLACED) {
			placed_dir = dir;
			break;
		}
		if (turn == TURN_ERROR)
			goto out;
		if (turn == TURN_BAD_INPUT) {
			hl_error("%s", why);
			rc = VMM_BAD_INPUT;
			goto out;
		}
		failed |= turn == TURN_FAILED;
		if (vfmt(&line, "%s: %s", name, why) < 0 ||
		    json_array_append_new(skipped, json_string(line)) < 0) {
			free(line);
			hl_error("out of memory");
			goto out;
		}
		if (d->progress)
			fprintf(d->progress, "vmm deploy: %s skipped: %s\n", name, why);
		free(line);
	}
	if (result) {
		/* the host's answer, with the cloud and the hosts skipped on the way */
		placed = json_pack("{s:s, s:s, s:O, s:s, s:O?, s:O?, s:O?, s:O?, s:O, s:f}", "Name",
				   d->name, "Cloud", d->cloud, "Host", json_object_get(result, "Host"),
				   "State", "Running", "ComputerName",
				   json_object_get(result, "ComputerName"), "Template",
				   json_object_get(result, "Template"), "Policy",
				   json_object_get(result, "Policy"), "Workload",
				   json_object_get(result, "Workload"), "Skipped", skipped, "Seconds",
				   hl_clock_s() - t0);
		if (!placed) {
			hl_error("VM '%s' runs on host '%s', but its answer lacks a member",
				 d->name, placed_dir);
			goto out;
		}
		if (placement_save(vmm, d, placed_dir, placed) < 0)
			goto out;
		*out = placed;
		placed = NULL;
		rc = 0;
		goto out;
	}
	/* no host took it: every host's reason */
	for (i = 0; i < json_array_size(skipped); i++) {
		char *n = NULL;

		if (vfmt(&n, "%s%s%s", all ? all : "", all ? "; " : "",
			 json_string_value(json_array_get(skipped, i))) < 0)
			goto out;
		free(all);
		all = n;
	}
	hl_error("no host of cloud '%s' %s VM '%s': %s", d->cloud,
		 failed ? "could take" : "qualifies for", d->name, all ? all : "the cloud has no host");
	if (!failed) {
		*out = json_pack("{s:s, s:s, s:n, s:s, s:O, s:f}", "Name", d->name, "Cloud", d->cloud,
				 "Host", "State", "Refused", "Skipped", skipped, "Seconds",
				 hl_clock_s() - t0);
		rc = VMM_REFUSED;
	}
out:
	lock_drop(lock);
	free(lockname);
	free(all);
	json_decref(result);
	json_decref(placed);
	json_decref(skipped);
	json_decref(clouds);
	json_decref(placements);
	return rc;
}
