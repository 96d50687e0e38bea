// SPDX-License-Identifier: MIT
/* Runs a program with its output captured (tests/common/run.h). */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "run.h"

const char *ublkd_bin(void)
{
	const char *bin = getenv("UBLKD_BIN");

	return bin && *bin ? bin : "./ublkd";
}

/* Drains both pipes until both hit EOF, so a chatty child never blocks on a full pipe. */
static void drain(int out_fd, int err_fd, struct run_result *r)
{
	size_t got[2] = { 0, 0 };
	char *bufs[2] = { r->out, r->err };
	struct pollfd pfd[2] = { { .fd = out_fd, .events = POLLIN },
				 { .fd = err_fd, .events = POLLIN } };
	int open_fds = 2;

	while (open_fds) {
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		for (int i = 0; i < 2; i++) {
			char sink[4096];
			ssize_t n;

			if (pfd[i].fd < 0 || !(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			if (got[i] < RUN_OUTPUT_MAX - 1)
				n = read(pfd[i].fd, bufs[i] + got[i], RUN_OUTPUT_MAX - 1 - got[i]);
			else
				n = read(pfd[i].fd, sink, sizeof(sink));
			if (n > 0 && got[i] < RUN_OUTPUT_MAX - 1)
				got[i] += (size_t)n;
			if (n == 0 || (n < 0 && errno != EINTR)) {
				close(pfd[i].fd);
				pfd[i].fd = -1;
				open_fds--;
			}
		}
	}
	r->out[got[0]] = '\0';
	r->err[got[1]] = '\0';
}

int run_argv(struct run_result *r, const char *const argv[])
{
	int out[2], err[2], status;
	pid_t pid;

	r->status = -1;
	r->out[0] = r->err[0] = '\0';
	if (pipe(out) < 0 || pipe(err) < 0)
		return -1;
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		dup2(out[1], STDOUT_FILENO);
		dup2(err[1], STDERR_FILENO);
		close(out[0]);
		close(out[1]);
		close(err[0]);
		close(err[1]);
		execvp(argv[0], (char *const *)argv);
		fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(out[1]);
	close(err[1]);
	drain(out[0], err[0], r);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	r->status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	return r->status;
}

int run_ublkd(struct run_result *r, ...)
{
	const char *argv[64];
	unsigned n = 0;
	va_list ap;

	argv[n++] = ublkd_bin();
	va_start(ap, r);
	while (n < 63 && (argv[n] = va_arg(ap, const char *)))
		n++;
	va_end(ap);
	argv[n] = NULL;
	return run_argv(r, argv);
}

int run_sh(struct run_result *r, const char *fmt, ...)
{
	char cmd[8192];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return run_argv(r, (const char *const[]){ "sh", "-c", cmd, NULL });
}

bool run_in_child(int (*body)(void))
{
	int status;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid == 0)
		_exit(body());
	if (pid < 0)
		return false;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return false;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

void child_expect(bool ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "child %d: %s\n", getpid(), what);
		_exit(1);
	}
}
