// SPDX-License-Identifier: MIT
/*
 * The ublk control plane transport (include/ctrl.h): every command is one ctrl_exec() call
 * that copies its input into the payload page, issues one URING_CMD and waits for it.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "ctrl.h"

/* One command at a time; a spare slot or two for nothing in particular. */
#define CTRL_RING_ENTRIES 4
#define CTRL_PAYLOAD_BYTES 4096
/*
 * GET_QUEUE_AFFINITY wants len * 8 >= nr_cpu_ids and len a multiple of 8: 1024 bytes cover
 * the largest NR_CPUS a distribution builds (8192).
 */
#define CTRL_CPUMASK_BYTES 1024

_Static_assert(sizeof(struct ublk_params) <= CTRL_PAYLOAD_BYTES, "params fit the payload");
_Static_assert(CTRL_CPUMASK_BYTES <= CTRL_PAYLOAD_BYTES, "cpu mask fits the payload");

/* One control command: what goes into the SQE's command area and through the payload. */
struct ctrl_req {
	uint32_t cmd_op; /* UBLK_U_CMD_* */
	uint32_t dev_id;
	uint16_t queue_id;
	uint64_t data0;
	uint16_t buf_bytes; /* ublksrv_ctrl_cmd.len: payload bytes the kernel may use; 0: none */
	const void *in;	    /* copied to the payload first; the rest of buf_bytes is zeroed */
	size_t in_bytes;
	void *out; /* copied from the payload when the command succeeds */
	size_t out_bytes;
};

int ublk_ctrl_open_path(struct ublk_ctrl *c, const char *path)
{
	int ret;

	memset(c, 0, sizeof(*c));
	c->fd = -1;
	c->ring.ring_fd = -1;
	c->timeout_ms = UBLK_CTRL_DEFAULT_TIMEOUT_MS;
	c->payload = mmap(NULL, CTRL_PAYLOAD_BYTES, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (c->payload == MAP_FAILED) {
		c->payload = NULL;
		c->err_subject = "control payload page";
		return -errno;
	}
	c->fd = open(path, O_RDWR | O_CLOEXEC);
	if (c->fd < 0) {
		ret = -errno;
		c->err_subject = path;
		goto fail;
	}
	ret = uring_init_simple(&c->ring, CTRL_RING_ENTRIES, IORING_SETUP_SQE128);
	if (ret < 0) {
		c->err_subject = "io_uring SQE128 ring";
		goto fail;
	}
	c->state = UBLK_CTRL_READY;
	return 0;
fail:
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	munmap(c->payload, CTRL_PAYLOAD_BYTES);
	c->payload = NULL;
	return ret;
}

int ublk_ctrl_open(struct ublk_ctrl *c)
{
	return ublk_ctrl_open_path(c, UBLK_CTRL_DEV_PATH);
}

/*
 * Whether the kernel is done with the payload of a stuck transport: its SQE was never
 * consumed (and never will be: nothing enters this ring again), or its CQE has arrived since.
 */
static bool ctrl_payload_released(struct ublk_ctrl *c)
{
	struct io_uring_cqe *cqes[CTRL_RING_ENTRIES * 2];
	unsigned n;

	if (uring_sq_ready(&c->ring))
		return true;
	/* Completions posted by task work or held in the overflow list come in with this. */
	uring_get_events(&c->ring);
	while ((n = uring_peek_batch_cqe(&c->ring, cqes, CTRL_RING_ENTRIES * 2))) {
		for (unsigned i = 0; i < n; i++) {
			if (cqes[i]->user_data == c->seq)
				return true;
		}
		uring_cq_advance(&c->ring, n);
	}
	return false;
}

void ublk_ctrl_close(struct ublk_ctrl *c)
{
	bool release = true;

	if (c->state == UBLK_CTRL_CLOSED)
		return;
	if (c->state == UBLK_CTRL_STUCK)
		release = ctrl_payload_released(c);
	/* Closing the ring also asks the kernel to cancel what is still in flight. */
	uring_exit(&c->ring);
	close(c->fd);
	c->fd = -1;
	/* Otherwise deliberately left mapped: a late completion may still write into it. */
	if (release)
		munmap(c->payload, CTRL_PAYLOAD_BYTES);
	c->payload = NULL;
	c->state = UBLK_CTRL_CLOSED;
}

/* Submit what is queued and wait for the CQE of seq: 0 and *res, or -ETIMEDOUT, or -errno. */
static int ctrl_wait(struct ublk_ctrl *c, uint64_t seq, int *res)
{
	unsigned timeout_ms = c->timeout_ms ? c->timeout_ms : UBLK_CTRL_DEFAULT_TIMEOUT_MS;
	int64_t deadline_ms = monotonic_ms() + timeout_ms;

	for (;;) {
		int64_t left_ms = deadline_ms - monotonic_ms();
		struct io_uring_cqe *cqe;
		uint64_t user_data;
		int ret;

		if (timeout_ms == UBLK_CTRL_NO_TIMEOUT)
			ret = uring_wait_cqe(&c->ring, &cqe);
		else
			ret = uring_wait_cqe_timeout(&c->ring, &cqe,
						     left_ms > 0 ? (unsigned)left_ms : 0);
		if (ret == -ETIME)
			return -ETIMEDOUT;
		if (ret < 0)
			return ret;
		user_data = cqe->user_data;
		*res = cqe->res;
		uring_cqe_seen(&c->ring, cqe);
		if (user_data == seq)
			return 0;
		/* Not ours (nothing else is issued here, but a caller may have): drop it. */
	}
}

static int ctrl_exec(struct ublk_ctrl *c, const struct ctrl_req *req)
{
	struct ublksrv_ctrl_cmd cmd = {
		.dev_id = req->dev_id,
		.queue_id = req->queue_id,
		.len = req->buf_bytes,
		.addr = req->buf_bytes ? (uint64_t)(uintptr_t)c->payload : 0,
		.data = { req->data0 },
	};
	struct io_uring_sqe *sqe;
	int ret, res;

	if (c->state == UBLK_CTRL_CLOSED)
		return -EBADF;
	if (c->state == UBLK_CTRL_STUCK)
		return -EBADFD;
	if (req->in_bytes > req->buf_bytes || req->out_bytes > req->buf_bytes)
		return -EINVAL;
	memset(c->payload, 0, req->buf_bytes);
	if (req->in_bytes)
		memcpy(c->payload, req->in, req->in_bytes);

	sqe = uring_get_sqe(&c->ring);
	if (!sqe)
		return -EBUSY; /* the ring is full of someone else's entries */
	ret = uring_prep_uring_cmd(&c->ring, sqe, c->fd, req->cmd_op, &cmd, sizeof(cmd));
	uring_sqe_set_data64(sqe, ++c->seq);
	if (ret < 0)
		return ret; /* the SQE became a NOP with our seq; the next wait drops its CQE */

	ret = ctrl_wait(c, c->seq, &res);
	if (ret < 0) {
		/* The command may still be running in the kernel, writing into the payload. */
		c->state = UBLK_CTRL_STUCK;
		return ret;
	}
	if (res < 0)
		return res;
	if (req->out_bytes)
		memcpy(req->out, c->payload, req->out_bytes);
	return res;
}

int ublk_ctrl_get_features(struct ublk_ctrl *c, uint64_t *features)
{
	struct ctrl_req req = {
		.cmd_op = UBLK_U_CMD_GET_FEATURES,
		.dev_id = UBLK_DEV_ID_ANY,
		.queue_id = (uint16_t)-1,
		.buf_bytes = UBLK_FEATURES_LEN,
		.out = features,
		.out_bytes = sizeof(*features),
	};

	return ctrl_exec(c, &req);
}

int ublk_ctrl_add_dev(struct ublk_ctrl *c, struct ublksrv_ctrl_dev_info *info)
{
	struct ctrl_req req = {
		.cmd_op = UBLK_U_CMD_ADD_DEV,
		.dev_id = info->dev_id, /* the kernel insists that both agree */
		.queue_id = (uint16_t)-1,
		.buf_bytes = sizeof(*info),
		.in = info,
		.in_bytes = sizeof(*info),
		.out = info,
		.out_bytes = sizeof(*info),
	};
	int ret = ctrl_exec(c, &req);

	return ret < 0 ? ret : (int)info->dev_id;
}

static int ctrl_dev_cmd(struct ublk_ctrl *c, uint32_t cmd_op, uint32_t dev_id, uint64_t data0)
{
	struct ctrl_req req = {
		.cmd_op = cmd_op,
		.dev_id = dev_id,
		.queue_id = (uint16_t)-1,
		.data0 = data0,
	};

	return ctrl_exec(c, &req);
}

int ublk_ctrl_del_dev(struct ublk_ctrl *c, uint32_t dev_id)
{
	return ctrl_dev_cmd(c, UBLK_U_CMD_DEL_DEV, dev_id, 0);
}

int ublk_ctrl_del_dev_async(struct ublk_ctrl *c, uint32_t dev_id)
{
	return ctrl_dev_cmd(c, UBLK_U_CMD_DEL_DEV_ASYNC, dev_id, 0);
}

int ublk_ctrl_start_dev(struct ublk_ctrl *c, uint32_t dev_id, pid_t pid)
{
	if (pid <= 0)
		return -EINVAL;
	return ctrl_dev_cmd(c, UBLK_U_CMD_START_DEV, dev_id, (uint64_t)pid);
}

int ublk_ctrl_stop_dev(struct ublk_ctrl *c, uint32_t dev_id)
{
	return ctrl_dev_cmd(c, UBLK_U_CMD_STOP_DEV, dev_id, 0);
}

int ublk_ctrl_start_user_recovery(struct ublk_ctrl *c, uint32_t dev_id)
{
	return ctrl_dev_cmd(c, UBLK_U_CMD_START_USER_RECOVERY, dev_id, 0);
}

int ublk_ctrl_end_user_recovery(struct ublk_ctrl *c, uint32_t dev_id, pid_t pid)
{
	if (pid <= 0)
		return -EINVAL;
	return ctrl_dev_cmd(c, UBLK_U_CMD_END_USER_RECOVERY, dev_id, (uint64_t)pid);
}

int ublk_ctrl_quiesce_dev(struct ublk_ctrl *c, uint32_t dev_id, uint32_t timeout_ms)
{
	return ctrl_dev_cmd(c, UBLK_U_CMD_QUIESCE_DEV, dev_id, timeout_ms);
}

int ublk_ctrl_try_stop_dev(struct ublk_ctrl *c, uint32_t dev_id)
{
	return ctrl_dev_cmd(c, UBLK_U_CMD_TRY_STOP_DEV, dev_id, 0);
}

int ublk_ctrl_get_dev_info(struct ublk_ctrl *c, uint32_t dev_id, struct ublksrv_ctrl_dev_info *info)
{
	struct ctrl_req req = {
		.cmd_op = UBLK_U_CMD_GET_DEV_INFO,
		.dev_id = dev_id,
		.queue_id = (uint16_t)-1,
		.buf_bytes = sizeof(*info),
		.out = info,
		.out_bytes = sizeof(*info),
	};

	return ctrl_exec(c, &req);
}

int ublk_ctrl_set_params(struct ublk_ctrl *c, uint32_t dev_id, const struct ublk_params *p)
{
	struct ublk_params sent = *p;
	struct ctrl_req req = {
		.cmd_op = UBLK_U_CMD_SET_PARAMS,
		.dev_id = dev_id,
		.queue_id = (uint16_t)-1,
		.in = &sent,
	};

	if (!sent.len)
		sent.len = sizeof(sent);
	if (sent.len > sizeof(sent))
		return -EINVAL;
	req.buf_bytes = (uint16_t)sent.len;
	req.in_bytes = sent.len;
	return ctrl_exec(c, &req);
}

int ublk_ctrl_get_params(struct ublk_ctrl *c, uint32_t dev_id, struct ublk_params *p)
{
	/* The kernel reads len from the buffer and writes min(len, its own size) bytes. */
	struct ublk_params ask = { .len = sizeof(ask) };
	struct ctrl_req req = {
		.cmd_op = UBLK_U_CMD_GET_PARAMS,
		.dev_id = dev_id,
		.queue_id = (uint16_t)-1,
		.buf_bytes = sizeof(ask),
		.in = &ask,
		.in_bytes = sizeof(ask),
		.out = p,
		.out_bytes = sizeof(*p),
	};

	return ctrl_exec(c, &req);
}

int ublk_ctrl_get_queue_affinity(struct ublk_ctrl *c, uint32_t dev_id, uint16_t q_id,
				 cpu_set_t *cpus)
{
	uint8_t mask[CTRL_CPUMASK_BYTES];
	struct ctrl_req req = {
		.cmd_op = UBLK_U_CMD_GET_QUEUE_AFFINITY,
		.dev_id = dev_id,
		.queue_id = (uint16_t)-1, /* the queue goes in data[0] */
		.data0 = q_id,
		.buf_bytes = sizeof(mask),
		.out = mask,
		.out_bytes = sizeof(mask),
	};
	int ret = ctrl_exec(c, &req);

	if (ret < 0)
		return ret;
	/* The kernel writes an array of unsigned long: read it as one, right on any endianness. */
	CPU_ZERO(cpus);
	for (unsigned cpu = 0; cpu < CPU_SETSIZE && cpu < sizeof(mask) * 8; cpu++) {
		unsigned long word;

		memcpy(&word, mask + cpu / (8 * sizeof(word)) * sizeof(word), sizeof(word));
		if (word & (1UL << (cpu % (8 * sizeof(word)))))
			CPU_SET(cpu, cpus);
	}
	return ret;
}

static const struct {
	uint64_t flag;
	const char *name;
} ublk_features[] = {
	{ UBLK_F_SUPPORT_ZERO_COPY, "SUPPORT_ZERO_COPY" },
	{ UBLK_F_URING_CMD_COMP_IN_TASK, "URING_CMD_COMP_IN_TASK" },
	{ UBLK_F_NEED_GET_DATA, "NEED_GET_DATA" },
	{ UBLK_F_USER_RECOVERY, "USER_RECOVERY" },
	{ UBLK_F_USER_RECOVERY_REISSUE, "USER_RECOVERY_REISSUE" },
	{ UBLK_F_UNPRIVILEGED_DEV, "UNPRIVILEGED_DEV" },
	{ UBLK_F_CMD_IOCTL_ENCODE, "CMD_IOCTL_ENCODE" },
	{ UBLK_F_USER_COPY, "USER_COPY" },
	{ UBLK_F_ZONED, "ZONED" },
	{ UBLK_F_USER_RECOVERY_FAIL_IO, "USER_RECOVERY_FAIL_IO" },
	{ UBLK_F_UPDATE_SIZE, "UPDATE_SIZE" },
	{ UBLK_F_AUTO_BUF_REG, "AUTO_BUF_REG" },
	{ UBLK_F_QUIESCE, "QUIESCE" },
	{ UBLK_F_PER_IO_DAEMON, "PER_IO_DAEMON" },
	{ UBLK_F_BUF_REG_OFF_DAEMON, "BUF_REG_OFF_DAEMON" },
	{ UBLK_F_BATCH_IO, "BATCH_IO" },
	{ UBLK_F_INTEGRITY, "INTEGRITY" },
	{ UBLK_F_SAFE_STOP_DEV, "SAFE_STOP_DEV" },
	{ UBLK_F_NO_AUTO_PART_SCAN, "NO_AUTO_PART_SCAN" },
	{ UBLK_F_SHMEM_ZC, "SHMEM_ZC" },
	{ UBLK_F_IO_DESC_SIZE, "IO_DESC_SIZE" },
};

const char *ublk_feature_name(unsigned bit)
{
	if (bit >= 64)
		return NULL;
	for (size_t i = 0; i < sizeof(ublk_features) / sizeof(ublk_features[0]); i++) {
		if (ublk_features[i].flag == 1ULL << bit)
			return ublk_features[i].name;
	}
	return NULL;
}

/* What to try when the control device cannot be used, or "" when there is nothing to add. */
const char *ublk_ctrl_open_hint(const struct ublk_ctrl *c, int err)
{
	if (strcmp(c->err_subject, UBLK_CTRL_DEV_PATH) != 0)
		return err == -EPERM
			       ? " (is io_uring disabled? see sysctl kernel.io_uring_disabled)"
			       : "";
	if (err == -ENOENT || err == -ENODEV || err == -ENXIO)
		return " (is the ublk_drv module loaded?)";
	if (err == -EACCES || err == -EPERM)
		return " (ublkd needs root)";
	return "";
}

static int cmp_dev_id(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

int ublk_kernel_dev_ids(uint32_t **ids, unsigned *nr)
{
	const char *dirs[] = { "/sys/class/ublk-char", "/dev" };
	unsigned cap = 0;

	*ids = NULL;
	*nr = 0;
	for (unsigned i = 0; i < 2; i++) {
		DIR *dir = opendir(dirs[i]);
		struct dirent *e;

		if (!dir)
			continue;
		while ((e = readdir(dir))) {
			unsigned id;
			char tail;

			if (sscanf(e->d_name, "ublkc%u%c", &id, &tail) != 1)
				continue;
			if (*nr == cap) {
				uint32_t *grown =
					realloc(*ids, (cap = cap * 2 + 16) * sizeof(**ids));

				if (!grown) {
					closedir(dir);
					free(*ids);
					*ids = NULL;
					*nr = 0;
					return -ENOMEM;
				}
				*ids = grown;
			}
			(*ids)[(*nr)++] = id;
		}
		closedir(dir);
		if (i == 0)
			break; /* sysfs answered: that is the whole truth */
	}
	if (*nr) /* qsort(NULL, 0, ...) is undefined */
		qsort(*ids, *nr, sizeof(**ids), cmp_dev_id);
	return 0;
}
