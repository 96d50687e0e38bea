/* SPDX-License-Identifier: MIT */
/*
 * The CLI's side of the control socket (`ublkd add`, `ublkd del`) and of the kernel's view
 * (`ublkd list`, and `del` of a device whose daemon is gone). Each returns an exit status and
 * has printed what the user needs: results on stdout, one line per failure on stderr.
 */
#ifndef UBLKD_CLIENT_H
#define UBLKD_CLIENT_H

#include <stdbool.h>

#include "dev_conf.h"

/* Sends "add" with the given "key = value" lines; starts a daemon when none runs. */
int client_add(const char *request_body);
/*
 * "del WHAT" or "del --all" through the daemon (force: even while in use); without one,
 * straight to the kernel.
 */
int client_del(const char *what, bool force);
/*
 * Has the daemon (started when none runs) take over what a dead ublkd left; prints what was
 * recovered, and on stderr what could not be (and was deleted).
 */
int client_recover(void);
/* Asks the daemon to re-read its config; returns once the new devices are live. */
int client_reload(void);
/*
 * Has the daemon re-execute the installed binary in place; returns once the new one has every
 * device live again, having printed the pause.
 */
int client_upgrade(void);
/* Testing: sets fault spec (checked by the caller) on device what of the running daemon. */
int client_inject(const char *what, const char *spec);
/* Every ublk device the kernel has, ours or not: a table, or a JSON array. */
int client_list(bool json);

#endif /* UBLKD_CLIENT_H */
