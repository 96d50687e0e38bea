// SPDX-License-Identifier: MIT
/* A daemon detached from its starter (include/detach.h). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon.h"
#include "detach.h"
#include "ipc.h"
#include "rundir.h"

/* The starting side of a background daemon: relays its report, exits when it is ready. */
static int wait_for_daemon(int report_fd, const char *log_path)
{
	char buf[8192], *line, *save = NULL;
	size_t got = 0;
	ssize_t n;
	int status = -1;

	while (got < sizeof(buf) - 1 && (n = read(report_fd, buf + got, sizeof(buf) - 1 - got)))
		if (n > 0)
			got += (size_t)n;
		else if (errno != EINTR)
			break;
	buf[got] = '\0';
	close(report_fd);
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (!strncmp(line, "warning ", 8)) {
			fprintf(stderr, "ublkd: serve: %s\n", line + 8);
		} else if (!strcmp(line, "ready")) {
			status = 0;
		} else if (!strncmp(line, "fatal ", 6)) {
			fprintf(stderr, "ublkd: serve: %s\n", line + 6);
			status = 1;
		}
	}
	if (status < 0) {
		fprintf(stderr, "ublkd: serve: the daemon died while starting (see %s)\n",
			log_path);
		status = 1;
	}
	return status;
}

/* Forks the daemon into its own session, logging to RUN_DIR/ublkd.log. */
int detach_serve(struct daemon_opts *opts)
{
	char log_path[PATH_MAX];
	int pipefd[2], log_fd, null_fd;
	pid_t pid;

	char err[PATH_MAX + 128];

	if (ipc_run_path(log_path, sizeof(log_path), "ublkd.log") < 0) {
		fprintf(stderr, "ublkd: serve: %s: path too long\n", ipc_run_dir());
		return 1;
	}
	if (rundir_prepare(err, sizeof(err)) < 0) {
		fprintf(stderr, "ublkd: serve: %s\n", err);
		return 1;
	}
	log_fd = rundir_open("ublkd.log", O_WRONLY | O_CREAT | O_APPEND, 0640);
	if (log_fd < 0) {
		fprintf(stderr, "ublkd: serve: %s: %s%s\n", log_path, strerror(-log_fd),
			log_fd == -ELOOP ? " (a symlink; ublkd does not follow it)" : "");
		return 1;
	}
	null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (null_fd < 0 || pipe2(pipefd, O_CLOEXEC) < 0) {
		fprintf(stderr, "ublkd: serve: %s\n", strerror(errno));
		return 1;
	}
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		fprintf(stderr, "ublkd: serve: fork: %s\n", strerror(errno));
		return 1;
	}
	if (pid > 0) {
		int status;

		close(pipefd[1]);
		close(log_fd);
		close(null_fd);
		status = wait_for_daemon(pipefd[0], log_path);
		/* One that failed holds the lock until it exits: a serve run right after us must
		 * not find it "already running". */
		if (status)
			waitpid(pid, NULL, 0);
		return status;
	}
	close(pipefd[0]);
	setsid();
	if (chdir("/") < 0 || dup2(null_fd, STDIN_FILENO) < 0 || dup2(log_fd, STDOUT_FILENO) < 0 ||
	    dup2(log_fd, STDERR_FILENO) < 0)
		_exit(1);
	close(null_fd);
	close(log_fd);
	opts->report_fd = pipefd[1];
	_exit(daemon_serve(opts));
}
