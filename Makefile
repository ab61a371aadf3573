# husk: build, demo, tests, conformance and benchmarks.
# Everything a fresh Debian 12 machine needs is installed here (as root, with apt-get).

CARGO      ?= cargo
PROFILE    ?= release
HUSK       := target/$(PROFILE)/husk
DEMO       := target/demo
APT_PKGS   := busybox-static libseccomp-dev pkg-config runc crun iproute2 gcc strace containerd qemu-system-x86 cpio kmod xz-utils criu uidmap protobuf-compiler
# The LSM guests (conformance/vm/test-lsm.sh) use the host's AppArmor and SELinux tools.
APT_PKGS   += apparmor apparmor-utils selinux-policy-default policycoreutils selinux-utils jq
# make install-test: the man pages, bash completion and the RuntimeClass example.
APT_PKGS   += python3-yaml man-db bash-completion
# The end-to-end suite's managers and CNI plugins (make e2e; make install-test uses
# dockerd and podman too).
E2E_PKGS   := containernetworking-plugins docker.io podman
export DEBIAN_FRONTEND := noninteractive

.PHONY: all deps deps-e2e build launcher shim demo test test-unit test-oldkernels test-integration conformance e2e bench stress clean fmt lint

all: build

# Install only what is missing; `apt-get update` once when something is.
deps:
	@missing=""; for p in $(APT_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; apt-get update -qq && apt-get install -y -qq $$missing >/dev/null; \
	fi
	@command -v $(CARGO) >/dev/null || { echo "cargo not found: install a Rust toolchain"; exit 1; }

deps-e2e: deps
	@missing=""; for p in $(E2E_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; apt-get update -qq && apt-get install -y -qq $$missing >/dev/null; \
	fi

# Static builds (the husk CLI as `make build` leaves it in target/release, and the
# shim): no dynamic loader, no libc.so/libseccomp.so pages and no symbol lookups in
# every process; still position-independent (static-pie, so ASLR stays), with the
# relative relocations packed (DT_RELR: a few KiB to read at start-up instead of
# ~0.4 MiB). Built for the host triple so the static flag reaches neither build
# scripts nor proc-macros.
HOST_TRIPLE    := $(shell rustc -vV 2>/dev/null | sed -n 's/^host: //p')
STATIC_RUSTFLAGS := -C target-feature=+crt-static -C link-arg=-Wl,-z,pack-relative-relocs
STATIC_ENV     := RUSTFLAGS="$(STATIC_RUSTFLAGS)" LIBSECCOMP_LINK_TYPE=static LIBSECCOMP_LIB_PATH=/usr/lib/$$(gcc -dumpmachine)
SHIM           := target/$(HOST_TRIPLE)/shim/containerd-shim-husk-v2
# The husk CLI's hot functions first in its text (runtime-cli/link/symbol-order.txt,
# made by runtime-cli/link/profile.sh from a profile of this same build): a command
# then faults in a few 64 KiB windows of code instead of pages all over 4.7 MiB.
# The flag must not change between the profiled build and the next (the symbol
# names carry a hash of the build's flags).
ORDER_FILE     := runtime-cli/link/symbol-order.txt
CLI_RUSTFLAGS  := $(STATIC_RUSTFLAGS) -C link-arg=-Wl,--symbol-ordering-file=$(ORDER_FILE) -C link-arg=-Wl,--no-warn-symbol-ordering
CLI_ENV        := RUSTFLAGS="$(CLI_RUSTFLAGS)" LIBSECCOMP_LINK_TYPE=static LIBSECCOMP_LIB_PATH=/usr/lib/$$(gcc -dumpmachine)

# Everything in release mode, then the husk CLI again, static, over target/release/husk
# (docs/benchmarks.md: the peak RSS of `create` and of the container init), and the
# launcher.
build: deps
	$(CARGO) build --release --workspace
	$(CLI_ENV) $(CARGO) build --release --target $(HOST_TRIPLE) -p husk-cli
	install -s -m 0755 target/$(HOST_TRIPLE)/release/husk target/release/husk
	$(MAKE) --no-print-directory launcher

# The `husk` command as installed on x86_64 (runtime-cli/launcher): a few KiB without
# libc that exec the CLI's immutable CVE-2019-5736 copy when there is one, else the CLI
# at ../libexec/husk/husk, so a command starts the CLI once instead of twice. A cargo
# workspace of its own (panic=abort in every profile). Elsewhere the CLI is bin/husk.
LAUNCHER_DIR := runtime-cli/launcher
LAUNCHER     ?= $(if $(filter x86_64-%,$(HOST_TRIPLE)),target/launcher/release/husk-launcher)
launcher:
ifneq ($(LAUNCHER),)
	cd $(LAUNCHER_DIR) && $(CARGO) build --release --target-dir $(abspath target/launcher)
endif

# The shim as installed: size-optimised and static.
shim: deps
	$(STATIC_ENV) $(CARGO) build --profile shim --target $(HOST_TRIPLE) -p containerd-shim-husk-v2
	@echo "built $(SHIM)"

# Builds a busybox bundle and runs a container that shows it is isolated.
demo: build
	@rm -rf $(DEMO) && mkdir -p $(DEMO)/rootfs/bin $(DEMO)/rootfs/proc $(DEMO)/rootfs/sys $(DEMO)/rootfs/dev $(DEMO)/rootfs/etc $(DEMO)/rootfs/tmp
	@cp /bin/busybox $(DEMO)/rootfs/bin/busybox
	@for a in $$(/bin/busybox --list); do [ "$$a" = busybox ] || ln -sf busybox $(DEMO)/rootfs/bin/$$a; done
	@echo 'root:x:0:0:root:/root:/bin/sh' > $(DEMO)/rootfs/etc/passwd; echo 'root:x:0:' > $(DEMO)/rootfs/etc/group
	@cd $(DEMO) && ../../$(HUSK) spec
	@python3 -c 'import json,sys; p="$(DEMO)/config.json"; c=json.load(open(p)); c["process"]["terminal"]=False; \
	c["process"]["args"]=["sh","-c","echo \"hostname: $$(hostname)\"; echo \"my pid: $$$$\"; echo \"PID 1: $$(cat /proc/1/comm)\"; echo \"processes I can see:\"; ps; echo \"mounts:\"; cat /proc/self/mounts"]; \
	json.dump(c,open(p,"w"),indent=2)'
	@echo "--- husk run demo-$$$$ (bundle $(DEMO)) ---"
	@$(HUSK) --root /run/husk run --bundle $(DEMO) demo-$$$$

# Every test: unit tests (pure logic) and the root-only integration suites, then the
# library's docs (no warnings) and `cargo package -p husk` (the crate as published builds).
test: deps deps-e2e launcher
	$(CARGO) build --workspace --all-targets
	$(CARGO) test --workspace -- --test-threads=4
	cd $(LAUNCHER_DIR) && $(CARGO) test --release --target-dir $(abspath target/launcher)
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc -p husk --no-deps
	$(CARGO) package -p husk --allow-dirty
	$(MAKE) --no-print-directory test-oldkernels
	V2_RUNTIMES=husk bash conformance/vm/test-v2.sh target/debug/husk
	SD_RUNTIMES=husk bash conformance/vm/test-systemd.sh target/debug/husk
	LSM_RUNTIMES=husk bash conformance/vm/test-lsm.sh target/debug/husk
	CRIU_RUNTIMES=husk CRIU_CONTAINERD=0 CRIU_PODMAN=0 bash conformance/vm/test-criu.sh target/debug/husk
	$(MAKE) --no-print-directory install-test

# The create/run/exec/mount/security suites again with husk under an emulated old
# kernel (`husk-conformance oldkernel`: ENOSYS for newer syscalls, EINVAL/ENOTTY for
# newer flags), so the fallbacks are what runs: Ubuntu 20.04's 5.4, RHEL 8's 4.18.
OLDKERNEL_TESTS := lifecycle run rootfs process security exec exec_lifecycle
OLDKERNEL_PROFILES := 5.4 4.18
test-oldkernels:
	$(CARGO) build -p husk-conformance -p husk-cli
	for k in $(OLDKERNEL_PROFILES); do \
	  for t in $(OLDKERNEL_TESTS); do \
	    HUSK_TEST_KERNEL=$$k $(CARGO) test -p husk-cli --test $$t -- --test-threads=4 || exit 1; \
	  done; \
	done

CONFORMANCE := target/$(PROFILE)/husk-conformance
RUNTIME_FLAGS := --runtime husk=$(HUSK) --runtime runc=/usr/sbin/runc --runtime crun=/usr/bin/crun

# End to end through the managers: containerd's CRI (the husk shim, containerd's runc shim
# running husk, and runc), docker and podman, each with a private root. husk only by
# default; RUNTIMES="husk runc" side by side. Prints `N passed, M failed`.
E2E      := target/$(PROFILE)/husk-e2e
RUNTIMES ?= husk
e2e: deps-e2e build
	$(E2E) --runtimes "$(RUNTIMES)" --husk $(HUSK) --shim target/$(PROFILE)/containerd-shim-husk-v2 --markdown target/e2e.md

# Side by side: the scenario suite (husk, runc, crun), the OCI validation suite (husk, runc),
# the cgroup-v2 and systemd guest test sets (husk, runc, crun), the checkpoint/restore
# guest test set (husk, runc), rootless on this host and in the systemd guest
# (husk, runc, crun; podman with each), and the end-to-end suite (husk, runc).
conformance: deps deps-e2e build
	$(CONFORMANCE) run $(RUNTIME_FLAGS) --markdown target/conformance-scenarios.md
	bash conformance/oci-validation/setup.sh
	bash conformance/oci-validation/compare.sh husk=$(HUSK) runc=/usr/sbin/runc
	V2_RUNTIMES="husk runc crun" bash conformance/vm/test-v2.sh $(HUSK)
	SD_RUNTIMES="husk runc crun" bash conformance/vm/test-systemd.sh $(HUSK)
	LSM_RUNTIMES="husk runc" LSM_CONTAINERD=1 LSM_DOCKER=1 bash conformance/vm/test-lsm.sh $(HUSK)
	CRIU_RUNTIMES="husk runc" bash conformance/vm/test-criu.sh $(HUSK)
	bash conformance/rootless-host.sh $(HUSK)
	RL_RUNTIMES="husk runc crun" bash conformance/vm/test-rootless.sh $(HUSK)
	$(E2E) --runtimes "husk runc" --husk $(HUSK) --shim target/$(PROFILE)/containerd-shim-husk-v2 --markdown target/e2e.md

# Benchmarks of husk, runc and crun in one interleaved run; writes docs/benchmarks.md.
# husk as `make install` lays it out (the launcher, the CLI in libexec), in target/bench-prefix.
# Then the shim against containerd's runc shim (memory, ctr run latency): docs/shim-benchmarks.md.
BENCH_PREFIX := $(abspath target/bench-prefix)
bench: deps build shim
	$(MAKE) --no-print-directory install-bin PREFIX=$(BENCH_PREFIX)
	$(CONFORMANCE) bench --runtime husk=$(BENCH_PREFIX)/bin/husk --runtime runc=/usr/sbin/runc --runtime crun=/usr/bin/crun --write-docs docs/benchmarks.md
	SHIM_BENCH_MD=docs/shim-benchmarks.md HUSK_CLI=$(BENCH_PREFIX)/bin/husk bash shim/bench/run.sh $(abspath $(SHIM)) 10 30

# Reliability under load (issue 14), husk and runc side by side: 2000 lifecycle and
# 2000 create/delete --force cycles with leak counts, 100 parallel creates, 50
# commands racing on one id, 500 execs 20 at a time, the hostile configs, the fault
# suite (killed at every step), the longer fuzz run and 50 containers under containerd
# with the husk shim (then containerd's runc shim), every shim SIGKILLed (shim_load). Fails when husk leaks or
# misbehaves; `make test` runs a bounded subset (conformance/tests/stress_subset.rs).
STRESS_RUNC_CYCLES ?= 500
stress: deps build
	$(CONFORMANCE) stress --runtime husk=$(HUSK) --runtime runc=/usr/sbin/runc --other-cycles $(STRESS_RUNC_CYCLES)
	$(CARGO) test -p husk-cli --test faults -- --test-threads=1
	HUSK_FUZZ_CASES=20000 $(CARGO) test -p husk --lib fuzz -- --test-threads=2
	HUSK_FUZZ_CASES=20000 $(CARGO) test -p containerd-shim-husk-v2 --bin containerd-shim-husk-v2 fuzz
	HUSK_SHIM_LOAD_N=50 $(CARGO) test -p containerd-shim-husk-v2 --test shim_load -- --nocapture
	HUSK_SHIM_LOAD_N=50 HUSK_SHIM_LOAD_RUNTIME=io.containerd.runc.v2 $(CARGO) test -p containerd-shim-husk-v2 --test shim_load -- --nocapture

fmt:
	$(CARGO) fmt --all
	cd $(LAUNCHER_DIR) && $(CARGO) fmt

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	cd $(LAUNCHER_DIR) && $(CARGO) fmt -- --check && $(CARGO) clippy --target-dir $(abspath target/launcher) -- -D warnings && \
		$(CARGO) clippy --lib --tests --target-dir $(abspath target/launcher) -- -D warnings

clean:
	$(CARGO) clean
	rm -rf $(DEMO)

# ---- Installing: `make install` / `make uninstall` (PREFIX, DESTDIR), `make deb` ----
# The husk binary, the static shim (as `make shim` builds it), man pages and shell
# completions generated from the CLI's own definition, docs and operator examples.
# Nothing under /etc is written: configuring docker, podman or containerd stays the
# operator's choice (docs/examples show how).
.PHONY: install install-files install-bin uninstall man deb deb-package deb-deps deb-test install-test docs docs-deps

PREFIX      ?= /usr/local
BINDIR      ?= $(PREFIX)/bin
# With the launcher, the CLI itself: where the launcher looks, next to BINDIR.
CLIDIR      := $(patsubst %/,%,$(dir $(BINDIR)))/libexec/husk
DATADIR     ?= $(PREFIX)/share
MANDIR      ?= $(DATADIR)/man
DOCDIR      ?= $(DATADIR)/doc/husk
BASHCOMPDIR ?= $(DATADIR)/bash-completion/completions
# Debian's zsh reads vendor-completions for packages, site-functions for local installs.
ZSHCOMPDIR  ?= $(DATADIR)/zsh/$(if $(filter /usr,$(PREFIX)),vendor-completions,site-functions)
FISHCOMPDIR ?= $(DATADIR)/fish/vendor_completions.d
MANBUILD    ?= target/man
DOCS_SHIPPED := README.md docs/getting-started.md docs/user-guide.md docs/cli.md docs/containerd.md docs/security.md docs/config-fields.md
EXAMPLES    := daemon.json containers.conf config.toml runtimeclass.yaml

install: build shim
	@$(MAKE) --no-print-directory install-files

# The husk command: the launcher as BINDIR/husk and the CLI in CLIDIR (where the
# launcher looks), or, without a launcher, the CLI as BINDIR/husk.
install-bin:
	@test -x $(HUSK) || { echo "$(HUSK) is missing: make build"; exit 1; }
	install -d $(DESTDIR)$(BINDIR)
ifneq ($(LAUNCHER),)
	@test -x $(LAUNCHER) || { echo "$(LAUNCHER) is missing: make launcher"; exit 1; }
	install -d $(DESTDIR)$(CLIDIR)
	install -m 0755 $(HUSK) $(DESTDIR)$(CLIDIR)/husk
	install -m 0755 $(LAUNCHER) $(DESTDIR)$(BINDIR)/husk
else
	install -m 0755 $(HUSK) $(DESTDIR)$(BINDIR)/husk
endif

# Installs already-built binaries (HUSK=..., SHIM=..., LAUNCHER=... to pick others);
# re-running it overwrites the same files, so it is idempotent.
install-files: install-bin
	@test -x $(SHIM) || { echo "$(SHIM) is missing: make shim"; exit 1; }
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(ZSHCOMPDIR) \
		$(DESTDIR)$(FISHCOMPDIR) $(DESTDIR)$(DOCDIR)/examples
	install -m 0755 $(SHIM) $(DESTDIR)$(BINDIR)/containerd-shim-husk-v2
	rm -rf $(MANBUILD) && $(HUSK) completion --man $(MANBUILD) >/dev/null
	rm -f $(DESTDIR)$(MANDIR)/man8/husk.8 $(DESTDIR)$(MANDIR)/man8/husk-*.8
	install -m 0644 $(MANBUILD)/*.8 packaging/man/containerd-shim-husk-v2.8 $(DESTDIR)$(MANDIR)/man8/
	$(HUSK) completion bash > $(DESTDIR)$(BASHCOMPDIR)/husk
	$(HUSK) completion zsh > $(DESTDIR)$(ZSHCOMPDIR)/_husk
	$(HUSK) completion fish > $(DESTDIR)$(FISHCOMPDIR)/husk.fish
	chmod 0644 $(DESTDIR)$(BASHCOMPDIR)/husk $(DESTDIR)$(ZSHCOMPDIR)/_husk $(DESTDIR)$(FISHCOMPDIR)/husk.fish
	install -m 0644 $(DOCS_SHIPPED) $(DESTDIR)$(DOCDIR)/
	for f in $(EXAMPLES); do sed 's|@BINDIR@|$(BINDIR)|g' packaging/examples/$$f > $(DESTDIR)$(DOCDIR)/examples/$$f; \
		chmod 0644 $(DESTDIR)$(DOCDIR)/examples/$$f; done

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/husk $(DESTDIR)$(BINDIR)/containerd-shim-husk-v2 $(DESTDIR)$(CLIDIR)/husk
	-rmdir $(DESTDIR)$(CLIDIR) 2>/dev/null
	rm -f $(DESTDIR)$(MANDIR)/man8/husk.8 $(DESTDIR)$(MANDIR)/man8/husk-*.8 $(DESTDIR)$(MANDIR)/man8/containerd-shim-husk-v2.8
	rm -f $(DESTDIR)$(BASHCOMPDIR)/husk $(DESTDIR)$(ZSHCOMPDIR)/_husk $(DESTDIR)$(FISHCOMPDIR)/husk.fish
	rm -f $(addprefix $(DESTDIR)$(DOCDIR)/,$(notdir $(DOCS_SHIPPED)) $(addprefix examples/,$(EXAMPLES)))
	-rmdir $(DESTDIR)$(DOCDIR)/examples $(DESTDIR)$(DOCDIR) 2>/dev/null

# Man pages alone (target/man), for a look: man -l target/man/husk.8
man: build
	rm -rf $(MANBUILD) && $(HUSK) completion --man $(MANBUILD)

# The Debian package: target/deb/husk_<version>_<arch>.deb, built with dpkg-deb from
# a staged `make install-files PREFIX=/usr`. Reproducible: file times are clamped to
# the last commit's time, owners are root, and dpkg-deb uses SOURCE_DATE_EPOCH.
DEB_VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
DEB_ARCH     = $(shell dpkg --print-architecture)
DEB_STAGE   := target/deb/stage
DEB         := target/deb/husk_$(DEB_VERSION)_$(DEB_ARCH).deb
DEB_EPOCH    = $(shell git log -1 --format=%ct 2>/dev/null || date +%s)
DEB_PKGS    := dpkg-dev lintian man-db debootstrap
# LINTIAN=true skips the (slow) lintian run, e.g. to compare two builds.
LINTIAN     ?= lintian

# The install tests (in `make test`): a DESTDIR install of the debug binaries (file
# list, man pages, completions, idempotence, uninstall), the book's commands against
# the CLI, and the operator examples used by real containerd, dockerd and podman.
install-test: launcher
	bash packaging/test-install.sh target/debug/husk target/debug/containerd-shim-husk-v2 $(LAUNCHER)
	python3 packaging/check-guide.py target/debug/husk
	bash packaging/test-examples.sh target/debug/husk target/debug/containerd-shim-husk-v2

deb-deps:
	@missing=""; for p in $(DEB_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then echo "installing:$$missing"; apt-get update -qq && apt-get install -y -qq $$missing >/dev/null; fi

deb: deps deb-deps build shim
	@$(MAKE) --no-print-directory deb-package

# The package in a clean Debian root (debootstrap, cached in target/deb/bookworm-base):
# dpkg -i, husk --version, husk spec, a container, man husk, bash completion, then
# dpkg -r / dpkg -P leave the root as it was.
deb-test: deb
	bash packaging/deb-test.sh $(DEB)

# Packages already-built binaries (HUSK=..., SHIM=...).
deb-package:
	@head -1 packaging/debian/changelog | grep -q "($(DEB_VERSION))" || \
		{ echo "packaging/debian/changelog does not start with version $(DEB_VERSION)"; exit 1; }
	rm -rf $(DEB_STAGE) && mkdir -p $(DEB_STAGE)/DEBIAN
	$(MAKE) --no-print-directory install-files DESTDIR=$(abspath $(DEB_STAGE)) PREFIX=/usr >/dev/null
	gzip -9n $(DEB_STAGE)/usr/share/man/man8/*.8
	install -m 0644 packaging/debian/copyright $(DEB_STAGE)/usr/share/doc/husk/copyright
	gzip -9n < packaging/debian/changelog > $(DEB_STAGE)/usr/share/doc/husk/changelog.gz
	install -D -m 0644 packaging/debian/lintian-overrides $(DEB_STAGE)/usr/share/lintian/overrides/husk
	# Every binary of `make build`/`make shim` is static (no Depends); a dynamic
	# husk CLI (HUSK=...) gets its shared libraries' packages.
	cd target/deb && mkdir -p debian && printf 'Source: husk\n\nPackage: husk\nArchitecture: any\n' > debian/control && \
		cli=stage/usr/libexec/husk/husk; [ -e $$cli ] || cli=stage/usr/bin/husk; \
		if readelf -lW $$cli | grep -q 'INTERP'; then \
			dpkg-shlibdeps -O -e $$cli 2>/dev/null | sed -n 's/^shlibs:Depends=//p' > depends; \
			test -s depends || { echo "dpkg-shlibdeps found no dependencies"; exit 1; }; \
		else : > depends; fi
	sed -e 's|@VERSION@|$(DEB_VERSION)|' -e 's|@ARCH@|$(DEB_ARCH)|' \
		-e "s|@SIZE@|$$(du -sk --apparent-size $(DEB_STAGE)/usr | cut -f1)|" \
		-e "s|@DEPENDS@|$$(cat target/deb/depends)|" \
		-e "s|@STATIC_BUILT_USING@|$$(dpkg-query -W -f='$${source:Package} (= $${source:Version}), ' libc6-dev libseccomp-dev | sed 's/, $$//')|" \
		-e '/^Depends: $$/d' packaging/debian/control.in > $(DEB_STAGE)/DEBIAN/control
	cd $(DEB_STAGE) && find usr -type f | LC_ALL=C sort | xargs md5sum > DEBIAN/md5sums
	chmod 0644 $(DEB_STAGE)/DEBIAN/control $(DEB_STAGE)/DEBIAN/md5sums
	find $(DEB_STAGE) -type d -exec chmod 0755 {} +
	find $(DEB_STAGE) -exec touch -h -d @$(DEB_EPOCH) {} +
	SOURCE_DATE_EPOCH=$(DEB_EPOCH) dpkg-deb --root-owner-group -Zxz --build $(DEB_STAGE) $(DEB)
	@ls -l $(DEB)
	$(LINTIAN) --fail-on error $(DEB)

# The book: docs/ built with mdBook into target/book, its links checked offline, and
# the commands of the user guide and getting started checked against the code.
MDBOOK_VERSION := 0.4.52
# `make deps` installs mdBook too (from crates.io, pinned, without the serve/watch
# features, which pull in a web server).
deps: docs-deps

docs-deps:
	@command -v mdbook >/dev/null && mdbook --version | grep -q "v$(MDBOOK_VERSION)" || \
		$(CARGO) install mdbook --version $(MDBOOK_VERSION) --locked --no-default-features --features search

docs: docs-deps
	mdbook build docs
	python3 docs/check-links.py target/book
	$(CARGO) build -p husk-cli
	python3 packaging/check-guide.py target/debug/husk
