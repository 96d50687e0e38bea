# ublkd: one binary, libc and pthreads only. See README.md for the targets a user needs.

CC ?= cc
CFLAGS ?= -O2 -g
SANITIZE ?=
# Every build flavour gets its own tree, so a sanitizer build never links stale objects.
BUILD ?= build$(if $(SANITIZE),-san)
KERNELS ?= $(if $(SANITIZE),,6.12 7)

PREFIX ?= /usr/local
SBINDIR ?= $(PREFIX)/sbin
SYSCONFDIR ?= /etc
DESTDIR ?=
# Where make install puts the rest. systemd and man look under /usr/local as well as /usr, so
# the defaults work for either PREFIX; a distribution may want UNITDIR=/lib/systemd/system.
UNITDIR ?= $(PREFIX)/lib/systemd/system
MODULESLOADDIR ?= $(PREFIX)/lib/modules-load.d
MANDIR ?= $(PREFIX)/share/man
DOCDIR ?= $(PREFIX)/share/doc/ublkd
# Where disk images live by default (the example config's): made by install, never removed.
STATEDIR ?= /var/lib/ublkd
# ublkd-generator, a symlink to the binary: systemd runs it at boot and on daemon-reload.
SYSTEMD_GENERATOR_DIR ?= $(PREFIX)/lib/systemd/system-generators

VERSION := $(shell cat VERSION 2>/dev/null || echo 0.0.0)
WARNINGS := -std=gnu11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes
ALL_CPPFLAGS := -Iinclude -D_GNU_SOURCE -DUBLKD_VERSION='"$(VERSION)"' \
	-DUBLKD_SYSCONFDIR='"$(SYSCONFDIR)"' $(CPPFLAGS)
SAN_FLAGS := $(if $(SANITIZE),-fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all)
ALL_CFLAGS := $(WARNINGS) $(CFLAGS) $(SAN_FLAGS) -MMD -MP
ALL_LDFLAGS := $(SAN_FLAGS) $(LDFLAGS)
LIBS := -lpthread

CHECK_CFLAGS = $(shell pkg-config --cflags check 2>/dev/null)
CHECK_LIBS = $(shell pkg-config --libs check 2>/dev/null || echo -lcheck)

LIB_SRCS := $(filter-out src/main.c,$(wildcard src/*.c))
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/%.o)
LIB := $(BUILD)/libublkd.a
TEST_COMMON_SRCS := $(wildcard tests/common/*.c)
TEST_COMMON_OBJS := $(TEST_COMMON_SRCS:%.c=$(BUILD)/%.o)
UNIT_TESTS := $(patsubst %.c,$(BUILD)/%,$(wildcard tests/unit/test_*.c))
INTEGRATION_TESTS := $(patsubst %.c,$(BUILD)/%,$(wildcard tests/integration/test_*.c))
# Run in a guest booted with systemd as PID 1, after tests/systemd/setup-guest.sh.
SYSTEMD_TESTS := $(patsubst %.c,$(BUILD)/%,$(wildcard tests/systemd/test_*.c))
# Run by make stress only, in the plain VM.
STRESS_TESTS := $(patsubst %.c,$(BUILD)/%,$(wildcard tests/stress/test_*.c))
BENCHES := $(patsubst %.c,$(BUILD)/%,$(wildcard tests/bench/bench_*.c))
# libFuzzer targets: built with clang, ASan and UBSan in their own tree (make fuzz).
FUZZERS := $(patsubst %.c,$(BUILD)/%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BUILD ?= build-fuzz
, := ,
FUZZ_SECONDS ?= 60
FORMAT_FILES := $(wildcard src/*.c include/*.h include/*/*.h tests/*/*.c tests/*/*.h)

# ublkd is phony so that `make` always brings the top-level copy in line with build/.
.PHONY: ublkd all check check-host check-vm test-deps tests format format-check bench bench-uring demo \
	vm-setup vm-shell install uninstall clean fuzz fuzz-build fuzzers stress

all: ublkd

# The binary is built inside its build tree (a sanitizer build never replaces the plain one)
# and copied to the top for users.
$(BUILD)/ublkd: $(BUILD)/src/main.o $(LIB)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

ublkd: $(BUILD)/ublkd
	@cmp -s $< $@ || cp $< $@

$(LIB): $(LIB_OBJS)
	rm -f $@ && $(AR) rcs $@ $^

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) $(if $(filter tests/%,$<),$(CHECK_CFLAGS)) -c -o $@ $<

$(BUILD)/tests/bench/%: $(BUILD)/tests/bench/%.o $(LIB)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

# libFuzzer brings main(); the objects were built with -fsanitize=fuzzer-no-link (fuzz-build).
$(BUILD)/tests/fuzz/%: $(BUILD)/tests/fuzz/%.o $(LIB)
	$(CC) $(ALL_LDFLAGS) -fsanitize=fuzzer -o $@ $^ $(LIBS)

$(BUILD)/tests/%: $(BUILD)/tests/%.o $(TEST_COMMON_OBJS) $(LIB)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(CHECK_LIBS) $(LIBS)

# Objects are kept, so a second `make check` relinks nothing.
.SECONDARY:

tests: $(BUILD)/ublkd $(UNIT_TESTS) $(INTEGRATION_TESTS) $(SYSTEMD_TESTS) $(STRESS_TESTS)

# Installs what the tests need (as root) or says what to install, then builds and runs every
# suite: host first, then each kernel in KERNELS inside its VM.
# Fuzzing runs on the host. The first kernel's plain VM suites run a ublkd built with ASan,
# UBSan and LeakSanitizer ($(SAN_BUILD)), and any report fails the run (SAN_VM= turns it off).
# Built with clang: gcc's UBSan, linked with ASan, ignores log_path and reports only on stderr.
SAN_BUILD ?= build-vmsan
SAN_VM ?= 1
check: test-deps
	@$(MAKE) --no-print-directory tests
	@$(MAKE) --no-print-directory fuzz-build
	@$(if $(and $(SAN_VM),$(KERNELS)),$(MAKE) --no-print-directory BUILD=$(SAN_BUILD) CC=clang \
		SANITIZE=address$(,)undefined $(SAN_BUILD)/ublkd)
	@tests/run-checks.sh --build $(BUILD) --fuzz-build $(FUZZ_BUILD) \
		$(if $(and $(SAN_VM),$(KERNELS)),--san-build $(SAN_BUILD)) --kernels "$(KERNELS)"

check-host: test-deps
	@$(MAKE) --no-print-directory tests
	@$(MAKE) --no-print-directory fuzz-build
	@tests/run-checks.sh --build $(BUILD) --fuzz-build $(FUZZ_BUILD) --kernels ""

check-vm: test-deps
	@$(MAKE) --no-print-directory tests
	@tests/run-checks.sh --build $(BUILD) --kernels "$(KERNELS)" --no-host

test-deps:
	@tests/vm/setup.sh --host-packages

vm-setup:
	@tests/vm/setup.sh --kernels "$(KERNELS)"

vm-shell: tests
	@tests/vm/shell.sh --kernel $(firstword $(KERNELS) 7)

# The main job: serve the example config, make a filesystem on a device, read it back (in a VM
# on the newest kernel when this one has no ublk).
demo: test-deps ublkd
	@BUILD=$(BUILD) tests/vm/demo.sh --kernel $(lastword $(KERNELS) 7)

fuzzers: $(FUZZERS)

fuzz-build:
	@$(MAKE) --no-print-directory BUILD=$(FUZZ_BUILD) CC=clang \
		SANITIZE=fuzzer-no-link,address,undefined fuzzers

# The stress suite (tests/stress), at full size by default (64 devices, 200 add/del cycles, 50
# kills, 32 clients; UBLKD_STRESS_* make it smaller), on each kernel of KERNELS.
stress: test-deps
	@$(MAKE) --no-print-directory tests
	@UBLKD_STRESS_DEVICES=$${UBLKD_STRESS_DEVICES:-64} \
		UBLKD_STRESS_CYCLES=$${UBLKD_STRESS_CYCLES:-200} \
		UBLKD_STRESS_KILLS=$${UBLKD_STRESS_KILLS:-50} \
		UBLKD_STRESS_CLIENTS=$${UBLKD_STRESS_CLIENTS:-32} UBLKD_SUITE_TIMEOUT=3600 \
		tests/run-checks.sh --build $(BUILD) --kernels "$(KERNELS)" --no-host --vm-kind stress

# Every libFuzzer target for FUZZ_SECONDS each, from the seed corpus in tests/fuzz/corpus;
# new inputs gather in FUZZ_BUILD/corpus, crashes in FUZZ_BUILD/crashes (see tests/fuzz/run.sh).
fuzz: test-deps fuzz-build
	@tests/fuzz/run.sh --build $(FUZZ_BUILD) --seconds $(FUZZ_SECONDS)

bench-uring: $(BUILD)/tests/bench/bench_uring
	@$<

# ublkd's devices against the kernel's null_blk, brd and loop, one VM per kernel of KERNELS
# and CPU layout: ratios, not speeds (TCG). ~40 minutes; BENCH_KERNELS, BENCH_LAYOUTS,
# BENCH_ROUNDS, BENCH_RUNTIME, BENCH_JOBS, BENCH_TARGETS, BENCH_MODES: see tests/bench/bench.sh.
bench: test-deps ublkd
	@BENCH_KERNELS="$(or $(BENCH_KERNELS),$(KERNELS))" tests/bench/bench.sh --build $(BUILD)

format:
	clang-format -i $(FORMAT_FILES)

format-check:
	clang-format --dry-run --Werror $(FORMAT_FILES)

# The unit's ExecStart names the installed binary and config: @SBINDIR@ and @SYSCONFDIR@ are
# filled in here. Running it again installs the same files; uninstall removes exactly them.
install: $(BUILD)/ublkd
	install -D -m 0755 $(BUILD)/ublkd $(DESTDIR)$(SBINDIR)/ublkd
	install -d $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSTEMD_GENERATOR_DIR)
	for unit in ublkd.service ublkd.socket; do \
		sed -e 's|@SBINDIR@|$(SBINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
			systemd/$$unit >$(DESTDIR)$(UNITDIR)/$$unit && \
		chmod 0644 $(DESTDIR)$(UNITDIR)/$$unit || exit 1; \
	done
	ln -sfn $(SBINDIR)/ublkd $(DESTDIR)$(SYSTEMD_GENERATOR_DIR)/ublkd-generator
	install -D -m 0644 systemd/ublk_drv.conf $(DESTDIR)$(MODULESLOADDIR)/ublk_drv.conf
	install -D -m 0644 ublkd.conf.example $(DESTDIR)$(DOCDIR)/ublkd.conf.example
	install -D -m 0644 man/ublkd.8 $(DESTDIR)$(MANDIR)/man8/ublkd.8
	install -D -m 0644 man/ublkd.conf.5 $(DESTDIR)$(MANDIR)/man5/ublkd.conf.5
	install -d -m 0700 $(DESTDIR)$(STATEDIR)

# The images in $(STATEDIR) are data: uninstall leaves them, and the directory.
uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/ublkd $(DESTDIR)$(UNITDIR)/ublkd.service \
		$(DESTDIR)$(UNITDIR)/ublkd.socket $(DESTDIR)$(SYSTEMD_GENERATOR_DIR)/ublkd-generator \
		$(DESTDIR)$(MODULESLOADDIR)/ublk_drv.conf $(DESTDIR)$(DOCDIR)/ublkd.conf.example \
		$(DESTDIR)$(MANDIR)/man8/ublkd.8 $(DESTDIR)$(MANDIR)/man5/ublkd.conf.5
	rmdir --ignore-fail-on-non-empty $(DESTDIR)$(DOCDIR) 2>/dev/null || true

clean:
	rm -rf build build-san ublkd

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
