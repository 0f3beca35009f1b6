-- KEYS: a partition's stream, its trim mark. ARGV: the cap (a safety net),
-- then kind/data pairs ('e' an event, 'i' an identify, 'x' an erasure; data
-- is JSON text). All appended in order, in one step. Past the cap, the
-- oldest entries go and the trim mark rises past them, so that a copy that
-- had not read them is told (REPLICA_BEHIND) rather than skipping them.
-- Returns the new entries' ids.
local ids = {}
for i = 2, #ARGV, 2 do
  ids[#ids + 1] = redis.call('XADD', KEYS[1], '*', 'k', ARGV[i], 'd', ARGV[i + 1])
end
local cap = tonumber(ARGV[1])
local over = redis.call('XLEN', KEYS[1]) - cap
-- Trimmed in chunks of a tenth of the cap, as MAXLEN ~ would: all but the
-- cap and one, then that one (the last entry that goes), by its id.
if over > 0 and over >= math.floor(cap / 10) then
  redis.call('XTRIM', KEYS[1], 'MAXLEN', cap + 1)
  local last = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)[1][1]
  local ms, seq = string.match(last, '^(%d+)-(%d+)$')
  local keep = ms .. '-' .. string.format('%.0f', tonumber(seq) + 1)
  redis.call('XTRIM', KEYS[1], 'MINID', keep)
  local mms, mseq = string.match(redis.call('GET', KEYS[2]) or '0-0', '^(%d+)-(%d+)$')
  if tonumber(mms) < tonumber(ms) or (tonumber(mms) == tonumber(ms) and tonumber(mseq) <= tonumber(seq)) then
    redis.call('SET', KEYS[2], keep)
  end
end
return ids
