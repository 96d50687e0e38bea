/* SPDX-License-Identifier: MIT */
/*
 * The config file: one [device "NAME"] section per device, "key = value" lines with the keys of
 * dev_conf.h, '#' comments. A bad device does not stop the others: each section is parsed into
 * its own entry, valid or not, and every error names the file and line.
 */
#ifndef UBLKD_CONFIG_H
#define UBLKD_CONFIG_H

#include <stdio.h>

#include "dev_conf.h"

#define CONFIG_ERR_MAX (DEV_ORIGIN_MAX + DEV_ERR_MAX)

struct config_dev {
	struct dev_conf conf; /* origin: "FILE:LINE" of the section header */
	int error;	      /* 0, or -errno: this device must not be created */
	char err[CONFIG_ERR_MAX]; /* when error: "FILE:LINE: message" (the first error met) */
};

struct config {
	struct config_dev *devs; /* in file order, invalid ones included */
	unsigned nr_devs;
	/* Errors that belong to no device (a line outside any section, a bad section header). */
	char **errors; /* "FILE:LINE: message" */
	unsigned nr_errors;
};

/*
 * Reads path into *cfg (zeroed first). Returns -errno only when the file cannot be read at all
 * (err then says why, naming the file); a readable file returns 0 even when entries are invalid.
 */
int config_load(const char *path, struct config *cfg, char *err, size_t err_bytes);
/* The same from an open stream; name is used in messages. */
int config_parse(FILE *in, const char *name, struct config *cfg, char *err, size_t err_bytes);
void config_free(struct config *cfg);

#endif /* UBLKD_CONFIG_H */
