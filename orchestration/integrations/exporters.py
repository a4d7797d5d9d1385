"""Exporters: how an EXPORT_ORDER fulfilment reaches the warehouse that ships it.

A sheet names its exporter with ``data ExporterName as '...'``; the Django
setting ``ORCHESTRATION_EXPORTERS`` maps each name to a class and its options.
Two are shipped: ``WebhookExporter`` (JSON over HTTP) and ``FolderExporter``
(a JSON file per export in a folder a warehouse system picks up). An exporter
either returns (the warehouse has it) or raises ``ExportError``; retrying is
the caller's business (``services.fulfillments.exports.fulfillment_export``).
"""

import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils.module_loading import import_string

from .http import DeliveryError, post_json


class ExportError(Exception):
    """The export did not reach the warehouse; the message says why."""


class Exporter:
    """Sends one export. ``options`` are the rest of its ``ORCHESTRATION_EXPORTERS`` entry.

    ``inline``: whether an export may be sent by the worker that routed it, right after
    the run commits, instead of as a task of its own. True for an exporter that waits on
    no other system (a local folder): a second message and its worker's turn would cost
    more than the send. An entry's ``"inline"`` option overrides the class's default.
    """

    inline: bool = False

    def __init__(self, name: str, **options: Any) -> None:
        self.name = name
        self.inline = _inline_option(name, options, default=type(self).inline)
        options.pop("inline", None)
        self.options = options

    def send(self, payload: dict[str, Any], *, idempotency_key: str) -> None:
        """Deliver ``payload``; the key is the same on every retry of one export."""
        raise NotImplementedError


class WebhookExporter(Exporter):
    """POSTs the export as JSON to ``url``; any 2xx answer means delivered.

    Options: ``url`` (required), ``headers`` (e.g. an API key), ``timeout`` in seconds.
    """

    def send(self, payload: dict[str, Any], *, idempotency_key: str) -> None:
        url = self.options.get("url")
        if not url:
            raise ExportError(f"Exporter {self.name} has no url configured.")
        try:
            post_json(
                url,
                payload,
                headers={"Idempotency-Key": idempotency_key, **self.options.get("headers", {})},
                timeout=self.options.get("timeout", 10),
            )
        except DeliveryError as error:
            raise ExportError(str(error)) from error


class FolderExporter(Exporter):
    """Writes the export to ``<folder>/<idempotency key>.json``.

    The file appears whole or not at all (written aside, then renamed), so a
    warehouse system polling the folder never reads half an export; a retry
    overwrites the same file instead of adding a second. Sent inline by default: a
    file is written in milliseconds, without waiting on another system.
    """

    inline = True

    def send(self, payload: dict[str, Any], *, idempotency_key: str) -> None:
        folder = Path(self.options.get("folder", ""))
        if not str(folder):
            raise ExportError(f"Exporter {self.name} has no folder configured.")
        try:
            folder.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=folder, suffix=".part")
            with os.fdopen(handle, "w") as file:
                json.dump(payload, file, indent=2)
            os.replace(temporary, folder / f"{idempotency_key}.json")
        except OSError as error:
            raise ExportError(f"Could not write to {folder}: {error.strerror}.") from error


# Where the exporters were before they moved to ``integrations`` (issue 20): a path
# configured then names the same class now.
_MOVED_FROM = "orchestration.exporters."


def _current_path(dotted_path: str) -> str:
    if dotted_path.startswith(_MOVED_FROM):
        return __name__ + "." + dotted_path.removeprefix(_MOVED_FROM)
    return dotted_path


def exporter_sends_inline(name: str) -> bool:
    """Whether the exporter called ``name`` sends inline (``Exporter.inline``, or its
    entry's ``"inline": true``). Decided from the configuration alone, without making the
    exporter (a run asks this inside its transaction): False for a name not configured
    or an entry that cannot be used, whose export then fails as a task does, naming why.
    A misconfigured exporter never fails the run."""
    config = settings.ORCHESTRATION_EXPORTERS.get(name)
    try:
        default = import_string(_current_path(config["class"])).inline
        return _inline_option(name, config, default=default)
    except Exception:  # any misconfiguration: left to the export task, which names it
        return False


def _inline_option(name: str, options: Mapping[str, Any], *, default: bool) -> bool:
    """The entry's ``"inline"`` option, else ``default``; ``ExportError`` unless it is
    true or false."""
    inline = options.get("inline", default)
    if not isinstance(inline, bool):
        raise ExportError(f"Exporter {name}'s inline option must be true or false, not {inline!r}.")
    return inline


def exporter_for(name: str) -> Exporter:
    """The configured exporter called ``name``; ``ExportError`` if there is none."""
    config = settings.ORCHESTRATION_EXPORTERS.get(name)
    if config is None:
        known = ", ".join(sorted(settings.ORCHESTRATION_EXPORTERS)) or "none"
        raise ExportError(
            f"No exporter named {name!r} is configured (ORCHESTRATION_EXPORTERS has {known})."
        )
    options = dict(config)
    try:
        cls = import_string(_current_path(options.pop("class")))
    except (KeyError, ImportError) as error:
        raise ExportError(f"Exporter {name} has no usable class: {error}.") from error
    try:
        exporter: Exporter = cls(name, **options)
    except ExportError:
        raise
    except Exception as error:  # a class or options that do not fit: the export names it
        raise ExportError(
            f"Exporter {name} could not be made from its settings: {type(error).__name__}: {error}."
        ) from error
    return exporter
