#!/usr/bin/env python3
"""Keeps the book's commands honest (`make docs`, `make install-test`).

Every command line of every ```sh block in the user guide, getting started page and
README is checked against the code and tools it names:
  - husk: the subcommand exists and every flag is in `husk [SUB] --help`;
  - make: the target exists in the Makefile;
  - docker, dockerd, podman, ctr: every flag is in that tool's `--help` for the
    subcommand used (the tools must be installed);
  - cp/install from share/doc/husk/examples: the example is shipped;
  - a small set of plain shell commands (cd, mkdir, ln, sed, systemctl, dpkg, ...)
    are accepted as they are.
A command of any other kind fails the check, so a new kind of command in the book
has to be taught here. The "A container with husk alone" block of getting started
is also run for real, in a scratch dir, with the husk under test.

Usage: check-guide.py HUSK
"""
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAGES = ["docs/getting-started.md", "docs/user-guide.md", "README.md"]
PLAIN = {"cd", "mkdir", "ln", "sed", "systemctl", "dpkg", "cp", "install", "cat", "echo", "jq"}
TOOLS = {"docker", "dockerd", "podman", "ctr"}

husk = os.path.abspath(sys.argv[1])
errors = []
checked = 0


def sh_blocks(path):
    text = open(os.path.join(ROOT, path)).read()
    return re.findall(r"```sh\n(.*?)```", text, re.S)


def commands(block):
    """Yields argv lists: comments dropped, lines split at && ; |."""
    for line in block.splitlines():
        try:
            words = shlex.split(line, comments=True)
        except ValueError as e:
            errors.append(f"cannot parse {line!r}: {e}")
            continue
        cur = []
        for w in words:
            if w in ("&&", ";", "|", "||"):
                if cur:
                    yield cur
                cur = []
            else:
                cur.append(w)
        if cur:
            yield cur


def helptext(argv):
    p = subprocess.run(argv + ["--help"], capture_output=True, text=True, timeout=60)
    return p.stdout + p.stderr


def flags(argv):
    return [a.split("=", 1)[0] for a in argv if a.startswith("-") and a != "-"]


def positional_subcommand(argv, known):
    """The first word of argv that is a known subcommand name, if any."""
    for a in argv:
        if not a.startswith("-") and a in known:
            return a
    return None


husk_help = helptext([husk])
husk_subs = set(re.findall(r"^  ([a-z][a-z-]*)\s", husk_help.split("Commands:")[1].split("Options:")[0], re.M))
make_targets = set(re.findall(r"^([a-z][a-z0-9-]*):", open(os.path.join(ROOT, "Makefile")).read(), re.M))
examples = set(os.listdir(os.path.join(ROOT, "packaging/examples")))


def check_husk(argv, where):
    args = argv[1:]
    sub = None
    i = 0
    # Global flags come before the subcommand (runc's rule).
    while i < len(args) and args[i].startswith("-"):
        f = args[i].split("=", 1)[0]
        if f not in husk_help:
            errors.append(f"{where}: husk has no global flag {f}")
        i += 1 + (1 if f in ("--root", "--log", "--log-format", "--criu") and "=" not in args[i] else 0)
    if i < len(args):
        sub = args[i]
        if sub not in husk_subs:
            errors.append(f"{where}: husk has no subcommand {sub}")
            return
        text = helptext([husk, sub])
        for f in flags(args[i + 1:]):
            if not re.search(re.escape(f) + r"\b", text):
                errors.append(f"{where}: husk {sub} has no flag {f}")


def check_tool(argv, where):
    tool = argv[0]
    if shutil.which(tool) is None:
        errors.append(f"{where}: {tool} is not installed, cannot check {' '.join(argv)}")
        return
    top = helptext([tool])
    sub = positional_subcommand(argv[1:], set(re.findall(r"^\s+([a-z][a-z-]*)[\s,]", top, re.M)))
    text = helptext([tool, sub]) if sub else top
    for f in flags(argv[1:]):
        if f not in text and f not in top:
            errors.append(f"{where}: `{tool}{' ' + sub if sub else ''}` has no flag {f}")


def check_plain(argv, where):
    for a in argv[1:]:
        m = re.search(r"share/doc/husk/examples/([^/]+)$", a)
        if m and m.group(1) not in examples:
            errors.append(f"{where}: {a} is not a shipped example")


for page in PAGES:
    for n, block in enumerate(sh_blocks(page), 1):
        for argv in commands(block):
            where = f"{page} block {n}: {' '.join(argv)}"
            checked += 1
            cmd = argv[0]
            if cmd == "husk":
                check_husk(argv, where)
            elif cmd == "make":
                for t in argv[1:]:
                    if not t.startswith("-") and "=" not in t and t not in make_targets:
                        errors.append(f"{where}: no make target {t}")
            elif cmd in TOOLS:
                check_tool(argv, where)
            elif cmd in PLAIN:
                check_plain(argv, where)
            else:
                errors.append(f"{where}: unknown kind of command {cmd!r}: teach packaging/check-guide.py")

# Run getting started's "A container with husk alone" for real, in a scratch dir.
text = open(os.path.join(ROOT, "docs/getting-started.md")).read()
section = next(s for s in text.split("\n## ") if s.split("\n")[0].endswith("A container with husk alone"))
script = "".join(re.findall(r"```sh\n(.*?)```", section, re.S))
scratch = tempfile.mkdtemp(prefix="husk-guide-")
cid = f"guide-{os.getpid()}"
try:
    script = script.replace("/tmp/hello", scratch).replace("--bundle . hello", f"--bundle . {cid}")
    bindir = os.path.join(scratch, "bin")
    os.makedirs(bindir)
    os.symlink(husk, os.path.join(bindir, "husk"))
    env = dict(os.environ, PATH=bindir + ":" + os.environ.get("PATH", ""))
    p = subprocess.run(["bash", "-ec", script], capture_output=True, text=True, env=env, timeout=120)
    if p.returncode != 0 or "hello from husk" not in p.stdout.splitlines():
        errors.append(f"getting started's husk-alone block failed ({p.returncode}): {p.stdout}{p.stderr}")
    else:
        checked += 1
finally:
    subprocess.run([husk, "delete", "--force", cid], capture_output=True)
    shutil.rmtree(scratch, ignore_errors=True)

for e in errors:
    print("FAIL:", e, file=sys.stderr)
if errors:
    sys.exit(1)
print(f"ok: {checked} commands of {', '.join(PAGES)} checked; getting started's husk-alone block ran")
