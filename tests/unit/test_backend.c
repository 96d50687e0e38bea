// SPDX-License-Identifier: MIT
/*
 * The backend table and backend_open()'s contract (zeroed on entry and on failure, read_only
 * from the description), the geometry every backend must have, and the null backend, the
 * simplest one to open: every request succeeds at once and no byte moves.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../common/suite_main.h"
#include "backend_test.h"

START_TEST(test_ops_for)
{
	ck_assert_ptr_null(backend_ops_for(BACKEND_NONE));
	ck_assert_ptr_eq(backend_ops_for(BACKEND_NULL), &backend_null_ops);
	ck_assert_ptr_eq(backend_ops_for(BACKEND_MEMORY), &backend_memory_ops);
	ck_assert_ptr_eq(backend_ops_for(BACKEND_FILE), &backend_file_ops);
	ck_assert_str_eq(backend_null_ops.name, "null");
	ck_assert_str_eq(backend_memory_ops.name, "memory");
	ck_assert_str_eq(backend_file_ops.name, "file");
	/* the file backend needs complete(); the synchronous ones never queue */
	ck_assert_ptr_nonnull(backend_file_ops.complete);
	ck_assert_ptr_null(backend_null_ops.complete);
	ck_assert_ptr_null(backend_memory_ops.complete);
}
END_TEST

START_TEST(test_geometry)
{
	char err[DEV_ERR_MAX] = "";

	ck_assert_int_eq(backend_check_geometry(512, 512, err, sizeof(err)), 0);
	ck_assert_int_eq(backend_check_geometry(1ULL << 40, 4096, err, sizeof(err)), 0);
	ck_assert_int_eq(backend_check_geometry(8192, 2048, err, sizeof(err)), 0);
	ck_assert_int_eq(backend_check_geometry(1000, 512, err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, "size 1000 is not a positive multiple of block_size 512");
	ck_assert_int_eq(backend_check_geometry(0, 512, err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, "size 0 is not a positive multiple of block_size 512");
	ck_assert_int_eq(backend_check_geometry(6144, 2048 + 1024, err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, "block_size 3072 is not supported (512, 1024, 2048 or 4096)");
	ck_assert_int_eq(backend_check_geometry(8192, 256, err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(backend_check_geometry(16384, 8192, err, sizeof(err)), -EINVAL);
}
END_TEST

START_TEST(test_open_errors)
{
	struct dev_conf c;

	test_conf(&c, BACKEND_NONE, 1 << 20, NULL);
	test_backend_open_fails(&c, -EINVAL, "no backend given");
	test_conf(&c, BACKEND_NULL, 1000, NULL);
	test_backend_open_fails(&c, -EINVAL,
				"size 1000 is not a positive multiple of block_size 512");
	test_conf(&c, BACKEND_NULL, 0, NULL);
	test_backend_open_fails(&c, -EINVAL, "size 0 is not a positive multiple of block_size 512");
	test_conf(&c, BACKEND_NULL, 6144, NULL);
	c.block_size = 4096;
	test_backend_open_fails(&c, -EINVAL,
				"size 6K is not a positive multiple of block_size 4096");
}
END_TEST

START_TEST(test_null_open)
{
	struct backend be;
	struct dev_conf c;

	memset(&be, 0xa5, sizeof(be));
	test_conf(&c, BACKEND_NULL, 1ULL << 50, NULL);
	test_backend_open(&be, &c);
	ck_assert_ptr_eq(be.ops, &backend_null_ops);
	ck_assert_uint_eq(be.size_bytes, 1ULL << 50);
	ck_assert_uint_eq(be.block_size, 512);
	ck_assert_uint_eq(be.caps, BACKEND_CAP_DISCARD | BACKEND_CAP_WRITE_ZEROES);
	ck_assert(!be.read_only);
	backend_close(&be);
	ck_assert_ptr_null(be.ops);

	c.block_size = 4096;
	c.read_only = true;
	test_backend_open(&be, &c);
	ck_assert_uint_eq(be.block_size, 4096);
	ck_assert(be.read_only);
	backend_close(&be);
	backend_close(&be); /* a closed backend closes again harmlessly */
}
END_TEST

/* Full length at once, FLUSH 0, the buffer untouched, a range outside the device -EIO. */
START_TEST(test_null_io)
{
	enum { LEN = 128 * 1024 };
	struct backend be;
	struct backend_queue bq = { .be = &be };
	struct dev_conf c;
	uint8_t *buf = malloc(LEN);

	ck_assert_ptr_nonnull(buf);
	test_conf(&c, BACKEND_NULL, 1 << 30, NULL);
	test_backend_open(&be, &c);
	test_fill(buf, LEN, 0, 3);
	ck_assert_int_eq(test_rw(&bq, BACKEND_OP_READ, 0, LEN, buf), LEN);
	test_expect_pattern(buf, LEN, 0, 3);
	ck_assert_int_eq(test_rw(&bq, BACKEND_OP_WRITE, (1 << 30) - LEN, LEN, buf), LEN);
	ck_assert_int_eq(test_rw(&bq, BACKEND_OP_FLUSH, 0, 0, NULL), 0);
	ck_assert_int_eq(test_rw(&bq, BACKEND_OP_DISCARD, 4096, 1 << 20, NULL), 1 << 20);
	ck_assert_int_eq(test_rw(&bq, BACKEND_OP_WRITE_ZEROES, 0, 1 << 20, NULL), 1 << 20);
	test_expect_pattern(buf, LEN, 0, 3);
	ck_assert_int_eq(test_rw(&bq, BACKEND_OP_READ, 1 << 30, 512, buf), -EIO);
	ck_assert_int_eq(test_rw(&bq, BACKEND_OP_WRITE, (1 << 30) - 512, 1024, buf), -EIO);
	ck_assert_int_eq(test_rw(&bq, BACKEND_OP_READ, UINT64_MAX - 100, 512, buf), -EIO);
	ck_assert_int_eq(test_rw(&bq, BACKEND_OP_READ, 1 << 30, 0, buf), 0);
	backend_close(&be);
	free(buf);
}
END_TEST

static Suite *backend_suite(void)
{
	Suite *s = suite_create("backend");
	TCase *tc;

	tc = tcase_create("open");
	tcase_add_test(tc, test_ops_for);
	tcase_add_test(tc, test_geometry);
	tcase_add_test(tc, test_open_errors);
	suite_add_tcase(s, tc);

	tc = tcase_create("null");
	tcase_add_test(tc, test_null_open);
	tcase_add_test(tc, test_null_io);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return suite_main(backend_suite());
}
