#!/usr/bin/env python3
"""slixmpp watchers for tether's XEP-0310 (presence state annotations) tests, driven line by
line on stdin.

Usage: psa_peer.py HOST PORT NAME:JID:PASSWORD:PSA [NAME:JID:PASSWORD:PSA ...]

Each client (PSA is 1 or 0) connects (plain TCP on 127.0.0.1, SASL PLAIN without TLS),
advertises XEP-0115 entity capabilities through slixmpp's xep_0115 plugin, with
`urn:xmpp:psa` among its xep_0030 features when PSA is 1, and sends available presence (with
the caps). slixmpp's plugins answer the server's disco#info query for the caps node.
Subscription requests to the clients are approved automatically.

Commands (stdin), one per line; WHO is a client name:
  subscribe WHO JID   WHO asks to subscribe to JID's presence
  sync WHO            a ping round trip between WHO and its server; SYNCED WHO after it
  quit                close every stream and exit

Lines printed on stdout:
  SESSION NAME                      the client's session started, presence with caps sent
  CAPS NAME VER                     its caps ver (a distinct one with and without the feature)
  DISCO NAME                        the server asked its disco#info (to resolve the caps)
  PRESENCE NAME FROM TYPE ANNOTATION ANNOTATOR
                                    a presence NAME received: TYPE is available, unavailable,
                                    subscribe...; ANNOTATION is `none` (no state annotation),
                                    `restored` (the empty one), or the condition
                                    (`connection-paused`, `server-unavailable`, other names);
                                    ANNOTATOR its `from`, or `-`
  SYNCED NAME
  ERROR TEXT                        a command failed (the script goes on)
The whole run is bounded: after 90 s the script exits with status 3.
"""

import asyncio
import logging
import os
import sys

from slixmpp import ClientXMPP
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

RUN_LIMIT = 90.0
STEP_LIMIT = 15.0
PSA = "urn:xmpp:psa"
DISCO_INFO = "http://jabber.org/protocol/disco#info"


def out(*words):
    print(" ".join(str(w) for w in words), flush=True)


def annotation(presence):
    """`none`, `restored`, or the condition of the presence's <state-annotation/>."""
    element = presence.xml.find("{%s}state-annotation" % PSA)
    if element is None:
        return "none", "-"
    conditions = [
        child.tag.split("}", 1)[-1]
        for child in element
        if child.tag.startswith("{%s}" % PSA) and not child.tag.endswith("}description")
    ]
    return (conditions[0] if conditions else "restored"), element.get("from", "-")


class Watcher(ClientXMPP):
    def __init__(self, name, jid, password, psa):
        super().__init__(jid, password)
        self.name = name
        self.psa = psa
        self.enable_direct_tls = False
        self.enable_starttls = False
        self.enable_plaintext = True
        self.plugin["feature_mechanisms"].config["unencrypted_plain"] = True
        self.roster.auto_authorize = True
        self.roster.auto_subscribe = False
        self.register_plugin("xep_0030")
        self.register_plugin("xep_0115")
        self.register_plugin("xep_0199")
        self.add_event_handler("session_start", self.on_start)
        self.add_event_handler("presence", self.on_presence)
        self.register_handler(
            Callback(
                "disco#info get",
                MatchXPath("{jabber:client}iq/{%s}query" % DISCO_INFO),
                self.on_disco,
            )
        )

    async def on_start(self, _):
        await self.get_roster()
        if self.psa:
            self["xep_0030"].add_feature(PSA)
        caps = self["xep_0115"]
        await caps.update_caps(broadcast=False)
        out("CAPS", self.name, await caps.get_verstring(self.boundjid))
        self.send_presence()
        out("SESSION", self.name)

    def on_presence(self, presence):
        kind = presence["type"]
        if kind in ("available", "away", "chat", "dnd", "xa"):
            kind = "available"
        condition, annotator = annotation(presence)
        out("PRESENCE", self.name, presence["from"], kind, condition, annotator)

    def on_disco(self, iq):
        if iq["type"] == "get":
            out("DISCO", self.name)


class Run:
    def __init__(self, host, port, specs):
        self.clients = {}
        for spec in specs:
            name, jid, password, psa = spec.split(":")
            self.clients[name] = Watcher(name, jid, password, psa == "1")
        for client in self.clients.values():
            client.connect(host, port)

    async def command(self, line):
        word, *args = line.split()
        if word == "subscribe":
            who, jid = args
            self.clients[who].send_presence_subscription(pto=jid)
        elif word == "sync":
            (who,) = args
            client = self.clients[who]
            await asyncio.wait_for(client["xep_0199"].ping(jid=client.boundjid.domain), STEP_LIMIT)
            out("SYNCED", who)
        elif word == "quit":
            for client in self.clients.values():
                await client.disconnect(wait=1.0)
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


async def run(host, port, specs):
    session = Run(host, port, specs)
    async for line in stdin_lines():
        if not line:
            continue
        try:
            if not await session.command(line):
                return
        except Exception as e:  # report and go on: the Rust side decides what fails
            out("ERROR", type(e).__name__, str(e).replace("\n", " "))


def main():
    if len(sys.argv) < 4:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    host, port, *specs = sys.argv[1:]
    logging.basicConfig(
        level=logging.DEBUG if os.environ.get("TETHER_TRACE") else logging.WARNING,
        stream=sys.stderr,
    )

    async def bounded():
        await asyncio.wait_for(run(host, int(port), specs), RUN_LIMIT)

    try:
        asyncio.run(bounded())
    except asyncio.TimeoutError:
        print(f"psa_peer.py: gave up after {RUN_LIMIT} s", file=sys.stderr)
        sys.exit(3)


if __name__ == "__main__":
    main()
