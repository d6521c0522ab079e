//! `list`: every container under the root, as a table, ids, or runc's JSON.
use crate::error::Error;
use crate::state::{self, StateDir};
use std::path::Path;

/// Prints the containers; an absent root directory means none.
pub fn list(root: &Path, quiet: bool, json: bool) -> Result<(), Error> {
    let mut ids: Vec<String> = match std::fs::read_dir(root) {
        Ok(entries) => entries
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .filter_map(|e| e.file_name().into_string().ok())
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(Error::from(oxsys::SysError::at("read", root, e))),
    };
    ids.sort();
    let mut rows = Vec::new();
    for id in ids {
        // A container being created or deleted right now is skipped rather than waited for.
        let Ok(dir) = StateDir::open(root, &id) else { continue };
        let Ok(st) = dir.load() else { continue };
        let status = state::status(&dir, &st);
        let owner = user_name(st.owner);
        let view = serde_json::to_value(st.view(status, owner)).expect("state serializes");
        rows.push(view);
    }
    let text = if json {
        format!("{}\n", serde_json::Value::Array(rows))
    } else if quiet {
        rows.iter().map(|r| format!("{}\n", r["id"].as_str().unwrap_or_default())).collect()
    } else {
        table(&rows)
    };
    crate::error::print_stdout(&text)
}

fn table(rows: &[serde_json::Value]) -> String {
    let mut lines = vec![["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"].map(String::from).to_vec()];
    for r in rows {
        let s = |k: &str| r[k].as_str().map(str::to_string).unwrap_or_else(|| r[k].to_string());
        lines.push(vec![s("id"), s("pid"), s("status"), s("bundle"), s("created"), s("owner")]);
    }
    let widths: Vec<usize> = (0..6).map(|c| lines.iter().map(|l| l[c].len()).max().unwrap_or(0)).collect();
    lines
        .iter()
        .map(|l| {
            let cells: Vec<String> = l
                .iter()
                .enumerate()
                .map(|(i, c)| if i == 5 { c.clone() } else { format!("{c:<w$}", w = widths[i] + 3) })
                .collect();
            format!("{}\n", cells.concat())
        })
        .collect()
}

/// The user name of a uid from /etc/passwd, or "#uid".
fn user_name(uid: u32) -> String {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    passwd
        .lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() > 2 && f[2].parse() == Ok(uid)).then(|| f[0].to_string())
        })
        .unwrap_or_else(|| format!("#{uid}"))
}
