"""Run every benchmark in turn (`make bench`). Each prints its own ratios, measured in the same run."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import bench_decoding  # noqa: E402
import bench_embedding  # noqa: E402
import bench_features  # noqa: E402
import bench_memory  # noqa: E402
import bench_pipeline  # noqa: E402
import bench_probe_extraction  # noqa: E402
import bench_train_step  # noqa: E402

if __name__ == "__main__":
    for module in (bench_train_step, bench_features, bench_embedding, bench_memory, bench_pipeline, bench_decoding,
                   bench_probe_extraction):
        module.main([])
