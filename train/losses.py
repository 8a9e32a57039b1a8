"""The training objectives, each a few lines with its formula."""
from __future__ import annotations

import keras
from keras import ops


def contrastive(margin: float = 1.0):
    """Contrastive loss (Hadsell, Chopra, LeCun 2006), y = 1 for the same person:

        L = y * d^2 + (1 - y) * max(margin - d, 0)^2
    """
    def loss(y_true, d):
        y = ops.cast(y_true, d.dtype)
        return ops.mean(y * ops.square(d) + (1 - y) * ops.square(ops.maximum(margin - d, 0)))
    return loss


def _distances(e):
    e = ops.normalize(e, axis=-1, order=2)
    sq = 2.0 - 2.0 * ops.matmul(e, ops.transpose(e))
    return ops.sqrt(ops.maximum(sq, 1e-12))


def triplet(margin: float = 0.3, mining: str = "batch-hard"):
    """Triplet loss on a batch of P people x K faces: L = max(d(a,p) - d(a,n) + margin, 0).

    ``batch-hard`` (Hermans et al. 2017): per anchor the farthest positive and the
    nearest negative. ``semi-hard`` (FaceNet): per anchor-positive pair the nearest
    negative farther than the positive, else the farthest negative.
    """
    def loss(y_true, e):
        y = ops.reshape(ops.cast(y_true, "int32"), (-1,))
        d = _distances(e)
        same = ops.cast(ops.equal(y[:, None], y[None, :]), d.dtype)
        eye = ops.eye(ops.shape(y)[0], dtype=d.dtype)
        pos, neg = same - eye, 1.0 - same
        big = 1e4
        if mining == "batch-hard":
            hardest_pos = ops.max(d * pos, axis=1)
            hardest_neg = ops.min(d + big * (1.0 - neg), axis=1)
            return ops.mean(ops.maximum(hardest_pos - hardest_neg + margin, 0.0))
        # semi-hard: for every (anchor, positive) the easiest violating negative
        dap = d[:, :, None]                     # anchor, positive
        dan = d[:, None, :]                     # anchor, negative
        semi = ops.cast(dan > dap, d.dtype) * neg[:, None, :]
        nearest_semi = ops.min(dan + big * (1.0 - semi), axis=2)
        farthest_neg = ops.max(dan * neg[:, None, :], axis=2)
        chosen = ops.where(ops.sum(semi, axis=2) > 0, nearest_semi, farthest_neg)
        per_pair = ops.maximum(d - chosen + margin, 0.0) * pos
        return ops.sum(per_pair) / ops.maximum(ops.sum(pos), 1.0)
    return loss


class CosFace(keras.layers.Layer):
    """Additive-margin softmax head (CosFace, Wang et al. 2018) on the embedding:

        logit_j = s * (cos(theta_j) - m * [j == y]),   cos(theta_j) = <e/|e|, W_j/|W_j|>

    Trained with cross-entropy; dropped after training (only the branch is exported).
    """

    def __init__(self, classes, scale=30.0, margin=0.35, **kwargs):
        super().__init__(**kwargs)
        self.classes, self.scale, self.margin = classes, scale, margin

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[0][-1], self.classes),
                                 initializer="glorot_uniform", name="centres")

    def call(self, inputs):
        e, y = inputs
        cos = ops.matmul(ops.normalize(e, axis=-1), ops.normalize(self.w, axis=0))
        onehot = ops.one_hot(ops.reshape(ops.cast(y, "int32"), (-1,)), self.classes)
        return self.scale * (cos - self.margin * onehot)

    def get_config(self):
        return {**super().get_config(), "classes": self.classes, "scale": self.scale,
                "margin": self.margin}
