-- KEYS: session, user index. ARGV: session id, TTL ms, keep ('' for no
-- limit), last seen, '1' for a user's session, then field/value pairs.
-- Returns -1 (writing nothing) if the id is taken, else {session id, how
-- many of the user's sessions were evicted}: the id echoed back tells a
-- real answer from a confused server's.
if redis.call('EXISTS', KEYS[1]) == 1 then return -1 end
hset_pairs(KEYS[1], ARGV, 6)
redis.call('PEXPIRE', KEYS[1], ARGV[2])
local evicted = 0
if ARGV[5] == '1' then
  redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])
  keep_ttl(KEYS[2], ARGV[2])
  if ARGV[3] ~= '' then evicted = evict(KEYS[2], base(KEYS[1], ARGV[1]), tonumber(ARGV[3])) end
end
return {ARGV[1], evicted}
