// SPDX-License-Identifier: MIT
/*
 * ublkd.service and ublkd.socket in a guest booted with systemd as PID 1, after
 * tests/systemd/setup-guest.sh installed and enabled them with a config of null, memory and
 * file devices plus one that cannot come up; images on two filesystems from fstab (/var/lib/ublkd
 * and /srv, mounted late), in /tmp and in /home; fstab lines that mount two of the devices.
 * The tests run in order on that one boot: what boot left, paths, reloads, stop, then a device
 * added through the socket while the service was stopped.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../common/suite_main.h"
#include "../common/ublkd_test.h"

#define CONF "/etc/ublkd.conf"

static struct run_result r;

/* Runs a shell command that must succeed; its stdout is in r.out. */
static void sh_ok(const char *cmd)
{
	run_sh(&r, "%s", cmd);
	ck_assert_msg(r.status == 0, "%s: status %d\nstdout: %s\nstderr: %s", cmd, r.status, r.out,
		      r.err);
}

/* sh_ok() of a formatted command. */
static void sh_okf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sh_okf(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	ck_assert_msg(n > 0 && (size_t)n < sizeof(cmd), "command too long: %s", fmt);
	sh_ok(cmd);
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
	} devs[] = { { 10, "1073741824" }, { 11, "67108864" }, { 12, "67108864" },
		     { 15, "33554432" },   { 16, "16777216" }, { 17, "16777216" },
		     { 18, "16777216" },   { 19, "16777216" } };

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
	ck_assert_msg(strstr(r.out, "8 devices live") && strstr(r.out, "failed: broken"),
		      "status: %s", r.out);
	ck_assert_msg(journal_has("missing.img"), "the journal does not name the missing file");
	ck_assert_msg(journal_has("serving 8 devices"), "no start line in the journal");
	/* Journal priorities: the failure was logged as a warning, the start as a notice. */
	sh_ok("journalctl -u ublkd.service -p warning --no-pager -o cat");
	ck_assert_msg(strstr(r.out, "broken") && !strstr(r.out, "serving 8 devices"),
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

/*
 * The service's daemon has PATH open, and it is the file PATH names now that every filesystem
 * is mounted: the same device and inode through /proc/MAINPID/fd.
 */
static void assert_served_from(const char *path)
{
	sh_okf("pid=$(systemctl show -p MainPID --value ublkd.service); want=$(stat -c %%d:%%i "
	       "'%s'); for fd in /proc/$pid/fd/*; do [ \"$(readlink $fd)\" = '%s' ] && "
	       "[ \"$(stat -L -c %%d:%%i $fd)\" = \"$want\" ] && exit 0; done; "
	       "ls -l /proc/$pid/fd; exit 1",
	       path, path);
}

/*
 * Images on filesystems from fstab, /var/lib/ublkd and /srv (which comes late), are opened only
 * once they are mounted: served from those filesystems, the create = yes ones made there and
 * not on / under the mount point; the device whose image is on /srv is mounted from fstab.
 */
START_TEST(test_boot_mounts)
{
	static const char *const images[] = { "/var/lib/ublkd/fs.img", "/var/lib/ublkd/new.img",
					      "/srv/data.img", "/srv/new.img" };

	sh_ok("findmnt -n -o SOURCE /srv && findmnt -n -o SOURCE /var/lib/ublkd");
	ck_assert_msg(strstr(r.out, "/dev/loop"), "not loop mounts: %s", r.out);
	for (unsigned i = 0; i < sizeof(images) / sizeof(images[0]); i++)
		assert_served_from(images[i]);
	/* / itself, without what is mounted on it: nothing under the mount points. */
	sh_ok("mkdir -p /tmp/rootview && mount --bind / /tmp/rootview && "
	      "ls -A /tmp/rootview/srv /tmp/rootview/var/lib/ublkd; umount /tmp/rootview");
	ck_assert_msg(!strstr(r.out, ".img"), "images on / under the mount points: %s", r.out);
	sh_ok("findmnt -n -o SOURCE /mnt/ublk-srv && cat /mnt/ublk-srv/marker");
	ck_assert_str_eq(r.out, "/dev/ublkb15\non /srv before boot\n");
	/* The generator's work, quoting included, as systemd read it. */
	sh_ok("systemctl show -p RequiresMountsFor --value ublkd.service");
	ck_assert_msg(strstr(r.out, "/srv/data.img") && strstr(r.out, "/var/lib/ublkd/fs.img") &&
			      strstr(r.out, "/home/ublkd images/home disk.img"),
		      "RequiresMountsFor=%s", r.out);
	sh_ok("systemctl show -p After --value ublkd.service");
	ck_assert_msg(strstr(r.out, "srv.mount") && strstr(r.out, "var-lib-ublkd.mount"),
		      "After=%s", r.out);
}
END_TEST

/* systemd's version: 252 in Debian 12, 257 in 13. */
static unsigned systemd_version(void)
{
	sh_ok("systemctl --version | head -n1");
	return (unsigned)strtoul(r.out + strcspn(r.out, "0123456789"), NULL, 10);
}

START_TEST(test_unit_verifies)
{
	/* RestartMode= came with systemd 254; older ones warn and restart the old way. */
	sh_okf("systemd-analyze verify /usr/lib/systemd/system/ublkd.service "
	       "/usr/lib/systemd/system/ublkd.socket 2>&1 %s",
	       systemd_version() < 254 ? "| grep -v \"Unknown key 'RestartMode'\" || true" : "");
	ck_assert_msg(r.out[0] == '\0', "systemd-analyze verify: %s", r.out);
	/* systemd breaks an ordering cycle by dropping a job, and says so only in the journal. */
	run_sh(&r, "journalctl -b --no-pager -o cat | "
		   "grep -i -e 'ordering cycle' -e 'dependency on' -e 'ublkd-generator'");
	ck_assert_msg(r.status == 1, "the journal of this boot: %s", r.out);
}
END_TEST

/* A file device at path, added by hand, serves a read and goes again. */
static void add_file_device(const char *path)
{
	sh_okf("dev=$(ublkd add --backend file --path '%s' --create --size 8M) && "
	       "dd if=$dev of=/dev/null bs=64k count=16 iflag=direct status=none && "
	       "ublkd del $dev && rm -f '%s'",
	       path, path);
}

/*
 * Images where an admin put them, /tmp and /home included, work from the config (boot brought
 * up ublkb18 and ublkb19) and with ublkd add --path: the unit refuses no path.
 */
START_TEST(test_paths)
{
	sh_ok("dd if=/dev/urandom of=/tmp/block bs=4k count=1 status=none && "
	      "for dev in /dev/ublkb18 /dev/ublkb19; do "
	      "dd if=/tmp/block of=$dev bs=4k count=1 oflag=direct status=none && "
	      "dd if=$dev bs=4k count=1 iflag=direct status=none | cmp - /tmp/block || exit 1; "
	      "done");
	assert_served_from("/tmp/ublkd-tmp.img");
	assert_served_from("/home/ublkd images/home disk.img");
	add_file_device("/tmp/ublkd-add.img");
	add_file_device("/srv/ublkd-add.img");
	add_file_device("/home/ublkd images/added disk.img");
}
END_TEST

/* A fourth device added, one removed: the untouched memory device never pauses (fio verifies). */
START_TEST(test_reload)
{
	run_sh(&r, "fio --name=reload --filename=/dev/ublkb11 --rw=randwrite --bs=4k "
		   "--size=16M --direct=1 --ioengine=io_uring --iodepth=16 --verify=crc32c "
		   "--do_verify=1 --time_based --runtime=15 --output=/tmp/reload-fio.log "
		   ">/dev/null 2>&1 & echo $! >/tmp/reload-fio.pid");
	ck_assert_int_eq(r.status, 0);
	/* The reload must meet fio's writes: wait until they reach the device. */
	sh_ok("for i in $(seq 300); do [ $(awk '{print $5}' /sys/block/ublkb11/stat) -gt 0 ] && "
	      "exit 0; sleep 0.1; done; echo 'fio wrote nothing in 30 s'; exit 1");
	/*
	 * nul goes, extra comes, fs changes (reported, left running), ram stays as it is. broken
	 * goes too: a device that fails to come up fails the reload (ublkd reload exits 1).
	 */
	sh_ok("sed -i -e '/^\\[device \"nul\"\\]/,/^$/d' "
	      "-e '/^# Valid, but/d' -e '/^\\[device \"broken\"\\]/,/^$/d' "
	      "-e 's|^path = /var/lib/ublkd/fs.img|&\\nread_only = yes|' " CONF " && "
	      "printf '\\n[device \"extra\"]\\nbackend = memory\\nsize = 32M\\nid = 14\\n' >>" CONF
	      " && systemctl reload ublkd.service");
	ck_assert_msg(wait_block_device(14, true, 60), "the new device did not appear");
	ck_assert_msg(wait_block_device(10, false, 60), "the removed device is still there");
	ck_assert(block_device_exists(11) && block_device_exists(12));
	/* fio was still writing when the reload had done its work. */
	sh_ok("kill -0 $(cat /tmp/reload-fio.pid)");
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

/*
 * A config with an error is rejected whole; every device stays, and systemctl reload fails,
 * so that a script knows.
 */
START_TEST(test_reload_broken_config)
{
	sh_ok("cp " CONF " /tmp/ublkd.conf.good");
	run_sh(&r, "printf '\\n[device \"bad\"]\\nbackend = memory\\nsize = 1Q\\n' >>" CONF
		   " && sed -i '/^\\[device \"extra\"\\]/,/^$/d' " CONF
		   " && systemctl reload ublkd.service");
	ck_assert_msg(r.status != 0, "the reload of a broken config succeeded");
	ck_assert_msg(strstr(r.err, "ublkd.service"), "systemctl reload: %s", r.err);
	ck_assert_msg(journal_has("reload rejected"), "no rejection in the journal");
	ck_assert_msg(journal_has(CONF ":"), "the rejection does not name the file and line");
	ck_assert(block_device_exists(11) && block_device_exists(12) && block_device_exists(14));
	sh_ok("cp /tmp/ublkd.conf.good " CONF " && systemctl is-active ublkd.service");
}
END_TEST

/* systemctl reload returns once new devices are usable: no wait between the two. */
START_TEST(test_reload_waits)
{
	sh_ok("printf '\\n[device \"late\"]\\nbackend = memory\\nsize = 8M\\nid = 20\\n' >>" CONF
	      " && systemctl reload ublkd.service && blockdev --getsize64 /dev/ublkb20");
	ck_assert_str_eq(r.out, "8388608\n");
}
END_TEST

static pid_t main_pid(void)
{
	sh_ok("systemctl show -p MainPID --value ublkd.service");
	return (pid_t)atoi(r.out);
}

static unsigned n_restarts(void)
{
	sh_ok("systemctl show -p NRestarts --value ublkd.service");
	return (unsigned)atoi(r.out);
}

/*
 * SIGKILL of the service's daemon under an ext4 on a memory device mounted from fstab (with
 * x-systemd.after=, as README says for systemd older than 254), with a writer running: systemd starts ublkd again, which takes every device over before READY=1
 * (the status says so); the mount stays usable, the RAM disk's contents are all there, the
 * writer never saw an error, and the kernel logged no I/O error.
 */
START_TEST(test_crash_restart)
{
	bool old_systemd = systemd_version() < 254;
	unsigned restarts = n_restarts();
	pid_t old = main_pid(), now = 0;
	unsigned long before, after;

	/*
	 * Before RestartMode= (systemd 254) a restart also restarts the mounts that require the
	 * service, and their unmount waits for the daemon being restarted: README says to use
	 * x-systemd.after= there. The two fstab mounts of other tests that require it go for now.
	 */
	if (old_systemd)
		sh_ok("systemctl stop mnt-ublk.mount 'mnt-ublk\\x2dsrv.mount'");
	sh_ok("mkfs.ext4 -q -F /dev/ublkb11 && mount /mnt/ram && head -c 4M /dev/urandom "
	      ">/tmp/ram-payload && cp /tmp/ram-payload /mnt/ram/payload && sync");
	sh_ok("(i=0; while :; do i=$((i+1)); echo $i >/mnt/ram/counter.tmp && "
	      "mv /mnt/ram/counter.tmp /mnt/ram/counter && sync /mnt/ram/counter || exit 1; done) "
	      ">/dev/null 2>&1 & echo $! >/tmp/ram-writer.pid");
	sh_okf("dmesg -C && kill -9 %d", old);
	for (int i = 0; i < 900; i++) {
		run_sh(&r, "systemctl is-active ublkd.service");
		if (!strcmp(r.out, "active\n") && (now = main_pid()) && now != old)
			break;
		sleep_ms(100);
	}
	ck_assert_msg(now && now != old, "ublkd.service did not come back: %s", r.out);
	ck_assert_uint_eq(n_restarts(), restarts + 1);
	sh_ok("systemctl show -p StatusText --value ublkd.service");
	ck_assert_msg(strstr(r.out, "recovered from a dead ublkd"), "status: %s", r.out);
	ck_assert_msg(journal_has("recovered \"ram\" (/dev/ublkb11, memory backend)"),
		      "no recovery of the memory device in the journal");
	/* The writer goes on, on the same mount. */
	sh_ok("kill -0 $(cat /tmp/ram-writer.pid) && cat /mnt/ram/counter");
	before = strtoul(r.out, NULL, 10);
	sleep_ms(2000);
	sh_ok("kill -0 $(cat /tmp/ram-writer.pid) && cat /mnt/ram/counter");
	after = strtoul(r.out, NULL, 10);
	ck_assert_msg(after > before, "the writer stopped at %lu", before);
	sh_ok("kill $(cat /tmp/ram-writer.pid); cmp /tmp/ram-payload /mnt/ram/payload");
	run_sh(&r, "dmesg | grep -iE 'I/O error|EXT4-fs error'");
	ck_assert_msg(r.status == 1, "kernel log: %s", r.out);
	if (old_systemd)
		sh_ok("systemctl start mnt-ublk.mount 'mnt-ublk\\x2dsrv.mount'");
}
END_TEST

/* ublkd upgrade under the unit: the same main pid, still active, the mount still usable. */
START_TEST(test_upgrade_in_place)
{
	unsigned restarts = n_restarts();
	pid_t pid = main_pid();
	char want[64];

	sh_ok("ublkd upgrade");
	snprintf(want, sizeof(want), "(pid %d): ", pid);
	ck_assert_msg(strstr(r.out, want) && strstr(r.out, " lost; I/O paused ") &&
			      strstr(r.out, ", 0 lost"),
		      "upgrade: %s", r.out);
	fprintf(stderr, "upgrade_in_place: %s", r.out);
	ck_assert_int_eq(main_pid(), pid);
	ck_assert_uint_eq(n_restarts(), restarts);
	sh_ok("systemctl is-active ublkd.service");
	ck_assert_str_eq(r.out, "active\n");
	sh_ok("cmp /tmp/ram-payload /mnt/ram/payload && echo after >/mnt/ram/after && sync && "
	      "cat /mnt/ram/after");
	ck_assert_str_eq(r.out, "after\n");
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

/*
 * With the service stopped, a oneshot unit adds a device: the socket starts the service, which
 * serves the device after the oneshot (and everything in its cgroup) is gone.
 */
START_TEST(test_add_via_socket)
{
	sh_ok("systemctl is-active ublkd.socket");
	sh_ok("systemctl is-active ublkd.service || true");
	ck_assert_str_eq(r.out, "inactive\n");
	/* Type=oneshot, ExecStart=ublkd add ... --id 21 (setup-guest.sh wrote it). */
	sh_ok("systemctl start ublkd-test-add.service");
	sh_ok("systemctl is-active ublkd-test-add.service || true");
	ck_assert_str_eq(r.out, "inactive\n");
	/* Whatever the oneshot left behind has been sent SIGTERM: give it time to die. */
	sleep_ms(1000);
	sh_ok("timeout 30 dd if=/dev/ublkb21 of=/dev/null bs=64k count=16 iflag=direct "
	      "status=none");
	sh_ok("main=$(systemctl show -p MainPID --value ublkd.service) && "
	      "pid=$(ublkd list --json | grep '\"id\": 21,' | "
	      "sed 's/.*\"pid\": \\([0-9]*\\).*/\\1/') && "
	      "echo \"main=$main pid=$pid\" && [ \"$pid\" = \"$main\" ] && "
	      "grep -q '/ublkd.service$' /proc/$pid/cgroup");
}
END_TEST

/* 4: under the unit, a device mounted from fstab is refused, naming the mount point. */
START_TEST(test_del_mounted_refused)
{
	run_sh(&r, "ublkd del fs");
	ck_assert_msg(r.status == 1, "del of the fstab-mounted device: status %d, %s", r.status,
		      r.err);
	ck_assert_msg(strstr(r.err, "in use") && strstr(r.err, "mounted on /mnt/ublk"),
		      "the refusal does not name the mount: %s", r.err);
	sh_ok("findmnt -n -o SOURCE /mnt/ublk && cat /mnt/ublk/marker");
}
END_TEST

#define MANY_DEVS 64

/* 5: `systemctl stop` with 64 devices, one of them mounted, well inside TimeoutStopSec. */
START_TEST(test_stop_many)
{
	struct timespec t0, t1;
	long long took_ms;

	sh_ok("dev=$(ublkd add --backend memory --size 64M --name many) && mkdir -p /mnt/many && "
	      "mkfs.ext4 -q -F $dev && mount $dev /mnt/many && echo kept >/mnt/many/f");
	sh_ok("while [ $(ls /sys/class/ublk-char | wc -l) -lt 64 ]; do "
	      "ublkd add --backend null --size 16M --depth 4 >/dev/null || exit 1; done");
	ck_assert_uint_eq(kernel_ublk_devices(), MANY_DEVS);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	sh_ok("systemctl stop ublkd.service && systemctl is-active ublkd.service || true");
	clock_gettime(CLOCK_MONOTONIC, &t1);
	took_ms = (t1.tv_sec - t0.tv_sec) * 1000LL + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	fprintf(stderr, "stop_many: systemctl stop with %u devices: %lld ms\n", MANY_DEVS, took_ms);
	ck_assert_str_eq(r.out, "inactive\n");
	ck_assert_msg(took_ms < 60000, "systemctl stop took %lld ms (TimeoutStopSec=120)", took_ms);
	run_sh(&r, "umount -l /mnt/many");
	for (int i = 0; i < 100 && kernel_ublk_devices(); i++)
		sleep_ms(100);
	ck_assert_uint_eq(kernel_ublk_devices(), 0);
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
	tcase_add_test(tc, test_del_mounted_refused);
	tcase_add_test(tc, test_boot_mounts);
	tcase_add_test(tc, test_unit_verifies);
	tcase_add_test(tc, test_paths);
	tcase_add_test(tc, test_reload);
	tcase_add_test(tc, test_reload_broken_config);
	tcase_add_test(tc, test_reload_waits);
	tcase_add_test(tc, test_crash_restart);
	tcase_add_test(tc, test_upgrade_in_place);
	tcase_add_test(tc, test_stop);
	tcase_add_test(tc, test_add_via_socket);
	tcase_add_test(tc, test_stop_many);
	suite_add_tcase(s, tc);
	return suite_main(s);
}
