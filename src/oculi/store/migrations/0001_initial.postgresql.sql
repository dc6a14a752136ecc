-- The first schema, PostgreSQL flavour (BYTEA for image bytes).
-- JSON columns are TEXT on both dialects: the store (de)serialises them itself
-- and never queries inside them, so one codec serves SQLite and PostgreSQL.

CREATE TABLE IF NOT EXISTS responses (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    model TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    status TEXT NOT NULL,
    surface TEXT NOT NULL,
    previous_response_id TEXT,
    conversation TEXT NOT NULL,
    params TEXT NOT NULL,
    choices TEXT NOT NULL,
    usage TEXT,
    error TEXT,
    metadata TEXT NOT NULL
);

-- purge_expired scans by expiry.
CREATE INDEX IF NOT EXISTS responses_expires_at ON responses (expires_at);

CREATE TABLE IF NOT EXISTS images (
    sha256 TEXT PRIMARY KEY,
    data BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT NOT NULL
);

-- Which response references which image: lets purge_expired find images no
-- live response needs without parsing every conversation.
CREATE TABLE IF NOT EXISTS response_images (
    response_id TEXT NOT NULL REFERENCES responses (id) ON DELETE CASCADE,
    sha256 TEXT NOT NULL REFERENCES images (sha256),
    PRIMARY KEY (response_id, sha256)
);

CREATE INDEX IF NOT EXISTS response_images_sha256 ON response_images (sha256);
