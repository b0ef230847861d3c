//! `dokflyt render EVENT.json -o out.pdf`: the template author's preview loop,
//! run as the real binary, without the broker or the database.
//!
//! Stage: CLI (validate → route → render). Input: example events and the shipped
//! (or deliberately broken) templates. Output: a PDF file and a one-line summary.
//! Failure: the exit codes 1 (template), 2 (malformed event), 3 (rejected), and
//! error text that names the template, the line and the missing variable.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sha2::{Digest, Sha256};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn dokflyt(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dokflyt"))
        .current_dir(root())
        .env_remove("DOKFLYT_CONFIG")
        .args(args)
        .output()
        .expect("the binary runs")
}

fn render(event: &Path, out: &Path, templates: &Path) -> Output {
    dokflyt(&[
        "render".as_ref(),
        event.as_os_str(),
        "-o".as_ref(),
        out.as_os_str(),
        "--rules".as_ref(),
        root().join("routing-rules").as_os_str(),
        "--templates".as_ref(),
        templates.as_os_str(),
    ])
}

fn copy_dir(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).expect("dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            std::fs::create_dir_all(&target).expect("mkdir");
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("copy");
        }
    }
}

fn example(name: &str) -> PathBuf {
    root().join("examples/events").join(format!("{name}.json"))
}

#[test]
fn renders_an_example_and_prints_pages_and_sha256() {
    let dir = tempfile::tempdir().expect("tmp");
    let out = dir.path().join("warning.pdf");
    let o = render(&example("conduct_warning"), &out, &root().join("templates"));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{o:?}");
    let bytes = std::fs::read(&out).expect("the PDF is written");
    assert!(bytes.starts_with(b"%PDF-1.7"));
    let sha = hex::encode(Sha256::digest(&bytes));
    assert!(stdout.contains("1 page(s)"), "{stdout}");
    assert!(stdout.contains(&format!("sha256 {sha}")), "{stdout}");
    assert!(stdout.contains("conduct_warning"), "{stdout}");

    // The same event again: byte-identical.
    let again = dir.path().join("again.pdf");
    let o = render(
        &example("conduct_warning"),
        &again,
        &root().join("templates"),
    );
    assert!(o.status.success(), "{o:?}");
    assert_eq!(std::fs::read(&again).expect("written"), bytes);

    // Nothing identifying beyond the letter itself on stdout/stderr.
    let event: serde_json::Value =
        serde_json::from_slice(&std::fs::read(example("conduct_warning")).expect("read"))
            .expect("json");
    let mut ids = Vec::new();
    collect_national_ids(&event, &mut ids);
    let all = format!("{stdout}{}", String::from_utf8_lossy(&o.stderr));
    for id in ids {
        assert!(!all.contains(&id), "a national id was printed");
    }
}

fn collect_national_ids(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, v) in m {
                if k.contains("national_id") {
                    if let Some(s) = v.as_str() {
                        out.push(s.to_string());
                    }
                }
                collect_national_ids(v, out);
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|v| collect_national_ids(v, out)),
        _ => {}
    }
}

#[test]
fn markup_shows_what_the_template_produced() {
    let dir = tempfile::tempdir().expect("tmp");
    let out = dir.path().join("msg.pdf");
    let o = dokflyt(&[
        "render".as_ref(),
        example("message_report").as_os_str(),
        "-o".as_ref(),
        out.as_os_str(),
        "--rules".as_ref(),
        root().join("routing-rules").as_os_str(),
        "--templates".as_ref(),
        root().join("templates").as_os_str(),
        "--markup".as_ref(),
    ]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{o:?}");
    assert!(out.exists());
    let markup = stdout
        .split("--- markup ---\n")
        .nth(1)
        .expect("markup printed");
    assert!(
        markup.contains("# Meldingsrapport 2026/2027 – Aksel Moen"),
        "{markup}"
    );
    assert!(markup.contains("|| Sendt | Fra | Til | Emne"), "{markup}");
    assert!(
        markup.contains(
            "|= 3. februar 2027 kl. 09.12 | Petter Sandvik | Hanne Moen | Hendelse i friminuttet"
        ),
        "{markup}"
    );
}

#[test]
fn a_template_error_names_template_line_and_variable() {
    let dir = tempfile::tempdir().expect("tmp");
    let templates = dir.path().join("templates");
    std::fs::create_dir_all(&templates).expect("mkdir");
    copy_dir(&root().join("templates"), &templates);
    std::fs::write(
        templates.join("letters/grade_warning.tera"),
        "{% include \"partials/letterhead.tera\" %}\n# {{ title | line }}\n. {{ f.grade_now | line }}\n",
    )
    .expect("write");
    let out = dir.path().join("out.pdf");
    let o = render(&example("grade_warning"), &out, &templates);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert!(
        stderr.contains(
            "letters/grade_warning.tera, line 3: variable `f.grade_now` is not in the context"
        ),
        "{stderr}"
    );
    assert!(!out.exists());
}

#[test]
fn a_malformed_event_exits_2() {
    let dir = tempfile::tempdir().expect("tmp");
    let event = dir.path().join("bad.json");
    std::fs::write(&event, b"{\"event_id\": 1}").expect("write");
    let o = render(&event, &dir.path().join("o.pdf"), &root().join("templates"));
    assert_eq!(o.status.code(), Some(2), "{o:?}");
}

/// The render benchmark (`dokflyt-dev bench render`, outside the product) runs
/// on the shipped templates and prints its figures.
#[test]
fn bench_render_prints_ms_per_page_and_typst_or_why_not() {
    let mut out = Vec::new();
    dokflyt_dev::bench::render::run(
        &root().join("templates"),
        &root().join("routing-rules"),
        2,
        &mut out,
    )
    .expect("the benchmark runs");
    let stdout = String::from_utf8_lossy(&out);
    assert!(
        stdout.contains("one-page letter (conduct_warning):") && stdout.contains("ms/page"),
        "{stdout}"
    );
    assert!(stdout.contains("20-page report"), "{stdout}");
    assert!(
        stdout.contains("typst: skipped:") || stdout.contains("dokflyt's time"),
        "{stdout}"
    );
}

#[test]
fn renders_every_example_in_bokmal_and_nynorsk() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(root().join("examples/events"))
        .expect("examples")
        .map(|e| e.expect("entry").path())
        .collect();
    paths.sort();
    for path in &paths {
        for (language, greeting, other) in [
            ("nb", "Med vennlig hilsen", "Med venleg helsing"),
            ("nn", "Med venleg helsing", "Med vennlig hilsen"),
        ] {
            let out = dir.path().join(format!("letter-{language}.pdf"));
            let o = dokflyt(&[
                "render".as_ref(),
                path.as_os_str(),
                "-o".as_ref(),
                out.as_os_str(),
                "--language".as_ref(),
                language.as_ref(),
            ]);
            assert!(o.status.success(), "{} {language}: {o:?}", path.display());
            let text = Command::new("pdftotext")
                .arg(&out)
                .arg("-")
                .output()
                .expect("pdftotext");
            let text = String::from_utf8_lossy(&text.stdout);
            assert!(!text.contains(other), "{} {language}", path.display());
            // Every letter with a signature greets in its own standard.
            if text.contains("Med ven") {
                assert!(text.contains(greeting), "{} {language}", path.display());
            }
        }
    }
    let o = dokflyt(&[
        "render".as_ref(),
        example("conduct_warning").as_os_str(),
        "-o".as_ref(),
        dir.path().join("x.pdf").as_os_str(),
        "--language".as_ref(),
        "sv".as_ref(),
    ]);
    assert!(!o.status.success(), "only nb and nn");
}
