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

#include "notify.h"

int notify_send(const char *state)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	size_t path_len;
	socklen_t addr_len;
	ssize_t sent;
	int fd, ret = 0;

	if (!path || !*path)
		return 0;
	path_len = strlen(path);
	if ((path[0] != '/' && path[0] != '@') || path_len >= sizeof(addr.sun_path))
		return -EINVAL;
	memcpy(addr.sun_path, path, path_len);
	/* "@name" is the abstract namespace: a leading NUL, and no NUL counted at the end. */
	if (path[0] == '@')
		addr.sun_path[0] = '\0';
	addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + path_len);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	sent = sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&addr, addr_len);
	if (sent < 0)
		ret = -errno;
	close(fd);
	return ret;
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
