"""MkDocs hooks of the metazoo site.

- `<!-- model-zoo -->` in a page becomes the Model zoo table, built from the
  presets' metadata (one row per preset and setting, ours beside the paper's).
- Math is rendered to MathML when the site is built (`latex2mathml`), so pages
  need no script and no network: the guides' `pymdownx.arithmatex` spans and
  blocks, and the `$...$` / `$$...$$` of the tutorials' Markdown cells (whose
  MathJax 2 loader from nbconvert is dropped).
- A tutorial's table of contents is rebuilt from its rendered headings, so a
  heading with `code` keeps it and links to the heading's real anchor.
"""

from __future__ import annotations

import html
import re

MARKER = "<!-- model-zoo -->"


def _percent(value) -> str:
    return f"{100 * value:.2f}" if isinstance(value, (int, float)) else "—"


def _setting(record: dict) -> str:
    """A short, protocol-stating label of an evaluation record."""
    protocol = record.get("protocol")
    if protocol == "lake-20way" and "runs_file" in record:
        return f"Lake 20-way 1-shot, official runs ({record['trials']} trials)"
    if protocol == "lake-20way":
        return (
            f"Lake 20-way 1-shot, {record['runs']} runs built from the {record['split']} "
            f"set, seed {record['seed']} ({record['trials']:,} trials)"
        )
    if protocol == "verification":
        within = f"{record['same_alphabet_fraction']:.0%}"
        return (
            f"same/different, {record['pairs']:,} pairs of the {record['split']} set, "
            f"{within} of different pairs in one alphabet, seed {record['seed']}"
        )
    if "ways" in record:
        return (
            f"{record['ways']}-way {record['shots']}-shot, {record['protocol']} "
            f"{record['split']}, {record['queries']} queries, {record['episodes']:,} "
            f"episodes, seed {record['seed']}"
        )
    if "final_loss" in record:
        optimizee = dict(record.get("optimizee", {}))
        if optimizee.get("name") == "mnist_mlp":
            sizes = "-".join(str(n) for n in [784, *optimizee["hidden_sizes"], 10])
            task = f"MNIST MLP {sizes} {optimizee['activation']}"
            runs = "held-out MLPs, test loss"
        else:
            task = f"{optimizee.get('dims', '')}-d quadratics, batches of "
            task += f"{optimizee.get('num_functions', '')}"
            runs = "held-out batches"
        return f"{task}, {record['steps']} steps, {record['seeds']} {runs}"
    return str(protocol)


def _ours(record: dict) -> str:
    if "accuracy" in record:
        text = f"{_percent(record['accuracy'])}% ± {_percent(record['ci95'])}"
        return text + (f", AUC {record['auc']:.3f}" if "auc" in record else "")
    if "final_loss" in record:
        best = min(record["baselines"].items(), key=lambda kv: kv[1]["final_loss"])
        return (
            f"loss {record['final_loss']:.3f} ± {record['final_loss_ci95']:.3f} "
            f"(best tuned: {best[0]} {best[1]['final_loss']:.3f})"
        )
    return "—"


def _paper(record: dict) -> str:
    if "paper" not in record:
        return "—"
    return f"{_percent(record['paper'])}%"


def model_zoo_table() -> str:
    """The Model zoo table and, below it, what each preset is."""
    from metazoo.presets import list_presets

    # Few-shot classifiers first, then learned optimizers; by name within each.
    presets = dict(
        sorted(
            list_presets().items(),
            key=lambda kv: (kv[1].get("kind") != "few_shot_classifier", kv[0]),
        )
    )
    rows = [
        "| preset | setting | ours (± 95% CI) | paper |",
        "| --- | --- | --- | --- |",
    ]
    for name, meta in presets.items():
        for i, record in enumerate(meta.get("evaluation", [])):
            label = f"`{name}`" if i == 0 else ""
            rows.append(f"| {label} | {_setting(record)} | {_ours(record)} | {_paper(record)} |")
    about = ["", "What each preset is:", ""] + [
        f"- `{name}` ({meta.get('parameters', 0):,} parameters): {meta.get('description', '')}"
        for name, meta in presets.items()
    ]
    return "\n".join(rows + about)


# --- math -------------------------------------------------------------------

_ARITHMATEX = re.compile(
    r'<(span|div) class="arithmatex">\s*(?:\\\(|\\\[)(.*?)(?:\\\)|\\\])\s*</\1>', re.DOTALL
)
_DOLLARS = re.compile(r"\$\$(.+?)\$\$|(?<![\\$\w])\$(?!\s)([^$\n]+?)(?<!\s)\$(?![\w$])", re.DOTALL)
_MATHJAX2 = re.compile(r"<!-- Load mathjax -->.*?<!-- End of mathjax configuration -->", re.DOTALL)
_MARKDOWN_CELL = re.compile(
    r'(<div class="[^"]*jp-RenderedMarkdown[^"]*"[^>]*>)(.*?)(</div>)', re.DOTALL
)
_SKIP_TAGS = ("code", "pre", "script", "style", "math")


def _mathml(tex: str, display: bool) -> str:
    from latex2mathml.converter import convert

    tex = html.unescape(tex.strip())
    # latex2mathml has no `aligned`; an array of right- and left-aligned columns is the same.
    tex = tex.replace(r"\begin{aligned}", r"\begin{array}{rl}").replace(
        r"\end{aligned}", r"\end{array}"
    )
    return convert(tex, display="block" if display else "inline")


def _dollar_math(fragment: str) -> str:
    """Replaces `$...$` and `$$...$$` in the text (not the code) of an HTML fragment."""
    parts = re.split(r"(<[^>]+>)", fragment)
    depth = 0
    for i, part in enumerate(parts):
        if part.startswith("<"):
            tag = re.match(r"</?\s*(\w+)", part)
            if tag and tag.group(1).lower() in _SKIP_TAGS and not part.endswith("/>"):
                depth += -1 if part.startswith("</") else 1
            continue
        if depth == 0 and "$" in part:
            parts[i] = _DOLLARS.sub(
                lambda m: _mathml(m.group(1) or m.group(2), display=m.group(1) is not None), part
            )
    return "".join(parts)


def render_math(content: str, notebook: bool) -> str:
    """MathML for the page's math: arithmatex elements; `$` math of notebook Markdown cells."""
    content = _ARITHMATEX.sub(lambda m: _mathml(m.group(2), display=m.group(1) == "div"), content)
    if notebook:
        content = _MATHJAX2.sub("", content)
        content = _MARKDOWN_CELL.sub(
            lambda m: m.group(1) + _dollar_math(m.group(2)) + m.group(3), content
        )
    return content


# --- tutorials' tables of contents -----------------------------------------

_HEADING = re.compile(r'<h([1-6]) id="([^"]+)"[^>]*>(.*?)</h\1>', re.DOTALL)
_ANCHOR_LINK = re.compile(r'<a class="anchor-link"[^>]*>.*?</a>', re.DOTALL)


def notebook_toc(content: str):
    """The table of contents of rendered notebook HTML: its headings, code kept."""
    from mkdocs.structure.toc import get_toc

    tokens: list[dict] = []
    stack: list[dict] = []
    for level, anchor, inner in _HEADING.findall(content):
        name = _ANCHOR_LINK.sub("", inner).strip()
        token = {"level": int(level), "id": anchor, "name": name, "children": []}
        while stack and stack[-1]["level"] >= token["level"]:
            stack.pop()
        (stack[-1]["children"] if stack else tokens).append(token)
        stack.append(token)
    return get_toc(tokens)


def _is_notebook(page) -> bool:
    return page.file.src_uri.startswith("tutorials/") and page.file.src_uri.endswith(".py")


def on_page_markdown(markdown, page, config, files):
    if MARKER in markdown:
        return markdown.replace(MARKER, model_zoo_table())
    return markdown


def on_page_content(content, page, config, files):
    notebook = _is_notebook(page)
    if notebook:
        page.toc = notebook_toc(content)
    return render_math(content, notebook)
