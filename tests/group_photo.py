"""A group photo made from public-domain portraits, for the tests that need several people in
one picture: Joe Biden (biden2.jpg) and Barack Obama (obama3.jpg) side by side, and Eileen
Collins (collins.jpg), smaller, at the lower right as a bystander who has not consented.

Built at test time from the fixtures (nothing derived is committed); deterministic, so detection
results are cached like those of any portrait.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image

FACES = Path(__file__).resolve().parent / "fixtures" / "faces"
# (file, dlib's face box there, face size in the group photo, where its top-left goes)
_PEOPLE = {
    "biden": ("biden2.jpg", (427, 262, 494, 494), 240, (80, 140)),
    "obama": ("obama3.jpg", (659, 310, 286, 286), 240, (560, 140)),
    "collins": ("collins.jpg", (177, 82, 97, 96), 120, (1120, 560)),
}
SIZE = (1320, 760)


def _head(name: str, box: tuple[int, int, int, int], face_px: int) -> Image.Image:
    x, y, w, h = box
    with Image.open(FACES / name) as img:
        cut = img.convert("RGB").crop((x - w // 2, y - h // 2, x + w + w // 2, y + h + h // 2))
    side = round(2 * face_px)
    return cut.resize((side, side), Image.LANCZOS)


def group_photo(path: Path, people: tuple[str, ...] = ("biden", "obama", "collins")) -> Path:
    """Write the group photo (JPEG) with `people`, left to right as named in _PEOPLE."""
    canvas = Image.new("RGB", SIZE, (205, 200, 190))
    for person in people:
        name, box, face_px, (left, top) = _PEOPLE[person]
        canvas.paste(_head(name, box, face_px), (left - face_px // 2, top - face_px // 2))
    canvas.save(path, quality=95)
    return path
