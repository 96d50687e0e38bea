// SPDX-License-Identifier: MIT
/* Taking over a dead ublkd's devices (include/adopt.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "adopt.h"
#include "config.h"
#include "ctrl.h"
#include "device.h"
#include "device_ublk.h"
#include "ipc.h"
#include "state_store.h"
#include "teardown.h"

/*
 * How long a device may still look served by a server that has exited: 6.12 notices a dead
 * server in a monitor that runs every 5 s; later kernels quiesce the device as the dead
 * server's /dev/ublkcN is released.
 */
#define ADOPT_SETTLE_MS 12000
#define ADOPT_POLL_MS 20

/* GET_DEV_INFO, waiting while the device is live with a server that is gone (or is us: exec). */
static int settled_info(struct ublk_ctrl *c, uint32_t dev_id, struct ublksrv_ctrl_dev_info *info)
{
	int64_t deadline = monotonic_ms() + ADOPT_SETTLE_MS;
	int ret;

	for (;;) {
		ret = ublk_ctrl_get_dev_info(c, dev_id, info);
		if (ret < 0 || info->state != UBLK_S_DEV_LIVE ||
		    (info->ublksrv_pid != getpid() && ipc_server_alive(info->ublksrv_pid)) ||
		    monotonic_ms() >= deadline)
			return ret;
		nanosleep(&(struct timespec){ .tv_nsec = ADOPT_POLL_MS * 1000000L }, NULL);
	}
}

/* Deletes a device that cannot come back, without waiting for users that still hold it. */
static enum adopt_result delete_unrecoverable(const struct adopt_env *env, uint32_t dev_id,
					      enum backend_kind kind, const char *name,
					      const char *why, char *msg, size_t msg_len)
{
	char err[DEV_ERR_MAX];

	if (teardown_orphan_with(env->ctrl, dev_id, false, err, sizeof(err)) < 0) {
		snprintf(msg, msg_len, "\"%s\" (/dev/ublkb%u): %s; deleting it failed too: %s",
			 name, dev_id, why, err);
		return ADOPT_FAILED;
	}
	state_store_remove(dev_id);
	backend_forget(kind, dev_id);
	snprintf(msg, msg_len, "\"%s\" (/dev/ublkb%u): %s; deleted it (id %u is free)", name,
		 dev_id, why, dev_id);
	return ADOPT_DELETED;
}

enum adopt_result adopt_device(const struct adopt_env *env, uint32_t dev_id, struct device **out,
			       char *msg, size_t msg_len)
{
	char err[CONFIG_ERR_MAX], why[CONFIG_ERR_MAX + 64], name[DEV_NAME_MAX + 16];
	struct ublksrv_ctrl_dev_info info;
	int64_t start_ms = monotonic_ms();
	struct dev_conf conf;
	struct device *d;
	int ret;

	*out = NULL;
	ret = settled_info(env->ctrl, dev_id, &info);
	if (ret == -ENODEV) {
		state_store_remove(dev_id);
		/* Any kind: the description may be what is unreadable. */
		backend_forget(BACKEND_MEMORY, dev_id);
		snprintf(msg, msg_len, "/dev/ublkb%u is gone; removed its description", dev_id);
		return ADOPT_STALE;
	}
	if (ret < 0) {
		snprintf(msg, msg_len, "/dev/ublkb%u: GET_DEV_INFO: %s", dev_id, strerror(-ret));
		return ADOPT_FAILED;
	}
	if (info.state == UBLK_S_DEV_LIVE) {
		snprintf(msg, msg_len, "/dev/ublkb%u is served by pid %d; left alone", dev_id,
			 info.ublksrv_pid);
		return ADOPT_NOT_OURS;
	}
	snprintf(name, sizeof(name), "ublk%u", dev_id);
	if (state_store_load(dev_id, &conf, err, sizeof(err)) < 0) {
		snprintf(why, sizeof(why), "its description cannot be used: %s", err);
		return delete_unrecoverable(env, dev_id, BACKEND_MEMORY, name, why, msg, msg_len);
	}
	snprintf(name, sizeof(name), "%s", conf.name);
	if (info.state != UBLK_S_DEV_QUIESCED && info.state != UBLK_S_DEV_FAIL_IO)
		return delete_unrecoverable(env, dev_id, conf.backend, name,
					    conf.recovery == RECOVERY_NONE
						    ? "made with recovery = none"
						    : "the kernel did not keep it for recovery",
					    msg, msg_len);
	d = malloc(sizeof(*d));
	if (!d) {
		snprintf(msg, msg_len, "\"%s\" (/dev/ublkb%u): %s", name, dev_id, strerror(ENOMEM));
		return ADOPT_FAILED;
	}
	dev_init(d, &conf, &dev_ublk_ops);
	d->ctrl = env->ctrl;
	d->features = env->features;
	d->allowed_cpus = *env->allowed_cpus;
	/* The same backend: a memory device's RAM as the dead daemon left it. */
	ret = backend_reopen(&d->be, &conf, dev_id, err, sizeof(err));
	if (ret < 0) {
		free(d);
		snprintf(why, sizeof(why), "backend: %s", err);
		return delete_unrecoverable(env, dev_id, conf.backend, name, why, msg, msg_len);
	}
	ret = dev_adopt(d);
	if (ret < 0) {
		enum dev_state state = d->state;

		snprintf(why, sizeof(why), "%s", d->err);
		backend_close(&d->be);
		free(d);
		/* NEW: refused before we took it over; DELETED: unwound. Either way, gone now. */
		if (state == DEV_NEW || state == DEV_DELETED)
			return delete_unrecoverable(env, dev_id, conf.backend, name, why, msg,
						    msg_len);
		snprintf(msg, msg_len, "\"%s\" (/dev/ublkb%u): %s; left in state %s", name, dev_id,
			 why, dev_state_name(state));
		return ADOPT_FAILED;
	}
	/* The description again, now under our pid. */
	state_store_write(dev_id, &d->conf);
	snprintf(msg, msg_len, "recovered \"%s\" (/dev/ublkb%u, %s backend) in %lld ms", name,
		 dev_id, d->be.ops->name, (long long)(monotonic_ms() - start_ms));
	*out = d;
	return ADOPT_RECOVERED;
}

enum adopt_result adopt_half_made(const struct adopt_env *env, uint32_t dev_id, char *msg,
				  size_t msg_len)
{
	struct ublksrv_ctrl_dev_info info;
	char err[DEV_ERR_MAX];
	pid_t creator;
	int ret;

	/* The mark first: another program's device must not cost a wait for it to settle. */
	ret = ublk_ctrl_get_dev_info(env->ctrl, dev_id, &info);
	if (ret == 0 && dev_ublk_creator(&info))
		ret = settled_info(env->ctrl, dev_id, &info);
	if (ret < 0) {
		snprintf(msg, msg_len, "/dev/ublkb%u: GET_DEV_INFO: %s", dev_id, strerror(-ret));
		return ret == -ENODEV ? ADOPT_STALE : ADOPT_FAILED;
	}
	creator = dev_ublk_creator(&info);
	/* Another program's, or one a ublkd (maybe this one) is making right now. */
	if (!creator || creator == getpid() || ipc_server_alive(creator) ||
	    (info.state == UBLK_S_DEV_LIVE && ipc_server_alive(info.ublksrv_pid))) {
		snprintf(msg, msg_len,
			 "/dev/ublkb%u has no description but is not half-made; "
			 "left alone",
			 dev_id);
		return ADOPT_NOT_OURS;
	}
	if (teardown_orphan_with(env->ctrl, dev_id, false, err, sizeof(err)) < 0) {
		snprintf(msg, msg_len,
			 "/dev/ublkb%u: half-made by ublkd pid %d, which died while adding it; "
			 "deleting it failed: %s",
			 dev_id, creator, err);
		return ADOPT_FAILED;
	}
	/* A memory device may already have handed its RAM to the keeper. */
	backend_forget(BACKEND_MEMORY, dev_id);
	snprintf(msg, msg_len,
		 "deleted /dev/ublkb%u: half-made by ublkd pid %d, which died while adding it",
		 dev_id, creator);
	return ADOPT_DELETED;
}
