// SPDX-License-Identifier: MIT
/*
 * `ublkd list`: every ublk device the kernel has, ours or another server's, read from the
 * kernel itself (so it works without a daemon), with names and backends from the daemon's
 * state files where it has them.
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client.h"
#include "config.h"
#include "ctrl.h"
#include "io_mode.h"
#include "ipc.h"
#include "parse.h"

struct list_entry {
	uint32_t id;
	struct ublksrv_ctrl_dev_info info;
	uint64_t size_bytes;
	bool have_params;
	char name[DEV_NAME_MAX];
	const char *backend;	     /* NULL: not one of ours */
	char inject[FAULT_SPEC_MAX]; /* testing: its faults' spec, "" when none was ever set */
	bool has_state_file;	     /* a ublkd started it and has not deleted it */
	const char *state;
	bool has_bdev;
};

static const char *kernel_state_name(uint16_t state)
{
	switch (state) {
	case UBLK_S_DEV_DEAD:
		return "dead";
	case UBLK_S_DEV_LIVE:
		return "live";
	case UBLK_S_DEV_QUIESCED:
		return "quiesced";
	case UBLK_S_DEV_FAIL_IO:
		return "fail-io";
	}
	return "unknown";
}

/* Name and backend from RUN_DIR/devices/ID.conf, if a ublkd wrote one. */
static void read_state_file(struct list_entry *e)
{
	char path[PATH_MAX], err[CONFIG_ERR_MAX];
	struct config cfg;

	if (ipc_state_file_path(path, sizeof(path), e->id) < 0 || access(path, R_OK) < 0)
		return;
	e->has_state_file = true;
	if (config_load(path, &cfg, err, sizeof(err)) < 0)
		return;
	if (cfg.nr_devs == 1 && !cfg.devs[0].error) {
		snprintf(e->name, sizeof(e->name), "%s", cfg.devs[0].conf.name);
		e->backend = backend_kind_name(cfg.devs[0].conf.backend);
		if (cfg.devs[0].conf.given & DEV_GIVEN(DEV_KEY_INJECT))
			fault_conf_format(&cfg.devs[0].conf.inject, e->inject, sizeof(e->inject));
	}
	config_free(&cfg);
}

static void fill_entry(struct ublk_ctrl *c, struct list_entry *e)
{
	struct ublk_params p;
	char bdev[32];
	struct stat st;

	e->state = "gone";
	if (ublk_ctrl_get_dev_info(c, e->id, &e->info) < 0)
		return;
	if (ublk_ctrl_get_params(c, e->id, &p) == 0 && (p.types & UBLK_PARAM_TYPE_BASIC)) {
		e->size_bytes = p.basic.dev_sectors << 9;
		e->have_params = true;
	}
	e->state = kernel_state_name(e->info.state);
	snprintf(bdev, sizeof(bdev), "/dev/ublkb%u", e->id);
	e->has_bdev = stat(bdev, &st) == 0 && S_ISBLK(st.st_mode);
	read_state_file(e);
	/*
	 * A server that died leaves its device behind: say so rather than "live" or "dead". A
	 * device made for recovery is "quiesced" or "fail-io" once the kernel noticed, and keeps
	 * the dead pid; before that it is still "live" with a dead pid, or (7.x, for a moment)
	 * with none: a live device without a live server is served by nobody. Without recovery the
	 * kernel stops the device and forgets the pid, so for ours "dead" with a state file is the
	 * sign: ublkd writes it once the device is live and removes it when it deletes the device.
	 */
	if ((e->info.state == UBLK_S_DEV_LIVE && !ipc_server_alive(e->info.ublksrv_pid)) ||
	    (e->info.state == UBLK_S_DEV_DEAD && e->has_state_file))
		e->state = "no-server";
}

static void json_string(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			printf("\\%c", ch);
		else if (ch < 0x20)
			printf("\\u%04x", ch);
		else
			putchar(ch);
	}
	putchar('"');
}

static void print_json(const struct list_entry *es, unsigned nr)
{
	printf("[");
	for (unsigned i = 0; i < nr; i++) {
		const struct list_entry *e = &es[i];

		printf("%s\n  {\"id\": %u, \"name\": ", i ? "," : "", e->id);
		if (e->name[0])
			json_string(e->name);
		else
			printf("null");
		printf(", \"backend\": ");
		if (e->backend)
			json_string(e->backend);
		else
			printf("null");
		printf(", \"size_bytes\": %llu, \"queues\": %u, \"depth\": %u, \"io_mode\": "
		       "\"%s\", "
		       "\"state\": ",
		       (unsigned long long)e->size_bytes, e->info.nr_hw_queues, e->info.queue_depth,
		       dev_io_mode_name(io_mode_of_flags(e->info.flags)));
		json_string(e->state);
		printf(", \"block_device\": ");
		if (e->has_bdev)
			printf("\"/dev/ublkb%u\"", e->id);
		else
			printf("null");
		printf(", \"char_device\": \"/dev/ublkc%u\", \"pid\": ", e->id);
		if (e->info.ublksrv_pid > 0)
			printf("%d", e->info.ublksrv_pid);
		else
			printf("null");
		printf(", \"server_alive\": %s, \"inject\": ",
		       ipc_server_alive(e->info.ublksrv_pid) ? "true" : "false");
		if (e->backend)
			json_string(e->inject[0] ? e->inject : "off");
		else
			printf("null");
		putchar('}');
	}
	printf("%s]\n", nr ? "\n" : "");
}

static void print_table(const struct list_entry *es, unsigned nr)
{
	printf("%-5s %-16s %-8s %10s %6s %5s %-9s %-10s %-14s %s\n", "ID", "NAME", "BACKEND",
	       "SIZE", "QUEUES", "DEPTH", "IO-MODE", "STATE", "BLOCK-DEVICE", "PID");
	for (unsigned i = 0; i < nr; i++) {
		const struct list_entry *e = &es[i];
		char size[SIZE_BYTES_STR_MAX] = "-", bdev[32] = "-", pid[16] = "-";

		if (e->have_params)
			format_size_bytes(e->size_bytes, size, sizeof(size));
		if (e->has_bdev)
			snprintf(bdev, sizeof(bdev), "/dev/ublkb%u", e->id);
		if (e->info.ublksrv_pid > 0)
			snprintf(pid, sizeof(pid), "%d", e->info.ublksrv_pid);
		printf("%-5u %-16s %-8s %10s %6u %5u %-9s %-10s %-14s %s\n", e->id,
		       e->name[0] ? e->name : "-", e->backend ? e->backend : "-", size,
		       e->info.nr_hw_queues, e->info.queue_depth,
		       dev_io_mode_name(io_mode_of_flags(e->info.flags)), e->state, bdev, pid);
	}
}

int client_list(bool json)
{
	struct list_entry *es = NULL;
	struct ublk_ctrl c;
	uint32_t *ids;
	unsigned nr;
	int ret;

	ret = ublk_ctrl_open(&c);
	if (ret < 0) {
		fprintf(stderr, "ublkd: list: %s: %s%s\n", c.err_subject, strerror(-ret),
			ublk_ctrl_open_hint(&c, ret));
		return 1;
	}
	ret = ublk_kernel_dev_ids(&ids, &nr);
	if (!ret && nr && !(es = calloc(nr, sizeof(*es))))
		ret = -ENOMEM;
	if (ret < 0) {
		fprintf(stderr, "ublkd: list: %s\n", strerror(-ret));
		free(ids);
		ublk_ctrl_close(&c);
		return 1;
	}
	for (unsigned i = 0; i < nr; i++) {
		es[i].id = ids[i];
		fill_entry(&c, &es[i]);
	}
	if (json)
		print_json(es, nr);
	else
		print_table(es, nr);
	free(es);
	free(ids);
	ublk_ctrl_close(&c);
	return 0;
}
