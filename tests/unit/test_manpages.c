// SPDX-License-Identifier: MIT
/*
 * The man pages against the code, so that neither can drift: ublkd(8)'s flags and each
 * command's --help of the built binary, both ways; every dev_conf key in ublkd.conf(5) with its
 * flag, range and default; both pages rendered by man(1) without a warning; and the file
 * layout of make install and uninstall. Runs from the checkout (tests/run-checks.sh does).
 */
#include <errno.h>
#include <ftw.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/run.h"
#include "../common/suite_main.h"
#include "dev_conf.h"
#include "log.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define PAGE_8 "man/ublkd.8"
#define PAGE_5 "man/ublkd.conf.5"
#define FLAGS_MAX 64
#define FLAG_LEN 40

static struct run_result run;

struct flag_set {
	char flags[FLAGS_MAX][FLAG_LEN];
	unsigned n;
};

/* The built ublkd: $UBLKD_BIN, else BUILD/ublkd for this suite's BUILD/tests/unit/test_x. */
static const char *ublkd_path(void)
{
	static char path[PATH_MAX];
	const char *env = getenv("UBLKD_BIN");
	char self[PATH_MAX];
	ssize_t n;

	if (env && *env)
		return env;
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	ck_assert_msg(n > 0, "/proc/self/exe: %s", strerror(errno));
	self[n] = '\0';
	snprintf(path, sizeof(path), "%s/ublkd", dirname(dirname(dirname(self))));
	return path;
}

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "re");
	char *text;
	long len;

	ck_assert_msg(f, "%s: %s (the suite runs from the checkout)", path, strerror(errno));
	ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
	len = ftell(f);
	ck_assert_int_ge(len, 0);
	rewind(f);
	text = malloc((size_t)len + 1);
	ck_assert_ptr_nonnull(text);
	ck_assert_uint_eq(fread(text, 1, (size_t)len, f), (size_t)len);
	text[len] = '\0';
	fclose(f);
	return text;
}

/* Whether line (in a text) starts with the macro call prefix, e.g. ".SH" or ".SS ublkd add". */
static bool line_starts(const char *line, const char *prefix)
{
	size_t len = strlen(prefix);

	return !strncmp(line, prefix, len) && (line[len] == ' ' || line[len] == '\n');
}

/*
 * A copy of the part of page that starts at the line beginning with start and ends before the
 * next line beginning with one of ends ("" when there is none).
 */
static char *part(const char *page, const char *start, const char *const ends[])
{
	const char *from = NULL;

	for (const char *line = page; line && *line; line = strchr(line, '\n'), line += !!line) {
		if (!from) {
			if (line_starts(line, start))
				from = line;
			continue;
		}
		for (unsigned i = 0; ends[i]; i++)
			if (line_starts(line, ends[i]))
				return strndup(from, (size_t)(line - from));
	}
	return strdup(from ? from : "");
}

static char *section(const char *page, const char *name)
{
	char start[64];

	snprintf(start, sizeof(start), ".SH %s", name);
	return part(page, start, (const char *const[]){ ".SH", NULL });
}

/* roff escapes out of the way: \- is '-', fonts and \& vanish, \(dq is '"', \e is '\'. */
static void unescape(char *s)
{
	static const struct {
		const char *from, *to;
	} map[] = { { "\\-", "-" },    { "\\fB", "" },	 { "\\fI", "" },
		    { "\\fR", "" },    { "\\fP", "" },	 { "\\&", "" },
		    { "\\(dq", "\"" }, { "\\(bu", "*" }, { "\\e", "\\" } };
	char *w = s;

	for (const char *r = s; *r;) {
		unsigned i;

		for (i = 0; i < ARRAY_SIZE(map); i++) {
			size_t len = strlen(map[i].from);

			if (!strncmp(r, map[i].from, len)) {
				strcpy(w, map[i].to);
				w += strlen(map[i].to);
				r += len;
				break;
			}
		}
		if (i == ARRAY_SIZE(map))
			*w++ = *r++;
	}
	*w = '\0';
}

/*
 * roff source as the words a reader sees, lines joined by spaces: font macros lose their name
 * and quotes (the alternating ones, .BR and kin, also the spaces between arguments), other
 * requests and comments vanish.
 */
static char *plain(const char *roff)
{
	char *out = malloc(strlen(roff) * 2 + 1), *copy = strdup(roff), *line, *save = NULL;
	size_t n = 0;

	ck_assert_ptr_nonnull(out);
	ck_assert_ptr_nonnull(copy);
	for (line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		const char *text = line;
		bool joined = false;

		if (line[0] == '.') {
			size_t name_len = strcspn(line + 1, " ");

			if (name_len > 2 || !strchr("BIR", line[1]) ||
			    (name_len == 2 && !strchr("BIR", line[2])))
				continue;
			joined = name_len == 2;
			text = line + 1 + name_len + (line[1 + name_len] == ' ');
		}
		if (n)
			out[n++] = ' ';
		for (bool quoted = false; *text; text++) {
			if (*text == '"' && line[0] == '.')
				quoted = !quoted;
			else if (!(*text == ' ' && joined && !quoted))
				out[n++] = *text;
		}
	}
	out[n] = '\0';
	free(copy);
	unescape(out);
	return out;
}

static void add_flag(struct flag_set *set, const char *flag, size_t len)
{
	for (unsigned i = 0; i < set->n; i++)
		if (strlen(set->flags[i]) == len && !strncmp(set->flags[i], flag, len))
			return;
	ck_assert_uint_lt(set->n, FLAGS_MAX);
	ck_assert_uint_lt(len, FLAG_LEN);
	memcpy(set->flags[set->n], flag, len);
	set->flags[set->n++][len] = '\0';
}

static bool has_flag(const struct flag_set *set, const char *flag)
{
	for (unsigned i = 0; i < set->n; i++)
		if (!strcmp(set->flags[i], flag))
			return true;
	return false;
}

static bool is_word_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       ch == '-';
}

/*
 * The flags text names: words of letters, digits and '-' that are "-x" or "--word" (so
 * "--create[=yes|no]" is --create). roff text is unescaped first. -h and --help are left
 * out: the page describes them once, under OPTIONS.
 */
static void collect_flags(const char *text, bool roff, struct flag_set *set)
{
	char *copy = strdup(text);

	ck_assert_ptr_nonnull(copy);
	if (roff)
		unescape(copy);
	for (const char *p = copy; *p;) {
		size_t len = 0;

		while (is_word_char(p[len]))
			len++;
		if (!len) {
			p++;
			continue;
		}
		if ((len == 2 && p[0] == '-' && p[1] != '-') ||
		    (len > 2 && p[0] == '-' && p[1] == '-' && p[2] >= 'a' && p[2] <= 'z')) {
			if (strncmp(p, "-h", len) && strncmp(p, "--help", len))
				add_flag(set, p, len);
		}
		p += len;
	}
	free(copy);
}

/* "--a --b" of the flags of have that want lacks; "" when none. */
static const char *missing(const struct flag_set *have, const struct flag_set *want, char *buf,
			   size_t len)
{
	size_t n = 0;

	buf[0] = '\0';
	for (unsigned i = 0; i < have->n; i++)
		if (!has_flag(want, have->flags[i]) && n < len)
			n += (size_t)snprintf(buf + n, len - n, " %s", have->flags[i]);
	return buf;
}

/* `ublkd [COMMAND] --help`: exit 0 and the usage on stdout. */
static const char *help_of(const char *command)
{
	const char *argv[] = { ublkd_path(), command ? command : "--help",
			       command ? "--help" : NULL, NULL };

	run_argv(&run, argv);
	ck_assert_msg(run.status == 0 && !run.err[0] && run.out[0],
		      "%s %s --help: exit status %d, stderr: %s", argv[0], command ? command : "",
		      run.status, run.err);
	return run.out;
}

static const char *const commands[] = { "serve", "add", "del", "reload", "list", "features" };

/* The flags in COMMAND's subsection of COMMANDS and in its --help are the same. */
START_TEST(test_command_flags)
{
	const char *command = commands[_i];
	char *page = read_file(PAGE_8), *cmds = section(page, "COMMANDS"), *sub, start[64];
	struct flag_set in_help = { .n = 0 }, in_page = { .n = 0 };
	char lacks[1024];

	snprintf(start, sizeof(start), ".SS ublkd %s", command);
	sub = part(cmds, start, (const char *const[]){ ".SS", ".SH", NULL });
	ck_assert_msg(sub[0], "ublkd(8) has no \"%s\" subsection in COMMANDS", start);
	collect_flags(help_of(command), false, &in_help);
	collect_flags(sub, true, &in_page);
	ck_assert_msg(!*missing(&in_help, &in_page, lacks, sizeof(lacks)),
		      "ublkd %s --help has%s; ublkd(8) COMMANDS does not", command, lacks);
	ck_assert_msg(!*missing(&in_page, &in_help, lacks, sizeof(lacks)),
		      "ublkd(8) COMMANDS has%s for %s; ublkd %s --help does not", lacks, command,
		      command);
	free(sub);
	free(cmds);
	free(page);
}
END_TEST

/* OPTIONS describes -h, --help, -V and --version; `ublkd --help` offers the same. */
START_TEST(test_global_options)
{
	char *page = read_file(PAGE_8), *options = section(page, "OPTIONS");
	const char *usage = help_of(NULL);
	static const char *const want[] = { "-h, --help", "-V, --version" };
	char *text = plain(options);

	for (unsigned i = 0; i < ARRAY_SIZE(want); i++) {
		ck_assert_msg(strstr(text, want[i]), "ublkd(8) OPTIONS lacks %s", want[i]);
		ck_assert_msg(strstr(usage, want[i]), "ublkd --help lacks %s", want[i]);
	}
	free(text);
	free(options);
	free(page);
}
END_TEST

/* Every flag the page names, outside EXAMPLES (systemctl's are there), is one of ublkd's. */
START_TEST(test_no_stale_flags)
{
	char *page = read_file(PAGE_8), *examples = section(page, "EXAMPLES");
	char *end = strstr(page, examples), lacks[1024];
	struct flag_set in_help = { .n = 0 }, in_page = { .n = 0 };

	/* EXAMPLES is cut out; what follows it is SEE ALSO. */
	if (examples[0])
		memmove(end, end + strlen(examples), strlen(end + strlen(examples)) + 1);
	collect_flags(help_of(NULL), false, &in_help);
	for (unsigned i = 0; i < ARRAY_SIZE(commands); i++)
		collect_flags(help_of(commands[i]), false, &in_help);
	add_flag(&in_help, "-V", 2); /* -h and --help are left out of both sets */
	collect_flags(page, true, &in_page);
	ck_assert_msg(!*missing(&in_page, &in_help, lacks, sizeof(lacks)),
		      "ublkd(8) names%s, which no --help of ublkd has", lacks);
	free(examples);
	free(page);
}
END_TEST

static bool ends_entry(const char *line)
{
	static const char *const ends[] = { ".TP", ".SH", ".SS", ".PP", ".IP" };

	for (unsigned i = 0; i < ARRAY_SIZE(ends); i++)
		if (line_starts(line, ends[i]))
			return true;
	return false;
}

/*
 * The tag line of key's entry in page (".TP" then "\fBkey =\fR ... (\fB\-\-flag\fR)") as
 * plain text, and in *body the source lines after it up to the next .TP, .SH, .SS, .PP or
 * .IP; NULL when there is no entry.
 */
static char *key_tag(const char *page, const char *key, char **body)
{
	const char *at, *tag, *tag_end;
	char want[64], *tag_copy, *text, *line;

	snprintf(want, sizeof(want), ".TP\n\\fB%s =\\fR ", key);
	at = strstr(page, want);
	if (!at)
		return NULL;
	tag = at + strlen(".TP\n");
	tag_end = strchr(tag, '\n');
	ck_assert_ptr_nonnull(tag_end);
	tag_copy = strndup(tag, (size_t)(tag_end - tag));
	*body = strdup(tag_end + 1);
	ck_assert_ptr_nonnull(tag_copy);
	ck_assert_ptr_nonnull(*body);
	for (line = *body; *line && !ends_entry(line);)
		line = strchr(line, '\n') ? strchr(line, '\n') + 1 : line + strlen(line);
	*line = '\0';
	text = plain(tag_copy);
	free(tag_copy);
	return text;
}

/*
 * Every dev_conf key has its entry in ublkd.conf(5): "key = VALUES (--flag)", the range of
 * the numeric keys and the backends as the code has them, and the defaults of queues and depth.
 */
START_TEST(test_conf_key)
{
	const char *key = dev_conf_keys[_i];
	char *page = read_file(PAGE_5), *keys = section(page, "DEVICE KEYS"), *body = NULL;
	char *tag = key_tag(keys, key, &body), want[128], flag[64], *text;
	const char *values = NULL;
	unsigned dflt = 0;

	ck_assert_msg(tag, "ublkd.conf(5) DEVICE KEYS has no entry \".TP\\n\\fB%s =\\fR ...\"",
		      key);
	snprintf(flag, sizeof(flag), " (--%s)", key);
	for (char *c = flag; *c; c++)
		*c = *c == '_' ? '-' : *c;
	ck_assert_msg(strlen(tag) > strlen(flag) && !strcmp(tag + strlen(tag) - strlen(flag), flag),
		      "ublkd.conf(5) %s: tag \"%s\" does not end in \"%s\"", key, tag, flag);
	switch (_i) {
	case DEV_KEY_ID:
		snprintf(want, sizeof(want), "0 to %u", DEV_MAX_ID);
		values = want;
		break;
	case DEV_KEY_QUEUES:
		snprintf(want, sizeof(want), "1 to %u", DEV_MAX_QUEUES);
		values = want;
		dflt = DEV_DEFAULT_QUEUES;
		break;
	case DEV_KEY_DEPTH:
		snprintf(want, sizeof(want), "1 to %u", DEV_MAX_DEPTH);
		values = want;
		dflt = DEV_DEFAULT_DEPTH;
		break;
	case DEV_KEY_BACKEND:
		snprintf(want, sizeof(want), "%s | %s | %s", backend_kind_name(BACKEND_NULL),
			 backend_kind_name(BACKEND_MEMORY), backend_kind_name(BACKEND_FILE));
		values = want;
		break;
	case DEV_KEY_BLOCK_SIZE:
		values = "512 | 4096";
		break;
	}
	if (values) {
		char whole[256];

		snprintf(whole, sizeof(whole), "%s = %s%s", key, values, flag);
		ck_assert_str_eq(tag, whole);
	}
	if (dflt) {
		text = plain(body);
		snprintf(want, sizeof(want), "Default: %u.", dflt);
		ck_assert_msg(strstr(text, want), "ublkd.conf(5) %s: no \"%s\" in \"%s\"", key,
			      want, text);
		free(text);
	}
	free(body);
	free(tag);
	free(keys);
	free(page);
}
END_TEST

/* The page's key entries are the code's keys: none left over from a key that went. */
START_TEST(test_conf_no_stale_keys)
{
	char *page = read_file(PAGE_5), *keys = section(page, "DEVICE KEYS");
	const char *prefix = ".TP\n\\fB";

	for (const char *at = strstr(keys, prefix); at; at = strstr(at + 1, prefix)) {
		const char *key = at + strlen(prefix);
		size_t len = strcspn(key, " \\\n");
		bool known = false;

		for (unsigned i = 0; dev_conf_keys[i]; i++)
			known |= strlen(dev_conf_keys[i]) == len &&
				 !strncmp(dev_conf_keys[i], key, len);
		ck_assert_msg(known, "ublkd.conf(5) documents \"%.*s\", which is no dev_conf key",
			      (int)len, key);
	}
	free(keys);
	free(page);
}
END_TEST

/* [global]'s log_level: every level, the flag, the default. */
START_TEST(test_conf_log_level)
{
	char *page = read_file(PAGE_5), *global = section(page, "GLOBAL KEYS"), *body = NULL;
	char *tag = key_tag(global, "log_level", &body), want[256], *text;
	size_t n;

	ck_assert_msg(tag, "ublkd.conf(5) GLOBAL KEYS has no log_level entry");
	n = (size_t)snprintf(want, sizeof(want), "log_level =");
	for (int l = LOG_LEVEL_ERR; l <= LOG_LEVEL_DEBUG; l++)
		n += (size_t)snprintf(want + n, sizeof(want) - n, "%s %s",
				      l == LOG_LEVEL_ERR ? "" : " |", log_level_name(l));
	snprintf(want + n, sizeof(want) - n, " (--log-level)");
	ck_assert_str_eq(tag, want);
	text = plain(body);
	snprintf(want, sizeof(want), "Default: %s.", log_level_name(LOG_LEVEL_DEFAULT));
	ck_assert_msg(strstr(text, want), "ublkd.conf(5) log_level: no \"%s\" in \"%s\"", want,
		      text);
	free(text);
	free(body);
	free(tag);
	free(global);
	free(page);
}
END_TEST

static const char *const pages[] = { PAGE_8, PAGE_5 };

/* man(1) renders the page without a warning (the check of `man --warnings -l PAGE`). */
/* The kernel the docs promise is the one the daemon needs: GET_FEATURES came in 6.5. */
START_TEST(test_minimum_kernel)
{
	static const char *const docs[] = { "README.md", PAGE_8 };

	for (unsigned i = 0; i < ARRAY_SIZE(docs); i++) {
		char *text = read_file(docs[i]);

		ck_assert_msg(strstr(text, "6.5"), "%s does not name Linux 6.5", docs[i]);
		ck_assert_msg(!strstr(text, "6.0+") && !strstr(text, "6.0 and later"),
			      "%s still promises Linux 6.0", docs[i]);
		free(text);
	}
}
END_TEST

START_TEST(test_page_renders)
{
	const char *argv[] = { "man", "--warnings", "-l", pages[_i], NULL };

	run_sh(&run, "command -v man");
	ck_assert_msg(run.status == 0,
		      "man is not installed: the Debian packages man-db and groff-base have it");
	setenv("MANWIDTH", "80", 1);
	run_argv(&run, argv);
	ck_assert_msg(run.status == 0 && !run.err[0], "man --warnings -l %s: exit status %d: %s",
		      pages[_i], run.status, run.err);
	ck_assert_msg(strlen(run.out) > 1000, "man -l %s printed only \"%s\"", pages[_i], run.out);
}
END_TEST

/*
 * A bare '-' is a hyphen to roff, which may render it as U+2010: a flag copied from the page
 * would not work. Every "--" and every '-' that starts a word is written "\-".
 */
START_TEST(test_page_dashes)
{
	char *page = read_file(pages[_i]), *line, *save = NULL;
	unsigned nr = 0;

	for (line = strtok_r(page, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		nr++;
		if (!strncmp(line, ".\\\"", 3))
			continue;
		for (const char *p = line; *p; p++) {
			bool word_start = p == line || p[-1] == ' ' || p[-1] == '[' || p[-1] == '(';

			if (*p == '-' && (p == line || p[-1] != '\\') &&
			    (p[1] == '-' || word_start))
				ck_abort_msg("%s:%u: bare '-' (write \\-): %s", pages[_i], nr,
					     line);
		}
	}
	free(page);
}
END_TEST

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/*
 * The regular files below listing_root, as "PATH MODE" lines, and the symlinks, as
 * "PATH -> TARGET" (PATH without the root).
 */
static char listing[4096];
static size_t listing_used;
static const char *listing_root;

static int list_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	char target[PATH_MAX];
	ssize_t n;

	(void)ftw;
	if (listing_used >= sizeof(listing))
		return 0;
	if (flag == FTW_F) {
		listing_used += (size_t)snprintf(listing + listing_used,
						 sizeof(listing) - listing_used, "%s %04o\n",
						 path + strlen(listing_root), st->st_mode & 07777);
	} else if (flag == FTW_SL) {
		n = readlink(path, target, sizeof(target) - 1);
		target[n < 0 ? 0 : n] = '\0';
		listing_used +=
			(size_t)snprintf(listing + listing_used, sizeof(listing) - listing_used,
					 "%s -> %s\n", path + strlen(listing_root), target);
	}
	return 0;
}

static const char *list_files(const char *root)
{
	listing[0] = '\0';
	listing_used = 0;
	listing_root = root;
	ck_assert_int_eq(nftw(root, list_entry, 16, FTW_PHYS), 0);
	return listing;
}

/* True when line is one of the lines of text. */
static bool has_line(const char *text, const char *line)
{
	size_t len = strlen(line);

	for (const char *at = strstr(text, line); at; at = strstr(at + 1, line))
		if ((at == text || at[-1] == '\n') && at[len] == '\n')
			return true;
	return false;
}

/* make install/uninstall DESTDIR=tmp, from this build's binary, with a clean environment. */
static void make_in(const char *target, const char *destdir, const char *build)
{
	char path_env[4096], dest_arg[PATH_MAX + 16], build_arg[PATH_MAX + 16], old[PATH_MAX + 8];
	const char *path = getenv("PATH");
	const char *argv[] = { "env", "-i",   path_env, "make",	       "-s",	  "-o",
			       old,   target, dest_arg, "PREFIX=/usr", build_arg, NULL };

	snprintf(path_env, sizeof(path_env), "PATH=%s", path ? path : "/usr/bin:/bin");
	snprintf(dest_arg, sizeof(dest_arg), "DESTDIR=%s", destdir);
	snprintf(build_arg, sizeof(build_arg), "BUILD=%s", build);
	/* Never rebuild: the binary is the one the suites were built with. */
	snprintf(old, sizeof(old), "%s/ublkd", build);
	run_argv(&run, argv);
	ck_assert_msg(run.status == 0, "make %s: exit status %d: %s%s", target, run.status, run.out,
		      run.err);
}

/*
 * What make install lays out with PREFIX=/usr (the generator a symlink to the binary), twice
 * over the same; uninstall takes it all.
 */
START_TEST(test_install_layout)
{
	static const char *const want[] = {
		"/usr/sbin/ublkd 0755",
		"/usr/lib/systemd/system/ublkd.service 0644",
		"/usr/lib/systemd/system/ublkd.socket 0644",
		"/usr/lib/systemd/system-generators/ublkd-generator -> /usr/sbin/ublkd",
		"/usr/lib/modules-load.d/ublk_drv.conf 0644",
		"/usr/share/doc/ublkd/ublkd.conf.example 0644",
		"/usr/share/man/man8/ublkd.8 0644",
		"/usr/share/man/man5/ublkd.conf.5 0644",
	};
	char build[PATH_MAX], dir[] = "/tmp/ublkd-install-XXXXXX", unit_path[PATH_MAX + 64];
	const char *files;
	char *unit;
	struct stat st;
	unsigned lines = 0;

	ck_assert_msg(realpath(ublkd_path(), build), "%s: %s", ublkd_path(), strerror(errno));
	*strrchr(build, '/') = '\0';
	ck_assert_msg(!access("Makefile", R_OK), "no Makefile here: run from the checkout");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	make_in("install", dir, build);
	make_in("install", dir, build);
	files = list_files(dir);
	for (const char *p = files; *p; p++)
		lines += *p == '\n';
	for (unsigned i = 0; i < ARRAY_SIZE(want); i++)
		ck_assert_msg(has_line(files, want[i]), "make install: no \"%s\" in:\n%s", want[i],
			      files);
	ck_assert_msg(lines == ARRAY_SIZE(want), "make install: more files than expected:\n%s",
		      files);
	/* The example config's images go there: the service does not make it. */
	snprintf(unit_path, sizeof(unit_path), "%s/var/lib/ublkd", dir);
	ck_assert_msg(stat(unit_path, &st) == 0 && S_ISDIR(st.st_mode) &&
			      (st.st_mode & 07777) == 0700,
		      "make install: no %s (mode 0700)", unit_path);

	snprintf(unit_path, sizeof(unit_path), "%s/usr/lib/systemd/system/ublkd.service", dir);
	unit = read_file(unit_path);
	ck_assert_msg(strstr(unit, "\nExecStart=/usr/sbin/ublkd serve --foreground --config "
				   "/etc/ublkd.conf\n"),
		      "installed unit's ExecStart is not the installed binary and config:\n%s",
		      unit);
	ck_assert_msg(!strchr(unit, '@'), "installed unit keeps a placeholder:\n%s", unit);
	ck_assert_msg(strstr(unit, "\nExecReload=/usr/sbin/ublkd reload\n"),
		      "installed unit's ExecReload is not the installed binary:\n%s", unit);
	free(unit);

	make_in("uninstall", dir, build);
	files = list_files(dir);
	ck_assert_msg(!files[0], "make uninstall left:\n%s", files);
	snprintf(unit_path, sizeof(unit_path), "%s/var/lib/ublkd", dir);
	ck_assert_msg(stat(unit_path, &st) == 0, "make uninstall removed the image directory");
	snprintf(unit_path, sizeof(unit_path), "%s/usr/share/doc/ublkd", dir);
	ck_assert_msg(stat(unit_path, &st) < 0 && errno == ENOENT,
		      "make uninstall left the directory %s", unit_path);
	nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("manpages");
	TCase *cli = tcase_create("ublkd.8");
	TCase *conf = tcase_create("ublkd.conf.5");
	TCase *render = tcase_create("render");
	TCase *install = tcase_create("install");

	tcase_add_loop_test(cli, test_command_flags, 0, ARRAY_SIZE(commands));
	tcase_add_test(cli, test_global_options);
	tcase_add_test(cli, test_no_stale_flags);
	tcase_add_test(cli, test_minimum_kernel);
	tcase_add_loop_test(conf, test_conf_key, 0, DEV_KEY_COUNT);
	tcase_add_test(conf, test_conf_no_stale_keys);
	tcase_add_test(conf, test_conf_log_level);
	tcase_add_loop_test(render, test_page_renders, 0, ARRAY_SIZE(pages));
	tcase_add_loop_test(render, test_page_dashes, 0, ARRAY_SIZE(pages));
	/* Three make runs of a fraction of a second each, more on a loaded machine. */
	tcase_set_timeout(install, 60);
	tcase_add_test(install, test_install_layout);
	suite_add_tcase(s, cli);
	suite_add_tcase(s, conf);
	suite_add_tcase(s, render);
	suite_add_tcase(s, install);
	return suite_main(s);
}
