/* SPDX-License-Identifier: MIT */
/* The device state machine's real kernel side: ublk_drv's control commands and queue threads. */
#ifndef UBLKD_DEVICE_UBLK_H
#define UBLKD_DEVICE_UBLK_H

#include <sched.h>
#include <stdint.h>
#include <sys/types.h>

#include "device.h"

/* Per-tag buffer, and so the largest request: 512 KiB, like the kernel's own default. */
#define DEV_IO_BUF_BYTES BACKEND_MAX_IO_BYTES
/* Largest DISCARD / WRITE_ZEROES request we accept: 1 GiB. */
#define DEV_MAX_DISCARD_SECTORS (1U << 21)

/* The UBLK_F_* ublkd asks for, when the driver offers them. */
#define DEV_UBLK_WANTED_FLAGS (UBLK_F_CMD_IOCTL_ENCODE | UBLK_F_SAFE_STOP_DEV)

extern const struct dev_kernel_ops dev_ublk_ops;

/*
 * ADD_DEV's ublksrv_flags, which the kernel keeps for the server and gives back in
 * GET_DEV_INFO: DEV_UBLK_SRV_MAGIC in the upper half, the creating daemon's pid in the lower.
 * A device whose creator died before it was live (and so before its description was written)
 * can then be told from someone else's, and deleted: nothing else could ever serve it.
 */
#define DEV_UBLK_SRV_MAGIC 0x75626b64ULL /* "ubkd" */

static inline uint64_t dev_ublk_srv_flags(pid_t creator)
{
	return DEV_UBLK_SRV_MAGIC << 32 | (uint32_t)creator;
}

/* The pid of the ublkd that made a device, from its GET_DEV_INFO; 0 if not made by ublkd. */
static inline pid_t dev_ublk_creator(const struct ublksrv_ctrl_dev_info *info)
{
	return info->ublksrv_flags >> 32 == DEV_UBLK_SRV_MAGIC
		       ? (pid_t)(uint32_t)info->ublksrv_flags
		       : 0;
}

/*
 * Adoption trusts the kernel's word about a dead server's device only this far: GET_DEV_INFO
 * must say it waits for a server (quiesced, or failing I/O), was made for user recovery, in a
 * data mode be can serve, with queues, depth and buffers ublkd could have asked for; then
 * GET_PARAMS must give a size, within be, and a block size of 512 to 4096. -errno and err
 * saying what is wrong otherwise.
 */
int dev_ublk_check_found_info(const struct ublksrv_ctrl_dev_info *info, const struct backend *be,
			      char *err, size_t err_bytes);
int dev_ublk_check_found_params(const struct ublksrv_ctrl_dev_info *info,
				const struct ublk_params *p, const struct backend *be, char *err,
				size_t err_bytes);

/*
 * cut: suspends d's injected faults and ends the delays its queues hold, before a STOP_DEV or
 * QUIESCE_DEV waits for the requests in flight; !cut: faults resume (the stop was refused).
 */
void dev_ublk_cut_delays(struct device *d, bool cut);
/* SET_PARAMS for d: sizes from its backend, limits from what ADD_DEV accepted. */
void dev_ublk_build_params(const struct device *d, struct ublk_params *p);
/* The CPU of set for queue q_id of nr_queues, spread evenly; -1 for an empty set. */
int dev_ublk_queue_cpu(const cpu_set_t *set, unsigned q_id, unsigned nr_queues);
/*
 * 0 when every CPU of wanted (a device's cpus) is in allowed (the daemon's); otherwise -EINVAL
 * and err names the first one that is not: "cpus: CPU 0 is not allowed for ublkd (allowed: 1)".
 */
int dev_ublk_check_cpus(const cpu_set_t *wanted, const cpu_set_t *allowed, char *err,
			size_t err_bytes);
/*
 * The CPU of a queue without configured cpus: the first of the kernel's mapped CPUs that is
 * allowed; when none is, the allowed CPUs spread over the queues. -1 for an empty allowed set.
 */
int dev_ublk_default_queue_cpu(const cpu_set_t *mapped, const cpu_set_t *allowed, unsigned q_id,
			       unsigned nr_queues);

#endif /* UBLKD_DEVICE_UBLK_H */
