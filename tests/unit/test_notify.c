// SPDX-License-Identifier: MIT
/*
 * The systemd notification sender against sockets of our own (a path and an abstract name),
 * with an fd beside the state or without, and the log's line format with and without the
 * journal.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "../common/suite_main.h"
#include "fdpass.h"
#include "log.h"
#include "notify.h"

/* A datagram socket bound to name ("@x": abstract), as systemd's would be. */
static int bind_notify_socket(const char *name)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	size_t len = strlen(name);
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	memcpy(addr.sun_path, name, len);
	if (name[0] == '@')
		addr.sun_path[0] = '\0';
	else
		unlink(name);
	ck_assert_msg(bind(fd, (struct sockaddr *)&addr,
			   (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)) == 0,
		      "bind %s: %s", name, strerror(errno));
	return fd;
}

static void expect_datagram(int fd, const char *want)
{
	char buf[4096];
	ssize_t n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);

	ck_assert_msg(n >= 0, "no datagram: %s", strerror(errno));
	buf[n] = '\0';
	ck_assert_str_eq(buf, want);
}

/* _i 0: a path, as systemd uses; 1: an abstract name ("@..."), which it may use too. */
START_TEST(test_notify_socket)
{
	char name[64];
	int fd;

	snprintf(name, sizeof(name), "%s/ublkd-notify-test.%d", _i ? "@" : "/tmp", getpid());
	fd = bind_notify_socket(name);
	setenv("NOTIFY_SOCKET", name, 1);
	ck_assert_int_eq(notify_send("READY=1\nSTATUS=3 devices live"), 0);
	expect_datagram(fd, "READY=1\nSTATUS=3 devices live");
	ck_assert_int_eq(notify_sendf("STATUS=%u devices live", 2U), 0);
	expect_datagram(fd, "STATUS=2 devices live");
	close(fd);
	if (!_i)
		unlink(name);
}
END_TEST

/* A state with an fd beside it, as systemd's fd store takes it: the same file arrives. */
START_TEST(test_notify_fd)
{
	struct stat sent, got_st;
	char name[64], buf[64];
	int fd, pipefd[2], got = -1;
	ssize_t n;

	snprintf(name, sizeof(name), "/tmp/ublkd-notify-fd-test.%d", getpid());
	fd = bind_notify_socket(name);
	setenv("NOTIFY_SOCKET", name, 1);
	ck_assert_int_eq(pipe(pipefd), 0);
	ck_assert_int_eq(notify_send_fd("FDSTORE=1\nFDNAME=x", pipefd[0]), 0);
	n = fdpass_recv(fd, buf, sizeof(buf) - 1, &got);
	ck_assert_int_gt(n, 0);
	buf[n] = '\0';
	ck_assert_str_eq(buf, "FDSTORE=1\nFDNAME=x");
	ck_assert_int_ge(got, 0);
	ck_assert_int_eq(fstat(pipefd[0], &sent), 0);
	ck_assert_int_eq(fstat(got, &got_st), 0);
	ck_assert_uint_eq(sent.st_ino, got_st.st_ino);
	/* And none when there is none to send. */
	close(got);
	ck_assert_int_eq(notify_send_fd("FDSTOREREMOVE=1\nFDNAME=x", -1), 0);
	n = fdpass_recv(fd, buf, sizeof(buf) - 1, &got);
	ck_assert_int_gt(n, 0);
	ck_assert_int_eq(got, -1);
	close(pipefd[0]);
	close(pipefd[1]);
	close(fd);
	unlink(name);
}
END_TEST

START_TEST(test_notify_unset_and_bad)
{
	unsetenv("NOTIFY_SOCKET");
	ck_assert_int_eq(notify_send("READY=1"), 0);
	setenv("NOTIFY_SOCKET", "", 1);
	ck_assert_int_eq(notify_send("READY=1"), 0);
	setenv("NOTIFY_SOCKET", "relative/path", 1);
	ck_assert_int_eq(notify_send("READY=1"), -EINVAL);
	setenv("NOTIFY_SOCKET", "/nonexistent/ublkd-notify", 1);
	ck_assert_int_eq(notify_send("READY=1"), -ENOENT);
}
END_TEST

/* Runs log_msg() with stderr in a pipe and returns what it wrote. */
static const char *captured_log(enum log_level level, const char *text)
{
	static char buf[8192];
	int pipefd[2], saved = dup(STDERR_FILENO);
	ssize_t n;

	ck_assert_int_eq(pipe2(pipefd, O_NONBLOCK), 0);
	dup2(pipefd[1], STDERR_FILENO);
	log_msg(level, "%s", text);
	dup2(saved, STDERR_FILENO);
	close(saved);
	close(pipefd[1]);
	n = read(pipefd[0], buf, sizeof(buf) - 1);
	close(pipefd[0]);
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

START_TEST(test_log_journal_prefix)
{
	char stream[64];
	struct stat st;

	/* systemd's "DEV:INO" of the stream it made our stderr. */
	ck_assert_int_eq(fstat(STDERR_FILENO, &st), 0);
	snprintf(stream, sizeof(stream), "%llu:%llu", (unsigned long long)st.st_dev,
		 (unsigned long long)st.st_ino);
	setenv("JOURNAL_STREAM", stream, 1);
	log_init(LOG_LEVEL_INFO);
	ck_assert_str_eq(captured_log(LOG_LEVEL_WARNING, "disk: slow"), "<4>disk: slow\n");
	ck_assert_str_eq(captured_log(LOG_LEVEL_ERR, "x"), "<3>x\n");
	ck_assert_str_eq(captured_log(LOG_LEVEL_INFO, "y"), "<6>y\n");
	/* Below the level: nothing. */
	ck_assert_str_eq(captured_log(LOG_LEVEL_DEBUG, "z"), "");
	log_set_level(LOG_LEVEL_DEBUG);
	ck_assert_str_eq(captured_log(LOG_LEVEL_DEBUG, "z"), "<7>z\n");
}
END_TEST

START_TEST(test_log_plain_prefix)
{
	char want[64];

	unsetenv("JOURNAL_STREAM");
	log_init(LOG_LEVEL_ERR);
	snprintf(want, sizeof(want), "ublkd[%d]: bad\n", getpid());
	ck_assert_str_eq(captured_log(LOG_LEVEL_ERR, "bad"), want);
	ck_assert_str_eq(captured_log(LOG_LEVEL_WARNING, "quiet"), "");
}
END_TEST

START_TEST(test_log_levels)
{
	static const char *const names[] = { "error", "warning", "notice", "info", "debug" };
	enum log_level level;

	for (unsigned i = 0; i < 5; i++) {
		ck_assert_int_eq(parse_log_level(names[i], &level), 0);
		ck_assert_int_eq(level, LOG_LEVEL_ERR + (int)i);
		ck_assert_str_eq(log_level_name(level), names[i]);
	}
	level = LOG_LEVEL_INFO;
	ck_assert_int_eq(parse_log_level("loud", &level), -EINVAL);
	ck_assert_int_eq(parse_log_level("Info", &level), -EINVAL);
	ck_assert_int_eq(parse_log_level("", &level), -EINVAL);
	ck_assert_int_eq(level, LOG_LEVEL_INFO);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("notify");
	TCase *tc = tcase_create("notify and log");

	tcase_add_loop_test(tc, test_notify_socket, 0, 2);
	tcase_add_test(tc, test_notify_fd);
	tcase_add_test(tc, test_notify_unset_and_bad);
	tcase_add_test(tc, test_log_journal_prefix);
	tcase_add_test(tc, test_log_plain_prefix);
	tcase_add_test(tc, test_log_levels);
	suite_add_tcase(s, tc);
	return suite_main(s);
}
