//! Checks of config.json values that only warn or refuse: the version and Intel RDT.
use super::PlanError;
use crate::spec::{OCI_VERSION, OCI_VERSION_MIN};

/// Checks `ociVersion`, which the runtime-spec says MUST be in SemVer 2.0.0 format. A valid
/// version outside [OCI_VERSION_MIN, OCI_VERSION] gives a warning, not a refusal: runc 1.1.5
/// takes any string, and crun 1.8.1 refuses everything but 1.0.x, which would refuse today's configs.
pub fn check_oci_version(v: &str) -> Result<Option<String>, PlanError> {
    let got = semver_key(v).ok_or_else(|| {
        PlanError::rule(
            "ociVersion",
            format!("ociVersion {v:?} is not a SemVer 2.0.0 version (like \"{OCI_VERSION}\")"),
        )
    })?;
    let (min, max) = (semver_key(OCI_VERSION_MIN).expect("valid"), semver_key(OCI_VERSION).expect("valid"));
    Ok((got < min || got > max)
        .then(|| format!("ociVersion {v} is outside the versions this runtime implements ({OCI_VERSION_MIN} to {OCI_VERSION}); going on")))
}

/// (major, minor, patch, is a release): the order that matters here (a pre-release sorts before
/// its release); None when `v` is not SemVer 2.0.0.
fn semver_key(v: &str) -> Option<(u64, u64, u64, bool)> {
    let ident_ok = |i: &str, numeric_rule: bool| {
        !i.is_empty()
            && i.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !(numeric_rule && i.len() > 1 && i.starts_with('0') && i.bytes().all(|b| b.is_ascii_digit()))
    };
    let (rest, build) = v.split_once('+').map_or((v, None), |(r, b)| (r, Some(b)));
    if build.is_some_and(|b| !b.split('.').all(|i| ident_ok(i, false))) {
        return None;
    }
    let (core, pre) = rest.split_once('-').map_or((rest, None), |(c, p)| (c, Some(p)));
    if pre.is_some_and(|p| !p.split('.').all(|i| ident_ok(i, true))) {
        return None;
    }
    let nums: Vec<u64> = core
        .split('.')
        .map(|n| {
            (!n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) && (n == "0" || !n.starts_with('0')))
                .then(|| n.parse().ok())
                .flatten()
        })
        .collect::<Option<_>>()?;
    match nums[..] {
        [major, minor, patch] => Some((major, minor, patch, pre.is_none())),
        _ => None,
    }
}

/// `linux.intelRdt`: oxrun does not manage resctrl groups. Schemata it would have to apply are
/// refused with one line (runc 1.1.5 here: "intelRdt.l3CacheSchema is specified in config, but
/// Intel RDT/CAT is not enabled"); a closID alone is ignored with a warning, as runc ignores it
/// where RDT is not enabled.
pub fn check_intel_rdt(rdt: Option<&serde_json::Value>) -> Result<Option<String>, PlanError> {
    let Some(rdt) = rdt.filter(|v| !v.is_null()) else { return Ok(None) };
    for field in ["l3CacheSchema", "memBwSchema", "schemata"] {
        if rdt.get(field).is_some_and(|v| !v.is_null()) {
            return Err(PlanError::rule(
                format!("linux.intelRdt.{field}"),
                format!("linux.intelRdt.{field} is set, but oxrun does not support Intel RDT (resctrl)"),
            ));
        }
    }
    Ok(Some("linux.intelRdt ignored: oxrun does not support Intel RDT (resctrl)".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// runtime-spec config.md: ociVersion "MUST be in SemVer v2.0.0 format".
    #[test]
    fn oci_version_must_be_semver() {
        for ok in ["1.0.0", "1.0.2", "1.3.0", "1.2.1-rc.1", "1.0.0-rc5-dev", "1.1.0+build.7", "1.0.0-alpha.0+x-y"] {
            assert!(check_oci_version(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "1",
            "1.0",
            "v1.0.0",
            "1.0.0.0",
            "01.0.0",
            "1.00.0",
            "1.0.0-",
            "1.0.0-01",
            "1.0.0+",
            "1.0.0-a..b",
            "foo",
            "1.0.x",
            " 1.0.0",
            "-1.0.0",
        ] {
            let err = check_oci_version(bad).unwrap_err().to_string();
            assert!(err.contains("SemVer") && !err.contains('\n'), "{bad}: {err}");
        }
        assert_eq!(check_oci_version("1.3.0").unwrap(), None);
        assert_eq!(check_oci_version("1.0.0").unwrap(), None);
        // Outside the implemented range: a warning, not a refusal (as runc takes it).
        for outside in ["1.4.0", "2.0.0", "0.9.0", "1.0.0-rc5"] {
            assert!(check_oci_version(outside).unwrap().is_some_and(|w| w.contains("outside")), "{outside}");
        }
    }

    #[test]
    fn intel_rdt_schemata_are_refused_and_a_clos_id_alone_warns() {
        assert_eq!(check_intel_rdt(None), Ok(None));
        let v = |j: &str| serde_json::from_str::<serde_json::Value>(j).unwrap();
        for f in ["l3CacheSchema", "memBwSchema", "schemata"] {
            let err = check_intel_rdt(Some(&v(&format!(r#"{{"closID":"c","{f}":"L3:0=ff"}}"#)))).unwrap_err();
            assert_eq!(err.field, format!("linux.intelRdt.{f}"));
            assert!(err.to_string().contains(f), "{err}");
        }
        assert!(check_intel_rdt(Some(&v(r#"{"closID":"c"}"#))).unwrap().is_some());
    }
}
