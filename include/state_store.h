/* SPDX-License-Identifier: MIT */
/*
 * Each device's description in RUN_DIR/devices/ID.conf, in config file syntax: written once the
 * device is live, removed once it is deleted. It outlives a daemon that dies, so that `list` and
 * `del` can still name a dead daemon's devices.
 */
#ifndef UBLKD_STATE_STORE_H
#define UBLKD_STATE_STORE_H

#include <stdint.h>

struct dev_conf;

/* Writes dev_id's description whole or not at all (a temporary file renamed into place). */
int state_store_write(uint32_t dev_id, const struct dev_conf *conf);
void state_store_remove(uint32_t dev_id);
/* The id of the device whose description has this name: 0 and *id, or -ENOENT. */
int state_store_find_name(const char *name, unsigned *id);

#endif /* UBLKD_STATE_STORE_H */
