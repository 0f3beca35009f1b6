-- KEYS: an export request's marker. ARGV: how long the request stays open
-- (ms). Replies are taken only while the marker is there.
redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
return 1
