/* SPDX-License-Identifier: MIT */
/*
 * Backends: where a device's bytes live. A backend is an ops table; the queue loop calls it with
 * "read/write/flush/discard/write-zeroes these bytes at this offset" and never knows which one
 * it runs. Backends know nothing of ublk: no descriptors, no commands.
 *
 * A request either finishes inside submit() (the return value is its result), or the backend
 * queues SQEs on the queue's ring (backend_get_sqe() below) and returns BACKEND_IO_QUEUED; each of
 * their CQEs then comes back through complete(), which finishes the request or queues more
 * (a short read or write continues from where it stopped).
 *
 * Threads: open(), reopen() and keep() run in the daemon's control thread, close() and
 * forget() in it or in a device's teardown thread; queue_init(), submit(), complete() and
 * queue_exit() in one queue thread each, concurrently with other queues.
 */
#ifndef UBLKD_BACKEND_H
#define UBLKD_BACKEND_H

#include <stdbool.h>
#include <stdint.h>

#include "dev_conf.h"
#include "uring.h"

enum backend_op {
	BACKEND_OP_READ,
	BACKEND_OP_WRITE,
	BACKEND_OP_FLUSH,
	BACKEND_OP_DISCARD,
	BACKEND_OP_WRITE_ZEROES,
};

/* What a backend can do beyond read and write; set by open(), turned into ublk params. */
#define BACKEND_CAP_FLUSH (1U << 0)	   /* has a volatile cache: FLUSH is meaningful */
#define BACKEND_CAP_FUA (1U << 1)	   /* honours io->fua on writes */
#define BACKEND_CAP_DISCARD (1U << 2)	   /* DISCARD frees space; reads then return zeroes */
#define BACKEND_CAP_WRITE_ZEROES (1U << 3) /* WRITE_ZEROES without a data buffer */

/* The largest READ or WRITE a backend is given: 512 KiB, the kernel's default too. */
#define BACKEND_MAX_IO_BYTES (512U * 1024)

/* submit()/complete(): the request goes on; its end comes through complete(). */
#define BACKEND_IO_QUEUED 1

/* SQEs of a backend carry this bit in user_data, with the request's tag in the low 16 bits. */
#define BACKEND_USER_DATA_BIT (1ULL << 63)
/* A backend SQE whose CQE belongs to no request: tag 0xffff is past any queue's depth. */
#define BACKEND_USER_DATA_NO_IO (BACKEND_USER_DATA_BIT | 0xffffULL)

struct backend_io {
	enum backend_op op;
	bool fua;     /* WRITE: durable when it completes */
	uint16_t tag; /* the request's slot in its queue; unique among requests in flight */
	uint64_t offset_bytes; /* within the device */
	uint32_t len_bytes;    /* 0 for FLUSH */
	/*
	 * READ/WRITE data, len_bytes long, page-aligned, in copy mode; NULL in the other modes
	 * (see backend_queue.io_mode for where the bytes are then).
	 */
	void *buf;
	bool buf_fixed; /* copy mode: buf..buf+len_bytes is in the ring's registered buffer tag */
	uint32_t done_bytes;	/* progress of a request that completes in parts (backend-owned) */
	uint64_t user_copy_off; /* user copy: where on cdev_fd the request's first byte is */
};

struct backend;

/* Registered file slots of a queue ring: the device's /dev/ublkcN, then the backend's io_fd. */
#define BACKEND_FIXED_CDEV 0
#define BACKEND_FIXED_IO_FD 1

/*
 * One per queue thread: the ring a backend queues on, and its per-queue state.
 *
 * Where a request's bytes are, by io_mode (one of the backend's io_modes, never AUTO/BATCH):
 *   COPY       io->buf; with io->buf_fixed it also lies in registered buffer io->tag of the
 *              ring, so READ_FIXED/WRITE_FIXED may use it (at io->buf, not from 0)
 *   USER_COPY  in the kernel: pread()/pwrite() cdev_fd at io->user_copy_off
 *   ZERO_COPY  registered buffer io->tag of the ring: READ_FIXED/WRITE_FIXED with address 0
 *              at the request's first byte
 */
struct backend_queue {
	struct backend *be;
	struct uring *ring; /* the queue's ring; NULL in tests of synchronous backends */
	uint16_t q_id;
	enum dev_io_mode io_mode;
	int cdev_fd;	  /* /dev/ublkcN */
	bool fixed_files; /* the ring has BACKEND_FIXED_* registered: SQEs use the slots */
	void *priv;
};

struct backend_ops {
	const char *name;
	/* IO_MODE_BIT()s of the modes beyond COPY that it serves, and io_mode = auto's choice
	 * among them, best first, IO_MODE_AUTO-terminated (copy when none is offered) */
	unsigned io_modes;
	const enum dev_io_mode *io_mode_order;
	/*
	 * Copy mode: it reads and writes io->buf with ring SQEs, so the queue registers each
	 * tag's buffer (as far as requests have used it) and sets io->buf_fixed: a registered
	 * buffer spares the kernel pinning its pages for each I/O.
	 */
	bool fixed_bufs;
	/*
	 * Opens what conf describes and fills be->size_bytes, be->block_size (conf's, or the
	 * backing device's when conf gives none), be->caps. -errno with a message in err that
	 * names the value at fault (a path, a size); nothing is left open on failure.
	 */
	int (*open)(struct backend *be, const struct dev_conf *conf, char *err, size_t err_bytes);
	/*
	 * Optional: open() for a device adopted from a dead server, finding the bytes that keep()
	 * kept under dev_id; -ENOENT when there are none. Without it, adoption just opens.
	 */
	int (*reopen)(struct backend *be, const struct dev_conf *conf, uint32_t dev_id, char *err,
		      size_t err_bytes);
	/*
	 * Optional: the kernel gave the open device dev_id; what only this process holds (a RAM
	 * disk's memory) is made to outlive it, for reopen() in the next server.
	 */
	int (*keep)(struct backend *be, uint32_t dev_id, char *err, size_t err_bytes);
	/* Optional: device dev_id was deleted; what keep() kept goes. Any process, none open. */
	void (*forget)(uint32_t dev_id);
	void (*close)(struct backend *be);
	int (*queue_init)(struct backend_queue *bq);  /* optional */
	void (*queue_exit)(struct backend_queue *bq); /* optional */
	/* Bytes done (len_bytes for a full request), -errno, or BACKEND_IO_QUEUED. */
	int (*submit)(struct backend_queue *bq, struct backend_io *io);
	/* A CQE for io: bytes done for the request, -errno, or BACKEND_IO_QUEUED. Optional. */
	int (*complete)(struct backend_queue *bq, struct backend_io *io, int cqe_res);
};

struct backend {
	const struct backend_ops *ops;
	/* The fd its SQEs read and write (a file, a memfd), registered with each queue ring; -1 */
	int io_fd;
	uint64_t size_bytes;
	uint32_t block_size;
	uint32_t caps; /* BACKEND_CAP_* */
	bool read_only;
	void *priv;
};

extern const struct backend_ops backend_null_ops;
extern const struct backend_ops backend_memory_ops;
extern const struct backend_ops backend_file_ops;

/* A memory device's memfd, for an upgrade to hand over across exec; -1 for other backends. */
int backend_memory_fd(const struct backend *be);

/* The ops for a kind; NULL for BACKEND_NONE. */
const struct backend_ops *backend_ops_for(enum backend_kind kind);

/*
 * For backends' open(): what ublk can express, a block of 512 to 4096 bytes (a power of two)
 * and a size of one or more whole blocks. -EINVAL with a message naming the value otherwise.
 */
int backend_check_geometry(uint64_t size_bytes, uint32_t block_size, char *err, size_t err_bytes);

/* Opens conf's backend into *be (zeroed first; zeroed again on failure). */
int backend_open(struct backend *be, const struct dev_conf *conf, char *err, size_t err_bytes);
/* backend_open() for device dev_id adopted from a dead server: reopen(), or else open(). */
int backend_reopen(struct backend *be, const struct dev_conf *conf, uint32_t dev_id, char *err,
		   size_t err_bytes);
/* Once the kernel gave the device its id: keep() if the backend has one, else 0. */
int backend_keep(struct backend *be, uint32_t dev_id, char *err, size_t err_bytes);
/* After device dev_id of this kind was deleted: forget() if the backend has one. */
void backend_forget(enum backend_kind kind, uint32_t dev_id);
void backend_close(struct backend *be);

/*
 * True when io's bytes lie inside the device (FLUSH has none). The queue loop checks every
 * request; backends check again, so that a bad range costs an error, never memory.
 */
static inline bool backend_io_in_range(const struct backend *be, const struct backend_io *io)
{
	return io->op == BACKEND_OP_FLUSH || (io->offset_bytes <= be->size_bytes &&
					      io->len_bytes <= be->size_bytes - io->offset_bytes);
}

/*
 * A backend's SQE: take one with backend_get_sqe() (NULL if the SQ is full), prepare it with a
 * uring_prep_*() helper, which clears user_data, then mark it with backend_sqe_set_io() so
 * that its CQE comes back to complete(io).
 */
static inline struct io_uring_sqe *backend_get_sqe(struct backend_queue *bq)
{
	return uring_get_sqe(bq->ring);
}

static inline void backend_sqe_set_io(struct io_uring_sqe *sqe, const struct backend_io *io)
{
	uring_sqe_set_data64(sqe, BACKEND_USER_DATA_BIT | io->tag);
}

/* An SQE prepared on be->io_fd goes through the ring's registered slot instead, if there is one. */
static inline void backend_sqe_use_fixed_file(struct io_uring_sqe *sqe,
					      const struct backend_queue *bq)
{
	if (bq->fixed_files) {
		sqe->fd = BACKEND_FIXED_IO_FD;
		sqe->flags |= IOSQE_FIXED_FILE;
	}
}

#endif /* UBLKD_BACKEND_H */
