// SPDX-License-Identifier: MIT
/* ublkd's command line: parses the command and hands it to the part of the daemon that does it. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "add_args.h"
#include "client.h"
#include "ctrl.h"
#include "daemon.h"
#include "detach.h"
#include "dev_conf.h"
#include "generator.h"
#include "ipc.h"
#include "log.h"

/* Exit statuses: 0 success, 1 the operation failed, 2 the command line is wrong. */
#define EXIT_USAGE 2

static const char usage_text[] =
	"Usage: ublkd COMMAND [OPTIONS]\n"
	"\n"
	"Expose files, RAM and test devices as Linux block devices (/dev/ublkbN) through the\n"
	"kernel's ublk driver (module ublk_drv). Every command needs root.\n"
	"\n"
	"Commands:\n"
	"  serve [--config FILE] [--foreground]\n"
	"               run the daemon: create the devices of FILE, then serve add/del\n"
	"  add --backend null|memory|file [OPTIONS]\n"
	"               create a device and print its block device; starts a daemon if none\n"
	"               runs (see ublkd add --help)\n"
	"  del [--force] ID|NAME|/dev/ublkbN   stop and delete one device (refused while\n"
	"               it is mounted or open, unless --force)\n"
	"  del [--force] --all   stop and delete every device of the daemon\n"
	"  reload       make the daemon re-read its config file; returns once it is applied\n"
	"  recover      take over the devices a crashed or killed ublkd left; starts a daemon\n"
	"               if none runs, and reports each device\n"
	"  upgrade      re-execute the installed ublkd in the daemon's process: devices stay,\n"
	"               I/O pauses for the hand-over only (as SIGUSR2 to the daemon)\n"
	"  inject ID|NAME|/dev/ublkbN SPEC\n"
	"               testing: make a device's I/O fail or stall (see ublkd inject --help)\n"
	"  list [--json]\n"
	"               show every ublk device the kernel has, whoever serves it\n"
	"  features     print the ublk features of the running kernel (the UBLK_F_* mask,\n"
	"               then one name per line) and the io_uring ring that asked for them\n"
	"\n"
	"Options:\n"
	"  -h, --help     show this help (or a command's: ublkd COMMAND --help) and exit\n"
	"  -V, --version  show the version and exit\n"
	"\n"
	"Exit status: 0 success, 1 the operation failed, 2 bad command line.\n"
	"Files: " IPC_DEFAULT_RUN_DIR "/ublkd.sock (control socket), ublkd.pid, ublkd.log (log of\n"
	"a daemon started in the background), devices/ID.conf (each device's description).\n"
	"UBLKD_RUN_DIR moves them elsewhere.\n";

static const char serve_usage[] =
	"Usage: ublkd serve [--config FILE] [--foreground] [--log-level LEVEL]\n"
	"\n"
	"Run the daemon that owns the devices. It creates every device of FILE (a device that\n"
	"fails is reported and the others still come up), then creates and deletes devices for\n"
	"`ublkd add` and `ublkd del` until SIGTERM or SIGINT, when it stops and deletes every\n"
	"device (file data flushed) and exits 0. SIGHUP re-reads FILE: new devices are created,\n"
	"removed ones deleted, changed ones reported and left running as they are; a FILE with\n"
	"errors is rejected whole. Under systemd (Type=notify) it reports READY=1 once every\n"
	"device that can come up is live, and logs with journal priorities.\n"
	"\n"
	"  -c, --config FILE  devices to create at start (see ublkd.conf.example)\n"
	"  -f, --foreground   stay in the foreground and log to stderr; without it the daemon\n"
	"                     detaches once it is ready and logs to RUN_DIR/ublkd.log\n"
	"      --auto-exit    exit when the last device is deleted (how `ublkd add` starts it)\n"
	"      --log-level LEVEL  error, warning, notice, info (default) or debug; wins over\n"
	"                     the config's [global] log_level\n"
	"  -h, --help         show this help and exit\n"
	"\n"
	"Exit status: 0 once the daemon runs (devices that failed are listed on stderr), 1 if it\n"
	"could not start (already running, no ublk_drv, unreadable config), 2 bad command line.\n";

static const char add_usage[] =
	"Usage: ublkd add --backend null|memory|file [OPTIONS]\n"
	"\n"
	"Create a block device and print its path (/dev/ublkbN) once it is usable. When no\n"
	"daemon runs, one is started in the background (logging to RUN_DIR/ublkd.log) and exits\n"
	"again when its last device is deleted.\n"
	"\n"
	"  --name NAME        name for del and list ([A-Za-z0-9_.-], not all digits; default "
	"ublkN)\n"
	"  --id N             ask for /dev/ublkbN (default: the kernel chooses)\n"
	"  --backend KIND     null (stores nothing: writes vanish, reads return no defined\n"
	"                     data), memory (RAM, sparse), file\n"
	"  --size SIZE        bytes, with K, M, G or T (binary); required for null and memory,\n"
	"                     for file the file's size by default\n"
	"  --path PATH        file backend: a regular file or a block device\n"
	"  --create[=yes|no]  file backend: create the file, or extend it, to --size\n"
	"  --direct-io[=yes|no]  file backend: O_DIRECT, bypassing the page cache\n"
	"  --read-only[=yes|no]  refuse writes\n"
	"  --queues N         hardware queues, one thread each (default 1; at most the CPUs)\n"
	"  --depth N          requests in flight per queue (default 128, at most 4096)\n"
	"  --block-size N     logical block size: 512 or 4096 (default 512, or the backing\n"
	"                     block device's)\n"
	"  --cpus LIST        CPUs for the queue threads, e.g. 0-3,6 (default: the kernel's\n"
	"                     per-queue mapping)\n"
	"  --recovery MODE    while no ublkd runs: reissue (hold I/O, send it again to the\n"
	"                     next ublkd; default), fail (fail I/O; Linux 6.13+), none (the\n"
	"                     device dies with ublkd)\n"
	"  --io-mode MODE     how data moves: auto (default: the best the kernel offers),\n"
	"                     copy, user_copy (null, memory; Linux 6.5+), zero_copy (null,\n"
	"                     file; Linux 6.16+), batch (many requests per command; Linux\n"
	"                     7.0+)\n"
	"  --inject SPEC      testing: faults injected into its I/O (see ublkd inject --help)\n"
	"  -h, --help         show this help and exit\n"
	"\n"
	"Every option is also a config file key: the same word with _ for - (block_size).\n"
	"Exit status: 0 created, 1 failed (nothing is left behind), 2 bad command line.\n";

static const char del_usage[] =
	"Usage: ublkd del [--force] ID|NAME|/dev/ublkbN\n"
	"       ublkd del [--force] --all\n"
	"\n"
	"Stop and delete a device of the running daemon (--all: every one), waiting until the\n"
	"kernel has let it go. A device that is in use (a filesystem on it is mounted, a process\n"
	"or another block device holds it open) is refused at once, naming what holds it.\n"
	"Without a daemon, a device whose server is gone can still be deleted by ID, by path, or\n"
	"by the name its dead daemon recorded in RUN_DIR/devices.\n"
	"Prints the block device of each device deleted.\n"
	"\n"
	"  --force   delete it even while in use: its users get I/O errors from then on, and the\n"
	"            kernel keeps its number until the last of them lets go\n"
	"\n"
	"Exit status: 0 deleted, 1 failed (or refused), 2 bad command line.\n";

static const char reload_usage[] =
	"Usage: ublkd reload\n"
	"\n"
	"Make the running daemon re-read its config file, as SIGHUP does, and wait until it is\n"
	"done: new devices are live when it returns, removed ones are being deleted (a removed\n"
	"device that is in use is kept, and the log says so), changed ones are reported and left\n"
	"running. A config with any error is rejected whole and the running devices stay.\n"
	"Exit status: 0 applied, 1 rejected or a device failed (the reason on stderr), or no\n"
	"daemon runs; 2 bad command line.\n";

static const char recover_usage[] =
	"Usage: ublkd recover\n"
	"\n"
	"Take over every device a dead ublkd left (killed, crashed): devices made with\n"
	"recovery = reissue or fail wait in the kernel for a new server. Starts a daemon when\n"
	"none runs (every daemon does this at start anyway) and prints one line per device it\n"
	"recovered since this was last asked, with the time the take-over took. A device that\n"
	"cannot be taken over (recovery = none, its backend or description gone) is deleted so\n"
	"that its id is free again, and reported on stderr.\n"
	"Exit status: 0 every device recovered (or none to recover), 1 a device could not be\n"
	"recovered or no daemon could start, 2 bad command line.\n";

static const char upgrade_usage[] =
	"Usage: ublkd upgrade\n"
	"\n"
	"Make the running daemon re-execute the ublkd binary installed now (after a package\n"
	"upgrade, the new version) in the same process, as SIGUSR2 to it does. Devices stay, and\n"
	"so do their filesystems: where the kernel can (6.16+) each device is quiesced, so the\n"
	"requests in flight finish first; otherwise the kernel holds them and sends them again\n"
	"to the new image. Returns once every device is live again, and prints the versions and\n"
	"how long I/O paused. The pid stays, so systemd sees the same service.\n"
	"Exit status: 0 upgraded, 1 refused (a deletion in progress, no binary) or a device\n"
	"could not be taken over, or no daemon runs; 2 bad command line.\n";

static const char inject_usage[] =
	"Usage: ublkd inject ID|NAME|/dev/ublkbN SPEC\n"
	"\n"
	"A testing feature: make a device of the running daemon fail or stall its I/O from now\n"
	"on, as a failing disk would, or (SPEC off) heal it. The block layer sees the errors;\n"
	"the daemon and its other devices carry on. SPEC is KEY=VALUE items joined by commas:\n"
	"  error=eio|enospc|enodata|eopnotsupp|etimedout|none\n"
	"                     what a hit I/O completes with (none: only delayed; default eio)\n"
	"  ops=read+write+flush+discard|all   which I/O it applies to (default all)\n"
	"  from=N             from the Nth such I/O on, counting from now (default 1)\n"
	"  rate=P%            this share of them (default 100%; down to 0.0001%)\n"
	"  delay=D            each hit waits D first: 250us, 40ms, 8s (at most 3600s)\n"
	"e.g. error=eio,ops=write,from=1000   error=none,delay=40s   error=enospc,rate=10%\n"
	"The same SPEC is the device key inject (ublkd add --inject, the config file), which\n"
	"a reload applies to a running device. ublkd list --json shows it.\n"
	"Exit status: 0 set, 1 no daemon runs or no such device, 2 bad command line or SPEC.\n";

static const char list_usage[] =
	"Usage: ublkd list [--json]\n"
	"\n"
	"Show every ublk device the kernel has, served by this ublkd or another server: id,\n"
	"name, backend, size, queues, depth, state, block device, server pid. State is the\n"
	"kernel's (live, dead: not started, quiesced or fail-io: its ublkd died and the next one\n"
	"takes it over), or no-server when the process that served the device is gone and the\n"
	"kernel will not keep it (or has not noticed yet). Works without a daemon.\n"
	"\n"
	"  --json   one JSON array of objects (id, name, backend, size_bytes, queues, depth,\n"
	"           state, block_device, char_device, pid, server_alive); null where unknown\n";

static const char features_usage[] =
	"Usage: ublkd features\n"
	"\n"
	"Print the UBLK_F_* feature mask of the running kernel's ublk driver, one feature name\n"
	"per line, and the io_uring ring that asked for them.\n";

static bool is_help(const char *arg)
{
	return !strcmp(arg, "-h") || !strcmp(arg, "--help");
}

/* A command that takes no arguments: 0 to go on, or the exit status (help shown, or misused). */
static int no_arguments(int argc, char **argv, const char *usage, int *status)
{
	if (argc == 2 && is_help(argv[1])) {
		fputs(usage, stdout);
		*status = 0;
		return 1;
	}
	if (argc > 1) {
		fprintf(stderr, "ublkd: %s: unexpected argument \"%s\" (see ublkd %s --help)\n",
			argv[0], argv[1], argv[0]);
		*status = EXIT_USAGE;
		return 1;
	}
	return 0;
}

static int cmd_features(int argc, char **argv)
{
	struct ublk_ctrl c;
	uint64_t features;
	int ret;

	if (no_arguments(argc, argv, features_usage, &ret))
		return ret;
	ret = ublk_ctrl_open(&c);
	if (ret < 0) {
		fprintf(stderr, "ublkd: features: %s: %s%s\n", c.err_subject, strerror(-ret),
			ublk_ctrl_open_hint(&c, ret));
		return 1;
	}
	ret = ublk_ctrl_get_features(&c, &features);
	if (ret == -ETIMEDOUT) {
		fprintf(stderr, "ublkd: features: %s: GET_FEATURES: no answer within %u ms\n",
			UBLK_CTRL_DEV_PATH, c.timeout_ms);
		ublk_ctrl_close(&c);
		return 1;
	}
	if (ret < 0) {
		fprintf(stderr, "ublkd: features: %s: GET_FEATURES: %s%s\n", UBLK_CTRL_DEV_PATH,
			strerror(-ret),
			ret == -EOPNOTSUPP || ret == -EINVAL ? " (the kernel predates 6.5?)" : "");
		ublk_ctrl_close(&c);
		return 1;
	}
	printf("0x%llx\n", (unsigned long long)features);
	for (unsigned bit = 0; bit < 64; bit++) {
		const char *name = ublk_feature_name(bit);

		if (!(features & (1ULL << bit)))
			continue;
		if (name)
			printf("%s\n", name);
		else
			printf("UNKNOWN_BIT_%u\n", bit);
	}
	printf("io_uring: %s ring, features 0x%x\n",
	       c.ring.flags & IORING_SETUP_SQE128 ? "SQE128" : "64-byte SQE", c.ring.features);
	ublk_ctrl_close(&c);
	return 0;
}

static int cmd_serve(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "auto-exit", no_argument, NULL, 'a' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct daemon_opts opts = { .report_fd = -1 };
	enum log_level level = LOG_LEVEL_DEFAULT;
	char config_abs[PATH_MAX];
	bool foreground = false;
	int opt;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":c:fh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			opts.config_path = optarg;
			break;
		case 'f':
			foreground = true;
			break;
		case 'a':
			opts.auto_exit = true;
			break;
		case 'l':
			if (parse_log_level(optarg, &level) < 0) {
				fprintf(stderr,
					"ublkd: serve: --log-level \"%s\": not a level (%s)\n",
					optarg, LOG_LEVEL_NAMES);
				return EXIT_USAGE;
			}
			opts.log_level_given = true;
			break;
		case 'h':
			fputs(serve_usage, stdout);
			return 0;
		case ':':
			fprintf(stderr, "ublkd: serve: %s needs a value\n", argv[optind - 1]);
			return EXIT_USAGE;
		default:
			fprintf(stderr,
				"ublkd: serve: unknown option \"%s\" (see ublkd serve --help)\n",
				argv[optind - 1]);
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "ublkd: serve: unexpected argument \"%s\"\n", argv[optind]);
		return EXIT_USAGE;
	}
	/* The background daemon works from /: keep the config's path meaningful there. */
	if (opts.config_path && opts.config_path[0] != '/') {
		if (!realpath(opts.config_path, config_abs)) {
			fprintf(stderr, "ublkd: serve: config: %s: %s\n", opts.config_path,
				strerror(errno));
			return 1;
		}
		opts.config_path = config_abs;
	}
	log_init(level);
	return foreground ? daemon_serve(&opts) : detach_serve(&opts);
}

static int cmd_add(int argc, char **argv)
{
	static char body[ADD_ARGS_BODY_MAX];
	int ret = add_args_parse(argc, argv, body, sizeof(body), stderr);

	if (ret == ADD_ARGS_HELP) {
		fputs(add_usage, stdout);
		return 0;
	}
	return ret ? EXIT_USAGE : client_add(body);
}

static int cmd_del(int argc, char **argv)
{
	bool force = false;
	const char *what = NULL;

	for (int i = 1; i < argc; i++) {
		if (is_help(argv[i])) {
			fputs(del_usage, stdout);
			return 0;
		}
		if (!strcmp(argv[i], "--force")) {
			force = true;
			continue;
		}
		if (argv[i][0] == '-' && strcmp(argv[i], "--all")) {
			fprintf(stderr,
				"ublkd: del: unknown option \"%s\" (see ublkd del --help)\n",
				argv[i]);
			return EXIT_USAGE;
		}
		if (what) {
			fprintf(stderr, "ublkd: del: one device at a time (or --all) (see ublkd "
					"del --help)\n");
			return EXIT_USAGE;
		}
		what = argv[i];
	}
	if (!what || !what[0]) {
		fprintf(stderr,
			"ublkd: del: which device? give ID, NAME, /dev/ublkbN or --all (see "
			"ublkd del --help)\n");
		return EXIT_USAGE;
	}
	return client_del(what, force);
}

static int cmd_reload(int argc, char **argv)
{
	int status;

	return no_arguments(argc, argv, reload_usage, &status) ? status : client_reload();
}

static int cmd_upgrade(int argc, char **argv)
{
	int status;

	return no_arguments(argc, argv, upgrade_usage, &status) ? status : client_upgrade();
}

static int cmd_recover(int argc, char **argv)
{
	int status;

	return no_arguments(argc, argv, recover_usage, &status) ? status : client_recover();
}

static int cmd_inject(int argc, char **argv)
{
	char err[DEV_ERR_MAX];
	struct fault_conf fc;

	for (int i = 1; i < argc; i++) {
		if (is_help(argv[i])) {
			fputs(inject_usage, stdout);
			return 0;
		}
	}
	if (argc != 3 || !argv[1][0] || argv[1][0] == '-') {
		fprintf(stderr,
			"ublkd: inject: give a device and a SPEC (see ublkd inject --help)\n");
		return EXIT_USAGE;
	}
	if (strchr(argv[1], '\n')) {
		fprintf(stderr, "ublkd: inject: bad device name\n");
		return EXIT_USAGE;
	}
	if (fault_conf_parse(argv[2], &fc, err, sizeof(err)) < 0) {
		fprintf(stderr, "ublkd: inject %s: SPEC \"%.64s\": %s\n", argv[1], argv[2], err);
		return EXIT_USAGE;
	}
	return client_inject(argv[1], argv[2]);
}

static int cmd_list(int argc, char **argv)
{
	bool json = false;

	for (int i = 1; i < argc; i++) {
		if (is_help(argv[i])) {
			fputs(list_usage, stdout);
			return 0;
		}
		if (!strcmp(argv[i], "--json")) {
			json = true;
			continue;
		}
		fprintf(stderr, "ublkd: list: unexpected argument \"%s\" (see ublkd list --help)\n",
			argv[i]);
		return EXIT_USAGE;
	}
	return client_list(json);
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*run)(int argc, char **argv);
	} cmds[] = {
		{ "serve", cmd_serve },	    { "add", cmd_add },		  { "del", cmd_del },
		{ "list", cmd_list },	    { "features", cmd_features }, { "reload", cmd_reload },
		{ "recover", cmd_recover }, { "upgrade", cmd_upgrade },	  { "inject", cmd_inject },
	};

	/* systemd runs the generator symlink early at boot: same binary, other job. */
	if (argc > 0 && !strcmp(basename(argv[0]), "ublkd-generator"))
		return generator_main(argc, argv);
	if (argc < 2) {
		fputs(usage_text, stderr);
		return EXIT_USAGE;
	}
	if (is_help(argv[1])) {
		fputs(usage_text, stdout);
		return 0;
	}
	if (!strcmp(argv[1], "-V") || !strcmp(argv[1], "--version")) {
		printf("ublkd %s\n", UBLKD_VERSION);
		return 0;
	}
	for (unsigned i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		if (!strcmp(argv[1], cmds[i].name))
			return cmds[i].run(argc - 1, argv + 1);
	}
	fprintf(stderr, "ublkd: unknown command \"%s\" (see ublkd --help)\n", argv[1]);
	return EXIT_USAGE;
}
