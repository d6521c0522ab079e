//! OCI image layout tars for the engines' tests (containerd's `ctr images
//! import`, the CRI plugin): blobs named by their `sha256sum`, a manifest, an
//! index and the `oci-layout` marker, tarred with `tar`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::util::exec;

/// tar, gzip and sha256sum of a test image take seconds; a minute means a hung tool.
const TOOL_TIMEOUT: Duration = Duration::from_secs(60);

/// A descriptor's digest (hex, without `sha256:`) and size.
pub struct Blob {
    pub digest: String,
    pub size: u64,
}

impl Blob {
    /// The descriptor JSON of this blob with `media_type`.
    pub fn descriptor(&self, media_type: &str) -> serde_json::Value {
        serde_json::json!({ "mediaType": media_type, "digest": format!("sha256:{}", self.digest), "size": self.size })
    }
}

/// An image layout being written under `work/<name>`.
pub struct Layout {
    work: PathBuf,
    dir: PathBuf,
    blobs: PathBuf,
}

impl Layout {
    pub fn new(work: &Path, name: &str) -> Result<Layout, String> {
        let dir = work.join(name);
        let blobs = dir.join("blobs/sha256");
        std::fs::create_dir_all(&blobs).map_err(|e| format!("mkdir {}: {e}", blobs.display()))?;
        Ok(Layout { work: work.to_path_buf(), dir, blobs })
    }

    /// Copies file `f` in as a blob.
    pub fn add_file(&self, f: &Path) -> Result<Blob, String> {
        let digest = sha256_file(&self.work, f)?;
        let size = std::fs::metadata(f).map_err(|e| format!("stat {}: {e}", f.display()))?.len();
        std::fs::copy(f, self.blobs.join(&digest)).map_err(|e| format!("copy blob {}: {e}", f.display()))?;
        Ok(Blob { digest, size })
    }

    /// Adds `v`, serialized, as a blob.
    pub fn add_json(&self, v: &serde_json::Value) -> Result<Blob, String> {
        let f = self.work.join(crate::util::unique("blob"));
        write(&f, &v.to_string())?;
        let blob = self.add_file(&f);
        let _ = std::fs::remove_file(&f);
        blob
    }

    /// Adds the image manifest for `config` and `layers` (descriptors), then the index naming
    /// it with `annotations`, and tars the layout to `out`; the layout directory is removed.
    pub fn finish(
        self,
        config: &Blob,
        layers: Vec<serde_json::Value>,
        annotations: serde_json::Value,
        out: &Path,
    ) -> Result<(), String> {
        let manifest = self.add_json(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": config.descriptor("application/vnd.oci.image.config.v1+json"),
            "layers": layers
        }))?;
        let mut entry = manifest.descriptor("application/vnd.oci.image.manifest.v1+json");
        entry["platform"] = serde_json::json!({"architecture": go_arch(), "os": "linux"});
        entry["annotations"] = annotations;
        let index = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [entry]
        });
        write(&self.dir.join("index.json"), &index.to_string())?;
        write(&self.dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#)?;
        let mut c = Command::new("tar");
        c.arg("-C").arg(&self.dir).arg("-cf").arg(out).arg(".");
        run(c, &self.work)?;
        let _ = std::fs::remove_dir_all(&self.dir);
        Ok(())
    }
}

/// Tars directory `rootfs` as a layer (numeric owner root) to `out`.
pub fn tar_layer(work: &Path, rootfs: &Path, out: &Path) -> Result<(), String> {
    let mut c = Command::new("tar");
    c.args(["--numeric-owner", "--owner=0", "--group=0", "-C"]).arg(rootfs).arg("-cf").arg(out).arg(".");
    run(c, work).map(drop)
}

/// The hex sha256 of file `f`.
pub fn sha256_file(work: &Path, f: &Path) -> Result<String, String> {
    let mut c = Command::new("sha256sum");
    c.arg(f);
    Ok(run(c, work)?.split_whitespace().next().ok_or("sha256sum printed nothing")?.to_string())
}

/// The GOARCH name of this machine (image platform).
pub fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

pub fn run(c: Command, work: &Path) -> Result<String, String> {
    let out = exec(c, work, TOOL_TIMEOUT);
    if out.ok() {
        Ok(out.stdout)
    } else {
        Err(format!("building an image layout: {out}"))
    }
}

fn write(p: &Path, s: &str) -> Result<(), String> {
    std::fs::write(p, s).map_err(|e| format!("write {}: {e}", p.display()))
}
