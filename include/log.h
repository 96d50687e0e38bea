/* SPDX-License-Identifier: MIT */
/*
 * The daemon's log: one line per message on stderr. Under systemd ($JOURNAL_STREAM set) each
 * line starts with the syslog priority as "<N>" so the journal files it at that level; run
 * by hand it starts with "ublkd[PID]: ". Messages below the chosen level are dropped.
 */
#ifndef UBLKD_LOG_H
#define UBLKD_LOG_H

#include <stdbool.h>

/* syslog(3) priorities: the journal reads these numbers. */
enum log_level {
	LOG_LEVEL_ERR = 3,
	LOG_LEVEL_WARNING = 4,
	LOG_LEVEL_NOTICE = 5,
	LOG_LEVEL_INFO = 6,
	LOG_LEVEL_DEBUG = 7,
};

#define LOG_LEVEL_DEFAULT LOG_LEVEL_INFO
#define LOG_LEVEL_NAMES "error, warning, notice, info or debug"

/* Reads $JOURNAL_STREAM once; call before the first message (and after fork). */
/* Whether $JOURNAL_STREAM (given) names our stderr: then lines carry journal priorities. */
bool log_stderr_is_journal(const char *journal_stream);
void log_init(enum log_level level);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* "error", "warning", "notice", "info", "debug"; -EINVAL for anything else. */
int parse_log_level(const char *text, enum log_level *level);
const char *log_level_name(enum log_level level);

#endif /* UBLKD_LOG_H */
