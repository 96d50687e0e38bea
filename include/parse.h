/* SPDX-License-Identifier: MIT */
/*
 * Value parsers shared by the config file and the CLI: strict, pure (no printing, no
 * allocation), each returns 0 or a negative errno and writes its result only on success.
 */
#ifndef UBLKD_PARSE_H
#define UBLKD_PARSE_H

#include <sched.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Enough for any format_size_bytes() result: 20 digits of UINT64_MAX and a NUL. */
#define SIZE_BYTES_STR_MAX 21
/* Enough for any format_cpu_list() result: every other CPU of CPU_SETSIZE, with commas. */
#define CPU_LIST_STR_MAX 4096

/* Decimal bytes, optional suffix B, K/M/G/T or KiB/MiB/GiB/TiB (any case); -EINVAL, -ERANGE. */
int parse_size_bytes(const char *text, uint64_t *bytes);
/* A list like "0-3,6" replaces *cpus; -EINVAL on syntax, -ERANGE for a CPU >= CPU_SETSIZE. */
int parse_cpu_list(const char *text, cpu_set_t *cpus);
/* yes/no, true/false, on/off, 1/0 in any case; -EINVAL otherwise. */
int parse_bool(const char *text, bool *value);
/* Decimal in [min, max]; -EINVAL on syntax, -ERANGE outside the bounds or uint32_t. */
int parse_u32(const char *text, uint32_t min, uint32_t max, uint32_t *value);
/* Shortest exact form parse_size_bytes() reads back ("1G", "1536M", "4097"); cut like snprintf. */
char *format_size_bytes(uint64_t bytes, char *buf, size_t buf_bytes);

/* CPUs as ranges ("0-3,6"), the form parse_cpu_list() reads; cut at a whole item if too long. */
char *format_cpu_list(const cpu_set_t *cpus, char *buf, size_t buf_bytes);

#endif
