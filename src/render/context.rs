//! The template context: what a letter template may see of a routed document.
//!
//! Stage: inside `render`, before the template runs.
//! Input: the event, its type and its routing decision. Output: a [`tera::Context`].
//! Failure: none. Privacy is enforced here by omission: national ids
//! (fødselsnummer) are never put into the context, and neither is the address of a
//! recipient with a protected address (fortrolig / strengt fortrolig adresse), nor
//! anything about a guardian without parental responsibility: the recipients are
//! those `crate::recipient_policy` makes receivers. A template therefore cannot
//! print them, whatever it says.

use crate::config::letters::Language;
use chrono::{Datelike, NaiveDate};
use serde_json::{json, Map, Value};

use crate::document::{Access, RoutingDecision};
use crate::event::{DocumentType, IncomingEvent, RecipientKind};
use crate::recipient_policy;

const MONTHS: [&str; 12] = crate::text::MONTHS_NB;

/// «23. november 2026».
pub fn norwegian_date(d: NaiveDate) -> String {
    let month = MONTHS.get(d.month0() as usize).copied().unwrap_or("januar");
    format!("{}. {} {}", d.day(), month, d.year())
}

/// The human (bokmål) name of a sender role key (docs/domain.md §6).
pub fn role_name(role: &str) -> String {
    let known = match role.trim().to_lowercase().as_str() {
        "kontaktlaerer" | "kontaktlærer" => "Kontaktlærer",
        "laerer" | "lærer" => "Lærer",
        "rektor" => "Rektor",
        "assisterende_rektor" | "assisterende rektor" => "Assisterende rektor",
        "inspektor" | "inspektør" => "Inspektør",
        "avdelingsleder" => "Avdelingsleder",
        "skoleadmin" | "skoleadmin2" => "Skoleadministrasjonen",
        "kommuneadmin" => "Kommuneadministrasjonen",
        "skoleeier" => "Skoleeier",
        "sfo_admin" | "sfo-admin" => "SFO-leder",
        "sfo_ansatt" | "sfo-ansatt" => "SFO-ansatt",
        "helsesykepleier" => "Helsesykepleier",
        _ => "",
    };
    if !known.is_empty() {
        return known.to_string();
    }
    let spaced = role.trim().replace('_', " ");
    let mut chars = spaced.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// A role name in nynorsk (the bokmål name when both are spelt alike).
pub fn role_name_in(role: &str, language: Language) -> String {
    let nb = role_name(role);
    if language == Language::Bokmal {
        return nb;
    }
    let nn = match nb.as_str() {
        "Kontaktlærer" => "Kontaktlærar",
        "Lærer" => "Lærar",
        "Assisterende rektor" => "Assisterande rektor",
        "Avdelingsleder" => "Avdelingsleiar",
        "Skoleadministrasjonen" => "Skuleadministrasjonen",
        "Skoleeier" => "Skuleeigar",
        "SFO-leder" => "SFO-leiar",
        "SFO-ansatt" => "SFO-tilsett",
        "Helsesykepleier" => "Helsesjukepleiar",
        _ => return nb,
    };
    nn.to_string()
}

/// A fact label in `language`.
fn fact_label_in(key: &str, language: Language) -> Option<&'static str> {
    let nb = fact_label(key)?;
    if language == Language::Bokmal {
        return Some(nb);
    }
    Some(match nb {
        "Fag/område" => "Fag/område",
        "Begrunnelse" => "Grunngiving",
        "Skoleår" => "Skuleår",
        "Sted" => "Stad",
        "Fra" => "Frå",
        "Klagefrist (uker)" => "Klagefrist (veker)",
        "Permisjon fra" => "Permisjon frå",
        "Fra og med" => "Frå og med",
        "Skyss fra" => "Skyss frå",
        "Plasstørrelse (%)" => "Plasstorleik (%)",
        "Plass før endring (%)" => "Plass før endring (%)",
        "Plass etter endring (%)" => "Plass etter endring (%)",
        other => other,
    })
}

/// Labels for the facts the generic template lists (keys of `fields`).
fn fact_label(key: &str) -> Option<&'static str> {
    Some(match key {
        "term" => "Termin",
        "subject" => "Fag/område",
        "reasons" => "Begrunnelse",
        "measures" => "Tiltak",
        "contact" => "Kontakt",
        "school_year" => "Skoleår",
        "period" => "Periode",
        "meeting_time" | "meeting_at" => "Tidspunkt",
        "place" | "location" => "Sted",
        "decision" => "Vedtak",
        "from" | "from_date" => "Fra",
        "to" | "to_date" => "Til",
        "deadline" => "Frist",
        "decision_date" => "Vedtaksdato",
        "legal_basis_text" => "Hjemmel",
        "appeal_deadline_weeks" => "Klagefrist (uker)",
        "appeal_to" => "Klageinstans",
        "leave_from" => "Permisjon fra",
        "leave_to" => "Permisjon til",
        "starts_on" => "Fra og med",
        "last_day" => "Siste dag",
        "transport_from" => "Skyss fra",
        "transport_to" => "Skyss til",
        "means" => "Transportmiddel",
        "place_percent" => "Plasstørrelse (%)",
        "place_percent_from" => "Plass før endring (%)",
        "place_percent_to" => "Plass etter endring (%)",
        _ => return None,
    })
}

/// Fields that are data for the archive or routing, never letter text.
fn is_internal_field(key: &str) -> bool {
    key == "body" || is_secret_key(key)
}

/// A key whose value is never shown at any depth (national ids, private keys).
fn is_secret_key(key: &str) -> bool {
    key.contains("national_id")
        || key.contains("fodselsnummer")
        || key.contains("fødselsnummer")
        || key.starts_with('_')
}

/// `fields` as the producer sent it, for type templates that need nested data
/// (`meeting.starts_at`, `grades[]`, `submitted_by.name` …), with every secret key
/// removed at every depth. Dates stay ISO; templates format them with the
/// `nbdate` / `nbdatetime` filters.
fn printable(v: &Value) -> Value {
    match v {
        Value::Object(o) => Value::Object(
            o.iter()
                .filter(|(k, _)| !is_secret_key(k))
                .map(|(k, v)| (k.clone(), printable(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(printable).collect()),
        other => other.clone(),
    }
}

/// A scalar as text (`null`, objects and arrays give `None`); an ISO date
/// (`2026-12-07`) becomes a Norwegian one («7. desember 2026»).
fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(
            NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .map(norwegian_date)
                .unwrap_or_else(|_| s.clone()),
        ),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(true) => Some("ja".into()),
        Value::Bool(false) => Some("nei".into()),
        _ => None,
    }
}

/// A string or an array of scalars as a list of texts.
fn text_list(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(scalar_text)
            .filter(|s| !s.trim().is_empty())
            .collect(),
        Some(other) => scalar_text(other)
            .filter(|s| !s.trim().is_empty())
            .into_iter()
            .collect(),
        None => Vec::new(),
    }
}

fn opt_text(v: Option<&Value>) -> Value {
    match v.and_then(scalar_text) {
        Some(s) if !s.trim().is_empty() => Value::String(s),
        _ => Value::Null,
    }
}

/// `contact` as one line: a string as given, or `{name, role, phone, email}` joined.
fn contact_text(v: Option<&Value>) -> Value {
    let Some(Value::Object(o)) = v else {
        return opt_text(v);
    };
    let get = |k: &str| {
        o.get(k)
            .and_then(scalar_text)
            .filter(|s| !s.trim().is_empty())
    };
    let mut parts = Vec::new();
    if let Some(n) = get("name") {
        parts.push(n);
    }
    if let Some(r) = get("role") {
        parts.push(r.to_lowercase());
    }
    if let Some(p) = get("phone") {
        parts.push(format!("telefon {p}"));
    }
    if let Some(e) = get("email") {
        parts.push(format!("e-post {e}"));
    }
    if parts.is_empty() {
        Value::Null
    } else {
        Value::String(parts.join(", "))
    }
}

/// «tre veker»: a number of weeks in words, in `language`.
pub fn weeks_in_words_in(n: u64, language: Language) -> String {
    if language == Language::Bokmal {
        return weeks_in_words(n);
    }
    const WORDS: [&str; 13] = [
        "null", "éi", "to", "tre", "fire", "fem", "seks", "sju", "åtte", "ni", "ti", "elleve",
        "tolv",
    ];
    match (n, WORDS.get(n as usize)) {
        (1, _) => "éi veke".to_string(),
        (_, Some(w)) => format!("{w} veker"),
        _ => format!("{n} veker"),
    }
}

/// «tre uker»: a number of weeks in bokmål words.
pub fn weeks_in_words(n: u64) -> String {
    const WORDS: [&str; 13] = [
        "null", "én", "to", "tre", "fire", "fem", "seks", "sju", "åtte", "ni", "ti", "elleve",
        "tolv",
    ];
    match (n, WORDS.get(n as usize)) {
        (1, _) => "én uke".to_string(),
        (_, Some(w)) => format!("{w} uker"),
        _ => format!("{n} uker"),
    }
}

/// The decision facts (vedtak) as `d`: decision, its date, the legal basis,
/// the appeal deadline (default three weeks, forvaltningsloven § 29) in
/// words and the appeal body.
fn decision_context(f: &Map<String, Value>, language: Language) -> Value {
    let weeks = f
        .get("appeal_deadline_weeks")
        .and_then(Value::as_u64)
        .filter(|&w| w > 0)
        .unwrap_or(3);
    json!({
        "decision": opt_text(f.get("decision")),
        "date": opt_text(f.get("decision_date")),
        "legal_basis": opt_text(f.get("legal_basis_text")),
        "appeal_weeks": weeks,
        "appeal_deadline": weeks_in_words_in(weeks, language),
        "appeal_to": opt_text(f.get("appeal_to")),
    })
}

/// The document type's name in `language` (nynorsk names for the documents
/// received from guardians, the only ones a template prints it for; the others
/// share the bokmål name's spelling closely enough to keep it).
fn document_type_name(t: DocumentType, language: Language) -> &'static str {
    if language == Language::Bokmal {
        return t.name_nb();
    }
    match t {
        DocumentType::LeaveApplication => "Permisjonssøknad",
        DocumentType::SfoApplication => "SFO-søknad",
        DocumentType::SfoChange => "SFO-endring",
        DocumentType::SfoTermination => "SFO-oppseiing frå føresette",
        DocumentType::SchoolTransportApplication => "Søknad om skuleskyss",
        DocumentType::Consent => "Samtykke (svar)",
        other => other.name_nb(),
    }
}

/// Builds the context for one document.
pub fn build(
    ev: &IncomingEvent,
    t: DocumentType,
    decision: &RoutingDecision,
    language: Language,
) -> tera::Context {
    let mut c = tera::Context::new();
    c.insert("lang", language.code());

    let municipality_display = if ev.municipality.name.to_lowercase().contains("kommune") {
        ev.municipality.name.clone()
    } else {
        format!("{} kommune", ev.municipality.name)
    };
    c.insert(
        "municipality",
        &json!({
            "name": ev.municipality.name,
            "number": ev.municipality.number,
            "display": municipality_display,
        }),
    );
    c.insert(
        "school",
        &json!({ "name": ev.school.name, "org_number": ev.school.org_number }),
    );
    c.insert("title", &ev.title);
    c.insert("document_type", t.key());
    c.insert("document_type_name", document_type_name(t, language));
    c.insert("reference", &ev.event_id.to_string());
    c.insert("date", &norwegian_date(ev.occurred_at.date_naive()));
    let uo = decision.access == Access::Uo;
    let legal_basis = decision
        .legal_basis
        .clone()
        .or_else(|| ev.legal_basis.clone())
        .unwrap_or_else(|| "Offl. § 13 jf. fvl. § 13 første ledd nr. 1".to_string());
    c.insert(
        "access",
        &json!({ "uo": uo, "legal_basis": if uo { Value::String(legal_basis) } else { Value::Null } }),
    );

    let pupil = ev.pupil.as_ref().map(|p| {
        json!({
            "name": p.name,
            "first_name": p.name.split_whitespace().next().unwrap_or(&p.name),
            "birth_date": norwegian_date(p.birth_date),
            "class": p.class,
            "grade_level": p.grade_level,
        })
    });
    c.insert("pupil", &pupil.unwrap_or(Value::Null));

    // Recipients: exactly the receivers of the recipient policy (a guardian without
    // parental responsibility receives nothing about the pupil, so is not named),
    // and only the address the policy lets be written (never a protected one).
    let recipients: Vec<Value> = recipient_policy::receivers(decision.channel, &ev.recipients)
        .map(|(r, _)| {
            let address_lines: Vec<String> = match recipient_policy::postal_address(r) {
                Some(a) => {
                    let mut lines = vec![a.street.clone(), format!("{} {}", a.postal_code, a.city)];
                    if let Some(country) = a.country.as_ref().filter(|c| {
                        let c = c.trim().to_lowercase();
                        !c.is_empty() && c != "norge" && c != "no" && c != "norway"
                    }) {
                        lines.push(country.clone());
                    }
                    lines
                }
                None => Vec::new(),
            };
            json!({
                "name": r.name,
                "kind": match r.kind {
                    RecipientKind::Guardian => "guardian",
                    RecipientKind::Pupil => "pupil",
                    RecipientKind::Staff => "staff",
                },
                "address_lines": address_lines,
            })
        })
        .collect();
    c.insert("recipients", &recipients);

    c.insert(
        "sender",
        &json!({ "name": ev.sender.name, "role": role_name_in(&ev.sender.role, language) }),
    );

    // The author's paragraphs: an array of strings, or one string.
    c.insert("body", &text_list(ev.fields.get("body")));

    // Type facts, normalised so templates need no type checks.
    let f = &ev.fields;
    c.insert(
        "f",
        &json!({
            "term": opt_text(f.get("term")),
            "subject": opt_text(f.get("subject")),
            "reasons": text_list(f.get("reasons")),
            "measures": text_list(f.get("measures")),
            "contact": contact_text(f.get("contact")),
            "school_year": opt_text(f.get("school_year")),
        }),
    );

    // Report tables: `rows` (objects) and `totals` (an object), every value as
    // text (`null` → empty), internal keys (national ids …) left out.
    let row_object = |v: &Value| -> Option<Value> {
        let Value::Object(o) = v else { return None };
        let mut out = Map::new();
        for (k, v) in o {
            if is_internal_field(k) {
                continue;
            }
            let text = match v {
                Value::Null => String::new(),
                Value::Array(_) => text_list(Some(v)).join(", "),
                other => scalar_text(other).unwrap_or_default(),
            };
            out.insert(k.clone(), Value::String(text));
        }
        Some(Value::Object(out))
    };
    let rows: Vec<Value> = match f.get("rows") {
        Some(Value::Array(items)) => items.iter().filter_map(row_object).collect(),
        _ => Vec::new(),
    };
    c.insert("rows", &rows);
    c.insert(
        "totals",
        &f.get("totals").and_then(row_object).unwrap_or(Value::Null),
    );

    c.insert("d", &decision_context(f, language));
    c.insert(
        "fields",
        &printable(&Value::Object(
            f.iter()
                .filter(|(k, _)| !is_internal_field(k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        )),
    );

    // Every other printable field, for the generic template.
    let mut facts = Vec::new();
    for (key, value) in f.iter() {
        if is_internal_field(key) {
            continue;
        }
        let label = fact_label_in(key, language)
            .map(str::to_string)
            .unwrap_or_else(|| role_name_in(key, language));
        let mut fact = Map::new();
        fact.insert("key".into(), Value::String(key.clone()));
        fact.insert("label".into(), Value::String(label));
        match value {
            Value::Array(_) => {
                let items = text_list(Some(value));
                if items.is_empty() {
                    continue;
                }
                fact.insert("items".into(), json!(items));
            }
            other => match scalar_text(other) {
                Some(s) if !s.trim().is_empty() => {
                    fact.insert("value".into(), Value::String(s));
                }
                _ => continue,
            },
        }
        facts.push(Value::Object(fact));
    }
    c.insert("facts", &facts);
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_fields_drop_secret_keys_at_every_depth() {
        let v = json!({
            "submitted_by": {"name": "Ahmed Lie", "national_id": "x", "_internal": 1},
            "grades": [{"subject": "Norsk", "fodselsnummer": "y"}],
            "meeting": {"starts_at": "2026-11-05T15:30:00+01:00"}
        });
        assert_eq!(
            printable(&v),
            json!({
                "submitted_by": {"name": "Ahmed Lie"},
                "grades": [{"subject": "Norsk"}],
                "meeting": {"starts_at": "2026-11-05T15:30:00+01:00"}
            })
        );
    }

    #[test]
    fn dates_and_roles_in_bokmal() {
        let d = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
        assert_eq!(norwegian_date(d), "23. november 2026");
        let d = NaiveDate::from_ymd_opt(2013, 3, 4).unwrap();
        assert_eq!(norwegian_date(d), "4. mars 2013");
        assert_eq!(role_name("kontaktlaerer"), "Kontaktlærer");
        assert_eq!(role_name("spesial_pedagog"), "Spesial pedagog");
        assert_eq!(weeks_in_words(3), "tre uker");
        assert_eq!(weeks_in_words(1), "én uke");
        assert_eq!(weeks_in_words(20), "20 uker");
    }
}
