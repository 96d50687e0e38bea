// SPDX-License-Identifier: MIT
/*
 * ublkd.service in a guest booted with systemd as PID 1, after tests/systemd/setup-guest.sh
 * installed and enabled it with a config of null, memory and file devices plus one that cannot
 * come up, and an fstab line for the file device. The tests run in order on that one boot:
 * what boot left, reloads, then stop.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../common/suite_main.h"
#include "../common/ublkd_test.h"

#define CONF "/etc/ublkd.conf"

static struct run_result r;

static void sleep_ms(unsigned ms)
{
	nanosleep(&(struct timespec){ .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L },
		  NULL);
}

/* Runs a shell command that must succeed; its stdout is in r.out. */
static void sh_ok(const char *cmd)
{
	run_sh(&r, "%s", cmd);
	ck_assert_msg(r.status == 0, "%s: status %d\nstdout: %s\nstderr: %s", cmd, r.status, r.out,
		      r.err);
}

static bool block_device_exists(unsigned id)
{
	char path[64];

	snprintf(path, sizeof(path), "/sys/block/ublkb%u", id);
	return access(path, F_OK) == 0;
}

/* Waits up to timeout_s for /dev/ublkbID to appear (want) or go. */
static bool wait_block_device(unsigned id, bool want, unsigned timeout_s)
{
	for (unsigned i = 0; i < timeout_s * 10; i++) {
		if (block_device_exists(id) == want)
			return true;
		sleep_ms(100);
	}
	return block_device_exists(id) == want;
}

static bool journal_has(const char *text)
{
	run_sh(&r, "journalctl -u ublkd.service --no-pager -o cat | grep -F -- '%s'", text);
	return r.status == 0;
}

static bool wait_journal(const char *text, unsigned timeout_s)
{
	for (unsigned i = 0; i < timeout_s * 5; i++) {
		if (journal_has(text))
			return true;
		sleep_ms(200);
	}
	return false;
}

START_TEST(test_boot)
{
	static const struct {
		unsigned id;
		const char *bytes;
	} devs[] = { { 10, "1073741824" }, { 11, "67108864" }, { 12, "67108864" } };

	sh_ok("systemctl is-active ublkd.service");
	ck_assert_str_eq(r.out, "active\n");
	for (unsigned i = 0; i < sizeof(devs) / sizeof(devs[0]); i++) {
		char cmd[128];

		snprintf(cmd, sizeof(cmd), "lsblk -b -dn -o SIZE /dev/ublkb%u", devs[i].id);
		sh_ok(cmd);
		ck_assert_msg(atoll(r.out) == atoll(devs[i].bytes), "ublkb%u: %s", devs[i].id,
			      r.out);
	}
	ck_assert_msg(!block_device_exists(13), "the broken device exists");
	/* The status line says what runs and what failed, in systemctl and in the journal. */
	sh_ok("systemctl show -p StatusText --value ublkd.service");
	ck_assert_msg(strstr(r.out, "3 devices live") && strstr(r.out, "failed: broken"),
		      "status: %s", r.out);
	ck_assert_msg(journal_has("missing.img"), "the journal does not name the missing file");
	ck_assert_msg(journal_has("serving 3 devices"), "no start line in the journal");
	/* Journal priorities: the failure was logged as a warning, the start as a notice. */
	sh_ok("journalctl -u ublkd.service -p warning --no-pager -o cat");
	ck_assert_msg(strstr(r.out, "broken") && !strstr(r.out, "serving 3 devices"),
		      "priorities: %s", r.out);
}
END_TEST

START_TEST(test_fstab_mount)
{
	sh_ok("findmnt -n -o SOURCE /mnt/ublk");
	ck_assert_str_eq(r.out, "/dev/ublkb12\n");
	sh_ok("cat /mnt/ublk/marker");
	ck_assert_str_eq(r.out, "written before boot\n");
	/* The mount waited for the service, as x-systemd.requires promises. */
	sh_ok("systemctl show -p After --value mnt-ublk.mount");
	ck_assert_msg(strstr(r.out, "ublkd.service"), "mnt-ublk.mount After=%s", r.out);
}
END_TEST

START_TEST(test_unit_verifies)
{
	sh_ok("systemd-analyze verify /etc/systemd/system/ublkd.service 2>&1");
	ck_assert_msg(r.out[0] == '\0', "systemd-analyze verify: %s", r.out);
}
END_TEST

/* A fourth device added, one removed: the untouched memory device never pauses (fio verifies). */
START_TEST(test_reload)
{
	run_sh(&r, "fio --name=reload --filename=/dev/ublkb11 --rw=randwrite --bs=4k "
		   "--size=16M --direct=1 --ioengine=io_uring --iodepth=16 --verify=crc32c "
		   "--do_verify=1 --time_based --runtime=8 --output=/tmp/reload-fio.log "
		   ">/dev/null 2>&1 & echo $! >/tmp/reload-fio.pid");
	ck_assert_int_eq(r.status, 0);
	sleep_ms(1500);
	/* nul goes, extra comes, fs changes (reported, left running), ram stays as it is. */
	sh_ok("sed -i -e '/^\\[device \"nul\"\\]/,/^$/d' "
	      "-e 's|^path = /var/lib/ublkd/fs.img|&\\nread_only = yes|' " CONF " && "
	      "printf '\\n[device \"extra\"]\\nbackend = memory\\nsize = 32M\\nid = 14\\n' >>" CONF
	      " && systemctl reload ublkd.service");
	ck_assert_msg(wait_block_device(14, true, 60), "the new device did not appear");
	ck_assert_msg(wait_block_device(10, false, 60), "the removed device is still there");
	ck_assert(block_device_exists(11) && block_device_exists(12));
	sh_ok("pid=$(cat /tmp/reload-fio.pid); while kill -0 $pid 2>/dev/null; do sleep 0.5; done; "
	      "grep -q 'err= 0' /tmp/reload-fio.log && ! grep -qi 'verify:' /tmp/reload-fio.log");
	sh_ok("systemctl is-active ublkd.service");
	ck_assert_msg(wait_journal("reload: done", 30), "no reload line in the journal");
	ck_assert_msg(journal_has("device \"fs\" (" CONF ":"),
		      "the changed device was not reported");
	/* Still the writable device it was: a change waits for a delete or a restart. */
	sh_ok("cat /sys/block/ublkb12/ro");
	ck_assert_str_eq(r.out, "0\n");
}
END_TEST

/* A config with an error is rejected whole; every device stays. */
START_TEST(test_reload_broken_config)
{
	sh_ok("cp " CONF " /tmp/ublkd.conf.good && "
	      "printf '\\n[device \"bad\"]\\nbackend = memory\\nsize = 1Q\\n' >>" CONF
	      " && sed -i '/^\\[device \"extra\"\\]/,/^$/d' " CONF
	      " && systemctl reload ublkd.service");
	ck_assert_msg(wait_journal("reload rejected", 60), "no rejection in the journal");
	ck_assert_msg(journal_has(CONF ":"), "the rejection does not name the file and line");
	ck_assert(block_device_exists(11) && block_device_exists(12) && block_device_exists(14));
	sh_ok("cp /tmp/ublkd.conf.good " CONF);
}
END_TEST

START_TEST(test_stop)
{
	sh_ok("head -c 1M /dev/urandom >/tmp/payload && cp /tmp/payload /mnt/ublk/payload && sync");
	sh_ok("systemctl stop ublkd.service && systemctl is-active ublkd.service || true");
	ck_assert_str_eq(r.out, "inactive\n");
	ck_assert_uint_eq(kernel_ublk_devices(), 0);
	/* Stopping the service took the mount that requires it down first. */
	run_sh(&r, "findmnt /mnt/ublk");
	ck_assert_int_ne(r.status, 0);
	/* Read the image itself, with no device in between: debugfs, not a loop mount. */
	sh_ok("rm -f /tmp/payload.back && "
	      "debugfs -R 'dump /payload /tmp/payload.back' /var/lib/ublkd/fs.img 2>/dev/null && "
	      "cmp /tmp/payload /tmp/payload.back && "
	      "debugfs -R 'cat /marker' /var/lib/ublkd/fs.img 2>/dev/null");
	ck_assert_str_eq(r.out, "written before boot\n");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("systemd");
	TCase *tc = tcase_create("ublkd.service");

	/* One boot for all: each test starts where the one before left the system. */
	tcase_set_timeout(tc, 180);
	tcase_add_test(tc, test_boot);
	tcase_add_test(tc, test_fstab_mount);
	tcase_add_test(tc, test_unit_verifies);
	tcase_add_test(tc, test_reload);
	tcase_add_test(tc, test_reload_broken_config);
	tcase_add_test(tc, test_stop);
	suite_add_tcase(s, tc);
	return suite_main(s);
}
