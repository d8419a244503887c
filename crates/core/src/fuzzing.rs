//! Fuzz entry points (hidden feature `__fuzzing`), compiled in ordinary builds so CI checks
//! them; each `fuzz/fuzz_targets/framing_*.rs` file calls one. None may panic on any input.
//!
//! - [`stream`]: bytes as a stream (after a fixed header, or raw, by the first byte), read
//!   once in one piece and once in chunks whose sizes come from the input: both readings
//!   give the same events and the same error, a `<success/>` restarts the stream in both,
//!   and every element read survives our writer and the reader again unchanged (and
//!   minidom's own writer does not panic on it).
//! - [`element`]: bytes as one stored element: whatever [`parse_element`] accepts survives
//!   [`serialize_element`] and [`parse_element`] unchanged.

use minidom::Element;

use crate::FramingError;
use crate::framing::{
    Limits, StreamEvent, StreamHeader, StreamParser, StreamWriter, parse_element, serialize_element,
};

/// The header [`stream`] puts in front of the input when the first byte's low bit is set.
const HEADER: &[u8] = b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
    xmlns:stream='http://etherx.jabber.org/streams' to='example.com' version='1.0'>";

/// Small limits, so the fuzzer reaches them.
const LIMITS: Limits = Limits::DEFAULT
    .with_max_depth(12)
    .with_max_element_bytes(2048)
    .with_max_header_bytes(512)
    .with_max_token_bytes(256);

/// See the [module docs](self).
pub fn stream(data: &[u8]) {
    let [flags, seed, rest @ ..] = data else {
        return;
    };
    let mut bytes = Vec::with_capacity(HEADER.len() + rest.len());
    if flags & 1 == 1 {
        bytes.extend_from_slice(HEADER);
    }
    bytes.extend_from_slice(rest);

    let whole = read(&bytes, &mut std::iter::once(bytes.len()));
    let mut state = u32::from(*seed) | (u32::from(*flags) << 8);
    let mut sizes = std::iter::from_fn(|| {
        state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        Some(1 + (state >> 16) as usize % 64)
    });
    let chunked = read(&bytes, &mut sizes);
    assert_eq!(whole, chunked, "chunking changed what was read");

    let (events, _) = whole;
    let mut header = StreamHeader::client("example.com");
    for event in &events {
        match event {
            StreamEvent::Header(h) => header = h.clone(),
            StreamEvent::Element(element) => round_trip(&header, element),
            _ => {}
        }
    }
}

/// Feeds `bytes` in chunks of the given sizes, polling after each; restarts after every
/// `<success/>`, as a client does after SASL.
fn read(
    bytes: &[u8],
    sizes: &mut dyn Iterator<Item = usize>,
) -> (Vec<StreamEvent>, Option<FramingError>) {
    let mut parser = StreamParser::new(LIMITS);
    let mut events = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let n = sizes.next().unwrap_or(rest.len()).clamp(1, rest.len());
        let (chunk, tail) = rest.split_at(n);
        rest = tail;
        parser.feed(chunk);
        loop {
            match parser.poll() {
                Ok(Some(event)) => {
                    let restart =
                        matches!(&event, StreamEvent::Element(e) if e.name() == "success");
                    events.push(event);
                    if restart {
                        parser.restart();
                    }
                }
                Ok(None) => break,
                Err(error) => {
                    assert_eq!(
                        parser.poll(),
                        Err(error.clone()),
                        "a failed parser stays failed"
                    );
                    return (events, Some(error));
                }
            }
        }
    }
    (events, None)
}

/// Our writer's output, read again in a stream with the same header and standalone, gives
/// back the element; minidom's writer does not panic on it.
fn round_trip(header: &StreamHeader, element: &Element) {
    let roomy = LIMITS
        .with_max_element_bytes(usize::MAX)
        .with_max_header_bytes(usize::MAX)
        .with_max_token_bytes(LIMITS.max_token_bytes * 8);
    let mut writer = StreamWriter::new();
    let mut wire = Vec::new();
    writer.header(header, &mut wire);
    let written = wire.len();
    assert!(
        writer.element(element, &mut wire).is_ok(),
        "an element we read must be writable: {element:?}"
    );
    let mut parser = StreamParser::new(roomy);
    parser.feed(&wire);
    assert!(matches!(parser.poll(), Ok(Some(StreamEvent::Header(_)))));
    let again = parser.poll();
    assert_eq!(
        again,
        Ok(Some(StreamEvent::Element(element.clone()))),
        "in-stream round trip of {:?}",
        String::from_utf8_lossy(&wire[written..])
    );

    let mut stored = Vec::new();
    assert!(serialize_element(element, &mut stored).is_ok());
    assert_eq!(
        parse_element(&stored, &roomy).as_ref(),
        Ok(element),
        "standalone round trip of {:?}",
        String::from_utf8_lossy(&stored)
    );
    let _ = element.write_to(&mut Vec::new());
}

/// See the [module docs](self).
pub fn element(data: &[u8]) {
    let Ok(element) = parse_element(data, &LIMITS) else {
        return;
    };
    round_trip(&StreamHeader::client("example.com"), &element);
}
