-- message.sent version 2 says who exactly sent a message. Rows built before this migration
-- have no such columns filled, so `messages` is projection version 2: a rebuild fills them
-- from history (version 1 events have neither, version 2 events may).
ALTER TABLE messages
    ADD COLUMN sender_id    text,
    ADD COLUMN sender_name  text;
