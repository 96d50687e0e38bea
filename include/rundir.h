/* SPDX-License-Identifier: MIT */
/*
 * The daemon's run directory (RUN_DIR: $UBLKD_RUN_DIR or /run/ublkd) and the files in it: the
 * pid file that doubles as the one-daemon lock, the log of a background daemon, devices/.
 * Root trusts what it finds there only when it is root's own: the directory must be owned by
 * us and writable by nobody else, and no file in it is opened through a symlink.
 */
#ifndef UBLKD_RUNDIR_H
#define UBLKD_RUNDIR_H

#include <stddef.h>
#include <sys/types.h>

/*
 * Creates RUN_DIR and RUN_DIR/devices (mode 0755) where missing and checks both: a directory,
 * not a symlink, owned by our euid, not writable by group or others. -errno and err says why.
 */
int rundir_prepare(char *err, size_t err_len);
/* Checks one directory as rundir_prepare() does: 0, or -errno with the reason in err. */
int rundir_check_dir(const char *path, char *err, size_t err_len);

/* Opens RUN_DIR/NAME with flags | O_NOFOLLOW | O_CLOEXEC: a symlink there is refused (ELOOP). */
int rundir_open(const char *name, int flags, mode_t mode);

/*
 * Takes the one-daemon lock (RUN_DIR/ublkd.pid, which then holds our pid): the fd, or -errno
 * with the reason in err (-EALREADY: another daemon holds it, named by its pid).
 */
int rundir_lock(char *err, size_t err_len);
/* Removes the pid file and closes the lock: from now on another daemon may start. */
void rundir_unlock(int lock_fd);

#endif /* UBLKD_RUNDIR_H */
