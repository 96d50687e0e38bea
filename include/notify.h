/* SPDX-License-Identifier: MIT */
/*
 * The systemd notification protocol, without libsystemd: datagrams of "KEY=VALUE" lines to
 * the socket named by $NOTIFY_SOCKET (a path, or "@name" for the abstract namespace).
 */
#ifndef UBLKD_NOTIFY_H
#define UBLKD_NOTIFY_H

/* Sends state ("READY=1\nSTATUS=..."); 0 when $NOTIFY_SOCKET is unset, else 0 or -errno. */
int notify_send(const char *state);
/*
 * notify_send() with a copy of fd beside the state (SCM_RIGHTS), as systemd's fd store wants
 * it ("FDSTORE=1\nFDNAME=..."); fd < 0 sends none.
 */
int notify_send_fd(const char *state, int fd);
/* printf-style notify_send(). */
int notify_sendf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif /* UBLKD_NOTIFY_H */
