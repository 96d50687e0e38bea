/* SPDX-License-Identifier: MIT */
/*
 * One message with at most one file descriptor beside it (SCM_RIGHTS) on an AF_UNIX socket:
 * how a memory device's RAM reaches systemd's fd store and the memory keeper, and comes back.
 */
#ifndef UBLKD_FDPASS_H
#define UBLKD_FDPASS_H

#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>

/*
 * Sends len bytes of buf on sock, to addr unless it is NULL (a connected socket), with a copy
 * of fd unless fd < 0. Bytes sent, or -errno.
 */
ssize_t fdpass_send(int sock, const struct sockaddr_un *addr, socklen_t addr_len, const void *buf,
		    size_t len, int fd);
/*
 * Receives one message into buf (len bytes at most; the rest of a longer one is lost). *fd
 * gets the fd that came with it (O_CLOEXEC), or -1; any more than one are closed. Bytes
 * received (0: the peer closed), or -errno (-EAGAIN: the socket's receive timeout passed).
 */
ssize_t fdpass_recv(int sock, void *buf, size_t len, int *fd);

#endif /* UBLKD_FDPASS_H */
