// SPDX-License-Identifier: MIT
/* Device descriptions in RUN_DIR/devices (include/state_store.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "dev_conf.h"
#include "ipc.h"
#include "rundir.h"
#include "state_store.h"

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
		unsigned long file_id;
		char *end;

		file_id = strtoul(e->d_name, &end, 10);
		if (end == e->d_name || strcmp(end, ".conf") || file_id > DEV_MAX_ID)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir_path, e->d_name);
		if (config_load(path, &cfg, err, sizeof(err)) < 0)
			continue;
		if (cfg.nr_devs == 1 && !strcmp(cfg.devs[0].conf.name, name)) {
			*id = (unsigned)file_id;
			ret = 0;
		}
		config_free(&cfg);
	}
	closedir(dir);
	return ret;
}
