#!/usr/bin/env python3
"""Hostile load on a running dashboard, on loopback only, bounded in count
and time: what CI posts, the overview and /healthz get while anonymous
clients hold half-sent requests, hold event streams, scan listings and send
made-up methods, next to the same figures without them. Prints Markdown.

Usage: hostile_load.py URL TOKEN SERVER_PID [SECONDS]
(run by scripts/hostile, which starts a release build on demo data).
"""

import asyncio
import json
import os
import multiprocessing
import random
import sys
import time
import uuid
from urllib.parse import urlparse

URL, TOKEN, PID = sys.argv[1], sys.argv[2], int(sys.argv[3])
SECONDS = float(sys.argv[4]) if len(sys.argv) > 4 else 15.0
HOST, PORT = urlparse(URL).hostname, urlparse(URL).port
assert HOST in ("127.0.0.1", "localhost"), "load stays on loopback"

# Bounds of the attack.
SLOWLORIS_ADDRESSES = 10
SLOWLORIS_PER_ADDRESS = 200
STREAM_ADDRESSES = 40
STREAMS_PER_ADDRESS = 40
SCANNERS = 4
POSTERS = 8


def cpu_seconds() -> float:
    with open(f"/proc/{PID}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb() -> float:
    with open(f"/proc/{PID}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


async def request(method, path, body=b"", headers=None, source="127.0.0.1", timeout=10.0):
    """One request on its own connection: (status, body, seconds)."""
    started = time.perf_counter()
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection(HOST, PORT, local_addr=(source, 0)), timeout
    )
    try:
        head = [f"{method} {path} HTTP/1.1", f"Host: {HOST}:{PORT}", "Connection: close"]
        for name, value in (headers or {}).items():
            head.append(f"{name}: {value}")
        if body:
            head.append(f"Content-Length: {len(body)}")
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        await writer.drain()
        raw = await asyncio.wait_for(reader.read(), timeout)
    finally:
        writer.close()
    status = int(raw.split(b" ", 2)[1]) if raw.startswith(b"HTTP/") else 0
    return status, raw.partition(b"\r\n\r\n")[2], time.perf_counter() - started


def build_json(n: int) -> bytes:
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return json.dumps(
        {
            "id": f"load:{uuid.uuid4()}",
            "commit": "%040x" % random.getrandbits(160),
            "branch": "master",
            "component": "load",
            "arch": random.choice(["amd64", "arm64"]),
            "build_type": f"job-{n % 20}",
            "result": random.choice(["pass", "pass", "pass", "fail"]),
            "started_at": now,
            "finished_at": now,
        }
    ).encode()


class Phase:
    def __init__(self):
        self.posts = 0
        self.post_errors = {}
        self.overview = []
        self.healthz = []
        self.healthz_failures = 0
        self.rss = []
        self.cpu = 0.0


async def poster(phase: Phase, stop: float, n: int):
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    while time.monotonic() < stop:
        try:
            status, _, _ = await request("POST", "/api/v1/builds", build_json(n), headers)
        except (OSError, asyncio.TimeoutError) as e:
            status = type(e).__name__
        if status in (200, 201):
            phase.posts += 1
        else:
            phase.post_errors[status] = phase.post_errors.get(status, 0) + 1
            await asyncio.sleep(0.05)


async def prober(phase: Phase, stop: float, path: str, into: list, every: float):
    while time.monotonic() < stop:
        try:
            status, _, seconds = await request("GET", path, timeout=5)
            if status == 200:
                into.append(seconds)
            elif path == "/healthz":
                phase.healthz_failures += 1
        except (OSError, asyncio.TimeoutError):
            if path == "/healthz":
                phase.healthz_failures += 1
        await asyncio.sleep(every)


async def sampler(phase: Phase, stop: float):
    while time.monotonic() < stop:
        phase.rss.append(rss_mb())
        await asyncio.sleep(0.25)


# --- attackers -------------------------------------------------------------

async def slowloris(stop: float, counts: dict):
    """Holds connections that never finish a header, from several addresses;
    one the server closes is opened again a second later."""

    async def one(source: str):
        while time.monotonic() < stop:
            try:
                reader, writer = await asyncio.open_connection(
                    HOST, PORT, local_addr=(source, 0)
                )
            except OSError:
                await asyncio.sleep(0.1)
                continue
            counts["opened"] = counts.get("opened", 0) + 1
            try:
                writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                await writer.drain()
                answer = await asyncio.wait_for(reader.read(64), max(0.1, stop - time.monotonic()))
                kind = answer[:12].decode(errors="replace") or "closed"
                counts[kind] = counts.get(kind, 0) + 1
            except (OSError, asyncio.TimeoutError):
                pass
            finally:
                writer.close()
            await asyncio.sleep(1)

    sources = [f"127.0.0.{i + 2}" for i in range(SLOWLORIS_ADDRESSES)]
    await asyncio.gather(*(one(s) for s in sources for _ in range(SLOWLORIS_PER_ADDRESS)))


async def streams(stop: float, counts: dict):
    """STREAMS_PER_ADDRESS event streams from each of STREAM_ADDRESSES addresses."""

    async def one(source: str):
        try:
            reader, writer = await asyncio.open_connection(HOST, PORT, local_addr=(source, 0))
        except OSError:
            return
        try:
            writer.write(f"GET /api/v1/events?branch=master HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            await writer.drain()
            first = await asyncio.wait_for(reader.read(64), 5)
            kind = first[:12].decode(errors="replace")
            counts[kind] = counts.get(kind, 0) + 1
            while time.monotonic() < stop and await asyncio.wait_for(
                reader.read(4096), max(0.1, stop - time.monotonic())
            ):
                pass
        except (OSError, asyncio.TimeoutError):
            pass
        finally:
            writer.close()

    sources = [f"127.0.1.{i + 1}" for i in range(STREAM_ADDRESSES)]
    await asyncio.gather(*(one(s) for s in sources for _ in range(STREAMS_PER_ADDRESS)))


async def scanner(stop: float, counts: dict, n: int):
    paths = ["/api/v1/builds?limit=500", "/api/v1/builds?branch=master&limit=500",
             "/api/v1/builds?component=nope&limit=500", "/api/v1/health?branch=master"]
    while time.monotonic() < stop:
        try:
            status, _, _ = await request("GET", random.choice(paths), source=f"127.0.2.{n + 1}")
            counts[status] = counts.get(status, 0) + 1
        except (OSError, asyncio.TimeoutError):
            counts["error"] = counts.get("error", 0) + 1


def attack(seconds: float, results):
    """The attackers, in a process of their own: their event loop must not
    delay the measuring one. It runs at the lowest priority: a remote
    attacker spends its own CPU, not the server's machine's, and on one
    2-core machine an attacker at equal priority would mostly measure its
    own cost."""
    os.nice(19)

    async def run():
        stop = time.monotonic() + seconds
        counts = {"slowloris": {}, "streams": {}, "scans": {}}
        # ATTACKS=slowloris,streams,scans (the default: all) picks attackers.
        chosen = os.environ.get("ATTACKS", "slowloris,streams,scans").split(",")
        attackers = []
        if "slowloris" in chosen:
            attackers.append(slowloris(stop, counts["slowloris"]))
        if "streams" in chosen:
            attackers.append(streams(stop, counts["streams"]))
        if "scans" in chosen:
            attackers += [scanner(stop, counts["scans"], n) for n in range(SCANNERS)]
        await asyncio.gather(*attackers)
        return counts

    results.put(asyncio.run(run()))


async def measure(hostile: bool):
    phase = Phase()
    attack_counts = None
    if hostile:
        results = multiprocessing.Queue()
        attacker = multiprocessing.Process(target=attack, args=(SECONDS + 3, results))
        attacker.start()
        # Let the attackers take hold before measuring.
        await asyncio.sleep(3)
    stop = time.monotonic() + SECONDS
    cpu_before = cpu_seconds()
    tasks = [sampler(phase, stop)]
    tasks += [poster(phase, stop, n) for n in range(POSTERS)]
    # One reader at 10 pages a second: within the per-address read limit.
    tasks += [prober(phase, stop, "/?branch=master", phase.overview, 0.1),
              prober(phase, stop, "/healthz", phase.healthz, 0.05)]
    await asyncio.gather(*tasks)
    phase.cpu = (cpu_seconds() - cpu_before) / SECONDS * 100
    if hostile:
        attack_counts = await asyncio.get_running_loop().run_in_executor(None, results.get)
        attacker.join()
    return phase, attack_counts


def pct(values, p):
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))] * 1000


async def stream_memory(count_per_address=25, addresses=40):
    """RSS growth per idle event stream."""
    before = rss_mb()
    opened = []
    for a in range(addresses):
        for _ in range(count_per_address):
            reader, writer = await asyncio.open_connection(
                HOST, PORT, local_addr=(f"127.0.3.{a + 1}", 0)
            )
            writer.write(b"GET /api/v1/events HTTP/1.1\r\nHost: x\r\n\r\n")
            opened.append((reader, writer))
    ok = 0
    for reader, _ in opened:
        if (await asyncio.wait_for(reader.read(64), 5)).startswith(b"HTTP/1.1 200"):
            ok += 1
    await asyncio.sleep(2)
    after = rss_mb()
    for _, writer in opened:
        writer.close()
    return ok, before, after


async def metrics_growth():
    _, before, _ = await request("GET", "/metrics")
    for _ in range(40):
        method = "".join(random.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(20_000))
        try:
            await request(method, "/", timeout=5)
        except (OSError, asyncio.TimeoutError):
            pass
    _, after, _ = await request("GET", "/metrics")
    return len(before), len(after)


async def main():
    print(f"Server pid {PID}, {SECONDS:.0f} s per phase, {POSTERS} CI posters (one build per post).")
    quiet, _ = await measure(hostile=False)
    await asyncio.sleep(2)
    loud, attack = await measure(hostile=True)
    await asyncio.sleep(12)  # half-sent requests time out; memory settles
    settled = rss_mb()
    ok, before, after = await stream_memory()
    metrics_before, metrics_after = await metrics_growth()

    def row(name, q, l):
        print(f"| {name} | {q} | {l} |")

    print()
    print("| measure | unloaded | under hostile load |")
    print("|---|---|---|")
    row("CI posts per second", f"{quiet.posts / SECONDS:.0f}", f"{loud.posts / SECONDS:.0f}")
    row("posts refused or failed", quiet.post_errors or 0, loud.post_errors or 0)
    row("`/healthz` p50 / p99 / max (ms)",
        f"{pct(quiet.healthz, .5):.1f} / {pct(quiet.healthz, .99):.1f} / {pct(quiet.healthz, 1):.1f}",
        f"{pct(loud.healthz, .5):.1f} / {pct(loud.healthz, .99):.1f} / {pct(loud.healthz, 1):.1f}")
    row("`/healthz` failures", quiet.healthz_failures, loud.healthz_failures)
    row("overview p50 / p99 (ms)",
        f"{pct(quiet.overview, .5):.1f} / {pct(quiet.overview, .99):.1f}",
        f"{pct(loud.overview, .5):.1f} / {pct(loud.overview, .99):.1f}")
    row("server RSS max (MB)", f"{max(quiet.rss):.0f}", f"{max(loud.rss):.0f}")
    row("server CPU (% of one core; the machine has 2)", f"{quiet.cpu:.0f}", f"{loud.cpu:.0f}")
    print()
    print(f"Half-sent requests held ({SLOWLORIS_ADDRESSES} addresses x {SLOWLORIS_PER_ADDRESS}, "
          f"reopened a second after the server closes them): {attack['slowloris']}")
    print(f"Event streams ({STREAM_ADDRESSES} addresses x {STREAMS_PER_ADDRESS}): {attack['streams']}")
    print(f"Listing scans ({SCANNERS} clients): {attack['scans']}")
    print(f"RSS 12 s after the attack: {settled:.0f} MB")
    print(f"Idle event streams: {ok} open, RSS {before:.1f} -> {after:.1f} MB, "
          f"{(after - before) * 1024 / max(ok, 1):.1f} KB per stream")
    print(f"/metrics after 40 requests with 20 KB made-up methods: {metrics_before} -> {metrics_after} bytes")


if __name__ == "__main__":
    asyncio.run(main())
