-- KEYS: the rights log (a stream). ARGV: the entry's kind, its data (JSON:
-- ids only as hashes; a rectification's new id sealed), its signature (''
-- without a chain key), the prefix of the log's other keys ('<P>:{r}:'),
-- then the hashes whose sealing keys go: an erasure or anonymisation
-- destroys the key that seals a rename to the id, so no entry anywhere
-- can tell the id any more. Returns the new entry's id.
for i = 5, #ARGV do redis.call('DEL', ARGV[4] .. 'seal:' .. ARGV[i]) end
return redis.call('XADD', KEYS[1], '*', 'k', ARGV[1], 'd', ARGV[2], 's', ARGV[3])
