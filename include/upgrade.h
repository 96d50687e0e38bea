/* SPDX-License-Identifier: MIT */
/*
 * In-place upgrade: the daemon re-executes its binary (the one installed now, which may be a new
 * version) in the same process, so that the pid systemd and the pid file know stays. Devices
 * stay in the kernel: where it can (6.16+, UBLK_F_QUIESCE) each is quiesced first, which lets
 * the requests in flight finish; otherwise exec ends the queue threads as a crash would, and
 * the kernel sends their requests again (recovery = reissue). The new image takes every device
 * over at its start (src/adopt.c) as it would after a crash.
 *
 * Across exec go, in the environment variable UBLKD_UPGRADE, what the new image cannot find
 * otherwise: the listening socket (so that no client finds the daemon gone), the connection of
 * the `ublkd upgrade` that asked (answered by the new image once every device is live again),
 * memory devices' memfds, and when the hand-over began (CLOCK_MONOTONIC, the same clock across exec), for the pause
 * it reports.
 */
#ifndef UBLKD_UPGRADE_H
#define UBLKD_UPGRADE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daemon.h"

struct upgrade_handoff {
	int listen_fd;	      /* the control socket, listening */
	bool activated;	      /* ... and systemd's (socket activation) */
	int conn_fd;	      /* the asking client, or -1 (SIGUSR2) */
	int64_t started_ms;   /* CLOCK_MONOTONIC ms when the hand-over began */
	char old_version[32]; /* the version that handed over */
	/*
	 * Memory devices' RAM, "ID:FD,ID:FD" (malloc()ed; NULL: none): under systemd it sits in
	 * the fd store, which gives it back only to a new service, not across exec.
	 */
	char *ram;
};

struct device;
struct ublk_ctrl;

/* The path of our binary as installed now (a replaced file's new version), for exec. */
int upgrade_self_path(char *buf, size_t len);

/*
 * Hands the nr devices over to path, run as `ublkd serve --foreground` with opts in this
 * process: each device the kernel can quiesce is quiesced (counted in *quiesced), the memory
 * devices' memfds and h go across exec. Fills h->started_ms, h->old_version and h->ram.
 * Returns only when it did not happen: -errno, and err says why.
 */
int upgrade_hand_over(struct ublk_ctrl *ctrl, struct device *const *devs, unsigned nr,
		      const char *path, const struct daemon_opts *opts, struct upgrade_handoff *h,
		      unsigned *quiesced, char *err, size_t err_len);

/*
 * In the new image: whether this start is an upgrade, and what the old image handed over
 * (checked: the fds must be a listening and a connected unix stream socket). The variable is
 * removed, so that nothing we start inherits it.
 */
bool upgrade_take(struct upgrade_handoff *h);
/*
 * In the new image, once every device it could take over is live: tells the asking client (if
 * any) and the log the versions, the devices live and lost, and how long I/O paused;
 * lost_details ("error ..." lines) goes to the client when some were lost. Closes h->conn_fd.
 */
void upgrade_report(struct upgrade_handoff *h, unsigned live, unsigned lost,
		    const char *lost_details);
/* Gives the memfds of h->ram to the memory store (include/mem_store.h), and frees the list. */
void upgrade_offer_ram(struct upgrade_handoff *h);

#endif /* UBLKD_UPGRADE_H */
