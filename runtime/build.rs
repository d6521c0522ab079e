//! Links the `oxrun` binary statically, leaving every other target (the library, tests) alone:
//! static-pie glibc and libseccomp for the host target, and libseccomp into the static-pie musl
//! build (`--target x86_64-unknown-linux-musl`, what `make build` installs when the musl target
//! is there).
//!
//! Why static: `create`, `run` and `exec` execute oxrun twice (the second time from the read-only
//! view of its binary, CVE-2019-5736, see runtime/src/exe_guard.rs), and each start of a
//! dynamically linked oxrun opens, maps and relocates libseccomp, libgcc_s and libc (about 40
//! system calls and the symbol binding). Linked statically there is no dynamic loader at all
//! (issue 20).
//!
//! Why musl as well: glibc's start-up, even static, probes the CPU's caches with about a hundred
//! `cpuid` instructions (`init_cacheinfo`, `handle_intel`), and in a virtual machine each one traps
//! to the hypervisor: about 0.3 ms per start here, twice per `run`. musl's start-up does nothing of
//! the kind, and Rust's own start-up there reads no /proc/self/maps: 0.45 ms for a static musl
//! program against 0.93 ms for the glibc one (perf stat, this VM). oxrun resolves no user or host
//! names (no NSS), so neither libc changes what it does.
//!
//! How: build-support/static_pie.rs, shared with monitor/build.rs; besides glibc's it answers
//! `-lseccomp` (the libseccomp crate) with the static archive. Without the static archives
//! (libc6-dev, libgcc-12-dev, libseccomp-dev) or with OXRUN_DYNAMIC set, the glibc binary is
//! linked dynamically. For musl, Debian's libseccomp.a is linked as it is: it was compiled against
//! glibc and needs one glibc-only function, `__fprintf_chk`, which build-support/fortify_shim.c
//! provides.

include!("../build-support/static_pie.rs");

fn main() {
    link_static_pie("oxrun", "OXRUN_DYNAMIC", &["seccomp"]);
    link_musl_seccomp("oxrun");
}

/// For the musl build of oxrun (x86_64-unknown-linux-musl, static-pie by default): answers
/// `-lseccomp` with Debian's static libseccomp and links the one glibc fortify function it calls.
fn link_musl_seccomp(bin: &str) {
    println!("cargo:rerun-if-changed=../build-support/fortify_shim.c");
    if std::env::var("TARGET").unwrap_or_default() != "x86_64-unknown-linux-musl" {
        return;
    }
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR")).join("musl-libs");
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).expect("create OUT_DIR/musl-libs");
    let archive = find_file(&LIB_DIRS, "libseccomp.a")
        .expect("libseccomp.a (libseccomp-dev) is needed for the musl build of oxrun");
    std::os::unix::fs::symlink(&archive, out.join("libseccomp.a")).expect("symlink libseccomp.a");
    let shim = out.join("fortify_shim.o");
    let status = std::process::Command::new("cc")
        .args(["-c", "-O2", "-fPIE", "-o"])
        .arg(&shim)
        .arg("../build-support/fortify_shim.c")
        .status()
        .expect("run cc for build-support/fortify_shim.c");
    assert!(status.success(), "cc build-support/fortify_shim.c failed");
    println!("cargo:rustc-link-search=native={}", out.display());
    println!("cargo:rustc-link-arg-bin={bin}={}", shim.display());
    // libseccomp.a comes after musl's libc.a on the link line: search libc again for it.
    println!("cargo:rustc-link-arg-bin={bin}=-lc");
}
