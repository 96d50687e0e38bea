// SPDX-License-Identifier: MIT
/*
 * The control transport's timeout and stuck-state handling, on any host (no ublk needed).
 * A command that never completes is made honestly: the transport's command is linked behind
 * an IORING_OP_READ of an empty pipe, so the kernel holds it unissued until the pipe gets data.
 * The stand-in "control device" is /dev/null, whose driver completes every URING_CMD with 0
 * (it exists for io_uring benchmarks), or a FIFO, which has no URING_CMD and refuses it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "../common/suite_main.h"
#include "ctrl.h"

#define STAND_IN "/dev/null"

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool page_mapped(void *p)
{
	return msync(p, 4096, MS_ASYNC) == 0;
}

/* Queues (unsubmitted) a read of the empty pipe that the next SQE is linked behind. */
static void block_next_command(struct ublk_ctrl *c, int pipe_rd, char *byte)
{
	struct io_uring_sqe *sqe = uring_get_sqe(&c->ring);

	ck_assert_ptr_nonnull(sqe);
	uring_prep_read(sqe, pipe_rd, byte, 1, (uint64_t)-1);
	uring_sqe_set_flags(sqe, IOSQE_IO_LINK);
	uring_sqe_set_data64(sqe, 0xb10c);
}

START_TEST(test_open_missing_path)
{
	struct ublk_ctrl c;

	ck_assert_int_eq(ublk_ctrl_open_path(&c, "/nonexistent/ublk-control"), -ENOENT);
	ck_assert_str_eq(c.err_subject, "/nonexistent/ublk-control");
	ck_assert_int_eq(c.state, UBLK_CTRL_CLOSED);
	ck_assert_ptr_null(c.payload);
	ublk_ctrl_close(&c); /* harmless on a closed transport */
}
END_TEST

START_TEST(test_completed_command_copies_payload)
{
	struct ublk_ctrl c;
	uint64_t features = 0xdead;

	ck_assert_int_eq(ublk_ctrl_open_path(&c, STAND_IN), 0);
	ck_assert_uint_ne(c.ring.flags & IORING_SETUP_SQE128, 0);
	/* /dev/null writes nothing: what comes back is the zeroed payload. */
	ck_assert_int_eq(ublk_ctrl_get_features(&c, &features), 0);
	ck_assert_uint_eq(features, 0);
	ck_assert_int_eq(c.state, UBLK_CTRL_READY);
	ublk_ctrl_close(&c);
	ck_assert_int_eq(c.state, UBLK_CTRL_CLOSED);
	ck_assert_int_eq(ublk_ctrl_get_features(&c, &features), -EBADF);
}
END_TEST

START_TEST(test_refused_command_keeps_transport)
{
	char dir[] = "/tmp/ublkd-ctrl-XXXXXX", fifo[64];
	struct ublk_ctrl c;
	uint64_t features = 0xdead;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(fifo, sizeof(fifo), "%s/fifo", dir);
	ck_assert_int_eq(mkfifo(fifo, 0600), 0);
	ck_assert_int_eq(ublk_ctrl_open_path(&c, fifo), 0);
	unlink(fifo);
	rmdir(dir);
	ck_assert_int_eq(ublk_ctrl_get_features(&c, &features), -EOPNOTSUPP);
	ck_assert_int_eq(c.state, UBLK_CTRL_READY);
	ck_assert_uint_eq(features, 0xdead); /* nothing copied out on failure */
	ck_assert_int_eq(ublk_ctrl_get_features(&c, &features), -EOPNOTSUPP);
	ublk_ctrl_close(&c);
}
END_TEST

START_TEST(test_timeout_leaves_transport_stuck)
{
	struct ublk_ctrl c;
	uint64_t features;
	int fds[2], ret;
	int64_t start, elapsed;
	char byte;
	void *payload;

	ck_assert_int_eq(pipe(fds), 0);
	ck_assert_int_eq(ublk_ctrl_open_path(&c, STAND_IN), 0);
	block_next_command(&c, fds[0], &byte);
	c.timeout_ms = 200;
	start = now_ms();
	ret = ublk_ctrl_get_features(&c, &features);
	elapsed = now_ms() - start;
	ck_assert_int_eq(ret, -ETIMEDOUT);
	ck_assert_int_ge(elapsed, 195);
	ck_assert_int_lt(elapsed, 10000);
	ck_assert_int_eq(c.state, UBLK_CTRL_STUCK);

	/* Refused at once, without touching the kernel. */
	start = now_ms();
	ck_assert_int_eq(ublk_ctrl_get_features(&c, &features), -EBADFD);
	ck_assert_int_lt(now_ms() - start, 100);

	/* The command may still run: its page must outlive the transport. */
	payload = c.payload;
	ublk_ctrl_close(&c);
	ck_assert_int_eq(c.state, UBLK_CTRL_CLOSED);
	ck_assert(page_mapped(payload));
	close(fds[0]);
	close(fds[1]);
}
END_TEST

START_TEST(test_late_completion_releases_payload)
{
	struct ublk_ctrl c;
	uint64_t features;
	int fds[2];
	int64_t deadline;
	char byte;
	void *payload;

	ck_assert_int_eq(pipe(fds), 0);
	ck_assert_int_eq(ublk_ctrl_open_path(&c, STAND_IN), 0);
	block_next_command(&c, fds[0], &byte);
	c.timeout_ms = 100;
	ck_assert_int_eq(ublk_ctrl_get_features(&c, &features), -ETIMEDOUT);
	ck_assert_int_eq(c.state, UBLK_CTRL_STUCK);

	/* Unblock: the read completes, then the timed-out command runs and completes. */
	ck_assert_int_eq(write(fds[1], "x", 1), 1);
	deadline = now_ms() + 5000;
	while (uring_cq_ready(&c.ring) < 2 && now_ms() < deadline) {
		uring_get_events(&c.ring);
		usleep(1000);
	}
	ck_assert_uint_eq(uring_cq_ready(&c.ring), 2);

	payload = c.payload;
	ublk_ctrl_close(&c);
	ck_assert(!page_mapped(payload));
	close(fds[0]);
	close(fds[1]);
}
END_TEST

START_TEST(test_feature_names)
{
	ck_assert_str_eq(ublk_feature_name(0), "SUPPORT_ZERO_COPY");
	ck_assert_str_eq(ublk_feature_name(6), "CMD_IOCTL_ENCODE");
	ck_assert_str_eq(ublk_feature_name(20), "IO_DESC_SIZE");
	/* Every bit include/abi/ublk.h defines (0..20) has a name, and nothing beyond. */
	for (unsigned bit = 0; bit <= 20; bit++)
		ck_assert_msg(ublk_feature_name(bit), "bit %u has no name", bit);
	for (unsigned bit = 21; bit < 70; bit++)
		ck_assert_ptr_null(ublk_feature_name(bit));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ctrl_timeout");
	TCase *tc = tcase_create("ctrl_timeout");

	tcase_add_test(tc, test_open_missing_path);
	tcase_add_test(tc, test_completed_command_copies_payload);
	tcase_add_test(tc, test_refused_command_keeps_transport);
	tcase_add_test(tc, test_timeout_leaves_transport_stuck);
	tcase_add_test(tc, test_late_completion_releases_payload);
	tcase_add_test(tc, test_feature_names);
	suite_add_tcase(s, tc);
	return suite_main(s);
}
