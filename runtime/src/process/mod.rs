//! The processes of the create sequence and how they talk.
pub mod attrs;
pub mod console;
pub mod exec;
pub mod idmap;
pub mod init;
pub mod spawn;
