-- Statistics pre-aggregated per website and quarter hour (UTC) of a conversation's start, so a
-- range of any website's days is read from a few hundred rows per day, not from every
-- conversation. Every time zone's day starts at a quarter hour (every UTC offset in use is a
-- multiple of 15 minutes), so these roll up exactly to the days and hours of any zone,
-- half- and quarter-hour zones and 23- and 25-hour days included.
--
-- Triggers on `conversations` keep them equal to an aggregate of its rows, whatever writes it
-- (the batch's upsert, flags, contact links, erasure), in the writing transaction: exactly once
-- with the offsets, and independent of the order events came in, since each is a function of
-- the rows alone. The triggers note each statement's changed rows in `conversation_changes`;
-- `statistics_flush()` applies them at the end of the batch, behind the projector's derive
-- lock, so that two batches never count the same visitor's visits side by side and never wait
-- for each other's quarter hours. `statistics_refresh()` recomputes everything from the rows
-- (after a rebuild's bulk phase, which runs with the triggers off; and below, for the rows
-- projected before).

-- The quarter hour an instant falls in.
CREATE FUNCTION quarter_of(t timestamptz) RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN date_bin('15 minutes', t, TIMESTAMPTZ '2000-01-01 00:00:00+00');

-- Who a conversation's visitor is: ingest's hash of them, else the website's customer id, else
-- the conversation itself (as before conversations kept the hash). Unique visitors count these.
CREATE FUNCTION visitor_of(c conversations) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN COALESCE('v:' || c.visitor, 'c:' || c.customer_id, 'k:' || c.conversation_id);

-- The additive figures of the conversations started in each quarter hour: one column per
-- population of query-api's `store/populations.rs` (with its predicate) and per sum. A test
-- there holds these predicates to the code's.
CREATE TABLE started_quarters (
    website_id                    text        NOT NULL,
    quarter                       timestamptz NOT NULL,
    conversations                 bigint      NOT NULL,
    loaded_conversations          bigint      NOT NULL,
    engaged_conversations         bigint      NOT NULL,
    loaded_engaged_conversations  bigint      NOT NULL,
    engaged_without_load          bigint      NOT NULL,
    cta_conversations             bigint      NOT NULL,
    contact_conversations         bigint      NOT NULL,
    escalated_conversations       bigint      NOT NULL,
    rated_conversations           bigint      NOT NULL,
    user_messages                 bigint      NOT NULL,
    bot_messages                  bigint      NOT NULL,
    agent_messages                bigint      NOT NULL,
    engaged_messages              bigint      NOT NULL,
    cta_clicks                    bigint      NOT NULL,
    bot_response_ms_sum           bigint      NOT NULL,
    bot_responses                 bigint      NOT NULL,
    ratings_sum                   bigint      NOT NULL,
    PRIMARY KEY (website_id, quarter)
);
CREATE INDEX started_quarters_all ON started_quarters (quarter);

-- Every conversation as a visit of its visitor: what `visitor_quarters` is derived from.
CREATE TABLE visits (
    website_id       text        NOT NULL,
    visitor          text        NOT NULL,
    started_at       timestamptz NOT NULL,
    conversation_id  text        NOT NULL,
    PRIMARY KEY (website_id, visitor, started_at, conversation_id)
);

-- Visits per quarter hour of their start, by the quarter hour of the same visitor's previous
-- visit (`since`; -infinity for a first visit). Unique visitors are additive with it: a
-- visitor counts in a range (a day, an hour) on the one visit of theirs in it whose previous
-- visit lies before the range, so the visitors of a range are the visits in it whose `since`
-- lies before its start. A range starts on a quarter hour, so `since` decides it exactly.
CREATE TABLE visitor_quarters (
    website_id  text        NOT NULL,
    quarter     timestamptz NOT NULL,
    since       timestamptz NOT NULL,
    visits      bigint      NOT NULL,
    PRIMARY KEY (website_id, quarter, since)
);
CREATE INDEX visitor_quarters_all ON visitor_quarters (quarter);

-- What `rows` add to each quarter hour's figures.
CREATE FUNCTION started_figures(rows conversations[]) RETURNS SETOF started_quarters
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT c.website_id, quarter_of(c.first_seen_at) AS quarter,
           count(*) FILTER (WHERE true) AS conversations,
           count(*) FILTER (WHERE c.widget_loaded_at IS NOT NULL) AS loaded_conversations,
           count(*) FILTER (WHERE c.engaged_at IS NOT NULL) AS engaged_conversations,
           count(*) FILTER (WHERE c.widget_loaded_at IS NOT NULL AND c.engaged_at IS NOT NULL) AS loaded_engaged_conversations,
           count(*) FILTER (WHERE c.engaged_at IS NOT NULL AND c.widget_loaded_at IS NULL) AS engaged_without_load,
           count(*) FILTER (WHERE c.engaged_at IS NOT NULL AND c.cta_clicks > 0) AS cta_conversations,
           count(*) FILTER (WHERE c.engaged_at IS NOT NULL AND c.contact_id IS NOT NULL) AS contact_conversations,
           count(*) FILTER (WHERE c.engaged_at IS NOT NULL AND c.requires_human) AS escalated_conversations,
           count(*) FILTER (WHERE c.rating IS NOT NULL) AS rated_conversations,
           COALESCE(sum(c.user_messages), 0)::int8 AS user_messages,
           COALESCE(sum(c.bot_messages), 0)::int8 AS bot_messages,
           COALESCE(sum(c.agent_messages), 0)::int8 AS agent_messages,
           COALESCE(sum(c.message_count) FILTER (WHERE c.engaged_at IS NOT NULL), 0)::int8 AS engaged_messages,
           COALESCE(sum(c.cta_clicks), 0)::int8 AS cta_clicks,
           COALESCE(sum(c.bot_response_ms_sum), 0)::int8 AS bot_response_ms_sum,
           COALESCE(sum(c.bot_responses), 0)::int8 AS bot_responses,
           COALESCE(sum(c.rating), 0)::int8 AS ratings_sum
    FROM unnest(rows) c
    GROUP BY 1, 2;
END;

-- The visits of the visitors `(websites[i], visitors[i])`, each with its `since`.
CREATE FUNCTION visit_quarters(websites text[], visitors text[])
RETURNS TABLE (website_id text, quarter timestamptz, since timestamptz)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT v.website_id, quarter_of(v.started_at),
           COALESCE(quarter_of(lag(v.started_at) OVER (PARTITION BY v.website_id, v.visitor
                                                      ORDER BY v.started_at, v.conversation_id)),
                    '-infinity')
    FROM visits v
    JOIN unnest(websites, visitors) AS k(website_id, visitor)
      ON v.website_id = k.website_id AND v.visitor = k.visitor;
END;

-- Moves the figures from the conversation rows `removed` to the rows `added` (new versions of
-- them, or new conversations), in key order. Figures that return to zero leave no row behind,
-- so the table holds the same rows however it was reached (a rebuild's parity check compares
-- them). Called behind the projector's derive lock (`statistics_flush`), never side by side.
CREATE FUNCTION started_apply(added conversations[], removed conversations[]) RETURNS void
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
    moved started_quarters[];
    emptied_websites text[];
    emptied_quarters timestamptz[];
BEGIN
    moved := ARRAY(
        SELECT ROW(website_id, quarter, sum(conversations)::int8, sum(loaded_conversations)::int8,
                   sum(engaged_conversations)::int8, sum(loaded_engaged_conversations)::int8,
                   sum(engaged_without_load)::int8, sum(cta_conversations)::int8, sum(contact_conversations)::int8,
                   sum(escalated_conversations)::int8, sum(rated_conversations)::int8, sum(user_messages)::int8,
                   sum(bot_messages)::int8, sum(agent_messages)::int8, sum(engaged_messages)::int8, sum(cta_clicks)::int8,
                   sum(bot_response_ms_sum)::int8, sum(bot_responses)::int8, sum(ratings_sum)::int8)::started_quarters
        FROM (SELECT * FROM started_figures(added)
              UNION ALL
              SELECT website_id, quarter, -conversations, -loaded_conversations,
                     -engaged_conversations, -loaded_engaged_conversations, -engaged_without_load,
                     -cta_conversations, -contact_conversations, -escalated_conversations,
                     -rated_conversations, -user_messages, -bot_messages, -agent_messages,
                     -engaged_messages, -cta_clicks, -bot_response_ms_sum, -bot_responses,
                     -ratings_sum
              FROM started_figures(removed)) d
        GROUP BY website_id, quarter
        ORDER BY website_id, quarter);
    WITH added AS (
        INSERT INTO started_quarters AS s
        SELECT m.* FROM unnest(moved) m
    WHERE (m.conversations, m.loaded_conversations, m.engaged_conversations,
           m.loaded_engaged_conversations, m.engaged_without_load, m.cta_conversations,
           m.contact_conversations, m.escalated_conversations, m.rated_conversations,
           m.user_messages, m.bot_messages, m.agent_messages, m.engaged_messages, m.cta_clicks,
           m.bot_response_ms_sum, m.bot_responses, m.ratings_sum)
          IS DISTINCT FROM (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    ON CONFLICT (website_id, quarter) DO UPDATE SET
        conversations = s.conversations + EXCLUDED.conversations,
        loaded_conversations = s.loaded_conversations + EXCLUDED.loaded_conversations,
        engaged_conversations = s.engaged_conversations + EXCLUDED.engaged_conversations,
        loaded_engaged_conversations = s.loaded_engaged_conversations + EXCLUDED.loaded_engaged_conversations,
        engaged_without_load = s.engaged_without_load + EXCLUDED.engaged_without_load,
        cta_conversations = s.cta_conversations + EXCLUDED.cta_conversations,
        contact_conversations = s.contact_conversations + EXCLUDED.contact_conversations,
        escalated_conversations = s.escalated_conversations + EXCLUDED.escalated_conversations,
        rated_conversations = s.rated_conversations + EXCLUDED.rated_conversations,
        user_messages = s.user_messages + EXCLUDED.user_messages,
        bot_messages = s.bot_messages + EXCLUDED.bot_messages,
        agent_messages = s.agent_messages + EXCLUDED.agent_messages,
        engaged_messages = s.engaged_messages + EXCLUDED.engaged_messages,
        cta_clicks = s.cta_clicks + EXCLUDED.cta_clicks,
        bot_response_ms_sum = s.bot_response_ms_sum + EXCLUDED.bot_response_ms_sum,
        bot_responses = s.bot_responses + EXCLUDED.bot_responses,
        ratings_sum = s.ratings_sum + EXCLUDED.ratings_sum
        RETURNING s.website_id, s.quarter, s.conversations)
    SELECT array_agg(a.website_id), array_agg(a.quarter) INTO emptied_websites, emptied_quarters
    FROM added a WHERE a.conversations = 0;
    -- Every figure is a sum over the quarter's conversations: none started, none left.
    IF emptied_websites IS NOT NULL THEN
        DELETE FROM started_quarters s
        USING unnest(emptied_websites, emptied_quarters) AS e(website_id, quarter)
        WHERE s.website_id = e.website_id AND s.quarter = e.quarter AND s.conversations = 0;
    END IF;
END
$$;

-- Moves the visits `gone` to the visits `came`: the visitors they name have their `since`
-- recomputed, before and after, and the difference is added (in key order, leaving no zero
-- rows, as `started_apply`).
CREATE FUNCTION visits_apply(came visits[], gone visits[]) RETURNS void
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
    websites text[];
    visitors text[];
    before visitor_quarters[];
    moved visitor_quarters[];
    emptied visitor_quarters[];
BEGIN
    SELECT array_agg(k.website_id ORDER BY k.website_id, k.visitor),
           array_agg(k.visitor ORDER BY k.website_id, k.visitor)
    INTO websites, visitors
    FROM (SELECT v.website_id, v.visitor FROM unnest(came) v
          UNION
          SELECT v.website_id, v.visitor FROM unnest(gone) v) k;
    IF websites IS NULL THEN
        RETURN;
    END IF;
    before := ARRAY(
        SELECT ROW(v.website_id, v.quarter, v.since, count(*))::visitor_quarters
        FROM visit_quarters(websites, visitors) v GROUP BY v.website_id, v.quarter, v.since);
    DELETE FROM visits v USING unnest(gone) g
    WHERE v.website_id = g.website_id AND v.visitor = g.visitor
      AND v.started_at = g.started_at AND v.conversation_id = g.conversation_id;
    INSERT INTO visits SELECT * FROM unnest(came);
    moved := ARRAY(
        SELECT ROW(d.website_id, d.quarter, d.since, sum(d.visits)::int8)::visitor_quarters
        FROM (SELECT v.website_id, v.quarter, v.since, count(*) AS visits
              FROM visit_quarters(websites, visitors) v GROUP BY 1, 2, 3
              UNION ALL
              SELECT b.website_id, b.quarter, b.since, -b.visits FROM unnest(before) b) d
        GROUP BY d.website_id, d.quarter, d.since
        HAVING sum(d.visits) <> 0
        ORDER BY d.website_id, d.quarter, d.since);
    WITH added AS (
        INSERT INTO visitor_quarters AS q
        SELECT * FROM unnest(moved)
        ON CONFLICT (website_id, quarter, since) DO UPDATE SET visits = q.visits + EXCLUDED.visits
        RETURNING q.*)
    SELECT array_agg(a) INTO emptied FROM added a WHERE a.visits = 0;
    IF emptied IS NOT NULL THEN
        DELETE FROM visitor_quarters q USING unnest(emptied) e
        WHERE q.website_id = e.website_id AND q.quarter = e.quarter AND q.since = e.since
          AND q.visits = 0;
    END IF;
END
$$;

-- The conversation rows a transaction's statements changed, until `statistics_flush()` takes
-- them: each new version with sign 1, each old one with sign -1. Unlogged: a row lives no
-- longer than its transaction.
CREATE UNLOGGED TABLE conversation_changes (
    tx            xid8          NOT NULL DEFAULT pg_current_xact_id(),
    sign          smallint      NOT NULL,
    conversation  conversations NOT NULL
);

-- Notes each statement's changed rows. An update notes only the rows whose figures (the columns
-- `started_figures` reads) or whose visit (`visitor_of`, the start) changed: one that scrubs
-- addresses notes nothing.
CREATE FUNCTION conversations_changed() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO conversation_changes (sign, conversation)
        SELECT 1, ROW(n.*)::conversations FROM new_rows n;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO conversation_changes (sign, conversation)
        SELECT -1, ROW(o.*)::conversations FROM old_rows o;
    ELSE
        WITH changed AS (
            SELECT ROW(n.*)::conversations AS n, ROW(o.*)::conversations AS o
            FROM new_rows n JOIN old_rows o USING (website_id, conversation_id)
            WHERE (n.first_seen_at, n.widget_loaded_at, n.engaged_at, n.cta_clicks,
                   n.contact_id IS NULL, n.requires_human, n.rating, n.user_messages,
                   n.bot_messages, n.agent_messages, n.message_count, n.bot_response_ms_sum,
                   n.bot_responses, visitor_of(ROW(n.*)::conversations))
                  IS DISTINCT FROM
                  (o.first_seen_at, o.widget_loaded_at, o.engaged_at, o.cta_clicks,
                   o.contact_id IS NULL, o.requires_human, o.rating, o.user_messages,
                   o.bot_messages, o.agent_messages, o.message_count, o.bot_response_ms_sum,
                   o.bot_responses, visitor_of(ROW(o.*)::conversations)))
        INSERT INTO conversation_changes (sign, conversation)
        SELECT 1, c.n FROM changed c
        UNION ALL
        SELECT -1, c.o FROM changed c;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER conversations_inserted AFTER INSERT ON conversations
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION conversations_changed();
CREATE TRIGGER conversations_updated AFTER UPDATE ON conversations
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION conversations_changed();
CREATE TRIGGER conversations_deleted AFTER DELETE ON conversations
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION conversations_changed();

-- The visits of `rows`.
CREATE FUNCTION visits_of(rows conversations[]) RETURNS visits[]
LANGUAGE sql IMMUTABLE
RETURN ARRAY(SELECT ROW(c.website_id, visitor_of(c), c.first_seen_at, c.conversation_id)::visits
             FROM unnest(rows) c);

-- Applies the changes this transaction's statements noted. A row changed twice counts once,
-- from its first old version to its last new one.
CREATE FUNCTION statistics_flush() RETURNS void
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
    added conversations[];
    removed conversations[];
    came visits[];
    gone visits[];
BEGIN
    WITH taken AS (
        DELETE FROM conversation_changes WHERE tx = pg_current_xact_id()
        RETURNING sign, conversation)
    SELECT array_agg(t.conversation) FILTER (WHERE t.sign > 0),
           array_agg(t.conversation) FILTER (WHERE t.sign < 0)
    INTO added, removed
    FROM taken t;
    IF added IS NULL AND removed IS NULL THEN
        RETURN;
    END IF;
    added := COALESCE(added, '{}');
    removed := COALESCE(removed, '{}');
    PERFORM started_apply(added, removed);
    SELECT array_agg(ROW(v.website_id, v.visitor, v.started_at, v.conversation_id)::visits)
               FILTER (WHERE v.n > 0),
           array_agg(ROW(v.website_id, v.visitor, v.started_at, v.conversation_id)::visits)
               FILTER (WHERE v.n < 0)
    INTO came, gone
    FROM (SELECT d.website_id, d.visitor, d.started_at, d.conversation_id, sum(d.sign) AS n
          FROM (SELECT a.*, 1 AS sign FROM unnest(visits_of(added)) a
                UNION ALL
                SELECT r.*, -1 FROM unnest(visits_of(removed)) r) d
          GROUP BY 1, 2, 3, 4
          HAVING sum(d.sign) <> 0) v;
    PERFORM visits_apply(COALESCE(came, '{}'), COALESCE(gone, '{}'));
END
$$;

-- Recomputes all of it from the conversation rows, as if each had just been inserted, a
-- slice at a time (one array per slice, in order of start, so that a slice's conversations
-- share quarter hours), and turns the triggers back on.
CREATE FUNCTION statistics_refresh() RETURNS void
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
    slice conversations[] := '{}';
    c conversations;
BEGIN
    TRUNCATE started_quarters, visitor_quarters, visits, conversation_changes;
    FOR c IN SELECT * FROM conversations ORDER BY website_id, first_seen_at LOOP
        slice := slice || c;
        IF cardinality(slice) >= 10000 THEN
            PERFORM started_apply(slice, '{}');
            PERFORM visits_apply(visits_of(slice), '{}');
            slice := '{}';
        END IF;
    END LOOP;
    PERFORM started_apply(slice, '{}');
    PERFORM visits_apply(visits_of(slice), '{}');
    ALTER TABLE conversations ENABLE TRIGGER USER;
END
$$;

SELECT statistics_refresh();
