/* SPDX-License-Identifier: MIT */
/*
 * What the integration suites share: starting from a clean kernel and run directory, adding
 * devices through the real binary, and reading the daemon's state from /proc.
 */
#ifndef UBLKD_TESTS_UBLKD_TEST_H
#define UBLKD_TESTS_UBLKD_TEST_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "run.h"

/*
 * Stops every daemon of the run directory (SIGTERM, then SIGKILL), deletes every ublk device
 * the kernel still has, the device state files (RUN_DIR/devices/) a killed daemon left and the
 * memory keeper holding their RAM.
 * Use as a checked fixture on both sides of each test.
 */
void ublkd_reset(void);
/* CLOCK_MONOTONIC in milliseconds. */
int64_t now_ms(void);
void sleep_ms(unsigned ms);
/* pid runs (exists and is not a zombie). */
bool process_alive(pid_t pid);
/* Waits up to timeout_ms for pid to be gone (process_alive() false); false if it stayed. */
bool wait_pid_gone(pid_t pid, unsigned timeout_ms);
/* Field number field (1-based) of /sys/block/NAME/stat; asserts. 7: sectors written. */
uint64_t disk_stat(const char *name, unsigned field);
/* The pid in RUN_DIR/ublkd.pid when that process is alive; 0 otherwise. */
pid_t ublkd_daemon_pid(void);
/* ublkd add ARGS...: asserts success, returns the block device's id (from /dev/ublkbN). */
unsigned ublkd_add_ok(const char *first, ...) __attribute__((sentinel));
/* sh -c on the formatted command, output in *r; asserts exit status 0, showing the output. */
void sh_ok_into(struct run_result *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/*
 * Starts `ublkd serve --foreground --config conf` with its stderr in log, and returns its pid
 * once it serves (its pid file names it and the log says "serving").
 */
pid_t ublkd_serve_start(const char *conf, const char *log);
/* ublkd del /dev/ublkbID: asserts success. */
void ublkd_del_ok(unsigned id);
/* Number of ublk devices the kernel has (ids in /sys/class/ublk-char). */
unsigned kernel_ublk_devices(void);
/* GET_FEATURES of the running ublk_drv (the check fails without one). */
uint64_t kernel_ublk_features(void);
/* Entries of /proc/PID/fd (open fds) and of /proc/PID/task (threads); 0 if pid is gone. */
unsigned proc_fd_count(pid_t pid);
unsigned proc_thread_count(pid_t pid);
/* A /proc/PID/status field in KiB (VmPin, RssAnon); asserts it is there. */
uint64_t proc_status_kib(pid_t pid, const char *field);
/* VmRSS of pid in KiB, or 0. */
uint64_t proc_rss_kib(pid_t pid);
/* Writes a file with text; asserts. */
void write_text_file(const char *path, const char *text);

/*
 * Cleanup without starting a program: under TCG each one costs a few tenths of a second, and
 * the fixtures run on both sides of every test.
 */
/* Unmounts every mount whose source (field 0) or target (field 1) starts with prefix,
 * deepest first, lazily where busy. */
void umount_matching(unsigned field, const char *prefix);
/* Sends sig to every process named comm (/proc/PID/comm, as pkill -x); returns how many. */
unsigned kill_named(const char *comm, int sig);
/*
 * Whether the daemon under test is built with ASan (make check's sanitized VM): its RSS and
 * huge pages are ASan's as much as its own (freed memory waits in ASan's quarantine).
 */
bool daemon_sanitized(void);
/* For a test that measures the daemon's own memory: from here on, run the plain build. */
void use_plain_daemon(void);
/* rm -rf path, after unmounting whatever is mounted below it. */
void remove_tree(const char *path);

#endif
