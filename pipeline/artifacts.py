"""Artifact folders: atomic writes, library versions, model cards, JSON helpers, the resolved config.

A saved component is a folder (``config.json``, ``model.safetensors``, label
maps and metrics as JSON, ``resolved_config.json``, a ``README.md`` model card).
It is written into a temporary sibling folder and renamed into place, so an
interrupted run never leaves a half-written model where a good one used to be.
Every model and run folder keeps its resolved settings in ``resolved_config.json``
(:func:`write_resolved_config`); :func:`read_resolved_config` also reads the
names older folders used (:data:`LEGACY_RESOLVED_CONFIGS`).
"""
from __future__ import annotations

import json
import logging
import os
import platform
import shutil
import tempfile
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import yaml

from pipeline.errors import ConfigError, DataError, ModelLoadError, first_line

logger = logging.getLogger(__name__)


def check_folder_path(path: str | os.PathLike[str], flag: str = "--output-dir") -> Path:
    """Refuse a path that cannot become a folder: empty, ``.`` or ``..``, a file, or under a file."""
    if not str(path).strip() or Path(path).name in ("", ".", ".."):
        raise ConfigError(f"The {flag} path {str(path)!r} must name a folder, e.g. runs/my-run.")
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"The output path {str(path)!r} is a file. Pass a folder for {flag}.")
    check_under_folder(path, flag)
    return path


def check_under_folder(path: str | os.PathLike[str], flag: str) -> None:
    """Refuse an output path whose nearest existing parent is a file (it could never be created)."""
    for parent in Path(path).parents:
        if parent.exists():
            if not parent.is_dir():
                raise ConfigError(f"The {flag} path {str(path)!r} is under {str(parent)!r}, which is a file. "
                                  "Choose a path under a folder.")
            return


def check_output_dir(path: str | Path, overwrite: bool) -> None:
    """Refuse a non-empty folder (or a file) unless ``overwrite``; cheap, so call it before any work.

    The evaluation commands' rule for report folders; write the report with :func:`atomic_dir` afterwards.
    """
    path = check_folder_path(path)  # not empty, not a file, not under a file
    if path.is_dir() and any(path.iterdir()) and not overwrite:
        raise ConfigError(f"The output folder {str(path)!r} is not empty. Pass --overwrite to replace it, "
                          "or choose another --output-dir.")


@contextmanager
def atomic_dir(target: str | os.PathLike[str], overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary folder next to ``target``; on success it replaces ``target``.

    On error the temporary folder is removed and ``target`` is left untouched.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists() and not overwrite:
        raise FileExistsError(target)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        tmp.chmod(umask_mode(0o777))  # mkdtemp makes 0700; the folder is shared like any the user makes
        yield tmp
        if target.exists():
            old = target.with_name(f".{target.name}.old-{os.getpid()}")
            target.rename(old)
            tmp.rename(target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def load_safetensors(path: str | os.PathLike[str], fix: str, framework: str = "numpy") -> dict[str, Any]:
    """The tensors of a safetensors file; a truncated or corrupt file raises one :class:`ModelLoadError` ending in ``fix``."""
    from safetensors import SafetensorError

    if framework == "torch":
        from safetensors.torch import load_file
    else:
        from safetensors.numpy import load_file
    try:
        return load_file(str(path))
    except (OSError, SafetensorError) as exc:
        raise ModelLoadError(f"{str(path)!r} is unreadable ({first_line(exc)}). {fix}") from None


def umask_mode(mode: int) -> int:
    """``mode`` less the process umask: what ``open()`` (0o666) or ``mkdir()`` (0o777) would give.

    ``tempfile`` makes its files 0600 and folders 0700; an artifact renamed into place from one
    gets these permissions back, so other users (or a container) can read it like any other file.
    """
    mask = os.umask(0)
    os.umask(mask)
    return mode & ~mask


def atomic_write(path: str | os.PathLike[str], write: Callable[[str], Any]) -> None:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it over ``path``.

    On error the temporary file is removed and ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, umask_mode(0o666))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: str | os.PathLike[str], data: Any) -> None:
    """Write JSON atomically (temp file, then rename)."""
    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2, ensure_ascii=False, default=_json_default)
            fh.write("\n")

    atomic_write(path, write)


def read_json(path: str | os.PathLike[str]) -> Any:
    """Parse a JSON file; invalid JSON raises one :class:`DataError` (a ``ValueError``) naming the file and line."""
    with open(path, encoding="utf-8") as fh:
        try:
            return json.load(fh)
        except json.JSONDecodeError as exc:
            raise DataError(f"{str(path)!r} is not valid JSON (line {exc.lineno}: {exc.msg}). "
                            "Regenerate the file with the command that wrote it.") from None
        except UnicodeDecodeError as exc:
            raise DataError(f"{str(path)!r} is not UTF-8 text (byte {exc.start}). "
                            "Regenerate the file with the command that wrote it.") from None


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


LIBRARIES = ("torch", "transformers", "datasets", "tokenizers", "safetensors", "scikit-learn", "numpy")


def library_versions(extra: Iterable[str] = ()) -> dict[str, str]:
    """Versions of Python and the libraries that shape a result."""
    versions = {"python": platform.python_version()}
    for name in (*LIBRARIES, *extra):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    try:
        versions["support-assistant"] = metadata.version("support-assistant")
    except metadata.PackageNotFoundError:
        pass
    return versions


def _table(rows: dict[str, Any]) -> str:
    lines = ["| key | value |", "| --- | --- |"]
    for key, value in rows.items():
        if isinstance(value, float):
            value = f"{value:.4f}"
        lines.append(f"| {key} | {value} |")
    return "\n".join(lines)


def write_model_card(
    folder: str | os.PathLike[str],
    *,
    title: str,
    summary: str,
    data: dict[str, Any],
    metrics: dict[str, Any],
    config: dict[str, Any],
    usage: str = "",
    notes: str = "",
) -> None:
    """Write ``README.md``: what the model is, the data, metrics, seed/config and library versions."""
    flat_metrics = {k: v for k, v in metrics.items() if isinstance(v, (int, float, str))}
    parts = [
        f"# {title}",
        summary,
        "## Data",
        _table(data),
        "## Metrics",
        _table(flat_metrics) if flat_metrics else "(none recorded)",
        "## Training configuration",
        f"Seed: {config.get('seed', 'n/a')}. The full resolved configuration is in `resolved_config.json`.",
        "```json\n" + json.dumps(config, indent=2, default=str) + "\n```",
        "## Library versions",
        _table(library_versions()),
    ]
    if usage:
        parts += ["## Usage", usage]
    if notes:
        parts += ["## Notes", notes]
    Path(folder, "README.md").write_text("\n\n".join(parts) + "\n", encoding="utf-8")


RESOLVED_CONFIG = "resolved_config.json"
"""The file name of the resolved config in every model and run folder."""

LEGACY_RESOLVED_CONFIGS = ("training_config.json", "eval_config.json", "resolved_config.yaml", "config.yaml")
"""Names older folders gave the resolved config (model folders, NLU reports, run folders, baseline/retrieval runs);
read, never written. Hugging Face's ``config.json`` is not one of them."""


def write_resolved_config(folder: str | os.PathLike[str], config: dict[str, Any]) -> Path:
    """Write ``config`` as ``folder/resolved_config.json`` (atomically, via :func:`write_json`); returns its path."""
    path = Path(folder) / RESOLVED_CONFIG
    write_json(path, config)
    return path


def resolved_config_path(folder: str | os.PathLike[str]) -> Path | None:
    """The folder's resolved config file: ``resolved_config.json``, else the first legacy name present, else ``None``."""
    for name in (RESOLVED_CONFIG, *LEGACY_RESOLVED_CONFIGS):
        path = Path(folder) / name
        if path.is_file():
            return path
    return None


def read_resolved_config(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """The folder's resolved config as a dict ({} when absent or unreadable).

    The file is the one :func:`resolved_config_path` finds; a legacy ``.yaml`` file is read as YAML, the rest as JSON.
    """
    path = resolved_config_path(folder)
    if path is None:
        return {}
    try:
        if path.suffix == ".yaml":
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        else:
            data = read_json(path)
    except (OSError, ValueError, yaml.YAMLError) as exc:  # ValueError: DataError, UnicodeDecodeError
        logger.warning("%s is unreadable (%s): its settings are ignored. Fix or delete the file, or retrain.", path, first_line(exc))
        return {}
    if not isinstance(data, dict):
        logger.warning("%s holds no mapping: its settings are ignored. Fix or delete the file, or retrain.", path)
        return {}
    return data


def training_config(model_dir: str | Path) -> dict:
    """The model folder's resolved training config as a dict ({} when absent or unreadable; see :func:`read_resolved_config`)."""
    return read_resolved_config(model_dir)
