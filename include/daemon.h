/* SPDX-License-Identifier: MIT */
/*
 * `ublkd serve`: the process that owns every device it creates. It brings up the config file's
 * devices, then answers add/del requests on its control socket until SIGTERM or SIGINT, when it
 * stops and deletes every device (file data flushed) and exits.
 */
#ifndef UBLKD_DAEMON_H
#define UBLKD_DAEMON_H

#include <stdbool.h>

struct daemon_opts {
	const char *config_path; /* NULL: no config file */
	bool auto_exit;		 /* started by `ublkd add`: exit once no device is left */
	bool log_level_given;	 /* --log-level: wins over the config's [global] log_level */
	/*
	 * Where the starting process waits for the outcome (-1: none): the daemon writes
	 * "warning ..." lines, then "ready" or "fatal MESSAGE", and closes it.
	 */
	int report_fd;
};

/* Runs the daemon in this process; returns its exit status. */
int daemon_serve(const struct daemon_opts *opts);

#endif /* UBLKD_DAEMON_H */
