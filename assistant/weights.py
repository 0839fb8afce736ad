"""The shipped learned layers (assistant/models/*.npz, each made by a script in evals/): read whole, with
an error that names the script that rebuilds a missing, damaged or outdated one."""
from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from .errors import ConfigError

MODELS = Path(__file__).resolve().parent / "models"


def load(path: str | Path, script: str, names_key: str = "", names: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
    """The arrays of one model file. With `names_key`, the file's list under that key must equal `names`
    (the signals the code computes), else it was trained on other signals and is refused."""
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise ConfigError(f"Cannot read the learned model {path} ({exc}); rebuild it with `python {script}` "
                          "or reinstall the package.") from None
    if names_key:
        found = tuple(str(n) for n in data.get(names_key, ()))
        if found != names:
            raise ConfigError(f"{path} was trained on other signals ({', '.join(found)}); rerun {script}.")
    return data
