// SPDX-License-Identifier: MIT
/* Fault injection (src/fault.c): the spec read back as written, and which I/O it hits. */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "fault.h"
#include "../common/suite_main.h"

static struct fault_conf parsed(const char *text)
{
	struct fault_conf fc;
	char err[256] = "";

	ck_assert_msg(fault_conf_parse(text, &fc, err, sizeof(err)) == 0, "%s: %s", text, err);
	return fc;
}

/* Each spec, formatted, parses back to the same conf and the same text. */
START_TEST(test_round_trip)
{
	static const char *const specs[] = {
		"off",
		"error=eio",
		"error=enodata,ops=read,from=4294967295,rate=0.0001%",
		"error=none,delay=3600s,ops=flush+discard",
		"delay=1us,error=etimedout,rate=99.9999%",
		"ops=write+read,error=eopnotsupp",
	};
	char text[FAULT_SPEC_MAX], again[FAULT_SPEC_MAX];

	for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
		struct fault_conf fc = parsed(specs[i]), back;

		fault_conf_format(&fc, text, sizeof(text));
		back = parsed(text);
		ck_assert_msg(!memcmp(&fc, &back, sizeof(fc)), "%s -> %s", specs[i], text);
		ck_assert_str_eq(fault_conf_format(&back, again, sizeof(again)), text);
	}
}
END_TEST

/* from=N: the first N-1 matching I/Os pass, every one after is hit; other ops never count. */
START_TEST(test_from_and_ops)
{
	struct fault_conf fc = parsed("error=enospc,ops=write,from=3,delay=5ms");
	struct fault f;
	struct fault_hit hit;
	uint64_t matched, hits;

	fault_init(&f, &fc);
	for (int i = 1; i <= 6; i++) {
		ck_assert(!fault_check(&f, FAULT_OP_READ, &hit));
		ck_assert(!fault_check(&f, FAULT_OP_FLUSH, &hit));
		memset(&hit, 0, sizeof(hit));
		ck_assert_int_eq(fault_check(&f, FAULT_OP_WRITE, &hit), i >= 3);
		if (i >= 3) {
			ck_assert_int_eq(hit.error, ENOSPC);
			ck_assert_uint_eq(hit.delay_us, 5000);
		}
	}
	fault_get(&f, &fc, &matched, &hits);
	ck_assert_uint_eq(matched, 6);
	ck_assert_uint_eq(hits, 4);

	/* Set again: counting starts over. */
	fault_set(&f, &fc);
	ck_assert(!fault_check(&f, FAULT_OP_WRITE, &hit));
	/* Off: nothing is hit, nothing counted. */
	fc = parsed("off");
	fault_set(&f, &fc);
	ck_assert(!fault_check(&f, FAULT_OP_WRITE, &hit));
	fault_get(&f, &fc, &matched, &hits);
	ck_assert_uint_eq(matched, 0);
	fault_init(&f, NULL);
	ck_assert(!fault_check(&f, FAULT_OP_READ, &hit));
}
END_TEST

/* rate=10%: about a tenth of 100000 I/Os (well within 5 standard deviations). */
START_TEST(test_rate)
{
	struct fault_conf fc = parsed("error=eio,rate=10%");
	struct fault f;
	struct fault_hit hit;
	unsigned hits = 0;

	fault_init(&f, &fc);
	for (int i = 0; i < 100000; i++)
		hits += fault_check(&f, FAULT_OP_READ, &hit);
	ck_assert_msg(hits > 9500 && hits < 10500, "%u hits of 100000 at 10%%", hits);
}
END_TEST

#define THREADS 4
#define CHECKS 200000

static struct fault shared;

static void *check_many(void *arg)
{
	struct fault_hit hit;
	uintptr_t hits = 0;

	(void)arg;
	for (int i = 0; i < CHECKS; i++)
		hits += fault_check(&shared, FAULT_OP_DISCARD, &hit);
	return (void *)hits;
}

/* Queue threads share a device's state: not one I/O lost from the counts, hits exact. */
START_TEST(test_threads)
{
	struct fault_conf fc = parsed("error=eio,ops=discard,from=1001");
	pthread_t t[THREADS];
	uint64_t matched, hits, total = 0;

	fault_init(&shared, &fc);
	for (int i = 0; i < THREADS; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, check_many, NULL), 0);
	for (int i = 0; i < THREADS; i++) {
		void *ret;

		ck_assert_int_eq(pthread_join(t[i], &ret), 0);
		total += (uintptr_t)ret;
	}
	fault_get(&shared, &fc, &matched, &hits);
	ck_assert_uint_eq(matched, (uint64_t)THREADS * CHECKS);
	ck_assert_uint_eq(hits, matched - 1000);
	ck_assert_uint_eq(total, hits);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("fault");
	TCase *tc = tcase_create("fault");

	tcase_add_test(tc, test_round_trip);
	tcase_add_test(tc, test_from_and_ops);
	tcase_add_test(tc, test_rate);
	tcase_add_test(tc, test_threads);
	suite_add_tcase(s, tc);
	return suite_main(s);
}
