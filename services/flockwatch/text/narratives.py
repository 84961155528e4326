"""Narratives: posts that say the same thing, in the same words (copypasta) or in paraphrase.

Online assignment, one post at a time, in input order:

1. **exact**: the same copy form (lowercase words; no URLs, mentions, punctuation, RT prefix);
2. **near copy**: MinHash LSH over word shingles of the copy form (estimated Jaccard ≥ ``jaccard``);
3. **paraphrase**: cosine of MiniLM embeddings to each narrative's exemplars ≥ ``cosine``
   (texts with at least ``min_paraphrase_words`` words only: short texts embed close to anything);
4. otherwise a **new** narrative, whose id is derived from its first member's copy-form hash.

Ids are stable: the same input gives the same ids in every run, and a saved state (``save``/``load``)
carries them across restarts, so a narrative keeps its id as new posts join it.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from flockwatch.text.normalize import copy_form, text_key

How = Literal["exact", "near_copy", "paraphrase", "new", "empty"]
STATE_VERSION = 1
# Pinned so a saved state never meets signatures of another scheme (datasketch >= 2.0 names them).
MINHASH_SCHEME = "affine32"


@dataclass(frozen=True)
class NarrativeConfig:
    num_perm: int = 128
    shingle_words: int = 2
    jaccard: float = 0.5
    cosine: float = 0.86
    min_paraphrase_words: int = 6
    max_exemplars: int = 8


@dataclass(frozen=True)
class Assignment:
    narrative_id: str | None  # None only for texts with no words at all
    how: How
    similarity: float  # 1.0 for exact; estimated Jaccard or cosine otherwise; 0.0 for new/empty


@dataclass
class NarrativeStats:
    narrative_id: str
    representative_text: str
    post_count: int = 0
    first_seen: str | None = None
    last_seen: str | None = None
    platforms: dict[str, int] = field(default_factory=dict)
    accounts: dict[str, int] = field(default_factory=dict)
    machine_posts: int = 0
    scored_posts: int = 0

    @property
    def machine_share(self) -> float | None:
        return self.machine_posts / self.scored_posts if self.scored_posts else None

    def as_document(self, max_accounts: int = 100) -> dict[str, Any]:
        top = Counter(self.accounts).most_common(max_accounts)
        return {
            "narrative_id": self.narrative_id,
            "representative_text": self.representative_text,
            "post_count": self.post_count,
            "first_seen": self.first_seen,
            "last_seen": self.last_seen,
            "platforms": dict(self.platforms),
            "account_count": len(self.accounts),
            "accounts": [a for a, _ in top],
            "machine_share": self.machine_share,
        }


def narrative_id_for(form: str) -> str:
    return "n-" + text_key(form)[:16]


def _shingles(form: str, k: int) -> list[bytes]:
    toks = form.split()
    if len(toks) < k:
        return [" ".join(toks).encode("utf-8")] if toks else []
    return [" ".join(toks[i : i + k]).encode("utf-8") for i in range(len(toks) - k + 1)]


class NarrativeIndex:
    """Assigns posts to narratives; keeps what it needs to continue after a restart."""

    def __init__(self, config: NarrativeConfig | None = None) -> None:
        from datasketch import MinHashLSH  # type: ignore[import-untyped, unused-ignore]

        self.config = config or NarrativeConfig()
        self._lsh = MinHashLSH(threshold=self.config.jaccard, num_perm=self.config.num_perm)
        self._exact: dict[str, str] = {}  # copy-form key -> narrative id
        self._signatures: dict[str, NDArray[np.uint64]] = {}  # copy-form key -> MinHash values (in the LSH)
        self._ex_ids: list[str] = []  # exemplar -> narrative id
        self._ex_vecs: list[NDArray[np.float32]] = []
        self._ex_count: Counter[str] = Counter()
        self.stats: dict[str, NarrativeStats] = {}

    def __len__(self) -> int:
        return len(self.stats)

    def _minhash(self, form: str) -> Any:
        from datasketch import MinHash  # type: ignore[import-untyped, unused-ignore]

        mh = MinHash(num_perm=self.config.num_perm, scheme=MINHASH_SCHEME)
        mh.update_batch(_shingles(form, self.config.shingle_words))
        return mh

    def assign(
        self,
        normalized: str,
        embedding: NDArray[np.float32] | None = None,
        *,
        raw: str | None = None,
        platform: str | None = None,
        account: str | None = None,
        created_at: datetime | None = None,
        machine: bool | None = None,
    ) -> Assignment:
        """Assign one post (normalised text, optional unit-norm embedding) and update the narrative's stats."""
        form = copy_form(normalized)
        if not form:
            return Assignment(None, "empty", 0.0)
        key = text_key(form)
        result = self._match(form, key, embedding)
        nid = result.narrative_id
        assert nid is not None
        if nid not in self.stats:
            self.stats[nid] = NarrativeStats(nid, (raw if raw is not None else normalized)[:1000])
        if key not in self._exact:
            self._exact[key] = nid
            mh = self._minhash(form)
            self._signatures[key] = mh.hashvalues
            self._lsh.insert(key, mh)
        if (
            embedding is not None
            and result.how in ("new", "near_copy")
            and len(form.split()) >= self.config.min_paraphrase_words
            and self._ex_count[nid] < self.config.max_exemplars
        ):
            self._ex_ids.append(nid)
            self._ex_vecs.append(np.asarray(embedding, dtype=np.float32))
            self._ex_count[nid] += 1
        self._observe(self.stats[nid], platform, account, created_at, machine)
        return result

    def _match(self, form: str, key: str, embedding: NDArray[np.float32] | None) -> Assignment:
        if key in self._exact:
            return Assignment(self._exact[key], "exact", 1.0)
        mh = self._minhash(form)
        best: tuple[float, str] | None = None
        for cand in self._lsh.query(mh):
            sim = float(np.mean(self._signatures[cand] == mh.hashvalues))
            nid = self._exact[cand]
            if sim >= self.config.jaccard and (best is None or (sim, nid) > best):
                best = (sim, nid)
        if best is not None:
            return Assignment(best[1], "near_copy", round(best[0], 4))
        if embedding is not None and self._ex_vecs and len(form.split()) >= self.config.min_paraphrase_words:
            sims = np.stack(self._ex_vecs) @ np.asarray(embedding, dtype=np.float32)
            i = int(np.argmax(sims))
            if sims[i] >= self.config.cosine:
                return Assignment(self._ex_ids[i], "paraphrase", round(float(sims[i]), 4))
        return Assignment(narrative_id_for(form), "new", 0.0)

    @staticmethod
    def _observe(
        stats: NarrativeStats,
        platform: str | None,
        account: str | None,
        created_at: datetime | None,
        machine: bool | None,
    ) -> None:
        stats.post_count += 1
        if platform:
            stats.platforms[platform] = stats.platforms.get(platform, 0) + 1
        if account:
            stats.accounts[account] = stats.accounts.get(account, 0) + 1
        if created_at is not None:
            when = created_at.isoformat()
            stats.first_seen = min(stats.first_seen or when, when)
            stats.last_seen = max(stats.last_seen or when, when)
        if machine is not None:
            stats.scored_posts += 1
            stats.machine_posts += int(machine)

    # --- persistence ----------------------------------------------------------------------------

    def save(self, folder: Path) -> None:
        """Write the state into ``folder`` (atomic per file): JSON for ids and stats, npz for vectors."""
        folder.mkdir(parents=True, exist_ok=True)
        keys = list(self._signatures)
        sigs = np.stack([self._signatures[k] for k in keys]) if keys else np.zeros((0, self.config.num_perm))
        vecs = np.stack(self._ex_vecs) if self._ex_vecs else np.zeros((0, 0), dtype=np.float32)
        meta = {
            "version": STATE_VERSION,
            "config": asdict(self.config),
            "exact": self._exact,
            "signature_keys": keys,
            "exemplar_ids": self._ex_ids,
            "stats": [asdict(s) for s in self.stats.values()],
        }
        _atomic_npz(folder / "narratives.npz", signatures=sigs.astype(np.uint64), exemplars=vecs)
        tmp = folder / f"narratives.json.tmp{os.getpid()}"
        tmp.write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, folder / "narratives.json")

    @classmethod
    def load(cls, folder: Path, config: NarrativeConfig | None = None) -> NarrativeIndex:
        """A saved state, or an empty index when ``folder`` holds none; a saved config wins over ``config``."""
        meta_path = folder / "narratives.json"
        if not meta_path.exists():
            return cls(config)
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if meta.get("version") != STATE_VERSION:
            raise ValueError(f"narrative state version {meta.get('version')!r}; this build reads {STATE_VERSION}")
        index = cls(NarrativeConfig(**meta["config"]))
        with np.load(folder / "narratives.npz") as arrays:
            sigs, vecs = arrays["signatures"], arrays["exemplars"]
        from datasketch import MinHash  # type: ignore[import-untyped, unused-ignore]

        index._exact = dict(meta["exact"])
        for key, values in zip(meta["signature_keys"], sigs, strict=True):
            mh = MinHash(num_perm=index.config.num_perm, hashvalues=values, scheme=MINHASH_SCHEME)
            index._signatures[key] = mh.hashvalues
            index._lsh.insert(key, mh)
        index._ex_ids = list(meta["exemplar_ids"])
        index._ex_vecs = [np.asarray(v, dtype=np.float32) for v in vecs]
        index._ex_count = Counter(index._ex_ids)
        index.stats = {s["narrative_id"]: NarrativeStats(**s) for s in meta["stats"]}
        return index


def _atomic_npz(path: Path, **arrays: NDArray[Any]) -> None:
    tmp = path.with_name(path.name + f".tmp{os.getpid()}.npz")
    np.savez(tmp, **arrays)  # type: ignore[arg-type]
    os.replace(tmp, path)


def assign_all(
    index: NarrativeIndex, texts: Sequence[str], embeddings: NDArray[np.float32] | None = None
) -> list[Assignment]:
    """Assign normalised texts in order (embeddings row-aligned, or None for copies only)."""
    return [index.assign(t, None if embeddings is None else embeddings[i]) for i, t in enumerate(texts)]
