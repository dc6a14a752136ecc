-- Files API (uploads scoped to an API key), sqlite flavour.
-- Content is stored once per sha256 (file_blobs) however many files name it,
-- in chunks (file_chunks) so neither an upload nor a download ever needs the
-- whole file in memory. A blob goes when the last file naming it goes.

CREATE TABLE IF NOT EXISTS file_blobs (
    sha256 TEXT PRIMARY KEY,
    bytes BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS file_chunks (
    sha256 TEXT NOT NULL REFERENCES file_blobs (sha256) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (sha256, seq)
);

CREATE TABLE IF NOT EXISTS files (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    sha256 TEXT NOT NULL REFERENCES file_blobs (sha256),
    filename TEXT NOT NULL,
    purpose TEXT NOT NULL,
    bytes BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT  -- NULL: kept until deleted
);

-- Listing pages through one owner's files; quota sums them.
CREATE INDEX IF NOT EXISTS files_owner_created ON files (owner, created_at, id);
-- Is a blob still named by some file?
CREATE INDEX IF NOT EXISTS files_sha256 ON files (sha256);
-- The purge finds expired files.
CREATE INDEX IF NOT EXISTS files_expires_at ON files (expires_at);
