// SPDX-License-Identifier: MIT
/* ublkd's command line: parses the command and hands it to the part of the daemon that does it. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ctrl.h"

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: ublkd COMMAND [OPTIONS]\n"
		"\n"
		"Commands:\n"
		"  features     print the ublk features of the running kernel (the UBLK_F_* mask,\n"
		"               then one name per line) and the io_uring ring that asked for "
		"them;\n"
		"               needs /dev/ublk-control (module ublk_drv) and root\n"
		"\n"
		"Options:\n"
		"  -h, --help     show this help and exit\n"
		"  -V, --version  show the version and exit\n");
}

/* What to try when the control device cannot be used, or "" when there is nothing to add. */
static const char *ctrl_open_hint(const struct ublk_ctrl *c, int err)
{
	if (strcmp(c->err_subject, UBLK_CTRL_DEV_PATH) != 0)
		return err == -EPERM
			       ? " (is io_uring disabled? see sysctl kernel.io_uring_disabled)"
			       : "";
	if (err == -ENOENT || err == -ENODEV || err == -ENXIO)
		return " (is the ublk_drv module loaded?)";
	if (err == -EACCES || err == -EPERM)
		return " (ublkd needs root)";
	return "";
}

static int cmd_features(void)
{
	struct ublk_ctrl c;
	uint64_t features;
	int ret;

	ret = ublk_ctrl_open(&c);
	if (ret < 0) {
		fprintf(stderr, "ublkd: features: %s: %s%s\n", c.err_subject, strerror(-ret),
			ctrl_open_hint(&c, ret));
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
	if (!strcmp(argv[1], "features")) {
		if (argc == 3 && (!strcmp(argv[2], "-h") || !strcmp(argv[2], "--help"))) {
			usage(stdout);
			return 0;
		}
		if (argc > 2) {
			fprintf(stderr, "ublkd: features: unexpected argument \"%s\"\n", argv[2]);
			return 2;
		}
		return cmd_features();
	}
	fprintf(stderr, "ublkd: unknown command \"%s\" (see ublkd --help)\n", argv[1]);
	return 2;
}
