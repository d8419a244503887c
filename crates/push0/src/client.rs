//! The client side of XEP-0357: is push supported (§4.1), and the commands to enable (§5) and
//! disable (§6) it. The commands themselves are [`Enable`](crate::Enable) and [`Disable`](crate::Disable); this module adds
//! the discovery request and the reading of replies.
//!
//! ```
//! use xmpp_push0::{Enable, client};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let account: jid::BareJid = "juliet@capulet.example".parse()?;
//! let query = client::disco_request("d1", &account);
//! // ... the server answers:
//! let reply: minidom::Element = "<iq xmlns='jabber:client' type='result' id='d1'>\
//!     <query xmlns='http://jabber.org/protocol/disco#info'>\
//!     <feature var='urn:xmpp:push:0'/></query></iq>".parse()?;
//! assert!(client::supports_push(&reply)?);
//! let enable = Enable::new("push.example".parse()?, "node-1").with_secret("s3cret");
//! let iq = enable.to_iq("e1");
//! assert_eq!(iq.attr("type"), Some("set"));
//! # let _ = query; Ok(()) }
//! ```

use jid::BareJid;
use minidom::Element;
use xmpp_parsers::stanza_error::StanzaError;

use crate::elements::{PushDisco, disco};
use crate::error::ParseError;
use crate::xml;

/// The disco#info request to the user's own account (XEP-0357 §4.1: "MUST send a ...
/// information query to the user's bare JID").
#[must_use]
pub fn disco_request(id: &str, account: &BareJid) -> Element {
    disco::info_request(id, &account.clone().into())
}

/// Whether the disco#info result advertises `urn:xmpp:push:0`.
///
/// # Errors
/// [`ParseError::Mismatch`] when `reply` holds no disco#info `<query/>`.
pub fn supports_push(reply: &Element) -> Result<bool, ParseError> {
    PushDisco::try_from(reply).map(|d| d.supports_push)
}

/// The outcome of a command reply: `Ok` for a result, the error for an error (an error that
/// does not parse reads as `None`), `None` for anything that is not an iq result or error.
#[must_use]
pub fn reply_outcome(reply: &Element) -> Option<Result<(), Option<StanzaError>>> {
    if !xml::is_stanza(reply, "iq") {
        return None;
    }
    match reply.attr("type") {
        Some("result") => Some(Ok(())),
        Some("error") => Some(Err(xml::stanza_error(reply))),
        _ => None,
    }
}
