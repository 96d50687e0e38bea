// SPDX-License-Identifier: MIT
/*
 * The memory backend as a sparse RAM disk: a 1T device opens on a small machine, costs RAM
 * only for pages written (the blocks of its memfd: shmem pages are no process's RSS), reads
 * zeroes where nothing was written at no cost, and gives RAM back on DISCARD and WRITE_ZEROES
 * while keeping the bytes around a partial-page range intact. Kept under its device id, the
 * disk is found again after close() by reopen(), through a memory keeper of the test's own,
 * until forget().
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/suite_main.h"
#include "backend_test.h"
#include "keeper_test.h"

#define KIB 1024ULL
#define MIB (1024 * KIB)
#define TIB (1024 * 1024 * MIB)
#define PAGE 4096U

static struct backend be;
static struct backend_queue bq = { .be = &be };

static void open_disk(uint64_t size_bytes)
{
	struct dev_conf c;

	ck_assert_int_eq(sysconf(_SC_PAGESIZE), PAGE);
	test_conf(&c, BACKEND_MEMORY, size_bytes, NULL);
	test_backend_open(&be, &c);
}

static void sparse_setup(void)
{
	open_disk(TIB);
}

/* Large enough to be sparse, small enough for valgrind. */
static void mem_setup(void)
{
	open_disk(8ULL << 30);
}

static void mem_teardown(void)
{
	backend_close(&be);
}

/* The RAM of the one disk open: the blocks of the memfd it reads and writes. */
static uint64_t disk_ram_bytes(void)
{
	DIR *dir = opendir("/proc/self/fd");
	struct dirent *e;
	struct stat st;
	int found = 0;

	ck_assert_ptr_nonnull(dir);
	while ((e = readdir(dir))) {
		char path[sizeof("/proc/self/fd/") + sizeof(e->d_name)], link[128];
		ssize_t n;

		snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
		n = readlink(path, link, sizeof(link) - 1);
		if (n < 0)
			continue;
		link[n] = '\0';
		if (strncmp(link, "/memfd:ublkd-memory", strlen("/memfd:ublkd-memory")))
			continue;
		ck_assert_int_eq(stat(path, &st), 0);
		found++;
	}
	closedir(dir);
	ck_assert_msg(found == 1, "%d memfds of ublkd open, want the disk's alone", found);
	ck_assert_uint_eq(st.st_size, be.size_bytes);
	return (uint64_t)st.st_blocks * 512;
}

static void *page_buf(size_t len)
{
	void *p = aligned_alloc(PAGE, len);

	ck_assert_ptr_nonnull(p);
	return p;
}

START_TEST(test_open)
{
	ck_assert_ptr_eq(be.ops, &backend_memory_ops);
	ck_assert_uint_eq(be.size_bytes, TIB);
	ck_assert_uint_eq(be.block_size, 512);
	/* no volatile cache: no FLUSH, no FUA */
	ck_assert_uint_eq(be.caps, BACKEND_CAP_DISCARD | BACKEND_CAP_WRITE_ZEROES);
	ck_assert_uint_eq(disk_ram_bytes(), 0);
	ck_assert_int_eq(test_rw(&bq, BACKEND_OP_FLUSH, 0, 0, NULL), 0);
}
END_TEST

/*
 * 256 pages written at offsets spread over the whole terabyte: RAM grows by their 1M, not by
 * huge pages or page tables; reads of what was never written return zeroes and cost nothing.
 */
START_TEST(test_sparse)
{
	enum { NR = 256 };
	const uint64_t stride = TIB / NR;
	uint8_t *buf = page_buf(64 * KIB);
	uint64_t ram0 = disk_ram_bytes(), ram1;

	for (unsigned i = 0; i < NR; i++) {
		uint64_t off = i * stride + (i % 61) * PAGE;

		test_fill(buf, PAGE, off, 1);
		ck_assert_int_eq(test_rw(&bq, BACKEND_OP_WRITE, off, PAGE, buf), PAGE);
	}
	ram1 = disk_ram_bytes();
	fprintf(stderr,
		"memory: 1T device, 1M written in %u scattered pages: RAM %llu kB -> %llu kB\n", NR,
		(unsigned long long)(ram0 / KIB), (unsigned long long)(ram1 / KIB));
	ck_assert_uint_ge(ram1 - ram0, MIB);
	ck_assert_uint_le(ram1 - ram0, 2 * MIB);

	for (unsigned i = 0; i < NR; i++) {
		uint64_t off = i * stride + (i % 61) * PAGE;

		memset(buf, 0xee, PAGE);
		ck_assert_int_eq(test_rw(&bq, BACKEND_OP_READ, off, PAGE, buf), PAGE);
		test_expect_pattern(buf, PAGE, off, 1);
		/* around it: zeroes, up to a page either side of each written one */
		memset(buf, 0xee, 64 * KIB);
		ck_assert_int_eq(test_rw(&bq, BACKEND_OP_READ, off + stride / 2, 64 * KIB, buf),
				 64 * KIB);
		test_expect_zero(buf, 64 * KIB, off + stride / 2);
	}
	ck_assert_int_eq(test_rw(&bq, BACKEND_OP_READ, TIB - 512, 512, buf), 512);
	test_expect_zero(buf, 512, TIB - 512);
	ck_assert_uint_eq(disk_ram_bytes(), ram1);
	free(buf);
}
END_TEST

/* _i: DISCARD, WRITE_ZEROES. Whole pages go back to the kernel and read zeroes. */
START_TEST(test_zero_returns_ram)
{
	enum backend_op op = _i ? BACKEND_OP_WRITE_ZEROES : BACKEND_OP_DISCARD;
	const uint64_t off = be.size_bytes / 2 + 3 * PAGE, len = 2 * MIB;
	uint8_t *buf = page_buf(len);
	uint64_t ram0 = disk_ram_bytes(), ram1, ram2;

	test_fill(buf, len, off, 2);
	ck_assert_int_eq(test_rw(&bq, BACKEND_OP_WRITE, off, len, buf), len);
	ram1 = disk_ram_bytes();
	ck_assert_uint_eq(ram1 - ram0, len);
	ck_assert_int_eq(test_rw(&bq, op, off, len, NULL), len);
	ram2 = disk_ram_bytes();
	fprintf(stderr, "memory: %s of 2M: RAM %llu kB -> %llu kB -> %llu kB\n",
		_i ? "WRITE_ZEROES" : "DISCARD", (unsigned long long)(ram0 / KIB),
		(unsigned long long)(ram1 / KIB), (unsigned long long)(ram2 / KIB));
	ck_assert_uint_eq(ram2, ram0);
	memset(buf, 0xee, len);
	ck_assert_int_eq(test_rw(&bq, BACKEND_OP_READ, off, len, buf), len);
	test_expect_zero(buf, len, off);
	ck_assert_uint_eq(disk_ram_bytes(), ram0);
	free(buf);
}
END_TEST

/*
 * _i: DISCARD, WRITE_ZEROES over 4 written pages at X, in ranges that start and end inside
 * pages: exactly the range reads zeroes, its neighbours keep their bytes, and only the pages
 * wholly inside give their RAM back.
 */
START_TEST(test_zero_partial)
{
	static const struct {
		uint32_t off, len;
		unsigned pages_freed;
	} ranges[] = {
		{ 100, 5000, 0 },		   /* head of page 0 into page 1 */
		{ 10, 10, 0 },			   /* inside one page */
		{ 1000, 2 * PAGE + 17, 1 },	   /* page 1 whole, parts of pages 0 and 2 */
		{ PAGE - 1, 2 * PAGE + 2, 2 },	   /* pages 1 and 2 whole, a byte either side */
		{ PAGE, PAGE, 1 },		   /* exactly page 1 */
		{ 3 * PAGE + 512, PAGE - 512, 0 }, /* the tail of page 3 */
		{ 0, 4 * PAGE, 4 },
	};
	enum backend_op op = _i ? BACKEND_OP_WRITE_ZEROES : BACKEND_OP_DISCARD;
	const uint64_t x = be.size_bytes / 8 * 7;
	uint8_t *buf = page_buf(4 * PAGE);

	for (unsigned r = 0; r < sizeof(ranges) / sizeof(ranges[0]); r++) {
		uint32_t lo = ranges[r].off, hi = lo + ranges[r].len;
		uint64_t ram0, ram1;

		test_fill(buf, 4 * PAGE, x, 10 + r);
		ck_assert_int_eq(test_rw(&bq, BACKEND_OP_WRITE, x, 4 * PAGE, buf), 4 * PAGE);
		ram0 = disk_ram_bytes();
		ck_assert_int_eq(test_rw(&bq, op, x + lo, hi - lo, NULL), hi - lo);
		ram1 = disk_ram_bytes();
		ck_assert_msg(ram0 - ram1 == ranges[r].pages_freed * PAGE,
			      "range %u: RAM %llu -> %llu, want %u pages freed", r,
			      (unsigned long long)ram0, (unsigned long long)ram1,
			      ranges[r].pages_freed);
		memset(buf, 0xee, 4 * PAGE);
		ck_assert_int_eq(test_rw(&bq, BACKEND_OP_READ, x, 4 * PAGE, buf), 4 * PAGE);
		test_expect_pattern(buf, lo, x, 10 + r);
		test_expect_zero(buf + lo, hi - lo, x + lo);
		test_expect_pattern(buf + hi, 4 * PAGE - hi, x + hi, 10 + r);
	}
	free(buf);
}
END_TEST

START_TEST(test_out_of_range)
{
	const uint64_t size = be.size_bytes;
	uint8_t *buf = page_buf(PAGE), *want = page_buf(PAGE);

	memset(buf, 0xee, PAGE);
	memset(want, 0xee, PAGE);
	ck_assert_int_eq(test_rw(&bq, BACKEND_OP_READ, size, 512, buf), -EIO);
	ck_assert_int_eq(test_rw(&bq, BACKEND_OP_WRITE, size - 512, 1024, buf), -EIO);
	ck_assert_int_eq(test_rw(&bq, BACKEND_OP_WRITE, UINT64_MAX - 511, 1024, buf), -EIO);
	ck_assert_int_eq(test_rw(&bq, BACKEND_OP_DISCARD, size - PAGE, 2 * PAGE, NULL), -EIO);
	ck_assert_int_eq(test_rw(&bq, BACKEND_OP_WRITE_ZEROES, 2 * size, PAGE, NULL), -EIO);
	ck_assert_int_eq(test_rw(&bq, BACKEND_OP_READ, size, 0, buf), 0);
	ck_assert_int_eq(test_rw(&bq, BACKEND_OP_READ, size - 512, 512, buf), 512);
	ck_assert_uint_eq(disk_ram_bytes(), 0);
	ck_assert(!memcmp(buf + 512, want + 512, PAGE - 512));
	free(buf);
	free(want);
}
END_TEST

START_TEST(test_read_only)
{
	uint8_t *buf = page_buf(PAGE);
	struct dev_conf c;

	backend_close(&be);
	test_conf(&c, BACKEND_MEMORY, 1 << 20, NULL);
	c.read_only = true;
	c.block_size = 4096;
	test_backend_open(&be, &c);
	ck_assert_uint_eq(be.block_size, 4096);
	ck_assert_int_eq(test_rw(&bq, BACKEND_OP_WRITE, 0, PAGE, buf), -EROFS);
	ck_assert_int_eq(test_rw(&bq, BACKEND_OP_DISCARD, 0, PAGE, NULL), -EROFS);
	ck_assert_int_eq(test_rw(&bq, BACKEND_OP_WRITE_ZEROES, 0, PAGE, NULL), -EROFS);
	ck_assert_int_eq(test_rw(&bq, BACKEND_OP_READ, 0, PAGE, buf), PAGE);
	test_expect_zero(buf, PAGE, 0);
	ck_assert_int_eq(test_rw(&bq, BACKEND_OP_FLUSH, 0, 0, NULL), 0);
	free(buf);
}
END_TEST

/*
 * An exabyte opens (no address space is reserved, and the memfd is sparse); more than a file
 * can be is refused at open() with the size in the message.
 */
START_TEST(test_size_limits)
{
	struct dev_conf c;

	backend_close(&be);
	open_disk(1ULL << 60);
	ck_assert_uint_eq(disk_ram_bytes(), 0);
	test_conf(&c, BACKEND_MEMORY, 1ULL << 63, NULL);
	test_backend_open_fails(&c, -EFBIG,
				"memory: cannot make a RAM disk of 8388608T: File too large");
	test_conf(&c, BACKEND_MEMORY, 1000, NULL);
	test_backend_open_fails(&c, -EINVAL,
				"size 1000 is not a positive multiple of block_size 512");
}
END_TEST

/* Reopening device id must fail with want_ret and exactly want_err, leaving *be zeroed (io_fd -1). */
static void reopen_fails(const struct dev_conf *c, uint32_t id, int want_ret, const char *want_err)
{
	static const struct backend zero = { .io_fd = -1 };
	char err[DEV_ERR_MAX] = "";
	struct backend failed;

	memset(&failed, 0xa5, sizeof(failed));
	ck_assert_int_eq(backend_reopen(&failed, c, id, err, sizeof(err)), want_ret);
	ck_assert_str_eq(err, want_err);
	ck_assert_msg(!memcmp(&failed, &zero, sizeof(failed)), "a failed reopen left *be set");
}

/*
 * Written, kept under its id and closed, as by a daemon that dies: reopen() for that id finds
 * the bytes and their RAM, and nothing more, through the keeper; other ids and sizes find
 * nothing. After forget() the keeper holds nothing and goes, and the bytes are gone.
 */
START_TEST(test_kept_reopen)
{
	const uint64_t size = 64 * MIB, off = 5 * MIB + 512;
	char err[DEV_ERR_MAX] = "", want[DEV_ERR_MAX];
	uint8_t *buf = page_buf(MIB);
	struct dev_conf c;
	pid_t keeper;

	test_conf(&c, BACKEND_MEMORY, size, NULL);
	test_backend_open(&be, &c);
	test_fill(buf, MIB, off, 4);
	ck_assert_int_eq(test_rw(&bq, BACKEND_OP_WRITE, off, MIB, buf), MIB);
	ck_assert_msg(backend_keep(&be, 42, err, sizeof(err)) == 0, "keep: %s", err);
	keeper = keeper_test_pid();
	ck_assert_int_gt(keeper, 0);
	ck_assert_int_ne(keeper, getpid());
	backend_close(&be);

	ck_assert_msg(backend_reopen(&be, &c, 42, err, sizeof(err)) == 0, "reopen: %s", err);
	ck_assert_ptr_eq(be.ops, &backend_memory_ops);
	ck_assert_uint_eq(be.size_bytes, size);
	ck_assert_uint_eq(be.caps, BACKEND_CAP_DISCARD | BACKEND_CAP_WRITE_ZEROES);
	/* 1M from 512 bytes into a page: 257 pages */
	ck_assert_uint_eq(disk_ram_bytes(), MIB + PAGE);
	memset(buf, 0xee, MIB);
	ck_assert_int_eq(test_rw(&bq, BACKEND_OP_READ, off, MIB, buf), MIB);
	test_expect_pattern(buf, MIB, off, 4);
	ck_assert_int_eq(test_rw(&bq, BACKEND_OP_READ, 0, MIB, buf), MIB);
	test_expect_zero(buf, MIB, 0);
	backend_close(&be);

	snprintf(want, sizeof(want),
		 "memory: no RAM kept for device 43 (the keeper at %s/memory.sock holds no "
		 "memory-43): the RAM disk's contents are gone",
		 keeper_test_dir);
	reopen_fails(&c, 43, -ENOENT, want);
	c.size_bytes = size / 2;
	reopen_fails(&c, 42, -EINVAL, "memory: memory-42: the kept RAM is 64M, the device 32M");
	c.size_bytes = size;

	backend_forget(BACKEND_MEMORY, 42);
	ck_assert_msg(keeper_test_wait_gone(keeper, 2000),
		      "the keeper (pid %d) holds nothing "
		      "but stays",
		      keeper);
	snprintf(want, sizeof(want),
		 "memory: no RAM kept for device 42 (no keeper answers at %s/memory.sock): the "
		 "RAM disk's contents are gone",
		 keeper_test_dir);
	reopen_fails(&c, 42, -ENOENT, want);
	free(buf);
}
END_TEST

/* The other backends keep nothing: reopen() opens afresh, keep() and forget() do nothing. */
START_TEST(test_stateless_reopen)
{
	char err[DEV_ERR_MAX] = "";
	struct dev_conf c;

	test_conf(&c, BACKEND_NULL, 1 << 20, NULL);
	ck_assert_int_eq(backend_reopen(&be, &c, 7, err, sizeof(err)), 0);
	ck_assert_ptr_eq(be.ops, &backend_null_ops);
	ck_assert_int_eq(backend_keep(&be, 7, err, sizeof(err)), 0);
	backend_close(&be);
	backend_forget(BACKEND_NULL, 7);
	backend_forget(BACKEND_FILE, 7);
	backend_forget(BACKEND_NONE, 7);
	ck_assert_int_eq(keeper_test_pid(), 0);
}
END_TEST

static Suite *backend_memory_suite(void)
{
	Suite *s = suite_create("backend_memory");
	TCase *tc;

	tc = tcase_create("large");
	tcase_set_timeout(tc, 30);
	tcase_add_checked_fixture(tc, sparse_setup, mem_teardown);
	tcase_add_test(tc, test_open);
	tcase_add_test(tc, test_sparse);
	tcase_add_test(tc, test_size_limits);
	suite_add_tcase(s, tc);

	tc = tcase_create("ranges");
	tcase_set_timeout(tc, 30);
	tcase_add_checked_fixture(tc, mem_setup, mem_teardown);
	tcase_add_loop_test(tc, test_zero_returns_ram, 0, 2);
	tcase_add_loop_test(tc, test_zero_partial, 0, 2);
	tcase_add_test(tc, test_out_of_range);
	tcase_add_test(tc, test_read_only);
	suite_add_tcase(s, tc);

	tc = tcase_create("kept");
	tcase_set_timeout(tc, 30);
	tcase_add_unchecked_fixture(tc, keeper_test_case_setup, keeper_test_case_teardown);
	tcase_add_checked_fixture(tc, keeper_test_setup, keeper_test_teardown);
	tcase_add_test(tc, test_kept_reopen);
	tcase_add_test(tc, test_stateless_reopen);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return suite_main(backend_memory_suite());
}
