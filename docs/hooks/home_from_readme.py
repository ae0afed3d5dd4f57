"""MkDocs hook: the site's home page is README.md, its links into ``docs/`` made relative to the site."""
import pathlib

PLACEHOLDER = "{{ readme }}"
README = pathlib.Path(__file__).resolve().parents[2] / "README.md"


def on_page_markdown(markdown: str, page, **_) -> str:
    if PLACEHOLDER not in markdown:
        return markdown
    return markdown.replace(PLACEHOLDER, README.read_text(encoding="utf-8").replace("](docs/", "]("))
