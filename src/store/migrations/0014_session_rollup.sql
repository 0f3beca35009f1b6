-- Schema version 14: the events per session, UTC hour and sample rate, so
-- that a summary (events, sessions, events per session) with no filters and
-- whole-hour boundaries reads these rows instead of the events. Bots'
-- events are not in it, as in rollup_user_hours. Ingest adds its events in
-- the same transaction (tracking::rollup); the triggers below take out what
-- a DELETE or an UPDATE of ts, session_id, sample_rate or device removes or
-- changes (erasure, retention, anonymisation, identify in the pipeline, SQL
-- an operator runs). Not counted: events inserted by SQL outside ingest,
-- and rows an INSERT OR REPLACE removes (no DELETE trigger fires for them;
-- the engine never runs one on events). A migration that rebuilds the
-- events table must create these triggers again.
CREATE TABLE rollup_session_hours (
    hour        INTEGER NOT NULL,   -- floor(ts / 3600000)
    session_key TEXT NOT NULL,      -- session_id, '' for events without one
    rate        REAL NOT NULL,      -- the events' sample rate
    events      INTEGER NOT NULL,   -- how many (a row at 0 is deleted)
    PRIMARY KEY (hour, session_key, rate)
) STRICT, WITHOUT ROWID;

INSERT INTO rollup_session_hours (hour, session_key, rate, events)
SELECT ts / 3600000 - (ts % 3600000 < 0), COALESCE(session_id, ''), sample_rate, COUNT(*)
FROM events
WHERE device IS NOT 'bot'
GROUP BY 1, 2, 3;

CREATE TRIGGER rollup_session_hours_after_delete AFTER DELETE ON events
WHEN OLD.device IS NOT 'bot' BEGIN
    UPDATE rollup_session_hours SET events = events - 1
    WHERE hour = OLD.ts / 3600000 - (OLD.ts % 3600000 < 0)
      AND session_key = COALESCE(OLD.session_id, '') AND rate = OLD.sample_rate;
    DELETE FROM rollup_session_hours
    WHERE hour = OLD.ts / 3600000 - (OLD.ts % 3600000 < 0)
      AND session_key = COALESCE(OLD.session_id, '') AND rate = OLD.sample_rate
      AND events <= 0;
END;

CREATE TRIGGER rollup_session_hours_after_update
AFTER UPDATE OF ts, session_id, sample_rate, device ON events BEGIN
    UPDATE rollup_session_hours SET events = events - 1
    WHERE OLD.device IS NOT 'bot'
      AND hour = OLD.ts / 3600000 - (OLD.ts % 3600000 < 0)
      AND session_key = COALESCE(OLD.session_id, '') AND rate = OLD.sample_rate;
    DELETE FROM rollup_session_hours
    WHERE OLD.device IS NOT 'bot'
      AND hour = OLD.ts / 3600000 - (OLD.ts % 3600000 < 0)
      AND session_key = COALESCE(OLD.session_id, '') AND rate = OLD.sample_rate
      AND events <= 0;
    INSERT INTO rollup_session_hours (hour, session_key, rate, events)
    SELECT NEW.ts / 3600000 - (NEW.ts % 3600000 < 0), COALESCE(NEW.session_id, ''),
           NEW.sample_rate, 1
    WHERE NEW.device IS NOT 'bot'
    ON CONFLICT (hour, session_key, rate) DO UPDATE SET events = events + 1;
END;
