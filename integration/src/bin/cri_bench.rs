//! `cri_bench [-n N] [-o OUT.md]`: the kubelet's path at scale (issue 18).
//! One private containerd with CRI ([`integration::cri::CriContainerd`]),
//! then N rounds; each round runs one pod per handler (oxrun and runc,
//! alternating which goes first): RunPodSandbox, CreateContainer,
//! StartContainer, ExecSync (`true`), StopContainer, RemoveContainer,
//! StopPodSandbox, RemovePodSandbox, each timed. Prints (and writes to OUT)
//! a Markdown table of the time per pod for each step; exits 1 when a step
//! failed or anything is left behind. `OXRUN_BIN` names oxrun.
use integration::cri::{api, container_config, CriContainerd};
use integration::rpc;
use std::process::ExitCode;
use std::time::{Duration, Instant};

const STEPS: [&str; 8] = [
    "RunPodSandbox",
    "CreateContainer",
    "StartContainer",
    "ExecSync",
    "StopContainer",
    "RemoveContainer",
    "StopPodSandbox",
    "RemovePodSandbox",
];
const HANDLERS: [&str; 2] = ["oxrun", "runc"];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut n = 100usize;
    let mut out = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match (a.as_str(), it.next()) {
            ("-n", Some(v)) if v.parse::<usize>().is_ok_and(|v| v > 0) => n = v.parse().unwrap_or(100),
            ("-o", Some(v)) => out = Some(v.clone()),
            _ => {
                eprintln!("usage: cri_bench [-n N>0] [-o OUT.md]");
                return ExitCode::from(2);
            }
        }
    }
    let c = match CriContainerd::start(&integration::runtime_bin()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("cri_bench: starting containerd with CRI: {e}");
            return ExitCode::FAILURE;
        }
    };
    // times[handler][step] in seconds, one entry per pod.
    let mut times = vec![vec![Vec::with_capacity(n); STEPS.len()]; HANDLERS.len()];
    let started = Instant::now();
    for round in 0..n {
        let order: Vec<usize> = if round % 2 == 0 { vec![0, 1] } else { vec![1, 0] };
        for h in order {
            match one_pod(&c, HANDLERS[h], round) {
                Ok(t) => t.iter().enumerate().for_each(|(i, d)| times[h][i].push(d.as_secs_f64())),
                Err(e) => {
                    eprintln!("cri_bench: {} pod {round}: {e}", HANDLERS[h]);
                    let _ = c.shutdown();
                    return ExitCode::FAILURE;
                }
            }
        }
    }
    let wall = started.elapsed();
    let left = c.shutdown();
    let table = render(n, &times, wall, &left);
    print!("{table}");
    if let Some(o) = out {
        if let Err(e) = std::fs::write(&o, &table) {
            eprintln!("cri_bench: write {o}: {e}");
            return ExitCode::FAILURE;
        }
    }
    if left.is_empty() {
        ExitCode::SUCCESS
    } else {
        eprintln!("cri_bench: left behind:\n  {}", left.join("\n  "));
        ExitCode::FAILURE
    }
}

/// One pod with one container through every step; the time of each.
fn one_pod(c: &CriContainerd, handler: &str, round: usize) -> Result<Vec<Duration>, String> {
    let mut t = Vec::with_capacity(STEPS.len());
    let mut timed = |f: &mut dyn FnMut() -> Result<(), String>| {
        let s = Instant::now();
        f()?;
        t.push(s.elapsed());
        Ok::<(), String>(())
    };
    let cfg = c.pod_config(&format!("b{round}-{handler}"));
    let mut pod = String::new();
    timed(&mut || c.run_pod(&cfg, handler).map(|id| pod = id))?;
    let mut id = String::new();
    let cmd = ["sh", "-c", "trap 'exit 0' TERM; sleep 100000 & wait"];
    timed(&mut || c.create_container_with(&pod, &cfg, container_config("c", &cmd)).map(|x| id = x))?;
    timed(&mut || c.start_container(&id))?;
    timed(&mut || match c.exec_sync(&id, &["true"])? {
        (0, _, _) => Ok(()),
        (code, o, e) => Err(format!("ExecSync true: exit {code}: {o}{e}")),
    })?;
    let stop = api::StopContainerRequest { container_id: id.clone(), timeout: 10 };
    timed(&mut || rpc!(c.cri(), stop_container, stop.clone()).map(|_| ()))?;
    let rm = api::RemoveContainerRequest { container_id: id.clone() };
    timed(&mut || rpc!(c.cri(), remove_container, rm.clone()).map(|_| ()))?;
    let stop = api::StopPodSandboxRequest { pod_sandbox_id: pod.clone() };
    timed(&mut || rpc!(c.cri(), stop_pod_sandbox, stop.clone()).map(|_| ()))?;
    let rm = api::RemovePodSandboxRequest { pod_sandbox_id: pod.clone() };
    timed(&mut || rpc!(c.cri(), remove_pod_sandbox, rm.clone()).map(|_| ()))?;
    Ok(t)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

fn ms(s: f64) -> String {
    format!("{:.1} ms", s * 1000.0)
}

fn render(n: usize, times: &[Vec<Vec<f64>>], wall: Duration, left: &[String]) -> String {
    let mut s = String::new();
    s.push_str("| step | handler | n | median | p25–p75 | mean | max | oxrun/runc (median) |\n");
    s.push_str("|---|---|---|---|---|---|---|---|\n");
    let mut totals = vec![vec![0.0; n]; HANDLERS.len()];
    for (i, step) in STEPS.iter().enumerate() {
        let med: Vec<f64> = (0..HANDLERS.len())
            .map(|h| {
                let mut v = times[h][i].clone();
                v.sort_by(f64::total_cmp);
                percentile(&v, 0.5)
            })
            .collect();
        for (h, name) in HANDLERS.iter().enumerate() {
            for (k, x) in times[h][i].iter().enumerate() {
                totals[h][k] += x;
            }
            s.push_str(&row(if h == 0 { step } else { "" }, name, &times[h][i], (h == 0).then(|| med[0] / med[1])));
        }
    }
    for (h, name) in HANDLERS.iter().enumerate() {
        let ratio = (h == 0).then(|| {
            let m = |v: &Vec<f64>| {
                let mut v = v.clone();
                v.sort_by(f64::total_cmp);
                percentile(&v, 0.5)
            };
            m(&totals[0]) / m(&totals[1])
        });
        s.push_str(&row(if h == 0 { "**whole pod**" } else { "" }, name, &totals[h], ratio));
    }
    s.push_str(&format!(
        "\n{n} pods per handler, interleaved; wall time {:.1} s; left behind: {}\n",
        wall.as_secs_f64(),
        if left.is_empty() { "nothing".to_string() } else { left.join("; ") }
    ));
    s
}

fn row(step: &str, handler: &str, v: &[f64], ratio: Option<f64>) -> String {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    let mean = v.iter().sum::<f64>() / v.len() as f64;
    format!(
        "| {step} | {handler} | {} | {} | {} – {} | {} | {} | {} |\n",
        v.len(),
        ms(percentile(&v, 0.5)),
        ms(percentile(&v, 0.25)),
        ms(percentile(&v, 0.75)),
        ms(mean),
        ms(v[v.len() - 1]),
        ratio.map(|r| format!("{r:.2}")).unwrap_or_default()
    )
}
