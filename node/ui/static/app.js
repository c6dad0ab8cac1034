// ledgerd explorer. Plain JavaScript, no dependencies; talks to the node's
// JSON API on the same origin (docs/API.md). All text from the API is put in
// the DOM with textContent (never innerHTML), so API data cannot inject markup.
'use strict';

(function () {
  // ---- bounds -------------------------------------------------------------
  const MAX_CHAIN_ROWS = 500;  // checkpoints kept in the list (oldest dropped)
  const PAGE_LIMIT = 30;       // checkpoints per page fetch
  const STATUS_EVERY_MS = 5000;
  const MAX_TITLE_HASHES = 8;  // tx hashes listed in an arrow's tooltip
  const MAX_ERRORS = 20;       // page errors recorded in #errors

  // ---- page errors (recorded for the browser test; never thrown away) -----
  const errorsBox = document.getElementById('errors');
  function recordError(msg) {
    if (errorsBox.childElementCount >= MAX_ERRORS) return;
    errorsBox.appendChild(el('p', {}, String(msg)));
    errorsBox.hidden = false;
  }
  window.addEventListener('error', (e) => recordError('error: ' + e.message));
  window.addEventListener('unhandledrejection', (e) => recordError('unhandled rejection: ' + (e.reason && e.reason.message || e.reason)));

  // ---- DOM helpers -----------------------------------------------------------
  const SVG_NS = 'http://www.w3.org/2000/svg';
  function fill(node, attrs, children) {
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') node.setAttribute('class', v);
      else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children.flat(Infinity)) {
      if (c === undefined || c === null || c === false) continue;
      node.appendChild(typeof c === 'object' ? c : document.createTextNode(String(c)));
    }
    return node;
  }
  function el(tag, attrs, ...children) { return fill(document.createElement(tag), attrs, children); }
  function svg(tag, attrs, ...children) { return fill(document.createElementNS(SVG_NS, tag), attrs, children); }
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); return node; }

  function short(h) { return typeof h === 'string' && h.length > 14 ? h.slice(0, 6) + '…' + h.slice(-4) : String(h); }
  function fmtTime(ms) {
    if (!ms) return 'unknown';
    const d = new Date(ms);
    return d.toISOString().replace('T', ' ').slice(0, 23) + ' UTC';
  }
  function plural(n, one, many) { return n + ' ' + (n === 1 ? one : (many || one + 's')); }
  const isHash = (s) => /^0x[0-9a-fA-F]{64}$/.test(s);
  const isAddr = (s) => /^0x[0-9a-fA-F]{40}$/.test(s);
  const isEpoch = (s) => /^[0-9]{1,19}$/.test(s);
  const ZERO_HASH = '0x' + '0'.repeat(64);

  // ---- API -----------------------------------------------------------------
  class APIError extends Error {
    constructor(status, code, message) { super(message); this.status = status; this.code = code; }
  }
  async function api(path) {
    let resp;
    try {
      resp = await fetch(path, { headers: { Accept: 'application/json' }, cache: 'no-store' });
    } catch (e) {
      throw new APIError(0, 'network', 'node unreachable: ' + e.message);
    }
    let body = null;
    try { body = await resp.json(); } catch (e) { body = null; }
    if (!resp.ok) {
      const err = body && body.error || {};
      throw new APIError(resp.status, err.code || 'http_' + resp.status, err.message || resp.statusText);
    }
    return body;
  }

  // ---- state ---------------------------------------------------------------
  const state = {
    validators: [],       // /v1/validators, index order
    status: null,         // /v1/status
    chain: [],            // checkpoints, newest first, at most MAX_CHAIN_ROWS
    olderCursor: '',      // next_cursor of the oldest page, '' when none
    stream: null,         // EventSource
    renderSeq: 0,         // drops the results of superseded renders
  };
  const $ = (id) => document.getElementById(id);

  function validatorName(i) {
    const v = state.validators[i];
    return v ? (v.name || 'v' + i) : 'v' + i;
  }
  function validatorCount(cp) { return Math.max(state.validators.length, cp && cp.cut ? cp.cut.length : 0); }
  // isAbsent: validator i took no part in cp's epoch (its stream was not cut
  // there; its cut is the previous one).
  function isAbsent(cp, i) { return !!(cp && cp.absent && cp.absent.includes(i)); }

  // ---- header: status and validators ---------------------------------------
  async function refreshStatus() {
    try {
      const [st, vl] = await Promise.all([api('/v1/status'), api('/v1/validators')]);
      state.status = st;
      state.validators = vl.validators || [];
      renderStatus();
      renderValidators();
    } catch (e) {
      $('status').textContent = 'status unavailable: ' + e.message;
      $('status').className = 'status bad';
    }
  }
  function renderStatus() {
    const st = state.status;
    if (!st) return;
    const s = $('status');
    s.className = 'status';
    clear(s).append(
      el('b', {}, st.chain_id), ' · node ', el('b', {}, st.self.name || 'v' + st.self.index),
      ' (#' + st.self.index + ') · open epoch ' + st.epoch + ' · final ',
      el('a', { href: '#/epoch/' + st.latest_final.epoch }, String(st.latest_final.epoch)),
      ' · ' + plural(st.peers, 'peer') + ' · ',
      el('span', { class: st.sync.state === 'synced' ? 'ok' : 'warn' }, st.sync.state.replace('_', ' ')),
      ' · mempool ' + st.mempool.size + '/' + st.mempool.capacity);
  }
  // renderValidators lists the validators, marking those absent from the
  // newest final checkpoint this page holds.
  function renderValidators() {
    const body = $('validators').tBodies[0];
    clear(body);
    const top = state.chain.find((cp) => cp.final);
    for (const v of state.validators) {
      const conn = v.self ? 'self' : v.connected ? 'connected' : 'disconnected';
      const absent = isAbsent(top, v.index);
      body.appendChild(el('tr', { class: 'validator' + (absent ? ' absent' : ''), 'data-index': v.index, 'data-connected': String(!!v.connected), 'data-absent': String(absent) },
        el('td', {}, el('span', { class: 'dot ' + (v.connected ? 'on' : 'off'), title: conn })),
        el('td', {}, '#' + v.index + ' ', el('b', {}, v.name || 'v' + v.index)),
        el('td', { class: 'mono', title: v.address + '\npeer ' + v.peer_id }, short(v.address)),
        el('td', { class: 'muted' }, conn, absent
          ? el('span', { class: 'warn', title: 'its stream was not cut in epoch ' + top.epoch + ': the others went on without it' }, ' · absent in epoch ' + top.epoch)
          : null)));
    }
  }

  // ---- the chain list --------------------------------------------------------
  function chainRow(cp) {
    const n = validatorCount(cp);
    return el('li', { class: 'cp' + (cp.final ? '' : ' pending'), 'data-epoch': cp.epoch },
      el('a', { href: '#/epoch/' + cp.epoch },
        el('span', { class: 'ep' }, '#' + cp.epoch),
        el('span', { class: 'mono' }, short(cp.hash)),
        el('span', { class: 'muted' }, plural(cp.tx_count, 'tx', 'txs')),
        el('span', { class: 'votes', title: 'votes held by this node' }, cp.votes.length + '/' + n + (cp.final ? ' ✓' : '')),
        cp.absent && cp.absent.length
          ? el('span', { class: 'absent warn', title: 'absent: ' + cp.absent.map((i) => '#' + i + ' ' + validatorName(i)).join(', ') }, cp.absent.length + ' absent')
          : null));
  }
  function renderChain() {
    const list = clear($('chain'));
    for (const cp of state.chain) list.appendChild(chainRow(cp));
    renderValidators();
    if (state.chain.length === 0) list.appendChild(el('li', { class: 'muted' }, 'no final checkpoint yet'));
    $('older').hidden = !state.olderCursor;
    markSelected();
  }
  function markSelected() {
    const sel = state.selectedEpoch;
    for (const li of $('chain').children) li.classList.toggle('sel', li.dataset.epoch === String(sel));
  }
  function trimChain() {
    if (state.chain.length > MAX_CHAIN_ROWS) {
      state.chain.length = MAX_CHAIN_ROWS;
      state.olderCursor = String(state.chain[state.chain.length - 1].epoch);
    }
  }
  async function loadChain() {
    const page = await api('/v1/checkpoints?limit=' + PAGE_LIMIT);
    state.chain = page.checkpoints || [];
    state.olderCursor = page.next_cursor || '';
    renderChain();
  }
  async function loadOlder() {
    if (!state.olderCursor) return;
    const btn = $('older');
    btn.disabled = true;
    try {
      const page = await api('/v1/checkpoints?limit=' + PAGE_LIMIT + '&cursor=' + encodeURIComponent(state.olderCursor));
      const last = state.chain.length ? state.chain[state.chain.length - 1].epoch : Infinity;
      for (const cp of page.checkpoints || []) if (cp.epoch < last) state.chain.push(cp);
      state.olderCursor = page.next_cursor || '';
      trimChain();
      renderChain();
    } catch (e) {
      btn.textContent = 'Load older (failed: ' + e.message + ')';
    } finally {
      btn.disabled = false;
    }
  }

  // ---- live stream ---------------------------------------------------------
  function setLive(on, text) {
    const l = $('live');
    l.className = 'live ' + (on ? 'on' : 'off');
    l.textContent = 'live: ' + text;
  }
  function openStream() {
    const top = state.chain.length ? state.chain[0].epoch : null;
    const url = '/v1/checkpoints/stream' + (top === null ? '' : '?from=' + (top + 1));
    const es = new EventSource(url);
    state.stream = es;
    es.addEventListener('open', () => setLive(true, 'on'));
    es.addEventListener('error', () => setLive(false, es.readyState === EventSource.CLOSED ? 'closed' : 'reconnecting'));
    es.addEventListener('checkpoint', (ev) => {
      let cp;
      try { cp = JSON.parse(ev.data); } catch (e) { recordError('bad stream event: ' + e.message); return; }
      onLiveCheckpoint(cp);
    });
  }
  function onLiveCheckpoint(cp) {
    const top = state.chain.length ? state.chain[0].epoch : -1;
    if (cp.epoch <= top) return; // replay overlap
    state.chain.unshift(cp);
    trimChain();
    renderChain();
    setLive(true, 'epoch ' + cp.epoch);
    if (state.status && cp.epoch > state.status.latest_final.epoch) {
      state.status.latest_final = { epoch: cp.epoch, hash: cp.hash };
      renderStatus();
    }
    if (currentRoute().kind === 'latest') render();
  }

  // ---- routing -----------------------------------------------------------------
  function currentRoute() {
    const h = decodeURIComponent(location.hash.replace(/^#\/?/, ''));
    const [kind, ...rest] = h.split('/');
    const arg = rest.join('/').trim();
    switch (kind) {
      case '': return { kind: 'latest' };
      case 'epoch': case 'cp': case 'tx': case 'account': case 'search': return { kind, arg };
      default: return { kind: 'bad', arg: h };
    }
  }
  function search(q) {
    q = q.trim();
    if (isEpoch(q)) location.hash = '#/epoch/' + q;
    else if (isAddr(q)) location.hash = '#/account/' + q;
    else location.hash = '#/search/' + encodeURIComponent(q);
  }

  async function render() {
    const seq = ++state.renderSeq;
    const view = $('view');
    const r = currentRoute();
    const stale = () => seq !== state.renderSeq;
    if (r.kind !== 'latest' && r.kind !== 'epoch' && r.kind !== 'cp') { state.selectedEpoch = null; markSelected(); }
    const show = (...nodes) => { if (!stale()) clear(view).append(...nodes); };
    if (!view.firstChild) view.append(el('p', { class: 'muted' }, 'loading…'));
    try {
      switch (r.kind) {
        case 'latest': {
          if (!state.chain.length) { show(el('p', { class: 'muted' }, 'No final checkpoint yet; the page updates when one arrives.')); return; }
          return await showCheckpoint(state.chain[0], show, stale);
        }
        case 'epoch':
          if (!isEpoch(r.arg)) return show(problem('"' + r.arg + '" is not an epoch number.'));
          return await showCheckpoint(await api('/v1/checkpoints/epoch/' + r.arg), show, stale);
        case 'cp':
          if (!isHash(r.arg)) return show(problem('"' + r.arg + '" is not a 0x-prefixed 32-byte hash.'));
          return await showCheckpoint(await api('/v1/checkpoints/' + r.arg), show, stale);
        case 'tx':
          if (!isHash(r.arg)) return show(problem('"' + r.arg + '" is not a 0x-prefixed 32-byte hash.'));
          return show(txView(await api('/v1/txs/' + r.arg)));
        case 'account':
          if (!isAddr(r.arg)) return show(problem('"' + r.arg + '" is not a 0x-prefixed 20-byte address.'));
          return await showAccount(r.arg, show);
        case 'search':
          return await showSearch(r.arg, show);
        default:
          return show(problem('Unknown page "' + r.arg + '".'));
      }
    } catch (e) {
      show(problem(e instanceof APIError ? e.message + ' (' + e.code + ')' : 'error: ' + e.message));
      if (!(e instanceof APIError)) recordError(e.stack || e.message);
    }
  }
  function problem(msg) { return el('div', { class: 'problem' }, msg); }

  async function showSearch(q, show) {
    if (isHash(q)) {
      // Transaction first: an unknown one is a 200, so a valid search of
      // either kind makes no failed request (browsers log those).
      const tx = await api('/v1/txs/' + q);
      if (tx.status !== 'unknown') { location.replace('#/tx/' + q); return; }
      try {
        const cp = await api('/v1/checkpoints/' + q);
        location.replace('#/cp/' + cp.hash);
        return;
      } catch (e) {
        if (!(e instanceof APIError) || e.status !== 404) throw e;
      }
      return show(problem('No checkpoint or transaction has hash ' + q + '.'));
    }
    show(problem('Search for an epoch number, a checkpoint or transaction hash (0x + 64 hex digits) or an address (0x + 40 hex digits); "' + q + '" is none of these.'));
  }

  // ---- checkpoint view -------------------------------------------------------------
  async function showCheckpoint(cp, show, stale) {
    state.selectedEpoch = cp.epoch;
    markSelected();
    const head = checkpointView(cp);
    const snapBox = el('section', { class: 'snapshot', id: 'snapshot' }, el('h3', {}, 'Global snapshot of epoch ' + cp.epoch), el('p', { class: 'muted' }, 'loading…'));
    show(head, snapBox);
    if (cp.epoch === 0) { clear(snapBox).append(el('h3', {}, 'Global snapshot'), el('p', { class: 'muted' }, 'Epoch 0 is genesis: no snapshot.')); return; }
    let snap;
    try {
      snap = await api('/v1/snapshots/' + cp.epoch);
    } catch (e) {
      if (stale()) return;
      clear(snapBox).append(el('h3', {}, 'Global snapshot of epoch ' + cp.epoch), problem('snapshot unavailable: ' + e.message));
      return;
    }
    if (stale()) return;
    clear(snapBox).append(...snapshotView(snap, cp));
  }

  function field(name, ...value) { return el('tr', {}, el('th', {}, name), el('td', {}, ...value)); }
  function checkpointView(cp) {
    const n = validatorCount(cp);
    const prev = cp.epoch > 0 && cp.prev_hash !== ZERO_HASH
      ? [el('a', { href: '#/cp/' + cp.prev_hash, class: 'mono', id: 'prev' }, cp.prev_hash), ' (epoch ' + (cp.epoch - 1) + ')']
      : [el('span', { class: 'mono' }, cp.prev_hash), ' (genesis)'];
    const nav = el('p', { class: 'nav' },
      cp.epoch > 0 ? el('a', { href: '#/epoch/' + (cp.epoch - 1) }, '← epoch ' + (cp.epoch - 1)) : null, ' ',
      el('a', { href: '#/epoch/' + (cp.epoch + 1) }, 'epoch ' + (cp.epoch + 1) + ' →'));
    const signed = new Map(cp.votes.map((v) => [v.validator_index, v]));
    const voteRows = [];
    for (let i = 0; i < n; i++) {
      const v = signed.get(i);
      const val = state.validators[i];
      const absent = isAbsent(cp, i);
      voteRows.push(el('tr', { class: 'vote ' + (v ? 'yes' : 'no') + (absent ? ' absent' : ''), 'data-validator': i, 'data-signed': String(!!v), 'data-absent': String(absent) },
        el('td', {}, '#' + i + ' ', el('b', {}, validatorName(i)), absent ? el('span', { class: 'warn', title: 'took no part in this epoch: its stream stays at its previous cut' }, ' absent') : null),
        el('td', { class: 'mono', title: val ? val.address : '' }, val ? short(val.address) : ''),
        el('td', { title: v ? 'signature ' + v.signature : 'this node holds no vote of #' + i + ' for this checkpoint' }, v ? '✓ signed' : '— no vote')));
    }
    return el('section', { class: 'checkpoint', 'data-epoch': cp.epoch },
      el('h2', {}, 'Checkpoint #' + cp.epoch + ' ', el('span', { class: 'badge ' + (cp.final ? 'final' : 'pending') }, cp.final ? 'final' : 'not final')),
      nav,
      el('div', { class: 'cpgrid' },
      el('table', { class: 'fields' }, el('tbody', {},
        field('hash', el('span', { class: 'mono' }, cp.hash)),
        field('prev_hash', ...prev),
        field('state_root', el('span', { class: 'mono' }, cp.state_root)),
        field('tx_root', el('span', { class: 'mono' }, cp.tx_root)),
        field('receipts_root', el('span', { class: 'mono' }, cp.receipts_root)),
        field('cut', el('span', { class: 'mono', id: 'cut' }, '[' + cp.cut.join(', ') + ']'), el('span', { class: 'muted' }, ' seq of each validator\'s marker')),
        field('absent', el('span', { id: 'absent' }, cp.absent && cp.absent.length
          ? cp.absent.map((i) => '#' + i + ' ' + validatorName(i) + ' (stream closed at seq ' + cp.cut[i] + ')').join(', ')
          : 'none')),
        field('transactions', String(cp.tx_count)),
        field('time', fmtTime(cp.time_ms)))),
      el('div', {},
        el('h3', { class: 'votes-title' }, 'Votes ', el('span', { class: 'muted', id: 'vote-count' }, cp.votes.length + ' of ' + n + ' validators signed')),
        el('table', { class: 'votes' }, el('tbody', {}, voteRows)))));
  }

  // ---- the space-time diagram ------------------------------------------------------
  // Validators are horizontal lines, time runs left to right. Each validator's
  // recording point (snapshot nodes[].time_ms) is a dot; the consistent cut is
  // the red line through the dots, with everything before it shaded. At its
  // recording point a validator sends MARKER(epoch) to every other validator
  // (dashed grey). Entries in flight on channel k→i at the cut were sent by k
  // before its recording point and delivered at i after i's recording point,
  // so they are drawn as orange arrows from left of the cut on row k to right
  // of the cut on row i: every one crosses the red line.
  function snapshotView(snap, cp) {
    const n = Math.max(validatorCount(cp), snap.cut.length);
    const byIndex = new Map(snap.nodes.map((nd) => [nd.index, nd]));
    const known = snap.nodes.filter((nd) => nd.time_ms > 0).map((nd) => nd.time_ms);
    const sorted = known.slice().sort((a, b) => a - b);
    const median = sorted.length ? sorted[Math.floor(sorted.length / 2)] : 0;
    const tOf = (i) => { const nd = byIndex.get(i); return nd && nd.time_ms > 0 ? nd.time_ms : median; };
    const t0 = sorted.length ? sorted[0] : 0;
    const t1 = sorted.length ? sorted[sorted.length - 1] : 0;
    const pad = Math.max((t1 - t0) * 0.6, 10);
    const d0 = t0 - pad, d1 = t1 + pad;

    const W = 960, left = 172, right = W - 40, top = 54;
    const rowH = Math.max(34, Math.min(80, Math.floor(420 / Math.max(n - 1, 1))));
    const bottom = top + (n - 1) * rowH;
    const H = bottom + 80;
    const x = (t) => left + (t - d0) / (d1 - d0) * (right - left);
    const y = (i) => top + i * rowH;
    const cx = (i) => x(tOf(i));

    const root = svg('svg', { viewBox: '0 0 ' + W + ' ' + H, class: 'spacetime', role: 'img', id: 'spacetime', 'data-epoch': snap.epoch,
      'aria-label': 'space-time diagram of the global snapshot of epoch ' + snap.epoch });
    root.appendChild(svg('defs', {},
      svg('marker', { id: 'ah-inflight', viewBox: '0 0 10 10', refX: 9, refY: 5, markerUnits: 'userSpaceOnUse', markerWidth: 11, markerHeight: 11, orient: 'auto-start-reverse' },
        svg('path', { d: 'M0,0 L10,5 L0,10 z', class: 'ah-inflight' })),
      svg('marker', { id: 'ah-marker', viewBox: '0 0 10 10', refX: 9, refY: 5, markerUnits: 'userSpaceOnUse', markerWidth: 8, markerHeight: 8, orient: 'auto-start-reverse' },
        svg('path', { d: 'M0,0 L10,5 L0,10 z', class: 'ah-marker' })),
      svg('marker', { id: 'ah-time', viewBox: '0 0 10 10', refX: 9, refY: 5, markerUnits: 'userSpaceOnUse', markerWidth: 9, markerHeight: 9, orient: 'auto' },
        svg('path', { d: 'M0,0 L10,5 L0,10 z', class: 'ah-time' }))));

    // Before-the-cut region and the cut itself.
    const cutPts = [[cx(0), top - 30]];
    for (let i = 0; i < n; i++) cutPts.push([cx(i), y(i)]);
    cutPts.push([cx(n - 1), bottom + 30]);
    const pts = (a) => a.map((p) => p[0].toFixed(1) + ',' + p[1].toFixed(1)).join(' ');
    root.appendChild(svg('polygon', { class: 'past', points: pts([[left, top - 30], ...cutPts, [left, bottom + 30]]) }));
    root.appendChild(svg('text', { x: left + 6, y: top - 36, class: 'region' }, 'before the cut (recorded)'));
    root.appendChild(svg('text', { x: right - 6, y: top - 36, class: 'region', 'text-anchor': 'end' }, 'after the cut'));

    // Validator lines.
    for (let i = 0; i < n; i++) {
      root.appendChild(svg('line', { x1: left, y1: y(i), x2: right + 14, y2: y(i), class: 'process', 'marker-end': 'url(#ah-time)' }));
      root.appendChild(svg('text', { x: left - 12, y: y(i) - 2, class: 'vname', 'text-anchor': 'end' }, '#' + i + ' ' + validatorName(i)));
      const nd = byIndex.get(i);
      const when = !nd ? 'no record' : nd.time_ms && t0 ? '+' + (nd.time_ms - t0) + ' ms' : 'time ?';
      const seq = snap.cut[i] !== undefined ? snap.cut[i] : '?';
      root.appendChild(svg('text', { x: left - 12, y: y(i) + 13, class: 'vsub' + (isAbsent(cp, i) ? ' absent' : ''), 'text-anchor': 'end' },
        isAbsent(cp, i) ? 'absent · stream closed at seq ' + seq : when + ' · marker seq ' + seq));
    }

    // Markers: sent at the sender's recording point, received at or after the
    // receiver's (exact delivery times are not recorded).
    const markers = svg('g', { class: 'markers' });
    const mOff = 16;
    for (let k = 0; k < n; k++) {
      if (!byIndex.has(k) || isAbsent(cp, k)) continue;
      for (let i = 0; i < n; i++) {
        if (i === k) continue;
        const x2 = Math.max(cx(i), cx(k)) + mOff;
        markers.appendChild(svg('line', { x1: cx(k), y1: y(k), x2, y2: y(i), class: 'marker', 'marker-end': 'url(#ah-marker)', 'data-from': k, 'data-to': i },
          svg('title', {}, 'MARKER(' + snap.epoch + ') #' + k + ' → #' + i + ' (seq ' + snap.cut[k] + '): sent when #' + k + ' recorded; received at or after #' + i + '\'s recording point')));
      }
    }
    root.appendChild(markers);

    root.appendChild(svg('polyline', { class: 'cut', points: pts(cutPts), id: 'cut-line' }, svg('title', {}, 'the consistent cut of epoch ' + snap.epoch)));
    root.appendChild(svg('text', { x: cx(0) + 8, y: top - 14, class: 'cutlabel' }, 'cut · epoch ' + snap.epoch));

    // In-flight channels.
    const detail = el('div', { class: 'chandetail', id: 'chandetail' }, el('p', { class: 'muted' }, 'Click an orange arrow (or a row of the table) for its transactions.'));
    const outCount = new Array(n).fill(0), inCount = new Array(n).fill(0);
    const flights = svg('g', { class: 'flights' });
    const chans = [];
    for (const nd of snap.nodes) for (const ch of nd.channels || []) if (ch.count > 0) chans.push([nd.index, ch]);
    for (const [i, ch] of chans) {
      const k = ch.from;
      if (k >= n || i >= n) continue;
      // Start left of both recording points and end right of both, so the
      // arrow crosses the cut segment between the two rows clearly.
      const extra = Math.max(36, Math.abs(cx(k) - cx(i)) / 2);
      const x1 = Math.max(left + 4, Math.min(cx(k), cx(i)) - extra - 14 * outCount[k]++);
      const x2 = Math.min(right, Math.max(cx(k), cx(i)) + extra + 14 * inCount[i]++);
      // The label sits past the middle, clear of the cut line it crosses.
      const mx = x1 + (x2 - x1) * 0.7, my = y(k) + (y(i) - y(k)) * 0.7;
      const label = plural(ch.count, 'entry', 'entries') + ' · ' + ch.tx_count + ' tx';
      const hashes = ch.tx_hashes || [];
      const tip = 'in flight #' + k + ' → #' + i + ' at the cut: seq ' + ch.first_seq + '…' + ch.last_seq + ', ' + label +
        (hashes.length ? '\n' + hashes.slice(0, MAX_TITLE_HASHES).join('\n') + (hashes.length > MAX_TITLE_HASHES || ch.tx_hashes_truncated ? '\n…' : '') : '');
      const w = label.length * 6.3 + 10;
      const g = svg('g', { class: 'inflight', tabindex: 0, 'data-from': k, 'data-to': i, 'data-count': ch.count, 'data-tx-count': ch.tx_count,
        onclick: () => showChannel(detail, k, i, ch, g), onkeydown: (e) => { if (e.key === 'Enter') showChannel(detail, k, i, ch, g); } },
        svg('title', {}, tip),
        svg('line', { x1, y1: y(k), x2, y2: y(i), class: 'flight-hit' }),
        svg('line', { x1, y1: y(k), x2, y2: y(i), class: 'flight', 'stroke-width': (2 + Math.min(4, Math.log2(ch.count + 1))).toFixed(1), 'marker-end': 'url(#ah-inflight)' }),
        svg('circle', { cx: x1, cy: y(k), r: 3.5, class: 'send' }),
        svg('rect', { x: mx - w / 2, y: my - 9, width: w, height: 16, rx: 4, class: 'flabel-bg' }),
        svg('text', { x: mx, y: my + 3, class: 'flabel', 'text-anchor': 'middle' }, label));
      flights.appendChild(g);
    }
    root.appendChild(flights);

    // Recording points, on top.
    for (let i = 0; i < n; i++) {
      const nd = byIndex.get(i);
      const absent = isAbsent(cp, i);
      const tip = absent
        ? '#' + i + ' ' + validatorName(i) + ' was absent in epoch ' + snap.epoch + ': no MARKER(' + snap.epoch + ') in the cut; its stream stays closed at seq ' + snap.cut[i] +
          ' (the previous cut) and its later entries go to a later epoch'
        : nd
        ? '#' + i + ' ' + validatorName(i) + ' recorded at ' + fmtTime(nd.time_ms) + (nd.time_ms && t0 ? ' (+' + (nd.time_ms - t0) + ' ms)' : '') +
          '\nH[' + i + '] (highest seq delivered per origin) = [' + nd.recorded.join(', ') + ']\nmempool ' + nd.mempool_size +
          '\nthen sent MARKER(' + snap.epoch + ') as seq ' + snap.cut[i]
        : '#' + i + ': no recorded state held by this node (its vote is missing)';
      root.appendChild(svg('circle', { cx: cx(i), cy: y(i), r: 7, class: 'rec' + (nd ? '' : ' missing') + (absent ? ' absent' : ''), 'data-validator': i }, svg('title', {}, tip)));
    }

    // Time axis.
    const axisY = bottom + 44;
    root.appendChild(svg('line', { x1: left, y1: axisY, x2: right, y2: axisY, class: 'axis' }));
    for (let j = 0; j <= 4; j++) {
      const t = d0 + (d1 - d0) * j / 4;
      root.appendChild(svg('line', { x1: x(t), y1: axisY - 3, x2: x(t), y2: axisY + 3, class: 'axis' }));
      root.appendChild(svg('text', { x: x(t), y: axisY + 15, class: 'tick', 'text-anchor': 'middle' }, (t - t0 >= 0 ? '+' : '') + Math.round(t - t0) + ' ms'));
    }
    root.appendChild(svg('text', { x: left - 12, y: axisY + 4, class: 'vsub', 'text-anchor': 'end' }, 'local time'));
    root.appendChild(svg('text', { x: (left + right) / 2, y: axisY + 30, class: 'vsub', 'text-anchor': 'middle' },
      known.length ? 'ms after the first recording point, ' + fmtTime(t0) + ' (each validator\'s own clock)' : 'recording times unknown'));

    // Summary, consistency check and channel table.
    let entries = 0, txs = 0, violations = [];
    for (const [, ch] of chans) { entries += ch.count; txs += ch.tx_count; }
    // The check holds for present validators; an absent one's stream was not
    // cut here, so entries past its previous cut may have been delivered.
    for (const nd of snap.nodes) nd.recorded.forEach((h, k) => { if (k < snap.cut.length && !isAbsent(cp, k) && !(h < snap.cut[k])) violations.push('H[' + nd.index + '][' + k + ']=' + h + ' ≥ cut[' + k + ']=' + snap.cut[k]); });
    const summary = el('p', { class: 'summary', id: 'snap-summary', 'data-entries': entries, 'data-txs': txs, 'data-channels': chans.length },
      plural(snap.nodes.length, 'recorded state') + ' of ' + n + ' validators · in flight at the cut: ' +
      plural(entries, 'entry', 'entries') + ', ' + plural(txs, 'transaction') + ' on ' + plural(chans.length, 'channel') + ' · ',
      violations.length
        ? el('span', { class: 'bad', id: 'consistency' }, 'INCONSISTENT: ' + violations.join('; '))
        : el('span', { class: 'ok', id: 'consistency' }, '✓ consistent: H[i][k] < cut[k] for every i and every present k'),
      cp && cp.absent && cp.absent.length ? el('span', { class: 'warn', id: 'snap-absent' }, ' · absent: ' + cp.absent.map((i) => '#' + i).join(', ')) : null);
    const legend = el('p', { class: 'legend' },
      el('span', { class: 'sw sw-cut' }), 'consistent cut ', el('span', { class: 'sw sw-rec' }), 'recording point (state recorded, then marker sent) ',
      el('span', { class: 'sw sw-marker' }), 'marker ', el('span', { class: 'sw sw-flight' }), 'in flight at the cut (sent before, delivered after)');
    const rows = chans.map(([i, ch]) => {
      const tr = el('tr', { class: 'chan', tabindex: 0, 'data-from': ch.from, 'data-to': i },
        el('td', {}, '#' + ch.from + ' → #' + i),
        el('td', {}, ch.first_seq + '…' + ch.last_seq),
        el('td', {}, String(ch.count)),
        el('td', {}, String(ch.tx_count) + (ch.tx_hashes_truncated ? ' (hashes truncated)' : '')));
      tr.addEventListener('click', () => showChannel(detail, ch.from, i, ch, null));
      return tr;
    });
    const table = rows.length
      ? el('table', { class: 'chans' }, el('thead', {}, el('tr', {}, el('th', {}, 'channel'), el('th', {}, 'seq'), el('th', {}, 'entries'), el('th', {}, 'transactions'))), el('tbody', {}, rows))
      : el('p', { class: 'muted' }, 'Every channel was empty at the cut.');
    return [el('h3', {}, 'Global snapshot of epoch ' + snap.epoch), summary, el('div', { class: 'svgwrap' }, root), legend, table, detail];
  }

  function showChannel(detail, k, i, ch, g) {
    for (const other of document.querySelectorAll('g.inflight.sel')) other.classList.remove('sel');
    if (g) g.classList.add('sel');
    const hashes = ch.tx_hashes || [];
    // fill skips the null of an untruncated list (append would print "null").
    fill(clear(detail), {}, [
      el('h4', {}, 'Channel #' + k + ' ' + validatorName(k) + ' → #' + i + ' ' + validatorName(i)),
      el('p', {}, 'In flight at the cut: entries seq ' + ch.first_seq + '…' + ch.last_seq + ' (' + plural(ch.count, 'entry', 'entries') + ', ' +
        plural(ch.tx_count, 'transaction') + '): sent by #' + k + ' before its marker, delivered at #' + i + ' after it recorded.'),
      hashes.length
        ? el('ol', { class: 'hashes' }, hashes.map((h) => el('li', {}, el('a', { href: '#/tx/' + h, class: 'mono' }, h))))
        : el('p', { class: 'muted' }, 'No transactions (marker-only or empty batches).'),
      ch.tx_hashes_truncated ? el('p', { class: 'muted' }, 'Only the first ' + hashes.length + ' hashes are listed.') : null]);
  }

  // ---- transactions ------------------------------------------------------------
  function txView(tx) {
    const rows = [field('hash', el('span', { class: 'mono' }, tx.hash)), field('status', el('span', { class: 'badge ' + tx.status, id: 'tx-status' }, tx.status))];
    if (tx.status === 'final') {
      rows.push(field('epoch', el('a', { href: '#/epoch/' + tx.epoch }, String(tx.epoch))));
      if (tx.checkpoint_hash) rows.push(field('checkpoint', el('a', { href: '#/cp/' + tx.checkpoint_hash, class: 'mono' }, tx.checkpoint_hash)));
    }
    const r = tx.receipt;
    const receipt = r
      ? el('table', { class: 'fields', id: 'receipt' }, el('tbody', {},
        field('result', el('span', { class: r.status === 'ok' ? 'ok' : 'bad' }, r.status), r.error ? ' — ' + r.error : ''),
        field('sender', el('a', { href: '#/account/' + r.sender, class: 'mono' }, r.sender)),
        field('index in epoch', String(r.index))))
      : el('p', { class: 'muted' }, tx.status === 'pending' ? 'Pending: no receipt until its epoch is final.' : 'This node does not know the transaction.');
    return el('section', { class: 'tx' }, el('h2', {}, 'Transaction'), el('table', { class: 'fields' }, el('tbody', {}, rows)), el('h3', {}, 'Receipt'), receipt);
  }

  // ---- accounts and proofs ---------------------------------------------------------
  async function showAccount(addr, show) {
    const acc = await api('/v1/accounts/' + addr + '?proof=true');
    let cp = null, cpErr = '';
    try { cp = await api('/v1/checkpoints/epoch/' + acc.epoch); } catch (e) { cpErr = e.message; }
    const proof = acc.proof || [];
    const checks = [];
    checks.push(check(proof.length > 0, 'proof returned: ' + plural(proof.length, 'trie node'), 'no proof returned', 'proof-returned'));
    if (cp) {
      checks.push(check(cp.state_root.toLowerCase() === acc.state_root.toLowerCase(),
        'state_root matches checkpoint #' + cp.epoch + (cp.final ? ' (final)' : ' (NOT final)'),
        'state_root differs from checkpoint #' + cp.epoch + '\'s ' + cp.state_root, 'root-match'));
    } else {
      checks.push(check(false, '', 'checkpoint #' + acc.epoch + ' unavailable: ' + cpErr, 'root-match'));
    }
    if (proof.length) {
      const res = checkProofLinks(proof, acc.state_root);
      checks.push(check(res.ok, 'proof nodes hash-linked from the state root (keccak256 checked in the browser)', res.why, 'proof-links'));
    }
    show(el('section', { class: 'account' },
      el('h2', {}, 'Account'),
      el('table', { class: 'fields' }, el('tbody', {},
        field('address', el('span', { class: 'mono' }, acc.address)),
        field('balance', el('b', { id: 'balance' }, acc.balance)),
        field('nonce', String(acc.nonce)),
        field('at epoch', el('a', { href: '#/epoch/' + acc.epoch }, String(acc.epoch))),
        field('state_root', el('span', { class: 'mono' }, acc.state_root)))),
      el('h3', {}, 'Proof status'), el('ul', { class: 'checks' }, checks),
      el('p', { class: 'muted' }, 'The browser checks that the first proof node hashes to the state root and that each node is referenced by its parent; decoding the path to the account (full verification) is done by "ledgerd account --proof".')));
  }
  function check(ok, good, bad, id) { return el('li', { class: ok ? 'ok' : 'bad', id, 'data-ok': String(ok) }, (ok ? '✓ ' : '✗ ') + (ok ? good : bad)); }

  function hexToBytes(h) {
    const s = h.startsWith('0x') ? h.slice(2) : h;
    if (s.length % 2 || /[^0-9a-fA-F]/.test(s)) throw new Error('bad hex');
    const out = new Uint8Array(s.length / 2);
    for (let i = 0; i < out.length; i++) out[i] = parseInt(s.substr(2 * i, 2), 16);
    return out;
  }
  function bytesToHex(b) { return '0x' + Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(''); }
  function contains(hay, needle) {
    outer: for (let i = 0; i + needle.length <= hay.length; i++) {
      for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
      return true;
    }
    return false;
  }
  // checkProofLinks checks keccak256(proof[0]) == root and that every later
  // node of 32 bytes or more is referenced by hash in its predecessor (shorter
  // nodes are embedded in their parent and must appear in it verbatim).
  function checkProofLinks(proof, root) {
    let nodes;
    try { nodes = proof.map(hexToBytes); } catch (e) { return { ok: false, why: 'proof node is not hex' }; }
    if (bytesToHex(keccak256(nodes[0])) !== root.toLowerCase()) return { ok: false, why: 'keccak256(proof[0]) ≠ state_root' };
    for (let i = 1; i < nodes.length; i++) {
      const ref = nodes[i].length >= 32 ? keccak256(nodes[i]) : nodes[i];
      if (!contains(nodes[i - 1], ref)) return { ok: false, why: 'proof node ' + i + ' is not referenced by node ' + (i - 1) };
    }
    return { ok: true, why: '' };
  }

  // keccak256 (the original Keccak padding, as Ethereum uses), 64-bit lanes
  // as BigInt: slow but small, and proofs are a few short nodes.
  const KECCAK_RC = [0x1n, 0x8082n, 0x800000000000808an, 0x8000000080008000n, 0x808bn, 0x80000001n, 0x8000000080008081n,
    0x8000000000008009n, 0x8an, 0x88n, 0x80008009n, 0x8000000an, 0x8000808bn, 0x800000000000008bn, 0x8000000000008089n,
    0x8000000000008003n, 0x8000000000008002n, 0x8000000000000080n, 0x800an, 0x800000008000000an, 0x8000000080008081n,
    0x8000000000008080n, 0x80000001n, 0x8000000080008008n];
  const KECCAK_ROT = [0, 1, 62, 28, 27, 36, 44, 6, 55, 20, 3, 10, 43, 25, 39, 41, 45, 15, 21, 8, 18, 2, 61, 56, 14];
  const MASK64 = (1n << 64n) - 1n;
  const rotl = (v, n) => n === 0 ? v : ((v << BigInt(n)) | (v >> BigInt(64 - n))) & MASK64;
  function keccakF(A) {
    const C = new Array(5), B = new Array(25);
    for (let round = 0; round < 24; round++) {
      for (let x = 0; x < 5; x++) C[x] = A[x] ^ A[x + 5] ^ A[x + 10] ^ A[x + 15] ^ A[x + 20];
      for (let x = 0; x < 5; x++) {
        const d = C[(x + 4) % 5] ^ rotl(C[(x + 1) % 5], 1);
        for (let yy = 0; yy < 25; yy += 5) A[x + yy] ^= d;
      }
      for (let x = 0; x < 5; x++) for (let yy = 0; yy < 5; yy++) B[yy + 5 * ((2 * x + 3 * yy) % 5)] = rotl(A[x + 5 * yy], KECCAK_ROT[x + 5 * yy]);
      for (let yy = 0; yy < 25; yy += 5) for (let x = 0; x < 5; x++) A[x + yy] = B[x + yy] ^ ((MASK64 ^ B[(x + 1) % 5 + yy]) & B[(x + 2) % 5 + yy]);
      A[0] ^= KECCAK_RC[round];
    }
  }
  function keccak256(msg) {
    const rate = 136;
    const padded = new Uint8Array((Math.floor(msg.length / rate) + 1) * rate);
    padded.set(msg);
    padded[msg.length] ^= 0x01;
    padded[padded.length - 1] ^= 0x80;
    const A = new Array(25).fill(0n);
    for (let off = 0; off < padded.length; off += rate) {
      for (let l = 0; l < rate / 8; l++) {
        let v = 0n;
        for (let b = 7; b >= 0; b--) v = (v << 8n) | BigInt(padded[off + 8 * l + b]);
        A[l] ^= v;
      }
      keccakF(A);
    }
    const out = new Uint8Array(32);
    for (let l = 0; l < 4; l++) for (let b = 0; b < 8; b++) out[8 * l + b] = Number((A[l] >> BigInt(8 * b)) & 0xffn);
    return out;
  }

  // ---- start ---------------------------------------------------------------------
  async function start() {
    $('search').addEventListener('submit', (e) => { e.preventDefault(); search($('q').value); });
    $('older').addEventListener('click', loadOlder);
    window.addEventListener('hashchange', render);
    await refreshStatus();
    try {
      await loadChain();
    } catch (e) {
      clear($('chain')).appendChild(el('li', { class: 'bad' }, 'checkpoints unavailable: ' + e.message));
    }
    render();
    openStream();
    setInterval(refreshStatus, STATUS_EVERY_MS);
  }
  start();
})();
