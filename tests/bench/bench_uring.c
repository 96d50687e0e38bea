// SPDX-License-Identifier: MIT
/*
 * Per-operation cost of ublkd's io_uring: NOP round trips in batches, and 4 KiB reads from the
 * page cache at queue depth 32 beside the same reads done with pread(2). Run by `make
 * bench-uring`; the BENCH_* environment variables in usage() tune it.
 */
#include <errno.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/statfs.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "uring.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define IO_BYTES 4096
#define MAX_DEPTH 32
#define RING_ENTRIES 64
#define MAX_REPS 101
/* BENCH_OPS runs warm up with this many operations, so their instruction count is repeatable. */
#define FIXED_WARMUP_OPS 4096
#define TASKRUN_FLAGS \
	(IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN)

/* What a row registers once its ring is set up. */
#define REG_RING_FD (1U << 0) /* uring_register_ring_fd() */
#define REG_BUFFERS (1U << 1) /* uring_register_buffers(), reads become READ_FIXED */
#define REG_FILE (1U << 2)    /* uring_register_files(), reads use IOSQE_FIXED_FILE */

enum row_kind {
	ROW_NOP,       /* depth NOPs per submit, waited for and reaped as one batch */
	ROW_PREAD,     /* the same reads as ROW_RING_READ, one pread(2) each */
	ROW_RING_READ, /* depth reads in flight; reap a batch, refill it, one submit per turn */
};

struct row_spec {
	const char *id; /* for BENCH_ONLY */
	enum row_kind kind;
	unsigned depth;
	unsigned optional_flags; /* IORING_SETUP_*, dropped by uring_init() if refused */
	unsigned regs;		 /* REG_* */
};

static const struct row_spec row_specs[] = {
	{ "nop1", ROW_NOP, 1, 0, 0 },
	{ "nop8", ROW_NOP, 8, 0, 0 },
	{ "nop32", ROW_NOP, 32, 0, 0 },
	{ "nop1-tuned", ROW_NOP, 1, TASKRUN_FLAGS, REG_RING_FD },
	{ "nop8-tuned", ROW_NOP, 8, TASKRUN_FLAGS, REG_RING_FD },
	{ "nop32-tuned", ROW_NOP, 32, TASKRUN_FLAGS, REG_RING_FD },
	{ "pread", ROW_PREAD, 1, 0, 0 },
	{ "read", ROW_RING_READ, 32, 0, 0 },
	{ "read-regfd", ROW_RING_READ, 32, 0, REG_RING_FD },
	{ "read-fixbuf", ROW_RING_READ, 32, 0, REG_BUFFERS },
	{ "read-fixfile", ROW_RING_READ, 32, 0, REG_FILE },
	{ "read-tuned", ROW_RING_READ, 32, TASKRUN_FLAGS, REG_RING_FD | REG_BUFFERS | REG_FILE },
};

struct row_result {
	bool selected;
	bool has_ring;
	struct uring ring;
	int err; /* the row could not run: what failed and why */
	const char *err_what;
	uint64_t ops; /* per repetition */
	double ns_per_op[MAX_REPS];
};

struct bench {
	/* options, from the environment */
	double seconds;	    /* BENCH_SECONDS: measured time of all repetitions together */
	unsigned reps;	    /* BENCH_REPS */
	uint64_t fixed_ops; /* BENCH_OPS: operations per repetition; 0 calibrates from seconds */
	unsigned file_mib;  /* BENCH_FILE_MIB */
	const char *dir;    /* BENCH_DIR */
	const char *only;   /* BENCH_ONLY: comma-separated row ids */
	int cpu;	    /* BENCH_CPU: pinned here; -1 not pinned */

	int fd;
	char path[4096];
	const char *fs; /* the file system path is on */
	uint64_t file_bytes;
	unsigned nr_pages;
	unsigned resident_pages;
	uint32_t *read_order; /* file pages in the order every read row reads them */
	char *bufs;	      /* MAX_DEPTH buffers of IO_BYTES, one per read in flight */
	int64_t rep_ns;	      /* aimed-at duration of one repetition */
	struct row_result rows[ARRAY_SIZE(row_specs)];
};

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/*
 * ---- the measured loops ----
 * Each is noinline, so that callgrind and perf see one symbol per loop, and the compiler does
 * not fold a row's constants into it.
 */

/*
 * batch NOPs per turn: get and prepare batch SQEs, submit them and wait for all of them in one
 * enter, reap them with one batch peek and one CQ advance. ops is a multiple of batch.
 */
static __attribute__((noinline)) int run_nops(struct uring *r, unsigned batch, uint64_t ops)
{
	struct io_uring_cqe *cqes[MAX_DEPTH];

	for (uint64_t done = 0; done < ops; done += batch) {
		unsigned reaped = 0;
		int ret;

		for (unsigned i = 0; i < batch; i++) {
			struct io_uring_sqe *sqe = uring_get_sqe(r);

			if (!sqe)
				return -EBUSY;
			uring_prep_nop(sqe);
			uring_sqe_set_data64(sqe, i);
		}
		ret = uring_submit_and_wait(r, batch);
		if (ret < 0)
			return ret;
		while (reaped < batch) {
			unsigned n = uring_peek_batch_cqe(r, cqes, batch - reaped);

			if (!n) {
				ret = uring_submit_and_wait(r, 1);
				if (ret < 0)
					return ret;
				continue;
			}
			for (unsigned i = 0; i < n; i++) {
				if (cqes[i]->res < 0)
					return cqes[i]->res;
			}
			uring_cq_advance(r, n);
			reaped += n;
		}
	}
	return 0;
}

/* Every page of the file starts with its own index: each read checks it got the right page. */
static inline int check_page(const char *buf, uint32_t page)
{
	uint64_t found;

	memcpy(&found, buf, sizeof(found));
	return found == page ? 0 : -EIO;
}

/* The ring rows' reads, one at a time, into the same buffers in turn. */
static __attribute__((noinline)) int run_preads(struct bench *b, unsigned depth, uint64_t ops)
{
	unsigned cursor = 0, slot = 0;

	for (uint64_t i = 0; i < ops; i++) {
		char *buf = b->bufs + (size_t)slot * IO_BYTES;
		uint32_t page = b->read_order[cursor];
		ssize_t got = pread(b->fd, buf, IO_BYTES, (off_t)page * IO_BYTES);

		if (got != IO_BYTES)
			return got < 0 ? -errno : -EIO;
		if (check_page(buf, page))
			return -EIO;
		if (++cursor == b->nr_pages)
			cursor = 0;
		if (++slot == depth)
			slot = 0;
	}
	return 0;
}

struct read_state {
	struct bench *b;
	struct uring *r;
	unsigned regs;		       /* REG_BUFFERS, REG_FILE */
	unsigned cursor;	       /* next index into b->read_order */
	uint32_t slot_page[MAX_DEPTH]; /* which page each buffer slot is reading */
};

/* Always inlined, as uring.h's own helpers are, so both loops measure the ring, not a call. */
static inline __attribute__((always_inline)) int queue_read(struct read_state *s, unsigned slot)
{
	struct io_uring_sqe *sqe = uring_get_sqe(s->r);
	char *buf = s->b->bufs + (size_t)slot * IO_BYTES;
	uint32_t page = s->b->read_order[s->cursor];
	uint64_t offset = (uint64_t)page * IO_BYTES;
	int fd = (s->regs & REG_FILE) ? 0 : s->b->fd; /* registered: index 0 */

	if (!sqe)
		return -EBUSY;
	if (s->regs & REG_BUFFERS)
		uring_prep_read_fixed(sqe, fd, buf, IO_BYTES, offset, (uint16_t)slot);
	else
		uring_prep_read(sqe, fd, buf, IO_BYTES, offset);
	if (s->regs & REG_FILE)
		uring_sqe_set_flags(sqe, IOSQE_FIXED_FILE);
	uring_sqe_set_data64(sqe, slot);
	s->slot_page[slot] = page;
	if (++s->cursor == s->b->nr_pages)
		s->cursor = 0;
	return 0;
}

/* depth reads in flight: each turn submits the refills and waits for one, then reaps all ready. */
static __attribute__((noinline)) int run_ring_reads(struct bench *b, struct uring *r, unsigned regs,
						    unsigned depth, uint64_t ops)
{
	struct read_state s = { .b = b, .r = r, .regs = regs };
	struct io_uring_cqe *cqes[MAX_DEPTH];
	uint64_t queued = 0, done = 0;
	int ret;

	for (unsigned slot = 0; slot < depth && queued < ops; slot++, queued++) {
		ret = queue_read(&s, slot);
		if (ret)
			return ret;
	}
	while (done < ops) {
		unsigned n;

		ret = uring_submit_and_wait(r, 1);
		if (ret < 0)
			return ret;
		n = uring_peek_batch_cqe(r, cqes, depth);
		for (unsigned i = 0; i < n; i++) {
			unsigned slot = (unsigned)cqes[i]->user_data;

			if (cqes[i]->res != IO_BYTES)
				return cqes[i]->res < 0 ? cqes[i]->res : -EIO;
			if (check_page(b->bufs + (size_t)slot * IO_BYTES, s.slot_page[slot]))
				return -EIO;
			if (queued < ops) {
				ret = queue_read(&s, slot);
				if (ret)
					return ret;
				queued++;
			}
		}
		uring_cq_advance(r, n);
		done += n;
	}
	return 0;
}

static int row_run(struct bench *b, unsigned idx, uint64_t ops, int64_t *elapsed_ns)
{
	const struct row_spec *spec = &row_specs[idx];
	struct row_result *row = &b->rows[idx];
	int64_t start = now_ns();
	int ret;

	switch (spec->kind) {
	case ROW_NOP:
		ret = run_nops(&row->ring, spec->depth, ops);
		break;
	case ROW_PREAD:
		ret = run_preads(b, MAX_DEPTH, ops);
		break;
	case ROW_RING_READ:
		ret = run_ring_reads(b, &row->ring, spec->regs, spec->depth, ops);
		break;
	default:
		ret = -EINVAL;
	}
	*elapsed_ns = now_ns() - start;
	return ret;
}

/* ---- setup ---- */

static uint64_t round_up(uint64_t v, uint64_t to)
{
	return (v + to - 1) / to * to;
}

static int row_setup(struct bench *b, unsigned idx)
{
	const struct row_spec *spec = &row_specs[idx];
	struct row_result *row = &b->rows[idx];
	struct uring_params params = {
		.sq_entries = RING_ENTRIES,
		.optional_flags = spec->optional_flags,
		.sq_thread_cpu = -1,
	};
	int ret;

	if (spec->kind == ROW_PREAD)
		return 0;
	row->err_what = "uring_init";
	ret = uring_init(&row->ring, &params);
	if (ret)
		return ret;
	row->has_ring = true;
	if (spec->regs & REG_RING_FD) {
		row->err_what = "uring_register_ring_fd";
		ret = uring_register_ring_fd(&row->ring);
		if (ret)
			return ret;
	}
	if (spec->regs & REG_BUFFERS) {
		struct iovec iovs[MAX_DEPTH];

		for (unsigned i = 0; i < MAX_DEPTH; i++) {
			iovs[i].iov_base = b->bufs + (size_t)i * IO_BYTES;
			iovs[i].iov_len = IO_BYTES;
		}
		row->err_what = "uring_register_buffers";
		ret = uring_register_buffers(&row->ring, iovs, MAX_DEPTH);
		if (ret)
			return ret;
	}
	if (spec->regs & REG_FILE) {
		row->err_what = "uring_register_files";
		ret = uring_register_files(&row->ring, &b->fd, 1);
		if (ret)
			return ret;
	}
	row->err_what = NULL;
	return 0;
}

/*
 * Warm the row up and return what one operation costs: doubling runs until one lasts half a
 * repetition, or with BENCH_OPS one run of a fixed size.
 */
static int row_warm_up(struct bench *b, unsigned idx, double *ns_per_op)
{
	unsigned depth = row_specs[idx].depth;
	uint64_t ops = b->fixed_ops ? round_up(FIXED_WARMUP_OPS, depth) : 64 * (uint64_t)depth;
	int64_t ns;
	int ret;

	for (;;) {
		ret = row_run(b, idx, ops, &ns);
		if (ret)
			return ret;
		if (b->fixed_ops || ns >= b->rep_ns / 2)
			break;
		ops *= 2;
	}
	*ns_per_op = (double)ns / (double)ops;
	return 0;
}

static uint64_t xorshift64(uint64_t *state)
{
	uint64_t x = *state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*state = x;
	return x;
}

static const char *fs_name(long type)
{
	switch ((unsigned long)type) {
	case 0xef53:
		return "ext4";
	case 0x01021994:
		return "tmpfs";
	case 0x58465342:
		return "xfs";
	case 0x9123683e:
		return "btrfs";
	case 0x794c7630:
		return "overlayfs";
	default:
		return "other";
	}
}

/* Count the file's pages that are in the page cache. */
static int count_resident(struct bench *b)
{
	size_t page_bytes = (size_t)sysconf(_SC_PAGESIZE);
	size_t nr = (b->file_bytes + page_bytes - 1) / page_bytes;
	unsigned char *vec = malloc(nr);
	void *map;
	int ret = 0;

	if (!vec)
		return -ENOMEM;
	map = mmap(NULL, b->file_bytes, PROT_READ, MAP_SHARED, b->fd, 0);
	if (map == MAP_FAILED) {
		ret = -errno;
	} else {
		if (mincore(map, b->file_bytes, vec) == 0) {
			size_t resident = 0;

			for (size_t i = 0; i < nr; i++)
				resident += vec[i] & 1;
			b->resident_pages = (unsigned)(resident * page_bytes / IO_BYTES);
		} else {
			ret = -errno;
		}
		munmap(map, b->file_bytes);
	}
	free(vec);
	return ret;
}

/*
 * An unlinked file of file_mib MiB whose every 4 KiB page starts with its index, written back
 * (so no writeback runs during the measurements) and read once, so it sits in the page cache.
 */
static int make_file(struct bench *b)
{
	const size_t chunk_bytes = 1 << 20;
	char *chunk = malloc(chunk_bytes);
	uint64_t seed = 0x9e3779b97f4a7c15ULL;
	struct statfs st;
	int ret = 0;

	if (!chunk)
		return -ENOMEM;
	snprintf(b->path, sizeof(b->path), "%s/ublkd-bench-XXXXXX", b->dir);
	b->fd = mkstemp(b->path);
	if (b->fd < 0) {
		ret = -errno;
		goto out;
	}
	unlink(b->path);
	b->fs = "unknown";
	if (!fstatfs(b->fd, &st))
		b->fs = fs_name(st.f_type);
	b->file_bytes = (uint64_t)b->file_mib << 20;
	b->nr_pages = (unsigned)(b->file_bytes / IO_BYTES);
	for (uint64_t off = 0; off < b->file_bytes && !ret; off += chunk_bytes) {
		for (size_t i = 0; i < chunk_bytes; i += sizeof(uint64_t)) {
			uint64_t v = xorshift64(&seed);

			if (i % IO_BYTES == 0)
				v = (off + i) / IO_BYTES;
			memcpy(chunk + i, &v, sizeof(v));
		}
		for (size_t done = 0; done < chunk_bytes;) {
			ssize_t n = pwrite(b->fd, chunk + done, chunk_bytes - done,
					   (off_t)(off + done));

			if (n <= 0) {
				ret = n < 0 ? -errno : -EIO;
				break;
			}
			done += (size_t)n;
		}
	}
	if (!ret && fdatasync(b->fd))
		ret = -errno;
	for (uint64_t off = 0; off < b->file_bytes && !ret; off += chunk_bytes) {
		if (pread(b->fd, chunk, chunk_bytes, (off_t)off) < 0)
			ret = -errno;
	}
	if (!ret)
		ret = count_resident(b);
out:
	free(chunk);
	return ret;
}

/* Every page once, in a shuffled order that every read row follows. */
static int make_read_order(struct bench *b)
{
	uint64_t seed = 0x2545f4914f6cdd1dULL;

	b->read_order = malloc((size_t)b->nr_pages * sizeof(*b->read_order));
	if (!b->read_order)
		return -ENOMEM;
	for (unsigned i = 0; i < b->nr_pages; i++)
		b->read_order[i] = i;
	for (unsigned i = b->nr_pages - 1; i > 0; i--) {
		unsigned j = (unsigned)(xorshift64(&seed) % (i + 1));
		uint32_t t = b->read_order[i];

		b->read_order[i] = b->read_order[j];
		b->read_order[j] = t;
	}
	return 0;
}

/* ---- options and report ---- */

static void usage(void)
{
	fprintf(stderr,
		"usage: bench_uring (no arguments; tuned by the environment)\n"
		"  BENCH_SECONDS   measured time of all repetitions together (default 3)\n"
		"  BENCH_REPS      repetitions per row, interleaved across rows (7)\n"
		"  BENCH_OPS       operations per repetition instead of calibrating from the time\n"
		"  BENCH_FILE_MIB  size of the page-cached file the reads use (64)\n"
		"  BENCH_DIR       where to create that file (TMPDIR, else /var/tmp)\n"
		"  BENCH_ONLY      comma-separated row ids to run (all)\n"
		"  BENCH_CPU       CPU to pin to, -1 for none (the CPU it starts on)\n");
}

static int env_number(const char *name, double min, double max, double *value)
{
	const char *s = getenv(name);
	char *end;
	double v;

	if (!s || !*s)
		return 0;
	errno = 0;
	v = strtod(s, &end);
	if (errno || *end || v < min || v > max) {
		fprintf(stderr, "bench_uring: %s=%s: expected a number from %g to %g\n", name, s,
			min, max);
		return -EINVAL;
	}
	*value = v;
	return 0;
}

static int parse_env(struct bench *b)
{
	double seconds = 3, reps = 7, ops = 0, file_mib = 64, cpu = sched_getcpu();
	const char *tmpdir = getenv("TMPDIR");

	if (env_number("BENCH_SECONDS", 0.01, 3600, &seconds) ||
	    env_number("BENCH_REPS", 1, MAX_REPS, &reps) ||
	    env_number("BENCH_OPS", 0, 1e12, &ops) ||
	    env_number("BENCH_FILE_MIB", 1, 65536, &file_mib) ||
	    env_number("BENCH_CPU", -1, CPU_SETSIZE - 1, &cpu))
		return -EINVAL;
	b->seconds = seconds;
	b->reps = (unsigned)reps;
	b->fixed_ops = (uint64_t)ops;
	b->file_mib = (unsigned)file_mib;
	b->cpu = (int)cpu;
	b->dir = getenv("BENCH_DIR");
	if (!b->dir || !*b->dir)
		b->dir = tmpdir && *tmpdir ? tmpdir : "/var/tmp";
	b->only = getenv("BENCH_ONLY");
	return 0;
}

static bool row_selected(const char *only, const char *id)
{
	size_t len = strlen(id);

	if (!only || !*only)
		return true;
	for (const char *p = only; *p;) {
		size_t n = strcspn(p, ",");

		if (n == len && !strncmp(p, id, len))
			return true;
		p += n;
		if (*p == ',')
			p++;
	}
	return false;
}

/* Appends s to the string in out, truncating at out_bytes. */
static void append(char *out, size_t out_bytes, const char *s)
{
	size_t used = strlen(out);

	snprintf(out + used, out_bytes - used, "%s", s);
}

static void describe_setup(const struct row_spec *spec, const struct row_result *row, char *out,
			   size_t out_bytes)
{
	static const struct {
		unsigned flag;
		const char *name;
	} names[] = {
		{ IORING_SETUP_IOPOLL, "iopoll" },
		{ IORING_SETUP_SQPOLL, "sqpoll" },
		{ IORING_SETUP_COOP_TASKRUN, "coop" },
		{ IORING_SETUP_TASKRUN_FLAG, "taskrun_flag" },
		{ IORING_SETUP_SINGLE_ISSUER, "single" },
		{ IORING_SETUP_DEFER_TASKRUN, "defer" },
		{ IORING_SETUP_SQE128, "sqe128" },
		{ IORING_SETUP_CQE32, "cqe32" },
		{ IORING_SETUP_NO_SQARRAY, "nosqarray" },
	};

	out[0] = '\0';
	if (spec->kind == ROW_PREAD) {
		append(out, out_bytes, "no ring, pread(2)");
		return;
	}
	for (unsigned i = 0; i < ARRAY_SIZE(names); i++) {
		if (!row->has_ring || !(row->ring.flags & names[i].flag))
			continue;
		if (out[0])
			append(out, out_bytes, "|");
		append(out, out_bytes, names[i].name);
	}
	if (!out[0])
		append(out, out_bytes, "none");
	if (spec->regs & REG_RING_FD)
		append(out, out_bytes, " +regfd");
	if (spec->regs & REG_BUFFERS)
		append(out, out_bytes, " +fixbuf");
	if (spec->regs & REG_FILE)
		append(out, out_bytes, " +fixfile");
}

static int compare_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Sorts v. */
static double median(double *v, unsigned n)
{
	qsort(v, n, sizeof(*v), compare_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void print_report(struct bench *b)
{
	double pread_median = 0;
	struct utsname uts;

	uname(&uts);
	printf("ublkd io_uring benchmark: Linux %s %s, %ld CPUs online, ", uts.release, uts.machine,
	       sysconf(_SC_NPROCESSORS_ONLN));
	if (b->cpu >= 0)
		printf("pinned to CPU %d\n", b->cpu);
	else
		printf("not pinned\n");
	printf("reads: %u KiB at shuffled offsets of %s (%s, unlinked), %u MiB, %u%% in page "
	       "cache\n",
	       IO_BYTES / 1024, b->path, b->fs, b->file_mib,
	       (unsigned)(100ULL * b->resident_pages / b->nr_pages));
	printf("%u repetitions per row, interleaved across rows, after a warm-up; medians shown\n",
	       b->reps);
	printf("every read row does the same reads in the same order; spread = (max - min) / "
	       "median\n");
	printf("depth: NOPs per submit_and_wait, or reads kept in flight\n");
	printf("coop|single|defer: IORING_SETUP_COOP_TASKRUN|SINGLE_ISSUER|DEFER_TASKRUN\n");
	printf("+regfd: registered ring fd; +fixbuf: registered buffers (READ_FIXED); "
	       "+fixfile: registered file (IOSQE_FIXED_FILE)\n\n");
	printf("%-12s %-13s %5s %9s %10s %8s %7s %8s  %s\n", "row", "operation", "depth", "ops/rep",
	       "ops/s", "ns/op", "spread", "vs pread", "ring flags granted, registrations");
	for (unsigned i = 0; i < ARRAY_SIZE(row_specs); i++) {
		const struct row_spec *spec = &row_specs[i];
		struct row_result *row = &b->rows[i];
		static const char *const ops_names[] = { "NOP", "pread 4K", "read 4K" };
		const char *op = ops_names[spec->kind];
		char setup[96], result[64], ratio[16] = "";
		double ns, spread;

		if (!row->selected)
			continue;
		if (spec->kind == ROW_RING_READ && (spec->regs & REG_BUFFERS))
			op = "read_fixed 4K";
		describe_setup(spec, row, setup, sizeof(setup));
		if (row->err) {
			snprintf(result, sizeof(result), "%46s", "-");
		} else {
			ns = median(row->ns_per_op, b->reps);
			spread = (row->ns_per_op[b->reps - 1] - row->ns_per_op[0]) / ns * 100;
			if (spec->kind == ROW_PREAD)
				pread_median = ns;
			if (spec->kind == ROW_RING_READ && pread_median > 0)
				snprintf(ratio, sizeof(ratio), "%.2fx", pread_median / ns);
			snprintf(result, sizeof(result), "%9llu %8.3f M %8.1f %6.1f%% %8s",
				 (unsigned long long)row->ops, 1e3 / ns, ns, spread, ratio);
		}
		printf("%-12s %-13s %5u %s  %s", spec->id, op, spec->depth, result, setup);
		if (row->err)
			printf(" (not run: %s: %s)", row->err_what, strerror(-row->err));
		printf("\n");
	}
}

static int pin_cpu(int cpu)
{
	cpu_set_t set;

	if (cpu < 0)
		return 0;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof(set), &set) ? -errno : 0;
}

int main(int argc, char **argv)
{
	struct bench *b;
	unsigned nr_rows = 0;
	bool failed = false;
	double slowest_read = 0;
	int ret;

	(void)argv;
	if (argc > 1) {
		usage();
		return 2;
	}
	b = calloc(1, sizeof(*b));
	if (!b)
		return 1;
	b->fd = -1;
	if (parse_env(b))
		return 2;
	ret = pin_cpu(b->cpu);
	if (ret) {
		fprintf(stderr, "bench_uring: pin to CPU %d: %s\n", b->cpu, strerror(-ret));
		return 1;
	}
	b->bufs = aligned_alloc(IO_BYTES, (size_t)MAX_DEPTH * IO_BYTES);
	if (!b->bufs)
		return 1;
	memset(b->bufs, 0, (size_t)MAX_DEPTH * IO_BYTES);
	ret = make_file(b);
	if (!ret)
		ret = make_read_order(b);
	if (ret) {
		fprintf(stderr, "bench_uring: test file in %s: %s\n", b->dir, strerror(-ret));
		return 1;
	}

	for (unsigned i = 0; i < ARRAY_SIZE(row_specs); i++) {
		b->rows[i].selected = row_selected(b->only, row_specs[i].id);
		nr_rows += b->rows[i].selected;
	}
	if (!nr_rows) {
		fprintf(stderr, "bench_uring: BENCH_ONLY=%s names no row\n", b->only);
		return 2;
	}
	b->rep_ns = (int64_t)(b->seconds * 1e9 / nr_rows / b->reps);

	/* Calibrate: NOP rows each get their own size, read rows one that the slowest needs. */
	for (unsigned i = 0; i < ARRAY_SIZE(row_specs); i++) {
		struct row_result *row = &b->rows[i];
		double ns_per_op;

		if (!row->selected)
			continue;
		row->err = row_setup(b, i);
		if (!row->err) {
			row->err_what = "warm-up";
			row->err = row_warm_up(b, i, &ns_per_op);
		}
		if (row->err)
			continue;
		row->ops = b->fixed_ops ? b->fixed_ops : (uint64_t)(b->rep_ns / ns_per_op) + 1;
		row->ops = round_up(row->ops, row_specs[i].depth);
		if (row_specs[i].kind != ROW_NOP && ns_per_op > slowest_read)
			slowest_read = ns_per_op;
	}
	for (unsigned i = 0; i < ARRAY_SIZE(row_specs); i++) {
		if (b->rows[i].selected && !b->rows[i].err && row_specs[i].kind != ROW_NOP) {
			b->rows[i].ops = b->fixed_ops ? b->fixed_ops
						      : (uint64_t)(b->rep_ns / slowest_read) + 1;
		}
	}

	for (unsigned rep = 0; rep < b->reps; rep++) {
		for (unsigned i = 0; i < ARRAY_SIZE(row_specs); i++) {
			struct row_result *row = &b->rows[i];
			int64_t ns;

			if (!row->selected || row->err)
				continue;
			row->err = row_run(b, i, row->ops, &ns);
			if (row->err) {
				row->err_what = "run";
				continue;
			}
			row->ns_per_op[rep] = (double)ns / (double)row->ops;
		}
	}

	print_report(b);
	for (unsigned i = 0; i < ARRAY_SIZE(row_specs); i++) {
		failed |= b->rows[i].selected && b->rows[i].err;
		if (b->rows[i].has_ring)
			uring_exit(&b->rows[i].ring);
	}
	close(b->fd);
	free(b->read_order);
	free(b->bufs);
	free(b);
	return failed;
}
