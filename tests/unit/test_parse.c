// SPDX-License-Identifier: MIT
/*
 * The config/CLI value parsers: every accepted form, every error path, and the round trip
 * of format_size_bytes() through parse_size_bytes() on boundary values.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "../common/suite_main.h"
#include "parse.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define SENTINEL UINT64_C(0x5a5a5a5a5a5a5a5a)

static const struct size_case {
	const char *text;
	int ret;
	uint64_t bytes;
} size_cases[] = {
	{ "0", 0, 0 },
	{ "00", 0, 0 },
	{ "1", 0, 1 },
	{ "4097", 0, 4097 },
	{ "0B", 0, 0 },
	{ "512B", 0, 512 },
	{ "512b", 0, 512 },
	{ "1K", 0, 1024 },
	{ "1k", 0, 1024 },
	{ "1KiB", 0, 1024 },
	{ "1kib", 0, 1024 },
	{ "1KIB", 0, 1024 },
	{ "2M", 0, 2ULL << 20 },
	{ "2m", 0, 2ULL << 20 },
	{ "2MiB", 0, 2ULL << 20 },
	{ "3G", 0, 3ULL << 30 },
	{ "3g", 0, 3ULL << 30 },
	{ "3GiB", 0, 3ULL << 30 },
	{ "1536M", 0, 1536ULL << 20 },
	{ "4T", 0, 4ULL << 40 },
	{ "4t", 0, 4ULL << 40 },
	{ "4TiB", 0, 4ULL << 40 },
	{ "0T", 0, 0 },
	{ "18446744073709551615", 0, UINT64_MAX },
	{ "18446744073709551615B", 0, UINT64_MAX },
	{ "16777215T", 0, 16777215ULL << 40 },
	{ "17179869183G", 0, 17179869183ULL << 30 },
	/* Syntax. */
	{ "", -EINVAL, 0 },
	{ "K", -EINVAL, 0 },
	{ "B", -EINVAL, 0 },
	{ "+1", -EINVAL, 0 },
	{ "-1", -EINVAL, 0 },
	{ " 1", -EINVAL, 0 },
	{ "1 ", -EINVAL, 0 },
	{ "1 K", -EINVAL, 0 },
	{ "\t1", -EINVAL, 0 },
	{ "0x10", -EINVAL, 0 },
	{ "0X10", -EINVAL, 0 },
	{ "1.5G", -EINVAL, 0 },
	{ "1,5G", -EINVAL, 0 },
	{ "1e3", -EINVAL, 0 },
	{ "16E", -EINVAL, 0 },
	{ "1P", -EINVAL, 0 },
	{ "1KB", -EINVAL, 0 },
	{ "1Ki", -EINVAL, 0 },
	{ "1iB", -EINVAL, 0 },
	{ "1KiBx", -EINVAL, 0 },
	{ "1GG", -EINVAL, 0 },
	{ "1BB", -EINVAL, 0 },
	{ "1Gx", -EINVAL, 0 },
	{ "12abc", -EINVAL, 0 },
	{ "99999999999999999999999x", -EINVAL, 0 },
	/* Range. */
	{ "18446744073709551616", -ERANGE, 0 },
	{ "99999999999999999999999", -ERANGE, 0 },
	{ "99999999999999999999999K", -ERANGE, 0 },
	{ "17179869184G", -ERANGE, 0 },
	{ "16777216T", -ERANGE, 0 },
	{ "18014398509481984K", -ERANGE, 0 },
	{ "18446744073709551615K", -ERANGE, 0 },
};

START_TEST(test_size_table)
{
	const struct size_case *c = &size_cases[_i];
	uint64_t bytes = SENTINEL;

	ck_assert_msg(parse_size_bytes(c->text, &bytes) == c->ret, "\"%s\": want %d", c->text,
		      c->ret);
	/* Written on success only. */
	ck_assert_uint_eq(bytes, c->ret ? SENTINEL : c->bytes);
}
END_TEST

static const uint64_t round_trip_values[] = {
	0,
	1,
	1023,
	1024,
	1025,
	4097,
	(1ULL << 20) - 1,
	1ULL << 20,
	1536ULL << 20,
	1ULL << 30,
	1ULL << 40,
	(1ULL << 40) + 1024,
	1ULL << 63,
	(1ULL << 63) - 1,
	UINT64_MAX - 1023,
	UINT64_MAX,
};

START_TEST(test_size_round_trip)
{
	char buf[SIZE_BYTES_STR_MAX];
	uint64_t in = round_trip_values[_i], out = SENTINEL;

	ck_assert_ptr_eq(format_size_bytes(in, buf, sizeof(buf)), buf);
	ck_assert_msg(parse_size_bytes(buf, &out) == 0, "\"%s\" does not parse", buf);
	ck_assert_uint_eq(out, in);
}
END_TEST

START_TEST(test_size_format)
{
	char buf[SIZE_BYTES_STR_MAX];

	ck_assert_str_eq(format_size_bytes(0, buf, sizeof(buf)), "0");
	ck_assert_str_eq(format_size_bytes(1, buf, sizeof(buf)), "1");
	ck_assert_str_eq(format_size_bytes(1023, buf, sizeof(buf)), "1023");
	ck_assert_str_eq(format_size_bytes(1024, buf, sizeof(buf)), "1K");
	ck_assert_str_eq(format_size_bytes(4097, buf, sizeof(buf)), "4097");
	ck_assert_str_eq(format_size_bytes(1ULL << 20, buf, sizeof(buf)), "1M");
	ck_assert_str_eq(format_size_bytes(1073741824, buf, sizeof(buf)), "1G");
	ck_assert_str_eq(format_size_bytes(1536ULL << 20, buf, sizeof(buf)), "1536M");
	ck_assert_str_eq(format_size_bytes(1ULL << 40, buf, sizeof(buf)), "1T");
	ck_assert_str_eq(format_size_bytes(1ULL << 63, buf, sizeof(buf)), "8388608T");
	ck_assert_str_eq(format_size_bytes(UINT64_MAX - 1023, buf, sizeof(buf)),
			 "18014398509481983K");
	ck_assert_str_eq(format_size_bytes(UINT64_MAX, buf, sizeof(buf)), "18446744073709551615");
	ck_assert_uint_eq(strlen(buf) + 1, SIZE_BYTES_STR_MAX);
	/* A short buffer is truncated and terminated, never overrun. */
	memset(buf, 'x', sizeof(buf));
	ck_assert_str_eq(format_size_bytes(1536ULL << 20, buf, 3), "15");
	ck_assert_int_eq(buf[3], 'x');
}
END_TEST

/* Up to four CPU ranges (first, last); an empty range ends the list. */
static const struct cpu_case {
	const char *text;
	int ret;
	int ranges[4][2];
} cpu_cases[] = {
	{ "5", 0, { { 5, 5 }, { -1, -2 } } },
	{ "0", 0, { { 0, 0 }, { -1, -2 } } },
	{ "0-3,6", 0, { { 0, 3 }, { 6, 6 }, { -1, -2 } } },
	{ "0,2-4,7-7", 0, { { 0, 0 }, { 2, 4 }, { 7, 7 }, { -1, -2 } } },
	{ "6,0-3", 0, { { 0, 3 }, { 6, 6 }, { -1, -2 } } },
	{ "1,1,1-2", 0, { { 1, 2 }, { -1, -2 } } },
	{ "007", 0, { { 7, 7 }, { -1, -2 } } },
	{ "0-1023", 0, { { 0, CPU_SETSIZE - 1 }, { -1, -2 } } },
	{ "1023", 0, { { CPU_SETSIZE - 1, CPU_SETSIZE - 1 }, { -1, -2 } } },
	/* Syntax. */
	{ "", -EINVAL, { { -1, -2 } } },
	{ ",", -EINVAL, { { -1, -2 } } },
	{ "1,,2", -EINVAL, { { -1, -2 } } },
	{ "1,", -EINVAL, { { -1, -2 } } },
	{ ",1", -EINVAL, { { -1, -2 } } },
	{ "3-1", -EINVAL, { { -1, -2 } } },
	{ "1-", -EINVAL, { { -1, -2 } } },
	{ "-1", -EINVAL, { { -1, -2 } } },
	{ "1--2", -EINVAL, { { -1, -2 } } },
	{ "1-2-3", -EINVAL, { { -1, -2 } } },
	{ "+1", -EINVAL, { { -1, -2 } } },
	{ " 1", -EINVAL, { { -1, -2 } } },
	{ "1 ", -EINVAL, { { -1, -2 } } },
	{ "1, 2", -EINVAL, { { -1, -2 } } },
	{ "1 -2", -EINVAL, { { -1, -2 } } },
	{ "0x1", -EINVAL, { { -1, -2 } } },
	{ "a", -EINVAL, { { -1, -2 } } },
	{ "1;2", -EINVAL, { { -1, -2 } } },
	{ "1024x", -EINVAL, { { -1, -2 } } },
	/* Range. */
	{ "1024", -ERANGE, { { -1, -2 } } },
	{ "0-1024", -ERANGE, { { -1, -2 } } },
	{ "1,1024", -ERANGE, { { -1, -2 } } },
	{ "1024-2000", -ERANGE, { { -1, -2 } } },
	{ "99999999999999999999999", -ERANGE, { { -1, -2 } } },
};

START_TEST(test_cpu_table)
{
	const struct cpu_case *c = &cpu_cases[_i];
	cpu_set_t got, want, sentinel;

	CPU_ZERO(&sentinel);
	CPU_SET(42, &sentinel);
	CPU_SET(999, &sentinel);
	got = sentinel;
	ck_assert_msg(parse_cpu_list(c->text, &got) == c->ret, "\"%s\": want %d", c->text, c->ret);
	if (c->ret) {
		ck_assert_msg(CPU_EQUAL(&got, &sentinel), "\"%s\": set changed on error", c->text);
		return;
	}
	CPU_ZERO(&want);
	for (int r = 0; r < 4 && c->ranges[r][0] <= c->ranges[r][1]; r++)
		for (int cpu = c->ranges[r][0]; cpu <= c->ranges[r][1]; cpu++)
			CPU_SET(cpu, &want);
	ck_assert_msg(CPU_EQUAL(&got, &want), "\"%s\": wrong set (%d CPUs)", c->text,
		      CPU_COUNT(&got));
}
END_TEST

static const struct bool_case {
	const char *text;
	int ret;
	bool value;
} bool_cases[] = {
	{ "yes", 0, true },    { "YES", 0, true },    { "Yes", 0, true },
	{ "no", 0, false },    { "NO", 0, false },    { "true", 0, true },
	{ "TRUE", 0, true },   { "false", 0, false }, { "FaLsE", 0, false },
	{ "on", 0, true },     { "ON", 0, true },     { "off", 0, false },
	{ "Off", 0, false },   { "1", 0, true },      { "0", 0, false },
	{ "", -EINVAL, 0 },    { "y", -EINVAL, 0 },   { "n", -EINVAL, 0 },
	{ "2", -EINVAL, 0 },   { "01", -EINVAL, 0 },  { "yes ", -EINVAL, 0 },
	{ " no", -EINVAL, 0 }, { "onn", -EINVAL, 0 }, { "truefalse", -EINVAL, 0 },
};

START_TEST(test_bool_table)
{
	const struct bool_case *c = &bool_cases[_i];
	bool value = !c->value;

	ck_assert_msg(parse_bool(c->text, &value) == c->ret, "\"%s\": want %d", c->text, c->ret);
	ck_assert_int_eq(value, c->ret ? !c->value : c->value);
}
END_TEST

static const struct u32_case {
	const char *text;
	uint32_t min, max;
	int ret;
	uint32_t value;
} u32_cases[] = {
	{ "0", 0, UINT32_MAX, 0, 0 },
	{ "42", 0, UINT32_MAX, 0, 42 },
	{ "0042", 0, 100, 0, 42 },
	{ "4294967295", 0, UINT32_MAX, 0, UINT32_MAX },
	{ "1", 1, 1, 0, 1 },
	{ "10", 1, 10, 0, 10 },
	{ "", 0, UINT32_MAX, -EINVAL, 0 },
	{ "+1", 0, UINT32_MAX, -EINVAL, 0 },
	{ "-1", 0, UINT32_MAX, -EINVAL, 0 },
	{ " 1", 0, UINT32_MAX, -EINVAL, 0 },
	{ "1 ", 0, UINT32_MAX, -EINVAL, 0 },
	{ "0x10", 0, UINT32_MAX, -EINVAL, 0 },
	{ "1.0", 0, UINT32_MAX, -EINVAL, 0 },
	{ "1K", 0, UINT32_MAX, -EINVAL, 0 },
	{ "abc", 0, UINT32_MAX, -EINVAL, 0 },
	{ "99999999999999999999999x", 0, UINT32_MAX, -EINVAL, 0 },
	{ "4294967296", 0, UINT32_MAX, -ERANGE, 0 },
	{ "18446744073709551616", 0, UINT32_MAX, -ERANGE, 0 },
	{ "0", 1, 10, -ERANGE, 0 },
	{ "11", 1, 10, -ERANGE, 0 },
	{ "5", 6, 6, -ERANGE, 0 },
};

START_TEST(test_u32_table)
{
	const struct u32_case *c = &u32_cases[_i];
	uint32_t value = 0xa5a5a5a5;

	ck_assert_msg(parse_u32(c->text, c->min, c->max, &value) == c->ret,
		      "\"%s\" in [%u, %u]: want %d", c->text, c->min, c->max, c->ret);
	ck_assert_uint_eq(value, c->ret ? 0xa5a5a5a5 : c->value);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("parse");
	TCase *tc = tcase_create("parse");

	tcase_add_loop_test(tc, test_size_table, 0, ARRAY_SIZE(size_cases));
	tcase_add_loop_test(tc, test_size_round_trip, 0, ARRAY_SIZE(round_trip_values));
	tcase_add_test(tc, test_size_format);
	tcase_add_loop_test(tc, test_cpu_table, 0, ARRAY_SIZE(cpu_cases));
	tcase_add_loop_test(tc, test_bool_table, 0, ARRAY_SIZE(bool_cases));
	tcase_add_loop_test(tc, test_u32_table, 0, ARRAY_SIZE(u32_cases));
	suite_add_tcase(s, tc);
	return suite_main(s);
}
