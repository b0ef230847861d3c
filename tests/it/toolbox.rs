//! The product binary carries nothing of the toolbox: no demo, no benchmark, no
//! stand-in and no private key. They live in `dev/` (the `dokflyt-dev` crate),
//! which must stay out of the product's normal dependencies.
//!
//! Checked three ways: `cargo tree -e normal -p dokflyt` lists no `dokflyt-dev`;
//! the built `dokflyt` binary (the one cargo builds for these tests, of the same
//! code as the release binary) contains neither the stand-in key pair's bytes nor
//! strings that only the stand-ins, the demo and the benchmarks contain; and its
//! `--help` offers neither `--demo` nor `bench`.

use std::path::Path;
use std::process::Command;

/// Strings that only the toolbox's code holds (checked below: each is in `dev/src`
/// and nowhere in `src/`), one or more per stand-in, the demo and each benchmark.
const MARKERS: &[&str] = &[
    // standins::svarut
    "standin-maskinporten-token",
    "the first part must be named forsendelse",
    // standins::sms_gateway
    "Destination not allowed by the demo gateway",
    // standins::idp
    "Demo-innlogging",
    // standins::archive (the demo's refusals)
    "dokflyt-demo-archive:",
    // demo
    "dokflyt-demo-event:",
    "dokflyt demo: published",
    // bench::pipeline, bench::archive, bench::render, bench::sms
    "bare broker",
    "baseline (HTTP round trips to the stand-in",
    "render bench:",
    "Benkskolen",
];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn rust_files(dir: &Path, out: &mut Vec<String>) {
    for e in std::fs::read_dir(dir)
        .expect("a source directory")
        .flatten()
    {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(std::fs::read_to_string(&p).expect("source"));
        }
    }
}

/// The binary as text (invalid UTF-8 replaced; every marker is ASCII), so the
/// searches run in the standard library's optimised substring search.
fn binary_text() -> String {
    let bin = std::fs::read(env!("CARGO_BIN_EXE_dokflyt")).expect("the dokflyt binary");
    String::from_utf8_lossy(&bin).into_owned()
}

#[test]
fn the_markers_belong_to_the_toolbox_alone() {
    let (mut product, mut toolbox) = (Vec::new(), Vec::new());
    rust_files(&root().join("src"), &mut product);
    rust_files(&root().join("dev/src"), &mut toolbox);
    for m in MARKERS {
        assert!(
            toolbox.iter().any(|s| s.contains(m)),
            "{m:?} is no longer in dev/src: pick another marker"
        );
        assert!(
            !product.iter().any(|s| s.contains(m)),
            "{m:?} is in the product's src/"
        );
    }
    // The key pair is not in the product's sources either, except read as a file
    // by the CMS unit tests (cfg(test), never in a binary).
    for s in &product {
        if s.contains("dev/keys/") {
            assert!(
                s.contains("#[cfg(test)]"),
                "src/ includes dev/keys outside tests"
            );
        }
    }
}

#[test]
fn the_product_binary_carries_no_key_stand_in_demo_or_benchmark() {
    let bin = binary_text();
    assert!(bin.len() > 1_000_000, "a real binary");
    // It does carry the product's own strings (the check can see strings at all).
    assert!(bin.contains("starting dokflyt"));
    for m in MARKERS {
        assert!(!bin.contains(m), "the product binary contains {m:?}");
    }
    for file in ["svarut-demo-key.pem", "svarut-demo-cert.pem"] {
        let pem = std::fs::read_to_string(root().join("dev/keys").join(file)).expect("pem");
        assert!(!bin.contains(pem.as_str()), "{file} is in the binary");
        // Every base64 line on its own, in case it were stored otherwise.
        for line in pem.lines().filter(|l| l.len() == 64) {
            assert!(!bin.contains(line), "a line of {file} is in the binary");
        }
    }
}

#[test]
fn the_product_offers_no_demo_and_no_bench() {
    for args in [&["--help"][..], &["serve", "--help"][..]] {
        let o = Command::new(env!("CARGO_BIN_EXE_dokflyt"))
            .args(args)
            .output()
            .expect("dokflyt runs");
        assert!(o.status.success(), "{args:?}: {o:?}");
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(!out.contains("--demo"), "{args:?} offers --demo: {out}");
        assert!(
            !out.lines().any(|l| l.trim_start().starts_with("bench")),
            "{args:?} offers bench: {out}"
        );
    }
    for args in [&["serve", "--demo"][..], &["bench", "pipeline"][..]] {
        let o = Command::new(env!("CARGO_BIN_EXE_dokflyt"))
            .args(args)
            .output()
            .expect("dokflyt runs");
        assert_eq!(o.status.code(), Some(2), "{args:?} is a usage error: {o:?}");
    }
}

#[test]
fn the_toolbox_is_no_normal_dependency_of_the_product() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let o = Command::new(cargo)
        .args([
            "tree",
            "--offline",
            "-e",
            "normal",
            "-p",
            "dokflyt",
            "--prefix",
            "none",
        ])
        .current_dir(root())
        .output()
        .expect("cargo tree runs");
    assert!(o.status.success(), "{o:?}");
    let tree = String::from_utf8_lossy(&o.stdout);
    assert!(tree.contains("tokio v"), "a real tree: {tree}");
    assert!(
        !tree.lines().any(|l| l.starts_with("dokflyt-dev ")),
        "dokflyt-dev is a normal dependency of the product:\n{tree}"
    );
    // …while the tests do use it (the check is not vacuous).
    let o = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args([
            "tree",
            "--offline",
            "-e",
            "dev",
            "-p",
            "dokflyt",
            "--depth",
            "1",
            "--prefix",
            "none",
        ])
        .current_dir(root())
        .output()
        .expect("cargo tree runs");
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("dokflyt-dev v"),
        "{o:?}"
    );
}
