// SPDX-License-Identifier: MIT
/*
 * The fds systemd passes at start: read once from LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES,
 * offered in order with their names to each part, which takes its own; the control socket
 * found wherever it is in the list (server_open()), with the old message when the socket
 * passed is the wrong kind; what nobody takes closed. Each case runs in a child of its own,
 * since passed fds start at fd 3, where check keeps a file of its own.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../common/run.h"
#include "../common/suite_main.h"
#include "listen_fds.h"
#include "server.h"

static char run_dir[64];

static void run_dir_setup(void)
{
	snprintf(run_dir, sizeof(run_dir), "/tmp/ublkd-listen-test.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(run_dir));
	setenv("UBLKD_RUN_DIR", run_dir, 1);
}

static void run_dir_teardown(void)
{
	static const char *const files[] = { "ublkd.sock", "passed.sock" };
	char path[128];

	for (unsigned i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", run_dir, files[i]);
		unlink(path);
	}
	rmdir(run_dir);
}

/* A listening AF_UNIX stream socket, as ublkd.socket passes. */
static int listening_socket(void)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int sock = socket(AF_UNIX, SOCK_STREAM, 0);

	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s/passed.sock", run_dir);
	child_expect(sock >= 0 && bind(sock, (struct sockaddr *)&addr, sizeof(addr)) == 0 &&
			     listen(sock, 4) == 0,
		     "a listening socket");
	return sock;
}

/* Puts fds[i] at 3 + i and sets LISTEN_* for us (names NULL: no LISTEN_FDNAMES). */
static void pass(const int *fds, unsigned nr, const char *names)
{
	char text[16];
	int moved[8];

	/* Out of the way first: one may already sit where another goes. */
	for (unsigned i = 0; i < nr; i++)
		moved[i] = fcntl(fds[i], F_DUPFD, 100);
	for (unsigned i = 0; i < nr; i++) {
		child_expect(dup2(moved[i], 3 + (int)i) == 3 + (int)i, "dup2");
		close(moved[i]);
	}
	snprintf(text, sizeof(text), "%d", getpid());
	setenv("LISTEN_PID", text, 1);
	snprintf(text, sizeof(text), "%u", nr);
	setenv("LISTEN_FDS", text, 1);
	if (names)
		setenv("LISTEN_FDNAMES", names, 1);
	else
		unsetenv("LISTEN_FDNAMES");
}

static bool is_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

struct offered {
	unsigned nr;
	int fd[8];
	char name[8][32];
	int take; /* the fd to claim, or -1 */
};

static bool record(int fd, const char *name, void *ctx)
{
	struct offered *o = ctx;

	if (o->nr < 8) {
		o->fd[o->nr] = fd;
		snprintf(o->name[o->nr], sizeof(o->name[0]), "%s", name);
		o->nr++;
	}
	return fd == o->take;
}

/* The case from before the fd store: the socket alone, at fd 3. */
static int socket_alone(void)
{
	int sock = listening_socket();
	char err[256] = "";
	struct server srv;

	pass(&sock, 1, "ublkd.socket");
	child_expect(server_open(&srv, err, sizeof(err)) == 0, err);
	child_expect(srv.activated && srv.listen_fd == 3, "the socket is fd 3");
	child_expect(fcntl(3, F_GETFL) & O_NONBLOCK, "non-blocking");
	child_expect(fcntl(3, F_GETFD) == FD_CLOEXEC, "close-on-exec");
	child_expect(!getenv("LISTEN_PID") && !getenv("LISTEN_FDS") && !getenv("LISTEN_FDNAMES"),
		     "LISTEN_* unset");
	server_close(&srv);
	return 0;
}

/*
 * The fd store's RAM first, the socket second: the server takes the socket, and the rest is
 * offered, with its name, to the next part; what that one leaves is closed at the end.
 */
static int socket_among_others(void)
{
	int fds[3] = { memfd_create("ram", 0), listening_socket(), memfd_create("other", 0) };
	struct offered o = { .take = 3 };
	char err[256] = "";
	struct server srv;

	pass(fds, 3, "memory-1:ublkd.socket:memory-2");
	child_expect(server_open(&srv, err, sizeof(err)) == 0, err);
	child_expect(srv.activated && srv.listen_fd == 4, "the socket is fd 4");
	child_expect(listen_fds_claim(record, &o) == 0, "claim");
	child_expect(o.nr == 2 && o.fd[0] == 3 && !strcmp(o.name[0], "memory-1") && o.fd[1] == 5 &&
			     !strcmp(o.name[1], "memory-2"),
		     "3 and 5 offered with their names");
	/* Taken ones are offered no more. */
	o = (struct offered){ .take = -1 };
	child_expect(listen_fds_claim(record, &o) == 0 && o.nr == 1 && o.fd[0] == 5,
		     "only 5 is left");
	listen_fds_close_unclaimed();
	child_expect(is_open(3) && is_open(4) && !is_open(5), "5 closed, 3 and 4 kept");
	o = (struct offered){ .take = -1 };
	child_expect(listen_fds_claim(record, &o) == 0 && o.nr == 0, "nothing left to offer");
	server_close(&srv);
	return 0;
}

/* A datagram socket where the stream socket should be: the message from before. */
static int wrong_socket(void)
{
	int fds[2] = { memfd_create("ram", 0), socket(AF_UNIX, SOCK_DGRAM, 0) };
	char err[256] = "";
	struct server srv;

	pass(fds, 2, "memory-1:ublkd.socket");
	child_expect(server_open(&srv, err, sizeof(err)) == -ENOTSOCK, "-ENOTSOCK");
	child_expect(!strcmp(err, "the socket systemd passed (fd 4) is not a listening AF_UNIX "
				  "stream socket; see ublkd.socket"),
		     err);
	return 0;
}

/* Only RAM came back (a unit without the socket): the server binds its own, and leaves it. */
static int no_socket_passed(void)
{
	int fd = memfd_create("ram", 0);
	struct offered o = { .take = -1 };
	char err[256] = "";
	struct server srv;

	pass(&fd, 1, NULL);
	child_expect(server_open(&srv, err, sizeof(err)) == 0, err);
	child_expect(!srv.activated && srv.listen_fd != 3, "bound its own");
	child_expect(listen_fds_claim(record, &o) == 0 && o.nr == 1 && o.fd[0] == 3 &&
			     !strcmp(o.name[0], ""),
		     "fd 3, no name, still offered");
	server_close(&srv);
	return 0;
}

/* Another process's variables: not ours to take, and left for it. */
static int not_for_us(void)
{
	int sock = listening_socket();
	struct offered o = { .take = -1 };
	char err[256] = "";
	struct server srv;

	pass(&sock, 1, "ublkd.socket");
	setenv("LISTEN_PID", "1", 1);
	child_expect(server_open(&srv, err, sizeof(err)) == 0, err);
	child_expect(!srv.activated, "bound its own");
	child_expect(listen_fds_claim(record, &o) == 0 && o.nr == 0, "nothing offered");
	child_expect(getenv("LISTEN_FDS") && getenv("LISTEN_PID"), "left as it was");
	listen_fds_close_unclaimed();
	child_expect(is_open(3), "fd 3 untouched");
	server_close(&srv);
	return 0;
}

static const struct {
	const char *name;
	int (*body)(void);
} cases[] = {
	{ "socket alone", socket_alone }, { "socket among others", socket_among_others },
	{ "wrong socket", wrong_socket }, { "no socket passed", no_socket_passed },
	{ "not for us", not_for_us },
};

START_TEST(test_passed_fds)
{
	ck_assert_msg(run_in_child(cases[_i].body), "%s: failed", cases[_i].name);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("listen_fds");
	TCase *tc = tcase_create("passed fds");

	tcase_add_checked_fixture(tc, run_dir_setup, run_dir_teardown);
	tcase_add_loop_test(tc, test_passed_fds, 0, sizeof(cases) / sizeof(cases[0]));
	suite_add_tcase(s, tc);
	return suite_main(s);
}
