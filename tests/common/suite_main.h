/* SPDX-License-Identifier: MIT */
/*
 * One way for every check suite to run and report: check's own summary line
 * ("NN%: Checks: N, Failures: N, Errors: N"), which tests/run-checks.sh reads, and an exit
 * status of 0 only when every test ran and passed.
 */
#ifndef UBLKD_TESTS_SUITE_MAIN_H
#define UBLKD_TESTS_SUITE_MAIN_H

#include <check.h>

int suite_main(Suite *suite);

#endif
