// The njs half of the nginx sidecar's inbound check, as a string: nginx runs `check` once per
// connection after the mutual-TLS handshake (its chain check used every trust set at once, one issuer
// deep). The leaf's issuer name, byte for byte, picks the trust set (nginx-inbound.ts guarantees that no
// two trust sets hold roots OpenSSL could take for one another); the leaf's one URI SAN must name that
// set's trust domain; then the intention rules meshpeer laid out apply, first match wins. Because it is
// decided from the certificate alone, a resumed session is judged exactly as a new one. Everything it
// decides from comes from the MESHPEER object nginx-inbound.ts renders in front of this code.
// Written for njs 0.7 (Debian 12's): no destructuring, no for..of, no spread.
export const IDENTITY_NJS = String.raw`
var SEQ = 0x30, CTX_VERSION = 0xa0, CTX_EXTENSIONS = 0xa3, OID = 0x06, BOOLEAN = 0x01, OCTETS = 0x04, URI = 0x86, KEY_ID = 0x80;
var SAN_OID = '551d11', BASIC_CONSTRAINTS_OID = '551d13', AKI_OID = '551d23';

// One DER TLV at pos, not past limit (exclusive): tag, first content byte, end (exclusive); or null.
function tlv(b, pos, limit) {
  if (pos + 2 > limit) return null;
  var tag = b[pos], len = b[pos + 1], first = pos + 2;
  if (len >= 0x80) {
    var n = len - 0x80;
    if (n < 1 || n > 4 || first + n > limit) return null;
    len = 0;
    for (var i = 0; i < n; i++) len = len * 256 + b[first + i];
    first += n;
  }
  var end = first + len;
  if (end > limit) return null;
  return { tag: tag, start: pos, first: first, end: end };
}

function fail(why) { throw new Error(why); }

// The issuer name (hex of its DER), the URI SANs, the CA flag and the issuer key ID of a leaf.
function leafFacts(der) {
  var cert = tlv(der, 0, der.length);
  if (!cert || cert.tag !== SEQ) fail('the client certificate is not DER');
  var tbs = tlv(der, cert.first, cert.end);
  if (!tbs || tbs.tag !== SEQ) fail('the client certificate has no TBSCertificate');
  var facts = { issuer: null, uris: [], ca: false, issuerKey: null };
  var pos = tbs.first, index = 0, first = true;
  while (pos < tbs.end) {
    var t = tlv(der, pos, tbs.end);
    if (!t) fail('the client certificate is malformed');
    if (first && t.tag === CTX_VERSION) { pos = t.end; first = false; continue; }
    first = false;
    // serial, signature algorithm, issuer, validity, subject, key: the issuer is the third.
    if (index === 2) facts.issuer = der.toString('hex', t.start, t.end);
    index++;
    if (t.tag === CTX_EXTENSIONS) extensions(der, t, facts);
    pos = t.end;
  }
  if (facts.issuer === null) fail('the client certificate has no issuer');
  return facts;
}

function extensions(der, ctx, facts) {
  var list = tlv(der, ctx.first, ctx.end);
  if (!list || list.tag !== SEQ) fail("the client certificate's extensions are malformed");
  var p = list.first;
  while (p < list.end) {
    var e = tlv(der, p, list.end);
    if (!e || e.tag !== SEQ) fail('a client certificate extension is malformed');
    var o = tlv(der, e.first, e.end);
    if (!o || o.tag !== OID) fail('a client certificate extension has no OID');
    var v = tlv(der, o.end, e.end);
    if (v && v.tag === BOOLEAN) v = tlv(der, v.end, e.end);
    if (!v || v.tag !== OCTETS) fail('a client certificate extension has no value');
    var oid = der.toString('hex', o.first, o.end);
    var inner = tlv(der, v.first, v.end);
    if (oid === SAN_OID) {
      if (!inner || inner.tag !== SEQ) fail("the client certificate's SAN is malformed");
      var q = inner.first;
      while (q < inner.end) {
        var n = tlv(der, q, inner.end);
        if (!n) fail("the client certificate's SAN is malformed");
        if (n.tag === URI) facts.uris.push(der.toString('utf8', n.first, n.end));
        q = n.end;
      }
    } else if (oid === BASIC_CONSTRAINTS_OID) {
      if (!inner || inner.tag !== SEQ) fail("the client certificate's basic constraints are malformed");
      var c = inner.first < inner.end ? tlv(der, inner.first, inner.end) : null;
      if (c && c.tag === BOOLEAN && c.end === c.first + 1 && der[c.first] !== 0) facts.ca = true;
    } else if (oid === AKI_OID) {
      if (!inner || inner.tag !== SEQ) fail("the client certificate's authority key identifier is malformed");
      var k = inner.first < inner.end ? tlv(der, inner.first, inner.end) : null;
      if (k && k.tag === KEY_ID) facts.issuerKey = der.toString('hex', k.first, k.end);
    }
    p = e.end;
  }
}

// Bounded, no control characters (and for one-word fields no spaces): the log cannot be forged.
function loggable(s, spaces) {
  s = String(s === undefined || s === null ? '' : s);
  if (s.length > 300) s = s.slice(0, 300) + '...';
  return s.replace(spaces ? /[\u0000-\u001f\u007f]/g : /[\u0000-\u0020\u007f]/g, '?');
}

var SEGMENT = /^[A-Za-z0-9._-]+$/;
var DATACENTER = /^[A-Za-z0-9](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?$/;

// A SPIFFE ID of trust domain td as meshpeer issues them, or a thrown reason.
function parseIdentity(uri, td) {
  var prefix = 'spiffe://' + td + '/';
  if (uri.slice(0, prefix.length) !== prefix) {
    var named = /^spiffe:\/\/([^/]*)/.exec(uri);
    if (named) fail('the certificate names trust domain ' + named[1] + ', not ' + td);
    fail("the certificate's URI SAN is not a SPIFFE ID");
  }
  var segs = uri.slice(prefix.length).split('/');
  for (var i = 0; i < segs.length; i++) {
    if (!SEGMENT.test(segs[i]) || segs[i] === '.' || segs[i] === '..') fail("the certificate's SPIFFE ID has an invalid path");
  }
  if (segs.length === 4 && segs[0] === 'agent' && segs[1] === 'server' && segs[2] === 'dc' && DATACENTER.test(segs[3])) {
    return { kind: 'server' };
  }
  var partition = 'default', at = 0;
  if (segs[0] === 'ap' && segs.length === 8) { partition = segs[1]; at = 2; }
  if (segs.length === at + 6 && segs[at] === 'ns' && segs[at + 2] === 'dc' && segs[at + 4] === 'svc' && DATACENTER.test(segs[at + 3])) {
    return { kind: 'service', partition: partition, namespace: segs[at + 1], service: segs[at + 5] };
  }
  fail("the certificate's SPIFFE ID is neither a service nor a server identity");
}

function ruleMatches(rule, caller, peer) {
  if (caller.kind !== 'service') return false;
  if (rule.peer !== undefined) {
    if (peer !== rule.peer) return false;
  } else if (peer !== undefined || rule.partition !== caller.partition) {
    return false;
  }
  if (rule.namespace !== '*' && rule.namespace !== caller.namespace) return false;
  return rule.name === '*' || rule.name === caller.service;
}

function refused(reason, detail, uri, peer) {
  return { allowed: false, reason: reason, detail: detail, uri: uri, peer: peer };
}

// The verdict for one connection from its client certificate (PEM).
function decide(pem) {
  if (!pem) return refused('no-client-certificate', 'the caller sent no certificate');
  var der;
  var facts;
  try {
    der = Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
    facts = leafFacts(der);
  } catch (e) {
    return refused('untrusted-identity', e.message);
  }
  if (facts.uris.length !== 1) {
    return refused('untrusted-identity', 'the certificate must carry exactly one URI SAN, found ' + facts.uris.length);
  }
  var uri = facts.uris[0];
  var set = MESHPEER.sets[MESHPEER.issuers[facts.issuer]];
  if (set === undefined) return refused('untrusted-identity', 'the certificate was not issued by a root of any trust set itself', uri);
  var peer = set.peer === null ? undefined : set.peer;
  if (set.refuse) return refused(set.refuse, set.detail, uri, peer);
  if (facts.ca) return refused('untrusted-identity', 'a CA certificate cannot be used as a workload identity', uri, peer);
  if (set.rootKeys && facts.issuerKey !== null && !set.rootKeys[facts.issuerKey]) {
    return refused('untrusted-identity', 'the certificate was not issued by a root of its trust set itself', uri, peer);
  }
  var caller;
  try {
    caller = parseIdentity(uri, set.trustDomain);
  } catch (e) {
    return refused('untrusted-identity', e.message, uri, peer);
  }
  for (var i = 0; i < MESHPEER.rules.length; i++) {
    var rule = MESHPEER.rules[i];
    if (ruleMatches(rule, caller, peer)) {
      if (rule.allow) return { allowed: true, reason: '-', detail: rule.reason, uri: uri, peer: peer };
      return refused('intention-deny', rule.reason, uri, peer);
    }
  }
  if (MESHPEER.defaultAllow) return { allowed: true, reason: '-', detail: MESHPEER.defaultReason, uri: uri, peer: peer };
  return refused('intention-deny', MESHPEER.defaultReason, uri, peer);
}

function check(s) {
  var verdict;
  try {
    verdict = decide(s.variables.ssl_client_raw_cert);
  } catch (e) {
    verdict = refused('untrusted-identity', 'the identity check failed: ' + e.message);
  }
  s.variables.meshpeer_reason = verdict.reason;
  s.variables.meshpeer_caller = verdict.allowed ? verdict.uri : loggable(verdict.uri || '-');
  s.variables.meshpeer_peer = loggable(verdict.peer || '-');
  if (verdict.allowed) {
    s.allow();
    return;
  }
  s.variables.meshpeer_detail = loggable(verdict.detail, true);
  s.deny();
}

export default { check: check };
`;
