/*
 * helper_keeper.c - the VM keeper for the unit tests that start VMs through
 * hosts_vm_start (test_host_vm, test_host_provision): the same
 * hosts_vm_keep that `hgslab host keep-vm` runs, on a bare struct host (the
 * tests' host folders have no host.json, and the keeper uses only the
 * folder and name).
 *
 *   helper_keeper --dir HOSTDIR --name NAME --accel A --wait-seconds N [--guest G]
 *                 [--template T --pdk P [--fsk F]]
 *
 * (the arguments hosts_vm_start and hosts_vm_provision_start append to
 * their keeper command).  The TK on
 * fd 3 and the report on fd 4, as hosts_vm_start hands them.  Exits 1 with
 * the error on stderr when the keeper cannot start.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hosts/vm.h"
#include "lib/err.h"

int main(int argc, char **argv)
{
	struct hosts_vm_start o = { NULL, "tcg", 20, NULL, NULL, NULL, NULL };
	struct host h;
	const char *name = NULL;
	int i;

	memset(&h, 0, sizeof(h));
	snprintf(h.name, sizeof(h.name), "%s", "FabricHost1");
	for (i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--dir"))
			h.dir = argv[i + 1];
		else if (!strcmp(argv[i], "--name"))
			name = argv[i + 1];
		else if (!strcmp(argv[i], "--accel"))
			o.accel = argv[i + 1];
		else if (!strcmp(argv[i], "--wait-seconds"))
			o.wait_s = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--guest"))
			o.guest_dir = argv[i + 1];
		else if (!strcmp(argv[i], "--template"))
			o.template_path = argv[i + 1];
		else if (!strcmp(argv[i], "--pdk"))
			o.pdk_path = argv[i + 1];
		else if (!strcmp(argv[i], "--fsk"))
			o.fsk_path = argv[i + 1];
	}
	if (!h.dir || !name || i != argc) {
		fprintf(stderr, "usage: helper_keeper --dir HOSTDIR --name NAME --accel A "
			"--wait-seconds N [--guest G] [--template T --pdk P [--fsk F]]\n");
		return 2;
	}
	if (hosts_vm_keep(&h, name, &o) < 0) {
		fprintf(stderr, "helper_keeper: %s\n", hl_error_last());
		return 1;
	}
	return 0;
}
