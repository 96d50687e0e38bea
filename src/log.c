// SPDX-License-Identifier: MIT
/* The daemon's log lines (include/log.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

/*
 * The one piece of process-wide state outside the daemon context: every thread may log, and
 * threading a logger through the backends and queues would buy nothing.
 */
static struct {
	enum log_level level;
	bool journal; /* stderr is the journal: "<N>" prefixes, no pid */
} log_state = { LOG_LEVEL_DEFAULT, false };

static const char *const level_names[] = {
	[LOG_LEVEL_ERR] = "error", [LOG_LEVEL_WARNING] = "warning", [LOG_LEVEL_NOTICE] = "notice",
	[LOG_LEVEL_INFO] = "info", [LOG_LEVEL_DEBUG] = "debug",
};

bool log_stderr_is_journal(const char *journal_stream)
{
	unsigned long long dev, ino;
	struct stat st;
	char tail;

	/*
	 * systemd sets "DEV:INO" of the stream it connects to stderr; a child inherits the
	 * variable with another stderr, where "<3>" prefixes would only be noise.
	 */
	if (!journal_stream || sscanf(journal_stream, "%llu:%llu%c", &dev, &ino, &tail) != 2)
		return false;
	return fstat(STDERR_FILENO, &st) == 0 && (unsigned long long)st.st_dev == dev &&
	       (unsigned long long)st.st_ino == ino;
}

void log_init(enum log_level level)
{
	log_state.level = level;
	log_state.journal = log_stderr_is_journal(getenv("JOURNAL_STREAM"));
}

void log_set_level(enum log_level level)
{
	log_state.level = level;
}

enum log_level log_get_level(void)
{
	return log_state.level;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	char line[4096];
	va_list ap;
	int n;

	if (level > log_state.level)
		return;
	if (log_state.journal)
		n = snprintf(line, sizeof(line), "<%d>", level);
	else
		n = snprintf(line, sizeof(line), "ublkd[%d]: ", getpid());
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	/* One write per line, so lines of concurrent threads never interleave. */
	n = (int)strlen(line);
	line[n++] = '\n';
	if (write(STDERR_FILENO, line, (size_t)n) < 0) {
		/* Nowhere left to say it. */
	}
}

int parse_log_level(const char *text, enum log_level *level)
{
	for (int l = LOG_LEVEL_ERR; l <= LOG_LEVEL_DEBUG; l++) {
		if (!strcmp(text, level_names[l])) {
			*level = (enum log_level)l;
			return 0;
		}
	}
	return -EINVAL;
}

const char *log_level_name(enum log_level level)
{
	return level >= LOG_LEVEL_ERR && level <= LOG_LEVEL_DEBUG ? level_names[level] : "?";
}
