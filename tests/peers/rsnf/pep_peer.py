#!/usr/bin/env python3
"""Several slixmpp clients for tether's XEP-0351 reference test against Prosody's mod_pep,
driven line by line on stdin.

Usage: pep_peer.py HOST PORT SPEC_JSON

SPEC_JSON is a list of clients, each {"name", "jid", "password", "features": [...],
"caps": bool, "priority": int, "role": "publisher" | "recipient"}. Every client runs in this
one process; recipients advertise their features through XEP-0115 caps (or send no caps when
"caps" is false). Plain TCP only (127.0.0.1), SASL PLAIN without TLS.

Start-up, before READY: every client connects and sends presence with its priority (and
caps); every recipient with caps answers Prosody's first disco#info query; the publisher
and the recipients' account subscribe to each other's presence (auto-authorised); then every
recipient sends its presence again (so the publisher's PEP service sees it with the
subscription in place) and makes a ping round trip, so that Prosody has processed it.

Commands (stdin), one per line; WHO is a client name:
  publish WHO NODE ID      publish an item with one payload element in namespace NODE
  retract WHO NODE ID      retract it, with notify='true'
  purge WHO NODE           purge the node (pubsub#owner)
  delete WHO NODE          delete the node (pubsub#owner)
  unavailable WHO          send unavailable presence (the stream stays open)
  sync N                   the publisher sends a chat "sync N" to every available recipient;
                           SYNCED N once each has it (so every notification sent before it
                           has arrived: Prosody writes to each session in order)
  quit                     close every stream and exit

Lines printed on stdout:
  CAPS NAME HASH NODE VER HEX     a recipient's caps and the disco#info it answers with
                                  (the <query/> XML, UTF-8 in hex)
  READY
  EVENT NAME HEX                  a recipient got a pubsub#event message (its XML in hex)
  DONE                            a command finished
  SYNCED N
  ERROR TEXT                      a command failed (the script goes on)
The whole run is bounded: after 90 s the script exits with status 3.
"""

import asyncio
import json
import logging
import os
import sys

from slixmpp import ClientXMPP, Iq
from slixmpp.xmlstream import ET
from slixmpp.xmlstream.tostring import tostring
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

RUN_LIMIT = 90.0
STEP_LIMIT = 15.0
PUBSUB_EVENT = "http://jabber.org/protocol/pubsub#event"
DISCO_INFO = "http://jabber.org/protocol/disco#info"


def out(*words):
    print(" ".join(str(w) for w in words), flush=True)


def hexed(text):
    return text.encode().hex()


class Client(ClientXMPP):
    def __init__(self, spec, host, port):
        super().__init__(spec["jid"], spec["password"])
        self.spec = spec
        self.name = spec["name"]
        self.host, self.port = host, port
        self.enable_direct_tls = False
        self.enable_starttls = False
        self.enable_plaintext = True
        self.plugin["feature_mechanisms"].config["unencrypted_plain"] = True
        self.register_plugin("xep_0030")
        self.register_plugin("xep_0060")
        self.register_plugin("xep_0199")
        if spec.get("caps"):
            self.register_plugin("xep_0115")
        self.started = asyncio.Event()
        self.disco_asked = asyncio.Event()
        self.synced = set()
        self.add_event_handler("session_start", self.on_start)
        self.register_handler(
            Callback(
                "pubsub event",
                MatchXPath("{jabber:client}message/{%s}event" % PUBSUB_EVENT),
                self.on_event,
            )
        )
        self.register_handler(
            Callback(
                "disco#info get",
                MatchXPath("{jabber:client}iq/{%s}query" % DISCO_INFO),
                self.on_disco,
            )
        )
        self.add_event_handler("message", self.on_message)

    async def on_start(self, _):
        await self.get_roster()
        for feature in self.spec.get("features", []):
            self["xep_0030"].add_feature(feature)
        if self.spec.get("caps"):
            caps = self["xep_0115"]
            await caps.update_caps(broadcast=False)
            ver = await caps.get_verstring(self.boundjid)
            node = "%s#%s" % (caps.caps_node, ver)
            info = await self["xep_0030"].get_info(jid=self.boundjid, node=node, local=True)
            if isinstance(info, Iq):
                info = info["disco_info"]
            out("CAPS", self.name, caps.hash, caps.caps_node, ver, hexed(str(info)))
        self.send_presence(ppriority=self.spec.get("priority", 0))
        self.started.set()

    def on_event(self, msg):
        # Serialised on its own (not relative to the stream), so it carries its namespace.
        out("EVENT", self.name, hexed(tostring(msg.xml)))

    def on_disco(self, iq):
        if iq["type"] == "get":
            self.disco_asked.set()

    def on_message(self, msg):
        body = msg["body"] or ""
        if msg["type"] == "chat" and body.startswith("sync "):
            self.synced.add(body.split(" ", 1)[1])

    def available_again(self):
        self.send_presence(ppriority=self.spec.get("priority", 0))

    async def round_trip(self):
        await asyncio.wait_for(self["xep_0199"].ping(jid=self.boundjid.domain), STEP_LIMIT)


def payload(node, item):
    element = ET.Element("{%s}value" % node)
    element.text = item
    return element


class Run:
    def __init__(self, specs, host, port):
        self.clients = {s["name"]: Client(s, host, port) for s in specs}
        publishers = [c for c in self.clients.values() if c.spec["role"] == "publisher"]
        if len(publishers) != 1:
            raise ValueError("exactly one publisher")
        self.publisher = publishers[0]
        self.recipients = [c for c in self.clients.values() if c.spec["role"] == "recipient"]
        self.unavailable = set()

    async def start(self):
        for client in self.clients.values():
            client.connect(client.host, client.port)
        for client in self.clients.values():
            await asyncio.wait_for(client.started.wait(), STEP_LIMIT)
        # Prosody asks each new caps ver once (the first JID advertising it): every recipient
        # here advertises a distinct ver, so each is asked.
        for client in self.recipients:
            if client.spec.get("caps"):
                await asyncio.wait_for(client.disco_asked.wait(), STEP_LIMIT)
        await asyncio.sleep(0.3)
        for client in self.clients.values():
            await client.round_trip()
        await self.subscribe()
        for client in self.recipients:
            client.available_again()
        await asyncio.sleep(0.3)
        for client in self.clients.values():
            await client.round_trip()
        out("READY")

    async def subscribe(self):
        publisher = self.publisher
        recipient_bare = self.recipients[0].boundjid.bare
        publisher.send_presence_subscription(pto=recipient_bare)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STEP_LIMIT
        while True:
            mine = publisher.client_roster[recipient_bare]["subscription"]
            theirs = self.recipients[0].client_roster[publisher.boundjid.bare]["subscription"]
            if mine == "both" and theirs == "both":
                return
            if loop.time() > deadline:
                raise TimeoutError(f"subscription is {mine}/{theirs}, not both/both")
            await asyncio.sleep(0.05)

    async def command(self, line):
        word, *args = line.split()
        if word == "publish":
            who, node, item = args
            c = self.clients[who]
            await c["xep_0060"].publish(c.boundjid.bare, node, id=item, payload=payload(node, item))
        elif word == "retract":
            who, node, item = args
            c = self.clients[who]
            await c["xep_0060"].retract(c.boundjid.bare, node, item, notify=True)
        elif word == "purge":
            who, node = args
            c = self.clients[who]
            await c["xep_0060"].purge(c.boundjid.bare, node)
        elif word == "delete":
            who, node = args
            c = self.clients[who]
            await c["xep_0060"].delete_node(c.boundjid.bare, node)
        elif word == "unavailable":
            (who,) = args
            c = self.clients[who]
            c.send_presence(ptype="unavailable")
            self.unavailable.add(who)
            await c.round_trip()
        elif word == "sync":
            (n,) = args
            await self.sync(n)
            out("SYNCED", n)
            return True
        elif word == "quit":
            for client in self.clients.values():
                await client.disconnect(wait=1.0)
            return False
        else:
            out("ERROR", "unknown command", word)
            return True
        out("DONE")
        return True

    async def sync(self, n):
        waiting = [c for c in self.recipients if c.name not in self.unavailable]
        for client in waiting:
            self.publisher.send_message(mto=client.boundjid.full, mbody=f"sync {n}", mtype="chat")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STEP_LIMIT
        while not all(n in c.synced for c in waiting):
            if loop.time() > deadline:
                missing = [c.name for c in waiting if n not in c.synced]
                raise TimeoutError(f"sync {n} not received by {missing}")
            await asyncio.sleep(0.02)


async def stdin_lines():
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while True:
        line = await reader.readline()
        if not line:
            return
        yield line.decode().strip()


async def run(host, port, specs):
    session = Run(specs, host, port)
    await session.start()
    async for line in stdin_lines():
        if not line:
            continue
        try:
            if not await session.command(line):
                return
        except Exception as e:  # report and go on: the Rust side decides what fails
            out("ERROR", type(e).__name__, str(e).replace("\n", " "))


def main():
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    host, port, spec = sys.argv[1:]
    logging.basicConfig(
        level=logging.DEBUG if os.environ.get("TETHER_TRACE") else logging.WARNING,
        stream=sys.stderr,
    )

    async def bounded():
        await asyncio.wait_for(run(host, int(port), json.loads(spec)), RUN_LIMIT)

    try:
        asyncio.run(bounded())
    except asyncio.TimeoutError:
        print(f"pep_peer.py: gave up after {RUN_LIMIT} s", file=sys.stderr)
        sys.exit(3)


if __name__ == "__main__":
    main()
