"""Exports of what Flockwatch found (issue 13, items 5 and 6): pure functions from store documents to files.

* :mod:`~flockwatch.exports.graph_files`: a coordination cluster or a cascade as a networkx graph, written as GEXF or
  GraphML for Gephi (``cluster_graph``, ``cascade_graph``, ``write_graph``).
* :mod:`~flockwatch.exports.tables`: posts, accounts, cascades, cascade events and coordination edges as typed rows,
  written as CSV, JSONL or Parquet (``rows``, ``to_csv``, ``to_jsonl``, ``to_parquet``, ``export_table``).
* :mod:`~flockwatch.exports.stix`: STIX 2.1 bundles of a case or a cluster, with DISARM techniques where the
  evidence supports them (``case_bundle``, ``cluster_bundle``, ``validate``); the mapping is
  :data:`flockwatch.exports.disarm.DISARM_MAPPING` (``docs/disarm.md``).
* :mod:`~flockwatch.exports.bundle`: a case's evidence bundle (zip or directory) with a sha256 manifest
  (``write_bundle``, ``verify_bundle``).
* :mod:`~flockwatch.exports.pseudonyms`: the researcher role's rewrite of every author/account id field.

Inputs are the documents the stages store, passed straight in (plain dicts; ``_*`` bookkeeping fields are ignored):

* **posts**: the index stage's ``post_document`` (``Post`` fields: ``key``, ``platform``, ``platform_id``,
  ``author{id, handle, ...}``, ``text``, ``created_at``, ``urls``, ``hashtags``, ``mentions``, ``media[{url, kind,
  sha256}]``, parent ids, ``engagement``, ``source``; plus ``account_key``, ``parent_key``) with the scores merged in:
  ``text_score{machine_score, label, interval, evidence, model}``, ``narrative_id``, ``narrative_how``, ``media_risk``
  (the highest manipulation score among the post's media in their latest scoring; null when none scored),
  ``media_by_url{<hash>: MediaScore fields (media_url, sha256, media_kind, manipulation_score, signals,
  observations, matches)}``.
* **accounts**: graph stage ``AccountEntry.document`` (``key`` = ``platform:author_id``, ``handle``, ``post_count``,
  ``partners``, ``partner_kinds``, ``cluster_id(s)``...) merged with rollups ``account_document`` (``machine_*``).
* **cascades**: ``CascadeEntry.document`` (``cascade_id``, metrics, ``events`` rows ``[post, parent, epoch_s,
  account]``).
* **edges**: coordination_edges ``EdgeEntry.document`` (``kind``, ``source``, ``target``, ``weight``, evidence,
  significance).
* **clusters**: graph_windows cluster snapshots (``cluster_id``, ``accounts``, ``layers``, window, shares).
* **narratives**: rollups ``narrative_document`` (``narrative_id``, ``representative_text``, ``accounts``,
  ``platforms``, ``joined_by``, ``machine_share``, ``urls``...).
* **alerts**: ``Alert`` documents (``alert_doc``); **notes**: ``{"text", "title"?, "author"?, "refs"?}``.

Nothing here imports the store, Kafka or the web framework; ``stix2``/``stix2-validator`` and ``pyarrow`` are
imported by the modules that need them only.
"""
