// SPDX-License-Identifier: MIT
/* sd_notify(3) in a few lines (include/notify.h). */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "fdpass.h"
#include "notify.h"

/* $NOTIFY_SOCKET as an address: 1, 0 when it is unset or empty, -EINVAL when it is no socket. */
static int notify_addr(struct sockaddr_un *addr, socklen_t *addr_len)
{
	const char *path = getenv("NOTIFY_SOCKET");
	size_t path_len;

	if (!path || !*path)
		return 0;
	path_len = strlen(path);
	if ((path[0] != '/' && path[0] != '@') || path_len >= sizeof(addr->sun_path))
		return -EINVAL;
	memset(addr, 0, sizeof(*addr));
	addr->sun_family = AF_UNIX;
	memcpy(addr->sun_path, path, path_len);
	/* "@name" is the abstract namespace: a leading NUL, and no NUL counted at the end. */
	if (path[0] == '@')
		addr->sun_path[0] = '\0';
	*addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + path_len);
	return 1;
}

int notify_send_fd(const char *state, int fd)
{
	struct sockaddr_un addr;
	socklen_t addr_len;
	ssize_t sent;
	int sock, ret;

	ret = notify_addr(&addr, &addr_len);
	if (ret <= 0)
		return ret;
	sock = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (sock < 0)
		return -errno;
	sent = fdpass_send(sock, &addr, addr_len, state, strlen(state), fd);
	close(sock);
	return sent < 0 ? (int)sent : 0;
}

int notify_send(const char *state)
{
	return notify_send_fd(state, -1);
}

int notify_sendf(const char *fmt, ...)
{
	char state[4096];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(state, sizeof(state), fmt, ap);
	va_end(ap);
	return notify_send(state);
}
