"""Writing files that the other users of a shared folder can read.

safetensors 0.8 writes through a temporary file that it creates with mode 0600 and renames into place, so weights
and embeddings came out readable by their owner only, while every other file of the same folder follows the umask
(safetensors issue #782). Everything that vit1d writes as safetensors goes through `save_safetensors`, and folders
written by `save_pretrained` or Accelerate's `save_state` through `share_safetensors`.
"""

import os
from pathlib import Path


def default_file_mode() -> int:
    """The mode `open(path, "w")` gives a new file: 0666 less the process umask."""
    # os.umask can only be read by setting it; set a harmless value and put the old one straight back.
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


def share_safetensors(folder: str | os.PathLike) -> None:
    """Give every `*.safetensors` file under `folder` the mode of an ordinary new file."""
    mode = default_file_mode()
    for path in Path(folder).rglob("*.safetensors"):
        if path.is_file() and not path.is_symlink():
            os.chmod(path, mode)


def save_safetensors(tensors: dict, path: str | os.PathLike, metadata: dict[str, str] | None = None) -> None:
    """`safetensors.torch.save_file`, published atomically (a temporary file renamed into place, so a reader or an
    interrupted run never sees half a file) and with the mode of an ordinary new file."""
    from safetensors.torch import save_file

    path = Path(path)
    temporary = path.with_name(f".{path.name}.tmp")
    save_file(tensors, temporary, metadata=metadata)
    os.chmod(temporary, default_file_mode())
    os.replace(temporary, path)
