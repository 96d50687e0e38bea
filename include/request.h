/* SPDX-License-Identifier: MIT */
/*
 * The control socket's requests, as text: the client sends one, ends it with the line "end"
 * (REQUEST_END) and shuts down its side. A request whose last line is not "end" was cut short
 * (its client died mid-send) and is refused whatever it says.
 *
 *   add              then one "key = value" line per device key (include/dev_conf.h)
 *   del WHAT         WHAT: a name, an id, /dev/ublkbN or /dev/ublkcN, or --all; a second
 *                    line "force" deletes a device even while it is in use
 *   reload           re-read the config file; answered once new devices are live
 *   recover          take over the devices a dead ublkd left; answered with what this daemon
 *                    recovered or deleted since the last such answer
 *   upgrade          re-execute the installed binary in place (include/upgrade.h); answered
 *                    by the new image once every device is live again
 *   inject WHAT      testing: a second line, a fault spec (include/fault.h), set on device WHAT
 *
 * The reply is one line per result, "ok TEXT" or "error MESSAGE", then EOF. Everything is
 * checked here, before the daemon acts: the CLI checked too, but the socket trusts nobody.
 */
#ifndef UBLKD_REQUEST_H
#define UBLKD_REQUEST_H

#include <stdbool.h>
#include <stddef.h>

#include "dev_conf.h"

/* The last line of every request. */
#define REQUEST_END "end\n"

enum request_kind {
	REQUEST_ADD,
	REQUEST_DEL,
	REQUEST_RELOAD,
	REQUEST_RECOVER,
	REQUEST_UPGRADE,
	REQUEST_INJECT,
};

struct request {
	enum request_kind kind;
	struct dev_conf conf;	  /* add: checked with dev_conf_check() */
	const char *target;	  /* del, inject: which device (points into the parsed text); del:
			       * NULL for all */
	bool force;		  /* del: even while in use */
	struct fault_conf inject; /* inject: checked with fault_conf_parse() */
};

/*
 * Parses the len bytes of text (NUL-terminated, modified in place), which end with REQUEST_END;
 * 0, or -errno with a message for the client in err (-EPROTO: no end line; -EINVAL: a NUL byte
 * within, or anything else wrong).
 */
int request_parse(char *text, size_t len, struct request *req, char *err, size_t err_len);

#endif /* UBLKD_REQUEST_H */
