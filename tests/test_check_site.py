"""The built-site check catches what a reader of the docs would trip over."""

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "check_site.py"
spec = importlib.util.spec_from_file_location("check_site", SCRIPT)
check_site = importlib.util.module_from_spec(spec)
spec.loader.exec_module(check_site)


def _site(tmp_path, pages: dict[str, str]) -> Path:
    for name, body in pages.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"<html><body>{body}</body></html>")
    return tmp_path


def test_a_clean_site_passes(tmp_path):
    site = _site(tmp_path, {
        "index.html": '<h2 id="train-with-fit">Train with <code>fit</code></h2>'
                      '<a href="#train-with-fit">toc</a><a href="guide/#usage">guide</a>'
                      '<a href="https://example.org/x">out</a><img src="img/a.png">'
                      '<p>Cost: <code>$METAZOO_DATA_DIR</code>, $5 or $6, '
                      '<math><mi>x</mi></math> and <code>\\(x\\)</code></p>',
        "guide/index.html": '<h2 id="usage">Usage</h2>',
        "img/a.png": "",
    })  # fmt: skip
    assert check_site.check_site(site) == []


def test_each_kind_of_problem_is_reported(tmp_path):
    site = _site(tmp_path, {
        "index.html": '<p>raw \\(x_1\\) and $\\alpha_t$ here</p><a href="#nope">toc</a>'
                      '<a href="guide/#missing">g</a><a href="gone/">g</a><img src="no.png">'
                      '<div class="jp-OutputArea-output" data-mime-type="application/'
                      'vnd.jupyter.stderr"><pre>W0000 log</pre></div>'
                      '<div class="jp-OutputArea-output"><pre>x.py:1: UserWarning: careful'
                      "</pre></div>"
                      '<div class="jp-OutputArea-output"><pre>5/20 ━━━━━━━━━━ 1s</pre></div>',
        "guide/index.html": '<h2 id="usage">Usage</h2>',
        "hooks.py": "",
    })  # fmt: skip
    problems = "\n".join(check_site.check_site(site))
    for expected in [
        "hooks.py is published",
        "raw LaTeX outside math: '\\\\('",
        "raw LaTeX outside math: '$\\\\alpha_t$'",
        "missing anchor: #nope",
        "missing anchor: guide/#missing",
        "missing file: gone/",
        "missing file: no.png",
        "1 stderr block(s)",
        "a warning, log line or progress bar in a cell output: 'UserWarning: '",
        "a warning, log line or progress bar in a cell output: '━━━'",
    ]:
        assert expected in problems, (expected, problems)
