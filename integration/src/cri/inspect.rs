//! What a pod or the whole private containerd left behind: state dirs,
//! mounts (on the host and in containerd's mount namespace), cgroups (also in
//! the hierarchies mounted only in containerd's namespace), shims, netns pins
//! and CNI leases.

use std::path::PathBuf;

use super::{CriContainerd, K8S_NS};
use crate::containerd::unmounted_v1_controllers;
use crate::util::cmdline_of;

impl CriContainerd {
    /// What pod `pod` (with containers `containers`, handler `handler`,
    /// cgroup parent `cgroup_parent`) left behind once removed: runtime
    /// state dirs, task bundles, CRI dirs, mounts (on the host and in
    /// containerd's mount namespace), cgroups, shims, CNI IP leases.
    pub fn pod_leftovers(&self, handler: &str, pod: &str, containers: &[String], cgroup_parent: &str) -> Vec<String> {
        let mut v = Vec::new();
        let ids: Vec<&str> = std::iter::once(pod).chain(containers.iter().map(String::as_str)).collect();
        for id in &ids {
            for d in [
                self.runtime_root(handler).join(id),
                self.path.join("state/io.containerd.runtime.v2.task").join(K8S_NS).join(id),
                self.path.join("root/io.containerd.grpc.v1.cri/containers").join(id),
                self.path.join("root/io.containerd.grpc.v1.cri/sandboxes").join(id),
                self.path.join("state/io.containerd.grpc.v1.cri/containers").join(id),
                self.path.join("state/io.containerd.grpc.v1.cri/sandboxes").join(id),
            ] {
                if d.exists() {
                    v.push(format!("dir {}", d.display()));
                }
            }
            for m in self.mounts_mentioning(id) {
                v.push(format!("mount {m}"));
            }
            for pid in self.shim_pids() {
                if cmdline_of(pid).iter().any(|a| a == id) {
                    v.push(format!("shim {pid} serving {id}"));
                }
            }
        }
        for root in self.cgroup_roots() {
            let d = root.join(cgroup_parent.trim_start_matches('/'));
            for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                if e.path().is_dir() {
                    v.push(format!("cgroup {}", e.path().display()));
                }
            }
        }
        if let Ok(rd) = std::fs::read_dir(self.path.join("state/netns")) {
            for e in rd.flatten() {
                v.push(format!("netns pin {}", e.path().display()));
            }
        }
        let leases = self.path.join("cni/ipam/oxcri");
        for e in std::fs::read_dir(&leases).into_iter().flatten().flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if n.contains('.') && !n.starts_with("last_reserved_ip") && n != "lock" {
                v.push(format!("CNI lease {}", e.path().display()));
            }
        }
        v
    }

    /// Mount lines mentioning `needle`, in the host's and in containerd's
    /// mount namespace.
    pub fn mounts_mentioning(&self, needle: &str) -> Vec<String> {
        let mut files = vec![PathBuf::from("/proc/self/mountinfo")];
        if let Some(pid) = self.pid() {
            files.push(PathBuf::from(format!("/proc/{pid}/mountinfo")));
        }
        let mut v: Vec<String> = files
            .iter()
            .flat_map(|f| {
                std::fs::read_to_string(f)
                    .unwrap_or_default()
                    .lines()
                    .filter(|l| l.contains(needle))
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            })
            .collect();
        v.dedup();
        v
    }

    /// Every cgroup hierarchy: the host's and those mounted in containerd's
    /// mount namespace only (seen through `/proc/<pid>/root`).
    pub fn cgroup_roots(&self) -> Vec<PathBuf> {
        let mut v = crate::leftovers::cgroup_roots();
        if let Some(pid) = self.pid() {
            for (i, _) in unmounted_v1_controllers().iter().enumerate() {
                let mp = self.path.join(format!("cgmnt{i}"));
                let p = PathBuf::from(format!("/proc/{pid}/root")).join(mp.strip_prefix("/").unwrap_or(&mp));
                if p.join("cgroup.procs").exists() {
                    v.push(p);
                }
            }
        }
        v
    }

    /// Shim processes serving this containerd.
    pub fn shim_pids(&self) -> Vec<i32> {
        let sock = self.socket().to_string_lossy().into_owned();
        let mut v = Vec::new();
        for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            let cl = cmdline_of(pid);
            if cl.first().is_some_and(|a| a.contains("containerd-shim")) && cl.iter().any(|a| a == &sock) {
                v.push(pid);
            }
        }
        v
    }
}
