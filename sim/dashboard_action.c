/*
 * dashboard_action.c - the dashboard's teacher actions (sim/dashboard_int.h):
 * reboot a host into another profile, stop or start a VM, kill or restart an
 * HGS node, on a fabric `hgslab up` left running.
 *
 * Each action does what a person would type, through the same verbs the lab
 * runner calls (lab_execv: `hgslab host stop-vm`, `host set-profile`, `host
 * start-vm`; their logs in WORK/logs/ numbered from DASHBOARD_LOG_FIRST, so
 * they never overwrite the bring-up's), and starts services again as `up`
 * started them (lab_svc_start detached, readiness from their log), then
 * records the new pid in lab.json so `down` stops it.  Processes are found
 * by their pid files' locks (lib/child.h "Pid files"), never by name.
 *
 * A service started here outlives the dashboard, like `up`'s own: its
 * handle is kept, never freed (freeing an hl_child kills it), in a list that
 * stays reachable until the process exits.
 */
#include "sim/dashboard_int.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hgs/node.h"
#include "hosts/host.h"
#include "hosts/vm.h"
#include "lib/child.h"
#include "lib/served.h"
#include "proto/names.h"
#include "sim/lab.h"
#include "sim/verb.h"

/* The first number of the dashboard's verb logs in WORK/logs/ (the bring-up's are below). */
#define DASHBOARD_LOG_FIRST 500
/* Services started again here, at most (a class's worth of reboots). */
#define DASHBOARD_SVC_MAX 256

/* The services started here: kept until exit (see the file comment); guarded by svc_lock. */
static struct lab_svc *kept[DASHBOARD_SVC_MAX];
static size_t n_kept;
static int n_exec = DASHBOARD_LOG_FIRST;
static pthread_mutex_t svc_lock = PTHREAD_MUTEX_INITIALIZER;

/* A string member of O, or NULL. */
static const char *member(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

/* The lab.json entry of LIST named NAME, or NULL. */
static const json_t *entry_named(const json_t *lab, const char *list, const char *name)
{
	const json_t *e;
	size_t i;

	json_array_foreach(json_object_get(lab, list), i, e)
		if (name && member(e, "Name") && !strcmp(member(e, "Name"), name))
			return e;
	return NULL;
}

/* A lab that runs verbs in WORK (logs in WORK/logs/) and starts detached services. */
static int mini_lab(struct lab *L, const char *work)
{
	char self[PATH_MAX];

	memset(L, 0, sizeof(*L));
	verb_self(self, sizeof(self));
	L->self = strdup(self);
	L->work = strdup(work);
	L->detach = 1;
	if (!L->self || !L->work) {
		free(L->self);
		free(L->work);
		return hl_error("out of memory");
	}
	pthread_mutex_lock(&svc_lock);
	L->n_exec = n_exec;
	n_exec += 20;
	pthread_mutex_unlock(&svc_lock);
	return 0;
}

/* Free what mini_lab made. */
static void mini_lab_free(struct lab *L)
{
	free(L->self);
	free(L->work);
}

/*
 * Run `hgslab ARGS...`; its output (stdout, then stderr) appended to OUTPUT.
 * 0 when it exited 0, 1 when it ran and said no (OUTPUT says why), -1 when
 * it could not be run.
 */
static int run_verb(struct lab *L, const char *const *args, json_t *output)
{
	struct lab_result r;
	char line[4096];
	int rc;

	if (lab_execv(L, &r, NULL, args) < 0)
		return -1;
	snprintf(line, sizeof(line), "$ hgslab %s %s: exit %d\n%s%s", args[0], args[1], r.rc,
		 r.out ? r.out : "", r.err ? r.err : "");
	json_array_append_new(output, json_string(line));
	rc = r.rc == 0 ? 0 : 1;
	lab_result_clear(&r);
	return rc;
}

/* Start service ARGV (label, log WORK/logs/LOG, readiness READY) detached; its pid into *PID. */
static int svc_start(struct lab *L, const char *label, const char *log, const char *ready,
		     const char *const *argv, long *pid)
{
	struct lab_svc *svc = calloc(1, sizeof(*svc));
	char path[PATH_MAX];
	size_t i;

	if (!svc)
		return hl_error("out of memory");
	snprintf(svc->label, sizeof(svc->label), "%s", label);
	snprintf(path, sizeof(path), "%s/logs/%s", L->work, log);
	/* the argv strings must outlive the service's start: copies kept with it */
	for (i = 0; argv[i] && i < 11; i++)
		if (!(svc->argv[i] = strdup(argv[i])))
			goto oom;
	if (!(svc->log = strdup(path)))
		goto oom;
	svc->ready = ready;
	if (lab_svc_start(L, svc) < 0 || lab_svc_ready(svc) < 0) {
		hl_child_free(svc->child);
		goto fail;
	}
	*pid = svc->pid;
	pthread_mutex_lock(&svc_lock);
	if (n_kept < DASHBOARD_SVC_MAX) {
		kept[n_kept++] = svc;
		svc = NULL;
	}
	pthread_mutex_unlock(&svc_lock);
	if (svc) {
		/* no room to keep it: it runs on, unsupervised (its handle is dropped, not freed) */
		svc->child = NULL;
		goto fail;
	}
	return 0;
oom:
	hl_error("out of memory");
fail:
	if (svc) {
		for (i = 0; i < 12; i++)
			free((char *)svc->argv[i]);
		free(svc->log);
		free(svc);
	}
	return -1;
}

/* Stop the VMs running on host DIR (stop-vm each); their names appended to OUTPUT. */
static int stop_host_vms(struct lab *L, const char *dir, json_t *output)
{
	struct host *h = NULL;
	json_t *names = NULL, *name;
	size_t k;
	int rc = 0;

	if (host_open(dir, &h) < 0 || hosts_vm_list(h, &names) < 0) {
		host_close(h);
		return -1;
	}
	json_array_foreach(names, k, name) {
		const char *n = json_string_value(name);

		if (hosts_vm_keeper(h, n) <= 0)
			continue;
		if (run_verb(L, (const char *const[]){ "host", "stop-vm", "--dir", dir, "--name", n,
						      NULL }, output) < 0)
			rc = -1;
	}
	json_decref(names);
	host_close(h);
	return rc;
}

/* Stop the process that holds DIR/PIDFILE's lock (SIGTERM, then SIGKILL); SIG set: that signal only. */
static void stop_owner(const char *dir, const char *pidfile, int sig)
{
	pid_t pid = (pid_t)hl_served_pid(dir, pidfile);

	if (pid <= 0)
		return;
	if (sig) {
		kill(pid, sig);
		hl_proc_wait(&pid, 1, 5000);
	} else {
		hl_proc_stop(&pid, 1, 5000);
	}
}

/* reboot-host: VMs off, agent off, the new profile, the agent started as `up` did. */
static int act_reboot(struct lab *L, const json_t *lab, const json_t *req, json_t *output,
		      int *done)
{
	const char *name = member(req, "Host"), *profile = member(req, "Profile");
	const json_t *e = entry_named(lab, "Hosts", name);
	const char *dir;
	char label[96], log[96];
	long pid = 0;
	int rc;

	if (!e) {
		hl_error("no host '%s' in this lab", name ? name : "(none)");
		return -2;
	}
	dir = member(e, "Dir");
	if (stop_host_vms(L, dir, output) < 0)
		hl_error_clear();
	stop_owner(dir, HOST_PID_FILE, 0);
	if (profile && *profile) {
		rc = run_verb(L, (const char *const[]){ "host", "set-profile", "--dir", dir,
						       "--profile", profile, NULL }, output);
		if (rc < 0)
			return -1;
		if (rc > 0) {
			/* the verb said why (Output); the agent starts again with the profile it had */
			*done = 0;
		}
	}
	snprintf(label, sizeof(label), "host agent of %s", name);
	snprintf(log, sizeof(log), "host-%s.log", name);
	if (svc_start(L, label, log, "agent running",
		      (const char *const[]){ "host", "run", "--dir", dir, NULL }, &pid) < 0)
		return -1;
	if (lab_json_set_pid(L->work, "Hosts", name, pid) < 0)
		return -1;
	json_array_append_new(output, json_sprintf("host agent of %s started again (pid %ld)", name,
						   pid));
	return 0;
}

/* stop-vm / start-vm of VM NAME on the host that has it. */
static int act_vm(struct lab *L, const json_t *lab, const json_t *req, const char *guest,
		  int start, json_t *output, int *done)
{
	const char *name = member(req, "Vm");
	const json_t *e, *pick = NULL;
	size_t i;

	if (!name || hl_name_vm(name) < 0) {
		hl_error("give the VM: {\"Vm\": NAME}");
		return -2;
	}
	json_array_foreach(json_object_get(lab, "Hosts"), i, e) {
		struct host *h = NULL;
		json_t *cfg = NULL, *st = NULL;
		int has = 0, runs = 0;

		if (host_open(member(e, "Dir"), &h) == 0 && hosts_vm_load(h, name, &cfg, &st) == 0) {
			has = 1;
			runs = hosts_vm_keeper(h, name) > 0;
		}
		hl_error_clear();
		json_decref(cfg);
		json_decref(st);
		host_close(h);
		/* stop: where it runs; start: the host asked for, else the first that has it */
		if (has && ((!start && runs) ||
			    (start && !pick && (!member(req, "Host") ||
						!strcmp(member(req, "Host"), member(e, "Name"))))))
			pick = e;
	}
	if (!pick) {
		hl_error("VM '%s' %s", name, start ? "is imported on no host of this lab" :
			 "runs on no host of this lab");
		return -2;
	}
	if (start) {
		const char *args[10] = { "host", "start-vm", "--dir", member(pick, "Dir"), "--name", name,
					 NULL };

		if (guest) {
			args[6] = "--guest";
			args[7] = guest;
		}
		*done = run_verb(L, args, output) == 0;
		return 0;
	}
	*done = run_verb(L, (const char *const[]){ "host", "stop-vm", "--dir", member(pick, "Dir"),
						  "--name", name, NULL }, output) == 0;
	return 0;
}

/* kill-hgs (SIGKILL, as the fault matrix does) / restart-hgs (serve again, as `up` did). */
static int act_hgs(struct lab *L, const json_t *lab, const json_t *req, int restart,
		   json_t *output)
{
	const char *name = member(req, "Hgs");
	const json_t *e = entry_named(lab, "Hgs", name);
	const char *dir;
	char label[96], log[96];
	long pid;

	if (!e && !name && json_array_size(json_object_get(lab, "Hgs")))
		e = json_array_get(json_object_get(lab, "Hgs"), 0);
	if (!e) {
		hl_error("no HGS '%s' in this lab", name ? name : "(none)");
		return -2;
	}
	name = member(e, "Name");
	dir = member(e, "Dir");
	if (!restart) {
		pid = hl_served_pid(dir, HGS_PID_FILE);
		stop_owner(dir, HGS_PID_FILE, SIGKILL);
		json_array_append_new(output, pid > 0 ?
			json_sprintf("HGS %s (pid %ld) killed with SIGKILL", name, pid) :
			json_sprintf("HGS %s was not running", name));
		return 0;
	}
	if ((pid = hl_served_pid(dir, HGS_PID_FILE)) > 0) {
		json_array_append_new(output, json_sprintf("HGS %s already runs (pid %ld)", name, pid));
		return 0;
	}
	snprintf(label, sizeof(label), "HGS %s", name);
	snprintf(log, sizeof(log), "hgs-%s.log", name);
	if (svc_start(L, label, log, "serving",
		      (const char *const[]){ "hgs", "serve", "--dir", dir, NULL }, &pid) < 0 ||
	    lab_json_set_pid(L->work, "Hgs", name, pid) < 0)
		return -1;
	json_array_append_new(output, json_sprintf("HGS %s serves again (pid %ld)", name, pid));
	return 0;
}

int dlab_action(const char *work, const char *guest, const json_t *req, json_t **out)
{
	const char *action = member(req, "Action");
	json_t *lab = NULL, *output = json_array();
	struct lab L;
	int rc = -1, done = 1, made = 0;

	*out = NULL;
	if (!output)
		return hl_error("out of memory");
	if (!action) {
		hl_error("give the action: {\"Action\": \"reboot-host\" | \"stop-vm\" | \"start-vm\" | "
			 "\"kill-hgs\" | \"restart-hgs\", ...}");
		rc = -2;
		goto out;
	}
	if (lab_json_read(work, &lab) < 0 || mini_lab(&L, work) < 0)
		goto out;
	made = 1;
	if (!strcmp(action, "reboot-host"))
		rc = act_reboot(&L, lab, req, output, &done);
	else if (!strcmp(action, "stop-vm") || !strcmp(action, "start-vm"))
		rc = act_vm(&L, lab, req, guest, !strcmp(action, "start-vm"), output, &done);
	else if (!strcmp(action, "kill-hgs") || !strcmp(action, "restart-hgs"))
		rc = act_hgs(&L, lab, req, !strcmp(action, "restart-hgs"), output);
	else {
		hl_error("unknown action '%s': reboot-host, stop-vm, start-vm, kill-hgs or "
			 "restart-hgs", action);
		rc = -2;
	}
	if (rc == 0 && !(*out = json_pack("{s:s, s:b, s:O}", "Action", action, "Done", done,
					   "Output", output)))
		rc = hl_error("out of memory");
out:
	if (made)
		mini_lab_free(&L);
	json_decref(output);
	json_decref(lab);
	return rc;
}
