// SPDX-License-Identifier: MIT
/* One hardware queue's thread: the FETCH_REQ / COMMIT_AND_FETCH_REQ loop of include/queue.h. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "log.h"
#include "parse.h"
#include "queue.h"

#define CQE_BATCH 64

static size_t page_bytes(void)
{
	return (size_t)sysconf(_SC_PAGESIZE);
}

static size_t round_up(size_t n, size_t to)
{
	return (n + to - 1) / to * to;
}

static uint64_t cmd_user_data(uint16_t tag, uint32_t cmd_op)
{
	return tag | (uint64_t)(cmd_op & 0xff) << 16;
}

int queue_check_desc(const struct queue_conf *conf, const struct ublksrv_io_desc *iod,
		     struct backend_io *bio)
{
	/* One load: the kernel may rewrite the descriptor only after we commit, but read it once. */
	struct ublksrv_io_desc d = *iod;
	uint8_t op = ublksrv_io_desc_op(&d);
	uint64_t end;

	bio->fua = false;
	bio->done_bytes = 0;
	switch (op) {
	case UBLK_IO_OP_READ:
		bio->op = BACKEND_OP_READ;
		break;
	case UBLK_IO_OP_WRITE:
		bio->op = BACKEND_OP_WRITE;
		bio->fua = d.op_flags & UBLK_IO_F_FUA;
		break;
	case UBLK_IO_OP_FLUSH:
		bio->op = BACKEND_OP_FLUSH;
		bio->offset_bytes = 0;
		bio->len_bytes = 0;
		return 0;
	case UBLK_IO_OP_DISCARD:
		bio->op = BACKEND_OP_DISCARD;
		break;
	case UBLK_IO_OP_WRITE_ZEROES:
		bio->op = BACKEND_OP_WRITE_ZEROES;
		break;
	default:
		return -EOPNOTSUPP;
	}
	if (conf->read_only && op != UBLK_IO_OP_READ)
		return -EROFS;
	/* The range must lie in the device; data must fit the tag's buffer. */
	end = d.start_sector + d.nr_sectors;
	if (!d.nr_sectors || end < d.start_sector || end > conf->dev_sectors)
		return -EIO;
	if ((op == UBLK_IO_OP_READ || op == UBLK_IO_OP_WRITE) &&
	    (uint64_t)d.nr_sectors << UBLK_SECTOR_SHIFT > conf->buf_bytes)
		return -EIO;
	if ((uint64_t)d.nr_sectors << UBLK_SECTOR_SHIFT > UINT32_MAX)
		return -EIO;
	bio->offset_bytes = d.start_sector << UBLK_SECTOR_SHIFT;
	bio->len_bytes = d.nr_sectors << UBLK_SECTOR_SHIFT;
	return 0;
}

/*
 * A ublk command on the char device, through its registered slot when there is one, in the
 * next SQE (*sqe). The ring has a slot for every tag's command and its one backend SQE.
 */
static int queue_prep_io_cmd(struct ublk_queue *q, uint32_t cmd_op,
			     const struct ublksrv_io_cmd *cmd, struct io_uring_sqe **sqe)
{
	int fd = q->fixed_files ? BACKEND_FIXED_CDEV : q->conf.cdev_fd;
	int ret;

	*sqe = uring_get_sqe(&q->ring);
	if (!*sqe)
		return -EBUSY;
	ret = uring_prep_uring_cmd(&q->ring, *sqe, fd, cmd_op, cmd, sizeof(*cmd));
	if (!ret && q->fixed_files)
		(*sqe)->flags |= IOSQE_FIXED_FILE;
	return ret;
}

/* Queues tag's FETCH_REQ (first time) or COMMIT_AND_FETCH_REQ with result. */
static int queue_queue_cmd(struct ublk_queue *q, uint16_t tag, uint32_t cmd_op, int result)
{
	/* Copy mode: the tag's buffer, which the kernel copies to and from; else none (0). */
	struct ublksrv_io_cmd cmd = {
		.q_id = q->conf.q_id,
		.tag = tag,
		.result = result,
		.addr = (uint64_t)(uintptr_t)q->ios[tag].buf,
	};
	struct io_uring_sqe *sqe;
	int ret = queue_prep_io_cmd(q, cmd_op, &cmd, &sqe);

	if (ret < 0)
		return ret;
	/*
	 * Zero copy: the SQE's own addr (not the command's) names the slot of the ring's buffer
	 * table the kernel registers the request's pages in, with FALLBACK: a registration that
	 * fails comes to us as NEED_REG_BUF instead of failing the request.
	 */
	if (q->conf.io_mode == IO_MODE_ZERO_COPY)
		sqe->addr =
			ublk_auto_buf_reg_addr(q->auto_buf_slot0 + tag, UBLK_AUTO_BUF_REG_FALLBACK);
	uring_sqe_set_data64(sqe, cmd_user_data(tag, cmd_op));
	q->ios[tag].state = QUEUE_IO_IN_KERNEL;
	q->nr_in_kernel++;
	return 0;
}

/*
 * REGISTER_IO_BUF (the request's pages into the tag's slot, where the kernel could not put
 * them itself) or UNREGISTER_IO_BUF. Registering answers with a CQE that starts the request;
 * unregistering goes just before the commit in the same submission and is heard of only when
 * it fails (the kernel then holds the request until the device goes, nothing we can mend).
 */
static int queue_queue_buf_cmd(struct ublk_queue *q, uint16_t tag, uint32_t cmd_op)
{
	/* At the tag's own slot, wherever a test points the kernel's registrations. */
	struct ublksrv_io_cmd cmd = { .q_id = q->conf.q_id, .tag = tag, .addr = tag };
	struct io_uring_sqe *sqe;
	int ret = queue_prep_io_cmd(q, cmd_op, &cmd, &sqe);

	if (ret < 0)
		return ret;
	if (cmd_op == UBLK_U_IO_UNREGISTER_IO_BUF) {
		sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
		uring_sqe_set_data64(sqe, QUEUE_USER_DATA_UNREG | tag);
	} else {
		uring_sqe_set_data64(sqe, cmd_user_data(tag, cmd_op));
	}
	return 0;
}

static void queue_commit(struct ublk_queue *q, uint16_t tag, int result)
{
	struct queue_io *io = &q->ios[tag];
	int ret = 0;

	io->state = QUEUE_IO_IDLE;
	q->nr_in_backend--;
	if (io->registered_by_us) {
		io->registered_by_us = false;
		ret = queue_queue_buf_cmd(q, tag, UBLK_U_IO_UNREGISTER_IO_BUF);
	}
	if (!ret && q->conf.batch)
		queue_batch_commit(q, tag, result);
	else if (!ret)
		ret = queue_queue_cmd(q, tag, UBLK_U_IO_COMMIT_AND_FETCH_REQ, result);
	if (ret < 0)
		log_msg(LOG_LEVEL_ERR, "device %u queue %u tag %u: commit: %s", q->conf.dev_id,
			q->conf.q_id, tag, strerror(-ret));
}

/*
 * Copy mode, a READ or WRITE the backend does through the ring: make sure the tag's buffer is
 * registered as far as this request reaches, and tell the backend. The registration grows in
 * powers of two as requests need it, so a tag re-registers a few times in its life, and what
 * stays pinned is about what the kernel's copies have touched anyway, not depth x the largest
 * I/O. When the kernel refuses (RLIMIT_MEMLOCK without CAP_IPC_LOCK), plain reads and writes
 * from then on.
 */
static void queue_fix_tag_buf(struct ublk_queue *q, uint16_t tag)
{
	struct queue_io *io = &q->ios[tag];
	uint32_t len = io->bio.len_bytes;
	uint32_t want = (uint32_t)page_bytes();
	/* the tag's share of q->bufs: more than buf_bytes when that is not whole pages */
	uint32_t cap = (uint32_t)round_up(q->conf.buf_bytes, want);
	struct iovec iov;
	int ret;

	io->bio.buf_fixed = false;
	if (!q->fixed_bufs || (io->bio.op != BACKEND_OP_READ && io->bio.op != BACKEND_OP_WRITE))
		return;
	if (len > io->fixed_bytes) {
		while (want < len)
			want <<= 1;
		if (want > cap)
			want = cap;
		iov = (struct iovec){ .iov_base = io->buf, .iov_len = want };
		ret = uring_register_buffers_update(&q->ring, tag, &iov, 1);
		if (ret < 0) {
			log_msg(LOG_LEVEL_INFO,
				"device %u queue %u: registering a %u-byte I/O buffer: %s; "
				"plain reads and writes from now on",
				q->conf.dev_id, q->conf.q_id, want, strerror(-ret));
			q->fixed_bufs = false;
			return;
		}
		io->fixed_bytes = want;
	}
	io->bio.buf_fixed = true;
}

/* A checked request goes to the backend; commits it if that finished or failed it. */
static void queue_serve_checked(struct ublk_queue *q, uint16_t tag)
{
	struct queue_io *io = &q->ios[tag];
	int ret;

	/* Zero copy, and the kernel could not register the pages: we do, then serve it. */
	if (q->conf.io_mode == IO_MODE_ZERO_COPY &&
	    (q->descs[tag].op_flags & UBLK_IO_F_NEED_REG_BUF)) {
		ret = queue_queue_buf_cmd(q, tag, UBLK_U_IO_REGISTER_IO_BUF);
		if (!ret)
			return;
	} else {
		queue_fix_tag_buf(q, tag);
		ret = q->conf.be->ops->submit(&q->bq, &io->bio);
	}
	if (ret != BACKEND_IO_QUEUED)
		queue_commit(q, tag, ret);
}

static uint32_t queue_fault_op(enum backend_op op)
{
	switch (op) {
	case BACKEND_OP_READ:
		return FAULT_OP_READ;
	case BACKEND_OP_WRITE:
		return FAULT_OP_WRITE;
	case BACKEND_OP_FLUSH:
		return FAULT_OP_FLUSH;
	case BACKEND_OP_DISCARD:
	case BACKEND_OP_WRITE_ZEROES:
		return FAULT_OP_DISCARD;
	}
	return 0;
}

/*
 * Testing: an injected fault hit the request. Its error, or after a delay (a timeout on the
 * ring, so the queue serves its other tags meanwhile) its error or the backend. Returns
 * -errno to commit now, or 0: io->delayed says whether the delay holds it (without an SQE for
 * the timeout, which the ring's size rules out, it is served at once).
 */
static int queue_inject(struct ublk_queue *q, uint16_t tag, const struct fault_hit *hit)
{
	struct queue_io *io = &q->ios[tag];
	struct io_uring_sqe *sqe;

	if (!hit->delay_us)
		return -hit->error;
	sqe = uring_get_sqe(&q->ring);
	if (!sqe)
		return 0;
	io->delayed = true;
	io->fault_error = hit->error;
	io->delay_ts.tv_sec = hit->delay_us / 1000000;
	io->delay_ts.tv_nsec = (long long)(hit->delay_us % 1000000) * 1000;
	uring_prep_timeout(sqe, &io->delay_ts, 0);
	uring_sqe_set_data64(sqe, QUEUE_USER_DATA_DELAY | tag);
	return 0;
}

/*
 * The delay of tag ended: its time passed, or quitting cancelled it (the daemon must not wait
 * out a test's 40-second stall to delete a device).
 */
static void queue_delay_done(struct ublk_queue *q, uint16_t tag)
{
	struct queue_io *io = &q->ios[tag];

	io->delayed = false;
	if (io->fault_error || q->quitting)
		queue_commit(q, tag, io->fault_error ? -io->fault_error : -EIO);
	else
		queue_serve_checked(q, tag);
}

/* Quitting: cut every injected delay short. */
static void queue_cancel_delays(struct ublk_queue *q)
{
	for (unsigned tag = 0; tag < q->conf.depth; tag++) {
		struct io_uring_sqe *sqe;

		if (!q->ios[tag].delayed)
			continue;
		sqe = uring_get_sqe(&q->ring);
		/* A full SQ: send what is in it, the ring's completions then have room. */
		if (!sqe && uring_submit(&q->ring) >= 0)
			sqe = uring_get_sqe(&q->ring);
		if (!sqe) {
			log_msg(LOG_LEVEL_ERR, "device %u queue %u tag %u: no SQE to end its delay",
				q->conf.dev_id, q->conf.q_id, tag);
			continue;
		}
		uring_prep_timeout_remove(sqe, QUEUE_USER_DATA_DELAY | tag);
		/* Its own CQE only if it failed: the timeout fired first, which is as good. */
		uring_sqe_set_data64(sqe, QUEUE_USER_DATA_DELAY_CANCEL);
		sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
	}
}

void queue_serve(struct ublk_queue *q, uint16_t tag)
{
	struct queue_io *io = &q->ios[tag];
	struct fault_hit hit;
	int ret;

	io->state = QUEUE_IO_IN_BACKEND;
	q->nr_in_backend++;
	/* Told to quit while the device still sends I/O: fail it rather than start more. */
	if (q->quitting) {
		queue_commit(q, tag, -EIO);
		return;
	}
	ret = queue_check_desc(&q->conf, &q->descs[tag], &io->bio);
	if (!ret && q->conf.fault && fault_check(q->conf.fault, queue_fault_op(io->bio.op), &hit))
		ret = queue_inject(q, tag, &hit);
	if (ret < 0)
		queue_commit(q, tag, ret);
	else if (!io->delayed)
		queue_serve_checked(q, tag);
}

/* Our REGISTER_IO_BUF of a zero-copy request's pages finished: serve it, or fail it. */
static void queue_registered(struct ublk_queue *q, uint16_t tag, int res)
{
	struct queue_io *io = &q->ios[tag];
	int ret = res;

	if (res >= 0) {
		io->registered_by_us = true;
		ret = q->conf.be->ops->submit(&q->bq, &io->bio);
	} else {
		log_msg(LOG_LEVEL_ERR, "device %u queue %u tag %u: REGISTER_IO_BUF: %s",
			q->conf.dev_id, q->conf.q_id, tag, strerror(-res));
	}
	if (ret != BACKEND_IO_QUEUED)
		queue_commit(q, tag, ret);
}

static int queue_queue_quit_read(struct ublk_queue *q)
{
	struct io_uring_sqe *sqe = uring_get_sqe(&q->ring);

	if (!sqe && uring_submit(&q->ring) >= 0)
		sqe = uring_get_sqe(&q->ring);
	if (!sqe)
		return -EBUSY;
	uring_prep_read(sqe, q->quit_fd, &q->quit_value, sizeof(q->quit_value), 0);
	uring_sqe_set_data64(sqe, QUEUE_USER_DATA_QUIT);
	return 0;
}

static void queue_handle_cqe(struct ublk_queue *q, const struct io_uring_cqe *cqe)
{
	uint64_t ud = cqe->user_data;
	uint16_t tag = ud & 0xffff;
	struct queue_io *io;
	int ret;

	if (ud & QUEUE_USER_DATA_QUIT) {
		if (__atomic_exchange_n(&q->cut_delays, false, __ATOMIC_ACQ_REL))
			queue_cancel_delays(q);
		/* A failed read (the ring going away) is a quit too: nothing would wake us again. */
		if (__atomic_load_n(&q->quit_requested, __ATOMIC_ACQUIRE) || cqe->res < 0) {
			q->quitting = true;
			queue_cancel_delays(q);
		} else if (queue_queue_quit_read(q) < 0) {
			log_msg(LOG_LEVEL_ERR, "device %u queue %u: no SQE to wait for quit on",
				q->conf.dev_id, q->conf.q_id);
		}
		return;
	}
	if (ud == QUEUE_USER_DATA_DELAY_CANCEL)
		return;
	if (ud & QUEUE_USER_DATA_BATCH) {
		queue_batch_handle_cqe(q, cqe);
		return;
	}
	if (tag >= q->conf.depth)
		return;
	io = &q->ios[tag];
	if (ud & QUEUE_USER_DATA_DELAY) {
		queue_delay_done(q, tag);
		return;
	}
	if (ud & BACKEND_USER_DATA_BIT) {
		ret = q->conf.be->ops->complete(&q->bq, &io->bio, cqe->res);
		if (ret != BACKEND_IO_QUEUED)
			queue_commit(q, tag, ret);
		return;
	}
	if (ud & QUEUE_USER_DATA_UNREG) {
		log_msg(LOG_LEVEL_ERR, "device %u queue %u tag %u: UNREGISTER_IO_BUF: %s",
			q->conf.dev_id, q->conf.q_id, tag, strerror(-cqe->res));
		return;
	}
	if (ud == cmd_user_data(tag, UBLK_U_IO_REGISTER_IO_BUF)) {
		queue_registered(q, tag, cqe->res);
		return;
	}
	q->nr_in_kernel--;
	io->state = QUEUE_IO_IDLE;
	if (cqe->res == UBLK_IO_RES_OK) {
		queue_serve(q, tag);
		return;
	}
	/* ABORT: the device is going away. Anything else is our bug: the tag is lost either way. */
	if (cqe->res != UBLK_IO_RES_ABORT)
		log_msg(LOG_LEVEL_ERR, "device %u queue %u tag %u: fetch: %s", q->conf.dev_id,
			q->conf.q_id, tag, strerror(-cqe->res));
}

static void queue_report_start(struct ublk_queue *q, int result)
{
	pthread_mutex_lock(&q->lock);
	q->start_result = result;
	q->start_reported = true;
	pthread_cond_signal(&q->cond);
	pthread_mutex_unlock(&q->lock);
}

/* "ublk3q1": device 3, queue 1, as top and /proc/PID/task/TID/comm show the thread. */
static void queue_name_thread(const struct ublk_queue *q)
{
	char name[16];

	snprintf(name, sizeof(name), "ublk%uq%u", q->conf.dev_id, q->conf.q_id);
	pthread_setname_np(pthread_self(), name);
}

/*
 * The test-only UBLKD_TEST_AUTO_BUF_SLOT=N points the kernel's zero-copy registrations at slot
 * N + tag; N = the depth is past the table, so every one fails and the fallback serves all.
 */
static uint16_t queue_test_auto_buf_slot0(void)
{
	const char *text = getenv("UBLKD_TEST_AUTO_BUF_SLOT");
	uint32_t slot = 0;

	if (text && parse_u32(text, 0, UBLK_MAX_QUEUE_DEPTH, &slot) < 0)
		log_msg(LOG_LEVEL_WARNING, "UBLKD_TEST_AUTO_BUF_SLOT=%s: not 0-%u, ignored", text,
			UBLK_MAX_QUEUE_DEPTH);
	return (uint16_t)slot;
}

/*
 * What the ring holds for the hot path, each saving the kernel a lookup per I/O: the ring fd
 * itself, /dev/ublkcN and the backend's fd as fixed files; in zero-copy mode the empty buffer
 * table the kernel registers requests' pages in, which that mode cannot do without. The
 * others are only faster: a kernel that refuses them gets plain fds.
 */
static int queue_register(struct ublk_queue *q)
{
	int fds[2] = { q->conf.cdev_fd, q->conf.be->io_fd };
	unsigned nr_fds = fds[1] >= 0 ? 2 : 1;
	int ret;

	ret = uring_register_ring_fd(&q->ring);
	if (ret < 0)
		log_msg(LOG_LEVEL_DEBUG, "device %u queue %u: registered ring fd: %s",
			q->conf.dev_id, q->conf.q_id, strerror(-ret));
	ret = uring_register_files(&q->ring, fds, nr_fds);
	q->fixed_files = ret >= 0;
	if (ret < 0)
		log_msg(LOG_LEVEL_DEBUG, "device %u queue %u: fixed files: %s", q->conf.dev_id,
			q->conf.q_id, strerror(-ret));
	q->bq.fixed_files = q->fixed_files;
	if (q->conf.io_mode == IO_MODE_COPY && q->bufs && q->conf.be->ops->fixed_bufs) {
		ret = uring_register_buffers_sparse(&q->ring, q->conf.depth);
		q->fixed_bufs = ret >= 0;
		if (ret < 0)
			log_msg(LOG_LEVEL_DEBUG, "device %u queue %u: buffer table: %s",
				q->conf.dev_id, q->conf.q_id, strerror(-ret));
	}
	if (q->conf.io_mode != IO_MODE_ZERO_COPY)
		return 0;
	q->auto_buf_slot0 = queue_test_auto_buf_slot0();
	ret = uring_register_buffers_sparse(&q->ring, q->conf.depth);
	if (ret < 0)
		snprintf(q->err, sizeof(q->err), "zero copy: buffer table of %u: %s", q->conf.depth,
			 strerror(-ret));
	return ret;
}

/* Everything the thread needs before the first FETCH_REQ; q->err names what failed. */
static int queue_thread_setup(struct ublk_queue *q)
{
	/* Deferred task work: completions are reaped only in our io_uring_enter, by this thread. */
	const struct uring_params params = {
		.sq_entries = 2U * q->conf.depth + 1,
		.cq_entries = 4U * q->conf.depth + 2,
		.optional_flags = IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SINGLE_ISSUER |
				  IORING_SETUP_DEFER_TASKRUN,
		.sq_thread_cpu = -1,
	};
	int ret;

	q->tid = gettid();
	queue_name_thread(q);
	/*
	 * Reclaim run by this thread must not write pages back to a device it serves itself:
	 * under memory pressure it would wait for its own I/O (the kernel's loop driver runs with
	 * the same flag). Without CAP_SYS_RESOURCE the device still works, so it is a warning.
	 */
	if (prctl(PR_SET_IO_FLUSHER, 1, 0, 0, 0) < 0)
		log_msg(LOG_LEVEL_WARNING, "device %u queue %u: PR_SET_IO_FLUSHER: %s",
			q->conf.dev_id, q->conf.q_id, strerror(errno));
	if (q->conf.cpu >= 0) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(q->conf.cpu, &set);
		ret = -pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
		if (ret < 0) {
			snprintf(q->err, sizeof(q->err), "pin to CPU %d: %s", q->conf.cpu,
				 strerror(-ret));
			return ret;
		}
	}
	/* Created here: a SINGLE_ISSUER ring belongs to the thread that made it. */
	ret = uring_init(&q->ring, &params);
	if (ret < 0) {
		snprintf(q->err, sizeof(q->err), "io_uring setup: %s", strerror(-ret));
		return ret;
	}
	ret = queue_register(q);
	if (!ret && q->conf.batch)
		ret = queue_batch_init(q);
	if (ret < 0)
		goto fail_ring;
	q->bq.ring = &q->ring;
	if (q->conf.be->ops->queue_init) {
		ret = q->conf.be->ops->queue_init(&q->bq);
		if (ret < 0) {
			snprintf(q->err, sizeof(q->err), "backend queue setup: %s", strerror(-ret));
			goto fail_ring;
		}
	}
	ret = queue_queue_quit_read(q);
	if (!ret && q->conf.batch)
		ret = queue_batch_start(q);
	for (unsigned tag = 0; !ret && !q->conf.batch && tag < q->conf.depth; tag++)
		ret = queue_queue_cmd(q, tag, UBLK_U_IO_FETCH_REQ, 0);
	if (!ret) {
		ret = uring_submit(&q->ring);
		ret = ret < 0 ? ret : 0;
	}
	if (!ret)
		return 0;
	snprintf(q->err, sizeof(q->err), "%s: %s", q->conf.batch ? "PREP_IO_CMDS" : "FETCH_REQ",
		 strerror(-ret));
	if (q->conf.be->ops->queue_exit)
		q->conf.be->ops->queue_exit(&q->bq);
fail_ring:
	uring_exit(&q->ring);
	queue_batch_exit(q);
	return ret;
}

bool queue_may_exit(const struct ublk_queue *q)
{
	/*
	 * Not before the backend is idle: its I/O in flight writes into buffers that go with the
	 * thread. Not before every queued commit is sent either: a commit that never reaches the
	 * kernel fails a request with EIO that the backend did complete.
	 */
	if (q->nr_in_backend || uring_sq_ready(&q->ring) || (q->batch && !queue_batch_idle(q)))
		return false;
	/* Then when every tag was aborted, or when we are told to go. */
	return q->quitting || !q->nr_in_kernel;
}

static void *queue_thread(void *arg)
{
	struct ublk_queue *q = arg;
	struct io_uring_cqe *cqes[CQE_BATCH];
	int ret;

	ret = queue_thread_setup(q);
	queue_report_start(q, ret);
	if (ret < 0)
		return NULL;

	while (!queue_may_exit(q)) {
		/*
		 * Quitting with the backend idle, only commits are left to send: their FETCH part
		 * stays in the kernel, so nothing would come back to wait for.
		 */
		unsigned wait_nr = q->quitting && !q->nr_in_backend ? 0 : 1;
		unsigned n;

		/* Batch mode: this turn's results, in one command. */
		if (q->batch && queue_batch_flush(q) < 0)
			log_msg(LOG_LEVEL_ERR, "device %u queue %u: COMMIT_IO_CMDS: no SQE",
				q->conf.dev_id, q->conf.q_id);
		if (q->batch && !queue_batch_idle(q))
			wait_nr = 1; /* every commit buffer is out: wait for one back */
		/* One enter per turn: submits every commit and backend SQE queued last turn. */
		ret = uring_submit_and_wait(&q->ring, wait_nr);
		if (ret < 0 && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY) {
			log_msg(LOG_LEVEL_ERR, "device %u queue %u: io_uring_enter: %s",
				q->conf.dev_id, q->conf.q_id, strerror(-ret));
			break;
		}
		while ((n = uring_peek_batch_cqe(&q->ring, cqes, CQE_BATCH)) > 0) {
			for (unsigned i = 0; i < n; i++)
				queue_handle_cqe(q, cqes[i]);
			uring_cq_advance(&q->ring, n);
		}
	}
	if (q->conf.be->ops->queue_exit)
		q->conf.be->ops->queue_exit(&q->bq);
	/* Closing the ring cancels the fetch commands still in the kernel. */
	uring_exit(&q->ring);
	queue_batch_exit(q);
	return NULL;
}

static void queue_free(struct ublk_queue *q)
{
	if (q->descs)
		munmap((void *)q->descs, q->descs_bytes);
	if (q->bufs)
		munmap(q->bufs, q->bufs_bytes);
	free(q->ios);
	if (q->quit_fd >= 0)
		close(q->quit_fd);
	pthread_mutex_destroy(&q->lock);
	pthread_cond_destroy(&q->cond);
	q->descs = NULL;
	q->bufs = NULL;
	q->ios = NULL;
	q->quit_fd = -1;
}

int queue_start(struct ublk_queue *q, const struct queue_conf *conf)
{
	size_t page = page_bytes();
	size_t buf_bytes = round_up(conf->buf_bytes, page);
	int ret;

	memset(q, 0, sizeof(*q));
	q->conf = *conf;
	q->quit_fd = -1;
	pthread_mutex_init(&q->lock, NULL);
	pthread_cond_init(&q->cond, NULL);
	q->bq.be = conf->be;
	q->bq.q_id = conf->q_id;
	q->bq.io_mode = conf->io_mode;
	q->bq.cdev_fd = conf->cdev_fd;

	q->descs_bytes = round_up((size_t)conf->depth * sizeof(struct ublksrv_io_desc), page);
	/* Read-only: the driver refuses a writable mapping of its descriptors. */
	q->descs = mmap(NULL, q->descs_bytes, PROT_READ, MAP_SHARED | MAP_POPULATE, conf->cdev_fd,
			(off_t)ublk_queue_desc_offset(conf->q_id, page));
	if (q->descs == MAP_FAILED) {
		ret = -errno;
		q->descs = NULL;
		snprintf(q->err, sizeof(q->err), "mmap descriptors: %s", strerror(-ret));
		goto fail;
	}
	/* Only copy mode has the kernel copy to and from buffers of ours. */
	if (conf->io_mode == IO_MODE_COPY) {
		q->bufs_bytes = buf_bytes * conf->depth;
		q->bufs = mmap(NULL, q->bufs_bytes, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		/*
		 * Small pages only: a tag's first request would otherwise fault in a 2 MiB huge
		 * page under THP=always, nearly 4x its 512 KiB, for every tag of every queue.
		 */
		if (q->bufs != MAP_FAILED)
			madvise(q->bufs, q->bufs_bytes, MADV_NOHUGEPAGE);
	}
	q->ios = calloc(conf->depth, sizeof(*q->ios));
	q->quit_fd = eventfd(0, EFD_CLOEXEC);
	if (q->bufs == MAP_FAILED || !q->ios || q->quit_fd < 0) {
		ret = q->quit_fd < 0 && errno ? -errno : -ENOMEM;
		if (q->bufs == MAP_FAILED)
			q->bufs = NULL;
		snprintf(q->err, sizeof(q->err), "buffers: %s", strerror(-ret));
		goto fail;
	}
	for (unsigned tag = 0; tag < conf->depth; tag++) {
		if (q->bufs)
			q->ios[tag].buf = (char *)q->bufs + (size_t)tag * buf_bytes;
		q->ios[tag].bio.tag = (uint16_t)tag;
		q->ios[tag].bio.buf = q->ios[tag].buf;
		q->ios[tag].bio.user_copy_off = ublk_user_copy_offset(conf->q_id, (uint16_t)tag, 0);
	}

	ret = -pthread_create(&q->thread, NULL, queue_thread, q);
	if (ret < 0) {
		snprintf(q->err, sizeof(q->err), "thread: %s", strerror(-ret));
		goto fail;
	}
	pthread_mutex_lock(&q->lock);
	while (!q->start_reported)
		pthread_cond_wait(&q->cond, &q->lock);
	ret = q->start_result;
	pthread_mutex_unlock(&q->lock);
	if (ret < 0) {
		pthread_join(q->thread, NULL);
		goto fail;
	}
	return 0;
fail:
	queue_free(q);
	return ret;
}

static void queue_wake(struct ublk_queue *q, bool *flag, const char *why)
{
	uint64_t one = 1;

	__atomic_store_n(flag, true, __ATOMIC_RELEASE);
	if (write(q->quit_fd, &one, sizeof(one)) != sizeof(one))
		log_msg(LOG_LEVEL_ERR, "device %u queue %u: %s: %s", q->conf.dev_id, q->conf.q_id,
			why, strerror(errno));
}

void queue_stop(struct ublk_queue *q)
{
	queue_wake(q, &q->quit_requested, "quit");
	pthread_join(q->thread, NULL);
	queue_free(q);
}

void queue_cut_delays(struct ublk_queue *q)
{
	queue_wake(q, &q->cut_delays, "cut delays");
}
