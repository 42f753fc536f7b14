import uuid
from datetime import UTC, datetime

from components.config.settings import CollectorSettings
from components.events import Event, EventType
from components.intake.guard import Client, IntakeGuard


def _click(user: str = "u1", article: str = "a1") -> Event:
    return Event(
        event_id=uuid.uuid4(), type=EventType.CLICK, user_id=user, article_id=article, ts=datetime.now(UTC)
    )


def test_forwarded_for_is_believed_only_from_trusted_proxies() -> None:
    guard = IntakeGuard(CollectorSettings(trusted_proxies=["10.0.0.0/8"], unfiltered_clients=[]))
    # gateway 10.1.2.3 appended the client it saw; an inner proxy appended the gateway
    assert guard.client("10.9.9.9", "203.0.113.7, 10.1.2.3", "ua").address == "203.0.113.7"
    assert guard.client("198.51.100.1", "203.0.113.7", "ua").address == "198.51.100.1"  # not a proxy
    assert guard.client(None, None, None) == Client("unknown", "")


def test_a_client_cannot_choose_its_address_by_sending_the_header() -> None:
    # The client sends "X-Forwarded-For: 127.0.0.1" (an unfiltered address) or a fresh random
    # one per request; the gateway appends the real address: that one is the client.
    guard = IntakeGuard(CollectorSettings(trusted_proxies=["10.0.0.0/8"], unfiltered_clients=["127.0.0.0/8"]))
    assert guard.client("10.1.2.3", "127.0.0.1, 198.51.100.4", "ua").address == "198.51.100.4"
    assert guard.client("10.1.2.3", "1.2.3.4, 198.51.100.4", "ua").address == "198.51.100.4"
    assert guard.client("10.1.2.3", "junk, 198.51.100.4", "ua").address == "198.51.100.4"
    assert guard.client("10.1.2.3", "198.51.100.4, junk", "ua").address == "10.1.2.3"


def test_client_buckets_refill_at_their_rate() -> None:
    guard = IntakeGuard(CollectorSettings(client_events_per_s=10, client_burst=500, unfiltered_clients=[]))
    client = Client("203.0.113.7")
    assert guard.admit(client, 500, now=0.0) == 0.0
    assert guard.admit(client, 20, now=0.0) == 2.0  # 20 tokens at 10/s
    assert guard.admit(client, 20, now=2.0) == 0.0
    unfiltered = IntakeGuard(CollectorSettings(unfiltered_clients=["127.0.0.0/8"]))
    assert unfiltered.refuse(Client("127.0.0.1", "curl/8.0"), _click(), now=0.0) is None


def test_reader_rate_recovers_with_time() -> None:
    guard = IntakeGuard(
        CollectorSettings(user_events_per_min=60, unfiltered_clients=[], duplicate_window_s=0)
    )
    client = Client("203.0.113.7", "Mozilla/5.0")
    refusals = [guard.refuse(client, _click(article=f"a{i}"), now=0.0) for i in range(61)]
    assert refusals[:60] == [None] * 60 and refusals[60] is not None
    assert refusals[60].code == "impossible_rate"
    assert guard.refuse(client, _click(article="later"), now=1.0) is None  # a token per second
