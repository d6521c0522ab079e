//! Starts on a host with a large mount table whose mounts are shared (as systemd makes them),
//! checked for what the start-cost work (issue 20) changed: the cgroup layout is found without
//! reading mountinfo, and the old root is made rslave again only when the namespace step left a
//! shared mount. Detaching the old root must never unmount anything on the runtime's side.
//!
//! Everything runs inside `unshare -m --propagation private`, where `/` is then made rshared and
//! a scratch tmpfs gets the extra mounts: the host's table is untouched and the namespace ends
//! with the test. Timings are not checked here (see bench/mounts.py).

use integration::util::which;
use integration::{unique, Bundle, Runtime};
use serde_json::json;
use std::process::Command;

const EXTRA: usize = 300;

/// Runs a /bin/true container with `propagation` (None: the default) in a private namespace
/// whose mounts are shared, then counts the scratch mounts still there on the runtime's side.
fn run_with_shared_host_mounts(test: &str, propagation: Option<&str>) {
    if which("unshare").is_none() {
        return integration::util::skip(test, "unshare (util-linux) is not installed");
    }
    let rt = Runtime::new();
    let mut b = Bundle::new(&["sh", "-c", "awk 'END { print \"container-mounts=\" NR }' /proc/self/mountinfo"]);
    if let Some(p) = propagation {
        b.edit(|c| c["linux"]["rootfsPropagation"] = json!(p));
    }
    let id = unique("mscale");
    rt.track(&id);
    let scratch = rt.scratch().join("extra");
    std::fs::create_dir_all(&scratch).unwrap();
    let script = format!(
        r#"S='{scratch}'; mount --make-rshared / && mount -t tmpfs oxscale "$S" || exit 97
i=0; while [ $i -lt {EXTRA} ]; do mkdir "$S/m$i" && mount -t tmpfs -o size=4k oxscale "$S/m$i" || exit 98; i=$((i+1)); done
"$1" --root "$2" run --bundle '{bundle}' '{id}' || exit $?
echo runtime-side=$(awk '$5 ~ "^{scratch}/m"' /proc/self/mountinfo | wc -l)
umount -R "$S""#,
        scratch = scratch.display(),
        bundle = b.path_str(),
    );
    let mut cmd = Command::new("unshare");
    cmd.args(["-m", "--propagation", "private", "sh", "-c", &script, "sh"]).arg(rt.bin()).arg(rt.root());
    let out = rt.exec(cmd);
    out.assert_ok();
    rt.assert_clean(&id, &b);
    let field = |key: &str| -> usize {
        out.stdout
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .unwrap_or_else(|| panic!("no {key} in {out}"))
            .parse()
            .unwrap()
    };
    assert_eq!(field("runtime-side="), EXTRA, "{propagation:?}: detaching the old root unmounted the runtime's mounts");
    assert!(
        field("container-mounts=") < 50,
        "{propagation:?}: the container still holds the host's mounts (old root not detached)"
    );
    assert!(integration::leftovers::mounts_mentioning(&scratch).is_empty(), "scratch mounts leaked to the host");
}

#[test]
fn default_propagation_with_shared_host_mounts() {
    run_with_shared_host_mounts("default_propagation_with_shared_host_mounts", None);
}

#[test]
fn rprivate_root_with_shared_host_mounts() {
    run_with_shared_host_mounts("rprivate_root_with_shared_host_mounts", Some("rprivate"));
}

/// Non-recursive values leave `/`'s submounts shared with the runtime's namespace: the old root
/// must be made rslave before it is detached.
#[test]
fn private_root_with_shared_host_mounts() {
    run_with_shared_host_mounts("private_root_with_shared_host_mounts", Some("private"));
}

#[test]
fn rshared_root_with_shared_host_mounts() {
    run_with_shared_host_mounts("rshared_root_with_shared_host_mounts", Some("rshared"));
}
