// SPDX-License-Identifier: MIT
/*
 * What an admin does to a running ublkd, against a real ublk_drv (root, in a VM guest): delete
 * a device that is mounted or open, reload a config whose images sit on a filesystem mounted
 * after the daemon started, leave a client hanging, stop a daemon with many devices. Every
 * test starts and ends with ublkd_reset() and nothing mounted.
 */
#include <errno.h>
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
#include "device.h"
#include "device_ublk.h"
#include "ipc.h"

#define TEST_TIMEOUT_S 240
#define DIR "/tmp/ublkd-test-admin"
#define MNT DIR "/mnt"
#define CONF DIR "/ublkd.conf"
#define LOG DIR "/serve.log"
/* A refusal is a check, not a wait: generous for TCG, far below the old 30 s stall. */
#define PROMPT_MS 8000

static struct run_result r;

static void sh_ok(const char *cmd)
{
	run_sh(&r, "%s", cmd);
	ck_assert_msg(r.status == 0, "%s: status %d\nstdout: %s\nstderr: %s", cmd, r.status, r.out,
		      r.err);
}

static void cleanup(void)
{
	umount_matching(1, DIR "/");
	kill_named("sleep", SIGTERM);
	ublkd_reset();
	remove_tree(DIR);
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

static bool block_device_exists(unsigned id)
{
	char path[64];

	snprintf(path, sizeof(path), "/sys/block/ublkb%u", id);
	return access(path, F_OK) == 0;
}

/* An ext4 on a new memory device "busy", mounted on MNT with a file in it. */
static unsigned add_mounted_device(void)
{
	char cmd[256];
	unsigned id = ublkd_add_ok("--backend", "memory", "--size", "64M", "--name", "busy", NULL);

	snprintf(cmd, sizeof(cmd),
		 "mkfs.ext4 -q -F /dev/ublkb%u && mount /dev/ublkb%u " MNT " && echo before >" MNT
		 "/f && sync",
		 id, id);
	sh_ok(cmd);
	return id;
}

/* 4: del of a mounted device is refused at once, names the mount point, and changes nothing. */
START_TEST(test_del_mounted_refused)
{
	unsigned id = add_mounted_device();
	int64_t start = now_ms(), took;

	run_ublkd(&r, "del", "busy", NULL);
	took = now_ms() - start;
	ck_assert_msg(r.status == 1, "del of a mounted device: status %d, stderr %s", r.status,
		      r.err);
	ck_assert_msg(strstr(r.err, "in use") && strstr(r.err, "mounted on " MNT) &&
			      strstr(r.err, "--force"),
		      "the refusal does not say what holds it: %s", r.err);
	ck_assert_msg(took < PROMPT_MS, "the refusal took %lld ms", (long long)took);
	fprintf(stderr, "del_mounted_refused: refused in %lld ms: %s", (long long)took, r.err);
	/* The filesystem never noticed. */
	sh_ok("echo after >>" MNT "/f && sync && cat " MNT "/f");
	ck_assert_str_eq(r.out, "before\nafter\n");
	ck_assert(block_device_exists(id));
	sh_ok("umount " MNT);
	run_ublkd(&r, "del", "busy", NULL);
	ck_assert_msg(r.status == 0, "del after umount: %s", r.err);
}
END_TEST

/* 4: a process holding the device open is named too. */
START_TEST(test_del_open_refused)
{
	unsigned id = ublkd_add_ok("--backend", "null", "--size", "16M", "--name", "held", NULL);
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "sleep 60 </dev/ublkb%u >/dev/null 2>&1 & echo $!", id);
	sh_ok(cmd);
	run_ublkd(&r, "del", "held", NULL);
	ck_assert_msg(r.status == 1, "del of an open device: status %d, stderr %s", r.status,
		      r.err);
	ck_assert_msg(strstr(r.err, "held open by pid") && strstr(r.err, "(sleep)"),
		      "the refusal does not name the process: %s", r.err);
	ck_assert(block_device_exists(id));
	sh_ok("pkill -x sleep; sleep 0.5");
	run_ublkd(&r, "del", "held", NULL);
	ck_assert_msg(r.status == 0, "del after the holder went: %s", r.err);
}
END_TEST

/* 4, 5: --force deletes a mounted device without waiting for the unmount. */
START_TEST(test_del_force_mounted)
{
	unsigned id = add_mounted_device();
	int64_t start = now_ms(), took;

	run_ublkd(&r, "del", "--force", "busy", NULL);
	took = now_ms() - start;
	ck_assert_msg(r.status == 0, "del --force: status %d, stderr %s", r.status, r.err);
	ck_assert_msg(took < PROMPT_MS, "del --force took %lld ms", (long long)took);
	fprintf(stderr, "del_force_mounted: %lld ms\n", (long long)took);
	ck_assert(!block_device_exists(id));
	/* The daemon is not stuck with it: it serves the next request at once. */
	ublkd_add_ok("--backend", "null", "--size", "1M", NULL);
	sh_ok("umount " MNT " 2>/dev/null || umount -l " MNT);
	for (int i = 0; i < 100 && kernel_ublk_devices() > 1; i++)
		sleep_ms(100);
	ck_assert_uint_eq(kernel_ublk_devices(), 1);
}
END_TEST

/* 11: an id that wraps in 32 bits is no id: device 0 stays. */
START_TEST(test_del_id_does_not_wrap)
{
	ck_assert_uint_eq(ublkd_add_ok("--backend", "null", "--size", "1M", "--id", "0", NULL), 0);
	static const char *const bad[] = { "4294967296", "-0", "+0", "0x0", " 0" };

	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		run_ublkd(&r, "del", bad[i], NULL);
		ck_assert_msg(r.status != 0, "del \"%s\" succeeded: %s", bad[i], r.out);
		ck_assert_msg(block_device_exists(0), "del \"%s\" deleted device 0", bad[i]);
	}
}
END_TEST

/* 5: a client that connects and says nothing holds up nobody. */
START_TEST(test_silent_client)
{
	int64_t start, took;
	int fd;

	ublkd_add_ok("--backend", "null", "--size", "1M", NULL);
	fd = ipc_connect();
	ck_assert_int_ge(fd, 0);
	start = now_ms();
	ublkd_add_ok("--backend", "null", "--size", "1M", NULL);
	run_ublkd(&r, "del", "ublk0", NULL);
	took = now_ms() - start;
	close(fd);
	ck_assert_msg(r.status == 0, "del: %s", r.err);
	ck_assert_msg(took < PROMPT_MS, "add and del behind a silent client took %lld ms",
		      (long long)took);
	fprintf(stderr, "silent_client: add + del in %lld ms\n", (long long)took);
}
END_TEST

/*
 * 5: while one device is torn down slowly (STOP_DEV waits for a write the backend holds for
 * 3 s: the test-only delay), the daemon creates another at once.
 */
START_TEST(test_teardown_does_not_block)
{
	int64_t start, took;
	unsigned id;
	pid_t del;
	int status;
	char cmd[256];

	/* The auto-started daemon inherits it: its file backends hold every write. */
	setenv("UBLKD_TEST_IO_DELAY_MS", "3000", 1);
	id = ublkd_add_ok("--backend", "file", "--path", DIR "/slow.img", "--create", "--size",
			  "16M", "--name", "slow", NULL);
	unsetenv("UBLKD_TEST_IO_DELAY_MS");
	snprintf(cmd, sizeof(cmd),
		 "dd if=/dev/zero of=/dev/ublkb%u bs=4k count=2 oflag=direct status=none "
		 ">/dev/null 2>&1 &",
		 id);
	sh_ok(cmd);
	sleep_ms(500);
	del = fork();
	ck_assert_int_ge(del, 0);
	if (del == 0) {
		execl(ublkd_bin(), "ublkd", "del", "--force", "slow", (char *)NULL);
		_exit(127);
	}
	sleep_ms(300);
	start = now_ms();
	ublkd_add_ok("--backend", "null", "--size", "1M", "--name", "quick", NULL);
	took = now_ms() - start;
	ck_assert_msg(waitpid(del, &status, WNOHANG) == 0,
		      "the deletion ended before the add: nothing was in flight");
	fprintf(stderr, "teardown_does_not_block: add took %lld ms beside a slow del\n",
		(long long)took);
	ck_assert_msg(took < 2000, "add took %lld ms beside a slow deletion", (long long)took);
	ck_assert_int_eq(waitpid(del, &status, 0), del);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "del status 0x%x", status);
}
END_TEST

static pid_t start_serve(void)
{
	return ublkd_serve_start(CONF, LOG);
}

/* 3, 10: an image on a filesystem mounted after the daemon started is created there. */
START_TEST(test_reload_mount_after_start)
{
	struct stat img, mnt;
	pid_t pid;

	write_text_file(CONF, "[device \"first\"]\nbackend = null\nsize = 1M\nid = 20\n");
	pid = start_serve();
	sh_ok("mkdir -p " DIR "/late && mount -t tmpfs late " DIR "/late");
	sh_ok("printf '\\n[device \"late\"]\\nbackend = file\\npath = " DIR "/late/b.img\\n"
	      "create = yes\\nsize = 16M\\nid = 21\\n' >>" CONF);
	/* No wait between the two: reload returns once the device is live. */
	sh_ok("$UBLKD_BIN reload && blockdev --getsize64 /dev/ublkb21");
	ck_assert_str_eq(r.out + strcspn(r.out, "\n") + 1, "16777216\n");
	ck_assert_int_eq(stat(DIR "/late/b.img", &img), 0);
	ck_assert_int_eq(stat(DIR "/late", &mnt), 0);
	ck_assert_msg(img.st_dev == mnt.st_dev, "the image is not on the late filesystem");
	sh_ok("printf 'ublkd-late-data' | dd of=/dev/ublkb21 bs=4096 conv=sync oflag=direct "
	      "status=none && head -c 15 " DIR "/late/b.img");
	ck_assert_str_eq(r.out, "ublkd-late-data");
	/* `add --path` there too. */
	run_ublkd(&r, "add", "--backend", "file", "--path", DIR "/late/c.img", "--create", "--size",
		  "1M", "--name", "late2", NULL);
	ck_assert_msg(r.status == 0, "add on the late filesystem: %s", r.err);
	ck_assert_int_eq(stat(DIR "/late/c.img", &img), 0);
	ck_assert_msg(img.st_dev == mnt.st_dev, "add's image is not on the late filesystem");
	run_ublkd(&r, "del", "late2", NULL);
	ck_assert_int_eq(r.status, 0);
	/* And the unmount it sees too: its device is gone first, then the filesystem. */
	run_ublkd(&r, "del", "late", NULL);
	ck_assert_int_eq(r.status, 0);
	sh_ok("umount " DIR "/late");
	ck_assert_int_eq(kill(pid, SIGTERM), 0);
	ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
}
END_TEST

/* 4: a reload that drops a mounted device keeps it, says so, and applies the rest. */
START_TEST(test_reload_keeps_in_use)
{
	pid_t pid;

	write_text_file(CONF, "[device \"keep\"]\nbackend = memory\nsize = 64M\nid = 22\n\n"
			      "[device \"drop\"]\nbackend = null\nsize = 1M\nid = 23\n");
	pid = start_serve();
	sh_ok("mkfs.ext4 -q -F /dev/ublkb22 && mount /dev/ublkb22 " MNT " && echo x >" MNT "/f");
	write_text_file(CONF, "[device \"new\"]\nbackend = null\nsize = 1M\nid = 24\n");
	sh_ok("$UBLKD_BIN reload");
	ck_assert(block_device_exists(24));
	for (int i = 0; i < 100 && block_device_exists(23); i++)
		sleep_ms(100);
	ck_assert_msg(!block_device_exists(23), "the unused device was not deleted");
	for (int i = 0; i < 100; i++) {
		run_sh(&r,
		       "grep -F 'device \"keep\" is gone from the config but in use; kept' " LOG);
		if (!r.status)
			break;
		sleep_ms(100);
	}
	ck_assert_msg(r.status == 0, "no log line for the kept device");
	ck_assert_msg(strstr(r.out, "mounted on " MNT), "the log does not say why: %s", r.out);
	sh_ok("cat " MNT "/f && umount " MNT);
	ck_assert_str_eq(r.out, "x\n");
	ck_assert(block_device_exists(22));
	ck_assert_int_eq(kill(pid, SIGTERM), 0);
	ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
}
END_TEST

#define MANY_DEVS 64

/* 5: SIGTERM with 64 devices, one of them mounted: every one goes, promptly. */
START_TEST(test_shutdown_many)
{
	int64_t start, took;
	FILE *f = fopen(CONF, "w");
	pid_t pid;
	int status;

	ck_assert_ptr_nonnull(f);
	for (unsigned i = 0; i < MANY_DEVS; i++)
		fprintf(f, "[device \"d%u\"]\nbackend = %s\nsize = 64M\ndepth = 4\nid = %u\n\n", i,
			i ? "null" : "memory", 100 + i);
	fclose(f);
	start = now_ms();
	pid = start_serve();
	fprintf(stderr, "shutdown_many: %u devices up in %lld ms\n", MANY_DEVS,
		(long long)(now_ms() - start));
	ck_assert_uint_eq(kernel_ublk_devices(), MANY_DEVS);
	sh_ok("mkfs.ext4 -q -F /dev/ublkb100 && mount /dev/ublkb100 " MNT);
	start = now_ms();
	ck_assert_int_eq(kill(pid, SIGTERM), 0);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	took = now_ms() - start;
	fprintf(stderr, "shutdown_many: SIGTERM to exit %lld ms\n", (long long)took);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "exit status 0x%x", status);
	ck_assert_msg(took < 60000, "stopping %u devices took %lld ms", MANY_DEVS, (long long)took);
	sh_ok("umount " MNT " 2>/dev/null || umount -l " MNT);
	for (int i = 0; i < 100 && kernel_ublk_devices(); i++)
		sleep_ms(100);
}
END_TEST

/* A null device of 64M made for user recovery (reissue), by this process's library. */
static void make_recoverable(struct device *d, struct ublk_ctrl *c, uint32_t id)
{
	struct dev_conf conf;
	char err[DEV_ERR_MAX];
	int ret;

	dev_conf_init(&conf, "test");
	ck_assert_int_eq(dev_conf_set(&conf, "backend", "null", err, sizeof(err)), 0);
	ck_assert_int_eq(dev_conf_set(&conf, "size", "64M", err, sizeof(err)), 0);
	ck_assert_int_eq(dev_conf_set(&conf, "name", "rec", err, sizeof(err)), 0);
	conf.id = id;
	dev_init(d, &conf, &dev_ublk_ops);
	ck_assert_int_eq(backend_open(&d->be, &conf, err, sizeof(err)), 0);
	ret = ublk_ctrl_open(c);
	ck_assert_msg(ret == 0, "%s: %s", c->err_subject, strerror(-ret));
	ck_assert_int_eq(ublk_ctrl_get_features(c, &d->features), 0);
	d->ctrl = c;
	d->want_flags = UBLK_F_USER_RECOVERY | UBLK_F_USER_RECOVERY_REISSUE;
}

/*
 * Issue 9's first step: a server killed with SIGKILL leaves its device quiesced, a read sent
 * meanwhile waits, and a new server adopts the device (START/END_USER_RECOVERY): the read
 * completes without an error and the device is live under the new pid.
 */
START_TEST(test_adopt_after_kill)
{
	struct ublksrv_ctrl_dev_info info;
	struct ublk_ctrl c;
	struct device d;
	pid_t server;
	int status, ret;

	server = fork();
	ck_assert_int_ge(server, 0);
	if (server == 0) {
		make_recoverable(&d, &c, 30);
		if (dev_create(&d) < 0) {
			fprintf(stderr, "create: %s\n", d.err);
			_exit(1);
		}
		for (;;)
			pause();
	}
	for (int i = 0; i < 300 && !block_device_exists(30); i++)
		sleep_ms(100);
	ck_assert(block_device_exists(30));
	sh_ok("dd if=/dev/ublkb30 of=/dev/null bs=4k count=1 iflag=direct status=none");
	ck_assert_int_eq(kill(server, SIGKILL), 0);
	ck_assert_int_eq(waitpid(server, &status, 0), server);

	ret = ublk_ctrl_open(&c);
	ck_assert_int_eq(ret, 0);
	for (int i = 0; i < 100; i++) {
		ck_assert_int_eq(ublk_ctrl_get_dev_info(&c, 30, &info), 0);
		if (info.state == UBLK_S_DEV_QUIESCED)
			break;
		sleep_ms(100);
	}
	ublk_ctrl_close(&c);
	ck_assert_msg(info.state == UBLK_S_DEV_QUIESCED, "state %u after the kill", info.state);
	/* Held by the kernel while no server runs. */
	sh_ok("(dd if=/dev/ublkb30 of=/dev/null bs=4k count=1 iflag=direct status=none; "
	      "echo $? >" DIR "/held.rc) >/dev/null 2>&1 &");
	sleep_ms(1000);
	ck_assert_msg(access(DIR "/held.rc", F_OK) < 0, "the read did not wait for a server");

	make_recoverable(&d, &c, 30);
	ret = dev_adopt(&d);
	ck_assert_msg(ret == 0, "adopt: %s", d.err);
	ck_assert_int_eq(d.state, DEV_LIVE);
	for (int i = 0; i < 100 && access(DIR "/held.rc", F_OK) < 0; i++)
		sleep_ms(100);
	sh_ok("cat " DIR "/held.rc");
	ck_assert_str_eq(r.out, "0\n");
	ck_assert_int_eq(ublk_ctrl_get_dev_info(&c, 30, &info), 0);
	ck_assert_int_eq(info.state, UBLK_S_DEV_LIVE);
	ck_assert_int_eq(info.ublksrv_pid, getpid());
	ck_assert_int_eq(dev_destroy(&d), 0);
	backend_close(&d.be);
	ublk_ctrl_close(&c);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("admin");
	TCase *tc = tcase_create("admin");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, TEST_TIMEOUT_S);
	tcase_add_test(tc, test_del_mounted_refused);
	tcase_add_test(tc, test_del_open_refused);
	tcase_add_test(tc, test_del_force_mounted);
	tcase_add_test(tc, test_del_id_does_not_wrap);
	tcase_add_test(tc, test_silent_client);
	tcase_add_test(tc, test_teardown_does_not_block);
	tcase_add_test(tc, test_reload_mount_after_start);
	tcase_add_test(tc, test_reload_keeps_in_use);
	tcase_add_test(tc, test_shutdown_many);
	tcase_add_test(tc, test_adopt_after_kill);
	suite_add_tcase(s, tc);
	return suite_main(s);
}
