//! Every linux.resources field set through config.json and read back from the cgroup files, on
//! whatever layout the host has (the CI host: v1 hybrid, with a cgroup2 mount at
//! /sys/fs/cgroup/unified that may carry hugetlb), plus devices, OOM reporting and removal of
//! sub-cgroups the container made.

use integration::leftovers::{cgroup_dirs, cgroup_roots};
use integration::{skip, unique, Bundle, Runtime};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

/// The mount point of the v1 hierarchy that has `controller`, from /proc/self/mountinfo.
fn v1_mount(controller: &str) -> Option<PathBuf> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    info.lines().find_map(|l| {
        let (left, right) = l.split_once(" - ")?;
        let r: Vec<&str> = right.split(' ').collect();
        (r.first() == Some(&"cgroup") && r.get(2)?.split(',').any(|o| o == controller))
            .then(|| PathBuf::from(left.split(' ').nth(4).unwrap()))
    })
}

/// Whether /sys/fs/cgroup is a cgroup2 mount (no v1 hierarchy at all).
fn pure_v2() -> bool {
    std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
}

/// The cgroup2 mount point, if any.
fn v2_mount() -> Option<PathBuf> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    info.lines().find_map(|l| {
        let (left, right) = l.split_once(" - ")?;
        right.starts_with("cgroup2 ").then(|| PathBuf::from(left.split(' ').nth(4).unwrap()))
    })
}

/// `<controller's v1 mount>/<cgroupsPath>/<file>`, trimmed contents.
fn read_v1(b: &Bundle, controller: &str, file: &str) -> String {
    let mount = v1_mount(controller).unwrap_or_else(|| panic!("no v1 {controller} hierarchy"));
    let p = mount.join(b.cgroups_path().trim_start_matches('/')).join(file);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("read {}: {e}", p.display())).trim().to_string()
}

fn needs_v1(test: &str, controllers: &[&str]) -> bool {
    if let Some(c) = controllers.iter().find(|c| v1_mount(c).is_none()) {
        skip(test, &format!("no cgroup v1 {c} hierarchy on this host"));
        return false;
    }
    true
}

/// Creates the container, runs `check` on it while it exists, then deletes it and checks that
/// nothing is left.
fn with_container(b: &Bundle, prefix: &str, check: impl FnOnce(&Runtime, &str)) {
    let rt = Runtime::new();
    let id = unique(prefix);
    rt.create(&id, b).assert_ok();
    check(&rt, &id);
    rt.delete_force(&id).assert_ok();
    rt.assert_clean(&id, b);
}

#[test]
fn memory_fields_read_back() {
    if !needs_v1("memory_fields_read_back", &["memory"]) {
        return;
    }
    let mut b = Bundle::new(&["sleep", "1000"]);
    b.edit(|c| {
        c["linux"]["resources"]["memory"] = json!({
            "limit": 64 << 20, "reservation": 32 << 20, "swap": 96 << 20, "swappiness": 20,
            "disableOOMKiller": true, "useHierarchy": true, "kernel": 1 << 20, "kernelTCP": 1 << 20
        });
    });
    let rt = Runtime::new();
    let id = unique("cgmem");
    let out = rt.create(&id, &b);
    out.assert_ok();
    assert!(out.stderr.contains("memory.kernel ignored"), "kernel warns (the kernel ignores v1 kmem limits): {out}");
    if Path::new("/sys/fs/cgroup/memory/memory.kmem.tcp.limit_in_bytes").exists() {
        assert_eq!(
            read_v1(&b, "memory", "memory.kmem.tcp.limit_in_bytes"),
            (1u64 << 20).to_string(),
            "kernelTCP is set on v1"
        );
    }
    assert_eq!(read_v1(&b, "memory", "memory.limit_in_bytes"), (64u64 << 20).to_string());
    assert_eq!(read_v1(&b, "memory", "memory.soft_limit_in_bytes"), (32u64 << 20).to_string());
    if Path::new("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes").exists() {
        assert_eq!(read_v1(&b, "memory", "memory.memsw.limit_in_bytes"), (96u64 << 20).to_string());
    }
    assert_eq!(read_v1(&b, "memory", "memory.swappiness"), "20");
    assert!(read_v1(&b, "memory", "memory.oom_control").contains("oom_kill_disable 1"));
    assert_eq!(read_v1(&b, "memory", "memory.use_hierarchy"), "1");
    rt.delete_force(&id).assert_ok();
    rt.assert_clean(&id, &b);
}

#[test]
fn cpu_and_cpuset_fields_read_back() {
    if !needs_v1("cpu_and_cpuset_fields_read_back", &["cpu", "cpuset"]) {
        return;
    }
    // Fields whose file only some kernels have (burst: 5.14, idle: 5.15, rt_*: RT_GROUP_SCHED)
    // are set only where the host's cpu hierarchy has the file.
    let cpu_root = v1_mount("cpu").expect("checked");
    let optional =
        [("burst", "cpu.cfs_burst_us", 10000), ("idle", "cpu.idle", 0), ("realtimePeriod", "cpu.rt_period_us", 500000)];
    let present: Vec<_> = optional.iter().filter(|(_, file, _)| cpu_root.join(file).exists()).collect();
    for (field, file, _) in optional.iter().filter(|o| !present.contains(o)) {
        integration::util::note(&format!(
            "cpu_and_cpuset_fields_read_back: cpu.{field} not checked, this kernel has no {file}"
        ));
    }
    let mut b = Bundle::new(&["sleep", "1000"]);
    b.edit(|c| {
        c["linux"]["resources"]["cpu"] =
            json!({ "shares": 256, "quota": 30000, "period": 60000, "cpus": "0", "mems": "0" });
        for (field, _, value) in &present {
            c["linux"]["resources"]["cpu"][field] = json!(value);
        }
    });
    with_container(&b, "cgcpu", |_, _| {
        assert_eq!(read_v1(&b, "cpu", "cpu.shares"), "256");
        assert_eq!(read_v1(&b, "cpu", "cpu.cfs_quota_us"), "30000");
        assert_eq!(read_v1(&b, "cpu", "cpu.cfs_period_us"), "60000");
        for (_, file, value) in &present {
            assert_eq!(read_v1(&b, "cpu", file), value.to_string(), "{file}");
        }
        assert_eq!(read_v1(&b, "cpuset", "cpuset.cpus"), "0");
        assert_eq!(read_v1(&b, "cpuset", "cpuset.mems"), "0");
    });
}

/// A real-time runtime above what the parent grants fails, and the error names the file.
#[test]
fn realtime_runtime_error_names_the_file() {
    if !Path::new("/sys/fs/cgroup/cpu/cpu.rt_runtime_us").exists() {
        skip("realtime_runtime_error_names_the_file", "kernel without CONFIG_RT_GROUP_SCHED");
        return;
    }
    let mut b = Bundle::new(&["true"]);
    b.edit(|c| c["linux"]["resources"]["cpu"] = json!({ "realtimeRuntime": 900000, "realtimePeriod": 1000000 }));
    let rt = Runtime::new();
    let id = unique("cgrt");
    let out = rt.create(&id, &b);
    out.assert_fail();
    assert!(out.stderr.contains("cpu.rt_runtime_us"), "{out}");
    rt.assert_clean(&id, &b);
}

#[test]
fn pids_limit_reads_back() {
    if !needs_v1("pids_limit_reads_back", &["pids"]) {
        return;
    }
    let mut b = Bundle::new(&["sleep", "1000"]);
    b.edit(|c| c["linux"]["resources"]["pids"] = json!({ "limit": 77 }));
    with_container(&b, "cgpids", |_, _| assert_eq!(read_v1(&b, "pids", "pids.max"), "77"));
}

/// major:minor of the device holding / (mountinfo field 3).
fn root_device() -> Option<(u32, u32)> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    let line = info.lines().find(|l| l.split(' ').nth(4) == Some("/"))?;
    let (maj, min) = line.split(' ').nth(2)?.split_once(':')?;
    Some((maj.parse().ok()?, min.parse().ok()?))
}

#[test]
fn blkio_throttles_read_back() {
    if !needs_v1("blkio_throttles_read_back", &["blkio"]) {
        return;
    }
    let Some((maj, min)) = root_device().filter(|(maj, _)| *maj != 0) else {
        skip("blkio_throttles_read_back", "/ is not on a block device");
        return;
    };
    let dev = |rate: u64| json!([{ "major": maj, "minor": min, "rate": rate }]);
    let mut b = Bundle::new(&["sleep", "1000"]);
    b.edit(|c| {
        c["linux"]["resources"]["blockIO"] = json!({
            "throttleReadBpsDevice": dev(1 << 20), "throttleWriteBpsDevice": dev(2 << 20),
            "throttleReadIOPSDevice": dev(100), "throttleWriteIOPSDevice": dev(200)
        });
    });
    with_container(&b, "cgblk", |_, _| {
        assert_eq!(read_v1(&b, "blkio", "blkio.throttle.read_bps_device"), format!("{maj}:{min} 1048576"));
        assert_eq!(read_v1(&b, "blkio", "blkio.throttle.write_bps_device"), format!("{maj}:{min} 2097152"));
        assert_eq!(read_v1(&b, "blkio", "blkio.throttle.read_iops_device"), format!("{maj}:{min} 100"));
        assert_eq!(read_v1(&b, "blkio", "blkio.throttle.write_iops_device"), format!("{maj}:{min} 200"));
    });
}

/// blockIO.weight: CFQ names the file blkio.weight, BFQ blkio.bfq.weight, and other I/O
/// schedulers (mq-deadline, kyber, none) have neither. Where the host has one, the value reads
/// back; where it has none, create fails as runc 1.1.5 does there ("openat2
/// .../blkio.bfq.weight: no such file or directory"): one error line naming the weight file, and
/// nothing left behind.
#[test]
fn blkio_weight_reads_back_or_fails_like_runc_without_the_file() {
    let Some(blkio) = v1_mount("blkio") else {
        skip(
            "blkio_weight_reads_back_or_fails_like_runc_without_the_file",
            "no cgroup v1 blkio hierarchy on this host",
        );
        return;
    };
    let weight_file = ["blkio.weight", "blkio.bfq.weight"].into_iter().find(|f| blkio.join(f).exists());
    let mut b = Bundle::new(&["sleep", "1000"]);
    b.edit(|c| c["linux"]["resources"]["blockIO"] = json!({ "weight": 300 }));
    let Some(file) = weight_file else {
        let rt = Runtime::new();
        let id = unique("cgblkw");
        let line = rt.create(&id, &b).one_error_line();
        assert!(line.contains("blkio.weight") || line.contains("blkio.bfq.weight"), "names the missing file: {line}");
        rt.assert_clean(&id, &b);
        integration::util::note("blkio_weight: no blkio.weight or blkio.bfq.weight on this host (I/O scheduler without weights); checked the refusal");
        return;
    };
    with_container(&b, "cgblkw", |_, _| {
        // "300" (CFQ) or "default 300" (BFQ).
        let got = read_v1(&b, "blkio", file);
        assert!(got.split_whitespace().any(|w| w == "300"), "{file}: {got}");
    });
}

/// The cgroup2 levels from the mount down to the parent of `cgroups_path`, each with its
/// cgroup.subtree_control words.
fn v2_subtree_controls(cgroups_path: &str) -> Vec<(PathBuf, String)> {
    let Some(mount) = v2_mount() else { return Vec::new() };
    let mut levels = vec![mount.clone()];
    let rel = Path::new(cgroups_path.trim_start_matches('/'));
    for a in rel
        .parent()
        .into_iter()
        .flat_map(|p| p.ancestors().collect::<Vec<_>>().into_iter().rev())
        .filter(|a| !a.as_os_str().is_empty())
    {
        levels.push(mount.join(a));
    }
    levels
        .into_iter()
        .map(|l| {
            let text = std::fs::read_to_string(l.join("cgroup.subtree_control")).unwrap_or_default();
            (l, text.trim().to_string())
        })
        .collect()
}

/// hugetlb is on the cgroup2 mount of this hybrid host unless someone mounted a v1 hierarchy.
/// The runtime-spec's limit is on reservations where the kernel has the rsvd file, and on usage:
/// both read back. On the hybrid host the runtime enables hugetlb in the cgroup2 levels above
/// the container for this, and delete takes it back (issue 15, defect 14).
#[test]
fn hugetlb_limit_reads_back() {
    let size = "2MB";
    if !Path::new("/sys/kernel/mm/hugepages/hugepages-2048kB").exists() {
        skip("hugetlb_limit_reads_back", "no 2 MB huge pages");
        return;
    }
    let mut b = Bundle::new(&["sleep", "1000"]);
    b.edit(|c| c["linux"]["resources"]["hugepageLimits"] = json!([{ "pageSize": size, "limit": 4 << 20 }]));
    let levels_before = v2_subtree_controls(&b.cgroups_path());
    let rt = Runtime::new();
    let id = unique("cghuge");
    let out = rt.create(&id, &b);
    let rel = b.cgroups_path().trim_start_matches('/').to_string();
    let (dir, usage, rsvd) = if let Some(m) = v1_mount("hugetlb") {
        (m.join(&rel), format!("hugetlb.{size}.limit_in_bytes"), format!("hugetlb.{size}.rsvd.limit_in_bytes"))
    } else if let Some(m) = v2_mount()
        .filter(|m| std::fs::read_to_string(m.join("cgroup.controllers")).unwrap_or_default().contains("hugetlb"))
    {
        (m.join(&rel), format!("hugetlb.{size}.max"), format!("hugetlb.{size}.rsvd.max"))
    } else {
        // Without a hugetlb controller the limit cannot be applied: create must say so.
        out.assert_fail();
        assert!(out.stderr.contains("hugetlb"), "{out}");
        skip("hugetlb_limit_reads_back", "no hugetlb controller on this host (checked the error instead)");
        return;
    };
    out.assert_ok();
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap_or_default().trim().to_string();
    assert_eq!(read(&usage), (4u64 << 20).to_string(), "{}/{usage}", dir.display());
    if dir.join(&rsvd).exists() {
        assert_eq!(read(&rsvd), (4u64 << 20).to_string(), "{}/{rsvd}", dir.display());
    } else {
        integration::util::note(&format!("hugetlb_limit_reads_back: no {rsvd} (kernel before 5.7): usage limit only"));
    }
    rt.delete_force(&id).assert_ok();
    rt.assert_clean(&id, &b);
    // Only a hybrid host's cgroup2 (beside v1 hierarchies) must get hugetlb back: on a pure v2
    // host the runtime enables the controllers of every level above a container, as runc does,
    // and leaves them.
    let hybrid = v1_mount("memory").is_some() || v1_mount("pids").is_some();
    if hybrid && v1_mount("hugetlb").is_none() {
        // Levels the bundle's parent shares with other running tests are compared only where
        // they existed before; the parent made for this run is the test guard's to remove.
        let after = v2_subtree_controls(&b.cgroups_path());
        for (level, words) in levels_before.iter().filter(|(l, _)| l.is_dir()) {
            let now = after.iter().find(|(l, _)| l == level).map(|(_, w)| w.as_str()).unwrap_or_default();
            // Another test's container below may hold a real hugetlb limit meanwhile; none of
            // this file's other tests sets one, so the level must be back as it was.
            assert_eq!(
                now.contains("hugetlb"),
                words.contains("hugetlb"),
                "{}/cgroup.subtree_control: {now:?}, was {words:?}",
                level.display()
            );
        }
        for (level, now) in after.iter().filter(|(l, _)| !levels_before.iter().any(|(b, _)| b == l)) {
            assert!(!now.contains("hugetlb"), "{}/cgroup.subtree_control keeps hugetlb", level.display());
        }
    }
}

/// Adds CAP_MKNOD to every capability set of the bundle.
fn add_mknod(c: &mut Value) {
    for set in ["bounding", "effective", "permitted"] {
        if let Some(a) = c["process"]["capabilities"][set].as_array_mut() {
            a.push(json!("CAP_MKNOD"));
        }
    }
}

#[test]
fn devices_denied_cannot_be_opened_allowed_can() {
    let mut b = Bundle::new(&["true"]);
    b.edit(|c| {
        add_mknod(c);
        // Deny everything, then allow only mknod (not read/write) of the loop-control node.
        c["linux"]["resources"]["devices"] = json!([
            { "allow": false, "access": "rwm" },
            { "allow": true, "type": "c", "major": 10, "minor": 237, "access": "m" }
        ]);
    });
    b.set_args(&[
        "sh",
        "-c",
        "mknod /dev/lc c 10 237 && echo mknod-lc-ok; (: < /dev/lc) 2>/dev/null && echo open-lc-ok; \
         mknod /dev/port2 c 1 4 2>/dev/null && echo mknod-port-ok; echo x > /dev/null && echo null-ok; \
         head -c 4 /dev/zero | wc -c",
    ]);
    let rt = Runtime::new();
    let id = unique("cgdev");
    let out = rt.output_of(&id, &b);
    assert!(out.contains("mknod-lc-ok"), "an allowed mknod works: {out}");
    assert!(!out.contains("open-lc-ok"), "mknod-only access must not allow open: {out}");
    assert!(!out.contains("mknod-port-ok"), "a device not allowed cannot be created: {out}");
    assert!(out.contains("null-ok") && out.contains('4'), "the container's own nodes stay usable: {out}");
    rt.delete(&id).assert_ok();
    rt.assert_clean(&id, &b);
}

/// net_cls and net_prio read back from their v1 hierarchy. When the host mounts none, the test
/// mounts one in a private mount namespace and runs the container's whole life there: a mount in
/// the shared namespace would let every test running meanwhile make cgroups in that hierarchy,
/// left behind (and out of sight) once it is unmounted.
#[test]
fn network_classid_and_priorities_read_back() {
    if pure_v2() {
        // Mounting a v1 net_cls hierarchy would make this host hybrid for every test running
        // meanwhile (their runtime would see a v1 hierarchy and take the v1 paths).
        skip(
            "network_classid_and_priorities_read_back",
            "a pure cgroup v2 host: net_cls/net_prio are v1 only (runc and oxrun ignore linux.resources.network there)",
        );
        return;
    }
    let mut b = Bundle::new(&["sleep", "1000"]);
    b.edit(|c| {
        c["linux"]["resources"]["network"] =
            json!({ "classID": 1048577, "priorities": [{ "name": "lo", "priority": 7 }] })
    });
    let rt = Runtime::new();
    let id = unique("cgnet");
    rt.track(&id);
    let rel = b.cgroups_path().trim_start_matches('/').to_string();
    let mount = v1_mount("net_cls").map(|p| p.display().to_string()).unwrap_or_default();
    // The runtime finds the hierarchy in /proc/self/mountinfo wherever it is mounted.
    let script = r#"set -e
d="$MOUNT"
made=""
hierarchy_before=$(awk '$1 == "net_cls" { print $2 }' /proc/cgroups)
if [ -z "$d" ]; then
  d=$(mktemp -d /tmp/oxrun-netcls.XXXXXX)
  made=$d
  mount -t cgroup -o net_cls,net_prio cgroup "$d"
fi
# A hierarchy mounted here must be released at the end: the parent cgroups the runtime made
# for cgroupsPath (it leaves parents, as runc does) would otherwise keep it alive, hidden and
# holding net_cls and net_prio, once unmounted.
release() {
  p=$(dirname "$REL")
  while [ "$p" != . ] && [ "$p" != / ] && rmdir "$d/$p" 2>/dev/null; do p=$(dirname "$p"); done
  umount "$made" && rmdir "$made"
  # Hidden already before the test (not by us): nothing to wait for.
  [ "$hierarchy_before" = 0 ] || return 0
  # A cgroup still dying at umount keeps the hierarchy even once gone; mounting it again and
  # unmounting it then lets it go.
  for i in $(seq 60); do
    [ "$(awk '$1 == "net_cls" { print $2 }' /proc/cgroups)" = 0 ] && return 0
    if [ "$i" = 30 ]; then
      m=$(mktemp -d /tmp/oxrun-netcls.XXXXXX)
      mount -t cgroup -o net_cls,net_prio cgroup "$m" && umount "$m"
      rmdir "$m"
    fi
    sleep 0.1
  done
  echo "left: a hidden net_cls hierarchy: $(grep net_ /proc/cgroups | tr '\n' ' ')"
}
trap '"$BIN" --root "$ROOT" delete --force "$ID" >/dev/null 2>&1 || true; [ -z "$made" ] || release' EXIT
"$BIN" --root "$ROOT" create --bundle "$BUNDLE" "$ID"
echo "classid=$(cat "$d/$REL/net_cls.classid")"
sed 's/^/prio:/' "$d/$REL/net_prio.ifpriomap"
"$BIN" --root "$ROOT" delete --force "$ID"
if [ -e "$d/$REL" ]; then echo "left: $d/$REL"; else echo removed; fi
"#;
    let mut cmd = std::process::Command::new("unshare");
    cmd.args(["-m", "--propagation", "private", "sh", "-c", script]);
    cmd.env("MOUNT", &mount)
        .env("BIN", rt.bin())
        .env("ROOT", rt.root())
        .env("BUNDLE", b.path_str())
        .env("ID", &id)
        .env("REL", &rel);
    let out = rt.exec(cmd);
    out.assert_ok();
    assert!(out.stdout.contains("classid=1048577"), "{out}");
    assert!(out.stdout.lines().any(|l| l.trim() == "prio:lo 7"), "ifpriomap: {out}");
    assert!(out.stdout.lines().any(|l| l == "removed"), "the net_cls cgroup is removed at delete: {out}");
    assert!(!out.stdout.contains("left: a hidden"), "the hierarchy mounted for the test is released: {out}");
    rt.assert_clean(&id, &b);
}

#[test]
fn unified_on_a_v1_controller_is_an_error() {
    let mut b = Bundle::new(&["true"]);
    b.edit(|c| c["linux"]["resources"]["unified"] = json!({ "memory.high": "1000000" }));
    let rt = Runtime::new();
    let id = unique("cguni");
    let out = rt.create(&id, &b);
    if v1_mount("memory").is_none() {
        skip("unified_on_a_v1_controller_is_an_error", "memory is not on v1 here");
        out.assert_ok();
        rt.delete_force(&id).assert_ok();
        return;
    }
    out.assert_fail();
    assert!(out.stderr.contains("unified") && out.stderr.contains("memory.high"), "{out}");
    rt.assert_clean(&id, &b);
}

#[test]
fn systemd_driver_fails_clearly_without_systemd() {
    if std::path::Path::new("/run/systemd/system").exists() {
        skip(
            "systemd_driver_fails_clearly_without_systemd",
            "systemd runs here (its driver is tested against it in cgroup_v2_host.rs)",
        );
        return;
    }
    let mut b = Bundle::new(&["true"]);
    b.edit(|c| c["linux"]["cgroupsPath"] = json!("system.slice:oxrun:sd"));
    let rt = Runtime::new();
    let id = unique("cgsd");
    let out = rt.create_with(&id, &b, &["--systemd-cgroup"]);
    out.assert_fail();
    assert!(out.stderr.contains("systemd") && out.stderr.contains("D-Bus"), "names what is missing: {out}");
    assert!(!rt.state_dir(&id).exists());
}

/// A relative cgroupsPath hangs below the runtime's own cgroup in every hierarchy.
#[test]
fn relative_cgroups_path_is_below_our_own_cgroup() {
    let Some(mem) = v1_mount("memory") else {
        skip("relative_cgroups_path_is_below_our_own_cgroup", "no v1 memory hierarchy");
        return;
    };
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    let own_mem = own
        .lines()
        .find_map(|l| l.split(':').nth(1).filter(|c| c.split(',').any(|x| x == "memory")).and(l.rsplit(':').next()))
        .unwrap();
    let rel = format!("oxrun-rel-{}", unique("r"));
    let mut b = Bundle::new(&["sleep", "1000"]);
    b.edit(|c| {
        c["linux"]["cgroupsPath"] = json!(rel.clone());
        c["linux"]["resources"]["memory"] = json!({ "limit": 50 << 20 });
    });
    let rt = Runtime::new();
    let id = unique("cgrel");
    rt.create(&id, &b).assert_ok();
    let dir = mem.join(own_mem.trim_start_matches('/')).join(&rel);
    let limit = std::fs::read_to_string(dir.join("memory.limit_in_bytes")).unwrap_or_default();
    rt.delete_force(&id).assert_ok();
    assert_eq!(limit.trim(), (50u64 << 20).to_string(), "{}", dir.display());
    assert!(!dir.exists(), "delete removes {}", dir.display());
}

/// A shell script that makes a sub-cgroup "sub" in every hierarchy it sees (rw cgroup mount) and
/// moves itself there.
const MAKE_SUBS: &str =
    "for d in /sys/fs/cgroup/*/; do mkdir -p ${d}sub/deeper && echo $$ > ${d}sub/cgroup.procs; done; echo subs-made;";

fn rw_cgroup_mount(c: &mut Value) {
    for m in c["mounts"].as_array_mut().unwrap() {
        if m["type"] == "cgroup" {
            m["options"] = json!(["nosuid", "noexec", "nodev", "relatime", "rw"]);
        }
    }
}

#[test]
fn delete_removes_sub_cgroups_the_container_made() {
    if pure_v2() {
        skip(
            "delete_removes_sub_cgroups_the_container_made",
            "a pure cgroup v2 host: the test counts sub-cgroups in v1 hierarchies",
        );
        return;
    }
    for force in [true, false] {
        let mut b = Bundle::new(&["true"]);
        b.edit(rw_cgroup_mount);
        let script = if force { format!("{MAKE_SUBS} sleep 1000") } else { MAKE_SUBS.to_string() };
        b.set_args(&["sh", "-c", &script]);
        let rt = Runtime::new();
        let id = unique("cgsub");
        let c = rt.create_start(&id, &b);
        integration::util::wait_for(Duration::from_secs(10), "subs-made", || {
            c.stdout_now().contains("subs-made").then_some(())
        });
        let subs: Vec<PathBuf> =
            cgroup_dirs(&b.cgroups_path()).into_iter().map(|d| d.join("sub/deeper")).filter(|d| d.is_dir()).collect();
        assert!(subs.len() >= 4, "sub-cgroups in the v1 hierarchies: {subs:?} ({})", c.stdout_now());
        if force {
            rt.delete_force(&id).assert_ok();
        } else {
            rt.wait_status(&id, "stopped");
            rt.delete(&id).assert_ok();
        }
        assert!(cgroup_dirs(&b.cgroups_path()).is_empty(), "no cgroup left in {:?}", cgroup_roots());
        rt.assert_clean(&id, &b);
    }
}

#[test]
fn oom_in_a_32mib_container_is_reported() {
    if !needs_v1("oom_in_a_32mib_container_is_reported", &["memory"]) {
        return;
    }
    let mut b = Bundle::new(&["sh", "-c", "sleep 1; tail /dev/zero"]);
    let mem = 32u64 << 20;
    b.edit(|c| c["linux"]["resources"]["memory"] = json!({ "limit": mem, "swap": mem }));
    let rt = Runtime::new();
    let id = unique("cgoom");
    rt.create(&id, &b).assert_ok();
    // `events` polls every 50 ms from before the OOM until the container stops.
    let mut events =
        rt.cmd(&["events", "--interval", "50ms", &id]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    rt.start(&id).assert_ok();
    rt.wait_status(&id, "stopped");
    let (status, text) = integration::util::wait_child_stdout(&mut events, Duration::from_secs(10), "events");
    assert!(status.success(), "events: {text}");
    assert!(
        text.lines()
            .any(|l| serde_json::from_str::<Value>(l).is_ok_and(|v| v["type"] == "oom" && v["id"] == id.as_str())),
        "an oom event: {text}"
    );
    // The count, for a monitor or a late reader: memory.oom_control and `events --stats`.
    let control = read_v1(&b, "memory", "memory.oom_control");
    let kills: u64 =
        control.lines().find_map(|l| l.strip_prefix("oom_kill ")).and_then(|n| n.parse().ok()).unwrap_or(0);
    assert!(kills >= 1, "memory.oom_control: {control}");
    let stats = rt.run(&["events", "--stats", &id]);
    stats.assert_ok();
    let v: Value = serde_json::from_str(stats.stdout.lines().last().unwrap_or_default()).unwrap();
    assert_eq!(v["data"]["memory"]["oomKills"], json!(kills), "{}", stats.stdout);
    rt.delete(&id).assert_ok();
    rt.assert_clean(&id, &b);
}
