// SPDX-License-Identifier: MIT
/*
 * The pure parts of the data and control plane, without a kernel: every descriptor the queue
 * accepts or refuses, the SET_PARAMS built from a backend, how queues spread over the CPUs
 * the daemon may use, and when a queue thread may end.
 */
#include <errno.h>
#include <string.h>

#include "../common/suite_main.h"
#include "device_ublk.h"
#include "parse.h"
#include "queue.h"
#include "uring.h"

#define DEV_SECTORS 2048ULL /* 1 MiB */
#define BUF_BYTES (64U * 1024)

static const struct queue_conf qconf = {
	.depth = 4,
	.buf_bytes = BUF_BYTES,
	.dev_sectors = DEV_SECTORS,
};

static struct ublksrv_io_desc desc(uint32_t op_flags, uint64_t start, uint32_t nr)
{
	return (struct ublksrv_io_desc){ .op_flags = op_flags,
					 .start_sector = start,
					 .nr_sectors = nr };
}

static const struct desc_case {
	const char *what;
	uint32_t op_flags;
	uint64_t start;
	uint32_t nr;
	bool read_only;
	int ret;
	enum backend_op op;
	bool fua;
} desc_cases[] = {
	{ "read", UBLK_IO_OP_READ, 8, 16, false, 0, BACKEND_OP_READ, false },
	{ "write", UBLK_IO_OP_WRITE, 0, 128, false, 0, BACKEND_OP_WRITE, false },
	{ "write FUA", UBLK_IO_OP_WRITE | UBLK_IO_F_FUA, 0, 1, false, 0, BACKEND_OP_WRITE, true },
	{ "read ignores FUA", UBLK_IO_OP_READ | UBLK_IO_F_FUA, 0, 1, false, 0, BACKEND_OP_READ,
	  false },
	{ "last sector", UBLK_IO_OP_READ, DEV_SECTORS - 1, 1, false, 0, BACKEND_OP_READ, false },
	{ "flush", UBLK_IO_OP_FLUSH, 0, 0, false, 0, BACKEND_OP_FLUSH, false },
	{ "discard bigger than a buffer", UBLK_IO_OP_DISCARD, 0, DEV_SECTORS, false, 0,
	  BACKEND_OP_DISCARD, false },
	{ "write zeroes", UBLK_IO_OP_WRITE_ZEROES | UBLK_IO_F_NOUNMAP, 64, 64, false, 0,
	  BACKEND_OP_WRITE_ZEROES, false },
	{ "read on read-only", UBLK_IO_OP_READ, 0, 8, true, 0, BACKEND_OP_READ, false },
	{ "write on read-only", UBLK_IO_OP_WRITE, 0, 8, true, -EROFS, 0, false },
	{ "discard on read-only", UBLK_IO_OP_DISCARD, 0, 8, true, -EROFS, 0, false },
	{ "past the end", UBLK_IO_OP_READ, DEV_SECTORS, 1, false, -EIO, 0, false },
	{ "straddles the end", UBLK_IO_OP_WRITE, DEV_SECTORS - 1, 2, false, -EIO, 0, false },
	{ "wraps around", UBLK_IO_OP_READ, UINT64_MAX - 1, 4, false, -EIO, 0, false },
	{ "empty read", UBLK_IO_OP_READ, 0, 0, false, -EIO, 0, false },
	{ "bigger than the buffer", UBLK_IO_OP_READ, 0, BUF_BYTES / 512 + 1, false, -EIO, 0,
	  false },
	{ "discard past the end", UBLK_IO_OP_DISCARD, 8, DEV_SECTORS, false, -EIO, 0, false },
	{ "write same", UBLK_IO_OP_WRITE_SAME, 0, 8, false, -EOPNOTSUPP, 0, false },
	{ "zone append", UBLK_IO_OP_ZONE_APPEND, 0, 8, false, -EOPNOTSUPP, 0, false },
	{ "report zones", UBLK_IO_OP_REPORT_ZONES, 0, 8, false, -EOPNOTSUPP, 0, false },
	{ "op 255", 255, 0, 8, false, -EOPNOTSUPP, 0, false },
};

START_TEST(test_check_desc)
{
	const struct desc_case *c = &desc_cases[_i];
	struct queue_conf conf = qconf;
	struct ublksrv_io_desc d = desc(c->op_flags, c->start, c->nr);
	struct backend_io bio;

	memset(&bio, 0xa5, sizeof(bio));
	conf.read_only = c->read_only;
	ck_assert_msg(queue_check_desc(&conf, &d, &bio) == c->ret, "%s", c->what);
	if (c->ret)
		return;
	ck_assert_int_eq(bio.op, c->op);
	ck_assert_int_eq(bio.fua, c->fua);
	ck_assert_uint_eq(bio.done_bytes, 0);
	if (c->op == BACKEND_OP_FLUSH) {
		ck_assert_uint_eq(bio.len_bytes, 0);
		return;
	}
	ck_assert_uint_eq(bio.offset_bytes, c->start * 512);
	ck_assert_uint_eq(bio.len_bytes, c->nr * 512);
}
END_TEST

static struct device dev_with(uint32_t caps, uint32_t block_size, bool read_only)
{
	struct device d;

	memset(&d, 0, sizeof(d));
	d.be.caps = caps;
	d.be.block_size = block_size;
	d.be.size_bytes = 1ULL << 30;
	d.conf.read_only = read_only;
	d.info.max_io_buf_bytes = DEV_IO_BUF_BYTES;
	return d;
}

START_TEST(test_params_memory)
{
	struct device d = dev_with(BACKEND_CAP_DISCARD | BACKEND_CAP_WRITE_ZEROES, 512, false);
	struct ublk_params p;

	dev_ublk_build_params(&d, &p);
	ck_assert_uint_eq(p.len, sizeof(p));
	ck_assert_uint_eq(p.types, UBLK_PARAM_TYPE_BASIC | UBLK_PARAM_TYPE_DISCARD);
	ck_assert_uint_eq(p.basic.attrs, 0); /* no cache, not rotational, writable */
	ck_assert_uint_eq(p.basic.logical_bs_shift, 9);
	ck_assert_uint_eq(p.basic.physical_bs_shift, 12);
	ck_assert_uint_eq(p.basic.max_sectors, DEV_IO_BUF_BYTES / 512);
	ck_assert_uint_eq(p.basic.dev_sectors, (1ULL << 30) / 512);
	ck_assert_uint_eq(p.discard.discard_granularity, 4096);
	ck_assert_uint_eq(p.discard.max_discard_sectors, DEV_MAX_DISCARD_SECTORS);
	ck_assert_uint_eq(p.discard.max_write_zeroes_sectors, DEV_MAX_DISCARD_SECTORS);
	/* The driver refuses anything but one segment. */
	ck_assert_uint_eq(p.discard.max_discard_segments, 1);
}
END_TEST

START_TEST(test_params_file)
{
	struct device d = dev_with(BACKEND_CAP_FLUSH | BACKEND_CAP_FUA | BACKEND_CAP_WRITE_ZEROES,
				   4096, true);
	struct ublk_params p;

	dev_ublk_build_params(&d, &p);
	ck_assert_uint_eq(p.basic.attrs,
			  UBLK_ATTR_READ_ONLY | UBLK_ATTR_VOLATILE_CACHE | UBLK_ATTR_FUA);
	ck_assert_uint_eq(p.basic.logical_bs_shift, 12);
	ck_assert_uint_eq(p.basic.physical_bs_shift, 12);
	ck_assert_uint_eq(p.discard.max_discard_sectors, 0);
	ck_assert_uint_eq(p.discard.max_write_zeroes_sectors, DEV_MAX_DISCARD_SECTORS);
}
END_TEST

START_TEST(test_params_no_discard)
{
	struct device d = dev_with(0, 512, false);
	struct ublk_params p;

	dev_ublk_build_params(&d, &p);
	ck_assert_uint_eq(p.types, UBLK_PARAM_TYPE_BASIC);
	ck_assert_uint_eq(p.discard.max_discard_segments, 0);
}
END_TEST

START_TEST(test_queue_cpu_spread)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	ck_assert_int_eq(dev_ublk_queue_cpu(&set, 0, 1), -1);
	/* 0-3,6 */
	for (int cpu = 0; cpu < 4; cpu++)
		CPU_SET(cpu, &set);
	CPU_SET(6, &set);
	ck_assert_int_eq(dev_ublk_queue_cpu(&set, 0, 1), 0);
	ck_assert_int_eq(dev_ublk_queue_cpu(&set, 0, 2), 0);
	ck_assert_int_eq(dev_ublk_queue_cpu(&set, 1, 2), 2);
	for (unsigned q = 0; q < 5; q++)
		ck_assert_int_eq(dev_ublk_queue_cpu(&set, q, 5), q < 4 ? (int)q : 6);
	/* More queues than CPUs: they share, in order. */
	ck_assert_int_eq(dev_ublk_queue_cpu(&set, 9, 10), 6);
	ck_assert_int_eq(dev_ublk_queue_cpu(&set, 1, 10), 0);
	CPU_ZERO(&set);
	CPU_SET(CPU_SETSIZE - 1, &set);
	ck_assert_int_eq(dev_ublk_queue_cpu(&set, 3, 4), CPU_SETSIZE - 1);
}
END_TEST

static cpu_set_t cpus_of(const char *list)
{
	cpu_set_t set;

	ck_assert_int_eq(parse_cpu_list(list, &set), 0);
	return set;
}

START_TEST(test_check_cpus)
{
	cpu_set_t allowed = cpus_of("1,3-5"), wanted;
	char err[128] = "";

	wanted = cpus_of("1,4");
	ck_assert_int_eq(dev_ublk_check_cpus(&wanted, &allowed, err, sizeof(err)), 0);
	ck_assert_str_eq(err, "");
	wanted = cpus_of("0-1");
	ck_assert_int_eq(dev_ublk_check_cpus(&wanted, &allowed, err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, "cpus: CPU 0 is not allowed for ublkd (allowed: 1,3-5)");
	wanted = cpus_of("3-6");
	ck_assert_int_eq(dev_ublk_check_cpus(&wanted, &allowed, err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, "cpus: CPU 6 is not allowed for ublkd (allowed: 1,3-5)");
}
END_TEST

START_TEST(test_default_queue_cpu)
{
	cpu_set_t all = cpus_of("0-3"), only_1 = cpus_of("1"), odd = cpus_of("1,3");
	cpu_set_t mapped_0 = cpus_of("0"), mapped_23 = cpus_of("2-3");

	/* The kernel's mapping where it is allowed: its first allowed CPU. */
	ck_assert_int_eq(dev_ublk_default_queue_cpu(&mapped_0, &all, 0, 2), 0);
	ck_assert_int_eq(dev_ublk_default_queue_cpu(&mapped_23, &all, 1, 2), 2);
	ck_assert_int_eq(dev_ublk_default_queue_cpu(&mapped_23, &odd, 1, 2), 3);
	/* taskset -c 1: every queue on CPU 1, whatever the kernel mapped. */
	ck_assert_int_eq(dev_ublk_default_queue_cpu(&mapped_0, &only_1, 0, 2), 1);
	ck_assert_int_eq(dev_ublk_default_queue_cpu(&mapped_23, &only_1, 1, 2), 1);
	/* None of the mapping allowed: the allowed CPUs, spread over the queues. */
	ck_assert_int_eq(dev_ublk_default_queue_cpu(&mapped_0, &odd, 0, 2), 1);
	ck_assert_int_eq(dev_ublk_default_queue_cpu(&mapped_0, &odd, 1, 2), 3);
}
END_TEST

START_TEST(test_format_cpu_list)
{
	cpu_set_t set = cpus_of("0-3,6,8-9");
	char text[CPU_LIST_STR_MAX], small[6];

	ck_assert_str_eq(format_cpu_list(&set, text, sizeof(text)), "0-3,6,8-9");
	/* Cut at a whole item, never in the middle of a range. */
	ck_assert_str_eq(format_cpu_list(&set, small, sizeof(small)), "0-3,6");
	CPU_ZERO(&set);
	ck_assert_str_eq(format_cpu_list(&set, text, sizeof(text)), "");
	for (int cpu = 0; cpu < CPU_SETSIZE; cpu += 2)
		CPU_SET(cpu, &set);
	format_cpu_list(&set, text, sizeof(text));
	ck_assert(strlen(text) > 2000);
	ck_assert_str_eq(text + strlen(text) - 5, ",1022");
}
END_TEST

/*
 * The last turn of a quitting queue: the backend finished its last request, whose commit is
 * queued but not sent. Ending there would close the ring on it, and the kernel would fail a
 * write that is on disk with EIO; the thread must send it first.
 */
START_TEST(test_queue_exit_sends_commits)
{
	struct ublk_queue q;
	struct io_uring_sqe *sqe;

	memset(&q, 0, sizeof(q));
	ck_assert_int_eq(uring_init_simple(&q.ring, 8, 0), 0);
	q.quitting = true;
	q.nr_in_kernel = 4;
	q.nr_in_backend = 1;
	ck_assert(!queue_may_exit(&q));

	/* The backend's last completion: its commit is queued, the backend is idle. */
	sqe = uring_get_sqe(&q.ring);
	ck_assert_ptr_nonnull(sqe);
	uring_prep_nop(sqe);
	q.nr_in_backend = 0;
	ck_assert_msg(!queue_may_exit(&q), "the queue would end with a commit not sent");
	ck_assert_int_eq(uring_submit(&q.ring), 1);
	ck_assert(queue_may_exit(&q));

	/* Not quitting: on while any tag is in the kernel. */
	q.quitting = false;
	ck_assert(!queue_may_exit(&q));
	q.nr_in_kernel = 0;
	ck_assert(queue_may_exit(&q));
	uring_exit(&q.ring);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("dataplane");
	TCase *tc = tcase_create("pure");

	tcase_add_loop_test(tc, test_check_desc, 0,
			    (int)(sizeof(desc_cases) / sizeof(desc_cases[0])));
	tcase_add_test(tc, test_params_memory);
	tcase_add_test(tc, test_params_file);
	tcase_add_test(tc, test_params_no_discard);
	tcase_add_test(tc, test_queue_cpu_spread);
	tcase_add_test(tc, test_check_cpus);
	tcase_add_test(tc, test_default_queue_cpu);
	tcase_add_test(tc, test_format_cpu_list);
	tcase_add_test(tc, test_queue_exit_sends_commits);
	suite_add_tcase(s, tc);
	return suite_main(s);
}
