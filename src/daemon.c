// SPDX-License-Identifier: MIT
/*
 * The daemon of include/daemon.h: the registry of the devices it owns, its start and the
 * control thread's loop over its socket (src/server.c), signals and finished teardowns
 * (src/teardown.c). The config file's devices are src/daemon_config.c's, devices handed
 * between daemons src/daemon_handover.c's. Only queue and teardown threads run beside the
 * control thread.
 */
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mount.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "ctrl.h"
#include "daemon.h"
#include "daemon_state.h"
#include "dev_conf.h"
#include "device.h"
#include "device_ublk.h"
#include "io_mode.h"
#include "ipc.h"
#include "listen_fds.h"
#include "log.h"
#include "mem_store.h"
#include "notify.h"
#include "request.h"
#include "rundir.h"
#include "server.h"
#include "state_store.h"
#include "teardown.h"
#include "upgrade.h"

/* An auto-started daemon that has no device for this long goes away. */
#define AUTO_EXIT_IDLE_MS 30000

/* Logs, and tells the process waiting for our start (if any) as "warning ...". */
void daemon_warn(struct daemon *dm, const char *fmt, ...)
{
	char msg[CONFIG_ERR_MAX + 256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_msg(LOG_LEVEL_WARNING, "%s", msg);
	if (dm->report_fd >= 0)
		dprintf(dm->report_fd, "warning %s\n", msg);
}

static void daemon_report_end(struct daemon *dm, const char *fatal)
{
	if (dm->report_fd < 0)
		return;
	if (fatal)
		dprintf(dm->report_fd, "fatal %s\n", fatal);
	else
		dprintf(dm->report_fd, "ready\n");
	close(dm->report_fd);
	dm->report_fd = -1;
}

/* "add \"name\"" or "add (id 3)" for messages about a device being created. */
static const char *dev_label(const struct dev_conf *c, char *buf, size_t len)
{
	if (c->name[0])
		snprintf(buf, len, "\"%s\"", c->name);
	else if (c->id != DEV_ID_ANY)
		snprintf(buf, len, "(id %u)", c->id);
	else
		snprintf(buf, len, "(new device)");
	return buf;
}

unsigned daemon_live_devices(const struct daemon *dm)
{
	unsigned n = 0;

	for (unsigned i = 0; i < dm->nr_slots; i++)
		n += !dm->slots[i].td;
	return n;
}

int daemon_find_name(const struct daemon *dm, const char *name)
{
	for (unsigned i = 0; i < dm->nr_slots; i++)
		if (!strcmp(dm->slots[i].d->conf.name, name))
			return (int)i;
	return -ENOENT;
}

int daemon_find(const struct daemon *dm, const char *what)
{
	int i = daemon_find_name(dm, what);
	unsigned id;

	if (i >= 0 || ipc_parse_dev_ref(what, &id) < 0)
		return i;
	for (unsigned j = 0; j < dm->nr_slots; j++) {
		if (dm->slots[j].d->info.dev_id == id)
			return (int)j;
	}
	return -ENOENT;
}

/*
 * Creates and starts the device conf describes; 0 and /dev/ublkbN in out, or -errno and the
 * reason in out. client_pid > 0: the file backend's path is the client's, reached through its
 * root (the client may live in another mount namespace than ours).
 */
int daemon_add(struct daemon *dm, struct dev_conf *conf, pid_t client_pid, char *out,
	       size_t out_len)
{
	char label[DEV_NAME_MAX + 16], err[DEV_ERR_MAX], id_text[16];
	struct dev_slot *slots;
	struct dev_conf open_conf;
	struct device *d;
	int ret;

	dev_label(conf, label, sizeof(label));
	if (conf->name[0] && (ret = daemon_find_name(dm, conf->name)) >= 0) {
		d = dm->slots[ret].d;
		snprintf(out, out_len, "add %s: a device of that name exists (/dev/ublkb%u%s)",
			 label, d->info.dev_id, dm->slots[ret].td ? ", being deleted" : "");
		return -EEXIST;
	}
	d = malloc(sizeof(*d));
	slots = realloc(dm->slots, (dm->nr_slots + 1) * sizeof(*slots));
	if (!d || !slots) {
		free(d);
		snprintf(out, out_len, "add %s: %s", label, strerror(ENOMEM));
		return -ENOMEM;
	}
	dm->slots = slots;
	dev_init(d, conf, &dev_ublk_ops);
	d->ctrl = &dm->ctrl;
	d->features = dm->features;
	d->allowed_cpus = dm->allowed_cpus;

	open_conf = *conf;
	if (client_pid > 0 && conf->path[0] == '/' &&
	    (size_t)snprintf(open_conf.path, sizeof(open_conf.path), "/proc/%d/root%s", client_pid,
			     conf->path) >= sizeof(open_conf.path)) {
		snprintf(out, out_len, "add %s: path too long: %s", label, conf->path);
		free(d);
		return -ENAMETOOLONG;
	}
	ret = backend_open(&d->be, &open_conf, err, sizeof(err));
	if (ret < 0) {
		/* The backend named the path it opened; the user knows theirs. */
		char *via = strstr(err, open_conf.path);

		if (via && open_conf.path[0] && strcmp(open_conf.path, conf->path))
			snprintf(out, out_len, "add %s: %.*s%s%s", label, (int)(via - err), err,
				 conf->path, via + strlen(open_conf.path));
		else
			snprintf(out, out_len, "add %s: %s", label, err);
		free(d);
		return ret;
	}
	ret = dev_create(d);
	if (ret < 0) {
		snprintf(out, out_len, "add %s: %s", label, d->err);
		if (d->state != DEV_DELETED)
			log_msg(LOG_LEVEL_ERR, "add %s: device %u left in state %s", label,
				d->info.dev_id, dev_state_name(d->state));
		backend_close(&d->be);
		free(d);
		return ret;
	}
	/* A memory device's RAM outlives us from now on, for the daemon that adopts it. */
	ret = backend_keep(&d->be, d->info.dev_id, err, sizeof(err));
	if (ret < 0) {
		daemon_warn(dm, "%s: its contents will not survive a crash of ublkd: %s", label,
			    err);
		/* Nor may RAM an older device of this id left behind be taken for them. */
		backend_forget(d->conf.backend, d->info.dev_id);
	}
	snprintf(id_text, sizeof(id_text), "%u", d->info.dev_id);
	dev_conf_set(&d->conf, "id", id_text, err, sizeof(err));
	if (!d->conf.name[0]) {
		char name[DEV_NAME_MAX];

		snprintf(name, sizeof(name), "ublk%u", d->info.dev_id);
		dev_conf_set(&d->conf, "name", name, err, sizeof(err));
	}
	ret = state_store_write(d->info.dev_id, &d->conf);
	if (ret < 0)
		log_msg(LOG_LEVEL_WARNING, "device %u: state file: %s", d->info.dev_id,
			strerror(-ret));
	dm->slots[dm->nr_slots++] = (struct dev_slot){ .d = d };
	snprintf(out, out_len, "/dev/ublkb%u", d->info.dev_id);
	log_msg(LOG_LEVEL_NOTICE,
		"added \"%s\": /dev/ublkb%u, %s backend, %u queues, depth %u, io_mode %s",
		d->conf.name, d->info.dev_id, d->be.ops->name, d->info.nr_hw_queues,
		d->info.queue_depth, dev_io_mode_name(io_mode_of_flags(d->info.flags)));
	return 0;
}

/* Starts tearing slot i down in the background; the outcome comes to daemon_reap(). */
int daemon_remove(struct daemon *dm, unsigned i, bool force, enum teardown_reason reason,
		  struct conn *waiter)
{
	struct dev_slot *slot = &dm->slots[i];
	struct teardown *td;
	int ret;

	if (slot->td) {
		if (waiter)
			conn_reply(waiter, -EALREADY, "del \"%s\": being deleted already",
				   slot->d->conf.name);
		return -EALREADY;
	}
	td = calloc(1, sizeof(*td));
	if (!td) {
		if (waiter)
			conn_reply(waiter, -ENOMEM, "del \"%s\": %s", slot->d->conf.name,
				   strerror(ENOMEM));
		return -ENOMEM;
	}
	*td = (struct teardown){
		.d = slot->d, .force = force, .waiter = waiter, .done_fd = dm->teardown_fd
	};
	ret = teardown_start(td);
	if (ret < 0) {
		log_msg(LOG_LEVEL_ERR, "%s", td->msg);
		if (waiter)
			conn_reply(waiter, ret, "%s", td->msg);
		free(td);
		return ret;
	}
	slot->td = td;
	slot->reason = reason;
	if (waiter)
		waiter->waiting++;
	return 0;
}

/* Stops listening and gives up the lock: a client from now on starts a new daemon. */
static void daemon_retire(struct daemon *dm)
{
	server_close_listener(&dm->srv);
	rundir_unlock(dm->lock_fd);
	dm->lock_fd = -1;
}

/* An auto-started daemon goes once its last device went: before the client hears so. */
static void daemon_finish_conn(struct daemon *dm, struct conn *c)
{
	if (dm->opts->auto_exit && !dm->srv.activated && !dm->nr_slots)
		daemon_retire(dm);
	conn_finish(&dm->srv, c);
}

/* The outcome of every teardown that has ended: replies, logs, and the registry updated. */
static void daemon_reap(struct daemon *dm)
{
	uint64_t count;

	if (read(dm->teardown_fd, &count, sizeof(count)) < 0 && errno != EAGAIN)
		log_msg(LOG_LEVEL_ERR, "teardown events: %s", strerror(errno));
	for (unsigned i = dm->nr_slots; i-- > 0;) {
		struct dev_slot *slot = &dm->slots[i];
		struct teardown *td = slot->td;
		struct device *d = slot->d;
		struct conn *waiter;

		if (!td || !atomic_load_explicit(&td->done, memory_order_acquire))
			continue;
		teardown_join(td);
		waiter = td->waiter;
		if (!td->result) {
			state_store_remove(d->info.dev_id);
			backend_forget(d->conf.backend, d->info.dev_id);
			log_msg(LOG_LEVEL_NOTICE, "deleted \"%s\" (/dev/ublkb%u)", d->conf.name,
				d->info.dev_id);
		} else if (slot->reason == TEARDOWN_RELOAD && td->result == -EBUSY) {
			log_msg(LOG_LEVEL_WARNING,
				"reload: device \"%s\" is gone from the config but in use; kept: "
				"%s",
				d->conf.name, d->err);
		} else {
			log_msg(LOG_LEVEL_ERR, "%s", td->msg);
		}
		if (waiter) {
			conn_reply(waiter, td->result, "%s", td->msg);
			waiter->waiting--;
		}
		if (td->result && slot->reason == TEARDOWN_SHUTDOWN)
			dm->shutdown_failed = true;
		/* Deleted, or as far down as the kernel let it go at shutdown: forget it. */
		if (!td->result || slot->reason == TEARDOWN_SHUTDOWN) {
			free(d);
			*slot = dm->slots[--dm->nr_slots];
		} else {
			slot->td = NULL;
		}
		free(td);
		if (waiter && !waiter->waiting)
			daemon_finish_conn(dm, waiter);
	}
}

static void handle_del(struct daemon *dm, const struct request *req, struct conn *c)
{
	int i;

	if (!req->target) {
		for (unsigned n = 0; n < dm->nr_slots; n++)
			daemon_remove(dm, n, req->force, TEARDOWN_REQUEST, c);
		if (!dm->nr_slots)
			conn_reply(c, 0, "no devices");
		return;
	}
	i = daemon_find(dm, req->target);
	if (i < 0) {
		conn_reply(c, i, "del %.200s: no such device in this ublkd (see ublkd list)",
			   req->target);
		return;
	}
	daemon_remove(dm, (unsigned)i, req->force, TEARDOWN_REQUEST, c);
}

static void daemon_handle_request(void *ctx, struct conn *c)
{
	struct daemon *dm = ctx;
	char msg[CONFIG_ERR_MAX + 128];
	struct request req;
	int ret;

	log_msg(LOG_LEVEL_DEBUG, "request from pid %d: %.*s", c->pid, (int)strcspn(c->in, "\n"),
		c->in);
	ret = request_parse(c->in, c->in_len, &req, msg, sizeof(msg));
	if (ret < 0) {
		conn_reply(c, ret, "%s", msg);
	} else if (dm->stopping) {
		conn_reply(c, -ESHUTDOWN, "ublkd is stopping every device; try again later");
	} else if (req.kind == REQUEST_ADD) {
		ret = daemon_add(dm, &req.conf, c->pid, msg, sizeof(msg));
		conn_reply(c, ret, "%s", msg);
	} else if (req.kind == REQUEST_DEL) {
		handle_del(dm, &req, c);
	} else if (req.kind == REQUEST_INJECT) {
		daemon_inject_request(dm, req.target, &req.inject, c);
	} else if (req.kind == REQUEST_RECOVER) {
		daemon_recover_request(dm, c);
	} else if (req.kind == REQUEST_UPGRADE) {
		/* Returns only when the upgrade did not happen, with the reason in the reply. */
		daemon_upgrade(dm, c);
	} else {
		ret = daemon_reload(dm, msg, sizeof(msg));
		conn_reply(c, ret, "%s", msg);
	}
	daemon_finish_conn(dm, c);
}

/* READY=1 (or what is given first) with a STATUS= line of what runs and what failed. */
void daemon_notify_status(struct daemon *dm, const char *state, const char *extra)
{
	unsigned live = daemon_live_devices(dm);

	char recovered[64] = "";

	if (dm->recovered)
		snprintf(recovered, sizeof(recovered), " (%u recovered from a dead ublkd)",
			 dm->recovered);
	notify_sendf("%sSTATUS=%u device%s live%s%s%s%s%s", state, live, live == 1 ? "" : "s",
		     recovered, dm->failed[0] ? "; failed: " : "", dm->failed, extra ? "; " : "",
		     extra ? extra : "");
}

/* Signals arrive as reads of signal_fd; every thread started later inherits the blocked mask. */
static int open_signals(struct daemon *dm, char *err, size_t len)
{
	sigset_t set;
	int ret;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR2);
	sigprocmask(SIG_BLOCK, &set, NULL);
	dm->signal_fd = signalfd(-1, &set, SFD_CLOEXEC);
	dm->teardown_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (dm->signal_fd < 0 || dm->teardown_fd < 0) {
		ret = -errno;
		snprintf(err, len, "signalfd/eventfd: %s", strerror(errno));
		return ret;
	}
	return 0;
}

/* Whether / propagates mounts to its slaves: "shared:N" among mountinfo's optional fields. */
static bool root_mount_shared(void)
{
	char line[4096];
	bool shared = false;
	FILE *f = fopen("/proc/self/mountinfo", "re");

	while (f && !shared && fgets(line, sizeof(line), f)) {
		char mount_point[8];
		int fields_end = 0;

		/* ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - ... */
		if (sscanf(line, "%*u %*u %*s %*s %7s %*s%n", mount_point, &fields_end) == 1 &&
		    !strcmp(mount_point, "/"))
			shared = strstr(line + fields_end, " shared:") &&
				 strstr(line + fields_end, " shared:") < strstr(line, " - ");
	}
	if (f)
		fclose(f);
	return shared;
}

/*
 * Our own mount namespace. If a filesystem on one of our devices were mounted only in ours,
 * our exit would unmount it and wait on I/O that only we could serve; slave propagation means
 * nothing mounted here goes out, while everything mounted outside, before or after we start
 * (a late /srv, a reload's new image), comes in: we never open a file hidden under a mount
 * point, and a filesystem on our device is unmounted here when it is unmounted outside.
 */
static void own_mount_namespace(struct daemon *dm)
{
	if (!root_mount_shared())
		daemon_warn(dm,
			    "/ is not a shared mount: filesystems mounted after ublkd started "
			    "are not seen by it (systemd shares it; else mount --make-rshared /)");
	if (unshare(CLONE_NEWNS) < 0)
		daemon_warn(dm, "own mount namespace: %s (an unmount at exit may hang)",
			    strerror(errno));
	else if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0)
		daemon_warn(dm, "slave mounts: %s", strerror(errno));
}

/* SIGTERM/SIGINT: every device goes, in parallel and even if in use. */
static void daemon_begin_shutdown(struct daemon *dm, unsigned signo)
{
	log_msg(LOG_LEVEL_NOTICE, "signal %u: stopping every device", signo);
	notify_send("STOPPING=1\nSTATUS=stopping every device");
	dm->stopping = true;
	/* No new clients: those waiting for a deletion still get their answer. */
	server_close_listener(&dm->srv);
	for (unsigned i = 0; i < dm->nr_slots; i++)
		daemon_remove(dm, i, true, TEARDOWN_SHUTDOWN, NULL);
}

static void daemon_handle_signal(struct daemon *dm)
{
	struct signalfd_siginfo si;
	char msg[CONFIG_ERR_MAX + 128];

	if (read(dm->signal_fd, &si, sizeof(si)) != sizeof(si))
		return;
	if (si.ssi_signo == SIGHUP) {
		if (!dm->stopping)
			daemon_reload(dm, msg, sizeof(msg));
		return;
	}
	if (si.ssi_signo == SIGUSR2) {
		if (!dm->stopping)
			daemon_upgrade(dm, NULL);
		return;
	}
	if (dm->stopping)
		log_msg(LOG_LEVEL_NOTICE, "signal %u: already stopping every device", si.ssi_signo);
	else
		daemon_begin_shutdown(dm, si.ssi_signo);
}

static bool daemon_idle_auto(const struct daemon *dm)
{
	return dm->opts->auto_exit && !dm->srv.activated && !dm->nr_slots;
}

static void daemon_loop(struct daemon *dm)
{
	for (;;) {
		struct pollfd pfd[SERVER_MAX_CONNS + 3];
		unsigned nr = 0, nr_srv;
		int timeout_ms, n;

		if (dm->stopping && !dm->nr_slots)
			return;
		pfd[nr++] = (struct pollfd){ .fd = dm->signal_fd, .events = POLLIN };
		pfd[nr++] = (struct pollfd){ .fd = dm->teardown_fd, .events = POLLIN };
		nr_srv = server_poll_fds(&dm->srv, pfd + nr);
		timeout_ms = server_poll_timeout_ms(&dm->srv);
		if (daemon_idle_auto(dm) && (timeout_ms < 0 || timeout_ms > AUTO_EXIT_IDLE_MS))
			timeout_ms = AUTO_EXIT_IDLE_MS;
		n = poll(pfd, nr + nr_srv, timeout_ms);
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0 && daemon_idle_auto(dm) && timeout_ms == AUTO_EXIT_IDLE_MS) {
			log_msg(LOG_LEVEL_INFO, "no devices left: exiting");
			return;
		}
		if (pfd[0].revents & POLLIN)
			daemon_handle_signal(dm);
		if (pfd[1].revents & POLLIN)
			daemon_reap(dm);
		server_dispatch(&dm->srv, pfd + nr, nr_srv, daemon_handle_request, dm);
		if (daemon_idle_auto(dm) && dm->lock_fd < 0) {
			log_msg(LOG_LEVEL_INFO, "no devices left: exiting");
			return;
		}
	}
}

/* After the loop (or a failed start): whatever is left goes, then everything is closed. */
static int daemon_shutdown(struct daemon *dm)
{
	if (dm->nr_slots && !dm->stopping)
		daemon_begin_shutdown(dm, SIGTERM);
	while (dm->nr_slots) {
		struct pollfd pfd = { .fd = dm->teardown_fd, .events = POLLIN };

		if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
			break;
		daemon_reap(dm);
	}
	free(dm->slots);
	server_close(&dm->srv);
	rundir_unlock(dm->lock_fd);
	ublk_ctrl_close(&dm->ctrl);
	if (dm->signal_fd >= 0)
		close(dm->signal_fd);
	if (dm->teardown_fd >= 0)
		close(dm->teardown_fd);
	return dm->shutdown_failed || dm->nr_slots ? 1 : 0;
}

/* A start that failed: said in the log, to the process that started us, and to an upgrade's client. */
static void daemon_start_failed(struct daemon *dm, const struct upgrade_handoff *up,
				const char *err)
{
	log_msg(LOG_LEVEL_ERR, "serve: %s", err);
	daemon_report_end(dm, err);
	if (up && up->conn_fd >= 0) {
		dprintf(up->conn_fd, "error upgrade: the new ublkd did not start: %s\n", err);
		close(up->conn_fd);
	}
}

int daemon_serve(const struct daemon_opts *opts)
{
	struct daemon dm = {
		.opts = opts,
		.signal_fd = -1,
		.teardown_fd = -1,
		.lock_fd = -1,
		.report_fd = opts->report_fd,
		.srv = { .listen_fd = -1 },
	};
	char err[CONFIG_ERR_MAX + 64];
	struct upgrade_handoff up;
	bool upgraded = upgrade_take(&up);
	unsigned adopt_failed;
	int ret, status;

	/* Before any thread: more CPUs than a cpu_set_t holds, and we restrict nothing. */
	if (sched_getaffinity(0, sizeof(dm.allowed_cpus), &dm.allowed_cpus) < 0)
		memset(&dm.allowed_cpus, 0xff, sizeof(dm.allowed_cpus));
	ret = rundir_prepare(err, sizeof(err));
	if (!ret) {
		ret = rundir_lock(err, sizeof(err));
		dm.lock_fd = ret;
		ret = ret < 0 ? ret : 0;
	}
	if (ret < 0) {
		daemon_start_failed(&dm, upgraded ? &up : NULL, err);
		return 1;
	}
	if (upgrade_self_path(dm.self_path, sizeof(dm.self_path)) < 0)
		dm.self_path[0] = '\0';
	/* Before any thread: RAM systemd's fd store gives back, or the old image handed over. */
	if (mem_store_init(err, sizeof(err)) < 0)
		daemon_warn(&dm, "%s", err);
	if (upgraded)
		upgrade_offer_ram(&up);
	own_mount_namespace(&dm);
	ret = ublk_ctrl_open(&dm.ctrl);
	if (ret < 0) {
		snprintf(err, sizeof(err), "%s: %s%s", dm.ctrl.err_subject, strerror(-ret),
			 ublk_ctrl_open_hint(&dm.ctrl, ret));
	} else {
		ret = ublk_ctrl_get_features(&dm.ctrl, &dm.features);
		if (ret < 0)
			snprintf(err, sizeof(err), "GET_FEATURES: %s (ublkd needs Linux 6.5+)",
				 strerror(-ret));
	}
	if (!ret)
		ret = open_signals(&dm, err, sizeof(err));
	if (!ret && upgraded)
		server_adopt_listener(&dm.srv, up.listen_fd, up.activated);
	else if (!ret)
		ret = server_open(&dm.srv, err, sizeof(err));
	/* Whatever systemd passed that neither the server nor the memory store took. */
	listen_fds_close_unclaimed();
	if (ret < 0) {
		daemon_start_failed(&dm, upgraded ? &up : NULL, err);
		daemon_shutdown(&dm);
		return 1;
	}
	/* Before the config: its devices that a dead ublkd left are taken over, not re-created. */
	adopt_failed = daemon_adopt_all(&dm);
	if (opts->config_path) {
		ret = daemon_load_config(&dm, opts->config_path, err, sizeof(err));
		/* Devices taken over live on: an unreadable config is no reason to pull them. */
		if (ret < 0 && dm.nr_slots) {
			daemon_warn(&dm, "%s; serving the %u devices taken over", err, dm.nr_slots);
		} else if (ret < 0) {
			daemon_start_failed(&dm, upgraded ? &up : NULL, err);
			daemon_shutdown(&dm);
			return 1;
		}
	}
	log_msg(LOG_LEVEL_NOTICE, "serving %u devices on %s/ublkd.sock%s", dm.nr_slots,
		ipc_run_dir(), dm.srv.activated ? " (socket from systemd)" : "");
	daemon_report_end(&dm, NULL);
	if (upgraded) {
		upgrade_report(&up, daemon_live_devices(&dm), adopt_failed, dm.recover_report);
		/* Reported to the one who asked: `ublkd recover` has nothing to add. */
		dm.recover_report[0] = '\0';
	}
	/* Every device that could come up is live: START_DEV returned for each. */
	daemon_notify_status(&dm, "READY=1\n", NULL);
	daemon_loop(&dm);
	status = daemon_shutdown(&dm);
	log_msg(LOG_LEVEL_NOTICE, "exiting with status %d", status);
	return status;
}
