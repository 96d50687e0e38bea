// SPDX-License-Identifier: MIT
/*
 * The data path against a real ublk_drv (root, in a VM guest), through the real binary: data
 * integrity under fio and ext4, where a file backend's bytes land, FLUSH/FUA/DISCARD/WRITE_ZEROES
 * reaching the backing store, the memory backend's RAM, and SIGTERM with writes in flight.
 *
 * Every test works in a private tmpfs at SCRATCH. The fixture on both sides of each test
 * unmounts what the tests mounted, stops the daemon (ublkd_reset), detaches our loop devices
 * and removes SCRATCH, so a failed or killed test leaves nothing for the next one. Under TCG
 * each program started costs a few tenths of a second, so what C does cheaply is done here.
 */
#include <dirent.h>
#include <sched.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/fs.h>
#include <linux/capability.h>
#include <linux/loop.h>

#include "abi/ublk.h"
#include "ipc.h"
#include "../common/suite_main.h"
#include "../common/ublkd_test.h"

#define SCRATCH "/tmp/ublkd-test-io"
#define LOOP_FS SCRATCH "/lofs" /* ext4 on a loop device, for backing files */
#define TEST_TIMEOUT_S 300
#define MIB (1024ULL * 1024)

/* Mixed request sizes: one 512-byte sector up to the largest request a tag holds (512 KiB). */
#define FIO_BSSPLIT "512/10:4k/40:64k/30:512k/20"
#define FIO_JOBS 2
#define FIO_JOB_MIB 8

static struct run_result sh_res;
static char sh_cmd[8192];
/* The SIGTERM test's writer (a process group of its own) while it may run; for teardown. */
static pid_t sigterm_writer;

/* The last 1500 bytes of s: enough of a command's output for a failure message. */
static const char *tail(const char *s)
{
	size_t n = strlen(s);

	return n > 1500 ? s + n - 1500 : s;
}

/* sh -c on the formatted command; asserts exit status 0. Its output stays in sh_res. */
static void sh_ok(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sh_ok(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(sh_cmd, sizeof(sh_cmd), fmt, ap);
	va_end(ap);
	run_sh(&sh_res, "%s", sh_cmd);
	ck_assert_msg(sh_res.status == 0, "`%s`: exit status %d\nstdout: %s\nstderr: %s", sh_cmd,
		      sh_res.status, tail(sh_res.out), tail(sh_res.err));
}

static bool in_path(const char *tool)
{
	const char *env = getenv("PATH");
	char dirs[4096], path[4200], *dir, *save = NULL;

	snprintf(dirs, sizeof(dirs), "%s", env ? env : "/usr/bin:/bin");
	for (dir = strtok_r(dirs, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
		snprintf(path, sizeof(path), "%s/%s", dir, tool);
		if (access(path, X_OK) == 0)
			return true;
	}
	return false;
}

/* A missing tool is a failure that says so, never a skip. tools: names separated by spaces. */
static void need_tools(const char *tools)
{
	char names[256], missing[256] = "", *name, *save = NULL;

	snprintf(names, sizeof(names), "%s", tools);
	for (name = strtok_r(names, " ", &save); name; name = strtok_r(NULL, " ", &save)) {
		if (!in_path(name))
			snprintf(missing + strlen(missing), sizeof(missing) - strlen(missing),
				 " %s", name);
	}
	ck_assert_msg(!missing[0],
		      "not in PATH:%s (the guest runs the host's tools: install them there, "
		      "e.g. with tests/vm/setup.sh --host-packages)",
		      missing);
}

/* modprobe each module not loaded yet (tests/vm/mkinitramfs.sh must ship it). */
static void need_modules(const char *modules)
{
	char names[256], path[128], *name, *save = NULL;

	snprintf(names, sizeof(names), "%s", modules);
	for (name = strtok_r(names, " ", &save); name; name = strtok_r(NULL, " ", &save)) {
		snprintf(path, sizeof(path), "/sys/module/%s", name);
		if (access(path, F_OK) < 0)
			sh_ok("modprobe %s", name);
	}
}

static unsigned count_lines(const char *path)
{
	FILE *f = fopen(path, "r");
	unsigned n = 0;
	int c;

	if (!f)
		return 0;
	while ((c = getc(f)) != EOF)
		n += c == '\n';
	fclose(f);
	return n;
}

/* Field (1-based) of /sys/block/NAME/stat: 3 sectors read, 7 written, 16 flushes done. */
/* The first line of /sys/block/NAME/ATTR, without its newline. */
static void sysfs_attr(const char *name, const char *attr, char *buf, size_t len)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "/sys/block/%s/%s", name, attr);
	f = fopen(path, "r");
	ck_assert_msg(f, "%s: %s", path, strerror(errno));
	ck_assert_msg(fgets(buf, (int)len, f), "%s: empty", path);
	fclose(f);
	buf[strcspn(buf, "\n")] = '\0';
}

/* The hardware queues the kernel made for a ublk disk (one mq/N directory each). */
static unsigned disk_queues(unsigned id)
{
	char path[64];
	struct dirent *e;
	unsigned n = 0;
	DIR *dir;

	snprintf(path, sizeof(path), "/sys/block/ublkb%u/mq", id);
	dir = opendir(path);
	ck_assert_msg(dir, "%s: %s", path, strerror(errno));
	while ((e = readdir(dir)))
		n += e->d_name[0] != '.';
	closedir(dir);
	return n;
}

/* The size of /dev/ublkbID in bytes, from sysfs (in 512-byte sectors whatever the block size). */
static uint64_t disk_bytes(unsigned id)
{
	char name[16], sectors[32];

	snprintf(name, sizeof(name), "ublkb%u", id);
	sysfs_attr(name, "size", sectors, sizeof(sectors));
	return strtoull(sectors, NULL, 10) * 512;
}

static struct stat stat_ok(const char *path)
{
	struct stat st;

	ck_assert_msg(stat(path, &st) == 0, "%s: %s", path, strerror(errno));
	return st;
}

/* Detaches every loop device whose backing file is under SCRATCH. */
static void detach_scratch_loops(void)
{
	DIR *dir = opendir("/sys/block");
	struct dirent *e;

	if (!dir)
		return;
	while ((e = readdir(dir))) {
		char path[512], back[4096] = "";
		bool ours;
		FILE *f;
		int fd;

		if (strncmp(e->d_name, "loop", 4))
			continue;
		snprintf(path, sizeof(path), "/sys/block/%s/loop/backing_file", e->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		ours = fgets(back, sizeof(back), f) &&
		       !strncmp(back, SCRATCH "/", strlen(SCRATCH "/"));
		fclose(f);
		if (!ours)
			continue;
		snprintf(path, sizeof(path), "/dev/%s", e->d_name);
		fd = open(path, O_RDONLY);
		if (fd < 0 || ioctl(fd, LOOP_CLR_FD, 0) < 0)
			fprintf(stderr, "cleanup: detach %s: %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
	}
	closedir(dir);
}

/*
 * File systems on ublk devices go first, while their daemon still serves the unmount; then the
 * daemon and every ublk device; then what lives in SCRATCH.
 */
static void io_clean(void)
{
	umount_matching(0, "/dev/ublkb");
	ublkd_reset();
	umount_matching(1, SCRATCH "/");
	detach_scratch_loops();
	if (umount2(SCRATCH, 0) < 0 && errno != EINVAL && errno != ENOENT)
		umount2(SCRATCH, MNT_DETACH);
	remove_tree(SCRATCH);
	/* test_memory_pressure's cgroup, empty once its daemon is gone */
	rmdir("/sys/fs/cgroup/ublkd-test-io");
}

static void setup(void)
{
	io_clean();
	ck_assert_uint_eq(kernel_ublk_devices(), 0);
	ck_assert_msg(mkdir(SCRATCH, 0700) == 0, SCRATCH ": %s", strerror(errno));
	ck_assert_msg(mount("ublkd-test-io", SCRATCH, "tmpfs", 0, "size=640M,mode=700") == 0,
		      "mount tmpfs on " SCRATCH ": %s", strerror(errno));
}

static void teardown(void)
{
	if (sigterm_writer > 0)
		kill(-sigterm_writer, SIGKILL);
	io_clean();
}

/*
 * An ext4 file system on a loop device over a file in SCRATCH, mounted at LOOP_FS; the loop
 * device's name (loopN) in name. Made quiet for the flush counter of test_flush_fua: no lazy
 * init thread writing after mount, and commit=600 keeps jbd2's periodic commit away.
 */
static void loop_ext4_mount(char name[16])
{
	need_tools("truncate losetup mkfs.ext4");
	need_modules("loop ext4");
	sh_ok("truncate -s 96M " SCRATCH "/loop.img && losetup -f --show " SCRATCH "/loop.img");
	ck_assert_msg(sscanf(sh_res.out, "/dev/%15[a-z0-9]", name) == 1, "losetup printed \"%s\"",
		      sh_res.out);
	sh_ok("mkfs.ext4 -q -E lazy_itable_init=0,lazy_journal_init=0 /dev/%s && mkdir -p " LOOP_FS
	      " && mount -o commit=600 /dev/%s " LOOP_FS,
	      name, name);
}

/* fio's words for a block that did not read back as written ("verify: bad magic header ..."). */
static bool verify_complaint(const char *s)
{
	return strstr(s, "verify:") || strstr(s, "verify failed");
}

/* Bytes a fio run moved, summed over its jobs, and what it reported wrong. */
struct fio_totals {
	uint64_t read_bytes;
	uint64_t write_bytes;
	unsigned errors;
};

/*
 * The value of the first JSON key "key" in [*at, end): *at is moved to it. Fails the test
 * without one. fio's JSON is read here in C: python3 takes seconds to start under TCG.
 */
static void json_key(const char **at, const char *end, const char *key)
{
	char quoted[64];
	const char *p;

	snprintf(quoted, sizeof(quoted), "\"%s\"", key);
	p = strstr(*at, quoted);
	ck_assert_msg(p && p < end, "fio's JSON: no \"%s\" where expected", key);
	p += strlen(quoted);
	p += strspn(p, " \t\n");
	ck_assert_msg(*p == ':', "fio's JSON: \"%s\" is not a key", key);
	*at = p + 1 + strspn(p + 1, " \t\n");
}

/* The whole number that is the value of the next key "key" in [*at, end); moves *at past it. */
static unsigned long long json_number(const char **at, const char *end, const char *key)
{
	unsigned long long v;
	char *num_end;

	json_key(at, end, key);
	errno = 0;
	v = strtoull(*at, &num_end, 10);
	ck_assert_msg(num_end != *at && !errno, "fio's JSON: \"%s\" is not a number", key);
	*at = num_end;
	return v;
}

/*
 * Sums over fio's jobs (each from its "jobname" to the next) their "error" and the "io_bytes"
 * of their "read" and "write" objects, which fio prints in that order; asserts FIO_JOBS jobs.
 */
static void fio_json_totals(const char *json, struct fio_totals *t)
{
	const char *job = strstr(json, "\"jobs\"");
	unsigned jobs = 0;

	memset(t, 0, sizeof(*t));
	ck_assert_msg(job, "fio's output has no jobs: %.1500s", json);
	while ((job = strstr(job, "\"jobname\""))) {
		const char *next = strstr(job + 1, "\"jobname\"");
		const char *end = next ? next : job + strlen(job), *at = job;

		t->errors += json_number(&at, end, "error");
		json_key(&at, end, "read");
		t->read_bytes += json_number(&at, end, "io_bytes");
		json_key(&at, end, "write");
		t->write_bytes += json_number(&at, end, "io_bytes");
		jobs++;
		job = end;
	}
	ck_assert_msg(jobs == FIO_JOBS, "fio's JSON has %u jobs, not %u", jobs, FIO_JOBS);
}

/*
 * Runs fio on /dev/ublkbID with the mixed sizes: FIO_JOBS jobs, each on its own FIO_JOB_MIB
 * range and pinned to its own CPU (cpus_allowed_policy=split), so that a device with two
 * queues gets requests on both. Asserts fio's exit status 0, no verify complaint, no job
 * error, and that the disk's own counters saw exactly the bytes fio says it wrote (and the
 * bytes it read, plus at most the kernel's partition scan).
 */
static void fio_run(unsigned id, unsigned iodepth, const char *job_opts, struct fio_totals *t)
{
	static char report[RUN_OUTPUT_MAX];
	char name[16];
	uint64_t read0, write0, read_bytes, write_bytes;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	size_t n;
	FILE *f;

	snprintf(name, sizeof(name), "ublkb%u", id);
	read0 = disk_stat(name, 3);
	write0 = disk_stat(name, 7);
	sh_ok("fio --output-format=json --output=" SCRATCH "/fio.json --name=io --filename=/dev/%s"
	      " --ioengine=io_uring --direct=1 --bssplit=" FIO_BSSPLIT " --iodepth=%u"
	      " --numjobs=%u --size=%uM --offset_increment=%uM --cpus_allowed=0-%ld"
	      " --cpus_allowed_policy=split %s",
	      name, iodepth, FIO_JOBS, FIO_JOB_MIB, FIO_JOB_MIB, cpus - 1, job_opts);
	read_bytes = (disk_stat(name, 3) - read0) * 512;
	write_bytes = (disk_stat(name, 7) - write0) * 512;

	/* With --output, fio's messages (verify failures too) go to the file with the JSON. */
	f = fopen(SCRATCH "/fio.json", "r");
	ck_assert_ptr_nonnull(f);
	n = fread(report, 1, sizeof(report) - 1, f);
	report[n] = '\0';
	ck_assert_msg(feof(f), SCRATCH "/fio.json: larger than %zu bytes", sizeof(report) - 1);
	fclose(f);
	ck_assert_msg(!verify_complaint(report) && !verify_complaint(sh_res.out) &&
			      !verify_complaint(sh_res.err),
		      "fio reported verify errors: %s%s%.1500s", tail(sh_res.out), tail(sh_res.err),
		      report);

	fio_json_totals(report, t);
	ck_assert_msg(t->errors == 0, "fio jobs reported %u errors", t->errors);
	ck_assert_msg(write_bytes == t->write_bytes, "fio wrote %llu bytes, the disk counted %llu",
		      (unsigned long long)t->write_bytes, (unsigned long long)write_bytes);
	ck_assert_msg(read_bytes >= t->read_bytes && read_bytes <= t->read_bytes + MIB,
		      "fio read %llu bytes, the disk counted %llu",
		      (unsigned long long)t->read_bytes, (unsigned long long)read_bytes);
}

struct fio_case {
	const char *backend;
	const char *io_mode;
	unsigned queues;
	unsigned iodepth;
};

/*
 * Each backend in each mode it serves, at QD 1 on one queue and QD 64 on two: both depths and
 * both queue counts, in half the runs of every pairing.
 */
static const struct fio_case verify_cases[] = {
	{ "memory", "copy", 1, 1 },	 { "memory", "copy", 2, 64 },
	{ "memory", "user_copy", 1, 1 }, { "memory", "user_copy", 2, 64 },
	{ "memory", "batch", 1, 1 },	 { "memory", "batch", 2, 64 },
	{ "file", "copy", 1, 1 },	 { "file", "copy", 2, 64 },
	{ "file", "zero_copy", 1, 1 },	 { "file", "zero_copy", 2, 64 },
	{ "file", "batch", 1, 1 },	 { "file", "batch", 2, 64 },
};

/* Null moves no data: the other modes once, at full depth on two queues. */
static const struct fio_case null_cases[] = {
	{ "null", "copy", 1, 1 },	{ "null", "copy", 2, 64 },  { "null", "user_copy", 2, 64 },
	{ "null", "zero_copy", 2, 64 }, { "null", "batch", 2, 64 },
};

/* What each forced mode needs of ublk_drv (src/io_mode.c's table, from the outside). */
static uint64_t mode_needs(const char *io_mode)
{
	if (!strcmp(io_mode, "user_copy"))
		return UBLK_F_USER_COPY;
	if (!strcmp(io_mode, "zero_copy"))
		return UBLK_F_AUTO_BUF_REG;
	if (!strcmp(io_mode, "batch"))
		return UBLK_F_BATCH_IO;
	ck_assert_str_eq(io_mode, "copy");
	return 0;
}

/*
 * Whether this kernel offers io_mode. Where it does not, `ublkd add --io-mode` must refuse it
 * by name and leave nothing behind: that is the case's check then, and it returns false.
 */
static bool mode_offered_or_refused(const char *backend, const char *io_mode)
{
	struct run_result r;

	if (!(mode_needs(io_mode) & ~kernel_ublk_features()))
		return true;
	if (!strcmp(backend, "file"))
		run_ublkd(&r, "add", "--backend", backend, "--size", "16M", "--path",
			  SCRATCH "/no.img", "--create", "--io-mode", io_mode, NULL);
	else
		run_ublkd(&r, "add", "--backend", backend, "--size", "16M", "--io-mode", io_mode,
			  NULL);
	ck_assert_msg(r.status == 1, "io_mode %s on a kernel without it: status %d", io_mode,
		      r.status);
	ck_assert_msg(strstr(r.err, "which this kernel lacks"), "io_mode %s refused with: %s",
		      io_mode, r.err);
	ck_assert_uint_eq(kernel_ublk_devices(), 0);
	fprintf(stderr, "  refused as it should be: %s", r.err);
	return false;
}

/* `ublkd list --json` says device id runs in io_mode. */
static void assert_io_mode(unsigned id, const char *io_mode)
{
	struct run_result r;
	char want[128];
	const char *at;

	run_ublkd(&r, "list", "--json", NULL);
	ck_assert_int_eq(r.status, 0);
	snprintf(want, sizeof(want), "{\"id\": %u,", id);
	at = strstr(r.out, want);
	ck_assert_msg(at, "list --json has no device %u: %s", id, r.out);
	snprintf(want, sizeof(want), "\"io_mode\": \"%s\"", io_mode);
	ck_assert_msg(strstr(at, want) && strstr(at, want) < strchr(at, '}'),
		      "device %u does not run in %s: %s", id, io_mode, r.out);
}

#define FIO_DEV_SIZE "16M" /* FIO_JOBS * FIO_JOB_MIB */

#define FIO_MAX_QUEUES 2

/*
 * Reads the first BLOCKS 4k blocks of /dev/NAME with O_DIRECT, from a child pinned to cpu, as
 * `taskset -c CPU dd iflag=direct` would without starting two programs.
 */
static void read_direct_on_cpu(const char *name, int cpu, unsigned blocks)
{
	char path[64];
	int status;
	pid_t pid;

	snprintf(path, sizeof(path), "/dev/%s", name);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		cpu_set_t set;
		void *buf;
		int fd;

		CPU_ZERO(&set);
		CPU_SET(cpu, &set);
		if (sched_setaffinity(0, sizeof(set), &set) < 0 || posix_memalign(&buf, 4096, 4096))
			_exit(2);
		fd = open(path, O_RDONLY | O_DIRECT);
		if (fd < 0)
			_exit(3);
		for (unsigned i = 0; i < blocks; i++)
			if (pread(fd, buf, 4096, (off_t)i * 4096) != 4096)
				_exit(4);
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "direct read of %s on CPU %d: status 0x%x (2: affinity, 3: open, 4: read)",
		      path, cpu, status);
}

/*
 * Queue q of /dev/ublkbID serves I/O: a direct read issued from a CPU the kernel maps to hctx q
 * goes to queue q's thread and no other, so the disk counting it proves that thread served it.
 */
static void assert_queue_serves(unsigned id, unsigned q)
{
	char name[16], attr[32], cpus[64];
	uint64_t before, after;
	int cpu;

	snprintf(name, sizeof(name), "ublkb%u", id);
	snprintf(attr, sizeof(attr), "mq/%u/cpu_list", q);
	sysfs_attr(name, attr, cpus, sizeof(cpus));
	ck_assert_msg(sscanf(cpus, "%d", &cpu) == 1, "%s: \"%s\"", attr, cpus);
	before = disk_stat(name, 3);
	read_direct_on_cpu(name, cpu, 16);
	after = disk_stat(name, 3);
	ck_assert_msg(after - before == 16 * 8,
		      "queue %u (CPU %d): the disk read %llu sectors, not 128", q, cpu,
		      (unsigned long long)(after - before));
}

/*
 * Adds c's device and runs fio on it (fio_run()). Then each queue must serve a read of its own
 * (assert_queue_serves()): with two queues, both took requests.
 */
static unsigned fio_case_run(const struct fio_case *c, const char *job_opts, struct fio_totals *t)
{
	char queues[16];
	unsigned id;

	ck_assert_uint_le(c->queues, FIO_MAX_QUEUES);
	snprintf(queues, sizeof(queues), "%u", c->queues);
	if (!strcmp(c->backend, "file"))
		id = ublkd_add_ok("--backend", "file", "--path", SCRATCH "/fio.img", "--create",
				  "--size", FIO_DEV_SIZE, "--queues", queues, "--block-size", "512",
				  "--io-mode", c->io_mode, NULL);
	else
		id = ublkd_add_ok("--backend", c->backend, "--size", FIO_DEV_SIZE, "--queues",
				  queues, "--block-size", "512", "--io-mode", c->io_mode, NULL);
	assert_io_mode(id, c->io_mode);
	ck_assert_uint_eq(disk_queues(id), c->queues);
	fio_run(id, c->iodepth, job_opts, t);
	for (unsigned q = 0; q < c->queues; q++)
		assert_queue_serves(id, q);
	return id;
}

/*
 * 1. Random writes of mixed sizes, then fio reads every block back and checks its crc32c:
 * not one verify error, and the verify pass read back all that was written.
 */
START_TEST(test_fio_verify)
{
	const struct fio_case *c = &verify_cases[_i];
	struct fio_totals t;
	unsigned id;

	need_tools("fio");
	fprintf(stderr, "fio_verify: %s backend, %s, %u queues, iodepth %u\n", c->backend,
		c->io_mode, c->queues, c->iodepth);
	if (!mode_offered_or_refused(c->backend, c->io_mode))
		return;
	id = fio_case_run(c, "--rw=randwrite --verify=crc32c --do_verify=1", &t);
	ck_assert_uint_eq(t.write_bytes, FIO_JOBS * FIO_JOB_MIB * MIB);
	ck_assert_msg(t.read_bytes == t.write_bytes, "%s qd %u queues %u: verify read %llu of %llu",
		      c->backend, c->iodepth, c->queues, (unsigned long long)t.read_bytes,
		      (unsigned long long)t.write_bytes);
	ublkd_del_ok(id);
	ck_assert_uint_eq(kernel_ublk_devices(), 0);
}
END_TEST

/*
 * The null backend keeps nothing and leaves a read's buffer as it was (whatever the tag's
 * buffer last held), so there is nothing to verify against. What can be checked is that every
 * request of the mix completes without error and that all the bytes fio moved went through the
 * device: fio's totals against its own size, and against the disk's counters.
 */
START_TEST(test_fio_null)
{
	const struct fio_case *c = &null_cases[_i];
	struct fio_totals t;
	unsigned id;

	need_tools("fio");
	fprintf(stderr, "fio_null: %s, %u queues, iodepth %u\n", c->io_mode, c->queues, c->iodepth);
	if (!mode_offered_or_refused(c->backend, c->io_mode))
		return;
	id = fio_case_run(c, "--rw=randrw", &t);
	ck_assert_uint_eq(t.read_bytes + t.write_bytes, FIO_JOBS * FIO_JOB_MIB * MIB);
	ck_assert_uint_gt(t.read_bytes, 0);
	ck_assert_uint_gt(t.write_bytes, 0);
	ublkd_del_ok(id);
	ck_assert_uint_eq(kernel_ublk_devices(), 0);
}
END_TEST

/* Drops the caches that could answer a read instead of the daemon: the disk's and the files'. */
static void drop_caches(unsigned id)
{
	char path[32];
	int fd;

	snprintf(path, sizeof(path), "/dev/ublkb%u", id);
	fd = open(path, O_RDONLY);
	ck_assert_msg(fd >= 0, "%s: %s", path, strerror(errno));
	ck_assert_msg(ioctl(fd, BLKFLSBUF, 0) == 0, "%s: BLKFLSBUF: %s", path, strerror(errno));
	close(fd);
	sync();
	write_text_file("/proc/sys/vm/drop_caches", "3\n");
}

/* Writes size random bytes to a new file at path. */
static void write_random_file(const char *path, size_t size)
{
	static char buf[64 * 1024];
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	ck_assert_msg(fd >= 0, "%s: %s", path, strerror(errno));
	while (size) {
		size_t n = size < sizeof(buf) ? size : sizeof(buf);

		for (size_t got = 0; got < n;) {
			ssize_t r = getrandom(buf + got, n - got, 0);

			ck_assert_msg(r > 0 || errno == EINTR, "getrandom: %s", strerror(errno));
			got += r > 0 ? (size_t)r : 0;
		}
		ck_assert_msg(write(fd, buf, n) == (ssize_t)n, "%s: %s", path, strerror(errno));
		size -= n;
	}
	ck_assert_int_eq(close(fd), 0);
}

#define EXT4_SMALL_FILES 40

/* 2. ext4 on the device: files written, a clean fsck, the same checksums after a remount. */
START_TEST(test_ext4_roundtrip)
{
	static const char *const cases[][2] = {
		{ "memory", "copy" },	 { "memory", "user_copy" }, { "file", "copy" },
		{ "file", "zero_copy" }, { "memory", "batch" },	    { "file", "batch" },
	};
	const char *backend = cases[_i][0], *io_mode = cases[_i][1];
	unsigned id;

	need_tools("mkfs.ext4 fsck.ext4 sha256sum");
	need_modules("ext4");
	fprintf(stderr, "ext4_roundtrip: %s backend, %s\n", backend, io_mode);
	if (!mode_offered_or_refused(backend, io_mode))
		return;
	if (!strcmp(backend, "file"))
		id = ublkd_add_ok("--backend", "file", "--path", SCRATCH "/ext4.img", "--create",
				  "--size", "64M", "--io-mode", io_mode, NULL);
	else
		id = ublkd_add_ok("--backend", "memory", "--size", "64M", "--io-mode", io_mode,
				  NULL);
	assert_io_mode(id, io_mode);
	sh_ok("mkfs.ext4 -q -F /dev/ublkb%u && mkdir -p " SCRATCH
	      "/mnt && mount /dev/ublkb%u " SCRATCH "/mnt",
	      id, id);
	/* Two large files and many small ones, of sizes no block size divides. */
	write_random_file(SCRATCH "/mnt/big", 3 * MIB + 1);
	write_random_file(SCRATCH "/mnt/mid", MIB - 1);
	ck_assert_int_eq(mkdir(SCRATCH "/mnt/small", 0755), 0);
	for (unsigned i = 1; i <= EXT4_SMALL_FILES; i++) {
		char path[128];

		snprintf(path, sizeof(path), SCRATCH "/mnt/small/%u", i);
		write_random_file(path, i * 1531);
	}
	sh_ok("cd " SCRATCH "/mnt && sha256sum big mid small/* > " SCRATCH "/sums");
	ck_assert_uint_eq(count_lines(SCRATCH "/sums"), 2 + EXT4_SMALL_FILES);
	sh_ok("umount " SCRATCH "/mnt");
	drop_caches(id);
	sh_ok("fsck.ext4 -fn /dev/ublkb%u", id);
	drop_caches(id);
	sh_ok("mount /dev/ublkb%u " SCRATCH "/mnt && cd " SCRATCH
	      "/mnt && sha256sum --quiet -c " SCRATCH "/sums",
	      id);
	sh_ok("umount " SCRATCH "/mnt");
	ublkd_del_ok(id);
	ck_assert_uint_eq(kernel_ublk_devices(), 0);
}
END_TEST

/*
 * 3. What is written through /dev/ublkbN is in the file, at the same offset, once the device
 * is gone; untouched ranges still read as zeroes; a new device on the file reads it back.
 * One write is O_DIRECT at an offset that is not 4K-aligned, the other through the page cache.
 */
START_TEST(test_file_persists)
{
	const char *img = SCRATCH "/persist.img";
	const unsigned long long off1 = 5 * MIB + 512, off2 = 40 * MIB;
	unsigned id;

	need_tools("cmp dd");
	write_random_file(SCRATCH "/pattern", 3 * MIB);
	id = ublkd_add_ok("--backend", "file", "--path", img, "--create", "--size", "64M", NULL);
	sh_ok("dd if=" SCRATCH "/pattern of=/dev/ublkb%u bs=64K seek=%llu oflag=seek_bytes,direct "
	      "conv=nocreat,notrunc status=none",
	      id, off1);
	sh_ok("dd if=" SCRATCH "/pattern of=/dev/ublkb%u bs=1M count=1 seek=%llu oflag=seek_bytes "
	      "conv=nocreat,notrunc,fsync status=none",
	      id, off2);
	ublkd_del_ok(id);
	ck_assert_uint_eq(kernel_ublk_devices(), 0);

	ck_assert_uint_eq(stat_ok(img).st_size, 64 * MIB);
	sh_ok("cmp -n 3M -i 0:%llu " SCRATCH "/pattern %s", off1, img);
	sh_ok("cmp -n 1M -i 0:%llu " SCRATCH "/pattern %s", off2, img);
	sh_ok("cmp -n %llu /dev/zero %s", off1, img);
	sh_ok("cmp -n %llu -i %llu:%llu /dev/zero %s", off2 - off1 - 3 * MIB, off1 + 3 * MIB,
	      off1 + 3 * MIB, img);

	id = ublkd_add_ok("--backend", "file", "--path", img, NULL);
	ck_assert_uint_eq(disk_bytes(id), 64 * MIB);
	sh_ok("cmp -n 3M -i 0:%llu " SCRATCH "/pattern /dev/ublkb%u", off1, id);
	sh_ok("cmp -n 1M -i 0:%llu " SCRATCH "/pattern /dev/ublkb%u", off2, id);
	ublkd_del_ok(id);
	ck_assert_uint_eq(kernel_ublk_devices(), 0);
}
END_TEST

/*
 * 4. FLUSH and FUA reach the backing file's storage. The file lies on ext4 on a loop device;
 * ext4 ends an fdatasync (and so a RWF_DSYNC write) with a cache flush of its device, either
 * a journal commit with PREFLUSH or blkdev_issue_flush(), and the loop device counts each
 * flush it completes in field 16 of its stat (Linux 5.5+). Nothing else on that file system
 * flushes while the test runs (see loop_ext4_mount()), so the counter moves when, and only
 * when, the daemon turned a FLUSH into fdatasync or a FUA write into a RWF_DSYNC one.
 *
 * An O_DSYNC write to the block device itself is a FUA write followed by a FLUSH (the block
 * device's write_iter ends with generic_write_sync()), so it cannot tell the two apart. A FUA
 * write alone comes from ext4 on the ublk device: an O_DIRECT|O_DSYNC overwrite of written
 * blocks, with no metadata to commit, is sent with REQ_FUA and nothing after it (iomap's
 * write-through path). The ublk disk's own flush counter shows that no FLUSH came with it.
 */
START_TEST(test_flush_fua)
{
	char loop[16], ublk[16], attr[64];
	uint64_t loop_flushes[5], ublk_flushes[2];
	unsigned id;

	need_tools("dd mkfs.ext4");
	loop_ext4_mount(loop);
	/* A write-through loop device would drop every flush before counting it. */
	sysfs_attr(loop, "queue/write_cache", attr, sizeof(attr));
	ck_assert_msg(!strcmp(attr, "write back"), "%s: write_cache is \"%s\"", loop, attr);

	id = ublkd_add_ok("--backend", "file", "--path", LOOP_FS "/back.img", "--create", "--size",
			  "64M", NULL);
	snprintf(ublk, sizeof(ublk), "ublkb%u", id);
	sysfs_attr(ublk, "queue/write_cache", attr, sizeof(attr));
	ck_assert_msg(!strcmp(attr, "write back"), "%s: write_cache is \"%s\"", ublk, attr);
	sysfs_attr(ublk, "queue/fua", attr, sizeof(attr));
	ck_assert_msg(!strcmp(attr, "1"), "%s: fua is \"%s\"", ublk, attr);

	loop_flushes[0] = disk_stat(loop, 16);
	/* The control: a plain O_DIRECT write neither flushes nor is FUA. */
	sh_ok("dd if=/dev/urandom of=/dev/%s bs=4k count=8 oflag=direct conv=nocreat status=none",
	      ublk);
	loop_flushes[1] = disk_stat(loop, 16);
	/* fsync of the block device: its dirty pages, then one FLUSH. */
	sh_ok("dd if=/dev/urandom of=/dev/%s bs=4k count=8 seek=16 conv=nocreat,fsync status=none",
	      ublk);
	loop_flushes[2] = disk_stat(loop, 16);
	/* O_DIRECT|O_DSYNC on the block device: 8 times a FUA write and a FLUSH. */
	sh_ok("dd if=/dev/urandom of=/dev/%s bs=4k count=8 seek=32 oflag=direct,dsync "
	      "conv=nocreat status=none",
	      ublk);
	loop_flushes[3] = disk_stat(loop, 16);

	/* FUA alone: a file written and committed, then overwritten in place with O_DSYNC. */
	sh_ok("mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 /dev/%s && mkdir " SCRATCH
	      "/mnt && mount -o commit=600 /dev/%s " SCRATCH
	      "/mnt && dd if=/dev/urandom of=" SCRATCH
	      "/mnt/f bs=4k count=8 conv=fsync status=none && sync",
	      ublk, ublk);
	ublk_flushes[0] = disk_stat(ublk, 16);
	loop_flushes[4] = disk_stat(loop, 16);
	sh_ok("dd if=/dev/urandom of=" SCRATCH "/mnt/f bs=4k count=8 oflag=direct,dsync "
	      "conv=nocreat,notrunc status=none");
	ublk_flushes[1] = disk_stat(ublk, 16);
	fprintf(stderr,
		"flush_fua: %s flushes: %llu, plain write +%llu, fsync +%llu, dsync +%llu; "
		"FUA alone: %s +%llu, %s +%llu\n",
		loop, (unsigned long long)loop_flushes[0],
		(unsigned long long)(loop_flushes[1] - loop_flushes[0]),
		(unsigned long long)(loop_flushes[2] - loop_flushes[1]),
		(unsigned long long)(loop_flushes[3] - loop_flushes[2]), ublk,
		(unsigned long long)(ublk_flushes[1] - ublk_flushes[0]), loop,
		(unsigned long long)(disk_stat(loop, 16) - loop_flushes[4]));
	ck_assert_msg(loop_flushes[1] == loop_flushes[0],
		      "a write without FUA or FLUSH flushed the backing disk");
	ck_assert_msg(loop_flushes[2] > loop_flushes[1], "FLUSH did not flush the backing disk");
	ck_assert_msg(loop_flushes[3] >= loop_flushes[2] + 8,
		      "8 O_DSYNC writes flushed the backing disk %llu times, not 8 or more",
		      (unsigned long long)(loop_flushes[3] - loop_flushes[2]));
	ck_assert_msg(ublk_flushes[1] == ublk_flushes[0],
		      "the kernel sent FLUSH with the O_DSYNC overwrites: FUA alone is not tested");
	ck_assert_msg(disk_stat(loop, 16) >= loop_flushes[4] + 8,
		      "8 FUA writes flushed the backing disk %llu times, not 8 or more",
		      (unsigned long long)(disk_stat(loop, 16) - loop_flushes[4]));

	sh_ok("umount " SCRATCH "/mnt");
	ublkd_del_ok(id);
	ck_assert_uint_eq(kernel_ublk_devices(), 0);
}
END_TEST

/*
 * The RAM a memory device holds: the KiB allocated to the daemon's memfds (src/mem_store.c),
 * through /proc/PID/fd. Not the daemon's RSS: the disk is read and written with pread and
 * pwrite, never mapped.
 */
static uint64_t disk_ram_kib(pid_t pid)
{
	char dir_path[64], path[320], link[256];
	uint64_t kib = 0;
	struct dirent *e;
	struct stat st;
	DIR *dir;

	snprintf(dir_path, sizeof(dir_path), "/proc/%d/fd", pid);
	dir = opendir(dir_path);
	ck_assert_msg(dir, "%s: %s", dir_path, strerror(errno));
	while ((e = readdir(dir))) {
		ssize_t n;

		snprintf(path, sizeof(path), "%s/%s", dir_path, e->d_name);
		n = readlink(path, link, sizeof(link) - 1);
		if (n <= 0)
			continue;
		link[n] = '\0';
		if (!strncmp(link, "/memfd:", 7) && stat(path, &st) == 0)
			kib += (uint64_t)st.st_blocks / 2;
	}
	closedir(dir);
	return kib;
}

/*
 * A RAM disk of size for measuring its RAM, and the daemon's pid. Reads through every tag come
 * first, so that they are seen to cost the disk nothing: never-written pages read as zeroes.
 */
static unsigned add_measured_memory_dev(const char *size, pid_t *pid)
{
	unsigned id = ublkd_add_ok("--backend", "memory", "--size", size, "--depth", "4", NULL);

	*pid = ublkd_daemon_pid();
	ck_assert_int_gt(*pid, 0);
	sh_ok("dd if=/dev/ublkb%u of=/dev/null bs=512K count=32 iflag=direct status=none", id);
	return id;
}

/* 5. The memory backend costs RAM only for what is written, and DISCARD gives it back. */
START_TEST(test_memory_discard_rss)
{
	uint64_t rss0, rss1, rss2;
	pid_t pid;
	unsigned id;

	need_tools("blkdiscard cmp dd");
	id = add_measured_memory_dev("256M", &pid);
	rss0 = disk_ram_kib(pid);
	sh_ok("dd if=/dev/urandom of=/dev/ublkb%u bs=1M count=32 oflag=direct conv=nocreat "
	      "status=none",
	      id);
	rss1 = disk_ram_kib(pid);
	sh_ok("blkdiscard -o 0 -l 32M /dev/ublkb%u", id);
	rss2 = disk_ram_kib(pid);
	fprintf(stderr,
		"memory_discard_rss: disk RAM %llu KiB, after 32M written %llu, discarded %llu\n",
		(unsigned long long)rss0, (unsigned long long)rss1, (unsigned long long)rss2);
	ck_assert_msg(rss0 == 0, "a fresh RAM disk, read all through: %llu KiB",
		      (unsigned long long)rss0);
	ck_assert_msg(rss1 >= rss0 + 32 * 1024, "32M written: disk RAM %llu -> %llu KiB",
		      (unsigned long long)rss0, (unsigned long long)rss1);
	ck_assert_msg(rss2 <= rss0 + 8, "32M discarded: disk RAM %llu -> %llu -> %llu KiB",
		      (unsigned long long)rss0, (unsigned long long)rss1, (unsigned long long)rss2);
	sh_ok("cmp -n 32M /dev/zero /dev/ublkb%u", id);
	ublkd_del_ok(id);
	ck_assert_uint_eq(kernel_ublk_devices(), 0);
}
END_TEST

/* The sparse requirement: a 1T RAM disk opens at once and 1M written costs about 1M. */
START_TEST(test_memory_sparse_1t)
{
	uint64_t rss0, rss1;
	pid_t pid;
	unsigned id;

	need_tools("dd");
	id = add_measured_memory_dev("1T", &pid);
	ck_assert_uint_eq(disk_bytes(id), 1024 * 1024 * MIB);
	rss0 = disk_ram_kib(pid);
	sh_ok("dd if=/dev/urandom of=/dev/ublkb%u bs=1M count=1 seek=700000 oflag=direct "
	      "conv=nocreat status=none",
	      id);
	rss1 = disk_ram_kib(pid);
	fprintf(stderr,
		"memory_sparse_1t: disk RAM %llu KiB, after 1M written %llu; daemon RSS %llu KiB\n",
		(unsigned long long)rss0, (unsigned long long)rss1,
		(unsigned long long)proc_rss_kib(pid));
	ck_assert_msg(rss0 == 0, "a fresh 1T RAM disk: %llu KiB", (unsigned long long)rss0);
	ck_assert_msg(rss1 >= 1024 && rss1 < 1024 + 64,
		      "1M written to a 1T RAM disk: disk RAM %llu -> %llu KiB",
		      (unsigned long long)rss0, (unsigned long long)rss1);
	ck_assert_msg(proc_rss_kib(pid) < 64 * 1024, "the daemon's RSS: %llu KiB",
		      (unsigned long long)proc_rss_kib(pid));
	/*
	 * A read across the written MiB and the holes on either side: the data comes back, the
	 * holes read as zeroes and get no RAM (in user-copy mode they must not be read through
	 * the daemon's mapping of the disk, which would give each its page).
	 */
	sh_ok("dd if=/dev/ublkb%u of=" SCRATCH "/data bs=1M count=1 skip=700000 iflag=direct "
	      "status=none && { head -c 1048576 /dev/zero; cat " SCRATCH "/data; "
	      "head -c 1048576 /dev/zero; } > " SCRATCH "/want && "
	      "dd if=/dev/ublkb%u of=" SCRATCH "/got bs=1M count=3 skip=699999 iflag=direct "
	      "status=none && cmp " SCRATCH "/want " SCRATCH "/got && "
	      "dd if=/dev/ublkb%u of=/dev/null bs=1M count=16 skip=5000 iflag=direct status=none",
	      id, id, id);
	ck_assert_msg(disk_ram_kib(pid) == rss1,
		      "reading holes gave the disk RAM: %llu -> %llu KiB", (unsigned long long)rss1,
		      (unsigned long long)disk_ram_kib(pid));
	ublkd_del_ok(id);
	ck_assert_uint_eq(kernel_ublk_devices(), 0);
}
END_TEST

/*
 * Zero copy where the kernel cannot register a request's pages itself: the test-only
 * UBLKD_TEST_AUTO_BUF_SLOT points its registrations past the ring's buffer table, so every
 * one fails and comes to the daemon as NEED_REG_BUF, which registers the pages itself. The
 * data must survive the fallback as it does the fast path.
 */
START_TEST(test_zero_copy_fallback)
{
	static const struct fio_case c = { "file", "zero_copy", 2, 64 };
	struct fio_totals t;
	unsigned id;

	need_tools("fio");
	if (!mode_offered_or_refused(c.backend, c.io_mode))
		return;
	/* The daemon this add starts inherits the variable; 128 is the default depth. */
	setenv("UBLKD_TEST_AUTO_BUF_SLOT", "128", 1);
	id = fio_case_run(&c, "--rw=randwrite --verify=crc32c --do_verify=1", &t);
	unsetenv("UBLKD_TEST_AUTO_BUF_SLOT");
	ck_assert_uint_eq(t.write_bytes, FIO_JOBS * FIO_JOB_MIB * MIB);
	ck_assert_uint_eq(t.read_bytes, t.write_bytes);
	ublkd_del_ok(id);
	ck_assert_uint_eq(kernel_ublk_devices(), 0);
}
END_TEST

/* How many lines of the file at path contain needle. */
static unsigned lines_containing(const char *path, const char *needle)
{
	char line[1024];
	unsigned n = 0;
	FILE *f = fopen(path, "r");

	ck_assert_msg(f, "%s: %s", path, strerror(errno));
	while (fgets(line, sizeof(line), f))
		n += strstr(line, needle) != NULL;
	fclose(f);
	return n;
}

#define STRINGIFY_(x) #x
#define STRINGIFY(x) STRINGIFY_(x)
#define FIXED_BUFS_ID "9"
#define FIXED_BUFS_QUEUES 2
#define FIXED_BUFS_DEPTH 128 /* ublkd's default */
#define MAX_IO_KIB 512
/* What the daemon pins apart from I/O buffers (6.12, 7.3: 12 KiB, the rings' pages) */
#define PIN_BASE_MAX_KIB 64

/* RLIMIT_MEMLOCK for the daemon add_with_memlock() starts: room for every buffer, or none. */
#define MEMLOCK_ROOM_KIB (FIXED_BUFS_QUEUES * FIXED_BUFS_DEPTH * MAX_IO_KIB + 8192)
static rlim_t memlock_bytes;

/*
 * The daemon this add starts inherits a bounding set without CAP_IPC_LOCK and RLIMIT_MEMLOCK
 * memlock_bytes: the kernel then counts what it pins (VmPin; with CAP_IPC_LOCK 7.x does not),
 * and refuses registrations beyond the limit.
 */
static int add_with_memlock(void)
{
	static struct run_result r;
	struct rlimit lim = { memlock_bytes, memlock_bytes };

	child_expect(prctl(PR_CAPBSET_DROP, CAP_IPC_LOCK, 0, 0, 0) == 0,
		     "prctl(PR_CAPBSET_DROP, CAP_IPC_LOCK)");
	child_expect(setrlimit(RLIMIT_MEMLOCK, &lim) == 0, "setrlimit(RLIMIT_MEMLOCK)");
	run_ublkd(&r, "add", "--id", FIXED_BUFS_ID, "--backend", "file", "--path",
		  SCRATCH "/fio.img", "--create", "--size", FIO_DEV_SIZE, "--queues",
		  STRINGIFY(FIXED_BUFS_QUEUES), "--block-size", "512", "--io-mode", "copy", NULL);
	if (r.status)
		fprintf(stderr, "add: status %d: %s", r.status, r.err);
	return r.status;
}

/*
 * Copy mode, file backend: each tag's buffer is registered with the queue ring as requests come
 * to use it, so that reads and writes of the file are READ_FIXED/WRITE_FIXED. The daemon runs
 * without CAP_IPC_LOCK, so that the kernel counts its pinned pages. (0) With RLIMIT_MEMLOCK
 * room for every buffer, what is pinned (VmPin) grows with the run and stays within queues x
 * depth x the largest I/O. (1) With RLIMIT_MEMLOCK 0 the kernel refuses: the daemon says so
 * once per queue and goes on with plain reads and writes, nothing pinned. The data survives
 * either way.
 */
START_TEST(test_fixed_bufs)
{
	static const struct fio_case c = { "file", "copy", FIXED_BUFS_QUEUES, 64 };
	char log[PATH_MAX];
	struct fio_totals t;
	uint64_t pin;
	unsigned id, fallbacks;
	pid_t pid;

	need_tools("fio");
	memlock_bytes = _i == 0 ? (rlim_t)MEMLOCK_ROOM_KIB * 1024 : 0;
	ck_assert(run_in_child(add_with_memlock));
	id = (unsigned)atoi(FIXED_BUFS_ID);
	assert_io_mode(id, c.io_mode);
	fio_run(id, c.iodepth, "--rw=randwrite --verify=crc32c --do_verify=1", &t);
	ck_assert_uint_eq(t.write_bytes, FIO_JOBS * FIO_JOB_MIB * MIB);
	ck_assert_uint_eq(t.read_bytes, t.write_bytes);
	pid = ublkd_daemon_pid();
	ck_assert_int_gt(pid, 0);
	pin = proc_status_kib(pid, "VmPin");
	fprintf(stderr, "fixed_bufs, RLIMIT_MEMLOCK %llu KiB: VmPin %llu KiB\n",
		(unsigned long long)memlock_bytes / 1024, (unsigned long long)pin);
	ipc_run_path(log, sizeof(log), "ublkd.log");
	fallbacks = lines_containing(log, "plain reads and writes from now on");
	if (_i == 0) {
		/* fio's 512k writes alone use 8 tags and more: 4 MiB at least */
		ck_assert_msg(pin >= PIN_BASE_MAX_KIB + 8 * MAX_IO_KIB,
			      "VmPin %llu KiB: buffers not registered", (unsigned long long)pin);
		ck_assert_msg(
			pin <= PIN_BASE_MAX_KIB + FIXED_BUFS_QUEUES * FIXED_BUFS_DEPTH * MAX_IO_KIB,
			"VmPin %llu KiB: more than every tag's buffer", (unsigned long long)pin);
		ck_assert_msg(fallbacks == 0, "%u fallbacks to plain I/O", fallbacks);
	} else {
		ck_assert_msg(pin <= PIN_BASE_MAX_KIB, "VmPin %llu KiB without the right to pin",
			      (unsigned long long)pin);
		ck_assert_msg(fallbacks == FIXED_BUFS_QUEUES,
			      "%u fallback messages, not one per queue", fallbacks);
	}
	ublkd_del_ok(id);
	ck_assert_uint_eq(kernel_ublk_devices(), 0);
}
END_TEST

/*
 * 6. DISCARD punches holes in the backing file and WRITE_ZEROES zeroes, on ext4 (ZERO_RANGE)
 * and tmpfs (no ZERO_RANGE: the backend punches instead). Ranges next to the ones discarded or
 * zeroed keep their data. "fallocate -p" on the device is a WRITE_ZEROES that the kernel may
 * not replace by writing zero pages, so it fails unless the daemon did the zeroing.
 */
START_TEST(test_file_discard)
{
	static const char *const dirs[] = { LOOP_FS, SCRATCH };
	const char *dir = dirs[_i];
	char img[128], loop[16];
	uint64_t blocks0, blocks1;
	unsigned id;

	need_tools("blkdiscard fallocate cmp dd");
	if (!strcmp(dir, LOOP_FS))
		loop_ext4_mount(loop);
	snprintf(img, sizeof(img), "%s/discard.img", dir);
	fprintf(stderr, "file_discard: backing file %s\n", img);
	write_random_file(SCRATCH "/data", 8 * MIB);
	id = ublkd_add_ok("--backend", "file", "--path", img, "--create", "--size", "16M", NULL);
	sh_ok("dd if=" SCRATCH "/data of=/dev/ublkb%u bs=1M oflag=direct conv=nocreat status=none",
	      id);
	blocks0 = (uint64_t)stat_ok(img).st_blocks;
	sh_ok("blkdiscard -o 0 -l 6M /dev/ublkb%u", id);
	blocks1 = (uint64_t)stat_ok(img).st_blocks;
	fprintf(stderr, "file_discard: %s: %llu blocks, %llu after discarding 6M of 8M\n", img,
		(unsigned long long)blocks0, (unsigned long long)blocks1);
	ck_assert_msg(blocks0 >= 8 * MIB / 512, "8M written, %llu blocks",
		      (unsigned long long)blocks0);
	ck_assert_msg(blocks1 <= blocks0 / 2, "6M of 8M discarded: %llu -> %llu blocks",
		      (unsigned long long)blocks0, (unsigned long long)blocks1);
	drop_caches(id);
	sh_ok("cmp -n 6M /dev/zero /dev/ublkb%u", id);
	sh_ok("cmp -n 2M -i 6M " SCRATCH "/data /dev/ublkb%u", id);

	/* WRITE_ZEROES on data: blkdiscard -z is BLKZEROOUT, fallocate -p the strict one. */
	sh_ok("dd if=" SCRATCH "/data of=/dev/ublkb%u bs=1M count=4 oflag=direct conv=nocreat "
	      "status=none",
	      id);
	sh_ok("blkdiscard -z -o 0 -l 2M /dev/ublkb%u", id);
	sh_ok("fallocate -p -o 2M -l 1M /dev/ublkb%u", id);
	drop_caches(id);
	sh_ok("cmp -n 3M /dev/zero /dev/ublkb%u", id);
	sh_ok("cmp -n 1M -i 3M " SCRATCH "/data /dev/ublkb%u", id);
	ublkd_del_ok(id);
	ck_assert_uint_eq(kernel_ublk_devices(), 0);
	/* And the file itself, with no cache of ours in between. */
	sh_ok("cmp -n 3M /dev/zero %s && cmp -n 1M -i 3M " SCRATCH "/data %s", img, img);
}
END_TEST

/* Gone, or a zombie nobody reaped yet. */
#define SIGTERM_DEV_MIB 64
#define SIGTERM_BLOCK 4096
#define SIGTERM_DELAY_MS "200"	    /* each write waits this long in the backend */
#define SIGTERM_PATTERN 0x75626c6bU /* "ublk", fio's --buffer_pattern for every block */
#define SIGTERM_LAT_LOG SCRATCH "/sigterm_lat.1.log"

static int64_t realtime_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Whether buf (one block) holds nothing but SIGTERM_PATTERN, as fio wrote it (big-endian). */
static bool sigterm_block_written(const unsigned char *buf)
{
	static const unsigned char unit[4] = { 0x75, 0x62, 0x6c, 0x6b };

	for (size_t off = 0; off < SIGTERM_BLOCK; off += 4)
		if (memcmp(buf + off, unit, 4))
			return false;
	return true;
}

/*
 * 7. SIGTERM with writes in flight: fio writes the device in order at queue depth 32 while the
 * file backend holds each write for SIGTERM_DELAY_MS (the test-only UBLKD_TEST_IO_DELAY_MS), so
 * SIGTERM always meets 32 writes in the backend. The daemon stops and deletes its device and
 * exits 0; writes that completed after the SIGTERM (fio's latency log, in wall-clock ms, with
 * offsets) prove they were in flight. Every block fio saw completed is in the file, and every
 * block in the file was reported completed: a write the backend did but reported as failed
 * would be in the file only.
 */
START_TEST(test_sigterm_in_flight)
{
	const char *img = SCRATCH "/sigterm.img";
	static unsigned char logged[SIGTERM_DEV_MIB * MIB / SIGTERM_BLOCK];
	unsigned char block[SIGTERM_BLOCK];
	unsigned long long t_ms, lat, offset;
	unsigned id, ddir, bs, nr_logged = 0, nr_after = 0, nr_in_file = 0;
	char path[4096], line[256], name[16];
	int64_t deadline, sigterm_ms;
	pid_t daemon, writer, waited;
	int status = 0, fd;
	struct stat st;
	FILE *f;

	need_tools("fio");
	/* The daemon this add starts inherits the variable. */
	setenv("UBLKD_TEST_IO_DELAY_MS", SIGTERM_DELAY_MS, 1);
	id = ublkd_add_ok("--backend", "file", "--path", img, "--create", "--size", "64M",
			  "--queues", "1", "--depth", "64", NULL);
	unsetenv("UBLKD_TEST_IO_DELAY_MS");
	daemon = ublkd_daemon_pid();
	ck_assert_int_gt(daemon, 0);
	snprintf(name, sizeof(name), "ublkb%u", id);

	snprintf(sh_cmd, sizeof(sh_cmd),
		 "exec fio --name=sigterm --filename=/dev/%s --ioengine=io_uring --direct=1 "
		 "--rw=write --bs=%u --iodepth=32 --size=%uM --buffer_pattern=0x%08x "
		 "--write_lat_log=" SCRATCH "/sigterm --log_offset=1 --log_unix_epoch=1 "
		 "--output=" SCRATCH "/fio.out",
		 name, SIGTERM_BLOCK, SIGTERM_DEV_MIB, SIGTERM_PATTERN);
	writer = fork();
	ck_assert_int_ge(writer, 0);
	if (writer == 0) {
		setpgid(0, 0);
		execl("/bin/sh", "sh", "-c", sh_cmd, (char *)NULL);
		_exit(127);
	}
	setpgid(writer, writer);
	sigterm_writer = writer;
	/* A few rounds of 32 writes done, so fio runs at full depth. */
	deadline = now_ms() + 60000;
	while (disk_stat(name, 7) < 3 * 32 * SIGTERM_BLOCK / 512 && now_ms() < deadline)
		sleep_ms(50);
	ck_assert_msg(disk_stat(name, 7) >= 3 * 32 * SIGTERM_BLOCK / 512,
		      "fio wrote %llu sectors in 60 s", (unsigned long long)disk_stat(name, 7));
	ck_assert_msg(waitpid(writer, &status, WNOHANG) == 0,
		      "fio ended before SIGTERM (status 0x%x)", status);
	sigterm_ms = realtime_ms();
	ck_assert_int_eq(kill(daemon, SIGTERM), 0);

	deadline = now_ms() + 60000;
	while (!!process_alive(daemon) && now_ms() < deadline)
		sleep_ms(50);
	ck_assert_msg(!process_alive(daemon), "daemon %d still there 60 s after SIGTERM", daemon);
	ipc_run_path(path, sizeof(path), "ublkd.pid");
	ck_assert_msg(access(path, F_OK) < 0, "%s is still there", path);
	ck_assert_uint_eq(kernel_ublk_devices(), 0);
	snprintf(path, sizeof(path), "/dev/%s", name);
	ck_assert_msg(stat(path, &st) < 0 && errno == ENOENT, "%s is still there", path);

	deadline = now_ms() + 30000;
	while ((waited = waitpid(writer, &status, WNOHANG)) == 0 && now_ms() < deadline)
		sleep_ms(50);
	ck_assert_msg(waited == writer, "fio did not stop after its device went away");
	sigterm_writer = 0;
	/* Not 0: it was still writing when the device went. */
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) != 0,
		      "fio status 0x%x: it did not see its device go", status);

	ipc_run_path(path, sizeof(path), "ublkd.log");
	snprintf(line, sizeof(line), "ublkd[%d]: exiting with status 0", daemon);
	sh_ok("grep -qxF '%s' %s", line, path);

	/* "time, latency, ddir, bs, offset, ...": time in Unix ms, at completion. */
	f = fopen(SIGTERM_LAT_LOG, "r");
	ck_assert_msg(f, SIGTERM_LAT_LOG ": %s", strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		ck_assert_msg(sscanf(line, "%llu, %llu, %u, %u, %llu", &t_ms, &lat, &ddir, &bs,
				     &offset) == 5,
			      "fio log line: %s", line);
		ck_assert_msg(ddir == 1 && bs == SIGTERM_BLOCK && offset % SIGTERM_BLOCK == 0 &&
				      offset < SIGTERM_DEV_MIB * MIB,
			      "fio log line: %s", line);
		logged[offset / SIGTERM_BLOCK] = 1;
		nr_logged++;
		nr_after += (int64_t)t_ms > sigterm_ms;
	}
	fclose(f);
	fprintf(stderr, "sigterm_in_flight: %u writes completed, %u of them after SIGTERM\n",
		nr_logged, nr_after);
	ck_assert_msg(nr_after > 0, "no write completed after SIGTERM: none was in flight");

	fd = open(img, O_RDONLY);
	ck_assert_msg(fd >= 0, "%s: %s", img, strerror(errno));
	for (unsigned i = 0; i < sizeof(logged); i++) {
		bool written;

		ck_assert_int_eq(pread(fd, block, sizeof(block), (off_t)i * SIGTERM_BLOCK),
				 (ssize_t)sizeof(block));
		written = sigterm_block_written(block);
		ck_assert_msg(!logged[i] || written,
			      "block %u: fio saw its write complete, the file does not have it", i);
		ck_assert_msg(logged[i] || written || !block[0],
			      "block %u: neither zeroes nor what fio wrote", i);
		ck_assert_msg(!written || logged[i],
			      "block %u is in the file, but fio saw its write fail", i);
		nr_in_file += written;
	}
	close(fd);
	ck_assert_uint_eq(nr_in_file, nr_logged);
}
END_TEST

/* The queue threads of device id in daemon pid ("ublkIDqQ"): their tids, up to max. */
static unsigned queue_thread_tids(pid_t pid, unsigned id, pid_t *tids, unsigned max)
{
	char dir_path[64], prefix[16], path[400], comm[32];
	unsigned n = 0, q;
	struct dirent *e;
	DIR *dir;

	snprintf(dir_path, sizeof(dir_path), "/proc/%d/task", pid);
	snprintf(prefix, sizeof(prefix), "ublk%uq", id);
	dir = opendir(dir_path);
	ck_assert_msg(dir, "%s: %s", dir_path, strerror(errno));
	while ((e = readdir(dir)) && n < max) {
		FILE *f;
		bool match;

		snprintf(path, sizeof(path), "%s/%s/comm", dir_path, e->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		match = fgets(comm, sizeof(comm), f) && !strncmp(comm, prefix, strlen(prefix)) &&
			sscanf(comm + strlen(prefix), "%u", &q) == 1;
		fclose(f);
		if (match)
			tids[n++] = (pid_t)atoi(e->d_name);
	}
	closedir(dir);
	return n;
}

/* The flags (9th field) of /proc/PID/task/TID/stat: the kernel's PF_* of the thread. */
static unsigned long thread_flags(pid_t pid, pid_t tid)
{
	char path[64], text[1024], *after_comm;
	unsigned long flags;
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", pid, tid);
	f = fopen(path, "r");
	ck_assert_msg(f, "%s: %s", path, strerror(errno));
	n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	/* The name may hold spaces and parentheses: the fields start after the last ')'. */
	after_comm = strrchr(text, ')');
	ck_assert_msg(after_comm, "%s: %s", path, text);
	ck_assert_msg(sscanf(after_comm + 1, " %*c %*d %*d %*d %*d %*d %lu", &flags) == 1, "%s: %s",
		      path, text);
	return flags;
}

#define PF_MEMALLOC_NOIO 0x00080000UL

/*
 * 10. Queue threads are IO flushers (PR_SET_IO_FLUSHER): memory reclaim they run never waits on
 * I/O, which could be I/O of their own device.
 */
START_TEST(test_io_flusher)
{
	pid_t tids[4], pid;
	unsigned id, n;

	id = ublkd_add_ok("--backend", "null", "--size", "16M", "--queues", "2", NULL);
	pid = ublkd_daemon_pid();
	ck_assert_int_gt(pid, 0);
	n = queue_thread_tids(pid, id, tids, 4);
	ck_assert_uint_eq(n, 2);
	for (unsigned i = 0; i < n; i++) {
		unsigned long flags = thread_flags(pid, tids[i]);

		ck_assert_msg(flags & PF_MEMALLOC_NOIO,
			      "queue thread %d: flags 0x%lx lack PF_MEMALLOC_NOIO (0x%lx)", tids[i],
			      flags, PF_MEMALLOC_NOIO);
	}
}
END_TEST

/* A "Key:   N kB" line of /proc/PID/smaps_rollup, in KiB. */
static uint64_t smaps_rollup_kib(pid_t pid, const char *key)
{
	char path[64], line[256];
	unsigned long long kib;
	size_t len = strlen(key);
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", pid);
	f = fopen(path, "r");
	ck_assert_msg(f, "%s: %s", path, strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, key, len) && line[len] == ':' &&
		    sscanf(line + len + 1, "%llu", &kib) == 1) {
			fclose(f);
			return kib;
		}
	}
	fclose(f);
	ck_abort_msg("%s: no %s", path, key);
	return 0;
}

#define THP_ENABLED "/sys/kernel/mm/transparent_hugepage/enabled"
#define THP_DEVICES 8
#define THP_RSS_GROWTH_MAX_KIB (32 * 1024)

/*
 * 11. Tag buffers take no transparent huge pages (MADV_NOHUGEPAGE), even with THP=always
 * (Debian's default): 4k random I/O at depth 32 on 8 devices leaves AnonHugePages at 0 and the
 * daemon's RSS grows by less than 32 MiB. With huge pages, each first touch of a tag's buffer
 * faults in 2 MiB: 8 devices x 32 tags would add up to 512 MiB.
 */
START_TEST(test_no_huge_pages)
{
	char jobs[2048] = "";
	uint64_t rss0, rss1, huge;
	unsigned ids[THP_DEVICES];
	pid_t pid;

	need_tools("fio");
	use_plain_daemon();
	write_text_file(THP_ENABLED, "always\n");
	for (unsigned i = 0; i < THP_DEVICES; i++)
		ids[i] = ublkd_add_ok("--backend", "null", "--size", "64M", "--queues", "1", NULL);
	pid = ublkd_daemon_pid();
	ck_assert_int_gt(pid, 0);
	rss0 = proc_rss_kib(pid);
	for (unsigned i = 0; i < THP_DEVICES; i++)
		snprintf(jobs + strlen(jobs), sizeof(jobs) - strlen(jobs),
			 " --name=d%u --filename=/dev/ublkb%u", i, ids[i]);
	sh_ok("fio --ioengine=io_uring --direct=1 --rw=randrw --bs=4k --iodepth=32 --time_based "
	      "--runtime=2 --output=" SCRATCH "/fio.out%s",
	      jobs);
	rss1 = proc_rss_kib(pid);
	huge = smaps_rollup_kib(pid, "AnonHugePages");
	fprintf(stderr, "no_huge_pages: RSS %llu -> %llu KiB, AnonHugePages %llu KiB\n",
		(unsigned long long)rss0, (unsigned long long)rss1, (unsigned long long)huge);
	ck_assert_msg(huge == 0, "the daemon has %llu KiB of huge pages", (unsigned long long)huge);
	ck_assert_msg(rss1 < rss0 + THP_RSS_GROWTH_MAX_KIB, "RSS grew from %llu to %llu KiB",
		      (unsigned long long)rss0, (unsigned long long)rss1);
}
END_TEST

/* The disk vmrun.sh --scratch-disk attaches ("/dev/vda"), found by its serial. */
static bool scratch_disk(char *dev, size_t len)
{
	char path[300], serial[64];
	struct dirent *e;
	bool found = false;
	DIR *dir = opendir("/sys/block");

	ck_assert_ptr_nonnull(dir);
	while (!found && (e = readdir(dir))) {
		FILE *f;

		snprintf(path, sizeof(path), "/sys/block/%s/serial", e->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		found = fgets(serial, sizeof(serial), f) && !strncmp(serial, "ublkd-scratch", 13);
		fclose(f);
		if (found)
			snprintf(dev, len, "/dev/%s", e->d_name);
	}
	closedir(dir);
	return found;
}

static uint64_t mem_total_kib(void)
{
	char line[128];
	unsigned long long kib = 0;
	FILE *f = fopen("/proc/meminfo", "r");

	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f) && sscanf(line, "MemTotal: %llu", &kib) != 1)
		;
	fclose(f);
	ck_assert_uint_gt(kib, 0);
	return kib;
}

#define MEMCG "/sys/fs/cgroup/ublkd-test-io"
#define MEMCG_MAX "256M"
#define PRESSURE_DISK SCRATCH "/disk"
#define PRESSURE_MNT SCRATCH "/mnt"
#define PRESSURE_TIMEOUT_S 240

/*
 * 12. Memory pressure: a writer in a memory cgroup with memory.max = 256M puts 1.25 times the
 * guest's RAM through ext4 on a file device whose backing file lies on the scratch disk, so the
 * page cache of both cannot hold it. Reclaim of the cgroup then waits on writeback that needs the
 * daemon; the writes complete, and fsync with them, within PRESSURE_TIMEOUT_S. (64M: dd is
 * OOM-killed within seconds under TCG even on the kernel's own loop device.)
 */
START_TEST(test_memory_pressure)
{
	char disk[300], size[32];
	/* A quarter more than the RAM, so that neither page cache can hold it: 30-90 s under TCG. */
	uint64_t write_mib = 5 * mem_total_kib() / 4 / 1024;
	int64_t start;
	unsigned id;
	int secs;

	need_tools("mkfs.ext4 dd timeout");
	need_modules("ext4");
	ck_assert_msg(scratch_disk(disk, sizeof(disk)),
		      "no scratch disk (serial ublkd-scratch): boot with vmrun.sh --scratch-disk");
	sh_ok("mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 %s && mkdir "
	      "-p " PRESSURE_DISK " " PRESSURE_MNT " && mount %s " PRESSURE_DISK,
	      disk, disk);
	sh_ok("mountpoint -q /sys/fs/cgroup || mount -t cgroup2 none /sys/fs/cgroup; "
	      "echo \"+memory +io\" > /sys/fs/cgroup/cgroup.subtree_control && "
	      "{ [ -d " MEMCG " ] || mkdir " MEMCG "; } && echo " MEMCG_MAX " > " MEMCG
	      "/memory.max && echo 0 > " MEMCG "/memory.swap.max 2>/dev/null; true");
	/*
	 * The daemon stays outside, like a system service: in the writer's cgroup the OOM killer
	 * picks it once the cgroup is full of dirty pages only the daemon can clean. Depth 16:
	 * at 128, 128 writes of 512 KiB under writeback pin all of the 64M, and reclaim gives up.
	 */
	snprintf(size, sizeof(size), "%lluM", (unsigned long long)write_mib + 256);
	id = ublkd_add_ok("--backend", "file", "--path", PRESSURE_DISK "/backing.img", "--create",
			  "--size", size, "--queues", "1", "--depth", "16", NULL);
	start = now_ms();
	sh_ok("echo $$ > " MEMCG "/cgroup.procs && mkfs.ext4 -q -E lazy_itable_init=0,"
	      "lazy_journal_init=0 /dev/ublkb%u && mount /dev/ublkb%u " PRESSURE_MNT
	      " && timeout %d dd if=/dev/zero of=" PRESSURE_MNT "/fill bs=1M count=%llu "
	      "conv=fsync status=none",
	      id, id, PRESSURE_TIMEOUT_S, (unsigned long long)write_mib);
	secs = (int)((now_ms() - start) / 1000);
	fprintf(stderr, "memory_pressure: %llu MiB through ext4 in a %s cgroup in %d s\n",
		(unsigned long long)write_mib, MEMCG_MAX, secs);
	sh_ok("grep -E '^(oom_kill|oom) ' " MEMCG "/memory.events");
	fprintf(stderr, "memory_pressure: memory.events: %s\n", sh_res.out);
	sh_ok("umount " PRESSURE_MNT);
	ublkd_del_ok(id);
}
END_TEST

static TCase *add_tcase(Suite *s, const char *name)
{
	TCase *tc = tcase_create(name);

	/* In the runner, after the test's process: what a test killed on timeout left behind. */
	tcase_add_unchecked_fixture(tc, NULL, io_clean);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, TEST_TIMEOUT_S);
	suite_add_tcase(s, tc);
	return tc;
}

int main(void)
{
	Suite *s = suite_create("io");

	tcase_add_loop_test(add_tcase(s, "fio_verify"), test_fio_verify, 0,
			    sizeof(verify_cases) / sizeof(verify_cases[0]));
	tcase_add_loop_test(add_tcase(s, "fio_null"), test_fio_null, 0,
			    sizeof(null_cases) / sizeof(null_cases[0]));
	tcase_add_loop_test(add_tcase(s, "ext4_roundtrip"), test_ext4_roundtrip, 0, 6);
	tcase_add_test(add_tcase(s, "file_persists"), test_file_persists);
	tcase_add_test(add_tcase(s, "flush_fua"), test_flush_fua);
	tcase_add_test(add_tcase(s, "memory_discard_rss"), test_memory_discard_rss);
	tcase_add_test(add_tcase(s, "memory_sparse_1t"), test_memory_sparse_1t);
	tcase_add_test(add_tcase(s, "zero_copy_fallback"), test_zero_copy_fallback);
	tcase_add_loop_test(add_tcase(s, "fixed_bufs"), test_fixed_bufs, 0, 2);
	tcase_add_loop_test(add_tcase(s, "file_discard"), test_file_discard, 0, 2);
	tcase_add_test(add_tcase(s, "sigterm_in_flight"), test_sigterm_in_flight);
	tcase_add_test(add_tcase(s, "io_flusher"), test_io_flusher);
	tcase_add_test(add_tcase(s, "no_huge_pages"), test_no_huge_pages);
	tcase_add_test(add_tcase(s, "memory_pressure"), test_memory_pressure);
	return suite_main(s);
}
