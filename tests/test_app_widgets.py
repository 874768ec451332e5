"""The modal list both app screens use (app/widgets.py modal_list_event): Esc, a click outside, a pick."""

import pygame
import pytest

from app import widgets as W


class Owner:
    """What a screen gives the helper: an attribute holding the list, and say()."""

    def __init__(self, items):
        self.said = []
        self.picks = []
        self.lst = W.ListPicker(pygame.Rect(10, 10, 200, 100), row_h=20)
        self.lst.set_items(items, 0)

    def say(self, msg):
        self.said.append(msg)


def event(owner, ev):
    return W.modal_list_event(owner, "lst", ev, owner.picks.append)


@pytest.fixture
def owner():
    pygame.init()
    yield Owner(["a", "b", "c"])
    pygame.quit()


def test_escape_closes_and_clears_the_message(owner):
    assert event(owner, pygame.event.Event(pygame.KEYDOWN, key=pygame.K_ESCAPE, mod=0))
    assert owner.lst is None and owner.said == [""] and owner.picks == []


def test_a_click_outside_closes_without_a_pick(owner):
    assert event(owner, pygame.event.Event(pygame.MOUSEBUTTONDOWN, pos=(500, 500), button=1))
    assert owner.lst is None and owner.picks == [] and owner.said == []


def test_keys_are_the_lists_and_enter_picks_the_selection(owner):
    # A key the list does not use is still swallowed (modal); Down moves, Enter picks row 1.
    assert event(owner, pygame.event.Event(pygame.KEYDOWN, key=pygame.K_SPACE, mod=0))
    assert owner.lst is not None and owner.picks == []
    assert event(owner, pygame.event.Event(pygame.KEYDOWN, key=pygame.K_DOWN, mod=0))
    assert event(owner, pygame.event.Event(pygame.KEYDOWN, key=pygame.K_RETURN, mod=0))
    assert owner.lst is None and owner.picks == [1]


def test_a_click_on_a_row_picks_it_and_motion_elsewhere_is_not_the_lists(owner):
    assert not event(owner, pygame.event.Event(pygame.MOUSEMOTION, pos=(500, 500), rel=(0, 0), buttons=(0, 0, 0)))
    assert owner.lst is not None
    row2 = (50, 10 + 4 + 2 * 20 + 5)
    assert event(owner, pygame.event.Event(pygame.MOUSEBUTTONDOWN, pos=row2, button=1))
    assert owner.lst is None and owner.picks == [2]
