-- KEYS: session, user index. ARGV: token hash, last seen, idle deadline,
-- TTL ms, session id, '1' for a user's session. Never revives a deleted
-- session: only a record still held by the token is touched.
if redis.call('HGET', KEYS[1], 'h') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'l', ARGV[2], 'ie', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
if ARGV[6] == '1' then
  redis.call('ZADD', KEYS[2], ARGV[2], ARGV[5])
  keep_ttl(KEYS[2], ARGV[4])
end
return 1
