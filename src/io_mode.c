// SPDX-License-Identifier: MIT
/* A device's data mode: include/io_mode.h. */
#include <errno.h>
#include <stdio.h>

#include "abi/ublk.h"
#include "ctrl.h"
#include "io_mode.h"

/* What each mode needs of ublk_drv, and since when Linux has it (for messages). */
static const struct {
	uint64_t flags;
	const char *since;
} mode_needs[] = {
	[IO_MODE_AUTO] = { 0, "" },
	[IO_MODE_COPY] = { 0, "" },
	[IO_MODE_USER_COPY] = { UBLK_F_USER_COPY, "6.5" },
	/* SUPPORT_ZERO_COPY lets us register a request ourselves where the kernel could not. */
	[IO_MODE_ZERO_COPY] = { UBLK_F_AUTO_BUF_REG | UBLK_F_SUPPORT_ZERO_COPY, "6.16" },
	[IO_MODE_BATCH] = { UBLK_F_BATCH_IO, "7.0" },
};

uint64_t io_mode_flags(enum dev_io_mode mode)
{
	if ((unsigned)mode >= sizeof(mode_needs) / sizeof(mode_needs[0]))
		return 0;
	return mode_needs[mode].flags;
}

enum dev_io_mode io_mode_of_flags(uint64_t flags)
{
	return flags & UBLK_F_BATCH_IO ? IO_MODE_BATCH : io_mode_data_of_flags(flags);
}

enum dev_io_mode io_mode_data_of_flags(uint64_t flags)
{
	if (flags & UBLK_F_AUTO_BUF_REG)
		return IO_MODE_ZERO_COPY;
	if (flags & UBLK_F_USER_COPY)
		return IO_MODE_USER_COPY;
	return IO_MODE_COPY;
}

/* "copy, user_copy" */
static void format_modes(unsigned modes, char *buf, size_t bytes)
{
	size_t used = 0;

	buf[0] = '\0';
	for (unsigned m = IO_MODE_COPY; m <= IO_MODE_BATCH && used < bytes; m++) {
		if (!(modes & IO_MODE_BIT(m)))
			continue;
		used += (size_t)snprintf(buf + used, bytes - used, "%s%s", used ? ", " : "",
					 dev_io_mode_name(m));
	}
}

/* The first of order that the backend serves (modes) and the kernel offers, else copy. */
static enum dev_io_mode io_mode_best(unsigned modes, const enum dev_io_mode *order,
				     uint64_t features)
{
	for (; order && *order != IO_MODE_AUTO; order++) {
		if ((modes & IO_MODE_BIT(*order)) && !(io_mode_flags(*order) & ~features))
			return *order;
	}
	return IO_MODE_COPY;
}

uint64_t io_mode_device_flags(enum dev_io_mode mode, unsigned modes, const enum dev_io_mode *order,
			      uint64_t features)
{
	uint64_t flags = io_mode_flags(mode);

	if (mode == IO_MODE_BATCH)
		flags |= io_mode_flags(
			io_mode_best(modes & ~IO_MODE_BIT(IO_MODE_BATCH), order, features));
	return flags;
}

int io_mode_choose(enum dev_io_mode wanted, const char *backend, unsigned modes,
		   const enum dev_io_mode *order, uint64_t features, enum dev_io_mode *mode,
		   char *err, size_t err_bytes)
{
	uint64_t missing;
	char can[64];

	if (wanted == IO_MODE_AUTO) {
		*mode = io_mode_best(modes, order, features);
		return 0;
	}
	/* Copy and batch (which moves data as auto would) need nothing of the backend. */
	if (wanted != IO_MODE_COPY && wanted != IO_MODE_BATCH && !(modes & IO_MODE_BIT(wanted))) {
		format_modes(modes | IO_MODE_BIT(IO_MODE_COPY) | IO_MODE_BIT(IO_MODE_BATCH), can,
			     sizeof(can));
		snprintf(err, err_bytes,
			 "io_mode = %s: the %s backend cannot serve it (it can: %s)",
			 dev_io_mode_name(wanted), backend, can);
		return -EOPNOTSUPP;
	}
	missing = io_mode_flags(wanted) & ~features;
	if (missing) {
		const char *name = ublk_feature_name(63U - (unsigned)__builtin_clzll(missing));

		snprintf(err, err_bytes,
			 "io_mode = %s needs ublk_drv's %s, which this kernel lacks (Linux %s+)",
			 dev_io_mode_name(wanted), name ? name : "feature",
			 mode_needs[wanted].since);
		return -EOPNOTSUPP;
	}
	*mode = wanted;
	return 0;
}
