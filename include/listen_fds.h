/* SPDX-License-Identifier: MIT */
/*
 * The file descriptors systemd passes at start (sd_listen_fds(3)): LISTEN_PID (ours),
 * LISTEN_FDS (how many, from fd 3 on) and LISTEN_FDNAMES (their names, colon-separated). One
 * list holds both the sockets of socket activation ("ublkd.socket": server.c takes it) and
 * what the service's fd store gives back ("memory-ID": mem_store.c takes those), in no
 * promised order, so each part takes what it recognises and the rest is closed.
 *
 * The variables are read at the first call and then removed from the environment, so that
 * nothing we start inherits them; the list lives in this file because the environment it comes
 * from is the process's. Control thread only, before the daemon starts threads.
 */
#ifndef UBLKD_LISTEN_FDS_H
#define UBLKD_LISTEN_FDS_H

#include <stdbool.h>

/*
 * Offers claim() each passed fd nobody took yet, in fd order, with its name ("" when systemd
 * gave none). An fd claim() returns true for is the caller's from then on: its to close.
 * 0, or -ENOMEM or -EINVAL (LISTEN_FDS beyond reason): the fds stay open, unoffered.
 */
int listen_fds_claim(bool (*claim)(int fd, const char *name, void *ctx), void *ctx);
/* Closes every passed fd that nobody claimed; call once all parts took theirs. */
void listen_fds_close_unclaimed(void);

#endif /* UBLKD_LISTEN_FDS_H */
