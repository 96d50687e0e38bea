// SPDX-License-Identifier: MIT
/* Fault injection for tests (include/fault.h): the spec, and the decision per I/O. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "fault.h"
#include "parse.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static const struct {
	const char *name;
	int error;
} fault_errors[] = {
	{ "none", 0 },
	{ "eio", EIO },
	{ "enospc", ENOSPC },
	{ "enodata", ENODATA },
	{ "eopnotsupp", EOPNOTSUPP },
	{ "etimedout", ETIMEDOUT },
};

static const struct {
	const char *name;
	uint32_t bit;
} fault_ops[] = {
	{ "read", FAULT_OP_READ },
	{ "write", FAULT_OP_WRITE },
	{ "flush", FAULT_OP_FLUSH },
	{ "discard", FAULT_OP_DISCARD },
};

static const struct {
	const char *suffix;
	uint32_t us;
} fault_delay_units[] = { { "us", 1 }, { "ms", 1000 }, { "s", 1000000 } };

__attribute__((format(printf, 3, 4))) static int fail(char *err, size_t err_bytes, const char *fmt,
						      ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, err_bytes, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* "read+write" or "all" */
static int parse_ops(const char *text, uint32_t *ops)
{
	char buf[64], *word, *save = NULL;

	if (!strcmp(text, "all")) {
		*ops = FAULT_OP_ALL;
		return 0;
	}
	if (snprintf(buf, sizeof(buf), "%s", text) >= (int)sizeof(buf))
		return -EINVAL;
	*ops = 0;
	for (word = strtok_r(buf, "+", &save); word; word = strtok_r(NULL, "+", &save)) {
		size_t i = 0;

		while (i < ARRAY_SIZE(fault_ops) && strcmp(word, fault_ops[i].name))
			i++;
		if (i == ARRAY_SIZE(fault_ops))
			return -EINVAL;
		*ops |= fault_ops[i].bit;
	}
	/* strtok_r skips empty words: "read++write" or "+read" would pass without this. */
	if (!*ops || text[0] == '+' || text[strlen(text) - 1] == '+' || strstr(text, "++"))
		return -EINVAL;
	return 0;
}

/* "10%", "0.5%", "100%": parts per million, 1 to 1000000. */
static int parse_rate(const char *text, uint32_t *ppm)
{
	const char *p = text;
	uint64_t v = 0;
	unsigned frac_digits = 0;

	if (*p < '0' || *p > '9')
		return -EINVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		v = v * 10 + (uint64_t)(*p - '0');
		if (v > 100)
			return -EINVAL;
	}
	v *= 10000;
	if (*p == '.') {
		uint64_t scale = 1000;

		if (p[1] < '0' || p[1] > '9')
			return -EINVAL;
		for (p++; *p >= '0' && *p <= '9'; p++) {
			if (++frac_digits > 4)
				return -EINVAL;
			v += (uint64_t)(*p - '0') * scale;
			scale /= 10;
		}
	}
	if (strcmp(p, "%") || !v || v > FAULT_RATE_ALL)
		return -EINVAL;
	*ppm = (uint32_t)v;
	return 0;
}

/* "250us", "40ms", "8s": 0 to FAULT_DELAY_MAX_US. */
static int parse_delay(const char *text, uint32_t *us)
{
	size_t digits = strspn(text, "0123456789");
	char number[16];
	uint32_t n;

	if (!digits || digits >= sizeof(number))
		return -EINVAL;
	memcpy(number, text, digits);
	number[digits] = '\0';
	for (size_t i = 0; i < ARRAY_SIZE(fault_delay_units); i++) {
		uint32_t unit = fault_delay_units[i].us;

		if (strcmp(text + digits, fault_delay_units[i].suffix))
			continue;
		if (parse_u32(number, 0, FAULT_DELAY_MAX_US / unit, &n))
			return -EINVAL;
		*us = n * unit;
		return 0;
	}
	return -EINVAL;
}

int fault_conf_parse(const char *text, struct fault_conf *fc, char *err, size_t err_bytes)
{
	struct fault_conf c = {
		.ops = FAULT_OP_ALL, .error = EIO, .from = 1, .rate_ppm = FAULT_RATE_ALL
	};
	char buf[FAULT_SPEC_MAX * 2], *item, *save = NULL;
	uint32_t seen = 0, n;

	if (!strcmp(text, "off")) {
		memset(fc, 0, sizeof(*fc));
		return 0;
	}
	if (snprintf(buf, sizeof(buf), "%s", text) >= (int)sizeof(buf))
		return fail(err, err_bytes, "too long (at most %zu bytes)", sizeof(buf) - 1);
	if (!buf[0] || buf[0] == ',' || buf[strlen(buf) - 1] == ',' || strstr(buf, ",,"))
		return fail(err, err_bytes,
			    "not KEY=VALUE items separated by commas, or \"off\" (keys: error, "
			    "ops, from, rate, delay)");
	for (item = strtok_r(buf, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
		char *value = strchr(item, '=');
		static const char *const keys[] = { "error", "ops", "from", "rate", "delay" };
		size_t key = 0;
		int ret = -EINVAL;

		if (value)
			*value++ = '\0';
		while (key < ARRAY_SIZE(keys) && strcmp(item, keys[key]))
			key++;
		if (key == ARRAY_SIZE(keys) || !value)
			return fail(err, err_bytes,
				    "item \"%.32s\": not one of error=, ops=, from=, rate=, delay=",
				    item);
		if (seen & (1U << key))
			return fail(err, err_bytes, "%s given twice", keys[key]);
		seen |= 1U << key;
		switch (key) {
		case 0:
			for (size_t i = 0; i < ARRAY_SIZE(fault_errors) && ret; i++)
				if (!strcmp(value, fault_errors[i].name)) {
					c.error = fault_errors[i].error;
					ret = 0;
				}
			if (ret)
				return fail(err, err_bytes,
					    "error=%.32s: not eio, enospc, enodata, eopnotsupp, "
					    "etimedout or none",
					    value);
			break;
		case 1:
			if (parse_ops(value, &c.ops))
				return fail(err, err_bytes,
					    "ops=%.32s: not read, write, flush, discard joined by "
					    "'+', or all",
					    value);
			break;
		case 2:
			if (parse_u32(value, 1, UINT32_MAX, &n))
				return fail(err, err_bytes,
					    "from=%.32s: not an I/O number (1 to %u)", value,
					    UINT32_MAX);
			c.from = n;
			break;
		case 3:
			if (parse_rate(value, &c.rate_ppm))
				return fail(
					err, err_bytes,
					"rate=%.32s: not a percentage (like 10%% or 0.5%%; more "
					"than 0, at most 100%%, 4 decimals)",
					value);
			break;
		case 4:
			if (parse_delay(value, &c.delay_us))
				return fail(err, err_bytes,
					    "delay=%.32s: not a delay (like 250us, 40ms or 8s; at "
					    "most 3600s)",
					    value);
			break;
		}
	}
	if (!c.error && !c.delay_us)
		return fail(err, err_bytes, "error=none without a delay does nothing");
	*fc = c;
	return 0;
}

char *fault_conf_format(const struct fault_conf *fc, char *buf, size_t buf_bytes)
{
	const char *error = "?";
	char ops[40] = "";
	size_t n;

	if (!fc->ops) {
		snprintf(buf, buf_bytes, "off");
		return buf;
	}
	for (size_t i = 0; i < ARRAY_SIZE(fault_errors); i++)
		if (fault_errors[i].error == fc->error)
			error = fault_errors[i].name;
	if (fc->ops == FAULT_OP_ALL)
		strcpy(ops, "all");
	for (size_t i = 0; fc->ops != FAULT_OP_ALL && i < ARRAY_SIZE(fault_ops); i++)
		if (fc->ops & fault_ops[i].bit)
			snprintf(ops + strlen(ops), sizeof(ops) - strlen(ops), "%s%s",
				 ops[0] ? "+" : "", fault_ops[i].name);
	n = (size_t)snprintf(buf, buf_bytes, "error=%s,ops=%s,from=%llu,rate=%u.%04u%%", error, ops,
			     (unsigned long long)fc->from, fc->rate_ppm / 10000,
			     fc->rate_ppm % 10000);
	if (fc->delay_us && n < buf_bytes)
		snprintf(buf + n, buf_bytes - n, ",delay=%uus", fc->delay_us);
	return buf;
}

static void fault_lock(struct fault *f)
{
	while (__atomic_test_and_set(&f->lock, __ATOMIC_ACQUIRE))
		while (__atomic_load_n(&f->lock, __ATOMIC_RELAXED))
			;
}

static void fault_unlock(struct fault *f)
{
	__atomic_clear(&f->lock, __ATOMIC_RELEASE);
}

void fault_init(struct fault *f, const struct fault_conf *fc)
{
	memset(f, 0, sizeof(*f));
	f->rng = 0x9e3779b97f4a7c15ULL;
	if (fc)
		fault_set(f, fc);
}

void fault_set(struct fault *f, const struct fault_conf *fc)
{
	fault_lock(f);
	f->conf = *fc;
	f->nr_matched = 0;
	f->nr_hit = 0;
	__atomic_store_n(&f->active, fc->ops && !f->suspended, __ATOMIC_RELAXED);
	fault_unlock(f);
}

void fault_suspend(struct fault *f, bool suspended)
{
	fault_lock(f);
	f->suspended = suspended;
	__atomic_store_n(&f->active, f->conf.ops && !suspended, __ATOMIC_RELAXED);
	fault_unlock(f);
}

void fault_get(struct fault *f, struct fault_conf *fc, uint64_t *nr_matched, uint64_t *nr_hit)
{
	fault_lock(f);
	*fc = f->conf;
	*nr_matched = f->nr_matched;
	*nr_hit = f->nr_hit;
	fault_unlock(f);
}

/* xorshift64: rate needs spread, not quality; one state per device keeps runs repeatable. */
static uint64_t fault_next_random(struct fault *f)
{
	f->rng ^= f->rng << 13;
	f->rng ^= f->rng >> 7;
	f->rng ^= f->rng << 17;
	return f->rng;
}

/*
 * The lock serialises the queues of a device only while a fault is set, which is a test's
 * business; without one, fault_check() costs a load.
 */
bool fault_check_slow(struct fault *f, uint32_t op, struct fault_hit *hit)
{
	bool is_hit = false;

	fault_lock(f);
	if ((f->conf.ops & op) && !f->suspended) {
		f->nr_matched++;
		is_hit = f->nr_matched >= f->conf.from &&
			 (f->conf.rate_ppm >= FAULT_RATE_ALL ||
			  fault_next_random(f) % FAULT_RATE_ALL < f->conf.rate_ppm);
		if (is_hit) {
			f->nr_hit++;
			hit->error = f->conf.error;
			hit->delay_us = f->conf.delay_us;
		}
	}
	fault_unlock(f);
	return is_hit;
}
