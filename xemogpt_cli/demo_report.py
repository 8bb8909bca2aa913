"""Scoring and the report folder of ``xemogpt demo``: Table II-style table, example clip sheet, loss curves.

Every figure written here is computed from the run's own files (predictions, references, training logs).
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Sequence

# ---------------------------------------------------------------------------------------------- Table II


def score_rows(rows: dict[str, Sequence[str]], references: Sequence[str], encoder=None) -> dict[str, dict]:
    """Table II rows (EmoCue-360 with the offline rules extractor + MiniLM, BLEU-1/4, CIDEr) for each system.

    Predictions and reference descriptions are both free text, so both go through the same extractor, as the
    paper's LLM extraction does. Uses :func:`emocue360.report.score_all`.
    """
    from emocue360.report import score_all

    kwargs = {"extractor": "rules", "progress": False}
    if encoder is not None:
        kwargs["encoder"] = encoder
    return {name: score_all(list(preds), list(references), **kwargs) for name, preds in rows.items()}


def table_markdown(rows: dict[str, dict]) -> str:
    """The Table II-style Markdown table (:func:`emocue360.report.format_table`)."""
    from emocue360.report import format_table

    return format_table(rows)


def cue_table_markdown(rows: dict[str, dict]) -> str:
    """Cue-naming figures per system: actual cues named, emotion correct, and per factor."""
    factors = sorted({f for r in rows.values() for f in r.get("per_factor", {})})
    head = "| Model | cues named | emotion correct | " + " | ".join(factors) + " |"
    sep = "|---|---:|---:|" + "|".join("---:" for _ in factors) + "|"
    lines = [head, sep]
    for name, r in rows.items():
        cells = [f"{100 * r['cue_accuracy']:.1f}%", f"{100 * r['emotion_accuracy']:.1f}%"]
        cells += [f"{100 * r['per_factor'][f]:.0f}%" if f in r.get("per_factor", {}) else "-" for f in factors]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------- figures


def contact_sheet(clip: str | Path, out_png: str | Path, num_frames: int = 16, columns: int = 8,
                  tile: int = 112) -> Path:
    """The frames the processor samples from ``clip``, tiled into one PNG."""
    from PIL import Image, ImageDraw

    from processing_xemogpt.media import load_video_frames

    frames = load_video_frames(str(clip), num_frames=num_frames)
    rows = (len(frames) + columns - 1) // columns
    sheet = Image.new("RGB", (columns * tile, rows * tile), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    for i, f in enumerate(frames):
        img = Image.fromarray(f).resize((tile, tile))
        x, y = (i % columns) * tile, (i // columns) * tile
        sheet.paste(img, (x, y))
        draw.text((x + 3, y + 2), str(i + 1), fill=(255, 255, 255))
    out_png = Path(out_png)
    sheet.save(out_png)
    return out_png


def loss_curves(histories: dict[str, list[dict]], out_png: str | Path) -> Path:
    """One panel per stage: training loss against step (``histories[stage] = [{"step", "loss"}, ...]``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stages = [s for s, h in histories.items() if h]
    fig, axes = plt.subplots(1, max(1, len(stages)), figsize=(4.2 * max(1, len(stages)), 3.4), squeeze=False)
    for ax, stage in zip(axes[0], stages):
        h = histories[stage]
        ax.plot([p["step"] for p in h], [p["loss"] for p in h], lw=1.5)
        ax.set_title(stage)
        ax.set_xlabel("step")
        ax.set_ylabel("training loss")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    out_png = Path(out_png)
    fig.savefig(out_png, dpi=110)
    plt.close(fig)
    return out_png


def example_pages(out_dir: Path, sheet_png: Path, record: dict, outputs: dict[str, str], cues: dict[str, dict]) -> tuple[Path, Path]:
    """``example.md`` and ``example.html``: the clip's frames beside the reference and generated explanations."""
    rel = sheet_png.name
    md = [f"# Example held-out clip `{record['id']}` ({record.get('modality')})", "",
          f"![sampled frames]({rel})", "",
          f"**Subtitle:** {record.get('subtitle') or '-'}  ", f"**Reference emotion:** {record.get('emotion')}", "",
          "**Reference description:**", "", f"> {record.get('description')}", ""]
    for name, text in outputs.items():
        md += [f"**{name}:**", "", f"> {text or '(empty)'}", ""]
        c = cues.get(name) or {}
        md += [f"- visual cues: {', '.join(c.get('visual', [])) or '-'}",
               f"- audio cues: {', '.join(c.get('audio', [])) or '-'}",
               f"- global cues: {', '.join(c.get('global', [])) or '-'}", ""]
    md_path = out_dir / "example.md"
    md_path.write_text("\n".join(md))
    esc = html.escape
    blocks = "".join(
        f"<h3>{esc(name)}</h3><blockquote>{esc(text or '(empty)')}</blockquote>"
        f"<ul><li>visual: {esc(', '.join((cues.get(name) or {}).get('visual', [])) or '-')}</li>"
        f"<li>audio: {esc(', '.join((cues.get(name) or {}).get('audio', [])) or '-')}</li>"
        f"<li>global: {esc(', '.join((cues.get(name) or {}).get('global', [])) or '-')}</li></ul>"
        for name, text in outputs.items())
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>XEmoGPT demo example {esc(record['id'])}</title>"
            "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto} .row{display:flex;gap:2em}"
            " .row>div{flex:1} img{max-width:100%;border:1px solid #ccc}</style></head><body>"
            f"<h1>Example held-out clip <code>{esc(record['id'])}</code> ({esc(str(record.get('modality')))})</h1>"
            f"<div class='row'><div><img src='{esc(rel)}' alt='sampled frames'>"
            f"<p><b>Subtitle:</b> {esc(record.get('subtitle') or '-')}<br><b>Reference emotion:</b> "
            f"{esc(str(record.get('emotion')))}</p><h3>Reference description</h3>"
            f"<blockquote>{esc(record.get('description') or '')}</blockquote></div><div>{blocks}</div></div>"
            "</body></html>")
    html_path = out_dir / "example.html"
    html_path.write_text(page)
    return md_path, html_path


def write_json(path: Path, obj) -> Path:
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n")
    return path
