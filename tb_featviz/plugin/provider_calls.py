"""Calls into TensorBoard's data provider, and how their failures become 404s that say why."""

from __future__ import annotations

from tensorboard import errors

ALL_STEPS = 1_000_000_000  # `downsample`: every step a series holds


def guarded(what: str, call):
    """Runs a data-provider call; its failures on a malformed event file become a 404 that says
    so (the Python loader raises plain exceptions on records of the wrong shape)."""
    try:
        return call()
    except errors.PublicError:
        raise
    except Exception as error:  # noqa: BLE001 - see above
        raise errors.NotFoundError(
            f"TensorBoard could not {what}: {type(error).__name__}: {str(error)[:200]}"
        ) from None


def all_or_each(read, items: list, problems: list, name) -> dict:
    """`read(items)` → {item: data} in one provider call; when that call fails (one malformed
    item spoils the batch), each item is read alone, so that only the bad ones are lost, each
    with a line `name(item): why` in `problems`."""
    try:
        return read(items)
    except errors.NotFoundError:
        found = {}
        for item in items:
            try:
                found.update(read([item]))
            except errors.NotFoundError as error:
                problems.append(f"{name(item)}: {message(error)}")
        return found


def message(error: errors.PublicError) -> str:
    """The error's text without TensorBoard's "Not found: " prefix (it goes into a list)."""
    text = str(error)
    prefix = "Not found: "
    return text[len(prefix):] if text.startswith(prefix) else text


def describe_ints(values: list[int]) -> str:
    if not values:
        return "none"
    if len(values) > 12:
        return f"{values[0]}..{values[-1]} ({len(values)} in all)"
    return ", ".join(str(v) for v in values)
