"""MkDocs hook: the CLI page's ``{{ cli_options }}`` becomes a table made from the CLI's own parser."""
import argparse
import html

from styletransfer.cli import build_parser

PLACEHOLDER = "{{ cli_options }}"


def cell(text: str, code: bool = False) -> str:
    """Text for a table cell: HTML-escaped, its pipes as entities (a table's ``\\|`` would show in code)."""
    text = html.escape(text).replace("|", "&#124;")
    return f"<code>{text}</code>" if code and text else text


def value_of(action: argparse.Action) -> str:
    """What an option takes, as ``--help`` writes it ('' for a flag)."""
    if action.nargs == 0:
        return ""
    if action.choices:
        value = "{" + ",".join(map(str, action.choices)) + "}"
    else:
        value = action.metavar or action.dest.upper()
    return f"{value} [{value} ...]" if action.nargs == "+" else value


def options_table(parser: argparse.ArgumentParser) -> str:
    rows = ["| argument | takes | what it does |", "| --- | --- | --- |"]
    for action in parser._actions:  # argparse has no public list; sphinx-argparse reads it the same way
        names = ", ".join(action.option_strings) or (action.metavar or action.dest)
        takes = value_of(action) if action.option_strings else ""
        rows.append(f"| {cell(names, code=True)} | {cell(takes, code=True)} | {cell(action.help or '')} |")
    return "\n".join(rows)


def on_page_markdown(markdown: str, page, **_) -> str:
    if PLACEHOLDER not in markdown:
        return markdown
    return markdown.replace(PLACEHOLDER, options_table(build_parser()))
