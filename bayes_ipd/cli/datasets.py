"""``bayes-ipd datasets``: list the shipped data sets, or write one to a file."""

from __future__ import annotations

import argparse

from bayes_ipd.cli.common import Command, Payload, add_json, say

__all__ = ["COMMAND"]


def _configure_datasets(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="name, rows and content of each shipped data set")
    add_json(listing)
    export = actions.add_parser("export", help="write a shipped data set to PATH (plain CSV)")
    export.add_argument("name", metavar="NAME", help="a name from 'bayes-ipd datasets list'")
    export.add_argument("path", metavar="PATH", help="file to write (refused if it exists)")
    export.add_argument(
        "--overwrite", action="store_true", help="replace an existing file PATH (not a folder)"
    )
    add_json(export)


def _run_datasets(args: argparse.Namespace) -> Payload:
    from bayes_ipd.datasets.catalogue import CATALOGUE, export_dataset, get_dataset

    if args.action == "export":
        path = export_dataset(args.name, args.path, overwrite=args.overwrite)
        say(args, f"{args.name} ({get_dataset(args.name).description}) written to {path}")
        return {"name": args.name, "path": str(path)}
    width = max(len(entry.name) for entry in CATALOGUE)
    lines = [f"{'name':<{width}}  {'one row per':<11}  content", "-" * (width + 60)]
    lines += [f"{e.name:<{width}}  {e.rows:<11}  {e.description}" for e in CATALOGUE]
    lines.append("\nWrite one to a file: bayes-ipd datasets export NAME PATH")
    say(args, "\n".join(lines))
    return {
        "datasets": [
            {"name": e.name, "file": e.file, "rows": e.rows, "description": e.description}
            for e in CATALOGUE
        ]
    }


COMMAND = Command(
    "datasets",
    "list the shipped data sets, or export one to a CSV file (for the README's examples)",
    _configure_datasets,
    _run_datasets,
)
