"""Merkle tree hashes, inclusion and consistency proofs as RFC 9162 (Certificate
Transparency 2.0) §2.1 defines them, over a hash algorithm chosen by configuration:
SHA-256 (the RFC's) or SM3 (GB/T 32905, for deployments that must use national
cryptography). Both come from ``cryptography`` (OpenSSL), already a dependency.

Written here rather than taken from a package: no maintained PyPI package implements
RFC 9162's proof formats over a pluggable hash and leaf store (``pymerkle`` uses its own
proof format, ``merkle`` is unmaintained since 2017), and the algorithms are short. The
tests check them against the reference vectors of the CT implementations.

Leaves are indexed from 0; a tree of ``size`` leaves is the first ``size`` leaf hashes.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

from cryptography.hazmat.primitives import hashes


class HashAlgorithm(StrEnum):
    SHA256 = "sha256"
    SM3 = "sm3"

    def digest(self, data: bytes) -> bytes:
        hasher = hashes.Hash(hashes.SHA256() if self is HashAlgorithm.SHA256 else hashes.SM3())
        hasher.update(data)
        return hasher.finalize()

    def leaf_hash(self, leaf_data: bytes) -> bytes:
        """HASH(0x00 || d), RFC 9162 §2.1.1."""
        return self.digest(b"\x00" + leaf_data)

    def node_hash(self, left: bytes, right: bytes) -> bytes:
        """HASH(0x01 || left || right)."""
        return self.digest(b"\x01" + left + right)


def _split(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    k = 1
    while k << 1 < n:
        k <<= 1
    return k


def root(alg: HashAlgorithm, leaves: Sequence[bytes]) -> bytes:
    """MTH(D[n]) over leaf hashes (the empty tree's is HASH of nothing)."""
    if not leaves:
        return alg.digest(b"")
    level = list(leaves)
    # Bottom-up pairing gives the same tree as the RFC's left-balanced split.
    while len(level) > 1:
        paired = [alg.node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


def inclusion_proof(alg: HashAlgorithm, leaves: Sequence[bytes], index: int) -> list[bytes]:
    """PATH(m, D[n]): the audit path of leaf ``index`` in the tree of ``leaves``."""
    if not 0 <= index < len(leaves):
        raise ValueError(f"leaf {index} is not in a tree of {len(leaves)}")
    if len(leaves) == 1:
        return []
    k = _split(len(leaves))
    if index < k:
        return [*inclusion_proof(alg, leaves[:k], index), root(alg, leaves[k:])]
    return [*inclusion_proof(alg, leaves[k:], index - k), root(alg, leaves[:k])]


def consistency_proof(alg: HashAlgorithm, leaves: Sequence[bytes], old_size: int) -> list[bytes]:
    """PROOF(m, D[n]): that the tree of the first ``old_size`` leaves is a prefix of ``leaves``."""
    if not 0 < old_size <= len(leaves):
        raise ValueError(f"no consistency proof from {old_size} to {len(leaves)}")
    return _subproof(alg, leaves, old_size, True)


def _subproof(alg: HashAlgorithm, leaves: Sequence[bytes], m: int, whole: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if whole else [root(alg, leaves)]
    k = _split(n)
    if m <= k:
        return [*_subproof(alg, leaves[:k], m, whole), root(alg, leaves[k:])]
    return [*_subproof(alg, leaves[k:], m - k, False), root(alg, leaves[:k])]


def verify_inclusion(
    alg: HashAlgorithm, leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root_hash: bytes
) -> bool:
    """RFC 9162 §2.1.3.2: does ``proof`` place ``leaf_hash`` at ``index`` of the tree of
    ``size`` leaves whose head is ``root_hash``?"""
    if not 0 <= index < size:
        return False
    fn, sn, r = index, size - 1, leaf_hash
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = alg.node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = alg.node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root_hash


def verify_consistency(
    alg: HashAlgorithm, old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 §2.1.4.2: does ``proof`` show the tree of ``new_size`` (head ``new_root``)
    extends the tree of ``old_size`` (head ``old_root``)?"""
    if not 0 < old_size <= new_size:
        return False
    if old_size == new_size:
        return not proof and old_root == new_root
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # a power of two: the old root is the first node
        path.insert(0, old_root)
    if not path:
        return False
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = alg.node_hash(c, fr)
            sr = alg.node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = alg.node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == old_root and sr == new_root


class MerkleAccumulator:
    """The head of a growing tree in O(log n) memory: the roots of its perfect subtrees,
    largest first (a compact range), so a verifier streaming the log can compare each
    signed head as it passes its size."""

    def __init__(self, alg: HashAlgorithm) -> None:
        self.alg = alg
        self.size = 0
        self._stack: list[tuple[int, bytes]] = []  # (leaf count, subtree root)

    def append(self, leaf_hash: bytes) -> None:
        node = (1, leaf_hash)
        while self._stack and self._stack[-1][0] == node[0]:
            count, left = self._stack.pop()
            node = (count * 2, self.alg.node_hash(left, node[1]))
        self._stack.append(node)
        self.size += 1

    def root(self) -> bytes:
        if not self._stack:
            return self.alg.digest(b"")
        result = self._stack[-1][1]
        for _count, left in reversed(self._stack[:-1]):
            result = self.alg.node_hash(left, result)
        return result
