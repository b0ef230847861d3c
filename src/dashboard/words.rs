//! The dashboard's words: machine values (statuses, audit actions, folders,
//! archive targets and error classes, receipt field names) as the Norwegian
//! bokmål a person reads, and amounts written the Norwegian way.
//!
//! Input: the raw value as stored. Output: the Norwegian text; a value this
//! module does not know is returned unchanged (the pages also show the raw
//! value on a detail line for support). Failure: none. Registered as the Tera
//! filters `ord` and `nb` (with `som` = status, handling, rolle, mappe, mal,
//! feilklasse or felt) and `kr` (see `views`). One word for one thing: every page takes its words from here.

/// A status of a document, a delivery, an emergency SMS or one of its recipients.
pub fn status(raw: &str) -> &str {
    match raw {
        // The archive log.
        "klar" => "Klar",
        "arkivert" => "Arkivert",
        "feilet" | "failed" => "Feilet",
        // Deliveries (SvarUt, email) and SMS recipients.
        "planned" => "Planlagt",
        "queued" => "I kø",
        "sending" => "Sendes",
        "sent" => "Sendt",
        "delivered" => "Levert",
        "held" => "Holdt tilbake",
        // SvarUt's own statuses.
        "AVVIST" => "Avvist av SvarUt",
        "IKKE_LEVERT" => "Ikke levert",
        "LEST" => "Lest",
        "MOTTATT" => "Mottatt",
        "AKSEPTERT" => "Akseptert",
        "LEVERT_SDP" => "Levert digitalt",
        "SENDT_DIGITALT" => "Sendt digitalt",
        "SENDT_PRINT" => "Sendt til utskrift",
        "PRINTET" => "Skrevet ut",
        "MANUELT_HANDTERT" => "Håndtert manuelt",
        // Emergency SMS messages.
        "awaiting_approval" => "Venter på godkjenning",
        "approved" => "Godkjent, sendes",
        "completed" => "Ferdig sendt",
        "refused" => "Avvist",
        // Audit outcomes.
        "granted" => "Tillatt",
        other => other,
    }
}

/// An audit-log action.
pub fn action(raw: &str) -> &str {
    match raw {
        "archive.list" => "Så arkivloggen",
        "archive.counts" => "Så antall i arkivloggen",
        "archive.show" => "Åpnet et dokument",
        "archive.preview" => "Forhåndsviste et dokument",
        "archive.retry" => "Prøv igjen",
        "archive.reproduce" => "Produserte på nytt",
        "archive.remove_failed" => "Fjernet fra feilet-listen",
        "archive.run_now" => "Startet overføring nå",
        "archive.rollover" => "Skoleårsskifte",
        "archive.deadlines" => "Så fristene",
        "delivery.list" => "Så utsendingene",
        "unreachable.list" => "Så foresatte som ikke nås",
        "unreachable.resolve" => "Merket oppgave som løst",
        "audit.list" => "Så revisjonsloggen",
        "contacts.gaps" => "Så manglende kontaktinformasjon",
        "schools.set_principal" => "Satte rektor",
        "dashboard.access" => "Åpnet dashbordet",
        "dashboard.sign_in" => "Logget inn",
        "dashboard.step_up" => "Logget inn på høyere nivå",
        "sms.page" => "Åpnet beredskaps-SMS",
        "sms.preview" => "Forhåndsviste beredskaps-SMS",
        "sms.send" => "Sendte beredskaps-SMS",
        "sms.status" => "Så status for beredskaps-SMS",
        "sms.costs" => "Så SMS-kostnadene",
        "sms.approvals" => "Så meldinger som venter på godkjenning",
        "sms.approve" => "Godkjente beredskaps-SMS",
        "grant.page" => "Åpnet tilganger",
        "grant.create" => "Ga en rolle",
        "grant.renew" => "Fornyet en rolle",
        "grant.expire" => "Rolle utløpt",
        "grant.revoke" => "Fjernet en rolle",
        "dashboard.sessions_ended" => "Avsluttet øktene til en som har sluttet",
        "api.authenticate" => "API: autentisering",
        "api.actor" => "API: bruker",
        "api.school" => "API: skole",
        "api.scope" => "API: tilgang",
        other => other,
    }
}

/// A role (`access::Role`'s names).
pub fn role(raw: &str) -> &str {
    match raw {
        "kommuneadmin" => "kommuneadministrator",
        "skoleadmin" => "skoleadministrator",
        "team" => "skoleteam",
        "rektor" => "rektor",
        "skoleeier" => "skoleeier",
        "skoleadmin2" => "kontaktadministrator",
        "laerer" => "lærer",
        "kontaktlaerer" => "kontaktlærer",
        "sfo_admin" => "SFO-leder",
        "sfo_ansatt" => "SFO-ansatt",
        "helsesykepleier" => "helsesykepleier",
        "system" => "system",
        other => other,
    }
}

/// The archive folder a document is filed in.
pub fn folder(raw: &str) -> &str {
    match raw {
        "pupil" => "Elevmappe",
        "school" => "Skolemappe",
        other => other,
    }
}

/// Where a transfer went (an [`crate::archive::client::ArchiveClient::target`]).
pub fn target(raw: &str) -> &str {
    match raw {
        "directory" => "Katalog (offline-pakke)",
        "http" => "Arkivet (Fiks Arkiv over HTTP)",
        "fiks_arkiv" | "fiks-arkiv" | "fiks" => "Fiks Arkiv",
        "noark5" | "noark" => "Noark 5-arkivet",
        other => other,
    }
}

/// An error class of a failed transfer.
pub fn error_class(raw: &str) -> &str {
    match raw {
        "connect" => "Fikk ikke kontakt med arkivet",
        "timeout" => "Arkivet svarte ikke i tide",
        "http_5xx" | "serverfeil" => "Feil hos arkivet",
        "ugyldigforespoersel" => "Arkivet avviste meldingen",
        "registrering_feilet" => "Registreringen feilet i arkivet",
        "http_4xx" => "Arkivet avviste forespørselen",
        "malformed_receipt" => "Uleselig kvittering",
        "wrong_document" => "Kvitteringen gjaldt et annet dokument",
        "directory" => "Kunne ikke skrive til katalogen",
        "too_large" => "Dokumentet er for stort",
        "unauthorized" => "Arkivet godtok ikke innloggingen",
        "maskinporten" => "Maskinporten ga ikke tilgang",
        "insecure_transport" => "Usikker forbindelse",
        "config" => "Feil i oppsettet",
        other => other,
    }
}

/// A field of an archive receipt (Fiks Arkiv's kvittering).
pub fn receipt_field(raw: &str) -> &str {
    match raw {
        "journalaar" => "Journalår",
        "journalsekvensnummer" => "Journalsekvensnummer",
        "journalpostnummer" => "Journalpostnummer",
        "systemID" | "systemId" => "System-ID",
        "saksaar" => "Saksår",
        "sakssekvensnummer" => "Sakssekvensnummer",
        "mappeID" | "mappeId" => "Mappe-ID",
        "registreringsID" | "registreringsId" => "Registrerings-ID",
        "referanseEksternNoekkel" | "eksternNoekkel" => "Ekstern nøkkel",
        "fagsystem" => "Fagsystem",
        "noekkel" => "Nøkkel",
        "opprettetDato" => "Opprettet",
        "feilmelding" | "melding" => "Melding",
        "feilkode" | "kode" => "Feilkode",
        "beskrivelse" => "Beskrivelse",
        "status" => "Status",
        "tittel" => "Tittel",
        other => other,
    }
}

/// An amount in NOK as `nok()` writes it (`"5520.00"`) → `"5 520,00 kr"` (a
/// non-breaking space groups the thousands, a comma before the øre).
pub fn kroner(raw: &str) -> String {
    let (sign, digits) = match raw.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", raw),
    };
    let (whole, ore) = digits.split_once('.').unwrap_or((digits, "00"));
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return format!("{raw} kr");
    }
    let mut grouped = String::new();
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            grouped.push('\u{a0}');
        }
        grouped.push(c);
    }
    format!("{sign}{grouped},{ore}\u{a0}kr")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_the_norwegian_way() {
        assert_eq!(kroner("0.69"), "0,69\u{a0}kr");
        assert_eq!(kroner("5520.00"), "5\u{a0}520,00\u{a0}kr");
        assert_eq!(kroner("1234567.05"), "1\u{a0}234\u{a0}567,05\u{a0}kr");
        assert_eq!(kroner("-12.30"), "-12,30\u{a0}kr");
        assert_eq!(kroner("7"), "7,00\u{a0}kr");
    }

    #[test]
    fn machine_words_read_as_norwegian() {
        assert_eq!(status("delivered"), "Levert");
        assert_eq!(status("completed"), "Ferdig sendt");
        assert_eq!(action("archive.preview"), "Forhåndsviste et dokument");
        assert_eq!(action("dashboard.sign_in"), "Logget inn");
        assert_eq!(action("sms.send"), "Sendte beredskaps-SMS");
        assert_eq!(folder("pupil"), "Elevmappe");
        assert_eq!(role("team"), "skoleteam");
        assert_eq!(target("directory"), "Katalog (offline-pakke)");
        assert_eq!(receipt_field("journalaar"), "Journalår");
        // Unknown values stay as they are (the raw line shows them anyway).
        assert_eq!(status("something_new"), "something_new");
    }
}
