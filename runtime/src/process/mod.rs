//! The processes of the create sequence and how they talk.
pub mod attrs;
pub mod console;
pub mod create;
pub mod exec;
pub mod init;
