/* SPDX-License-Identifier: MIT */
/*
 * A device's life as an explicit state machine. Each state says what exists in the kernel and
 * in this process; each transition is one function, legal from the states listed in
 * src/device.c and refused with -EBADFD from any other:
 *
 *   NEW --add--> ADDED --set_params--> CONFIGURED --start_queues--> FETCHING --start--> LIVE
 *   LIVE --stop--> STOPPED;  FETCHING|LIVE|STOPPED|REFETCHING --stop_queues--> DRAINED
 *   ADDED|CONFIGURED|DRAINED|ORPHANED|RECOVERING --del--> DELETED
 *
 * Adoption of a device whose server died (user recovery):
 *
 *   NEW --find--> ORPHANED --begin_recovery--> RECOVERING --start_queues--> REFETCHING
 *   REFETCHING --end_recovery--> LIVE
 *
 * The work of each transition is done by a dev_kernel_ops table: the real one talks to ublk_drv
 * (src/device_ublk.c), the tests' one is a fake. A transition that fails leaves the state as it
 * was and has undone its own partial work; dev_create() and dev_destroy() walk the whole way up
 * or down, so that a failure anywhere leaves no half-created device in the kernel.
 */
#ifndef UBLKD_DEVICE_H
#define UBLKD_DEVICE_H

#include <sched.h>
#include <stdint.h>

#include "abi/ublk.h"
#include "backend.h"
#include "dev_conf.h"

enum dev_state {
	DEV_NEW,	/* described, backend open; nothing in the kernel */
	DEV_ADDED,	/* ADD_DEV done: /dev/ublkcN exists, info holds what the kernel accepted */
	DEV_CONFIGURED, /* SET_PARAMS done */
	DEV_FETCHING,	/* queue threads run and every tag's FETCH_REQ is in */
	DEV_LIVE,	/* START_DEV done: /dev/ublkbN serves I/O */
	DEV_STOPPED,	/* STOP_DEV done: the block device is gone, threads still up */
	DEV_DRAINED,	/* queue threads joined, /dev/ublkcN closed */
	DEV_DELETED,	/* DEL_DEV done: nothing left in the kernel */
	DEV_ORPHANED,	/* a dead server's device, quiesced or failing I/O; info, params read */
	DEV_RECOVERING, /* START_USER_RECOVERY done: the kernel waits for our fetches */
	DEV_REFETCHING, /* queue threads run and every tag's FETCH_REQ is in, for recovery */
};

#define DEV_NR_STATES (DEV_REFETCHING + 1)

#define DEV_RECOVERY_BUSY_MS 5000U

struct device;

/* One op per transition; each undoes its own partial work when it fails. */
struct dev_kernel_ops {
	int (*add)(struct device *d);
	int (*set_params)(struct device *d);
	int (*start_queues)(struct device *d);
	int (*start)(struct device *d);
	int (*stop)(struct device *d);
	void (*stop_queues)(struct device *d);
	int (*del)(struct device *d);
	/* Adoption: the kernel's view of conf.id; START_USER_RECOVERY; END_USER_RECOVERY. */
	int (*find)(struct device *d);
	int (*begin_recovery)(struct device *d);
	int (*end_recovery)(struct device *d);
};

struct ublk_queue;
struct ublk_ctrl;

struct device {
	enum dev_state state;
	struct dev_conf conf;
	struct backend be;
	struct fault fault; /* testing: conf.inject, live; the queues read it */
	const struct dev_kernel_ops *kops;
	struct ublk_ctrl *ctrl; /* the control transport the real ops use */
	void *kernel_priv;	/* the fake's state in tests */
	uint64_t features;	/* GET_FEATURES of the driver */
	/* UBLK_F_* beyond ublkd's own, e.g. user recovery: refused if the kernel lacks one. */
	uint64_t want_flags;
	/*
	 * The CPUs its queue threads may use: the daemon's affinity when it started (taskset,
	 * cgroup cpuset), since a thread may widen its own later. dev_init() allows every CPU.
	 */
	cpu_set_t allowed_cpus;
	struct ublksrv_ctrl_dev_info info; /* as ADD_DEV accepted it: id, queues, depth, flags */
	struct ublk_params params;	   /* as sent by SET_PARAMS */
	int cdev_fd;			   /* /dev/ublkcN while queues run; -1 otherwise */
	struct ublk_queue *queues;	   /* info.nr_hw_queues of them while FETCHING..STOPPED */
	/*
	 * How the next teardown goes: stop refuses with -EBUSY while the disk is open (mounted,
	 * held); del does not wait for the kernel to let the device go (it may still be held).
	 */
	bool stop_only_unused;
	bool del_async;
	/*
	 * How long begin_recovery retries while the kernel says -EBUSY: the dead server's
	 * /dev/ublkcN may still be closing. dev_init(): DEV_RECOVERY_BUSY_MS.
	 */
	unsigned recovery_busy_ms;
	/* The step that failed last and why: "ADD_DEV: File exists". */
	char err[DEV_ERR_MAX];
};

/* The UBLK_F_* that ask the kernel for a recovery mode. */
uint64_t dev_recovery_flags(enum dev_recovery recovery);

/* Fresh device in DEV_NEW, want_flags from conf's recovery mode; the backend is opened by the caller (be may stay zeroed in tests). */
void dev_init(struct device *d, const struct dev_conf *conf, const struct dev_kernel_ops *kops);

int dev_add(struct device *d);
int dev_set_params(struct device *d);
int dev_start_queues(struct device *d);
int dev_start(struct device *d);
int dev_stop(struct device *d);
int dev_stop_queues(struct device *d);
int dev_del(struct device *d);
int dev_find(struct device *d);
int dev_begin_recovery(struct device *d);
int dev_end_recovery(struct device *d);

/* NEW -> LIVE, unwinding to DELETED (or as far down as the kernel lets us) on failure. */
int dev_create(struct device *d);
/*
 * NEW -> LIVE for conf.id, a device a dead server left (user recovery): on failure the device
 * is left to the kernel as it was found if it was not taken over yet (-ENODEV, -EBUSY from
 * find: nothing of ours), else unwound as far as the kernel lets us (DELETED).
 */
int dev_adopt(struct device *d);
/* Any state -> DELETED; returns the first error met, but always goes as far as it can. */
int dev_destroy(struct device *d);

const char *dev_state_name(enum dev_state s);

#endif /* UBLKD_DEVICE_H */
