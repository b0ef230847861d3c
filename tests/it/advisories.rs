//! Known advisories cannot slip in: every crate in `Cargo.lock` is checked against
//! a vendored snapshot of the RustSec advisory database (`tests/advisory-db/`,
//! its commit in `tests/advisory-db/SNAPSHOT`; the machine reaches only the
//! package registries, so no live fetch). The check is the `rustsec` crate's own
//! (the library under `cargo audit`), not a hand-written version matcher.
//!
//! Fails on any vulnerability advisory that applies to a locked version and is
//! not withdrawn. Informational advisories (unmaintained, unsound) are printed,
//! not failed: they are decisions to revisit, listed in README «Dependencies».
//! Refresh the snapshot: see README «Dependencies».

use std::path::Path;

/// Advisories that match a locked version but are accepted, each with the
/// version range it is accepted for and why. A new match, or this one for a
/// version outside its range, fails the test.
const ACCEPTED: &[(&str, &str, &str, &str)] = &[(
    "RUSTSEC-2023-0071",
    "rsa",
    ">=0.10.0",
    "the Marvin timing attack on rsa 0.9's variable-time big integers (num-bigint-dig); \
     rsa 0.10 computes with crypto-bigint's constant-time integers, the fix the advisory \
     waited for, but the vendored snapshot (2026-08-21) still lists no patched version",
)];

#[test]
fn no_locked_crate_has_a_known_vulnerability() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let db = rustsec::Database::open(&root.join("tests/advisory-db"))
        .expect("the vendored advisory database opens");
    // A snapshot that lost its files would pass everything: insist on its size.
    assert!(
        db.iter().count() > 500,
        "the vendored advisory database holds only {} advisories",
        db.iter().count()
    );
    let lockfile = rustsec::Lockfile::load(root.join("Cargo.lock")).expect("Cargo.lock parses");
    assert!(lockfile.packages.len() > 100, "Cargo.lock lists the tree");

    let accepted = |id: &str, name: &str, version: &rustsec::Version| {
        ACCEPTED.iter().any(|(a_id, a_name, range, _)| {
            *a_id == id
                && *a_name == name
                && rustsec::VersionReq::parse(range).is_ok_and(|r| r.matches(version))
        })
    };
    for (id, ..) in ACCEPTED {
        assert!(
            db.iter().any(|a| a.metadata.id.as_str() == *id),
            "accepted advisory {id} is not in the snapshot"
        );
    }
    let found: Vec<String> = db
        .vulnerabilities(&lockfile)
        .iter()
        .filter(|v| {
            !accepted(
                v.advisory.id.as_str(),
                v.package.name.as_str(),
                &v.package.version,
            )
        })
        .map(|v| {
            format!(
                "{} {} {}: {}",
                v.advisory.id, v.package.name, v.package.version, v.advisory.title
            )
        })
        .collect();

    let informational = db.query(&rustsec::database::Query::crate_scope().informational(true));
    for advisory in informational {
        for package in lockfile
            .packages
            .iter()
            .filter(|p| p.name == advisory.metadata.package)
        {
            if advisory.versions.is_vulnerable(&package.version)
                && advisory.metadata.withdrawn.is_none()
            {
                eprintln!(
                    "informational: {} {} {} ({:?}): {}",
                    advisory.metadata.id,
                    package.name,
                    package.version,
                    advisory.metadata.informational,
                    advisory.metadata.title
                );
            }
        }
    }

    assert!(
        found.is_empty(),
        "crates with known vulnerabilities in Cargo.lock:\n{}",
        found.join("\n")
    );
}

/// The check itself finds what it must: the advisory that made issue 20 move
/// to rsa 0.10 (RUSTSEC-2023-0071, the Marvin timing attack) matches rsa 0.9.
#[test]
fn the_check_finds_a_known_advisory_in_a_lockfile_that_has_one() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let db = rustsec::Database::open(&root.join("tests/advisory-db"))
        .expect("the vendored advisory database opens");
    let old: rustsec::Lockfile = "version = 3\n\n[[package]]\nname = \"rsa\"\nversion = \"0.9.8\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\n"
        .parse()
        .expect("a one-package lockfile");
    let ids: Vec<String> = db
        .vulnerabilities(&old)
        .iter()
        .map(|v| v.advisory.id.to_string())
        .collect();
    assert!(ids.contains(&"RUSTSEC-2023-0071".to_string()), "{ids:?}");
}
