// SPDX-License-Identifier: MIT
/* The memory keeper process and the requests to it (include/mem_keeper.h). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "fdpass.h"
#include "ipc.h"
#include "mem_keeper.h"
#include "rundir.h"

/* How long a client waits for the keeper at each step (start, connect, send, answer). */
#define KEEPER_CALL_TIMEOUT_MS 2000
/* How long the keeper gives a client to ask, or an old keeper to finish exiting. */
#define KEEPER_CONN_TIMEOUT_MS 1000
/* How long the keeper waits for its first put before it decides nobody will come. */
#define KEEPER_IDLE_MS 10000
/* "drop " and a name, or "error 4095". */
#define KEEPER_MSG_MAX (MEM_KEEPER_NAME_MAX + 16)

struct kept_fd {
	char name[MEM_KEEPER_NAME_MAX];
	int fd;
};

struct keeper {
	int listen_fd;
	struct kept_fd *kept;
	size_t nr;
	bool done; /* the last drop came: nothing to keep any more */
};

/* The keeper's address, RUN_DIR/memory.sock. */
static int keeper_addr(struct sockaddr_un *addr)
{
	memset(addr, 0, sizeof(*addr));
	addr->sun_family = AF_UNIX;
	return ipc_run_path(addr->sun_path, sizeof(addr->sun_path), MEM_KEEPER_SOCKET);
}

/* Both ways, so that neither end of a connection can hold the other up for longer. */
static void set_timeouts(int sock, int timeout_ms)
{
	struct timeval tv = { .tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000 };

	setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(sock, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

static bool peer_is_us(int sock)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	return getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 && cred.uid == geteuid();
}

/* "VERB NAME" into verb and name: 0, or -EINVAL for anything else. */
static int parse_request(const char *msg, char *verb, size_t verb_bytes, const char **name)
{
	const char *space = strchr(msg, ' ');
	size_t len;

	if (!space || (size_t)(space - msg) >= verb_bytes)
		return -EINVAL;
	memcpy(verb, msg, (size_t)(space - msg));
	verb[space - msg] = '\0';
	*name = space + 1;
	len = strlen(*name);
	if (!len || len >= MEM_KEEPER_NAME_MAX ||
	    strspn(*name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") !=
		    len)
		return -EINVAL;
	return 0;
}

static struct kept_fd *keeper_find(struct keeper *k, const char *name)
{
	for (size_t i = 0; i < k->nr; i++) {
		if (!strcmp(k->kept[i].name, name))
			return &k->kept[i];
	}
	return NULL;
}

/* Stores fd (ours now, closed on failure) under name. */
static int keeper_put(struct keeper *k, const char *name, int fd)
{
	struct kept_fd *kept = keeper_find(k, name);

	if (kept) {
		close(kept->fd);
		kept->fd = fd;
		return 0;
	}
	kept = realloc(k->kept, (k->nr + 1) * sizeof(*kept));
	if (!kept) {
		close(fd);
		return -ENOMEM;
	}
	k->kept = kept;
	snprintf(kept[k->nr].name, sizeof(kept[k->nr].name), "%s", name);
	kept[k->nr++].fd = fd;
	return 0;
}

static int keeper_drop(struct keeper *k, const char *name)
{
	struct kept_fd *kept = keeper_find(k, name);

	if (!kept)
		return -ENOENT;
	close(kept->fd);
	*kept = k->kept[--k->nr];
	k->done = !k->nr;
	return 0;
}

/* Carries out msg; fd came with it (ours now). *reply_fd: what get answers with. */
static int keeper_do(struct keeper *k, const char *msg, int fd, int *reply_fd)
{
	struct kept_fd *kept;
	const char *name;
	char verb[8];
	int ret = parse_request(msg, verb, sizeof(verb), &name);

	if (!ret && !strcmp(verb, "put") && fd >= 0)
		return keeper_put(k, name, fd);
	if (fd >= 0)
		close(fd);
	if (ret)
		return ret;
	if (!strcmp(verb, "get")) {
		kept = keeper_find(k, name);
		if (!kept)
			return -ENOENT;
		*reply_fd = kept->fd;
		return 0;
	}
	if (!strcmp(verb, "drop"))
		return keeper_drop(k, name);
	return -EINVAL;
}

static void keeper_answer(struct keeper *k, int conn)
{
	char msg[KEEPER_MSG_MAX], reply[KEEPER_MSG_MAX];
	int fd = -1, reply_fd = -1, ret;
	ssize_t n;

	/*
	 * A request of another uid is read all the same, or closing with it unread would reset
	 * the connection before the refusal arrives; but by recv(), which takes no fd: the
	 * kernel discards any it sent, unseen.
	 */
	if (!peer_is_us(conn)) {
		if (recv(conn, msg, sizeof(msg), 0) <= 0)
			return;
		ret = -EACCES;
	} else {
		n = fdpass_recv(conn, msg, sizeof(msg) - 1, &fd);
		if (n <= 0) {
			if (fd >= 0)
				close(fd);
			return;
		}
		msg[n] = '\0';
		ret = keeper_do(k, msg, fd, &reply_fd);
	}
	if (ret)
		snprintf(reply, sizeof(reply), "error %d", -ret);
	else
		snprintf(reply, sizeof(reply), "ok");
	fdpass_send(conn, NULL, 0, reply, strlen(reply), reply_fd);
}

static void keeper_serve(struct keeper *k)
{
	while (!k->done) {
		struct pollfd pfd = { .fd = k->listen_fd, .events = POLLIN };
		int conn, n = poll(&pfd, 1, k->nr ? -1 : KEEPER_IDLE_MS);

		if (n == 0)
			return;
		if (n < 0)
			continue;
		conn = accept4(k->listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (conn < 0) {
			/* Out of fds: the client will time out; do not spin meanwhile. */
			if (errno == EMFILE || errno == ENFILE)
				usleep(100 * 1000);
			continue;
		}
		set_timeouts(conn, KEEPER_CONN_TIMEOUT_MS);
		keeper_answer(k, conn);
		close(conn);
	}
}

/*
 * Unmaps what the daemon had mapped shared, or mapped from a device, an anon inode (io_uring)
 * or a memfd: each holds its file. What stays is private memory (code, heap, stacks), which
 * costs only pages copied on write. -errno when the list cannot be read: a keeper that might
 * hold /dev/ublkcN must not start.
 */
static int keeper_unmap_shared(void)
{
	static const char *const held[] = { "/dev/", "anon_inode:", "/memfd:" };
	char *maps = NULL, *line, *next;
	ssize_t n = -EMSGSIZE;

	/* All of it first, since unmapping changes the list while it is read. */
	for (size_t room = 64 * 1024; n == -EMSGSIZE && room <= 64 * 1024 * 1024; room *= 2) {
		int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);

		free(maps);
		maps = malloc(room);
		if (fd < 0 || !maps) {
			n = fd < 0 ? -errno : -ENOMEM;
			if (fd >= 0)
				close(fd);
			break;
		}
		n = ipc_read_all(fd, maps, room);
		close(fd);
	}
	if (n < 0) {
		free(maps);
		return (int)n;
	}
	for (line = maps; *line; line = next) {
		unsigned long start, end;
		char perms[5];
		int path_at = 0;
		bool unmap;

		next = strchr(line, '\n');
		next = next ? next + 1 : line + strlen(line);
		if (next[-1] == '\n')
			next[-1] = '\0';
		if (sscanf(line, "%lx-%lx %4s %*s %*s %*s %n", &start, &end, perms, &path_at) < 3)
			continue;
		unmap = perms[3] == 's';
		for (size_t i = 0; path_at && i < sizeof(held) / sizeof(held[0]); i++)
			unmap |= !strncmp(line + path_at, held[i], strlen(held[i]));
		if (unmap)
			munmap((void *)start, end - start);
	}
	free(maps);
	return 0;
}

/*
 * Turns the forked copy of the daemon into the keeper: nothing of the daemon's left but
 * ready_fd (moved to fd 3), stdio on /dev/null, every signal blocked.
 */
static int keeper_shed(int *ready_fd)
{
	struct rlimit nofile;
	sigset_t all;
	int null_fd, ret = keeper_unmap_shared();

	if (ret)
		return ret;
	if (dup2(*ready_fd, 3) < 0)
		return -errno;
	*ready_fd = 3;
	null_fd = open("/dev/null", O_RDWR);
	if (null_fd < 0 || dup2(null_fd, 0) < 0 || dup2(null_fd, 1) < 0 || dup2(null_fd, 2) < 0)
		return -errno;
	if (close_range(4, ~0U, 0) < 0)
		return -errno;
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	prctl(PR_SET_NAME, "ublkd-keeper");
	umask(077); /* the socket: 0600, for root (our uid) only */
	if (chdir("/") < 0)
		return -errno;
	/* One fd per memory device. */
	if (getrlimit(RLIMIT_NOFILE, &nofile) == 0) {
		nofile.rlim_cur = nofile.rlim_max;
		setrlimit(RLIMIT_NOFILE, &nofile);
	}
	return 0;
}

/*
 * Takes the lock and the socket's path. A keeper that has just dropped its last fd still holds
 * the lock for a moment as it exits: wait for it. -EEXIST: another keeper lives.
 */
static int keeper_listen(struct keeper *k)
{
	int64_t deadline = monotonic_ms() + KEEPER_CONN_TIMEOUT_MS;
	struct sockaddr_un addr;
	int lock_fd, ret = keeper_addr(&addr);

	if (ret)
		return ret;
	lock_fd = rundir_open(MEM_KEEPER_LOCK, O_RDWR | O_CREAT, 0600);
	if (lock_fd < 0)
		return lock_fd;
	while (flock(lock_fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno != EWOULDBLOCK)
			return -errno;
		if (monotonic_ms() >= deadline)
			return -EEXIST;
		usleep(10 * 1000);
	}
	/* The lock is ours, so a socket file there is a dead keeper's. lock_fd stays open. */
	unlink(addr.sun_path);
	k->listen_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (k->listen_fd < 0 || bind(k->listen_fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
	    listen(k->listen_fd, 16) < 0)
		return -errno;
	return 0;
}

/* The keeper's life, in the grandchild; tells ready_fd 0 or -errno once it listens. */
static void __attribute__((noreturn)) keeper_main(int ready_fd)
{
	struct keeper k = { .listen_fd = -1 };
	struct sockaddr_un addr;
	int ret = keeper_shed(&ready_fd);

	if (!ret)
		ret = keeper_listen(&k);
	if (write(ready_fd, &ret, sizeof(ret)) != sizeof(ret))
		ret = -EIO;
	close(ready_fd);
	if (ret)
		_exit(1);
	keeper_serve(&k);
	/* While the lock is still held: the path is then free for the next keeper. */
	if (!keeper_addr(&addr))
		unlink(addr.sun_path);
	_exit(0);
}

/*
 * Starts a keeper and waits until it listens: 0, -EEXIST (another one came first), or
 * -errno. The forked copy of a threaded daemon has only this thread; glibc makes malloc safe
 * there, and the keeper takes no other lock that a thread of the daemon might have held.
 */
static int keeper_spawn(void)
{
	struct pollfd pfd = { .events = POLLIN };
	int pipefd[2], ret = -ETIMEDOUT;
	pid_t pid;

	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid == 0) {
		close(pipefd[0]);
		/* Not our child, not in our session: it outlives us and is nobody's zombie. */
		if (setsid() < 0 || (pid = fork()) < 0)
			_exit(1);
		if (pid > 0)
			_exit(0);
		keeper_main(pipefd[1]);
	}
	close(pipefd[1]);
	if (pid < 0) {
		ret = -errno;
		close(pipefd[0]);
		return ret;
	}
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
	pfd.fd = pipefd[0];
	if (poll(&pfd, 1, KEEPER_CALL_TIMEOUT_MS) == 1 &&
	    read(pipefd[0], &ret, sizeof(ret)) != sizeof(ret))
		ret = -ECHILD; /* it died before it listened */
	close(pipefd[0]);
	return ret;
}

/* "ok" is 0, "error N" is -N; anything else -EPROTO. */
static int parse_reply(const char *reply)
{
	int err, end = 0;

	if (!strcmp(reply, "ok"))
		return 0;
	if (sscanf(reply, "error %d%n", &err, &end) == 1 && !reply[end] && err > 0 && err < 4096)
		return -err;
	return -EPROTO;
}

/* One request; recv_fd (may be NULL) gets the fd that came with an "ok". */
static int keeper_call(const char *verb, const char *name, int send_fd, int *recv_fd)
{
	char msg[KEEPER_MSG_MAX], reply[KEEPER_MSG_MAX];
	struct sockaddr_un addr;
	int sock, got = -1, ret = keeper_addr(&addr);
	ssize_t n;

	if (recv_fd)
		*recv_fd = -1;
	if (ret)
		return ret;
	if ((size_t)snprintf(msg, sizeof(msg), "%s %s", verb, name) >= sizeof(msg))
		return -ENAMETOOLONG;
	sock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (sock < 0)
		return -errno;
	/* connect() too: it waits while the keeper's backlog is full. */
	set_timeouts(sock, KEEPER_CALL_TIMEOUT_MS);
	if (connect(sock, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		ret = errno == ENOENT || errno == ECONNREFUSED ? -ESRCH
		      : errno == EAGAIN			       ? -ETIMEDOUT
							       : -errno;
		goto out;
	}
	/* Whoever made the socket would get the RAM we hand over, or hand us any fd. */
	if (!peer_is_us(sock)) {
		ret = -EPERM;
		goto out;
	}
	n = fdpass_send(sock, NULL, 0, msg, strlen(msg), send_fd);
	if (n >= 0)
		n = fdpass_recv(sock, reply, sizeof(reply) - 1, &got);
	if (n <= 0) {
		/* Closed unanswered: a keeper on its way out after its last drop, or killed. */
		ret = n == -EAGAIN				  ? -ETIMEDOUT
		      : n == 0 || n == -EPIPE || n == -ECONNRESET ? -ESRCH
								  : (int)n;
		goto out;
	}
	reply[n] = '\0';
	ret = parse_reply(reply);
	if (!ret && recv_fd) {
		*recv_fd = got;
		got = -1;
		if (*recv_fd < 0)
			ret = -EPROTO;
	}
out:
	if (got >= 0)
		close(got);
	close(sock);
	return ret;
}

int mem_keeper_put(const char *name, int fd)
{
	int ret = keeper_call("put", name, fd, NULL);

	/* None runs, or the one there was exiting: start one, or find the one that came first. */
	if (ret == -ESRCH) {
		int spawned = keeper_spawn();

		if (spawned && spawned != -EEXIST)
			return spawned;
		ret = keeper_call("put", name, fd, NULL);
		/* A keeper holds the lock but answers at no socket (its file was removed). */
		if (ret == -ESRCH && spawned == -EEXIST)
			ret = -EEXIST;
	}
	return ret;
}

int mem_keeper_get(const char *name, int *fd)
{
	return keeper_call("get", name, -1, fd);
}

int mem_keeper_drop(const char *name)
{
	return keeper_call("drop", name, -1, NULL);
}
