// SPDX-License-Identifier: MIT
/* Shared fixtures of the integration suites (tests/common/ublkd_test.h). */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ctrl.h"
#include "ipc.h"
#include "ublkd_test.h"

static void sleep_ms(unsigned ms)
{
	nanosleep(&(struct timespec){ .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L },
		  NULL);
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
	if (pid <= 0 || kill(pid, 0) < 0)
		return 0;
	return pid;
}

unsigned kernel_ublk_devices(void)
{
	DIR *dir = opendir("/sys/class/ublk-char");
	struct dirent *e;
	unsigned n = 0;

	if (!dir)
		return 0;
	while ((e = readdir(dir)))
		n += !strncmp(e->d_name, "ublkc", 5);
	closedir(dir);
	return n;
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

void ublkd_reset(void)
{
	pid_t pid = ublkd_daemon_pid();

	if (pid) {
		kill(pid, SIGTERM);
		for (int i = 0; i < 600 && kill(pid, 0) == 0; i++)
			sleep_ms(100);
		if (kill(pid, 0) == 0) {
			fprintf(stderr, "reset: daemon %d ignored SIGTERM for 60 s\n", pid);
			kill(pid, SIGKILL);
			sleep_ms(500);
		}
	}
	delete_kernel_devices();
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
