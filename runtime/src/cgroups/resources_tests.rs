//! Unit tests of the pure spec → writes translation (no root, no cgroupfs).
use super::*;
use crate::spec::{BlockIo, HugepageLimit, InterfacePriority, Network, Pids, Rdma, ThrottleDevice, WeightDevice};
use std::collections::BTreeMap;

fn res() -> Resources {
    Resources {
        memory: Some(Memory { limit: Some(64 << 20), swap: Some(128 << 20), ..Memory::default() }),
        cpu: Some(Cpu { shares: Some(512), quota: Some(50_000), period: Some(100_000), ..Cpu::default() }),
        pids: Some(Pids { limit: 42 }),
        devices: vec![DeviceRule { allow: false, access: Some("rwm".into()), ..DeviceRule::default() }],
        ..Resources::default()
    }
}

fn files(p: &ResourcePlan) -> Vec<(&str, &str)> {
    p.writes.iter().map(|w| (w.file.as_str(), w.value.as_str())).collect()
}

fn get(p: &ResourcePlan, f: &str) -> Option<String> {
    p.writes.iter().find(|w| w.file == f).map(|w| w.value.clone())
}

#[test]
fn v1_writes_in_order() {
    let p = plan(&res(), &Host::v1(true), &[]).unwrap();
    assert_eq!(
        files(&p),
        vec![
            ("memory.limit_in_bytes", "67108864"),
            ("memory.memsw.limit_in_bytes", "134217728"),
            ("cpu.shares", "512"),
            ("cpu.cfs_period_us", "100000"),
            ("cpu.cfs_quota_us", "50000"),
            ("pids.max", "42"),
            ("devices.deny", "a *:* rwm"),
        ]
    );
    assert!(p.device_program.is_none());
    // Without swap accounting memsw is skipped with a warning rather than failing.
    let p = plan(&res(), &Host::v1(false), &[]).unwrap();
    assert!(p.writes.iter().all(|w| w.file != "memory.memsw.limit_in_bytes"));
    assert_eq!(p.warnings.len(), 1);
}

#[test]
fn v2_writes_convert_units() {
    let p = plan(&res(), &Host::v2(), &[]).unwrap();
    assert_eq!(get(&p, "memory.max").as_deref(), Some("67108864"));
    assert_eq!(get(&p, "memory.swap.max").as_deref(), Some("67108864"));
    assert_eq!(get(&p, "cpu.weight").as_deref(), Some("20"));
    assert_eq!(get(&p, "cpu.max").as_deref(), Some("50000 100000"));
    assert_eq!(get(&p, "pids.max").as_deref(), Some("42"));
    // Devices become a program, not writes.
    assert!(p.writes.iter().all(|w| !w.file.starts_with("devices.")));
    assert!(p.device_program.is_some());
}

#[test]
fn every_memory_field() {
    let m = Memory {
        limit: Some(100),
        reservation: Some(50),
        swap: Some(-1),
        kernel: Some(10),
        kernel_tcp: Some(10),
        swappiness: Some(30),
        disable_oom_killer: Some(true),
        use_hierarchy: Some(true),
        check_before_update: Some(true),
    };
    let r = Resources { memory: Some(m.clone()), ..Resources::default() };
    let p = plan(&r, &Host::v1(true), &[]).unwrap();
    assert_eq!(
        files(&p),
        vec![
            ("memory.limit_in_bytes", "100"),
            ("memory.soft_limit_in_bytes", "50"),
            ("memory.memsw.limit_in_bytes", "-1"),
            ("memory.swappiness", "30"),
            ("memory.oom_control", "1"),
            ("memory.kmem.tcp.limit_in_bytes", "10"),
            ("memory.use_hierarchy", "1"),
        ]
    );
    assert_eq!(p.warnings.len(), 1, "only kernel is ignored with a warning on v1: {:?}", p.warnings);
    let p = plan(&r, &Host::v2(), &[]).unwrap();
    assert_eq!(files(&p), vec![("memory.max", "100"), ("memory.low", "50"), ("memory.swap.max", "max")]);
    assert_eq!(p.warnings.len(), 4, "kernel, kernelTCP, swappiness, disableOOMKiller: {:?}", p.warnings);
    let bad = Resources { memory: Some(Memory { swappiness: Some(101), ..Memory::default() }), ..Resources::default() };
    assert!(plan(&bad, &Host::v1(true), &[]).is_err());
    let bad = Resources {
        memory: Some(Memory { limit: Some(100), swap: Some(50), ..Memory::default() }),
        ..Resources::default()
    };
    assert!(plan(&bad, &Host::v1(true), &[]).is_err());
}

#[test]
fn swap_conversion_to_v2() {
    assert_eq!(swap_v2(0, 100), Ok(None));
    assert_eq!(swap_v2(-1, 100), Ok(Some("max".into())));
    assert_eq!(swap_v2(300, 100), Ok(Some("200".into())));
    assert!(swap_v2(100, 0).is_err());
    assert!(swap_v2(100, -1).is_err());
    assert!(swap_v2(50, 100).is_err());
}

#[test]
fn every_cpu_field() {
    let c = Cpu {
        shares: Some(1024),
        quota: Some(20_000),
        burst: Some(1000),
        period: Some(50_000),
        realtime_runtime: Some(950),
        realtime_period: Some(1000),
        cpus: Some("0".into()),
        mems: Some("0".into()),
        idle: Some(1),
    };
    let r = Resources { cpu: Some(c.clone()), ..Resources::default() };
    let p = plan(&r, &Host::v1(true), &[]).unwrap();
    assert_eq!(
        files(&p),
        vec![
            ("cpu.shares", "1024"),
            ("cpu.cfs_period_us", "50000"),
            ("cpu.cfs_quota_us", "20000"),
            ("cpu.cfs_burst_us", "1000"),
            ("cpu.rt_period_us", "1000"),
            ("cpu.rt_runtime_us", "950"),
            ("cpu.idle", "1"),
            ("cpuset.cpus", "0"),
            ("cpuset.mems", "0"),
        ]
    );
    // v2 has no real-time bandwidth: an error, not a silent drop.
    assert!(plan(&r, &Host::v2(), &[]).is_err());
    let c2 = Cpu { realtime_runtime: None, realtime_period: None, ..c };
    let p = plan(&Resources { cpu: Some(c2), ..Resources::default() }, &Host::v2(), &[]).unwrap();
    assert_eq!(
        files(&p),
        vec![
            ("cpu.weight", "39"),
            ("cpu.max", "20000 50000"),
            ("cpu.max.burst", "1000"),
            ("cpu.idle", "1"),
            ("cpuset.cpus", "0"),
            ("cpuset.mems", "0")
        ]
    );
    // Only a period: unlimited quota.
    let p = plan(
        &Resources { cpu: Some(Cpu { period: Some(1000), ..Cpu::default() }), ..Resources::default() },
        &Host::v2(),
        &[],
    )
    .unwrap();
    assert_eq!(get(&p, "cpu.max").as_deref(), Some("max 1000"));
}

#[test]
fn shares_to_weight_matches_the_reference_points() {
    assert_eq!(shares_to_weight(2), 1);
    assert_eq!(shares_to_weight(1024), 39);
    assert_eq!(shares_to_weight(262_144), 10_000);
    assert_eq!(shares_to_weight(0), 0);
}

fn blkio() -> BlockIo {
    let t = |rate| vec![ThrottleDevice { major: 8, minor: 0, rate }];
    BlockIo {
        weight: Some(500),
        leaf_weight: Some(300),
        weight_device: vec![WeightDevice { major: 8, minor: 0, weight: Some(200), leaf_weight: Some(100) }],
        throttle_read_bps_device: t(1),
        throttle_write_bps_device: t(2),
        throttle_read_iops_device: t(3),
        throttle_write_iops_device: t(4),
    }
}

#[test]
fn block_io_v1_and_v2() {
    let r = Resources { block_io: Some(blkio()), ..Resources::default() };
    let p = plan(&r, &Host::v1(true), &[]).unwrap();
    assert_eq!(
        files(&p),
        vec![
            ("blkio.weight", "500"),
            ("blkio.leaf_weight", "300"),
            ("blkio.weight_device", "8:0 200"),
            ("blkio.leaf_weight_device", "8:0 100"),
            ("blkio.throttle.read_bps_device", "8:0 1"),
            ("blkio.throttle.write_bps_device", "8:0 2"),
            ("blkio.throttle.read_iops_device", "8:0 3"),
            ("blkio.throttle.write_iops_device", "8:0 4"),
        ]
    );
    assert_eq!(p.writes[0].alt, Some(("blkio.bfq.weight".into(), "500".into())));
    assert_eq!(p.writes[2].alt, Some(("blkio.bfq.weight_device".into(), "8:0 200".into())));
    let p = plan(&r, &Host::v2(), &[]).unwrap();
    assert_eq!(
        files(&p),
        vec![
            ("io.bfq.weight", "500"),
            ("io.bfq.weight", "8:0 200"),
            ("io.max", "8:0 rbps=1"),
            ("io.max", "8:0 wbps=2"),
            ("io.max", "8:0 riops=3"),
            ("io.max", "8:0 wiops=4"),
        ]
    );
    assert_eq!(p.writes[0].alt, Some(("io.weight".into(), "4950".into())));
    assert_eq!(p.warnings.len(), 1, "leaf weights are v1 only");
    let bad = Resources { block_io: Some(BlockIo { weight: Some(5), ..BlockIo::default() }), ..Resources::default() };
    assert!(plan(&bad, &Host::v1(true), &[]).is_err());
}

#[test]
fn blkio_weight_scale() {
    assert_eq!(blkio::blkio_weight_to_io(10), 1);
    assert_eq!(blkio::blkio_weight_to_io(1000), 10_000);
    assert_eq!(blkio::blkio_weight_to_io(100), 910);
}

#[test]
fn hugepages_network_rdma() {
    let mut rdma = BTreeMap::new();
    rdma.insert("mlx5_0".to_string(), Rdma { hca_handles: Some(3), hca_objects: None });
    let r = Resources {
        hugepage_limits: vec![HugepageLimit { page_size: "2MB".into(), limit: 4 << 20 }],
        network: Some(Network {
            class_id: Some(0x10_0001),
            priorities: vec![InterfacePriority { name: "eth0".into(), priority: 5 }],
        }),
        rdma: Some(rdma),
        ..Resources::default()
    };
    let p = plan(&r, &Host::v1(true), &[]).unwrap();
    assert_eq!(
        files(&p),
        vec![
            ("hugetlb.2MB.rsvd.limit_in_bytes", "4194304"),
            ("hugetlb.2MB.limit_in_bytes", "4194304"),
            ("net_cls.classid", "1048577"),
            ("net_prio.ifpriomap", "eth0 5"),
            ("rdma.max", "mlx5_0 hca_handle=3 hca_object=max"),
        ]
    );
    // Hybrid with hugetlb on the cgroup2 mount: v2 names for hugetlb only.
    let hybrid = Host { has_v2: true, v2_controllers: vec!["hugetlb".into()], ..Host::v1(true) };
    let p = plan(&r, &hybrid, &[]).unwrap();
    assert_eq!(get(&p, "hugetlb.2MB.max").as_deref(), Some("4194304"));
    // The reservation limit where the kernel has it; the usage file stands in where it has not.
    let rsvd = p.writes.iter().find(|w| w.file == "hugetlb.2MB.rsvd.max").expect("rsvd write");
    assert_eq!(
        (rsvd.value.as_str(), rsvd.alt.clone()),
        ("4194304", Some(("hugetlb.2MB.max".into(), "4194304".into())))
    );
    assert_eq!(get(&p, "net_cls.classid").as_deref(), Some("1048577"));
    // v2 only: network is ignored with a warning.
    let p = plan(&r, &Host::v2(), &[]).unwrap();
    assert!(get(&p, "net_cls.classid").is_none());
    assert_eq!(p.warnings.len(), 1);
    let bad =
        Resources { hugepage_limits: vec![HugepageLimit { page_size: "2M".into(), limit: 1 }], ..Resources::default() };
    assert!(plan(&bad, &Host::v1(true), &[]).is_err());
}

#[test]
fn unified_is_v2_only() {
    let mut u = BTreeMap::new();
    u.insert("memory.high".to_string(), "1000000".to_string());
    let r = Resources { unified: Some(u), ..Resources::default() };
    assert_eq!(plan(&r, &Host::v1(true), &[]), Err(ResourceError::UnifiedOnV1 { key: "memory.high".into() }));
    let p = plan(&r, &Host::v2(), &[]).unwrap();
    assert_eq!(files(&p), vec![("memory.high", "1000000")]);
    assert_eq!(p.writes[0].controller, "memory");
    // Hybrid: only controllers on the cgroup2 mount.
    let hybrid = Host { has_v2: true, v2_controllers: vec!["hugetlb".into()], ..Host::v1(true) };
    assert!(matches!(plan(&r, &hybrid, &[]), Err(ResourceError::UnifiedNotOnV2 { .. })));
    let mut u = BTreeMap::new();
    u.insert("../memory.max".to_string(), "1".to_string());
    assert!(plan(&Resources { unified: Some(u), ..Resources::default() }, &Host::v2(), &[]).is_err());
}

#[test]
fn extra_devices_follow_the_spec_rules() {
    let extra = vec![DeviceRule {
        allow: true,
        kind: Some("c".into()),
        major: Some(1),
        minor: Some(3),
        access: Some("rwm".into()),
    }];
    let p = plan(&res(), &Host::v1(true), &extra).unwrap();
    let dev: Vec<_> = files(&p).into_iter().filter(|(f, _)| f.starts_with("devices.")).collect();
    assert_eq!(dev, vec![("devices.deny", "a *:* rwm"), ("devices.allow", "c 1:3 rwm")]);
}

#[test]
fn resources_parse_from_config_json_names() {
    let r: Resources = serde_json::from_value(serde_json::json!({
        "blockIO": { "weight": 10, "throttleReadIOPSDevice": [{ "major": 8, "minor": 0, "rate": 5 }],
                     "weightDevice": [{ "major": 8, "minor": 0, "leafWeight": 20 }] },
        "hugepageLimits": [{ "pageSize": "1GB", "limit": 0 }],
        "network": { "classID": 7, "priorities": [{ "name": "lo", "priority": 1 }] },
        "rdma": { "mlx": { "hcaHandles": 1, "hcaObjects": 2 } },
        "memory": { "disableOOMKiller": true, "kernelTCP": 5, "useHierarchy": true },
        "cpu": { "realtimeRuntime": 5, "idle": 1, "burst": 3 }
    }))
    .unwrap();
    let b = r.block_io.as_ref().unwrap();
    assert_eq!(
        (b.weight, b.throttle_read_iops_device[0].rate, b.weight_device[0].leaf_weight),
        (Some(10), 5, Some(20))
    );
    assert_eq!(r.hugepage_limits[0].page_size, "1GB");
    assert_eq!(r.network.as_ref().unwrap().class_id, Some(7));
    assert_eq!(r.rdma.as_ref().unwrap()["mlx"].hca_objects, Some(2));
    let m = r.memory.as_ref().unwrap();
    assert_eq!((m.disable_oom_killer, m.kernel_tcp, m.use_hierarchy), (Some(true), Some(5), Some(true)));
    let c = r.cpu.as_ref().unwrap();
    assert_eq!((c.realtime_runtime, c.idle, c.burst), (Some(5), Some(1), Some(3)));
}

/// config-linux.md#memory, checkBeforeUpdate: "enables checking if a new memory limit is lower
/// than the current usage during update, and if so, rejecting the new limit".
#[test]
fn check_before_update_refuses_limits_not_above_usage() {
    let usage = |file: &'static str, value: u64| move |f: &str| (f == file).then_some(value);
    let m = |limit: i64, swap: Option<i64>, check: Option<bool>| Memory {
        limit: Some(limit),
        swap,
        check_before_update: check,
        ..Memory::default()
    };
    // v2 reads memory.current, v1 memory.usage_in_bytes.
    let err = check_memory_usage(&m(4096, None, Some(true)), true, usage("memory.current", 8192)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "linux.resources.memory.limit 4096 is not above the current usage 8192 (memory.checkBeforeUpdate)"
    );
    assert!(
        check_memory_usage(&m(4096, None, Some(true)), false, usage("memory.usage_in_bytes", 4096)).is_err(),
        "equal to the usage is refused"
    );
    assert!(
        check_memory_usage(&m(4096, None, Some(true)), false, usage("memory.current", 8192)).is_ok(),
        "v1 does not read memory.current"
    );
    assert!(check_memory_usage(&m(16384, None, Some(true)), true, usage("memory.current", 8192)).is_ok());
    let err = check_memory_usage(&m(16384, Some(8192), Some(true)), true, usage("memory.current", 8192)).unwrap_err();
    assert!(err.to_string().starts_with("linux.resources.memory.swap 8192"), "{err}");
    // Off, unlimited (-1) or an unreadable usage: no refusal.
    assert!(check_memory_usage(&m(4096, None, None), true, usage("memory.current", 8192)).is_ok());
    assert!(check_memory_usage(&m(4096, None, Some(false)), true, usage("memory.current", 8192)).is_ok());
    assert!(check_memory_usage(&m(-1, None, Some(true)), true, usage("memory.current", 8192)).is_ok());
    assert!(check_memory_usage(&m(4096, None, Some(true)), true, |_: &str| None).is_ok());
}
