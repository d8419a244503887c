#!/usr/bin/env python3
"""A slixmpp client with XEP-0198 for tether's interop tests, driven line by line on stdin.

Usage: sm_peer.py HOST PORT JID PASSWORD

Plain TCP only (127.0.0.1): direct TLS and STARTTLS are off and SASL PLAIN is allowed
without TLS, as the test server offers nothing else.

Commands (stdin), one per line:
  send TO BODY              send one chat message
  sendn TO PREFIX FIRST N   send N chat messages with bodies PREFIX<FIRST> .. PREFIX<FIRST+N-1>
  flush                     wait until slixmpp has written everything it queued
  settle                    wait until slixmpp has written everything it queued (its <r/>
                            bypasses the queue and could overtake stanzas), then ask for an
                            ack and wait until every sent stanza is acknowledged
  abort                     drop the TCP connection abruptly (no </stream:stream>)
  connect                   connect again; slixmpp resumes the stream when it can
  raw XML                   write XML as it is
  state                     report the XEP-0198 counters
  quit                      close the stream and exit

Lines printed on stdout, one event each (the Rust test asserts on them):
  CONNECTED | SESSION | ENABLED <id> | RESUMED <h> | SM_FAILED | DISCONNECTED
  RECV <from> <body> | FLUSHED <seq> | SETTLED <seq> <last_ack> | STATE handled=<n> seq=<n> last_ack=<n> unacked=<n>
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
RUN_LIMIT = 60.0
SETTLE_LIMIT = 10.0


def out(*words):
    print(" ".join(str(w) for w in words), flush=True)


class Peer(ClientXMPP):
    def __init__(self, jid, password, host, port):
        super().__init__(jid, password)
        self.host, self.port = host, port
        # Plain TCP on loopback: no TLS of either kind, PLAIN allowed in the clear.
        self.enable_direct_tls = False
        self.enable_starttls = False
        self.enable_plaintext = True
        # Read from the plugin's config when SASL asks whether PLAIN is acceptable.
        self.plugin["feature_mechanisms"].config["unencrypted_plain"] = True
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

    def on_enabled(self, enabled):
        out("ENABLED", enabled["id"] or "-")

    def on_resumed(self, resumed):
        out("RESUMED", resumed["h"])

    def on_message(self, msg):
        if msg["type"] in ("chat", "normal") and msg["body"]:
            out("RECV", msg["from"], msg["body"])

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
        elif word == "abort":
            self.abort()
        elif word == "connect":
            self.connect(self.host, self.port)
        elif word == "raw":
            self.send_raw(rest)
        elif word == "state":
            self.state()
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


async def run(host, port, jid, password):
    peer = Peer(jid, password, host, port)
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
    if len(sys.argv) != 5:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    host, port, jid, password = sys.argv[1:]
    logging.basicConfig(
        level=logging.DEBUG if os.environ.get("TETHER_TRACE") else logging.WARNING,
        stream=sys.stderr,
    )

    async def bounded():
        await asyncio.wait_for(run(host, int(port), jid, password), RUN_LIMIT)

    try:
        asyncio.run(bounded())
    except asyncio.TimeoutError:
        print(f"sm_peer.py: gave up after {RUN_LIMIT} s", file=sys.stderr)
        sys.exit(3)


if __name__ == "__main__":
    main()
