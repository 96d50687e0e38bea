/* SPDX-License-Identifier: MIT */
/*
 * `ublkd serve` without --foreground: the daemon in its own session, logging to
 * RUN_DIR/ublkd.log, while the starting process relays its start report (warnings, then ready
 * or the fatal error) to the user and exits with 0 once it serves, 1 if it could not start.
 */
#ifndef UBLKD_DETACH_H
#define UBLKD_DETACH_H

#include "daemon.h"

/* Forks the daemon (opts->report_fd is set for it); the starting process's exit status. */
int detach_serve(struct daemon_opts *opts);

#endif /* UBLKD_DETACH_H */
