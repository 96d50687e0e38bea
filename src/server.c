// SPDX-License-Identifier: MIT
/* The control socket and its connections (include/server.h), all non-blocking. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "listen_fds.h"
#include "log.h"
#include "server.h"

/* A client that sends nothing for this long is dropped. */
#define CONN_TIMEOUT_MS 10000

struct activation {
	int fd;		  /* the listening socket we took, or -1 */
	int first_socket; /* the first socket passed, to name when none will do; or -1 */
};

/*
 * The first listening AF_UNIX stream socket is ours. What is no socket at all (the RAM that
 * systemd's fd store gives back) is someone else's.
 */
static bool claim_listener(int fd, const char *name, void *ctx)
{
	struct activation *a = ctx;
	struct sockaddr_un addr;
	socklen_t len = sizeof(addr);
	int type = 0, listening = 0;
	socklen_t opt_len = sizeof(type);

	(void)name; /* the socket unit's name by default, but an admin may set FileDescriptorName= */
	if (a->fd >= 0 || getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &opt_len) < 0)
		return false;
	if (a->first_socket < 0)
		a->first_socket = fd;
	if (type != SOCK_STREAM ||
	    getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &opt_len) < 0 || !listening ||
	    getsockname(fd, (struct sockaddr *)&addr, &len) < 0 || addr.sun_family != AF_UNIX)
		return false;
	a->fd = fd;
	return true;
}

/* *fd: our socket if systemd passed one (LISTEN_FDS), else -1. 0, or -errno and err. */
static int activated_socket(int *fd, char *err, size_t err_len)
{
	struct activation a = { .fd = -1, .first_socket = -1 };
	int ret = listen_fds_claim(claim_listener, &a);

	*fd = a.fd;
	if (ret < 0) {
		snprintf(err, err_len, "the fds systemd passed (LISTEN_FDS): %s", strerror(-ret));
		return ret;
	}
	if (a.fd < 0 && a.first_socket >= 0) {
		snprintf(err, err_len,
			 "the socket systemd passed (fd %d) is not a listening AF_UNIX stream "
			 "socket; see ublkd.socket",
			 a.first_socket);
		return -ENOTSOCK;
	}
	if (a.fd >= 0)
		fcntl(a.fd, F_SETFL, O_NONBLOCK);
	return 0;
}

int server_open(struct server *s, char *err, size_t err_len)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd, ret;

	memset(s, 0, sizeof(*s));
	s->listen_fd = -1;
	ret = activated_socket(&fd, err, err_len);
	if (ret < 0)
		return ret;
	if (fd >= 0) {
		s->listen_fd = fd;
		s->activated = true;
		return 0;
	}
	ret = ipc_run_path(addr.sun_path, sizeof(addr.sun_path), "ublkd.sock");
	if (ret < 0) {
		snprintf(err, err_len, "%s: socket path too long", ipc_run_dir());
		return ret;
	}
	/* We hold the lock: a socket file left there is a dead daemon's. */
	unlink(addr.sun_path);
	s->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (s->listen_fd < 0 || bind(s->listen_fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
	    chmod(addr.sun_path, 0600) < 0 || listen(s->listen_fd, SOMAXCONN) < 0) {
		ret = -errno;
		snprintf(err, err_len, "%s: %s", addr.sun_path, strerror(-ret));
		if (s->listen_fd >= 0)
			close(s->listen_fd);
		s->listen_fd = -1;
		return ret;
	}
	return 0;
}

void server_adopt_listener(struct server *s, int fd, bool activated)
{
	memset(s, 0, sizeof(*s));
	s->listen_fd = fd;
	s->activated = activated;
	fcntl(fd, F_SETFL, O_NONBLOCK);
}

void server_close_listener(struct server *s)
{
	char path[PATH_MAX];

	if (s->listen_fd < 0)
		return;
	if (!s->activated && !ipc_run_path(path, sizeof(path), "ublkd.sock"))
		unlink(path);
	close(s->listen_fd);
	s->listen_fd = -1;
}

static void conn_drop(struct server *s, unsigned i)
{
	close(s->conns[i]->fd);
	free(s->conns[i]);
	s->conns[i] = NULL;
}

void server_close(struct server *s)
{
	for (unsigned i = 0; i < SERVER_MAX_CONNS; i++)
		if (s->conns[i])
			conn_drop(s, i);
	server_close_listener(s);
}

unsigned server_poll_fds(const struct server *s, struct pollfd *pfd)
{
	unsigned n = 0;

	bool room = false;

	for (unsigned i = 0; i < SERVER_MAX_CONNS; i++) {
		room |= !s->conns[i];
		/* One waiting for its answer is not read from: its request is whole. */
		if (s->conns[i] && !s->conns[i]->have_request)
			pfd[n++] = (struct pollfd){ .fd = s->conns[i]->fd, .events = POLLIN };
	}
	/*
	 * With every slot taken, new clients wait in the listen backlog (their connect() blocks)
	 * until one is free, rather than being turned away: a burst of clients is served in turn.
	 */
	if (s->listen_fd >= 0 && room)
		pfd[n++] = (struct pollfd){ .fd = s->listen_fd, .events = POLLIN };
	return n;
}

int server_poll_timeout_ms(const struct server *s)
{
	int64_t first = -1, now = monotonic_ms();

	for (unsigned i = 0; i < SERVER_MAX_CONNS; i++) {
		const struct conn *c = s->conns[i];

		if (c && !c->have_request && (first < 0 || c->deadline_ms < first))
			first = c->deadline_ms;
	}
	if (first < 0)
		return -1;
	return first > now ? (int)(first - now) : 0;
}

static void server_accept(struct server *s)
{
	struct ucred cred;
	socklen_t cred_len = sizeof(cred);
	struct conn *c;
	unsigned slot;
	int fd;

	fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0)
		return;
	for (slot = 0; slot < SERVER_MAX_CONNS && s->conns[slot]; slot++)
		;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cred_len) < 0 ||
	    (cred.uid != 0 && cred.uid != geteuid())) {
		static const char denied[] =
			"error permission denied: the ublkd socket is for root only\n";

		send(fd, denied, sizeof(denied) - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
		close(fd);
		return;
	}
	c = slot < SERVER_MAX_CONNS ? calloc(1, sizeof(*c)) : NULL;
	if (!c) {
		static const char busy[] = "error ublkd is busy: too many clients; try again\n";

		send(fd, busy, sizeof(busy) - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
		close(fd);
		return;
	}
	c->fd = fd;
	c->pid = cred.pid;
	c->deadline_ms = monotonic_ms() + CONN_TIMEOUT_MS;
	s->conns[slot] = c;
}

/* Reads what is there; true once the request is whole (EOF) or the connection must go. */
static bool conn_read(struct conn *c, bool *bad)
{
	for (;;) {
		ssize_t n;

		if (c->in_len == sizeof(c->in) - 1) {
			conn_reply(c, -EMSGSIZE, "request too long");
			*bad = true;
			return true;
		}
		n = read(c->fd, c->in + c->in_len, sizeof(c->in) - 1 - c->in_len);
		if (n > 0) {
			c->in_len += (size_t)n;
			continue;
		}
		if (n == 0) {
			c->in[c->in_len] = '\0';
			return true;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN)
			return false;
		*bad = true;
		return true;
	}
}

void server_dispatch(struct server *s, const struct pollfd *pfd, unsigned nr,
		     void (*on_request)(void *ctx, struct conn *c), void *ctx)
{
	int64_t now = monotonic_ms();

	for (unsigned p = 0; p < nr; p++) {
		if (!pfd[p].revents)
			continue;
		if (pfd[p].fd == s->listen_fd) {
			server_accept(s);
			continue;
		}
		for (unsigned i = 0; i < SERVER_MAX_CONNS; i++) {
			struct conn *c = s->conns[i];
			bool bad = false;

			if (!c || c->fd != pfd[p].fd || c->have_request)
				continue;
			if (!conn_read(c, &bad))
				break;
			c->have_request = true;
			if (bad)
				conn_finish(s, c);
			else
				on_request(ctx, c);
			break;
		}
	}
	for (unsigned i = 0; i < SERVER_MAX_CONNS; i++) {
		struct conn *c = s->conns[i];

		if (c && !c->have_request && c->deadline_ms <= now) {
			log_msg(LOG_LEVEL_INFO, "client pid %d sent no request in %d ms: dropped",
				c->pid, CONN_TIMEOUT_MS);
			conn_drop(s, i);
		}
	}
}

void conn_reply(struct conn *c, int ret, const char *fmt, ...)
{
	size_t room = sizeof(c->out) - c->out_len;
	va_list ap;
	int n;

	n = snprintf(c->out + c->out_len, room, "%s ", ret < 0 ? "error" : "ok");
	if (n < 0 || (size_t)n >= room)
		return;
	c->out_len += (size_t)n;
	room -= (size_t)n;
	va_start(ap, fmt);
	n = vsnprintf(c->out + c->out_len, room, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	c->out_len += (size_t)n < room ? (size_t)n : room - 1;
	if (c->out_len < sizeof(c->out) - 1)
		c->out[c->out_len++] = '\n';
}

void conn_finish(struct server *s, struct conn *c)
{
	const char *p = c->out;
	size_t left = c->out_len;

	if (c->waiting)
		return;
	/* The reply fits the socket's buffer; a client that does not read it loses it. */
	while (left) {
		ssize_t n = send(c->fd, p, left, MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		p += n;
		left -= (size_t)n;
	}
	for (unsigned i = 0; i < SERVER_MAX_CONNS; i++) {
		if (s->conns[i] == c) {
			conn_drop(s, i);
			return;
		}
	}
}
