//! One module per group of runc verbs; each is thin and calls into the library.
pub mod create;
pub mod exec;
pub mod features;
pub mod lifecycle;
pub mod list;
pub mod operate;
pub mod run;
pub mod spec;
pub mod tty;
