"""Instruments: parsing a data file vs the cached ``get``, and building every prompt of a full study.

A full seed-001 study builds (36 + 19) items x 2 languages x 3 personas = 330 distinct rating prompts per
model, plus 2 ranking prompts; the planner asks for them once per model. This prints the time of a cold
parse (YAML + validation + hash) against a cached ``get``, their ratio, and the time to build all prompts
for 20 models.

    .venv/bin/python benchmarks/instruments_prompts.py [--models 20] [--repeat 5]
"""

from __future__ import annotations

import argparse
import time

from valuesurvey import instruments
from valuesurvey.instruments import _load


def best_of(repeat: int, fn) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def build_all(models: int) -> int:
    count = 0
    for _ in range(models):
        for instrument_id in ("mfq2", "wvs7"):
            inst = instruments.get(instrument_id)
            for item in inst.items:
                for language in ("en", "zh"):
                    for persona in ("none", "cn", "us"):
                        instruments.build_messages(inst, item.id, language, persona)
                        count += 1
        ai = instruments.get("ai_values")
        for language in ("en", "zh"):
            instruments.build_ranking_messages(ai, language)
            count += 1
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    def cold() -> None:
        _load._shipped.cache_clear()
        _load._shipped_ids.cache_clear()
        for instrument_id in instruments.list_instruments():
            instruments.get(instrument_id)

    def warm() -> None:
        for instrument_id in instruments.list_instruments():
            instruments.get(instrument_id)

    cold_s = best_of(args.repeat, cold)
    warm()
    warm_s = best_of(args.repeat, warm)
    print(f"parse 3 instruments (cold): {cold_s * 1e3:8.2f} ms")
    print(f"get 3 instruments (cached): {warm_s * 1e6:8.2f} us")
    print(f"ratio cold/cached:          {cold_s / warm_s:8.0f}x")
    build_s = best_of(args.repeat, lambda: build_all(args.models))
    n = build_all(args.models)
    print(
        f"build {n} prompts ({args.models} models): {build_s * 1e3:8.2f} ms ({build_s / n * 1e6:.1f} us/prompt)"
    )


if __name__ == "__main__":
    main()
