//! Unit tests of the elements: the specs' own examples, every [`ParseError`] variant, the
//! xmpp-parsers conversions, the handled-count-too-high stream error, and property tests
//! (typed -> Element -> typed is the identity; no attribute value panics the parser).

use minidom::Element;
use xmpp_parsers::sm as xp;
use xmpp_parsers::stanza_error::DefinedCondition;
use xmpp_parsers::stream_error::{self, StreamError};

use super::*;
use crate::ns::{self, Namespace};

fn el(xml: &str) -> Element {
    xml.parse()
        .unwrap_or_else(|e| panic!("test XML {xml:?} must parse: {e}"))
}

fn nonza(xml: &str) -> Result<Nonza, ParseError> {
    Nonza::try_from(&el(xml))
}

fn id(s: &str) -> SmId {
    SmId::new(s).expect("valid SM-ID")
}

// --- The specs' examples, pasted ---

#[test]
fn xep0198_example_2_enable() {
    assert_eq!(
        nonza("<enable xmlns='urn:xmpp:sm:3'/>"),
        Ok(Nonza::Enable(Enable::new(Namespace::Sm3)))
    );
}

#[test]
fn xep0198_example_8_enable_resume_and_max() {
    assert_eq!(
        nonza("<enable xmlns='urn:xmpp:sm:3' resume='true'/>"),
        Ok(Nonza::Enable(Enable::new(Namespace::Sm3).with_resume()))
    );
    // XML Schema booleans: "1" is true, "0" and "false" are false.
    assert_eq!(
        nonza("<enable xmlns='urn:xmpp:sm:3' resume='1' max='300'/>"),
        Ok(Nonza::Enable(
            Enable::new(Namespace::Sm3).with_resume().with_max(300)
        ))
    );
    for no in ["0", "false"] {
        let xml = format!("<enable xmlns='urn:xmpp:sm:3' resume='{no}'/>");
        assert_eq!(nonza(&xml), Ok(Nonza::Enable(Enable::new(Namespace::Sm3))));
    }
}

#[test]
fn xep0198_example_11_enabled_with_location() {
    let xml = "<enabled xmlns='urn:xmpp:sm:3' id='some-long-sm-id' \
               location='[2001:41D0:1:A49b::1]:9222' resume='true'/>";
    assert_eq!(
        nonza(xml),
        Ok(Nonza::Enabled(
            Enabled::new(Namespace::Sm3)
                .with_resume(id("some-long-sm-id"))
                .with_location("[2001:41D0:1:A49b::1]:9222")
        ))
    );
}

#[test]
fn xep0198_example_10_enabled_id_without_resume() {
    let Ok(Nonza::Enabled(enabled)) =
        nonza("<enabled xmlns='urn:xmpp:sm:3' id='some-long-sm-id'/>")
    else {
        panic!("<enabled/> must parse");
    };
    assert_eq!(enabled.id, Some(id("some-long-sm-id")));
    assert!(!enabled.resume);
}

#[test]
fn xep0198_examples_12_13_resume_and_resumed_with_numbers() {
    // The spec's placeholders replaced by numbers.
    assert_eq!(
        nonza("<resume xmlns='urn:xmpp:sm:3' h='5' previd='some-long-sm-id'/>"),
        Ok(Nonza::Resume(Resume {
            ns: Namespace::Sm3,
            previd: id("some-long-sm-id"),
            h: Some(5),
        }))
    );
    assert_eq!(
        nonza("<resumed xmlns='urn:xmpp:sm:2' h='4294967295' previd='x'/>"),
        Ok(Nonza::Resumed(Resumed {
            ns: Namespace::Sm2,
            previd: id("x"),
            h: Some(u32::MAX),
        }))
    );
}

#[test]
fn xep0198_example_14_failed_with_h() {
    let xml = "<failed xmlns='urn:xmpp:sm:3' h='12'>\
               <item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></failed>";
    assert_eq!(
        nonza(xml),
        Ok(Nonza::Failed(
            Failed::new(Namespace::Sm3, DefinedCondition::ItemNotFound).with_h(12)
        ))
    );
}

#[test]
fn failed_text_and_extensions() {
    // Not defined by 1.6.3 but sent by some servers: <text/> is kept, foreign children
    // ignored, and a <failed/> without a condition is allowed by the schema.
    let xml = "<failed xmlns='urn:xmpp:sm:3'><x xmlns='urn:example'/>\
               <text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>too many</text>\
               <unexpected-request xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></failed>";
    assert_eq!(
        nonza(xml),
        Ok(Nonza::Failed(
            Failed::new(Namespace::Sm3, DefinedCondition::UnexpectedRequest).with_text("too many")
        ))
    );
    assert_eq!(
        nonza("<failed xmlns='urn:xmpp:sm:3'/>"),
        Ok(Nonza::Failed(Failed {
            ns: Namespace::Sm3,
            h: None,
            condition: None,
            text: None,
        }))
    );
}

#[test]
fn xep0198_section_8_acks_and_requests() {
    assert_eq!(
        nonza("<r xmlns='urn:xmpp:sm:3'/>"),
        Ok(Nonza::Request(Request {
            ns: Namespace::Sm3,
            u: None,
            h: None,
        }))
    );
    assert_eq!(
        nonza("<a xmlns='urn:xmpp:sm:3' h='3'/>"),
        Ok(Nonza::Ack(Ack {
            ns: Namespace::Sm3,
            h: 3,
            u: None,
        }))
    );
    // sm:1 attributes mean nothing in sm:3: ignored there.
    assert_eq!(
        nonza("<r xmlns='urn:xmpp:sm:3' u='4' h='2'/>"),
        Ok(Nonza::Request(Request {
            ns: Namespace::Sm3,
            u: None,
            h: None,
        }))
    );
}

#[test]
fn seed_examples_sm1() {
    // XEP-0198 0.7 Example 7 and the prose: <r/> MUST carry u, MAY carry h.
    assert_eq!(
        nonza("<r xmlns='urn:xmpp:sm:1' u='1'/>"),
        Ok(Nonza::Request(Request {
            ns: Namespace::Sm1,
            u: Some(1),
            h: None,
        }))
    );
    assert_eq!(
        nonza("<r xmlns='urn:xmpp:sm:1' u='3' h='2'/>"),
        Ok(Nonza::Request(Request {
            ns: Namespace::Sm1,
            u: Some(3),
            h: Some(2),
        }))
    );
    assert_eq!(
        nonza("<a xmlns='urn:xmpp:sm:1' h='1' u='7'/>"),
        Ok(Nonza::Ack(Ack {
            ns: Namespace::Sm1,
            h: 1,
            u: Some(7),
        }))
    );
    // Example 12: <resumed/> without h is allowed in sm:1 only.
    assert_eq!(
        nonza("<resumed xmlns='urn:xmpp:sm:1' previd='some-long-sm-id'/>"),
        Ok(Nonza::Resumed(Resumed {
            ns: Namespace::Sm1,
            previd: id("some-long-sm-id"),
            h: None,
        }))
    );
    // Example 3: <sm/> with max and stanzas.
    let feature = Feature::try_from(&el(
        "<sm xmlns='urn:xmpp:sm:1' max='600' stanzas='10'><optional/></sm>",
    ));
    assert_eq!(
        feature,
        Ok(Feature {
            ns: Namespace::Sm1,
            optional: true,
            max: Some(600),
            stanzas: Some(10),
        })
    );
}

#[test]
fn sm3_feature_ignores_seed_attributes() {
    assert_eq!(
        Feature::try_from(&el("<sm xmlns='urn:xmpp:sm:3' max='600' stanzas='x'/>")),
        Ok(Feature::new(Namespace::Sm3))
    );
    assert_eq!(
        Feature::try_from(&el("<sm xmlns='urn:xmpp:sm:2'><optional/></sm>")),
        Ok(Feature {
            optional: true,
            ..Feature::new(Namespace::Sm2)
        })
    );
}

// --- Every ParseError variant ---

#[test]
fn error_not_stream_management() {
    let carbons = el("<enable xmlns='urn:xmpp:carbons:2'/>");
    let want = ParseError::NotStreamManagement {
        name: "enable".to_owned(),
    };
    assert_eq!(Nonza::try_from(&carbons), Err(want.clone()));
    assert_eq!(Feature::try_from(&carbons), Err(want.clone()));
    assert_eq!(HandledCountTooHigh::try_from(&carbons), Err(want));
    let message = el("<message xmlns='jabber:client'/>");
    assert_eq!(
        Nonza::try_from(&message),
        Err(ParseError::NotStreamManagement {
            name: "message".to_owned()
        })
    );
}

#[test]
fn error_unknown_element() {
    // The seed's throttling <t/> was removed in 1.2; it is unknown in every dialect.
    assert_eq!(
        nonza("<t xmlns='urn:xmpp:sm:2'/>"),
        Err(ParseError::UnknownElement {
            name: "t".to_owned(),
            ns: Namespace::Sm2,
        })
    );
    assert_eq!(
        Feature::try_from(&el("<enable xmlns='urn:xmpp:sm:3'/>")),
        Err(ParseError::UnknownElement {
            name: "enable".to_owned(),
            ns: Namespace::Sm3,
        })
    );
    assert_eq!(
        HandledCountTooHigh::try_from(&el("<a xmlns='urn:xmpp:sm:1' h='1'/>")),
        Err(ParseError::UnknownElement {
            name: "a".to_owned(),
            ns: Namespace::Sm1,
        })
    );
    assert_eq!(
        nonza("<sm xmlns='urn:xmpp:sm:3'/>"),
        Err(ParseError::UnknownElement {
            name: "sm".to_owned(),
            ns: Namespace::Sm3,
        })
    );
}

#[test]
fn error_missing_attribute() {
    let missing = |element, attribute| ParseError::MissingAttribute { element, attribute };
    assert_eq!(nonza("<a xmlns='urn:xmpp:sm:3'/>"), Err(missing("a", "h")));
    // The seed's scenario examples: <a u='1'/> without h, rejected (the prose wins).
    assert_eq!(
        nonza("<a xmlns='urn:xmpp:sm:1' u='1'/>"),
        Err(missing("a", "h"))
    );
    assert_eq!(nonza("<r xmlns='urn:xmpp:sm:1'/>"), Err(missing("r", "u")));
    assert_eq!(
        nonza("<r xmlns='urn:xmpp:sm:1' h='1'/>"),
        Err(missing("r", "u"))
    );
    assert_eq!(
        nonza("<resume xmlns='urn:xmpp:sm:3' h='1'/>"),
        Err(missing("resume", "previd"))
    );
    assert_eq!(
        nonza("<resume xmlns='urn:xmpp:sm:2' previd='x'/>"),
        Err(missing("resume", "h"))
    );
    assert_eq!(
        nonza("<resume xmlns='urn:xmpp:sm:3' previd='x'/>"),
        Err(missing("resume", "h"))
    );
    assert_eq!(
        nonza("<resumed xmlns='urn:xmpp:sm:3' h='0'/>"),
        Err(missing("resumed", "previd"))
    );
    assert_eq!(
        nonza("<resumed xmlns='urn:xmpp:sm:3' previd='x'/>"),
        Err(missing("resumed", "h"))
    );
    assert_eq!(
        HandledCountTooHigh::try_from(&el("<handled-count-too-high xmlns='urn:xmpp:sm:3' h='2'/>")),
        Err(missing("handled-count-too-high", "send-count"))
    );
    assert_eq!(
        HandledCountTooHigh::try_from(&el(
            "<handled-count-too-high xmlns='urn:xmpp:sm:3' send-count='2'/>"
        )),
        Err(missing("handled-count-too-high", "h"))
    );
}

#[test]
fn error_invalid_number() {
    let invalid = |element, attribute, value: &str| ParseError::InvalidNumber {
        element,
        attribute,
        value: value.to_owned(),
    };
    // The seed's Example 11.
    assert_eq!(
        nonza("<resume xmlns='urn:xmpp:sm:1' previd='some-long-sm-id' h='foo'/>"),
        Err(invalid("resume", "h", "foo"))
    );
    for bad in ["-1", "4294967296", " 1", "1 ", "", "0x10", "1.0", "١"] {
        let xml = format!("<a xmlns='urn:xmpp:sm:3' h='{bad}'/>");
        assert_eq!(nonza(&xml), Err(invalid("a", "h", bad)), "h={bad:?}");
    }
    assert_eq!(
        nonza("<enable xmlns='urn:xmpp:sm:3' max='forever'/>"),
        Err(invalid("enable", "max", "forever"))
    );
    assert_eq!(
        nonza("<enabled xmlns='urn:xmpp:sm:3' max='-5'/>"),
        Err(invalid("enabled", "max", "-5"))
    );
    assert_eq!(
        nonza("<r xmlns='urn:xmpp:sm:1' u='x'/>"),
        Err(invalid("r", "u", "x"))
    );
    assert_eq!(
        nonza("<r xmlns='urn:xmpp:sm:1' u='1' h='y'/>"),
        Err(invalid("r", "h", "y"))
    );
    assert_eq!(
        nonza("<failed xmlns='urn:xmpp:sm:3' h='z'/>"),
        Err(invalid("failed", "h", "z"))
    );
    assert_eq!(
        Feature::try_from(&el("<sm xmlns='urn:xmpp:sm:1' stanzas='many'/>")),
        Err(invalid("sm", "stanzas", "many"))
    );
    assert_eq!(
        HandledCountTooHigh::try_from(&el(
            "<handled-count-too-high xmlns='urn:xmpp:sm:3' h='1' send-count='n'/>"
        )),
        Err(invalid("handled-count-too-high", "send-count", "n"))
    );
    // `u32::from_str` accepts a leading '+', as the parser documents.
    assert_eq!(
        nonza("<a xmlns='urn:xmpp:sm:3' h='+5'/>"),
        Ok(Nonza::Ack(Ack {
            ns: Namespace::Sm3,
            h: 5,
            u: None,
        }))
    );
}

#[test]
fn invalid_values_are_echoed_truncated_on_a_char_boundary() {
    let long = "x".repeat(100);
    let Err(ParseError::InvalidNumber { value, .. }) =
        nonza(&format!("<a xmlns='urn:xmpp:sm:3' h='{long}'/>"))
    else {
        panic!("must fail");
    };
    assert_eq!(value, "x".repeat(64));
    // '€' is 3 bytes: 21 of them fit in 64 bytes.
    let euros = "€".repeat(30);
    let Err(ParseError::InvalidBool { value, .. }) =
        nonza(&format!("<enable xmlns='urn:xmpp:sm:3' resume='{euros}'/>"))
    else {
        panic!("must fail");
    };
    assert_eq!(value, "€".repeat(21));
}

#[test]
fn error_invalid_bool() {
    for bad in ["yes", "TRUE", "True", "", " true"] {
        let xml = format!("<enable xmlns='urn:xmpp:sm:3' resume='{bad}'/>");
        assert_eq!(
            nonza(&xml),
            Err(ParseError::InvalidBool {
                element: "enable",
                attribute: "resume",
                value: bad.to_owned(),
            }),
            "resume={bad:?}"
        );
    }
    assert_eq!(
        nonza("<enabled xmlns='urn:xmpp:sm:2' resume='no'/>"),
        Err(ParseError::InvalidBool {
            element: "enabled",
            attribute: "resume",
            value: "no".to_owned(),
        })
    );
}

#[test]
fn error_invalid_id() {
    assert_eq!(
        nonza("<resume xmlns='urn:xmpp:sm:3' previd='' h='0'/>"),
        Err(ParseError::InvalidId { len: 0 })
    );
    assert_eq!(
        nonza("<enabled xmlns='urn:xmpp:sm:3' id='' resume='true'/>"),
        Err(ParseError::InvalidId { len: 0 })
    );
    let too_long = "i".repeat(MAX_ID_LEN + 1);
    assert_eq!(
        nonza(&format!(
            "<resumed xmlns='urn:xmpp:sm:3' previd='{too_long}' h='0'/>"
        )),
        Err(ParseError::InvalidId { len: 4001 })
    );
    let longest = "i".repeat(MAX_ID_LEN);
    assert!(
        nonza(&format!(
            "<resumed xmlns='urn:xmpp:sm:3' previd='{longest}' h='0'/>"
        ))
        .is_ok()
    );
}

#[test]
fn error_invalid_condition() {
    let xml = "<failed xmlns='urn:xmpp:sm:3'>\
               <not-a-condition xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></failed>";
    assert_eq!(
        nonza(xml),
        Err(ParseError::InvalidCondition {
            name: "not-a-condition".to_owned()
        })
    );
}

#[test]
fn errors_display_what_went_wrong() {
    let e = ParseError::InvalidNumber {
        element: "a",
        attribute: "h",
        value: "foo".to_owned(),
    };
    assert_eq!(
        e.to_string(),
        "'h' on <a/> is not an unsigned 32-bit integer: \"foo\""
    );
    assert_eq!(
        ParseError::InvalidId { len: 0 }.to_string(),
        "SM-ID of 0 bytes (must be 1 to 4000)"
    );
}

// --- SmId, stanzas ---

#[test]
fn sm_id_bounds_and_formatting() {
    assert_eq!(SmId::new(""), Err(ParseError::InvalidId { len: 0 }));
    assert_eq!(
        SmId::new("é".repeat(2001)),
        Err(ParseError::InvalidId { len: 4002 })
    );
    let sm_id = id("abc");
    assert_eq!(sm_id.as_str(), "abc");
    assert_eq!(sm_id.to_string(), "abc");
    assert_eq!(format!("{sm_id:?}"), "SmId(\"abc\")");
    assert_eq!(String::from(sm_id.clone()), "abc");
    assert_eq!(SmId::try_from("abc".to_owned()), Ok(sm_id));
}

#[cfg(feature = "serde")]
#[test]
fn sm_id_serde_checks_bounds() {
    let json = serde_json::to_string(&id("abc")).expect("serialises");
    assert_eq!(json, "\"abc\"");
    assert_eq!(serde_json::from_str::<SmId>(&json).ok(), Some(id("abc")));
    assert!(serde_json::from_str::<SmId>("\"\"").is_err());
}

#[test]
fn only_client_and_server_stanzas_count() {
    for xml in [
        "<message xmlns='jabber:client'/>",
        "<presence xmlns='jabber:client'/>",
        "<iq xmlns='jabber:client' type='get' id='1'/>",
        "<message xmlns='jabber:server'/>",
    ] {
        assert!(is_stanza(&el(xml)), "{xml}");
    }
    for xml in [
        "<r xmlns='urn:xmpp:sm:3'/>",
        "<message xmlns='jabber:component:accept'/>",
        "<enable xmlns='urn:xmpp:sm:3'/>",
        "<active xmlns='urn:xmpp:csi:0'/>",
        "<iq xmlns='urn:example'/>",
    ] {
        assert!(!is_stanza(&el(xml)), "{xml}");
    }
}

// --- Serialisation ---

#[test]
fn serialised_attributes_are_spec_shaped() {
    let enabled: Element = Enabled::new(Namespace::Sm3)
        .with_resume(id("abc"))
        .with_max(300)
        .into();
    assert!(enabled.is("enabled", ns::SM3));
    assert_eq!(enabled.attr("id"), Some("abc"));
    assert_eq!(enabled.attr("resume"), Some("true"));
    assert_eq!(enabled.attr("max"), Some("300"));
    assert_eq!(enabled.attr("location"), None);
    let enable: Element = Enable::new(Namespace::Sm2).into();
    assert_eq!(enable.attrs().len(), 0, "no resume='false', no max");
    let failed: Element = Failed::new(Namespace::Sm1, DefinedCondition::ItemNotFound)
        .with_h(3)
        .into();
    assert_eq!(failed.attr("h"), Some("3"));
    assert!(failed.has_child("item-not-found", ns::STANZAS));
    let feature: Element = Feature::new(Namespace::Sm3).into();
    assert_eq!(feature, Element::bare("sm", ns::SM3));
}

// --- xmpp-parsers conversions ---

const SM3_EXAMPLES: &[&str] = &[
    "<enable xmlns='urn:xmpp:sm:3'/>",
    "<enable xmlns='urn:xmpp:sm:3' resume='true' max='60'/>",
    "<enabled xmlns='urn:xmpp:sm:3'/>",
    "<enabled xmlns='urn:xmpp:sm:3' id='some-long-sm-id' resume='true' max='300' \
     location='[2001:41D0:1:A49b::1]:9222'/>",
    "<resume xmlns='urn:xmpp:sm:3' h='5' previd='some-long-sm-id'/>",
    "<resumed xmlns='urn:xmpp:sm:3' h='7' previd='some-long-sm-id'/>",
    "<failed xmlns='urn:xmpp:sm:3' h='9'>\
     <item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></failed>",
    "<r xmlns='urn:xmpp:sm:3'/>",
    "<a xmlns='urn:xmpp:sm:3' h='4294967295'/>",
];

#[test]
fn xmpp_parsers_and_ours_agree_on_sm3_examples() {
    for xml in SM3_EXAMPLES {
        let element = el(xml);
        let theirs = xp::Nonza::try_from(element.clone())
            .unwrap_or_else(|e| panic!("xmpp-parsers rejects {xml}: {e:?}"));
        let ours = Nonza::try_from(&element).expect("ours parses");
        assert_eq!(Nonza::try_from(theirs.clone()).as_ref(), Ok(&ours), "{xml}");
        assert_eq!(xp::Nonza::try_from(ours.clone()), Ok(theirs), "{xml}");
        // Both serialise to elements the other side reads back identically.
        let ours_again = Nonza::try_from(&Element::from(ours.clone())).expect("round trip");
        assert_eq!(ours_again, ours);
    }
}

#[test]
fn failed_without_h_is_ours_to_read() {
    // xmpp-parsers 0.23 declares `Failed::h` optional but its derive requires the attribute,
    // so XEP-0198 Examples 5, 6 and 16 (no `h`) only parse with our types. Converting ours
    // into theirs still works.
    let element = el("<failed xmlns='urn:xmpp:sm:3'>\
                      <unexpected-request xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></failed>");
    assert!(xp::Nonza::try_from(element.clone()).is_err());
    let ours = Nonza::try_from(&element).expect("ours parses");
    assert_eq!(
        xp::Nonza::try_from(ours),
        Ok(xp::Nonza::Failed(xp::Failed {
            h: None,
            error: Some(DefinedCondition::UnexpectedRequest),
        }))
    );
}

#[test]
fn xmpp_parsers_conversion_hands_back_what_it_cannot_carry() {
    // Other namespaces are handed back unchanged.
    for ns in [Namespace::Sm1, Namespace::Sm2] {
        let n = Nonza::Enable(Enable::new(ns));
        assert_eq!(xp::Nonza::try_from(n.clone()), Err(n));
    }
    // sm:3 requires h on resume/resumed.
    let resume = Nonza::Resume(Resume {
        ns: Namespace::Sm3,
        previd: id("x"),
        h: None,
    });
    assert_eq!(xp::Nonza::try_from(resume.clone()), Err(resume));
    let resumed = Nonza::Resumed(Resumed {
        ns: Namespace::Sm3,
        previd: id("x"),
        h: None,
    });
    assert_eq!(xp::Nonza::try_from(resumed.clone()), Err(resumed));
    // <text/> has no place in xmpp-parsers' Failed: it is dropped, the rest kept.
    let failed = Nonza::Failed(
        Failed::new(Namespace::Sm3, DefinedCondition::UnexpectedRequest).with_text("why"),
    );
    assert_eq!(
        xp::Nonza::try_from(failed),
        Ok(xp::Nonza::Failed(xp::Failed {
            h: None,
            error: Some(DefinedCondition::UnexpectedRequest),
        }))
    );
}

#[test]
fn xmpp_parsers_ids_out_of_bounds_are_refused() {
    let empty = xp::Nonza::Enabled(xp::Enabled {
        id: Some(xp::StreamId(String::new())),
        location: None,
        max: None,
        resume: true,
    });
    assert_eq!(
        Nonza::try_from(empty),
        Err(ParseError::InvalidId { len: 0 })
    );
    let long = xp::Nonza::Resume(xp::Resume {
        h: 0,
        previd: xp::StreamId("x".repeat(MAX_ID_LEN + 1)),
    });
    assert_eq!(
        Nonza::try_from(long),
        Err(ParseError::InvalidId {
            len: MAX_ID_LEN + 1
        })
    );
}

// --- handled-count-too-high ---

#[test]
fn handled_count_too_high_stream_error() {
    let too_high = HandledCountTooHigh {
        ns: Namespace::Sm3,
        h: 10,
        send_count: 8,
    };
    let error = too_high.to_stream_error();
    assert_eq!(
        error.condition,
        stream_error::DefinedCondition::UndefinedCondition
    );
    assert_eq!(
        error.get_best_text(vec!["en"]).map(|(_, t)| t.as_str()),
        Some("You acknowledged 10 stanza(s), while I only sent 8 so far.")
    );
    assert_eq!(error.application_specific.len(), 1);
    let app = &error.application_specific[0];
    assert!(app.is("handled-count-too-high", ns::SM3));
    assert_eq!(app.attr("h"), Some("10"));
    assert_eq!(app.attr("send-count"), Some("8"));
    assert_eq!(HandledCountTooHigh::try_from(app), Ok(too_high));
    // The same as xmpp-parsers builds, and as the From impl builds.
    let theirs = StreamError::from(xp::HandledCountTooHigh {
        h: 10,
        send_count: 8,
    });
    assert_eq!(error, theirs);
    assert_eq!(StreamError::from(too_high), error);
    // Through the wire: <stream:error> with the condition, the app element, the text.
    let wire = el(&String::from(&Element::from(error)));
    assert!(wire.is("error", ns::STREAM));
    let child = wire
        .get_child("handled-count-too-high", ns::SM3)
        .expect("application condition on the wire");
    assert_eq!(HandledCountTooHigh::try_from(child), Ok(too_high));
    assert!(wire.has_child("undefined-condition", "urn:ietf:params:xml:ns:xmpp-streams"));
}

#[test]
fn handled_count_too_high_in_older_dialects() {
    let too_high = HandledCountTooHigh {
        ns: Namespace::Sm2,
        h: 1,
        send_count: 0,
    };
    let error = too_high.to_stream_error();
    assert!(error.application_specific[0].is("handled-count-too-high", ns::SM2));
}

mod props;
