"""RFC 9162 Merkle tree heads and proofs against the reference vectors of the CT
implementations (the 8 leaves below and their published roots and proofs)."""

from __future__ import annotations

import random

import pytest

from services.infra.merkle import (
    HashAlgorithm,
    MerkleAccumulator,
    consistency_proof,
    inclusion_proof,
    root,
    verify_consistency,
    verify_inclusion,
)

SHA = HashAlgorithm.SHA256
DATA = [
    bytes.fromhex(h)
    for h in ("", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f")
]
LEAVES = [SHA.leaf_hash(d) for d in DATA]
ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
# (leaf index, tree size, audit path)
INCLUSION = [
    (0, 1, []),
    (
        0,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (
        1,
        5,
        [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]
# (old size, new size, proof)
CONSISTENCY = [
    (1, 1, []),
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]


def test_roots_match_the_reference_heads() -> None:
    for size, expected in enumerate(ROOTS):
        assert root(SHA, LEAVES[:size]).hex() == expected, f"size {size}"


@pytest.mark.parametrize(("index", "size", "path"), INCLUSION)
def test_inclusion_proofs_match_the_reference(index: int, size: int, path: list[str]) -> None:
    proof = inclusion_proof(SHA, LEAVES[:size], index)
    assert [p.hex() for p in proof] == path
    head = bytes.fromhex(ROOTS[size])
    assert verify_inclusion(SHA, LEAVES[index], index, size, proof, head)
    assert not verify_inclusion(SHA, LEAVES[(index + 1) % 8], index, size, proof, head) or size == 1


@pytest.mark.parametrize(("old", "new", "path"), CONSISTENCY)
def test_consistency_proofs_match_the_reference(old: int, new: int, path: list[str]) -> None:
    proof = consistency_proof(SHA, LEAVES[:new], old)
    assert [p.hex() for p in proof] == path
    assert verify_consistency(SHA, old, new, bytes.fromhex(ROOTS[old]), bytes.fromhex(ROOTS[new]), proof)


@pytest.mark.parametrize("alg", list(HashAlgorithm))
def test_every_proof_of_every_shape_verifies_and_a_changed_one_fails(alg: HashAlgorithm) -> None:
    rng = random.Random(9162)
    leaves = [alg.leaf_hash(rng.randbytes(rng.randint(0, 12))) for _ in range(19)]
    for size in range(1, len(leaves) + 1):
        head = root(alg, leaves[:size])
        for index in range(size):
            proof = inclusion_proof(alg, leaves[:size], index)
            assert verify_inclusion(alg, leaves[index], index, size, proof, head)
            assert not verify_inclusion(alg, alg.leaf_hash(b"forged"), index, size, proof, head)
        for old in range(1, size + 1):
            proof = consistency_proof(alg, leaves[:size], old)
            old_head = root(alg, leaves[:old])
            assert verify_consistency(alg, old, size, old_head, head, proof)
            if old < size:
                assert not verify_consistency(alg, old, size, alg.digest(b"other"), head, proof)


def test_sm3_is_the_national_standard_hash() -> None:
    # GB/T 32905-2016, appendix A.1: SM3("abc").
    assert HashAlgorithm.SM3.digest(b"abc").hex() == "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"


def test_the_accumulated_head_equals_the_tree_head_at_every_size() -> None:
    acc = MerkleAccumulator(SHA)
    assert acc.root().hex() == ROOTS[0]
    for size, leaf in enumerate(LEAVES, start=1):
        acc.append(leaf)
        assert acc.root().hex() == ROOTS[size]
    more = [SHA.leaf_hash(bytes([i])) for i in range(40)]
    for i, leaf in enumerate(more):
        acc.append(leaf)
        assert acc.root() == root(SHA, [*LEAVES, *more[: i + 1]])
