/* SPDX-License-Identifier: MIT */
/*
 * Which data mode a device runs in: what the user asked for (dev_conf.io_mode), what the
 * backend can serve and what the kernel offers, turned into the UBLK_F_* of ADD_DEV; and back
 * from a device's flags to its mode, for devices we adopt or only list. Pure functions: the
 * unit tests run them against every kernel's feature set.
 */
#ifndef UBLKD_IO_MODE_H
#define UBLKD_IO_MODE_H

#include <stddef.h>
#include <stdint.h>

#include "dev_conf.h"

/* The UBLK_F_* a mode needs of the kernel; 0 for copy. */
uint64_t io_mode_flags(enum dev_io_mode mode);

/* The mode a device with these UBLK_F_* (as ADD_DEV accepted them) runs in; never AUTO. */
enum dev_io_mode io_mode_of_flags(uint64_t flags);

/*
 * How its data moves: io_mode_of_flags() but for BATCH, which carries its requests' data in
 * one of the other modes (copy, user copy or zero copy).
 */
enum dev_io_mode io_mode_data_of_flags(uint64_t flags);

/*
 * The mode to run a device in. wanted AUTO: the first of order (IO_MODE_AUTO-terminated, best
 * first) that the kernel offers, else copy. Any other mode must be in modes (IO_MODE_BIT()s the
 * backend serves) and offered by the kernel (features), or -EOPNOTSUPP with a message in err
 * that names the mode, and the backend or the missing kernel feature.
 */
int io_mode_choose(enum dev_io_mode wanted, const char *backend, unsigned modes,
		   const enum dev_io_mode *order, uint64_t features, enum dev_io_mode *mode,
		   char *err, size_t err_bytes);

/*
 * The UBLK_F_* for ADD_DEV of a device in mode (from io_mode_choose()): the mode's own, and in
 * BATCH those of the data mode auto would take for the backend.
 */
uint64_t io_mode_device_flags(enum dev_io_mode mode, unsigned modes, const enum dev_io_mode *order,
			      uint64_t features);

#endif /* UBLKD_IO_MODE_H */
