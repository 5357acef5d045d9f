-- The language of each visitor message whose event declared none, detected by the projector
-- (projections/language.rs), and the conversation's: the one most of its visitor's messages
-- were detected in (ties to the first by code), recomputed with the conversation's facts
-- (store/facts.rs). Declared languages stay in `language`, apart. Messages projected before
-- have none: a rebuild detects them (projector/src/versions.rs).
ALTER TABLE messages ADD COLUMN detected_language text;

ALTER TABLE conversation_changes DROP COLUMN conversation;
ALTER TABLE conversations ADD COLUMN detected_language text;
ALTER TABLE conversation_changes ADD COLUMN conversation conversations NOT NULL;
