// SPDX-License-Identifier: MIT
/*
 * Devices that outlive their daemon (user recovery), against a real ublk_drv (root, in a VM
 * guest): ublkd is killed with SIGKILL in the middle of I/O and the next daemon (started by
 * `ublkd recover`, by the next `ublkd add`, or by `ublkd serve` with the same config) takes
 * every device over, with no error seen by fio or by a mounted ext4. Devices that cannot come
 * back (recovery = none) are deleted so that their id is free; recovery = fail fails I/O while
 * no daemon runs (7.x) or is refused by name (6.12). Every test starts and ends with
 * ublkd_reset().
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../common/suite_main.h"
#include "../common/ublkd_test.h"
#include "abi/ublk.h"
#include "ctrl.h"
#include "device_ublk.h"
#include "ipc.h"

#define TEST_TIMEOUT_S 600
#define DIR "/tmp/ublkd-test-recovery"
#define MNT DIR "/mnt"
#define CONF DIR "/ublkd.conf"
#define FIO_OUT DIR "/fio.out"
/* Each write waits this long in the file backend, so that a kill always meets writes there. */
#define WRITE_DELAY_MS "30"
#define GONE_TIMEOUT_MS 30000
#define EXT4_CYCLES 12

static struct run_result r;
static pid_t fio_pid; /* a background fio (its own process group) while it may run */

#define sh_ok(...) sh_ok_into(&r, __VA_ARGS__)

static void cleanup(void)
{
	if (fio_pid > 0) {
		/* One stuck on a device that went (a failed test) must not hang the suite. */
		kill(-fio_pid, SIGKILL);
		for (int i = 0; i < 100 && waitpid(fio_pid, NULL, WNOHANG) == 0; i++)
			sleep_ms(100);
		fio_pid = 0;
	}
	umount_matching(1, DIR "/");
	ublkd_reset();
	remove_tree(DIR);
	unsetenv("UBLKD_TEST_IO_DELAY_MS");
}

static void setup(void)
{
	cleanup();
	ck_assert_uint_eq(kernel_ublk_devices(), 0);
	ck_assert_int_eq(ublkd_daemon_pid(), 0);
	sh_ok("mkdir -p " MNT);
}

static void teardown(void)
{
	cleanup();
	ck_assert_uint_eq(kernel_ublk_devices(), 0);
}

/* Kills the running daemon with SIGKILL and waits until it is gone; returns its pid. */
static pid_t kill_daemon(void)
{
	pid_t pid = ublkd_daemon_pid();

	ck_assert_int_gt(pid, 0);
	ck_assert_int_eq(kill(pid, SIGKILL), 0);
	ck_assert_msg(wait_pid_gone(pid, GONE_TIMEOUT_MS), "daemon %d survived SIGKILL", pid);
	return pid;
}

/* The `ublkd list` line of device id: its state and server pid ("-" when none). */
static void list_state(unsigned id, char *name, char *state, char *pid)
{
	char want[16], *line;

	run_ublkd(&r, "list", NULL);
	ck_assert_msg(r.status == 0, "list: %s", r.err);
	snprintf(want, sizeof(want), "\n%u ", id);
	line = strstr(r.out, want);
	ck_assert_msg(line, "device %u not listed: %s", id, r.out);
	ck_assert_msg(sscanf(line + 1, "%*u %63s %*s %*s %*u %*u %*s %31s %*s %15s", name, state,
			     pid) == 3,
		      "list line: %.200s", line + 1);
}

/* Starts fio (sh -c cmd) in a process group of its own. */
static void start_fio(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void start_fio(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	fio_pid = fork();
	ck_assert_int_ge(fio_pid, 0);
	if (fio_pid == 0) {
		setpgid(0, 0);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	setpgid(fio_pid, fio_pid);
}

/* Waits until at least sectors have been written to /dev/ublkbID, with fio still running. */
static void wait_written(unsigned id, uint64_t sectors)
{
	int64_t deadline = now_ms() + 120000;
	char name[32];
	int status;

	snprintf(name, sizeof(name), "ublkb%u", id);
	while (disk_stat(name, 7) < sectors && now_ms() < deadline)
		sleep_ms(50);
	ck_assert_msg(disk_stat(name, 7) >= sectors, "fio wrote %llu sectors in 120 s",
		      (unsigned long long)disk_stat(name, 7));
	ck_assert_msg(waitpid(fio_pid, &status, WNOHANG) == 0,
		      "fio ended before the kill (status 0x%x)", status);
}

/* fio's exit status (asserted 0) and its report, once it ends within timeout_ms. */
static void fio_finishes_clean(unsigned timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms;
	pid_t waited;
	int status = -1;

	while ((waited = waitpid(fio_pid, &status, WNOHANG)) == 0 && now_ms() < deadline)
		sleep_ms(100);
	run_sh(&r, "cat " FIO_OUT);
	ck_assert_msg(waited == fio_pid, "fio did not finish within %u ms: %.3000s", timeout_ms,
		      r.out);
	fio_pid = 0;
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "fio status 0x%x: %.3000s",
		      status, r.out);
	ck_assert_msg(strstr(r.out, "err= 0") && !strstr(r.out, "verify:") &&
			      !strstr(r.out, "bad magic"),
		      "fio reported errors: %.3000s", r.out);
}

/*
 * fio at queue depth 32 on /dev/ublkbID: random writes with crc32c verify where the backend
 * keeps data, random reads and writes for 8 s on null (which keeps nothing to verify).
 */
static void start_fio_for(const char *backend, unsigned id)
{
	if (strcmp(backend, "null"))
		start_fio("exec fio --name=v --filename=/dev/ublkb%u --ioengine=io_uring "
			  "--direct=1 --rw=randwrite --bs=4k --iodepth=32 --size=12M "
			  "--verify=crc32c --do_verify=1 --verify_fatal=1 --eta=never "
			  "--output=" FIO_OUT,
			  id);
	else
		start_fio("exec fio --name=v --filename=/dev/ublkb%u --ioengine=io_uring "
			  "--direct=1 --rw=randrw --bs=4k --iodepth=32 --size=256M --time_based "
			  "--runtime=8 --eta=never --output=" FIO_OUT,
			  id);
}

/*
 * The add flags of the victim device; io_mode "" for auto. Batch mode where the kernel has it
 * (7.0+), else auto: the case still runs, in the mode the kernel offers.
 */
static void victim_args(const char *backend, const char *io_mode, char *buf, size_t len)
{
	char mode[64] = "";

	if (!strcmp(io_mode, "batch") && !(kernel_ublk_features() & UBLK_F_BATCH_IO))
		fprintf(stderr, "  (no batch mode on this kernel: auto)\n");
	else if (io_mode[0])
		snprintf(mode, sizeof(mode), " --io-mode %s", io_mode);
	if (!strcmp(backend, "file"))
		snprintf(buf, len, "--backend file --path " DIR "/v.img --create --size 32M%s",
			 mode);
	else
		snprintf(buf, len, "--backend %s --size %s%s", backend,
			 strcmp(backend, "null") ? "32M" : "1G", mode);
}

enum restart_by { BY_RECOVER, BY_ADD };

struct kill_case {
	const char *backend;
	enum restart_by by;
	const char *io_mode;
};

/* The auto modes (user or zero copy), and the copy and batch modes once each. */
static const struct kill_case kill_cases[] = {
	{ "null", BY_RECOVER, "" },  { "file", BY_RECOVER, "" },  { "memory", BY_RECOVER, "" },
	{ "null", BY_ADD, "batch" }, { "file", BY_ADD, "batch" }, { "memory", BY_ADD, "copy" },
};

/*
 * SIGKILL of the daemon while fio writes at queue depth 32 (with crc32c verify on the file
 * backend, the writes held in the backend so that some are in flight), then the next daemon:
 * `ublkd recover` or the next `ublkd add`. The device waits meanwhile (quiesced, listed with
 * its name), fio sees no error and every block it wrote, before the kill or after, verifies.
 */
START_TEST(test_kill_during_fio)
{
	const struct kill_case *c = &kill_cases[_i];
	char name[64], state[32], pid_text[16], want[128], args[256];
	pid_t dead, adopter;
	unsigned id;

	fprintf(stderr, "kill_during_fio: %s backend, io_mode %s, then %s\n", c->backend,
		c->io_mode[0] ? c->io_mode : "auto",
		c->by == BY_RECOVER ? "ublkd recover" : "ublkd add");
	victim_args(c->backend, c->io_mode, args, sizeof(args));
	setenv("UBLKD_TEST_IO_DELAY_MS", WRITE_DELAY_MS, 1);
	sh_ok("$UBLKD_BIN add --name victim --queues 2 %s", args);
	id = (unsigned)strtoul(r.out + strlen("/dev/ublkb"), NULL, 10);
	start_fio_for(c->backend, id);
	/* Well into the run: many rounds of 32 writes done. */
	wait_written(id, 8 * 32 * 8);
	dead = kill_daemon();
	unsetenv("UBLKD_TEST_IO_DELAY_MS");

	/* 6.12 notices the dead server within 5 s; until then the list says "no-server". */
	for (int64_t deadline = now_ms() + 15000; now_ms() < deadline; sleep_ms(200)) {
		list_state(id, name, state, pid_text);
		if (strcmp(state, "no-server"))
			break;
	}
	ck_assert_str_eq(name, "victim");
	ck_assert_msg(!strcmp(state, "quiesced"), "state of a device whose daemon died: %s", state);
	/* Its I/O waits: fio is neither done nor failed. */
	sleep_ms(1000);
	ck_assert_int_eq(waitpid(fio_pid, NULL, WNOHANG), 0);

	if (c->by == BY_RECOVER) {
		run_ublkd(&r, "recover", NULL);
		ck_assert_msg(r.status == 0, "recover: %d: %s%s", r.status, r.out, r.err);
		snprintf(want, sizeof(want), "recovered \"victim\" (/dev/ublkb%u, %s backend) in ",
			 id, c->backend);
		ck_assert_msg(strstr(r.out, want), "recover said: %s", r.out);
		fprintf(stderr, "kill_during_fio: %s", r.out);
	} else {
		ublkd_add_ok("--name", "other", "--backend", "null", "--size", "1M", NULL);
		/* The add's daemon took it over at its start, and says so when asked. */
		run_ublkd(&r, "recover", NULL);
		snprintf(want, sizeof(want), "recovered \"victim\" (/dev/ublkb%u, ", id);
		ck_assert_msg(r.status == 0 && strstr(r.out, want), "recover: %s%s", r.out, r.err);
	}
	adopter = ublkd_daemon_pid();
	ck_assert_int_gt(adopter, 0);
	ck_assert_int_ne(adopter, dead);
	list_state(id, name, state, pid_text);
	ck_assert_str_eq(state, "live");
	snprintf(want, sizeof(want), "%d", adopter);
	ck_assert_str_eq(pid_text, want);
	fio_finishes_clean(300000);
	/* Asked again, nothing new. */
	run_ublkd(&r, "recover", NULL);
	ck_assert_msg(r.status == 0 && !strcmp(r.out, "nothing to recover\n"), "recover: %s%s",
		      r.out, r.err);
}
END_TEST

/* A device made with recovery = none dies with its daemon; the next one deletes it, id free. */
START_TEST(test_recovery_none_frees_id)
{
	unsigned id = ublkd_add_ok("--name", "mortal", "--id", "41", "--backend", "null", "--size",
				   "1M", "--recovery", "none", NULL);

	ck_assert_uint_eq(id, 41);
	kill_daemon();
	ck_assert_uint_eq(kernel_ublk_devices(), 1);
	run_ublkd(&r, "recover", NULL);
	ck_assert_msg(r.status == 1, "recover of a recovery = none device: status %d", r.status);
	ck_assert_msg(strstr(r.err, "\"mortal\" (/dev/ublkb41): made with recovery = none; "
				    "deleted it (id 41 is free)"),
		      "recover said: %s", r.err);
	ck_assert_uint_eq(kernel_ublk_devices(), 0);
	id = ublkd_add_ok("--name", "again", "--id", "41", "--backend", "null", "--size", "1M",
			  NULL);
	ck_assert_uint_eq(id, 41);
}
END_TEST

static bool kernel_has_feature(const char *name)
{
	run_ublkd(&r, "features", NULL);
	ck_assert_msg(r.status == 0, "features: %s", r.err);
	return strstr(r.out, name) != NULL;
}

/*
 * recovery = fail: while no daemon runs, I/O fails at once (within 5 s) instead of waiting,
 * and the device comes back when the next daemon takes it over (6.13+). A kernel without the
 * feature refuses the device by the feature's name, and nothing is left behind.
 */
START_TEST(test_recovery_fail)
{
	int64_t start, took;
	unsigned id;

	if (!kernel_has_feature("USER_RECOVERY_FAIL_IO")) {
		run_ublkd(&r, "add", "--backend", "null", "--size", "1M", "--recovery", "fail",
			  NULL);
		ck_assert_msg(r.status == 1, "add --recovery fail: status %d", r.status);
		ck_assert_msg(strstr(r.err, "recovery = fail needs ublk_drv's "
					    "USER_RECOVERY_FAIL_IO, which this kernel lacks "
					    "(Linux 6.13+)"),
			      "refusal: %s", r.err);
		ck_assert_uint_eq(kernel_ublk_devices(), 0);
		fprintf(stderr, "recovery_fail: refused: %s", r.err);
		return;
	}
	id = ublkd_add_ok("--name", "fast", "--backend", "null", "--size", "1M", "--recovery",
			  "fail", NULL);
	kill_daemon();
	start = now_ms();
	run_sh(&r, "dd if=/dev/ublkb%u of=/dev/null bs=4k count=1 iflag=direct status=none", id);
	took = now_ms() - start;
	ck_assert_msg(r.status != 0, "a read without a daemon succeeded");
	ck_assert_msg(took < 5000, "a read without a daemon took %lld ms to fail", (long long)took);
	fprintf(stderr, "recovery_fail: a read failed in %lld ms: %s", (long long)took, r.err);
	run_ublkd(&r, "recover", NULL);
	ck_assert_msg(r.status == 0 && strstr(r.out, "recovered \"fast\""), "recover: %s%s", r.out,
		      r.err);
	sh_ok("dd if=/dev/ublkb%u of=/dev/null bs=4k count=1 iflag=direct status=none", id);
}
END_TEST

/*
 * A config device adopted by the next `ublkd serve` of the same config is taken over, not
 * created again (no "exists" warning, same id), and its data written before the kill is there.
 */
START_TEST(test_serve_adopts_config_device)
{
	pid_t first;

	write_text_file(CONF, "[device \"disk\"]\nbackend = file\npath = disk.img\ncreate = yes\n"
			      "size = 16M\nid = 42\n");
	run_ublkd(&r, "serve", "--config", CONF, NULL);
	ck_assert_msg(r.status == 0, "serve: %s", r.err);
	sh_ok("printf 'before the kill' | dd of=/dev/ublkb42 bs=4k conv=sync oflag=direct "
	      "status=none");
	first = kill_daemon();
	run_ublkd(&r, "serve", "--config", CONF, NULL);
	ck_assert_msg(r.status == 0 && !r.err[0], "serve again: %d: %s", r.status, r.err);
	ck_assert_int_ne(ublkd_daemon_pid(), first);
	ck_assert_uint_eq(kernel_ublk_devices(), 1);
	sh_ok("dd if=/dev/ublkb42 bs=4k count=1 iflag=direct status=none | head -c 15");
	ck_assert_str_eq(r.out, "before the kill");
	sh_ok("grep -c 'recovered \"disk\" (/dev/ublkb42, file backend)' %s/ublkd.log",
	      ipc_run_dir());
	/* The reload sees it as the config's own: unchanged, kept. */
	run_ublkd(&r, "reload", NULL);
	ck_assert_msg(r.status == 0, "reload: %s", r.err);
	ck_assert_uint_eq(kernel_ublk_devices(), 1);
}
END_TEST

struct upgrade_case {
	const char *backend;
	bool by_signal; /* SIGUSR2 instead of `ublkd upgrade` */
};

static const struct upgrade_case upgrade_cases[] = {
	{ "null", false },
	{ "file", false },
	{ "memory", false },
	{ "file", true },
};

/*
 * In-place upgrade during fio (crc32c verify on the file backend, writes held in the backend
 * so that some are in flight): the daemon runs from a copy of the binary that is replaced
 * (a new inode, as a package upgrade does) before the upgrade; afterwards the same pid runs the
 * new file, every device is live, and fio sees no error. The pause is reported.
 */
START_TEST(test_upgrade_during_fio)
{
	const struct upgrade_case *c = &upgrade_cases[_i];
	char exe[4096], want[128], args[256];
	struct stat running, installed;
	unsigned id;
	pid_t pid;
	ssize_t n;

	fprintf(stderr, "upgrade_during_fio: %s backend, by %s\n", c->backend,
		c->by_signal ? "SIGUSR2" : "ublkd upgrade");
	sh_ok("mkdir -p " DIR "/bin && cp %s " DIR "/bin/ublkd", ublkd_bin());
	victim_args(c->backend, "", args, sizeof(args));
	setenv("UBLKD_TEST_IO_DELAY_MS", WRITE_DELAY_MS, 1);
	sh_ok(DIR "/bin/ublkd add --name up --queues 2 %s", args);
	unsetenv("UBLKD_TEST_IO_DELAY_MS");
	id = (unsigned)strtoul(r.out + strlen("/dev/ublkb"), NULL, 10);
	start_fio_for(c->backend, id);
	wait_written(id, 8 * 32 * 8);
	pid = ublkd_daemon_pid();
	ck_assert_int_gt(pid, 0);
	/* A package upgrade: a new file where the binary was; the old one runs on, deleted. */
	sh_ok("cp --remove-destination %s " DIR "/bin/ublkd", ublkd_bin());
	if (c->by_signal) {
		ck_assert_int_eq(kill(pid, SIGUSR2), 0);
		snprintf(want, sizeof(want), "upgraded ublkd %s to %s in place (pid %d)",
			 UBLKD_VERSION, UBLKD_VERSION, pid);
		for (int64_t end = now_ms() + 60000; now_ms() < end; sleep_ms(100)) {
			run_sh(&r, "grep -F '%s' %s/ublkd.log", want, ipc_run_dir());
			if (!r.status)
				break;
		}
		ck_assert_msg(!r.status, "no \"%s\" in the log", want);
	} else {
		run_ublkd(&r, "upgrade", NULL);
		ck_assert_msg(r.status == 0, "upgrade: %d: %s%s", r.status, r.out, r.err);
	}
	snprintf(want, sizeof(want), "(pid %d): 1 devices live again, 0 lost; I/O paused ", pid);
	ck_assert_msg(strstr(r.out, want), "upgrade said: %s", r.out);
	fprintf(stderr, "upgrade_during_fio: %s", strstr(r.out, "upgraded"));
	ck_assert_int_eq(ublkd_daemon_pid(), pid);
	/* The new file runs, not the deleted one (its path is our namespace's: compare inodes). */
	snprintf(want, sizeof(want), "/proc/%d/exe", pid);
	n = readlink(want, exe, sizeof(exe) - 1);
	ck_assert_int_gt(n, 0);
	exe[n] = '\0';
	ck_assert_msg(!strstr(exe, "(deleted)"), "the daemon runs %s", exe);
	ck_assert_int_eq(stat(want, &running), 0);
	ck_assert_int_eq(stat(DIR "/bin/ublkd", &installed), 0);
	ck_assert_msg(running.st_dev == installed.st_dev && running.st_ino == installed.st_ino,
		      "the daemon runs %s, not the new " DIR "/bin/ublkd", exe);
	fio_finishes_clean(300000);
}
END_TEST

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/*
 * EXT4_CYCLES kills in a row of the daemon under a mounted ext4 on a memory device with files
 * being written, each followed by `ublkd recover`: no I/O error in the kernel log, fsck clean
 * at the end, every file intact (the RAM outlived every daemon); the daemon's fd count and RSS
 * the same from cycle to cycle. The median time from the kill to the device live again is
 * printed.
 */
START_TEST(test_ext4_kill_cycles)
{
	int64_t took[EXT4_CYCLES], start;
	unsigned fds[EXT4_CYCLES], id;
	uint64_t rss[EXT4_CYCLES];
	pid_t adopter;

	id = ublkd_add_ok("--name", "fs", "--backend", "memory", "--size", "128M", NULL);
	sh_ok("dmesg -C; mkfs.ext4 -q -F /dev/ublkb%u && mount /dev/ublkb%u " MNT, id, id);
	/* A writer that never stops: a file per step, each with its own content, synced. */
	start_fio("i=0; while :; do i=$((i+1)); seq $i $((i+2000)) >" MNT "/f$((i%%200)).tmp && "
		  "mv " MNT "/f$((i%%200)).tmp " MNT "/f$((i%%200)) && sync " MNT
		  "/f$((i%%200)); done");
	for (unsigned i = 0; i < EXT4_CYCLES; i++) {
		sleep_ms(300);
		start = now_ms();
		kill_daemon();
		run_ublkd(&r, "recover", NULL);
		took[i] = now_ms() - start;
		ck_assert_msg(r.status == 0 && strstr(r.out, "recovered \"fs\""),
			      "cycle %u: recover: %s%s", i, r.out, r.err);
		adopter = ublkd_daemon_pid();
		fds[i] = proc_fd_count(adopter);
		rss[i] = proc_rss_kib(adopter);
		ck_assert_msg(kill(fio_pid, 0) == 0, "cycle %u: the writer died", i);
	}
	kill(-fio_pid, SIGKILL);
	waitpid(fio_pid, NULL, 0);
	fio_pid = 0;
	/* Every file whole: "seq N N+2000" has 2001 lines. */
	sh_ok("for f in " MNT "/f*; do case $f in *.tmp) continue;; esac; "
	      "test $(wc -l <$f) -eq 2001 || { echo $f; exit 1; }; done");
	sh_ok("umount " MNT " && fsck.ext4 -fn /dev/ublkb%u", id);
	run_sh(&r, "dmesg | grep -iE 'I/O error|EXT4-fs error|blk_update_request'");
	ck_assert_msg(r.status == 1, "kernel log: %s", r.out);
	for (unsigned i = 1; i < EXT4_CYCLES; i++) {
		ck_assert_msg(fds[i] == fds[0], "cycle %u: %u fds, cycle 0: %u", i, fds[i], fds[0]);
		/* Not under ASan: its quarantine holds freed memory (LeakSanitizer checks). */
		ck_assert_msg(daemon_sanitized() || rss[i] <= rss[0] + 1024,
			      "cycle %u: RSS %llu KiB, cycle 0: %llu", i,
			      (unsigned long long)rss[i], (unsigned long long)rss[0]);
	}
	qsort(took, EXT4_CYCLES, sizeof(took[0]), cmp_i64);
	fprintf(stderr,
		"ext4_kill_cycles: %u cycles, kill to live again: median %lld ms, max %lld ms; "
		"daemon %u fds, RSS %llu KiB\n",
		EXT4_CYCLES, (long long)took[EXT4_CYCLES / 2], (long long)took[EXT4_CYCLES - 1],
		fds[0], (unsigned long long)rss[0]);
}
END_TEST

/* ADD_DEV only, as a daemon killed right after it leaves a device: id 40 + i, no description. */
static unsigned add_bare_device(struct ublk_ctrl *c, unsigned i, uint64_t srv_flags)
{
	struct ublksrv_ctrl_dev_info info = { .nr_hw_queues = 1,
					      .queue_depth = 8,
					      .max_io_buf_bytes = 64 << 10,
					      .dev_id = 40 + i,
					      .ublksrv_flags = srv_flags };

	ck_assert_int_ge(ublk_ctrl_add_dev(c, &info), 0);
	ck_assert_uint_eq(info.dev_id, 40 + i);
	return info.dev_id;
}

/*
 * Devices that no description covers: one a ublkd (pid now dead) made and died with before it
 * was live, one a ublkd that is still alive is making (this test's pid), one made by another
 * program (no ublkd mark). The next daemon deletes the first, says so in `recover`'s answer,
 * and leaves the other two alone.
 */
START_TEST(test_half_made_deleted)
{
	unsigned dead_ones, alive_ones, foreign;
	struct ublk_ctrl c;
	pid_t dead;
	char want[128];

	dead = fork();
	ck_assert_int_ge(dead, 0);
	if (dead == 0)
		_exit(0);
	ck_assert_int_eq(waitpid(dead, NULL, 0), dead);
	ck_assert_int_eq(ublk_ctrl_open(&c), 0);
	dead_ones = add_bare_device(&c, 0, dev_ublk_srv_flags(dead));
	alive_ones = add_bare_device(&c, 1, dev_ublk_srv_flags(getpid()));
	foreign = add_bare_device(&c, 2, 0x1234);

	run_ublkd(&r, "recover", NULL);
	snprintf(want, sizeof(want), "deleted /dev/ublkb%u: half-made by ublkd pid %d, ", dead_ones,
		 dead);
	ck_assert_msg(r.status == 0 && strstr(r.out, want), "recover: %d: %s%s", r.status, r.out,
		      r.err);
	fprintf(stderr, "half_made: %s", r.out);
	ck_assert_msg(access("/sys/class/ublk-char/ublkc40", F_OK) < 0, "ublkc%u is still there",
		      dead_ones);
	ck_assert_int_eq(access("/sys/class/ublk-char/ublkc41", F_OK), 0);
	ck_assert_int_eq(access("/sys/class/ublk-char/ublkc42", F_OK), 0);
	ck_assert_int_eq(ublk_ctrl_del_dev(&c, alive_ones), 0);
	ck_assert_int_eq(ublk_ctrl_del_dev(&c, foreign), 0);
	ublk_ctrl_close(&c);
}
END_TEST

static TCase *add_tcase(Suite *s, const char *name)
{
	TCase *tc = tcase_create(name);

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, TEST_TIMEOUT_S);
	suite_add_tcase(s, tc);
	return tc;
}

/* One case per kind, so that CK_RUN_CASE=kill (upgrade, modes, cycles) runs one kind alone. */
int main(void)
{
	Suite *s = suite_create("recovery");

	tcase_add_loop_test(add_tcase(s, "kill"), test_kill_during_fio, 0,
			    (int)(sizeof(kill_cases) / sizeof(kill_cases[0])));
	tcase_add_loop_test(add_tcase(s, "upgrade"), test_upgrade_during_fio, 0,
			    (int)(sizeof(upgrade_cases) / sizeof(upgrade_cases[0])));
	tcase_add_test(add_tcase(s, "none"), test_recovery_none_frees_id);
	tcase_add_test(add_tcase(s, "fail"), test_recovery_fail);
	tcase_add_test(add_tcase(s, "serve"), test_serve_adopts_config_device);
	tcase_add_test(add_tcase(s, "cycles"), test_ext4_kill_cycles);
	tcase_add_test(add_tcase(s, "half"), test_half_made_deleted);
	return suite_main(s);
}
