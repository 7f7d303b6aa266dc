"""Which backend to ship, per model: a table over the backends (and variants) that ran, from the rows themselves.

From ``speed``: the load, the median and 90th-percentile latency at the batch the app uses (``--bench-batch``) and
the peak memory of a call. From ``predict``: the first call at the reference batch, with WebGL's shader compilation
timed apart (its share). The fastest backend is the one with the lowest median, and every other one gets its ratio
to it. Rows on a software renderer (SwiftShader: no GPU here) are labelled so: their figures are not GPU figures.
"""

from __future__ import annotations

from typing import Any



def speed_table(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per model with ``speed`` rows that passed: ``{model, fastest, backends: [...]}``, each backend's figures and
    ``ratio`` (its median over the fastest's), fastest first."""
    first_calls = {(r["model"], r["backend"]): r.get("details") or {} for r in rows if r["check"] == "predict"}
    table: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        details = row.get("details") or {}
        if row["check"] != "speed" or row["status"] != "pass" or details.get("median_ms") is None:
            continue
        predict = first_calls.get((row["model"], row["backend"]), {})
        compiled = (predict.get("compile") or {}).get("ms")
        first = predict.get("first_ms")
        table.setdefault(row["model"], []).append({
            "backend": row["backend"],
            "batch": details["batch"],
            "load_ms": details["load_ms"],
            "first_ms": first,
            "compile_ms": compiled,
            "compile_share": compiled / first if compiled is not None and first else None,
            "median_ms": details["median_ms"],
            "p90_ms": details["p90_ms"],
            "peak_bytes": details["peak_bytes"],
            "software_gpu": details.get("software_gpu", False),
        })
    models = []
    for model, entries in table.items():
        entries.sort(key=lambda e: e["median_ms"])
        fastest = entries[0]["median_ms"]
        for entry in entries:
            entry["ratio"] = entry["median_ms"] / fastest if fastest > 0 else None
        models.append({"model": model, "fastest": entries[0]["backend"], "backends": entries})
    return models


def backend_label(entry: dict[str, Any]) -> str:
    """``webgl (software)`` where a software renderer drew, else the backend id."""
    return f"{entry['backend']} (software)" if entry.get("software_gpu") else entry["backend"]


def speed_lines(report: dict[str, Any]) -> list[str]:
    """One line per model: the fastest backend and how much slower the others are; empty without speed rows."""
    lines = []
    for model in report.get("speed") or []:
        fastest, *others = model["backends"]
        slower = ", ".join(f"{backend_label(e)} {e['ratio']:.3g}x" for e in others if e.get("ratio") is not None)
        lines.append(f"{model['model']}: fastest {backend_label(fastest)}, median {fastest['median_ms']:.3g} ms per "
                     f"call of {fastest['batch']} samples" + (f" (slower: {slower})" if slower else ""))
    if any(e.get("software_gpu") for model in report.get("speed") or [] for e in model["backends"]):
        lines.append("(software): WebGL/WebGPU ran on a software renderer (SwiftShader) here, not a GPU: those "
                     "figures say nothing of a GPU's speed")
    return lines


def speed_rows(report: dict[str, Any]) -> list[list[str]]:
    """The table as text cells, header first: per model and backend, fastest first."""
    table = [["model", "backend", "batch", "load ms", "first call ms (shader compile)", "median ms", "p90 ms",
              "peak memory", "vs fastest"]]
    for model in report.get("speed") or []:
        for entry in model["backends"]:
            share = f" ({entry['compile_share']:.0%})" if entry.get("compile_share") is not None else ""
            table.append([model["model"], backend_label(entry), str(entry["batch"]), _ms(entry["load_ms"]),
                          _ms(entry["first_ms"]) + share, _ms(entry["median_ms"]), _ms(entry["p90_ms"]),
                          _bytes(entry["peak_bytes"]),
                          "fastest" if entry is model["backends"][0] else f"{entry['ratio']:.3g}x"])
    return table


def _ms(value: float | None) -> str:
    return "" if value is None else f"{value:.3g}"


def _bytes(value: float | None) -> str:
    if value is None:
        return ""
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if value >= size:
            return f"{value / size:.3g} {unit}"
    return f"{value:.0f} B"
