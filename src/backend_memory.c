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
#include <unistd.h>

#include "backend.h"
#include "mem_store.h"

struct memory_disk {
	int fd; /* the memfd, be->size_bytes long */
	uint64_t page_bytes;
};

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
static int memory_zero(const struct memory_disk *m, uint64_t off, uint64_t len)
{
	uint64_t end = off + len;
	uint64_t first = (off + m->page_bytes - 1) & ~(m->page_bytes - 1);
	uint64_t last = end & ~(m->page_bytes - 1);
	int ret;

	if (first >= last)
		return memory_write_zeroes(m->fd, off, len);
	ret = memory_write_zeroes(m->fd, off, first - off);
	if (!ret && fallocate(m->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)first,
			      (off_t)(last - first)))
		/* shmem punches any range of ours; still, zeroes are zeroes. */
		ret = memory_write_zeroes(m->fd, first, last - first);
	return ret ? ret : memory_write_zeroes(m->fd, last, end - last);
}

static int memory_submit(struct backend_queue *bq, struct backend_io *io)
{
	const struct backend *be = bq->be;
	const struct memory_disk *m = be->priv;
	int ret;

	if (!backend_io_in_range(be, io))
		return -EIO;
	if (be->read_only && io->op != BACKEND_OP_READ && io->op != BACKEND_OP_FLUSH)
		return -EROFS;
	switch (io->op) {
	case BACKEND_OP_READ:
	case BACKEND_OP_WRITE:
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
	.open = memory_open,
	.reopen = memory_reopen,
	.keep = memory_keep,
	.forget = memory_forget,
	.close = memory_close,
	.submit = memory_submit,
};

int backend_memory_fd(const struct backend *be)
{
	const struct memory_disk *m = be->priv;

	return be->ops == &backend_memory_ops && m ? m->fd : -1;
}
