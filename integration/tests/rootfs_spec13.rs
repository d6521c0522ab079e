//! The rootfs against runtime-spec 1.3's words: `linux.rootfsPropagation`, the recursive mount
//! options (`rro`, `rnosuid`, …), containers without a mount namespace, and masked / read-only
//! paths that are symlinks.
//!
//! Every test that needs mounts of its own on the runtime's side (a shared rootfs, a bind source
//! with a submount) or that runs a container without a mount namespace runs the runtime inside
//! `unshare -m --propagation private`: whatever it mounts stays in that namespace, which ends
//! with it. Each checks afterwards that the host's `/` and mount table kept nothing.

use integration::leftovers::mounts_mentioning;
use integration::util::which;
use integration::{unique, Bundle, Out, Runtime};
use serde_json::json;
use std::os::unix::fs::symlink;
use std::process::Command;

/// The host's `/` line of mountinfo without the mount id (its propagation must not change).
fn host_root_line() -> String {
    let mi = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    mi.lines()
        .find(|l| l.split(' ').nth(4) == Some("/"))
        .map(|l| l.split(' ').skip(2).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// Runs `sh -c script` (with `$1` = the runtime, `$2` = its --root) inside a private mount
/// namespace, or returns None (after printing why) when `unshare` is missing.
fn in_private_mount_ns(rt: &Runtime, test: &str, script: &str) -> Option<Out> {
    if which("unshare").is_none() {
        integration::util::skip(test, "unshare (util-linux) is not installed");
        return None;
    }
    let mut cmd = Command::new("unshare");
    cmd.args(["-m", "--propagation", "private", "sh", "-c", script, "sh"]).arg(rt.bin()).arg(rt.root());
    Some(rt.exec(cmd))
}

/// Asserts that nothing of the bundle is mounted on the host and `/` kept its propagation.
#[track_caller]
fn assert_host_untouched(b: &Bundle, root_before: &str) {
    assert!(mounts_mentioning(b.path()).is_empty(), "host mounts under the bundle: {:?}", mounts_mentioning(b.path()));
    assert_eq!(host_root_line(), root_before, "the host's / changed");
}

fn add_cap_sys_admin(b: &mut Bundle) {
    b.edit(|c| {
        for set in ["bounding", "effective", "permitted"] {
            c["process"]["capabilities"][set].as_array_mut().unwrap().push(json!("CAP_SYS_ADMIN"));
        }
    });
}

/// What the container reports about its `/` for one rootfsPropagation value, with the rootfs a
/// shared mount on the runtime's side (so that there are events to propagate or not).
struct Propagation {
    /// The optional fields of `/` in the container's mountinfo (shared:N, master:N, unbindable).
    root_tags: String,
    /// Whether a tmpfs mounted on the runtime's side at <rootfs>/mnt, after start, is seen.
    host_mount_seen: bool,
    /// Whether `/` could be bind-mounted inside.
    bind_of_root_ok: bool,
    /// Whether a mount made inside under `/` showed in that bind copy (a shared `/`).
    exposed_in_copy: bool,
}

const PROPAGATION_PROBE: &str = r#"echo > /tmp/started; while [ ! -e /tmp/go ]; do usleep 20000; done
awk '$5=="/" { s=""; for (i=7; $i!="-"; i++) s=s" "$i; print "root-tags:" s }' /proc/self/mountinfo
echo host-mount=$(awk '$5=="/mnt"' /proc/self/mountinfo | wc -l)
mkdir -p /tmp/copy; if mount -o rbind / /tmp/copy 2>/dev/null; then echo bind=ok; else echo bind=failed; fi
mount -t tmpfs probe /m2
echo exposed=$(awk '$5=="/tmp/copy/m2"' /proc/self/mountinfo | wc -l)"#;

fn run_with_root_propagation(test: &str, value: &str) -> Option<Propagation> {
    let rt = Runtime::new();
    let mut b = Bundle::new(&["sh", "-c", PROPAGATION_PROBE]);
    std::fs::create_dir(b.rootfs().join("m2")).unwrap();
    add_cap_sys_admin(&mut b);
    b.edit(|c| c["linux"]["rootfsPropagation"] = json!(value));
    let id = unique("prop");
    rt.track(&id);
    let rootfs = b.rootfs().to_string_lossy().into_owned();
    // The rootfs becomes a shared mount point of the runtime's (private) namespace; once the
    // container has started, a tmpfs is mounted at <rootfs>/mnt on the runtime's side.
    let script = format!(
        r#"R='{rootfs}'; mount --bind "$R" "$R" && mount --make-shared "$R" || exit 97
"$1" --root "$2" run --bundle '{bundle}' '{id}' > '{out}' 2>&1 & pid=$!
n=0; while [ ! -e "$R/tmp/started" ] && [ $n -lt 200 ]; do sleep 0.05; n=$((n+1)); done
mount -t tmpfs hostside "$R/mnt"; touch "$R/tmp/go"
wait $pid; rc=$?; cat '{out}'; exit $rc"#,
        bundle = b.path_str(),
        out = rt.scratch().join("probe.out").display(),
    );
    let before = host_root_line();
    let out = in_private_mount_ns(&rt, test, &script)?;
    rt.assert_clean(&id, &b);
    assert_host_untouched(&b, &before);
    out.assert_ok();
    let field = |key: &str| {
        out.stdout.lines().find_map(|l| l.strip_prefix(key)).unwrap_or_else(|| panic!("no {key} in {out}")).to_string()
    };
    Some(Propagation {
        root_tags: field("root-tags:"),
        host_mount_seen: field("host-mount=") == "1",
        bind_of_root_ok: field("bind=") == "ok",
        exposed_in_copy: field("exposed=") == "1",
    })
}

/// "shared: the rootfs mount belongs to a new peer group … this does not mean that it's shared
/// with the host". runc 1.1.5 leaves `/` private; today's main failed at pivot_root.
#[test]
fn root_propagation_shared_is_a_new_peer_group() {
    let Some(p) = run_with_root_propagation("root_propagation_shared_is_a_new_peer_group", "shared") else { return };
    assert!(p.root_tags.contains("shared:"), "/ must be shared: {:?}", p.root_tags);
    assert!(!p.host_mount_seen, "a shared root is not the host's peer: it must not see the host's mount");
    assert!(p.bind_of_root_ok && p.exposed_in_copy, "mounts under a shared / propagate to its bind copy");
}

/// "slave: the rootfs mount receives propagation events from the host … but not the other way".
#[test]
fn root_propagation_slave_receives_the_hosts_events() {
    let Some(p) = run_with_root_propagation("root_propagation_slave_receives_the_hosts_events", "slave") else {
        return;
    };
    assert!(
        p.root_tags.contains("master:") && !p.root_tags.contains("shared:"),
        "/ must be a slave: {:?}",
        p.root_tags
    );
    assert!(p.host_mount_seen, "a slave root must see the mount made on the runtime's side");
    assert!(p.bind_of_root_ok && !p.exposed_in_copy);
}

/// "private: the rootfs mount doesn't receive mount propagation events from the host".
#[test]
fn root_propagation_private_receives_nothing() {
    let Some(p) = run_with_root_propagation("root_propagation_private_receives_nothing", "private") else { return };
    assert_eq!(p.root_tags.trim(), "", "/ must be private");
    assert!(!p.host_mount_seen);
    assert!(p.bind_of_root_ok && !p.exposed_in_copy);
}

/// "unbindable: the rootfs mount is a private mount that cannot be bind-mounted". runc 1.1.5 and
/// today's main failed with "bind rootfs: Invalid argument".
#[test]
fn root_propagation_unbindable_cannot_be_bound() {
    let Some(p) = run_with_root_propagation("root_propagation_unbindable_cannot_be_bound", "unbindable") else {
        return;
    };
    assert_eq!(p.root_tags.trim(), "unbindable");
    assert!(!p.host_mount_seen);
    assert!(!p.bind_of_root_ok, "binding an unbindable / must fail");
}

/// A read-only path is a bind of a path in the root: it must still work with an unbindable root.
#[test]
fn unbindable_root_keeps_readonly_paths_and_a_readonly_root() {
    let rt = Runtime::new();
    let mut b = Bundle::new(&["true"]);
    std::fs::create_dir(b.rootfs().join("rodir")).unwrap();
    b.edit(|c| {
        c["linux"]["rootfsPropagation"] = json!("runbindable");
        c["linux"]["readonlyPaths"].as_array_mut().unwrap().push(json!("/rodir"));
        c["root"]["readonly"] = json!(true);
    });
    b.set_args(&[
        "sh",
        "-c",
        "awk '$5==\"/\" || $5==\"/rodir\" {print $5, $6, $7}' /proc/self/mountinfo; touch /rodir/x 2>&1",
    ]);
    let id = unique("unb");
    let out = rt.run_container(&id, &b, &[]);
    rt.assert_clean(&id, &b);
    assert!(out.stdout.lines().any(|l| l.starts_with("/ ro,") && l.ends_with("unbindable")), "{out}");
    assert!(out.stdout.lines().any(|l| l.starts_with("/rodir ro,") && l.ends_with("unbindable")), "{out}");
    assert!(out.stdout.contains("Read-only file system"), "{out}");
}

/// `rro`, `rnosuid`, `rnodev`, `rnoexec`, `rnoatime`, `rnosymfollow` (runtime-spec 1.3 "Linux
/// mount options": recursive forms, mount_setattr AT_RECURSIVE) reach a submount of the bind
/// source; `rrw` and `ratime` undo a read-only, noatime submount (runc 1.1.5 fails on `ratime`:
/// it clears only part of the atime mask). Today's main left the submount rw,exec,….
#[test]
fn recursive_mount_options_reach_submounts_of_a_bind() {
    let rt = Runtime::new();
    let src = tempfile::Builder::new().prefix("oxrun-rec-src-").tempdir().unwrap();
    let relaxed = tempfile::Builder::new().prefix("oxrun-rec-rw-").tempdir().unwrap();
    std::fs::create_dir(src.path().join("sub")).unwrap();
    std::fs::create_dir(relaxed.path().join("sub")).unwrap();
    let mut b = Bundle::new(&["true"]);
    b.add_mount(json!({"destination": "/data", "type": "bind", "source": src.path(),
        "options": ["rbind", "rro", "rnosuid", "rnodev", "rnoexec", "rnoatime", "rnosymfollow"]}));
    b.add_mount(json!({"destination": "/relaxed", "type": "bind", "source": relaxed.path(), "options": ["rbind", "rrw", "ratime"]}));
    b.set_args(&["sh", "-c", "awk '$5 ~ /^\\/(data|relaxed)/ {print $5, $6}' /proc/self/mountinfo; touch /data/sub/x 2>&1; touch /relaxed/sub/y && echo relaxed-write-ok"]);
    let id = unique("rec");
    rt.track(&id);
    let script = format!(
        r#"mount -t tmpfs sub '{s}/sub' && mount -t tmpfs -o noatime,nosuid sub '{r}/sub' && mount -o remount,bind,ro,noatime,nosuid '{r}/sub' || exit 97
exec "$1" --root "$2" run --bundle '{bundle}' '{id}'"#,
        s = src.path().display(),
        r = relaxed.path().display(),
        bundle = b.path_str(),
    );
    let before = host_root_line();
    let Some(out) = in_private_mount_ns(&rt, "recursive_mount_options_reach_submounts_of_a_bind", &script) else {
        return;
    };
    rt.assert_clean(&id, &b);
    assert_host_untouched(&b, &before);
    assert!(mounts_mentioning(src.path()).is_empty() && mounts_mentioning(relaxed.path()).is_empty());
    out.assert_ok();
    let opts = |dest: &str| {
        out.stdout
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{dest} ")))
            .unwrap_or_else(|| panic!("{dest} not mounted: {out}"))
            .to_string()
    };
    for dest in ["/data", "/data/sub"] {
        let o: Vec<String> = opts(dest).split(',').map(str::to_string).collect();
        for want in ["ro", "nosuid", "nodev", "noexec", "noatime", "nosymfollow"] {
            assert!(o.iter().any(|x| x == want), "{dest} lacks {want}: {o:?}");
        }
    }
    assert!(out.stdout.contains("touch: /data/sub/x: Read-only file system"), "{out}");
    let sub = opts("/relaxed/sub");
    assert!(
        sub.starts_with("rw,") && sub.contains("relatime") && sub.contains("nosuid"),
        "rrw and ratime on the submount, nosuid kept: {sub}"
    );
    assert!(out.stdout.contains("relaxed-write-ok"), "{out}");
}

/// `features` advertises the recursive options it applies.
#[test]
fn features_lists_the_recursive_mount_options() {
    let rt = Runtime::new();
    let out = rt.run(&["features"]);
    out.assert_ok();
    let f: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let opts: Vec<&str> = f["mountOptions"].as_array().unwrap().iter().filter_map(|v| v.as_str()).collect();
    for o in [
        "rro",
        "rrw",
        "rnosuid",
        "rsuid",
        "rnodev",
        "rdev",
        "rnoexec",
        "rexec",
        "rnoatime",
        "ratime",
        "rnodiratime",
        "rdiratime",
        "rrelatime",
        "rnorelatime",
        "rstrictatime",
        "rnostrictatime",
        "rnosymfollow",
        "rsymfollow",
    ] {
        assert!(opts.contains(&o), "{o} missing from {opts:?}");
    }
}

fn without_mount_namespace(b: &mut Bundle) {
    b.edit(|c| {
        c["linux"]["namespaces"].as_array_mut().unwrap().retain(|n| n["type"] != "mount");
        c["linux"]["maskedPaths"] = json!([]);
        c["linux"]["readonlyPaths"] = json!([]);
        c["root"]["readonly"] = json!(false);
    });
}

/// "If a namespace type is not specified in the namespaces array, the container MUST inherit the
/// runtime namespace of that type": the container runs in the runtime's mount namespace,
/// chrooted into its rootfs, with its mounts made there (as runc and crun). Today's main refused
/// it ("a mount namespace is required"). The runtime runs in a private mount namespace, so the
/// host's mount table keeps nothing.
#[test]
fn no_mount_namespace_runs_chrooted_in_the_runtimes_mounts() {
    let rt = Runtime::new();
    let mut b = Bundle::new(&["true"]);
    without_mount_namespace(&mut b);
    std::fs::write(b.rootfs().join("marker"), "in-rootfs").unwrap();
    b.set_args(&["sh", "-c", "cat /marker; echo; readlink /proc/self/ns/mnt; grep -c . /proc/self/mountinfo >/dev/null && echo proc-ok; [ -c /dev/null ] && echo dev-ok"]);
    let id = unique("nomnt");
    rt.track(&id);
    let script = format!(r#"readlink /proc/self/ns/mnt; exec "$1" --root "$2" run --bundle '{}' '{id}'"#, b.path_str());
    let before = host_root_line();
    let Some(out) = in_private_mount_ns(&rt, "no_mount_namespace_runs_chrooted_in_the_runtimes_mounts", &script) else {
        return;
    };
    rt.assert_clean(&id, &b);
    assert_host_untouched(&b, &before);
    out.assert_ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 5, "{out}");
    assert_eq!(lines[1], "in-rootfs", "the container's / is the rootfs: {out}");
    assert_eq!(lines[0], lines[2], "the container shares the runtime's mount namespace: {out}");
    assert_ne!(
        lines[0],
        std::fs::read_link("/proc/self/ns/mnt").unwrap().to_string_lossy(),
        "the runtime ran in its own private namespace"
    );
    assert_eq!(&lines[3..], ["proc-ok", "dev-ok"], "the mounts of config.json are made: {out}");
}

/// runtime.md#delete: "Deleting a container MUST delete the resources that were created during
/// the `create` step." Without a mount namespace the mounts of config.json (/proc, /dev, /sys, …)
/// are made under the rootfs in the runtime's own mount table, so delete unmounts them; a mount
/// that was under the rootfs before create stays. Found by runtime-tools' linux_ns_itype, after
/// which both runtimes left /proc, /dev and /sys of its bundle mounted on the host. runc 1.1.5
/// leaves them: oxrun-specific.
#[test]
fn no_mount_namespace_delete_unmounts_the_containers_mounts() {
    let rt = Runtime::new();
    let mut b = Bundle::new(&["true"]);
    without_mount_namespace(&mut b);
    std::fs::create_dir_all(b.rootfs().join("mnt/keep")).unwrap();
    let id = unique("nomnt");
    rt.track(&id);
    let rootfs = b.rootfs();
    let rootfs = rootfs.display();
    let script = format!(
        r#"mount -t tmpfs keep '{rootfs}/mnt/keep' || exit 9
"$1" --root "$2" create --bundle '{b}' '{id}' || exit 1
echo created: $(grep -c ' {rootfs}/' /proc/self/mountinfo)
"$1" --root "$2" start '{id}' || exit 1
sleep 0.3
"$1" --root "$2" delete --force '{id}' || exit 1
echo deleted: $(grep ' {rootfs}/' /proc/self/mountinfo | cut -d' ' -f5 | tr '\n' ' ')"#,
        b = b.path_str()
    );
    let before = host_root_line();
    let Some(out) = in_private_mount_ns(&rt, "no_mount_namespace_delete_unmounts_the_containers_mounts", &script)
    else {
        return;
    };
    rt.assert_clean(&id, &b);
    assert_host_untouched(&b, &before);
    out.assert_ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    let made: usize = lines[0].trim_start_matches("created: ").parse().unwrap_or(0);
    assert!(made > 1, "create mounts /proc, /dev, … under the rootfs: {out}");
    assert_eq!(
        lines[1].trim(),
        format!("deleted: {rootfs}/mnt/keep"),
        "only the mount made before create stays: {out}"
    );
}

/// Without a mount namespace what would change mounts that are not the container's own is
/// refused with one line, nothing left (runc refuses masked and read-only paths there).
#[test]
fn no_mount_namespace_refuses_what_would_touch_the_runtimes_mounts() {
    type ConfigEdit = fn(&mut serde_json::Value);
    let cases: [(&str, ConfigEdit); 4] = [
        ("maskedPaths", |c| c["linux"]["maskedPaths"] = json!(["/proc/kcore"])),
        ("readonlyPaths", |c| c["linux"]["readonlyPaths"] = json!(["/proc/sys"])),
        ("root.readonly", |c| c["root"]["readonly"] = json!(true)),
        ("rootfsPropagation", |c| c["linux"]["rootfsPropagation"] = json!("shared")),
    ];
    for (what, edit) in cases {
        let rt = Runtime::new();
        let mut b = Bundle::new(&["true"]);
        without_mount_namespace(&mut b);
        b.edit(edit);
        let id = unique("nomnt");
        rt.track(&id);
        let script = format!(r#"exec "$1" --root "$2" run --bundle '{}' '{id}'"#, b.path_str());
        let before = host_root_line();
        let Some(out) =
            in_private_mount_ns(&rt, "no_mount_namespace_refuses_what_would_touch_the_runtimes_mounts", &script)
        else {
            return;
        };
        let line = out.one_error_line();
        // runc's logrus lines do not name the container.
        assert!(line.contains(what) && (integration::is_runc() || line.contains(&id)), "{what}: {line}");
        rt.assert_clean(&id, &b);
        assert_host_untouched(&b, &before);
    }
}

/// A masked or read-only path that is a symlink loop cannot be protected: the container is
/// refused with one line naming the path and the container, and nothing is left behind (runc
/// and crun refuse it too: "too many levels of symbolic links").
#[test]
fn masked_or_readonly_symlink_loop_is_refused() {
    for list in ["maskedPaths", "readonlyPaths"] {
        let rt = Runtime::new();
        let mut b = Bundle::new(&["true"]);
        symlink("../loop", b.rootfs().join("loop")).unwrap();
        b.edit(|c| c["linux"][list].as_array_mut().unwrap().push(json!("/loop")));
        let id = unique("loop");
        let out = rt.create(&id, &b);
        let line = out.one_error_line();
        let names_id = integration::is_runc() || line.contains(&id);
        assert!(line.contains("/loop") && names_id && line.contains("symbolic links"), "{list}: {line}");
        rt.assert_clean(&id, &b);
    }
}

/// A masked path whose symlink points out of the rootfs is resolved inside the container's root
/// (a lexical `..` stops at the root, an absolute target is the container's): the file it names
/// there is masked, the host file of the same name is never touched, and a target missing in
/// the rootfs is skipped like any missing path (runc and crun do the same).
#[test]
fn masked_symlink_out_of_the_rootfs_masks_only_inside() {
    let rt = Runtime::new();
    let host = tempfile::Builder::new().prefix("oxrun-mask-host-").tempdir().unwrap();
    std::fs::write(host.path().join("secret"), "host-secret").unwrap();
    let mut b = Bundle::new(&["true"]);
    std::fs::write(b.rootfs().join("etc/secret"), "rootfs-secret").unwrap();
    symlink("../../../../../../../../etc/secret", b.rootfs().join("climbs-out")).unwrap();
    symlink(host.path().join("secret"), b.rootfs().join("host-abs")).unwrap();
    b.edit(|c| {
        let m = c["linux"]["maskedPaths"].as_array_mut().unwrap();
        m.push(json!("/climbs-out"));
        m.push(json!("/host-abs"));
    });
    b.set_args(&[
        "sh",
        "-c",
        "echo climbs=$(cat /climbs-out | wc -c) etc=$(cat /etc/secret | wc -c); cat /host-abs 2>&1; true",
    ]);
    let id = unique("maskout");
    let out = rt.run_container(&id, &b, &[]);
    rt.assert_clean(&id, &b);
    out.assert_ok();
    assert!(out.stdout.contains("climbs=0 etc=0"), "the rootfs file behind the link is masked: {out}");
    assert!(out.stdout.contains("No such file or directory") && !out.stdout.contains("host-secret"), "{out}");
    assert_eq!(std::fs::read_to_string(host.path().join("secret")).unwrap(), "host-secret");
    assert_eq!(std::fs::read_to_string(b.rootfs().join("etc/secret")).unwrap(), "rootfs-secret");
    assert!(mounts_mentioning(host.path()).is_empty());
}

/// "idmap … If there are no uidMappings and gidMappings specified and the container isn't using
/// user namespaces, an error MUST be returned"; `ridmap` maps the submounts too, `idmap` the
/// bind's top mount only. Today's main ignored both options.
#[test]
fn idmap_maps_the_top_mount_and_ridmap_every_submount() {
    let rt = Runtime::new();
    let mut bad = Bundle::new(&["true"]);
    bad.add_mount(json!({"destination": "/data", "type": "bind", "source": "/tmp", "options": ["rbind", "idmap"]}));
    let id = unique("idmap");
    let line = rt.create(&id, &bad).one_error_line();
    assert!(line.contains("uidMappings"), "{line}");
    rt.assert_clean(&id, &bad);

    let src = tempfile::Builder::new().prefix("oxrun-idmap-src-").tempdir().unwrap();
    std::fs::create_dir(src.path().join("sub")).unwrap();
    std::fs::write(src.path().join("f"), "x").unwrap();
    let maps = |host: u32| json!([{ "containerID": 0, "hostID": host, "size": 1 }]);
    let mut b = Bundle::new(&["sh", "-c", "stat -c '%n %u:%g' /top/f /top/sub/g /all/f /all/sub/g"]);
    for (dest, opt) in [("/top", "idmap"), ("/all", "ridmap")] {
        b.add_mount(json!({"destination": dest, "type": "bind", "source": src.path(), "options": ["rbind", opt], "uidMappings": maps(1000), "gidMappings": maps(2000)}));
    }
    let id = unique("idmap");
    rt.track(&id);
    let script = format!(
        r#"mount -t tmpfs sub '{s}/sub' && echo y > '{s}/sub/g' || exit 97
exec "$1" --root "$2" run --bundle '{bundle}' '{id}'"#,
        s = src.path().display(),
        bundle = b.path_str(),
    );
    let before = host_root_line();
    let Some(out) = in_private_mount_ns(&rt, "idmap_maps_the_top_mount_and_ridmap_every_submount", &script) else {
        return;
    };
    rt.assert_clean(&id, &b);
    assert_host_untouched(&b, &before);
    out.assert_ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines, ["/top/f 1000:2000", "/top/sub/g 0:0", "/all/f 1000:2000", "/all/sub/g 1000:2000"], "{out}");
}
