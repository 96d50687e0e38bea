// SPDX-License-Identifier: MIT
/*
 * The command line against a real ublk_drv (root, in a VM guest): ublkd add, del, list and
 * serve as a user runs them, their output, exit statuses and messages, and what they leave in
 * the kernel, the run directory and the daemon. Every test starts and ends with ublkd_reset().
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../common/suite_main.h"
#include "../common/ublkd_test.h"
#include "ctrl.h"
#include "dev_conf.h"
#include "abi/ublk.h"
#include "ipc.h"
#include "parse.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define TEST_TIMEOUT_S 120
#define MAX_ARGS 16
#define MAX_DEVS 16
#define LINE_MAX_BYTES 1024
/* How long a daemon may take to go away, or a killed server's device to be stopped, under TCG. */
#define GONE_TIMEOUT_MS 20000

/* Large (two 256 KiB buffers each): static, one set per forked test. */
static struct run_result r, py;
static char suite_tmp[] = "/tmp/ublkd-test-cli.XXXXXX";

/* The checked fixture: a clean kernel and run directory, and no daemon, or the test fails. */
static void reset(void)
{
	ublkd_reset();
	ck_assert_msg(kernel_ublk_devices() == 0, "reset left %u ublk devices",
		      kernel_ublk_devices());
	ck_assert_msg(ublkd_daemon_pid() == 0, "reset left daemon %d", ublkd_daemon_pid());
}

static unsigned count_lines(const char *s)
{
	unsigned n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* The first line of text that contains needle, without its newline, in buf; false if none. */
static bool find_line(const char *text, const char *needle, char *buf, size_t len)
{
	const char *hit = strstr(text, needle), *start, *end;

	if (!hit)
		return false;
	for (start = hit; start > text && start[-1] != '\n';)
		start--;
	end = strchr(hit, '\n');
	if (!end)
		end = hit + strlen(hit);
	snprintf(buf, len, "%.*s", (int)(end - start), start);
	return true;
}

/* The 1-based number of the first line of text that contains needle. */
static unsigned line_of(const char *text, const char *needle)
{
	const char *hit = strstr(text, needle);
	unsigned line = 1;

	ck_assert_msg(hit, "\"%s\" is not in the text", needle);
	for (const char *p = text; p < hit; p++)
		line += *p == '\n';
	return line;
}

/* A new directory under the suite's own, which main() removes at the end. */
static void make_temp_dir(char *buf, size_t len)
{
	snprintf(buf, len, "%s/t.XXXXXX", suite_tmp);
	ck_assert_msg(mkdtemp(buf), "mkdtemp %s: %s", buf, strerror(errno));
}

static bool file_exists(const char *path)
{
	return access(path, F_OK) == 0;
}

static void run_path(char *buf, size_t len, const char *name)
{
	ck_assert_int_eq(ipc_run_path(buf, len, name), 0);
}

/* The file from offset on into buf ("" when it does not exist). */
static void read_text_file_from(const char *path, off_t offset, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");
	size_t n = 0;

	if (f) {
		if (fseeko(f, offset, SEEK_SET) == 0)
			n = fread(buf, 1, len - 1, f);
		fclose(f);
	}
	buf[n] = '\0';
}

static void read_text_file(const char *path, char *buf, size_t len)
{
	read_text_file_from(path, 0, buf, len);
}

/* Until the file from offset on holds needle, or timeout_ms pass; the text is left in buf. */
static bool wait_for_text(const char *path, off_t offset, const char *needle, char *buf, size_t len,
			  unsigned timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms;

	for (;;) {
		read_text_file_from(path, offset, buf, len);
		if (strstr(buf, needle))
			return true;
		if (now_ms() > deadline)
			return false;
		sleep_ms(50);
	}
}

static off_t file_bytes(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? st.st_size : 0;
}

/* ublkd [first] args (NULL-terminated or MAX_ARGS long) into r; "first args..." for messages. */
static const char *run_ublkd_args(const char *first, const char *const *args)
{
	static char what[1024];
	const char *argv[MAX_ARGS + 3];
	unsigned n = 0;
	size_t used = 0;

	argv[n++] = ublkd_bin();
	if (first)
		argv[n++] = first;
	for (unsigned i = 0; i < MAX_ARGS && args[i]; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	what[0] = '\0';
	for (unsigned i = 1; i < n && used < sizeof(what); i++)
		used += (size_t)snprintf(what + used, sizeof(what) - used, "%s%s", i > 1 ? " " : "",
					 argv[i][0] ? argv[i] : "''");
	run_argv(&r, argv);
	return what;
}

/* What a refused command must look like: the status, no output, one line naming the cause. */
static void assert_refused(const char *what, int status, const char *prefix,
			   const char *const *want)
{
	ck_assert_msg(r.status == status, "ublkd %s: status %d, not %d (stderr: %s)", what,
		      r.status, status, r.err);
	ck_assert_msg(!r.out[0], "ublkd %s: printed \"%s\"", what, r.out);
	ck_assert_msg(count_lines(r.err) == 1 && r.err[strlen(r.err) - 1] == '\n',
		      "ublkd %s: not one line on stderr: \"%s\"", what, r.err);
	ck_assert_msg(!strncmp(r.err, prefix, strlen(prefix)),
		      "ublkd %s: stderr does not start with \"%s\": %s", what, prefix, r.err);
	for (unsigned i = 0; want[i]; i++)
		ck_assert_msg(strstr(r.err, want[i]), "ublkd %s: \"%s\" not in: %s", what, want[i],
			      r.err);
}

/*
 * ublkd list --json, checked by python3's json module and printed back one device per line as
 * key=VALUE pairs in key order (VALUE as JSON), so that whole devices compare as text.
 * Returns the number of devices.
 */
static unsigned list_json(char lines[][LINE_MAX_BYTES], unsigned max)
{
	static const char script[] =
		"import json, sys\n"
		"d = json.load(open(sys.argv[1]))\n"
		"assert type(d) is list, 'not an array'\n"
		"for o in d:\n"
		"    assert type(o) is dict, 'not an object: %r' % (o,)\n"
		"    print(' '.join(k + '=' + json.dumps(o[k]) for k in sorted(o)))\n";
	char path[64];
	unsigned n = 0;
	char *line, *save = NULL;
	int fd;

	run_ublkd(&r, "list", "--json", NULL);
	ck_assert_msg(r.status == 0, "list --json: status %d: %s", r.status, r.err);
	snprintf(path, sizeof(path), "%s/list.XXXXXX", suite_tmp);
	fd = mkstemp(path);
	ck_assert_msg(fd >= 0, "mkstemp: %s", strerror(errno));
	close(fd);
	write_text_file(path, r.out);
	run_argv(&py, (const char *const[]){ "python3", "-c", script, path, NULL });
	unlink(path);
	ck_assert_msg(py.status != 127, "python3 is needed to check JSON: %s", py.err);
	ck_assert_msg(py.status == 0, "list --json is not a JSON array of objects (%s):\n%s",
		      py.err, r.out);
	for (line = strtok_r(py.out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		ck_assert_uint_lt(n, max);
		snprintf(lines[n++], LINE_MAX_BYTES, "%s", line);
	}
	return n;
}

/* The JSON value of key in a list_json() line, in buf ("" when the key is missing). */
static const char *json_field(const char *line, const char *key, char *buf, size_t len)
{
	size_t klen = strlen(key);

	buf[0] = '\0';
	for (const char *p = line; p && *p; p = strchr(p, ' '), p = p ? p + 1 : NULL) {
		if (!strncmp(p, key, klen) && p[klen] == '=') {
			snprintf(buf, len, "%.*s", (int)strcspn(p + klen + 1, " "), p + klen + 1);
			break;
		}
	}
	return buf;
}

/* A live device of ours as list_json() shows it. */
/* What io_mode = auto gives the null and memory backends here: user copy where there is one. */
static const char *auto_io_mode(void)
{
	return kernel_ublk_features() & UBLK_F_USER_COPY ? "user_copy" : "copy";
}

static void live_dev_line(char *buf, size_t len, unsigned id, const char *name, const char *backend,
			  uint64_t size_bytes, unsigned queues, unsigned depth, pid_t pid)
{
	snprintf(buf, len,
		 "backend=\"%s\" block_device=\"/dev/ublkb%u\" char_device=\"/dev/ublkc%u\" "
		 "depth=%u id=%u inject=\"off\" io_mode=\"%s\" name=\"%s\" pid=%d queues=%u "
		 "server_alive=true "
		 "size_bytes=%llu state=\"live\"",
		 backend, id, id, depth, id, auto_io_mode(), name, pid, queues,
		 (unsigned long long)size_bytes);
}

/* The list_json() line of device id; fails the test when there is none. */
static const char *json_line_of(char lines[][LINE_MAX_BYTES], unsigned n, unsigned id)
{
	char want[32], got[32];

	snprintf(want, sizeof(want), "%u", id);
	for (unsigned i = 0; i < n; i++)
		if (!strcmp(json_field(lines[i], "id", got, sizeof(got)), want))
			return lines[i];
	ck_abort_msg("device %u is not in list --json", id);
	return NULL;
}

/* The CPUs online, as /sys says and parse_cpu_list() reads. */
static void online_cpus(cpu_set_t *set)
{
	char text[1024] = "";
	FILE *f = fopen("/sys/devices/system/cpu/online", "r");

	ck_assert_ptr_nonnull(f);
	ck_assert_ptr_nonnull(fgets(text, sizeof(text), f));
	fclose(f);
	text[strcspn(text, "\n")] = '\0';
	ck_assert_int_eq(parse_cpu_list(text, set), 0);
}

static int first_cpu_not_online(void)
{
	cpu_set_t set;

	online_cpus(&set);
	for (int cpu = 0; cpu < CPU_SETSIZE; cpu++)
		if (!CPU_ISSET(cpu, &set))
			return cpu;
	ck_abort_msg("every CPU is online");
	return -1;
}

/* Cpus_allowed_list of pid's thread named comm ("ublk3q1") into buf; "" when none has it. */
static const char *thread_cpus(pid_t pid, const char *comm, char *buf, size_t len)
{
	char dir_path[64], path[512], text[4096];
	struct dirent *e;
	DIR *dir;

	buf[0] = '\0';
	snprintf(dir_path, sizeof(dir_path), "/proc/%d/task", pid);
	dir = opendir(dir_path);
	ck_assert_msg(dir, "%s: %s", dir_path, strerror(errno));
	while ((e = readdir(dir))) {
		const char *cpus;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s/comm", dir_path, e->d_name);
		read_text_file(path, text, sizeof(text));
		text[strcspn(text, "\n")] = '\0';
		if (strcmp(text, comm))
			continue;
		snprintf(path, sizeof(path), "%s/%s/status", dir_path, e->d_name);
		read_text_file(path, text, sizeof(text));
		cpus = strstr(text, "Cpus_allowed_list:");
		ck_assert_msg(cpus, "no Cpus_allowed_list in %s", path);
		cpus += strlen("Cpus_allowed_list:");
		cpus += strspn(cpus, " \t");
		snprintf(buf, len, "%.*s", (int)strcspn(cpus, "\n"), cpus);
		break;
	}
	closedir(dir);
	return buf;
}

/*
 * list --json until device id's state is not "live" (the kernel stops it a little later);
 * the list must hold nr_devs devices.
 */
static void wait_not_live(unsigned id, unsigned nr_devs, char lines[][LINE_MAX_BYTES], unsigned *n)
{
	int64_t deadline = now_ms() + GONE_TIMEOUT_MS;
	char state[64];

	for (;;) {
		*n = list_json(lines, MAX_DEVS);
		ck_assert_uint_eq(*n, nr_devs);
		json_field(json_line_of(lines, *n, id), "state", state, sizeof(state));
		if (strcmp(state, "\"live\"") || now_ms() > deadline)
			return;
		sleep_ms(100);
	}
}

/* 1: list --json and the table, empty and with a memory and a null device. */
START_TEST(test_list_matches_devices)
{
	char lines[MAX_DEVS][LINE_MAX_BYTES], want[LINE_MAX_BYTES], name_b[32], path[4096];
	char text[4096], *line, *save = NULL;
	unsigned id_a, id_b, rows = 0;
	pid_t pid;

	run_ublkd(&r, "list", "--json", NULL);
	ck_assert_msg(r.status == 0, "list --json: %d: %s", r.status, r.err);
	ck_assert_str_eq(r.out, "[]\n");
	ck_assert_uint_eq(list_json(lines, MAX_DEVS), 0);

	id_a = ublkd_add_ok("--name", "m1", "--backend", "memory", "--size", "16M", "--queues", "2",
			    "--depth", "64", NULL);
	id_b = ublkd_add_ok("--backend", "null", "--size", "1G", NULL);
	ck_assert_uint_ne(id_a, id_b);
	pid = ublkd_daemon_pid();
	ck_assert_msg(pid > 0, "add started no daemon");
	snprintf(name_b, sizeof(name_b), "ublk%u", id_b);

	ck_assert_uint_eq(list_json(lines, MAX_DEVS), 2);
	live_dev_line(want, sizeof(want), id_a, "m1", "memory", 16 << 20, 2, 64, pid);
	ck_assert_str_eq(json_line_of(lines, 2, id_a), want);
	live_dev_line(want, sizeof(want), id_b, name_b, "null", 1ULL << 30, 1, DEV_DEFAULT_DEPTH,
		      pid);
	ck_assert_str_eq(json_line_of(lines, 2, id_b), want);

	/* The table: a header, then one line per device with the same facts. */
	run_ublkd(&r, "list", NULL);
	ck_assert_msg(r.status == 0, "list: %d: %s", r.status, r.err);
	ck_assert_msg(!r.err[0], "list wrote to stderr: %s", r.err);
	ck_assert_uint_eq(count_lines(r.out), 3);
	for (line = strtok_r(r.out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char name[64], backend[16], size[32], mode[16], state[32], bdev[64], pid_text[32];
		unsigned id, queues, depth;

		if (!rows++) {
			ck_assert_msg(sscanf(line,
					     "ID NAME BACKEND SIZE QUEUES DEPTH IO-MODE STATE "
					     "BLOCK-DEVICE %31s",
					     pid_text) == 1 &&
					      !strcmp(pid_text, "PID"),
				      "header: %s", line);
			continue;
		}
		ck_assert_msg(sscanf(line, "%u %63s %15s %31s %u %u %15s %31s %63s %31s", &id, name,
				     backend, size, &queues, &depth, mode, state, bdev,
				     pid_text) == 10,
			      "row: %s", line);
		ck_assert_str_eq(mode, auto_io_mode());
		ck_assert_msg(id == id_a || id == id_b, "row of an unknown device: %s", line);
		ck_assert_str_eq(name, id == id_a ? "m1" : name_b);
		ck_assert_str_eq(backend, id == id_a ? "memory" : "null");
		ck_assert_str_eq(size, id == id_a ? "16M" : "1G");
		ck_assert_uint_eq(queues, id == id_a ? 2 : 1);
		ck_assert_uint_eq(depth, id == id_a ? 64 : DEV_DEFAULT_DEPTH);
		ck_assert_str_eq(state, "live");
		snprintf(want, sizeof(want), "/dev/ublkb%u", id);
		ck_assert_str_eq(bdev, want);
		ck_assert_int_eq(atoi(pid_text), pid);
	}

	/* What a later ublkd would re-attach from. */
	snprintf(text, sizeof(text), "devices/%u.conf", id_a);
	run_path(path, sizeof(path), text);
	read_text_file(path, text, sizeof(text));
	ck_assert_msg(strstr(text, "[device \"m1\"]\n") && strstr(text, "\nbackend = memory\n") &&
			      strstr(text, "\nsize = 16M\n") && strstr(text, "\nqueues = 2\n") &&
			      strstr(text, "\ndepth = 64\n"),
		      "%s: %s", path, text);
}
END_TEST

/* 2: list without a daemon; a device whose server was killed; del of it without a daemon. */
START_TEST(test_list_and_del_without_daemon)
{
	char lines[MAX_DEVS][LINE_MAX_BYTES], field[128], want[128], state_file[4096];
	const char *line;
	unsigned id, id2, n;
	pid_t pid;

	run_ublkd(&r, "list", NULL);
	ck_assert_msg(r.status == 0, "list without a daemon: %d: %s", r.status, r.err);
	ck_assert_msg(count_lines(r.out) == 1 && !strncmp(r.out, "ID ", 3), "list: %s", r.out);
	ck_assert_uint_eq(list_json(lines, MAX_DEVS), 0);

	/* recovery none: the kernel keeps a dead, not a quiesced, device (test_recovery has those). */
	id = ublkd_add_ok("--name", "orphan", "--backend", "null", "--size", "1M", "--recovery",
			  "none", NULL);
	id2 = ublkd_add_ok("--name", "orphan2", "--backend", "null", "--size", "1M", "--recovery",
			   "none", NULL);
	pid = ublkd_daemon_pid();
	ck_assert_int_gt(pid, 0);
	snprintf(field, sizeof(field), "devices/%u.conf", id);
	run_path(state_file, sizeof(state_file), field);
	ck_assert_msg(file_exists(state_file), "%s: not written", state_file);
	ck_assert_int_eq(kill(pid, SIGKILL), 0);
	ck_assert_msg(wait_pid_gone(pid, GONE_TIMEOUT_MS), "daemon %d survived SIGKILL", pid);
	ck_assert_uint_eq(ublkd_daemon_pid(), 0);
	ck_assert_uint_eq(kernel_ublk_devices(), 2);

	/* The device stays in the kernel; list says its server is gone. */
	wait_not_live(id, 2, lines, &n);
	line = json_line_of(lines, n, id);
	ck_assert_msg(!strcmp(json_field(line, "state", field, sizeof(field)), "\"no-server\""),
		      "a device whose server was killed: %s", line);
	ck_assert_str_eq(json_field(line, "server_alive", field, sizeof(field)), "false");
	ck_assert_str_eq(json_field(line, "name", field, sizeof(field)), "\"orphan\"");
	ck_assert_str_eq(json_field(line, "backend", field, sizeof(field)), "\"null\"");
	snprintf(want, sizeof(want), "%d", pid);
	json_field(line, "pid", field, sizeof(field));
	ck_assert_msg(!strcmp(field, "null") || !strcmp(field, want), "pid %s", field);
	run_ublkd(&r, "list", NULL);
	ck_assert_int_eq(r.status, 0);
	ck_assert_msg(strstr(r.out, " no-server "), "table: %s", r.out);

	/* Without a daemon a name is found in the dead daemon's state files. */
	run_ublkd(&r, "del", "orphan", NULL);
	ck_assert_msg(r.status == 0, "del orphan without a daemon: %d: %s", r.status, r.err);
	snprintf(want, sizeof(want), "/dev/ublkb%u\n", id);
	ck_assert_str_eq(r.out, want);
	ck_assert_uint_eq(kernel_ublk_devices(), 1);
	ck_assert_msg(!file_exists(state_file), "%s: left behind by del", state_file);
	run_ublkd(&r, "del", "nosuchname", NULL);
	assert_refused("del of an unknown name (no daemon)", 1,
		       "ublkd: del nosuchname: ", (const char *[]){ "no ublkd is running", NULL });

	/* And an id, straight to the kernel. */
	snprintf(field, sizeof(field), "%u", id2);
	run_ublkd(&r, "del", field, NULL);
	ck_assert_msg(r.status == 0, "del %u without a daemon: %d: %s", id2, r.status, r.err);
	snprintf(want, sizeof(want), "/dev/ublkb%u\n", id2);
	ck_assert_str_eq(r.out, want);
	ck_assert_uint_eq(kernel_ublk_devices(), 0);
	ck_assert_uint_eq(ublkd_daemon_pid(), 0);

	snprintf(field, sizeof(field), "%u", id);
	run_ublkd(&r, "del", field, NULL);
	snprintf(want, sizeof(want), "no ublk device %u", id);
	assert_refused("del of a deleted id", 1, "ublkd: del ",
		       (const char *[]){ field, want, NULL });
	run_ublkd(&r, "del", "--all", NULL);
	ck_assert_msg(r.status == 0 && !r.out[0], "del --all without a daemon: %d: %s%s", r.status,
		      r.out, r.err);
}
END_TEST

/* 3: del by id, name and path, del --all, unknown devices; the auto-started daemon's exit. */
START_TEST(test_del)
{
	char lines[MAX_DEVS][LINE_MAX_BYTES], arg[64], want[256], field[64];
	unsigned ids[5], n;
	pid_t pid;

	ids[0] = ublkd_add_ok("--name", "d0", "--backend", "memory", "--size", "1M", NULL);
	ids[1] = ublkd_add_ok("--name", "d1", "--backend", "null", "--size", "1M", NULL);
	ids[2] = ublkd_add_ok("--name", "d2", "--backend", "null", "--size", "1M", NULL);
	ids[3] = ublkd_add_ok("--name", "d3", "--backend", "null", "--size", "1M", NULL);
	pid = ublkd_daemon_pid();
	ck_assert_int_gt(pid, 0);
	ck_assert_uint_eq(kernel_ublk_devices(), 4);

	for (unsigned i = 0; i < 3; i++) {
		const char *how = i == 0 ? "id" : i == 1 ? "name" : "path";

		if (i == 0)
			snprintf(arg, sizeof(arg), "%u", ids[i]);
		else if (i == 1)
			snprintf(arg, sizeof(arg), "d%u", i);
		else
			snprintf(arg, sizeof(arg), "/dev/ublkb%u", ids[i]);
		run_ublkd(&r, "del", arg, NULL);
		ck_assert_msg(r.status == 0, "del %s (by %s): %d: %s", arg, how, r.status, r.err);
		snprintf(want, sizeof(want), "/dev/ublkb%u\n", ids[i]);
		ck_assert_msg(!strcmp(r.out, want), "del %s printed \"%s\"", arg, r.out);
		ck_assert_msg(!r.err[0], "del %s: stderr %s", arg, r.err);
		/* The others stay, live, and so does the daemon. */
		ck_assert_uint_eq(kernel_ublk_devices(), 3 - i);
		n = list_json(lines, MAX_DEVS);
		ck_assert_uint_eq(n, 3 - i);
		for (unsigned j = i + 1; j < 4; j++)
			ck_assert_str_eq(json_field(json_line_of(lines, n, ids[j]), "state", field,
						    sizeof(field)),
					 "\"live\"");
		ck_assert_int_eq(ublkd_daemon_pid(), pid);
	}

	run_ublkd(&r, "del", "nosuch", NULL);
	assert_refused("del nosuch", 1, "ublkd: del nosuch: ", (const char *[]){ "nosuch", NULL });
	run_ublkd(&r, "del", "98765", NULL);
	assert_refused("del 98765", 1, "ublkd: del 98765: ", (const char *[]){ "98765", NULL });
	run_ublkd(&r, "del", "/dev/ublkb98765", NULL);
	assert_refused("del /dev/ublkb98765", 1,
		       "ublkd: del /dev/ublkb98765: ", (const char *[]){ "/dev/ublkb98765", NULL });
	ck_assert_uint_eq(kernel_ublk_devices(), 1);
	ck_assert_int_eq(ublkd_daemon_pid(), pid);

	ids[4] = ublkd_add_ok("--name", "d4", "--backend", "null", "--size", "1M", NULL);
	ck_assert_int_eq(ublkd_daemon_pid(), pid);
	run_ublkd(&r, "del", "--all", NULL);
	ck_assert_msg(r.status == 0, "del --all: %d: %s", r.status, r.err);
	ck_assert_uint_eq(count_lines(r.out), 2);
	for (unsigned i = 3; i < 5; i++) {
		snprintf(want, sizeof(want), "/dev/ublkb%u\n", ids[i]);
		ck_assert_msg(strstr(r.out, want), "del --all printed \"%s\", not %s", r.out, want);
	}
	ck_assert_uint_eq(kernel_ublk_devices(), 0);
	/* Started by add: it goes with its last device. */
	ck_assert_msg(wait_pid_gone(pid, GONE_TIMEOUT_MS), "daemon %d still runs", pid);
	ck_assert_uint_eq(ublkd_daemon_pid(), 0);
}
END_TEST

/* UBLKD_RUN_DIR moves the pid file, the socket, the log and the state files. */
START_TEST(test_run_dir_env)
{
	char dir[64], path[256], default_pid[64], text[4096];
	unsigned id;
	pid_t pid;

	make_temp_dir(dir, sizeof(dir));
	read_text_file(IPC_DEFAULT_RUN_DIR "/ublkd.pid", default_pid, sizeof(default_pid));
	ck_assert_int_eq(setenv("UBLKD_RUN_DIR", dir, 1), 0);
	id = ublkd_add_ok("--name", "moved", "--backend", "null", "--size", "1M", NULL);
	pid = ublkd_daemon_pid();
	ck_assert_msg(pid > 0, "no live pid in %s/ublkd.pid", dir);
	read_text_file(IPC_DEFAULT_RUN_DIR "/ublkd.pid", text, sizeof(text));
	ck_assert_msg(!strcmp(text, default_pid), "the default pid file changed: %s", text);
	for (unsigned i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir,
			 (const char *[]){ "ublkd.sock", "ublkd.log", "devices" }[i]);
		ck_assert_msg(file_exists(path), "%s: missing", path);
	}
	snprintf(path, sizeof(path), "%s/devices/%u.conf", dir, id);
	read_text_file(path, text, sizeof(text));
	ck_assert_msg(strstr(text, "[device \"moved\"]"), "%s: %s", path, text);

	run_ublkd(&r, "del", "moved", NULL);
	ck_assert_msg(r.status == 0, "del moved: %d: %s", r.status, r.err);
	ck_assert_msg(wait_pid_gone(pid, GONE_TIMEOUT_MS), "daemon %d still runs", pid);
	ck_assert_msg(!file_exists(path), "%s: left behind", path);
	snprintf(path, sizeof(path), "%s/ublkd.pid", dir);
	ck_assert_msg(!file_exists(path), "%s: left behind", path);
	ck_assert_int_eq(unsetenv("UBLKD_RUN_DIR"), 0);
}
END_TEST

static const char serve_config[] = "# two devices that come up, one that does not\n"
				   "[device \"cfg-a\"]\n"
				   "backend = memory\n"
				   "size = 8M\n"
				   "\n"
				   "[device \"cfg-bad\"]\n"
				   "backend = null\n"
				   "size = 1Q\n"
				   "\n"
				   "[device \"cfg-b\"]\n"
				   "backend = null\n"
				   "size = 1G\n"
				   "queues = 2\n";

/* Exactly cfg-a and cfg-b, live, served by pid. */
static void assert_serve_config_devices(pid_t pid)
{
	char lines[MAX_DEVS][LINE_MAX_BYTES], field[64], want[64];
	unsigned n = list_json(lines, MAX_DEVS);

	ck_assert_msg(n == 2, "list shows %u devices, not cfg-a and cfg-b", n);
	for (unsigned i = 0; i < n; i++) {
		json_field(lines[i], "name", field, sizeof(field));
		ck_assert_msg(!strcmp(field, "\"cfg-a\"") || !strcmp(field, "\"cfg-b\""),
			      "device %s", lines[i]);
		ck_assert_str_eq(json_field(lines[i], "state", field, sizeof(field)), "\"live\"");
		snprintf(want, sizeof(want), "%d", pid);
		ck_assert_str_eq(json_field(lines[i], "pid", field, sizeof(field)), want);
	}
	ck_assert_str_ne(json_field(lines[0], "name", field, sizeof(field)),
			 json_field(lines[1], "name", want, sizeof(want)));
}

/* The config's bad device, named with its file and line, on a line of err. */
static void assert_bad_device_reported(const char *err, const char *config)
{
	char at[256], line[1024];

	snprintf(at, sizeof(at), "%s:%u: ", config, line_of(serve_config, "size = 1Q"));
	ck_assert_msg(find_line(err, at, line, sizeof(line)), "\"%s\" not in: %s", at, err);
	ck_assert_msg(strstr(line, "\"cfg-bad\"") && strstr(line, "\"1Q\""), "%s", line);
}

/* 4: serve --config in the background and in the foreground; serve refusing to start. */
START_TEST(test_serve_config)
{
	char dir[64], config[128], relative[160], err_path[160], text[8192];
	int64_t deadline;
	pid_t pid, child;
	int status;

	make_temp_dir(dir, sizeof(dir));
	snprintf(config, sizeof(config), "%s/ublkd.conf", dir);
	write_text_file(config, serve_config);

	run_ublkd(&r, "serve", "--config", config, NULL);
	ck_assert_msg(r.status == 0, "serve --config: %d: %s", r.status, r.err);
	ck_assert_msg(!r.out[0], "serve printed %s", r.out);
	assert_bad_device_reported(r.err, config);
	pid = ublkd_daemon_pid();
	ck_assert_msg(pid > 0, "serve returned 0 and no daemon runs");
	assert_serve_config_devices(pid);

	run_ublkd(&r, "serve", "--config", config, NULL);
	assert_refused("serve (second)", 1,
		       "ublkd: serve: ", (const char *[]){ "already running", NULL });
	/* In the foreground it logs as the daemon does: "ublkd[PID]: serve: ...". */
	run_ublkd(&r, "serve", "--foreground", NULL);
	assert_refused("serve --foreground (second)", 1, "ublkd[",
		       (const char *[]){ "serve: already running", NULL });
	ck_assert_uint_eq(kernel_ublk_devices(), 2);
	ck_assert_int_eq(ublkd_daemon_pid(), pid);

	/* SIGTERM: every device goes, then the daemon. */
	ck_assert_int_eq(kill(pid, SIGTERM), 0);
	ck_assert_msg(wait_pid_gone(pid, GONE_TIMEOUT_MS), "daemon %d ignored SIGTERM", pid);
	ck_assert_uint_eq(kernel_ublk_devices(), 0);

	run_ublkd(&r, "serve", "--config", "/nonexistent/ublkd.conf", NULL);
	assert_refused("serve --config /nonexistent/ublkd.conf", 1, "ublkd: serve: ",
		       (const char *[]){ "/nonexistent/ublkd.conf", "No such file", NULL });
	snprintf(relative, sizeof(relative), "nonexistent-%s.conf", strrchr(dir, '/') + 1);
	run_ublkd(&r, "serve", "--config", relative, NULL);
	assert_refused("serve --config (relative)", 1,
		       "ublkd: serve: ", (const char *[]){ relative, "No such file", NULL });
	run_ublkd(&r, "serve", "--config", dir, NULL);
	assert_refused("serve --config DIR", 1,
		       "ublkd: serve: ", (const char *[]){ dir, "Is a directory", NULL });
	ck_assert_uint_eq(ublkd_daemon_pid(), 0);
	ck_assert_uint_eq(kernel_ublk_devices(), 0);

	/* In the foreground it is our child, logging to stderr. */
	snprintf(err_path, sizeof(err_path), "%s/serve.err", dir);
	fflush(NULL);
	child = fork();
	ck_assert_int_ge(child, 0);
	if (child == 0) {
		int fd = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		if (fd < 0 || dup2(fd, STDERR_FILENO) < 0 || dup2(fd, STDOUT_FILENO) < 0)
			_exit(126);
		execl(ublkd_bin(), "ublkd", "serve", "--foreground", "--config", config,
		      (char *)NULL);
		_exit(127);
	}
	wait_for_text(err_path, 0, "serving ", text, sizeof(text), 60000);
	ck_assert_msg(strstr(text, "serving 2 devices"), "serve --foreground: %s", text);
	assert_bad_device_reported(text, config);
	ck_assert_int_eq(ublkd_daemon_pid(), child);
	assert_serve_config_devices(child);

	ck_assert_int_eq(kill(child, SIGTERM), 0);
	deadline = now_ms() + GONE_TIMEOUT_MS;
	while (waitpid(child, &status, WNOHANG) == 0) {
		if (now_ms() > deadline) {
			kill(child, SIGKILL);
			ck_abort_msg("serve --foreground ignored SIGTERM");
		}
		sleep_ms(20);
	}
	read_text_file(err_path, text, sizeof(text));
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "serve --foreground after SIGTERM: status 0x%x: %s", status, text);
	ck_assert_uint_eq(kernel_ublk_devices(), 0);
	ck_assert_uint_eq(ublkd_daemon_pid(), 0);
}
END_TEST

/* 5: every bad value of a config file, reported with its file and line; the rest comes up. */
START_TEST(test_serve_config_errors)
{
	char dir[64], config[128], line[1024], config_text[4096], want[1024];
	static const char body[] = "[device \"ok\"]\n"
				   "backend = null\n"
				   "size = 1M\n"
				   "[device \"e-size\"]\n"
				   "backend = null\n"
				   "size = 1Q\n"
				   "[device \"e-zero\"]\n"
				   "backend = null\n"
				   "size = 0\n"
				   "[device \"e-multiple\"]\n"
				   "backend = null\n"
				   "size = 1000\n"
				   "[device \"e-queues\"]\n"
				   "backend = null\n"
				   "size = 1M\n"
				   "queues = 0\n"
				   "[device \"e-depth\"]\n"
				   "backend = null\n"
				   "size = 1M\n"
				   "depth = 4097\n"
				   "[device \"e-bs\"]\n"
				   "backend = null\n"
				   "size = 1M\n"
				   "block_size = 1024\n"
				   "[device \"e-backend\"]\n"
				   "backend = ram\n"
				   "size = 1M\n"
				   "[device \"e-cpus\"]\n"
				   "backend = null\n"
				   "size = 1M\n"
				   "cpus = 0-x\n"
				   "[device \"e-id\"]\n"
				   "backend = null\n"
				   "size = 1M\n"
				   "id = abc\n"
				   "[device \"e-bool\"]\n"
				   "backend = null\n"
				   "size = 1M\n"
				   "read_only = maybe\n"
				   "[device \"e-unknown\"]\n"
				   "backend = null\n"
				   "size = 1M\n"
				   "colour = blue\n"
				   "[device \"e-dupkey\"]\n"
				   "backend = null\n"
				   "size = 1M\n"
				   "size = 2M\n"
				   "[device \"e-name\"]\n"
				   "backend = null\n"
				   "size = 1M\n"
				   "name = other\n"
				   "[device \"e-path\"]\n"
				   "backend = null\n"
				   "size = 1M\n"
				   "path = /tmp/e-path.img\n"
				   "[device \"e-nobackend\"]\n"
				   "size = 1M\n"
				   "[ device \"ok\" ]\n"
				   "backend = null\n"
				   "size = 1M\n"
				   "[device \"bad name\"]\n"
				   "backend = null\n"
				   "size = 1M\n"
				   "[device \"e-missing\"]\n"
				   "backend = file\n"
				   "path = /nonexistent-ublkd-test/disk.img\n"
				   "[device \"e-offline\"]\n"
				   "backend = null\n"
				   "size = 1M\n"
				   "cpus = %d\n";
	/* Each: the line the message is at (by its text), the device, what the message says. */
	static const struct {
		const char *at, *device, *says;
	} bad[] = {
		{ "size = 1Q", "e-size", "size \"1Q\": not a size" },
		{ "size = 0", "e-zero", "size \"0\": must be more than 0" },
		{ "[device \"e-multiple\"]", "e-multiple", "size \"1000\": not a multiple" },
		{ "queues = 0", "e-queues", "queues \"0\": out of range" },
		{ "depth = 4097", "e-depth", "depth \"4097\": out of range" },
		{ "block_size = 1024", "e-bs", "block_size \"1024\": must be 512 or 4096" },
		{ "backend = ram", "e-backend", "backend \"ram\": unknown backend" },
		{ "cpus = 0-x", "e-cpus", "cpus \"0-x\": not a CPU list" },
		{ "id = abc", "e-id", "id \"abc\": not a whole number" },
		{ "read_only = maybe", "e-bool", "read_only \"maybe\": not a boolean" },
		{ "colour = blue", "e-unknown", "unknown key \"colour\"" },
		{ "size = 2M", "e-dupkey", "duplicate key \"size\"" },
		{ "name = other", "e-name", "name is given by the section header" },
		{ "[device \"e-path\"]", "e-path", "path: only for the file backend, not null" },
		{ "[device \"e-nobackend\"]", "e-nobackend", "no backend" },
		{ "[ device \"ok\" ]", "ok", "duplicate device name \"ok\"" },
		{ "[device \"bad name\"]", NULL, "name \"bad name\": only letters" },
		{ "[device \"e-missing\"]", "e-missing",
		  "/nonexistent-ublkd-test/disk.img: No such file or directory" },
		{ "[device \"e-offline\"]", "e-offline", "is not online" },
	};
	char lines[MAX_DEVS][LINE_MAX_BYTES], field[64];
	unsigned devices = 0;

	make_temp_dir(dir, sizeof(dir));
	snprintf(config, sizeof(config), "%s/errors.conf", dir);
	snprintf(config_text, sizeof(config_text), body, first_cpu_not_online());
	write_text_file(config, config_text);

	run_ublkd(&r, "serve", "--config", config, NULL);
	ck_assert_msg(r.status == 0, "serve: %d: %s", r.status, r.err);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		char at[256];

		snprintf(at, sizeof(at), "%s:%u: ", config, line_of(config_text, bad[i].at));
		ck_assert_msg(find_line(r.err, at, line, sizeof(line)), "\"%s\" (%s) not in: %s",
			      at, bad[i].says, r.err);
		ck_assert_msg(strstr(line, bad[i].says), "%s: \"%s\" not in: %s", at, bad[i].says,
			      line);
		if (bad[i].device) {
			snprintf(want, sizeof(want), "\"%s\"", bad[i].device);
			ck_assert_msg(strstr(line, want), "%s does not name %s", line, want);
			devices++;
		}
	}
	/* One line each, and a count; only "ok" came up. */
	ck_assert_msg(count_lines(r.err) == ARRAY_SIZE(bad) + 1, "%u lines: %s", count_lines(r.err),
		      r.err);
	snprintf(want, sizeof(want), "1 of %u devices up", devices + 1);
	ck_assert_msg(strstr(r.err, want), "\"%s\" not in: %s", want, r.err);
	ck_assert_uint_eq(list_json(lines, MAX_DEVS), 1);
	ck_assert_str_eq(json_field(lines[0], "name", field, sizeof(field)), "\"ok\"");
	ck_assert_uint_eq(kernel_ublk_devices(), 1);
}
END_TEST

/* 5: every bad flag or value: status 2, one line naming it, nothing started or created. */
START_TEST(test_add_bad_command_line)
{
	static const struct {
		const char *args[MAX_ARGS];
		const char *want[3];
	} bad[] = {
		{ { "--backend", "memory", "--size", "1Q" }, { "--size \"1Q\"", "not a size" } },
		{ { "--backend", "memory", "--size", "0" }, { "--size \"0\"" } },
		{ { "--backend", "memory", "--size", "1000" }, { "--size \"1000\"", "512" } },
		{ { "--backend", "null", "--size", "1M", "--queues", "0" }, { "--queues \"0\"" } },
		{ { "--backend", "null", "--size", "1M", "--queues", "5000" },
		  { "--queues \"5000\"" } },
		{ { "--backend", "null", "--size", "1M", "--depth", "0" }, { "--depth \"0\"" } },
		{ { "--backend", "null", "--size", "1M", "--depth", "4097" },
		  { "--depth \"4097\"" } },
		{ { "--backend", "null", "--size", "1M", "--block-size", "1024" },
		  { "--block-size \"1024\"" } },
		{ { "--backend", "ram", "--size", "1M" }, { "--backend \"ram\"" } },
		{ { "--backend", "null", "--size", "1M", "--cpus", "99999" },
		  { "--cpus \"99999\"" } },
		{ { "--backend", "null", "--size", "1M", "--cpus", "" }, { "--cpus \"\"" } },
		{ { "--backend", "null", "--size", "1M", "--id", "abc" }, { "--id \"abc\"" } },
		{ { "--backend", "null", "--size", "1M", "--id", "99999999" },
		  { "--id \"99999999\"" } },
		{ { "--backend", "null", "--size", "1M", "--name", "bad name" },
		  { "--name \"bad name\"" } },
		{ { "--backend", "null", "--size", "1M", "--name", "123" }, { "--name \"123\"" } },
		{ { "--backend", "null", "--size", "1M", "--name", "" }, { "--name \"\"" } },
		{ { "--backend", "null", "--size", "1M", "--read-only=maybe" },
		  { "--read-only \"maybe\"" } },
		{ { "--size", "1M" }, { "no backend" } },
		{ { "--backend", "memory" }, { "no size", "memory" } },
		{ { "--backend", "file" }, { "no path", "file" } },
		{ { "--backend", "memory", "--size", "1M", "--path", "/tmp/x.img" },
		  { "--path", "memory" } },
		{ { "--backend", "file", "--path", "/tmp/x.img", "--create" },
		  { "create", "size" } },
		{ { "--backend", "null", "--size", "1M", "--colour", "blue" }, { "\"--colour\"" } },
		{ { "--backend", "null", "--size", "1M", "-x" }, { "\"-x\"" } },
		{ { "--backend", "null", "--size", "1M", "stray" }, { "\"stray\"" } },
		{ { "--backend", "null", "--size", "1M", "--size", "2M" }, { "--size", "twice" } },
		{ { "--backend", "null", "--size", "1M", "--queues" }, { "--queues", "value" } },
	};

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		const char *what = run_ublkd_args("add", bad[i].args);

		assert_refused(what, 2, "ublkd: add: ", bad[i].want);
		ck_assert_msg(kernel_ublk_devices() == 0, "ublkd %s: created a device", what);
		ck_assert_msg(ublkd_daemon_pid() == 0, "ublkd %s: started a daemon", what);
	}
}
END_TEST

/* 5: adds that fail at run time: status 1, one line, no device, the daemon unharmed. */
START_TEST(test_add_runtime_failures)
{
	char lines[MAX_DEVS][LINE_MAX_BYTES], dir[64], id_text[16], taken[64], cpu[16], cpu_msg[64],
		log_path[4096], log_text[16384], field[64];
	unsigned keeper;
	off_t log_start;
	pid_t pid;

	make_temp_dir(dir, sizeof(dir));
	keeper = ublkd_add_ok("--name", "keeper", "--backend", "null", "--size", "1M", NULL);
	pid = ublkd_daemon_pid();
	ck_assert_int_gt(pid, 0);
	snprintf(id_text, sizeof(id_text), "%u", keeper);
	snprintf(taken, sizeof(taken), "id %u is taken", keeper);
	snprintf(cpu, sizeof(cpu), "%d", first_cpu_not_online());
	snprintf(cpu_msg, sizeof(cpu_msg), "CPU %s is not online", cpu);

	{
		const struct {
			const char *args[MAX_ARGS];
			const char *want[3];
		} bad[] = {
			{ { "--backend", "file", "--path", "/nonexistent-ublkd-test/disk.img" },
			  { "/nonexistent-ublkd-test/disk.img", "No such file or directory" } },
			{ { "--backend", "file", "--path", dir }, { dir, "Is a directory" } },
			{ { "--backend", "null", "--size", "1M", "--id", id_text }, { taken } },
			{ { "--backend", "null", "--size", "1M", "--name", "keeper" },
			  { "\"keeper\"", "exists" } },
			{ { "--backend", "null", "--size", "1M", "--cpus", cpu }, { cpu_msg } },
		};

		for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
			const char *what = run_ublkd_args("add", bad[i].args);

			assert_refused(what, 1, "ublkd: add ", bad[i].want);
			ck_assert_msg(kernel_ublk_devices() == 1, "ublkd %s: %u devices", what,
				      kernel_ublk_devices());
			ck_assert_msg(ublkd_daemon_pid() == pid, "ublkd %s: the daemon is gone",
				      what);
		}
	}
	ck_assert_uint_eq(list_json(lines, MAX_DEVS), 1);
	ck_assert_str_eq(json_field(lines[0], "name", field, sizeof(field)), "\"keeper\"");
	ck_assert_str_eq(json_field(lines[0], "state", field, sizeof(field)), "\"live\"");

	/* With no daemon, the one the failed add started goes away cleanly. */
	run_ublkd(&r, "del", "keeper", NULL);
	ck_assert_msg(r.status == 0, "del keeper: %d: %s", r.status, r.err);
	ck_assert_msg(wait_pid_gone(pid, GONE_TIMEOUT_MS), "daemon %d still runs", pid);
	run_path(log_path, sizeof(log_path), "ublkd.log");
	log_start = file_bytes(log_path);
	run_ublkd(&r, "add", "--backend", "file", "--path", "/nonexistent-ublkd-test/disk.img",
		  NULL);
	assert_refused("add of a missing file (no daemon)", 1, "ublkd: add ",
		       (const char *[]){ "/nonexistent-ublkd-test/disk.img", NULL });
	/* It unlinks its pid file before it says so. */
	wait_for_text(log_path, log_start, "exiting with status", log_text, sizeof(log_text),
		      GONE_TIMEOUT_MS);
	ck_assert_msg(strstr(log_text, "serving 0 devices") &&
			      strstr(log_text, "exiting with status 0\n"),
		      "the daemon's log: %s", log_text);
	ck_assert_uint_eq(kernel_ublk_devices(), 0);
	ck_assert_uint_eq(ublkd_daemon_pid(), 0);
}
END_TEST

/* queue q of device id runs on exactly one CPU; which, as a number. */
static int single_cpu_of(pid_t pid, unsigned id, unsigned q)
{
	char comm[32], cpus[64];
	char *end;
	long cpu;

	snprintf(comm, sizeof(comm), "ublk%uq%u", id, q);
	thread_cpus(pid, comm, cpus, sizeof(cpus));
	ck_assert_msg(cpus[0], "daemon %d has no thread %s", pid, comm);
	cpu = strtol(cpus, &end, 10);
	ck_assert_msg(!*end && end != cpus, "%s is not pinned to one CPU: %s", comm, cpus);
	return (int)cpu;
}

/* 6: queue threads run where --cpus says, and each on one CPU without it. */
START_TEST(test_queue_pinning)
{
	cpu_set_t online;
	struct ublk_ctrl c;
	unsigned spread, one, dflt;
	pid_t pid;
	int ret;

	online_cpus(&online);
	ck_assert_msg(CPU_ISSET(0, &online) && CPU_ISSET(1, &online),
		      "this test needs CPUs 0 and 1 (the VM has 2)");
	spread = ublkd_add_ok("--backend", "null", "--size", "1M", "--queues", "2", "--cpus", "0-1",
			      NULL);
	one = ublkd_add_ok("--backend", "null", "--size", "1M", "--queues", "2", "--cpus", "1",
			   NULL);
	dflt = ublkd_add_ok("--backend", "null", "--size", "1M", "--queues", "2", NULL);
	pid = ublkd_daemon_pid();
	ck_assert_int_gt(pid, 0);

	ck_assert_int_eq(single_cpu_of(pid, spread, 0), 0);
	ck_assert_int_eq(single_cpu_of(pid, spread, 1), 1);
	ck_assert_int_eq(single_cpu_of(pid, one, 0), 1);
	ck_assert_int_eq(single_cpu_of(pid, one, 1), 1);

	/* Without --cpus: the first CPU of the kernel's mapping of each queue. */
	ret = ublk_ctrl_open(&c);
	ck_assert_msg(ret == 0, "%s: %s", c.err_subject, strerror(-ret));
	for (unsigned q = 0; q < 2; q++) {
		cpu_set_t set;
		int first = -1;

		ret = ublk_ctrl_get_queue_affinity(&c, dflt, (uint16_t)q, &set);
		ck_assert_msg(ret == 0, "GET_QUEUE_AFFINITY %u/%u: %s", dflt, q, strerror(-ret));
		for (int cpu = 0; cpu < CPU_SETSIZE && first < 0; cpu++)
			if (CPU_ISSET(cpu, &set))
				first = cpu;
		ck_assert_int_eq(single_cpu_of(pid, dflt, q), first);
	}
	ublk_ctrl_close(&c);
}
END_TEST

/*
 * 6b: a daemon started under taskset -c 1 keeps every queue on CPU 1: default pinning falls
 * back to the allowed CPUs when the kernel maps a queue to CPU 0, and --cpus 0 is refused with
 * a message naming CPU 0. A thread may set its own affinity beyond what taskset gave the
 * process, so only a daemon that remembers its allowed set passes.
 */
START_TEST(test_queue_pinning_restricted)
{
	cpu_set_t online;
	unsigned id;
	pid_t pid;

	online_cpus(&online);
	ck_assert_msg(CPU_ISSET(0, &online) && CPU_ISSET(1, &online),
		      "this test needs CPUs 0 and 1 (the VM has 2)");
	ck_assert_uint_eq(ublkd_daemon_pid(), 0);
	/* The daemon this add starts inherits the affinity, or the cgroup's cpuset. */
	if (_i == 0)
		run_sh(&r, "exec taskset -c 1 %s add --backend null --size 1M --queues 2",
		       ublkd_bin());
	else
		run_sh(&r,
		       "cg=/sys/fs/cgroup; mountpoint -q $cg || mount -t cgroup2 none $cg; "
		       "echo +cpuset >$cg/cgroup.subtree_control && mkdir -p $cg/ublkd-cpuset && "
		       "echo 1 >$cg/ublkd-cpuset/cpuset.cpus && echo $$ "
		       ">$cg/ublkd-cpuset/cgroup.procs "
		       "&& exec %s add --backend null --size 1M --queues 2",
		       ublkd_bin());
	ck_assert_msg(r.status == 0 && sscanf(r.out, "/dev/ublkb%u", &id) == 1,
		      "%s ublkd add: %d: %s%s", _i ? "in a cpuset of CPU 1," : "taskset -c 1",
		      r.status, r.out, r.err);
	pid = ublkd_daemon_pid();
	ck_assert_int_gt(pid, 0);
	ck_assert_int_eq(single_cpu_of(pid, id, 0), 1);
	ck_assert_int_eq(single_cpu_of(pid, id, 1), 1);

	run_ublkd(&r, "add", "--backend", "null", "--size", "1M", "--name", "cpu0", "--cpus", "0",
		  NULL);
	assert_refused(
		_i ? "add --cpus 0 in a cpuset of CPU 1" : "add --cpus 0 under taskset -c 1", 1,
		"ublkd: add \"cpu0\": ",
		(const char *[]){ "cpus: CPU 0 is not allowed for ublkd (allowed: 1)", NULL });
	ck_assert_uint_eq(kernel_ublk_devices(), 1);
}
END_TEST

/* 7: help, version, and command lines that no command takes. */
START_TEST(test_help_and_usage)
{
	static const char *const commands[] = {
		"serve", "add", "del", "reload", "list", "features"
	};
	static const struct {
		const char *args[4];
		const char *prefix, *want;
	} bad[] = {
		{ { "bogus" }, "ublkd: ", "\"bogus\"" },
		{ { "--bogus" }, "ublkd: ", "\"--bogus\"" },
		{ { "serve", "--bogus" }, "ublkd: serve: ", "\"--bogus\"" },
		{ { "serve", "stray" }, "ublkd: serve: ", "\"stray\"" },
		{ { "serve", "--config" }, "ublkd: serve: ", "--config" },
		{ { "del" }, "ublkd: del: ", "ID, NAME" },
		{ { "del", "a", "b" }, "ublkd: del: ", "one device" },
		{ { "del", "--bogus" }, "ublkd: del: ", "\"--bogus\"" },
		{ { "del", "" }, "ublkd: del: ", "which device" },
		{ { "list", "--bogus" }, "ublkd: list: ", "\"--bogus\"" },
		{ { "features", "stray" }, "ublkd: features: ", "\"stray\"" },
		{ { "reload", "stray" }, "ublkd: reload: ", "\"stray\"" },
		{ { "del", "--force" }, "ublkd: del: ", "which device" },
	};
	char flag[64];

	for (unsigned i = 0; i < 2; i++) {
		run_ublkd(&r, i ? "-h" : "--help", NULL);
		ck_assert_msg(r.status == 0 && !r.err[0], "--help: %d: %s", r.status, r.err);
		for (size_t j = 0; j < ARRAY_SIZE(commands); j++) {
			snprintf(flag, sizeof(flag), "\n  %s ", commands[j]);
			ck_assert_msg(strstr(r.out, flag), "--help does not list %s", commands[j]);
		}
		ck_assert_msg(strstr(r.out, "--help") && strstr(r.out, "--version") &&
				      strstr(r.out, "Exit status"),
			      "--help: %s", r.out);
	}
	run_ublkd(&r, NULL);
	ck_assert_msg(r.status == 2 && !r.out[0] && strstr(r.err, "Usage: ublkd COMMAND"),
		      "no command: %d: %s", r.status, r.err);
	run_ublkd(&r, "--version", NULL);
	ck_assert_msg(r.status == 0 && !r.err[0], "--version: %d: %s", r.status, r.err);
	ck_assert_str_eq(r.out, "ublkd " UBLKD_VERSION "\n");
	run_ublkd(&r, "-V", NULL);
	ck_assert_str_eq(r.out, "ublkd " UBLKD_VERSION "\n");

	for (size_t i = 0; i < ARRAY_SIZE(commands); i++) {
		char usage[64];

		run_ublkd(&r, commands[i], "--help", NULL);
		ck_assert_msg(r.status == 0 && !r.err[0], "%s --help: %d: %s", commands[i],
			      r.status, r.err);
		snprintf(usage, sizeof(usage), "Usage: ublkd %s", commands[i]);
		ck_assert_msg(!strncmp(r.out, usage, strlen(usage)), "%s --help: %s", commands[i],
			      r.out);
	}
	run_ublkd(&r, "add", "--help", NULL);
	for (unsigned k = 0; dev_conf_keys[k]; k++) {
		size_t n = (size_t)snprintf(flag, sizeof(flag), "  --%s", dev_conf_keys[k]);

		for (size_t j = 4; j < n; j++)
			flag[j] = flag[j] == '_' ? '-' : flag[j];
		ck_assert_msg(strstr(r.out, flag), "add --help does not document %s", flag + 2);
	}
	run_ublkd(&r, "serve", "--help", NULL);
	ck_assert_msg(strstr(r.out, "--config FILE") && strstr(r.out, "--foreground") &&
			      strstr(r.out, "--auto-exit"),
		      "serve --help: %s", r.out);
	run_ublkd(&r, "del", "--help", NULL);
	ck_assert_msg(strstr(r.out, "--all"), "del --help: %s", r.out);
	run_ublkd(&r, "list", "--help", NULL);
	ck_assert_msg(strstr(r.out, "--json"), "list --help: %s", r.out);

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		const char *what = run_ublkd_args(NULL, bad[i].args);

		assert_refused(what, 2, bad[i].prefix, (const char *[]){ bad[i].want, NULL });
		ck_assert_msg(ublkd_daemon_pid() == 0, "ublkd %s: started a daemon", what);
	}
	ck_assert_uint_eq(kernel_ublk_devices(), 0);
}
END_TEST

/* test run with _i from 0 to nr - 1, each in a clean kernel and run directory. */
static void add_loop_test(Suite *s, const char *name, const TTest *test, int nr)
{
	TCase *tc = tcase_create(name);

	/* In the parent too: a test killed by its timeout skips its checked teardown. */
	tcase_add_unchecked_fixture(tc, NULL, ublkd_reset);
	tcase_add_checked_fixture(tc, reset, reset);
	tcase_set_timeout(tc, TEST_TIMEOUT_S);
	tcase_add_loop_test(tc, test, 0, nr);
	suite_add_tcase(s, tc);
}

static void add_test(Suite *s, const char *name, const TTest *test)
{
	add_loop_test(s, name, test, 1);
}

int main(void)
{
	Suite *s = suite_create("cli");
	int status;

	if (!mkdtemp(suite_tmp)) {
		perror(suite_tmp);
		return 1;
	}

	add_test(s, "list", test_list_matches_devices);
	add_test(s, "no_daemon", test_list_and_del_without_daemon);
	add_test(s, "del", test_del);
	add_test(s, "run_dir", test_run_dir_env);
	add_test(s, "serve_config", test_serve_config);
	add_test(s, "serve_config_errors", test_serve_config_errors);
	add_test(s, "add_bad_command_line", test_add_bad_command_line);
	add_test(s, "add_runtime_failures", test_add_runtime_failures);
	add_test(s, "queue_pinning", test_queue_pinning);
	/* _i 0: under taskset -c 1; 1: in a cgroup whose cpuset is CPU 1. */
	add_loop_test(s, "queue_pinning_restricted", test_queue_pinning_restricted, 2);
	add_test(s, "help", test_help_and_usage);
	status = suite_main(s);
	run_sh(&r, "rm -rf '%s'", suite_tmp);
	return status;
}
