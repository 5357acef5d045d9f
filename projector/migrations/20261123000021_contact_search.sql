-- Contact search matches any part of a name, e-mail address or phone number (ILIKE '%term%'),
-- which no b-tree index serves: over 244,000 contacts it read them all, 150-320 ms a search.
-- Trigram indexes serve it, one per column, OR-ed in one bitmap scan. The extension lives in
-- the `colloquy` schema, which no read-model version owns, so dropping a version never drops
-- it from under another one's indexes.
CREATE SCHEMA IF NOT EXISTS colloquy;
CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA colloquy;
CREATE INDEX contacts_name_trgm ON contacts USING gin (name colloquy.gin_trgm_ops);
CREATE INDEX contacts_email_trgm ON contacts USING gin (email colloquy.gin_trgm_ops);
CREATE INDEX contacts_phone_trgm ON contacts USING gin (phone colloquy.gin_trgm_ops);
