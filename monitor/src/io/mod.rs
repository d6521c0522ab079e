//! Container stdio: pipes, the console socket (pty) and the attach socket.

pub mod attach;
pub mod console;
pub mod stdio;

/// conmon's STDIO_BUF_SIZE: the largest attach payload and k8s-file record.
pub const STDIO_BUF_SIZE: usize = 8192;
