/* SPDX-License-Identifier: MIT */
/*
 * Taking over the devices a dead ublkd left behind (ublk user recovery). A device made with
 * recovery = reissue or fail outlives its server: the kernel holds (or fails) its I/O until a
 * new server sends START_USER_RECOVERY, fetches every tag again and sends END_USER_RECOVERY.
 * What the new server needs to know (backend, path, size, queues) is the description the old
 * one kept in RUN_DIR/devices/ID.conf (include/state_store.h); what the kernel says about the
 * device (GET_DEV_INFO) decides what is done with it:
 *
 *   no such device          the description is stale: removed
 *   served by a live pid    someone else's: left alone
 *   quiesced or fail-io     adopted: backend reopened, queues refetched, live again
 *   dead (recovery = none)  deleted, so that its id is free again
 *
 * A device that cannot be adopted (its description unreadable, its backend gone, a step the
 * kernel refuses) is deleted too: left, it would hold its I/O forever. Nothing here knows the
 * daemon; it hands the live device to its caller.
 */
#ifndef UBLKD_ADOPT_H
#define UBLKD_ADOPT_H

#include <sched.h>
#include <stddef.h>
#include <stdint.h>

struct device;
struct ublk_ctrl;

/* What an adopted device gets from the daemon, as a created one does. */
struct adopt_env {
	struct ublk_ctrl *ctrl;
	uint64_t features;
	const cpu_set_t *allowed_cpus;
};

enum adopt_result {
	ADOPT_RECOVERED, /* *out is live and ours; msg: "recovered ..." */
	ADOPT_STALE,	 /* the kernel has no such device: its description was removed */
	ADOPT_NOT_OURS,	 /* a live server has it: left alone */
	ADOPT_DELETED,	 /* could not be taken over, so deleted: its id is free (msg: why) */
	ADOPT_FAILED,	 /* could not be taken over, nor deleted (msg: why) */
};

/* Adopts device dev_id as described in RUN_DIR/devices; msg says what happened, for the log. */
enum adopt_result adopt_device(const struct adopt_env *env, uint32_t dev_id, struct device **out,
			       char *msg, size_t msg_len);

/*
 * A device the kernel has and RUN_DIR/devices does not describe: if a ublkd made it
 * (include/device_ublk.h: dev_ublk_creator) and died before it was live, nothing can ever
 * serve it, and the add that made it failed: deleted (ADOPT_DELETED, or ADOPT_FAILED if the
 * kernel refused). Anyone else's, or one its creator is still making: ADOPT_NOT_OURS.
 */
enum adopt_result adopt_half_made(const struct adopt_env *env, uint32_t dev_id, char *msg,
				  size_t msg_len);

#endif /* UBLKD_ADOPT_H */
