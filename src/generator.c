// SPDX-License-Identifier: MIT
/*
 * ublkd-generator: turns the file devices of the config into RequiresMountsFor= of
 * ublkd.service at every boot and daemon-reload, so images on /var, /srv or any filesystem of
 * fstab are opened only once it is mounted (include/generator.h).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "generator.h"

#ifndef UBLKD_SYSCONFDIR
#define UBLKD_SYSCONFDIR "/etc"
#endif

/* systemd hands a generator's stderr to the kernel log, and from there to the journal. */
static void gen_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void gen_log(const char *fmt, ...)
{
	va_list ap;

	fputs("ublkd-generator: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/*
 * One path as a word of a unit file, into buf: in double quotes, so that spaces stay in it,
 * with '\' and '"' escaped for the unquoting and '%' doubled against specifier expansion.
 * A control character (a newline would end the line) cannot be written: -EINVAL.
 */
static int unit_word(char *buf, size_t len, const char *path)
{
	size_t n = 0;

	if (len < 3)
		return -ENAMETOOLONG;
	buf[n++] = '"';
	for (const char *p = path; *p; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return -EINVAL;
		if (n + 4 > len)
			return -ENAMETOOLONG;
		if (*p == '\\' || *p == '"')
			buf[n++] = '\\';
		else if (*p == '%')
			buf[n++] = '%';
		buf[n++] = *p;
	}
	buf[n++] = '"';
	buf[n] = '\0';
	return 0;
}

/* The drop-in's lines for cfg, to out; how many devices got one. */
static unsigned write_mounts(FILE *out, struct config *cfg, const char *config_path)
{
	char word[2 * PATH_MAX + 3];
	unsigned lines = 0;

	for (unsigned i = 0; i < cfg->nr_devs; i++) {
		struct config_dev *cd = &cfg->devs[i];
		int ret;

		if (cd->error) {
			gen_log("device \"%s\" skipped: %s", cd->conf.name, cd->err);
			continue;
		}
		if (!cd->conf.path[0])
			continue;
		config_resolve_path(&cd->conf, config_path);
		if (cd->conf.path[0] != '/') {
			gen_log("%s: device \"%s\" skipped: path %s is not absolute",
				cd->conf.origin, cd->conf.name, cd->conf.path);
			continue;
		}
		ret = unit_word(word, sizeof(word), cd->conf.path);
		if (ret < 0) {
			gen_log("%s: device \"%s\" skipped: %s", cd->conf.origin, cd->conf.name,
				ret == -EINVAL ? "its path has a control character"
					       : "its path is too long");
			continue;
		}
		if (!lines)
			fprintf(out,
				"# Written by ublkd-generator from %s: the mounts that hold the "
				"disk images.\n[Unit]\n",
				config_path);
		fprintf(out, "RequiresMountsFor=%s\n", word);
		lines++;
	}
	return lines;
}

/*
 * Writes the drop-in into dir through a temporary file renamed into place, so that systemd
 * never reads half of one. -errno, with nothing left behind, on failure.
 */
static int write_dropin(const char *dir, struct config *cfg, const char *config_path)
{
	char sub[PATH_MAX], tmp[PATH_MAX], final[PATH_MAX];
	unsigned lines;
	FILE *out;
	int fd, ret = 0;

	if ((size_t)snprintf(sub, sizeof(sub), "%s/" GENERATOR_DROPIN_DIR, dir) >= sizeof(sub) ||
	    (size_t)snprintf(final, sizeof(final), "%s/" GENERATOR_DROPIN, sub) >= sizeof(final) ||
	    (size_t)snprintf(tmp, sizeof(tmp), "%s.XXXXXX", final) >= sizeof(tmp)) {
		gen_log("%s: path too long", dir);
		return -ENAMETOOLONG;
	}
	if (mkdir(sub, 0755) < 0 && errno != EEXIST) {
		ret = -errno;
		gen_log("%s: %s", sub, strerror(errno));
		return ret;
	}
	fd = mkstemp(tmp);
	if (fd < 0 || !(out = fdopen(fd, "w"))) {
		ret = -errno;
		gen_log("%s: %s", tmp, strerror(errno));
		if (fd >= 0) {
			close(fd);
			unlink(tmp);
		}
		return ret;
	}
	lines = write_mounts(out, cfg, config_path);
	if (fchmod(fd, 0644) < 0)
		ret = -errno;
	else if (ferror(out))
		ret = -EIO;
	if (fclose(out) == EOF && !ret)
		ret = -errno;
	if (!ret && lines && rename(tmp, final) < 0)
		ret = -errno;
	if (ret)
		gen_log("%s: %s", final, strerror(-ret));
	if (ret || !lines) {
		unlink(tmp);
		rmdir(sub); /* only if we made it and it stayed empty */
	}
	return ret;
}

int generator_main(int argc, char **argv)
{
	const char *config_path = getenv(GENERATOR_CONFIG_ENV);
	char err[CONFIG_ERR_MAX];
	struct config cfg;
	int ret;

	if (argc != 2 && argc != 4) {
		gen_log("usage: ublkd-generator NORMAL_DIR [EARLY_DIR LATE_DIR]");
		return 2;
	}
	if (!config_path || !*config_path)
		config_path = UBLKD_SYSCONFDIR "/ublkd.conf";
	ret = config_load(config_path, &cfg, err, sizeof(err));
	if (ret == -ENOENT)
		return 0; /* no config, no devices, nothing to wait for */
	if (ret < 0) {
		gen_log("%s; ublkd.service gets no mount dependencies", err);
		return 0;
	}
	for (unsigned i = 0; i < cfg.nr_errors; i++)
		gen_log("%s", cfg.errors[i]);
	write_dropin(argv[1], &cfg, config_path);
	config_free(&cfg);
	return 0;
}
