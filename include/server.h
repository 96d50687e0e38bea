/* SPDX-License-Identifier: MIT */
/*
 * The daemon's control socket: a listening AF_UNIX socket (bound here at RUN_DIR/ublkd.sock,
 * or handed over by systemd's socket activation) and the connections on it. Connections are
 * non-blocking and read in pieces as data comes, so that a slow or silent client never holds
 * up the daemon; a complete request goes to the daemon, which answers with conn_reply() at once
 * or later (a deletion finishing in the background) and ends it with conn_finish().
 */
#ifndef UBLKD_SERVER_H
#define UBLKD_SERVER_H

#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "ipc.h"

#define SERVER_MAX_CONNS 32

struct conn {
	int fd;
	pid_t pid; /* the peer's, from SO_PEERCRED */
	int64_t deadline_ms;
	size_t in_len;
	size_t out_len;
	unsigned waiting; /* results still to come before the reply is complete */
	bool have_request;
	char in[IPC_MSG_MAX];
	char out[IPC_MSG_MAX];
};

struct server {
	int listen_fd;
	bool activated; /* the socket is systemd's: never unlinked, and it outlives us */
	struct conn *conns[SERVER_MAX_CONNS];
};

/* Takes the socket from systemd (LISTEN_FDS) or binds RUN_DIR/ublkd.sock; -errno and err. */
int server_open(struct server *s, char *err, size_t err_len);
/* Serves on fd, a listening socket an earlier image of ours handed over (include/upgrade.h). */
void server_adopt_listener(struct server *s, int fd, bool activated);
/* Stops accepting: a bound socket is unlinked first, so that a new client starts a new daemon. */
void server_close_listener(struct server *s);
/* Drops every connection and the listener. */
void server_close(struct server *s);

/* Fills pfd with what to poll (at most SERVER_MAX_CONNS + 1); returns how many. */
unsigned server_poll_fds(const struct server *s, struct pollfd *pfd);
/* Milliseconds until the next connection times out, or -1. */
int server_poll_timeout_ms(const struct server *s);
/*
 * Accepts, reads, and drops timed-out connections; on_request is called with each complete
 * request (a NUL-terminated text in conn->in) exactly once.
 */
void server_dispatch(struct server *s, const struct pollfd *pfd, unsigned nr,
		     void (*on_request)(void *ctx, struct conn *c), void *ctx);

/* Adds "ok TEXT" (ret >= 0) or "error TEXT" to the reply. */
void conn_reply(struct conn *c, int ret, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* The request is answered once c->waiting is 0: sends the reply and closes the connection. */
void conn_finish(struct server *s, struct conn *c);

#endif /* UBLKD_SERVER_H */
