/* SPDX-License-Identifier: MIT */
/* Time for timeouts and for measuring pauses: CLOCK_MONOTONIC, which exec does not reset. */
#ifndef UBLKD_CLOCK_H
#define UBLKD_CLOCK_H

#include <stdint.h>
#include <time.h>

/* CLOCK_MONOTONIC in milliseconds. */
static inline int64_t monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#endif /* UBLKD_CLOCK_H */
