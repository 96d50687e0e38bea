// SPDX-License-Identifier: MIT
/*
 * Injected faults (ublkd inject, the inject key) on a real kernel, run as root in the test VM:
 * the errors reach the block layer for exactly the requests hit, a filesystem on the device
 * reports them, ENOSPC arrives as a write error, a delay past the block layer's timeout ends
 * with the data and without a lost request, deleting a device cuts a delay short; and the
 * daemon and its other devices carry on throughout.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../common/suite_main.h"
#include "../common/ublkd_test.h"

#define SCRATCH "/tmp/ublkd-test-fault"
#define MNT SCRATCH "/mnt"
#define BLOCK 4096
#define TEST_TIMEOUT_S 120

static char *block_buf;

static void fault_clean(void)
{
	umount_matching(0, "/dev/ublkb");
	ublkd_reset();
	umount_matching(1, SCRATCH "/");
	if (umount2(SCRATCH, 0) < 0 && errno != EINVAL && errno != ENOENT)
		umount2(SCRATCH, MNT_DETACH);
	remove_tree(SCRATCH);
}

static void setup(void)
{
	fault_clean();
	ck_assert_uint_eq(kernel_ublk_devices(), 0);
	ck_assert_msg(mkdir(SCRATCH, 0700) == 0, SCRATCH ": %s", strerror(errno));
	ck_assert_msg(mount("ublkd-test-fault", SCRATCH, "tmpfs", 0, "size=128M,mode=700") == 0,
		      "mount tmpfs on " SCRATCH ": %s", strerror(errno));
	if (!block_buf)
		ck_assert_int_eq(posix_memalign((void **)&block_buf, BLOCK, BLOCK), 0);
}

static void teardown(void)
{
	fault_clean();
}

static int open_direct(unsigned id)
{
	char path[32];
	int fd;

	snprintf(path, sizeof(path), "/dev/ublkb%u", id);
	fd = open(path, O_RDWR | O_DIRECT);
	ck_assert_msg(fd >= 0, "%s: %s", path, strerror(errno));
	return fd;
}

/* One O_DIRECT block at block number blk: 0, or the errno it failed with. */
static int write_block(int fd, unsigned blk, int pattern)
{
	memset(block_buf, pattern, BLOCK);
	if (pwrite(fd, block_buf, BLOCK, (off_t)blk * BLOCK) == BLOCK)
		return 0;
	return errno ? errno : EIO;
}

/* The block's fill byte when it is uniform; -errno when the read failed; -1000 if mixed. */
static int read_block(int fd, unsigned blk)
{
	ssize_t n = pread(fd, block_buf, BLOCK, (off_t)blk * BLOCK);

	if (n != BLOCK)
		return n < 0 ? -errno : -EIO;
	for (unsigned i = 1; i < BLOCK; i++)
		if (block_buf[i] != block_buf[0])
			return -1000;
	return (unsigned char)block_buf[0];
}

static struct run_result r;

static void inject_ok(unsigned id, const char *spec)
{
	char dev[32];

	snprintf(dev, sizeof(dev), "/dev/ublkb%u", id);
	run_ublkd(&r, "inject", dev, spec, NULL);
	ck_assert_msg(r.status == 0, "ublkd inject %s %s: status %d: %s", dev, spec, r.status,
		      r.err);
}

/* A second device's I/O is untouched by the first one's faults. */
static void assert_device_works(unsigned id, int pattern)
{
	int fd = open_direct(id);

	ck_assert_int_eq(write_block(fd, 3, pattern), 0);
	ck_assert_int_eq(read_block(fd, 3), pattern);
	close(fd);
}

/*
 * ublkd inject from the command line: a bad SPEC is refused before anything is sent (exit 2,
 * naming it), an unknown device with exit 1; list --json shows the spec in force.
 */
START_TEST(test_inject_cli)
{
	unsigned id = ublkd_add_ok("--name", "flaky", "--backend", "memory", "--size", "16M",
				   "--inject", "error=eio,ops=flush", NULL);

	run_ublkd(&r, "list", "--json", NULL);
	ck_assert_int_eq(r.status, 0);
	ck_assert_msg(strstr(r.out, "\"inject\": \"error=eio,ops=flush,from=1,rate=100.0000%\""),
		      "%s", r.out);

	run_ublkd(&r, "inject", "flaky", "error=eio,rate=200%", NULL);
	ck_assert_int_eq(r.status, 2);
	ck_assert_msg(strstr(r.err, "rate=200%: not a percentage"), "%s", r.err);
	run_ublkd(&r, "inject", "flaky", NULL);
	ck_assert_int_eq(r.status, 2);
	run_ublkd(&r, "inject", "nosuch", "off", NULL);
	ck_assert_int_eq(r.status, 1);
	ck_assert_msg(strstr(r.err, "no such device"), "%s", r.err);
	run_ublkd(&r, "add", "--backend", "null", "--size", "1M", "--inject", "error=eio,,", NULL);
	ck_assert_int_eq(r.status, 2);
	ck_assert_msg(strstr(r.err, "inject"), "%s", r.err);

	run_ublkd(&r, "inject", "flaky", "error=enospc,ops=write,from=10", NULL);
	ck_assert_msg(r.status == 0, "%s", r.err);
	ck_assert_msg(strstr(r.out, "flaky: inject error=enospc,ops=write,from=10"), "%s", r.out);
	inject_ok(id, "off");
	run_ublkd(&r, "list", "--json", NULL);
	ck_assert_msg(strstr(r.out, "\"inject\": \"off\""), "%s", r.out);
	ublkd_del_ok(id);
}
END_TEST

/*
 * EIO for exactly the requests hit: with ops=write,from=5 the first four writes land and the
 * next four fail, leaving the old data; reads go on. Then reads fail and writes land. Healed,
 * everything reads back. Another device of the daemon works throughout, and the daemon too.
 */
START_TEST(test_eio_exact)
{
	unsigned a = ublkd_add_ok("--backend", "memory", "--size", "16M", NULL);
	unsigned b = ublkd_add_ok("--backend", "memory", "--size", "16M", NULL);
	pid_t daemon = ublkd_daemon_pid();
	int fd = open_direct(a);

	for (unsigned blk = 0; blk < 8; blk++)
		ck_assert_int_eq(write_block(fd, blk, 0x11), 0);
	inject_ok(a, "error=eio,ops=write,from=5");
	for (unsigned blk = 0; blk < 8; blk++)
		ck_assert_int_eq(write_block(fd, blk, 0x22), blk < 4 ? 0 : EIO);
	assert_device_works(b, 0x33);
	for (unsigned blk = 0; blk < 8; blk++)
		ck_assert_int_eq(read_block(fd, blk), blk < 4 ? 0x22 : 0x11);

	inject_ok(a, "error=eio,ops=read");
	for (unsigned blk = 0; blk < 8; blk++)
		ck_assert_int_eq(read_block(fd, blk), -EIO);
	ck_assert_int_eq(write_block(fd, 9, 0x44), 0);
	assert_device_works(b, 0x55);

	inject_ok(a, "off");
	for (unsigned blk = 0; blk < 8; blk++)
		ck_assert_int_eq(read_block(fd, blk), blk < 4 ? 0x22 : 0x11);
	ck_assert_int_eq(read_block(fd, 9), 0x44);
	close(fd);
	ck_assert_int_eq(ublkd_daemon_pid(), daemon);
	ublkd_del_ok(a);
	ublkd_del_ok(b);
	ck_assert_uint_eq(kernel_ublk_devices(), 0);
}
END_TEST

/*
 * ext4 on a device whose writes start failing: fsync of new data reports EIO to the writer,
 * the kernel logs the failed writes for that device; healed, the device unmounts and is
 * deleted, and another device never noticed.
 */
START_TEST(test_fs_reports_eio)
{
	unsigned a = ublkd_add_ok("--backend", "memory", "--size", "64M", NULL);
	unsigned b = ublkd_add_ok("--backend", "memory", "--size", "16M", NULL);
	char cmd[256], path[64];
	int fd, ret;

	snprintf(cmd, sizeof(cmd), "mkfs.ext4 -q -F /dev/ublkb%u", a);
	run_sh(&r, "%s", cmd);
	ck_assert_msg(r.status == 0, "%s: %s", cmd, r.err);
	mkdir(MNT, 0700);
	snprintf(path, sizeof(path), "/dev/ublkb%u", a);
	ck_assert_msg(mount(path, MNT, "ext4", 0, NULL) == 0, "mount %s: %s", path,
		      strerror(errno));
	run_sh(&r, "dmesg -C");

	inject_ok(a, "error=eio,ops=write+flush");
	fd = open(MNT "/new", O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	memset(block_buf, 0x66, BLOCK);
	for (int i = 0; i < 64; i++)
		ck_assert_int_eq(write(fd, block_buf, BLOCK), BLOCK);
	ret = fsync(fd);
	ck_assert_msg(ret < 0 && errno == EIO, "fsync on a device failing writes: %d (%s)", ret,
		      strerror(errno));
	close(fd);
	run_sh(&r, "dmesg");
	snprintf(cmd, sizeof(cmd), "ublkb%u", a);
	ck_assert_msg(strstr(r.out, "I/O error") && strstr(r.out, cmd),
		      "no I/O error for %s in the kernel log: %s", cmd, r.out);
	assert_device_works(b, 0x77);

	inject_ok(a, "off");
	ck_assert_msg(umount(MNT) == 0, "umount: %s", strerror(errno));
	ublkd_del_ok(a);
	ublkd_del_ok(b);
}
END_TEST

/* ENOSPC on the file backend arrives at the writer as ENOSPC; reads are not affected. */
START_TEST(test_enospc_file)
{
	unsigned id = ublkd_add_ok("--backend", "file", "--path", SCRATCH "/disk.img", "--create",
				   "--size", "16M", "--inject", "error=enospc,ops=write", NULL);
	int fd = open_direct(id);

	ck_assert_int_eq(write_block(fd, 0, 0x12), ENOSPC);
	ck_assert_int_eq(read_block(fd, 0), 0);
	inject_ok(id, "off");
	ck_assert_int_eq(write_block(fd, 0, 0x12), 0);
	ck_assert_int_eq(read_block(fd, 0), 0x12);
	close(fd);
	ublkd_del_ok(id);
}
END_TEST

#define DELAY_S 3
#define IO_TIMEOUT_MS 1000

struct timed_read {
	int fd;
	int result;
	int64_t ms;
};

static void *delayed_read(void *arg)
{
	struct timed_read *t = arg;
	int64_t start = now_ms();

	t->result = read_block(t->fd, 1);
	t->ms = now_ms() - start;
	return NULL;
}

/*
 * A read delayed past the block layer's timeout (io_timeout 1 s, delay 3 s): the kernel
 * re-arms the timer for a privileged ublk device and the read ends with its data, nothing
 * failed or lost, no hung task; meanwhile the same queue serves writes at once.
 */
START_TEST(test_delay_past_timeout)
{
	unsigned id = ublkd_add_ok("--backend", "memory", "--size", "16M", NULL);
	char path[96];
	struct timed_read t;
	pthread_t th;
	int64_t start, write_ms;
	int fd;

	t.fd = open_direct(id);
	ck_assert_int_eq(write_block(t.fd, 1, 0x5a), 0);
	snprintf(path, sizeof(path), "/sys/block/ublkb%u/queue/io_timeout", id);
	write_text_file(path, "1000\n");
	run_sh(&r, "dmesg -C");
	inject_ok(id, "error=none,ops=read,delay=3s");
	ck_assert_int_eq(pthread_create(&th, NULL, delayed_read, &t), 0);
	sleep_ms(500);
	fd = open_direct(id);
	start = now_ms();
	ck_assert_int_eq(write_block(fd, 2, 0x6b), 0);
	write_ms = now_ms() - start;
	close(fd);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	fprintf(stderr, "delay_past_timeout: read %d after %lld ms, a write meanwhile %lld ms\n",
		t.result, (long long)t.ms, (long long)write_ms);
	ck_assert_int_eq(t.result, 0x5a);
	ck_assert_int_ge(t.ms, DELAY_S * 1000);
	ck_assert_int_lt(t.ms, DELAY_S * 1000 + 20000);
	ck_assert_int_lt(write_ms, 2000);
	run_sh(&r, "dmesg");
	ck_assert_msg(!strstr(r.out, "blocked for more than") && !strstr(r.out, "I/O error") &&
			      !strstr(r.out, "timeout"),
		      "kernel log: %s", r.out);
	inject_ok(id, "off");
	close(t.fd);
	ublkd_del_ok(id);
}
END_TEST

static unsigned stalled_id;

/*
 * A reader stuck behind an hour's delay: its read must end when the device goes, served (the
 * daemon ends the delay before STOP_DEV) or failed with EIO (the kernel aborting it first).
 */
static int stalled_reader(void)
{
	char path[32];
	char *buf = NULL;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/dev/ublkb%u", stalled_id);
	fd = open(path, O_RDONLY | O_DIRECT);
	child_expect(fd >= 0, "open");
	child_expect(posix_memalign((void **)&buf, BLOCK, BLOCK) == 0, "posix_memalign");
	n = pread(fd, buf, BLOCK, 0);
	fprintf(stderr, "del_cuts_delay: the stalled read returned %zd (%s)\n", n,
		n < 0 ? strerror(errno) : "data");
	child_expect(n == BLOCK || (n < 0 && errno == EIO), "pread: neither data nor EIO");
	return 0;
}

/*
 * del --force of a device whose read the daemon holds for an hour: the daemon cuts the delay
 * short, the reader's read ends, the device is gone within seconds, and the daemon serves on.
 */
START_TEST(test_del_cuts_delay)
{
	unsigned other = ublkd_add_ok("--backend", "memory", "--size", "16M", NULL);
	pid_t daemon = ublkd_daemon_pid(), reader;
	int64_t start, took;
	char dev[32];
	int status;

	stalled_id = ublkd_add_ok("--backend", "memory", "--size", "16M", "--inject",
				  "error=none,ops=read,delay=3600s", NULL);
	fflush(NULL);
	reader = fork();
	ck_assert_int_ge(reader, 0);
	if (reader == 0)
		_exit(stalled_reader());
	sleep_ms(1000);
	ck_assert_int_eq(waitpid(reader, &status, WNOHANG), 0); /* still waiting */
	snprintf(dev, sizeof(dev), "/dev/ublkb%u", stalled_id);
	start = now_ms();
	run_ublkd(&r, "del", "--force", dev, NULL);
	took = now_ms() - start;
	fprintf(stderr, "del_cuts_delay: del --force took %lld ms\n", (long long)took);
	ck_assert_msg(r.status == 0, "del --force: %d: %s", r.status, r.err);
	ck_assert_int_lt(took, 15000);
	ck_assert_int_eq(waitpid(reader, &status, 0), reader);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "reader status 0x%x", status);
	ck_assert_int_eq(ublkd_daemon_pid(), daemon);
	assert_device_works(other, 0x21);
	ublkd_del_ok(other);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("fault");
	TCase *tc = tcase_create("fault");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, TEST_TIMEOUT_S);
	tcase_add_test(tc, test_inject_cli);
	tcase_add_test(tc, test_eio_exact);
	tcase_add_test(tc, test_fs_reports_eio);
	tcase_add_test(tc, test_enospc_file);
	tcase_add_test(tc, test_delay_past_timeout);
	tcase_add_test(tc, test_del_cuts_delay);
	suite_add_tcase(s, tc);
	return suite_main(s);
}
