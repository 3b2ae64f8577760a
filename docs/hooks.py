"""mkdocs hook: fills `<!-- model-zoo -->` with a table built from the presets' metadata."""

from __future__ import annotations

MARKER = "<!-- model-zoo -->"


def _percent(value) -> str:
    return f"{100 * value:.1f}" if isinstance(value, (int, float)) else "—"


def model_zoo_table() -> str:
    from metazoo.presets import list_presets

    rows = [
        "| preset | what it is | parameters | measured (protocol) | paper |",
        "| --- | --- | ---: | --- | --- |",
    ]
    for name, meta in list_presets().items():
        results = []
        paper = []
        for record in meta.get("evaluation", []):
            if record.get("protocol") == "lake-20way" and "runs_file" in record:
                setting = (
                    f"Lake 20-way one-shot, the official runs ({record['runs_file']}), "
                    f"{record['trials']} trials"
                )
            elif record.get("protocol") == "lake-20way":
                setting = (
                    f"Lake 20-way one-shot, {record['trials']} trials of {record['runs']} runs "
                    f"built from the {record['split']} set, seed {record['seed']}"
                )
            elif record.get("protocol") == "verification":
                setting = (
                    f"verification: same or different, {record['pairs']:,} balanced pairs of the "
                    f"{record['split']} set, {record['same_alphabet_fraction']:.0%} of the "
                    f"different pairs within one alphabet, seed {record['seed']}; "
                    f"ROC AUC {record['auc']:.3f}"
                )
            elif "ways" in record:
                setting = (
                    f"{record['ways']}w{record['shots']}s, {record['queries']}q, "
                    f"{record['protocol']} {record['split']}, {record['episodes']} ep."
                )
            else:
                setting = record.get("protocol", "")
            results.append(
                f"{_percent(record.get('accuracy'))} ± {_percent(record.get('ci95'))} ({setting})"
                if "accuracy" in record
                else f"{record.get('summary', '')} ({setting})"
            )
            # One line per result, so that each paper figure sits beside its own.
            paper.append(_percent(record["paper"]) if "paper" in record else "—")
        rows.append(
            f"| `{name}` | {meta.get('description', '')} | "
            f"{meta.get('parameters', 0):,} | {'<br>'.join(results) or '—'} | "
            f"{'<br>'.join(paper) if any(p != '—' for p in paper) else '—'} |"
        )
    return "\n".join(rows)


def on_page_markdown(markdown, page, config, files):
    if MARKER in markdown:
        return markdown.replace(MARKER, model_zoo_table())
    return markdown
