/*
 * fuzz_dashboard.c - libFuzzer target: what a browser sends the live
 * dashboard (sim/dashboard*.c), handled by the dashboard's own functions
 * against a scratch lab, without sockets: the NAME of GET /api/host/NAME
 * and GET /api/vm/NAME (any visitor sends those), and the JSON body of POST
 * /api/action (a token holder's), parsed as the route does (hl_json_parse
 * with the dashboard's body cap, which must give an object).
 *
 * Fixture: a lab folder whose lab.json lists one HGS node, one host and one
 * VM whose folders do not exist, so a page for a listed name reaches the
 * readers of those folders and fails there; actions name entries that are
 * not in the lab (the fixture's names are kept out of them: an action on a
 * listed entry would stop processes and run verbs, which is the dashboard's
 * job, not a fuzzer's: acts_on_fixture).
 *
 * Input: SELECT-byte REST.  SELECT % 3: 0 the action body, 1 a host page's
 * name, 2 a VM page's name (REST cut at its first NUL, as a URL's is).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "lib/err.h"
#include "lib/json.h"
#include "sim/dashboard.h"
#include "sim/dashboard_int.h"
#include "tests/fuzz/fuzzutil.h"

static char lab_dir[4096];

/* The scratch lab: lab.json naming a node, a host and a VM whose folders are missing. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char path[4200], text[8192];

	(void)argc;
	(void)argv;
	fz_quiet();
	snprintf(lab_dir, sizeof(lab_dir), "%s/lab", fz_scratch());
	snprintf(path, sizeof(path), "mkdir -p '%s'", lab_dir);
	if (system(path) != 0)
		fz_die("cannot make the lab folder");
	snprintf(text, sizeof(text),
		 "{\"Scenario\": \"fuzz\", \"Work\": \"%s\", \"Tenant\": \"%s/tenant\","
		 " \"Hgs\": [{\"Name\": \"MyHgsService\", \"Url\": \"http://127.0.0.1:1\","
		 " \"Dir\": \"%s/hgs\", \"Pid\": 0}],"
		 " \"Hosts\": [{\"Name\": \"FabricHost1\", \"Dir\": \"%s/hosts/FabricHost1\","
		 " \"Hgs\": \"MyHgsService\", \"Pid\": 0}],"
		 " \"Vms\": [{\"Name\": \"ShieldedVM1\"}]}\n",
		 lab_dir, lab_dir, lab_dir, lab_dir);
	snprintf(path, sizeof(path), "%s/lab.json", lab_dir);
	fz_put(path, text, strlen(text));
	return 0;
}

/* O's member KEY is the string WANT. */
static int member_is(const json_t *o, const char *key, const char *want)
{
	const char *v = json_string_value(json_object_get(o, key));

	return v && !strcmp(v, want);
}

/*
 * 1 when action BODY would act on the fixture's entries (left alone: it
 * would stop processes and run verbs): a reboot of its host, or a kill or
 * restart of its node, named or taken as the lab's first.  A VM action is
 * always safe: the fixture's host folder is missing, so no host has the VM.
 */
static int acts_on_fixture(const json_t *body)
{
	const char *action = json_string_value(json_object_get(body, "Action"));

	if (!action)
		return 0;
	if (!strcmp(action, "reboot-host"))
		return member_is(body, "Host", "FabricHost1");
	if (!strcmp(action, "kill-hgs") || !strcmp(action, "restart-hgs"))
		return !json_is_string(json_object_get(body, "Hgs")) ||
		       member_is(body, "Hgs", "MyHgsService");
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *body = NULL, *out = NULL;
	char *name;

	if (size < 1)
		return 0;
	switch (data[0] % 3) {
	case 0:
		if (hl_json_parse(data + 1, size - 1, DASHBOARD_MAX_BODY, &body) == 0 &&
		    json_is_object(body) && !acts_on_fixture(body))
			(void)dlab_action(lab_dir, NULL, body, &out);
		break;
	case 1:
	case 2:
		name = fz_strndup(data + 1, size - 1);
		if (data[0] % 3 == 1)
			(void)dlab_host_page(lab_dir, name, &out);
		else
			(void)dlab_vm_page(lab_dir, name, &out);
		free(name);
		break;
	}
	json_decref(out);
	json_decref(body);
	hl_error_clear();
	return 0;
}
