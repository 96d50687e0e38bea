/* SPDX-License-Identifier: MIT */
/*
 * Fault injection, a testing feature: a device's I/O made to fail or stall on demand, as the
 * kernel selftests' fault_inject target does, so that tests can show what a failing or slow
 * backend does to the block layer, a filesystem and the daemon. Set with the device key
 * `inject` (config, `ublkd add --inject`) and changed on a live device with `ublkd inject`.
 *
 * The spec is comma-separated KEY=VALUE items, or "off":
 *   error=eio|enospc|enodata|eopnotsupp|etimedout|none   what a hit I/O completes with
 *                                    (none: it is only delayed; default eio)
 *   ops=read+write+flush+discard | all    which I/O it applies to (default all; discard covers
 *                                    write-zeroes too)
 *   from=N                           the Nth matching I/O (from 1) and those after it (default 1)
 *   rate=P%                          of those, this share is hit (default 100%; to 0.0001%)
 *   delay=D                          each hit waits D (us, ms or s; at most 3600s) first
 * e.g. "error=eio,ops=write,from=1000", "error=none,delay=40s", "error=enospc,rate=10%".
 * Counting starts again whenever the spec is set.
 */
#ifndef UBLKD_FAULT_H
#define UBLKD_FAULT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FAULT_OP_READ (1U << 0)
#define FAULT_OP_WRITE (1U << 1)
#define FAULT_OP_FLUSH (1U << 2)
#define FAULT_OP_DISCARD (1U << 3) /* DISCARD and WRITE_ZEROES */
#define FAULT_OP_ALL (FAULT_OP_READ | FAULT_OP_WRITE | FAULT_OP_FLUSH | FAULT_OP_DISCARD)

#define FAULT_RATE_ALL 1000000U /* rate_ppm: every matching I/O */
#define FAULT_DELAY_MAX_US (3600U * 1000000U)
/* Enough for any fault_conf_format() result. */
#define FAULT_SPEC_MAX 128

struct fault_conf {
	uint32_t ops;	   /* FAULT_OP_*; 0: off */
	int error;	   /* positive errno a hit completes with; 0: served after its delay */
	uint64_t from;	   /* the first matching I/O hit, counting from 1 */
	uint32_t rate_ppm; /* hits per million matching I/Os from `from` on */
	uint32_t delay_us; /* each hit waits this long first */
};

/* What fault_check() decided for one I/O. */
struct fault_hit {
	int error; /* positive errno to complete it with after the delay; 0: serve it */
	uint32_t delay_us;
};

/*
 * A device's live fault state, shared by its queue threads. A spin lock (held for a few
 * instructions, and only while a fault is set) keeps it plain data: nothing to destroy.
 */
struct fault {
	bool active;	/* read without the lock: conf.ops != 0 and not suspended */
	bool suspended; /* the device is stopping: nothing is hit meanwhile */
	bool lock;
	struct fault_conf conf;
	uint64_t nr_matched; /* I/Os of conf.ops since conf was set */
	uint64_t nr_hit;
	uint64_t rng; /* xorshift64 state for rate */
};

/* Parses a spec (see above) into *fc: 0, or -EINVAL with a message naming the bad item. */
int fault_conf_parse(const char *text, struct fault_conf *fc, char *err, size_t err_bytes);
/* The spec of fc, as parse takes it back ("off" when fc is). Returns buf. */
char *fault_conf_format(const struct fault_conf *fc, char *buf, size_t buf_bytes);

/* fc NULL: off */
void fault_init(struct fault *f, const struct fault_conf *fc);
/* Replaces the spec, from any thread; the counts start again. */
void fault_set(struct fault *f, const struct fault_conf *fc);
/*
 * While a device stops, its faults must not hold up the kernel waiting for the requests in
 * flight: suspended, nothing is hit (the spec stays, for when the stop is refused).
 */
void fault_suspend(struct fault *f, bool suspended);
/* The spec and its counts so far. */
void fault_get(struct fault *f, struct fault_conf *fc, uint64_t *nr_matched, uint64_t *nr_hit);

bool fault_check_slow(struct fault *f, uint32_t op, struct fault_hit *hit);

/*
 * Whether an I/O of op (one FAULT_OP_*) is hit, counting it: then *hit says what to do with it.
 * From queue threads.
 */
static inline bool fault_check(struct fault *f, uint32_t op, struct fault_hit *hit)
{
	/* Relaxed: a spec set concurrently applies from one of the next I/Os, either is right. */
	if (!__atomic_load_n(&f->active, __ATOMIC_RELAXED))
		return false;
	return fault_check_slow(f, op, hit);
}

#endif /* UBLKD_FAULT_H */
