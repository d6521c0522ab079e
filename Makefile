# oxrun: an OCI runtime (oxrun) and a conmon-compatible monitor (oxmon).
PREFIX ?= /usr/local
DESTDIR ?=
CARGO ?= cargo
# Where cargo puts the binaries: $(CARGO_TARGET_DIR) when set (relative to this folder, as cargo takes it),
# else target/.
TARGET_DIR := $(abspath $(or $(CARGO_TARGET_DIR),target))
RELEASE_DIR := $(TARGET_DIR)/release
SYSCONFDIR ?= /etc
PODMAN_DROPIN_DIR := $(SYSCONFDIR)/containers/containers.conf.d
# oxrun is built for musl (static-pie) when the Rust target is installed (scripts/deps.sh adds it):
# glibc's start-up costs about 0.3 ms per start in a VM, and oxrun starts twice per `run`
# (runtime/build.rs says why). Without the target, the glibc build from `cargo build`.
MUSL_TARGET := x86_64-unknown-linux-musl
HAVE_MUSL := $(wildcard $(shell rustc --print sysroot 2>/dev/null)/lib/rustlib/$(MUSL_TARGET)/lib)
OXRUN := $(if $(HAVE_MUSL),$(TARGET_DIR)/$(MUSL_TARGET)/release/oxrun,$(RELEASE_DIR)/oxrun)
OXMON := $(RELEASE_DIR)/oxmon
# Debian packages the demo, the tests and the benchmarks use: listed in scripts/deps.sh.

.PHONY: all build deps lint demo test test-unit test-integration test-shim test-podman test-reliability fuzz soak install uninstall bench bench-smoke clean vm test-vm

all: build

build:
	$(CARGO) build --release --workspace --bins
ifneq ($(HAVE_MUSL),)
	$(CARGO) build --release -p oxrun --bin oxrun --target $(MUSL_TARGET)
else
	@echo "note: Rust target $(MUSL_TARGET) not installed (rustup target add $(MUSL_TARGET)): oxrun is the glibc build"
endif

# Installs what the demo and the tests need (Debian 12), skipping apt when everything is present.
deps:
	./scripts/deps.sh

# rustfmt (rustfmt.toml) and clippy over every crate and target, warnings as errors, also for fuzz/
# (its own workspace: a planner signature change once broke only its build) (CI runs it before
# make test).
lint:
	$(CARGO) fmt --all --check
	python3 scripts/module-graph.py
	$(CARGO) clippy --release --workspace --all-targets -- -D warnings
	cd fuzz && $(CARGO) fmt --all --check
	CARGO_TARGET_DIR=$(FUZZ_TARGET) $(CARGO) clippy --release --manifest-path fuzz/Cargo.toml --all-targets -- -D warnings

demo: deps build
	./scripts/demo.sh $(OXRUN)

test: deps build test-unit test-integration test-shim test-podman test-reliability test-vm

test-unit:
	$(CARGO) test --release -p oxrun -p oxsys -p oxmon

# The suites must leave the host's cgroup2 subtree_control values and the tests' parent cgroups
# as they found them (issue 15, defect 14): host_cgroups records them before and checks after.
HOST_CGROUPS_SNAPSHOT := $(CURDIR)/target/host-cgroups.json
test-integration: build
	$(RELEASE_DIR)/host_cgroups save $(HOST_CGROUPS_SNAPSHOT)
	OXRUN_BIN=$(OXRUN) OXMON_BIN=$(OXMON) $(CARGO) test --release -p integration -- --test-threads=2
	$(RELEASE_DIR)/host_cgroups check $(HOST_CGROUPS_SNAPSHOT)

# The monitor protocol suite runs twice: against oxmon and against Debian's conmon.
test-shim: build
	MONITOR_BIN=$(OXMON) $(CARGO) test --release -p shim-tests -- --test-threads=2
	MONITOR_BIN=/usr/bin/conmon $(CARGO) test --release -p shim-tests -- --test-threads=2

# Issue 9: create killed at every step, using a fault-injection build of oxrun (its own target
# dir, never the release binary). The concurrency tests run in test-integration.
FAULT_TARGET := $(CURDIR)/target-rel-fault
# The fault build is test-only: no LTO, parallel codegen (an LTO build would add minutes to CI).
test-reliability: build
	CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 CARGO_TARGET_DIR=$(FAULT_TARGET) $(CARGO) build --release -p oxrun --features fault-injection
	OXRUN_BIN=$(OXRUN) OXRUN_FAULT_BIN=$(FAULT_TARGET)/release/oxrun $(CARGO) test --release -p integration --test reliability_faults -- --test-threads=2
	CARGO_TARGET_DIR=$(FUZZ_TARGET) $(CARGO) test --release --manifest-path fuzz/Cargo.toml

# Fuzzing (fuzz/ is its own workspace): the deterministic random-input harness with many more
# iterations, then each cargo-fuzz target for FUZZ_SECONDS when cargo-fuzz and a nightly toolchain
# (or RUSTC_BOOTSTRAP=1) are available.
FUZZ_TARGET := $(CURDIR)/target-rel-fuzz
FUZZ_SECONDS ?= 300
FUZZ_TARGETS := config_plan monitor_cli ctl_fifo k8s_file
fuzz:
	FUZZ_SMOKE_ITERS=1000000 CARGO_TARGET_DIR=$(FUZZ_TARGET) $(CARGO) test --release --manifest-path fuzz/Cargo.toml
	@if $(CARGO) fuzz --version >/dev/null 2>&1; then \
		for t in $(FUZZ_TARGETS); do \
			mkdir -p $(CURDIR)/target-rel-cfuzz/corpus/$$t; \
			(cd fuzz && CARGO_TARGET_DIR=$(CURDIR)/target-rel-cfuzz RUSTC_BOOTSTRAP=1 $(CARGO) fuzz run -s none $$t $(CURDIR)/target-rel-cfuzz/corpus/$$t corpus/$$t -- -max_total_time=$(FUZZ_SECONDS)) || exit 1; \
		done; \
	else echo "SKIP cargo-fuzz targets: cargo-fuzz not installed (cargo install cargo-fuzz)"; fi

# One hour of mixed operations (not in CI), then the floods at full size.
soak: build
	SOAK_SECONDS=$${SOAK_SECONDS:-3600} ./scripts/soak.sh $(OXRUN) $(OXMON)
	MONITOR_BIN=$(OXMON) FLOOD_MIB=4096 FLOOD_CYCLES=10000 FLOOD_EXECS=10000 $(CARGO) test --release -p shim-tests --test floods -- --test-threads=1

# Podman 4.3.1 end to end, for oxrun+oxmon, oxrun+conmon and runc+oxmon (its tests are #[ignore]d elsewhere).
test-podman: build
	$(RELEASE_DIR)/host_cgroups save $(HOST_CGROUPS_SNAPSHOT)
	OXRUN_BIN=$(OXRUN) OXMON_BIN=$(OXMON) $(CARGO) test --release -p integration --test podman -- --ignored --test-threads=3
	$(RELEASE_DIR)/host_cgroups tidy-podman $(HOST_CGROUPS_SNAPSHOT)

# Binaries, plus the Podman drop-in (default runtime oxrun, conmon_path oxmon) with paths for PREFIX.
install: build
	install -D -m 0755 $(OXRUN) $(DESTDIR)$(PREFIX)/bin/oxrun
	install -D -m 0755 $(RELEASE_DIR)/oxmon $(DESTDIR)$(PREFIX)/bin/oxmon
	install -d -m 0755 $(DESTDIR)$(PODMAN_DROPIN_DIR)
	sed 's|/usr/local/bin/|$(PREFIX)/bin/|g' contrib/containers.conf.d/50-oxrun.conf > $(DESTDIR)$(PODMAN_DROPIN_DIR)/50-oxrun.conf
	chmod 0644 $(DESTDIR)$(PODMAN_DROPIN_DIR)/50-oxrun.conf

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/oxrun $(DESTDIR)$(PREFIX)/bin/oxmon $(DESTDIR)$(PODMAN_DROPIN_DIR)/50-oxrun.conf

clean:
	$(CARGO) clean

# oxrun/oxmon against crun, runc and conmon, interleaved; writes bench/results.md and bench/chart.svg (~10 min).
# ... then issue 11's scale test: 200 containers through containerd's runc shim, oxrun against runc,
# and issue 18's: 100 pods through containerd's CRI plugin (handlers oxrun and runc), appended to
# bench/results.md (bench.py rewrites that file).
bench: deps build
	$(RELEASE_DIR)/host_cgroups save $(HOST_CGROUPS_SNAPSHOT)
	OXRUN_BIN=$(OXRUN) OXMON_BIN=$(OXMON) ./bench/run.sh
	$(RELEASE_DIR)/host_cgroups tidy-podman $(HOST_CGROUPS_SNAPSHOT)
	OXRUN_BIN=$(OXRUN) ./bench/containerd_scale.sh -n 200 -r 1 -o bench/out/containerd_scale.md
	OXRUN_BIN=$(OXRUN) ./bench/cri_scale.sh -n 100 -o bench/out/cri_scale.md
	printf '\n## CRI scale (issue 18): 100 pods through the CRI plugin of containerd, oxrun vs runc\n\n' >> bench/results.md
	cat bench/out/cri_scale.md >> bench/results.md
	OXRUN_BIN=$(OXRUN) python3 bench/mounts.py -o bench/out/mounts.md --svg bench/chart-mounts.svg
	printf '\n## Start and exec against the host mount table (issue 20): 0, 1,000 and 5,000 extra mounts\n\n' >> bench/results.md
	cat bench/out/mounts.md >> bench/results.md
	printf '\n![start time against host mounts](chart-mounts.svg)\n' >> bench/results.md
	$(RELEASE_DIR)/host_cgroups check $(HOST_CGROUPS_SNAPSHOT)

# A few iterations of every benchmark (< 1 min), no timing assertions; writes bench/out/ only.
bench-smoke: deps build
	$(RELEASE_DIR)/host_cgroups save $(HOST_CGROUPS_SNAPSHOT)
	BENCH_QUICK=1 OXRUN_BIN=$(OXRUN) OXMON_BIN=$(OXMON) ./bench/run.sh
	BENCH_QUICK=1 OXRUN_BIN=$(OXRUN) ./bench/cri_scale.sh -o bench/out/cri_scale_quick.md
	BENCH_QUICK=1 OXRUN_BIN=$(OXRUN) python3 bench/mounts.py -o bench/out/mounts_quick.md
	$(RELEASE_DIR)/host_cgroups check $(HOST_CGROUPS_SNAPSHOT)

# Issue 16: a Debian 12 VM (systemd as PID 1, pure cgroup v2) built from Debian packages by
# mmdebstrap, cached under /var/cache/oxrun-vm keyed by a hash of vm/'s recipe; booted under QEMU
# TCG, where the cgroup v2, systemd and Podman tests run (vm/test-vm.sh). Needs the Debian
# packages mmdebstrap and qemu-system-x86 (vm/test-vm.sh says so when they are missing).
vm:
	./vm/build.sh

test-vm: build
	CARGO=$(CARGO) VM_OXRUN_BIN=$${VM_OXRUN_BIN:-$(OXRUN)} ./vm/test-vm.sh
