//! The recipient policy: the one place that decides whether, and how, a person
//! named in a document event may receive the document (docs/domain.md §3, §9).
//!
//! Stage: used by every stage and channel that chooses or names receivers — the
//! deliver stage (`deliveries` rows), the render context (who is named and which
//! address is printed), the arkivmelding (korrespondanseparter and their dispatch
//! marking for `svarut_archive`), the SvarUt forsendelse, and the channel
//! dispatcher before any send (message, email, notification). Nothing else filters
//! recipients on its own.
//! Input: the document's channel and one [`Recipient`] of the event.
//! Output: a [`Decision`]: receive (digitally only, or by any means), held for a
//! person, or excluded with the reason. [`postal_address`] is the only way to read
//! an address for output.
//! Failure: none; the function is pure and total.
//!
//! The rules, in order:
//! 1. A guardian **without parental responsibility** (foreldreansvar) receives
//!    nothing, on any channel, and is named as a receiver nowhere.
//! 2. Pupil or guardian, by channel: letters (`svarut`, `svarut_archive`) and login
//!    notices (`notification`) go to guardians only ("foresatte merkes som
//!    brevmottakere"); messages (`message_email`) go to the guardians, pupils and
//!    staff named in the event. `internal` goes to the receiving school and an
//!    emergency `sms` to the school's roster, never to the event's persons.
//!    `none` sends nothing; its persons may only be named as recipients in the
//!    archive.
//! 3. A **protected address** (fortrolig / strengt fortrolig) is never written
//!    anywhere ([`postal_address`] is `None`). On a letter channel such a guardian
//!    receives the letter digitally only (`kunDigitalLevering`), and when that is
//!    impossible (no digital mailbox or no national id) the letter is **held** for
//!    a person at the school, never printed.
//!
//! 4. The **national contact and reservation register** (KRR), when enabled
//!    (`[delivery.contact_register]`), is asked about every guardian before a
//!    send, and its answer ([`RegisterFacts`]) is applied by [`with_register`]:
//!    the register's mobile, email and digital mailbox replace the event's (those
//!    `use_register_details` names); a person who may not be notified (not
//!    *kan varsles*, or not registered) keeps no mobile or email; a **reserved**
//!    person keeps no mobile, no email and no digital mailbox, and a letter to
//!    them is addressed on paper only ([`may_address_digitally`]). Rule 3 then
//!    holds a reserved guardian with a protected address. Pupils and staff are
//!    not looked up.
//!
//! The emergency SMS is not about a pupil: its audience is every pupil, guardian
//! and employee of the school with a mobile number (docs/domain.md §5), taken from the
//! roster by `sms::recipients`; rule 1 applies to documents about a pupil.

use crate::config::{ContactRegisterSettings, RegisterDetail};
use crate::document::Channel;
use crate::event::{Address, Recipient, RecipientKind};

/// What the contact register says about one person (the policy's part of its
/// answer). Holds contact details: never logged (its `Debug` hides them).
#[derive(Clone, PartialEq, Eq, Default)]
pub struct RegisterFacts {
    /// `reservasjon = JA`: reserved against digital communication.
    pub reserved: bool,
    /// `status = AKTIV` (not `SLETTET` or `IKKE_REGISTRERT`).
    pub active: bool,
    /// `varslingsstatus = KAN_VARSLES`.
    pub may_notify: bool,
    pub email: Option<String>,
    pub mobile: Option<String>,
    /// A `digital_postkasse` is registered.
    pub digital_mailbox: bool,
    /// `spraak` (`nb`, `nn`, `en`, `se`), for the letter's written standard.
    pub language: Option<String>,
}

crate::redacted_debug!(RegisterFacts {
    show: [reserved, active, may_notify, digital_mailbox, language],
    hide: [email, mobile],
});

/// Which of the register's details replace the event's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegisterUse {
    pub mobile: bool,
    pub email: bool,
    pub digital_mailbox: bool,
}

impl RegisterUse {
    pub fn from_settings(s: &ContactRegisterSettings) -> RegisterUse {
        RegisterUse {
            mobile: s.uses(RegisterDetail::Mobile),
            email: s.uses(RegisterDetail::Email),
            digital_mailbox: s.uses(RegisterDetail::DigitalMailbox),
        }
    }
}

/// Only guardians are looked up in the register (pupils and staff are not).
pub fn needs_register(r: &Recipient) -> bool {
    r.kind == RecipientKind::Guardian
        && r.parental_responsibility
        && r.national_id
            .as_deref()
            .is_some_and(crate::event::is_valid_national_id)
}

/// The person as the sends may use them once the register has answered (rule 4).
pub fn with_register(r: &Recipient, facts: &RegisterFacts, using: RegisterUse) -> Recipient {
    let mut out = r.clone();
    if using.email {
        out.email = facts.email.clone();
    }
    if using.mobile {
        out.mobile = facts.mobile.clone();
    }
    if using.digital_mailbox {
        out.digital_mail = facts.active && facts.digital_mailbox;
    }
    if !facts.active || !facts.may_notify {
        out.email = None;
        out.mobile = None;
    }
    if facts.reserved {
        out.email = None;
        out.mobile = None;
        out.digital_mail = false;
    }
    out
}

/// Whether a letter may name the person's national id for digital delivery
/// (SvarUt's `digitalId`): not when the register says they are reserved.
/// Without an answer (register off) as before: yes.
pub fn may_address_digitally(facts: Option<&RegisterFacts>) -> bool {
    !facts.is_some_and(|f| f.reserved)
}

/// Why a person named in the event is not a receiver of the document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exclusion {
    /// A guardian without parental responsibility.
    NoParentalResponsibility,
    /// The channel does not send to this kind of person (a pupil or staff member on
    /// a letter channel; anyone on `internal` or `sms`).
    NotThisChannel,
}

impl Exclusion {
    pub fn code(self) -> &'static str {
        match self {
            Exclusion::NoParentalResponsibility => "no_parental_responsibility",
            Exclusion::NotThisChannel => "not_a_receiver_on_channel",
        }
    }

    /// The explanation for the school (bokmål).
    pub fn explanation_nb(self) -> &'static str {
        match self {
            Exclusion::NoParentalResponsibility => {
                "Mottakeren er foresatt uten foreldreansvar og får ikke dokumenter om eleven."
            }
            Exclusion::NotThisChannel => "Mottakeren får ikke dokumentet på denne kanalen.",
        }
    }
}

/// Why a receiver's copy is held for a person instead of sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    /// Protected address, and no digital mailbox (or no national id) to deliver to.
    ProtectedAddressNotDigital,
}

impl Hold {
    pub fn code(self) -> &'static str {
        match self {
            Hold::ProtectedAddressNotDigital => "protected_address_not_digital",
        }
    }

    pub fn explanation_nb(self) -> &'static str {
        match self {
            Hold::ProtectedAddressNotDigital => {
                "Mottakeren har fortrolig adresse og kan ikke motta digital post. Brevet skrives aldri ut med adresse; det må håndteres manuelt av skolen."
            }
        }
    }
}

/// What the policy says about one person for one document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// A receiver. `digital_only`: the copy may reach them only digitally (their
    /// address is protected); it is never printed or posted.
    Receive { digital_only: bool },
    /// A receiver whose copy must not be sent automatically; a person handles it.
    Held(Hold),
    /// Not a receiver: sent nothing and named as receiver nowhere.
    Excluded(Exclusion),
}

impl Decision {
    /// Receives, or is held for a person: a receiver the school must reach.
    pub fn is_receiver(self) -> bool {
        !matches!(self, Decision::Excluded(_))
    }
}

/// Letters and login notices go to guardians only.
fn guardians_only(channel: Channel) -> bool {
    matches!(
        channel,
        Channel::Svarut | Channel::SvarutArchive | Channel::Notification
    )
}

/// Channels that may fall back to paper (SvarUt prints when there is no mailbox).
fn may_print(channel: Channel) -> bool {
    matches!(channel, Channel::Svarut | Channel::SvarutArchive)
}

/// The single decision: may `r` receive a document that leaves by `channel`, and how.
pub fn decide(channel: Channel, r: &Recipient) -> Decision {
    if r.kind == RecipientKind::Guardian && !r.parental_responsibility {
        return Decision::Excluded(Exclusion::NoParentalResponsibility);
    }
    if matches!(channel, Channel::Internal | Channel::Sms)
        || (guardians_only(channel) && r.kind != RecipientKind::Guardian)
    {
        return Decision::Excluded(Exclusion::NotThisChannel);
    }
    if r.protected_address {
        if may_print(channel) && !can_receive_digital_mail(r) {
            return Decision::Held(Hold::ProtectedAddressNotDigital);
        }
        return Decision::Receive { digital_only: true };
    }
    Decision::Receive {
        digital_only: false,
    }
}

/// A digital mailbox and a valid national id to address it by.
pub fn can_receive_digital_mail(r: &Recipient) -> bool {
    r.digital_mail
        && r.national_id
            .as_deref()
            .is_some_and(crate::event::is_valid_national_id)
}

/// The postal address that may be written for `r`: never a protected one.
pub fn postal_address(r: &Recipient) -> Option<&Address> {
    if r.protected_address {
        None
    } else {
        r.address.as_ref()
    }
}

/// The event's persons with the policy's decision for `channel`, receivers only
/// (held ones included), in the event's order.
pub fn receivers<'a>(
    channel: Channel,
    recipients: &'a [Recipient],
) -> impl Iterator<Item = (&'a Recipient, Decision)> + 'a {
    recipients
        .iter()
        .map(move |r| (r, decide(channel, r)))
        .filter(|(_, d)| d.is_receiver())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(kind: RecipientKind, pr: bool, protected: bool, digital: bool) -> Recipient {
        Recipient {
            kind,
            id: "p".into(),
            name: "Kari Nordmann".into(),
            national_id: crate::event::complete_national_id("010112345"),
            parental_responsibility: pr,
            digital_mail: digital,
            address: Some(Address {
                street: "Hemmeligveien 1".into(),
                postal_code: "0001".into(),
                city: "Oslo".into(),
                country: None,
            }),
            email: None,
            mobile: None,
            protected_address: protected,
        }
    }

    const ALL: [Channel; 7] = [
        Channel::Svarut,
        Channel::SvarutArchive,
        Channel::MessageEmail,
        Channel::Notification,
        Channel::Internal,
        Channel::Sms,
        Channel::None,
    ];

    #[test]
    fn a_guardian_without_parental_responsibility_gets_nothing_on_any_channel() {
        let g = person(RecipientKind::Guardian, false, false, true);
        for ch in ALL {
            assert_eq!(
                decide(ch, &g),
                Decision::Excluded(Exclusion::NoParentalResponsibility),
                "{ch:?}"
            );
        }
    }

    #[test]
    fn letters_go_to_guardians_and_messages_to_everyone_named() {
        let pupil = person(RecipientKind::Pupil, false, false, true);
        let staff = person(RecipientKind::Staff, false, false, true);
        for ch in [
            Channel::Svarut,
            Channel::SvarutArchive,
            Channel::Notification,
        ] {
            assert!(!decide(ch, &pupil).is_receiver(), "{ch:?}");
            assert!(!decide(ch, &staff).is_receiver(), "{ch:?}");
        }
        assert!(decide(Channel::MessageEmail, &pupil).is_receiver());
        assert!(decide(Channel::MessageEmail, &staff).is_receiver());
        let g = person(RecipientKind::Guardian, true, false, false);
        for ch in [Channel::Internal, Channel::Sms] {
            assert!(!decide(ch, &g).is_receiver(), "{ch:?}");
        }
        assert_eq!(
            decide(Channel::Svarut, &g),
            Decision::Receive {
                digital_only: false
            }
        );
    }

    #[test]
    fn the_register_decides_contact_details_reservation_and_notification() {
        let mut g = person(RecipientKind::Guardian, true, false, false);
        g.email = Some("fra-hendelsen@example.no".into());
        g.mobile = Some("+4790000000".into());
        let all = RegisterUse {
            mobile: true,
            email: true,
            digital_mailbox: true,
        };
        let facts = RegisterFacts {
            active: true,
            may_notify: true,
            email: Some("fra-registeret@example.no".into()),
            mobile: Some("+4791111111".into()),
            digital_mailbox: true,
            ..RegisterFacts::default()
        };
        let e = with_register(&g, &facts, all);
        assert_eq!(e.email.as_deref(), Some("fra-registeret@example.no"));
        assert_eq!(e.mobile.as_deref(), Some("+4791111111"));
        assert!(e.digital_mail);
        // Only the email from the register: the event's mobile and mailbox stay.
        let only_email = RegisterUse {
            mobile: false,
            email: true,
            digital_mailbox: false,
        };
        let e = with_register(&g, &facts, only_email);
        assert_eq!(e.mobile.as_deref(), Some("+4790000000"));
        assert!(!e.digital_mail);
        // Not kan varsles: no SMS or email, the mailbox stays.
        let stale = RegisterFacts {
            may_notify: false,
            ..facts.clone()
        };
        let e = with_register(&g, &stale, all);
        assert!(e.email.is_none() && e.mobile.is_none() && e.digital_mail);
        assert!(may_address_digitally(Some(&stale)));
        // Reserved: nothing digital at all, even with the event's details kept.
        let reserved = RegisterFacts {
            reserved: true,
            ..facts.clone()
        };
        let e = with_register(&g, &reserved, only_email);
        assert!(e.email.is_none() && e.mobile.is_none() && !e.digital_mail);
        assert!(!may_address_digitally(Some(&reserved)));
        assert!(may_address_digitally(None));
        // A reserved guardian with a protected address: the letter is held.
        let mut p = person(RecipientKind::Guardian, true, true, true);
        p = with_register(&p, &reserved, all);
        assert_eq!(
            decide(Channel::Svarut, &p),
            Decision::Held(Hold::ProtectedAddressNotDigital)
        );
        // The register's Debug shows no contact detail.
        let dbg = format!("{facts:?}");
        assert!(!dbg.contains("fra-registeret") && !dbg.contains("91111111"));
    }

    #[test]
    fn a_protected_address_is_digital_only_or_held_and_never_readable() {
        let digital = person(RecipientKind::Guardian, true, true, true);
        let paper = person(RecipientKind::Guardian, true, true, false);
        for ch in [Channel::Svarut, Channel::SvarutArchive] {
            assert_eq!(
                decide(ch, &digital),
                Decision::Receive { digital_only: true }
            );
            assert_eq!(
                decide(ch, &paper),
                Decision::Held(Hold::ProtectedAddressNotDigital)
            );
        }
        // Messages and notices are digital anyway.
        assert_eq!(
            decide(Channel::MessageEmail, &paper),
            Decision::Receive { digital_only: true }
        );
        assert!(postal_address(&digital).is_none());
        assert!(postal_address(&person(RecipientKind::Guardian, true, false, false)).is_some());
        // A mailbox without a valid national id cannot be addressed.
        let mut no_id = digital.clone();
        no_id.national_id = None;
        assert_eq!(
            decide(Channel::Svarut, &no_id),
            Decision::Held(Hold::ProtectedAddressNotDigital)
        );
    }
}
