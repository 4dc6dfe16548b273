# onionmx: make builds the library and tools; make check runs every test;
# make demo shows a delivery; make check SAN=1 runs the tests against an
# ASan+UBSan build kept apart in build/san.

CC      ?= gcc
# The user's CFLAGS, CPPFLAGS and LDFLAGS are honoured and come last; the
# warnings, the hardening and the project's own flags are kept whatever they say.
CFLAGS  ?= -O2 -g
WARN    := -Wall -Wextra -Werror
OMX_CPPFLAGS := -D_GNU_SOURCE -Ishim -Itools -Itests

# Hardened by default, as Debian builds its packages (dpkg-buildflags): the
# library is installed setuid and loaded into setuid Exim. HARDEN=0 builds
# without (make bench compares the two). Each flag only where the compiler has
# it; _FORTIFY_SOURCE=3 where it has __builtin_dynamic_object_size (GCC 12),
# and only with optimisation (glibc warns without, and warnings are errors)
# unless the user's flags set a level of their own. RELRO, but lazy binding:
# -z now would bind every import at every process start (README, Performance).
HARDEN  ?= 1
cc_has   = $(shell $(CC) -Werror $(1) -x c -c -o /dev/null /dev/null 2>/dev/null && echo $(1))
ifeq ($(HARDEN),1)
FORTIFY_LEVEL := $(shell printf 'int main(void){char b[4];return (int)__builtin_dynamic_object_size(b,0);}' | \
	$(CC) -O2 -Werror -x c -o /dev/null - 2>/dev/null && echo 3 || echo 2)
HARDEN_CFLAGS := -fstack-protector-strong $(call cc_has,-fstack-clash-protection) \
	$(or $(call cc_has,-fcf-protection),$(call cc_has,-mbranch-protection=standard))
HARDEN_CPPFLAGS = $(if $(findstring _FORTIFY_SOURCE,$(CPPFLAGS) $(CFLAGS)),,$(if \
	$(filter-out -O0,$(lastword $(filter -O%,$(CFLAGS)))),-U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=$(FORTIFY_LEVEL)))
HARDEN_LDFLAGS := -Wl,-z,relro
endif
ALLFLAGS = -std=gnu11 -fPIC $(WARN) $(HARDEN_CFLAGS) $(OMX_CPPFLAGS) $(HARDEN_CPPFLAGS) $(CPPFLAGS) \
	$(CFLAGS) $(SANFLAGS)
LINKFLAGS = $(HARDEN_LDFLAGS) $(LDSAN) $(LDFLAGS)

# The library goes where ld.so loads a bare LD_PRELOAD name in secure mode: its
# multiarch directory (/usr/lib/x86_64-linux-gnu, /usr/lib/aarch64-linux-gnu)
# named by the compiler, else by dpkg-architecture; without multiarch,
# /usr/lib64 or /usr/lib as the compiler's library directory says.
PREFIX  ?= /usr/local
MULTIARCH ?= $(or $(shell $(CC) -print-multiarch 2>/dev/null),$(shell \
	dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null))
LIBDIR  ?= $(if $(MULTIARCH),/usr/lib/$(MULTIARCH),/usr/$(notdir $(or $(shell \
	$(CC) -print-multi-os-directory 2>/dev/null),lib)))
OMX_CPPFLAGS += -DOMX_MULTIARCH='"$(MULTIARCH)"'

ifeq ($(SAN),1)
O       ?= build/san
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDSAN   := -fsanitize=address,undefined
else
O       ?= .
endif

CDB_PIC := $(shell $(CC) -print-file-name=libcdb_pic.a)

CORE_SRC := sha3 ed25519 onion dns socks5 config map log answer srv srv_lookup cache sockaddr addrinfo libdir stats host tor route health search shared_file
LIB_SRC  := $(CORE_SRC) real state discover hook_resolv hook_netdb hook_socket hook_dns hook_exec
TOOL_SRC := $(CORE_SRC) map_compile map_unbound map_yml host_libc

OBJDIR   := $(O)/obj
LIB      := $(O)/shim/libonionmx.so
TOOLS    := $(O)/tools/onionmx $(O)/tools/onionmx-map $(O)/tools/onionmx-check $(O)/tools/onionmx-stats
UNIT     := $(patsubst tests/unit/%.c,$(O)/tests/unit/%,$(wildcard tests/unit/test_*.c))
HELPERS  := $(patsubst tests/helpers/%.c,$(O)/tests/helpers/%,$(filter-out tests/helpers/server_common.c,$(wildcard tests/helpers/*.c)))

all: $(LIB) $(TOOLS)

$(OBJDIR)/%.o: shim/%.c shim/*.h Makefile
	@mkdir -p $(@D)
	$(CC) $(ALLFLAGS) -c $< -o $@

$(OBJDIR)/tools/%.o: tools/%.c tools/*.h shim/*.h Makefile
	@mkdir -p $(@D)
	$(CC) $(ALLFLAGS) -DONIONMX_LIBRARY='"$(LIBDIR)/libonionmx.so"' -c $< -o $@

# The static PIC tinycdb goes inside the library; the version script keeps it
# (and everything but the hooks) private.
$(LIB): $(LIB_SRC:%=$(OBJDIR)/%.o) shim/libonionmx.map shim/libonionmx.ld
	@mkdir -p $(@D)
	$(CC) -shared $(LINKFLAGS) -Wl,--version-script=shim/libonionmx.map -Wl,-T,shim/libonionmx.ld \
		-Wl,-soname,libonionmx.so -o $@ $(LIB_SRC:%=$(OBJDIR)/%.o) $(CDB_PIC) -ldl -lpthread

$(O)/tools/%: $(OBJDIR)/tools/%.o $(TOOL_SRC:%=$(OBJDIR)/%.o)
	@mkdir -p $(@D)
	$(CC) $(LINKFLAGS) -o $@ $^ $(CDB_PIC)

# onionmx-check asks DNS itself (MX and SRV): it alone needs libresolv.
$(O)/tools/onionmx-check: $(OBJDIR)/tools/onionmx-check.o $(OBJDIR)/tools/check_route.o \
		$(OBJDIR)/tools/check_publish.o $(OBJDIR)/tools/check_mx.o \
		$(OBJDIR)/tools/check_mta.o $(OBJDIR)/tools/check_health.o $(TOOL_SRC:%=$(OBJDIR)/%.o)
	@mkdir -p $(@D)
	$(CC) $(LINKFLAGS) -o $@ $^ $(CDB_PIC) -lresolv

# test_check_mta tests the rules of onionmx-check --mta (tools/check_mta.c).
$(O)/tests/unit/test_check_mta: $(OBJDIR)/tools/check_mta.o

$(O)/tests/unit/%: tests/unit/%.c tests/tap.h tests/unit/dns_pkt.h $(TOOL_SRC:%=$(OBJDIR)/%.o)
	@mkdir -p $(@D)
	$(CC) $(ALLFLAGS) -Itools $(LINKFLAGS) -o $@ $< $(filter %.o,$^) $(CDB_PIC) -lresolv

# A helper named NAME.so.c is a library to preload (tests/helpers/dlsym_spy.so.c).
$(O)/tests/helpers/%.so: tests/helpers/%.so.c
	@mkdir -p $(@D)
	$(CC) $(ALLFLAGS) -shared -o $@ $< -ldl

$(O)/tests/helpers/%: tests/helpers/%.c shim/*.h $(TOOL_SRC:%=$(OBJDIR)/%.o)
	@mkdir -p $(@D)
	$(CC) $(ALLFLAGS) $(LINKFLAGS) -o $@ $< $(TOOL_SRC:%=$(OBJDIR)/%.o) $(CDB_PIC) -lresolv

# The test servers share their plumbing (tests/helpers/server_common.h).
SERVERS := $(O)/tests/helpers/fake_socks $(O)/tests/helpers/smtp_sink
$(SERVERS): $(O)/tests/helpers/%: tests/helpers/%.c tests/helpers/server_common.c tests/helpers/server_common.h
	@mkdir -p $(@D)
	$(CC) $(ALLFLAGS) $(LINKFLAGS) -o $@ $< tests/helpers/server_common.c

tests: all $(UNIT) $(HELPERS)

deps:
	@sh tests/deps.sh

check: deps
	$(MAKE) tests
	O=$(O) SAN=$(SAN) bash tests/run.sh

demo: deps
	$(MAKE) all tests
	bash tests/demo.sh

# The README's client table, from the results of the tests that print
# "# matrix:" rows (tests/matrix_table.sh); they fail while README differs.
MATRIX_TESTS ?= resolver_matrix.sh hostwide.sh
readme-table: tests
	@rm -f $(OBJDIR)/matrix.log
	@st=0; for t in $(MATRIX_TESTS); do \
		OMX_MATRIX_UPDATE=1 O=$(O) SAN=$(SAN) bash tests/run.sh $$t >>$(OBJDIR)/matrix.log || st=1; done; \
	bash tests/matrix_table.sh update README $(OBJDIR)/matrix.log; \
	[ $$st = 0 ] || { echo "some checks failed: see $(OBJDIR)/matrix.log" >&2; exit 1; }

# Install: the library goes where ld.so loads a bare LD_PRELOAD name from even
# in secure mode (setuid programs such as Exim's exim4), with the setuid bit it
# requires there; see README, "Security". Config and map are kept if present.
SYSCONFDIR ?= /etc
LOCALSTATEDIR ?= /var
MANDIR     ?= $(PREFIX)/share/man
UNITDIR    ?= /etc/systemd/system

install: all
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/sbin \
		$(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(SYSCONFDIR)/onionmx \
		$(DESTDIR)$(UNITDIR)/postfix@.service.d $(DESTDIR)$(UNITDIR)/exim4.service.d \
		$(DESTDIR)$(UNITDIR)/opensmtpd.service.d
	# The discovery cache (discover = srv) and the delivery statistics and the Tor health (several Tors in socks) live here: root's, like the map.
	install -d -m 755 $(DESTDIR)$(LOCALSTATEDIR)/lib/onionmx
	install -m 4755 $(LIB) $(DESTDIR)$(LIBDIR)/libonionmx.so
	install -m 755 $(O)/tools/onionmx $(DESTDIR)$(PREFIX)/bin/onionmx
	install -m 755 $(O)/tools/onionmx-map $(DESTDIR)$(PREFIX)/sbin/onionmx-map
	install -m 755 $(O)/tools/onionmx-check $(DESTDIR)$(PREFIX)/sbin/onionmx-check
	install -m 755 $(O)/tools/onionmx-stats $(DESTDIR)$(PREFIX)/sbin/onionmx-stats
	install -m 644 tools/man/onionmx.8 tools/man/onionmx-map.8 tools/man/onionmx-check.8 \
		tools/man/onionmx-stats.8 $(DESTDIR)$(MANDIR)/man8/
	install -m 644 tools/man/onionmx.conf.5 $(DESTDIR)$(MANDIR)/man5/
	install -m 644 tools/systemd/postfix@.service.d-onionmx.conf \
		$(DESTDIR)$(UNITDIR)/postfix@.service.d/onionmx.conf
	install -m 644 tools/systemd/exim4.service.d-onionmx.conf \
		$(DESTDIR)$(UNITDIR)/exim4.service.d/onionmx.conf
	# The host-wide layer (README): installed, not enabled.
	sed 's|@SBINDIR@|$(PREFIX)/sbin|' tools/systemd/onionmx-unbound.service \
		>$(DESTDIR)$(UNITDIR)/onionmx-unbound.service
	install -m 644 tools/systemd/onionmx-unbound.path tools/systemd/onionmx-route.service \
		$(DESTDIR)$(UNITDIR)/
	install -m 644 tools/systemd/opensmtpd.service.d-onionmx.conf \
		$(DESTDIR)$(UNITDIR)/opensmtpd.service.d/onionmx.conf
	test -e $(DESTDIR)$(SYSCONFDIR)/onionmx/onionmx.conf || \
		install -m 644 onionmx.conf.example $(DESTDIR)$(SYSCONFDIR)/onionmx/onionmx.conf
	test -e $(DESTDIR)$(SYSCONFDIR)/onionmx/domains || \
		install -m 644 tools/domains.example $(DESTDIR)$(SYSCONFDIR)/onionmx/domains
	test -e $(DESTDIR)$(SYSCONFDIR)/onionmx/domains.cdb || \
		$(O)/tools/onionmx-map $(DESTDIR)$(SYSCONFDIR)/onionmx/domains >/dev/null

# Takes back what install wrote; config and map only if unchanged from the
# examples (an operator's own are left, with a note).
uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/libonionmx.so $(DESTDIR)$(PREFIX)/bin/onionmx \
		$(DESTDIR)$(PREFIX)/sbin/onionmx-map $(DESTDIR)$(PREFIX)/sbin/onionmx-check \
		$(DESTDIR)$(PREFIX)/sbin/onionmx-stats $(DESTDIR)$(MANDIR)/man8/onionmx-stats.8 \
		$(DESTDIR)$(MANDIR)/man8/onionmx.8 $(DESTDIR)$(MANDIR)/man8/onionmx-check.8 \
		$(DESTDIR)$(MANDIR)/man8/onionmx-map.8 $(DESTDIR)$(MANDIR)/man5/onionmx.conf.5 \
		$(DESTDIR)$(UNITDIR)/postfix@.service.d/onionmx.conf \
		$(DESTDIR)$(UNITDIR)/exim4.service.d/onionmx.conf \
		$(DESTDIR)$(UNITDIR)/onionmx-unbound.service $(DESTDIR)$(UNITDIR)/onionmx-unbound.path \
		$(DESTDIR)$(UNITDIR)/onionmx-route.service \
		$(DESTDIR)$(UNITDIR)/opensmtpd.service.d/onionmx.conf
	-rmdir $(DESTDIR)$(UNITDIR)/postfix@.service.d $(DESTDIR)$(UNITDIR)/exim4.service.d \
		$(DESTDIR)$(UNITDIR)/opensmtpd.service.d 2>/dev/null
	cmp -s onionmx.conf.example $(DESTDIR)$(SYSCONFDIR)/onionmx/onionmx.conf && \
		rm -f $(DESTDIR)$(SYSCONFDIR)/onionmx/onionmx.conf || true
	cmp -s tools/domains.example $(DESTDIR)$(SYSCONFDIR)/onionmx/domains && \
		rm -f $(DESTDIR)$(SYSCONFDIR)/onionmx/domains $(DESTDIR)$(SYSCONFDIR)/onionmx/domains.cdb || true
	rm -f $(DESTDIR)$(LOCALSTATEDIR)/lib/onionmx/discovery.cache $(DESTDIR)$(LOCALSTATEDIR)/lib/onionmx/stats \
		$(DESTDIR)$(LOCALSTATEDIR)/lib/onionmx/tor.health
	-rmdir $(DESTDIR)$(LOCALSTATEDIR)/lib/onionmx 2>/dev/null
	-rmdir $(DESTDIR)$(SYSCONFDIR)/onionmx 2>/dev/null || \
		echo "onionmx: kept $(DESTDIR)$(SYSCONFDIR)/onionmx (your configuration or map)"

clean:
	rm -rf obj build shim/*.so tools/onionmx tools/onionmx-map tools/onionmx-check tools/onionmx-stats \
		$(UNIT) $(HELPERS)

# make deb: a Debian binary package, onionmx_VERSION_ARCH.deb (tools/deb/build.sh).
deb:
	sh tools/deb/build.sh

# Where make install puts the library (the tests install it there, in overlays).
print-libdir:
	@echo '$(LIBDIR)'

.PHONY: all tests deps check demo clean install uninstall print-libdir readme-table deb
.SECONDARY:

# ---- Benchmarks, fuzzing, threads-and-fork stress (tests/bench, tests/fuzz, tests/stress) ----
# make bench:   onionmx beside torsocks 2.4, proxychains-ng 4.16 and no library,
#               in a private network namespace (installs the two when missing),
#               and Debian's Postfix delivering through it (tests/bench/mta.sh)
# make fuzz:    every libFuzzer target for FUZZ_SECONDS (60) each; fuzz-ci: 15 s each
# make stress:  16 threads resolving/connecting and forking, against a
#               ThreadSanitizer build of the library kept apart in build/tsan
BENCH_DIR    := build/bench
BENCH_BIN    := $(BENCH_DIR)/responder $(BENCH_DIR)/client $(BENCH_DIR)/spawn $(BENCH_DIR)/keycheck
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_DIR     := build/fuzz
FUZZ_FLAGS   := -g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined \
		-fno-sanitize-recover=undefined -Wall -Wextra -D_GNU_SOURCE -Ishim
FUZZ_TARGETS := $(patsubst tests/fuzz/%.c,$(FUZZ_DIR)/%,$(wildcard tests/fuzz/fuzz_*.c))
TSAN_O       := build/tsan
TSAN_FLAGS   := -O1 -g -fsanitize=thread -fno-omit-frame-pointer

$(BENCH_DIR)/%: tests/bench/%.c tests/bench/addr.h Makefile
	@mkdir -p $(@D)
	$(CC) -std=gnu11 -O2 -g $(WARN) -D_GNU_SOURCE -o $@ $< -lresolv

$(BENCH_DIR)/keycheck: tests/bench/keycheck.c $(OBJDIR)/ed25519.o $(OBJDIR)/sha3.o Makefile
	@mkdir -p $(@D)
	$(CC) -std=gnu11 -O2 -g $(WARN) -D_GNU_SOURCE -Ishim -o $@ $< $(OBJDIR)/ed25519.o $(OBJDIR)/sha3.o

# The hardening's cost: the same library built HARDEN=0, measured beside it.
bench: all tests $(BENCH_BIN)
	$(MAKE) O=$(BENCH_DIR)/unhardened HARDEN=0 $(BENCH_DIR)/unhardened/shim/libonionmx.so
	bash tests/bench/bench.sh

$(FUZZ_DIR)/obj/%.o: shim/%.c shim/*.h Makefile
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(FUZZ_DIR)/obj/tools/%.o: tools/%.c tools/*.h shim/*.h Makefile
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_FLAGS) -Itools -fsanitize=fuzzer-no-link -c $< -o $@

$(FUZZ_DIR)/fuzz_%: tests/fuzz/fuzz_%.c $(CORE_SRC:%=$(FUZZ_DIR)/obj/%.o)
	$(FUZZ_CC) $(FUZZ_FLAGS) -Itools -fsanitize=fuzzer -o $@ $^ $(CDB_PIC) -lresolv

# onionmx-check's MX reading lives in the tool, not the library's core.
$(FUZZ_DIR)/fuzz_mx_reply: $(FUZZ_DIR)/obj/tools/check_mx.o
# map.yml is read by onionmx-map only.
$(FUZZ_DIR)/fuzz_map_yml: $(FUZZ_DIR)/obj/map_yml.o

fuzz: $(FUZZ_TARGETS)
	bash tests/fuzz/run.sh $(FUZZ_SECONDS)

fuzz-ci: $(FUZZ_TARGETS)
	bash tests/fuzz/run.sh 15

$(TSAN_O)/tests/stress/threads: tests/stress/threads.c Makefile
	@mkdir -p $(@D)
	$(CC) -std=gnu11 $(TSAN_FLAGS) $(WARN) -D_GNU_SOURCE -o $@ $< -lresolv -lpthread

$(TSAN_O)/tests/stress/popen_threads: tests/helpers/popen_threads.c Makefile
	@mkdir -p $(@D)
	$(CC) -std=gnu11 $(TSAN_FLAGS) $(WARN) -D_GNU_SOURCE -o $@ $< -lpthread

stress: all tests $(TSAN_O)/tests/stress/threads $(TSAN_O)/tests/stress/popen_threads
	$(MAKE) O=$(TSAN_O) CFLAGS="$(TSAN_FLAGS)" LDSAN=-fsanitize=thread $(TSAN_O)/shim/libonionmx.so
	TSAN_O=$(TSAN_O) bash tests/stress/run.sh

.PHONY: bench fuzz fuzz-ci stress
# ---- end of bench / fuzz / stress ----
