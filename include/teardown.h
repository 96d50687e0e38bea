/* SPDX-License-Identifier: MIT */
/*
 * The one way a device of ours goes away: STOP_DEV (or TRY_STOP_DEV), queue threads joined,
 * DEL_DEV, backend closed with its data flushed. Each runs in a thread of its own, with its
 * own control transport and no timeout (STOP_DEV legitimately waits for in-flight I/O and the
 * flush can take long): the daemon keeps serving its socket, signals and other devices
 * meanwhile, and learns of the end through done_fd.
 */
#ifndef UBLKD_TEARDOWN_H
#define UBLKD_TEARDOWN_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "dev_conf.h"

struct device;
struct conn;
struct ublk_ctrl;

struct teardown {
	struct device *d;
	/* Even while the device is in use (mounted, held open): `del --force` and shutdown. */
	bool force;
	/* Who waits for the outcome: a connection, or NULL (a reload, the shutdown). */
	struct conn *waiter;
	int done_fd; /* an eventfd the thread writes once when it has finished */
	atomic_bool done;
	pthread_t thread;
	/* The outcome: 0 (deleted), -EBUSY (in use: nothing was done), or another -errno. */
	int result;
	char msg[DEV_ERR_MAX + 128];
};

/* Starts tearing td->d down; -errno if the thread could not start (td->msg says why). */
int teardown_start(struct teardown *td);
/* Joins a teardown whose done flag is set; td->result and td->msg hold the outcome. */
void teardown_join(struct teardown *td);

/*
 * For a device whose server is gone (no daemon of ours owns it): STOP_DEV and DEL_DEV only.
 * 0, or -errno with the reason in err.
 */
int teardown_orphan(unsigned dev_id, char *err, size_t err_len);
/*
 * The same through c; !wait: DEL_DEV_ASYNC where the kernel has it (6.9+), which returns even
 * while the disk is still held (a filesystem left mounted on it gets I/O errors).
 */
int teardown_orphan_with(struct ublk_ctrl *c, unsigned dev_id, bool wait, char *err,
			 size_t err_len);

#endif /* UBLKD_TEARDOWN_H */
