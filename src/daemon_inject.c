// SPDX-License-Identifier: MIT
/* Testing: faults injected into a live device's I/O (include/fault.h, include/daemon_state.h). */
#include <errno.h>
#include <string.h>

#include "daemon_state.h"
#include "device.h"
#include "fault.h"
#include "log.h"
#include "state_store.h"

void daemon_set_inject(struct daemon *dm, unsigned i, const struct fault_conf *fc)
{
	struct device *d = dm->slots[i].d;
	char spec[FAULT_SPEC_MAX];
	int ret;

	if (!memcmp(&d->conf.inject, fc, sizeof(*fc)))
		return;
	d->conf.inject = *fc;
	d->conf.given |= DEV_GIVEN(DEV_KEY_INJECT);
	fault_set(&d->fault, fc);
	fault_conf_format(fc, spec, sizeof(spec));
	log_msg(LOG_LEVEL_NOTICE, "device \"%s\": inject %s", d->conf.name, spec);
	ret = state_store_write(d->info.dev_id, &d->conf);
	if (ret < 0)
		log_msg(LOG_LEVEL_WARNING,
			"device \"%s\": state file: %s (a recovery would lose inject %s)",
			d->conf.name, strerror(-ret), spec);
}

void daemon_inject_request(struct daemon *dm, const char *what, const struct fault_conf *fc,
			   struct conn *c)
{
	char spec[FAULT_SPEC_MAX];
	int i = daemon_find(dm, what);

	if (i < 0) {
		conn_reply(c, i, "inject %.200s: no such device in this ublkd (see ublkd list)",
			   what);
		return;
	}
	if (dm->slots[i].td) {
		conn_reply(c, -EBUSY, "inject %.200s: being deleted", what);
		return;
	}
	daemon_set_inject(dm, (unsigned)i, fc);
	conn_reply(c, 0, "%s: inject %s", dm->slots[i].d->conf.name,
		   fault_conf_format(fc, spec, sizeof(spec)));
}
