// SPDX-License-Identifier: MIT
/* In-place upgrade by exec (include/upgrade.h). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "mem_store.h"
#include "upgrade.h"

#define UPGRADE_ENV "UBLKD_UPGRADE"
#define DELETED_SUFFIX " (deleted)"

int upgrade_self_path(char *buf, size_t len)
{
	ssize_t n = readlink("/proc/self/exe", buf, len - 1);
	size_t suffix = strlen(DELETED_SUFFIX);

	if (n < 0)
		return -errno;
	if ((size_t)n >= len - 1)
		return -ENAMETOOLONG;
	buf[n] = '\0';
	/* A package upgrade replaced the file we run from: its new version is what we want. */
	if ((size_t)n > suffix && !strcmp(buf + n - suffix, DELETED_SUFFIX))
		buf[n - suffix] = '\0';
	return 0;
}

static int keep_across_exec(int fd)
{
	int flags = fd < 0 ? 0 : fcntl(fd, F_GETFD);

	if (fd >= 0 && (flags < 0 || fcntl(fd, F_SETFD, flags & ~FD_CLOEXEC) < 0))
		return -errno;
	return 0;
}

int upgrade_exec(const char *path, const struct daemon_opts *opts, const struct upgrade_handoff *h,
		 char *err, size_t err_len)
{
	const char *ram = h->ram ? h->ram : "";
	const char *argv[10];
	unsigned argc = 0;
	char *env = NULL;
	int ret = 0;

	argv[argc++] = "ublkd";
	argv[argc++] = "serve";
	/* Already detached, with stderr on the log: no second fork, no new pid. */
	argv[argc++] = "--foreground";
	if (opts->config_path) {
		argv[argc++] = "--config";
		argv[argc++] = opts->config_path;
	}
	if (opts->auto_exit)
		argv[argc++] = "--auto-exit";
	if (opts->log_level_given) {
		argv[argc++] = "--log-level";
		argv[argc++] = log_level_name(log_get_level());
	}
	argv[argc] = NULL;
	if (asprintf(&env, "listen=%d activated=%d conn=%d started=%" PRIu64 " from=%s ram=%s",
		     h->listen_fd, h->activated, h->conn_fd, h->started_ms, h->old_version,
		     ram) < 0) {
		env = NULL;
		ret = -ENOMEM;
	}
	if (!ret)
		ret = keep_across_exec(h->listen_fd);
	if (!ret)
		ret = keep_across_exec(h->conn_fd);
	for (const char *p = ram; !ret && *p; p = strchr(p, ',') ? strchr(p, ',') + 1 : "") {
		unsigned id;
		int fd;

		if (sscanf(p, "%u:%d", &id, &fd) == 2)
			ret = keep_across_exec(fd);
	}
	if (!ret && setenv(UPGRADE_ENV, env, 1) < 0)
		ret = -errno;
	free(env);
	if (!ret) {
		execv(path, (char *const *)argv);
		ret = -errno;
	}
	unsetenv(UPGRADE_ENV);
	snprintf(err, err_len, "exec %s: %s", path, strerror(-ret));
	return ret;
}

/* Whether fd is a unix stream socket, listening or not as wanted. */
static bool is_unix_stream(int fd, bool listening)
{
	int type = 0, accepting = 0;
	socklen_t len = sizeof(type);

	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 || type != SOCK_STREAM)
		return false;
	len = sizeof(accepting);
	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &len) < 0)
		return false;
	return !accepting == !listening;
}

bool upgrade_take(struct upgrade_handoff *h)
{
	const char *env = getenv(UPGRADE_ENV), *ram;
	int activated = 0;

	memset(h, 0, sizeof(*h));
	h->listen_fd = h->conn_fd = -1;
	if (!env)
		return false;
	if (sscanf(env, "listen=%d activated=%d conn=%d started=%" SCNu64 " from=%31s",
		   &h->listen_fd, &activated, &h->conn_fd, &h->started_ms, h->old_version) != 5 ||
	    h->listen_fd < 0 || !is_unix_stream(h->listen_fd, true) ||
	    (h->conn_fd >= 0 && !is_unix_stream(h->conn_fd, false))) {
		log_msg(LOG_LEVEL_WARNING, "%s=\"%s\": not what an upgrade hands over; ignored",
			UPGRADE_ENV, env);
		unsetenv(UPGRADE_ENV);
		memset(h, 0, sizeof(*h));
		h->listen_fd = h->conn_fd = -1;
		return false;
	}
	ram = strstr(env, " ram=");
	h->ram = ram && ram[5] ? strdup(ram + 5) : NULL;
	unsetenv(UPGRADE_ENV);
	h->activated = activated;
	fcntl(h->listen_fd, F_SETFD, FD_CLOEXEC);
	if (h->conn_fd >= 0)
		fcntl(h->conn_fd, F_SETFD, FD_CLOEXEC);
	return true;
}

void upgrade_offer_ram(struct upgrade_handoff *h)
{
	char *save = NULL;

	for (char *item = h->ram ? strtok_r(h->ram, ",", &save) : NULL; item;
	     item = strtok_r(NULL, ",", &save)) {
		unsigned id;
		int fd;

		if (sscanf(item, "%u:%d", &id, &fd) != 2 || fd < 0)
			continue;
		fcntl(fd, F_SETFD, FD_CLOEXEC);
		if (!mem_store_offer(id, fd))
			log_msg(LOG_LEVEL_WARNING, "upgrade: fd %d for memory-%u is not its RAM",
				fd, id);
	}
	free(h->ram);
	h->ram = NULL;
}
