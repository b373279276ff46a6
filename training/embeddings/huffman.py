"""Huffman tree over word counts, for hierarchical softmax.

Built as in word2vec.c: the two least frequent nodes are merged repeatedly
(two queues: leaves sorted by count, inner nodes in creation order, so it runs
in O(V log V) for the sort and O(V) for the merges). Leaf ``w`` is word id
``w``; inner node ``V + k`` is row ``k`` of the output matrix ``syn1`` (V - 1
rows). For each word the path from the root is given as

- ``points[w, :lengths[w]]``: the inner nodes (syn1 rows) on the path,
- ``codes[w, :lengths[w]]``: the branch taken at each (0 or 1),

padded with zeros to the longest code. Frequent words get short codes.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class HuffmanTree:
    """Padded paths: ``codes`` (uint8) and ``points`` (int32) of shape (V, max_len), ``lengths`` (int32)."""

    codes: np.ndarray
    points: np.ndarray
    lengths: np.ndarray

    @property
    def max_length(self) -> int:
        return int(self.codes.shape[1])

    def code(self, word_id: int) -> str:
        """The code of one word as a string of 0/1, root first."""
        return "".join(str(int(b)) for b in self.codes[word_id, : self.lengths[word_id]])

    def path(self, word_id: int) -> list[int]:
        return [int(p) for p in self.points[word_id, : self.lengths[word_id]]]


def build_huffman(counts: np.ndarray) -> HuffmanTree:
    """Build the tree for ``counts`` (any order; ties broken by word id)."""
    counts = np.asarray(counts, dtype=np.int64)
    n = len(counts)
    if n < 2:
        return HuffmanTree(np.zeros((n, 0), np.uint8), np.zeros((n, 0), np.int32), np.zeros(n, np.int32))
    leaves = np.argsort(counts, kind="stable").tolist()  # ascending
    weight = counts.tolist() + [0] * (n - 1)
    parent = [0] * (2 * n - 1)
    branch = np.zeros(2 * n - 1, dtype=np.uint8)
    li, ii = 0, n  # fronts of the leaf queue and of the inner-node queue
    for nxt in range(n, 2 * n - 1):
        pair = []
        for _ in range(2):
            if li < n and (ii >= nxt or weight[leaves[li]] <= weight[ii]):
                pair.append(leaves[li])
                li += 1
            else:
                pair.append(ii)
                ii += 1
        a, b = pair
        weight[nxt] = weight[a] + weight[b]
        parent[a] = parent[b] = nxt
        branch[b] = 1
    root = 2 * n - 2
    # Depth of every node, from the root down (inner nodes were created in order, root last).
    depth = [0] * (2 * n - 1)
    for node in range(root - 1, -1, -1):
        depth[node] = depth[parent[node]] + 1
    lengths = np.asarray(depth[:n], dtype=np.int32)
    parent = np.asarray(parent, dtype=np.int64)
    max_len = int(lengths.max())
    codes = np.zeros((n, max_len), dtype=np.uint8)
    points = np.zeros((n, max_len), dtype=np.int32)
    node = np.arange(n)
    pos = lengths.astype(np.int64) - 1  # fill from the leaf end towards the root
    rows = np.arange(n)
    while True:
        active = pos >= 0
        if not active.any():
            break
        r, nd = rows[active], node[active]
        codes[r, pos[active]] = branch[nd]
        points[r, pos[active]] = parent[nd] - n
        node[active] = parent[nd]
        pos[active] -= 1
    return HuffmanTree(codes=codes, points=points, lengths=lengths)
