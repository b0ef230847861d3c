//! The crate's layout as a graph: every top-level module of `src/` and the
//! top-level modules it names (`crate::x`, `crate::{x, y::z}`, and `super::`
//! chains that climb to the crate root). The test fails on any cycle among the
//! top-level modules, naming the modules of each cycle, and when `lib.rs` does not
//! declare a module that exists on disk (or declares one that does not).
//!
//! README's Layout lists the modules bottom up, and the test holds it to that:
//! every module appears there, and each imports only modules on its own line or
//! on lines above it.
//!
//! The scanner reads source text, so it is checked against itself: a planted
//! cycle must be found, and each kind of path it resolves is tested on a snippet.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Source with comments, string literals and char literals blanked out, so a
/// path in a doc comment or a message does not count as an import.
fn code_only(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    while i < b.len() {
        let rest = &src[i..];
        if rest.starts_with("//") {
            let end = rest.find('\n').map_or(b.len(), |n| i + n);
            i = end;
        } else if rest.starts_with("/*") {
            let mut depth = 0usize;
            while i < b.len() {
                if src[i..].starts_with("/*") {
                    depth += 1;
                    i += 2;
                } else if src[i..].starts_with("*/") {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            out.push(' ');
        } else if let Some(len) = raw_string_len(rest) {
            i += len;
            out.push_str("\"\"");
        } else if b[i] == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else if b[i] == b'\'' && char_literal_len(rest).is_some() {
            i += char_literal_len(rest).unwrap_or(1);
            out.push_str("' '");
        } else {
            let ch = rest.chars().next().unwrap_or(' ');
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}

/// Length of a raw string literal (`r"…"`, `r#"…"#`, `br#"…"#`) at the start.
fn raw_string_len(s: &str) -> Option<usize> {
    let after_b = s.strip_prefix('b').unwrap_or(s);
    let after_r = after_b.strip_prefix('r')?;
    let hashes = after_r.len() - after_r.trim_start_matches('#').len();
    let body = after_r[hashes..].strip_prefix('"')?;
    let close = format!("\"{}", "#".repeat(hashes));
    let end = body.find(&close)?;
    Some(s.len() - body.len() + end + close.len())
}

/// Length of a char literal at the start (`'a'`, `'\n'`, `'\u{41}'`), or `None`
/// for a lifetime (`'a`).
fn char_literal_len(s: &str) -> Option<usize> {
    let body = s.strip_prefix('\'')?;
    if let Some(esc) = body.strip_prefix('\\') {
        let close = esc.find('\'')?;
        return Some(2 + close + 1);
    }
    let ch = body.chars().next()?;
    body[ch.len_utf8()..]
        .starts_with('\'')
        .then(|| 1 + ch.len_utf8() + 1)
}

fn ident_at(s: &str) -> Option<&str> {
    let end = s
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    (end > 0).then(|| &s[..end])
}

/// The first path segment of every item in a `{…}` use group, at its top level.
fn group_heads(s: &str) -> Vec<String> {
    let mut heads = Vec::new();
    let mut depth = 0usize;
    let mut expect = true;
    for (i, c) in s.char_indices() {
        match c {
            '{' => {
                depth += 1;
                if depth == 1 {
                    expect = true;
                }
            }
            '}' => {
                if depth <= 1 {
                    break;
                }
                depth -= 1;
            }
            ',' if depth == 1 => expect = true,
            c if depth == 1 && expect && !c.is_whitespace() => {
                expect = false;
                if let Some(id) = ident_at(&s[i..]) {
                    heads.push(id.to_string());
                }
            }
            _ => {}
        }
    }
    heads
}

/// Top-level modules named from `code` of a file at `depth` below `src/`
/// (`src/a.rs` and `src/a/mod.rs` are depth 1, `src/a/b.rs` depth 2, …).
fn named_modules(code: &str, depth: usize) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let add_after = |rest: &str, out: &mut BTreeSet<String>| {
        if rest.starts_with('{') {
            out.extend(group_heads(rest));
        } else if let Some(id) = ident_at(rest) {
            out.insert(id.to_string());
        }
    };
    let bytes = code.as_bytes();
    for (at, _) in code.match_indices("crate::") {
        if at > 0 && (bytes[at - 1].is_ascii_alphanumeric() || b"_$".contains(&bytes[at - 1])) {
            continue; // `$crate::` in a macro or `my_crate::`
        }
        add_after(&code[at + "crate::".len()..], &mut out);
    }
    let mut at = 0;
    while let Some(found) = code[at..].find("super::") {
        let start = at + found;
        let prev_is_ident = start > 0
            && (bytes[start - 1].is_ascii_alphanumeric()
                || bytes[start - 1] == b'_'
                || bytes[start - 1] == b':');
        let mut end = start;
        let mut climbs = 0;
        while code[end..].starts_with("super::") {
            climbs += 1;
            end += "super::".len();
        }
        if !prev_is_ident && climbs >= depth {
            add_after(&code[end..], &mut out);
        }
        at = end;
    }
    out
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Names the crate root re-exports (`pub use document::{ValidatedEvent, …};` in
/// `lib.rs`) → the module they come from, so `crate::ValidatedEvent` is an arrow
/// to `document` like `crate::document::ValidatedEvent` is.
fn root_reexports(lib: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (at, _) in lib.match_indices("pub use ") {
        let stmt = &lib[at + "pub use ".len()..];
        let stmt = &stmt[..stmt.find(';').unwrap_or(stmt.len())];
        let Some(module) = ident_at(stmt) else {
            continue;
        };
        let names = stmt[module.len()..]
            .split(|c: char| !(c.is_alphanumeric() || c == '_'))
            .filter(|w| !w.is_empty() && w != &"self");
        for name in names {
            out.insert(name.to_string(), module.to_string());
        }
    }
    out
}

/// Top-level module → the other top-level modules it names.
fn graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap_or_default();
    let reexports = root_reexports(&code_only(&lib));
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut modules: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut named: Vec<(String, BTreeSet<String>)> = Vec::new();
    for file in files {
        let rel = file.strip_prefix(src).expect("under src");
        let parts: Vec<String> = rel
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        if parts.len() == 1 && (parts[0] == "lib.rs" || parts[0] == "main.rs") {
            continue; // the root and the binary sit above every module
        }
        let top = parts[0].trim_end_matches(".rs").to_string();
        // src/a.rs, src/a/mod.rs: depth 1; src/a/b.rs: 2; src/a/b/mod.rs: 2; …
        let is_mod = parts.last().is_some_and(|p| p == "mod.rs");
        let depth = if parts.len() == 1 {
            1
        } else {
            parts.len() - usize::from(is_mod)
        };
        let text = std::fs::read_to_string(&file).expect("read source");
        modules.entry(top.clone()).or_default();
        named.push((top, named_modules(&code_only(&text), depth)));
    }
    for (top, names) in named {
        for name in names {
            let target = if modules.contains_key(&name) {
                Some(name)
            } else {
                reexports.get(&name).cloned()
            };
            if let Some(target) = target.filter(|t| *t != top) {
                modules.get_mut(&top).expect("known").insert(target);
            }
        }
    }
    modules
}

/// Strongly connected components with more than one module (or a self-loop):
/// Tarjan's algorithm over the sorted graph, so the answer is stable.
fn cycles(g: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct Walk<'a> {
        g: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        found: Vec<Vec<String>>,
    }
    fn visit<'a>(w: &mut Walk<'a>, v: &'a str) {
        let n = w.index.len();
        w.index.insert(v, n);
        w.low.insert(v, n);
        w.stack.push(v);
        w.on_stack.insert(v);
        for u in w.g.get(v).into_iter().flatten() {
            let u = u.as_str();
            if !w.index.contains_key(u) {
                visit(w, u);
                let lu = w.low[u];
                let lv = w.low.get_mut(v).expect("visited");
                *lv = (*lv).min(lu);
            } else if w.on_stack.contains(u) {
                let iu = w.index[u];
                let lv = w.low.get_mut(v).expect("visited");
                *lv = (*lv).min(iu);
            }
        }
        if w.low[v] == w.index[v] {
            let mut scc = Vec::new();
            while let Some(x) = w.stack.pop() {
                w.on_stack.remove(x);
                scc.push(x.to_string());
                if x == v {
                    break;
                }
            }
            let self_loop = w.g.get(v).is_some_and(|s| s.contains(v));
            if scc.len() > 1 || self_loop {
                scc.sort();
                w.found.push(scc);
            }
        }
    }
    let mut w = Walk {
        g,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for v in g.keys() {
        if !w.index.contains_key(v.as_str()) {
            visit(&mut w, v);
        }
    }
    w.found
}

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

#[test]
fn no_cycle_among_the_top_level_modules() {
    let g = graph(&src_dir());
    assert!(g.len() > 20, "the scan found only {} modules", g.len());
    let edges: usize = g.values().map(BTreeSet::len).sum();
    assert!(edges > 50, "the scan found only {edges} arrows");
    let found = cycles(&g);
    assert!(
        found.is_empty(),
        "cycles among the top-level modules: {found:?}"
    );
}

/// README's Layout block: each `src/…` entry and the index of its line (entries
/// sharing a line are one group).
fn readme_layout() -> BTreeMap<String, usize> {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README.md");
    let block = readme
        .split("\n## Layout\n")
        .nth(1)
        .and_then(|rest| rest.split("```text\n").nth(1))
        .and_then(|rest| rest.split("```").next())
        .expect("README has a Layout section with a text block");
    let mut order = BTreeMap::new();
    for (line_no, line) in block.lines().enumerate() {
        if !line.starts_with("src/") {
            continue;
        }
        let entries = line.split("  ").next().unwrap_or(line);
        for entry in entries.split(", ") {
            let name = entry
                .trim()
                .trim_start_matches("src/")
                .trim_end_matches('/')
                .trim_end_matches(".rs");
            order.insert(name.to_string(), line_no);
        }
    }
    order
}

#[test]
fn readme_layout_lists_every_module_bottom_up() {
    let g = graph(&src_dir());
    let order = readme_layout();
    let listed: BTreeSet<&String> = order
        .keys()
        .filter(|m| *m != "lib" && *m != "main")
        .collect();
    let on_disk: BTreeSet<&String> = g.keys().collect();
    assert_eq!(listed, on_disk, "README's Layout against src/");
    let mut upward = Vec::new();
    for (m, targets) in &g {
        for t in targets {
            if order[t] > order[m] {
                upward.push(format!("{m} -> {t}"));
            }
        }
    }
    assert!(
        upward.is_empty(),
        "README's Layout lists these imports' targets below their importers: {upward:?}"
    );
}

#[test]
fn lib_rs_declares_exactly_the_modules_on_disk() {
    let src = src_dir();
    let lib = std::fs::read_to_string(src.join("lib.rs")).expect("lib.rs");
    let declared: BTreeSet<String> = code_only(&lib)
        .lines()
        .filter_map(|l| {
            let l = l.trim();
            let l = l.strip_prefix("pub ").unwrap_or(l);
            let l = l.strip_prefix("pub(crate) ").unwrap_or(l);
            l.strip_prefix("mod ")?
                .strip_suffix(';')
                .map(|m| m.trim().to_string())
        })
        .collect();
    let on_disk: BTreeSet<String> = graph(&src).into_keys().collect();
    assert_eq!(declared, on_disk, "lib.rs's `mod` lines against src/");
}

#[test]
fn the_scanner_resolves_every_kind_of_path() {
    let code = code_only(
        "use crate::{alpha, beta::Thing, gamma::{x, y}};\n\
         use crate::delta::D;\n\
         fn f() { let _ = crate::epsilon::go(); }\n\
         // crate::in_a_comment\n\
         const S: &str = \"crate::in_a_string\";\n\
         const R: &str = r#\"crate::in_a_raw\"#;\n\
         macro_rules! m { () => { $crate::dollar::x } }\n\
         use super::zeta::Z;\n\
         use super::super::eta::E;\n",
    );
    let at_depth_1: Vec<_> = named_modules(&code, 1).into_iter().collect();
    assert_eq!(
        at_depth_1,
        ["alpha", "beta", "delta", "epsilon", "eta", "gamma", "zeta"]
    );
    // Two levels down, `super::` stays inside the file's own module.
    let at_depth_2: Vec<_> = named_modules(&code, 2).into_iter().collect();
    assert_eq!(
        at_depth_2,
        ["alpha", "beta", "delta", "epsilon", "eta", "gamma"]
    );
    assert_eq!(
        code_only("let c = '\"'; let l: &'a str;"),
        "let c = ' '; let l: &'a str;"
    );
}

#[test]
fn a_planted_cycle_is_found() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path();
    std::fs::create_dir(src.join("b")).expect("mkdir");
    std::fs::write(src.join("lib.rs"), "mod a; mod b; mod c;").expect("write");
    std::fs::write(src.join("a.rs"), "use crate::b::B;").expect("write");
    std::fs::write(src.join("b/mod.rs"), "mod inner;").expect("write");
    std::fs::write(src.join("b/inner.rs"), "use crate::{c::C};").expect("write");
    std::fs::write(src.join("c.rs"), "fn f() { super::a::go() }").expect("write");
    let g = graph(src);
    assert_eq!(cycles(&g), vec![vec!["a", "b", "c"]]);
    std::fs::write(src.join("c.rs"), "fn f() {}").expect("write");
    assert!(cycles(&graph(src)).is_empty());
    // Through a name the root re-exports.
    std::fs::write(
        src.join("lib.rs"),
        "mod a; mod b; mod c; pub use a::{Alpha, sub::Go};",
    )
    .expect("write");
    std::fs::write(src.join("c.rs"), "use crate::Go;").expect("write");
    assert_eq!(cycles(&graph(src)), vec![vec!["a", "b", "c"]]);
}
