// SPDX-License-Identifier: MIT
/* Device teardown in a thread of its own (include/teardown.h). */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ctrl.h"
#include "device.h"
#include "log.h"
#include "teardown.h"

static void *teardown_thread(void *arg)
{
	struct teardown *td = arg;
	struct device *d = td->d;
	struct ublk_ctrl ctrl;
	uint64_t one = 1;
	int ret;

	ret = ublk_ctrl_open(&ctrl);
	if (ret < 0) {
		snprintf(td->msg, sizeof(td->msg), "del \"%s\": %s: %s", d->conf.name,
			 ctrl.err_subject, strerror(-ret));
		goto out;
	}
	ctrl.timeout_ms = UBLK_CTRL_NO_TIMEOUT;
	d->ctrl = &ctrl;
	if (!td->force && d->state == DEV_LIVE) {
		d->stop_only_unused = true;
		ret = dev_stop(d);
		d->stop_only_unused = false;
		if (ret == -EBUSY) {
			snprintf(td->msg, sizeof(td->msg),
				 "del \"%s\": %s (unmount or close it first, or use del --force)",
				 d->conf.name, d->err);
			goto out_ctrl;
		}
	}
	/* Forced, the disk may stay open after STOP_DEV: do not wait for its last user. */
	d->del_async = td->force;
	ret = dev_destroy(d);
	if (ret < 0 && d->state != DEV_DELETED) {
		snprintf(td->msg, sizeof(td->msg), "del \"%s\": %s (left in state %s)",
			 d->conf.name, d->err, dev_state_name(d->state));
		goto out_ctrl;
	}
	/* The file backend's data reaches its disk here (fdatasync at close). */
	backend_close(&d->be);
	snprintf(td->msg, sizeof(td->msg), "/dev/ublkb%u", d->info.dev_id);
	ret = 0;
out_ctrl:
	d->ctrl = NULL;
	ublk_ctrl_close(&ctrl);
out:
	td->result = ret;
	atomic_store_explicit(&td->done, true, memory_order_release);
	if (write(td->done_fd, &one, sizeof(one)) != sizeof(one))
		log_msg(LOG_LEVEL_ERR, "teardown of \"%s\": waking the daemon: %s", d->conf.name,
			strerror(errno));
	return NULL;
}

int teardown_start(struct teardown *td)
{
	sigset_t all, old;
	int ret;

	atomic_init(&td->done, false);
	td->result = 0;
	td->msg[0] = '\0';
	/* Signals are the control thread's (its signalfd): the worker takes none. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	ret = -pthread_create(&td->thread, NULL, teardown_thread, td);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret < 0)
		snprintf(td->msg, sizeof(td->msg), "del \"%s\": thread: %s", td->d->conf.name,
			 strerror(-ret));
	return ret;
}

void teardown_join(struct teardown *td)
{
	pthread_join(td->thread, NULL);
}

int teardown_orphan_with(struct ublk_ctrl *c, unsigned dev_id, bool wait, char *err, size_t err_len)
{
	int ret = ublk_ctrl_stop_dev(c, dev_id);

	if (ret < 0 && ret != -ENODEV) {
		snprintf(err, err_len, "STOP_DEV: %s", strerror(-ret));
		return ret;
	}
	if (!wait) {
		ret = ublk_ctrl_del_dev_async(c, dev_id);
		/* Older than 6.9: the waiting kind is all there is. */
		if (ret != -EOPNOTSUPP && ret != -EINVAL && ret != -ENOTTY) {
			if (ret < 0 && ret != -ENODEV) {
				snprintf(err, err_len, "DEL_DEV_ASYNC: %s", strerror(-ret));
				return ret;
			}
			return 0;
		}
	}
	ret = ublk_ctrl_del_dev(c, dev_id);
	if (ret < 0 && ret != -ENODEV) {
		snprintf(err, err_len, "DEL_DEV: %s", strerror(-ret));
		return ret;
	}
	return 0;
}

int teardown_orphan(unsigned dev_id, char *err, size_t err_len)
{
	struct ublk_ctrl c;
	int ret = ublk_ctrl_open(&c);

	if (ret < 0) {
		snprintf(err, err_len, "%s: %s%s", c.err_subject, strerror(-ret),
			 ublk_ctrl_open_hint(&c, ret));
		return ret;
	}
	c.timeout_ms = UBLK_CTRL_NO_TIMEOUT;
	ret = teardown_orphan_with(&c, dev_id, true, err, err_len);
	ublk_ctrl_close(&c);
	return ret;
}
