"""Narratives: posts that say the same thing, in the same words (copypasta) or in paraphrase.

Online assignment, one post at a time, in input order:

1. **exact**: the same copy form (lowercase words; no URLs, mentions, punctuation, RT prefix);
2. **near copy**: MinHash LSH over word shingles of the copy form (estimated Jaccard ≥ ``jaccard``);
3. **paraphrase**: cosine of MiniLM embeddings to the nearest narrative exemplar ≥ ``cosine``
   (texts with at least ``min_paraphrase_words`` words only: short texts embed close to anything), found by
   an HNSW search (:mod:`flockwatch.text.exemplar_bank`: approximate, deterministic, about log n per post);
4. otherwise a **new** narrative, whose id is derived from its first member's copy-form hash.

Ids are stable: the same input gives the same ids in every run, and a saved state (``save``/``load``)
carries them across restarts, so a narrative keeps its id as new posts join it.

**Bounded memory for the stream** (``generation_forms``): every distinct copy form costs about 11 KiB (MinHash
LSH bands, signature, exemplar; ``python -m bench.narrative_memory``), so a stream of distinct posts would grow
the index without end. The index therefore keeps two *generations* of copy forms (and exemplars): new ones go
into the current generation; once it holds ``generation_forms`` forms the previous generation is dropped and a
new one starts. A post that matches the previous generation copies what it matched into the current one (its
copy form, and its narrative's exemplars): a narrative that keeps getting posts is never forgotten, one silent
for two generations is. A forgotten narrative's repeats found a new narrative, whose id is its first form's hash
again (so an exact repeat of a founding post gets the old id back). Rotation depends only on the sequence of
changes, so a replayed journal rotates where the original run did. ``None`` keeps everything (batch runs).

**Persistence for the stream** (``commit``): a snapshot (``narratives.json`` + the npz it names) plus an
append-only journal (``journal.jsonl``) of what changed since: new copy forms (key, id, form, first post) and
new exemplars. A commit appends and fsyncs only the batch's changes, so its cost does not grow with the state;
every ``snapshot_every`` journal lines the snapshot is rewritten and the journal emptied. Journal lines carry
a sequence number, so lines a snapshot already holds are skipped, and a torn last line (a crash mid-write)
is dropped: the batch it belonged to never produced its outputs.

**Replays give the same answers.** Once a post's assignment is committed, its copy form maps to its
narrative for as long as the index holds the form (for good without generations), and the first post of each
copy form is remembered by ``item_id``: the same post seen again (a batch redelivered after a crash) gets the
same id *and* the same ``how``, and its stats are not counted twice. A batch whose commit never happened
produced no outputs (the caller commits before it emits), so assigning it again from the older state
contradicts nothing anyone saw. With generations, a replay of more distinct forms than a generation holds can
push out forms it has not reached yet: those posts may then found new narratives (a redelivered batch is far
smaller than a generation).

**Paraphrase threshold** (``cosine``): chosen by ``bench/narratives.py`` on real IRA 2016 posts
(docs/benchmarks.md, "Narrative paraphrase threshold"), which prints every figure: edited copies of the same
message (MinHash Jaccard ≥ ``jaccard``, different copy forms) vs each post's nearest *unrelated* post (Jaccard
< 0.2) in a bank of thousands. The posts are split by account into a part that chooses (the lowest grid
threshold whose unrelated-neighbour rate stays within the bench's false-merge budget) and a part that reports
edited-copy recall and the unrelated-neighbour rate at it; the unrelated pairs above it are mostly the same
story reworded, i.e. right merges.
"""

from __future__ import annotations

import base64
import json
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from flockwatch.text.canonical import copy_form, text_key
from flockwatch.text.exemplar_bank import BankKind, ExemplarBank

How = Literal["exact", "near_copy", "paraphrase", "new", "empty"]
STATE_VERSION = 2  # 1: one generation, no "generations" list (still read)
JOURNAL = "journal.jsonl"
DIM = 384  # MiniLM sentence embeddings
# Pinned so a saved state never meets signatures of another scheme (datasketch >= 2.0 names them).
MINHASH_SCHEME = "affine32"


@dataclass(frozen=True)
class NarrativeConfig:
    num_perm: int = 128
    shingle_words: int = 2
    jaccard: float = 0.5
    cosine: float = 0.86  # bench/narratives.py: chosen on its choose part, reported on its report part
    min_paraphrase_words: int = 6
    max_exemplars: int = 8
    exemplar_bank: BankKind = "hnsw"  # "flat": exact search, O(exemplars) per post (benches compare the two)
    generation_forms: int | None = None  # copy forms per generation before the oldest is dropped; None: never


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


class _Generation:
    """One generation of the index: copy forms (exact map, MinHash LSH, first posts) and exemplars."""

    def __init__(self, config: NarrativeConfig) -> None:
        from datasketch import MinHashLSH  # type: ignore[import-untyped, unused-ignore]

        self.lsh = MinHashLSH(threshold=config.jaccard, num_perm=config.num_perm)
        self.exact: dict[str, str] = {}  # copy-form key -> narrative id
        # copy-form key -> (item id, how, similarity) of the first post with that form: a replay answers the same
        self.first: dict[str, tuple[str, How, float]] = {}
        self.signatures: dict[str, NDArray[np.uint64]] = {}  # copy-form key -> MinHash values (in the LSH)
        self.bank = ExemplarBank(DIM, config.exemplar_bank)
        self.exemplar_rows: dict[str, list[int]] = {}  # narrative id -> its rows in the bank

    def add_form(self, key: str, nid: str, first: tuple[str, How, float], mh: Any) -> None:
        self.exact[key] = nid
        self.first[key] = first
        self.signatures[key] = mh.hashvalues
        self.lsh.insert(key, mh)

    def add_exemplar(self, nid: str, vec: NDArray[np.float32]) -> None:
        self.exemplar_rows.setdefault(nid, []).append(len(self.bank))
        self.bank.add(nid, vec)

    def exemplars_of(self, nid: str) -> list[NDArray[np.float32]]:
        return [self.bank.vector(row) for row in self.exemplar_rows.get(nid, [])]

    def snapshot(self) -> tuple[dict[str, Any], NDArray[np.uint64], NDArray[np.float32]]:
        """(JSON part, signatures, exemplar vectors), rows in the order they were added."""
        keys = list(self.signatures)
        sigs = np.stack([self.signatures[k] for k in keys]) if keys else np.zeros((0, self.lsh.h), dtype=np.uint64)
        meta = {"exact": self.exact, "first": self.first, "signature_keys": keys, "exemplar_ids": self.bank.ids}
        return meta, sigs.astype(np.uint64), self.bank.vectors()

    @classmethod
    def restore(
        cls, config: NarrativeConfig, meta: dict[str, Any], sigs: NDArray[Any], vecs: NDArray[Any]
    ) -> _Generation:
        from datasketch import MinHash  # type: ignore[import-untyped, unused-ignore]

        gen = cls(config)
        gen.exact = dict(meta["exact"])
        gen.first = {k: (str(v[0]), v[1], float(v[2])) for k, v in meta.get("first", {}).items()}
        for key, values in zip(meta["signature_keys"], sigs, strict=True):
            mh = MinHash(num_perm=config.num_perm, hashvalues=values, scheme=MINHASH_SCHEME)
            gen.signatures[key] = mh.hashvalues
            gen.lsh.insert(key, mh)
        for nid, vec in zip(meta["exemplar_ids"], vecs, strict=True):
            gen.add_exemplar(nid, np.asarray(vec, dtype=np.float32))
        return gen


class NarrativeIndex:
    """Assigns posts to narratives; keeps what it needs to continue after a restart."""

    def __init__(self, config: NarrativeConfig | None = None, *, track_stats: bool = True) -> None:
        self.config = config or NarrativeConfig()
        if self.config.generation_forms is not None and self.config.generation_forms < 1:
            raise ValueError(f"generation_forms must be at least 1 (or None), not {self.config.generation_forms}")
        # The stream keeps its narrative documents in the store; in-memory stats would only grow there.
        self.track_stats = track_stats
        self._current = _Generation(self.config)
        self._previous: _Generation | None = None
        self.stats: dict[str, NarrativeStats] = {}
        self._changes: list[dict[str, Any]] = []  # since the last commit: what the journal must replay
        self._seq = 0  # journal sequence number of the last change
        self._saved_seq = 0  # ... and of the last one the snapshot holds
        self._permutations: Any = None
        self._last_minhash: tuple[str, Any] | None = None

    def __len__(self) -> int:
        return len(self.stats)

    @property
    def _generations(self) -> list[_Generation]:
        """Newest first: a form in both answers as the current generation holds it."""
        return [self._current] if self._previous is None else [self._current, self._previous]

    @property
    def forms(self) -> int:
        """Copy forms held (both generations)."""
        return sum(len(g.exact) for g in self._generations)

    @property
    def exemplars(self) -> int:
        """Exemplar vectors held (both generations)."""
        return sum(len(g.bank) for g in self._generations)

    def _minhash(self, form: str) -> Any:
        # A new copy form is hashed by _match and again by _apply: keep the last one. The permutations
        # (fixed by num_perm and datasketch's default seed) cost more to draw than the hashing itself.
        if self._last_minhash is not None and self._last_minhash[0] == form:
            return self._last_minhash[1]
        from datasketch import MinHash  # type: ignore[import-untyped, unused-ignore]

        mh = MinHash(num_perm=self.config.num_perm, scheme=MINHASH_SCHEME, permutations=self._permutations)
        self._permutations = mh.permutations
        mh.update_batch(_shingles(form, self.config.shingle_words))
        self._last_minhash = (form, mh)
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
        item_id: str | None = None,
    ) -> Assignment:
        """Assign one post (normalised text, optional unit-norm embedding) and update the narrative's stats.

        ``item_id`` (the post key) makes a repeat of the same post answer exactly as the first time.
        """
        form = copy_form(normalized)
        if not form:
            return Assignment(None, "empty", 0.0)
        key = text_key(form)
        held = next((g for g in self._generations if key in g.exact), None)
        first = held.first[key] if held is not None else None
        replayed = item_id is not None and first is not None and first[0] == item_id
        if held is None or first is None:
            result = self._match(form, embedding)
        elif replayed:
            result = Assignment(held.exact[key], first[1], first[2])
        else:
            result = Assignment(held.exact[key], "exact", 1.0)
        nid = result.narrative_id
        assert nid is not None
        if self.track_stats and not replayed and nid not in self.stats:
            self.stats[nid] = NarrativeStats(nid, (raw if raw is not None else normalized)[:1000])
        before = self._generations  # newest first; this post's form may start a new generation
        if key not in self._current.exact:
            # New, or held only by the previous generation: (re)written into the current one, as it first was.
            how, sim = (first[1], first[2]) if first is not None else (result.how, result.similarity)
            change = {"k": key, "n": nid, "f": form, "i": first[0] if first else item_id or "", "h": how, "s": sim}
            self._log(change)
            self._apply(change)
        if nid not in self._current.exemplar_rows:
            # Its exemplars come along from the newest older generation holding them (one this post's form just
            # pushed out included), before the post banks its own.
            source = next((g for g in before if g is not self._current and nid in g.exemplar_rows), None)
            for vec in source.exemplars_of(nid) if source is not None else ():
                self._add_logged_exemplar(nid, vec)
        if (
            embedding is not None
            and result.how in ("new", "near_copy")
            and not replayed
            and len(form.split()) >= self.config.min_paraphrase_words
            and len(self._current.exemplar_rows.get(nid, ())) < self.config.max_exemplars
        ):
            self._add_logged_exemplar(nid, np.asarray(embedding, dtype=np.float32))
        if self.track_stats and not replayed:
            self._observe(self.stats[nid], platform, account, created_at, machine)
        return result

    def _add_logged_exemplar(self, nid: str, vec: NDArray[np.float32]) -> None:
        change = {"e": nid, "v": base64.b64encode(vec.tobytes()).decode("ascii")}
        self._log(change)
        self._apply(change)

    def _log(self, change: dict[str, Any]) -> None:
        self._seq += 1
        self._changes.append({"q": self._seq, **change})

    def _apply(self, change: dict[str, Any]) -> None:
        """Apply one journal change (a copy form or an exemplar); a form the current generation holds is a no-op.

        A form that finds the current generation full starts the next one first, so a form and the exemplar
        logged after it land in the same generation."""
        if "e" in change:
            vec = np.frombuffer(base64.b64decode(change["v"]), dtype=np.float32)
            self._current.add_exemplar(str(change["e"]), vec)
            return
        key = str(change["k"])
        if key in self._current.exact:
            return
        limit = self.config.generation_forms
        if limit is not None and len(self._current.exact) >= limit:
            self._previous, self._current = self._current, _Generation(self.config)
        first = (str(change["i"]), change["h"], float(change["s"]))
        self._current.add_form(key, str(change["n"]), first, self._minhash(str(change["f"])))

    def _match(self, form: str, embedding: NDArray[np.float32] | None) -> Assignment:
        """A form no generation holds: a near copy, a paraphrase, or a new narrative."""
        mh = self._minhash(form)
        best: tuple[float, str] | None = None
        for gen in self._generations:
            for cand in gen.lsh.query(mh):
                sim = float(np.mean(gen.signatures[cand] == mh.hashvalues))
                nid = gen.exact[cand]
                if sim >= self.config.jaccard and (best is None or (sim, nid) > best):
                    best = (sim, nid)
        if best is not None:
            return Assignment(best[1], "near_copy", round(best[0], 4))
        if embedding is not None and len(form.split()) >= self.config.min_paraphrase_words:
            nearest = [n for g in self._generations if (n := g.bank.nearest(embedding)) is not None]
            near = max(nearest, key=lambda n: (n[1], n[0]), default=None)
            if near is not None and near[1] >= self.config.cosine:
                return Assignment(near[0], "paraphrase", round(near[1], 4))
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

    def commit(self, folder: Path, snapshot_every: int = 20_000) -> int:
        """Make every assignment so far durable in ``folder``: append the changes to the journal (fsync),
        and rewrite the snapshot once the journal holds ``snapshot_every`` lines. Returns the changes written."""
        changes, self._changes = self._changes, []
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / JOURNAL
        if changes:
            with path.open("a", encoding="utf-8") as f:
                f.write("".join(json.dumps(c, ensure_ascii=False) + "\n" for c in changes))
                f.flush()
                os.fsync(f.fileno())
        if self._seq - self._saved_seq >= snapshot_every:
            self.save(folder)
        return len(changes)

    def save(self, folder: Path) -> None:
        """Write the whole state into ``folder`` and empty its journal.

        The npz is written first under a name the JSON points to, then the JSON replaces the old one in one
        step: a crash leaves either the old pair or the new one, never a mix."""
        folder.mkdir(parents=True, exist_ok=True)
        oldest_first = self._generations[::-1]
        parts = [g.snapshot() for g in oldest_first]
        arrays = f"narratives-{self._seq}.npz"
        meta = {
            "version": STATE_VERSION,
            "config": asdict(self.config),
            "arrays": arrays,
            "journal_seq": self._seq,
            "generations": [m for m, _, _ in parts],
            "stats": [asdict(s) for s in self.stats.values()],
        }
        named = {
            f"{kind}_{n}": a
            for n, (_, sigs, vecs) in enumerate(parts)
            for kind, a in (("signatures", sigs), ("exemplars", vecs))
        }
        _atomic_npz(folder / arrays, **named)
        tmp = folder / f"narratives.json.tmp{os.getpid()}"
        tmp.write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, folder / "narratives.json")
        for old in [*folder.glob("narratives-*.npz"), folder / "narratives.npz"]:
            if old.name != arrays and old.exists():
                old.unlink()
        # The snapshot holds every change so far: the journal's lines would all be skipped anyway.
        (folder / JOURNAL).unlink(missing_ok=True)
        self._changes = []
        self._saved_seq = self._seq

    @classmethod
    def load(cls, folder: Path, config: NarrativeConfig | None = None, *, track_stats: bool = True) -> NarrativeIndex:
        """A saved state (snapshot, then the journal), or an empty index when ``folder`` holds none.

        A saved config wins over ``config``, except ``generation_forms``: how much to keep is the caller's
        choice whenever a ``config`` is given (``NarrativeConfig()`` included, which keeps everything). A changed
        size applies to the journal's lines too, so rotations since the snapshot can fall elsewhere than they
        did before the restart, and a smaller size can drop forms the old run still held."""
        meta_path = folder / "narratives.json"
        index = cls(config, track_stats=track_stats)
        if meta_path.exists():
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            if meta.get("version") not in (1, STATE_VERSION):
                raise ValueError(f"narrative state version {meta.get('version')!r}; this build reads {STATE_VERSION}")
            saved = NarrativeConfig(**meta["config"])
            if config is not None:
                saved = replace(saved, generation_forms=config.generation_forms)
            index = cls(saved, track_stats=track_stats)
            # Version 1 kept one generation, at the top level of the JSON and as unnumbered arrays.
            generations = meta.get("generations", [meta])
            with np.load(folder / meta.get("arrays", "narratives.npz")) as arrays:
                suffix = ["_0", "_1"] if "generations" in meta else [""]
                restored = [
                    _Generation.restore(saved, g, arrays[f"signatures{s}"], arrays[f"exemplars{s}"])
                    for g, s in zip(generations, suffix, strict=False)
                ]
            index._current = restored[-1]
            index._previous = restored[-2] if len(restored) > 1 else None
            if track_stats:
                index.stats = {s["narrative_id"]: NarrativeStats(**s) for s in meta["stats"]}
            index._seq = index._saved_seq = int(meta.get("journal_seq", 0))
        index._replay_journal(folder / JOURNAL)
        return index

    def _replay_journal(self, path: Path) -> None:
        if not path.exists():
            return
        good = 0  # bytes up to the last whole line
        with path.open("rb") as f:
            for line in f:
                try:
                    change = json.loads(line)
                except ValueError:
                    break  # a torn write: its batch never emitted anything
                if not line.endswith(b"\n"):
                    break
                good += len(line)
                if int(change["q"]) > self._seq:
                    self._apply(change)
                    self._seq = int(change["q"])
        if good < path.stat().st_size:
            with path.open("r+b") as f:
                f.truncate(good)  # so the next append starts on a clean line


def _atomic_npz(path: Path, **arrays: NDArray[Any]) -> None:
    tmp = path.with_name(path.name + f".tmp{os.getpid()}.npz")
    np.savez(tmp, **arrays)  # type: ignore[arg-type]
    os.replace(tmp, path)


def assign_all(
    index: NarrativeIndex, texts: Sequence[str], embeddings: NDArray[np.float32] | None = None
) -> list[Assignment]:
    """Assign normalised texts in order (embeddings row-aligned, or None for copies only)."""
    return [index.assign(t, None if embeddings is None else embeddings[i]) for i, t in enumerate(texts)]
