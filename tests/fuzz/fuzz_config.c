// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: the config file parser (src/config.c) and the device descriptions it makes
 * (src/dev_conf.c). Oracle: no crash, no sanitizer report; every device it accepts, written
 * back with dev_conf_write() (as the state files are), parses again to the same text.
 */
#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "dev_conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *written(const struct dev_conf *c, size_t *len)
{
	char *text = NULL;
	FILE *out = open_memstream(&text, len);

	assert(out);
	assert(dev_conf_write(c, out) == 0);
	assert(fclose(out) == 0);
	return text;
}

static void check_round_trip(const struct dev_conf *c)
{
	char err[CONFIG_ERR_MAX];
	struct config again;
	size_t len, len2;
	char *text = written(c, &len), *text2;
	FILE *in = fmemopen(text, len, "r");

	assert(in);
	assert(config_parse(in, "written", &again, err, sizeof(err)) == 0);
	fclose(in);
	/* A section without a name (given) writes no header: then its keys stand alone. */
	assert(again.nr_devs == 1 || !(c->given & DEV_GIVEN(DEV_KEY_NAME)));
	if (again.nr_devs == 1) {
		assert(!again.devs[0].error);
		text2 = written(&again.devs[0].conf, &len2);
		assert(len2 == len && !memcmp(text, text2, len));
		free(text2);
	}
	config_free(&again);
	free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[CONFIG_ERR_MAX];
	struct config cfg;
	FILE *in;

	if (!size)
		return 0;
	in = fmemopen((void *)data, size, "r");
	assert(in);
	if (config_parse(in, "fuzz", &cfg, err, sizeof(err)) < 0) {
		fclose(in);
		return 0;
	}
	fclose(in);
	/*
	 * The first few valid devices only: the hundredth section of an input is parsed by the
	 * same code as the first, and a round trip of each made inputs with many sections the
	 * slow ones (from 20 k to about 1 k runs per second).
	 */
	for (unsigned i = 0, checked = 0; i < cfg.nr_devs && checked < 8; i++)
		if (!cfg.devs[i].error) {
			check_round_trip(&cfg.devs[i].conf);
			checked++;
		}
	config_free(&cfg);
	return 0;
}
