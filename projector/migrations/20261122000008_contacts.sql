-- Contacts: one per person per website.
--
-- A person is known by identifiers: a normalised e-mail address or phone number, each reduced
-- to a key (a name-based UUID, so the table holds no address in clear). Keys that belong to the
-- same person form one contact: a submission that carries an e-mail and a phone links them, and
-- an admin merge links the contacts it names. Links are only ever added, so the partition of
-- keys into contacts is the same whatever order the events arrive in, and so is the contact's
-- id: the key that ranks first in it (see projections::contacts::Identity::rank).

-- Every key seen in a submission or named by an admin event, and the contact it belongs to.
CREATE TABLE contact_identities (
    website_id     text        NOT NULL,
    key            text        NOT NULL,
    -- 0 e-mail, 1 phone, 2 only named by an admin event so far (unknown kind).
    kind           smallint    NOT NULL,
    contact_id     text        NOT NULL,
    first_seen_at  timestamptz,
    first_event    uuid,
    merged_away    boolean     NOT NULL DEFAULT false,
    survivor       boolean     NOT NULL DEFAULT false,
    erased_at      timestamptz,
    PRIMARY KEY (website_id, key)
);
CREATE INDEX contact_identities_by_contact ON contact_identities (website_id, contact_id);

-- Every contact.submitted, as what it says about the person. `key` is the e-mail's key when
-- there is one, else the phone's.
CREATE TABLE contact_observations (
    event_id         uuid        PRIMARY KEY,
    website_id       text        NOT NULL,
    conversation_id  text        NOT NULL,
    request_id       text        NOT NULL,
    key              text        NOT NULL,
    name             text,
    email            text,
    phone            text,
    channel          text        NOT NULL,
    occurred_at      timestamptz NOT NULL
);
CREATE INDEX contact_observations_by_key ON contact_observations (website_id, key);
CREATE INDEX contact_observations_by_conversation
    ON contact_observations (website_id, conversation_id);

-- Every contact.updated. Absent fields are NULL; the latest non-NULL value of each field wins.
CREATE TABLE contact_edits (
    event_id     uuid        PRIMARY KEY,
    website_id   text        NOT NULL,
    key          text        NOT NULL,
    name         text,
    email        text,
    phone        text,
    notes        text,
    lead_status  text CHECK (lead_status IN ('new', 'active', 'follow_up', 'archived')),
    occurred_at  timestamptz NOT NULL
);
CREATE INDEX contact_edits_by_key ON contact_edits (website_id, key);

-- The read model. Rebuilt from the tables above for every contact a batch touches.
CREATE TABLE contacts (
    website_id          text        NOT NULL,
    contact_id          text        NOT NULL,
    name                text,
    email               text,
    phone               text,
    channel             text        NOT NULL,
    first_seen_at       timestamptz NOT NULL,
    last_activity_at    timestamptz NOT NULL,
    conversation_count  bigint      NOT NULL,
    request_count       bigint      NOT NULL,
    notes               text,
    lead_status         text        NOT NULL
                                    CHECK (lead_status IN ('new', 'active', 'follow_up', 'archived')),
    erased_at           timestamptz,
    PRIMARY KEY (website_id, contact_id)
);
CREATE INDEX contacts_newest ON contacts (website_id, last_activity_at DESC, contact_id);

-- The contact a conversation belongs to (the one of its earliest submission), and the one a
-- request came from.
ALTER TABLE conversations ADD COLUMN contact_id text;
CREATE INDEX conversations_by_contact ON conversations (website_id, contact_id);
ALTER TABLE contact_requests ADD COLUMN contact_id text;
CREATE INDEX contact_requests_by_contact ON contact_requests (website_id, contact_id);

-- An erased person's messages keep their place (counts and statistics stay right) but lose
-- their text.
ALTER TABLE messages ALTER COLUMN text DROP NOT NULL;
