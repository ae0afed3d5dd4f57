"""The documentation: README as a short front door, a site that builds in strict mode, a CLI page that is `--help`."""
import html
import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = os.path.join(ROOT, "styletransfer")


def package_sources():
    """(path, source) of every module of the package."""
    for folder, _, files in os.walk(PACKAGE):
        for name in sorted(files):
            if name.endswith(".py"):
                with open(os.path.join(folder, name), encoding="utf-8") as f:
                    yield os.path.join(folder, name), f.read()


def text_of(page_html: str) -> str:
    """A page's visible text, whitespace collapsed."""
    page_html = re.sub(r"<(script|style)\b.*?</\1>", " ", page_html, flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page_html))).strip()


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "WARNING" not in proc.stderr, proc.stderr
    return out


def test_the_site_builds_with_every_page_in_its_navigation(site):
    pages = {name for name in os.listdir(os.path.join(ROOT, "docs")) if name.endswith(".md")}
    built = {name for name in os.listdir(site) if name.endswith(".html")}
    assert {name[:-3] + ".html" for name in pages} <= built
    home = text_of((site / "index.html").read_text())
    for step in ("Install and run", "pip install -r requirements.txt", "app.py", "python -m styletransfer",
                 "from styletransfer import stylize"):
        assert step in home, step
    nav = re.findall(r'href="([a-z-]+\.html)"', (site / "index.html").read_text())
    assert {name[:-3] + ".html" for name in pages} - {"index.html"} <= set(nav)


def help_entries(help_text: str) -> dict[str, str]:
    """``--help``'s options: each long (or only) flag → its help text, unwrapped."""
    entries, current = {}, None
    section = help_text.split("options:", 1)[1]
    for line in section.splitlines():
        head = re.match(r"^  (-\S.*?)(?:\s{2,}(.*))?$", line)
        if head:
            flags = re.findall(r"(?:^|, )(--?[\w-]+)", head.group(1))
            current = flags[-1]
            entries[current] = head.group(2) or ""
        elif current and line.strip():
            entries[current] = (entries[current] + " " + line.strip()).strip()
    return entries


def test_the_cli_page_is_the_help_text(site):
    proc = subprocess.run([sys.executable, "-m", "styletransfer", "--help"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env={**os.environ, "COLUMNS": "100"})
    assert proc.returncode == 0
    entries = help_entries(proc.stdout)
    assert len(entries) > 25 and "--max-memory" in entries and "--style-weight" in entries
    rows = [text_of(row) for row in re.findall(r"<tr>.*?</tr>", (site / "cli.html").read_text(), flags=re.S)]
    for flag, help_line in entries.items():
        matching = [row for row in rows if re.search(rf"(^|, ){re.escape(flag)}( |,|$)", row)]
        assert len(matching) == 1, flag
        assert re.sub(r"\s+", " ", help_line) in matching[0], (flag, help_line, matching[0])


def test_readme_is_a_short_front_door():
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    assert len(readme.splitlines()) <= 150
    first_screen = "\n".join(readme.splitlines()[:40])
    assert "pip install -r requirements.txt" in first_screen and "app.py" in first_screen
    for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", readme):
        assert os.path.exists(os.path.join(ROOT, target)), target


def test_the_code_points_to_no_readme():
    for path, source in package_sources():
        assert "README" not in source, path


def test_no_function_in_the_package_is_over_80_lines():
    import ast

    long = [f"{path}:{node.lineno} {node.name}" for path, source in package_sources()
            for node in ast.walk(ast.parse(source))
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno + 1 > 80]
    assert not long


def test_docstrings_state_contracts_briefly():
    """Docstrings at most a tenth of the package's source, and at most five over 400 characters (the
    package maps of engine/ and jobs/): reasons and measurements belong in comments and the docs."""
    import ast

    total = in_docstrings = 0
    long = []
    for path, source in package_sources():
        total += len(source)
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                doc = ast.get_docstring(node, clean=False) or ""
                in_docstrings += len(doc)
                if len(doc) > 400:
                    long.append(f"{path}:{getattr(node, 'lineno', 1)}")
    assert in_docstrings <= total / 10, in_docstrings / total
    assert len(long) <= 5, long
