// SPDX-License-Identifier: MIT
/*
 * The memory backend as a sparse RAM disk: a 1T device opens on a small machine, costs RSS
 * only for pages written (measured on its own mapping in /proc/self/smaps), reads zeroes
 * where nothing was written, and gives RAM back on DISCARD and WRITE_ZEROES while keeping
 * the bytes around a partial-page range intact. Valgrind maps no 1T region: run it with
 * CK_EXCLUDE_TAGS=no-valgrind there, which leaves out only the "large" case.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/suite_main.h"
#include "backend_test.h"

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

/* Rss of the mapping whose size is the device's: the disk's RAM and nothing else's. */
static uint64_t disk_rss_bytes(void)
{
	FILE *f = fopen("/proc/self/smaps", "re");
	unsigned long long kb, want_kb = be.size_bytes / KIB;
	bool in_disk = false;
	char line[512];

	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "Size: %llu kB", &kb) == 1)
			in_disk = kb == want_kb;
		else if (in_disk && sscanf(line, "Rss: %llu kB", &kb) == 1)
			break;
	}
	fclose(f);
	ck_assert_msg(in_disk, "no mapping of %llu kB in /proc/self/smaps", want_kb);
	return kb * KIB;
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
	ck_assert_uint_eq(disk_rss_bytes(), 0);
	ck_assert_int_eq(test_rw(&bq, BACKEND_OP_FLUSH, 0, 0, NULL), 0);
}
END_TEST

/*
 * 256 pages written at offsets spread over the whole terabyte: RSS grows by their 1M, not by
 * huge pages or page tables; reads of what was never written return zeroes and cost nothing.
 */
START_TEST(test_sparse)
{
	enum { NR = 256 };
	const uint64_t stride = TIB / NR;
	uint8_t *buf = page_buf(64 * KIB);
	uint64_t rss0 = disk_rss_bytes(), rss1;

	for (unsigned i = 0; i < NR; i++) {
		uint64_t off = i * stride + (i % 61) * PAGE;

		test_fill(buf, PAGE, off, 1);
		ck_assert_int_eq(test_rw(&bq, BACKEND_OP_WRITE, off, PAGE, buf), PAGE);
	}
	rss1 = disk_rss_bytes();
	fprintf(stderr,
		"memory: 1T device, 1M written in %u scattered pages: RSS %llu kB -> %llu kB\n", NR,
		(unsigned long long)(rss0 / KIB), (unsigned long long)(rss1 / KIB));
	ck_assert_uint_ge(rss1 - rss0, MIB);
	ck_assert_uint_le(rss1 - rss0, 2 * MIB);

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
	ck_assert_uint_eq(disk_rss_bytes(), rss1);
	free(buf);
}
END_TEST

/* _i: DISCARD, WRITE_ZEROES. Whole pages go back to the kernel and read zeroes. */
START_TEST(test_zero_returns_ram)
{
	enum backend_op op = _i ? BACKEND_OP_WRITE_ZEROES : BACKEND_OP_DISCARD;
	const uint64_t off = be.size_bytes / 2 + 3 * PAGE, len = 2 * MIB;
	uint8_t *buf = page_buf(len);
	uint64_t rss0 = disk_rss_bytes(), rss1, rss2;

	test_fill(buf, len, off, 2);
	ck_assert_int_eq(test_rw(&bq, BACKEND_OP_WRITE, off, len, buf), len);
	rss1 = disk_rss_bytes();
	ck_assert_uint_eq(rss1 - rss0, len);
	ck_assert_int_eq(test_rw(&bq, op, off, len, NULL), len);
	rss2 = disk_rss_bytes();
	fprintf(stderr, "memory: %s of 2M: RSS %llu kB -> %llu kB -> %llu kB\n",
		_i ? "WRITE_ZEROES" : "DISCARD", (unsigned long long)(rss0 / KIB),
		(unsigned long long)(rss1 / KIB), (unsigned long long)(rss2 / KIB));
	ck_assert_uint_eq(rss2, rss0);
	memset(buf, 0xee, len);
	ck_assert_int_eq(test_rw(&bq, BACKEND_OP_READ, off, len, buf), len);
	test_expect_zero(buf, len, off);
	ck_assert_uint_eq(disk_rss_bytes(), rss0);
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
		uint64_t rss0, rss1;

		test_fill(buf, 4 * PAGE, x, 10 + r);
		ck_assert_int_eq(test_rw(&bq, BACKEND_OP_WRITE, x, 4 * PAGE, buf), 4 * PAGE);
		rss0 = disk_rss_bytes();
		ck_assert_int_eq(test_rw(&bq, op, x + lo, hi - lo, NULL), hi - lo);
		rss1 = disk_rss_bytes();
		ck_assert_msg(rss0 - rss1 == ranges[r].pages_freed * PAGE,
			      "range %u: RSS %llu -> %llu, want %u pages freed", r,
			      (unsigned long long)rss0, (unsigned long long)rss1,
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
	ck_assert_uint_eq(disk_rss_bytes(), 0);
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

/* More than any address space: refused at open() with the size in the message. */
START_TEST(test_too_large)
{
	struct dev_conf c;

	test_conf(&c, BACKEND_MEMORY, 1ULL << 60, NULL);
	test_backend_open_fails(&c, -ENOMEM,
				"memory: cannot reserve 1048576T of address space: Cannot allocate "
				"memory (vm.overcommit_memory=2 or ulimit -v?)");
	test_conf(&c, BACKEND_MEMORY, 1000, NULL);
	test_backend_open_fails(&c, -EINVAL,
				"size 1000 is not a positive multiple of block_size 512");
}
END_TEST

static Suite *backend_memory_suite(void)
{
	Suite *s = suite_create("backend_memory");
	TCase *tc;

	tc = tcase_create("large");
	tcase_set_tags(tc, "no-valgrind");
	tcase_set_timeout(tc, 30);
	tcase_add_checked_fixture(tc, sparse_setup, mem_teardown);
	tcase_add_test(tc, test_open);
	tcase_add_test(tc, test_sparse);
	tcase_add_test(tc, test_too_large);
	suite_add_tcase(s, tc);

	tc = tcase_create("ranges");
	tcase_set_timeout(tc, 30);
	tcase_add_checked_fixture(tc, mem_setup, mem_teardown);
	tcase_add_loop_test(tc, test_zero_returns_ram, 0, 2);
	tcase_add_loop_test(tc, test_zero_partial, 0, 2);
	tcase_add_test(tc, test_out_of_range);
	tcase_add_test(tc, test_read_only);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return suite_main(backend_memory_suite());
}
