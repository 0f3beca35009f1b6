-- A partition's lease. KEYS: its lease ('token|worker|url', expiring), its
-- fencing counter, its replicas (a hash: worker -> 'position|until').
-- ARGV: this worker, its URL, its committed position, how long the lease
-- and its replica entry last (ms), and what it wants: 'own' (take a free
-- lease, or renew its own), 'standby' (hold a copy; give the lease up if it
-- has it), 'leave' (no copy any more; give the lease up), 'read' (change
-- nothing). Replica entries past their time go.
-- Returns {the lease or '', {worker, position, ...} of the live replicas}.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local worker, url, position, ttl, want = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5]
if want == 'leave' then
  redis.call('HDEL', KEYS[3], worker)
elseif want ~= 'read' then
  redis.call('HSET', KEYS[3], worker, position .. '|' .. string.format('%.0f', now + ttl))
end
local all = redis.call('HGETALL', KEYS[3])
local live = {}
for i = 1, #all, 2 do
  local pos, untl = string.match(all[i + 1], '^(.*)|(%d+)$')
  if untl and tonumber(untl) > now then
    live[#live + 1] = all[i]
    live[#live + 1] = pos
  elseif want ~= 'read' then
    redis.call('HDEL', KEYS[3], all[i])
  end
end
local held = redis.call('GET', KEYS[1])
local holder = held and string.match(held, '^%d+|([^|]*)|')
if want == 'own' then
  if not held then
    held = redis.call('INCR', KEYS[2]) .. '|' .. worker .. '|' .. url
    redis.call('SET', KEYS[1], held, 'PX', ttl)
  elseif holder == worker then
    redis.call('PEXPIRE', KEYS[1], ttl)
  end
elseif held and holder == worker and want ~= 'read' then
  redis.call('DEL', KEYS[1])
  held = false
end
return {held or '', live}
