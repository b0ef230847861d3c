//! Builds the Fiks Arkiv V2 `arkivmelding` (opprett) for one archived document.
//!
//! Stage: archive transfer, before sending. Input: the stored event, its routing
//! decision, the document title and the PDF (name, bytes' SHA-256 and size).
//! Output: the XML text (valid against
//! `specs/fiks-arkiv-v2/no.ks.fiks.arkiv.v2.arkivering.arkivmelding.opprett.xsd`)
//! and the name of the file part it references. Failure: [`BuildError`] when the
//! document cannot be described (a pupil-folder document without a pupil, UO
//! without a legal basis); permanent, the row goes to `feilet`.
//!
//! Shape (the Elevmappe use case: folder and journal post in one message, the
//! archive creates the folder only when it does not exist):
//! - `mappe`: the pupil folder (elevmappe), external key (fagsystem, pupil id); or
//!   the school folder for the school year, external key
//!   (fagsystem, `skolemappe/<school id>/<yyyy-yyyy>`).
//! - `registrering xsi:type="journalpost"` in that folder (referenced by the same
//!   external key): title, skjerming when the decision says UO, the PDF as
//!   hoveddokument, korrespondanseparter by name, the external key
//!   (fagsystem, event id) that makes a resend idempotent, journalposttype and
//!   journalstatus from the decision, dokumentetsDato from `occurred_at`.
//!
//! The national id is written only into the message (`personid`, which the
//! archive needs to dispatch by SvarUt), never into logs or errors.

use chrono::Datelike;

use crate::document::{Access, Channel, Folder, JournalPostType, JournalStatus, RoutingDecision};
use crate::event::{Direction, IncomingEvent};
use crate::recipient_policy;

/// Namespace of the opprett message.
pub const NS_OPPRETT: &str =
    "https://ks-no.github.io/standarder/fiks-protokoll/fiks-arkiv/arkivmelding/opprett/v2";
/// Namespace of the metadata catalogue: children of its complex types
/// (`kode`, `eksternNoekkel`, `referanseTilMappe`, `identifikatorer`) live there.
pub const NS_MDK: &str =
    "https://ks-no.github.io/standarder/fiks-protokoll/fiks-arkiv/metadatakatalog/v2";
const NS_XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BuildError {
    #[error("the document goes to the pupil folder but the event names no pupil")]
    MissingPupil,
    #[error("the document is exempt from public access (UO) but has no legal basis")]
    MissingLegalBasis,
    #[error("the document has no PDF to archive")]
    MissingPdf,
}

impl BuildError {
    /// What a school administrator can do about it (bokmål).
    pub fn explanation_nb(&self) -> &'static str {
        match self {
            BuildError::MissingPupil => {
                "Dokumentet skal i elevmappen, men hendelsen fra skolesystemet oppgir ingen elev. \
                 Rett dokumentet i skolesystemet (velg elev) og send det på nytt."
            }
            BuildError::MissingLegalBasis => {
                "Dokumentet er unntatt offentlighet, men mangler hjemmel. Legg inn \
                 unntakshjemmel på malen eller dokumentet og send det på nytt."
            }
            BuildError::MissingPdf => {
                "Dokumentet har ingen PDF å arkivere. Produser dokumentet på nytt; \
                 meld fra til kommuneadmin hvis feilen gjentar seg."
            }
        }
    }
}

/// What the builder needs of the municipality's configuration.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// `system` of the message and `fagsystem` of every external key.
    pub system: String,
    /// The archive's tilgangsrestriksjon code for UO.
    pub uo_access_code: String,
    /// The access group of a school's folders (`{school_id}`, `{school_name}`).
    pub school_access_group: String,
}

/// The archived file of the document.
#[derive(Debug, Clone, Copy)]
pub struct PdfRef<'a> {
    pub sha256: &'a str,
    pub size: usize,
}

/// One document to describe.
pub struct DocumentInput<'a> {
    pub event: &'a IncomingEvent,
    pub decision: &'a RoutingDecision,
    pub title: &'a str,
    pub pdf: Option<PdfRef<'a>>,
    /// The school's principal (case owner) on the document's date, for school folders.
    pub case_owner: Option<&'a str>,
}

/// A school folder (skolemappe) of one school year, as the archive gets it: a case
/// (saksmappe) in archive part `SAK`, classes `B34` and `B31`, access code `EL`,
/// the school's access group and the principal as case owner (docs/domain.md §4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchoolFolder {
    pub school_id: String,
    pub school_name: String,
    /// (2026, 2027)
    pub school_year: (i32, i32),
    /// The principal's initials, as the archive knows the user.
    pub case_owner: Option<String>,
    pub access_group: String,
}

impl SchoolFolder {
    /// The folder's external key: (fagsystem, `skolemappe/<school id>/<yyyy-yyyy>`).
    pub fn key(&self) -> String {
        let (a, b) = self.school_year;
        format!("skolemappe/{}/{a}-{b}", self.school_id)
    }
    pub fn title(&self) -> String {
        let (a, b) = self.school_year;
        format!("Skolemappe – {} {a}/{b}", self.school_name)
    }
}

/// The access group of a school from the configured template (`{school_id}`,
/// `{school_name}`).
pub fn access_group(template: &str, school_id: &str, school_name: &str) -> String {
    template
        .replace("{school_id}", school_id)
        .replace("{school_name}", school_name)
}

/// The school folder as a `mappe xsi:type="saksmappe"` (element order per the schema).
fn write_school_folder(w: &mut XmlWriter, f: &SchoolFolder, system: &str) {
    w.raw("<mappe xsi:type=\"saksmappe\">");
    w.leaf("tittel", &f.title());
    kode(w, "arkivdel", "SAK", Some("Saksarkiv"));
    w.open("skjerming");
    kode(w, "tilgangsrestriksjon", "EL", Some("Elevopplysninger"));
    w.leaf("skjermingshjemmel", crate::rules::DEFAULT_LEGAL_BASIS);
    w.close("skjerming");
    for class in ["B34", "B31"] {
        w.open("klassifikasjon");
        w.leaf("klassifikasjonssystemID", "K-koder");
        w.leaf("klasseID", class);
        w.close("klassifikasjon");
    }
    external_key(w, "referanseEksternNoekkel", system, &f.key());
    w.leaf("tilgangsgruppeNavn", &f.access_group);
    if let Some(owner) = f.case_owner.as_deref().filter(|o| !o.is_empty()) {
        w.open("saksansvarlig");
        w.leaf("n5mdk:initialer", owner);
        w.close("saksansvarlig");
    }
    w.close("mappe");
}

/// A folder-only arkivmelding: creates the school folder of a year (rollover).
pub fn build_school_folder(f: &SchoolFolder, opts: &BuildOptions) -> String {
    let mut w = XmlWriter::new();
    w.raw("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    w.raw(&format!(
        "<arkivmelding xmlns=\"{NS_OPPRETT}\" xmlns:n5mdk=\"{NS_MDK}\" xmlns:xsi=\"{NS_XSI}\">"
    ));
    w.leaf("system", &opts.system);
    w.leaf("antallFiler", "0");
    write_school_folder(&mut w, f, &opts.system);
    w.raw("</arkivmelding>\n");
    w.finish()
}

/// The message and the name under which the PDF travels with it.
#[derive(Clone)]
pub struct Arkivmelding {
    pub xml: String,
    /// `referanseDokumentfil`: the name of the file part (ASCII, no spaces).
    pub file_name: String,
    /// The folder's external key (`noekkel`).
    pub folder_key: String,
}

crate::redacted_debug!(Arkivmelding {
    show: [file_name, folder_key],
    hide: [xml],
});

/// The school year (Norwegian, starting 1 August) a date belongs to, as (2026, 2027).
pub fn school_year(date: chrono::NaiveDate) -> (i32, i32) {
    let y = date.year();
    if date.month() >= 8 {
        (y, y + 1)
    } else {
        (y - 1, y)
    }
}

/// Builds the arkivmelding for one document.
pub fn build(input: &DocumentInput<'_>, opts: &BuildOptions) -> Result<Arkivmelding, BuildError> {
    let ev = input.event;
    let d = input.decision;
    let pdf = input.pdf.ok_or(BuildError::MissingPdf)?;
    let legal_basis = match d.access {
        Access::Uo => Some(
            d.legal_basis
                .as_deref()
                .filter(|b| !b.trim().is_empty())
                .ok_or(BuildError::MissingLegalBasis)?,
        ),
        Access::Public => None,
    };
    let date = ev.occurred_at.date_naive();
    let school_folder = SchoolFolder {
        school_id: ev.school.id.clone(),
        school_name: ev.school.name.clone(),
        school_year: school_year(date),
        case_owner: input.case_owner.map(str::to_string),
        access_group: access_group(&opts.school_access_group, &ev.school.id, &ev.school.name),
    };
    let (folder_key, folder_title) = match d.folder.unwrap_or(Folder::Pupil) {
        Folder::Pupil => {
            let pupil = ev.pupil.as_ref().ok_or(BuildError::MissingPupil)?;
            (
                pupil.id.clone(),
                Some(format!("Elevmappe – {}", pupil.name)),
            )
        }
        Folder::School => (school_folder.key(), None),
    };
    let file_name = format!(
        "{}.pdf",
        ev.document_type
            .replace(|c: char| !c.is_ascii_alphanumeric() && c != '_', "_")
    );
    let event_key = ev.event_id.to_string();

    let mut w = XmlWriter::new();
    w.raw("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    w.raw(&format!(
        "<arkivmelding xmlns=\"{NS_OPPRETT}\" xmlns:n5mdk=\"{NS_MDK}\" xmlns:xsi=\"{NS_XSI}\">"
    ));
    w.leaf("system", &opts.system);
    w.leaf("antallFiler", "1");

    // The folder, created by the archive only when its external key is unknown.
    match &folder_title {
        Some(title) => {
            w.open("mappe");
            w.leaf("tittel", title);
            // A pupil folder is named after a child: its public title names no one.
            w.leaf("offentligTittel", &public_title(title, ev));
            external_key(&mut w, "referanseEksternNoekkel", &opts.system, &folder_key);
            w.close("mappe");
        }
        None => write_school_folder(&mut w, &school_folder, &opts.system),
    }

    w.raw("<registrering xsi:type=\"journalpost\">");
    w.open("referanseForelderMappe");
    external_key(
        &mut w,
        "n5mdk:referanseEksternNoekkel",
        &opts.system,
        &folder_key,
    );
    w.close("referanseForelderMappe");
    if let Some(basis) = legal_basis {
        w.open("skjerming");
        kode(&mut w, "tilgangsrestriksjon", &opts.uo_access_code, None);
        w.leaf("skjermingshjemmel", basis);
        w.close("skjerming");
    }
    w.open("dokumentbeskrivelse");
    w.leaf("tittel", input.title);
    kode(
        &mut w,
        "tilknyttetRegistreringSom",
        "H",
        Some("Hoveddokument"),
    );
    w.leaf("dokumentnummer", "1");
    w.open("dokumentobjekt");
    w.leaf("versjonsnummer", "1");
    kode(&mut w, "variantformat", "A", Some("Arkivformat"));
    kode(&mut w, "format", "PDF", None);
    w.leaf("mimeType", "application/pdf");
    w.leaf("filnavn", &file_name);
    w.leaf("referanseDokumentfil", &file_name);
    w.leaf("sjekksum", pdf.sha256);
    w.leaf("sjekksumAlgoritme", "SHA256");
    w.leaf("filstoerrelse", &pdf.size.to_string());
    w.close("dokumentobjekt");
    w.close("dokumentbeskrivelse");
    w.leaf("tittel", input.title);
    if legal_basis.is_some() {
        // The public journal must not name the pupil or the guardians (docs/domain.md §9).
        w.leaf("offentligTittel", &public_title(input.title, ev));
    }
    w.leaf("forfatter", &ev.sender.name);
    correspondents(&mut w, ev, d);
    external_key(&mut w, "referanseEksternNoekkel", &opts.system, &event_key);
    kode(
        &mut w,
        "journalposttype",
        journal_post_type_code(d.journal_post_type),
        Some(journal_post_type_name(d.journal_post_type)),
    );
    kode(
        &mut w,
        "journalstatus",
        journal_status_code(d.journal_status),
        Some(journal_status_name(d.journal_status)),
    );
    w.leaf("dokumentetsDato", &date.format("%Y-%m-%d").to_string());
    w.raw("</registrering>");
    w.raw("</arkivmelding>\n");
    Ok(Arkivmelding {
        xml: w.finish(),
        file_name,
        folder_key,
    })
}

/// Korrespondanseparter: the receivers for U (EM), the submitter for I (EA), the
/// school's case handler (IA/IM). Names only, plus the national id as `personid`
/// when given. Addresses are never written: a protected address must not travel,
/// and the archive looks up the others itself. The receivers of an outgoing
/// document are exactly those of [`recipient_policy`]: a guardian without parental
/// responsibility is not named at all. For channel `svarut_archive` each receiver is
/// marked for dispatch from the archive (`forsendelsesmaate`): `SvarUt`, or
/// `SvarUtKunDigital` for a protected address (digital delivery only, never print),
/// or `Manuell` when the policy holds the letter for a person (protected address
/// without a digital mailbox): the archive must not send that copy itself.
fn correspondents(w: &mut XmlWriter, ev: &IncomingEvent, d: &RoutingDecision) {
    let jpt = d.journal_post_type;
    let dispatch_from_archive = d.channel == Channel::SvarutArchive;
    match jpt {
        JournalPostType::U => {
            for (r, decision) in recipient_policy::receivers(d.channel, &ev.recipients) {
                w.open("korrespondansepart");
                kode(w, "korrespondanseparttype", "EM", Some("Mottaker"));
                w.leaf("korrespondansepartNavn", &r.name);
                if let Some(id) = r.national_id.as_deref().filter(|s| !s.is_empty()) {
                    w.leaf("personid", id);
                }
                if r.protected_address {
                    w.leaf("erSkjermet", "true");
                }
                if dispatch_from_archive {
                    let (code, description) = dispatch_marking(decision);
                    kode(w, "forsendelsesmaate", code, Some(description));
                }
                w.close("korrespondansepart");
            }
        }
        JournalPostType::I => {
            // The submitter, when the event names one (fields.submitted_by), else
            // the recipients as given (an incoming document may list its sender there).
            let submitter = ev
                .fields
                .get("submitted_by")
                .and_then(|s| s.get("name"))
                .and_then(|n| n.as_str())
                .filter(|n| !n.trim().is_empty());
            if let Some(name) = submitter {
                w.open("korrespondansepart");
                kode(w, "korrespondanseparttype", "EA", Some("Avsender"));
                w.leaf("korrespondansepartNavn", name);
                w.close("korrespondansepart");
            } else {
                for r in &ev.recipients {
                    w.open("korrespondansepart");
                    kode(w, "korrespondanseparttype", "EA", Some("Avsender"));
                    w.leaf("korrespondansepartNavn", &r.name);
                    w.close("korrespondansepart");
                }
            }
        }
        JournalPostType::N => {}
    }
    // The school's own case handler, as the archive knows them by initials.
    w.open("korrespondansepart");
    let (code, name) = match (jpt, ev.direction) {
        (JournalPostType::I, _) | (_, Direction::In) => ("IM", "Intern mottaker"),
        _ => ("IA", "Intern avsender"),
    };
    kode(w, "korrespondanseparttype", code, Some(name));
    w.leaf("korrespondansepartNavn", &ev.school.name);
    w.leaf("organisasjonid", &ev.school.org_number);
    w.open("saksbehandler");
    w.leaf("n5mdk:navn", &ev.sender.name);
    w.leaf("n5mdk:initialer", &ev.sender.initials);
    w.close("saksbehandler");
    w.close("korrespondansepart");
}

/// The `forsendelsesmaate` of one receiver of a `svarut_archive` letter.
fn dispatch_marking(decision: recipient_policy::Decision) -> (&'static str, &'static str) {
    use recipient_policy::Decision;
    match decision {
        Decision::Receive {
            digital_only: false,
        } => ("SvarUt", "Sendes fra arkivet med SvarUt"),
        Decision::Receive { digital_only: true } => (
            "SvarUtKunDigital",
            "Sendes fra arkivet med SvarUt, kun digital levering (fortrolig adresse)",
        ),
        Decision::Held(_) | Decision::Excluded(_) => (
            "Manuell",
            "Sendes ikke automatisk: fortrolig adresse uten digital postkasse; skolen håndterer brevet",
        ),
    }
}

/// The public title (`offentligTittel`): `title` with every part of every person's
/// name in the event (pupil and recipients) replaced by `*****`, as Noark does for
/// screened words, and any run of 11 digits (a national id) too.
pub fn public_title(title: &str, ev: &IncomingEvent) -> String {
    let mut parts: Vec<String> = Vec::new();
    let names = ev
        .pupil
        .iter()
        .map(|p| p.name.as_str())
        .chain(ev.recipients.iter().map(|r| r.name.as_str()));
    for name in names {
        parts.extend(crate::text::name_parts(name));
    }
    mask_words(title, &parts)
}

/// Replaces each alphanumeric word of `text` that is in `words` (lowercase), or
/// is 11 digits long, by `*****`; everything between words is kept.
fn mask_words(text: &str, words: &[String]) -> String {
    crate::text::map_words(text, |word| {
        let id_like = word.len() == 11 && word.bytes().all(|b| b.is_ascii_digit());
        (id_like || words.contains(&word.to_lowercase())).then(|| "*****".to_string())
    })
}

fn journal_post_type_code(t: JournalPostType) -> &'static str {
    match t {
        JournalPostType::I => "I",
        JournalPostType::U => "U",
        JournalPostType::N => "N",
    }
}

fn journal_post_type_name(t: JournalPostType) -> &'static str {
    match t {
        JournalPostType::I => "Inngående dokument",
        JournalPostType::U => "Utgående dokument",
        JournalPostType::N => "Organinternt dokument uten oppfølging",
    }
}

fn journal_status_code(s: JournalStatus) -> &'static str {
    match s {
        JournalStatus::J => "J",
        JournalStatus::E => "E",
        JournalStatus::F => "F",
        JournalStatus::R => "R",
    }
}

fn journal_status_name(s: JournalStatus) -> &'static str {
    match s {
        JournalStatus::J => "Journalført",
        JournalStatus::E => "Ekspedert",
        JournalStatus::F => "Ferdigstilt fra saksbehandler",
        JournalStatus::R => "Reservert dokument",
    }
}

fn kode(w: &mut XmlWriter, element: &str, code: &str, description: Option<&str>) {
    w.open(element);
    w.leaf("n5mdk:kode", code);
    if let Some(d) = description {
        w.leaf("n5mdk:beskrivelse", d);
    }
    w.close(element);
}

fn external_key(w: &mut XmlWriter, element: &str, system: &str, key: &str) {
    w.open(element);
    w.leaf("n5mdk:fagsystem", system);
    w.leaf("n5mdk:noekkel", key);
    w.close(element);
}

/// A minimal writer: element names are literals of this module, text is escaped.
struct XmlWriter {
    out: String,
}

impl XmlWriter {
    fn new() -> XmlWriter {
        XmlWriter {
            out: String::with_capacity(4096),
        }
    }
    fn raw(&mut self, s: &str) {
        self.out.push_str(s);
    }
    fn open(&mut self, name: &str) {
        self.out.push('<');
        self.out.push_str(name);
        self.out.push('>');
    }
    fn close(&mut self, name: &str) {
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push('>');
    }
    fn leaf(&mut self, name: &str, text: &str) {
        self.open(name);
        escape_into(&mut self.out, text);
        self.close(name);
    }
    fn finish(self) -> String {
        self.out
    }
}

pub use crate::xml::{escape, escape_into};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_handles_markup_quotes_and_controls() {
        assert_eq!(
            escape("a & b <c> \"d\" 'e'"),
            "a &amp; b &lt;c&gt; &quot;d&quot; &apos;e&apos;"
        );
        assert_eq!(escape("Kåre Ødegård Æsøy"), "Kåre Ødegård Æsøy");
        assert_eq!(escape("x\u{0}y\u{1b}z\u{FFFF}"), "xyz");
        assert_eq!(escape("l1\nl2\tt\r"), "l1\nl2\tt&#13;");
        assert_eq!(escape("]]>"), "]]&gt;");
    }

    #[test]
    fn escaped_text_round_trips_through_a_parser() {
        let nasty = "<&>\"' ]]> æøå \u{7} \u{1F600}";
        let xml = format!("<a>{}</a>", escape(nasty));
        let doc = roxmltree::Document::parse(&xml).expect("well-formed");
        assert_eq!(doc.root_element().text(), Some("<&>\"' ]]> æøå  \u{1F600}"));
    }

    #[test]
    fn every_part_of_every_name_is_masked_in_the_public_title() {
        let ev: IncomingEvent =
            serde_json::from_str(include_str!("../../examples/events/conduct_warning.json"))
                .expect("example");
        let pupil = ev.pupil.as_ref().expect("pupil").name.clone();
        let mut parts = pupil.split_whitespace();
        let (first, last) = (parts.next().expect("first"), parts.last().expect("last"));
        let title = format!(
            "Varsel for {} ({pupil}), {first} og {}; fnr 01011234567",
            last.to_uppercase(),
            ev.recipients[0].name
        );
        let public = public_title(&title, &ev);
        assert!(!public.contains(first), "{public}");
        assert!(
            !public.to_lowercase().contains(&last.to_lowercase()),
            "{public}"
        );
        for part in ev.recipients[0].name.split_whitespace() {
            assert!(!public.contains(part), "{public}");
        }
        assert!(!public.contains("01011234567"), "{public}");
        assert!(public.starts_with("Varsel for *****"), "{public}");
        assert!(public.contains("*****"), "{public}");
    }

    #[test]
    fn school_year_turns_on_1_august() {
        let d = |s: &str| chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        assert_eq!(school_year(d("2026-07-31")), (2025, 2026));
        assert_eq!(school_year(d("2026-08-01")), (2026, 2027));
        assert_eq!(school_year(d("2027-01-25")), (2026, 2027));
    }
}
