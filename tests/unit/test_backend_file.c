// SPDX-License-Identifier: MIT
/*
 * The file backend through a real ring: data round trips checked byte for byte against the
 * file with pread, FLUSH and FUA, DISCARD and WRITE_ZEROES (tmpfs's missing ZERO_RANGE
 * included), short transfers continued at the right place, errors handed back as -errno,
 * every open() rule for regular files, and block devices on loop devices when we may make them.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include <linux/falloc.h>
#include <linux/loop.h>

#include "../common/suite_main.h"
#include "backend_test.h"

#define KIB 1024U
#define MIB (1024 * KIB)
#define PAGE 4096U

static struct uring ring;
static struct backend be;
static struct backend_queue bq = { .be = &be, .ring = &ring };
static char dir[256], shm_dir[256]; /* the tcase's directories: in TMPDIR (or /tmp), on tmpfs */
static char img[300];		    /* the test's image: disk.img in one of them */

/* A directory under base; "" where it cannot be made. */
static void make_dir(char *d, size_t d_bytes, const char *base)
{
	snprintf(d, d_bytes, "%s/ublkd-backend-XXXXXX", base);
	if (!mkdtemp(d))
		d[0] = 0;
}

/* Removes what a test leaves in d: files, and the one directory test_open_errors makes. */
static void empty_dir(const char *d)
{
	static const char *const names[] = { "disk.img", "fifo", "sub" };
	char path[300];

	for (unsigned i = 0; d[0] && i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", d, names[i]);
		if (unlink(path) && errno == EISDIR)
			rmdir(path);
	}
}

/*
 * Unchecked: the directories are made and removed in check's own process, since the checked
 * teardown of a failing test never runs and would leave them behind.
 */
static void dirs_setup(void)
{
	const char *tmp = getenv("TMPDIR");

	make_dir(dir, sizeof(dir), tmp && *tmp ? tmp : "/tmp");
	make_dir(shm_dir, sizeof(shm_dir), "/dev/shm");
}

static void dirs_teardown(void)
{
	empty_dir(dir);
	empty_dir(shm_dir);
	if (dir[0])
		rmdir(dir);
	if (shm_dir[0])
		rmdir(shm_dir);
}

static void file_setup(void)
{
	ck_assert_msg(dir[0], "no temp directory: %s", strerror(errno));
	empty_dir(dir);
	empty_dir(shm_dir);
	snprintf(img, sizeof(img), "%s/disk.img", dir);
	umask(022);
	ck_assert_int_eq(uring_init_simple(&ring, 32, 0), 0);
}

static void file_teardown(void)
{
	backend_close(&be);
	uring_exit(&ring);
}

/* img made anew with len bytes of pattern seed, on disk (so st_blocks counts them). */
static void make_img(uint64_t len, unsigned seed)
{
	int fd = open(img, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	uint8_t *buf = malloc(MIB);

	ck_assert_int_ge(fd, 0);
	ck_assert_ptr_nonnull(buf);
	for (uint64_t off = 0; off < len; off += MIB) {
		uint64_t n = len - off < MIB ? len - off : MIB;

		test_fill(buf, n, off, seed);
		test_pwrite_all(fd, buf, n, (off_t)off);
	}
	ck_assert_int_eq(fsync(fd), 0);
	close(fd);
	free(buf);
}

static void open_img(uint64_t size_bytes, bool create, bool direct_io)
{
	struct dev_conf c;

	test_conf(&c, BACKEND_FILE, size_bytes, img);
	c.create = create;
	c.direct_io = direct_io;
	test_backend_open(&be, &c);
}

static struct stat stat_img(void)
{
	struct stat st;

	ck_assert_int_eq(stat(img, &st), 0);
	return st;
}

/* What the file holds, read past the backend with a descriptor of our own. */
static void pread_img(void *buf, size_t len, uint64_t off)
{
	int fd = open(img, O_RDONLY | O_CLOEXEC);

	ck_assert_int_ge(fd, 0);
	test_pread_all(fd, buf, len, (off_t)off);
	close(fd);
}

static void *page_buf(size_t len)
{
	void *p = aligned_alloc(PAGE, len);

	ck_assert_ptr_nonnull(p);
	return p;
}

/* The SQE the backend queued last. */
static struct io_uring_sqe *last_sqe(void)
{
	return (struct io_uring_sqe *)(ring.sq.sqes +
				       ((size_t)((ring.sq.sqe_tail - 1) & ring.sq.ring_mask)
					<< ring.sq.sqe_shift));
}

/* ---- I/O ---- */

/*
 * _i = 0: buffered, 1: O_DIRECT. A file created at 1M; writes at assorted offsets read back
 * through the backend and, byte for byte, with pread; FLUSH 0, a FUA write its full length.
 */
START_TEST(test_round_trip)
{
	static const struct {
		uint32_t off, len;
	} rw[] = { { 0, PAGE },
		   { 3 * PAGE, 64 * KIB },
		   { MIB - 2 * PAGE, 2 * PAGE },
		   { 512 * KIB, 256 * KIB } };
	uint8_t *out = page_buf(256 * KIB), *in = page_buf(256 * KIB);
	struct stat st;

	open_img(MIB, true, _i);
	st = stat_img();
	ck_assert_int_eq(st.st_size, MIB);
	ck_assert_uint_eq(st.st_mode & 0777, 0600);
	ck_assert_uint_eq(be.size_bytes, MIB);
	ck_assert_uint_ge(be.block_size, 512);
	ck_assert_uint_eq(be.caps, BACKEND_CAP_FLUSH | BACKEND_CAP_FUA | BACKEND_CAP_DISCARD |
					   BACKEND_CAP_WRITE_ZEROES);

	for (unsigned i = 0; i < sizeof(rw) / sizeof(rw[0]); i++) {
		struct backend_io io = test_io(BACKEND_OP_WRITE, rw[i].off, rw[i].len, out);

		io.fua = i & 1;
		test_fill(out, rw[i].len, rw[i].off, 20 + i);
		ck_assert_int_eq(test_run_io(&bq, &io), rw[i].len);
	}
	ck_assert_int_eq(test_rw(&bq, BACKEND_OP_FLUSH, 0, 0, NULL), 0);
	for (unsigned i = 0; i < sizeof(rw) / sizeof(rw[0]); i++) {
		memset(in, 0xee, rw[i].len);
		ck_assert_int_eq(test_rw(&bq, BACKEND_OP_READ, rw[i].off, rw[i].len, in),
				 rw[i].len);
		test_expect_pattern(in, rw[i].len, rw[i].off, 20 + i);
		memset(in, 0xee, rw[i].len);
		pread_img(in, rw[i].len, rw[i].off);
		test_expect_pattern(in, rw[i].len, rw[i].off, 20 + i);
	}
	/* never written: the hole reads zeroes */
	ck_assert_int_eq(test_rw(&bq, BACKEND_OP_READ, 2 * PAGE, PAGE, in), PAGE);
	test_expect_zero(in, PAGE, 2 * PAGE);
	free(out);
	free(in);
}
END_TEST

/*
 * _i: 0 DISCARD and 1 WRITE_ZEROES in the temp dir (ext4, xfs ...), 2 and 3 the same on tmpfs
 * (/dev/shm), which has no ZERO_RANGE: WRITE_ZEROES falls back to punching a hole. The range
 * reads zeroes, its neighbours keep their data, and a punched hole frees blocks.
 */
START_TEST(test_discard_write_zeroes)
{
	const enum backend_op op = _i & 1 ? BACKEND_OP_WRITE_ZEROES : BACKEND_OP_DISCARD;
	const uint64_t size = 4 * MIB, lo = MIB + 512, len = MIB + PAGE;
	blkcnt_t before;
	uint8_t *buf;
	int ret;

	if (_i >= 2) {
		if (!shm_dir[0]) {
			fprintf(stderr, "%s: no /dev/shm; tmpfs not checked\n", __func__);
			return;
		}
		snprintf(img, sizeof(img), "%s/disk.img", shm_dir);
	}
	buf = page_buf(size);
	make_img(size, 30);
	open_img(0, false, false);
	before = stat_img().st_blocks;
	ret = test_rw(&bq, op, lo, len, NULL);
	if (ret == -EOPNOTSUPP && op == BACKEND_OP_DISCARD) {
		fprintf(stderr, "%s: %s refuses FALLOC_FL_PUNCH_HOLE; DISCARD not checked\n",
			__func__, img);
		free(buf);
		return;
	}
	ck_assert_int_eq(ret, len);
	if (op == BACKEND_OP_DISCARD || _i == 3)
		ck_assert_msg((before - stat_img().st_blocks) * 512 >= MIB,
			      "st_blocks %lld -> %lld after punching %llu bytes", (long long)before,
			      (long long)stat_img().st_blocks, (unsigned long long)len);
	ck_assert_int_eq(stat_img().st_size, size);
	memset(buf, 0xee, size);
	ck_assert_int_eq(test_rw(&bq, BACKEND_OP_READ, 0, size, buf), size);
	test_expect_pattern(buf, lo, 0, 30);
	test_expect_zero(buf + lo, len, lo);
	test_expect_pattern(buf + lo + len, size - lo - len, lo + len, 30);
	memset(buf, 0xee, size);
	pread_img(buf, size, 0);
	test_expect_zero(buf + lo, len, lo);
	free(buf);
}
END_TEST

/*
 * complete() fed short results by hand: each continuation SQE starts where the last one
 * stopped, a FUA write stays FUA, and a read that stops moving is -EIO. The real CQE of
 * every queued SQE is reaped too, so the ring stays balanced.
 */
START_TEST(test_short_transfers)
{
	uint8_t *buf = page_buf(64 * KIB);
	struct backend_io io;
	struct io_uring_sqe *sqe;

	make_img(MIB, 40);
	open_img(0, false, false);

	memset(buf, 0xee, 64 * KIB);
	io = test_io(BACKEND_OP_READ, 8192, 64 * KIB, buf);
	ck_assert_int_eq(be.ops->submit(&bq, &io), BACKEND_IO_QUEUED);
	sqe = last_sqe();
	ck_assert_uint_eq(sqe->opcode, IORING_OP_READ);
	ck_assert_uint_eq(sqe->addr, (uintptr_t)buf);
	ck_assert_uint_eq(sqe->len, 64 * KIB);
	ck_assert_uint_eq(sqe->off, 8192);
	ck_assert_uint_eq(sqe->user_data, BACKEND_USER_DATA_BIT | TEST_TAG);
	ck_assert_int_eq(test_reap_backend_cqe(&bq, &io), 64 * KIB);
	ck_assert_int_eq(be.ops->complete(&bq, &io, 4096), BACKEND_IO_QUEUED);
	sqe = last_sqe();
	ck_assert_uint_eq(sqe->opcode, IORING_OP_READ);
	ck_assert_uint_eq(sqe->addr, (uintptr_t)buf + 4096);
	ck_assert_uint_eq(sqe->len, 64 * KIB - 4096);
	ck_assert_uint_eq(sqe->off, 8192 + 4096);
	ck_assert_uint_eq(sqe->user_data, BACKEND_USER_DATA_BIT | TEST_TAG);
	ck_assert_int_eq(test_reap_backend_cqe(&bq, &io), 64 * KIB - 4096);
	ck_assert_int_eq(be.ops->complete(&bq, &io, 512), BACKEND_IO_QUEUED);
	ck_assert_uint_eq(last_sqe()->off, 8192 + 4096 + 512);
	ck_assert_int_eq(be.ops->complete(&bq, &io, test_reap_backend_cqe(&bq, &io)), 64 * KIB);
	test_expect_pattern(buf, 64 * KIB, 8192, 40);

	/* a FUA write cut short: the rest is FUA too */
	io = test_io(BACKEND_OP_WRITE, 0, 8192, buf);
	io.fua = true;
	ck_assert_int_eq(be.ops->submit(&bq, &io), BACKEND_IO_QUEUED);
	ck_assert_uint_eq(last_sqe()->opcode, IORING_OP_WRITE);
	ck_assert_uint_eq(last_sqe()->rw_flags, RWF_DSYNC);
	ck_assert_int_eq(test_reap_backend_cqe(&bq, &io), 8192);
	ck_assert_int_eq(be.ops->complete(&bq, &io, 512), BACKEND_IO_QUEUED);
	sqe = last_sqe();
	ck_assert_uint_eq(sqe->opcode, IORING_OP_WRITE);
	ck_assert_uint_eq(sqe->rw_flags, RWF_DSYNC);
	ck_assert_uint_eq(sqe->addr, (uintptr_t)buf + 512);
	ck_assert_uint_eq(sqe->len, 8192 - 512);
	ck_assert_uint_eq(sqe->off, 512);
	ck_assert_int_eq(be.ops->complete(&bq, &io, test_reap_backend_cqe(&bq, &io)), 8192);

	/* part, then nothing: the file ended inside the device */
	io = test_io(BACKEND_OP_READ, 0, 8192, buf);
	ck_assert_int_eq(be.ops->submit(&bq, &io), BACKEND_IO_QUEUED);
	test_reap_backend_cqe(&bq, &io);
	ck_assert_int_eq(be.ops->complete(&bq, &io, 4096), BACKEND_IO_QUEUED);
	test_reap_backend_cqe(&bq, &io);
	ck_assert_int_eq(be.ops->complete(&bq, &io, 0), -EIO);
	ck_assert_uint_eq(uring_sq_ready(&ring), 0);
	free(buf);
}
END_TEST

/* The SQEs of FLUSH, DISCARD and WRITE_ZEROES, and WRITE_ZEROES's one fallback. */
START_TEST(test_other_sqes)
{
	struct backend_io io;
	struct io_uring_sqe *sqe;

	make_img(MIB, 41);
	open_img(0, false, false);

	io = test_io(BACKEND_OP_FLUSH, 0, 0, NULL);
	ck_assert_int_eq(be.ops->submit(&bq, &io), BACKEND_IO_QUEUED);
	ck_assert_uint_eq(last_sqe()->opcode, IORING_OP_FSYNC);
	ck_assert_uint_eq(last_sqe()->fsync_flags, IORING_FSYNC_DATASYNC);
	ck_assert_int_eq(be.ops->complete(&bq, &io, test_reap_backend_cqe(&bq, &io)), 0);

	io = test_io(BACKEND_OP_DISCARD, 8192, 16384, NULL);
	ck_assert_int_eq(be.ops->submit(&bq, &io), BACKEND_IO_QUEUED);
	sqe = last_sqe();
	ck_assert_uint_eq(sqe->opcode, IORING_OP_FALLOCATE);
	ck_assert_uint_eq(sqe->len, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE);
	ck_assert_uint_eq(sqe->off, 8192);
	ck_assert_uint_eq(sqe->addr, 16384);
	test_reap_backend_cqe(&bq, &io);
	/* no fallback for DISCARD: the file system's word is final */
	ck_assert_int_eq(be.ops->complete(&bq, &io, -EOPNOTSUPP), -EOPNOTSUPP);

	io = test_io(BACKEND_OP_WRITE_ZEROES, 4096, 8192, NULL);
	ck_assert_int_eq(be.ops->submit(&bq, &io), BACKEND_IO_QUEUED);
	sqe = last_sqe();
	ck_assert_uint_eq(sqe->opcode, IORING_OP_FALLOCATE);
	ck_assert_uint_eq(sqe->len, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE);
	ck_assert_uint_eq(sqe->off, 4096);
	ck_assert_uint_eq(sqe->addr, 8192);
	test_reap_backend_cqe(&bq, &io);
	ck_assert_int_eq(be.ops->complete(&bq, &io, -EOPNOTSUPP), BACKEND_IO_QUEUED);
	sqe = last_sqe();
	ck_assert_uint_eq(sqe->len, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE);
	ck_assert_uint_eq(sqe->off, 4096);
	ck_assert_uint_eq(sqe->addr, 8192);
	ck_assert_uint_eq(sqe->user_data, BACKEND_USER_DATA_BIT | TEST_TAG);
	test_reap_backend_cqe(&bq, &io);
	ck_assert_int_eq(be.ops->complete(&bq, &io, -EOPNOTSUPP), -EOPNOTSUPP);

	/* a request resubmitted after a fallback starts again from its first mode */
	ck_assert_int_eq(be.ops->submit(&bq, &io), BACKEND_IO_QUEUED);
	ck_assert_uint_eq(last_sqe()->len, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE);
	ck_assert_int_eq(be.ops->complete(&bq, &io, test_reap_backend_cqe(&bq, &io)), 8192);

	io = test_io(BACKEND_OP_READ, MIB - 512, 1024, NULL);
	ck_assert_int_eq(be.ops->submit(&bq, &io), -EIO);
	io.op = (enum backend_op)99;
	io.offset_bytes = 0;
	ck_assert_int_eq(be.ops->submit(&bq, &io), -EOPNOTSUPP);
	ck_assert_uint_eq(uring_sq_ready(&ring), 0);
}
END_TEST

/* A ring with no free SQE: -EBUSY, and nothing half-prepared is left in it. */
START_TEST(test_sq_full)
{
	struct backend_io io = test_io(BACKEND_OP_FLUSH, 0, 0, NULL);
	struct io_uring_sqe *sqe;
	unsigned n = 0;

	make_img(MIB, 42);
	open_img(0, false, false);
	while ((sqe = uring_get_sqe(&ring))) {
		uring_prep_nop(sqe);
		n++;
	}
	ck_assert_int_eq(be.ops->submit(&bq, &io), -EBUSY);
	ck_assert_uint_eq(uring_sq_ready(&ring), n);
	ck_assert_int_eq(uring_submit(&ring), n);
}
END_TEST

/* Errors of the file come back as -errno: writes to a read-only file, reads past its end. */
START_TEST(test_io_errors)
{
	uint8_t *buf = page_buf(8192);
	struct dev_conf c;

	make_img(MIB, 43);
	test_conf(&c, BACKEND_FILE, 0, img);
	c.read_only = true;
	test_backend_open(&be, &c);
	ck_assert(be.read_only);
	memset(buf, 0xee, 8192);
	ck_assert_int_eq(test_rw(&bq, BACKEND_OP_WRITE, 0, 4096, buf), -EBADF);
	ck_assert_int_eq(test_rw(&bq, BACKEND_OP_DISCARD, 0, 4096, NULL), -EBADF);
	ck_assert_int_eq(test_rw(&bq, BACKEND_OP_READ, 4096, 4096, buf), 4096);
	test_expect_pattern(buf, 4096, 4096, 43);
	backend_close(&be);

	/* the file cut to 512K behind the backend's back */
	open_img(0, false, false);
	ck_assert_int_eq(truncate(img, 512 * KIB), 0);
	ck_assert_int_eq(test_rw(&bq, BACKEND_OP_READ, 768 * KIB, 4096, buf), -EIO);
	memset(buf, 0xee, 8192);
	ck_assert_int_eq(test_rw(&bq, BACKEND_OP_READ, 512 * KIB - 4096, 8192, buf), -EIO);
	test_expect_pattern(buf, 4096, 512 * KIB - 4096, 43);
	ck_assert_int_eq(test_rw(&bq, BACKEND_OP_READ, 0, 8192, buf), 8192);
	free(buf);
}
END_TEST

/* ---- open ---- */

START_TEST(test_open_size)
{
	uint8_t buf[512];
	struct stat st;
	struct dev_conf c;

	/* the file's size, down to whole blocks */
	make_img(MIB + 1000, 50);
	open_img(0, false, false);
	ck_assert_uint_eq(be.size_bytes, MIB + 512);
	ck_assert_uint_eq(be.block_size, 512);
	backend_close(&be);
	test_conf(&c, BACKEND_FILE, 0, img);
	c.block_size = 4096;
	test_backend_open(&be, &c);
	ck_assert_uint_eq(be.size_bytes, MIB);
	ck_assert_uint_eq(be.block_size, 4096);
	backend_close(&be);

	/* a size below the file's: that prefix, and the file as it was */
	open_img(64 * KIB, false, false);
	ck_assert_uint_eq(be.size_bytes, 64 * KIB);
	ck_assert_int_eq(test_rw(&bq, BACKEND_OP_READ, 64 * KIB, 512, buf), -EIO);
	ck_assert_int_eq(test_rw(&bq, BACKEND_OP_READ, 64 * KIB - 512, 512, buf), 512);
	test_expect_pattern(buf, 512, 64 * KIB - 512, 50);
	ck_assert_int_eq(stat_img().st_size, MIB + 1000);
	backend_close(&be);

	/* create extends a short file, sparsely, keeping what it held */
	make_img(4096, 51);
	open_img(16 * MIB, true, false);
	st = stat_img();
	ck_assert_int_eq(st.st_size, 16 * MIB);
	ck_assert_int_lt(st.st_blocks * 512, MIB);
	ck_assert_int_eq(test_rw(&bq, BACKEND_OP_READ, 3584, 512, buf), 512);
	test_expect_pattern(buf, 512, 3584, 51);
	ck_assert_int_eq(test_rw(&bq, BACKEND_OP_READ, 16 * MIB - 512, 512, buf), 512);
	test_expect_zero(buf, 512, 16 * MIB - 512);
}
END_TEST

START_TEST(test_open_errors)
{
	char want[DEV_ERR_MAX], path[300];
	int fds = test_count_fds();
	struct dev_conf c;

	/* missing, without create */
	test_conf(&c, BACKEND_FILE, MIB, img);
	snprintf(want, sizeof(want), "%s: No such file or directory", img);
	test_backend_open_fails(&c, -ENOENT, want);
	ck_assert_int_eq(access(img, F_OK), -1);

	/* empty, or less than a block */
	make_img(0, 0);
	test_conf(&c, BACKEND_FILE, 0, img);
	snprintf(want, sizeof(want), "%s: empty file; give size (and create = yes to extend it)",
		 img);
	test_backend_open_fails(&c, -EINVAL, want);
	make_img(100, 60);
	snprintf(want, sizeof(want),
		 "%s: smaller than one block; give size (and create = yes to extend it)", img);
	test_backend_open_fails(&c, -EINVAL, want);

	/* larger than the file, without create, or read-only */
	make_img(4096, 61);
	test_conf(&c, BACKEND_FILE, MIB, img);
	snprintf(want, sizeof(want),
		 "%s: the file has 4096 bytes, fewer than size 1M (create = yes extends it)", img);
	test_backend_open_fails(&c, -EINVAL, want);
	c.create = c.read_only = true;
	snprintf(want, sizeof(want),
		 "%s: the file has 4096 bytes, fewer than size 1M (read_only: not extended)", img);
	test_backend_open_fails(&c, -EINVAL, want);
	/* a size that is no whole number of blocks is refused before the file grows */
	c.read_only = false;
	c.size_bytes = MIB + 100;
	test_backend_open_fails(&c, -EINVAL,
				"size 1048676 is not a positive multiple of block_size 512");
	ck_assert_int_eq(stat_img().st_size, 4096);

	/* not a regular file or a block device */
	snprintf(path, sizeof(path), "%s/sub", dir);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	test_conf(&c, BACKEND_FILE, 0, path);
	snprintf(want, sizeof(want), "%s: Is a directory", path);
	test_backend_open_fails(&c, -EISDIR, want);
	c.read_only = true;
	snprintf(want, sizeof(want), "%s: not a regular file or block device", path);
	test_backend_open_fails(&c, -EINVAL, want);
	test_conf(&c, BACKEND_FILE, 0, "/dev/null");
	test_backend_open_fails(&c, -EINVAL, "/dev/null: not a regular file or block device");
	/* a FIFO with no writer does not hang open() */
	snprintf(path, sizeof(path), "%s/fifo", dir);
	ck_assert_int_eq(mkfifo(path, 0600), 0);
	test_conf(&c, BACKEND_FILE, 0, path);
	c.read_only = true;
	snprintf(want, sizeof(want), "%s: not a regular file or block device", path);
	test_backend_open_fails(&c, -EINVAL, want);

	/* O_DIRECT where the file system has none (procfs; tmpfs has it since Linux 6.6) */
	test_conf(&c, BACKEND_FILE, 0, "/proc/version");
	c.read_only = c.direct_io = true;
	test_backend_open_fails(
		&c, -EINVAL,
		"/proc/version: O_DIRECT not supported by this filesystem (direct_io = no)");

	ck_assert_int_eq(test_count_fds(), fds);
}
END_TEST

START_TEST(test_open_read_only)
{
	struct dev_conf c;

	make_img(MIB, 62);
	ck_assert_int_eq(chmod(img, 0400), 0);
	test_conf(&c, BACKEND_FILE, 0, img);
	c.read_only = true;
	test_backend_open(&be, &c);
	ck_assert_uint_eq(be.size_bytes, MIB);
	backend_close(&be);
	if (geteuid() != 0) { /* root opens a 0400 file for writing all the same */
		char want[DEV_ERR_MAX];

		c.read_only = false;
		snprintf(want, sizeof(want), "%s: Permission denied", img);
		test_backend_open_fails(&c, -EACCES, want);
	}
}
END_TEST

/* ---- block devices ---- */

/* A loop device over a new 8M image with logical blocks of bs bytes; -1 where we may not. */
static int attach_loop(unsigned bs, char *path, size_t path_bytes)
{
	struct loop_config cfg;
	int ctl, backing, lfd = -1;

	make_img(8 * MIB, 70);
	ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	if (ctl < 0)
		return -1;
	backing = open(img, O_RDWR | O_CLOEXEC);
	ck_assert_int_ge(backing, 0);
	memset(&cfg, 0, sizeof(cfg));
	cfg.fd = (unsigned)backing;
	cfg.block_size = bs;
	/* detached when its last opener closes it, even if the test dies */
	cfg.info.lo_flags = LO_FLAGS_AUTOCLEAR;
	for (unsigned tries = 0; tries < 10 && lfd < 0; tries++) {
		int nr = ioctl(ctl, LOOP_CTL_GET_FREE);

		if (nr < 0)
			break;
		snprintf(path, path_bytes, "/dev/loop%d", nr);
		lfd = open(path, O_RDWR | O_CLOEXEC);
		if (lfd >= 0 && ioctl(lfd, LOOP_CONFIGURE, &cfg)) {
			close(lfd);
			lfd = -1;
		}
	}
	close(backing);
	close(ctl);
	return lfd;
}

/*
 * Block devices are half of what the file backend serves: a host that cannot make a loop
 * device (not root, no loop module) fails these tests rather than skipping them.
 */
static bool have_loop(int lfd, const char *test)
{
	ck_assert_msg(lfd >= 0,
		      "%s: cannot make a loop device (%s): run as root with the loop module", test,
		      strerror(errno));
	return true;
}

START_TEST(test_blockdev_geometry)
{
	char path[64], want[256];
	int lfd = attach_loop(4096, path, sizeof(path));
	struct dev_conf c;

	if (!have_loop(lfd, __func__))
		return;
	test_conf(&c, BACKEND_FILE, 0, path);
	test_backend_open(&be, &c);
	ck_assert_uint_eq(be.size_bytes, 8 * MIB);
	ck_assert_uint_eq(be.block_size, 4096);
	/* a loop device zeroes by fallocate on its file: DISCARD is offered */
	ck_assert_uint_eq(be.caps, BACKEND_CAP_FLUSH | BACKEND_CAP_FUA | BACKEND_CAP_DISCARD |
					   BACKEND_CAP_WRITE_ZEROES);
	backend_close(&be);

	c.size_bytes = 4 * MIB;
	test_backend_open(&be, &c);
	ck_assert_uint_eq(be.size_bytes, 4 * MIB);
	backend_close(&be);

	c.size_bytes = 16 * MIB;
	snprintf(want, sizeof(want), "%s: size 16M is larger than the device (8388608 bytes)",
		 path);
	test_backend_open_fails(&c, -EINVAL, want);
	c.size_bytes = 0;
	c.block_size = 512;
	snprintf(want, sizeof(want), "block_size 512 is smaller than %s's logical block size 4096",
		 path);
	test_backend_open_fails(&c, -EINVAL, want);
	c.block_size = 0;
	c.create = true;
	snprintf(want, sizeof(want), "%s: a block device is not created or extended (create = no)",
		 path);
	test_backend_open_fails(&c, -EINVAL, want);
	close(lfd);
}
END_TEST

/* Every request on a loop device with O_DIRECT, checked in the loop's backing file. */
START_TEST(test_blockdev_io)
{
	uint8_t *buf = page_buf(64 * KIB);
	char path[64];
	int lfd = attach_loop(512, path, sizeof(path));
	struct backend_io io;
	struct dev_conf c;

	if (!have_loop(lfd, __func__)) {
		free(buf);
		return;
	}
	test_conf(&c, BACKEND_FILE, 0, path);
	c.direct_io = true;
	test_backend_open(&be, &c);
	ck_assert_uint_eq(be.block_size, 512);
	test_fill(buf, 64 * KIB, 3 * MIB, 71);
	io = test_io(BACKEND_OP_WRITE, 3 * MIB, 64 * KIB, buf);
	io.fua = true;
	ck_assert_int_eq(test_run_io(&bq, &io), 64 * KIB);
	ck_assert_int_eq(test_rw(&bq, BACKEND_OP_FLUSH, 0, 0, NULL), 0);
	memset(buf, 0xee, 64 * KIB);
	pread_img(buf, 64 * KIB, 3 * MIB);
	test_expect_pattern(buf, 64 * KIB, 3 * MIB, 71);
	memset(buf, 0xee, 64 * KIB);
	ck_assert_int_eq(test_rw(&bq, BACKEND_OP_READ, 3 * MIB, 64 * KIB, buf), 64 * KIB);
	test_expect_pattern(buf, 64 * KIB, 3 * MIB, 71);

	ck_assert_int_eq(test_rw(&bq, BACKEND_OP_DISCARD, 3 * MIB, 8192, NULL), 8192);
	ck_assert_int_eq(test_rw(&bq, BACKEND_OP_WRITE_ZEROES, 3 * MIB + 16384, 512, NULL), 512);
	memset(buf, 0xee, 64 * KIB);
	ck_assert_int_eq(test_rw(&bq, BACKEND_OP_READ, 3 * MIB, 64 * KIB, buf), 64 * KIB);
	test_expect_zero(buf, 8192, 3 * MIB);
	test_expect_pattern(buf + 8192, 8192, 3 * MIB + 8192, 71);
	test_expect_zero(buf + 16384, 512, 3 * MIB + 16384);
	test_expect_pattern(buf + 16896, 64 * KIB - 16896, 3 * MIB + 16896, 71);
	/* O_DIRECT on a 512-byte device: a misaligned request is the kernel's -EINVAL */
	ck_assert_int_eq(test_rw(&bq, BACKEND_OP_READ, 100, 512, buf), -EINVAL);
	close(lfd);
	free(buf);
}
END_TEST

static Suite *backend_file_suite(void)
{
	Suite *s = suite_create("backend_file");
	TCase *tc;

	tc = tcase_create("io");
	tcase_set_timeout(tc, 30);
	tcase_add_unchecked_fixture(tc, dirs_setup, dirs_teardown);
	tcase_add_checked_fixture(tc, file_setup, file_teardown);
	tcase_add_loop_test(tc, test_round_trip, 0, 2);
	tcase_add_loop_test(tc, test_discard_write_zeroes, 0, 4);
	tcase_add_test(tc, test_short_transfers);
	tcase_add_test(tc, test_other_sqes);
	tcase_add_test(tc, test_sq_full);
	tcase_add_test(tc, test_io_errors);
	suite_add_tcase(s, tc);

	tc = tcase_create("open");
	tcase_set_timeout(tc, 30);
	tcase_add_unchecked_fixture(tc, dirs_setup, dirs_teardown);
	tcase_add_checked_fixture(tc, file_setup, file_teardown);
	tcase_add_test(tc, test_open_size);
	tcase_add_test(tc, test_open_errors);
	tcase_add_test(tc, test_open_read_only);
	suite_add_tcase(s, tc);

	tc = tcase_create("blockdev");
	tcase_set_timeout(tc, 30);
	tcase_add_unchecked_fixture(tc, dirs_setup, dirs_teardown);
	tcase_add_checked_fixture(tc, file_setup, file_teardown);
	tcase_add_test(tc, test_blockdev_geometry);
	tcase_add_test(tc, test_blockdev_io);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return suite_main(backend_file_suite());
}
