# procctl — plain make.  `make help` lists the targets: `make`, `make test`,
# `make check`, `make run`, `make install PREFIX=/usr DESTDIR=...`,
# `make dist`, `make deps` (Debian packages).

# Where `make install` puts things.  Every path is under PREFIX unless
# given, the configuration too: /etc only for PREFIX=/usr.  DESTDIR is
# prepended to each when writing (a staging tree for a package), never
# to what the installed files name.
PREFIX	?= /usr/local
BINDIR	?= $(PREFIX)/bin
LIBDIR	?= $(PREFIX)/lib
PLUGINDIR ?= $(LIBDIR)/procctl/plugins
CTLDIR	?= $(LIBDIR)/procctl/ctl
INCDIR	?= $(PREFIX)/include
ifeq ($(PREFIX),/usr)
SYSCONFDIR ?= /etc
else
SYSCONFDIR ?= $(PREFIX)/etc
endif
DATADIR	?= $(PREFIX)/share
MANDIR	?= $(DATADIR)/man
UNITDIR	?= $(PREFIX)/lib/systemd/system
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
BASHCOMPDIR ?= $(DATADIR)/bash-completion/completions
ZSHCOMPDIR ?= $(DATADIR)/zsh/site-functions

CC	?= cc
PKG_CONFIG ?= pkg-config
PYTHON	?= /usr/bin/python3
BUILD	?= build
SAN	?=
OPT	?= -O2

WARN	= -Wall -Wextra -Werror -Wshadow -Wpointer-arith -Wstrict-prototypes \
	  -Wmissing-prototypes -Wno-unused-parameter
CFLAGS	?= $(OPT) -g
ALL_CFLAGS = -std=c17 -D_GNU_SOURCE $(WARN) $(CFLAGS) $(SAN) \
	  -Iinclude -Icommon -Idaemon -Imonitor -Iplugins/arith \
	  -fstack-protector-strong
LDFLAGS	+= $(SAN)

INIH_CFLAGS := $(shell $(PKG_CONFIG) --cflags inih 2>/dev/null)
INIH_LIBS   := $(shell $(PKG_CONFIG) --libs inih 2>/dev/null || echo -linih)
GMP_CFLAGS  := $(shell $(PKG_CONFIG) --cflags gmp 2>/dev/null)
GMP_LIBS    := $(shell $(PKG_CONFIG) --libs gmp 2>/dev/null || echo -lgmp)
RL_CFLAGS   := $(shell $(PKG_CONFIG) --cflags readline 2>/dev/null)
RL_LIBS     := $(shell $(PKG_CONFIG) --libs readline 2>/dev/null || echo -lreadline)
SSL_CFLAGS  := $(shell $(PKG_CONFIG) --cflags openssl 2>/dev/null)
SSL_LIBS    := $(shell $(PKG_CONFIG) --libs openssl 2>/dev/null || echo -lssl -lcrypto)
SD_CFLAGS   := $(shell $(PKG_CONFIG) --cflags libsystemd 2>/dev/null)
SD_LIBS     := $(shell $(PKG_CONFIG) --libs libsystemd 2>/dev/null || echo -lsystemd)
CRYPT_LIBS  := $(shell $(PKG_CONFIG) --libs libxcrypt 2>/dev/null || echo -lcrypt)
MHD_CFLAGS  := $(shell $(PKG_CONFIG) --cflags libmicrohttpd 2>/dev/null)
MHD_LIBS    := $(shell $(PKG_CONFIG) --libs libmicrohttpd 2>/dev/null || echo -lmicrohttpd)

COMMON_SRC = common/buf.c common/resp.c common/respvalue.c common/paths.c
# The log's queue and escaping: the daemon's two processes, not procctl.
LOG_SRC    = common/logq.c common/escape.c common/rotate.c
DAEMON_SRC = daemon/main.c daemon/reload.c daemon/log.c daemon/loop.c daemon/config.c daemon/confread.c daemon/auth.c \
	     daemon/access.c daemon/transport.c daemon/tls.c daemon/listen.c \
	     daemon/conn.c daemon/session.c daemon/dispatch.c daemon/plugin.c \
	     daemon/command.c daemon/args.c daemon/reply.c daemon/children.c \
	     daemon/output.c daemon/logfile.c daemon/journal.c \
	     daemon/slots.c daemon/authtry.c daemon/stats.c daemon/expo.c \
	     daemon/metrics.c daemon/promhttp.c daemon/promsnap.c
MONITOR_SRC = monitor/monitor.c monitor/msg.c monitor/server.c monitor/spawn.c monitor/cgroup.c monitor/state.c monitor/ready.c \
	      monitor/sdnotify.c
CTL_SRC    = ctl/main.c ctl/client.c ctl/render.c ctl/shell.c ctl/term.c \
	     ctl/target.c ctl/module.c ctl/cmdinfo.c ctl/complete.c ctl/help.c \
	     ctl/link.c ctl/compgen.c common/duration.c
PROC_SRC   = plugins/proc/proc.c plugins/proc/run.c plugins/proc/list.c \
	     plugins/proc/program.c plugins/proc/progconf.c plugins/proc/progcmd.c \
	     plugins/proc/progreload.c plugins/proc/progadhoc.c \
	     plugins/proc/handover.c plugins/proc/bytes.c \
	     plugins/proc/logs.c plugins/proc/history.c \
	     plugins/proc/procmetrics.c common/duration.c
ARITH_SRC  = plugins/arith/arith.c plugins/arith/decimal.c

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))
pic = $(patsubst %.c,$(BUILD)/pic/%.o,$(1))

BINS	= $(BUILD)/procctld $(BUILD)/procctl
PLUGINS	= $(BUILD)/plugins/proc.so $(BUILD)/plugins/arith.so
UNIT	= $(BUILD)/tests/test_resp $(BUILD)/tests/test_decimal \
	  $(BUILD)/tests/test_config $(BUILD)/tests/test_loop \
	  $(BUILD)/tests/test_args $(BUILD)/tests/test_reply \
	  $(BUILD)/tests/test_monitor $(BUILD)/tests/test_files \
	  $(BUILD)/tests/test_logq $(BUILD)/tests/test_expo \
	  $(BUILD)/tests/test_duration

.PHONY: all test unit integration check run install uninstall deps clean \
	dist help fuzz fuzz-build bench need-build-deps need-test-deps \
	auto-deps deb-test deb-test-systemd
all: $(BINS) $(PLUGINS) ## build procctld, procctl and the plugins (in BUILD, default build/)

$(BUILD)/obj/%.o: %.c | need-build-deps
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(INIH_CFLAGS) $(RL_CFLAGS) $(SSL_CFLAGS) $(SD_CFLAGS) -MMD -MP \
	    -c -o $@ $<

$(BUILD)/pic/%.o: %.c | need-build-deps
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(GMP_CFLAGS) -fPIC -fvisibility=hidden -MMD -MP \
	    -c -o $@ $<

# The installed directories the binaries search are compiled in.  An
# object compiled for other values must not survive a change of PREFIX:
# $(DIRS_STAMP) holds the values and is rewritten only when they change,
# and the objects that use them depend on it.
DIRS_STAMP = $(BUILD)/gen/dirs
$(DIRS_STAMP): FORCE
	@mkdir -p $(dir $@)
	@printf 'PLUGINDIR=%s\nCTLDIR=%s\n' '$(PLUGINDIR)' '$(CTLDIR)' > $@.tmp
	@if cmp -s $@.tmp $@; then rm -f $@.tmp; else mv $@.tmp $@; fi
.PHONY: FORCE
FORCE:

$(BUILD)/obj/daemon/main.o: ALL_CFLAGS += -DPROCCTL_PLUGIN_DIR='"$(PLUGINDIR)"'
$(BUILD)/obj/daemon/main.o $(BUILD)/obj/ctl/module.o: $(DIRS_STAMP)

$(BUILD)/procctld: $(call obj,$(DAEMON_SRC) $(MONITOR_SRC) $(COMMON_SRC) $(LOG_SRC))
	$(CC) $(LDFLAGS) -pthread -o $@ $^ $(INIH_LIBS) $(SSL_LIBS) $(SD_LIBS) \
	    $(CRYPT_LIBS) $(MHD_LIBS) -ldl -lm

# procctl links only libc; TLS and line editing are modules it loads when
# used (ctl/module.c): beside it in a build tree, from CTLDIR installed.
CTL_MODS = $(BUILD)/ctl/tls.so $(BUILD)/ctl/edit.so
$(BUILD)/procctl: $(call obj,$(CTL_SRC) $(COMMON_SRC) common/escape.c) | $(CTL_MODS)
	$(CC) $(LDFLAGS) -o $@ $^

$(BUILD)/obj/ctl/module.o: ALL_CFLAGS += -DPROCCTL_CTL_DIR='"$(CTLDIR)"'
# Only its include path: its feature macros are not the daemon's.
$(BUILD)/obj/daemon/promhttp.o: ALL_CFLAGS += $(filter -I%,$(MHD_CFLAGS))
$(BUILD)/pic/ctl/tls.o: ALL_CFLAGS += $(SSL_CFLAGS)
$(BUILD)/pic/ctl/edit.o: ALL_CFLAGS += $(RL_CFLAGS)

$(BUILD)/ctl/tls.so: $(call pic,ctl/tls.c)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -shared -Wl,-z,defs -o $@ $^ $(SSL_LIBS)

$(BUILD)/ctl/edit.so: $(call pic,ctl/edit.c)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -shared -Wl,-z,defs -o $@ $^ $(RL_LIBS)

$(BUILD)/plugins/proc.so: $(call pic,$(PROC_SRC))
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -shared -o $@ $^

$(BUILD)/plugins/arith.so: $(call pic,$(ARITH_SRC))
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -shared -o $@ $^ $(GMP_LIBS)

# ---- tests ----
$(BUILD)/tests/test_resp: $(call obj,tests/unit/test_resp.c $(COMMON_SRC))
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^

$(BUILD)/tests/test_decimal: $(call pic,tests/unit/test_decimal.c plugins/arith/decimal.c)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(GMP_LIBS)

$(BUILD)/tests/test_config: $(call obj,tests/unit/test_config.c daemon/config.c daemon/confread.c daemon/access.c daemon/log.c $(COMMON_SRC) $(LOG_SRC))
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(INIH_LIBS)

$(BUILD)/tests/test_args: $(call obj,tests/unit/test_args.c daemon/args.c daemon/command.c daemon/reply.c daemon/log.c $(COMMON_SRC) $(LOG_SRC))
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^

$(BUILD)/tests/test_reply: $(call obj,tests/unit/test_reply.c daemon/reply.c daemon/log.c $(COMMON_SRC) $(LOG_SRC))
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^

# The Prometheus text format, and the verbatim reply that carries it.
$(BUILD)/tests/test_expo: $(call obj,tests/unit/test_expo.c daemon/expo.c daemon/log.c $(COMMON_SRC) $(LOG_SRC))
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ -lm

$(BUILD)/tests/test_duration: $(call obj,tests/unit/test_duration.c common/duration.c)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^

# The log's escaping, and its queue on a pipe nobody reads.
$(BUILD)/tests/test_logq: $(call obj,tests/unit/test_logq.c $(LOG_SRC))
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^

# MON_FILES records as the server reads them.
$(BUILD)/tests/test_files: $(call obj,tests/unit/test_files.c daemon/children.c daemon/stats.c daemon/output.c daemon/logfile.c daemon/journal.c daemon/loop.c daemon/log.c $(COMMON_SRC) $(LOG_SRC))
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -pthread -o $@ $^ $(SD_LIBS)

# The monitor on its own, driven through its message set (root: it
# creates cgroups and users' processes).
$(BUILD)/tests/test_monitor: $(call obj,tests/unit/test_monitor.c $(MONITOR_SRC) common/buf.c $(LOG_SRC))
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(SD_LIBS)

# The loop's clock and sleep are simulated (see tests/unit/test_loop.c).
$(BUILD)/tests/test_loop: $(call obj,tests/unit/test_loop.c daemon/loop.c daemon/log.c $(COMMON_SRC) $(LOG_SRC))
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -Wl,--wrap=clock_gettime -Wl,--wrap=epoll_wait \
	    -Wl,--wrap=epoll_pwait -o $@ $^

# Also: the daemon's calls go one way, read from its object files.
unit: $(UNIT) $(BUILD)/procctld ## the C unit tests
	@set -e; for t in $(UNIT); do echo "== $$t"; $$t tests/unit; done
	@sh tests/unit/layers.sh $(BUILD)/obj

integration: all need-test-deps ## the integration tests (pytest; PYTEST_ARGS)
	cd tests/integration && PROCCTL_BUILD=$(abspath $(BUILD)) \
	    PROCCTL_SANITIZED=$(PROCCTL_SANITIZED) \
	    $(PYTHON) -m pytest -q -p no:cacheprovider $(PYTEST_ARGS) .

test: unit integration ## unit and integration tests

# The same tests, every binary and plugin under ASan and UBSan.
check: ## the tests with everything under ASan and UBSan
	$(MAKE) BUILD=build-san OPT=-O1 \
	    SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
	    PROCCTL_SANITIZED=1 test

# ---- fuzzing (clang, libFuzzer) ----
# Each target runs FUZZ_SECONDS (default 60) from its seeds in
# tests/fuzz/corpus/TARGET, growing a corpus in $(BUILD)/fuzz/corpus/TARGET
# (kept between runs).  FUZZ_TARGETS="reply config" runs some of them;
# `make fuzz-build` only builds them.  docs/hacking.md says more.
FUZZ_CC	?= clang
FUZZ_TARGETS ?= resp reply config decimal
FUZZ_FLAGS = -std=c17 -D_GNU_SOURCE -g -O1 $(WARN) -Iinclude -Icommon \
	  -Idaemon -Imonitor -Ictl -Iplugins/arith \
	  -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
FUZZ_BIN = $(patsubst %,$(BUILD)/fuzz/fuzz_%,$(FUZZ_TARGETS))
FUZZ_SRC_resp	= common/resp.c common/respvalue.c common/buf.c
FUZZ_SRC_reply	= ctl/render.c ctl/help.c ctl/cmdinfo.c ctl/client.c \
	  ctl/module.c ctl/target.c common/resp.c common/respvalue.c \
	  common/buf.c \
	  common/paths.c common/escape.c common/duration.c
FUZZ_SRC_config	= daemon/config.c daemon/confread.c daemon/access.c \
	  daemon/log.c $(COMMON_SRC) $(LOG_SRC)
FUZZ_SRC_decimal = plugins/arith/decimal.c
FUZZ_LIBS_config = $(INIH_LIBS)
FUZZ_LIBS_decimal = $(GMP_LIBS)
# The config loader logs every line it reads on stderr: closed (the
# crash reports still come).
FUZZ_RUN_config	= -close_fd_mask=2

fuzz-build: $(FUZZ_BIN) ## build the fuzz targets only (clang)

$(BUILD)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(wildcard common/*.c common/*.h \
	    ctl/*.c ctl/*.h daemon/*.c daemon/*.h plugins/arith/*.[ch])
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) $(INIH_CFLAGS) $(GMP_CFLAGS) -o $@ $< \
	    $(FUZZ_SRC_$*) $(FUZZ_LIBS_$*)

fuzz: $(FUZZ_BIN) ## run each fuzz target FUZZ_SECONDS (60) from its seeds (clang)
	@set -e; for t in $(FUZZ_TARGETS); do \
	    mkdir -p $(BUILD)/fuzz/corpus/$$t; \
	    echo "== fuzz_$$t: $${FUZZ_SECONDS:-60}s"; \
	    case $$t in config) extra="$(FUZZ_RUN_config)";; *) extra=;; esac; \
	    $(BUILD)/fuzz/fuzz_$$t -max_total_time=$${FUZZ_SECONDS:-60} \
	        -max_len=4096 -timeout=10 -print_final_stats=1 \
	        -artifact_prefix=$(BUILD)/fuzz/$$t- $$extra \
	        $(BUILD)/fuzz/corpus/$$t tests/fuzz/corpus/$$t; \
	done

# Benchmarks (bench/README.md, docs/performance.md): a full run takes
# about 5 minutes.  BENCH_ARGS="--only rtt,oneshot" for some figures.
# redis-server is the pipelined baseline, redis-benchmark the client.
BENCH_PACKAGES = redis-server redis-tools openssl
.PHONY: need-bench-deps
bench: all need-bench-deps ## benchmarks (bench/README.md)
	$(PYTHON) bench/bench.py --build $(BUILD) $(BENCH_ARGS)
need-bench-deps:
	@command -v redis-server >/dev/null 2>&1 && \
	    command -v redis-benchmark >/dev/null 2>&1 && \
	    command -v openssl >/dev/null 2>&1 || \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "make: installing missing bench packages: $(BENCH_PACKAGES)"; \
	    apt-get update && DEBIAN_FRONTEND=noninteractive \
	        apt-get install -y $(BENCH_PACKAGES); \
	else \
	    echo "make bench: missing packages; run: sudo apt-get install $(BENCH_PACKAGES)" >&2; \
	    exit 1; \
	fi

# ---- running and installing ----
run: all ## start procctld in the foreground with etc/procctld.ini
	@echo "procctld: starting in the foreground with etc/procctld.ini (Ctrl-C stops it)"
	@echo "talk to it:  $(BUILD)/procctl help   |   redis-cli -s <socket shown below> ping"
	$(BUILD)/procctld -c etc/procctld.ini

# What install writes, each file once: uninstall removes these.  The
# configuration is the exception, as a package manager's conffile: an
# existing one is kept (the new sample goes beside it, .sample), and
# uninstall removes it only if it is still the one install wrote.
VERSION	:= $(shell sed -n 's/^\#define PROCCTLD_VERSION[^"]*"\(.*\)"/\1/p' daemon/procctld.h)
CONF	= $(SYSCONFDIR)/procctl/procctld.ini
INST_FILES = $(BINDIR)/procctld $(BINDIR)/procctl \
	$(PLUGINDIR)/proc.so $(PLUGINDIR)/arith.so \
	$(CTLDIR)/tls.so $(CTLDIR)/edit.so \
	$(INCDIR)/procctl/plugin.h \
	$(MANDIR)/man1/procctl.1 $(MANDIR)/man8/procctld.8 \
	$(UNITDIR)/procctld.service $(UNITDIR)/procctld.socket \
	$(PKGCONFIGDIR)/procctl-plugin.pc \
	$(BASHCOMPDIR)/procctl $(ZSHCOMPDIR)/_procctl
# Directories that are procctl's own: removed by uninstall when empty.
INST_DIRS = $(PLUGINDIR) $(CTLDIR) $(LIBDIR)/procctl $(INCDIR)/procctl \
	$(SYSCONFDIR)/procctl

# The files install writes that are made from templates, with the
# installed paths in them.
$(BUILD)/inst/procctld.ini: etc/procctld.ini $(DIRS_STAMP)
	@mkdir -p $(dir $@)
	sed 's|^plugin_dir = .*|plugin_dir = $(PLUGINDIR)|' etc/procctld.ini > $@
$(BUILD)/inst/procctld.service: etc/procctld.service.in $(DIRS_STAMP) \
    $(BUILD)/gen/instpaths
	@mkdir -p $(dir $@)
	sed -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
	    etc/procctld.service.in > $@
# The socket unit listens where a root procctld does by default.
SYSTEM_SOCKET := $(shell sed -n 's/^\#define PROCCTL_SYSTEM_SOCKET[^"]*"\(.*\)"/\1/p' common/paths.h)
$(BUILD)/inst/procctld.socket: etc/procctld.socket.in common/paths.h
	@mkdir -p $(dir $@)
	sed -e 's|@SOCKET@|$(SYSTEM_SOCKET)|g' etc/procctld.socket.in > $@
# For plugin authors: `pkg-config --cflags procctl-plugin` and
# --variable=plugindir (examples/hello/).
$(BUILD)/inst/procctl-plugin.pc: etc/procctl-plugin.pc.in $(DIRS_STAMP) \
    $(BUILD)/gen/instpaths
	@mkdir -p $(dir $@)
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@INCDIR@|$(INCDIR)|g' \
	    -e 's|@PLUGINDIR@|$(PLUGINDIR)|g' -e 's|@VERSION@|$(VERSION)|g' \
	    etc/procctl-plugin.pc.in > $@
$(BUILD)/gen/instpaths: FORCE
	@mkdir -p $(dir $@)
	@printf 'BINDIR=%s\nSYSCONFDIR=%s\nPREFIX=%s\nINCDIR=%s\nVERSION=%s\n' \
	    '$(BINDIR)' '$(SYSCONFDIR)' '$(PREFIX)' '$(INCDIR)' '$(VERSION)' > $@.tmp
	@if cmp -s $@.tmp $@; then rm -f $@.tmp; else mv $@.tmp $@; fi
INST_GEN = $(BUILD)/inst/procctld.ini $(BUILD)/inst/procctld.service \
	$(BUILD)/inst/procctld.socket $(BUILD)/inst/procctl-plugin.pc

install: all $(INST_GEN) ## install under PREFIX (/usr/local), DESTDIR for a staging tree
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(PLUGINDIR) \
	    $(DESTDIR)$(CTLDIR) $(DESTDIR)$(INCDIR)/procctl \
	    $(DESTDIR)$(SYSCONFDIR)/procctl $(DESTDIR)$(MANDIR)/man1 \
	    $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(UNITDIR) \
	    $(DESTDIR)$(PKGCONFIGDIR) $(DESTDIR)$(BASHCOMPDIR) \
	    $(DESTDIR)$(ZSHCOMPDIR)
	install -m 0755 $(BUILD)/procctld $(BUILD)/procctl $(DESTDIR)$(BINDIR)
	install -m 0755 $(PLUGINS) $(DESTDIR)$(PLUGINDIR)
	install -m 0755 $(CTL_MODS) $(DESTDIR)$(CTLDIR)
	install -m 0644 include/procctl/plugin.h $(DESTDIR)$(INCDIR)/procctl
	install -m 0644 docs/procctl.1 $(DESTDIR)$(MANDIR)/man1
	install -m 0644 docs/procctld.8 $(DESTDIR)$(MANDIR)/man8
	install -m 0644 $(BUILD)/inst/procctld.service \
	    $(BUILD)/inst/procctld.socket $(DESTDIR)$(UNITDIR)
	install -m 0644 $(BUILD)/inst/procctl-plugin.pc $(DESTDIR)$(PKGCONFIGDIR)
	install -m 0644 etc/completion/procctl.bash $(DESTDIR)$(BASHCOMPDIR)/procctl
	install -m 0644 etc/completion/_procctl $(DESTDIR)$(ZSHCOMPDIR)/_procctl
	@if [ ! -e $(DESTDIR)$(CONF) ]; then \
	    echo "install -m 0644 $(BUILD)/inst/procctld.ini $(DESTDIR)$(CONF)"; \
	    install -m 0644 $(BUILD)/inst/procctld.ini $(DESTDIR)$(CONF); \
	elif ! cmp -s $(BUILD)/inst/procctld.ini $(DESTDIR)$(CONF); then \
	    install -m 0644 $(BUILD)/inst/procctld.ini $(DESTDIR)$(CONF).sample; \
	    echo "make install: kept $(DESTDIR)$(CONF) as it is; the new" \
	        "sample is $(DESTDIR)$(CONF).sample"; \
	fi

uninstall: ## remove what install wrote (a configuration you changed stays)
	rm -f $(addprefix $(DESTDIR),$(INST_FILES)) $(DESTDIR)$(CONF).sample
	@if [ -e $(DESTDIR)$(CONF) ]; then \
	    sed 's|^plugin_dir = .*|plugin_dir = $(PLUGINDIR)|' \
	        etc/procctld.ini | cmp -s - $(DESTDIR)$(CONF) && \
	    { echo "rm -f $(DESTDIR)$(CONF)"; rm -f $(DESTDIR)$(CONF); } || \
	    echo "make uninstall: kept $(DESTDIR)$(CONF): it was changed"; \
	fi
	-@for d in $(addprefix $(DESTDIR),$(INST_DIRS)); do \
	    [ -d $$d ] && rmdir $$d 2>/dev/null; done; true

# A release: the committed tree (HEAD), as procctl-VERSION/.
DISTDIR	?= $(BUILD)
dist: ## a release tarball of HEAD: BUILD/procctl-VERSION.tar.gz
	@mkdir -p $(DISTDIR)
	git archive --format=tar.gz --prefix=procctl-$(VERSION)/ \
	    -o $(DISTDIR)/procctl-$(VERSION).tar.gz HEAD
	@echo "$(DISTDIR)/procctl-$(VERSION).tar.gz"

# The Debian package end to end (root; installs into /usr, then purges):
# tests/package/deb-test.sh says what it does.
deb-test: ## build the .deb packages, install, use, upgrade and purge them (root)
	bash tests/package/deb-test.sh
# The same in a container booted with this machine's systemd (an overlay
# of /: the machine is not changed); skipped where none can be booted.
deb-test-systemd: ## deb-test under a real systemd, in a container (root)
	bash tests/package/systemd-test.sh

help: ## this list
	@echo "make TARGET [PREFIX=/usr/local] [DESTDIR=] [BUILD=build]"
	@sed -n 's/^\([a-z-]*\):.*## \(.*\)/\1\t\2/p' $(firstword $(MAKEFILE_LIST)) | \
	    awk -F '\t' '{ printf "  %-12s %s\n", $$1, $$2 }'

# Debian packages to build and test (see README.md for why each).
DEB_PACKAGES = build-essential pkg-config libinih-dev libgmp-dev \
	libreadline-dev libssl-dev libsystemd-dev libcrypt-dev \
	libmicrohttpd-dev openssl python3 python3-pytest \
	python3-prometheus-client redis-tools tmux passwd util-linux strace \
	systemd zsh socat debhelper dpkg-dev fakeroot adduser \
	systemd-container attr
deps: ## apt-get install the Debian packages to build and test
	apt-get update
	DEBIAN_FRONTEND=noninteractive apt-get install -y $(DEB_PACKAGES)

# On a fresh machine `make run` and `make test` install what is missing
# (as root, with apt-get), and say which packages first; otherwise they
# say what to do.
need-build-deps:
	@command -v $(CC) >/dev/null 2>&1 && \
	    $(PKG_CONFIG) --exists inih gmp readline openssl libsystemd \
	    libxcrypt libmicrohttpd \
	    2>/dev/null || \
	    $(MAKE) --no-print-directory auto-deps
need-test-deps:
	@command -v redis-cli >/dev/null 2>&1 && \
	    command -v tmux >/dev/null 2>&1 && \
	    command -v openssl >/dev/null 2>&1 && \
	    command -v zsh >/dev/null 2>&1 && \
	    command -v socat >/dev/null 2>&1 && \
	    $(PYTHON) -c 'import pytest' >/dev/null 2>&1 || \
	    $(MAKE) --no-print-directory auto-deps
# The packages of DEB_PACKAGES that dpkg does not have installed.
auto-deps:
	@missing=$$(for p in $(DEB_PACKAGES); do \
	    dpkg-query -W -f='$${Status}' $$p 2>/dev/null | \
	    grep -q 'ok installed' || printf '%s ' $$p; done); \
	missing=$${missing% }; \
	if [ -z "$$missing" ]; then \
	    echo "make: a build or test tool is missing, yet every Debian" \
	        "package listed is installed: see README.md, Dependencies" >&2; \
	    exit 1; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "make: installing missing Debian packages with apt-get:" \
	        "$$missing"; \
	    apt-get update && DEBIAN_FRONTEND=noninteractive \
	        apt-get install -y $$missing; \
	else \
	    echo "make: missing Debian packages: $$missing; run: sudo make" \
	        "deps" >&2; \
	    exit 1; \
	fi

clean: ## remove build and build-san
	rm -rf build build-san

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
