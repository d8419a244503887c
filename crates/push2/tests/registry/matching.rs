//! Which registrations a stanza notifies: profiles, sessions, grace periods, filters.

use std::time::Duration;

use minidom::Element;
use xmpp_push2::{
    Classification, Enable, Filter, Match, MatchProfile, Monotonic, Priority, Registry,
    RegistryConfig, Routed, SendProfile, SessionState, SessionStatus,
};

use super::common::*;

/// How many registrations `stanza` selects, archived under `archive` when given.
fn hits(registry: &Registry, stanza: &Element, archive: Option<&str>) -> usize {
    let account = juliet();
    let mut routed = Routed::new(&account, stanza).with_room_nick("juliet");
    if let Some(id) = archive {
        routed = routed.with_archive_id(id);
    }
    registry.select(t0(), &routed).selected.len()
}

fn one(profile: MatchProfile) -> Registry {
    registry_with(RegistryConfig::default(), vec![notify_only(profile)])
}

const RECEIPT: &str = "<message xmlns='jabber:client' from='romeo@montague.example/o'><received xmlns='urn:xmpp:receipts' id='m0'/></message>";
const CHAT_STATE: &str = "<message xmlns='jabber:client' type='chat' from='romeo@montague.example/o'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>";
const MARKER: &str = "<message xmlns='jabber:client' from='romeo@montague.example/o'><displayed xmlns='urn:xmpp:chat-markers:0' id='m0'/></message>";
const HEADLINE: &str = "<message xmlns='jabber:client' type='headline' from='news.example'><body>News</body></message>";
const CORRECTION: &str = "<message xmlns='jabber:client' type='chat' from='romeo@montague.example/o'><body>fixed</body><replace xmlns='urn:xmpp:message-correct:0' id='m0'/></message>";
const REFLECTION: &str = "<message xmlns='jabber:client' type='groupchat' from='room@muc.example/juliet'><body>mine</body></message>";
const ROOM: &str = "<message xmlns='jabber:client' type='groupchat' from='room@muc.example/nurse'><body>hello all</body></message>";
const OMEMO: &str = "<message xmlns='jabber:client' type='chat' from='romeo@montague.example/o'><encrypted xmlns='eu.siacs.conversations.axolotl'><header sid='1'/><payload>AAAA</payload></encrypted></message>";
const CALL: &str = "<message xmlns='jabber:client' from='romeo@montague.example/o'><propose xmlns='urn:xmpp:jingle-message:0' id='c1'/></message>";
const RETRACT: &str = "<message xmlns='jabber:client' from='romeo@montague.example/o'><retract xmlns='urn:xmpp:jingle-message:0' id='c1'/></message>";
const PRESENCE: &str =
    "<presence xmlns='jabber:client' from='romeo@montague.example' type='subscribe'/>";
const SENT_CARBON: &str = "<message xmlns='jabber:client' from='juliet@capulet.example' to='juliet@capulet.example/phone'><sent xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client' from='juliet@capulet.example/laptop' to='romeo@montague.example' type='chat'><body>from my laptop</body></message></forwarded></sent></message>";
const RECEIVED_CARBON: &str = "<message xmlns='jabber:client' from='juliet@capulet.example' to='juliet@capulet.example/phone'><received xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client' from='romeo@montague.example/o' to='juliet@capulet.example/laptop' type='chat'><body>to the laptop</body></message></forwarded></received></message>";

#[test]
fn important_is_what_the_docs_say() {
    let important = one(MatchProfile::Important);
    for (xml, want) in [
        (&*String::from(&message("hi")), true),
        (OMEMO, true),
        (CALL, true),
        (RECEIVED_CARBON, true),
        (ROOM, true),
        (RECEIPT, false),
        (CHAT_STATE, false),
        (MARKER, false),
        (HEADLINE, false),
        (CORRECTION, false),
        (REFLECTION, false),
        (SENT_CARBON, false),
        (RETRACT, false),
        (PRESENCE, false),
    ] {
        assert_eq!(hits(&important, &stanza(xml), None) == 1, want, "{xml}");
    }
}

#[test]
fn all_and_the_archive_profiles() {
    let all = one(MatchProfile::All);
    for xml in [RECEIPT, PRESENCE, CHAT_STATE] {
        assert_eq!(hits(&all, &stanza(xml), None), 1, "{xml}");
    }
    let archived = one(MatchProfile::Archived);
    assert_eq!(hits(&archived, &message("hi"), None), 0);
    assert_eq!(hits(&archived, &message("hi"), Some("mam-1")), 1);
    assert_eq!(hits(&archived, &stanza(RECEIPT), Some("mam-2")), 1);
    let with_body = one(MatchProfile::ArchivedWithBody);
    assert_eq!(hits(&with_body, &message("hi"), Some("mam-1")), 1);
    assert_eq!(hits(&with_body, &stanza(OMEMO), Some("mam-1")), 1);
    assert_eq!(hits(&with_body, &stanza(RECEIPT), Some("mam-2")), 0);
    assert_eq!(hits(&with_body, &message("hi"), None), 0);
}

#[test]
fn priorities_and_voip() {
    let c = |xml: &str| {
        let account = juliet();
        let el = stanza(xml);
        let routed = Routed::new(&account, &el).with_room_nick("juliet");
        Classification::of(&routed)
    };
    assert_eq!(c(CALL).priority(), Priority::High);
    assert!(c(CALL).is_call());
    assert_eq!(c(&String::from(&message("x"))).priority(), Priority::Normal);
    assert_eq!(c(RECEIPT).priority(), Priority::Low);
    assert!(!c(RETRACT).is_call());
}

#[test]
fn live_sessions_are_not_pushed_to_except_for_calls() {
    let registry = registry_with(
        RegistryConfig::default(),
        vec![
            notify_only(MatchProfile::Important),
            notify_only(MatchProfile::Important),
        ],
    );
    let account = juliet();
    let sessions = [
        SessionState::new(device("r0").key(), SessionStatus::Live),
        SessionState::new(device("r1").key(), SessionStatus::Hibernated),
    ];
    let chat = message("hi");
    let routed = Routed::new(&account, &chat).with_sessions(&sessions);
    let selection = registry.select(t0(), &routed);
    let keys: Vec<_> = selection.selected.iter().map(|s| s.key.clone()).collect();
    assert_eq!(keys, [device("r1").key()]);
    let call = stanza(CALL);
    let routed = Routed::new(&account, &call).with_sessions(&sessions);
    assert_eq!(registry.select(t0(), &routed).selected.len(), 2);
    let config = {
        let mut c = RegistryConfig::default();
        c.calls_reach_live_sessions = false;
        c
    };
    let strict = registry_with(
        config,
        vec![
            notify_only(MatchProfile::Important),
            notify_only(MatchProfile::Important),
        ],
    );
    assert_eq!(strict.select(t0(), &routed).selected.len(), 1);
}

#[test]
fn grace_holds_pushes_while_another_session_is_active() {
    let enable = Enable::new("push.example".parse().unwrap(), endpoint(0)).with_match(
        Match::new(MatchProfile::Important, SendProfile::NotifyOnly)
            .with_grace(Duration::from_secs(120)),
    );
    let registry = registry_with(RegistryConfig::default(), vec![enable]);
    let account = juliet();
    let now = t0();
    let a_minute_ago =
        Monotonic::from_epoch(now.monotonic().since_epoch() - Duration::from_secs(60));
    let long_ago = Monotonic::from_epoch(now.monotonic().since_epoch() - Duration::from_secs(90));
    let laptop = SessionState::new(device("laptop").key(), SessionStatus::Live);
    let chat = message("hi");
    let select = |sessions: &[SessionState], el: &Element, at| {
        let routed = Routed::new(&account, el).with_sessions(sessions);
        registry.select(at, &routed).selected.len()
    };
    assert_eq!(
        select(
            &[laptop.clone().with_last_activity(a_minute_ago)],
            &chat,
            now
        ),
        0
    );
    assert_eq!(
        select(
            &[laptop.clone().with_last_activity(long_ago)],
            &chat,
            now.advance(Duration::from_secs(31))
        ),
        1
    );
    assert_eq!(select(std::slice::from_ref(&laptop), &chat, now), 1);
    // The registration's own session's activity does not count; calls ignore grace.
    let own = SessionState::new(device("r0").key(), SessionStatus::Hibernated)
        .with_last_activity(a_minute_ago);
    assert_eq!(select(&[own], &chat, now), 1);
    assert_eq!(
        select(
            &[laptop.with_last_activity(a_minute_ago)],
            &stanza(CALL),
            now
        ),
        1
    );
}

#[test]
fn filters_mute_a_chat_except_mentions_and_replies() {
    let muted = |f: Filter| {
        let enable = Enable::new("push.example".parse().unwrap(), endpoint(0)).with_match(
            Match::new(MatchProfile::Important, SendProfile::NotifyOnly).with_filter(f),
        );
        registry_with(RegistryConfig::default(), vec![enable])
    };
    let room: jid::Jid = "room@muc.example".parse().unwrap();
    let mention = stanza(
        "<message xmlns='jabber:client' type='groupchat' from='room@muc.example/nurse'><body>Juliet, come!</body></message>",
    );
    let reply = stanza(
        "<message xmlns='jabber:client' type='groupchat' from='room@muc.example/nurse'><body>yes</body><reply xmlns='urn:xmpp:reply:0' to='room@muc.example/juliet' id='x'/></message>",
    );
    let plain = stanza(ROOM);
    let silent = muted(Filter::muted(room.clone()));
    assert_eq!(hits(&silent, &plain, None), 0);
    assert_eq!(hits(&silent, &mention, None), 0);
    let mentions = muted(Filter::muted(room.clone()).with_mentions());
    assert_eq!(hits(&mentions, &plain, None), 0);
    assert_eq!(hits(&mentions, &mention, None), 1);
    assert_eq!(hits(&mentions, &reply, None), 0);
    let replies = muted(Filter::muted(room).with_replies());
    assert_eq!(hits(&replies, &reply, None), 1);
    assert_eq!(hits(&replies, &mention, None), 0);
    // A filter on a domain mutes everyone there; other senders are not affected.
    let domain = muted(Filter::muted("montague.example".parse().unwrap()));
    assert_eq!(hits(&domain, &message("hi"), None), 0);
    assert_eq!(hits(&domain, &plain, None), 1);
    // Outside rooms, a mention is the account's local part; a reply is to the account.
    let romeo = muted(
        Filter::muted("romeo@montague.example".parse().unwrap())
            .with_mentions()
            .with_replies(),
    );
    assert_eq!(hits(&romeo, &message("good night, juliet"), None), 1);
    assert_eq!(hits(&romeo, &message("good night"), None), 0);
    let direct_reply = stanza(
        "<message xmlns='jabber:client' type='chat' from='romeo@montague.example/o'><body>yes</body><reply xmlns='urn:xmpp:reply:0' to='juliet@capulet.example/phone' id='x'/></message>",
    );
    assert_eq!(hits(&romeo, &direct_reply, None), 1);
}

#[test]
fn one_notification_per_registration_the_first_match_deciding() {
    let enable = Enable::new("push.example".parse().unwrap(), endpoint(0))
        .with_match(Match::new(
            MatchProfile::ArchivedWithBody,
            SendProfile::NotifyOnly,
        ))
        .with_match(Match::new(MatchProfile::Important, SendProfile::NotifyOnly))
        .with_match(Match::new(MatchProfile::All, SendProfile::NotifyOnly));
    let mut registry = registry_with(RegistryConfig::default(), vec![enable]);
    let account = juliet();
    let chat = message("hi");
    let routed = Routed::new(&account, &chat).with_archive_id("mam-1");
    let selection = registry.select(t0(), &routed);
    assert_eq!(selection.selected.len(), 1);
    assert_eq!(selection.selected[0].match_index, 0);
    let not_archived = Routed::new(&account, &chat);
    assert_eq!(
        registry.select(t0(), &not_archived).selected[0].match_index,
        1
    );
    let receipt = stanza(RECEIPT);
    assert_eq!(
        registry
            .select(t0(), &Routed::new(&account, &receipt))
            .selected[0]
            .match_index,
        2
    );
    let mut rng = rng();
    assert_eq!(registry.handle_routed(t0(), &mut rng, &routed), 1);
    assert_eq!(drain(&mut registry).notifications.len(), 1);
}

#[test]
fn other_accounts_are_not_touched() {
    let mut registry = registry_with(
        RegistryConfig::default(),
        vec![notify_only(MatchProfile::All)],
    );
    let romeo: jid::BareJid = "romeo@montague.example".parse().unwrap();
    let chat = message("hi");
    let mut rng = rng();
    assert_eq!(
        registry.handle_routed(t0(), &mut rng, &Routed::new(&romeo, &chat)),
        0
    );
    assert!(registry.poll_transmit().is_none());
}
