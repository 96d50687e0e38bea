// SPDX-License-Identifier: MIT
/* Who uses a block device (include/holders.h): mountinfo, sysfs holders, /proc/PID/fd. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "holders.h"

/* At most this many of a kind are named: the admin needs a lead, not an inventory. */
#define HOLDERS_MAX_NAMED 3
#define MAX_PARTS 16

struct holders_buf {
	char *buf;
	size_t len, used;
	unsigned named;
};

static void hb_add(struct holders_buf *hb, const char *fmt, const char *a, const char *b)
{
	int n;

	if (hb->used >= hb->len)
		return;
	n = snprintf(hb->buf + hb->used, hb->len - hb->used, fmt, hb->used ? "; " : "", a, b);
	if (n > 0)
		hb->used += (size_t)n < hb->len - hb->used ? (size_t)n : hb->len - hb->used - 1;
	hb->named++;
}

/* mountinfo writes space, tab, newline and backslash as \ooo. */
static void unescape_mountinfo(char *s)
{
	char *out = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*out++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 3;
		} else {
			*out++ = *s;
		}
	}
	*out = '\0';
}

static bool mounts_in(const char *mountinfo, const char *maj_min, struct holders_buf *hb)
{
	const char *line = mountinfo;
	bool found = false;

	while (line && *line) {
		const char *end = strchr(line, '\n');
		size_t n = end ? (size_t)(end - line) : strlen(line);
		char copy[PATH_MAX * 2], *fields[5], *save = NULL;
		unsigned i = 0;

		if (n < sizeof(copy)) {
			memcpy(copy, line, n);
			copy[n] = '\0';
			/* ID PARENT MAJ:MIN ROOT MOUNTPOINT ... */
			for (char *f = strtok_r(copy, " ", &save); f && i < 5;
			     f = strtok_r(NULL, " ", &save))
				fields[i++] = f;
			if (i == 5 && !strcmp(fields[2], maj_min)) {
				unescape_mountinfo(fields[4]);
				if (hb->named < HOLDERS_MAX_NAMED)
					hb_add(hb, "%smounted on %s%s", fields[4], "");
				found = true;
			}
		}
		line = end ? end + 1 : NULL;
	}
	return found;
}

bool holders_mounts_in(const char *mountinfo, const char *maj_min, char *buf, size_t buf_len)
{
	struct holders_buf hb = { .buf = buf, .len = buf_len, .used = strlen(buf) };

	return mounts_in(mountinfo, maj_min, &hb);
}

static bool read_small_file(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return false;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return true;
}

static char *read_whole_file(const char *path)
{
	size_t cap = 65536, used = 0;
	char *text = malloc(cap);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (!text || fd < 0) {
		free(text);
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	while ((n = read(fd, text + used, cap - used - 1)) > 0) {
		used += (size_t)n;
		if (used == cap - 1) {
			char *bigger = realloc(text, cap * 2);

			if (!bigger)
				break;
			text = bigger;
			cap *= 2;
		}
	}
	close(fd);
	text[used] = '\0';
	return text;
}

/* The whole disk and its partitions: names ("ublkb0", "ublkb0p1") and MAJ:MIN. */
static unsigned disk_parts(unsigned dev_id, char names[][32], char devts[][32])
{
	char dir_path[64], path[PATH_MAX + 64];
	unsigned nr = 0;
	struct dirent *e;
	DIR *dir;

	snprintf(names[0], 32, "ublkb%u", dev_id);
	snprintf(path, sizeof(path), "/sys/block/%s/dev", names[0]);
	if (!read_small_file(path, devts[0], 32))
		return 0;
	nr = 1;
	snprintf(dir_path, sizeof(dir_path), "/sys/block/%.31s", names[0]);
	dir = opendir(dir_path);
	while (dir && nr < MAX_PARTS && (e = readdir(dir))) {
		if (strncmp(e->d_name, names[0], strlen(names[0])) || strlen(e->d_name) >= 32)
			continue;
		snprintf(path, sizeof(path), "%s/%s/dev", dir_path, e->d_name);
		if (read_small_file(path, devts[nr], 32))
			snprintf(names[nr++], 32, "%s", e->d_name);
	}
	if (dir)
		closedir(dir);
	return nr;
}

static void stacked_holders(const char *name, struct holders_buf *hb)
{
	char path[PATH_MAX];
	struct dirent *e;
	DIR *dir;

	snprintf(path, sizeof(path), "/sys/block/%.32s/holders", name);
	dir = opendir(path);
	if (!dir) {
		/* A partition's holders are below the disk. */
		char disk[32];

		snprintf(disk, sizeof(disk), "%.*s", (int)strcspn(name, "p"), name);
		snprintf(path, sizeof(path), "/sys/block/%s/%.32s/holders", disk, name);
		dir = opendir(path);
	}
	while (dir && (e = readdir(dir))) {
		if (e->d_name[0] != '.' && hb->named < HOLDERS_MAX_NAMED * 2)
			hb_add(hb, "%sheld by %s%s", e->d_name, " (a stacked device)");
	}
	if (dir)
		closedir(dir);
}

/* Processes with one of the device nodes open, as fuser(1) finds them. */
static void openers(char names[][32], unsigned nr, struct holders_buf *hb)
{
	DIR *proc = opendir("/proc");
	struct dirent *p;
	unsigned named = 0;

	while (proc && named < HOLDERS_MAX_NAMED && (p = readdir(proc))) {
		char fd_dir[300], link[PATH_MAX], target[PATH_MAX];
		struct dirent *f;
		bool holds = false;
		DIR *fds;

		if (p->d_name[0] < '1' || p->d_name[0] > '9' || atoi(p->d_name) == getpid())
			continue;
		snprintf(fd_dir, sizeof(fd_dir), "/proc/%s/fd", p->d_name);
		fds = opendir(fd_dir);
		while (fds && !holds && (f = readdir(fds))) {
			ssize_t n;

			snprintf(link, sizeof(link), "%s/%s", fd_dir, f->d_name);
			n = readlink(link, target, sizeof(target) - 1);
			if (n <= 0)
				continue;
			target[n] = '\0';
			for (unsigned i = 0; i < nr && !holds; i++)
				holds = !strncmp(target, "/dev/", 5) &&
					!strcmp(target + 5, names[i]);
		}
		if (fds)
			closedir(fds);
		if (holds) {
			char comm_path[300], comm[32] = "?", who[300];

			snprintf(comm_path, sizeof(comm_path), "/proc/%s/comm", p->d_name);
			read_small_file(comm_path, comm, sizeof(comm));
			snprintf(who, sizeof(who), "pid %s", p->d_name);
			hb_add(hb, "%sheld open by %s (%s)", who, comm);
			named++;
		}
	}
	if (proc)
		closedir(proc);
}

bool holders_describe(unsigned dev_id, char *buf, size_t buf_len)
{
	char names[MAX_PARTS][32], devts[MAX_PARTS][32];
	struct holders_buf hb = { .buf = buf, .len = buf_len };
	unsigned nr = disk_parts(dev_id, names, devts);
	char *mountinfo = read_whole_file("/proc/self/mountinfo");

	buf[0] = '\0';
	for (unsigned i = 0; i < nr; i++) {
		if (mountinfo)
			mounts_in(mountinfo, devts[i], &hb);
		stacked_holders(names[i], &hb);
	}
	free(mountinfo);
	openers(names, nr, &hb);
	return hb.used > 0;
}
