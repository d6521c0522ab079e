//! The sandbox ("pause") image of the CRI tests: an OCI image layout tar
//! holding only Debian's static `catatonit`, run as `catatonit -P` (its pause
//! mode), imported under [`super::PAUSE_IMAGE`], the name containerd's
//! `sandbox_image` says, so RunPodSandbox never pulls.

use std::path::Path;

use crate::oci_layout::{go_arch, tar_layer, Layout};
use crate::util::which;

/// Writes the pause image's OCI layout tar, named `name`, to `out`.
pub fn build_pause_image(work: &Path, name: &str, out: &Path) -> Result<(), String> {
    let catatonit = which("catatonit").ok_or("catatonit is not installed (apt-get install catatonit)")?;
    let rootfs = work.join("pause-rootfs");
    std::fs::create_dir_all(&rootfs).map_err(|e| format!("mkdir {}: {e}", rootfs.display()))?;
    std::fs::copy(&catatonit, rootfs.join("catatonit")).map_err(|e| format!("copy {}: {e}", catatonit.display()))?;
    let layout = Layout::new(work, "pause-layout")?;
    let layer_tar = work.join("pause-layer.tar");
    tar_layer(work, &rootfs, &layer_tar)?;
    // An uncompressed layer: its digest is its diff id.
    let layer = layout.add_file(&layer_tar)?;
    let config = layout.add_json(&serde_json::json!({
        "architecture": go_arch(),
        "os": "linux",
        "config": {"Entrypoint": ["/catatonit", "-P"], "WorkingDir": "/"},
        "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{}", layer.digest)]},
        "history": [{"created_by": "oxrun integration tests (pause)"}]
    }))?;
    let annotations = serde_json::json!({ "io.containerd.image.name": name });
    layout.finish(&config, vec![layer.descriptor("application/vnd.oci.image.layer.v1.tar")], annotations, out)?;
    let _ = std::fs::remove_dir_all(&rootfs);
    let _ = std::fs::remove_file(&layer_tar);
    Ok(())
}
