"""`models download` against a local stand-in for the Hugging Face Hub: placement, checksums,
gated repositories, resume-free reruns and the offline error."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from sonic_ext import ModelsMissing
from sonic_ext.sonic.download import download_models, source_of
from sonic_ext.sonic.layout import OFFICIAL_LAYOUT, ModelFile, check_models
from tests.servers import free_port
from tests.sonic.fake_hub import fake_hub

SVD_REPO = "stabilityai/stable-video-diffusion-img2vid-xt"


@pytest.fixture
def hub(tmp_path: Path, tiny_models: Path) -> tuple[Path, tuple[ModelFile, ...]]:
    """The tiny tree published as the three repositories, and a layout with its real checksums."""
    root = tmp_path / "hub"
    layout = []
    for entry in OFFICIAL_LAYOUT:
        source = source_of(entry)
        served = root / source.repo_id / source.filename
        served.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(tiny_models / entry.path, served)
        data = served.read_bytes()
        known = entry.size is not None
        layout.append(replace(entry, size=len(data) if known else None,
                              sha256=hashlib.sha256(data).hexdigest() if known else None))
    return root, tuple(layout)


def test_every_file_lands_in_the_official_layout(hub, tmp_path: Path, tiny_models: Path) -> None:
    root, layout = hub
    target = tmp_path / "models"
    seen: list[tuple[int, int, str]] = []
    with fake_hub(root) as url:
        fetched = download_models(target, endpoint=url, layout=layout,
                                  on_bytes=lambda *a: seen.append(a))
        assert download_models(target, endpoint=url, layout=layout) == []  # nothing left to do
    assert sorted(fetched) == sorted(e.path for e in OFFICIAL_LAYOUT)
    total = sum((tiny_models / e.path).stat().st_size for e in OFFICIAL_LAYOUT)
    assert seen[0] == (0, total, OFFICIAL_LAYOUT[0].path)  # sizes unknown to the layout: asked
    assert seen[-1] == (total, total, "")
    assert check_models(target, layout).ready
    for entry in OFFICIAL_LAYOUT:
        assert (target / entry.path).read_bytes() == (tiny_models / entry.path).read_bytes()


def test_progress_counts_the_bytes_of_a_file_as_they_arrive(hub, tmp_path: Path) -> None:
    """The UNet is one 6 GB file: a count of files would sit still for most of a download."""
    root, layout = hub
    entry = replace(layout[0], size=None, sha256=None)
    source = source_of(entry)
    big = os.urandom(24_000_000)  # the hub client writes in 10 MB pieces
    (root / source.repo_id / source.filename).write_bytes(big)
    seen: list[tuple[int, int, str]] = []
    with fake_hub(root, seconds_per_mb=0.1) as url:  # about 2.4 s for the file
        assert download_models(tmp_path / "models", endpoint=url, layout=(entry,),
                               on_bytes=lambda *a: seen.append(a)) == [entry.path]
    assert {total for _, total, _ in seen} == {len(big)}
    done = [d for d, _, _ in seen]
    assert done == sorted(done) and done[0] == 0 and done[-1] == len(big)
    assert any(0 < d < len(big) for d in done), seen  # seen part-way, not only at the ends


def test_a_corrupt_download_is_removed_and_reported(hub, tmp_path: Path) -> None:
    root, layout = hub
    served = root / "LeonJoe13/Sonic/Sonic/audio2token.pth"
    data = bytearray(served.read_bytes())
    data[-1] ^= 0xFF
    served.write_bytes(bytes(data))
    target = tmp_path / "models"
    with fake_hub(root) as url, pytest.raises(ModelsMissing, match="audio2token.pth: downloaded "
                                              "file is corrupt \\(sha256"):
        download_models(target, endpoint=url, layout=layout)
    assert not (target / "Sonic" / "audio2token.pth").exists()


def test_the_gated_svd_repository_needs_a_token(hub, tmp_path: Path) -> None:
    root, layout = hub
    svd_only = tuple(e for e in layout if e.path.startswith("stable-video"))
    with fake_hub(root, gated={SVD_REPO}) as url:
        with pytest.raises(ModelsMissing, match=f"{SVD_REPO} is gated") as caught:
            download_models(tmp_path / "m", endpoint=url, layout=svd_only)
        assert "--hf-token" in (caught.value.hint or "")
        assert len(download_models(tmp_path / "m", endpoint=url, layout=svd_only,
                                   token="hf_test")) == len(svd_only)


def test_offline_the_error_lists_each_file_with_its_source(tmp_path: Path) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(ModelsMissing) as caught:
        download_models(tmp_path / "m", endpoint=closed)
    message = str(caught.value)
    assert f"could not download {len(OFFICIAL_LAYOUT)} file(s)" in message
    assert f"Sonic/unet.pth <- {closed}/LeonJoe13/Sonic/resolve/main/Sonic/unet.pth" in message
    assert (f"whisper-tiny/model.safetensors <- {closed}/openai/whisper-tiny/resolve/main/"
            "model.safetensors") in message
    assert "place each at the path shown" in (caught.value.hint or "")


def test_every_surface_says_bytes_speed_and_time_left(hub, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """The service turns bytes into one progress stage; the UI and the CLI show it in words."""
    from sonic_ext import Settings, SonicService
    from sonic_ext.adapters.ui.render import progress_html
    from sonic_ext.progress import ProgressEvent
    from sonic_ext.sonic import download

    root, layout = hub
    settings = Settings.from_environment({}, home=tmp_path / "home",
                                         models_dir=tmp_path / "models")
    events: list[ProgressEvent] = []
    with fake_hub(root) as url, pytest.MonkeyPatch.context() as patch:
        real = download.download_models
        patch.setattr(download, "download_models",
                      lambda *a, **k: real(*a, **{**k, "endpoint": url, "layout": layout}))
        SonicService(settings).download_models(progress=events.append)
    assert {e.stage for e in events} == {"download models"} and events[-1].fraction == 1.0
    assert re.fullmatch(r"(\d+\.\d [kMG]B) of \1 at \d+\.\d [kMG]B/s", events[-1].message), \
        events[-1].message  # e.g. "68.3 MB of 68.3 MB at 120.4 MB/s"
    shown = progress_html(ProgressEvent("download models", 2_500_000_000, 6_600_000_000,
                                        "unet.pth: 2.5 GB of 6.6 GB at 41.0 MB/s", 61.0, 100.0))
    assert "Downloading models: unet.pth: 2.5 GB of 6.6 GB at 41.0 MB/s · about 1 min" in shown
    assert "step 2500000000" not in shown
