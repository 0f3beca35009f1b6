-- Schema version 8: bots are not users. Analytics leave events whose device
-- class is 'bot' out by default, and the rollup the fast paths read no
-- longer counts them: rebuilt here without them.
DELETE FROM rollup_user_hours;
INSERT INTO rollup_user_hours (hour, user_key, events, weight, max_rate)
SELECT ts / 3600000 - (ts % 3600000 < 0), COALESCE(user_id, anonymous_id),
       COUNT(*), SUM(1.0 / sample_rate), MAX(sample_rate)
FROM events
WHERE COALESCE(user_id, anonymous_id) IS NOT NULL AND device IS NOT 'bot'
GROUP BY 1, 2;
