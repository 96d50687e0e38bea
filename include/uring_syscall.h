/* SPDX-License-Identifier: MIT */
/*
 * The three io_uring system calls, and the only place in ublkd that makes a raw system call.
 * On x86-64 they are issued inline (no errno, no libc wrapper); elsewhere through syscall(2).
 * Every function returns the kernel's result: >= 0, or -errno.
 */
#ifndef UBLKD_URING_SYSCALL_H
#define UBLKD_URING_SYSCALL_H

#include <stddef.h>
#include <sys/syscall.h>

#include "abi/io_uring.h"

/* io_uring's numbers are the same on every architecture except alpha. */
#ifndef __NR_io_uring_setup
#define __NR_io_uring_setup 425
#endif
#ifndef __NR_io_uring_enter
#define __NR_io_uring_enter 426
#endif
#ifndef __NR_io_uring_register
#define __NR_io_uring_register 427
#endif

#if defined(__x86_64__)
static inline long uring_raw_syscall6(long nr, long a1, long a2, long a3, long a4, long a5, long a6)
{
	register long r10 __asm__("r10") = a4;
	register long r8 __asm__("r8") = a5;
	register long r9 __asm__("r9") = a6;
	long ret;

	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(nr), "D"(a1), "S"(a2), "d"(a3), "r"(r10), "r"(r8), "r"(r9)
			 : "rcx", "r11", "memory");
	return ret;
}
#else
#include <errno.h>
#include <unistd.h>
static inline long uring_raw_syscall6(long nr, long a1, long a2, long a3, long a4, long a5, long a6)
{
	long ret = syscall(nr, a1, a2, a3, a4, a5, a6);

	return ret < 0 ? -errno : ret;
}
#endif

static inline int sys_io_uring_setup(unsigned entries, struct io_uring_params *p)
{
	return (int)uring_raw_syscall6(__NR_io_uring_setup, entries, (long)p, 0, 0, 0, 0);
}

static inline int sys_io_uring_enter(int fd, unsigned to_submit, unsigned min_complete,
				     unsigned flags, const void *arg, size_t argsz)
{
	return (int)uring_raw_syscall6(__NR_io_uring_enter, fd, to_submit, min_complete, flags,
				       (long)arg, (long)argsz);
}

static inline int sys_io_uring_register(int fd, unsigned opcode, const void *arg, unsigned nr_args)
{
	return (int)uring_raw_syscall6(__NR_io_uring_register, fd, opcode, (long)arg, nr_args, 0,
				       0);
}

#endif /* UBLKD_URING_SYSCALL_H */
