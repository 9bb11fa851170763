"""One simulated outreach world that the three vendor twins answer from.

The world is deterministic from a seed. Each vendor has its own sequences (campaigns), each with
steps and A/B variants; prospects are enrolled every day and receive the steps in turn until they
reply, bounce or unsubscribe. Every sent email carries its whole future: when it bounces, is
opened, clicked, replied to (by a person, an auto-responder or an out-of-office), marked
interested, turned into a meeting or unsubscribed. The clock (`now`) decides what is visible, so
moving it forward a day shows late engagement on old emails and new sends, as the next scheduled
run would see them.

Emails are generated in blocks of prospects with numpy, from a random stream keyed by
(seed, vendor, sequence, block), so any block can be made on demand, in any order, without
holding the world in memory: a handful of rows for tests or millions for benchmarks.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterator

import numpy as np
import pendulum

DAY = 86_400
NEVER = np.int64(2**62)  # timestamp of an event that never happens (compares after any real time)
BLOCK = 1024  # prospects per generated block

VENDORS = ("reply_io", "saleshandy", "instantly")
_VENDOR_CODE = {"reply_io": 1, "saleshandy": 2, "instantly": 3}

# reply kinds
NO_REPLY, HUMAN, AUTO_REPLY, OUT_OF_OFFICE = 0, 1, 2, 3
# sentiment of a human reply
NEUTRAL, POSITIVE, NEGATIVE = 0, 1, 2

_FIRST = ("ada", "ben", "cleo", "dev", "eli", "fay", "gus", "hana", "ivo", "jun", "kai", "lena",
          "milo", "nora", "omar", "pia", "quin", "rosa", "sami", "tara", "uma", "vic", "wen", "yara")
_LAST = ("stone", "reyes", "kowalski", "nakamura", "okafor", "lindqvist", "moreau", "patel",
         "schmidt", "haddad", "novak", "silva", "brennan", "tanaka", "ivanova", "adeyemi")
_COMPANIES = ("acme", "globex", "initech", "umbrella", "hooli", "vandelay", "stark", "wayne",
              "tyrell", "cyberdyne", "soylent", "wonka", "aperture", "massive", "oscorp", "monarch")
_TOPICS = ("Founders outbound", "Series A CFOs", "DevOps leads", "Agency partners", "Retail ops",
           "Healthcare IT", "Fintech growth", "HR directors", "Logistics", "EdTech deans",
           "Security buyers", "Product-led SaaS", "Manufacturing", "Legal ops", "Real estate")
_OWNERS = (("Maya Chen", "maya"), ("Luis Ortega", "luis"), ("Priya Nair", "priya"),
           ("Tom Becker", "tom"))


@dataclass(frozen=True)
class Shape:
    """How big one vendor's part of the world is."""

    sequences: int = 5
    prospects_per_day: int = 3
    oldest_days: int = 90  # the first sequence started this many days before the world's start
    newest_days: int = 10  # the last regular sequence started this many days before it
    late_sequence: bool = True  # one more sequence, created half a day after the world's start


@dataclass(frozen=True)
class WorldConfig:
    """Everything that decides the world. Same config, same world."""

    seed: int = 7
    start: str | None = None  # ISO instant of the world's initial `now`; default: the real now
    reply_io: Shape = Shape(sequences=5, prospects_per_day=3, oldest_days=75, newest_days=20)
    saleshandy: Shape = Shape(sequences=5, prospects_per_day=3, oldest_days=200, newest_days=15)
    instantly: Shape = Shape(sequences=5, prospects_per_day=3, oldest_days=100, newest_days=10)
    unattributed_rate: float = 0.03  # Instantly: share of emails reported under a null step/variant


@dataclass(frozen=True)
class Variant:
    index: int  # 0 = A, 1 = B, ...
    id: int  # a stable numeric id (Reply variant ids; the other twins format their own)
    open_rate: float
    reply_rate: float

    @property
    def letter(self) -> str:
        return chr(ord("A") + self.index)


@dataclass(frozen=True)
class Step:
    number: int  # 1-based
    id: int
    delay_days: int
    subject: str
    variants: tuple[Variant, ...]


@dataclass(frozen=True)
class Sequence:
    """A sequence (campaign) with everything a vendor's list and detail endpoints show."""

    vendor: str
    index: int
    uid: int  # a 63-bit number unique in the world, for ids the twins format their own way
    name: str
    owner_index: int
    created_ts: int
    enroll_end_ts: int  # no prospect is enrolled from here on
    paused_ts: int  # nothing is sent from here on (NEVER when never paused)
    archived: bool
    prospects_per_day: int
    steps: tuple[Step, ...]
    multichannel: bool  # also runs LinkedIn steps (Reply.io)

    @property
    def prospects(self) -> int:
        days = max(0, (self.enroll_end_ts - _day_floor(self.created_ts)) // DAY)
        return days * self.prospects_per_day

    @property
    def max_delay_days(self) -> int:
        return self.steps[-1].delay_days

    @property
    def owner_name(self) -> str:
        return _OWNERS[self.owner_index][0]

    @property
    def owner_email(self) -> str:
        return f"{_OWNERS[self.owner_index][1]}@outreach-team.example"

    def status(self, now: int) -> str:
        """One of new, active, paused, finished, as of `now`."""
        if now < self.created_ts:
            return "new"
        if self.paused_ts <= now:
            return "paused"
        if now < self.enroll_end_ts + (self.max_delay_days + 1) * DAY:
            return "active"
        return "finished"

    def prospect_name(self, p: int) -> tuple[str, str]:
        h = _mix(self.uid, p)
        return _FIRST[h % len(_FIRST)], _LAST[(h >> 8) % len(_LAST)]

    def prospect_company(self, p: int) -> str:
        return _COMPANIES[(_mix(self.uid, p) >> 16) % len(_COMPANIES)]

    def prospect_email(self, p: int) -> str:
        first, last = self.prospect_name(p)
        return f"{first}.{last}.{self.index}x{p}@{self.prospect_company(p)}.example"


@dataclass
class Emails:
    """Sent emails as columns (numpy arrays of equal length), as of some `now`.

    Timestamps are epoch seconds, NEVER where the event has not happened (yet).
    """

    prospect: np.ndarray
    step: np.ndarray  # 0-based step index
    variant: np.ndarray  # 0-based variant index
    sent_ts: np.ndarray
    bounce_ts: np.ndarray
    open_ts: np.ndarray  # first open
    open_count: np.ndarray
    click_ts: np.ndarray  # first click
    click_count: np.ndarray
    reply_ts: np.ndarray
    reply_kind: np.ndarray  # NO_REPLY, HUMAN, AUTO_REPLY, OUT_OF_OFFICE
    sentiment: np.ndarray  # of a human reply
    interested_ts: np.ndarray
    meeting_ts: np.ndarray
    unsub_ts: np.ndarray
    unattributed: np.ndarray  # bool: Instantly cannot tie this email's events to a step/variant

    def __len__(self) -> int:
        return len(self.prospect)

    def take(self, mask_or_index: np.ndarray) -> "Emails":
        return Emails(**{k: v[mask_or_index] for k, v in self.__dict__.items()})

    @staticmethod
    def concat(parts: list["Emails"]) -> "Emails":
        if not parts:
            return _empty_emails()
        return Emails(**{k: np.concatenate([getattr(p, k) for p in parts]) for k in Emails.__dataclass_fields__})


_EVENT_COLUMNS = ("bounce_ts", "open_ts", "click_ts", "reply_ts", "interested_ts", "meeting_ts", "unsub_ts")


def _empty_emails() -> Emails:
    cols = {k: np.empty(0, dtype=np.int64) for k in Emails.__dataclass_fields__}
    cols["unattributed"] = np.empty(0, dtype=bool)
    return Emails(**cols)


def _mix(*parts: int) -> int:
    """A stable 64-bit hash of integers (Python's hash() is salted per process)."""
    digest = hashlib.blake2b(b"".join(int(p).to_bytes(8, "little", signed=True) for p in parts), digest_size=8)
    return int.from_bytes(digest.digest(), "little") & (2**63 - 1)


def _day_floor(ts: int) -> int:
    return ts - ts % DAY


class World:
    """The simulated outreach world. `now` moves only when told to."""

    def __init__(self, config: WorldConfig | None = None) -> None:
        self.config = config or WorldConfig()
        start = pendulum.parse(self.config.start) if self.config.start else pendulum.now("UTC")
        self.start_ts = int(start.int_timestamp)
        self.now = self.start_ts
        self._sequences = {v: self._make_sequences(v) for v in VENDORS}

    # -- the clock ---------------------------------------------------------------------------

    @property
    def now_dt(self) -> pendulum.DateTime:
        return pendulum.from_timestamp(self.now, tz="UTC")

    @property
    def today(self) -> pendulum.Date:
        return self.now_dt.date()

    def advance(self, days: float = 1) -> None:
        """Move the clock forward, as if the next scheduled run came `days` later."""
        self.now += int(days * DAY)

    # -- sequences ---------------------------------------------------------------------------

    def sequences(self, vendor: str) -> tuple[Sequence, ...]:
        """Every sequence of a vendor, also those not created yet."""
        return self._sequences[vendor]

    def visible_sequences(self, vendor: str) -> list[Sequence]:
        """The sequences that exist at `now`, oldest first."""
        return [s for s in self._sequences[vendor] if s.created_ts <= self.now]

    def _make_sequences(self, vendor: str) -> tuple[Sequence, ...]:
        shape: Shape = getattr(self.config, vendor)
        code = _VENDOR_CODE[vendor]
        count = shape.sequences + (1 if shape.late_sequence else 0)
        out = []
        for i in range(count):
            rng = np.random.default_rng([self.config.seed, code, i, 0])
            if i < shape.sequences:
                span = shape.oldest_days - shape.newest_days
                age_days = shape.oldest_days - (span * i // max(1, shape.sequences - 1))
                created = _day_floor(self.start_ts) - age_days * DAY + int(rng.integers(6, 10)) * 3600
            else:  # created half a day after the world's start: a later run must pick it up
                created = self.start_ts + DAY // 2
            ongoing = i % 2 == 0 or i >= shape.sequences
            enroll_days = 400 if ongoing else max(5, int(rng.integers(20, 40)))
            enroll_end = _day_floor(created) + enroll_days * DAY
            paused = (i % 5 == 3) and i < shape.sequences
            paused_ts = int(self.start_ts - 5 * DAY) if paused else int(NEVER)
            steps = []
            delays = (0, 2, 5, 9)[: int(rng.integers(2, 5))]
            for n, delay in enumerate(delays):
                n_variants = int(rng.integers(1, 4)) if n < 2 else 1
                base_open = float(rng.uniform(0.35, 0.65))
                base_reply = float(rng.uniform(0.04, 0.12)) / (1 + n)
                variants = tuple(
                    Variant(
                        index=v,
                        id=int(_mix(self.config.seed, code, i, n, v) % 9_000_000 + 1_000_000),
                        open_rate=min(0.9, base_open * (1.0 if v == 0 else float(rng.uniform(0.7, 1.3)))),
                        reply_rate=min(0.5, base_reply * (1.0 if v == 0 else float(rng.uniform(0.4, 1.8)))),
                    )
                    for v in range(n_variants)
                )
                steps.append(Step(number=n + 1, id=int(_mix(self.config.seed, code, i, n) % 900_000 + 100_000),
                                  delay_days=delay, subject=f"Step {n + 1}: {_TOPICS[(i + n) % len(_TOPICS)]}",
                                  variants=variants))
            out.append(Sequence(
                vendor=vendor, index=i, uid=_mix(self.config.seed, code, i),
                name=f"{_TOPICS[(i * 7 + code) % len(_TOPICS)]} #{i + 1}",
                owner_index=i % len(_OWNERS), created_ts=int(created), enroll_end_ts=int(enroll_end),
                paused_ts=paused_ts, archived=(not ongoing and i % 3 == 1),
                prospects_per_day=max(1, int(round(shape.prospects_per_day * float(rng.uniform(0.6, 1.4))))),
                steps=tuple(steps), multichannel=(i % 2 == 1),
            ))
        return tuple(out)

    # -- emails ------------------------------------------------------------------------------

    def emails(self, seq: Sequence, sent_from: int | None = None, sent_to: int | None = None) -> Emails:
        """The emails of a sequence sent in [sent_from, sent_to) (and by now), as of now."""
        return Emails.concat(list(self.iter_emails(seq, sent_from, sent_to)))

    def iter_emails(self, seq: Sequence, sent_from: int | None = None, sent_to: int | None = None,
                    ) -> Iterator[Emails]:
        """Like `emails`, one block of prospects at a time (memory stays flat at any scale)."""
        lo = -(2**62) if sent_from is None else sent_from
        hi = self.now + 1 if sent_to is None else min(sent_to, self.now + 1)
        if hi <= lo or hi <= seq.created_ts:
            return
        for block in self._blocks_for(seq, lo, hi):
            frame = _generate_block(self.config.seed, self.config.unattributed_rate, seq, block)
            mask = (frame.sent_ts >= lo) & (frame.sent_ts < hi)
            if mask.any():
                yield self._as_of_now(frame.take(mask))

    def _blocks_for(self, seq: Sequence, lo: int, hi: int) -> range:
        """The blocks whose prospects can have an email sent in [lo, hi)."""
        first_day = _day_floor(seq.created_ts)
        p_lo = max(0, (lo - first_day) // DAY - seq.max_delay_days - 1) * seq.prospects_per_day
        p_hi = min(seq.prospects, ((hi - first_day) // DAY + 1) * seq.prospects_per_day)
        if p_hi <= p_lo:
            return range(0)
        return range(p_lo // BLOCK, (p_hi - 1) // BLOCK + 1)

    def _as_of_now(self, frame: Emails) -> Emails:
        now = self.now
        cols = dict(frame.__dict__)
        for name in _EVENT_COLUMNS:
            cols[name] = np.where(frame.__dict__[name] <= now, frame.__dict__[name], NEVER)
        cols["open_count"] = np.where(cols["open_ts"] < NEVER, frame.open_count, 0)
        cols["click_count"] = np.where(cols["click_ts"] < NEVER, frame.click_count, 0)
        replied = cols["reply_ts"] < NEVER
        cols["reply_kind"] = np.where(replied, frame.reply_kind, NO_REPLY)
        cols["sentiment"] = np.where(replied, frame.sentiment, NEUTRAL)
        return Emails(**cols)


@lru_cache(maxsize=64)
def _generate_block(seed: int, unattributed_rate: float, seq: Sequence, block: int) -> Emails:
    """Every email of prospects [block*BLOCK, (block+1)*BLOCK) of a sequence, for all time."""
    p0 = block * BLOCK
    p1 = min(p0 + BLOCK, seq.prospects)
    n = p1 - p0
    if n <= 0:
        return _empty_emails()
    rng = np.random.default_rng([seed, _VENDOR_CODE[seq.vendor], seq.index, block + 1])
    prospect = np.arange(p0, p1, dtype=np.int64)
    enroll = _day_floor(seq.created_ts) + (prospect // seq.prospects_per_day) * DAY \
        + 8 * 3600 + rng.integers(0, 9 * 3600, n)
    n_steps = len(seq.steps)
    sent = np.stack([enroll + s.delay_days * DAY + rng.integers(0, 3600, n) for s in seq.steps])
    sent[0] = np.maximum(sent[0], seq.created_ts)
    draws = rng.random((n_steps, 12, n))
    exp = rng.exponential(1.0, (n_steps, 4, n))
    open_extra = rng.geometric(0.5, (n_steps, n)) - 1
    click_extra = rng.integers(0, 3, (n_steps, n))
    variant_draw = rng.random((n_steps, n))

    alive = enroll < seq.enroll_end_ts
    parts = []
    for k, step in enumerate(seq.steps):
        u = draws[k]
        e = exp[k]
        n_var = len(step.variants)
        variant = np.minimum((variant_draw[k] * n_var).astype(np.int64), n_var - 1)
        open_rate = np.array([v.open_rate for v in step.variants])[variant]
        reply_rate = np.array([v.reply_rate for v in step.variants])[variant]
        sent_k = sent[k]
        is_sent = alive & (sent_k < seq.paused_ts)

        bounced = u[0] < (0.04 if k == 0 else 0.005)
        bounce_ts = np.where(bounced, sent_k + 90, NEVER)
        delivered = ~bounced
        opened = delivered & (u[1] < open_rate)
        open_ts = np.where(opened, sent_k + 120 + (e[0] * 0.8 * DAY).astype(np.int64), NEVER)
        open_count = np.where(opened, 1 + open_extra[k], 0)
        clicked = opened & (u[2] < 0.25)
        click_ts = np.where(clicked, open_ts + 30 + (e[1] * 3 * 3600).astype(np.int64), NEVER)
        click_count = np.where(clicked, 1 + click_extra[k], 0)
        replied = delivered & (u[3] < reply_rate)
        reply_ts = np.where(replied, sent_k + 600 + (e[2] * 1.5 * DAY).astype(np.int64), NEVER)
        kind = np.where(~replied, NO_REPLY,
                        np.where(u[4] < 0.8, HUMAN, np.where(u[4] < 0.9, AUTO_REPLY, OUT_OF_OFFICE)))
        human = kind == HUMAN
        sentiment = np.where(human & (u[5] < 0.45), POSITIVE,
                             np.where(human & (u[5] > 0.75), NEGATIVE, NEUTRAL))
        interested = human & (sentiment == POSITIVE) & (u[6] < 0.8)
        interested_ts = np.where(interested, reply_ts + 1800, NEVER)
        meeting = interested & (u[7] < 0.5)
        meeting_ts = np.where(meeting, interested_ts + (e[3] * 2 * DAY).astype(np.int64) + 3600, NEVER)
        unsub = delivered & ~human & (u[8] < 0.012)
        unsub_ts = np.where(unsub, sent_k + 300 + (u[9] * 2 * DAY).astype(np.int64), NEVER)
        unattributed = u[10] < unattributed_rate

        idx = np.flatnonzero(is_sent)
        parts.append(Emails(
            prospect=prospect[idx], step=np.full(len(idx), k, dtype=np.int64), variant=variant[idx],
            sent_ts=sent_k[idx], bounce_ts=bounce_ts[idx], open_ts=open_ts[idx],
            open_count=open_count[idx], click_ts=click_ts[idx], click_count=click_count[idx],
            reply_ts=reply_ts[idx], reply_kind=kind[idx], sentiment=sentiment[idx],
            interested_ts=interested_ts[idx], meeting_ts=meeting_ts[idx], unsub_ts=unsub_ts[idx],
            unattributed=unattributed[idx],
        ))
        if k + 1 < n_steps:  # a prospect who replied, bounced or unsubscribed gets no next step
            stop = np.minimum(np.minimum(bounce_ts, np.where(human, reply_ts, NEVER)), unsub_ts)
            alive = is_sent & (stop >= sent[k + 1])
    frame = Emails.concat(parts)
    order = np.lexsort((frame.step, frame.prospect))
    return frame.take(order)
