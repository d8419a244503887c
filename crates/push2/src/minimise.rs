//! The minimiser: a stanza made to fit a notification's size budget.
//!
//! The encrypted send profile forwards the stanza inside a XEP-0420 envelope, and one Web
//! Push message carries at most 3993 octets of it (RFC 8291), or fewer when the notification
//! must also fit an APNs relay ([`SizeBudget`](crate::SizeBudget)). The seed: "the stanza may
//! have some elements removed, body truncated, etc ... Servers SHOULD ensure that at least
//! the MAM id (if there is one) is still present". [`minimise`] tries, in order, until the
//! envelope fits ([`Level`]):
//!
//! 1. the stanza as it is (with the MAM `<stanza-id/>` the server gave, replacing any that
//!    claims to be by the account);
//! 2. only what a client needs to show it: bodies, subject and thread, the MAM id and other
//!    stanza ids, end-to-end encrypted payloads, file links (XEP-0066), call signalling
//!    (XEP-0353), room invitations (XEP-0249) and XEP-0420 content; `from`, `to`, `id`,
//!    `type` and `xml:lang`;
//! 3. one body, without its quoted lines (XEP-0393 `>` lines);
//! 4. that body truncated on a character boundary, ending in `…`;
//! 5. only the body (truncated), stanza ids, call signalling and invitations;
//! 6. no body: `from`, `type`, `id`, the MAM id and call signalling;
//! 7. the MAM id alone.
//!
//! The first form that fits is used, so a stanza that fits is forwarded unchanged. Only the
//! MAM id and the message's `type` are never dropped; if even step 7 does not fit the budget,
//! [`BuildError::DoesNotFit`].

use jid::{BareJid, Jid};
use minidom::Element;
use minidom::rxml::xml_ncname;
use xmpp_parsers::forwarding::Forwarded;
use xmpp_parsers::message::Message;
use xmpp_push2_crypto::{Envelope, EnvelopeBytes};
use xmpp_tether_core::Now;

use crate::error::BuildError;
use crate::ns;
use crate::xml;

/// How far [`minimise`] had to go (the steps of the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Level {
    /// The stanza as it came.
    Unchanged,
    /// Non-essential children and attributes dropped.
    Essentials,
    /// One body, quoted lines dropped.
    Unquoted,
    /// The body truncated.
    Truncated,
    /// Only the body, ids, calls and invitations.
    Bare,
    /// No body.
    NoBody,
    /// The MAM id alone.
    IdOnly,
}

/// A stanza's envelope within the budget.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Minimised {
    /// The envelope (no `<rpad/>` yet).
    pub envelope: Envelope,
    /// The envelope as written ([`Envelope::to_unpadded`]), kept from the measurement so each
    /// registration only pads it ([`EnvelopeBytes::to_padded_bytes`]).
    pub bytes: EnvelopeBytes,
    /// Its serialised length, at most the budget.
    pub len: usize,
    /// How far the minimiser went.
    pub level: Level,
}

/// The MAM id to keep: the account (the `by`) and the archive id.
#[derive(Debug, Clone, Copy)]
pub struct ArchiveId<'a> {
    /// The account whose archive holds it.
    pub by: &'a BareJid,
    /// The id.
    pub id: &'a str,
}

/// Fits `message` (a `<message/>` in any stanza namespace) into an envelope of at most
/// `budget` octets, keeping `archive` as a `<stanza-id/>`; with `time`, the envelope carries
/// a `<time/>` affix.
///
/// # Errors
/// [`BuildError::DoesNotFit`] when even the MAM id alone does not fit.
pub fn minimise(
    message: &Element,
    budget: usize,
    archive: Option<ArchiveId<'_>>,
    time: Option<Now>,
) -> Result<Minimised, BuildError> {
    let stanza_id = archive.map(stanza_id);
    let base = with_stanza_id(xml::to_client_ns(message), stanza_id.as_ref(), archive);
    let measure = |el: &Element| measure(el, time);
    if let Some((envelope, bytes)) = measure(&base)
        && bytes.len() <= budget
    {
        return Ok(Minimised {
            envelope,
            len: bytes.len(),
            bytes,
            level: Level::Unchanged,
        });
    }
    let keep = |c: &Element| is_essential(c);
    let essentials = rebuild(&base, Attrs::All, |c| keep(c));
    if let Some(found) = fits(&essentials, budget, Level::Essentials, &measure) {
        return Ok(found);
    }
    let body = primary_body(&base);
    if let Some(body) = &body {
        let unquoted = unquote(body);
        let without_body = rebuild(&base, Attrs::All, |c| keep(c) && !is_body(c));
        let one = with_body(&without_body, &unquoted);
        if let Some(found) = fits(&one, budget, Level::Unquoted, &measure) {
            return Ok(found);
        }
        if let Some(found) = truncated(&without_body, &unquoted, budget, Level::Truncated, &measure)
        {
            return Ok(found);
        }
        let bare = rebuild(&base, Attrs::All, is_bare_keep);
        if let Some(found) = truncated(&bare, &unquoted, budget, Level::Bare, &measure) {
            return Ok(found);
        }
    }
    let no_body = rebuild(&base, Attrs::Identity, |c| {
        c.has_ns(ns::JINGLE_MESSAGE) || is_archive_id(c, archive)
    });
    if let Some(found) = fits(&no_body, budget, Level::NoBody, &measure) {
        return Ok(found);
    }
    let id_only = rebuild(&base, Attrs::TypeOnly, |c| is_archive_id(c, archive));
    match measure(&id_only) {
        Some((envelope, bytes)) if bytes.len() <= budget => Ok(Minimised {
            envelope,
            len: bytes.len(),
            bytes,
            level: Level::IdOnly,
        }),
        Some((_, bytes)) => Err(BuildError::DoesNotFit {
            len: bytes.len(),
            limit: budget,
        }),
        // Only an unwritable MAM id or account can make this form unwritable.
        None => Err(BuildError::DoesNotFit {
            len: usize::MAX,
            limit: budget,
        }),
    }
}

fn fits(
    el: &Element,
    budget: usize,
    level: Level,
    measure: &impl Fn(&Element) -> Option<(Envelope, EnvelopeBytes)>,
) -> Option<Minimised> {
    let (envelope, bytes) = measure(el)?;
    (bytes.len() <= budget).then_some(Minimised {
        envelope,
        len: bytes.len(),
        bytes,
        level,
    })
}

/// The envelope of `el` and its serialisation, if `el` is a message XML can carry.
fn measure(el: &Element, time: Option<Now>) -> Option<(Envelope, EnvelopeBytes)> {
    // `to_unpadded` refuses text XML cannot carry (minidom's writer would panic on it).
    let message = Message::try_from(el.clone()).ok()?;
    let mut envelope = Envelope::new(Forwarded {
        delay: None,
        message,
    });
    if let Some(now) = time {
        envelope = envelope.with_time(now);
    }
    let bytes = envelope.to_unpadded().ok()?;
    Some((envelope, bytes))
}

/// `without_body` with the longest prefix of `body` (then `…`) that fits.
fn truncated(
    without_body: &Element,
    body: &str,
    budget: usize,
    level: Level,
    measure: &impl Fn(&Element) -> Option<(Envelope, EnvelopeBytes)>,
) -> Option<Minimised> {
    const ELLIPSIS: char = '…';
    let base_len = measure(&with_body(without_body, &ELLIPSIS.to_string()))?
        .1
        .len();
    let room = budget.checked_sub(base_len)?;
    let mut used = 0;
    let mut end = 0;
    for (at, c) in body.char_indices() {
        let cost = xml::escaped_text_len(c);
        if used + cost > room {
            break;
        }
        used += cost;
        end = at + c.len_utf8();
    }
    // The escaping count is exact for rxml's writer; should it ever disagree, halve until
    // the envelope fits.
    let mut prefix = &body[..end];
    for _ in 0..16 {
        let mut text = prefix.trim_end().to_owned();
        text.push(ELLIPSIS);
        if let Some(found) = fits(&with_body(without_body, &text), budget, level, measure) {
            return Some(found);
        }
        let half = prefix.len() / 2;
        let cut = (0..=half).rev().find(|&i| prefix.is_char_boundary(i))?;
        prefix = &prefix[..cut];
    }
    None
}

/// Which top-level attributes a rebuilt message keeps.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Attrs {
    /// `from`, `to`, `id`, `type`, `xml:lang`.
    All,
    /// `from`, `id`, `type`.
    Identity,
    /// `type`.
    TypeOnly,
}

/// A `jabber:client` message with `base`'s attributes (as `attrs` says, invalid ones left
/// out) and the children `keep` selects, in order.
fn rebuild(base: &Element, attrs: Attrs, keep: impl Fn(&Element) -> bool) -> Element {
    let mut out = Element::bare("message", ns::JABBER_CLIENT);
    if let Some(t) = base.attr("type")
        && matches!(t, "chat" | "error" | "groupchat" | "headline" | "normal")
    {
        xml::set(&mut out, xml_ncname!("type"), t);
    }
    if attrs != Attrs::TypeOnly {
        if let Some(from) = base.attr("from").filter(|f| f.parse::<Jid>().is_ok()) {
            xml::set(&mut out, xml_ncname!("from"), from);
        }
        if let Some(id) = base.attr("id") {
            xml::set(&mut out, xml_ncname!("id"), id);
        }
    }
    if attrs == Attrs::All {
        if let Some(to) = base.attr("to").filter(|t| t.parse::<Jid>().is_ok()) {
            xml::set(&mut out, xml_ncname!("to"), to);
        }
        if let Some(lang) = xml::lang(base) {
            out.set_attr(
                minidom::rxml::Namespace::XML,
                xml_ncname!("lang").to_owned(),
                lang,
            );
        }
    }
    for child in base.children().filter(|c| keep(c)) {
        out.append_child(child.clone());
    }
    out
}

fn with_body(without_body: &Element, text: &str) -> Element {
    let mut el = without_body.clone();
    el.append_child(xml::text_element("body", ns::JABBER_CLIENT, text));
    el
}

/// The `<stanza-id/>` for the account's archive.
fn stanza_id(archive: ArchiveId<'_>) -> Element {
    let mut el = Element::bare("stanza-id", ns::SID);
    xml::set(&mut el, xml_ncname!("by"), archive.by.to_string());
    xml::set(&mut el, xml_ncname!("id"), xml::clean_text(archive.id));
    el
}

/// `message` with `id` in place of any stanza id that claims to be by the account (XEP-0359
/// §5: a server strips those before adding its own).
fn with_stanza_id(
    mut message: Element,
    id: Option<&Element>,
    archive: Option<ArchiveId<'_>>,
) -> Element {
    let (Some(id), Some(archive)) = (id, archive) else {
        return message;
    };
    let by = archive.by.to_string();
    let claims_ours = |c: &Element| c.is("stanza-id", ns::SID) && c.attr("by") == Some(&by);
    if message.children().any(&claims_ours) {
        let kept: Vec<Element> = message
            .children()
            .filter(|c| !claims_ours(c))
            .cloned()
            .collect();
        let attrs = message.clone();
        message = rebuild_with_children(&attrs, kept);
    }
    message.append_child(id.clone());
    message
}

/// `base` with its own attributes and namespace, and `children` as its only children.
fn rebuild_with_children(base: &Element, children: Vec<Element>) -> Element {
    let mut out = Element::builder(base.name(), base.ns()).build();
    xml::copy_attrs(base, &mut out);
    for child in children {
        out.append_child(child);
    }
    out
}

fn is_archive_id(c: &Element, archive: Option<ArchiveId<'_>>) -> bool {
    archive.is_some_and(|a| {
        c.is("stanza-id", ns::SID)
            && c.attr("id").is_some_and(|id| id == xml::clean_text(a.id))
            && c.attr("by").is_some_and(|by| by == a.by.to_string())
    })
}

fn is_body(c: &Element) -> bool {
    c.name() == "body" && c.has_ns(ns::JABBER_CLIENT)
}

/// The children a client needs to show the message.
fn is_essential(c: &Element) -> bool {
    if c.has_ns(ns::JABBER_CLIENT) {
        return matches!(c.name(), "body" | "subject" | "thread");
    }
    const KEEP: [&str; 11] = [
        ns::SID,
        ns::OOB,
        ns::OMEMO_LEGACY,
        ns::OMEMO_0,
        ns::OMEMO_2,
        ns::PGP_LEGACY,
        ns::OPENPGP,
        ns::SCE,
        ns::JINGLE_MESSAGE,
        ns::CONFERENCE,
        ns::REPLY,
    ];
    KEEP.iter().any(|n| c.has_ns(*n))
}

/// What step 5 keeps besides the body.
fn is_bare_keep(c: &Element) -> bool {
    c.has_ns(ns::SID) || c.has_ns(ns::JINGLE_MESSAGE) || c.has_ns(ns::CONFERENCE)
}

/// The body a truncation works on: the one without `xml:lang`, else the first.
fn primary_body(message: &Element) -> Option<String> {
    let bodies = || message.children().filter(|c| is_body(c));
    bodies()
        .find(|b| xml::lang(b).is_none())
        .or_else(|| bodies().next())
        .map(|b| xml::clean_text(&b.text()))
}

/// `body` without its quoted lines (XEP-0393 block quotes: lines starting with `>`).
fn unquote(body: &str) -> String {
    let kept: Vec<&str> = body
        .lines()
        .filter(|line| !line.trim_start().starts_with('>'))
        .collect();
    kept.join("\n").trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Now {
        Now::new(
            xmpp_tether_core::Monotonic::ZERO,
            std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000),
        )
    }

    fn account() -> BareJid {
        "juliet@capulet.lit".parse().unwrap()
    }

    fn message(body: &str, extra: &str) -> Element {
        format!(
            "<message xmlns='jabber:client' from='romeo@montague.lit/orchard' \
             to='juliet@capulet.lit' type='chat' id='m1'><body>{body}</body>{extra}</message>"
        )
        .parse()
        .unwrap()
    }

    fn id(envelope: &Envelope) -> Option<String> {
        envelope
            .forwarded
            .message
            .payloads
            .iter()
            .find(|p| p.is("stanza-id", ns::SID))
            .and_then(|p| p.attr("id").map(str::to_owned))
    }

    #[test]
    fn a_small_stanza_is_forwarded_as_it_is_with_the_mam_id() {
        let account = account();
        let archive = ArchiveId {
            by: &account,
            id: "mam-1",
        };
        let m = message(
            "hi",
            "<active xmlns='http://jabber.org/protocol/chatstates'/>",
        );
        let out = minimise(&m, 2847, Some(archive), Some(now())).unwrap();
        assert_eq!(out.level, Level::Unchanged);
        assert_eq!(id(&out.envelope).as_deref(), Some("mam-1"));
        assert_eq!(out.envelope.forwarded.message.payloads.len(), 2);
        assert!(out.envelope.time.is_some());
    }

    #[test]
    fn a_forged_stanza_id_by_the_account_is_replaced() {
        let account = account();
        let archive = ArchiveId {
            by: &account,
            id: "real",
        };
        let m = message(
            "hi",
            "<stanza-id xmlns='urn:xmpp:sid:0' by='juliet@capulet.lit' id='forged'/>",
        );
        let out = minimise(&m, 2847, Some(archive), None).unwrap();
        let ids: Vec<_> = out
            .envelope
            .forwarded
            .message
            .payloads
            .iter()
            .filter_map(|p| p.attr("id"))
            .collect();
        assert_eq!(ids, ["real"]);
    }

    #[test]
    fn each_step_is_taken_in_turn() {
        let account = account();
        let archive = Some(ArchiveId {
            by: &account,
            id: "mam-7",
        });
        let junk = format!("<junk xmlns='urn:example:junk'>{}</junk>", "j".repeat(3000));
        let out = minimise(&message("hello", &junk), 1000, archive, None).unwrap();
        assert_eq!(out.level, Level::Essentials);
        let quoted = format!("&gt; {}\nmy answer", "q".repeat(3000));
        let out = minimise(&message(&quoted, ""), 1000, archive, None).unwrap();
        assert_eq!(out.level, Level::Unquoted);
        assert_eq!(
            out.envelope.forwarded.message.bodies[""],
            "my answer".to_owned()
        );
        let long = "é".repeat(3000);
        let out = minimise(&message(&long, ""), 1000, archive, None).unwrap();
        assert_eq!(out.level, Level::Truncated);
        assert!(out.len <= 1000 && out.len > 950, "{}", out.len);
        let body = &out.envelope.forwarded.message.bodies[""];
        assert!(body.ends_with('…') && body.starts_with("éé"));
        assert_eq!(id(&out.envelope).as_deref(), Some("mam-7"));
        let out = minimise(&message("x", ""), 100, archive, None);
        assert!(matches!(out, Err(BuildError::DoesNotFit { .. })), "{out:?}");
    }

    #[test]
    fn quotes_go_and_the_rest_stays() {
        assert_eq!(unquote("> a\nb\n  > c\nd"), "b\nd");
        assert_eq!(unquote("> only"), "");
    }
}
