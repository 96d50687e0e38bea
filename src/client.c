// SPDX-License-Identifier: MIT
/* `ublkd add` and `ublkd del`: requests to the daemon, which is started when none runs. */
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "client.h"
#include "config.h"
#include "ctrl.h"
#include "ipc.h"

/* Device creation under an emulator can take a while; a live kernel answers in milliseconds. */
#define CLIENT_REPLY_TIMEOUT_S 300

/* client_exchange(): the daemon closed its socket before accepting us; safe to ask again. */
#define CLIENT_NOT_ACCEPTED (-1)

/*
 * Sends req, prints the reply: "ok X" lines to stdout as X, errors to stderr; the exit status.
 * With may_retry, a connection the daemon never accepted (it was retiring) is not reported but
 * returned as CLIENT_NOT_ACCEPTED.
 */
static int client_exchange(int fd, const char *req, const char *what, bool may_retry)
{
	static char reply[IPC_MSG_MAX];
	struct timeval tv = { .tv_sec = CLIENT_REPLY_TIMEOUT_S };
	int status = 0, ret;
	char *line, *save = NULL;
	ssize_t n;

	ret = ipc_write_all(fd, req, strlen(req));
	if (ret == 0 && shutdown(fd, SHUT_WR) < 0)
		ret = -errno;
	if (ret < 0) {
		fprintf(stderr, "ublkd: %s: sending to the daemon: %s\n", what, strerror(-ret));
		return 1;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	n = ipc_read_all(fd, reply, sizeof(reply));
	if (n == -ECONNRESET && may_retry)
		return CLIENT_NOT_ACCEPTED;
	if (n < 0) {
		fprintf(stderr, "ublkd: %s: no answer from the daemon: %s\n", what,
			strerror((int)-n));
		return 1;
	}
	if (n == 0) {
		fprintf(stderr, "ublkd: %s: the daemon hung up without an answer (see its log)\n",
			what);
		return 1;
	}
	for (line = strtok_r(reply, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (!strncmp(line, "ok ", 3)) {
			printf("%s\n", line + 3);
		} else {
			fprintf(stderr, "ublkd: %s\n",
				strncmp(line, "error ", 6) ? line : line + 6);
			status = 1;
		}
	}
	return status;
}

/* Runs `ublkd serve --auto-exit`, which returns once its daemon listens (or failed to). */
static int start_daemon(void)
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return -errno;
	if (pid == 0) {
		char self[PATH_MAX];
		ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

		/* By its own name, so that ps and /proc/PID/comm say "ublkd", not "exe". */
		if (n <= 0 || n >= (ssize_t)sizeof(self) - 1)
			strcpy(self, "/proc/self/exe");
		else
			self[n] = '\0';
		execl(self, "ublkd", "serve", "--auto-exit", (char *)NULL);
		fprintf(stderr, "ublkd: add: starting the daemon: %s: %s\n", self, strerror(errno));
		_exit(127);
	}
	if (waitpid(pid, &status, 0) < 0)
		return -errno;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static bool no_daemon(int err)
{
	return err == -ENOENT || err == -ECONNREFUSED;
}

int client_add(const char *request_body)
{
	static char req[IPC_MSG_MAX];
	int fd, status;

	if ((size_t)snprintf(req, sizeof(req), "add\n%s", request_body) >= sizeof(req)) {
		fprintf(stderr, "ublkd: add: request too long\n");
		return 1;
	}
	/* A second try covers an auto-started daemon retiring just as we came. */
	for (int attempt = 0;; attempt++) {
		fd = ipc_connect();
		if (no_daemon(fd)) {
			/* A daemon that loses a start race exits "already running": the winner serves. */
			status = start_daemon();
			fd = ipc_connect();
			if (fd < 0 && status) {
				/* serve has said why on stderr. */
				return 1;
			}
		}
		if (fd < 0) {
			fprintf(stderr, "ublkd: add: %s/ublkd.sock: %s\n", ipc_run_dir(),
				strerror(-fd));
			return 1;
		}
		status = client_exchange(fd, req, "add", attempt == 0);
		close(fd);
		if (status != CLIENT_NOT_ACCEPTED)
			return status;
	}
}

/* The id of the device a (dead) daemon described as name in RUN_DIR/devices/ID.conf. */
static int state_file_id(const char *name, unsigned *id)
{
	char dir_path[PATH_MAX], path[PATH_MAX + 256], err[CONFIG_ERR_MAX];
	struct dirent *e;
	int ret = -ENOENT;
	DIR *dir;

	if (ipc_run_path(dir_path, sizeof(dir_path), "devices") < 0 || !(dir = opendir(dir_path)))
		return -ENOENT;
	while (ret < 0 && (e = readdir(dir))) {
		struct config cfg;
		unsigned long file_id;
		char *end;

		file_id = strtoul(e->d_name, &end, 10);
		if (end == e->d_name || strcmp(end, ".conf") || file_id > DEV_MAX_ID)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir_path, e->d_name);
		if (config_load(path, &cfg, err, sizeof(err)) < 0)
			continue;
		if (cfg.nr_devs == 1 && !strcmp(cfg.devs[0].conf.name, name)) {
			*id = (unsigned)file_id;
			ret = 0;
		}
		config_free(&cfg);
	}
	closedir(dir);
	return ret;
}

/* Without a daemon: stop and delete a device straight through the kernel (its server is gone). */
static int del_in_kernel(const char *what)
{
	struct ublksrv_ctrl_dev_info info;
	struct ublk_ctrl c;
	unsigned id;
	int ret;

	if (!strcmp(what, "--all")) {
		fprintf(stderr, "ublkd: del --all: no ublkd is running; nothing to delete\n");
		return 0;
	}
	if (ipc_parse_dev_ref(what, &id) < 0 && state_file_id(what, &id) < 0) {
		fprintf(stderr,
			"ublkd: del %s: no ublkd is running, and no device of that name is in "
			"%s/devices\n",
			what, ipc_run_dir());
		return 1;
	}
	ret = ublk_ctrl_open(&c);
	if (ret < 0) {
		fprintf(stderr, "ublkd: del %s: %s: %s%s\n", what, c.err_subject, strerror(-ret),
			ublk_ctrl_open_hint(&c, ret));
		return 1;
	}
	ret = ublk_ctrl_get_dev_info(&c, id, &info);
	if (ret == -ENODEV) {
		fprintf(stderr, "ublkd: del %s: no ublk device %u\n", what, id);
		goto out;
	}
	if (!ret && info.ublksrv_pid > 0 && ipc_server_alive(info.ublksrv_pid)) {
		fprintf(stderr, "ublkd: del %s: served by pid %d, which is not this ublkd\n", what,
			info.ublksrv_pid);
		ret = -EBUSY;
		goto out;
	}
	if (!ret)
		ret = ublk_ctrl_stop_dev(&c, id);
	if (!ret)
		ret = ublk_ctrl_del_dev(&c, id);
	if (ret < 0) {
		fprintf(stderr, "ublkd: del %s: %s\n", what, strerror(-ret));
	} else {
		char path[PATH_MAX];

		/* The dead daemon's description of it, which list would show for a new device. */
		if (!ipc_state_file_path(path, sizeof(path), id))
			unlink(path);
		printf("/dev/ublkb%u\n", id);
	}
out:
	ublk_ctrl_close(&c);
	return ret < 0 ? 1 : 0;
}

int client_del(const char *what)
{
	static char req[IPC_MSG_MAX];
	char label[PATH_MAX + 8];
	int fd, status;

	if (strchr(what, '\n') ||
	    (size_t)snprintf(req, sizeof(req), "del %s", what) >= sizeof(req)) {
		fprintf(stderr, "ublkd: del: bad device name\n");
		return 2;
	}
	fd = ipc_connect();
	if (no_daemon(fd))
		return del_in_kernel(what);
	if (fd < 0) {
		fprintf(stderr, "ublkd: del %s: %s/ublkd.sock: %s\n", what, ipc_run_dir(),
			strerror(-fd));
		return 1;
	}
	snprintf(label, sizeof(label), "del %s", what);
	status = client_exchange(fd, req, label, false);
	close(fd);
	return status;
}
