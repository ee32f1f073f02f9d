/* InsideOut widget: the emotion audio check on any site, with a proof-of-work route for people who cannot hear.
 *
 *   <script src="{base}/widget.js" async defer></script>
 *   <form ...> ... <div class="insideout-captcha" data-sitekey="K"></div> ... </form>
 *
 * Options (data-* on the div, or render()'s options): sitekey, callback, expired-callback, error-callback (a
 * function or the name of a global one), lang (en|ko; default: the page's <html lang>), theme (light|dark|auto),
 * action, response-field-name (default insideout-response). On a pass the token goes into a hidden input of that
 * name in the host form; the site's server redeems it at POST {base}/api/v1/siteverify with its secret.
 * Explicit API: insideout.render(elOrSelector, options) -> id, reset(id?), getResponse(id?), remove(id?);
 * `?render=explicit` turns off automatic rendering, `?onload=fn` (or window.insideoutOnload) is called when ready.
 * No dependencies; it talks only to the InsideOut server it was loaded from. The challenge id, the slots and the
 * token stay in memory (and the token in the hidden input): never in the widget's DOM, never in a log.
 */
(function () {
  'use strict';
  var W = window, D = document;
  if (W.insideout && W.insideout.version) return;

  var me = D.currentScript || [].slice.call(D.querySelectorAll('script[src*="/widget"]')).pop();
  var SRC = new URL(me && me.src ? me.src : location.href);
  var API = SRC.origin + '/api/v1';
  var REFETCH = {pow_required: 1, pow_too_easy: 1, pow_expired: 1, pow_reused: 1, pow_invalid: 1};

  // -- words --------------------------------------------------------------------------------------------------
  var NAMES = {neutral: ['Neutral', '중립'], calm: ['Calm', '차분함'], happy: ['Happy', '행복'], sad: ['Sad', '슬픔'],
    angry: ['Angry', '화남'], fearful: ['Fearful', '두려움'], disgust: ['Disgust', '혐오'],
    surprised: ['Surprised', '놀람']};
  var T = {
    en: {brand: 'InsideOut audio check', start: 'I\'m not a robot — start audio check',
      alt: 'I can\'t listen to audio', loading: 'Loading the check…', work: 'Checking your browser… {0}%',
      round: 'Round {0} of {1}', how: 'Play each clip and choose the emotion you hear. Keys 1–8 pick a choice.', play: 'Play',
      replay: 'Replay', playN: 'Play clip {0} of {1}', replayN: 'Replay clip {0} of {1}',
      which: 'Which emotion? Clip {0} of {1}', submit: 'Submit answers', fresh: 'New challenge',
      left: 'Time left: {0}', minute: 'One minute left.', pick: 'Choose an emotion for this clip.',
      pickN: 'Choose an emotion for clip {0} of {1}.', wrong: 'Not quite. Round {0} of {1}, with new clips.',
      goOn: 'Answer saved. Go on with round {0} of {1}.', ok: 'Verified', valid: 'Valid for {0}',
      failed: 'Not passed. You can try a new challenge.', expired: 'This challenge expired.',
      tokenGone: 'Your verification expired. Please check again.', again: 'Check again',
      network: 'Could not reach the verification service, or this site is not allowed to use it.',
      retry: 'Try again', wait: 'Try again in {0}', rate: 'Too many attempts. Please wait a moment.',
      cooldown: 'Too many wrong answers lately. Please wait before trying again.',
      noClips: 'No audio checks are available right now. Please try again shortly.',
      badKey: 'This site\'s InsideOut key is not valid.', closed: 'This challenge is already closed.',
      oops: 'Something went wrong ({0}).', altHow: 'Your browser will do a short computation instead of the ' +
        'audio check. It can take several seconds.', altWork: 'Working… {0}%', altBar: 'Computation progress',
      cancel: 'Cancel', cancelled: 'Cancelled.', altOff: 'This site does not offer the alternative. Please use ' +
        'the audio check or contact the site.', clipBad: 'This clip could not be loaded. Try a new challenge.'},
    ko: {brand: 'InsideOut 오디오 확인', start: '로봇이 아닙니다 — 오디오 확인 시작', alt: '오디오를 들을 수 없어요',
      loading: '확인을 불러오는 중…', work: '브라우저를 확인하는 중… {0}%', round: '라운드 {0}/{1}',
      how: '각 클립을 재생하고 들리는 감정을 고르세요. 숫자 키 1–8로 고를 수 있습니다.', play: '재생', replay: '다시 재생', playN: '클립 {0}/{1} 재생',
      replayN: '클립 {0}/{1} 다시 재생', which: '어떤 감정인가요? 클립 {0}/{1}', submit: '답 제출', fresh: '새 확인',
      left: '남은 시간: {0}', minute: '1분 남았습니다.', pick: '이 클립의 감정을 고르세요.',
      pickN: '클립 {0}/{1}의 감정을 고르세요.', wrong: '틀렸습니다. 새 클립으로 라운드 {0}/{1}을 진행하세요.',
      goOn: '답을 저장했습니다. 라운드 {0}/{1}을 계속하세요.', ok: '확인 완료', valid: '{0} 동안 유효',
      failed: '통과하지 못했습니다. 새 확인을 시도할 수 있습니다.', expired: '이 확인의 시간이 만료되었습니다.',
      tokenGone: '확인이 만료되었습니다. 다시 확인해 주세요.', again: '다시 확인',
      network: '확인 서비스에 연결할 수 없거나 이 사이트에서 사용할 수 없습니다.', retry: '다시 시도',
      wait: '{0} 후에 다시 시도', rate: '시도가 너무 많습니다. 잠시 기다려 주세요.',
      cooldown: '최근 틀린 답이 너무 많습니다. 잠시 후 다시 시도하세요.',
      noClips: '지금은 오디오 확인을 사용할 수 없습니다. 잠시 후 다시 시도하세요.',
      badKey: '이 사이트의 InsideOut 키가 올바르지 않습니다.', closed: '이 확인은 이미 종료되었습니다.',
      oops: '문제가 발생했습니다 ({0}).', altHow: '오디오 확인 대신 브라우저가 짧은 계산을 합니다. 몇 초 걸릴 수 있습니다.',
      altWork: '계산 중… {0}%', altBar: '계산 진행률', cancel: '취소', cancelled: '취소되었습니다.',
      altOff: '이 사이트는 대체 방법을 제공하지 않습니다. 오디오 확인을 이용하거나 사이트에 문의하세요.',
      clipBad: '이 클립을 불러올 수 없습니다. 새 확인을 시도하세요.'}
  };
  function fmt(s) {
    var a = arguments;
    return s.replace(/\{(\d)\}/g, function (_, i) { return a[+i + 1]; });
  }
  function mmss(s) {
    s = Math.max(0, Math.ceil(s));
    return Math.floor(s / 60) + ':' + ('0' + (s % 60)).slice(-2);
  }

  // -- look ---------------------------------------------------------------------------------------------------
  var DARK = '--bg:#1f1f1f;--fg:#f1f1f1;--mut:#cacaca;--bd:#9b9b9b;--ac:#9ec1ff;--on:#0b1a33;--ok:#8fe3ad;' +
    '--err:#ffb4ab;--soft:#2d2d2d;--ring:#ffd166';
  var CSS = ':host{all:initial;display:block;max-width:100%}:host([hidden]),[hidden]{display:none!important}' +
    '*{box-sizing:border-box}' +
    '.io{--bg:#fff;--fg:#1b1b1b;--mut:#4a4a4a;--bd:#6b6b6b;--ac:#1d4ed8;--on:#fff;--ok:#166534;--err:#b3261e;' +
    '--soft:#eef1f6;--ring:#1d4ed8;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans KR",' +
    '"Apple SD Gothic Neo",NanumGothic,sans-serif;color:var(--fg);background:var(--bg);border:1px solid var(--bd);' +
    'border-radius:8px;padding:12px;max-width:420px;overflow-wrap:anywhere;text-align:start}' +
    '.dark{' + DARK + '}@media (prefers-color-scheme:dark){.auto{' + DARK + '}}' +
    'p{margin:0 0 8px}button{font:inherit;color:var(--fg);background:var(--soft);border:1px solid var(--bd);' +
    'border-radius:6px;padding:8px 12px;min-height:44px;max-width:100%;cursor:pointer;text-align:center}' +
    'button.pri{background:var(--ac);color:var(--on);border-color:var(--ac);font-weight:600}' +
    'button.lnk{background:none;border-color:transparent;text-decoration:underline;padding:8px 4px}' +
    'button:disabled{cursor:default;opacity:.7}:focus-visible{outline:3px solid var(--ring);outline-offset:2px}' +
    '.msg{padding:8px 10px;border-radius:6px;background:var(--soft);font-weight:600}' +
    '.msg:empty{padding:0;margin:0;background:none}.bad{color:var(--err)}.good{color:var(--ok)}' +
    '.mut{color:var(--mut);font-size:13px}.row{display:flex;flex-wrap:wrap;gap:8px;align-items:center}' +
    '.top{display:flex;flex-wrap:wrap;justify-content:space-between;gap:4px 12px;align-items:baseline}' +
    '.ttl{font-weight:700;font-size:16px}fieldset{border:1px solid var(--bd);border-radius:6px;margin:0 0 10px;' +
    'padding:6px 10px 10px;min-width:0}legend{font-weight:600;padding:0 4px}' +
    '.opts{display:grid;grid-template-columns:repeat(auto-fill,minmax(108px,1fr));gap:2px 6px;margin-top:6px}' +
    '.opts label{display:flex;align-items:center;gap:8px;padding:6px;border-radius:4px;min-height:36px;' +
    'cursor:pointer}.opts label:hover{background:var(--soft)}.opts input{width:18px;height:18px;margin:0;' +
    'flex:none;accent-color:var(--ac)}.note{color:var(--err);margin:6px 0 0;font-weight:600}' +
    '.track{height:12px;border:1px solid var(--bd);border-radius:6px;overflow:hidden;margin:8px 0}' +
    '.fill{height:100%;width:0;background:var(--ac)}';

  var SHEET = null;  // one constructed sheet for every widget: no inline <style>, so a strict CSP needs nothing
  try { SHEET = new CSSStyleSheet(); SHEET.replaceSync(CSS); } catch (e) { SHEET = null; }

  // -- small helpers ------------------------------------------------------------------------------------------
  function el(tag, attrs, kids) {
    var n = D.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      var v = attrs[k];
      if (v == null || v === false) return;
      if (k === 'text') n.textContent = v;
      else if (k.slice(0, 2) === 'on') n.addEventListener(k.slice(2), v);
      else n.setAttribute(k, v === true ? '' : v);
    });
    [].concat(kids || []).forEach(function (c) { if (c != null) n.append(c); });
    return n;
  }
  function fail(code, status, retry) {
    var e = new Error('InsideOut: ' + code);
    e.code = code; e.status = status || 0; e.retry = retry || 0;
    return e;
  }
  async function call(method, path, body) {
    var r, data = {};
    try {
      r = await fetch(API + path, {method: method, mode: 'cors', credentials: 'omit', cache: 'no-store',
        headers: body ? {'Content-Type': 'application/json'} : {}, body: body ? JSON.stringify(body) : null});
    } catch (e) {
      throw fail('network');  // unreachable, or an origin the site does not allow (sent without CORS headers)
    }
    try { data = await r.json(); } catch (e) { /* not JSON */ }
    if (!r.ok) throw fail(data.error || 'http_' + r.status, r.status, +r.headers.get('Retry-After') || data.retry_after);
    return data;
  }
  function global(f) {
    if (typeof f === 'function' || !f) return f;
    var v = String(f).split('.').reduce(function (o, k) { return o == null ? o : o[k]; }, W);
    return typeof v === 'function' ? v : null;
  }
  // A deadline in client time from a server's Unix-seconds expiry, trusting the client's clock unless it is
  // clearly off (then the lifetime the server is known to give).
  function until(exp, ttl) {
    var left = exp - Date.now() / 1000;
    return Date.now() + 1000 * (left > 0 && left < 86400 ? left : ttl);
  }
  function tokenExpiry(token) {
    try {
      return +JSON.parse(atob(token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/'))).exp || 0;
    } catch (e) { return 0; }
  }

  // -- proof of work (the rule of /api/v1/pow.js: sha256(salt + hex nonce) starts with `difficulty` zero bits;
  // the same single-block SHA-256 in plain JavaScript, which works on plain http too and beats crypto.subtle) --
  var K = new Int32Array([0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
    0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152,
    0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138,
    0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70,
    0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5,
    0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa,
    0xa4506ceb, 0xbef9a3f7, 0xc67178f2]);
  var H = new Int32Array([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
    0x5be0cd19]);
  function zeroBits(b, len, w) {  // leading zero bits of SHA-256 of b[0:len] (len <= 55; b is zero past len)
    var i, a, c, d, e, f, g, h, k, t, u, x, y;
    b[len] = 0x80; b[62] = (len * 8) >>> 8; b[63] = (len * 8) & 0xff;
    for (i = 0; i < 16; i++) w[i] = (b[4 * i] << 24) | (b[4 * i + 1] << 16) | (b[4 * i + 2] << 8) | b[4 * i + 3];
    for (i = 16; i < 64; i++) {
      x = w[i - 15]; y = w[i - 2];
      w[i] = (w[i - 16] + (((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3)) + w[i - 7] +
        (((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10))) | 0;
    }
    a = H[0]; c = H[1]; d = H[2]; k = H[3]; e = H[4]; f = H[5]; g = H[6]; h = H[7];
    for (i = 0; i < 64; i++) {
      t = (h + (((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7))) +
        ((e & f) ^ (~e & g)) + K[i] + w[i]) | 0;
      u = ((((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10))) +
        ((a & c) ^ (a & d) ^ (c & d))) | 0;
      h = g; g = f; f = e; e = (k + t) | 0; k = d; d = c; c = a; a = (t + u) | 0;
    }
    b[len] = 0;
    var out = [a, c, d, k, e, f, g, h], bits = 0;
    for (i = 0; i < 8; i++) {
      x = (H[i] + out[i]) | 0;
      if (x) return bits + Math.clz32(x);
      bits += 32;
    }
    return bits;
  }
  function pause() {
    return new Promise(function (ok) {
      var m = new MessageChannel();
      m.port1.onmessage = function () { m.port1.close(); ok(); };
      m.port2.postMessage(0);
    });
  }
  // The puzzle's fields with the first nonce that solves it; null when stopped() turns true. progress(percent of
  // the expected work) between slices of about 40 ms, which give the page back its event loop.
  async function solve(p, progress, stopped) {
    var s = String(p.salt), b = new Uint8Array(64), w = new Int32Array(64), d = p.difficulty, n = 0, i, t0;
    if (s.length > 39) throw fail('pow_invalid');
    for (i = 0; i < s.length; i++) b[i] = s.charCodeAt(i);
    for (;;) {
      t0 = Date.now();
      do {
        for (var stop = n + 2048; n < stop; n++) {
          var hex = n.toString(16), len = s.length + hex.length;
          for (i = 0; i < hex.length; i++) b[s.length + i] = hex.charCodeAt(i);
          var z = zeroBits(b, len, w);
          for (i = s.length; i < len; i++) b[i] = 0;
          if (z >= d) {
            return {algorithm: p.algorithm, salt: p.salt, difficulty: p.difficulty, expires_at: p.expires_at,
              signature: p.signature, nonce: hex};
          }
        }
      } while (Date.now() - t0 < 40);
      progress(Math.min(99, Math.floor(100 * n / Math.pow(2, d))));
      await pause();
      if (stopped()) return null;
    }
  }

  // -- one widget ---------------------------------------------------------------------------------------------
  var widgets = [];

  function Widget(id, host, o) {
    var self = this;
    self.id = id; self.host = host; self.o = o; self.gen = 0; self.token = '';
    self.lang = /^ko/i.test(o.lang || D.documentElement.lang || '') ? 'ko' : 'en';
    self.t = T[self.lang];
    var theme = /^(light|dark)$/.test(o.theme) ? o.theme : 'auto';
    var root = host.shadowRoot || host.attachShadow({mode: 'open'});
    root.textContent = '';
    self.msg = el('p', {class: 'msg', role: 'status', 'aria-live': 'polite', tabindex: '-1'});
    self.body = el('div');
    self.box = el('div', {class: 'io ' + theme, lang: self.lang, role: 'group', 'aria-label': self.t.brand},
      [self.msg, self.body]);
    if (SHEET) root.adoptedStyleSheets = [SHEET];
    else root.append(el('style', {text: CSS}));
    root.append(self.box);
    self.root = root;
    var name = o['response-field-name'] || o.responseFieldName || 'insideout-response';
    self.input = el('input', {type: 'hidden', name: name, value: ''});
    host.appendChild(self.input);
    host.setAttribute('data-insideout-id', id);
    self.iv = setInterval(function () { self.tick(); }, 1000);
    self.idle();
  }

  Widget.prototype = {
    // -- states --
    clear: function (text, kind) {
      this.gen++;
      this.stopAudio();
      this.deadline = 0; this.clock = null; this.c = null;
      this.say(text || '', kind);
      this.body.textContent = '';
      return this.gen;
    },
    say: function (text, kind) {
      this.msg.textContent = text;
      this.msg.className = 'msg' + (kind ? ' ' + kind : '');
    },
    // Focus node unless the visitor is busy elsewhere in the page.
    grab: function (node) {
      var a = D.activeElement;
      if (!a || a === D.body || a === this.host || this.root.activeElement) node.focus();
    },
    idle: function (text, kind) {
      var self = this, t = self.t;
      self.clear(text, kind);
      self.body.append(el('div', {class: 'row'}, [
        el('button', {type: 'button', class: 'pri', onclick: function () { self.start(); }, text: t.start}),
        self.altButton()]));
      if (text) self.grab(self.msg);
    },
    altButton: function () {
      var self = this;
      return el('button', {type: 'button', class: 'lnk', onclick: function () { self.alternative(); },
        text: self.t.alt});
    },
    freshButton: function (label) {
      var self = this;
      return el('button', {type: 'button', onclick: function () { self.start(); }, text: label || self.t.fresh});
    },
    start: async function () {
      var self = this, t = self.t, g = self.clear(t.loading);
      self.msg.focus();
      var body = {}, c;
      if (self.o.sitekey) body.sitekey = self.o.sitekey;
      if (self.o.action) body.action = self.o.action;
      try {
        for (var attempt = 0; ; attempt++) {
          try {
            c = await call('POST', '/challenges' + self.key('?'), body);
            break;
          } catch (e) {
            if (!(e.status === 403 && REFETCH[e.code] && attempt < 3)) throw e;
          }
          self.say(fmt(t.work, 0));
          var puzzle = await call('GET', '/pow' + self.key('?'));
          if (g !== self.gen) return;
          body.pow = await solve(puzzle, function (pct) { if (g === self.gen) self.say(fmt(t.work, pct)); },
            function () { return g !== self.gen; });
          if (!body.pow) return;
        }
      } catch (e) {
        if (g === self.gen) self.error(e);
        return;
      }
      if (g !== self.gen) return;
      self.say('');
      self.round(c, 1, c.clips, c.expires_at);
      self.head.focus();
    },
    round: function (c, number, clips, expiresAt) {
      var self = this, t = self.t, n = clips.length;
      var challenge = {id: c.challenge_id, max: c.max_rounds || 3, emotions: c.emotions || Object.keys(NAMES),
        deferred: c.feedback === 'deferred'};
      self.gen++;
      self.stopAudio();
      self.body.textContent = '';
      self.c = challenge; challenge.number = number; challenge.slots = clips.map(function (x) { return x.slot; });
      self.head = el('p', {class: 'ttl', tabindex: '-1', text: fmt(t.round, number, challenge.max)});
      self.clock = el('p', {class: 'mut'});
      self.clockText = t.left; self.deadline = until(expiresAt, 300); self.warned = false;
      self.onDeadline = function () { self.expire(); };
      self.notes = []; self.plays = []; self.audio = [];
      var form = el('form', {novalidate: true, onsubmit: function (e) { e.preventDefault(); self.submit(); }});
      clips.forEach(function (clip, i) {
        var a = new Audio(), playing = false;  // in memory only: its URL names the challenge
        var button = el('button', {type: 'button', 'aria-label': fmt(t.playN, i + 1, n), text: '▶ ' + t.play,
          onclick: function () {
            self.audio.forEach(function (x) { if (x !== a) x.pause(); });
            a.currentTime = 0;
            var p = a.play();
            if (p) p.catch(function () { /* no audio output: nothing to do */ });
          }});
        var note = el('p', {class: 'note', hidden: true});
        a.preload = 'auto';
        a.addEventListener('canplay', function () { button.setAttribute('data-ready', 'true'); });
        a.addEventListener('play', function () {
          if (playing) return;
          playing = true;
          button.textContent = '↻ ' + t.replay;
          button.setAttribute('aria-label', fmt(t.replayN, i + 1, n));
        });
        a.addEventListener('error', function () {
          if (a.getAttribute('src')) self.note(i, t.clipBad);
        });
        a.src = SRC.origin + clip.audio_url;
        self.audio.push(a); self.plays.push(button); self.notes.push(note);
        var opts = el('div', {class: 'opts'}, challenge.emotions.map(function (id) {
          var names = NAMES[id] || [id, id];
          return el('label', null, [
            el('input', {type: 'radio', name: 'c' + i, value: id,
              onchange: function () { self.note(i, ''); }}),
            el('span', {text: names[self.lang === 'ko' ? 1 : 0]})]);
        }));
        form.append(el('fieldset', {'data-i': i}, [el('legend', {text: fmt(t.which, i + 1, n)}), button, opts, note]));
      });
      form.addEventListener('keydown', function (e) {
        if (e.altKey || e.ctrlKey || e.metaKey) return;
        var fs = e.target.closest && e.target.closest('fieldset');
        if (fs && /^[1-8]$/.test(e.key)) {
          var r = fs.querySelectorAll('input')[+e.key - 1];
          if (r) {
            e.preventDefault();
            r.checked = true; r.focus();
            r.dispatchEvent(new Event('change', {bubbles: true}));
          }
        } else if (e.key === 'Enter' && e.target.type === 'radio') {
          e.preventDefault();
          self.submit();
        }
      });
      self.send = el('button', {type: 'submit', class: 'pri', text: t.submit});
      form.append(el('div', {class: 'row'}, [self.send, self.freshButton()]));
      self.body.append(el('div', {class: 'top'}, [self.head, self.clock]), el('p', {class: 'mut', text: t.how}),
        form, self.altButton());
      self.tick();
    },
    note: function (i, text) {
      var n = this.notes[i];
      if (!n) return;
      n.textContent = text;
      n.hidden = !text;
    },
    submit: async function () {
      var self = this, t = self.t, c = self.c;
      if (!c || self.send.disabled) return;
      var answers = {}, missing = -1, n = c.slots.length;
      c.slots.forEach(function (slot, i) {
        var r = self.body.querySelector('fieldset[data-i="' + i + '"] input:checked');
        if (r) answers[slot] = r.value;
        else {
          self.note(i, t.pick);
          if (missing < 0) missing = i;
        }
      });
      if (missing >= 0) {
        self.say(fmt(t.pickN, missing + 1, n), 'bad');
        self.body.querySelector('fieldset[data-i="' + missing + '"] input').focus();
        return;
      }
      var g = self.gen;
      self.send.disabled = true;
      self.box.setAttribute('aria-busy', 'true');
      var res;
      try {
        res = await call('POST', '/challenges/' + encodeURIComponent(c.id) + '/answer', {answers: answers});
      } catch (e) {
        if (g !== self.gen) return;
        self.box.removeAttribute('aria-busy');
        if (e.status === 410 || e.status === 404) return self.expire();
        if (e.status === 409) return self.ended(t.closed);
        return self.error(e);
      }
      if (g !== self.gen) return;
      self.box.removeAttribute('aria-busy');
      if (res.status === 'passed' && res.token) return self.pass(res.token, res.token_expires_at);
      if (res.status === 'retry' && res.clips) {
        var next = Math.max(c.number + 1, res.round || 0);
        self.round({challenge_id: c.id, max_rounds: c.max, emotions: c.emotions,
          feedback: c.deferred ? 'deferred' : 'immediate'}, next, res.clips, res.expires_at || 0);
        self.say(fmt(c.deferred ? t.goOn : t.wrong, next, c.max), c.deferred ? '' : 'bad');
        self.msg.focus();
        return;
      }
      self.ended(t.failed, 'failed');
    },
    ended: function (text, code) {
      var self = this;
      self.clear(text, 'bad');
      self.body.append(el('div', {class: 'row'}, [self.freshButton(), self.altButton()]));
      self.grab(self.msg);
      if (code) self.fire('error-callback', code);
    },
    expire: function () {
      this.ended(this.t.expired);
    },
    pass: function (token, exp) {
      var self = this, t = self.t;
      self.clear('✓ ' + t.ok, 'good');
      self.token = token;
      self.input.value = token;
      self.clock = el('p', {class: 'mut'});
      self.clockText = t.valid;
      self.deadline = until(exp || tokenExpiry(token), 120);
      self.onDeadline = function () {
        self.token = ''; self.input.value = '';
        self.clear(t.tokenGone, 'bad');
        var again = self.freshButton(t.again);
        self.body.append(el('div', {class: 'row'}, [again, self.altButton()]));
        self.grab(again);
        self.fire('expired-callback');
      };
      self.body.append(self.clock);
      self.tick();
      self.grab(self.msg);
      self.fire('callback', token);
    },
    error: function (e) {
      var self = this, t = self.t, code = e.code || 'error';
      var text = {network: t.network, rate_limited: t.rate, cooldown: t.cooldown, no_clips: t.noClips,
        invalid_sitekey: t.badKey, alternative_off: t.altOff}[code] || fmt(t.oops, code);
      self.clear(text, 'bad');
      var retry = self.freshButton(t.retry);
      var row = el('div', {class: 'row'}, [retry]);
      if (code !== 'alternative_off') row.append(self.altButton());
      if (e.status === 429) {
        retry.disabled = true;
        self.clock = el('p', {class: 'mut'});
        self.clockText = t.wait;
        self.deadline = Date.now() + 1000 * (e.retry > 0 ? e.retry : code === 'cooldown' ? 60 : 10);
        self.onDeadline = function () {
          retry.disabled = false;
          self.clock.textContent = '';
          self.clock = null;
        };
        self.body.append(self.clock);
        self.tick();
      }
      self.body.append(row);
      self.grab(self.msg);
      self.fire('error-callback', code);
    },
    alternative: async function () {
      var self = this, t = self.t, g = self.clear(fmt(t.altWork, 0));
      var fill = el('div', {class: 'fill'});
      var bar = el('div', {class: 'track', role: 'progressbar', 'aria-label': t.altBar, 'aria-valuemin': 0,
        'aria-valuemax': 100, 'aria-valuenow': 0}, [fill]);
      var cancel = el('button', {type: 'button', text: t.cancel, onclick: function () { self.idle(t.cancelled); }});
      self.body.append(el('p', {text: t.altHow}), bar, cancel);
      self.msg.focus();
      var progress = function (pct) {
        if (g !== self.gen) return;
        bar.setAttribute('aria-valuenow', pct);
        fill.style.width = pct + '%';
        self.say(fmt(t.altWork, pct));
      };
      var body = {};
      if (self.o.sitekey) body.sitekey = self.o.sitekey;
      if (self.o.action) body.action = self.o.action;
      var query = '/pow?for=alternative' + self.key('&');
      try {
        for (var attempt = 0; ; attempt++) {
          var puzzle = await call('GET', query);
          if (g !== self.gen) return;
          body.pow = await solve(puzzle, progress, function () { return g !== self.gen; });
          if (!body.pow) return;
          progress(100);
          try {
            var res = await call('POST', '/alternative' + self.key('?'), body);
            if (g !== self.gen) return;
            if (res.token) self.pass(res.token, res.token_expires_at);
            else self.ended(t.failed, 'failed');
            return;
          } catch (e) {
            if (!(e.status === 403 && REFETCH[e.code] && attempt < 2)) throw e;
          }
        }
      } catch (e) {
        if (g === self.gen) self.error(e);
      }
    },
    // -- plumbing --
    key: function (sep) {  // the sitekey in the URL too, so that the CORS preflight knows the site
      return this.o.sitekey ? sep + 'sitekey=' + encodeURIComponent(this.o.sitekey) : '';
    },
    tick: function () {
      if (!this.deadline) return;
      var left = (this.deadline - Date.now()) / 1000;
      if (left <= 0) {
        this.deadline = 0;
        this.onDeadline();
        return;
      }
      if (this.clock) this.clock.textContent = fmt(this.clockText, mmss(left));
      if (this.c && left <= 60 && !this.warned) {
        this.warned = true;
        if (!this.msg.textContent) this.say(this.t.minute);
      }
    },
    stopAudio: function () {
      (this.audio || []).forEach(function (a) {
        a.pause();
        a.removeAttribute('src');
        a.load();
      });
      this.audio = [];
    },
    fire: function (name, arg) {
      var f = global(this.o[name] || this.o[name.replace(/-(\w)/, function (_, x) { return x.toUpperCase(); })]);
      if (!f) return;
      try { f(arg); } catch (e) { setTimeout(function () { throw e; }); }
    },
    reset: function () {
      this.token = ''; this.input.value = '';
      this.idle();
    },
    remove: function () {
      this.clear();
      clearInterval(this.iv);
      this.root.textContent = '';
      this.input.remove();
      this.host.removeAttribute('data-insideout-id');
    }
  };

  // -- the API ------------------------------------------------------------------------------------------------
  function find(id) {
    if (id == null) return widgets.filter(Boolean)[0];
    return widgets[+id];
  }
  function render(target, options) {
    var host = typeof target === 'string' ? D.querySelector(target) : target;
    if (!host || host.nodeType !== 1) throw new Error('InsideOut: no element to render into');
    var old = host.getAttribute('data-insideout-id');
    if (old != null && widgets[+old]) api.remove(old);
    var o = {}, data = host.dataset;
    Object.keys(data).forEach(function (k) { o[k.replace(/[A-Z]/g, function (x) { return '-' + x.toLowerCase(); })] = data[k]; });
    Object.keys(options || {}).forEach(function (k) { o[k] = options[k]; });
    var id = widgets.length;
    widgets.push(new Widget(id, host, o));
    return id;
  }
  var api = {
    version: 1,
    render: render,
    reset: function (id) { var w = find(id); if (w) w.reset(); },
    getResponse: function (id) { var w = find(id); return w ? w.token : ''; },
    remove: function (id) {
      var w = find(id);
      if (w) { w.remove(); widgets[w.id] = null; }
    }
  };
  W.insideout = api;

  function ready() {
    if (SRC.searchParams.get('render') !== 'explicit') {
      [].forEach.call(D.querySelectorAll('.insideout-captcha'), function (n) {
        if (!n.hasAttribute('data-insideout-id')) render(n);
      });
    }
    var onload = global(SRC.searchParams.get('onload') || W.insideoutOnload);
    if (onload) onload();
  }
  if (D.readyState === 'loading') D.addEventListener('DOMContentLoaded', ready);
  else ready();
})();
