-- Queue a member: ready now, or delayed until due. A member that holds a
-- running slot is left alone (its attempt is still going).
-- KEYS: running, type, priority, score, delayed, types, ready:<type>,
--       ready:<other> (the type the caller thinks it may have had)
-- ARGV: member, type, priority, score, due_ms, now_ms, other
-- Returns 'running', 'delayed' or 'ready'; 'retype:<old>' (nothing changed)
-- when the member was queued as a type whose key was not given.
local m, t, prio = ARGV[1], ARGV[2], ARGV[3]
local score, due, now = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
if redis.call('SISMEMBER', KEYS[1], m) == 1 then
  return 'running'
end
local old = redis.call('HGET', KEYS[2], m)
if old and old ~= t then
  if old ~= ARGV[7] then
    return 'retype:' .. old
  end
  redis.call('ZREM', KEYS[8], m)
end
redis.call('HSET', KEYS[2], m, t)
redis.call('HSET', KEYS[3], m, prio)
redis.call('HSET', KEYS[4], m, ARGV[4])
if due > now then
  redis.call('ZREM', KEYS[7], m)
  redis.call('ZADD', KEYS[5], due, m)
  return 'delayed'
end
redis.call('ZREM', KEYS[5], m)
redis.call('ZADD', KEYS[7], score, m)
redis.call('SADD', KEYS[6], t)
return 'ready'
