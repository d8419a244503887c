//! Behaviour of the stream framing as a whole: spec example streams, any chunking of the
//! input gives the same events as one feed, what we write reads back unchanged, and noise
//! never panics.
//!
//! Fixtures (`tests/fixtures/`, no comments: rxml refuses them, as RFC 6120 §11.1 asks):
//! - `rfc6120-client.xml`, `rfc6120-server.xml`: the two directions of the RFC 6120 §9
//!   session (STARTTLS, SCRAM-SHA-1-PLUS, resource binding), restarted after `<proceed/>` and
//!   `<success/>` as over a real connection (the TLS layer removed), a message, and a
//!   §4.9.3.20 `<system-shutdown/>` stream error from the server.
//! - `xep0198-seed-stream.xml`: every example of the XEP-0198 0.7 seed in order, the first
//!   being its stream header with features.

use std::path::Path;

use minidom::Element;
use minidom::rxml::{Namespace, NcName};
use proptest::prelude::*;
use xmpp_tether_core::FramingError;
use xmpp_tether_core::framing::{
    ContentNamespace, Limits, NS_STREAMS, StreamEvent, StreamHeader, StreamParser, StreamWriter,
    parse_element, serialize_element,
};

fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Where the receiving side of a stream restarts: the initiating side restarts after it
/// reads `<proceed/>` or `<success/>`; the receiving side after it reads `<starttls/>` or
/// the SASL exchange's last `<response/>` (and writes its answer).
const RESTART_AFTER: [&str; 4] = ["proceed", "success", "starttls", "response"];

/// Feeds `bytes` in pieces of the given sizes (the rest at once when they run out), polling
/// after each piece, restarting after the elements in [`RESTART_AFTER`].
fn read_chunked(
    limits: Limits,
    bytes: &[u8],
    sizes: impl IntoIterator<Item = usize>,
) -> (Vec<StreamEvent>, Option<FramingError>) {
    let mut parser = StreamParser::new(limits);
    let mut events = Vec::new();
    let mut sizes = sizes.into_iter();
    let mut rest = bytes;
    while !rest.is_empty() {
        let n = sizes.next().unwrap_or(rest.len()).clamp(1, rest.len());
        let (chunk, tail) = rest.split_at(n);
        rest = tail;
        parser.feed(chunk);
        loop {
            match parser.poll() {
                Ok(Some(event)) => {
                    let restart = matches!(&event, StreamEvent::Element(e)
                        if RESTART_AFTER.contains(&e.name()));
                    events.push(event);
                    if restart {
                        parser.restart();
                    }
                }
                Ok(None) => break,
                Err(error) => return (events, Some(error)),
            }
        }
    }
    (events, None)
}

fn read(bytes: &[u8]) -> Vec<StreamEvent> {
    let (events, error) = read_chunked(Limits::default(), bytes, []);
    assert_eq!(error, None, "after {events:?}");
    events
}

/// The events, as `H` for a header, an element's name, or `E` for the end.
fn shape(events: &[StreamEvent]) -> Vec<String> {
    events
        .iter()
        .map(|event| match event {
            StreamEvent::Header(_) => "H".to_owned(),
            StreamEvent::Element(element) => element.name().to_owned(),
            StreamEvent::End => "E".to_owned(),
            _ => "?".to_owned(),
        })
        .collect()
}

#[test]
fn rfc6120_session_client_side() {
    let events = read(&fixture("rfc6120-client.xml"));
    assert_eq!(
        shape(&events),
        [
            "H", "starttls", "H", "auth", "response", "H", "iq", "message", "E"
        ]
    );
    let StreamEvent::Header(header) = &events[0] else {
        unreachable!()
    };
    assert_eq!(
        header,
        &StreamHeader::client("im.example.com").with_from("juliet@im.example.com")
    );
    let StreamEvent::Element(auth) = &events[3] else {
        unreachable!()
    };
    assert!(auth.is("auth", "urn:ietf:params:xml:ns:xmpp-sasl"));
    assert_eq!(auth.attr("mechanism"), Some("SCRAM-SHA-1-PLUS"));
    let StreamEvent::Element(message) = &events[7] else {
        unreachable!()
    };
    assert!(message.is("message", "jabber:client"));
    assert_eq!(message.attr_ns(Namespace::xml(), "lang"), Some("en"));
    assert_eq!(
        message
            .get_child("body", "jabber:client")
            .map(Element::text),
        Some("Art thou not Romeo, and a Montague?".to_owned())
    );
}

#[test]
fn rfc6120_session_server_side() {
    let events = read(&fixture("rfc6120-server.xml"));
    assert_eq!(
        shape(&events),
        [
            "H",
            "features",
            "proceed",
            "H",
            "features",
            "challenge",
            "success",
            "H",
            "features",
            "iq",
            "error",
            "E"
        ]
    );
    let ids: Vec<_> = events
        .iter()
        .filter_map(|event| match event {
            StreamEvent::Header(header) => header.id.clone(),
            _ => None,
        })
        .collect();
    assert_eq!(
        ids,
        [
            "t7AMCin9zjMNwQKDnplntZPIDEI=",
            "vgKi/bkYME8OAj4rlXMkpucAqe4=",
            "gPybzaOzBmaADgxKXu9UClbprp0="
        ]
    );
    let StreamEvent::Element(error) = &events[10] else {
        unreachable!()
    };
    let error = xmpp_parsers::stream_error::StreamError::try_from(error.clone()).unwrap();
    assert_eq!(
        error.condition,
        xmpp_parsers::stream_error::DefinedCondition::SystemShutdown
    );
    let StreamEvent::Element(features) = &events[1] else {
        unreachable!()
    };
    assert!(features.is("features", NS_STREAMS));
}

#[test]
fn xep0198_seed_examples_as_one_stream() {
    let events = read(&fixture("xep0198-seed-stream.xml"));
    assert_eq!(
        shape(&events),
        [
            "H", "features", "features", "features", "enable", "failed", "enabled", "message", "r",
            "a", "enable", "enabled", "resume", "resumed", "failed", "enable", "enabled", "iq",
            "r", "iq", "a", "presence", "r", "presence", "a", "message", "r", "a"
        ]
    );
    let StreamEvent::Header(header) = &events[0] else {
        unreachable!()
    };
    assert_eq!(header.to.as_deref(), Some("example.com"));
    assert_eq!(header.content, Some(ContentNamespace::Client));
    for event in &events[1..] {
        let StreamEvent::Element(element) = event else {
            unreachable!()
        };
        let ns = element.ns();
        assert!(
            ["jabber:client", "urn:xmpp:sm:1", NS_STREAMS].contains(&ns.as_str()),
            "{ns}"
        );
    }
}

#[test]
fn every_split_point_and_byte_by_byte_give_the_same_events() {
    for name in [
        "rfc6120-client.xml",
        "rfc6120-server.xml",
        "xep0198-seed-stream.xml",
    ] {
        let bytes = fixture(name);
        let whole = read_chunked(Limits::default(), &bytes, []);
        for split in 1..bytes.len() {
            let two = read_chunked(Limits::default(), &bytes, [split]);
            assert_eq!(two, whole, "{name} split at {split}");
        }
        let single = read_chunked(Limits::default(), &bytes, std::iter::repeat(1));
        assert_eq!(single, whole, "{name} byte by byte");
    }
}

#[test]
fn noise_never_panics() {
    // XML-ish noise after a valid header, in random chunks, from a fixed-seed LCG: every
    // outcome is an event or a typed error.
    const ALPHABET: &[u8] = b"<>/='\" :abxmlnsr?!&;#\n\xff\xc3[]CDATA-";
    let header = b"<stream:stream xmlns='jabber:client' \
        xmlns:stream='http://etherx.jabber.org/streams'>";
    let mut state: u64 = 0x5eed;
    let mut next = |bound: usize| {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) as usize % bound
    };
    let limits = Limits::default()
        .with_max_depth(4)
        .with_max_element_bytes(64);
    for round in 0..2_000 {
        let mut bytes = if round % 4 == 0 {
            Vec::new()
        } else {
            header.to_vec()
        };
        let len = next(300);
        bytes.extend((0..len).map(|_| ALPHABET[next(ALPHABET.len())]));
        let sizes: Vec<usize> = (0..16).map(|_| 1 + next(40)).collect();
        let chunked = read_chunked(limits, &bytes, sizes);
        assert_eq!(chunked, read_chunked(limits, &bytes, []));
        let _ = parse_element(&bytes, &limits);
    }
}

#[cfg(feature = "__fuzzing")]
#[test]
fn fuzz_entry_points_survive_seeded_noise() {
    let mut state: u64 = 7;
    let mut next = || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) as u8
    };
    const PIECES: [&[u8]; 8] = [
        b"<a xmlns='urn:x'>",
        b"</a>",
        b"<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>",
        b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>",
        b" t&amp;",
        b"<b p:c='1' xmlns:p='urn:p'/>",
        b"</stream:stream>",
        b"<?xml version='1.0'?>",
    ];
    for _ in 0..3_000 {
        let mut data = vec![next(), next()];
        for _ in 0..(next() % 12) {
            if next() % 4 == 0 {
                data.push(next());
            } else {
                data.extend_from_slice(PIECES[usize::from(next()) % PIECES.len()]);
            }
        }
        xmpp_tether_core::fuzzing::stream(&data);
        xmpp_tether_core::fuzzing::element(&data[2..]);
    }
}

// ---- properties over generated streams ----

/// A node to build: text or a child element.
#[derive(Debug, Clone)]
enum Gen {
    Text(String),
    Element {
        name: &'static str,
        ns: &'static str,
        attrs: Vec<(&'static str, &'static str, String)>,
        children: Vec<Self>,
    },
}

fn text() -> impl Strategy<Value = String> {
    "[a-z <>&'\"\r\n\t\u{e9}\u{1F600}\\]]{1,12}"
}

fn element_strategy() -> impl Strategy<Value = Gen> {
    let names = prop::sample::select(vec![
        "a",
        "message",
        "body",
        "x-y",
        "n.1",
        "\u{e9}t\u{e9}",
        "_u",
    ]);
    let namespaces = prop::sample::select(vec!["jabber:client", "urn:x", "urn:y", "", NS_STREAMS]);
    let attr = (
        prop::sample::select(vec!["", "urn:z", "urn:y", minidom::rxml::XMLNS_XML]),
        prop::sample::select(vec!["id", "to", "lang", "v"]),
        "[a-z <>&'\"\r\n\t]{0,8}",
    );
    let leaf = (
        names.clone(),
        namespaces.clone(),
        prop::collection::vec(attr.clone(), 0..3),
    )
        .prop_map(|(name, ns, attrs)| Gen::Element {
            name,
            ns,
            attrs,
            children: Vec::new(),
        });
    leaf.prop_recursive(4, 24, 4, move |inner| {
        (
            names.clone(),
            namespaces.clone(),
            prop::collection::vec(attr.clone(), 0..3),
            prop::collection::vec(prop_oneof![text().prop_map(Gen::Text), inner], 1..4),
        )
            .prop_map(|(name, ns, attrs, children)| Gen::Element {
                name,
                ns,
                attrs,
                children,
            })
    })
}

fn build(generated: &Gen) -> Element {
    let Gen::Element {
        name,
        ns,
        attrs,
        children,
    } = generated
    else {
        unreachable!("only elements are built at the top")
    };
    let mut element = Element::bare(*name, *ns);
    for (attr_ns, attr, value) in attrs {
        let attr = NcName::try_from(*attr).expect("the generated names are NCNames");
        element
            .attrs_mut()
            .insert(Namespace::from(*attr_ns), attr, value.clone());
    }
    for child in children {
        match child {
            // `append_text` merges adjacent text, as reading it back does.
            Gen::Text(text) => element.append_text(text.clone()),
            child => {
                element.append_child(build(child));
            }
        }
    }
    element
}

fn header_strategy() -> impl Strategy<Value = StreamHeader> {
    let value = || prop::option::of("[a-z@./'\"<&]{0,10}");
    (
        value(),
        value(),
        value(),
        prop::option::of(prop::sample::select(vec![
            ContentNamespace::Client,
            ContentNamespace::Server,
            ContentNamespace::ComponentAccept,
        ])),
    )
        .prop_map(|(from, to, id, content)| {
            let mut header = StreamHeader::default();
            header.from = from;
            header.to = to;
            header.id = id;
            header.version = Some("1.0".to_owned());
            header.lang = Some("en".to_owned());
            header.content = content;
            header
        })
}

/// What we write, as bytes: a header, the elements with whitespace between, the end.
fn write_stream(header: &StreamHeader, elements: &[Element], gaps: &[usize]) -> Vec<u8> {
    let mut writer = StreamWriter::new();
    let mut out = Vec::new();
    writer.header(header, &mut out);
    for (i, element) in elements.iter().enumerate() {
        out.extend(std::iter::repeat_n(b' ', gaps.get(i).copied().unwrap_or(0)));
        writer.element(element, &mut out).unwrap();
    }
    writer.end(&mut out);
    out
}

proptest! {

    #![proptest_config(persisted(ProptestConfig::default()))]
    /// Any chunking of what our writer wrote reads back as exactly the header, the elements
    /// and the end.
    #[test]
    fn written_streams_read_back_in_any_chunks(
        header in header_strategy(),
        generated in prop::collection::vec(element_strategy(), 0..6),
        gaps in prop::collection::vec(0usize..3, 6),
        sizes in prop::collection::vec(1usize..40, 0..64),
    ) {
        let elements: Vec<Element> = generated.iter().map(build).collect();
        let bytes = write_stream(&header, &elements, &gaps);
        let mut expected = vec![StreamEvent::Header(header)];
        expected.extend(elements.into_iter().map(StreamEvent::Element));
        expected.push(StreamEvent::End);
        let (events, error) = read_chunked(Limits::default(), &bytes, sizes);
        prop_assert_eq!(error, None);
        prop_assert_eq!(events, expected);
    }

    /// A restart after `<success/>` works wherever the chunk boundaries fall, including when
    /// the new header arrived in the same chunk.
    #[test]
    fn restarts_in_any_chunks(
        first in prop::collection::vec(element_strategy(), 0..3),
        second in prop::collection::vec(element_strategy(), 0..3),
        sizes in prop::collection::vec(1usize..60, 0..32),
    ) {
        let first: Vec<Element> = first.iter().map(build).collect();
        let second: Vec<Element> = second.iter().map(build).collect();
        let success = Element::bare("success", "urn:ietf:params:xml:ns:xmpp-sasl");
        let header = StreamHeader::client("example.com");
        let mut bytes = Vec::new();
        let mut writer = StreamWriter::new();
        writer.header(&header, &mut bytes);
        for element in first.iter().chain([&success]) {
            writer.element(element, &mut bytes).unwrap();
        }
        writer.header(&header, &mut bytes);
        for element in &second {
            writer.element(element, &mut bytes).unwrap();
        }
        let whole = read_chunked(Limits::default(), &bytes, []);
        prop_assert_eq!(whole.1.clone(), None);
        prop_assert_eq!(whole.0.len(), first.len() + second.len() + 3);
        prop_assert_eq!(read_chunked(Limits::default(), &bytes, sizes), whole);
    }

    /// What `serialize_element` writes, `parse_element` reads back unchanged.
    #[test]
    fn stored_elements_round_trip(generated in element_strategy()) {
        let element = build(&generated);
        let mut stored = Vec::new();
        serialize_element(&element, &mut stored).unwrap();
        prop_assert_eq!(parse_element(&stored, &Limits::default()), Ok(element));
    }

    /// Arbitrary bytes in arbitrary chunks: no panic, and chunking changes nothing.
    #[test]
    fn arbitrary_bytes_are_events_or_errors(
        bytes in prop::collection::vec(any::<u8>(), 0..256),
        sizes in prop::collection::vec(1usize..16, 0..16),
    ) {
        let mut input = b"<stream:stream xmlns='jabber:client' \
            xmlns:stream='http://etherx.jabber.org/streams'>".to_vec();
        input.extend_from_slice(&bytes);
        let limits = Limits::default().with_max_depth(4);
        prop_assert_eq!(
            read_chunked(limits, &input, sizes),
            read_chunked(limits, &input, [])
        );
    }
}

/// Saved failures go beside this file (`<name>.proptest-regressions`) and are replayed first:
/// proptest's default looks beside `src/`, which an integration test has not.
fn persisted(config: ProptestConfig) -> ProptestConfig {
    ProptestConfig {
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::WithSource("proptest-regressions"),
        )),
        ..config
    }
}
