// SPDX-License-Identifier: MIT
/*
 * The control plane against a real ublk_drv (root, in a VM guest): every command of
 * include/ctrl.h, what the kernel accepts and refuses, and the timeout of a command that never
 * completes. Devices are logged in a page shared with the runner's parent process, which
 * deletes whatever a test left behind, even when it failed or was killed.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ctrl.h"
#include "../common/suite_main.h"
#include "../common/ublkd_test.h"

#define TEST_QUEUES 2
#define TEST_DEPTH 64
#define TEST_BUF_BYTES (512U * 1024)
#define TEST_TIMEOUT_S 120
#define MAX_LOGGED_DEVS 32

/* Devices created and not yet deleted; MAP_SHARED, so the runner's parent sees the child's. */
struct dev_log {
	unsigned n;
	uint32_t ids[MAX_LOGGED_DEVS];
};

static struct dev_log *dev_log;
static struct ublk_ctrl ctrl;

static void log_dev(uint32_t id)
{
	ck_assert_msg(dev_log->n < MAX_LOGGED_DEVS, "too many devices logged");
	dev_log->ids[dev_log->n++] = id;
}

static void unlog_dev(uint32_t id)
{
	for (unsigned i = 0; i < dev_log->n; i++) {
		if (dev_log->ids[i] == id) {
			dev_log->ids[i] = dev_log->ids[--dev_log->n];
			return;
		}
	}
}

/* Deletes every logged device through a transport of its own (the test's may be stuck). */
static void delete_logged_devs(void)
{
	struct ublk_ctrl c;
	int ret;

	if (!dev_log->n)
		return;
	ret = ublk_ctrl_open(&c);
	if (ret < 0) {
		fprintf(stderr, "cleanup: %s: %s\n", c.err_subject, strerror(-ret));
		return;
	}
	while (dev_log->n) {
		uint32_t id = dev_log->ids[--dev_log->n];

		ret = ublk_ctrl_del_dev(&c, id);
		if (ret < 0 && ret != -ENODEV)
			fprintf(stderr, "cleanup: DEL_DEV %u: %s\n", id, strerror(-ret));
		if (c.state != UBLK_CTRL_READY)
			break;
	}
	ublk_ctrl_close(&c);
}

static void setup(void)
{
	int ret = ublk_ctrl_open(&ctrl);

	ck_assert_msg(ret == 0, "open %s: %s", ctrl.err_subject ? ctrl.err_subject : "?",
		      strerror(-ret));
}

static void teardown(void)
{
	ublk_ctrl_close(&ctrl);
	delete_logged_devs();
}

/* In the parent, after each test case, whatever became of its child. */
static void sweep(void)
{
	delete_logged_devs();
}

static void dev_info_init(struct ublksrv_ctrl_dev_info *info, uint32_t dev_id, uint16_t queues,
			  uint16_t depth)
{
	memset(info, 0, sizeof(*info));
	info->dev_id = dev_id;
	info->nr_hw_queues = queues;
	info->queue_depth = depth;
	info->max_io_buf_bytes = TEST_BUF_BYTES;
}

static int add_dev(struct ublksrv_ctrl_dev_info *info)
{
	int ret = ublk_ctrl_add_dev(&ctrl, info);

	if (ret >= 0)
		log_dev((uint32_t)ret);
	return ret;
}

static uint32_t add_test_dev(struct ublksrv_ctrl_dev_info *info)
{
	int ret;

	dev_info_init(info, UBLK_DEV_ID_ANY, TEST_QUEUES, TEST_DEPTH);
	ret = add_dev(info);
	ck_assert_msg(ret >= 0, "ADD_DEV: %s", strerror(-ret));
	return (uint32_t)ret;
}

static void cdev_path(char *buf, size_t len, uint32_t id)
{
	snprintf(buf, len, "/dev/ublkc%u", id);
}

/* devtmpfs nodes come and go with the device, but give udev-less guests some slack. */
static bool wait_cdev(uint32_t id, bool present, unsigned timeout_ms)
{
	char path[64];
	struct stat st;
	int64_t deadline = now_ms() + timeout_ms;

	cdev_path(path, sizeof(path), id);
	for (;;) {
		bool exists = stat(path, &st) == 0 && S_ISCHR(st.st_mode);

		if (exists == present)
			return true;
		if (now_ms() > deadline)
			return false;
		sleep_ms(10);
	}
}

/* The kernel's nr_cpu_ids: one more than the highest possible CPU. */
static unsigned possible_cpus(void)
{
	FILE *f = fopen("/sys/devices/system/cpu/possible", "r");
	char buf[256] = "";
	char *last;

	ck_assert_ptr_nonnull(f);
	ck_assert_ptr_nonnull(fgets(buf, sizeof(buf), f));
	fclose(f);
	last = buf + strcspn(buf, "\n");
	while (last > buf && last[-1] != '-' && last[-1] != ',')
		last--;
	return (unsigned)strtoul(last, NULL, 10) + 1;
}

static uint32_t unused_dev_id(void)
{
	struct ublksrv_ctrl_dev_info info;

	for (uint32_t id = 100; id < 1000; id++) {
		if (ublk_ctrl_get_dev_info(&ctrl, id, &info) == -ENODEV)
			return id;
	}
	ck_abort_msg("no free device id in 100..999");
	return 0;
}

static void set_test_params(struct ublk_params *p, uint8_t logical_shift)
{
	memset(p, 0, sizeof(*p));
	p->types = UBLK_PARAM_TYPE_BASIC | UBLK_PARAM_TYPE_DISCARD;
	p->basic.attrs = UBLK_ATTR_VOLATILE_CACHE | UBLK_ATTR_FUA;
	p->basic.logical_bs_shift = logical_shift;
	p->basic.physical_bs_shift = 12;
	p->basic.io_min_shift = logical_shift;
	p->basic.io_opt_shift = 12;
	p->basic.max_sectors = TEST_BUF_BYTES >> UBLK_SECTOR_SHIFT;
	p->basic.dev_sectors = (1ULL << 30) >> UBLK_SECTOR_SHIFT;
	p->discard.discard_granularity = 4096;
	p->discard.max_discard_sectors = 2048;
	p->discard.max_write_zeroes_sectors = 2048;
	p->discard.max_discard_segments = 1;
}

START_TEST(test_open_sqe128_ring)
{
	ck_assert_int_eq(ctrl.state, UBLK_CTRL_READY);
	ck_assert_int_ge(ctrl.fd, 0);
	ck_assert_uint_ne(ctrl.ring.flags & IORING_SETUP_SQE128, 0);
	ck_assert_uint_eq(ctrl.ring.cmd_area_bytes, IO_URING_SQE128_CMD_BYTES);
	ck_assert_uint_ne(ctrl.ring.features & IORING_FEAT_EXT_ARG, 0);
}
END_TEST

START_TEST(test_get_features)
{
	uint64_t features = 0;

	ck_assert_int_eq(ublk_ctrl_get_features(&ctrl, &features), 0);
	fprintf(stderr, "GET_FEATURES: 0x%llx\n", (unsigned long long)features);
	ck_assert_msg(features & UBLK_F_CMD_IOCTL_ENCODE, "no CMD_IOCTL_ENCODE in 0x%llx",
		      (unsigned long long)features);
	for (unsigned bit = 0; bit < 64; bit++) {
		if (features & (1ULL << bit))
			ck_assert_msg(ublk_feature_name(bit), "bit %u has no name", bit);
	}
}
END_TEST

START_TEST(test_add_dev_kernel_chooses_id)
{
	uint64_t unknown = 1ULL << 62;
	struct ublksrv_ctrl_dev_info info;
	unsigned want_queues = possible_cpus() < TEST_QUEUES ? possible_cpus() : TEST_QUEUES;
	int id;

	dev_info_init(&info, UBLK_DEV_ID_ANY, TEST_QUEUES, TEST_DEPTH);
	info.flags = UBLK_F_USER_RECOVERY | unknown;
	info.ublksrv_flags = 0xfeed;
	id = add_dev(&info);
	ck_assert_msg(id >= 0, "ADD_DEV: %s", strerror(-id));
	fprintf(stderr, "ADD_DEV: id %d queues %u depth %u buf %u flags 0x%llx state %u pid %d\n",
		id, info.nr_hw_queues, info.queue_depth, info.max_io_buf_bytes,
		(unsigned long long)info.flags, info.state, info.ublksrv_pid);
	ck_assert_uint_eq(info.dev_id, (uint32_t)id);
	ck_assert_uint_eq(info.nr_hw_queues, want_queues);
	ck_assert_uint_eq(info.queue_depth, TEST_DEPTH);
	ck_assert_uint_eq(info.max_io_buf_bytes, TEST_BUF_BYTES);
	ck_assert_uint_eq(info.state, UBLK_S_DEV_DEAD);
	/* What we asked for stays, what it does not know goes, what it always does is added. */
	ck_assert(info.flags & UBLK_F_USER_RECOVERY);
	ck_assert(!(info.flags & unknown));
	ck_assert(info.flags & UBLK_F_CMD_IOCTL_ENCODE);
	ck_assert_uint_eq(info.ublksrv_flags, 0xfeed);
	ck_assert_uint_eq(info.owner_uid, getuid());
	ck_assert_uint_eq(info.owner_gid, getgid());
	ck_assert_msg(wait_cdev((uint32_t)id, true, 5000), "/dev/ublkc%d did not appear", id);
}
END_TEST

START_TEST(test_add_dev_adjusts_request)
{
	struct ublksrv_ctrl_dev_info info;
	unsigned cpus = possible_cpus();

	dev_info_init(&info, UBLK_DEV_ID_ANY, (uint16_t)(cpus + 3), TEST_DEPTH);
	info.max_io_buf_bytes = TEST_BUF_BYTES + 100;
	ck_assert_int_ge(add_dev(&info), 0);
	ck_assert_uint_eq(info.nr_hw_queues, cpus);		  /* one queue per CPU at most */
	ck_assert_uint_eq(info.max_io_buf_bytes, TEST_BUF_BYTES); /* rounded down to a page */
}
END_TEST

START_TEST(test_get_dev_info_round_trip)
{
	struct ublksrv_ctrl_dev_info added, got;
	uint32_t id;

	dev_info_init(&added, UBLK_DEV_ID_ANY, TEST_QUEUES, TEST_DEPTH);
	added.flags = UBLK_F_USER_COPY;
	added.ublksrv_flags = 0x5a5a;
	ck_assert_int_ge(add_dev(&added), 0);
	id = added.dev_id;
	memset(&got, 0xff, sizeof(got));
	ck_assert_int_eq(ublk_ctrl_get_dev_info(&ctrl, id, &got), 0);
	fprintf(stderr, "GET_DEV_INFO: flags 0x%llx pid %d (ADD_DEV said pid %d)\n",
		(unsigned long long)got.flags, got.ublksrv_pid, added.ublksrv_pid);
	ck_assert_uint_eq(got.dev_id, id);
	ck_assert_uint_eq(got.nr_hw_queues, added.nr_hw_queues);
	ck_assert_uint_eq(got.queue_depth, TEST_DEPTH);
	ck_assert_uint_eq(got.max_io_buf_bytes, TEST_BUF_BYTES);
	ck_assert_uint_eq(got.state, UBLK_S_DEV_DEAD);
	ck_assert_uint_eq(got.flags, added.flags);
	ck_assert(got.flags & UBLK_F_USER_COPY);
	ck_assert_uint_eq(got.ublksrv_flags, 0x5a5a);
	ck_assert_uint_eq(got.owner_uid, added.owner_uid);
	ck_assert_uint_eq(got.owner_gid, added.owner_gid);
	/* No server yet: 0 as ADD_DEV stored it, or -1 from kernels that translate the pid. */
	ck_assert_int_le(got.ublksrv_pid, 0);
}
END_TEST

static void check_params_round_trip(uint8_t logical_shift)
{
	struct ublksrv_ctrl_dev_info info;
	struct ublk_params p, got;
	char path[64];
	struct stat st;
	uint32_t id = add_test_dev(&info);

	set_test_params(&p, logical_shift);
	ck_assert_int_eq(ublk_ctrl_set_params(&ctrl, id, &p), 0);
	memset(&got, 0xff, sizeof(got));
	ck_assert_int_eq(ublk_ctrl_get_params(&ctrl, id, &got), 0);
	fprintf(stderr, "GET_PARAMS: len %u types 0x%x devt %u:%u disk %u:%u\n", got.len, got.types,
		got.devt.char_major, got.devt.char_minor, got.devt.disk_major, got.devt.disk_minor);
	ck_assert_uint_eq(got.len, sizeof(struct ublk_params));
	ck_assert_uint_eq(got.types, p.types | UBLK_PARAM_TYPE_DEVT);
	ck_assert_mem_eq(&got.basic, &p.basic, sizeof(p.basic));
	ck_assert_mem_eq(&got.discard, &p.discard, sizeof(p.discard));
	/* DEVT names the char device; no disk before START_DEV. */
	cdev_path(path, sizeof(path), id);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq(got.devt.char_major, major(st.st_rdev));
	ck_assert_uint_eq(got.devt.char_minor, minor(st.st_rdev));
	ck_assert_uint_eq(got.devt.disk_major, 0);
	ck_assert_uint_eq(got.devt.disk_minor, 0);
}

START_TEST(test_params_round_trip_512)
{
	check_params_round_trip(9);
}
END_TEST

START_TEST(test_params_round_trip_4096)
{
	check_params_round_trip(12);
}
END_TEST

START_TEST(test_params_invalid)
{
	struct ublksrv_ctrl_dev_info info;
	struct ublk_params p, got;
	uint32_t id = add_test_dev(&info);

	set_test_params(&p, 13); /* larger than a page */
	p.basic.physical_bs_shift = 13;
	ck_assert_int_eq(ublk_ctrl_set_params(&ctrl, id, &p), -EINVAL);
	set_test_params(&p, 12);
	p.basic.physical_bs_shift = 9; /* physical smaller than logical */
	ck_assert_int_eq(ublk_ctrl_set_params(&ctrl, id, &p), -EINVAL);
	set_test_params(&p, 9);
	p.basic.max_sectors = (TEST_BUF_BYTES >> UBLK_SECTOR_SHIFT) + 8; /* beyond the buffer */
	ck_assert_int_eq(ublk_ctrl_set_params(&ctrl, id, &p), -EINVAL);
	set_test_params(&p, 9);
	p.types |= UBLK_PARAM_TYPE_DEVT; /* read-only */
	ck_assert_int_eq(ublk_ctrl_set_params(&ctrl, id, &p), -EINVAL);
	set_test_params(&p, 9);
	p.types = 0;
	ck_assert_int_eq(ublk_ctrl_set_params(&ctrl, id, &p), -EINVAL);
	/* A refused SET_PARAMS leaves no parameters set: GET_PARAMS has only DEVT to say. */
	ck_assert_int_eq(ublk_ctrl_get_params(&ctrl, id, &got), 0);
	ck_assert_uint_eq(got.types, UBLK_PARAM_TYPE_DEVT);
}
END_TEST

START_TEST(test_add_dev_explicit_id)
{
	struct ublksrv_ctrl_dev_info info;
	uint32_t want = unused_dev_id();

	dev_info_init(&info, want, TEST_QUEUES, TEST_DEPTH);
	ck_assert_int_eq(add_dev(&info), (int)want);
	ck_assert_uint_eq(info.dev_id, want);
	ck_assert_msg(wait_cdev(want, true, 5000), "/dev/ublkc%u did not appear", want);
}
END_TEST

START_TEST(test_add_dev_taken_id)
{
	struct ublksrv_ctrl_dev_info info;
	uint32_t want = unused_dev_id();
	int other;

	dev_info_init(&info, want, TEST_QUEUES, TEST_DEPTH);
	ck_assert_int_eq(add_dev(&info), (int)want);
	dev_info_init(&info, want, TEST_QUEUES, TEST_DEPTH);
	ck_assert_int_eq(add_dev(&info), -EEXIST);
	dev_info_init(&info, UBLK_DEV_ID_ANY, TEST_QUEUES, TEST_DEPTH);
	other = add_dev(&info);
	ck_assert_int_ge(other, 0);
	ck_assert_int_ne(other, (int)want);
}
END_TEST

START_TEST(test_add_dev_invalid)
{
	static const struct {
		uint32_t dev_id;
		uint16_t queues, depth;
	} bad[] = {
		{ UBLK_DEV_ID_ANY, TEST_QUEUES, 0 },
		{ UBLK_DEV_ID_ANY, TEST_QUEUES, UBLK_MAX_QUEUE_DEPTH + 1 },
		{ UBLK_DEV_ID_ANY, 0, TEST_DEPTH },
		{ UBLK_DEV_ID_ANY, UBLK_MAX_NR_QUEUES + 1, TEST_DEPTH },
		{ 1U << 20, TEST_QUEUES, TEST_DEPTH }, /* beyond the minor numbers */
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct ublksrv_ctrl_dev_info info;
		int ret;

		dev_info_init(&info, bad[i].dev_id, bad[i].queues, bad[i].depth);
		ret = add_dev(&info);
		ck_assert_msg(ret == -EINVAL, "ADD_DEV id %d queues %u depth %u: %d, not -EINVAL",
			      (int)bad[i].dev_id, bad[i].queues, bad[i].depth, ret);
	}
}
END_TEST

START_TEST(test_del_dev)
{
	struct ublksrv_ctrl_dev_info info;
	uint32_t id = add_test_dev(&info);

	ck_assert(wait_cdev(id, true, 5000));
	ck_assert_int_eq(ublk_ctrl_del_dev(&ctrl, id), 0);
	unlog_dev(id);
	ck_assert_msg(wait_cdev(id, false, 5000), "/dev/ublkc%u still there", id);
	ck_assert_int_eq(ublk_ctrl_get_dev_info(&ctrl, id, &info), -ENODEV);
	ck_assert_int_eq(ublk_ctrl_del_dev(&ctrl, id), -ENODEV);
}
END_TEST

START_TEST(test_del_dev_async)
{
	struct ublksrv_ctrl_dev_info info;
	uint32_t id = add_test_dev(&info);
	int64_t deadline = now_ms() + 5000;
	int ret;

	ck_assert_int_eq(ublk_ctrl_del_dev_async(&ctrl, id), 0);
	unlog_dev(id);
	while ((ret = ublk_ctrl_get_dev_info(&ctrl, id, &info)) == 0 && now_ms() < deadline)
		sleep_ms(10);
	ck_assert_int_eq(ret, -ENODEV);
	ck_assert_msg(wait_cdev(id, false, 5000), "/dev/ublkc%u still there", id);
}
END_TEST

START_TEST(test_stop_dev_never_started)
{
	struct ublksrv_ctrl_dev_info info;
	uint32_t id = add_test_dev(&info);

	ck_assert_int_eq(ublk_ctrl_stop_dev(&ctrl, id), 0);
	ck_assert_int_eq(ublk_ctrl_get_dev_info(&ctrl, id, &info), 0);
	ck_assert_uint_eq(info.state, UBLK_S_DEV_DEAD);
}
END_TEST

START_TEST(test_queue_affinity)
{
	struct ublksrv_ctrl_dev_info info;
	uint32_t id = add_test_dev(&info);
	cpu_set_t all, cpus;

	CPU_ZERO(&all);
	for (uint16_t q = 0; q < info.nr_hw_queues; q++) {
		ck_assert_int_eq(ublk_ctrl_get_queue_affinity(&ctrl, id, q, &cpus), 0);
		ck_assert_msg(CPU_COUNT(&cpus) > 0, "queue %u has no CPU", q);
		CPU_OR(&all, &all, &cpus);
	}
	/* blk-mq maps every possible CPU to some queue. */
	ck_assert_int_eq(CPU_COUNT(&all), (int)possible_cpus());
	ck_assert_int_eq(ublk_ctrl_get_queue_affinity(&ctrl, id, info.nr_hw_queues, &cpus),
			 -EINVAL);
}
END_TEST

/*
 * START_DEV waits until every queue has fetched all its tags: with no queue served it never
 * completes, which makes it the honest never-ending control command for the timeout path.
 */
START_TEST(test_start_dev_times_out)
{
	struct ublksrv_ctrl_dev_info info;
	struct ublk_params p;
	uint64_t features;
	int64_t start, elapsed;
	uint32_t id;
	int ret;

	dev_info_init(&info, UBLK_DEV_ID_ANY, 1, 4);
	ret = add_dev(&info);
	ck_assert_int_ge(ret, 0);
	id = (uint32_t)ret;
	set_test_params(&p, 9);
	ck_assert_int_eq(ublk_ctrl_set_params(&ctrl, id, &p), 0);

	ctrl.timeout_ms = 500;
	start = now_ms();
	ret = ublk_ctrl_start_dev(&ctrl, id, getpid());
	elapsed = now_ms() - start;
	ck_assert_msg(ret == -ETIMEDOUT, "START_DEV with no queue served: %d", ret);
	ck_assert_int_ge(elapsed, 490);
	ck_assert_int_lt(elapsed, 30000);
	ck_assert_int_eq(ctrl.state, UBLK_CTRL_STUCK);
	ck_assert_int_eq(ublk_ctrl_get_features(&ctrl, &features), -EBADFD);

	/* Closing the ring cancels START_DEV in the kernel, so the device can go. */
	ublk_ctrl_close(&ctrl);
	ck_assert_int_eq(ctrl.state, UBLK_CTRL_CLOSED);
	setup();
	ret = ublk_ctrl_del_dev(&ctrl, id);
	ck_assert_msg(ret == 0, "DEL_DEV after a timed-out START_DEV: %s", strerror(-ret));
	unlog_dev(id);
	ck_assert(wait_cdev(id, false, 5000));
}
END_TEST

/* Runs UBLKD_BIN features; hide_dev mounts an empty /dev over the real one first. */
static int run_features(bool hide_dev, char *out, size_t out_len)
{
	const char *bin = getenv("UBLKD_BIN");
	int fds[2], status;
	size_t len = 0;
	ssize_t n;
	pid_t pid;

	ck_assert_msg(bin && *bin, "UBLKD_BIN is not set");
	ck_assert_int_eq(pipe(fds), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(fds[1], STDOUT_FILENO);
		dup2(fds[1], STDERR_FILENO);
		close(fds[0]);
		if (hide_dev &&
		    (unshare(CLONE_NEWNS) || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) ||
		     mount("tmpfs", "/dev", "tmpfs", 0, NULL))) {
			perror("hiding /dev");
			_exit(99);
		}
		execl(bin, bin, "features", (char *)NULL);
		perror(bin);
		_exit(98);
	}
	close(fds[1]);
	while (len + 1 < out_len && (n = read(fds[0], out + len, out_len - len - 1)) > 0)
		len += (size_t)n;
	out[len] = '\0';
	close(fds[0]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	return WEXITSTATUS(status);
}

START_TEST(test_cli_features)
{
	char out[4096], first[64];
	uint64_t features;

	ck_assert_int_eq(ublk_ctrl_get_features(&ctrl, &features), 0);
	ck_assert_msg(run_features(false, out, sizeof(out)) == 0, "ublkd features: %s", out);
	snprintf(first, sizeof(first), "0x%llx\n", (unsigned long long)features);
	ck_assert_msg(!strncmp(out, first, strlen(first)), "first line: %s", out);
	ck_assert_msg(strstr(out, "\nCMD_IOCTL_ENCODE\n"), "no CMD_IOCTL_ENCODE in: %s", out);
	ck_assert_msg(strstr(out, "\nio_uring: SQE128 ring, features 0x"), "no ring in: %s", out);
}
END_TEST

START_TEST(test_cli_features_without_device)
{
	char out[4096];
	int rc = run_features(true, out, sizeof(out));

	ck_assert_msg(rc == 1, "exit %d: %s", rc, out);
	ck_assert_str_eq(out, "ublkd: features: /dev/ublk-control: No such file or directory "
			      "(is the ublk_drv module loaded?)\n");
}
END_TEST

static void add_test(Suite *s, const char *name, const TTest *test)
{
	TCase *tc = tcase_create(name);

	tcase_add_unchecked_fixture(tc, NULL, sweep);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, TEST_TIMEOUT_S);
	tcase_add_test(tc, test);
	suite_add_tcase(s, tc);
}

int main(void)
{
	Suite *s = suite_create("ctrl");

	dev_log = mmap(NULL, sizeof(*dev_log), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
		       -1, 0);
	if (dev_log == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	add_test(s, "open", test_open_sqe128_ring);
	add_test(s, "features", test_get_features);
	add_test(s, "add_any_id", test_add_dev_kernel_chooses_id);
	add_test(s, "add_adjusts", test_add_dev_adjusts_request);
	add_test(s, "dev_info", test_get_dev_info_round_trip);
	add_test(s, "params_512", test_params_round_trip_512);
	add_test(s, "params_4096", test_params_round_trip_4096);
	add_test(s, "params_invalid", test_params_invalid);
	add_test(s, "add_explicit_id", test_add_dev_explicit_id);
	add_test(s, "add_taken_id", test_add_dev_taken_id);
	add_test(s, "add_invalid", test_add_dev_invalid);
	add_test(s, "del", test_del_dev);
	add_test(s, "del_async", test_del_dev_async);
	add_test(s, "stop_never_started", test_stop_dev_never_started);
	add_test(s, "queue_affinity", test_queue_affinity);
	add_test(s, "start_timeout", test_start_dev_times_out);
	add_test(s, "cli_features", test_cli_features);
	add_test(s, "cli_no_device", test_cli_features_without_device);
	return suite_main(s);
}
