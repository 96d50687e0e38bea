// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: the control socket's request parser (src/request.c), which takes text from
 * any local root process. Oracle: no crash, no sanitizer report; a request it accepts is whole
 * (an add's device description passes dev_conf_check() again, a target is a C string).
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ipc.h"
#include "request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char text[IPC_MSG_MAX + 1];
	char err[1024], again[DEV_ERR_MAX];
	struct request req;

	/* The server reads at most IPC_MSG_MAX bytes and ends them with a NUL. */
	if (size > IPC_MSG_MAX)
		size = IPC_MSG_MAX;
	memcpy(text, data, size);
	text[size] = '\0';
	if (request_parse(text, &req, err, sizeof(err)) < 0) {
		assert(memchr(err, '\0', sizeof(err)));
		return 0;
	}
	switch (req.kind) {
	case REQUEST_ADD:
		assert(dev_conf_check(&req.conf, again, sizeof(again)) == 0);
		break;
	case REQUEST_DEL:
	case REQUEST_INJECT:
		assert(!req.target || strlen(req.target) < IPC_MSG_MAX);
		break;
	default:
		break;
	}
	return 0;
}
