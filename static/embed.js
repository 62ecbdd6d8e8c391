/*! comments embed: <div id="comments"></div><script src="https://SERVER/static/embed.js" async></script>
 * Options: data-* on the container or the script (docs/embed.md). All UI lives in a shadow root styled
 * by SERVER/static/embed.css; no inline styles, eval or cookies, so a strict CSP naming SERVER works. */
(() => {
  'use strict';
  const doc = document;
  if (window.Comments && window.Comments.render) return; // the snippet pasted twice

  const script = doc.currentScript || doc.querySelector('script[src*="/embed.js"]');
  const SERVER = new URL(script.src, location.href).origin;
  const DEFAULTS = { ...script.dataset };
  const KEY = 'comments:' + SERVER;
  const threads = new Set();
  let seq = 0;
  const configs = {};
  let stamp;

  // English is built in; another language is static/i18n/<code>.json (fetched when needed) and its
  // code in LANGS. Missing keys fall back to English. n: "none|one|other", by the plural rule.
  const LANGS = ['en', 'de', 'es', 'fr'];
  const LANG = {
    en: {
      n: 'No comments yet|{n} comment|{n} comments',
      text: 'Comment', ph: 'Join the discussion…', author: 'Name', email: 'Email',
      website: 'Website', opt: 'optional', priv: 'optional, never shown',
      post: 'Post comment', reply: 'Reply', cancel: 'Cancel', edit: 'Edit', del: 'Delete',
      sure: 'Really delete?', report: 'Report', flag: 'Report to the moderators?',
      flagged: 'Reported. Thank you.', why: 'Why?', spam: 'Spam', abuse: 'Abuse', offtopic: 'Off-topic',
      other: 'Other', note: 'Note (optional)', save: 'Save', pre: 'Preview', sort: 'Sort comments',
      oldest: 'Oldest', newest: 'Newest', more: 'Load more comments', wait: 'Loading comments…',
      less: 'Load earlier comments', left: '{n} left', to: 'in reply to {n}',
      rn: 'no replies|{n} reply|{n} replies', hide: 'Hide {n}', show: 'Show {n}',
      pend: 'Awaiting moderation · only you can see this', edited: 'edited', anon: 'Anonymous',
      removed: 'This comment was removed.',
      unseen: 'The comment you followed is not shown: it may await moderation or have been removed.', closed: 'Comments are closed.',
      mod: 'Comments appear once a moderator approves them.',
      modu: 'Comments are reviewed before they appear until {n}.',
      posted: 'Your comment is online.', held: 'Thanks! Your comment is awaiting moderation.',
      saved: 'Comment saved.', gone: 'Comment deleted.', loaded: 'More comments loaded.',
      fail: 'Comments could not be loaded.', retry: 'Try again',
      req: 'Please fill this in.', long: 'This is too long.',
      tlong: 'Your comment is too long: at most {n} characters.',
      tcx: 'Your comment has too much markup: please shorten it.',
      bad_email: 'That does not look like an email address.',
      bad_web: 'Use an address starting with http:// or https://.',
      dupe: 'You already posted this.', rate: 'You are posting too fast. Please wait a minute.',
      banned: 'You cannot comment here.',
      notify: 'Email me replies (after a confirmation link)', hp: 'Leave this field empty',
      lost: 'This comment can no longer be changed.',
      net: 'The comment server is not answering. Please try again.',
      oops: 'Something went wrong ({n}).',
      slow: 'Busy thread: one comment every {n} seconds.',
      hold: 'Busy thread: first comments are reviewed before they appear.',
      again: 'Slow mode: you can post again in {n} s.', go: 'You can post again.',
      pow: 'Checking that you are not a bot… {n}%',
      nw: 'No new comments|{n} new comment|{n} new comments',
      best: 'Best', ok: 'verified', b_moderator: 'Moderator', b_author: 'Author',
      up: 'Upvote', vc: 'no votes|{n} vote|{n} votes', vneed: 'Sign in to vote.',
      vown: 'You cannot vote for your own comment.',
      sign: 'Sign in with your email', link: 'Email me a link', check: 'Check your mail: we sent you a link.',
      only: 'Only signed-in readers can comment on this thread.', need: 'Sign in to comment on this thread.',
      as: 'Commenting as {n}', sin: 'Signed in as {n}', mine: 'My comments', none: 'You have not commented yet.',
      out: 'Sign out', all: 'Sign out everywhere', exp: 'Export my data', erase: 'Erase everything',
      wipe: 'Really erase everything?', replies: 'Email me replies', done: 'Saved.',
      bye: 'Signed out.', byeall: 'Signed out on every device.', erased: 'Everything is erased.',
      lapsed: 'You were signed out. Please sign in again.',
      rname: 'This name belongs to a signed-in reader. Sign in if it is yours.',
      rmail: 'This address belongs to a signed-in reader. Sign in if it is yours.',
      taken: 'Another reader already has this name. Please choose another.',
      bad_name: 'Please choose another name.', noname: 'Choose the name shown with your comments.',
      many: 'Too many attempts. Please try again later.',
      badlink: 'This sign-in link was used or has expired. Ask for a new one.',
    },
  };
  const loading = {};
  const need = (l) => loading[l] || (loading[l] = LANG[l]
    ? Promise.resolve()
    : fetch(`${SERVER}/static/i18n/${l}.json`).then((r) => r.json()).then((o) => (LANG[l] = o), () => (LANG[l] = {})));

  // Problem codes to messages (never branch on title or detail); 'lost': the edit token is useless.
  const ERRORS = {
    field_required: 'req', field_too_long: 'long', text_too_long: 'tlong', text_too_complex: 'tcx',
    email_invalid: 'bad_email',
    website_invalid: 'bad_web', duplicate_comment: 'dupe', rate_limited: 'rate', banned: 'banned',
    thread_closed: 'closed', edit_window_closed: 'lost', token_missing: 'lost', token_invalid: 'lost',
    token_foreign: 'lost', comment_not_editable: 'lost', comment_not_found: 'lost', comment_changed: 'lost',
    network: 'net', database_unavailable: 'net', storage_full: 'net', server_busy: 'net', request_timeout: 'net',
    sign_in_required: 'need', name_reserved: 'rname', email_reserved: 'rmail', reader_token_invalid: 'lapsed',
    name_taken: 'taken', name_invalid: 'bad_name', too_many_attempts: 'many',
    link_invalid: 'badlink', link_used: 'badlink', own_comment: 'vown',
  };

  const pickLang = (...tags) => {
    for (const tag of tags) {
      const l = String(tag || '').toLowerCase().split('-')[0];
      if (LANGS.includes(l)) return l;
    }
    return 'en';
  };
  const langOf = (el, d) => pickLang(d.lang, (el.closest('[lang]') || {}).lang);
  const tr = (lang, key, n) => (LANG[lang][key] || LANG.en[key]).replace('{n}', n);
  const plural = (lang, n, key = 'n') => {
    const forms = (LANG[lang][key] || LANG.en[key]).split('|');
    const form = n ? forms[new Intl.PluralRules(lang).select(n) === 'one' ? 1 : 2] : forms[0];
    return form.replace('{n}', n.toLocaleString(lang));
  };

  // DOM from elements and text. The only innerHTML is the server's sanitized `html`.
  const h = (tag, cls, text) => {
    const el = doc.createElement(tag);
    if (cls) el.className = cls;
    if (text != null) el.textContent = text;
    return el;
  };
  const set = (el, attrs) => {
    for (const k in attrs) el.setAttribute(k, attrs[k]);
    return el;
  };
  const button = (text, cls, onclick) => {
    const b = set(h('button', cls, text), { type: 'button' });
    b.onclick = onclick;
    return b;
  };

  // A moment in the reader's own time zone: "7:00", or "Mon 7:00" when it is not today.
  const until = (iso, lang) => {
    const d = new Date(iso);
    const day = d.toDateString() != new Date().toDateString() ? 'short' : undefined;
    return new Intl.DateTimeFormat(lang, { weekday: day, hour: 'numeric', minute: '2-digit' }).format(d);
  };
  const ago = (iso, lang) => {
    const s = Math.min(0, Date.parse(iso) - Date.now()) / 1e3; // never "in 2 seconds" from a skewed clock
    const rtf = new Intl.RelativeTimeFormat(lang, { numeric: 'auto' });
    for (const [unit, len] of [['year', 31536e3], ['month', 2592e3], ['week', 6048e2], ['day', 864e2], ['hour', 36e2], ['minute', 60]]) {
      if (Math.abs(s) >= len) return rtf.format(Math.round(s / len), unit);
    }
    return rtf.format(0, 'second');
  };
  const when = (iso, lang) => new Date(iso).toLocaleString(lang, { dateStyle: 'long', timeStyle: 'short' });

  // A mirrored 5x5 identicon: one SVG path, coloured by a presentation attribute (CSP-safe).
  const avatar = (hash) => {
    const NS = 'http://www.w3.org/2000/svg';
    const svg = set(doc.createElementNS(NS, 'svg'), { viewBox: '-1 -1 7 7', class: 'cm-av', 'aria-hidden': true });
    const bits = parseInt(hash.slice(0, 6), 16);
    let d = '';
    for (let i = 0; i < 15; i++) {
      if (bits >> i & 1) for (const x of new Set([i % 3, 4 - i % 3])) d += `M${x} ${i / 3 | 0}h1v1h-1z`;
    }
    if (d) svg.append(set(doc.createElementNS(NS, 'path'), { d, fill: `hsl(${parseInt(hash.slice(6, 9), 16) % 360} 55% 52%)` }));
    return svg;
  };

  // localStorage, one key: me = the reader's name/email/website; c[id] = an own comment's edit
  // token t, local expiry u, text x, uri, and p, a copy while it awaits moderation; r = the
  // signed-in reader: token, expires, reader (id, name, email, badge, notify_replies).
  const memory = () => {
    try {
      return JSON.parse(localStorage.getItem(KEY)) || {};
    } catch (e) {
      return {}; // storage blocked: the widget just forgets
    }
  };
  const remember = (change) => {
    const m = memory();
    m.c = m.c || {};
    change(m);
    try {
      localStorage.setItem(KEY, JSON.stringify(m));
    } catch (e) {}
  };
  const mine = (id) => (memory().c || {})[id] || {};
  const forget = (id) => remember((m) => delete m.c[id]);
  // The signed-in reader, while the token lasts; dropped, every thread shows it at once.
  const signed = () => {
    const r = memory().r;
    if (r && Date.parse(r.expires) > Date.now()) return r;
    if (r) remember((m) => delete m.r);
  };
  const token = () => (signed() || {}).token;
  const keep = (r) => remember((m) => (m.r = { token: r.token, expires: r.expires, reader: r.reader }));
  const drop = () => {
    remember((m) => delete m.r);
    threads.forEach(sync);
  };

  const api = async (method, path, body, token) => {
    const headers = {};
    if (body) headers['Content-Type'] = 'application/json';
    if (token) headers.Authorization = 'Bearer ' + token;
    let r;
    try {
      r = await fetch(SERVER + '/api/' + path, { method, headers, body: body && JSON.stringify(body), credentials: 'omit', cache: 'no-cache' });
    } catch (e) {
      throw { code: 'network' };
    }
    const data = await r.json().catch(() => ({}));
    if (data.code === 'reader_token_invalid') drop(); // signed out everywhere, or erased
    if (!r.ok) throw { code: 'network', ...data }; // a proxy's error page has no code
    return data;
  };
  // A mailed sign-in link, <page>#comments-sign-in=<link>: off the address bar at once (a reload
  // or a shared URL must not carry it), then traded for a reader token; `flash`: why not.
  const hash = /^#comments-sign-in=(.+)/.exec(location.hash);
  let arrived = !!hash;
  let flash;
  if (hash) history.replaceState(history.state, '', location.pathname + location.search);
  const signing = hash && api('POST', 'sign-in/complete', { link: decodeURIComponent(hash[1]) }).then((r) => {
    keep(r);
    if (r.name_taken) flash = 'name_taken'; // signed in without it: someone took it meanwhile
  }, (e) => {
    if (!signed()) flash = e.code; // else signed in already (by the same link, say): nothing to tell
  });
  const getConfig = (uri) => configs[uri] || (configs[uri] = api('GET', 'config?' + new URLSearchParams({ uri })).catch(() => ({})));
  // "A form was opened now": the server holds comments written implausibly fast.
  const getStamp = () => stamp || (stamp = api('GET', 'stamp').then((r) => r.stamp, () => {}));

  // Count badges: all [data-comments-count] (URI from data-uri or href), a GET per 100 URIs (or
  // per 4,000 characters of query, under every proxy's limit): cacheable, revalidated by its ETag.
  const badgeUri = (el) => el.dataset.uri || ((u) => u.pathname + u.search)(new URL(el.getAttribute('href') || '', location.href));
  const badge = (el, n) => {
    el.textContent = plural(langOf(el, DEFAULTS), n);
    el.dataset.count = n;
  };
  const counts = async () => {
    const els = [...doc.querySelectorAll('[data-comments-count]')];
    const uris = [...new Set(els.map(badgeUri))];
    const all = {};
    try {
      await Promise.all(els.map((el) => need(langOf(el, DEFAULTS))));
      const chunks = [[]];
      let size = 0;
      for (const u of uris) {
        const n = encodeURIComponent(u).length + 5;
        if (chunks.at(-1).length && (chunks.at(-1).length === 100 || size + n > 4000)) chunks.push([]), (size = 0);
        chunks.at(-1).push(u), (size += n);
      }
      for (const c of chunks) if (c.length) Object.assign(all, (await api('GET', 'counts?' + new URLSearchParams(c.map((u) => ['uri', u])))).counts);
    } catch (e) {
      return; // the badges keep their text
    }
    for (const el of els) badge(el, all[badgeUri(el)] || 0);
  };

  // A thread per container: a shadow root with the stylesheet <link> and the widget.
  const render = async (el, options) => {
    const d = { ...DEFAULTS, ...el.dataset, ...options };
    const lang = langOf(el, d);
    await Promise.all([need(lang), signing]);
    const t = (key, n) => tr(lang, key, n);
    const T = {
      el, lang, t, uri: d.uri || location.pathname + location.search, title: d.title || doc.title, gen: 0, count: 0,
      sort: /^(newest|best)$/.test(d.sort) ? d.sort : 'oldest', limit: Math.min(200, Math.max(1, parseInt(d.limit, 10) || 20)),
      still: d.live + '' === 'false', version: 0, told: 0, fresh: new Set(), cut: new Set(), voted: new Set(), mine: new Set(), was: !!signed(),
    };
    shut(el.cmThread);
    threads.delete(el.cmThread);
    threads.add((el.cmThread = T));
    let sr = el.cmRoot;
    if (!sr) {
      try {
        sr = el.attachShadow({ mode: 'open' });
      } catch (e) { // an element that cannot have a shadow root
        sr = el.appendChild(h('div')).attachShadow({ mode: 'open' });
      }
      const link = set(h('link'), { rel: 'stylesheet', href: SERVER + '/static/embed.css' });
      link.onload = link.onerror = () => {
        sr.ready = true;
        sr.lastChild.hidden = false;
        goto(el.cmThread); // a permalink that arrived before the styles could not scroll yet
      };
      sr.append(link);
      el.cmRoot = sr;
    }
    T.sr = sr;
    const root = set(h('div', 'cm'), { lang });
    if (/^(light|dark)$/.test(d.theme)) root.classList.add('cm-' + d.theme);
    root.hidden = !sr.ready; // shown once styled
    if (sr.childNodes[1]) sr.childNodes[1].remove();
    sr.append(root);

    T.h = set(h('h2', 'cm-title', t('wait')), { tabindex: -1, id: 'cm' + ++seq });
    set(root, { role: 'region', 'aria-labelledby': T.h.id }); // a landmark named by its heading
    const sort = set(h('div', 'cm-sort'), { role: 'group', 'aria-label': t('sort') });
    for (const s of ['oldest', 'newest', 'best']) {
      const b = button(t(s), '', () => {
        if (T.sort === s) return;
        T.sort = s;
        for (const x of sort.children) x.setAttribute('aria-pressed', x === b);
        reload(T);
      });
      sort.append(set(b, { 'aria-pressed': s === T.sort }));
    }
    const head = h('div', 'cm-head');
    head.append(T.h, sort);
    T.bar = h('div');
    T.top = h('div');
    T.status = h('p', 'cm-status');
    T.list = h('ol', 'cm-list');
    T.more = button(t('more'), 'cm-btn cm-ghost cm-more', () => more(T));
    T.less = button(t('less'), 'cm-btn cm-ghost cm-more', () => earlier(T));
    T.live = set(h('div', 'cm-sr'), { 'aria-live': 'polite' });
    T.pill = set(h('div', 'cm-fresh'), { hidden: '' });
    T.pill.append((T.news = button('', 'cm-btn', () => catchUp(T))));
    root.append(T.bar, head, T.top, T.status, T.less, T.pill, T.list, T.more, T.live);
    reload(T);
    return T;
  };

  const say = (T, text) => {
    T.live.textContent = '';
    setTimeout(() => (T.live.textContent = text), 50);
  };
  const setCount = (T, n) => {
    T.h.textContent = plural(T.lang, (T.count = n));
    left(T);
    for (const el of doc.querySelectorAll('[data-comments-count]')) if (badgeUri(el) === T.uri) badge(el, n);
  };

  // A page: the first, or by `k`: 'after' (next), 'before' (earlier) or 'around' (a permalink's).
  const page = async (T, k, v) => {
    const g = T.gen;
    const q = new URLSearchParams({ uri: T.uri, sort: T.sort, limit: T.limit });
    if (k) q.set(k, v);
    const [d, cfg] = await Promise.all([api('GET', 'threads?' + q), getConfig(T.uri)]);
    if (g !== T.gen) return; // re-sorted meanwhile
    T.max = cfg.max_length;
    T.mod = cfg.moderation === 'pre';
    T.until = cfg.moderation_until; // when a scheduled mode ends
    T.surge = cfg.surge;
    T.slow = cfg.slow_mode_seconds;
    T.push = !T.still && !!cfg.live;
    T.signin = cfg.sign_in;
    T.only = cfg.commenters === 'verified-only';
    if (k !== 'after' && k !== 'before') T.version = Math.max(T.version, d.thread.version || 0); // what it shows
    if (k !== 'before') T.next = d.next;
    if (k !== 'after') T.less.hidden = !(T.prev = d.prev);
    if (k === 'around') T.unseen = !!d.missing; // the linked comment is held, removed or elsewhere
    T.closed = d.thread.closed || Date.parse(d.thread.closes) <= Date.now(); // closed by age
    setCount(T, d.thread.count);
    const at = k === 'before' ? T.list.firstChild : null;
    for (const c of d.comments) T.list.insertBefore(node(T, c), at);
    T.more.hidden = !T.next;
    left(T);
    fresh(T);
    return true;
  };

  const reload = async (T) => {
    T.gen++;
    T.list.replaceChildren();
    T.more.hidden = T.less.hidden = true;
    T.status.hidden = false;
    T.status.textContent = T.t('wait');
    const m = /^#comment-(\d+)$/.exec(location.hash); // a permalink: its page in one request
    T.asked = m && m[1];
    T.unseen = false;
    try {
      if (!(await page(T, m && 'around', m && m[1]))) return;
    } catch (e) {
      T.h.textContent = T.t('fail');
      T.status.replaceChildren(T.t(ERRORS[e.code] || 'fail') + ' ', button(T.t('retry'), 'cm-btn cm-ghost', () => reload(T)));
      return;
    }
    T.status.hidden = !T.unseen; // say why the link lands on no comment, rather than nothing
    T.status.textContent = T.unseen ? T.t('unseen') : '';
    if (T.unseen) say(T, T.t('unseen'));
    if (!T.top.firstChild) {
      T.top.append(T.closed ? h('p', 'cm-status', T.t('closed')) : (T.form = composer(T)));
      if (T.signin) T.top.append((T.in = signIn(T)));
    }
    const r = signed();
    if (r) {
      api('GET', 'me/votes?' + new URLSearchParams({ uri: T.uri }), null, r.token).then((d) => {
        for (const id of d.votes) T.voted.add(id);
        for (const id of d.mine) T.mine.add(id); // no vote for one's own
        for (const id of [...d.votes, ...d.mine]) {
          const li = shown(T, id);
          if (li && li.vote) tally(T, li.vote, li.c);
        }
      }, () => {});
    }
    sync(T);
    if (arrived) arrive(T);
    await restore(T);
    goto(T);
    live(T);
  };

  const more = async (T) => {
    const first = T.list.children.length;
    try {
      await page(T, 'after', T.next);
    } catch (e) {
      return say(T, T.t(ERRORS[e.code] || 'fail'));
    }
    say(T, T.t('loaded'));
    const li = T.list.children[first];
    if (T.more.hidden && li) li.firstChild.focus(); // the button is gone: go on from there
  };

  // <li id="comment-N"><article class="cm-card">…</article><ol class="cm-replies">…</ol></li>
  const node = (T, c, p) => {
    const old = T.sr.getElementById('comment-' + c.id);
    if (old) old.remove(); // the copy shown while it awaited moderation
    const li = h('li', 'cm-c');
    li.id = 'comment-' + c.id;
    li.p = p;
    li.append(set(h('article', 'cm-card'), { tabindex: -1 }), h('ol', 'cm-replies'));
    fill(T, li, c);
    for (const r of c.replies || []) li.lastChild.append(node(T, r, c));
    fold(T, li);
    return li;
  };

  // A subthread folds: a button before its replies says how many it holds, and hides or shows them.
  const fold = (T, li) => {
    const ol = li.lastChild;
    const n = ol.querySelectorAll('.cm-c').length;
    let b = li.fold;
    if (!n) return b && (li.fold = b.remove());
    if (!b) {
      b = li.fold = button('', 'cm-link cm-fold', () => fold(T, li, (ol.hidden = !ol.hidden)));
      li.insertBefore(set(b, { 'aria-controls': (ol.id = 'cm' + ++seq) }), ol);
    }
    b.textContent = T.t(ol.hidden ? 'show' : 'hide', plural(T.lang, n, 'rn'));
    b.setAttribute('aria-expanded', !ol.hidden);
  };
  const folds = (T, li) => {
    for (let x = li; x && x.c; x = x.parentNode.parentNode) fold(T, x);
  };
  // "Load more comments · 480 left": the thread's visible comments less those on screen.
  const left = (T) => {
    const n = T.count - T.list.querySelectorAll('.cm-c:not(.cm-gone):not(.cm-pending)').length;
    T.more.textContent = T.t('more') + (n > 0 ? ' · ' + T.t('left', n.toLocaleString(T.lang)) : '');
  };

  const fill = (T, li, c) => {
    const t = T.t;
    const own = mine(c.id);
    const gone = c.status === 'deleted' || c.status === 'hidden';
    const pending = c.status === 'pending';
    li.c = c;
    li.ed = null;
    li.classList.toggle('cm-pending', pending);
    li.classList.toggle('cm-gone', gone);
    if (own.p && !pending) remember((m) => (m.c[c.id].p = 0));
    const card = li.firstChild;
    const meta = h('div', 'cm-meta');
    if (!gone) {
      const name = c.author || t('anon');
      meta.append(/^https?:\/\//i.test(c.website)
        ? set(h('a', 'cm-author', name), { href: c.website, rel: 'nofollow ugc noopener' })
        : h('span', 'cm-author', name));
      if (c.verified) meta.append(tick(T));
      if (LANG.en['b_' + c.badge]) meta.append(h('span', 'cm-role', t('b_' + c.badge))); // moderator, author
    }
    const link = set(h('a', 'cm-time'), { href: location.href.split('#')[0] + '#comment-' + c.id });
    link.append(set(h('time', 0, ago(c.created, T.lang)), { datetime: c.created, title: when(c.created, T.lang) }));
    meta.append(link);
    // Past the depth the layout indents, a reply names the comment it answers (CSS shows it there).
    const p = c.parent && (li.p || (T.sr.getElementById('comment-' + c.parent) || {}).c);
    const to = p && t('to', (p.html && p.author) || t('anon'));
    if (p) meta.append(set(h('a', 'cm-to', to), { href: location.href.split('#')[0] + '#comment-' + p.id }));
    // Its name, for a screen reader's list of articles: who wrote it, and whom it answers.
    card.setAttribute('aria-label', gone ? t('removed') : [c.author || t('anon'), to].filter(Boolean).join(', '));
    if (c.edited && !gone) meta.append(set(h('span', 'cm-edited', t('edited')), { title: when(c.edited, T.lang) }));
    if (pending) meta.append(h('span', 'cm-badge', t('pend')));
    const body = h('div', 'cm-body');
    if (gone) body.textContent = t('removed');
    else body.innerHTML = c.html; // sanitized by the server
    const acts = h('div', 'cm-acts');
    if (!gone && !pending && T.signin) {
      const b = (li.vote = button('', 'cm-link cm-vote', () => vote(T, li, b)));
      acts.append(tally(T, b, c));
    }
    if (!gone && !pending && !T.closed && (!T.only || signed())) {
      const b = button(t('reply'), 'cm-link', () => replyTo(T, li, b));
      acts.append(set(b, { 'aria-expanded': false }));
    }
    if (!gone && !pending && !own.t) acts.append(button(t('report'), 'cm-link cm-report', (e) => report(T, li, e.target)));
    if (!gone && own.u > Date.now()) {
      const edit = button(t('edit'), 'cm-link cm-own', () => startEdit(T, li, edit));
      const del = button(t('del'), 'cm-link cm-own', () => remove(T, li, del));
      acts.append(edit, del);
      clearTimeout(li.timer);
      const expire = () => { // the edit window closes: the buttons go, no reload needed
        if (Date.now() < own.u) return (li.timer = setTimeout(expire, Math.min(own.u - Date.now(), 2e9)));
        for (const b of card.querySelectorAll('.cm-own')) {
          if (T.sr.activeElement === b) card.focus();
          b.remove();
        }
      };
      expire();
    }
    card.replaceChildren(avatar(gone ? '' : c.avatar || ''), meta, body, acts);
  };

  // A labelled input and the line for its error: [box, input].
  const field = (name, label, note, tag) => {
    const id = 'cm' + ++seq;
    const box = h('div', 'cm-f');
    const lab = set(h('label', 0, label), { for: id });
    if (note) lab.append(' ', h('small', 0, note));
    const input = set(h(tag || 'input'), { id, name, 'aria-describedby': id + 'e' });
    input.err = set(h('p', 'cm-e'), { id: id + 'e', hidden: '' });
    box.append(lab, input, input.err);
    return [box, input];
  };
  const form = (cls) => {
    const f = h('form', cls);
    f.noValidate = true;
    f.err = set(h('p', 'cm-e'), { hidden: '' });
    return f;
  };

  // A form for a new comment (no li), a reply to li, or an edit of li (edit).
  const composer = (T, li, edit) => {
    const t = T.t;
    const me = memory().me || {};
    const f = form('cm-form');
    const [textBox, text] = field('text', t('text'), 0, 'textarea');
    textBox.firstChild.className = 'cm-sr';
    set(text, { placeholder: t('ph'), rows: 4, 'aria-describedby': text.id + 'h ' + text.id + 'e' });
    if (edit) text.value = mine(li.c.id).x || '';
    const hint = set(h('p', 'cm-hint'), { id: text.id + 'h' });
    const counter = h('span');
    hint.append(h('span', 0, 'Markdown: **bold** _italic_ [link](https://…) > quote `code`'), counter);
    textBox.insertBefore(hint, text.err);

    const preview = set(h('div', 'cm-prev'), { hidden: '' });
    const previewBody = h('div', 'cm-body');
    preview.append(h('p', 'cm-lab', t('pre')), previewBody);
    let timer;
    let asked = 0;
    const show = async () => {
      const n = ++asked;
      if (!text.value.trim()) return (preview.hidden = true);
      try {
        const r = await api('POST', 'preview', { text: text.value });
        if (n !== asked) return;
        previewBody.innerHTML = r.html; // sanitized by the server
        preview.hidden = false;
      } catch (e) {
        if (n === asked && e.field === 'text') fail(T, f, e);
      }
    };
    text.addEventListener('input', () => {
      const n = [...text.value].length;
      counter.textContent = n > T.max * 0.8 ? n + ' / ' + T.max : '';
      counter.className = n > T.max ? 'cm-over' : '';
      clearTimeout(timer);
      timer = setTimeout(show, 350);
    });
    f.addEventListener('input', (e) => {
      if (!e.target.err) return;
      e.target.err.hidden = true;
      e.target.removeAttribute('aria-invalid');
    });
    f.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) f.requestSubmit();
      if (e.key === 'Escape' && f.close) f.close();
    });
    f.addEventListener('focusin', getStamp);
    f.append(textBox, preview);

    if (!edit) {
      const ids = h('div', 'cm-ids');
      for (const [name, type, note] of [['author', 'text'], ['email', 'email', t('priv')], ['website', 'url', t('opt')]]) {
        const [box, input] = field(name, t(name), note);
        set(input, { type, autocomplete: name === 'author' ? 'name' : type });
        input.value = me[name] || '';
        ids.append(box);
      }
      // Replies by mail, once the address is confirmed; and a field only bots fill in.
      const check = set(h('input'), { type: 'checkbox', name: 'notify' });
      check.checked = !!me.notify;
      const notify = h('label', 'cm-check');
      notify.append(check, ' ', t('notify'));
      const [trap, bait] = field('honeypot', t('hp'));
      set(bait, { tabindex: -1, autocomplete: 'off' });
      set(trap, { 'aria-hidden': 'true' }).className = 'cm-hp';
      // Signed in, the server names the author: "Commenting as Rosa ✓" for the name and email.
      const as = h('p', 'cm-as');
      f.who = (r) => {
        const name = r && r.reader.name; // without one yet, they take the first they write under
        as.hidden = !(ids.firstChild.hidden = !!name);
        ids.children[1].hidden = notify.hidden = !!r;
        if (name) as.replaceChildren(t('as', name), ' ', tick(T));
      };
      f.who(signed());
      f.append(as, ids, notify, trap);
    }
    const bar = h('div', 'cm-bar');
    if (T.mod && !edit) bar.append(h('p', 'cm-note', T.until ? t('modu', until(T.until, T.lang)) : t('mod')));
    else if (/slow|hold/.test(T.surge) && !edit) bar.append(h('p', 'cm-note', t(T.surge, T.slow)));
    if (li) bar.append(button(t('cancel'), 'cm-btn cm-ghost', () => f.close()));
    bar.append(set(h('button', 'cm-btn', t(edit ? 'save' : 'post')), { type: 'submit' }));
    f.append(f.err, bar);
    f.clear = () => {
      text.value = counter.textContent = '';
      preview.hidden = true;
      asked++;
    };
    f.onsubmit = (e) => {
      e.preventDefault();
      clearTimeout(timer);
      send(T, f, li, edit);
    };
    return f;
  };

  const clean = (f) => {
    for (const e of f.querySelectorAll('.cm-e')) e.hidden = true;
    for (const e of f.querySelectorAll('[aria-invalid]')) e.removeAttribute('aria-invalid');
  };
  // A problem goes next to the input its `field` names, else under the form.
  const fail = (T, f, e) => {
    const input = e.field && f.elements[e.field];
    const box = input && input.err ? input.err : f.err;
    box.textContent = T.t(ERRORS[e.code] || 'oops', e.code === 'text_too_long' ? T.max : e.code);
    box.hidden = false;
    if (box !== f.err) {
      input.setAttribute('aria-invalid', true);
      input.focus();
    }
    say(T, box.textContent);
  };

  const send = async (T, f, li, edit) => {
    if (f.busy) return;
    clean(f);
    const v = {};
    for (const input of f.elements) {
      if (input.type === 'checkbox') v[input.name] = input.checked || undefined;
      else if (input.name && input.value.trim()) v[input.name] = input.name === 'text' ? input.value : input.value.trim();
    }
    if (!v.text) return fail(T, f, { code: 'field_required', field: 'text' });
    f.setAttribute('aria-busy', (f.busy = true));
    try {
      await (edit ? change(T, li, v.text) : post(T, f, li, v));
    } catch (e) {
      if (e.code === 'slow_mode') return wait(T, f, e.retry_after);
      fail(T, f, e);
      if (ERRORS[e.code] === 'lost' && edit) {
        forget(li.c.id);
        for (const b of li.firstChild.querySelectorAll('.cm-own')) b.remove();
      }
    }
    f.busy = false;
    f.removeAttribute('aria-busy');
  };

  // Slow mode: the wait counts down under the form, whose button waits too; screen readers hear
  // when it starts and when it is over, not every second.
  const wait = (T, f, n) => {
    const b = f.querySelector('[type=submit]');
    f.busy = b.disabled = true;
    f.removeAttribute('aria-busy');
    say(T, T.t('again', n));
    const tick = () => {
      f.err.hidden = !n;
      f.err.textContent = T.t('again', n);
      if (n--) return setTimeout(tick, 1e3);
      f.busy = b.disabled = false;
      say(T, T.t('go'));
    };
    tick();
  };

  // The bot challenge, asked only under pressure: a counter s such that SHA-256(prefix:s) starts
  // with d zero bits. SHA-256 of one block of ASCII, its first word only, with the constants
  // derived from the primes; plain code, so no worker, blob or eval is needed under a strict CSP.
  const K = [];
  const H = [];
  for (let n = 2, i = 0; i < 64; n++) {
    let p = 1;
    for (let d = 2; d * d <= n; d++) if (n % d < 1) p = 0;
    if (p) {
      if (i < 8) H[i] = Math.sqrt(n) % 1 * 2 ** 32 | 0;
      K[i++] = Math.cbrt(n) % 1 * 2 ** 32 | 0;
    }
  }
  const W = new Int32Array(64);
  const sha0 = (s) => {
    W.fill(0);
    for (let i = 0; i < s.length; i++) W[i >> 2] |= s.charCodeAt(i) << 24 - i % 4 * 8;
    W[s.length >> 2] |= 128 << 24 - s.length % 4 * 8;
    W[15] = s.length * 8;
    let [a, b, c, d, e, f, g, k] = H;
    for (let i = 0; i < 64; i++) {
      if (i > 15) {
        const x = W[i - 15];
        const y = W[i - 2];
        W[i] = ((x >>> 7 | x << 25) ^ (x >>> 18 | x << 14) ^ x >>> 3) + W[i - 16] + ((y >>> 17 | y << 15) ^ (y >>> 19 | y << 13) ^ y >>> 10) + W[i - 7];
      }
      const t = k + ((e >>> 6 | e << 26) ^ (e >>> 11 | e << 21) ^ (e >>> 25 | e << 7)) + (e & f ^ ~e & g) + K[i] + W[i] | 0;
      k = g; g = f; f = e; e = d + t | 0; d = c; c = b; b = a;
      a = t + ((b >>> 2 | b << 30) ^ (b >>> 13 | b << 19) ^ (b >>> 22 | b << 10)) + (b & c ^ b & d ^ c & d) | 0;
    }
    return a + H[0];
  };
  // In slices, so the page stays responsive; progress shown, its start announced.
  const solve = async (T, f, { prefix, difficulty }) => {
    const note = f.pow || (f.pow = f.insertBefore(h('p', 'cm-note'), f.err));
    say(T, T.t('pow', 0));
    for (let i = 0; ; i++) {
      const s = i.toString(36);
      if (!(sha0(prefix + ':' + s) >>> 32 - difficulty)) return s; // the post's outcome is said next
      if (i % 4096 < 1) {
        note.textContent = T.t('pow', (1 - Math.exp(-i / 2 ** difficulty)) * 100 | 0);
        await new Promise((r) => setTimeout(r));
      }
    }
  };

  const post = async (T, f, li, v) => {
    Object.assign(v, { uri: T.uri, title: T.title || undefined, parent: li && li.c.id, stamp: await getStamp() });
    const r = signed();
    if (r) { // the server knows who they are; replies are mailed as their settings say
      if (r.reader.name) delete v.author;
      delete v.email;
      v.notify = r.reader.notify_replies || undefined;
    }
    let c;
    try {
      for (let i = 0; !c; i++) {
        try {
          c = await api('POST', 'comments', v, r && r.token);
        } catch (e) {
          if (!e.challenge || i > 2) throw e;
          v.challenge = e.challenge.token;
          v.solution = await solve(T, f, e.challenge);
        }
      }
    } finally {
      if (f.pow) f.pow = f.pow.remove();
    }
    const pending = c.status === 'pending';
    remember((m) => {
      if (!r) m.me = { author: v.author, email: v.email, website: v.website, notify: v.notify };
      // The window by the server's clock, counted from now on ours, less a second of slack.
      const u = Date.now() + Date.parse(c.editable_until) - Date.parse(c.created) - 1e3;
      m.c[c.id] = { t: c.edit_token, u, x: v.text, uri: T.uri, p: pending && { ...c, edit_token: 0 } };
    });
    if (r && !r.reader.name) keep({ ...r, reader: { ...r.reader, name: c.author } }), threads.forEach(sync);
    place(T, node(T, c), true);
    if (!pending && !T.fresh.delete(c.id)) setCount(T, T.count + 1); // unless the stream told of it first
    fresh(T);
    if (li) f.close();
    else f.clear();
    say(T, T.t(pending ? 'held' : 'posted'));
  };

  const place = (T, n, focus) => {
    const at = n.c.parent && T.sr.getElementById('comment-' + n.c.parent);
    if (n.c.parent && !at) return; // its parent is on a page not loaded
    if (at) folds(T, at, at.lastChild.append(n));
    else T.list[T.sort === 'newest' ? 'prepend' : 'append'](n);
    if (!focus) return;
    n.classList.add('cm-new');
    n.firstChild.focus();
  };

  const replyTo = (T, li, b) => {
    if (li.form) return li.form.close();
    const f = (li.form = composer(T, li));
    f.close = () => {
      f.remove();
      li.form = null;
      set(b, { 'aria-expanded': false }).focus();
    };
    li.insertBefore(f, li.lastChild);
    set(b, { 'aria-expanded': true });
    f.elements.text.focus();
  };

  const startEdit = (T, li, b) => {
    if (li.ed) return li.ed.elements.text.focus();
    const f = (li.ed = composer(T, li, true));
    const card = li.firstChild;
    const [, , body, acts] = card.children;
    body.hidden = acts.hidden = true;
    card.insertBefore(f, acts);
    f.close = () => {
      f.remove();
      li.ed = null;
      body.hidden = acts.hidden = false;
      (b.isConnected ? b : card).focus();
    };
    f.elements.text.focus();
  };

  const change = async (T, li, text) => {
    const c = { ...li.c, ...(await api('PATCH', 'comments/' + li.c.id, { text }, mine(li.c.id).t)) };
    remember((m) => Object.assign(m.c[c.id], { t: c.edit_token, x: text }, m.c[c.id].p && { p: { ...c, edit_token: 0 } }));
    fill(T, li, c);
    li.firstChild.focus();
    say(T, T.t('saved'));
  };

  // A second press within 5 s confirms; a dialog would block the page.
  const confirmed = (T, b, label, ask) => {
    clearTimeout(b.armed);
    if (b.armed) return !(b.armed = 0);
    b.armed = setTimeout(() => {
      b.armed = 0;
      b.textContent = label;
      b.classList.remove('cm-danger');
    }, 5e3);
    b.textContent = ask;
    b.classList.add('cm-danger');
    say(T, ask);
  };

  // Why? A small form in place of the button.
  const report = (T, li, b) => {
    const t = T.t;
    const f = set(h('form', 'cm-why'), { 'aria-label': t('flag') });
    const s = set(h('select'), { 'aria-label': t('why') });
    for (const k of ['spam', 'abuse', 'off-topic', 'other']) s.append(set(h('option', 0, t(k.replace('-', ''))), { value: k }));
    const n = set(h('input'), { maxlength: 200, 'aria-label': t('note'), placeholder: t('note') });
    const go = h('button', 'cm-link cm-danger', t('report'));
    f.append(s, n, go);
    f.onsubmit = async (e) => {
      e.preventDefault();
      try {
        await api('POST', `comments/${li.c.id}/report`, { category: s.value, reason: n.value }).catch((e) => {
          if (e.code !== 'already_reported') throw e;
        });
        f.replaceWith(h('span', 'cm-report', t('flagged')));
        say(T, t('flagged'));
      } catch (e) {
        go.textContent = t(ERRORS[e.code] || 'oops', e.code);
        say(T, go.textContent);
      }
    };
    b.replaceWith(f);
    s.focus();
  };

  const remove = async (T, li, b) => {
    const t = T.t;
    if (!confirmed(T, b, t('del'), t('sure'))) return;
    const card = li.firstChild;
    try {
      const c = await api('DELETE', 'comments/' + li.c.id, null, mine(li.c.id).t);
      forget(c.id);
      T.cut.add(c.id); // its event is not counted again
      if (li.c.status === 'approved') setCount(T, T.count - 1);
      const up = li.parentNode.parentNode;
      if (li.lastChild.children.length) fill(T, li, c); // its replies stay
      else folds(T, up, li.remove());
      (li.isConnected ? card : T.h).focus();
      say(T, t('gone'));
    } catch (e) {
      if (ERRORS[e.code] === 'lost') forget(li.c.id);
      fill(T, li, li.c);
      oops(T, card, e);
    }
  };
  // A problem with a button's action, under its card (or panel).
  const oops = (T, el, e) => {
    const p = el.querySelector(':scope > .cm-e') || el.appendChild(h('p', 'cm-e'));
    say(T, (p.textContent = T.t(ERRORS[e.code] || 'oops', e.code)));
  };

  // Own comments awaiting moderation survive reloads: fetched with their token while it lasts,
  // else shown from the copy (for 30 days at most).
  const restore = async (T) => {
    const now = Date.now();
    const own = memory().c || {};
    for (const id in own) {
      const o = own[id];
      if (!o.p || o.uri !== T.uri || T.sr.getElementById('comment-' + id)) continue;
      let c = o.p;
      if (o.u > now) {
        try {
          c = await api('GET', 'comments/' + id, null, o.t);
        } catch (e) {
          if (e.code === 'comment_not_found') c = {};
        }
      }
      if (c.status === 'pending' && now - Date.parse(c.created) < 2592e6) place(T, node(T, c));
      else remember((m) => (m.c[id].p = 0));
    }
    remember((m) => {
      for (const id in m.c) if (m.c[id].u < now && !m.c[id].p) delete m.c[id];
    });
  };

  // Verified readers. ✓ for the eye, "verified" for screen readers.
  const tick = (T) => {
    const s = set(h('span', 'cm-ok'), { title: T.t('ok') });
    s.append(set(h('span', 0, '✓'), { 'aria-hidden': true }), h('span', 'cm-sr', T.t('ok')));
    return s;
  };
  // One upvote per signed-in reader; others are told to sign in, and taken to the form for it.
  const tally = (T, b, c) => {
    b.textContent = '▲ ' + (c.votes || 0).toLocaleString(T.lang);
    b.disabled = T.mine.has(c.id);
    return set(b, { 'aria-pressed': T.voted.has(c.id), 'aria-label': T.t('up') + ', ' + plural(T.lang, c.votes || 0, 'vc') });
  };
  const vote = async (T, li, b) => {
    const r = signed();
    if (!r) return say(T, T.t('vneed')), T.open();
    try {
      const v = await api(T.voted.has(li.c.id) ? 'DELETE' : 'POST', `comments/${li.c.id}/vote`, null, r.token);
      T.voted[v.voted ? 'add' : 'delete'](li.c.id);
      li.c.votes = v.votes;
      tally(T, b, li.c);
    } catch (e) {
      oops(T, li.firstChild, e);
    }
  };

  // The reader's state wherever it shows: the bar, the forms, each comment's buttons.
  const sync = (T) => {
    const r = signed();
    const had = T.bar.contains(T.sr.activeElement);
    if (!r !== !T.bar.firstChild) T.bar.replaceChildren(...(r ? bar(T) : []));
    if (had && !r) T.h.focus();
    if (r) T.me.textContent = T.t('sin', r.reader.name || T.t('anon'));
    else T.voted.clear();
    if (T.in) T.in.hidden = !!r;
    if (T.form) T.form.hidden = T.only && !r;
    for (const f of T.sr.querySelectorAll('form')) if (f.who) f.who(r);
    if (T.was === (T.was = !!r)) return; // the cards were drawn for it
    for (const li of T.sr.querySelectorAll('.cm-c')) if (!li.ed) fill(T, li, li.c);
  };
  const bye = (T, key) => {
    drop();
    say(T, T.t(key));
  };
  // Back from the mailed link: signed in (then a name to choose, if it has none), or why not.
  const arrive = (T) => {
    const r = signed();
    arrived = false;
    if (r) {
      T.bar.scrollIntoView({ block: 'center' });
      say(T, T.me.textContent);
      if (!r.reader.name || flash) T.bar.querySelector('[aria-expanded]').click();
    } else if (T.in) {
      T.in.prepend(h('p', 'cm-e', T.t(ERRORS[flash] || 'oops', flash)));
      T.open();
      say(T, T.in.firstChild.textContent);
    }
  };

  // "Sign in with your email": a disclosure under the form, or open in its place where the
  // thread takes signed-in readers only. The link comes by mail, back to this page.
  const signIn = (T) => {
    const t = T.t;
    const me = memory().me || {};
    const box = h('div', 'cm-in');
    const f = set(form('cm-form'), { id: 'cm' + ++seq, 'aria-label': t('sign') });
    const [eb, email] = field('email', t('email'));
    const [nb, name] = field('name', t('author'), t('opt'));
    set(email, { type: 'email', autocomplete: 'email' }).value = me.email || '';
    set(name, { autocomplete: 'nickname' }).value = me.author || '';
    const ids = h('div', 'cm-ids');
    const go = h('div', 'cm-bar');
    ids.append(eb, nb);
    go.append(set(h('button', 'cm-btn', t('link')), { type: 'submit' }));
    f.append(ids, f.err, go);
    const sent = set(h('p', 'cm-note', t('check')), { tabindex: -1, hidden: '' });
    const open = () => {
      f.hidden = !(sent.hidden = true);
      set(b, { 'aria-expanded': true });
      email.focus();
    };
    const b = button(t('sign'), 'cm-link', () => (f.hidden ? open() : set(b, { 'aria-expanded': !(f.hidden = true) })));
    T.open = () => (sent.hidden ? open() : sent.focus());
    f.hidden = !T.only;
    box.append(T.only ? h('p', 'cm-note', t('only')) : set(b, { 'aria-expanded': false, 'aria-controls': f.id }), f, sent);
    f.onsubmit = async (e) => {
      e.preventDefault();
      if (f.busy) return;
      clean(f);
      f.busy = true;
      try {
        await api('POST', 'sign-in', { email: email.value.trim(), name: name.value.trim() || undefined, page: location.href.split('#')[0] });
        f.hidden = !(sent.hidden = false);
        set(b, { 'aria-expanded': false });
        sent.focus();
        say(T, t('check'));
      } catch (e) {
        fail(T, f, e);
      }
      f.busy = false;
    };
    return box;
  };

  // "Signed in as Rosa ✓ · My comments · Sign out"; My comments opens the reader's panel.
  const bar = (T) => {
    const t = T.t;
    const line = h('div', 'cm-me');
    const p = set(h('div', 'cm-panel'), { id: 'cm' + ++seq, hidden: '', role: 'region', 'aria-label': t('mine'), tabindex: -1 });
    const b = button(t('mine'), 'cm-link', () => {
      b.setAttribute('aria-expanded', !(p.hidden = !p.hidden));
      if (!p.hidden) panel(T, p);
    });
    p.addEventListener('keydown', (e) => {
      if (e.key === 'Escape') b.click(), b.focus();
    });
    const dot = () => set(h('span', 0, '·'), { 'aria-hidden': true });
    const who = h('span');
    who.append((T.me = h('span')), ' ', tick(T));
    line.append(who, dot(), set(b, { 'aria-expanded': false, 'aria-controls': p.id }), dot(), button(t('out'), 'cm-link', () => bye(T, 'bye')));
    return [line, p];
  };

  // The reader's page: their comments (links to them), their name, replies by mail, their data.
  const panel = (T, p) => {
    const t = T.t;
    const r = signed();
    const list = h('ol', 'cm-mine');
    const more = set(button(t('more'), 'cm-link', () => load(more.next)), { hidden: '' });
    const load = async (before) => {
      try {
        const d = await api('GET', 'me?' + new URLSearchParams(before ? { before } : {}), null, r.token);
        for (const c of d.comments) list.append(entry(T, c));
        if (!list.firstChild) list.append(h('li', 0, t('none')));
        more.hidden = !(more.next = d.next);
      } catch (e) {
        oops(T, p, e);
      }
    };
    const f = form('cm-row');
    const [box, name] = field('name', t('author'));
    set(name, { autocomplete: 'nickname' }).value = r.reader.name || '';
    box.insertBefore(set(h('button', 'cm-btn cm-ghost', t('save')), { type: 'submit' }), name.err);
    f.append(box, f.err);
    f.onsubmit = (e) => {
      e.preventDefault();
      patch(T, f, { name: name.value.trim() });
    };
    const check = set(h('input'), { type: 'checkbox' });
    check.checked = r.reader.notify_replies;
    check.onchange = () => patch(T, f, { notify_replies: check.checked });
    const lab = h('label', 'cm-check');
    lab.append(check, ' ', t('replies'));
    const acts = h('div', 'cm-acts');
    const erase = button(t('erase'), 'cm-link', () => wipe(T, p, erase));
    const all = () => api('POST', 'me/sign-out-everywhere', null, r.token).then(() => bye(T, 'byeall'), (e) => oops(T, p, e));
    acts.append(button(t('exp'), 'cm-link', () => download(T, p)), button(t('all'), 'cm-link', all), erase);
    p.replaceChildren(list, more, f, lab, acts);
    load();
    if (r.reader.name && !flash) return p.focus();
    name.err.textContent = t(flash ? 'taken' : 'noname'); // signed in without one, or not the one asked
    name.err.hidden = flash = 0;
    name.focus();
  };
  const entry = (T, c) => {
    const li = h('li');
    const text = new DOMParser().parseFromString(c.html || '', 'text/html').body.textContent; // inert: text only
    const about = [ago(c.created, T.lang), plural(T.lang, c.votes || 0, 'vc'), c.status === 'pending' ? T.t('pend') : c.status !== 'approved' && T.t('removed')];
    li.append(set(h('a', 0, c.title || c.uri), { href: new URL(c.uri, location.href).href.split('#')[0] + '#comment-' + c.id }),
      h('p', 0, text.length > 120 ? text.slice(0, 120) + '…' : text), h('small', 0, about.filter(Boolean).join(' · ')));
    return li;
  };
  const patch = async (T, f, v) => {
    clean(f);
    try {
      keep({ ...signed(), reader: (await api('PATCH', 'me', v, token())).reader });
      threads.forEach(sync);
      say(T, T.t('done'));
    } catch (e) {
      fail(T, f, e);
    }
  };
  // The export, as a file: fetched with the token, saved from a blob: URL (no inline script).
  const download = async (T, p) => {
    try {
      const d = await api('GET', 'me/export', null, token());
      const a = set(h('a'), { download: 'comments.json', href: URL.createObjectURL(new Blob([JSON.stringify(d, null, 2)], { type: 'application/json' })) });
      a.click();
      setTimeout(() => URL.revokeObjectURL(a.href), 6e4);
    } catch (e) {
      oops(T, p, e);
    }
  };
  // Erased on the server: their comments on screen turn into "removed" in place.
  const wipe = async (T, p, b) => {
    if (!confirmed(T, b, T.t('erase'), T.t('wipe'))) return;
    const r = signed();
    let ids;
    try {
      ids = new Set((await api('DELETE', 'me', null, r.token)).erased.ids);
    } catch (e) {
      return oops(T, p, e);
    }
    for (const X of threads) {
      for (const li of X.sr.querySelectorAll('.cm-c')) {
        const c = li.c;
        if (!ids.has(c.id) || li.classList.contains('cm-gone')) continue;
        X.cut.add(c.id); // its event is not counted again
        if (c.status === 'approved') setCount(X, X.count - 1);
        li.c = { ...c, status: 'deleted' };
      }
    }
    remember((m) => delete m.me);
    bye(T, 'erased');
  };

  // Earlier comments go on top; what the reader was looking at stays where it was on screen
  // (by hand: the browsers' scroll anchoring is off in .cm, as not all of them have it).
  const earlier = async (T) => {
    const first = T.list.firstChild;
    const y = first && first.getBoundingClientRect().top;
    if (T.less.busy) return; // one page at a time: a second press would ask for the same one
    T.less.busy = true;
    try {
      await page(T, 'before', T.prev);
    } catch (e) {
      return say(T, T.t(ERRORS[e.code] || 'fail'));
    } finally {
      T.less.busy = false;
    }
    if (first) scrollBy(0, first.getBoundingClientRect().top - y);
    say(T, T.t('loaded'));
    if (T.less.hidden && T.list.firstChild) T.list.firstChild.firstChild.focus();
  };

  const unfold = (T, li) => {
    for (let x = li.parentNode; x !== T.list; x = x.parentNode.parentNode) if (x.hidden) fold(T, x.parentNode, (x.hidden = false));
  };

  // Permalinks: #comment-N scrolls to N and highlights it; one not on screen reloads its page.
  const goto = (T) => {
    const m = /^#comment-(\d+)$/.exec(location.hash);
    if (!m) return;
    const li = T.sr.getElementById('comment-' + m[1]);
    if (!li) return T.asked !== m[1] && reload(T);
    for (const x of T.sr.querySelectorAll('.cm-hl')) {
      x.classList.remove('cm-hl');
      x.firstChild.removeAttribute('aria-current');
    }
    unfold(T, li);
    li.classList.add('cm-hl');
    set(li.firstChild, { 'aria-current': 'true' }).focus({ preventScroll: true });
    li.scrollIntoView({ block: 'center' });
  };

  // Live: a stream of change events (ids; the comments come from the API), open while the tab is
  // visible; after "idle", again when the reader is back; refused, in 30-60 s. Three a page at
  // most: each holds one of the six connections a browser opens to a server over HTTP/1.1.
  const live = (T) => {
    if (!T.push || T.es || T.wait || doc.hidden || !threads.has(T) || [...threads].filter((x) => x.es).length > 2) return;
    const es = (T.es = new EventSource(SERVER + '/api/stream?' + new URLSearchParams({ uri: T.uri, last_event_id: T.version })));
    es.addEventListener('change', (e) => changed(T, JSON.parse(e.data)));
    es.addEventListener('idle', () => shut(T));
    es.onerror = () => {
      if (es.readyState < 2) return; // it reconnects by itself, as the server's `retry` says
      shut(T);
      T.wait = setTimeout(() => live(T, (T.wait = 0)), 3e4 + Math.random() * 3e4);
    };
  };
  const shut = (T) => T && T.es && (T.es = T.es.close());
  const shown = (T, id) => T.sr.getElementById('comment-' + id);

  // new: counted for the button (the reader's own is shown already); edit: fetched, within 2 s so
  // that readers do not all ask at once; remove: in place, without a fetch; reset: the first page.
  const changed = (T, { version, kind, ids }) => {
    T.version = Math.max(T.version, version);
    if (kind === 'reset') return reset(T);
    let n = T.count;
    for (const id of ids) {
      const li = shown(T, id);
      if (kind === 'new') {
        if (!li) T.fresh.has(id) || n++, T.fresh.add(id);
        else if (li.c.status === 'pending') n++, refetch(T, li); // their own, approved
      } else if (kind === 'edit') li && refetch(T, li, Math.random() * 2e3);
      else if (li ? !li.classList.contains('cm-gone') : T.fresh.delete(id) || !T.cut.has(id)) {
        n--;
        if (li) refill(T, li, { ...li.c, status: 'deleted' });
      }
    }
    setCount(T, n);
    fresh(T);
  };
  const refetch = (T, li, ms) => setTimeout(() => api('GET', 'comments/' + li.c.id).then((c) => li.isConnected && refill(T, li, c), () => {}), ms);
  // Focus stays on the card; one above the screen keeps the text below where it was.
  const refill = (T, li, c) => {
    if (li.ed) return; // its author is editing it
    const card = li.firstChild;
    const was = card.getBoundingClientRect();
    const had = card.contains(T.sr.activeElement);
    fill(T, li, c);
    if (had) card.focus({ preventScroll: true });
    if (was.bottom < 0) scrollBy(0, card.getBoundingClientRect().height - was.height);
  };
  const reset = async (T) => {
    const d = await api('GET', 'threads?' + new URLSearchParams({ uri: T.uri, sort: T.sort, limit: T.limit })).catch(() => 0);
    if (!d) return;
    T.version = Math.max(T.version, d.thread.version);
    setCount(T, d.thread.count);
    const walk = (c) => {
      const li = shown(T, c.id);
      if (!li) T.prev || T.fresh.add(c.id); // new, if the first page is the one shown
      else if (li.c.html !== c.html || li.c.status !== c.status) refill(T, li, c);
      c.replies.forEach(walk);
    };
    d.comments.forEach(walk);
    fresh(T);
  };
  const fresh = (T) => {
    for (const id of T.fresh) if (shown(T, id)) T.fresh.delete(id);
    const n = T.fresh.size;
    T.pill.hidden = !n;
    T.news.textContent = plural(T.lang, n, 'nw');
    if (n > T.told) say(T, T.news.textContent);
    T.told = n;
  };
  // Pressed: each placed (a reply under its parent, if shown), or many by the first page again.
  const catchUp = async (T) => {
    const ids = [...T.fresh].sort((a, b) => a - b);
    T.fresh.clear();
    if (ids.length > 20) await reload(T);
    else for (const c of await Promise.all(ids.map((id) => api('GET', 'comments/' + id).catch(() => 0)))) if (c) place(T, node(T, c));
    for (const x of T.sr.querySelectorAll('.cm-new')) x.classList.remove('cm-new');
    for (const li of ids.map((id) => shown(T, id))) if (li) unfold(T, li), li.classList.add('cm-new');
    (T.sr.querySelector('.cm-new > .cm-card') || T.h).focus();
    fresh(T);
  };
  for (const k of ['visibilitychange', 'pagehide', 'pageshow', 'focus', 'scroll', 'pointerdown', 'keydown']) {
    addEventListener(k, (e) => threads.forEach((T) => (doc.hidden || e.type === 'pagehide' ? shut(T) : live(T))), { capture: true, passive: true });
  }

  addEventListener('hashchange', () => threads.forEach(goto));
  setInterval(() => {
    for (const T of threads) for (const el of T.sr.querySelectorAll('time')) el.textContent = ago(el.dateTime, T.lang);
  }, 3e4);

  window.Comments = {
    render: (el, options) => render(typeof el === 'string' ? doc.querySelector(el) : el, options),
    counts,
  };
  const init = () => {
    for (const el of doc.querySelectorAll('#comments, [data-comments]')) render(el);
    if (doc.querySelector('[data-comments-count]')) counts();
  };
  if (doc.readyState === 'loading') doc.addEventListener('DOMContentLoaded', init);
  else init();
})();
