# husk: build, demo, tests, conformance and benchmarks.
# Everything a fresh Debian 12 machine needs is installed here (as root, with apt-get).

CARGO      ?= cargo
PROFILE    ?= release
HUSK       := target/$(PROFILE)/husk
DEMO       := target/demo
APT_PKGS   := busybox-static libseccomp-dev pkg-config runc crun iproute2 gcc containerd qemu-system-x86 cpio kmod xz-utils protobuf-compiler
# The end-to-end suite's managers and CNI plugins (make e2e).
E2E_PKGS   := containernetworking-plugins docker.io podman
export DEBIAN_FRONTEND := noninteractive

.PHONY: all deps deps-e2e build shim demo test test-unit test-integration conformance e2e bench clean fmt lint

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

build: deps
	$(CARGO) build --release --workspace

# The shim as installed: size-optimised and static (no libc.so, libseccomp.so or
# dynamic loader pages in every shim), built for the host triple so the static
# flag reaches neither build scripts nor proc-macros.
HOST_TRIPLE    := $(shell rustc -vV 2>/dev/null | sed -n 's/^host: //p')
SHIM           := target/$(HOST_TRIPLE)/shim/containerd-shim-husk-v2
SHIM_RUSTFLAGS := -C target-feature=+crt-static

shim: deps
	RUSTFLAGS="$(SHIM_RUSTFLAGS)" LIBSECCOMP_LINK_TYPE=static LIBSECCOMP_LIB_PATH=/usr/lib/$$(gcc -dumpmachine) \
		$(CARGO) build --profile shim --target $(HOST_TRIPLE) -p containerd-shim-husk-v2
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

# Every test: unit tests (pure logic) and the root-only integration suites.
test: deps
	$(CARGO) build --workspace --all-targets
	$(CARGO) test --workspace -- --test-threads=4
	V2_RUNTIMES=husk bash conformance/vm/test-v2.sh target/debug/husk
	SD_RUNTIMES=husk bash conformance/vm/test-systemd.sh target/debug/husk

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
# the cgroup-v2 and systemd guest test sets (husk, runc, crun), and the end-to-end suite (husk, runc).
conformance: deps deps-e2e build
	$(CONFORMANCE) run $(RUNTIME_FLAGS) --markdown target/conformance-scenarios.md
	bash conformance/oci-validation/setup.sh
	bash conformance/oci-validation/compare.sh husk=$(HUSK) runc=/usr/sbin/runc
	V2_RUNTIMES="husk runc crun" bash conformance/vm/test-v2.sh $(HUSK)
	SD_RUNTIMES="husk runc crun" bash conformance/vm/test-systemd.sh $(HUSK)
	$(E2E) --runtimes "husk runc" --husk $(HUSK) --shim target/$(PROFILE)/containerd-shim-husk-v2 --markdown target/e2e.md

# Benchmarks of husk, runc and crun in one interleaved run; writes docs/benchmarks.md.
# Then the shim against containerd's runc shim (memory, ctr run latency): docs/shim-benchmarks.md.
bench: deps build shim
	$(CONFORMANCE) bench $(RUNTIME_FLAGS) --write-docs docs/benchmarks.md
	SHIM_BENCH_MD=docs/shim-benchmarks.md HUSK_CLI=$(abspath $(HUSK)) bash shim/bench/run.sh $(abspath $(SHIM)) 10 30

fmt:
	$(CARGO) fmt --all

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

clean:
	$(CARGO) clean
	rm -rf $(DEMO)
