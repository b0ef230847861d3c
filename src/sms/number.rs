//! Phone numbers: normalisation to E.164, the key recipients are deduplicated by.
//!
//! Input: a mobile number as the roster holds it (`+47 912 34 567`, `0047…`,
//! `91234567`). Output: a [`MobileNumber`] in E.164 (`+4791234567`), or `None` when
//! it is not a usable mobile number (the person then counts as unreachable).
//! Norwegian numbers without a country code are accepted when they are 8 digits
//! starting with 4 or 9 (mobile ranges); `+47` numbers must have 8 digits.

use std::fmt;

#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MobileNumber(String);

/// A phone number is personal data: `Debug` never prints it.
impl fmt::Debug for MobileNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MobileNumber({})", crate::redact::HIDDEN)
    }
}

impl MobileNumber {
    pub fn parse(raw: &str) -> Option<MobileNumber> {
        let trimmed = raw.trim();
        let plus = trimmed.starts_with('+');
        let mut digits = String::with_capacity(trimmed.len());
        for (i, c) in trimmed.chars().enumerate() {
            match c {
                '0'..='9' => digits.push(c),
                ' ' | '-' | '.' | '(' | ')' | '\u{a0}' => {}
                '+' if i == 0 => {}
                _ => return None,
            }
        }
        let international = if plus {
            digits
        } else if let Some(rest) = digits.strip_prefix("00") {
            rest.to_string()
        } else if digits.len() == 8 {
            format!("47{digits}")
        } else {
            return None;
        };
        if let Some(national) = international.strip_prefix("47") {
            let mobile = national.len() == 8 && matches!(national.as_bytes()[0], b'4' | b'9');
            return mobile.then(|| MobileNumber(format!("+{international}")));
        }
        let ok = (8..=15).contains(&international.len()) && !international.starts_with('0');
        ok.then(|| MobileNumber(format!("+{international}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for MobileNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises() {
        let n = |s: &str| MobileNumber::parse(s).map(|m| m.0);
        assert_eq!(n("91234567").as_deref(), Some("+4791234567"));
        assert_eq!(n("+47 912 34 567").as_deref(), Some("+4791234567"));
        assert_eq!(n("0047 41234567").as_deref(), Some("+4741234567"));
        assert_eq!(n("+46 70 123 45 67").as_deref(), Some("+46701234567"));
        assert_eq!(n("22123456"), None, "a Norwegian landline");
        assert_eq!(n("+47 1234"), None);
        assert_eq!(n("ring meg"), None);
        assert_eq!(n(""), None);
    }
}
