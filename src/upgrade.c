// SPDX-License-Identifier: MIT
/* In-place upgrade by exec (include/upgrade.h). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "backend.h"
#include "ctrl.h"
#include "device.h"
#include "device_ublk.h"
#include "log.h"
#include "mem_store.h"
#include "upgrade.h"

#define UPGRADE_ENV "UBLKD_UPGRADE"
/* How long QUIESCE_DEV may wait for a device's requests in flight. */
#define UPGRADE_QUIESCE_MS 10000U
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

/* "ID:FD,..." of every memory device's memfd; NULL if there is none (or no memory). */
static char *ram_list(struct device *const *devs, unsigned nr)
{
	size_t len = 0, cap = (size_t)nr * 24 + 1;
	char *list = malloc(cap);

	if (!list)
		return NULL;
	list[0] = '\0';
	for (unsigned i = 0; i < nr; i++) {
		int fd = backend_memory_fd(&devs[i]->be);

		if (fd >= 0)
			len += (size_t)snprintf(list + len, cap - len, "%s%u:%d", len ? "," : "",
						devs[i]->info.dev_id, fd);
	}
	if (!len) {
		free(list);
		return NULL;
	}
	return list;
}

/* Re-executes path with h in the environment; returns only when exec failed. */
static int upgrade_exec(const char *path, const struct daemon_opts *opts,
			const struct upgrade_handoff *h, char *err, size_t err_len)
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
	if (asprintf(&env, "listen=%d activated=%d conn=%d started=%" PRId64 " from=%s ram=%s",
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

int upgrade_hand_over(struct ublk_ctrl *ctrl, struct device *const *devs, unsigned nr,
		      const char *path, const struct daemon_opts *opts, struct upgrade_handoff *h,
		      unsigned *quiesced, char *err, size_t err_len)
{
	int ret;

	*quiesced = 0;
	h->started_ms = monotonic_ms();
	snprintf(h->old_version, sizeof(h->old_version), "%s", UBLKD_VERSION);
	if (!path[0] || access(path, X_OK) < 0) {
		snprintf(err, err_len, "upgrade: no binary to run: %s: %s",
			 path[0] ? path : "/proc/self/exe", strerror(path[0] ? errno : ENOENT));
		return -ENOENT;
	}
	log_msg(LOG_LEVEL_NOTICE, "upgrade: handing %u devices over to %s", nr, path);
	/* Where the kernel can, the requests in flight finish here instead of being sent again. */
	ctrl->timeout_ms = UPGRADE_QUIESCE_MS + 5000;
	for (unsigned i = 0; i < nr; i++) {
		struct device *d = devs[i];

		/* Injected delays end now: the new image sets the faults again from the state. */
		dev_ublk_cut_delays(d, true);
		if (!(d->info.flags & UBLK_F_QUIESCE))
			continue;
		ret = ublk_ctrl_quiesce_dev(ctrl, d->info.dev_id, UPGRADE_QUIESCE_MS);
		if (ret < 0)
			log_msg(LOG_LEVEL_WARNING,
				"upgrade: QUIESCE_DEV of \"%s\": %s; its requests in flight will "
				"be "
				"sent again",
				d->conf.name, strerror(-ret));
		else
			(*quiesced)++;
	}
	ctrl->timeout_ms = 0;
	h->ram = ram_list(devs, nr);
	ret = upgrade_exec(path, opts, h, err, err_len);
	free(h->ram);
	h->ram = NULL;
	for (unsigned i = 0; i < nr; i++)
		dev_ublk_cut_delays(devs[i], false); /* still ours: the faults go on */
	return ret;
}

void upgrade_report(struct upgrade_handoff *h, unsigned live, unsigned lost,
		    const char *lost_details)
{
	int64_t paused_ms = monotonic_ms() - h->started_ms;
	char msg[256];

	snprintf(msg, sizeof(msg),
		 "upgraded ublkd %s to %s in place (pid %d): %u devices live again, %u lost; I/O "
		 "paused %lld ms",
		 h->old_version, UBLKD_VERSION, getpid(), live, lost, (long long)paused_ms);
	log_msg(lost ? LOG_LEVEL_ERR : LOG_LEVEL_NOTICE, "%s", msg);
	if (h->conn_fd < 0)
		return;
	if (dprintf(h->conn_fd, "%s%s\n%s", lost ? "error " : "ok ", msg,
		    lost ? lost_details : "") < 0)
		log_msg(LOG_LEVEL_WARNING, "upgrade: the client went: %s", strerror(errno));
	close(h->conn_fd);
	h->conn_fd = -1;
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
	if (sscanf(env, "listen=%d activated=%d conn=%d started=%" SCNd64 " from=%31s",
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
