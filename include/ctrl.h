/* SPDX-License-Identifier: MIT */
/*
 * The ublk control plane transport: /dev/ublk-control and the SQE128 ring that carries its
 * commands, one function per command. Every command waits for its completion with a timeout;
 * each returns >= 0 or -errno, and nothing here prints.
 *
 * Timeouts. Some kernels oops inside a control command and its completion never comes, and
 * some commands legitimately wait on other parties (START_DEV waits for every queue's
 * FETCH_REQs, DEL_DEV for the last opener). A command that outlives timeout_ms returns
 * -ETIMEDOUT and leaves the transport STUCK: every later command fails with -EBADFD, and the
 * caller should close it and open a new one if it wants to go on. What a timed-out command did
 * is unknown (an ADD_DEV may have created its device): ask the kernel with a new transport.
 *
 * Why that is safe: the kernel never sees caller memory. Every in/out buffer is copied through
 * a payload page that the transport owns, allocated with mmap so that it is nobody else's
 * memory. While a timed-out command may still complete, only that page can be written, and
 * ublk_ctrl_close() unmaps it only once the command's completion has been seen; otherwise the
 * page stays mapped (4 KiB lost per stuck transport) because the kernel may write into it at
 * any later time. Cancelling instead (IORING_OP_ASYNC_CANCEL, or closing the ring) is not a
 * guarantee: control commands run in io-wq workers, and cancelling a running worker only
 * interrupts an interruptible sleep (START_DEV's wait is one); a worker that oopsed or sleeps
 * uninterruptibly never finishes, and waiting for it would hang us too. Closing the ring still
 * asks the kernel to cancel, which is what lets a stuck START_DEV go and its device be deleted.
 */
#ifndef UBLKD_CTRL_H
#define UBLKD_CTRL_H

#include <limits.h>
#include <sched.h>
#include <stdint.h>
#include <sys/types.h>

#include "abi/ublk.h"
#include "uring.h"

#define UBLK_CTRL_DEV_PATH "/dev/ublk-control"
/* Long enough for DEL_DEV under a slow emulator; a healthy kernel answers in milliseconds. */
#define UBLK_CTRL_DEFAULT_TIMEOUT_MS 30000U
/*
 * For a transport that only a worker thread waits on: commands that legitimately wait for the
 * block layer (STOP_DEV drains I/O, DEL_DEV waits for the last opener) get as long as they need.
 */
#define UBLK_CTRL_NO_TIMEOUT UINT_MAX
/* ADD_DEV / GET_DEV_INFO address a device the kernel numbers; -1 lets ADD_DEV choose. */
#define UBLK_DEV_ID_ANY ((uint32_t)-1)

enum ublk_ctrl_state {
	UBLK_CTRL_CLOSED = 0, /* no device fd, no ring */
	UBLK_CTRL_READY,      /* open, no command in the kernel */
	UBLK_CTRL_STUCK,      /* a command failed to complete and may still own the payload */
};

struct ublk_ctrl {
	enum ublk_ctrl_state state;
	int fd; /* the control device */
	struct uring ring;
	unsigned timeout_ms; /* per command (0: the default); may change between commands */
	void *payload;	     /* the one buffer the kernel reads and writes: one page, mmap'd */
	uint64_t seq;	     /* user_data of the last command issued */
	/* After a failed open: what failed (the path given, or a static name of the ring). */
	const char *err_subject;
};

int ublk_ctrl_open(struct ublk_ctrl *c);
/* The same, on another path to the control device (a bind mount, a test's stand-in). */
int ublk_ctrl_open_path(struct ublk_ctrl *c, const char *path);
/* Safe to call on a closed or stuck transport; see the header comment for a stuck one. */
void ublk_ctrl_close(struct ublk_ctrl *c);

/* GET_FEATURES (6.5+): the UBLK_F_* mask the driver supports. */
int ublk_ctrl_get_features(struct ublk_ctrl *c, uint64_t *features);

/*
 * ADD_DEV. In: info->dev_id (UBLK_DEV_ID_ANY or the id wanted), nr_hw_queues, queue_depth,
 * max_io_buf_bytes, flags, ublksrv_flags. On success *info is what the kernel accepted (id,
 * queues clamped to the CPU count, buffer size rounded to a page, flags masked and extended)
 * and the return value is the device id.
 */
int ublk_ctrl_add_dev(struct ublk_ctrl *c, struct ublksrv_ctrl_dev_info *info);
/*
 * The ids of every ublk device the kernel has (its char devices, from sysfs, or /dev when
 * sysfs lacks the class), sorted, in *ids (to free); 0 or -ENOMEM.
 */
int ublk_kernel_dev_ids(uint32_t **ids, unsigned *nr);
/* DEL_DEV waits until the device is released; DEL_DEV_ASYNC (6.9+) does not. */
int ublk_ctrl_del_dev(struct ublk_ctrl *c, uint32_t dev_id);
int ublk_ctrl_del_dev_async(struct ublk_ctrl *c, uint32_t dev_id);
int ublk_ctrl_get_dev_info(struct ublk_ctrl *c, uint32_t dev_id,
			   struct ublksrv_ctrl_dev_info *info);

/* Sends p->len bytes of *p (0: all of it); the kernel ignores the types it does not know. */
int ublk_ctrl_set_params(struct ublk_ctrl *c, uint32_t dev_id, const struct ublk_params *p);
/* Fills *p as the kernel has it: the len last set, the types set plus DEVT, zeros beyond. */
int ublk_ctrl_get_params(struct ublk_ctrl *c, uint32_t dev_id, struct ublk_params *p);

/* START_DEV blocks until every queue has fetched all its tags; pid is the serving process. */
int ublk_ctrl_start_dev(struct ublk_ctrl *c, uint32_t dev_id, pid_t pid);
int ublk_ctrl_stop_dev(struct ublk_ctrl *c, uint32_t dev_id);
/*
 * User recovery (UBLK_F_USER_RECOVERY): START_USER_RECOVERY takes over a device whose server
 * died (quiesced or failing I/O; -EBUSY while the old server's char device is still open);
 * the new server fetches every tag, then END_USER_RECOVERY (pid: the new server) makes it
 * live again, waiting like START_DEV for the fetches.
 */
int ublk_ctrl_start_user_recovery(struct ublk_ctrl *c, uint32_t dev_id);
int ublk_ctrl_end_user_recovery(struct ublk_ctrl *c, uint32_t dev_id, pid_t pid);
/* TRY_STOP_DEV (UBLK_F_SAFE_STOP_DEV, 7.0+): STOP_DEV, but -EBUSY while the disk is open. */
/*
 * QUIESCE_DEV (6.16+, devices made with UBLK_F_QUIESCE): waits up to timeout_ms for the
 * requests in flight to be committed, then holds new I/O and aborts the server's fetches, so
 * that a next server can take the device over (user recovery) without any request reissued.
 */
int ublk_ctrl_quiesce_dev(struct ublk_ctrl *c, uint32_t dev_id, uint32_t timeout_ms);
int ublk_ctrl_try_stop_dev(struct ublk_ctrl *c, uint32_t dev_id);
/* The CPUs whose I/O blk-mq maps to queue q_id. */
int ublk_ctrl_get_queue_affinity(struct ublk_ctrl *c, uint32_t dev_id, uint16_t q_id,
				 cpu_set_t *cpus);

/* After a failed open: what the user may try, as " (is the ublk_drv module loaded?)", or "". */
const char *ublk_ctrl_open_hint(const struct ublk_ctrl *c, int err);

/* "CMD_IOCTL_ENCODE" for bit 6 (UBLK_F_CMD_IOCTL_ENCODE), NULL for a bit ublkd does not know. */
const char *ublk_feature_name(unsigned bit);

#endif /* UBLKD_CTRL_H */
