//! Links the `oxrun` binary statically (static-pie glibc and libseccomp), leaving every other
//! target (the library, tests) alone.
//!
//! Why: `create`, `run` and `exec` execute oxrun twice (the second time from the read-only view
//! of its binary, CVE-2019-5736, see runtime/src/exe_guard.rs), and each start of a dynamically
//! linked oxrun opens, maps and relocates libseccomp, libgcc_s and libc (about 40 system calls and
//! the symbol binding). Linked statically there is no dynamic loader at all (issue 20).
//!
//! How: as monitor/build.rs. Stable Cargo has no per-binary `-C target-feature=+crt-static`, so
//! rustc still asks for the shared libraries (`-lseccomp`, `-lgcc_s`, `-lc`, ...). `-static-pie`
//! (for this binary only) makes gcc link with rcrt1.o and no dynamic loader, and a directory
//! searched before the system's (GNU ld searches each -L directory for `libX.so`, then `libX.a`)
//! answers each of those names with the static archive. oxrun resolves no user or host names
//! (no NSS), so a static glibc changes nothing it does. Without the static archives (libc6-dev,
//! libgcc-12-dev, libseccomp-dev) or with OXRUN_DYNAMIC set, the binary is linked dynamically.

use std::path::{Path, PathBuf};

fn find(dirs: &[&str], name: &str) -> Option<PathBuf> {
    dirs.iter().map(|d| Path::new(d).join(name)).find(|p| p.exists())
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=OXRUN_DYNAMIC");
    let target = std::env::var("TARGET").unwrap_or_default();
    let host = std::env::var("HOST").unwrap_or_default();
    if target != "x86_64-unknown-linux-gnu" || target != host || std::env::var_os("OXRUN_DYNAMIC").is_some() {
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
    for lib in ["c", "m", "rt", "pthread", "dl", "util", "seccomp"] {
        let Some(a) = find(&libdirs, &format!("lib{lib}.a")) else { return };
        std::os::unix::fs::symlink(a, out.join(format!("lib{lib}.a"))).expect("symlink static lib");
    }
    let (Some(eh), Some(gcc)) = (find(&gccdirs, "libgcc_eh.a"), find(&gccdirs, "libgcc.a")) else { return };
    // libgcc_s (the shared unwinder) becomes a linker script naming its static parts.
    std::fs::write(out.join("libgcc_s.a"), format!("INPUT({} {})\n", eh.display(), gcc.display()))
        .expect("write libgcc_s.a");
    println!("cargo:rustc-link-arg-bin=oxrun=-L{}", out.display());
    println!("cargo:rustc-link-arg-bin=oxrun=-static-pie");
}
