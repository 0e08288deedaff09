// The Lua half of the HAProxy sidecar's inbound check, as a string: HAProxy runs it once per
// connection after the mutual-TLS handshake (whose chain check used the trust set the crt-list picked
// by SNI). It reads the caller's SPIFFE ID from the leaf's URI SAN, requires its trust domain to be
// that trust set's, parses the identity, and applies the intention rules meshpeer laid out, first
// match wins. Everything it decides from (trust sets, rules, default) comes from the MESHPEER table
// that haproxy-inbound.ts renders in front of this code. The result goes into txn variables that the
// frontend's rules and log line read. Kept as a TS constant so the bundled CLI carries it.
export const IDENTITY_LUA = String.raw`
local CERT_SEQ, CTX_EXTENSIONS, OID, BOOLEAN, OCTETS, URI = 0x30, 0xA3, 0x06, 0x01, 0x04, 0x86
local SAN_OID, BASIC_CONSTRAINTS_OID, AKI_OID = "\x55\x1d\x11", "\x55\x1d\x13", "\x55\x1d\x23"
local KEY_ID = 0x80

-- One DER TLV starting at pos, not past limit: tag, first and last content byte, next position.
local function tlv(der, pos, limit)
  if pos + 1 > limit then return nil end
  local tag, len = der:byte(pos), der:byte(pos + 1)
  local first = pos + 2
  if len >= 0x80 then
    local n = len - 0x80
    if n < 1 or n > 4 or first + n - 1 > limit then return nil end
    len = 0
    for i = 0, n - 1 do len = len * 256 + der:byte(first + i) end
    first = first + n
  end
  local last = first + len - 1
  if last > limit then return nil end
  return tag, first, last, last + 1
end

-- The leaf's URI SANs, whether it says it is a CA, and the key ID of its issuer (authority key
-- identifier) if it names one; or nil and why not.
local function leaf_facts(der)
  local tag, first, last = tlv(der, 1, #der)
  if tag ~= CERT_SEQ then return nil, "the client certificate is not DER" end
  tag, first, last = tlv(der, first, last)
  if tag ~= CERT_SEQ then return nil, "the client certificate has no TBSCertificate" end
  local uris, is_ca, issuer_key = {}, false, nil
  local pos = first
  while pos <= last do
    local t, cf, cl, nxt = tlv(der, pos, last)
    if not t then return nil, "the client certificate is malformed" end
    if t == CTX_EXTENSIONS then
      local ts, sf, sl = tlv(der, cf, cl)
      if ts ~= CERT_SEQ then return nil, "the client certificate's extensions are malformed" end
      local p = sf
      while p <= sl do
        local te, ef, el, en = tlv(der, p, sl)
        if te ~= CERT_SEQ then return nil, "a client certificate extension is malformed" end
        local to, of, ol, on = tlv(der, ef, el)
        if to ~= OID then return nil, "a client certificate extension has no OID" end
        local tv, vf, vl, vn = tlv(der, on, el)
        if tv == BOOLEAN then tv, vf, vl, vn = tlv(der, vn, el) end
        if tv ~= OCTETS then return nil, "a client certificate extension has no value" end
        local oid = der:sub(of, ol)
        if oid == SAN_OID then
          local tg, gf, gl = tlv(der, vf, vl)
          if tg ~= CERT_SEQ then return nil, "the client certificate's SAN is malformed" end
          local q = gf
          while q <= gl do
            local tn, nf, nl, nn = tlv(der, q, gl)
            if not tn then return nil, "the client certificate's SAN is malformed" end
            if tn == URI then uris[#uris + 1] = der:sub(nf, nl) end
            q = nn
          end
        elseif oid == BASIC_CONSTRAINTS_OID then
          local tb, bf, bl = tlv(der, vf, vl)
          if tb ~= CERT_SEQ then return nil, "the client certificate's basic constraints are malformed" end
          if bf <= bl then
            local tc, cf2, cl2 = tlv(der, bf, bl)
            if tc == BOOLEAN and cf2 == cl2 and der:byte(cf2) ~= 0 then is_ca = true end
          end
        elseif oid == AKI_OID then
          local ta, af, al = tlv(der, vf, vl)
          if ta ~= CERT_SEQ then return nil, "the client certificate's authority key identifier is malformed" end
          if af <= al then
            local tk, kf, kl = tlv(der, af, al)
            if tk == KEY_ID then issuer_key = der:sub(kf, kl) end
          end
        end
        p = en
      end
    end
    pos = nxt
  end
  return { uris = uris, ca = is_ca, issuer_key = issuer_key }
end

-- Bounded, no control characters (and for one-word fields no spaces): what reaches the log cannot
-- forge lines or fields.
local function loggable(s, spaces)
  s = tostring(s or "")
  if #s > 300 then s = s:sub(1, 300) .. "..." end
  return (s:gsub(spaces and "[\0-\x1f\x7f]" or "[\0-\x20\x7f]", "?"))
end

local SEGMENT = "^[A-Za-z0-9._%-]+$"

local function datacenter_ok(dc)
  return #dc <= 63 and (dc:match("^[A-Za-z0-9]$") or dc:match("^[A-Za-z0-9][A-Za-z0-9_%-]*[A-Za-z0-9]$")) ~= nil
end

-- A SPIFFE ID of trust domain td as meshpeer issues them, or nil and why not.
local function parse_identity(uri, td)
  local prefix = "spiffe://" .. td .. "/"
  if uri:sub(1, #prefix) ~= prefix then
    local named = uri:match("^spiffe://([^/]*)")
    if named then return nil, "the certificate names trust domain " .. named .. ", not " .. td end
    return nil, "the certificate's URI SAN is not a SPIFFE ID"
  end
  local segs = {}
  for seg in (uri:sub(#prefix + 1) .. "/"):gmatch("([^/]*)/") do
    if not seg:match(SEGMENT) or seg == "." or seg == ".." then
      return nil, "the certificate's SPIFFE ID has an invalid path"
    end
    segs[#segs + 1] = seg
  end
  if #segs == 4 and segs[1] == "agent" and segs[2] == "server" and segs[3] == "dc" and datacenter_ok(segs[4]) then
    return { kind = "server" }
  end
  local partition, at = "default", 0
  if segs[1] == "ap" and #segs == 8 then partition, at = segs[2], 2 end
  if #segs == at + 6 and segs[at + 1] == "ns" and segs[at + 3] == "dc" and segs[at + 5] == "svc"
      and datacenter_ok(segs[at + 4]) then
    return { kind = "service", partition = partition, namespace = segs[at + 2], service = segs[at + 6] }
  end
  return nil, "the certificate's SPIFFE ID is neither a service nor a server identity"
end

local function rule_matches(rule, caller, peer)
  if caller.kind ~= "service" then return false end
  if rule.peer ~= nil then
    if peer ~= rule.peer then return false end
  elseif peer ~= nil or rule.partition ~= caller.partition then
    return false
  end
  if rule.namespace ~= "*" and rule.namespace ~= caller.namespace then return false end
  return rule.name == "*" or rule.name == caller.service
end

-- The verdict for one connection: true, or false with the refusal's reason label and detail.
-- Also returns the caller's SPIFFE ID and peer when known, for the log.
local function decide(sni, der)
  local line = MESHPEER.lines[string.lower(sni or "")] or MESHPEER.default_line
  if der == nil or #der == 0 then return false, "no-client-certificate", "the caller sent no certificate" end
  local facts, problem = leaf_facts(der)
  if not facts then return false, "untrusted-identity", problem end
  if #facts.uris ~= 1 then
    return false, "untrusted-identity", "the certificate must carry exactly one URI SAN, found " .. #facts.uris
  end
  local uri = facts.uris[1]
  if line.refuse then return false, line.refuse, line.detail, uri, line.peer end
  if facts.ca then return false, "untrusted-identity", "a CA certificate cannot be used as a workload identity", uri, line.peer end
  -- Issued by one of the set's roots itself, as the Node sidecar requires (no intermediates): the
  -- issuer key ID, when the leaf names one, is a root's subject key ID.
  if line.root_keys and facts.issuer_key and not line.root_keys[facts.issuer_key] then
    return false, "untrusted-identity", "the certificate was not issued by a root of its trust set itself", uri, line.peer
  end
  local caller, why = parse_identity(uri, line.trust_domain)
  if not caller then return false, "untrusted-identity", why, uri, line.peer end
  for _, rule in ipairs(MESHPEER.rules) do
    if rule_matches(rule, caller, line.peer) then
      if rule.allow then return true, nil, rule.reason, uri, line.peer end
      return false, "intention-deny", rule.reason, uri, line.peer
    end
  end
  if MESHPEER.default_allow then return true, nil, MESHPEER.default_reason, uri, line.peer end
  return false, "intention-deny", MESHPEER.default_reason, uri, line.peer
end

core.register_action("meshpeer_inbound", { "tcp-req" }, function(txn)
  local ok, allowed, reason, detail, uri, peer = pcall(decide, txn.f:ssl_fc_sni(), txn.f:ssl_c_der())
  if not ok then
    allowed, reason, detail = false, "untrusted-identity", "the identity check failed: " .. tostring(allowed)
  end
  if allowed then
    -- Read only if the connection then fails (the log skips normal ones); an allowed caller's ID
    -- passed the SPIFFE grammar, so it is safe to log as it is.
    txn:set_var("txn.meshpeer_allowed", true)
    txn:set_var("txn.meshpeer_event", "allowed inbound connection failed")
    txn:set_var("txn.meshpeer_caller", uri)
    if peer then txn:set_var("txn.meshpeer_peer", peer) end
    return
  end
  txn:set_var("txn.meshpeer_allowed", false)
  txn:set_var("txn.meshpeer_event", "refused inbound connection")
  txn:set_var("txn.meshpeer_refusal", reason)
  txn:set_var("txn.meshpeer_caller", loggable(uri or "-"))
  txn:set_var("txn.meshpeer_peer", loggable(peer or "-"))
  txn:set_var("txn.meshpeer_detail", loggable(detail, true))
end)
`;
