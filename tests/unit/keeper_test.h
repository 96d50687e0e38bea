/* SPDX-License-Identifier: MIT */
/*
 * What the suites that start a memory keeper share: a run directory of each test's own
 * (UBLKD_RUN_DIR), so that the keeper there is the test's and nobody else's, and the keeper's
 * pid. A test that fails ends its process at once, teardown and all, so the test case's
 * unchecked teardown, in the runner, kills by pid every keeper its tests left and removes
 * their directories.
 */
#ifndef UBLKD_TESTS_UNIT_KEEPER_TEST_H
#define UBLKD_TESTS_UNIT_KEEPER_TEST_H

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "ipc.h"
#include "mem_keeper.h"

static char keeper_test_base[64];
static char keeper_test_dir[128];

/* The test case's directory, where each test makes its own (unchecked fixture). */
static inline void keeper_test_case_setup(void)
{
	snprintf(keeper_test_base, sizeof(keeper_test_base), "/tmp/ublkd-keeper-test.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(keeper_test_base));
}

/* A fresh RUN_DIR; the keeper is the holder (no fd store, not "none"). */
static inline void keeper_test_setup(void)
{
	snprintf(keeper_test_dir, sizeof(keeper_test_dir), "%s/run.XXXXXX", keeper_test_base);
	ck_assert_ptr_nonnull(mkdtemp(keeper_test_dir));
	setenv("UBLKD_RUN_DIR", keeper_test_dir, 1);
	unsetenv("UBLKD_MEMORY_KEEPER");
	unsetenv("FDSTORE");
	unsetenv("NOTIFY_SOCKET");
}

static inline void keeper_test_path(char *buf, size_t buf_bytes, const char *name)
{
	int n = snprintf(buf, buf_bytes, "%s/%s", keeper_test_dir, name);

	ck_assert_msg(n > 0 && (size_t)n < buf_bytes, "%s/%s: too long", keeper_test_dir, name);
}

/* The pid of whoever listens at RUN_DIR/memory.sock, or 0. Asks nothing. */
static inline pid_t keeper_test_pid(void)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct ucred cred = { 0 };
	socklen_t len = sizeof(cred);
	int sock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(sock, 0);
	keeper_test_path(addr.sun_path, sizeof(addr.sun_path), MEM_KEEPER_SOCKET);
	if (connect(sock, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
	    getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		cred.pid = 0;
	close(sock);
	return cred.pid;
}

/* Gone, or a zombie that whoever adopted it has not reaped yet. */
static inline bool keeper_test_gone(pid_t pid)
{
	char path[64], stat[256], *state;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "re");
	if (!f)
		return true;
	stat[0] = '\0';
	if (!fgets(stat, sizeof(stat), f))
		stat[0] = '\0';
	fclose(f);
	state = strrchr(stat, ')');
	return state && state[1] == ' ' && (state[2] == 'Z' || state[2] == 'X');
}

/* Waits up to timeout_ms for pid to go. */
static inline bool keeper_test_wait_gone(pid_t pid, int timeout_ms)
{
	for (int waited = 0; waited < timeout_ms; waited += 10) {
		if (keeper_test_gone(pid))
			return true;
		usleep(10 * 1000);
	}
	return keeper_test_gone(pid);
}

/* Kills the keeper of keeper_test_dir, if one is left, and removes the directory. */
static inline void keeper_test_teardown(void)
{
	pid_t pid = keeper_test_pid();
	struct dirent *e;
	DIR *dir;

	if (pid > 0 && pid != getpid()) {
		kill(pid, SIGKILL);
		keeper_test_wait_gone(pid, 2000);
	}
	dir = opendir(keeper_test_dir);
	while (dir && (e = readdir(dir))) {
		char path[sizeof(keeper_test_dir) + sizeof(e->d_name)];

		snprintf(path, sizeof(path), "%s/%s", keeper_test_dir, e->d_name);
		if (e->d_name[0] != '.')
			unlink(path);
	}
	if (dir)
		closedir(dir);
	rmdir(keeper_test_dir);
}

/* What the test case's tests left, failed ones too (unchecked fixture). */
static inline void keeper_test_case_teardown(void)
{
	DIR *base = opendir(keeper_test_base);
	struct dirent *e;

	while (base && (e = readdir(base))) {
		if (e->d_name[0] == '.')
			continue;
		if ((size_t)snprintf(keeper_test_dir, sizeof(keeper_test_dir), "%s/%s",
				     keeper_test_base, e->d_name) < sizeof(keeper_test_dir))
			keeper_test_teardown();
	}
	if (base)
		closedir(base);
	rmdir(keeper_test_base);
}

#endif /* UBLKD_TESTS_UNIT_KEEPER_TEST_H */
