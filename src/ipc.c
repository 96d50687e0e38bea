// SPDX-License-Identifier: MIT
/* The control socket's plumbing shared by the daemon and its clients (include/ipc.h). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "dev_conf.h"
#include "ipc.h"

const char *ipc_run_dir(void)
{
	const char *dir = getenv("UBLKD_RUN_DIR");

	return dir && *dir ? dir : IPC_DEFAULT_RUN_DIR;
}

int ipc_run_path(char *buf, size_t buf_bytes, const char *name)
{
	int n = snprintf(buf, buf_bytes, "%s/%s", ipc_run_dir(), name);

	return n < 0 || (size_t)n >= buf_bytes ? -ENAMETOOLONG : 0;
}

int ipc_state_file_path(char *buf, size_t buf_bytes, uint32_t id)
{
	char name[32];

	snprintf(name, sizeof(name), "devices/%u.conf", id);
	return ipc_run_path(buf, buf_bytes, name);
}

int ipc_parse_id(const char *text, unsigned *id)
{
	unsigned long value = 0;

	/* Digits only: no sign, no blanks, no 0x; and never wrapped (4294967296 is not 0). */
	if (!*text || strspn(text, "0123456789") != strlen(text) || strlen(text) > 7)
		return -EINVAL;
	for (const char *p = text; *p; p++)
		value = value * 10 + (unsigned long)(*p - '0');
	if (value > DEV_MAX_ID)
		return -ERANGE;
	*id = (unsigned)value;
	return 0;
}

int ipc_parse_dev_ref(const char *what, unsigned *id)
{
	static const char *const prefixes[] = { "", "/dev/ublkb", "/dev/ublkc" };

	for (unsigned i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
		size_t n = strlen(prefixes[i]);

		if (!strncmp(what, prefixes[i], n) && ipc_parse_id(what + n, id) == 0)
			return 0;
	}
	return -EINVAL;
}

bool ipc_server_alive(pid_t pid)
{
	char path[64], text[512];
	const char *paren;
	ssize_t n;
	int fd;

	/* EPERM: it exists, we may just not signal it. */
	if (pid <= 0 || (kill(pid, 0) < 0 && errno != EPERM))
		return false;
	/*
	 * A zombie (killed, not yet reaped) still answers kill(pid, 0) but serves nothing: for a
	 * while after SIGKILL its device is "live" in the kernel with this pid. The state is the
	 * field after the command name, which may itself hold ") ", hence the last ')'.
	 */
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno != ENOENT;
	n = read(fd, text, sizeof(text) - 1);
	close(fd);
	if (n <= 0)
		return true;
	text[n] = '\0';
	paren = strrchr(text, ')');
	return !paren || paren[1] != ' ' || (paren[2] != 'Z' && paren[2] != 'X');
}

ssize_t ipc_read_all(int fd, char *buf, size_t buf_bytes)
{
	size_t got = 0;

	for (;;) {
		ssize_t n;

		if (got == buf_bytes - 1) {
			char extra;

			n = read(fd, &extra, 1);
			if (n == 0)
				break;
			if (n < 0 && errno == EINTR)
				continue;
			return n < 0 ? -errno : -EMSGSIZE;
		}
		n = read(fd, buf + got, buf_bytes - 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	buf[got] = '\0';
	return (ssize_t)got;
}

int ipc_write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

int ipc_connect(void)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd, ret;

	ret = ipc_run_path(addr.sun_path, sizeof(addr.sun_path), "ublkd.sock");
	if (ret < 0)
		return ret;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		ret = -errno;
		close(fd);
		return ret;
	}
	return fd;
}
