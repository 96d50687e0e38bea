// SPDX-License-Identifier: MIT
/* The device state machine of include/device.h: which transition is legal when, and unwinding. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "device.h"

#define STATE_BIT(s) (1U << (s))

static const char *const state_names[DEV_NR_STATES] = {
	[DEV_NEW] = "new",
	[DEV_ADDED] = "added",
	[DEV_CONFIGURED] = "configured",
	[DEV_FETCHING] = "fetching",
	[DEV_LIVE] = "live",
	[DEV_STOPPED] = "stopped",
	[DEV_DRAINED] = "drained",
	[DEV_DELETED] = "deleted",
	[DEV_ORPHANED] = "orphaned",
	[DEV_RECOVERING] = "recovering",
	[DEV_REFETCHING] = "refetching",
};

const char *dev_state_name(enum dev_state s)
{
	return (unsigned)s < DEV_NR_STATES ? state_names[s] : "invalid";
}

uint64_t dev_recovery_flags(enum dev_recovery recovery)
{
	switch (recovery) {
	case RECOVERY_REISSUE:
		return UBLK_F_USER_RECOVERY | UBLK_F_USER_RECOVERY_REISSUE;
	case RECOVERY_FAIL:
		return UBLK_F_USER_RECOVERY | UBLK_F_USER_RECOVERY_FAIL_IO;
	case RECOVERY_NONE:
		break;
	}
	return 0;
}

void dev_init(struct device *d, const struct dev_conf *conf, const struct dev_kernel_ops *kops)
{
	memset(d, 0, sizeof(*d));
	d->state = DEV_NEW;
	d->conf = *conf;
	d->kops = kops;
	d->cdev_fd = -1;
	d->info.dev_id = conf->id;
	d->want_flags = dev_recovery_flags(conf->recovery);
	d->recovery_busy_ms = DEV_RECOVERY_BUSY_MS;
	memset(&d->allowed_cpus, 0xff, sizeof(d->allowed_cpus));
	fault_init(&d->fault, &conf->inject);
	/* Faults start with the live device: START_DEV waits for the partition scan's reads. */
	fault_suspend(&d->fault, true);
}

/* A refused transition names itself and the state, so a caller's bug is plain in the log. */
static int dev_refuse(struct device *d, const char *transition)
{
	snprintf(d->err, sizeof(d->err), "%s: not allowed in state %s", transition,
		 dev_state_name(d->state));
	return -EBADFD;
}

/* Runs op if d is in one of the states of from_mask; on success d moves to state to. */
static int dev_transition(struct device *d, const char *name, unsigned from_mask,
			  int (*op)(struct device *), enum dev_state to)
{
	int ret;

	if (!(from_mask & STATE_BIT(d->state)))
		return dev_refuse(d, name);
	d->err[0] = '\0';
	ret = op(d);
	if (ret < 0) {
		if (!d->err[0])
			snprintf(d->err, sizeof(d->err), "%s: %s", name, strerror(-ret));
		return ret;
	}
	d->state = to;
	if (to == DEV_LIVE)
		fault_suspend(&d->fault, false);
	return 0;
}

int dev_add(struct device *d)
{
	return dev_transition(d, "add", STATE_BIT(DEV_NEW), d->kops->add, DEV_ADDED);
}

int dev_set_params(struct device *d)
{
	return dev_transition(d, "set_params", STATE_BIT(DEV_ADDED), d->kops->set_params,
			      DEV_CONFIGURED);
}

int dev_start_queues(struct device *d)
{
	/* The same threads and fetches either way; what finishes the start differs. */
	return dev_transition(
		d, "start_queues", STATE_BIT(DEV_CONFIGURED) | STATE_BIT(DEV_RECOVERING),
		d->kops->start_queues, d->state == DEV_RECOVERING ? DEV_REFETCHING : DEV_FETCHING);
}

int dev_start(struct device *d)
{
	return dev_transition(d, "start", STATE_BIT(DEV_FETCHING), d->kops->start, DEV_LIVE);
}

int dev_stop(struct device *d)
{
	return dev_transition(d, "stop", STATE_BIT(DEV_LIVE), d->kops->stop, DEV_STOPPED);
}

/* Always succeeds when legal: threads are told to quit and joined whatever the kernel says. */
int dev_stop_queues(struct device *d)
{
	const unsigned from = STATE_BIT(DEV_FETCHING) | STATE_BIT(DEV_LIVE) |
			      STATE_BIT(DEV_STOPPED) | STATE_BIT(DEV_REFETCHING);

	if (!(from & STATE_BIT(d->state)))
		return dev_refuse(d, "stop_queues");
	d->kops->stop_queues(d);
	d->state = DEV_DRAINED;
	return 0;
}

int dev_del(struct device *d)
{
	return dev_transition(d, "del",
			      STATE_BIT(DEV_ADDED) | STATE_BIT(DEV_CONFIGURED) |
				      STATE_BIT(DEV_DRAINED) | STATE_BIT(DEV_ORPHANED) |
				      STATE_BIT(DEV_RECOVERING),
			      d->kops->del, DEV_DELETED);
}

int dev_find(struct device *d)
{
	return dev_transition(d, "find", STATE_BIT(DEV_NEW), d->kops->find, DEV_ORPHANED);
}

#define RECOVERY_BUSY_STEP_MS 50U

/* begin_recovery, again every RECOVERY_BUSY_STEP_MS while -EBUSY, for recovery_busy_ms. */
static int begin_recovery_retrying(struct device *d)
{
	unsigned waited_ms = 0;
	int ret;

	while ((ret = d->kops->begin_recovery(d)) == -EBUSY && waited_ms < d->recovery_busy_ms) {
		nanosleep(&(struct timespec){ .tv_nsec = RECOVERY_BUSY_STEP_MS * 1000000L }, NULL);
		waited_ms += RECOVERY_BUSY_STEP_MS;
	}
	return ret;
}

int dev_begin_recovery(struct device *d)
{
	return dev_transition(d, "begin_recovery", STATE_BIT(DEV_ORPHANED), begin_recovery_retrying,
			      DEV_RECOVERING);
}

int dev_end_recovery(struct device *d)
{
	return dev_transition(d, "end_recovery", STATE_BIT(DEV_REFETCHING), d->kops->end_recovery,
			      DEV_LIVE);
}

/* After a failed step: down to DELETED, keeping the cause (not the unwinding's messages). */
static int dev_unwind(struct device *d, int ret)
{
	char err[DEV_ERR_MAX];

	memcpy(err, d->err, sizeof(err));
	dev_destroy(d);
	memcpy(d->err, err, sizeof(err));
	return ret;
}

int dev_adopt(struct device *d)
{
	int ret;

	d->err[0] = '\0';
	ret = dev_find(d);
	if (ret < 0)
		return ret; /* not ours to touch: it stays as the kernel has it */
	ret = dev_begin_recovery(d);
	if (!ret)
		ret = dev_start_queues(d);
	if (!ret)
		ret = dev_end_recovery(d);
	return ret ? dev_unwind(d, ret) : 0;
}

int dev_create(struct device *d)
{
	int ret;

	d->err[0] = '\0';
	ret = dev_add(d);
	if (!ret)
		ret = dev_set_params(d);
	if (!ret)
		ret = dev_start_queues(d);
	if (!ret)
		ret = dev_start(d);
	return ret ? dev_unwind(d, ret) : 0;
}

int dev_destroy(struct device *d)
{
	char first_err[DEV_ERR_MAX] = "";
	int first = 0, ret;

	if (d->state == DEV_NEW) {
		d->state = DEV_DELETED;
		return 0;
	}
	if (d->state == DEV_LIVE) {
		/* A failed STOP_DEV still lets the queues go: closing their rings cancels them. */
		ret = dev_stop(d);
		if (ret < 0) {
			first = ret;
			memcpy(first_err, d->err, sizeof(first_err));
		}
	}
	if (d->state == DEV_FETCHING || d->state == DEV_LIVE || d->state == DEV_STOPPED ||
	    d->state == DEV_REFETCHING)
		dev_stop_queues(d);
	if (d->state != DEV_DELETED) {
		ret = dev_del(d);
		if (ret < 0 && !first)
			return ret;
	}
	if (first)
		memcpy(d->err, first_err, sizeof(first_err));
	return first;
}
