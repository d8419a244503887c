//! Criterion benches for the XML stream framing (`xmpp_tether::framing`, in
//! `xmpp-tether-core`).
//!
//! `cargo bench -p tether-benches --bench framing` (add `-- --warm-up-time 1
//! --measurement-time 3` for a quicker run). One group, `framing`, each bench on the same
//! 665-byte chat message as `sm.rs`, against minidom doing the same job in the same run:
//! - reading: `minidom_parse` (`Element::from_reader` of the bytes, the baseline) against
//!   `stream_parse` (the bytes fed to a long-lived `StreamParser` inside a stream, one poll),
//!   `stream_parse_chunked` (the same bytes in 64-byte reads, polled after each) and
//!   `parse_element` (the one-shot parse of a stored element).
//! - writing: `minidom_write` (`Element::write_to`, the baseline) against `stream_write`
//!   (`StreamWriter::element`, which also validates names and characters).
//!
//! Trees are dropped outside the measurement, as in the baseline. At the end the bench
//! prints each as a ratio of its baseline.

mod common;

use std::hint::black_box;

use criterion::{Criterion, Throughput};
use minidom::Element;
use xmpp_tether::framing::{
    Limits, StreamEvent, StreamHeader, StreamParser, StreamWriter, parse_element,
};

/// The chat message of `sm.rs`: body, origin-id, receipt request, markable, chat state.
const CHAT: &str = concat!(
    "<message xmlns='jabber:client' from='juliet@capulet.example/balcony' ",
    "to='romeo@montague.example' type='chat' id='0b3c6f7e-5d2a-4c41-9e8f-7a1b2c3d4e5f' ",
    "xml:lang='en'><body>But, soft! what light through yonder window breaks? It is the east, ",
    "and Juliet is the sun. Arise, fair sun, and kill the envious moon, who is already sick and ",
    "pale with grief, that thou her maid art far more fair than she. Be not her maid, since she ",
    "is so envious...</body><origin-id xmlns='urn:xmpp:sid:0' ",
    "id='0b3c6f7e-5d2a-4c41-9e8f-7a1b2c3d4e5f'/><request xmlns='urn:xmpp:receipts'/>",
    "<markable xmlns='urn:xmpp:chat-markers:0'/>",
    "<active xmlns='http://jabber.org/protocol/chatstates'/></message>",
);
const CHAT_LEN: usize = 665;
/// The read size of `stream_parse_chunked`.
const READ: usize = 64;

const HEADER: &[u8] = b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
    xmlns:stream='http://etherx.jabber.org/streams' from='capulet.example' id='s1' \
    version='1.0' xml:lang='en'>";

fn main() {
    assert_eq!(CHAT.len(), CHAT_LEN, "the bench stanza is 665 bytes");
    let chat: Element = CHAT.parse().expect("the bench stanza parses");
    let mut c = Criterion::default().configure_from_args();
    let mut g = c.benchmark_group("framing");
    g.throughput(Throughput::Bytes(CHAT_LEN as u64));

    g.bench_function("minidom_parse", |b| {
        b.iter_with_large_drop(|| Element::from_reader(black_box(CHAT.as_bytes())));
    });
    g.bench_function("stream_parse", |b| {
        let mut parser = in_stream();
        b.iter_with_large_drop(|| {
            parser.feed(black_box(CHAT.as_bytes()));
            next_element(&mut parser)
        });
    });
    g.bench_function("stream_parse_chunked", |b| {
        let mut parser = in_stream();
        b.iter_with_large_drop(|| {
            let mut found = None;
            for chunk in black_box(CHAT.as_bytes()).chunks(READ) {
                parser.feed(chunk);
                if let Ok(Some(StreamEvent::Element(element))) = parser.poll() {
                    found = Some(element);
                }
            }
            found.expect("the chat message")
        });
    });
    g.bench_function("parse_element", |b| {
        let limits = Limits::default();
        b.iter_with_large_drop(|| parse_element(black_box(CHAT.as_bytes()), &limits));
    });

    g.bench_function("minidom_write", |b| {
        let mut out = Vec::with_capacity(1024);
        b.iter(|| {
            out.clear();
            black_box(&chat).write_to(&mut out).expect("writes");
            out.len()
        });
    });
    g.bench_function("stream_write", |b| {
        let mut writer = StreamWriter::new();
        writer.header(&StreamHeader::client("capulet.example"), &mut Vec::new());
        let mut out = Vec::with_capacity(1024);
        b.iter(|| {
            out.clear();
            writer.element(black_box(&chat), &mut out).expect("writes");
            out.len()
        });
    });
    g.finish();
    c.final_summary();

    // In `--test`/`--list`/`--profile-time` runs criterion saves no estimates: nothing to read.
    let measured = std::env::args().all(|a| {
        !a.starts_with("--test") && !a.starts_with("--list") && !a.starts_with("--profile-time")
    });
    if measured {
        report_ratios();
    }
}

/// A parser that has read a stream header.
fn in_stream() -> StreamParser {
    let mut parser = StreamParser::new(Limits::default());
    parser.feed(HEADER);
    assert!(matches!(parser.poll(), Ok(Some(StreamEvent::Header(_)))));
    parser
}

fn next_element(parser: &mut StreamParser) -> Element {
    match parser.poll() {
        Ok(Some(StreamEvent::Element(element))) => element,
        other => panic!("expected the chat message, got {other:?}"),
    }
}

fn report_ratios() {
    println!(
        "\nframing, against minidom doing the same in the same run ({CHAT_LEN}-byte chat message):"
    );
    for (baseline, benches) in [
        (
            "minidom_parse",
            &["stream_parse", "stream_parse_chunked", "parse_element"][..],
        ),
        ("minidom_write", &["stream_write"][..]),
    ] {
        let Some(base) = estimate_ns(baseline) else {
            continue;
        };
        println!("  {baseline:<22} {:>9.2} us", base / 1000.0);
        for bench in benches {
            if let Some(ns) = estimate_ns(bench) {
                println!("  {bench:<22} {:>9.2} us = {:.2}x", ns / 1000.0, ns / base);
            }
        }
    }
}

fn estimate_ns(bench: &str) -> Option<f64> {
    common::estimate_ns(&["framing", bench])
}
