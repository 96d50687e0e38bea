// SPDX-License-Identifier: MIT
/*
 * Choosing a backend for a device description, and the geometry checks every backend's open()
 * makes.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "backend.h"
#include "parse.h"

const struct backend_ops *backend_ops_for(enum backend_kind kind)
{
	switch (kind) {
	case BACKEND_NULL:
		return &backend_null_ops;
	case BACKEND_MEMORY:
		return &backend_memory_ops;
	case BACKEND_FILE:
		return &backend_file_ops;
	case BACKEND_NONE:
		break;
	}
	return NULL;
}

int backend_check_geometry(uint64_t size_bytes, uint32_t block_size, char *err, size_t err_bytes)
{
	char size[SIZE_BYTES_STR_MAX];

	if (block_size < 512 || block_size > 4096 || (block_size & (block_size - 1))) {
		snprintf(err, err_bytes, "block_size %u is not supported (512, 1024, 2048 or 4096)",
			 block_size);
		return -EINVAL;
	}
	if (!size_bytes || size_bytes % block_size) {
		snprintf(err, err_bytes, "size %s is not a positive multiple of block_size %u",
			 format_size_bytes(size_bytes, size, sizeof(size)), block_size);
		return -EINVAL;
	}
	return 0;
}

/* open(), or reopen() for an adopted device (dev_id >= 0) when the backend has one. */
static int backend_open_as(struct backend *be, const struct dev_conf *conf, int64_t dev_id,
			   char *err, size_t err_bytes)
{
	int ret;

	memset(be, 0, sizeof(*be));
	be->io_fd = -1;
	be->ops = backend_ops_for(conf->backend);
	if (!be->ops) {
		snprintf(err, err_bytes, "no backend given");
		return -EINVAL;
	}
	if (dev_id >= 0 && be->ops->reopen)
		ret = be->ops->reopen(be, conf, (uint32_t)dev_id, err, err_bytes);
	else
		ret = be->ops->open(be, conf, err, err_bytes);
	if (ret) {
		memset(be, 0, sizeof(*be));
		be->io_fd = -1;
		return ret;
	}
	be->read_only = conf->read_only;
	return 0;
}

int backend_open(struct backend *be, const struct dev_conf *conf, char *err, size_t err_bytes)
{
	return backend_open_as(be, conf, -1, err, err_bytes);
}

int backend_reopen(struct backend *be, const struct dev_conf *conf, uint32_t dev_id, char *err,
		   size_t err_bytes)
{
	return backend_open_as(be, conf, dev_id, err, err_bytes);
}

int backend_keep(struct backend *be, uint32_t dev_id, char *err, size_t err_bytes)
{
	return be->ops->keep ? be->ops->keep(be, dev_id, err, err_bytes) : 0;
}

void backend_forget(enum backend_kind kind, uint32_t dev_id)
{
	const struct backend_ops *ops = backend_ops_for(kind);

	if (ops && ops->forget)
		ops->forget(dev_id);
}

void backend_close(struct backend *be)
{
	if (be->ops)
		be->ops->close(be);
	memset(be, 0, sizeof(*be));
}
