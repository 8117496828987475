"""`models download`: fetch only the files our loader reads, with resume, progress and checksums.

Files come from their publishers' Hugging Face repositories into the official layout. Stable
Video Diffusion is gated: accept its licence on Hugging Face and give a token. Without a network,
the error lists each file, where to get it and where to put it.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import requests
from huggingface_hub import get_hf_file_metadata, hf_hub_download, hf_hub_url
from huggingface_hub.errors import GatedRepoError, HfHubHTTPError, LocalEntryNotFoundError
from requests.exceptions import RequestException

from ..errors import ModelsMissing
from ..hashing import file_sha256
from ..progress import polled
from .layout import OFFICIAL_LAYOUT, SVD, ModelFile, check_models

# (layout prefix, repository, folder of the layout the repository's paths are relative to)
REPOSITORIES = (
    ("Sonic/", "LeonJoe13/Sonic", ""),
    ("RIFE/", "LeonJoe13/Sonic", ""),
    (f"{SVD}/", "stabilityai/stable-video-diffusion-img2vid-xt", SVD),
    ("whisper-tiny/", "openai/whisper-tiny", "whisper-tiny"),
)
HUB = "https://huggingface.co"


@dataclass(frozen=True)
class Source:
    repo_id: str
    filename: str  # path inside the repository
    local_root: str  # folder of the models dir that mirrors the repository

    def url(self, endpoint: str = HUB) -> str:
        return f"{endpoint}/{self.repo_id}/resolve/main/{self.filename}"


def source_of(entry: ModelFile) -> Source:
    for prefix, repo_id, root in REPOSITORIES:
        if entry.path.startswith(prefix):
            return Source(repo_id, entry.path[len(root):].lstrip("/"), root)
    raise ValueError(f"no source known for {entry.path}")


# on_bytes(done, total, path): bytes fetched so far of all the files to fetch (the 6 GB UNet is
# one file, so files alone say little), and the file being fetched
OnBytes = Callable[[int, int, str], None]
POLL_S = 0.5


def download_models(models_dir: Path, *, token: str | None = None, endpoint: str | None = None,
                    on_bytes: OnBytes | None = None,
                    layout: tuple[ModelFile, ...] = OFFICIAL_LAYOUT) -> list[str]:
    """Download what `models status` reports missing or wrong; return the paths fetched."""
    todo = [f.file for f in check_models(models_dir, layout).problems]
    fetched: list[str] = []
    if not todo:
        return fetched
    offline = _unreachable(endpoint or HUB)
    if offline:  # one quick probe instead of the hub client's retries for every file
        _raise_unreachable(models_dir, [(e, source_of(e)) for e in todo], endpoint, offline)
    report = on_bytes or (lambda *_: None)
    sizes = {entry.path: _size(entry, token, endpoint) for entry in todo}
    total, done = sum(sizes.values()), 0
    unreachable = []
    for entry in todo:
        source = source_of(entry)
        report(done, total, entry.path)
        try:
            with _watching(models_dir / source.local_root,
                           lambda now, before=done, path=entry.path: report(
                               before + now, total, path)):
                hf_hub_download(source.repo_id, source.filename, token=token,
                                endpoint=endpoint, local_dir=models_dir / source.local_root)
        except GatedRepoError:
            raise ModelsMissing(f"{source.repo_id} is gated: its licence must be accepted",
                                hint="accept it on huggingface.co with your account, then pass "
                                     "--hf-token (or set HF_TOKEN)") from None
        except (LocalEntryNotFoundError, HfHubHTTPError, RequestException, OSError) as exc:
            unreachable.append((entry, source))
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            continue
        _verify(models_dir / entry.path, entry)
        fetched.append(entry.path)
        done += sizes[entry.path]
    report(done, total, "")
    if unreachable:
        _raise_unreachable(models_dir, unreachable, endpoint, reason)
    return fetched


def _size(entry: ModelFile, token: str | None, endpoint: str | None) -> int:
    """The file's size: from the layout when known, else from the hub's headers (0 if it
    does not say, or refuses: the download itself then reports why)."""
    if entry.size is not None:
        return entry.size
    source = source_of(entry)
    try:
        return get_hf_file_metadata(hf_hub_url(source.repo_id, source.filename,
                                               endpoint=endpoint), token=token).size or 0
    except (HfHubHTTPError, RequestException, OSError):
        return 0


def _watching(local_dir: Path, report: Callable[[int], None]) -> AbstractContextManager[None]:
    """Report every POLL_S how many bytes of the file being fetched have arrived: the hub
    client writes it as `.incomplete` under the folder's `.cache/huggingface/download`."""
    partial = local_dir / ".cache" / "huggingface" / "download"
    return polled(lambda: (arrived := _bytes_in(partial)) and report(arrived), POLL_S,
                  "sonic-download-bytes")


def _bytes_in(partial: Path) -> int:
    """The size of the partial files in `partial` (one may vanish as it is being counted)."""
    arrived = 0
    for path in partial.rglob("*.incomplete") if partial.is_dir() else ():
        try:
            arrived += path.stat().st_size
        except OSError:
            continue
    return arrived


def _unreachable(endpoint: str) -> str | None:
    """None when the hub answers at all, else the reason it does not."""
    try:
        requests.head(endpoint, timeout=10)
    except RequestException as exc:
        return f"{endpoint} cannot be reached: {type(exc).__name__}"
    return None


def _raise_unreachable(models_dir: Path, files: list[tuple[ModelFile, Source]],
                       endpoint: str | None, reason: str) -> NoReturn:
    lines = "; ".join(f"{e.path} <- {s.url(endpoint or HUB)}" for e, s in files)
    raise ModelsMissing(f"could not download {len(files)} file(s) ({reason}): {lines}",
                        hint=f"download them on a connected machine and place each at the path "
                             f"shown, below {models_dir}")


def _verify(path: Path, entry: ModelFile) -> None:
    """Known sizes and sha256s must match; a bad file is removed so a retry starts clean."""
    problem = None
    if entry.size is not None and path.stat().st_size != entry.size:
        problem = f"size {path.stat().st_size:,} bytes, expected {entry.size:,}"
    elif entry.sha256 is not None and (digest := file_sha256(path)) != entry.sha256:
        problem = f"sha256 {digest}, expected {entry.sha256}"
    if problem:
        path.unlink()
        raise ModelsMissing(f"{path}: downloaded file is corrupt ({problem}); it was removed",
                            hint="run `sonic-ext models download` again")
