// SPDX-License-Identifier: MIT
/* Device descriptions in RUN_DIR/devices (include/state_store.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "dev_conf.h"
#include "ipc.h"
#include "rundir.h"
#include "state_store.h"

/* The comment line that keeps where the device came from: "/etc/ublkd.conf:12", "command line". */
#define ORIGIN_LINE "# origin: "

int state_store_write(uint32_t dev_id, const struct dev_conf *conf)
{
	char path[PATH_MAX], tmp_name[64], tmp[PATH_MAX + 64];
	FILE *f;
	int fd, ret;

	ret = ipc_state_file_path(path, sizeof(path), dev_id);
	if (ret < 0)
		return ret;
	snprintf(tmp_name, sizeof(tmp_name), "devices/%u.conf.tmp", dev_id);
	ipc_run_path(tmp, sizeof(tmp), tmp_name);
	/* A file (or symlink) someone left under the temporary name is not ours to write through. */
	unlink(tmp);
	fd = rundir_open(tmp_name, O_WRONLY | O_CREAT | O_EXCL, 0644);
	if (fd < 0)
		return fd;
	f = fdopen(fd, "w");
	if (!f) {
		close(fd);
		unlink(tmp);
		return -ENOMEM;
	}
	fprintf(f, "# written by ublkd pid %d for /dev/ublkb%u\n", getpid(), dev_id);
	fprintf(f, "%s%s\n", ORIGIN_LINE, conf->origin);
	/* The name was given (or set by us) before: dev_conf_write() writes the section header. */
	ret = dev_conf_write(conf, f);
	if (fclose(f) != 0 && !ret)
		ret = -errno;
	if (!ret && rename(tmp, path) < 0)
		ret = -errno;
	if (ret < 0)
		unlink(tmp);
	return ret;
}

void state_store_remove(uint32_t dev_id)
{
	char path[PATH_MAX];

	if (!ipc_state_file_path(path, sizeof(path), dev_id))
		unlink(path);
}

/* The id of a file name "ID.conf"; -EINVAL for any other name. */
static int file_id(const char *name, uint32_t *id)
{
	unsigned long value;
	char *end;

	if (name[0] < '0' || name[0] > '9')
		return -EINVAL;
	value = strtoul(name, &end, 10);
	if (strcmp(end, ".conf") || value > DEV_MAX_ID)
		return -EINVAL;
	*id = (uint32_t)value;
	return 0;
}

int state_store_ids(uint32_t **ids, unsigned *nr)
{
	char dir_path[PATH_MAX];
	uint32_t *list = NULL, id;
	unsigned n = 0, cap = 0;
	struct dirent *e;
	DIR *dir;

	*ids = NULL;
	*nr = 0;
	if (ipc_run_path(dir_path, sizeof(dir_path), "devices") < 0)
		return -ENAMETOOLONG;
	dir = opendir(dir_path);
	if (!dir)
		return errno == ENOENT ? 0 : -errno;
	while ((e = readdir(dir))) {
		if (file_id(e->d_name, &id) < 0)
			continue;
		if (n == cap) {
			uint32_t *grown = realloc(list, (cap = cap ? 2 * cap : 16) * sizeof(*list));

			if (!grown) {
				free(list);
				closedir(dir);
				return -ENOMEM;
			}
			list = grown;
		}
		list[n++] = id;
	}
	closedir(dir);
	*ids = list;
	*nr = n;
	return 0;
}

int state_store_load(uint32_t dev_id, struct dev_conf *conf, char *err, size_t err_len)
{
	char name[32], path[PATH_MAX], line[DEV_ORIGIN_MAX + 32], cfg_err[CONFIG_ERR_MAX];
	struct config cfg;
	struct stat st;
	FILE *f;
	int fd, ret;

	snprintf(name, sizeof(name), "devices/%u.conf", dev_id);
	ipc_run_path(path, sizeof(path), name);
	fd = rundir_open(name, O_RDONLY, 0);
	if (fd < 0) {
		snprintf(err, err_len, "%s: %s", path, strerror(-fd));
		return fd;
	}
	/* Only what we wrote: a file another user could have changed describes nothing of ours. */
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
	    (st.st_mode & (S_IWGRP | S_IWOTH))) {
		snprintf(err, err_len, "%s: not a regular file of ours writable only by us", path);
		close(fd);
		return -EPERM;
	}
	f = fdopen(fd, "r");
	if (!f) {
		close(fd);
		snprintf(err, err_len, "%s: %s", path, strerror(ENOMEM));
		return -ENOMEM;
	}
	ret = config_parse(f, path, &cfg, cfg_err, sizeof(cfg_err));
	if (ret < 0) {
		snprintf(err, err_len, "%s", cfg_err);
		fclose(f);
		return ret;
	}
	if (cfg.nr_devs != 1 || cfg.nr_errors || cfg.devs[0].error) {
		snprintf(err, err_len, "%s: %s", path,
			 cfg.nr_errors	    ? cfg.errors[0]
			 : cfg.nr_devs == 1 ? cfg.devs[0].err
					    : "not one device description");
		ret = -EINVAL;
	} else if (cfg.devs[0].conf.id != dev_id) {
		snprintf(err, err_len, "%s: describes id %u", path, cfg.devs[0].conf.id);
		ret = -EINVAL;
	} else {
		*conf = cfg.devs[0].conf;
		/* Its origin, not the state file's line: where to look when it must be fixed. */
		rewind(f);
		while (fgets(line, sizeof(line), f) && line[0] == '#') {
			if (strncmp(line, ORIGIN_LINE, strlen(ORIGIN_LINE)))
				continue;
			line[strcspn(line, "\n")] = '\0';
			snprintf(conf->origin, sizeof(conf->origin), "%.*s",
				 (int)sizeof(conf->origin) - 1, line + strlen(ORIGIN_LINE));
		}
	}
	config_free(&cfg);
	fclose(f);
	return ret;
}

int state_store_find_name(const char *name, unsigned *id)
{
	char dir_path[PATH_MAX], path[PATH_MAX + 256], err[CONFIG_ERR_MAX];
	struct dirent *e;
	int ret = -ENOENT;
	DIR *dir;

	if (ipc_run_path(dir_path, sizeof(dir_path), "devices") < 0 || !(dir = opendir(dir_path)))
		return -ENOENT;
	while (ret < 0 && (e = readdir(dir))) {
		struct config cfg;
		uint32_t id_in_name;

		if (file_id(e->d_name, &id_in_name) < 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir_path, e->d_name);
		if (config_load(path, &cfg, err, sizeof(err)) < 0)
			continue;
		if (cfg.nr_devs == 1 && !strcmp(cfg.devs[0].conf.name, name)) {
			*id = id_in_name;
			ret = 0;
		}
		config_free(&cfg);
	}
	closedir(dir);
	return ret;
}
