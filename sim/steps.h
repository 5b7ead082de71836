/*
 * steps.h - playing one scenario step against a running lab (sim/lab.h):
 * the hgslab verbs it calls, the outcome, whether it met the step's
 * expectation, and the concept in plain words for the human report.
 */
#ifndef HGSLAB_SIM_STEPS_H
#define HGSLAB_SIM_STEPS_H

#include "sim/lab.h"
#include "sim/report.h"
#include "sim/scenario.h"

/*
 * Play step ST (number INDEX, 1-based) and fill R (cleared first; free it
 * with rp_scenario_clear via its scenario).  Returns 0 when the step was
 * played, whatever its outcome (R->passed says), and -1 when the run must
 * stop (interrupted).
 */
int step_play(struct lab *L, const struct sc_step *st, int index, struct rp_step *r);

#endif
