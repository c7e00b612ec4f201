"""``bayes-ipd cache``: where compiled models are kept on disk, and emptying that folder."""

from __future__ import annotations

import argparse

from bayes_ipd.cli.common import Command, Payload, add_json, say

__all__ = ["COMMAND"]


def _configure_cache(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    info = actions.add_parser("info", help="the cache folder, its entries and their size")
    clear = actions.add_parser("clear", help="delete every compiled model in the cache folder")
    for sub in (info, clear):
        add_json(sub)


def _megabytes(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def _run_cache(args: argparse.Namespace) -> Payload:
    from bayes_ipd.one_stage.cache import ENV_VAR, clear_disk, disk_info

    before = disk_info()
    if args.action == "clear":
        removed = clear_disk()
        say(args, f"removed {removed} file(s) ({_megabytes(before.bytes)}) from {before.folder}")
        return {"action": "clear", "folder": before.folder, "removed": removed}
    say(
        args,
        f"compiled-model cache: {before.folder}\n"
        f"entries: {before.entries} ({_megabytes(before.bytes)})\n"
        f"set {ENV_VAR} to move it; `bayes-ipd cache clear` empties it",
    )
    return {"action": "info", **before.to_dict()}


COMMAND = Command(
    "cache",
    "the on-disk cache of compiled models: info, clear",
    _configure_cache,
    _run_cache,
)
