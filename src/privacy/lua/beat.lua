-- KEYS: the places that follow the rights log (a hash). ARGV: this place's
-- id, the position it applied, whether it is durable ('1'/'0'), its label,
-- this open's token, the token this open once displaced from the record
-- ('' for none), the prefix of the log's other keys, then pairs of an entry
-- id this place applied and what it did there (JSON counts), kept 30 days
-- for receipts. Records 'position|seen (server ms)|durable|token|label'.
--
-- Two opens of one place (a copied database, or a restart): a new open
-- takes the record over and is told whose token it displaced; if that open
-- writes the record again, it is alive, so this one is the copy: nothing
-- is written and {-1} returned (the caller takes a new id). A restart's
-- old open never writes again. Returns {the server's time in ms, the token
-- displaced or ''}.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local displaced = ''
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur then
  local token = string.match(cur, '^[^|]*|[^|]*|[^|]*|([^|]*)|')
  if token and token ~= ARGV[5] then
    if ARGV[6] ~= '' and token == ARGV[6] then return {-1, ''} end
    displaced = token
  end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. '|' .. now .. '|' .. ARGV[3] .. '|' .. ARGV[5] .. '|' .. ARGV[4])
for i = 8, #ARGV, 2 do
  local done = ARGV[7] .. 'done:' .. ARGV[i]
  redis.call('HSET', done, ARGV[1], ARGV[i + 1])
  redis.call('PEXPIRE', done, 2592000000)
end
return {now, displaced}
