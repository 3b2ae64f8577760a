"""Checks a built metazoo site (`mkdocs build`) for what a reader would trip over.

Usage: python scripts/check_site.py [SITE_DIR]   (default: site)

Fails (exit 1, one line per problem) on

- raw LaTeX outside math: `\\(`, `\\[`, `$$` or `$...$` with TeX in it, in the
  text of a page (code, scripts and MathML excluded);
- links to anchors that do not exist on their page (tables of contents
  included), and internal links or images whose file does not exist;
- stderr output, warnings, log lines or progress bars in a rendered tutorial;
- a published source file of the docs' own machinery (e.g. `hooks.py`).
"""

from __future__ import annotations

import re
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

_SKIP = {"code", "pre", "script", "style", "math", "kbd", "samp", "textarea"}
_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
         "track", "wbr"}  # fmt: skip
_RAW_TEX = re.compile(
    r"\\\(|\\\)|\\\[|\\\]|\$\$|\$[^$\n]{0,200}?(?:\\[A-Za-z]+|[_^]\{?\w)[^$\n]*?\$"
)
_WARNING_TEXT = re.compile(
    r"\b\w*Warning: |^W\d{4} |^E\d{4} |absl::InitializeLog|━━━", re.MULTILINE
)


class _Page(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()
        self.links: list[str] = []
        self.images: list[str] = []
        self.text: list[str] = []
        self.stderr = 0
        self.output_text: list[str] = []
        self._stack: list[str] = []
        self._skip = 0
        self._output = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("id"):
            self.ids.add(attrs["id"])
        if attrs.get("name") and tag == "a":
            self.ids.add(attrs["name"])
        if tag == "a" and attrs.get("href") is not None:
            self.links.append(attrs["href"])
        if tag == "img" and attrs.get("src"):
            self.images.append(attrs["src"])
        if "application/vnd.jupyter.stderr" in (attrs.get("data-mime-type") or ""):
            self.stderr += 1
        if tag in _VOID:
            return
        classes = attrs.get("class") or ""
        entering_output = "jp-OutputArea-output" in classes
        # A notebook's hidden copy of each code cell (for the copy button) is code too.
        skipping = tag in _SKIP or "clipboard-copy-txt" in classes
        self._stack.append((tag, entering_output, skipping))
        self._skip += skipping
        self._output += entering_output

    def handle_endtag(self, tag):
        while self._stack:
            open_tag, was_output, was_skipping = self._stack.pop()
            self._skip -= was_skipping
            self._output -= was_output
            if open_tag == tag:
                break

    def handle_data(self, data):
        if self._output:
            self.output_text.append(data)
        if not self._skip:
            self.text.append(data)


def _parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8", errors="replace"))
    return page


def _target(site: Path, page: Path, url: str) -> Path | None:
    """The file an internal URL of `page` points to (None for external URLs)."""
    parts = urlsplit(url)
    if parts.scheme or parts.netloc or url.startswith(("mailto:", "javascript:", "data:")):
        return None
    path = unquote(parts.path)
    if not path:
        return page
    target = (site / path.lstrip("/")) if path.startswith("/") else (page.parent / path)
    if target.is_dir() or path.endswith("/"):
        target = target / "index.html"
    return target


def check_site(site: str | Path) -> list[str]:
    """Every problem found in the built site at `site`, one line each."""
    site = Path(site)
    if not (site / "index.html").is_file():
        return [f"{site}: no index.html (build the site first)"]
    pages = {path: _parse(path) for path in sorted(site.rglob("*.html"))}
    problems = []
    for leftover in ("hooks.py", "docs_hooks.py"):
        if any(site.rglob(leftover)):
            problems.append(f"{leftover} is published in the site")
    for path, page in pages.items():
        where = path.relative_to(site)
        text = "".join(page.text)
        for match in list(_RAW_TEX.finditer(text))[:3]:
            problems.append(f"{where}: raw LaTeX outside math: {match.group(0)[:60]!r}")
        if page.stderr:
            problems.append(f"{where}: {page.stderr} stderr block(s) in a rendered notebook")
        for match in list(_WARNING_TEXT.finditer("".join(page.output_text)))[:3]:
            problems.append(
                f"{where}: a warning, log line or progress bar in a cell output: {match.group(0)!r}"
            )
        for url in page.links + page.images:
            target = _target(site, path, url)
            if target is None:
                continue
            if not target.is_file():
                problems.append(f"{where}: link or image to a missing file: {url}")
                continue
            fragment = unquote(urlsplit(url).fragment)
            if fragment and target.suffix == ".html":
                ids = pages[target].ids if target in pages else _parse(target).ids
                if fragment not in ids:
                    problems.append(f"{where}: link to a missing anchor: {url}")
    return problems


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    site = Path(args[0] if args else "site")
    problems = check_site(site)
    for problem in problems:
        print(problem)
    pages = len(list(site.rglob("*.html")))
    print(f"check_site: {pages} pages, {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
