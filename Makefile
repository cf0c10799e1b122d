# Homeport: one non-recursive Makefile.
#
#   make                  build build/bin/{homeportd,homeport,homeport-edge}
#   make deps             install every build, test and peer dependency (Debian 12)
#   make test [SAN=1]     unit tests, fuzz-corpus replay, integration tests
#   make fuzz [FUZZ_SECONDS=60]   run each libFuzzer target for a while
#   make demo             bring the system up and show it working (make demo-down)
#   make CC=clang         build with clang instead of gcc
#   V=1                   show the commands
#
# SAN=1 builds everything with ASan+UBSan into build/san/ so that it never
# mixes with the normal build. Objects are rebuilt whenever the compiler or
# the flags change (build/.../flags).

.DEFAULT_GOAL := all
SHELL := /bin/bash
# Keep intermediate objects (test and fuzz objects are only prerequisites).
.SECONDARY:

SAN ?= 0
V ?= 0
FUZZ_SECONDS ?= 60
# Debian's python3, which has python3-pytest; not a python3 earlier on PATH.
PYTHON ?= /usr/bin/python3
# libFuzzer needs clang whatever CC is.
FUZZ_CC ?= clang

ifeq ($(V),1)
Q :=
say := @true
else
Q := @
say := @printf '  %-7s %s\n'
endif

# O may be given on the command line to build elsewhere (e.g. O=build/tmp).
ifeq ($(SAN),1)
O ?= build/san
# FORTIFY and ASan check the same things and disagree about some; ASan wins.
MODEFLAGS := -O1 -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FORTIFY := -U_FORTIFY_SOURCE
else
O ?= build
MODEFLAGS := -O2
FORTIFY := -U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=3
endif

# ---- dependencies ---------------------------------------------------------

# Everything a fresh Debian 12 needs: build, tests, real peers. README.md says
# why each is here. Changing this list changes the stamp, so deps run again.
DEBIAN_PACKAGES := \
	build-essential pkg-config clang libclang-rt-14-dev \
	libevent-dev libssl-dev libsodium-dev libsqlite3-dev libmnl-dev \
	libcmocka-dev libunbound-dev libcurl4-openssl-dev dns-root-data \
	python3 python3-pytest python3-dkim \
	openssl minisign wireguard-tools wireguard-go iproute2 nftables \
	postfix knot knot-dnsutils tshark swaks curl dovecot-imapd dovecot-lmtpd \
	isync haproxy nginx libnginx-mod-stream postfix-mta-sts-resolver

DEPS_STAMP := build/.deps-$(shell echo '$(DEBIAN_PACKAGES)' | md5sum | cut -c1-12)

# The npm clients the tests drive (imapflow), pinned by the committed
# tests/clients/package-lock.json and installed by `npm ci` into
# tests/clients/node_modules (ignored by git) whenever the lock changes.
CLIENTS_STAMP := tests/clients/node_modules/.installed
ALL_DEPS := $(DEPS_STAMP) $(CLIENTS_STAMP)

.PHONY: deps
deps: $(ALL_DEPS)

$(DEPS_STAMP):
	@if [ "$$(id -u)" != 0 ]; then echo "make deps: run as root (apt-get install)"; exit 1; fi
	@# Postfix and tshark ask questions on install; answer them: no system
	@# mail configuration (the bench runs its own instances), no capture group.
	printf '%s\n' 'postfix postfix/main_mailer_type select No configuration' \
		'wireshark-common wireshark-common/install-setuid boolean false' | debconf-set-selections
	DEBIAN_FRONTEND=noninteractive apt-get update -q
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $(DEBIAN_PACKAGES)
	@# Node.js and npm from Debian only when there are none: a machine that
	@# came with a newer Node.js (imapflow 2 wants 20 or later) keeps it.
	command -v npm >/dev/null || DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -q --no-install-recommends nodejs npm
	@mkdir -p $(@D) && touch $@

$(CLIENTS_STAMP): tests/clients/package.json tests/clients/package-lock.json | $(DEPS_STAMP)
	npm ci --prefix tests/clients --no-audit --no-fund
	@touch $@

# ---- flags ----------------------------------------------------------------

PKG_MODULES := libevent libevent_openssl openssl libsodium sqlite3 libmnl libunbound libcurl
PKG_CFLAGS := $(shell pkg-config --cflags $(PKG_MODULES) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKG_MODULES) 2>/dev/null)
CMOCKA_LIBS := $(shell pkg-config --libs cmocka 2>/dev/null)

WARN := -Wall -Wextra -Werror -Wshadow -Wpointer-arith -Wstrict-prototypes \
	-Wmissing-prototypes -Wformat=2
CPPFLAGS := -D_GNU_SOURCE $(FORTIFY) -Ishared -Ikeys $(PKG_CFLAGS)
CFLAGS := -std=c11 -g -pthread $(MODEFLAGS) $(WARN) -fstack-protector-strong
LDFLAGS := $(filter -fsanitize=%,$(MODEFLAGS))
LIBS := $(PKG_LIBS) -pthread

# ---- sources --------------------------------------------------------------

SHARED_SRC := $(wildcard shared/*.c)
KEYS_SRC := $(wildcard keys/*.c)
HOME_LIB_SRC := $(filter-out home/main.c home/cli.c,$(wildcard home/*.c))
EDGE_LIB_SRC := $(filter-out edge/main.c,$(wildcard edge/*.c))

obj = $(patsubst %.c,$(O)/obj/%.o,$(1))

# Order matters for static linking: users before what they use.
LIB_HOME := $(O)/lib/libhome.a
LIB_EDGE := $(O)/lib/libedge.a
LIB_KEYS := $(O)/lib/libkeys.a
LIB_SHARED := $(O)/lib/libshared.a
ALL_LIBS := $(LIB_HOME) $(LIB_EDGE) $(LIB_KEYS) $(LIB_SHARED)

BINS := $(O)/bin/homeportd $(O)/bin/homeport $(O)/bin/homeport-edge

UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(O)/tests/unit/%,$(UNIT_SRC))
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
REPLAY_BINS := $(patsubst tests/fuzz/fuzz_%.c,$(O)/tests/fuzz/replay_%,$(FUZZ_SRC))
FUZZ_BINS := $(patsubst tests/fuzz/%.c,build/fuzz/%,$(FUZZ_SRC))
# Small programs the integration tests drive (e.g. wgctl: the bench's WireGuard setup).
TOOL_SRC := $(wildcard tests/tools/*.c)
TOOL_BINS := $(patsubst tests/tools/%.c,$(O)/tests/tools/%,$(TOOL_SRC))

ALL_OBJ := $(call obj,$(SHARED_SRC) $(KEYS_SRC) $(HOME_LIB_SRC) $(EDGE_LIB_SRC) \
	home/main.c home/cli.c edge/main.c $(UNIT_SRC) tests/unit/testutil.c $(FUZZ_SRC) \
	tests/fuzz/replay.c $(TOOL_SRC))

# ---- build ----------------------------------------------------------------

.PHONY: all check-pkgs
all: check-pkgs $(BINS)

check-pkgs:
	@pkg-config --exists $(PKG_MODULES) || \
		{ echo "missing libraries ($(PKG_MODULES)): run 'make deps' as root"; exit 1; }

FLAGS_STAMP := $(O)/flags
FLAGS_TEXT := $(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS)
.PHONY: FORCE
$(FLAGS_STAMP): FORCE
	@mkdir -p $(@D)
	@echo '$(FLAGS_TEXT)' | cmp -s - $@ || echo '$(FLAGS_TEXT)' > $@

$(O)/obj/%.o: %.c $(FLAGS_STAMP)
	$(say) CC $<
	@mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) -MMD -MP $(CFLAGS) -c -o $@ $<

MEMBERS_libshared := $(call obj,$(SHARED_SRC))
MEMBERS_libkeys := $(call obj,$(KEYS_SRC))
MEMBERS_libhome := $(call obj,$(HOME_LIB_SRC))
MEMBERS_libedge := $(call obj,$(EDGE_LIB_SRC))

# Each archive's member list, rewritten only when it changes: an archive is
# made again when a source file moves or goes (home/dns.c into shared/ left
# its object in libhome.a: two definitions at link time), not only when an
# object is newer.
$(O)/lib/%.members: FORCE
	@mkdir -p $(@D)
	@echo '$(MEMBERS_$*)' | cmp -s - $@ || echo '$(MEMBERS_$*)' > $@

$(LIB_SHARED): $(MEMBERS_libshared) $(O)/lib/libshared.members
$(LIB_KEYS): $(MEMBERS_libkeys) $(O)/lib/libkeys.members
$(LIB_HOME): $(MEMBERS_libhome) $(O)/lib/libhome.members
$(LIB_EDGE): $(MEMBERS_libedge) $(O)/lib/libedge.members
$(O)/lib/%.a:
	$(say) AR $@
	@mkdir -p $(@D)
	$(Q)rm -f $@ && ar rcs $@ $(filter %.o,$^)

$(O)/bin/homeportd: $(call obj,home/main.c) $(ALL_LIBS)
$(O)/bin/homeport: $(call obj,home/cli.c) $(ALL_LIBS)
$(O)/bin/homeport-edge: $(call obj,edge/main.c) $(ALL_LIBS)
$(BINS):
	$(say) LD $@
	@mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) -o $@ $(filter %.o,$^) $(ALL_LIBS) $(LIBS)

UNIT_UTIL_OBJ := $(O)/obj/tests/unit/testutil.o
$(O)/tests/unit/%: $(O)/obj/tests/unit/%.o $(UNIT_UTIL_OBJ) $(ALL_LIBS)
	$(say) LD $@
	@mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) -o $@ $< $(UNIT_UTIL_OBJ) $(ALL_LIBS) $(LIBS) $(CMOCKA_LIBS)

$(O)/tests/tools/%: $(O)/obj/tests/tools/%.o $(ALL_LIBS)
	$(say) LD $@
	@mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) -o $@ $< $(ALL_LIBS) $(LIBS)

# Corpus replay: the fuzz target with a plain main(), built like everything else.
$(O)/tests/fuzz/replay_%: $(O)/obj/tests/fuzz/fuzz_%.o $(O)/obj/tests/fuzz/replay.o $(ALL_LIBS)
	$(say) LD $@
	@mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) -o $@ $(filter %.o,$^) $(ALL_LIBS) $(LIBS)

-include $(ALL_OBJ:.o=.d)

# ---- libFuzzer (clang, ASan+UBSan, always under build/fuzz) ---------------

FUZZ_FLAGS := -g -O1 -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_LIB_OBJ := $(patsubst %.c,build/fuzz/obj/%.o,$(SHARED_SRC) $(KEYS_SRC) $(HOME_LIB_SRC) $(EDGE_LIB_SRC))

build/fuzz/obj/%.o: %.c
	$(say) FUZZCC $<
	@mkdir -p $(@D)
	$(Q)$(FUZZ_CC) -D_GNU_SOURCE -Ishared -Ikeys $(PKG_CFLAGS) -MMD -MP -std=c11 $(WARN) \
		$(FUZZ_FLAGS) -c -o $@ $<

build/fuzz/fuzz_%: build/fuzz/obj/tests/fuzz/fuzz_%.o $(FUZZ_LIB_OBJ)
	$(say) LD $@
	$(Q)$(FUZZ_CC) -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -o $@ $^ $(LIBS)

-include $(FUZZ_LIB_OBJ:.o=.d)

.PHONY: fuzz
fuzz: $(DEPS_STAMP)
	$(Q)$(MAKE) --no-print-directory $(FUZZ_BINS)
	$(Q)tests/fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_BINS)

# ---- tests ----------------------------------------------------------------

.PHONY: test test-run
test: $(ALL_DEPS)
	$(Q)$(MAKE) --no-print-directory test-run

test-run: all $(UNIT_BINS) $(REPLAY_BINS) $(TOOL_BINS)
	$(Q)tests/run.sh "$(O)" "$(PYTHON)"

# ---- the network bench, by hand ------------------------------------------

.PHONY: bench-up bench-down
bench-up: $(DEPS_STAMP)
	$(Q)$(MAKE) --no-print-directory all $(TOOL_BINS)
	$(Q)cd tests/integration && $(PYTHON) bench_cli.py up "$(CURDIR)/$(O)"

bench-down:
	$(Q)cd tests/integration && $(PYTHON) bench_cli.py down

# ---- the relay benchmark on loopback (docs/benchmarks.md) ------------------

# homeport-edge against HAProxy, nginx stream and no relay, as root: 4 to 10 minutes.
# (store_bench is the store's own and links the libraries: bench-store below.)
BENCH_SRC := $(filter-out tests/bench/store_bench.c,$(wildcard tests/bench/*.c))
BENCH_BINS := $(patsubst tests/bench/%.c,$(O)/tests/bench/%,$(BENCH_SRC))

$(O)/tests/bench/%: $(O)/obj/tests/bench/%.o
	$(say) LD $@
	@mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) -o $@ $<

$(O)/tests/bench/store_bench: $(O)/obj/tests/bench/store_bench.o $(ALL_LIBS)
	$(say) LD $@
	@mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) -o $@ $< $(ALL_LIBS) $(LIBS)

-include $(patsubst %.c,$(O)/obj/%.d,$(BENCH_SRC) tests/bench/store_bench.c)

.PHONY: bench-edge
bench-edge: $(DEPS_STAMP)
	$(Q)$(MAKE) --no-print-directory check-pkgs $(O)/bin/homeport-edge $(BENCH_BINS)
	$(Q)$(PYTHON) tests/bench/edge_bench.py "$(CURDIR)/$(O)"

# homeportd against Postfix delivering through LMTP into Dovecot, as root:
# smtp-source, 2,000 messages of 4 KiB over 20 sessions, 5 rounds; 2 to 4 minutes.
.PHONY: bench-smtp
bench-smtp: $(DEPS_STAMP)
	$(Q)$(MAKE) --no-print-directory all
	$(Q)$(PYTHON) tests/bench/smtp_bench.py "$(CURDIR)/$(O)"

# homeportd's IMAP server against Dovecot, the same 10,000 messages in INBOX,
# as root: FETCH envelopes first and warm, SEARCH TEXT, all bodies, memory
# with 50 IDLE sessions; about 2 minutes a round. BENCH_IMAP_ARGS passes
# options (e.g. --only dovecot, --rounds 3) to tests/bench/imap_bench.py.
.PHONY: bench-imap
bench-imap: $(ALL_DEPS)
	$(Q)$(MAKE) --no-print-directory all
	$(Q)$(PYTHON) tests/bench/imap_bench.py "$(CURDIR)/$(O)" $(BENCH_IMAP_ARGS)

# The store alone, in one process (docs/store.md, "Measured"): deliveries
# (each commit fsyncs) and searches, in a fresh directory under $(O).
.PHONY: bench-store
bench-store: check-pkgs $(O)/tests/bench/store_bench
	$(Q)rm -rf $(O)/bench-store && mkdir -p $(O)/bench-store/deliver $(O)/bench-store/search
	$(Q)$(O)/tests/bench/store_bench deliver $(O)/bench-store/deliver 2000 4096
	$(Q)$(O)/tests/bench/store_bench search $(O)/bench-store/search 10000 4096

# ---- demo -----------------------------------------------------------------

# Relay mode on a bench of namespaces, set up with the product's commands;
# it stays up until make demo-down (tests/demo.py).
.PHONY: demo demo-down
demo: $(DEPS_STAMP)
	$(Q)$(MAKE) --no-print-directory all
	$(Q)/usr/bin/python3 tests/demo.py up "$(O)"

demo-down:
	$(Q)/usr/bin/python3 tests/demo.py down

# ---- housekeeping ---------------------------------------------------------

.PHONY: clean
clean:
	rm -rf build/obj build/lib build/bin build/tests build/flags build/san build/fuzz/obj
