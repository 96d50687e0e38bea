/* SPDX-License-Identifier: MIT */
/*
 * The data plane: one pthread per hardware queue, pinned to one CPU, with its own ring and its
 * read-only view of the queue's I/O descriptors. The thread fetches every tag, then loops: reap
 * completions in a batch, serve each request through the backend, and send everything it
 * queued (commits, backend I/O) in one io_uring_enter.
 *
 * The ring has the char device and the backend's fd as fixed files and its own fd registered.
 * How data moves is the device's io_mode: copy mode gives each tag a page-aligned buffer that
 * the kernel copies to and from; user copy has the backend move it on /dev/ublkcN; zero copy
 * has the kernel register each request's pages in the ring's buffer table at the tag's slot.
 * Batch mode (src/queue_batch.c) sends many tags per command, with data as in one of those.
 */
#ifndef UBLKD_QUEUE_H
#define UBLKD_QUEUE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "abi/ublk.h"
#include "backend.h"
#include "fault.h"
#include "uring.h"

/* Where a tag is: the kernel holds its FETCH/COMMIT_AND_FETCH, or the backend serves it. */
enum queue_io_state {
	QUEUE_IO_IDLE,	     /* not fetched yet, or aborted: the kernel will send nothing */
	QUEUE_IO_IN_KERNEL,  /* a fetch command waits for the next request */
	QUEUE_IO_IN_BACKEND, /* a request is being served */
};

struct queue_io {
	enum queue_io_state state;
	/* copy mode: buf_bytes, page-aligned, the kernel copies request data here; else NULL */
	void *buf;
	/* zero copy: the kernel could not register the request's pages, we did (NEED_REG_BUF) */
	bool registered_by_us;
	/* copy mode with fixed_bufs: how much of buf, from its start, is registered as slot tag */
	uint32_t fixed_bytes;
	/* an injected fault holds it (QUEUE_USER_DATA_DELAY timeout) until delay_ts has passed */
	bool delayed;
	int fault_error; /* then completes it with this errno; 0: serves it */
	struct io_uring_kernel_timespec delay_ts;
	struct backend_io bio;
};

struct queue_conf {
	uint32_t dev_id;
	uint16_t q_id;
	uint16_t depth;
	uint32_t buf_bytes;   /* per tag: the device's max_io_buf_bytes */
	uint64_t dev_sectors; /* the device's size in 512-byte sectors */
	bool read_only;
	int cdev_fd;		  /* /dev/ublkcN, shared by the device's queues */
	enum dev_io_mode io_mode; /* how the device's data moves: copy, user or zero copy */
	bool batch;		  /* UBLK_F_BATCH_IO: many tags per command (queue_batch.c) */
	int cpu;		  /* the CPU the thread runs on; -1: not pinned */
	struct backend *be;
	struct fault *fault; /* the device's injected faults (testing); NULL: none */
};

struct queue_batch;

struct ublk_queue {
	struct queue_conf conf;
	struct queue_batch *batch;	     /* conf.batch: its commands' buffers and state */
	const struct ublksrv_io_desc *descs; /* read-only mapping of the kernel's array */
	size_t descs_bytes;
	struct uring ring;
	struct queue_io *ios;
	void *bufs; /* copy mode: one mapping for every tag's buffer; else NULL */
	size_t bufs_bytes;
	struct backend_queue bq;
	int quit_fd;	       /* eventfd: a write wakes the thread to read the two below */
	bool quit_requested;   /* quit at once (atomic) */
	bool cut_delays;       /* end injected delays now (atomic) */
	uint64_t quit_value;   /* where the ring's read of quit_fd lands */
	bool quitting;	       /* quit_fd fired: serve nothing new, end once the backend is idle */
	unsigned nr_in_kernel; /* per-tag fetches; in batch mode, fetch and commit commands */
	unsigned nr_in_backend;
	bool fixed_files;	 /* cdev and backend fd are slots BACKEND_FIXED_* of the ring */
	bool fixed_bufs;	 /* copy mode: a slot per tag, its buffer registered as used */
	uint16_t auto_buf_slot0; /* zero copy: tag's slot is this + tag (0; tests move it) */
	pthread_t thread;
	pid_t tid;

	/* start handshake: the thread reports once every FETCH_REQ is in, or why it failed */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool start_reported;
	int start_result;
	char err[128]; /* what failed in the thread: "pin to CPU 3: Invalid argument" */
};

/*
 * Starts the queue thread and waits until it has fetched every tag (0) or failed (-errno,
 * q->err says what; the thread is joined and nothing is left). The descriptor array is mapped
 * here; all mappings of a device must come from its one server process.
 */
int queue_start(struct ublk_queue *q, const struct queue_conf *conf);
/* Tells the thread to quit, joins it and frees everything; safe after a failed start. */
void queue_stop(struct ublk_queue *q);
/*
 * From any thread: the queue ends its injected delays now (each request then fails or is
 * served as it would have been), so that a STOP_DEV or QUIESCE_DEV, which wait for the
 * requests in flight, do not wait them out.
 */
void queue_cut_delays(struct ublk_queue *q);

/* user_data of the queue's own commands: tag in bits 0-15, ublk command number in 16-23. */
#define QUEUE_USER_DATA_QUIT (1ULL << 62)
/* UNREGISTER_IO_BUF before a commit: its CQE comes only when it fails (the tag is in 0-15) */
#define QUEUE_USER_DATA_UNREG (1ULL << 61)
/* Batch commands (queue_batch.c): command number in bits 16-23, its buffer in 0-15 */
#define QUEUE_USER_DATA_BATCH (1ULL << 60)
/* An injected delay's timeout (the tag is in 0-15), and the cancel of one when quitting */
#define QUEUE_USER_DATA_DELAY (1ULL << 59)
#define QUEUE_USER_DATA_DELAY_CANCEL (QUEUE_USER_DATA_DELAY | 0xffffULL)

/* A request arrived for tag: check it, hand it to the backend, commit if it finished. */
void queue_serve(struct ublk_queue *q, uint16_t tag);

/*
 * Batch mode (src/queue_batch.c), called by the queue thread only. init() allocates and
 * registers what the commands need (q->err says why it failed); start() queues the PREP of
 * every tag and the multishot fetches; commit() adds a tag's result to the next COMMIT, which
 * flush() sends once per turn, before the thread enters the kernel; handle_cqe() takes the
 * CQEs of all three; idle() says nothing waits to be sent.
 */
int queue_batch_init(struct ublk_queue *q);
int queue_batch_start(struct ublk_queue *q);
void queue_batch_commit(struct ublk_queue *q, uint16_t tag, int result);
int queue_batch_flush(struct ublk_queue *q);
void queue_batch_handle_cqe(struct ublk_queue *q, const struct io_uring_cqe *cqe);
bool queue_batch_idle(const struct ublk_queue *q);
void queue_batch_exit(struct ublk_queue *q);

/* Whether the queue thread's loop may end: nothing in the backend, nothing left to send. */
bool queue_may_exit(const struct ublk_queue *q);

/* Checks a descriptor against the device; 0, or the -errno to complete the request with. */
int queue_check_desc(const struct queue_conf *conf, const struct ublksrv_io_desc *iod,
		     struct backend_io *bio);

#endif /* UBLKD_QUEUE_H */
