#!/usr/bin/env python
"""The ViT-1D explorer: a Gradio page that shows the log-mel input, attention maps per layer and head, onsets read
from attention, self-similarity per layer and the class-token similarity between windows of any track.

    python app.py                              # http://127.0.0.1:7860 with the released checkpoint
    python app.py --model path/or/hub-id --port 7861
    python app.py --write_space outputs/space   # a Hugging Face Space of it, ready to push

Also the app file of a Hugging Face Space (sdk: gradio). Needs `pip install "vit1d[explorer]"`; the library code is
`vit1d.explorer`.
"""

import sys

from vit1d.explorer import main

if __name__ == "__main__":
    main(sys.argv[1:])
