-- KEYS: the places that follow the rights log (a hash). ARGV: this place's
-- id, the position it applied, whether it is durable ('1'/'0'), its label,
-- then the prefix of the log's other keys and pairs of an entry id this
-- place applied and what it did there (JSON counts), kept 30 days for
-- receipts. Records 'position|seen (server ms)|durable|label'. Returns the
-- server's time in ms.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. '|' .. now .. '|' .. ARGV[3] .. '|' .. ARGV[4])
for i = 6, #ARGV, 2 do
  local done = ARGV[5] .. 'done:' .. ARGV[i]
  redis.call('HSET', done, ARGV[1], ARGV[i + 1])
  redis.call('PEXPIRE', done, 2592000000)
end
return now
