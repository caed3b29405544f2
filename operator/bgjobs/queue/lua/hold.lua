-- Record that a member's attempt is running (an adopted Job).
-- KEYS: ready:<type>, delayed, running, running:<type>, type, priority
-- ARGV: member, type, priority
local m, t, prio = ARGV[1], ARGV[2], ARGV[3]
redis.call('ZREM', KEYS[1], m)
redis.call('ZREM', KEYS[2], m)
redis.call('SADD', KEYS[3], m)
redis.call('SADD', KEYS[4], m)
redis.call('HSET', KEYS[5], m, t)
redis.call('HSET', KEYS[6], m, prio)
return 1
