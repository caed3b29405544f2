-- Pop ready members in score order while the global cap and the member's
-- type cap leave a slot; each popped member holds a running slot until it is
-- released. Only the types given are dispatched (a type with no handler is not).
-- KEYS: running, types, dispatched, then ready:<type>, running:<type> per type
-- ARGV: global_max (0 = none), now_ms, limit, then type, cap pairs in the
--       order of KEYS (cap 0 = only the global cap).
-- Returns member, type, member, type, ...
local gmax, now, limit = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3])
local kinds = {}
for i = 4, #ARGV, 2 do
  -- ARGV[i] and KEYS[i] line up: the type's ready key, then its running key
  table.insert(kinds, {t = ARGV[i], cap = tonumber(ARGV[i + 1]), ready = KEYS[i], running = KEYS[i + 1]})
end
local out = {}
while #out < 2 * limit do
  if gmax > 0 and redis.call('SCARD', KEYS[1]) >= gmax then
    break
  end
  local best, best_score, best_kind
  for _, kind in ipairs(kinds) do
    local head = redis.call('ZRANGE', kind.ready, 0, 0, 'WITHSCORES')
    if #head == 0 then
      redis.call('SREM', KEYS[2], kind.t)
    elseif kind.cap == 0 or redis.call('SCARD', kind.running) < kind.cap then
      local s = tonumber(head[2])
      if best == nil or s < best_score or (s == best_score and head[1] < best) then
        best, best_score, best_kind = head[1], s, kind
      end
    end
  end
  if best == nil then
    break
  end
  redis.call('ZREM', best_kind.ready, best)
  redis.call('SADD', KEYS[1], best)
  redis.call('SADD', best_kind.running, best)
  redis.call('HSET', KEYS[3], best, now)
  table.insert(out, best)
  table.insert(out, best_kind.t)
end
return out
