-- KEYS: state, ledger, links, the user it is linked to. ARGV: the head
-- expected, then the ledger's entries rewritten without the subject, its IP
-- and user agent (their hashes stay, so the chain still verifies). The
-- decisions and links (both directions) go.
-- Returns {1, links} or {0} if the ledger moved meanwhile.
local head = redis.call('HGET', KEYS[1], '@head') or ''
if head ~= ARGV[1] then return {0} end
local links = redis.call('SMEMBERS', KEYS[3])
redis.call('DEL', KEYS[2], KEYS[3], KEYS[4])
for i = 2, #ARGV do redis.call('RPUSH', KEYS[2], ARGV[i]) end
local fields = redis.call('HKEYS', KEYS[1])
for _, f in ipairs(fields) do
  if f ~= '@head' then redis.call('HDEL', KEYS[1], f) end
end
return {1, links}
