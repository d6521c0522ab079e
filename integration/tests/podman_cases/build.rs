//! Point 3: `podman build` with RUN steps. Buildah calls the runtime
//! directly (create, start, state, kill, delete), without the monitor.

use integration::podman::{podman_for, IMAGE};

pub fn build_with_run_steps(pair: &str) {
    let pm = podman_for(pair);
    let ctx = pm.scratch().join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(ctx.join("hello.txt"), "copied\n").unwrap();
    std::fs::write(
        ctx.join("Containerfile"),
        format!(
            "FROM {IMAGE}\nRUN echo built > /built && mkdir -p /opt/app\nCOPY hello.txt /opt/app/\nRUN cat /opt/app/hello.txt >> /built && id -u >> /built\nCMD [\"cat\", \"/built\"]\n"
        ),
    )
    .unwrap();
    let c = ctx.display().to_string();
    let out = pm.ok(&["--log-level", "debug", "build", "-t", "localhost/oxbuilt", &c]);
    let want = format!("Using OCI runtime \\\"{}\\\"", pm.pair.runtime.display());
    assert!(out.stderr.contains(&want), "[{}] the build did not use the pair's runtime ({want})", pm.pair.name);
    let out = pm.ok(&["run", "--rm", "--network", "none", "localhost/oxbuilt"]);
    assert_eq!(out.stdout, "built\ncopied\n0\n", "[{}] {out}", pm.pair.name);
    // A failing RUN step fails the build with the step's status.
    std::fs::write(ctx.join("Containerfile"), format!("FROM {IMAGE}\nRUN exit 3\n")).unwrap();
    let out = pm.run(&["build", "-t", "localhost/oxfail", &c]);
    assert!(!out.ok() && out.stderr.contains("exit status 3"), "[{}] {out}", pm.pair.name);
}
