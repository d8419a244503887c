//! Typed XEP-0357 elements, parsed from and serialised to [`minidom::Element`].
//!
//! | element | type | XEP-0357 |
//! |---|---|---|
//! | `<enable/>`, `<disable/>` | [`Enable`], [`Disable`] | §5, §6 |
//! | `<notification/>` and its summary form | [`Notification`], [`Summary`] | §7, §11.3 |
//! | publish options (the app server's secret) | [`PublishOptions`] | §5, §7 |
//! | the publish iq's `<pubsub/>` | [`Publish`] | §7 |
//! | the affiliation change notice | [`AffiliationChange`] | §8 |
//! | disco#info | [`PushDisco`], [`disco`] | §4 |
//!
//! xmpp-parsers' `push`, `pubsub` and `data_forms` types are used where they fit and
//! converted to and from; each type's docs say where real peers need more than they accept:
//! - data forms without `type` (every form in the XEP's examples) and `FORM_TYPE` fields
//!   without `type='hidden'` are accepted (see [`Summary`] and [`PublishOptions`]);
//! - the summary keeps the form type it came in: Prosody sends `form`, ejabberd `submit`;
//! - [`Enable::jid`] is any JID, not only a bare one;
//! - the remote-disable notice has a shape xmpp-parsers' `PubSub` refuses
//!   ([`AffiliationChange`]);
//! - stanzas may be in `jabber:client`, `jabber:server` or `jabber:component:accept`.
//!
//! Parsing ignores unknown attributes and children where XEP-0357 allows extension, and is
//! strict where a value matters (JIDs, counts).

mod affiliation;
pub mod disco;
mod enable;
mod form;
mod publish;

pub use self::affiliation::AffiliationChange;
pub use self::disco::PushDisco;
pub use self::enable::{Disable, Enable};
pub use self::form::{PublishOptions, Summary};
pub use self::publish::{Notification, Publish};

#[cfg(test)]
mod tests;
