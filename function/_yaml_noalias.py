"""YAML without aliases, for definitions read from a ConfigMap."""

from __future__ import annotations

from typing import Any

import yaml

__all__ = ["load"]


class _NoAliasLoader(yaml.SafeLoader):
    """A safe loader that refuses aliases: a few hundred bytes of nested aliases expand to
    gigabytes (a "billion laughs"), and a definition has no use for them."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None, None, f"alias *{event.anchor} is not allowed", event.start_mark
            )
        return super().compose_node(parent, index)


def load(text: str) -> Any:
    """Parse YAML with the safe loader, refusing aliases.

    Raises:
        ValueError: Not YAML, or an alias.
    """
    try:
        return yaml.load(text, Loader=_NoAliasLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as e:
        raise ValueError(f"not JSON or YAML: {e}") from None
