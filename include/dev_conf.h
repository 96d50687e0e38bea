/* SPDX-License-Identifier: MIT */
/*
 * A device description: what the user asked for, from a config file section or from the
 * `ublkd add` flags, before anything is created. Keys are the config file's words; the CLI flag
 * is the same word with '-' for '_'. One key table serves both, so they cannot drift apart.
 * Nothing here prints: errors come back as -errno with a message in the caller's buffer.
 */
#ifndef UBLKD_DEV_CONF_H
#define UBLKD_DEV_CONF_H

#include <limits.h>
#include <sched.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "fault.h"

#define DEV_NAME_MAX 64 /* with the NUL; [A-Za-z0-9_.-], not starting with '-', not all digits */
#define DEV_ORIGIN_MAX (PATH_MAX + 32)
#define DEV_ERR_MAX 512 /* enough for any message dev_conf_* writes, a path included */
#define DEV_ID_ANY UINT32_MAX
#define DEV_DEFAULT_QUEUES 1U
#define DEV_DEFAULT_DEPTH 128U
#define DEV_MAX_QUEUES 4096U /* the kernel's own limits (UBLK_MAX_NR_QUEUES, _QUEUE_DEPTH) */
#define DEV_MAX_DEPTH 4096U
#define DEV_MAX_ID 1048575U /* the kernel numbers devices with a 20-bit minor */

enum backend_kind {
	BACKEND_NONE = 0, /* not given yet */
	BACKEND_NULL,
	BACKEND_MEMORY,
	BACKEND_FILE,
};

/* What the kernel does with a device's I/O while no ublkd serves it (ublk user recovery). */
enum dev_recovery {
	RECOVERY_REISSUE, /* held, and what was in flight sent again to the next ublkd (6.1+) */
	RECOVERY_FAIL,	  /* failed at once, until the next ublkd takes over (6.13+) */
	RECOVERY_NONE,	  /* the device dies with its ublkd */
};

/*
 * How a request's data moves between the kernel and the backend (ublk's data modes). AUTO picks
 * the best the kernel and the backend both offer; the others are refused where they cannot run.
 */
enum dev_io_mode {
	IO_MODE_AUTO,
	IO_MODE_COPY,	   /* the kernel copies to and from a buffer per tag (every kernel) */
	IO_MODE_USER_COPY, /* the backend moves the bytes itself on /dev/ublkcN (6.5+) */
	IO_MODE_ZERO_COPY, /* the request's pages sit in the queue ring's buffer table (6.16+) */
	IO_MODE_BATCH,	   /* many tags per command (7.0+) */
};

#define IO_MODE_BIT(mode) (1U << (mode))

/* The keys, in dev_conf_keys[] order; a key's bit in dev_conf.given is 1U << DEV_KEY_*. */
enum dev_key {
	DEV_KEY_NAME,
	DEV_KEY_ID,
	DEV_KEY_BACKEND,
	DEV_KEY_SIZE,
	DEV_KEY_BLOCK_SIZE,
	DEV_KEY_PATH,
	DEV_KEY_CREATE,
	DEV_KEY_DIRECT_IO,
	DEV_KEY_READ_ONLY,
	DEV_KEY_QUEUES,
	DEV_KEY_DEPTH,
	DEV_KEY_CPUS,
	DEV_KEY_RECOVERY,
	DEV_KEY_IO_MODE,
	DEV_KEY_INJECT,
	DEV_KEY_COUNT,
};

#define DEV_GIVEN(key) (1U << (key))

struct dev_conf {
	char name[DEV_NAME_MAX]; /* "" when not given: the daemon names it "ublkN" */
	uint32_t id;		 /* DEV_ID_ANY: the kernel chooses */
	enum backend_kind backend;
	uint64_t size_bytes; /* 0: not given (file: the file's size) */
	char path[PATH_MAX]; /* file backend only */
	bool create;	     /* file: create or extend the file to size_bytes */
	bool direct_io;	     /* file: O_DIRECT */
	bool read_only;
	uint32_t queues;
	uint32_t depth;
	uint32_t block_size; /* 512 or 4096; 0: not given (512, or the backing device's) */
	bool cpus_given;
	cpu_set_t cpus; /* queue threads' CPUs when cpus_given */
	enum dev_recovery recovery;
	enum dev_io_mode io_mode;
	struct fault_conf inject; /* testing: faults injected into its I/O (include/fault.h) */
	/* Where it came from, for messages: "/etc/ublkd.conf:12" or "command line". */
	char origin[DEV_ORIGIN_MAX];
	/* DEV_GIVEN(DEV_KEY_*) of every key set, so that "not given" differs from "the default". */
	uint32_t given;
};

/* Defaults everywhere, origin copied (cut to fit). */
void dev_conf_init(struct dev_conf *c, const char *origin);

/*
 * Sets one key from its text and marks it given. -ENOENT: no such key; -EINVAL/-ERANGE (and
 * -ENAMETOOLONG for a path): a bad value. On error err holds a message naming the key and the value, without the origin
 * ("size \"1Q\": not a size (bytes, with an optional K, M, G or T suffix)") and *c is unchanged.
 * A key set again takes the new value (the config file refuses repeats itself).
 */
int dev_conf_set(struct dev_conf *c, const char *key, const char *value, char *err,
		 size_t err_bytes);

/*
 * Checks what no single key can: required keys given (backend; size for null and memory;
 * path for file), keys that do not apply to the backend (path, create, direct_io for null and
 * memory), create without size, size a multiple of the block size (512 when not given; the file
 * backend, which may take a larger one from the backing device, checks again when it opens).
 * -EINVAL with a message in err.
 */
int dev_conf_check(const struct dev_conf *c, char *err, size_t err_bytes);

/*
 * Every given key, as a config file section that config_parse() reads back to the same keys:
 * the name as the header line ([device "NAME"]), the others as "key = value" lines in
 * dev_conf_keys[] order. Without a name only the key lines (the caller writes the header).
 * -EIO when out fails.
 */
int dev_conf_write(const struct dev_conf *c, FILE *out);

/* "null", "memory", "file"; "none" for BACKEND_NONE. */
const char *backend_kind_name(enum backend_kind kind);
/* "reissue", "fail", "none". */
const char *dev_recovery_name(enum dev_recovery recovery);
/* "auto", "copy", "user_copy", "zero_copy", "batch". */
const char *dev_io_mode_name(enum dev_io_mode mode);

/*
 * Whether wanted (from a re-read config) describes the device running as running: every key
 * but the name and inject (which a reload changes in place), and the id only when wanted asks
 * for one.
 */
bool dev_conf_same_device(const struct dev_conf *running, const struct dev_conf *wanted);

/* Boolean keys take no value on the command line: "--create" is "--create=yes". */
bool dev_conf_key_is_bool(const char *key);

/* Key names in the order the example config documents them, NULL-terminated. */
extern const char *const dev_conf_keys[];

#endif /* UBLKD_DEV_CONF_H */
