"""Runtime settings: every port, heap size and path in one place.

Values come from environment variables prefixed ``FLOCKWATCH_`` (for example
``FLOCKWATCH_KAFKA_PORT=19092``), so the CLI, workers, DAGs and tests agree
without passing flags around.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[2]


# Ports between the nodes of a local Kafka cluster (see Settings.kafka_brokers).
KAFKA_PORT_STEP = 10


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FLOCKWATCH_", extra="ignore")

    # Where pids, logs and service data live; `flockwatch down --purge` removes it.
    state_dir: Path = REPO_ROOT / ".flockwatch"
    # Folder with the real datasets (read-only, never copied into the repo).
    data_dir: Path = REPO_ROOT.parent / "shared" / "data"
    # The Maven project that fetches the JVM services' jars.
    infra_dir: Path = REPO_ROOT / "infra"

    host: str = "127.0.0.1"
    kafka_port: int = 9092
    kafka_controller_port: int = 9093
    # A local Kafka cluster on loopback: `flockwatch up` starts this many brokers (each also a controller). Node n
    # (1-based) listens on kafka_port + 10 (n - 1) and kafka_controller_port + 10 (n - 1). Give a cluster of three
    # FLOCKWATCH_TOPIC_REPLICATION_FACTOR=3 so a topic outlives a broker.
    kafka_brokers: int = Field(default=1, ge=1, le=9)
    # Which node of that cluster these settings describe (set by `flockwatch up` for each node it starts).
    kafka_node_id: int = Field(default=1, ge=1, le=9)
    kafka_heap: str = "512m"
    # The search engine the store is: OpenSearch or Elasticsearch (7.17 or 8/9: the `elasticsearch` 8.19 client).
    # `flockwatch up` runs the chosen one locally (OpenSearch 2.19 from the codelibs runner, Elasticsearch 7.17 from
    # its Maven Central jars) on the store_* port/heap settings below; the pipeline talks to it through that
    # engine's official client.
    store_engine: Literal["opensearch", "elasticsearch"] = "opensearch"
    store_port: int = 9200
    # Node-to-node port; a single node only binds it (explicit so it never drifts into 9301+).
    store_transport_port: int = 9300
    store_heap: str = "1g"
    # A local store cluster on loopback: `flockwatch up` starts this many OpenSearch nodes (one JVM each, every one
    # cluster-manager eligible and a data node). Node n (1-based) listens on store_port + 10 (n - 1) and
    # store_transport_port + 10 (n - 1), as Kafka's nodes do. store_heap is per node. Give a cluster of three
    # FLOCKWATCH_STORE_REPLICAS=1: each shard then has a copy on another node, so the indices stay whole (and
    # writable) when one node dies; with 0 replicas a dead node takes its shards' documents with it. A single node
    # runs replicas > 0 yellow (copies unassigned), which the health checks accept.
    store_nodes: int = Field(default=1, ge=1, le=9)
    # Which node of that cluster these settings describe (set by `flockwatch up` for each node it starts).
    store_node_id: int = Field(default=1, ge=1, le=9)
    # Disk watermarks of the local store, as absolute FREE space (never percentages: a 2 TB disk 90 % full still has
    # 200 GB). Below flood_stage the store makes its indices read-only (writes refused, the index stage retries)
    # rather than failing mid-write on a full disk; it lifts the block itself once free space is back above high.
    store_disk_watermark_low: str = "2gb"
    store_disk_watermark_high: str = "1gb"
    store_disk_watermark_flood_stage: str = "512mb"
    # JDK used to run the services; empty means `java` on PATH (Kafka 4 and OpenSearch 2.19 run on 17).
    java_home: str = ""
    start_timeout_s: float = 180.0
    # How long a command waits for a service that is still starting (a broker whose group coordinator is not
    # up yet, a store that does not take templates yet) before it gives up with one line saying what to do.
    # Long-running workers wait without bound.
    service_wait_s: float = 120.0

    # Kafka topic names are "<prefix>.<stage>" so several deployments (or tests) can share a broker.
    topic_prefix: str = "flockwatch"
    topic_partitions: int = 3
    # Copies of each topic's partitions, and how many must hold a record before `acks=all` answers (default: one
    # fewer than the copies, at least 1). 1 and 1 on the single local broker; 3 and 2 on a cluster of three.
    topic_replication_factor: int = Field(default=1, ge=1)
    topic_min_insync_replicas: int | None = Field(default=None, ge=1)
    # Kafka's max.poll.interval: a consumer that spends longer on one batch is evicted. Stages that state
    # their cost per record get batches that fit in it (pipeline.batching); tests lower it.
    kafka_max_poll_interval_s: float = 600.0
    # How long the broker waits for a silent consumer (killed, frozen) before handing its partitions to another:
    # the time a restarted or second worker waits to take over. Heartbeats come from a background thread, so a
    # long batch does not count against it (the poll interval above bounds that). The broker's minimum is 6 s.
    kafka_session_timeout_s: float = 8.0
    # A stage that merges its partitions into one order (the text stage's narrative assignment) lets a partition
    # that has delivered nothing for this long stop holding the others back (flockwatch.stages.ordered_merge):
    # longer than any mid-stream pause between partitions, short enough for the end of a stream.
    merge_idle_s: float = 3.0
    # The text stage's narrative index keeps two generations of this many copy forms (about 11 KiB each:
    # bench/narrative_memory.py) and forgets a narrative silent for two generations (flockwatch.text.narratives).
    narrative_generation_forms: int = Field(default=50_000, ge=1)
    # A `flockwatch worker` with an instance id is a static group member: restarted under the same id, it gets its
    # partitions back at once instead of after the session timeout. Unique per worker of a stage (a systemd unit
    # or pod name); two live workers with one id fence each other out. Empty: a dynamic member.
    kafka_group_instance_id: str = ""
    # Store requests: the first waits store_timeout_s for an answer, so a frozen store is noticed in seconds;
    # each timeout in a row doubles the next request's wait up to store_max_timeout_s (a slow store still gets
    # the time it needs); an answer resets it (flockwatch.store.timeouts).
    store_timeout_s: float = 5.0
    store_max_timeout_s: float = 60.0
    # Store index names are "<prefix>-<kind>".
    index_prefix: str = "flockwatch"

    # Labelling thresholds picked on your own human posts (`flockwatch calibrate text`): the text stage and the
    # account rollups label at them instead of the model's stored ones (which hold on its calibration humans only).
    text_thresholds: Path | None = None

    # Media scoring. Fetched media land in a content-addressed cache (sha256) under the state dir.
    media_cache_dir: Path | None = None
    # Bound on the media cache (bodies + sidecars); past it, least recently used entries are evicted.
    media_cache_max_bytes: int = 2 * 1024**3
    # A local bank directory (`flockwatch bank add`) the media stage matches against, besides the store's bank.
    media_bank_dir: Path | None = None
    # PEM file of C2PA trust anchors; without one, valid signatures read as "untrusted".
    media_trust_anchors: Path | None = None
    # JSON list of user detectors ({"type": "torchscript"|"http", ...}); see flockwatch.media.detectors.
    media_detectors_file: Path | None = None
    # Networks the fetcher may reach although they are private (comma-separated CIDRs). Tests only:
    # the default refuses every loopback, private, link-local and metadata address.
    media_allow_networks: str = ""

    # Kafka client security (flockwatch.adapters.client_security builds every client's arguments from these).
    # PLAINTEXT is the local default; production runs SASL_SSL with one SCRAM principal per stage: each worker
    # process gets its own FLOCKWATCH_KAFKA_SASL_USERNAME/PASSWORD, and broker ACLs limit that principal to its
    # stage's topics.
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN"] = "SCRAM-SHA-512"
    kafka_sasl_username: str = ""
    kafka_sasl_password: SecretStr = SecretStr("")
    # PEM CA bundle that signed the broker's certificate; empty means the system store.
    kafka_ssl_cafile: Path | None = None
    # The local broker under SASL_SSL (flockwatch up): a PEM file with its private key (PKCS#8) and certificate
    # chain, and extra SCRAM users created at storage format ("name=password,..."; the stage principals). The
    # configured SASL user is the broker's super user; everyone else gets only what ACLs allow.
    kafka_ssl_keystore: Path | None = None
    kafka_scram_users: SecretStr = SecretStr("")
    # An existing cluster instead of the local one: its URL (e.g. https://search.example.org:9243; replaces
    # store_scheme/host/store_port), or several of its nodes' URLs separated by commas (the client fails over
    # between them), or an Elastic Cloud id (elasticsearch only).
    store_address: str = ""
    store_cloud_id: str = ""
    # Shards and replicas of every index the store creates (from its index templates).
    store_shards: int = Field(default=1, ge=1)
    store_replicas: int = Field(default=0, ge=0)
    # Store client security: https with a CA file, and either an API key or user/password (never both).
    store_scheme: Literal["http", "https"] = "http"
    store_ca_file: Path | None = None
    store_username: str = ""
    store_password: SecretStr = SecretStr("")
    store_api_key: SecretStr = SecretStr("")

    # Live collection (flockwatch collect, flockwatch.adapters.connectors). Credentials only ever come from here.
    # Reddit: a "script" or "web" application's id and secret (https://www.reddit.com/prefs/apps), app-only OAuth.
    reddit_client_id: str = ""
    reddit_client_secret: SecretStr = SecretStr("")
    # Reddit asks for "<platform>:<app id>:<version> (by /u/<user>)"; a generic agent is throttled harder.
    reddit_user_agent: str = "python:flockwatch:0.1 (by /u/flockwatch)"
    # Mastodon: an access token per instance host ("mastodon.social=TOKEN,example.org=TOKEN"); public reads need none.
    mastodon_tokens: SecretStr = SecretStr("")
    # The Bluesky Jetstream instance `collect bluesky` connects to when no --endpoint is given.
    jetstream_url: str = "wss://jetstream2.us-east.bsky.network/subscribe"
    # Bluesky feed and search pulls (`collect bluesky --feed/--search`): the public AppView without credentials;
    # with a handle and an app password (Settings → App passwords), a session on the PDS, which answers for the
    # AppView (the public AppView often refuses unauthenticated search).
    bluesky_appview_url: str = "https://public.api.bsky.app"
    bluesky_pds_url: str = "https://bsky.social"
    bluesky_handle: str = ""
    bluesky_app_password: SecretStr = SecretStr("")
    # The query API and dashboard (`flockwatch serve`): loopback by default, like the store behind it.
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    # The collection file (what to follow, how often) that `collect run` and the collection DAGs read.
    collection_file: Path | None = None

    @field_validator("collection_file", mode="before")
    @classmethod
    def _no_file_is_none(cls, value: object) -> object:
        # `FLOCKWATCH_COLLECTION_FILE=` (compose's default) means "none", not the current directory.
        return None if isinstance(value, str) and not value.strip() else value

    @model_validator(mode="after")
    def _insync_fits_the_copies(self) -> Settings:
        if self.kafka_node_id > self.kafka_brokers:
            raise ValueError(f"kafka_node_id {self.kafka_node_id} is not a node of {self.kafka_brokers} brokers")
        if self.store_node_id > self.store_nodes:
            raise ValueError(f"store_node_id {self.store_node_id} is not a node of {self.store_nodes} store nodes")
        insync = self.topic_min_insync_replicas
        if insync is not None and insync > self.topic_replication_factor:
            raise ValueError(
                f"topic_min_insync_replicas ({self.topic_min_insync_replicas}) cannot exceed "
                f"topic_replication_factor ({self.topic_replication_factor}): no write could ever be acknowledged"
            )
        return self

    @property
    def topic_insync_replicas(self) -> int:
        """``min.insync.replicas`` of the topics Flockwatch creates."""
        if self.topic_min_insync_replicas is not None:
            return self.topic_min_insync_replicas
        return max(1, self.topic_replication_factor - 1)

    @property
    def kafka_node_ports(self) -> list[tuple[int, int]]:
        """(broker port, controller port) of every node of the local cluster, node 1 first."""
        first = self.kafka_port - KAFKA_PORT_STEP * (self.kafka_node_id - 1)
        controller = self.kafka_controller_port - KAFKA_PORT_STEP * (self.kafka_node_id - 1)
        return [(first + KAFKA_PORT_STEP * n, controller + KAFKA_PORT_STEP * n) for n in range(self.kafka_brokers)]

    @property
    def kafka_bootstrap(self) -> str:
        return ",".join(f"{self.host}:{port}" for port, _ in self.kafka_node_ports)

    @property
    def store_node_ports(self) -> list[tuple[int, int]]:
        """(HTTP port, transport port) of every node of the local store cluster, node 1 first."""
        first = self.store_port - KAFKA_PORT_STEP * (self.store_node_id - 1)
        transport = self.store_transport_port - KAFKA_PORT_STEP * (self.store_node_id - 1)
        return [(first + KAFKA_PORT_STEP * n, transport + KAFKA_PORT_STEP * n) for n in range(self.store_nodes)]

    @property
    def store_urls(self) -> list[str]:
        """Every store node's URL, the client's failover list: store_address's (comma-separated) or the local
        cluster's, node 1 first."""
        if self.store_address:
            return [url.strip().rstrip("/") for url in self.store_address.split(",") if url.strip()]
        return [f"{self.store_scheme}://{self.host}:{port}" for port, _ in self.store_node_ports]

    @property
    def store_write_copies(self) -> int:
        """Copies of a shard that must be active before a write to it goes ahead (``wait_for_active_shards``). With
        replicas on a cluster, two: otherwise a write to an index created a moment ago is acknowledged by its
        primary alone, before the replica exists, and is lost if that node dies then. A single local node never
        gets its replicas (yellow), so it writes with one."""
        clustered = self.store_nodes > 1 or bool(self.store_address) or bool(self.store_cloud_id)
        return 2 if self.store_replicas > 0 and clustered else 1

    @property
    def store_url(self) -> str:
        """The first node's URL (the one messages name)."""
        if self.store_address:
            return self.store_urls[0]
        return f"{self.store_scheme}://{self.host}:{self.store_port}"

    @property
    def store_location(self) -> str:
        """Where the store is, in words: its URL, or the Elastic Cloud deployment."""
        if self.store_cloud_id:
            return f"Elastic Cloud deployment {self.store_cloud_id.split(':')[0]}"
        return self.store_url

    @property
    def store_name(self) -> str:
        """How messages name the store: the engine and where it is."""
        engine = "Elasticsearch" if self.store_engine == "elasticsearch" else "OpenSearch"
        return f"{engine} at {self.store_location}"

    def mastodon_token(self, host: str) -> str | None:
        """The access token configured for Mastodon instance ``host``, if any."""
        for entry in self.mastodon_tokens.get_secret_value().split(","):
            name, _, token = entry.strip().partition("=")
            if name.strip().lower() == host.lower() and token.strip():
                return token.strip()
        return None

    @property
    def media_cache(self) -> Path:
        return self.media_cache_dir or self.state_dir / "media-cache"


def get_settings() -> Settings:
    return Settings()
