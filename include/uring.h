/* SPDX-License-Identifier: MIT */
/*
 * ublkd's own io_uring: a ring is a plain struct, set up and torn down in src/uring.c; the hot
 * path (get an SQE, prepare it, publish, peek and retire CQEs) is the static inline functions
 * below, with no allocation and no system call of their own.
 *
 * Memory ordering, once for the whole file. The kernel and we share four indices:
 *  - SQ tail (we write): a store-release, so the SQE contents are visible before the kernel,
 *    or its SQPOLL thread, sees the new tail.
 *  - SQ head (kernel writes): a load-acquire, so the kernel has finished reading an SQE slot
 *    before we reuse it.
 *  - CQ tail (kernel writes): a load-acquire, so the CQE contents are visible once we see it.
 *  - CQ head (we write): a store-release, so we have finished reading a CQE before the kernel
 *    may overwrite its slot.
 * On x86-64 all four compile to plain moves. The one full barrier is in uring_sq_needs_enter().
 *
 * Functions that can fail return a negative errno; nothing here prints.
 */
#ifndef UBLKD_URING_H
#define UBLKD_URING_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/uio.h>

#include "abi/io_uring.h"

struct uring_sq {
	unsigned *khead;
	unsigned *ktail;
	unsigned *kflags; /* IORING_SQ_* */
	unsigned *kdropped;
	unsigned *array; /* NULL with IORING_SETUP_NO_SQARRAY: SQEs are taken in ring order */
	unsigned ring_mask;
	unsigned ring_entries;
	unsigned sqe_tail;  /* next SQE to hand out; published to *ktail by uring_flush_sq() */
	unsigned sqe_shift; /* log2 of the SQE size: 6, or 7 with SQE128 */
	char *sqes;
	void *ring_ptr;
	size_t ring_bytes;
	size_t sqes_bytes;
};

struct uring_cq {
	unsigned *khead;
	unsigned *ktail;
	unsigned *koverflow;
	unsigned *kflags;
	char *cqes;
	unsigned ring_mask;
	unsigned ring_entries;
	unsigned cqe_shift; /* log2 of the CQE size: 4, or 5 with CQE32 */
	void *ring_ptr;	    /* == sq.ring_ptr with IORING_FEAT_SINGLE_MMAP */
	size_t ring_bytes;
};

struct uring {
	struct uring_sq sq;
	struct uring_cq cq;
	unsigned flags;	   /* IORING_SETUP_* the kernel accepted */
	unsigned features; /* IORING_FEAT_* */
	int ring_fd;
	int enter_fd; /* ring_fd, or its registered index once uring_register_ring_fd() succeeds */
	unsigned enter_flags;	 /* IORING_ENTER_REGISTERED_RING with a registered index */
	unsigned cmd_area_bytes; /* URING_CMD payload room: 16, or 80 with SQE128 */
};

struct uring_params {
	unsigned sq_entries;	    /* rounded up to a power of two by the kernel */
	unsigned cq_entries;	    /* 0: the kernel's default, twice sq_entries */
	unsigned flags;		    /* IORING_SETUP_* that must be granted, or setup fails */
	unsigned optional_flags;    /* IORING_SETUP_* to try; dropped one at a time if refused */
	unsigned sq_thread_idle_ms; /* SQPOLL: idle time before the thread sleeps */
	int sq_thread_cpu;	    /* SQPOLL: pin the thread here; -1 for no pinning */
};

/* Which opcodes the running kernel supports (IORING_REGISTER_PROBE). */
struct uring_probe {
	unsigned last_op;
	uint8_t supported[256 / 8];
};

/* src/uring.c: setup and teardown */
int uring_init(struct uring *r, const struct uring_params *p);
int uring_init_simple(struct uring *r, unsigned entries, unsigned flags);
void uring_exit(struct uring *r);

/* src/uring.c: submission and waiting (may enter the kernel) */
int uring_submit(struct uring *r);
int uring_submit_and_wait(struct uring *r, unsigned wait_nr);
int uring_wait_cqe(struct uring *r, struct io_uring_cqe **cqe_ptr);
int uring_wait_cqe_timeout(struct uring *r, struct io_uring_cqe **cqe_ptr, unsigned timeout_ms);
int uring_get_events(struct uring *r);
int uring_sqring_wait(struct uring *r);

/* src/uring.c: registration */
int uring_register_buffers(struct uring *r, const struct iovec *iovs, unsigned nr);
/* nr empty slots, which a driver fills (ublk's AUTO_BUF_REG registers requests' pages). */
int uring_register_buffers_sparse(struct uring *r, unsigned nr);
/* Replace slots slot..slot+nr-1 (of a table registered before) with iovs; the old go. */
int uring_register_buffers_update(struct uring *r, unsigned slot, const struct iovec *iovs,
				  unsigned nr);
int uring_unregister_buffers(struct uring *r);
/*
 * A provided-buffer ring for group bgid: entries (a power of two) struct io_uring_buf in
 * page-aligned, zeroed memory of the caller's, which must outlive the ring. Buffers go in with
 * uring_buf_ring_add(). flags: IOU_PBUF_RING_*.
 */
int uring_register_buf_ring(struct uring *r, struct io_uring_buf *ring, unsigned entries,
			    uint16_t bgid, unsigned flags);
int uring_register_files(struct uring *r, const int *fds, unsigned nr);
int uring_unregister_files(struct uring *r);
int uring_register_ring_fd(struct uring *r);
int uring_unregister_ring_fd(struct uring *r);
int uring_probe_ops(struct uring *r, struct uring_probe *probe);

static inline bool uring_probe_has(const struct uring_probe *probe, unsigned op)
{
	return op <= probe->last_op && op < 256 && (probe->supported[op / 8] & (1U << (op % 8)));
}

/* ---- submission side ---- */

static inline unsigned uring_load_acquire(const unsigned *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static inline void uring_store_release(unsigned *p, unsigned v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}

/* SQEs handed out but not yet consumed by the kernel. */
static inline unsigned uring_sq_ready(const struct uring *r)
{
	return r->sq.sqe_tail - uring_load_acquire(r->sq.khead);
}

static inline unsigned uring_sq_space_left(const struct uring *r)
{
	return r->sq.ring_entries - uring_sq_ready(r);
}

/* The next free SQE, or NULL when the SQ is full: never overwrites an unconsumed entry. */
static inline struct io_uring_sqe *uring_get_sqe(struct uring *r)
{
	unsigned tail = r->sq.sqe_tail;

	if (tail - uring_load_acquire(r->sq.khead) >= r->sq.ring_entries)
		return NULL;
	r->sq.sqe_tail = tail + 1;
	return (struct io_uring_sqe *)(r->sq.sqes +
				       ((size_t)(tail & r->sq.ring_mask) << r->sq.sqe_shift));
}

/* Publish the SQEs handed out so far; returns how many the kernel has yet to consume. */
static inline unsigned uring_flush_sq(struct uring *r)
{
	if (*r->sq.ktail != r->sq.sqe_tail)
		uring_store_release(r->sq.ktail, r->sq.sqe_tail);
	return r->sq.sqe_tail - uring_load_acquire(r->sq.khead);
}

static inline void uring_sqe_set_data64(struct io_uring_sqe *sqe, uint64_t data)
{
	sqe->user_data = data;
}

static inline void uring_sqe_set_flags(struct io_uring_sqe *sqe, unsigned flags)
{
	sqe->flags = (uint8_t)flags;
}

/* Every prep helper writes all 64 bytes of the base SQE, so a reused slot carries nothing over. */
static inline void uring_prep_rw(uint8_t op, struct io_uring_sqe *sqe, int fd, const void *addr,
				 unsigned len, uint64_t offset)
{
	sqe->opcode = op;
	sqe->flags = 0;
	sqe->ioprio = 0;
	sqe->fd = fd;
	sqe->off = offset;
	sqe->addr = (uint64_t)(uintptr_t)addr;
	sqe->len = len;
	sqe->rw_flags = 0;
	sqe->user_data = 0;
	sqe->buf_index = 0;
	sqe->personality = 0;
	sqe->file_index = 0;
	sqe->addr3 = 0;
	sqe->__pad2[0] = 0;
}

static inline void uring_prep_nop(struct io_uring_sqe *sqe)
{
	uring_prep_rw(IORING_OP_NOP, sqe, -1, NULL, 0, 0);
}

static inline void uring_prep_read(struct io_uring_sqe *sqe, int fd, void *buf, unsigned nbytes,
				   uint64_t offset)
{
	uring_prep_rw(IORING_OP_READ, sqe, fd, buf, nbytes, offset);
}

static inline void uring_prep_write(struct io_uring_sqe *sqe, int fd, const void *buf,
				    unsigned nbytes, uint64_t offset)
{
	uring_prep_rw(IORING_OP_WRITE, sqe, fd, buf, nbytes, offset);
}

static inline void uring_prep_readv(struct io_uring_sqe *sqe, int fd, const struct iovec *iovs,
				    unsigned nr_iovs, uint64_t offset)
{
	uring_prep_rw(IORING_OP_READV, sqe, fd, iovs, nr_iovs, offset);
}

static inline void uring_prep_writev(struct io_uring_sqe *sqe, int fd, const struct iovec *iovs,
				     unsigned nr_iovs, uint64_t offset)
{
	uring_prep_rw(IORING_OP_WRITEV, sqe, fd, iovs, nr_iovs, offset);
}

/* buf must lie inside registered buffer buf_index (uring_register_buffers()). */
static inline void uring_prep_read_fixed(struct io_uring_sqe *sqe, int fd, void *buf,
					 unsigned nbytes, uint64_t offset, uint16_t buf_index)
{
	uring_prep_rw(IORING_OP_READ_FIXED, sqe, fd, buf, nbytes, offset);
	sqe->buf_index = buf_index;
}

static inline void uring_prep_write_fixed(struct io_uring_sqe *sqe, int fd, const void *buf,
					  unsigned nbytes, uint64_t offset, uint16_t buf_index)
{
	uring_prep_rw(IORING_OP_WRITE_FIXED, sqe, fd, buf, nbytes, offset);
	sqe->buf_index = buf_index;
}

/* flags: 0 for fsync, IORING_FSYNC_DATASYNC for fdatasync */
static inline void uring_prep_fsync(struct io_uring_sqe *sqe, int fd, unsigned flags)
{
	uring_prep_rw(IORING_OP_FSYNC, sqe, fd, NULL, 0, 0);
	sqe->fsync_flags = flags;
}

/*
 * A pure timeout (no completion count) that expires after *ts. The kernel copies *ts while it
 * consumes the SQE, so ts must stay valid until the SQE is submitted.
 */
static inline void uring_prep_timeout(struct io_uring_sqe *sqe,
				      const struct io_uring_kernel_timespec *ts, unsigned flags)
{
	uring_prep_rw(IORING_OP_TIMEOUT, sqe, -1, ts, 1, 0);
	sqe->timeout_flags = flags;
}

/* Cancels the timeout whose user_data is target: it completes with -ECANCELED. */
static inline void uring_prep_timeout_remove(struct io_uring_sqe *sqe, uint64_t target)
{
	uring_prep_rw(IORING_OP_TIMEOUT_REMOVE, sqe, -1, NULL, 0, 0);
	sqe->addr = target;
}

/* The kernel reads fallocate's length from addr and its mode from len. */
static inline void uring_prep_fallocate(struct io_uring_sqe *sqe, int fd, int mode, uint64_t offset,
					uint64_t len)
{
	uring_prep_rw(IORING_OP_FALLOCATE, sqe, fd, NULL, (unsigned)mode, offset);
	sqe->addr = len;
}

/*
 * A driver command (IORING_OP_URING_CMD): cmd_bytes of cmd go to the SQE's command area, the
 * rest of which is zeroed. The area is 16 bytes, or 80 on a SQE128 ring; a larger command is
 * refused with -EINVAL and the SQE turned into a NOP so the slot is never left half-written.
 */
static inline int uring_prep_uring_cmd(const struct uring *r, struct io_uring_sqe *sqe, int fd,
				       uint32_t cmd_op, const void *cmd, size_t cmd_bytes)
{
	if (cmd_bytes > r->cmd_area_bytes) {
		uring_prep_nop(sqe);
		return -EINVAL;
	}
	uring_prep_rw(IORING_OP_URING_CMD, sqe, fd, NULL, 0, 0);
	sqe->cmd_op = cmd_op;
	if (cmd_bytes)
		memcpy(sqe->cmd, cmd, cmd_bytes);
	memset(sqe->cmd + cmd_bytes, 0, r->cmd_area_bytes - cmd_bytes);
	return 0;
}

/*
 * Hands buffer bid (len bytes at addr) to a provided-buffer ring of entries slots. The
 * store-release of the tail (entry 0's resv) publishes the entry to the kernel.
 */
static inline void uring_buf_ring_add(struct io_uring_buf *ring, unsigned entries, void *addr,
				      uint32_t len, uint16_t bid)
{
	uint16_t tail = ring[0].resv;
	struct io_uring_buf *buf = &ring[tail & (entries - 1)];

	buf->addr = (uint64_t)(uintptr_t)addr;
	buf->len = len;
	buf->bid = bid;
	__atomic_store_n(&ring[0].resv, (uint16_t)(tail + 1), __ATOMIC_RELEASE);
}

/* ---- completion side ---- */

static inline struct io_uring_cqe *uring_cqe_at(const struct uring *r, unsigned index)
{
	return (struct io_uring_cqe *)(r->cq.cqes +
				       ((size_t)(index & r->cq.ring_mask) << r->cq.cqe_shift));
}

static inline unsigned uring_cq_ready(const struct uring *r)
{
	return uring_load_acquire(r->cq.ktail) - *r->cq.khead;
}

/*
 * True when completions wait in the kernel rather than in the CQ ring: overflowed CQEs
 * (kept, not dropped, with IORING_FEAT_NODROP) or task work that posts them. Only an enter
 * with GETEVENTS moves them into the ring.
 */
static inline bool uring_cq_needs_flush(const struct uring *r)
{
	return __atomic_load_n(r->sq.kflags, __ATOMIC_RELAXED) &
	       (IORING_SQ_CQ_OVERFLOW | IORING_SQ_TASKRUN);
}

/* Retire n CQEs at once (after a batch peek). */
static inline void uring_cq_advance(struct uring *r, unsigned n)
{
	uring_store_release(r->cq.khead, *r->cq.khead + n);
}

static inline void uring_cqe_seen(struct uring *r, struct io_uring_cqe *cqe)
{
	(void)cqe;
	uring_cq_advance(r, 1);
}

/*
 * Up to max CQEs without waiting, oldest first; retire them with uring_cq_advance(). When the
 * ring is empty but completions wait in the kernel, they are flushed in first.
 */
static inline unsigned uring_peek_batch_cqe(struct uring *r, struct io_uring_cqe **cqes,
					    unsigned max)
{
	unsigned head = *r->cq.khead;
	unsigned ready = uring_load_acquire(r->cq.ktail) - head;

	if (!ready && uring_cq_needs_flush(r) && uring_get_events(r) >= 0)
		ready = uring_load_acquire(r->cq.ktail) - head;
	if (ready > max)
		ready = max;
	for (unsigned i = 0; i < ready; i++)
		cqes[i] = uring_cqe_at(r, head + i);
	return ready;
}

/* The oldest CQE without waiting: 0 and *cqe_ptr set, or -EAGAIN when there is none. */
static inline int uring_peek_cqe(struct uring *r, struct io_uring_cqe **cqe_ptr)
{
	return uring_peek_batch_cqe(r, cqe_ptr, 1) ? 0 : -EAGAIN;
}

#endif /* UBLKD_URING_H */
