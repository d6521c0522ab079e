// Static-pie linking of one binary, shared by runtime/build.rs and monitor/build.rs (each pulls
// this file in with `include!`; each build.rs says why its binary is static).
//
// How: stable Cargo has no per-binary `-C target-feature=+crt-static`, so rustc still asks for
// the shared libraries (`-Bdynamic -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc`, and whatever the
// crate's dependencies link). `-static-pie` (for this binary only) makes gcc link with rcrt1.o and
// no dynamic loader, and a directory searched before the system's (GNU ld searches each -L
// directory for `libX.so`, then `libX.a`) answers each of those names with the static archive.
// Without the static archives (libc6-dev, libgcc-12-dev, and the -dev packages of `extra_libs`)
// or with the opt-out variable set, the binary is linked dynamically.

/// glibc's libraries rustc asks for on every binary (libgcc_s is answered separately).
const GLIBC_LIBS: [&str; 6] = ["c", "m", "rt", "pthread", "dl", "util"];

/// Where Debian keeps the static archives (libc6-dev, libseccomp-dev).
const LIB_DIRS: [&str; 3] = ["/usr/lib/x86_64-linux-gnu", "/lib/x86_64-linux-gnu", "/usr/lib64"];

fn find_file(dirs: &[&str], name: &str) -> Option<std::path::PathBuf> {
    dirs.iter().map(|d| std::path::Path::new(d).join(name)).find(|p| p.exists())
}

/// Links the binary `bin` static-pie unless `opt_out_env` is set, the build is not a native
/// x86_64 glibc one, or a static archive is missing; `extra_libs` are the libraries (as in
/// `-lX`) that the binary's dependencies link besides glibc's.
fn link_static_pie(bin: &str, opt_out_env: &str, extra_libs: &[&str]) {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=../build-support/static_pie.rs");
    println!("cargo:rerun-if-env-changed={opt_out_env}");
    let target = std::env::var("TARGET").unwrap_or_default();
    let host = std::env::var("HOST").unwrap_or_default();
    if target != "x86_64-unknown-linux-gnu" || target != host || std::env::var_os(opt_out_env).is_some() {
        return;
    }
    let gccdirs: Vec<String> = std::fs::read_dir("/usr/lib/gcc/x86_64-linux-gnu")
        .map(|rd| rd.filter_map(|e| Some(e.ok()?.path().to_str()?.to_string())).collect())
        .unwrap_or_default();
    let gccdirs: Vec<&str> = gccdirs.iter().map(String::as_str).collect();
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR")).join("static-libs");
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).expect("create OUT_DIR/static-libs");
    for lib in GLIBC_LIBS.iter().chain(extra_libs) {
        let Some(a) = find_file(&LIB_DIRS, &format!("lib{lib}.a")) else { return };
        std::os::unix::fs::symlink(a, out.join(format!("lib{lib}.a"))).expect("symlink static lib");
    }
    let (Some(eh), Some(gcc)) = (find_file(&gccdirs, "libgcc_eh.a"), find_file(&gccdirs, "libgcc.a")) else {
        return;
    };
    // libgcc_s (the shared unwinder) becomes a linker script naming its static parts.
    std::fs::write(out.join("libgcc_s.a"), format!("INPUT({} {})\n", eh.display(), gcc.display()))
        .expect("write libgcc_s.a");
    println!("cargo:rustc-link-arg-bin={bin}=-L{}", out.display());
    println!("cargo:rustc-link-arg-bin={bin}=-static-pie");
}
