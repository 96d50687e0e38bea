// SPDX-License-Identifier: MIT
/*
 * Ring setup and teardown: the geometry of every size and SQE/CQE layout, optional-flag
 * fallback, the opcode probe, SQPOLL, registered ring fd and files, and nothing leaked.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "../common/suite_main.h"
#include "uring.h"
#include "uring_test.h"

static const unsigned geometry_sizes[] = { 1, 2, 8, 32, 256, 4096 };
static const unsigned geometry_layouts[] = { 0, IORING_SETUP_SQE128, IORING_SETUP_CQE32,
					     IORING_SETUP_SQE128 | IORING_SETUP_CQE32 };
#define GEOMETRY_CQ_MODES 3 /* kernel default, 4 * SQ, 3 * SQ + 1 (not a power of two) */
#define GEOMETRY_CASES (6 * 4 * GEOMETRY_CQ_MODES)

/*
 * Case _i: every size with every layout and CQ size. The ring's fields must agree with what
 * was asked, the shared indices start at zero inside the mapping, and three full wraps of NOPs
 * come back exactly once.
 */
START_TEST(test_geometry_and_wraps)
{
	unsigned size = geometry_sizes[_i / (4 * GEOMETRY_CQ_MODES)];
	unsigned layout = geometry_layouts[(_i / GEOMETRY_CQ_MODES) % 4];
	unsigned cq_mode = _i % GEOMETRY_CQ_MODES;
	unsigned cq_ask = cq_mode == 0 ? 0 : cq_mode == 1 ? 4 * size : 3 * size + 1;
	struct uring_params p = {
		.sq_entries = size, .cq_entries = cq_ask, .flags = layout, .sq_thread_cpu = -1
	};
	unsigned sq_want = test_roundup_pow2(size);
	unsigned cq_want = cq_ask ? test_roundup_pow2(cq_ask) : 2 * sq_want;
	unsigned total = 3 * sq_want + 5;
	struct uring r;
	int ret;

	ret = uring_init(&r, &p);
	ck_assert_msg(ret == 0, "sq %u cq %u flags %#x: %s", size, cq_ask, layout, strerror(-ret));
	ck_assert_int_ge(r.ring_fd, 0);
	ck_assert_int_eq(r.enter_fd, r.ring_fd);
	ck_assert_uint_eq(r.enter_flags, 0);
	ck_assert_uint_eq(r.flags & (IORING_SETUP_SQE128 | IORING_SETUP_CQE32), layout);
	ck_assert(!!(r.flags & IORING_SETUP_CQSIZE) == !!cq_ask);

	ck_assert_uint_eq(r.sq.ring_entries, sq_want);
	ck_assert_uint_eq(r.sq.ring_mask, sq_want - 1);
	ck_assert_uint_eq(r.cq.ring_entries, cq_want);
	ck_assert_uint_eq(r.cq.ring_mask, cq_want - 1);
	ck_assert_uint_eq(r.sq.sqe_shift, (layout & IORING_SETUP_SQE128) ? 7 : 6);
	ck_assert_uint_eq(r.cq.cqe_shift, (layout & IORING_SETUP_CQE32) ? 5 : 4);
	ck_assert_uint_eq(r.cmd_area_bytes, (layout & IORING_SETUP_SQE128) ? 80 : 16);
	ck_assert_uint_eq(r.sq.sqes_bytes, (size_t)sq_want << r.sq.sqe_shift);

	/* Fresh indices, and every shared field inside its mapping. */
	ck_assert_uint_eq(*r.sq.khead, 0);
	ck_assert_uint_eq(*r.sq.ktail, 0);
	ck_assert_uint_eq(r.sq.sqe_tail, 0);
	ck_assert_uint_eq(*r.cq.khead, 0);
	ck_assert_uint_eq(*r.cq.ktail, 0);
	ck_assert_uint_eq(*r.cq.koverflow, 0);
	ck_assert_uint_eq(*r.sq.kdropped, 0);
	ck_assert_uint_eq(uring_sq_space_left(&r), sq_want);
	ck_assert_uint_eq(uring_cq_ready(&r), 0);
	/* With NO_SQARRAY there is no SQ array: the kernel takes SQEs in ring order. */
	ck_assert((r.flags & IORING_SETUP_NO_SQARRAY) ? !r.sq.array : !!r.sq.array);
	if (r.sq.array)
		ck_assert((char *)(r.sq.array + sq_want) <=
			  (char *)r.sq.ring_ptr + r.sq.ring_bytes);
	ck_assert(r.cq.cqes + ((size_t)cq_want << r.cq.cqe_shift) <=
		  (char *)r.cq.ring_ptr + r.cq.ring_bytes);
	if (r.features & IORING_FEAT_SINGLE_MMAP)
		ck_assert_ptr_eq(r.cq.ring_ptr, r.sq.ring_ptr);
	for (unsigned i = 0; r.sq.array && i < sq_want; i++)
		ck_assert_uint_eq(r.sq.array[i], i);

	test_nop_round_trips(&r, total);
	ck_assert_uint_eq(*r.sq.khead, total);
	ck_assert_uint_eq(r.sq.sqe_tail, total);
	ck_assert_uint_eq(*r.cq.khead, total);
	ck_assert_uint_eq(*r.cq.koverflow, 0);
	uring_exit(&r);
	ck_assert_int_eq(r.ring_fd, -1);
}
END_TEST

START_TEST(test_init_simple)
{
	struct uring r;

	ck_assert_int_eq(uring_init_simple(&r, 16, 0), 0);
	ck_assert_uint_eq(r.sq.ring_entries, 16);
	ck_assert_uint_eq(r.cq.ring_entries, 32);
	ck_assert_uint_eq(r.flags & (IORING_SETUP_CQSIZE | IORING_SETUP_SQ_AFF), 0);
	test_nop_round_trips(&r, 100);
	uring_exit(&r);

	ck_assert_int_eq(uring_init_simple(&r, 5, IORING_SETUP_SQE128), 0);
	ck_assert_uint_eq(r.sq.ring_entries, 8);
	ck_assert_uint_eq(r.cmd_area_bytes, 80);
	test_nop_round_trips(&r, 50);
	uring_exit(&r);
}
END_TEST

/* Refusals come back as -errno, leave a ring that uring_exit() accepts, and leak no fd. */
START_TEST(test_init_errors)
{
	int fds = test_count_fds();
	struct uring_params p = { .sq_thread_cpu = -1 };
	struct uring r;

	p.sq_entries = 0;
	ck_assert_int_eq(uring_init(&r, &p), -EINVAL);
	ck_assert_int_eq(r.ring_fd, -1);
	uring_exit(&r);

	p.sq_entries = 65536; /* beyond IORING_MAX_ENTRIES, and no CLAMP */
	ck_assert_int_eq(uring_init(&r, &p), -EINVAL);

	p.sq_entries = 16;
	p.cq_entries = 8; /* a CQ smaller than the SQ */
	ck_assert_int_eq(uring_init(&r, &p), -EINVAL);

	/* A refusal the optional flags cannot explain still comes back after they are dropped. */
	p.cq_entries = 0;
	p.sq_entries = 0;
	p.optional_flags = IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SINGLE_ISSUER;
	ck_assert_int_eq(uring_init(&r, &p), -EINVAL);
	uring_exit(&r);
	uring_exit(&r);
	ck_assert_int_eq(test_count_fds(), fds);
}
END_TEST

START_TEST(test_exit_twice)
{
	struct uring r;

	ck_assert_int_eq(uring_init_simple(&r, 4, 0), 0);
	test_nop_round_trips(&r, 9);
	uring_exit(&r);
	ck_assert_int_eq(r.ring_fd, -1);
	ck_assert_ptr_null(r.sq.ring_ptr);
	uring_exit(&r);
}
END_TEST

/* ---- optional flags ---- */

START_TEST(test_optional_bogus_flag_dropped)
{
	struct uring_params p = { .sq_entries = 8,
				  .optional_flags = 1U << 30,
				  .sq_thread_cpu = -1 };
	struct uring r;

	ck_assert_int_eq(uring_init(&r, &p), 0);
	ck_assert_uint_eq(r.flags & (1U << 30), 0);
	test_nop_round_trips(&r, 40);
	uring_exit(&r);

	/* Dropping the optional flag keeps the required ones. */
	p.flags = IORING_SETUP_CQE32;
	ck_assert_int_eq(uring_init(&r, &p), 0);
	ck_assert_uint_eq(r.flags & (1U << 30), 0);
	ck_assert_uint_eq(r.flags & IORING_SETUP_CQE32, IORING_SETUP_CQE32);
	ck_assert_uint_eq(r.cq.cqe_shift, 5);
	test_nop_round_trips(&r, 40);
	uring_exit(&r);
}
END_TEST

START_TEST(test_optional_taskrun_flags_granted)
{
	const unsigned want =
		IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN;
	struct uring_params p = { .sq_entries = 8, .optional_flags = want, .sq_thread_cpu = -1 };
	char buf[64], data[64];
	struct io_uring_sqe *sqe;
	struct uring r;
	int fd = test_temp_file();

	ck_assert_int_eq(uring_init(&r, &p), 0);
	ck_assert_msg((r.flags & want) == want, "granted %#x of %#x", r.flags & want, want);
	test_nop_round_trips(&r, 40);

	/* With DEFER_TASKRUN a file read completes only when we enter to wait: it must. */
	test_fill(data, sizeof(data), 0, 3);
	test_pwrite_all(fd, data, sizeof(data), 0);
	memset(buf, 0, sizeof(buf));
	sqe = test_get_sqe(&r);
	uring_prep_read(sqe, fd, buf, sizeof(buf), 0);
	uring_sqe_set_data64(sqe, 7);
	ck_assert_int_eq(test_run(&r, 7), sizeof(buf));
	test_expect_pattern(buf, sizeof(buf), 0, 3);
	uring_exit(&r);
	close(fd);
}
END_TEST

/* SQPOLL cannot have DEFER_TASKRUN: the newest optional flag goes first, the rest stay. */
START_TEST(test_optional_dropped_newest_first)
{
	struct uring_params p = { .sq_entries = 8,
				  .flags = IORING_SETUP_SQPOLL,
				  .optional_flags =
					  IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_SINGLE_ISSUER,
				  .sq_thread_idle_ms = 10,
				  .sq_thread_cpu = -1 };
	struct uring r;
	int ret = uring_init(&r, &p);

	ck_assert_msg(ret == 0, "SQPOLL ring: %s", strerror(-ret));
	ck_assert_uint_eq(r.flags & IORING_SETUP_DEFER_TASKRUN, 0);
	ck_assert_uint_eq(r.flags & (IORING_SETUP_SQPOLL | IORING_SETUP_SINGLE_ISSUER),
			  IORING_SETUP_SQPOLL | IORING_SETUP_SINGLE_ISSUER);
	test_nop_round_trips(&r, 40);
	uring_exit(&r);
}
END_TEST

START_TEST(test_required_bogus_flag_refused)
{
	struct uring_params p = { .sq_entries = 8, .flags = 1U << 30, .sq_thread_cpu = -1 };
	struct uring r;

	ck_assert_int_eq(uring_init(&r, &p), -EINVAL);
	ck_assert_int_eq(r.ring_fd, -1);

	/* Required and optional at once is just required. */
	p.optional_flags = 1U << 30;
	ck_assert_int_eq(uring_init(&r, &p), -EINVAL);
}
END_TEST

/* A caller that might get either SQE or CQE size cannot be right about both: refused. */
START_TEST(test_optional_layout_flags_refused)
{
	struct uring_params p = { .sq_entries = 8, .sq_thread_cpu = -1 };
	struct uring r;

	p.optional_flags = IORING_SETUP_SQE128;
	ck_assert_int_eq(uring_init(&r, &p), -EINVAL);
	ck_assert_int_eq(r.ring_fd, -1);
	p.optional_flags = IORING_SETUP_CQE32;
	ck_assert_int_eq(uring_init(&r, &p), -EINVAL);
	p.optional_flags = IORING_SETUP_SQE128 | IORING_SETUP_COOP_TASKRUN;
	ck_assert_int_eq(uring_init(&r, &p), -EINVAL);

	/* Also required: fine. */
	p.flags = IORING_SETUP_SQE128;
	p.optional_flags = IORING_SETUP_SQE128 | IORING_SETUP_COOP_TASKRUN;
	ck_assert_int_eq(uring_init(&r, &p), 0);
	ck_assert_uint_eq(r.flags & (IORING_SETUP_SQE128 | IORING_SETUP_COOP_TASKRUN),
			  IORING_SETUP_SQE128 | IORING_SETUP_COOP_TASKRUN);
	ck_assert_uint_eq(r.cmd_area_bytes, 80);
	uring_exit(&r);
}
END_TEST

/* ---- probe ---- */

START_TEST(test_probe)
{
	struct uring_probe probe;
	struct uring r;
	const unsigned ops[] = { IORING_OP_NOP,	      IORING_OP_READV,	    IORING_OP_WRITEV,
				 IORING_OP_FSYNC,     IORING_OP_READ_FIXED, IORING_OP_WRITE_FIXED,
				 IORING_OP_FALLOCATE, IORING_OP_READ,	    IORING_OP_WRITE,
				 IORING_OP_URING_CMD };

	ck_assert_int_eq(uring_init_simple(&r, 4, 0), 0);
	memset(&probe, 0xff, sizeof(probe));
	ck_assert_int_eq(uring_probe_ops(&r, &probe), 0);
	ck_assert_uint_ge(probe.last_op, IORING_OP_URING_CMD);
	ck_assert_uint_lt(probe.last_op, 255);
	for (unsigned i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		ck_assert_msg(uring_probe_has(&probe, ops[i]), "opcode %u not supported", ops[i]);
	ck_assert(!uring_probe_has(&probe, probe.last_op + 1));
	ck_assert(!uring_probe_has(&probe, 255));
	ck_assert(!uring_probe_has(&probe, 256));
	ck_assert(!uring_probe_has(&probe, 100000));
	/* Nothing beyond last_op is claimed, even in the raw bitmap. */
	for (unsigned op = probe.last_op + 1; op < 256; op++)
		ck_assert_msg(!(probe.supported[op / 8] & (1U << (op % 8))), "bit %u set", op);
	uring_exit(&r);
}
END_TEST

/* ---- SQPOLL ---- */

/* One pattern-checked read through the ring, waited for by its user_data. */
static void read_one(struct uring *r, int fd, unsigned seed, uint64_t ud)
{
	char buf[256];
	struct io_uring_sqe *sqe = test_get_sqe(r);

	memset(buf, 0, sizeof(buf));
	uring_prep_read(sqe, fd, buf, sizeof(buf), 0);
	uring_sqe_set_data64(sqe, ud);
	ck_assert_int_eq(test_run(r, ud), sizeof(buf));
	test_expect_pattern(buf, sizeof(buf), 0, seed);
}

/* Waits until the SQPOLL thread has gone to sleep and asked for a wakeup. */
static void sqpoll_wait_idle(struct uring *r)
{
	int64_t deadline = test_now_ns() + 3000000000LL;

	test_sleep_ms(20); /* well past the 1 ms idle time */
	while (!(__atomic_load_n(r->sq.kflags, __ATOMIC_ACQUIRE) & IORING_SQ_NEED_WAKEUP)) {
		ck_assert_msg(test_now_ns() < deadline, "SQPOLL thread never went idle");
		test_sleep_ms(1);
	}
}

/*
 * After the thread sleeps, uring_submit() alone must wake it: spin on the CQ without entering
 * the kernel, so only the wakeup in uring_submit() can make the NOP complete.
 */
static void sqpoll_submit_wakes_thread(struct uring *r, uint64_t ud)
{
	struct io_uring_sqe *sqe;
	struct io_uring_cqe *cqe;
	int64_t deadline;

	sqpoll_wait_idle(r);
	sqe = test_get_sqe(r);
	uring_prep_nop(sqe);
	uring_sqe_set_data64(sqe, ud);
	ck_assert_int_eq(uring_submit(r), 1);
	deadline = test_now_ns() + 3000000000LL;
	while (!uring_cq_ready(r))
		ck_assert_msg(test_now_ns() < deadline,
			      "uring_submit() did not wake the SQ thread");
	cqe = uring_cqe_at(r, *r->cq.khead);
	ck_assert_uint_eq(cqe->user_data, ud);
	ck_assert_int_eq(cqe->res, 0);
	uring_cqe_seen(r, cqe);
}

START_TEST(test_sqpoll)
{
	struct uring_params p = { .sq_entries = 8,
				  .flags = IORING_SETUP_SQPOLL,
				  .sq_thread_idle_ms = 1,
				  .sq_thread_cpu = -1 };
	char data[8192];
	struct uring r;
	int fd = test_temp_file();
	int ret;

	test_fill(data, sizeof(data), 0, 11);
	test_pwrite_all(fd, data, sizeof(data), 0);
	ret = uring_init(&r, &p);
	/* We run as root: SQPOLL must be granted, so a refusal is a failure, not a skip. */
	ck_assert_msg(ret == 0, "SQPOLL ring refused: %s", strerror(-ret));
	ck_assert_uint_eq(r.flags & IORING_SETUP_SQPOLL, IORING_SETUP_SQPOLL);
	ck_assert_uint_ne(r.features & IORING_FEAT_SQPOLL_NONFIXED, 0);

	test_nop_round_trips(&r, 100);
	read_one(&r, fd, 11, 1);
	for (unsigned round = 0; round < 3; round++) {
		sqpoll_submit_wakes_thread(&r, 100 + round);
		sqpoll_wait_idle(&r);
		read_one(&r, fd, 11, 200 + round); /* the waiting path wakes it too */
		sqpoll_wait_idle(&r);
		test_nop_round_trips(&r, 20);
	}

	/* A full SQ drains without us entering to submit; uring_sqring_wait() waits for room. */
	for (unsigned i = 0; i < r.sq.ring_entries; i++) {
		struct io_uring_sqe *sqe = test_get_sqe(&r);

		uring_prep_nop(sqe);
		uring_sqe_set_data64(sqe, TEST_UD_MAGIC ^ i);
	}
	ck_assert_ptr_null(uring_get_sqe(&r));
	ck_assert_int_ge(uring_submit(&r), 0);
	ck_assert_int_ge(uring_sqring_wait(&r), 0);
	ck_assert_uint_gt(uring_sq_space_left(&r), 0);
	{
		uint8_t seen[8] = { 0 };

		for (unsigned i = 0; i < r.sq.ring_entries; i++) {
			struct io_uring_cqe cqe;

			test_wait_one(&r, &cqe);
			test_account_nop(&cqe, seen, 8);
		}
	}
	uring_exit(&r);
	close(fd);
}
END_TEST

START_TEST(test_sqpoll_pinned)
{
	struct uring_params p = { .sq_entries = 4,
				  .flags = IORING_SETUP_SQPOLL,
				  .sq_thread_idle_ms = 1,
				  .sq_thread_cpu = 0 };
	struct uring r;
	int ret = uring_init(&r, &p);

	ck_assert_msg(ret == 0, "SQPOLL ring on CPU 0 refused: %s", strerror(-ret));
	ck_assert_uint_eq(r.flags & IORING_SETUP_SQ_AFF, IORING_SETUP_SQ_AFF);
	test_nop_round_trips(&r, 30);
	sqpoll_submit_wakes_thread(&r, 5);
	uring_exit(&r);
}
END_TEST

START_TEST(test_sqring_wait_needs_sqpoll)
{
	struct uring r;

	ck_assert_int_eq(uring_init_simple(&r, 4, 0), 0);
	ck_assert_int_eq(uring_sqring_wait(&r), -EINVAL);
	uring_exit(&r);
}
END_TEST

/* ---- registered ring fd ---- */

START_TEST(test_registered_ring_fd)
{
	char data[4096];
	struct uring r;
	struct io_uring_cqe *cqe;
	int fd = test_temp_file();
	int ring_fd, saved;

	test_fill(data, sizeof(data), 0, 21);
	test_pwrite_all(fd, data, sizeof(data), 0);
	ck_assert_int_eq(uring_init_simple(&r, 8, 0), 0);
	ring_fd = r.ring_fd;
	ck_assert_int_eq(uring_unregister_ring_fd(&r), -EINVAL);

	ck_assert_int_eq(uring_register_ring_fd(&r), 0);
	ck_assert_uint_eq(r.enter_flags, IORING_ENTER_REGISTERED_RING);
	ck_assert_int_ge(r.enter_fd, 0);
	ck_assert_int_eq(r.ring_fd, ring_fd);
	ck_assert_int_eq(uring_register_ring_fd(&r), -EEXIST);

	/*
	 * Close the ring's fd number (the mappings and the registration keep the ring alive): if
	 * anything still entered through the fd, it would fail with EBADF.
	 */
	saved = dup(ring_fd);
	ck_assert_int_ge(saved, 0);
	ck_assert_int_eq(close(ring_fd), 0);
	test_nop_round_trips(&r, 50);
	read_one(&r, fd, 21, 1);
	ck_assert_int_eq(uring_wait_cqe_timeout(&r, &cqe, 20), -ETIME);
	ck_assert_int_eq(dup2(saved, ring_fd), ring_fd);
	close(saved);

	ck_assert_int_eq(uring_unregister_ring_fd(&r), 0);
	ck_assert_uint_eq(r.enter_flags, 0);
	ck_assert_int_eq(r.enter_fd, r.ring_fd);
	ck_assert_int_eq(uring_unregister_ring_fd(&r), -EINVAL);
	test_nop_round_trips(&r, 50);
	read_one(&r, fd, 21, 2);

	/* Again, and leave it registered: uring_exit() must drop it. */
	ck_assert_int_eq(uring_register_ring_fd(&r), 0);
	read_one(&r, fd, 21, 3);
	uring_exit(&r);
	close(fd);
}
END_TEST

/* ---- registered files ---- */

static int read_fixed_file(struct uring *r, unsigned index, char *buf, unsigned len, uint64_t off)
{
	struct io_uring_sqe *sqe = test_get_sqe(r);

	memset(buf, 0, len);
	uring_prep_read(sqe, (int)index, buf, len, off);
	uring_sqe_set_flags(sqe, IOSQE_FIXED_FILE);
	uring_sqe_set_data64(sqe, 0xf11e0000ULL + index);
	return test_run(r, 0xf11e0000ULL + index);
}

START_TEST(test_fixed_files)
{
	char data[8192], buf[1024];
	int a = test_temp_file(), b = test_temp_file();
	int files[3] = { a, -1, b };
	struct uring r;

	test_fill(data, sizeof(data), 0, 31);
	test_pwrite_all(a, data, sizeof(data), 0);
	test_fill(data, sizeof(data), 0, 32);
	test_pwrite_all(b, data, sizeof(data), 0);

	ck_assert_int_eq(uring_init_simple(&r, 8, 0), 0);
	ck_assert_int_eq(uring_register_files(&r, files, 3), 0);
	ck_assert_int_eq(uring_register_files(&r, files, 3), -EBUSY);

	/* The table holds its own references: closing our fds changes nothing for indices. */
	close(a);
	close(b);
	ck_assert_int_eq(read_fixed_file(&r, 0, buf, sizeof(buf), 100), sizeof(buf));
	test_expect_pattern(buf, sizeof(buf), 100, 31);
	ck_assert_int_eq(read_fixed_file(&r, 2, buf, sizeof(buf), 5000), sizeof(buf));
	test_expect_pattern(buf, sizeof(buf), 5000, 32);
	ck_assert_int_eq(read_fixed_file(&r, 1, buf, sizeof(buf), 0), -EBADF); /* empty slot */
	ck_assert_int_eq(read_fixed_file(&r, 3, buf, sizeof(buf), 0), -EBADF); /* beyond table */

	ck_assert_int_eq(uring_unregister_files(&r), 0);
	ck_assert_int_lt(read_fixed_file(&r, 0, buf, sizeof(buf), 0), 0);
	ck_assert_int_eq(uring_unregister_files(&r), -ENXIO);
	uring_exit(&r);
}
END_TEST

/* ---- teardown leaks ---- */

enum leak_ring_kind {
	LEAK_PLAIN,
	LEAK_BIG_LAYOUT,
	LEAK_TASKRUN,
	LEAK_REG_RING,
	LEAK_REG_BUFFERS,
	LEAK_REG_FILES,
	LEAK_SQPOLL,
	LEAK_SQPOLL_REG_RING,
	LEAK_EVERYTHING,
	LEAK_KINDS
};

struct leak_env {
	int fd;
	struct iovec iovs[2];
};

static void leak_ring_create(struct uring *r, enum leak_ring_kind kind, const struct leak_env *e)
{
	struct uring_params p = { .sq_entries = 16, .sq_thread_idle_ms = 1, .sq_thread_cpu = -1 };
	bool reg_ring =
		kind == LEAK_REG_RING || kind == LEAK_SQPOLL_REG_RING || kind == LEAK_EVERYTHING;
	bool reg_bufs = kind == LEAK_REG_BUFFERS || kind == LEAK_EVERYTHING;
	bool reg_files = kind == LEAK_REG_FILES || kind == LEAK_EVERYTHING;
	int ret;

	if (kind == LEAK_BIG_LAYOUT) {
		p.flags = IORING_SETUP_SQE128 | IORING_SETUP_CQE32;
		p.sq_entries = 64;
		p.cq_entries = 256;
	}
	if (kind == LEAK_TASKRUN)
		p.optional_flags = IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_SINGLE_ISSUER |
				   IORING_SETUP_COOP_TASKRUN;
	if (kind == LEAK_SQPOLL || kind == LEAK_SQPOLL_REG_RING || kind == LEAK_EVERYTHING)
		p.flags = IORING_SETUP_SQPOLL;
	ret = uring_init(r, &p);
	ck_assert_msg(ret == 0, "ring kind %d: %s", kind, strerror(-ret));
	if (reg_ring)
		ck_assert_int_eq(uring_register_ring_fd(r), 0);
	if (reg_bufs)
		ck_assert_int_eq(uring_register_buffers(r, e->iovs, 2), 0);
	if (reg_files)
		ck_assert_int_eq(uring_register_files(r, &e->fd, 1), 0);

	test_nop_round_trips(r, 40);
	if (reg_bufs) {
		struct io_uring_sqe *sqe = test_get_sqe(r);

		memset(e->iovs[1].iov_base, 0, 4096);
		uring_prep_read_fixed(sqe, e->fd, e->iovs[1].iov_base, 4096, 0, 1);
		uring_sqe_set_data64(sqe, 1);
		ck_assert_int_eq(test_run(r, 1), 4096);
		test_expect_pattern(e->iovs[1].iov_base, 4096, 0, 41);
	}
	if (reg_files) {
		char buf[100];

		ck_assert_int_eq(read_fixed_file(r, 0, buf, sizeof(buf), 7), sizeof(buf));
		test_expect_pattern(buf, sizeof(buf), 7, 41);
	} else {
		read_one(r, e->fd, 41, 2);
	}
}

/* SQPOLL threads end asynchronously after their last ring goes; give them a moment. */
static void expect_sqpoll_threads(int want)
{
	int64_t deadline = test_now_ns() + 5000000000LL;
	int n;

	while ((n = test_count_threads_named("iou-sqp")) != want) {
		ck_assert_msg(test_now_ns() < deadline, "%d SQPOLL threads, want %d", n, want);
		test_sleep_ms(5);
	}
}

static void leak_round(const struct leak_env *e)
{
	struct uring rings[2 * LEAK_KINDS];

	for (unsigned i = 0; i < 2 * LEAK_KINDS; i++)
		leak_ring_create(&rings[i], (enum leak_ring_kind)(i % LEAK_KINDS), e);
	ck_assert_int_gt(test_count_threads_named("iou-sqp"), 0);
	/* a ring and its SQE array at least, for each ring: the filter sees them */
	ck_assert_int_ge(test_count_maps("io_uring"), 2 * 2 * LEAK_KINDS);
	for (unsigned i = 0; i < 2 * LEAK_KINDS; i++)
		uring_exit(&rings[i]);
}

START_TEST(test_teardown_leaks)
{
	struct leak_env e;
	char data[8192];
	int fds, maps;

	e.fd = test_temp_file();
	test_fill(data, sizeof(data), 0, 41);
	test_pwrite_all(e.fd, data, sizeof(data), 0);
	for (unsigned i = 0; i < 2; i++) {
		e.iovs[i].iov_len = 65536;
		e.iovs[i].iov_base = aligned_alloc(4096, 65536);
		ck_assert_ptr_nonnull(e.iovs[i].iov_base);
	}

	/* One round first, so that whatever libc or check set up lazily is not counted. */
	leak_round(&e);
	expect_sqpoll_threads(0);
	fds = test_count_fds();
	maps = test_count_maps("io_uring");
	for (unsigned round = 0; round < 3; round++) {
		leak_round(&e);
		expect_sqpoll_threads(0);
		ck_assert_int_eq(test_count_fds(), fds);
		ck_assert_int_eq(test_count_maps("io_uring"), maps);
	}
	free(e.iovs[0].iov_base);
	free(e.iovs[1].iov_base);
	close(e.fd);
}
END_TEST

static Suite *uring_setup_suite(void)
{
	Suite *s = suite_create("uring_setup");
	TCase *tc;

	tc = tcase_create("geometry");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_geometry_and_wraps, 0, GEOMETRY_CASES);
	tcase_add_test(tc, test_init_simple);
	tcase_add_test(tc, test_init_errors);
	tcase_add_test(tc, test_exit_twice);
	suite_add_tcase(s, tc);

	tc = tcase_create("flags");
	tcase_add_test(tc, test_optional_bogus_flag_dropped);
	tcase_add_test(tc, test_optional_taskrun_flags_granted);
	tcase_add_test(tc, test_optional_dropped_newest_first);
	tcase_add_test(tc, test_required_bogus_flag_refused);
	tcase_add_test(tc, test_optional_layout_flags_refused);
	suite_add_tcase(s, tc);

	tc = tcase_create("probe");
	tcase_add_test(tc, test_probe);
	suite_add_tcase(s, tc);

	tc = tcase_create("sqpoll");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_sqpoll);
	tcase_add_test(tc, test_sqpoll_pinned);
	tcase_add_test(tc, test_sqring_wait_needs_sqpoll);
	suite_add_tcase(s, tc);

	tc = tcase_create("registration");
	tcase_add_test(tc, test_registered_ring_fd);
	tcase_add_test(tc, test_fixed_files);
	suite_add_tcase(s, tc);

	tc = tcase_create("teardown");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_teardown_leaks);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return suite_main(uring_setup_suite());
}
