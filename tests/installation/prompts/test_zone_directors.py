"""A hub's Directors behind one visitor server: each visitor's calls go to their zone's Director; no zone, or
a zone the hub does not direct, is the default (first) zone, the latter warned about once."""

import asyncio
import logging

from installation.prompts.zone_directors import ZoneDirectors
from tests.installation.prompts.toy_director import make_director


def test_each_visitor_reaches_the_director_of_their_zone(caplog):
    """Prompts queue with the visitor's zone's Director; without a zone, or with an unknown one (warned about
    once), with the first zone's; leaving withdraws the prompt from the right queue."""
    (one, _), (two, _) = make_director(), make_director()
    zones = ZoneDirectors({"room-1": one, "room-2": two})
    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    async def scenario() -> None:
        assert zones.enter("a", "room-2") is two
        assert zones.enter("b", None) is one
        for visitor in ("a", "b"):
            zones.subscribe(visitor, send)
        assert (await zones.submit("a", "a harbour at dusk"))["type"] == "queued"
        assert (await zones.submit("b", "green forest moss"))["type"] == "queued"

    with caplog.at_level(logging.WARNING, logger="installation.prompts.zone_directors"):
        asyncio.run(scenario())
        assert zones.enter("c", "room-9") is one and zones.enter("d", "room-9") is one
    assert [p.text for p in two.queue.pending()] == ["a harbour at dusk"]
    assert [p.text for p in one.queue.pending()] == ["green forest moss"]
    assert len([r for r in caplog.records if "room-9" in r.getMessage()]) == 1
    assert zones.status()["zones"]["room-2"]["queue_length"] == 1
    zones.unsubscribe("a")
    assert len(two.queue) == 0 and len(one.queue) == 1
