"""The HTTP API in-process (FastAPI's TestClient): health, page, docs, predictions, error shape."""

from __future__ import annotations

import numpy as np
import pytest


def _files(*uploads):
    return [("file", upload) for upload in uploads]


def test_health_names_the_model_and_the_limits(client, predictor, serve_limits):
    answer = client.get("/health")
    assert answer.status_code == 200
    health = answer.json()
    assert health["status"] == "ok"
    assert health["model"] == predictor.description
    assert health["classes"] == ["cat", "dog"]
    assert health["image_size"] == [32, 32]
    assert health["limits"]["max_files"] == serve_limits.max_files
    assert health["limits"]["max_body_bytes"] == serve_limits.max_body_bytes
    assert "image/jpeg" in health["limits"]["media_types"]


def test_upload_page_and_its_script_are_served(client):
    page = client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert 'type="file"' in page.text
    assert "/static/app.js" in page.text
    script = client.get("/static/app.js")
    assert script.status_code == 200
    assert 'fetch("/predict"' in script.text
    assert client.get("/static/style.css").status_code == 200


def test_docs_offer_a_file_upload_for_predict(client):
    assert client.get("/docs").status_code == 200
    schema = client.get("/openapi.json").json()
    body = schema["paths"]["/predict"]["post"]["requestBody"]["content"]
    field = body["multipart/form-data"]["schema"]["properties"]["file"]
    assert field["items"]["format"] == "binary"


def test_one_photo_gets_a_label_and_probabilities(client, photo):
    answer = client.post("/predict", files=_files(("rex.jpg", photo("red"), "image/jpeg")))
    assert answer.status_code == 200
    (prediction,) = answer.json()["predictions"]
    assert prediction["filename"] == "rex.jpg"
    assert prediction["label"] == "dog"
    assert prediction["probability"] == prediction["p_dog"]
    assert 0.5 < prediction["probability"] < 1


def test_several_photos_come_back_in_order_over_several_batches(client, photo):
    uploads = [
        ("a.jpg", photo("red"), "image/jpeg"),
        ("b.png", photo("blue", fmt="PNG"), "image/png"),
        ("c.webp", photo("red", (64, 40), fmt="WEBP"), "image/webp"),
    ]
    answer = client.post("/predict", files=_files(*uploads))
    assert answer.status_code == 200
    predictions = answer.json()["predictions"]
    assert [p["filename"] for p in predictions] == ["a.jpg", "b.png", "c.webp"]
    assert [p["label"] for p in predictions] == ["dog", "cat", "dog"]
    blue = predictions[1]
    assert blue["probability"] == pytest.approx(1 - blue["p_dog"])


def test_the_service_gives_the_predictors_probability(client, predictor, photo):
    data = photo("red", (50, 40))
    expected = predictor.positive_probabilities(np.stack([predictor.prepare(data)]))[0]
    answer = client.post("/predict", files=_files(("x.jpg", data, "application/octet-stream")))
    assert answer.json()["predictions"][0]["p_dog"] == pytest.approx(expected, abs=1e-7)


def test_a_refusal_is_json_naming_the_file_and_the_reason(client, photo):
    uploads = [("good.jpg", photo("red"), "image/jpeg"), ("bad.jpg", b"\xff\xd8junk", "image/jpeg")]
    answer = client.post("/predict", files=_files(*uploads))
    assert answer.status_code == 415
    assert answer.json() == {
        "error": "not_an_image",
        "detail": "no image format recognises its content",
        "file": "bad.jpg",
    }


def test_unknown_routes_and_methods_are_4xx_json(client):
    assert client.get("/nowhere").json()["error"] == "http_404"
    assert client.get("/predict").status_code == 405
