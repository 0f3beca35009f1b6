-- KEYS: session, user index. ARGV: token hash, idle timeout, idle deadline,
-- absolute deadline, the record's new checksum (these are fields it
-- covers), TTL ms. Only a record still held by the token changes: a new
-- lifetime ("remember me") for a live session. Returns {status, fields}.
local m = meta(KEYS[1])
local s = status(m, ARGV[1], nil)
if s == 1 then
  redis.call('HSET', KEYS[1], 'it', ARGV[2], 'ie', ARGV[3], 'ae', ARGV[4], 'k', ARGV[5])
  redis.call('PEXPIRE', KEYS[1], ARGV[6])
  keep_ttl(KEYS[2], ARGV[6])
end
return {s, m}
