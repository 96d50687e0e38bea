/* SPDX-License-Identifier: MIT */
/*
 * Running programs from the integration suites: the real ublkd binary ($UBLKD_BIN) and shell
 * commands, with their stdout, stderr and exit status captured. And a piece of a test run in a
 * child process, for what the test's own process must not do (take fd 3, where check keeps its
 * file; change uid).
 */
#ifndef UBLKD_TESTS_RUN_H
#define UBLKD_TESTS_RUN_H

#include <stdbool.h>
#include <stddef.h>

#define RUN_OUTPUT_MAX (256 * 1024)

struct run_result {
	int status; /* exit status; 128 + signal when killed; -1 if it could not run */
	char out[RUN_OUTPUT_MAX];
	char err[RUN_OUTPUT_MAX];
};

/* $UBLKD_BIN, or ./ublkd. */
const char *ublkd_bin(void);
/* Runs argv (argv[0] looked up in PATH), output captured (cut at RUN_OUTPUT_MAX - 1). */
int run_argv(struct run_result *r, const char *const argv[]);
/* ublkd with the NULL-terminated arguments. */
int run_ublkd(struct run_result *r, ...) __attribute__((sentinel));
/* sh -c on the formatted command. */
int run_sh(struct run_result *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Runs body in a child process: true if it returned 0. */
bool run_in_child(int (*body)(void));
/* For bodies run_in_child(): unless ok, says what failed and ends the child with status 1. */
void child_expect(bool ok, const char *what);

#endif
