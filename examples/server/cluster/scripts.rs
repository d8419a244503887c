//! The cluster's Lua scripts. Redis runs each alone, start to end: every change to the
//! shared state is one of these (see `cluster.rs` and `checkpoint.rs` for what they are for).

/// Shared by the scripts below.
pub(super) const COMMON: &str = r"
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
-- Whether a stream named `holder` (NODE#BOOT.CONN) may write session state while
-- `stream:{id}` is `s`: nobody else holds it, it holds it, or its instance took the
-- session over from a checkpoint (a fence, INSTANCE.fence).
local function may_hold(s, holder)
  if not s or s == holder then return true end
  local inst = string.match(holder, '^(.*)%.[^.]*$')
  return inst ~= nil and s == inst .. '.fence'
end
local function drop_checkpoint(p, id)
  local k = p .. 'ckpt:' .. id
  local inst = redis.call('HGET', k, 'instance')
  if inst then redis.call('SREM', p .. 'ckpts:' .. inst, id) end
  redis.call('DEL', k)
end
local function take(p, id)
  local rec = p .. 'sm:' .. id
  local q = rec .. ':q'
  local f = redis.call('HMGET', rec, 'record', 'jid')
  local items = redis.call('LRANGE', q, 0, -1)
  redis.call('DEL', rec, q)
  redis.call('ZREM', p .. 'deadlines', id)
  if f[2] and f[2] ~= '' then
    local jk = p .. 'jid:' .. f[2]
    if redis.call('GET', jk) == id then redis.call('DEL', jk) end
  end
  local out = {f[1] or ''}
  for _, item in ipairs(items) do out[#out + 1] = item end
  return out
end
";

/// ARGV: prefix, id, owner, jid, node, deadline (ms), record, queued, holder, resumption
/// time (s). Writes the
/// record and its indexes, and removes the session's checkpoint, in one step (the two never
/// exist together): 1. 0, writing nothing, if `stream:{id}` names another holder than the
/// stream that hibernates (an empty holder is not checked): another node took the session
/// over from a checkpoint meanwhile ([`FALLBACK`], [`ORPHANS`]).
pub(super) const HIBERNATE: &str = r"
local p, id = ARGV[1], ARGV[2]
local s = redis.call('GET', p .. 'stream:' .. id)
if ARGV[9] ~= '' and not may_hold(s, ARGV[9]) then return 0 end
drop_checkpoint(p, id)
local rec = p .. 'sm:' .. id
redis.call('DEL', rec .. ':q')
redis.call('HSET', rec, 'owner', ARGV[3], 'jid', ARGV[4], 'node', ARGV[5],
  'deadline', ARGV[6], 'record', ARGV[7], 'queued', ARGV[8], 'max', ARGV[10])
redis.call('ZADD', p .. 'deadlines', ARGV[6], id)
if ARGV[4] ~= '' then
  local jk = p .. 'jid:' .. ARGV[4]
  local old = redis.call('GET', jk)
  if old and old ~= id then
    -- A newer session on the same full JID replaces the old one: it expires now.
    redis.call('HSET', p .. 'sm:' .. old, 'deadline', 0)
    redis.call('ZADD', p .. 'deadlines', 0, old)
  end
  redis.call('SET', jk, id)
end
return 1
";

/// ARGV: prefix, full JID, item, max queue, this node. Where a stanza for a full JID that
/// no stream or session of this node holds goes, decided in one step: `appended` to the
/// session hibernated on it (while the record exists and its deadline has not passed),
/// `full` at the queue limit, `live:NODE` when another node's stream has it bound, or `none`.
/// One script, because a session leaving Redis is named live by the claim that takes it
/// out, and one entering Redis is named live until its record is written: every moment one
/// of the two answers, but a lookup of one followed by a lookup of the other can fall
/// between them.
pub(super) const ROUTE: &str = r"
local p = ARGV[1]
local id = redis.call('GET', p .. 'jid:' .. ARGV[2])
if id then
  local rec = p .. 'sm:' .. id
  local f = redis.call('HMGET', rec, 'deadline', 'queued')
  if f[1] and tonumber(f[1]) > now_ms() then
    local q = rec .. ':q'
    if tonumber(f[2]) + redis.call('LLEN', q) >= tonumber(ARGV[4]) then return 'full' end
    redis.call('RPUSH', q, ARGV[3])
    return 'appended'
  end
end
local live = redis.call('GET', p .. 'live:' .. ARGV[2])
if live then
  local node = string.match(live, '^[^#]*')
  if node ~= ARGV[5] then return 'live:' .. node end
end
return 'none'
";

/// ARGV: prefix, full JID, deadline (ms, or empty: the record's resumption time from now).
/// Ends XEP-0357's extended hibernation of the session hibernated on that JID: its deadline
/// moves to the one given, if that is earlier (an extension only ever ends early): 1 if it
/// moved.
pub(super) const DEADLINE: &str = r"
local p = ARGV[1]
local id = redis.call('GET', p .. 'jid:' .. ARGV[2])
if not id then return 0 end
local rec = p .. 'sm:' .. id
local f = redis.call('HMGET', rec, 'deadline', 'max')
if not f[1] then return 0 end
local d = tonumber(ARGV[3])
if not d then
  if not f[2] then return 0 end
  d = now_ms() + tonumber(f[2]) * 1000
end
if d >= tonumber(f[1]) then return 0 end
redis.call('HSET', rec, 'deadline', d)
redis.call('ZADD', p .. 'deadlines', d, id)
return 1
";

/// ARGV: prefix, id, owner, node, race window (ms), instance, fence ms. Nil, or {record,
/// appended items...}. A claim leaves `claimed:{id}` naming the node for the race window,
/// names the node in `live:{jid}` at once, and moves a fence in `stream:{id}` (the record
/// came from a checkpoint) to the claiming instance, whose stream then holds the session.
pub(super) const CLAIM: &str = r"
local rec = ARGV[1] .. 'sm:' .. ARGV[2]
local f = redis.call('HMGET', rec, 'owner', 'deadline', 'jid')
if f[1] ~= ARGV[3] then return false end
if tonumber(f[2]) <= now_ms() then return false end
redis.call('SET', ARGV[1] .. 'claimed:' .. ARGV[2], ARGV[4], 'PX', ARGV[5])
-- The claimer resumes it: other nodes send its stanzas there from now on.
if f[3] and f[3] ~= '' then redis.call('SET', ARGV[1] .. 'live:' .. f[3], ARGV[4]) end
local sk = ARGV[1] .. 'stream:' .. ARGV[2]
local s = redis.call('GET', sk)
if s and string.sub(s, -6) == '.fence' then
  redis.call('SET', sk, ARGV[6] .. '.fence', 'PX', ARGV[7])
end
return take(ARGV[1], ARGV[2])
";

/// ARGV: prefix, limit. {{id, record, appended items...}...}.
pub(super) const EXPIRE: &str = r"
local ids = redis.call('ZRANGEBYSCORE', ARGV[1] .. 'deadlines', '-inf', now_ms(),
  'LIMIT', 0, tonumber(ARGV[2]))
local out = {}
for _, id in ipairs(ids) do
  local t = take(ARGV[1], id)
  table.insert(t, 1, id)
  out[#out + 1] = t
end
return out
";

/// ARGV: prefix, id, holder, instance, owner, record. Writes the checkpoint of a live
/// stream (`ckpt:{id}`, a hash: `holder`, `instance`, `owner`, `record`; its id in
/// `ckpts:{instance}`): 1. 0, writing nothing, if `stream:{id}` names another holder: the
/// session was taken over from a checkpoint, and this stream must end.
pub(super) const CHECKPOINT: &str = r"
local p, id, holder = ARGV[1], ARGV[2], ARGV[3]
if not may_hold(redis.call('GET', p .. 'stream:' .. id), holder) then return 0 end
redis.call('HSET', p .. 'ckpt:' .. id, 'holder', holder, 'instance', ARGV[4],
  'owner', ARGV[5], 'record', ARGV[6])
redis.call('SADD', p .. 'ckpts:' .. ARGV[4], id)
redis.call('SADD', p .. 'instances', ARGV[4])
return 1
";

/// ARGV: prefix, id, holder. Removes the checkpoint of session `id` if that holder wrote it
/// (its stream ended, or hibernated without a record).
pub(super) const DROP_CHECKPOINT: &str = r"
if redis.call('HGET', ARGV[1] .. 'ckpt:' .. ARGV[2], 'holder') == ARGV[3] then
  drop_checkpoint(ARGV[1], ARGV[2])
end
return 1
";

/// How long a fence stays in `stream:{id}` (ms): a day, like an ended session's `h`.
pub(super) const FENCE_MS: u64 = 86_400_000;

/// ARGV: prefix, id, owner, fence (INSTANCE.fence), fence ms. The checkpoint of session `id`, taken out for `owner`
/// when its stream's node did not hand the session over: nil unless it exists, is the
/// owner's, and no newer stream holds the session. `stream:{id}` is set to `fence` in the
/// same step, so that the old stream, if its node still runs, can neither checkpoint nor
/// hibernate the session again.
pub(super) const FALLBACK: &str = r"
local p, id = ARGV[1], ARGV[2]
local c = redis.call('HMGET', p .. 'ckpt:' .. id, 'holder', 'owner', 'record')
if not c[3] or c[2] ~= ARGV[3] then return false end
local s = redis.call('GET', p .. 'stream:' .. id)
if s and s ~= c[1] then return false end
drop_checkpoint(p, id)
redis.call('SET', p .. 'stream:' .. id, ARGV[4], 'PX', ARGV[5])
return c[3]
";

/// ARGV: prefix, limit, fence, fence ms. What node instances that stopped renewing
/// `alive:{instance}` (dead, or hung for longer than its time to live) left: {records, full
/// JIDs}. At most `limit` checkpoint records per instance, each taken out and fenced as in
/// [`FALLBACK`] (a newer stream's session is left alone, its stale checkpoint dropped); and
/// the full JIDs whose shared presence the instance wrote (`presences:{instance}`), taken
/// once. The fence is INSTANCE.fence, as in [`FALLBACK`].
pub(super) const ORPHANS: &str = r"
local p = ARGV[1]
local out, jids = {}, {}
for _, inst in ipairs(redis.call('SMEMBERS', p .. 'instances')) do
  if redis.call('EXISTS', p .. 'alive:' .. inst) == 0 then
    local pres = p .. 'presences:' .. inst
    for _, jid in ipairs(redis.call('SMEMBERS', pres)) do jids[#jids + 1] = jid end
    redis.call('DEL', pres)
    local set = p .. 'ckpts:' .. inst
    for _, id in ipairs(redis.call('SRANDMEMBER', set, tonumber(ARGV[2]))) do
      local c = redis.call('HMGET', p .. 'ckpt:' .. id, 'holder', 'instance', 'record')
      redis.call('SREM', set, id)
      if c[3] and c[2] == inst then
        redis.call('DEL', p .. 'ckpt:' .. id)
        local s = redis.call('GET', p .. 'stream:' .. id)
        if not s or s == c[1] then
          redis.call('SET', p .. 'stream:' .. id, ARGV[3], 'PX', ARGV[4])
          out[#out + 1] = c[3]
        end
      end
    end
    if redis.call('SCARD', set) == 0 then redis.call('SREM', p .. 'instances', inst) end
  end
end
return {out, jids}
";

/// ARGV: prefix, account, full JID, presence entry (empty: unavailable), payload, channel,
/// instance. Sets or removes the resource's shared presence, keeps `presence:accounts`
/// naming the accounts that have one and `presences:{instance}` the resources the instance
/// wrote (for [`ORPHANS`]), and announces the change, in one step.
pub(super) const PRESENCE: &str = r"
local key = ARGV[1] .. 'presence:' .. ARGV[2]
if ARGV[4] ~= '' then
  redis.call('HSET', key, ARGV[3], ARGV[4])
  redis.call('SADD', ARGV[1] .. 'presences:' .. ARGV[7], ARGV[3])
else
  redis.call('HDEL', key, ARGV[3])
  redis.call('SREM', ARGV[1] .. 'presences:' .. ARGV[7], ARGV[3])
end
if redis.call('EXISTS', key) == 1 then
  redis.call('SADD', ARGV[1] .. 'presence:accounts', ARGV[2])
else
  redis.call('SREM', ARGV[1] .. 'presence:accounts', ARGV[2])
end
redis.call('PUBLISH', ARGV[6], ARGV[5])
return 1
";
