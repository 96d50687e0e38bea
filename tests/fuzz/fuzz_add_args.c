// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: `ublkd add`'s flag parser (src/add_args.c). The input is the argument list,
 * NUL-separated. Oracle: no crash, no sanitizer report; what the CLI accepts, the daemon's
 * request parser accepts too (the two check the same keys through one table).
 */
#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "add_args.h"
#include "ipc.h"
#include "request.h"

#define MAX_ARGS 48

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char body[ADD_ARGS_BODY_MAX], req_text[ADD_ARGS_BODY_MAX + 16];
	static FILE *sink;
	char *copy, *argv[MAX_ARGS + 2], err[1024];
	struct request req;
	int argc = 1, ret;

	if (!sink)
		sink = fopen("/dev/null", "w");
	copy = malloc(size + 1);
	assert(copy);
	memcpy(copy, data, size);
	copy[size] = '\0';
	argv[0] = "add";
	for (size_t at = 0; at <= size && argc <= MAX_ARGS; at += strlen(copy + at) + 1)
		argv[argc++] = copy + at;
	argv[argc] = NULL;
	ret = add_args_parse(argc, argv, body, sizeof(body), sink);
	assert(ret == 0 || ret == ADD_ARGS_USAGE || ret == ADD_ARGS_HELP);
	if (ret == 0) {
		/* As the client sends it (src/client.c): the body's lines, then the end line. */
		snprintf(req_text, sizeof(req_text), "add\n%s%s" REQUEST_END, body,
			 body[0] && body[strlen(body) - 1] != '\n' ? "\n" : "");
		assert(request_parse(req_text, strlen(req_text), &req, err, sizeof(err)) == 0);
		assert(req.kind == REQUEST_ADD);
	}
	free(copy);
	return 0;
}
