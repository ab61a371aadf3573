#!/bin/bash
# `make examples-test`: the operator examples of share/doc/husk/examples, used as an
# operator would, against the real managers, each in a private root:
#   - containerd with examples/config.toml merged into a private config: the CRI
#     plugin loads it, `config dump` shows both handlers, and for each handler a
#     container runs with its runtime type (husk's shim found on containerd's PATH;
#     the runc shim with BinaryName = the installed husk, whose state dir then holds
#     the container);
#   - dockerd with --config-file examples/daemon.json: `docker info` lists the husk
#     runtime with its path, `docker run --runtime husk` runs a container;
#   - podman with CONTAINERS_CONF=examples/containers.conf: `podman --runtime husk
#     run` runs a container;
#   - examples/runtimeclass.yaml: every RuntimeClass names a handler of config.toml.
# husk is installed with `make install-files PREFIX=<scratch>` so the examples name
# the binaries of that install. A manager that is not installed fails the test.
# The host lacks CAP_SYS_RESOURCE, so podman runs with nofile and nproc limits of 1024 (its default
# RLIMIT_NOFILE/NPROC of 1048576 cannot be set here by any runtime).
# Usage: packaging/test-examples.sh HUSK SHIM
set -euo pipefail
HUSK=$(realpath "${1:?usage: $0 HUSK SHIM}")
SHIM=$(realpath "${2:?usage: $0 HUSK SHIM}")
cd "$(dirname "$0")/.."
S=$(mktemp -d /tmp/husk-examples.XXXXXX)
P=$S/prefix
E=$P/share/doc/husk/examples
NS=husk-examples-$$
PIDS=()
cleanup() {
  set +e
  for id in ex-shim ex-runc; do
    [ -S "$S/c.sock" ] && ctr --address "$S/c.sock" -n $NS task kill -s KILL $id >/dev/null 2>&1
    [ -S "$S/c.sock" ] && ctr --address "$S/c.sock" -n $NS task rm -f $id >/dev/null 2>&1
    [ -S "$S/c.sock" ] && ctr --address "$S/c.sock" -n $NS container rm $id >/dev/null 2>&1
  done
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.2; done; kill -9 "$p" 2>/dev/null; done
  # Unmount whatever the managers left below the scratch dir, deepest first.
  awk -v s="$S" '$5 ~ "^"s {print $5}' /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l
  rm -rf "$S"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; for f in "$S"/*.log; do [ -f "$f" ] && { echo "--- $f"; tail -20 "$f"; }; done >&2; exit 1; }
need() { command -v "$1" >/dev/null || fail "$1 is not installed (apt-get install $2)"; }
wait_for() { for _ in $(seq 150); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done; return 1; }

make --no-print-directory -s install-files PREFIX="$P" HUSK="$HUSK" SHIM="$SHIM" MANBUILD="$S/man" >/dev/null
# A busybox root filesystem, as a directory and as a tar for image imports.
mkdir -p "$S/rootfs/bin" "$S/rootfs/proc" "$S/rootfs/sys" "$S/rootfs/dev" "$S/rootfs/etc" "$S/rootfs/tmp"
cp /bin/busybox "$S/rootfs/bin/"
for a in sh echo cat sleep; do ln -s busybox "$S/rootfs/bin/$a"; done
echo 'root:x:0:0:root:/root:/bin/sh' > "$S/rootfs/etc/passwd"
tar -C "$S/rootfs" -cf "$S/rootfs.tar" .

# ---- containerd + examples/config.toml ----
need containerd containerd; need ctr containerd
{
  cat <<EOF
root = "$S/ctd/root"
state = "$S/ctd/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]
[grpc]
  address = "$S/c.sock"
[ttrpc]
  address = "$S/c.sock.ttrpc"
[debug]
  address = "$S/c-debug.sock"
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "$S/ctd/opt"
EOF
  # The example, minus its `version` line (the private part above is version 2 too).
  grep -v '^version' "$E/config.toml"
} > "$S/containerd.toml"
sed -i '1i version = 2' "$S/containerd.toml"
containerd --config "$S/containerd.toml" config dump > "$S/dump.toml" 2>"$S/dump.log" || fail "containerd config dump"
python3 - "$S/dump.toml" "$P/bin/husk" <<'PY' || fail "config dump lacks the example's handlers"
import sys, tomllib
c = tomllib.load(open(sys.argv[1], "rb"))
rts = c["plugins"]["io.containerd.grpc.v1.cri"]["containerd"]["runtimes"]
assert rts["husk"]["runtime_type"] == "io.containerd.husk.v2", rts["husk"]
assert rts["husk-runc"]["runtime_type"] == "io.containerd.runc.v2", rts["husk-runc"]
assert rts["husk-runc"]["options"]["BinaryName"] == sys.argv[2], rts["husk-runc"]
PY
PATH="$P/bin:$PATH" containerd --config "$S/containerd.toml" > "$S/containerd.log" 2>&1 &
PIDS+=($!)
CTR=(ctr --address "$S/c.sock" -n $NS)
wait_for "${CTR[@]}" version || fail "containerd did not start"
"${CTR[@]}" plugins ls | grep -q 'io.containerd.grpc.v1.*cri.*ok' || fail "the CRI plugin did not load with the example"
read -r shim_type runc_type binary < <(python3 -c '
import sys, tomllib
r = tomllib.load(open(sys.argv[1], "rb"))["plugins"]["io.containerd.grpc.v1.cri"]["containerd"]["runtimes"]
print(r["husk"]["runtime_type"], r["husk-runc"]["runtime_type"], r["husk-runc"]["options"]["BinaryName"])' "$E/config.toml")
out=$(timeout 60 "${CTR[@]}" run --rm --runtime "$shim_type" --rootfs "$S/rootfs" ex-shim sh -c 'echo hello from the husk shim') \
  || fail "ctr run --runtime $shim_type"
[ "$out" = "hello from the husk shim" ] || fail "husk shim container printed: $out"
echo "ok: containerd + config.toml: handler husk ($shim_type, shim $(readlink -f "$P/bin/containerd-shim-husk-v2")) runs a container"
timeout 60 "${CTR[@]}" run -d --runtime "$runc_type" --runc-binary "$binary" --runc-root "$S/runc-root" \
  --rootfs "$S/rootfs" ex-runc sleep 60 >/dev/null || fail "ctr run --runtime $runc_type --runc-binary $binary"
st=$("$binary" --root "$S/runc-root/$NS" state ex-runc) || fail "husk state ex-runc (the runc shim did not use husk)"
grep -q '"status": *"running"' <<<"$st" || fail "husk state ex-runc: $st"
echo "ok: containerd + config.toml: handler husk-runc ($runc_type, BinaryName $binary) runs a container husk can see"
"${CTR[@]}" task kill -s KILL ex-runc >/dev/null; wait_for sh -c "! ${CTR[*]} task ls | grep -q 'ex-runc.*RUNNING'"
"${CTR[@]}" task rm -f ex-runc >/dev/null 2>&1 || true; "${CTR[@]}" container rm ex-runc >/dev/null 2>&1 || true

# ---- RuntimeClass: handlers exist in config.toml ----
python3 - "$E/runtimeclass.yaml" "$S/dump.toml" <<'PY' || fail "runtimeclass.yaml"
import sys, tomllib, yaml
rts = tomllib.load(open(sys.argv[2], "rb"))["plugins"]["io.containerd.grpc.v1.cri"]["containerd"]["runtimes"]
docs = list(yaml.safe_load_all(open(sys.argv[1])))
for d in docs:
    assert d["apiVersion"] == "node.k8s.io/v1" and d["kind"] == "RuntimeClass", d
    assert d["handler"] in rts, f"handler {d['handler']} not in containerd's runtimes {list(rts)}"
print(f"ok: runtimeclass.yaml: {len(docs)} RuntimeClasses, handlers {[d['handler'] for d in docs]} declared by config.toml")
PY

# ---- docker + examples/daemon.json ----
need dockerd docker.io
DOCKER=(/usr/bin/docker -H "unix://$S/docker.sock")
dockerd --config-file "$E/daemon.json" -H "unix://$S/docker.sock" --data-root "$S/docker" --exec-root "$S/dexec" \
  --pidfile "$S/docker.pid" --bridge=none --iptables=false --ip-forward=false --ip-masq=false \
  --storage-driver vfs > "$S/dockerd.log" 2>&1 &
PIDS+=($!)
wait_for "${DOCKER[@]}" version || fail "dockerd did not start"
rt=$("${DOCKER[@]}" info --format '{{json .Runtimes}}')
python3 -c 'import json,sys; r=json.loads(sys.argv[1]); assert r["husk"]["path"]==sys.argv[2], r' "$rt" "$P/bin/husk" \
  || fail "docker info runtimes: $rt"
"${DOCKER[@]}" import "$S/rootfs.tar" busybox >/dev/null || fail "docker import"
out=$(timeout 120 "${DOCKER[@]}" run --runtime husk --rm --network none busybox echo hello from docker) \
  || fail "docker run --runtime husk"
[ "$out" = "hello from docker" ] || fail "docker container printed: $out"
echo "ok: dockerd + daemon.json: docker info lists husk ($P/bin/husk); docker run --runtime husk runs a container"

# ---- podman + examples/containers.conf ----
need podman podman
PODMAN=(podman --root "$S/podman/root" --runroot "$S/podman/run" --storage-driver vfs --cgroup-manager cgroupfs
  --events-backend file --tmpdir "$S/podman/tmp")
export CONTAINERS_CONF="$E/containers.conf"
"${PODMAN[@]}" import "$S/rootfs.tar" busybox >/dev/null 2>"$S/podman.log" || fail "podman import"
out=$(timeout 120 "${PODMAN[@]}" --runtime husk run --rm --network none --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 busybox echo hello from podman 2>>"$S/podman.log") \
  || fail "podman --runtime husk run"
[ "$out" = "hello from podman" ] || fail "podman container printed: $out"
rt=$("${PODMAN[@]}" --runtime husk info --format '{{.Host.OCIRuntime.Path}}' 2>>"$S/podman.log")
[ "$rt" = "$P/bin/husk" ] || fail "podman info names runtime $rt"
echo "ok: podman + containers.conf: podman --runtime husk uses $rt and runs a container"
