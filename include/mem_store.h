/* SPDX-License-Identifier: MIT */
/*
 * Where memory devices keep their RAM, so that a daemon killed with its devices still in the
 * kernel (ublk user recovery) leaves the bytes for the daemon that adopts them, and so that the
 * RAM goes when the device is deleted or the machine reboots.
 *
 * The RAM is a memfd of the device's size, sealed at that size: sparse (pages come with the
 * first write) and outside any tmpfs size limit. A holder keeps a copy of the fd as
 * "memory-ID" once the kernel gave the device its id, chosen when a call needs one:
 *  - systemd's fd store, when systemd runs us as a service ($NOTIFY_SOCKET, and $FDSTORE set
 *    to the unit's FileDescriptorStoreMax, or before systemd 258 $SYSTEMD_EXEC_PID being us):
 *    "FDSTORE=1\nFDNAME=memory-ID" with the fd. A unit of one's own needs
 *    FileDescriptorStoreMax= (ublkd.service has it), or systemd drops the fds.
 *    A restarted service gets the fds back among LISTEN_FDS (include/listen_fds.h), which
 *    mem_store_init() takes. The store keeps them across restarts of the service only: when
 *    the service stops they are closed, so a RAM disk's contents end with the service.
 *  - otherwise the memory keeper (include/mem_keeper.h), a process of its own that the first
 *    keep starts and that exits when it holds nothing. It is for a daemon that systemd does
 *    not run: under systemd it is in the service's cgroup and dies when the service stops.
 *  - none, with $UBLKD_MEMORY_KEEPER=none (tests of the backend): the RAM dies with us.
 * Holding the RAM twice costs nothing: both fds are the same memory.
 *
 * Control and teardown threads; mem_store_init() before any thread.
 */
#ifndef UBLKD_MEM_STORE_H
#define UBLKD_MEM_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Takes the RAM that systemd's fd store gave back (LISTEN_FDS named memory-ID, if memfds of
 * ours); the daemon calls it once at start. 0, or -errno and err.
 */
int mem_store_init(char *err, size_t err_bytes);

/*
 * The RAM of device dev_id as an earlier image of ours handed it over across exec (an upgrade,
 * include/upgrade.h): taken as if systemd had passed it back. Not our RAM: closed, false.
 */
bool mem_store_offer(uint32_t dev_id, int fd);
/* A new device's RAM: a memfd of size_bytes (O_CLOEXEC), or -errno and err naming the size. */
int mem_store_create(uint64_t size_bytes, char *err, size_t err_bytes);

/* Makes fd (a mem_store_create() one) outlive the process, as device dev_id's RAM. */
int mem_store_keep(uint32_t dev_id, int fd, char *err, size_t err_bytes);

/*
 * The RAM kept for dev_id, for a device adopted from a dead daemon: its fd (O_CLOEXEC; the
 * holder keeps its own), once checked to be our memfd of exactly size_bytes. -ENOENT when none
 * was kept (err: the RAM disk's contents are gone), or -errno and err.
 */
int mem_store_take(uint32_t dev_id, uint64_t size_bytes, char *err, size_t err_bytes);

/*
 * Lets dev_id's RAM go: the device was deleted. Works from any process, a CLI deleting a dead
 * daemon's device too, except for systemd's fd store, which only the service may change; the
 * store's copy then goes when the service stops.
 */
void mem_store_drop(uint32_t dev_id);

#endif /* UBLKD_MEM_STORE_H */
