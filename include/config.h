/* SPDX-License-Identifier: MIT */
/*
 * The config file: one [device "NAME"] section per device, "key = value" lines with the keys of
 * dev_conf.h, '#' comments. A bad device does not stop the others: each section is parsed into
 * its own entry, valid or not, and every error names the file and line.
 *
 * Syntax (ublkd.conf.example shows it in use):
 * - A header is [device "NAME"], white space allowed around each part; NAME follows the name
 *   rules of dev_conf_set() and is the device's name (a "name" key in a section is an error).
 * - "key = value", white space around both trimmed. A value in double quotes keeps leading and
 *   trailing spaces and '#', with \" and \\ for '"' and '\'. A '#' that starts a bare value or
 *   follows white space starts a comment, as it does after a quoted value or a header.
 * - Lines that start with '#' or ';' are comments; blank lines are ignored.
 * - A line longer than CONFIG_LINE_MAX bytes or with a NUL byte is an error, never cut.
 *
 * A section's first error makes its device invalid (its later lines are read but not
 * reported); so do dev_conf_check(), a name used by an earlier section and an explicit id used
 * by an earlier section (the earlier one stays). An error outside any device (a line before
 * the first header, a malformed header, a header of another type or with a bad name) goes to
 * errors, and the lines after it up to the next header are skipped without more messages: they
 * belong to that broken header, and one message says what to fix.
 */
#ifndef UBLKD_CONFIG_H
#define UBLKD_CONFIG_H

#include <stdio.h>

#include "dev_conf.h"
#include "log.h"

#define CONFIG_ERR_MAX (DEV_ORIGIN_MAX + DEV_ERR_MAX)
/* Room for any line dev_conf_write() writes: a path with every byte escaped. */
#define CONFIG_LINE_MAX (2 * PATH_MAX + 64)

struct config_dev {
	struct dev_conf conf;	  /* origin: "FILE:LINE" of the section header */
	int error;		  /* 0, or -errno: this device must not be created */
	char err[CONFIG_ERR_MAX]; /* when error: "FILE:LINE: message" (the first error met) */
};

struct config {
	struct config_dev *devs; /* in file order, invalid ones included */
	unsigned nr_devs;
	/* Errors that belong to no device (a line outside any section, a bad section header). */
	char **errors; /* "FILE:LINE: message" */
	unsigned nr_errors;
	/* [global] */
	bool log_level_given;
	enum log_level log_level;
};

/*
 * Reads path into *cfg (zeroed first). Returns -errno only when the file cannot be read at all
 * (err then says why, naming the file: "/etc/ublkd.conf: No such file or directory"; a
 * directory is -EISDIR); a readable file returns 0 even when entries are invalid. On error *cfg
 * holds nothing to free.
 */
int config_load(const char *path, struct config *cfg, char *err, size_t err_bytes);
/* The same from an open stream; name is used in messages. */
int config_parse(FILE *in, const char *name, struct config *cfg, char *err, size_t err_bytes);
void config_free(struct config *cfg);
/*
 * A relative path of a device is relative to the directory of the config file it came from,
 * wherever the reader runs: c->path is rewritten in place (left as it is if the result would not
 * fit). Absolute paths and devices without a path are untouched.
 */
void config_resolve_path(struct dev_conf *c, const char *config_path);

#endif /* UBLKD_CONFIG_H */
