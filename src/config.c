// SPDX-License-Identifier: MIT
/*
 * The config file reader (include/config.h): one pass over the lines, each section filling a
 * dev_conf through dev_conf_set(), so the file and the CLI share every value rule.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config.h"

/* Where the line is, between sections. */
enum parser_state {
	STATE_START,  /* before the first header */
	STATE_DEVICE, /* in a [device "NAME"] section: cfg->devs[nr_devs - 1] */
	STATE_GLOBAL, /* in the [global] section: the daemon's own settings */
	STATE_SKIP,   /* after an error that belongs to no device, up to the next header */
};

struct parser {
	const char *file;
	unsigned line;
	struct config *cfg;
	enum parser_state state;
	unsigned header_line;
	unsigned global_line;		  /* of the [global] header; 0: none yet */
	unsigned log_level_line;	  /* of log_level in [global]; 0: not given */
	unsigned key_line[DEV_KEY_COUNT]; /* of each key given in the current section */
	char msg[DEV_ERR_MAX];
	bool no_memory;
	unsigned devs_room; /* cfg->devs has room for this many */
};

static char *skip_space(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	return s;
}

static void trim_end(char *s)
{
	size_t len = strlen(s);

	while (len && isspace((unsigned char)s[len - 1]))
		s[--len] = '\0';
}

/* "FILE:LINE: " and the message, cut to fit. */
static void format_at(char *buf, size_t buf_bytes, const char *file, unsigned line, const char *fmt,
		      va_list ap)
{
	int n = snprintf(buf, buf_bytes, "%s:%u: ", file, line);

	if (n >= 0 && (size_t)n < buf_bytes)
		vsnprintf(buf + n, buf_bytes - (size_t)n, fmt, ap);
}

/* An error that belongs to no device; the lines after it, up to the next header, are skipped. */
__attribute__((format(printf, 3, 4))) static void file_error(struct parser *p, unsigned line,
							     const char *fmt, ...)
{
	struct config *cfg = p->cfg;
	char msg[CONFIG_ERR_MAX], **errors;
	va_list ap;

	p->state = STATE_SKIP;
	va_start(ap, fmt);
	format_at(msg, sizeof(msg), p->file, line, fmt, ap);
	va_end(ap);
	errors = realloc(cfg->errors, (cfg->nr_errors + 1) * sizeof(*errors));
	if (!errors) {
		p->no_memory = true;
		return;
	}
	cfg->errors = errors;
	errors[cfg->nr_errors] = strdup(msg);
	if (errors[cfg->nr_errors])
		cfg->nr_errors++;
	else
		p->no_memory = true;
}

static struct config_dev *current_dev(struct parser *p)
{
	return &p->cfg->devs[p->cfg->nr_devs - 1];
}

/* Marks the current device invalid, unless an earlier error already did. */
__attribute__((format(printf, 4, 5))) static void dev_error(struct parser *p, unsigned line,
							    int error, const char *fmt, ...)
{
	struct config_dev *dev = current_dev(p);
	va_list ap;

	if (dev->error)
		return;
	dev->error = error;
	va_start(ap, fmt);
	format_at(dev->err, sizeof(dev->err), p->file, line, fmt, ap);
	va_end(ap);
}

/* What a section cannot know line by line: the whole conf, and clashes with earlier ones. */
static void end_section(struct parser *p)
{
	struct config_dev *dev;
	const struct dev_conf *c;
	int ret;

	if (p->state != STATE_DEVICE)
		return;
	dev = current_dev(p);
	c = &dev->conf;
	if (dev->error)
		return;
	ret = dev_conf_check(c, p->msg, sizeof(p->msg));
	if (ret) {
		dev_error(p, p->header_line, ret, "%s", p->msg);
		return;
	}
	for (struct config_dev *first = p->cfg->devs; first < dev; first++) {
		if (!strcmp(first->conf.name, c->name)) {
			dev_error(p, p->header_line, -EEXIST,
				  "duplicate device name \"%s\" (first at %s)", c->name,
				  first->conf.origin);
			return;
		}
		if ((c->given & DEV_GIVEN(DEV_KEY_ID)) &&
		    (first->conf.given & DEV_GIVEN(DEV_KEY_ID)) && first->conf.id == c->id) {
			dev_error(p, p->key_line[DEV_KEY_ID], -EEXIST,
				  "duplicate device id %u (first at %s)", c->id,
				  first->conf.origin);
			return;
		}
	}
}

/* A new device for a header that named it; its lines follow. */
static void start_device(struct parser *p, const char *name)
{
	struct config *cfg = p->cfg;
	struct config_dev *devs, *dev;
	char origin[DEV_ORIGIN_MAX];
	int ret;

	/*
	 * Room doubled, not one more each time: an entry is over 10 KiB, and a config of a
	 * thousand devices would otherwise copy gigabytes while it is read.
	 */
	if (cfg->nr_devs == p->devs_room) {
		unsigned room = p->devs_room ? 2 * p->devs_room : 8;

		devs = room > p->devs_room ? realloc(cfg->devs, room * sizeof(*devs)) : NULL;
		if (!devs) {
			p->no_memory = true;
			p->state = STATE_SKIP;
			return;
		}
		cfg->devs = devs;
		p->devs_room = room;
	}
	devs = cfg->devs;
	dev = &devs[cfg->nr_devs];
	memset(dev, 0, sizeof(*dev));
	snprintf(origin, sizeof(origin), "%s:%u", p->file, p->line);
	dev_conf_init(&dev->conf, origin);
	ret = dev_conf_set(&dev->conf, "name", name, p->msg, sizeof(p->msg));
	if (ret) {
		/* A device without a usable name could not be named in any message or command. */
		file_error(p, p->line, "%s", p->msg);
		return;
	}
	cfg->nr_devs++;
	p->state = STATE_DEVICE;
	p->header_line = p->line;
	memset(p->key_line, 0, sizeof(p->key_line));
}

/* After the name's closing quote: "]", then nothing or a comment. */
static bool header_end_ok(char *s)
{
	s = skip_space(s);
	if (*s != ']')
		return false;
	s = skip_space(s + 1);
	return !*s || *s == '#';
}

/* [global]: the daemon's settings, at most once per file. */
static void start_global(struct parser *p)
{
	if (p->global_line) {
		file_error(p, p->line, "duplicate [global] section (first at line %u)",
			   p->global_line);
		return;
	}
	p->global_line = p->line;
	p->state = STATE_GLOBAL;
}

/* [device "NAME"] or [global], white space allowed around each part. s is from its '['. */
static void parse_header(struct parser *p, char *s)
{
	char *type = skip_space(s + 1), *name, *end;
	size_t type_len = strspn(type, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_");

	if (type_len == strlen("global") && !strncmp(type, "global", type_len) &&
	    header_end_ok(type + type_len)) {
		start_global(p);
		return;
	}
	if (type_len && (type_len != strlen("device") || strncmp(type, "device", type_len))) {
		file_error(p, p->line,
			   "unknown section type \"%.*s\" (only [device \"NAME\"] and [global])",
			   type_len > 32 ? 32 : (int)type_len, type);
		return;
	}
	name = skip_space(type + type_len);
	end = *name == '"' ? strchr(name + 1, '"') : NULL;
	if (!type_len || !end || !header_end_ok(end + 1)) {
		file_error(p, p->line, "malformed section header (want [device \"NAME\"])");
		return;
	}
	*end = '\0';
	start_device(p, name + 1);
}

/*
 * Splits "key = value" in place. A value in double quotes keeps its spaces and '#', with \" and
 * \\ for a quote and a backslash; a bare value ends at a '#' that follows white space (or
 * starts it). NULL, or what is wrong.
 */
static const char *split_key_value(char *s, char **key, char **value)
{
	char *eq = strchr(s, '='), *v, *r, *w;

	if (!eq || eq == s)
		return "not a \"key = value\" line";
	*eq = '\0';
	trim_end(s);
	*key = s;
	v = skip_space(eq + 1);
	*value = v;
	if (*v != '"') {
		for (w = v; *w; w++) {
			if (*w == '#' && (w == v || isspace((unsigned char)w[-1]))) {
				*w = '\0';
				break;
			}
		}
		trim_end(v);
		return NULL;
	}
	for (r = v + 1, w = v;; r++) {
		if (!*r)
			return "no closing '\"' in the value";
		if (*r == '"')
			break;
		if (*r == '\\') {
			if (r[1] != '"' && r[1] != '\\')
				return "bad escape in the quoted value (only \\\" and \\\\)";
			r++;
		}
		*w++ = *r;
	}
	*w = '\0';
	r = skip_space(r + 1);
	if (*r && *r != '#')
		return "text after the quoted value";
	return NULL;
}

static int find_key(const char *key)
{
	for (int i = 0; i < DEV_KEY_COUNT; i++)
		if (!strcmp(key, dev_conf_keys[i]))
			return i;
	return -1;
}

static void parse_key_line(struct parser *p, char *s)
{
	struct config_dev *dev = current_dev(p);
	const char *bad;
	char *key, *value;
	int i, ret;

	if (dev->error)
		return;
	bad = split_key_value(s, &key, &value);
	if (bad) {
		dev_error(p, p->line, -EINVAL, "%s", bad);
		return;
	}
	i = find_key(key);
	if (i == DEV_KEY_NAME) {
		dev_error(p, p->line, -EINVAL, "name is given by the section header");
		return;
	}
	if (i >= 0 && (dev->conf.given & DEV_GIVEN(i))) {
		dev_error(p, p->line, -EINVAL, "duplicate key \"%s\" (first at line %u)", key,
			  p->key_line[i]);
		return;
	}
	ret = dev_conf_set(&dev->conf, key, value, p->msg, sizeof(p->msg));
	if (ret) {
		dev_error(p, p->line, ret, "%s", p->msg);
		return;
	}
	p->key_line[i] = p->line;
}

/* "key = value" in [global]: log_level is the only key there. */
static void parse_global_line(struct parser *p, char *s)
{
	const char *bad = NULL;
	char *key, *value;

	bad = split_key_value(s, &key, &value);
	if (bad) {
		file_error(p, p->line, "%s", bad);
		return;
	}
	if (strcmp(key, "log_level")) {
		file_error(p, p->line, "unknown key \"%.64s\" in [global] (only log_level)", key);
		return;
	}
	if (p->log_level_line) {
		file_error(p, p->line, "duplicate key \"log_level\" (first at line %u)",
			   p->log_level_line);
		return;
	}
	if (parse_log_level(value, &p->cfg->log_level) < 0) {
		file_error(p, p->line, "log_level \"%.64s\": not a level (%s)", value,
			   LOG_LEVEL_NAMES);
		return;
	}
	p->log_level_line = p->line;
	p->cfg->log_level_given = true;
}

/* A line in place (no newline); says what is wrong in the context it is in. */
static void parse_line(struct parser *p, char *line)
{
	char *s = skip_space(line);

	trim_end(s);
	if (!*s || *s == '#' || *s == ';')
		return;
	if (*s == '[') {
		end_section(p);
		parse_header(p, s);
		return;
	}
	switch (p->state) {
	case STATE_START:
		file_error(p, p->line, "not in a [device \"NAME\"] section");
		return;
	case STATE_DEVICE:
		parse_key_line(p, s);
		return;
	case STATE_GLOBAL:
		parse_global_line(p, s);
		return;
	case STATE_SKIP:
		return;
	}
}

/* A line that could not be read whole belongs to the section it is in. */
static void bad_line(struct parser *p, const char *why)
{
	if (p->state == STATE_DEVICE)
		dev_error(p, p->line, -EINVAL, "%s", why);
	else if (p->state == STATE_START)
		file_error(p, p->line, "%s", why);
}

/*
 * Reads one line without its newline into line (CONFIG_LINE_MAX + 1 bytes). By hand rather
 * than with fgets(), which can neither show a NUL byte nor tell a cut line from a whole one.
 * 1: a line; 0: end of file; -errno: a read error.
 */
static int read_line(FILE *in, char *line, size_t *len, bool *nul)
{
	int ch;

	*len = 0;
	*nul = false;
	errno = 0;
	while ((ch = getc(in)) != EOF && ch != '\n') {
		*nul |= !ch;
		/* *len stops one past CONFIG_LINE_MAX: too long, whatever follows. */
		if (*len < CONFIG_LINE_MAX)
			line[*len] = (char)ch;
		if (*len <= CONFIG_LINE_MAX)
			(*len)++;
	}
	if (ch == EOF && ferror(in))
		return errno ? -errno : -EIO;
	if (ch == EOF && !*len)
		return 0;
	if (*len <= CONFIG_LINE_MAX)
		line[*len] = '\0';
	return 1;
}

int config_parse(FILE *in, const char *name, struct config *cfg, char *err, size_t err_bytes)
{
	struct parser p = { .file = name, .cfg = cfg, .state = STATE_START };
	char line[CONFIG_LINE_MAX + 1];
	size_t len;
	bool nul;
	int ret;

	memset(cfg, 0, sizeof(*cfg));
	while ((ret = read_line(in, line, &len, &nul)) > 0) {
		p.line++;
		if (nul) {
			bad_line(&p, "NUL byte in the line");
		} else if (len > CONFIG_LINE_MAX) {
			snprintf(p.msg, sizeof(p.msg), "line too long (more than %d bytes)",
				 CONFIG_LINE_MAX);
			bad_line(&p, p.msg);
		} else {
			parse_line(&p, line);
		}
	}
	if (!ret) {
		end_section(&p);
		if (p.no_memory)
			ret = -ENOMEM;
	}
	if (ret) {
		config_free(cfg);
		snprintf(err, err_bytes, "%s: %s", name, strerror(-ret));
	}
	return ret;
}

int config_load(const char *path, struct config *cfg, char *err, size_t err_bytes)
{
	struct stat st;
	FILE *in;
	int ret;

	memset(cfg, 0, sizeof(*cfg));
	in = fopen(path, "re");
	if (!in) {
		ret = -errno;
		snprintf(err, err_bytes, "%s: %s", path, strerror(-ret));
		return ret;
	}
	/* A directory opens; reading it would fail only later, with EISDIR. */
	ret = fstat(fileno(in), &st) ? -errno : S_ISDIR(st.st_mode) ? -EISDIR : 0;
	if (ret)
		snprintf(err, err_bytes, "%s: %s", path, strerror(-ret));
	else
		ret = config_parse(in, path, cfg, err, err_bytes);
	fclose(in);
	return ret;
}

void config_free(struct config *cfg)
{
	for (unsigned i = 0; i < cfg->nr_errors; i++)
		free(cfg->errors[i]);
	free(cfg->errors);
	free(cfg->devs);
	memset(cfg, 0, sizeof(*cfg));
}

void config_resolve_path(struct dev_conf *c, const char *config_path)
{
	const char *slash = strrchr(config_path, '/');
	char joined[PATH_MAX];
	int n;

	if (!c->path[0] || c->path[0] == '/' || !slash)
		return;
	n = snprintf(joined, sizeof(joined), "%.*s/%s", (int)(slash - config_path), config_path,
		     c->path);
	if (n > 0 && (size_t)n < sizeof(joined))
		memcpy(c->path, joined, sizeof(c->path));
}
