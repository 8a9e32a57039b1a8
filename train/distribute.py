"""Training at scale: batches through ``tf.data``, and the strategy that spreads the work.

Strategies (``siamese-train fit --strategy``):

- ``default``: one process, every local core;
- ``mirrored``: one process, one replica per local GPU (``tf.distribute.MirroredStrategy``);
- ``multi-worker``: one process per machine (or per worker on one machine), described by
  the ``TF_CONFIG`` environment variable, gradients all-reduced between them
  (``tf.distribute.MultiWorkerMirroredStrategy``). Every worker runs the same command;
  worker 0 (the chief) writes the model, the others write nothing.

Batches are drawn at random on the fly (``train.batches``); each worker draws its own
from its own seed, and ``tf.data`` prefetches them while the previous step trains.
"""
from __future__ import annotations

import contextlib
import json
import os

import numpy as np

STRATEGIES = ("default", "mirrored", "multi-worker")


def worker() -> tuple[int, int]:
    """(this worker's index, number of workers) from ``TF_CONFIG``; (0, 1) without it."""
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        return 0, 1
    try:
        config = json.loads(raw)
        workers = len(config["cluster"]["worker"])
        task = config["task"]
        index = int(task["index"]) if task.get("type", "worker") == "worker" else 0
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"TF_CONFIG is not a valid cluster description ({exc})") from None
    return index, workers


def is_chief() -> bool:
    return worker()[0] == 0


def strategy(name: str):
    """The ``tf.distribute`` strategy by name (None for ``default``)."""
    if name not in STRATEGIES:
        raise ValueError(f"unknown strategy {name!r} (known: {', '.join(STRATEGIES)})")
    if name == "default":
        return None
    import tensorflow as tf

    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if "TF_CONFIG" not in os.environ:
        raise ValueError("--strategy multi-worker needs TF_CONFIG describing the workers "
                         '(e.g. {"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
                         '"task": {"type": "worker", "index": 0}})')
    return tf.distribute.MultiWorkerMirroredStrategy()


def scope(strat):
    return strat.scope() if strat is not None else contextlib.nullcontext()


def prepare_model(model, strat, first_batch):
    """Build ``model`` (compiled, under ``strat``'s scope) for ``fit`` with a multi-worker
    strategy. Keras 3's ``fit`` reduces the first batch across workers to learn its
    shapes and fails on nested batches (keras-team/keras#20585, tensorflow#72388); the
    model is built here from the first batch's shapes instead, and that step skipped.
    Its reduction of the logged loss across workers fails on a scalar too (it means over
    axis 0): under this strategy each worker logs its own loss instead; the gradients are
    all-reduced by the optimizer as always. The two-worker test proves both still hold.
    """
    import tensorflow as tf

    if not isinstance(strat, tf.distribute.MultiWorkerMirroredStrategy):
        return
    with strat.scope():
        model._symbolic_build(data_batch=first_batch)
    model._maybe_symbolic_build = lambda iterator=None, data_batch=None: None
    from keras.src.backend.tensorflow import trainer

    if not getattr(trainer.reduce_per_replica, "per_worker", False):
        reduce = trainer.reduce_per_replica

        def per_worker(values, strategy, reduction="auto"):
            if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
                return tf.nest.map_structure(
                    lambda v: strategy.experimental_local_results(v)[0]
                    if isinstance(v, tf.distribute.DistributedValues) else v, values)
            return reduce(values, strategy, reduction)

        per_worker.per_worker = True
        trainer.reduce_per_replica = per_worker


def as_dataset(batches):
    """An endless ``tf.data`` pipeline over a batch drawer (a ``keras.utils.PyDataset`` whose
    items are random draws), prefetched. Each worker keeps its whole pipeline (no
    auto-sharding): its drawer is seeded apart from the others'."""
    import tensorflow as tf

    first = batches[0]

    def spec(a):
        a = np.asarray(a)
        return tf.TensorSpec((None, *a.shape[1:]), tf.as_dtype(a.dtype))

    def draw():
        yield first
        while True:
            yield batches[0]

    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
    data = tf.data.Dataset.from_generator(draw, output_signature=tf.nest.map_structure(spec, first))
    return data.with_options(options).prefetch(tf.data.AUTOTUNE)
