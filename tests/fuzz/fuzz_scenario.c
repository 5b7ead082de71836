/*
 * fuzz_scenario.c - libFuzzer target: the scenario YAML `hgslab run` reads
 * (sim/scenario.h, libyaml underneath).  The input is the file's text; it
 * is parsed and validated as `run --check` does, and a scenario that
 * passes is looked up by its own names and keywords.
 */
#include <stdlib.h>

#include "lib/err.h"
#include "sim/scenario.h"
#include "tests/fuzz/fuzzutil.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct scenario *s = NULL;

	if (scenario_parse("fuzz.yaml", (const char *)data, size, &s) == 0) {
		for (size_t i = 0; i < s->n_hosts; i++)
			if (!scenario_host(s, s->hosts[i].name))
				fz_fail("a scenario host is not found by its own name");
		for (size_t i = 0; i < s->n_vms; i++)
			if (!scenario_vm(s, s->vms[i].name))
				fz_fail("a scenario VM is not found by its own name");
		scenario_matches(s, "tpm");
		for (size_t i = 0; i < s->n_steps; i++)
			sc_step_name(s->steps[i].kind);
	}
	scenario_free(s);
	hl_error_clear();
	return 0;
}
