#!/usr/bin/env python
"""Export a ViT-1D encoder with its log-mel front end to one ONNX graph (waveform in, tokens out) and check it.

    python run_export.py --model_name_or_path pretrained/vit1d-tiny-gamemusic-1000 --output_dir outputs/onnx

Writes OUTPUT_DIR/model.onnx (dynamic batch and length; inputs `waveform`, `lengths`) and OUTPUT_DIR/export.json
(outputs, layers, the parity check against the torch path). Needs `pip install "vit1d[export]"`. The same as
`python -m vit1d.export`; the library code is `vit1d.export.run_export`.
"""

import sys

from vit1d.export import main

if __name__ == "__main__":
    main(sys.argv[1:])
