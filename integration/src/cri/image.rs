//! The sandbox ("pause") image of the CRI tests: an OCI image layout tar
//! holding only Debian's static `catatonit`, run as `catatonit -P` (its pause
//! mode), imported under [`super::PAUSE_IMAGE`], the name containerd's
//! `sandbox_image` says, so RunPodSandbox never pulls.

use std::path::Path;
use std::process::Command;

use crate::containerd::{go_arch, CTR_TIMEOUT};
use crate::util::{exec, which};

/// Writes the pause image's OCI layout tar, named `name`, to `out`.
pub fn build_pause_image(work: &Path, name: &str, out: &Path) -> Result<(), String> {
    let catatonit = which("catatonit").ok_or("catatonit is not installed (apt-get install catatonit)")?;
    let rootfs = work.join("pause-rootfs");
    let layout = work.join("pause-layout");
    let blobs = layout.join("blobs/sha256");
    std::fs::create_dir_all(&rootfs).map_err(|e| format!("mkdir {}: {e}", rootfs.display()))?;
    std::fs::create_dir_all(&blobs).map_err(|e| format!("mkdir {}: {e}", blobs.display()))?;
    std::fs::copy(&catatonit, rootfs.join("catatonit")).map_err(|e| format!("copy {}: {e}", catatonit.display()))?;
    let layer_tar = work.join("pause-layer.tar");
    let mut c = Command::new("tar");
    c.args(["--numeric-owner", "--owner=0", "--group=0", "-C"]).arg(&rootfs).arg("-cf").arg(&layer_tar).arg(".");
    run(c, work)?;
    // An uncompressed layer: its digest is its diff id.
    let (layer_digest, layer_size) = add_blob(work, &blobs, &layer_tar)?;
    let config = serde_json::json!({
        "architecture": go_arch(),
        "os": "linux",
        "config": {"Entrypoint": ["/catatonit", "-P"], "WorkingDir": "/"},
        "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{layer_digest}")]},
        "history": [{"created_by": "oxrun integration tests (pause)"}]
    });
    let (config_digest, config_size) = add_json_blob(work, &blobs, "pause-config.json", &config)?;
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": format!("sha256:{config_digest}"),
            "size": config_size
        },
        "layers": [{
            "mediaType": "application/vnd.oci.image.layer.v1.tar",
            "digest": format!("sha256:{layer_digest}"),
            "size": layer_size
        }]
    });
    let (manifest_digest, manifest_size) = add_json_blob(work, &blobs, "pause-manifest.json", &manifest)?;
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": format!("sha256:{manifest_digest}"),
            "size": manifest_size,
            "platform": {"architecture": go_arch(), "os": "linux"},
            "annotations": {"io.containerd.image.name": name}
        }]
    });
    write(&layout.join("index.json"), &index.to_string())?;
    write(&layout.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#)?;
    let mut c = Command::new("tar");
    c.arg("-C").arg(&layout).arg("-cf").arg(out).arg(".");
    run(c, work)?;
    let _ = std::fs::remove_dir_all(&rootfs);
    let _ = std::fs::remove_dir_all(&layout);
    let _ = std::fs::remove_file(&layer_tar);
    Ok(())
}

fn write(p: &Path, s: &str) -> Result<(), String> {
    std::fs::write(p, s).map_err(|e| format!("write {}: {e}", p.display()))
}

fn run(c: Command, work: &Path) -> Result<String, String> {
    let out = exec(c, work, CTR_TIMEOUT);
    if out.ok() {
        Ok(out.stdout)
    } else {
        Err(format!("building the pause image: {out}"))
    }
}

fn add_blob(work: &Path, blobs: &Path, f: &Path) -> Result<(String, u64), String> {
    let mut c = Command::new("sha256sum");
    c.arg(f);
    let digest = run(c, work)?.split_whitespace().next().ok_or("sha256sum printed nothing")?.to_string();
    let size = std::fs::metadata(f).map_err(|e| format!("stat {}: {e}", f.display()))?.len();
    std::fs::copy(f, blobs.join(&digest)).map_err(|e| format!("copy blob {}: {e}", f.display()))?;
    Ok((digest, size))
}

fn add_json_blob(work: &Path, blobs: &Path, name: &str, v: &serde_json::Value) -> Result<(String, u64), String> {
    let f = work.join(name);
    write(&f, &v.to_string())?;
    let r = add_blob(work, blobs, &f);
    let _ = std::fs::remove_file(&f);
    r
}
