/* SPDX-License-Identifier: MIT */
/*
 * Each device's description in RUN_DIR/devices/ID.conf, in config file syntax: written once the
 * device is live, removed once it is deleted. It outlives a daemon that dies, so that the next
 * daemon can take its devices over (src/adopt.c), and `list` and `del` can still name them.
 */
#ifndef UBLKD_STATE_STORE_H
#define UBLKD_STATE_STORE_H

#include <stdint.h>

struct dev_conf;

/* Writes dev_id's description whole or not at all (a temporary file renamed into place). */
int state_store_write(uint32_t dev_id, const struct dev_conf *conf);
void state_store_remove(uint32_t dev_id);
/* Every id with a description, in no order: 0 and a malloc()ed *ids (NULL if none), or -errno. */
int state_store_ids(uint32_t **ids, unsigned *nr);
/*
 * dev_id's description with its origin (where it came from, not the state file), read only
 * from a regular file of our own that nobody else may write: 0, or -errno and err says why.
 */
int state_store_load(uint32_t dev_id, struct dev_conf *conf, char *err, size_t err_len);
/* The id of the device whose description has this name: 0 and *id, or -ENOENT. */
int state_store_find_name(const char *name, unsigned *id);

#endif /* UBLKD_STATE_STORE_H */
