//! oxrun: a low-level OCI runtime with runc's command line.
//!
//! The flow of `create`: config.json is parsed once ([`spec`]) and turned into a [`plan`] (pure
//! data, unit-tested), then [`commands::create`] forks init, which applies the plan through
//! [`rootfs`] and a few syscalls, reports over a typed channel ([`ipc`]), and waits for
//! `start`. All `unsafe` lives in the `oxsys` crate.
pub mod cgroups;
pub mod cli;
pub mod commands;
pub mod errno_text;
pub mod error;
pub mod exe_guard;
pub mod fault;
pub mod hooks;
pub mod ipc;
pub mod logging;
pub mod lsm;
pub mod netdev;
pub mod plan;
pub mod process;
pub mod procfs;
pub mod rootfs;
pub mod seccomp;
pub mod signal;
pub mod spec;
pub mod state;
