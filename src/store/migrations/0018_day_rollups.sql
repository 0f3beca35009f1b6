-- Schema version 18: whole UTC days of the two hour rollups, one compact
-- row each, which a summary of many days reads instead of a row per user or
-- session and hour (analytics::days). Written by a summary that read a
-- day's hour rows (days before the clock's only). A copy of those rows, so
-- whatever changes a row of one of a day's hours deletes the day's row in
-- the same transaction, and the next summary reads that day's hour rows
-- again:
-- - ingest, and the recounts of identify, erasure, rectification and
--   retention, delete the rows of the days they write (tracking::rollup);
-- - the triggers below cover what changes the rollups by SQL: a deleted or
--   renamed user row (erasure, anonymisation, an operator's SQL), and an
--   event deleted or changed, which the session rollup's triggers of
--   version 14 count (recreated here with the day's row added).
-- An operator who inserts or updates rollup rows by SQL deletes the day
-- rows too (DELETE FROM rollup_days). Holds no key, only 64-bit hashes of
-- the users' and sessions' keys under the database's own key (meta
-- 'rollup.day_key'); a day row that counted a subject goes when their rows
-- do.
CREATE TABLE rollup_days (
    day  INTEGER PRIMARY KEY,  -- floor(hour / 24)
    data BLOB NOT NULL         -- analytics::days's format
) STRICT;

CREATE TRIGGER rollup_days_after_user_delete AFTER DELETE ON rollup_user_hours BEGIN
    DELETE FROM rollup_days WHERE day = OLD.hour / 24 - (OLD.hour % 24 < 0);
END;

CREATE TRIGGER rollup_days_after_user_rename AFTER UPDATE OF hour, user_key ON rollup_user_hours BEGIN
    DELETE FROM rollup_days WHERE day = OLD.hour / 24 - (OLD.hour % 24 < 0);
    DELETE FROM rollup_days WHERE day = NEW.hour / 24 - (NEW.hour % 24 < 0);
END;

DROP TRIGGER rollup_session_hours_after_delete;
DROP TRIGGER rollup_session_hours_after_update;

CREATE TRIGGER rollup_session_hours_after_delete AFTER DELETE ON events
WHEN OLD.device IS NOT 'bot' BEGIN
    UPDATE rollup_session_hours SET events = events - 1
    WHERE hour = OLD.ts / 3600000 - (OLD.ts % 3600000 < 0)
      AND session_key = COALESCE(OLD.session_id, '') AND rate = OLD.sample_rate;
    DELETE FROM rollup_session_hours
    WHERE hour = OLD.ts / 3600000 - (OLD.ts % 3600000 < 0)
      AND session_key = COALESCE(OLD.session_id, '') AND rate = OLD.sample_rate
      AND events <= 0;
    DELETE FROM rollup_days WHERE day = OLD.ts / 86400000 - (OLD.ts % 86400000 < 0);
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
    DELETE FROM rollup_days WHERE day = OLD.ts / 86400000 - (OLD.ts % 86400000 < 0);
    DELETE FROM rollup_days WHERE day = NEW.ts / 86400000 - (NEW.ts % 86400000 < 0);
END;
