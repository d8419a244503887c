#!/usr/bin/env python3
"""A slixmpp client with XEP-0198 for tether's XEP-0357 test against Prosody, driven line by
line on stdin. slixmpp has no XEP-0357 plugin: the test builds the push iqs with xmpp-push0's
client builders and passes their XML here, which sends them as they are.

Usage: push0_client.py HOST PORT JID PASSWORD

Plain TCP only (127.0.0.1): direct TLS and STARTTLS are off and SASL PLAIN is allowed
without TLS.

Commands (stdin), one per line:
  iq XML       send this iq (one line of XML) and wait for its answer
  hibernate    drop the TCP connection abruptly (no </stream:stream>): the server keeps the
               XEP-0198 session hibernated
  offline      close the stream cleanly: the session ends, the account goes offline
  quit         exit

Lines printed on stdout (the Rust test asserts on them):
  SESSION | ENABLED <sm-id> | DISCONNECTED
  REPLY <type> <id> <xml>   the answer to an `iq` command, XML on one line
  HIBERNATED | OFFLINE      the connection is gone
  ERROR <text>              a command failed (the script goes on)
The whole run is bounded: after 60 s the script exits with status 3.
"""

import asyncio
import logging
import sys
import xml.etree.ElementTree as ET

from slixmpp import ClientXMPP
from slixmpp.exceptions import IqError, IqTimeout

RUN_LIMIT = 60.0
IQ_TIMEOUT = 10.0


def out(*words):
    print(" ".join(str(w) for w in words), flush=True)


def one_line(stanza):
    return str(stanza).replace("\n", " ")


class Peer(ClientXMPP):
    def __init__(self, jid, password):
        super().__init__(jid, password)
        self.enable_direct_tls = False
        self.enable_starttls = False
        self.enable_plaintext = True
        self.plugin["feature_mechanisms"].config["unencrypted_plain"] = True
        self.register_plugin("xep_0198")
        self.add_event_handler("session_start", self.on_session)
        self.add_event_handler("sm_enabled", lambda e: out("ENABLED", e["id"] or "-"))
        self.add_event_handler("disconnected", lambda _: out("DISCONNECTED"))

    async def on_session(self, _):
        # Available, so messages to the bare JID are delivered to this session.
        self.send_presence()
        out("SESSION")

    async def iq(self, text):
        element = ET.fromstring(text)
        iq = self.Iq(xml=element)
        try:
            reply = await iq.send(timeout=IQ_TIMEOUT)
        except IqError as e:
            reply = e.iq
        except IqTimeout:
            out("ERROR", "no answer to", iq["id"])
            return
        out("REPLY", reply["type"], reply["id"], one_line(reply))

    async def command(self, line):
        word, _, rest = line.partition(" ")
        if word == "iq":
            await self.iq(rest)
        elif word == "hibernate":
            # Let slixmpp write what it queued (the answer acks), then cut.
            await asyncio.wait_for(self.waiting_queue.join(), IQ_TIMEOUT)
            self.abort()
            out("HIBERNATED")
        elif word == "offline":
            await self.disconnect(wait=2.0)
            out("OFFLINE")
        elif word == "quit":
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
        yield line.decode().rstrip("\n")


async def main():
    host, port, jid, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    peer = Peer(jid, password)
    peer.connect(host, port)
    async for line in stdin_lines():
        if not line:
            continue
        try:
            if not await peer.command(line):
                break
        except Exception as e:  # keep serving the test; it fails on the missing line
            out("ERROR", type(e).__name__, e)


if __name__ == "__main__":
    logging.basicConfig(level=logging.ERROR, stream=sys.stderr)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(asyncio.wait_for(main(), RUN_LIMIT))
    except asyncio.TimeoutError:
        out("ERROR", "run limit reached")
        sys.exit(3)
