#!/usr/bin/env python3
"""oxrun/oxmon against Debian's crun, runc and conmon, interleaved (A B C A B C ...).

Writes bench/results.md (table), bench/chart.svg (distributions) and bench/out/results.json.
Targets are goals: they are reported, never asserted. See bench/README.md.

Environment:
  OXRUN_BIN, OXMON_BIN        binaries under test (default target/release/{oxrun,oxmon})
  CRUN_BIN, RUNC_BIN, CONMON_BIN  references (default /usr/bin/crun, /usr/sbin/runc, /usr/bin/conmon)
  BENCH_QUICK=1               a few iterations of everything (smoke test, < 1 min); writes only bench/out/
  BENCH_ONLY=a,b              run only these benchmarks (names: see BENCHES)
  BENCH_LABEL=text            label printed at the top of results.md (e.g. "development run")
  BENCH_RESULTS, BENCH_CHART  output paths (default bench/results.md, bench/chart.svg; quick: bench/out/)
  BENCH_LOG_MIB=512,1024      log throughput volumes (MiB per run; default 512,1024, quick 8)
  BENCH_LOG_DIR               where log-throughput writes its k8s-file logs (default /dev/shm: memory, no disk)
  BENCH_LOG_ROUNDS            log-throughput rounds per volume (default 8; each round runs every stack once)
"""
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import tempfile
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
QUICK = os.environ.get("BENCH_QUICK", "") not in ("", "0")
OUT = os.environ.get("BENCH_OUT", os.path.join(HERE, "out"))
RESULTS_MD = os.environ.get("BENCH_RESULTS", os.path.join(OUT if QUICK else HERE, "results.md"))
CHART = os.environ.get("BENCH_CHART", os.path.join(OUT if QUICK else HERE, "chart.svg"))
ONLY = [b for b in os.environ.get("BENCH_ONLY", "").split(",") if b]
LABEL = os.environ.get("BENCH_LABEL", "")
LOG_DIR = os.environ.get("BENCH_LOG_DIR", "/dev/shm")  # memory: the disk is no part of what is measured

OXRUN = os.environ.get("OXRUN_BIN", os.path.join(REPO, "target/release/oxrun"))
OXMON = os.environ.get("OXMON_BIN", os.path.join(REPO, "target/release/oxmon"))
CRUN = os.environ.get("CRUN_BIN", "/usr/bin/crun")
RUNC = os.environ.get("RUNC_BIN", shutil.which("runc") or "/usr/sbin/runc")
CONMON = os.environ.get("CONMON_BIN", "/usr/bin/conmon")

STATE_ROOT = "/run/oxrun-bench"  # private --root of each runtime, private podman runroot
PODMAN_ROOT = "/var/lib/oxrun-bench/storage"
IMAGE = "localhost/oxbench-busybox:latest"
PREFIX = f"oxb{os.getpid()}"

# Iteration counts: (default, quick).
N = {
    "s2e_runs": (200, 4), "lc_runs": (100, 2), "exec_runs": (150, 3), "idle_runs": (60, 2),
    "par_containers": (100, 8), "par_rounds": (5, 1),
    "podman_runs": (40, 2), "mem_rounds": (5, 1),
    "log_rounds": (int(os.environ.get("BENCH_LOG_ROUNDS", "8")), 1),
    "rss_runs": (10, 2),
}


def n(key):
    return N[key][1 if QUICK else 0]


RUNTIMES = [("oxrun", OXRUN), ("crun", CRUN), ("runc", RUNC)]
STACKS = [("oxrun+oxmon", "oxrun", OXMON), ("crun+conmon", "crun", CONMON), ("runc+conmon", "runc", CONMON)]

# Per-benchmark metadata: unit, whether lower is better, target (ratio vs reference).
results = {"meta": {}, "benches": {}, "notes": [], "warnings": []}


def log(msg):
    print(msg, flush=True)


def warn(msg):
    line = "WARNING: " + msg
    print("\n" + "!" * 78 + "\n" + line + "\n" + "!" * 78, file=sys.stderr, flush=True)
    results["warnings"].append(msg)


def note(msg):
    log("note: " + msg)
    results["notes"].append(msg)


def sh(args, check=True, **kw):
    p = subprocess.run(args, capture_output=True, text=True, **kw)
    if check and p.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({p.returncode}): {p.stderr.strip()[-500:]}")
    return p


def run_quiet(args):
    """Runs a runtime command with /dev/null stdio and stderr in a file: a container started by it may
    hold inherited fds forever, so no pipe may be given to it. Returns (returncode, stderr text)."""
    import tempfile
    with open(os.devnull, "r+b") as null, tempfile.TemporaryFile() as err:
        rc = subprocess.run(args, stdin=null, stdout=null, stderr=err).returncode
        err.seek(0)
        return rc, err.read().decode(errors="replace").strip()


def root_of(rt):
    return f"{STATE_ROOT}/{rt}"


def rtcmd(rt, binpath, *args):
    return [binpath, "--root", root_of(rt), *args]


def record(bench, label, values, unit, **extra):
    b = results["benches"].setdefault(bench, {"unit": unit, "series": {}})
    b["unit"] = unit
    s = b["series"].setdefault(label, {"values": []})
    s["values"].extend(values)
    s.update(extra)


def skip(bench, label, reason, unit="s"):
    b = results["benches"].setdefault(bench, {"unit": unit, "series": {}})
    b["series"].setdefault(label, {"values": []})["skipped"] = reason
    log(f"  {label}: not measured ({reason})")


# ---------------------------------------------------------------------------------------------
# Host and fixtures


def prepare_host():
    """crun 1.8.1 refuses hybrid hosts whose unified hierarchy still holds controllers. Returns
    what it moved, as (mount point, whether its directory was made here), for undo_host."""
    unified = "/sys/fs/cgroup/unified"
    ctl = os.path.join(unified, "cgroup.controllers")
    moved_here = []
    if not os.path.exists(ctl):
        return moved_here
    held = open(ctl).read().split()
    if not held:
        moved = [line.split(" - ")[1].split()[2] for line in open("/proc/self/mountinfo")
                 if " - cgroup " in line and "hugetlb" in line.split(" - ")[1].split()[2].split(",")]
        if moved:
            note(f"host preparation for crun: already done (hugetlb is on a v1 hierarchy, {unified} holds no "
                 f"controller), e.g. by an earlier run: mkdir -p /sys/fs/cgroup/hugetlb && "
                 f"mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb")
        else:
            log(f"host: {unified} holds no controller; crun accepts this hybrid host as is")
        return moved_here
    for c in held:
        target = f"/sys/fs/cgroup/{c}"
        note(f"host preparation for crun: moving controller '{c}' from cgroup2 ({unified}) to a v1 "
             f"hierarchy: mkdir -p {target} && mount -t cgroup -o {c} cgroup {target} "
             f"(undo: umount {target}; the controller returns to cgroup2 once that hierarchy has no child cgroups)")
        made_dir = not os.path.exists(target)
        os.makedirs(target, exist_ok=True)
        p = sh(["mount", "-t", "cgroup", "-o", c, "cgroup", target], check=False)
        if p.returncode == 0:
            moved_here.append((target, made_dir))
        else:
            users = []
            for dirpath, _dirs, files in os.walk(unified):
                if "cgroup.subtree_control" in files:
                    try:
                        if c in open(os.path.join(dirpath, "cgroup.subtree_control")).read().split():
                            users.append(dirpath)
                    except OSError:
                        pass
            warn(f"could not move '{c}' to v1: {p.stderr.strip()}. A controller can be bound to one hierarchy only "
                 f"and moves away from cgroup2 only while no child cgroup uses it; cgroups with '{c}' in "
                 f"cgroup.subtree_control: {users or 'none found'}. Remove '{c}' from their subtree_control "
                 f"(echo -{c} > .../cgroup.subtree_control, deepest first) and rerun. crun rows will fail.")
    return moved_here


def undo_host(moved):
    """Puts the host back as prepare_host found it: each hierarchy it mounted is unmounted (the
    controller returns to cgroup2 once that hierarchy has no child cgroup) and a directory it made
    is removed."""
    for target, made_dir in moved:
        # The hierarchy was mounted fresh by this run, so every cgroup in it was made during the
        # run (Podman leaves empty libpod_parent ones): remove the empty ones, deepest first, so
        # the controller can return to cgroup2.
        for dirpath, _dirs, _files in sorted(os.walk(target), key=lambda w: -len(w[0])):
            if dirpath != target:
                try:
                    os.rmdir(dirpath)
                except OSError:
                    pass
        p = sh(["umount", target], check=False)
        if p.returncode != 0:
            warn(f"could not unmount {target}: {p.stderr.strip()}")
        elif made_dir:
            try:
                os.rmdir(target)
            except OSError as e:
                warn(f"could not remove {target} (made by this run): {e}")
        settle_hierarchy(os.path.basename(target))
        note(f"host preparation undone: umount {target}")


def hierarchy_of(controller):
    """(hierarchy id, number of cgroups) /proc/cgroups gives `controller` (id 0: cgroup2), or None."""
    with open("/proc/cgroups") as f:
        for line in f:
            parts = line.split()
            if parts and parts[0] == controller:
                return int(parts[1]), int(parts[2])
    return None


def wait_for(cond, seconds):
    deadline = time.monotonic() + seconds
    while not cond():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def settle_hierarchy(controller):
    """Waits for `controller` to return to cgroup2 after its v1 hierarchy was unmounted. The
    kernel keeps a hierarchy that still had child cgroups at unmount (cgroups just removed may
    still be dying then), hidden and holding the controller, even once they are gone (seen here:
    hugetlb left so after a bench run). Once only its root is left, mounting it again and
    unmounting it lets it go; the release itself takes a moment."""
    back = lambda: (hierarchy_of(controller) or (0, 0))[0] == 0
    if wait_for(back, 2):
        return
    wait_for(lambda: (hierarchy_of(controller) or (0, 1))[1] <= 1, 10)
    tmp = tempfile.mkdtemp(prefix="oxrun-bench-cg-")
    try:
        if sh(["mount", "-t", "cgroup", "-o", controller, "cgroup", tmp], check=False).returncode == 0:
            sh(["umount", tmp], check=False)
    finally:
        os.rmdir(tmp)
    if not wait_for(back, 10):
        warn(f"{controller} is still in a v1 hierarchy (/proc/cgroups {hierarchy_of(controller)}): "
             "mount it once more and unmount it to free it")


def build_bundles():
    bundles = {}
    busybox = shutil.which("busybox") or "/bin/busybox"
    rootfs = os.path.join(OUT, "rootfs")
    if not os.path.exists(os.path.join(rootfs, "bin/busybox")):
        for d in ("bin", "proc", "sys", "dev", "etc", "tmp"):
            os.makedirs(os.path.join(rootfs, d), exist_ok=True)
        shutil.copy(busybox, os.path.join(rootfs, "bin/busybox"))
        for applet in sh([busybox, "--list"]).stdout.split():
            if applet != "busybox":
                link = os.path.join(rootfs, "bin", applet)
                if not os.path.lexists(link):
                    os.symlink("busybox", link)
        open(os.path.join(rootfs, "etc/passwd"), "w").write("root:x:0:0:root:/root:/bin/sh\n")
        open(os.path.join(rootfs, "etc/group"), "w").write("root:x:0:\n")
    # The spec comes from runc (the reference), identical for every runtime.
    tmp = os.path.join(OUT, "spec")
    os.makedirs(tmp, exist_ok=True)
    if os.path.exists(os.path.join(tmp, "config.json")):
        os.unlink(os.path.join(tmp, "config.json"))
    sh([RUNC, "spec"], cwd=tmp)
    base = json.load(open(os.path.join(tmp, "config.json")))
    for name, args in (("true", ["/bin/true"]), ("sleep", ["/bin/sleep", "1000000"])):
        b = os.path.join(OUT, "bundle-" + name)
        os.makedirs(b, exist_ok=True)
        if not os.path.lexists(os.path.join(b, "rootfs")):
            os.symlink(rootfs, os.path.join(b, "rootfs"))
        c = json.loads(json.dumps(base))
        c["root"]["path"] = rootfs
        c["process"]["terminal"] = False
        c["process"]["args"] = args
        json.dump(c, open(os.path.join(b, "config.json"), "w"), indent=1)
        bundles[name] = b
    return bundles


def cleanup_runtime_containers():
    for rt, binpath in RUNTIMES:
        if not os.path.exists(binpath):
            continue
        p = sh(rtcmd(rt, binpath, "list", "-q"), check=False)
        for cid in p.stdout.split():
            if cid.startswith("oxb"):
                sh(rtcmd(rt, binpath, "delete", "-f", cid), check=False)


def runtime_ok(rt, binpath, bundle):
    if not os.path.exists(binpath):
        return f"{binpath} does not exist"
    rc, err = run_quiet(rtcmd(rt, binpath, "run", "-b", bundle, f"{PREFIX}-probe-{rt}"))
    if rc != 0:
        return f"`{rt} run` of /bin/true failed: {err[-300:]}"
    return None


# ---------------------------------------------------------------------------------------------
# hyperfine, interleaved in blocks


def hyperfine_interleaved(bench, cmds, runs, rounds=None):
    """cmds: [(label, command, prepare-or-None)]. Runs `runs` runs per label as `rounds` blocks,
    alternating the order of labels each round (A B C, C B A, ...), so drift hits all of them."""
    rounds = rounds or max(1, min(10, runs // 10))
    k = max(2, runs // rounds)
    failed = {}
    hfdir = os.path.join(OUT, "hyperfine")
    os.makedirs(hfdir, exist_ok=True)
    for r in range(rounds):
        order = cmds if r % 2 == 0 else list(reversed(cmds))
        for label, cmd, prep in order:
            if label in failed:
                continue
            js = os.path.join(hfdir, f"{bench}-{label}-{r}.json".replace("+", "_"))
            args = ["hyperfine", "-N", "--style", "none", "--runs", str(k), "--warmup", "1" if r == 0 and not QUICK else "0",
                    "--export-json", js]
            if prep:
                args += ["--prepare", prep]
            args.append(cmd)
            # Files, not pipes: containers created by --prepare must not inherit a pipe we read to EOF.
            rc, err = run_quiet(args)
            if rc != 0:
                failed[label] = (err.splitlines() or ["hyperfine failed"])[-1][-300:]
                skip(bench, label, f"failed: {failed[label]}")
                continue
            record(bench, label, json.load(open(js))["results"][0]["times"], "s")
    return failed


def q(*parts):
    """A command line for hyperfine -N (shell-words split)."""
    out = []
    for p in parts:
        p = str(p)
        out.append(p if re.fullmatch(r"[A-Za-z0-9_./:=+,@-]+", p) else "'" + p.replace("'", "'\\''") + "'")
    return " ".join(out)


# ---------------------------------------------------------------------------------------------
# Benchmarks


# Before each run of the -idle variants: a host that starts a container now and then, not
# hundreds back to back. The kernel's lock for moving a process into a v1 cgroup (cgroup.procs)
# then waits for an RCU grace period; in a tight loop it stays warm and costs nothing.
IDLE = "sleep 0.1"


def bench_start_to_exit(ctx, bench="start-to-exit", prep=None, runs="s2e_runs"):
    cmds = []
    for rt, binpath in ctx["runtimes"]:
        cmds.append((rt, q(*rtcmd(rt, binpath, "run", "-b", ctx["bundles"]["true"], f"{PREFIX}-s2e-{rt}")), prep))
    hyperfine_interleaved(bench, cmds, n(runs))


def bench_start_to_exit_idle(ctx):
    bench_start_to_exit(ctx, "start-to-exit-idle", IDLE, "idle_runs")


def bench_lifecycle(ctx):
    helper = os.path.join(HERE, "lc-prepare.sh")
    for phase in ("create", "start", "delete"):
        cmds = []
        for rt, binpath in ctx["runtimes"]:
            cid = f"{PREFIX}-lc-{rt}"
            prep = q("sh", helper, phase, binpath, root_of(rt), ctx["bundles"]["true"], cid)
            if phase == "create":
                cmd = rtcmd(rt, binpath, "create", "-b", ctx["bundles"]["true"], cid)
            else:
                cmd = rtcmd(rt, binpath, phase, cid)
            cmds.append((rt, q(*cmd), prep))
        hyperfine_interleaved(f"lifecycle-{phase}", cmds, n("lc_runs"))
        for rt, binpath in ctx["runtimes"]:
            sh(rtcmd(rt, binpath, "delete", "-f", f"{PREFIX}-lc-{rt}"), check=False)


def bench_exec(ctx, bench="exec", prep=None, runs="exec_runs"):
    cmds = []
    started = []
    for rt, binpath in ctx["runtimes"]:
        cid = f"{PREFIX}-exec-{rt}"
        # create + start with /dev/null stdio (the container must not hold our pipes).
        crc, cerr = run_quiet(rtcmd(rt, binpath, "create", "-b", ctx["bundles"]["sleep"], cid))
        src, serr = run_quiet(rtcmd(rt, binpath, "start", cid)) if crc == 0 else (1, "")
        if crc != 0 or src != 0:
            skip(bench, rt, f"could not start a container: {(cerr + serr)[-200:]}")
            sh(rtcmd(rt, binpath, "delete", "-f", cid), check=False)
            continue
        started.append((rt, binpath, cid))
        cmds.append((rt, q(*rtcmd(rt, binpath, "exec", cid, "/bin/true")), prep))
    try:
        hyperfine_interleaved(bench, cmds, n(runs))
    finally:
        for rt, binpath, cid in started:
            sh(rtcmd(rt, binpath, "delete", "-f", cid), check=False)


def bench_exec_idle(ctx):
    bench_exec(ctx, "exec-idle", IDLE, "idle_runs")


def bench_parallel(ctx):
    total = n("par_containers")
    workers = 4
    bundle = ctx["bundles"]["true"]
    bad = {}
    for r in range(n("par_rounds")):
        order = ctx["runtimes"] if r % 2 == 0 else list(reversed(ctx["runtimes"]))
        for rt, binpath in order:
            if rt in bad:
                continue
            errors = []

            def one(i, rt=rt, binpath=binpath, errors=errors):
                cid = f"{PREFIX}-par-{rt}-{r}-{i}"
                for args in (("create", "-b", bundle, cid), ("start", cid), ("delete", "-f", cid)):
                    rc, err = run_quiet(rtcmd(rt, binpath, *args))
                    if rc != 0:
                        errors.append(f"{args[0]}: {err[-200:]}")
                        run_quiet(rtcmd(rt, binpath, "delete", "-f", cid))
                        return

            t0 = time.perf_counter()
            with ThreadPoolExecutor(workers) as ex:
                list(ex.map(one, range(total)))
            dt = time.perf_counter() - t0
            if errors:
                bad[rt] = errors[0]
                skip("parallel", rt, f"{len(errors)}/{total} containers failed, first: {errors[0]}", unit="containers/s")
                continue
            record("parallel", rt, [total / dt], "containers/s", higher_better=True)


# --- Podman -----------------------------------------------------------------------------------


def podman_env():
    return dict(os.environ, CONTAINERS_CONF=os.path.join(OUT, "containers.conf"))


def podman(stack_rt=None, monitor=None):
    args = ["podman", "--root", PODMAN_ROOT, "--runroot", f"{STATE_ROOT}/podman"]
    if monitor:
        args += ["--conmon", monitor]
    if stack_rt:
        args += ["--runtime", stack_rt]
    return args


def podman_setup(ctx):
    conf = f"""# Written by bench/bench.py: a private containers.conf for the benchmarks.
[containers]
# CAP_SYS_RESOURCE is missing on this host: keep rlimits below the hard limits.
default_ulimits = ["nofile=1024:20000", "nproc=4096:4096"]

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
runtime_supports_json = ["crun", "runc", "oxrun"]

[engine.runtimes]
oxrun = ["{OXRUN}"]
crun = ["{CRUN}"]
runc = ["{RUNC}"]
"""
    os.makedirs(OUT, exist_ok=True)
    open(os.path.join(OUT, "containers.conf"), "w").write(conf)
    env = podman_env()
    # Containers left by an interrupted earlier run (our private store holds nothing else).
    left = sh(podman() + ["ps", "-aq", "--filter", "name=^oxb"], check=False, env=env).stdout.split()
    if left:
        sh(podman() + ["rm", "-f", "-t", "0", *left], check=False, env=env)
    if sh(podman() + ["image", "exists", IMAGE], check=False, env=env).returncode != 0:
        tar = os.path.join(OUT, "rootfs.tar")
        sh(["tar", "-C", os.path.join(OUT, "rootfs"), "-cf", tar, "."])
        sh(podman() + ["import", tar, IMAGE], env=env)
    # Which stacks can run at all, and is the monitor really the one asked for?
    stacks = []
    for label, rt, mon in STACKS:
        binpath = dict(RUNTIMES)[rt]
        reason = None
        if rt not in dict(ctx["runtimes"]):
            reason = f"{rt} is not usable: {ctx['runtime_errors'].get(rt, '?')}"
        elif not os.path.exists(mon):
            reason = f"{mon} does not exist (is it built? `make build`)"
        else:
            v = sh([mon, "--version"], check=False)
            if v.returncode != 0 or not re.search(r"\d+\.\d+\.\d+", v.stdout):
                reason = f"`{mon} --version` fails or prints no version (Podman would silently use the conmon on PATH)"
        if reason is None:
            exe, err = podman_monitor_probe(rt, mon)
            if err:
                reason = err
            elif os.path.realpath(exe) != os.path.realpath(mon):
                warn(f"{label}: Podman ran the monitor {exe}, not {mon} (Podman falls back to the conmon on PATH when the "
                     f"configured monitor fails its --version probe, or the monitor ran another binary). Rows for {label} are NOT {mon.split('/')[-1]}.")
                reason = f"Podman used {exe} instead of {mon}"
        if reason:
            for bench in ("podman-run", "monitor-rss", "log-throughput"):
                skip(bench, label, reason, unit="s")
            continue
        stacks.append((label, rt, mon, binpath))
    return stacks


def conmon_pid(name):
    p = sh(podman() + ["inspect", "--format", "{{.State.ConmonPid}}", name], check=False, env=podman_env())
    try:
        return int(p.stdout.strip())
    except ValueError:
        return None


def podman_monitor_probe(rt, mon):
    """Starts a sleeping container; returns (monitor exe, error)."""
    name = f"{PREFIX}-probe-{rt}"
    env = podman_env()
    p = sh(podman(rt, mon) + ["run", "-d", "--name", name, IMAGE, "sleep", "1000"], check=False, env=env)
    try:
        if p.returncode != 0:
            return None, f"`podman run` failed: {p.stderr.strip()[-300:]}"
        pid = conmon_pid(name)
        if not pid:
            return None, "no monitor pid from podman inspect"
        return os.readlink(f"/proc/{pid}/exe"), None
    finally:
        sh(podman() + ["rm", "-f", "-t", "0", name], check=False, env=env)


def bench_podman_run(ctx):
    cmds = [(label, q(*podman(rt, mon), "run", "--rm", IMAGE, "true"), None) for label, rt, mon, _ in ctx["stacks"]]
    # hyperfine passes its environment on: set CONTAINERS_CONF for it.
    os.environ["CONTAINERS_CONF"] = os.path.join(OUT, "containers.conf")
    hyperfine_interleaved("podman-run", cmds, n("podman_runs"), rounds=max(1, n("podman_runs") // 10))


def status_kib(pid, key):
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def pss_kib(pid):
    try:
        for line in open(f"/proc/{pid}/smaps_rollup"):
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def bench_monitor_rss(ctx):
    env = podman_env()
    for r in range(n("mem_rounds")):
        order = ctx["stacks"] if r % 2 == 0 else list(reversed(ctx["stacks"]))
        for label, rt, mon, _ in order:
            name = f"{PREFIX}-mem-{rt}-{r}"
            p = sh(podman(rt, mon) + ["run", "-d", "--name", name, IMAGE, "sleep", "1000"], check=False, env=env)
            try:
                if p.returncode != 0:
                    skip("monitor-rss", label, f"podman run failed: {p.stderr.strip()[-200:]}", unit="KiB")
                    continue
                time.sleep(0.5)  # let the monitor settle (sync pipes closed, log opened)
                pid = conmon_pid(name)
                exe = os.readlink(f"/proc/{pid}/exe") if pid else "?"
                if os.path.realpath(exe) != os.path.realpath(mon):
                    warn(f"monitor-rss {label}: monitor process is {exe}, not {mon}")
                    continue
                rss, pss = status_kib(pid, "VmRSS"), pss_kib(pid)
                record("monitor-rss", label, [rss], "KiB", pss=[*(results["benches"].get("monitor-rss", {})
                                                                    .get("series", {}).get(label, {}).get("pss", [])), pss])
            finally:
                sh(podman() + ["rm", "-f", "-t", "0", name], check=False, env=env)


LINE_BYTES = 1024  # including the newline


def log_generator(mib):
    """A file of `mib` MiB of numbered 1 KiB lines ("%010d " + x * 1012 + newline) in /dev/shm (memory), made
    once per size. The container `cat`s it: busybox cat copies a tmpfs file into the pipe far faster than any
    monitor drains it, so the monitor is the bottleneck. Returns (path, lines)."""
    lines = mib * 2**20 // LINE_BYTES
    path = f"/dev/shm/oxbench-log-{mib}m.txt"
    if os.path.exists(path) and os.path.getsize(path) == lines * LINE_BYTES:
        return path, lines
    pad = b"x" * (LINE_BYTES - 12)
    with open(path + ".tmp", "wb") as f:
        for start in range(0, lines, 4096):
            f.write(b"".join(b"%010d %s\n" % (i, pad) for i in range(start, min(start + 4096, lines))))
    os.rename(path + ".tmp", path)
    return path, lines


def verify_k8s_log(path, lines):
    """Every line i is "%010d " + 'x' * pad, in order, none lost; P records joined with what follows.
    Returns (ok, message, first_ts, last_ts)."""
    pad = b"x" * (LINE_BYTES - 12)
    expect = 0
    partial = []
    bad = None
    first_ts = last_ts = None
    with open(path, "rb") as f:
        for rec in f:
            parts = rec.rstrip(b"\n").split(b" ", 3)
            if len(parts) < 3:
                bad = bad or f"malformed record {rec[:80]!r}"
                continue
            ts, stream, tag = parts[0], parts[1], parts[2]
            content = parts[3] if len(parts) == 4 else b""
            if first_ts is None:
                first_ts = ts
            last_ts = ts
            if stream != b"stdout" or tag not in (b"P", b"F"):
                bad = bad or f"unexpected stream or tag {stream!r} {tag!r}: {content[:80]!r}"
                continue
            partial.append(content)
            if tag == b"P":
                continue
            line = b"".join(partial)
            partial = []
            num, _, rest = line.partition(b" ")
            if num != b"%010d" % expect or rest != pad:
                bad = bad or f"line {expect}: got {line[:40]!r}... ({len(line)} bytes)"
                try:
                    expect = int(num)
                except ValueError:
                    pass
            expect += 1
    if partial:
        bad = bad or "log ends in a partial (P) record"
    if expect != lines:
        bad = bad or f"{expect} lines in the log, {lines} written"
    return bad is None, bad or f"all {lines} lines present and intact", first_ts, last_ts


def parse_ts(ts):
    # 2026-11-29T17:30:01.123456789Z or with +00:00 offset: seconds since the epoch, nanosecond aware.
    s = ts.decode()
    m = re.match(r"(\d+)-(\d+)-(\d+)T(\d+):(\d+):(\d+)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)", s)
    if not m:
        return None
    import calendar
    y, mo, d, h, mi, se, frac, tz = m.groups()
    t = calendar.timegm((int(y), int(mo), int(d), int(h), int(mi), int(se)))
    t += int((frac or "0")[:9].ljust(9, "0")) / 1e9
    if tz != "Z":
        sign = 1 if tz[0] == "+" else -1
        t -= sign * (int(tz[1:3]) * 3600 + int(tz[4:6]) * 60)
    return t


def proc_cpu_s(pid):
    """utime + stime of `pid` in seconds (None once it is gone)."""
    try:
        f = open(f"/proc/{pid}/stat").read()
    except OSError:
        return None
    fields = f[f.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_io(pid):
    """(syscr, syscw) of `pid` from /proc/PID/io: read-type and write-type system calls so far (read, readv,
    recvmsg, … and write, writev, sendmsg, …), or None once it is gone."""
    try:
        fields = dict(line.split(": ") for line in open(f"/proc/{pid}/io").read().splitlines())
        return int(fields["syscr"]), int(fields["syscw"])
    except (OSError, KeyError, ValueError):
        return None


class MonitorSampler:
    """Samples the monitor's CPU time (utime+stime), VmHWM and read/write system call counts every 5 ms
    until it exits: the last sample is at most 5 ms before its exit."""

    def __init__(self, pid):
        self.pid, self.cpu, self.peak, self.io = pid, None, 0, None
        self.stop = threading.Event()
        self.th = threading.Thread(target=self.run, daemon=True)
        self.th.start()

    def run(self):
        while not self.stop.is_set() and self.pid:
            c = proc_cpu_s(self.pid)
            v = status_kib(self.pid, "VmHWM")
            io = proc_io(self.pid)
            if c is None:
                break
            self.cpu = c
            if io:
                self.io = io
            if v:
                self.peak = max(self.peak, v)
            self.stop.wait(0.005)

    def finish(self):
        self.stop.set()
        self.th.join()
        return self.cpu, self.peak, self.io


def log_sizes():
    if os.environ.get("BENCH_LOG_MIB"):
        return [int(x) for x in os.environ["BENCH_LOG_MIB"].split(",") if x]
    return [8] if QUICK else [512, 1024]


def log_bench_name(mib):
    return "log-throughput" if mib == log_sizes()[0] else f"log-throughput-{mib}m"


def container_times(name):
    """(StartedAt, FinishedAt) of a stopped container in seconds since the epoch, from `podman inspect`.
    Podman sets StartedAt when `runtime start` has returned (the container process runs from then on) and
    FinishedAt to the ctime of the exit file the monitor writes once it has drained and synced the logs
    (libpod `handleExitFile`), so FinishedAt - StartedAt is the container's run through the monitor's exit
    file, identical for every monitor and without Podman's own start and exit work."""
    p = sh(podman() + ["inspect", "--format", "{{.State.StartedAt.UnixNano}} {{.State.FinishedAt.UnixNano}}", name],
           check=False, env=podman_env())
    try:
        started, finished = (int(x) / 1e9 for x in p.stdout.split())
    except ValueError:
        return None, None
    return started, finished


def log_run(label, rt, mon, r, mib, data, lines, logdir):
    """One `podman run -d` of `cat` of the data file (bound read-only at /data) into k8s-file, until
    `podman wait` returns. The monitor's pid comes from --conmon-pidfile (no `podman inspect` competing
    for the CPU while the log is written) and `podman wait` polls every 20 ms (its default, 250 ms, would
    add up to a quarter second to every run). Returns a dict: wall (s, `podman run -d` to `podman wait`),
    run (s, container StartedAt to FinishedAt, see container_times), cpu (monitor CPU s), peak (KiB),
    io ((syscr, syscw) of the monitor), ok, msg, span (s between the first and last log timestamps)."""
    env = podman_env()
    name = f"{PREFIX}-log-{rt}-{mib}-{r}"
    path = os.path.join(logdir, f"{label}-{mib}-{r}.log".replace("+", "_"))
    pidfile = os.path.join(logdir, f"{name}.pid")
    for f in (path, pidfile):
        if os.path.exists(f):
            os.unlink(f)
    t0 = time.perf_counter()
    p = sh(podman(rt, mon) + ["run", "-d", "--name", name, "--conmon-pidfile", pidfile, "--log-driver", "k8s-file",
                              "--log-opt", f"path={path}", "-v", f"{data}:/data:ro", IMAGE, "cat", "/data"],
           check=False, env=env)
    try:
        if p.returncode != 0:
            raise RuntimeError(f"podman run failed: {p.stderr.strip()[-200:]}")
        try:
            pid = int(open(pidfile).read().strip())
        except (OSError, ValueError):
            pid = conmon_pid(name)
        try:
            exe = os.readlink(f"/proc/{pid}/exe") if pid else None
        except OSError:
            exe = None  # already gone (tiny volume)
        if exe and os.path.realpath(exe) != os.path.realpath(mon):
            warn(f"log-throughput {label}: monitor process is {exe}, not {mon}")
        sampler = MonitorSampler(pid if exe else None)
        w = sh(podman() + ["wait", "--interval", "20ms", name], check=False, env=env)
        wall = time.perf_counter() - t0
        cpu, peak, io = sampler.finish()
        code = w.stdout.strip()
        started, finished = container_times(name)
        run = finished - started if started and finished and finished > started else None
        ok, msg, first_ts, last_ts = verify_k8s_log(path, lines)
        span = (parse_ts(last_ts) - parse_ts(first_ts)) if first_ts and last_ts else None
        if code != "0":
            ok, msg = False, f"{msg}; exit code {code}"
        if run is None:
            ok, msg = False, f"{msg}; no StartedAt/FinishedAt from podman inspect"
        return {"wall": wall, "run": run, "cpu": cpu, "peak": peak, "io": io, "ok": ok, "msg": msg, "span": span}
    finally:
        sh(podman() + ["rm", "-f", "-t", "0", name], check=False, env=env)
        for f in (path, pidfile):
            if os.path.exists(f):
                os.unlink(f)


def bench_log_throughput(ctx):
    logdir = os.path.join(LOG_DIR, f"oxbench-logs-{os.getpid()}")
    os.makedirs(logdir, exist_ok=True)
    stacks = [s for s in ctx["stacks"] if s[0] in ("oxrun+oxmon", "crun+conmon")]
    made = []
    try:
        for mib in log_sizes():
            data, lines = log_generator(mib)
            made.append(data)
            bench = log_bench_name(mib)
            payload_mib = lines * LINE_BYTES / 2**20
            for r in range(n("log_rounds")):
                order = stacks if r % 2 == 0 else list(reversed(stacks))
                for label, rt, mon, _ in order:
                    b = results["benches"].setdefault(bench, {"unit": "MiB/s", "series": {}})
                    s = b["series"].setdefault(label, {"values": [], "higher_better": True, "checks": [],
                                                       "peak_rss_kib": [], "cpu_s_per_gib": [], "ts_mib_s": [],
                                                       "wall_mib_s": [], "syscalls_per_mib": []})
                    for key in ("wall_mib_s", "syscalls_per_mib"):  # results.json of an older harness
                        s.setdefault(key, [])
                    try:
                        m = log_run(label, rt, mon, r, mib, data, lines, logdir)
                    except RuntimeError as e:
                        skip(bench, label, str(e), unit="MiB/s")
                        continue
                    wall, run, cpu, peak, ok, msg = m["wall"], m["run"], m["cpu"], m["peak"], m["ok"], m["msg"]
                    if run:
                        s["values"].append(payload_mib / run)
                    s["wall_mib_s"].append(payload_mib / wall)
                    if m["span"] and m["span"] > 0:
                        s["ts_mib_s"].append(payload_mib / m["span"])
                    if cpu is not None:
                        s["cpu_s_per_gib"].append(cpu / (payload_mib / 1024))
                    if m["io"]:
                        s["syscalls_per_mib"].append([x / payload_mib for x in m["io"]])
                    s["checks"].append(("ok" if ok else "FAIL") + f": {msg}")
                    if peak:
                        s["peak_rss_kib"].append(peak)
                    rate = f"{payload_mib / run:.0f} MiB/s container start to exit ({run:.2f} s)" if run else "no start/exit"
                    io = f"{m['io'][0]} read + {m['io'][1]} write syscalls" if m["io"] else "syscalls unknown"
                    log(f"  {label} {mib} MiB round {r}: {rate}, {payload_mib / wall:.0f} MiB/s podman run to wait "
                        f"({wall:.2f} s), monitor CPU {cpu if cpu is None else round(cpu, 2)} s, {io}, "
                        f"peak monitor RSS {peak} KiB, {msg}")
                    if not ok:
                        warn(f"log-throughput {label} {mib} MiB: {msg}")
    finally:
        for d in made:
            os.unlink(d)
        shutil.rmtree(logdir, ignore_errors=True)


def bench_footprint(ctx):
    fp = results.setdefault("footprint", {"sizes": {}, "create_rss_kib": {}})
    for name, pth in (("oxrun", OXRUN), ("crun", CRUN), ("runc", RUNC), ("oxmon", OXMON), ("conmon", CONMON)):
        if os.path.exists(pth):
            fp["sizes"][name] = os.path.getsize(os.path.realpath(pth))
    bundle = ctx["bundles"]["true"]
    if not os.path.exists("/usr/bin/time"):
        for rt, _ in ctx["runtimes"]:
            skip("create-peak-rss", rt, "GNU time is missing (Debian package `time`)", unit="KiB")
        return
    for r in range(n("rss_runs")):
        order = ctx["runtimes"] if r % 2 == 0 else list(reversed(ctx["runtimes"]))
        for rt, binpath in order:
            cid = f"{PREFIX}-rss-{rt}"
            # GNU time's %M is ru_maxrss (KiB) of the create process and the descendants it waited for.
            # Not measured from Python directly: a child forked from Python carries Python's RSS
            # high-water mark across exec.
            mfile = os.path.join(OUT, "maxrss")
            rc, err = run_quiet(["/usr/bin/time", "-f", "%M", "-o", mfile, *rtcmd(rt, binpath, "create", "-b", bundle, cid)])
            sh(rtcmd(rt, binpath, "delete", "-f", cid), check=False)
            if rc == 0:
                kib = int(open(mfile).read().split()[-1])
                fp["create_rss_kib"].setdefault(rt, []).append(kib)
                record("create-peak-rss", rt, [kib], "KiB")
            else:
                skip("create-peak-rss", rt, f"create failed: {err[-200:]}", unit="KiB")


BENCHES = [
    ("start-to-exit", bench_start_to_exit, False),
    ("lifecycle", bench_lifecycle, False),
    ("exec", bench_exec, False),
    ("start-to-exit-idle", bench_start_to_exit_idle, False),
    ("exec-idle", bench_exec_idle, False),
    ("parallel", bench_parallel, False),
    ("podman-run", bench_podman_run, True),
    ("monitor-rss", bench_monitor_rss, True),
    ("log-throughput", bench_log_throughput, True),
    ("footprint", bench_footprint, False),
]

# (bench, what, target text, reference, factor, higher_better)
TARGETS = {
    "start-to-exit": ("oxrun ≤ 0.8 × crun", "crun", 0.8, False),
    "lifecycle-create": ("≤ crun", "crun", 1.0, False),
    "lifecycle-start": ("≤ crun", "crun", 1.0, False),
    "lifecycle-delete": ("≤ crun", "crun", 1.0, False),
    "exec": ("≤ 0.8 × crun", "crun", 0.8, False),
    "start-to-exit-idle": ("oxrun ≤ 0.8 × crun", "crun", 0.8, False),
    "exec-idle": ("≤ 0.8 × crun", "crun", 0.8, False),
    "parallel": ("throughput ≥ crun", "crun", 1.0, True),
    "podman-run": ("≤ crun+conmon", "crun+conmon", 1.0, False),
    "monitor-rss": ("oxmon ≤ 0.5 × conmon", "crun+conmon", 0.5, False),
    "log-throughput": ("oxmon ≥ 2.5 × conmon, no line lost, RSS bounded", "crun+conmon", 2.5, True),
    "log-throughput-1024m": ("oxmon ≥ 2.5 × conmon, no line lost, RSS bounded", "crun+conmon", 2.5, True),
    "create-peak-rss": ("reported", None, None, False),
}
DESCRIPTIONS = {
    "start-to-exit": "`RT run` of a busybox bundle running /bin/true (create + start + wait + delete)",
    "lifecycle-create": "`RT create` (the container waits in its exec fifo)",
    "lifecycle-start": "`RT start` of a created container",
    "lifecycle-delete": "`RT delete` of a stopped container",
    "exec": "`RT exec ID /bin/true` into a running container",
    "start-to-exit-idle": "start-to-exit, each run after 100 ms idle (a host starting containers now and then: "
                          "the cgroup v1 move lock waits for an RCU grace period when cold)",
    "exec-idle": "exec, each run after 100 ms idle",
    "parallel": f"{n('par_containers')} containers created, started and deleted by 4 workers (containers/s)",
    "podman-run": "`podman run --rm IMG true` (runtime+monitor)",
    "monitor-rss": "VmRSS of the monitor holding a sleeping container under Podman",
    "log-throughput": f"`cat` of {log_sizes()[0]} MiB of 1 KiB numbered lines from a tmpfs file, through the monitor "
                      "into k8s-file; MiB/s from the container's start to the monitor's exit file (Podman's "
                      "StartedAt to FinishedAt); every line checked",
    "log-throughput-1024m": "the same with 1024 MiB",
    "create-peak-rss": "peak RSS (ru_maxrss) of `RT create` and the children it waited for",
}
OX = {"start-to-exit": "oxrun", "lifecycle-create": "oxrun", "lifecycle-start": "oxrun", "lifecycle-delete": "oxrun",
      "exec": "oxrun", "start-to-exit-idle": "oxrun", "exec-idle": "oxrun", "parallel": "oxrun", "podman-run": "oxrun+oxmon", "monitor-rss": "oxrun+oxmon",
      "log-throughput": "oxrun+oxmon", "log-throughput-1024m": "oxrun+oxmon", "create-peak-rss": "oxrun"}
RUNC_REF = {"podman-run": "runc+conmon", "monitor-rss": "runc+conmon"}


# ---------------------------------------------------------------------------------------------
# Statistics and reports


def quantile(v, p):
    v = sorted(v)
    if not v:
        return None
    k = (len(v) - 1) * p
    lo, hi = int(k), min(int(k) + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


def stats(v):
    if not v:
        return None
    return {"n": len(v), "median": statistics.median(v), "p25": quantile(v, 0.25), "p75": quantile(v, 0.75),
            "min": min(v), "max": max(v)}


def fmt(x, unit):
    if x is None:
        return "–"
    if unit == "s":
        return f"{x * 1000:.1f} ms" if x < 10 else f"{x:.2f} s"
    if unit == "KiB":
        return f"{x:,.0f} KiB"
    return f"{x:.1f} {unit.replace('containers/s', '/s')}"


def build_report():
    m = results["meta"]
    out = []
    out.append("# oxrun benchmarks\n")
    if m.get("label"):
        out.append(f"**{m['label']}**\n")
    if m.get("quick"):
        out.append("**BENCH_QUICK=1 smoke run: a few iterations only, numbers are meaningless.**\n")
    out.append(f"- date: {m['date']}  \n- host: {m['host']}  \n- commit: {m['commit']}  \n"
               f"- load average at start / end: {m['load_start']} / {m.get('load_end', '?')}  \n"
               f"- binaries: {m['binaries']}  \n- method: interleaved blocks (A B C, C B A, …); median and "
               f"interquartile range (p25–p75); ratios are of medians. Targets are goals, not assertions.\n")
    for w in results["warnings"]:
        out.append(f"> **WARNING: {w}**\n")
    out.append("| benchmark | what | series | n | median | p25–p75 | min–max | oxrun/crun | oxrun/runc | target | met |")
    out.append("|---|---|---|---|---|---|---|---|---|---|---|")
    for bench, b in results["benches"].items():
        unit = b["unit"]
        tgt = TARGETS.get(bench, ("", None, None, False))
        series = b["series"]
        ox = OX.get(bench)
        meds = {lab: (stats(s["values"]) or {}).get("median") for lab, s in series.items()}
        pod = bench in ("podman-run", "monitor-rss") or bench.startswith("log-throughput")
        crun_ref = "crun+conmon" if pod else "crun"
        runc_ref = RUNC_REF.get(bench, "runc" if not pod else None)
        first = True
        for lab, s in series.items():
            st = stats(s["values"])
            cells = [bench if first else "", DESCRIPTIONS.get(bench, "") if first else "", lab]
            if s.get("skipped") and not st:
                name = lab.split("+")[-1] if "+" in lab else lab
                cells += ["0", f"{name}: not measured ({s['skipped']})", "", "", "", "", "", ""]
                out.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
                first = False
                continue
            cells += [str(st["n"]), fmt(st["median"], unit), f"{fmt(st['p25'], unit)} – {fmt(st['p75'], unit)}",
                      f"{fmt(st['min'], unit)} – {fmt(st['max'], unit)}"]
            r1 = r2 = met = ""
            if lab == ox:
                if meds.get(crun_ref) and meds.get(lab):
                    r1 = f"{meds[lab] / meds[crun_ref]:.2f}"
                if runc_ref and meds.get(runc_ref) and meds.get(lab):
                    r2 = f"{meds[lab] / meds[runc_ref]:.2f}"
                if tgt[1] and meds.get(tgt[1]) and meds.get(lab):
                    ratio = meds[lab] / meds[tgt[1]]
                    ok = ratio >= tgt[2] if tgt[3] else ratio <= tgt[2]
                    met = "yes" if ok else "**no**"
                    if bench.startswith("log-throughput"):
                        checks = s.get("checks", [])
                        lost = any(not c.startswith("ok") for c in checks)
                        peak = max(s.get("peak_rss_kib") or [0])
                        bounded = 0 < peak <= 65536
                        met = "yes" if ok and not lost and bounded else "**no**"
                        met += f" (rate {'ok' if ok else 'low'}, lines {'LOST/BAD' if lost else 'all ok'}, " \
                               f"peak RSS {peak} KiB{'' if bounded else ' not bounded/unknown'})"
                elif tgt[1]:
                    met = "n/a (reference missing)"
            cells += [r1, r2, tgt[0] if lab == ox else "", met]
            out.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
            first = False
    out.append("")
    for bench in [b for b in results["benches"] if b.startswith("log-throughput")]:
        lt = results["benches"][bench]["series"]
        out.append(f"{bench} details (rate = payload / (FinishedAt - StartedAt) from `podman inspect`: from the end "
                   "of `runtime start` to the ctime of the exit file the monitor writes after draining and syncing "
                   "the log; wall = payload / time from `podman run -d` to `podman wait`, Podman's own start and "
                   "exit work included; monitor CPU = utime+stime from /proc/PID/stat, last sample ≤ 5 ms before "
                   "its exit; syscalls = syscr/syscw from /proc/PID/io per MiB; "
                   "ts = rate between the first and last k8s-file timestamps):\n")
        for lab, s in lt.items():
            if s.get("skipped") and not s.get("values"):
                continue
            cpu = s.get("cpu_s_per_gib") or []
            wall = s.get("wall_mib_s") or []
            sc = s.get("syscalls_per_mib") or []
            out.append(f"- {lab}: rate {', '.join(f'{x:.0f}' for x in s.get('values', []))} MiB/s; "
                       f"wall {', '.join(f'{x:.0f}' for x in wall)} MiB/s"
                       f"{f' (median {statistics.median(wall):.0f})' if wall else ''}; "
                       f"read+write syscalls per MiB {', '.join(f'{a:.1f}+{b:.1f}' for a, b in sc)}; monitor CPU "
                       f"{', '.join(f'{x:.2f}' for x in cpu)} s/GiB (median {fmt(statistics.median(cpu) if cpu else None, 's/GiB')}); "
                       f"ts {', '.join(f'{x:.0f}' for x in s.get('ts_mib_s', []))} MiB/s; "
                       f"peak monitor RSS {s.get('peak_rss_kib')} KiB; checks: {'; '.join(s.get('checks', []))}")
        out.append("")
    mr = results["benches"].get("monitor-rss", {}).get("series", {})
    if mr:
        out.append("Monitor PSS (KiB): " + "; ".join(f"{lab} {s.get('pss')}" for lab, s in mr.items()
                                                      if not s.get("skipped")) + "\n")
    fp = results.get("footprint")
    if fp:
        out.append("Binary sizes: " + ", ".join(f"{k} {v / 1024:,.0f} KiB" for k, v in fp["sizes"].items()) + "\n")
    for nt in results["notes"]:
        out.append(f"- note: {nt}")
    out.append("")
    chart_rel = os.path.relpath(CHART, os.path.dirname(RESULTS_MD))
    out.append(f"![distributions]({chart_rel})\n")
    return "\n".join(out)


def render(path):
    """`bench.py --render [results.json]`: rewrites results.md and the chart from saved results."""
    global results
    results = json.load(open(path))
    for extra in os.environ.get("BENCH_NOTE", "").split("\n"):
        if extra and extra not in results["notes"]:
            results["notes"].append(extra)
    json.dump(results, open(path, "w"), indent=1)
    open(RESULTS_MD, "w").write(build_report())
    sh([sys.executable, os.path.join(HERE, "chart.py"), path, CHART])


def run_benches():
    """Every selected benchmark, with the host prepared for crun."""
    bundles = build_bundles()
    cleanup_runtime_containers()
    ctx = {"bundles": bundles, "runtimes": [], "runtime_errors": {}}
    for rt, binpath in RUNTIMES:
        err = runtime_ok(rt, binpath, bundles["true"])
        if err:
            warn(f"{rt}: not measured ({err})")
            ctx["runtime_errors"][rt] = err
        else:
            ctx["runtimes"].append((rt, binpath))
    need_podman = any(p for name, _, p in BENCHES if not ONLY or name in ONLY)
    if need_podman:
        if shutil.which("podman"):
            ctx["stacks"] = podman_setup(ctx)
        else:
            ctx["stacks"] = []
            for bench in ("podman-run", "monitor-rss", "log-throughput"):
                for label, _, _ in STACKS:
                    skip(bench, label, "podman is not installed (make deps)")
    try:
        for name, fn, _ in BENCHES:
            if ONLY and name not in ONLY:
                continue
            t0 = time.time()
            log(f"== {name}")
            try:
                fn(ctx)
            except Exception as e:  # a broken benchmark must not hide the others
                warn(f"{name}: harness error: {e}")
            log(f"   ({time.time() - t0:.0f} s)")
    finally:
        cleanup_runtime_containers()


def main():
    if sys.argv[1:2] == ["--render"]:
        return render(sys.argv[2] if len(sys.argv) > 2 else os.path.join(OUT, "results.json"))
    os.makedirs(OUT, exist_ok=True)
    os.makedirs(STATE_ROOT, exist_ok=True)
    commit = sh(["git", "-C", REPO, "rev-parse", "--short", "HEAD"], check=False).stdout.strip()
    dirty = sh(["git", "-C", REPO, "status", "--porcelain", "--untracked-files=no"], check=False).stdout.strip()
    results["meta"] = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "host": f"{platform.node()}, {os.cpu_count()} CPUs, kernel {platform.release()}, "
                f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB",
        "commit": commit + (" (working tree modified)" if dirty else ""),
        "load_start": " ".join(open("/proc/loadavg").read().split()[:3]),
        "binaries": f"{OXRUN}, {OXMON}, {CRUN}, {RUNC}, {CONMON}",
        "quick": QUICK,
        "label": LABEL,
    }
    log(f"oxrun bench{' (BENCH_QUICK=1)' if QUICK else ''}: results in {RESULTS_MD}, chart {CHART}")
    moved = prepare_host()
    try:
        run_benches()
    finally:
        undo_host(moved)
    results["meta"]["load_end"] = " ".join(open("/proc/loadavg").read().split()[:3])
    json.dump(results, open(os.path.join(OUT, "results.json"), "w"), indent=1)
    report = build_report()
    open(RESULTS_MD, "w").write(report)
    sh([sys.executable, os.path.join(HERE, "chart.py"), os.path.join(OUT, "results.json"), CHART])
    print(report)
    if results["warnings"]:
        print("\n".join("WARNING: " + w for w in results["warnings"]), file=sys.stderr)


if __name__ == "__main__":
    main()
