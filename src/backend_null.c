// SPDX-License-Identifier: MIT
/*
 * The null backend: every request succeeds at once and no byte moves, so what a benchmark of
 * it measures is ublk and the queue loop alone. Reads leave the buffer as it was: in copy mode
 * the tag's buffer (zeroes, or what an earlier write left there), in user_copy and zero_copy
 * the reader's own pages, untouched, as the kernel's null_blk leaves them.
 *
 * io_mode = auto prefers user_copy: the kernel then neither copies nor registers anything.
 * zero_copy works too (the kernel registers each request's pages for nothing), for comparison.
 */
#include <errno.h>

#include "backend.h"

static int null_open(struct backend *be, const struct dev_conf *conf, char *err, size_t err_bytes)
{
	uint32_t block_size = conf->block_size ? conf->block_size : 512;
	int ret = backend_check_geometry(conf->size_bytes, block_size, err, err_bytes);

	if (ret)
		return ret;
	be->size_bytes = conf->size_bytes;
	be->block_size = block_size;
	/* Nothing is stored, so discarding or zeroing is as free as anything else. */
	be->caps = BACKEND_CAP_DISCARD | BACKEND_CAP_WRITE_ZEROES;
	return 0;
}

static void null_close(struct backend *be)
{
	(void)be;
}

static int null_submit(struct backend_queue *bq, struct backend_io *io)
{
	if (!backend_io_in_range(bq->be, io))
		return -EIO;
	return io->op == BACKEND_OP_FLUSH ? 0 : (int)io->len_bytes;
}

const struct backend_ops backend_null_ops = {
	.name = "null",
	.io_modes = IO_MODE_BIT(IO_MODE_USER_COPY) | IO_MODE_BIT(IO_MODE_ZERO_COPY),
	.io_mode_order = (const enum dev_io_mode[]){ IO_MODE_USER_COPY, IO_MODE_AUTO },
	.open = null_open,
	.close = null_close,
	.submit = null_submit,
};
