//! `Debug` that never prints personal data.
//!
//! Stage: none; used by every type that holds a national id, a name, an address,
//! a phone number, an email address or document text (the event and its parts,
//! roster records, delivery jobs, outgoing letters and archive messages).
//! Input: a struct. Output: its `Debug` with those fields shown as `‹skjult›`.
//! Failure: none at run time; at compile time [`redacted_debug!`](crate::redacted_debug) destructures
//! the whole struct, so a field added later does not compile until it is listed
//! as shown or hidden — nobody can add a `mobile` and forget it.
//!
//! Why a 40-line macro and not a crate (`veil`, `redact`): it needs no
//! proc-macro dependency, it checks exhaustiveness, and the hidden form prints
//! nothing of the value (not its length, not its first letter), which is what a
//! log line about a child needs.

/// Shows a hidden field as `‹skjult›`, or `None` when an `Option` is empty,
/// so a log still says whether (for example) a recipient has a national id.
pub struct Hidden<'a, T: ?Sized>(pub &'a T);

/// What "hidden" prints for a value that is there.
pub const HIDDEN: &str = "‹skjult›";

/// Whether a hidden value is present; an empty `Option` is shown as `None`.
pub trait Presence {
    fn present(&self) -> bool {
        true
    }
}

impl<T> Presence for Option<T> {
    fn present(&self) -> bool {
        self.is_some()
    }
}
impl Presence for String {}
impl Presence for str {}
impl Presence for Vec<u8> {}
impl Presence for Vec<String> {}
impl Presence for chrono::NaiveDate {}
impl Presence for serde_json::Map<String, serde_json::Value> {}
impl<A, B> Presence for (A, B) {}

impl<T: Presence + ?Sized> std::fmt::Debug for Hidden<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.present() {
            f.write_str(HIDDEN)
        } else {
            f.write_str("None")
        }
    }
}

/// `impl Debug` for a struct: `show` fields print with their own `Debug`
/// (which must itself be safe), `hide` fields print as [`Hidden`].
#[macro_export]
macro_rules! redacted_debug {
    ($ty:ident { show: [$($show:ident),* $(,)?], hide: [$($hide:ident),* $(,)?] $(,)? }) => {
        impl ::std::fmt::Debug for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                // Exhaustive: every field is named here, as shown or hidden.
                let $ty { $($show,)* $($hide,)* } = self;
                f.debug_struct(stringify!($ty))
                    $( .field(stringify!($show), $show) )*
                    $( .field(stringify!($hide), &$crate::redact::Hidden($hide)) )*
                    .finish()
            }
        }
    };
}
