/*
 * fuzz_bundle.c - libFuzzer target: a VM bundle's config.json as `host
 * import-vm` reads it (vm_bundle_config_read, vm/bundle.h).  The input is
 * the file, written into a scratch bundle folder before each run.
 */
#include <limits.h>
#include <stdio.h>

#include <jansson.h>

#include "lib/err.h"
#include "vm/bundle.h"
#include "tests/fuzz/fuzzutil.h"

static char bundle[PATH_MAX], config[PATH_MAX];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fz_quiet();
	snprintf(bundle, sizeof(bundle), "%s", fz_scratch());
	snprintf(config, sizeof(config), "%s/config.json", bundle);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *cfg = NULL;

	fz_put(config, data, size);
	if (vm_bundle_config_read(bundle, &cfg) == 0)
		json_decref(cfg);
	hl_error_clear();
	return 0;
}
