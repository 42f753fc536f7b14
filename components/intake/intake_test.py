"""Body parsing rules of the intake (delivery itself is exercised by the collector's tests)."""

import pytest

from components.config import KafkaSettings
from components.intake import BodyError, EventIntake
from components.streaming import EventProducer


@pytest.fixture
def intake() -> EventIntake:
    return EventIntake(EventProducer(KafkaSettings(bootstrap_servers="127.0.0.1:1")), max_batch=3)


def test_an_object_is_one_event_and_an_array_a_batch(intake: EventIntake) -> None:
    assert intake.parse(b'{"a": 1}') == ([{"a": 1}], False)
    assert intake.parse(b'[{"a": 1}, {"b": 2}]') == ([{"a": 1}, {"b": 2}], True)


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"{", 400, "malformed_json"),
        (b"[]", 400, "empty_batch"),
        (b"42", 400, "wrong_type"),
        (b"[{}, {}, {}, {}]", 413, "batch_too_large"),
    ],
)
def test_unusable_bodies_name_the_problem(intake: EventIntake, body: bytes, status: int, code: str) -> None:
    with pytest.raises(BodyError) as info:
        intake.parse(body)
    assert info.value.status == status
    assert info.value.error.code == code
    assert info.value.error.field == "$"
