-- A batch's completion window. deadline_at: when it ends (NULL: no window, batches made before this
-- migration). closed_at: when a claimer or reader enforced it, once. expired_at: set then if requests
-- that had not started were expired (never run); a batch finished in time is closed, not expired.
ALTER TABLE batches ADD COLUMN deadline_at BIGINT;
ALTER TABLE batches ADD COLUMN closed_at BIGINT;
ALTER TABLE batches ADD COLUMN expired_at BIGINT;
-- Every claim looks for batches past their deadline and not closed yet.
CREATE INDEX IF NOT EXISTS batches_window ON batches (closed_at, deadline_at);
