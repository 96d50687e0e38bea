// SPDX-License-Identifier: MIT
/* `ublkd add`'s flags into a request body (include/add_args.h). */
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "add_args.h"
#include "dev_conf.h"

/* One CLI flag per dev_conf key: --block-size for block_size. */
#define MAX_KEYS 32

/*
 * dev_conf messages about one key start with it ("size \"1000\": ...", "path: ..."): say it
 * as the flag the user typed. False when err names no key that way.
 */
static bool print_as_flag(const char (*flags)[32], unsigned nr_keys, const char *err, FILE *err_out)
{
	for (unsigned k = 0; k < nr_keys; k++) {
		size_t klen = strlen(dev_conf_keys[k]);

		if (!strncmp(err, dev_conf_keys[k], klen) &&
		    (err[klen] == ':' || (err[klen] == ' ' && err[klen + 1] == '"'))) {
			fprintf(err_out, "ublkd: add: --%s%s\n", flags[k], err + klen);
			return true;
		}
	}
	return false;
}

/*
 * The same for a message that speaks config file ("no size (... e.g. size = 1G)"): every
 * "key = value" in it becomes "--flag value", and "key = yes" of a boolean "--flag".
 */
static void print_in_flag_words(const char (*flags)[32], unsigned nr_keys, const char *err,
				FILE *err_out)
{
	char out[DEV_ERR_MAX * 2];
	size_t n = 0;

	for (const char *p = err; *p && n < sizeof(out) - 40;) {
		unsigned k;

		for (k = 0; k < nr_keys; k++) {
			size_t klen = strlen(dev_conf_keys[k]);

			if (strncmp(p, dev_conf_keys[k], klen) || strncmp(p + klen, " = ", 3))
				continue;
			p += klen + 3;
			if (dev_conf_key_is_bool(dev_conf_keys[k]) && !strncmp(p, "yes", 3)) {
				p += 3;
				n += (size_t)snprintf(out + n, sizeof(out) - n, "--%s", flags[k]);
			} else {
				n += (size_t)snprintf(out + n, sizeof(out) - n, "--%s ", flags[k]);
			}
			break;
		}
		if (k == nr_keys)
			out[n++] = *p++;
	}
	out[n] = '\0';
	fprintf(err_out, "ublkd: add: %s\n", out);
}

int add_args_parse(int argc, char **argv, char *body, size_t body_bytes, FILE *err_out)
{
	struct option longopts[MAX_KEYS + 2];
	char flags[MAX_KEYS][32], err[DEV_ERR_MAX], abs_path[PATH_MAX];
	unsigned nr_keys = 0;
	struct dev_conf conf;
	size_t used = 0;
	int opt, ret;

	for (; dev_conf_keys[nr_keys] && nr_keys < MAX_KEYS; nr_keys++) {
		const char *key = dev_conf_keys[nr_keys];
		unsigned i;

		for (i = 0; key[i] && i < sizeof(flags[0]) - 1; i++)
			flags[nr_keys][i] = key[i] == '_' ? '-' : key[i];
		flags[nr_keys][i] = '\0';
		longopts[nr_keys] = (struct option){ flags[nr_keys],
						     dev_conf_key_is_bool(key) ? optional_argument
									       : required_argument,
						     NULL, 256 + (int)nr_keys };
	}
	longopts[nr_keys] = (struct option){ "help", no_argument, NULL, 'h' };
	longopts[nr_keys + 1] = (struct option){ NULL, 0, NULL, 0 };

	dev_conf_init(&conf, "command line");
	body[0] = '\0';
	/* 0, not 1: getopt starts over, as a second parse in one process (the fuzzer) needs. */
	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		const char *key, *value;
		unsigned k = (unsigned)opt - 256;
		int n;

		if (opt == 'h')
			return ADD_ARGS_HELP;
		if (opt == ':') {
			fprintf(err_out, "ublkd: add: %s needs a value\n", argv[optind - 1]);
			return ADD_ARGS_USAGE;
		}
		if (opt < 256 || k >= nr_keys) {
			fprintf(err_out,
				"ublkd: add: unknown option \"%s\" (see ublkd add --help)\n",
				argv[optind - 1]);
			return ADD_ARGS_USAGE;
		}
		key = dev_conf_keys[k];
		value = optarg ? optarg : "yes";
		if (conf.given & DEV_GIVEN(k)) {
			fprintf(err_out, "ublkd: add: --%s given twice\n", flags[k]);
			return ADD_ARGS_USAGE;
		}
		/* The daemon lives in another mount namespace and directory: send it /path. */
		if (!strcmp(key, "path") && value[0] && value[0] != '/') {
			char cwd[PATH_MAX];

			if (!getcwd(cwd, sizeof(cwd)) ||
			    (size_t)snprintf(abs_path, sizeof(abs_path), "%s/%s", cwd, value) >=
				    sizeof(abs_path)) {
				fprintf(err_out, "ublkd: add: --path %s: cannot make it absolute\n",
					value);
				return ADD_ARGS_USAGE;
			}
			value = abs_path;
		}
		ret = dev_conf_set(&conf, key, value, err, sizeof(err));
		if (ret < 0) {
			if (!print_as_flag(flags, nr_keys, err, err_out))
				fprintf(err_out, "ublkd: add: --%s: %s\n", flags[k], err);
			return ADD_ARGS_USAGE;
		}
		if (strchr(value, '\n')) {
			fprintf(err_out, "ublkd: add: --%s: a value cannot hold a newline\n",
				flags[k]);
			return ADD_ARGS_USAGE;
		}
		n = snprintf(body + used, body_bytes - used, "%s = %s\n", key, value);
		if (n < 0 || (size_t)n >= body_bytes - used) {
			fprintf(err_out, "ublkd: add: options too long\n");
			return ADD_ARGS_USAGE;
		}
		used += (size_t)n;
	}
	if (optind < argc) {
		fprintf(err_out,
			"ublkd: add: unexpected argument \"%s\" (options are --key VALUE)\n",
			argv[optind]);
		return ADD_ARGS_USAGE;
	}
	ret = dev_conf_check(&conf, err, sizeof(err));
	if (ret < 0) {
		if (!print_as_flag(flags, nr_keys, err, err_out))
			print_in_flag_words(flags, nr_keys, err, err_out);
		return ADD_ARGS_USAGE;
	}
	return 0;
}
