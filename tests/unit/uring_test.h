/* SPDX-License-Identifier: MIT */
/*
 * What the io_uring unit suites share: unlinked temp files with checkable byte patterns, running
 * one SQE to completion, NOP round trips that account for every user_data, and counts of fds,
 * mappings and SQPOLL threads for the leak tests. Every wait is bounded, so a broken ring fails
 * a test instead of hanging it.
 */
#ifndef UBLKD_TESTS_UNIT_URING_TEST_H
#define UBLKD_TESTS_UNIT_URING_TEST_H

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "uring.h"

/* Longest a helper waits for a completion that must come. */
#define TEST_WAIT_MS 5000U

/* Tags NOPs so that a CQE read from the wrong place (zeroes, a stale slot) is never mistaken. */
#define TEST_UD_MAGIC 0x5eed000000000000ULL

static inline int64_t test_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline void test_sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static inline unsigned test_roundup_pow2(unsigned v)
{
	unsigned p = 1;

	while (p < v)
		p <<= 1;
	return p;
}

/* A temp file that is already unlinked, so a failing test leaves nothing behind. */
static inline int test_temp_file(void)
{
	const char *dir = getenv("TMPDIR");
	char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/ublkd-unit-XXXXXX", dir && *dir ? dir : "/tmp");
	fd = mkstemp(path);
	ck_assert_msg(fd >= 0, "mkstemp(%s): %s", path, strerror(errno));
	ck_assert_int_eq(unlink(path), 0);
	return fd;
}

/* Byte `off` of the pattern `seed`: differs between neighbouring bytes, pages and seeds. */
static inline uint8_t test_pattern_byte(uint64_t off, unsigned seed)
{
	return (uint8_t)((off * 131) ^ (off >> 9) ^ (seed * 0x9d) ^ 0x5a);
}

static inline void test_fill(void *buf, size_t len, uint64_t off, unsigned seed)
{
	uint8_t *p = buf;

	for (size_t i = 0; i < len; i++)
		p[i] = test_pattern_byte(off + i, seed);
}

/*
 * Asserts buf holds pattern `seed` for file offsets off .. off + len, naming the first mismatch.
 * One assertion per buffer, not per byte: each ck_assert records its place (a write to check's
 * pipe), which made megabyte compares take seconds, and minutes under valgrind.
 */
static inline void test_expect_pattern(const void *buf, size_t len, uint64_t off, unsigned seed)
{
	const uint8_t *p = buf;
	size_t i = 0;

	while (i < len && p[i] == test_pattern_byte(off + i, seed))
		i++;
	ck_assert_msg(i == len, "byte at offset %llu is 0x%02x, want 0x%02x (seed %u)",
		      (unsigned long long)(off + i), i < len ? p[i] : 0,
		      test_pattern_byte(off + i, seed), seed);
}

static inline void test_expect_zero(const void *buf, size_t len, uint64_t off)
{
	const uint8_t *p = buf;
	size_t i = 0;

	while (i < len && !p[i])
		i++;
	ck_assert_msg(i == len, "byte at offset %llu is 0x%02x, want 0",
		      (unsigned long long)(off + i), i < len ? p[i] : 0);
}

static inline void test_pwrite_all(int fd, const void *buf, size_t len, off_t off)
{
	ck_assert_int_eq(pwrite(fd, buf, len, off), (ssize_t)len);
}

static inline void test_pread_all(int fd, void *buf, size_t len, off_t off)
{
	ck_assert_int_eq(pread(fd, buf, len, off), (ssize_t)len);
}

static inline struct io_uring_sqe *test_get_sqe(struct uring *r)
{
	struct io_uring_sqe *sqe = uring_get_sqe(r);

	ck_assert_msg(sqe, "SQ full with %u of %u handed out", uring_sq_ready(r),
		      r->sq.ring_entries);
	return sqe;
}

/* Waits (bounded) for the next CQE, copies it out and retires it. */
static inline void test_wait_one(struct uring *r, struct io_uring_cqe *out)
{
	struct io_uring_cqe *cqe = NULL;
	int ret = uring_wait_cqe_timeout(r, &cqe, TEST_WAIT_MS);

	ck_assert_msg(ret == 0, "no completion within %u ms: %s", TEST_WAIT_MS, strerror(-ret));
	ck_assert_ptr_nonnull(cqe);
	*out = *cqe;
	uring_cqe_seen(r, cqe);
}

/* Submits what is queued, waits for the CQE tagged user_data and returns its res. */
static inline int test_run(struct uring *r, uint64_t user_data)
{
	int ret = uring_submit(r);
	struct io_uring_cqe cqe;

	ck_assert_msg(ret >= 0, "submit: %s", strerror(-ret));
	test_wait_one(r, &cqe);
	ck_assert_msg(cqe.user_data == user_data, "CQE for %#llx, want %#llx",
		      (unsigned long long)cqe.user_data, (unsigned long long)user_data);
	return cqe.res;
}

static inline void test_account_nop(const struct io_uring_cqe *cqe, uint8_t *seen, unsigned total)
{
	uint64_t idx = cqe->user_data ^ TEST_UD_MAGIC;

	ck_assert_msg(idx < total, "CQE with unknown user_data %#llx",
		      (unsigned long long)cqe->user_data);
	ck_assert_msg(!seen[idx], "user_data %llu completed twice", (unsigned long long)idx);
	ck_assert_int_eq(cqe->res, 0);
	seen[idx] = 1;
}

/*
 * Pushes `total` NOPs through the ring in batches of varying size, reaping with every helper
 * (peek_batch + cq_advance, wait_cqe + cqe_seen, peek_cqe) and sometimes leaving CQEs in the
 * ring across submissions, never more than the CQ holds. Asserts each comes back exactly once.
 */
static inline void test_nop_round_trips(struct uring *r, unsigned total)
{
	uint8_t *seen = calloc(total ? total : 1, 1);
	unsigned issued = 0, reaped = 0, step = 0;
	struct io_uring_cqe *batch[64];

	ck_assert_ptr_nonnull(seen);
	while (reaped < total) {
		unsigned outstanding = issued - reaped;
		unsigned n = 1 + (step * 7919U) % r->sq.ring_entries;
		unsigned room = uring_sq_space_left(r);

		if (n > room)
			n = room;
		if (n > total - issued)
			n = total - issued;
		if (n > r->cq.ring_entries - outstanding)
			n = r->cq.ring_entries - outstanding;
		for (unsigned i = 0; i < n; i++) {
			struct io_uring_sqe *sqe = test_get_sqe(r);

			uring_prep_nop(sqe);
			uring_sqe_set_data64(sqe, TEST_UD_MAGIC ^ issued);
			issued++;
		}
		if (n) {
			int ret = uring_submit(r);

			/* With SQPOLL the count is of SQEs the thread has yet to take, any batch. */
			if (r->flags & IORING_SETUP_SQPOLL)
				ck_assert_msg(ret >= 0 && ret <= (int)r->sq.ring_entries,
					      "SQPOLL submit returned %d", ret);
			else
				ck_assert_msg(ret == (int)n, "submit of %u NOPs returned %d", n,
					      ret);
		}
		outstanding = issued - reaped;
		switch (step % 3) {
		case 0: /* everything, in batches */
			while (reaped < issued) {
				unsigned got = uring_peek_batch_cqe(r, batch, 64);

				if (!got) {
					struct io_uring_cqe cqe;

					test_wait_one(r, &cqe);
					test_account_nop(&cqe, seen, total);
					reaped++;
					continue;
				}
				for (unsigned i = 0; i < got; i++)
					test_account_nop(batch[i], seen, total);
				uring_cq_advance(r, got);
				reaped += got;
			}
			break;
		case 1: /* half, one at a time, waiting */
			for (unsigned i = 0; i < (outstanding + 1) / 2; i++) {
				struct io_uring_cqe cqe;

				test_wait_one(r, &cqe);
				test_account_nop(&cqe, seen, total);
				reaped++;
			}
			break;
		default: /* leave them in the CQ, unless it is full or we are done */
			if (outstanding < r->cq.ring_entries && issued < total)
				break;
			while (reaped < issued) {
				struct io_uring_cqe *cqe;

				if (uring_peek_cqe(r, &cqe)) {
					struct io_uring_cqe copy;

					test_wait_one(r, &copy);
					test_account_nop(&copy, seen, total);
				} else {
					test_account_nop(cqe, seen, total);
					uring_cqe_seen(r, cqe);
				}
				reaped++;
			}
			break;
		}
		step++;
	}
	for (unsigned i = 0; i < total; i++)
		ck_assert_msg(seen[i], "NOP %u never completed", i);
	ck_assert_uint_eq(uring_cq_ready(r), 0);
	free(seen);
}

/* Entries in a /proc/self directory, not counting "." and ".." (nor the fd reading it). */
static inline int test_count_dir(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;
	int n = 0;

	ck_assert_msg(d, "opendir(%s): %s", path, strerror(errno));
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static inline int test_count_fds(void)
{
	return test_count_dir("/proc/self/fd") - 1;
}

/*
 * Lines of /proc/self/maps naming `what` ("io_uring" for ring mappings). Counting all lines
 * would also count the allocator's own lazily made mappings (ASan's especially).
 */
static inline int test_count_maps(const char *what)
{
	FILE *f = fopen("/proc/self/maps", "re");
	char line[4096];
	int n = 0;

	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f))
		if (strstr(line, what))
			n++;
	fclose(f);
	return n;
}

/* Threads of this process whose name starts with `prefix` ("iou-sqp" for SQPOLL threads). */
static inline int test_count_threads_named(const char *prefix)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *de;
	int n = 0;

	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d))) {
		char path[300], comm[64] = "";
		FILE *f;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/comm", de->d_name);
		f = fopen(path, "re");
		if (!f)
			continue; /* the thread exited meanwhile */
		if (fgets(comm, sizeof(comm), f) && !strncmp(comm, prefix, strlen(prefix)))
			n++;
		fclose(f);
	}
	closedir(d);
	return n;
}

#endif /* UBLKD_TESTS_UNIT_URING_TEST_H */
