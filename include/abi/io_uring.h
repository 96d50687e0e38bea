/* SPDX-License-Identifier: MIT */
/*
 * The io_uring kernel ABI that ublkd uses, written out here so that the build never depends on
 * the host's io_uring UAPI header (Debian 12's is from 6.1 and lacks half of this). Values and
 * layouts are the kernel's; the _Static_asserts pin every offset the kernel reads or writes.
 */
#ifndef UBLKD_ABI_IO_URING_H
#define UBLKD_ABI_IO_URING_H

#include <stddef.h>
#include <stdint.h>

/* One submission queue entry; 128 bytes apart when the ring is set up with SQE128. */
struct io_uring_sqe {
	uint8_t opcode;
	uint8_t flags; /* IOSQE_* */
	uint16_t ioprio;
	int32_t fd;
	union {
		uint64_t off;
		uint64_t addr2;
		struct {
			uint32_t cmd_op; /* IORING_OP_URING_CMD: the driver's command */
			uint32_t __pad1;
		};
	};
	union {
		uint64_t addr;
		uint64_t splice_off_in;
	};
	uint32_t len;
	union {
		int32_t rw_flags;
		uint32_t fsync_flags;
		uint32_t timeout_flags;
		uint32_t uring_cmd_flags;
		uint32_t op_flags;
	};
	uint64_t user_data;
	union {
		uint16_t buf_index;
		uint16_t buf_group;
	} __attribute__((packed));
	uint16_t personality;
	union {
		int32_t splice_fd_in;
		uint32_t file_index;
	};
	union {
		struct {
			uint64_t addr3;
			uint64_t __pad2[1];
		};
		/* IORING_OP_URING_CMD payload: 16 bytes here, 80 with SQE128. */
		uint8_t cmd[0];
	};
};

#define IO_URING_SQE_CMD_BYTES 16
#define IO_URING_SQE128_CMD_BYTES 80

_Static_assert(sizeof(struct io_uring_sqe) == 64, "sqe size");
_Static_assert(offsetof(struct io_uring_sqe, fd) == 4, "sqe fd");
_Static_assert(offsetof(struct io_uring_sqe, off) == 8, "sqe off");
_Static_assert(offsetof(struct io_uring_sqe, cmd_op) == 8, "sqe cmd_op");
_Static_assert(offsetof(struct io_uring_sqe, addr) == 16, "sqe addr");
_Static_assert(offsetof(struct io_uring_sqe, len) == 24, "sqe len");
_Static_assert(offsetof(struct io_uring_sqe, rw_flags) == 28, "sqe rw_flags");
_Static_assert(offsetof(struct io_uring_sqe, user_data) == 32, "sqe user_data");
_Static_assert(offsetof(struct io_uring_sqe, buf_index) == 40, "sqe buf_index");
_Static_assert(offsetof(struct io_uring_sqe, personality) == 42, "sqe personality");
_Static_assert(offsetof(struct io_uring_sqe, file_index) == 44, "sqe file_index");
_Static_assert(offsetof(struct io_uring_sqe, addr3) == 48, "sqe addr3");
_Static_assert(offsetof(struct io_uring_sqe, cmd) == 48, "sqe cmd");

/* sqe->flags */
#define IOSQE_FIXED_FILE (1U << 0)
#define IOSQE_IO_DRAIN (1U << 1)
#define IOSQE_IO_LINK (1U << 2)
#define IOSQE_IO_HARDLINK (1U << 3)
#define IOSQE_ASYNC (1U << 4)
#define IOSQE_BUFFER_SELECT (1U << 5)
#define IOSQE_CQE_SKIP_SUCCESS (1U << 6)

/* io_uring_setup() flags */
#define IORING_SETUP_IOPOLL (1U << 0)
#define IORING_SETUP_SQPOLL (1U << 1)
#define IORING_SETUP_SQ_AFF (1U << 2)
#define IORING_SETUP_CQSIZE (1U << 3)
#define IORING_SETUP_CLAMP (1U << 4)
#define IORING_SETUP_ATTACH_WQ (1U << 5)
#define IORING_SETUP_R_DISABLED (1U << 6)
#define IORING_SETUP_SUBMIT_ALL (1U << 7)
#define IORING_SETUP_COOP_TASKRUN (1U << 8)
#define IORING_SETUP_TASKRUN_FLAG (1U << 9)
#define IORING_SETUP_SQE128 (1U << 10)
#define IORING_SETUP_CQE32 (1U << 11)
#define IORING_SETUP_SINGLE_ISSUER (1U << 12)
#define IORING_SETUP_DEFER_TASKRUN (1U << 13)
#define IORING_SETUP_NO_MMAP (1U << 14)
#define IORING_SETUP_REGISTERED_FD_ONLY (1U << 15)
#define IORING_SETUP_NO_SQARRAY (1U << 16)

enum io_uring_op {
	IORING_OP_NOP = 0,
	IORING_OP_READV = 1,
	IORING_OP_WRITEV = 2,
	IORING_OP_FSYNC = 3,
	IORING_OP_READ_FIXED = 4,
	IORING_OP_WRITE_FIXED = 5,
	IORING_OP_POLL_ADD = 6,
	IORING_OP_POLL_REMOVE = 7,
	IORING_OP_SYNC_FILE_RANGE = 8,
	IORING_OP_SENDMSG = 9,
	IORING_OP_RECVMSG = 10,
	IORING_OP_TIMEOUT = 11,
	IORING_OP_TIMEOUT_REMOVE = 12,
	IORING_OP_ACCEPT = 13,
	IORING_OP_ASYNC_CANCEL = 14,
	IORING_OP_LINK_TIMEOUT = 15,
	IORING_OP_CONNECT = 16,
	IORING_OP_FALLOCATE = 17,
	IORING_OP_OPENAT = 18,
	IORING_OP_CLOSE = 19,
	IORING_OP_FILES_UPDATE = 20,
	IORING_OP_STATX = 21,
	IORING_OP_READ = 22,
	IORING_OP_WRITE = 23,
	IORING_OP_FADVISE = 24,
	IORING_OP_MADVISE = 25,
	IORING_OP_SEND = 26,
	IORING_OP_RECV = 27,
	IORING_OP_URING_CMD = 46,
	IORING_OP_LAST_KNOWN = 64, /* probe arrays are sized for at least this many */
};

/* sqe->fsync_flags */
#define IORING_FSYNC_DATASYNC (1U << 0)

/* sqe->timeout_flags: an expired timeout completes as a success and keeps its links going */
#define IORING_TIMEOUT_ETIME_SUCCESS (1U << 5)

/* sqe->uring_cmd_flags */
#define IORING_URING_CMD_FIXED (1U << 0)
#define IORING_URING_CMD_MULTISHOT (1U << 1) /* one SQE, CQEs until one lacks F_MORE */

/* Socket commands carried by IORING_OP_URING_CMD (cmd_op) on a socket fd. */
#define SOCKET_URING_OP_SIOCINQ 0
#define SOCKET_URING_OP_SIOCOUTQ 1

/* One completion queue entry; 32 bytes apart when the ring is set up with CQE32. */
struct io_uring_cqe {
	uint64_t user_data;
	int32_t res;
	uint32_t flags; /* IORING_CQE_F_* */
	uint64_t big_cqe[];
};
_Static_assert(sizeof(struct io_uring_cqe) == 16, "cqe size");

#define IORING_CQE_F_BUFFER (1U << 0)
#define IORING_CQE_F_MORE (1U << 1)
#define IORING_CQE_F_BUF_MORE (1U << 4) /* IOU_PBUF_RING_INC: the buffer has room left */

/* mmap offsets of the three ring regions */
#define IORING_OFF_SQ_RING 0ULL
#define IORING_OFF_CQ_RING 0x8000000ULL
#define IORING_OFF_SQES 0x10000000ULL

struct io_sqring_offsets {
	uint32_t head;
	uint32_t tail;
	uint32_t ring_mask;
	uint32_t ring_entries;
	uint32_t flags;
	uint32_t dropped;
	uint32_t array;
	uint32_t resv1;
	uint64_t user_addr;
};
_Static_assert(sizeof(struct io_sqring_offsets) == 40, "sq offsets");

/* sq_ring->flags, written by the kernel */
#define IORING_SQ_NEED_WAKEUP (1U << 0) /* SQPOLL thread sleeps: enter with SQ_WAKEUP */
#define IORING_SQ_CQ_OVERFLOW (1U << 1) /* completions wait in the kernel's overflow list */
#define IORING_SQ_TASKRUN (1U << 2)	/* task work pending: enter to run it */

struct io_cqring_offsets {
	uint32_t head;
	uint32_t tail;
	uint32_t ring_mask;
	uint32_t ring_entries;
	uint32_t overflow;
	uint32_t cqes;
	uint32_t flags;
	uint32_t resv1;
	uint64_t user_addr;
};
_Static_assert(sizeof(struct io_cqring_offsets) == 40, "cq offsets");

struct io_uring_params {
	uint32_t sq_entries;
	uint32_t cq_entries;
	uint32_t flags;
	uint32_t sq_thread_cpu;
	uint32_t sq_thread_idle;
	uint32_t features;
	uint32_t wq_fd;
	uint32_t resv[3];
	struct io_sqring_offsets sq_off;
	struct io_cqring_offsets cq_off;
};
_Static_assert(sizeof(struct io_uring_params) == 120, "params size");
_Static_assert(offsetof(struct io_uring_params, sq_off) == 40, "params sq_off");
_Static_assert(offsetof(struct io_uring_params, cq_off) == 80, "params cq_off");

/* io_uring_params.features */
#define IORING_FEAT_SINGLE_MMAP (1U << 0)
#define IORING_FEAT_NODROP (1U << 1)
#define IORING_FEAT_SUBMIT_STABLE (1U << 2)
#define IORING_FEAT_RW_CUR_POS (1U << 3)
#define IORING_FEAT_CUR_PERSONALITY (1U << 4)
#define IORING_FEAT_FAST_POLL (1U << 5)
#define IORING_FEAT_POLL_32BITS (1U << 6)
#define IORING_FEAT_SQPOLL_NONFIXED (1U << 7)
#define IORING_FEAT_EXT_ARG (1U << 8)
#define IORING_FEAT_NATIVE_WORKERS (1U << 9)
#define IORING_FEAT_RSRC_TAGS (1U << 10)
#define IORING_FEAT_CQE_SKIP (1U << 11)
#define IORING_FEAT_LINKED_FILE (1U << 12)
#define IORING_FEAT_REG_REG_RING (1U << 13)

/* io_uring_enter() flags */
#define IORING_ENTER_GETEVENTS (1U << 0)
#define IORING_ENTER_SQ_WAKEUP (1U << 1)
#define IORING_ENTER_SQ_WAIT (1U << 2)
#define IORING_ENTER_EXT_ARG (1U << 3)
#define IORING_ENTER_REGISTERED_RING (1U << 4)

/* IORING_ENTER_EXT_ARG argument: a wait timeout without a TIMEOUT SQE */
struct io_uring_getevents_arg {
	uint64_t sigmask;
	uint32_t sigmask_sz;
	uint32_t min_wait_usec;
	uint64_t ts; /* struct __kernel_timespec * */
};
_Static_assert(sizeof(struct io_uring_getevents_arg) == 24, "getevents arg");

struct io_uring_kernel_timespec {
	int64_t tv_sec;
	long long tv_nsec;
};
_Static_assert(sizeof(struct io_uring_kernel_timespec) == 16, "kernel timespec");

/* io_uring_register() opcodes */
enum io_uring_register_op {
	IORING_REGISTER_BUFFERS = 0,
	IORING_UNREGISTER_BUFFERS = 1,
	IORING_REGISTER_FILES = 2,
	IORING_UNREGISTER_FILES = 3,
	IORING_REGISTER_PROBE = 8,
	IORING_REGISTER_BUFFERS2 = 15,	     /* 5.13: struct io_uring_rsrc_register */
	IORING_REGISTER_BUFFERS_UPDATE = 16, /* 5.13: struct io_uring_rsrc_update2 */
	IORING_REGISTER_RING_FDS = 20,
	IORING_UNREGISTER_RING_FDS = 21,
	IORING_REGISTER_PBUF_RING = 22,
	IORING_UNREGISTER_PBUF_RING = 23,
};

struct io_uring_probe_op {
	uint8_t op;
	uint8_t resv;
	uint16_t flags; /* IO_URING_OP_SUPPORTED */
	uint32_t resv2;
};
_Static_assert(sizeof(struct io_uring_probe_op) == 8, "probe op");

struct io_uring_probe {
	uint8_t last_op; /* highest opcode the kernel knows */
	uint8_t ops_len; /* entries filled in ops[] */
	uint16_t resv;
	uint32_t resv2[3];
	struct io_uring_probe_op ops[];
};
_Static_assert(sizeof(struct io_uring_probe) == 16, "probe header");

#define IO_URING_OP_SUPPORTED (1U << 0)

/* IORING_REGISTER_RING_FDS entry */
struct io_uring_rsrc_update {
	uint32_t offset; /* slot, or -1 to let the kernel choose; written back */
	uint32_t resv;
	uint64_t data; /* the ring fd */
};
_Static_assert(sizeof(struct io_uring_rsrc_update) == 16, "rsrc update");

/* IORING_REGISTER_BUFFERS2 */
struct io_uring_rsrc_register {
	uint32_t nr;
	uint32_t flags; /* IORING_RSRC_REGISTER_SPARSE */
	uint64_t resv2;
	uint64_t data; /* struct iovec *, none when sparse */
	uint64_t tags;
};
_Static_assert(sizeof(struct io_uring_rsrc_register) == 32, "rsrc register");

/* 5.19: nr empty slots, for buffers the kernel (a driver) registers into later */
#define IORING_RSRC_REGISTER_SPARSE (1U << 0)

/* IORING_REGISTER_BUFFERS_UPDATE: replace nr slots from offset with the iovecs at data */
struct io_uring_rsrc_update2 {
	uint32_t offset;
	uint32_t resv;
	uint64_t data; /* struct iovec * */
	uint64_t tags;
	uint32_t nr;
	uint32_t resv2;
};
_Static_assert(sizeof(struct io_uring_rsrc_update2) == 32, "rsrc update2");

/*
 * A provided-buffer ring (IORING_REGISTER_PBUF_RING): ring_entries of struct io_uring_buf, in
 * page-aligned memory of ours; the tail we advance overlays the first entry's resv.
 */
struct io_uring_buf {
	uint64_t addr;
	uint32_t len;
	uint16_t bid;
	uint16_t resv; /* in entry 0: the ring's tail */
};
_Static_assert(sizeof(struct io_uring_buf) == 16, "buf");

struct io_uring_buf_reg {
	uint64_t ring_addr;
	uint32_t ring_entries; /* a power of two */
	uint16_t bgid;
	uint16_t flags; /* IOU_PBUF_RING_* */
	uint64_t resv[3];
};
_Static_assert(sizeof(struct io_uring_buf_reg) == 40, "buf reg");

/* 6.12: a buffer is used up in pieces, each CQE taking the next bytes, not a buffer each */
#define IOU_PBUF_RING_INC 2U

#endif /* UBLKD_ABI_IO_URING_H */
