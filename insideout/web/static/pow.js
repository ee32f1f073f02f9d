/* InsideOut proof of work in the browser: solves a puzzle of GET /api/v1/pow by SHA-256.
 * No dependencies. Served by the app at /api/v1/pow.js; the rules are insideout/pow.py's.
 *
 * A solution is a nonce (lowercase hex) such that SHA-256 of the ASCII text salt + nonce starts with
 * `difficulty` zero bits: 2**difficulty digests on average. Two engines: 'js' (the default), SHA-256 of one
 * block in plain JavaScript (a puzzle's text is at most 48 bytes), which works anywhere; and 'subtle', Web
 * Crypto's crypto.subtle.digest, which exists only in a secure context (https, or http on localhost) and,
 * measured by `insideout bench-pow` in Chromium, is about 13 times slower: it pays a promise per digest.
 *
 *   <script src="/api/v1/pow.js"></script>
 *   const challenge = await InsideOutPow.createChallenge('');   // fetch, solve, POST /api/v1/challenges
 *   // or by hand:
 *   const puzzle = await InsideOutPow.fetchPuzzle('');
 *   const pow = await InsideOutPow.solve(puzzle);                 // the puzzle's fields and a nonce
 *   const same = await InsideOutPow.solve(puzzle, {engine: 'subtle'});
 *   fetch('/api/v1/challenges', {method: 'POST', headers: {'content-type': 'application/json'},
 *                                body: JSON.stringify({pow})});
 */
(function (root) {
  'use strict';

  // Digests in flight at once: Web Crypto is asynchronous, and one digest per await would spend most of the
  // time scheduling promises.
  var BATCH = 1024;
  // Refusals a fresh puzzle cures.
  var REFETCH = {pow_expired: true, pow_too_easy: true, pow_reused: true};

  function leadingZeroBits(bytes) {
    var bits = 0;
    for (var i = 0; i < bytes.length; i++) {
      if (bytes[i] === 0) { bits += 8; continue; }
      return bits + Math.clz32(bytes[i]) - 24;
    }
    return bits;
  }

  function solution(puzzle, n) {
    return {algorithm: puzzle.algorithm, salt: puzzle.salt, difficulty: puzzle.difficulty,
            expires_at: puzzle.expires_at, signature: puzzle.signature, nonce: n.toString(16)};
  }

  // -- SHA-256 of one block (FIPS 180-4), for texts of at most 55 bytes -------------------------------------

  var K = new Int32Array([
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2]);
  var H0 = new Int32Array([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                           0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]);

  // The digest's eight words, into `out`, of the first `length` bytes of `block` (64 bytes, zero past length).
  function sha256Block(block, length, w, out) {
    block[length] = 0x80;
    block[62] = (length * 8) >>> 8;
    block[63] = (length * 8) & 0xff;
    for (var i = 0; i < 16; i++) {
      w[i] = (block[4 * i] << 24) | (block[4 * i + 1] << 16) | (block[4 * i + 2] << 8) | block[4 * i + 3];
    }
    for (i = 16; i < 64; i++) {
      var x = w[i - 15], y = w[i - 2];
      var s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
      var s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
      w[i] = (w[i - 16] + s0 + w[i - 7] + s1) | 0;
    }
    var a = H0[0], b = H0[1], c = H0[2], d = H0[3], e = H0[4], f = H0[5], g = H0[6], h = H0[7];
    for (i = 0; i < 64; i++) {
      var t1 = (h + (((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7)))
                + ((e & f) ^ (~e & g)) + K[i] + w[i]) | 0;
      var t2 = ((((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10)))
                + ((a & b) ^ (a & c) ^ (b & c))) | 0;
      h = g; g = f; f = e; e = (d + t1) | 0; d = c; c = b; b = a; a = (t1 + t2) | 0;
    }
    out[0] = (H0[0] + a) | 0; out[1] = (H0[1] + b) | 0; out[2] = (H0[2] + c) | 0; out[3] = (H0[3] + d) | 0;
    out[4] = (H0[4] + e) | 0; out[5] = (H0[5] + f) | 0; out[6] = (H0[6] + g) | 0; out[7] = (H0[7] + h) | 0;
    block[length] = 0;  // the block is reused for the next nonce
  }

  function leadingZeroBitsOfWords(words) {
    var bits = 0;
    for (var i = 0; i < words.length; i++) {
      if (words[i] === 0) { bits += 32; continue; }
      return bits + Math.clz32(words[i]);
    }
    return bits;
  }

  // Back to the page's event loop for a moment (a message, not setTimeout: nested timeouts wait 4 ms or more).
  function yieldToPage() {
    return new Promise(function (resolve) {
      if (typeof MessageChannel === 'undefined') { setTimeout(resolve, 0); return; }
      var channel = new MessageChannel();
      channel.port1.onmessage = function () { channel.port1.close(); resolve(); };
      channel.port2.postMessage(null);
    });
  }

  // Plain JavaScript, in slices of SLICE nonces (tens of ms), yielding to the page between them.
  var SLICE = 32768;
  async function solveJs(puzzle) {
    var block = new Uint8Array(64), w = new Int32Array(64), out = new Int32Array(8);
    var salt = puzzle.salt, difficulty = puzzle.difficulty;
    if (salt.length + 16 > 55) throw new Error('InsideOut: the salt is too long for one block');
    for (var i = 0; i < salt.length; i++) block[i] = salt.charCodeAt(i);
    for (var start = 0; ; start += SLICE) {
      for (var n = start; n < start + SLICE; n++) {
        var nonce = n.toString(16), length = salt.length + nonce.length;
        for (var c = 0; c < nonce.length; c++) block[salt.length + c] = nonce.charCodeAt(c);
        sha256Block(block, length, w, out);
        for (c = salt.length; c < length; c++) block[c] = 0;
        if (leadingZeroBitsOfWords(out) >= difficulty) return solution(puzzle, n);
      }
      await yieldToPage();
    }
  }

  // -- Web Crypto -----------------------------------------------------------------------------------------

  async function solveSubtle(puzzle, batch) {
    var salt = new TextEncoder().encode(puzzle.salt);
    var difficulty = puzzle.difficulty;
    for (var start = 0; ; start += batch) {
      var jobs = new Array(batch);
      for (var k = 0; k < batch; k++) {
        var nonce = (start + k).toString(16);
        var data = new Uint8Array(salt.length + nonce.length);
        data.set(salt);
        for (var c = 0; c < nonce.length; c++) data[salt.length + c] = nonce.charCodeAt(c);
        jobs[k] = crypto.subtle.digest('SHA-256', data);
      }
      var digests = await Promise.all(jobs);
      for (var j = 0; j < batch; j++) {
        if (leadingZeroBits(new Uint8Array(digests[j])) >= difficulty) return solution(puzzle, start + j);
      }
    }
  }

  // Resolves to the puzzle's fields with the first nonce (counting up from 0) that solves it; both engines find
  // the same one. options: {engine: 'js' (default) or 'subtle', batch: Web Crypto's digests in flight}.
  function solve(puzzle, options) {
    var engine = (options && options.engine) || 'js';
    if (engine === 'js') return solveJs(puzzle);
    if (engine !== 'subtle') return Promise.reject(new Error('InsideOut: no engine ' + engine));
    return solveSubtle(puzzle, (options && options.batch) || BATCH);
  }

  async function fetchPuzzle(base) {
    var response = await fetch((base || '') + '/api/v1/pow', {cache: 'no-store', credentials: 'omit'});
    if (!response.ok) throw new Error('InsideOut: no puzzle (HTTP ' + response.status + ')');
    return response.json();
  }

  // POST /api/v1/challenges with a solved puzzle (body: more fields of the request; options: solve's); resolves
  // to the challenge (201's body). A refusal that a fresh puzzle cures (expired, spent, too easy after the rate
  // rose) is retried twice.
  async function createChallenge(base, body, options) {
    for (var attempt = 0; ; attempt++) {
      var pow = await solve(await fetchPuzzle(base), options);
      var response = await fetch((base || '') + '/api/v1/challenges', {
        method: 'POST', headers: {'content-type': 'application/json'}, credentials: 'omit',
        body: JSON.stringify(Object.assign({}, body || {}, {pow: pow})),
      });
      var answer = await response.json();
      if (response.ok) return answer;
      if (!(response.status === 403 && REFETCH[answer.error] && attempt < 2)) {
        var error = new Error('InsideOut: ' + answer.error + ': ' + answer.message);
        error.status = response.status;
        error.code = answer.error;
        throw error;
      }
    }
  }

  root.InsideOutPow = {solve: solve, fetchPuzzle: fetchPuzzle, createChallenge: createChallenge,
                       leadingZeroBits: leadingZeroBits};
})(typeof globalThis !== 'undefined' ? globalThis : this);
