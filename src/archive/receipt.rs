//! Parses the archive's answer to an arkivmelding: a receipt or an error message.
//!
//! Stage: archive transfer, after sending. Input: the answer body (XML text).
//! Output: [`ArchiveAnswer`] — a [`Receipt`] (`arkivmeldingKvittering` with a
//! `journalpostKvittering`: journalår, journalsekvensnummer, journalpostnummer,
//! journalstatus, systemID, created or existing, external key), the archive's
//! refusal (`ugyldigforespoersel`, or `registreringFeilet` inside a receipt) or its
//! internal error (`serverfeil`). Failure: [`ReceiptError`] when the answer is not
//! one of those (not XML, another root, a required field missing or not a number):
//! the "malformed receipt" class, permanent.
//!
//! Namespaces are checked: a receipt is only a receipt in the kvittering namespace.

use roxmltree::{Document, Node};

pub const NS_KVITTERING: &str =
    "https://ks-no.github.io/standarder/fiks-protokoll/fiks-arkiv/arkivmelding/opprett/kvittering/v2";
pub const NS_MDK: &str =
    "https://ks-no.github.io/standarder/fiks-protokoll/fiks-arkiv/metadatakatalog/v2";
pub const NS_UGYLDIG: &str =
    "https://ks-no.github.io/standarder/fiks-protokoll/fiks-arkiv/feil/ugyldigforespoersel/v2";
pub const NS_SERVERFEIL: &str =
    "https://ks-no.github.io/standarder/fiks-protokoll/fiks-arkiv/feil/serverfeil/v2";
pub const NS_FEILMELDING: &str =
    "https://ks-no.github.io/standarder/fiks-protokoll/fiks-arkiv/feil/feilmelding/v2";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReceiptError {
    #[error("the answer is not well-formed XML: {0}")]
    NotXml(String),
    #[error("the answer is not a Fiks Arkiv receipt or error message (root {0})")]
    UnexpectedRoot(String),
    #[error("the receipt lacks {0}")]
    Missing(&'static str),
    #[error("the receipt's {field} is not valid")]
    Invalid { field: &'static str },
}

/// The journal post as the archive registered it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Receipt {
    pub system_id: String,
    pub journal_year: Option<i32>,
    pub journal_sequence: Option<i32>,
    pub journal_post_number: Option<i32>,
    pub journal_status: Option<String>,
    /// True when the archive answered `Eksisterende`: the journal post existed already.
    pub existing: bool,
    /// The external key (`noekkel`) the archive echoes, when it does.
    pub external_key: Option<String>,
    /// The folder's systemID and whether it existed, when the receipt has a mappeKvittering.
    pub folder_system_id: Option<String>,
    pub folder_existing: Option<bool>,
}

/// `feilId` and `feilmelding` of an error message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub id: String,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArchiveAnswer {
    Receipt(Receipt),
    /// `ugyldigforespoersel`: the message was refused (like HTTP 400).
    Invalid(Fault),
    /// `registreringFeilet` in a receipt: the journal post was not created.
    RegistrationFailed(Fault),
    /// `serverfeil`: the archive failed internally (like HTTP 500).
    ServerError(Fault),
}

/// A folder (saksmappe) as the archive registered it: its case number.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FolderReceipt {
    pub system_id: String,
    /// Saksår and sakssekvensnummer: the folder's case number, e.g. 2026/1234.
    pub case_year: Option<i32>,
    pub case_sequence: Option<i32>,
    /// True when the folder existed already (a rerun of the rollover).
    pub existing: bool,
    pub external_key: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FolderAnswer {
    Receipt(FolderReceipt),
    Invalid(Fault),
    /// `mappeFeilet` in a receipt: the folder was not created.
    Failed(Fault),
    ServerError(Fault),
}

/// Parses the answer to a folder-only arkivmelding (the school folder of a year).
pub fn parse_folder(xml: &str) -> Result<FolderAnswer, ReceiptError> {
    let doc = Document::parse(xml).map_err(|e| ReceiptError::NotXml(e.to_string()))?;
    let root = doc.root_element();
    let ns = root.tag_name().namespace().unwrap_or("");
    match (ns, root.tag_name().name()) {
        (NS_UGYLDIG, "ugyldigforespoersel") => Ok(FolderAnswer::Invalid(fault(root, ns)?)),
        (NS_SERVERFEIL, "serverfeil") => Ok(FolderAnswer::ServerError(fault(root, ns)?)),
        (NS_KVITTERING, "arkivmeldingKvittering") => {
            let k = NS_KVITTERING;
            if let Some(f) = child(root, k, "mappeFeilet") {
                return Ok(FolderAnswer::Failed(fault(f, k)?));
            }
            let m = child(root, k, "mappeKvittering")
                .ok_or(ReceiptError::Missing("mappeKvittering"))?;
            Ok(FolderAnswer::Receipt(FolderReceipt {
                system_id: text(m, k, "systemID")
                    .filter(|s| is_uuid(s))
                    .ok_or(ReceiptError::Missing("mappeKvittering/systemID"))?,
                case_year: int(m, k, "saksaar")?,
                case_sequence: int(m, k, "sakssekvensnummer")?,
                existing: created_or_existing(m, k, "mappeKvittering/opprettetEllerEksisterende")?,
                external_key: child(m, k, "referanseEksternNoekkel")
                    .and_then(|n| text(n, NS_MDK, "noekkel")),
            }))
        }
        (ns, name) => Err(ReceiptError::UnexpectedRoot(if ns.is_empty() {
            name.to_string()
        } else {
            format!("{{{ns}}}{name}")
        })),
    }
}

/// `opprettetEllerEksisterende` of a receipt we write.
fn created_or_existing_word(existing: bool) -> &'static str {
    if existing {
        "Eksisterende"
    } else {
        "Opprettet"
    }
}

/// `referanseEksternNoekkel` of a receipt.
fn push_external_key(s: &mut String, fagsystem: &str, key: &str) {
    use super::arkivmelding::escape;
    s.push_str(&format!(
        "<referanseEksternNoekkel><n5mdk:fagsystem>{}</n5mdk:fagsystem><n5mdk:noekkel>{}</n5mdk:noekkel></referanseEksternNoekkel>",
        escape(fagsystem),
        escape(key)
    ));
}

/// Writes a folder receipt (`saksmappeKvittering`) as an archive would. Valid
/// against the kvittering schema.
pub fn write_folder_receipt(r: &FolderReceipt, fagsystem: &str) -> String {
    use super::arkivmelding::escape;
    let mut s = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<arkivmeldingKvittering xmlns=\"{NS_KVITTERING}\" xmlns:n5mdk=\"{NS_MDK}\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"><mappeKvittering xsi:type=\"saksmappeKvittering\"><systemID>{}</systemID>",
        escape(&r.system_id)
    );
    if let Some(k) = &r.external_key {
        push_external_key(&mut s, fagsystem, k);
    }
    s.push_str(&format!(
        "<opprettetEllerEksisterende>{}</opprettetEllerEksisterende>",
        created_or_existing_word(r.existing)
    ));
    for (name, v) in [
        ("saksaar", r.case_year),
        ("sakssekvensnummer", r.case_sequence),
    ] {
        if let Some(v) = v {
            s.push_str(&format!("<{name}>{v}</{name}>"));
        }
    }
    s.push_str("</mappeKvittering></arkivmeldingKvittering>\n");
    s
}

/// Parses one answer.
pub fn parse(xml: &str) -> Result<ArchiveAnswer, ReceiptError> {
    let doc = Document::parse(xml).map_err(|e| ReceiptError::NotXml(e.to_string()))?;
    let root = doc.root_element();
    let ns = root.tag_name().namespace().unwrap_or("");
    match (ns, root.tag_name().name()) {
        (NS_UGYLDIG, "ugyldigforespoersel") => Ok(ArchiveAnswer::Invalid(fault(root, ns)?)),
        (NS_SERVERFEIL, "serverfeil") => Ok(ArchiveAnswer::ServerError(fault(root, ns)?)),
        (NS_KVITTERING, "arkivmeldingKvittering") => kvittering(root),
        (ns, name) => Err(ReceiptError::UnexpectedRoot(if ns.is_empty() {
            name.to_string()
        } else {
            format!("{{{ns}}}{name}")
        })),
    }
}

fn kvittering(root: Node<'_, '_>) -> Result<ArchiveAnswer, ReceiptError> {
    let ns = NS_KVITTERING;
    if let Some(f) = child(root, ns, "registreringFeilet") {
        // The feilmeldingBase children are in the kvittering namespace here
        // (elementFormDefault qualified, local elements of the importing type).
        return Ok(ArchiveAnswer::RegistrationFailed(fault(f, ns)?));
    }
    let reg = child(root, ns, "registreringKvittering")
        .ok_or(ReceiptError::Missing("registreringKvittering"))?;
    let mut r = Receipt {
        system_id: text(reg, ns, "systemID")
            .filter(|s| is_uuid(s))
            .ok_or(ReceiptError::Missing("registreringKvittering/systemID"))?,
        existing: created_or_existing(
            reg,
            ns,
            "registreringKvittering/opprettetEllerEksisterende",
        )?,
        external_key: child(reg, ns, "referanseEksternNoekkel")
            .and_then(|k| text(k, NS_MDK, "noekkel")),
        journal_year: int(reg, ns, "journalaar")?,
        journal_sequence: int(reg, ns, "journalsekvensnummer")?,
        journal_post_number: int(reg, ns, "journalpostnummer")?,
        journal_status: child(reg, ns, "journalstatus").and_then(|k| text(k, NS_MDK, "kode")),
        ..Receipt::default()
    };
    if let Some(m) = child(root, ns, "mappeKvittering") {
        r.folder_system_id = text(m, ns, "systemID");
        r.folder_existing = Some(created_or_existing(
            m,
            ns,
            "mappeKvittering/opprettetEllerEksisterende",
        )?);
    }
    Ok(ArchiveAnswer::Receipt(r))
}

fn created_or_existing(
    node: Node<'_, '_>,
    ns: &str,
    field: &'static str,
) -> Result<bool, ReceiptError> {
    match text(node, ns, "opprettetEllerEksisterende").as_deref() {
        Some("Opprettet") => Ok(false),
        Some("Eksisterende") => Ok(true),
        Some(_) => Err(ReceiptError::Invalid { field }),
        None => Err(ReceiptError::Missing(field)),
    }
}

fn fault(node: Node<'_, '_>, ns: &str) -> Result<Fault, ReceiptError> {
    // Accept the children in the message's own namespace or in feilmeldingBase's.
    let get = |name: &str| text(node, ns, name).or_else(|| text(node, NS_FEILMELDING, name));
    Ok(Fault {
        id: get("feilId").ok_or(ReceiptError::Missing("feilId"))?,
        message: get("feilmelding").ok_or(ReceiptError::Missing("feilmelding"))?,
    })
}

fn child<'a, 'i>(node: Node<'a, 'i>, ns: &str, name: &str) -> Option<Node<'a, 'i>> {
    node.children().find(|c| {
        c.is_element() && c.tag_name().name() == name && c.tag_name().namespace() == Some(ns)
    })
}

fn text(node: Node<'_, '_>, ns: &str, name: &str) -> Option<String> {
    child(node, ns, name)
        .and_then(|c| c.text())
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
}

fn int(node: Node<'_, '_>, ns: &str, name: &'static str) -> Result<Option<i32>, ReceiptError> {
    match text(node, ns, name) {
        None => Ok(None),
        Some(t) => t
            .parse()
            .map(Some)
            .map_err(|_| ReceiptError::Invalid { field: name }),
    }
}

fn is_uuid(s: &str) -> bool {
    uuid::Uuid::parse_str(s).is_ok() && s.len() == 36
}

/// Writes a receipt as an archive would (used by the directory target and the
/// tests' stand-in archive). Valid against the kvittering schema.
pub fn write_receipt(r: &Receipt, fagsystem: &str) -> String {
    use super::arkivmelding::escape;
    let mut s = String::with_capacity(1024);
    s.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    s.push_str(&format!(
        "<arkivmeldingKvittering xmlns=\"{NS_KVITTERING}\" xmlns:n5mdk=\"{NS_MDK}\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">"
    ));
    if let (Some(id), Some(existing)) = (&r.folder_system_id, r.folder_existing) {
        s.push_str(&format!(
            "<mappeKvittering><systemID>{}</systemID><opprettetEllerEksisterende>{}</opprettetEllerEksisterende></mappeKvittering>",
            escape(id),
            created_or_existing_word(existing)
        ));
    }
    s.push_str("<registreringKvittering xsi:type=\"journalpostKvittering\">");
    s.push_str(&format!("<systemID>{}</systemID>", escape(&r.system_id)));
    if let Some(k) = &r.external_key {
        push_external_key(&mut s, fagsystem, k);
    }
    s.push_str(&format!(
        "<opprettetEllerEksisterende>{}</opprettetEllerEksisterende>",
        created_or_existing_word(r.existing)
    ));
    for (name, v) in [
        ("journalaar", r.journal_year),
        ("journalsekvensnummer", r.journal_sequence),
        ("journalpostnummer", r.journal_post_number),
    ] {
        if let Some(v) = v {
            s.push_str(&format!("<{name}>{v}</{name}>"));
        }
    }
    if let Some(st) = &r.journal_status {
        s.push_str(&format!(
            "<journalstatus><n5mdk:kode>{}</n5mdk:kode></journalstatus>",
            escape(st)
        ));
    }
    s.push_str("</registreringKvittering></arkivmeldingKvittering>\n");
    s
}

/// Writes an error message (`ugyldigforespoersel` or `serverfeil`) as an archive would.
pub fn write_fault(server_error: bool, f: &Fault) -> String {
    use super::arkivmelding::escape;
    let (name, ns) = if server_error {
        ("serverfeil", NS_SERVERFEIL)
    } else {
        ("ugyldigforespoersel", NS_UGYLDIG)
    };
    // feilmeldingBase is a type from another namespace: its local elements are in
    // feilmeldingBase's target namespace.
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<{name} xmlns=\"{ns}\" xmlns:f=\"{NS_FEILMELDING}\"><f:feilId>{}</f:feilId><f:feilmelding>{}</f:feilmelding></{name}>\n",
        escape(&f.id),
        escape(&f.message)
    )
}

/// Writes a receipt whose journal post was not registered (`registreringFeilet`),
/// as an archive answers when it refuses the registration itself (a closed folder,
/// an unknown code in one of its lists).
pub fn write_registration_failed(f: &Fault) -> String {
    use super::arkivmelding::escape;
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<arkivmeldingKvittering xmlns=\"{NS_KVITTERING}\" xmlns:f=\"{NS_FEILMELDING}\"><registreringFeilet><f:feilId>{}</f:feilId><f:feilmelding>{}</f:feilmelding></registreringFeilet></arkivmeldingKvittering>\n",
        escape(&f.id),
        escape(&f.message)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// Validates `xml` against a vendored schema with xmllint.
    pub(crate) fn xmllint(xml: &str, schema: &str) -> Result<(), String> {
        let schema = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("specs/fiks-arkiv-v2")
            .join(schema);
        let mut f = tempfile::NamedTempFile::new().map_err(|e| e.to_string())?;
        std::io::Write::write_all(&mut f, xml.as_bytes()).map_err(|e| e.to_string())?;
        let out = std::process::Command::new("xmllint")
            .arg("--noout")
            .arg("--schema")
            .arg(&schema)
            .arg(f.path())
            .output()
            .map_err(|e| format!("xmllint: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    const KVITTERING_XSD: &str =
        "no.ks.fiks.arkiv.v2.arkivering.arkivmelding.opprett.kvittering.xsd";

    fn sample() -> Receipt {
        Receipt {
            system_id: "6f1c9d2e-8a47-4c1e-9b1a-0a5c2d3e4f50".into(),
            journal_year: Some(2026),
            journal_sequence: Some(1234),
            journal_post_number: Some(2),
            journal_status: Some("J".into()),
            existing: false,
            external_key: Some("bf49b3a4-f1ce-55c3-86d1-deff3db37b46".into()),
            folder_system_id: Some("0b1c9d2e-8a47-4c1e-9b1a-0a5c2d3e4f51".into()),
            folder_existing: Some(true),
        }
    }

    #[test]
    fn a_written_receipt_validates_and_parses_back() {
        let xml = write_receipt(&sample(), "dokflyt");
        xmllint(&xml, KVITTERING_XSD).expect("valid kvittering");
        assert_eq!(parse(&xml), Ok(ArchiveAnswer::Receipt(sample())));
    }

    #[test]
    fn an_existing_journal_post_is_recognised() {
        let r = Receipt {
            existing: true,
            folder_system_id: None,
            folder_existing: None,
            ..sample()
        };
        let xml = write_receipt(&r, "dokflyt");
        xmllint(&xml, KVITTERING_XSD).expect("valid kvittering");
        match parse(&xml) {
            Ok(ArchiveAnswer::Receipt(p)) => assert!(p.existing),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_hand_written_receipt_with_prefixes_parses() {
        let xml = r#"<?xml version="1.0" encoding="utf-8"?>
<k:arkivmeldingKvittering xmlns:k="https://ks-no.github.io/standarder/fiks-protokoll/fiks-arkiv/arkivmelding/opprett/kvittering/v2" xmlns:m="https://ks-no.github.io/standarder/fiks-protokoll/fiks-arkiv/metadatakatalog/v2" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <k:registreringKvittering xsi:type="k:journalpostKvittering">
    <k:systemID label="jp">0b1c9d2e-8a47-4c1e-9b1a-0a5c2d3e4f52</k:systemID>
    <k:opprettetEllerEksisterende>Opprettet</k:opprettetEllerEksisterende>
    <k:journalaar>2026</k:journalaar>
    <k:journalsekvensnummer>77</k:journalsekvensnummer>
    <k:journalpostnummer>5</k:journalpostnummer>
    <k:journalstatus><m:kode>E</m:kode><m:beskrivelse>Ekspedert</m:beskrivelse></k:journalstatus>
  </k:registreringKvittering>
</k:arkivmeldingKvittering>"#;
        xmllint(xml, KVITTERING_XSD).expect("valid kvittering");
        let ArchiveAnswer::Receipt(r) = parse(xml).expect("parses") else {
            panic!("not a receipt")
        };
        assert_eq!(r.journal_year, Some(2026));
        assert_eq!(r.journal_sequence, Some(77));
        assert_eq!(r.journal_post_number, Some(5));
        assert_eq!(r.journal_status.as_deref(), Some("E"));
        assert!(!r.existing);
        assert_eq!(r.external_key, None);
    }

    #[test]
    fn error_messages_validate_and_parse() {
        let f = Fault {
            id: "a1".into(),
            message: "Mangler påkrevd felt <tittel> & mer".into(),
        };
        let x = write_fault(false, &f);
        xmllint(
            &x,
            "no.ks.fiks.arkiv.v2.feilmelding.ugyldigforespoersel.xsd",
        )
        .expect("valid");
        assert_eq!(parse(&x), Ok(ArchiveAnswer::Invalid(f.clone())));
        let x = write_fault(true, &f);
        xmllint(&x, "no.ks.fiks.arkiv.v2.feilmelding.serverfeil.xsd").expect("valid");
        assert_eq!(parse(&x), Ok(ArchiveAnswer::ServerError(f)));
    }

    #[test]
    fn registration_failed_inside_a_receipt() {
        let xml = format!(
            "<arkivmeldingKvittering xmlns=\"{NS_KVITTERING}\" xmlns:f=\"{NS_FEILMELDING}\"><registreringFeilet><f:feilId>x</f:feilId><f:feilmelding>Ukjent arkivdel</f:feilmelding></registreringFeilet></arkivmeldingKvittering>"
        );
        xmllint(&xml, KVITTERING_XSD).expect("valid kvittering");
        assert!(matches!(
            parse(&xml),
            Ok(ArchiveAnswer::RegistrationFailed(Fault { ref message, .. })) if message == "Ukjent arkivdel"
        ));
        let f = Fault {
            id: "9f1c".into(),
            message: "Mappen er avsluttet <og> kan ikke ta imot nye registreringer".into(),
        };
        let written = write_registration_failed(&f);
        xmllint(&written, KVITTERING_XSD).expect("valid kvittering");
        assert_eq!(parse(&written), Ok(ArchiveAnswer::RegistrationFailed(f)));
    }

    #[test]
    fn malformed_answers_are_their_own_class() {
        assert!(matches!(
            parse("<html>502 Bad Gateway"),
            Err(ReceiptError::NotXml(_))
        ));
        assert!(matches!(
            parse("<html/>"),
            Err(ReceiptError::UnexpectedRoot(_))
        ));
        // Right local name, wrong namespace.
        assert!(matches!(
            parse("<arkivmeldingKvittering/>"),
            Err(ReceiptError::UnexpectedRoot(_))
        ));
        let no_reg = format!("<arkivmeldingKvittering xmlns=\"{NS_KVITTERING}\"/>");
        assert_eq!(
            parse(&no_reg),
            Err(ReceiptError::Missing("registreringKvittering"))
        );
        let bad_year = write_receipt(&sample(), "dokflyt").replace(">2026<", ">tjuetjueseks<");
        assert_eq!(
            parse(&bad_year),
            Err(ReceiptError::Invalid {
                field: "journalaar"
            })
        );
        let bad_id = write_receipt(&sample(), "dokflyt").replace("6f1c9d2e-8a47", "nope");
        assert!(matches!(parse(&bad_id), Err(ReceiptError::Missing(_))));
    }

    #[test]
    fn a_folder_receipt_validates_and_parses_back_with_its_case_number() {
        let r = FolderReceipt {
            system_id: "0b1c9d2e-8a47-4c1e-9b1a-0a5c2d3e4f51".into(),
            case_year: Some(2026),
            case_sequence: Some(4711),
            existing: false,
            external_key: Some("skolemappe/fjellvik/2026-2027".into()),
        };
        let xml = write_folder_receipt(&r, "dokflyt");
        xmllint(&xml, KVITTERING_XSD).expect("valid kvittering");
        assert_eq!(parse_folder(&xml), Ok(FolderAnswer::Receipt(r)));
        let fault = write_fault(
            false,
            &Fault {
                id: "x".into(),
                message: "nei".into(),
            },
        );
        assert!(matches!(parse_folder(&fault), Ok(FolderAnswer::Invalid(_))));
        // A journal post receipt is not a folder receipt.
        assert!(parse_folder(&write_receipt(
            &Receipt {
                folder_system_id: None,
                ..sample()
            },
            "dokflyt"
        ))
        .is_err());
    }
}
