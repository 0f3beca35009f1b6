-- KEYS: an export request's replies (a hash). ARGV: the place answering,
-- its rows (JSON), how long to keep them (ms) if nobody collects them.
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
