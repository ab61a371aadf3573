#!/usr/bin/env python3
"""console-recv.py SOCKET OUT: a console socket for `--console-socket` (runc's
protocol: one message, the pty master as SCM_RIGHTS). Copies what the container
writes to its terminal into OUT, one line per line (without the tty's \\r)."""
import os
import socket
import sys

path, out = sys.argv[1], sys.argv[2]
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(path)
srv.listen(1)
conn, _ = srv.accept()
_, fds, _, _ = socket.recv_fds(conn, 4096, 1)
master = fds[0]
with open(out, "wb", buffering=0) as f:
    while True:
        try:
            data = os.read(master, 4096)
        except OSError:
            break
        if not data:
            break
        f.write(data.replace(b"\r", b""))
