//! `dokflyt-dev bench render --n 200`: rendering speed per page, against typst.
//!
//! Stage: a CLI benchmark, outside the pipeline (no broker, no database).
//! Input: the shipped templates and routing rules, the example `conduct_warning`
//! event (a realistic one-page letter) and the example `remarks_report` grown to
//! exactly 20 pages. Output: ms per document and per page on one thread, and,
//! when the `typst` Python module is installed (`pip install typst`), the same
//! letter compiled by typst and the ratio. Failure: an error when the templates
//! or rules do not load or a render fails; a missing typst is reported as
//! skipped, with the reason, not as a failure.
//!
//! Fairness: the typst letter is generated from the very markup our template
//! produced (same text, same DejaVu Sans fonts, A4, same margins), so both
//! engines lay out the same content. typst runs in-process in Python (startup
//! not timed), two ways: a warm `typst.Compiler` fed a new reference number per
//! letter (typst's incremental compilation reuses everything else: the best case
//! for typst), and a cold `typst.compile` per letter. `DOKFLYT_BENCH_TYP=x.typ`
//! keeps the generated typst letter for inspection.

use std::path::Path;
use std::time::Instant;

use anyhow::{anyhow, Context};
use serde_json::json;

use dokflyt::pipeline::route;
use dokflyt::pipeline::validate;
use dokflyt::render::markup::{self, Block};
use dokflyt::Renderer;
use dokflyt::RoutedDocument;
use dokflyt::RoutingTable;

const LETTER_EVENT: &str = include_str!("../../../examples/events/conduct_warning.json");
const REPORT_EVENT: &str = include_str!("../../../examples/events/remarks_report.json");
const REPORT_PAGES: u32 = 20;

fn routed(body: &[u8], table: &RoutingTable) -> anyhow::Result<RoutedDocument> {
    let ev = validate(body, usize::MAX).map_err(|e| anyhow!("the bench event is invalid: {e}"))?;
    route(ev, table).map_err(|r| anyhow!("the bench event is rejected: {}", r.reason))
}

/// The remarks report with `rows` rows.
fn report_body(rows: usize) -> anyhow::Result<Vec<u8>> {
    let mut ev: serde_json::Value = serde_json::from_str(REPORT_EVENT)?;
    let rows: Vec<serde_json::Value> = (0..rows)
        .map(|i| {
            json!({
                "date": format!("2026-{:02}-{:02}", 8 + i % 5, 1 + i % 28),
                "category": if i % 2 == 0 { "Oppførsel" } else { "Orden" },
                "description": if i % 5 == 0 {
                    format!("Rad {i}: forstyrret undervisningen gjentatte ganger etter tilsnakk og ble bedt om å forlate klasserommet; samtale med foresatte er avtalt")
                } else {
                    format!("Rad {i}: manglende utstyr til kroppsøving")
                },
            })
        })
        .collect();
    ev["fields"]["rows"] = json!(rows);
    Ok(serde_json::to_vec(&ev)?)
}

/// Milliseconds per call of `f`, over `n` calls after `n / 10 + 1` warm-up calls.
fn time_ms(n: usize, mut f: impl FnMut() -> anyhow::Result<()>) -> anyhow::Result<f64> {
    for _ in 0..n / 10 + 1 {
        f()?;
    }
    let start = Instant::now();
    for _ in 0..n {
        f()?;
    }
    Ok(start.elapsed().as_secs_f64() * 1000.0 / n.max(1) as f64)
}

/// Runs the benchmark and writes its report to `out` (the command line passes
/// stdout; a test, a buffer).
pub fn run(
    templates_dir: &Path,
    rules_dir: &Path,
    n: usize,
    out: &mut dyn std::io::Write,
) -> anyhow::Result<()> {
    let n = n.max(1);
    let table = RoutingTable::load_dir(rules_dir)
        .map_err(|e| anyhow!("{e}"))
        .with_context(|| format!("the routing table in {}", rules_dir.display()))?;
    let renderer = Renderer::load(templates_dir)
        .with_context(|| format!("the templates in {}", templates_dir.display()))?;

    let letter = routed(LETTER_EVENT.as_bytes(), &table)?;
    let first = renderer.render_pdf(&letter)?;
    let letter_ms = time_ms(n, || {
        renderer.render_pdf(&letter)?;
        Ok(())
    })?;

    // The smallest report that fills exactly REPORT_PAGES pages.
    let (mut lo, mut hi) = (1usize, 4000usize);
    while lo < hi {
        let mid = (lo + hi) / 2;
        let pages = renderer
            .render_pdf(&routed(&report_body(mid)?, &table)?)?
            .pages;
        if pages >= REPORT_PAGES {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    let report = routed(&report_body(lo)?, &table)?;
    let report_pdf = renderer.render_pdf(&report)?;
    let report_ms = time_ms(n, || {
        renderer.render_pdf(&report)?;
        Ok(())
    })?;

    writeln!(
        out,
        "render bench: {n} renders each, one thread, tagged PDF/A-2a + PDF/UA-1 output (krilla)"
    )?;
    writeln!(out,
        "  one-page letter (conduct_warning): {letter_ms:.3} ms/letter = {:.3} ms/page ({} page, {} bytes)",
        letter_ms / f64::from(first.pages.max(1)),
        first.pages,
        first.bytes.len()
    )?;
    writeln!(out,
        "  {}-page report (remarks_report, {lo} rows): {report_ms:.2} ms/report = {:.3} ms/page ({} bytes)",
        report_pdf.pages,
        report_ms / f64::from(report_pdf.pages.max(1)),
        report_pdf.bytes.len()
    )?;

    // Where the letter's time goes: the template stage (context, tera, scrub)
    // against the rest (markup parse, layout, PDF assembly).
    let template_ms = time_ms(n, || {
        renderer.render_markup(&letter)?;
        Ok(())
    })?;
    writeln!(
        out,
        "  the letter's stages: template {template_ms:.3} ms, markup + layout + PDF {:.3} ms",
        (letter_ms - template_ms).max(0.0)
    )?;

    let markup_text = renderer.render_markup(&letter)?;
    let blocks = markup::parse(&markup_text).map_err(|e| anyhow!("{e}"))?;
    let reference = letter.event().event().event_id.to_string();
    let typ = to_typst(&blocks).replace(&reference, "@@REF@@");
    // To check that the typst letter is equivalent: DOKFLYT_BENCH_TYP=letter.typ
    if let Some(path) = std::env::var_os("DOKFLYT_BENCH_TYP") {
        std::fs::write(&path, typ.replace("@@REF@@", &reference))
            .with_context(|| format!("writing {}", Path::new(&path).display()))?;
    }
    match typst_ms(&typ, &templates_dir.join("fonts"), &reference, n) {
        Ok(Typst::Ran {
            version,
            warm_ms,
            cold_ms,
            cold_n,
        }) => {
            writeln!(out,
                "  typst {version} (Python module), the same letter: warm compiler {warm_ms:.3} ms/letter ({:.1}× dokflyt's time), cold compile {cold_ms:.3} ms/letter over {cold_n} ({:.1}×)",
                warm_ms / letter_ms,
                cold_ms / letter_ms
            )?;
        }
        Ok(Typst::Skipped(why)) => writeln!(out, "  typst: skipped: {why}")?,
        Err(e) => writeln!(out, "  typst: skipped: {e:#}")?,
    }
    Ok(())
}

enum Typst {
    Ran {
        version: String,
        warm_ms: f64,
        cold_ms: f64,
        cold_n: usize,
    },
    Skipped(String),
}

/// Runs [`TYPST_SCRIPT`] in `python3`.
fn typst_ms(typ: &str, fonts: &Path, reference: &str, n: usize) -> anyhow::Result<Typst> {
    let dir = tempfile_dir()?;
    let template = dir.join("letter.typ.in");
    std::fs::write(&template, typ).context("writing the .typ letter")?;
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(TYPST_SCRIPT)
        .arg(&template)
        .arg(fonts)
        .arg(reference)
        .arg(n.to_string())
        .output();
    let _ = std::fs::remove_dir_all(&dir);
    let out = match out {
        Ok(o) => o,
        Err(e) => return Ok(Typst::Skipped(format!("python3 cannot be run ({e})"))),
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Ok(Typst::Skipped(format!(
            "python3 failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let v: serde_json::Value = serde_json::from_str(stdout.trim())
        .with_context(|| format!("unexpected output from the typst script: {stdout}"))?;
    if let Some(why) = v.get("skipped").and_then(|s| s.as_str()) {
        return Ok(Typst::Skipped(why.to_string()));
    }
    let num = |k: &str| {
        v.get(k)
            .and_then(serde_json::Value::as_f64)
            .ok_or_else(|| anyhow!("the typst script did not report {k}: {stdout}"))
    };
    Ok(Typst::Ran {
        version: v
            .get("version")
            .and_then(|s| s.as_str())
            .unwrap_or("?")
            .to_string(),
        warm_ms: num("warm_ms")?,
        cold_ms: num("cold_ms")?,
        cold_n: num("cold_n")? as usize,
    })
}

fn tempfile_dir() -> anyhow::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("dokflyt-bench-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

/// argv: template (with @@REF@@), fonts dir, reference, n. Prints one JSON line.
const TYPST_SCRIPT: &str = r#"
import json, os, sys, time
try:
    import typst
except Exception as e:
    print(json.dumps({"skipped": "the typst Python module is not installed (%s); pip install typst" % e}))
    sys.exit(0)
template, fonts, ref, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
src = open(template, encoding="utf-8").read()
path = os.path.join(os.path.dirname(template), "letter.typ")
def write(i):
    with open(path, "w", encoding="utf-8") as f:
        f.write(src.replace("@@REF@@", "%s-%d" % (ref, i)))
write(0)
c = typst.Compiler(path, font_paths=[fonts])
pdf = c.compile()
for i in range(n // 10 + 1):
    write(i + 1); c.compile()
t = time.perf_counter()
for i in range(n):
    write(1000 + i); c.compile()
warm = (time.perf_counter() - t) * 1000 / n
cold_n = max(1, min(n, 50))
t = time.perf_counter()
for i in range(cold_n):
    write(5000 + i); typst.compile(path, font_paths=[fonts])
cold = (time.perf_counter() - t) * 1000 / cold_n
version = getattr(typst, "__version__", "?")
print(json.dumps({"version": version, "warm_ms": warm, "cold_ms": cold, "cold_n": cold_n, "bytes": len(pdf)}))
"#;

/// A typst string literal: `#"…"` shows its text as is (no markup).
fn lit(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 4);
    out.push_str("#\"");
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The letter markup as a typst document with the same page geometry, fonts,
/// sizes and blocks.
pub fn to_typst(blocks: &[Block]) -> String {
    let mut marking = String::new();
    let mut body = String::new();
    for b in blocks {
        match b {
            Block::Marking(t) => marking = t.clone(),
            Block::Running(_) | Block::Lang(_) => {}
            Block::School(t) => body.push_str(&format!(
                "#text(size: 16pt, weight: \"bold\")[{}]\\\n",
                lit(t)
            )),
            Block::Municipality(t) => body.push_str(&format!(
                "#text(fill: luma(90))[{}]\n#line(length: 100%, stroke: 0.5pt + luma(90))\n",
                lit(t)
            )),
            Block::Right(t) => body.push_str(&format!("#align(right)[{}]\n", lit(t))),
            Block::Small(t) => body.push_str(&format!(
                "#text(size: 8.5pt, fill: luma(90))[{}]\n\n",
                lit(t)
            )),
            Block::Space => body.push_str("#v(13.5pt)\n"),
            Block::Title(t) => body.push_str(&format!(
                "#text(size: 13.5pt, weight: \"bold\")[{}]\n\n",
                lit(t)
            )),
            Block::Heading(t) => body.push_str(&format!(
                "#text(size: 11pt, weight: \"bold\")[{}]\n\n",
                lit(t)
            )),
            Block::Bullet(t) => body.push_str(&format!("- {}\n", lit(t))),
            Block::Fact { label, value } => body.push_str(&format!(
                "#grid(columns: (95pt, 1fr), text(weight: \"bold\")[{}], [{}])\n",
                lit(label),
                lit(value)
            )),
            Block::Lines(lines) => {
                let joined: Vec<String> = lines
                    .iter()
                    .map(|l| if l.is_empty() { String::new() } else { lit(l) })
                    .collect();
                body.push_str(&joined.join(" \\\n"));
                body.push_str("\n\n");
            }
            Block::Paragraph(t) => body.push_str(&format!("{}\n\n", lit(t))),
            Block::Table(t) => {
                let cols: Vec<String> = t
                    .columns
                    .iter()
                    .map(|c| format!("{}fr", c.weight))
                    .collect();
                body.push_str(&format!(
                    "#table(columns: ({}), stroke: none,\n",
                    cols.join(", ")
                ));
                if let Some(h) = &t.header {
                    let cells: Vec<String> = h.iter().map(|c| format!("[*{}*]", lit(c))).collect();
                    body.push_str(&format!("table.header({}),\n", cells.join(", ")));
                }
                for row in &t.rows {
                    let cells: Vec<String> = row.iter().map(|c| format!("[{}]", lit(c))).collect();
                    body.push_str(&cells.join(", "));
                    body.push_str(",\n");
                }
                body.push_str(")\n");
            }
        }
    }
    format!(
        "#set page(paper: \"a4\", margin: (left: 25mm, right: 20mm, top: 20mm, bottom: 22mm),\n  header: align(right, text(size: 8.5pt, weight: \"bold\")[{}]),\n  footer: context align(right, text(size: 8.5pt, fill: luma(90))[Side #counter(page).display() av #counter(page).final().first()]))\n#set text(font: \"DejaVu Sans\", size: 10pt, lang: \"nb\")\n#set par(leading: 0.35em, spacing: 0.9em)\n{body}",
        lit(&marking)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typst_literals_escape_quotes_and_backslashes() {
        assert_eq!(lit(r#"a "b" \ #c"#), r#"#"a \"b\" \\ #c""#);
        let typ = to_typst(&[
            Block::Title("Tittel «x»".into()),
            Block::Bullet("punkt".into()),
        ]);
        assert!(typ.contains("#text(size: 13.5pt, weight: \"bold\")[#\"Tittel «x»\"]"));
        assert!(typ.contains("- #\"punkt\""));
    }
}
