-- KEYS: the key of the user an anonymous id is linked to. ARGV: that user.
-- Deleted only while it still names that user (a later link replaced it
-- otherwise).
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
