#!/usr/bin/env python3
"""Small-request rate through a sandbox's HTTP proxy against direct requests.

A measurement, not a test: figures are printed, never judged; the exit
status is non-zero only when something fails to run (or a response is
wrong). Python 3 standard library only.

A host-loopback HTTP/1.1 server (the `serve` subcommand, a separate
process: a fixed 3-byte body, keep-alive unless the client asks to close)
answers N small GETs from an http.client loop (the `client` subcommand) run

  direct         on the host, no sandbox, straight to the server
  ours / npm     inside `srt -s FILE -- python3 request_rate.py client ...`
                 (ours: this repository's srt; npm: Anthropic's npm srt, when
                 --npm-cli is given), through the sandbox's HTTP proxy:
                   absolute-URI  GET http://127.0.0.1:PORT/ to the proxy
                   CONNECT       a tunnel, then GET / inside it

each with one kept-alive client connection for all N requests ("keep-alive")
and with a new client connection per request ("new conn"; through CONNECT
that is a new tunnel per request). srt's proxy keeps the upstream
connection of an absolute-URI request for the next request to the same
host:port on the same client connection, so "absolute-URI keep-alive" dials
upstream once.

The client times only its request loop (after warm-up requests), so sandbox
start-up is not in the figures. Variants are interleaved round-robin, the
starting variant rotating each round; medians over rounds are reported, and
each sandboxed variant is compared with the direct variant of the same
connection mode.

With --memory, instead: the proxy's memory over many requests (issue 15:
flat, no growth per connection kept alive). For each of the four sandboxed
variants, one run of --requests GETs (default then 10,000) that reports its
progress every 1,000; the resident set (VmRSS) of srt's supervisor, where the
proxy runs, is read at each report and printed with the growth per 1,000
requests after the first 1,000.

Usage:
  request_rate.py --srt PATH [--npm-cli PATH] [--requests N] [--rounds R]
                  [--warmup W] [--stage DIR] [--memory]
"""

import argparse
import base64
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stats import status_kib, summary  # noqa: E402 (next to this file)
import loopback  # noqa: E402 (next to this file)

BODY = b"ok\n"


def die(msg):
    print(f"request_rate: {msg}", file=sys.stderr)
    sys.exit(1)


# --------------------------------------------------------------------------
# server


def serve(_args):
    """HTTP/1.1 on 127.0.0.1:0, port printed on stdout; one thread per
    connection; every request (GETs, no body) gets BODY."""
    ok = (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n" % len(BODY)) + BODY
    ok_close = (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
                % len(BODY)) + BODY

    def handle(c):
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buf = b""
        try:
            while True:
                end = buf.find(b"\r\n\r\n")
                if end < 0:
                    d = c.recv(65536)
                    if not d:
                        return
                    buf += d
                    continue
                head, buf = buf[:end].lower(), buf[end + 4:]
                if b"\r\nconnection: close" in head:
                    c.sendall(ok_close)
                    return
                c.sendall(ok)
        except OSError:
            pass
        finally:
            c.close()

    loopback.serve_forever(handle, 1024)


# --------------------------------------------------------------------------
# client (runs on the host or inside a sandbox)


def client(args):
    u = urllib.parse.urlsplit(args.url)
    host, port, path = u.hostname, u.port, u.path or "/"
    auth = {}
    if args.via == "direct":
        dest = (host, port)
    else:
        proxy = os.environ.get("HTTP_PROXY") or os.environ.get("http_proxy")
        if not proxy:
            die("no HTTP_PROXY in the environment (not inside a sandbox?)")
        p = urllib.parse.urlsplit(proxy)
        dest = (p.hostname, p.port)
        if p.username is not None:
            # npm srt's proxy URL carries credentials (407 without them).
            cred = f"{urllib.parse.unquote(p.username)}:{urllib.parse.unquote(p.password or '')}"
            auth = {"Proxy-Authorization": "Basic " + base64.b64encode(cred.encode()).decode()}
    target = args.url if args.via == "proxy" else path

    def connect():
        c = http.client.HTTPConnection(*dest, timeout=30)
        if args.via == "connect":
            c.set_tunnel(host, port, headers=auth)
        return c

    def get(c, close):
        headers = dict(auth) if args.via == "proxy" else {}
        if close:
            headers["Connection"] = "close"
        c.request("GET", target, headers=headers)
        r = c.getresponse()
        body = r.read()
        if r.status != 200 or body != BODY:
            die(f"{args.via} {args.mode}: status {r.status}, body {body[:200]!r}")

    def loop(n, progress=0):
        c = connect() if args.mode == "keepalive" else None
        for i in range(1, n + 1):
            if args.mode == "keepalive":
                get(c, False)
            else:
                c = connect()
                get(c, True)
                c.close()
            if progress and i % progress == 0:
                print(json.dumps({"done": i}), flush=True)
        if args.mode == "keepalive":
            c.close()

    loop(args.warmup)
    t0 = time.perf_counter()
    loop(args.n, args.progress)
    print(json.dumps({"n": args.n, "seconds": time.perf_counter() - t0}))


# --------------------------------------------------------------------------
# the benchmark


def settings_file(path, port):
    # Every key spelled out: the npm CLI refuses a file that lacks one.
    cfg = {
        "network": {"allowedDomains": [f"127.0.0.1:{port}"], "deniedDomains": []},
        "filesystem": {"denyRead": [], "allowWrite": ["."], "denyWrite": []},
    }
    with open(path, "w") as f:
        json.dump(cfg, f)
    return path


def memory(args, port, url, cfg, work):
    """The supervisor's VmRSS every 1,000 requests of one long run per variant."""
    me, py = os.path.abspath(__file__), sys.executable
    step = 1000
    print(f"srt's supervisor (the proxy's process), VmRSS in KiB after every {step} of {args.requests} GETs, "
          f"one run per variant; growth = (last - after the first {step}) per further {step} requests")
    for kind, via in (("absolute-URI", "proxy"), ("CONNECT", "connect")):
        for mode, label in (("keepalive", "keep-alive"), ("newconn", "new conn")):
            argv = [os.path.abspath(args.srt), "-s", cfg, "--", py, me, "client", "--url", url, "--via", via,
                    "--mode", mode, "--n", str(args.requests), "--warmup", str(args.warmup),
                    "--progress", str(step)]
            p = subprocess.Popen(argv, cwd=work, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True)
            seen = []
            for line in p.stdout:
                if '"done"' in line:
                    st = status_kib(p.pid, ("VmRSS",))
                    if st is not None:
                        seen.append(st["VmRSS"])
            if p.wait() != 0 or len(seen) < 2:
                die(f"{kind} {label}: `{' '.join(argv)}` exited {p.returncode} after {len(seen)} reports")
            growth = (seen[-1] - seen[0]) / (len(seen) - 1)
            shown = " ".join(str(x) for x in seen)
            print(f"  {kind + ' ' + label:<24} {shown}   growth {growth:+.1f} KiB per {step}")


def bench(args):
    me = os.path.abspath(__file__)
    py = sys.executable
    stage = args.stage or tempfile.mkdtemp(prefix="srt-reqrate.", dir="/var/tmp")
    work = os.path.join(stage, "reqrate-work")
    os.makedirs(work, exist_ok=True)
    srv = subprocess.Popen([py, me, "serve"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True)
    try:
        port = int(srv.stdout.readline())
        url = f"http://127.0.0.1:{port}/"
        cfg = settings_file(os.path.join(stage, "reqrate.json"), port)
        if args.memory:
            memory(args, port, url, cfg, work)
            return
        sandboxes = [("ours", [os.path.abspath(args.srt), "-s", cfg, "--"])]
        if args.npm_cli:
            node = shutil.which("node") or die("node not found on PATH")
            sandboxes.append(("npm", [node, os.path.realpath(args.npm_cli), "-s", cfg, "--"]))

        def cl(via, mode):
            return [py, me, "client", "--url", url, "--via", via, "--mode", mode,
                    "--n", str(args.requests), "--warmup", str(args.warmup)]

        vs = [("direct  keep-alive", "keepalive", cl("direct", "keepalive")),
              ("direct  new conn", "newconn", cl("direct", "newconn"))]
        for name, prefix in sandboxes:
            for kind, via in (("absolute-URI", "proxy"), ("CONNECT", "connect")):
                for mode, label in (("keepalive", "keep-alive"), ("newconn", "new conn")):
                    vs.append((f"{name:<5}   {kind} {label}", mode, prefix + cl(via, mode)))

        rates = {name: [] for name, _, _ in vs}
        for rnd in range(args.rounds):
            for i in range(len(vs)):
                name, _, argv = vs[(rnd + i) % len(vs)]
                r = subprocess.run(argv, cwd=work, stdin=subprocess.DEVNULL, capture_output=True, text=True)
                try:
                    res = json.loads(r.stdout.strip().splitlines()[-1])
                except (ValueError, IndexError):
                    res = None
                if r.returncode != 0 or res is None:
                    die(f"{name}: `{' '.join(argv)}` exited {r.returncode}:\n{r.stdout.strip()}\n{r.stderr.strip()}")
                rates[name].append(res["n"] / res["seconds"])
    finally:
        srv.kill()
        srv.wait()
        if not args.stage:
            shutil.rmtree(stage, ignore_errors=True)

    print(f"{args.requests} GETs per run (3-byte body) after {args.warmup} warm-up GETs, {args.rounds} runs per "
          f"variant, interleaved round-robin;")
    print("requests/s of the client's request loop only (no sandbox start-up); x direct and +us/req compare each")
    print("variant's median with the direct variant of the same connection mode")
    hdr = f"{'variant':<34}{'median':>9}{'p10':>9}{'p90':>9}{'min':>9}{'max':>9}{'us/req':>8}{'x direct':>9}{'+us/req':>9}"
    print(hdr)
    print("-" * len(hdr))
    st = {name: summary(xs) for name, xs in rates.items()}
    direct = {"keepalive": st["direct  keep-alive"]["median"], "newconn": st["direct  new conn"]["median"]}
    for name, mode, _ in vs:
        s = st[name]
        d = direct[mode]
        us = 1e6 / s["median"]
        print(f"{name:<34}{s['median']:9.0f}{s['p10']:9.0f}{s['p90']:9.0f}{s['min']:9.0f}{s['max']:9.0f}"
              f"{us:8.0f}{s['median'] / d:9.2f}{us - 1e6 / d:9.0f}")
    if args.npm_cli:
        print()
        for kind in ("absolute-URI", "CONNECT"):
            for label in ("keep-alive", "new conn"):
                o, m = st[f"ours    {kind} {label}"]["median"], st[f"npm     {kind} {label}"]["median"]
                print(f"  {kind + ' ' + label:<24} ours/npm: {o / m:5.2f}x   (request rate: higher is better for ours)")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd")
    sub.add_parser("serve")
    c = sub.add_parser("client")
    c.add_argument("--url", required=True)
    c.add_argument("--via", choices=["direct", "proxy", "connect"], required=True)
    c.add_argument("--mode", choices=["keepalive", "newconn"], required=True)
    c.add_argument("--n", type=int, required=True)
    c.add_argument("--warmup", type=int, default=50)
    c.add_argument("--progress", type=int, default=0, help="print a line every K requests")
    ap.add_argument("--srt", help="the srt binary to measure")
    ap.add_argument("--npm-cli", help="also measure Anthropic's npm srt (path to its CLI script)")
    ap.add_argument("--requests", type=int, help="GETs per run (default 2000; with --memory 10000)")
    ap.add_argument("--rounds", type=int, default=5, help="runs per variant (default 5)")
    ap.add_argument("--warmup", type=int, default=50, help="untimed GETs before each run (default 50)")
    ap.add_argument("--stage", help="scratch directory (default: a new one under /var/tmp)")
    ap.add_argument("--memory", action="store_true", help="the proxy's memory over one long run per variant")
    args = ap.parse_args()
    if getattr(args, "requests", 0) is None:
        args.requests = 10000 if args.memory else 2000
    if args.cmd == "serve":
        serve(args)
    elif args.cmd == "client":
        client(args)
    else:
        if not args.srt:
            ap.error("--srt PATH is required")
        if args.requests < 1 or args.rounds < 1 or args.warmup < 0:
            ap.error("--requests and --rounds must be positive, --warmup not negative")
        bench(args)


if __name__ == "__main__":
    main()
