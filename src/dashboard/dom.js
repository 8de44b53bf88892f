// DOM helpers. Every piece of data becomes text (textContent, attribute values), never markup:
// nothing a signal or a delivery carries can run as HTML.

/** An element with attributes (strings; `on*` keys take functions) and children (nodes or text). */
export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') node.addEventListener(key.slice(2), value);
    else if (value === true) node.setAttribute(key, '');
    else node.setAttribute(key, String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** Replaces the children of `node` (an id or a node). */
export function fill(node, ...children) {
  const target = typeof node === 'string' ? byId(node) : node;
  target.replaceChildren(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false).map((c) => (c instanceof Node ? c : document.createTextNode(String(c)))));
}

export function byId(id) {
  const node = document.getElementById(id);
  if (node === null) throw new Error(`no element #${id}`);
  return node;
}

/** A table: `head` the column titles, `rows` arrays of cells (text or nodes); `empty` when none. */
export function table(head, rows, empty = 'none') {
  if (rows.length === 0) return h('p', { class: 'muted' }, empty);
  return h(
    'div',
    { class: 'scroll' },
    h('table', {}, h('thead', {}, h('tr', {}, head.map((t) => h('th', { scope: 'col' }, t)))), h('tbody', {}, rows.map((r) => h('tr', {}, r.map((cell) => h('td', {}, cell)))))),
  );
}

/** A definition list from [term, value] pairs. */
export function facts(pairs) {
  return h('dl', { class: 'facts' }, pairs.map(([k, v]) => [h('dt', {}, k), h('dd', {}, v ?? '—')]));
}

export function json(value) {
  return h('pre', { class: 'json' }, JSON.stringify(value, null, 2));
}

export function num(n, digits = 2) {
  return typeof n === 'number' ? n.toLocaleString('en-US', { maximumFractionDigits: digits }) : '—';
}

export function time(iso) {
  return typeof iso === 'string' ? iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '—';
}

/** A decision's failed rules as `rule/code` words. */
export function failures(decision) {
  if (decision === null || decision === undefined) return '—';
  if (decision.allowed) return 'allowed';
  return decision.failures.map((f) => (f.code ? `${f.rule}/${f.code}` : f.rule)).join(', ');
}
