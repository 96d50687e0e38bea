// SPDX-License-Identifier: MIT
/* The control socket's request text (include/request.h), parsed strictly. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "request.h"

static char *trim(char *s)
{
	char *end = s + strlen(s);

	while (*s == ' ' || *s == '\t')
		s++;
	while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
		*--end = '\0';
	return s;
}

static int parse_add(char *body, struct request *req, char *err, size_t err_len)
{
	char dev_err[DEV_ERR_MAX], *line, *save = NULL;
	int ret;

	dev_conf_init(&req->conf, "command line");
	for (line = strtok_r(body, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *eq = strchr(line, '=');

		if (!eq) {
			snprintf(err, err_len, "add: malformed request line \"%.64s\"", line);
			return -EINVAL;
		}
		*eq = '\0';
		ret = dev_conf_set(&req->conf, trim(line), trim(eq + 1), dev_err, sizeof(dev_err));
		if (ret < 0) {
			snprintf(err, err_len, "add: %s", dev_err);
			return ret;
		}
	}
	ret = dev_conf_check(&req->conf, dev_err, sizeof(dev_err));
	if (ret < 0)
		snprintf(err, err_len, "add: %s", dev_err);
	return ret;
}

static int parse_del(char *target, char *body, struct request *req, char *err, size_t err_len)
{
	char *line, *save = NULL;

	if (!*target) {
		snprintf(err, err_len, "del: which device?");
		return -EINVAL;
	}
	req->target = strcmp(target, "--all") ? target : NULL;
	for (line = strtok_r(body, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (strcmp(line, "force")) {
			snprintf(err, err_len, "del: malformed request line \"%.64s\"", line);
			return -EINVAL;
		}
		req->force = true;
	}
	return 0;
}

static int parse_inject(char *target, char *body, struct request *req, char *err, size_t err_len)
{
	char why[DEV_ERR_MAX];
	char *end = body + strcspn(body, "\n");

	if (!*target || !strcmp(target, "--all")) {
		snprintf(err, err_len, "inject: which device?");
		return -EINVAL;
	}
	req->target = target;
	if (*end && end[1]) {
		snprintf(err, err_len, "inject: one line of fault spec expected");
		return -EINVAL;
	}
	*end = '\0';
	if (fault_conf_parse(trim(body), &req->inject, why, sizeof(why)) < 0) {
		snprintf(err, err_len, "inject %.64s: %s", target, why);
		return -EINVAL;
	}
	return 0;
}

int request_parse(char *text, size_t len, struct request *req, char *err, size_t err_len)
{
	char *body;

	memset(req, 0, sizeof(*req));
	if (strlen(text) != len) {
		snprintf(err, err_len, "request holds a NUL byte: ignored");
		return -EINVAL;
	}
	/*
	 * A client that dies mid-send ends its request as surely as one that is done: only the
	 * end line tells them apart. Without it, "del data-2" cut after "del data" would delete
	 * another device.
	 */
	if (len < sizeof(REQUEST_END) - 1 ||
	    strcmp(text + len - (sizeof(REQUEST_END) - 1), REQUEST_END) ||
	    (len > sizeof(REQUEST_END) - 1 && text[len - sizeof(REQUEST_END)] != '\n')) {
		snprintf(err, err_len, "request cut short (no \"end\" line): ignored");
		return -EPROTO;
	}
	text[len - (sizeof(REQUEST_END) - 1)] = '\0';
	body = strchr(text, '\n');
	if (body)
		*body++ = '\0';
	else
		body = text + strlen(text);
	if (!strcmp(text, "add")) {
		req->kind = REQUEST_ADD;
		return parse_add(body, req, err, err_len);
	}
	if (!strncmp(text, "del ", 4)) {
		req->kind = REQUEST_DEL;
		return parse_del(text + 4, body, req, err, err_len);
	}
	if (!strncmp(text, "inject ", 7)) {
		req->kind = REQUEST_INJECT;
		return parse_inject(text + 7, body, req, err, err_len);
	}
	if (!strcmp(text, "reload") && !*body) {
		req->kind = REQUEST_RELOAD;
		return 0;
	}
	if (!strcmp(text, "recover") && !*body) {
		req->kind = REQUEST_RECOVER;
		return 0;
	}
	if (!strcmp(text, "upgrade") && !*body) {
		req->kind = REQUEST_UPGRADE;
		return 0;
	}
	snprintf(err, err_len, "unknown request \"%.32s\"", text);
	return -EINVAL;
}
