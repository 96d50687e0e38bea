// SPDX-License-Identifier: MIT
/*
 * A device description from its keys (include/dev_conf.h): one table says what each key holds,
 * and setting, checking and writing a key all go through it.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include "dev_conf.h"
#include "parse.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Values are quoted in messages cut to this many bytes, so a long one cannot hide the reason. */
#define QUOTE_MAX 64
#define QUOTE_BUF (QUOTE_MAX + sizeof("\"...\""))

const char *const dev_conf_keys[] = {
	[DEV_KEY_NAME] = "name",
	[DEV_KEY_ID] = "id",
	[DEV_KEY_BACKEND] = "backend",
	[DEV_KEY_SIZE] = "size",
	[DEV_KEY_BLOCK_SIZE] = "block_size",
	[DEV_KEY_PATH] = "path",
	[DEV_KEY_CREATE] = "create",
	[DEV_KEY_DIRECT_IO] = "direct_io",
	[DEV_KEY_READ_ONLY] = "read_only",
	[DEV_KEY_QUEUES] = "queues",
	[DEV_KEY_DEPTH] = "depth",
	[DEV_KEY_CPUS] = "cpus",
	[DEV_KEY_RECOVERY] = "recovery",
	[DEV_KEY_IO_MODE] = "io_mode",
	[DEV_KEY_INJECT] = "inject",
	[DEV_KEY_COUNT] = NULL,
};

enum key_kind {
	KIND_NAME = 1, /* not 0: a key missing from key_table fails in key_set() */
	KIND_U32,
	KIND_ENUM, /* one of names[], stored as an int enum */
	KIND_SIZE,
	KIND_BLOCK_SIZE,
	KIND_PATH,
	KIND_BOOL,
	KIND_CPUS,
	KIND_FAULT,
};

static const char *const backend_names[] = {
	[BACKEND_NONE] = "none",
	[BACKEND_NULL] = "null",
	[BACKEND_MEMORY] = "memory",
	[BACKEND_FILE] = "file",
};

static const char *const recovery_names[] = {
	[RECOVERY_REISSUE] = "reissue",
	[RECOVERY_FAIL] = "fail",
	[RECOVERY_NONE] = "none",
};

static const char *const io_mode_names[] = {
	[IO_MODE_AUTO] = "auto",	   [IO_MODE_COPY] = "copy",
	[IO_MODE_USER_COPY] = "user_copy", [IO_MODE_ZERO_COPY] = "zero_copy",
	[IO_MODE_BATCH] = "batch",
};

/* What a key holds and where; the key's name is dev_conf_keys[] at the same index. */
static const struct key_spec {
	enum key_kind kind;
	size_t offset;		  /* of the field in struct dev_conf */
	uint32_t min, max;	  /* KIND_U32; KIND_ENUM: the values a user may give */
	const char *const *names; /* KIND_ENUM, indexed by value */
	const char *hint;	  /* KIND_ENUM: the choices, for messages */
} key_table[] = {
	[DEV_KEY_NAME] = { .kind = KIND_NAME, .offset = offsetof(struct dev_conf, name) },
	[DEV_KEY_ID] = { .kind = KIND_U32,
			 .offset = offsetof(struct dev_conf, id),
			 .max = DEV_MAX_ID },
	[DEV_KEY_BACKEND] = { KIND_ENUM, offsetof(struct dev_conf, backend), BACKEND_NULL,
			      BACKEND_FILE, backend_names,
			      "unknown backend (null, memory or file)" },
	[DEV_KEY_SIZE] = { .kind = KIND_SIZE, .offset = offsetof(struct dev_conf, size_bytes) },
	[DEV_KEY_BLOCK_SIZE] = { .kind = KIND_BLOCK_SIZE,
				 .offset = offsetof(struct dev_conf, block_size) },
	[DEV_KEY_PATH] = { .kind = KIND_PATH, .offset = offsetof(struct dev_conf, path) },
	[DEV_KEY_CREATE] = { .kind = KIND_BOOL, .offset = offsetof(struct dev_conf, create) },
	[DEV_KEY_DIRECT_IO] = { .kind = KIND_BOOL, .offset = offsetof(struct dev_conf, direct_io) },
	[DEV_KEY_READ_ONLY] = { .kind = KIND_BOOL, .offset = offsetof(struct dev_conf, read_only) },
	[DEV_KEY_QUEUES] = { .kind = KIND_U32,
			     .offset = offsetof(struct dev_conf, queues),
			     .min = 1,
			     .max = DEV_MAX_QUEUES },
	[DEV_KEY_DEPTH] = { .kind = KIND_U32,
			    .offset = offsetof(struct dev_conf, depth),
			    .min = 1,
			    .max = DEV_MAX_DEPTH },
	[DEV_KEY_CPUS] = { .kind = KIND_CPUS, .offset = offsetof(struct dev_conf, cpus) },
	[DEV_KEY_RECOVERY] = { KIND_ENUM, offsetof(struct dev_conf, recovery), RECOVERY_REISSUE,
			       RECOVERY_NONE, recovery_names,
			       "not a recovery mode (reissue, fail or none)" },
	[DEV_KEY_IO_MODE] = { KIND_ENUM, offsetof(struct dev_conf, io_mode), IO_MODE_AUTO,
			      IO_MODE_BATCH, io_mode_names,
			      "not an I/O mode (auto, copy, user_copy, zero_copy or batch)" },
	[DEV_KEY_INJECT] = { .kind = KIND_FAULT, .offset = offsetof(struct dev_conf, inject) },
};

_Static_assert(ARRAY_SIZE(key_table) == DEV_KEY_COUNT, "a spec for every key");
_Static_assert(ARRAY_SIZE(dev_conf_keys) == DEV_KEY_COUNT + 1, "a name for every key");
_Static_assert(DEV_KEY_COUNT <= 32, "given has a bit for every key");

_Static_assert(sizeof(enum backend_kind) == sizeof(int) &&
		       sizeof(enum dev_recovery) == sizeof(int) &&
		       sizeof(enum dev_io_mode) == sizeof(int),
	       "KIND_ENUM fields are stored as int");

const char *backend_kind_name(enum backend_kind kind)
{
	if ((unsigned)kind >= ARRAY_SIZE(backend_names))
		return "unknown";
	return backend_names[kind];
}

const char *dev_recovery_name(enum dev_recovery recovery)
{
	if ((unsigned)recovery >= ARRAY_SIZE(recovery_names))
		return "unknown";
	return recovery_names[recovery];
}

const char *dev_io_mode_name(enum dev_io_mode mode)
{
	if ((unsigned)mode >= ARRAY_SIZE(io_mode_names))
		return "unknown";
	return io_mode_names[mode];
}

/* value in double quotes, cut to QUOTE_MAX bytes, control characters shown as '?'. */
static const char *quote(const char *value, char *buf)
{
	size_t len = strnlen(value, QUOTE_MAX + 1), n = 0;

	buf[n++] = '"';
	for (size_t i = 0; i < len && i < QUOTE_MAX; i++) {
		unsigned char ch = (unsigned char)value[i];

		buf[n++] = ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
	}
	if (len > QUOTE_MAX) {
		memcpy(buf + n, "...", 3);
		n += 3;
	}
	buf[n++] = '"';
	buf[n] = '\0';
	return buf;
}

__attribute__((format(printf, 4, 5))) static int fail(char *err, size_t err_bytes, int ret,
						      const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, err_bytes, fmt, ap);
	va_end(ap);
	return ret;
}

/* "key \"value\": " and the reason. */
__attribute__((format(printf, 6, 7))) static int fail_value(char *err, size_t err_bytes, int ret,
							    const char *key, const char *value,
							    const char *fmt, ...)
{
	char q[QUOTE_BUF];
	va_list ap;
	int n;

	n = snprintf(err, err_bytes, "%s %s: ", key, quote(value, q));
	if (n < 0 || (size_t)n >= err_bytes)
		return ret;
	va_start(ap, fmt);
	vsnprintf(err + n, err_bytes - (size_t)n, fmt, ap);
	va_end(ap);
	return ret;
}

void dev_conf_init(struct dev_conf *c, const char *origin)
{
	memset(c, 0, sizeof(*c));
	c->id = DEV_ID_ANY;
	c->backend = BACKEND_NONE;
	c->queues = DEV_DEFAULT_QUEUES;
	c->depth = DEV_DEFAULT_DEPTH;
	CPU_ZERO(&c->cpus);
	snprintf(c->origin, sizeof(c->origin), "%s", origin ? origin : "");
}

/*
 * Names are what `ublkd del NAME` and friends take in place of an id. All digits would read as
 * an id ("del 3" must mean device 3), and a leading '-' as a flag; the character set keeps a
 * name safe in a file name, a message and a shell word.
 */
static int check_name(const char *value, char *err, size_t err_bytes)
{
	size_t len = strlen(value);
	bool digits_only = true;

	if (!len)
		return fail_value(err, err_bytes, -EINVAL, "name", value,
				  "empty (1 to %d letters, digits, '_', '.' or '-')",
				  DEV_NAME_MAX - 1);
	if (len >= DEV_NAME_MAX)
		return fail_value(err, err_bytes, -EINVAL, "name", value,
				  "too long (at most %d characters)", DEV_NAME_MAX - 1);
	for (const char *p = value; *p; p++) {
		bool digit = *p >= '0' && *p <= '9';
		bool letter = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z');

		if (!digit && !letter && *p != '_' && *p != '.' && *p != '-')
			return fail_value(err, err_bytes, -EINVAL, "name", value,
					  "only letters, digits, '_', '.' and '-' allowed");
		digits_only &= digit;
	}
	if (value[0] == '-')
		return fail_value(err, err_bytes, -EINVAL, "name", value,
				  "must not start with '-'");
	if (digits_only)
		return fail_value(err, err_bytes, -EINVAL, "name", value,
				  "must not be all digits (that is an id)");
	return 0;
}

static int check_path(const char *value, char *err, size_t err_bytes)
{
	size_t len = strnlen(value, PATH_MAX);

	if (!len)
		return fail_value(err, err_bytes, -EINVAL, "path", value,
				  "empty (a file or block device)");
	if (len >= PATH_MAX)
		return fail_value(err, err_bytes, -ENAMETOOLONG, "path", value,
				  "too long (at most %d bytes)", PATH_MAX - 1);
	/* A config file line could not hold them, and no sane path has them. */
	for (const char *p = value; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return fail_value(err, err_bytes, -EINVAL, "path", value,
					  "contains a control character");
	return 0;
}

/* Parses value as spec says into *c, or leaves *c alone and explains. */
static int key_set(struct dev_conf *c, const struct key_spec *spec, const char *key,
		   const char *value, char *err, size_t err_bytes)
{
	void *field = (char *)c + spec->offset;
	uint64_t bytes;
	int ret;

	switch (spec->kind) {
	case KIND_NAME:
	case KIND_PATH:
		/* The checks bound the length by the field's size. */
		ret = spec->kind == KIND_NAME ? check_name(value, err, err_bytes)
					      : check_path(value, err, err_bytes);
		if (ret)
			return ret;
		strcpy(field, value);
		return 0;
	case KIND_U32:
		ret = parse_u32(value, spec->min, spec->max, field);
		if (ret)
			return fail_value(err, err_bytes, ret, key, value, "%s (%u to %u)",
					  ret == -ERANGE ? "out of range" : "not a whole number",
					  spec->min, spec->max);
		return 0;
	case KIND_ENUM:
		for (uint32_t v = spec->min; v <= spec->max; v++) {
			if (!strcmp(value, spec->names[v])) {
				*(int *)field = (int)v;
				return 0;
			}
		}
		return fail_value(err, err_bytes, -EINVAL, key, value, "%s", spec->hint);
	case KIND_SIZE:
		ret = parse_size_bytes(value, &bytes);
		if (ret == -EINVAL)
			return fail_value(
				err, err_bytes, ret, key, value,
				"not a size (bytes, with an optional K, M, G or T suffix)");
		if (ret)
			return fail_value(err, err_bytes, ret, key, value,
					  "too large (at most %llu bytes)",
					  (unsigned long long)UINT64_MAX);
		if (!bytes)
			return fail_value(err, err_bytes, -ERANGE, key, value,
					  "must be more than 0");
		c->size_bytes = bytes;
		return 0;
	case KIND_BLOCK_SIZE:
		/* A size, so that "4K" reads as it does for size. */
		if (parse_size_bytes(value, &bytes) || (bytes != 512 && bytes != 4096))
			return fail_value(err, err_bytes, -EINVAL, key, value,
					  "must be 512 or 4096");
		c->block_size = (uint32_t)bytes;
		return 0;
	case KIND_BOOL:
		ret = parse_bool(value, field);
		if (ret)
			return fail_value(err, err_bytes, ret, key, value,
					  "not a boolean (yes, no, true, false, on, off, 1 or 0)");
		return 0;
	case KIND_CPUS:
		/* parse_cpu_list() takes no empty list, so a set it returns has a CPU. */
		ret = parse_cpu_list(value, &c->cpus);
		if (ret == -EINVAL)
			return fail_value(err, err_bytes, ret, key, value,
					  "not a CPU list (like 0-3,6)");
		if (ret)
			return fail_value(err, err_bytes, ret, key, value,
					  "CPU out of range (0 to %d)", CPU_SETSIZE - 1);
		c->cpus_given = true;
		return 0;
	case KIND_FAULT: {
		char why[DEV_ERR_MAX / 2];

		ret = fault_conf_parse(value, field, why, sizeof(why));
		if (ret)
			return fail_value(err, err_bytes, ret, key, value, "%s", why);
		return 0;
	}
	}
	return fail(err, err_bytes, -EINVAL, "key \"%s\" has no kind", key);
}

int dev_conf_set(struct dev_conf *c, const char *key, const char *value, char *err,
		 size_t err_bytes)
{
	char q[QUOTE_BUF];

	for (unsigned i = 0; i < DEV_KEY_COUNT; i++) {
		int ret;

		if (strcmp(key, dev_conf_keys[i]))
			continue;
		ret = key_set(c, &key_table[i], key, value, err, err_bytes);
		if (!ret)
			c->given |= DEV_GIVEN(i);
		return ret;
	}
	return fail(err, err_bytes, -ENOENT, "unknown key %s", quote(key, q));
}

int dev_conf_check(const struct dev_conf *c, char *err, size_t err_bytes)
{
	static const enum dev_key file_only[] = { DEV_KEY_PATH, DEV_KEY_CREATE, DEV_KEY_DIRECT_IO };
	const char *backend = backend_kind_name(c->backend);
	uint32_t block_size = c->block_size ? c->block_size : 512;
	char keys[sizeof("path, create, direct_io")] = "";
	char size[SIZE_BYTES_STR_MAX];

	if (c->backend == BACKEND_NONE)
		return fail(err, err_bytes, -EINVAL, "no backend (backend = null, memory or file)");
	if (c->backend != BACKEND_FILE) {
		for (size_t i = 0; i < ARRAY_SIZE(file_only); i++) {
			if (!(c->given & DEV_GIVEN(file_only[i])))
				continue;
			if (keys[0])
				strcat(keys, ", ");
			strcat(keys, dev_conf_keys[file_only[i]]);
		}
		if (keys[0])
			return fail(err, err_bytes, -EINVAL,
				    "%s: only for the file backend, not %s", keys, backend);
		if (!c->size_bytes)
			return fail(err, err_bytes, -EINVAL,
				    "no size (the %s backend needs one, e.g. size = 1G)", backend);
	}
	if (c->backend == BACKEND_FILE && !c->path[0])
		return fail(err, err_bytes, -EINVAL,
			    "no path (the file backend needs one, e.g. path = /var/lib/disk.img)");
	if (c->create && !c->size_bytes)
		return fail(err, err_bytes, -EINVAL,
			    "create = yes without a size (the size to create the file with)");
	if (c->size_bytes % block_size)
		return fail_value(err, err_bytes, -EINVAL, "size",
				  format_size_bytes(c->size_bytes, size, sizeof(size)),
				  "not a multiple of the block size (%u)", block_size);
	return 0;
}

/*
 * Quotes what would not read back bare: leading or trailing white space, a leading '"', and
 * '#', which after white space starts a comment. '"' and '\' are escaped inside quotes.
 */
static int write_text(const char *text, FILE *out)
{
	size_t len = strlen(text);
	bool bare = len && text[0] != ' ' && text[0] != '\t' && text[len - 1] != ' ' &&
		    text[len - 1] != '\t' && text[0] != '"' && !strchr(text, '#');

	if (bare)
		return fputs(text, out) < 0 ? -EIO : 0;
	if (putc('"', out) == EOF)
		return -EIO;
	for (const char *p = text; *p; p++)
		if (((*p == '"' || *p == '\\') && putc('\\', out) == EOF) || putc(*p, out) == EOF)
			return -EIO;
	return putc('"', out) == EOF ? -EIO : 0;
}

static int key_write(const struct dev_conf *c, const struct key_spec *spec, FILE *out)
{
	const void *field = (const char *)c + spec->offset;
	char size[SIZE_BYTES_STR_MAX];
	char cpus[CPU_LIST_STR_MAX];
	char spec_buf[FAULT_SPEC_MAX];

	switch (spec->kind) {
	case KIND_NAME:
	case KIND_PATH:
		return write_text(field, out);
	case KIND_U32:
		return fprintf(out, "%u", *(const uint32_t *)field) < 0 ? -EIO : 0;
	case KIND_ENUM:
		return fputs(spec->names[*(const int *)field], out) < 0 ? -EIO : 0;
	case KIND_SIZE:
		format_size_bytes(c->size_bytes, size, sizeof(size));
		return fputs(size, out) < 0 ? -EIO : 0;
	case KIND_BLOCK_SIZE:
		return fprintf(out, "%u", c->block_size) < 0 ? -EIO : 0;
	case KIND_BOOL:
		return fputs(*(const bool *)field ? "yes" : "no", out) < 0 ? -EIO : 0;
	case KIND_CPUS:
		return fputs(format_cpu_list(&c->cpus, cpus, sizeof(cpus)), out) < 0 ? -EIO : 0;
	case KIND_FAULT:
		return fputs(fault_conf_format(field, spec_buf, sizeof(spec_buf)), out) < 0 ? -EIO
											    : 0;
	}
	return -EINVAL;
}

int dev_conf_write(const struct dev_conf *c, FILE *out)
{
	int ret;

	if ((c->given & DEV_GIVEN(DEV_KEY_NAME)) && fprintf(out, "[device \"%s\"]\n", c->name) < 0)
		return -EIO;
	for (unsigned i = DEV_KEY_NAME + 1; i < DEV_KEY_COUNT; i++) {
		if (!(c->given & DEV_GIVEN(i)))
			continue;
		if (fprintf(out, "%s = ", dev_conf_keys[i]) < 0)
			return -EIO;
		ret = key_write(c, &key_table[i], out);
		if (ret)
			return ret;
		if (putc('\n', out) == EOF)
			return -EIO;
	}
	return 0;
}

bool dev_conf_key_is_bool(const char *key)
{
	for (unsigned i = 0; i < DEV_KEY_COUNT; i++)
		if (!strcmp(key, dev_conf_keys[i]))
			return key_table[i].kind == KIND_BOOL;
	return false;
}

/* inject is not compared: a reload changes it on the running device. */
bool dev_conf_same_device(const struct dev_conf *running, const struct dev_conf *wanted)
{
	/* The daemon gives a running device its id; only an id asked for can differ. */
	if ((wanted->given & DEV_GIVEN(DEV_KEY_ID)) && wanted->id != running->id)
		return false;
	return running->backend == wanted->backend && running->size_bytes == wanted->size_bytes &&
	       !strcmp(running->path, wanted->path) && running->create == wanted->create &&
	       running->direct_io == wanted->direct_io && running->read_only == wanted->read_only &&
	       running->queues == wanted->queues && running->depth == wanted->depth &&
	       running->block_size == wanted->block_size && running->recovery == wanted->recovery &&
	       running->io_mode == wanted->io_mode && running->cpus_given == wanted->cpus_given &&
	       (!wanted->cpus_given || CPU_EQUAL(&running->cpus, &wanted->cpus));
}
