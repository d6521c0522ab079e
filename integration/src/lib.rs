//! Shared helpers for the end-to-end tests: bundles, the runtime runner,
//! leftover checks and the console socket.

pub mod bundle;
pub mod console;
pub mod containerd;
pub mod cri;
pub mod dbus_wire;
pub mod docker;
pub mod leftovers;
pub mod podman;
pub mod runtime;
pub mod systemd_standin;
pub mod util;

pub use bundle::Bundle;
pub use runtime::{is_runc, runtime_bin, runtime_name, Runtime};
pub use util::{note, skip, unique, Out};
