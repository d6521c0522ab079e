//! Container stdio: pipes, the console socket (pty) and the attach socket.

pub mod attach;
pub mod console;
pub mod stdio;
