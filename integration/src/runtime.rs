//! Runner for the runtime under test (`OXRUN_BIN`), one private `--root` each.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use crate::bundle::Bundle;
use crate::leftovers;
use crate::util::{exec, wait_for, Out, CMD_TIMEOUT};

pub use crate::under_test::{is_runc, runtime_bin, runtime_name};

/// One runtime "instance": the binary plus a private state root. Containers
/// created through it are force-deleted on drop.
pub struct Runtime {
    bin: PathBuf,
    root: tempfile::TempDir,
    scratch: tempfile::TempDir,
    ids: Mutex<Vec<String>>,
}

impl Default for Runtime {
    fn default() -> Self {
        Self::new()
    }
}

impl Runtime {
    /// A runner with a fresh `--root`. Panics with a clear message when the binary is missing.
    pub fn new() -> Runtime {
        let bin = runtime_bin();
        assert!(bin.is_file(), "runtime under test not found at {} (build it or set OXRUN_BIN)", bin.display());
        Runtime {
            bin,
            root: tempfile::Builder::new().prefix("oxrun-root-").tempdir().expect("root tempdir"),
            scratch: tempfile::Builder::new().prefix("oxrun-scratch-").tempdir().expect("scratch tempdir"),
            ids: Mutex::new(Vec::new()),
        }
    }

    /// The binary.
    pub fn bin(&self) -> &Path {
        &self.bin
    }

    /// The private `--root` directory.
    pub fn root(&self) -> &Path {
        self.root.path()
    }

    /// A directory for captured outputs and test files.
    pub fn scratch(&self) -> &Path {
        self.scratch.path()
    }

    /// `<root>/<id>`.
    pub fn state_dir(&self, id: &str) -> PathBuf {
        self.root().join(id)
    }

    /// Remembers `id` for force-deletion on drop.
    pub fn track(&self, id: &str) {
        // Never hand a path-like (invalid) id to `delete --force` during cleanup.
        if id.is_empty() || id.contains('/') || id == "." || id == ".." {
            return;
        }
        let mut ids = self.ids.lock().unwrap_or_else(|e| e.into_inner());
        if !ids.iter().any(|i| i == id) {
            ids.push(id.to_string());
        }
    }

    /// A command for the binary with no global options.
    pub fn raw_cmd(&self) -> Command {
        Command::new(&self.bin)
    }

    /// A command `<bin> --root <root> args...`.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.bin);
        c.arg("--root").arg(self.root()).args(args);
        c
    }

    /// Runs a prepared command with the default deadline.
    pub fn exec(&self, cmd: Command) -> Out {
        exec(cmd, self.scratch(), CMD_TIMEOUT)
    }

    /// Runs `<bin> --root <root> args...`.
    pub fn run(&self, args: &[&str]) -> Out {
        self.exec(self.cmd(args))
    }

    /// `create -b <bundle> [extra...] <id>`.
    pub fn create(&self, id: &str, bundle: &Bundle) -> Out {
        self.create_with(id, bundle, &[])
    }

    /// `create -b <bundle> extra... <id>`.
    pub fn create_with(&self, id: &str, bundle: &Bundle, extra: &[&str]) -> Out {
        self.track(id);
        let b = bundle.path_str();
        let mut args = vec!["create", "--bundle", b.as_str()];
        args.extend_from_slice(extra);
        args.push(id);
        self.run(&args)
    }

    /// `start <id>`.
    pub fn start(&self, id: &str) -> Out {
        self.run(&["start", id])
    }

    /// `state <id>` parsed; panics when the command fails or prints no JSON.
    #[track_caller]
    pub fn state(&self, id: &str) -> Value {
        let out = self.run(&["state", id]);
        out.assert_ok();
        serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("state is not JSON ({e}): {out}"))
    }

    /// `status` field of the state.
    #[track_caller]
    pub fn status(&self, id: &str) -> String {
        self.state(id)["status"].as_str().unwrap_or_default().to_string()
    }

    /// `pid` field of the state.
    #[track_caller]
    pub fn pid(&self, id: &str) -> i32 {
        self.state(id)["pid"].as_i64().unwrap_or(0) as i32
    }

    /// `kill <id> <signal>`.
    pub fn kill(&self, id: &str, sig: &str) -> Out {
        self.run(&["kill", id, sig])
    }

    /// `delete <id>`.
    pub fn delete(&self, id: &str) -> Out {
        self.run(&["delete", id])
    }

    /// `delete --force <id>`.
    pub fn delete_force(&self, id: &str) -> Out {
        self.run(&["delete", "--force", id])
    }

    /// `run -b <bundle> extra... <id>` in the foreground (waits for the container).
    pub fn run_container(&self, id: &str, bundle: &Bundle, extra: &[&str]) -> Out {
        self.track(id);
        let b = bundle.path_str();
        let mut args = vec!["run", "--bundle", b.as_str()];
        args.extend_from_slice(extra);
        args.push(id);
        self.run(&args)
    }

    /// create + start, asserting both succeed.
    #[track_caller]
    pub fn create_start(&self, id: &str, bundle: &Bundle) -> Out {
        let c = self.create(id, bundle);
        c.assert_ok();
        self.start(id).assert_ok();
        c
    }

    /// Polls `state` until `status` equals `want` (10 s deadline).
    #[track_caller]
    pub fn wait_status(&self, id: &str, want: &str) {
        let mut last = String::new();
        wait_for(Duration::from_secs(10), &format!("container {id} to be {want}"), || {
            let out = self.run(&["state", id]);
            let v: Value = serde_json::from_str(&out.stdout).ok()?;
            last = v["status"].as_str().unwrap_or_default().to_string();
            (last == want).then_some(())
        });
    }

    /// Creates, starts, waits until the container stops and returns what it
    /// wrote to stdout (the container inherits create's stdout file).
    #[track_caller]
    pub fn output_of(&self, id: &str, bundle: &Bundle) -> String {
        let c = self.create_start(id, bundle);
        self.wait_status(id, "stopped");
        c.stdout_now()
    }

    /// Asserts the container left nothing behind (state dir, cgroups, mounts, processes).
    #[track_caller]
    pub fn assert_clean(&self, id: &str, bundle: &Bundle) {
        leftovers::assert_clean(&self.state_dir(id), bundle.path(), &bundle.rootfs(), &bundle.cgroups_path());
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        let ids = std::mem::take(&mut *self.ids.lock().unwrap_or_else(|e| e.into_inner()));
        for id in ids {
            let _ = exec(self.cmd(&["delete", "--force", &id]), self.scratch(), Duration::from_secs(20));
        }
    }
}
