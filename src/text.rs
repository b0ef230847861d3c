//! Small text pieces more than one stage needs: Norwegian month names and a
//! word-by-word rewrite of a title (masking names in public titles, list titles).
//!
//! Leaf module: depends on nothing in the crate. Pure; nothing here fails.

/// The months in bokmål, January first.
pub const MONTHS_NB: [&str; 12] = [
    "januar",
    "februar",
    "mars",
    "april",
    "mai",
    "juni",
    "juli",
    "august",
    "september",
    "oktober",
    "november",
    "desember",
];

/// `text` with each alphanumeric word replaced by what `f` returns for it (`None`
/// keeps the word); everything between words is kept as it is.
pub fn map_words(text: &str, f: impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        if word.is_empty() {
            return;
        }
        match f(word) {
            Some(replacement) => out.push_str(&replacement),
            None => out.push_str(word),
        }
        word.clear();
    };
    for c in text.chars() {
        if c.is_alphanumeric() {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

/// The parts of a name worth masking, lowercased: every alphanumeric part of two
/// letters or more ("Anne-Lise Berg" → anne, lise, berg).
pub fn name_parts(name: &str) -> impl Iterator<Item = String> + '_ {
    name.split(|c: char| !c.is_alphanumeric())
        .filter(|p| p.chars().count() >= 2)
        .map(str::to_lowercase)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_rewritten_and_the_rest_is_kept() {
        let out = map_words("Varsel – Kari-Anne, 12", |w| {
            (w == "Kari").then(|| "K".to_string())
        });
        assert_eq!(out, "Varsel – K-Anne, 12");
        assert_eq!(
            name_parts("Anne-Lise  Berg").collect::<Vec<_>>(),
            ["anne", "lise", "berg"]
        );
    }
}
