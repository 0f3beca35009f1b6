-- KEYS: session. ARGV: token hash, now, expected version ('' for any),
-- size limit, then operations as triples (verb, a, b):
--   s key json: set a top-level key;  d key _: remove one;
--   c _ _: clear the state (also unseals);  x keyid blob: seal (after c).
-- All or nothing. Returns {1, new version}, or {status, fields} for a
-- session that is not there (-1) or past a deadline (-2), {-3} for sealed
-- state edited in place, {-4, version} for a version conflict, {-5, size}
-- for a state over the limit, {-6, fields} for a damaged record.
-- State values are '<seq>:<json>' (seq keeps the keys' order); 'z' is the
-- state's size as a JSON object, 'n' its key count, 'q' the last seq: a
-- write reads only the keys it touches.
local key = KEYS[1]
local m = redis.call('HMGET', key, 'f', 'h', 'ie', 'ae', 'v', 'sk', 'z', 'n', 'q')
if m[1] ~= 'ut1' or m[2] ~= ARGV[1] then return {-1, meta(key)} end
local now = tonumber(ARGV[2])
local ie, ae, v = tonumber(m[3]), tonumber(m[4]), tonumber(m[5])
local z, n, q = tonumber(m[7]), tonumber(m[8]), tonumber(m[9])
if not ie or not ae or not v or not z or not n or not q then return {-6, meta(key)} end
if ie <= now or ae <= now then return {-2, meta(key)} end
if m[6] and ARGV[5] ~= 'c' then return {-3} end
if ARGV[3] ~= '' and tonumber(ARGV[3]) ~= v then return {-4, v} end

-- A key's length as JSON text writes it (serde_json's escapes: '"', '\',
-- and control characters, short or as \u00XX), so that the size counted
-- here is the size of the stored JSON, as SQLite measures it.
local function jlen(k)
  local _, short = string.gsub(k, '[\8\9\10\12\13"\\]', '')
  local _, long = string.gsub(k, '[%z\1-\7\11\14-\31]', '')
  return #k + short + 5 * long
end

-- The keys touched: key -> {seq, json}, or false once removed.
local cur = {}
local damaged = false
local function get(k)
  if cur[k] ~= nil then return cur[k] end
  local val = redis.call('HGET', key, 'd:' .. k)
  if not val then cur[k] = false; return false end
  local c = string.find(val, ':', 1, true)
  if not c then damaged = true; cur[k] = false; return false end
  cur[k] = {string.sub(val, 1, c - 1), string.sub(val, c + 1)}
  return cur[k]
end

local seal, unseal = nil, false
for i = 5, #ARGV, 3 do
  local verb, a, b = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  if verb == 'c' then
    for _, f in ipairs(redis.call('HKEYS', key)) do
      if string.sub(f, 1, 2) == 'd:' then cur[string.sub(f, 3)] = false end
    end
    z, n, unseal = 2, 0, true
  elseif verb == 's' then
    local old = get(a)
    if old then
      z = z + #b - #old[2]
      cur[a] = {old[1], b}
    else
      q = q + 1
      z = z + jlen(a) + 3 + #b
      if n > 0 then z = z + 1 end
      n = n + 1
      cur[a] = {tostring(q), b}
    end
  elseif verb == 'd' then
    local old = get(a)
    if old then
      n = n - 1
      z = z - (jlen(a) + 3 + #old[2])
      if n > 0 then z = z - 1 end
      cur[a] = false
    end
  elseif verb == 'x' then
    seal = {a, b}
  end
end
if damaged then return {-6, meta(key)} end
local size = z
if seal then size = math.floor(#seal[2] * 3 / 4) end
if size > tonumber(ARGV[4]) then return {-5, size} end

local sets = {'z', tostring(z), 'n', tostring(n), 'q', tostring(q)}
for k, e in pairs(cur) do
  if e == false then
    redis.call('HDEL', key, 'd:' .. k)
  else
    sets[#sets + 1] = 'd:' .. k
    sets[#sets + 1] = e[1] .. ':' .. e[2]
  end
end
hset_pairs(key, sets, 1)
if unseal then redis.call('HDEL', key, 'sk', 'sb') end
if seal then redis.call('HSET', key, 'sk', seal[1], 'sb', seal[2]) end
return {1, redis.call('HINCRBY', key, 'v', 1)}
