//! Links the `oxmon` binary statically (static-pie glibc), leaving every other target alone.
//!
//! Why: a monitor runs per container, and most of its RSS is shared-library text mapped by the
//! kernel's fault-around in 64 KiB windows: the dynamic libc.so alone accounts for 500-650 KiB
//! of a sleeping oxmon's ~1.1 MiB. Linked statically, only the libc objects oxmon uses are in
//! the binary, packed together, and there is no dynamic loader: ~880 KiB in all (bench
//! monitor-rss, issue 20).
//!
//! How: stable Cargo has no per-binary `-C target-feature=+crt-static`, so rustc still asks for
//! the shared libraries (`-Bdynamic -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc`). `-static-pie`
//! (for this binary only) makes gcc link with rcrt1.o and no dynamic loader, and a directory
//! searched before the system's (GNU ld searches each -L directory for `libX.so`, then `libX.a`)
//! answers each of those names with the static archive. Without the static archives (libc6-dev,
//! libgcc-12-dev) or with OXMON_DYNAMIC set, the binary is linked dynamically as before.

use std::path::{Path, PathBuf};

fn find(dirs: &[&str], name: &str) -> Option<PathBuf> {
    dirs.iter().map(|d| Path::new(d).join(name)).find(|p| p.exists())
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=OXMON_DYNAMIC");
    let target = std::env::var("TARGET").unwrap_or_default();
    let host = std::env::var("HOST").unwrap_or_default();
    if target != "x86_64-unknown-linux-gnu" || target != host || std::env::var_os("OXMON_DYNAMIC").is_some() {
        return;
    }
    let libdirs = ["/usr/lib/x86_64-linux-gnu", "/lib/x86_64-linux-gnu", "/usr/lib64"];
    let gccdirs: Vec<String> = std::fs::read_dir("/usr/lib/gcc/x86_64-linux-gnu")
        .map(|rd| rd.filter_map(|e| Some(e.ok()?.path().to_str()?.to_string())).collect())
        .unwrap_or_default();
    let gccdirs: Vec<&str> = gccdirs.iter().map(String::as_str).collect();
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR")).join("static-libs");
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).expect("create OUT_DIR/static-libs");
    for lib in ["c", "m", "rt", "pthread", "dl", "util"] {
        let Some(a) = find(&libdirs, &format!("lib{lib}.a")) else { return };
        std::os::unix::fs::symlink(a, out.join(format!("lib{lib}.a"))).expect("symlink static lib");
    }
    let (Some(eh), Some(gcc)) = (find(&gccdirs, "libgcc_eh.a"), find(&gccdirs, "libgcc.a")) else { return };
    // libgcc_s (the shared unwinder) becomes a linker script naming its static parts.
    std::fs::write(out.join("libgcc_s.a"), format!("INPUT({} {})\n", eh.display(), gcc.display()))
        .expect("write libgcc_s.a");
    println!("cargo:rustc-link-arg-bin=oxmon=-L{}", out.display());
    println!("cargo:rustc-link-arg-bin=oxmon=-static-pie");
}
