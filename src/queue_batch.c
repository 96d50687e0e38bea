// SPDX-License-Identifier: MIT
/*
 * Batch mode (UBLK_F_BATCH_IO, Linux 7.0+): a queue's tags go to the kernel in one PREP_IO_CMDS
 * when the thread starts, requests come back through a multishot FETCH_IO_CMDS that writes
 * their tags into a provided buffer, many per CQE, and the results of a whole turn of the
 * queue loop go back in one COMMIT_IO_CMDS. Where the per-tag protocol costs one uring_cmd per
 * request each way, this costs one per turn.
 *
 * Fetching. Two fetch commands, each with its own buffer group of one buffer that the kernel
 * fills a piece at a time (IOU_PBUF_RING_INC): one runs, the other waits to take over once the
 * first ends (its buffer full), so requests never wait for us to put a buffer back. A CQE's
 * res bytes of tags lie where the previous CQE of the same buffer stopped. A fetch that ends
 * with its buffer used up gets it back empty and is sent again; one that ends otherwise (the
 * device stopping, our quitting) is not.
 *
 * Committing. Each result joins the pending elements; once per turn, before the thread enters
 * the kernel, they are copied into a free commit buffer and sent. The kernel answers with the
 * bytes of elements it took: any it did not take are pending again. A buffer is free again
 * once its CQE is in, so a turn never waits unless every buffer is still out.
 *
 * How data moves is the queue's io_mode as in per-tag mode: in copy mode each element carries
 * the tag's buffer address (UBLK_BATCH_F_HAS_BUF_ADDR), in zero copy its buffer table slot,
 * with the same NEED_REG_BUF fallback.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "log.h"
#include "queue.h"

#define BATCH_FETCHES 2
#define BATCH_COMMIT_BUFS 4

/* An element of PREP and COMMIT: the header, and in copy mode the tag's buffer. */
struct batch_elem {
	struct ublk_elem_header hdr;
	uint64_t buf_addr;
};

struct batch_fetch {
	struct io_uring_buf *ring; /* its buffer group's ring: one entry */
	uint8_t *buf;		   /* where the kernel writes tags */
	uint32_t buf_bytes;
	uint32_t off; /* bytes of it the kernel has filled since it went in */
	bool live;    /* its FETCH_IO_CMDS is in the kernel */
};

struct queue_batch {
	uint8_t elem_bytes; /* 8, or 16 with a buffer address */
	uint16_t cmd_flags; /* UBLK_BATCH_F_* of PREP and COMMIT */
	struct batch_fetch fetch[BATCH_FETCHES];
	uint8_t *pending; /* results not sent yet, elem_bytes each; at most one per tag */
	unsigned nr_pending;
	uint8_t *commit[BATCH_COMMIT_BUFS];    /* depth elements each; [0] carries PREP first */
	unsigned commit_nr[BATCH_COMMIT_BUFS]; /* elements out in it; 0: free */
	void *mem;
	size_t mem_bytes;
};

static size_t round_to_page(size_t n)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);

	return (n + page - 1) / page * page;
}

static uint64_t batch_user_data(uint32_t cmd_op, unsigned index)
{
	return QUEUE_USER_DATA_BATCH | (uint64_t)(cmd_op & 0xff) << 16 | index;
}

/* Element i of an array of them. */
static struct batch_elem *batch_elem_at(const struct queue_batch *b, uint8_t *array, unsigned i)
{
	return (struct batch_elem *)(array + (size_t)i * b->elem_bytes);
}

static void batch_elem_fill(const struct ublk_queue *q, struct batch_elem *e, uint16_t tag,
			    int result)
{
	e->hdr.tag = tag;
	e->hdr.buf_index = q->conf.io_mode == IO_MODE_ZERO_COPY ? q->auto_buf_slot0 + tag : 0;
	e->hdr.result = result;
	if (q->batch->cmd_flags & UBLK_BATCH_F_HAS_BUF_ADDR)
		e->buf_addr = (uint64_t)(uintptr_t)q->ios[tag].buf;
}

int queue_batch_init(struct ublk_queue *q)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t tags_bytes = round_to_page((size_t)q->conf.depth * sizeof(uint16_t));
	size_t elems_bytes, at = 0;
	struct queue_batch *b;
	int ret;

	b = calloc(1, sizeof(*b));
	if (!b) {
		snprintf(q->err, sizeof(q->err), "batch: %s", strerror(ENOMEM));
		return -ENOMEM;
	}
	if (q->conf.io_mode == IO_MODE_COPY) {
		b->elem_bytes = sizeof(struct batch_elem);
		b->cmd_flags = UBLK_BATCH_F_HAS_BUF_ADDR;
	} else {
		b->elem_bytes = sizeof(struct ublk_elem_header);
		if (q->conf.io_mode == IO_MODE_ZERO_COPY)
			b->cmd_flags = UBLK_BATCH_F_AUTO_BUF_REG_FALLBACK;
	}
	elems_bytes = round_to_page((size_t)q->conf.depth * b->elem_bytes);
	/* Per fetch a ring page and its buffer, then the pending elements and the commits. */
	b->mem_bytes = BATCH_FETCHES * (page + tags_bytes) + (1 + BATCH_COMMIT_BUFS) * elems_bytes;
	b->mem = mmap(NULL, b->mem_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
		      0);
	if (b->mem == MAP_FAILED) {
		ret = -errno;
		free(b);
		snprintf(q->err, sizeof(q->err), "batch buffers: %s", strerror(-ret));
		return ret;
	}
	q->batch = b;
	for (unsigned i = 0; i < BATCH_FETCHES; i++) {
		struct batch_fetch *f = &b->fetch[i];

		f->ring = (struct io_uring_buf *)((uint8_t *)b->mem + at);
		f->buf = (uint8_t *)b->mem + at + page;
		f->buf_bytes = (uint32_t)tags_bytes;
		at += page + tags_bytes;
		ret = uring_register_buf_ring(&q->ring, f->ring, 1, (uint16_t)i, IOU_PBUF_RING_INC);
		if (ret < 0) {
			snprintf(q->err, sizeof(q->err), "batch: fetch buffer ring: %s",
				 strerror(-ret));
			queue_batch_exit(q);
			return ret;
		}
		uring_buf_ring_add(f->ring, 1, f->buf, f->buf_bytes, 0);
	}
	b->pending = (uint8_t *)b->mem + at;
	at += elems_bytes;
	for (unsigned i = 0; i < BATCH_COMMIT_BUFS; i++, at += elems_bytes)
		b->commit[i] = (uint8_t *)b->mem + at;
	return 0;
}

void queue_batch_exit(struct ublk_queue *q)
{
	struct queue_batch *b = q->batch;

	/* The rings go with the io_uring, which the caller closes after this. */
	if (!b)
		return;
	munmap(b->mem, b->mem_bytes);
	free(b);
	q->batch = NULL;
}

/* A batch command on the char device in the next SQE; the caller sets what else it needs. */
static int batch_queue_cmd(struct ublk_queue *q, uint32_t cmd_op, uint16_t nr_elem,
			   uint8_t elem_bytes, uint16_t flags, unsigned index,
			   struct io_uring_sqe **sqe)
{
	const struct ublk_batch_io cmd = {
		.q_id = q->conf.q_id,
		.flags = flags,
		.nr_elem = nr_elem,
		.elem_bytes = elem_bytes,
	};
	int fd = q->fixed_files ? BACKEND_FIXED_CDEV : q->conf.cdev_fd;
	int ret;

	*sqe = uring_get_sqe(&q->ring);
	if (!*sqe)
		return -EBUSY;
	ret = uring_prep_uring_cmd(&q->ring, *sqe, fd, cmd_op, &cmd, sizeof(cmd));
	if (ret < 0)
		return ret;
	if (q->fixed_files)
		(*sqe)->flags |= IOSQE_FIXED_FILE;
	uring_sqe_set_data64(*sqe, batch_user_data(cmd_op, index));
	q->nr_in_kernel++;
	return 0;
}

/* PREP or COMMIT of the nr elements in commit buffer i. */
static int batch_queue_elems(struct ublk_queue *q, uint32_t cmd_op, unsigned i, unsigned nr)
{
	struct queue_batch *b = q->batch;
	struct io_uring_sqe *sqe;
	int ret = batch_queue_cmd(q, cmd_op, (uint16_t)nr, b->elem_bytes, b->cmd_flags, i, &sqe);

	if (ret < 0)
		return ret;
	sqe->addr = (uint64_t)(uintptr_t)b->commit[i];
	sqe->len = nr * b->elem_bytes;
	b->commit_nr[i] = nr;
	return 0;
}

static int batch_queue_fetch(struct ublk_queue *q, unsigned i)
{
	struct batch_fetch *f = &q->batch->fetch[i];
	struct io_uring_sqe *sqe;
	int ret = batch_queue_cmd(q, UBLK_U_IO_FETCH_IO_CMDS,
				  (uint16_t)(f->buf_bytes / sizeof(uint16_t)), sizeof(uint16_t), 0,
				  i, &sqe);

	if (ret < 0)
		return ret;
	sqe->uring_cmd_flags = IORING_URING_CMD_MULTISHOT;
	sqe->buf_group = (uint16_t)i;
	sqe->flags |= IOSQE_BUFFER_SELECT;
	f->live = true;
	return 0;
}

int queue_batch_start(struct ublk_queue *q)
{
	struct queue_batch *b = q->batch;
	int ret;

	for (unsigned tag = 0; tag < q->conf.depth; tag++) {
		batch_elem_fill(q, batch_elem_at(b, b->commit[0], tag), (uint16_t)tag, 0);
		q->ios[tag].state = QUEUE_IO_IN_KERNEL;
	}
	ret = batch_queue_elems(q, UBLK_U_IO_PREP_IO_CMDS, 0, q->conf.depth);
	for (unsigned i = 0; !ret && i < BATCH_FETCHES; i++)
		ret = batch_queue_fetch(q, i);
	return ret;
}

void queue_batch_commit(struct ublk_queue *q, uint16_t tag, int result)
{
	struct queue_batch *b = q->batch;

	batch_elem_fill(q, batch_elem_at(b, b->pending, b->nr_pending++), tag, result);
	q->ios[tag].state = QUEUE_IO_IN_KERNEL;
}

int queue_batch_flush(struct ublk_queue *q)
{
	struct queue_batch *b = q->batch;

	if (!b->nr_pending)
		return 0;
	for (unsigned i = 0; i < BATCH_COMMIT_BUFS; i++) {
		int ret;

		if (b->commit_nr[i])
			continue;
		memcpy(b->commit[i], b->pending, (size_t)b->nr_pending * b->elem_bytes);
		ret = batch_queue_elems(q, UBLK_U_IO_COMMIT_IO_CMDS, i, b->nr_pending);
		if (!ret)
			b->nr_pending = 0;
		return ret;
	}
	/* Every buffer is out: their CQEs free one, and the next turn sends these. */
	return 0;
}

bool queue_batch_idle(const struct ublk_queue *q)
{
	return !q->batch->nr_pending;
}

/* PREP or COMMIT done: res is the bytes of elements the kernel took, or -errno for none. */
static void batch_elems_done(struct ublk_queue *q, unsigned i, uint32_t cmd_op, int res)
{
	struct queue_batch *b = q->batch;
	unsigned nr = b->commit_nr[i], taken = res > 0 ? (unsigned)res / b->elem_bytes : 0;

	b->commit_nr[i] = 0;
	if (res < 0 || taken > nr) {
		log_msg(LOG_LEVEL_ERR, "device %u queue %u: %s of %u tags: %s", q->conf.dev_id,
			q->conf.q_id,
			cmd_op == UBLK_U_IO_PREP_IO_CMDS ? "PREP_IO_CMDS" : "COMMIT_IO_CMDS", nr,
			res < 0 ? strerror(-res) : "more taken than sent");
		return;
	}
	/* The kernel took the first ones only: the rest go with the next commit. */
	if (cmd_op == UBLK_U_IO_COMMIT_IO_CMDS && taken < nr) {
		memcpy(b->pending + (size_t)b->nr_pending * b->elem_bytes,
		       b->commit[i] + (size_t)taken * b->elem_bytes,
		       (size_t)(nr - taken) * b->elem_bytes);
		b->nr_pending += nr - taken;
	}
}

/* Tags the kernel wrote into fetch buffer i: each is a request to serve. */
static void batch_fetched(struct ublk_queue *q, unsigned i, const struct io_uring_cqe *cqe)
{
	struct batch_fetch *f = &q->batch->fetch[i];
	uint32_t end = f->off + (cqe->res > 0 ? (uint32_t)cqe->res : 0);

	if (end > f->buf_bytes) {
		log_msg(LOG_LEVEL_ERR, "device %u queue %u: fetch past its buffer (%u bytes)",
			q->conf.dev_id, q->conf.q_id, end);
		end = f->buf_bytes;
	}
	for (uint32_t at = f->off; at + sizeof(uint16_t) <= end; at += sizeof(uint16_t)) {
		uint16_t tag;

		memcpy(&tag, f->buf + at, sizeof(tag));
		if (tag < q->conf.depth && q->ios[tag].state == QUEUE_IO_IN_KERNEL)
			queue_serve(q, tag);
		else
			log_msg(LOG_LEVEL_ERR, "device %u queue %u: fetched tag %u, not ours",
				q->conf.dev_id, q->conf.q_id, tag);
	}
	f->off = end;
	if (cqe->flags & IORING_CQE_F_MORE)
		return;
	/* The fetch ended. Its buffer used up (or none there): back in, empty, and again. */
	f->live = false;
	q->nr_in_kernel--;
	if (cqe->res < 0 && cqe->res != -ENOBUFS) {
		if (cqe->res != UBLK_IO_RES_ABORT && cqe->res != -ECANCELED)
			log_msg(LOG_LEVEL_ERR, "device %u queue %u: FETCH_IO_CMDS: %s",
				q->conf.dev_id, q->conf.q_id, strerror(-cqe->res));
		return;
	}
	if (q->quitting)
		return;
	if (!(cqe->flags & IORING_CQE_F_BUF_MORE)) {
		f->off = 0;
		uring_buf_ring_add(f->ring, 1, f->buf, f->buf_bytes, 0);
	}
	if (batch_queue_fetch(q, i) < 0)
		log_msg(LOG_LEVEL_ERR, "device %u queue %u: FETCH_IO_CMDS: no SQE", q->conf.dev_id,
			q->conf.q_id);
}

void queue_batch_handle_cqe(struct ublk_queue *q, const struct io_uring_cqe *cqe)
{
	unsigned i = cqe->user_data & 0xffff;
	uint32_t nr = (cqe->user_data >> 16) & 0xff;

	if (nr == (UBLK_U_IO_FETCH_IO_CMDS & 0xff) && i < BATCH_FETCHES) {
		batch_fetched(q, i, cqe);
		return;
	}
	if (i >= BATCH_COMMIT_BUFS)
		return;
	q->nr_in_kernel--;
	batch_elems_done(q, i,
			 nr == (UBLK_U_IO_PREP_IO_CMDS & 0xff) ? UBLK_U_IO_PREP_IO_CMDS
							       : UBLK_U_IO_COMMIT_IO_CMDS,
			 cqe->res);
}
