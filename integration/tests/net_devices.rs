//! runtime-spec 1.3 `linux.netDevices` (config-linux.md "Network Devices"), on veth pairs the
//! test makes (this kernel has no dummy driver):
//! - the device moves into the container's network namespace, under its host name or the `name`
//!   given (a `%d` template gets a name from the kernel), with its permanent global addresses
//!   ("MUST preserve ... IFA_F_PERMANENT ... RT_SCOPE_UNIVERSE"), its MTU, and set up ("MUST
//!   set the network device state to up"), read from inside through /sys/class/net and `ip`;
//! - at delete the runtime does not move it out ("MUST NOT attempt to move the interface out of
//!   the namespace before deletion"): a virtual device goes with the namespace (both veth ends
//!   vanish), and in a namespace that outlives the container it stays there;
//! - refused (one error line, nothing left behind, every device back on the host as it was): no
//!   network namespace, a missing device, an invalid name, a name already taken inside (after a
//!   first device has moved: it comes back with its addresses and up state).
//!
//! Every veth pair is deleted by a guard, also when a test fails.
//! runc 1.1.5 predates netDevices and ignores it: with runc the tests print a SKIP.

mod ops_support;

use integration::util::poll_until;
use integration::{is_runc, unique, Bundle, Out, Runtime};
use ops_support::{assert_one_error_line, Running};
use serde_json::{json, Value};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

fn skip_for_runc(test: &str) -> bool {
    if is_runc() {
        integration::util::note(&format!(
            "SKIP {test}: runc 1.1.5 does not implement linux.netDevices (runtime-spec 1.3); it ignores the field"
        ));
    }
    is_runc()
}

fn ip(args: &[&str]) -> Out {
    let out = Command::new("ip").args(args).output().expect("run ip (iproute2)");
    Out {
        cmdline: format!("ip {}", args.join(" ")),
        status: out.status,
        stdout: String::from_utf8_lossy(&out.stdout).into(),
        stderr: String::from_utf8_lossy(&out.stderr).into(),
        stdout_path: Default::default(),
    }
}

/// Veth pairs made on the host for one test, deleted when dropped (deleting one end deletes
/// both). Names are unique per process and fit IFNAMSIZ.
struct HostVeths {
    made: Vec<(String, String)>,
}

impl HostVeths {
    fn new() -> HostVeths {
        HostVeths { made: Vec::new() }
    }

    /// A new pair; returns the end the test moves. `setup` are `ip` commands on it (`{}` is its
    /// name), run before the test reads its state.
    #[track_caller]
    fn pair(&mut self, setup: &[&str]) -> String {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        // Zero-padded so that pairs made one after another sort in that order (netDevices keys do).
        let stem = format!("oxnd{:05}x{n:03}", std::process::id() % 100_000);
        let (dev, peer) = (format!("{stem}a"), format!("{stem}b"));
        ip(&["link", "add", &dev, "type", "veth", "peer", "name", &peer]).assert_ok();
        self.made.push((dev.clone(), peer));
        for cmd in setup {
            let cmd = cmd.replace("{}", &dev);
            ip(&cmd.split_whitespace().collect::<Vec<_>>()).assert_ok();
        }
        dev
    }
}

impl Drop for HostVeths {
    fn drop(&mut self) {
        for (dev, peer) in &self.made {
            for name in [dev, peer] {
                if exists_on_host(name) {
                    let _ = ip(&["link", "del", name]);
                }
            }
        }
    }
}

fn exists_on_host(name: &str) -> bool {
    std::path::Path::new("/sys/class/net").join(name).exists()
}

/// What the spec says must survive a move, as the host sees the device: name, MTU, up flag and
/// the addresses (scope and prefix) without the kernel's own IPv6 link-local one.
fn host_view(name: &str) -> Option<Value> {
    let out = ip(&["-j", "addr", "show", "dev", name]);
    if !out.ok() {
        return None;
    }
    let v: Value = serde_json::from_str(&out.stdout).ok()?;
    let d = v.get(0)?;
    let mut addrs: Vec<String> = d["addr_info"]
        .as_array()?
        .iter()
        .filter(|a| !a["local"].as_str().unwrap_or_default().starts_with("fe80"))
        .map(|a| {
            format!(
                "{}/{} {}",
                a["local"].as_str().unwrap_or_default(),
                a["prefixlen"],
                a["scope"].as_str().unwrap_or_default()
            )
        })
        .collect();
    addrs.sort();
    let up = d["flags"].as_array()?.iter().any(|f| f == "UP");
    Some(json!({ "ifname": d["ifname"], "mtu": d["mtu"], "up": up, "addrs": addrs }))
}

/// Waits (the kernel frees a namespace asynchronously) until neither end of the pair exists.
fn gone_with_the_namespace(dev: &str, peer_of: &HostVeths) -> bool {
    let peer = peer_of.made.iter().find(|(d, _)| d == dev).map(|(_, p)| p.clone()).unwrap_or_default();
    poll_until(Duration::from_secs(10), || !exists_on_host(dev) && !exists_on_host(&peer))
}

/// The permanent addresses a test puts on a device: two global ones (which must move) and one of
/// link scope (which must not).
const ADDRESSES: &[&str] = &[
    "addr add 10.231.7.1/24 dev {}",
    "addr add fd31:7::1/64 dev {} nodad",
    "addr add 169.254.31.7/16 scope link dev {}",
    "link set {} mtu 1400 up",
];

fn net_devices(c: &mut Value, devices: Value) {
    c["linux"]["netDevices"] = devices;
}

#[test]
fn a_device_moves_in_under_its_host_name_with_addresses_mtu_and_up_and_goes_with_the_namespace() {
    if skip_for_runc("a_device_moves_in_under_its_host_name_with_addresses_mtu_and_up_and_goes_with_the_namespace") {
        return;
    }
    let mut veths = HostVeths::new();
    let dev = veths.pair(ADDRESSES);
    let r = Running::sleeping("netdev-move", |c| net_devices(c, json!({ &dev: {} })));
    assert!(!exists_on_host(&dev), "{dev} must have left the host while the container runs");
    let sys = r.exec(
        &[],
        &["sh", "-c", &format!("ls /sys/class/net; cat /sys/class/net/{dev}/mtu /sys/class/net/{dev}/flags")],
    );
    sys.assert_ok();
    let lines: Vec<&str> = sys.stdout.lines().collect();
    assert!(lines.contains(&dev.as_str()), "{dev} must be in the container's /sys/class/net: {sys}");
    assert!(lines.contains(&"1400"), "the MTU is preserved: {sys}");
    let flags =
        lines.iter().find_map(|l| l.strip_prefix("0x")).and_then(|h| u32::from_str_radix(h, 16).ok()).expect("flags");
    assert!(flags & 1 != 0, "the device is up inside (IFF_UP): {sys}");
    let addrs = r.exec(&[], &["ip", "addr", "show", "dev", &dev]);
    addrs.assert_ok();
    assert!(
        addrs.stdout.contains("inet 10.231.7.1/24") && addrs.stdout.contains("inet6 fd31:7::1/64"),
        "the permanent global addresses moved: {addrs}"
    );
    assert!(!addrs.stdout.contains("169.254.31.7"), "an address of link scope does not move: {addrs}");
    r.finish();
    // A virtual device is destroyed with the namespace; the runtime did not move it out.
    assert!(gone_with_the_namespace(&dev, &veths), "after delete the veth pair must be gone with the container's namespace (the spec: virtual devices are destroyed)");
}

#[test]
fn a_device_is_renamed_inside_and_a_template_gets_a_kernel_name() {
    if skip_for_runc("a_device_is_renamed_inside_and_a_template_gets_a_kernel_name") {
        return;
    }
    let mut veths = HostVeths::new();
    let (named, templated) = (veths.pair(&[]), veths.pair(&[]));
    let r = Running::sleeping("netdev-name", |c| {
        net_devices(c, json!({ &named: { "name": "ctr0" }, &templated: { "name": "tpl%d" } }))
    });
    let out = r.exec(&[], &["ls", "/sys/class/net"]);
    out.assert_ok();
    let mut names: Vec<&str> = out.stdout.split_whitespace().collect();
    names.sort();
    assert_eq!(names, ["ctr0", "lo", "tpl0"], "renamed inside, neither under its host name: {out}");
    assert!(
        !exists_on_host(&named) && !exists_on_host(&templated) && !exists_on_host("ctr0"),
        "the devices left the host under no name"
    );
    r.finish();
    assert!(
        gone_with_the_namespace(&named, &veths) && gone_with_the_namespace(&templated, &veths),
        "gone with the namespace after delete"
    );
}

/// "The runtime MUST NOT attempt to move the interface out of the namespace before deletion":
/// in a namespace the container joins by path and that outlives it, the device stays there.
#[test]
fn a_device_stays_in_a_joined_namespace_that_outlives_the_container() {
    if skip_for_runc("a_device_stays_in_a_joined_namespace_that_outlives_the_container") {
        return;
    }
    let mut veths = HostVeths::new();
    let dev = veths.pair(&["link set {} up"]);
    let holder =
        NetnsHolder(Command::new("unshare").args(["--net", "sleep", "60"]).spawn().expect("unshare --net sleep"));
    let ns_path = format!("/proc/{}/ns/net", holder.0.id());
    assert!(
        poll_until(Duration::from_secs(5), || std::fs::read_link(&ns_path).ok()
            != std::fs::read_link("/proc/self/ns/net").ok()),
        "holder in its own netns"
    );
    let rt = Runtime::new();
    let mut b = Bundle::new(&["cat", &format!("/sys/class/net/{dev}/flags")]);
    b.set_namespace("network", Some(&ns_path));
    b.edit(|c| net_devices(c, json!({ &dev: {} })));
    let id = unique("netdev-join");
    let out = rt.run_container(&id, &b, &[]);
    rt.assert_clean(&id, &b);
    let inside = Command::new("nsenter")
        .arg(format!("--net={ns_path}"))
        .args(["ip", "-o", "link", "show", &dev])
        .output()
        .expect("nsenter");
    drop(holder);
    out.assert_ok();
    assert!(out.stdout.trim().starts_with("0x"), "the device was seen inside: {out}");
    assert!(
        inside.status.success(),
        "after delete the device is still in the joined namespace: {}",
        String::from_utf8_lossy(&inside.stderr)
    );
    assert!(!exists_on_host(&dev), "and was not moved back to the host");
    assert!(gone_with_the_namespace(&dev, &veths), "gone once the namespace's last process ended");
}

/// A process in a network namespace of its own, killed when dropped (also when a test fails).
struct NetnsHolder(std::process::Child);

impl Drop for NetnsHolder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `create` with `devices` must fail with one line containing `want`, leave no container, and
/// leave every device on the host exactly as it was.
#[track_caller]
fn refused(
    test: &str,
    devices: impl Fn(&[String]) -> Value,
    setups: &[&[&str]],
    edit: impl FnOnce(&mut Value),
    want: &str,
) {
    if skip_for_runc(test) {
        return;
    }
    let mut veths = HostVeths::new();
    let devs: Vec<String> = setups.iter().map(|s| veths.pair(s)).collect();
    let before: Vec<Option<Value>> = devs.iter().map(|d| host_view(d)).collect();
    assert!(before.iter().all(Option::is_some), "devices made: {before:?}");
    let rt = Runtime::new();
    let mut b = Bundle::new(&["true"]);
    b.edit(|c| net_devices(c, devices(&devs)));
    b.edit(edit);
    let id = unique("netdev-bad");
    let out = rt.create(&id, &b);
    assert_one_error_line(&out, &id);
    assert!(out.stderr.contains(want), "the error must say {want:?}: {out}");
    rt.assert_clean(&id, &b);
    let after: Vec<Option<Value>> = devs.iter().map(|d| host_view(d)).collect();
    assert_eq!(after, before, "every device must be back on the host as it was");
}

#[test]
fn without_a_network_namespace_moving_devices_is_refused() {
    refused(
        "without_a_network_namespace_moving_devices_is_refused",
        |d| json!({ &d[0]: {} }),
        &[ADDRESSES],
        |c| c["linux"]["namespaces"].as_array_mut().unwrap().retain(|n| n["type"] != "network"),
        "needs a network namespace",
    );
}

#[test]
fn a_missing_device_is_refused_and_nothing_moves() {
    refused(
        "a_missing_device_is_refused_and_nothing_moves",
        |d| json!({ &d[0]: {}, "oxndmissing0": {} }),
        &[ADDRESSES],
        |_| {},
        "does not exist on the host",
    );
}

#[test]
fn an_invalid_name_is_refused() {
    for (name, why) in [("bad/name", "'/'"), ("a-name-of-16-byt", "longer than 15 bytes"), ("two%d%d", "%d")] {
        refused("an_invalid_name_is_refused", |d| json!({ &d[0]: { "name": name } }), &[ADDRESSES], |_| {}, why);
    }
}

/// "If a network device with the specified name already exists in the container namespace, the
/// runtime MUST generate an error": `lo` always does. The device moved before it comes back.
#[test]
fn a_name_taken_inside_is_refused_and_a_device_moved_before_comes_back() {
    refused(
        "a_name_taken_inside_is_refused_and_a_device_moved_before_comes_back",
        // Keys are applied in order: the first moves, the second fails.
        |d| json!({ &d[0]: { "name": "ctr0" }, &d[1]: { "name": "lo" } }),
        &[ADDRESSES, &["addr add 10.231.8.1/24 dev {}"]],
        |_| {},
        "File exists",
    );
}

/// The devices are part of the environment create builds (runtime.md lifecycle step 2): in place
/// when the prestart and createRuntime hooks run (steps 3 and 4).
#[test]
fn the_device_is_in_the_container_when_prestart_and_create_runtime_hooks_run() {
    if skip_for_runc("the_device_is_in_the_container_when_prestart_and_create_runtime_hooks_run") {
        return;
    }
    let mut veths = HostVeths::new();
    let dev = veths.pair(&[]);
    let rt = Runtime::new();
    let hook = |kind: &str| {
        let seen = rt.scratch().join(format!("{kind}.seen"));
        let script = rt.scratch().join(format!("{kind}.sh"));
        // The state on stdin gives init's pid; `ip` talks netlink in init's network namespace.
        let text = format!("#!/bin/sh\npid=$(sed 's/.*\"pid\": *\\([0-9]*\\).*/\\1/')\nnsenter -t \"$pid\" -n ip -o link show ctr0 > {} 2>&1\n", seen.display());
        std::fs::write(&script, text).unwrap();
        std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        (json!([{ "path": script }]), seen)
    };
    let ((prestart, prestart_seen), (create_runtime, create_runtime_seen)) = (hook("prestart"), hook("createRuntime"));
    let mut b = Bundle::new(&["true"]);
    b.edit(|c| net_devices(c, json!({ &dev: { "name": "ctr0" } })));
    b.set_hooks("prestart", prestart);
    b.set_hooks("createRuntime", create_runtime);
    let id = unique("netdev-hooks");
    let out = rt.run_container(&id, &b, &[]);
    out.assert_ok();
    rt.assert_clean(&id, &b);
    for seen in [prestart_seen, create_runtime_seen] {
        let text = std::fs::read_to_string(&seen).unwrap_or_default();
        assert!(
            text.contains(": ctr0") && text.contains(",UP"),
            "{} must show ctr0 up in the container: {text:?}",
            seen.display()
        );
    }
}

/// `features` says netDevices is enabled (features-linux.md "NetDevices"), which the tests above
/// show a real container doing; and when intelRdt is not claimed, resctrl schemata are refused.
#[test]
fn features_advertises_net_devices_and_intel_rdt_honestly() {
    if skip_for_runc("features_advertises_net_devices_and_intel_rdt_honestly") {
        return;
    }
    let rt = Runtime::new();
    let out = rt.run(&["features"]);
    out.assert_ok();
    let f: Value = serde_json::from_str(&out.stdout).expect("features JSON");
    assert_eq!(f["linux"]["netDevices"], json!({ "enabled": true }), "{out}");
    if f["linux"]["intelRdt"]["enabled"] != json!(false) {
        return;
    }
    // Not claimed: then a config that needs it is refused, not silently run without it.
    let mut b = Bundle::new(&["true"]);
    b.edit(|c| c["linux"]["intelRdt"] = json!({ "closID": "oxnd", "schemata": ["L3:0=f"] }));
    let id = unique("netdev-rdt");
    let refused = rt.create(&id, &b);
    assert_one_error_line(&refused, &id);
    rt.assert_clean(&id, &b);
}

/// With a user namespace the container's network namespace belongs to it; the runtime (root in
/// the initial one) still moves the device in, and root inside sees it up with its address.
#[test]
fn a_device_moves_into_a_container_with_a_user_namespace() {
    if skip_for_runc("a_device_moves_into_a_container_with_a_user_namespace") {
        return;
    }
    let mut veths = HostVeths::new();
    let dev = veths.pair(ADDRESSES);
    let r = Running::sleeping("netdev-userns", |c| {
        ops_support::with_userns(c);
        net_devices(c, json!({ &dev: { "name": "ctr0" } }));
    });
    let out = r.exec(&[], &["ip", "addr", "show", "dev", "ctr0"]);
    out.assert_ok();
    assert!(out.stdout.contains(",UP") && out.stdout.contains("inet 10.231.7.1/24"), "{out}");
    r.finish();
    assert!(gone_with_the_namespace(&dev, &veths), "gone with the namespace after delete");
}
