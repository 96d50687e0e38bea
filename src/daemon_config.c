// SPDX-License-Identifier: MIT
/*
 * The config file's devices (include/daemon_state.h): created at start, beside those taken
 * over from a dead daemon, and brought in line with the file again on reload.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "daemon_state.h"
#include "dev_conf.h"
#include "device.h"
#include "log.h"
#include "notify.h"

static void note_failed(struct daemon *dm, const char *name)
{
	size_t used = strlen(dm->failed);

	snprintf(dm->failed + used, sizeof(dm->failed) - used, "%s%s", used ? ", " : "", name);
}

/* The [global] settings that a flag did not already decide. */
static void apply_global(struct daemon *dm, const struct config *cfg)
{
	if (!dm->opts->log_level_given)
		log_set_level(cfg->log_level_given ? cfg->log_level : LOG_LEVEL_DEFAULT);
}

/*
 * A config device that already runs (adopted from a dead ublkd, or kept by a reload) runs on as
 * it is: re-creating it would pull the disk from under its users. Only inject, a test's faults,
 * follows the config (off where the section has none).
 */
static void match_running(struct daemon *dm, unsigned i, const struct dev_conf *wanted)
{
	if (!dev_conf_same_device(&dm->slots[i].d->conf, wanted))
		daemon_warn(dm,
			    "device \"%s\" (%s) changed; it runs as before until it is deleted or "
			    "ublkd restarts",
			    wanted->name, wanted->origin);
	daemon_set_inject(dm, i, &wanted->inject);
}

/*
 * Creates the config file's devices, but for those already running (adopted); -errno (fatal
 * says why) only if the file cannot be read.
 */
int daemon_load_config(struct daemon *dm, const char *path, char *fatal, size_t fatal_len)
{
	char err[CONFIG_ERR_MAX], msg[CONFIG_ERR_MAX + 64];
	unsigned up = 0, failed = 0;
	struct config cfg;
	int ret;

	ret = config_load(path, &cfg, err, sizeof(err));
	if (ret < 0) {
		snprintf(fatal, fatal_len, "config: %s", err);
		return ret;
	}
	apply_global(dm, &cfg);
	for (unsigned i = 0; i < cfg.nr_errors; i++)
		daemon_warn(dm, "config: %s", cfg.errors[i]);
	for (unsigned i = 0; i < cfg.nr_devs; i++) {
		struct config_dev *cd = &cfg.devs[i];

		if (cd->error) {
			daemon_warn(dm, "device \"%s\" not created: %s", cd->conf.name, cd->err);
			note_failed(dm, cd->conf.name);
			failed++;
			continue;
		}
		config_resolve_path(&cd->conf, path);
		ret = daemon_find_name(dm, cd->conf.name);
		if (ret >= 0) {
			match_running(dm, (unsigned)ret, &cd->conf);
			up++;
			continue;
		}
		if (daemon_add(dm, &cd->conf, 0, msg, sizeof(msg)) < 0) {
			daemon_warn(dm, "%s: %s", cd->conf.origin, msg);
			note_failed(dm, cd->conf.name);
			failed++;
			continue;
		}
		up++;
	}
	if (failed)
		daemon_warn(dm, "config %s: %u of %u devices up; see the lines above for the rest",
			    path, up, up + failed);
	config_free(&cfg);
	return 0;
}

static bool from_command_line(const struct device *d)
{
	return !strcmp(d->conf.origin, "command line");
}

/* The config's first error, for the reply to `ublkd reload`; false if it has none. */
static bool config_first_error(const struct config *cfg, char *msg, size_t msg_len)
{
	if (cfg->nr_errors) {
		snprintf(msg, msg_len, "%s", cfg->errors[0]);
		return true;
	}
	for (unsigned i = 0; i < cfg->nr_devs; i++) {
		if (cfg->devs[i].error) {
			snprintf(msg, msg_len, "%s", cfg->devs[i].err);
			return true;
		}
	}
	return false;
}

/*
 * SIGHUP or `ublkd reload`: the config file again. A file with any error changes nothing.
 * Otherwise devices new in it are created, devices gone from it deleted unless in use (not
 * those `ublkd add` made), and a device whose description changed is left as it runs, with a
 * warning: re-creating it would pull the disk from under its users. Returns once the new
 * devices are live (deletions finish in the background); msg says what happened.
 */
int daemon_reload(struct daemon *dm, char *msg, size_t msg_len)
{
	char err[CONFIG_ERR_MAX], add_msg[CONFIG_ERR_MAX + 64];
	const char *path = dm->opts->config_path;
	unsigned failed = 0;
	struct timespec now;
	struct config cfg;

	clock_gettime(CLOCK_MONOTONIC, &now);
	notify_sendf("RELOADING=1\nMONOTONIC_USEC=%llu",
		     (unsigned long long)now.tv_sec * 1000000ULL +
			     (unsigned long long)now.tv_nsec / 1000);
	if (!path) {
		log_msg(LOG_LEVEL_NOTICE, "reload: no config file to read");
		snprintf(msg, msg_len, "reload: this ublkd was started without a config file");
		daemon_notify_status(dm, "READY=1\n", NULL);
		return -ENOENT;
	}
	log_msg(LOG_LEVEL_NOTICE, "reload: reading %s", path);
	if (config_load(path, &cfg, err, sizeof(err)) < 0) {
		log_msg(LOG_LEVEL_ERR, "reload rejected: config: %s", err);
		snprintf(msg, msg_len, "reload rejected: config: %s", err);
		daemon_notify_status(dm, "READY=1\n", "last reload rejected");
		return -EINVAL;
	}
	for (unsigned i = 0; i < cfg.nr_errors; i++)
		log_msg(LOG_LEVEL_ERR, "reload rejected: %s", cfg.errors[i]);
	for (unsigned i = 0; i < cfg.nr_devs; i++) {
		if (cfg.devs[i].error)
			log_msg(LOG_LEVEL_ERR, "reload rejected: device \"%s\": %s",
				cfg.devs[i].conf.name, cfg.devs[i].err);
	}
	if (config_first_error(&cfg, err, sizeof(err))) {
		log_msg(LOG_LEVEL_ERR, "reload rejected: %s has errors; running devices unchanged",
			path);
		snprintf(msg, msg_len, "reload rejected, running devices unchanged: %s", err);
		config_free(&cfg);
		daemon_notify_status(dm, "READY=1\n", "last reload rejected");
		return -EINVAL;
	}
	apply_global(dm, &cfg);
	for (unsigned i = 0; i < dm->nr_slots; i++) {
		struct device *d = dm->slots[i].d;
		bool listed = false;

		for (unsigned j = 0; j < cfg.nr_devs && !listed; j++)
			listed = !strcmp(cfg.devs[j].conf.name, d->conf.name);
		if (!listed && !from_command_line(d))
			daemon_remove(dm, i, false, TEARDOWN_RELOAD, NULL);
	}
	dm->failed[0] = '\0';
	for (unsigned j = 0; j < cfg.nr_devs; j++) {
		struct config_dev *cd = &cfg.devs[j];
		int i = daemon_find_name(dm, cd->conf.name);

		config_resolve_path(&cd->conf, path);
		if (i >= 0) {
			match_running(dm, (unsigned)i, &cd->conf);
			continue;
		}
		if (daemon_add(dm, &cd->conf, 0, add_msg, sizeof(add_msg)) < 0) {
			log_msg(LOG_LEVEL_ERR, "reload: %s: %s", cd->conf.origin, add_msg);
			note_failed(dm, cd->conf.name);
			failed++;
		}
	}
	config_free(&cfg);
	log_msg(LOG_LEVEL_NOTICE, "reload: done, %u devices live", daemon_live_devices(dm));
	daemon_notify_status(dm, "READY=1\n", NULL);
	if (failed) {
		snprintf(msg, msg_len, "reload: done, but %u device%s failed: %s (see the log)",
			 failed, failed == 1 ? "" : "s", dm->failed);
		return -EIO;
	}
	snprintf(msg, msg_len, "reload: done, %u devices live", daemon_live_devices(dm));
	return 0;
}
