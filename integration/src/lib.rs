//! Shared helpers for the end-to-end tests: bundles, the runtime runner,
//! leftover checks and the console socket.

/// One `#[test]` per runtime for each named function `fn NAME(runtime: &str)`:
/// `NAME::oxrun` and `NAME::runc`, so each engine suite (containerd, Docker,
/// CRI) checks oxrun against runc on the same steps.
#[macro_export]
macro_rules! for_oxrun_and_runc {
    ($($f:ident),* $(,)?) => {
        $(
            mod $f {
                #[test]
                fn oxrun() {
                    super::$f("oxrun")
                }
                #[test]
                fn runc() {
                    super::$f("runc")
                }
            }
        )*
    };
}

pub mod bundle;
pub mod console;
pub mod containerd;
pub mod cri;
pub mod dbus_wire;
pub mod docker;
pub mod leftovers;
pub mod oci_layout;
pub mod podman;
pub mod runtime;
pub mod systemd_standin;
pub mod test_user;
pub mod under_test;
pub mod util;

pub use bundle::Bundle;
pub use runtime::{is_runc, runtime_bin, runtime_name, Runtime};
pub use util::{note, skip, unique, Out};
