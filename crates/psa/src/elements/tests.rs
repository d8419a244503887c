//! The XEP-0310 0.1 examples as fixtures, the lenient readings, and round trips.

use minidom::Element;
use proptest::prelude::*;
use xmpp_parsers::disco::DiscoInfoResult;
use xmpp_parsers::presence::{Presence, Type};

use super::*;

/// An example as the XEP prints it: without the stanza namespace, with indentation.
fn example(xml: &str) -> Presence {
    let compact: String = xml
        .split('\n')
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" ")
        .replace("> <", "><")
        .replace("<presence ", "<presence xmlns='jabber:client' ");
    let element: Element = compact.parse().expect("the example is XML");
    Presence::try_from(element).expect("the example is a presence")
}

fn jid(s: &str) -> Jid {
    s.parse().expect("a JID")
}

// XEP-0310 Example 2.
const EXAMPLE_2: &str = r#"<presence
from='juliet@capulet.lit/orchard'
to='romeo@montague.lit/lane'>
<status>Available</status>
<state-annotation xmlns="urn:xmpp:psa" from="montague.lit">
<server-unavailable/>
<description>The capulet.lit server is no longer available</description>
</state-annotation>
</presence>"#;

// XEP-0310 Example 3.
const EXAMPLE_3: &str = r#"<presence
from='juliet@capulet.lit/orchard'
to='romeo@montague.lit/lane'>
<status>Available</status>
<state-annotation xmlns="urn:xmpp:psa" from="montague.lit"/>
</presence>"#;

// XEP-0310 Example 5 (the annotation before the status).
const EXAMPLE_5: &str = r#"<presence
from='benvolio@montague.lit/lane'
to='romeo@montague.lit/lane'>
<state-annotation xmlns="urn:xmpp:psa" from="montague.lit">
<connection-paused/>
<description>benvolio's BOSH session has been paused</description>
</state-annotation>
<status>He ran this way, and leap'd this orchard wall</status>
</presence>"#;

// XEP-0310 Example 6.
const EXAMPLE_6: &str = r#"<presence
from='benvolio@montague.lit/lane'
to='romeo@montague.lit/lane'>
<state-annotation xmlns="urn:xmpp:psa" from="montague.lit"/>
<status>He ran this way, and leap'd this orchard wall</status>
</presence>"#;

// XEP-0310 Example 9.
const EXAMPLE_9: &str = r#"<presence
from='orchard@chats.shakespeare.lit/Juliet'
to='romeo@montague.lit/lane'>
<state-annotation xmlns="urn:xmpp:psa" from="chats.shakespeare.lit">
<server-unavailable/>
<description>The user's server is no longer reachable</description>
</state-annotation>
<status>Ay me!</status>
</presence>"#;

// XEP-0310 Example 10.
const EXAMPLE_10: &str = r#"<presence
from='orchard@chats.shakespeare.lit/Juliet'
to='romeo@montague.lit/lane'>
<state-annotation xmlns="urn:xmpp:psa" from="chats.shakespeare.lit"/>
<status>Ay me!</status>
</presence>"#;

#[test]
fn example_2_server_unavailable() {
    let presence = example(EXAMPLE_2);
    let annotation = StateAnnotation::of(&presence).expect("one").expect("valid");
    assert_eq!(
        annotation,
        StateAnnotation::server_unavailable(jid("montague.lit")).with_description(
            Description::new("The capulet.lit server is no longer available")
        )
    );
    assert!(!annotation.is_restored());
}

#[test]
fn examples_3_6_10_restored() {
    for (xml, by) in [
        (EXAMPLE_3, "montague.lit"),
        (EXAMPLE_6, "montague.lit"),
        (EXAMPLE_10, "chats.shakespeare.lit"),
    ] {
        let annotation = StateAnnotation::of(&example(xml))
            .expect("one")
            .expect("valid");
        assert_eq!(annotation, StateAnnotation::restored(jid(by)));
        assert!(annotation.is_restored());
    }
}

#[test]
fn example_5_connection_paused_before_the_status() {
    let presence = example(EXAMPLE_5);
    assert_eq!(presence.statuses.len(), 1);
    let annotation = StateAnnotation::of(&presence).expect("one").expect("valid");
    assert_eq!(
        annotation,
        StateAnnotation::connection_paused(jid("montague.lit"))
            .with_description(Description::new("benvolio's BOSH session has been paused"))
    );
}

#[test]
fn example_9_room_annotates_its_occupant() {
    let annotation = StateAnnotation::of(&example(EXAMPLE_9))
        .expect("one")
        .expect("valid");
    assert_eq!(annotation.from, Some(jid("chats.shakespeare.lit")));
    assert_eq!(annotation.condition, Some(Condition::ServerUnavailable));
}

#[test]
fn examples_1_4_7_8_carry_no_annotation() {
    for xml in [
        "<presence from='juliet@capulet.lit/orchard' to='romeo@montague.lit/lane'>\
         <status>Available</status></presence>",
        "<presence from='benvolio@montague.lit/lane' to='romeo@montague.lit/lane'>\
         <status>He ran this way, and leap'd this orchard wall</status></presence>",
        "<presence from='benvolio@montague.lit/lane' to='romeo@montague.lit/lane' \
         type='unavailable'/>",
        "<presence from='orchard@chats.shakespeare.lit/Juliet' to='romeo@montague.lit/lane'>\
         <status>Ay me!</status></presence>",
    ] {
        assert_eq!(StateAnnotation::of(&example(xml)), None);
    }
    assert_eq!(
        example(
            "<presence from='benvolio@montague.lit/lane' to='romeo@montague.lit/lane' \
             type='unavailable'/>"
        )
        .type_,
        Type::Unavailable
    );
}

#[test]
fn we_write_the_examples_annotations_exactly() {
    let stale = StateAnnotation::server_unavailable(jid("montague.lit")).with_description(
        Description::new("The capulet.lit server is no longer available"),
    );
    assert_eq!(
        String::from(&Element::from(stale)),
        "<state-annotation xmlns='urn:xmpp:psa' from='montague.lit'><server-unavailable/>\
         <description>The capulet.lit server is no longer available</description>\
         </state-annotation>"
    );
    assert_eq!(
        String::from(&Element::from(StateAnnotation::restored(jid(
            "chats.shakespeare.lit"
        )))),
        "<state-annotation xmlns='urn:xmpp:psa' from='chats.shakespeare.lit'/>"
    );
    let with_lang = StateAnnotation::connection_paused(jid("montague.lit"))
        .with_description(Description::new("pause").with_lang("en"));
    assert_eq!(
        String::from(&Element::from(with_lang)),
        "<state-annotation xmlns='urn:xmpp:psa' from='montague.lit'><connection-paused/>\
         <description xml:lang='en'>pause</description></state-annotation>"
    );
}

fn parse(xml: &str) -> Result<StateAnnotation, ParseError> {
    StateAnnotation::try_from(xml.parse::<Element>().expect("XML"))
}

#[test]
fn lenient_either_child_order() {
    let a = parse(
        "<state-annotation xmlns='urn:xmpp:psa' from='m.lit'><description>d</description>\
         <connection-paused/></state-annotation>",
    );
    assert_eq!(
        a,
        Ok(StateAnnotation::connection_paused(jid("m.lit"))
            .with_description(Description::new("d")))
    );
}

#[test]
fn lenient_both_conditions_server_unavailable_wins() {
    for xml in [
        "<state-annotation xmlns='urn:xmpp:psa' from='m.lit'><connection-paused/>\
         <server-unavailable/></state-annotation>",
        "<state-annotation xmlns='urn:xmpp:psa' from='m.lit'><server-unavailable/>\
         <connection-paused/></state-annotation>",
    ] {
        assert_eq!(
            parse(xml),
            Ok(StateAnnotation::server_unavailable(jid("m.lit")))
        );
    }
}

#[test]
fn lenient_unknown_condition_is_still_stale() {
    let a = parse(
        "<state-annotation xmlns='urn:xmpp:psa' from='m.lit'><gone-fishing/></state-annotation>",
    )
    .expect("lenient");
    let Some(Condition::Unknown(unknown)) = &a.condition else {
        panic!("{a:?}");
    };
    assert_eq!(unknown.name(), "gone-fishing");
    assert!(!a.is_restored());
    // Round trip keeps the name; a known condition beats it.
    assert_eq!(StateAnnotation::try_from(Element::from(a.clone())), Ok(a));
    let b = parse(
        "<state-annotation xmlns='urn:xmpp:psa'><gone-fishing/><connection-paused/>\
         </state-annotation>",
    );
    assert_eq!(
        b.map(|b| b.condition),
        Ok(Some(Condition::ConnectionPaused))
    );
}

#[test]
fn lenient_no_from_foreign_children_and_attributes() {
    let a = parse(
        "<state-annotation xmlns='urn:xmpp:psa' extra='1'><x xmlns='urn:example'/>\
         <description xml:lang='de'>weg</description><description>second</description>\
         </state-annotation>",
    )
    .expect("lenient");
    assert_eq!(a.from, None);
    assert_eq!(a.condition, None);
    assert_eq!(a.description, Some(Description::new("weg").with_lang("de")));
}

#[test]
fn errors_name_what_is_wrong() {
    assert_eq!(
        parse("<state-annotation xmlns='urn:xmpp:psa' from='a@b@c'/>"),
        Err(ParseError::InvalidAnnotator {
            value: "a@b@c".into()
        })
    );
    assert_eq!(
        parse("<state-annotation xmlns='urn:example'/>"),
        Err(ParseError::NotAnnotation {
            name: "state-annotation".into(),
            ns: "urn:example".into()
        })
    );
    assert_eq!(
        UnknownCondition::try_from("connection-paused".to_owned()),
        Err(ParseError::InvalidCondition {
            name: "connection-paused".into()
        })
    );
    assert!(UnknownCondition::try_from("not a name".to_owned()).is_err());
}

#[test]
fn attach_replaces_and_remove_counts() {
    let mut presence = example(EXAMPLE_2);
    StateAnnotation::restored(jid("montague.lit")).attach(&mut presence);
    assert_eq!(
        StateAnnotation::of(&presence),
        Some(Ok(StateAnnotation::restored(jid("montague.lit"))))
    );
    assert_eq!(presence.payloads.len(), 1);
    assert_eq!(StateAnnotation::remove_from(&mut presence), 1);
    assert_eq!(StateAnnotation::of(&presence), None);
    let presence = Presence::available().with_payload(StateAnnotation::restored(jid("m.lit")));
    assert!(presence.payloads.iter().any(is_annotation));
}

#[test]
fn caps_feature() {
    let mut disco = DiscoInfoResult {
        node: None,
        identities: vec![],
        features: Default::default(),
        extensions: vec![],
    };
    assert!(!advertises(&disco));
    advertise(&mut disco);
    assert!(advertises(&disco));
    assert!(disco.features.contains("urn:xmpp:psa"));
}

fn text() -> impl Strategy<Value = String> {
    // Printable text, as a description would carry (XML forbids most control characters).
    "[ -~\u{a0}-\u{17f}]{0,24}"
}

fn annotation() -> impl Strategy<Value = StateAnnotation> {
    let from = prop_oneof![
        Just(None),
        "[a-z]{1,8}(\\.[a-z]{1,5}){0,2}".prop_map(|d| Some(jid(&d))),
        "[a-z]{1,6}@[a-z]{1,8}\\.lit/[a-z]{1,4}".prop_map(|d| Some(jid(&d))),
    ];
    let condition = prop_oneof![
        Just(None),
        Just(Some(Condition::ServerUnavailable)),
        Just(Some(Condition::ConnectionPaused)),
        "[a-z][a-z-]{0,12}x"
            .prop_map(|n| UnknownCondition::try_from(n).ok().map(Condition::Unknown)),
    ];
    let description = prop_oneof![
        Just(None),
        (text(), proptest::option::of("[a-z]{2}(-[A-Z]{2})?"))
            .prop_map(|(t, l)| Some(Description { text: t, lang: l })),
    ];
    (from, condition, description).prop_map(|(from, condition, description)| StateAnnotation {
        from,
        condition,
        description,
    })
}

proptest! {
    #[test]
    fn round_trip_through_element_and_text(a in annotation()) {
        let element = Element::from(a.clone());
        prop_assert_eq!(StateAnnotation::try_from(&element), Ok(a.clone()));
        let reparsed: Element = String::from(&element).parse().expect("our XML parses");
        prop_assert_eq!(StateAnnotation::try_from(reparsed), Ok(a));
    }

    #[test]
    fn round_trip_inside_a_presence(a in annotation(), status in text()) {
        let mut presence = Presence::available()
            .with_from(jid("juliet@capulet.lit/orchard"))
            .with_to(jid("romeo@montague.lit/lane"));
        presence.set_status("", status);
        a.clone().attach(&mut presence);
        let element = crate::presence_element(presence);
        let reparsed: Element = String::from(&element).parse().expect("our XML parses");
        let presence = Presence::try_from(reparsed).expect("a presence");
        prop_assert_eq!(StateAnnotation::of(&presence), Some(Ok(a)));
    }
}
