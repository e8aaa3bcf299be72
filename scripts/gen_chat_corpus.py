#!/usr/bin/env python3
"""Generates tests/data/compact/chat_corpus.xml: a deterministic sample of
what a chat server carries on its client connections, one stanza per line
as it travels in a jabber:client stream (no xmlns on the stanza element).

Each simulated message exchange produces both legs (client -> server and
server -> recipient) of: chat states, the message (receipt request,
markable, origin-id, server stanza-id, delay on some), the XEP-0184 receipt,
the XEP-0333 displayed marker and the stream-management <r/>/<a h/> traffic
around them. Presence (caps, show/status), iq pings and roster traffic are
interleaved. JIDs live on the stream domain example.com; ids follow the
styles of real clients.

The text is written for this corpus and shares nothing with
protocol/compact/compression_samples.xml (the zstd dictionary), so the
compression figures measured on it are not flattered by the dictionary.

Usage: scripts/gen_chat_corpus.py [--exchanges N] [--seed S] [-o PATH]
Python 3 standard library only; the same arguments give the same bytes.
"""

import argparse
import base64
import random
import sys
import uuid
from pathlib import Path

DOMAIN = "example.com"

# --------------------------------------------------------------- people

LOCALPARTS = [
    "alice", "bob", "carol.white", "dave_k", "eve", "frank77", "grace", "heidi.s",
    "ivan", "judy", "mallory", "niaj", "olivia.m", "peggy", "rupert", "sybil",
    "trent", "victor", "walter.b", "priya", "wei.chen", "oluwaseun", "ana-lucia",
    "tom", "k", "nightowl", "mike.b", "user4821", "jürgen", "zoë", "søren",
    "marta_r", "lena", "yusuf", "chloe.d", "sam", "the.real.pat", "raj88",
    "fatima", "noah",
]

# Client software: resource style, id style, caps node, whether it sends
# origin-id / chat states / markers / receipts, and how often it asks <r/>.
CLIENTS = {
    "conversations": dict(node="https://conversations.im", origin=True, states=True,
                          markers=True, receipts=True),
    "gajim": dict(node="https://gajim.org", origin=True, states=True, markers=True,
                  receipts=True),
    "dino": dict(node="https://dino.im", origin=True, states=True, markers=True,
                 receipts=True),
    "monal": dict(node="http://monal-im.org", origin=True, states=True, markers=True,
                  receipts=True),
    "slixmpp": dict(node="https://slixmpp.readthedocs.io", origin=False, states=False,
                    markers=False, receipts=True),
    "pidgin": dict(node="https://pidgin.im/", origin=False, states=True, markers=False,
                   receipts=False),
    "psi": dict(node="https://psi-plus.com", origin=False, states=True, markers=False,
                receipts=True),
}
CLIENT_WEIGHTS = [("conversations", 34), ("gajim", 16), ("dino", 14), ("monal", 18),
                  ("slixmpp", 6), ("pidgin", 6), ("psi", 6)]

ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


class Ids:
    """Id generators in the styles clients and servers use."""

    def __init__(self, rng):
        self.rng = rng
        self.counter = rng.randrange(1, 400)

    def uuid(self):
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def uuid_upper(self):
        return self.uuid().upper()

    def hex(self, n):
        return "".join(self.rng.choice("0123456789abcdef") for _ in range(n))

    def b64ish(self, n):
        raw = bytes(self.rng.getrandbits(8) for _ in range((n * 3 + 3) // 4))
        return base64.urlsafe_b64encode(raw).decode()[:n]

    def alnum(self, n):
        return "".join(self.rng.choice(ALNUM) for _ in range(n))

    def message_id(self, client):
        if client in ("conversations", "gajim", "dino"):
            return self.uuid()
        if client == "monal":
            return self.uuid_upper()
        if client == "slixmpp":
            return self.hex(32)  # uuid4().hex
        if client == "pidgin":
            return "purple" + self.hex(8)
        self.counter += 1
        return "ab%xa" % self.counter  # psi: a short counter

    def iq_id(self, client):
        if client == "conversations":
            return self.b64ish(12)
        if client == "slixmpp":
            return self.hex(32)
        if client == "pidgin":
            return "purple" + self.hex(8)
        if client == "psi":
            self.counter += 1
            return "ab%xa" % self.counter
        if client == "monal":
            return self.uuid_upper()
        return self.uuid()

    def resource(self, client):
        return {
            "conversations": lambda: "Conversations." + self.alnum(4),
            "gajim": lambda: "gajim." + "".join(self.rng.choice(ALNUM[:26] + ALNUM[52:])
                                                for _ in range(8)),
            "dino": lambda: "dino." + self.hex(8),
            "monal": lambda: "Monal-iOS." + self.hex(8).upper(),
            "slixmpp": lambda: self.rng.choice(["bot", "notifier", self.alnum(8)]),
            "pidgin": lambda: self.rng.choice(["home", "laptop", "work", "desktop"]),
            "psi": lambda: self.rng.choice(["Psi+", "psi-" + self.alnum(5)]),
        }[client]()

    def stanza_id(self):
        # Server archive ids: UUIDs, or prosody-like random base64url.
        return self.uuid() if self.rng.random() < 0.5 else self.b64ish(16)


class User:
    def __init__(self, local, client, ids, rng):
        self.local = local
        self.client = client
        self.resource = ids.resource(client)
        self.bare = f"{local}@{DOMAIN}"
        self.full = f"{self.bare}/{self.resource}"
        self.caps_ver = base64.b64encode(bytes(rng.getrandbits(8) for _ in range(20))).decode()
        self.h_in = rng.randrange(0, 50)   # stanzas the server has handled from this client
        self.h_out = rng.randrange(0, 50)  # stanzas this client has handled from the server
        self.contacts = []


# --------------------------------------------------------------- text

SHORT = [
    "ok", "k", "yes", "yep", "no", "nope", "sure", "lol", "haha", "hahaha", "thx", "ty",
    "np", "brb", "omw", "done", "same", "nice!", "wow", "oh no", "true", "right?",
    "👍", "😂", "❤️", "🙏", "hmm", "what?", "really?", "cool", "fine by me", "got it",
    "on it", "sounds good", "not yet", "maybe", "why?", "where?", "when?", "ugh",
    "good night", "morning!", "hey", "hi!", "yo", "cheers", "no worries", "agreed",
]

SENTENCES = [
    "Did you get the tickets for Saturday?",
    "The train is delayed again, probably twenty minutes.",
    "Can you send me the address of the restaurant?",
    "I left my charger at your place, I think.",
    "Running a bit late, start without me.",
    "Just landed, waiting for my bag now.",
    "Who is bringing the salad on Sunday?",
    "The build is green again, I reverted the flaky test.",
    "Can you review my pull request when you have a minute?",
    "I pushed a fix for the login timeout, please try it.",
    "The meeting moved to 3pm, same room.",
    "Do we still need the projector for the demo?",
    "My laptop decided to update itself right before the call.",
    "Grandma says thanks for the flowers!",
    "The kids are finally asleep.",
    "Should I pick up bread on the way home?",
    "It's pouring here, bring an umbrella.",
    "Are you watching the match tonight?",
    "That was the best pizza I've had in months.",
    "I can't find the spare key anywhere.",
    "The plumber comes between eight and noon tomorrow.",
    "Happy birthday!! Have an amazing day 🎉",
    "Congrats on the new job, that's huge news.",
    "Let's do lunch on Thursday instead.",
    "The printer on the second floor is jammed again.",
    "Where did you park? I'm at the north entrance.",
    "Did anyone feed the cat this morning?",
    "I'll call you after the dentist.",
    "Send me the photos from the hike please!",
    "The server rebooted at 4am and came back fine.",
    "Disk usage on db2 is at 91%, we should look at it.",
    "Can you check if the VPN works for you?",
    "My flight got cancelled, rebooking for tomorrow.",
    "The concert starts at eight, doors open at seven.",
    "I finished the book, the ending was wild.",
    "We're out of coffee at the office.",
    "Is the shop on the corner open on Sundays?",
    "Don't forget mum's call at six.",
    "I'm stuck in traffic on the ring road.",
    "The new version fixed the notification bug for me.",
    "Could you forward me that email from the landlord?",
    "The heating is broken again, it's freezing in here.",
    "Thanks for covering my shift yesterday.",
    "I owe you one for the ride.",
    "Want to grab a beer after work?",
    "The bakery had no croissants left, sorry.",
    "Let me check my calendar and get back to you.",
    "I'm at the pharmacy, need anything?",
    "The wifi password is on the fridge.",
    "She said yes!!!",
    "The vet says he's fine, just ate something weird.",
    "Can you water the plants while I'm away?",
    "The package arrived but the box was crushed.",
    "Which platform does the 18:42 leave from?",
    "I think I caught a cold, staying home today.",
    "The slides are in the shared folder now.",
    "We need to renew the domain before the end of the month.",
    "The certificate expires in nine days, I set a reminder.",
    "Try turning it off and on again, seriously.",
    "That joke was terrible and I love it.",
    "Did you see the northern lights last night?",
    "My phone is at 3%, talk later.",
    "Just saw your message, sorry, was driving.",
    "What do you want for dinner?",
    "How about Thai tonight?",
    "I booked the table for four at half past seven.",
    "The landlord finally fixed the window.",
    "The deploy went out, monitoring now.",
    "Latency is back to normal after the rollback.",
    "Can someone restart the staging box?",
    "I'll be offline for an hour, dentist.",
    "Our team won the quiz night!",
    "The bus drivers are on strike tomorrow.",
    "Do you still have my drill?",
    "I'm making soup, come over if you're hungry.",
    "Remember to bring your passport.",
    "The exam went better than I expected.",
    "Thanks, you're a lifesaver.",
    "We should plan the trip to the coast soon.",
    "The hotel upgraded us for free, no idea why.",
    "Can you hear me now? The call keeps dropping.",
    "I'm outside, the doorbell doesn't work.",
    "Which charger do you need, USB-C or the old one?",
    "The recipe says 180 degrees for forty minutes.",
    "I lost the game again, this level is impossible.",
    "Your package is with the neighbour at number 12.",
    "Meeting notes are up, please add anything I missed.",
    "I'm taking Friday off, so ping Sam if something breaks.",
    "The snow is already melting, so much for sledding.",
    "Just got home, what a day.",
    "Is it OK if I bring a friend?",
    "I'll send the invoice by the end of the week.",
    "It works on my machine 🙃",
    "The tests pass locally but fail in CI, looking into it.",
    "Can we move our call to tomorrow morning?",
    "I'm so proud of you!",
    "The queue at the post office is enormous.",
    "Did you remember to lock the back door?",
    "That's a great idea, let's try it.",
    "I disagree, but let's talk about it in person.",
    "Sorry, I completely forgot to reply to this.",
    "The cake is in the oven, twenty more minutes.",
    "Mind if I call you in five?",
    "Could you pick the kids up from football at five?",
    "I'll be there in ten.",
    "See you at the station.",
    "The match was cancelled because of the rain.",
]

LONG_PARTS = [
    "So here's the thing: the contractor says the roof needs more work than they thought.",
    "They want to replace the whole gutter on the east side, which adds about a week.",
    "I told them to go ahead but asked for a written quote first.",
    "Anyway, the upshot is that the party at our place probably has to move to your flat.",
    "I went through the logs from last night and the errors all start at 02:13 UTC.",
    "It looks like the cache node ran out of memory and the clients kept retrying.",
    "I bumped the limit and added an alert, but we should find out why it grew.",
    "My guess is the new sync job, it fetches everything instead of the changes.",
    "Quick update from the hospital: mum is fine, they are keeping her one more night.",
    "The doctor was really kind and explained everything twice.",
    "Visiting hours are from two to seven if you want to come by tomorrow.",
    "We drove up the valley this morning and the view from the pass was unreal.",
    "There was still snow on the top even though it's almost summer.",
    "The kids complained the whole way up and then didn't want to leave.",
    "I've been thinking about what you said and I think you're right.",
    "It's not worth staying in a job that makes you this unhappy.",
    "Take your time, but know that I'll support whatever you decide.",
    "Here's the plan for Saturday: we meet at the bridge at nine.",
    "Bring water, sunscreen and something to eat, the hut might be closed.",
    "If it rains we'll do the museum instead and have lunch in the old town.",
    "The migration script is ready for review.",
    "It copies the old rows in batches of ten thousand and keeps a checkpoint,",
    "so we can stop and resume it without losing anything.",
    "On the test copy it took about forty minutes for the whole table.",
]

EMOJI = ["", "", "", "", " 😊", " 😅", " 👍", " 🙂", " :)", " :D", " ;)", " !!"]

URLS = [
    "https://example.org/shared/photos/2026-summer",
    "https://tracker.example.net/issues/4821",
    "https://maps.example.com/?q=52.5163,13.3777",
    "https://git.example.com/team/app/-/merge_requests/317",
    "https://news.example.org/article/city-council-votes-on-new-tram-line",
]


def body_text(rng):
    r = rng.random()
    if r < 0.28:
        return rng.choice(SHORT)
    if r < 0.78:
        return rng.choice(SENTENCES) + rng.choice(EMOJI)
    if r < 0.88:
        n = rng.randrange(2, 4)
        return " ".join(rng.sample(SENTENCES, n))
    if r < 0.93:
        return rng.choice(["Look at this: ", "Found it: ", "", "This one? "]) + rng.choice(URLS)
    start = rng.randrange(0, len(LONG_PARTS) - 3)
    text = " ".join(LONG_PARTS[start:start + rng.randrange(2, 5)])
    if rng.random() < 0.3:
        text += "\n\n" + rng.choice(SENTENCES)
    return text


STATUSES = [
    "", "", "", "In a meeting", "Working from home today", "At the gym", "Out for lunch",
    "On holiday until Monday 🏖", "Busy, text only please", "Travelling", "Sleeping",
    "Back in 5", "Do not disturb: focus time", "Commuting", "Available",
]
SHOWS = ["", "", "", "away", "xa", "dnd", "chat"]

# --------------------------------------------------------------- xml


def esc_text(s):
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def esc_attr(s):
    return esc_text(s).replace("'", "&apos;").replace('"', "&quot;")


def attrs(pairs):
    return "".join(f" {k}='{esc_attr(v)}'" for k, v in pairs if v is not None)


NS_STATES = "http://jabber.org/protocol/chatstates"
NS_RECEIPTS = "urn:xmpp:receipts"
NS_MARKERS = "urn:xmpp:chat-markers:0"
NS_SID = "urn:xmpp:sid:0"
NS_HINTS = "urn:xmpp:hints"
NS_SM = "urn:xmpp:sm:3"


class Gen:
    def __init__(self, seed):
        self.rng = random.Random(seed)
        self.ids = Ids(self.rng)
        self.out = []
        clients = [c for c, w in CLIENT_WEIGHTS for _ in range(w)]
        self.users = [User(lp, self.rng.choice(clients), self.ids, self.rng) for lp in LOCALPARTS]
        for u in self.users:
            others = [o for o in self.users if o is not u]
            u.contacts = self.rng.sample(others, self.rng.randrange(4, 16))
        self.clock = 1795846534  # 2026-11-28, seconds
        self.sent = []  # recent (sender, recipient, id) for late receipts and markers

    def emit(self, line):
        self.out.append(line)

    # Stream management: the sender of a stanza counts it and now and then
    # asks for an ack (clients mostly after a message with a body, servers
    # after a few stanzas); the other side answers with its count.
    def client_sent(self, u, ask=0.08):
        u.h_in += 1
        if self.rng.random() < ask:
            self.emit(f"<r xmlns='{NS_SM}'/>")
            self.emit(f"<a xmlns='{NS_SM}' h='{u.h_in}'/>")

    def server_sent(self, u, ask=0.1):
        u.h_out += 1
        if self.rng.random() < ask:
            self.emit(f"<r xmlns='{NS_SM}'/>")
            self.emit(f"<a xmlns='{NS_SM}' h='{u.h_out}'/>")

    def stamp(self, millis):
        self.clock += self.rng.randrange(1, 40)
        t = self.clock
        days, rem = divmod(t, 86400)
        # Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
        z = days + 719468
        era = z // 146097
        doe = z - era * 146097
        yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
        y = yoe + era * 400
        doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
        mp = (5 * doy + 2) // 153
        d = doy - (153 * mp + 2) // 5 + 1
        m = mp + 3 if mp < 10 else mp - 9
        y += m <= 2
        s = "%04d-%02d-%02dT%02d:%02d:%02d" % (y, m, d, rem // 3600, rem // 60 % 60, rem % 60)
        if millis:
            s += ".%03d" % self.rng.randrange(1000)
        return s + "Z"

    # One stanza twice: as the sender's client sends it, and as the server
    # delivers it (from added, to the recipient's full JID).
    def relay(self, sender, recipient, inner, mtype="chat", mid=None, extra_out="",
              to_full=True, ask=0.08):
        to = recipient.full if to_full else recipient.bare
        a = attrs([("to", to), ("type", mtype), ("id", mid)])
        self.emit(f"<message{a}>{inner}</message>")
        self.client_sent(sender, ask)
        b = attrs([("from", sender.full), ("to", recipient.full), ("type", mtype), ("id", mid)])
        self.emit(f"<message{b}>{inner}{extra_out}</message>")
        self.server_sent(recipient)

    def chat_state(self, sender, recipient, state):
        if not CLIENTS[sender.client]["states"]:
            return
        hint = f"<no-store xmlns='{NS_HINTS}'/>" if self.rng.random() < 0.5 else ""
        mid = self.ids.message_id(sender.client) if self.rng.random() < 0.6 else None
        self.relay(sender, recipient, f"<{state} xmlns='{NS_STATES}'/>{hint}", mid=mid,
                   to_full=self.rng.random() < 0.5)

    def message(self, sender, recipient):
        c = CLIENTS[sender.client]
        mid = self.ids.message_id(sender.client)
        inner = f"<body>{esc_text(body_text(self.rng))}</body>"
        if c["states"]:
            inner += f"<active xmlns='{NS_STATES}'/>"
        if c["receipts"]:
            inner += f"<request xmlns='{NS_RECEIPTS}'/>"
        if c["markers"]:
            inner += f"<markable xmlns='{NS_MARKERS}'/>"
        if c["origin"]:
            oid = mid if self.rng.random() < 0.7 else self.ids.uuid()
            inner += f"<origin-id xmlns='{NS_SID}' id='{oid}'/>"
        extra = f"<stanza-id xmlns='{NS_SID}' by='{recipient.bare}' id='{self.ids.stanza_id()}'/>"
        if self.rng.random() < 0.12:  # delivered from the offline store
            extra += (f"<delay xmlns='urn:xmpp:delay' from='{DOMAIN}' "
                      f"stamp='{self.stamp(self.rng.random() < 0.5)}'>Offline Storage</delay>")
        self.relay(sender, recipient, inner, mid=mid, extra_out=extra,
                   to_full=self.rng.random() < 0.4, ask=0.4)
        self.sent.append((sender, recipient, mid))
        if len(self.sent) > 30:
            self.sent.pop(0)
        return mid

    def receipt(self, reader, writer, mid):
        if not CLIENTS[writer.client]["receipts"] or not CLIENTS[reader.client]["receipts"]:
            return
        rid = self.ids.message_id(reader.client) if self.rng.random() < 0.7 else None
        hint = f"<store xmlns='{NS_HINTS}'/>" if self.rng.random() < 0.3 else ""
        self.relay(reader, writer, f"<received xmlns='{NS_RECEIPTS}' id='{mid}'/>{hint}",
                   mtype=None if self.rng.random() < 0.4 else "chat", mid=rid)

    def displayed(self, reader, writer, mid):
        if not CLIENTS[writer.client]["markers"] or not CLIENTS[reader.client]["markers"]:
            return
        rid = self.ids.message_id(reader.client)
        self.relay(reader, writer, f"<displayed xmlns='{NS_MARKERS}' id='{mid}'/>"
                   f"<store xmlns='{NS_HINTS}'/>", mid=rid, to_full=False)

    def presence(self, u):
        c = CLIENTS[u.client]
        show = self.rng.choice(SHOWS)
        status = self.rng.choice(STATUSES)
        inner = ""
        if show:
            inner += f"<show>{show}</show>"
        if status:
            inner += f"<status>{esc_text(status)}</status>"
        if self.rng.random() < 0.5:
            inner += f"<priority>{self.rng.choice([0, 1, 5, 10, 50])}</priority>"
        inner += (f"<c xmlns='http://jabber.org/protocol/caps' hash='sha-1' "
                  f"node='{c['node']}' ver='{u.caps_ver}'/>")
        if self.rng.random() < 0.3:
            inner += f"<idle xmlns='urn:xmpp:idle:1' since='{self.stamp(False)}'/>"
        self.emit(f"<presence>{inner}</presence>")
        self.client_sent(u)
        for contact in self.rng.sample(u.contacts, min(len(u.contacts), self.rng.randrange(1, 4))):
            self.emit(f"<presence{attrs([('from', u.full), ('to', contact.full)])}>{inner}"
                      f"</presence>")
            self.server_sent(contact)

    def unavailable(self, u):
        self.emit("<presence type='unavailable'/>")
        self.client_sent(u)
        for contact in self.rng.sample(u.contacts, min(len(u.contacts), 2)):
            self.emit(f"<presence{attrs([('from', u.full), ('to', contact.full), ('type', 'unavailable')])}/>")
            self.server_sent(contact)
        u.resource = self.ids.resource(u.client)
        u.full = f"{u.bare}/{u.resource}"

    def ping(self, u):
        if self.rng.random() < 0.5:  # the client pings the server
            iid = self.ids.iq_id(u.client)
            self.emit(f"<iq type='get' id='{iid}' to='{DOMAIN}'><ping xmlns='urn:xmpp:ping'/></iq>")
            self.client_sent(u)
            self.emit(f"<iq type='result' id='{iid}' from='{DOMAIN}' to='{u.full}'/>")
            self.server_sent(u)
        else:  # the server pings the client
            iid = "ping-" + self.ids.hex(8) if self.rng.random() < 0.5 else self.ids.b64ish(10)
            self.emit(f"<iq type='get' id='{iid}' from='{DOMAIN}' to='{u.full}'>"
                      f"<ping xmlns='urn:xmpp:ping'/></iq>")
            self.server_sent(u)
            self.emit(f"<iq type='result' id='{iid}' to='{DOMAIN}'/>")
            self.client_sent(u)

    def roster_item(self, contact, sub="both"):
        name = contact.local.split(".")[0].split("_")[0].capitalize()
        group = ""
        if self.rng.random() < 0.5:
            group = f"<group>{self.rng.choice(['Friends', 'Work', 'Family', 'Climbing club'])}</group>"
        a = attrs([("jid", contact.bare), ("name", name if self.rng.random() < 0.8 else None),
                   ("subscription", sub)])
        return f"<item{a}>{group}</item>" if group else f"<item{a}/>"

    def roster(self, u):
        iid = self.ids.iq_id(u.client)
        if self.rng.random() < 0.6:
            self.emit(f"<iq type='get' id='{iid}'><query xmlns='jabber:iq:roster'/></iq>")
            self.client_sent(u)
            items = "".join(self.roster_item(c) for c in u.contacts)
            ver = self.ids.hex(8)
            self.emit(f"<iq type='result' id='{iid}' to='{u.full}'>"
                      f"<query xmlns='jabber:iq:roster' ver='{ver}'>{items}</query></iq>")
            self.server_sent(u)
        else:  # a roster push and its result
            contact = self.rng.choice(u.contacts)
            sub = self.rng.choice(["both", "to", "from", "none"])
            pid = "push" + self.ids.hex(6)
            self.emit(f"<iq type='set' id='{pid}' to='{u.full}'><query xmlns='jabber:iq:roster' "
                      f"ver='{self.ids.hex(8)}'>{self.roster_item(contact, sub)}</query></iq>")
            self.server_sent(u)
            self.emit(f"<iq type='result' id='{pid}'/>")
            self.client_sent(u)

    def exchange(self):
        a = self.rng.choice(self.users)
        b = self.rng.choice(a.contacts)
        if self.rng.random() < 0.65:
            self.chat_state(a, b, "composing")
            if self.rng.random() < 0.2:
                self.chat_state(a, b, "paused")
                self.chat_state(a, b, "composing")
        burst = 1 if self.rng.random() < 0.7 else self.rng.randrange(2, 4)
        mids = [self.message(a, b) for _ in range(burst)]
        for mid in mids:
            self.receipt(b, a, mid)
        if self.rng.random() < 0.75:
            self.displayed(b, a, mids[-1])
        if self.rng.random() < 0.3:
            self.chat_state(b, a, "active")

    def run(self, exchanges):
        for _ in range(exchanges):
            r = self.rng.random()
            if r < 0.10:
                self.presence(self.rng.choice(self.users))
            elif r < 0.13:
                self.unavailable(self.rng.choice(self.users))
            elif r < 0.21:
                self.ping(self.rng.choice(self.users))
            elif r < 0.235:
                self.roster(self.rng.choice(self.users))
            else:
                self.exchange()
        return self.out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--exchanges", type=int, default=550)
    ap.add_argument("--seed", type=int, default=20261128)
    ap.add_argument("-o", "--output", default=str(Path(__file__).resolve().parent.parent /
                                                   "tests/data/compact/chat_corpus.xml"))
    args = ap.parse_args()
    lines = Gen(args.seed).run(args.exchanges)
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", encoding="utf-8", newline="\n") as f:
        for line in lines:
            assert "\n" not in line or "<body>" in line
            f.write(line.replace("\n", "&#10;") + "\n")
    print(f"{out}: {len(lines)} stanzas", file=sys.stderr)


if __name__ == "__main__":
    main()
