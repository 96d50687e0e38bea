// SPDX-License-Identifier: MIT
/*
 * The file backend: a regular file or a block device, read and written through the queue's
 * ring, so a queue thread never waits in a system call for the backing store.
 *
 * Requests map one to one onto io_uring operations at the same offset:
 *   READ, WRITE   IORING_OP_READ/WRITE; a FUA write carries RWF_DSYNC. A short transfer
 *                 continues from where it stopped (done_bytes).
 *   FLUSH         IORING_OP_FSYNC with DATASYNC: the page cache and the device's cache.
 *   DISCARD       fallocate(PUNCH_HOLE | KEEP_SIZE): the blocks are freed and read back as
 *                 zeroes. A file system that cannot punch holes fails it with -EOPNOTSUPP,
 *                 which goes to the block layer as it is: probing at open() would have to punch
 *                 a hole in the user's data, and no file system's magic number says for sure.
 *   WRITE_ZEROES  fallocate(ZERO_RANGE | KEEP_SIZE): zeroes that keep their blocks. A file
 *                 system without ZERO_RANGE (tmpfs) gets PUNCH_HOLE instead, which reads back
 *                 the same; done_bytes is 1 once that fallback is under way.
 * On a block device blkdev_fallocate() turns PUNCH_HOLE into a write-zeroes that unmaps and
 * fails when the device cannot zero by itself, so DISCARD is offered only for devices that can;
 * ZERO_RANGE works on every device (the kernel writes zeroes when it must).
 *
 * Each request holds at most one SQE at a time, so a ring with an SQ entry for every tag in
 * flight always has room; backend_get_sqe() failing (-EBUSY) means the ring is too small.
 *
 * Test only: UBLKD_TEST_IO_DELAY_MS=N in the environment of the daemon when it opens the file
 * holds every WRITE for N ms in the backend (an IORING_OP_TIMEOUT linked before the write), so
 * that tests can stop a daemon with writes in flight. The timeout posts no CQE and takes the
 * SQ slot of the tag's commit, which is never queued in the same turn.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <unistd.h>
#include <linux/falloc.h>

#include "backend.h"
#include "log.h"
#include "parse.h"

struct file_backend {
	int fd;
	/* UBLKD_TEST_IO_DELAY_MS; the kernel reads it when it consumes the timeout SQE */
	struct io_uring_kernel_timespec write_delay;
};

/* The test-only delay of every write (see the top of the file); 0 without the variable. */
static unsigned file_test_write_delay_ms(void)
{
	const char *text = getenv("UBLKD_TEST_IO_DELAY_MS");
	uint32_t ms = 0;

	if (text && parse_u32(text, 0, 60000, &ms) < 0)
		log_msg(LOG_LEVEL_WARNING, "UBLKD_TEST_IO_DELAY_MS=%s: not 0-60000, ignored", text);
	return ms;
}

/* conf's block size, or the smallest the backing store takes (min_bs, 0 when it has no say). */
static int file_block_size(const struct dev_conf *conf, uint32_t min_bs, const char *what,
			   uint32_t *bs, char *err, size_t err_bytes)
{
	if (!conf->block_size) {
		*bs = min_bs > 512 ? min_bs : 512;
		return 0;
	}
	if (conf->block_size < min_bs) {
		snprintf(err, err_bytes, "block_size %u is smaller than %s's %s %u",
			 conf->block_size, conf->path, what, min_bs);
		return -EINVAL;
	}
	*bs = conf->block_size;
	return 0;
}

/* The alignment O_DIRECT needs for file offsets (Linux 6.1+); 0 when nothing says. */
static uint32_t file_dio_align(int fd)
{
	struct statx stx;

	if (statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) || !(stx.stx_mask & STATX_DIOALIGN))
		return 0;
	return stx.stx_dio_offset_align;
}

/* A regular file: its size rounded down to whole blocks, unless conf gives one. */
static int file_regular_geometry(int fd, const struct stat *st, const struct dev_conf *conf,
				 uint64_t *size, uint32_t *bs, char *err, size_t err_bytes)
{
	uint64_t have = (uint64_t)st->st_size;
	int ret;

	ret = file_block_size(conf, conf->direct_io ? file_dio_align(fd) : 0,
			      "direct I/O alignment", bs, err, err_bytes);
	if (ret)
		return ret;
	*size = conf->size_bytes ? conf->size_bytes : have - have % *bs;
	if (!*size) {
		snprintf(err, err_bytes, "%s: %s; give size (and create = yes to extend it)",
			 conf->path, have ? "smaller than one block" : "empty file");
		return -EINVAL;
	}
	return 0;
}

/*
 * Whether the device zeroes ranges by itself (write_zeroes_max_bytes > 0), which PUNCH_HOLE
 * needs. A partition has no queue/ of its own: its disk's is one level up.
 */
static bool file_blockdev_zeroes(dev_t rdev)
{
	static const char *const queue_dirs[] = { "queue", "../queue" };

	for (unsigned i = 0; i < sizeof(queue_dirs) / sizeof(queue_dirs[0]); i++) {
		unsigned long long max_bytes = 0;
		char path[128];
		bool zeroes;
		FILE *f;

		snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/%s/write_zeroes_max_bytes",
			 major(rdev), minor(rdev), queue_dirs[i]);
		f = fopen(path, "re");
		if (!f)
			continue;
		zeroes = fscanf(f, "%llu", &max_bytes) == 1 && max_bytes > 0;
		fclose(f);
		return zeroes;
	}
	return false;
}

/* A block device: all of it in its own logical blocks, unless conf says otherwise. */
static int file_blockdev_geometry(int fd, const struct dev_conf *conf, uint64_t *size, uint32_t *bs,
				  char *err, size_t err_bytes)
{
	char want[SIZE_BYTES_STR_MAX];
	uint64_t have;
	int lbs, ret;

	if (conf->create) {
		snprintf(err, err_bytes,
			 "%s: a block device is not created or extended (create = no)", conf->path);
		return -EINVAL;
	}
	if (ioctl(fd, BLKGETSIZE64, &have) || ioctl(fd, BLKSSZGET, &lbs)) {
		ret = -errno;
		snprintf(err, err_bytes, "%s: cannot read the device's size: %s", conf->path,
			 strerror(-ret));
		return ret;
	}
	ret = file_block_size(conf, (uint32_t)lbs, "logical block size", bs, err, err_bytes);
	if (ret)
		return ret;
	if (conf->size_bytes > have) {
		snprintf(err, err_bytes, "%s: size %s is larger than the device (%llu bytes)",
			 conf->path, format_size_bytes(conf->size_bytes, want, sizeof(want)),
			 (unsigned long long)have);
		return -EINVAL;
	}
	*size = conf->size_bytes ? conf->size_bytes : have - have % *bs;
	if (!*size) {
		snprintf(err, err_bytes, "%s: the device holds no whole block", conf->path);
		return -EINVAL;
	}
	return 0;
}

/* A file shorter than the device grows (sparsely) to its size when conf says create. */
static int file_extend(int fd, const struct stat *st, const struct dev_conf *conf, uint64_t size,
		       char *err, size_t err_bytes)
{
	char want[SIZE_BYTES_STR_MAX];
	int ret;

	format_size_bytes(size, want, sizeof(want));
	if (!conf->create || conf->read_only) {
		snprintf(err, err_bytes, "%s: the file has %llu bytes, fewer than size %s%s",
			 conf->path, (unsigned long long)st->st_size, want,
			 conf->read_only ? " (read_only: not extended)"
					 : " (create = yes extends it)");
		return -EINVAL;
	}
	if (ftruncate(fd, (off_t)size)) {
		ret = -errno;
		snprintf(err, err_bytes, "%s: cannot extend to %s: %s", conf->path, want,
			 strerror(-ret));
		return ret;
	}
	return 0;
}

static int file_open(struct backend *be, const struct dev_conf *conf, char *err, size_t err_bytes)
{
	/*
	 * O_NONBLOCK only while opening, so that a FIFO named by mistake cannot hang open(). It is
	 * cleared before any I/O: io_uring would hand -EAGAIN back instead of waiting.
	 * A new file is its owner's alone (0600): a disk image holds whatever the file system on
	 * it holds, and a mode open to others would publish it.
	 */
	int flags = (conf->read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC | O_NONBLOCK |
		    (conf->direct_io ? O_DIRECT : 0) | (conf->create ? O_CREAT : 0);
	struct file_backend *f;
	uint64_t size = 0;
	uint32_t bs = 0;
	unsigned delay_ms;
	struct stat st;
	int fd, ret;

	fd = open(conf->path, flags, 0600);
	if (fd < 0) {
		ret = -errno;
		/* open() refuses O_DIRECT with EINVAL where the file system has no direct I/O. */
		if (ret == -EINVAL && conf->direct_io)
			snprintf(err, err_bytes,
				 "%s: O_DIRECT not supported by this filesystem (direct_io = no)",
				 conf->path);
		else
			snprintf(err, err_bytes, "%s: %s", conf->path, strerror(-ret));
		return ret;
	}
	if (fstat(fd, &st) || fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)) {
		ret = -errno;
		snprintf(err, err_bytes, "%s: %s", conf->path, strerror(-ret));
		goto fail;
	}
	if (S_ISREG(st.st_mode)) {
		ret = file_regular_geometry(fd, &st, conf, &size, &bs, err, err_bytes);
	} else if (S_ISBLK(st.st_mode)) {
		ret = file_blockdev_geometry(fd, conf, &size, &bs, err, err_bytes);
	} else {
		snprintf(err, err_bytes, "%s: not a regular file or block device", conf->path);
		ret = -EINVAL;
	}
	if (!ret)
		ret = backend_check_geometry(size, bs, err, err_bytes);
	if (!ret && S_ISREG(st.st_mode) && size > (uint64_t)st.st_size)
		ret = file_extend(fd, &st, conf, size, err, err_bytes);
	if (ret)
		goto fail;
	f = malloc(sizeof(*f));
	if (!f) {
		ret = -ENOMEM;
		snprintf(err, err_bytes, "%s: %s", conf->path, strerror(ENOMEM));
		goto fail;
	}
	f->fd = fd;
	be->io_fd = fd;
	delay_ms = file_test_write_delay_ms();
	f->write_delay = (struct io_uring_kernel_timespec){
		.tv_sec = delay_ms / 1000,
		.tv_nsec = (long long)(delay_ms % 1000) * 1000000,
	};
	be->priv = f;
	be->size_bytes = size;
	be->block_size = bs;
	/* The page cache, or the device's own cache, keeps writes until FLUSH or FUA. */
	be->caps = BACKEND_CAP_FLUSH | BACKEND_CAP_FUA | BACKEND_CAP_WRITE_ZEROES;
	if (S_ISREG(st.st_mode) || file_blockdev_zeroes(st.st_rdev))
		be->caps |= BACKEND_CAP_DISCARD;
	return 0;
fail:
	close(fd);
	return ret;
}

/* The device is going away: what it wrote must be on stable storage before we say it is gone. */
static void file_close(struct backend *be)
{
	struct file_backend *f = be->priv;

	if (!be->read_only && fdatasync(f->fd) < 0)
		log_msg(LOG_LEVEL_ERR, "file backend: fdatasync at close: %s", strerror(errno));
	close(f->fd);
	free(f);
	be->priv = NULL;
}

static int file_fallocate_mode(const struct backend_io *io)
{
	bool punch = io->op == BACKEND_OP_DISCARD || io->done_bytes;

	return (punch ? FALLOC_FL_PUNCH_HOLE : FALLOC_FL_ZERO_RANGE) | FALLOC_FL_KEEP_SIZE;
}

/*
 * Test only: a timeout linked before io's next SQE, which then starts when it expires. It
 * completes as a success (ETIME_SUCCESS), so the link holds and no CQE is posted; should it
 * ever post one (cancelled), its user_data names no tag and the queue loop drops it.
 */
static int file_queue_delay(struct backend_queue *bq)
{
	const struct file_backend *f = bq->be->priv;
	struct io_uring_sqe *sqe = backend_get_sqe(bq);

	if (!sqe)
		return -EBUSY;
	uring_prep_timeout(sqe, &f->write_delay, IORING_TIMEOUT_ETIME_SUCCESS);
	uring_sqe_set_flags(sqe, IOSQE_IO_LINK | IOSQE_CQE_SKIP_SUCCESS);
	uring_sqe_set_data64(sqe, BACKEND_USER_DATA_NO_IO);
	return 0;
}

/*
 * READ or WRITE of what is left of io. In zero-copy mode the request's own pages are registered
 * buffer io->tag, addressed from 0; in copy mode the tag's buffer, registered under the same
 * index when the queue could pin it (io->buf_fixed), which spares the kernel pinning it per I/O.
 */
static void file_prep_rw(struct io_uring_sqe *sqe, const struct backend_queue *bq,
			 const struct backend_io *io, int fd)
{
	bool write = io->op == BACKEND_OP_WRITE;
	uint32_t left = io->len_bytes - io->done_bytes;
	uint64_t off = io->offset_bytes + io->done_bytes;
	char *buf = (char *)io->buf + io->done_bytes;

	if (bq->io_mode == IO_MODE_ZERO_COPY || io->buf_fixed) {
		if (bq->io_mode == IO_MODE_ZERO_COPY)
			buf = (char *)(uintptr_t)io->done_bytes;
		if (write)
			uring_prep_write_fixed(sqe, fd, buf, left, off, io->tag);
		else
			uring_prep_read_fixed(sqe, fd, buf, left, off, io->tag);
	} else if (write) {
		uring_prep_write(sqe, fd, buf, left, off);
	} else {
		uring_prep_read(sqe, fd, buf, left, off);
	}
	if (write && io->fua)
		sqe->rw_flags = RWF_DSYNC;
}

static int file_queue(struct backend_queue *bq, struct backend_io *io)
{
	const struct file_backend *f = bq->be->priv;
	struct io_uring_sqe *sqe;

	if (io->op == BACKEND_OP_WRITE && (f->write_delay.tv_sec || f->write_delay.tv_nsec) &&
	    file_queue_delay(bq) < 0)
		return -EBUSY;
	sqe = backend_get_sqe(bq);
	if (!sqe)
		return -EBUSY;
	switch (io->op) {
	case BACKEND_OP_READ:
	case BACKEND_OP_WRITE:
		file_prep_rw(sqe, bq, io, f->fd);
		break;
	case BACKEND_OP_FLUSH:
		uring_prep_fsync(sqe, f->fd, IORING_FSYNC_DATASYNC);
		break;
	case BACKEND_OP_DISCARD:
	case BACKEND_OP_WRITE_ZEROES:
		uring_prep_fallocate(sqe, f->fd, file_fallocate_mode(io), io->offset_bytes,
				     io->len_bytes);
		break;
	}
	backend_sqe_use_fixed_file(sqe, bq);
	backend_sqe_set_io(sqe, io);
	return BACKEND_IO_QUEUED;
}

static int file_submit(struct backend_queue *bq, struct backend_io *io)
{
	if (!backend_io_in_range(bq->be, io))
		return -EIO;
	if ((unsigned)io->op > BACKEND_OP_WRITE_ZEROES)
		return -EOPNOTSUPP;
	io->done_bytes = 0;
	return file_queue(bq, io);
}

static int file_complete(struct backend_queue *bq, struct backend_io *io, int res)
{
	if (res == -EOPNOTSUPP && io->op == BACKEND_OP_WRITE_ZEROES && !io->done_bytes) {
		io->done_bytes = 1;
		return file_queue(bq, io);
	}
	if (res < 0)
		return res;
	switch (io->op) {
	case BACKEND_OP_READ:
	case BACKEND_OP_WRITE:
		io->done_bytes += (uint32_t)res;
		if (io->done_bytes >= io->len_bytes)
			return (int)io->len_bytes;
		/*
		 * Nothing moved before the end: the file was cut shorter than the device behind our
		 * back. Zeroes would pass for data, so the block layer gets an error.
		 */
		if (!res)
			return -EIO;
		return file_queue(bq, io);
	case BACKEND_OP_FLUSH:
		return 0;
	default:
		return (int)io->len_bytes;
	}
}

const struct backend_ops backend_file_ops = {
	.name = "file",
	.io_modes = IO_MODE_BIT(IO_MODE_ZERO_COPY),
	.io_mode_order = (const enum dev_io_mode[]){ IO_MODE_ZERO_COPY, IO_MODE_AUTO },
	.fixed_bufs = true,
	.open = file_open,
	.close = file_close,
	.submit = file_submit,
	.complete = file_complete,
};
