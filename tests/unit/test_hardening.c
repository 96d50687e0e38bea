// SPDX-License-Identifier: MIT
/*
 * The daemon's defences against what it reads: control-socket requests and device ids parsed
 * strictly, the run directory's owner and mode, no symlink followed in it, $JOURNAL_STREAM
 * trusted only when it names stderr, and mountinfo read right for an in-use refusal.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../common/run.h"
#include "../common/suite_main.h"
#include "holders.h"
#include "ipc.h"
#include "log.h"
#include "request.h"
#include "rundir.h"

static const struct {
	const char *text;
	int ret;
	unsigned id;
} dev_refs[] = {
	{ "0", 0, 0 },
	{ "17", 0, 17 },
	{ "/dev/ublkb3", 0, 3 },
	{ "/dev/ublkc1048575", 0, 1048575 },
	{ "1048576", -EINVAL, 0 }, /* past the kernel's 20-bit minor */
	{ "4294967296", -EINVAL, 0 },
	{ "4294967297", -EINVAL, 0 },
	{ "-1", -EINVAL, 0 },
	{ "+5", -EINVAL, 0 },
	{ " 5", -EINVAL, 0 },
	{ "5 ", -EINVAL, 0 },
	{ "0x5", -EINVAL, 0 },
	{ "", -EINVAL, 0 },
	{ "/dev/ublkb", -EINVAL, 0 },
	{ "/dev/ublkb-1", -EINVAL, 0 },
	{ "/dev/ublkb4294967296", -EINVAL, 0 },
	{ "/dev/sda", -EINVAL, 0 },
};

START_TEST(test_dev_ref)
{
	unsigned id = 12345;
	int ret = ipc_parse_dev_ref(dev_refs[_i].text, &id);

	ck_assert_msg(ret == dev_refs[_i].ret, "\"%s\": %d, want %d", dev_refs[_i].text, ret,
		      dev_refs[_i].ret);
	if (!ret)
		ck_assert_uint_eq(id, dev_refs[_i].id);
}
END_TEST

/* request_parse() of body as the client sends it: then a newline if none, and the end line. */
static int parse(const char *body, struct request *req, char *err)
{
	static char text[1024];
	size_t len = strlen(body);

	snprintf(text, sizeof(text), "%s%s" REQUEST_END, body,
		 len && body[len - 1] == '\n' ? "" : "\n");
	return request_parse(text, strlen(text), req, err, 512);
}

static const char *const cut_short[] = {
	"del keep",
	"del keep\n",
	"del keep\nen",
	"del keep\nend",
	"del keep\nxend\n",
	"del keep\nend\nx",
	"del keep\nend\n\n",
	"",
	"add\nbackend = null\nsize = 1M",
};

START_TEST(test_request_parse)
{
	char err[512];
	struct request req;

	ck_assert_int_eq(parse("del 4294967296", &req, err), 0);
	ck_assert_int_eq(req.kind, REQUEST_DEL);
	ck_assert_str_eq(req.target, "4294967296");
	ck_assert(!req.force);

	ck_assert_int_eq(parse("del data\nforce", &req, err), 0);
	ck_assert_str_eq(req.target, "data");
	ck_assert(req.force);

	ck_assert_int_eq(parse("del --all", &req, err), 0);
	ck_assert_ptr_null(req.target);

	ck_assert_int_eq(parse("del data\nforce please", &req, err), -EINVAL);
	ck_assert_msg(strstr(err, "malformed"), "%s", err);

	ck_assert_int_eq(parse("reload", &req, err), 0);
	ck_assert_int_eq(req.kind, REQUEST_RELOAD);
	ck_assert_int_eq(parse("reload\nnow", &req, err), -EINVAL);

	ck_assert_int_eq(parse("add\nbackend = memory\nsize = 1M\nname = x", &req, err), 0);
	ck_assert_int_eq(req.kind, REQUEST_ADD);
	ck_assert_str_eq(req.conf.name, "x");

	ck_assert_int_lt(parse("add\nbackend = memory\nsize = -1M", &req, err), 0);
	ck_assert_msg(strstr(err, "size"), "%s", err);

	ck_assert_int_lt(parse("add\nbackend = memory\nsize = 1M\nid = 4294967296", &req, err), 0);
	ck_assert_int_eq(parse("add\nbackend memory", &req, err), -EINVAL);
	ck_assert_int_eq(parse("format /dev/sda", &req, err), -EINVAL);
	ck_assert_msg(strstr(err, "unknown request"), "%s", err);

	ck_assert_int_eq(parse("inject disk\nerror=enospc,ops=write", &req, err), 0);
	ck_assert_int_eq(req.kind, REQUEST_INJECT);
	ck_assert_str_eq(req.target, "disk");
	ck_assert_int_eq(req.inject.error, ENOSPC);
	ck_assert_uint_eq(req.inject.ops, FAULT_OP_WRITE);
	ck_assert_int_eq(parse("inject 3\n off \n", &req, err), 0);
	ck_assert_uint_eq(req.inject.ops, 0);
	ck_assert_int_eq(parse("inject disk\nerror=eio\nerror=eio", &req, err), -EINVAL);
	ck_assert_msg(strstr(err, "one line"), "%s", err);
	ck_assert_int_eq(parse("inject disk\nerror=bad", &req, err), -EINVAL);
	ck_assert_msg(strstr(err, "inject disk: error=bad: not eio"), "%s", err);
	ck_assert_int_eq(parse("inject --all\noff", &req, err), -EINVAL);
	ck_assert_int_eq(parse("inject disk", &req, err), -EINVAL);

	/* A NUL byte: what follows it would go unseen. */
	{
		char text[] = "del keep\nend\n\0del other\nend\n";

		ck_assert_int_eq(request_parse(text, sizeof(text) - 1, &req, err, sizeof(err)),
				 -EINVAL);
		ck_assert_msg(strstr(err, "NUL"), "%s", err);
	}

	/* Cut short: without its end line a request is refused, whatever it says. */
	for (unsigned i = 0; i < sizeof(cut_short) / sizeof(cut_short[0]); i++) {
		char text[64];

		snprintf(text, sizeof(text), "%s", cut_short[i]);
		ck_assert_int_eq(request_parse(text, strlen(text), &req, err, sizeof(err)),
				 -EPROTO);
		ck_assert_msg(strstr(err, "cut short"), "%s", err);
	}
}
END_TEST

static char run_dir[64];

static void run_dir_setup(void)
{
	snprintf(run_dir, sizeof(run_dir), "/tmp/ublkd-hardening.%d", getpid());
	setenv("UBLKD_RUN_DIR", run_dir, 1);
}

static void run_dir_teardown(void)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "rm -rf %s %s.target", run_dir, run_dir);
	ck_assert_int_eq(system(cmd), 0);
}

START_TEST(test_run_dir_made_and_checked)
{
	char err[512], path[128];
	struct stat st;

	ck_assert_int_eq(rundir_prepare(err, sizeof(err)), 0);
	ck_assert_int_eq(stat(run_dir, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0755);
	snprintf(path, sizeof(path), "%s/devices", run_dir);
	ck_assert_int_eq(stat(path, &st), 0);

	/* Writable by others: someone could plant the socket or a state file. */
	ck_assert_int_eq(chmod(run_dir, 0777), 0);
	ck_assert_int_eq(rundir_prepare(err, sizeof(err)), -EPERM);
	ck_assert_msg(strstr(err, run_dir) && strstr(err, "writable by everyone"), "%s", err);
	ck_assert_int_eq(chmod(run_dir, 0775), 0);
	ck_assert_int_eq(rundir_prepare(err, sizeof(err)), -EPERM);
	ck_assert_msg(strstr(err, "its group"), "%s", err);
	ck_assert_int_eq(chmod(run_dir, 0755), 0);

	/* Owned by someone else. */
	ck_assert_int_eq(chown(path, 65534, 65534), 0);
	ck_assert_int_eq(rundir_prepare(err, sizeof(err)), -EPERM);
	ck_assert_msg(strstr(err, "owned by uid 65534"), "%s", err);
	ck_assert_int_eq(chown(path, geteuid(), getegid()), 0);
	ck_assert_int_eq(rundir_prepare(err, sizeof(err)), 0);
}
END_TEST

START_TEST(test_run_dir_symlink_refused)
{
	char err[512], target[128];

	snprintf(target, sizeof(target), "%s.target", run_dir);
	ck_assert_int_eq(mkdir(target, 0755), 0);
	ck_assert_int_eq(symlink(target, run_dir), 0);
	ck_assert_int_eq(rundir_prepare(err, sizeof(err)), -ENOTDIR);
	ck_assert_msg(strstr(err, "symlink"), "%s", err);
}
END_TEST

START_TEST(test_run_files_not_followed)
{
	char err[512], link[128], victim[128];
	int fd;

	ck_assert_int_eq(rundir_prepare(err, sizeof(err)), 0);
	snprintf(victim, sizeof(victim), "%s.target", run_dir);
	ck_assert_int_eq(mkdir(victim, 0755), 0);
	strcat(victim, "/victim");
	snprintf(link, sizeof(link), "%s/ublkd.pid", run_dir);
	ck_assert_int_eq(symlink(victim, link), 0);
	fd = rundir_lock(err, sizeof(err));
	ck_assert_int_eq(fd, -ELOOP);
	ck_assert_msg(strstr(err, "symlink"), "%s", err);
	ck_assert_int_eq(access(victim, F_OK), -1);

	snprintf(link, sizeof(link), "%s/ublkd.log", run_dir);
	ck_assert_int_eq(symlink(victim, link), 0);
	ck_assert_int_eq(rundir_open("ublkd.log", O_WRONLY | O_CREAT | O_APPEND, 0640), -ELOOP);
	ck_assert_int_eq(access(victim, F_OK), -1);

	/* The lock itself still works once the symlink is gone. */
	snprintf(link, sizeof(link), "%s/ublkd.pid", run_dir);
	ck_assert_int_eq(unlink(link), 0);
	fd = rundir_lock(err, sizeof(err));
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(rundir_lock(err, sizeof(err)), -EALREADY);
	rundir_unlock(fd);
	ck_assert_int_eq(access(link, F_OK), -1);
}
END_TEST

START_TEST(test_journal_stream)
{
	char text[64];
	struct stat st;

	ck_assert_int_eq(fstat(STDERR_FILENO, &st), 0);
	snprintf(text, sizeof(text), "%llu:%llu", (unsigned long long)st.st_dev,
		 (unsigned long long)st.st_ino);
	ck_assert(log_stderr_is_journal(text));
	snprintf(text, sizeof(text), "%llu:%llu", (unsigned long long)st.st_dev,
		 (unsigned long long)st.st_ino + 1);
	ck_assert(!log_stderr_is_journal(text));
	ck_assert(!log_stderr_is_journal("1"));
	ck_assert(!log_stderr_is_journal(""));
	ck_assert(!log_stderr_is_journal(NULL));
	snprintf(text, sizeof(text), "%llu:%llux", (unsigned long long)st.st_dev,
		 (unsigned long long)st.st_ino);
	ck_assert(!log_stderr_is_journal(text));
}
END_TEST

START_TEST(test_mountinfo)
{
	static const char mountinfo[] =
		"22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
		"40 22 259:0 / /srv/my\\040data rw,relatime shared:9 - ext4 /dev/ublkb0 rw\n"
		"41 22 259:1 / /mnt/part rw shared:10 - ext4 /dev/ublkb0p1 rw\n"
		"42 22 259:0 /sub /var/bind rw shared:9 - ext4 /dev/ublkb0 rw\n";
	char buf[256] = "";

	ck_assert(holders_mounts_in(mountinfo, "259:0", buf, sizeof(buf)));
	ck_assert_str_eq(buf, "mounted on /srv/my data; mounted on /var/bind");
	buf[0] = '\0';
	ck_assert(!holders_mounts_in(mountinfo, "259:2", buf, sizeof(buf)));
	ck_assert_str_eq(buf, "");
	/* 259:1 is not 259:10. */
	ck_assert(holders_mounts_in(mountinfo, "259:1", buf, sizeof(buf)));
	ck_assert_str_eq(buf, "mounted on /mnt/part");
}
END_TEST

/*
 * A daemon from before the end line, as a package upgrade leaves running under a new client:
 * it answers "reload" with its end line as an unknown request, and a bare "reload" with "ok".
 * Serves two connections and writes what each sent to report_fd, one per line ('|' for '\n').
 */
static void old_daemon(int listen_fd, int report_fd)
{
	for (int i = 0; i < 2; i++) {
		char buf[256];
		ssize_t n;
		size_t len = 0;
		int fd = accept(listen_fd, NULL, NULL);

		if (fd < 0)
			_exit(1);
		while (len < sizeof(buf) - 1 &&
		       (n = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0)
			len += (size_t)n;
		buf[len] = '\0';
		if (!strcmp(buf, "reload"))
			n = write(fd, "ok reloaded\n", 12);
		else
			n = write(fd, "error unknown request \"reload\"\n", 31);
		close(fd);
		for (size_t j = 0; j < len; j++)
			buf[j] = buf[j] == '\n' ? '|' : buf[j];
		buf[len] = '\n';
		n = write(report_fd, buf, len + 1);
	}
	_exit(0);
}

START_TEST(test_client_old_daemon)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	static struct run_result r;
	char err[512], seen[512] = "";
	int listen_fd, report[2], status;
	ssize_t n;
	pid_t pid;

	ck_assert_int_eq(rundir_prepare(err, sizeof(err)), 0);
	ck_assert_int_eq(ipc_run_path(sa.sun_path, sizeof(sa.sun_path), "ublkd.sock"), 0);
	listen_fd = socket(AF_UNIX, SOCK_STREAM, 0);
	ck_assert_int_ge(listen_fd, 0);
	ck_assert_int_eq(bind(listen_fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(listen_fd, 4), 0);
	ck_assert_int_eq(pipe(report), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		old_daemon(listen_fd, report[1]);
	close(report[1]);
	close(listen_fd);
	run_ublkd(&r, "reload", NULL);
	ck_assert_msg(r.status == 0 && !strcmp(r.out, "reloaded\n"), "reload: %d: %s%s", r.status,
		      r.out, r.err);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	n = read(report[0], seen, sizeof(seen) - 1);
	close(report[0]);
	ck_assert_int_gt(n, 0);
	seen[n] = '\0';
	/* With the end line first, then bare: never bare to a daemon that knows the line. */
	ck_assert_str_eq(seen, "reload|end|\nreload\n");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("hardening");
	TCase *tc = tcase_create("parsing");
	TCase *dir = tcase_create("run directory");

	tcase_add_loop_test(tc, test_dev_ref, 0, sizeof(dev_refs) / sizeof(dev_refs[0]));
	tcase_add_test(tc, test_request_parse);
	tcase_add_test(tc, test_journal_stream);
	tcase_add_test(tc, test_mountinfo);
	suite_add_tcase(s, tc);
	tcase_add_checked_fixture(dir, run_dir_setup, run_dir_teardown);
	tcase_add_test(dir, test_run_dir_made_and_checked);
	tcase_add_test(dir, test_run_dir_symlink_refused);
	tcase_add_test(dir, test_run_files_not_followed);
	tcase_add_test(dir, test_client_old_daemon);
	suite_add_tcase(s, dir);
	return suite_main(s);
}
