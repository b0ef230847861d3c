//! The personal-data scanner of issue 16 and the log capture it reads.
//!
//! [`scan`] finds valid fødselsnummer (11 digits, both mod-11 check digits
//! right; our own check, independent of the worker's), Norwegian mobile numbers
//! (8 digits from 4 or 9, or with 47 in front, spaced or not) and given names
//! in a text. `init_test_logging` keeps every log
//! line of the `dokflyt` crate at TRACE in one buffer per test process;
//! `TestApp::stop_and_clean` runs the scanner over it, so every test that runs a
//! worker also checks that nothing it logged is personal data.

#![allow(dead_code)]

use std::collections::BTreeSet;
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::Value;

// ---- the log buffer --------------------------------------------------------------

#[derive(Clone, Default)]
pub struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Buffer {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("lock")).into_owned()
    }
}

/// The process's one capture buffer.
pub fn buffer() -> Buffer {
    static LOGS: OnceLock<Buffer> = OnceLock::new();
    LOGS.get_or_init(Buffer::default).clone()
}

/// The names and street addresses of the fixtures: the example events, the
/// harness's `conduct_warning` and the roster tests' people, whole and every
/// part of four letters or more (except words of school and municipality names,
/// such as "Bakken" in "Bakken skole").
pub fn fixture_names() -> BTreeSet<String> {
    static NAMES: OnceLock<BTreeSet<String>> = OnceLock::new();
    NAMES
        .get_or_init(|| {
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/events");
            let mut events: Vec<Value> = std::fs::read_dir(&dir)
                .expect("examples")
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "json"))
                .filter_map(|p| serde_json::from_str(&std::fs::read_to_string(p).ok()?).ok())
                .collect();
            events.push(super::conduct_warning(uuid::Uuid::nil()));
            let mut names = BTreeSet::new();
            let mut public = BTreeSet::new();
            for ev in &events {
                personal_strings(ev, &mut names);
                for org in [&ev["school"]["name"], &ev["municipality"]["name"]] {
                    for word in org.as_str().unwrap_or("").split([' ', '-']) {
                        public.insert(word.to_string());
                    }
                }
            }
            for n in ["Kari Nordmann", "Ola Nordmann", "Nordmann", "Åse Ødegård"] {
                names.insert(n.to_string());
            }
            names.retain(|n| n.contains(' ') || !public.contains(n));
            names
        })
        .clone()
}

/// The personal names and street addresses of an event: whole, and every part
/// of four letters or more.
pub fn personal_strings(v: &Value, out: &mut BTreeSet<String>) {
    let mut add = |s: &str| {
        let s = s.trim();
        if s.is_empty() {
            return;
        }
        out.insert(s.to_string());
        for part in s.split([' ', '-']) {
            if part.chars().count() >= 4 && part.chars().next().is_some_and(char::is_uppercase) {
                out.insert(part.to_string());
            }
        }
    };
    if let Some(n) = v["pupil"]["name"].as_str() {
        add(n);
    }
    if let Some(n) = v["sender"]["name"].as_str() {
        add(n);
    }
    for r in v["recipients"].as_array().into_iter().flatten() {
        if let Some(n) = r["name"].as_str() {
            add(n);
        }
        if let Some(s) = r["address"]["street"].as_str() {
            add(s);
        }
    }
    for rec in ["pupil", "guardian", "staff"] {
        if let Some(n) = v[rec]["name"].as_str() {
            add(n);
        }
    }
}

/// Panics when the captured log holds personal data. Every test of the one
/// test process shares the buffer, so each call scans what was logged since the
/// previous call (whole lines) and moves the mark on: every line is scanned once.
pub fn assert_log_clean(what: &str) {
    static SCANNED: std::sync::Mutex<(usize, bool)> = std::sync::Mutex::new((0, false));
    let (text, capture_seen) = {
        let mut mark = SCANNED.lock().expect("lock");
        let buffer = buffer();
        let all = buffer.0.lock().expect("lock");
        let tail = &all[mark.0..];
        let len = tail.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        let new = String::from_utf8_lossy(&tail[..len]).into_owned();
        mark.0 += len;
        // The capture works (every app creates its test database), so a clean scan means something.
        mark.1 |= new.contains("created database");
        (new, mark.1)
    };
    assert!(
        capture_seen,
        "the log capture is not installed: another subscriber came first"
    );
    let found = scan(what, &text, &fixture_names());
    assert!(
        found.is_empty(),
        "personal data in the worker's log ({} places):\n{}",
        found.len(),
        found.join("\n")
    );
}

// ---- the scanner -----------------------------------------------------------------

/// Both check digits of an 11-digit fødselsnummer / d-nummer (our own check,
/// independent of the worker's).
pub fn is_fnr(d: &[u8]) -> bool {
    if d.len() != 11 {
        return false;
    }
    let n: Vec<u32> = d.iter().map(|b| u32::from(b - b'0')).collect();
    let k = |w: &[u32]| {
        let s: u32 = w.iter().zip(&n).map(|(w, d)| w * d).sum();
        match 11 - s % 11 {
            11 => Some(0),
            10 => None,
            x => Some(x),
        }
    };
    k(&[3, 7, 6, 1, 8, 9, 4, 5, 2]) == Some(n[9])
        && k(&[5, 4, 3, 2, 7, 6, 5, 4, 3, 2]) == Some(n[10])
}

/// Maximal runs of ASCII digits with the characters around them.
fn digit_runs(text: &str) -> Vec<(usize, &str)> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_digit() {
            let start = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            out.push((start, &text[start..i]));
        } else {
            i += 1;
        }
    }
    out
}

/// Part of a UUID or a hex string (a segment of `4f1b1a3e-...`) or the
/// fraction of a decimal number (`2.47439859s`), not a number of its own.
fn in_hex_word(text: &str, start: usize, end: usize) -> bool {
    let b = text.as_bytes();
    let hexish = |c: u8| c.is_ascii_hexdigit() && !c.is_ascii_digit() || c == b'-';
    let fraction = start >= 2 && b[start - 1] == b'.' && b[start - 2].is_ascii_digit();
    fraction || (start > 0 && hexish(b[start - 1])) || (end < b.len() && hexish(b[end]))
}

/// A Norwegian mobile number: 8 digits starting with 4 or 9, or 47 and those.
fn is_mobile(run: &str) -> bool {
    let r = run.as_bytes();
    (r.len() == 8 && matches!(r[0], b'4' | b'9'))
        || (r.len() == 10 && r.starts_with(b"47") && matches!(r[2], b'4' | b'9'))
}

/// What the scanner finds in `text` (`what` says where it was).
pub fn scan(what: &str, text: &str, names: &BTreeSet<String>) -> Vec<String> {
    let mut found = Vec::new();
    let context = |at: usize| {
        let lo = text[..at]
            .char_indices()
            .rev()
            .nth(60)
            .map_or(0, |(i, _)| i);
        let hi = text[at..]
            .char_indices()
            .nth(60)
            .map_or(text.len(), |(i, _)| at + i);
        text[lo..hi].replace('\n', " ")
    };
    for (at, run) in digit_runs(text) {
        if in_hex_word(text, at, at + run.len()) {
            continue;
        }
        if is_fnr(run.as_bytes()) {
            found.push(format!("{what}: a valid fødselsnummer: …{}…", context(at)));
        }
        if is_mobile(run) {
            found.push(format!("{what}: a mobile number: …{}…", context(at)));
        }
    }
    // Spaced phone numbers: "+47 400 00 000", "912 34 567".
    let compact: String = {
        let c: Vec<char> = text.chars().collect();
        c.iter()
            .enumerate()
            .filter(|(i, ch)| {
                !(**ch == ' '
                    && *i > 0
                    && c[i - 1].is_ascii_digit()
                    && c.get(i + 1).is_some_and(|n| n.is_ascii_digit()))
            })
            .map(|(_, ch)| *ch)
            .collect()
    };
    if compact != text {
        for (at, run) in digit_runs(&compact) {
            if !in_hex_word(&compact, at, at + run.len())
                && is_mobile(run)
                && !digit_runs(text).iter().any(|(_, r)| *r == run)
            {
                found.push(format!("{what}: a spaced mobile number: {run}"));
            }
        }
    }
    for name in names {
        let mut from = 0;
        while let Some(i) = text[from..].find(name.as_str()) {
            let at = from + i;
            let end = at + name.len();
            let before = text[..at].chars().next_back();
            let after = text[end..].chars().next();
            let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric());
            if !word(before) && !word(after) {
                found.push(format!("{what}: the name {name:?}: …{}…", context(at)));
            }
            from = end;
        }
    }
    found
}
