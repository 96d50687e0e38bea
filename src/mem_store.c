// SPDX-License-Identifier: MIT
/* Memory devices' RAM, held where it outlives the daemon (include/mem_store.h). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ipc.h"
#include "listen_fds.h"
#include "log.h"
#include "mem_keeper.h"
#include "mem_store.h"
#include "notify.h"
#include "parse.h"

#ifndef MFD_NOEXEC_SEAL
#define MFD_NOEXEC_SEAL 0x0008U /* Linux 6.3; older headers lack it */
#endif

#define RAM_NAME_PREFIX "memory-"
#define RAM_NAME_MAX (sizeof(RAM_NAME_PREFIX) + 10)
/* A memfd of ours: its size is fixed for good (see mem_store_create()). */
#define RAM_SEALS (F_SEAL_SHRINK | F_SEAL_GROW)

enum mem_holder {
	MEM_HOLDER_NONE,
	MEM_HOLDER_KEEPER,
	MEM_HOLDER_FDSTORE,
};

struct passed_ram {
	uint32_t dev_id;
	int fd;
};

/*
 * What systemd's fd store gave back at start, until the device takes or drops it. Process-wide
 * like the LISTEN_FDS it comes from; the lock because a deleted device is dropped from its
 * teardown thread while the control thread adopts others.
 */
static struct {
	pthread_mutex_t lock;
	struct passed_ram *ram;
	unsigned nr;
} passed = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* Read at each call, as notify.c reads $NOTIFY_SOCKET: the environment is what decides. */
static enum mem_holder mem_holder(void)
{
	const char *keeper = getenv("UBLKD_MEMORY_KEEPER"), *fdstore = getenv("FDSTORE");
	const char *notify = getenv("NOTIFY_SOCKET"), *exec_pid = getenv("SYSTEMD_EXEC_PID");

	if (keeper && !strcmp(keeper, "none"))
		return MEM_HOLDER_NONE;
	if (!notify || !*notify)
		return MEM_HOLDER_KEEPER;
	/*
	 * systemd says it has a store in $FDSTORE since v258; before, the main process of a
	 * service (SYSTEMD_EXEC_PID is us: exec keeps the pid) is told nothing, and the store is
	 * the unit's FileDescriptorStoreMax=, which ublkd.service sets. The keeper is no choice
	 * there: it sits in the service's cgroup, and a restart kills it.
	 */
	if ((fdstore && atoi(fdstore) > 0) || (exec_pid && atoi(exec_pid) == getpid()))
		return MEM_HOLDER_FDSTORE;
	return MEM_HOLDER_KEEPER;
}

static void ram_name(char *buf, size_t buf_bytes, uint32_t dev_id)
{
	snprintf(buf, buf_bytes, RAM_NAME_PREFIX "%u", dev_id);
}

/* Whether fd is a memfd (or other shmem file) sealed at its size, as ours are. */
static bool is_our_ram(int fd, struct stat *st)
{
	int seals = fcntl(fd, F_GET_SEALS);

	return seals >= 0 && (seals & RAM_SEALS) == RAM_SEALS && fstat(fd, st) == 0 &&
	       S_ISREG(st->st_mode);
}

static bool claim_ram(int fd, const char *name, void *ctx)
{
	struct passed_ram *ram;
	struct stat st;
	unsigned id;

	(void)ctx;
	if (strncmp(name, RAM_NAME_PREFIX, strlen(RAM_NAME_PREFIX)) ||
	    ipc_parse_id(name + strlen(RAM_NAME_PREFIX), &id))
		return false;
	if (!is_our_ram(fd, &st)) {
		log_msg(LOG_LEVEL_WARNING,
			"systemd passed %s (fd %d), which is no sealed memfd of ours: not taken",
			name, fd);
		return false;
	}
	for (unsigned i = 0; i < passed.nr; i++) {
		if (passed.ram[i].dev_id == id)
			return false;
	}
	ram = realloc(passed.ram, (passed.nr + 1) * sizeof(*ram));
	if (!ram) {
		log_msg(LOG_LEVEL_ERR, "%s: %s: not taken", name, strerror(ENOMEM));
		return false;
	}
	passed.ram = ram;
	passed.ram[passed.nr++] = (struct passed_ram){ .dev_id = id, .fd = fd };
	return true;
}

int mem_store_init(char *err, size_t err_bytes)
{
	int ret;

	pthread_mutex_lock(&passed.lock);
	ret = listen_fds_claim(claim_ram, NULL);
	pthread_mutex_unlock(&passed.lock);
	if (ret < 0)
		snprintf(err, err_bytes, "the fds systemd passed (LISTEN_FDS): %s", strerror(-ret));
	return ret;
}

bool mem_store_offer(uint32_t dev_id, int fd)
{
	char name[RAM_NAME_MAX];
	bool taken;

	ram_name(name, sizeof(name), dev_id);
	pthread_mutex_lock(&passed.lock);
	taken = claim_ram(fd, name, NULL);
	pthread_mutex_unlock(&passed.lock);
	if (!taken)
		close(fd);
	return taken;
}

/* The fd systemd gave back for dev_id, no longer in the list; -1 if none. */
static int passed_take(uint32_t dev_id)
{
	int fd = -1;

	pthread_mutex_lock(&passed.lock);
	for (unsigned i = 0; i < passed.nr; i++) {
		if (passed.ram[i].dev_id == dev_id) {
			fd = passed.ram[i].fd;
			passed.ram[i] = passed.ram[--passed.nr];
			break;
		}
	}
	pthread_mutex_unlock(&passed.lock);
	return fd;
}

int mem_store_create(uint64_t size_bytes, char *err, size_t err_bytes)
{
	char size[SIZE_BYTES_STR_MAX];
	int fd, ret = 0;

	/* Never executable; kernels before 6.3 know no MFD_NOEXEC_SEAL. */
	fd = memfd_create("ublkd-memory", MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_NOEXEC_SEAL);
	if (fd < 0 && errno == EINVAL)
		fd = memfd_create("ublkd-memory", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		ret = -errno;
	else if (size_bytes > INT64_MAX)
		ret = -EFBIG;
	else if (ftruncate(fd, (off_t)size_bytes) < 0)
		ret = -errno;
	/*
	 * The size is the device's for good: a file cut short under the mapping would kill the
	 * queues with SIGBUS. Punching holes (DISCARD) still works.
	 */
	else if (fcntl(fd, F_ADD_SEALS, RAM_SEALS | F_SEAL_SEAL) < 0)
		ret = -errno;
	if (ret) {
		snprintf(err, err_bytes, "memory: cannot make a RAM disk of %s: %s",
			 format_size_bytes(size_bytes, size, sizeof(size)), strerror(-ret));
		if (fd >= 0)
			close(fd);
		return ret;
	}
	return fd;
}

int mem_store_keep(uint32_t dev_id, int fd, char *err, size_t err_bytes)
{
	char name[RAM_NAME_MAX], state[64], path[PATH_MAX];
	int ret = 0;

	ram_name(name, sizeof(name), dev_id);
	switch (mem_holder()) {
	case MEM_HOLDER_NONE:
		break;
	case MEM_HOLDER_FDSTORE:
		/*
		 * systemd says nothing back: a store already holding FileDescriptorStoreMax fds
		 * drops this one with a line in the journal. Size it for every memory device.
		 */
		snprintf(state, sizeof(state), "FDSTORE=1\nFDNAME=%s", name);
		ret = notify_send_fd(state, fd);
		if (ret < 0)
			snprintf(err, err_bytes,
				 "memory: %s: cannot put it in systemd's fd store: %s", name,
				 strerror(-ret));
		break;
	case MEM_HOLDER_KEEPER:
		ret = mem_keeper_put(name, fd);
		ipc_run_path(path, sizeof(path), MEM_KEEPER_SOCKET);
		if (ret == -EEXIST)
			snprintf(err, err_bytes,
				 "memory: %s: a keeper holds %s but does not answer at %s; kill "
				 "the ublkd-keeper process",
				 name, MEM_KEEPER_LOCK, path);
		else if (ret < 0)
			snprintf(err, err_bytes,
				 "memory: %s: cannot hand it to the keeper (%s): %s", name, path,
				 strerror(-ret));
		break;
	}
	return ret;
}

/* Where the RAM of dev_id is not: -ENOENT, and err says why. */
static int ram_gone(char *err, size_t err_bytes, uint32_t dev_id, const char *why)
{
	snprintf(err, err_bytes,
		 "memory: no RAM kept for device %u (%s): the RAM disk's contents are gone", dev_id,
		 why);
	return -ENOENT;
}

/* The keeper's copy of dev_id's RAM: the fd, or -errno and err. */
static int keeper_take(uint32_t dev_id, const char *name, char *err, size_t err_bytes)
{
	char path[PATH_MAX], why[PATH_MAX + 64];
	int fd, ret = mem_keeper_get(name, &fd);

	if (!ret)
		return fd;
	ipc_run_path(path, sizeof(path), MEM_KEEPER_SOCKET);
	if (ret == -ESRCH) {
		snprintf(why, sizeof(why), "no keeper answers at %s", path);
		return ram_gone(err, err_bytes, dev_id, why);
	}
	if (ret == -ENOENT) {
		snprintf(why, sizeof(why), "the keeper at %s holds no %s", path, name);
		return ram_gone(err, err_bytes, dev_id, why);
	}
	snprintf(err, err_bytes, "memory: %s: the keeper at %s: %s", name, path, strerror(-ret));
	return ret;
}

int mem_store_take(uint32_t dev_id, uint64_t size_bytes, char *err, size_t err_bytes)
{
	char name[RAM_NAME_MAX], size[SIZE_BYTES_STR_MAX], kept[SIZE_BYTES_STR_MAX];
	enum mem_holder holder = mem_holder();
	struct stat st;
	int fd;

	ram_name(name, sizeof(name), dev_id);
	fd = passed_take(dev_id);
	if (fd < 0 && holder == MEM_HOLDER_NONE)
		return ram_gone(err, err_bytes, dev_id, "UBLKD_MEMORY_KEEPER=none");
	if (fd < 0 && holder == MEM_HOLDER_FDSTORE)
		return ram_gone(err, err_bytes, dev_id, "systemd's fd store gave none back");
	if (fd < 0) {
		fd = keeper_take(dev_id, name, err, err_bytes);
		if (fd < 0)
			return fd;
	}
	if (!is_our_ram(fd, &st)) {
		snprintf(err, err_bytes, "memory: %s: what was kept is no sealed memfd", name);
		close(fd);
		return -EINVAL;
	}
	if ((uint64_t)st.st_size != size_bytes) {
		snprintf(err, err_bytes, "memory: %s: the kept RAM is %s, the device %s", name,
			 format_size_bytes((uint64_t)st.st_size, kept, sizeof(kept)),
			 format_size_bytes(size_bytes, size, sizeof(size)));
		close(fd);
		return -EINVAL;
	}
	return fd;
}

void mem_store_drop(uint32_t dev_id)
{
	char name[RAM_NAME_MAX], state[64];
	int fd = passed_take(dev_id), ret = 0;

	if (fd >= 0)
		close(fd);
	ram_name(name, sizeof(name), dev_id);
	switch (mem_holder()) {
	case MEM_HOLDER_NONE:
		break;
	case MEM_HOLDER_FDSTORE:
		snprintf(state, sizeof(state), "FDSTOREREMOVE=1\nFDNAME=%s", name);
		ret = notify_send(state);
		break;
	case MEM_HOLDER_KEEPER:
		ret = mem_keeper_drop(name);
		/* Nothing kept, or no keeper: nothing to let go. */
		if (ret == -ENOENT || ret == -ESRCH)
			ret = 0;
		break;
	}
	if (ret < 0)
		log_msg(LOG_LEVEL_WARNING, "%s: the RAM stays held: %s", name, strerror(-ret));
}
