//! Unit tests of the framing: headers, events, restarts, limits, errors and the writer.

use minidom::Element;
use xmpp_parsers::stream_error::DefinedCondition;

use super::*;

const HEADER: &str = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
    xmlns:stream='http://etherx.jabber.org/streams' from='localhost' id='abc' \
    version='1.0' xml:lang='en'>";

/// Feeds everything at once and polls until the parser needs more or fails.
fn read_all(limits: Limits, bytes: &[u8]) -> (Vec<StreamEvent>, Option<FramingError>) {
    let mut parser = StreamParser::new(limits);
    parser.feed(bytes);
    drain(&mut parser)
}

fn drain(parser: &mut StreamParser) -> (Vec<StreamEvent>, Option<FramingError>) {
    let mut events = Vec::new();
    loop {
        match parser.poll() {
            Ok(Some(event)) => events.push(event),
            Ok(None) => return (events, None),
            Err(error) => return (events, Some(error)),
        }
    }
}

fn elements(events: &[StreamEvent]) -> Vec<&Element> {
    events
        .iter()
        .filter_map(|event| match event {
            StreamEvent::Element(element) => Some(element),
            _ => None,
        })
        .collect()
}

fn error_of(limits: Limits, bytes: &str) -> FramingError {
    match read_all(limits, bytes.as_bytes()) {
        (_, Some(error)) => error,
        (events, None) => panic!("no error for {bytes:?}, got {events:?}"),
    }
}

#[test]
fn header_then_elements_in_one_chunk() {
    let all =
        format!("{HEADER}<r xmlns='urn:xmpp:sm:3'/> <message to='a@b'><body>hi</body></message>");
    let (events, error) = read_all(Limits::default(), all.as_bytes());
    assert_eq!(error, None);
    let StreamEvent::Header(header) = &events[0] else {
        panic!("no header first: {events:?}");
    };
    assert_eq!(header.from.as_deref(), Some("localhost"));
    assert_eq!(header.id.as_deref(), Some("abc"));
    assert_eq!(header.version.as_deref(), Some("1.0"));
    assert_eq!(header.lang.as_deref(), Some("en"));
    assert_eq!(header.to, None);
    assert_eq!(header.content, Some(ContentNamespace::Client));
    let found = elements(&events);
    assert_eq!(found.len(), 2);
    assert!(found[0].is("r", "urn:xmpp:sm:3"));
    assert!(found[1].is("message", "jabber:client"));
    assert_eq!(found[1].attr("to"), Some("a@b"));
    assert_eq!(
        found[1]
            .get_child("body", "jabber:client")
            .map(Element::text),
        Some("hi".into())
    );
}

#[test]
fn element_delivered_without_waiting_for_the_next_byte() {
    let mut parser = StreamParser::new(Limits::default());
    parser.feed(HEADER.as_bytes());
    assert!(matches!(parser.poll(), Ok(Some(StreamEvent::Header(_)))));
    parser.feed(b"<a xmlns='urn:x'>t</a");
    assert_eq!(parser.poll(), Ok(None));
    parser.feed(b">");
    assert!(matches!(parser.poll(), Ok(Some(StreamEvent::Element(a))) if a.is("a", "urn:x")));
    assert_eq!(parser.poll(), Ok(None));
    // A self-closing element too: the end comes out with the start, no byte after it.
    parser.feed(b"<b xmlns='urn:x'/>");
    assert!(matches!(parser.poll(), Ok(Some(StreamEvent::Element(b))) if b.is("b", "urn:x")));
    assert_eq!(parser.poll(), Ok(None));
    assert_eq!(parser.buffered(), 0);
}

#[test]
fn stream_end_then_nothing() {
    let all = format!("{HEADER}<a xmlns='urn:x'/></stream:stream>  junk");
    let mut parser = StreamParser::new(Limits::default());
    parser.feed(all.as_bytes());
    let (events, error) = drain(&mut parser);
    assert_eq!(error, None);
    assert_eq!(events.last(), Some(&StreamEvent::End));
    assert!(parser.is_ended());
    parser.feed(b"<more/>");
    assert_eq!(parser.poll(), Ok(None));
    assert_eq!(parser.buffered(), 0);
}

#[test]
fn restart_with_the_new_header_in_the_same_chunk() {
    let second = HEADER.replace("abc", "def");
    let all = format!(
        "{HEADER}<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>{second}<r xmlns='urn:xmpp:sm:3'/>"
    );
    let mut parser = StreamParser::new(Limits::default());
    parser.feed(all.as_bytes());
    assert!(matches!(parser.poll(), Ok(Some(StreamEvent::Header(_)))));
    assert!(matches!(parser.poll(), Ok(Some(StreamEvent::Element(s))) if s.name() == "success"));
    parser.restart();
    assert_eq!(parser.header(), None);
    let Ok(Some(StreamEvent::Header(header))) = parser.poll() else {
        panic!("no second header");
    };
    assert_eq!(header.id.as_deref(), Some("def"));
    assert_eq!(parser.header(), Some(&header));
    assert!(matches!(parser.poll(), Ok(Some(StreamEvent::Element(r))) if r.name() == "r"));
}

#[test]
fn bytes_after_proceed_can_be_taken_for_tls() {
    let mut parser = StreamParser::new(Limits::default());
    parser.feed(HEADER.as_bytes());
    parser.feed(b"<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>\x16\x03\x01\x02\x00");
    assert!(matches!(parser.poll(), Ok(Some(StreamEvent::Header(_)))));
    assert!(matches!(parser.poll(), Ok(Some(StreamEvent::Element(p))) if p.name() == "proceed"));
    assert_eq!(parser.take_unread(), b"\x16\x03\x01\x02\x00");
    assert_eq!(parser.buffered(), 0);
    parser.restart();
    parser.feed(HEADER.as_bytes());
    assert!(matches!(parser.poll(), Ok(Some(StreamEvent::Header(_)))));
}

#[test]
fn without_restart_a_second_header_is_an_error() {
    let all = format!("{HEADER}<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>{HEADER}");
    let error = error_of(Limits::default(), &all);
    assert_eq!(
        error.condition(),
        DefinedCondition::RestrictedXml,
        "{error}"
    );
}

#[test]
fn whitespace_keepalives_and_before_a_restarted_stream() {
    let all = format!(" \n\t{HEADER} \r\n <a xmlns='urn:x'/>\n\n<b xmlns='urn:x'/>   ");
    let (events, error) = read_all(Limits::default(), all.as_bytes());
    assert_eq!(error, None);
    assert_eq!(elements(&events).len(), 2);
    // A whitespace flood longer than any limit is still only keepalives.
    let mut parser = StreamParser::new(Limits::default().with_max_element_bytes(32));
    parser.feed(HEADER.as_bytes());
    let _ = parser.poll();
    for _ in 0..100 {
        parser.feed(&[b' '; 1000]);
        assert_eq!(parser.poll(), Ok(None));
    }
    assert_eq!(parser.buffered(), 0);
    parser.feed(b"<a xmlns='urn:x'/>");
    assert!(matches!(parser.poll(), Ok(Some(StreamEvent::Element(_)))));
}

#[test]
fn whitespace_as_references_is_a_keepalive_other_text_is_not() {
    let ok = format!("{HEADER}&#32;<![CDATA[ ]]><a xmlns='urn:x'/>");
    let (events, error) = read_all(Limits::default(), ok.as_bytes());
    assert_eq!((elements(&events).len(), error), (1, None));
    let bad = format!("{HEADER}<a xmlns='urn:x'/>hello<b xmlns='urn:x'/>");
    assert_eq!(
        error_of(Limits::default(), &bad),
        FramingError::TopLevelText
    );
    assert_eq!(
        FramingError::TopLevelText.condition(),
        DefinedCondition::BadFormat
    );
}

#[test]
fn header_variants() {
    // Any prefix for the streams namespace, attributes on several lines, no content
    // namespace at all (every element qualified, RFC 6120 §4.8.2).
    let odd = "<s:stream\n  xmlns:s='http://etherx.jabber.org/streams'\n  to='example.com'>\
        <c:message xmlns:c='jabber:client'/><s:features/>";
    let (events, error) = read_all(Limits::default(), odd.as_bytes());
    assert_eq!(error, None);
    let StreamEvent::Header(header) = &events[0] else {
        panic!("{events:?}");
    };
    assert_eq!(header.content, None);
    assert_eq!(header.to.as_deref(), Some("example.com"));
    let found = elements(&events);
    assert!(found[0].is("message", "jabber:client"));
    assert!(found[1].is("features", NS_STREAMS));

    for (ns, content) in [
        ("jabber:server", ContentNamespace::Server),
        ("jabber:component:accept", ContentNamespace::ComponentAccept),
    ] {
        let text = format!("<stream:stream xmlns='{ns}' xmlns:stream='{NS_STREAMS}'>");
        let (events, _) = read_all(Limits::default(), text.as_bytes());
        assert!(
            matches!(&events[0], StreamEvent::Header(h) if h.content == Some(content)),
            "{events:?}"
        );
    }
}

#[test]
fn wrong_roots_name_their_stream_error() {
    let cases = [
        (
            "<html xmlns='http://www.w3.org/1999/xhtml'>",
            DefinedCondition::BadFormat,
        ),
        (
            "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='example.com' version='1.0'/>",
            DefinedCondition::BadFormat,
        ),
        (
            "<stream:stream xmlns='jabber:client' xmlns:stream='http://wrong.example/streams'>",
            DefinedCondition::InvalidNamespace,
        ),
        (
            "<stream xmlns='http://etherx.jabber.org/streams'>",
            DefinedCondition::InvalidNamespace,
        ),
        (
            "<stream:stream xmlns='jabber:iq:nope' xmlns:stream='http://etherx.jabber.org/streams'>",
            DefinedCondition::InvalidNamespace,
        ),
        (
            "<stream:stream xmlns='jabber:client'>",
            DefinedCondition::BadNamespacePrefix,
        ),
    ];
    for (text, condition) in cases {
        let error = error_of(Limits::default(), text);
        assert_eq!(error.condition(), condition, "{text}: {error}");
        assert!(error.is_fatal());
        assert_eq!(error.stream_error().condition, condition);
    }
    assert_eq!(
        error_of(
            Limits::default(),
            "<stream xmlns='http://etherx.jabber.org/streams'>"
        ),
        FramingError::ContentNamespace {
            ns: NS_STREAMS.to_owned()
        }
    );
}

#[test]
fn xml_errors_name_the_specific_condition() {
    let cases: [(&str, DefinedCondition); 7] = [
        ("<a xmlns='urn:x'></b>", DefinedCondition::NotWellFormed),
        (
            "<a xmlns='urn:x' b='1' b='2'/>",
            DefinedCondition::NotWellFormed,
        ),
        (
            "<a xmlns='urn:x' xmlns:p='urn:y' xmlns:q='urn:y' p:b='1' q:b='2'/>",
            DefinedCondition::NotWellFormed,
        ),
        ("<p:a/>", DefinedCondition::BadNamespacePrefix),
        (
            "<!-- hi --><a xmlns='urn:x'/>",
            DefinedCondition::RestrictedXml,
        ),
        ("<?pi x?>", DefinedCondition::RestrictedXml),
        (
            "<a xmlns='urn:x'>\u{1}</a>",
            DefinedCondition::NotWellFormed,
        ),
    ];
    for (bad, condition) in cases {
        let error = error_of(Limits::default(), &format!("{HEADER}{bad}"));
        assert!(matches!(error, FramingError::Xml(_)), "{bad}: {error:?}");
        assert_eq!(error.condition(), condition, "{bad}: {error}");
    }
    let mut bytes = HEADER.as_bytes().to_vec();
    bytes.extend_from_slice(b"<a xmlns='urn:x'>\xff</a>");
    let (_, error) = read_all(Limits::default(), &bytes);
    assert_eq!(
        error.map(|e| e.condition()),
        Some(DefinedCondition::UnsupportedEncoding)
    );
}

#[test]
fn a_failed_parser_stays_failed() {
    let mut parser = StreamParser::new(Limits::default());
    parser.feed(b"<html xmlns='x'>");
    let error = parser.poll().unwrap_err();
    parser.restart();
    parser.feed(HEADER.as_bytes());
    assert_eq!(parser.poll(), Err(error.clone()));
    assert_eq!(parser.error(), Some(&error));
    assert_eq!(parser.buffered(), 0);
}

#[test]
fn depth_limit() {
    let limits = Limits::default().with_max_depth(3);
    let ok = format!("{HEADER}<a xmlns='urn:x'><b><c/></b></a>");
    let (events, error) = read_all(limits, ok.as_bytes());
    assert_eq!((elements(&events).len(), error), (1, None));
    let deep = format!("{HEADER}<a xmlns='urn:x'><b><c><d/></c></b></a>");
    assert_eq!(error_of(limits, &deep), FramingError::TooDeep { max: 3 });
    assert_eq!(
        FramingError::TooDeep { max: 3 }.condition(),
        DefinedCondition::PolicyViolation
    );
}

#[test]
fn deep_input_at_the_default_limit_is_safe_on_a_small_stack() {
    // A hostile peer nests as deep as it may, many times over; building, comparing,
    // serialising and dropping must all fit a 256 KiB thread stack (Limits docs).
    let depth = Limits::DEFAULT.max_depth;
    let mut text = HEADER.to_owned();
    text.push_str(&"<a xmlns='urn:x'>".repeat(depth));
    text.push_str(&"</a>".repeat(depth));
    let handle = std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(move || {
            let (events, error) = read_all(Limits::default(), text.as_bytes());
            assert_eq!(error, None);
            let element = elements(&events)[0].clone();
            assert_eq!(element, element.clone());
            let mut out = Vec::new();
            serialize_element(&element, &mut out).unwrap();
            element.write_to(&mut Vec::new()).unwrap();
            drop(events);
            let too_deep = format!("{HEADER}{}", "<a xmlns='urn:x'>".repeat(100_000));
            let (_, error) = read_all(Limits::default(), too_deep.as_bytes());
            assert_eq!(error, Some(FramingError::TooDeep { max: depth }));
        })
        .unwrap();
    handle.join().unwrap();
}

#[test]
fn element_size_limit_is_exact() {
    let element = "<a xmlns='urn:x'>0123456789</a>";
    let limits = Limits::default().with_max_element_bytes(element.len());
    let ok = format!("{HEADER}{element}  {element}");
    let (events, error) = read_all(limits, ok.as_bytes());
    assert_eq!((elements(&events).len(), error), (2, None));
    let big = format!("{HEADER}<a xmlns='urn:x'>01234567890</a>");
    assert_eq!(
        error_of(limits, &big),
        FramingError::ElementTooLarge { max: element.len() }
    );
    // Found before the element ends, and even if it never does: rxml is never handed more.
    let mut parser = StreamParser::new(limits);
    parser.feed(HEADER.as_bytes());
    let _ = parser.poll();
    parser.feed(b"<a xmlns='urn:x'>");
    assert_eq!(parser.poll(), Ok(None));
    parser.feed(&vec![b'x'; 1 << 20]);
    assert_eq!(
        parser.poll(),
        Err(FramingError::ElementTooLarge { max: element.len() })
    );
}

#[test]
fn header_size_limit_is_exact() {
    let limits = Limits::default().with_max_header_bytes(HEADER.len());
    let (events, error) = read_all(limits, HEADER.as_bytes());
    assert_eq!((events.len(), error), (1, None));
    let longer = HEADER.replace("abc", "abcd");
    assert_eq!(
        error_of(limits, &longer),
        FramingError::HeaderTooLarge { max: HEADER.len() }
    );
    // The next stream after a restart gets the same allowance again.
    let mut parser = StreamParser::new(limits);
    parser.feed(HEADER.as_bytes());
    assert!(matches!(parser.poll(), Ok(Some(StreamEvent::Header(_)))));
    parser.restart();
    parser.feed(HEADER.as_bytes());
    assert!(matches!(parser.poll(), Ok(Some(StreamEvent::Header(_)))));
}

#[test]
fn token_limit() {
    // The header's longest token is the streams namespace, 32 bytes.
    let limits = Limits::default().with_max_token_bytes(40);
    let long_value = format!("{HEADER}<a xmlns='urn:x' v='{}'/>", "v".repeat(100));
    assert_eq!(
        error_of(limits, &long_value).condition(),
        DefinedCondition::RestrictedXml
    );
    // Long text is read in pieces, not refused.
    let long_text = format!("{HEADER}<a xmlns='urn:x'>{}</a>", "t".repeat(100));
    let (events, error) = read_all(limits, long_text.as_bytes());
    assert_eq!(error, None);
    assert_eq!(elements(&events)[0].text(), "t".repeat(100));
}

#[test]
fn elements_carry_no_prefixes_and_minidom_writes_them() {
    // minidom's own parser keeps these declarations, and its writer then panics on them.
    for tricky in [
        "<message xmlns='jabber:client' xmlns:xml='http://www.w3.org/XML/1998/namespace'/>",
        "<a xmlns='urn:x' xmlns:p='urn:y'><b xmlns:p='urn:z' p:q='1'><p:c/></b></a>",
        "<a xmlns='urn:x' xmlns:tns0='urn:t' tns0:q='1' xmlns:p='urn:y' p:r='2'/>",
    ] {
        let element = parse_element(tricky.as_bytes(), &Limits::default()).unwrap();
        assert!(element.prefixes.declared_prefixes().is_empty());
        let mut out = Vec::new();
        element.write_to(&mut out).unwrap();
        let back = parse_element(&out, &Limits::default()).unwrap();
        assert_eq!(back, element, "{tricky}");
        let mut ours = Vec::new();
        serialize_element(&element, &mut ours).unwrap();
        assert_eq!(parse_element(&ours, &Limits::default()).unwrap(), element);
    }
}

#[test]
fn parse_element_accepts_one_element_only() {
    let limits = Limits::default();
    let ok = parse_element(b"<?xml version='1.0'?>\n <a xmlns='urn:x'>t</a>\n", &limits).unwrap();
    assert_eq!(ok.text(), "t");
    for bad in [
        &b""[..],
        b"   ",
        b"<a xmlns='urn:x'>",
        b"<a xmlns='urn:x'/>trailing",
        b"<a xmlns='urn:x'/><b xmlns='urn:x'/>",
        b"<a xmlns='urn:x'/><!-- c -->",
        b"text",
    ] {
        assert!(
            matches!(parse_element(bad, &limits), Err(FramingError::Xml(_))),
            "{:?}",
            String::from_utf8_lossy(bad)
        );
    }
    let small = limits.with_max_element_bytes(10);
    assert_eq!(
        parse_element(b"<a xmlns='urn:x'/>", &small),
        Err(FramingError::ElementTooLarge { max: 10 })
    );
    let shallow = limits.with_max_depth(1);
    assert_eq!(
        parse_element(b"<a xmlns='urn:x'><b/></a>", &shallow),
        Err(FramingError::TooDeep { max: 1 })
    );
    // A stored stanza nested 10,000 deep: refused, not a stack overflow when dropped.
    let deep = "<a xmlns='urn:x'>".repeat(10_000) + &"</a>".repeat(10_000);
    assert_eq!(
        parse_element(deep.as_bytes(), &limits),
        Err(FramingError::TooDeep { max: 64 })
    );
}

#[test]
fn writer_omits_the_content_namespace_and_prefixes_stream_elements() {
    let mut writer = StreamWriter::new();
    assert_eq!(writer.content(), None);
    let mut out = Vec::new();
    writer.header(
        &StreamHeader::server("im.example.com", "s1'\"<&").with_to("juliet@im.example.com"),
        &mut out,
    );
    assert_eq!(writer.content(), Some(ContentNamespace::Client));
    let header = String::from_utf8(out.clone()).unwrap();
    assert_eq!(
        header,
        "<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
         xmlns:stream='http://etherx.jabber.org/streams' from='im.example.com' \
         to='juliet@im.example.com' id='s1&apos;\"&lt;&amp;' version='1.0' xml:lang='en'>"
    );
    let features = Element::builder("features", NS_STREAMS)
        .append(Element::bare("bind", "urn:ietf:params:xml:ns:xmpp-bind"))
        .build();
    let message = Element::builder("message", "jabber:client")
        .attr("to".try_into().unwrap(), "a@b")
        .append(
            Element::builder("body", "jabber:client")
                .append("1 < 2 & 'q' ]]> \r\n")
                .build(),
        )
        .append(Element::bare("request", "urn:xmpp:receipts"))
        .append(Element::bare("x", ""))
        .build();
    let start = out.len();
    writer.element(&features, &mut out).unwrap();
    writer.element(&message, &mut out).unwrap();
    writer.end(&mut out);
    let body = String::from_utf8(out[start..].to_vec()).unwrap();
    assert_eq!(
        body,
        "<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>\
         <message to='a@b'><body>1 &lt; 2 &amp; 'q' ]]&gt; &#13;\n</body>\
         <request xmlns='urn:xmpp:receipts'/><x xmlns=''/></message></stream:stream>"
    );
    let (events, error) = read_all(Limits::default(), &out);
    assert_eq!(error, None);
    assert_eq!(elements(&events), [&features, &message]);
    assert_eq!(events.last(), Some(&StreamEvent::End));
}

#[test]
fn writer_declares_attribute_namespaces_and_keeps_whitespace_in_values() {
    let mut element = Element::builder("a", "urn:x")
        .attr("plain".try_into().unwrap(), "tab\there\nnewline\rcr 'q'")
        .build();
    element.attrs_mut().insert(
        minidom::rxml::Namespace::xml().clone(),
        "lang".try_into().unwrap(),
        "en".to_owned(),
    );
    element
        .attrs_mut()
        .insert("urn:y".into(), "one".try_into().unwrap(), "1".to_owned());
    element
        .attrs_mut()
        .insert("urn:y".into(), "two".try_into().unwrap(), "2".to_owned());
    let mut out = Vec::new();
    serialize_element(&element, &mut out).unwrap();
    let text = String::from_utf8(out.clone()).unwrap();
    assert!(
        text.contains("plain='tab&#9;here&#10;newline&#13;cr &apos;q&apos;'"),
        "{text}"
    );
    assert!(text.contains("xml:lang='en'"), "{text}");
    assert_eq!(text.matches("xmlns:ns0='urn:y'").count(), 1, "{text}");
    assert_eq!(parse_element(&out, &Limits::default()).unwrap(), element);
}

#[test]
fn writer_refuses_what_xml_cannot_carry_and_appends_nothing() {
    let mut out = b"kept".to_vec();
    let bad_name = Element::bare("not a name", "urn:x");
    assert_eq!(
        serialize_element(&bad_name, &mut out),
        Err(WriteError::InvalidName {
            name: "not a name".to_owned()
        })
    );
    let nul = Element::builder("a", "urn:x")
        .append(Element::builder("b", "urn:x").append("\u{0}").build())
        .build();
    assert_eq!(
        serialize_element(&nul, &mut out),
        Err(WriteError::InvalidChar {
            character: '\u{0}',
            element: "b".to_owned()
        })
    );
    let nonchar = Element::builder("a", "urn:x")
        .attr("v".try_into().unwrap(), "\u{fffe}")
        .build();
    assert!(matches!(
        StreamWriter::new().element(&nonchar, &mut out),
        Err(WriteError::InvalidChar {
            character: '\u{fffe}',
            ..
        })
    ));
    let declaration = Element::builder("a", "urn:x")
        .attr("xmlns".try_into().unwrap(), "urn:y")
        .build();
    assert_eq!(
        serialize_element(&declaration, &mut out),
        Err(WriteError::ReservedAttribute {
            name: "xmlns".to_owned(),
            element: "a".to_owned()
        })
    );
    let mut in_xmlns = Element::bare("a", "urn:x");
    in_xmlns.attrs_mut().insert(
        minidom::rxml::XMLNS_XMLNS.into(),
        "p".try_into().unwrap(),
        "urn:p".to_owned(),
    );
    assert!(matches!(
        serialize_element(&in_xmlns, &mut out),
        Err(WriteError::ReservedAttribute { .. })
    ));
    assert_eq!(out, b"kept");
    // Header values are the caller's: forbidden characters are dropped, not written.
    let mut header = Vec::new();
    StreamWriter::new().header(&StreamHeader::client("a\u{0}b\u{ffff}"), &mut header);
    assert!(String::from_utf8(header).unwrap().contains("to='ab'"));
}

#[test]
fn writer_before_any_header_writes_standalone() {
    let mut out = Vec::new();
    StreamWriter::new()
        .element(&Element::bare("features", NS_STREAMS), &mut out)
        .unwrap();
    assert_eq!(out, b"<features xmlns='http://etherx.jabber.org/streams'/>");
}

#[test]
fn builders_and_namespaces() {
    let client = StreamHeader::client("example.com");
    assert_eq!(client.to.as_deref(), Some("example.com"));
    assert_eq!(client.from, None);
    assert_eq!(client.lang.as_deref(), Some("en"));
    let s2s = StreamHeader::server("a.example", "id1")
        .with_to("b.example")
        .with_content(ContentNamespace::Server)
        .with_version("1.0");
    assert_eq!(s2s.content, Some(ContentNamespace::Server));
    for ns in [
        ContentNamespace::Client,
        ContentNamespace::Server,
        ContentNamespace::ComponentAccept,
    ] {
        assert_eq!(ContentNamespace::from_uri(ns.as_str()), Some(ns));
    }
    assert_eq!(ContentNamespace::from_uri(NS_STREAMS), None);
}
