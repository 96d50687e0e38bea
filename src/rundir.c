// SPDX-License-Identifier: MIT
/* The run directory of include/rundir.h: made, checked, locked; its files opened safely. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ipc.h"
#include "rundir.h"

int rundir_check_dir(const char *path, char *err, size_t err_len)
{
	struct stat st;

	if (lstat(path, &st) < 0) {
		int ret = -errno;

		snprintf(err, err_len, "%s: %s", path, strerror(-ret));
		return ret;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(err, err_len, "%s: not a directory%s", path,
			 S_ISLNK(st.st_mode) ? " (a symlink; ublkd does not follow it)" : "");
		return -ENOTDIR;
	}
	/* Anyone else who could write here could plant the socket or a state file we trust. */
	if (st.st_uid != geteuid()) {
		snprintf(err, err_len, "%s: owned by uid %u, not by us (uid %u); remove it", path,
			 (unsigned)st.st_uid, (unsigned)geteuid());
		return -EPERM;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		snprintf(err, err_len, "%s: writable by %s (mode %04o); chmod go-w it", path,
			 st.st_mode & S_IWOTH ? "everyone" : "its group",
			 (unsigned)(st.st_mode & 07777));
		return -EPERM;
	}
	return 0;
}

static int make_dir(const char *path, char *err, size_t err_len)
{
	if (mkdir(path, 0755) < 0 && errno != EEXIST) {
		int ret = -errno;

		snprintf(err, err_len, "%s: %s", path, strerror(-ret));
		return ret;
	}
	return rundir_check_dir(path, err, err_len);
}

int rundir_prepare(char *err, size_t err_len)
{
	char path[PATH_MAX];
	int ret = ipc_run_path(path, sizeof(path), "devices");

	if (ret < 0) {
		snprintf(err, err_len, "%s: run directory path too long", ipc_run_dir());
		return ret;
	}
	ret = make_dir(ipc_run_dir(), err, err_len);
	return ret < 0 ? ret : make_dir(path, err, err_len);
}

int rundir_open(const char *name, int flags, mode_t mode)
{
	char path[PATH_MAX];
	int fd, ret = ipc_run_path(path, sizeof(path), name);

	if (ret < 0)
		return ret;
	fd = open(path, flags | O_NOFOLLOW | O_CLOEXEC, mode);
	return fd < 0 ? -errno : fd;
}

int rundir_lock(char *err, size_t err_len)
{
	char path[PATH_MAX], pid[32] = "";
	int fd, ret;

	ipc_run_path(path, sizeof(path), "ublkd.pid");
	fd = rundir_open("ublkd.pid", O_RDWR | O_CREAT, 0644);
	if (fd < 0) {
		snprintf(err, err_len, "%s: %s%s", path, strerror(-fd),
			 fd == -ELOOP ? " (a symlink; ublkd does not follow it)" : "");
		return fd;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		ret = -errno;
		if (read(fd, pid, sizeof(pid) - 1) > 0)
			pid[strcspn(pid, "\n")] = '\0';
		snprintf(err, err_len, "already running (pid %s, %s)", pid[0] ? pid : "unknown",
			 path);
		close(fd);
		return ret == -EWOULDBLOCK ? -EALREADY : ret;
	}
	if (ftruncate(fd, 0) == 0)
		dprintf(fd, "%d\n", getpid());
	return fd;
}

void rundir_unlock(int lock_fd)
{
	char path[PATH_MAX];

	if (lock_fd < 0)
		return;
	if (!ipc_run_path(path, sizeof(path), "ublkd.pid"))
		unlink(path);
	close(lock_fd);
}
