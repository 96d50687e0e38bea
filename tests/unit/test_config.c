// SPDX-License-Identifier: MIT
/*
 * Device descriptions and the config file: every key accepted and refused with its exact
 * message, every parser error with its line, the dev_conf_write() -> config_parse() round trip,
 * and ublkd.conf.example itself, so the example cannot drift from the code.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/suite_main.h"
#include "config.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define EXAMPLE "ublkd.conf.example"
/* A literal's text and length, NUL bytes included. */
#define TEXT(s) s, sizeof(s) - 1
/* Two lines that make a valid device. */
#define NULL_DEV "backend = null\nsize = 1G\n"

/* Sets each "key=value" line of keys (no spaces around '='); every one must be accepted. */
static void conf_from(struct dev_conf *c, const char *keys)
{
	char err[DEV_ERR_MAX], *copy = strdup(keys), *line, *save = NULL;

	ck_assert_ptr_nonnull(copy);
	dev_conf_init(c, "test");
	for (line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *eq = strchr(line, '=');

		ck_assert_ptr_nonnull(eq);
		*eq = '\0';
		ck_assert_msg(!dev_conf_set(c, line, eq + 1, err, sizeof(err)), "%s = %s: %s", line,
			      eq + 1, err);
	}
	free(copy);
}

/* What dev_conf_write() writes, in a malloc()ed string. */
static char *written(const struct dev_conf *c)
{
	char *text = NULL;
	size_t bytes = 0;
	FILE *out = open_memstream(&text, &bytes);

	ck_assert_ptr_nonnull(out);
	ck_assert_int_eq(dev_conf_write(c, out), 0);
	ck_assert_int_eq(fclose(out), 0);
	return text;
}

/* Parses len bytes of text as the file "t.conf"; the file as a whole must be readable. */
static void parse_text(const char *text, size_t len, struct config *cfg)
{
	char err[CONFIG_ERR_MAX] = "";
	FILE *in = len ? fmemopen((void *)text, len, "r") : fopen("/dev/null", "re");

	ck_assert_ptr_nonnull(in);
	ck_assert_msg(!config_parse(in, "t.conf", cfg, err, sizeof(err)), "%s", err);
	fclose(in);
}

static char *repeat(char ch, size_t n)
{
	char *s = malloc(n + 1);

	ck_assert_ptr_nonnull(s);
	memset(s, ch, n);
	s[n] = '\0';
	return s;
}

/*
 * dev_conf_set(), one key on a fresh conf. out: on success what dev_conf_write() then writes
 * (so the table checks set and write together), on error the message.
 */
static const struct set_case {
	const char *key, *value;
	int ret;
	const char *out;
} set_cases[] = {
	{ "name", "a", 0, "[device \"a\"]\n" },
	{ "name", "A", 0, "[device \"A\"]\n" },
	{ "name", "0a", 0, "[device \"0a\"]\n" },
	{ "name", "a0", 0, "[device \"a0\"]\n" },
	{ "name", "_", 0, "[device \"_\"]\n" },
	{ "name", ".", 0, "[device \".\"]\n" },
	{ "name", "a-", 0, "[device \"a-\"]\n" },
	{ "name", "x.y_z-1", 0, "[device \"x.y_z-1\"]\n" },
	{ "name", "ublk0", 0, "[device \"ublk0\"]\n" },
	{ "name", "", -EINVAL, "name \"\": empty (1 to 63 letters, digits, '_', '.' or '-')" },
	{ "name", "a b", -EINVAL, "name \"a b\": only letters, digits, '_', '.' and '-' allowed" },
	{ "name", "a/b", -EINVAL, "name \"a/b\": only letters, digits, '_', '.' and '-' allowed" },
	{ "name", "a\"b", -EINVAL,
	  "name \"a\"b\": only letters, digits, '_', '.' and '-' allowed" },
	{ "name", "caf\xc3\xa9", -EINVAL,
	  "name \"caf\xc3\xa9\": only letters, digits, '_', '.' and '-' allowed" },
	{ "name", "a\tb", -EINVAL, "name \"a?b\": only letters, digits, '_', '.' and '-' allowed" },
	{ "name", "-a", -EINVAL, "name \"-a\": must not start with '-'" },
	{ "name", "-", -EINVAL, "name \"-\": must not start with '-'" },
	{ "name", "-1", -EINVAL, "name \"-1\": must not start with '-'" },
	{ "name", "123", -EINVAL, "name \"123\": must not be all digits (that is an id)" },
	{ "name", "0", -EINVAL, "name \"0\": must not be all digits (that is an id)" },

	{ "id", "0", 0, "id = 0\n" },
	{ "id", "1048575", 0, "id = 1048575\n" },
	{ "id", "007", 0, "id = 7\n" },
	{ "id", "1048576", -ERANGE, "id \"1048576\": out of range (0 to 1048575)" },
	{ "id", "4294967296", -ERANGE, "id \"4294967296\": out of range (0 to 1048575)" },
	{ "id", "-1", -EINVAL, "id \"-1\": not a whole number (0 to 1048575)" },
	{ "id", "", -EINVAL, "id \"\": not a whole number (0 to 1048575)" },
	{ "id", "any", -EINVAL, "id \"any\": not a whole number (0 to 1048575)" },

	{ "backend", "null", 0, "backend = null\n" },
	{ "backend", "memory", 0, "backend = memory\n" },
	{ "backend", "file", 0, "backend = file\n" },
	{ "backend", "ram", -EINVAL, "backend \"ram\": unknown backend (null, memory or file)" },
	{ "backend", "", -EINVAL, "backend \"\": unknown backend (null, memory or file)" },
	{ "backend", "none", -EINVAL, "backend \"none\": unknown backend (null, memory or file)" },
	{ "backend", "Memory", -EINVAL,
	  "backend \"Memory\": unknown backend (null, memory or file)" },

	{ "recovery", "reissue", 0, "recovery = reissue\n" },
	{ "recovery", "fail", 0, "recovery = fail\n" },
	{ "recovery", "none", 0, "recovery = none\n" },
	{ "recovery", "off", -EINVAL,
	  "recovery \"off\": not a recovery mode (reissue, fail or none)" },
	{ "recovery", "", -EINVAL, "recovery \"\": not a recovery mode (reissue, fail or none)" },

	{ "inject", "off", 0, "inject = off\n" },
	{ "inject", "error=eio", 0, "inject = error=eio,ops=all,from=1,rate=100.0000%\n" },
	{ "inject", "ops=write+flush,error=enospc,from=1000,rate=0.5%", 0,
	  "inject = error=enospc,ops=write+flush,from=1000,rate=0.5000%\n" },
	{ "inject", "error=none,delay=40s,ops=read", 0,
	  "inject = error=none,ops=read,from=1,rate=100.0000%,delay=40000000us\n" },
	{ "inject", "delay=250us,ops=discard+read+write+flush", 0,
	  "inject = error=eio,ops=all,from=1,rate=100.0000%,delay=250us\n" },
	{ "inject", "rate=0.0001%", 0, "inject = error=eio,ops=all,from=1,rate=0.0001%\n" },
	{ "inject", "", -EINVAL,
	  "inject \"\": not KEY=VALUE items separated by commas, or \"off\" (keys: error, ops, "
	  "from, rate, delay)" },
	{ "inject", "error=eio,", -EINVAL,
	  "inject \"error=eio,\": not KEY=VALUE items separated by commas, or \"off\" (keys: "
	  "error, ops, from, rate, delay)" },
	{ "inject", "error=EIO", -EINVAL,
	  "inject \"error=EIO\": error=EIO: not eio, enospc, enodata, eopnotsupp, etimedout or "
	  "none" },
	{ "inject", "error=none", -EINVAL,
	  "inject \"error=none\": error=none without a delay does nothing" },
	{ "inject", "ops=read++write", -EINVAL,
	  "inject \"ops=read++write\": ops=read++write: not read, write, flush, discard joined by "
	  "'+', or all" },
	{ "inject", "ops=", -EINVAL,
	  "inject \"ops=\": ops=: not read, write, flush, discard joined by '+', or all" },
	{ "inject", "from=0", -EINVAL,
	  "inject \"from=0\": from=0: not an I/O number (1 to 4294967295)" },
	{ "inject", "rate=0%", -EINVAL,
	  "inject \"rate=0%\": rate=0%: not a percentage (like 10% or 0.5%; more than 0, at most "
	  "100%, 4 decimals)" },
	{ "inject", "rate=100.5%", -EINVAL,
	  "inject \"rate=100.5%\": rate=100.5%: not a percentage (like 10% or 0.5%; more than 0, "
	  "at most 100%, 4 decimals)" },
	{ "inject", "rate=0.00001%", -EINVAL,
	  "inject \"rate=0.00001%\": rate=0.00001%: not a percentage (like 10% or 0.5%; more than "
	  "0, at most 100%, 4 decimals)" },
	{ "inject", "rate=10", -EINVAL,
	  "inject \"rate=10\": rate=10: not a percentage (like 10% or 0.5%; more than 0, at most "
	  "100%, 4 decimals)" },
	{ "inject", "delay=3601s", -EINVAL,
	  "inject \"delay=3601s\": delay=3601s: not a delay (like 250us, 40ms or 8s; at most "
	  "3600s)" },
	{ "inject", "delay=5", -EINVAL,
	  "inject \"delay=5\": delay=5: not a delay (like 250us, 40ms or 8s; at most 3600s)" },
	{ "inject", "error=eio,error=eio", -EINVAL,
	  "inject \"error=eio,error=eio\": error given twice" },
	{ "inject", "errors=eio", -EINVAL,
	  "inject \"errors=eio\": item \"errors\": not one of error=, ops=, from=, rate=, delay=" },
	{ "inject", "eio", -EINVAL,
	  "inject \"eio\": item \"eio\": not one of error=, ops=, from=, rate=, delay=" },

	{ "size", "1G", 0, "size = 1G\n" },
	{ "size", "1536M", 0, "size = 1536M\n" },
	{ "size", "1073741824", 0, "size = 1G\n" },
	{ "size", "1KiB", 0, "size = 1K\n" },
	{ "size", "512", 0, "size = 512\n" },
	{ "size", "4097", 0, "size = 4097\n" },
	{ "size", "18446744073709551615", 0, "size = 18446744073709551615\n" },
	{ "size", "1Q", -EINVAL,
	  "size \"1Q\": not a size (bytes, with an optional K, M, G or T suffix)" },
	{ "size", "", -EINVAL,
	  "size \"\": not a size (bytes, with an optional K, M, G or T suffix)" },
	{ "size", " 1G", -EINVAL,
	  "size \" 1G\": not a size (bytes, with an optional K, M, G or T suffix)" },
	{ "size", "1.5G", -EINVAL,
	  "size \"1.5G\": not a size (bytes, with an optional K, M, G or T suffix)" },
	{ "size", "-1", -EINVAL,
	  "size \"-1\": not a size (bytes, with an optional K, M, G or T suffix)" },
	{ "size", "0", -ERANGE, "size \"0\": must be more than 0" },
	{ "size", "0K", -ERANGE, "size \"0K\": must be more than 0" },
	{ "size", "18446744073709551616", -ERANGE,
	  "size \"18446744073709551616\": too large (at most 18446744073709551615 bytes)" },
	{ "size", "16777216T", -ERANGE,
	  "size \"16777216T\": too large (at most 18446744073709551615 bytes)" },

	{ "block_size", "512", 0, "block_size = 512\n" },
	{ "block_size", "4096", 0, "block_size = 4096\n" },
	{ "block_size", "4K", 0, "block_size = 4096\n" },
	{ "block_size", "4KiB", 0, "block_size = 4096\n" },
	{ "block_size", "512B", 0, "block_size = 512\n" },
	{ "block_size", "1024", -EINVAL, "block_size \"1024\": must be 512 or 4096" },
	{ "block_size", "0", -EINVAL, "block_size \"0\": must be 512 or 4096" },
	{ "block_size", "8K", -EINVAL, "block_size \"8K\": must be 512 or 4096" },
	{ "block_size", "", -EINVAL, "block_size \"\": must be 512 or 4096" },
	{ "block_size", "x", -EINVAL, "block_size \"x\": must be 512 or 4096" },
	{ "block_size", "4096 ", -EINVAL, "block_size \"4096 \": must be 512 or 4096" },

	{ "path", "/var/lib/ublkd/disk.img", 0, "path = /var/lib/ublkd/disk.img\n" },
	{ "path", "disk.img", 0, "path = disk.img\n" },
	{ "path", "../a b/c", 0, "path = ../a b/c\n" },
	{ "path", "a\"b", 0, "path = a\"b\n" },
	{ "path", "a\\b", 0, "path = a\\b\n" },
	{ "path", "a=b", 0, "path = a=b\n" },
	{ "path", "a#b", 0, "path = \"a#b\"\n" },
	{ "path", "# x", 0, "path = \"# x\"\n" },
	{ "path", " lead", 0, "path = \" lead\"\n" },
	{ "path", "trail ", 0, "path = \"trail \"\n" },
	{ "path", "\"q", 0, "path = \"\\\"q\"\n" },
	{ "path", " a\\\" ", 0, "path = \" a\\\\\\\" \"\n" },
	{ "path", "", -EINVAL, "path \"\": empty (a file or block device)" },
	{ "path", "a\nb", -EINVAL, "path \"a?b\": contains a control character" },
	{ "path", "a\tb", -EINVAL, "path \"a?b\": contains a control character" },
	{ "path", "\x7f", -EINVAL, "path \"?\": contains a control character" },

	{ "create", "yes", 0, "create = yes\n" },
	{ "create", "no", 0, "create = no\n" },
	{ "create", "TRUE", 0, "create = yes\n" },
	{ "create", "off", 0, "create = no\n" },
	{ "create", "maybe", -EINVAL,
	  "create \"maybe\": not a boolean (yes, no, true, false, on, off, 1 or 0)" },
	{ "direct_io", "1", 0, "direct_io = yes\n" },
	{ "direct_io", "false", 0, "direct_io = no\n" },
	{ "direct_io", "", -EINVAL,
	  "direct_io \"\": not a boolean (yes, no, true, false, on, off, 1 or 0)" },
	{ "read_only", "on", 0, "read_only = yes\n" },
	{ "read_only", "0", 0, "read_only = no\n" },
	{ "read_only", "y", -EINVAL,
	  "read_only \"y\": not a boolean (yes, no, true, false, on, off, 1 or 0)" },

	{ "queues", "1", 0, "queues = 1\n" },
	{ "queues", "4096", 0, "queues = 4096\n" },
	{ "queues", "0", -ERANGE, "queues \"0\": out of range (1 to 4096)" },
	{ "queues", "4097", -ERANGE, "queues \"4097\": out of range (1 to 4096)" },
	{ "queues", "x", -EINVAL, "queues \"x\": not a whole number (1 to 4096)" },
	{ "queues", "", -EINVAL, "queues \"\": not a whole number (1 to 4096)" },
	{ "queues", "+1", -EINVAL, "queues \"+1\": not a whole number (1 to 4096)" },
	{ "queues", "1.5", -EINVAL, "queues \"1.5\": not a whole number (1 to 4096)" },
	{ "depth", "1", 0, "depth = 1\n" },
	{ "depth", "128", 0, "depth = 128\n" },
	{ "depth", "4096", 0, "depth = 4096\n" },
	{ "depth", "0", -ERANGE, "depth \"0\": out of range (1 to 4096)" },
	{ "depth", "4097", -ERANGE, "depth \"4097\": out of range (1 to 4096)" },
	{ "depth", "-5", -EINVAL, "depth \"-5\": not a whole number (1 to 4096)" },

	{ "cpus", "0-3,6", 0, "cpus = 0-3,6\n" },
	{ "cpus", "6,0-3", 0, "cpus = 0-3,6\n" },
	{ "cpus", "1,2,3", 0, "cpus = 1-3\n" },
	{ "cpus", "0,2", 0, "cpus = 0,2\n" },
	{ "cpus", "5-5", 0, "cpus = 5\n" },
	{ "cpus", "1023", 0, "cpus = 1023\n" },
	{ "cpus", "0-1023", 0, "cpus = 0-1023\n" },
	{ "cpus", "0,1022-1023", 0, "cpus = 0,1022-1023\n" },
	{ "cpus", "", -EINVAL, "cpus \"\": not a CPU list (like 0-3,6)" },
	{ "cpus", "a", -EINVAL, "cpus \"a\": not a CPU list (like 0-3,6)" },
	{ "cpus", "3-1", -EINVAL, "cpus \"3-1\": not a CPU list (like 0-3,6)" },
	{ "cpus", "1,", -EINVAL, "cpus \"1,\": not a CPU list (like 0-3,6)" },
	{ "cpus", "1024", -ERANGE, "cpus \"1024\": CPU out of range (0 to 1023)" },

	{ "sise", "1G", -ENOENT, "unknown key \"sise\"" },
	{ "Size", "1G", -ENOENT, "unknown key \"Size\"" },
	{ "block-size", "512", -ENOENT, "unknown key \"block-size\"" },
	{ "", "1G", -ENOENT, "unknown key \"\"" },
	{ "a\x1b[2J", "1", -ENOENT, "unknown key \"a?[2J\"" },
};

static int key_index(const char *key)
{
	for (int i = 0; i < DEV_KEY_COUNT; i++)
		if (!strcmp(key, dev_conf_keys[i]))
			return i;
	return -1;
}

START_TEST(test_set_table)
{
	const struct set_case *t = &set_cases[_i];
	struct dev_conf c, before;
	char err[DEV_ERR_MAX] = "";
	char *text;
	int ret;

	dev_conf_init(&c, "test");
	before = c;
	ret = dev_conf_set(&c, t->key, t->value, err, sizeof(err));
	ck_assert_msg(ret == t->ret, "%s = \"%s\": %d, want %d (%s)", t->key, t->value, ret, t->ret,
		      err);
	if (ret) {
		ck_assert_str_eq(err, t->out);
		ck_assert_msg(!memcmp(&c, &before, sizeof(c)), "conf changed on error");
		return;
	}
	ck_assert_uint_eq(c.given, DEV_GIVEN(key_index(t->key)));
	text = written(&c);
	ck_assert_str_eq(text, t->out);
	free(text);
}
END_TEST

/* The fields themselves, for the values the table only sees written back. */
START_TEST(test_set_fields)
{
	static const char keys[] =
		"name=x\nid=9\nbackend=file\nsize=3G\nblock_size=4K\npath=/a\n"
		"create=yes\ndirect_io=on\nread_only=1\nqueues=3\ndepth=64\ncpus=1,3-4\n"
		"recovery=fail\nio_mode=zero_copy\ninject=error=enospc,ops=write,from=7,rate=25%,"
		"delay=3ms";
	struct dev_conf c;
	cpu_set_t cpus;

	conf_from(&c, keys);
	ck_assert_str_eq(c.name, "x");
	ck_assert_uint_eq(c.id, 9);
	ck_assert_int_eq(c.backend, BACKEND_FILE);
	ck_assert_uint_eq(c.size_bytes, 3ULL << 30);
	ck_assert_uint_eq(c.block_size, 4096);
	ck_assert_str_eq(c.path, "/a");
	ck_assert(c.create && c.direct_io && c.read_only);
	ck_assert_uint_eq(c.queues, 3);
	ck_assert_uint_eq(c.depth, 64);
	ck_assert(c.cpus_given);
	CPU_ZERO(&cpus);
	CPU_SET(1, &cpus);
	CPU_SET(3, &cpus);
	CPU_SET(4, &cpus);
	ck_assert(CPU_EQUAL(&c.cpus, &cpus));
	ck_assert_int_eq(c.recovery, RECOVERY_FAIL);
	ck_assert_int_eq(c.io_mode, IO_MODE_ZERO_COPY);
	ck_assert_uint_eq(c.inject.ops, FAULT_OP_WRITE);
	ck_assert_int_eq(c.inject.error, ENOSPC);
	ck_assert_uint_eq(c.inject.from, 7);
	ck_assert_uint_eq(c.inject.rate_ppm, 250000);
	ck_assert_uint_eq(c.inject.delay_us, 3000);
	ck_assert_uint_eq(c.given, DEV_GIVEN(DEV_KEY_COUNT) - 1);
	ck_assert_str_eq(c.origin, "test");
}
END_TEST

/* A key set again takes the new value; a CPU list replaces the old one. */
START_TEST(test_set_again)
{
	static const char keys[] = "queues=2\nqueues=3\ncpus=0-7\ncpus=5\ncreate=yes\ncreate=no";
	struct dev_conf c;
	cpu_set_t cpus;

	conf_from(&c, keys);
	ck_assert_uint_eq(c.queues, 3);
	ck_assert(!c.create);
	CPU_ZERO(&cpus);
	CPU_SET(5, &cpus);
	ck_assert(CPU_EQUAL(&c.cpus, &cpus));
}
END_TEST

START_TEST(test_init_defaults)
{
	struct dev_conf c;
	char *origin = repeat('o', DEV_ORIGIN_MAX + 10);

	memset(&c, 0xa5, sizeof(c));
	dev_conf_init(&c, "here:1");
	ck_assert_str_eq(c.name, "");
	ck_assert_uint_eq(c.id, DEV_ID_ANY);
	ck_assert_int_eq(c.backend, BACKEND_NONE);
	ck_assert_uint_eq(c.size_bytes, 0);
	ck_assert_str_eq(c.path, "");
	ck_assert(!c.create && !c.direct_io && !c.read_only && !c.cpus_given);
	ck_assert_uint_eq(c.queues, DEV_DEFAULT_QUEUES);
	ck_assert_uint_eq(c.depth, DEV_DEFAULT_DEPTH);
	ck_assert_uint_eq(c.block_size, 0);
	ck_assert_int_eq(CPU_COUNT(&c.cpus), 0);
	ck_assert_uint_eq(c.given, 0);
	ck_assert_str_eq(c.origin, "here:1");

	dev_conf_init(&c, NULL);
	ck_assert_str_eq(c.origin, "");
	dev_conf_init(&c, origin);
	ck_assert_uint_eq(strlen(c.origin), DEV_ORIGIN_MAX - 1);
	ck_assert(!strncmp(c.origin, origin, DEV_ORIGIN_MAX - 1));
	free(origin);
}
END_TEST

/* Values too long for their field, and long values cut in the message. */
START_TEST(test_set_long_values)
{
	char err[DEV_ERR_MAX], want[DEV_ERR_MAX];
	char *name63 = repeat('n', 63), *name64 = repeat('n', 64), *name65 = repeat('n', 65);
	char *path_max = repeat('p', PATH_MAX), *cut = repeat('p', 64);
	struct dev_conf c;

	dev_conf_init(&c, "test");
	ck_assert_int_eq(dev_conf_set(&c, "name", name63, err, sizeof(err)), 0);
	ck_assert_str_eq(c.name, name63);
	ck_assert_int_eq(dev_conf_set(&c, "name", name64, err, sizeof(err)), -EINVAL);
	snprintf(want, sizeof(want), "name \"%s\": too long (at most 63 characters)", name64);
	ck_assert_str_eq(err, want);
	ck_assert_int_eq(dev_conf_set(&c, "name", name65, err, sizeof(err)), -EINVAL);
	snprintf(want, sizeof(want), "name \"%s...\": too long (at most 63 characters)", name64);
	ck_assert_str_eq(err, want);
	ck_assert_str_eq(c.name, name63);

	ck_assert_int_eq(dev_conf_set(&c, "path", path_max + 1, err, sizeof(err)), 0);
	ck_assert_str_eq(c.path, path_max + 1);
	ck_assert_int_eq(dev_conf_set(&c, "path", path_max, err, sizeof(err)), -ENAMETOOLONG);
	snprintf(want, sizeof(want), "path \"%s...\": too long (at most %d bytes)", cut,
		 PATH_MAX - 1);
	ck_assert_str_eq(err, want);
	ck_assert_str_eq(c.path, path_max + 1);
	free(name63);
	free(name64);
	free(name65);
	free(path_max);
	free(cut);
}
END_TEST

/* A short message buffer is cut and terminated; none at all is not written. */
START_TEST(test_set_short_err)
{
	struct dev_conf c;
	char err[8];

	dev_conf_init(&c, "test");
	memset(err, 'x', sizeof(err));
	ck_assert_int_eq(dev_conf_set(&c, "size", "1Q", err, 5), -EINVAL);
	ck_assert_str_eq(err, "size");
	ck_assert_int_eq(err[5], 'x');
	ck_assert_int_eq(dev_conf_set(&c, "sise", "1", NULL, 0), -ENOENT);
	ck_assert_int_eq(dev_conf_check(&c, NULL, 0), -EINVAL);
}
END_TEST

START_TEST(test_keys)
{
	char err[DEV_ERR_MAX], want[64];
	struct dev_conf c;
	unsigned n = 0;

	for (; dev_conf_keys[n]; n++) {
		/* Every key is known and refuses an empty value in its own name. */
		dev_conf_init(&c, "test");
		ck_assert_int_lt(dev_conf_set(&c, dev_conf_keys[n], "", err, sizeof(err)), 0);
		snprintf(want, sizeof(want), "%s \"\": ", dev_conf_keys[n]);
		ck_assert_msg(!strncmp(err, want, strlen(want)), "%s", err);
		ck_assert_int_eq(key_index(dev_conf_keys[n]), (int)n);
	}
	ck_assert_uint_eq(n, DEV_KEY_COUNT);
	ck_assert_str_eq(dev_conf_keys[DEV_KEY_BLOCK_SIZE], "block_size");
	ck_assert_str_eq(dev_conf_keys[DEV_KEY_CPUS], "cpus");
}
END_TEST

START_TEST(test_backend_kind_name)
{
	ck_assert_str_eq(backend_kind_name(BACKEND_NONE), "none");
	ck_assert_str_eq(backend_kind_name(BACKEND_NULL), "null");
	ck_assert_str_eq(backend_kind_name(BACKEND_MEMORY), "memory");
	ck_assert_str_eq(backend_kind_name(BACKEND_FILE), "file");
	ck_assert_str_eq(backend_kind_name((enum backend_kind)42), "unknown");
}
END_TEST

/* dev_conf_check(): keys as conf_from() takes them, and the message (NULL: valid). */
static const struct check_case {
	const char *keys;
	const char *err;
} check_cases[] = {
	{ "", "no backend (backend = null, memory or file)" },
	{ "size=1G", "no backend (backend = null, memory or file)" },
	{ "backend=null", "no size (the null backend needs one, e.g. size = 1G)" },
	{ "backend=memory", "no size (the memory backend needs one, e.g. size = 1G)" },
	{ "backend=null\nsize=512", NULL },
	{ "backend=memory\nsize=1G", NULL },
	{ "backend=memory\nsize=1G\nread_only=yes\nqueues=2\ndepth=1\ncpus=0", NULL },
	{ "backend=null\nsize=1G\npath=/x", "path: only for the file backend, not null" },
	{ "backend=memory\nsize=1G\ndirect_io=no",
	  "direct_io: only for the file backend, not memory" },
	{ "backend=memory\nsize=1G\ndirect_io=yes\ncreate=no\npath=x",
	  "path, create, direct_io: only for the file backend, not memory" },
	{ "backend=memory\ncreate=yes", "create: only for the file backend, not memory" },
	{ "backend=file", "no path (the file backend needs one, e.g. path = /var/lib/disk.img)" },
	{ "backend=file\nsize=1G\ncreate=yes",
	  "no path (the file backend needs one, e.g. path = /var/lib/disk.img)" },
	{ "backend=file\npath=x", NULL },
	{ "backend=file\npath=x\ncreate=no", NULL },
	{ "backend=file\npath=x\ncreate=yes",
	  "create = yes without a size (the size to create the file with)" },
	{ "backend=file\npath=x\ncreate=yes\nsize=4G\ndirect_io=yes", NULL },
	{ "backend=memory\nsize=1000", "size \"1000\": not a multiple of the block size (512)" },
	{ "backend=memory\nsize=1536\nblock_size=4096",
	  "size \"1536\": not a multiple of the block size (4096)" },
	{ "backend=memory\nsize=6K\nblock_size=4096",
	  "size \"6K\": not a multiple of the block size (4096)" },
	{ "backend=memory\nsize=8K\nblock_size=4096", NULL },
	{ "backend=memory\nsize=1536\nblock_size=512", NULL },
	{ "backend=file\npath=x\nsize=4097",
	  "size \"4097\": not a multiple of the block size (512)" },
};

START_TEST(test_check_table)
{
	const struct check_case *t = &check_cases[_i];
	char err[DEV_ERR_MAX] = "";
	struct dev_conf c;
	int ret;

	conf_from(&c, t->keys);
	ret = dev_conf_check(&c, err, sizeof(err));
	if (!t->err) {
		ck_assert_msg(ret == 0, "case %d: %s", _i, err);
		return;
	}
	ck_assert_int_eq(ret, -EINVAL);
	ck_assert_str_eq(err, t->err);
}
END_TEST

/* Given keys are written, default or not; keys not given are not. */
START_TEST(test_write_all)
{
	/* Backwards, to show that the order of dev_conf_keys[] is the order written. */
	static const char keys[] = "cpus=6,0-3\ndepth=128\nqueues=1\nread_only=yes\ndirect_io=no\n"
				   "create=yes\npath=/srv/a b.img\nblock_size=4096\nsize=1536M\n"
				   "backend=file\nid=7\nname=all";
	struct dev_conf c;
	char *text;

	dev_conf_init(&c, "test");
	text = written(&c);
	ck_assert_str_eq(text, "");
	free(text);

	conf_from(&c, keys);
	text = written(&c);
	ck_assert_str_eq(text, "[device \"all\"]\n"
			       "id = 7\n"
			       "backend = file\n"
			       "size = 1536M\n"
			       "block_size = 4096\n"
			       "path = /srv/a b.img\n"
			       "create = yes\n"
			       "direct_io = no\n"
			       "read_only = yes\n"
			       "queues = 1\n"
			       "depth = 128\n"
			       "cpus = 0-3,6\n");
	free(text);
}
END_TEST

/* A stream that fails at any byte fails the write, whichever part of a line it is in. */
START_TEST(test_write_error)
{
	static const char keys[] = "name=a\nid=1\nbackend=file\nsize=1G\npath= \"x\\ \ncreate=yes\n"
				   "queues=2\ncpus=0-3,6";
	struct dev_conf c;
	char *text, buf[256];
	size_t len;

	conf_from(&c, keys);
	text = written(&c);
	len = strlen(text);
	ck_assert_uint_lt(len, sizeof(buf));
	/* glibc's fmemopen() keeps a byte for a NUL, and cuts the write that meets it short. */
	for (size_t room = 0; room <= len + 1; room += room + 1 == len ? 2 : 1) {
		FILE *out = room ? fmemopen(buf, room, "w") : fopen("/dev/null", "re");

		ck_assert_ptr_nonnull(out);
		setvbuf(out, NULL, _IONBF, 0);
		ck_assert_msg(dev_conf_write(&c, out) == (room > len ? 0 : -EIO),
			      "room for %zu of %zu bytes", room, len);
		fclose(out);
	}
	ck_assert(!memcmp(buf, text, len));
	free(text);
}
END_TEST

static void assert_conf_eq(const struct dev_conf *a, const struct dev_conf *b)
{
	ck_assert_str_eq(a->name, b->name);
	ck_assert_uint_eq(a->id, b->id);
	ck_assert_int_eq(a->backend, b->backend);
	ck_assert_uint_eq(a->size_bytes, b->size_bytes);
	ck_assert_str_eq(a->path, b->path);
	ck_assert_int_eq(a->create, b->create);
	ck_assert_int_eq(a->direct_io, b->direct_io);
	ck_assert_int_eq(a->read_only, b->read_only);
	ck_assert_uint_eq(a->queues, b->queues);
	ck_assert_uint_eq(a->depth, b->depth);
	ck_assert_uint_eq(a->block_size, b->block_size);
	ck_assert_int_eq(a->cpus_given, b->cpus_given);
	ck_assert(CPU_EQUAL(&a->cpus, &b->cpus));
	ck_assert_uint_eq(a->given, b->given);
}

/* Valid confs, so that config_parse() accepts what dev_conf_write() makes of them. */
static const char *const round_trip_confs[] = {
	"name=all\nid=7\nbackend=file\nsize=1536M\nblock_size=4096\npath=/srv/a b.img\n"
	"create=yes\ndirect_io=no\nread_only=yes\nqueues=1\ndepth=128\ncpus=0-3,6\n"
	"recovery=none",
	"name=m\nbackend=memory\nsize=1G",
	"name=p.1\nbackend=file\npath= a#b \"c\\ \ncreate=no",
	"name=p-2\nbackend=file\npath=#x\nread_only=on",
	"name=p_3\nbackend=file\npath=x #y\\\\\"",
	"name=p4\nbackend=file\npath=a\"b\\c=d'e",
	"name=max\nid=1048575\nbackend=null\nsize=18446744073709551104\nqueues=4096\n"
	"depth=4096\ncpus=0,2,4-1023",
	"name=zero\nid=0\nbackend=null\nsize=512\nblock_size=512\nread_only=no\ncpus=1023",
	"name=many-cpus\nbackend=memory\nsize=4T\ncpus=0,2,4,6,8,10-11,13,100-200,1000",
};

START_TEST(test_round_trip)
{
	struct config cfg;
	struct dev_conf c;
	char *text;

	conf_from(&c, round_trip_confs[_i]);
	text = written(&c);
	parse_text(text, strlen(text), &cfg);
	ck_assert_uint_eq(cfg.nr_errors, 0);
	ck_assert_uint_eq(cfg.nr_devs, 1);
	ck_assert_msg(!cfg.devs[0].error, "%s\n%s", cfg.devs[0].err, text);
	assert_conf_eq(&cfg.devs[0].conf, &c);
	ck_assert_str_eq(cfg.devs[0].conf.origin, "t.conf:1");
	config_free(&cfg);
	free(text);
}
END_TEST

/* The longest path, every byte escaped, still fits a line. */
START_TEST(test_round_trip_longest_path)
{
	char *path = repeat('"', PATH_MAX - 1);
	struct config cfg;
	struct dev_conf c;
	char *text;

	conf_from(&c, "name=long\nbackend=file");
	ck_assert_int_eq(dev_conf_set(&c, "path", path, NULL, 0), 0);
	text = written(&c);
	parse_text(text, strlen(text), &cfg);
	ck_assert_uint_eq(cfg.nr_devs, 1);
	ck_assert_msg(!cfg.devs[0].error, "%s", cfg.devs[0].err);
	assert_conf_eq(&cfg.devs[0].conf, &c);
	config_free(&cfg);
	free(text);
	free(path);
}
END_TEST

/* Without a name only the keys are written; the caller's header makes them a section. */
START_TEST(test_round_trip_nameless)
{
	struct config cfg;
	struct dev_conf c;
	char *text, *file;

	conf_from(&c, "backend=memory\nsize=2G\nqueues=2");
	text = written(&c);
	ck_assert_str_eq(text, "backend = memory\nsize = 2G\nqueues = 2\n");
	ck_assert_int_gt(asprintf(&file, "[device \"x\"]\n%s", text), 0);
	parse_text(file, strlen(file), &cfg);
	ck_assert_uint_eq(cfg.nr_devs, 1);
	ck_assert_int_eq(cfg.devs[0].error, 0);
	ck_assert_int_eq(dev_conf_set(&c, "name", "x", NULL, 0), 0);
	assert_conf_eq(&cfg.devs[0].conf, &c);
	config_free(&cfg);
	free(text);
	free(file);
}
END_TEST

struct want_dev {
	const char *name;
	int error;
	const char *err;
};

#define OK(name)              \
	{                     \
		name, 0, NULL \
	}
#define END                   \
	{                     \
		NULL, 0, NULL \
	}

static void assert_config(const struct config *cfg, const struct want_dev *devs,
			  const char *const *errors)
{
	unsigned n = 0;

	for (; n < cfg->nr_errors && errors[n]; n++)
		ck_assert_str_eq(cfg->errors[n], errors[n]);
	ck_assert_msg(n == cfg->nr_errors && !errors[n], "%u errors, first extra: %s",
		      cfg->nr_errors, n < cfg->nr_errors ? cfg->errors[n] : errors[n]);
	for (n = 0; n < cfg->nr_devs && devs[n].name; n++) {
		const struct config_dev *dev = &cfg->devs[n];

		ck_assert_str_eq(dev->conf.name, devs[n].name);
		ck_assert_msg(dev->error == devs[n].error, "%s: error %d, want %d (%s)",
			      devs[n].name, dev->error, devs[n].error, dev->err);
		if (devs[n].error)
			ck_assert_str_eq(dev->err, devs[n].err);
	}
	ck_assert_msg(n == cfg->nr_devs && !devs[n].name, "%u devices", cfg->nr_devs);
}

/* Whole files: the devices in order (valid or with their error) and the file's own errors. */
static const struct parse_case {
	const char *text;
	size_t len;
	struct want_dev devs[5];
	const char *errors[3];
} parse_cases[] = {
	/* Nothing. */
	{ TEXT(""), { END }, { NULL } },
	{ TEXT("# a\n; b\n\n \t \n   # c\n\t; d"), { END }, { NULL } },
	{ TEXT("\n\n"), { END }, { NULL } },
	/* Layout. */
	{ TEXT("[device \"a\"]\n" NULL_DEV), { OK("a"), END }, { NULL } },
	{ TEXT("  [  device   \"a\"  ]   # c\n\tbackend=null\t\nsize   =   1G   # one gig\n"),
	  { OK("a"), END },
	  { NULL } },
	{ TEXT("[device\"a\"]# c\n" NULL_DEV), { OK("a"), END }, { NULL } },
	{ TEXT("[device \"a\"]\nbackend = null\nsize = 1G"), { OK("a"), END }, { NULL } },
	{ TEXT("[device \"a\"]\r\nbackend = null\r\nsize = 1G\r\n"), { OK("a"), END }, { NULL } },
	{ TEXT("# c\n\n[device \"a\"]\n; c\n\nbackend = null\n  # c\nsize = 1G\n\n"),
	  { OK("a"), END },
	  { NULL } },
	{ TEXT("[device \"a\"]\n" NULL_DEV "[device \"b\"]\nbackend = memory\nsize = 2G\n"),
	  { OK("a"), OK("b"), END },
	  { NULL } },
	/* Lines before the first section: one message for the run. */
	{ TEXT("size = 1G\nbackend = null\n# c\nnonsense\n[device \"a\"]\n" NULL_DEV),
	  { OK("a"), END },
	  { "t.conf:1: not in a [device \"NAME\"] section", NULL } },
	{ TEXT("\n# c\nnonsense\n"),
	  { END },
	  { "t.conf:3: not in a [device \"NAME\"] section", NULL } },
	/* Whole-device checks, at the header's line. */
	{ TEXT("[device \"a\"]\n"),
	  { { "a", -EINVAL, "t.conf:1: no backend (backend = null, memory or file)" }, END },
	  { NULL } },
	{ TEXT("# c\n[device \"a\"]\nbackend = memory\n"),
	  { { "a", -EINVAL, "t.conf:2: no size (the memory backend needs one, e.g. size = 1G)" },
	    END },
	  { NULL } },
	{ TEXT("[device \"a\"]\n[device \"b\"]\n" NULL_DEV),
	  { { "a", -EINVAL, "t.conf:1: no backend (backend = null, memory or file)" },
	    OK("b"),
	    END },
	  { NULL } },
	{ TEXT("[device \"a\"]\nbackend = memory\nsize = 1G\npath = /x\n"),
	  { { "a", -EINVAL, "t.conf:1: path: only for the file backend, not memory" }, END },
	  { NULL } },
	/* Key errors, at the key's line; only the first in a section counts. */
	{ TEXT("[device \"a\"]\nbackend = null\nsise = 1G\n"),
	  { { "a", -ENOENT, "t.conf:3: unknown key \"sise\"" }, END },
	  { NULL } },
	{ TEXT("[device \"a\"]\nsise = 1\nsize = 1Q\nnonsense\n"),
	  { { "a", -ENOENT, "t.conf:2: unknown key \"sise\"" }, END },
	  { NULL } },
	{ TEXT("[device \"a\"]\nbackend = null\nsize = 1Q\n"),
	  { { "a", -EINVAL,
	      "t.conf:3: size \"1Q\": not a size (bytes, with an optional K, M, G or T suffix)" },
	    END },
	  { NULL } },
	{ TEXT("[device \"a\"]\n" NULL_DEV "queues = 0\n"),
	  { { "a", -ERANGE, "t.conf:4: queues \"0\": out of range (1 to 4096)" }, END },
	  { NULL } },
	{ TEXT("[device \"a\"]\nbackend = null\nsize = 1G\n# c\nsize = 2G\n"),
	  { { "a", -EINVAL, "t.conf:5: duplicate key \"size\" (first at line 3)" }, END },
	  { NULL } },
	{ TEXT("[device \"a\"]\nbackend = null\nsize = 1Q\nsize = 1G\n"),
	  { { "a", -EINVAL,
	      "t.conf:3: size \"1Q\": not a size (bytes, with an optional K, M, G or T suffix)" },
	    END },
	  { NULL } },
	{ TEXT("[device \"a\"]\nname = b\n" NULL_DEV),
	  { { "a", -EINVAL, "t.conf:2: name is given by the section header" }, END },
	  { NULL } },
	{ TEXT("[device \"a\"]\nname = a\n" NULL_DEV),
	  { { "a", -EINVAL, "t.conf:2: name is given by the section header" }, END },
	  { NULL } },
	{ TEXT("[device \"a\"]\nnonsense\n"),
	  { { "a", -EINVAL, "t.conf:2: not a \"key = value\" line" }, END },
	  { NULL } },
	{ TEXT("[device \"a\"]\n  = 1G\n"),
	  { { "a", -EINVAL, "t.conf:2: not a \"key = value\" line" }, END },
	  { NULL } },
	{ TEXT("[device \"a\"]\nsize 1G\n"),
	  { { "a", -EINVAL, "t.conf:2: not a \"key = value\" line" }, END },
	  { NULL } },
	{ TEXT("[device \"a\"]\nblock size = 512\n"),
	  { { "a", -ENOENT, "t.conf:2: unknown key \"block size\"" }, END },
	  { NULL } },
	/* Names and ids used twice: the later section is the invalid one. */
	{ TEXT("[device \"a\"]\n" NULL_DEV "[device \"a\"]\n" NULL_DEV "[device \"a\"]\n" NULL_DEV),
	  { OK("a"),
	    { "a", -EEXIST, "t.conf:4: duplicate device name \"a\" (first at t.conf:1)" },
	    { "a", -EEXIST, "t.conf:7: duplicate device name \"a\" (first at t.conf:1)" },
	    END },
	  { NULL } },
	{ TEXT("[device \"a\"]\nbackend = null\n[device \"a\"]\n" NULL_DEV),
	  { { "a", -EINVAL, "t.conf:1: no size (the null backend needs one, e.g. size = 1G)" },
	    { "a", -EEXIST, "t.conf:3: duplicate device name \"a\" (first at t.conf:1)" },
	    END },
	  { NULL } },
	{ TEXT("[device \"a\"]\nid = 5\n" NULL_DEV "[device \"b\"]\n" NULL_DEV "id = 5\n"),
	  { OK("a"), { "b", -EEXIST, "t.conf:8: duplicate device id 5 (first at t.conf:1)" }, END },
	  { NULL } },
	{ TEXT("[device \"a\"]\nid = 0\n" NULL_DEV "[device \"b\"]\n" NULL_DEV
	       "[device \"c\"]\nid = 1\n" NULL_DEV),
	  { OK("a"), OK("b"), OK("c"), END },
	  { NULL } },
	/* A bad device, or a bad header, leaves the others alone. */
	{ TEXT("[device \"a\"]\nbackend = ram\n"
	       "[device \"b\"]\n" NULL_DEV "[device nonsense\nsize = 1G\n"
	       "[device \"c\"]\n" NULL_DEV "size = 2G\n"
	       "[device \"d\"]\nbackend = memory\nsize = 1M\n"),
	  { { "a", -EINVAL, "t.conf:2: backend \"ram\": unknown backend (null, memory or file)" },
	    OK("b"),
	    { "c", -EINVAL, "t.conf:11: duplicate key \"size\" (first at line 10)" },
	    OK("d"),
	    END },
	  { "t.conf:6: malformed section header (want [device \"NAME\"])", NULL } },
	/* NUL bytes: an error in the section they are in, and the next line is read. */
	{ TEXT("[device \"a\"]\nbackend = null\nsi\0ze = 1G\nsize = 1G\n[device \"b\"]\n" NULL_DEV),
	  { { "a", -EINVAL, "t.conf:3: NUL byte in the line" }, OK("b"), END },
	  { NULL } },
	{ TEXT("[device \"a\"]\nsise = 1\n\0\n" NULL_DEV),
	  { { "a", -ENOENT, "t.conf:2: unknown key \"sise\"" }, END },
	  { NULL } },
	{ TEXT("a\0b\n[device \"a\"]\n" NULL_DEV),
	  { OK("a"), END },
	  { "t.conf:1: NUL byte in the line", NULL } },
	{ TEXT("[x]\n\0\n[device \"a\"]\n" NULL_DEV "\0"),
	  { { "a", -EINVAL, "t.conf:6: NUL byte in the line" }, END },
	  { "t.conf:1: unknown section type \"x\" (only [device \"NAME\"] and [global])", NULL } },
};

START_TEST(test_parse_table)
{
	const struct parse_case *t = &parse_cases[_i];
	struct config cfg;

	parse_text(t->text, t->len, &cfg);
	assert_config(&cfg, t->devs, t->errors);
	for (unsigned i = 0; i < cfg.nr_devs; i++)
		ck_assert(!strncmp(cfg.devs[i].conf.origin, "t.conf:", 7));
	config_free(&cfg);
}
END_TEST

/* A bad header's lines belong to it: one message, and the next header starts afresh. */
static const struct header_case {
	const char *line, *err;
} header_cases[] = {
	{ "[device a]", "malformed section header (want [device \"NAME\"])" },
	{ "[device \"a\"", "malformed section header (want [device \"NAME\"])" },
	{ "[device \"a\" x]", "malformed section header (want [device \"NAME\"])" },
	{ "[device \"a\"] x", "malformed section header (want [device \"NAME\"])" },
	{ "[device \"a\"]]", "malformed section header (want [device \"NAME\"])" },
	{ "[device \"a\"b\"]", "malformed section header (want [device \"NAME\"])" },
	{ "[device \"a]", "malformed section header (want [device \"NAME\"])" },
	{ "[device 'a']", "malformed section header (want [device \"NAME\"])" },
	{ "[device]", "malformed section header (want [device \"NAME\"])" },
	{ "[device", "malformed section header (want [device \"NAME\"])" },
	{ "[device2 \"a\"]", "malformed section header (want [device \"NAME\"])" },
	{ "[]", "malformed section header (want [device \"NAME\"])" },
	{ "[", "malformed section header (want [device \"NAME\"])" },
	{ "[ \"a\" ]", "malformed section header (want [device \"NAME\"])" },
	{ "[global \"a\"]",
	  "unknown section type \"global\" (only [device \"NAME\"] and [global])" },
	{ "[disk \"a\"]", "unknown section type \"disk\" (only [device \"NAME\"] and [global])" },
	{ "[Device \"a\"]",
	  "unknown section type \"Device\" (only [device \"NAME\"] and [global])" },
	{ "[devices \"a\"]",
	  "unknown section type \"devices\" (only [device \"NAME\"] and [global])" },
	{ "[abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz]",
	  "unknown section type \"abcdefghijklmnopqrstuvwxyzabcdef\" (only [device \"NAME\"] and "
	  "[global])" },
	{ "[device \"\"]", "name \"\": empty (1 to 63 letters, digits, '_', '.' or '-')" },
	{ "[device \"-a\"]", "name \"-a\": must not start with '-'" },
	{ "[device \"12\"]", "name \"12\": must not be all digits (that is an id)" },
	{ "[device \"a b\"]", "name \"a b\": only letters, digits, '_', '.' and '-' allowed" },
	{ "[device \"a\\\"]", "name \"a\\\": only letters, digits, '_', '.' and '-' allowed" },
};

/* Many sections: every one kept, in file order, whole (the table grows as it goes). */
START_TEST(test_many_devices)
{
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);
	struct config cfg;

	ck_assert_ptr_nonnull(out);
	for (unsigned i = 0; i < 1000; i++)
		fprintf(out, "[device \"d%u\"]\nbackend = memory\nsize = %uM\n", i, i + 1);
	ck_assert_int_eq(fclose(out), 0);
	parse_text(text, len, &cfg);
	ck_assert_uint_eq(cfg.nr_devs, 1000);
	for (unsigned i = 0; i < 1000; i++) {
		char name[16];

		snprintf(name, sizeof(name), "d%u", i);
		ck_assert_str_eq(cfg.devs[i].conf.name, name);
		ck_assert_int_eq(cfg.devs[i].error, 0);
		ck_assert_uint_eq(cfg.devs[i].conf.size_bytes, (uint64_t)(i + 1) << 20);
	}
	config_free(&cfg);
	free(text);
}
END_TEST

START_TEST(test_header_table)
{
	const struct header_case *t = &header_cases[_i];
	const struct want_dev devs[] = { OK("b"), END };
	char *text, *want;
	struct config cfg;

	/* Before the first section, and after a valid one (which ends at the bad header). */
	ck_assert_int_gt(
		asprintf(&text, "%s\nsize = 1G\nnonsense\n\n[device \"b\"]\n" NULL_DEV, t->line),
		0);
	ck_assert_int_gt(asprintf(&want, "t.conf:1: %s", t->err), 0);
	parse_text(text, strlen(text), &cfg);
	assert_config(&cfg, devs, (const char *const[]){ want, NULL });
	config_free(&cfg);
	free(text);
	free(want);

	ck_assert_int_gt(asprintf(&text, "[device \"b\"]\n" NULL_DEV "%s\nnonsense\n", t->line), 0);
	ck_assert_int_gt(asprintf(&want, "t.conf:4: %s", t->err), 0);
	parse_text(text, strlen(text), &cfg);
	assert_config(&cfg, devs, (const char *const[]){ want, NULL });
	config_free(&cfg);
	free(text);
	free(want);
}
END_TEST

/* One value line in a file device: what the value reads as (path), or the message. */
static const struct value_case {
	const char *line, *path, *err;
} value_cases[] = {
	{ "path = /a/b", "/a/b", NULL },
	{ "path=/a/b", "/a/b", NULL },
	{ "  path   =   /a/b   ", "/a/b", NULL },
	{ "path\t=\t/a/b\t", "/a/b", NULL },
	{ "path = /a b/c", "/a b/c", NULL },
	{ "path = a#b", "a#b", NULL },
	{ "path = a #b", "a", NULL },
	{ "path = a\t# b", "a", NULL },
	{ "path = a ; b", "a ; b", NULL },
	{ "path = a=b", "a=b", NULL },
	{ "path = 'a'", "'a'", NULL },
	{ "path = a\"b", "a\"b", NULL },
	{ "path = a\\b", "a\\b", NULL },
	{ "path = a\r", "a", NULL },
	{ "path = \"a #b\"", "a #b", NULL },
	{ "path = \"  a  \"", "  a  ", NULL },
	{ "path = \" a \" # c", " a ", NULL },
	{ "path = \"a\"# c", "a", NULL },
	{ "path = \"a=b\"", "a=b", NULL },
	{ "path = \"q\\\"x\\\\y\"", "q\"x\\y", NULL },
	{ "path = \"a\\\\\"", "a\\", NULL },
	{ "path = \"\"", NULL, "path \"\": empty (a file or block device)" },
	{ "path =", NULL, "path \"\": empty (a file or block device)" },
	{ "path = # c", NULL, "path \"\": empty (a file or block device)" },
	{ "path = \"abc", NULL, "no closing '\"' in the value" },
	{ "path = \"a\\\"", NULL, "no closing '\"' in the value" },
	{ "path = \"a\\x\"", NULL, "bad escape in the quoted value (only \\\" and \\\\)" },
	{ "path = \"a\" b", NULL, "text after the quoted value" },
	{ "path = \"a\" \"b\"", NULL, "text after the quoted value" },
	{ "path = \"a\tb\"", NULL, "path \"a?b\": contains a control character" },
};

START_TEST(test_value_table)
{
	const struct value_case *t = &value_cases[_i];
	struct want_dev devs[] = { OK("f"), END };
	char *text, *want = NULL;
	struct config cfg;

	ck_assert_int_gt(asprintf(&text, "[device \"f\"]\nbackend = file\n%s\n", t->line), 0);
	if (t->err) {
		ck_assert_int_gt(asprintf(&want, "t.conf:3: %s", t->err), 0);
		devs[0].error = -EINVAL;
		devs[0].err = want;
	}
	parse_text(text, strlen(text), &cfg);
	assert_config(&cfg, devs, (const char *const[]){ NULL });
	if (t->path)
		ck_assert_str_eq(cfg.devs[0].conf.path, t->path);
	config_free(&cfg);
	free(text);
	free(want);
}
END_TEST

/* Lines up to CONFIG_LINE_MAX bytes are read; a longer one is an error, never cut. */
START_TEST(test_long_lines)
{
	char *fill = repeat('x', CONFIG_LINE_MAX + 10), *text, want[128];
	struct config cfg;

	/* Exactly the limit, as a comment. */
	fill[CONFIG_LINE_MAX - 1] = '\0';
	ck_assert_int_gt(asprintf(&text, "[device \"a\"]\n#%s\n" NULL_DEV, fill), 0);
	parse_text(text, strlen(text), &cfg);
	assert_config(&cfg, (const struct want_dev[]){ OK("a"), END },
		      (const char *const[]){ NULL });
	config_free(&cfg);
	free(text);

	/* One byte more, in a section; the lines after it are still counted. */
	fill[CONFIG_LINE_MAX - 1] = 'x';
	fill[CONFIG_LINE_MAX] = '\0';
	snprintf(want, sizeof(want), "t.conf:3: line too long (more than %d bytes)",
		 CONFIG_LINE_MAX);
	ck_assert_int_gt(asprintf(&text,
				  "[device \"a\"]\nbackend = null\n#%s\nsize = 1G\n"
				  "[device \"b\"]\nbackend = memory\n",
				  fill),
			 0);
	parse_text(text, strlen(text), &cfg);
	assert_config(
		&cfg,
		(const struct want_dev[]){
			{ "a", -EINVAL, want },
			{ "b", -EINVAL,
			  "t.conf:5: no size (the memory backend needs one, e.g. size = 1G)" },
			END },
		(const char *const[]){ NULL });
	config_free(&cfg);
	free(text);

	/* Far longer, before any section, without a final newline. */
	fill[CONFIG_LINE_MAX] = 'x';
	fill[CONFIG_LINE_MAX + 9] = '\0';
	ck_assert_int_gt(asprintf(&text, "\n\n%s", fill), 0);
	parse_text(text, strlen(text), &cfg);
	assert_config(&cfg, (const struct want_dev[]){ END }, (const char *const[]){ want, NULL });
	config_free(&cfg);
	free(text);
	free(fill);
}
END_TEST

/* A stream that cannot be read is the only error config_parse() returns. */
START_TEST(test_parse_read_error)
{
	FILE *in = fopen("/dev/null", "we");
	char err[CONFIG_ERR_MAX];
	struct config cfg;

	ck_assert_ptr_nonnull(in);
	ck_assert_int_eq(config_parse(in, "w.conf", &cfg, err, sizeof(err)), -EBADF);
	ck_assert_str_eq(err, "w.conf: Bad file descriptor");
	ck_assert_ptr_null(cfg.devs);
	ck_assert_uint_eq(cfg.nr_devs + cfg.nr_errors, 0);
	fclose(in);
	config_free(&cfg);
}
END_TEST

START_TEST(test_load_missing)
{
	char err[CONFIG_ERR_MAX];
	struct config cfg;

	ck_assert_int_eq(config_load("/nonexistent/ublkd.conf", &cfg, err, sizeof(err)), -ENOENT);
	ck_assert_str_eq(err, "/nonexistent/ublkd.conf: No such file or directory");
	ck_assert_ptr_null(cfg.devs);
	ck_assert_ptr_null(cfg.errors);
	config_free(&cfg);
}
END_TEST

START_TEST(test_load_directory)
{
	char err[CONFIG_ERR_MAX];
	struct config cfg;

	ck_assert_int_eq(config_load("/tmp", &cfg, err, sizeof(err)), -EISDIR);
	ck_assert_str_eq(err, "/tmp: Is a directory");
	ck_assert_uint_eq(cfg.nr_devs + cfg.nr_errors, 0);
}
END_TEST

/* A real file: messages and origins name it; its bad entries do not fail the load. */
START_TEST(test_load_file)
{
	char path[] = "/tmp/ublkd-test-config-XXXXXX", err[CONFIG_ERR_MAX], want[128];
	static const char text[] = "[device \"a\"]\n" NULL_DEV "[device \"b\"]\nqueues = 0\n";
	struct config cfg;
	int fd = mkstemp(path);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, sizeof(text) - 1), (ssize_t)sizeof(text) - 1);
	close(fd);
	ck_assert_int_eq(config_load(path, &cfg, err, sizeof(err)), 0);
	unlink(path);
	ck_assert_uint_eq(cfg.nr_devs, 2);
	snprintf(want, sizeof(want), "%s:1", path);
	ck_assert_str_eq(cfg.devs[0].conf.origin, want);
	ck_assert_int_eq(cfg.devs[0].error, 0);
	snprintf(want, sizeof(want), "%s:5: queues \"0\": out of range (1 to 4096)", path);
	ck_assert_str_eq(cfg.devs[1].err, want);
	config_free(&cfg);
	/* Freed twice is harmless: config_free() leaves an empty config. */
	config_free(&cfg);
}
END_TEST

static char *read_all(const char *path)
{
	char *text = NULL;
	size_t bytes = 0;
	FILE *in = fopen(path, "re"), *out = open_memstream(&text, &bytes);
	int ch;

	ck_assert_msg(in != NULL, "%s: run from the top of the checkout", path);
	ck_assert_ptr_nonnull(out);
	while ((ch = getc(in)) != EOF)
		putc(ch, out);
	fclose(in);
	fclose(out);
	return text;
}

/* The example parses cleanly to the devices it shows and documents every key. */
START_TEST(test_example)
{
	char err[CONFIG_ERR_MAX] = "", want[64], *text = read_all(EXAMPLE);
	const struct dev_conf *c;
	struct config cfg;

	ck_assert_msg(!config_load(EXAMPLE, &cfg, err, sizeof(err)), "%s", err);
	ck_assert_msg(cfg.nr_errors == 0, "%s", cfg.errors[0]);
	ck_assert_uint_eq(cfg.nr_devs, 3);
	for (unsigned i = 0; i < cfg.nr_devs; i++)
		ck_assert_msg(!cfg.devs[i].error, "%s", cfg.devs[i].err);

	c = &cfg.devs[0].conf;
	ck_assert_str_eq(c->name, "scratch");
	ck_assert_int_eq(c->backend, BACKEND_MEMORY);
	ck_assert_uint_eq(c->size_bytes, 1ULL << 30);
	ck_assert_uint_eq(c->queues, 2);

	c = &cfg.devs[1].conf;
	ck_assert_str_eq(c->name, "blackhole");
	ck_assert_int_eq(c->backend, BACKEND_NULL);
	ck_assert_uint_eq(c->size_bytes, 1ULL << 40);
	ck_assert_uint_eq(c->block_size, 4096);

	c = &cfg.devs[2].conf;
	ck_assert_str_eq(c->name, "disk");
	ck_assert_int_eq(c->backend, BACKEND_FILE);
	ck_assert_str_eq(c->path, "/var/lib/ublkd/disk.img");
	ck_assert(c->create);
	ck_assert_uint_eq(c->size_bytes, 4ULL << 30);
	config_free(&cfg);

	for (unsigned i = 0; dev_conf_keys[i]; i++) {
		char *dash;

		snprintf(want, sizeof(want), "\n# %s = ", dev_conf_keys[i]);
		ck_assert_msg(strstr(text, want) != NULL, "key %s is not documented",
			      dev_conf_keys[i]);
		snprintf(want, sizeof(want), "(--%s)\n", dev_conf_keys[i]);
		while ((dash = strchr(want, '_')))
			*dash = '-';
		ck_assert_msg(strstr(text, want) != NULL, "%s: no flag %s", dev_conf_keys[i], want);
	}
	free(text);
}
END_TEST

/* [global]: log_level, and every way it can be wrong; errors belong to no device. */
static const struct global_case {
	const char *text;
	bool given;
	enum log_level level;
	const char *err; /* NULL: none */
} global_cases[] = {
	{ "[global]\nlog_level = debug\n", true, LOG_LEVEL_DEBUG, NULL },
	{ " [ global ] # the daemon\nlog_level=error\n", true, LOG_LEVEL_ERR, NULL },
	{ "[global]\n", false, LOG_LEVEL_INFO, NULL },
	{ "[device \"a\"]\nbackend = null\nsize = 1M\n[global]\nlog_level = notice\n", true,
	  LOG_LEVEL_NOTICE, NULL },
	{ "[global]\nlog_level = loud\n", false, 0,
	  "t.conf:2: log_level \"loud\": not a level (error, warning, notice, info or debug)" },
	{ "[global]\nsize = 1G\n", false, 0,
	  "t.conf:2: unknown key \"size\" in [global] (only log_level)" },
	{ "[global]\nlog_level = info\nlog_level = debug\n", true, LOG_LEVEL_INFO,
	  "t.conf:3: duplicate key \"log_level\" (first at line 2)" },
	{ "[global]\n[global]\n", false, 0,
	  "t.conf:2: duplicate [global] section (first at line 1)" },
	{ "[global]\nlog_level\n", false, 0, "t.conf:2: not a \"key = value\" line" },
};

START_TEST(test_global)
{
	const struct global_case *t = &global_cases[_i];
	struct config cfg;

	parse_text(t->text, strlen(t->text), &cfg);
	ck_assert_int_eq(cfg.log_level_given, t->given);
	if (t->given)
		ck_assert_int_eq(cfg.log_level, t->level);
	if (t->err) {
		ck_assert_uint_eq(cfg.nr_errors, 1);
		ck_assert_str_eq(cfg.errors[0], t->err);
	} else {
		ck_assert_uint_eq(cfg.nr_errors, 0);
	}
	for (unsigned i = 0; i < cfg.nr_devs; i++)
		ck_assert_int_eq(cfg.devs[i].error, 0);
	config_free(&cfg);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("config");
	TCase *keys = tcase_create("dev_conf");
	TCase *file = tcase_create("config");

	tcase_add_loop_test(keys, test_set_table, 0, ARRAY_SIZE(set_cases));
	tcase_add_test(keys, test_set_fields);
	tcase_add_test(keys, test_set_again);
	tcase_add_test(keys, test_init_defaults);
	tcase_add_test(keys, test_set_long_values);
	tcase_add_test(keys, test_set_short_err);
	tcase_add_test(keys, test_keys);
	tcase_add_test(keys, test_backend_kind_name);
	tcase_add_loop_test(keys, test_check_table, 0, ARRAY_SIZE(check_cases));
	tcase_add_test(keys, test_write_all);
	tcase_add_test(keys, test_write_error);
	suite_add_tcase(s, keys);

	tcase_add_loop_test(file, test_round_trip, 0, ARRAY_SIZE(round_trip_confs));
	tcase_add_test(file, test_round_trip_longest_path);
	tcase_add_test(file, test_round_trip_nameless);
	tcase_add_loop_test(file, test_parse_table, 0, ARRAY_SIZE(parse_cases));
	tcase_add_loop_test(file, test_header_table, 0, ARRAY_SIZE(header_cases));
	tcase_add_test(file, test_many_devices);
	tcase_add_loop_test(file, test_value_table, 0, ARRAY_SIZE(value_cases));
	tcase_add_test(file, test_long_lines);
	tcase_add_test(file, test_parse_read_error);
	tcase_add_test(file, test_load_missing);
	tcase_add_test(file, test_load_directory);
	tcase_add_test(file, test_load_file);
	tcase_add_test(file, test_example);
	tcase_add_loop_test(file, test_global, 0, ARRAY_SIZE(global_cases));
	suite_add_tcase(s, file);
	return suite_main(s);
}
