//! The tracker's invariants, checked by the fuzz targets after every operation.

use super::Tracker;
use super::table::Home;
use crate::link::State;

impl Tracker {
    /// Checks that every index agrees with the tables and every limit holds.
    ///
    /// # Errors
    /// What is broken.
    pub fn check_invariants(&self) -> Result<(), String> {
        let t = &self.t;
        let c = &self.config;
        if t.entries.len() > c.max_presences {
            return Err(format!(
                "{} presences over {}",
                t.entries.len(),
                c.max_presences
            ));
        }
        if t.parties.len() > c.max_parties || t.domains.len() > c.max_domains {
            return Err("a table over its limit".into());
        }
        for (&(w, s), entry) in &t.entries {
            let (Some(watcher), Some(source)) = (t.parties.get(w), t.parties.get(s)) else {
                return Err(format!("entry ({w}, {s}) names a missing party"));
            };
            if !watcher.watching.contains(&s) || !source.watched_by.contains(&w) {
                return Err(format!(
                    "entry {} <- {} is not indexed",
                    watcher.jid, source.jid
                ));
            }
            let in_lru = watcher
                .account
                .and_then(|a| t.accounts.get(a))
                .and_then(|a| a.lru.get(&entry.seq))
                == Some(&(w, s));
            if !in_lru {
                return Err(format!(
                    "entry {} <- {} not in its account",
                    watcher.jid, source.jid
                ));
            }
        }
        let mut total = 0;
        for (id, account) in t.accounts.iter() {
            total += account.lru.len();
            if account.lru.len() > c.max_presences_per_account {
                return Err(format!("account {} over its limit", account.bare));
            }
            if account.lru.is_empty() || !t.by_size.contains(&(account.lru.len(), id)) {
                return Err(format!("account {} badly sized", account.bare));
            }
        }
        if total != t.entries.len() || t.by_size.len() != t.accounts.len() {
            return Err("accounts and entries disagree".into());
        }
        for (id, party) in t.parties.iter() {
            if t.party_ids.get(&party.jid) != Some(&id) {
                return Err(format!("{} is not indexed by JID", party.jid));
            }
            let empty = party.watching.is_empty()
                && party.watched_by.is_empty()
                && party.occupants.is_empty()
                && party.real.is_none()
                && party.interest == super::table::Interest::Unknown
                && !party.paused;
            if empty {
                return Err(format!("{} is kept with nothing to keep", party.jid));
            }
            if party
                .watching
                .iter()
                .any(|s| !t.entries.contains_key(&(id, *s)))
                || party
                    .watched_by
                    .iter()
                    .any(|w| !t.entries.contains_key(&(*w, id)))
            {
                return Err(format!("{}'s indexes name missing entries", party.jid));
            }
            if party.watching.is_empty() != party.account.is_none() {
                return Err(format!("{}'s account link is wrong", party.jid));
            }
            if let Some(real) = party.real
                && !t
                    .parties
                    .get(real)
                    .is_some_and(|r| r.occupants.contains(&id))
            {
                return Err(format!("{}'s real JID does not know it", party.jid));
            }
            if party
                .occupants
                .iter()
                .any(|o| t.parties.get(*o).and_then(|o| o.real) != Some(id))
            {
                return Err(format!("{}'s occupants do not point back", party.jid));
            }
            let local = c.is_local(party.jid.domain());
            match party.home {
                Home::Local if local => {}
                Home::Remote(d) if !local => {
                    if !t.domains.get(d).is_some_and(|d| d.members.contains(&id)) {
                        return Err(format!("{} is not among its domain's members", party.jid));
                    }
                }
                _ => return Err(format!("{} has the wrong home", party.jid)),
            }
            if party.paused && !(local && party.jid.is_full()) {
                return Err(format!("{} is paused but no local session", party.jid));
            }
        }
        for (id, domain) in t.domains.iter() {
            if t.domain_ids.get(&domain.name) != Some(&id) || c.is_local(&domain.name) {
                return Err(format!("domain {} badly indexed", domain.name));
            }
            if domain
                .members
                .iter()
                .any(|m| t.parties.get(*m).is_none_or(|p| p.home != Home::Remote(id)))
            {
                return Err(format!("domain {} has strangers", domain.name));
            }
            let suspect = matches!(domain.link.state, State::Suspect { .. });
            let timed = domain
                .link
                .deadline()
                .is_some_and(|d| t.deadlines.contains(&(d, id)));
            if suspect != timed {
                return Err(format!(
                    "domain {}'s grace timer is out of step",
                    domain.name
                ));
            }
            if domain.members.is_empty() && domain.link.is_idle() {
                return Err(format!(
                    "domain {} is kept with nothing to keep",
                    domain.name
                ));
            }
        }
        if t.deadlines.len()
            != t.domains
                .iter()
                .filter(|(_, d)| d.link.deadline().is_some())
                .count()
        {
            return Err("stray grace deadlines".into());
        }
        Ok(())
    }
}
