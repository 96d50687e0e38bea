// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: what the daemon takes from the kernel and acts on. The input is a
 * GET_DEV_INFO reply, a GET_PARAMS reply and I/O descriptors, as bytes: adoption's checks
 * (src/device_ublk.c) and the data path's descriptor check (src/queue.c). Oracle: no crash, no
 * sanitizer report; what they accept is within ublkd's limits: queues, depth and buffers it
 * could have asked for, a size within the backend, and requests within the device and within
 * their tag's buffer.
 */
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "abi/ublk.h"
#include "backend.h"
#include "dev_conf.h"
#include "device_ublk.h"
#include "queue.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_desc(const struct ublksrv_ctrl_dev_info *info, const struct ublk_params *p,
		       const struct ublksrv_io_desc *desc)
{
	struct queue_conf conf = {
		.depth = info->queue_depth,
		.buf_bytes = info->max_io_buf_bytes,
		.dev_sectors = p->basic.dev_sectors,
		.read_only = p->basic.attrs & UBLK_ATTR_READ_ONLY,
	};
	struct backend_io bio = { 0 };

	if (queue_check_desc(&conf, desc, &bio) < 0)
		return;
	if (bio.op == BACKEND_OP_FLUSH) {
		assert(!bio.len_bytes);
		return;
	}
	assert(!conf.read_only || bio.op == BACKEND_OP_READ);
	assert(bio.len_bytes && bio.offset_bytes + bio.len_bytes >= bio.offset_bytes);
	assert(bio.offset_bytes + bio.len_bytes <= conf.dev_sectors << UBLK_SECTOR_SHIFT);
	if (bio.op == BACKEND_OP_READ || bio.op == BACKEND_OP_WRITE)
		assert(bio.len_bytes <= conf.buf_bytes);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ublksrv_ctrl_dev_info info;
	struct ublk_params p;
	struct ublksrv_io_desc desc;
	struct backend be = { .ops = &backend_file_ops, .size_bytes = 1ULL << 40 };
	char err[DEV_ERR_MAX];

	if (size < sizeof(info) + sizeof(p))
		return 0;
	memcpy(&info, data, sizeof(info));
	memcpy(&p, data + sizeof(info), sizeof(p));
	data += sizeof(info) + sizeof(p);
	size -= sizeof(info) + sizeof(p);
	if (size >= 8)
		memcpy(&be.size_bytes, data, 8);
	if (dev_ublk_check_found_info(&info, &be, err, sizeof(err)) < 0)
		return 0;
	assert(info.nr_hw_queues >= 1 && info.nr_hw_queues <= DEV_MAX_QUEUES);
	assert(info.queue_depth >= 1 && info.queue_depth <= DEV_MAX_DEPTH);
	assert(info.max_io_buf_bytes >= 512 && info.max_io_buf_bytes <= DEV_IO_BUF_BYTES);
	if (dev_ublk_check_found_params(&info, &p, &be, err, sizeof(err)) < 0)
		return 0;
	assert(p.basic.dev_sectors && p.basic.dev_sectors << UBLK_SECTOR_SHIFT <= be.size_bytes);
	for (; size >= sizeof(desc); data += sizeof(desc), size -= sizeof(desc)) {
		memcpy(&desc, data, sizeof(desc));
		check_desc(&info, &p, &desc);
	}
	return 0;
}
