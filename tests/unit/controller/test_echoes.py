"""The echoes of our own writes are not news, whether their watch event comes before or after the write's answer;
anything else seen while a write is in flight is news once it ends."""

from __future__ import annotations

import pytest

from taskaction_operator.controller.echoes import Echoes

KEY = ("ns", "a")


class News:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> None:
        self.calls += 1


def test_the_echo_after_the_answer_is_not_news_and_only_once() -> None:
    echoes, news = Echoes(), News()
    with echoes.writing(KEY, news) as write:
        write.answered("5")
    assert echoes.is_echo(KEY, "5")
    assert not echoes.is_echo(KEY, "5")  # a second event of that version (a relist) is news again
    assert news.calls == 0


def test_the_echo_before_the_answer_is_held_and_is_not_news() -> None:
    echoes, news = Echoes(), News()
    with echoes.writing(KEY, news) as write:
        assert echoes.is_echo(KEY, "5")
        write.answered("5")
    assert news.calls == 0
    assert not echoes.is_echo(KEY, "5")  # already seen: not expected again


def test_another_change_seen_during_the_write_is_news_when_it_ends() -> None:
    echoes, news = Echoes(), News()
    with echoes.writing(KEY, news) as write:
        assert echoes.is_echo(KEY, "4")  # held: someone else's write, say
        write.answered("5")
        assert news.calls == 0
    assert news.calls == 1


def test_what_was_seen_during_a_failed_write_is_news() -> None:
    echoes, news = Echoes(), News()
    with pytest.raises(RuntimeError), echoes.writing(KEY, news):
        echoes.is_echo(KEY, "4")
        raise RuntimeError("409")
    assert news.calls == 1
    assert not echoes.is_echo(KEY, "4")


def test_other_objects_and_forgotten_writes_are_news() -> None:
    echoes, news = Echoes(), News()
    with echoes.writing(KEY, news) as write:
        assert not echoes.is_echo(("ns", "b"), "5")
        write.answered("5")
    echoes.forget(KEY)
    assert not echoes.is_echo(KEY, "5")
    assert news.calls == 0
