//! Typed value -> Element, and conversions to and from xmpp-parsers' sm:3 types.

use minidom::Element;
use minidom::rxml::NcName;
use xmpp_parsers::sm as xp;

use super::{
    Ack, Enable, Enabled, Failed, Feature, HandledCountTooHigh, Nonza, Request, Resume, Resumed,
    SmId,
};
use crate::ns::{self, Namespace};

/// An attribute name known at compile time (the one place the crate makes one).
pub(crate) fn name(s: &'static str) -> NcName {
    // Invariant: only called with the literal names below, all valid NCNames; a typo would
    // fail every serialisation test.
    #[expect(
        clippy::expect_used,
        reason = "literal attribute names are valid NCNames"
    )]
    NcName::try_from(s).expect("literal attribute name is a valid NCName")
}

fn set(el: &mut Element, attr: &'static str, value: impl minidom::IntoAttributeValue) {
    el.set_attr(minidom::rxml::Namespace::NONE, name(attr), value);
}

impl From<Feature> for Element {
    fn from(f: Feature) -> Self {
        let mut el = Self::bare("sm", f.ns.as_str());
        set(&mut el, "max", f.max);
        set(&mut el, "stanzas", f.stanzas);
        if f.optional {
            el.append_child(Self::bare("optional", f.ns.as_str()));
        }
        el
    }
}

impl From<Enable> for Element {
    fn from(e: Enable) -> Self {
        let mut el = Self::bare("enable", e.ns.as_str());
        if e.resume {
            set(&mut el, "resume", "true");
        }
        set(&mut el, "max", e.max);
        el
    }
}

impl From<Enabled> for Element {
    fn from(e: Enabled) -> Self {
        let mut el = Self::bare("enabled", e.ns.as_str());
        set(&mut el, "id", e.id.map(String::from));
        if e.resume {
            set(&mut el, "resume", "true");
        }
        set(&mut el, "max", e.max);
        set(&mut el, "location", e.location);
        el
    }
}

impl From<Resume> for Element {
    fn from(r: Resume) -> Self {
        let mut el = Self::bare("resume", r.ns.as_str());
        set(&mut el, "previd", String::from(r.previd));
        set(&mut el, "h", r.h);
        el
    }
}

impl From<Resumed> for Element {
    fn from(r: Resumed) -> Self {
        let mut el = Self::bare("resumed", r.ns.as_str());
        set(&mut el, "previd", String::from(r.previd));
        set(&mut el, "h", r.h);
        el
    }
}

impl From<Failed> for Element {
    fn from(f: Failed) -> Self {
        let mut el = Self::bare("failed", f.ns.as_str());
        set(&mut el, "h", f.h);
        if let Some(condition) = f.condition {
            el.append_child(condition.into());
        }
        if let Some(text) = f.text {
            let mut t = Self::bare("text", ns::STANZAS);
            t.append_text(text);
            el.append_child(t);
        }
        el
    }
}

impl From<Request> for Element {
    fn from(r: Request) -> Self {
        let mut el = Self::bare("r", r.ns.as_str());
        set(&mut el, "u", r.u);
        set(&mut el, "h", r.h);
        el
    }
}

impl From<Ack> for Element {
    fn from(a: Ack) -> Self {
        let mut el = Self::bare("a", a.ns.as_str());
        set(&mut el, "h", a.h);
        set(&mut el, "u", a.u);
        el
    }
}

impl From<HandledCountTooHigh> for Element {
    fn from(e: HandledCountTooHigh) -> Self {
        let mut el = Self::bare("handled-count-too-high", e.ns.as_str());
        set(&mut el, "h", e.h);
        set(&mut el, "send-count", e.send_count);
        el
    }
}

impl From<Nonza> for Element {
    fn from(n: Nonza) -> Self {
        match n {
            Nonza::Enable(e) => e.into(),
            Nonza::Enabled(e) => e.into(),
            Nonza::Resume(e) => e.into(),
            Nonza::Resumed(e) => e.into(),
            Nonza::Failed(e) => e.into(),
            Nonza::Request(e) => e.into(),
            Nonza::Ack(e) => e.into(),
        }
    }
}

// xmpp-parsers models urn:xmpp:sm:3 only; these conversions let callers that already use its
// types mix them with ours.

impl TryFrom<xp::Nonza> for Nonza {
    type Error = super::ParseError;

    /// Converts an xmpp-parsers element; fails only on an SM-ID out of bounds.
    fn try_from(n: xp::Nonza) -> Result<Self, super::ParseError> {
        let ns = Namespace::Sm3;
        let id = |s: xp::StreamId| SmId::new(s.0);
        Ok(match n {
            xp::Nonza::Enable(e) => Self::Enable(Enable {
                ns,
                resume: e.resume,
                max: e.max,
            }),
            xp::Nonza::Enabled(e) => Self::Enabled(Enabled {
                ns,
                id: e.id.map(id).transpose()?,
                resume: e.resume,
                max: e.max,
                location: e.location,
            }),
            xp::Nonza::Resume(r) => Self::Resume(Resume {
                ns,
                previd: id(r.previd)?,
                h: Some(r.h),
            }),
            xp::Nonza::Resumed(r) => Self::Resumed(Resumed {
                ns,
                previd: id(r.previd)?,
                h: Some(r.h),
            }),
            xp::Nonza::Failed(f) => Self::Failed(Failed {
                ns,
                h: f.h,
                condition: f.error,
                text: None,
            }),
            xp::Nonza::Ack(a) => Self::Ack(Ack {
                ns,
                h: a.h,
                u: None,
            }),
            xp::Nonza::Req(_) => Self::Request(Request {
                ns,
                u: None,
                h: None,
            }),
        })
    }
}

impl TryFrom<Nonza> for xp::Nonza {
    type Error = Nonza;

    /// Converts an sm:3 element; anything in another namespace (or a `<resume/>`/`<resumed/>`
    /// without `h`, which sm:3 requires) is handed back unchanged.
    fn try_from(n: Nonza) -> Result<Self, Nonza> {
        if n.ns() != Namespace::Sm3 {
            return Err(n);
        }
        Ok(match n {
            Nonza::Enable(e) => Self::Enable(xp::Enable {
                max: e.max,
                resume: e.resume,
            }),
            Nonza::Enabled(e) => Self::Enabled(xp::Enabled {
                id: e.id.map(|i| xp::StreamId(i.0)),
                location: e.location,
                max: e.max,
                resume: e.resume,
            }),
            Nonza::Resume(Resume {
                previd, h: Some(h), ..
            }) => Self::Resume(xp::Resume {
                h,
                previd: xp::StreamId(previd.0),
            }),
            Nonza::Resumed(Resumed {
                previd, h: Some(h), ..
            }) => Self::Resumed(xp::Resumed {
                h,
                previd: xp::StreamId(previd.0),
            }),
            Nonza::Failed(f) => Self::Failed(xp::Failed {
                h: f.h,
                error: f.condition,
            }),
            Nonza::Ack(a) => Self::Ack(xp::A { h: a.h }),
            Nonza::Request(_) => Self::Req(xp::R),
            other => return Err(other),
        })
    }
}

impl From<xp::StreamManagement> for Feature {
    /// xmpp-parsers' `<sm xmlns='urn:xmpp:sm:3'/>` feature.
    fn from(f: xp::StreamManagement) -> Self {
        let mut feature = Self::new(Namespace::Sm3);
        feature.optional = f.optional;
        feature
    }
}

impl TryFrom<Feature> for xp::StreamManagement {
    type Error = Feature;

    /// An sm:3 feature; other dialects (and sm:1's `max`/`stanzas`) are handed back.
    fn try_from(f: Feature) -> Result<Self, Feature> {
        if f.ns != Namespace::Sm3 || f.max.is_some() || f.stanzas.is_some() {
            return Err(f);
        }
        Ok(Self {
            optional: f.optional,
        })
    }
}

impl From<xp::HandledCountTooHigh> for HandledCountTooHigh {
    /// xmpp-parsers' sm:3 condition.
    fn from(e: xp::HandledCountTooHigh) -> Self {
        Self::new(Namespace::Sm3, e.h, e.send_count)
    }
}

impl From<HandledCountTooHigh> for xp::HandledCountTooHigh {
    /// The same condition as xmpp-parsers models it (sm:3; the dialect is dropped).
    fn from(e: HandledCountTooHigh) -> Self {
        Self {
            h: e.h,
            send_count: e.send_count,
        }
    }
}
