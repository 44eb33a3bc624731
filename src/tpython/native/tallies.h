/* The run's tallies kept in C (tallies.c): what was counted, denied, killed or refused. */
#ifndef TPYTHON_TALLIES_H
#define TPYTHON_TALLIES_H
#include <stdint.h>

#include "record.h"

/* `"name":n` pairs of the names whose tally is WANT (A_COUNT: counted; A_DENY_C or
 * A_KILL_C: denied or killed, summed over rules), in OUT as a JSON object; their sum
 * is added to *TOTAL. 0, or -1 out of memory. */
int tally_json(Buf *out, int want, uint64_t *total);

#endif
