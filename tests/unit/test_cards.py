import panel as pn

from app.cards import lazy_card


def test_lazy_card_builds_its_content_when_first_opened_and_once():
    made = []

    def make():
        made.append(1)
        return pn.widgets.TextInput(name="more")
    card = lazy_card(make, "More", width=200)
    assert card.collapsed and card.title == "More" and card.width == 200
    assert len(card.objects) == 0 and not made
    card.collapsed = False
    assert len(made) == 1 and isinstance(card.objects[0], pn.widgets.TextInput)
    card.collapsed = True
    card.collapsed = False
    assert len(made) == 1 and len(card.objects) == 1
