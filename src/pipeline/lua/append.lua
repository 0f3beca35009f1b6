-- KEYS: a partition's stream. ARGV: the cap (MAXLEN ~, a safety net), then
-- kind/data pairs ('e' an event, 'i' an identify, 'x' an erasure; data is
-- JSON text). All appended in order, in one step. Returns their ids.
local ids = {}
for i = 2, #ARGV, 2 do
  ids[#ids + 1] = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'k', ARGV[i], 'd', ARGV[i + 1])
end
return ids
