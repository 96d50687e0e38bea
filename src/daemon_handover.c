// SPDX-License-Identifier: MIT
/*
 * Devices handed between daemons (include/daemon_state.h): those a dead ublkd left, taken
 * over at start and on `ublkd recover` (src/adopt.c does each), and all of ours handed to the
 * next image in an upgrade (src/upgrade.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adopt.h"
#include "backend.h"
#include "daemon_state.h"
#include "device.h"
#include "log.h"
#include "notify.h"
#include "state_store.h"
#include "upgrade.h"

static bool daemon_owns_id(const struct daemon *dm, uint32_t dev_id)
{
	for (unsigned i = 0; i < dm->nr_slots; i++)
		if (dm->slots[i].d->info.dev_id == dev_id)
			return true;
	return false;
}

static void report_adoption(struct daemon *dm, bool ok, const char *msg)
{
	size_t used = strlen(dm->recover_report);
	int n = snprintf(dm->recover_report + used, sizeof(dm->recover_report) - used, "%s %s\n",
			 ok ? "ok" : "error", msg);

	if (n < 0 || (size_t)n >= sizeof(dm->recover_report) - used) {
		dm->recover_report[used] = '\0';
		log_msg(LOG_LEVEL_WARNING, "recover: report full; see the log for the rest");
	}
}

/*
 * Deletes the devices a ublkd died making: the kernel has them, nothing describes them (described
 * holds the ids with a description). Not counted as failures of recovery: their add failed and
 * said so; only a device that cannot be deleted is.
 */
static unsigned sweep_half_made(struct daemon *dm, const struct adopt_env *env,
				const uint32_t *described, unsigned nr_described)
{
	char msg[DEV_ERR_MAX + 256];
	unsigned nr, failed = 0;
	uint32_t *ids;

	if (ublk_kernel_dev_ids(&ids, &nr) < 0) {
		daemon_warn(dm, "recover: listing ublk devices: %s", strerror(ENOMEM));
		return 1;
	}
	for (unsigned i = 0; i < nr; i++) {
		bool has_description = false;

		for (unsigned j = 0; j < nr_described && !has_description; j++)
			has_description = described[j] == ids[i];
		if (has_description || daemon_owns_id(dm, ids[i]))
			continue;
		switch (adopt_half_made(env, ids[i], msg, sizeof(msg))) {
		case ADOPT_DELETED:
			log_msg(LOG_LEVEL_WARNING, "recover: %s", msg);
			report_adoption(dm, true, msg);
			break;
		case ADOPT_FAILED:
			daemon_warn(dm, "recover: %s", msg);
			report_adoption(dm, false, msg);
			failed++;
			break;
		default:
			log_msg(LOG_LEVEL_DEBUG, "recover: %s", msg);
			break;
		}
	}
	free(ids);
	return failed;
}

/*
 * Takes over every device with a description in RUN_DIR/devices that is not ours: those a dead
 * ublkd left. Each outcome is logged and kept for `ublkd recover`; the number of devices that
 * could not be recovered is returned.
 */
unsigned daemon_adopt_all(struct daemon *dm)
{
	const struct adopt_env env = { .ctrl = &dm->ctrl,
				       .features = dm->features,
				       .allowed_cpus = &dm->allowed_cpus };
	char msg[DEV_ERR_MAX + DEV_ORIGIN_MAX + 256];
	struct dev_slot *slots;
	unsigned nr_ids, failed = 0;
	uint32_t *ids;
	int ret;

	ret = state_store_ids(&ids, &nr_ids);
	if (ret < 0) {
		daemon_warn(dm, "recover: %s/devices: %s", ipc_run_dir(), strerror(-ret));
		return 1;
	}
	for (unsigned i = 0; i < nr_ids; i++) {
		struct device *d;

		if (daemon_owns_id(dm, ids[i]))
			continue;
		slots = realloc(dm->slots, (dm->nr_slots + 1) * sizeof(*slots));
		if (!slots) {
			daemon_warn(dm, "recover: %s", strerror(ENOMEM));
			failed++;
			break;
		}
		dm->slots = slots;
		switch (adopt_device(&env, ids[i], &d, msg, sizeof(msg))) {
		case ADOPT_RECOVERED:
			dm->slots[dm->nr_slots++] = (struct dev_slot){ .d = d };
			dm->recovered++;
			log_msg(LOG_LEVEL_NOTICE, "%s", msg);
			report_adoption(dm, true, msg);
			break;
		case ADOPT_STALE:
		case ADOPT_NOT_OURS:
			log_msg(LOG_LEVEL_INFO, "recover: %s", msg);
			break;
		case ADOPT_DELETED:
		case ADOPT_FAILED:
			daemon_warn(dm, "recover: %s", msg);
			report_adoption(dm, false, msg);
			failed++;
			break;
		}
	}
	failed += sweep_half_made(dm, &env, ids, nr_ids);
	free(ids);
	return failed;
}

/* `ublkd recover`: adopts what is left now, and answers with all adoption did until now. */
void daemon_recover_request(struct daemon *dm, struct conn *c)
{
	char *line, *save = NULL;

	daemon_adopt_all(dm);
	if (!dm->recover_report[0]) {
		conn_reply(c, 0, "nothing to recover");
		return;
	}
	for (line = strtok_r(dm->recover_report, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		bool ok = !strncmp(line, "ok ", 3);

		conn_reply(c, ok ? 0 : -EIO, "%s", line + (ok ? 3 : 6));
	}
	dm->recover_report[0] = '\0';
}

/*
 * After an exec that failed with devices quiesced: their queue threads got nothing more to
 * do. Each device is let go (threads joined, /dev/ublkcN closed, nothing said to the kernel)
 * and taken over again, as the new image would have.
 */
static void daemon_take_back(struct daemon *dm)
{
	while (dm->nr_slots) {
		struct device *d = dm->slots[--dm->nr_slots].d;

		dev_stop_queues(d);
		backend_close(&d->be);
		free(d);
	}
	daemon_adopt_all(dm);
}

/*
 * `ublkd upgrade` or SIGUSR2: hands every device to the binary installed now, by exec in this
 * process (include/upgrade.h). Returns only if that did not happen; c (if any) has the reason.
 */
void daemon_upgrade(struct daemon *dm, struct conn *c)
{
	struct upgrade_handoff h = {
		.listen_fd = dm->srv.listen_fd,
		.activated = dm->srv.activated,
		.conn_fd = c ? c->fd : -1,
	};
	char err[PATH_MAX + 128];
	struct device **devs;
	unsigned quiesced = 0;

	for (unsigned i = 0; i < dm->nr_slots; i++) {
		if (dm->slots[i].td) {
			snprintf(err, sizeof(err),
				 "upgrade: \"%s\" is being deleted; try again once it is gone",
				 dm->slots[i].d->conf.name);
			goto refuse;
		}
	}
	if (dm->srv.listen_fd < 0) {
		snprintf(err, sizeof(err), "upgrade: this ublkd is exiting");
		goto refuse;
	}
	devs = calloc(dm->nr_slots + 1, sizeof(*devs));
	if (!devs) {
		snprintf(err, sizeof(err), "upgrade: %s", strerror(ENOMEM));
		goto refuse;
	}
	for (unsigned i = 0; i < dm->nr_slots; i++)
		devs[i] = dm->slots[i].d;
	notify_send("RELOADING=1\nSTATUS=upgrading: handing the devices over");
	upgrade_hand_over(&dm->ctrl, devs, dm->nr_slots, dm->self_path, dm->opts, &h, &quiesced,
			  err, sizeof(err));
	free(devs);
	log_msg(LOG_LEVEL_ERR, "%s; this ublkd serves on", err);
	if (quiesced)
		daemon_take_back(dm);
	daemon_notify_status(dm, "READY=1\n", "last upgrade failed");
refuse:
	if (c)
		conn_reply(c, -EAGAIN, "%s", err);
	else
		log_msg(LOG_LEVEL_WARNING, "%s", err);
}
