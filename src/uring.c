// SPDX-License-Identifier: MIT
/*
 * io_uring setup, teardown, registration and every path that enters the kernel. The hot path
 * that only moves ring entries is inline in include/uring.h.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "uring.h"
#include "uring_syscall.h"

/* Flags that change what an SQE or CQE means; everything else is a tuning hint. */
#define URING_LAYOUT_FLAGS (IORING_SETUP_SQE128 | IORING_SETUP_CQE32)

static void uring_unmap(struct uring *r)
{
	if (r->sq.sqes && r->sq.sqes != MAP_FAILED)
		munmap(r->sq.sqes, r->sq.sqes_bytes);
	if (r->cq.ring_ptr && r->cq.ring_ptr != MAP_FAILED && r->cq.ring_ptr != r->sq.ring_ptr)
		munmap(r->cq.ring_ptr, r->cq.ring_bytes);
	if (r->sq.ring_ptr && r->sq.ring_ptr != MAP_FAILED)
		munmap(r->sq.ring_ptr, r->sq.ring_bytes);
	r->sq.sqes = NULL;
	r->sq.ring_ptr = NULL;
	r->cq.ring_ptr = NULL;
}

static int uring_map(struct uring *r, int fd, const struct io_uring_params *kp)
{
	unsigned sqe_bytes = (kp->flags & IORING_SETUP_SQE128) ? 128 : 64;
	unsigned cqe_bytes = (kp->flags & IORING_SETUP_CQE32) ? 32 : 16;
	struct uring_sq *sq = &r->sq;
	struct uring_cq *cq = &r->cq;
	char *sq_ptr, *cq_ptr;

	cq->ring_bytes = kp->cq_off.cqes + (size_t)kp->cq_entries * cqe_bytes;
	/* Without an SQ array (NO_SQARRAY) the SQ indices sit in the same region as the CQ's. */
	if (kp->flags & IORING_SETUP_NO_SQARRAY)
		sq->ring_bytes = cq->ring_bytes;
	else
		sq->ring_bytes = kp->sq_off.array + kp->sq_entries * sizeof(unsigned);
	if (kp->features & IORING_FEAT_SINGLE_MMAP) {
		/* SQ and CQ rings share one region: map it once, as large as the larger of the two. */
		if (cq->ring_bytes > sq->ring_bytes)
			sq->ring_bytes = cq->ring_bytes;
		cq->ring_bytes = sq->ring_bytes;
	}
	sq->ring_ptr = mmap(NULL, sq->ring_bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
			    fd, IORING_OFF_SQ_RING);
	if (sq->ring_ptr == MAP_FAILED)
		goto fail;
	if (kp->features & IORING_FEAT_SINGLE_MMAP) {
		cq->ring_ptr = sq->ring_ptr;
	} else {
		cq->ring_ptr = mmap(NULL, cq->ring_bytes, PROT_READ | PROT_WRITE,
				    MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_CQ_RING);
		if (cq->ring_ptr == MAP_FAILED)
			goto fail;
	}
	sq->sqes_bytes = (size_t)kp->sq_entries * sqe_bytes;
	sq->sqes = mmap(NULL, sq->sqes_bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd,
			IORING_OFF_SQES);
	if (sq->sqes == MAP_FAILED)
		goto fail;

	sq_ptr = sq->ring_ptr;
	cq_ptr = cq->ring_ptr;
	sq->khead = (unsigned *)(sq_ptr + kp->sq_off.head);
	sq->ktail = (unsigned *)(sq_ptr + kp->sq_off.tail);
	sq->kflags = (unsigned *)(sq_ptr + kp->sq_off.flags);
	sq->kdropped = (unsigned *)(sq_ptr + kp->sq_off.dropped);
	sq->array = (kp->flags & IORING_SETUP_NO_SQARRAY) ? NULL
							  : (unsigned *)(sq_ptr + kp->sq_off.array);
	sq->ring_mask = *(unsigned *)(sq_ptr + kp->sq_off.ring_mask);
	sq->ring_entries = *(unsigned *)(sq_ptr + kp->sq_off.ring_entries);
	sq->sqe_shift = sqe_bytes == 128 ? 7 : 6;
	sq->sqe_tail = *sq->ktail;

	cq->khead = (unsigned *)(cq_ptr + kp->cq_off.head);
	cq->ktail = (unsigned *)(cq_ptr + kp->cq_off.tail);
	cq->koverflow = (unsigned *)(cq_ptr + kp->cq_off.overflow);
	cq->kflags = kp->cq_off.flags ? (unsigned *)(cq_ptr + kp->cq_off.flags) : NULL;
	cq->cqes = cq_ptr + kp->cq_off.cqes;
	cq->ring_mask = *(unsigned *)(cq_ptr + kp->cq_off.ring_mask);
	cq->ring_entries = *(unsigned *)(cq_ptr + kp->cq_off.ring_entries);
	cq->cqe_shift = cqe_bytes == 32 ? 5 : 4;

	/*
	 * SQ slot i always holds SQE i: filled once here, so submitting never touches the array
	 * (SQEs are handed out in ring order).
	 */
	for (unsigned i = 0; sq->array && i < sq->ring_entries; i++)
		sq->array[i] = i;
	return 0;
fail:;
	int err = -errno;

	uring_unmap(r);
	return err;
}

int uring_init(struct uring *r, const struct uring_params *p)
{
	/* NO_SQARRAY (6.6) spares the kernel a load per SQE; it is the first flag dropped. */
	unsigned optional =
		(p->optional_flags | IORING_SETUP_NO_SQARRAY) & ~p->flags & ~URING_LAYOUT_FLAGS;
	struct io_uring_params kp;
	int fd, ret;

	memset(r, 0, sizeof(*r));
	r->ring_fd = -1;
	r->enter_fd = -1;
	if (p->optional_flags & URING_LAYOUT_FLAGS & ~p->flags)
		return -EINVAL; /* a caller cannot work with either SQE or CQE size */
	for (;;) {
		memset(&kp, 0, sizeof(kp));
		kp.flags = p->flags | optional;
		if (p->cq_entries) {
			kp.flags |= IORING_SETUP_CQSIZE;
			kp.cq_entries = p->cq_entries;
		}
		if (kp.flags & IORING_SETUP_SQPOLL) {
			kp.sq_thread_idle = p->sq_thread_idle_ms;
			if (p->sq_thread_cpu >= 0) {
				kp.flags |= IORING_SETUP_SQ_AFF;
				kp.sq_thread_cpu = (unsigned)p->sq_thread_cpu;
			}
		}
		fd = sys_io_uring_setup(p->sq_entries, &kp);
		if (fd >= 0)
			break;
		if (fd != -EINVAL || !optional)
			return fd;
		/*
		 * Drop the newest optional flag first: DEFER_TASKRUN goes before the
		 * SINGLE_ISSUER it depends on, and both before the older COOP_TASKRUN.
		 */
		optional &= ~(1U << (31 - __builtin_clz(optional)));
	}
	ret = uring_map(r, fd, &kp);
	if (ret) {
		close(fd);
		return ret;
	}
	r->flags = kp.flags;
	r->features = kp.features;
	r->ring_fd = fd;
	r->enter_fd = fd;
	r->cmd_area_bytes = (kp.flags & IORING_SETUP_SQE128) ? IO_URING_SQE128_CMD_BYTES
							     : IO_URING_SQE_CMD_BYTES;
	return 0;
}

int uring_init_simple(struct uring *r, unsigned entries, unsigned flags)
{
	struct uring_params p = {
		.sq_entries = entries,
		.flags = flags,
		.sq_thread_cpu = -1,
	};

	return uring_init(r, &p);
}

void uring_exit(struct uring *r)
{
	if (r->ring_fd < 0)
		return;
	/* A registered ring fd holds its own reference to the ring: drop it or the ring leaks. */
	if (r->enter_flags & IORING_ENTER_REGISTERED_RING)
		uring_unregister_ring_fd(r);
	uring_unmap(r);
	close(r->ring_fd);
	r->ring_fd = -1;
	r->enter_fd = -1;
}

static int uring_enter(struct uring *r, unsigned to_submit, unsigned min_complete, unsigned flags,
		       const void *arg, size_t argsz)
{
	return sys_io_uring_enter(r->enter_fd, to_submit, min_complete, flags | r->enter_flags, arg,
				  argsz);
}

/* Whether publishing `submit` new SQEs needs a system call, and with which flags. */
static bool uring_sq_needs_enter(struct uring *r, unsigned submit, unsigned *flags)
{
	if (!submit)
		return false;
	if (!(r->flags & IORING_SETUP_SQPOLL))
		return true;
	/*
	 * The SQPOLL thread sets NEED_WAKEUP and then re-reads our tail before sleeping, with a
	 * full barrier in between; we stored the tail and now read the flag, and need the same
	 * full barrier, or each side can miss the other's store and the thread sleeps on our SQEs.
	 */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (__atomic_load_n(r->sq.kflags, __ATOMIC_RELAXED) & IORING_SQ_NEED_WAKEUP) {
		*flags |= IORING_ENTER_SQ_WAKEUP;
		return true;
	}
	return false;
}

/*
 * Publish queued SQEs, enter the kernel if anything needs it, wait for wait_nr completions.
 * Returns the number of SQEs submitted (with SQPOLL: published and not yet taken by the kernel
 * thread) or -errno. On -EAGAIN/-EBUSY (the kernel is short of resources) the SQEs stay
 * queued: reap completions and submit again. EINTR is retried when the kernel consumed
 * nothing (the retry re-reads its SQ head); when a signal interrupts the wait after SQEs went
 * in, the kernel reports them and this returns early: callers that need wait_nr CQEs loop.
 */
int uring_submit_and_wait(struct uring *r, unsigned wait_nr)
{
	for (;;) {
		unsigned submit = uring_flush_sq(r);
		unsigned flags = 0;
		int ret;

		if (wait_nr || uring_cq_needs_flush(r))
			flags |= IORING_ENTER_GETEVENTS;
		if (!uring_sq_needs_enter(r, submit, &flags) && !flags)
			return (int)submit;
		ret = uring_enter(r, submit, wait_nr, flags, NULL, 0);
		if (ret != -EINTR)
			return ret;
	}
}

int uring_submit(struct uring *r)
{
	return uring_submit_and_wait(r, 0);
}

/* Flush completions held in the kernel (CQ overflow, pending task work) into the CQ ring. */
int uring_get_events(struct uring *r)
{
	int ret;

	do
		ret = uring_enter(r, 0, 0, IORING_ENTER_GETEVENTS, NULL, 0);
	while (ret == -EINTR);
	return ret;
}

/* SQPOLL only: sleep until the kernel thread has made room in a full SQ. */
int uring_sqring_wait(struct uring *r)
{
	int ret;

	if (!(r->flags & IORING_SETUP_SQPOLL))
		return -EINVAL;
	if (uring_sq_space_left(r))
		return 0;
	do
		ret = uring_enter(r, 0, 0, IORING_ENTER_SQ_WAIT, NULL, 0);
	while (ret == -EINTR);
	return ret;
}

static int64_t monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/*
 * Submit what is queued and wait for one CQE, until deadline_ns on CLOCK_MONOTONIC
 * (-1: no limit). -ETIME when the deadline passes with no completion.
 */
static int uring_wait_until(struct uring *r, struct io_uring_cqe **cqe_ptr, int64_t deadline_ns)
{
	bool submit_allowed = true, expired = false;

	if (deadline_ns >= 0 && !(r->features & IORING_FEAT_EXT_ARG))
		return -EOPNOTSUPP;
	for (;;) {
		struct io_uring_kernel_timespec ts;
		struct io_uring_getevents_arg arg = { .ts = (uint64_t)(uintptr_t)&ts };
		unsigned flags = IORING_ENTER_GETEVENTS;
		unsigned submit = 0;
		int ret;

		if (uring_peek_cqe(r, cqe_ptr) == 0)
			return 0;
		if (submit_allowed) {
			submit = uring_flush_sq(r);
			uring_sq_needs_enter(r, submit, &flags);
		}
		if (deadline_ns >= 0) {
			int64_t left = deadline_ns - monotonic_ns();

			/*
			 * Past the deadline (a zero timeout is a poll), still enter once with a zero
			 * timeout: queued SQEs must be submitted, and with DEFER_TASKRUN finished
			 * work is posted to the CQ only by an enter that waits.
			 */
			if (left <= 0) {
				if (expired)
					return -ETIME;
				expired = true;
				left = 0;
			}
			ts.tv_sec = left / 1000000000;
			ts.tv_nsec = left % 1000000000;
			flags |= IORING_ENTER_EXT_ARG;
		}
		ret = uring_enter(r, submit, 1, flags, deadline_ns >= 0 ? &arg : NULL,
				  deadline_ns >= 0 ? sizeof(arg) : 0);
		if (ret == -EAGAIN || ret == -EBUSY) {
			/* Short of resources to submit: completions free them, so only wait. */
			submit_allowed = false;
			continue;
		}
		submit_allowed = true;
		if (ret == -ETIME)
			return uring_peek_cqe(r, cqe_ptr) == 0 ? 0 : -ETIME;
		if (ret < 0 && ret != -EINTR)
			return ret;
	}
}

int uring_wait_cqe(struct uring *r, struct io_uring_cqe **cqe_ptr)
{
	return uring_wait_until(r, cqe_ptr, -1);
}

int uring_wait_cqe_timeout(struct uring *r, struct io_uring_cqe **cqe_ptr, unsigned timeout_ms)
{
	return uring_wait_until(r, cqe_ptr, monotonic_ns() + (int64_t)timeout_ms * 1000000);
}

int uring_register_buffers(struct uring *r, const struct iovec *iovs, unsigned nr)
{
	return sys_io_uring_register(r->ring_fd, IORING_REGISTER_BUFFERS, iovs, nr);
}

int uring_register_buffers_sparse(struct uring *r, unsigned nr)
{
	struct io_uring_rsrc_register reg = { .nr = nr, .flags = IORING_RSRC_REGISTER_SPARSE };

	return sys_io_uring_register(r->ring_fd, IORING_REGISTER_BUFFERS2, &reg, sizeof(reg));
}

int uring_register_buffers_update(struct uring *r, unsigned slot, const struct iovec *iovs,
				  unsigned nr)
{
	struct io_uring_rsrc_update2 up = {
		.offset = slot,
		.data = (uint64_t)(uintptr_t)iovs,
		.nr = nr,
	};
	int ret =
		sys_io_uring_register(r->ring_fd, IORING_REGISTER_BUFFERS_UPDATE, &up, sizeof(up));

	/* It returns how many slots it replaced; all or an error here. */
	return ret < 0 ? ret : 0;
}

int uring_register_buf_ring(struct uring *r, struct io_uring_buf *ring, unsigned entries,
			    uint16_t bgid, unsigned flags)
{
	struct io_uring_buf_reg reg = {
		.ring_addr = (uint64_t)(uintptr_t)ring,
		.ring_entries = entries,
		.bgid = bgid,
		.flags = (uint16_t)flags,
	};

	return sys_io_uring_register(r->ring_fd, IORING_REGISTER_PBUF_RING, &reg, 1);
}

int uring_unregister_buffers(struct uring *r)
{
	return sys_io_uring_register(r->ring_fd, IORING_UNREGISTER_BUFFERS, NULL, 0);
}

int uring_register_files(struct uring *r, const int *fds, unsigned nr)
{
	return sys_io_uring_register(r->ring_fd, IORING_REGISTER_FILES, fds, nr);
}

int uring_unregister_files(struct uring *r)
{
	return sys_io_uring_register(r->ring_fd, IORING_UNREGISTER_FILES, NULL, 0);
}

/*
 * Register the ring fd with the calling thread, so that io_uring_enter() skips the fd table
 * lookup. The registration belongs to this thread: only it may enter the ring afterwards.
 */
int uring_register_ring_fd(struct uring *r)
{
	struct io_uring_rsrc_update up = { .offset = -1U, .data = (uint64_t)r->ring_fd };
	int ret;

	if (r->enter_flags & IORING_ENTER_REGISTERED_RING)
		return -EEXIST;
	ret = sys_io_uring_register(r->ring_fd, IORING_REGISTER_RING_FDS, &up, 1);
	if (ret < 0)
		return ret;
	if (ret != 1)
		return -EIO;
	r->enter_fd = (int)up.offset;
	r->enter_flags = IORING_ENTER_REGISTERED_RING;
	return 0;
}

int uring_unregister_ring_fd(struct uring *r)
{
	struct io_uring_rsrc_update up = { .offset = (uint32_t)r->enter_fd };
	int ret;

	if (!(r->enter_flags & IORING_ENTER_REGISTERED_RING))
		return -EINVAL;
	ret = sys_io_uring_register(r->ring_fd, IORING_UNREGISTER_RING_FDS, &up, 1);
	if (ret < 0)
		return ret;
	r->enter_fd = r->ring_fd;
	r->enter_flags = 0;
	return 0;
}

int uring_probe_ops(struct uring *r, struct uring_probe *probe)
{
	_Alignas(struct io_uring_probe) char
		buf[sizeof(struct io_uring_probe) + 256 * sizeof(struct io_uring_probe_op)];
	struct io_uring_probe *kprobe = (struct io_uring_probe *)buf;
	int ret;

	memset(buf, 0, sizeof(buf));
	memset(probe, 0, sizeof(*probe));
	ret = sys_io_uring_register(r->ring_fd, IORING_REGISTER_PROBE, kprobe, 256);
	if (ret < 0)
		return ret;
	probe->last_op = kprobe->last_op;
	for (unsigned i = 0; i < kprobe->ops_len; i++) {
		const struct io_uring_probe_op *op = &kprobe->ops[i];

		if (op->flags & IO_URING_OP_SUPPORTED)
			probe->supported[op->op / 8] |= (uint8_t)(1U << (op->op % 8));
	}
	return 0;
}
