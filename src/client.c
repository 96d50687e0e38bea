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

#include "backend.h"
#include "client.h"
#include "config.h"
#include "ctrl.h"
#include "ipc.h"
#include "request.h"
#include "state_store.h"
#include "teardown.h"

/* Device creation under an emulator can take a while; a live kernel answers in milliseconds. */
#define CLIENT_REPLY_TIMEOUT_S 300

/* client_exchange(): the daemon closed its socket before accepting us; safe to ask again. */
#define CLIENT_NOT_ACCEPTED (-1)
/*
 * client_exchange(): a daemon older than the end line (include/request.h) refused a request
 * that has no body ("reload", "upgrade", "recover"), which it would take without the line:
 * after a package upgrade the new `ublkd upgrade` or `systemctl reload` reaches the old daemon.
 * Safe to send bare: a cut-short bodyless request names no other request.
 */
#define CLIENT_OLD_DAEMON (-2)

/*
 * Sends req, prints the reply: "ok X" lines to stdout as X, errors to stderr; the exit status.
 * With may_retry, a connection the daemon never accepted (it was retiring) is not reported but
 * returned as CLIENT_NOT_ACCEPTED.
 */
static int client_exchange(int fd, const char *req, const char *what, bool may_retry, bool end_line)
{
	char old_refusal[64];
	static char reply[IPC_MSG_MAX];
	struct timeval tv = { .tv_sec = CLIENT_REPLY_TIMEOUT_S };
	int status = 0, ret;
	char *line, *save = NULL;
	ssize_t n;

	/* What the daemon reads: req, a newline, the end line, in fewer than IPC_MSG_MAX bytes. */
	if (strlen(req) + 1 + strlen(REQUEST_END) >= IPC_MSG_MAX) {
		fprintf(stderr, "ublkd: %s: request too long (%zu bytes; at most %d)\n", what,
			strlen(req), IPC_MSG_MAX - 2 - (int)strlen(REQUEST_END));
		return 1;
	}
	ret = ipc_write_all(fd, req, strlen(req));
	if (ret == 0 && end_line && req[0] && req[strlen(req) - 1] != '\n')
		ret = ipc_write_all(fd, "\n", 1);
	if (ret == 0 && end_line)
		ret = ipc_write_all(fd, REQUEST_END, strlen(REQUEST_END));
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
	snprintf(old_refusal, sizeof(old_refusal), "error unknown request \"%.32s\"\n", req);
	if (end_line && !strchr(req, '\n') && !strcmp(reply, old_refusal))
		return CLIENT_OLD_DAEMON;
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

/*
 * Under systemd with ublkd.service installed, the service owns every device: a daemon started
 * here would live in the caller's session or unit and die with it (an SSH logout, the end of a
 * oneshot unit). Only for the default run directory: another one is not the service's.
 */
static bool service_installed(void)
{
	static const char *const unit_dirs[] = {
		"/etc/systemd/system",	   "/run/systemd/system", "/usr/local/lib/systemd/system",
		"/usr/lib/systemd/system", "/lib/systemd/system",
	};
	char path[PATH_MAX];

	/* sd_booted(3): systemd is PID 1. */
	if (strcmp(ipc_run_dir(), IPC_DEFAULT_RUN_DIR) || access("/run/systemd/system", F_OK) < 0)
		return false;
	for (size_t i = 0; i < sizeof(unit_dirs) / sizeof(unit_dirs[0]); i++) {
		snprintf(path, sizeof(path), "%s/ublkd.service", unit_dirs[i]);
		if (access(path, F_OK) == 0)
			return true;
	}
	return false;
}

/* Runs argv and waits: its exit status (128 + signal if killed), or -errno. */
static int run_command(const char *path, char *const argv[])
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return -errno;
	if (pid == 0) {
		execvp(path, argv);
		fprintf(stderr, "ublkd: %s: %s\n", path, strerror(errno));
		_exit(127);
	}
	if (waitpid(pid, &status, 0) < 0)
		return -errno;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/*
 * Starts the daemon: ublkd.service where it is installed, else `ublkd serve --auto-exit`,
 * which returns once its daemon listens (or failed to, having said why on stderr).
 */
static int start_daemon(void)
{
	char self[PATH_MAX];
	ssize_t n;
	int status;

	if (service_installed()) {
		status = run_command("systemctl",
				     (char *[]){ "systemctl", "start", "ublkd.service", NULL });
		if (status)
			fprintf(stderr, "ublkd: ublkd.service did not start (see systemctl status "
					"ublkd.service)\n");
		return status;
	}
	/* By its own name, so that ps and /proc/PID/comm say "ublkd", not "exe". */
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0 || n >= (ssize_t)sizeof(self) - 1)
		strcpy(self, "/proc/self/exe");
	else
		self[n] = '\0';
	return run_command(self, (char *[]){ "ublkd", "serve", "--auto-exit", NULL });
}

static bool no_daemon(int err)
{
	return err == -ENOENT || err == -ECONNREFUSED;
}

/*
 * Sends req to the daemon, started first when none runs (its start adopts what a dead one
 * left); what: the command, for messages.
 */
static int client_request_starting(const char *req, const char *what)
{
	bool old_daemon = false;
	int fd, status;

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
			fprintf(stderr, "ublkd: %s: %s/ublkd.sock: %s\n", what, ipc_run_dir(),
				strerror(-fd));
			return 1;
		}
		status = client_exchange(fd, req, what, attempt == 0, !old_daemon);
		close(fd);
		old_daemon |= status == CLIENT_OLD_DAEMON;
		if (status != CLIENT_NOT_ACCEPTED && status != CLIENT_OLD_DAEMON)
			return status;
	}
}

int client_add(const char *request_body)
{
	static char req[IPC_MSG_MAX];

	if ((size_t)snprintf(req, sizeof(req), "add\n%s", request_body) >= sizeof(req)) {
		fprintf(stderr, "ublkd: add: request too long\n");
		return 1;
	}
	return client_request_starting(req, "add");
}

int client_recover(void)
{
	return client_request_starting("recover", "recover");
}

/* Without a daemon: stop and delete a device straight through the kernel (its server is gone). */
static int del_in_kernel(const char *what)
{
	char err[DEV_ERR_MAX + 64];
	struct ublksrv_ctrl_dev_info info;
	struct ublk_ctrl c;
	unsigned id;
	int ret;

	if (!strcmp(what, "--all")) {
		fprintf(stderr, "ublkd: del --all: no ublkd is running; nothing to delete\n");
		return 0;
	}
	if (ipc_parse_dev_ref(what, &id) < 0 && state_store_find_name(what, &id) < 0) {
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
	ublk_ctrl_close(&c);
	if (ret < 0) {
		fprintf(stderr, "ublkd: del %s: GET_DEV_INFO: %s\n", what, strerror(-ret));
		return 1;
	}
	ret = teardown_orphan(id, err, sizeof(err));
	if (ret < 0) {
		fprintf(stderr, "ublkd: del %s: %s\n", what, err);
		return 1;
	}
	/* The dead daemon's description of it, which list would show for a new device. */
	state_store_remove(id);
	/* A memory device's RAM, held for a daemon that would have adopted it. */
	backend_forget(BACKEND_MEMORY, id);
	printf("/dev/ublkb%u\n", id);
	return 0;
out:
	ublk_ctrl_close(&c);
	return ret < 0 ? 1 : 0;
}

int client_del(const char *what, bool force)
{
	static char req[IPC_MSG_MAX];
	char label[PATH_MAX + 8];
	int fd, status;

	if (strchr(what, '\n') || (size_t)snprintf(req, sizeof(req), "del %s%s", what,
						   force ? "\nforce" : "") >= sizeof(req)) {
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
	status = client_exchange(fd, req, label, false, true);
	close(fd);
	return status;
}

/* Sends req to the running daemon; none running is an error, said with what. */
static int client_request_running(const char *req, const char *what)
{
	int status = CLIENT_OLD_DAEMON;

	for (int attempt = 0; status == CLIENT_OLD_DAEMON && attempt < 2; attempt++) {
		int fd = ipc_connect();

		if (fd < 0) {
			fprintf(stderr, "ublkd: %s: no ublkd is running (%s/ublkd.sock: %s)\n",
				what, ipc_run_dir(), strerror(-fd));
			return 1;
		}
		status = client_exchange(fd, req, what, false, attempt == 0);
		close(fd);
	}
	return status;
}

int client_reload(void)
{
	return client_request_running("reload", "reload");
}

int client_upgrade(void)
{
	return client_request_running("upgrade", "upgrade");
}

int client_inject(const char *what, const char *spec)
{
	static char req[IPC_MSG_MAX];
	char label[PATH_MAX + 16];

	if ((size_t)snprintf(req, sizeof(req), "inject %s\n%s", what, spec) >= sizeof(req)) {
		fprintf(stderr, "ublkd: inject: device name too long\n");
		return 2;
	}
	snprintf(label, sizeof(label), "inject %s", what);
	return client_request_running(req, label);
}
