/* SPDX-License-Identifier: MIT */
/*
 * What the backend suites share: a device description filled by hand (dev_conf.c is not
 * needed), opening with the message on failure, and one request run to its end, through the
 * ring when the backend queues SQEs and at once when it does not.
 */
#ifndef UBLKD_TESTS_UNIT_BACKEND_TEST_H
#define UBLKD_TESTS_UNIT_BACKEND_TEST_H

#include <check.h>
#include <string.h>

#include "backend.h"
#include "dev_conf.h"
#include "uring_test.h"

#define TEST_TAG 77 /* any tag: routing must come back to it */

static inline void test_conf(struct dev_conf *c, enum backend_kind kind, uint64_t size_bytes,
			     const char *path)
{
	memset(c, 0, sizeof(*c));
	c->backend = kind;
	c->size_bytes = size_bytes;
	if (path)
		snprintf(c->path, sizeof(c->path), "%s", path);
}

static inline void test_backend_open(struct backend *be, const struct dev_conf *c)
{
	char err[DEV_ERR_MAX] = "";
	int ret = backend_open(be, c, err, sizeof(err));

	ck_assert_msg(ret == 0, "backend_open: %s (%s)", err, strerror(-ret));
}

/* Opening must fail with want_ret and exactly want_err, leaving *be zeroed (io_fd -1). */
static inline void test_backend_open_fails(const struct dev_conf *c, int want_ret,
					   const char *want_err)
{
	static const struct backend zero = { .io_fd = -1 };
	char err[DEV_ERR_MAX] = "";
	struct backend be;

	memset(&be, 0xa5, sizeof(be));
	ck_assert_int_eq(backend_open(&be, c, err, sizeof(err)), want_ret);
	ck_assert_str_eq(err, want_err);
	ck_assert_msg(!memcmp(&be, &zero, sizeof(be)), "a failed open left *be set");
}

static inline struct backend_io test_io(enum backend_op op, uint64_t off, uint32_t len, void *buf)
{
	struct backend_io io = {
		.op = op, .tag = TEST_TAG, .offset_bytes = off, .len_bytes = len, .buf = buf
	};

	return io;
}

/* Submits a queued SQE and returns its CQE's res, checking that it routes back to io. */
static inline int test_reap_backend_cqe(struct backend_queue *bq, const struct backend_io *io)
{
	struct io_uring_cqe cqe;
	int ret = uring_submit(bq->ring);

	ck_assert_msg(ret >= 0, "submit: %s", strerror(-ret));
	test_wait_one(bq->ring, &cqe);
	ck_assert_msg(cqe.user_data & BACKEND_USER_DATA_BIT, "CQE %#llx is not a backend's",
		      (unsigned long long)cqe.user_data);
	ck_assert_uint_eq(cqe.user_data & 0xffff, io->tag);
	return cqe.res;
}

/* Runs io to its end as the queue loop would: submit(), then complete() for each CQE. */
static inline int test_run_io(struct backend_queue *bq, struct backend_io *io)
{
	int res = bq->be->ops->submit(bq, io);

	/* A request that never ends fails here rather than at the test's timeout. */
	for (unsigned rounds = 0; res == BACKEND_IO_QUEUED; rounds++) {
		ck_assert_msg(rounds < 1000, "request still queued after %u CQEs", rounds);
		ck_assert_ptr_nonnull(bq->ring);
		res = bq->be->ops->complete(bq, io, test_reap_backend_cqe(bq, io));
	}
	return res;
}

static inline int test_rw(struct backend_queue *bq, enum backend_op op, uint64_t off, uint32_t len,
			  void *buf)
{
	struct backend_io io = test_io(op, off, len, buf);

	return test_run_io(bq, &io);
}

#endif /* UBLKD_TESTS_UNIT_BACKEND_TEST_H */
