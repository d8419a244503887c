//! Model-based property: random sequences of enables, stanzas, bounces, outcomes, time steps
//! and restarts against a registry with small bounds. The fuzz entry point checks, after each
//! operation, the registry's cross-table invariants, that the registrations counted from
//! `Enabled` / `Disabled` events match the registry, and that every notification sent is
//! pending or settled (delivered or discarded) exactly once: nothing lost, nothing
//! duplicated.

use proptest::prelude::*;

proptest! {
    #![proptest_config(persisted(ProptestConfig::with_cases(96)))]

    #[test]
    fn nothing_is_lost_or_duplicated(data in proptest::collection::vec(any::<u8>(), 0..2048)) {
        xmpp_push2::fuzzing::registry(&data);
    }

    #[test]
    fn the_push_service_answers_each_notification_once(data in proptest::collection::vec(any::<u8>(), 0..1024)) {
        xmpp_push2::fuzzing::service(&data);
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
