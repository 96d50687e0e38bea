// SPDX-License-Identifier: MIT
/*
 * The real kernel side of the device state machine: each transition of include/device.h as
 * ublk_drv control commands and queue threads. Each op leaves d->err naming the command and the
 * cause, and undoes its own partial work when it fails.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ctrl.h"
#include "device.h"
#include "device_ublk.h"
#include "holders.h"
#include "io_mode.h"
#include "parse.h"
#include "queue.h"

/* A transport left STUCK by a timed-out command is replaced before the next command. */
static int ctrl_usable(struct device *d)
{
	int ret;

	if (d->ctrl->state == UBLK_CTRL_READY)
		return 0;
	ublk_ctrl_close(d->ctrl);
	ret = ublk_ctrl_open(d->ctrl);
	if (ret < 0)
		snprintf(d->err, sizeof(d->err), "%s: %s", d->ctrl->err_subject, strerror(-ret));
	return ret;
}

static int ctrl_failed(struct device *d, const char *cmd, int ret)
{
	if (ret == -ETIMEDOUT)
		snprintf(d->err, sizeof(d->err), "%s: no answer from ublk_drv within %u ms", cmd,
			 d->ctrl->timeout_ms);
	else
		snprintf(d->err, sizeof(d->err), "%s: %s", cmd, strerror(-ret));
	return ret;
}

/* The first CPU of wanted that is not online, named; 0 when /sys cannot tell. */
static int check_cpus_online(const cpu_set_t *wanted, char *err, size_t err_len)
{
	char online_text[1024] = "";
	cpu_set_t online;
	FILE *f = fopen("/sys/devices/system/cpu/online", "re");

	if (!f)
		return 0;
	if (!fgets(online_text, sizeof(online_text), f))
		online_text[0] = '\0';
	fclose(f);
	online_text[strcspn(online_text, "\n")] = '\0';
	if (parse_cpu_list(online_text, &online) < 0)
		return 0;
	for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
		if (CPU_ISSET(cpu, wanted) && !CPU_ISSET(cpu, &online)) {
			snprintf(err, err_len, "cpus: CPU %d is not online (online: %s)", cpu,
				 online_text);
			return -EINVAL;
		}
	}
	return 0;
}

static int ublk_add(struct device *d)
{
	struct ublksrv_ctrl_dev_info info = {
		.nr_hw_queues = (uint16_t)d->conf.queues,
		.queue_depth = (uint16_t)d->conf.depth,
		.max_io_buf_bytes = DEV_IO_BUF_BYTES,
		.dev_id = d->conf.id,
		.ublksrv_flags = dev_ublk_srv_flags(getpid()),
		/*
		 * What we want of what the driver offers (GET_FEATURES): the ioctl-encoded
		 * commands we send. The kernel adds flags of its own (COMP_IN_TASK, ...); the
		 * accepted set is read back into d->info.
		 */
		.flags = (DEV_UBLK_WANTED_FLAGS | d->want_flags) & d->features,
	};
	uint64_t missing = d->want_flags & ~d->features;
	const struct backend_ops *be_ops = d->be.ops;
	enum dev_io_mode mode;
	int ret;

	/* What the user asked for and the kernel cannot do is an error, not a downgrade. */
	if (missing) {
		const char *name = ublk_feature_name((unsigned)__builtin_ctzll(missing));

		snprintf(d->err, sizeof(d->err),
			 "recovery = %s needs ublk_drv's %s, which this kernel lacks%s",
			 dev_recovery_name(d->conf.recovery), name ? name : "feature",
			 missing & UBLK_F_USER_RECOVERY_FAIL_IO ? " (Linux 6.13+)" : "");
		return -EOPNOTSUPP;
	}
	ret = io_mode_choose(d->conf.io_mode, be_ops ? be_ops->name : "unknown",
			     be_ops ? be_ops->io_modes : 0, be_ops ? be_ops->io_mode_order : NULL,
			     d->features, &mode, d->err, sizeof(d->err));
	if (ret < 0)
		return ret;
	if (be_ops)
		info.flags |= io_mode_device_flags(mode, be_ops->io_modes, be_ops->io_mode_order,
						   d->features);
	/* A recoverable device can also be handed to the next ublkd without a reissue (6.16+). */
	if (d->want_flags & UBLK_F_USER_RECOVERY)
		info.flags |= d->features & UBLK_F_QUIESCE;
	/*
	 * Before ADD_DEV: a CPU that is offline, or that we may not use, would fail only in the
	 * queue thread, after the device exists, as "Invalid argument".
	 */
	if (d->conf.cpus_given) {
		ret = check_cpus_online(&d->conf.cpus, d->err, sizeof(d->err));
		if (!ret)
			ret = dev_ublk_check_cpus(&d->conf.cpus, &d->allowed_cpus, d->err,
						  sizeof(d->err));
		if (ret < 0)
			return ret;
	}
	ret = ctrl_usable(d);
	if (ret < 0)
		return ret;
	ret = ublk_ctrl_add_dev(d->ctrl, &info);
	if (ret == -EEXIST && d->conf.id != DEV_ID_ANY) {
		snprintf(d->err, sizeof(d->err), "ADD_DEV: id %u is taken (/dev/ublkc%u exists)",
			 d->conf.id, d->conf.id);
		return ret;
	}
	if (ret < 0)
		return ctrl_failed(d, "ADD_DEV", ret);
	/* From here on, the queue count, depth and buffer size are the kernel's. */
	d->info = info;
	return 0;
}

void dev_ublk_build_params(const struct device *d, struct ublk_params *p)
{
	unsigned lbs_shift = (unsigned)__builtin_ctz(d->be.block_size);
	unsigned pbs_shift = lbs_shift > 12 ? lbs_shift : 12;
	uint32_t caps = d->be.caps;

	memset(p, 0, sizeof(*p));
	p->len = sizeof(*p);
	p->types = UBLK_PARAM_TYPE_BASIC;
	/* Not ROTATIONAL: RAM and files have no seek penalty worth the scheduler's care. */
	if (d->be.read_only || d->conf.read_only)
		p->basic.attrs |= UBLK_ATTR_READ_ONLY;
	if (caps & BACKEND_CAP_FLUSH)
		p->basic.attrs |= UBLK_ATTR_VOLATILE_CACHE;
	if (caps & BACKEND_CAP_FUA)
		p->basic.attrs |= UBLK_ATTR_FUA;
	p->basic.logical_bs_shift = (uint8_t)lbs_shift;
	p->basic.physical_bs_shift = (uint8_t)pbs_shift;
	p->basic.io_min_shift = (uint8_t)pbs_shift;
	p->basic.io_opt_shift = 0;
	/* A request never needs more than the tag's buffer. */
	p->basic.max_sectors = d->info.max_io_buf_bytes >> UBLK_SECTOR_SHIFT;
	p->basic.dev_sectors = d->be.size_bytes >> UBLK_SECTOR_SHIFT;
	if (caps & (BACKEND_CAP_DISCARD | BACKEND_CAP_WRITE_ZEROES)) {
		p->types |= UBLK_PARAM_TYPE_DISCARD;
		/* Page granularity: a smaller discard frees nothing in RAM or most filesystems. */
		p->discard.discard_granularity = 1U << pbs_shift;
		if (caps & BACKEND_CAP_DISCARD)
			p->discard.max_discard_sectors = DEV_MAX_DISCARD_SECTORS;
		if (caps & BACKEND_CAP_WRITE_ZEROES)
			p->discard.max_write_zeroes_sectors = DEV_MAX_DISCARD_SECTORS;
		/* The driver hands us one range per request. */
		p->discard.max_discard_segments = 1;
	}
}

static int ublk_set_params(struct device *d)
{
	int ret = ctrl_usable(d);

	if (ret < 0)
		return ret;
	dev_ublk_build_params(d, &d->params);
	ret = ublk_ctrl_set_params(d->ctrl, d->info.dev_id, &d->params);
	return ret < 0 ? ctrl_failed(d, "SET_PARAMS", ret) : 0;
}

int dev_ublk_queue_cpu(const cpu_set_t *set, unsigned q_id, unsigned nr_queues)
{
	int n = CPU_COUNT(set), want, seen = 0;

	if (!n || !nr_queues)
		return -1;
	/* Spread: queue i takes the CPU at position i * n / nr_queues of the set. */
	want = (int)((uint64_t)q_id * (unsigned)n / nr_queues);
	for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
		if (!CPU_ISSET(cpu, set))
			continue;
		if (seen++ == want)
			return cpu;
	}
	return -1;
}

int dev_ublk_check_cpus(const cpu_set_t *wanted, const cpu_set_t *allowed, char *err,
			size_t err_bytes)
{
	char allowed_text[CPU_LIST_STR_MAX];

	for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
		if (CPU_ISSET(cpu, wanted) && !CPU_ISSET(cpu, allowed)) {
			snprintf(err, err_bytes,
				 "cpus: CPU %d is not allowed for ublkd (allowed: %s)", cpu,
				 format_cpu_list(allowed, allowed_text, sizeof(allowed_text)));
			return -EINVAL;
		}
	}
	return 0;
}

int dev_ublk_default_queue_cpu(const cpu_set_t *mapped, const cpu_set_t *allowed, unsigned q_id,
			       unsigned nr_queues)
{
	cpu_set_t usable;

	CPU_AND(&usable, mapped, allowed);
	if (CPU_COUNT(&usable))
		return dev_ublk_queue_cpu(&usable, 0, 1);
	return dev_ublk_queue_cpu(allowed, q_id, nr_queues);
}

/*
 * The CPU queue q_id's thread runs on: from the config (checked by ublk_add), or the first
 * allowed CPU of the kernel's mapping.
 */
static int ublk_queue_cpu(struct device *d, uint16_t q_id, int *cpu)
{
	cpu_set_t kernel_set;
	int ret;

	if (d->conf.cpus_given) {
		*cpu = dev_ublk_queue_cpu(&d->conf.cpus, q_id, d->info.nr_hw_queues);
		return 0;
	}
	ret = ublk_ctrl_get_queue_affinity(d->ctrl, d->info.dev_id, q_id, &kernel_set);
	if (ret < 0)
		return ctrl_failed(d, "GET_QUEUE_AFFINITY", ret);
	*cpu = dev_ublk_default_queue_cpu(&kernel_set, &d->allowed_cpus, q_id,
					  d->info.nr_hw_queues);
	return 0;
}

/* The char device appears with ADD_DEV; udev may still be setting it up, so allow it a moment. */
static int open_cdev(struct device *d)
{
	char path[64];
	int fd;

	snprintf(path, sizeof(path), "/dev/ublkc%u", d->info.dev_id);
	for (int tries = 0; tries < 100; tries++) {
		fd = open(path, O_RDWR | O_CLOEXEC);
		if (fd >= 0 || errno != ENOENT)
			break;
		nanosleep(&(struct timespec){ .tv_nsec = 20 * 1000 * 1000 }, NULL);
	}
	if (fd < 0) {
		int ret = -errno;

		snprintf(d->err, sizeof(d->err), "%s: %s", path, strerror(-ret));
		return ret;
	}
	d->cdev_fd = fd;
	return 0;
}

static void stop_queues(struct device *d, unsigned nr)
{
	for (unsigned i = nr; i-- > 0;)
		queue_stop(&d->queues[i]);
	free(d->queues);
	d->queues = NULL;
	if (d->cdev_fd >= 0)
		close(d->cdev_fd);
	d->cdev_fd = -1;
}

static int ublk_start_queues(struct device *d)
{
	unsigned nr = d->info.nr_hw_queues, started = 0;
	int ret = ctrl_usable(d);

	if (ret < 0)
		return ret;
	ret = open_cdev(d);
	if (ret < 0)
		return ret;
	d->queues = calloc(nr, sizeof(*d->queues));
	if (!d->queues) {
		ret = -ENOMEM;
		snprintf(d->err, sizeof(d->err), "queues: %s", strerror(ENOMEM));
		goto fail;
	}
	for (; started < nr; started++) {
		struct queue_conf qc = {
			.dev_id = d->info.dev_id,
			.q_id = (uint16_t)started,
			.depth = d->info.queue_depth,
			.buf_bytes = d->info.max_io_buf_bytes,
			.dev_sectors = d->params.basic.dev_sectors,
			.read_only = d->params.basic.attrs & UBLK_ATTR_READ_ONLY,
			.cdev_fd = d->cdev_fd,
			.io_mode = io_mode_data_of_flags(d->info.flags),
			.batch = d->info.flags & UBLK_F_BATCH_IO,
			.be = &d->be,
			.fault = &d->fault,
		};

		ret = ublk_queue_cpu(d, qc.q_id, &qc.cpu);
		if (ret < 0)
			goto fail;
		ret = queue_start(&d->queues[started], &qc);
		if (ret < 0) {
			snprintf(d->err, sizeof(d->err), "queue %u: %s", started,
				 d->queues[started].err);
			goto fail;
		}
	}
	return 0;
fail:
	stop_queues(d, started);
	return ret;
}

static int ublk_start(struct device *d)
{
	int ret = ctrl_usable(d);

	if (ret < 0)
		return ret;
	ret = ublk_ctrl_start_dev(d->ctrl, d->info.dev_id, getpid());
	return ret < 0 ? ctrl_failed(d, "START_DEV", ret) : 0;
}

/*
 * Where the kernel cannot refuse a stop itself (no TRY_STOP_DEV): an exclusive open fails while
 * the disk is mounted or stacked on, and the holders scan finds processes with it open. A
 * mount that comes between this and STOP_DEV is not seen; TRY_STOP_DEV has no such window.
 */
static int probe_unused(struct device *d)
{
	char path[64], holders[DEV_ERR_MAX / 2];
	int fd;

	snprintf(path, sizeof(path), "/dev/ublkb%u", d->info.dev_id);
	fd = open(path, O_RDONLY | O_EXCL | O_NONBLOCK | O_CLOEXEC);
	if (fd >= 0)
		close(fd);
	if ((fd < 0 && errno == EBUSY) ||
	    holders_describe(d->info.dev_id, holders, sizeof(holders)))
		return -EBUSY;
	return 0;
}

static int refuse_in_use(struct device *d)
{
	char holders[DEV_ERR_MAX / 2];

	if (!holders_describe(d->info.dev_id, holders, sizeof(holders)))
		snprintf(holders, sizeof(holders), "held open");
	snprintf(d->err, sizeof(d->err), "/dev/ublkb%u is in use: %s", d->info.dev_id, holders);
	return -EBUSY;
}

void dev_ublk_cut_delays(struct device *d, bool cut)
{
	fault_suspend(&d->fault, cut);
	for (unsigned i = 0; cut && d->queues && i < d->info.nr_hw_queues; i++)
		queue_cut_delays(&d->queues[i]);
}

static int ublk_stop(struct device *d)
{
	bool try_stop = d->stop_only_unused && (d->info.flags & UBLK_F_SAFE_STOP_DEV);
	int ret = ctrl_usable(d);

	if (ret < 0)
		return ret;
	if (d->stop_only_unused && !try_stop && probe_unused(d) < 0)
		return refuse_in_use(d);
	/* STOP_DEV waits for the requests in flight: an injected delay must not hold it. */
	dev_ublk_cut_delays(d, true);
	if (try_stop) {
		ret = ublk_ctrl_try_stop_dev(d->ctrl, d->info.dev_id);
		if (ret == -EBUSY) {
			dev_ublk_cut_delays(d, false);
			return refuse_in_use(d);
		}
		return ret < 0 ? ctrl_failed(d, "TRY_STOP_DEV", ret) : 0;
	}
	ret = ublk_ctrl_stop_dev(d->ctrl, d->info.dev_id);
	return ret < 0 ? ctrl_failed(d, "STOP_DEV", ret) : 0;
}

static void ublk_stop_queues(struct device *d)
{
	stop_queues(d, d->info.nr_hw_queues);
}

static int ublk_del(struct device *d)
{
	int ret = ctrl_usable(d);

	if (ret < 0)
		return ret;
	if (d->del_async) {
		ret = ublk_ctrl_del_dev_async(d->ctrl, d->info.dev_id);
		/* Older than 6.9: the waiting kind is all there is. */
		if (ret != -EOPNOTSUPP && ret != -EINVAL && ret != -ENOTTY)
			return ret < 0 && ret != -ENODEV ? ctrl_failed(d, "DEL_DEV_ASYNC", ret) : 0;
	}
	ret = ublk_ctrl_del_dev(d->ctrl, d->info.dev_id);
	return ret < 0 && ret != -ENODEV ? ctrl_failed(d, "DEL_DEV", ret) : 0;
}

/*
 * conf.id as the kernel has it: a device of a server that died (quiesced, or failing I/O),
 * made for user recovery. Its info and params become ours: queues, depth, buffer and size are
 * what the kernel already serves, and the backend must still be as large.
 */
int dev_ublk_check_found_info(const struct ublksrv_ctrl_dev_info *info, const struct backend *be,
			      char *err, size_t err_bytes)
{
	enum dev_io_mode mode;

	if (info->state != UBLK_S_DEV_QUIESCED && info->state != UBLK_S_DEV_FAIL_IO) {
		snprintf(err, err_bytes,
			 "/dev/ublkb%u is not waiting for a server (state %u, pid %d)",
			 info->dev_id, info->state, info->ublksrv_pid);
		return -EBUSY;
	}
	if (!(info->flags & UBLK_F_USER_RECOVERY)) {
		snprintf(err, err_bytes, "/dev/ublkb%u was made without user recovery",
			 info->dev_id);
		return -EOPNOTSUPP;
	}
	mode = io_mode_data_of_flags(info->flags);
	if (mode != IO_MODE_COPY && !(be->ops && (be->ops->io_modes & IO_MODE_BIT(mode)))) {
		snprintf(err, err_bytes,
			 "/dev/ublkb%u runs in io_mode %s, which its %s backend cannot serve",
			 info->dev_id, dev_io_mode_name(mode), be->ops ? be->ops->name : "");
		return -EOPNOTSUPP;
	}
	/* What our queues are made of: the limits ublkd would have asked for itself. */
	if (!info->nr_hw_queues || info->nr_hw_queues > DEV_MAX_QUEUES || !info->queue_depth ||
	    info->queue_depth > DEV_MAX_DEPTH ||
	    info->max_io_buf_bytes < (1U << UBLK_SECTOR_SHIFT) ||
	    info->max_io_buf_bytes > DEV_IO_BUF_BYTES ||
	    info->max_io_buf_bytes % (1U << UBLK_SECTOR_SHIFT)) {
		snprintf(err, err_bytes,
			 "/dev/ublkb%u: the kernel reports %u queues of depth %u, %u-byte buffers, "
			 "beyond what ublkd serves",
			 info->dev_id, info->nr_hw_queues, info->queue_depth,
			 info->max_io_buf_bytes);
		return -EINVAL;
	}
	return 0;
}

int dev_ublk_check_found_params(const struct ublksrv_ctrl_dev_info *info,
				const struct ublk_params *p, const struct backend *be, char *err,
				size_t err_bytes)
{
	const struct ublk_param_basic *b = &p->basic;

	if (!(p->types & UBLK_PARAM_TYPE_BASIC) || b->logical_bs_shift < UBLK_SECTOR_SHIFT ||
	    b->logical_bs_shift > 12 || !b->dev_sectors ||
	    b->dev_sectors > UINT64_MAX >> UBLK_SECTOR_SHIFT) {
		snprintf(err, err_bytes,
			 "/dev/ublkb%u: the kernel's parameters make no device (types 0x%x, "
			 "block 2^%u, %llu sectors)",
			 info->dev_id, p->types, b->logical_bs_shift,
			 (unsigned long long)b->dev_sectors);
		return -EINVAL;
	}
	if (b->dev_sectors << UBLK_SECTOR_SHIFT > be->size_bytes) {
		snprintf(err, err_bytes, "/dev/ublkb%u has %llu bytes, its backend only %llu now",
			 info->dev_id, (unsigned long long)b->dev_sectors << UBLK_SECTOR_SHIFT,
			 (unsigned long long)be->size_bytes);
		return -EINVAL;
	}
	return 0;
}

static int ublk_find(struct device *d)
{
	struct ublksrv_ctrl_dev_info info;
	int ret = ctrl_usable(d);

	if (ret < 0)
		return ret;
	ret = ublk_ctrl_get_dev_info(d->ctrl, d->conf.id, &info);
	if (ret == -ENODEV) {
		snprintf(d->err, sizeof(d->err), "no ublk device %u", d->conf.id);
		return ret;
	}
	if (ret < 0)
		return ctrl_failed(d, "GET_DEV_INFO", ret);
	ret = dev_ublk_check_found_info(&info, &d->be, d->err, sizeof(d->err));
	if (ret < 0)
		return ret;
	ret = ublk_ctrl_get_params(d->ctrl, info.dev_id, &d->params);
	if (ret < 0)
		return ctrl_failed(d, "GET_PARAMS", ret);
	ret = dev_ublk_check_found_params(&info, &d->params, &d->be, d->err, sizeof(d->err));
	if (ret < 0)
		return ret;
	d->info = info;
	return 0;
}

/* One try: dev_begin_recovery() retries while the dead server's /dev/ublkcN is closing. */
static int ublk_begin_recovery(struct device *d)
{
	int ret = ctrl_usable(d);

	if (ret < 0)
		return ret;
	ret = ublk_ctrl_start_user_recovery(d->ctrl, d->info.dev_id);
	return ret < 0 ? ctrl_failed(d, "START_USER_RECOVERY", ret) : 0;
}

static int ublk_end_recovery(struct device *d)
{
	int ret = ctrl_usable(d);

	if (ret < 0)
		return ret;
	ret = ublk_ctrl_end_user_recovery(d->ctrl, d->info.dev_id, getpid());
	return ret < 0 ? ctrl_failed(d, "END_USER_RECOVERY", ret) : 0;
}

const struct dev_kernel_ops dev_ublk_ops = {
	.add = ublk_add,
	.set_params = ublk_set_params,
	.start_queues = ublk_start_queues,
	.start = ublk_start,
	.stop = ublk_stop,
	.stop_queues = ublk_stop_queues,
	.del = ublk_del,
	.find = ublk_find,
	.begin_recovery = ublk_begin_recovery,
	.end_recovery = ublk_end_recovery,
};
