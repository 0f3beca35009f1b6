-- KEYS: the rights log (a stream). ARGV: the entry's kind, its data (JSON,
-- with hashes of ids, never the ids; only a rectification carries the new
-- id), the prefix of the log's other keys ('<P>:{r}:'), how many hashes
-- follow to forget, those hashes, then the hash of the clear id this entry
-- carries ('' for none), then the hash of a renamed id and its old name's
-- hash ('' for none).
--
-- Forgetting a hash (an erasure, an anonymisation): the entries that carry
-- its id in clear are deleted (XDEL) and so are its references and the
-- hashes of its old names. Returns the new entry's id.
local kpre = ARGV[3]
local n = tonumber(ARGV[4])
for i = 5, 4 + n do
  local refs = kpre .. 'refs:' .. ARGV[i]
  local ids = redis.call('SMEMBERS', refs)
  for _, id in ipairs(ids) do redis.call('XDEL', KEYS[1], id) end
  redis.call('DEL', refs, kpre .. 'was:' .. ARGV[i])
end
local id = redis.call('XADD', KEYS[1], '*', 'k', ARGV[1], 'd', ARGV[2])
local carried = ARGV[5 + n]
if carried and carried ~= '' then redis.call('SADD', kpre .. 'refs:' .. carried, id) end
local renamed, old = ARGV[6 + n], ARGV[7 + n]
if renamed and renamed ~= '' and old and old ~= '' then
  local was = kpre .. 'was:' .. renamed
  redis.call('SADD', was, old)
  local earlier = redis.call('SMEMBERS', kpre .. 'was:' .. old)
  for _, h in ipairs(earlier) do redis.call('SADD', was, h) end
end
return id
