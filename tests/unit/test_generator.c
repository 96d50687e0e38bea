// SPDX-License-Identifier: MIT
/*
 * ublkd-generator: the drop-in it writes for configs with absolute, relative and awkward paths,
 * devices it skips, and the troubles (no config, unreadable config, unwritable directory) that
 * must leave nothing behind and still exit 0, because a generator that fails fails the boot's
 * view of ublkd.service. Also the dispatch on argv[0] of the built binary.
 */
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/run.h"
#include "../common/suite_main.h"
#include "generator.h"

static char dir[] = "/tmp/ublkd-generator-XXXXXX";
static char conf_path[PATH_MAX], normal[PATH_MAX], dropin[PATH_MAX + 64];
static struct run_result run;

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* A fresh directory with conf/ and normal/ for each test. */
static void setup(void)
{
	strcpy(dir, "/tmp/ublkd-generator-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(conf_path, sizeof(conf_path), "%s/conf/ublkd.conf", dir);
	snprintf(normal, sizeof(normal), "%s/normal", dir);
	snprintf(dropin, sizeof(dropin), "%s/" GENERATOR_DROPIN_DIR "/" GENERATOR_DROPIN, normal);
	ck_assert_int_eq(mkdir(normal, 0755), 0);
	snprintf(conf_path, sizeof(conf_path), "%s/conf", dir);
	ck_assert_int_eq(mkdir(conf_path, 0755), 0);
	strcat(conf_path, "/ublkd.conf");
	setenv(GENERATOR_CONFIG_ENV, conf_path, 1);
}

static void teardown(void)
{
	nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	unsetenv(GENERATOR_CONFIG_ENV);
}

static void write_conf(const char *text)
{
	FILE *f = fopen(conf_path, "we");

	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
}

/* ublkd-generator NORMAL EARLY LATE, as systemd calls it; must return 0. */
static void generate(void)
{
	char early[PATH_MAX + 8], late[PATH_MAX + 8];
	char *argv[] = { "ublkd-generator", normal, early, late, NULL };

	snprintf(early, sizeof(early), "%s/early", dir);
	snprintf(late, sizeof(late), "%s/late", dir);
	ck_assert_int_eq(generator_main(4, argv), 0);
}

/* The drop-in's text, or NULL when there is none. */
static char *read_dropin(void)
{
	static char text[8192];
	FILE *f = fopen(dropin, "re");
	size_t n;

	if (!f)
		return NULL;
	n = fread(text, 1, sizeof(text) - 1, f);
	text[n] = '\0';
	fclose(f);
	return text;
}

/* Nothing at all below normal/: not even an empty drop-in directory. */
static void assert_nothing_written(void)
{
	char sub[PATH_MAX + 32];
	struct stat st;

	snprintf(sub, sizeof(sub), "%s/" GENERATOR_DROPIN_DIR, normal);
	ck_assert_msg(stat(sub, &st) < 0 && errno == ENOENT, "%s exists", sub);
}

START_TEST(test_absolute_and_relative)
{
	char want[3 * PATH_MAX];
	const char *text;
	struct stat st;

	write_conf("[device \"abs\"]\nbackend = file\npath = /srv/images/a.img\n\n"
		   "[device \"rel\"]\nbackend = file\npath = images/b.img\ncreate = yes\n"
		   "size = 1G\n\n"
		   "[device \"ram\"]\nbackend = memory\nsize = 1G\n\n"
		   "[device \"blk\"]\nbackend = file\npath = /dev/sdb\n");
	generate();
	text = read_dropin();
	ck_assert_ptr_nonnull(text);
	snprintf(want, sizeof(want),
		 "# Written by ublkd-generator from %s: the mounts that hold the disk images.\n"
		 "[Unit]\n"
		 "RequiresMountsFor=\"/srv/images/a.img\"\n"
		 "RequiresMountsFor=\"%s/conf/images/b.img\"\n"
		 "RequiresMountsFor=\"/dev/sdb\"\n",
		 conf_path, dir);
	ck_assert_str_eq(text, want);
	/* systemd reads it as any unit file: world-readable like one. */
	ck_assert_int_eq(stat(dropin, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0644);
}
END_TEST

/* Spaces stay inside the quotes; '"' and '\' are escaped, '%' is not a specifier. */
START_TEST(test_awkward_paths)
{
	const char *text;

	write_conf("[device \"sp\"]\nbackend = file\npath = \"/srv/my images/disk 1.img\"\n\n"
		   "[device \"q\"]\nbackend = file\npath = \"/srv/a\\\"b\\\\c%n.img\"\n");
	generate();
	text = read_dropin();
	ck_assert_ptr_nonnull(text);
	ck_assert_msg(strstr(text, "\nRequiresMountsFor=\"/srv/my images/disk 1.img\"\n"), "%s",
		      text);
	ck_assert_msg(strstr(text, "\nRequiresMountsFor=\"/srv/a\\\"b\\\\c%%n.img\"\n"), "%s",
		      text);
}
END_TEST

/* Invalid devices and a path that cannot be a unit file word are left out; the rest stays. */
START_TEST(test_skips_bad_devices)
{
	const char *text;

	write_conf("[device \"nopath\"]\nbackend = file\n\n"
		   "[device \"badsize\"]\nbackend = file\npath = /srv/x.img\nsize = 1Q\n\n"
		   "[device \"tab\"]\nbackend = file\npath = \"/srv/a\tb.img\"\n\n"
		   "stray line\n\n"
		   "[device \"good\"]\nbackend = file\npath = /data/good.img\n");
	generate();
	text = read_dropin();
	ck_assert_ptr_nonnull(text);
	ck_assert_msg(strstr(text, "\nRequiresMountsFor=\"/data/good.img\"\n"), "%s", text);
	ck_assert_msg(!strstr(text, "x.img") && !strstr(text, "b.img"), "%s", text);
}
END_TEST

/* A config without file devices, or without devices: nothing to wait for, nothing written. */
START_TEST(test_no_file_devices)
{
	write_conf("[device \"n\"]\nbackend = null\nsize = 1G\n");
	generate();
	assert_nothing_written();
	write_conf("# empty\n");
	generate();
	assert_nothing_written();
}
END_TEST

START_TEST(test_missing_config)
{
	generate();
	assert_nothing_written();
}
END_TEST

START_TEST(test_unreadable_config)
{
	ck_assert_int_eq(mkdir(conf_path, 0755), 0); /* a directory: -EISDIR */
	generate();
	assert_nothing_written();
}
END_TEST

/* The normal directory cannot take the drop-in: logged, 0, no temporary file left. */
START_TEST(test_unwritable_dir)
{
	char sub[PATH_MAX + 32];

	write_conf("[device \"a\"]\nbackend = file\npath = /srv/a.img\n");
	/* A file where the drop-in directory should be: mkdir fails whoever we are. */
	snprintf(sub, sizeof(sub), "%s/" GENERATOR_DROPIN_DIR, normal);
	fclose(fopen(sub, "we"));
	generate();
	ck_assert_ptr_null(read_dropin());
	/* Only that file in normal/. */
	run_sh(&run, "ls -A '%s'", normal);
	ck_assert_str_eq(run.out, GENERATOR_DROPIN_DIR "\n");
}
END_TEST

/* The built binary becomes the generator when called ublkd-generator (the installed symlink). */
START_TEST(test_binary_dispatch)
{
	char link[PATH_MAX + 32], bin[PATH_MAX];

	write_conf("[device \"a\"]\nbackend = file\npath = /srv/a.img\n");
	ck_assert_msg(realpath(ublkd_bin(), bin), "%s: %s", ublkd_bin(), strerror(errno));
	snprintf(link, sizeof(link), "%s/ublkd-generator", dir);
	ck_assert_int_eq(symlink(bin, link), 0);
	run_sh(&run, "'%s' '%s' '%s/e' '%s/l'", link, normal, dir, dir);
	ck_assert_msg(run.status == 0, "exit status %d: %s", run.status, run.err);
	ck_assert_ptr_nonnull(read_dropin());
	ck_assert_msg(strstr(read_dropin(), "RequiresMountsFor=\"/srv/a.img\""), "%s",
		      read_dropin());
	/* A wrong command line is the one failure: systemd never gives one. */
	run_sh(&run, "'%s'", link);
	ck_assert_int_eq(run.status, 2);
	ck_assert_msg(strstr(run.err, "usage: ublkd-generator"), "%s", run.err);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("generator");
	TCase *tc = tcase_create("generator");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_absolute_and_relative);
	tcase_add_test(tc, test_awkward_paths);
	tcase_add_test(tc, test_skips_bad_devices);
	tcase_add_test(tc, test_no_file_devices);
	tcase_add_test(tc, test_missing_config);
	tcase_add_test(tc, test_unreadable_config);
	tcase_add_test(tc, test_unwritable_dir);
	tcase_add_test(tc, test_binary_dispatch);
	suite_add_tcase(s, tc);
	return suite_main(s);
}
