//! A small single-domain XMPP server on tokio, written the way we tell users to write theirs:
//! the protocol crates own the protocol, this program owns the sockets, the clocks, the
//! randomness and the files.
//!
//! ```text
//! cargo run --example server -- --user juliet:secret --user romeo:secret
//! cargo run --example server -- --listen 127.0.0.1:5222 --domain localhost \
//!     --accounts accounts.txt --state server-state.json
//! ```
//!
//! - Plain TCP on `--listen` (127.0.0.1:5222 by default), one domain (`--domain`, default
//!   `localhost`), accounts from `--user name:password` or a file of such lines.
//! - SASL PLAIN, SCRAM-SHA-1 and SCRAM-SHA-256 (xmpp-rs's `sasl` crate), legacy (RFC 6120 §6) and SASL2
//!   (XEP-0388) with Bind2 (XEP-0386), stream management resumed and enabled inline.
//! - Resource binding, messages, presence (rosters and subscriptions between local accounts)
//!   and iq routed between local accounts; offline messages with delay stamps.
//! - XEP-0198 stream management with resumption. On SIGINT or SIGTERM every stream hibernates
//!   and the store is written to `--state` (default `server-state.json` in the working
//!   directory); the next start restores it, so sessions survive a restart.
//! - PEP (XEP-0163, `pep.rs`): each account publishes, retracts, purges and deletes items
//!   on its own bare JID; nodes default to the `presence` access model (the owner's
//!   resources and its contacts with a presence subscription from it). Which of those
//!   resources get each notification is xmpp-rsnf's recipient-side decision (XEP-0351) over
//!   the caps each resource advertises (`+notify`, `+events-`), learnt from its presence
//!   through xmpp-rsnf's `CapsCache` (one disco#info per distinct caps set). It picks what
//!   Prosody's mod_pep picks, but where XEP-0351 and XEP-0163 say otherwise: `+events-`
//!   lists are honoured, and a contact's resource with a negative priority gets nothing
//!   (`tests/server_pep.rs` runs the same scenario against both). Nodes, items and the
//!   verified caps are kept in `--state` too.
//! - Push notifications (`push.rs`, `push/`) for users whose session is hibernated or who are
//!   offline, to a push service connected as an XEP-0114 component (`--component
//!   push.localhost:SECRET`, on `--component-listen`, 127.0.0.1:5347 by default):
//!   - XEP-0357 (xmpp-push0): `<enable/>` and `<disable/>` iqs, `urn:xmpp:push:0` on the
//!     account's disco#info (§4.1), a publish for each stanza worth a push that is queued in
//!     a hibernated session or stored offline (Prosody's mod_cloud_notify rules and
//!     privacy: a placeholder body), the hibernated session kept until its first push (72 h),
//!     and every answer of the app server fed back (16 errors in a row disable a
//!     registration; `wait` errors and silence are retried).
//!   - Push 2.0 (xmpp-push2): `<enable/>` and `<disable/>` iqs, and `<enable/>` inline in
//!     Bind2 (advertised in Bind2's `<inline/>`, answered inside `<bound/>`); registrations
//!     keyed by the SASL2 user-agent id; the account's disco#info lists the profiles; every
//!     stanza routed to an account is matched against its registrations with the sessions'
//!     state (live, hibernated, none: offline; `<grace/>` from each session's last
//!     message), and the notifications (encrypted for the
//!     client and signed with the VAPID key it sent, from the registry's token cache) go to
//!     the push service; its error bounces are fed back (`wait` retried with back-off, a
//!     subscription gone disables, 72 h of failures disable). No MAM here, so the `archived`
//!     profiles never match.
//!   - A push service the server cannot reach is answered for by the server with an error,
//!     counted like the service's own. Registrations of both kinds are kept in `--state`,
//!     checked like peer data when read back.
//! - XEP-0310 presence state annotations (`psa.rs`, xmpp-psa's `Tracker`): when a contact's
//!   session hibernates (XEP-0198), the resources whose caps advertise `urn:xmpp:psa` (the
//!   caps the PEP service resolves, its `CapsCache` keeping that feature) get the contact's
//!   presence again, annotated `<connection-paused/>`; when it resumes, with the empty
//!   annotation; when the hibernation expires, only the plain unavailable. Annotations a
//!   client puts in its own presence are stripped (`tests/server_psa.rs`, with slixmpp).
//! - Cluster mode (`--redis redis://HOST:PORT --node NAME`, cargo feature `cluster`,
//!   `cluster.rs`): several nodes share their hibernated XEP-0198 sessions in Redis, so a
//!   client cut on one node resumes on another with nothing lost or repeated; claims are
//!   atomic (one Lua script each, Redis's clock for deadlines), stanzas for a session
//!   hibernated anywhere are appended to its record, expiry happens once, on one node, and
//!   ended sessions' `h` are shared (`tests/server_cluster.rs`, redis-server and two nodes).
//!   Live sessions are checkpointed before their output is written, so a node that dies or
//!   hangs with streams open loses none of what they held: a resume elsewhere falls back to
//!   the checkpoint, with the gap reported (`cluster/checkpoint.rs`,
//!   `tests/server_cluster_failover.rs`).
//!   A deployment that prefers sticky nodes instead gives each node `--sm-location
//!   HOST:PORT`, its own address, which `<enabled/>` names as where to resume (XEP-0198 §5);
//!   few clients follow it, so the cluster mode is the default answer.
//!
//! **The stream-management glue is 47 lines**: every line between `// sm {` and `// sm }`
//! and every line ending in `// sm` in this directory and below (counted by
//! `tests/server_glue.rs`). Everything else would be here without XEP-0198 too. Likewise
//! **The XEP-0357 glue is 46 lines** (`// push0`) and **The Push 2.0 glue is 47 lines**
//! (`// push2`): the lines that call the crate or act on what it returns. A line belongs to
//! one crate only. **The XEP-0310 glue is 18 lines** (`// psa`), counted the same way.
//! **The cluster-mode glue is 47 lines** (`// cluster`) outside `cluster.rs`.
//!
//! Not here: TLS (run it on loopback, or behind a TLS-terminating proxy), s2s, MUC, MAM.

mod accounts;
mod auth;
#[cfg(feature = "cluster")] // cluster
mod cluster; // cluster
#[cfg(feature = "cluster")] // cluster
use cluster::join as join_cluster; // cluster
mod component;
mod conn;
mod io;
mod iq;
mod negotiate;
mod offline;
mod pep;
mod presence;
mod psa;
mod push;
mod roster;
mod router;
mod sasl2;
mod state;
mod xml;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use xmpp_tether::jid::BareJid;
use xmpp_tether::sm::{ServerConfig, SessionStore, StoreEvent, StoreSnapshot};

use crate::accounts::Accounts;
use crate::offline::Offline;
use crate::roster::Rosters;
use crate::state::{Clock, Handle, Shared, Signal, lock};

const USAGE: &str = "usage: server [--listen ADDR] [--domain DOMAIN] [--user NAME:PASSWORD]... \
    [--accounts FILE] [--state FILE] [--component DOMAIN:SECRET]... [--component-listen ADDR] \
    [--redis redis://HOST:PORT --node NAME] [--sm-location HOST:PORT] [--trace]";

struct Args {
    listen: SocketAddr,
    component_listen: SocketAddr,
    components: Vec<String>,
    domain: String,
    users: Vec<String>,
    accounts: Option<PathBuf>,
    state: PathBuf,
    /// Cluster mode: the Redis that holds hibernated sessions, and this node's name.
    redis: Option<String>,
    node: String,
    /// XEP-0198 §5 `location` on `<enabled/>`: where to reconnect to resume (sticky nodes).
    location: Option<String>,
    trace: bool,
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(e) => {
            eprintln!("{e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("cannot start tokio: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("server: {e}");
            ExitCode::FAILURE
        }
    }
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut parsed = Args {
        listen: SocketAddr::from(([127, 0, 0, 1], 5222)),
        component_listen: SocketAddr::from(([127, 0, 0, 1], 5347)),
        components: Vec::new(),
        domain: "localhost".to_owned(),
        users: Vec::new(),
        accounts: None,
        state: PathBuf::from("server-state.json"),
        redis: None,
        node: "node".to_owned(),
        location: None,
        trace: false,
    };
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--listen" => {
                parsed.listen = value("--listen")?
                    .parse()
                    .map_err(|e| format!("--listen: {e}"))?;
            }
            "--domain" => parsed.domain = value("--domain")?,
            "--component" => parsed.components.push(value("--component")?),
            "--component-listen" => {
                parsed.component_listen = value("--component-listen")?
                    .parse()
                    .map_err(|e| format!("--component-listen: {e}"))?;
            }
            "--user" => parsed.users.push(value("--user")?),
            "--accounts" => parsed.accounts = Some(value("--accounts")?.into()),
            "--state" => parsed.state = value("--state")?.into(),
            "--redis" => parsed.redis = Some(value("--redis")?),
            "--node" => parsed.node = value("--node")?,
            "--sm-location" => parsed.location = Some(value("--sm-location")?),
            "--trace" => parsed.trace = true,
            "--help" | "-h" => return Err("a small XMPP server for tether's crates".to_owned()),
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(parsed)
}

/// What `--state` holds.
#[derive(serde::Serialize, serde::Deserialize)]
struct Saved {
    sessions: StoreSnapshot,
    offline: Vec<(BareJid, Vec<String>)>,
    rosters: Rosters,
    /// Absent from state files written before PEP.
    #[serde(default)]
    pep: pep::Saved,
    /// Push registrations (XEP-0357, Push 2.0); absent from files written before push.
    #[serde(default)]
    push: push::Saved,
}

async fn run(args: Args) -> Result<(), String> {
    let mut entries = args.users.clone();
    if let Some(path) = &args.accounts {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        entries.extend(text.lines().map(str::to_owned));
    }
    let accounts = Accounts::parse(entries.iter().map(String::as_str))?;
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| format!("no randomness: {e}"))?;
    let rng = ChaCha20Rng::from_seed(seed);

    let clock = Clock::start();
    let (sessions, offline, rosters, pep, push) = load(&args.state, clock, args.location)?;
    let shared = Arc::new(Shared::new(
        clock,
        args.domain.clone(),
        accounts,
        sessions,
        rng,
        args.trace,
    ));
    if let Some(url) = &args.redis {
        join_cluster(&shared, url, &args.node)?; // cluster
    }
    *lock(&shared.offline) = offline;
    *lock(&shared.rosters) = rosters;
    let skipped = shared.pep.restore(pep);
    if skipped > 0 {
        eprintln!("{}: skipped {skipped} PEP entries", args.state.display());
    }
    *lock(&shared.components) =
        component::Components::parse(args.components.iter().map(String::as_str))?;
    let state = args.state.display();
    shared
        .push_restore(shared.now(), push)
        .map_err(|e| format!("{state}: {e}"))?;
    #[cfg(feature = "cluster")] // cluster
    shared.cluster_load(shared.now()); // cluster
    tokio::spawn(store_timer(Arc::clone(&shared)));
    tokio::spawn(push::timer(Arc::clone(&shared)));
    tokio::spawn(pep::caps_timer(Arc::clone(&shared)));

    let listener = TcpListener::bind(args.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    if !args.components.is_empty() {
        let components = TcpListener::bind(args.component_listen)
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", args.component_listen))?;
        let at = components.local_addr().map_err(|e| e.to_string())?;
        println!("components on {at}");
        tokio::spawn(component::listen(Arc::clone(&shared), components));
    }
    // Tests wait for this line.
    println!(
        "listening on {local} for {} ({} accounts, {} hibernated sessions restored)",
        args.domain,
        shared.accounts.len(),
        shared.sessions.hibernated_count(),
    );
    let mut tasks = JoinSet::new();
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| e.to_string())?;
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((socket, _)) => drop(tasks.spawn(conn::serve(Arc::clone(&shared), socket))),
                Err(e) => eprintln!("accept: {e}"),
            },
            _ = tokio::signal::ctrl_c() => break,
            _ = terminate.recv() => break,
        }
    }

    // Every stream hibernates, then the store and the offline messages go to disk.
    let conns: Vec<_> = lock(&shared.conns).values().cloned().collect();
    for conn in conns {
        let _ = conn.send(Signal::Shutdown);
    }
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    save(&args.state, &shared)?;
    println!("state written to {}", args.state.display());
    Ok(())
}

type Loaded = (
    SessionStore<Handle>,
    Offline,
    Rosters,
    pep::Saved,
    push::Saved,
);

fn load(path: &PathBuf, clock: Clock, location: Option<String>) -> Result<Loaded, String> {
    let mut config = ServerConfig::default();
    config.location = location; // sm
    let Ok(text) = std::fs::read(path) else {
        let empty = SessionStore::new(config);
        return Ok((
            empty,
            Offline::default(),
            Rosters::default(),
            pep::Saved::default(),
            push::Saved::default(),
        ));
    };
    let saved: Saved =
        serde_json::from_slice(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    // Read back like peer data: a corrupt or forged file is refused, not half-loaded.
    // sm {
    let sessions = SessionStore::restore(config, saved.sessions, clock.now());
    // sm }
    let sessions = sessions.map_err(|e| format!("{}: {e}", path.display()))?;
    let (offline, skipped) = Offline::from_saved(saved.offline);
    if skipped > 0 {
        eprintln!(
            "{}: skipped {skipped} unreadable offline messages",
            path.display()
        );
    }
    Ok((sessions, offline, saved.rosters, saved.pep, saved.push))
}

fn save(path: &PathBuf, shared: &Shared) -> Result<(), String> {
    let saved = Saved {
        // sm {
        sessions: shared.sessions.snapshot(shared.now()),
        // sm }
        offline: lock(&shared.offline).to_saved(),
        rosters: std::mem::take(&mut *lock(&shared.rosters)),
        pep: shared.pep.to_saved(),
        push: shared.push_saved(),
    };
    let json = serde_json::to_vec_pretty(&saved).map_err(|e| e.to_string())?;
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, json).map_err(|e| format!("{}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| format!("{}: {e}", path.display()))
}

/// The session store's timer: once a second, expires hibernated sessions whose deadline has
/// passed and hands their stanzas back (the resource is gone: its contacts are told).
async fn store_timer(shared: Arc<Shared>) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    loop {
        tick.tick().await;
        let now = shared.now();
        // sm {
        shared.sessions.handle_timeout(now);
        while let Some(StoreEvent::HandedBack { jid, stanzas, .. }) = shared.sessions.poll_event() {
            shared.push0_gone(now, jid.as_ref()); // push0
            shared.push2_gone(jid.as_ref()); // push2
            shared.resource_gone(now, jid.as_ref(), stanzas);
        }
        // sm }
        #[cfg(feature = "cluster")] // cluster
        shared.cluster_expire(now); // cluster
    }
}

#[cfg(not(feature = "cluster"))]
fn join_cluster(_: &Arc<Shared>, url: &str, _: &str) -> Result<(), String> {
    Err(format!(
        "--redis {url}: this server was built without cluster mode (cargo feature `cluster`)"
    ))
}
