# Loft: one build for everything.  See README.md.
#   make            build every binary into build/
#   make run        install what is missing, build, run loftd --dev on loopback
#   make test       install what is missing, build, run every test (then the
#                   unit and integration suites again under ASan+UBSan)
#   make sanitize   the whole test suite under ASan+UBSan (build-san/)
#   make cross      the same binaries for aarch64 (build-aarch64/)
#   make fresh-test the README's commands in a fresh minbase Debian 12 root
#   make fresh-image-test  make image-test in such a root
#   make deb        Debian packages, amd64 and arm64 (build/deb/)
#   make deb-test   the amd64 .deb installed, upgraded, removed, purged in
#                   a throwaway Debian 12 root; loftd started from its unit
#   make image      the SD-card image build/loft-rpi-arm64.img.xz (as root)
#   make image-test the image booted in qemu-system-aarch64 and used
#   make fuzz       libFuzzer targets built with clang, each run briefly
#   make bench      benchmark programs, side by side with Postfix/Dovecot
#   make static     the build that ships: one static multi-call program
#                   build-static/loft, every program a symlink to it
#   make static-cross  the same for aarch64 (build-static-aarch64/)
#   make static-order  profile the roles again for the static link order
#                   (board/static.order; root, Linux 6.7+)
#   make format     clang-format every C file

BUILD      ?= build
CC         ?= cc
PKG_CONFIG ?= pkg-config
PYTHON     ?= /usr/bin/python3
SANFLAGS   ?=
CFLAGS     ?= -O2 -g
FUZZ_SECONDS ?= 20
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)

PKGS      := sqlite3 libmicrohttpd libcares
WARN      := -Wall -Wextra -Werror -Wformat=2 -Wshadow
PKG_CFLAGS = $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null)
# Debian's mbedTLS 2.28 ships no .pc file
LIBS       = $(PKG_LIBS) -lmbedtls -lmbedx509 -lmbedcrypto -lcrypt -lz -lm
# lib/ in rooms by layer (lib/README.md); headers keep bare names
LIB_ROOMS := core net mail store service
ALL_CFLAGS = -std=c11 -D_GNU_SOURCE $(WARN) $(CFLAGS) $(SANFLAGS) $(addprefix -Ilib/,$(LIB_ROOMS)) \
	$(PKG_CFLAGS) -MMD -MP
ALL_LDFLAGS = $(SANFLAGS) $(LDFLAGS)

LIB_SRCS := $(foreach r,$(LIB_ROOMS),$(wildcard lib/$(r)/*.c))
LIBLOFT  := $(BUILD)/libloft.a

# Each room's build.mk adds its programs: PROGS += name; name_SRCS := ...
PROGS :=
-include board/build.mk smtpd/build.mk imapd/build.mk admin/build.mk

STATIC_PROGS  := $(foreach p,$(PROGS),$(if $(filter no,$($(p)_STATIC)),,$(p)))
DYNAMIC_PROGS := $(filter-out $(STATIC_PROGS),$(PROGS))
# the static program's link order (see STATIC_LDFLAGS below)
STATIC_ORDER  ?= board/static.order

UNIT_SRCS  := $(wildcard tests/unit/test_*.c)
UNIT_BINS  := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
BENCH_SRCS := $(wildcard tests/bench/bench_*.c)
BENCH_BINS := $(BENCH_SRCS:tests/bench/%.c=$(BUILD)/bench/%)
PROG_BINS  := $(addprefix $(BUILD)/,$(PROGS))


.SECONDEXPANSION:

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))

.PHONY: all static static-order static-cross progs static-progs run test check sanitize cross fresh-test fresh-image-test deb deb-test image image-test fuzz fuzz-build fuzz-bins bench format deps-run deps-test deps-fuzz clean
.DEFAULT_GOAL := all

all: $(PROG_BINS) $(UNIT_BINS) $(BENCH_BINS)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(LIBLOFT): $(call obj,$(LIB_SRCS))
	@rm -f $@
	$(AR) rcs $@ $^

# A program's own extra libraries: name_LIBS := -lfoo (in its build.mk);
# the static multi-call program links all of them once.
define DYN_template
$(BUILD)/$(1): $$(call obj,$$($(1)_SRCS)) $(LIBLOFT)
	$$(CC) $$(ALL_LDFLAGS) -o $$@ $$^ $$(LIBS) $$($(1)_LIBS)
endef
ifneq ($(STATIC),1)
$(foreach p,$(PROGS),$(eval $(call DYN_template,$(p))))
else
# The static multi-call build (make static; DESIGN.md "The build that
# ships").  Each program's own objects become one relocatable object
# (ld -r) whose main is renamed <prog>_main and whose every other global is
# made local, so two daemons' same-named globals never clash and no main.c
# needs an edit; BUILD/multi/roles.c, generated from STATIC_PROGS, is the
# role table board/multicall.c dispatches on.  libloft.a is linked once.
# Each program in STATIC_PROGS becomes a symlink to loft.  A program that
# needs a library Debian ships no static archive of says name_STATIC := no
# in its build.mk (with the reason) and stays a dynamic program beside it.
cname = $(subst -,_,$(1))
define PROG_template
$(BUILD)/multi/$(1).o: $$(call obj,$$($(1)_SRCS))
	@mkdir -p $$(dir $$@)
	$$(LD) -r -o $$@.r $$^
	$$(OBJCOPY) --redefine-sym main=$(call cname,$(1))_main $$@.r $$@.m
	$$(OBJCOPY) --keep-global-symbol=$(call cname,$(1))_main $$@.m $$@
	@rm -f $$@.r $$@.m
$(BUILD)/$(1): $(BUILD)/loft
	ln -sfn loft $$@
endef
$(foreach p,$(STATIC_PROGS),$(eval $(call PROG_template,$(p))))
$(foreach p,$(DYNAMIC_PROGS),$(eval $(call DYN_template,$(p))))

$(BUILD)/multi/roles.c: Makefile $(wildcard */build.mk)
	@mkdir -p $(dir $@)
	@{ echo '/* generated by the Makefile from STATIC_PROGS: do not edit */'; \
	  echo '#include "multicall.h"'; \
	  $(foreach p,$(STATIC_PROGS),echo 'int $(call cname,$(p))_main(int argc, char **argv);';) \
	  echo 'const struct loft_role loft_roles[] = {'; \
	  $(foreach p,$(STATIC_PROGS),echo '	{"$(p)", $(call cname,$(p))_main},';) \
	  echo '};'; \
	  echo 'const unsigned loft_nroles = $(words $(STATIC_PROGS));'; } > $@.tmp
	@mv $@.tmp $@
$(BUILD)/multi/roles.o: $(BUILD)/multi/roles.c
	$(CC) $(ALL_CFLAGS) -Iboard -c -o $@ $<

# The link map (loft.map) names every archive a member was taken from:
# images/deb.sh derives the .deb's Built-Using from it.
# (its inputs also go to multi/inputs, for the profiling link below)
$(BUILD)/loft: $(call obj,board/multicall.c) $(BUILD)/multi/roles.o $(STATIC_PROGS:%=$(BUILD)/multi/%.o) $(LIBLOFT) $(STATIC_ORDER)
	@echo $(filter-out $(STATIC_ORDER),$^) $(sort $(foreach p,$(STATIC_PROGS),$($(p)_LIBS))) $(STATIC_LIBS) > $(BUILD)/multi/inputs
	@$(if $(STATIC_LLD),mkdir -p $(BUILD)/lld && ln -sfn $(STATIC_LLD) $(BUILD)/lld/ld.lld)
	$(CC) $(STATIC_LDFLAGS) $(ALL_LDFLAGS) -Wl,--gc-sections -Wl,-Map=$@.map -o $@ $$(cat $(BUILD)/multi/inputs)
# make static-order's profiling link (board/static-profile.ld), lld only
$(BUILD)/prof/loft: $(BUILD)/loft board/static-profile.ld
	@mkdir -p $(dir $@)
	$(CC) -static-pie -fuse-ld=lld -B$(BUILD)/lld/ $(ALL_LDFLAGS) -Wl,--gc-sections -Wl,-T,board/static-profile.ld -o $@ $$(cat $(BUILD)/multi/inputs)
	@for p in $(STATIC_PROGS); do ln -sfn loft $(dir $@)$$p; done
endif

# A unit test may test a daemon's own files: test_X_EXTRA := smtpd/parser.c
$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(LIBLOFT) $$(call obj,$$($$*_EXTRA))
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $(filter %.o,$^) $(LIBLOFT) $(LIBS)

$(BUILD)/bench/%: $(BUILD)/obj/tests/bench/%.o $(LIBLOFT)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

# Debian's own static archives (issue 14); a program needing more adds
# them to STATIC_LIBS in its build.mk.  Static glibc's NSS functions must
# not be needed at run time: users are read from /etc/passwd
# (lib/core/proc.c), DNS goes through c-ares.  The linker still warns
# about dlopen (SQLite's load_extension, never called) and getservbyname
# (c-ares's getaddrinfo, not called).  One run-time tie is left: iconv
# for a charset beyond glibc's built-in ones (lib/mail/mime_decode.c, e.g.
# windows-1252) loads glibc's gconv module with dlopen, so it needs the
# board's glibc to be the one it was linked with (Built-Using).
STATIC_BUILD ?= build-static
STATIC_LIBS  += -lsqlite3 -lmbedtls -lmbedx509 -lmbedcrypto -lcares -lcrypt -lz -lm -lpthread
OBJCOPY      ?= objcopy
STATIC_LDFLAGS ?= -static-pie
# The link order (issue 14): each role's code and read-only data together,
# loft-smtpd's first (board/static.order, a profile made by
# tests/bench/static_order.py: make static-order).  A process maps the
# pages of loft it touches (board/multicall.c: exact faults) or, on a
# kernel before 6.7, those and their fault-around neighbours: in link
# order, a role's functions were spread over the whole 2.9 MB between the
# other roles'.  lld does the ordering (--symbol-ordering-file; GNU ld 2.40
# has none); without lld the link is GNU ld's, unordered.  A symbol the
# profile names that is no longer linked is skipped.
# A cross gcc looks for lld under its target prefix only: BUILD/lld holds
# the link to it that -B points at.
STATIC_LLD := $(shell command -v ld.lld 2>/dev/null)
ifneq ($(STATIC_LLD),)
STATIC_LDFLAGS += -fuse-ld=lld -B$(BUILD)/lld/ -Wl,--symbol-ordering-file=$(STATIC_ORDER) -Wl,--no-warn-symbol-ordering
endif
# the programs, one a line, and those in the static program
# (tests/integration/test_multicall.py)
progs:
	@printf '%s\n' $(PROGS)
static-progs:
	@printf '%s\n' $(STATIC_PROGS)
static:
	@$(MAKE) --no-print-directory BUILD=$(STATIC_BUILD) STATIC=1 \
		CFLAGS="$(CFLAGS) -ffunction-sections -fdata-sections" \
		$(STATIC_BUILD)/loft $(addprefix $(STATIC_BUILD)/,$(PROGS))
# The link order profiled again (as root, Linux 6.7+ and lld, about 30 s;
# dnsmasq and Postfix's smtp-sink play loft-queue's remote MX),
# after a change that moves much code between roles; board/static.order is
# kept in git.  The profile runs a link of the same objects with every
# section on pages of its own (board/static-profile.ld, $(STATIC_BUILD)/prof).
static-order:
	@$(MAKE) --no-print-directory static
	@$(MAKE) --no-print-directory BUILD=$(STATIC_BUILD) STATIC=1 \
		CFLAGS="$(CFLAGS) -ffunction-sections -fdata-sections" $(STATIC_BUILD)/prof/loft
	@$(PYTHON) tests/bench/static_order.py $(STATIC_BUILD)/prof --out $(STATIC_ORDER)
	@$(MAKE) --no-print-directory static

deps-run:
	@sh board/deps.sh run
deps-test:
	@sh board/deps.sh test

run: deps-run
	@$(MAKE) --no-print-directory -j$(JOBS) all
	@sh board/dev-run.sh $(BUILD)

# The layering check (tests/layers.py), the plain suite, then the same
# suites under ASan+UBSan, then a subset on the static build that ships
# (STATIC_TESTS), then every fuzz target for FUZZ_TEST_SECONDS on
# its seed corpus (which holds every crash ever found, so each is replayed).
FUZZ_TEST_SECONDS ?= 3
STATIC_TESTS ?= test_multicall test_smtpd_clients test_smtpd_greeting test_loftctl test_supervisor test_pop3 \
	test_imap_sessions test_queue_smarthost test_netwatch_route
test: deps-test
	@$(MAKE) --no-print-directory -j$(JOBS) all
	@$(PYTHON) tests/layers.py --objects $(BUILD)/obj
	@$(MAKE) --no-print-directory -j$(JOBS) BUILD=build-san SANFLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" CFLAGS="-O1 -g" all
	@$(MAKE) --no-print-directory -j$(JOBS) fuzz-build
	@$(MAKE) --no-print-directory -j$(JOBS) static
	@$(PYTHON) tests/run.py --build $(BUILD) --build build-san --fuzz build-fuzz --fuzz-seconds $(FUZZ_TEST_SECONDS)
	@$(PYTHON) tests/run.py --build $(STATIC_BUILD) $(STATIC_TESTS)

check: all
	@$(PYTHON) tests/layers.py --objects $(BUILD)/obj
	@$(PYTHON) tests/run.py --build $(BUILD)

sanitize: deps-test
	@$(MAKE) --no-print-directory -j$(JOBS) BUILD=build-san SANFLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" CFLAGS="-O1 -g" all
	@$(PYTHON) tests/run.py --build build-san

cross:
	@sh board/deps.sh cross
	@$(MAKE) --no-print-directory BUILD=build-aarch64 CC=aarch64-linux-gnu-gcc AR=aarch64-linux-gnu-ar \
		PKG_CONFIG_PATH= PKG_CONFIG_LIBDIR=/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig \
		$(addprefix build-aarch64/,$(PROGS))
	@file build-aarch64/loftd
	@sh board/cross-smoke.sh build-aarch64

# The build that ships, for the board: the static multi-call program for
# aarch64 (build-static-aarch64/), smoke-tested like make cross.
static-cross:
	@sh board/deps.sh cross
	@$(MAKE) --no-print-directory STATIC_BUILD=build-static-aarch64 CC=aarch64-linux-gnu-gcc \
		AR=aarch64-linux-gnu-ar LD=aarch64-linux-gnu-ld OBJCOPY=aarch64-linux-gnu-objcopy \
		PKG_CONFIG_PATH= PKG_CONFIG_LIBDIR=/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig \
		static
	@file build-static-aarch64/loft
	@sh board/cross-smoke.sh build-static-aarch64

# libFuzzer: lib/ and the parsers built with clang and the fuzzer's
# coverage hooks; each target runs FUZZ_SECONDS on its seed corpus.
# UBSan does not recover here, so undefined behaviour is a crash too.
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
fuzz: deps-fuzz
	@$(MAKE) --no-print-directory -j$(JOBS) fuzz-build
	@sh tests/fuzz/run.sh build-fuzz $(FUZZ_SECONDS)
deps-fuzz:
	@sh board/deps.sh fuzz
fuzz-build:
	@$(MAKE) --no-print-directory BUILD=build-fuzz CC=clang CFLAGS="-O1 -g" \
		SANFLAGS="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined" fuzz-bins

FUZZ_BINS := $(FUZZ_SRCS:tests/fuzz/%.c=$(BUILD)/fuzz/%)
fuzz-bins: $(FUZZ_BINS)
$(BUILD)/fuzz/%: $(BUILD)/obj/tests/fuzz/%.o $(LIBLOFT) $$(call obj,$$($$*_EXTRA))
	@mkdir -p $(dir $@)
	$(CC) -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -o $@ $(filter %.o,$^) $(LIBLOFT) $(LIBS)

# The README's commands in a throwaway minbase Debian 12 root (root only;
# about 20-30 minutes, not part of make test).
fresh-test:
	@sh board/deps.sh fresh
	@sh board/fresh-test.sh

# the same fresh root, then make image-test in it (about 40 minutes)
fresh-image-test:
	@sh board/deps.sh fresh
	@sh board/fresh-test.sh image

# Debian packages and the SD-card image (images/README.md).  Not part of
# make test: the image takes most of an hour on 2 cores (emulated arm64).
# The packages carry the build that ships: the static multi-call program
# (make static), for arm64 built with the cross toolchain of make cross
# into build-static-aarch64/.
deb:
	@sh board/deps.sh deb
	@$(MAKE) --no-print-directory -j$(JOBS) static
	@$(MAKE) --no-print-directory -j$(JOBS) static-cross
	@sh images/deb.sh amd64 $(STATIC_BUILD) $(PROGS)
	@sh images/deb.sh arm64 build-static-aarch64 $(PROGS)

deb-test: deb
	@sh board/deps.sh image
	@sh images/deb-test.sh

image: deb
	@sh board/deps.sh image
	@sh images/image.sh

image-test: image
	@sh images/image-test.sh

bench: deps-test
	@sh board/deps.sh bench
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory static
	@sh tests/bench/run.sh $(BUILD)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build build-san build-aarch64 build-fuzz $(STATIC_BUILD) build-static-aarch64

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
