"""Lake et al.'s non-learned baseline: nearest neighbour under the modified Hausdorff distance.

Its error on the official runs is known (38.8%), so it checks a copy of
those runs and measures how hard built runs are.
"""

from __future__ import annotations

import numpy as np

# Error rate of Lake's own baseline, nearest neighbour under the modified Hausdorff
# distance, on the official runs: the figure `demo_classification.py` of
# brendenlake/omniglot (python/one-shot-classification/) says it prints. `ModifiedHausdorff`
# is the same classifier, so scoring it on a copy of the official runs checks that they
# were read correctly.
MODIFIED_HAUSDORFF_OFFICIAL_ERROR = 0.388


def ink_points(image: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """The inked pixels of one image as `(row, column)` points, centred on their mean.

    Lake et al.'s baseline reads each 105x105 drawing this way (ink = black
    pixels); in metazoo's convention ink is 1, so a pixel is ink when it is
    at least `threshold`.

    Args:
        image: array `[H, W]` or `[H, W, 1]` in [0, 1], ink = 1.
        threshold: float. Smallest value counted as ink.

    Returns:
        float64 `[n, 2]`, the n ink pixels minus their mean.

    Raises:
        ValueError: the image is not one grey-scale image, or has no ink.
    """
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.ndim != 2:
        raise ValueError(
            f"ink_points takes one [H, W] or [H, W, 1] image. Received: shape={image.shape}"
        )
    points = np.argwhere(image >= threshold).astype(np.float64)
    if not len(points):
        raise ValueError(
            f"The image has no ink (no pixel >= {threshold}); the modified Hausdorff "
            "distance needs at least one inked pixel."
        )
    return points - points.mean(axis=0)


def modified_hausdorff_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Dubuisson & Jain's (1994) modified Hausdorff distance of two point sets.

    The larger of the two directed mean distances: the mean, over the points
    of `a`, of the distance to the nearest point of `b`, and the same from
    `b` to `a`. Symmetric, and zero only for equal sets.

    Args:
        a: `[n, d]` points (e.g. `ink_points(image)`).
        b: `[m, d]` points.
    """
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    for points in (a, b):
        if points.ndim != 2 or not len(points):
            raise ValueError(
                f"Point sets must be non-empty [n, d] arrays. Received: shape={points.shape}"
            )
    return float(_modified_hausdorff_matrix([a], [b])[0, 0])


def _modified_hausdorff_matrix(queries: list[np.ndarray], supports: list[np.ndarray]) -> np.ndarray:
    """`[Q, S]` modified Hausdorff distances of non-empty point sets.

    Nearest points come from k-d trees when SciPy is installed (JAX brings
    it; about 8x faster on 105x105 drawings of ~700 ink pixels), else from
    one matrix product per query (`_dense_modified_hausdorff_matrix`); the
    two agree to round-off (1e-12).
    """
    try:
        from scipy.spatial import cKDTree
    except ImportError:
        return _dense_modified_hausdorff_matrix(queries, supports)

    def mean_nearest(sources: list[np.ndarray], targets: list[np.ndarray]) -> np.ndarray:
        # [len(targets), len(sources)]: over each source set, the mean distance of its points
        # to the nearest point of each target set.
        sizes = np.array([len(points) for points in sources])
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        stacked = np.concatenate(sources)
        return np.stack(
            [np.add.reduceat(cKDTree(t).query(stacked)[0], starts) / sizes for t in targets]
        )

    query_to_support = mean_nearest(queries, supports).T
    support_to_query = mean_nearest(supports, queries)
    return np.maximum(query_to_support, support_to_query)


def _dense_modified_hausdorff_matrix(
    queries: list[np.ndarray], supports: list[np.ndarray]
) -> np.ndarray:
    """`_modified_hausdorff_matrix` without SciPy: a matrix product a query."""
    sizes = np.array([len(s) for s in supports])
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    stacked = np.concatenate(supports)
    stacked_sq = np.sum(stacked**2, axis=1)
    distances = np.empty((len(queries), len(supports)))
    for i, query in enumerate(queries):
        squared = np.sum(query**2, axis=1)[:, None] + stacked_sq[None, :] - 2.0 * query @ stacked.T
        np.maximum(squared, 0.0, out=squared)  # round-off below zero
        # Query -> support: each query point's nearest point of each support set.
        query_to_support = np.sqrt(np.minimum.reduceat(squared, starts, axis=1)).mean(axis=0)
        # Support -> query: each support point's nearest query point, averaged per set.
        support_to_query = np.add.reduceat(np.sqrt(squared.min(axis=0)), starts) / sizes
        distances[i] = np.maximum(query_to_support, support_to_query)
    return distances


class ModifiedHausdorff:
    """Lake et al.'s baseline: nearest neighbour under the modified Hausdorff distance.

    No learning: each image becomes its centred ink points (`ink_points`)
    and a query goes to the class of the nearest support image under
    `modified_hausdorff_distance`. It is the classifier of
    `demo_classification.py` in brendenlake/omniglot, which reports 38.8%
    error on the official runs (`MODIFIED_HAUSDORFF_OFFICIAL_ERROR`), so
    scoring it on a copy of those runs checks that they were read correctly,
    and scoring it on built runs says how hard they are next to the official
    ones. It takes episodes like metazoo's models, at 105x105 (the runs' own
    size: resizing would blur the ink it counts), so `score_lake_runs`,
    `lake_record` and `metazoo lake-runs baseline` score it like a preset.

    Example:
    ```python
    runs = read_lake_runs("all_runs.zip", image_size=105)
    score_lake_runs(ModifiedHausdorff(), runs)  # 61.2% right on the official runs
    ```

    References:
        Dubuisson & Jain, "A modified Hausdorff distance for object
        matching", ICPR 1994; Lake, Salakhutdinov & Tenenbaum, Science 2015.
    """

    name = "modified_hausdorff"
    image_shape = (105, 105, 1)

    def __call__(self, inputs, training: bool = False) -> np.ndarray:
        """`(support_images, support_labels, query_images)` -> logits (minus the distances).

        Accepts one episode (support `[S, H, W, 1]`, labels `[S]` in
        `0..ways-1`, queries `[Q, H, W, 1]`; logits `[Q, ways]`) or a batch
        of them (one more leading axis everywhere).
        """
        del training  # nothing to train
        support, labels, query = (np.asarray(x) for x in inputs)
        if support.ndim == 4:
            return self((support[None], labels[None], query[None]))[0]
        if (
            support.ndim != 5
            or query.ndim != 5
            or labels.shape != support.shape[:2]
            or len(query) != len(support)
        ):
            raise ValueError(
                "ModifiedHausdorff takes (support [S, H, W, 1], labels [S], query [Q, H, W, 1]), "
                "or a batch of them. Received shapes: "
                f"{support.shape}, {labels.shape}, {query.shape}"
            )
        labels = labels.astype(np.int64)
        ways = int(labels.max()) + 1
        if labels.min() < 0 or any(set(np.unique(row)) != set(range(ways)) for row in labels):
            raise ValueError(
                f"Support labels must be 0..ways-1, each at least once. Received: {labels.tolist()}"
            )
        logits = np.empty((len(support), query.shape[1], ways), np.float32)
        for e, (images, episode_labels, queries) in enumerate(
            zip(support, labels, query, strict=True)
        ):
            distances = _modified_hausdorff_matrix(
                [ink_points(x) for x in queries], [ink_points(x) for x in images]
            )
            # A class's distance is that of its nearest support image (1-shot: its only one).
            for c in range(ways):
                logits[e, :, c] = -distances[:, episode_labels == c].min(axis=1)
        return logits
