/* SPDX-License-Identifier: MIT */
/*
 * The daemon's control socket and where it keeps its state. A request is text: the command on
 * the first line ("add", "del NAME|ID|PATH", "del --all"), then for "add" the device's
 * "key = value" lines, then EOF (the client shuts down its write side). The reply is one line
 * per result: "ok TEXT" or "error MESSAGE", then EOF.
 */
#ifndef UBLKD_IPC_H
#define UBLKD_IPC_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define IPC_DEFAULT_RUN_DIR "/run/ublkd"
#define IPC_MSG_MAX (64 * 1024) /* a request or a reply; more is refused, not cut */

/* $UBLKD_RUN_DIR, or /run/ublkd: the socket, the pid/lock file, the log and devices/. */
const char *ipc_run_dir(void);
/* RUN_DIR/NAME into buf; -ENAMETOOLONG if it does not fit. */
int ipc_run_path(char *buf, size_t buf_bytes, const char *name);

/* RUN_DIR/devices/ID.conf: where the daemon keeps device id's description. */
int ipc_state_file_path(char *buf, size_t buf_bytes, uint32_t id);
/* A device id: decimal digits only, at most DEV_MAX_ID; 0 and *id, or -EINVAL / -ERANGE. */
int ipc_parse_id(const char *text, unsigned *id);
/* A device named by "ID", "/dev/ublkbN" or "/dev/ublkcN" (ids as ipc_parse_id): 0, or -EINVAL. */
int ipc_parse_dev_ref(const char *what, unsigned *id);
/* Whether the process that serves a device (ublksrv_pid) still exists and is not a zombie. */
bool ipc_server_alive(pid_t pid);

/* Reads until EOF into buf (NUL-terminated); -EMSGSIZE beyond buf_bytes - 1. */
ssize_t ipc_read_all(int fd, char *buf, size_t buf_bytes);
/* Writes all of len bytes; -errno on failure. */
int ipc_write_all(int fd, const char *buf, size_t len);

/* Connects to the daemon's socket: the fd, or -errno (-ENOENT / -ECONNREFUSED: none runs). */
int ipc_connect(void);

#endif /* UBLKD_IPC_H */
