/* SPDX-License-Identifier: MIT */
/*
 * The daemon's own state, shared by the files that make up `ublkd serve` and by nothing else:
 * src/daemon.c (the registry of its devices, signals, the main loop), src/daemon_config.c (the
 * config file's devices, at start and on reload), src/daemon_handover.c (devices handed
 * between daemons: taken over from a dead one, or to the next image in an upgrade) and
 * src/daemon_inject.c (faults injected for tests). All of it runs in the control thread.
 */
#ifndef UBLKD_DAEMON_STATE_H
#define UBLKD_DAEMON_STATE_H

#include <limits.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "ctrl.h"
#include "daemon.h"
#include "ipc.h"
#include "server.h"

struct dev_conf;
struct device;
struct fault_conf;
struct teardown;

/* Why a device is being torn down: says who hears of the outcome. */
enum teardown_reason {
	TEARDOWN_REQUEST,  /* `ublkd del`: the client waits for the answer */
	TEARDOWN_RELOAD,   /* gone from the config: logged */
	TEARDOWN_SHUTDOWN, /* SIGTERM: logged; the daemon exits once every one ended */
};

/* One device of ours; td is set while its teardown thread runs. */
struct dev_slot {
	struct device *d;
	struct teardown *td;
	enum teardown_reason reason;
};

struct daemon {
	const struct daemon_opts *opts;
	struct ublk_ctrl ctrl;
	uint64_t features;
	cpu_set_t allowed_cpus; /* our affinity at start: what the admin let us use */
	struct dev_slot *slots;
	unsigned nr_slots;
	struct server srv;
	int signal_fd;
	int lock_fd;
	int report_fd;
	int teardown_fd; /* eventfd: a teardown thread finished */
	bool stopping;
	bool shutdown_failed; /* a device that could not be deleted at shutdown */
	/* Config devices that did not come up, for STATUS=: "disk, scratch". */
	char failed[1024];
	/* Our binary as started, before our own mount namespace: what an upgrade runs. */
	char self_path[PATH_MAX];
	/* Devices taken over from a dead ublkd since start, for STATUS=. */
	unsigned recovered;
	/*
	 * What adoption did ("ok ..." and "error ..." lines) since `ublkd recover` last asked;
	 * cut (with a note in the log) when more happened than a reply holds.
	 */
	char recover_report[IPC_MSG_MAX / 2];
};

/* Logs, and tells the process waiting for our start (if any) as "warning ...". */
void daemon_warn(struct daemon *dm, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* READY=1 (or what is given first) with a STATUS= line of what runs and what failed. */
void daemon_notify_status(struct daemon *dm, const char *state, const char *extra);
/* Devices not being deleted. */
unsigned daemon_live_devices(const struct daemon *dm);
/* The slot of the device of that name, or -ENOENT. */
int daemon_find_name(const struct daemon *dm, const char *name);
/* The slot "del WHAT" means: a name, an id, or /dev/ublkbN or /dev/ublkcN; or -ENOENT. */
int daemon_find(const struct daemon *dm, const char *what);
/*
 * Creates and starts the device conf describes; 0 and /dev/ublkbN in out, or -errno and the
 * reason in out. client_pid > 0: the file backend's path is the client's, reached through its
 * root (the client may live in another mount namespace than ours).
 */
int daemon_add(struct daemon *dm, struct dev_conf *conf, pid_t client_pid, char *out,
	       size_t out_len);
/* Starts tearing slot i down in the background; the outcome comes to daemon_reap(). */
int daemon_remove(struct daemon *dm, unsigned i, bool force, enum teardown_reason reason,
		  struct conn *waiter);

/* src/daemon_config.c */
/*
 * Creates the config file's devices, but for those already running (adopted); -errno (fatal
 * says why) only if the file cannot be read.
 */
int daemon_load_config(struct daemon *dm, const char *path, char *fatal, size_t fatal_len);
/*
 * SIGHUP or `ublkd reload`: the config file again; returns once the new devices are live, msg
 * says what happened.
 */
int daemon_reload(struct daemon *dm, char *msg, size_t msg_len);

/* src/daemon_inject.c */
/*
 * Testing: sets the faults injected into slot i's I/O (include/fault.h), in its state file
 * too, so that a recovery or an upgrade keeps them. Logs what changed.
 */
void daemon_set_inject(struct daemon *dm, unsigned i, const struct fault_conf *fc);
/* `ublkd inject WHAT SPEC`: daemon_set_inject(), answered with the spec now in force. */
void daemon_inject_request(struct daemon *dm, const char *what, const struct fault_conf *fc,
			   struct conn *c);

/* src/daemon_handover.c */
/*
 * Takes over every device with a description in RUN_DIR/devices that is not ours: those a dead
 * ublkd left. Returns the number of devices that could not be recovered.
 */
unsigned daemon_adopt_all(struct daemon *dm);
/* `ublkd recover`: adopts what is left now, and answers with all adoption did until now. */
void daemon_recover_request(struct daemon *dm, struct conn *c);
/*
 * `ublkd upgrade` or SIGUSR2: hands every device to the binary installed now, by exec in this
 * process (include/upgrade.h). Returns only if that did not happen; c (if any) has the reason.
 */
void daemon_upgrade(struct daemon *dm, struct conn *c);

#endif /* UBLKD_DAEMON_STATE_H */
