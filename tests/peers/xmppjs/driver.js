#!/usr/bin/env node
// xmpp.js (@xmpp/client 0.14.0) as a real client for tether's interop tests, driven line by
// line on stdin. See README.md beside this file for the protocol; the Rust side is
// tests/testkit/src/xmppjs.rs.
//
// Usage: node driver.js HOST PORT JID PASSWORD [RUN_LIMIT_SECS]
//        node driver.js --selftest        (SCRAM-SHA-256 adapter against RFC 7677's example)
//
// Plain TCP only (xmpp://HOST:PORT, no TLS). One xmpp.js client lives for the whole run, so
// its stream-management state (id, counters, unacked queue) carries over from one `connect`
// to the next exactly as it does in an application that reconnects.

import { Buffer } from "node:buffer";
import { createInterface } from "node:readline";
import { createRequire } from "node:module";

import { client, xml } from "@xmpp/client";

const require = createRequire(import.meta.url);
// StanzaJS's SCRAM is generic over the hash; xmpp.js ships only SCRAM-SHA-1.
const { SCRAM } = require("stanza/lib/sasl");

const NS_SM = "urn:xmpp:sm:3";
const NS_SASL = "urn:ietf:params:xml:ns:xmpp-sasl";
const NS_SASL2 = "urn:xmpp:sasl:2";
const NS_BIND2 = "urn:xmpp:bind:0";
const NS_STREAM = "http://etherx.jabber.org/streams";
const NS_DELAY = "urn:xmpp:delay";
const USER_AGENT_ID = "3f8e2c1a-6b4d-4f7e-9a2b-5c1d8e7f0a93";
const MECHANISMS = ["PLAIN", "SCRAM-SHA-1", "SCRAM-SHA-256"];

function out(...words) {
  process.stdout.write(`${words.join(" ")}\n`);
}

function trace(dir, element) {
  process.stderr.write(`${dir} ${element.toString()}\n`);
}

// ---------------------------------------------------------------------------------------------
// SCRAM-SHA-256 for xmpp.js's SASL factory (the `saslmechanisms` interface), computed by
// StanzaJS's SCRAM class. Strings here are binary strings: xmpp.js base64-codes with btoa/atob.

function ScramSha256() {
  this.scram = new SCRAM("SCRAM-SHA-256");
}
ScramSha256.prototype.name = "SCRAM-SHA-256";
ScramSha256.prototype.clientFirst = true;
ScramSha256.prototype.response = function response(cred) {
  return this.scram.createResponse(cred).toString("latin1");
};
ScramSha256.prototype.challenge = function challenge(chal) {
  this.scram.processChallenge(Buffer.from(chal, "latin1"));
  return this;
};
// Called by xmpp.js's SASL2 code with the <additional-data/> of <success/> (server-final).
ScramSha256.prototype.final = function final(data) {
  this.scram.processSuccess(Buffer.from(data, "latin1"));
  const result = this.scram.finalize();
  if (!result.authenticated) {
    throw new Error(`SCRAM-SHA-256: ${result.error ?? "server signature mismatch"}`);
  }
};

function selftest() {
  // RFC 7677 section 3.
  const mech = new ScramSha256();
  const cred = { username: "user", password: "pencil", clientNonce: "rOprNGfwEbeRWgbNEkqO" };
  const first = mech.response(cred);
  const serverFirst =
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
  mech.challenge(serverFirst);
  const final = mech.response(cred);
  const want =
    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0," +
    "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
  if (first !== "n,,n=user,r=rOprNGfwEbeRWgbNEkqO" || final !== want) {
    out("SELFTEST failed", JSON.stringify(first), JSON.stringify(final));
    process.exit(1);
  }
  mech.final("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
  let refused = false;
  try {
    mech.final("v=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");
  } catch {
    refused = true;
  }
  out(refused ? "SELFTEST ok" : "SELFTEST failed wrong server signature accepted");
  process.exit(refused ? 0 : 1);
}

if (process.argv[2] === "--selftest") selftest();

// ---------------------------------------------------------------------------------------------

const [host, port, jidText, password, limitText] = process.argv.slice(2);
if (!password) {
  process.stderr.write("usage: driver.js HOST PORT JID PASSWORD [RUN_LIMIT_SECS]\n");
  process.exit(2);
}
const RUN_LIMIT_MS = (Number(limitText) || 60) * 1000;
const at = jidText.indexOf("@");
const slash = jidText.indexOf("/");
const username = jidText.slice(0, at);
const domain = jidText.slice(at + 1, slash === -1 ? undefined : slash);
const defaultResource = slash === -1 ? undefined : jidText.slice(slash + 1);

// What the current `connect` asked for; read by the feature filter and the authenticator.
let wanted = null;

const xmpp = client({
  service: `xmpp://${host}:${port}`,
  domain,
  username,
  password,
  resource: defaultResource,
  credentials: async (authenticate, mechanisms) => {
    if (!mechanisms.includes(wanted.mech)) {
      throw new Error(`${wanted.mech} not offered (offered: ${mechanisms.join(",")})`);
    }
    await authenticate(
      { username, password },
      wanted.mech,
      // XEP-0388: the id is a UUID (xmpp-parsers rejects anything else), stable for this install.
      xml("user-agent", { id: USER_AGENT_ID }, xml("software", {}, "xmpp.js 0.14.0")),
    );
  },
});
xmpp.saslFactory.use(ScramSha256);
// Reconnection is driven by `connect` commands, never on a timer.
xmpp.reconnect.stop();
const sm = xmpp.streamManagement;
// No periodic <r/>: acks are requested by `ack` and `settle`, and after each burst of stanzas
// (xmpp.js's 250 ms debounce), so the wire stays readable.
sm.requestAckInterval = 0;

// ---------------------------------------------------------------------------------------------
// Feature filter: runs before xmpp.js's own handlers (prepended listener) and removes what the
// current `connect` did not ask for, so xmpp.js negotiates exactly the requested path.

function dropChildren(parent, predicate) {
  if (!parent) return;
  parent.children = parent.children.filter((c) => typeof c === "string" || !predicate(c));
}

function filterFeatures(features) {
  if (!wanted) return;
  const sasl2 = features.getChild("authentication", NS_SASL2);
  if (wanted.sasl === 1) {
    dropChildren(features, (c) => c.is("authentication", NS_SASL2));
  } else if (sasl2) {
    dropChildren(features, (c) => c.is("mechanisms", NS_SASL));
  }
  const inline = sasl2?.getChild("inline");
  if (!wanted.bind2) dropChildren(inline, (c) => c.is("bind", NS_BIND2));
  if (wanted.sm !== "inline") {
    dropChildren(inline, (c) => c.is("sm", NS_SM));
    const bindInline = inline?.getChild("bind", NS_BIND2)?.getChild("inline");
    dropChildren(bindInline, (c) => c.is("feature") && c.attrs.var === NS_SM);
  }
  if (wanted.sm === "off") dropChildren(features, (c) => c.is("sm", NS_SM));
  // Only sm:3 is spoken by xmpp.js; name what is left for the test.
  const names = features
    .getChildElements()
    .map((c) => (c.is("authentication", NS_SASL2) ? "sasl2" : c.name));
  const inl = (features.getChild("authentication", NS_SASL2)?.getChild("inline")?.getChildElements() ?? [])
    .map((c) => c.name);
  out("FEATURES", names.join(",") || "-", `inline=${inl.join(",") || "-"}`);
}

// ---------------------------------------------------------------------------------------------
// Observation: what came in and went out, reported after xmpp.js has handled it.

let connectTimer = null;
let settled = false; // the current connect reached ONLINE or RESUMED
let pendingResume = null; // "top" | "inline" while a resume is on its way to the server
let cutArmed = false;

function bodyOf(stanza) {
  return stanza.getChildText("body") ?? "-";
}

function reportSm(where, child) {
  if (child.is("enabled", NS_SM)) {
    setImmediate(() => out("ENABLED", sm.id || "-", child.attrs.max ?? "-", where));
  } else if (child.is("resumed", NS_SM)) {
    pendingResume = null;
    out("RESUMED", child.attrs.h ?? "-", where);
    settle();
  } else if (child.is("failed", NS_SM)) {
    pendingResume = null;
    const condition = child.getChildElements()[0]?.name ?? "-";
    out("SM_FAILED", where, condition, `h=${child.attrs.h ?? "-"}`);
  }
}

// The last negotiation element written on this connection, for TIMEOUT lines.
let negotiation = { after: "stream-open", inline: [] };

function noteNegotiation(el) {
  if (el.is("authenticate", NS_SASL2)) {
    const inline = [];
    for (const child of el.getChildElements()) {
      if (child.is("resume", NS_SM)) inline.push("resume");
      if (child.is("bind", NS_BIND2)) {
        inline.push("bind2", ...child.getChildren("enable", NS_SM).map(() => "enable"));
      }
    }
    negotiation = { after: "authenticate", inline };
  } else if (el.is("auth", NS_SASL) || el.is("response", NS_SASL2) || el.is("response", NS_SASL)) {
    negotiation = { ...negotiation, after: el.name };
  } else if (el.getNS() === NS_SM && (el.is("resume") || el.is("enable"))) {
    negotiation = { ...negotiation, after: el.name };
  } else if (el.is("iq") && el.getChild("bind", "urn:ietf:params:xml:ns:xmpp-bind")) {
    negotiation = { ...negotiation, after: "bind" };
  }
}

function settle() {
  settled = true;
  clearTimeout(connectTimer);
}

xmpp.prependListener("element", (el) => {
  trace("IN", el);
  if (el.is("features", NS_STREAM)) filterFeatures(el);
});

xmpp.on("element", (el) => {
  if (el.is("success", NS_SASL)) out("AUTHENTICATED sasl1", wanted?.mech ?? "-");
  if (el.is("success", NS_SASL2)) {
    out("AUTHENTICATED sasl2", wanted?.mech ?? "-", el.getChildText("authorization-identifier") ?? "-");
    for (const child of el.getChildElements()) {
      if (child.is("bound", NS_BIND2)) {
        out("BOUND bind2");
        for (const inner of child.getChildElements()) reportSm("inline", inner);
      } else {
        reportSm("inline", child);
      }
    }
  }
  if (el.is("failure", NS_SASL) || el.is("failure", NS_SASL2)) {
    out("AUTH_FAILED", el.getChildElements()[0]?.name ?? "-");
  }
  if (el.getNS() === NS_SM) reportSm("top", el);
  if (el.is("error", NS_STREAM)) {
    const condition = el.getChildElements().find((c) => c.name !== "text")?.name ?? "-";
    out("STREAM_ERROR", condition);
  }
});

xmpp.on("send", (el) => {
  trace("OUT", el);
  if (el.is("message") && el.getChild("delay", NS_DELAY)) {
    out("RESENT", el.attrs.to ?? "-", bodyOf(el));
  }
  // The last client message before the server acts on a resume: <resume/> itself, or the SASL2
  // <authenticate/> carrying it (PLAIN), or the SCRAM client-final <response/> after it.
  let resumeWritten = false;
  if (el.is("resume", NS_SM)) {
    pendingResume = "top";
    resumeWritten = true;
  } else if (el.is("authenticate", NS_SASL2) && el.getChild("resume", NS_SM)) {
    pendingResume = "inline";
    resumeWritten = el.attrs.mechanism === "PLAIN";
  } else if (el.is("response", NS_SASL2) && pendingResume === "inline") {
    resumeWritten = true;
  }
  noteNegotiation(el);
  if (resumeWritten && cutArmed) {
    cutArmed = false;
    cut(`CUT_IN_RESUME ${pendingResume}`);
  }
});

xmpp.on("online", (address) => {
  out("ONLINE", address.toString());
  settle();
});
xmpp.on("stanza", (stanza) => {
  if (stanza.is("message") && stanza.getChild("body")) {
    out("RECV", stanza.attrs.from ?? "-", bodyOf(stanza));
  }
});
xmpp.on("disconnect", () => out("DISCONNECTED"));
xmpp.on("error", (err) => out("ERROR", (err?.message ?? String(err)).replace(/\s+/g, " ")));
sm.on("ack", (stanza) => out("ACKED", bodyOf(stanza)));
sm.on("fail", (stanza) => out("FAILED", bodyOf(stanza)));

// ---------------------------------------------------------------------------------------------
// Commands.

function parseOptions(words) {
  const opts = { mech: "SCRAM-SHA-1", sasl: 2, bind2: true, sm: "inline", wait: 10_000 };
  for (const word of words) {
    const [key, value] = word.split("=");
    if (key === "mech" && MECHANISMS.includes(value)) opts.mech = value;
    else if (key === "sasl" && (value === "1" || value === "2")) opts.sasl = Number(value);
    else if (key === "bind2" && (value === "on" || value === "off")) opts.bind2 = value === "on";
    else if (key === "sm" && ["inline", "top", "off"].includes(value)) opts.sm = value;
    else if (key === "wait" && Number(value) > 0) opts.wait = Number(value);
    else if (key === "cut" && value === "resume") opts.cutInResume = true;
    else throw new Error(`bad connect option ${word}`);
  }
  if (opts.sasl === 1) opts.bind2 = false;
  if (opts.sm === "inline" && !opts.bind2) opts.sm = "top";
  return opts;
}

async function connect(words) {
  if (!["offline", "disconnect"].includes(xmpp.status)) {
    throw new Error(`already connected (status ${xmpp.status})`);
  }
  wanted = parseOptions(words);
  cutArmed = Boolean(wanted.cutInResume);
  settled = false;
  pendingResume = null;
  negotiation = { after: "stream-open", inline: [] };
  clearTimeout(connectTimer);
  // xmpp.js waits forever for an answer to <authenticate/> or <resume/>; a caller must not.
  // TIMEOUT comes once the link is down, so a `connect` right after it can start at once.
  connectTimer = setTimeout(() => {
    if (settled) return;
    const inline = negotiation.inline.join(",") || "-";
    cut(`TIMEOUT after=${negotiation.after} inline=${inline}`);
  }, wanted.wait);
  await xmpp.connect(xmpp.options.service);
  out("CONNECTED");
  await xmpp.open({ domain, lang: undefined });
}

// Drops the TCP connection abruptly: no </stream:stream>, no final <a/>. Prints `line` once
// xmpp.js has seen the socket close, so a `connect` right after it finds the client offline.
async function cut(line) {
  clearTimeout(connectTimer);
  // xmpp.js's pending negotiation steps (SASL, <resume/>, <enable/>) listen for "nonza" until
  // answered and are never cancelled on disconnect: left in place they also consume the next
  // connection's answers (a stale SCRAM step answers the next <challenge/> with an empty
  // <response/>).
  xmpp.removeAllListeners("nonza");
  const socket = xmpp.socket;
  if (socket && !socket.destroyed) {
    const closed = new Promise((resolve) => {
      socket.once("close", resolve);
      setTimeout(resolve, 2000);
    });
    socket.destroy();
    await closed;
  }
  out(line);
}

function message(to, body) {
  return xml("message", { to, type: "chat", id: `x${Math.random().toString(36).slice(2, 10)}` }, xml("body", {}, body));
}

async function send(to, body) {
  if (xmpp.status !== "online") throw new Error(`not online (status ${xmpp.status})`);
  await xmpp.send(message(to, body));
}

// A stanza lost on a dying link: xmpp.js counts and queues what it has written (its outgoing
// middleware runs on the "send" event), so emit that event without writing anything.
function sendLost(to, body) {
  if (xmpp.status !== "online") throw new Error(`not online (status ${xmpp.status})`);
  const el = message(to, body);
  el.parent = xmpp.root;
  xmpp.emit("send", el);
}

function state() {
  out(
    "STATE",
    `id=${sm.id || "-"}`,
    `enabled=${sm.enabled}`,
    `inbound=${sm.inbound}`,
    `outbound=${sm.outbound}`,
    `queued=${sm.outbound_q.length}`,
    `status=${xmpp.status}`,
    `jid=${xmpp.jid?.toString() ?? "-"}`,
  );
}

async function settleAcks(limitMs) {
  await xmpp.send(xml("r", { xmlns: NS_SM }));
  const deadline = Date.now() + limitMs;
  while (sm.outbound_q.length > 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  out(sm.outbound_q.length === 0 ? "SETTLED" : "UNSETTLED", `outbound=${sm.outbound}`, `queued=${sm.outbound_q.length}`);
}

async function quit() {
  clearTimeout(connectTimer);
  try {
    if (xmpp.status === "online") await xmpp.stop();
  } catch (err) {
    out("ERROR", err.message);
  }
  out("CLOSED");
  process.exit(0);
}

async function handle(line) {
  const [command, ...words] = line.trim().split(/\s+/);
  switch (command) {
    case "connect":
      return connect(words);
    case "send":
      return send(words[0], words.slice(1).join(" "));
    case "sendn": {
      const [to, prefix, first, n] = words;
      for (let i = Number(first); i < Number(first) + Number(n); i++) await send(to, `${prefix}${i}`);
      return undefined;
    }
    case "sendlost":
      return sendLost(words[0], words.slice(1).join(" "));
    case "ack":
      return xmpp.send(xml("r", { xmlns: NS_SM }));
    case "settle":
      return settleAcks(Number(words[0]) || 10_000);
    case "state":
      return state();
    case "cut":
      return cut("CUT");
    case "raw":
      return xmpp.write(line.trim().slice(4));
    case "quit":
      return quit();
    case "":
      return undefined;
    default:
      throw new Error(`unknown command ${command}`);
  }
}

// Commands run one after another, in the order they were written.
let chain = Promise.resolve();
createInterface({ input: process.stdin }).on("line", (line) => {
  chain = chain.then(() => handle(line)).catch((err) => out("ERROR", err.message.replace(/\s+/g, " ")));
});
process.stdin.on("end", () => {
  chain = chain.then(quit);
});

setTimeout(() => {
  out("ERROR run limit reached");
  process.exit(3);
}, RUN_LIMIT_MS).unref();

out("READY");
