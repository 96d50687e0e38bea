// SPDX-License-Identifier: MIT
/*
 * The memory backend: a RAM disk that costs RAM only for what was written, and gives it back
 * on DISCARD and WRITE_ZEROES. Synchronous: every request finishes inside submit().
 *
 * The disk is one private anonymous mapping of the device's size, made with MAP_NORESERVE.
 * Nothing is allocated up front: a page gets RAM at its first write, and a read of a page
 * never written maps the kernel's shared zero page, so it reads zeroes and costs no RAM.
 * With vm.overcommit_memory 0 (the default) or 1 the kernel does not charge a NORESERVE
 * mapping to the commit limit, so a 1T disk on a machine with far less RAM opens at once.
 * The limits:
 *  - Nothing is reserved either: writing more than RAM and swap can hold ends with the OOM
 *    killer, which may pick the daemon. Size a RAM disk to what the machine can hold.
 *  - vm.overcommit_memory=2 ignores MAP_NORESERVE and charges the whole size, and RLIMIT_AS
 *    (ulimit -v) counts it too; a size beyond the address space never maps. All three refuse
 *    the mapping at open(), with a message naming the size.
 *  - Reading a never-written page costs no data but a page-table entry: reading all of a 1T
 *    disk costs 2G of page tables (8 bytes per 4K page) until DISCARD.
 *
 * Queues run in threads of their own and may touch the mapping at once. memcpy() needs no lock:
 * requests in flight at the same time are either disjoint, or overlap, which the block layer
 * leaves unordered (the result of two racing writes is either's data). madvise() only drops
 * pages that lie wholly inside its own request's range, so it never loses another request's
 * bytes; it takes mmap_lock for reading, which other queues' page faults share.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "backend.h"
#include "parse.h"

struct memory_disk {
	uint8_t *base; /* be->size_bytes long */
	uint64_t page_bytes;
};

static int memory_open(struct backend *be, const struct dev_conf *conf, char *err, size_t err_bytes)
{
	uint32_t block_size = conf->block_size ? conf->block_size : 512;
	char size[SIZE_BYTES_STR_MAX];
	struct memory_disk *m;
	int ret;

	ret = backend_check_geometry(conf->size_bytes, block_size, err, err_bytes);
	if (ret)
		return ret;
	m = calloc(1, sizeof(*m));
	if (!m) {
		snprintf(err, err_bytes, "memory: %s", strerror(ENOMEM));
		return -ENOMEM;
	}
	m->page_bytes = (uint64_t)sysconf(_SC_PAGESIZE);
	if (conf->size_bytes > SIZE_MAX) {
		errno = ENOMEM;
		m->base = MAP_FAILED;
	} else {
		m->base = mmap(NULL, (size_t)conf->size_bytes, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	}
	if (m->base == MAP_FAILED) {
		ret = -errno;
		snprintf(err, err_bytes,
			 "memory: cannot reserve %s of address space: %s "
			 "(vm.overcommit_memory=2 or ulimit -v?)",
			 format_size_bytes(conf->size_bytes, size, sizeof(size)), strerror(-ret));
		free(m);
		return ret;
	}
	/*
	 * Hints; the disk works without them. A transparent huge page would turn a 4K write
	 * into 2M of RAM, and a core dump of the daemon need not hold the disk's contents.
	 */
	madvise(m->base, (size_t)conf->size_bytes, MADV_NOHUGEPAGE);
	madvise(m->base, (size_t)conf->size_bytes, MADV_DONTDUMP);
	be->size_bytes = conf->size_bytes;
	be->block_size = block_size;
	/* No volatile cache: a write is as durable as it will ever be once memcpy() returns. */
	be->caps = BACKEND_CAP_DISCARD | BACKEND_CAP_WRITE_ZEROES;
	be->priv = m;
	return 0;
}

static void memory_close(struct backend *be)
{
	struct memory_disk *m = be->priv;

	munmap(m->base, (size_t)be->size_bytes);
	free(m);
	be->priv = NULL;
}

/*
 * The whole pages inside the range go back to the kernel (the next read maps the zero page);
 * the partial pages at either end hold other bytes too, so those are cleared by hand.
 */
static void memory_zero(const struct memory_disk *m, uint64_t off, uint64_t len)
{
	uint64_t end = off + len;
	uint64_t first = (off + m->page_bytes - 1) & ~(m->page_bytes - 1);
	uint64_t last = end & ~(m->page_bytes - 1);

	if (first >= last) {
		memset(m->base + off, 0, len);
		return;
	}
	memset(m->base + off, 0, first - off);
	/* DONTNEED on private anonymous memory cannot fail on a range we mapped; still, zeroes. */
	if (madvise(m->base + first, last - first, MADV_DONTNEED))
		memset(m->base + first, 0, last - first);
	memset(m->base + last, 0, end - last);
}

static int memory_submit(struct backend_queue *bq, struct backend_io *io)
{
	const struct backend *be = bq->be;
	const struct memory_disk *m = be->priv;

	if (!backend_io_in_range(be, io))
		return -EIO;
	if (be->read_only && io->op != BACKEND_OP_READ && io->op != BACKEND_OP_FLUSH)
		return -EROFS;
	switch (io->op) {
	case BACKEND_OP_READ:
		memcpy(io->buf, m->base + io->offset_bytes, io->len_bytes);
		return (int)io->len_bytes;
	case BACKEND_OP_WRITE:
		memcpy(m->base + io->offset_bytes, io->buf, io->len_bytes);
		return (int)io->len_bytes;
	case BACKEND_OP_FLUSH:
		return 0;
	case BACKEND_OP_DISCARD:
	case BACKEND_OP_WRITE_ZEROES:
		memory_zero(m, io->offset_bytes, io->len_bytes);
		return (int)io->len_bytes;
	}
	return -EOPNOTSUPP;
}

const struct backend_ops backend_memory_ops = {
	.name = "memory",
	.open = memory_open,
	.close = memory_close,
	.submit = memory_submit,
};
