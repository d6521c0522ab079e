//! Point 3: mounts (-v, --tmpfs, --device), networking (--network none, the
//! default netavark network, a published port on loopback) and pods sharing
//! the infra container's namespaces.

use integration::podman::{free_port, Options, Pair, Podman, IMAGE};
use std::io::{Read, Write};
use std::time::Duration;

fn http_get(addr: &str, path: &str) -> Result<String, String> {
    let mut s =
        std::net::TcpStream::connect_timeout(&addr.parse().map_err(|e| format!("{e}"))?, Duration::from_secs(3))
            .map_err(|e| format!("connect {addr}: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok();
    s.write_all(format!("GET {path} HTTP/1.0\r\n\r\n").as_bytes()).map_err(|e| e.to_string())?;
    let mut body = String::new();
    s.read_to_string(&mut body).map_err(|e| e.to_string())?;
    Ok(body)
}

fn retry_get(addr: &str, path: &str) -> String {
    let mut last = String::new();
    for _ in 0..50 {
        match http_get(addr, path) {
            Ok(b) if b.contains("200 OK") => return b,
            Ok(b) => last = b,
            Err(e) => last = e,
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("GET http://{addr}{path} failed: {last}");
}

pub fn mounts_volume_tmpfs_device(pair: &str) {
    let pm = Podman::new(Pair::get(pair));
    let host = pm.scratch().join("vol");
    std::fs::create_dir_all(&host).unwrap();
    std::fs::write(host.join("hostfile"), "from-host\n").unwrap();
    let rw = format!("{}:/data", host.display());
    let ro = format!("{}:/data:ro", host.display());
    let id = pm.run_d(&[
        "--network",
        "none",
        "-v",
        &rw,
        "--tmpfs",
        "/scratch:size=1m,mode=1777",
        "--device",
        "/dev/zero:/dev/myzero",
        IMAGE,
        "sleep",
        "1000",
    ]);
    let out = pm.ok(&["exec", &id, "sh", "-c", "cat /data/hostfile; echo from-ctr > /data/new"]);
    assert_eq!(out.stdout, "from-host\n", "[{pair}] {out}");
    assert_eq!(
        std::fs::read_to_string(host.join("new")).unwrap_or_default(),
        "from-ctr\n",
        "[{pair}] write through -v"
    );
    let out = pm.ok(&["exec", &id, "grep", " /scratch ", "/proc/mounts"]);
    assert!(out.stdout.starts_with("tmpfs /scratch tmpfs") && out.stdout.contains("size=1024k"), "[{pair}] {out}");
    let out = pm.run(&["exec", &id, "dd", "if=/dev/zero", "of=/scratch/big", "bs=1k", "count=2048"]);
    assert!(!out.ok() && out.stderr.contains("No space left"), "[{pair}] the tmpfs size is not enforced: {out}");
    let out = pm.ok(&["exec", &id, "sh", "-c", "stat -c '%F %t:%T' /dev/myzero; head -c 3 /dev/myzero | od -An -tx1"]);
    assert!(out.stdout.contains("character special file 1:5") && out.stdout.contains("00 00 00"), "[{pair}] {out}");
    pm.ok(&["rm", "-f", "-t", "0", &id]);
    let out = pm.run(&[
        "run",
        "--rm",
        "--network",
        "none",
        "-v",
        &ro,
        IMAGE,
        "sh",
        "-c",
        "cat /data/hostfile && touch /data/nope",
    ]);
    assert!(
        !out.ok() && out.stdout.contains("from-host") && out.stderr.contains("Read-only file system"),
        "[{pair}] {out}"
    );
    assert!(!host.join("nope").exists());
}

pub fn network_none(pair: &str) {
    let pm = Podman::new(Pair::get(pair));
    let id = pm.run_d(&["--network", "none", IMAGE, "sleep", "1000"]);
    let out = pm.ok(&["exec", &id, "sh", "-c", "ls /sys/class/net; cat /proc/net/dev"]);
    let ifaces: Vec<&str> = out.stdout.lines().take_while(|l| !l.contains('|')).collect();
    assert_eq!(ifaces, ["lo"], "[{pair}] {out}");
    // Its own network namespace, not the host's.
    let pid = pm.pid(&id);
    assert_ne!(std::fs::read_link(format!("/proc/{pid}/ns/net")).ok(), std::fs::read_link("/proc/self/ns/net").ok());
}

pub fn default_network_and_published_port(pair: &str) {
    let pm = Podman::new(Pair::get(pair));
    let www = pm.scratch().join("www");
    std::fs::create_dir_all(&www).unwrap();
    std::fs::write(www.join("index.html"), "oxrun-podman-net\n").unwrap();
    let port = free_port();
    let publish = format!("127.0.0.1:{port}:8080");
    let vol = format!("{}:/www:ro", www.display());
    let id = pm.run_d(&["-p", &publish, "-v", &vol, IMAGE, "httpd", "-f", "-p", "8080", "-h", "/www"]);
    assert_eq!(pm.inspect(&id, "{{.HostConfig.NetworkMode}}"), "bridge");
    let ip = pm.inspect(&id, "{{.NetworkSettings.IPAddress}}");
    assert!(ip.starts_with("10.88."), "[{pair}] container address {ip:?} not on the default network");
    let out = pm.ok(&["exec", &id, "ip", "-o", "-4", "addr", "show", "eth0"]);
    assert!(out.stdout.contains(&ip), "[{pair}] {out}");
    let body = retry_get(&format!("{ip}:8080"), "/index.html");
    assert!(body.contains("oxrun-podman-net"), "[{pair}] via the bridge: {body}");
    let body = retry_get(&format!("127.0.0.1:{port}"), "/index.html");
    assert!(body.contains("oxrun-podman-net"), "[{pair}] via the published port: {body}");
    let out = pm.ok(&["port", &id]);
    assert!(out.stdout.contains(&format!("127.0.0.1:{port}")), "[{pair}] {out}");
    // Container to container over the bridge.
    let out = pm.ok(&["run", "--rm", IMAGE, "wget", "-qO-", &format!("http://{ip}:8080/index.html")]);
    assert!(out.stdout.contains("oxrun-podman-net"), "[{pair}] {out}");
}

fn ns(pid: i32, kind: &str) -> String {
    std::fs::read_link(format!("/proc/{pid}/ns/{kind}")).map(|p| p.display().to_string()).unwrap_or_default()
}

pub fn pod_shares_infra_namespaces(pair: &str) {
    let pm = Podman::with(Pair::get(pair), Options { infra_image: true, ..Default::default() });
    // infra_image (containers.conf) is a local busybox image running sleep.
    pm.ok(&["pod", "create", "--name", "oxpod"]);
    let infra = pm.ok(&["pod", "inspect", "--format", "{{.InfraContainerID}}", "oxpod"]).stdout.trim().to_string();
    let web = pm.run_d(&["--pod", "oxpod", "--name", "oxweb", IMAGE, "httpd", "-f", "-p", "8080", "-h", "/etc"]);
    pm.assert_pair(&infra);
    let (pi, pw) = (pm.pid(&infra), pm.pid(&web));
    for kind in ["net", "uts", "ipc"] {
        assert_eq!(ns(pi, kind), ns(pw, kind), "[{pair}] {kind} namespace not shared with the infra container");
    }
    assert_ne!(ns(pi, "mnt"), ns(pw, "mnt"), "[{pair}] mount namespaces must differ");
    // A second member reaches the first over the shared loopback.
    let mut got = String::new();
    for _ in 0..50 {
        let out = pm.run(&["run", "--rm", "--pod", "oxpod", IMAGE, "wget", "-qO-", "http://127.0.0.1:8080/passwd"]);
        if out.ok() {
            got = out.stdout;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(got.contains("root:x:0:0"), "[{pair}] member to member over the pod's loopback: {got:?}");
    let ps = pm.ok(&["pod", "ps", "--format", "{{.Name}} {{.Status}} {{.NumberOfContainers}}"]);
    assert!(ps.stdout.contains("oxpod Running 2"), "[{pair}] {ps}");
    pm.ok(&["pod", "stop", "-t", "0", "oxpod"]);
    assert_eq!(pm.status(&web), "exited");
    pm.ok(&["pod", "start", "oxpod"]);
    assert_eq!(pm.status(&web), "running");
    pm.ok(&["pod", "rm", "-f", "-t", "0", "oxpod"]);
    assert!(pm.ok(&["ps", "-a", "-q"]).stdout.trim().is_empty());
}
