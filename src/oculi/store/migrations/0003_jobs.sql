-- Durable background work (deferred completions, batch requests) and batches.
-- 0002 is left to the files migration; the runner applies every version it
-- has not recorded, so the numbers need not arrive in order.
-- See oculi/store/jobs.py for how rows move between states.

CREATE TABLE IF NOT EXISTS batches (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    name TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    cancelled_at BIGINT,
    metadata TEXT NOT NULL
);

CREATE INDEX IF NOT EXISTS batches_owner_created ON batches (owner, created_at);

CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,                 -- 'deferred' or 'batch'
    owner TEXT NOT NULL,
    batch_id TEXT REFERENCES batches (id) ON DELETE CASCADE,
    seq BIGINT NOT NULL,                -- order of arrival (claim order, listing order)
    request_key TEXT NOT NULL,          -- batch_request_id (unique within its batch); the id for deferred
    payload TEXT NOT NULL,              -- the request, re-runnable by any replica (images by hash)
    state TEXT NOT NULL,                -- pending, running, succeeded, failed, cancelled
    attempts INTEGER NOT NULL,
    max_attempts INTEGER NOT NULL,
    lease_owner TEXT,
    lease_expires_at BIGINT,            -- milliseconds since the epoch
    created_at BIGINT NOT NULL,
    finished_at BIGINT,
    expires_at BIGINT NOT NULL,
    completed_by TEXT,                  -- the worker whose result was written (exactly one)
    result TEXT,
    error TEXT
);

CREATE INDEX IF NOT EXISTS jobs_claim ON jobs (state, seq);
CREATE INDEX IF NOT EXISTS jobs_batch ON jobs (batch_id, seq);
CREATE UNIQUE INDEX IF NOT EXISTS jobs_batch_key ON jobs (batch_id, request_key);
CREATE INDEX IF NOT EXISTS jobs_expires_at ON jobs (expires_at);

-- Images a job's payload refers to, so purging keeps them while the job lives.
CREATE TABLE IF NOT EXISTS job_images (
    job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    sha256 TEXT NOT NULL REFERENCES images (sha256),
    PRIMARY KEY (job_id, sha256)
);

CREATE INDEX IF NOT EXISTS job_images_sha256 ON job_images (sha256);
