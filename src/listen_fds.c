// SPDX-License-Identifier: MIT
/* The fds systemd passed us, offered to whoever recognises them (include/listen_fds.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "listen_fds.h"

/* sd_listen_fds(3): passed fds start at fd 3. */
#define LISTEN_FDS_START 3

struct listen_fd {
	int fd; /* -1 once claimed or closed */
	const char *name;
};

static struct {
	struct listen_fd *fds;
	unsigned nr;
	char *names; /* LISTEN_FDNAMES, split in place */
} passed;

/* A decimal number without sign or blanks, or -1. */
static long parse_count(const char *text)
{
	char *end;
	long value;

	if (!text || *text < '0' || *text > '9')
		return -1;
	errno = 0;
	value = strtol(text, &end, 10);
	return errno || *end ? -1 : value;
}

/*
 * Moves what the environment holds for us into the list. Read on each call, since the
 * variables are gone once read: a second call finds nothing new.
 */
static int listen_fds_load(void)
{
	long pid = parse_count(getenv("LISTEN_PID")), nr = parse_count(getenv("LISTEN_FDS"));
	const char *names = getenv("LISTEN_FDNAMES");
	struct listen_fd *fds;
	char *name;

	/*
	 * Another process's (a parent that did not clear them): not ours to take or to clear.
	 * systemd sets them once; a second list waits until the first is closed.
	 */
	if (pid != getpid() || nr < 1 || passed.nr)
		return 0;
	if (nr > 65536)
		return -EINVAL;
	fds = calloc((size_t)nr, sizeof(*fds));
	passed.names = strdup(names ? names : "");
	if (!fds || !passed.names) {
		free(fds);
		free(passed.names);
		passed.names = NULL;
		return -ENOMEM;
	}
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	name = passed.names;
	for (long i = 0; i < nr; i++) {
		fds[i].fd = LISTEN_FDS_START + (int)i;
		fds[i].name = name ? name : "";
		if (name && (name = strchr(name, ':')))
			*name++ = '\0';
		/* The daemon runs nothing, but none of these is for anything it might start. */
		fcntl(fds[i].fd, F_SETFD, FD_CLOEXEC);
	}
	passed.fds = fds;
	passed.nr = (unsigned)nr;
	return 0;
}

int listen_fds_claim(bool (*claim)(int fd, const char *name, void *ctx), void *ctx)
{
	int ret = listen_fds_load();

	if (ret < 0)
		return ret;
	for (unsigned i = 0; i < passed.nr; i++) {
		if (passed.fds[i].fd >= 0 && claim(passed.fds[i].fd, passed.fds[i].name, ctx))
			passed.fds[i].fd = -1;
	}
	return 0;
}

void listen_fds_close_unclaimed(void)
{
	for (unsigned i = 0; i < passed.nr; i++) {
		if (passed.fds[i].fd >= 0)
			close(passed.fds[i].fd);
	}
	free(passed.fds);
	free(passed.names);
	memset(&passed, 0, sizeof(passed));
}
