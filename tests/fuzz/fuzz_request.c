// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: the control socket's request parser (src/request.c), which takes text from
 * any local root process. Oracle: no crash, no sanitizer report; a request it accepts is whole
 * (it ended with the end line; an add's device description passes dev_conf_check() again, a
 * target is a C string).
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
	if (request_parse(text, size, &req, err, sizeof(err)) < 0) {
		assert(memchr(err, '\0', sizeof(err)));
		return 0;
	}
	/* Only a whole request is acted on: its last line is the end line, and no NUL cut it. */
	assert(size >= strlen(REQUEST_END) && !memchr(data, '\0', size) &&
	       !memcmp(data + size - strlen(REQUEST_END), REQUEST_END, strlen(REQUEST_END)));
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
