"""What int8 costs on the benchmark: the probes of the four tasks on an encoder's fp32 torch model and on its dynamic
int8 ONNX graph (vit1d.export, `--layers all --quantize int8`), same corpus, layers, probe seeds and test tracks;
each int8 metric is checked against the fp32 metric's 95 % interval (target: every one inside).

    python benchmarks/bench_int8_probes.py --model pretrained/vit1d-tiny-gamemusic-1000 \\
        --data data/reference_corpus --output_dir outputs/int8-probes

`--data` is a probing dataset (`run_probe.py --data`; `make reference`'s corpus here); without it the built-in
corpus is rendered into `--corpus_dir` first. Minutes per task on 2 cores.
"""

import argparse
import json
from dataclasses import replace
from pathlib import Path

from vit1d.export import ExportArguments, run_export
from vit1d.probing.runner import ProbeArguments, run_probe
from vit1d.task_info import TASK_INFO, TASKS


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="pretrained/vit1d-tiny-gamemusic-1000")
    parser.add_argument("--data", default=None)
    parser.add_argument("--corpus_dir", default="data/corpus")
    parser.add_argument("--corpus_pieces", type=int, default=40)
    parser.add_argument("--tasks", default=",".join(TASKS))
    parser.add_argument("--layers", default="3;6;9;12;3,6,9,12")
    parser.add_argument("--probe_seeds", default="0,1,2")
    parser.add_argument("--output_dir", default="outputs/int8-probes")
    args = parser.parse_args(argv)
    root = Path(args.output_dir)
    onnx_dir = root / "onnx"
    if not (onnx_dir / "model.int8.onnx").is_file():
        run_export(ExportArguments(model_name_or_path=args.model, output_dir=str(onnx_dir), layers="all",
                                   quantize="int8", check_seconds="1,4.3"))
    rows, inside = [], []
    for task in [task.strip() for task in args.tasks.split(",") if task.strip()]:
        base = ProbeArguments(task=task, model_name_or_path=args.model, data=args.data, corpus_dir=args.corpus_dir,
                              corpus_pieces=args.corpus_pieces, layers=args.layers, probe_seeds=args.probe_seeds,
                              floors=False, output_dir=str(root / f"fp32-{task}"))
        fp32 = run_probe(base)
        int8 = run_probe(replace(base, model_name_or_path=None, onnx_dir=str(onnx_dir), int8=True,
                                 output_dir=str(root / f"int8-{task}")))
        metric = TASK_INFO[task].headline
        for a, b in zip(fp32["results"], int8["results"]):
            interval = a["ci95"][metric]
            ok = interval["low"] <= b["metrics"][metric] <= interval["high"]
            inside.append(ok)
            rows.append({"task": task, "metric": metric, "representation": a["representation"], "layers": a["layers"],
                         "fp32": a["metrics"][metric], "fp32_ci95": [interval["low"], interval["high"]],
                         "int8": b["metrics"][metric], "int8_minus_fp32": b["metrics"][metric] - a["metrics"][metric],
                         "inside": ok})
    (root / "int8_probes.json").write_text(json.dumps(rows, indent=1) + "\n")
    print("| task | metric | layers | fp32 [95 % CI] | int8 | int8 - fp32 | inside |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        low, high = row["fp32_ci95"]
        print(f"| {row['task']} | {row['metric']} | {','.join(map(str, row['layers']))} | {row['fp32']:.3f} "
              f"[{low:.3f}, {high:.3f}] | {row['int8']:.3f} | {row['int8_minus_fp32']:+.4f} | "
              f"{'yes' if row['inside'] else 'NO'} |")
    print(f"int8 inside the fp32 interval: {sum(inside)} of {len(inside)} (target: all)")
    return rows


if __name__ == "__main__":
    main()
