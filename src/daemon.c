// SPDX-License-Identifier: MIT
/*
 * The daemon of include/daemon.h: its run directory, control socket, signals, and the devices
 * it owns. Everything runs in one control thread; only the queue threads run beside it.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "ctrl.h"
#include "daemon.h"
#include "dev_conf.h"
#include "device.h"
#include "device_ublk.h"
#include "ipc.h"
#include "log.h"
#include "notify.h"
#include "parse.h"

/* An auto-started daemon that has no device for this long goes away. */
#define AUTO_EXIT_IDLE_MS 30000
/* A client that sends nothing for this long is dropped, so it cannot hold up the daemon. */
#define CLIENT_TIMEOUT_S 10

struct daemon {
	const struct daemon_opts *opts;
	struct ublk_ctrl ctrl;
	uint64_t features;
	struct device **devs;
	unsigned nr_devs;
	int listen_fd;
	int signal_fd;
	int lock_fd;
	int report_fd;
	bool stopping;
	/* Config devices that did not come up, for STATUS=: "disk, scratch". */
	char failed[1024];
	char request[IPC_MSG_MAX]; /* the one client's request being handled */
};

/* Logs, and tells the process waiting for our start (if any) as "warning ...". */
static void daemon_warn(struct daemon *dm, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void daemon_warn(struct daemon *dm, const char *fmt, ...)
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

static struct device *daemon_find_name(struct daemon *dm, const char *name)
{
	for (unsigned i = 0; i < dm->nr_devs; i++)
		if (!strcmp(dm->devs[i]->conf.name, name))
			return dm->devs[i];
	return NULL;
}

/* The description a later ublkd can re-attach from, written whole or not at all. */
static int write_state_file(const struct device *d)
{
	char path[PATH_MAX], tmp[PATH_MAX + 8];
	FILE *f;
	int ret;

	ret = ipc_state_file_path(path, sizeof(path), d->info.dev_id);
	if (ret < 0)
		return ret;
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "we");
	if (!f)
		return -errno;
	/* The name was given (or set by us) before: dev_conf_write() writes the section header. */
	fprintf(f, "# written by ublkd pid %d for /dev/ublkb%u\n", getpid(), d->info.dev_id);
	ret = dev_conf_write(&d->conf, f);
	if (fclose(f) != 0 && !ret)
		ret = -errno;
	if (!ret && rename(tmp, path) < 0)
		ret = -errno;
	if (ret < 0)
		unlink(tmp);
	return ret;
}

static void remove_state_file(uint32_t id)
{
	char path[PATH_MAX];

	if (!ipc_state_file_path(path, sizeof(path), id))
		unlink(path);
}

/*
 * CPUs of conf's cpus that are not online would fail only in a queue thread, after ADD_DEV, as
 * "Invalid argument": name the CPU before anything is created. 0 when /sys cannot tell.
 */
static int check_cpus_online(const struct dev_conf *conf, char *err, size_t err_len)
{
	char online_text[1024] = "";
	cpu_set_t online;
	FILE *f;

	if (!conf->cpus_given)
		return 0;
	f = fopen("/sys/devices/system/cpu/online", "re");
	if (!f)
		return 0;
	if (!fgets(online_text, sizeof(online_text), f))
		online_text[0] = '\0';
	fclose(f);
	online_text[strcspn(online_text, "\n")] = '\0';
	if (parse_cpu_list(online_text, &online) < 0)
		return 0;
	for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
		if (CPU_ISSET(cpu, &conf->cpus) && !CPU_ISSET(cpu, &online)) {
			snprintf(err, err_len, "cpus: CPU %d is not online (online: %s)", cpu,
				 online_text);
			return -EINVAL;
		}
	}
	return 0;
}

/*
 * Creates and starts the device conf describes; 0 and /dev/ublkbN in out, or -errno and the
 * reason in out. client_pid > 0: the file backend's path is the client's, reached through its
 * root (we live in our own mount namespace, which may not see what it has mounted since).
 */
static int daemon_add(struct daemon *dm, struct dev_conf *conf, pid_t client_pid, char *out,
		      size_t out_len)
{
	char label[DEV_NAME_MAX + 16], err[DEV_ERR_MAX], id_text[16];
	struct device *d, **devs;
	struct dev_conf open_conf;
	int ret;

	dev_label(conf, label, sizeof(label));
	d = conf->name[0] ? daemon_find_name(dm, conf->name) : NULL;
	if (d) {
		snprintf(out, out_len, "add %s: a device of that name exists (/dev/ublkb%u)", label,
			 d->info.dev_id);
		return -EEXIST;
	}
	ret = check_cpus_online(conf, err, sizeof(err));
	if (ret < 0) {
		snprintf(out, out_len, "add %s: %s", label, err);
		return ret;
	}
	d = malloc(sizeof(*d));
	devs = realloc(dm->devs, (dm->nr_devs + 1) * sizeof(*devs));
	if (!d || !devs) {
		free(d);
		snprintf(out, out_len, "add %s: %s", label, strerror(ENOMEM));
		return -ENOMEM;
	}
	dm->devs = devs;
	dev_init(d, conf, &dev_ublk_ops);
	d->ctrl = &dm->ctrl;
	d->features = dm->features;

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
	snprintf(id_text, sizeof(id_text), "%u", d->info.dev_id);
	dev_conf_set(&d->conf, "id", id_text, err, sizeof(err));
	if (!d->conf.name[0]) {
		char name[DEV_NAME_MAX];

		snprintf(name, sizeof(name), "ublk%u", d->info.dev_id);
		dev_conf_set(&d->conf, "name", name, err, sizeof(err));
	}
	ret = write_state_file(d);
	if (ret < 0)
		log_msg(LOG_LEVEL_WARNING, "device %u: state file: %s", d->info.dev_id,
			strerror(-ret));
	dm->devs[dm->nr_devs++] = d;
	snprintf(out, out_len, "/dev/ublkb%u", d->info.dev_id);
	log_msg(LOG_LEVEL_NOTICE, "added \"%s\": /dev/ublkb%u, %s backend, %u queues, depth %u",
		d->conf.name, d->info.dev_id, d->be.ops->name, d->info.nr_hw_queues,
		d->info.queue_depth);
	return 0;
}

/* Stops and deletes dm->devs[i] and forgets it; the backend is closed (file data flushed). */
static int daemon_remove(struct daemon *dm, unsigned i, char *out, size_t out_len)
{
	struct device *d = dm->devs[i];
	int ret = dev_destroy(d);

	if (ret < 0 && d->state != DEV_DELETED) {
		snprintf(out, out_len, "del \"%s\": %s (left in state %s)", d->conf.name, d->err,
			 dev_state_name(d->state));
		return ret;
	}
	remove_state_file(d->info.dev_id);
	backend_close(&d->be);
	log_msg(LOG_LEVEL_NOTICE, "deleted \"%s\" (/dev/ublkb%u)", d->conf.name, d->info.dev_id);
	snprintf(out, out_len, "/dev/ublkb%u", d->info.dev_id);
	dm->devs[i] = dm->devs[--dm->nr_devs];
	free(d);
	return 0;
}

/* Which of our devices "del WHAT" means: a name, an id, or /dev/ublkbN or /dev/ublkcN. */
static int daemon_find(struct daemon *dm, const char *what)
{
	unsigned id;

	for (unsigned i = 0; i < dm->nr_devs; i++) {
		if (!strcmp(dm->devs[i]->conf.name, what))
			return (int)i;
	}
	if (ipc_parse_dev_ref(what, &id) < 0)
		return -ENOENT;
	for (unsigned i = 0; i < dm->nr_devs; i++) {
		if (dm->devs[i]->info.dev_id == id)
			return (int)i;
	}
	return -ENOENT;
}

static void reply(FILE *out, int ret, const char *text)
{
	fprintf(out, "%s %s\n", ret < 0 ? "error" : "ok", text);
}

/* "add" followed by "key = value" lines: the CLI checked them, but trust nothing. */
static void handle_add(struct daemon *dm, char *body, pid_t pid, FILE *out)
{
	char msg[CONFIG_ERR_MAX + 64], err[DEV_ERR_MAX];
	struct dev_conf conf;
	char *line, *save = NULL;
	int ret;

	dev_conf_init(&conf, "command line");
	for (line = strtok_r(body, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *eq = strchr(line, '=');
		char *key = line, *value, *end;

		if (!eq) {
			snprintf(msg, sizeof(msg), "add: malformed request line \"%.64s\"", line);
			reply(out, -EINVAL, msg);
			return;
		}
		*eq = '\0';
		value = eq + 1;
		while (*key == ' ')
			key++;
		for (end = eq; end > key && end[-1] == ' ';)
			*--end = '\0';
		while (*value == ' ')
			value++;
		ret = dev_conf_set(&conf, key, value, err, sizeof(err));
		if (ret < 0) {
			snprintf(msg, sizeof(msg), "add: %s", err);
			reply(out, ret, msg);
			return;
		}
	}
	ret = dev_conf_check(&conf, err, sizeof(err));
	if (ret < 0) {
		snprintf(msg, sizeof(msg), "add: %s", err);
		reply(out, ret, msg);
		return;
	}
	ret = daemon_add(dm, &conf, pid, msg, sizeof(msg));
	reply(out, ret, msg);
}

static void handle_del(struct daemon *dm, const char *what, FILE *out)
{
	char msg[DEV_ERR_MAX + 128];
	int i, ret;

	if (!strcmp(what, "--all")) {
		if (!dm->nr_devs)
			reply(out, 0, "no devices");
		for (unsigned n = dm->nr_devs; n-- > 0;) {
			ret = daemon_remove(dm, n, msg, sizeof(msg));
			reply(out, ret, msg);
		}
		return;
	}
	i = daemon_find(dm, what);
	if (i < 0) {
		snprintf(msg, sizeof(msg),
			 "del %.200s: no such device in this ublkd (see ublkd list)", what);
		reply(out, i, msg);
		return;
	}
	ret = daemon_remove(dm, (unsigned)i, msg, sizeof(msg));
	reply(out, ret, msg);
}

/*
 * Stops listening and gives up the lock: unlinked first, so that a client arriving from now on
 * starts a new daemon instead of queueing on a socket nobody will accept.
 */
static void daemon_retire(struct daemon *dm)
{
	char path[PATH_MAX];

	if (dm->listen_fd >= 0) {
		if (!ipc_run_path(path, sizeof(path), "ublkd.sock"))
			unlink(path);
		close(dm->listen_fd);
		dm->listen_fd = -1;
	}
	if (dm->lock_fd >= 0) {
		if (!ipc_run_path(path, sizeof(path), "ublkd.pid"))
			unlink(path);
		close(dm->lock_fd);
		dm->lock_fd = -1;
	}
}

/* One client: read its whole request, act, answer, hang up. */
static void daemon_handle_client(struct daemon *dm, int fd)
{
	char *req = dm->request;
	struct timeval tv = { .tv_sec = CLIENT_TIMEOUT_S };
	struct ucred cred;
	socklen_t cred_len = sizeof(cred);
	char *body;
	FILE *out;
	ssize_t n;

	out = fdopen(fd, "w");
	if (!out) {
		close(fd);
		return;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cred_len) < 0 ||
	    (cred.uid != 0 && cred.uid != geteuid())) {
		reply(out, -EPERM, "permission denied: the ublkd socket is for root only");
		fclose(out);
		return;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	n = ipc_read_all(fd, req, sizeof(dm->request));
	if (n < 0) {
		reply(out, (int)n, n == -EMSGSIZE ? "request too long" : "request not read");
		fclose(out);
		return;
	}
	log_msg(LOG_LEVEL_DEBUG, "request from pid %d: %.*s", cred.pid, (int)strcspn(req, "\n"),
		req);
	body = strchr(req, '\n');
	if (body)
		*body++ = '\0';
	else
		body = req + n;
	if (!strcmp(req, "add"))
		handle_add(dm, body, cred.pid, out);
	else if (!strncmp(req, "del ", 4))
		handle_del(dm, req + 4, out);
	else
		reply(out, -EINVAL, "unknown request");
	/* The reply is still buffered: retire before the client can act on it. */
	if (dm->opts->auto_exit && !dm->nr_devs)
		daemon_retire(dm);
	fclose(out);
}

/* Relative paths in a config file are relative to the file, not to wherever we were started. */
static void resolve_config_path(struct dev_conf *c, const char *config_path)
{
	const char *slash = strrchr(config_path, '/');
	char joined[PATH_MAX];

	if (!c->path[0] || c->path[0] == '/' || !slash)
		return;
	if ((size_t)snprintf(joined, sizeof(joined), "%.*s/%s", (int)(slash - config_path),
			     config_path, c->path) < sizeof(joined))
		memcpy(c->path, joined, sizeof(c->path));
}

/* Creates the config file's devices; -errno (err says why) only if the file cannot be read. */
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

/* Creates the config file's devices; -errno (err says why) only if the file cannot be read. */
static int daemon_load_config(struct daemon *dm, const char *path, char *fatal, size_t fatal_len)
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
		resolve_config_path(&cd->conf, path);
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

/* READY=1 (or what is given first) with a STATUS= line of what runs and what failed. */
static void daemon_notify_status(struct daemon *dm, const char *state, const char *extra)
{
	notify_sendf("%sSTATUS=%u device%s live%s%s%s%s", state, dm->nr_devs,
		     dm->nr_devs == 1 ? "" : "s", dm->failed[0] ? "; failed: " : "", dm->failed,
		     extra ? "; " : "", extra ? extra : "");
}

static bool from_command_line(const struct device *d)
{
	return !strcmp(d->conf.origin, "command line");
}

/*
 * SIGHUP: the config file again. A file with any error changes nothing. Otherwise devices new
 * in it are created, devices gone from it deleted (not those `ublkd add` made), and a device
 * whose description changed is left as it runs, with a warning: re-creating it would pull
 * the disk from under its users.
 */
static void daemon_reload(struct daemon *dm)
{
	char err[CONFIG_ERR_MAX], msg[CONFIG_ERR_MAX + 64];
	const char *path = dm->opts->config_path;
	struct timespec now;
	struct config cfg;
	bool bad = false;

	clock_gettime(CLOCK_MONOTONIC, &now);
	notify_sendf("RELOADING=1\nMONOTONIC_USEC=%llu",
		     (unsigned long long)now.tv_sec * 1000000ULL +
			     (unsigned long long)now.tv_nsec / 1000);
	if (!path) {
		log_msg(LOG_LEVEL_NOTICE, "reload: no config file to read");
		daemon_notify_status(dm, "READY=1\n", NULL);
		return;
	}
	log_msg(LOG_LEVEL_NOTICE, "reload: reading %s", path);
	if (config_load(path, &cfg, err, sizeof(err)) < 0) {
		log_msg(LOG_LEVEL_ERR, "reload rejected: config: %s", err);
		daemon_notify_status(dm, "READY=1\n", "last reload rejected");
		return;
	}
	for (unsigned i = 0; i < cfg.nr_errors; i++, bad = true)
		log_msg(LOG_LEVEL_ERR, "reload rejected: %s", cfg.errors[i]);
	for (unsigned i = 0; i < cfg.nr_devs; i++) {
		if (cfg.devs[i].error) {
			log_msg(LOG_LEVEL_ERR, "reload rejected: device \"%s\": %s",
				cfg.devs[i].conf.name, cfg.devs[i].err);
			bad = true;
		}
	}
	if (bad) {
		log_msg(LOG_LEVEL_ERR, "reload rejected: %s has errors; running devices unchanged",
			path);
		config_free(&cfg);
		daemon_notify_status(dm, "READY=1\n", "last reload rejected");
		return;
	}
	apply_global(dm, &cfg);
	for (unsigned i = dm->nr_devs; i-- > 0;) {
		struct device *d = dm->devs[i];
		bool listed = false;

		for (unsigned j = 0; j < cfg.nr_devs && !listed; j++)
			listed = !strcmp(cfg.devs[j].conf.name, d->conf.name);
		if (listed || from_command_line(d))
			continue;
		if (daemon_remove(dm, i, msg, sizeof(msg)) < 0)
			log_msg(LOG_LEVEL_ERR, "reload: %s", msg);
	}
	dm->failed[0] = '\0';
	for (unsigned j = 0; j < cfg.nr_devs; j++) {
		struct config_dev *cd = &cfg.devs[j];
		struct device *d = daemon_find_name(dm, cd->conf.name);

		resolve_config_path(&cd->conf, path);
		if (d && !dev_conf_same_device(&d->conf, &cd->conf)) {
			log_msg(LOG_LEVEL_WARNING,
				"reload: device \"%s\" (%s) changed; it runs as before until it is "
				"deleted or ublkd restarts",
				cd->conf.name, cd->conf.origin);
			continue;
		}
		if (d)
			continue;
		if (daemon_add(dm, &cd->conf, 0, msg, sizeof(msg)) < 0) {
			log_msg(LOG_LEVEL_ERR, "reload: %s: %s", cd->conf.origin, msg);
			note_failed(dm, cd->conf.name);
		}
	}
	config_free(&cfg);
	log_msg(LOG_LEVEL_NOTICE, "reload: done, %u devices live", dm->nr_devs);
	daemon_notify_status(dm, "READY=1\n", NULL);
}

static int make_run_dir(char *err, size_t len)
{
	char path[PATH_MAX];
	int ret = ipc_run_path(path, sizeof(path), "devices");

	if (ret < 0) {
		snprintf(err, len, "%s: run directory path too long", ipc_run_dir());
		return ret;
	}
	if (mkdir(ipc_run_dir(), 0755) < 0 && errno != EEXIST) {
		ret = -errno;
		snprintf(err, len, "%s: %s", ipc_run_dir(), strerror(errno));
		return ret;
	}
	if (mkdir(path, 0755) < 0 && errno != EEXIST) {
		ret = -errno;
		snprintf(err, len, "%s: %s", path, strerror(errno));
		return ret;
	}
	return 0;
}

/* One daemon per run directory: the pid file is also the lock. */
static int take_lock(struct daemon *dm, char *err, size_t len)
{
	char path[PATH_MAX], pid[32] = "";
	int ret;

	ipc_run_path(path, sizeof(path), "ublkd.pid");
	dm->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (dm->lock_fd < 0) {
		ret = -errno;
		snprintf(err, len, "%s: %s", path, strerror(errno));
		return ret;
	}
	if (flock(dm->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		ret = -errno;
		if (read(dm->lock_fd, pid, sizeof(pid) - 1) > 0)
			pid[strcspn(pid, "\n")] = '\0';
		snprintf(err, len, "already running (pid %s, %s)", pid[0] ? pid : "unknown", path);
		return ret == -EWOULDBLOCK ? -EALREADY : ret;
	}
	if (ftruncate(dm->lock_fd, 0) == 0)
		dprintf(dm->lock_fd, "%d\n", getpid());
	return 0;
}

static int open_socket(struct daemon *dm, char *err, size_t len)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int ret;

	ret = ipc_run_path(addr.sun_path, sizeof(addr.sun_path), "ublkd.sock");
	if (ret < 0) {
		snprintf(err, len, "%s: socket path too long", ipc_run_dir());
		return ret;
	}
	/* We hold the lock: a socket file left there is a dead daemon's. */
	unlink(addr.sun_path);
	dm->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (dm->listen_fd < 0 || bind(dm->listen_fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
	    chmod(addr.sun_path, 0600) < 0 || listen(dm->listen_fd, 16) < 0) {
		ret = -errno;
		snprintf(err, len, "%s: %s", addr.sun_path, strerror(errno));
		return ret;
	}
	return 0;
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
	sigprocmask(SIG_BLOCK, &set, NULL);
	dm->signal_fd = signalfd(-1, &set, SFD_CLOEXEC);
	if (dm->signal_fd < 0) {
		ret = -errno;
		snprintf(err, len, "signalfd: %s", strerror(errno));
		return ret;
	}
	return 0;
}

/*
 * Our own mount namespace, private below /: if a filesystem on one of our devices were
 * mounted in it, our exit would unmount it and wait on I/O that only we could serve.
 */
static void own_mount_namespace(struct daemon *dm)
{
	if (unshare(CLONE_NEWNS) < 0)
		daemon_warn(dm, "own mount namespace: %s (an unmount at exit may hang)",
			    strerror(errno));
	else if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		daemon_warn(dm, "private mounts: %s", strerror(errno));
}

static void daemon_loop(struct daemon *dm)
{
	while (!dm->stopping) {
		struct pollfd pfd[2] = {
			{ .fd = dm->listen_fd, .events = POLLIN },
			{ .fd = dm->signal_fd, .events = POLLIN },
		};
		bool idle_auto = dm->opts->auto_exit && !dm->nr_devs;
		int n = poll(pfd, 2, idle_auto ? AUTO_EXIT_IDLE_MS : -1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0 && idle_auto) {
			log_msg(LOG_LEVEL_INFO, "no devices left: exiting");
			return;
		}
		if (pfd[1].revents & POLLIN) {
			struct signalfd_siginfo si;

			if (read(dm->signal_fd, &si, sizeof(si)) != sizeof(si))
				continue;
			if (si.ssi_signo == SIGHUP) {
				daemon_reload(dm);
				continue;
			}
			log_msg(LOG_LEVEL_NOTICE, "signal %u: stopping every device", si.ssi_signo);
			return;
		}
		if (pfd[0].revents & POLLIN) {
			int fd = accept4(dm->listen_fd, NULL, NULL, SOCK_CLOEXEC);

			if (fd >= 0)
				daemon_handle_client(dm, fd);
			if (dm->opts->auto_exit && !dm->nr_devs) {
				log_msg(LOG_LEVEL_INFO, "no devices left: exiting");
				return;
			}
		}
	}
}

static int daemon_shutdown(struct daemon *dm)
{
	char msg[DEV_ERR_MAX + 128];
	int status = 0;

	while (dm->nr_devs) {
		if (daemon_remove(dm, dm->nr_devs - 1, msg, sizeof(msg)) < 0) {
			log_msg(LOG_LEVEL_ERR, "%s", msg);
			status = 1;
			/* Forget it: it is as far down as the kernel let it go. */
			free(dm->devs[--dm->nr_devs]);
		}
	}
	free(dm->devs);
	daemon_retire(dm);
	ublk_ctrl_close(&dm->ctrl);
	return status;
}

int daemon_serve(const struct daemon_opts *opts)
{
	struct daemon dm = {
		.opts = opts,
		.listen_fd = -1,
		.signal_fd = -1,
		.lock_fd = -1,
		.report_fd = opts->report_fd,
	};
	char err[CONFIG_ERR_MAX + 64];
	int ret, status;

	ret = make_run_dir(err, sizeof(err));
	if (!ret)
		ret = take_lock(&dm, err, sizeof(err));
	if (ret < 0) {
		log_msg(LOG_LEVEL_ERR, "serve: %s", err);
		daemon_report_end(&dm, err);
		if (dm.lock_fd >= 0)
			close(dm.lock_fd);
		return 1;
	}
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
	if (!ret)
		ret = open_socket(&dm, err, sizeof(err));
	if (ret < 0) {
		log_msg(LOG_LEVEL_ERR, "serve: %s", err);
		daemon_report_end(&dm, err);
		dm.listen_fd = -1;
		daemon_shutdown(&dm);
		return 1;
	}
	if (opts->config_path) {
		ret = daemon_load_config(&dm, opts->config_path, err, sizeof(err));
		if (ret < 0) {
			log_msg(LOG_LEVEL_ERR, "serve: %s", err);
			daemon_report_end(&dm, err);
			daemon_shutdown(&dm);
			return 1;
		}
	}
	log_msg(LOG_LEVEL_NOTICE, "serving %u devices on %s/ublkd.sock", dm.nr_devs, ipc_run_dir());
	daemon_report_end(&dm, NULL);
	/* Every device that could come up is live: START_DEV returned for each. */
	daemon_notify_status(&dm, "READY=1\n", NULL);
	daemon_loop(&dm);
	notify_send("STOPPING=1\nSTATUS=stopping every device");
	status = daemon_shutdown(&dm);
	log_msg(LOG_LEVEL_NOTICE, "exiting with status %d", status);
	return status;
}
