// SPDX-License-Identifier: MIT
/*
 * The device state machine against a fake kernel: every transition from every state (legal
 * ones run their op and move, illegal ones are refused and change nothing), dev_create()
 * unwinding from a failure at each step, and dev_destroy() from each state.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "../common/suite_main.h"
#include "../common/ublkd_test.h"
#include "device.h"

enum fake_op {
	OP_ADD,
	OP_SET_PARAMS,
	OP_START_QUEUES,
	OP_START,
	OP_STOP,
	OP_STOP_QUEUES,
	OP_DEL,
	OP_FIND,
	OP_BEGIN_RECOVERY,
	OP_END_RECOVERY,
	NR_OPS
};

static const char op_letters[NR_OPS] = "apqsSQdfbe";

/* What the fake kernel has, and the ops called in order ("apqs" for a good create). */
struct fake {
	int fail[NR_OPS];	     /* -errno to fail that op with */
	unsigned fail_times[NR_OPS]; /* ... only this many times (0: every time) */
	bool in_kernel;
	bool params_set;
	bool queues_up;
	bool started;
	char calls[64];
};

static struct fake fake;

static void record(enum fake_op op)
{
	size_t n = strlen(fake.calls);

	ck_assert_uint_lt(n, sizeof(fake.calls) - 1);
	fake.calls[n] = op_letters[op];
}

/* The -errno op fails with this time (0: it succeeds): fail[op], fail_times[op] times. */
static int failure(enum fake_op op)
{
	int err = fake.fail[op];

	if (err && fake.fail_times[op] && !--fake.fail_times[op])
		fake.fail[op] = 0;
	return err;
}

static int fake_add(struct device *d)
{
	record(OP_ADD);
	if (fake.fail[OP_ADD])
		return failure(OP_ADD);
	ck_assert(!fake.in_kernel);
	fake.in_kernel = true;
	d->info.dev_id = 7;
	return 0;
}

static int fake_set_params(struct device *d)
{
	(void)d;
	record(OP_SET_PARAMS);
	if (fake.fail[OP_SET_PARAMS])
		return failure(OP_SET_PARAMS);
	ck_assert(fake.in_kernel);
	fake.params_set = true;
	return 0;
}

static int fake_start_queues(struct device *d)
{
	(void)d;
	record(OP_START_QUEUES);
	if (fake.fail[OP_START_QUEUES])
		return failure(OP_START_QUEUES);
	ck_assert(fake.params_set && !fake.queues_up);
	fake.queues_up = true;
	return 0;
}

static int fake_start(struct device *d)
{
	(void)d;
	record(OP_START);
	if (fake.fail[OP_START])
		return failure(OP_START);
	ck_assert(fake.queues_up);
	fake.started = true;
	return 0;
}

static int fake_stop(struct device *d)
{
	(void)d;
	record(OP_STOP);
	if (fake.fail[OP_STOP])
		return failure(OP_STOP);
	fake.started = false;
	return 0;
}

static void fake_stop_queues(struct device *d)
{
	(void)d;
	record(OP_STOP_QUEUES);
	ck_assert(fake.queues_up);
	fake.queues_up = false;
	fake.started = false; /* closing the rings makes the kernel abort the device */
}

static int fake_del(struct device *d)
{
	(void)d;
	record(OP_DEL);
	if (fake.fail[OP_DEL])
		return failure(OP_DEL);
	ck_assert(fake.in_kernel && !fake.queues_up);
	fake.in_kernel = false;
	return 0;
}

/* A dead server's device: in the kernel with its params, nothing of ours running. */
static int fake_find(struct device *d)
{
	record(OP_FIND);
	if (fake.fail[OP_FIND])
		return failure(OP_FIND);
	ck_assert(!fake.in_kernel);
	fake.in_kernel = true;
	fake.params_set = true;
	d->info.dev_id = 7;
	return 0;
}

static int fake_begin_recovery(struct device *d)
{
	(void)d;
	record(OP_BEGIN_RECOVERY);
	if (fake.fail[OP_BEGIN_RECOVERY])
		return failure(OP_BEGIN_RECOVERY);
	ck_assert(fake.in_kernel && fake.params_set && !fake.queues_up);
	return 0;
}

static int fake_end_recovery(struct device *d)
{
	(void)d;
	record(OP_END_RECOVERY);
	if (fake.fail[OP_END_RECOVERY])
		return failure(OP_END_RECOVERY);
	ck_assert(fake.queues_up);
	fake.started = true;
	return 0;
}

static const struct dev_kernel_ops fake_ops = {
	.add = fake_add,
	.set_params = fake_set_params,
	.start_queues = fake_start_queues,
	.start = fake_start,
	.stop = fake_stop,
	.stop_queues = fake_stop_queues,
	.del = fake_del,
	.find = fake_find,
	.begin_recovery = fake_begin_recovery,
	.end_recovery = fake_end_recovery,
};

static struct device dev;

typedef int (*transition_step)(struct device *);

static void setup(void)
{
	struct dev_conf conf;

	memset(&fake, 0, sizeof(fake));
	memset(&conf, 0, sizeof(conf));
	conf.id = DEV_ID_ANY;
	strcpy(conf.name, "t");
	dev_init(&dev, &conf, &fake_ops);
	/* One try unless a test says otherwise: a retried -EBUSY would repeat "b" below. */
	dev.recovery_busy_ms = 0;
}

/* The adoption path's states: find, begin_recovery, start_queues from NEW. */
static bool reach_adoption(enum dev_state s)
{
	static const enum dev_state path[] = { DEV_ORPHANED, DEV_RECOVERING, DEV_REFETCHING };
	static const transition_step steps[] = { dev_find, dev_begin_recovery, dev_start_queues };

	for (unsigned i = 0; i < 3; i++) {
		if (s == path[i]) {
			for (unsigned j = 0; j <= i; j++)
				ck_assert_int_eq(steps[j](&dev), 0);
			ck_assert_int_eq(dev.state, s);
			memset(fake.calls, 0, sizeof(fake.calls));
			return true;
		}
	}
	return false;
}

/* Puts the device (and the fake kernel) in state s the legal way, then forgets the calls. */
static void reach(enum dev_state s)
{
	if (reach_adoption(s))
		return;
	static const enum dev_state path[] = { DEV_NEW,	 DEV_ADDED,   DEV_CONFIGURED, DEV_FETCHING,
					       DEV_LIVE, DEV_STOPPED, DEV_DRAINED,    DEV_DELETED };

	for (unsigned i = 1; i < sizeof(path) / sizeof(path[0]) && dev.state != s; i++) {
		int ret = 0;

		switch (path[i]) {
		case DEV_ADDED:
			ret = dev_add(&dev);
			break;
		case DEV_CONFIGURED:
			ret = dev_set_params(&dev);
			break;
		case DEV_FETCHING:
			ret = dev_start_queues(&dev);
			break;
		case DEV_LIVE:
			ret = dev_start(&dev);
			break;
		case DEV_STOPPED:
			ret = dev_stop(&dev);
			break;
		case DEV_DRAINED:
			ret = dev_stop_queues(&dev);
			break;
		case DEV_DELETED:
			ret = dev_del(&dev);
			break;
		default:
			break;
		}
		ck_assert_int_eq(ret, 0);
	}
	ck_assert_int_eq(dev.state, s);
	memset(fake.calls, 0, sizeof(fake.calls));
}

typedef int (*transition_fn)(struct device *);

static const struct {
	const char *name;
	transition_fn fn;
	unsigned legal_from; /* bit per state */
	enum dev_state to;
	char op;
} transitions[] = {
	{ "add", dev_add, 1U << DEV_NEW, DEV_ADDED, 'a' },
	{ "set_params", dev_set_params, 1U << DEV_ADDED, DEV_CONFIGURED, 'p' },
	/* Adoption fetches the same way: to REFETCHING from RECOVERING (see the test). */
	{ "start_queues", dev_start_queues, 1U << DEV_CONFIGURED | 1U << DEV_RECOVERING,
	  DEV_FETCHING, 'q' },
	{ "start", dev_start, 1U << DEV_FETCHING, DEV_LIVE, 's' },
	{ "stop", dev_stop, 1U << DEV_LIVE, DEV_STOPPED, 'S' },
	{ "stop_queues", dev_stop_queues,
	  1U << DEV_FETCHING | 1U << DEV_LIVE | 1U << DEV_STOPPED | 1U << DEV_REFETCHING,
	  DEV_DRAINED, 'Q' },
	{ "del", dev_del,
	  1U << DEV_ADDED | 1U << DEV_CONFIGURED | 1U << DEV_DRAINED | 1U << DEV_ORPHANED |
		  1U << DEV_RECOVERING,
	  DEV_DELETED, 'd' },
	{ "find", dev_find, 1U << DEV_NEW, DEV_ORPHANED, 'f' },
	{ "begin_recovery", dev_begin_recovery, 1U << DEV_ORPHANED, DEV_RECOVERING, 'b' },
	{ "end_recovery", dev_end_recovery, 1U << DEV_REFETCHING, DEV_LIVE, 'e' },
};

#define NR_TRANSITIONS (sizeof(transitions) / sizeof(transitions[0]))

/* _i = transition * DEV_NR_STATES + state: each transition tried from each state. */
START_TEST(test_transition_from_state)
{
	unsigned t = (unsigned)_i / DEV_NR_STATES;
	enum dev_state from = (enum dev_state)(_i % DEV_NR_STATES);
	bool legal = transitions[t].legal_from & (1U << from);
	char expect_calls[2] = { transitions[t].op, '\0' };
	int ret;

	reach(from);
	ret = transitions[t].fn(&dev);
	if (legal) {
		ck_assert_msg(ret == 0, "%s from %s: %d", transitions[t].name, dev_state_name(from),
			      ret);
		ck_assert_int_eq(dev.state,
				 from == DEV_RECOVERING && transitions[t].to == DEV_FETCHING
					 ? DEV_REFETCHING
					 : transitions[t].to);
		ck_assert_str_eq(fake.calls, expect_calls);
	} else {
		ck_assert_msg(ret == -EBADFD, "%s from %s: %d", transitions[t].name,
			      dev_state_name(from), ret);
		ck_assert_int_eq(dev.state, from);
		ck_assert_str_eq(fake.calls, "");
		ck_assert_ptr_nonnull(strstr(dev.err, transitions[t].name));
		ck_assert_ptr_nonnull(strstr(dev.err, dev_state_name(from)));
	}
}
END_TEST

/* A failing op leaves the state where it was and names itself in err. */
START_TEST(test_failed_transition_keeps_state)
{
	static const enum fake_op ops[] = { OP_ADD,   OP_SET_PARAMS, OP_START_QUEUES,
					    OP_START, OP_STOP,	     OP_DEL };
	static const enum dev_state from[] = { DEV_NEW,	     DEV_ADDED, DEV_CONFIGURED,
					       DEV_FETCHING, DEV_LIVE,	DEV_ADDED };
	static const transition_fn fns[] = { dev_add,	dev_set_params, dev_start_queues,
					     dev_start, dev_stop,	dev_del };

	reach(from[_i]);
	fake.fail[ops[_i]] = -EIO;
	ck_assert_int_eq(fns[_i](&dev), -EIO);
	ck_assert_int_eq(dev.state, from[_i]);
	ck_assert_ptr_nonnull(strstr(dev.err, strerror(EIO)));
}
END_TEST

START_TEST(test_create_ok)
{
	ck_assert_int_eq(dev_create(&dev), 0);
	ck_assert_int_eq(dev.state, DEV_LIVE);
	ck_assert_str_eq(fake.calls, "apqs");
	ck_assert(fake.in_kernel && fake.queues_up && fake.started);
	ck_assert_int_eq(dev.info.dev_id, 7);
}
END_TEST

/* A failure at each step of dev_create() unwinds exactly what was done before it. */
START_TEST(test_create_unwinds)
{
	static const struct {
		enum fake_op fail;
		const char *calls;
	} cases[] = {
		{ OP_ADD, "a" },
		{ OP_SET_PARAMS, "apd" },
		{ OP_START_QUEUES, "apqd" },
		{ OP_START, "apqsQd" },
	};

	fake.fail[cases[_i].fail] = -ETIMEDOUT;
	ck_assert_int_eq(dev_create(&dev), -ETIMEDOUT);
	ck_assert_str_eq(fake.calls, cases[_i].calls);
	ck_assert(!fake.in_kernel && !fake.queues_up && !fake.started);
	/* Even a failed ADD_DEV ends in DELETED: a device is never reused. */
	ck_assert_int_eq(dev.state, DEV_DELETED);
	/* The message is the cause, not what the unwinding printed over it. */
	ck_assert_ptr_nonnull(strstr(dev.err, strerror(ETIMEDOUT)));
}
END_TEST

START_TEST(test_destroy_from_each_state)
{
	static const char *const calls[DEV_NR_STATES] = {
		[DEV_NEW] = "",		[DEV_ADDED] = "d",	 [DEV_CONFIGURED] = "d",
		[DEV_FETCHING] = "Qd",	[DEV_LIVE] = "SQd",	 [DEV_STOPPED] = "Qd",
		[DEV_DRAINED] = "d",	[DEV_DELETED] = "",	 [DEV_ORPHANED] = "d",
		[DEV_RECOVERING] = "d", [DEV_REFETCHING] = "Qd",
	};

	reach((enum dev_state)_i);
	ck_assert_int_eq(dev_destroy(&dev), 0);
	ck_assert_int_eq(dev.state, DEV_DELETED);
	ck_assert_str_eq(fake.calls, calls[_i]);
	ck_assert(!fake.in_kernel && !fake.queues_up && !fake.started);
}
END_TEST

/* STOP_DEV failing (a stuck kernel) still lets the queues go and deletes the device. */
START_TEST(test_destroy_stop_fails)
{
	reach(DEV_LIVE);
	fake.fail[OP_STOP] = -ETIMEDOUT;
	ck_assert_int_eq(dev_destroy(&dev), -ETIMEDOUT);
	ck_assert_str_eq(fake.calls, "SQd");
	ck_assert_int_eq(dev.state, DEV_DELETED);
	ck_assert(!fake.in_kernel);
	ck_assert_ptr_nonnull(strstr(dev.err, "stop"));
}
END_TEST

/* DEL_DEV failing leaves the device where the kernel has it, and says so. */
START_TEST(test_destroy_del_fails)
{
	reach(DEV_LIVE);
	fake.fail[OP_DEL] = -EBUSY;
	ck_assert_int_eq(dev_destroy(&dev), -EBUSY);
	ck_assert_str_eq(fake.calls, "SQd");
	ck_assert_int_eq(dev.state, DEV_DRAINED);
	ck_assert(fake.in_kernel);
	/* A retry finishes the job. */
	fake.fail[OP_DEL] = 0;
	ck_assert_int_eq(dev_destroy(&dev), 0);
	ck_assert_int_eq(dev.state, DEV_DELETED);
}
END_TEST

START_TEST(test_adopt_ok)
{
	ck_assert_int_eq(dev_adopt(&dev), 0);
	ck_assert_int_eq(dev.state, DEV_LIVE);
	ck_assert_str_eq(fake.calls, "fbqe");
	ck_assert(fake.in_kernel && fake.queues_up && fake.started);
	/* An adopted device goes away like any other. */
	memset(fake.calls, 0, sizeof(fake.calls));
	ck_assert_int_eq(dev_destroy(&dev), 0);
	ck_assert_str_eq(fake.calls, "SQd");
}
END_TEST

/*
 * A failure at each step of adoption: a device that find refused is left as the kernel has it
 * (someone else's, or no such device); once found, it is unwound and deleted.
 */
START_TEST(test_adopt_unwinds)
{
	static const struct {
		enum fake_op fail;
		int err;
		const char *calls;
		bool in_kernel_after;
		enum dev_state state;
	} cases[] = {
		{ OP_FIND, -EBUSY, "f", false, DEV_NEW },
		{ OP_BEGIN_RECOVERY, -EBUSY, "fbd", false, DEV_DELETED },
		{ OP_START_QUEUES, -ENOMEM, "fbqd", false, DEV_DELETED },
		{ OP_END_RECOVERY, -ETIMEDOUT, "fbqeQd", false, DEV_DELETED },
	};

	fake.fail[cases[_i].fail] = cases[_i].err;
	ck_assert_int_eq(dev_adopt(&dev), cases[_i].err);
	ck_assert_str_eq(fake.calls, cases[_i].calls);
	ck_assert(fake.in_kernel == cases[_i].in_kernel_after && !fake.queues_up && !fake.started);
	ck_assert_int_eq(dev.state, cases[_i].state);
	ck_assert_ptr_nonnull(strstr(dev.err, strerror(-cases[_i].err)));
}
END_TEST

/*
 * The dead server's /dev/ublkcN may still be closing: START_USER_RECOVERY's -EBUSY is retried
 * (every 50 ms, for recovery_busy_ms), and a device still busy after that is unwound.
 */
START_TEST(test_adopt_busy_retried)
{
	int64_t start;

	dev.recovery_busy_ms = 1000;
	fake.fail[OP_BEGIN_RECOVERY] = -EBUSY;
	fake.fail_times[OP_BEGIN_RECOVERY] = 3;
	ck_assert_int_eq(dev_adopt(&dev), 0);
	ck_assert_str_eq(fake.calls, "fbbbbqe");
	ck_assert_int_eq(dev.state, DEV_LIVE);

	setup();
	dev.recovery_busy_ms = 100;
	fake.fail[OP_BEGIN_RECOVERY] = -EBUSY;
	start = now_ms();
	ck_assert_int_eq(dev_adopt(&dev), -EBUSY);
	ck_assert_int_ge(now_ms() - start, 100);
	ck_assert_str_eq(fake.calls, "fbbbd");
	ck_assert_int_eq(dev.state, DEV_DELETED);
}
END_TEST

START_TEST(test_state_names)
{
	for (unsigned s = 0; s < DEV_NR_STATES; s++) {
		ck_assert_ptr_nonnull(dev_state_name((enum dev_state)s));
		ck_assert_str_ne(dev_state_name((enum dev_state)s), "invalid");
		for (unsigned o = 0; o < s; o++)
			ck_assert_str_ne(dev_state_name((enum dev_state)s),
					 dev_state_name((enum dev_state)o));
	}
	ck_assert_str_eq(dev_state_name((enum dev_state)DEV_NR_STATES), "invalid");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("device");
	TCase *tc = tcase_create("state machine");

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_loop_test(tc, test_transition_from_state, 0,
			    (int)(NR_TRANSITIONS * DEV_NR_STATES));
	tcase_add_loop_test(tc, test_failed_transition_keeps_state, 0, 6);
	tcase_add_test(tc, test_create_ok);
	tcase_add_loop_test(tc, test_create_unwinds, 0, 4);
	tcase_add_loop_test(tc, test_destroy_from_each_state, 0, DEV_NR_STATES);
	tcase_add_test(tc, test_destroy_stop_fails);
	tcase_add_test(tc, test_destroy_del_fails);
	tcase_add_test(tc, test_adopt_ok);
	tcase_add_loop_test(tc, test_adopt_unwinds, 0, 4);
	tcase_add_test(tc, test_adopt_busy_retried);
	tcase_add_test(tc, test_state_names);
	suite_add_tcase(s, tc);
	return suite_main(s);
}
