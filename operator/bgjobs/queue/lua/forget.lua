-- Remove a member from every queue and free its slot.
-- KEYS: running, type, priority, score, dispatched, delayed,
--       ready:<type>, running:<type>, ready:<other>, running:<other>
-- ARGV: member, type, other (the caller's ideas of its type)
-- Returns 1 if it held a slot, 0 if not; 'retype:<known>' (nothing changed)
-- when Redis knows it as a type whose keys were not given.
local m, t, other = ARGV[1], ARGV[2], ARGV[3]
local known = redis.call('HGET', KEYS[2], m)
if known and known ~= t and known ~= other then
  return 'retype:' .. known
end
local held = redis.call('SREM', KEYS[1], m)
for i = 7, 10 do
  redis.call(i % 2 == 1 and 'ZREM' or 'SREM', KEYS[i], m)
end
redis.call('ZREM', KEYS[6], m)
redis.call('HDEL', KEYS[2], m)
redis.call('HDEL', KEYS[3], m)
redis.call('HDEL', KEYS[4], m)
redis.call('HDEL', KEYS[5], m)
return held
