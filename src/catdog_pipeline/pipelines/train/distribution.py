"""`train.distribution`: train in this process, on this host's devices, or across a cluster.

- `none`: Keras as it comes, in this process.
- `mirrored`: `tf.distribute.MirroredStrategy`, one replica of the model on each GPU of this host
  (on a host without GPUs, on its CPU), gradients summed across replicas at every step.
- `multi_worker`: `tf.distribute.MultiWorkerMirroredStrategy`, the same across the hosts of the
  cluster TF_CONFIG describes (core/cluster.py), by collective all-reduce.

With a strategy, each worker reads only its shard of a split: every n-th file from its own
position, decoded by its own tf.data pipeline (`distribute_datasets_from_function`) and batched
at the per-replica batch size, so that a step still trains on `train.batch_size` images. A shard
is padded with a few of its own files so that every replica gets a non-empty batch at every
step (on hosts without several GPUs: at most one image per worker and split, seen twice an
epoch). Keras 3's BatchNormalization turns an empty batch into NaN statistics, and a worker
that ran out of data early would leave the others waiting.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import tensorflow as tf

from catdog_pipeline.core import cluster, tf_input
from catdog_pipeline.core.errors import InputError

logger = logging.getLogger(__name__)


class _KerasReduce:
    """A strategy whose `reduce` takes what Keras 3's `fit` hands it (keras-team/keras#20585).

    Across workers, Keras 3.15's `fit` fails in two calls to `reduce`: one with a whole first
    batch, a nest of per-replica tensors, whose shapes and dtypes alone it wants (to build the
    metrics), and which no collective can average (uint8 images); and one per scalar metric,
    with axis=0. The first gets this worker's own batch, the second the strategy's reduction
    without an axis.
    """

    def reduce(self, reduce_op: Any, value: Any, axis: int | None = None) -> Any:
        if isinstance(value, (tuple, list, dict)):
            return tf.nest.map_structure(
                lambda part: self.experimental_local_results(part)[0], value
            )
        rank = self.experimental_local_results(value)[0].shape.rank
        return super().reduce(reduce_op, value, axis=axis if rank else None)


class _MultiWorkerMirroredStrategy(_KerasReduce, tf.distribute.MultiWorkerMirroredStrategy):
    pass


class Distribution:
    """The `train.distribution` strategy and this worker's part of the inputs.

    Create it before any other TensorFlow operation runs: a multi-worker strategy configures
    the process's collective operations, which TensorFlow allows only at start-up.
    """

    def __init__(self, name: str, batch_size: int) -> None:
        self.name = name
        self.role = cluster.worker_role() if name == "multi_worker" else None
        self.strategy = {
            "none": lambda: None,
            "mirrored": tf.distribute.MirroredStrategy,
            "multi_worker": _MultiWorkerMirroredStrategy,
        }[name]()
        self.workers = self.role.workers if self.role else 1
        self.worker_index = self.role.worker_index if self.role else 0
        self.replicas = self.strategy.num_replicas_in_sync if self.strategy else 1
        self.batch_size = batch_size
        if batch_size % self.replicas:
            raise InputError(
                f"train.batch_size is {batch_size}, not a multiple of the {self.replicas} "
                f"replicas train.distribution={name} trains: each takes an equal part of every "
                f"batch. Set train.batch_size to a multiple of {self.replicas}."
            )
        if self.role:
            logger.info("This process is %s; %d replicas in all", self.role, self.replicas)

    @property
    def checkpoint_part(self) -> str:
        """Tells this worker's checkpoints from another's: each holds features of its shard."""
        return (
            "" if self.strategy is None else f"-{self.worker_index}of{self.workers}x{self.replicas}"
        )

    @contextlib.contextmanager
    def scope(self) -> Iterator[None]:
        """Where models and optimisers are made: under the strategy, if there is one."""
        with self.strategy.scope() if self.strategy else contextlib.nullcontext():
            yield

    def steps_per_epoch(self, own_count: int) -> int:
        """Steps of an epoch over this worker's `own_count` examples (all, without a strategy)."""
        if self.strategy is not None:
            own_count = self._replica_safe_length(own_count)
        return math.ceil(own_count / (self.batch_size // self.workers))

    def own_split(
        self, split_manifest: pd.DataFrame, clean_images: Path, split: str
    ) -> tuple[list[str], np.ndarray]:
        """The files and labels of a split this worker reads: its shard, or all of them."""
        paths = tf_input.image_files(split_manifest, clean_images, split)
        labels = tf_input.split_labels(split_manifest, split)
        if self.strategy is None:
            return paths, labels
        if len(paths) < self.workers:
            raise InputError(
                f"The {split} split has {len(paths)} images, fewer than the {self.workers} "
                "workers that train: each needs some. Use fewer workers or more images."
            )
        own = np.arange(self.worker_index, len(paths), self.workers)
        chosen = np.resize(own, self._replica_safe_length(math.ceil(len(paths) / self.workers)))
        who = self.role or "This host"
        logger.info(
            "%s reads %d of the %d %s images, %d of them twice an epoch",
            who,
            own.size,
            len(paths),
            split,
            chosen.size - own.size,
        )
        shard = [paths[i] for i in chosen]
        logger.debug(
            "Shard %d of %d, %s images: %s",
            self.worker_index,
            self.workers,
            split,
            json.dumps(shard),
        )
        return shard, labels[chosen]

    def image_input(
        self,
        paths: Sequence[str],
        labels: np.ndarray,
        image_size: Sequence[int],
        *,
        shuffle_seed: int | None = None,
        class_weight: Mapping[int, float] | None = None,
    ) -> tuple[Any, Mapping[int, float] | None]:
        """`fit`'s data and class_weight for this worker's images (`own_split`)."""

        def make(batch_size: int) -> tf.data.Dataset:
            return tf_input.image_dataset(
                paths,
                labels,
                image_size=image_size,
                batch_size=batch_size,
                shuffle_seed=shuffle_seed,
            )

        return self._fit_input(make, class_weight)

    def array_input(
        self,
        train: tuple[np.ndarray, np.ndarray],
        val: tuple[np.ndarray, np.ndarray],
        *,
        shuffle_seed: int,
        class_weight: Mapping[int, float] | None,
    ) -> dict[str, Any]:
        """`fit`'s data arguments for in-memory (features, labels) of this worker's shards."""
        if self.strategy is None:
            return {
                "x": train[0],
                "y": train[1],
                "validation_data": val,
                "batch_size": self.batch_size,
                "shuffle": True,  # seeded by make_reproducible
                "class_weight": class_weight,
            }

        def maker(examples: tuple[np.ndarray, np.ndarray], seed: int | None) -> Callable:
            count = len(examples[1])
            chosen = np.resize(np.arange(count), self._replica_safe_length(count))
            dataset = tf.data.Dataset.from_tensor_slices(tuple(part[chosen] for part in examples))
            if seed is not None:
                dataset = dataset.shuffle(len(chosen), seed=seed)
            return dataset.batch

        train_data, _ = self._fit_input(maker(train, shuffle_seed), class_weight)
        val_data, _ = self._fit_input(maker(val, None), None)
        return {"x": train_data, "validation_data": val_data, "shuffle": False}

    def _fit_input(
        self,
        make: Callable[[int], tf.data.Dataset],
        class_weight: Mapping[int, float] | None,
    ) -> tuple[Any, Mapping[int, float] | None]:
        """Without a strategy, `make(train.batch_size)` and the class weights. With one, a
        distributed dataset of `make(per-replica batch size)` on each worker, weighted by class
        there: Keras cannot apply class_weight to a distributed dataset."""
        if self.strategy is None:
            return make(self.batch_size), class_weight
        weights = None if class_weight is None else tf.constant([class_weight[0], class_weight[1]])

        def per_worker(context: tf.distribute.InputContext) -> tf.data.Dataset:
            dataset = make(context.get_per_replica_batch_size(self.batch_size))
            if weights is None:
                return dataset
            return dataset.map(lambda x, y: (x, y, tf.gather(weights, tf.cast(y, tf.int32))))

        return self.strategy.distribute_datasets_from_function(per_worker), None

    def _replica_safe_length(self, length: int) -> int:
        """`length`, raised until the last step leaves none of this worker's replicas empty."""
        per_replica = self.batch_size // self.replicas
        local_replicas = self.replicas // self.workers
        steps = math.ceil(length / (per_replica * local_replicas))
        return max(length, (steps * local_replicas - 1) * per_replica + 1)
