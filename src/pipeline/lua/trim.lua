-- KEYS: a partition's stream, its trim mark. ARGV: the lowest id to keep.
-- Entries below it (committed by the partition) go, and the mark rises to
-- it. Returns how many went.
local n = redis.call('XTRIM', KEYS[1], 'MINID', ARGV[1])
local function parse(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms or '0'), tonumber(seq or '0')
end
local mms, mseq = parse(redis.call('GET', KEYS[2]) or '0-0')
local kms, kseq = parse(ARGV[1])
if mms < kms or (mms == kms and mseq < kseq) then
  redis.call('SET', KEYS[2], ARGV[1])
end
return n
