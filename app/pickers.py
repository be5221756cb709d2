"""Path fields of the views: in a served session, pickers over the session's workspace (the
user chooses among what the workspace and the shipped assets hold, and cannot type a path);
in a notebook without a workspace, a plain text field.

    path_field(view, "run", session, kinds=("run",))        # edits the String param view.run
"""
from __future__ import annotations

import html

import panel as pn

NONE = "—"  # the picker's entry for "nothing picked"


def _choices(session, kinds, current: list[str]) -> dict[str, str]:
    """{label: absolute path} of the workspace's items, with the current paths kept when the
    workspace allows them (e.g. a store just written)."""
    ws = session.workspace
    options = {it.label: str(it.path) for it in ws.items(kinds)}
    known = set(options.values())
    for path in current:
        if path and path not in known:
            try:
                options[ws.label(ws.resolve(path))] = path
            except Exception:  # not allowed: not offered
                continue
    return options


def path_field(owner, name: str, session, kinds, *, multiple: bool = False, placeholder: str = "",
               **widget_kw):
    """A widget editing the string parameter ``owner.<name>`` (comma-separated paths when
    ``multiple``): a Select (MultiChoice) over the workspace's items of ``kinds`` with a
    refresh button, or a TextInput when ``session`` has no workspace."""
    label = owner.param[name].label
    if session is None or session.workspace is None:
        return pn.widgets.TextInput.from_param(owner.param[name], placeholder=placeholder, **widget_kw)

    def current() -> list[str]:
        value = getattr(owner, name) or ""
        return [p.strip() for p in value.split(",") if p.strip()] if multiple else [value]

    def options() -> dict[str, str]:
        found = _choices(session, kinds, current())
        if multiple:  # Bokeh's MultiChoice (Choices.js) inserts labels as HTML: a name must stay text
            return {html.escape(label): path for label, path in found.items()}
        return {NONE: "", **found}

    opts = options()
    if multiple:
        widget = pn.widgets.MultiChoice(label=label, options=opts, value=[p for p in current() if p in opts.values()],
                                        **widget_kw)
    else:
        widget = pn.widgets.Select(label=label, options=opts, value=current()[0] if current()[0] in opts.values()
                                   else "", **widget_kw)
    syncing = [False]

    def to_owner(event) -> None:
        if not syncing[0]:
            setattr(owner, name, ",".join(event.new) if multiple else event.new)

    def to_widget(event=None) -> None:
        syncing[0] = True
        try:
            widget.options = options()
            values = widget.options.values()
            widget.value = [p for p in current() if p in values] if multiple else (
                current()[0] if current()[0] in values else "")
        finally:
            syncing[0] = False

    widget.param.watch(to_owner, "value")
    owner.param.watch(to_widget, name)
    refresh = pn.widgets.Button(label="↻", width=36, align="end", description="list the workspace again")
    refresh.on_click(to_widget)
    return pn.Row(widget, refresh, sizing_mode=widget_kw.get("sizing_mode"), css_classes=[f"roma-pick-{name}"])


def confined(session, *paths: str) -> list[str]:
    """``paths`` resolved through the session's workspace (empty ones kept empty); raises
    :class:`roma_core.errors.AccessError` for one outside it. No session: as given."""
    if session is None:
        return [str(p).strip() for p in paths]
    return [session.resolve(p) if str(p).strip() else "" for p in paths]


__all__ = ["confined", "path_field"]
