//! SMS segment counting exactly as a GSM network does (3GPP TS 23.038 / GSM 03.38).
//!
//! Input: the text the principal wrote. Output: a [`SegmentCount`] — encoding
//! (`gsm7` when every character is in the GSM 7-bit default alphabet or its
//! extension table, else `ucs2`), characters and segments. Pure; cannot fail.
//!
//! - GSM 7-bit: the default alphabet (Norwegian æøå ÆØÅ and Swedish äö ÄÖ are in
//!   it) costs one septet per character; the extension table (`^{}\[~]|€` and form
//!   feed) costs two (escape + character). One SMS holds 160 septets; a
//!   concatenated message holds 153 per part, and an escape pair is never split
//!   across two parts.
//! - UCS-2 (any other character: Northern Sámi á č đ ŋ š ŧ ž, emoji): one SMS holds
//!   70 UTF-16 code units, a concatenated message 67 per part, and a surrogate pair
//!   (an emoji) is never split.

use serde::Serialize;

/// The GSM 03.38 default alphabet (without ESC).
const GSM_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
/// The GSM 03.38 extension table: two septets each.
const GSM_EXTENSION: &str = "\u{0c}^{}\\[~]|€";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    Gsm7,
    Ucs2,
}

impl Encoding {
    pub fn as_str(self) -> &'static str {
        match self {
            Encoding::Gsm7 => "gsm7",
            Encoding::Ucs2 => "ucs2",
        }
    }
}

/// The characters of `text` that force UCS-2 (not in the GSM 03.38 tables), each
/// once in order of appearance, with a GSM replacement where a usual one exists.
pub fn ucs2_characters(text: &str) -> Vec<(char, Option<&'static str>)> {
    let mut seen: Vec<(char, Option<&'static str>)> = Vec::new();
    for c in text.chars() {
        if septets(c).is_none() && !seen.iter().any(|(s, _)| *s == c) {
            seen.push((c, gsm_replacement(c)));
        }
    }
    seen
}

/// A GSM 03.38 stand-in for a character that would force UCS-2.
pub fn gsm_replacement(c: char) -> Option<&'static str> {
    Some(match c {
        '\u{2013}' | '\u{2014}' | '\u{2212}' | '\u{2010}' | '\u{2011}' => "-",
        '\u{2018}' | '\u{2019}' | '\u{201a}' | '\u{b4}' | '`' => "'",
        '\u{201c}' | '\u{201d}' | '\u{201e}' | '\u{ab}' | '\u{bb}' => "\"",
        '\u{2026}' => "...",
        '\u{a0}' | '\u{2009}' | '\u{202f}' => " ",
        '\u{2022}' => "-",
        _ => return None,
    })
}

/// What `dokflyt sms count` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct SegmentCount {
    pub encoding: Encoding,
    /// Unicode characters (scalar values) in the text.
    pub characters: usize,
    pub segments: usize,
}

fn septets(c: char) -> Option<usize> {
    if GSM_BASIC.contains(c) {
        Some(1)
    } else if GSM_EXTENSION.contains(c) {
        Some(2)
    } else {
        None
    }
}

/// Units per character in the chosen encoding.
fn units(text: &str) -> (Encoding, Vec<usize>) {
    let gsm: Option<Vec<usize>> = text.chars().map(septets).collect();
    match gsm {
        Some(u) => (Encoding::Gsm7, u),
        None => (
            Encoding::Ucs2,
            text.chars().map(|c| c.len_utf16()).collect(),
        ),
    }
}

/// Parts needed to carry `units` (each character's cost, never split) with
/// `single` units in one SMS and `part` per part of a concatenated one.
fn parts(units: &[usize], single: usize, part: usize) -> usize {
    let total: usize = units.iter().sum();
    if total == 0 {
        return 0;
    }
    if total <= single {
        return 1;
    }
    let mut count = 1;
    let mut used = 0;
    for &u in units {
        if used + u > part {
            count += 1;
            used = 0;
        }
        used += u;
    }
    count
}

/// What one SMS of `encoding` holds (septets or UTF-16 units), and what each part
/// of a concatenated message holds.
pub fn capacity(encoding: Encoding) -> (usize, usize) {
    match encoding {
        Encoding::Gsm7 => (160, 153),
        Encoding::Ucs2 => (70, 67),
    }
}

pub fn count(text: &str) -> SegmentCount {
    let (encoding, u) = units(text);
    let (single, part) = capacity(encoding);
    let segments = parts(&u, single, part);
    SegmentCount {
        encoding,
        characters: text.chars().count(),
        segments,
    }
}

#[cfg(test)]
mod ucs2_tests {
    use super::*;

    #[test]
    fn the_characters_that_force_ucs2_and_their_stand_ins() {
        assert_eq!(
            ucs2_characters("Hei – alle «her»"),
            vec![('–', Some("-")), ('«', Some("\"")), ('»', Some("\""))]
        );
        assert!(ucs2_characters("Hei alle, æøå ÆØÅ").is_empty());
        assert_eq!(ucs2_characters("😀"), vec![('😀', None)]);
        // Replacing gives a GSM-7 text.
        let fixed: String = "Møte – i dag"
            .chars()
            .map(|c| {
                gsm_replacement(c)
                    .map(str::to_string)
                    .unwrap_or(c.to_string())
            })
            .collect();
        assert_eq!(count(&fixed).encoding, Encoding::Gsm7);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(t: &str) -> (Encoding, usize) {
        let c = count(t);
        (c.encoding, c.segments)
    }

    #[test]
    fn table_of_cases() {
        use Encoding::*;
        let a = |n: usize| "a".repeat(n);
        let cases: Vec<(String, Encoding, usize, usize)> = vec![
            // (text, encoding, characters, segments)
            ("Skolen er stengt i dag.".into(), Gsm7, 23, 1),
            ("Bjørnøya: æøå ÆØÅ äö ÄÖ".into(), Gsm7, 23, 1),
            (a(160), Gsm7, 160, 1),
            (a(161), Gsm7, 161, 2),
            (a(306), Gsm7, 306, 2),
            (a(307), Gsm7, 307, 3),
            ("æ".repeat(160), Gsm7, 160, 1),
            ("ø".repeat(161), Gsm7, 161, 2),
            // Extension characters cost two septets: 80 × € = 160 septets.
            ("€".repeat(80), Gsm7, 80, 1),
            (format!("{}€", a(159)), Gsm7, 160, 2),
            ("{}".repeat(40), Gsm7, 80, 1),
            ("^{}\\[~]|".into(), Gsm7, 8, 1),
            // 152 + an escape pair does not fit in a 153-septet part: it moves on.
            (format!("{}[{}", a(152), a(10)), Gsm7, 163, 2),
            (format!("{}{}", a(152), "[".repeat(77)), Gsm7, 229, 3),
            // Northern Sámi letters are not in GSM 03.38: the whole text is UCS-2.
            ("Skuvla lea giddejuvvon: á č đ ŋ š ŧ ž".into(), Ucs2, 37, 1),
            (format!("{}č", a(69)), Ucs2, 70, 1),
            (format!("{}č", a(70)), Ucs2, 71, 2),
            (format!("{}š", a(133)), Ucs2, 134, 2),
            (format!("{}š", a(134)), Ucs2, 135, 3),
            // Emoji: two UTF-16 units each, never split.
            ("🚨".repeat(35), Ucs2, 35, 1),
            ("🚨".repeat(36), Ucs2, 36, 2),
            (format!("{}🚨{}", a(66), a(66)), Ucs2, 133, 3),
            ("".into(), Gsm7, 0, 0),
        ];
        for (text, enc, chars, segs) in cases {
            let c = count(&text);
            assert_eq!(
                (c.encoding, c.characters, c.segments),
                (enc, chars, segs),
                "text of {} chars starting {:?}",
                text.chars().count(),
                text.chars().take(12).collect::<String>()
            );
        }
        assert_eq!(seg("é É ü Ü ñ Ñ à Ç"), (Gsm7, 1));
        assert_eq!(
            seg("ç"),
            (Ucs2, 1),
            "only the capital Ç is in the GSM alphabet"
        );
        assert_eq!(seg("á"), (Ucs2, 1));
    }
}
