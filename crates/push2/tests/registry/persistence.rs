//! Records and snapshots, through JSON, checked when read back.

use xmpp_push2::{
    AccountRecord, EnableError, MatchProfile, NoCustomProfiles, Registry, RegistryConfig,
    RestoreError, Snapshot,
};

use super::common::*;

#[test]
fn a_snapshot_survives_json_and_a_restore() {
    let registry = registry_with(
        RegistryConfig::default(),
        vec![
            encrypted(MatchProfile::Important, 0),
            notify_only(MatchProfile::All),
        ],
    );
    let snapshot = registry.snapshot();
    let json = serde_json::to_string(&snapshot).unwrap();
    let back: Snapshot = serde_json::from_str(&json).unwrap();
    let restored = Registry::restore(
        RegistryConfig::default(),
        NoCustomProfiles,
        back,
        &mut rng(),
        t0(),
    )
    .unwrap();
    assert_eq!(restored.snapshot(), snapshot);
    assert_eq!(
        restored.registrations(&juliet()),
        registry.registrations(&juliet())
    );
    restored.assert_invariants();
}

#[test]
fn records_are_checked_like_a_clients_enable() {
    let registry = registry_with(
        RegistryConfig::default(),
        vec![notify_only(MatchProfile::All)],
    );
    let record = registry.record(&juliet()).unwrap();
    let restore = |accounts: Vec<AccountRecord>, config: RegistryConfig| {
        let mut snapshot = Snapshot::default();
        snapshot.accounts = accounts;
        Registry::restore(config, NoCustomProfiles, snapshot, &mut rng(), t0()).map(|_| ())
    };
    // Own JID as service.
    let mut own = record.clone();
    own.registrations[0].enable = own.registrations[0]
        .enable
        .replace("push.example", "juliet@capulet.example");
    assert_eq!(
        restore(vec![own], RegistryConfig::default()),
        Err(RestoreError::Refused {
            account: juliet(),
            error: EnableError::OwnJid
        })
    );
    // Not XML, twice the same account, twice the same key, above the bound.
    let mut broken = record.clone();
    broken.registrations[0].enable = "<enable".into();
    assert_eq!(
        restore(vec![broken], RegistryConfig::default()),
        Err(RestoreError::NotXml { account: juliet() })
    );
    assert!(matches!(
        restore(
            vec![record.clone(), record.clone()],
            RegistryConfig::default()
        ),
        Err(RestoreError::DuplicateAccount { .. })
    ));
    let mut twice = record.clone();
    twice.registrations.push(twice.registrations[0].clone());
    assert!(matches!(
        restore(vec![twice], RegistryConfig::default()),
        Err(RestoreError::DuplicateKey { .. })
    ));
    let small = {
        let mut c = RegistryConfig::default();
        c.max_registrations = 0;
        c
    };
    let mut other = record.clone();
    other.account = "romeo@montague.example".parse().unwrap();
    assert!(matches!(
        restore(vec![record, other], small),
        Err(RestoreError::TooMany { .. })
    ));
}

#[test]
fn restore_account_replaces_what_an_account_holds() {
    let mut registry = registry_with(
        RegistryConfig::default(),
        vec![notify_only(MatchProfile::All)],
    );
    let record = registry.record(&juliet()).unwrap();
    registry
        .enable(t0(), &device("extra"), notify_only(MatchProfile::Important))
        .unwrap();
    let _ = drain(&mut registry);
    assert_eq!(registry.registration_count(), 2);
    registry.restore_account(t0(), record.clone()).unwrap();
    assert_eq!(registry.record(&juliet()), Some(record));
    registry.remove_account(t0(), &juliet());
    assert_eq!(registry.record(&juliet()), None);
    registry.assert_invariants();
}
