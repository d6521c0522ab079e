#!/usr/bin/env python3
"""Where does `oxrun run` of /bin/true spend its time, next to crun? (bench/profile.sh; ~2 minutes)

1. oxrun's phases, from its own --debug JSON log timestamps (no tracer overhead), median of N runs.
2. perf stat: CPU time (task-clock) versus elapsed time, for oxrun and crun: how much is waiting.
3. perf trace -s: wall time per syscall (summed over all processes of one run), top entries.
4. Ablations with hyperfine, interleaved: the same bundle without the network namespace, for oxrun and crun; and oxrun run from a read-only bind mount, where its CVE-2019-5736
   guard has nothing to do (no overlayfs view, no re-exec).
5. The cost of attaching a process to the v1 cgroups (the first cgroup.procs write waits for an RCU grace period).
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


def ablation(bundles, ro_oxrun):
    cmds = []
    for rt, binpath in (("oxrun", bench.OXRUN), ("crun", bench.CRUN)):
        for variant, b in bundles.items():
            cmds.append((f"{rt}-{variant}", bench.q(binpath, "--root", bench.root_of(rt), "run", "-b", b,
                                                     f"oxb-abl-{rt}")))
    # The CVE-2019-5736 guard re-executes oxrun from an overlayfs view of its binary unless the binary
    # already sits on a read-only mount: the same oxrun from a read-only bind mount skips that step.
    if ro_oxrun:
        cmds.append(("oxrun-ro-binary", bench.q(ro_oxrun, "--root", bench.root_of("oxrun"), "run", "-b",
                                                bundles["all-ns"], "oxb-abl-oxrun")))
    # Interleaved blocks (A B C …, then … C B A), as in bench.py: drift hits every variant alike.
    bench.hyperfine_interleaved("ablation", [(name, cmd, None) for name, cmd in cmds], RUNS, rounds=max(1, RUNS // 5))
    series = bench.results["benches"].get("ablation", {}).get("series", {})
    for name, _ in cmds:
        s = series.get(name, {})
        st = bench.stats(s.get("values", []))
        if st:
            say(f"  {name:22} median {st['median'] * 1000:6.1f} ms  (p25–p75 {st['p25'] * 1000:.1f}–{st['p75'] * 1000:.1f})")
        else:
            say(f"  {name:22} failed: {s.get('skipped')}")


def cgroup_join_cost(rounds=15):
    hs = [h for h in sorted(os.listdir("/sys/fs/cgroup")) if h != "unified"
          and os.path.exists(f"/sys/fs/cgroup/{h}/cgroup.procs")]
    res = []
    for _ in range(rounds):
        p = subprocess.Popen(["sleep", "10"])
        ds = []
        for h in hs:
            d = f"/sys/fs/cgroup/{h}/oxb-cgtest"
            os.makedirs(d, exist_ok=True)
            ds.append(d)
            if h == "cpuset":
                for f in ("cpuset.cpus", "cpuset.mems"):
                    open(f"{d}/{f}", "w").write(open(f"/sys/fs/cgroup/cpuset/{f}").read())
        t = []
        for d in ds:
            t0 = time.perf_counter()
            open(f"{d}/cgroup.procs", "w").write(str(p.pid))
            t.append(time.perf_counter() - t0)
        res.append(t)
        p.kill()
        p.wait()
        time.sleep(0.05)
        for d in ds:
            os.rmdir(d)
    say(f"  first write ({hs[0]}): {statistics.median(r[0] for r in res) * 1000:.2f} ms; all {len(hs)} "
        f"hierarchies: {statistics.median(sum(r) for r in res) * 1000:.2f} ms; later writes "
        f"{statistics.median(x for r in res for x in r[1:]) * 1000:.3f} ms each")


def main():
    os.makedirs(bench.OUT, exist_ok=True)
    os.makedirs(bench.STATE_ROOT, exist_ok=True)
    moved = bench.prepare_host()
    try:
        profile()
    finally:
        bench.undo_host(moved)


def profile():
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
    for variant, keep in (("all-ns", None), ("no-netns", lambda t: t != "network")):
        d = os.path.join(bench.OUT, f"bundle-abl-{variant}")
        os.makedirs(d, exist_ok=True)
        c = json.loads(json.dumps(base))
        if keep:
            c["linux"]["namespaces"] = [ns for ns in c["linux"]["namespaces"] if keep(ns["type"])]
        json.dump(c, open(os.path.join(d, "config.json"), "w"))
        variants[variant] = d
    ro_dir = os.path.join(bench.OUT, "ro-bin")
    os.makedirs(ro_dir, exist_ok=True)
    ro_oxrun = None
    if subprocess.run(["mountpoint", "-q", ro_dir]).returncode != 0:
        import shutil
        shutil.copy(bench.OXRUN, os.path.join(ro_dir, "oxrun"))
        if subprocess.run(["mount", "--bind", "-o", "ro", ro_dir, ro_dir]).returncode == 0:
            subprocess.run(["mount", "-o", "remount,bind,ro", ro_dir])
    if subprocess.run(["mountpoint", "-q", ro_dir]).returncode == 0:
        ro_oxrun = os.path.join(ro_dir, "oxrun")
    try:
        ablation(variants, ro_oxrun)
    finally:
        subprocess.run(["umount", ro_dir])
    say("\n## 5. cgroup v1 attach: a process written into cgroup.procs of each v1 hierarchy (ms, median)")
    cgroup_join_cost()
    open(os.path.join(bench.OUT, "profile.txt"), "w").write("\n".join(out_lines) + "\n")


if __name__ == "__main__":
    main()
