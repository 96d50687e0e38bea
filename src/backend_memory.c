// SPDX-License-Identifier: MIT
/*
 * The memory backend: a RAM disk that costs RAM only for what was written, gives it back on
 * DISCARD and WRITE_ZEROES, and outlives a daemon that dies. Synchronous: every request
 * finishes inside submit().
 *
 * The disk is a memfd of the device's size (include/mem_store.h), which a holder outside the
 * process keeps once the device has its id (keep()), and which reopen() finds again when the
 * next daemon adopts the device. Nothing is allocated up front: a page gets RAM at its first
 * write, and memfds know no tmpfs size limit, so a 1T disk opens at once on a small machine.
 *
 * The bytes move with pread() and pwrite() on the memfd, not through a mapping of it:
 *  - a read fault on a page never written would give that page RAM (shmem has no shared zero
 *    page for mappings), while pread() of a hole copies zeroes and allocates nothing, not even
 *    a page-table entry;
 *  - a write that finds no memory fails with -ENOMEM (the request with EIO) where a write
 *    fault would end in SIGBUS or an endless fault;
 *  - no address space is reserved, so ulimit -v and vm.overcommit_memory=2 do not refuse a
 *    large disk, and a core dump of the daemon never holds the disk's contents.
 * DISCARD and WRITE_ZEROES punch the whole pages out of the memfd (FALLOC_FL_PUNCH_HOLE), which
 * frees their RAM; the partial pages at either end hold other bytes too and get zeroes written.
 * The limits:
 *  - Nothing is reserved: writing more than RAM and swap can hold ends with the OOM killer
 *    (which may pick the daemon) or, with vm.overcommit_memory=2, in failed writes. Size a RAM
 *    disk to what the machine can hold. Its pages are shmem: they count as Shmem in
 *    /proc/meminfo and in the memory cgroup of the process that first wrote them, not in RSS.
 *  - Pages are charged as written, so a write may be slower than a memcpy() into memory that
 *    is already there; the request's round trip through ublk costs more.
 *
 * In user-copy mode (io_mode = user_copy) a request's bytes go straight between the kernel's
 * request and the disk, one copy where copy mode makes two: pread() of /dev/ublkcN into a
 * shared mapping of the memfd for a WRITE, pwrite() from it for a READ. Only the kernel ever
 * touches that mapping, so a page that cannot get memory fails the request with EFAULT instead
 * of raising SIGBUS, and MADV_DONTDUMP keeps it out of core dumps. What a mapping would break,
 * reading a hole allocates its page, the map of written pages (one bit per page, in lazily
 * zero-filled memory of its own) prevents: a READ takes the bytes of pages never written from
 * an unwritable mapping of zeroes instead, which allocates nothing. A bit is set before its
 * page is written and cleared before its page is punched out, so a set bit only ever costs a
 * page, never shows zeroes where data is; reopen() rebuilds the map from the memfd's holes.
 *
 * Queues run in threads of their own and may use the memfd at once: the page cache orders the
 * bytes of each page, and requests in flight at the same time are either disjoint, or overlap,
 * which the block layer leaves unordered (the result of two racing writes is either's data).
 * A hole is only punched in pages that lie wholly inside its own request's range, so it never
 * loses another request's bytes.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include "backend.h"
#include "mem_store.h"

/* The largest request: what a READ of nothing but holes takes from the zeroes mapping. */
#define MEMORY_MAX_IO_BYTES BACKEND_MAX_IO_BYTES

struct memory_disk {
	int fd; /* the memfd, be->size_bytes long */
	uint64_t page_bytes;
	/* user-copy mode (see the top of the file); NULL where the mappings could not be made */
	uint8_t *map;	       /* the memfd, shared */
	uint64_t *written;     /* bit per page: it may hold data */
	size_t written_bytes;  /* of the map of written pages */
	const uint8_t *zeroes; /* MEMORY_MAX_IO_BYTES that read as zeroes and own no RAM */
};

static inline bool memory_page_written(const struct memory_disk *m, uint64_t page)
{
	return __atomic_load_n(&m->written[page / 64], __ATOMIC_RELAXED) & (1ULL << (page % 64));
}

/*
 * Marks the pages of [off, off + len) written (set) or not. Queues mark at once, so the
 * words change atomically; ordering against the data is the block layer's, whose requests in
 * flight together are unordered anyway.
 */
static void memory_mark(struct memory_disk *m, uint64_t off, uint64_t len, bool set)
{
	if (!m->written || !len)
		return;
	for (uint64_t page = off / m->page_bytes, last = (off + len - 1) / m->page_bytes;
	     page <= last; page++) {
		uint64_t bit = 1ULL << (page % 64);

		if (set && !memory_page_written(m, page))
			__atomic_fetch_or(&m->written[page / 64], bit, __ATOMIC_RELAXED);
		else if (!set && memory_page_written(m, page))
			__atomic_fetch_and(&m->written[page / 64], ~bit, __ATOMIC_RELAXED);
	}
}

/* Every page of the memfd that is not a hole, marked written (a reopened disk). */
static void memory_mark_data(struct memory_disk *m, uint64_t size)
{
	off_t data = 0, hole;

	while ((uint64_t)data < size && (data = lseek(m->fd, data, SEEK_DATA)) >= 0) {
		hole = lseek(m->fd, data, SEEK_HOLE);
		if (hole < 0)
			hole = (off_t)size;
		memory_mark(m, (uint64_t)data, (uint64_t)(hole - data), true);
		data = hole;
	}
}

static void memory_unmap(struct memory_disk *m, uint64_t size)
{
	if (m->map)
		munmap(m->map, size);
	if (m->written)
		munmap(m->written, m->written_bytes);
	if (m->zeroes)
		munmap((void *)m->zeroes, MEMORY_MAX_IO_BYTES);
	m->map = NULL;
	m->written = NULL;
	m->zeroes = NULL;
}

/*
 * What user-copy mode needs: best effort, since copy mode needs none of it and a large disk
 * may not fit the address space a limit allows; queue_init() refuses user copy without it.
 * MAP_NORESERVE: the map of written pages is charged only where bits get set.
 */
static void memory_map(struct memory_disk *m, uint64_t size)
{
	uint64_t pages = (size + m->page_bytes - 1) / m->page_bytes;
	void *p;

	m->written_bytes = (size_t)((pages + 63) / 64 * 8);
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, m->fd, 0);
	m->map = p == MAP_FAILED ? NULL : p;
	p = mmap(NULL, m->written_bytes, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	m->written = p == MAP_FAILED ? NULL : p;
	p = mmap(NULL, MEMORY_MAX_IO_BYTES, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	m->zeroes = p == MAP_FAILED ? NULL : p;
	if (!m->map || !m->written || !m->zeroes) {
		memory_unmap(m, size);
		return;
	}
	madvise(m->map, size, MADV_DONTDUMP);
	memory_mark_data(m, size);
}

/* The part of open() and reopen() after the memfd is there: fd is ours, closed on failure. */
static int memory_start(struct backend *be, const struct dev_conf *conf, uint32_t block_size,
			int fd, char *err, size_t err_bytes)
{
	struct memory_disk *m = calloc(1, sizeof(*m));

	if (!m) {
		close(fd);
		snprintf(err, err_bytes, "memory: %s", strerror(ENOMEM));
		return -ENOMEM;
	}
	m->fd = fd;
	m->page_bytes = (uint64_t)sysconf(_SC_PAGESIZE);
	memory_map(m, conf->size_bytes);
	be->size_bytes = conf->size_bytes;
	be->block_size = block_size;
	/* No volatile cache: a write is as durable as it will ever be once pwrite() returns. */
	be->caps = BACKEND_CAP_DISCARD | BACKEND_CAP_WRITE_ZEROES;
	be->priv = m;
	return 0;
}

static int memory_open(struct backend *be, const struct dev_conf *conf, char *err, size_t err_bytes)
{
	uint32_t block_size = conf->block_size ? conf->block_size : 512;
	int fd, ret;

	ret = backend_check_geometry(conf->size_bytes, block_size, err, err_bytes);
	if (ret)
		return ret;
	fd = mem_store_create(conf->size_bytes, err, err_bytes);
	if (fd < 0)
		return fd;
	return memory_start(be, conf, block_size, fd, err, err_bytes);
}

static int memory_reopen(struct backend *be, const struct dev_conf *conf, uint32_t dev_id,
			 char *err, size_t err_bytes)
{
	uint32_t block_size = conf->block_size ? conf->block_size : 512;
	int fd, ret;

	ret = backend_check_geometry(conf->size_bytes, block_size, err, err_bytes);
	if (ret)
		return ret;
	fd = mem_store_take(dev_id, conf->size_bytes, err, err_bytes);
	if (fd < 0)
		return fd;
	return memory_start(be, conf, block_size, fd, err, err_bytes);
}

static int memory_keep(struct backend *be, uint32_t dev_id, char *err, size_t err_bytes)
{
	const struct memory_disk *m = be->priv;

	return mem_store_keep(dev_id, m->fd, err, err_bytes);
}

static void memory_forget(uint32_t dev_id)
{
	mem_store_drop(dev_id);
}

static void memory_close(struct backend *be)
{
	struct memory_disk *m = be->priv;

	/* A kept disk's RAM stays with its holder; one never kept goes now. */
	memory_unmap(m, be->size_bytes);
	close(m->fd);
	free(m);
	be->priv = NULL;
}

/* pread() (write false) or pwrite() of all of len bytes: 0 or -errno. */
static int memory_transfer(int fd, bool write, uint8_t *buf, size_t len, uint64_t off)
{
	while (len) {
		ssize_t n =
			write ? pwrite(fd, buf, len, (off_t)off) : pread(fd, buf, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		/* Inside the file's sealed size, so neither ever stops short of it. */
		if (n == 0)
			return -EIO;
		buf += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

static int memory_write_zeroes(int fd, uint64_t off, uint64_t len)
{
	static const uint8_t zeroes[4096];

	while (len) {
		size_t n = len < sizeof(zeroes) ? (size_t)len : sizeof(zeroes);
		int ret = memory_transfer(fd, true, (uint8_t *)zeroes, n, off);

		if (ret)
			return ret;
		off += n;
		len -= n;
	}
	return 0;
}

/*
 * The whole pages inside the range go back to the kernel (they read zeroes from then on);
 * the partial pages at either end hold other bytes too, so those get zeroes written.
 */
static int memory_zero(struct memory_disk *m, uint64_t off, uint64_t len)
{
	uint64_t end = off + len;
	uint64_t first = (off + m->page_bytes - 1) & ~(m->page_bytes - 1);
	uint64_t last = end & ~(m->page_bytes - 1);
	int ret;

	if (first >= last)
		return memory_write_zeroes(m->fd, off, len);
	/* Unmarked first: a page punched out must not be read through the mapping again. */
	memory_mark(m, first, last - first, false);
	ret = memory_write_zeroes(m->fd, off, first - off);
	if (!ret && fallocate(m->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)first,
			      (off_t)(last - first)))
		/* shmem punches any range of ours; still, zeroes are zeroes. */
		ret = memory_write_zeroes(m->fd, first, last - first);
	return ret ? ret : memory_write_zeroes(m->fd, last, end - last);
}

/*
 * A READ in user-copy mode: one pwritev() into the request, each run of written pages from the
 * mapping, each run of holes from the zeroes. At most one iovec per page.
 */
static int memory_user_copy_read(const struct memory_disk *m, int cdev_fd, uint64_t uc_off,
				 uint64_t off, uint32_t len)
{
	struct iovec iov[MEMORY_MAX_IO_BYTES / 4096]; /* pages are 4 KiB or more */
	unsigned nr = 0;
	uint32_t done = 0;
	ssize_t n;

	while (done < len) {
		uint64_t at = off + done;
		bool written = memory_page_written(m, at / m->page_bytes);
		uint64_t to_page_end = m->page_bytes - at % m->page_bytes;
		uint32_t run = (uint32_t)(to_page_end < len - done ? to_page_end : len - done);

		/* The run: the rest of this page, then whole pages of the same kind. */
		while (done + run < len &&
		       memory_page_written(m, (at + run) / m->page_bytes) == written) {
			uint32_t more = len - done - run;

			run += more < m->page_bytes ? more : (uint32_t)m->page_bytes;
		}
		if (nr == sizeof(iov) / sizeof(iov[0]))
			return -EIO;
		iov[nr].iov_base = written ? m->map + at : (void *)m->zeroes;
		iov[nr++].iov_len = run;
		done += run;
	}
	do
		n = pwritev(cdev_fd, iov, (int)nr, (off_t)uc_off);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return n == (ssize_t)len ? (int)len : -EIO;
}

/* READ or WRITE in user-copy mode: the request and the disk's pages, one copy. */
static int memory_user_copy(struct backend_queue *bq, struct backend_io *io)
{
	struct memory_disk *m = bq->be->priv;
	ssize_t n;

	if (io->len_bytes > MEMORY_MAX_IO_BYTES)
		return -EIO;
	if (io->op == BACKEND_OP_READ)
		return memory_user_copy_read(m, bq->cdev_fd, io->user_copy_off, io->offset_bytes,
					     io->len_bytes);
	memory_mark(m, io->offset_bytes, io->len_bytes, true);
	do
		n = pread(bq->cdev_fd, m->map + io->offset_bytes, io->len_bytes,
			  (off_t)io->user_copy_off);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return n == (ssize_t)io->len_bytes ? (int)io->len_bytes : -EIO;
}

static int memory_queue_init(struct backend_queue *bq)
{
	const struct memory_disk *m = bq->be->priv;

	return bq->io_mode == IO_MODE_USER_COPY && !m->map ? -ENOMEM : 0;
}

static int memory_submit(struct backend_queue *bq, struct backend_io *io)
{
	const struct backend *be = bq->be;
	struct memory_disk *m = be->priv;
	int ret;

	if (!backend_io_in_range(be, io))
		return -EIO;
	if (be->read_only && io->op != BACKEND_OP_READ && io->op != BACKEND_OP_FLUSH)
		return -EROFS;
	switch (io->op) {
	case BACKEND_OP_READ:
	case BACKEND_OP_WRITE:
		if (bq->io_mode == IO_MODE_USER_COPY)
			return memory_user_copy(bq, io);
		ret = memory_transfer(m->fd, io->op == BACKEND_OP_WRITE, io->buf, io->len_bytes,
				      io->offset_bytes);
		return ret ? ret : (int)io->len_bytes;
	case BACKEND_OP_FLUSH:
		return 0;
	case BACKEND_OP_DISCARD:
	case BACKEND_OP_WRITE_ZEROES:
		ret = memory_zero(m, io->offset_bytes, io->len_bytes);
		return ret ? ret : (int)io->len_bytes;
	}
	return -EOPNOTSUPP;
}

const struct backend_ops backend_memory_ops = {
	.name = "memory",
	.io_modes = IO_MODE_BIT(IO_MODE_USER_COPY),
	.io_mode_order = (const enum dev_io_mode[]){ IO_MODE_USER_COPY, IO_MODE_AUTO },
	.open = memory_open,
	.reopen = memory_reopen,
	.keep = memory_keep,
	.forget = memory_forget,
	.close = memory_close,
	.queue_init = memory_queue_init,
	.submit = memory_submit,
};

int backend_memory_fd(const struct backend *be)
{
	const struct memory_disk *m = be->priv;

	return be->ops == &backend_memory_ops && m ? m->fd : -1;
}
