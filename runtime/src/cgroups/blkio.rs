//! The smaller controllers of `linux.resources` (pure): blockIO, hugepageLimits, network, rdma.
use super::resource_error::{invalid, ResourceError};
use super::resource_plan::{w, ResourcePlan, Write};
use crate::spec::{BlockIo, HugepageLimit, Network, Rdma, ThrottleDevice};

/// blockIO on v1 (blkio.*) or v2 (io.*).
pub fn block_io(b: &BlockIo, v2: bool, p: &mut ResourcePlan) -> Result<(), ResourceError> {
    for (field, v) in [("blockIO.weight", b.weight), ("blockIO.leafWeight", b.leaf_weight)] {
        if let Some(v) = v.filter(|v| *v != 0 && !(10..=1000).contains(v)) {
            return Err(invalid(field, format!("{v} is outside 10–1000")));
        }
    }
    if v2 {
        block_io_v2(b, p);
    } else {
        block_io_v1(b, p);
    }
    Ok(())
}

fn block_io_v1(b: &BlockIo, p: &mut ResourcePlan) {
    // CFQ named the files blkio.weight*, BFQ names them blkio.bfq.weight*; whichever exists.
    let with_bfq = |file: &str, value: String| {
        let bfq = file.replace("blkio.", "blkio.bfq.");
        Write { alt: Some((bfq, value.clone())), ..w("blkio", file, value) }
    };
    if let Some(v) = b.weight.filter(|v| *v != 0) {
        p.writes.push(with_bfq("blkio.weight", v.to_string()));
    }
    if let Some(v) = b.leaf_weight.filter(|v| *v != 0) {
        p.writes.push(w("blkio", "blkio.leaf_weight", v));
    }
    for d in &b.weight_device {
        if let Some(v) = d.weight {
            p.writes.push(with_bfq("blkio.weight_device", format!("{}:{} {v}", d.major, d.minor)));
        }
        if let Some(v) = d.leaf_weight {
            p.writes.push(w("blkio", "blkio.leaf_weight_device", format!("{}:{} {v}", d.major, d.minor)));
        }
    }
    let throttles: [(&str, &[ThrottleDevice]); 4] = [
        ("blkio.throttle.read_bps_device", &b.throttle_read_bps_device),
        ("blkio.throttle.write_bps_device", &b.throttle_write_bps_device),
        ("blkio.throttle.read_iops_device", &b.throttle_read_iops_device),
        ("blkio.throttle.write_iops_device", &b.throttle_write_iops_device),
    ];
    for (file, devs) in throttles {
        for d in devs {
            p.writes.push(w("blkio", file, format!("{}:{} {}", d.major, d.minor, d.rate)));
        }
    }
}

fn block_io_v2(b: &BlockIo, p: &mut ResourcePlan) {
    // BFQ's io.bfq.weight takes blkio's 10–1000 scale; io.weight (io.cost) takes 1–10000.
    let weight = |dev: Option<String>, v: u16| {
        let prefix = dev.map(|d| format!("{d} ")).unwrap_or_default();
        Write {
            alt: Some(("io.weight".into(), format!("{prefix}{}", blkio_weight_to_io(v)))),
            ..w("io", "io.bfq.weight", format!("{prefix}{v}"))
        }
    };
    if let Some(v) = b.weight.filter(|v| *v != 0) {
        p.writes.push(weight(None, v));
    }
    if b.leaf_weight.is_some() || b.weight_device.iter().any(|d| d.leaf_weight.is_some()) {
        p.warnings.push("linux.resources.blockIO leafWeight ignored: cgroup v2 has no leaf weights".into());
    }
    for d in &b.weight_device {
        if let Some(v) = d.weight {
            p.writes.push(weight(Some(format!("{}:{}", d.major, d.minor)), v));
        }
    }
    let throttles: [(&str, &[ThrottleDevice]); 4] = [
        ("rbps", &b.throttle_read_bps_device),
        ("wbps", &b.throttle_write_bps_device),
        ("riops", &b.throttle_read_iops_device),
        ("wiops", &b.throttle_write_iops_device),
    ];
    for (key, devs) in throttles {
        for d in devs {
            p.writes.push(w("io", "io.max", format!("{}:{} {key}={}", d.major, d.minor, d.rate)));
        }
    }
}

/// blkio weight (10–1000) to io.weight (1–10000), runc's conversion.
pub fn blkio_weight_to_io(v: u16) -> u64 {
    if v == 0 {
        return 0;
    }
    1 + (u64::from(v.clamp(10, 1000)) - 10) * 9999 / 990
}

/// One hugepageLimits entry. The runtime-spec's limit is "the limit of hugepagesize hugetlb
/// reservations (if supported) or usage": the reservation file first where the kernel has it
/// (hugetlb.<size>.rsvd.limit_in_bytes on v1, hugetlb.<size>.rsvd.max on v2, Linux 5.7), then
/// the usage file (hugetlb.<size>.limit_in_bytes, hugetlb.<size>.max), as runc 1.2 does.
pub fn hugepages(h: &HugepageLimit, v2: bool, p: &mut ResourcePlan) -> Result<(), ResourceError> {
    let size = h.page_size.as_str();
    let digits = size.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit = &size[digits.len()..];
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) || !matches!(unit, "KB" | "MB" | "GB") {
        return Err(invalid("hugepageLimits.pageSize", format!("{size:?} is not like \"2MB\" or \"1GB\"")));
    }
    let (usage, rsvd) = if v2 {
        (format!("hugetlb.{size}.max"), format!("hugetlb.{size}.rsvd.max"))
    } else {
        (format!("hugetlb.{size}.limit_in_bytes"), format!("hugetlb.{size}.rsvd.limit_in_bytes"))
    };
    // Without the rsvd file its alternative, the usage file, takes the value (written again next).
    p.writes.push(Write { alt: Some((usage.clone(), h.limit.to_string())), ..w("hugetlb", &rsvd, h.limit) });
    p.writes.push(w("hugetlb", &usage, h.limit));
    Ok(())
}

/// network: net_cls.classid and net_prio.ifpriomap, which exist only on v1.
pub fn network(n: &Network, v2_only: bool, p: &mut ResourcePlan) {
    if v2_only {
        if n.class_id.is_some() || !n.priorities.is_empty() {
            p.warnings.push("linux.resources.network ignored: net_cls and net_prio exist only on cgroup v1".into());
        }
        return;
    }
    if let Some(id) = n.class_id {
        p.writes.push(w("net_cls", "net_cls.classid", id));
    }
    for prio in &n.priorities {
        p.writes.push(w("net_prio", "net_prio.ifpriomap", format!("{} {}", prio.name, prio.priority)));
    }
}

/// rdma.max (same file on v1 and v2): `<device> hca_handle=N hca_object=M`.
pub fn rdma(dev: &str, r: &Rdma, p: &mut ResourcePlan) -> Result<(), ResourceError> {
    if dev.is_empty() || dev.contains(char::is_whitespace) {
        return Err(invalid("rdma", format!("device name {dev:?} is empty or has spaces")));
    }
    if r.hca_handles.is_none() && r.hca_objects.is_none() {
        return Ok(());
    }
    let val = |v: Option<u32>| v.map_or("max".to_string(), |v| v.to_string());
    p.writes.push(w(
        "rdma",
        "rdma.max",
        format!("{dev} hca_handle={} hca_object={}", val(r.hca_handles), val(r.hca_objects)),
    ));
    Ok(())
}
