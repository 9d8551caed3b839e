/* clock.h - monotonic time for measuring how long something took. */
#ifndef PM_CORE_CLOCK_H
#define PM_CORE_CLOCK_H

#include <time.h>

/* Milliseconds on the monotonic clock (only differences mean anything). */
static inline double pm_clock_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

#endif
