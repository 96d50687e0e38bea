/* SPDX-License-Identifier: MIT */
/*
 * The memory keeper: a small process that holds memory devices' RAM (memfds) by name, so that
 * the RAM outlives a daemon that dies. mem_store.c is its one user and says when it is used.
 *
 * The first put starts it: the daemon forks, the child calls setsid() and forks the keeper, so
 * that it is nobody's child and in no session of ours. It sheds all it got from the daemon
 * (every fd, every shared mapping: one of /dev/ublkcN or of an io_uring would hide the
 * daemon's death from the kernel), blocks every signal (only SIGKILL ends it), is named
 * "ublkd-keeper", and listens on RUN_DIR/memory.sock (SOCK_SEQPACKET, mode 0600) while it holds
 * RUN_DIR/memory.lock, which keeps two keepers from sharing the socket's path.
 *
 * A request is one message, "put NAME" with the fd beside it (SCM_RIGHTS; a put of a name it
 * holds replaces the fd), "get NAME" or "drop NAME"; the answer is "ok", with the fd for get,
 * or "error ERRNO". One request per connection, one connection at a time. Both ends check the
 * other's uid (SO_PEERCRED): only the keeper's own uid is served, and a client trusts only a
 * keeper of its own uid. The keeper exits when a drop leaves it holding nothing, or when it
 * has held nothing for a while (its starter died before the first put).
 *
 * Nothing waits on it for long: a client gives up on a keeper that does not answer in two
 * seconds, the keeper on a client that does not ask in one.
 */
#ifndef UBLKD_MEM_KEEPER_H
#define UBLKD_MEM_KEEPER_H

/* In RUN_DIR. */
#define MEM_KEEPER_SOCKET "memory.sock"
#define MEM_KEEPER_LOCK "memory.lock"
/* A name: 1 to 63 of [A-Za-z0-9._-]. */
#define MEM_KEEPER_NAME_MAX 64

/*
 * The calls return 0 or -errno: the keeper's answer (-ENOENT: it holds no such name), -ESRCH
 * when no keeper answers at RUN_DIR/memory.sock, -ETIMEDOUT when one is there but stuck,
 * -EPERM when it runs under another uid.
 */
/*
 * Gives the keeper a copy of fd under name; starts a keeper when none runs. -EEXIST: one
 * holds RUN_DIR/memory.lock but answers at no socket (someone removed its file).
 */
int mem_keeper_put(const char *name, int fd);
/* *fd: a copy of the fd kept under name (O_CLOEXEC); the keeper keeps its own. */
int mem_keeper_get(const char *name, int *fd);
/* The keeper closes what it holds under name. */
int mem_keeper_drop(const char *name);

#endif /* UBLKD_MEM_KEEPER_H */
