// SPDX-License-Identifier: MIT
/*
 * Stress, run as root in the test VM: many devices at once under I/O, add/del cycles beside a
 * busy device, kill -9 and del at random moments, and a storm of clients good and bad. After
 * each, nothing is left half-made and the daemon holds what it held before: fds, threads, RSS.
 * The counts are small in `make check` (16 devices, 20 cycles, 10 kills and deletions, 32
 * clients); `make stress` raises them (UBLKD_STRESS_DEVICES, UBLKD_STRESS_CYCLES,
 * UBLKD_STRESS_KILLS, UBLKD_STRESS_CLIENTS).
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ipc.h"
#include "../common/suite_main.h"
#include "../common/ublkd_test.h"

#define DIR "/tmp/ublkd-test-stress"
#define CONF DIR "/ublkd.conf"
#define LOG DIR "/serve.log"
#define JOBS DIR "/fio.job"
#define STOP DIR "/stop"
#define TEST_TIMEOUT_S 900
#define RSS_SLACK_KIB 8192 /* malloc keeps some of what many queue threads freed */

static struct run_result r;

static unsigned knob(const char *name, unsigned dflt)
{
	const char *v = getenv(name);

	return v && *v ? (unsigned)strtoul(v, NULL, 10) : dflt;
}

#define sh_ok(...) sh_ok_into(&r, __VA_ARGS__)

static void stress_clean(void)
{
	umount_matching(0, "/dev/ublkb");
	ublkd_reset();
	if (umount2(DIR, 0) < 0 && errno != EINVAL && errno != ENOENT)
		umount2(DIR, MNT_DETACH);
	remove_tree(DIR);
}

static void setup(void)
{
	stress_clean();
	ck_assert_uint_eq(kernel_ublk_devices(), 0);
	ck_assert_msg(mkdir(DIR, 0700) == 0, DIR ": %s", strerror(errno));
	ck_assert_msg(mount("ublkd-test-stress", DIR, "tmpfs", 0, "size=1536M,mode=700") == 0,
		      "mount tmpfs on " DIR ": %s", strerror(errno));
}

static void teardown(void)
{
	stress_clean();
}

static pid_t start_serve(void)
{
	return ublkd_serve_start(CONF, LOG);
}

static void stop_serve(pid_t pid)
{
	int status;

	ck_assert_int_eq(kill(pid, SIGTERM), 0);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "serve: status 0x%x", status);
}

struct usage {
	unsigned fds, threads;
	uint64_t rss_kib;
};

static struct usage usage_of(pid_t pid)
{
	return (struct usage){ proc_fd_count(pid), proc_thread_count(pid),
			       /* a memory device's data is shared memory, not a leak */
			       proc_status_kib(pid, "RssAnon") };
}

static void assert_usage_back(const char *what, struct usage before, struct usage after)
{
	fprintf(stderr, "%s: fds %u -> %u, threads %u -> %u, anon RSS %llu -> %llu KiB\n", what,
		before.fds, after.fds, before.threads, after.threads,
		(unsigned long long)before.rss_kib, (unsigned long long)after.rss_kib);
	ck_assert_msg(after.fds == before.fds, "%s: %u fds, %u before", what, after.fds,
		      before.fds);
	ck_assert_msg(after.threads == before.threads, "%s: %u threads, %u before", what,
		      after.threads, before.threads);
	/*
	 * Under ASan freed memory waits in its quarantine (up to 256 MiB): RSS says nothing there.
	 * That run's leak check is LeakSanitizer's, as each daemon exits.
	 */
	if (daemon_sanitized())
		return;
	ck_assert_msg(after.rss_kib <= before.rss_kib + RSS_SLACK_KIB,
		      "%s: RSS %llu KiB, %llu before", what, (unsigned long long)after.rss_kib,
		      (unsigned long long)before.rss_kib);
}

static const char *const kinds[] = { "null", "memory", "file" };

/* A config section for device i: null, memory and file in turn, 16M, id 200 + i. */
static void conf_device(FILE *f, unsigned i)
{
	const char *kind = kinds[i % 3];

	fprintf(f, "[device \"s%u\"]\nbackend = %s\nsize = 16M\nid = %u\ndepth = 16\n", i, kind,
		200 + i);
	if (!strcmp(kind, "file"))
		fprintf(f, "path = " DIR "/img%u\ncreate = yes\n", i);
	fputc('\n', f);
}

/*
 * (a) Many devices of every backend from one config (a reload of a daemon that started with
 * none), fio on all of them at once (crc32c verify where data is kept), then `del --all`: it
 * returns, no device is left, and the daemon is back to its fds, threads and RSS before.
 */
START_TEST(test_many_devices)
{
	unsigned n = knob("UBLKD_STRESS_DEVICES", 16);
	struct usage before, after;
	int64_t start;
	pid_t pid;
	FILE *f;

	write_text_file(CONF, "");
	pid = start_serve();
	ublkd_add_ok("--backend", "memory", "--size", "16M", "--name", "warm", NULL);
	sh_ok("%s del warm >/dev/null", ublkd_bin());
	before = usage_of(pid);
	f = fopen(CONF, "w");
	ck_assert_ptr_nonnull(f);
	for (unsigned i = 0; i < n; i++)
		conf_device(f, i);
	fclose(f);
	start = now_ms();
	sh_ok("%s reload", ublkd_bin());
	fprintf(stderr, "many_devices: %u devices live in %lld ms\n", n,
		(long long)(now_ms() - start));
	ck_assert_uint_eq(kernel_ublk_devices(), n);

	f = fopen(JOBS, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "[global]\nioengine=io_uring\ndirect=1\nbs=4k\niodepth=4\nsize=1M\n");
	for (unsigned i = 0; i < n; i++) {
		fprintf(f, "[d%u]\nfilename=/dev/ublkb%u\n", i, 200 + i);
		fprintf(f, i % 3 ? "rw=randwrite\nverify=crc32c\ndo_verify=1\n" : "rw=randrw\n");
	}
	fclose(f);
	start = now_ms();
	sh_ok("fio --output=" DIR "/fio.out " JOBS);
	fprintf(stderr, "many_devices: fio on %u devices in %lld ms\n", n,
		(long long)(now_ms() - start));

	start = now_ms();
	sh_ok("%s del --all >/dev/null", ublkd_bin());
	fprintf(stderr, "many_devices: del --all in %lld ms\n", (long long)(now_ms() - start));
	ck_assert_uint_eq(kernel_ublk_devices(), 0);
	after = usage_of(pid);
	assert_usage_back("many_devices", before, after);
	stop_serve(pid);
}
END_TEST

/*
 * (b) add/del cycles of other devices while fio writes and verifies a busy device of the same
 * daemon, fio run after fio until the cycles end: not one error there, and no leak.
 */
START_TEST(test_cycles_beside_io)
{
	unsigned cycles = knob("UBLKD_STRESS_CYCLES", 20);
	struct usage before, after;
	int64_t start;
	pid_t pid, writer;
	int status;

	write_text_file(CONF, "[device \"busy\"]\nbackend = memory\nsize = 64M\nid = 190\n");
	pid = start_serve();
	/* A first cycle, so that malloc's arenas for a queue thread exist before counting. */
	run_ublkd(&r, "add", "--backend", "null", "--size", "1M", "--name", "c", NULL);
	ck_assert_msg(r.status == 0, "add: %s", r.err);
	run_ublkd(&r, "del", "c", NULL);
	ck_assert_msg(r.status == 0, "del: %s", r.err);
	before = usage_of(pid);
	writer = fork();
	ck_assert_int_ge(writer, 0);
	if (writer == 0) {
		setpgid(0, 0);
		execl("/bin/sh", "sh", "-c",
		      "n=0; while [ ! -e " STOP " ]; do n=$((n + 1)); "
		      "fio --name=busy --filename=/dev/ublkb190 --ioengine=io_uring --direct=1 "
		      "--rw=randwrite --bsrange=4k-64k --size=16M --iodepth=16 --verify=crc32c "
		      "--do_verify=1 --output=" DIR "/busy.out || exit 1; done; echo $n",
		      (char *)NULL);
		_exit(127);
	}
	start = now_ms();
	for (unsigned i = 0; i < cycles; i++) {
		const char *kind = kinds[i % 3];

		if (!strcmp(kind, "file"))
			run_ublkd(&r, "add", "--backend", "file", "--path", DIR "/cycle.img",
				  "--create", "--size", "4M", "--name", "c", NULL);
		else
			run_ublkd(&r, "add", "--backend", kind, "--size", "4M", "--name", "c",
				  NULL);
		ck_assert_msg(r.status == 0, "cycle %u: add: %s", i, r.err);
		run_ublkd(&r, "del", "c", NULL);
		ck_assert_msg(r.status == 0, "cycle %u: del: %s", i, r.err);
	}
	fprintf(stderr, "cycles_beside_io: %u add/del cycles in %lld ms\n", cycles,
		(long long)(now_ms() - start));
	write_text_file(STOP, "");
	ck_assert_int_eq(waitpid(writer, &status, 0), writer);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "fio on the busy device failed (status 0x%x): see " DIR "/busy.out", status);
	ck_assert_uint_eq(kernel_ublk_devices(), 1);
	after = usage_of(pid);
	assert_usage_back("cycles_beside_io", before, after);
	stop_serve(pid);
}
END_TEST

/* Every device the kernel has is live and served by the daemon (none half-made). */
static void assert_all_live(unsigned expect_max)
{
	unsigned n = kernel_ublk_devices(), live = 0;

	run_ublkd(&r, "list", "--json", NULL);
	ck_assert_int_eq(r.status, 0);
	for (const char *p = r.out; (p = strstr(p, "\"state\": ")); p++)
		live += !strncmp(p + 9, "\"live\"", 6);
	ck_assert_msg(live == n && n <= expect_max, "%u devices, %u live: %s", n, live, r.out);
}

/* ublkd with up to five arguments (NULL-terminated), in the background, output dropped. */
static pid_t spawn_ublkd(const char *a1, const char *a2, const char *a3, const char *a4,
			 const char *a5, const char *a6)
{
	pid_t pid = fork();

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		dup2(null, 1);
		dup2(null, 2);
		execl(ublkd_bin(), "ublkd", a1, a2, a3, a4, a5, a6, (char *)NULL);
		_exit(127);
	}
	return pid;
}

/*
 * (c) kill -9 of the daemon, or del --force of everything, at a random moment while an add runs
 * or while fio writes. After a kill, what the dead one left is taken over by the daemon the add
 * started when it found none, or else by the next `ublkd serve`: each device recovered, or
 * deleted if it was half-made. Either way, every device the kernel then has is live and served;
 * deleted, the daemon holds what a fresh one held (fds, threads, RSS), or, started by an add,
 * it goes.
 */
START_TEST(test_kill_and_del_at_random)
{
	unsigned kills = knob("UBLKD_STRESS_KILLS", 10), started_by_add = 0, half_made = 0;
	unsigned recovered = 0;
	bool serve_is_child = true;
	struct usage before;
	pid_t pid, adder;
	int status;

	write_text_file(CONF, "");
	pid = start_serve();
	ublkd_add_ok("--backend", "memory", "--size", "16M", "--name", "warm", NULL);
	sh_ok("%s del warm >/dev/null", ublkd_bin());
	before = usage_of(pid);
	srandom(12345);
	for (unsigned i = 0; i < kills; i++) {
		unsigned delay = (unsigned)(random() % 400);
		bool kill_it = i % 2 == 0, during_io = i % 4 >= 2;
		char what[64];

		ublkd_add_ok("--backend", "memory", "--size", "16M", "--id", "0", NULL);
		if (during_io)
			sh_ok("fio --name=w --filename=/dev/ublkb0 --ioengine=io_uring --direct=1 "
			      "--rw=randwrite --bs=4k --size=8M --iodepth=8 --output=/dev/null "
			      "</dev/null >/dev/null 2>&1 & sleep 0.3");
		adder = spawn_ublkd("add", "--backend", i % 3 ? "memory" : "null", "--size", "8M",
				    NULL);
		sleep_ms(delay);
		if (kill_it) {
			kill(pid, SIGKILL);
			ck_assert(wait_pid_gone(pid, 30000));
			if (serve_is_child)
				waitpid(pid, NULL, 0);
		} else {
			run_ublkd(&r, "del", "--force", "--all", NULL);
		}
		ck_assert_int_eq(waitpid(adder, &status, 0), adder);
		/*
		 * What takes over what the dead one left: the daemon the add started when it found
		 * none (as `ublkd add` does), or else the next `ublkd serve`.
		 */
		if (kill_it) {
			pid = ublkd_daemon_pid();
			serve_is_child = !pid;
			if (serve_is_child)
				pid = start_serve();
			else
				started_by_add++;
			/* What the takeover did: every device recovered, or deleted if half-made. */
			run_ublkd(&r, "recover", NULL);
			ck_assert_msg(r.status == 0, "recover: %s%s", r.out, r.err);
			for (const char *p = r.out; (p = strstr(p, "half-made")); p++)
				half_made++;
			for (const char *p = r.out; (p = strstr(p, "recovered \"")); p++)
				recovered++;
		}
		snprintf(what, sizeof(what), "%s after %u ms%s", kill_it ? "kill -9" : "del --all",
			 delay, during_io ? " under fio" : "");
		fprintf(stderr, "kill_and_del %u: %s: add exit status %d\n", i, what,
			WEXITSTATUS(status));
		sh_ok("pkill -x fio; for i in $(seq 100); do pgrep -x fio >/dev/null || exit 0; "
		      "sleep 0.2; done; exit 1");
		assert_all_live(2);
		run_ublkd(&r, "del", "--force", "--all", NULL);
		ck_assert_msg(r.status == 0, "%s: del --all: %s", what, r.err);
		ck_assert_uint_eq(kernel_ublk_devices(), 0);
		if (serve_is_child) {
			assert_usage_back(what, before, usage_of(pid));
			continue;
		}
		/* A daemon an add started goes with its last device: nothing of it to leak. */
		ck_assert_msg(wait_pid_gone(pid, 30000), "%s: the add's daemon stayed", what);
		pid = start_serve();
		serve_is_child = true;
	}
	fprintf(stderr,
		"kill_and_del: %u kills (%u taken over by the daemon an add started; %u devices "
		"recovered, %u half-made ones deleted), %u del --all\n",
		(kills + 1) / 2, started_by_add, recovered, half_made, kills / 2);
	stop_serve(pid);
}
END_TEST

static int connect_raw(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ipc_run_path(sa.sun_path, sizeof(sa.sun_path), "ublkd.sock"), 0);
	ck_assert_msg(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0, "connect: %s",
		      strerror(errno));
	return fd;
}

/* A good client: add, list, del its own device; 0 when every step answered as it should. */
static int good_client(unsigned i)
{
	char name[16];

	snprintf(name, sizeof(name), "g%u", i);
	run_ublkd(&r, "add", "--backend", "null", "--size", "1M", "--name", name, NULL);
	if (r.status) {
		fprintf(stderr, "client %u: add: %d: %s", i, r.status, r.err);
		return 10;
	}
	run_ublkd(&r, "list", NULL);
	if (r.status || !strstr(r.out, name)) {
		fprintf(stderr, "client %u: list: %d: %s%s", i, r.status, r.out, r.err);
		return 11;
	}
	run_ublkd(&r, "del", name, NULL);
	if (r.status)
		fprintf(stderr, "client %u: del: %d: %s", i, r.status, r.err);
	return r.status ? 12 : 0;
}

/*
 * (d) Clients at once: good ones (add, list, del) beside ones that connect and say nothing,
 * send garbage, send more than a request may hold, or hang up halfway. Every good one gets its
 * answers, a device that was there is untouched, and the daemon still answers SIGTERM.
 */
START_TEST(test_client_storm)
{
	unsigned good = knob("UBLKD_STRESS_CLIENTS", 32);
	static char big[IPC_MSG_MAX + 4096];
	pid_t pids[256], pid;
	int silent[4], status, failed = 0;
	unsigned keep;

	ck_assert_uint_le(good, 200);
	keep = ublkd_add_ok("--backend", "memory", "--size", "16M", "--name", "keep", NULL);
	sh_ok("printf 'keep-data' | dd of=/dev/ublkb%u bs=4096 conv=sync oflag=direct status=none",
	      keep);
	pid = ublkd_daemon_pid();
	for (unsigned i = 0; i < 4; i++)
		silent[i] = connect_raw();
	for (unsigned i = 0; i < good; i++) {
		pids[i] = fork();
		ck_assert_int_ge(pids[i], 0);
		if (pids[i] == 0)
			_exit(good_client(i));
	}
	/* The bad ones, from here, while the good ones run. */
	memset(big, 'a', sizeof(big));
	for (unsigned i = 0; i < 8; i++) {
		int fd = connect_raw();
		ssize_t ignored;

		switch (i % 4) {
		case 0:
			ignored = write(fd, "\x01\x02garbage\xff\n\n", 12);
			shutdown(fd, SHUT_WR);
			break;
		case 1:
			ignored = write(fd, big, sizeof(big));
			shutdown(fd, SHUT_WR);
			break;
		case 2:
			ignored = write(fd, "add\nbackend = null\nsi", 21);
			break; /* and hang up */
		case 3:
			/* All of "del keep" but its end line: cut short, then gone. */
			ignored = write(fd, "del keep\n", 9);
			break;
		}
		(void)ignored;
		close(fd);
	}
	for (unsigned i = 0; i < good; i++) {
		ck_assert_int_eq(waitpid(pids[i], &status, 0), pids[i]);
		if (!WIFEXITED(status) || WEXITSTATUS(status)) {
			fprintf(stderr, "client_storm: client %u status 0x%x\n", i, status);
			failed++;
		}
	}
	ck_assert_msg(!failed, "%d of %u good clients failed", failed, good);
	sh_ok("dd if=/dev/ublkb%u bs=4096 count=1 iflag=direct status=none | head -c 9", keep);
	ck_assert_str_eq(r.out, "keep-data");
	ck_assert_uint_eq(kernel_ublk_devices(), 1);
	ck_assert_int_eq(ublkd_daemon_pid(), pid);
	/* Silent clients still connected: SIGTERM must still end it, promptly. */
	ck_assert_int_eq(kill(pid, SIGTERM), 0);
	ck_assert_msg(wait_pid_gone(pid, 60000), "SIGTERM with silent clients: still running");
	for (unsigned i = 0; i < 4; i++)
		close(silent[i]);
	ck_assert_uint_eq(kernel_ublk_devices(), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("stress");
	TCase *tc = tcase_create("stress");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, TEST_TIMEOUT_S);
	tcase_add_test(tc, test_many_devices);
	tcase_add_test(tc, test_cycles_beside_io);
	tcase_add_test(tc, test_kill_and_del_at_random);
	tcase_add_test(tc, test_client_storm);
	suite_add_tcase(s, tc);
	return suite_main(s);
}
