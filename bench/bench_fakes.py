"""Benchmark of the fake providers: light (5 KB detail) and heavy (500 KB payload) requests per second that ONE
fake process serves, measured with wrk (apt-get install -y wrk) or, without it, a Python load generator.

    python bench/bench_fakes.py [--provider strava] [--duration 10] [--connections 32] [--users 500]

Prints one line per measurement and a JSON summary at the end. Everything runs on loopback and stops by itself.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import httpx

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

WRK_LUA = r"""
local reqs = {}
local i = 0
init = function(args)
  for line in io.lines(args[1]) do
    local tok, path = line:match("^(%S+)%s+(%S+)$")
    if tok then reqs[#reqs + 1] = wrk.format("GET", path, {["Authorization"] = "Bearer " .. tok}) end
  end
  i = math.random(#reqs)
end
request = function()
  i = i % #reqs + 1
  return reqs[i]
end
"""


def start_fake(provider: str, heavy: int, light: int, cache: int) -> tuple[subprocess.Popen, str]:
    cfg = json.dumps({"rate_limits": {"enabled": False}, "heavy_cache_entries": cache, "webhook_auto": False})
    p = subprocess.Popen([sys.executable, "-m", "fake_providers", "--provider", provider, "--seed", "1",
                          "--heavy-bytes", str(heavy), "--light-bytes", str(light), "--config", cfg],
                         cwd=ROOT, stdout=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    if not line.startswith("SWSIM-READY "):
        p.kill()
        raise SystemExit(f"fake did not start: {line!r}")
    return p, json.loads(line.split(" ", 1)[1])["url"]


def plan(provider: str, url: str, users: int, http: httpx.Client) -> dict[str, list[tuple[str, str]]]:
    """(token, path) pairs for the light and heavy requests of the provider."""
    toks = http.post(f"{url}/_fake/users/bulk", json={"count": users, "history_days": 30}).json()
    now = int(http.get(f"{url}/_fake/clock").json()["now"])
    light, heavy = [], []
    for u in toks:
        t = u["access_token"]
        h = {"Authorization": f"Bearer {t}"}
        if provider == "strava":
            acts = http.get(f"{url}/api/v3/athlete/activities", params={"per_page": 10}, headers=h).json()
            for a in acts[:3]:
                light.append((t, f"/api/v3/activities/{a['id']}"))
                if a["map"]["summary_polyline"]:
                    heavy.append((t, f"/api/v3/activities/{a['id']}/streams?keys=time,latlng,distance,altitude,"
                                     f"heartrate,cadence&key_by_type=true"))
        elif provider == "fitbit":
            acts = http.get(f"{url}/1/user/-/activities/list.json", headers=h,
                            params={"beforeDate": "2100-01-01", "sort": "desc", "limit": 10, "offset": 0}).json()
            light.append((t, "/1/user/-/activities/list.json?beforeDate=2100-01-01&sort=desc&limit=3&offset=0"))
            for a in acts["activities"]:
                if a["hasGps"]:
                    heavy.append((t, f"/1/user/-/activities/{a['logId']}.tcx"))
        else:
            light.append((t, f"/wellness-api/rest/activities?uploadStartTimeInSeconds={now - 86400}"
                             f"&uploadEndTimeInSeconds={now}"))
            heavy.append((t, f"/wellness-api/rest/activityDetails?uploadStartTimeInSeconds={now - 86400}"
                             f"&uploadEndTimeInSeconds={now}"))
    return {"light": light, "heavy": heavy}


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc), to express capacity per core despite other load."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


def run_wrk(url: str, pairs: list[tuple[str, str]], duration: int, connections: int, threads: int) -> dict:
    with tempfile.TemporaryDirectory() as d:
        reqf, luaf = os.path.join(d, "reqs.txt"), os.path.join(d, "bench.lua")
        with open(reqf, "w") as fh:
            fh.writelines(f"{t} {p}\n" for t, p in pairs)
        with open(luaf, "w") as fh:
            fh.write(WRK_LUA)
        out = subprocess.run(["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency", "-s", luaf,
                              url, "--", reqf], capture_output=True, text=True, timeout=duration + 60).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    tr = re.search(r"Transfer/sec:\s+([\d.]+)(\w+)", out)
    mult = {"B": 1, "KB": 1024, "MB": 1024 ** 2, "GB": 1024 ** 3}
    bps = float(tr.group(1)) * mult.get(tr.group(2), 1) if tr else 0.0
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errs = re.search(r"Socket errors:.*", out)
    lat = {m.group(1): m.group(2) for m in re.finditer(r"^\s+(50|90|99)%\s+(\S+)", out, re.M)}
    return {"rps": rps, "bytes_per_s": bps, "non_2xx": int(non2xx.group(1)) if non2xx else 0,
            "socket_errors": errs.group(0) if errs else None, "latency": lat, "tool": "wrk"}


def run_python(url: str, pairs: list[tuple[str, str]], duration: int, connections: int) -> dict:
    """Fallback generator (aiohttp, one process): slower than wrk, so it may understate the fake."""
    import aiohttp

    async def main() -> dict:
        n = nbytes = bad = 0
        stop = time.monotonic() + duration

        async def worker(k: int, s: aiohttp.ClientSession) -> None:
            nonlocal n, nbytes, bad
            i = k
            while time.monotonic() < stop:
                t, p = pairs[i % len(pairs)]
                i += connections
                async with s.get(url + p, headers={"Authorization": f"Bearer {t}"}) as r:
                    body = await r.read()
                    n += 1
                    nbytes += len(body)
                    bad += r.status >= 300

        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=connections)) as s:
            t0 = time.monotonic()
            await asyncio.gather(*(worker(k, s) for k in range(connections)))
            el = time.monotonic() - t0
        return {"rps": n / el, "bytes_per_s": nbytes / el, "non_2xx": bad, "latency": {}, "tool": "python"}

    return asyncio.run(main())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--provider", action="append", choices=["strava", "fitbit", "garmin"])
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--users", type=int, default=200)
    ap.add_argument("--heavy-bytes", type=int, default=500_000)
    ap.add_argument("--light-bytes", type=int, default=5_000)
    ap.add_argument("--heavy-cache", type=int, default=128)
    ap.add_argument("--json", default=None, help="also write the summary JSON here")
    args = ap.parse_args()
    providers = args.provider or ["strava"]
    use_wrk = shutil.which("wrk") is not None
    if not use_wrk:
        print("note: wrk not found (apt-get install -y wrk); using the slower Python generator", file=sys.stderr)
    results = {"machine": {"cpus": os.cpu_count(), "loadavg_before": os.getloadavg()}, "runs": []}
    for prov in providers:
        proc, url = start_fake(prov, args.heavy_bytes, args.light_bytes, args.heavy_cache)
        try:
            with httpx.Client(timeout=60) as http:
                pl = plan(prov, url, args.users, http)
                for kind in ("light", "heavy"):
                    pairs = pl[kind]
                    if kind == "light":                                    # documents are built on first use
                        for t, p in pairs:
                            http.get(url + p, headers={"Authorization": f"Bearer {t}"})
                    if kind == "heavy":
                        pairs = pairs[: max(1, args.heavy_cache // 2)]    # a working set the cache holds
                        for t, p in pairs:                                 # warm it
                            http.get(url + p, headers={"Authorization": f"Bearer {t}"})
                    conns = args.connections if kind == "light" else min(args.connections, 16)
                    cpu0, t0 = cpu_seconds(proc.pid), time.monotonic()
                    r = (run_wrk(url, pairs, args.duration, conns, args.threads) if use_wrk else
                         run_python(url, pairs, args.duration, conns))
                    cpu, wall = cpu_seconds(proc.pid) - cpu0, time.monotonic() - t0
                    r["fake_cpu_share"] = cpu / wall if wall else float("nan")
                    r["rps_per_cpu_second"] = r["rps"] * wall / cpu if cpu else float("nan")
                    r.update(provider=prov, kind=kind, distinct_requests=len(pairs), connections=conns)
                    results["runs"].append(r)
                    print(f"{prov:7s} {kind:5s} {r['rps']:9.1f} req/s  {r['bytes_per_s'] / 1e6:8.1f} MB/s  "
                          f"p50={r['latency'].get('50', '?')} p99={r['latency'].get('99', '?')}  "
                          f"fake CPU {r['fake_cpu_share']:.2f} core -> {r['rps_per_cpu_second']:.0f} req per CPU-s  "
                          f"non-2xx={r['non_2xx']}  ({r['tool']}, {conns} conns, {len(pairs)} distinct)",
                          flush=True)
                # cold heavy payloads: generation cost when nothing is cached
                cold = pl["heavy"][args.heavy_cache: args.heavy_cache + 20] or pl["heavy"][:5]
                cpu0, t0 = cpu_seconds(proc.pid), time.perf_counter()
                nbytes = 0
                for t, p in cold:
                    nbytes += len(http.get(url + p, headers={"Authorization": f"Bearer {t}"}).content)
                per = (time.perf_counter() - t0) / max(1, len(cold))
                cpu_per = (cpu_seconds(proc.pid) - cpu0) / max(1, len(cold))
                results["runs"].append({"provider": prov, "kind": "heavy_cold", "seconds_per_request": per,
                                        "rps": 1 / per, "cpu_seconds_per_request": cpu_per,
                                        "rps_per_cpu_second": 1 / cpu_per if cpu_per else float("nan"),
                                        "avg_bytes": nbytes / max(1, len(cold))})
                print(f"{prov:7s} cold  {1 / per:9.1f} req/s  (first serve of a {nbytes / max(1, len(cold)) / 1e3:.0f} KB "
                      f"heavy payload: {per * 1000:.1f} ms wall, {cpu_per * 1000:.1f} ms CPU -> "
                      f"{(1 / cpu_per) if cpu_per else float('nan'):.0f} per CPU-s)", flush=True)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(10)
    results["machine"]["loadavg_after"] = os.getloadavg()
    print(json.dumps(results, indent=2))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
