//! Links the `oxrun` binary statically (static-pie glibc and libseccomp), leaving every other
//! target (the library, tests) alone.
//!
//! Why: `create`, `run` and `exec` execute oxrun twice (the second time from the read-only view
//! of its binary, CVE-2019-5736, see runtime/src/exe_guard.rs), and each start of a dynamically
//! linked oxrun opens, maps and relocates libseccomp, libgcc_s and libc (about 40 system calls and
//! the symbol binding). Linked statically there is no dynamic loader at all (issue 20).
//!
//! How: build-support/static_pie.rs, shared with monitor/build.rs; besides glibc's it answers
//! `-lseccomp` (the libseccomp crate) with the static archive. oxrun resolves no user or host
//! names (no NSS), so a static glibc changes nothing it does. Without the static archives
//! (libc6-dev, libgcc-12-dev, libseccomp-dev) or with OXRUN_DYNAMIC set, the binary is linked
//! dynamically.

include!("../build-support/static_pie.rs");

fn main() {
    link_static_pie("oxrun", "OXRUN_DYNAMIC", &["seccomp"]);
}
