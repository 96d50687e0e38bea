// SPDX-License-Identifier: MIT
/* Shared fixtures of the integration suites (tests/common/ublkd_test.h). */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <time.h>
#include <unistd.h>

#include "ctrl.h"
#include "ipc.h"
#include "ublkd_test.h"

int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void sleep_ms(unsigned ms)
{
	nanosleep(&(struct timespec){ .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L },
		  NULL);
}

bool process_alive(pid_t pid)
{
	/* A zombie is gone for every purpose here; init reaps it a little later. */
	return ipc_server_alive(pid);
}

bool wait_pid_gone(pid_t pid, unsigned timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms;

	while (process_alive(pid)) {
		if (now_ms() > deadline)
			return false;
		sleep_ms(20);
	}
	return true;
}

uint64_t disk_stat(const char *name, unsigned field)
{
	char path[128];
	unsigned long long v = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/block/%s/stat", name);
	f = fopen(path, "r");
	ck_assert_msg(f, "%s: %s", path, strerror(errno));
	for (unsigned i = 1; i <= field; i++)
		ck_assert_msg(fscanf(f, "%llu", &v) == 1, "%s: no field %u", path, field);
	fclose(f);
	return v;
}

pid_t ublkd_daemon_pid(void)
{
	char path[4096];
	FILE *f;
	int pid = 0;

	if (ipc_run_path(path, sizeof(path), "ublkd.pid") < 0)
		return 0;
	f = fopen(path, "r");
	if (!f)
		return 0;
	if (fscanf(f, "%d", &pid) != 1)
		pid = 0;
	fclose(f);
	return process_alive(pid) ? pid : 0;
}

unsigned kernel_ublk_devices(void)
{
	DIR *dir = opendir("/sys/class/ublk-char");
	struct dirent *e;
	unsigned n = 0;

	/* No class directory: no ublk_drv, and "no device left" would prove nothing. */
	ck_assert_msg(dir, "/sys/class/ublk-char: %s (is ublk_drv loaded?)", strerror(errno));
	while ((e = readdir(dir)))
		n += !strncmp(e->d_name, "ublkc", 5);
	closedir(dir);
	return n;
}

uint64_t kernel_ublk_features(void)
{
	struct ublk_ctrl c;
	uint64_t features = 0;
	int ret = ublk_ctrl_open(&c);

	ck_assert_msg(ret == 0, "%s: %s", c.err_subject, strerror(-ret));
	ret = ublk_ctrl_get_features(&c, &features);
	ublk_ctrl_close(&c);
	ck_assert_msg(ret == 0, "GET_FEATURES: %s", strerror(-ret));
	return features;
}

static void delete_kernel_devices(void)
{
	DIR *dir = opendir("/sys/class/ublk-char");
	struct ublk_ctrl c;
	struct dirent *e;

	if (!dir)
		return;
	if (ublk_ctrl_open(&c) < 0) {
		closedir(dir);
		return;
	}
	while ((e = readdir(dir))) {
		unsigned id;

		if (sscanf(e->d_name, "ublkc%u", &id) != 1)
			continue;
		fprintf(stderr, "reset: deleting leftover device %u\n", id);
		ublk_ctrl_stop_dev(&c, id);
		ublk_ctrl_del_dev(&c, id);
	}
	ublk_ctrl_close(&c);
	closedir(dir);
}

/* What a killed daemon left in RUN_DIR/devices, which list would show for new devices. */
static void remove_state_files(void)
{
	char dir_path[4096], path[4096 + 256];
	struct dirent *e;
	DIR *dir;

	if (ipc_run_path(dir_path, sizeof(dir_path), "devices") < 0)
		return;
	dir = opendir(dir_path);
	if (!dir)
		return;
	while ((e = readdir(dir))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir_path, e->d_name);
		unlink(path);
	}
	closedir(dir);
}

void ublkd_reset(void)
{
	pid_t pid = ublkd_daemon_pid();

	if (pid) {
		kill(pid, SIGTERM);
		for (int i = 0; i < 600 && process_alive(pid); i++)
			sleep_ms(100);
		if (process_alive(pid)) {
			fprintf(stderr, "reset: daemon %d ignored SIGTERM for 60 s\n", pid);
			kill(pid, SIGKILL);
			sleep_ms(500);
		}
	}
	delete_kernel_devices();
	remove_state_files();
	/* The RAM a killed daemon's memory devices left with their keeper (src/mem_keeper.c). */
	kill_named("ublkd-keeper", SIGKILL);
}

unsigned ublkd_add_ok(const char *first, ...)
{
	static struct run_result r;
	const char *argv[64];
	unsigned n = 0, id;
	va_list ap;

	argv[n++] = ublkd_bin();
	argv[n++] = "add";
	argv[n++] = first;
	va_start(ap, first);
	while (n < 63 && (argv[n] = va_arg(ap, const char *)))
		n++;
	va_end(ap);
	argv[n] = NULL;
	run_argv(&r, argv);
	ck_assert_msg(r.status == 0, "ublkd add %s ...: status %d: %s", first, r.status, r.err);
	ck_assert_msg(sscanf(r.out, "/dev/ublkb%u\n", &id) == 1, "add printed \"%s\"", r.out);
	return id;
}

void sh_ok_into(struct run_result *r, const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	run_sh(r, "%s", cmd);
	ck_assert_msg(r->status == 0, "`%s`: exit status %d\nstdout: %.2000s\nstderr: %.2000s", cmd,
		      r->status, r->out, r->err);
}

static bool file_has(const char *path, const char *needle)
{
	char line[1024];
	bool found = false;
	FILE *f = fopen(path, "r");

	while (f && !found && fgets(line, sizeof(line), f))
		found = strstr(line, needle) != NULL;
	if (f)
		fclose(f);
	return found;
}

pid_t ublkd_serve_start(const char *conf, const char *log)
{
	pid_t pid = fork();

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		if (!freopen(log, "w", stderr))
			_exit(126);
		execl(ublkd_bin(), "ublkd", "serve", "--foreground", "--config", conf,
		      (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 1200 && (ublkd_daemon_pid() != pid || !file_has(log, "serving")); i++)
		sleep_ms(100);
	if (ublkd_daemon_pid() != pid || !file_has(log, "serving")) {
		static struct run_result out;

		run_sh(&out, "tail -n 30 %s", log);
		ck_abort_msg("ublkd serve --config %s did not come up; %s:\n%s", conf, log,
			     out.out);
	}
	return pid;
}

void ublkd_del_ok(unsigned id)
{
	static struct run_result r;
	char dev[32];

	snprintf(dev, sizeof(dev), "/dev/ublkb%u", id);
	run_ublkd(&r, "del", dev, NULL);
	ck_assert_msg(r.status == 0, "ublkd del %s: status %d: %s", dev, r.status, r.err);
}

static unsigned count_dir_entries(const char *path)
{
	DIR *dir = opendir(path);
	struct dirent *e;
	unsigned n = 0;

	if (!dir)
		return 0;
	while ((e = readdir(dir)))
		n += e->d_name[0] != '.';
	closedir(dir);
	return n;
}

unsigned proc_fd_count(pid_t pid)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/fd", pid);
	return count_dir_entries(path);
}

unsigned proc_thread_count(pid_t pid)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	return count_dir_entries(path);
}

/* A /proc/PID/status field in kB (VmPin: pages pinned for the kernel, registered buffers). */
uint64_t proc_status_kib(pid_t pid, const char *field)
{
	char path[64], line[256], fmt[64];
	unsigned long long kib = 0;
	bool found = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	snprintf(fmt, sizeof(fmt), "%s: %%llu kB", field);
	f = fopen(path, "r");
	ck_assert_msg(f, "%s: %s", path, strerror(errno));
	while (!found && fgets(line, sizeof(line), f))
		found = sscanf(line, fmt, &kib) == 1;
	fclose(f);
	ck_assert_msg(found, "%s has no %s", path, field);
	return kib;
}

uint64_t proc_rss_kib(pid_t pid)
{
	char path[64], line[256];
	unsigned long long kib = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %llu kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

void write_text_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	ck_assert_msg(f, "%s: %s", path, strerror(errno));
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
}

void umount_matching(unsigned field, const char *prefix)
{
	char line[8192], fields[2][4096], *targets[64];
	unsigned n = 0;
	FILE *f = fopen("/proc/mounts", "r");

	if (!f)
		return;
	while (n < 64 && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%4095s %4095s", fields[0], fields[1]) == 2 &&
		    !strncmp(fields[field], prefix, strlen(prefix)))
			targets[n++] = strdup(fields[1]);
	}
	fclose(f);
	/* /proc/mounts lists a mount after the one it is mounted on: undo from the end. */
	while (n-- > 0) {
		if (targets[n] && umount2(targets[n], 0) < 0 && umount2(targets[n], MNT_DETACH) < 0)
			fprintf(stderr, "cleanup: umount %s: %s\n", targets[n], strerror(errno));
		free(targets[n]);
	}
}

unsigned kill_named(const char *comm, int sig)
{
	DIR *dir = opendir("/proc");
	struct dirent *e;
	unsigned n = 0;

	if (!dir)
		return 0;
	while ((e = readdir(dir))) {
		char path[300], name[64] = "";
		int pid = atoi(e->d_name);
		FILE *f;

		if (pid <= 0 || pid == getpid())
			continue;
		snprintf(path, sizeof(path), "/proc/%d/comm", pid);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(name, sizeof(name), f))
			name[strcspn(name, "\n")] = '\0';
		fclose(f);
		if (!strcmp(name, comm) && kill(pid, sig) == 0)
			n++;
	}
	closedir(dir);
	return n;
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	if (remove(path) < 0 && errno != ENOENT)
		fprintf(stderr, "cleanup: remove %s: %s\n", path, strerror(errno));
	return 0;
}

bool daemon_sanitized(void)
{
	return getenv("UBLKD_TEST_SANITIZED") != NULL;
}

void use_plain_daemon(void)
{
	const char *plain = getenv("UBLKD_PLAIN_BIN");

	if (!daemon_sanitized())
		return;
	ck_assert_msg(plain && *plain, "UBLKD_TEST_SANITIZED without UBLKD_PLAIN_BIN");
	fprintf(stderr, "(measuring the daemon's memory: the plain build %s)\n", plain);
	setenv("UBLKD_BIN", plain, 1);
}

void remove_tree(const char *path)
{
	char below[4096];

	/*
	 * Not FTW_MOUNT: on the test VM's overlay root a directory and the files in it have
	 * different st_dev, and FTW_MOUNT would skip every file. Unmount what lies below instead.
	 */
	snprintf(below, sizeof(below), "%s/", path);
	umount_matching(1, below);
	nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}
