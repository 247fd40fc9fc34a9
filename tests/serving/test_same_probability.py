"""One photo, one probability: `catdog predict`, the service and the evaluator agree.

The evaluator reads clean JPEGs with tf.io.decode_jpeg(INTEGER_ACCURATE), predict and serve with
PIL through `prepare_image`; for a JPEG already at the model's size both must give the model
the same pixels, and so the same P(dog) to 1e-6.
"""

from __future__ import annotations

import json

import httpx
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from PIL import Image

from catdog_pipeline.cli import cli
from catdog_pipeline.images import encode_jpeg

TOLERANCE = 1e-6


@pytest.fixture
def clean_jpeg(tmp_path, predictor, make_image):
    """A photo as the clean stage stores it: RGB JPEG of exactly the model's size, quality 95."""
    height, width = predictor.card.image_size
    photo = make_image(tmp_path / "raw.png", size=(width, height), fmt="PNG", seed=7)
    clean = tmp_path / "clean" / "ab" / "abcdef.jpg"
    clean.parent.mkdir(parents=True)
    clean.write_bytes(encode_jpeg(Image.open(photo).convert("RGB"), quality=95))
    return clean


def test_predict_service_and_evaluator_give_the_same_probability(
    clean_jpeg, tiny_model_path, params_file, predictor, live_server
):
    import tensorflow as tf

    from catdog_pipeline.pipelines.evaluate.nodes import predict_test_split

    # The evaluator's own node, on a one-image test split.
    split_manifest = pd.DataFrame(
        {
            "image_path": ["ab/abcdef.jpg"],
            "original_path": ["PetImages/Dog/1.jpg"],
            "label": ["dog"],
            "label_index": [1],
            "split": ["test"],
        }
    )
    card = json.loads((tiny_model_path.parent / "model_card.json").read_text())
    evaluated = predict_test_split(
        predictor.model,
        split_manifest,
        clean_jpeg.parents[1],
        card,
        {"batch_size": 8, "threshold": 0.5},
    )
    p_evaluator = float(evaluated["probability"].iloc[0])

    # The model applied directly to TensorFlow's decoding of the file.
    data = clean_jpeg.read_bytes()
    tf_pixels = tf.io.decode_jpeg(data, channels=3, dct_method="INTEGER_ACCURATE")
    np.testing.assert_array_equal(tf_pixels.numpy(), predictor.prepare(clean_jpeg))
    p_tf = float(predictor.model(tf_pixels[None], training=False).numpy()[0, 0])

    cli_run = CliRunner().invoke(
        cli,
        [
            "predict",
            str(clean_jpeg),
            "--model",
            str(tiny_model_path),
            "--params",
            str(params_file),
            "--format",
            "json",
        ],
    )
    assert cli_run.exit_code == 0, cli_run.output
    p_cli = json.loads(cli_run.stdout)[0]["p_dog"]

    answer = httpx.post(
        f"{live_server}/predict", files={"file": ("photo.jpg", data, "image/jpeg")}, timeout=30
    )
    assert answer.status_code == 200
    p_service = answer.json()["predictions"][0]["p_dog"]

    assert 0.0 < p_tf < 1.0
    for name, p in {"evaluator": p_evaluator, "predict": p_cli, "service": p_service}.items():
        assert p == pytest.approx(p_tf, abs=TOLERANCE), name
