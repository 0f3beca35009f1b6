-- usertrail session scripts: shared helpers. A session is one hash; a
-- user's sessions are also in one sorted set (session id -> last seen).
-- Every key a script touches shares the session's {slot} hash tag.
local META = {'f', 's', 'h', 'u', 'c', 'l', 'it', 'ie', 'ae', 'ip', 'br', 'os', 'dv', 'fp', 'v', 'k', 'sk'}

local function meta(key)
  return redis.call('HMGET', key, unpack(META))
end

-- 1: ours, held by token hash h, live at now (nil: any time);
-- -1: missing, foreign or held by another token; -2: past a deadline.
local function status(m, h, now)
  if m[1] ~= 'ut1' or m[3] ~= h then return -1 end
  if now then
    local ie, ae = tonumber(m[8]), tonumber(m[9])
    if not ie or not ae then return -6 end
    if ie <= now or ae <= now then return -2 end
  end
  return 1
end

-- The key prefix of the sessions in a session key's slot.
local function base(key, sid)
  return string.sub(key, 1, #key - #sid)
end

-- Extends a user index's TTL to at least ttl ms (never shortens it).
local function keep_ttl(idx, ttl)
  if redis.call('PTTL', idx) < tonumber(ttl) then redis.call('PEXPIRE', idx, ttl) end
end

-- HSET of many field/value pairs, in chunks (unpack has a limit).
local function hset_pairs(key, list, from)
  local chunk = {}
  for i = from, #list do
    chunk[#chunk + 1] = list[i]
    if #chunk == 200 then redis.call('HSET', key, unpack(chunk)); chunk = {} end
  end
  if #chunk > 0 then redis.call('HSET', key, unpack(chunk)) end
end

-- Drops index entries whose session is gone (deleted, or expired by TTL).
local function prune(idx, prefix)
  for _, m in ipairs(redis.call('ZRANGE', idx, 0, -1)) do
    if redis.call('EXISTS', prefix .. m) == 0 then redis.call('ZREM', idx, m) end
  end
end

-- Deletes a user's least recently used sessions until keep remain.
local function evict(idx, prefix, keep)
  prune(idx, prefix)
  local n = redis.call('ZCARD', idx) - keep
  if n <= 0 then return 0 end
  local victims = redis.call('ZRANGE', idx, 0, n - 1)
  for _, m in ipairs(victims) do
    redis.call('DEL', prefix .. m)
    redis.call('ZREM', idx, m)
  end
  return #victims
end
