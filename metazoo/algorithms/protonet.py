"""Prototypical Networks (Snell, Swersky & Zemel, 2017)."""

from __future__ import annotations

import keras
from keras import ops

from metazoo.algorithms.base import embed_episode
from metazoo.algorithms.embedding import EmbeddingClassifier

# Logit of a class id that has no support example in the episode.
MISSING_CLASS_LOGIT = -1e9


def prototype_logits(support_embeddings, support_labels, query_embeddings):
    """Negative squared Euclidean distances from queries to class prototypes.

    Args:
        support_embeddings: `[episodes, support, dim]`.
        support_labels: int `[episodes, support]`, class ids in `0..support-1`.
        query_embeddings: `[episodes, queries, dim]`.

    Returns:
        float32 logits `[episodes, queries, support]`: one column per
        possible class id (as many as support examples, a static bound that
        keeps shapes XLA-friendly). Columns of class ids absent from the
        support set hold `MISSING_CLASS_LOGIT`, so with `ways` classes
        labelled `0..ways-1`, `logits[..., :ways]` are the real ones.
    """
    support_embeddings = ops.cast(support_embeddings, "float32")
    query_embeddings = ops.cast(query_embeddings, "float32")
    depth = support_labels.shape[-1] or ops.shape(support_labels)[-1]
    one_hot = ops.one_hot(support_labels, depth, dtype="float32")
    counts = ops.sum(one_hot, axis=1)  # [episodes, classes]
    prototypes = ops.einsum("bsk,bsd->bkd", one_hot, support_embeddings)
    prototypes /= ops.maximum(counts, 1.0)[..., None]
    diff = query_embeddings[:, :, None, :] - prototypes[:, None, :, :]
    logits = -ops.sum(ops.square(diff), axis=-1)
    present = (counts > 0)[:, None, :]
    return ops.where(present, logits, ops.cast(MISSING_CLASS_LOGIT, "float32"))


@keras.saving.register_keras_serializable(package="metazoo")
class PrototypicalNetwork(EmbeddingClassifier):
    """Classifies queries by the nearest class prototype (mean support embedding).

    `call((support_images, support_labels, query_images))` returns logits =
    negative squared Euclidean distance to each prototype; trained with
    cross-entropy on the queries through `fit`, evaluated with `evaluate`.
    Support and query images go through the backbone as one batch, as in
    Snell et al., so batch norm sees both.

    Args:
        backbone: keras.Model. Maps images `[n, H, W, C]` to embeddings `[n, d]`.
        augmentation: `None` (default, Snell et al.'s recipe), `"koch"` for
            Koch et al.'s random affine distortions (`RandomAffine()`), or any
            Keras layer; applied to every support and query image in
            training only, so `model(episode)` at inference is undistorted.
        preprocessing: `None` (default), `"center"` for `CenterInk()` (each
            drawing's ink moved to the middle by whole pixels), or any Keras
            layer; applied to every image, in training and at inference,
            before any augmentation.

    Example:
    ```python
    model = PrototypicalNetwork(Conv4())
    model.compile()
    model.fit(omniglot_episodes("train", ways=60, shots=5, queries=5),
              steps_per_epoch=100, epochs=1)
    ```

    References:
        Snell, Swersky & Zemel, "Prototypical Networks for Few-shot
        Learning", NeurIPS 2017.
    """

    def episode_logits(self, support, support_labels, query, training=False):
        support_emb, query_emb = embed_episode(self.embed, support, query, training)
        return prototype_logits(support_emb, support_labels, query_emb)
