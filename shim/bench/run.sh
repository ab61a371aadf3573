#!/usr/bin/env bash
# Benchmark: the husk shim against containerd's runc v2 shim, under one private
# containerd, in the same run.
#
#   shim/bench/run.sh [HUSK_SHIM] [N_CONTAINERS] [N_RUNS]
#
# * Memory per running container: N detached `sleep` containers per runtime, 3 s
#   after the last one started (the shims settled), the
#   Rss, Pss and anonymous memory of every shim process (/proc/PID/smaps_rollup)
#   summed and divided by N; once with one shim per container (ctr, docker,
#   podman) and once with all N in one pod (the CRI sandbox annotation, one shim).
#   The containers' own processes are not counted. Rss counts the shim binary's
#   shared pages in every process; Pss splits them; anonymous is private.
# * `ctr run --rm IMAGE ID /bin/true` latency: N_RUNS runs per runtime,
#   interleaved; mean, median and min in milliseconds.
# * SHIM_BENCH_MD=FILE also writes the results as a markdown table.
#
# Runtimes: husk shim (io.containerd.husk.v2), runc shim + runc, runc shim + husk
# CLI when target/release/husk exists, and RUST_RUNC_SHIM=PATH (the Rust runc shim)
# when set. Needs root, containerd, busybox-static.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
SHIM=${1:-$REPO/target/release/containerd-shim-husk-v2}
N=${2:-10}
RUNS=${3:-30}
HUSK_CLI=${HUSK_CLI:-$(dirname "$SHIM")/husk}
RUNC=${RUNC:-$(command -v runc)}

[ "$(id -u)" = 0 ] || { echo "needs root" >&2; exit 1; }
command -v containerd >/dev/null && command -v ctr >/dev/null || { echo "needs containerd (apt-get install containerd)" >&2; exit 1; }
[ -x "$SHIM" ] || { echo "no shim at $SHIM (cargo build --release -p containerd-shim-husk-v2)" >&2; exit 1; }

W=$(mktemp -d /tmp/husk-shim-bench.XXXXXX)
NS=bench
SOCK=$W/c.sock
CTR=(ctr -a "$SOCK" -n "$NS")
CPID=
cleanup() {
    set +e
    for id in $("${CTR[@]}" c ls -q 2>/dev/null); do
        "${CTR[@]}" t kill -a -s SIGKILL "$id" >/dev/null 2>&1
    done
    sleep 0.5
    for id in $("${CTR[@]}" c ls -q 2>/dev/null); do
        "${CTR[@]}" t rm -f "$id" >/dev/null 2>&1
        "${CTR[@]}" c rm "$id" >/dev/null 2>&1
    done
    for p in $(pgrep -f -- "-address $SOCK"); do kill -9 "$p" 2>/dev/null; done
    [ -n "$CPID" ] && kill "$CPID" 2>/dev/null && wait "$CPID" 2>/dev/null
    grep -o " $W[^ ]*" /proc/self/mountinfo | sort -r | while read -r m; do umount -l "$m"; done
    rm -rf "$W" /run/containerd/husk/$NS /run/containerd/runc/$NS
    for d in /sys/fs/cgroup/*/$NS; do rmdir "$d" 2>/dev/null; done
}
trap cleanup EXIT

# A busybox image as an OCI archive (no registry).
mkimage() {
    local w=$W/img
    mkdir -p $w/rootfs/{bin,etc,proc,sys,dev,tmp} $w/layout/blobs/sha256
    cp /bin/busybox $w/rootfs/bin/busybox
    for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -sf busybox $w/rootfs/bin/$a; done
    echo 'root:x:0:0:root:/root:/bin/sh' > $w/rootfs/etc/passwd
    tar -C $w/rootfs --numeric-owner -cf $w/layer.tar .
    local ld ls cd cs md ms
    ld=$(sha256sum $w/layer.tar | cut -d' ' -f1); ls=$(stat -c %s $w/layer.tar); mv $w/layer.tar $w/layout/blobs/sha256/$ld
    printf '{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/bin"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' $ld > $w/c.json
    cd=$(sha256sum $w/c.json | cut -d' ' -f1); cs=$(stat -c %s $w/c.json); mv $w/c.json $w/layout/blobs/sha256/$cd
    printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%s}]}' $cd $cs $ld $ls > $w/m.json
    md=$(sha256sum $w/m.json | cut -d' ' -f1); ms=$(stat -c %s $w/m.json); mv $w/m.json $w/layout/blobs/sha256/$md
    printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"platform":{"architecture":"amd64","os":"linux"},"annotations":{"io.containerd.image.name":"docker.io/library/bench:latest"}}]}' $md $ms > $w/layout/index.json
    echo '{"imageLayoutVersion":"1.0.0"}' > $w/layout/oci-layout
    tar -C $w/layout -cf $W/image.tar .
}

cat > $W/config.toml <<EOF
version = 2
root = "$W/root"
state = "$W/state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "$SOCK"
[ttrpc]
  address = "$SOCK.ttrpc"
[debug]
  level = "warn"
[plugins."io.containerd.internal.v1.opt"]
  path = "$W/opt"
EOF
containerd --config $W/config.toml >$W/containerd.log 2>&1 &
CPID=$!
for _ in $(seq 100); do "${CTR[@]}" version >/dev/null 2>&1 && break; sleep 0.1; done
mkimage
"${CTR[@]}" images import $W/image.tar >/dev/null
IMG=docker.io/library/bench:latest

declare -A RT
RT[husk-shim]="--runtime $SHIM"
RT[runc-shim+runc]="--runc-binary $RUNC"
[ -x "$HUSK_CLI" ] && RT[runc-shim+husk-cli]="--runc-binary $HUSK_CLI"
NAMES=(husk-shim runc-shim+runc)
[ -x "$HUSK_CLI" ] && NAMES+=(runc-shim+husk-cli)
# Optional: the Rust runc shim of containerd/rust-extensions (`cargo install
# containerd-runc-shim`), whose published Rss anchors the issue's aim.
if [ -n "${RUST_RUNC_SHIM:-}" ] && [ -x "$RUST_RUNC_SHIM" ]; then
    RT[rust-runc-shim+runc]="--runtime $RUST_RUNC_SHIM"
    NAMES+=(rust-runc-shim+runc)
fi

# Warm up (page cache, husk's immutable self-copy).
for n in "${NAMES[@]}"; do "${CTR[@]}" run --rm ${RT[$n]} $IMG warm-$RANDOM /bin/true >/dev/null; done

# Sums a field of smaps_rollup over this containerd's shim processes.
shim_sum() {
    local total=0 p v
    for p in $(pgrep -f -- "containerd-shim.* -address $SOCK( |$)"); do
        v=$(awk -v f="$1:" '$1 == f {print $2}' /proc/$p/smaps_rollup 2>/dev/null || echo 0)
        total=$((total + ${v:-0}))
    done
    echo $total
}

# N detached containers, each in its own shim (as `ctr run`, docker and podman do)
# or all in one pod (the CRI sandbox annotation, as Kubernetes does).
declare -A RSS PSS ANON PROCS
echo "== memory of the shims per running container ($N detached containers each; KiB)"
for n in "${NAMES[@]}"; do
    for mode in single pod; do
        ann=()
        [ $mode = pod ] && ann=(--annotation io.kubernetes.cri.sandbox-id=bench-pod)
        for i in $(seq $N); do "${CTR[@]}" run -d ${RT[$n]} "${ann[@]}" $IMG "rss-$i" sleep 1000 >/dev/null; done
        # Measure running containers, not start-up: the husk shim closes its
        # connection to containerd's events service (and the ttrpc client's
        # threads) after 2 s without events.
        sleep 3
        k="$n/$mode"
        RSS[$k]=$(( $(shim_sum Rss) / N )); PSS[$k]=$(( $(shim_sum Pss) / N )); ANON[$k]=$(( $(shim_sum Anonymous) / N ))
        PROCS[$k]=$(pgrep -f -- "containerd-shim.* -address $SOCK( |$)" | wc -l)
        printf '%-20s %-6s Rss %6d  Pss %6d  Anonymous %6d per container (%d shim processes)\n' \
            "$n" $mode ${RSS[$k]} ${PSS[$k]} ${ANON[$k]} ${PROCS[$k]}
        for i in $(seq $N); do "${CTR[@]}" t kill -s SIGKILL "rss-$i" >/dev/null 2>&1; done
        sleep 0.5
        for i in $(seq $N); do "${CTR[@]}" t rm -f "rss-$i" >/dev/null 2>&1; "${CTR[@]}" c rm "rss-$i" >/dev/null 2>&1; done
        sleep 0.5
    done
done

echo "== ctr run --rm ... /bin/true latency ($RUNS runs each, interleaved)"
declare -A T
for i in $(seq $RUNS); do
    for n in "${NAMES[@]}"; do
        s=$(date +%s%N)
        "${CTR[@]}" run --rm ${RT[$n]} $IMG "lat-$i" /bin/true >/dev/null
        e=$(date +%s%N)
        T[$n]+="$(( (e - s) / 1000 )) "
    done
done
declare -A LAT
for n in "${NAMES[@]}"; do
    LAT[$n]=$(echo ${T[$n]} | tr ' ' '\n' | sort -n | awk '
        NF { v[NR] = $1; s += $1 }
        END { printf "%.1f %.1f %.1f", s / NR / 1000, v[int((NR + 1) / 2)] / 1000, v[1] / 1000 }')
    read -r mean median min <<<"${LAT[$n]}"
    printf '%-20s mean %6.1f ms  median %6.1f ms  min %6.1f ms\n' "$n" $mean $median $min
done

# A markdown table for the docs (`make bench` sets SHIM_BENCH_MD).
if [ -n "${SHIM_BENCH_MD:-}" ]; then
    mb() { awk -v k="$1" 'BEGIN { printf "%.2f MB", k * 1024 / 1e6 }'; }
    {
        echo "<!-- generated by shim/bench/run.sh ($(date -u +%Y-%m-%d), $N containers, $RUNS runs; $(containerd --version | awk '{print $3}'), kernel $(uname -r)) -->"
        echo "| | Rss per container, one shim each | Pss | anonymous | Rss per container, one pod of $N | \`ctr run --rm … /bin/true\` mean / median |"
        echo "|---|---|---|---|---|---|"
        for n in "${NAMES[@]}"; do
            read -r mean median _ <<<"${LAT[$n]}"
            echo "| $n | $(mb ${RSS[$n/single]}) | $(mb ${PSS[$n/single]}) | $(mb ${ANON[$n/single]}) | $(mb ${RSS[$n/pod]}) | $mean ms / $median ms |"
        done
    } > "$SHIM_BENCH_MD"
    echo "wrote $SHIM_BENCH_MD"
fi
