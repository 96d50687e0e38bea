// SPDX-License-Identifier: MIT
/*
 * Where memory devices' RAM outlives the daemon: the memfd itself (sparse, sealed at its
 * size), the memory keeper (keep, take from another process, drop from another process, exit
 * when empty, nothing of ours inherited, refusal of garbage and of other uids, timeouts
 * against a keeper that never answers; under valgrind, run it with CK_EXCLUDE_TAGS=no-valgrind), systemd's fd store against a notify socket of our own
 * and the fds it passes back at start, and the "none" holder.
 */
#include <dirent.h>
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
#include <time.h>
#include <unistd.h>

#include "../common/run.h"
#include "../common/suite_main.h"
#include "fdpass.h"
#include "keeper_test.h"
#include "listen_fds.h"
#include "mem_store.h"
#include "server.h"

#define MIB (1024ULL * 1024)
#define TIB (1024 * 1024 * MIB)
#define ERR_MAX 512

/* A memfd of size with "name at offset" written at off. */
static int ram_with_text(uint64_t size, uint64_t off, const char *text)
{
	char err[ERR_MAX] = "";
	int fd = mem_store_create(size, err, sizeof(err));

	ck_assert_msg(fd >= 0, "create: %s", err);
	ck_assert_int_eq(pwrite(fd, text, strlen(text), (off_t)off), (ssize_t)strlen(text));
	return fd;
}

static bool has_text(int fd, uint64_t off, const char *text)
{
	char buf[256] = "";

	return pread(fd, buf, strlen(text), (off_t)off) == (ssize_t)strlen(text) &&
	       !memcmp(buf, text, strlen(text));
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

START_TEST(test_create)
{
	char err[ERR_MAX] = "", link[128], path[64];
	int seals, fd = mem_store_create(TIB, err, sizeof(err));
	struct stat st;
	ssize_t n;

	ck_assert_msg(fd >= 0, "create: %s", err);
	ck_assert_int_eq(fstat(fd, &st), 0);
	ck_assert_uint_eq(st.st_size, TIB);
	ck_assert_uint_eq(st.st_blocks, 0);
	ck_assert_int_eq(fcntl(fd, F_GETFD), FD_CLOEXEC);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, link, sizeof(link) - 1);
	ck_assert_int_gt(n, 0);
	link[n] = '\0';
	ck_assert_msg(!strncmp(link, "/memfd:ublkd-memory", 19), "fd %d is %s", fd, link);
	/* Sealed at its size: neither shrinks nor grows, and no seal can be taken off. */
	seals = fcntl(fd, F_GET_SEALS);
	ck_assert_int_eq(seals & (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL),
			 F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
	ck_assert_int_eq(ftruncate(fd, 4096), -1);
	ck_assert_int_eq(errno, EPERM);
	ck_assert_int_eq(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 4096), 0);
	close(fd);

	ck_assert_int_eq(mem_store_create(1ULL << 63, err, sizeof(err)), -EFBIG);
	ck_assert_str_eq(err, "memory: cannot make a RAM disk of 8388608T: File too large");
}
END_TEST

static int take_in_child(void)
{
	char err[ERR_MAX] = "";
	int fd = mem_store_take(7, 64 * MIB, err, sizeof(err));

	if (fd < 0)
		fprintf(stderr, "take: %s\n", err);
	child_expect(fd >= 0, "take 7");
	child_expect(has_text(fd, 0, "start of seven"), "the text at 0");
	child_expect(has_text(fd, 33 * MIB + 5, "middle of seven"), "the text at 33M+5");
	/* The keeper's copy is the same memory: this write is there for the next taker. */
	child_expect(pwrite(fd, "child was here", 14, 4096) == 14, "write");
	return 0;
}

/*
 * What a forked daemon holds must not reach the keeper: an fd of ours, a shared mapping (one
 * of /dev/ublkcN would hide our death from the kernel). Only its own are left: stdio on
 * /dev/null, its lock, its socket and what it keeps.
 */
static void expect_keeper_clean(pid_t keeper, unsigned kept)
{
	char path[64], link[256], comm[32] = "";
	unsigned memfds = 0;
	struct dirent *e;
	FILE *f;
	DIR *dir;

	snprintf(path, sizeof(path), "/proc/%d/comm", keeper);
	f = fopen(path, "re");
	ck_assert_ptr_nonnull(f);
	ck_assert_ptr_nonnull(fgets(comm, sizeof(comm), f));
	fclose(f);
	ck_assert_str_eq(comm, "ublkd-keeper\n");

	snprintf(path, sizeof(path), "/proc/%d/fd", keeper);
	dir = opendir(path);
	ck_assert_ptr_nonnull(dir);
	while ((e = readdir(dir))) {
		char fd_path[sizeof(path) + sizeof(e->d_name)];
		ssize_t n;

		if (e->d_name[0] == '.')
			continue;
		snprintf(fd_path, sizeof(fd_path), "%s/%s", path, e->d_name);
		n = readlink(fd_path, link, sizeof(link) - 1);
		/* Gone since the listing: the connection keeper_test_pid() made and dropped. */
		if (n < 0 && errno == ENOENT)
			continue;
		ck_assert_int_gt(n, 0);
		link[n] = '\0';
		if (atoi(e->d_name) <= 2)
			ck_assert_str_eq(link, "/dev/null");
		else if (!strncmp(link, "/memfd:ublkd-memory", 19))
			memfds++;
		else
			ck_assert_msg(strstr(link, "/" MEM_KEEPER_LOCK) ||
					      !strncmp(link, "socket:", 7),
				      "the keeper holds fd %s: %s", e->d_name, link);
	}
	closedir(dir);
	ck_assert_uint_eq(memfds, kept);

	snprintf(path, sizeof(path), "/proc/%d/maps", keeper);
	f = fopen(path, "re");
	ck_assert_ptr_nonnull(f);
	while (fgets(link, sizeof(link), f)) {
		char perms[5] = "";

		ck_assert_int_eq(sscanf(link, "%*x-%*x %4s", perms), 1);
		ck_assert_msg(perms[3] != 's', "the keeper has a shared mapping: %s", link);
		ck_assert_msg(!strstr(link, "memfd:"), "the keeper maps a memfd: %s", link);
	}
	fclose(f);
}

/* Kept here, taken in another process, which reads what we wrote and writes for the next one. */
START_TEST(test_keeper_keep_take)
{
	char err[ERR_MAX] = "", want[ERR_MAX];
	int fd = ram_with_text(64 * MIB, 0, "start of seven");
	pid_t keeper;

	ck_assert_int_eq(pwrite(fd, "middle of seven", 15, 33 * MIB + 5), 15);
	ck_assert_int_eq(keeper_test_pid(), 0);
	ck_assert_msg(mem_store_keep(7, fd, err, sizeof(err)) == 0, "keep: %s", err);
	close(fd);
	keeper = keeper_test_pid();
	ck_assert_int_gt(keeper, 0);
	ck_assert_int_ne(keeper, getpid());

	ck_assert(run_in_child(take_in_child));
	fd = mem_store_take(7, 64 * MIB, err, sizeof(err));
	ck_assert_msg(fd >= 0, "take: %s", err);
	ck_assert(has_text(fd, 4096, "child was here"));
	ck_assert_int_eq(fcntl(fd, F_GETFD), FD_CLOEXEC);
	close(fd);

	ck_assert_int_eq(mem_store_take(7, 32 * MIB, err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, "memory: memory-7: the kept RAM is 64M, the device 32M");
	ck_assert_int_eq(mem_store_take(8, 64 * MIB, err, sizeof(err)), -ENOENT);
	snprintf(want, sizeof(want),
		 "memory: no RAM kept for device 8 (the keeper at %s/memory.sock holds no "
		 "memory-8): the RAM disk's contents are gone",
		 keeper_test_dir);
	ck_assert_str_eq(err, want);
	/* Still the one keeper, and still holding 7. */
	ck_assert_int_eq(keeper_test_pid(), keeper);
}
END_TEST

/*
 * The keeper is not our child and inherits nothing of ours, though it starts as a fork of us:
 * not the fd we hold, not the shared mapping we have. Valgrind keeps an fd and a mapping of
 * its own in every process it runs: no-valgrind.
 */
START_TEST(test_keeper_inherits_nothing)
{
	int fd = ram_with_text(MIB, 0, "seven"), stray = open("/dev/null", O_RDONLY);
	void *shared = mmap(NULL, MIB, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	char err[ERR_MAX] = "";
	pid_t keeper;

	ck_assert_ptr_ne(shared, MAP_FAILED);
	ck_assert_int_ge(stray, 0);
	ck_assert_msg(mem_store_keep(7, fd, err, sizeof(err)) == 0, "keep: %s", err);
	keeper = keeper_test_pid();
	ck_assert_int_gt(keeper, 0);
	ck_assert_int_eq(waitpid(keeper, NULL, WNOHANG), -1);
	ck_assert_int_eq(errno, ECHILD);
	expect_keeper_clean(keeper, 1);
	munmap(shared, MIB);
	close(stray);
	close(fd);
}
END_TEST

static int drop_seven_in_child(void)
{
	/* A process that never kept it, as `ublkd del` of a dead daemon's device. */
	mem_store_drop(7);
	return 0;
}

/* A put of a name it holds replaces the fd; the keeper goes with the last drop. */
START_TEST(test_keeper_drop_exits)
{
	char err[ERR_MAX] = "", want[ERR_MAX], sock[128];
	int seven = ram_with_text(MIB, 0, "old seven"), nine = ram_with_text(MIB, 0, "nine"), fd;
	pid_t keeper;

	/* With no keeper, dropping starts none. */
	mem_store_drop(7);
	ck_assert_int_eq(keeper_test_pid(), 0);

	ck_assert_msg(mem_store_keep(7, seven, err, sizeof(err)) == 0, "keep: %s", err);
	close(seven);
	seven = ram_with_text(MIB, 0, "new seven");
	ck_assert_msg(mem_store_keep(7, seven, err, sizeof(err)) == 0, "keep: %s", err);
	ck_assert_msg(mem_store_keep(9, nine, err, sizeof(err)) == 0, "keep: %s", err);
	close(seven);
	close(nine);
	keeper = keeper_test_pid();
	ck_assert_int_gt(keeper, 0);
	fd = mem_store_take(7, MIB, err, sizeof(err));
	ck_assert_msg(fd >= 0, "take: %s", err);
	ck_assert(has_text(fd, 0, "new seven"));
	close(fd);

	ck_assert(run_in_child(drop_seven_in_child));
	ck_assert_int_eq(mem_store_take(7, MIB, err, sizeof(err)), -ENOENT);
	ck_assert(!keeper_test_gone(keeper));
	mem_store_drop(9);
	ck_assert_msg(keeper_test_wait_gone(keeper, 2000), "keeper %d holds nothing but stays",
		      keeper);
	keeper_test_path(sock, sizeof(sock), MEM_KEEPER_SOCKET);
	ck_assert_int_eq(access(sock, F_OK), -1);
	ck_assert_int_eq(mem_store_take(9, MIB, err, sizeof(err)), -ENOENT);
	snprintf(want, sizeof(want),
		 "memory: no RAM kept for device 9 (no keeper answers at %s): the RAM disk's "
		 "contents are gone",
		 sock);
	ck_assert_str_eq(err, want);

	/* The next keep starts a new keeper. */
	nine = ram_with_text(MIB, 0, "nine again");
	ck_assert_msg(mem_store_keep(9, nine, err, sizeof(err)) == 0, "keep: %s", err);
	close(nine);
	ck_assert_int_gt(keeper_test_pid(), 0);
	ck_assert_int_ne(keeper_test_pid(), keeper);
}
END_TEST

/* A connection to the keeper's socket; its peer must be the keeper. */
static int keeper_connect(void)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int sock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	if (sock < 0)
		return -errno;
	keeper_test_path(addr.sun_path, sizeof(addr.sun_path), MEM_KEEPER_SOCKET);
	if (connect(sock, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		int ret = -errno;

		close(sock);
		return ret;
	}
	return sock;
}

/* Sends one raw request (with fd unless < 0); the answer, and *got the fd that came with it. */
static const char *raw_request(const char *msg, int fd, int *got)
{
	static char reply[128];
	int sock = keeper_connect();
	ssize_t n;

	*got = -1;
	if (sock < 0)
		return "no connection";
	n = fdpass_send(sock, NULL, 0, msg, strlen(msg), fd);
	if (n >= 0)
		n = fdpass_recv(sock, reply, sizeof(reply) - 1, got);
	close(sock);
	if (n < 0)
		return strerror((int)-n);
	reply[n] = '\0';
	return reply;
}

START_TEST(test_keeper_refuses_garbage)
{
	static const char *const bad[] = {
		"frobnicate memory-7",
		"get",
		"get ",
		"get ../memory-7",
		"get memory-7 extra",
		"put memory-8", /* no fd */
		"drop memory 7",
		"get memory-7777777777777777777777777777777777777777777777777777777777777777",
		"GET memory-7",
	};
	char err[ERR_MAX] = "";
	int fd = ram_with_text(MIB, 0, "seven"), got;

	ck_assert_msg(mem_store_keep(7, fd, err, sizeof(err)) == 0, "keep: %s", err);
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_str_eq(raw_request(bad[i], -1, &got), "error 22");
		ck_assert_int_eq(got, -1);
	}
	/* An fd beside a request that takes none is closed, not kept. */
	ck_assert_str_eq(raw_request("get memory-7x", fd, &got), "error 2");
	ck_assert_str_eq(raw_request("drop memory-7x", -1, &got), "error 2");
	ck_assert_str_eq(raw_request("get memory-7", -1, &got), "ok");
	ck_assert_int_ge(got, 0);
	ck_assert(has_text(got, 0, "seven"));
	close(got);
	close(fd);
}
END_TEST

static int ask_as_nobody(void)
{
	char reply[64];
	int sock, got;
	ssize_t n;

	child_expect(setgid(65534) == 0 && setuid(65534) == 0, "setuid nobody");
	sock = keeper_connect();
	child_expect(sock >= 0, "connect as nobody");
	child_expect(fdpass_send(sock, NULL, 0, "get memory-7", 12, -1) == 12, "send");
	n = fdpass_recv(sock, reply, sizeof(reply) - 1, &got);
	child_expect(n > 0, "an answer");
	reply[n] = '\0';
	child_expect(!strcmp(reply, "error 13"), reply);
	child_expect(got < 0, "no fd");
	return 0;
}

static int listen_as_nobody(void)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int sock = socket(AF_UNIX, SOCK_SEQPACKET, 0);

	child_expect(setgid(65534) == 0 && setuid(65534) == 0, "setuid nobody");
	keeper_test_path(addr.sun_path, sizeof(addr.sun_path), MEM_KEEPER_SOCKET);
	child_expect(sock >= 0 && bind(sock, (struct sockaddr *)&addr, sizeof(addr)) == 0 &&
			     listen(sock, 4) == 0,
		     "listen as nobody");
	pause(); /* until the test kills it */
	return 1;
}

/*
 * Only our uid is served, and we trust only a keeper of our uid: the socket's mode is not all
 * that guards it (here it lets anyone connect). Needs root, to be someone else.
 */
START_TEST(test_keeper_other_uid)
{
	char err[ERR_MAX] = "", sock[128];
	int fd = ram_with_text(MIB, 0, "seven"), status;
	pid_t fake;

	if (geteuid() != 0) {
		fprintf(stderr, "test_keeper_other_uid: not root, nobody else to be: skipped\n");
		close(fd);
		return;
	}
	ck_assert_msg(mem_store_keep(7, fd, err, sizeof(err)) == 0, "keep: %s", err);
	keeper_test_path(sock, sizeof(sock), MEM_KEEPER_SOCKET);
	ck_assert_int_eq(chmod(keeper_test_base, 0711), 0);
	ck_assert_int_eq(chmod(keeper_test_dir, 0777), 0);
	ck_assert_int_eq(chmod(sock, 0666), 0);
	ck_assert(run_in_child(ask_as_nobody));

	/* Someone else's socket at the keeper's path: neither given our RAM nor asked for it. */
	mem_store_drop(7);
	ck_assert(keeper_test_wait_gone(keeper_test_pid(), 2000) || keeper_test_pid() == 0);
	fake = fork();
	ck_assert_int_ge(fake, 0);
	if (fake == 0)
		_exit(listen_as_nobody());
	for (int i = 0; i < 200 && keeper_test_pid() != fake; i++)
		usleep(10 * 1000);
	ck_assert_int_eq(keeper_test_pid(), fake);
	ck_assert_int_eq(mem_store_keep(7, fd, err, sizeof(err)), -EPERM);
	ck_assert_msg(strstr(err, "cannot hand it to the keeper") &&
			      strstr(err, "Operation not permitted"),
		      "%s", err);
	ck_assert_int_eq(mem_store_take(7, MIB, err, sizeof(err)), -EPERM);
	kill(fake, SIGKILL);
	ck_assert_int_eq(waitpid(fake, &status, 0), fake);
	close(fd);
}
END_TEST

/* A keeper that is there but never answers costs seconds, never the daemon. */
START_TEST(test_keeper_stuck)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int sock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	int fd = ram_with_text(MIB, 0, "seven");
	char err[ERR_MAX] = "";
	int64_t start;

	keeper_test_path(addr.sun_path, sizeof(addr.sun_path), MEM_KEEPER_SOCKET);
	ck_assert_int_eq(bind(sock, (struct sockaddr *)&addr, sizeof(addr)), 0);
	ck_assert_int_eq(listen(sock, 16), 0); /* and never accept */

	start = now_ms();
	ck_assert_int_eq(mem_store_take(7, MIB, err, sizeof(err)), -ETIMEDOUT);
	ck_assert_msg(strstr(err, "memory: memory-7: the keeper at ") &&
			      strstr(err, "Connection timed out"),
		      "%s", err);
	ck_assert_int_eq(mem_store_keep(7, fd, err, sizeof(err)), -ETIMEDOUT);
	mem_store_drop(7);
	ck_assert_int_lt(now_ms() - start, 3 * 2500);
	/* It was never replaced by a keeper of ours. */
	ck_assert_int_eq(keeper_test_pid(), getpid());
	close(sock);
	close(fd);
}
END_TEST

/*
 * A keeper whose socket file someone removed: a second one cannot start beside it (the lock),
 * and the message says what to do.
 */
START_TEST(test_keeper_unreachable)
{
	char err[ERR_MAX] = "", sock[128];
	int fd = ram_with_text(MIB, 0, "seven");
	pid_t keeper;

	ck_assert_msg(mem_store_keep(7, fd, err, sizeof(err)) == 0, "keep: %s", err);
	keeper = keeper_test_pid();
	ck_assert_int_gt(keeper, 0);
	keeper_test_path(sock, sizeof(sock), MEM_KEEPER_SOCKET);
	ck_assert_int_eq(unlink(sock), 0);
	ck_assert_int_eq(mem_store_keep(8, fd, err, sizeof(err)), -EEXIST);
	ck_assert_msg(strstr(err, "memory: memory-8: a keeper holds memory.lock but does not "
				  "answer at ") &&
			      strstr(err, "; kill the ublkd-keeper process"),
		      "%s", err);
	ck_assert(!keeper_test_gone(keeper));
	kill(keeper, SIGKILL);
	ck_assert(keeper_test_wait_gone(keeper, 2000));
	/* Once it is gone, a new one starts. */
	ck_assert_msg(mem_store_keep(8, fd, err, sizeof(err)) == 0, "keep: %s", err);
	ck_assert_int_gt(keeper_test_pid(), 0);
	close(fd);
}
END_TEST

START_TEST(test_none)
{
	char err[ERR_MAX] = "";
	int fd = ram_with_text(MIB, 0, "seven");

	setenv("UBLKD_MEMORY_KEEPER", "none", 1);
	ck_assert_int_eq(mem_store_keep(7, fd, err, sizeof(err)), 0);
	ck_assert_int_eq(keeper_test_pid(), 0);
	ck_assert_int_eq(mem_store_take(7, MIB, err, sizeof(err)), -ENOENT);
	ck_assert_str_eq(err, "memory: no RAM kept for device 7 (UBLKD_MEMORY_KEEPER=none): the "
			      "RAM disk's contents are gone");
	mem_store_drop(7);
	close(fd);
}
END_TEST

static char notify_path[128];
static int notify_fd = -1;

/* A datagram socket in RUN_DIR standing in for systemd's, which has an fd store. */
static void fdstore_setup(void)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };

	keeper_test_setup();
	keeper_test_path(addr.sun_path, sizeof(addr.sun_path), "notify");
	snprintf(notify_path, sizeof(notify_path), "%s", addr.sun_path);
	notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(notify_fd, 0);
	ck_assert_int_eq(bind(notify_fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	setenv("NOTIFY_SOCKET", notify_path, 1);
}

static void fdstore_teardown(void)
{
	unsetenv("FDSTORE");
	unsetenv("SYSTEMD_EXEC_PID");
	close(notify_fd);
	keeper_test_teardown();
}

/* The next notification: its text, and *fd the fd that came with it (-1: none). */
static const char *notification(int *fd)
{
	static char buf[256];
	ssize_t n = fdpass_recv(notify_fd, buf, sizeof(buf) - 1, fd);

	ck_assert_int_gt(n, 0);
	buf[n] = '\0';
	return buf;
}

static bool same_file(int a, int b)
{
	struct stat sa, sb;

	return fstat(a, &sa) == 0 && fstat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
	       sa.st_ino == sb.st_ino;
}

static int stored_fd = -1;

/*
 * A service restarted with its fd store: the RAM (fd 3, as systemd names it), the control
 * socket (fd 4) and something else named like RAM (fd 5) come in LISTEN_FDS. Each part takes
 * its own; what is left is closed.
 */
static int restart_with_store(void)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	char err[ERR_MAX] = "", pid[16];
	int sock = socket(AF_UNIX, SOCK_STREAM, 0), pipefd[2], fd;
	struct server srv;

	keeper_test_path(addr.sun_path, sizeof(addr.sun_path), "activated.sock");
	child_expect(sock >= 0 && bind(sock, (struct sockaddr *)&addr, sizeof(addr)) == 0 &&
			     listen(sock, 4) == 0 && pipe(pipefd) == 0,
		     "sockets");
	child_expect(dup2(stored_fd, 3) == 3 && dup2(sock, 4) == 4 && dup2(pipefd[0], 5) == 5,
		     "fds 3 to 5");
	snprintf(pid, sizeof(pid), "%d", getpid());
	setenv("LISTEN_PID", pid, 1);
	/* The restarted service's main process: systemd names it, as it did the old one. */
	if (getenv("SYSTEMD_EXEC_PID"))
		setenv("SYSTEMD_EXEC_PID", pid, 1);
	setenv("LISTEN_FDS", "3", 1);
	setenv("LISTEN_FDNAMES", "memory-5:ublkd.socket:memory-6", 1);

	child_expect(mem_store_init(err, sizeof(err)) == 0, err);
	child_expect(server_open(&srv, err, sizeof(err)) == 0, err);
	child_expect(srv.activated && srv.listen_fd == 4, "the socket is fd 4");
	listen_fds_close_unclaimed();
	child_expect(fcntl(5, F_GETFD) < 0 && errno == EBADF, "fd 5 closed, unclaimed");
	child_expect(!getenv("LISTEN_PID") && !getenv("LISTEN_FDS") && !getenv("LISTEN_FDNAMES"),
		     "LISTEN_* unset");

	fd = mem_store_take(5, MIB, err, sizeof(err));
	child_expect(fd >= 0, err);
	child_expect(same_file(fd, stored_fd) && has_text(fd, 0, "five"), "the stored RAM");
	child_expect(mem_store_take(6, MIB, err, sizeof(err)) == -ENOENT, "no 6");
	child_expect(!strcmp(err, "memory: no RAM kept for device 6 (systemd's fd store gave none "
				  "back): the RAM disk's contents are gone"),
		     err);
	/* Taken once: the store keeps its own copy, not we. */
	child_expect(mem_store_take(5, MIB, err, sizeof(err)) == -ENOENT, "5 taken once");
	server_close(&srv);
	return 0;
}

/*
 * The store is systemd's where it says so ($FDSTORE, systemd 258+) and where we are a
 * service's main process ($SYSTEMD_EXEC_PID, as systemd 257 tells a unit's ExecStart=).
 */
START_TEST(test_fdstore)
{
	char err[ERR_MAX] = "", pid[16];
	int fd, got;

	if (_i == 0) {
		setenv("FDSTORE", "16", 1);
	} else {
		snprintf(pid, sizeof(pid), "%d", getpid());
		setenv("SYSTEMD_EXEC_PID", pid, 1);
	}
	fd = ram_with_text(MIB, 0, "five");

	ck_assert_msg(mem_store_keep(5, fd, err, sizeof(err)) == 0, "keep: %s", err);
	ck_assert_str_eq(notification(&got), "FDSTORE=1\nFDNAME=memory-5");
	ck_assert_int_ge(got, 0);
	ck_assert(same_file(got, fd));
	/* systemd's, not a keeper's. */
	ck_assert_int_eq(keeper_test_pid(), 0);

	stored_fd = got;
	ck_assert(run_in_child(restart_with_store));

	mem_store_drop(5);
	ck_assert_str_eq(notification(&got), "FDSTOREREMOVE=1\nFDNAME=memory-5");
	ck_assert_int_eq(got, -1);
	close(stored_fd);
	close(fd);
}
END_TEST

static Suite *mem_store_suite(void)
{
	Suite *s = suite_create("mem_store");
	TCase *tc;

	tc = tcase_create("keeper");
	tcase_set_timeout(tc, 30);
	tcase_add_unchecked_fixture(tc, keeper_test_case_setup, keeper_test_case_teardown);
	tcase_add_checked_fixture(tc, keeper_test_setup, keeper_test_teardown);
	tcase_add_test(tc, test_create);
	tcase_add_test(tc, test_keeper_keep_take);
	tcase_add_test(tc, test_keeper_drop_exits);
	tcase_add_test(tc, test_keeper_refuses_garbage);
	tcase_add_test(tc, test_keeper_other_uid);
	tcase_add_test(tc, test_keeper_stuck);
	tcase_add_test(tc, test_keeper_unreachable);
	tcase_add_test(tc, test_none);
	suite_add_tcase(s, tc);

	tc = tcase_create("keeper process");
	tcase_set_tags(tc, "no-valgrind");
	tcase_add_unchecked_fixture(tc, keeper_test_case_setup, keeper_test_case_teardown);
	tcase_add_checked_fixture(tc, keeper_test_setup, keeper_test_teardown);
	tcase_add_test(tc, test_keeper_inherits_nothing);
	suite_add_tcase(s, tc);

	tc = tcase_create("fdstore");
	tcase_add_unchecked_fixture(tc, keeper_test_case_setup, keeper_test_case_teardown);
	tcase_add_checked_fixture(tc, fdstore_setup, fdstore_teardown);
	tcase_add_loop_test(tc, test_fdstore, 0, 2);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return suite_main(mem_store_suite());
}
