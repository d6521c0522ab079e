#!/usr/bin/env python3
"""Where does `oxrun run` of /bin/true spend its time, next to crun? (bench/profile.sh; ~2 minutes)

1. oxrun's phases, from its own --debug JSON log timestamps (no tracer overhead), median of N runs.
2. perf stat: CPU time (task-clock) versus elapsed time, for oxrun and crun: how much is waiting.
3. perf trace -s: wall time per syscall (summed over all processes of one run), top entries.
4. Ablations with hyperfine: the same bundle without the network namespace, and without any new namespace
   but mount, for oxrun and crun: what the kernel's namespace work costs.
Writes bench/out/profile.txt. Uses the binaries of bench.py (OXRUN_BIN, CRUN_BIN)."""
import json
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402

RUNS = int(os.environ.get("PROFILE_RUNS", "40"))
out_lines = []


def say(s=""):
    print(s, flush=True)
    out_lines.append(s)


def ts(s):
    return bench.parse_ts(s.encode())


def phases(rt_bin, root, bundle):
    names = ["exec → cgroups created (args, spec, plan, state dir, cgroup mkdir + limits)",
             "→ init cloned (exec fifo, socketpair, clone3 with namespaces)",
             "→ created (join cgroups, init: mounts, pivot_root, devices, caps; state.json)",
             "→ started (start: exec fifo opened)",
             "→ deleted (wait for /bin/true, cgroup rmdir, state dir)",
             "→ process exit"]
    rows = []
    logf = os.path.join(bench.OUT, "profile-debug.log")
    for i in range(RUNS):
        if os.path.exists(logf):
            os.unlink(logf)
        t0 = time.time()
        rc, err = bench.run_quiet([rt_bin, "--root", root, "--log", logf, "--log-format", "json", "--debug", "run", "-b",
                                   bundle, "oxb-prof"])
        t_end = time.time()
        if rc != 0:
            say(f"oxrun run failed: {err}")
            return
        marks = [t0]
        for line in open(logf):
            try:
                m = json.loads(line)["msg"]
            except (ValueError, KeyError):
                continue
            for key in ("hierarchies", "init is pid", ": created", ": started", ": deleted"):
                if key in m:
                    marks.append(ts(json.loads(line)["time"]))
        marks.append(t_end)
        if len(marks) == 7:
            rows.append([b - a for a, b in zip(marks, marks[1:])])
    if not rows:
        say("no --debug phase lines found")
        return
    total = statistics.median(sum(r) for r in rows)
    say(f"oxrun run /bin/true, median of {len(rows)} runs, total {total * 1000:.1f} ms")
    for k, name in enumerate(names):
        med = statistics.median(r[k] for r in rows)
        say(f"  {med * 1000:7.2f} ms  {name}")


def perf_stat(label, cmd):
    p = subprocess.run(["perf", "stat", "-r", str(RUNS), "-x", ",", "-e", "task-clock,context-switches,page-faults",
                        *cmd], capture_output=True, text=True, stdin=subprocess.DEVNULL)
    vals = {}
    for line in p.stderr.splitlines():
        f = line.split(",")
        if len(f) > 3:
            vals[f[2]] = f[0]
    wall = None
    # elapsed time: run it ourselves (perf -x does not print it)
    t = []
    for _ in range(min(RUNS, 20)):
        t0 = time.perf_counter()
        bench.run_quiet(cmd)
        t.append(time.perf_counter() - t0)
    wall = statistics.median(t)
    say(f"  {label:6} task-clock {float(vals.get('task-clock', 'nan')):6.2f} ms CPU, elapsed {wall * 1000:6.1f} ms, "
        f"context switches {vals.get('context-switches')}, page faults {vals.get('page-faults')}")


def perf_trace(label, cmd, top=12):
    p = subprocess.run(["perf", "trace", "-s", "-f", "--", *cmd], capture_output=True, text=True,
                       stdin=subprocess.DEVNULL)
    agg = {}
    for line in (p.stdout + p.stderr).splitlines():
        f = line.split()
        if len(f) >= 8 and f[1].isdigit() and f[0] != "syscall":
            try:
                calls, total = int(f[1]), float(f[3])
            except ValueError:
                continue
            c, t = agg.get(f[0], (0, 0.0))
            agg[f[0]] = (c + calls, t + total)
    say(f"  {label}: top syscalls by summed wall time (all processes, ms; blocking waits included)")
    for name, (c, t) in sorted(agg.items(), key=lambda kv: -kv[1][1])[:top]:
        say(f"    {name:16} {c:5} calls {t:8.2f} ms")


def ablation(bundles):
    cmds = []
    for rt, binpath in (("oxrun", bench.OXRUN), ("crun", bench.CRUN)):
        for variant, b in bundles.items():
            cmds.append(f"-n {rt}-{variant} " + bench.q(binpath, "--root", bench.root_of(rt), "run", "-b", b,
                                                          f"oxb-abl-{rt}"))
    js = os.path.join(bench.OUT, "profile-ablation.json")
    args = ["hyperfine", "-N", "--style", "none", "--runs", str(RUNS), "--warmup", "2", "--export-json", js]
    for c in cmds:
        name, cmd = c.split(" ", 2)[1], c.split(" ", 2)[2]
        args += ["-n", name, cmd]
    rc, err = bench.run_quiet(args)
    if rc != 0:
        say(f"  ablation failed: {err[-300:]}")
        return
    for r in json.load(open(js))["results"]:
        say(f"  {r['command']:22} median {r['median'] * 1000:6.1f} ms")


def main():
    os.makedirs(bench.OUT, exist_ok=True)
    os.makedirs(bench.STATE_ROOT, exist_ok=True)
    bench.prepare_host()
    bundles = bench.build_bundles()
    b = bundles["true"]
    say(f"# profile of `run` /bin/true — {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load "
        f"{' '.join(open('/proc/loadavg').read().split()[:3])}")
    say("\n## 1. oxrun phases (--debug timestamps)")
    phases(bench.OXRUN, bench.root_of("oxrun"), b)
    say("\n## 2. CPU versus elapsed (perf stat)")
    for rt, binpath in (("oxrun", bench.OXRUN), ("crun", bench.CRUN), ("runc", bench.RUNC)):
        perf_stat(rt, [binpath, "--root", bench.root_of(rt), "run", "-b", b, f"oxb-prof-{rt}"])
    say("\n## 3. syscalls (perf trace -s, one run each, tracer overhead inflates everything)")
    for rt, binpath in (("oxrun", bench.OXRUN), ("crun", bench.CRUN)):
        perf_trace(rt, [binpath, "--root", bench.root_of(rt), "run", "-b", b, f"oxb-prof-{rt}"])
    say("\n## 4. ablations (hyperfine medians)")
    base = json.load(open(os.path.join(b, "config.json")))
    variants = {}
    for variant, keep in (("all-ns", None), ("no-netns", lambda t: t != "network"), ("mnt-only", lambda t: t == "mount")):
        d = os.path.join(bench.OUT, f"bundle-abl-{variant}")
        os.makedirs(d, exist_ok=True)
        c = json.loads(json.dumps(base))
        if keep:
            c["linux"]["namespaces"] = [ns for ns in c["linux"]["namespaces"] if keep(ns["type"])]
            if variant == "mnt-only":
                # without a pid namespace /proc cannot be mounted fresh: bind the host's
                for m in c["mounts"]:
                    if m["destination"] == "/proc":
                        m.update({"type": "bind", "source": "/proc", "options": ["rbind", "nosuid", "noexec", "nodev"]})
                c["linux"].pop("maskedPaths", None)
                c["linux"].pop("readonlyPaths", None)
        json.dump(c, open(os.path.join(d, "config.json"), "w"))
        variants[variant] = d
    ablation(variants)
    open(os.path.join(bench.OUT, "profile.txt"), "w").write("\n".join(out_lines) + "\n")


if __name__ == "__main__":
    main()
