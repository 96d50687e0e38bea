/* SPDX-License-Identifier: MIT */
/*
 * Who uses a block device: for a refusal to delete it that tells the admin what to do
 * ("mounted on /srv/data"), and for the in-use probe where the kernel has no TRY_STOP_DEV.
 */
#ifndef UBLKD_HOLDERS_H
#define UBLKD_HOLDERS_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Describes what holds /dev/ublkbID or one of its partitions: mounts (from mountinfo),
 * stacked devices (sysfs holders), processes with it open (/proc/PID/fd), as
 * "mounted on /mnt/a; held open by pid 42 (fio)". False, and "" in buf, if none is found.
 */
bool holders_describe(unsigned dev_id, char *buf, size_t buf_len);

/*
 * The mount points of device MAJ:MIN in one mountinfo text (mountinfo's escapes undone),
 * "; "-separated after "mounted on ", appended to buf. Exposed for the unit tests.
 */
bool holders_mounts_in(const char *mountinfo, const char *maj_min, char *buf, size_t buf_len);

#endif /* UBLKD_HOLDERS_H */
