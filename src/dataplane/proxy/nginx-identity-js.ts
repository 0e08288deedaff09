// The njs half of the nginx sidecar's inbound check, as a string: nginx runs `check` once per
// connection after the mutual-TLS handshake (its chain check used every trust set at once, one issuer
// deep). The leaf's issuer name, byte for byte, picks the trust set (nginx-inbound.ts guarantees that no
// two trust sets hold roots OpenSSL could take for one another); the leaf's one URI SAN must name that
// set's trust domain; then the intention rules meshpeer laid out apply, first match wins. Because it is
// decided from the certificate alone, a resumed session is judged exactly as a new one. Everything it
// decides from comes from the MESHPEER object nginx-inbound.ts writes as JSON and nginx preloads
// (js_preload_object, njs 0.7.8 or later), frozen and shared by every connection. njs runs this
// top-level code again for every connection, so it declares and computes nothing it does not need.
// Written for njs 0.7 (Debian 12's): no destructuring, no for..of, no spread.
export const IDENTITY_NJS = String.raw`
var SEQ = 0x30, CTX_VERSION = 0xa0, CTX_EXTENSIONS = 0xa3, OID = 0x06, BOOLEAN = 0x01, OCTETS = 0x04, URI = 0x86, KEY_ID = 0x80;
// The last byte of each extension OID read (2.5.29.x: 06 03 55 1d x).
var SAN = 0x11, BASIC_CONSTRAINTS = 0x13, AKI = 0x23;

// The DER TLV read last by tlv(): its tag, first content byte and end (exclusive). Kept in variables
// rather than returned as an object: this runs for every connection, and njs allocates slowly.
var TAG = 0, FIRST = 0, END = 0;

// Reads the TLV at pos, not past limit (exclusive), into TAG, FIRST, END; false if it does not fit.
function tlv(b, pos, limit) {
  if (pos + 2 > limit) return false;
  var len = b[pos + 1], first = pos + 2;
  if (len >= 0x80) {
    var n = len - 0x80;
    if (n < 1 || n > 4 || first + n > limit) return false;
    len = 0;
    for (var i = 0; i < n; i++) len = len * 256 + b[first + i];
    first += n;
  }
  if (first + len > limit) return false;
  TAG = b[pos];
  FIRST = first;
  END = first + len;
  return true;
}

function fail(why) { throw new Error(why); }

// The issuer name (hex of its DER), the URI SANs, the CA flag and the issuer key ID of a leaf.
function leafFacts(der) {
  if (!tlv(der, 0, der.length) || TAG !== SEQ) fail('the client certificate is not DER');
  if (!tlv(der, FIRST, END) || TAG !== SEQ) fail('the client certificate has no TBSCertificate');
  var facts = { issuer: null, uris: [], ca: false, issuerKey: null };
  var pos = FIRST, tbsEnd = END, index = 0, first = true;
  while (pos < tbsEnd) {
    if (!tlv(der, pos, tbsEnd)) fail('the client certificate is malformed');
    if (first && TAG === CTX_VERSION) { pos = END; first = false; continue; }
    first = false;
    // serial, signature algorithm, issuer, validity, subject, key: the issuer is the third.
    if (index === 2) facts.issuer = der.toString('hex', pos, END);
    index++;
    if (TAG === CTX_EXTENSIONS) extensions(der, FIRST, END, facts);
    pos = END;
  }
  if (facts.issuer === null) fail('the client certificate has no issuer');
  return facts;
}

function extensions(der, from, to, facts) {
  if (!tlv(der, from, to) || TAG !== SEQ) fail("the client certificate's extensions are malformed");
  var p = FIRST, listEnd = END;
  while (p < listEnd) {
    if (!tlv(der, p, listEnd) || TAG !== SEQ) fail('a client certificate extension is malformed');
    var extEnd = END;
    if (!tlv(der, FIRST, extEnd) || TAG !== OID) fail('a client certificate extension has no OID');
    // Only 2.5.29.17, .19 and .35 are read; any other extension is skipped whole.
    var which = END - FIRST === 3 && der[FIRST] === 0x55 && der[FIRST + 1] === 0x1d ? der[FIRST + 2] : -1;
    if (which === SAN || which === BASIC_CONSTRAINTS || which === AKI) {
      if (!tlv(der, END, extEnd)) fail('a client certificate extension has no value');
      if (TAG === BOOLEAN && !tlv(der, END, extEnd)) fail('a client certificate extension has no value');
      if (TAG !== OCTETS) fail('a client certificate extension has no value');
      var valueEnd = END;
      var inner = tlv(der, FIRST, valueEnd) && TAG === SEQ;
      if (which === SAN) {
        if (!inner) fail("the client certificate's SAN is malformed");
        var q = FIRST, sanEnd = END;
        while (q < sanEnd) {
          if (!tlv(der, q, sanEnd)) fail("the client certificate's SAN is malformed");
          if (TAG === URI) facts.uris.push(der.toString('utf8', FIRST, END));
          q = END;
        }
      } else if (which === BASIC_CONSTRAINTS) {
        if (!inner) fail("the client certificate's basic constraints are malformed");
        if (FIRST < END && tlv(der, FIRST, END) && TAG === BOOLEAN && END === FIRST + 1 && der[FIRST] !== 0) facts.ca = true;
      } else {
        if (!inner) fail("the client certificate's authority key identifier is malformed");
        if (FIRST < END && tlv(der, FIRST, END) && TAG === KEY_ID) facts.issuerKey = der.toString('hex', FIRST, END);
      }
    }
    p = extEnd;
  }
}

// The DER of a PEM certificate (OpenSSL's: 64-character lines ending in '\n'): its base64 body without
// the armour lines and line breaks. njs's base64 decoder stops at the first character outside the
// alphabet, so a body that decoded short is cleaned of every such character and decoded again.
function pemDer(pem) {
  var body = pem.indexOf('\n') + 1;
  var end = pem.lastIndexOf('-----END');
  if (pem.slice(0, 10) !== '-----BEGIN' || body <= 0 || end < body) fail('the client certificate is not PEM');
  var b64 = pem.slice(body, end).split('\n').join('');
  var der = Buffer.from(b64, 'base64');
  if (der.length * 4 < b64.length * 3 - 8) der = Buffer.from(b64.replace(/[^A-Za-z0-9+\/=]/g, ''), 'base64');
  return der;
}

// Bounded, no control characters (and for one-word fields no spaces): the log cannot be forged.
function loggable(s, spaces) {
  s = String(s === undefined || s === null ? '' : s);
  if (s.length > 300) s = s.slice(0, 300) + '...';
  return s.replace(spaces ? /[\u0000-\u001f\u007f]/g : /[\u0000-\u0020\u007f]/g, '?');
}

var SEGMENT = /^[A-Za-z0-9._-]+$/;
var DATACENTER = /^[A-Za-z0-9](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?$/;

// A service's SPIFFE ID path: [ap/<partition>/]ns/<namespace>/dc/<datacenter>/svc/<service>.
var SERVICE_PATH = /^(?:ap\/([A-Za-z0-9._-]+)\/)?ns\/([A-Za-z0-9._-]+)\/dc\/[A-Za-z0-9](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?\/svc\/([A-Za-z0-9._-]+)$/;

function dotted(segment) { return segment === '.' || segment === '..'; }

// A SPIFFE ID of trust domain td as meshpeer issues them, or a thrown reason.
function parseIdentity(uri, td) {
  var prefix = 'spiffe://' + td + '/';
  if (uri.slice(0, prefix.length) !== prefix) {
    var named = /^spiffe:\/\/([^/]*)/.exec(uri);
    if (named) fail('the certificate names trust domain ' + named[1] + ', not ' + td);
    fail("the certificate's URI SAN is not a SPIFFE ID");
  }
  var path = uri.slice(prefix.length);
  // The usual case in one match; anything else is read segment by segment below, to say what is wrong.
  var m = SERVICE_PATH.exec(path);
  if (m && !(m[1] !== undefined && dotted(m[1])) && !dotted(m[2]) && !dotted(m[3])) {
    return { kind: 'service', partition: m[1] === undefined ? 'default' : m[1], namespace: m[2], service: m[3] };
  }
  var segs = path.split('/');
  for (var i = 0; i < segs.length; i++) {
    if (!SEGMENT.test(segs[i]) || dotted(segs[i])) fail("the certificate's SPIFFE ID has an invalid path");
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
    der = pemDer(pem);
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
  // The js_vars start as '-': only what differs is set.
  if (verdict.peer !== undefined) s.variables.meshpeer_peer = loggable(verdict.peer);
  if (verdict.allowed) {
    s.variables.meshpeer_caller = verdict.uri;
    s.allow();
    return;
  }
  s.variables.meshpeer_reason = verdict.reason;
  if (verdict.uri) s.variables.meshpeer_caller = loggable(verdict.uri);
  s.variables.meshpeer_detail = loggable(verdict.detail, true);
  s.deny();
}

export default { check: check };
`;
