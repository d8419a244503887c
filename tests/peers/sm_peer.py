#!/usr/bin/env python3
"""A slixmpp client with XEP-0198 for tether's interop tests, driven line by line on stdin.

Usage: sm_peer.py HOST PORT JID PASSWORD [MECHANISM]

Plain TCP only (127.0.0.1): direct TLS and STARTTLS are off and SASL PLAIN is allowed
without TLS. With MECHANISM (say SCRAM-SHA-1) slixmpp uses only that one, SCRAM allowed
without TLS too (slixmpp prefers SCRAM whenever it may use it).

slixmpp answers nothing on its own: it sends no initial presence, and subscription requests
wait for the `subscribed`/`unsubscribed` commands (no automatic approval).

Commands (stdin), one per line:
  send TO BODY              send one chat message
  sendn TO PREFIX FIRST N   send N chat messages with bodies PREFIX<FIRST> .. PREFIX<FIRST+N-1>
  flush                     wait until slixmpp has written everything it queued
  settle                    wait until slixmpp has written everything it queued (its <r/>
                            bypasses the queue and could overtake stanzas), then ask for an
                            ack and wait until every sent stanza is acknowledged
  ack                       send <a h/> with what slixmpp has handled (slixmpp itself acks only
                            when asked, and not before it closes the stream)
  abort                     drop the TCP connection abruptly (no </stream:stream>)
  connect [HOST PORT]       connect again (to HOST PORT if given); slixmpp resumes the stream
                            when it can
  raw XML                   write XML as it is
  presence [SHOW]           broadcast available presence (SHOW: away, chat, dnd, xa)
  unavailable               broadcast unavailable presence
  subscribe JID | subscribed JID | unsubscribe JID | unsubscribed JID
                            presence subscription management (RFC 6121 section 3)
  roster                    fetch the roster
  state                     report the XEP-0198 counters
  quit                      close the stream and exit

Lines printed on stdout, one event each (the Rust test asserts on them):
  CONNECTED | SESSION | ENABLED <id> | RESUMED <h> | SM_FAILED | DISCONNECTED
  AUTHENTICATED <mechanism> | AUTH_FAILED <condition>
  RECV <from> <body> | DELAYED <body> <stamp> <delay-from or ->   (after RECV, with XEP-0203)
  PRESENCE <from> <type> <show or ->   (type: available, unavailable, subscribe, ...)
  ROSTER <jid> <subscription> <ask or -> ... then ROSTER_END <count>   (answer to `roster`)
  ROSTER_PUSH <jid> <subscription> <ask or ->
  FLUSHED <seq> | SETTLED <seq> <last_ack> | STATE handled=<n> seq=<n> last_ack=<n> unacked=<n>
  STREAM_ERROR <condition> <sm-condition or -> [h=<n> send-count=<n>]
  ERROR <text>              a command failed (the script goes on)
The whole run is bounded: after 60 s the script exits with status 3.
"""

import asyncio
import logging
import os
import sys

from slixmpp import ClientXMPP

SM3 = "urn:xmpp:sm:3"
DELAY = "urn:xmpp:delay"
RUN_LIMIT = 60.0
SETTLE_LIMIT = 10.0


def out(*words):
    print(" ".join(str(w) for w in words), flush=True)


class Peer(ClientXMPP):
    def __init__(self, jid, password, host, port, mechanism=None):
        super().__init__(jid, password)
        self.host, self.port = host, port
        # Plain TCP on loopback: no TLS of either kind, PLAIN allowed in the clear.
        self.enable_direct_tls = False
        self.enable_starttls = False
        self.enable_plaintext = True
        # Read from the plugin's config when SASL asks whether PLAIN is acceptable.
        mechanisms = self.plugin["feature_mechanisms"]
        mechanisms.config["unencrypted_plain"] = True
        if mechanism:
            mechanisms.config["unencrypted_scram"] = True
            mechanisms.use_mech = mechanism
        # The test decides every answer to a subscription request.
        self.roster.auto_authorize = None
        self.roster.auto_subscribe = False
        self.register_plugin("xep_0198")
        self.sm = self.plugin["xep_0198"]
        self.add_event_handler("connected", lambda _: out("CONNECTED"))
        self.add_event_handler("session_start", lambda _: out("SESSION"))
        self.add_event_handler("sm_enabled", self.on_enabled)
        self.add_event_handler("session_resumed", self.on_resumed)
        self.add_event_handler("sm_failed", lambda _: out("SM_FAILED"))
        self.add_event_handler("disconnected", lambda _: out("DISCONNECTED"))
        self.add_event_handler("stream_error", self.on_stream_error)
        self.add_event_handler("message", self.on_message)
        self.add_event_handler("auth_success", self.on_auth)
        self.add_event_handler("failed_auth", self.on_auth_failed)
        self.add_event_handler("presence", self.on_presence)
        self.add_event_handler("roster_update", self.on_roster_push)

    def on_auth(self, _):
        mech = self.plugin["feature_mechanisms"].mech
        out("AUTHENTICATED", getattr(mech, "name", "-"))

    def on_auth_failed(self, failure):
        condition = "-"
        if failure is not None and hasattr(failure, "xml"):
            for child in failure.xml:
                condition = child.tag.split("}", 1)[-1]
                break
        out("AUTH_FAILED", condition)

    def on_presence(self, presence):
        out("PRESENCE", presence["from"], presence["type"], presence["show"] or "-")

    def on_roster_push(self, iq):
        if iq["type"] != "set":
            return  # the answer to `roster`, printed there
        for jid, item in iq["roster"]["items"].items():
            out("ROSTER_PUSH", jid, item["subscription"] or "none", item["ask"] or "-")

    def on_enabled(self, enabled):
        out("ENABLED", enabled["id"] or "-")

    def on_resumed(self, resumed):
        out("RESUMED", resumed["h"])

    def on_message(self, msg):
        if msg["type"] in ("chat", "normal") and msg["body"]:
            out("RECV", msg["from"], msg["body"])
            delay = msg.xml.find("{%s}delay" % DELAY)
            if delay is not None:
                out("DELAYED", msg["body"], delay.get("stamp", "-"), delay.get("from", "-"))

    def on_stream_error(self, error):
        xml = error.xml
        condition = error["condition"] or "-"
        sm = "-"
        extra = []
        for child in xml:
            if child.tag.startswith("{" + SM3 + "}"):
                sm = child.tag.split("}", 1)[1]
                for attr in ("h", "send-count"):
                    if child.get(attr) is not None:
                        extra.append(f"{attr}={child.get(attr)}")
        out("STREAM_ERROR", condition, sm, *extra)

    def chat(self, to, body):
        self.send_message(mto=to, mbody=body, mtype="chat")

    async def settle(self):
        # slixmpp writes <r/> directly while stanzas wait in its send queue: drain first.
        await asyncio.wait_for(self.waiting_queue.join(), SETTLE_LIMIT)
        self.sm.request_ack()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + SETTLE_LIMIT
        while self.sm.unacked_queue:
            if loop.time() > deadline:
                raise TimeoutError(f"{len(self.sm.unacked_queue)} stanzas still unacknowledged")
            await asyncio.sleep(0.02)
        out("SETTLED", self.sm.seq, self.sm.last_ack)

    def state(self):
        out(
            "STATE",
            f"handled={self.sm.handled}",
            f"seq={self.sm.seq}",
            f"last_ack={self.sm.last_ack}",
            f"unacked={len(self.sm.unacked_queue)}",
        )

    async def command(self, line):
        word, _, rest = line.partition(" ")
        if word == "send":
            to, _, body = rest.partition(" ")
            self.chat(to, body)
        elif word == "sendn":
            to, prefix, first, n = rest.split()
            for i in range(int(first), int(first) + int(n)):
                self.chat(to, f"{prefix}{i}")
        elif word == "flush":
            await asyncio.wait_for(self.waiting_queue.join(), SETTLE_LIMIT)
            out("FLUSHED", self.sm.seq)
        elif word == "settle":
            await self.settle()
        elif word == "ack":
            self.sm.send_ack()
        elif word == "abort":
            self.abort()
        elif word == "connect":
            if rest:  # another server (a cluster's other node)
                host, port = rest.split()
                self.host, self.port = host, int(port)
            self.connect(self.host, self.port)
        elif word == "raw":
            self.send_raw(rest)
        elif word == "state":
            self.state()
        elif word == "presence":
            self.send_presence(pshow=rest or None)
        elif word == "unavailable":
            self.send_presence(ptype="unavailable")
        elif word in ("subscribe", "subscribed", "unsubscribe", "unsubscribed"):
            self.send_presence(pto=rest, ptype=word)
        elif word == "roster":
            iq = await self.get_roster(timeout=SETTLE_LIMIT)
            items = iq["roster"]["items"]
            for jid, item in items.items():
                out("ROSTER", jid, item["subscription"] or "none", item["ask"] or "-")
            out("ROSTER_END", len(items))
        elif word == "quit":
            await self.disconnect(wait=2.0)
            return False
        else:
            out("ERROR", "unknown command", word)
        return True


async def stdin_lines():
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while True:
        line = await reader.readline()
        if not line:
            return
        yield line.decode().strip()


async def run(host, port, jid, password, mechanism):
    peer = Peer(jid, password, host, port, mechanism)
    peer.connect(host, port)
    async for line in stdin_lines():
        if not line:
            continue
        try:
            if not await peer.command(line):
                return
        except Exception as e:  # report and go on: the Rust side decides what fails
            out("ERROR", type(e).__name__, e)
    await peer.disconnect(wait=1.0)


def main():
    if len(sys.argv) not in (5, 6):
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    host, port, jid, password = sys.argv[1:5]
    mechanism = sys.argv[5] if len(sys.argv) == 6 else None
    logging.basicConfig(
        level=logging.DEBUG if os.environ.get("TETHER_TRACE") else logging.WARNING,
        stream=sys.stderr,
    )

    async def bounded():
        await asyncio.wait_for(run(host, int(port), jid, password, mechanism), RUN_LIMIT)

    try:
        asyncio.run(bounded())
    except asyncio.TimeoutError:
        print(f"sm_peer.py: gave up after {RUN_LIMIT} s", file=sys.stderr)
        sys.exit(3)


if __name__ == "__main__":
    main()
