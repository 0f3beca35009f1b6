-- KEYS: state, ledger. ARGV: the ledger head expected ('' for none), the new
-- head, the entry (JSON text, hashed by the engine), the decision's value,
-- then the purposes it decides. Appends only if the head is still the one
-- the entry was linked to, so the chain has no fork. Returns {1, state} or
-- {0, head} for a head that moved (the engine links again and retries).
local head = redis.call('HGET', KEYS[1], '@head') or ''
if head ~= ARGV[1] then return {0, head} end
redis.call('RPUSH', KEYS[2], ARGV[3])
redis.call('HSET', KEYS[1], '@head', ARGV[2])
for i = 5, #ARGV do redis.call('HSET', KEYS[1], ARGV[i], ARGV[4]) end
return {1, redis.call('HGETALL', KEYS[1])}
