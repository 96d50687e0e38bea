// SPDX-License-Identifier: MIT
/*
 * The ring under pressure and over time: a full SQ, a CQ that overflows without losing a
 * completion, batch peeking, wait timeouts, and waits interrupted by signals.
 */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "../common/suite_main.h"
#include "uring.h"
#include "uring_test.h"

/* ---- a full SQ ---- */

static const struct {
	unsigned entries, flags;
} full_sq_cases[] = {
	{ 1, 0 },
	{ 8, 0 },
	{ 8, IORING_SETUP_SQE128 },
	{ 256, IORING_SETUP_SQE128 | IORING_SETUP_CQE32 },
	{ 4096, 0 },
};

static void fill_sq(struct uring *r, unsigned first_ud)
{
	unsigned head = *r->sq.khead;

	for (unsigned i = 0; i < r->sq.ring_entries; i++) {
		struct io_uring_sqe *sqe = uring_get_sqe(r);
		char *want =
			r->sq.sqes + ((size_t)((head + i) & r->sq.ring_mask) << r->sq.sqe_shift);

		ck_assert_msg(sqe, "NULL after %u of %u", i, r->sq.ring_entries);
		ck_assert_ptr_eq(sqe, want);
		uring_prep_nop(sqe);
		uring_sqe_set_data64(sqe, TEST_UD_MAGIC ^ (first_ud + i));
	}
}

/*
 * Case _i of full_sq_cases, twice: from a fresh ring and from one whose indices sit mid-ring.
 * get_sqe hands out exactly ring_entries SQEs in ring order, then NULL without touching a
 * slot or the tail; a submit makes room again.
 */
START_TEST(test_full_sq)
{
	struct uring r;
	unsigned n;

	ck_assert_int_eq(uring_init_simple(&r, full_sq_cases[_i].entries, full_sq_cases[_i].flags),
			 0);
	n = r.sq.ring_entries;
	for (unsigned pass = 0; pass < 2; pass++) {
		uint8_t *seen = calloc(n, 1);
		unsigned head = *r.sq.khead;

		ck_assert_ptr_nonnull(seen);
		fill_sq(&r, 0);
		for (unsigned k = 0; k < 3; k++)
			ck_assert_ptr_null(uring_get_sqe(&r));
		ck_assert_uint_eq(r.sq.sqe_tail, head + n);
		ck_assert_uint_eq(*r.sq.ktail, head); /* nothing published yet */
		ck_assert_uint_eq(uring_sq_space_left(&r), 0);
		ck_assert_uint_eq(uring_sq_ready(&r), n);
		for (unsigned i = 0; i < n; i++) {
			const struct io_uring_sqe *sqe =
				(const void *)(r.sq.sqes + ((size_t)((head + i) & r.sq.ring_mask)
							    << r.sq.sqe_shift));

			ck_assert_uint_eq(sqe->user_data, TEST_UD_MAGIC ^ i);
			ck_assert_uint_eq(sqe->opcode, IORING_OP_NOP);
		}
		ck_assert_int_eq(uring_submit(&r), n);
		ck_assert_uint_eq(*r.sq.khead, head + n);
		ck_assert_uint_eq(uring_sq_space_left(&r), n);
		for (unsigned i = 0; i < n; i++) {
			struct io_uring_cqe cqe;

			test_wait_one(&r, &cqe);
			test_account_nop(&cqe, seen, n);
		}
		free(seen);
		/* move the indices off zero for the second pass */
		test_nop_round_trips(&r, n / 2 + 1);
	}
	uring_exit(&r);
}
END_TEST

/* ---- CQ overflow ---- */

enum reap_mode { REAP_PEEK_BATCH, REAP_PEEK, REAP_WAIT, REAP_WAIT_TIMEOUT, REAP_MIXED, REAP_MODES };

/*
 * _i: reap mode x {16-byte, 32-byte CQEs}. SQ 8, CQ 8, forty batches of eight NOPs with no
 * reaping: 312 completions wait in the kernel's overflow list. Every one must come back,
 * exactly once, through the chosen helper alone, and none be counted as dropped.
 */
START_TEST(test_cq_overflow)
{
	enum reap_mode mode = (enum reap_mode)(_i % REAP_MODES);
	struct uring_params p = { .sq_entries = 8,
				  .cq_entries = 8,
				  .flags = _i >= REAP_MODES ? IORING_SETUP_CQE32 : 0,
				  .sq_thread_cpu = -1 };
	enum { BATCHES = 40, TOTAL = BATCHES * 8 };
	uint8_t seen[TOTAL] = { 0 };
	bool overflow_seen = false;
	unsigned reaped = 0;
	struct uring r;

	ck_assert_int_eq(uring_init(&r, &p), 0);
	ck_assert_uint_eq(r.cq.ring_entries, 8);
	ck_assert_uint_ne(r.features & IORING_FEAT_NODROP, 0);
	for (unsigned b = 0; b < BATCHES; b++) {
		for (unsigned i = 0; i < 8; i++) {
			struct io_uring_sqe *sqe = test_get_sqe(&r);

			uring_prep_nop(sqe);
			uring_sqe_set_data64(sqe, TEST_UD_MAGIC ^ (b * 8 + i));
		}
		ck_assert_int_eq(uring_submit(&r), 8);
		if (__atomic_load_n(r.sq.kflags, __ATOMIC_ACQUIRE) & IORING_SQ_CQ_OVERFLOW)
			overflow_seen = true;
	}
	ck_assert_msg(overflow_seen, "IORING_SQ_CQ_OVERFLOW never set");
	ck_assert(uring_cq_needs_flush(&r));
	ck_assert_uint_eq(uring_cq_ready(&r), 8);

	for (unsigned step = 0; reaped < TOTAL; step++) {
		enum reap_mode m = mode == REAP_MIXED ? (enum reap_mode)(step % REAP_MIXED) : mode;
		struct io_uring_cqe *cqes[5], *cqe = NULL;
		unsigned got;

		switch (m) {
		case REAP_PEEK_BATCH:
			got = uring_peek_batch_cqe(&r, cqes, 5);
			ck_assert_msg(got, "peek_batch found nothing, %u still due",
				      TOTAL - reaped);
			for (unsigned i = 0; i < got; i++)
				test_account_nop(cqes[i], seen, TOTAL);
			uring_cq_advance(&r, got);
			reaped += got;
			continue;
		case REAP_PEEK:
			ck_assert_msg(uring_peek_cqe(&r, &cqe) == 0,
				      "peek found nothing, %u still due", TOTAL - reaped);
			break;
		case REAP_WAIT:
			ck_assert_int_eq(uring_wait_cqe(&r, &cqe), 0);
			break;
		default:
			ck_assert_int_eq(uring_wait_cqe_timeout(&r, &cqe, 1000), 0);
			break;
		}
		test_account_nop(cqe, seen, TOTAL);
		uring_cqe_seen(&r, cqe);
		reaped++;
	}
	for (unsigned i = 0; i < TOTAL; i++)
		ck_assert_msg(seen[i], "NOP %u lost", i);
	ck_assert_uint_eq(*r.cq.koverflow, 0);
	ck_assert_uint_eq(*r.sq.kflags & IORING_SQ_CQ_OVERFLOW, 0);
	ck_assert_uint_eq(uring_cq_ready(&r), 0);
	{
		struct io_uring_cqe *cqe;

		ck_assert_int_eq(uring_peek_cqe(&r, &cqe), -EAGAIN);
	}
	test_nop_round_trips(&r, 50); /* and the ring works as before */
	uring_exit(&r);
}
END_TEST

/* ---- peek batch ---- */

START_TEST(test_peek_batch)
{
	struct io_uring_cqe *cqes[8], *again[8];
	struct uring r;

	ck_assert_int_eq(uring_init_simple(&r, 16, 0), 0);
	ck_assert_int_eq(uring_peek_batch_cqe(&r, cqes, 8), 0);
	/* 20 rounds of 5 wrap the 32-entry CQ three times */
	for (unsigned round = 0; round < 20; round++) {
		uint64_t base = 100 * (round + 1);
		unsigned head = *r.cq.khead;

		for (unsigned i = 0; i < 5; i++) {
			struct io_uring_sqe *sqe = test_get_sqe(&r);

			uring_prep_nop(sqe);
			uring_sqe_set_data64(sqe, base + i);
		}
		ck_assert_int_eq(uring_submit_and_wait(&r, 5), 5);
		ck_assert_uint_eq(uring_cq_ready(&r), 5);

		ck_assert_uint_eq(uring_peek_batch_cqe(&r, cqes, 3), 3);
		for (unsigned i = 0; i < 3; i++) {
			ck_assert_ptr_eq(cqes[i], uring_cqe_at(&r, head + i));
			ck_assert_uint_eq(cqes[i]->user_data, base + i);
		}
		/* peeking retires nothing */
		ck_assert_uint_eq(*r.cq.khead, head);
		ck_assert_uint_eq(uring_peek_batch_cqe(&r, again, 8), 5);
		for (unsigned i = 0; i < 3; i++)
			ck_assert_ptr_eq(again[i], cqes[i]);

		uring_cq_advance(&r, 2);
		ck_assert_uint_eq(*r.cq.khead, head + 2);
		ck_assert_uint_eq(uring_cq_ready(&r), 3);
		ck_assert_uint_eq(uring_peek_batch_cqe(&r, cqes, 8), 3);
		for (unsigned i = 0; i < 3; i++)
			ck_assert_uint_eq(cqes[i]->user_data, base + 2 + i);
		uring_cq_advance(&r, 1);
		ck_assert_uint_eq(uring_cq_ready(&r), 2);
		ck_assert_int_eq(uring_peek_cqe(&r, &cqes[0]), 0);
		ck_assert_uint_eq(cqes[0]->user_data, base + 3);
		uring_cq_advance(&r, 2);
		ck_assert_uint_eq(*r.cq.khead, head + 5);
		ck_assert_uint_eq(uring_cq_ready(&r), 0);
		ck_assert_int_eq(uring_peek_cqe(&r, &cqes[0]), -EAGAIN);
		ck_assert_uint_eq(uring_peek_batch_cqe(&r, cqes, 8), 0);
	}
	uring_exit(&r);
}
END_TEST

/* ---- timeouts ---- */

START_TEST(test_wait_timeout_idle)
{
	static const unsigned timeouts_ms[] = { 1, 50, 200 };
	struct io_uring_cqe *cqe = NULL;
	struct uring r;

	ck_assert_int_eq(uring_init_simple(&r, 4, 0), 0);
	ck_assert_uint_ne(r.features & IORING_FEAT_EXT_ARG, 0);
	for (unsigned i = 0; i < 3; i++) {
		int64_t t0 = test_now_ns(), elapsed_ms;

		ck_assert_int_eq(uring_wait_cqe_timeout(&r, &cqe, timeouts_ms[i]), -ETIME);
		elapsed_ms = (test_now_ns() - t0) / 1000000;
		ck_assert_msg(elapsed_ms >= timeouts_ms[i], "returned after %lld ms of %u",
			      (long long)elapsed_ms, timeouts_ms[i]);
		ck_assert_msg(elapsed_ms < timeouts_ms[i] + 3000, "returned after %lld ms of %u",
			      (long long)elapsed_ms, timeouts_ms[i]);
	}
	uring_exit(&r);
}
END_TEST

/* A completion already there, or one a queued SQE produces at once: no waiting at all. */
START_TEST(test_wait_timeout_ready)
{
	struct io_uring_cqe *cqe = NULL;
	struct io_uring_sqe *sqe;
	struct uring r;
	int64_t t0;

	ck_assert_int_eq(uring_init_simple(&r, 4, 0), 0);
	sqe = test_get_sqe(&r);
	uring_prep_nop(sqe);
	uring_sqe_set_data64(sqe, 1);
	ck_assert_int_eq(uring_submit(&r), 1);
	t0 = test_now_ns();
	ck_assert_int_eq(uring_wait_cqe_timeout(&r, &cqe, 10000), 0);
	ck_assert_int_lt(test_now_ns() - t0, 1000000000LL);
	ck_assert_uint_eq(cqe->user_data, 1);
	uring_cqe_seen(&r, cqe);

	/* queued, not submitted: the wait submits it */
	sqe = test_get_sqe(&r);
	uring_prep_nop(sqe);
	uring_sqe_set_data64(sqe, 2);
	t0 = test_now_ns();
	ck_assert_int_eq(uring_wait_cqe_timeout(&r, &cqe, 10000), 0);
	ck_assert_int_lt(test_now_ns() - t0, 1000000000LL);
	ck_assert_uint_eq(cqe->user_data, 2);
	uring_cqe_seen(&r, cqe);
	ck_assert_uint_eq(uring_sq_ready(&r), 0);
	uring_exit(&r);
}
END_TEST

/*
 * A zero timeout is a poll, but it still submits what is queued: a NOP queued before it
 * completes inside that one call.
 */
START_TEST(test_wait_timeout_zero)
{
	struct io_uring_cqe *cqe = NULL;
	struct io_uring_sqe *sqe;
	struct uring r;

	ck_assert_int_eq(uring_init_simple(&r, 4, 0), 0);
	ck_assert_int_eq(uring_wait_cqe_timeout(&r, &cqe, 0), -ETIME);
	sqe = test_get_sqe(&r);
	uring_prep_nop(sqe);
	uring_sqe_set_data64(sqe, 3);
	ck_assert_int_eq(uring_wait_cqe_timeout(&r, &cqe, 0), 0);
	ck_assert_uint_eq(uring_sq_ready(&r), 0);
	ck_assert_uint_eq(cqe->user_data, 3);
	uring_cqe_seen(&r, cqe);
	ck_assert_int_eq(uring_wait_cqe_timeout(&r, &cqe, 0), -ETIME);
	uring_exit(&r);
}
END_TEST

/*
 * With DEFER_TASKRUN a finished read is posted only when we enter to wait: a zero timeout
 * must still enter once, or a caller that polls never sees it.
 */
START_TEST(test_wait_timeout_zero_defer_taskrun)
{
	struct uring_params p = { .sq_entries = 4,
				  .flags = IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_SINGLE_ISSUER,
				  .sq_thread_cpu = -1 };
	struct io_uring_cqe *cqe = NULL;
	struct io_uring_sqe *sqe;
	struct uring r;
	char buf[16] = "";
	int fds[2];

	ck_assert_int_eq(pipe(fds), 0);
	ck_assert_int_eq(uring_init(&r, &p), 0);
	sqe = test_get_sqe(&r);
	uring_prep_read(sqe, fds[0], buf, sizeof(buf), 0);
	uring_sqe_set_data64(sqe, 5);
	ck_assert_int_eq(uring_submit(&r), 1);
	ck_assert_int_eq(uring_wait_cqe_timeout(&r, &cqe, 0), -ETIME);
	ck_assert_int_eq(write(fds[1], "pong", 4), 4);
	ck_assert_int_eq(uring_wait_cqe_timeout(&r, &cqe, 0), 0);
	ck_assert_uint_eq(cqe->user_data, 5);
	ck_assert_int_eq(cqe->res, 4);
	ck_assert(!memcmp(buf, "pong", 4));
	uring_cqe_seen(&r, cqe);
	uring_exit(&r);
	close(fds[0]);
	close(fds[1]);
}
END_TEST

/* An operation still in flight when a wait times out is not lost: a later wait gets it. */
START_TEST(test_wait_timeout_in_flight)
{
	struct io_uring_cqe *cqe = NULL;
	struct io_uring_sqe *sqe;
	struct uring r;
	char buf[16] = "";
	int p[2];

	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_eq(uring_init_simple(&r, 4, 0), 0);
	sqe = test_get_sqe(&r);
	uring_prep_read(sqe, p[0], buf, sizeof(buf), 0);
	uring_sqe_set_data64(sqe, 77);
	ck_assert_int_eq(uring_wait_cqe_timeout(&r, &cqe, 30), -ETIME);
	ck_assert_uint_eq(uring_sq_ready(&r), 0); /* submitted by the first wait */
	ck_assert_int_eq(uring_wait_cqe_timeout(&r, &cqe, 30), -ETIME);
	ck_assert_int_eq(write(p[1], "ping", 4), 4);
	ck_assert_int_eq(uring_wait_cqe_timeout(&r, &cqe, TEST_WAIT_MS), 0);
	ck_assert_uint_eq(cqe->user_data, 77);
	ck_assert_int_eq(cqe->res, 4);
	ck_assert(!memcmp(buf, "ping", 4));
	uring_cqe_seen(&r, cqe);
	uring_exit(&r);
	close(p[0]);
	close(p[1]);
}
END_TEST

/* ---- signals ---- */

static volatile sig_atomic_t alarms;

static void on_alarm(int sig)
{
	(void)sig;
	alarms++;
}

struct late_writer {
	pthread_t thread;
	int fd;
	unsigned delay_ms;
	int alarms_before_write;
};

static void *late_writer_main(void *arg)
{
	struct late_writer *w = arg;

	test_sleep_ms(w->delay_ms);
	w->alarms_before_write = alarms;
	if (write(w->fd, "wakeup", 6) != 6)
		abort();
	return NULL;
}

/* The writer thread must not take the SIGALRMs meant to interrupt our wait: it starts blocked. */
static void late_writer_start(struct late_writer *w, int fd, unsigned delay_ms)
{
	sigset_t alrm, old;

	w->fd = fd;
	w->delay_ms = delay_ms;
	sigemptyset(&alrm);
	sigaddset(&alrm, SIGALRM);
	ck_assert_int_eq(pthread_sigmask(SIG_BLOCK, &alrm, &old), 0);
	ck_assert_int_eq(pthread_create(&w->thread, NULL, late_writer_main, w), 0);
	ck_assert_int_eq(pthread_sigmask(SIG_SETMASK, &old, NULL), 0);
}

static void alarm_every_ms(unsigned ms)
{
	struct itimerval it = { .it_interval = { 0, (long)ms * 1000 },
				.it_value = { 0, (long)ms * 1000 } };

	ck_assert_int_eq(setitimer(ITIMER_REAL, &it, NULL), 0);
}

/*
 * _i = 0: uring_wait_cqe; 1: uring_wait_cqe_timeout; 2: uring_submit_and_wait(1) with nothing
 * left to submit. A pipe read is in flight; SIGALRM (no SA_RESTART) arrives every 20 ms during
 * the wait; another thread writes to the pipe only after several have. The wait must ride
 * out every EINTR and return the read's CQE.
 */
START_TEST(test_eintr_during_wait)
{
	struct sigaction sa = { .sa_handler = on_alarm };
	struct io_uring_cqe *cqe = NULL;
	struct io_uring_sqe *sqe;
	struct late_writer w;
	struct uring r;
	char buf[16] = "";
	int p[2], ret;

	ck_assert_int_eq(pipe(p), 0);
	sigemptyset(&sa.sa_mask);
	ck_assert_int_eq(sigaction(SIGALRM, &sa, NULL), 0);
	ck_assert_int_eq(uring_init_simple(&r, 4, 0), 0);
	sqe = test_get_sqe(&r);
	uring_prep_read(sqe, p[0], buf, sizeof(buf), 0);
	uring_sqe_set_data64(sqe, 0xe1);
	ck_assert_int_eq(uring_submit(&r), 1);

	alarms = 0;
	late_writer_start(&w, p[1], 300);
	alarm_every_ms(20);
	switch (_i) {
	case 0:
		ret = uring_wait_cqe(&r, &cqe);
		break;
	case 1:
		ret = uring_wait_cqe_timeout(&r, &cqe, 10000);
		break;
	default:
		ret = uring_submit_and_wait(&r, 1);
		ck_assert_int_eq(ret, 0); /* nothing submitted, but it waited */
		ck_assert_uint_ge(uring_cq_ready(&r), 1);
		ret = uring_peek_cqe(&r, &cqe);
		break;
	}
	alarm_every_ms(0);
	ck_assert_int_eq(pthread_join(w.thread, NULL), 0);
	ck_assert_int_eq(ret, 0);
	ck_assert_msg(w.alarms_before_write >= 2, "only %d signals before the write",
		      w.alarms_before_write);
	ck_assert_uint_eq(cqe->user_data, 0xe1);
	ck_assert_int_eq(cqe->res, 6);
	ck_assert(!memcmp(buf, "wakeup", 6));
	uring_cqe_seen(&r, cqe);
	uring_exit(&r);
	close(p[0]);
	close(p[1]);
}
END_TEST

/* uring_submit_and_wait(n) returns with n completions in the CQ. */
START_TEST(test_submit_and_wait)
{
	struct uring r;

	ck_assert_int_eq(uring_init_simple(&r, 8, 0), 0);
	for (unsigned round = 0; round < 10; round++) {
		for (unsigned i = 0; i < 6; i++) {
			struct io_uring_sqe *sqe = test_get_sqe(&r);

			uring_prep_nop(sqe);
			uring_sqe_set_data64(sqe, i);
		}
		ck_assert_int_eq(uring_submit_and_wait(&r, 6), 6);
		ck_assert_uint_eq(uring_cq_ready(&r), 6);
		uring_cq_advance(&r, 6);
	}
	/* nothing queued and nothing to wait for: no-op */
	ck_assert_int_eq(uring_submit(&r), 0);
	uring_exit(&r);
}
END_TEST

static Suite *uring_completion_suite(void)
{
	Suite *s = suite_create("uring_completion");
	TCase *tc;

	tc = tcase_create("pressure");
	tcase_set_timeout(tc, 30);
	tcase_add_loop_test(tc, test_full_sq, 0, sizeof(full_sq_cases) / sizeof(full_sq_cases[0]));
	tcase_add_loop_test(tc, test_cq_overflow, 0, 2 * REAP_MODES);
	tcase_add_test(tc, test_peek_batch);
	tcase_add_test(tc, test_submit_and_wait);
	suite_add_tcase(s, tc);

	tc = tcase_create("timeout");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_wait_timeout_idle);
	tcase_add_test(tc, test_wait_timeout_ready);
	tcase_add_test(tc, test_wait_timeout_zero);
	tcase_add_test(tc, test_wait_timeout_zero_defer_taskrun);
	tcase_add_test(tc, test_wait_timeout_in_flight);
	suite_add_tcase(s, tc);

	/*
	 * Valgrind runs io_uring_enter() holding its big lock with signals blocked, so neither the
	 * writer thread nor SIGALRM can get in and the wait never ends (a known valgrind limitation):
	 * run it with CK_EXCLUDE_TAGS=no-valgrind there.
	 */
	tc = tcase_create("signals");
	tcase_set_tags(tc, "no-valgrind");
	tcase_set_timeout(tc, 30);
	tcase_add_loop_test(tc, test_eintr_during_wait, 0, 3);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return suite_main(uring_completion_suite());
}
