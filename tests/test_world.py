"""The simulated world: deterministic, consistent across windows, and moving with its clock."""

from __future__ import annotations

import numpy as np

from sandbox.world import DAY, HUMAN, NEVER, Emails, World, WorldConfig

START = "2026-11-23T12:00:00Z"


def _as_table(emails: Emails) -> dict[str, list[int]]:
    return {name: getattr(emails, name).tolist() for name in Emails.__dataclass_fields__}


def test_same_seed_same_world_other_seed_other_world() -> None:
    a, b, c = World(WorldConfig(seed=3, start=START)), World(WorldConfig(seed=3, start=START)), \
        World(WorldConfig(seed=4, start=START))
    for vendor in ("reply_io", "saleshandy", "instantly"):
        assert a.sequences(vendor) == b.sequences(vendor)
        for sa, sb in zip(a.visible_sequences(vendor), b.visible_sequences(vendor)):
            assert _as_table(a.emails(sa)) == _as_table(b.emails(sb))
    assert [len(a.emails(s)) for s in a.visible_sequences("saleshandy")] != \
        [len(c.emails(s)) for s in c.visible_sequences("saleshandy")]


def test_windows_partition_the_emails() -> None:
    world = World(WorldConfig(seed=5, start=START))
    seq = world.visible_sequences("saleshandy")[0]
    whole = world.emails(seq)
    cut = world.now - 20 * DAY
    parts = Emails.concat([world.emails(seq, None, cut), world.emails(seq, cut, None)])
    key = lambda e: sorted(zip(e.prospect.tolist(), e.step.tolist(), e.sent_ts.tolist()))  # noqa: E731
    assert key(parts) == key(whole)
    assert len(whole) > 100


def test_the_clock_reveals_new_sends_and_late_engagement_and_takes_nothing_back() -> None:
    world = World(WorldConfig(seed=5, start=START))
    seq = world.visible_sequences("instantly")[0]
    before = world.emails(seq)
    world.advance(1)
    after = world.emails(seq)
    assert len(after) > len(before)
    old = {(p, s): i for i, (p, s) in enumerate(zip(after.prospect.tolist(), after.step.tolist()))}
    idx = np.array([old[(p, s)] for p, s in zip(before.prospect.tolist(), before.step.tolist())])
    for column in ("open_ts", "reply_ts", "click_ts", "meeting_ts"):
        was, now = getattr(before, column), getattr(after, column)[idx]
        assert np.all((was == NEVER) | (was == now)), column  # nothing seen before changes or vanishes
    newly_opened = (before.open_ts == NEVER) & (after.open_ts[idx] < NEVER)
    assert newly_opened.sum() > 0  # emails sent earlier were opened since the last look


def test_no_step_follows_a_reply_bounce_or_unsubscribe() -> None:
    world = World(WorldConfig(seed=9, start=START))
    for seq in world.visible_sequences("reply_io"):
        emails = world.emails(seq)
        by_prospect: dict[int, list[int]] = {}
        for i, p in enumerate(emails.prospect.tolist()):
            by_prospect.setdefault(p, []).append(i)
        for rows in by_prospect.values():
            rows.sort(key=lambda i: emails.step[i])
            for prev, nxt in zip(rows, rows[1:]):
                stop = min(emails.bounce_ts[prev], emails.unsub_ts[prev],
                           emails.reply_ts[prev] if emails.reply_kind[prev] == HUMAN else NEVER)
                assert stop >= emails.sent_ts[nxt]


def test_a_sequence_created_later_appears_after_the_clock_moves() -> None:
    world = World(WorldConfig(seed=1, start=START))
    count = len(world.visible_sequences("instantly"))
    assert len(world.sequences("instantly")) == count + 1
    world.advance(1)
    assert len(world.visible_sequences("instantly")) == count + 1
