"""The programme picture as SVG: well-formed, complete, styled by arrow kind, and legible when a
browser draws it. No database."""

from __future__ import annotations

import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from PIL import Image

from states import diagram
from states.definition import BUILTIN_TOML, parse_definition
from states.programme import STATES, TIMED_TRIGGERS, TRANSITIONS, TRIGGERS, compose

SVG = "{http://www.w3.org/2000/svg}"
SKIPS = [(source, t.dest, t.skip) for t in TRANSITIONS if t.skip for source in t.sources]


def parse(text: str) -> ET.Element:
    return ET.fromstring(text.encode("utf-8"))


def texts(root: ET.Element) -> list[str]:
    """What a reader sees: the content of every text element, tspans joined in."""
    return ["".join(node.itertext()) for node in root.iter(f"{SVG}text")]


def arrows(root: ET.Element, kind: str) -> list[ET.Element]:
    return [
        node for node in root.iter(f"{SVG}path") if node.get("class", "").split() == ["arrow", kind]
    ]


@pytest.mark.parametrize("exits", [False, True])
def test_svg_is_well_formed_self_contained_and_deterministic(exits: bool) -> None:
    text = diagram.svg(exits)
    assert text == diagram.svg(exits)
    root = parse(text)
    assert root.tag == f"{SVG}svg"
    assert root.get("viewBox") == f"0 0 {root.get('width')} {root.get('height')}"
    assert "href" not in text  # nothing fetched from elsewhere: no images, links or fonts


def test_every_state_is_drawn_with_its_danish_label_and_name() -> None:
    root = parse(diagram.svg())
    boxes = {node.get("id"): node for node in root.iter(f"{SVG}g") if node.get("class") == "state"}
    assert set(boxes) == {f"lps-state-{state.name}" for state in STATES}
    for state in STATES:
        assert texts(boxes[f"lps-state-{state.name}"])[:2] == [state.label_da, state.name]


def test_states_on_the_path_run_top_to_bottom_in_programme_order() -> None:
    root = parse(diagram.svg())
    tops = {
        node.get("id", "").removeprefix("lps-state-"): float(rect.get("y", "nan"))
        for node in root.iter(f"{SVG}g")
        if node.get("class") == "state"
        for rect in node.iter(f"{SVG}rect")
    }
    path = [state.name for state in STATES if state.name not in ("withdrawn", "deferred")]
    assert sorted(path, key=tops.__getitem__) == path
    assert len({tops[name] for name in path}) == len(path)


def test_labels_are_escaped() -> None:
    # A label as an administrator may write it in a definition file.
    odd = compose(
        parse_definition(
            BUILTIN_TOML.replace('da = "Kursusbevis udstedt"', 'da = "Kursusbevis & <udstedt>"')
        )
    )
    text = diagram.svg(False, odd)
    assert "Kursusbevis &amp; &lt;udstedt&gt;" in text
    assert "Kursusbevis & <udstedt>" in texts(parse(text))


def test_every_trigger_is_named_and_the_exits_are_explained() -> None:
    shown = " ".join(texts(parse(diagram.svg())))
    for trigger in (*TRIGGERS, "enrol"):
        assert trigger in shown, trigger
    assert "withdraw: from any active state" in shown
    assert "defer: before day 1" in shown


def test_skip_arrows_are_dashed_orange_and_name_the_obligation() -> None:
    root = parse(diagram.svg())
    skips = arrows(root, "skip")
    assert len(skips) == len(SKIPS) == 3
    for path in skips:
        assert path.get("stroke-dasharray")
        assert path.get("stroke") == "#b05a00"
        assert " C" in (path.get("d") or "")  # curved beside the path, not straight down
    shown = texts(root)
    for _, _, obligation in SKIPS:
        assert f"skips {obligation}" in shown
    for kind in ("normal", "timed"):
        assert all(path.get("stroke-dasharray") is None for path in arrows(root, kind))


def test_timed_triggers_are_blue_and_marked() -> None:
    root = parse(diagram.svg())
    timed_arrows = [
        (source, t.dest)
        for t in TRANSITIONS
        if t.trigger in TIMED_TRIGGERS and t.dest and not t.skip
        for source in t.sources
    ]
    blue = arrows(root, "timed")
    assert len(blue) == len(timed_arrows)
    assert {path.get("stroke") for path in blue} == {"#1f5fa8"}
    labels = [
        node
        for node in root.iter(f"{SVG}text")
        if any(trigger in "".join(node.itertext()).split() for trigger in TIMED_TRIGGERS)
    ]
    assert labels
    for node in labels:
        marks = [span for span in node.iter(f"{SVG}tspan") if span.text == "[timed]"]
        assert [span.get("fill") for span in marks] == ["#1f5fa8"], "".join(node.itertext())


def test_with_exits_every_source_has_a_dotted_line() -> None:
    root = parse(diagram.svg(include_exits=True))
    exit_sources = sum(len(t.sources) for t in TRANSITIONS if t.trigger in ("withdraw", "defer"))
    dotted = arrows(root, "exit")
    # one line from each source, and one rail per exit into its box
    assert len(dotted) == exit_sources + 2
    assert all(path.get("stroke-dasharray") for path in dotted)
    shown = texts(root)
    assert "withdraw: from any active state" not in shown
    assert {"withdraw", "defer"} <= set(shown)


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _near(pixel: tuple[int, ...], colour: tuple[int, int, int], tolerance: int = 40) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel[:3], colour, strict=True))


@pytest.mark.skipif(
    _chromium() is None, reason="Chromium is not installed (apt-get install chromium)"
)
def test_chromium_draws_the_picture(tmp_path: Path) -> None:
    source = tmp_path / "programme.svg"
    source.write_text(diagram.svg(), encoding="utf-8")
    picture = tmp_path / "programme.png"
    subprocess.run(
        [
            str(_chromium()),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'profile'}",
            f"--screenshot={picture}",
            "--window-size=900,1800",
            source.as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    assert picture.stat().st_size > 20_000
    height = int(parse(diagram.svg()).get("height") or 0)
    assert height <= 1800  # the whole picture fits the window
    with Image.open(picture) as image:
        assert image.size == (900, 1800)
        rgb = image.convert("RGB")
        colours = rgb.getcolors(1 << 24) or []
        below = rgb.crop((0, height + 2, 900, 1800)).getextrema()
    # fills are flat, so they match closely; thin lines are anti-aliased, so they match loosely
    counts = {
        name: sum(count for count, pixel in colours if _near(pixel, colour, tolerance))
        for name, (colour, tolerance) in {
            "box": ((0xEE, 0xF3, 0xF8), 3),
            "final box": ((0xDF, 0xE9, 0xD8), 3),
            "skip": ((0xB0, 0x5A, 0x00), 24),
            "timed": ((0x1F, 0x5F, 0xA8), 24),
            "ink": ((0x22, 0x22, 0x22), 24),
        }.items()
    }
    assert all(count > 200 for count in counts.values()), counts
    assert below == ((255, 255),) * 3  # nothing drawn below the picture
