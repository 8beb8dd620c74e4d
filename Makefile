# Loft: one build for everything.  See README.md.
#   make            build every binary into build/
#   make run        install what is missing, build, run loftd --dev on loopback
#   make test       install what is missing, build, run every test (then the
#                   unit and integration suites again under ASan+UBSan)
#   make sanitize   the whole test suite under ASan+UBSan (build-san/)
#   make cross      the same binaries for aarch64 (build-aarch64/)
#   make fresh-test the README's commands in a fresh minbase Debian 12 root
#   make deb        Debian packages, amd64 and arm64 (build/deb/)
#   make deb-test   the amd64 .deb installed, upgraded, removed, purged in
#                   a throwaway Debian 12 root; loftd started from its unit
#   make fuzz       libFuzzer targets built with clang, each run briefly
#   make bench      benchmark programs, side by side with Postfix/Dovecot
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

UNIT_SRCS  := $(wildcard tests/unit/test_*.c)
UNIT_BINS  := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
BENCH_SRCS := $(wildcard tests/bench/bench_*.c)
BENCH_BINS := $(BENCH_SRCS:tests/bench/%.c=$(BUILD)/bench/%)
PROG_BINS  := $(addprefix $(BUILD)/,$(PROGS))


.SECONDEXPANSION:

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))

.PHONY: all run test check sanitize cross fresh-test deb deb-test fuzz fuzz-build fuzz-bins bench format deps-run deps-test deps-fuzz clean
.DEFAULT_GOAL := all

all: $(PROG_BINS) $(UNIT_BINS) $(BENCH_BINS)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(LIBLOFT): $(call obj,$(LIB_SRCS))
	@rm -f $@
	$(AR) rcs $@ $^

define PROG_template
$(BUILD)/$(1): $$(call obj,$$($(1)_SRCS)) $(LIBLOFT)
	$$(CC) $$(ALL_LDFLAGS) -o $$@ $$^ $$(LIBS)
endef
$(foreach p,$(PROGS),$(eval $(call PROG_template,$(p))))

# A unit test may test a daemon's own files: test_X_EXTRA := smtpd/parser.c
$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(LIBLOFT) $$(call obj,$$($$*_EXTRA))
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $(filter %.o,$^) $(LIBLOFT) $(LIBS)

$(BUILD)/bench/%: $(BUILD)/obj/tests/bench/%.o $(LIBLOFT)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

deps-run:
	@sh board/deps.sh run
deps-test:
	@sh board/deps.sh test

run: deps-run
	@$(MAKE) --no-print-directory -j$(JOBS) all
	@sh board/dev-run.sh $(BUILD)

# The layering check (tests/layers.py), the plain suite, then the same
# suites under ASan+UBSan, then every fuzz target for FUZZ_TEST_SECONDS on
# its seed corpus (which holds every crash ever found, so each is replayed).
FUZZ_TEST_SECONDS ?= 3
test: deps-test
	@$(MAKE) --no-print-directory -j$(JOBS) all
	@$(PYTHON) tests/layers.py --objects $(BUILD)/obj
	@$(MAKE) --no-print-directory -j$(JOBS) BUILD=build-san SANFLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" CFLAGS="-O1 -g" all
	@$(MAKE) --no-print-directory -j$(JOBS) fuzz-build
	@$(PYTHON) tests/run.py --build $(BUILD) --build build-san --fuzz build-fuzz --fuzz-seconds $(FUZZ_TEST_SECONDS)

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

# Debian packages and the SD-card image (images/README.md).  Not part of
# make test: the image takes most of an hour on 2 cores (emulated arm64).
deb:
	@sh board/deps.sh deb
	@$(MAKE) --no-print-directory -j$(JOBS) $(PROG_BINS)
	@$(MAKE) --no-print-directory cross
	@sh images/deb.sh amd64 $(BUILD) $(PROGS)
	@sh images/deb.sh arm64 build-aarch64 $(PROGS)

deb-test: deb
	@sh board/deps.sh image
	@sh images/deb-test.sh

bench: deps-test
	@sh board/deps.sh bench
	@$(MAKE) --no-print-directory all
	@sh tests/bench/run.sh $(BUILD)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build build-san build-aarch64 build-fuzz

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
