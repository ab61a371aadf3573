#!/usr/bin/env python3
"""busybox-archive.py OUT.tar: a docker-archive of a busybox image tagged
localhost/busybox:rl, for `podman load` where no registry is reachable."""
import hashlib
import io
import json
import sys
import tarfile


def entry(t, name, data=None, kind=tarfile.REGTYPE, mode=0o644, link=""):
    i = tarfile.TarInfo(name)
    i.type, i.mode, i.linkname = kind, mode, link
    if data is not None:
        i.size = len(data)
        t.addfile(i, io.BytesIO(data))
    else:
        t.addfile(i)


layer = io.BytesIO()
with tarfile.open(fileobj=layer, mode="w") as t:
    for d in ("bin", "tmp", "proc", "sys", "dev", "etc"):
        entry(t, d, kind=tarfile.DIRTYPE, mode=0o1777 if d == "tmp" else 0o755)
    t.add("/bin/busybox", "bin/busybox")
    for a in ("sh", "sleep", "cat", "id", "echo"):
        entry(t, "bin/" + a, kind=tarfile.SYMTYPE, mode=0o777, link="busybox")
    entry(t, "etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n")
    entry(t, "etc/group", b"root:x:0:\n")
layer = layer.getvalue()
config = json.dumps({
    "architecture": "amd64", "os": "linux",
    "config": {"Cmd": ["sh"], "Env": ["PATH=/bin"]},
    "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(layer).hexdigest()]},
}).encode()
cfg = hashlib.sha256(config).hexdigest() + ".json"
manifest = json.dumps([{"Config": cfg, "RepoTags": ["localhost/busybox:rl"], "Layers": ["layer.tar"]}]).encode()
with tarfile.open(sys.argv[1], "w") as t:
    for name, data in ((cfg, config), ("layer.tar", layer), ("manifest.json", manifest)):
        entry(t, name, data)
