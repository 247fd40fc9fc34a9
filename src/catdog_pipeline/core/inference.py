"""One way to turn a batch of images into probabilities: evaluate, predict, serve and pyfunc.

With test-time augmentation `flip` the probability is the mean of the model's answers for the
image and its mirror image, so an image and its mirror image get exactly the same probability.
TensorFlow is imported when a function is built, never at module import.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from catdog_pipeline.core.errors import InputError

TEST_TIME_AUGMENTATIONS = (None, "flip")


def check_test_time_augmentation(mode: Any) -> str | None:
    """`mode` if it is one this module applies; a ValueError naming the choices otherwise."""
    if mode not in TEST_TIME_AUGMENTATIONS:
        raise InputError(
            f"test_time_augmentation must be flip or null, got {mode!r} "
            "(params.yaml: train.test_time_augmentation)"
        )
    return mode


def probability_function(model: Any, test_time_augmentation: str | None) -> Callable[[Any], Any]:
    """uint8 batch (n, height, width, 3) -> float32 P(class index 1), shape (n,).

    Wrap it in `tf.function` to trace it once; the model runs in inference mode, with its
    batch norms folded into its convolutions (core/folding.py: the same answers, ~2x faster).
    """
    import tensorflow as tf

    from catdog_pipeline.core.folding import fold_batch_norms

    mode = check_test_time_augmentation(test_time_augmentation)
    model = fold_batch_norms(model)

    def probabilities(batch: tf.Tensor) -> tf.Tensor:
        answer = tf.reshape(model(batch, training=False), [-1])
        if mode == "flip":
            mirrored = tf.reshape(model(tf.reverse(batch, axis=[2]), training=False), [-1])
            answer = (answer + mirrored) / 2
        return answer

    return probabilities
