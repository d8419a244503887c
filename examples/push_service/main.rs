//! A XEP-0357 push service (app server) as an XEP-0114 component, over tokio.
//!
//! It connects to an XMPP server's component port, authenticates with the shared secret, and
//! accepts publishes for the nodes it issued: each accepted notification is printed as one
//! JSON line (and handed to `--exec PROGRAM` on stdin, to forward it to APNs, FCM, UnifiedPush,
//! ...). Publishes for other nodes, without the node's secret or from a client's full JID are
//! answered with the XEP-0060 error; disco#info says `pubsub/push`.
//!
//! ```text
//! push_service create --store nodes.json --service push.example.org --owner "alice's phone"
//! push_service list   --store nodes.json
//! push_service retire --store nodes.json --service push.example.org --node NODE
//! push_service run    --store nodes.json --service push.example.org \
//!                     --server 127.0.0.1:5347 --secret SECRET [--exec PROGRAM] [--for SECS]
//! ```
//!
//! `create` prints the node, its secret and the `<enable/>` iq the owner's client sends its
//! server. `create` and `retire` may run while `run` does: it reloads the store file when it
//! changes. With Prosody: `Component "push.example.org"` with `component_secret = "SECRET"` and
//! `component_ports = { 5347 }`.
//!
//! Layout: this file parses the command line and runs the connection loop, `component.rs`
//! speaks XEP-0114 and frames the stream, `push0.rs` is the XEP-0357 logic. A protocol module
//! offers `handle(now, &stanza) -> Option<replies>`; the loop tries each in turn and answers
//! an iq no module claims with `service-unavailable`.

mod component;
mod push0;
mod push2;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime};

use xmpp_tether::jid::Jid;
use xmpp_tether::minidom::Element;
use xmpp_tether::minidom::rxml::{Namespace, xml_ncname};
use xmpp_tether::push0::{Monotonic, Now};
use xmpp_tether::rand_core::SeedableRng;
use xmpp_tether::xmpp_parsers::stanza_error::{DefinedCondition, ErrorType, StanzaError};

use crate::component::Component;

pub(crate) type Error = Box<dyn std::error::Error>;

const USAGE: &str = "usage:
  push_service create --store FILE --service JID --owner OWNER
  push_service list   --store FILE
  push_service retire --store FILE --service JID --node NODE
  push_service run    --store FILE --service JID --server HOST:PORT --secret SECRET
                      [--exec PROGRAM] [--for SECONDS]";

/// How long connecting and the handshake may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the running service looks for changes to the node store file.
const RELOAD_EVERY: Duration = Duration::from_secs(2);

struct Args {
    command: String,
    store: PathBuf,
    service: Option<Jid>,
    owner: Option<String>,
    node: Option<String>,
    server: Option<String>,
    secret: Option<String>,
    exec: Option<String>,
    run_for: Option<Duration>,
}

fn parse(mut argv: impl Iterator<Item = String>) -> Result<Args, String> {
    let command = argv.next().ok_or("no command")?;
    let mut args = Args {
        command,
        store: PathBuf::from("push_nodes.json"),
        service: None,
        owner: None,
        node: None,
        server: None,
        secret: None,
        exec: None,
        run_for: None,
    };
    while let Some(flag) = argv.next() {
        let mut value = || argv.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--store" => args.store = PathBuf::from(value()?),
            "--service" => {
                let v = value()?;
                args.service = Some(v.parse().map_err(|e| format!("--service {v:?}: {e}"))?);
            }
            "--owner" => args.owner = Some(value()?),
            "--node" => args.node = Some(value()?),
            "--server" => args.server = Some(value()?),
            "--secret" => args.secret = Some(value()?),
            "--exec" => args.exec = Some(value()?),
            "--for" => {
                let v = value()?;
                let secs: u64 = v.parse().map_err(|e| format!("--for {v:?}: {e}"))?;
                args.run_for = Some(Duration::from_secs(secs));
            }
            other => return Err(format!("unknown option {other:?}")),
        }
    }
    Ok(args)
}

fn main() -> ExitCode {
    let args = match parse(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(e) => {
            eprintln!("{e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match dispatch(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("push_service: {e}");
            ExitCode::FAILURE
        }
    }
}

fn dispatch(args: &Args) -> Result<(), Error> {
    let store = push0::Store::new(&args.store);
    let need = |what: Option<&str>, flag: &str| {
        what.map(str::to_owned)
            .ok_or_else(|| format!("{} needs {flag}\n{USAGE}", args.command))
    };
    let service = || {
        args.service
            .clone()
            .ok_or_else(|| format!("{} needs --service\n{USAGE}", args.command))
    };
    let clock = Clock::new();
    match args.command.as_str() {
        "create" => {
            let owner = need(args.owner.as_deref(), "--owner")?;
            push0::create(&store, &service()?, &owner, clock.now(), &mut os_rng()?)
        }
        "list" => push0::list(&store),
        "retire" => {
            let node = need(args.node.as_deref(), "--node")?;
            push0::retire(&store, &service()?, &node, clock.now())
        }
        "run" => {
            let server = need(args.server.as_deref(), "--server")?;
            let secret = need(args.secret.as_deref(), "--secret")?;
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(run(args, service()?, &server, &secret, store, clock))
        }
        other => Err(format!("unknown command {other:?}\n{USAGE}").into()),
    }
}

/// The connection loop: read a stanza, let each protocol module try it, write what it
/// answers, pick up changes to the node store; stop at end of stream, ctrl-c or `--for`.
async fn run(
    args: &Args,
    service: Jid,
    server: &str,
    secret: &str,
    store: push0::Store,
    clock: Clock,
) -> Result<(), Error> {
    let mut push0 = push0::Service::new(service.clone(), store, args.exec.clone())?;
    let mut push2 = push2::Service::new();
    let mut component =
        Component::connect(server, service.as_str(), secret, CONNECT_TIMEOUT).await?;
    eprintln!("connected to {server} as {service}");
    let run_for = args.run_for;
    let stop = async move {
        match run_for {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(stop);
    let mut reload = tokio::time::interval(RELOAD_EVERY);
    loop {
        tokio::select! {
            stanza = component.recv() => {
                let Some(stanza) = stanza? else {
                    eprintln!("the server closed the stream");
                    break;
                };
                let replies = match push0
                    .handle(clock.now(), &stanza)
                    .or_else(|| push2.handle(clock.now(), &stanza))
                {
                    Some(replies) => replies,
                    None => unclaimed(&stanza, &service).into_iter().collect(),
                };
                for reply in replies {
                    component.send(&reply).await?;
                }
            }
            wake = push2.next(&clock) => {
                for reply in push2.wake(clock.now(), wake) {
                    component.send(&reply).await?;
                }
            }
            _ = reload.tick() => push0.refresh(),
            _ = tokio::signal::ctrl_c() => break,
            () = &mut stop => break,
        }
    }
    component.close().await?;
    Ok(())
}

/// The answer to a stanza no module claimed: `service-unavailable` for an iq get or set
/// (RFC 6120 §8.4), nothing for anything else.
fn unclaimed(stanza: &Element, service: &Jid) -> Option<Element> {
    let is_request = stanza.name() == "iq" && matches!(stanza.attr("type"), Some("get" | "set"));
    if !is_request {
        return None;
    }
    let mut reply = Element::bare("iq", "jabber:client");
    for (name, value) in [
        (xml_ncname!("type"), Some("error")),
        (xml_ncname!("id"), stanza.attr("id")),
        (xml_ncname!("to"), stanza.attr("from")),
        (xml_ncname!("from"), Some(service.as_str())),
    ] {
        if let Some(value) = value {
            reply.set_attr(Namespace::NONE, name.to_owned(), value);
        }
    }
    let error = StanzaError::new(
        ErrorType::Cancel,
        DefinedCondition::ServiceUnavailable,
        "en",
        "not a service of this push service",
    );
    reply.append_child(error.into());
    Some(reply)
}

/// The program's clocks: the monotonic epoch is its start.
struct Clock {
    epoch: Instant,
}

impl Clock {
    #[expect(clippy::disallowed_methods, reason = "the program owns the real clock")]
    fn new() -> Self {
        Self {
            epoch: Instant::now(),
        }
    }

    #[expect(clippy::disallowed_methods, reason = "the program owns the real clock")]
    fn now(&self) -> Now {
        Now::new(
            Monotonic::from_instant(self.epoch, Instant::now()),
            SystemTime::now(),
        )
    }
}

fn os_rng() -> Result<rand_chacha::ChaCha20Rng, Error> {
    let mut seed = [0; 32];
    getrandom::fill(&mut seed).map_err(|e| format!("OS random source: {e}"))?;
    Ok(rand_chacha::ChaCha20Rng::from_seed(seed))
}
