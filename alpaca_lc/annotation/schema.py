"""The judgment cache's SQLite schema: one migration per version, applied in order (`PRAGMA user_version`)."""

MIGRATIONS = [
    """
    CREATE TABLE judgments (
        key TEXT PRIMARY KEY,
        judge TEXT NOT NULL,
        source TEXT NOT NULL,            -- 'api' or 'import'
        p_first REAL,                    -- P(first shown is better), NULL for imports
        preference REAL NOT NULL,        -- AlpacaEval encoding, 2 = model (output_2) better
        model_first INTEGER,
        raw_completion TEXT,
        prompt_tokens INTEGER,
        completion_tokens INTEGER,
        cost REAL NOT NULL DEFAULT 0,
        latency REAL,
        created REAL NOT NULL
    );
    CREATE INDEX judgments_judge ON judgments(judge);
    CREATE TABLE failures (
        key TEXT NOT NULL,
        judge TEXT NOT NULL,
        cause TEXT NOT NULL,
        message TEXT NOT NULL,
        created REAL NOT NULL
    );
    """,
    # Batches (one per uploaded input file; `id` is NULL until the batch is created) and the keys each covers,
    # and leases: the one process paying for a key, with its heartbeat.
    """
    CREATE TABLE batches (
        input_file_id TEXT PRIMARY KEY,
        id TEXT,
        judge TEXT NOT NULL,
        base_url TEXT,
        status TEXT NOT NULL,            -- 'uploaded', then the API's status
        collected INTEGER NOT NULL DEFAULT 0,
        created REAL NOT NULL
    );
    CREATE TABLE batch_keys (
        input_file_id TEXT NOT NULL,
        key TEXT NOT NULL,
        model_first INTEGER NOT NULL,
        PRIMARY KEY (input_file_id, key)
    );
    CREATE INDEX batch_keys_key ON batch_keys(key);
    CREATE TABLE leases (
        key TEXT PRIMARY KEY,
        owner TEXT NOT NULL,
        host TEXT NOT NULL,
        pid INTEGER NOT NULL,
        heartbeat REAL NOT NULL
    );
    CREATE INDEX leases_owner ON leases(owner);
    """,
    # Endpoints: each judgment records the service that made it (NULL: made before this migration), and batches
    # are keyed by endpoint and input file (two providers both number their files "file-1"); batches recorded
    # before have the endpoint '' (the one their run used, unknown now).
    """
    ALTER TABLE judgments ADD COLUMN endpoint TEXT;
    CREATE TABLE batches_3 (
        endpoint TEXT NOT NULL,
        input_file_id TEXT NOT NULL,
        id TEXT,
        judge TEXT NOT NULL,
        base_url TEXT,
        status TEXT NOT NULL,
        collected INTEGER NOT NULL DEFAULT 0,
        created REAL NOT NULL,
        PRIMARY KEY (endpoint, input_file_id)
    );
    INSERT INTO batches_3 SELECT '', input_file_id, id, judge, base_url, status, collected, created FROM batches;
    DROP TABLE batches;
    ALTER TABLE batches_3 RENAME TO batches;
    CREATE TABLE batch_keys_3 (
        endpoint TEXT NOT NULL,
        input_file_id TEXT NOT NULL,
        key TEXT NOT NULL,
        model_first INTEGER NOT NULL,
        PRIMARY KEY (endpoint, input_file_id, key)
    );
    INSERT INTO batch_keys_3 SELECT '', input_file_id, key, model_first FROM batch_keys;
    DROP TABLE batch_keys;
    ALTER TABLE batch_keys_3 RENAME TO batch_keys;
    CREATE INDEX batch_keys_key ON batch_keys(key);
    """,
    # Judgments a judge no longer stands by (it drifted: `release.drift`): kept, no longer served.
    """
    CREATE TABLE superseded AS SELECT * FROM judgments WHERE 0;
    ALTER TABLE superseded ADD COLUMN superseded REAL;
    """,
    # Reasoning models: the hidden reasoning tokens of a judgment (billed as completion tokens, counted apart), and
    # what a failed request that was billed all the same cost (an answer cut at the limit, say).
    """
    ALTER TABLE judgments ADD COLUMN reasoning_tokens INTEGER;
    ALTER TABLE superseded ADD COLUMN reasoning_tokens INTEGER;
    ALTER TABLE failures ADD COLUMN cost REAL NOT NULL DEFAULT 0;
    """,
]
