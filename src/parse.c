// SPDX-License-Identifier: MIT
/* Strict value parsers for the config file and the CLI; see parse.h. */
#include <errno.h>
#include <stdio.h>
#include <strings.h>

#include "parse.h"

/*
 * Reads the decimal digits at *p and moves *p past all of them. strtoull is not used because it
 * takes leading spaces, signs and "0x". Returns -EINVAL when there is no digit and -ERANGE on
 * overflow (the digits are still consumed, so the caller can report syntax errors first).
 */
static int read_decimal(const char **p, uint64_t *value)
{
	const char *s = *p;
	uint64_t v = 0;
	bool overflow = false;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	for (; *s >= '0' && *s <= '9'; s++) {
		unsigned digit = (unsigned)(*s - '0');

		if (v > (UINT64_MAX - digit) / 10)
			overflow = true;
		else
			v = v * 10 + digit;
	}
	*p = s;
	if (overflow)
		return -ERANGE;
	*value = v;
	return 0;
}

static const struct size_suffix {
	char letter;
	unsigned shift;
} size_suffixes[] = { { 'K', 10 }, { 'M', 20 }, { 'G', 30 }, { 'T', 40 } };

/* The shift that a suffix means, or -EINVAL. */
static int size_suffix_shift(const char *suffix)
{
	if (!*suffix)
		return 0;
	if (!strcasecmp(suffix, "B"))
		return 0;
	for (size_t i = 0; i < sizeof(size_suffixes) / sizeof(size_suffixes[0]); i++) {
		char upper = suffix[0] & ~0x20;

		if (upper != size_suffixes[i].letter)
			continue;
		if (!suffix[1] || !strcasecmp(suffix + 1, "iB"))
			return (int)size_suffixes[i].shift;
	}
	return -EINVAL;
}

int parse_size_bytes(const char *text, uint64_t *bytes)
{
	const char *p = text;
	uint64_t v = 0;
	int ret, shift;

	ret = read_decimal(&p, &v);
	if (ret == -EINVAL)
		return ret;
	shift = size_suffix_shift(p);
	if (shift < 0)
		return shift;
	if (ret)
		return ret;
	if (v > UINT64_MAX >> shift)
		return -ERANGE;
	*bytes = v << shift;
	return 0;
}

int parse_cpu_list(const char *text, cpu_set_t *cpus)
{
	const char *p = text;
	bool out_of_range = false;
	cpu_set_t set;

	CPU_ZERO(&set);
	for (;;) {
		uint64_t first = 0, last;
		int ret;

		/* Syntax errors win over range errors, so keep parsing after an -ERANGE. */
		ret = read_decimal(&p, &first);
		if (ret == -EINVAL)
			return ret;
		if (ret || first >= CPU_SETSIZE)
			out_of_range = true;
		last = first;
		if (*p == '-') {
			p++;
			ret = read_decimal(&p, &last);
			if (ret == -EINVAL)
				return ret;
			if (ret || last >= CPU_SETSIZE)
				out_of_range = true;
			else if (last < first)
				return -EINVAL;
		}
		for (uint64_t cpu = first; !out_of_range && cpu <= last; cpu++)
			CPU_SET((size_t)cpu, &set);
		if (!*p)
			break;
		if (*p != ',')
			return -EINVAL;
		p++;
	}
	if (out_of_range)
		return -ERANGE;
	*cpus = set;
	return 0;
}

int parse_bool(const char *text, bool *value)
{
	static const char *const names[][2] = {
		{ "yes", "no" },
		{ "true", "false" },
		{ "on", "off" },
		{ "1", "0" },
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (!strcasecmp(text, names[i][0]) || !strcasecmp(text, names[i][1])) {
			*value = !strcasecmp(text, names[i][0]);
			return 0;
		}
	}
	return -EINVAL;
}

int parse_u32(const char *text, uint32_t min, uint32_t max, uint32_t *value)
{
	const char *p = text;
	uint64_t v = 0;
	int ret;

	ret = read_decimal(&p, &v);
	if (ret == -EINVAL || *p)
		return -EINVAL;
	if (ret || v < min || v > max)
		return -ERANGE;
	*value = (uint32_t)v;
	return 0;
}

char *format_size_bytes(uint64_t bytes, char *buf, size_t buf_bytes)
{
	size_t i = sizeof(size_suffixes) / sizeof(size_suffixes[0]);

	/* The largest unit that divides exactly gives the shortest form. */
	while (bytes && i-- > 0) {
		unsigned shift = size_suffixes[i].shift;

		if (!(bytes & ((UINT64_C(1) << shift) - 1))) {
			snprintf(buf, buf_bytes, "%llu%c", (unsigned long long)(bytes >> shift),
				 size_suffixes[i].letter);
			return buf;
		}
	}
	snprintf(buf, buf_bytes, "%llu", (unsigned long long)bytes);
	return buf;
}

char *format_cpu_list(const cpu_set_t *cpus, char *buf, size_t buf_bytes)
{
	size_t used = 0;

	if (buf_bytes)
		buf[0] = '\0';
	for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
		int last = cpu, n;

		if (!CPU_ISSET(cpu, cpus))
			continue;
		while (last + 1 < CPU_SETSIZE && CPU_ISSET(last + 1, cpus))
			last++;
		n = last == cpu
			    ? snprintf(buf + used, buf_bytes - used, "%s%d", used ? "," : "", cpu)
			    : snprintf(buf + used, buf_bytes - used, "%s%d-%d", used ? "," : "",
				       cpu, last);
		if (n < 0 || (size_t)n >= buf_bytes - used)
			break;
		used += (size_t)n;
		cpu = last;
	}
	return buf;
}
