-- KEYS: session. ARGV: token hash, now, expected version ('' for any),
-- size limit, then operations as triples (verb, a, b):
--   s key json: set a top-level key;  d key _: remove one;
--   c _ _: clear the state (also unseals);  x keyid blob: seal (after c).
-- All or nothing. Returns {1, new version}, or {status, fields} for a
-- session that is not there (-1) or past a deadline (-2), {-3} for sealed
-- state edited in place, {-4, version} for a version conflict, {-5, size}
-- for a state over the limit.
local m = meta(KEYS[1])
local s = status(m, ARGV[1], tonumber(ARGV[2]))
if s ~= 1 then return {s, m} end
if m[17] and ARGV[5] ~= 'c' then return {-3} end
local v = tonumber(m[15])
if not v then return {-6, m} end
if ARGV[3] ~= '' and tonumber(ARGV[3]) ~= v then return {-4, v} end
-- State values are '<seq>:<json>': seq keeps the keys' order.
local old, cur = {}, {}
local q = tonumber(redis.call('HGET', KEYS[1], 'q')) or 0
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  if string.sub(all[i], 1, 2) == 'd:' then
    local k, val = string.sub(all[i], 3), all[i + 1]
    local c = string.find(val, ':', 1, true)
    if not c then return {-6, m} end
    old[k] = val
    cur[k] = {string.sub(val, 1, c - 1), string.sub(val, c + 1)}
  end
end
local seal, unseal = nil, false
for i = 5, #ARGV, 3 do
  local verb, a, b = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  if verb == 'c' then cur = {}; unseal = true
  elseif verb == 's' then
    if cur[a] then cur[a] = {cur[a][1], b} else q = q + 1; cur[a] = {tostring(q), b} end
  elseif verb == 'd' then cur[a] = nil
  elseif verb == 'x' then seal = {a, b}
  end
end
local size
if seal then
  size = math.floor(#seal[2] * 3 / 4)
else
  local n = 0
  size = 2
  for k, e in pairs(cur) do size = size + #k + 3 + #e[2]; n = n + 1 end
  if n > 1 then size = size + n - 1 end
end
if size > tonumber(ARGV[4]) then return {-5, size} end
for k in pairs(old) do
  if cur[k] == nil then redis.call('HDEL', KEYS[1], 'd:' .. k) end
end
local sets = {'q', tostring(q)}
for k, e in pairs(cur) do
  local val = e[1] .. ':' .. e[2]
  if old[k] ~= val then sets[#sets + 1] = 'd:' .. k; sets[#sets + 1] = val end
end
hset_pairs(KEYS[1], sets, 1)
if unseal then redis.call('HDEL', KEYS[1], 'sk', 'sb') end
if seal then redis.call('HSET', KEYS[1], 'sk', seal[1], 'sb', seal[2]) end
return {1, redis.call('HINCRBY', KEYS[1], 'v', 1)}
