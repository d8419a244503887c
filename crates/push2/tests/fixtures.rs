//! The seed's examples (prosody-modules mod_push2 `push2.markdown` revision 5819) and the
//! module's later text, each parsed to its exact typed value or its exact error.

use std::time::Duration;

use minidom::Element;
use xmpp_parsers::disco::DiscoInfoResult;
use xmpp_parsers::iq::Iq;
use xmpp_push2::{
    Disable, Enable, Filter, Match, MatchProfile, Notification, ParseError, Priority, SendProfile,
    Support,
};

fn fixture(path: &str) -> Element {
    let text = std::fs::read_to_string(format!(
        "{}/tests/fixtures/{path}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("fixture file");
    text.parse().expect("fixture XML")
}

fn seed_enable() -> Enable {
    Enable::new(
        "pusher@push.example.com".parse().unwrap(),
        "https://push.example.com/adlfkjadafdasf",
    )
    .with_match(Match::new(
        MatchProfile::ArchivedWithBody,
        SendProfile::NotifyOnly,
    ))
}

#[test]
fn seed_enable_parses_to_its_value() {
    assert_eq!(
        Enable::try_from(&fixture("seed/01-enable.xml")),
        Ok(seed_enable())
    );
}

#[test]
fn current_enable_with_grace_and_filter() {
    let want = Enable::new(
        "pusher@push.example.com".parse().unwrap(),
        "https://push.example.com/adlfkjadafdasf",
    )
    .with_match(
        Match::new(MatchProfile::ArchivedWithBody, SendProfile::NotifyOnly)
            .with_grace(Duration::from_secs(144))
            .with_filter(
                Filter::muted("somemuc@conference.example.com".parse().unwrap()).with_mentions(),
            ),
    );
    assert_eq!(
        Enable::try_from(&fixture("current/01-enable-grace-filter.xml")),
        Ok(want)
    );
}

#[test]
fn disable_parses() {
    assert_eq!(
        Disable::try_from(&fixture("current/02-disable.xml")),
        Ok(Disable::new())
    );
}

#[test]
fn notify_only_notification() {
    for path in [
        "seed/02-notify-only-notification.xml",
        "current/03-notify-only-notification.xml",
    ] {
        let message = fixture(path);
        assert_eq!(message.attr("to"), Some("pusher@push.example.net"));
        assert_eq!(
            Notification::from_message(&message),
            Ok(Notification::new(
                "https://push.example.com/adlfkjadafdasf",
                Priority::Normal
            ))
        );
    }
}

#[test]
fn the_sce_send_profile_keeps_its_text() {
    for path in ["seed/03-send-sce.xml", "current/04-send-sce.xml"] {
        let send = SendProfile::try_from(&fixture(path)).unwrap();
        let SendProfile::WebPush(w) = send else {
            panic!("{send:?}")
        };
        assert_eq!(
            w.ua_public,
            "Base64 encoded P-256 ECDH public key (raw, uncompressed)"
        );
        assert_eq!(w.auth_secret, "Base64 encoded randomly generated 16 octets");
        assert_eq!(w.jwt_alg.as_deref(), Some("ES256"));
        assert_eq!(
            w.jwt_key.as_deref(),
            Some("PKCS#8 PEM encoded ECDSA keypair, without the header or footer lines")
        );
        assert_eq!(
            w.jwt_claims,
            [("aud".to_owned(), "https://push.example.com".to_owned())]
        );
    }
}

#[test]
fn the_encrypted_example_has_placeholder_key_text() {
    // The example's payload is prose ("Base64 encoded ciphertext"): not base64, so the
    // example is refused as a whole with the payload's error, the first one found.
    for path in [
        "seed/04-encrypted-notification.xml",
        "current/05-encrypted-notification.xml",
    ] {
        let error = Notification::from_message(&fixture(path)).unwrap_err();
        assert_eq!(error, ParseError::InvalidPayload);
    }
}

#[test]
fn the_disco_example_advertises_push2_and_the_send_prefix() {
    for path in ["seed/05-disco.xml", "current/06-disco.xml"] {
        let iq = Iq::try_from(fixture(path)).unwrap();
        let Iq::Result {
            payload: Some(payload),
            ..
        } = iq
        else {
            panic!("not a result")
        };
        let info = DiscoInfoResult::try_from(payload).unwrap();
        let support = Support::from_disco(&info);
        assert!(support.push2);
        assert!(support.match_profiles.is_empty());
        assert_eq!(support.send_profiles, ["urn:xmpp:push2:send:"]);
        assert!(!support.has_send(xmpp_push2::ns::SEND_NOTIFY_ONLY));
    }
}

#[test]
fn an_enable_shaped_like_borogoves_parses() {
    // Built after Borogove's Push2Enable (an iq without `to`, one `important` match with a
    // grace period, a filter and the encrypted profile, `aud` a bare host).
    let iq = fixture("borogove-shaped-enable.xml");
    let enable = Enable::try_from(iq.get_child("enable", xmpp_push2::ns::PUSH2).unwrap()).unwrap();
    assert_eq!(enable.service.to_string(), "push.snikket.net");
    let m = &enable.matches[0];
    assert_eq!(m.profile, MatchProfile::Important);
    assert_eq!(m.grace, Some(Duration::from_secs(120)));
    assert_eq!(
        m.filters,
        [Filter::muted("room@chat.example".parse().unwrap())
            .with_mentions()
            .with_replies()]
    );
    let SendProfile::WebPush(w) = &m.send else {
        panic!()
    };
    assert_eq!(
        w.jwt_claims,
        [("aud".to_owned(), "push.snikket.net".to_owned())]
    );
}

#[test]
fn what_we_write_for_the_seed_example_is_its_shape() {
    let written = Element::from(seed_enable());
    assert_eq!(
        String::from(&written),
        "<enable xmlns='urn:xmpp:push2:0'><service>pusher@push.example.com</service>\
         <client>https://push.example.com/adlfkjadafdasf</client>\
         <match profile='urn:xmpp:push2:match:archived-with-body'>\
         <send xmlns='urn:xmpp:push2:send:notify-only:0'/></match></enable>"
    );
}
