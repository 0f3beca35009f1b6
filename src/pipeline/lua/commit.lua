-- A replica's commit, as the other replicas see it. KEYS: the partition's
-- stream, its lease, its replicas (worker -> 'position|until'), the
-- stream's trim mark. ARGV: this worker, the position it committed, how
-- long its entry lasts (ms), its fencing token ('0' for a standby; checked
-- with the worker, so a token repeated after Redis lost its data fences too), the
-- lowest id its own trim would keep.
-- Records the position; then, only for the lease's holder (the token is
-- checked here: a worker whose lease another took trims nothing), trims
-- the stream below what every live replica committed, and raises the
-- trim mark. Returns the entries trimmed, or -1 when the token is not the
-- lease's.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HSET', KEYS[3], ARGV[1], ARGV[2] .. '|' .. string.format('%.0f', now + tonumber(ARGV[3])))
if ARGV[4] == '0' then
  return 0
end
local held = redis.call('GET', KEYS[2])
local token, holder = string.match(held or '', '^(%d+)|([^|]*)|')
if token ~= ARGV[4] or holder ~= ARGV[1] then
  return -1
end
local function parse(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms or '0'), tonumber(seq or '0')
end
local function below(ams, aseq, bms, bseq)
  return ams < bms or (ams == bms and aseq < bseq)
end
local kms, kseq = parse(ARGV[5])
local all = redis.call('HGETALL', KEYS[3])
for i = 1, #all, 2 do
  local pos, untl = string.match(all[i + 1], '^(.*)|(%d+)$')
  if untl and tonumber(untl) > now then
    local ms, seq = parse(pos)
    if below(ms, seq + 1, kms, kseq) then
      kms, kseq = ms, seq + 1
    end
  end
end
local keep = string.format('%.0f-%.0f', kms, kseq)
local trimmed = redis.call('XTRIM', KEYS[1], 'MINID', keep)
local mark = redis.call('GET', KEYS[4])
local mms, mseq = parse(mark or '0-0')
if below(mms, mseq, kms, kseq) then
  redis.call('SET', KEYS[4], keep)
end
return trimmed
