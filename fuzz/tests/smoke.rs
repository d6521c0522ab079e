//! Deterministic random-input smoke test for the fuzz properties (runs in CI without libFuzzer):
//! seeded byte-level and JSON-tree mutations of the corpus files. `FUZZ_SMOKE_ITERS` sets the
//! iterations per target (default 20,000), `FUZZ_SEED` the seed.

use serde_json::Value;
use std::path::Path;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn iters() -> usize {
    std::env::var("FUZZ_SMOKE_ITERS").ok().and_then(|v| v.parse().ok()).unwrap_or(20000)
}

fn seed() -> u64 {
    std::env::var("FUZZ_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(0x9e37_79b9_7f4a_7c15)
}

fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus").join(target);
    let mut v: Vec<Vec<u8>> =
        std::fs::read_dir(&dir).unwrap().flatten().map(|e| std::fs::read(e.path()).unwrap()).collect();
    v.sort();
    v
}

/// Byte-level mutation: flips, inserts, deletes, duplicates, interesting bytes.
fn mutate_bytes(rng: &mut Rng, mut d: Vec<u8>) -> Vec<u8> {
    for _ in 0..1 + rng.below(8) {
        let len = d.len();
        match rng.below(6) {
            0 if len > 0 => {
                let i = rng.below(len);
                d[i] ^= 1 << rng.below(8);
            }
            1 => {
                let i = rng.below(len + 1);
                let b = [b'\n', b'\0', b' ', b'-', b'1', b'9', 0xff, b'"', b'{', b']'][rng.below(10)];
                d.insert(i, b);
            }
            2 if len > 0 => {
                let i = rng.below(len);
                let n = rng.below(len - i).min(16);
                d.drain(i..i + n);
            }
            3 if len > 0 => {
                let i = rng.below(len);
                let n = rng.below(len - i).min(64);
                let piece = d[i..i + n].to_vec();
                let at = rng.below(d.len() + 1);
                d.splice(at..at, piece);
            }
            4 => d.extend(std::iter::repeat_n(b"x\n1 0 0 "[rng.below(8)], rng.below(300))),
            _ => {
                let len = d.len();
                if len > 0 {
                    d.truncate(rng.below(len));
                }
            }
        }
    }
    d
}

fn hostile_value(rng: &mut Rng) -> Value {
    match rng.below(12) {
        0 => Value::Null,
        1 => serde_json::json!(-1),
        2 => serde_json::json!(u64::MAX),
        3 => serde_json::json!(i64::MIN),
        4 => serde_json::json!("../../../../etc"),
        5 => serde_json::json!("x".repeat(5000)),
        6 => serde_json::json!([]),
        7 => Value::Array(vec![serde_json::json!({"type": "bogus", "path": "/proc/1/ns/net"}); 1 + rng.below(2000)]),
        8 => serde_json::json!({}),
        9 => serde_json::json!(true),
        10 => serde_json::json!(1.5e300),
        _ => serde_json::json!(""),
    }
}

/// Replaces, removes or duplicates a random node of the JSON tree.
fn mutate_json(rng: &mut Rng, v: &mut Value) {
    let descend = rng.below(3) != 0;
    match v {
        Value::Object(m) if descend && !m.is_empty() => {
            let k = m.keys().nth(rng.below(m.len())).unwrap().clone();
            if rng.below(6) == 0 {
                m.remove(&k);
                return;
            }
            mutate_json(rng, m.get_mut(&k).unwrap());
        }
        Value::Array(a) if descend && !a.is_empty() => {
            let i = rng.below(a.len());
            if rng.below(6) == 0 {
                let dup = a[i].clone();
                a.extend(std::iter::repeat_n(dup, rng.below(100)));
                return;
            }
            mutate_json(rng, &mut a[i]);
        }
        _ => *v = hostile_value(rng),
    }
}

fn run(target: &str, f: fn(&[u8]), json: bool) {
    let seeds = corpus(target);
    let mut rng = Rng(seed() ^ target.len() as u64);
    for i in 0..iters() {
        let base = seeds[rng.below(seeds.len())].clone();
        let input = if json && rng.below(4) != 0 {
            let mut v: Value = serde_json::from_slice(&base).unwrap();
            for _ in 0..1 + rng.below(4) {
                mutate_json(&mut rng, &mut v);
            }
            serde_json::to_vec(&v).unwrap()
        } else {
            mutate_bytes(&mut rng, base)
        };
        let r = std::panic::catch_unwind(|| f(&input));
        if r.is_err() {
            let path = std::env::temp_dir().join(format!("fuzz-crash-{target}-{i}"));
            std::fs::write(&path, &input).unwrap();
            panic!("{target}: iteration {i} panicked; input saved to {}", path.display());
        }
    }
}

#[test]
fn config_plan() {
    run("config_plan", oxrun_fuzz::config_plan, true);
}

#[test]
fn monitor_cli() {
    run("monitor_cli", oxrun_fuzz::monitor_cli, false);
}

#[test]
fn ctl_fifo() {
    run("ctl_fifo", oxrun_fuzz::ctl_fifo, false);
}

#[test]
fn k8s_file() {
    run("k8s_file", oxrun_fuzz::k8s_file, false);
}

/// Every saved crash input is a regression test (fuzz/regressions/<target>/*).
/// A fuzz target: its name (the regressions folder) and its property.
type Target = (&'static str, fn(&[u8]));

#[test]
fn regressions() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("regressions");
    let targets: [Target; 4] = [
        ("config_plan", oxrun_fuzz::config_plan),
        ("monitor_cli", oxrun_fuzz::monitor_cli),
        ("ctl_fifo", oxrun_fuzz::ctl_fifo),
        ("k8s_file", oxrun_fuzz::k8s_file),
    ];
    for (t, f) in targets {
        for e in std::fs::read_dir(dir.join(t)).into_iter().flatten().flatten() {
            f(&std::fs::read(e.path()).unwrap());
        }
    }
}
