/*
 * provision.c - a new shielded VM on a guarded host from a protected
 * template disk and the tenant's shielding data (hosts/provision.h):
 * the status file of a run, the host's own check of the files, the
 * staging folder with its cleanup (on failure, on a signal, and by the next
 * run), the specialize boot on the VM launcher (vm/launch.h) with its
 * exchange on the agent channel, and the install into vms/VM.
 *
 * The guest checks everything again itself (guest/template.c): the host's
 * check only refuses early and says why, it protects nothing.  The secrets
 * key goes to the guest only after it reported `verified`.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "hosts/provision.h"
#include "hosts/vm.h"
#include "lib/child.h"
#include "lib/clock.h"
#include "lib/err.h"
#include "lib/fileio.h"
#include "lib/json.h"
#include "lib/labclock.h"
#include "lib/staging.h"
#include "proto/keyprotector.h"
#include "proto/names.h"
#include "vm/bundle.h"
#include "vm/launch.h"
#include "vm/template.h"

#define STAGING_PREFIX ".provision-"
#define STATUS_FILE "provisioning.json"
/*
 * A run's own command line names its verb: how a live run is told from a
 * recycled pid.  With --start the VM keeper (`host keep-vm`) takes the run
 * over from new-shielded-vm (hosts_provision_adopt).
 */
#define RUN_VERB "new-shielded-vm"
#define KEEPER_VERB "keep-vm"
/* Bound on one write of the host's lines to the guest. */
#define SEND_WAIT_MS 10000

/* Each phase's name and progress, in enum order. */
static const struct {
	const char *name;
	int progress;
} phases[] = {
	[HOSTS_PROVISION_CHECKING] = { "Checking", 5 },
	[HOSTS_PROVISION_RELEASING_KEY] = { "ReleasingKey", 15 },
	[HOSTS_PROVISION_BOOTING] = { "Booting", 25 },
	[HOSTS_PROVISION_VERIFYING] = { "VerifyingTemplate", 40 },
	[HOSTS_PROVISION_SPECIALIZING] = { "Specializing", 70 },
	[HOSTS_PROVISION_INSTALLING] = { "Installing", 90 },
	[HOSTS_PROVISION_PROVISIONED] = { "Provisioned", 100 },
	[HOSTS_PROVISION_FAILED] = { "Failed", -1 },
};

/* A run.  Invariant: staging is set exactly while the staging folder exists. */
struct hosts_provision {
	const struct host *h;
	char name[HL_NAME_VM_SIZE];
	char *vms;                 /* HOSTDIR/vms */
	char *status_path;         /* vms/.provision-NAME.json */
	char *staging;             /* vms/.provision-XXXXXX while it exists */
	json_t *status;
};

/* "A/B" malloc'd, NULL when out of memory. */
static char *join(const char *a, const char *b)
{
	char *p;

	return asprintf(&p, "%s/%s", a, b) < 0 ? NULL : p;
}

/* ---- what a signal leaves behind: nothing but a Failed status ---- */

/*
 * While a staging folder exists, SIGINT, SIGTERM and SIGHUP stop the run's
 * children (lib/child), remove the folder and write the run's status as
 * Failed, then end the process by the same signal.  Only async-signal-safe
 * calls: the paths and the Failed status text are prepared beforehand.
 */
static const int run_signals[] = { SIGINT, SIGTERM, SIGHUP };
static struct sigaction run_old[3];
static int run_handlers;
static char sig_staging[PATH_MAX];
static char sig_status_path[PATH_MAX];
static char sig_status_text[8192];
static volatile sig_atomic_t sig_status_len;

/* SIGINT/SIGTERM/SIGHUP during a run: children, staging folder, status; then die by SIG. */
static void on_run_signal(int sig)
{
	int fd;

	hl_child_cleanup_all(-1);
	if (sig_staging[0])
		hl_staging_remove_sigsafe(sig_staging);
	if (sig_status_len > 0 &&
	    (fd = open(sig_status_path, O_WRONLY | O_TRUNC | O_CREAT | O_CLOEXEC, 0644)) >= 0) {
		if (write(fd, sig_status_text, (size_t)sig_status_len) < 0)
			sig_status_len = 0;
		close(fd);
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

/* Install the run's signal handlers for staging folder STAGING. */
static void signals_install(const char *staging)
{
	struct sigaction sa;

	snprintf(sig_staging, sizeof(sig_staging), "%s", staging);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_run_signal;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < 3; i++)
		sigaddset(&sa.sa_mask, run_signals[i]);
	for (size_t i = 0; i < 3; i++)
		sigaction(run_signals[i], &sa, &run_old[i]);
	run_handlers = 1;
}

/* Put the handlers back as they were before the run. */
static void signals_restore(void)
{
	if (run_handlers)
		for (size_t i = 0; i < 3; i++)
			sigaction(run_signals[i], &run_old[i], NULL);
	run_handlers = 0;
	sig_staging[0] = '\0';
}

/* ---- the status file ---- */

/*
 * Write P's status (atomically), and prepare the Failed text a signal would
 * write.  The run's signals wait until both are done: a signal in the middle
 * would leave the atomic write's temporary file behind, or a half-copied
 * Failed text.
 */
static int status_write(struct hosts_provision *p)
{
	char now[32], *text = NULL, *failed = NULL;
	sigset_t block, old;
	json_t *f = NULL;
	int rc;

	sigemptyset(&block);
	for (size_t i = 0; i < sizeof(run_signals) / sizeof(run_signals[0]); i++)
		sigaddset(&block, run_signals[i]);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	hl_labclock_format(time(NULL), now, sizeof(now));
	json_object_set_new(p->status, "updated", json_string(now));
	if (hl_json_dump_pretty(p->status, &text) < 0) {
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		return -1;
	}
	rc = hl_file_write(p->status_path, text, strlen(text), HL_FILE_MODE_PUBLIC);
	/* what a signal writes instead: this state, Failed */
	if ((f = json_deep_copy(p->status)) && !json_object_set_new(f, "phase", json_string("Failed")) &&
	    !json_object_set_new(f, "status", json_string("Failed")) &&
	    !json_object_set_new(f, "staging", json_null()) &&
	    !json_object_set_new(f, "error", json_string("the run was interrupted by a signal; "
						       "nothing of it is left")) &&
	    hl_json_dump_pretty(f, &failed) == 0 && strlen(failed) < sizeof(sig_status_text)) {
		sig_status_len = 0;
		memcpy(sig_status_text, failed, strlen(failed));
		snprintf(sig_status_path, sizeof(sig_status_path), "%s", p->status_path);
		sig_status_len = (sig_atomic_t)strlen(failed);
	}
	json_decref(f);
	free(failed);
	free(text);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return rc;
}

/* 1 when status S is of a run still going (its phase not final and its process alive). */
static int status_live(const json_t *s)
{
	const char *st = json_string_value(json_object_get(s, "status"));
	json_int_t pid = 0;

	if (!st || strcmp(st, "InProgress"))
		return 0;
	hl_json_get_int_opt(s, "pid", 0, &pid);
	return pid > 0 && pid <= INT_MAX && (hosts_proc_runs((pid_t)pid, RUN_VERB) ||
					     hosts_proc_runs((pid_t)pid, KEEPER_VERB));
}

/* A status S of a run that is gone before it finished, shown as Failed (in place). */
static void status_settle(json_t *s)
{
	const char *st = json_string_value(json_object_get(s, "status"));

	if (!st || strcmp(st, "InProgress") || status_live(s))
		return;
	json_object_set_new(s, "phase", json_string("Failed"));
	json_object_set_new(s, "status", json_string("Failed"));
	json_object_set_new(s, "error", json_string("the provisioning run ended before it finished "
						    "(its process is gone: killed?)"));
}

/*
 * Clean VMS of what runs whose process is gone left: their staging folders
 * are removed and their status files made Failed.  A folder named by a live
 * run's status is kept.
 */
static void clean_stale(const char *vms)
{
	json_t *live = json_array();
	struct dirent *e;
	DIR *d;

	if (!live || !(d = opendir(vms))) {
		json_decref(live);
		return;
	}
	/* first the status files: settle the dead, remember the live runs' folders */
	while ((e = readdir(d))) {
		size_t n = strlen(e->d_name);
		char *path;
		json_t *s = NULL;

		if (strncmp(e->d_name, STAGING_PREFIX, strlen(STAGING_PREFIX)) || n < 5 ||
		    strcmp(e->d_name + n - 5, ".json") || !(path = join(vms, e->d_name)))
			continue;
		if (vm_bundle_read_json(path, 1, &s) == 0 && s) {
			const char *st = json_string_value(json_object_get(s, "status"));

			if (status_live(s)) {
				json_array_append(live, json_object_get(s, "staging"));
			} else if (st && !strcmp(st, "InProgress")) {
				char *text = NULL;

				status_settle(s);
				json_object_set_new(s, "staging", json_null());
				if (hl_json_dump_pretty(s, &text) == 0)
					hl_file_write(path, text, strlen(text), HL_FILE_MODE_PUBLIC);
				free(text);
			}
		}
		json_decref(s);
		free(path);
	}
	rewinddir(d);
	/* then the folders no live run owns */
	while ((e = readdir(d))) {
		size_t n = strlen(e->d_name), i, owned = 0;
		json_t *v;
		char *path;
		struct stat st;

		if (strncmp(e->d_name, STAGING_PREFIX, strlen(STAGING_PREFIX)) ||
		    (n >= 5 && !strcmp(e->d_name + n - 5, ".json")) || !(path = join(vms, e->d_name)))
			continue;
		json_array_foreach(live, i, v)
			if (json_is_string(v) && !strcmp(json_string_value(v), e->d_name))
				owned = 1;
		if (!owned && lstat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
			fprintf(stderr, "host new-shielded-vm: removing '%s', left by a run that did "
				"not finish\n", path);
			hl_file_rmtree(path);
		}
		free(path);
	}
	closedir(d);
	json_decref(live);
}

/* A run of VM NAME on H into *OUT: its paths, no status yet. */
static int provision_new(const struct host *h, const char *name, struct hosts_provision **out)
{
	struct hosts_provision *p;

	*out = NULL;
	if (hl_name_vm(name) < 0)
		return -1;
	if (!(p = calloc(1, sizeof(*p))))
		return hl_error("out of memory");
	p->h = h;
	snprintf(p->name, sizeof(p->name), "%s", name);
	if (!(p->vms = join(h->dir, "vms")) ||
	    asprintf(&p->status_path, "%s/" STAGING_PREFIX "%s.json", p->vms, name) < 0) {
		p->status_path = NULL;
		hosts_provision_end(p);
		return hl_error("out of memory");
	}
	*out = p;
	return 0;
}

/* Begin a run. */
int hosts_provision_begin(const struct host *h, const char *name, struct hosts_provision **out)
{
	struct hosts_provision *p = NULL;
	json_t *old = NULL;
	char now[32], *vmdir = NULL;
	int rc = -1;

	*out = NULL;
	if (provision_new(h, name, &p) < 0)
		return -1;
	if (!(vmdir = join(p->vms, name))) {
		hl_error("out of memory");
		goto out;
	}
	if (hl_file_mkdirs(p->vms, 0700) < 0)
		goto out;
	if (hl_file_exists(vmdir) != 0) {
		hl_error("host '%s' already has VM '%s'", h->name, name);
		goto out;
	}
	if (vm_bundle_read_json(p->status_path, 1, &old) < 0) {
		hl_error_clear();
	} else if (old && status_live(old)) {
		json_int_t pid = 0;

		hl_json_get_int_opt(old, "pid", 0, &pid);
		hl_error("VM '%s' is being provisioned on host '%s' by process %lld (see `hgslab host "
			 "get-provisioning-status`)", name, h->name, (long long)pid);
		goto out;
	}
	clean_stale(p->vms);
	hl_labclock_format(time(NULL), now, sizeof(now));
	p->status = json_pack("{s:i, s:s, s:s, s:i, s:s, s:I, s:n, s:s, s:s, s:n, s:n, s:n}",
			      "version", 1, "name", name, "phase", phases[0].name,
			      "progress", phases[0].progress, "status", "InProgress",
			      "pid", (json_int_t)getpid(), "staging", "started", now, "updated", now,
			      "template", "computer_name", "error");
	if (!p->status) {
		hl_error("out of memory");
		goto out;
	}
	if (status_write(p) < 0)
		goto out;
	*out = p;
	p = NULL;
	rc = 0;
out:
	json_decref(old);
	free(vmdir);
	hosts_provision_end(p);
	return rc;
}

/* Take over the run of VM NAME that this process's parent began. */
int hosts_provision_adopt(const struct host *h, const char *name, struct hosts_provision **out)
{
	struct hosts_provision *p = NULL;
	const char *st;
	json_int_t pid = 0;
	int rc = -1;

	*out = NULL;
	if (provision_new(h, name, &p) < 0)
		return -1;
	if (vm_bundle_read_json(p->status_path, 1, &p->status) < 0)
		goto out;
	if (!p->status || !(st = json_string_value(json_object_get(p->status, "status"))) ||
	    strcmp(st, "InProgress") || hl_json_get_int_opt(p->status, "pid", 0, &pid) < 0 ||
	    pid != (json_int_t)getppid()) {
		hl_error("no provisioning run of VM '%s' on host '%s' by the process that started "
			 "this VM keeper", name, h->name);
		goto out;
	}
	json_object_set_new(p->status, "pid", json_integer((json_int_t)getpid()));
	if (status_write(p) < 0)
		goto out;
	*out = p;
	p = NULL;
	rc = 0;
out:
	hosts_provision_end(p);
	return rc;
}

/* Record PHASE. */
int hosts_provision_phase(struct hosts_provision *p, enum hosts_provision_phase phase)
{
	json_object_set_new(p->status, "phase", json_string(phases[phase].name));
	json_object_set_new(p->status, "progress", json_integer(phases[phase].progress));
	json_object_set_new(p->status, "status", json_string(phase == HOSTS_PROVISION_PROVISIONED ?
							      "Completed" : "InProgress"));
	return status_write(p);
}

/* Record the failure. */
void hosts_provision_fail(struct hosts_provision *p, const char *error)
{
	if (!p)
		return;
	json_object_set_new(p->status, "phase", json_string("Failed"));
	json_object_set_new(p->status, "status", json_string("Failed"));
	json_object_set_new(p->status, "staging", json_null());
	json_object_set_new(p->status, "error", json_string(error));
	status_write(p);
	sig_status_len = 0;
}

/* End P. */
void hosts_provision_end(struct hosts_provision *p)
{
	if (!p)
		return;
	if (p->staging)
		hl_file_rmtree(p->staging);
	sig_status_len = 0;
	json_decref(p->status);
	free(p->vms);
	free(p->status_path);
	free(p->staging);
	free(p);
}

/* The status of NAME's last run. */
int hosts_provision_status(const struct host *h, const char *name, json_t **out)
{
	char *done = NULL, *running = NULL;
	json_t *s = NULL;
	int rc = -1;

	*out = NULL;
	if (hl_name_vm(name) < 0)
		return -1;
	if (asprintf(&done, "%s/vms/%s/" STATUS_FILE, h->dir, name) < 0 ||
	    asprintf(&running, "%s/vms/" STAGING_PREFIX "%s.json", h->dir, name) < 0) {
		done = running = NULL;
		return hl_error("out of memory");
	}
	if (vm_bundle_read_json(done, 1, &s) < 0 || (!s && vm_bundle_read_json(running, 1, &s) < 0))
		goto out;
	if (!s) {
		hl_error("VM '%s' was never provisioned on host '%s' (`hgslab host new-shielded-vm` "
			 "makes one)", name, h->name);
		goto out;
	}
	status_settle(s);
	*out = s;
	rc = 0;
out:
	free(done);
	free(running);
	return rc;
}

/* ---- the host's check ---- */

/* Release IN. */
void hosts_provision_input_release(struct hosts_provision_input *in)
{
	if (!in)
		return;
	free(in->template_path);
	hl_vsc_free(in->vsc);
	hl_buf_free(&in->pdk_bytes);
	hl_pdk_free(in->pdk);
	hl_buf_free(&in->fsk_bytes);
	hl_fsk_free(in->fsk);
	memset(in, 0, sizeof(*in));
}

/* Read file PATH (at most MAX bytes) into OUT; WHAT names it. */
static int read_input(const char *path, size_t max, const char *what, struct hl_buf *out)
{
	char *data = NULL;
	size_t len = 0;

	if (hl_file_read(path, max, &data, &len) < 0)
		return hl_error_wrap("cannot read the %s", what);
	out->data = (unsigned char *)data;
	out->len = len;
	return 0;
}

/* The host's check. */
int hosts_provision_check(const char *template, const char *pdk, const char *fsk,
			  struct hosts_provision_input *in)
{
	struct vm_template *t = NULL;
	int rc = HOSTS_PROVISION_BAD_INPUT;

	memset(in, 0, sizeof(*in));
	if (hl_file_abspath(template, &in->template_path) < 0 ||
	    read_input(pdk, HL_PDK_MAX_SIZE, "shielding data", &in->pdk_bytes) < 0)
		goto out;
	if (hl_pdk_parse(in->pdk_bytes.data, in->pdk_bytes.len, &in->pdk) < 0) {
		hl_error_wrap("'%s'", pdk);
		goto out;
	}
	if (fsk && read_input(fsk, HL_FSK_MAX_SIZE, "specialization data", &in->fsk_bytes) < 0)
		goto out;
	if (fsk && hl_fsk_parse(in->fsk_bytes.data, in->fsk_bytes.len, &in->fsk) < 0) {
		hl_error_wrap("'%s'", fsk);
		goto out;
	}
	if (vm_template_open(in->template_path, &t) < 0)
		goto out;
	rc = -1;
	if (hl_pdk_verify(in->pdk, NULL) < 0) {
		hl_error_wrap("the shielding data does not verify");
		goto out;
	}
	if (vm_template_verify(t) < 0 || hl_pdk_match_template(in->pdk, t->vsc, &in->qualifier) < 0)
		goto out;
	in->vsc = t->vsc;
	in->image_bytes = t->layout.image_bytes;
	t->vsc = NULL;
	rc = 0;
out:
	vm_template_free(t);
	if (rc < 0)
		hosts_provision_input_release(in);
	return rc;
}

/* ---- the run ---- */

/* The host's first line to the guest: {"pdk":base64,"fsk":base64|null} and a newline. */
static int first_line(const struct hosts_provision_input *in, char **out)
{
	json_t *o = json_object();
	char *text = NULL;
	int rc = -1;

	*out = NULL;
	if (!o || hl_json_set_base64(o, "pdk", in->pdk_bytes.data, in->pdk_bytes.len) < 0 ||
	    (in->fsk_bytes.data ? hl_json_set_base64(o, "fsk", in->fsk_bytes.data,
						     in->fsk_bytes.len) < 0
	     : json_object_set_new(o, "fsk", json_null()) < 0) ||
	    hl_json_dump(o, &text) < 0)
		goto out;
	if (asprintf(out, "%s\n", text) < 0) {
		*out = NULL;
		hl_error("out of memory");
		goto out;
	}
	rc = 0;
out:
	json_decref(o);
	free(text);
	return rc;
}

/*
 * Send the secrets KEY to the guest as the line {"secrets_key":base64};
 * every copy of it made here is cleansed (the caller cleanses KEY).
 */
static int send_secrets_key(struct vm_launch_proc *lp, const unsigned char key[HL_PDK_SECRETS_KEY_LEN])
{
	static const char head[] = "{\"secrets_key\":\"", tail[] = "\"}\n";
	struct hl_buf b64 = { NULL, 0 }, line = { NULL, 0 };
	int rc = -1;

	if (hl_crypto_base64_encode(key, HL_PDK_SECRETS_KEY_LEN, &b64) < 0)
		goto out;
	line.len = sizeof(head) - 1 + strlen((char *)b64.data) + sizeof(tail) - 1;
	if (!(line.data = malloc(line.len + 1))) {
		line.len = 0;
		hl_error("out of memory");
		goto out;
	}
	snprintf((char *)line.data, line.len + 1, "%s%s%s", head, (char *)b64.data, tail);
	rc = vm_launch_send(lp, line.data, line.len, SEND_WAIT_MS);
out:
	hl_buf_free(&b64);
	hl_buf_free(&line);
	return rc;
}

/* Seconds left until DEADLINE (ms), at least 1. */
static int left_s(long long deadline)
{
	long long left = (deadline - hl_clock_ms() + 999) / 1000;

	return left < 1 ? 1 : left > INT_MAX ? INT_MAX : (int)left;
}

/* Make the staging folder with an empty disk for an image of IMAGE_BYTES and a fresh vtpm/. */
static int staging_make(struct hosts_provision *p, uint64_t image_bytes)
{
	char *disk = NULL, *vtpm = NULL;
	int fd, rc = -1;

	if (asprintf(&p->staging, "%s/" STAGING_PREFIX "XXXXXX", p->vms) < 0) {
		p->staging = NULL;
		return hl_error("out of memory");
	}
	if (!mkdtemp(p->staging)) {
		hl_error_errno("cannot create a staging folder in '%s'", p->vms);
		free(p->staging);
		p->staging = NULL;
		return -1;
	}
	signals_install(p->staging);
	json_object_set_new(p->status, "staging", json_string(strrchr(p->staging, '/') + 1));
	if (!(disk = join(p->staging, "disk.img")) || !(vtpm = join(p->staging, "vtpm"))) {
		hl_error("out of memory");
		goto out;
	}
	if (mkdir(vtpm, 0700) < 0) {
		hl_error_errno("cannot create '%s'", vtpm);
		goto out;
	}
	if ((fd = open(disk, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0 ||
	    ftruncate(fd, (off_t)(image_bytes + VM_LAUNCH_LUKS_ROOM)) < 0 || close(fd) < 0) {
		hl_error_errno("cannot create the VM's disk '%s'", disk);
		goto out;
	}
	rc = 0;
out:
	free(disk);
	free(vtpm);
	return rc;
}

/*
 * Install the provisioned staging folder as vms/NAME with its config, KP,
 * status and the .pdk itself as policy.sig: the tenant's signed word on the
 * VM's policy, which start-vm and connect-vm check again (hosts_vm_policy;
 * its secrets are ciphertext under a key only KPS's TK gives).  With
 * RUNNING the guest goes on in it: its run/ folder (sockets, logs) stays.
 */
static int install(struct hosts_provision *p, const struct hosts_provision_input *in, int running)
{
	char *kp = NULL, *pdk = NULL, *status = NULL, *vmdir = NULL, *text = NULL;
	int rc = -1;

	if (!(kp = join(p->staging, "key-protector.kp")) ||
	    !(pdk = join(p->staging, VM_BUNDLE_POLICY)) ||
	    !(status = join(p->staging, STATUS_FILE)) || !(vmdir = join(p->vms, p->name))) {
		hl_error("out of memory");
		goto out;
	}
	if (vm_bundle_config_write(p->staging, p->name, in->pdk->policy, in->pdk->kp->id,
				   (long long)(in->image_bytes + VM_LAUNCH_LUKS_ROOM)) < 0 ||
	    hl_file_write(kp, in->pdk->kp_bytes.data, in->pdk->kp_bytes.len,
			  HL_FILE_MODE_PUBLIC) < 0 ||
	    hl_file_write(pdk, in->pdk_bytes.data, in->pdk_bytes.len, HL_FILE_MODE_PUBLIC) < 0)
		goto out;
	if (!running)
		vm_launch_scratch_remove(p->staging);
	json_object_set_new(p->status, "phase", json_string(phases[HOSTS_PROVISION_PROVISIONED].name));
	json_object_set_new(p->status, "progress",
			    json_integer(phases[HOSTS_PROVISION_PROVISIONED].progress));
	json_object_set_new(p->status, "status", json_string("Completed"));
	json_object_set_new(p->status, "staging", json_null());
	if (hl_json_dump_pretty(p->status, &text) < 0 ||
	    hl_file_write(status, text, strlen(text), HL_FILE_MODE_PUBLIC) < 0)
		goto out;
	if (rename(p->staging, vmdir) < 0) {
		hl_error_errno("cannot install VM '%s'", vmdir);
		goto out;
	}
	free(p->staging);
	p->staging = NULL;
	signals_restore();
	sig_status_len = 0;
	if (unlink(p->status_path) < 0 && errno != ENOENT)
		fprintf(stderr, "host new-shielded-vm: cannot remove '%s': %s\n", p->status_path,
			strerror(errno));
	rc = 0;
out:
	free(kp);
	free(pdk);
	free(status);
	free(vmdir);
	free(text);
	return rc;
}

/*
 * A run that failed: its staging folder removed, the signal handlers put
 * back, its status Failed with the reason, which stays the error message.
 */
static void run_failed(struct hosts_provision *p)
{
	char why[HL_ERROR_MAX];

	snprintf(why, sizeof(why), "%s", hl_error_last());
	if (p->staging) {
		hl_file_rmtree(p->staging);
		free(p->staging);
		p->staging = NULL;
	}
	signals_restore();
	hosts_provision_fail(p, why);
	hl_error("%s", why);
}

/* The staging folder of P, made for IN if it is not yet. */
int hosts_provision_stage(struct hosts_provision *p, const struct hosts_provision_input *in,
			  const char **staging)
{
	*staging = NULL;
	if (!p->staging && staging_make(p, in->image_bytes) < 0) {
		run_failed(p);
		return -1;
	}
	*staging = p->staging;
	return 0;
}

/*
 * The specialize boot of P (its staging folder made first when it is not
 * yet): the guest launched with TK as its vTPM state key, the exchange, to
 * the guest's `provisioned` event, into *EV; the running launch into *LP.
 * TK_DROP (may be NULL: the caller keeps the TK) is cleansed as soon as
 * swtpm has the TK.  THEN_RUN: the guest goes on into run mode (the console
 * and QMP of a started VM, the sockets in staging/run/).
 */
static int specialize_boot(struct hosts_provision *p, const struct hosts_provision_input *in,
			   const struct hl_buf *tk, struct hl_buf *tk_drop,
			   const struct hosts_provision_opts *o, int then_run,
			   struct vm_launch_proc **lp, json_t **ev)
{
	unsigned char skey[HL_PDK_SECRETS_KEY_LEN];
	struct vm_launch l = { 0 };
	char *disk = NULL, *vtpm = NULL, *run = NULL, *line = NULL, what[HL_VSC_NAME_SIZE + 32];
	const char *cname;
	long long deadline;
	int rc = -1;

	*lp = NULL;
	*ev = NULL;
	snprintf(what, sizeof(what), "%s %s", in->vsc->name, in->vsc->disk_version_text);
	json_object_set_new(p->status, "template", json_string(what));
	if (hosts_provision_phase(p, HOSTS_PROVISION_BOOTING) < 0 ||
	    (!p->staging && staging_make(p, in->image_bytes) < 0))
		goto out;
	if (!(disk = join(p->staging, "disk.img")) || !(vtpm = join(p->staging, "vtpm")) ||
	    !(run = then_run ? join(p->staging, "run") : strdup(p->staging))) {
		hl_error("out of memory");
		goto out;
	}
	if (then_run && hl_file_mkdirs(run, 0700) < 0)
		goto out;
	status_write(p);
	/* the secrets key now, so that the TK need not outlive swtpm's start (TK_DROP) */
	if (hl_pdk_secrets_key(tk->data, tk->len, in->pdk->id, skey) < 0)
		goto out;
	l.guest_dir = o->guest_dir;
	l.run_dir = run;
	l.vtpm_dir = vtpm;
	l.disk = disk;
	l.template_disk = in->template_path;
	l.mode = "specialize";
	l.then_run = then_run;
	l.accel = o->accel;
	/* a VM that goes on running gets the console and QMP of a started one (hosts/vm.h) */
	l.console = !then_run ? 1 : strcmp(in->pdk->policy, "shielded") ? 2 : 0;
	l.qmp = then_run;
	l.tk = tk;
	deadline = hl_clock_ms() + (long long)o->wait_s * 1000;
	if (vm_launch(&l, lp) < 0)
		goto out;
	if (tk_drop)
		/* swtpm has the TK now (read from its pipe before it answered) */
		hl_buf_free(tk_drop);
	if (vm_launch_await(*lp, "started", left_s(deadline), o->progress, NULL) < 0)
		goto out;
	/* the shielding data (not secret: its secrets are encrypted) and the .fsk */
	if (first_line(in, &line) < 0 || vm_launch_send(*lp, line, strlen(line), SEND_WAIT_MS) < 0 ||
	    hosts_provision_phase(p, HOSTS_PROVISION_VERIFYING) < 0 ||
	    vm_launch_await(*lp, "verified", left_s(deadline), o->progress, NULL) < 0)
		goto out;
	/* only now, the template checked inside the guest: the key to the secrets */
	if (send_secrets_key(*lp, skey) < 0)
		goto out;
	hl_crypto_cleanse(skey, sizeof(skey));
	if (hosts_provision_phase(p, HOSTS_PROVISION_SPECIALIZING) < 0 ||
	    vm_launch_await(*lp, "provisioned", left_s(deadline), o->progress, ev) < 0)
		goto out;
	if ((cname = json_string_value(json_object_get(*ev, "computer_name"))))
		json_object_set_new(p->status, "computer_name", json_string(cname));
	rc = 0;
out:
	hl_crypto_cleanse(skey, sizeof(skey));
	free(disk);
	free(vtpm);
	free(run);
	free(line);
	return rc;
}

/* The run. */
int hosts_provision_run(struct hosts_provision *p, const struct hosts_provision_input *in,
			const struct hl_buf *tk, const struct hosts_provision_opts *o,
			json_t **report)
{
	struct vm_launch_proc *lp = NULL;
	json_t *ev = NULL;
	int rc = -1;

	if (report)
		*report = NULL;
	if (specialize_boot(p, in, tk, NULL, o, 0, &lp, &ev) < 0)
		goto out;
	/* the guest powers off by itself; swtpm ends when QEMU goes */
	vm_launch_end(lp, 60000);
	vm_launch_proc_free(lp);
	lp = NULL;
	if (hosts_provision_phase(p, HOSTS_PROVISION_INSTALLING) < 0 || install(p, in, 0) < 0)
		goto out;
	if (report) {
		*report = ev;
		ev = NULL;
	}
	rc = 0;
out:
	vm_launch_proc_free(lp);
	if (rc < 0)
		run_failed(p);
	json_decref(ev);
	return rc;
}

/* The run that goes on as the VM's start (the VM keeper's, new-shielded-vm --start). */
int hosts_provision_keep(struct hosts_provision *p, const struct hosts_provision_input *in,
			 struct hl_buf *tk, const struct hosts_provision_opts *o,
			 struct vm_launch_proc **lp, json_t **report)
{
	json_t *ev = NULL;
	int rc = -1;

	*lp = NULL;
	*report = NULL;
	if (specialize_boot(p, in, tk, tk, o, 1, lp, &ev) < 0 ||
	    hosts_provision_phase(p, HOSTS_PROVISION_INSTALLING) < 0 || install(p, in, 1) < 0)
		goto out;
	*report = ev;
	ev = NULL;
	rc = 0;
out:
	if (rc < 0) {
		/* QEMU and swtpm first: the staging folder goes next */
		vm_launch_proc_free(*lp);
		*lp = NULL;
		hl_buf_free(tk);
		run_failed(p);
	}
	json_decref(ev);
	return rc;
}
