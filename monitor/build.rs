//! Links the `oxmon` binary statically (static-pie glibc), leaving every other target alone.
//!
//! Why: a monitor runs per container, and most of its RSS is shared-library text mapped by the
//! kernel's fault-around in 64 KiB windows: the dynamic libc.so alone accounts for 500-650 KiB
//! of a sleeping oxmon's ~1.1 MiB. Linked statically, only the libc objects oxmon uses are in
//! the binary, packed together, and there is no dynamic loader: ~880 KiB in all (bench
//! monitor-rss, issue 20).
//!
//! How: build-support/static_pie.rs, shared with runtime/build.rs. Without the static archives
//! (libc6-dev, libgcc-12-dev) or with OXMON_DYNAMIC set, the binary is linked dynamically as
//! before.

include!("../build-support/static_pie.rs");

fn main() {
    link_static_pie("oxmon", "OXMON_DYNAMIC", &[]);
}
