"""What the loopback benchmarks share: free ports, house files, and `tbms
serve` processes started with --insecure-dev (benchmarks measure serving,
not keys)."""

import json
import os
import re
import socket
import subprocess

TBMS = "build/tbms"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def serve(*args):
    """A `tbms serve` process and its HTTP port, once it listens."""
    proc = subprocess.Popen([TBMS, "serve", "--insecure-dev", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline()
    match = re.search(r"http://127\.0\.0\.1:(\d+)", line)
    if not match:
        proc.kill()
        raise SystemExit("server did not start: %r" % line)
    return proc, int(match.group(1))


def bench(url, *flags, env=None):
    """One `tbms bench` run against url: its JSON report."""
    r = subprocess.run([TBMS, "bench", "--url", url, *flags, "--json", "-", "--quiet"],
                       capture_output=True, text=True, env=env)
    if r.returncode != 0:
        raise SystemExit("tbms bench failed: %s" % r.stderr.strip())
    return json.loads(r.stdout)
