/* SPDX-License-Identifier: MIT */
/*
 * The ublk kernel ABI (Documentation/block/ublk.rst and the kernel's ublk_cmd UAPI header) as
 * ublkd uses it, kept here so the build works on hosts whose headers predate ublk or lack newer
 * bits.
 * Only the ioctl-encoded UBLK_U_* commands are defined: 6.12 answers the legacy GET_FEATURES
 * opcode with -ENODEV, and every kernel since 6.4 accepts the encoded ones.
 */
#ifndef UBLKD_ABI_UBLK_H
#define UBLKD_ABI_UBLK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/ioctl.h>

/* Shipped in the SQE's command area (io_uring_sqe.cmd) of a SQE128 ring on /dev/ublk-control. */
struct ublksrv_ctrl_cmd {
	uint32_t dev_id;       /* -1 in ADD_DEV: let the kernel choose */
	uint16_t queue_id;     /* -1 unless the command is about one queue */
	uint16_t len;	       /* bytes at addr */
	uint64_t addr;	       /* command-specific in/out buffer */
	uint64_t data[1];      /* inline argument: pid, queue id, sectors, timeout_ms */
	uint16_t dev_path_len; /* unprivileged devices and GET_DEV_INFO2 only */
	uint16_t pad;
	uint32_t reserved;
};
_Static_assert(sizeof(struct ublksrv_ctrl_cmd) == 32, "ctrl cmd size");
_Static_assert(offsetof(struct ublksrv_ctrl_cmd, addr) == 8, "ctrl cmd addr");
_Static_assert(offsetof(struct ublksrv_ctrl_cmd, data) == 16, "ctrl cmd data");
_Static_assert(offsetof(struct ublksrv_ctrl_cmd, dev_path_len) == 24, "ctrl cmd path len");

struct ublksrv_ctrl_dev_info {
	uint16_t nr_hw_queues;
	uint16_t queue_depth;
	uint16_t state; /* UBLK_S_DEV_* */
	uint16_t pad0;
	uint32_t max_io_buf_bytes;
	uint32_t dev_id;
	int32_t ublksrv_pid;
	uint32_t pad1;
	uint64_t flags;		/* UBLK_F_* */
	uint64_t ublksrv_flags; /* opaque to the kernel: the server's own use */
	uint32_t owner_uid;
	uint32_t owner_gid;
	uint64_t reserved1;
	uint64_t reserved2;
};
_Static_assert(sizeof(struct ublksrv_ctrl_dev_info) == 64, "dev info size");
_Static_assert(offsetof(struct ublksrv_ctrl_dev_info, max_io_buf_bytes) == 8, "dev info buf");
_Static_assert(offsetof(struct ublksrv_ctrl_dev_info, ublksrv_pid) == 16, "dev info pid");
_Static_assert(offsetof(struct ublksrv_ctrl_dev_info, flags) == 24, "dev info flags");
_Static_assert(offsetof(struct ublksrv_ctrl_dev_info, owner_uid) == 40, "dev info uid");

/* Control command numbers (the low byte of the ioctl encoding). */
#define UBLK_CMD_GET_QUEUE_AFFINITY 0x01
#define UBLK_CMD_GET_DEV_INFO 0x02
#define UBLK_CMD_ADD_DEV 0x04
#define UBLK_CMD_DEL_DEV 0x05
#define UBLK_CMD_START_DEV 0x06
#define UBLK_CMD_STOP_DEV 0x07
#define UBLK_CMD_SET_PARAMS 0x08
#define UBLK_CMD_GET_PARAMS 0x09
#define UBLK_CMD_START_USER_RECOVERY 0x10
#define UBLK_CMD_END_USER_RECOVERY 0x11
#define UBLK_CMD_GET_DEV_INFO2 0x12
#define UBLK_CMD_GET_FEATURES 0x13
#define UBLK_CMD_DEL_DEV_ASYNC 0x14 /* 6.9 */
#define UBLK_CMD_UPDATE_SIZE 0x15   /* 6.16 */
#define UBLK_CMD_QUIESCE_DEV 0x16   /* 6.16 */
#define UBLK_CMD_TRY_STOP_DEV 0x17  /* 7.0 */

#define UBLK_U_CMD_GET_QUEUE_AFFINITY \
	_IOR('u', UBLK_CMD_GET_QUEUE_AFFINITY, struct ublksrv_ctrl_cmd)
#define UBLK_U_CMD_GET_DEV_INFO _IOR('u', UBLK_CMD_GET_DEV_INFO, struct ublksrv_ctrl_cmd)
#define UBLK_U_CMD_ADD_DEV _IOWR('u', UBLK_CMD_ADD_DEV, struct ublksrv_ctrl_cmd)
#define UBLK_U_CMD_DEL_DEV _IOWR('u', UBLK_CMD_DEL_DEV, struct ublksrv_ctrl_cmd)
#define UBLK_U_CMD_START_DEV _IOWR('u', UBLK_CMD_START_DEV, struct ublksrv_ctrl_cmd)
#define UBLK_U_CMD_STOP_DEV _IOWR('u', UBLK_CMD_STOP_DEV, struct ublksrv_ctrl_cmd)
#define UBLK_U_CMD_SET_PARAMS _IOWR('u', UBLK_CMD_SET_PARAMS, struct ublksrv_ctrl_cmd)
#define UBLK_U_CMD_GET_PARAMS _IOR('u', UBLK_CMD_GET_PARAMS, struct ublksrv_ctrl_cmd)
#define UBLK_U_CMD_START_USER_RECOVERY \
	_IOWR('u', UBLK_CMD_START_USER_RECOVERY, struct ublksrv_ctrl_cmd)
#define UBLK_U_CMD_END_USER_RECOVERY _IOWR('u', UBLK_CMD_END_USER_RECOVERY, struct ublksrv_ctrl_cmd)
#define UBLK_U_CMD_GET_DEV_INFO2 _IOR('u', UBLK_CMD_GET_DEV_INFO2, struct ublksrv_ctrl_cmd)
#define UBLK_U_CMD_GET_FEATURES _IOR('u', UBLK_CMD_GET_FEATURES, struct ublksrv_ctrl_cmd)
#define UBLK_U_CMD_DEL_DEV_ASYNC _IOR('u', UBLK_CMD_DEL_DEV_ASYNC, struct ublksrv_ctrl_cmd)
#define UBLK_U_CMD_UPDATE_SIZE _IOWR('u', UBLK_CMD_UPDATE_SIZE, struct ublksrv_ctrl_cmd)
#define UBLK_U_CMD_QUIESCE_DEV _IOWR('u', UBLK_CMD_QUIESCE_DEV, struct ublksrv_ctrl_cmd)
#define UBLK_U_CMD_TRY_STOP_DEV _IOWR('u', UBLK_CMD_TRY_STOP_DEV, struct ublksrv_ctrl_cmd)

/* GET_FEATURES writes this many bytes: one 64-bit mask of UBLK_F_* */
#define UBLK_FEATURES_LEN 8

/* Device flags (ADD_DEV in, GET_DEV_INFO out) and feature bits (GET_FEATURES). */
#define UBLK_F_SUPPORT_ZERO_COPY (1ULL << 0)
#define UBLK_F_URING_CMD_COMP_IN_TASK (1ULL << 1)
#define UBLK_F_NEED_GET_DATA (1ULL << 2)
#define UBLK_F_USER_RECOVERY (1ULL << 3)
#define UBLK_F_USER_RECOVERY_REISSUE (1ULL << 4)
#define UBLK_F_UNPRIVILEGED_DEV (1ULL << 5)
#define UBLK_F_CMD_IOCTL_ENCODE (1ULL << 6)
#define UBLK_F_USER_COPY (1ULL << 7)
#define UBLK_F_ZONED (1ULL << 8)
#define UBLK_F_USER_RECOVERY_FAIL_IO (1ULL << 9)
#define UBLK_F_UPDATE_SIZE (1ULL << 10)
#define UBLK_F_AUTO_BUF_REG (1ULL << 11)
#define UBLK_F_QUIESCE (1ULL << 12)
#define UBLK_F_PER_IO_DAEMON (1ULL << 13)
#define UBLK_F_BUF_REG_OFF_DAEMON (1ULL << 14)
#define UBLK_F_BATCH_IO (1ULL << 15)
#define UBLK_F_INTEGRITY (1ULL << 16)
#define UBLK_F_SAFE_STOP_DEV (1ULL << 17)
#define UBLK_F_NO_AUTO_PART_SCAN (1ULL << 18)
#define UBLK_F_SHMEM_ZC (1ULL << 19)
#define UBLK_F_IO_DESC_SIZE (1ULL << 20) /* as 7.3 reports it; ublkd does not use it */

/* Kernel device states (ublksrv_ctrl_dev_info.state) */
#define UBLK_S_DEV_DEAD 0
#define UBLK_S_DEV_LIVE 1
#define UBLK_S_DEV_QUIESCED 2
#define UBLK_S_DEV_FAIL_IO 3

/* I/O commands, 16 bytes in a normal 64-byte SQE's command area, on /dev/ublkcN. */
struct ublksrv_io_cmd {
	uint16_t q_id;
	uint16_t tag;
	int32_t result; /* COMMIT: bytes done or -errno */
	union {
		uint64_t addr; /* buffer the kernel copies to/from */
		uint64_t zone_append_lba;
	};
};
_Static_assert(sizeof(struct ublksrv_io_cmd) == 16, "io cmd size");
_Static_assert(offsetof(struct ublksrv_io_cmd, addr) == 8, "io cmd addr");

#define UBLK_IO_FETCH_REQ 0x20
#define UBLK_IO_COMMIT_AND_FETCH_REQ 0x21
#define UBLK_IO_NEED_GET_DATA 0x22
#define UBLK_U_IO_FETCH_REQ _IOWR('u', UBLK_IO_FETCH_REQ, struct ublksrv_io_cmd)
#define UBLK_U_IO_COMMIT_AND_FETCH_REQ \
	_IOWR('u', UBLK_IO_COMMIT_AND_FETCH_REQ, struct ublksrv_io_cmd)
#define UBLK_U_IO_NEED_GET_DATA _IOWR('u', UBLK_IO_NEED_GET_DATA, struct ublksrv_io_cmd)
#define UBLK_U_IO_REGISTER_IO_BUF _IOWR('u', 0x23, struct ublksrv_io_cmd)
#define UBLK_U_IO_UNREGISTER_IO_BUF _IOWR('u', 0x24, struct ublksrv_io_cmd)

/*
 * UBLK_F_BATCH_IO (7.0): the command area holds a struct ublk_batch_io; PREP and COMMIT take
 * nr_elem elements of elem_bytes at sqe->addr (sqe->len bytes), each a ublk_elem_header and,
 * with UBLK_BATCH_F_HAS_BUF_ADDR, the tag's buffer address. FETCH is multishot: each CQE's
 * res bytes of tags (__u16 each) land in a provided buffer (elem_bytes 2).
 */
struct ublk_batch_io {
	uint16_t q_id;
	uint16_t flags; /* UBLK_BATCH_F_* */
	uint16_t nr_elem;
	uint8_t elem_bytes;
	uint8_t reserved;
	uint64_t reserved2;
};
_Static_assert(sizeof(struct ublk_batch_io) == 16, "batch io");

#define UBLK_BATCH_F_HAS_ZONE_LBA (1U << 0)
#define UBLK_BATCH_F_HAS_BUF_ADDR (1U << 1)
#define UBLK_BATCH_F_AUTO_BUF_REG_FALLBACK (1U << 2)

struct ublk_elem_header {
	uint16_t tag;
	uint16_t buf_index; /* with UBLK_F_AUTO_BUF_REG: the slot to register the pages in */
	int32_t result;	    /* COMMIT: bytes done or -errno */
};
_Static_assert(sizeof(struct ublk_elem_header) == 8, "elem header");

#define UBLK_U_IO_PREP_IO_CMDS _IOWR('u', 0x25, struct ublk_batch_io)
#define UBLK_U_IO_COMMIT_IO_CMDS _IOWR('u', 0x26, struct ublk_batch_io)
#define UBLK_U_IO_FETCH_IO_CMDS _IOWR('u', 0x27, struct ublk_batch_io)

/* cqe->res of a FETCH / COMMIT_AND_FETCH; only ABORT means "do not fetch again". */
#define UBLK_IO_RES_OK 0
#define UBLK_IO_RES_NEED_GET_DATA 1
#define UBLK_IO_RES_ABORT (-19) /* -ENODEV */

/* The per-queue descriptor array, mmap'd read-only from /dev/ublkcN; indexed by tag. */
struct ublksrv_io_desc {
	uint32_t op_flags; /* op in bits 0-7, UBLK_IO_F_* above */
	union {
		uint32_t nr_sectors;
		uint32_t nr_zones;
	};
	uint64_t start_sector; /* 512-byte sectors whatever the logical block size */
	uint64_t addr;
};
_Static_assert(sizeof(struct ublksrv_io_desc) == 24, "io desc size");
_Static_assert(offsetof(struct ublksrv_io_desc, start_sector) == 8, "io desc sector");

static inline uint8_t ublksrv_io_desc_op(const struct ublksrv_io_desc *iod)
{
	return iod->op_flags & 0xff;
}

static inline uint32_t ublksrv_io_desc_flags(const struct ublksrv_io_desc *iod)
{
	return iod->op_flags & ~0xffU;
}

#define UBLK_IO_OP_READ 0
#define UBLK_IO_OP_WRITE 1
#define UBLK_IO_OP_FLUSH 2
#define UBLK_IO_OP_DISCARD 3
#define UBLK_IO_OP_WRITE_SAME 4
#define UBLK_IO_OP_WRITE_ZEROES 5
#define UBLK_IO_OP_ZONE_OPEN 10
#define UBLK_IO_OP_ZONE_CLOSE 11
#define UBLK_IO_OP_ZONE_FINISH 12
#define UBLK_IO_OP_ZONE_APPEND 13
#define UBLK_IO_OP_ZONE_RESET_ALL 14
#define UBLK_IO_OP_ZONE_RESET 15
#define UBLK_IO_OP_REPORT_ZONES 18

/* op_flags bits, already shifted into place */
#define UBLK_IO_F_FAILFAST_DEV (1U << 8)
#define UBLK_IO_F_FAILFAST_TRANSPORT (1U << 9)
#define UBLK_IO_F_FAILFAST_DRIVER (1U << 10)
#define UBLK_IO_F_META (1U << 11)
#define UBLK_IO_F_FUA (1U << 13)
#define UBLK_IO_F_NOUNMAP (1U << 15)
#define UBLK_IO_F_SWAP (1U << 16)
/* AUTO_BUF_REG with FALLBACK: the kernel could not register this request's pages (6.16) */
#define UBLK_IO_F_NEED_REG_BUF (1U << 17)

/*
 * UBLK_F_AUTO_BUF_REG: a FETCH/COMMIT command's addr is not a buffer but where to register the
 * request's pages in the issuing ring's buffer table: slot in bits 0-15, flags in 16-23, the
 * rest zero. With FALLBACK a failed registration comes to us as NEED_REG_BUF instead of
 * failing the request.
 */
#define UBLK_AUTO_BUF_REG_FALLBACK (1U << 0)
static inline uint64_t ublk_auto_buf_reg_addr(uint16_t slot, uint8_t flags)
{
	return slot | (uint64_t)flags << 16;
}

#define UBLK_MAX_QUEUE_DEPTH 4096
#define UBLK_MAX_NR_QUEUES 4096
#define UBLK_SECTOR_SHIFT 9

/*
 * mmap offset of queue q's descriptors on /dev/ublkcN. The stride is the size of the largest
 * possible array (4096 descriptors), whatever the device's depth: using the depth here makes
 * every queue after 0 read queue 0's descriptors.
 */
#define UBLKSRV_CMD_BUF_OFFSET 0
static inline uint64_t ublk_queue_desc_offset(uint16_t q_id, size_t page_bytes)
{
	size_t stride = UBLK_MAX_QUEUE_DEPTH * sizeof(struct ublksrv_io_desc);

	stride = (stride + page_bytes - 1) & ~(page_bytes - 1);
	return UBLKSRV_CMD_BUF_OFFSET + (uint64_t)q_id * stride;
}

/* With UBLK_F_USER_COPY: pread/pwrite /dev/ublkcN at this offset to reach a request's data. */
#define UBLKSRV_IO_BUF_OFFSET 0x80000000ULL
#define UBLK_IO_BUF_BITS 25
#define UBLK_TAG_OFF UBLK_IO_BUF_BITS
#define UBLK_TAG_BITS 16
#define UBLK_QID_OFF (UBLK_TAG_OFF + UBLK_TAG_BITS)
static inline uint64_t ublk_user_copy_offset(uint16_t q_id, uint16_t tag, uint32_t byte_off)
{
	return UBLKSRV_IO_BUF_OFFSET + ((uint64_t)q_id << UBLK_QID_OFF) +
	       ((uint64_t)tag << UBLK_TAG_OFF) + byte_off;
}

/* SET_PARAMS / GET_PARAMS */
struct ublk_param_basic {
	uint32_t attrs; /* UBLK_ATTR_* */
	uint8_t logical_bs_shift;
	uint8_t physical_bs_shift;
	uint8_t io_opt_shift;
	uint8_t io_min_shift;
	uint32_t max_sectors;
	uint32_t chunk_sectors;
	uint64_t dev_sectors;
	uint64_t virt_boundary_mask;
};
_Static_assert(sizeof(struct ublk_param_basic) == 32, "param basic");

#define UBLK_ATTR_READ_ONLY (1U << 0)
#define UBLK_ATTR_ROTATIONAL (1U << 1)
#define UBLK_ATTR_VOLATILE_CACHE (1U << 2)
#define UBLK_ATTR_FUA (1U << 3)

struct ublk_param_discard {
	uint32_t discard_alignment;
	uint32_t discard_granularity;
	uint32_t max_discard_sectors;
	uint32_t max_write_zeroes_sectors;
	uint16_t max_discard_segments;
	uint16_t reserved0;
};
_Static_assert(sizeof(struct ublk_param_discard) == 20, "param discard");

/* read-only: GET_PARAMS fills it once the device is started */
struct ublk_param_devt {
	uint32_t char_major;
	uint32_t char_minor;
	uint32_t disk_major;
	uint32_t disk_minor;
};
_Static_assert(sizeof(struct ublk_param_devt) == 16, "param devt");

struct ublk_param_zoned {
	uint32_t max_open_zones;
	uint32_t max_active_zones;
	uint32_t max_zone_append_sectors;
	uint8_t reserved[20];
};
_Static_assert(sizeof(struct ublk_param_zoned) == 32, "param zoned");

struct ublk_param_dma_align {
	uint32_t alignment;
	uint8_t pad[4];
};
_Static_assert(sizeof(struct ublk_param_dma_align) == 8, "param dma");

struct ublk_param_segment {
	uint64_t seg_boundary_mask;
	uint32_t max_segment_size;
	uint16_t max_segments;
	uint8_t pad[2];
};
_Static_assert(sizeof(struct ublk_param_segment) == 16, "param segment");

/*
 * The kernel accepts any len up to its own sizeof(struct ublk_params) and ignores the types it
 * does not know; ublkd sends the fields up to seg, which every kernel since 6.15 understands
 * and older kernels accept as long as the unknown types are not set.
 */
struct ublk_params {
	uint32_t len;
	uint32_t types; /* UBLK_PARAM_TYPE_* present */
	struct ublk_param_basic basic;
	struct ublk_param_discard discard;
	struct ublk_param_devt devt;
	struct ublk_param_zoned zoned;
	struct ublk_param_dma_align dma;
	struct ublk_param_segment seg;
};
_Static_assert(offsetof(struct ublk_params, basic) == 8, "params basic");
_Static_assert(offsetof(struct ublk_params, discard) == 40, "params discard");
_Static_assert(offsetof(struct ublk_params, devt) == 60, "params devt");
_Static_assert(offsetof(struct ublk_params, zoned) == 76, "params zoned");
_Static_assert(offsetof(struct ublk_params, dma) == 108, "params dma");
_Static_assert(offsetof(struct ublk_params, seg) == 120, "params seg");
_Static_assert(sizeof(struct ublk_params) == 136, "params size");

#define UBLK_PARAM_TYPE_BASIC (1U << 0)
#define UBLK_PARAM_TYPE_DISCARD (1U << 1)
#define UBLK_PARAM_TYPE_DEVT (1U << 2)
#define UBLK_PARAM_TYPE_ZONED (1U << 3)
#define UBLK_PARAM_TYPE_DMA_ALIGN (1U << 4)
#define UBLK_PARAM_TYPE_SEGMENT (1U << 5)

#endif /* UBLKD_ABI_UBLK_H */
